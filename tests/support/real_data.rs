//! Replays of real data, and the independent geometry, hours and messages the
//! [`super::referee`] holds them to.
//!
//! Nothing here calls kairos's rules, geodesy, hours or message code: distances
//! and bearings are plain great-circle formulas (on the mean Earth radius, the
//! sphere kairos's "geodesic" distances are on), opening hours go straight to
//! the `opening-hours` crate in Europe/Berlin with the German public-holiday
//! calendar, and messages are rebuilt from SPEC's "Messages" reading. kairos is
//! only used to import the files and to replay them (the things under test).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, NaiveTime, Timelike, Utc};
use chrono_tz::Europe::Berlin;
use opening_hours::localization::{Coordinates, Country, TzLocation};
use opening_hours::{Context, OpeningHours, RuleKind};
use serde_json::{Map, Value};

use kairos::config::EngineConfig;
use kairos::import::trace_log::{self, TraceOptions};
use kairos::{Catalog, Engine};

/// Mean Earth radius in metres (the sphere of SPEC's great-circle distances).
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

pub use super::data::real_path as data;
pub use super::referee::{referee, Verdict};

/// Imports an OSM extract or GeoJSON export into `out` with kairos's importer.
pub fn import_merchants(input: &Path, out: &Path) {
    let summary = kairos::import::import_merchants(input, out)
        .unwrap_or_else(|e| panic!("import {}: {e}", input.display()));
    assert!(summary.written > 0, "no merchant imported from {input:?}");
}

/// Imports a GPS log with kairos's importer; returns the trace's lines.
pub fn import_trace(input: &Path, out: &Path, options: &TraceOptions) -> Vec<Value> {
    trace_log::import_file(input, out, options)
        .unwrap_or_else(|e| panic!("import {}: {e}", input.display()));
    std::fs::read_to_string(out)
        .expect("the imported trace is readable")
        .lines()
        .map(|l| serde_json::from_str(l).expect("the importer writes JSON lines"))
        .collect()
}

/// The instant of a trace line.
pub fn line_time(line: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(line["at"].as_str().expect("`at` is text"))
        .expect("`at` is RFC 3339")
        .to_utc()
}

/// The device of a `kairos/{device}/{kind}` topic.
pub fn topic_device(line: &Value) -> String {
    line["topic"]
        .as_str()
        .and_then(|t| t.split('/').nth(1))
        .expect("a kairos topic")
        .to_string()
}

/// The kind of a `kairos/{device}/{kind}` topic.
pub fn topic_kind(line: &Value) -> String {
    line["topic"]
        .as_str()
        .and_then(|t| t.split('/').nth(2))
        .expect("a kairos topic")
        .to_string()
}

/// Lines of several traces merged in time order (stable: equal instants keep
/// the order of `traces`, then of each trace).
pub fn merge(traces: Vec<Vec<Value>>) -> Vec<Value> {
    let mut all: Vec<Value> = traces.into_iter().flatten().collect();
    all.sort_by_key(line_time);
    all
}

/// The text of a trace file.
pub fn trace_text(lines: &[Value]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// What a replay published (one JSON value a line) and what it logged.
pub struct Replayed {
    /// Every published message.
    pub outputs: Vec<Value>,
    /// The replay's log (skipped lines, dropped inputs).
    pub log: String,
    /// Trace events handed to the engine.
    pub events: u64,
}

/// Replays `lines` over the offer file `offers` and referees every suggestion
/// against `offer_json`; fails on a replay log, error lines, a broken rule or
/// no suggestion at all. Returns what was replayed and the verdict.
pub fn replay_and_referee_all(
    what: &str,
    offers: &Path,
    offer_json: &Value,
    lines: &[Value],
) -> (Replayed, Verdict) {
    let replayed = replay(offers, lines);
    assert_eq!(
        replayed.events as usize,
        lines.len(),
        "{what}: every line is an event"
    );
    assert!(
        replayed.log.is_empty(),
        "{what}: replay log: {}",
        replayed.log
    );
    let errors: Vec<&Value> = replayed
        .outputs
        .iter()
        .filter(|o| !o["topic"].as_str().unwrap().ends_with("/suggestion"))
        .collect();
    assert!(errors.is_empty(), "{what}: error lines: {errors:?}");
    let verdict = referee(offer_json, lines, &replayed.outputs);
    verdict.assert_clean(what);
    assert!(
        verdict.checked > 0,
        "{what}: the replay made no suggestion, nothing was checked"
    );
    (replayed, verdict)
}

/// Replays `lines` over the offer file `offers` with `kairos::replay::replay`
/// and default settings, as `kairos replay --offers offers --trace ...` does.
pub fn replay(offers: &Path, lines: &[Value]) -> Replayed {
    let (catalog, problems) = Catalog::load(&[offers.to_path_buf()]).expect("offers load");
    assert!(
        problems.is_empty(),
        "the imported offer file has problems: {:?}",
        &problems[..problems.len().min(5)]
    );
    let mut engine = Engine::new(EngineConfig::default(), Arc::new(catalog));
    let text = trace_text(lines);
    let mut out = Vec::new();
    let mut log = Vec::new();
    let summary = kairos::replay::replay(&mut engine, text.as_bytes(), &mut out, &mut log)
        .expect("replay into memory cannot fail");
    let outputs = String::from_utf8(out)
        .expect("UTF-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).expect("replay writes JSON lines"))
        .collect();
    Replayed {
        outputs,
        log: String::from_utf8(log).expect("UTF-8 log"),
        events: summary.events,
    }
}

/// One merchant as the offer file gives it.
#[derive(Debug, Clone)]
pub struct Place {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Its properties (OSM tags, `id`, maybe `offers`).
    pub tags: Map<String, Value>,
}

impl Place {
    /// A tag's value as text (numbers and booleans as written).
    pub fn tag(&self, key: &str) -> Option<String> {
        match self.tags.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// True when `key` carries `value`, a `;`-list matching any of its values.
    pub fn has_tag(&self, key: &str, value: &str) -> bool {
        self.tag(key)
            .is_some_and(|v| v.split(';').any(|part| part.trim() == value))
    }

    /// SPEC "Food": amenity restaurant, fast_food, cafe, food_court, ice_cream,
    /// biergarten, or shop bakery, pastry, deli, confectionery.
    pub fn is_food_place(&self) -> bool {
        const AMENITY: [&str; 6] = [
            "restaurant",
            "fast_food",
            "cafe",
            "food_court",
            "ice_cream",
            "biergarten",
        ];
        const SHOP: [&str; 4] = ["bakery", "pastry", "deli", "confectionery"];
        self.tag("amenity")
            .is_some_and(|a| AMENITY.contains(&a.as_str()))
            || self.tag("shop").is_some_and(|s| SHOP.contains(&s.as_str()))
    }

    /// SPEC rule 2: `diet:<d>` yes/only; `diet:vegan` yes/only also serves vegetarian.
    pub fn serves(&self, diet: &str) -> bool {
        let yes = |key: &str| {
            self.tag(key)
                .is_some_and(|v| v.trim() == "yes" || v.trim() == "only")
        };
        yes(&format!("diet:{diet}")) || (diet == "vegetarian" && yes("diet:vegan"))
    }
}

/// The merchants of an offer file, by id.
pub fn places(offer_file: &Value) -> HashMap<String, Place> {
    let mut by_id = HashMap::new();
    for feature in offer_file["features"].as_array().expect("features") {
        let coords = &feature["geometry"]["coordinates"];
        assert_eq!(feature["geometry"]["type"], "Point", "{feature}");
        let tags = feature["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let id = tags["id"].as_str().expect("an id").to_string();
        let place = Place {
            lat: coords[1].as_f64().expect("lat"),
            lon: coords[0].as_f64().expect("lon"),
            tags,
        };
        by_id.entry(id).or_insert(place);
    }
    by_id
}

/// Great-circle distance in metres (haversine).
pub fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (p1, p2) = (a.0.to_radians(), b.0.to_radians());
    let dp = p2 - p1;
    let dl = (b.1 - a.1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// Initial bearing from `a` to `b`, degrees in [0, 360).
pub fn bearing_deg(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (p1, p2) = (a.0.to_radians(), b.0.to_radians());
    let dl = (b.1 - a.1).to_radians();
    let y = dl.sin() * p2.cos();
    let x = p1.cos() * p2.sin() - p1.sin() * p2.cos() * dl.cos();
    y.atan2(x).to_degrees().rem_euclid(360.0)
}

/// The smaller angle between two directions, degrees in [0, 180].
pub fn angle_between(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
}

/// Signed cross-track distance (positive: right of the line of travel).
pub fn cross_track_m(from: (f64, f64), heading: f64, to: (f64, f64)) -> f64 {
    let angular = distance_m(from, to) / EARTH_RADIUS_M;
    let delta = (bearing_deg(from, to) - heading).to_radians();
    EARTH_RADIUS_M * (angular.sin() * delta.sin()).clamp(-1.0, 1.0).asin()
}

/// SPEC rule 4's reach for a speed.
pub fn reach_m(speed: f64) -> f64 {
    (speed * 600.0).clamp(1_000.0, 15_000.0)
}

/// The state of `opening_hours` at `at`, evaluated directly with the crate in
/// Europe/Berlin with the German public holidays.
pub fn hours_state_in_germany(expression: &str, at: DateTime<Utc>, place: &Place) -> RuleKind {
    let parsed: OpeningHours = expression.parse().unwrap_or_else(|e| {
        panic!("the importer kept an unreadable opening_hours {expression:?}: {e}")
    });
    let mut locale = TzLocation::new(Berlin);
    if let Some(coords) = Coordinates::new(place.lat, place.lon) {
        locale = locale.with_coords(coords);
    }
    let context = Context::default()
        .with_holidays(Country::DE.holidays())
        .with_locale(locale);
    parsed
        .with_context(context)
        .state(at.with_timezone(&Berlin))
        .0
}

/// SPEC "Messages": a distance as people read it.
pub fn distance_text(distance_m: f64, lang: &str) -> String {
    let tens = (distance_m / 10.0).round() * 10.0;
    if tens < 1_000.0 {
        return format!("{} m", tens as u64);
    }
    let tenths = (distance_m / 100.0).round() / 10.0;
    if tenths < 10.0 {
        let mut text = if tenths.fract() == 0.0 {
            format!("{}", tenths as u64)
        } else {
            format!("{tenths:.1}")
        };
        if lang == "fr" {
            text = text.replace('.', ",");
        }
        return format!("{text} km");
    }
    format!("{} km", (distance_m / 1_000.0).round() as u64)
}

/// SPEC "Messages": the whole sentence.
pub fn message(title: &str, distance: &str, side: Option<&str>, lang: &str) -> String {
    match (lang, side) {
        ("fr", Some("right")) => format!("{title} — à {distance}, sur votre droite"),
        ("fr", Some("left")) => format!("{title} — à {distance}, sur votre gauche"),
        ("fr", Some(_)) => format!("{title} — à {distance}, tout droit"),
        ("fr", None) => format!("{title} — à {distance}"),
        (_, Some("right")) => format!("{title} — {distance} ahead, on your right"),
        (_, Some("left")) => format!("{title} — {distance} ahead, on your left"),
        (_, Some(_)) => format!("{title} — {distance} ahead"),
        (_, None) => format!("{title} — {distance} away"),
    }
}

/// A profile as the referee reads it (SPEC "Profiles").
#[derive(Debug, Clone, Default)]
pub struct Person {
    /// `consent: true` (absent: false).
    pub consent: bool,
    /// Diets that must all be served.
    pub diet: Vec<String>,
    /// `key=value` tags.
    pub dislikes: Vec<(String, String)>,
    /// `key=value` tags that make a merchant preferred.
    pub likes: Vec<(String, String)>,
    /// Message language.
    pub lang: String,
    /// `[start, end)` local time, may wrap.
    pub quiet: Option<(NaiveTime, NaiveTime)>,
    /// Minutes between suggestions, floored at 10.
    pub min_gap_min: i64,
    /// Suggestions in any rolling 24 h.
    pub max_per_day: usize,
}

impl Person {
    /// Reads a profile payload.
    pub fn from_payload(p: &Value) -> Self {
        let strings = |key: &str| -> Vec<String> {
            p[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let quiet = p["quiet_hours"].as_str().map(|q| {
            let (a, b) = q.split_once('-').expect("HH:MM-HH:MM");
            let t = |s: &str| NaiveTime::parse_from_str(s, "%H:%M").expect("HH:MM");
            (t(a), t(b))
        });
        let tags = |key: &str| -> Vec<(String, String)> {
            strings(key)
                .iter()
                .map(|t| {
                    let (k, v) = t.split_once('=').expect("key=value");
                    (k.to_string(), v.to_string())
                })
                .collect()
        };
        Self {
            consent: p["consent"] == Value::Bool(true),
            diet: strings("diet"),
            dislikes: tags("dislikes"),
            likes: tags("likes"),
            lang: p["lang"].as_str().unwrap_or("en").to_string(),
            quiet,
            min_gap_min: p["min_gap_min"].as_i64().unwrap_or(30).max(10),
            max_per_day: p["max_per_day"].as_u64().unwrap_or(3) as usize,
        }
    }

    /// SPEC "Ranking" for an implicit `place` offer (no audience): the distance,
    /// x 0.75 when the merchant carries a `likes` tag.
    pub fn score(&self, place: &Place, distance_m: f64) -> f64 {
        if self.likes.iter().any(|(k, v)| place.has_tag(k, v)) {
            distance_m * 0.75
        } else {
            distance_m
        }
    }

    /// Rules 2 and 5 for a place: food needs hunger and every diet; no dislikes.
    pub fn may_hear_of(&self, place: &Place, hungry: Option<bool>) -> bool {
        let appetite = !place.is_food_place()
            || (hungry == Some(true) && self.diet.iter().all(|d| place.serves(d)));
        appetite && !self.dislikes.iter().any(|(k, v)| place.has_tag(k, v))
    }

    /// True when `at` falls in the quiet hours, read in Europe/Berlin.
    pub fn is_quiet_at(&self, at: DateTime<Utc>) -> bool {
        let Some((start, end)) = self.quiet else {
            return false;
        };
        let local = at.with_timezone(&Berlin).time();
        let local = NaiveTime::from_hms_opt(local.hour(), local.minute(), local.second())
            .expect("a time of day");
        if start == end {
            false
        } else if start < end {
            start <= local && local < end
        } else {
            local >= start || local < end
        }
    }
}

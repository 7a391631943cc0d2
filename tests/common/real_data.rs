//! An independent referee for replays of real data: it reads the offer file the
//! importer wrote, the trace that was replayed and what kairos published, and
//! checks every suggestion against SPEC's rules from the merchant's own tags,
//! without asking kairos anything.
//!
//! Nothing here calls kairos's rules, geodesy, hours or message code: distances
//! and bearings are plain great-circle formulas (on the mean Earth radius, the
//! sphere kairos's "geodesic" distances are on), opening hours go straight to
//! the `opening-hours` crate in Europe/Berlin with the German public-holiday
//! calendar, and messages are rebuilt from SPEC's "Messages" reading. kairos is
//! only used to import the files and to replay them (the things under test).
//!
//! Included with `#[path = "common/real_data.rs"] mod real_data;` by the
//! `real_data_*` tests, so the other test binaries do not compile it.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveTime, Timelike, Utc};
use chrono_tz::Europe::Berlin;
use opening_hours::localization::{Coordinates, Country, TzLocation};
use opening_hours::{Context, OpeningHours, RuleKind};
use serde_json::{Map, Value};

use kairos::config::EngineConfig;
use kairos::import::trace_log::{self, TraceOptions};
use kairos::Engine;

/// Mean Earth radius in metres (the sphere of SPEC's great-circle distances).
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A file of the shared real data (`../shared/data` from the crate root).
pub fn data(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(relative)
}

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
    let (catalog, problems) =
        kairos::offer_files::load_catalog(&[offers.to_path_buf()]).expect("offers load");
    // The importer keeps every `opening_hours` as mapped: Munich's odd ones
    // are read after repair or stay unreadable (never open); nothing else.
    let other: Vec<_> = problems
        .iter()
        .filter(|p| !p.reason.starts_with("opening_hours "))
        .collect();
    assert!(
        other.is_empty(),
        "the imported offer file has problems: {:?}",
        &other[..other.len().min(5)]
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
/// Europe/Berlin with the German public holidays. The importer keeps every
/// value as mapped: one the crate cannot read is read after kairos's repairs
/// (tested on their own in kairos-core), and one that stays unreadable is
/// `Unknown` (SPEC: never open).
pub fn hours_state_in_germany(expression: &str, at: DateTime<Utc>, place: &Place) -> RuleKind {
    let parsed = expression.parse::<OpeningHours>().ok().or_else(|| {
        let repaired = kairos_core::offers::hours_repair::repair(expression).ok()??;
        repaired.text.parse::<OpeningHours>().ok()
    });
    let Some(parsed) = parsed else {
        return RuleKind::Unknown;
    };
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

/// What the device had told kairos when one of its positions arrived.
#[derive(Debug, Clone)]
struct Moment {
    person: Option<Person>,
    hungry: Option<bool>,
    position: Value,
    at: DateTime<Utc>,
}

/// The referee's findings.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Suggestions checked.
    pub checked: usize,
    /// Suggestions per device.
    pub per_device: BTreeMap<String, usize>,
    /// When each device was suggested something, in order.
    pub times: BTreeMap<String, Vec<DateTime<Utc>>>,
    /// Suggestions of food places.
    pub food: usize,
    /// The merchants suggested, in output order.
    pub merchants: Vec<String>,
    /// Every rule broken, one line each.
    pub violations: Vec<String>,
}

impl Verdict {
    /// Fails with the first violations when there are any.
    pub fn assert_clean(&self, what: &str) {
        assert!(
            self.violations.is_empty(),
            "{what}: {} of {} suggestions break a rule; first ones:\n{}",
            self.violations.len(),
            self.checked,
            self.violations
                .iter()
                .take(25)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// A suggestion made: when, the merchant, the offer, and the person's settings then.
type Made = (DateTime<Utc>, String, String, Person);

/// Checks every suggestion of `outputs` against the trace `lines` that produced
/// them and the offer file `offer_file`, rule by rule, from the merchants' tags.
pub fn referee(offer_file: &Value, lines: &[Value], outputs: &[Value]) -> Verdict {
    let places = places(offer_file);
    let moments = moments(lines);
    let mut verdict = Verdict::default();
    let mut by_device: BTreeMap<String, Vec<Made>> = BTreeMap::new();
    let mut seen_events: HashMap<(String, String), usize> = HashMap::new();

    for output in outputs {
        let topic = output["topic"].as_str().unwrap_or("");
        let device = topic_device(output);
        let at_text = output["at"].as_str().unwrap_or("").to_string();
        let mut fail = |rule: &str, detail: String| {
            verdict
                .violations
                .push(format!("{device} at {at_text}: {rule}: {detail}"));
        };
        if !topic.ends_with("/suggestion") {
            fail("only suggestions expected", format!("{output}"));
            continue;
        }
        *seen_events
            .entry((device.clone(), at_text.clone()))
            .or_default() += 1;
        let s = &output["payload"];
        let Some(moment) = moments.get(&(device.clone(), at_text.clone())) else {
            fail(
                "a suggestion is only made for a position event (SPEC Precise readings, Triggers)",
                format!("no position of {device} at {at_text}: {s}"),
            );
            continue;
        };
        verdict.checked += 1;
        *verdict.per_device.entry(device.clone()).or_default() += 1;

        // Rule 1: consent.
        let Some(person) = moment.person.clone().filter(|p| p.consent) else {
            fail(
                "rule 1: no profile or no consent, no suggestion",
                format!("{s}"),
            );
            continue;
        };
        let merchant_id = s["merchant"]["id"].as_str().unwrap_or("").to_string();
        let Some(place) = places.get(&merchant_id) else {
            fail("the merchant is in the offer file", merchant_id.clone());
            continue;
        };
        verdict.merchants.push(merchant_id.clone());
        let offer_id = s["offer"]["id"].as_str().unwrap_or("").to_string();
        if place.tags.contains_key("offers") {
            fail("imported merchants have no offers key", merchant_id.clone());
        }
        if offer_id != "place" {
            fail(
                "no `offers` key: the implicit `place` offer",
                format!("offer {offer_id}"),
            );
        }
        let name = place.tag("name").unwrap_or_else(|| merchant_id.clone());
        if s["merchant"]["name"] != name.as_str() || s["offer"]["title"] != name.as_str() {
            fail(
                "the place offer is titled by the merchant's name, else its id",
                format!("name {name:?}, got {}", s["merchant"]),
            );
        }

        // Rule 2 and 5 (food): hungry and every diet served.
        if place.is_food_place() {
            verdict.food += 1;
            if moment.hungry != Some(true) {
                fail(
                    "rule 5: a food place needs the context `hungry: true`",
                    format!(
                        "{merchant_id} ({:?}), hungry {:?}",
                        place.tag("amenity").or(place.tag("shop")),
                        moment.hungry
                    ),
                );
            }
            for diet in &person.diet {
                if !place.serves(diet) {
                    fail(
                        "rule 2: every diet is served (`diet:<d>` yes/only; vegan serves vegetarian)",
                        format!(
                            "{merchant_id} does not serve {diet}: diet:{diet}={:?}, diet:vegan={:?}",
                            place.tag(&format!("diet:{diet}")),
                            place.tag("diet:vegan")
                        ),
                    );
                }
            }
        }

        // Rule 5: dislikes.
        for (k, v) in &person.dislikes {
            if place.has_tag(k, v) {
                fail(
                    "rule 5: nothing tagged with a `dislikes` tag",
                    format!("{merchant_id} has {k}={:?}", place.tag(k)),
                );
            }
        }

        // Rule 4: reach, cone, side; outputs' distance, bearing, eta.
        let p = &moment.position;
        let here = (p["lat"].as_f64().unwrap(), p["lon"].as_f64().unwrap());
        let there = (place.lat, place.lon);
        let speed = p["speed"].as_f64().unwrap_or(0.0);
        let heading = p["heading"].as_f64();
        let d = distance_m(here, there);
        let reach = reach_m(speed);
        if d > reach + 1.0 {
            fail(
                "rule 4: distance <= clamp(speed x 600 s, 1 km, 15 km)",
                format!("{merchant_id} at {d:.1} m, speed {speed} m/s, reach {reach:.0} m"),
            );
        }
        let given_d = s["distance_m"].as_f64().unwrap_or(f64::NAN);
        if (given_d - d).abs() > 1.0 {
            fail(
                "distance_m is the geodesic distance, whole metres (+-1 m)",
                format!("{merchant_id}: given {given_d}, computed {d:.2}"),
            );
        }
        let b = bearing_deg(here, there);
        let given_b = s["bearing"].as_f64().unwrap_or(f64::NAN);
        if !(0.0..360.0).contains(&given_b)
            || given_b.fract() != 0.0
            || angle_between(given_b, b) > 1.0
        {
            fail(
                "bearing: whole degrees in [0, 360), device to merchant",
                format!("{merchant_id}: given {given_b}, computed {b:.2}"),
            );
        }
        let moving = speed >= 2.0 && heading.is_some();
        match (moving, s.get("side").and_then(Value::as_str)) {
            (true, Some(side)) => {
                let h = heading.unwrap();
                let off = angle_between(b, h);
                if d > 0.5 && off > 60.0 + 1e-6 {
                    fail(
                        "rule 4: a device at >= 2 m/s with a heading only gets merchants within +-60 deg",
                        format!("{merchant_id}: bearing {b:.2}, heading {h}, off by {off:.2} deg, at {d:.0} m"),
                    );
                }
                let xt = cross_track_m(here, h, there);
                let expected = if xt > 25.0 {
                    "right"
                } else if xt < -25.0 {
                    "left"
                } else {
                    "ahead"
                };
                if side != expected && (xt.abs() - 25.0).abs() > 0.5 {
                    fail(
                        "rule 4: side right/left beyond 25 m of the line of travel, else ahead",
                        format!("{merchant_id}: side {side}, cross-track {xt:.1} m"),
                    );
                }
            }
            (false, None) => {}
            (_, side) => fail(
                "`side` is given exactly when speed >= 2 m/s and a heading is known",
                format!("speed {speed}, heading {heading:?}, side {side:?}"),
            ),
        }
        let pace = if speed >= 2.0 { speed } else { 1.4 };
        let eta = s["eta_s"].as_i64();
        let expected_eta = (d / pace).round() as i64;
        match eta {
            Some(e) if (e - expected_eta).abs() <= 1 => {}
            _ => fail(
                "eta_s = distance / speed (walking pace below 2 m/s), whole seconds",
                format!("given {eta:?}, computed {expected_eta} ({d:.1} m at {pace} m/s)"),
            ),
        }

        // Rule 3: open at arrival.
        let arrival = moment.at + Duration::seconds(eta.unwrap_or(expected_eta));
        if let Some(tz) = place.tag("timezone") {
            if tz != "Europe/Berlin" {
                fail("merchant zone", format!("{merchant_id}: timezone {tz}"));
            }
        }
        if let Some(expr) = place.tag("opening_hours").filter(|e| !e.trim().is_empty()) {
            let state = hours_state_in_germany(&expr, arrival, place);
            if state != RuleKind::Open {
                fail(
                    "rule 3: the merchant is open at the estimated arrival (local time, PH included)",
                    format!(
                        "{merchant_id} {:?}: {expr:?} is {state:?} at {} (Berlin)",
                        name,
                        arrival.with_timezone(&Berlin)
                    ),
                );
            }
        }

        // Message and language.
        let lang = person.lang.as_str();
        if s["lang"] != lang {
            fail(
                "lang is the profile's",
                format!("given {}, profile {lang}", s["lang"]),
            );
        }
        let side = s.get("side").and_then(Value::as_str);
        let accepted: Vec<String> = [d - 1.0, d, d + 1.0]
            .iter()
            .map(|x| message(&name, &distance_text(*x, lang), side, lang))
            .collect();
        let given = s["message"].as_str().unwrap_or("");
        if !accepted.iter().any(|m| m == given) {
            fail(
                "message per SPEC Messages",
                format!("given {given:?}, expected {:?}", accepted[1]),
            );
        }
        if s["at"] != at_text.as_str() {
            fail("payload `at` is the event's `at`", format!("{}", s["at"]));
        }

        // Ranking: no clearly better eligible merchant (by 1 m of score, away
        // from every boundary: reach, cone, opening-hours changes).
        let chosen = person.score(place, d);
        let earlier = by_device.get(&device).map(Vec::as_slice).unwrap_or(&[]);
        let mut rivals: Vec<(&String, f64)> = Vec::new();
        for (id, rival) in &places {
            let rd = distance_m(here, (rival.lat, rival.lon));
            if id == &merchant_id || rd > reach - 1.0 || person.score(rival, rd) >= chosen - 1.0 {
                continue;
            }
            if moving
                && rd > 1.0
                && angle_between(bearing_deg(here, (rival.lat, rival.lon)), heading.unwrap())
                    > 59.99
            {
                continue;
            }
            if !person.may_hear_of(rival, moment.hungry) || rival.tags.contains_key("offers") {
                continue;
            }
            let repeated = earlier.iter().any(|(t, m, o, _)| {
                m == id && o == "place" && moment.at - *t < Duration::hours(24)
            });
            if repeated {
                continue;
            }
            let rival_arrival = moment.at + Duration::seconds((rd / pace).round() as i64);
            let open = rival.tag("opening_hours").is_none_or(|expr| {
                [-2, 0, 2].iter().all(|s| {
                    hours_state_in_germany(&expr, rival_arrival + Duration::seconds(*s), rival)
                        == RuleKind::Open
                })
            });
            if open {
                rivals.push((id, rd));
            }
        }
        if let Some((id, rd)) = rivals.iter().min_by(|a, b| a.1.total_cmp(&b.1)) {
            fail(
                "ranking: the best eligible offer wins (lowest score)",
                format!(
                    "{merchant_id} ({:?}) at {d:.0} m (score {chosen:.0}) chosen, but {id} ({:?}) at {rd:.0} m (score {:.0}) fits too",
                    name,
                    places[*id].tag("name"),
                    person.score(&places[*id], *rd)
                ),
            );
        }

        // Rule 6, quiet hours (device local time: Germany).
        if person.is_quiet_at(moment.at) {
            fail(
                "rule 6: no suggestion during quiet_hours (device local time)",
                format!(
                    "{} local, quiet {:?}",
                    moment.at.with_timezone(&Berlin),
                    person.quiet
                ),
            );
        }
        verdict
            .times
            .entry(device.clone())
            .or_default()
            .push(moment.at);
        by_device.entry(device.clone()).or_default().push((
            moment.at,
            merchant_id,
            offer_id,
            person,
        ));
    }

    for ((device, at), n) in &seen_events {
        if *n > 1 {
            verdict.violations.push(format!(
                "{device} at {at}: at most one suggestion per event: {n}"
            ));
        }
    }

    // Rule 6: gap, rolling cap, no repeat within 24 h, per device.
    for (device, made) in &by_device {
        for (i, (t, merchant, offer, person)) in made.iter().enumerate() {
            if i > 0 {
                let gap = *t - made[i - 1].0;
                if gap < Duration::minutes(person.min_gap_min) {
                    verdict.violations.push(format!(
                        "{device} at {t}: rule 6: at least min_gap_min ({}, floor 10) between suggestions: {} min after the last",
                        person.min_gap_min,
                        gap.num_seconds() as f64 / 60.0
                    ));
                }
            }
            let window = made[..=i]
                .iter()
                .filter(|(u, ..)| *t - *u < Duration::hours(24))
                .count();
            if window > person.max_per_day {
                verdict.violations.push(format!(
                    "{device} at {t}: rule 6: at most max_per_day ({}) in any rolling 24 h: {window}",
                    person.max_per_day
                ));
            }
            if let Some((u, ..)) = made[..i]
                .iter()
                .rev()
                .find(|(_, m, o, _)| m == merchant && o == offer)
            {
                if *t - *u < Duration::hours(24) {
                    verdict.violations.push(format!(
                        "{device} at {t}: rule 6: the same offer never twice within 24 h: {merchant}/{offer} also at {u}"
                    ));
                }
            }
        }
    }
    verdict
}

/// For each (device, `at` text) of a position line: the device's profile and
/// hunger at that moment, and the position.
fn moments(lines: &[Value]) -> HashMap<(String, String), Moment> {
    let mut profile: HashMap<String, Option<Person>> = HashMap::new();
    let mut hungry: HashMap<String, (Option<bool>, DateTime<Utc>)> = HashMap::new();
    let mut moments = HashMap::new();
    for line in lines {
        let device = topic_device(line);
        let at = line_time(line);
        let payload = &line["payload"];
        match topic_kind(line).as_str() {
            "profile" => {
                profile.insert(device, Some(Person::from_payload(payload)));
            }
            "context" => {
                if let Some(h) = payload.get("hungry") {
                    hungry.insert(device, (h.as_bool(), at));
                }
            }
            "position" => {
                let hungry_now = hungry
                    .get(&device)
                    .filter(|(_, set)| at < *set + Duration::hours(2))
                    .and_then(|(h, _)| *h);
                let key = (device.clone(), line["at"].as_str().unwrap().to_string());
                let moment = Moment {
                    person: profile.get(&device).cloned().flatten(),
                    hungry: hungry_now,
                    position: payload.clone(),
                    at,
                };
                assert!(
                    moments.insert(key, moment).is_none(),
                    "two positions of {device} at the same `at`: the referee needs them apart"
                );
            }
            other => panic!("the referee reads profile, context and position lines, not {other}"),
        }
    }
    moments
}

//! Reading offer files: GeoJSON FeatureCollections of OSM-tagged merchants.
//!
//! Every problem is collected with its file, feature and reason; a feature that
//! cannot be used is skipped and the rest loads. Only a file that cannot be read
//! at all (missing, not JSON, not a FeatureCollection) is a [`LoadError`]. The
//! loader reads text it is given: finding and reading files is the edge's job
//! (`kairos::offer_files`).

use std::fmt;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use geo::{Centroid, Coord, LineString, MultiPolygon, Polygon};
use rustc_hash::FxHashSet;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::audience::Audience;
use super::hours::{mentions_public_holidays, public_holidays_at, HoursParser, Locality, Reading};
use super::model::{
    is_unique_per_place, Merchant, Offer, OfferTerms, Tags, Title, ValidUntil, FOOD_AMENITIES,
    FOOD_SHOPS,
};
use super::zone::{timezone_at, timezone_named};
use crate::geodesy::LatLon;

/// A file that could not be read as an offer file at all.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file or folder could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a JSON FeatureCollection.
    #[error("{path}: not a GeoJSON FeatureCollection: {detail}")]
    NotFeatureCollection {
        /// The path.
        path: PathBuf,
        /// Why.
        detail: String,
    },
}

/// How serious a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The file is wrong: `check` fails; the feature or offer is skipped, or never holds.
    Error,
    /// Worth knowing; everything still loads.
    Warning,
}

/// One problem found while loading, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: PathBuf,
    /// The feature: `features[3]`, with its id when known.
    pub feature: String,
    /// The feature's position in the file's `features` array.
    pub index: usize,
    /// What is wrong.
    pub reason: String,
    /// Error or warning.
    pub severity: Severity,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}: {}: {level}: {}",
            self.file.display(),
            self.feature,
            self.reason
        )
    }
}

/// Collects merchants from files in order, keeping the first of duplicate ids.
#[derive(Default)]
pub struct Loader {
    merchants: Vec<Merchant>,
    ids: FxHashSet<Box<str>>,
    builder: Builder,
    problems: Vec<Problem>,
}

/// Turns features into merchants, sharing repeated strings and parsed hours.
/// Independent of every other feature, so several can run at once.
#[derive(Default)]
struct Builder {
    strings: FxHashSet<Arc<str>>,
    hours: HoursParser,
}

/// One feature, built: its id, the merchant or why not, and the notes.
struct Built {
    id: Option<String>,
    merchant: Result<Merchant, String>,
    notes: Vec<(Severity, String)>,
}

/// Below this many features a file is built on one thread.
const PARALLEL_FROM: usize = 20_000;

/// The collection with its features left as text: each is read into a tree only
/// while it is being loaded, so a large file never exists as one JSON tree.
#[derive(Deserialize)]
struct RawCollection<'a> {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(borrow)]
    features: Option<Vec<&'a RawValue>>,
}

impl Loader {
    /// An empty loader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads one file's text; `file` names it in problems.
    pub fn load_text(&mut self, file: &Path, text: &str) -> Result<(), LoadError> {
        let not_collection = |detail: String| LoadError::NotFeatureCollection {
            path: file.to_path_buf(),
            detail,
        };
        // Some editors save UTF-8 with a byte-order mark; JSON has none.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let raw: RawCollection =
            serde_json::from_str(text).map_err(|e| not_collection(e.to_string()))?;
        if raw.kind.as_deref() != Some("FeatureCollection") {
            return Err(not_collection("`type` is not \"FeatureCollection\"".into()));
        }
        let features = raw
            .features
            .ok_or_else(|| not_collection("no `features` array".into()))?;
        if features.len() < PARALLEL_FROM {
            for (index, feature) in features.iter().enumerate() {
                let built = self.builder.build(feature);
                self.accept(file, index, built);
            }
            return Ok(());
        }
        // Large files: features are built on every core (two parts at least,
        // so the same code runs everywhere), each part with its own builder,
        // then accepted in file order (duplicate ids and problems come out
        // exactly as on one thread).
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        let chunk = features.len().div_ceil(threads);
        let built: Vec<Vec<Built>> = std::thread::scope(|scope| {
            let (first, rest) = features.split_at(chunk);
            let helpers: Vec<_> = rest
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        let mut builder = Builder::default();
                        part.iter().map(|f| builder.build(f)).collect::<Vec<_>>()
                    })
                })
                .collect();
            let mut all = vec![first.iter().map(|f| self.builder.build(f)).collect()];
            // A builder never panics on input (see `Hours`); a panic here is a bug.
            all.extend(
                helpers
                    .into_iter()
                    .map(|h| h.join().expect("feature builder")),
            );
            all
        });
        for (index, built) in built.into_iter().flatten().enumerate() {
            self.accept(file, index, built);
        }
        Ok(())
    }

    /// The merchants loaded and every problem found.
    pub fn finish(self) -> (Vec<Merchant>, Vec<Problem>) {
        (self.merchants, self.problems)
    }

    /// Problems found so far.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// Records one built feature: the merchant (unless its id is taken) and its problems.
    fn accept(&mut self, file: &Path, index: usize, built: Built) {
        let Built {
            id,
            merchant: result,
            notes,
        } = built;
        let place = match &id {
            Some(id) => format!("features[{index}] (id {id:?})"),
            None => format!("features[{index}]"),
        };
        let mut report = |severity, reason: String| {
            self.problems.push(Problem {
                file: file.to_path_buf(),
                feature: place.clone(),
                index,
                reason,
                severity,
            })
        };
        for (severity, reason) in notes {
            report(severity, reason);
        }
        match result {
            Ok(merchant) => {
                if self.ids.contains(&merchant.id) {
                    report(
                        Severity::Error,
                        format!(
                            "duplicate id {:?}: the first loaded is kept, this one skipped",
                            merchant.id
                        ),
                    );
                } else {
                    self.ids.insert(merchant.id.clone());
                    self.merchants.push(merchant);
                }
            }
            Err(reason) => report(Severity::Error, format!("{reason}; feature skipped")),
        }
    }
}

impl Builder {
    /// Reads one feature (its text, already checked to be JSON) into a merchant.
    fn build(&mut self, feature: &RawValue) -> Built {
        let feature: Value = serde_json::from_str(feature.get()).unwrap_or(Value::Null);
        let id = feature_id(&feature);
        let mut notes = Vec::new();
        let merchant = self.merchant(&feature, id.clone(), &mut notes);
        Built {
            id,
            merchant,
            notes,
        }
    }

    fn merchant(
        &mut self,
        feature: &Value,
        id: Option<String>,
        notes: &mut Vec<(Severity, String)>,
    ) -> Result<Merchant, String> {
        let feature = feature.as_object().ok_or("not a JSON object")?;
        let empty = Map::new();
        let props = match feature.get("properties") {
            Some(Value::Object(p)) => p,
            None | Some(Value::Null) => &empty,
            Some(_) => return Err("`properties` is not an object".into()),
        };
        let id = id.ok_or("no id (`properties.id` or the Feature's `id`)")?;
        let location = feature_location(feature.get("geometry"))?;

        let timezone = match props.get("timezone") {
            None | Some(Value::Null) => timezone_at(location),
            Some(Value::String(name)) => timezone_named(name).unwrap_or_else(|| {
                notes.push((
                    Severity::Error,
                    format!("unknown time zone {name:?}; using the one at the coordinates"),
                ));
                timezone_at(location)
            }),
            Some(_) => {
                notes.push((
                    Severity::Error,
                    "`timezone` is not a string; using the one at the coordinates".into(),
                ));
                timezone_at(location)
            }
        };

        let tags = self.tags(props);
        let hours_text = match props.get("opening_hours") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => return Err("`opening_hours` is not a string".into()),
        };
        let offers_json = props.get("offers");
        let needs_holidays = hours_text.is_some_and(mentions_public_holidays)
            || offers_json.and_then(Value::as_array).is_some_and(|offers| {
                offers.iter().any(|o| {
                    o.get("when")
                        .and_then(Value::as_str)
                        .is_some_and(mentions_public_holidays)
                })
            });
        let holidays = if needs_holidays {
            match public_holidays_at(location) {
                Ok(h) => Some(h),
                Err(gap) => {
                    notes.push((Severity::Warning, format!("`PH` never matches here: {gap}")));
                    None
                }
            }
        } else {
            None
        };
        let locality = Locality {
            timezone,
            location,
            holidays,
        };
        let hours = hours_text.map(|text| {
            let reading = self.hours.parse(text, &locality);
            note_reading(
                "opening_hours",
                text,
                &reading,
                "the merchant is never open",
                notes,
            );
            reading.hours().clone()
        });

        // The name shares the `name` tag's string.
        let name: Arc<str> = tags.shared("name").unwrap_or_else(|| id.as_str().into());
        let is_food = tags
            .get("amenity")
            .is_some_and(|a| FOOD_AMENITIES.contains(&a))
            || tags.get("shop").is_some_and(|s| FOOD_SHOPS.contains(&s));
        for (key, value) in tags.iter() {
            if key.starts_with("diet:") && !matches!(value, "yes" | "only" | "limited" | "no") {
                notes.push((
                    Severity::Warning,
                    format!("`{key}={value}` is not yes, only, limited or no: it serves nobody"),
                ));
            }
        }

        let offers = match offers_json {
            None => vec![Offer::place(self.intern("place"), name.clone(), is_food)],
            Some(Value::Array(items)) => offers(items, &locality, is_food, &mut self.hours, notes),
            Some(_) => return Err("`offers` is not an array".into()),
        };

        Ok(Merchant {
            id: id.into(),
            name,
            location,
            tags,
            is_food,
            timezone,
            hours,
            offers,
        })
    }

    fn tags(&mut self, props: &Map<String, Value>) -> Tags {
        let mut pairs = Vec::with_capacity(props.len());
        for (key, value) in props {
            if matches!(key.as_str(), "id" | "offers" | "timezone") {
                continue;
            }
            let text = match value {
                Value::String(s) if !s.trim().is_empty() => s.trim().to_string(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => continue,
            };
            let value = if is_unique_per_place(key) {
                Arc::from(text)
            } else {
                self.intern(&text)
            };
            pairs.push((self.intern(key), value));
        }
        Tags::new(pairs)
    }

    /// One shared copy of a string that many merchants repeat (keys, `amenity`
    /// values, common `opening_hours`...).
    fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(shared) = self.strings.get(s) {
            return shared.clone();
        }
        let shared: Arc<str> = s.into();
        self.strings.insert(shared.clone());
        shared
    }
}

/// A feature's id: `properties.id`, else the Feature's `id` (a string or number).
pub fn feature_id(feature: &Value) -> Option<String> {
    let from_props = feature.get("properties").and_then(|p| p.get("id"));
    [from_props, feature.get("id")]
        .into_iter()
        .flatten()
        .find_map(|v| match v {
            Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
}

/// Where a feature's geometry puts the merchant (a polygon's centroid), or why it cannot.
pub fn feature_location(geometry: Option<&Value>) -> Result<LatLon, String> {
    let geometry = geometry.and_then(Value::as_object).ok_or("no geometry")?;
    let coords = geometry
        .get("coordinates")
        .ok_or("geometry has no coordinates")?;
    let location = match geometry.get("type").and_then(Value::as_str) {
        Some("Point") => {
            let c = position(coords).ok_or("Point coordinates are not [lon, lat]")?;
            LatLon::new(c.y, c.x)
        }
        Some("Polygon") => {
            let polygon =
                polygon(coords).ok_or("Polygon coordinates are not rings of [lon, lat]")?;
            centroid(polygon.centroid())?
        }
        Some("MultiPolygon") => {
            let polygons = coords
                .as_array()
                .and_then(|ps| ps.iter().map(polygon).collect::<Option<Vec<_>>>())
                .ok_or("MultiPolygon coordinates are not polygons of [lon, lat]")?;
            centroid(MultiPolygon::new(polygons).centroid())?
        }
        Some(other) => {
            return Err(format!(
                "geometry type {other:?} is not Point, Polygon or MultiPolygon"
            ))
        }
        None => return Err("geometry has no type".into()),
    };
    if !location.is_valid() {
        return Err(format!(
            "coordinates [{}, {}] are out of range",
            location.lon, location.lat
        ));
    }
    Ok(location)
}

fn centroid(point: Option<geo::Point<f64>>) -> Result<LatLon, String> {
    point
        .map(|p| LatLon::new(p.y(), p.x()))
        .ok_or_else(|| "polygon has no area or points to take a centroid of".into())
}

fn position(value: &Value) -> Option<Coord<f64>> {
    let items = value.as_array()?;
    if items.len() < 2 {
        return None;
    }
    let (x, y) = (items[0].as_f64()?, items[1].as_f64()?);
    Some(Coord { x, y })
}

fn polygon(value: &Value) -> Option<Polygon<f64>> {
    let rings = value
        .as_array()?
        .iter()
        .map(|ring| {
            ring.as_array()?
                .iter()
                .map(position)
                .collect::<Option<Vec<_>>>()
                .map(LineString::new)
        })
        .collect::<Option<Vec<_>>>()?;
    let mut rings = rings.into_iter();
    let exterior = rings.next()?;
    if exterior.0.is_empty() {
        return None;
    }
    Some(Polygon::new(exterior, rings.collect()))
}

fn offers(
    items: &[Value],
    locality: &Locality,
    at_food_place: bool,
    hours: &mut HoursParser,
    notes: &mut Vec<(Severity, String)>,
) -> Vec<Offer> {
    let mut offers: Vec<Offer> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let mut offer_notes = Vec::new();
        match offer(item, locality, at_food_place, hours, &mut offer_notes) {
            Ok(offer) if offers.iter().any(|o| o.id == offer.id) => notes.push((
                Severity::Error,
                format!(
                    "offers[{index}]: duplicate offer id {:?}: skipped",
                    offer.id
                ),
            )),
            Ok(offer) => offers.push(offer),
            Err(reason) => notes.push((
                Severity::Error,
                format!("offers[{index}]: {reason}; offer skipped"),
            )),
        }
        notes.extend(
            offer_notes
                .into_iter()
                .map(|(s, r)| (s, format!("offers[{index}]: {r}"))),
        );
    }
    offers
}

fn offer(
    item: &Value,
    locality: &Locality,
    at_food_place: bool,
    hours: &mut HoursParser,
    notes: &mut Vec<(Severity, String)>,
) -> Result<Offer, String> {
    let item = item.as_object().ok_or("not an object")?;
    let id: Arc<str> = match item.get("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.as_str().into(),
        Some(Value::Number(n)) => n.to_string().into(),
        _ => return Err("no id".into()),
    };
    let title = match item.get("title") {
        Some(Value::String(s)) if !s.trim().is_empty() => Title::Plain(s.as_str().into()),
        Some(Value::Object(map)) if !map.is_empty() => Title::Translated(
            map.iter()
                .map(|(lang, text)| {
                    text.as_str()
                        .map(|t| (Box::from(lang.as_str()), Box::from(t)))
                        .ok_or_else(|| format!("title in {lang:?} is not a string"))
                })
                .collect::<Result<_, _>>()?,
        ),
        _ => return Err("no title (a string, or an object of language → string)".into()),
    };
    let when = match item.get("when") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let reading = hours.parse(s, locality);
            note_reading("when", s, &reading, "the offer never holds", notes);
            Some(reading.hours().clone())
        }
        Some(_) => return Err("`when` is not a string".into()),
    };
    let valid_from = match item.get("valid_from") {
        None | Some(Value::Null) => None,
        Some(v) => Some(match parse_validity(v, locality.timezone)? {
            Validity::Instant(t) => t,
            Validity::Day(start, _) => start,
        }),
    };
    let valid_until = match item.get("valid_until") {
        None | Some(Value::Null) => None,
        Some(v) => Some(match parse_validity(v, locality.timezone)? {
            Validity::Instant(t) => ValidUntil::Through(t),
            Validity::Day(_, next) => ValidUntil::Before(next),
        }),
    };
    if let (Some(from), Some(ValidUntil::Through(end) | ValidUntil::Before(end))) =
        (valid_from, valid_until)
    {
        if from > end {
            notes.push((
                Severity::Warning,
                "valid_from is after valid_until: never valid".into(),
            ));
        }
    }
    let audience = match item.get("audience") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let (audience, problems) = Audience::from_json(v)?;
            notes.extend(problems.into_iter().map(|p| (Severity::Error, p)));
            (!audience.conditions.is_empty()).then_some(audience)
        }
    };
    let radius_m = match item.get("radius_m") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_f64() {
            Some(r) if r > 0.0 && r.is_finite() => Some(r),
            _ => return Err("radius_m is not a positive number of metres".into()),
        },
    };
    let is_food = at_food_place || audience.as_ref().is_some_and(Audience::wants_hungry);
    let terms = OfferTerms {
        when,
        valid_from,
        valid_until,
        audience,
        radius_m,
    };
    let has_terms = terms.when.is_some()
        || terms.valid_from.is_some()
        || terms.valid_until.is_some()
        || terms.audience.is_some()
        || terms.radius_m.is_some();
    Ok(Offer {
        id,
        title,
        is_food,
        terms: has_terms.then(|| Box::new(terms)),
    })
}

/// A repaired value as a warning with the corrected value; an unreadable one as
/// an error saying what that means (`consequence`).
fn note_reading(
    key: &str,
    text: &str,
    reading: &Reading,
    consequence: &str,
    notes: &mut Vec<(Severity, String)>,
) {
    match reading {
        Reading::AsWritten(_) => {}
        Reading::Repaired(_, repaired) => notes.push((
            Severity::Warning,
            format!(
                "{key} {text:?} read as {:?} ({})",
                repaired.text,
                repaired.repairs.join(", ")
            ),
        )),
        Reading::Unreadable(_, why) => notes.push((
            Severity::Error,
            format!("{key} {text:?} cannot be read: {why}; {consequence}"),
        )),
    }
}

enum Validity {
    Instant(DateTime<Utc>),
    /// A whole local day: its first instant and the next day's first instant.
    Day(DateTime<Utc>, DateTime<Utc>),
}

fn parse_validity(value: &Value, tz: Tz) -> Result<Validity, String> {
    let text = value.as_str().ok_or("validity is not a string")?;
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(Validity::Instant(t.with_timezone(&Utc)));
    }
    if let Ok(naive) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S") {
        return Ok(Validity::Instant(local_instant(tz, naive)));
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("{text:?} is not an RFC 3339 date or date-time"))?;
    let next = day.succ_opt().ok_or("date out of range")?;
    Ok(Validity::Day(
        local_instant(tz, day.and_time(chrono::NaiveTime::MIN)),
        local_instant(tz, next.and_time(chrono::NaiveTime::MIN)),
    ))
}

/// The instant of a local wall-clock time; in a DST gap, the first instant after it.
fn local_instant(tz: Tz, naive: NaiveDateTime) -> DateTime<Utc> {
    let mut probe = naive;
    for _ in 0..4 {
        if let Some(t) = tz.from_local_datetime(&probe).earliest() {
            return t.with_timezone(&Utc);
        }
        probe += chrono::Duration::minutes(30);
    }
    Utc.from_utc_datetime(&naive)
}

//! Inputs: topics and payloads as they arrive, read into typed events or into
//! the precise error SPEC names. Nothing here changes state.

use chrono::{DateTime, NaiveTime, Utc};
use serde_json::{Map, Value};

use crate::device::{Change, ContextUpdate, Lang, Profile, QuietHours, TagPattern, Trip};
use crate::geodesy::LatLon;

/// Error codes of SPEC's `error` topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The payload is not JSON.
    NotJson,
    /// The payload is larger than the limit.
    TooLarge,
    /// A value has the wrong JSON type.
    WrongType,
    /// A value is outside what it may be.
    OutOfRange,
    /// A required field is missing.
    MissingField,
    /// The topic names no input kind.
    UnknownKind,
    /// Feedback names a suggestion never made to the device.
    UnknownSuggestion,
    /// The device sends faster than allowed.
    RateLimited,
}

impl ErrorCode {
    /// The code as published.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotJson => "not_json",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::WrongType => "wrong_type",
            ErrorCode::OutOfRange => "out_of_range",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::UnknownKind => "unknown_kind",
            ErrorCode::UnknownSuggestion => "unknown_suggestion",
            ErrorCode::RateLimited => "rate_limited",
        }
    }
}

/// Why an input was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The code.
    pub code: ErrorCode,
    /// A sentence for people.
    pub detail: String,
}

impl InputError {
    /// An error with its code and detail.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

/// The input kinds of SPEC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `position`
    Position,
    /// `context`
    Context,
    /// `profile`
    Profile,
    /// `feedback`
    Feedback,
    /// `ask`
    Ask,
    /// `forget`
    Forget,
    /// `route`
    Route,
    /// `export`
    Export,
}

impl Kind {
    /// Every input kind.
    pub const ALL: [Kind; 8] = [
        Kind::Position,
        Kind::Context,
        Kind::Profile,
        Kind::Feedback,
        Kind::Ask,
        Kind::Forget,
        Kind::Route,
        Kind::Export,
    ];

    /// Where this kind is in [`Kind::ALL`] (an index for per-kind counters).
    pub fn index(self) -> usize {
        self as usize
    }

    fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "position" => Kind::Position,
            "context" => Kind::Context,
            "profile" => Kind::Profile,
            "feedback" => Kind::Feedback,
            "ask" => Kind::Ask,
            "forget" => Kind::Forget,
            "route" => Kind::Route,
            "export" => Kind::Export,
            _ => return None,
        })
    }

    /// The topic word, e.g. `position`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Position => "position",
            Kind::Context => "context",
            Kind::Profile => "profile",
            Kind::Feedback => "feedback",
            Kind::Ask => "ask",
            Kind::Forget => "forget",
            Kind::Route => "route",
            Kind::Export => "export",
        }
    }
}

/// What a topic names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    /// An input for a device.
    Input(&'a str, Kind),
    /// A valid device, but no input kind: answered with `unknown_kind`.
    UnknownKind(&'a str),
    /// One of kairos's own outputs (`suggestion`, `error`): not an input, ignored.
    Output,
    /// No valid device or outside the prefix: logged and counted, never answered.
    Invalid(&'static str),
}

/// True for a device id of SPEC: `[A-Za-z0-9_-]{1,64}`.
pub fn is_valid_device(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Reads `{prefix}/{device}/{kind}`.
pub fn route<'a>(prefix: &str, topic: &'a str) -> Route<'a> {
    let Some(rest) = topic.strip_prefix(prefix).and_then(|r| r.strip_prefix('/')) else {
        return Route::Invalid("outside the topic prefix");
    };
    let Some((device, kind)) = rest.split_once('/') else {
        return Route::Invalid("no device and kind");
    };
    if !is_valid_device(device) {
        return Route::Invalid("not a valid device id");
    }
    match kind {
        "suggestion" | "error" | "data" => Route::Output,
        _ => match Kind::parse(kind) {
            Some(kind) => Route::Input(device, kind),
            None => Route::UnknownKind(device),
        },
    }
}

/// A validated position report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PositionReport {
    /// Where.
    pub location: LatLon,
    /// Heading in [0, 360), when given.
    pub heading: Option<f64>,
    /// Speed in m/s, 0 when not given.
    pub speed: f64,
    /// Accuracy in metres, when given.
    pub accuracy: Option<f64>,
    /// Device timestamp, when given.
    pub ts: Option<DateTime<Utc>>,
}

/// What feedback says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The person took it.
    Accepted,
    /// Never this offer again.
    Dismissed,
    /// Never this merchant again.
    BlockMerchant,
}

/// A validated feedback message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feedback {
    /// A suggestion id.
    pub suggestion: Option<String>,
    /// A merchant id.
    pub merchant: Option<String>,
    /// An offer id.
    pub offer: Option<String>,
    /// What to do.
    pub action: Action,
}

/// A typed input event.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `position`
    Position(PositionReport),
    /// `context`
    Context(ContextUpdate),
    /// `profile`; `None` for the empty retained payload.
    Profile(Option<Profile>),
    /// `feedback`
    Feedback(Feedback),
    /// `ask`
    Ask(ContextUpdate),
    /// `forget`
    Forget,
    /// `route`: the planned route's points, or `None` to clear it.
    Route(Option<Vec<LatLon>>),
    /// `export`: publish what kairos holds about the device.
    Export,
}

impl Event {
    /// The input kind this event came as.
    pub fn kind(&self) -> Kind {
        match self {
            Event::Position(_) => Kind::Position,
            Event::Context(_) => Kind::Context,
            Event::Profile(_) => Kind::Profile,
            Event::Feedback(_) => Kind::Feedback,
            Event::Ask(_) => Kind::Ask,
            Event::Forget => Kind::Forget,
            Event::Route(_) => Kind::Route,
            Event::Export => Kind::Export,
        }
    }
}

/// One message as kairos reads it, once, at the edge: the device and topic it
/// came on, and what it says or why it cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A device's valid input.
    Event {
        /// The device (a valid id).
        device: String,
        /// The topic it came on.
        topic: String,
        /// What it says.
        event: Event,
    },
    /// A device's input that cannot be used: an unknown kind (`kind` is
    /// `None`) or a payload malformed for its kind. It is answered with an
    /// error and counts towards the device's rate limit.
    Malformed {
        /// The device (a valid id).
        device: String,
        /// The topic it came on.
        topic: String,
        /// The kind, when the topic names one.
        kind: Option<Kind>,
        /// Why it was refused.
        error: InputError,
    },
    /// One of kairos's own outputs (`suggestion`, `error`): not an input, ignored.
    Output {
        /// The topic it came on.
        topic: String,
    },
    /// A topic that names no valid device or lies outside the prefix: logged
    /// and counted, never answered.
    Invalid {
        /// The topic it came on.
        topic: String,
        /// Why it is not an input.
        reason: &'static str,
    },
}

impl Input {
    /// An input of `device` that says `event`, on its `{prefix}/{device}/{kind}` topic.
    pub fn event(prefix: &str, device: &str, event: Event) -> Self {
        Input::Event {
            topic: format!("{prefix}/{device}/{}", event.kind().as_str()),
            device: device.to_string(),
            event,
        }
    }

    /// The device whose state this input may read or change.
    pub fn device(&self) -> Option<&str> {
        match self {
            Input::Event { device, .. } | Input::Malformed { device, .. } => Some(device),
            Input::Output { .. } | Input::Invalid { .. } => None,
        }
    }

    /// The input kind its topic names, if any.
    pub fn kind(&self) -> Option<Kind> {
        match self {
            Input::Event { event, .. } => Some(event.kind()),
            Input::Malformed { kind, .. } => *kind,
            Input::Output { .. } | Input::Invalid { .. } => None,
        }
    }

    /// The topic it came on.
    pub fn topic(&self) -> &str {
        match self {
            Input::Event { topic, .. }
            | Input::Malformed { topic, .. }
            | Input::Output { topic }
            | Input::Invalid { topic, .. } => topic,
        }
    }
}

/// Reads one message: its topic (`{prefix}/{device}/{kind}`) and payload (at
/// most `max_payload_bytes`), once, into a typed [`Input`].
pub fn read(prefix: &str, topic: &str, payload: &[u8], max_payload_bytes: usize) -> Input {
    let (device, kind) = match route(prefix, topic) {
        Route::Input(device, kind) => (device, Some(kind)),
        Route::UnknownKind(device) => (device, None),
        Route::Output => {
            return Input::Output {
                topic: topic.to_string(),
            }
        }
        Route::Invalid(reason) => {
            return Input::Invalid {
                topic: topic.to_string(),
                reason,
            }
        }
    };
    let read = match kind {
        Some(kind) => parse_event(kind, payload, max_payload_bytes),
        None => Err(InputError::new(
            ErrorCode::UnknownKind,
            format!(
                "`{}` is not an input kind",
                topic.rsplit('/').next().unwrap_or("")
            ),
        )),
    };
    let (device, topic) = (device.to_string(), topic.to_string());
    match read {
        Ok(event) => Input::Event {
            device,
            topic,
            event,
        },
        Err(error) => Input::Malformed {
            device,
            topic,
            kind,
            error,
        },
    }
}

/// The largest `route` payload, bytes (SPEC: 512 KiB, whatever the limit of
/// other payloads).
pub const MAX_ROUTE_BYTES: usize = 512 * 1024;

/// Reads a payload of `kind`; `max_bytes` is the size limit (a `route` has
/// its own, [`MAX_ROUTE_BYTES`]).
pub fn parse_event(kind: Kind, payload: &[u8], max_bytes: usize) -> Result<Event, InputError> {
    let max_bytes = if kind == Kind::Route {
        MAX_ROUTE_BYTES
    } else {
        max_bytes
    };
    if payload.len() > max_bytes {
        return Err(InputError::new(
            ErrorCode::TooLarge,
            format!(
                "payload of {} bytes is over the {max_bytes}-byte limit",
                payload.len()
            ),
        ));
    }
    match kind {
        Kind::Forget => return Ok(Event::Forget),
        Kind::Export => return Ok(Event::Export),
        Kind::Profile if payload.iter().all(u8::is_ascii_whitespace) => {
            return Ok(Event::Profile(None))
        }
        _ => {}
    }
    let value: Value = serde_json::from_slice(payload)
        .map_err(|e| InputError::new(ErrorCode::NotJson, format!("payload is not JSON: {e}")))?;
    let Value::Object(object) = value else {
        return Err(InputError::new(
            ErrorCode::WrongType,
            "payload is not a JSON object",
        ));
    };
    let fields = Fields(&object);
    // Any kind may carry a `mid` (SPEC: Delivery); a malformed one is refused
    // rather than silently read as none.
    if let Some(mid) = fields.string("mid")? {
        if mid.chars().count() > crate::delivery::MID_MAX_CHARS {
            return Err(out_of_range("mid", "at most 64 characters"));
        }
    }
    Ok(match kind {
        Kind::Position => Event::Position(position(&fields)?),
        Kind::Context => Event::Context(context(&fields)?),
        Kind::Ask => Event::Ask(context(&fields)?),
        Kind::Profile => Event::Profile(Some(profile(&fields)?)),
        Kind::Feedback => Event::Feedback(feedback(&fields)?),
        Kind::Forget => Event::Forget,
        Kind::Route => Event::Route(planned_route(&fields)?),
        Kind::Export => Event::Export,
    })
}

/// Typed access to an object's fields with SPEC's error codes; `null` counts as absent.
struct Fields<'a>(&'a Map<String, Value>);

fn wrong_type(key: &str, what: &str) -> InputError {
    InputError::new(ErrorCode::WrongType, format!("`{key}` must be {what}"))
}

fn out_of_range(key: &str, what: &str) -> InputError {
    InputError::new(ErrorCode::OutOfRange, format!("`{key}` must be {what}"))
}

impl Fields<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    fn number(&self, key: &str) -> Result<Option<f64>, InputError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|n| n.is_finite())
                .map(Some)
                .ok_or_else(|| wrong_type(key, "a number")),
        }
    }

    fn required_number(&self, key: &str) -> Result<f64, InputError> {
        self.number(key)?
            .ok_or_else(|| InputError::new(ErrorCode::MissingField, format!("`{key}` is required")))
    }

    fn boolean(&self, key: &str) -> Result<Option<bool>, InputError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| wrong_type(key, "true or false")),
        }
    }

    fn string(&self, key: &str) -> Result<Option<&str>, InputError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .map(Some)
                .ok_or_else(|| wrong_type(key, "a string")),
        }
    }

    /// A whole number of minutes where SPEC floors small values without error:
    /// anything below 0 reads as 0 (the floor of 10 applies later), anything
    /// beyond a year as a year.
    fn minutes(&self, key: &str) -> Result<Option<u32>, InputError> {
        const YEAR_MIN: i64 = 60 * 24 * 366;
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(v), _, _) => Ok(Some(v.clamp(0, YEAR_MIN) as u32)),
                (None, Some(_), _) => Ok(Some(YEAR_MIN as u32)),
                (None, None, Some(f)) if f.fract() == 0.0 => {
                    Ok(Some(f.clamp(0.0, YEAR_MIN as f64) as u32))
                }
                _ => Err(out_of_range(key, "a whole number of minutes")),
            },
            Some(_) => Err(wrong_type(key, "a whole number")),
        }
    }

    fn count(&self, key: &str, max: u64) -> Result<Option<u32>, InputError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(v), _, _) if v <= max => Ok(Some(v as u32)),
                (Some(_), _, _) | (None, Some(_), _) => Err(out_of_range(
                    key,
                    &format!("a whole number from 0 to {max}"),
                )),
                (None, None, Some(f)) if f.fract() == 0.0 && (0.0..=max as f64).contains(&f) => {
                    Ok(Some(f as u32))
                }
                _ => Err(out_of_range(
                    key,
                    &format!("a whole number from 0 to {max}"),
                )),
            },
            Some(_) => Err(wrong_type(key, "a whole number")),
        }
    }

    fn strings(&self, key: &str) -> Result<Vec<String>, InputError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| wrong_type(key, "a list of strings"))
                })
                .collect(),
            Some(_) => Err(wrong_type(key, "a list of strings")),
        }
    }

    fn change<T>(
        &self,
        key: &str,
        read: impl FnOnce(&Value) -> Result<T, InputError>,
    ) -> Result<Change<T>, InputError> {
        match self.0.get(key) {
            None => Ok(Change::Keep),
            Some(Value::Null) => Ok(Change::Clear),
            Some(v) => read(v).map(Change::Set),
        }
    }
}

/// Reads a position payload that is already a JSON object (as an edge that
/// translates another app's format, e.g. OwnTracks, builds one), with the
/// same checks and errors as a `position` input.
pub fn position_report(object: &Map<String, Value>) -> Result<PositionReport, InputError> {
    position(&Fields(object))
}

fn position(f: &Fields) -> Result<PositionReport, InputError> {
    let lat = f.required_number("lat")?;
    let lon = f.required_number("lon")?;
    if !(-90.0..=90.0).contains(&lat) {
        return Err(out_of_range("lat", "between -90 and 90"));
    }
    if !(-180.0..=180.0).contains(&lon) {
        return Err(out_of_range("lon", "between -180 and 180"));
    }
    let heading = f.number("heading")?;
    if heading.is_some_and(|h| !(0.0..360.0).contains(&h)) {
        return Err(out_of_range("heading", "in [0, 360)"));
    }
    let speed = f.number("speed")?.unwrap_or(0.0);
    if speed < 0.0 {
        return Err(out_of_range("speed", "0 or more metres per second"));
    }
    let accuracy = f.number("accuracy")?;
    if accuracy.is_some_and(|a| a < 0.0) {
        return Err(out_of_range("accuracy", "0 or more metres"));
    }
    let ts = match f.string("ts")? {
        None => None,
        Some(text) => Some(
            DateTime::parse_from_rfc3339(text)
                .map_err(|_| out_of_range("ts", "an RFC 3339 date-time"))?
                .to_utc(),
        ),
    };
    Ok(PositionReport {
        location: LatLon::new(lat, lon),
        heading,
        speed,
        accuracy,
        ts,
    })
}

fn context(f: &Fields) -> Result<ContextUpdate, InputError> {
    Ok(ContextUpdate {
        hungry: f.change("hungry", |v| {
            v.as_bool()
                .ok_or_else(|| wrong_type("hungry", "true or false"))
        })?,
        trip: f.change("trip", |v| {
            let word = v.as_str().ok_or_else(|| wrong_type("trip", "a string"))?;
            Trip::parse(word)
                .ok_or_else(|| out_of_range("trip", "one of vacation, commute, business, errand"))
        })?,
        // `change` tells absent and null apart; `count` reads and checks the value.
        party: f.change("party", |_| match f.count("party", 1000)? {
            Some(0) | None => Err(out_of_range("party", "a whole number from 1 to 1000")),
            Some(n) => Ok(n),
        })?,
    })
}

fn tag_patterns(f: &Fields, key: &str) -> Result<Vec<TagPattern>, InputError> {
    f.strings(key)?
        .into_iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => Ok(TagPattern {
                key: k.trim().to_string(),
                value: v.trim().to_string(),
            }),
            _ => Err(out_of_range(key, "OSM tags written key=value")),
        })
        .collect()
}

fn quiet_hours(text: &str) -> Option<QuietHours> {
    let (start, end) = text.split_once('-')?;
    let read = |s: &str| {
        let s = s.trim();
        (s.len() == 5).then_some(())?;
        NaiveTime::parse_from_str(s, "%H:%M").ok()
    };
    Some(QuietHours {
        start: read(start)?,
        end: read(end)?,
    })
}

fn profile(f: &Fields) -> Result<Profile, InputError> {
    let lang = match f.string("lang")? {
        None => Lang::default(),
        Some("en") => Lang::En,
        Some("fr") => Lang::Fr,
        Some(_) => return Err(out_of_range("lang", "\"fr\" or \"en\"")),
    };
    let quiet = match f.string("quiet_hours")? {
        None => None,
        Some(text) => {
            Some(quiet_hours(text).ok_or_else(|| out_of_range("quiet_hours", "HH:MM-HH:MM"))?)
        }
    };
    Ok(Profile {
        consent: f.boolean("consent")?.unwrap_or(false),
        diet: f.strings("diet")?,
        likes: tag_patterns(f, "likes")?,
        dislikes: tag_patterns(f, "dislikes")?,
        lang,
        quiet_hours: quiet,
        min_gap_min: f.minutes("min_gap_min")?,
        max_per_day: f.count("max_per_day", 10_000)?,
        learn: f.boolean("learn")?.unwrap_or(true),
    })
}

/// A planned route: `{"polyline", "precision"?}` (the encoded polyline of
/// Google, OSRM and Valhalla, precision 5 or 6) or `{"geometry": LineString}`;
/// `{}` clears it.
fn planned_route(f: &Fields) -> Result<Option<Vec<LatLon>>, InputError> {
    let polyline = f.string("polyline")?;
    let geometry = f.get("geometry");
    if polyline.is_none() && geometry.is_none() {
        if f.0.keys().all(|k| k == "mid") {
            return Ok(None);
        }
        return Err(InputError::new(
            ErrorCode::MissingField,
            "`polyline` or `geometry` is required (`{}` clears the route)",
        ));
    }
    let points = match (polyline, geometry) {
        (Some(_), Some(_)) => {
            return Err(out_of_range(
                "polyline",
                "given alone: a route has `polyline` or `geometry`, not both",
            ))
        }
        (Some(text), None) => {
            let precision = match f.count("precision", u64::from(u32::MAX))? {
                None => 5,
                Some(p @ (5 | 6)) => p,
                Some(_) => return Err(out_of_range("precision", "5 or 6")),
            };
            let line = polyline::decode_polyline(text, precision)
                .map_err(|e| out_of_range("polyline", &format!("an encoded polyline ({e})")))?;
            line.0
                .iter()
                .map(|c| LatLon::new(c.y, c.x))
                .collect::<Vec<_>>()
        }
        (None, Some(geometry)) => line_string(geometry)?,
        (None, None) => unreachable!("handled above"),
    };
    if !(2..=crate::route::MAX_POINTS).contains(&points.len()) {
        return Err(out_of_range(
            "polyline",
            &format!(
                "a route of 2 to {} points, not {}",
                crate::route::MAX_POINTS,
                points.len()
            ),
        ));
    }
    if let Some(bad) = points.iter().find(|p| !p.is_valid()) {
        return Err(out_of_range(
            "polyline",
            &format!(
                "points with lat in [-90, 90] and lon in [-180, 180], not {}, {}",
                bad.lat, bad.lon
            ),
        ));
    }
    Ok(Some(points))
}

/// The points of a GeoJSON LineString (`[lon, lat]` pairs, an altitude ignored).
fn line_string(geometry: &Value) -> Result<Vec<LatLon>, InputError> {
    let Value::Object(object) = geometry else {
        return Err(wrong_type("geometry", "a GeoJSON LineString object"));
    };
    if object.get("type").and_then(Value::as_str) != Some("LineString") {
        return Err(out_of_range("geometry", "a GeoJSON LineString"));
    }
    let Some(Value::Array(coordinates)) = object.get("coordinates") else {
        return Err(out_of_range("geometry", "a LineString with `coordinates`"));
    };
    coordinates
        .iter()
        .map(|c| match c.as_array().map(Vec::as_slice) {
            Some([lon, lat, ..]) => match (lon.as_f64(), lat.as_f64()) {
                (Some(lon), Some(lat)) => Ok(LatLon::new(lat, lon)),
                _ => Err(out_of_range("geometry", "coordinates of numbers")),
            },
            _ => Err(out_of_range("geometry", "coordinates of [lon, lat] pairs")),
        })
        .collect()
}

fn feedback(f: &Fields) -> Result<Feedback, InputError> {
    let action = match f.string("action")? {
        None => {
            return Err(InputError::new(
                ErrorCode::MissingField,
                "`action` is required",
            ))
        }
        Some("accepted") => Action::Accepted,
        Some("dismissed") => Action::Dismissed,
        Some("block_merchant") => Action::BlockMerchant,
        Some(_) => {
            return Err(out_of_range(
                "action",
                "one of accepted, dismissed, block_merchant",
            ))
        }
    };
    let suggestion = f.string("suggestion")?.map(str::to_string);
    let merchant = f.string("merchant")?.map(str::to_string);
    let offer = f.string("offer")?.map(str::to_string);
    if suggestion.is_none() && merchant.is_none() {
        return Err(InputError::new(
            ErrorCode::MissingField,
            "`suggestion` or `merchant` is required",
        ));
    }
    Ok(Feedback {
        suggestion,
        merchant,
        offer,
        action,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(kind: Kind, payload: &str) -> ErrorCode {
        parse_event(kind, payload.as_bytes(), 65_536)
            .unwrap_err()
            .code
    }

    #[test]
    fn topics_route_to_devices_and_kinds() {
        assert_eq!(
            route("kairos", "kairos/car-42/position"),
            Route::Input("car-42", Kind::Position)
        );
        assert_eq!(
            route("kairos", "kairos/car-42/teleport"),
            Route::UnknownKind("car-42")
        );
        assert_eq!(
            route("kairos", "kairos/car 42/position"),
            Route::Invalid("not a valid device id")
        );
        assert_eq!(
            route("kairos", "other/car/position"),
            Route::Invalid("outside the topic prefix")
        );
        assert_eq!(route("kairos", "kairos/car/suggestion"), Route::Output);
        assert_eq!(route("kairos", "kairos/car/data"), Route::Output);
        assert_eq!(
            route("kairos", "kairos/car/export"),
            Route::Input("car", Kind::Export)
        );
        let long = format!("kairos/{}/position", "a".repeat(65));
        assert!(matches!(route("kairos", &long), Route::Invalid(_)));
    }

    #[test]
    fn each_malformed_payload_gets_its_code() {
        assert_eq!(code(Kind::Position, "{lat"), ErrorCode::NotJson);
        assert_eq!(code(Kind::Position, "[1,2]"), ErrorCode::WrongType);
        assert_eq!(
            code(Kind::Position, r#"{"lat": "45", "lon": 6}"#),
            ErrorCode::WrongType
        );
        assert_eq!(
            code(Kind::Position, r#"{"lat": 95, "lon": 6}"#),
            ErrorCode::OutOfRange
        );
        assert_eq!(
            code(Kind::Position, r#"{"lon": 6}"#),
            ErrorCode::MissingField
        );
        assert_eq!(
            code(Kind::Position, r#"{"lat": 45, "lon": 6, "heading": 360}"#),
            ErrorCode::OutOfRange
        );
        assert_eq!(
            code(Kind::Position, r#"{"lat": 45, "lon": 6, "speed": -1}"#),
            ErrorCode::OutOfRange
        );
        assert_eq!(
            code(Kind::Context, r#"{"trip": "space"}"#),
            ErrorCode::OutOfRange
        );
        assert_eq!(
            code(Kind::Context, r#"{"hungry": "yes"}"#),
            ErrorCode::WrongType
        );
        assert_eq!(
            code(Kind::Profile, r#"{"consent": true, "lang": "de"}"#),
            ErrorCode::OutOfRange
        );
        assert_eq!(
            code(Kind::Profile, r#"{"consent": true, "quiet_hours": "late"}"#),
            ErrorCode::OutOfRange
        );
        assert_eq!(
            code(Kind::Feedback, r#"{"merchant": "m"}"#),
            ErrorCode::MissingField
        );
        let big = format!(r#"{{"x": "{}"}}"#, "a".repeat(70_000));
        assert_eq!(code(Kind::Context, &big), ErrorCode::TooLarge);
    }

    #[test]
    fn an_empty_profile_means_no_profile_and_null_clears_a_context_field() {
        assert_eq!(
            parse_event(Kind::Profile, b"", 10).unwrap(),
            Event::Profile(None)
        );
        let Event::Context(update) =
            parse_event(Kind::Context, br#"{"hungry": null}"#, 100).unwrap()
        else {
            panic!("not a context")
        };
        assert_eq!(update.hungry, Change::Clear);
        assert_eq!(update.trip, Change::Keep);
    }
}

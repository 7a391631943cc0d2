//! OwnTracks at the MQTT edge: the OwnTracks phone app publishes its location
//! on `owntracks/{user}/{device}` (`_type: location`, `lat`, `lon`, `tst` in
//! Unix seconds, `vel` in km/h, `cog` in degrees, `acc` in metres). The edge
//! turns each into a kairos position of device `{user}-{device}`, so the phone
//! needs nothing but OwnTracks (plus a kairos profile with consent, published
//! on `{prefix}/{user}-{device}/profile`).
//!
//! Only the translation lives here; checking values is the engine's job: a
//! field of the wrong type is passed on as it is and answered like any bad
//! position. Other OwnTracks messages (waypoints, transitions, cards) are not
//! positions and are ignored.

use serde_json::{Map, Value};

/// The topic filter OwnTracks publishes on.
pub const FILTER: &str = "owntracks/+/+";

/// The kairos topic and payload for an OwnTracks message, or `None` when it is
/// not an OwnTracks location.
pub fn to_position(prefix: &str, topic: &str, payload: &[u8]) -> Option<(String, Vec<u8>)> {
    let mut parts = topic.split('/');
    let (Some("owntracks"), Some(user), Some(device), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let Ok(Value::Object(message)) = serde_json::from_slice::<Value>(payload) else {
        return None;
    };
    if message.get("_type").and_then(Value::as_str) != Some("location") {
        return None;
    }
    let mut position = Map::new();
    for (from, to) in [
        ("lat", "lat"),
        ("lon", "lon"),
        ("cog", "heading"),
        ("acc", "accuracy"),
    ] {
        if let Some(value) = message.get(from) {
            position.insert(to.into(), value.clone());
        }
    }
    if let Some(vel) = message.get("vel") {
        let speed = match vel.as_f64() {
            // km/h to m/s.
            Some(kmh) => serde_json::Number::from_f64(kmh / 3.6).map_or(Value::Null, Value::Number),
            None => vel.clone(),
        };
        position.insert("speed".into(), speed);
    }
    if let Some(tst) = message.get("tst") {
        let ts = tst
            .as_i64()
            .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
            .map_or_else(|| tst.clone(), |t| Value::String(t.to_rfc3339()));
        position.insert("ts".into(), ts);
    }
    let payload = serde_json::to_vec(&Value::Object(position)).ok()?;
    Some((format!("{prefix}/{user}-{device}/position"), payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owntracks_location_becomes_a_position_of_user_dash_device() {
        let payload = br#"{"_type":"location","lat":45.9,"lon":6.13,"tst":1784116800,"vel":90,"cog":150,"acc":12,"tid":"ph"}"#;
        let (topic, position) = to_position("kairos", "owntracks/anna/phone", payload).unwrap();
        assert_eq!(topic, "kairos/anna-phone/position");
        let position: Value = serde_json::from_slice(&position).unwrap();
        assert_eq!(position["lat"], 45.9);
        assert_eq!(position["lon"], 6.13);
        assert_eq!(position["speed"], 25.0);
        assert_eq!(position["heading"], 150);
        assert_eq!(position["accuracy"], 12);
        assert_eq!(position["ts"], "2026-07-15T12:00:00+00:00");
        assert!(position.get("tid").is_none());
    }

    #[test]
    fn other_owntracks_messages_and_topics_are_not_positions() {
        let waypoint = br#"{"_type":"waypoint","lat":1,"lon":2}"#;
        assert!(to_position("kairos", "owntracks/anna/phone", waypoint).is_none());
        let location = br#"{"_type":"location","lat":1,"lon":2}"#;
        assert!(to_position("kairos", "owntracks/anna/phone/event", location).is_none());
        assert!(to_position("kairos", "kairos/anna/position", location).is_none());
        assert!(to_position("kairos", "owntracks/anna/phone", b"not json").is_none());
    }

    #[test]
    fn a_bad_field_is_passed_on_for_the_engine_to_answer() {
        let payload = br#"{"_type":"location","lat":"north","lon":2,"vel":"fast"}"#;
        let (_, position) = to_position("kairos", "owntracks/anna/phone", payload).unwrap();
        let position: Value = serde_json::from_slice(&position).unwrap();
        assert_eq!(position["lat"], "north");
        assert_eq!(position["speed"], "fast");
    }
}

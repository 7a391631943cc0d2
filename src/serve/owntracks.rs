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

use kairos_core::input::{
    is_valid_device, position_report, ErrorCode, Event, Input, InputError, Kind,
};
use serde_json::{Map, Value};

/// The topic filter OwnTracks publishes on.
pub const FILTER: &str = "owntracks/+/+";

/// The kairos position input for an OwnTracks message (checked like any
/// `position`: a bad field is a [`Input::Malformed`] the engine answers), or
/// `None` when it is not an OwnTracks location.
pub fn to_input(
    prefix: &str,
    topic: &str,
    payload: &[u8],
    max_payload_bytes: usize,
) -> Option<Input> {
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
    let device = format!("{user}-{device}");
    let topic = format!("{prefix}/{device}/position");
    if !is_valid_device(&device) {
        return Some(Input::Invalid {
            topic,
            reason: "not a valid device id",
        });
    }
    let read = if payload.len() > max_payload_bytes {
        Err(InputError::new(
            ErrorCode::TooLarge,
            format!(
                "payload of {} bytes is over the {max_payload_bytes}-byte limit",
                payload.len()
            ),
        ))
    } else {
        position_report(&as_position(&message))
    };
    Some(match read {
        Ok(report) => Input::Event {
            device,
            topic,
            event: Event::Position(report),
        },
        Err(error) => Input::Malformed {
            device,
            topic,
            kind: Some(Kind::Position),
            error,
        },
    })
}

/// An OwnTracks location's fields under kairos's position names (vel km/h →
/// speed m/s, cog → heading, acc → accuracy, tst → ts); values of the wrong
/// type are passed on as they are, for the position checks to refuse.
fn as_position(message: &Map<String, Value>) -> Map<String, Value> {
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
    position
}

#[cfg(test)]
mod tests {
    use super::*;
    use kairos_core::geodesy::LatLon;

    const LIMIT: usize = 65_536;

    fn input(topic: &str, payload: &[u8]) -> Option<Input> {
        to_input("kairos", topic, payload, LIMIT)
    }

    #[test]
    fn an_owntracks_location_becomes_a_position_of_user_dash_device() {
        let payload = br#"{"_type":"location","lat":45.9,"lon":6.13,"tst":1784116800,"vel":90,"cog":150,"acc":12,"tid":"ph"}"#;
        let Some(Input::Event {
            device,
            topic,
            event: Event::Position(report),
        }) = input("owntracks/anna/phone", payload)
        else {
            panic!("not a position")
        };
        assert_eq!(device, "anna-phone");
        assert_eq!(topic, "kairos/anna-phone/position");
        assert_eq!(report.location, LatLon::new(45.9, 6.13));
        assert_eq!(report.speed, 25.0);
        assert_eq!(report.heading, Some(150.0));
        assert_eq!(report.accuracy, Some(12.0));
        assert_eq!(
            report.ts.map(|t| t.to_rfc3339()),
            Some("2026-07-15T12:00:00+00:00".to_string())
        );
    }

    #[test]
    fn other_owntracks_messages_and_topics_are_not_positions() {
        let waypoint = br#"{"_type":"waypoint","lat":1,"lon":2}"#;
        assert!(input("owntracks/anna/phone", waypoint).is_none());
        let location = br#"{"_type":"location","lat":1,"lon":2}"#;
        assert!(input("owntracks/anna/phone/event", location).is_none());
        assert!(input("kairos/anna/position", location).is_none());
        assert!(input("owntracks/anna/phone", b"not json").is_none());
    }

    #[test]
    fn a_bad_field_is_an_error_the_engine_answers() {
        let payload = br#"{"_type":"location","lat":"north","lon":2,"vel":"fast"}"#;
        let Some(Input::Malformed { device, error, .. }) = input("owntracks/anna/phone", payload)
        else {
            panic!("not malformed")
        };
        assert_eq!(device, "anna-phone");
        assert_eq!(error.code, ErrorCode::WrongType);
    }

    #[test]
    fn a_user_and_device_that_make_no_valid_id_are_not_answered() {
        let location = br#"{"_type":"location","lat":1,"lon":2}"#;
        let topic = format!("owntracks/{}/phone", "u".repeat(64));
        assert!(matches!(
            input(&topic, location),
            Some(Input::Invalid { .. })
        ));
    }
}

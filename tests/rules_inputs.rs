//! Bad input (SPEC "Bad input", "Error codes"): every malformed input gets one
//! message on the device's `error` topic and leaves its state as it was; topics
//! that name no valid device are dropped without an answer.

mod support;

use support::engine;

use engine::*;
use kairos::output::{Body, Output};
use serde_json::json;

/// A device with a bit of everything: profile, context, position, one
/// suggestion (m1) and one dismissal (m3's place). Position events would not
/// suggest again (the gap), but an `ask` at [`T0`] + 1 min gives m2.
fn busy_device() -> Sim {
    let f = [
        museum("m1", 100.0),
        museum("m2", 200.0),
        museum("m3", 300.0),
    ];
    let mut sim = Sim::consenting(&f, json!({"lang": "fr", "likes": ["tourism=museum"]}));
    sim.context(
        json!({"hungry": true, "trip": "vacation", "party": 2}),
        &t(-30),
    );
    assert!(sim.still(&t(-10)).is_some());
    let fb = json!({"merchant": "m3", "offer": "place", "action": "dismissed"});
    assert!(sim.send("feedback", &fb, &t(-5)).is_empty());
    sim
}

/// Sends `payload` on `kind` and checks: one error with `code` on the error topic,
/// naming the input topic, and the device's state untouched.
fn refused(kind: &str, payload: &[u8], code: &str) {
    let mut sim = busy_device();
    let before = sim.state();
    let topic = sim.topic(kind);
    let out = sim.raw(&topic, payload, T0);
    let shown = String::from_utf8_lossy(payload);
    let published = publishes(&out);
    assert_eq!(published.len(), 1, "{kind} {shown}: one message: {out:?}");
    assert_eq!(published[0].topic, "kairos/car-42/error", "{kind} {shown}");
    let Body::Error(e) = &published[0].body else {
        panic!("{kind} {shown}: not an error: {out:?}")
    };
    assert_eq!(e.error, code, "{kind} {shown}: {}", e.detail);
    assert_eq!(e.topic, topic);
    assert!(!e.detail.is_empty());
    assert_eq!(sim.state(), before, "{kind} {shown}: state changed");
    // And the engine carries on as if nothing happened.
    let answer = sim.ask(json!({}), &tm(1));
    assert_eq!(merchant(&answer).as_deref(), Some("m2"), "{kind} {shown}");
}

#[test]
fn a_payload_that_is_not_json_is_not_json() {
    for kind in ["position", "context", "profile", "feedback", "ask"] {
        refused(kind, b"{lat", "not_json");
        refused(kind, b"hello", "not_json");
    }
}

#[test]
fn a_payload_over_64_kib_is_too_large() {
    let big = format!(r#"{{"hungry": true, "pad": "{}"}}"#, "x".repeat(65_536));
    for kind in [
        "position", "context", "profile", "feedback", "ask", "forget",
    ] {
        refused(kind, big.as_bytes(), "too_large");
    }
}

#[test]
fn a_payload_of_exactly_64_kib_is_accepted() {
    let mut sim = busy_device();
    let head = r#"{"hungry": true, "pad": ""#;
    let pad = "x".repeat(65_536 - head.len() - 2);
    let payload = format!("{head}{pad}\"}}");
    assert_eq!(payload.len(), 65_536);
    let topic = sim.topic("context");
    assert!(sim.raw(&topic, payload.as_bytes(), T0).is_empty());
}

#[test]
fn values_of_the_wrong_json_type_are_wrong_type() {
    let cases: &[(&str, &str)] = &[
        ("position", "[45, 6]"),
        ("position", r#"{"lat": "45", "lon": 6}"#),
        ("position", r#"{"lat": 45, "lon": 6, "speed": "fast"}"#),
        ("position", r#"{"lat": 45, "lon": 6, "heading": true}"#),
        ("position", r#"{"lat": 45, "lon": 6, "ts": 12}"#),
        ("context", r#"{"hungry": "yes"}"#),
        ("context", r#"{"trip": 3}"#),
        ("context", r#"{"party": "two"}"#),
        ("context", "42"),
        ("profile", r#"{"consent": "yes"}"#),
        ("profile", r#"{"consent": true, "diet": "vegan"}"#),
        ("profile", r#"{"consent": true, "likes": [1]}"#),
        ("profile", r#"{"consent": true, "min_gap_min": "10"}"#),
        ("feedback", r#"{"suggestion": 12, "action": "dismissed"}"#),
        ("feedback", r#"{"merchant": "m1", "action": 1}"#),
        ("ask", r#"{"hungry": "very"}"#),
    ];
    for (kind, payload) in cases {
        refused(kind, payload.as_bytes(), "wrong_type");
    }
}

#[test]
fn values_outside_their_range_are_out_of_range() {
    let cases: &[(&str, &str)] = &[
        ("position", r#"{"lat": 90.5, "lon": 6}"#),
        ("position", r#"{"lat": -91, "lon": 6}"#),
        ("position", r#"{"lat": 45, "lon": 180.5}"#),
        ("position", r#"{"lat": 45, "lon": 6, "heading": 360}"#),
        ("position", r#"{"lat": 45, "lon": 6, "heading": -1}"#),
        ("position", r#"{"lat": 45, "lon": 6, "speed": -0.5}"#),
        ("position", r#"{"lat": 45, "lon": 6, "accuracy": -3}"#),
        ("context", r#"{"trip": "space"}"#),
        ("context", r#"{"party": 0}"#),
        ("context", r#"{"party": -2}"#),
        ("profile", r#"{"consent": true, "lang": "de"}"#),
        ("profile", r#"{"consent": true, "quiet_hours": "late"}"#),
        (
            "profile",
            r#"{"consent": true, "quiet_hours": "25:00-07:00"}"#,
        ),
        ("profile", r#"{"consent": true, "likes": ["italian"]}"#),
        ("profile", r#"{"consent": true, "max_per_day": -1}"#),
        ("feedback", r#"{"merchant": "m1", "action": "loved"}"#),
        ("ask", r#"{"trip": "moon"}"#),
    ];
    for (kind, payload) in cases {
        refused(kind, payload.as_bytes(), "out_of_range");
    }
}

#[test]
fn a_ts_that_is_no_date_is_refused() {
    // SPEC names no code for an unreadable date string; kairos says out_of_range.
    refused(
        "position",
        br#"{"lat": 45, "lon": 6, "ts": "yesterday"}"#,
        "out_of_range",
    );
}

#[test]
fn a_missing_required_field_is_missing_field() {
    let cases: &[(&str, &str)] = &[
        ("position", r#"{"lon": 6}"#),
        ("position", r#"{"lat": 45}"#),
        ("position", "{}"),
        ("feedback", r#"{"merchant": "m1"}"#),
        ("feedback", r#"{"action": "dismissed"}"#),
        ("feedback", r#"{"offer": "place", "action": "dismissed"}"#),
    ];
    for (kind, payload) in cases {
        refused(kind, payload.as_bytes(), "missing_field");
    }
}

#[test]
fn a_topic_naming_no_input_kind_is_unknown_kind() {
    for kind in ["teleport", "Position", "positions", ""] {
        refused(kind, br#"{"lat": 45, "lon": 6}"#, "unknown_kind");
    }
}

#[test]
fn feedback_on_a_suggestion_never_made_is_unknown_suggestion() {
    refused(
        "feedback",
        br#"{"suggestion": "s-nope", "action": "dismissed"}"#,
        "unknown_suggestion",
    );
}

#[test]
fn a_bad_context_field_discards_the_whole_update() {
    let mut sim = Sim::consenting(&[restaurant("r", 300.0, json!({}))], json!({}));
    let out = sim.send("context", &json!({"hungry": true, "party": 0}), &t(-30));
    assert_eq!(error_code(&out), Some("out_of_range"));
    assert!(sim.still(T0).is_none(), "hungry was not taken");
}

#[test]
fn a_bad_ask_merges_nothing_and_answers_only_the_error() {
    let mut sim = Sim::consenting(&[restaurant("r", 300.0, json!({}))], json!({}));
    sim.at(ANNECY, json!({}), &t(-60));
    let out = sim.ask(json!({"hungry": true, "trip": "moon"}), &t(-30));
    assert_eq!(error_code(&out), Some("out_of_range"));
    assert!(sim.still(T0).is_none(), "hungry was not taken");
}

#[test]
fn a_bad_profile_leaves_the_previous_profile_in_place() {
    let mut sim = Sim::consenting(&[museum("m", 300.0)], json!({"lang": "fr"}));
    let out = sim.send("profile", &json!({"consent": false, "lang": "de"}), &t(-30));
    assert_eq!(error_code(&out), Some("out_of_range"));
    assert_eq!(sim.still(T0).unwrap().lang, "fr");
}

#[test]
fn a_device_sending_too_fast_is_rate_limited_once_per_burst() {
    let mut sim = busy_device();
    let ctx = json!({"party": 2});
    let mut codes = Vec::new();
    for _ in 0..70 {
        codes.push(error_code(&sim.send("context", &ctx, T0)));
    }
    let limited = codes.iter().filter(|c| c.is_some()).count();
    assert_eq!(limited, 1, "one rate_limited error per burst: {codes:?}");
    assert!(codes.contains(&Some("rate_limited")));
    // A refused input changes nothing.
    let before = sim.state();
    let out = sim.send("profile", &json!({"consent": false}), T0);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(sim.state(), before);
}

#[test]
fn unknown_fields_are_ignored() {
    let mut sim = Sim::consenting(&[museum("m", 300.0)], json!({"favourite_colour": "blue"}));
    let out = sim.at(ANNECY, json!({"altitude": 450, "satellites": 9}), T0);
    assert!(suggestion(&out).is_some());
}

#[test]
fn null_optional_position_fields_count_as_absent() {
    let mut sim = Sim::consenting(&[museum("m", 300.0)], json!({}));
    let out = sim.at(ANNECY, json!({"heading": null, "speed": null}), T0);
    assert_eq!(expect_suggestion(&out, "nulls are absent").side, None);
}

#[test]
fn topics_naming_no_valid_device_are_dropped_without_an_answer() {
    let long = "a".repeat(65);
    let topics = [
        "kairos/car 42/position".to_string(),
        "kairos/car.42/position".to_string(),
        "kairos/voiture-é/position".to_string(),
        format!("kairos/{long}/position"),
        "kairos//position".to_string(),
        "kairos/car-42".to_string(),
        "other/car-42/position".to_string(),
        "kairosx/car-42/position".to_string(),
    ];
    let mut sim = busy_device();
    for topic in &topics {
        // Not JSON: a valid device would get a `not_json` error.
        let out = sim.raw(topic, b"{", T0);
        assert!(
            matches!(out.as_slice(), [Output::Dropped { .. }]),
            "{topic}: {out:?}"
        );
    }
}

#[test]
fn a_device_id_of_64_characters_is_valid() {
    let mut sim = Sim::consenting(&[museum("m", 300.0)], json!({}));
    sim.dev = "A-z_9".repeat(12) + "abcd";
    assert_eq!(sim.dev.len(), 64);
    sim.profile(json!({"consent": true}));
    assert!(sim.still(T0).is_some());
    let topic = sim.topic("position");
    assert_eq!(error_code(&sim.raw(&topic, b"{", &t(1))), Some("not_json"));
}

#[test]
fn kairos_own_outputs_are_not_inputs() {
    let mut sim = busy_device();
    for kind in ["suggestion", "error"] {
        let topic = sim.topic(kind);
        assert!(sim.raw(&topic, b"{}", T0).is_empty(), "{kind}");
    }
}

#[test]
fn errors_of_one_device_leave_other_devices_alone() {
    let mut sim = busy_device();
    sim.dev = "bob".into();
    let topic = sim.topic("position");
    assert_eq!(error_code(&sim.raw(&topic, b"{", T0)), Some("not_json"));
    sim.dev = DEV.into();
    assert_eq!(merchant(&sim.ask(json!({}), &tm(1))).as_deref(), Some("m2"));
}

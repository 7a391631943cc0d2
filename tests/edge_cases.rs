//! Edge cases found in review: exact ties, unusual trace bytes, stale-only
//! asks, floods of feedback and rate limiting under steady overload.

mod support;

use support::engine;

use engine::*;
use kairos::replay::replay;
use serde_json::json;

#[test]
fn merchants_at_the_same_published_distance_tie_by_id() {
    // Mirror images either side of a northbound car: the same whole-metre distance.
    let car = ANNECY;
    let ahead = dest(car, 0.0, 600.0);
    let left = dest(ahead, 270.0, 200.0);
    let right = dest(ahead, 90.0, 200.0);
    let museum = |name: &str| json!({"name": name, "tourism": "museum"});
    for (a_at, b_at) in [(left, right), (right, left)] {
        let mut sim = Sim::consenting(
            &[
                feature("museum-b", b_at, museum("B")),
                feature("museum-a", a_at, museum("A")),
            ],
            json!({}),
        );
        let out = sim.at(car, json!({"heading": 0, "speed": 10}), T0);
        let s = expect_suggestion(&out, "two museums ahead");
        assert_eq!(
            s.merchant.id, "museum-a",
            "ties go to the lower merchant id"
        );
    }
}

#[test]
fn a_negative_gap_is_accepted_without_error() {
    let mut sim = Sim::new(&[museum("m1", 300.0)]);
    let out = sim.send(
        "profile",
        &json!({"consent": true, "min_gap_min": -5}),
        &t(-60),
    );
    assert!(out.is_empty(), "no error: {out:?}");
    assert!(sim.still(T0).is_some());
}

#[test]
fn an_ask_after_only_stale_positions_says_the_position_is_stale() {
    let mut sim = Sim::consenting(&[museum("m1", 300.0)], json!({}));
    let stale_ts = "2026-07-15T13:55:00+02:00";
    let out = sim.at(ANNECY, json!({"ts": stale_ts}), T0);
    assert!(out.is_empty());
    assert_eq!(
        none_reason(&sim.ask(json!({}), &t(5))).as_deref(),
        Some("stale_position")
    );
    // Nothing at all, much later: no position.
    assert_eq!(
        none_reason(&sim.ask(json!({}), &tm(180))).as_deref(),
        Some("no_position")
    );
}

#[test]
fn feedback_cannot_grow_without_bound() {
    let mut sim = Sim::consenting(&[museum("m1", 300.0)], json!({}));
    for i in 0..kairos::feedback::MAX_REFUSALS {
        let at = t(i as i64);
        let out = sim.send(
            "feedback",
            &json!({"merchant": format!("x{i}"), "action": "block_merchant"}),
            &at,
        );
        assert!(out.is_empty(), "{i}: {out:?}");
    }
    let out = sim.send(
        "feedback",
        &json!({"merchant": "one-more", "action": "block_merchant"}),
        &t(2_000),
    );
    assert_eq!(error_code(&out), Some("out_of_range"));
    assert!(sim.still(&t(2_001)).is_some(), "m1 was never blocked");
}

#[test]
fn steady_overload_gets_one_rate_limited_error_per_spell() {
    let mut sim = Sim::new(&[museum("m1", 300.0)]);
    let mut errors = 0;
    // 20 inputs a second for 20 s against 10/s with a burst of 60.
    for i in 0..400 {
        let at = kairos::Stamp::parse(T0).unwrap().time + chrono::Duration::milliseconds(50 * i);
        let at = kairos::Stamp::from_utc(at);
        let out = sim.raw(&sim.topic("context"), br#"{"hungry": true}"#, &at.text);
        errors += usize::from(error_code(&out) == Some("rate_limited"));
    }
    assert_eq!(errors, 1);
}

fn replay_bytes(trace: &[u8]) -> (String, String) {
    let mut engine = engine(&[museum("m1", 300.0)]);
    let (mut out, mut log) = (Vec::new(), Vec::new());
    replay(&mut engine, trace, &mut out, &mut log).expect("in-memory replay");
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(log).unwrap(),
    )
}

#[test]
fn a_null_payload_is_an_error_not_an_empty_profile() {
    let trace = format!(
        "{}\n{}\n{}\n",
        json!({"at": t(-60), "topic": "kairos/car-42/profile", "payload": {"consent": true}}),
        json!({"at": t(-30), "topic": "kairos/car-42/profile", "payload": null}),
        json!({"at": T0, "topic": "kairos/car-42/position", "payload": {"lat": ANNECY.0, "lon": ANNECY.1}}),
    );
    let (out, _) = replay_bytes(trace.as_bytes());
    assert!(out.contains("\"error\":\"wrong_type\""), "{out}");
    assert!(out.contains("/suggestion"), "the profile was kept: {out}");
}

#[test]
fn a_line_that_is_not_utf8_is_skipped_and_the_replay_goes_on() {
    let mut trace = Vec::new();
    trace.extend_from_slice(b"\xEF\xBB\xBF");
    trace.extend_from_slice(
        json!({"at": t(-60), "topic": "kairos/car-42/profile", "payload": {"consent": true}})
            .to_string()
            .as_bytes(),
    );
    trace.extend_from_slice(b"\n{\"at\": \"2026-07-15T13:59:30+02:00\", \"topic\": \"kairos/car-42/context\", \"payload_raw\": \"caf\xe9\"}\n");
    trace.extend_from_slice(json!({"at": T0, "topic": "kairos/car-42/position", "payload": {"lat": ANNECY.0, "lon": ANNECY.1}}).to_string().as_bytes());
    let (out, log) = replay_bytes(&trace);
    assert!(log.contains("trace line 2: not UTF-8; skipped"), "{log}");
    assert!(
        out.contains("/suggestion"),
        "the BOM'd first line and the last both count: {out}"
    );
}

#[test]
fn an_offer_file_with_a_byte_order_mark_loads() {
    let text = format!("\u{feff}{}", offer_file(&[museum("m1", 300.0)]));
    let mut loader = kairos::offers::Loader::new();
    loader
        .load_text(std::path::Path::new("bom.geojson"), &text)
        .expect("a BOM is not an error");
    assert_eq!(loader.finish().0.len(), 1);
}

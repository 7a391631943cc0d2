//! SPEC "Remembered tastes, and what kairos holds": after a real drive (the
//! bundled demo car, with feedback on every suggestion and a few asks), an
//! `export` lists exactly what the rules used: the profile and context as
//! they were set, every suggestion made with the feedback given on it, the
//! offers dismissed, the tastes that feedback taught (counted here from the
//! merchants' tags), and whether a position is held, never the position.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use kairos::output::{Body, Output};
use kairos::{Engine, EngineConfig, Stamp};
use serde_json::{json, Value};

fn step(engine: &mut Engine, at: &str, topic: &str, payload: &[u8]) -> Vec<Output> {
    let input = engine.read(topic, payload);
    engine.step(&input, &Stamp::parse(at).unwrap())
}

/// `at` plus `seconds`, written as the trace writes it.
fn later(at: &str, seconds: i64) -> String {
    let t = chrono::DateTime::parse_from_rfc3339(at).unwrap() + chrono::TimeDelta::seconds(seconds);
    t.to_rfc3339()
}

#[test]
fn an_export_after_a_drive_lists_exactly_what_the_rules_used() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo");
    let (catalog, _) = kairos::offer_files::load_catalog(&[demo.join("offers.geojson")]).unwrap();
    let catalog = Arc::new(catalog);
    let mut engine = Engine::new(EngineConfig::default(), Arc::clone(&catalog));
    let trace = std::fs::read_to_string(demo.join("drive.jsonl")).unwrap();
    let mut made: Vec<Value> = Vec::new();
    let mut dismissed: Vec<Value> = Vec::new();
    let mut taught: BTreeMap<String, i64> = BTreeMap::new();
    let mut last_at = String::new();
    let mut profile = Value::Null;
    for (n, line) in trace.lines().enumerate() {
        let event = kairos::trace::parse_line(line).unwrap();
        let mut at = event.at.text.clone();
        let mut outputs = step(&mut engine, &at, &event.topic, &event.payload);
        if event.topic.ends_with("/profile") {
            profile = serde_json::from_slice(&event.payload).unwrap();
        }
        // Every fifth position, the person asks too (ask ignores the gap).
        if event.topic.ends_with("/position") && n % 5 == 0 && outputs.is_empty() {
            at = later(&at, 1);
            outputs = step(&mut engine, &at, "kairos/car-42/ask", b"{}");
        }
        for output in outputs {
            let Output::Publish(publish) = output else {
                continue;
            };
            let Body::Suggestion(s) = publish.body else {
                continue;
            };
            let action = if made.len().is_multiple_of(2) {
                "accepted"
            } else {
                "dismissed"
            };
            let merchant = catalog
                .merchants()
                .iter()
                .find(|m| *m.id == *s.merchant.id)
                .unwrap();
            for tag in kairos::tastes::taste_tags(merchant) {
                *taught.entry(tag).or_default() += if action == "accepted" { 1 } else { -1 };
            }
            if action == "dismissed" {
                dismissed.push(json!({"merchant": s.merchant.id, "offer": s.offer.id}));
            }
            made.push(json!({
                "id": s.id,
                "at": chrono::DateTime::parse_from_rfc3339(&s.at).unwrap().to_utc()
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                "merchant": s.merchant.id,
                "offer": s.offer.id,
                "feedback": action,
            }));
            let feedback = json!({"suggestion": s.id, "action": action}).to_string();
            at = later(&at, 1);
            assert!(step(
                &mut engine,
                &at,
                "kairos/car-42/feedback",
                feedback.as_bytes()
            )
            .is_empty());
        }
        last_at = at;
    }
    assert!(made.len() >= 2, "the drive makes suggestions: {made:?}");
    let at = later(&last_at, 5);
    let out = step(&mut engine, &at, "kairos/car-42/export", b"{}");
    let [Output::Publish(publish)] = out.as_slice() else {
        panic!("one output: {out:?}")
    };
    assert_eq!(publish.topic, "kairos/car-42/data");
    let data: Value = serde_json::from_slice(&publish.body.to_bytes()).unwrap();

    assert_eq!(data["suggestions"], Value::Array(made));
    dismissed.sort_by_key(|d| (d["merchant"].to_string(), d["offer"].to_string()));
    assert_eq!(data["dismissed"], Value::Array(dismissed));
    let taught: BTreeMap<String, Value> = taught
        .into_iter()
        .filter(|(_, n)| *n != 0)
        .map(|(tag, n)| (tag, json!(n.clamp(-5, 5))))
        .collect();
    assert_eq!(data["tastes"], json!(taught));
    for key in ["consent", "diet", "lang"] {
        assert_eq!(data["profile"][key], profile[key], "{key}");
    }
    assert_eq!(data["profile"]["learn"], json!(true));
    // Set at 13:59:50+02:00, in force for 2 h.
    assert_eq!(
        data["context"],
        json!({
            "hungry": {"value": true, "expires": "2026-07-15T13:59:50Z"},
            "trip": {"value": "vacation", "expires": "2026-07-15T13:59:50Z"},
        })
    );
    assert_eq!(data["blocked"], json!([]));
    assert_eq!(data["has_position"], json!(true));
    assert_eq!(data["has_route"], json!(false));
    let text = data.to_string();
    for held in ["lat", "lon", "heading", "speed"] {
        assert!(!text.contains(held), "no {held} in {text}");
    }
}

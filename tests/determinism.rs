//! Determinism (STYLE "Deterministic"): the same replay twice, and with the
//! merchants shuffled in the offer file, gives identical bytes.

mod support;

use support::engine;

use std::sync::Arc;

use engine::*;
use kairos::config::EngineConfig;
use kairos::Engine;
use serde_json::{json, Value};

/// Many merchants, several at the very same spot (ties broken by id), food and not.
fn merchants() -> Vec<Value> {
    let mut f = Vec::new();
    let spot = dest(ANNECY, 20.0, 700.0);
    for id in ["tie-c", "tie-a", "tie-b"] {
        f.push(feature(id, spot, json!({"tourism": "museum"})));
    }
    for i in 0..24 {
        let bearing = (i * 37 % 360) as f64;
        let distance = 150.0 + 90.0 * i as f64;
        let props = match i % 4 {
            0 => {
                json!({"amenity": "restaurant", "diet:vegan": "yes", "opening_hours": "Mo-Su 11:00-23:00"})
            }
            1 => json!({"amenity": "cafe", "cuisine": "coffee;cake"}),
            2 => json!({"tourism": "museum", "offers": [
                {"id": "b", "title": {"en": "B", "fr": "Bé"}, "audience": {"trip": ["vacation"]}},
                {"id": "a", "title": "A"}]}),
            _ => json!({"shop": "bakery", "name": format!("Bakery {i}")}),
        };
        f.push(place(&format!("m{i:02}"), bearing, distance, props));
    }
    f
}

/// A trace of several devices: profiles, contexts, moves, asks, feedback, errors, forget.
fn trace() -> String {
    let mut lines = Vec::new();
    let mut push = |secs: i64, topic: String, payload: Value| {
        lines.push(json!({"at": t(secs), "topic": topic, "payload": payload}).to_string());
    };
    for (n, dev) in ["alice", "bob", "chloe"].iter().enumerate() {
        let lang = if n == 1 { "fr" } else { "en" };
        push(
            -300,
            format!("kairos/{dev}/profile"),
            json!({
            "consent": true, "lang": lang, "diet": if n == 2 { json!(["vegetarian"]) } else { json!([]) },
            "likes": ["cuisine=cake"], "min_gap_min": 10, "max_per_day": 5}),
        );
        push(
            -200,
            format!("kairos/{dev}/context"),
            json!({"hungry": n != 0, "trip": "vacation"}),
        );
    }
    for step in 0..80_i64 {
        let secs = step * 60;
        for (n, dev) in ["alice", "bob", "chloe"].iter().enumerate() {
            let heading = (step * 13 + n as i64 * 90) % 360;
            let p = dest(ANNECY, heading as f64, 40.0 * step as f64);
            let payload = if n == 0 {
                json!({"lat": p.0, "lon": p.1})
            } else {
                json!({"lat": p.0, "lon": p.1, "heading": heading as f64, "speed": 3.0 + n as f64})
            };
            push(secs + n as i64, format!("kairos/{dev}/position"), payload);
        }
        if step % 17 == 5 {
            push(secs + 10, "kairos/bob/ask".into(), json!({"hungry": true}));
        }
        if step % 23 == 7 {
            push(
                secs + 11,
                "kairos/alice/feedback".into(),
                json!({"merchant": "m02", "action": "block_merchant"}),
            );
            push(
                secs + 12,
                "kairos/chloe/context".into(),
                json!({"party": 0}),
            );
            push(secs + 13, "kairos/bad device/position".into(), json!({}));
        }
    }
    push(90 * 60, "kairos/bob/forget".into(), json!({}));
    push(91 * 60, "kairos/bob/ask".into(), json!({}));
    lines.join("\n") + "\n"
}

fn replay(features: &[Value], trace: &str) -> Vec<u8> {
    let mut engine = Engine::new(EngineConfig::default(), Arc::new(catalog(features)));
    let mut out = Vec::new();
    let mut log = Vec::new();
    kairos::replay::replay(&mut engine, trace.as_bytes(), &mut out, &mut log).unwrap();
    out
}

#[test]
fn the_same_replay_twice_gives_identical_bytes() {
    let (f, tr) = (merchants(), trace());
    let first = replay(&f, &tr);
    let text = String::from_utf8(first.clone()).unwrap();
    assert!(
        text.matches("/suggestion").count() >= 5,
        "a trace worth comparing:\n{text}"
    );
    assert!(text.contains("/error"), "errors are part of the output");
    assert_eq!(first, replay(&f, &tr));
}

#[test]
fn shuffling_the_merchants_in_the_offer_file_changes_nothing() {
    let (f, tr) = (merchants(), trace());
    let reference = replay(&f, &tr);
    let mut reversed = f.clone();
    reversed.reverse();
    assert_eq!(reference, replay(&reversed, &tr));
    // A fixed permutation that scatters neighbours.
    let n = f.len();
    let scattered: Vec<Value> = (0..n).map(|i| f[(i * 7 + 3) % n].clone()).collect();
    assert_eq!(reference, replay(&scattered, &tr));
}

#[test]
fn splitting_merchants_across_two_catalog_loads_changes_nothing() {
    let (f, tr) = (merchants(), trace());
    let reference = replay(&f, &tr);
    let mut loader = kairos::offers::Loader::new();
    let (a, b) = f.split_at(f.len() / 2);
    loader
        .load_text(std::path::Path::new("b.geojson"), &offer_file(b))
        .unwrap();
    loader
        .load_text(std::path::Path::new("a.geojson"), &offer_file(a))
        .unwrap();
    let (merchants, _) = loader.finish();
    let mut engine = Engine::new(
        EngineConfig::default(),
        Arc::new(kairos::Catalog::new(merchants)),
    );
    let (mut out, mut log) = (Vec::new(), Vec::new());
    kairos::replay::replay(&mut engine, tr.as_bytes(), &mut out, &mut log).unwrap();
    assert_eq!(reference, out);
}

/// A file large enough to be built on several threads loads exactly as one
/// thread would: merchants in file order, the first of a duplicate id kept
/// (across the threads' parts too), every problem reported in file order.
#[test]
fn a_large_file_loads_as_in_file_order() {
    const N: usize = 30_000;
    let features: Vec<Value> = (0..N)
        .map(|i| {
            // The last 5,000 repeat the first ids; every 997th has no geometry.
            let id = format!("m{:05}", i % 25_000);
            let mut f = feature(
                &id,
                dest(ANNECY, (i % 360) as f64, 10.0 + i as f64),
                json!({"tourism": "museum"}),
            );
            if i.is_multiple_of(997) {
                f["geometry"] = Value::Null;
            }
            f
        })
        .collect();
    let mut loader = kairos::offers::Loader::new();
    loader
        .load_text(std::path::Path::new("big.geojson"), &offer_file(&features))
        .unwrap();
    let (merchants, problems) = loader.finish();

    let broken = |i: usize| i.is_multiple_of(997);
    let id = |i: usize| format!("m{:05}", i % 25_000);
    // A repeated id is kept when its first holder was skipped.
    let first_of_id = |i: usize| i < 25_000 || broken(i - 25_000);
    let kept: Vec<String> = (0..N)
        .filter(|&i| !broken(i) && first_of_id(i))
        .map(id)
        .collect();
    let loaded: Vec<String> = merchants.iter().map(|m| m.id.to_string()).collect();
    assert!(
        loaded == kept,
        "{} loaded, {} expected",
        loaded.len(),
        kept.len()
    );

    let mut expected = Vec::new();
    for i in 0..N {
        if broken(i) {
            expected.push((i, "skipped"));
        } else if !first_of_id(i) {
            expected.push((i, "duplicate"));
        }
    }
    let reported: Vec<(usize, &str)> = problems
        .iter()
        .map(|p| {
            let index = p.feature["features[".len()..].split(']').next().unwrap();
            let kind = if p.reason.contains("duplicate id") {
                "duplicate"
            } else {
                "skipped"
            };
            (index.parse().unwrap(), kind)
        })
        .collect();
    assert!(
        reported == expected,
        "{} problems, {} expected",
        reported.len(),
        expected.len()
    );
}

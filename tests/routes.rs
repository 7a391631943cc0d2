//! A planned route (SPEC "A planned route"), without roads: the corridor ahead,
//! the detour (twice the straight offset), its ranking, its messages, when a
//! route is in use, and the `route` input's errors.

mod support;

use support::engine;

use engine::*;
use kairos::explain::Verdict;
use kairos::rules::Rule;
use serde_json::{json, Value};

/// A route due north from Annecy, `km` long, a point every 250 m, as GeoJSON.
fn north_geometry(km: f64) -> Value {
    let points = (km * 4.0) as usize;
    let coordinates: Vec<Value> = (0..=points)
        .map(|i| {
            let (lat, lon) = dest(ANNECY, 0.0, i as f64 * 250.0);
            json!([lon, lat])
        })
        .collect();
    json!({"geometry": {"type": "LineString", "coordinates": coordinates}})
}

/// A museum `offset_m` east of the route, `along_m` up it.
fn beside(id: &str, along_m: f64, offset_m: f64) -> Value {
    let on_route = dest(ANNECY, 0.0, along_m);
    feature(
        id,
        dest(on_route, 90.0, offset_m),
        json!({"tourism": "museum", "name": id}),
    )
}

/// A device driving north at 14 m/s, with the route set and a first position
/// just after (which a gap of 10 min keeps quiet about nothing: it is the
/// first suggestion).
fn driving(features: &[Value]) -> Sim {
    let mut sim = Sim::consenting(features, json!({"lang": "en"}));
    let out = sim.send("route", &north_geometry(60.0), &t(-120));
    assert!(out.is_empty(), "{out:?}");
    sim
}

fn drive(sim: &mut Sim, along_m: f64, at: &str) -> Vec<kairos::output::Output> {
    sim.at(
        dest(ANNECY, 0.0, along_m),
        json!({"speed": 14.0, "heading": 0.0}),
        at,
    )
}

#[test]
fn a_merchant_beside_the_route_ahead_is_suggested_with_its_detour() {
    // 20 km up the route: far beyond the 8.4 km reach of 14 m/s, which a route lifts.
    let mut sim = driving(&[beside("far-museum", 20_000.0, 600.0)]);
    let s = suggestion(&drive(&mut sim, 100.0, T0)).expect("a suggestion on the route");
    assert_eq!(s.merchant.id, "far-museum");
    let p = serde_json::to_value(&s).unwrap();
    let along = p["along_route_m"].as_u64().unwrap();
    assert!((19_890..=19_910).contains(&along), "{p}");
    let detour = p["detour_m"].as_u64().unwrap();
    assert!(
        (1_195..=1_205).contains(&detour),
        "twice the 600 m offset: {p}"
    );
    assert_eq!(p["detour_s"], json!((detour as f64 / 14.0).round() as u64));
    assert_eq!(p["side"], "right");
    assert!(p.get("turn").is_none());
    assert_eq!(
        s.message,
        "far-museum — in 20 km on your route, 1 min detour"
    );
    assert!(
        s.reasons.contains(&"on_route".to_string()),
        "{:?}",
        s.reasons
    );
    assert!(!s.reasons.iter().any(|r| r.starts_with("within_reach")));
}

#[test]
fn the_shortest_detour_wins_then_the_nearest_along_the_route() {
    let features = [
        beside("near-but-off", 2_000.0, 900.0),
        beside("far-but-close", 15_000.0, 100.0),
        beside("farther-same", 25_000.0, 100.0),
    ];
    let mut sim = driving(&features);
    let s = suggestion(&drive(&mut sim, 0.0, T0)).unwrap();
    assert_eq!(s.merchant.id, "far-but-close");
    assert_eq!(
        s.message,
        "far-but-close — in 15 km on your route, on your right"
    );
}

#[test]
fn behind_the_device_or_outside_the_corridor_is_never_suggested() {
    let features = [
        beside("behind", 1_000.0, 100.0),
        beside("outside", 6_000.0, 1_300.0),
    ];
    let mut sim = driving(&features);
    assert!(suggestion(&drive(&mut sim, 3_000.0, T0)).is_none());
    let at = kairos::Stamp::parse(T0).unwrap();
    let explanation = sim.engine.explain(DEV, &at, 10);
    let verdict = |id: &str| {
        explanation
            .candidates
            .iter()
            .find(|c| c.merchant == id)
            .map(|c| c.verdict.clone())
    };
    assert_eq!(
        verdict("behind"),
        Some(Verdict::RuledOut(Rule::OffCorridor))
    );
    assert_eq!(
        verdict("outside"),
        Some(Verdict::RuledOut(Rule::OffCorridor))
    );
}

#[test]
fn a_detour_longer_than_the_limit_is_out() {
    // 900 m off at walking pace: 1,800 m / 1.4 m/s ≈ 21 min > 10 min.
    let mut sim = Sim::consenting(&[beside("slow", 3_000.0, 900.0)], json!({}));
    sim.send("route", &north_geometry(10.0), &t(-120));
    let out = sim.at(
        dest(ANNECY, 0.0, 0.0),
        json!({"speed": 1.0, "heading": 0.0}),
        T0,
    );
    assert!(suggestion(&out).is_none());
    let explanation = sim
        .engine
        .explain(DEV, &kairos::Stamp::parse(T0).unwrap(), 5);
    assert_eq!(
        explanation.candidates[0].verdict,
        Verdict::RuledOut(Rule::DetourTooLong)
    );
}

#[test]
fn three_positions_off_the_route_put_it_aside_until_the_device_is_back() {
    // A museum 300 m west of the start: behind the route's first point for
    // the corridor, but within reach around the device.
    let features = [place("around", 270.0, 300.0, json!({"tourism": "museum"}))];
    let mut sim = driving(&features);
    let away = dest(ANNECY, 270.0, 600.0);
    let moving = json!({"speed": 14.0, "heading": 270.0});
    let first = drive(&mut sim, 0.0, &t(0));
    assert!(suggestion(&first).is_none(), "{first:?}");
    // Two off: the route is still in use (nothing on it).
    assert!(suggestion(&sim.at(away, moving.clone(), &t(10))).is_none());
    assert!(suggestion(&sim.at(away, moving.clone(), &t(20))).is_none());
    // Third off: decided as without a route.
    let third = sim.at(dest(ANNECY, 270.0, 100.0), moving, &t(30));
    assert_eq!(
        suggestion(&third).map(|s| s.merchant.id).as_deref(),
        Some("around")
    );
}

#[test]
fn an_empty_route_clears_it_and_forget_erases_it() {
    let mut sim = driving(&[beside("museum", 5_000.0, 200.0)]);
    assert!(sim.engine.device(DEV).unwrap().route.is_some());
    sim.send("route", &json!({}), &t(-60));
    assert!(sim.engine.device(DEV).unwrap().route.is_none());
    sim.send("route", &north_geometry(10.0), &t(-50));
    sim.send("forget", &json!({}), &t(-40));
    assert!(sim.engine.device(DEV).is_none());
}

#[test]
fn a_route_is_dropped_twelve_hours_after_it_was_set() {
    let mut sim = driving(&[beside("museum", 5_000.0, 200.0)]);
    // Keep the position fresh so only the route's own age counts.
    for hour in [1, 3, 5, 7, 9, 11] {
        drive(&mut sim, 0.0, &tm(hour * 60));
    }
    let _ = sim.send("context", &json!({}), &tm(12 * 60 - 3));
    assert!(sim.engine.device(DEV).unwrap().route.is_some());
    drive(&mut sim, 0.0, &tm(12 * 60 - 1));
    assert!(sim.engine.device(DEV).unwrap().route.is_none());
}

#[test]
fn an_encoded_polyline_reads_at_precision_five_and_six() {
    let features = [beside("museum", 5_000.0, 200.0)];
    let points: Vec<(f64, f64)> = (0..=20)
        .map(|i| dest(ANNECY, 0.0, i as f64 * 500.0))
        .collect();
    // Google's encoding, written here from its definition.
    let encode = |precision: u32| {
        let factor = 10f64.powi(precision as i32);
        let (mut out, mut last) = (String::new(), (0i64, 0i64));
        for (lat, lon) in &points {
            let (la, lo) = ((lat * factor).round() as i64, (lon * factor).round() as i64);
            for delta in [la - last.0, lo - last.1] {
                let mut v = if delta < 0 { !(delta << 1) } else { delta << 1 };
                while v >= 0x20 {
                    out.push(char::from_u32(((0x20 | (v & 0x1f)) + 63) as u32).unwrap());
                    v >>= 5;
                }
                out.push(char::from_u32((v + 63) as u32).unwrap());
            }
            last = (la, lo);
        }
        out
    };
    for precision in [5u32, 6] {
        let mut sim = Sim::consenting(&features, json!({}));
        let payload = json!({"polyline": encode(precision), "precision": precision});
        assert!(sim.send("route", &payload, &t(-60)).is_empty());
        let s = suggestion(&drive(&mut sim, 0.0, T0)).expect("on the route");
        assert!(
            s.reasons.contains(&"on_route".to_string()),
            "precision {precision}"
        );
    }
}

#[test]
fn a_bad_route_is_an_error_and_leaves_the_previous_one() {
    let mut sim = driving(&[beside("museum", 5_000.0, 200.0)]);
    let cases = [
        (json!({"precision": 5}), "missing_field"),
        (
            json!({"polyline": "_p~iF~ps|U", "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}}),
            "out_of_range",
        ),
        (
            json!({"polyline": "_p~iF~ps|U_ulLnnqC", "precision": 7}),
            "out_of_range",
        ),
        (json!({"polyline": "\u{1}\u{2}"}), "out_of_range"),
        (
            json!({"geometry": {"type": "Point", "coordinates": [6.1, 45.9]}}),
            "out_of_range",
        ),
        (
            json!({"geometry": {"type": "LineString", "coordinates": [[6.1, 45.9]]}}),
            "out_of_range",
        ),
        (
            json!({"geometry": {"type": "LineString", "coordinates": [[6.1, 95.0], [6.2, 45.9]]}}),
            "out_of_range",
        ),
        (json!({"polyline": 42}), "wrong_type"),
    ];
    for (payload, code) in cases {
        let out = sim.send("route", &payload, &t(-30));
        assert_eq!(error_code(&out), Some(code), "{payload}");
    }
    let huge = format!(r#"{{"polyline": "{}"}}"#, "_".repeat(600 * 1024));
    let topic = sim.topic("route");
    let out = sim.raw(&topic, huge.as_bytes(), &t(-20));
    assert_eq!(error_code(&out), Some("too_large"));
    let route = &sim.engine.device(DEV).unwrap().route;
    assert_eq!(
        route.as_ref().unwrap().route.points().len(),
        241,
        "the first route stays"
    );
}

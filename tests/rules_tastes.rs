//! SPEC "Remembered tastes": scores learned from `accepted` and `dismissed`
//! feedback on suggestions, the ranking factors they give (× 0.85 from 2 up,
//! × 1.5 from −2 down), their reasons, the profile's precedence, the
//! half-life on the event clock, `learn: false`, and `export`.

mod support;

use kairos::output::Suggestion;
use serde_json::{json, Value};
use support::engine::*;

fn fast_food(id: &str, distance_m: f64) -> Value {
    place(
        id,
        0.0,
        distance_m,
        json!({"name": id, "amenity": "fast_food", "cuisine": "burger"}),
    )
}

fn cafe(id: &str, distance_m: f64) -> Value {
    place(id, 0.0, distance_m, json!({"name": id, "amenity": "cafe"}))
}

fn italian(id: &str, distance_m: f64) -> Value {
    place(
        id,
        0.0,
        distance_m,
        json!({"name": id, "amenity": "restaurant", "cuisine": "italian"}),
    )
}

/// Quiet all day: positions suggest nothing, `ask` ignores it.
const QUIET: &str = "00:00-23:59";

/// A hungry, still device at Annecy (quiet all day unless `profile` says).
fn hungry(features: &[Value], profile: Value) -> Sim {
    let mut sim = Sim::consenting(features, with(json!({"quiet_hours": QUIET}), profile));
    sim.context(json!({"hungry": true}), &t(-30));
    assert!(sim.at(ANNECY, json!({}), &t(-10)).is_empty());
    sim
}

/// Asks at `at` and gives `action` as feedback on the answer a second later.
fn ask_and(sim: &mut Sim, at: i64, action: &str) -> Suggestion {
    let s = expect_suggestion(&sim.ask(json!({}), &t(at)), "something fits");
    let out = sim.send(
        "feedback",
        &json!({"suggestion": s.id, "action": action}),
        &t(at + 1),
    );
    assert!(out.is_empty(), "feedback answers nothing: {out:?}");
    s
}

fn export(sim: &mut Sim, at: i64) -> Value {
    let out = sim.raw(&sim.topic("export"), b"", &t(at));
    let published = publishes(&out);
    assert_eq!(published.len(), 1, "{out:?}");
    assert_eq!(published[0].topic, "kairos/car-42/data");
    assert!(!published[0].retain);
    only_json(&out)
}

#[test]
fn three_dismissals_of_fast_food_push_it_behind_a_farther_cafe() {
    let features = [
        fast_food("ff1", 300.0),
        fast_food("ff2", 400.0),
        fast_food("ff3", 500.0),
        fast_food("ff4", 600.0),
        cafe("cafe", 800.0),
    ];
    let mut sim = hungry(&features, json!({}));
    assert_eq!(ask_and(&mut sim, 0, "dismissed").merchant.id, "ff1");
    assert_eq!(ask_and(&mut sim, 10, "dismissed").merchant.id, "ff2");
    // −2 now: 500 m × 1.5 = 750 still beats the café's 800.
    let third = ask_and(&mut sim, 20, "dismissed");
    assert_eq!(third.merchant.id, "ff3");
    assert!(third
        .reasons
        .contains(&"learned_against:amenity=fast_food".to_string()));
    assert_eq!(
        third
            .reasons
            .iter()
            .filter(|r| r.starts_with("learned"))
            .collect::<Vec<_>>(),
        [
            "learned_against:amenity=fast_food",
            "learned_against:cuisine=burger"
        ],
        "ties by tag"
    );
    // −3: 600 × 1.5 = 900 > 800.
    let s = expect_suggestion(&sim.ask(json!({}), &t(30)), "the café");
    assert_eq!(s.merchant.id, "cafe");
    assert!(
        !s.reasons.iter().any(|r| r.starts_with("learned")),
        "{:?}",
        s.reasons
    );
    let data = export(&mut sim, 40);
    assert_eq!(
        data["tastes"],
        json!({"amenity=fast_food": -3, "cuisine=burger": -3})
    );
}

#[test]
fn a_learned_dislike_never_excludes() {
    let features = [
        fast_food("ff1", 300.0),
        fast_food("ff2", 400.0),
        fast_food("ff3", 500.0),
    ];
    let mut sim = hungry(&features, json!({}));
    for (i, _) in features.iter().enumerate().take(2) {
        let _ = ask_and(&mut sim, i as i64 * 10, "dismissed");
    }
    assert_eq!(
        merchant(&sim.ask(json!({}), &t(30))).as_deref(),
        Some("ff3")
    );
}

#[test]
fn accepted_italians_make_the_next_italian_win_at_equal_distance() {
    let features = [
        italian("it1", 200.0),
        italian("it2", 250.0),
        // Equal distance: without tastes the café wins the tie by id.
        cafe("a-cafe", 700.0),
        italian("z-trattoria", 700.0),
    ];
    let mut sim = hungry(&features, json!({}));
    assert_eq!(ask_and(&mut sim, 0, "accepted").merchant.id, "it1");
    // One acceptance (+1) does not rank yet: the tie goes by id.
    let mut once = hungry(&features[1..], json!({}));
    let _ = ask_and(&mut once, 0, "accepted");
    assert_eq!(
        merchant(&once.ask(json!({}), &t(10))).as_deref(),
        Some("a-cafe")
    );
    assert_eq!(ask_and(&mut sim, 10, "accepted").merchant.id, "it2");
    let s = expect_suggestion(&sim.ask(json!({}), &t(20)), "an Italian");
    assert_eq!(s.merchant.id, "z-trattoria");
    let learned: Vec<&String> = s
        .reasons
        .iter()
        .filter(|r| r.starts_with("learned"))
        .collect();
    assert_eq!(
        learned,
        ["learned:amenity=restaurant", "learned:cuisine=italian"]
    );
    // Its first feedback teaches (+1); later feedback on it, nothing.
    let _ = sim.send(
        "feedback",
        &json!({"suggestion": s.id, "action": "accepted"}),
        &t(20),
    );
    let again = sim.send(
        "feedback",
        &json!({"suggestion": s.id, "action": "accepted"}),
        &t(21),
    );
    assert!(again.is_empty());
    let _ = sim.send(
        "feedback",
        &json!({"suggestion": s.id, "action": "dismissed"}),
        &t(22),
    );
    let data = export(&mut sim, 30);
    assert_eq!(
        data["tastes"],
        json!({"amenity=restaurant": 3, "cuisine=italian": 3})
    );
    assert_eq!(data["suggestions"][2]["feedback"], "accepted");
}

#[test]
fn feedback_naming_only_a_merchant_or_offer_teaches_nothing() {
    let features = [fast_food("ff1", 300.0), fast_food("ff2", 400.0)];
    let mut sim = hungry(&features, json!({}));
    let _ = sim.send(
        "feedback",
        &json!({"merchant": "ff1", "offer": "place", "action": "dismissed"}),
        &t(0),
    );
    let _ = sim.send(
        "feedback",
        &json!({"merchant": "ff2", "action": "accepted"}),
        &t(1),
    );
    assert_eq!(export(&mut sim, 2)["tastes"], json!({}));
}

#[test]
fn the_profiles_own_likes_and_dislikes_ignore_learned_scores() {
    let features = [
        italian("it1", 200.0),
        italian("it2", 250.0),
        cafe("a-cafe", 700.0),
        italian("z-trattoria", 700.0),
    ];
    let mut sim = hungry(&features, json!({}));
    let _ = ask_and(&mut sim, 0, "accepted");
    let _ = ask_and(&mut sim, 10, "accepted");
    // Liking both learned tags: they rank as liked (× 0.75), not learned.
    let _ = sim.send(
        "profile",
        &json!({"consent": true, "likes": ["cuisine=italian", "amenity=restaurant"], "quiet_hours": QUIET}),
        &t(15),
    );
    let s = expect_suggestion(&sim.ask(json!({}), &t(20)), "an Italian");
    assert_eq!(s.merchant.id, "z-trattoria");
    assert!(
        s.reasons.contains(&"liked:cuisine=italian".to_string()),
        "{:?}",
        s.reasons
    );
    assert!(
        !s.reasons.iter().any(|r| r.starts_with("learned")),
        "{:?}",
        s.reasons
    );
}

#[test]
fn a_learned_taste_halves_every_full_thirty_days() {
    let features = [
        italian("it1", 200.0),
        italian("it2", 250.0),
        cafe("a-cafe", 700.0),
        italian("z-trattoria", 700.0),
    ];
    let mut sim = hungry(&features, json!({}));
    let _ = ask_and(&mut sim, 0, "accepted");
    let _ = ask_and(&mut sim, 10, "accepted");
    for near in ["it1", "it2"] {
        let _ = sim.send(
            "feedback",
            &json!({"merchant": near, "action": "block_merchant"}),
            &t(12),
        );
    }
    let day = 86_400;
    // Context and position expire: renew them before asking.
    let ask_on = |sim: &mut Sim, at: i64| {
        sim.context(json!({"hungry": true}), &t(at - 2));
        let _ = sim.at(ANNECY, json!({}), &t(at - 1));
        merchant(&sim.ask(json!({}), &t(at)))
    };
    assert_eq!(
        ask_on(&mut sim, 30 * day - 60).as_deref(),
        Some("z-trattoria")
    );
    // 30 full days after the last change: 2 → 1, no longer ranking.
    assert_eq!(ask_on(&mut sim, 30 * day + 20).as_deref(), Some("a-cafe"));
    assert_eq!(
        export(&mut sim, 30 * day + 30)["tastes"],
        json!({"amenity=restaurant": 1, "cuisine=italian": 1})
    );
    assert_eq!(
        export(&mut sim, 60 * day + 30)["tastes"],
        json!({"amenity=restaurant": 0.5, "cuisine=italian": 0.5})
    );
}

#[test]
fn learn_false_turns_learning_off_and_erases_what_was_learned() {
    let features = [
        fast_food("ff1", 300.0),
        fast_food("ff2", 400.0),
        fast_food("ff3", 500.0),
        cafe("cafe", 600.0),
    ];
    let mut sim = hungry(&features, json!({}));
    let _ = ask_and(&mut sim, 0, "dismissed");
    assert_eq!(
        export(&mut sim, 5)["tastes"],
        json!({"amenity=fast_food": -1, "cuisine=burger": -1})
    );
    let _ = sim.send(
        "profile",
        &json!({"consent": true, "learn": false, "quiet_hours": QUIET}),
        &t(6),
    );
    let data = export(&mut sim, 7);
    assert_eq!(data["tastes"], json!({}));
    assert_eq!(data["profile"]["learn"], json!(false));
    // Off: feedback teaches nothing.
    let _ = ask_and(&mut sim, 10, "dismissed");
    let _ = ask_and(&mut sim, 20, "dismissed");
    assert_eq!(export(&mut sim, 25)["tastes"], json!({}));
    // On again (the default): it learns afresh.
    let _ = sim.send(
        "profile",
        &json!({"consent": true, "quiet_hours": QUIET}),
        &t(26),
    );
    let _ = ask_and(&mut sim, 30, "accepted");
    assert_eq!(export(&mut sim, 35)["tastes"], json!({"amenity=cafe": 1}));
}

#[test]
fn a_malformed_learn_is_refused_and_changes_nothing() {
    let mut sim = hungry(&[cafe("cafe", 300.0)], json!({}));
    let before = sim.state();
    let out = sim.send("profile", &json!({"consent": true, "learn": "no"}), &t(0));
    assert_eq!(error_code(&out), Some("wrong_type"));
    assert_eq!(sim.state(), before);
}

#[test]
fn an_export_holds_what_kairos_holds_and_no_position() {
    let features = [fast_food("ff1", 300.0), cafe("cafe", 600.0)];
    let mut sim = Sim::new(&features);
    // No device yet, no consent: still answered.
    let empty = export(&mut sim, -100);
    assert_eq!(empty["profile"], Value::Null);
    assert_eq!(empty["suggestions"], json!([]));
    assert_eq!(empty["has_position"], json!(false));
    let mut sim = hungry(
        &features,
        json!({"diet": ["halal"], "likes": ["amenity=cafe"], "quiet_hours": "22:00-07:00"}),
    );
    let _ = sim.send(
        "context",
        &json!({"hungry": true, "trip": "vacation"}),
        &t(-5),
    );
    // Halal is not served: nothing fits; drop the diet.
    let _ = sim.send(
        "profile",
        &json!({"consent": true, "likes": ["amenity=cafe"], "quiet_hours": "22:00-07:00"}),
        &t(-4),
    );
    assert_eq!(sim.engine.device(DEV).unwrap().history.len(), 0);
    let s = ask_and(&mut sim, 0, "dismissed");
    let _ = sim.send(
        "feedback",
        &json!({"merchant": "cafe", "action": "block_merchant"}),
        &t(2),
    );
    let data = export(&mut sim, 10);
    let keys: Vec<&String> = data.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "device",
            "at",
            "profile",
            "context",
            "tastes",
            "suggestions",
            "dismissed",
            "blocked",
            "has_position",
            "has_route"
        ]
    );
    assert_eq!(data["device"], "car-42");
    assert_eq!(data["at"], t(10));
    assert_eq!(data["profile"]["likes"], json!(["amenity=cafe"]));
    assert_eq!(data["profile"]["quiet_hours"], json!("22:00-07:00"));
    assert_eq!(data["context"]["trip"]["value"], "vacation");
    assert_eq!(data["context"]["hungry"]["expires"], "2026-07-15T13:59:55Z");
    assert_eq!(
        data["suggestions"],
        json!([{"id": s.id, "at": "2026-07-15T12:00:00Z", "merchant": s.merchant.id, "offer": "place", "feedback": "dismissed"}])
    );
    assert_eq!(s.merchant.id, "ff1");
    assert_eq!(
        data["dismissed"],
        json!([{"merchant": "ff1", "offer": "place"}])
    );
    assert_eq!(data["blocked"], json!(["cafe"]));
    assert_eq!(data["has_position"], json!(true));
    assert_eq!(data["has_route"], json!(false));
    let text = data.to_string();
    assert!(
        !text.contains("45.9") && !text.contains("6.13"),
        "no position: {text}"
    );
    // Forget erases all of it.
    let _ = sim.send("forget", &json!({}), &t(20));
    let after = export(&mut sim, 30);
    assert_eq!(after["profile"], Value::Null);
    assert_eq!(after["tastes"], json!({}));
    assert_eq!(after["suggestions"], json!([]));
    assert_eq!(after["blocked"], json!([]));
}

#[test]
fn kairos_ignores_its_own_data_topic() {
    let mut sim = hungry(&[cafe("cafe", 300.0)], json!({}));
    let before = sim.state();
    assert!(sim.raw("kairos/car-42/data", b"{}", &t(0)).is_empty());
    assert_eq!(sim.state(), before);
}

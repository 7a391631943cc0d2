//! What kairos publishes (SPEC "Outputs", "Messages"): payload shapes, the
//! message text in English and French, and geodesic distances and bearings
//! that hold across the antimeridian, near the pole and at 70° N.

mod support;

use support::engine;

use engine::*;
use kairos::output::Suggestion;
use serde_json::{json, Value};

/// The suggestion for a device at [`ANNECY`] with `position` fields and `profile`,
/// one merchant `distance_m` away on `bearing`.
fn suggest(bearing: f64, distance_m: f64, position: Value, profile: Value) -> Suggestion {
    let f = [place(
        "m",
        bearing,
        distance_m,
        json!({"tourism": "museum", "offers": [
            {"id": "o", "title": {"en": "Free entry", "fr": "Entrée libre"}}]}),
    )];
    let mut sim = Sim::consenting(&f, profile);
    expect_suggestion(&sim.at(ANNECY, position, T0), "one merchant in reach")
}

fn message(bearing: f64, distance_m: f64, position: Value, lang: &str) -> String {
    suggest(bearing, distance_m, position, json!({"lang": lang})).message
}

fn car() -> Value {
    json!({"speed": 20.0, "heading": 0.0})
}

// ---------------------------------------------------------------------- messages

#[test]
fn an_english_message_without_side_says_away() {
    assert_eq!(
        message(0.0, 452.0, json!({}), "en"),
        "Free entry — 450 m away"
    );
}

#[test]
fn a_french_message_without_side_gives_the_distance() {
    assert_eq!(
        message(0.0, 452.0, json!({}), "fr"),
        "Entrée libre — à 450 m"
    );
}

#[test]
fn short_distances_read_in_tens_of_metres() {
    assert_eq!(
        message(0.0, 86.0, json!({}), "en"),
        "Free entry — 90 m away"
    );
    assert_eq!(
        message(0.0, 994.0, json!({}), "en"),
        "Free entry — 990 m away"
    );
}

#[test]
fn distances_rounding_to_a_thousand_metres_read_as_one_kilometre() {
    assert_eq!(
        message(0.0, 996.0, json!({}), "en"),
        "Free entry — 1 km away"
    );
    assert_eq!(
        message(0.0, 996.0, json!({}), "fr"),
        "Entrée libre — à 1 km"
    );
}

#[test]
fn distances_rounding_to_ten_kilometres_read_as_whole_kilometres() {
    let fast = json!({"speed": 20.0});
    assert_eq!(message(0.0, 9_960.0, fast, "en"), "Free entry — 10 km away");
}

#[test]
fn whole_kilometres_drop_the_decimal() {
    assert_eq!(
        message(0.0, 3_010.0, car(), "en"),
        "Free entry — 3 km ahead"
    );
}

#[test]
fn kilometres_below_ten_keep_one_decimal_with_a_french_comma() {
    assert_eq!(
        message(0.0, 2_500.0, car(), "en"),
        "Free entry — 2.5 km ahead"
    );
    assert_eq!(
        message(0.0, 2_500.0, car(), "fr"),
        "Entrée libre — à 2,5 km, tout droit"
    );
}

#[test]
fn ten_kilometres_and_more_read_in_whole_kilometres() {
    let fast = json!({"speed": 25.0});
    assert_eq!(
        message(0.0, 12_400.0, fast, "en"),
        "Free entry — 12 km away"
    );
}

#[test]
fn a_merchant_on_the_right_is_said_so() {
    assert_eq!(
        message(30.0, 3_000.0, car(), "en"),
        "Free entry — 3 km ahead, on your right"
    );
    assert_eq!(
        message(30.0, 3_000.0, car(), "fr"),
        "Entrée libre — à 3 km, sur votre droite"
    );
}

#[test]
fn a_merchant_on_the_left_is_said_so() {
    assert_eq!(
        message(330.0, 1_500.0, car(), "en"),
        "Free entry — 1.5 km ahead, on your left"
    );
    assert_eq!(
        message(330.0, 1_500.0, car(), "fr"),
        "Entrée libre — à 1,5 km, sur votre gauche"
    );
}

#[test]
fn the_seed_example_reads_as_in_spec() {
    let f = [place(
        "comptoir",
        150.0 + 20.0,
        3_000.0,
        json!({"amenity": "restaurant", "diet:gluten_free": "only", "offers": [{
            "id": "lunch-gf",
            "title": {"fr": "Déjeuner de vacances sans gluten", "en": "Gluten-free holiday lunch"},
            "audience": {"trip": ["vacation"], "hungry": true}}]}),
    )];
    for (lang, text) in [
        (
            "fr",
            "Déjeuner de vacances sans gluten — à 3 km, sur votre droite",
        ),
        (
            "en",
            "Gluten-free holiday lunch — 3 km ahead, on your right",
        ),
    ] {
        let mut sim = Sim::consenting(&f, json!({"diet": ["gluten_free"], "lang": lang}));
        sim.context(json!({"hungry": true, "trip": "vacation"}), &t(-10));
        let out = sim.at(ANNECY, json!({"speed": 25.0, "heading": 150.0}), T0);
        let s = expect_suggestion(&out, "the seed example");
        assert_eq!(s.message, text);
        assert_eq!(s.lang, lang);
    }
}

#[test]
fn the_language_defaults_to_english() {
    let s = suggest(0.0, 300.0, json!({}), json!({}));
    assert_eq!((s.lang, s.offer.title.as_str()), ("en", "Free entry"));
}

#[test]
fn a_title_missing_in_the_language_falls_back_to_english_then_the_first() {
    let titles = [
        (
            json!({"de": "Eintritt frei", "en": "Free entry"}),
            "Free entry",
        ),
        (
            json!({"de": "Eintritt frei", "it": "Ingresso libero"}),
            "Eintritt frei",
        ),
        (json!("Ingresso libero"), "Ingresso libero"),
    ];
    for (title, expected) in titles {
        let f = [place(
            "m",
            0.0,
            300.0,
            json!({"tourism": "museum", "offers": [{"id": "o", "title": title}]}),
        )];
        let mut sim = Sim::consenting(&f, json!({"lang": "fr"}));
        let s = sim.still(T0).unwrap();
        assert_eq!(s.offer.title, expected);
        assert!(s.message.starts_with(expected), "{}", s.message);
    }
}

#[test]
fn a_merchant_without_name_is_named_by_its_id() {
    let mut sim = Sim::consenting(
        &[place("musee-42", 0.0, 300.0, json!({"tourism": "museum"}))],
        json!({}),
    );
    let s = sim.still(T0).unwrap();
    assert_eq!(
        (s.merchant.name.as_str(), s.offer.title.as_str()),
        ("musee-42", "musee-42")
    );
}

// ------------------------------------------------------------------------ fields

#[test]
fn a_suggestion_has_exactly_the_fields_of_spec() {
    let f = [museum("m", 300.0)];
    let mut sim = Sim::consenting(&f, json!({}));
    let v = only_json(&sim.at(ANNECY, car(), T0));
    let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    let expected = [
        "at",
        "bearing",
        "distance_m",
        "eta_s",
        "id",
        "lang",
        "merchant",
        "message",
        "offer",
        "reasons",
        "side",
    ];
    assert_eq!(keys, expected);
    assert_eq!(v["merchant"], json!({"id": "m", "name": "Museum m"}));
    assert_eq!(v["offer"], json!({"id": "place", "title": "Museum m"}));
    assert!(v["reasons"].as_array().is_some_and(|r| !r.is_empty()));
    assert!(v["id"].as_str().is_some_and(|id| !id.is_empty()));
}

#[test]
fn a_suggestion_to_a_slow_device_has_no_side_field() {
    let mut sim = Sim::consenting(&[museum("m", 300.0)], json!({}));
    let v = only_json(&sim.at(ANNECY, json!({"heading": 0.0, "speed": 1.0}), T0));
    assert!(v.get("side").is_none(), "{v}");
    assert!(v["eta_s"].is_u64(), "eta_s is always given: {v}");
}

#[test]
fn suggestions_go_to_the_devices_suggestion_topic() {
    let mut sim = Sim::consenting(&[museum("m", 300.0)], json!({}));
    let out = sim.at(ANNECY, json!({}), T0);
    let p = publishes(&out);
    assert_eq!(p[0].topic, "kairos/car-42/suggestion");
    assert!(!p[0].retain);
}

#[test]
fn at_is_the_input_events_at_unchanged() {
    for at in [
        "2026-07-15T12:00:00.250Z",
        "2026-07-15T14:00:00+02:00",
        "2026-07-15T08:00:00-04:00",
    ] {
        let mut sim = Sim::consenting(&[museum("m", 300.0)], json!({}));
        let v = only_json(&sim.at(ANNECY, json!({}), at));
        assert_eq!(v["at"], json!(at));
        let v = only_json(&sim.ask(json!({}), at));
        assert_eq!(v, json!({"none": "nothing_fits", "at": at}));
    }
}

#[test]
fn distance_is_whole_metres_and_eta_whole_seconds() {
    let mut sim = Sim::consenting(&[museum("m", 700.4)], json!({}));
    let v = only_json(&sim.at(ANNECY, json!({}), T0));
    assert_eq!(v["distance_m"], json!(700));
    assert_eq!(v["eta_s"], json!(500));
    let mut sim = Sim::consenting(&[museum("m", 3_000.0)], json!({}));
    let v = only_json(&sim.at(ANNECY, car(), T0));
    assert_eq!(
        (v["distance_m"].clone(), v["eta_s"].clone()),
        (json!(3000), json!(150))
    );
}

#[test]
fn bearing_is_whole_degrees_from_true_north() {
    for (b, expected) in [(0.0, 0), (45.2, 45), (90.0, 90), (179.6, 180), (271.0, 271)] {
        let s = suggest(b, 500.0, json!({}), json!({}));
        assert_eq!(s.bearing, expected, "{b}");
    }
}

#[test]
fn a_bearing_just_west_of_north_rounds_to_zero_not_360() {
    let v = {
        let f = [place("m", 359.8, 500.0, json!({"tourism": "museum"}))];
        let mut sim = Sim::consenting(&f, json!({}));
        only_json(&sim.at(ANNECY, json!({}), T0))
    };
    assert_eq!(v["bearing"], json!(0));
}

#[test]
fn suggestion_ids_are_deterministic_and_distinct() {
    let run = |dev: &str, at: &str| {
        let mut sim = Sim::new(&[museum("m", 300.0)]);
        sim.dev = dev.into();
        sim.profile(json!({"consent": true}));
        sim.still(at).unwrap().id
    };
    assert_eq!(run("a", T0), run("a", T0));
    assert_ne!(run("a", T0), run("b", T0));
    assert_ne!(run("a", T0), run("a", &t(1)));
}

#[test]
fn an_error_names_its_code_detail_and_input_topic() {
    let mut sim = Sim::new(&[]);
    let topic = sim.topic("position");
    let v = only_json(&sim.raw(&topic, b"nope", T0));
    assert_eq!(v["error"], json!("not_json"));
    assert_eq!(v["topic"], json!("kairos/car-42/position"));
    assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(v.as_object().unwrap().len(), 3);
}

// ----------------------------------------------------------------------- geodesy

fn suggestion_between(
    device: (f64, f64),
    merchant: (f64, f64),
    position: Value,
) -> Option<Suggestion> {
    let f = [feature("m", merchant, json!({"tourism": "museum"}))];
    let mut sim = Sim::consenting(&f, json!({}));
    suggestion(&sim.at(device, position, T0))
}

#[test]
fn a_merchant_across_the_antimeridian_is_near() {
    // 0.004° of longitude at 10° N: about 438 m due east.
    let s = suggestion_between((10.0, 179.998), (10.0, -179.998), json!({})).unwrap();
    assert!((430..=446).contains(&s.distance_m), "{}", s.distance_m);
    assert_eq!(s.bearing, 90);
}

#[test]
fn a_merchant_across_the_antimeridian_is_ahead_of_an_eastbound_car() {
    let east = json!({"speed": 20.0, "heading": 90.0});
    let s = suggestion_between((10.0, 179.998), (10.0, -179.998), east).unwrap();
    assert_eq!(s.side, Some(kairos::message::Side::Ahead));
    let west = json!({"speed": 20.0, "heading": 270.0});
    assert!(suggestion_between((10.0, 179.998), (10.0, -179.998), west).is_none());
}

#[test]
fn a_merchant_west_across_the_antimeridian_bears_west() {
    let s = suggestion_between(
        (-20.0, -179.999),
        dest((-20.0, -179.999), 270.0, 600.0),
        json!({}),
    )
    .unwrap();
    assert!((599..=601).contains(&s.distance_m), "{}", s.distance_m);
    assert_eq!(s.bearing, 270);
}

#[test]
fn distances_and_bearings_hold_at_seventy_degrees_north() {
    let here = (70.0, 25.0);
    for (bearing, distance) in [(45.0, 800.0), (90.0, 950.0), (300.0, 600.0)] {
        let s = suggestion_between(here, dest(here, bearing, distance), json!({})).unwrap();
        assert!(
            (s.distance_m as f64 - distance).abs() <= 1.0,
            "{bearing}: {}",
            s.distance_m
        );
        assert_eq!(f64::from(s.bearing), bearing, "{bearing}");
    }
}

#[test]
fn reach_is_measured_on_the_sphere_at_seventy_degrees_north() {
    // 0.03° of longitude at 70° N is about 1.14 km: out of a walker's reach.
    assert!(suggestion_between((70.0, 25.0), (70.0, 25.03), json!({})).is_none());
    // 0.02° is about 760 m: in reach.
    let s = suggestion_between((70.0, 25.0), (70.0, 25.02), json!({})).unwrap();
    assert!((755..=765).contains(&s.distance_m), "{}", s.distance_m);
}

#[test]
fn a_merchant_across_the_north_pole_is_near() {
    // 89.996° N on opposite meridians: 0.008° of arc apart, about 890 m, due north.
    let s = suggestion_between((89.996, 0.0), (89.996, 180.0), json!({})).unwrap();
    assert!((885..=895).contains(&s.distance_m), "{}", s.distance_m);
    assert_eq!(s.bearing, 0);
}

// ------------------------------------------------------------------------ replay

fn replay_lines(trace: &str) -> (String, String) {
    let mut engine = engine(&[museum("m", 300.0)]);
    let (mut out, mut log) = (Vec::new(), Vec::new());
    kairos::replay::replay(&mut engine, trace.as_bytes(), &mut out, &mut log).unwrap();
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(log).unwrap(),
    )
}

#[test]
fn forget_in_replay_is_an_empty_retained_profile_line() {
    let (out, _) = replay_lines(
        r#"{"at": "2026-07-15T14:00:00+02:00", "topic": "kairos/car-42/forget", "payload": {}}"#,
    );
    assert_eq!(
        out,
        "{\"at\":\"2026-07-15T14:00:00+02:00\",\"topic\":\"kairos/car-42/profile\",\"payload_raw\":\"\",\"retain\":true}\n"
    );
}

#[test]
fn replay_skips_bad_trace_lines_with_their_number_and_goes_on() {
    let trace = [
        r#"{"at": "2026-07-15T13:59:00+02:00", "topic": "kairos/car-42/profile", "payload": {"consent": true}}"#,
        "not json at all",
        r#"{"at": "yesterday", "topic": "kairos/car-42/position", "payload": {}}"#,
        r#"{"topic": "kairos/car-42/position", "payload": {}}"#,
        r#"{"at": "2026-07-15T14:00:00+02:00", "payload": {}}"#,
        r#"{"at": "2026-07-15T14:00:00+02:00", "topic": "kairos/car-42/position", "payload": {"lat": 45.9, "lon": 6.13}}"#,
    ]
    .join("\n");
    let (out, log) = replay_lines(&trace);
    for n in 2..=5 {
        assert!(
            log.contains(&format!("line {n}")),
            "line {n} reported: {log}"
        );
    }
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("kairos/car-42/suggestion"));
}

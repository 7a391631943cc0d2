//! Decision rule 5 and the ranking: audiences, hunger, dislikes, likes, and
//! deterministic ties.

mod support;

use support::engine;

use engine::*;
use serde_json::{json, Value};

/// One museum 300 m away with one offer whose audience is `audience`.
fn for_audience(audience: Value) -> Vec<Value> {
    vec![place(
        "m",
        0.0,
        300.0,
        json!({"tourism": "museum", "offers": [
            {"id": "o", "title": "Offer", "audience": audience}]}),
    )]
}

fn suggested(features: &[Value], profile: Value, context: Value) -> bool {
    let mut sim = Sim::consenting(features, profile);
    sim.context(context, &t(-30));
    sim.still(T0).is_some()
}

// ---------------------------------------------------------------- audience keys

#[test]
fn a_trip_audience_holds_for_a_device_on_that_trip() {
    let f = for_audience(json!({"trip": ["vacation", "business"]}));
    assert!(suggested(&f, json!({}), json!({"trip": "business"})));
}

#[test]
fn a_trip_audience_fails_for_another_trip() {
    let f = for_audience(json!({"trip": ["vacation"]}));
    assert!(!suggested(&f, json!({}), json!({"trip": "commute"})));
}

#[test]
fn a_trip_audience_fails_when_the_trip_is_unknown() {
    let f = for_audience(json!({"trip": ["vacation"]}));
    assert!(!suggested(&f, json!({}), json!({})));
}

#[test]
fn a_diet_audience_needs_every_listed_diet_in_the_profile() {
    let f = for_audience(json!({"diet": ["gluten_free", "vegan"]}));
    assert!(suggested(
        &f,
        json!({"diet": ["vegan", "gluten_free", "halal"]}),
        json!({})
    ));
    assert!(!suggested(&f, json!({"diet": ["gluten_free"]}), json!({})));
}

#[test]
fn a_party_audience_needs_at_least_that_many_people() {
    let f = for_audience(json!({"party": 4}));
    assert!(suggested(&f, json!({}), json!({"party": 4})));
    assert!(suggested(&f, json!({}), json!({"party": 6})));
    assert!(!suggested(&f, json!({}), json!({"party": 3})));
    assert!(!suggested(&f, json!({}), json!({})));
}

#[test]
fn a_lang_audience_is_one_of_the_profile_language() {
    let f = for_audience(json!({"lang": ["fr", "it"]}));
    assert!(suggested(&f, json!({"lang": "fr"}), json!({})));
    assert!(!suggested(&f, json!({"lang": "en"}), json!({})));
}

#[test]
fn a_lang_audience_sees_the_default_english() {
    let f = for_audience(json!({"lang": ["en"]}));
    assert!(suggested(&f, json!({}), json!({})));
}

#[test]
fn a_hungry_false_audience_holds_when_the_context_says_not_hungry() {
    let f = for_audience(json!({"hungry": false}));
    assert!(suggested(&f, json!({}), json!({"hungry": false})));
    assert!(!suggested(&f, json!({}), json!({"hungry": true})));
}

#[test]
fn an_unknown_audience_key_never_holds() {
    let f = for_audience(json!({"mood": "happy"}));
    assert!(!suggested(
        &f,
        json!({}),
        json!({"hungry": true, "trip": "vacation"})
    ));
}

#[test]
fn every_audience_key_must_hold() {
    let f = for_audience(json!({"trip": ["vacation"], "party": 2}));
    assert!(suggested(
        &f,
        json!({}),
        json!({"trip": "vacation", "party": 2})
    ));
    assert!(!suggested(
        &f,
        json!({}),
        json!({"trip": "vacation", "party": 1})
    ));
}

#[test]
fn an_audience_failing_on_one_offer_leaves_the_others() {
    let m = place(
        "m",
        0.0,
        300.0,
        json!({"tourism": "museum", "offers": [
            {"id": "a-families", "title": "Families", "audience": {"party": 3}},
            {"id": "b-all", "title": "Everyone"}]}),
    );
    let mut sim = Sim::consenting(&[m], json!({}));
    assert_eq!(sim.still(T0).unwrap().offer.id, "b-all");
}

// ----------------------------------------------------------------------- hunger

fn diner() -> Vec<Value> {
    vec![restaurant("r", 300.0, json!({"name": "Chez Nous"}))]
}

#[test]
fn a_food_place_needs_a_hungry_person() {
    assert!(suggested(&diner(), json!({}), json!({"hungry": true})));
}

#[test]
fn a_food_place_is_not_suggested_when_hunger_is_unknown() {
    assert!(!suggested(&diner(), json!({}), json!({})));
}

#[test]
fn a_food_place_is_not_suggested_to_someone_not_hungry() {
    assert!(!suggested(&diner(), json!({}), json!({"hungry": false})));
}

#[test]
fn every_food_amenity_and_shop_counts_as_a_food_place() {
    let kinds = [
        ("amenity", "restaurant"),
        ("amenity", "fast_food"),
        ("amenity", "cafe"),
        ("amenity", "food_court"),
        ("amenity", "ice_cream"),
        ("amenity", "biergarten"),
        ("shop", "bakery"),
        ("shop", "pastry"),
        ("shop", "deli"),
        ("shop", "confectionery"),
    ];
    for (key, value) in kinds {
        let f = [place("f", 0.0, 300.0, json!({ key: value }))];
        assert!(
            !suggested(&f, json!({}), json!({})),
            "{key}={value} is food"
        );
        assert!(
            suggested(&f, json!({}), json!({"hungry": true})),
            "{key}={value}"
        );
    }
}

#[test]
fn a_bookshop_is_not_a_food_place() {
    let f = [place("b", 0.0, 300.0, json!({"shop": "books"}))];
    assert!(suggested(&f, json!({}), json!({})));
}

#[test]
fn a_non_food_place_is_suggested_to_a_hungry_person_too() {
    assert!(suggested(
        &[museum("m", 300.0)],
        json!({}),
        json!({"hungry": true})
    ));
}

#[test]
fn a_hungry_audience_at_a_museum_is_a_food_offer_that_needs_hunger() {
    let f = for_audience(json!({"hungry": true}));
    assert!(!suggested(&f, json!({}), json!({})));
    assert!(suggested(&f, json!({}), json!({"hungry": true})));
}

// --------------------------------------------------------------------- dislikes

#[test]
fn a_disliked_tag_excludes_the_merchant() {
    let f = [
        place("burger", 0.0, 200.0, json!({"amenity": "fast_food"})),
        restaurant("bistro", 500.0, json!({})),
    ];
    let mut sim = Sim::consenting(&f, json!({"dislikes": ["amenity=fast_food"]}));
    sim.context(json!({"hungry": true}), &t(-30));
    assert_eq!(sim.still(T0).unwrap().merchant.id, "bistro");
}

#[test]
fn a_dislike_matches_any_value_of_a_semicolon_list() {
    let f = [restaurant("r", 200.0, json!({"cuisine": "pizza;burger"}))];
    let profile = json!({"dislikes": ["cuisine=burger"]});
    assert!(!suggested(&f, profile, json!({"hungry": true})));
}

#[test]
fn a_dislike_that_matches_no_value_excludes_nothing() {
    let f = [restaurant("r", 200.0, json!({"cuisine": "pizza;burger"}))];
    let profile = json!({"dislikes": ["cuisine=sushi", "cuisine=pizz"]});
    assert!(suggested(&f, profile, json!({"hungry": true})));
}

#[test]
fn a_dislike_applies_to_non_food_places_too() {
    let f = [place(
        "c",
        0.0,
        200.0,
        json!({"tourism": "museum", "museum": "war"}),
    )];
    assert!(!suggested(
        &f,
        json!({"dislikes": ["museum=war"]}),
        json!({})
    ));
}

// ---------------------------------------------------------------------- ranking

#[test]
fn the_nearest_eligible_offer_wins() {
    let f = [museum("far", 600.0), museum("near", 300.0)];
    let mut sim = Sim::consenting(&f, json!({}));
    assert_eq!(sim.still(T0).unwrap().merchant.id, "near");
}

fn likes_case(liked_distance: f64) -> String {
    let f = [
        place("plain", 0.0, 400.0, json!({"tourism": "museum"})),
        place("liked", 90.0, liked_distance, json!({"tourism": "gallery"})),
    ];
    let mut sim = Sim::consenting(&f, json!({"likes": ["tourism=gallery"]}));
    sim.still(T0).unwrap().merchant.id
}

#[test]
fn a_liked_merchant_wins_within_three_quarters_of_the_distance() {
    // 520 × 0.75 = 390 < 400.
    assert_eq!(likes_case(520.0), "liked");
}

#[test]
fn a_liked_merchant_loses_beyond_three_quarters_of_the_distance() {
    // 550 × 0.75 = 412.5 > 400.
    assert_eq!(likes_case(550.0), "plain");
}

#[test]
fn a_like_matches_any_value_of_a_semicolon_list() {
    let f = [
        restaurant("plain", 400.0, json!({"cuisine": "french"})),
        place(
            "liked",
            90.0,
            520.0,
            json!({"amenity": "restaurant", "cuisine": "pizza;italian"}),
        ),
    ];
    let mut sim = Sim::consenting(&f, json!({"likes": ["cuisine=italian"]}));
    sim.context(json!({"hungry": true}), &t(-30));
    assert_eq!(sim.still(T0).unwrap().merchant.id, "liked");
}

fn audience_case(targeted_distance: f64) -> String {
    let f = [
        place("plain", 0.0, 400.0, json!({"tourism": "museum"})),
        place(
            "targeted",
            90.0,
            targeted_distance,
            json!({"tourism": "museum", "offers": [
                {"id": "o", "title": "For you", "audience": {"trip": ["vacation"]}}]}),
        ),
    ];
    let mut sim = Sim::consenting(&f, json!({}));
    sim.context(json!({"trip": "vacation"}), &t(-30));
    sim.still(T0).unwrap().merchant.id
}

#[test]
fn a_matched_audience_wins_within_nine_tenths_of_the_distance() {
    // 440 × 0.9 = 396 < 400.
    assert_eq!(audience_case(440.0), "targeted");
}

#[test]
fn a_matched_audience_loses_beyond_nine_tenths_of_the_distance() {
    // 450 × 0.9 = 405 > 400.
    assert_eq!(audience_case(450.0), "plain");
}

#[test]
fn liked_and_audience_factors_multiply() {
    // 580 × 0.75 × 0.9 = 391.5 < 400, beating either factor alone.
    let f = [
        place("plain", 0.0, 400.0, json!({"tourism": "museum"})),
        place(
            "both",
            90.0,
            580.0,
            json!({"tourism": "gallery", "offers": [
                {"id": "o", "title": "For you", "audience": {"trip": ["vacation"]}}]}),
        ),
    ];
    let mut sim = Sim::consenting(&f, json!({"likes": ["tourism=gallery"]}));
    sim.context(json!({"trip": "vacation"}), &t(-30));
    assert_eq!(sim.still(T0).unwrap().merchant.id, "both");
}

#[test]
fn ties_go_to_the_smallest_merchant_id() {
    let spot = dest(ANNECY, 45.0, 300.0);
    let f = [
        feature("b-shop", spot, json!({"tourism": "museum"})),
        feature("a-shop", spot, json!({"tourism": "museum"})),
        feature("c-shop", spot, json!({"tourism": "museum"})),
    ];
    let mut sim = Sim::consenting(&f, json!({}));
    assert_eq!(sim.still(T0).unwrap().merchant.id, "a-shop");
}

#[test]
fn ties_within_a_merchant_go_to_the_smallest_offer_id() {
    let m = place(
        "m",
        0.0,
        300.0,
        json!({"tourism": "museum", "offers": [
            {"id": "zeta", "title": "Z"}, {"id": "alpha", "title": "A"}, {"id": "mu", "title": "M"}]}),
    );
    let mut sim = Sim::consenting(&[m], json!({}));
    assert_eq!(sim.still(T0).unwrap().offer.id, "alpha");
}

#[test]
fn an_audience_offer_beats_a_plain_offer_of_the_same_merchant() {
    let m = place(
        "m",
        0.0,
        300.0,
        json!({"tourism": "museum", "offers": [
            {"id": "a-plain", "title": "Plain"},
            {"id": "z-targeted", "title": "Targeted", "audience": {"trip": ["vacation"]}}]}),
    );
    let mut sim = Sim::consenting(&[m], json!({}));
    sim.context(json!({"trip": "vacation"}), &t(-30));
    assert_eq!(sim.still(T0).unwrap().offer.id, "z-targeted");
}

#[test]
fn ties_between_a_food_place_and_another_place_go_to_the_smallest_id() {
    let spot = dest(ANNECY, 45.0, 300.0);
    for (food, other, winner) in [
        ("a-food", "b-museum", "a-food"),
        ("b-food", "a-museum", "a-museum"),
    ] {
        let f = [
            feature(other, spot, json!({"tourism": "museum"})),
            feature(food, spot, json!({"amenity": "restaurant"})),
        ];
        assert_eq!(
            {
                let mut sim = Sim::consenting(&f, json!({}));
                sim.context(json!({"hungry": true}), &t(-30));
                sim.still(T0).unwrap().merchant.id
            },
            winner
        );
    }
}

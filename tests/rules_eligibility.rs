//! Decision rules 1–4 of SPEC: consent, diets, hours and validity at arrival,
//! reach, the cone ahead and the side of the road.

mod support;

use support::engine;

use engine::*;
use serde_json::json;

// ---------------------------------------------------------------- consent (rule 1)

#[test]
fn a_consenting_profile_gets_a_suggestion() {
    let mut sim = Sim::consenting(&[museum("m", 300.0)], json!({}));
    assert_eq!(sim.still(T0).unwrap().merchant.id, "m");
}

#[test]
fn nothing_is_suggested_without_a_profile() {
    let mut sim = Sim::new(&[museum("m", 300.0)]);
    assert!(sim.at(ANNECY, json!({}), T0).is_empty());
}

#[test]
fn nothing_is_suggested_when_consent_is_false() {
    let mut sim = Sim::new(&[museum("m", 300.0)]);
    sim.profile(json!({"consent": false}));
    assert!(sim.at(ANNECY, json!({}), T0).is_empty());
}

#[test]
fn a_profile_without_the_consent_key_counts_as_no_consent() {
    let mut sim = Sim::new(&[museum("m", 300.0)]);
    sim.profile(json!({"lang": "fr", "diet": []}));
    assert!(sim.at(ANNECY, json!({}), T0).is_empty());
}

#[test]
fn a_new_profile_replaces_the_old_one_whole() {
    let mut sim = Sim::consenting(&[museum("m", 300.0)], json!({}));
    sim.profile(json!({"lang": "fr"}));
    assert!(sim.still(T0).is_none(), "the new profile has no consent");
}

#[test]
fn an_empty_retained_profile_means_no_profile() {
    let mut sim = Sim::consenting(&[museum("m", 300.0)], json!({}));
    let topic = sim.topic("profile");
    assert!(sim.raw(&topic, b"", &t(-30)).is_empty(), "not an error");
    assert!(sim.still(T0).is_none());
}

// ---------------------------------------------------------------- diets (rule 2)

fn diner(diet_tags: serde_json::Value) -> Vec<serde_json::Value> {
    vec![restaurant("r", 300.0, diet_tags)]
}

fn hungry_with_diet(features: &[serde_json::Value], diet: &[&str]) -> Sim {
    let mut sim = Sim::consenting(features, json!({"diet": diet}));
    sim.context(json!({"hungry": true}), &t(-30));
    sim
}

#[test]
fn diet_yes_serves_the_diet() {
    let mut sim = hungry_with_diet(&diner(json!({"diet:gluten_free": "yes"})), &["gluten_free"]);
    assert!(sim.still(T0).is_some());
}

#[test]
fn diet_only_serves_the_diet() {
    let mut sim = hungry_with_diet(
        &diner(json!({"diet:gluten_free": "only"})),
        &["gluten_free"],
    );
    assert!(sim.still(T0).is_some());
}

#[test]
fn diet_limited_does_not_serve_the_diet() {
    let mut sim = hungry_with_diet(
        &diner(json!({"diet:gluten_free": "limited"})),
        &["gluten_free"],
    );
    assert!(sim.still(T0).is_none());
}

#[test]
fn diet_no_does_not_serve_the_diet() {
    let mut sim = hungry_with_diet(&diner(json!({"diet:gluten_free": "no"})), &["gluten_free"]);
    assert!(sim.still(T0).is_none());
}

#[test]
fn a_place_without_the_diet_tag_does_not_serve_the_diet() {
    let mut sim = hungry_with_diet(&diner(json!({"cuisine": "pizza"})), &["gluten_free"]);
    assert!(sim.still(T0).is_none());
}

#[test]
fn a_person_without_diet_is_served_anywhere() {
    let mut sim = hungry_with_diet(&diner(json!({"diet:gluten_free": "no"})), &[]);
    assert!(sim.still(T0).is_some());
}

#[test]
fn vegan_place_serves_a_vegetarian() {
    let mut sim = hungry_with_diet(&diner(json!({"diet:vegan": "only"})), &["vegetarian"]);
    assert!(sim.still(T0).is_some());
}

#[test]
fn vegan_yes_serves_a_vegetarian_even_where_vegetarian_is_tagged_no() {
    // A user reading `diet:vegan=yes` expects vegetarian dishes whatever the other tag says.
    let mut sim = hungry_with_diet(
        &diner(json!({"diet:vegan": "yes", "diet:vegetarian": "no"})),
        &["vegetarian"],
    );
    assert!(sim.still(T0).is_some());
}

#[test]
fn vegetarian_place_does_not_serve_a_vegan() {
    let mut sim = hungry_with_diet(&diner(json!({"diet:vegetarian": "only"})), &["vegan"]);
    assert!(sim.still(T0).is_none());
}

#[test]
fn vegan_limited_does_not_serve_a_vegetarian() {
    let mut sim = hungry_with_diet(&diner(json!({"diet:vegan": "limited"})), &["vegetarian"]);
    assert!(sim.still(T0).is_none());
}

#[test]
fn every_diet_of_the_profile_must_be_served() {
    let features = [
        restaurant("near-gf-only", 200.0, json!({"diet:gluten_free": "yes"})),
        restaurant(
            "far-both",
            600.0,
            json!({"diet:gluten_free": "yes", "diet:lactose_free": "only"}),
        ),
    ];
    let mut sim = hungry_with_diet(&features, &["gluten_free", "lactose_free"]);
    assert_eq!(sim.still(T0).unwrap().merchant.id, "far-both");
}

#[test]
fn no_place_serving_only_some_diets_is_suggested() {
    let features = [restaurant("gf", 200.0, json!({"diet:gluten_free": "yes"}))];
    let mut sim = hungry_with_diet(&features, &["gluten_free", "halal"]);
    assert!(sim.still(T0).is_none());
}

#[test]
fn the_diet_rule_does_not_apply_to_a_museum() {
    let mut sim = Sim::consenting(&[museum("m", 300.0)], json!({"diet": ["vegan", "halal"]}));
    assert!(sim.still(T0).is_some(), "a museum suits every diet");
}

#[test]
fn a_food_offer_at_a_museum_must_serve_the_diet() {
    let cafe_offer = json!({"name": "Musée", "tourism": "museum", "offers": [
        {"id": "snack", "title": "Snack", "audience": {"hungry": true}}]});
    let served = with(cafe_offer.clone(), json!({"diet:halal": "yes"}));
    let mut sim = hungry_with_diet(&[place("m", 0.0, 300.0, cafe_offer.clone())], &["halal"]);
    assert!(
        sim.still(T0).is_none(),
        "a food offer follows the diet rule"
    );
    let mut sim = hungry_with_diet(&[place("m", 0.0, 300.0, served)], &["halal"]);
    assert!(sim.still(T0).is_some());
    // Not a food place, so only the rule itself (no index) can refuse `limited`.
    let limited = with(cafe_offer, json!({"diet:halal": "limited"}));
    let mut sim = hungry_with_diet(&[place("m", 0.0, 300.0, limited)], &["halal"]);
    assert!(sim.still(T0).is_none(), "limited does not serve the diet");
}

// ------------------------------------------------- opening hours at arrival (rule 3)

fn with_hours(hours: &str, distance_m: f64) -> Vec<serde_json::Value> {
    vec![place(
        "m",
        0.0,
        distance_m,
        json!({"name": "Musée", "tourism": "museum", "opening_hours": hours}),
    )]
}

#[test]
fn a_place_open_at_arrival_is_suggested() {
    let mut sim = Sim::consenting(&with_hours("Mo-Su 10:00-18:00", 300.0), json!({}));
    assert!(sim.still(T0).is_some());
}

#[test]
fn a_closed_place_is_not_suggested() {
    let mut sim = Sim::consenting(&with_hours("Mo-Su 18:00-22:00", 300.0), json!({}));
    assert!(sim.still(T0).is_none());
}

#[test]
fn open_now_but_closed_at_arrival_is_not_suggested() {
    // 700 m on foot at 1.4 m/s: 500 s, arriving 14:08:20, after closing.
    let mut sim = Sim::consenting(&with_hours("Mo-Su 10:00-14:05", 700.0), json!({}));
    assert!(sim.still(T0).is_none());
}

#[test]
fn closed_now_but_open_at_arrival_is_suggested() {
    let mut sim = Sim::consenting(&with_hours("Mo-Su 14:05-18:00", 700.0), json!({}));
    assert!(sim.still(T0).is_some());
}

#[test]
fn a_device_slower_than_two_metres_per_second_arrives_at_walking_pace() {
    // At 1.9 m/s the 700 m take 368 s (14:06:08, closed); at 1.4 m/s, 500 s (14:08:20, open).
    let mut sim = Sim::consenting(&with_hours("Mo-Su 14:07-18:00", 700.0), json!({}));
    let out = sim.at(ANNECY, json!({"speed": 1.9, "heading": 0.0}), T0);
    let s = expect_suggestion(&out, "open at walking-pace arrival");
    assert_eq!(s.eta_s, 500);
}

#[test]
fn a_device_at_two_metres_per_second_arrives_at_its_own_speed() {
    // At 2 m/s the 700 m take 350 s (14:05:50): open until 14:06 only.
    let mut sim = Sim::consenting(&with_hours("Mo-Su 10:00-14:06", 700.0), json!({}));
    let out = sim.at(ANNECY, json!({"speed": 2.0, "heading": 0.0}), T0);
    assert_eq!(expect_suggestion(&out, "arrival at 2 m/s").eta_s, 350);
}

#[test]
fn a_car_arriving_before_opening_is_not_suggested() {
    // 3 km at 20 m/s: arrival 14:02:30, the place opens at 14:03.
    let mut sim = Sim::consenting(&with_hours("Mo-Su 14:03-18:00", 3_000.0), json!({}));
    assert!(sim
        .at(ANNECY, json!({"speed": 20.0, "heading": 0.0}), T0)
        .is_empty());
    let mut sim = Sim::consenting(&with_hours("Mo-Su 14:02-18:00", 3_000.0), json!({}));
    let out = sim.at(ANNECY, json!({"speed": 20.0, "heading": 0.0}), T0);
    assert_eq!(expect_suggestion(&out, "open at 14:02:30").eta_s, 150);
}

#[test]
fn an_unknown_state_at_arrival_counts_as_not_open() {
    let mut sim = Sim::consenting(&with_hours("Mo-Su 10:00-18:00 unknown", 300.0), json!({}));
    assert!(sim.still(T0).is_none());
}

#[test]
fn a_place_without_opening_hours_is_open() {
    let mut sim = Sim::consenting(&[museum("m", 300.0)], json!({}));
    assert!(sim.still("2026-07-15T03:00:00+02:00").is_some());
}

const BASTILLE_DAY: &str = "2026-07-14T14:00:00+02:00";

#[test]
fn a_place_closed_on_public_holidays_is_not_suggested_on_the_fourteenth_of_july() {
    let mut sim = Sim::consenting(&with_hours("Mo-Su 10:00-18:00; PH off", 300.0), json!({}));
    assert!(sim.still(BASTILLE_DAY).is_none());
    let mut sim = Sim::consenting(&with_hours("Mo-Su 10:00-18:00; PH off", 300.0), json!({}));
    assert!(sim.still(T0).is_some(), "15 July is an ordinary Wednesday");
}

#[test]
fn a_place_open_only_on_public_holidays_is_suggested_on_the_fourteenth_of_july() {
    let mut sim = Sim::consenting(&with_hours("PH 10:00-18:00", 300.0), json!({}));
    assert!(sim.still(BASTILLE_DAY).is_some());
    let mut sim = Sim::consenting(&with_hours("PH 10:00-18:00", 300.0), json!({}));
    assert!(sim.still(T0).is_none());
}

#[test]
fn an_offer_valid_only_on_public_holidays_is_suggested_on_the_fourteenth_of_july() {
    let f = offering(json!({"when": "PH 10:00-18:00"}), 300.0);
    let mut sim = Sim::consenting(&f, json!({}));
    assert!(sim.still(BASTILLE_DAY).is_some());
    let mut sim = Sim::consenting(&f, json!({}));
    assert!(sim.still(T0).is_none());
}

#[test]
fn hours_are_read_in_the_merchants_time_zone() {
    // 14:00 in Paris is 21:00 in Tokyo.
    let evening = feature(
        "izakaya",
        dest(TOKYO, 0.0, 300.0),
        json!({"tourism": "museum", "opening_hours": "Mo-Su 20:00-22:00"}),
    );
    let mut sim = Sim::consenting(&[evening], json!({}));
    assert!(suggestion(&sim.at(TOKYO, json!({}), T0)).is_some());
    let afternoon = feature(
        "izakaya",
        dest(TOKYO, 0.0, 300.0),
        json!({"tourism": "museum", "opening_hours": "Mo-Su 13:00-15:00"}),
    );
    let mut sim = Sim::consenting(&[afternoon], json!({}));
    assert!(sim.at(TOKYO, json!({}), T0).is_empty());
}

#[test]
fn an_offer_when_is_read_in_the_merchants_time_zone() {
    // 14:00 in Paris is 21:00 in Tokyo.
    let bar = |when: &str| {
        feature(
            "bar",
            dest(TOKYO, 0.0, 300.0),
            json!({"tourism": "museum", "offers": [{"id": "o", "title": "Happy hour", "when": when}]}),
        )
    };
    let mut sim = Sim::consenting(&[bar("Mo-Su 20:00-22:00")], json!({}));
    assert!(suggestion(&sim.at(TOKYO, json!({}), T0)).is_some());
    let mut sim = Sim::consenting(&[bar("Mo-Su 13:00-15:00")], json!({}));
    assert!(sim.at(TOKYO, json!({}), T0).is_empty());
}

#[test]
fn a_date_only_valid_until_ends_at_midnight_in_the_merchants_zone() {
    // 16:30 UTC on the 15th is already 01:30 on the 16th in Tokyo.
    let m = feature(
        "shop",
        dest(TOKYO, 0.0, 300.0),
        json!({"tourism": "museum", "offers": [{"id": "o", "title": "Sale", "valid_until": "2026-07-15"}]}),
    );
    let mut sim = Sim::consenting(std::slice::from_ref(&m), json!({}));
    assert!(sim.at(TOKYO, json!({}), "2026-07-15T16:30:00Z").is_empty());
    let mut sim = Sim::consenting(&[m], json!({}));
    assert!(suggestion(&sim.at(TOKYO, json!({}), "2026-07-15T14:30:00Z")).is_some());
}

#[test]
fn the_same_hours_in_two_time_zones_are_read_in_each_zone() {
    let hours = json!({"tourism": "museum", "opening_hours": "Mo-Su 20:00-22:00"});
    let f = [
        place("annecy", 0.0, 300.0, hours.clone()),
        feature("tokyo", dest(TOKYO, 0.0, 300.0), hours),
    ];
    // 14:00 in Annecy is 21:00 in Tokyo; 21:00 in Annecy is 04:00 in Tokyo.
    let mut sim = Sim::consenting(&f, json!({}));
    assert_eq!(
        merchant(&sim.at(TOKYO, json!({}), T0)).as_deref(),
        Some("tokyo")
    );
    let mut sim = Sim::consenting(&f, json!({}));
    assert!(sim.still(T0).is_none());
    assert_eq!(
        sim.still("2026-07-15T21:00:00+02:00")
            .map(|s| s.merchant.id)
            .as_deref(),
        Some("annecy")
    );
}

#[test]
fn the_same_hours_in_two_countries_follow_each_countrys_holidays() {
    // 14 July is a holiday in France, not in Japan. 12:00 UTC: 14:00 in Annecy, 21:00 in Tokyo.
    let hours = json!({"tourism": "museum", "opening_hours": "Mo-Su 09:00-23:00; PH off"});
    let f = [
        place("annecy", 0.0, 300.0, hours.clone()),
        feature("tokyo", dest(TOKYO, 0.0, 300.0), hours),
    ];
    let mut sim = Sim::consenting(&f, json!({}));
    assert!(sim.still(BASTILLE_DAY).is_none());
    let mut sim = Sim::consenting(&f, json!({}));
    let out = sim.at(TOKYO, json!({}), BASTILLE_DAY);
    assert_eq!(merchant(&out).as_deref(), Some("tokyo"));
}

#[test]
fn the_same_hours_in_one_zone_but_two_countries_follow_each_countrys_holidays() {
    // Brussels given the Paris zone explicitly: 14 July is no Belgian holiday.
    let brussels = (50.85, 4.35);
    let hours = "Mo-Su 09:00-23:00; PH off";
    let f = [
        place(
            "annecy",
            0.0,
            300.0,
            json!({"tourism": "museum", "opening_hours": hours}),
        ),
        feature(
            "brussels",
            dest(brussels, 0.0, 300.0),
            json!({"tourism": "museum", "opening_hours": hours, "timezone": "Europe/Paris"}),
        ),
    ];
    let mut sim = Sim::consenting(&f, json!({}));
    let out = sim.at(brussels, json!({}), BASTILLE_DAY);
    assert_eq!(merchant(&out).as_deref(), Some("brussels"));
}

#[test]
fn merchants_sharing_hours_are_each_checked_at_their_own_arrival() {
    // Same schedule; the nearer one is reached at 14:01:11 (closed until 14:03),
    // the farther at 14:10:43 (open).
    let hours = json!({"tourism": "museum", "opening_hours": "Mo-Su 14:03-18:00"});
    let f = [
        place("near", 0.0, 100.0, hours.clone()),
        place("far", 90.0, 900.0, hours),
    ];
    let mut sim = Sim::consenting(&f, json!({}));
    assert_eq!(sim.still(T0).unwrap().merchant.id, "far");
}

#[test]
fn a_timezone_property_overrides_the_zone_at_the_coordinates() {
    let m = place(
        "m",
        0.0,
        300.0,
        json!({"tourism": "museum", "timezone": "Asia/Tokyo", "opening_hours": "Mo-Su 20:00-22:00"}),
    );
    let mut sim = Sim::consenting(&[m], json!({}));
    assert!(sim.still(T0).is_some());
}

// ------------------------------------------------------- offer time rules (rule 3)

fn offering(offer: serde_json::Value, distance_m: f64) -> Vec<serde_json::Value> {
    let offer = with(json!({"id": "o", "title": "Offer"}), offer);
    vec![place(
        "m",
        0.0,
        distance_m,
        json!({"name": "Musée", "tourism": "museum", "offers": [offer]}),
    )]
}

#[test]
fn an_offer_is_suggested_while_its_when_holds() {
    let mut sim = Sim::consenting(
        &offering(json!({"when": "Mo-Su 13:00-15:00"}), 300.0),
        json!({}),
    );
    assert_eq!(sim.still(T0).unwrap().offer.id, "o");
}

#[test]
fn an_offer_outside_its_when_is_not_suggested() {
    let mut sim = Sim::consenting(
        &offering(json!({"when": "Mo-Su 15:00-16:00"}), 300.0),
        json!({}),
    );
    assert!(sim.still(T0).is_none());
}

#[test]
fn an_offer_whose_when_ends_before_arrival_is_not_suggested() {
    let mut sim = Sim::consenting(
        &offering(json!({"when": "Mo-Su 10:00-14:05"}), 700.0),
        json!({}),
    );
    assert!(sim.still(T0).is_none());
}

#[test]
fn an_offer_is_not_suggested_before_valid_from() {
    let o = json!({"valid_from": "2026-07-16T00:00:00+02:00"});
    let mut sim = Sim::consenting(&offering(o, 300.0), json!({}));
    assert!(sim.still(T0).is_none());
}

#[test]
fn an_offer_is_not_suggested_after_valid_until() {
    let o = json!({"valid_until": "2026-07-15T13:00:00+02:00"});
    let mut sim = Sim::consenting(&offering(o, 300.0), json!({}));
    assert!(sim.still(T0).is_none());
}

#[test]
fn an_offer_valid_between_its_dates_is_suggested() {
    let o = json!({"valid_from": "2026-07-01T00:00:00+02:00", "valid_until": "2026-07-31T23:59:59+02:00"});
    let mut sim = Sim::consenting(&offering(o, 300.0), json!({}));
    assert!(sim.still(T0).is_some());
}

#[test]
fn an_offer_ending_before_arrival_is_not_suggested() {
    // Arrival on foot at 14:08:20; the offer ends at 14:05.
    let o = json!({"valid_until": "2026-07-15T14:05:00+02:00"});
    let mut sim = Sim::consenting(&offering(o, 700.0), json!({}));
    assert!(sim.still(T0).is_none());
}

#[test]
fn a_date_only_valid_until_covers_the_whole_local_day() {
    let o = json!({"valid_until": "2026-07-15"});
    let mut sim = Sim::consenting(&offering(o, 100.0), json!({}));
    assert!(sim.still("2026-07-15T23:55:00+02:00").is_some());
}

#[test]
fn a_date_only_valid_until_ends_at_local_midnight_not_utc_midnight() {
    // 00:30 in Annecy on the 16th is still the 15th in UTC.
    let o = json!({"valid_until": "2026-07-15"});
    let mut sim = Sim::consenting(&offering(o, 100.0), json!({}));
    assert!(sim.still("2026-07-16T00:30:00+02:00").is_none());
}

#[test]
fn a_date_only_valid_from_starts_at_local_midnight() {
    let o = json!({"valid_from": "2026-07-16"});
    let mut sim = Sim::consenting(&offering(o.clone(), 100.0), json!({}));
    assert!(sim.still("2026-07-16T00:30:00+02:00").is_some());
    let mut sim = Sim::consenting(&offering(o, 100.0), json!({}));
    assert!(sim.still("2026-07-15T23:50:00+02:00").is_none());
}

#[test]
fn offers_empty_means_the_merchant_offers_nothing() {
    let m = place("m", 0.0, 300.0, json!({"tourism": "museum", "offers": []}));
    let mut sim = Sim::consenting(&[m], json!({}));
    assert!(sim.still(T0).is_none());
}

#[test]
fn a_merchant_without_offers_stands_for_its_place() {
    let m = place(
        "m",
        0.0,
        300.0,
        json!({"tourism": "museum", "name": "Château"}),
    );
    let mut sim = Sim::consenting(&[m], json!({}));
    let s = sim.still(T0).unwrap();
    assert_eq!(
        (s.offer.id.as_str(), s.offer.title.as_str()),
        ("place", "Château")
    );
}

#[test]
fn of_two_merchants_with_the_same_id_the_first_loaded_wins() {
    let f = [
        place(
            "dup",
            0.0,
            800.0,
            json!({"tourism": "museum", "name": "First"}),
        ),
        place(
            "dup",
            0.0,
            200.0,
            json!({"tourism": "museum", "name": "Second"}),
        ),
    ];
    let mut sim = Sim::consenting(&f, json!({}));
    assert_eq!(sim.still(T0).unwrap().merchant.name, "First");
}

// ------------------------------------------------------------------ reach (rule 4)

#[test]
fn a_still_device_reaches_one_kilometre() {
    let mut sim = Sim::consenting(&[museum("m", 980.0)], json!({}));
    assert!(sim.still(T0).is_some());
}

#[test]
fn a_still_device_does_not_reach_beyond_one_kilometre() {
    let mut sim = Sim::consenting(&[museum("m", 1_030.0)], json!({}));
    assert!(sim.still(T0).is_none());
}

#[test]
fn a_slow_device_still_reaches_one_kilometre() {
    // 1.5 m/s × 600 s = 900 m, floored at 1 km.
    let mut sim = Sim::consenting(&[museum("m", 980.0)], json!({}));
    assert!(suggestion(&sim.at(ANNECY, json!({"speed": 1.5}), T0)).is_some());
}

#[test]
fn reach_is_speed_times_ten_minutes() {
    // 5 m/s × 600 s = 3 km (no heading, so no cone).
    let mut sim = Sim::consenting(&[museum("m", 2_950.0)], json!({}));
    assert!(suggestion(&sim.at(ANNECY, json!({"speed": 5.0}), T0)).is_some());
    let mut sim = Sim::consenting(&[museum("m", 3_050.0)], json!({}));
    assert!(sim.at(ANNECY, json!({"speed": 5.0}), T0).is_empty());
}

#[test]
fn reach_is_capped_at_fifteen_kilometres() {
    // 40 m/s × 600 s would be 24 km.
    let mut sim = Sim::consenting(&[museum("m", 14_900.0)], json!({}));
    assert!(suggestion(&sim.at(ANNECY, json!({"speed": 40.0}), T0)).is_some());
    let mut sim = Sim::consenting(&[museum("m", 15_200.0)], json!({}));
    assert!(sim.at(ANNECY, json!({"speed": 40.0}), T0).is_empty());
}

#[test]
fn an_offer_is_not_suggested_beyond_its_radius() {
    let mut sim = Sim::consenting(&offering(json!({"radius_m": 500}), 700.0), json!({}));
    assert!(sim.still(T0).is_none());
}

#[test]
fn an_offer_is_suggested_within_its_radius() {
    let mut sim = Sim::consenting(&offering(json!({"radius_m": 800}), 700.0), json!({}));
    assert!(sim.still(T0).is_some());
}

#[test]
fn a_large_radius_does_not_extend_the_reach() {
    let mut sim = Sim::consenting(&offering(json!({"radius_m": 5_000}), 1_500.0), json!({}));
    assert!(sim.still(T0).is_none());
}

// ----------------------------------------------------------- cone and side (rule 4)

fn driving_north(features: &[serde_json::Value]) -> Option<kairos::output::Suggestion> {
    let mut sim = Sim::consenting(features, json!({}));
    suggestion(&sim.at(ANNECY, json!({"speed": 20.0, "heading": 0.0}), T0))
}

fn at_bearing(bearing: f64, distance_m: f64) -> Vec<serde_json::Value> {
    vec![place(
        "m",
        bearing,
        distance_m,
        json!({"tourism": "museum"}),
    )]
}

#[test]
fn a_moving_device_gets_a_merchant_straight_ahead() {
    let s = driving_north(&at_bearing(0.0, 2_000.0)).unwrap();
    assert_eq!(s.side, Some(kairos::message::Side::Ahead));
}

#[test]
fn a_moving_device_gets_nothing_behind_it() {
    assert!(driving_north(&at_bearing(180.0, 500.0)).is_none());
}

#[test]
fn a_moving_device_gets_merchants_within_sixty_degrees_of_its_heading() {
    assert!(driving_north(&at_bearing(58.0, 2_000.0)).is_some());
    assert!(driving_north(&at_bearing(302.0, 2_000.0)).is_some());
}

#[test]
fn a_moving_device_gets_nothing_beyond_sixty_degrees_of_its_heading() {
    assert!(driving_north(&at_bearing(62.0, 2_000.0)).is_none());
    assert!(driving_north(&at_bearing(298.0, 2_000.0)).is_none());
}

#[test]
fn the_cone_wraps_around_north() {
    let mut sim = Sim::consenting(&at_bearing(10.0, 2_000.0), json!({}));
    let out = sim.at(ANNECY, json!({"speed": 20.0, "heading": 340.0}), T0);
    assert!(suggestion(&out).is_some());
}

#[test]
fn a_nearer_merchant_behind_does_not_hide_one_ahead() {
    let features = [
        place("behind", 180.0, 200.0, json!({"tourism": "museum"})),
        place("ahead", 0.0, 2_000.0, json!({"tourism": "museum"})),
    ];
    assert_eq!(driving_north(&features).unwrap().merchant.id, "ahead");
}

#[test]
fn a_merchant_more_than_25_m_right_of_the_line_is_on_the_right() {
    // 30° off at 1 km: about 500 m to the right.
    let s = driving_north(&at_bearing(30.0, 1_000.0)).unwrap();
    assert_eq!(s.side, Some(kairos::message::Side::Right));
}

#[test]
fn a_merchant_more_than_25_m_left_of_the_line_is_on_the_left() {
    let s = driving_north(&at_bearing(330.0, 1_000.0)).unwrap();
    assert_eq!(s.side, Some(kairos::message::Side::Left));
}

#[test]
fn a_merchant_within_25_m_of_the_line_is_ahead() {
    // asin(20/1000) ≈ 1.15°: 20 m to the right, 20 m to the left.
    for bearing in [1.146, 358.854] {
        let s = driving_north(&at_bearing(bearing, 1_000.0)).unwrap();
        assert_eq!(s.side, Some(kairos::message::Side::Ahead), "{bearing}");
    }
}

#[test]
fn a_merchant_30_m_off_the_line_is_to_the_side() {
    // asin(30/1000) ≈ 1.72°.
    let s = driving_north(&at_bearing(1.72, 1_000.0)).unwrap();
    assert_eq!(s.side, Some(kairos::message::Side::Right));
    let s = driving_north(&at_bearing(358.28, 1_000.0)).unwrap();
    assert_eq!(s.side, Some(kairos::message::Side::Left));
}

#[test]
fn a_slow_device_has_no_side_and_no_cone() {
    let mut sim = Sim::consenting(&at_bearing(180.0, 500.0), json!({}));
    let out = sim.at(ANNECY, json!({"speed": 1.9, "heading": 0.0}), T0);
    assert_eq!(expect_suggestion(&out, "no cone when slow").side, None);
}

#[test]
fn a_fast_device_without_heading_has_no_side_and_no_cone() {
    let mut sim = Sim::consenting(&at_bearing(180.0, 500.0), json!({}));
    let out = sim.at(ANNECY, json!({"speed": 20.0}), T0);
    assert_eq!(
        expect_suggestion(&out, "no cone without heading").side,
        None
    );
}

#[test]
fn a_device_at_exactly_two_metres_per_second_with_heading_uses_the_cone() {
    let mut sim = Sim::consenting(&at_bearing(180.0, 500.0), json!({}));
    assert!(sim
        .at(ANNECY, json!({"speed": 2.0, "heading": 0.0}), T0)
        .is_empty());
}

//! Decision rule 6 and what surrounds it: quiet hours, gap, daily cap, no repeat,
//! feedback, stale and inaccurate positions, context lifetimes, `ask`, `forget`.

mod support;

use support::engine;

use engine::*;
use serde_json::{json, Value};

/// Museums 100, 200, ... m north: `n` distinct offers, nearest first as m1, m2, ...
fn museums(n: usize) -> Vec<Value> {
    (1..=n)
        .map(|i| museum(&format!("m{i}"), 100.0 * i as f64))
        .collect()
}

fn at_local(day: u32, hm: &str) -> String {
    format!("2026-07-{day:02}T{hm}:00+02:00")
}

// ------------------------------------------------------------------ quiet hours

#[test]
fn nothing_is_suggested_during_quiet_hours() {
    let mut sim = Sim::consenting(&museums(1), json!({"quiet_hours": "13:00-15:00"}));
    assert!(sim.still(T0).is_none());
}

#[test]
fn suggestions_resume_outside_quiet_hours() {
    let mut sim = Sim::consenting(&museums(1), json!({"quiet_hours": "15:00-16:00"}));
    assert!(sim.still(T0).is_some());
}

#[test]
fn quiet_hours_are_read_in_device_local_time_not_utc() {
    // 14:00 in Annecy is 12:00 UTC.
    let mut sim = Sim::consenting(&museums(1), json!({"quiet_hours": "12:00-13:00"}));
    assert!(sim.still(T0).is_some());
}

#[test]
fn quiet_hours_follow_the_zone_of_the_device_position() {
    // 14:00 in Paris is 21:00 in Tokyo.
    let f = [feature(
        "t",
        dest(TOKYO, 0.0, 200.0),
        json!({"tourism": "museum"}),
    )];
    let mut sim = Sim::consenting(&f, json!({"quiet_hours": "20:00-22:00"}));
    assert!(sim.at(TOKYO, json!({}), T0).is_empty());
    let mut sim = Sim::consenting(&f, json!({"quiet_hours": "13:00-15:00"}));
    assert!(suggestion(&sim.at(TOKYO, json!({}), T0)).is_some());
}

fn night_owl(at: &str) -> bool {
    let mut sim = Sim::consenting(&museums(1), json!({"quiet_hours": "22:00-07:00"}));
    sim.still(at).is_some()
}

#[test]
fn quiet_hours_wrap_past_midnight() {
    assert!(!night_owl(&at_local(15, "23:30")));
    assert!(!night_owl(&at_local(16, "00:00")));
    assert!(!night_owl(&at_local(16, "06:59")));
}

#[test]
fn quiet_hours_include_their_start() {
    assert!(!night_owl(&at_local(15, "22:00")));
    assert!(night_owl(&at_local(15, "21:59")));
}

#[test]
fn quiet_hours_exclude_their_end() {
    assert!(night_owl(&at_local(16, "07:00")));
}

#[test]
fn daytime_quiet_hours_exclude_their_end_and_include_their_start() {
    let mut sim = Sim::consenting(&museums(1), json!({"quiet_hours": "13:00-14:00"}));
    assert!(sim.still(T0).is_some(), "14:00 is the end: no longer quiet");
    let mut sim = Sim::consenting(&museums(1), json!({"quiet_hours": "14:00-15:00"}));
    assert!(sim.still(T0).is_none(), "14:00 is the start: quiet");
}

#[test]
fn equal_quiet_hour_ends_mean_no_quiet_hours() {
    let mut sim = Sim::consenting(&museums(1), json!({"quiet_hours": "14:00-14:00"}));
    assert!(sim.still(T0).is_some());
}

// --------------------------------------------------------------------- the gap

/// A device that got m1 at T0; returns the sim.
fn after_first(profile: Value) -> Sim {
    let mut sim = Sim::consenting(&museums(4), profile);
    assert_eq!(sim.still(T0).unwrap().merchant.id, "m1");
    sim
}

#[test]
fn the_default_gap_is_thirty_minutes() {
    let mut sim = after_first(json!({}));
    assert!(sim.still(&t(29 * 60 + 59)).is_none());
    assert_eq!(sim.still(&tm(30)).unwrap().merchant.id, "m2");
}

#[test]
fn a_profile_sets_a_longer_gap() {
    let mut sim = after_first(json!({"min_gap_min": 45}));
    assert!(sim.still(&tm(44)).is_none());
    assert!(sim.still(&tm(45)).is_some());
}

#[test]
fn a_profile_sets_a_shorter_gap() {
    let mut sim = after_first(json!({"min_gap_min": 15}));
    assert!(sim.still(&tm(14)).is_none());
    assert!(sim.still(&tm(15)).is_some());
}

#[test]
fn a_gap_below_ten_minutes_counts_as_ten() {
    // SPEC: "below 10 counts as 10 (no error)": negative values too.
    for gap in [-5, 0, 1, 5, 9] {
        let mut sim = after_first(json!({"min_gap_min": gap}));
        assert!(sim.still(&t(9 * 60 + 59)).is_none(), "gap {gap}");
        assert!(sim.still(&tm(10)).is_some(), "gap {gap}");
    }
}

// --------------------------------------------------------------- the daily cap

#[test]
fn at_most_three_suggestions_a_day_by_default() {
    let mut sim = after_first(json!({}));
    assert!(sim.still(&tm(30)).is_some());
    assert!(sim.still(&tm(60)).is_some());
    assert!(sim.still(&tm(90)).is_none());
    assert!(sim.still(&tm(300)).is_none());
}

#[test]
fn a_profile_sets_its_own_daily_cap() {
    let mut sim = after_first(json!({"max_per_day": 1}));
    assert!(sim.still(&tm(30)).is_none());
    let mut sim = after_first(json!({"max_per_day": 4}));
    for minutes in [30, 60, 90] {
        assert!(sim.still(&tm(minutes)).is_some(), "{minutes}");
    }
}

#[test]
fn the_daily_cap_counts_a_rolling_24_hours_not_a_calendar_day() {
    let mut sim = Sim::consenting(&museums(4), json!({"max_per_day": 2}));
    assert!(sim.still(&at_local(15, "23:00")).is_some());
    assert!(sim.still(&at_local(15, "23:40")).is_some());
    assert!(
        sim.still(&at_local(16, "00:20")).is_none(),
        "a new calendar day does not reset the cap"
    );
    assert!(sim.still(&at_local(16, "22:59")).is_none());
    assert!(
        sim.still(&at_local(16, "23:01")).is_some(),
        "the 23:00 suggestion left the window"
    );
}

// --------------------------------------------------------------- no repeat

#[test]
fn the_same_offer_is_never_suggested_twice_within_24_hours() {
    let mut sim = Sim::consenting(&museums(1), json!({}));
    assert!(sim.still(T0).is_some());
    assert!(sim.still(&tm(30)).is_none());
    assert!(sim.still(&tm(23 * 60 + 59)).is_none());
}

#[test]
fn the_same_offer_may_come_back_after_24_hours() {
    let mut sim = Sim::consenting(&museums(1), json!({}));
    assert!(sim.still(T0).is_some());
    assert!(sim.still(&tm(24 * 60)).is_some());
}

#[test]
fn another_offer_of_the_same_merchant_is_not_a_repeat() {
    let m = place(
        "m",
        0.0,
        300.0,
        json!({"tourism": "museum", "offers": [{"id": "a", "title": "A"}, {"id": "b", "title": "B"}]}),
    );
    let mut sim = Sim::consenting(&[m], json!({}));
    assert_eq!(sim.still(T0).unwrap().offer.id, "a");
    assert_eq!(sim.still(&tm(30)).unwrap().offer.id, "b");
}

// --------------------------------------------------------------------- feedback

fn two_offers_and_another_merchant() -> Vec<Value> {
    vec![
        place(
            "m",
            0.0,
            100.0,
            json!({"tourism": "museum", "offers": [{"id": "a", "title": "A"}, {"id": "b", "title": "B"}]}),
        ),
        museum("other", 600.0),
    ]
}

fn feedback(sim: &mut Sim, body: Value) {
    let out = sim.send("feedback", &body, &tm(1));
    assert!(out.is_empty(), "feedback never answers when valid: {out:?}");
}

/// What is suggested at T0 + 30 min, 25 h and 49 h.
fn later(sim: &mut Sim) -> Vec<Option<(String, String)>> {
    [30, 25 * 60, 49 * 60]
        .into_iter()
        .map(|m| sim.still(&tm(m)).map(|s| (s.merchant.id, s.offer.id)))
        .collect()
}

fn some(m: &str, o: &str) -> Option<(String, String)> {
    Some((m.to_string(), o.to_string()))
}

#[test]
fn a_dismissed_suggestion_is_never_made_again() {
    let mut sim = Sim::consenting(&two_offers_and_another_merchant(), json!({}));
    let first = sim.still(T0).unwrap();
    assert_eq!(first.offer.id, "a");
    feedback(
        &mut sim,
        json!({"suggestion": first.id, "action": "dismissed"}),
    );
    // Only offer `a` is banned: `b` comes next, then `a` never again.
    let got = later(&mut sim);
    assert_eq!(got[0], some("m", "b"));
    assert!(got.iter().all(|g| g != &some("m", "a")), "{got:?}");
}

#[test]
fn dismissing_by_merchant_and_offer_bans_that_offer() {
    let mut sim = Sim::consenting(&two_offers_and_another_merchant(), json!({}));
    feedback(
        &mut sim,
        json!({"merchant": "m", "offer": "a", "action": "dismissed"}),
    );
    assert_eq!(sim.still(&tm(2)).map(|s| s.offer.id), Some("b".into()));
}

#[test]
fn dismissing_a_merchant_without_offer_bans_all_its_offers() {
    let mut sim = Sim::consenting(&two_offers_and_another_merchant(), json!({}));
    feedback(&mut sim, json!({"merchant": "m", "action": "dismissed"}));
    assert_eq!(
        sim.still(&tm(2)).map(|s| s.merchant.id),
        Some("other".into())
    );
}

#[test]
fn a_blocked_merchant_is_never_suggested_again() {
    let mut sim = Sim::consenting(&two_offers_and_another_merchant(), json!({}));
    let first = sim.still(T0).unwrap();
    feedback(
        &mut sim,
        json!({"suggestion": first.id, "action": "block_merchant"}),
    );
    let got = later(&mut sim);
    assert_eq!(got[0], some("other", "place"));
    assert!(got.iter().flatten().all(|(m, _)| m != "m"), "{got:?}");
}

#[test]
fn blocking_by_merchant_id_bans_the_merchant() {
    let mut sim = Sim::consenting(&two_offers_and_another_merchant(), json!({}));
    feedback(
        &mut sim,
        json!({"merchant": "m", "action": "block_merchant"}),
    );
    assert_eq!(
        sim.still(&tm(2)).map(|s| s.merchant.id),
        Some("other".into())
    );
}

#[test]
fn an_accepted_suggestion_bans_nothing() {
    let mut sim = Sim::consenting(&two_offers_and_another_merchant(), json!({}));
    let first = sim.still(T0).unwrap();
    feedback(
        &mut sim,
        json!({"suggestion": first.id, "action": "accepted"}),
    );
    assert_eq!(later(&mut sim)[1], some("m", "a"));
}

#[test]
fn feedback_on_an_unknown_suggestion_is_an_error() {
    let mut sim = Sim::consenting(&two_offers_and_another_merchant(), json!({}));
    sim.still(T0).unwrap();
    let before = sim.state();
    let body = json!({"suggestion": "s-0000000000000000", "action": "dismissed"});
    let out = sim.send("feedback", &body, &tm(1));
    assert_eq!(error_code(&out), Some("unknown_suggestion"));
    assert_eq!(sim.state(), before);
}

#[test]
fn feedback_on_another_devices_suggestion_is_unknown() {
    let mut sim = Sim::consenting(&two_offers_and_another_merchant(), json!({}));
    let theirs = sim.still(T0).unwrap();
    sim.dev = "someone-else".into();
    sim.profile(json!({"consent": true}));
    let body = json!({"suggestion": theirs.id, "action": "dismissed"});
    assert_eq!(
        error_code(&sim.send("feedback", &body, &tm(1))),
        Some("unknown_suggestion")
    );
}

// ------------------------------------------------------------------- positions

fn far_away() -> (f64, f64) {
    dest(ANNECY, 90.0, 50_000.0)
}

/// m1 near Annecy, "far" near a point 50 km east; quiet hours so that positions
/// never suggest and only `ask` tells which position kairos holds.
fn two_towns() -> Sim {
    let f = [
        museum("m1", 300.0),
        feature(
            "far",
            dest(far_away(), 0.0, 300.0),
            json!({"tourism": "museum"}),
        ),
    ];
    Sim::consenting(&f, json!({"quiet_hours": "00:00-23:59"}))
}

#[test]
fn a_position_older_than_two_minutes_makes_no_suggestion() {
    let mut sim = Sim::consenting(&museums(1), json!({}));
    assert!(sim.at(ANNECY, json!({"ts": t(-121)}), T0).is_empty());
}

#[test]
fn a_position_more_than_two_minutes_ahead_of_the_clock_makes_no_suggestion() {
    let mut sim = Sim::consenting(&museums(1), json!({}));
    assert!(sim.at(ANNECY, json!({"ts": t(121)}), T0).is_empty());
}

#[test]
fn a_position_up_to_two_minutes_off_still_counts() {
    for skew in [-120, -60, 60, 120] {
        let mut sim = Sim::consenting(&museums(1), json!({}));
        let out = sim.at(ANNECY, json!({"ts": t(skew)}), T0);
        assert!(suggestion(&out).is_some(), "ts {skew} s off");
    }
}

#[test]
fn a_position_less_accurate_than_500_m_makes_no_suggestion() {
    let mut sim = Sim::consenting(&museums(1), json!({}));
    assert!(sim.at(ANNECY, json!({"accuracy": 501.0}), T0).is_empty());
    let out = sim.at(ANNECY, json!({"accuracy": 500.0}), &t(10));
    assert!(suggestion(&out).is_some());
}

#[test]
fn a_stale_position_does_not_replace_the_last_good_one() {
    let mut sim = two_towns();
    assert!(sim.at(ANNECY, json!({}), T0).is_empty());
    assert!(sim
        .at(far_away(), json!({"ts": tm(-10)}), &t(30))
        .is_empty());
    let out = sim.ask(json!({}), &t(60));
    assert_eq!(merchant(&out).as_deref(), Some("m1"));
}

#[test]
fn an_inaccurate_position_does_not_replace_the_last_good_one() {
    let mut sim = two_towns();
    assert!(sim.at(ANNECY, json!({}), T0).is_empty());
    assert!(sim
        .at(far_away(), json!({"accuracy": 800.0}), &t(30))
        .is_empty());
    let out = sim.ask(json!({}), &t(60));
    assert_eq!(merchant(&out).as_deref(), Some("m1"));
}

#[test]
fn a_good_position_replaces_the_last_one() {
    let mut sim = two_towns();
    sim.at(ANNECY, json!({}), T0);
    sim.at(far_away(), json!({}), &t(30));
    assert_eq!(
        merchant(&sim.ask(json!({}), &t(60))).as_deref(),
        Some("far")
    );
}

#[test]
fn a_position_without_ts_is_taken_at_the_receive_time() {
    let mut sim = Sim::consenting(&museums(1), json!({}));
    assert!(sim.still("2030-01-01T10:00:00+01:00").is_some());
}

// --------------------------------------------------------------------- context

fn hungry_at(set: &str, position: &str) -> bool {
    let mut sim = Sim::consenting(&[restaurant("r", 300.0, json!({}))], json!({}));
    sim.context(json!({"hungry": true}), set);
    sim.still(position).is_some()
}

#[test]
fn a_context_field_holds_until_just_before_two_hours() {
    assert!(hungry_at(&tm(-120), &t(-1)));
}

#[test]
fn a_context_field_expires_exactly_two_hours_after_it_was_set() {
    assert!(!hungry_at(&tm(-120), T0));
}

#[test]
fn setting_a_field_again_restarts_its_two_hours() {
    let mut sim = Sim::consenting(&[restaurant("r", 300.0, json!({}))], json!({}));
    sim.context(json!({"hungry": true}), &tm(-150));
    sim.context(json!({"hungry": true}), &tm(-60));
    assert!(sim.still(T0).is_some());
}

#[test]
fn null_clears_a_context_field() {
    let mut sim = Sim::consenting(&[restaurant("r", 300.0, json!({}))], json!({}));
    sim.context(json!({"hungry": true}), &tm(-10));
    sim.context(json!({"hungry": null}), &tm(-5));
    assert!(sim.still(T0).is_none());
}

#[test]
fn a_context_update_keeps_the_fields_it_does_not_name() {
    let f = [restaurant(
        "r",
        300.0,
        json!({"offers": [
        {"id": "o", "title": "Holiday lunch", "audience": {"trip": ["vacation"]}}]}),
    )];
    let mut sim = Sim::consenting(&f, json!({}));
    sim.context(json!({"hungry": true}), &tm(-10));
    sim.context(json!({"trip": "vacation"}), &tm(-5));
    assert!(sim.still(T0).is_some());
}

#[test]
fn null_clears_only_the_field_it_names() {
    let f = [restaurant(
        "r",
        300.0,
        json!({"offers": [
        {"id": "o", "title": "Holiday lunch", "audience": {"trip": ["vacation"]}}]}),
    )];
    let mut sim = Sim::consenting(&f, json!({}));
    sim.context(json!({"hungry": true, "trip": "vacation"}), &tm(-10));
    sim.context(json!({"trip": null}), &tm(-5));
    assert!(sim.still(T0).is_none());
}

// ------------------------------------------------------------------------- triggers

#[test]
fn context_profile_and_feedback_never_trigger_a_suggestion() {
    let mut sim = Sim::new(&[restaurant("r", 300.0, json!({}))]);
    sim.at(ANNECY, json!({}), &t(-10));
    assert!(sim
        .send("profile", &json!({"consent": true}), &t(-5))
        .is_empty());
    assert!(sim.send("context", &json!({"hungry": true}), T0).is_empty());
    let fb = json!({"merchant": "x", "action": "accepted"});
    assert!(sim.send("feedback", &fb, &t(5)).is_empty());
    assert!(sim.still(&t(10)).is_some(), "the next position does");
}

// ------------------------------------------------------------------------- ask

#[test]
fn ask_is_answered_with_a_suggestion() {
    let mut sim = Sim::consenting(&museums(1), json!({"quiet_hours": "00:00-23:59"}));
    sim.at(ANNECY, json!({}), T0);
    assert_eq!(merchant(&sim.ask(json!({}), &t(5))).as_deref(), Some("m1"));
}

#[test]
fn ask_without_consent_answers_no_consent() {
    let mut sim = Sim::new(&museums(1));
    sim.at(ANNECY, json!({}), T0);
    assert_eq!(
        none_reason(&sim.ask(json!({}), &t(5))).as_deref(),
        Some("no_consent")
    );
    sim.profile(json!({"consent": false}));
    assert_eq!(
        none_reason(&sim.ask(json!({}), &t(5))).as_deref(),
        Some("no_consent")
    );
}

#[test]
fn ask_without_position_answers_no_position() {
    let mut sim = Sim::consenting(&museums(1), json!({}));
    assert_eq!(
        none_reason(&sim.ask(json!({}), T0)).as_deref(),
        Some("no_position")
    );
}

#[test]
fn ask_with_an_old_position_answers_stale_position() {
    let mut sim = Sim::consenting(&museums(1), json!({"quiet_hours": "00:00-23:59"}));
    sim.at(ANNECY, json!({}), T0);
    let out = sim.ask(json!({}), &tm(3));
    assert_eq!(none_reason(&out).as_deref(), Some("stale_position"));
}

#[test]
fn ask_two_hours_after_the_last_position_answers_no_position() {
    // SPEC (Privacy): the last position is forgotten after 2 h without news, so
    // kairos has no position at all then, rather than a stale one.
    let mut sim = Sim::consenting(&museums(1), json!({"quiet_hours": "00:00-23:59"}));
    sim.at(ANNECY, json!({}), T0);
    let out = sim.ask(json!({}), &tm(120));
    assert_eq!(none_reason(&out).as_deref(), Some("no_position"));
}

#[test]
fn ask_with_nothing_around_answers_nothing_fits() {
    let mut sim = Sim::consenting(&[museum("far", 5_000.0)], json!({}));
    sim.at(ANNECY, json!({}), T0);
    assert_eq!(
        none_reason(&sim.ask(json!({}), &t(5))).as_deref(),
        Some("nothing_fits")
    );
}

#[test]
fn ask_ignores_the_gap() {
    let mut sim = after_first(json!({}));
    assert_eq!(merchant(&sim.ask(json!({}), &t(60))).as_deref(), Some("m2"));
}

#[test]
fn ask_ignores_the_daily_cap() {
    let mut sim = after_first(json!({"max_per_day": 1}));
    assert!(sim.still(&tm(40)).is_none());
    assert_eq!(
        merchant(&sim.ask(json!({}), &t(40 * 60 + 5))).as_deref(),
        Some("m2")
    );
}

#[test]
fn ask_ignores_quiet_hours() {
    let mut sim = Sim::consenting(&museums(1), json!({"quiet_hours": "13:00-15:00"}));
    assert!(sim.still(T0).is_none());
    assert_eq!(merchant(&sim.ask(json!({}), &t(5))).as_deref(), Some("m1"));
}

#[test]
fn ask_never_repeats_an_offer_within_24_hours() {
    let mut sim = Sim::consenting(&museums(1), json!({}));
    assert!(sim.still(T0).is_some());
    assert_eq!(
        none_reason(&sim.ask(json!({}), &t(5))).as_deref(),
        Some("nothing_fits")
    );
}

#[test]
fn ask_never_offers_a_dismissed_offer() {
    let mut sim = Sim::consenting(&museums(1), json!({}));
    let first = sim.still(T0).unwrap();
    feedback(
        &mut sim,
        json!({"suggestion": first.id, "action": "dismissed"}),
    );
    sim.at(ANNECY, json!({}), &tm(25 * 60));
    let out = sim.ask(json!({}), &t(25 * 3600 + 5));
    assert_eq!(none_reason(&out).as_deref(), Some("nothing_fits"));
}

#[test]
fn ask_still_follows_the_eligibility_rules() {
    // Not hungry, so the restaurant does not fit even when asked.
    let mut sim = Sim::consenting(&[restaurant("r", 300.0, json!({}))], json!({}));
    sim.at(ANNECY, json!({}), T0);
    assert_eq!(
        none_reason(&sim.ask(json!({}), &t(5))).as_deref(),
        Some("nothing_fits")
    );
}

#[test]
fn ask_fields_merge_into_the_context() {
    let mut sim = Sim::consenting(
        &[restaurant("r", 300.0, json!({})), museum("m", 600.0)],
        json!({"quiet_hours": "13:00-15:00"}),
    );
    sim.at(ANNECY, json!({}), T0);
    assert_eq!(
        merchant(&sim.ask(json!({"hungry": true}), &t(5))).as_deref(),
        Some("r")
    );
    // The hunger stays in the context for later events.
    let mut sim = Sim::consenting(&[restaurant("r", 300.0, json!({}))], json!({}));
    let out = sim.ask(json!({"hungry": true}), &tm(-5));
    assert_eq!(none_reason(&out).as_deref(), Some("no_position"));
    assert!(sim.still(T0).is_some(), "hungry came with the ask");
}

#[test]
fn an_answer_to_ask_counts_towards_the_gap() {
    let mut sim = after_first(json!({}));
    assert!(sim.still(&t(15 * 60 - 5)).is_none(), "within the gap");
    assert_eq!(
        merchant(&sim.ask(json!({}), &tm(15))).as_deref(),
        Some("m2")
    );
    // 31 min after m1 but only 16 after the answer to `ask`.
    assert!(sim.still(&tm(31)).is_none());
    assert_eq!(
        sim.still(&tm(45)).map(|s| s.merchant.id).as_deref(),
        Some("m3")
    );
}

#[test]
fn an_answer_to_ask_counts_towards_the_daily_cap() {
    let profile = json!({"max_per_day": 1, "quiet_hours": "13:00-15:00"});
    let mut sim = Sim::consenting(&museums(3), profile);
    sim.at(ANNECY, json!({}), T0);
    assert!(merchant(&sim.ask(json!({}), &t(5))).is_some());
    // Quiet hours are over at 15:30, but the answer used the day's only slot.
    assert!(sim.still(&tm(90)).is_none());
}

#[test]
fn an_answer_to_ask_is_not_repeated_within_24_hours() {
    let mut sim = Sim::consenting(&museums(1), json!({"quiet_hours": "13:00-15:00"}));
    sim.at(ANNECY, json!({}), T0);
    assert!(merchant(&sim.ask(json!({}), &t(5))).is_some());
    assert!(sim.still(&tm(90)).is_none());
}

#[test]
fn a_nothing_answer_does_not_count_towards_the_gap() {
    let mut sim = Sim::consenting(&museums(1), json!({}));
    assert_eq!(
        none_reason(&sim.ask(json!({}), T0)).as_deref(),
        Some("no_position")
    );
    assert!(sim.still(&t(10)).is_some());
}

// ----------------------------------------------------------------------- forget

#[test]
fn forget_publishes_the_empty_retained_profile() {
    let mut sim = Sim::consenting(&museums(1), json!({}));
    let out = sim.send("forget", &json!({}), T0);
    let published = publishes(&out);
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].topic, "kairos/car-42/profile");
    assert!(published[0].retain);
    assert_eq!(published[0].body, kairos::output::Body::Empty);
    assert!(published[0].body.to_bytes().is_empty());
}

#[test]
fn forget_accepts_any_payload() {
    let mut sim = Sim::consenting(&museums(1), json!({}));
    let topic = sim.topic("forget");
    let out = sim.raw(&topic, b"please forget me", T0);
    assert_eq!(publishes(&out)[0].body, kairos::output::Body::Empty);
}

#[test]
fn forget_erases_the_profile() {
    let mut sim = Sim::consenting(&museums(1), json!({}));
    sim.send("forget", &json!({}), &t(-10));
    assert!(sim.still(T0).is_none());
}

#[test]
fn forget_erases_everything_held_about_the_device() {
    let mut sim = Sim::consenting(&museums(1), json!({}));
    sim.context(json!({"hungry": true}), &t(-30));
    let first = sim.still(T0).unwrap();
    feedback(
        &mut sim,
        json!({"merchant": "x", "action": "block_merchant"}),
    );
    sim.send("forget", &json!({}), &tm(2));
    if let Some(d) = sim.engine.device(DEV) {
        assert!(d.profile.is_none() && d.position.is_none() && d.history.is_empty());
        assert!(d.blocked.is_empty() && d.dismissed.is_empty());
        assert_eq!(d.context, Default::default());
    }
    // The old suggestion is unknown now, and the offer may come again at once.
    let fb = json!({"suggestion": first.id, "action": "dismissed"});
    assert_eq!(
        error_code(&sim.send("feedback", &fb, &tm(3))),
        Some("unknown_suggestion")
    );
    sim.profile(json!({"consent": true}));
    assert_eq!(
        sim.still(&tm(4)).map(|s| s.merchant.id).as_deref(),
        Some("m1")
    );
}

#[test]
fn forget_lifts_dismissals_and_blocks() {
    let mut sim = Sim::consenting(&museums(1), json!({}));
    feedback(
        &mut sim,
        json!({"merchant": "m1", "action": "block_merchant"}),
    );
    assert!(sim.still(T0).is_none());
    sim.send("forget", &json!({}), &t(5));
    sim.send("profile", &json!({"consent": true}), &t(6));
    assert!(sim.still(&t(10)).is_some());
}

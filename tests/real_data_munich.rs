//! A real drive through Munich against the real Munich merchants, every
//! suggestion refereed rule by rule from the merchant's own tags.
//!
//! The merchants come from `$KAIROS_DATA_DIR/osm/munchen-2020.osm.pbf` and the
//! drive (20 minutes at 1 Hz, 2014) from
//! `$KAIROS_DATA_DIR/traces/munich-drive/x0001-001.json`, both imported with
//! kairos's own importers, the drive shifted to the days and hours each test
//! names. The trace is replayed with `kairos::replay::replay`, and the referee
//! in `support/referee.rs` checks each suggestion independently of kairos's
//! code: consent, hunger and diets, opening hours at arrival (the
//! `opening-hours` crate, Europe/Berlin, German holidays), reach, cone and side
//! (own great-circle formulas), dislikes, gap, daily cap, no repeat within
//! 24 h, and the message text. A replay that suggests nothing fails, so no test
//! passes vacuously.

mod support;

use support::real_data;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration};
use serde_json::{json, Value};

use kairos::import::trace_log::TraceOptions;
use real_data::{
    data, import_merchants, import_trace, merge, referee, replay, replay_and_referee_all, Verdict,
};

/// The Munich merchants, imported into `dir`; returns the offer file and its JSON.
fn munich_merchants(dir: &Path) -> (std::path::PathBuf, Value) {
    let offers = dir.join("munich.geojson");
    import_merchants(&data("osm/munchen-2020.osm.pbf"), &offers);
    let json = serde_json::from_str(&std::fs::read_to_string(&offers).unwrap()).unwrap();
    (offers, json)
}

/// The Munich drive log (barefoot JSON).
fn the_drive() -> PathBuf {
    data("traces/munich-drive/x0001-001.json")
}

/// The same road driven the other way: the log's points in reverse order at
/// its own times, written into `dir` (the drive leaves the centre westwards;
/// the way back heads into it, with merchants ahead most of the time).
fn the_drive_back(dir: &Path) -> PathBuf {
    let path = dir.join("x0001-001-back.json");
    if !path.exists() {
        let fixes: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(the_drive()).unwrap()).unwrap();
        let back: Vec<Value> = fixes
            .iter()
            .zip(fixes.iter().rev())
            .map(|(when, at)| json!({"point": at["point"], "time": when["time"], "id": "back"}))
            .collect();
        std::fs::write(&path, Value::Array(back).to_string()).unwrap();
    }
    path
}

/// A drive log as `device`, starting at `start`, with a profile and a context
/// published at its first fix.
fn drive(
    dir: &Path,
    log: &Path,
    device: &str,
    start: &str,
    profile: &Value,
    context: &Value,
) -> Vec<Value> {
    let out = dir.join(format!("{device}-{}.jsonl", start.replace(':', "")));
    let options = TraceOptions {
        device: Some(device.to_string()),
        start: Some(DateTime::parse_from_rfc3339(start).unwrap()),
        profile: Some(profile.clone()),
        context: Some(context.clone()),
    };
    import_trace(log, &out, &options)
}

/// The drive out at `start` and back 25 minutes later, as one trace.
fn round_trip(
    dir: &Path,
    device: &str,
    start: &str,
    profile: &Value,
    context: &Value,
) -> Vec<Value> {
    let back_at =
        (DateTime::parse_from_rfc3339(start).unwrap() + Duration::minutes(25)).to_rfc3339();
    merge(vec![
        drive(dir, &the_drive(), device, start, profile, context),
        drive(
            dir,
            &the_drive_back(dir),
            device,
            &back_at,
            profile,
            context,
        ),
    ])
}

/// Replays `lines` over the Munich merchants and referees every suggestion;
/// fails on error lines, a replay log, a broken rule or no suggestion at all.
fn replay_and_referee(what: &str, dir: &Path, lines: &[Value]) -> Verdict {
    let (offers, offer_json) = munich_merchants(dir);
    let (replayed, verdict) = replay_and_referee_all(what, &offers, &offer_json, lines);
    eprintln!(
        "{what}: {} suggestions checked ({} at food places) over {} events; per device {:?}",
        verdict.checked, verdict.food, replayed.events, verdict.per_device
    );
    verdict
}

#[test]
fn a_hungry_vegetarian_driving_through_munich_at_lunch_hears_only_what_fits() {
    if support::data::real_dir().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let lines = drive(
        dir.path(),
        &the_drive(),
        "munich-car",
        "2026-07-15T12:00:00+02:00",
        &json!({"consent": true, "diet": ["vegetarian"]}),
        &json!({"hungry": true}),
    );
    let verdict = replay_and_referee("lunch drive", dir.path(), &lines);
    // The default gap is 30 min and the drive lasts 20: exactly one.
    assert_eq!(verdict.checked, 1);
}

#[test]
fn a_french_speaker_with_likes_and_dislikes_hears_only_what_fits() {
    if support::data::real_dir().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let profile = json!({
        "consent": true,
        "diet": ["vegetarian"],
        "lang": "fr",
        "likes": ["cuisine=italian", "amenity=cafe", "shop=books"],
        "dislikes": ["shop=clothes", "shop=shoes", "amenity=fast_food", "tourism=museum",
                     "cuisine=burger", "shop=jewelry", "shop=optician"],
        "min_gap_min": 10,
        "max_per_day": 5,
    });
    let lines = round_trip(
        dir.path(),
        "munich-fr",
        "2026-07-16T18:30:00+02:00",
        &profile,
        &json!({"hungry": true}),
    );
    let verdict = replay_and_referee("French evening round trip", dir.path(), &lines);
    assert!(verdict.checked >= 2, "{:?}", verdict.merchants);

    // The likes and dislikes were in play: without them, the same person on the
    // same road hears of something they dislike.
    let mut plain = profile.clone();
    plain
        .as_object_mut()
        .unwrap()
        .retain(|k, _| k != "likes" && k != "dislikes");
    let plain_lines = round_trip(
        dir.path(),
        "munich-fr",
        "2026-07-16T18:30:00+02:00",
        &plain,
        &json!({"hungry": true}),
    );
    let unfiltered = replay_and_referee("French round trip, no likes", dir.path(), &plain_lines);
    let (_, offer_json) = munich_merchants(dir.path());
    let places = real_data::places(&offer_json);
    let person = real_data::Person::from_payload(&profile);
    assert!(
        unfiltered
            .merchants
            .iter()
            .any(|m| !person.may_hear_of(&places[m], Some(true))),
        "without dislikes nothing disliked would have come up: {:?}",
        unfiltered.merchants
    );
    assert_ne!(unfiltered.merchants, verdict.merchants);
}

#[test]
fn on_whit_monday_night_only_places_still_open_are_suggested() {
    if support::data::real_dir().is_none() {
        return;
    }
    // Pfingstmontag, a national public holiday, at 21:40: most shops are shut
    // (and `PH off` applies), kitchens are closing.
    let dir = tempfile::tempdir().unwrap();
    let lines = round_trip(
        dir.path(),
        "munich-night",
        "2026-05-25T21:40:00+02:00",
        &json!({"consent": true, "diet": ["vegetarian"], "min_gap_min": 10}),
        &json!({"hungry": true}),
    );
    replay_and_referee("Whit Monday night drive", dir.path(), &lines);

    // Most merchants with opening hours (about 80%) are indeed closed then.
    let (_, offer_json) = munich_merchants(dir.path());
    let at = DateTime::parse_from_rfc3339("2026-05-25T22:00:00+02:00")
        .unwrap()
        .to_utc();
    let with_hours: Vec<bool> = real_data::places(&offer_json)
        .values()
        .filter_map(|p| {
            let hours = p.tag("opening_hours")?;
            Some(real_data::hours_state_in_germany(&hours, at, p) == opening_hours::RuleKind::Open)
        })
        .collect();
    let open = with_hours.iter().filter(|o| **o).count();
    assert!(
        open * 4 < with_hours.len(),
        "{open} of {} merchants with hours open at 22:00 on Whit Monday",
        with_hours.len()
    );
}

#[test]
fn the_drive_at_every_hour_of_a_day_and_a_commuter_on_two_days_respect_every_rule() {
    if support::data::real_dir().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut traces = Vec::new();
    // 24 drivers, one per hour of a Saturday, each a hungry vegetarian (10 min gap).
    for hour in 0..24 {
        traces.push(round_trip(
            dir.path(),
            &format!("munich-h{hour:02}"),
            &format!("2026-07-18T{hour:02}:05:00+02:00"),
            &json!({"consent": true, "diet": ["vegetarian"], "min_gap_min": 10}),
            &json!({"hungry": true}),
        ));
    }
    // One commuter drives the same round trip six times over two days, with the
    // default cap of 3 a day: the cap and the 24 h no-repeat rule bind.
    for start in [
        "2026-07-15T07:00:00+02:00",
        "2026-07-15T08:00:00+02:00",
        "2026-07-15T12:00:00+02:00",
        "2026-07-15T18:00:00+02:00",
        "2026-07-16T07:10:00+02:00",
        "2026-07-16T12:00:00+02:00",
    ] {
        traces.push(round_trip(
            dir.path(),
            "munich-commuter",
            start,
            &json!({"consent": true, "min_gap_min": 10}),
            &json!({"hungry": false}),
        ));
    }
    let lines = merge(traces);
    let verdict = replay_and_referee("a day of drives", dir.path(), &lines);
    let commuter = verdict
        .per_device
        .get("munich-commuter")
        .copied()
        .unwrap_or(0);
    assert!(
        (3..=6).contains(&commuter),
        "at most 3 a day over two days: {commuter}"
    );
    assert!(verdict.per_device.len() > 12, "{:?}", verdict.per_device);
}

/// One way to alter a replay's outputs.
type Tamper = Box<dyn Fn(&mut Vec<Value>)>;

/// The referee is not a rubber stamp: the lunch drive's real suggestion, altered
/// one way at a time, is caught by the rule it breaks.
#[test]
fn the_referee_catches_suggestions_that_break_a_rule() {
    if support::data::real_dir().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let lines = drive(
        dir.path(),
        &the_drive(),
        "munich-car",
        "2026-07-15T12:00:00+02:00",
        &json!({"consent": true, "diet": ["vegetarian"]}),
        &json!({"hungry": true}),
    );
    let (offers, offer_json) = munich_merchants(dir.path());
    let real = replay(&offers, &lines).outputs;
    assert_eq!(real.len(), 1);
    assert!(referee(&offer_json, &lines, &real).violations.is_empty());
    let places = real_data::places(&offer_json);
    let suggestion = &real[0]["payload"];
    let at = real_data::line_time(&real[0]);
    let arrival = at + Duration::seconds(suggestion["eta_s"].as_i64().unwrap());
    let pick = |wanted: &dyn Fn(&real_data::Place) -> bool| {
        let mut ids: Vec<&String> = places.keys().filter(|id| wanted(&places[*id])).collect();
        ids.sort();
        ids[0].clone()
    };
    let meat =
        pick(&|p| p.tag("amenity").as_deref() == Some("restaurant") && !p.serves("vegetarian"));
    let closed = pick(&|p| {
        !p.is_food_place()
            && p.tag("opening_hours").is_some_and(|h| {
                real_data::hours_state_in_germany(&h, arrival, p) != opening_hours::RuleKind::Open
            })
    });
    // A farther place that would fit as well: choosing it loses the ranking.
    let position = &lines
        .iter()
        .find(|l| l["at"] == real[0]["at"] && l["topic"].as_str().unwrap().ends_with("/position"))
        .unwrap()["payload"];
    let here = (
        position["lat"].as_f64().unwrap(),
        position["lon"].as_f64().unwrap(),
    );
    let heading = position["heading"].as_f64().unwrap();
    let chosen_m = suggestion["distance_m"].as_f64().unwrap();
    let farther = pick(&|p| {
        let there = (p.lat, p.lon);
        let d = real_data::distance_m(here, there);
        !p.is_food_place()
            && p.tag("opening_hours").is_none()
            && d > chosen_m + 100.0
            && d < 3_000.0
            && real_data::angle_between(real_data::bearing_deg(here, there), heading) < 50.0
    });
    // A position 5 minutes after the suggestion, for a second one too soon.
    let later = lines
        .iter()
        .find(|l| {
            l["topic"].as_str().unwrap().ends_with("/position")
                && real_data::line_time(l) >= at + Duration::minutes(5)
        })
        .unwrap()["at"]
        .clone();

    let cases: Vec<(&str, Tamper)> = vec![
        (
            "rule 2",
            Box::new(move |o: &mut Vec<Value>| o[0]["payload"]["merchant"]["id"] = json!(meat)),
        ),
        (
            "rule 3",
            Box::new(move |o: &mut Vec<Value>| o[0]["payload"]["merchant"]["id"] = json!(closed)),
        ),
        (
            "ranking",
            Box::new(move |o: &mut Vec<Value>| o[0]["payload"]["merchant"]["id"] = json!(farther)),
        ),
        (
            "distance_m",
            Box::new(|o: &mut Vec<Value>| {
                let d = o[0]["payload"]["distance_m"].as_u64().unwrap();
                o[0]["payload"]["distance_m"] = json!(d + 3);
            }),
        ),
        (
            "rule 4: side",
            Box::new(|o: &mut Vec<Value>| o[0]["payload"]["side"] = json!("right")),
        ),
        (
            "message",
            Box::new(|o: &mut Vec<Value>| {
                let m = o[0]["payload"]["message"]
                    .as_str()
                    .unwrap()
                    .replace("km", "m");
                o[0]["payload"]["message"] = json!(m);
            }),
        ),
        (
            "min_gap_min",
            Box::new(move |o: &mut Vec<Value>| {
                let mut again = o[0].clone();
                again["at"] = later.clone();
                again["payload"]["at"] = later.clone();
                o.push(again);
            }),
        ),
    ];
    for (rule, tamper) in cases {
        let mut outputs = real.clone();
        tamper(&mut outputs);
        let verdict = referee(&offer_json, &lines, &outputs);
        assert!(
            verdict.violations.iter().any(|v| v.contains(rule)),
            "tampering for {rule:?} went unnoticed: {:?}",
            verdict.violations
        );
    }
    let mut no_consent = lines.clone();
    no_consent[0]["payload"]["consent"] = json!(false);
    assert!(referee(&offer_json, &no_consent, &real)
        .violations
        .iter()
        .any(|v| v.contains("rule 1")));
}

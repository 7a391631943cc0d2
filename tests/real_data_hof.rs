//! All 263 real Hof floating-car tracks replayed with several kinds of people in
//! the cars, each device's suggestions refereed against its own settings.
//!
//! The tracks come from `$KAIROS_DATA_DIR/traces/hof-floating-car/points.csv`,
//! imported with kairos's importer and `--device hof` (`hof-0` … `hof-262`).
//!
//! **Merchants.** The shared data has no extract of Hof, so the test uses the
//! real Munich merchants (`osm/munchen-2020.osm.pbf`, imported with kairos's
//! importer) **translated** so that their centroid (the mean of their
//! coordinates) lies on the centroid of the Hof tracks' positions: every
//! merchant moves by the same Δlat and Δlon, in degrees, keeping its tags
//! (names, diets, opening hours) and its place relative to the others. Both
//! towns are in Germany, so the merchants keep their time zone
//! (Europe/Berlin) and public-holiday calendar.
//!
//! Two replays: the 263 tracks as 263 devices (one person per car, six kinds
//! of profile by track number), and the same tracks shared by four "fleet"
//! devices over nine months, so that gaps, daily caps, the 24 h no-repeat rule
//! and quiet hours bind. Each asserts: nothing without consent, no error line,
//! no replay log, every suggestion passes the referee of `support/referee.rs`
//! (including gap, cap, no-repeat and quiet hours with the device's own
//! settings, gap floor 10 min), and some suggestions are made.

mod support;

use support::real_data;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use kairos::import::trace_log::TraceOptions;
use real_data::{
    data, import_merchants, import_trace, line_time, replay_and_referee_all, topic_device, Person,
    Verdict,
};

/// The Hof tracks, one device per track, positions only.
fn hof_positions(dir: &Path) -> Vec<Value> {
    let options = TraceOptions {
        device: Some("hof".into()),
        ..TraceOptions::default()
    };
    let lines = import_trace(
        &data("traces/hof-floating-car/points.csv"),
        &dir.join("hof.jsonl"),
        &options,
    );
    let devices: HashSet<String> = lines.iter().map(topic_device).collect();
    assert_eq!(devices.len(), 263, "every Hof track is a device");
    lines
}

/// The mean (lat, lon) of some points.
fn centroid(points: impl Iterator<Item = (f64, f64)>) -> (f64, f64) {
    let (mut lat, mut lon, mut n) = (0.0, 0.0, 0.0);
    for (a, b) in points {
        lat += a;
        lon += b;
        n += 1.0;
    }
    (lat / n, lon / n)
}

/// The Munich merchants translated onto the Hof tracks' centroid; returns the
/// offer file and its JSON.
fn merchants_moved_to_hof(dir: &Path, hof: &[Value]) -> (PathBuf, Value) {
    let munich = dir.join("munich.geojson");
    import_merchants(&data("osm/munchen-2020.osm.pbf"), &munich);
    let mut offers: Value =
        serde_json::from_str(&std::fs::read_to_string(&munich).unwrap()).unwrap();
    let features = offers["features"].as_array_mut().unwrap();
    let coords = |f: &Value| {
        let c = &f["geometry"]["coordinates"];
        (c[1].as_f64().unwrap(), c[0].as_f64().unwrap())
    };
    let from = centroid(features.iter().map(coords));
    let to = centroid(hof.iter().map(|l| {
        (
            l["payload"]["lat"].as_f64().unwrap(),
            l["payload"]["lon"].as_f64().unwrap(),
        )
    }));
    for feature in features.iter_mut() {
        let (lat, lon) = coords(feature);
        feature["geometry"]["coordinates"] = json!([lon + to.1 - from.1, lat + to.0 - from.0]);
    }
    let moved = centroid(features.iter().map(coords));
    assert!((moved.0 - to.0).abs() < 1e-9 && (moved.1 - to.1).abs() < 1e-9);
    let path = dir.join("hof-merchants.geojson");
    std::fs::write(&path, offers.to_string()).unwrap();
    (path, offers)
}

/// A profile line and a context line for `device` at `at` (before its position).
fn person_lines(device: &str, at: &str, profile: Option<&Value>, context: &Value) -> Vec<Value> {
    let mut lines = Vec::new();
    if let Some(profile) = profile {
        lines.push(
            json!({"at": at, "topic": format!("kairos/{device}/profile"), "payload": profile}),
        );
    }
    lines.push(json!({"at": at, "topic": format!("kairos/{device}/context"), "payload": context}));
    lines
}

/// `lines` with each position moved to the device `rename(track)`, a person
/// (profile, context) published before each track's first fix, and positions
/// that would not be strictly later than the device's previous one dropped
/// (fleet devices drive overlapping tracks).
fn with_people(
    positions: &[Value],
    rename: impl Fn(&str) -> String,
    person: impl Fn(&str) -> (Option<Value>, Value),
) -> Vec<Value> {
    let mut out = Vec::new();
    let mut started: HashSet<String> = HashSet::new();
    let mut last: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    for line in positions {
        let track = topic_device(line);
        let device = rename(&track);
        let at = line_time(line);
        if last.get(&device).is_some_and(|l| *l >= at) {
            continue;
        }
        last.insert(device.clone(), at);
        let at_text = line["at"].as_str().unwrap();
        if started.insert(track.clone()) {
            let (profile, context) = person(&device);
            out.extend(person_lines(&device, at_text, profile.as_ref(), &context));
        }
        let mut moved = line.clone();
        moved["topic"] = json!(format!("kairos/{device}/position"));
        out.push(moved);
    }
    out
}

/// Replays, checks there are no errors, referees, and returns the verdict.
fn replay_and_referee(what: &str, offers: &Path, offer_json: &Value, lines: &[Value]) -> Verdict {
    let (replayed, verdict) = replay_and_referee_all(what, offers, offer_json, lines);
    eprintln!(
        "{what}: {} suggestions checked ({} at food places) over {} events, {} devices suggested to",
        verdict.checked,
        verdict.food,
        replayed.events,
        verdict.per_device.len()
    );
    verdict
}

/// The profile of a one-car person, by track number.
fn person_for_track(n: usize) -> (Option<Value>, Value) {
    let hungry = json!({"hungry": true});
    match n % 6 {
        0 => (
            Some(json!({"consent": false, "diet": ["vegetarian"]})),
            hungry,
        ),
        1 => (None, hungry),
        2 => (
            Some(json!({"consent": true, "diet": ["vegetarian"]})),
            hungry,
        ),
        3 => (
            Some(
                json!({"consent": true, "diet": ["gluten_free"], "min_gap_min": 10, "max_per_day": 5}),
            ),
            hungry,
        ),
        4 => (
            Some(
                json!({"consent": true, "lang": "fr", "quiet_hours": "11:00-15:00", "min_gap_min": 3}),
            ),
            json!({"hungry": false}),
        ),
        _ => (
            Some(
                json!({"consent": true, "quiet_hours": "16:00-08:30", "dislikes": ["shop=bakery"]}),
            ),
            hungry,
        ),
    }
}

/// How many positions of `device` fall in `quiet` (Europe/Berlin).
fn positions_in_quiet_hours(lines: &[Value], device: &str, quiet: &str) -> usize {
    let person = Person::from_payload(&json!({"quiet_hours": quiet}));
    lines
        .iter()
        .filter(|l| {
            topic_device(l) == device && l["topic"].as_str().unwrap().ends_with("/position")
        })
        .filter(|l| person.is_quiet_at(line_time(l)))
        .count()
}

fn track_number(device: &str) -> usize {
    device.trim_start_matches("hof-").parse().expect("hof-<n>")
}

fn without_consent(n: usize) -> bool {
    n % 6 < 2
}

#[test]
fn every_hof_car_with_its_own_person_hears_only_what_fits() {
    if support::data::real_dir().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let positions = hof_positions(dir.path());
    let (offers, offer_json) = merchants_moved_to_hof(dir.path(), &positions);
    let lines = with_people(&positions, str::to_string, |d| {
        person_for_track(track_number(d))
    });
    let verdict = replay_and_referee("263 Hof cars", &offers, &offer_json, &lines);
    for device in verdict.per_device.keys() {
        assert!(
            !without_consent(track_number(device)),
            "{device} has no consent yet was suggested something"
        );
    }
    assert!(verdict.per_device.len() >= 20, "{:?}", verdict.per_device);
    let quiet_positions: usize = (0..263)
        .filter(|n| n % 6 == 4)
        .map(|n| positions_in_quiet_hours(&lines, &format!("hof-{n}"), "11:00-15:00"))
        .sum::<usize>()
        + (0..263)
            .filter(|n| n % 6 == 5)
            .map(|n| positions_in_quiet_hours(&lines, &format!("hof-{n}"), "16:00-08:30"))
            .sum::<usize>();
    assert!(
        quiet_positions > 500,
        "quiet hours are in play: {quiet_positions} positions"
    );
}

#[test]
fn four_fleet_cars_driving_every_hof_track_over_nine_months_respect_their_settings() {
    if support::data::real_dir().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let positions = hof_positions(dir.path());
    let (offers, offer_json) = merchants_moved_to_hof(dir.path(), &positions);
    let fleet = |track: &str| format!("fleet-{}", track_number(track) % 4);
    let person = |device: &str| match device {
        "fleet-0" => (
            Some(json!({"consent": true, "diet": ["vegetarian"]})),
            json!({"hungry": true}),
        ),
        "fleet-1" => (
            Some(
                json!({"consent": true, "diet": ["gluten_free"], "min_gap_min": 10, "max_per_day": 5}),
            ),
            json!({"hungry": true}),
        ),
        "fleet-2" => (
            Some(
                json!({"consent": true, "min_gap_min": 1, "max_per_day": 2, "quiet_hours": "07:00-10:30", "lang": "fr"}),
            ),
            json!({"hungry": false}),
        ),
        _ => (Some(json!({"consent": false})), json!({"hungry": true})),
    };
    let lines = with_people(&positions, fleet, person);
    let verdict = replay_and_referee("Hof fleet", &offers, &offer_json, &lines);
    assert!(
        !verdict.per_device.contains_key("fleet-3"),
        "fleet-3 never consented"
    );
    // The devices' own settings were in play, not the defaults.
    let within = |device: &str, span: Duration| {
        let times = &verdict.times[device];
        times
            .iter()
            .map(|t| {
                times
                    .iter()
                    .filter(|u| **u <= *t && *t - **u < span)
                    .count()
            })
            .max()
            .unwrap_or(0)
    };
    let shortest_gap = |device: &str| {
        verdict.times[device]
            .windows(2)
            .map(|w| w[1] - w[0])
            .min()
            .unwrap_or(Duration::MAX)
    };
    assert!(
        shortest_gap("fleet-1") < Duration::minutes(30),
        "fleet-1's 10 min gap is used"
    );
    assert!(
        within("fleet-1", Duration::hours(24)) > 3,
        "fleet-1's cap of 5 is used"
    );
    assert!(
        shortest_gap("fleet-2") < Duration::minutes(30),
        "fleet-2's gap, floored at 10 min, is used"
    );
    assert!(
        positions_in_quiet_hours(&lines, "fleet-2", "07:00-10:30") > 100,
        "fleet-2 drives in its quiet hours"
    );
    for device in ["fleet-0", "fleet-1", "fleet-2"] {
        assert!(
            verdict.per_device.get(device).is_some_and(|n| *n > 3),
            "{device} drives every fourth track for nine months: {:?}",
            verdict.per_device
        );
    }
}

//! `kairos import trace` on the real shared logs (`$KAIROS_DATA_DIR/traces`):
//! devices and line counts, times in order, plausible headings and speeds, and
//! a real Munich drive replayed against real Munich merchants.

mod support;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::Path;

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use support::data::real_path as data;

use support::bin::kairos;

/// Imports a log with extra flags; returns its lines and stderr.
fn import(input: &Path, flags: &[&str], dir: &Path) -> (Vec<Value>, String) {
    let out = dir.join("trace.jsonl");
    let mut args: Vec<&OsStr> = vec![
        "import".as_ref(),
        "trace".as_ref(),
        input.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ];
    args.extend(flags.iter().map(|f| OsStr::new(*f)));
    let result = kairos(&args);
    let stderr = String::from_utf8_lossy(&result.stderr).into_owned();
    assert!(result.status.success(), "import {input:?}: {stderr}");
    let lines = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (lines, stderr)
}

fn at(line: &Value) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(line["at"].as_str().unwrap()).unwrap()
}

fn device(line: &Value) -> &str {
    line["topic"].as_str().unwrap().split('/').nth(1).unwrap()
}

/// Checks the trace's invariants and returns the positions per device.
fn positions_by_device(lines: &[Value]) -> BTreeMap<String, Vec<&Value>> {
    let mut by_device: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for pair in lines.windows(2) {
        assert!(at(&pair[0]) <= at(&pair[1]), "out of order: {pair:?}");
    }
    for line in lines {
        let topic = line["topic"].as_str().unwrap();
        if !topic.ends_with("/position") {
            continue;
        }
        let payload = &line["payload"];
        assert_eq!(payload["ts"], line["at"]);
        if let Some(heading) = payload.get("heading") {
            let heading = heading.as_f64().unwrap();
            assert!((0.0..360.0).contains(&heading), "{line}");
        }
        if let Some(speed) = payload.get("speed") {
            let speed = speed.as_f64().unwrap();
            assert!((0.0..=70.0).contains(&speed), "{line}");
        }
        by_device.entry(device(line).into()).or_default().push(line);
    }
    for positions in by_device.values() {
        for pair in positions.windows(2) {
            assert!(at(pair[0]) < at(pair[1]), "not increasing: {pair:?}");
        }
    }
    by_device
}

#[test]
fn the_hof_fleet_becomes_one_device_per_car_merged_in_time_order() {
    if support::data::real_dir().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (lines, stderr) = import(
        &data("traces/hof-floating-car/points.csv"),
        &["--device", "hof"],
        dir.path(),
    );
    let by_device = positions_by_device(&lines);
    assert_eq!(by_device.len(), 263);
    assert!(by_device.keys().all(|d| d.starts_with("hof-")));
    assert!(by_device.contains_key("hof-0") && by_device.contains_key("hof-262"));
    // 14,651 points less duplicates at the same second and GPS jumps.
    assert!((14_000..14_651).contains(&lines.len()), "{}", lines.len());
    assert!(lines
        .iter()
        .all(|l| l["at"].as_str().unwrap().ends_with('Z')));
    let with_speed = lines
        .iter()
        .filter_map(|l| l["payload"].get("speed").and_then(Value::as_f64))
        .collect::<Vec<_>>();
    let mean = with_speed.iter().sum::<f64>() / with_speed.len() as f64;
    assert!((3.0..25.0).contains(&mean), "mean speed {mean} m/s");
    assert!(
        stderr.contains("time not after the previous fix"),
        "{stderr}"
    );
    assert!(stderr.contains("positions of 263 devices"), "{stderr}");
}

#[test]
fn a_barefoot_drive_keeps_its_offset_and_gets_headings_once_moving() {
    if support::data::real_dir().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (lines, _) = import(&data("traces/munich-drive/x0001-001.json"), &[], dir.path());
    let by_device = positions_by_device(&lines);
    assert_eq!(by_device.len(), 1);
    assert!(by_device.contains_key("x0001-001"));
    assert!((1_150..=1_194).contains(&lines.len()), "{}", lines.len());
    assert_eq!(lines[0]["at"], "2014-09-10T06:54:07+02:00");
    assert!(lines[0]["payload"].get("heading").is_none());
    let headings = lines
        .iter()
        .filter(|l| l["payload"].get("heading").is_some())
        .count();
    assert!(headings > lines.len() / 2, "{headings} headings");
}

#[test]
fn a_gpx_drive_becomes_one_device_named_after_the_file() {
    if support::data::real_dir().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (lines, _) = import(
        &data("traces/gpx/around-visnjan-with-car.gpx"),
        &["--start", "2026-07-15T12:00:00+02:00"],
        dir.path(),
    );
    let by_device = positions_by_device(&lines);
    assert_eq!(by_device["around-visnjan-with-car"].len(), 104);
    assert_eq!(lines[0]["at"], "2026-07-15T12:00:00+02:00");
    // The log's 8 min 34 s, shifted whole.
    assert_eq!(lines[103]["at"], "2026-07-15T12:08:34+02:00");
}

#[test]
fn the_munich_drive_replays_against_munich_merchants_without_errors() {
    if support::data::real_dir().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let offers = dir.path().join("munich.geojson");
    let imported = kairos(&[
        "import".as_ref(),
        "osm".as_ref(),
        data("osm/munchen-2020.osm.pbf").as_os_str(),
        "--out".as_ref(),
        offers.as_os_str(),
    ]);
    assert!(imported.status.success());
    let (lines, _) = import(
        &data("traces/munich-drive/x0001-001.json"),
        &[
            "--device",
            "munich-car",
            "--start",
            "2026-07-15T12:00:00+02:00",
            "--profile",
            r#"{"consent": true, "diet": ["vegetarian"], "lang": "en"}"#,
            "--context",
            r#"{"hungry": true}"#,
        ],
        dir.path(),
    );
    assert_eq!(lines[0]["topic"], "kairos/munich-car/profile");
    assert_eq!(lines[1]["topic"], "kairos/munich-car/context");
    assert_eq!(lines[0]["at"], lines[2]["at"]);

    let trace = dir.path().join("trace.jsonl");
    let replay = kairos(&[
        "replay".as_ref(),
        "--offers".as_ref(),
        offers.as_os_str(),
        "--trace".as_ref(),
        trace.as_os_str(),
    ]);
    let stdout = String::from_utf8_lossy(&replay.stdout);
    let stderr = String::from_utf8_lossy(&replay.stderr);
    assert!(replay.status.success(), "{stderr}");
    assert!(stderr.contains(" 0 trace lines skipped"), "{stderr}");
    assert!(
        !stderr
            .lines()
            .any(|l| l.contains("skipped") && !l.starts_with("kairos: replay:")),
        "{stderr}"
    );
    let outputs: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        outputs
            .iter()
            .all(|o| !o["topic"].as_str().unwrap().ends_with("/error")),
        "{stdout}"
    );
    assert!(
        outputs
            .iter()
            .any(|o| o["topic"] == "kairos/munich-car/suggestion"),
        "a hungry vegetarian driving through Munich at noon hears of something: {stdout}"
    );
}

#[test]
fn a_device_name_kairos_cannot_use_is_refused() {
    if support::data::real_dir().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.jsonl");
    let result = kairos(&[
        "import".as_ref(),
        "trace".as_ref(),
        data("traces/gpx/around-visnjan-with-car.gpx").as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--device".as_ref(),
        "my car".as_ref(),
    ]);
    assert_eq!(result.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&result.stderr).contains("--device"));
    assert!(!out.exists());
}

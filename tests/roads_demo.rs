//! The road demo on its bundled data (`data/monaco/`: Monaco's real roads,
//! real restaurants, a drive on its streets): `kairos replay --roads` and the
//! live `kairos demo` (its embedded broker, real MQTT) tell the seed story by
//! road, and every by-road suggestion holds SPEC "Roads and routes":
//! - `distance_m` by road ≥ `straight_m`, and `straight_m` is the great
//!   circle from the position to the merchant;
//! - `eta_s` lies between the path at the fastest road's speed and at the
//!   slowest road's;
//! - `turn.side` is the way the drive itself turns there: the drive follows
//!   the fastest path to the restaurant, so its heading after `in_m` turns to
//!   that side of its heading before;
//! - the message is SPEC's sentence for those fields, in English and French.
//!
//! Without `--roads` the same drive gets the straight-line sentence and no
//! road field at all.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use kairos::geodesy::{distance_m, LatLon};
use kairos::serve::demo::{demo, DemoOptions};
use serde_json::Value;

/// No road of the bundled extract is slower than this (`maxspeed` ≥ 10,
/// living_street 10 km/h), in m/s.
const SLOWEST_MPS: f64 = 10.0 / 3.6;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/monaco")
        .join(name)
}

/// `kairos replay` of the bundled drive, with the bundled roads or without.
fn replay(roads: bool) -> Vec<Value> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kairos"));
    cmd.arg("replay")
        .arg("--offers")
        .arg(data("offers.geojson"))
        .arg("--trace")
        .arg(data("drive.jsonl"));
    if roads {
        cmd.arg("--roads").arg(data("monaco.roads"));
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The drive's lines, parsed.
fn drive() -> Vec<Value> {
    std::fs::read_to_string(data("drive.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The merchants' coordinates by id.
fn merchants() -> HashMap<String, LatLon> {
    let offers: Value =
        serde_json::from_str(&std::fs::read_to_string(data("offers.geojson")).unwrap()).unwrap();
    offers["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let c = &f["geometry"]["coordinates"];
            (
                f["properties"]["id"].as_str().unwrap().to_string(),
                LatLon::new(c[1].as_f64().unwrap(), c[0].as_f64().unwrap()),
            )
        })
        .collect()
}

/// SPEC "Messages": below 1 km in tens of metres, below 10 km one decimal
/// (`.0` dropped, French comma), whole km beyond.
fn distance_text(m: u64, french: bool) -> String {
    let text = if m < 1000 {
        format!("{} m", (m as f64 / 10.0).round() as u64 * 10)
    } else if m < 10_000 {
        let km = format!("{:.1}", m as f64 / 1000.0);
        format!("{} km", km.trim_end_matches(".0"))
    } else {
        format!("{} km", (m as f64 / 1000.0).round())
    };
    if french {
        text.replace('.', ",")
    } else {
        text
    }
}

/// SPEC "The turn": the sentence for a turn at the next junction (n = 1).
fn next_turn_sentence(title: &str, distance_m: u64, side: &str, lang: &str) -> String {
    let fr = lang == "fr";
    let d = distance_text(distance_m, fr);
    match (fr, side) {
        (false, _) => format!("{title} — {d}, next {side}"),
        (true, "right") => format!("{title} — à {d}, à la prochaine à droite"),
        (true, _) => format!("{title} — à {d}, à la prochaine à gauche"),
    }
}

fn position(line: &Value) -> (LatLon, f64) {
    let p = &line["payload"];
    (
        LatLon::new(p["lat"].as_f64().unwrap(), p["lon"].as_f64().unwrap()),
        p["heading"].as_f64().unwrap(),
    )
}

/// Signed change of heading, degrees in (−180, 180], positive to the right.
fn heading_change(from: f64, to: f64) -> f64 {
    let d = (to - from).rem_euclid(360.0);
    if d > 180.0 {
        d - 360.0
    } else {
        d
    }
}

/// Checks one by-road suggestion against the rules; returns its message.
fn check_by_road(s: &Value, drive: &[Value], merchants: &HashMap<String, LatLon>) -> String {
    let topic = s["topic"].as_str().unwrap();
    let device = topic.split('/').nth(1).unwrap();
    let p = &s["payload"];
    let reasons: Vec<&str> = p["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"by_road"), "{p}");
    // The device's positions from the one this suggestion answers on.
    let at = s["at"].as_str().unwrap();
    let mine: Vec<&Value> = drive
        .iter()
        .filter(|l| l["topic"] == format!("kairos/{device}/position"))
        .skip_while(|l| l["at"].as_str().unwrap() != at)
        .collect();
    let (here, _) = position(mine[0]);
    let merchant = merchants[p["merchant"]["id"].as_str().unwrap()];

    let distance = p["distance_m"].as_u64().unwrap();
    let straight = p["straight_m"].as_u64().unwrap();
    assert!(
        (straight as f64 - distance_m(here, merchant)).abs() <= 1.0,
        "straight_m {straight} is not the great circle {}",
        distance_m(here, merchant)
    );
    assert!(
        distance >= straight,
        "by road {distance} m < straight {straight} m"
    );

    let eta = p["eta_s"].as_u64().unwrap() as f64;
    let network = kairos::import::roads::load_roads(&data("monaco.roads"))
        .unwrap()
        .0;
    let fastest = network.max_speed_mps();
    assert!(
        eta + 1.0 >= distance as f64 / fastest,
        "eta {eta} s is faster than {distance} m at {fastest} m/s"
    );
    assert!(
        eta <= distance as f64 / SLOWEST_MPS + 1.0,
        "eta {eta} s is slower than {distance} m at the slowest road's speed"
    );

    let turn = &p["turn"];
    let side = turn["side"].as_str().unwrap();
    let in_m = turn["in_m"].as_u64().unwrap() as f64;
    assert!(in_m < distance as f64, "the turn lies on the path: {turn}");
    // The drive's heading before the junction and after it (20 m either side).
    let mut along = 0.0;
    let mut before = None;
    let mut after = None;
    for pair in mine.windows(2) {
        let (a, heading_a) = position(pair[0]);
        let (b, heading_b) = position(pair[1]);
        if along <= in_m - 20.0 {
            before = Some(heading_a);
        }
        along += distance_m(a, b);
        if along >= in_m + 20.0 && after.is_none() {
            after = Some(heading_b);
        }
    }
    let change = heading_change(before.unwrap(), after.unwrap());
    let geometric = if change > 20.0 {
        "right"
    } else if change < -20.0 {
        "left"
    } else {
        "straight on"
    };
    assert_eq!(
        side, geometric,
        "turn {turn}: the drive turns {change:.0}° there"
    );

    let message = p["message"].as_str().unwrap();
    let title = p["offer"]["title"].as_str().unwrap();
    if turn["nth"].as_u64() == Some(1) {
        assert_eq!(
            message,
            next_turn_sentence(title, distance, side, p["lang"].as_str().unwrap())
        );
    }
    message.to_string()
}

#[test]
fn replay_with_roads_tells_the_seed_story_by_road_with_a_turn() {
    let (drive, merchants) = (drive(), merchants());
    let out = replay(true);
    let suggestions: Vec<&Value> = out
        .iter()
        .filter(|l| l["topic"].as_str().unwrap().ends_with("/suggestion"))
        .collect();
    assert_eq!(suggestions.len(), 2, "one per car: {out:?}");
    let mut messages: Vec<String> = suggestions
        .iter()
        .map(|s| check_by_road(s, &drive, &merchants))
        .collect();
    messages.sort();
    // The seed sentence, in both languages: the gluten-free holiday lunch, by
    // road, at the next junction with an exit that way.
    assert!(
        messages[0].starts_with("Déjeuner de vacances sans gluten — à ")
            && messages[0].contains(", à la prochaine à "),
        "{messages:?}"
    );
    assert!(
        messages[1].starts_with("Gluten-free holiday lunch — ") && messages[1].contains(", next "),
        "{messages:?}"
    );
    for s in &suggestions {
        assert_eq!(s["at"], "2026-07-15T14:00:00+02:00", "at 14:00 local");
    }
}

#[test]
fn without_roads_the_same_drive_is_told_in_straight_lines() {
    let out = replay(false);
    let suggestions: Vec<&Value> = out
        .iter()
        .filter(|l| l["topic"].as_str().unwrap().ends_with("/suggestion"))
        .collect();
    assert_eq!(suggestions.len(), 2, "{out:?}");
    for s in suggestions {
        let p = &s["payload"];
        for field in ["straight_m", "turn"] {
            assert!(p.get(field).is_none(), "{field} without roads: {p}");
        }
        // SPEC "Messages", straight: the side of the line of travel.
        let (title, d) = (
            p["offer"]["title"].as_str().unwrap(),
            p["distance_m"].as_u64().unwrap(),
        );
        let side = p["side"].as_str().unwrap();
        let expected = if p["lang"] == "fr" {
            let side = if side == "right" { "droite" } else { "gauche" };
            format!("{title} — à {}, sur votre {side}", distance_text(d, true))
        } else {
            format!(
                "{title} — {} ahead, on your {side}",
                distance_text(d, false)
            )
        };
        assert_eq!(p["message"], expected.as_str());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_demo_prints_what_replay_decides_over_its_embedded_broker() {
    let mut printed = Vec::new();
    let count = demo(DemoOptions::default(), &mut printed).await.unwrap();
    let printed = String::from_utf8(printed).unwrap();
    assert_eq!(count, 2, "{printed}");
    // Each car's line is the message, distance and turn replay gives it.
    for s in replay(true)
        .iter()
        .filter(|l| l["topic"].as_str().unwrap().ends_with("/suggestion"))
    {
        let device = s["topic"].as_str().unwrap().split('/').nth(1).unwrap();
        let p = &s["payload"];
        let line = printed
            .lines()
            .find(|l| l.starts_with(&format!("{device}  ")))
            .unwrap_or_else(|| panic!("no line for {device}: {printed}"));
        assert!(line.contains(p["message"].as_str().unwrap()), "{line}");
        assert!(
            line.contains(&format!(
                "{} m by road, {} m straight",
                p["distance_m"], p["straight_m"]
            )),
            "{line}"
        );
        assert!(
            line.contains(&format!(
                "turn {} in {} m",
                p["turn"]["side"].as_str().unwrap(),
                p["turn"]["in_m"]
            )),
            "{line}"
        );
    }
}

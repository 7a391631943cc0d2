//! `kairos import osm` on the real shared data (`$KAIROS_DATA_DIR`): every extract
//! and export becomes an offer file that `kairos check` accepts, with plausible
//! counts and known places in it.

mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use support::data::real_path as data;

use support::bin::kairos;

/// Imports `input` into a fresh file; returns the offer file, stderr and the temp dir.
fn import(input: &Path) -> (Value, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("offers.geojson");
    let result = kairos(&[
        "import".as_ref(),
        "osm".as_ref(),
        input.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    let stderr = String::from_utf8_lossy(&result.stderr).into_owned();
    assert!(result.status.success(), "import {input:?} failed: {stderr}");
    let text = std::fs::read_to_string(&out).unwrap();
    (serde_json::from_str(&text).unwrap(), stderr, dir)
}

fn features(collection: &Value) -> &Vec<Value> {
    collection["features"].as_array().unwrap()
}

fn props(feature: &Value) -> &serde_json::Map<String, Value> {
    feature["properties"].as_object().unwrap()
}

fn named<'a>(collection: &'a Value, name: &str) -> Option<&'a Value> {
    features(collection)
        .iter()
        .find(|f| props(f).get("name").and_then(Value::as_str) == Some(name))
}

fn shared_inputs() -> Vec<PathBuf> {
    let mut inputs = Vec::new();
    for (folder, suffix) in [("osm", ".osm.pbf"), ("geojson", ".geojson")] {
        for entry in std::fs::read_dir(data(folder)).expect("the real-data folder is readable") {
            let path = entry.unwrap().path();
            if path.to_string_lossy().ends_with(suffix) {
                inputs.push(path);
            }
        }
    }
    inputs.sort();
    inputs
}

#[test]
fn every_shared_extract_and_export_imports_into_an_offer_file_check_accepts() {
    if support::data::real_dir().is_none() {
        return;
    }
    let inputs = shared_inputs();
    assert_eq!(inputs.len(), 5, "{inputs:?}");
    for input in inputs {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.geojson");
        let imported = kairos(&[
            "import".as_ref(),
            "osm".as_ref(),
            input.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ]);
        assert!(
            imported.status.success(),
            "import {input:?}: {}",
            String::from_utf8_lossy(&imported.stderr)
        );
        let checked = kairos(&["check".as_ref(), "--offers".as_ref(), out.as_os_str()]);
        let report = String::from_utf8_lossy(&checked.stdout);
        assert_eq!(checked.status.code(), Some(0), "check {input:?}:\n{report}");
        assert!(report.contains(" 0 errors"), "{report}");
    }
}

#[test]
fn munich_has_hundreds_of_food_places_some_vegetarian_and_its_sights() {
    if support::data::real_dir().is_none() {
        return;
    }
    let (munich, stderr, _dir) = import(&data("osm/munchen-2020.osm.pbf"));
    let all = features(&munich);
    let food = all
        .iter()
        .filter(|f| {
            props(f)
                .get("amenity")
                .and_then(Value::as_str)
                .is_some_and(|a| kairos::import::merchant::FOOD_AND_DRINK.contains(&a))
        })
        .count();
    assert!((400..800).contains(&food), "{food} food places");
    let vegetarian = all
        .iter()
        .filter(|f| {
            matches!(
                props(f).get("diet:vegetarian").and_then(Value::as_str),
                Some("yes" | "only")
            )
        })
        .count();
    assert!(vegetarian >= 10, "{vegetarian} vegetarian places");
    let shops = all.iter().filter(|f| props(f).contains_key("shop")).count();
    assert!(shops > 800, "{shops} shops");

    let beer_garden = named(&munich, "Biergarten am Viktualienmarkt").expect("a known place");
    assert_eq!(props(beer_garden)["amenity"], "biergarten");
    let [lon, lat] = [0, 1].map(|i| beer_garden["geometry"]["coordinates"][i].as_f64().unwrap());
    assert!(
        (48.13..48.14).contains(&lat) && (11.57..11.58).contains(&lon),
        "{lat} {lon}"
    );
    assert!(named(&munich, "Residenzmuseum und Schatzkammer").is_some());

    // Closed ways stand for their centroid, inside the extract.
    let ways: Vec<_> = all
        .iter()
        .filter(|f| props(f)["id"].as_str().unwrap().starts_with("way/"))
        .collect();
    assert!(ways.len() > 50, "{} ways", ways.len());
    for way in ways {
        assert_eq!(way["geometry"]["type"], "Point");
        let lat = way["geometry"]["coordinates"][1].as_f64().unwrap();
        assert!((48.0..48.3).contains(&lat), "{way}");
    }
    assert!(stderr.contains("merchants ("), "{stderr}");
}

#[test]
fn ids_are_unique_and_shaped_like_osm_references() {
    if support::data::real_dir().is_none() {
        return;
    }
    for input in ["osm/helsinki-2019.osm.pbf", "osm/monaco-2021.osm.pbf"] {
        let (collection, _, _dir) = import(&data(input));
        let mut seen = HashSet::new();
        for feature in features(&collection) {
            let id = props(feature)["id"].as_str().unwrap().to_string();
            assert!(id.starts_with("node/") || id.starts_with("way/"), "{id}");
            assert!(seen.insert(id.clone()), "{id} twice in {input}");
        }
        assert!(seen.len() > 300, "{} merchants in {input}", seen.len());
    }
}

#[test]
fn unreadable_opening_hours_are_dropped_and_counted_not_the_merchant() {
    if support::data::real_dir().is_none() {
        return;
    }
    let (munich, stderr, _dir) = import(&data("osm/munchen-2020.osm.pbf"));
    let line = stderr
        .lines()
        .find(|l| l.contains("opening_hours unreadable"))
        .unwrap_or_else(|| panic!("no opening_hours count in {stderr}"));
    let example = line.split("(e.g. ").nth(1).unwrap().trim_end_matches(')');
    let merchant = features(&munich)
        .iter()
        .find(|f| props(f)["id"] == example)
        .expect("the merchant is kept");
    assert!(!props(merchant).contains_key("opening_hours"));
}

#[test]
fn the_messy_lorient_export_loses_its_empty_tags_and_keeps_every_restaurant() {
    if support::data::real_dir().is_none() {
        return;
    }
    let (lorient, stderr, _dir) = import(&data("geojson/lorient-restaurants.geojson"));
    let all = features(&lorient);
    assert_eq!(all.len(), 763);
    for feature in all {
        assert_eq!(feature["geometry"]["type"], "Point");
        assert!(props(feature)["id"].as_str().unwrap().starts_with("node/"));
        assert!(
            props(feature).values().all(|v| v.as_str() != Some("")),
            "{feature}"
        );
    }
    let grand_aigle = named(&lorient, "Le Grand Aigle").expect("a known restaurant");
    assert_eq!(props(grand_aigle)["id"], "node/443376151");
    assert_eq!(props(grand_aigle)["cuisine"], "chinese");
    assert!(stderr.contains("empty value"), "{stderr}");
}

#[test]
fn salzburg_keeps_its_diet_tags() {
    if support::data::real_dir().is_none() {
        return;
    }
    let (salzburg, _, _dir) = import(&data("geojson/salzburg-diet-tagged.geojson"));
    let all = features(&salzburg);
    assert_eq!(all.len(), 129);
    assert!(all
        .iter()
        .all(|f| props(f).keys().any(|k| k.starts_with("diet:"))));
    let vegan = all
        .iter()
        .filter(|f| props(f).get("diet:vegan").and_then(Value::as_str) == Some("yes"))
        .count();
    assert!(vegan > 20, "{vegan}");
}

#[test]
fn a_file_that_is_not_an_extract_is_refused_and_nothing_is_written() {
    if support::data::real_dir().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.osm.pbf");
    std::fs::write(&bogus, b"not a pbf").unwrap();
    let out = dir.path().join("out.geojson");
    let result = kairos(&[
        "import".as_ref(),
        "osm".as_ref(),
        bogus.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(result.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&result.stderr).contains("bogus.osm.pbf"));
    assert!(!out.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

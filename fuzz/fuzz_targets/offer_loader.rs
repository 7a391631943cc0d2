//! Arbitrary text as an offer file: `Loader::load_text`, `Catalog::new`, a few
//! `within` queries, and the loaded opening hours evaluated at a few instants.

#![no_main]

use std::path::Path;

use chrono::{TimeZone, Utc};
use kairos::geodesy::LatLon;
use kairos::index::FoodFilter;
use kairos::offers::Loader;
use kairos::Catalog;
use libfuzzer_sys::fuzz_target;

#[path = "guarded_panics.rs"]
mod guarded_panics;

fuzz_target!(init: guarded_panics::tolerate_opening_hours_panics(), |data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut loader = Loader::new();
    if loader.load_text(Path::new("fuzz.geojson"), text).is_err() {
        return;
    }
    let (merchants, _problems) = loader.finish();
    let catalog = Catalog::new(merchants);

    let diets = ["gluten_free".to_string(), "vegan".to_string()];
    let mut queries = vec![
        LatLon::new(45.9, 6.13),
        LatLon::new(90.0, 0.0),
        LatLon::new(0.0, 180.0),
    ];
    queries.extend(catalog.merchants().iter().take(3).map(|m| m.location));
    for query in queries {
        for radius in [1_000.0, 15_000.0] {
            for filter in [
                FoodFilter::NoFood,
                FoodFilter::AnyFood,
                FoodFilter::ServingDiets(&diets),
            ] {
                let mut last = 0.0;
                for (_, d) in catalog.within(query, radius, filter) {
                    assert!(d >= last && d <= radius * (1.0 + 1e-6) + 1e-6, "{d} after {last}");
                    last = d;
                }
            }
        }
    }

    // Evaluating hours is where the opening-hours crate is not guarded by catch_unwind.
    let instants = [
        Utc.with_ymd_and_hms(2026, 7, 15, 12, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2026, 12, 25, 23, 59, 59).unwrap(),
        Utc.with_ymd_and_hms(2026, 3, 29, 1, 30, 0).unwrap(),
    ];
    for merchant in catalog.merchants().iter().take(8) {
        for t in instants {
            if let Some(hours) = &merchant.hours {
                let _ = hours.state_at(t);
            }
            for offer in merchant.offers.iter().take(4) {
                if let Some(when) = offer.when() {
                    let _ = when.state_at(t);
                }
                let _ = offer.is_valid_at(t);
            }
        }
    }
});

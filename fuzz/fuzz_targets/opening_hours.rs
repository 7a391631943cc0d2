//! Arbitrary text as an OSM `opening_hours` expression: parsed through
//! `Hours::parse` (guarded by catch_unwind in kairos), then evaluated with
//! `Hours::state_at` (not guarded) at a fuzzed instant and a few fixed ones.
//!
//! Input: 8 bytes of instant (seconds, folded into years 1900 to 2200), then the
//! expression.

#![no_main]

use std::sync::LazyLock;

use chrono::{DateTime, TimeZone, Utc};
use kairos::geodesy::LatLon;
use kairos::offers::hours::{public_holidays_at, Hours, Locality};
use libfuzzer_sys::fuzz_target;

#[path = "guarded_panics.rs"]
mod guarded_panics;

static PARIS: LazyLock<Locality> = LazyLock::new(|| {
    let location = LatLon::new(48.8566, 2.3522);
    Locality {
        timezone: chrono_tz::Europe::Paris,
        location,
        holidays: public_holidays_at(location).ok(),
    }
});

fuzz_target!(init: guarded_panics::tolerate_opening_hours_panics(), |data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (head, rest) = data.split_at(8);
    let Ok(expression) = std::str::from_utf8(rest) else {
        return;
    };
    let Ok(hours) = Hours::parse(expression, &PARIS) else {
        return;
    };
    let start = Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0).unwrap().timestamp();
    let end = Utc.with_ymd_and_hms(2200, 1, 1, 0, 0, 0).unwrap().timestamp();
    let secs = i64::from_le_bytes(head.try_into().expect("8 bytes"));
    let fuzzed = DateTime::from_timestamp(start + secs.rem_euclid(end - start), 0)
        .expect("within chrono's range");
    let fixed = [
        Utc.with_ymd_and_hms(2026, 7, 15, 12, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2026, 3, 29, 1, 30, 0).unwrap(),
        Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap(),
    ];
    for t in std::iter::once(fuzzed).chain(fixed) {
        let _ = hours.state_at(t);
    }
});

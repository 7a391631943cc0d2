//! The tolerant reading of `opening_hours` on real values mappers wrote (OSM
//! extracts of Munich, Helsinki and Monaco, the million-merchant file):
//! each reads as the hours it means, checked open or closed at chosen instants,
//! and a value with two readings stays unreadable, so never open.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use kairos_core::geodesy::LatLon;
use kairos_core::offers::hours::{public_holidays_at, HoursParser, Locality};
use kairos_core::offers::hours_repair::repair;
use kairos_core::offers::{Hours, Reading};
use proptest::prelude::*;

fn munich() -> Locality {
    let location = LatLon::new(48.137, 11.575);
    Locality {
        timezone: chrono_tz::Europe::Berlin,
        location,
        holidays: public_holidays_at(location).ok(),
    }
}

/// A local time in Munich: `day` of July 2026 (13 = Monday ... 19 = Sunday) or
/// any date given as (month, day).
fn at(month: u32, day: u32, hh_mm: &str) -> DateTime<Utc> {
    let (h, m) = hh_mm.split_once(':').unwrap();
    let naive = NaiveDate::from_ymd_opt(2026, month, day)
        .unwrap()
        .and_hms_opt(h.parse().unwrap(), m.parse().unwrap(), 0)
        .unwrap();
    chrono_tz::Europe::Berlin
        .from_local_datetime(&naive)
        .unwrap()
        .with_timezone(&Utc)
}

const MO: u32 = 13;
const TU: u32 = 14;
const WE: u32 = 15;
const TH: u32 = 16;
const FR: u32 = 17;
const SA: u32 = 18;
const SU: u32 = 19;

/// Reads `value`, asserts it was repaired into `corrected`, and returns the schedule.
fn repaired(value: &str, corrected: &str) -> Arc<Hours> {
    match HoursParser::default().parse(value, &munich()) {
        Reading::Repaired(hours, r) => {
            assert_eq!(r.text, corrected, "{value:?}");
            hours
        }
        other => panic!("{value:?} was not repaired: {other:?}"),
    }
}

/// Asserts the state in July 2026 at each (day, time): open or not.
fn check(hours: &Hours, expect: &[(u32, &str, bool)]) {
    for &(day, time, open) in expect {
        assert_eq!(
            hours.is_open_at(at(7, day, time)),
            open,
            "{hours:?} {day} {time}"
        );
    }
}

#[test]
fn spaces_around_dashes() {
    let h = repaired("Mo - Fr 09:00 - 18:00", "Mo-Fr 09:00-18:00");
    check(
        &h,
        &[
            (WE, "10:00", true),
            (WE, "18:30", false),
            (SA, "10:00", false),
        ],
    );
    let h = repaired("Mo, Th - Su 11:00 - 23:00", "Mo,Th-Su 11:00-23:00");
    check(
        &h,
        &[
            (MO, "12:00", true),
            (TU, "12:00", false),
            (SU, "22:30", true),
        ],
    );
}

#[test]
fn hours_without_minutes() {
    let h = repaired("Mo-Fr 08-18;Sa 10-15", "Mo-Fr 08:00-18:00; Sa 10:00-15:00");
    check(
        &h,
        &[
            (WE, "07:30", false),
            (WE, "08:30", true),
            (SA, "14:00", true),
            (SA, "15:30", false),
            (SU, "12:00", false),
        ],
    );
    let h = repaired(
        "Mo-Fr 10:00-20:00, Sa 10-18, Su 12-18",
        "Mo-Fr 10:00-20:00, Sa 10:00-18:00, Su 12:00-18:00",
    );
    check(
        &h,
        &[
            (SA, "17:00", true),
            (SU, "11:00", false),
            (SU, "13:00", true),
        ],
    );
    // One-digit hours, with and without minutes.
    let h = repaired(
        "Mo-Fr 7:00-21; Sa-Su 12:00-18:00",
        "Mo-Fr 07:00-21:00; Sa-Su 12:00-18:00",
    );
    check(
        &h,
        &[
            (TU, "07:30", true),
            (TU, "21:30", false),
            (SA, "11:00", false),
        ],
    );
}

#[test]
fn ends_at_midnight_and_after() {
    let h = repaired(
        "Su-Th 15-00; Fr-Sa 15-02",
        "Su-Th 15:00-00:00; Fr-Sa 15:00-02:00",
    );
    check(
        &h,
        &[
            (WE, "14:30", false),
            (WE, "23:30", true),
            (TH, "00:30", false),
            (SA, "01:30", true),
            (SA, "02:30", false),
        ],
    );
    // `24:00` is kept as written.
    let h = repaired(
        "Mo-Th 11:00-23:00; Fr11:00-24:00; Sa 12:00-24:00; Su 12:00-21:00",
        "Mo-Th 11:00-23:00; Fr 11:00-24:00; Sa 12:00-24:00; Su 12:00-21:00",
    );
    check(
        &h,
        &[
            (TH, "23:30", false),
            (FR, "23:30", true),
            (SU, "21:30", false),
        ],
    );
}

#[test]
fn en_and_em_dashes() {
    let h = repaired("Mo-Sa 09:30–19:30", "Mo-Sa 09:30-19:30");
    check(
        &h,
        &[
            (SA, "19:00", true),
            (SA, "19:45", false),
            (SU, "12:00", false),
        ],
    );
    let h = repaired(
        "Mo-Sa 09:00–12:30,14:00—19:00",
        "Mo-Sa 09:00-12:30,14:00-19:00",
    );
    check(&h, &[(TU, "13:00", false), (TU, "15:00", true)]);
}

#[test]
fn a_newline_between_rules() {
    let h = repaired(
        "Mo-Sa 10:00-20:00;\nSu 11:00-19:00",
        "Mo-Sa 10:00-20:00; Su 11:00-19:00",
    );
    check(
        &h,
        &[
            (SU, "12:00", true),
            (SU, "19:30", false),
            (MO, "19:30", true),
        ],
    );
    let h = repaired(
        "Mo-Fr 09:00-17:00\nSa 10:00-14:00",
        "Mo-Fr 09:00-17:00; Sa 10:00-14:00",
    );
    check(&h, &[(SA, "13:00", true), (FR, "16:00", true)]);
}

#[test]
fn no_separator_between_rules() {
    let h = repaired(
        "Mo-Fr 08:00-19:00 Sa 09:00-19:00",
        "Mo-Fr 08:00-19:00; Sa 09:00-19:00",
    );
    check(
        &h,
        &[
            (SA, "08:30", false),
            (SA, "09:30", true),
            (SU, "12:00", false),
        ],
    );
    let h = repaired(
        "Mo-Fr 08:00-19:00 Sa 09:00-19:00 Su 12:00-18:00",
        "Mo-Fr 08:00-19:00; Sa 09:00-19:00; Su 12:00-18:00",
    );
    check(&h, &[(SU, "13:00", true), (SU, "18:30", false)]);
}

#[test]
fn a_missing_space_after_the_days() {
    let h = repaired("Mo-Su11:30-01:00", "Mo-Su 11:30-01:00");
    check(
        &h,
        &[
            (WE, "00:30", true),
            (WE, "01:30", false),
            (WE, "11:00", false),
        ],
    );
}

#[test]
fn public_holidays_in_lower_case() {
    let h = repaired(
        "Mo-Fr 10:00-18:30; Sa 10:00-16:00; Ph off",
        "Mo-Fr 10:00-18:30; Sa 10:00-16:00; PH off",
    );
    // Christmas Day 2026 is a Friday, a public holiday in Germany.
    assert!(!h.is_open_at(at(12, 25, "12:00")));
    assert!(h.is_open_at(at(12, 18, "12:00")));
    let h = repaired("Ph off", "PH off");
    assert!(!h.is_open_at(at(12, 25, "12:00")));
}

#[test]
fn german_day_names() {
    let h = repaired(
        "Mo-Sa 11:00-00:00; So 17:00-00:00",
        "Mo-Sa 11:00-00:00; Su 17:00-00:00",
    );
    check(
        &h,
        &[
            (SU, "12:00", false),
            (SU, "18:00", true),
            (SA, "12:00", true),
        ],
    );
    let h = repaired("Mi-Sa 10:00-22:00", "We-Sa 10:00-22:00");
    check(&h, &[(TU, "12:00", false), (WE, "12:00", true)]);
    let h = repaired(
        "Su-Do 11:00-24:00 Fr-Sa 11:00-01:00",
        "Su-Th 11:00-24:00; Fr-Sa 11:00-01:00",
    );
    check(
        &h,
        &[
            (TH, "23:30", true),
            (FR, "00:30", false),
            (SA, "00:30", true),
        ],
    );
}

#[test]
fn english_day_names_and_am_pm() {
    let h = repaired("Mon - Fri 11am - 11pm", "Mo-Fr 11:00-23:00");
    check(
        &h,
        &[
            (FR, "10:30", false),
            (FR, "22:30", true),
            (FR, "23:30", false),
            (SA, "12:00", false),
        ],
    );
    let h = repaired("Tue-Sun 9:30 a.m.-2:30 p.m.", "Tu-Su 09:30-14:30");
    check(
        &h,
        &[
            (MO, "10:00", false),
            (TU, "14:00", true),
            (TU, "15:00", false),
        ],
    );
}

/// Values with two readings, or none: never repaired, never open.
#[test]
fn what_cannot_be_told_stays_unreadable_and_never_open() {
    for value in [
        // `12am`: noon or midnight?
        "Mon - Fri 11am - 11pm, Sat 12am - 11pm, Sun 2pm - 10pm",
        // 09:00-17:00 or 09:00-05:00?
        "Mo-Fr 9-5",
        // Sunday overridden (`;`) or added to (`,`)?
        "Mo-Su 08:00-20:00 Su 10:00-12:00",
        // Holidays too: they fall on weekdays.
        "Mo-Fr 08:00-18:00 PH 10:00-12:00",
        // Not among the repairs.
        "Mo-Fr 8-02;Sa 8-02 Su 8",
        "Seasonal, only summer time",
        "Mo-Fr 11:30-14:30, 17:30-23:00,Sa 17:30-23:00,Su 14:00-23:00",
        "Lu-Ve 09:00-18:00",
    ] {
        let reading = HoursParser::default().parse(value, &munich());
        let Reading::Unreadable(hours, _) = &reading else {
            panic!("{value:?} was read: {reading:?}");
        };
        for day in MO..=SU {
            for time in ["00:30", "09:30", "12:00", "15:00", "21:00"] {
                assert!(!hours.is_open_at(at(7, day, time)), "{value:?}");
            }
        }
    }
}

#[test]
fn a_closing_rule_after_the_times_is_no_guess() {
    let h = repaired("Mo-Su 10:00-20:00 PH off", "Mo-Su 10:00-20:00; PH off");
    assert!(!h.is_open_at(at(12, 25, "12:00")));
    assert!(h.is_open_at(at(12, 24, "12:00")));
}

fn time() -> impl Strategy<Value = String> {
    (0u32..24, prop::sample::select(vec![0u32, 15, 30, 45]))
        .prop_map(|(h, m)| format!("{h:02}:{m:02}"))
}

fn span() -> impl Strategy<Value = String> {
    (time(), time()).prop_map(|(a, b)| format!("{a}-{b}"))
}

fn days() -> impl Strategy<Value = String> {
    const DAYS: [&str; 7] = ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"];
    prop_oneof![
        Just(String::new()),
        (0usize..7).prop_map(|d| format!("{} ", DAYS[d])),
        (0usize..7, 0usize..7).prop_map(|(a, b)| format!("{}-{} ", DAYS[a], DAYS[b])),
        (0usize..7, 0usize..7).prop_map(|(a, b)| format!("{},{} ", DAYS[a], DAYS[b])),
        Just("PH ".to_string()),
        Just("Dec 24-26 ".to_string()),
        Just("week 01-10 ".to_string()),
    ]
}

fn rule() -> impl Strategy<Value = String> {
    prop_oneof![
        (days(), prop::collection::vec(span(), 1..3))
            .prop_map(|(d, s)| format!("{d}{}", s.join(","))),
        days().prop_map(|d| format!("{d}off")),
        Just("24/7".to_string()),
        Just("sunrise-sunset".to_string()),
        (days(), time()).prop_map(|(d, t)| format!("{d}{t}+")),
        Just("\"by appointment\"".to_string()),
    ]
}

fn expression() -> impl Strategy<Value = String> {
    (
        rule(),
        prop::collection::vec(
            (prop::sample::select(vec!["; ", ", ", " || "]), rule()),
            0..3,
        ),
    )
        .prop_map(|(first, rest)| {
            rest.into_iter()
                .fold(first, |acc, (sep, r)| format!("{acc}{sep}{r}"))
        })
}

proptest! {
    /// A value the crate reads as written is never changed, and the repairs
    /// leave a well-written value as it is.
    #[test]
    fn a_readable_value_is_never_changed(value in expression()) {
        prop_assume!(value.parse::<opening_hours::OpeningHours>().is_ok());
        let reading = HoursParser::default().parse(&value, &munich());
        prop_assert!(matches!(reading, Reading::AsWritten(_)), "{value:?}: {reading:?}");
        prop_assert_eq!(repair(&value), Ok(None), "{:?}", value);
    }
}

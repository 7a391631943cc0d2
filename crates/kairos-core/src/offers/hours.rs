//! Opening hours in OSM syntax, evaluated in the merchant's time zone with its
//! country's public holidays, through the `opening-hours` crate. A value the
//! crate cannot read is tried again after [`super::hours_repair`]; one that stays
//! unreadable is a schedule that is never open.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use chrono::{DateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use opening_hours::localization::{Coordinates, Country, TzLocation};
use opening_hours::{Context, ContextHolidays, OpeningHours, RuleKind};
use rustc_hash::FxHashMap;

use super::hours_repair::{repair, Repaired};
use crate::geodesy::LatLon;

/// What a schedule says at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoursState {
    /// Open.
    Open,
    /// Closed.
    Closed,
    /// The expression says `unknown` (SPEC: counts as not open).
    Unknown,
}

/// A parsed `opening_hours` expression bound to a place, or an unreadable one
/// (never open: its state is always `Unknown`).
#[derive(Clone)]
pub struct Hours {
    schedule: Option<OpeningHours<TzLocation<Tz>>>,
}

impl fmt::Debug for Hours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schedule {
            Some(schedule) => write!(f, "Hours({schedule})"),
            None => write!(f, "Hours(unreadable)"),
        }
    }
}

/// How an expression was read.
#[derive(Debug, Clone)]
pub enum Reading {
    /// As written.
    AsWritten(Arc<Hours>),
    /// After repairs: the schedule, and the corrected value.
    Repaired(Arc<Hours>, Arc<Repaired>),
    /// Not at all, even after repairs: a schedule never open, and why (the
    /// crate's message for the value as written).
    Unreadable(Arc<Hours>, Arc<str>),
}

impl Reading {
    /// The schedule to use (never open when unreadable).
    pub fn hours(&self) -> &Arc<Hours> {
        match self {
            Reading::AsWritten(h) | Reading::Repaired(h, _) | Reading::Unreadable(h, _) => h,
        }
    }
}

/// What the text of an expression reads as, before binding to a place.
#[derive(Clone)]
enum Parsed {
    AsWritten(OpeningHours),
    Repaired(OpeningHours, Arc<Repaired>),
    Unreadable(Arc<str>),
}

/// A country's national public holidays, as the `opening-hours` crate knows them.
#[derive(Debug, Clone)]
pub struct PublicHolidays {
    /// ISO 3166 code of the country.
    pub country: &'static str,
    /// Its calendar.
    pub calendar: ContextHolidays,
}

/// Where a schedule is evaluated: the zone, the coordinates (sun events) and the
/// public holidays of the country there.
#[derive(Debug, Clone)]
pub struct Locality {
    /// Local time zone.
    pub timezone: Tz,
    /// Coordinates, for dawn and dusk.
    pub location: LatLon,
    /// The country's public holidays, when the crate has a calendar for it.
    pub holidays: Option<PublicHolidays>,
}

/// Why a holiday calendar is missing, for `check` to warn about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HolidayGap {
    /// The coordinates lie in no known country.
    NoCountry,
    /// The crate has no public-holiday calendar for this country.
    NoCalendar(String),
}

impl fmt::Display for HolidayGap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HolidayGap::NoCountry => write!(f, "no country is known at these coordinates"),
            HolidayGap::NoCalendar(c) => write!(f, "no public-holiday calendar for {c}"),
        }
    }
}

/// The public holidays at `location`: the country's national calendar, or why there is none.
pub fn public_holidays_at(location: LatLon) -> Result<PublicHolidays, HolidayGap> {
    let coords = Coordinates::new(location.lat, location.lon).ok_or(HolidayGap::NoCountry)?;
    let country = Country::try_from_coords(coords).ok_or(HolidayGap::NoCountry)?;
    let calendar = country.holidays();
    if calendar.get_public().count() == 0 {
        return Err(HolidayGap::NoCalendar(country.iso_code().to_string()));
    }
    Ok(PublicHolidays {
        country: country.iso_code(),
        calendar,
    })
}

/// True when an expression mentions public holidays (`PH`, or `ph` in any
/// case as a word, which the repairs read as `PH`).
pub fn mentions_public_holidays(expression: &str) -> bool {
    expression.contains("PH")
        || expression
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| w.eq_ignore_ascii_case("ph"))
}

/// True when an expression depends on the sun (dawn, sunrise, sunset, dusk).
fn mentions_sun(expression: &str) -> bool {
    let lower = expression.to_ascii_lowercase();
    ["dawn", "sunrise", "sunset", "dusk"]
        .iter()
        .any(|w| lower.contains(w))
}

/// What makes two bound schedules the same: the text, the zone, the holidays,
/// and the coordinates only when the sun matters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct BoundKey {
    text: Box<str>,
    timezone: Tz,
    holidays: Option<&'static str>,
    sun_at: Option<(u64, u64)>,
}

/// Parses expressions once each and shares bound schedules: offer files repeat
/// the same few hundred `opening_hours` values across thousands of merchants,
/// and a shared schedule lets a decision evaluate it once for all of them.
#[derive(Default)]
pub struct HoursParser {
    parsed: FxHashMap<Box<str>, Parsed>,
    bound: FxHashMap<BoundKey, Reading>,
    never_open: Option<Arc<Hours>>,
}

impl HoursParser {
    /// Reads `expression` for a place: as written, else repaired, else never open.
    pub fn parse(&mut self, expression: &str, locality: &Locality) -> Reading {
        let key = BoundKey {
            text: expression.into(),
            timezone: locality.timezone,
            holidays: locality.holidays.as_ref().map(|h| h.country),
            sun_at: mentions_sun(expression).then(|| {
                (
                    locality.location.lat.to_bits(),
                    locality.location.lon.to_bits(),
                )
            }),
        };
        if let Some(shared) = self.bound.get(&key) {
            return shared.clone();
        }
        let parsed = match self.parsed.get(expression) {
            Some(cached) => cached.clone(),
            None => {
                let fresh = read(expression);
                self.parsed.insert(expression.into(), fresh.clone());
                fresh
            }
        };
        let reading = match parsed {
            Parsed::AsWritten(p) => Reading::AsWritten(Arc::new(Hours::bind(p, locality))),
            Parsed::Repaired(p, r) => Reading::Repaired(Arc::new(Hours::bind(p, locality)), r),
            Parsed::Unreadable(why) => {
                let never = self
                    .never_open
                    .get_or_insert_with(|| Arc::new(Hours::unreadable()));
                Reading::Unreadable(never.clone(), why)
            }
        };
        self.bound.insert(key, reading.clone());
        reading
    }
}

/// Reads an expression's text: as written, else after the repairs.
fn read(expression: &str) -> Parsed {
    let error = match parse_guarded(expression) {
        Ok(parsed) => return Parsed::AsWritten(parsed),
        Err(error) => error,
    };
    match repair(expression) {
        Ok(Some(repaired)) => match parse_guarded(&repaired.text) {
            Ok(parsed) => Parsed::Repaired(parsed, Arc::new(repaired)),
            Err(_) => Parsed::Unreadable(error.into()),
        },
        Ok(None) => Parsed::Unreadable(error.into()),
        Err(ambiguous) => Parsed::Unreadable(format!("{error} ({ambiguous})").into()),
    }
}

impl Hours {
    /// Parses `expression` for a place as written; the error is the crate's message.
    pub fn parse(expression: &str, locality: &Locality) -> Result<Self, String> {
        Ok(Self::bind(parse_guarded(expression)?, locality))
    }

    /// A schedule that could not be read: never open (its state is `Unknown`).
    pub fn unreadable() -> Self {
        Self { schedule: None }
    }

    /// True for a schedule that could not be read.
    pub fn is_unreadable(&self) -> bool {
        self.schedule.is_none()
    }

    fn bind(parsed: OpeningHours, locality: &Locality) -> Self {
        let mut locale = TzLocation::new(locality.timezone);
        if let Some(coords) = Coordinates::new(locality.location.lat, locality.location.lon) {
            locale = locale.with_coords(coords);
        }
        let mut context = Context::default();
        if let Some(holidays) = &locality.holidays {
            context = context.with_holidays(holidays.calendar.clone());
        }
        Self {
            schedule: Some(parsed.with_context(context.with_locale(locale))),
        }
    }

    /// The state at instant `t`, read in the place's local time. A failure inside
    /// the crate, or an unreadable schedule, reads as `Unknown` (not open):
    /// input never stops kairos.
    pub fn state_at(&self, t: DateTime<Utc>) -> HoursState {
        let Some(schedule) = &self.schedule else {
            return HoursState::Unknown;
        };
        let local = t.with_timezone(schedule.get_context().locale.get_timezone());
        let kind = std::panic::catch_unwind(AssertUnwindSafe(|| schedule.state(local).0));
        match kind {
            Ok(RuleKind::Open) => HoursState::Open,
            Ok(RuleKind::Closed) => HoursState::Closed,
            Ok(RuleKind::Unknown) | Err(_) => HoursState::Unknown,
        }
    }

    /// The state at `t` and an instant before which it cannot change, at the
    /// latest the next change (`None`: never, as far as the crate looks ahead).
    pub fn state_and_next_change(&self, t: DateTime<Utc>) -> (HoursState, Option<DateTime<Utc>>) {
        let state = self.state_at(t);
        let Some(schedule) = &self.schedule else {
            return (state, None);
        };
        let local = t.with_timezone(schedule.get_context().locale.get_timezone());
        let next = std::panic::catch_unwind(AssertUnwindSafe(|| schedule.next_change(local)))
            .unwrap_or(Some(local));
        (state, next.map(|n| Self::no_later_than(t, &n)))
    }

    /// The crate's next change as an instant, never later than the true one.
    /// A wall-clock time in the hour that repeats when daylight saving ends is
    /// ambiguous, and the crate may read the later of the two: so where the
    /// zone's offset changes between `t` and `change`, this answers the earliest
    /// of the crate's instant, the offset change, and the wall-clock time read
    /// with the offset at `t`.
    fn no_later_than(t: DateTime<Utc>, change: &DateTime<Tz>) -> DateTime<Utc> {
        let zone = change.timezone();
        let offset = |u: DateTime<Utc>| zone.offset_from_utc_datetime(&u.naive_utc()).fix();
        let at_t = offset(t);
        let crate_says = change.to_utc();
        if crate_says <= t || offset(crate_says) == at_t {
            return crate_says;
        }
        // The first second at which the offset is no longer the one at `t`.
        let (mut same, mut changed) = (t, crate_says);
        while changed - same > TimeDelta::seconds(1) {
            let mid = same + (changed - same) / 2;
            if offset(mid) == at_t {
                same = mid;
            } else {
                changed = mid;
            }
        }
        let wall_at_t = (change.naive_local()
            - TimeDelta::seconds(i64::from(at_t.local_minus_utc())))
        .and_utc();
        crate_says.min(changed).min(wall_at_t)
    }

    /// True only when the state at `t` is open.
    pub fn is_open_at(&self, t: DateTime<Utc>) -> bool {
        self.state_at(t) == HoursState::Open
    }
}

/// Parses with the crate, turning a panic inside it into an error: input never stops kairos.
fn parse_guarded(expression: &str) -> Result<OpeningHours, String> {
    if expression.len() > MAX_EXPRESSION_LEN {
        return Err(format!("longer than {MAX_EXPRESSION_LEN} characters"));
    }
    match std::panic::catch_unwind(|| expression.parse::<OpeningHours>()) {
        Ok(Ok(parsed)) => Ok(parsed),
        Ok(Err(err)) => Err(err
            .to_string()
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string()),
        Err(_) => Err("the opening_hours parser could not read it".to_string()),
    }
}

/// OSM caps tag values at 255 characters; allow generous room, refuse anything absurd.
const MAX_EXPRESSION_LEN: usize = 2048;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn paris() -> Locality {
        let location = LatLon::new(48.8566, 2.3522);
        Locality {
            timezone: chrono_tz::Europe::Paris,
            location,
            holidays: public_holidays_at(location).ok(),
        }
    }

    #[test]
    fn hours_are_read_in_local_time() {
        let hours = Hours::parse("Mo-Su 12:00-14:30", &paris()).unwrap();
        // 12:30 UTC is 14:30 in Paris in July (closed), 10:30 UTC is 12:30 (open).
        assert!(hours.is_open_at(Utc.with_ymd_and_hms(2026, 7, 15, 10, 30, 0).unwrap()));
        assert!(!hours.is_open_at(Utc.with_ymd_and_hms(2026, 7, 15, 12, 30, 0).unwrap()));
    }

    #[test]
    fn french_national_day_is_a_public_holiday() {
        let hours = Hours::parse("Mo-Su 10:00-18:00; PH off", &paris()).unwrap();
        assert!(!hours.is_open_at(Utc.with_ymd_and_hms(2026, 7, 14, 10, 0, 0).unwrap()));
        assert!(hours.is_open_at(Utc.with_ymd_and_hms(2026, 7, 15, 10, 0, 0).unwrap()));
    }

    #[test]
    fn a_change_in_the_repeated_hour_is_never_read_late() {
        // 25 October 2026: Paris goes from 03:00 CEST back to 02:00 CET at
        // 01:00 UTC, so 02:00 local happens twice; the bar closes at the first.
        let hours = Hours::parse("Mo-Su 22:00-02:00", &paris()).unwrap();
        let t = Utc.with_ymd_and_hms(2026, 10, 24, 23, 30, 0).unwrap();
        let closes = Utc.with_ymd_and_hms(2026, 10, 25, 0, 0, 0).unwrap();
        let (state, next) = hours.state_and_next_change(t);
        assert_eq!(state, HoursState::Open);
        assert!(next.is_some_and(|n| n <= closes), "{next:?}");
        assert!(!hours.is_open_at(closes + chrono::TimeDelta::minutes(9)));
        // An ordinary night: the change is read exactly.
        let t = Utc.with_ymd_and_hms(2026, 10, 20, 23, 30, 0).unwrap();
        let closes = Utc.with_ymd_and_hms(2026, 10, 21, 0, 0, 0).unwrap();
        assert_eq!(hours.state_and_next_change(t).1, Some(closes));
    }

    #[test]
    fn unknown_state_is_reported() {
        let hours = Hours::parse("Mo-Su 10:00-18:00 unknown", &paris()).unwrap();
        let t = Utc.with_ymd_and_hms(2026, 7, 15, 10, 0, 0).unwrap();
        assert_eq!(hours.state_at(t), HoursState::Unknown);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Hours::parse("whenever the owner feels like it", &paris()).is_err());
        assert!(Hours::parse("", &paris()).is_err() || Hours::parse("", &paris()).is_ok());
    }
}

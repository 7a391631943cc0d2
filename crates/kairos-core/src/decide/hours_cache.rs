//! Opening-hours answers remembered across decisions (a pure memo).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;

use crate::offers::{Hours, HoursState};
use crate::rules;

/// Opening-hours answers, remembered across decisions: merchants share a few
/// hundred schedules, a decision looks at arrival times minutes apart, and a
/// schedule keeps its state for hours; so each schedule is evaluated with the
/// instant it next changes, then answered from memory until then.
///
/// A pure memo (the answers are exactly the schedule's), so replay and serve
/// stay deterministic. It holds one entry per schedule met, and must be
/// cleared when the catalog changes (see [`HoursCache::clear`]).
#[derive(Default)]
pub struct HoursCache {
    known: FxHashMap<usize, Known>,
}

/// A schedule (held, so its address stays its own) and its state over `[from, until)`.
struct Known {
    _hours: Arc<Hours>,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    open: bool,
}

/// How long a remembered state is trusted when the crate sees no change ahead.
const LONGEST_SPAN: chrono::TimeDelta = chrono::TimeDelta::hours(24);

impl HoursCache {
    /// Forgets everything (a new catalog: schedules are new objects).
    pub fn clear(&mut self) {
        self.known.clear();
    }
}

impl rules::OpenAt for HoursCache {
    fn open_at(&mut self, hours: &Arc<Hours>, at: DateTime<Utc>) -> bool {
        let id = Arc::as_ptr(hours) as usize;
        if let Some(known) = self.known.get(&id) {
            if known.from <= at && at < known.until {
                return known.open;
            }
        }
        let (state, until) = hours.state_and_next_change(at);
        let open = state == HoursState::Open;
        let longest = at + LONGEST_SPAN;
        self.known.insert(
            id,
            Known {
                _hours: Arc::clone(hours),
                from: at,
                until: until.map_or(longest, |u| u.min(longest)),
                open,
            },
        );
        open
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geodesy::LatLon;
    use crate::offers::hours::{public_holidays_at, Locality};
    use crate::rules::OpenAt;
    use chrono::TimeZone;

    /// The memo answers exactly what the schedule says, whatever order the
    /// questions come in (forwards, backwards, across days, holidays, DST).
    #[test]
    fn the_hours_cache_answers_as_the_schedule_does() {
        let location = LatLon::new(48.8566, 2.3522);
        let paris = Locality {
            timezone: chrono_tz::Europe::Paris,
            location,
            holidays: public_holidays_at(location).ok(),
        };
        let schedules = [
            "Mo-Fr 08:00-12:00,14:00-18:30; Sa 09:00-13:00; PH off",
            "24/7",
            "Mo-Su 11:30-14:30,18:30-22:00 unknown",
            "sunrise-sunset",
            "Mo-Su 22:00-02:00",
        ]
        .map(|s| Arc::new(Hours::parse(s, &paris).unwrap()));
        let start = Utc.with_ymd_and_hms(2026, 10, 23, 5, 0, 0).unwrap();
        let mut cache = HoursCache::default();
        let mut t = start;
        let mut checked = 0;
        // A walk of irregular steps, mostly forwards, sometimes back.
        for step in 0..4_000i64 {
            let minutes = (step * 37 % 181) - if step % 7 == 0 { 240 } else { 0 };
            // Arrival times carry seconds (and serve's clock, fractions of one).
            let seconds = step * 13 % 60;
            let millis = step * 7 % 1000;
            t += chrono::TimeDelta::minutes(minutes)
                + chrono::TimeDelta::seconds(seconds)
                + chrono::TimeDelta::milliseconds(millis);
            for hours in &schedules {
                assert_eq!(cache.open_at(hours, t), hours.is_open_at(t), "{t}");
                checked += 1;
            }
        }
        assert!(t > start + chrono::TimeDelta::days(7), "the walk spans {t}");
        assert_eq!(checked, 20_000);
    }
}

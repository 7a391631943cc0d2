//! Finding the best eligible offer around a position: walk the index nearest
//! first, apply [`crate::rules`] to each candidate, keep the lowest score, and
//! stop as soon as nothing farther could still win.

use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;

use crate::catalog::Catalog;
use crate::device::{Device, Position, Profile, TagPattern};
use crate::geodesy::bearing_deg;
use crate::index::{FoodFilter, Nearby};
use crate::message::Side;
use crate::tag_signature;
use std::sync::Arc;

use crate::offers::{Hours, HoursState, Merchant, Offer};
use crate::rules;

/// The winning offer and everything the suggestion says about it.
#[derive(Debug, Clone)]
pub struct Choice<'c, 'p> {
    /// The merchant.
    pub merchant: &'c Merchant,
    /// The offer.
    pub offer: &'c Offer,
    /// Great-circle distance in metres.
    pub distance_m: f64,
    /// Degrees from true north, device to merchant.
    pub bearing: f64,
    /// Side of the road, for a moving device with a heading.
    pub side: Option<Side>,
    /// Seconds to arrival.
    pub eta_s: u64,
    /// The `likes` tag that made it preferred.
    pub liked: Option<&'p TagPattern>,
    /// The ranking score (lower wins), see [`rules::score`].
    pub score: u64,
    /// The reach used, in metres.
    pub reach_m: f64,
}

impl Choice<'_, '_> {
    /// True when a candidate with this score, merchant and offer ranks before
    /// this choice: lower score, then merchant id, then offer id.
    fn is_beaten_by(&self, score: u64, merchant: &Merchant, offer: &Offer) -> bool {
        score
            .cmp(&self.score)
            .then_with(|| merchant.id.cmp(&self.merchant.id))
            .then_with(|| offer.id.cmp(&self.offer.id))
            .is_lt()
    }
}

/// The best eligible offer for the device at `position`, by every rule but the
/// respect gates (quiet hours, gap, daily cap), which the caller applies.
pub fn best_offer<'c, 'p>(
    catalog: &'c Catalog,
    device: &Device,
    profile: &'p Profile,
    position: &Position,
    now: DateTime<Utc>,
    hours: &mut HoursCache,
) -> Option<Choice<'c, 'p>> {
    let hungry = device.context.hungry(now) == Some(true);
    let food = match (hungry, profile.diet.is_empty()) {
        (false, _) => FoodFilter::NoFood,
        (true, true) => FoodFilter::AnyFood,
        (true, false) => FoodFilter::ServingDiets(&profile.diet),
    };
    let frame = rules::travel_frame(position);
    let reach = rules::reach_m(position.speed);

    // No offer can score below its distance with every factor it could earn:
    // once that floor passes the best score, nothing farther can win.
    let can_be_liked = !profile.likes.is_empty();
    let liked_bits = tag_signature::of_patterns(&profile.likes);
    let mut best: Option<Choice> = None;
    let mut walk = catalog.nearby(
        position.location,
        reach,
        food,
        frame.as_ref().map(rules::ahead_wedge),
    );
    let mut only_liked = false;
    while let Some((merchant, found)) = walk.next() {
        let Nearby {
            distance_m,
            vector,
            tag_bits,
            ..
        } = found;
        let beyond = |liked: bool| {
            best.as_ref()
                .is_some_and(|b| rules::score(distance_m, liked, true) > b.score)
        };
        if beyond(can_be_liked) {
            break;
        }
        if frame.is_some_and(|f| !rules::is_ahead_of(&f, vector, distance_m)) {
            continue;
        }
        // From here on nothing can win unless it is liked (the best only
        // improves, distances only grow): the walk passes over merchants whose
        // tags hold no liked tag, without reading them (the index's signature).
        if !only_liked && beyond(false) {
            only_liked = true;
            walk.only_maybe_matching(liked_bits);
        }
        if only_liked && !tag_signature::may_match(tag_bits, liked_bits) {
            continue;
        }
        if device.blocked.contains(&*merchant.id) {
            continue;
        }
        let eta_s = rules::eta_seconds(distance_m, position.speed);
        let arrival = rules::arrival_time(now, eta_s);
        // Tag matching is the costliest per-merchant step: done at most once, and
        // only for a merchant that could still win.
        let mut liked: Option<Option<&TagPattern>> = None;
        let mut disliked: Option<bool> = None;
        let mut open: Option<bool> = None;
        for offer in &merchant.offers {
            let with_audience = offer.audience().is_some();
            let could_win = |liked: bool| {
                let score = rules::score(distance_m, liked, with_audience);
                best.as_ref()
                    .is_none_or(|b| b.is_beaten_by(score, merchant, offer))
            };
            if !could_win(can_be_liked) {
                continue;
            }
            let liked = *liked.get_or_insert_with(|| rules::liked_tag(merchant, profile));
            if liked.is_none() && !could_win(false) {
                continue;
            }
            let score = rules::score(distance_m, liked.is_some(), with_audience);
            let eligible = offer.radius_m().is_none_or(|r| distance_m <= r)
                && rules::suits_appetite(merchant, offer, profile, hungry)
                && rules::is_fresh_for(device, merchant, offer, now)
                && offer
                    .audience()
                    .is_none_or(|a| rules::audience_holds(a, profile, &device.context, now))
                && !*disliked.get_or_insert_with(|| rules::is_disliked(merchant, profile))
                && rules::offer_holds_at(offer, arrival, hours)
                && *open.get_or_insert_with(|| rules::is_open_at(merchant, arrival, hours));
            if eligible {
                best = Some(Choice {
                    merchant,
                    offer,
                    distance_m,
                    bearing: bearing_deg(position.location, merchant.location),
                    side: frame.map(|f| rules::side_of(f.cross_track_m(vector))),
                    eta_s,
                    liked,
                    score,
                    reach_m: reach,
                });
                walk.shrink_radius(rules::farthest_scoring(score, can_be_liked));
            }
        }
    }
    best
}

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

/// Why this offer: the rules it passed, in words a tester can grep.
pub fn reasons(choice: &Choice, profile: &Profile, moving: bool) -> Vec<String> {
    let mut reasons = vec!["consent".to_string()];
    if choice.offer.is_food {
        reasons.push("hungry".into());
        reasons.extend(profile.diet.iter().map(|d| format!("diet:{d}")));
    }
    if choice.merchant.hours.is_some() {
        reasons.push("open_at_arrival".into());
    }
    if choice.offer.has_time_terms() {
        reasons.push("offer_valid_at_arrival".into());
    }
    reasons.push(format!("within_reach:{}m", choice.reach_m.round() as u64));
    if moving {
        reasons.push("ahead".into());
    }
    if choice.offer.audience().is_some() {
        reasons.push("audience_matched".into());
    }
    if let Some(tag) = choice.liked {
        reasons.push(format!("liked:{tag}"));
    }
    reasons.push("best_ranked".into());
    reasons
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

//! Finding the best eligible offer around a position: walk the index nearest
//! first, apply [`crate::rules`] to each candidate, keep the lowest score, and
//! stop as soon as nothing farther could still win.

use chrono::{DateTime, Utc};

use crate::catalog::Catalog;
use crate::device::{Device, Position, Profile, TagPattern};
use crate::geodesy::{bearing_deg, cross_track_m};
use crate::index::FoodFilter;
use crate::message::Side;
use std::collections::HashMap;
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
    /// The ranking score (lower wins).
    pub score: f64,
    /// The reach used, in metres.
    pub reach_m: f64,
}

impl Choice<'_, '_> {
    fn beats(&self, other: &Self) -> bool {
        self.score
            .total_cmp(&other.score)
            .then_with(|| self.merchant.id.cmp(&other.merchant.id))
            .then_with(|| self.offer.id.cmp(&other.offer.id))
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
) -> Option<Choice<'c, 'p>> {
    let hungry = device.context.hungry(now) == Some(true);
    let food = match (hungry, profile.diet.is_empty()) {
        (false, _) => FoodFilter::NoFood,
        (true, true) => FoodFilter::AnyFood,
        (true, false) => FoodFilter::ServingDiets(&profile.diet),
    };
    let heading = position
        .heading
        .filter(|_| position.speed >= rules::MOVING_SPEED);
    let reach = rules::reach_m(position.speed);
    // No candidate can score below its distance times the best possible factors.
    let floor_factor = if profile.likes.is_empty() {
        1.0
    } else {
        rules::LIKED_FACTOR
    } * rules::AUDIENCE_FACTOR;

    let mut best: Option<Choice> = None;
    let mut memo = HoursMemo::default();
    for (merchant, distance_m) in catalog.within(position.location, reach, food) {
        if best
            .as_ref()
            .is_some_and(|b| distance_m * floor_factor > b.score)
        {
            break;
        }
        if device.blocked.contains(&*merchant.id) || rules::is_disliked(merchant, profile) {
            continue;
        }
        let bearing = bearing_deg(position.location, merchant.location);
        let side = match heading {
            Some(h) if distance_m > 0.5 && !rules::is_ahead(bearing, h) => continue,
            Some(h) => Some(side_of(cross_track_m(
                position.location,
                h,
                merchant.location,
            ))),
            None => None,
        };
        let eta_s = rules::eta_seconds(distance_m, position.speed);
        let arrival = rules::arrival_time(now, eta_s);
        let liked = rules::liked_tag(merchant, profile);
        let mut open: Option<bool> = None;
        for offer in &merchant.offers {
            let candidate = Choice {
                merchant,
                offer,
                distance_m,
                bearing,
                side,
                eta_s,
                liked,
                score: rules::score(distance_m, liked.is_some(), offer.audience.is_some()),
                reach_m: reach,
            };
            if best.as_ref().is_some_and(|b| !candidate.beats(b)) {
                continue;
            }
            let eligible = offer.radius_m.is_none_or(|r| distance_m <= r)
                && rules::suits_appetite(merchant, offer, profile, hungry)
                && rules::is_fresh_for(device, merchant, offer, now)
                && offer
                    .audience
                    .as_ref()
                    .is_none_or(|a| rules::audience_holds(a, profile, &device.context, now))
                && rules::offer_holds_at(offer, arrival, &mut memo)
                && *open.get_or_insert_with(|| rules::is_open_at(merchant, arrival, &mut memo));
            if eligible {
                best = Some(candidate);
            }
        }
    }
    best
}

/// Opening-hours answers within one decision: merchants share a few hundred
/// schedules and arrival times differ by minutes, so each schedule is evaluated
/// once, with the instant it next changes, then answered from memory.
#[derive(Default)]
struct HoursMemo {
    known: HashMap<*const Hours, Span>,
}

/// A schedule's state over `[from, until)`.
struct Span {
    from: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    open: bool,
}

impl rules::OpenAt for HoursMemo {
    fn open_at(&mut self, hours: &Arc<Hours>, at: DateTime<Utc>) -> bool {
        let id = Arc::as_ptr(hours);
        if let Some(span) = self.known.get(&id) {
            if span.from <= at && span.until.is_none_or(|u| at < u) {
                return span.open;
            }
        }
        let (state, until) = hours.state_and_next_change(at);
        let open = state == HoursState::Open;
        self.known.insert(
            id,
            Span {
                from: at,
                until,
                open,
            },
        );
        open
    }
}

fn side_of(cross_track_m: f64) -> Side {
    if cross_track_m > rules::SIDE_OFFSET_M {
        Side::Right
    } else if cross_track_m < -rules::SIDE_OFFSET_M {
        Side::Left
    } else {
        Side::Ahead
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
    if choice.offer.when.is_some()
        || choice.offer.valid_from.is_some()
        || choice.offer.valid_until.is_some()
    {
        reasons.push("offer_valid_at_arrival".into());
    }
    reasons.push(format!("within_reach:{}m", choice.reach_m.round() as u64));
    if moving {
        reasons.push("ahead".into());
    }
    if choice.offer.audience.is_some() {
        reasons.push("audience_matched".into());
    }
    if let Some(tag) = choice.liked {
        reasons.push(format!("liked:{tag}"));
    }
    reasons.push("best_ranked".into());
    reasons
}

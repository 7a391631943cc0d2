//! Finding the best eligible offer around a position: walk the index nearest
//! first, apply [`crate::rules`] to each candidate, keep the lowest score, and
//! stop as soon as nothing farther could still win.

use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;

use crate::catalog::Catalog;
use crate::device::{Device, Position, Profile, TagPattern};
use crate::geodesy::{bearing_deg, TravelFrame};
use crate::index::FoodFilter;
use crate::message::Side;
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
) -> Option<Choice<'c, 'p>> {
    let hungry = device.context.hungry(now) == Some(true);
    let food = match (hungry, profile.diet.is_empty()) {
        (false, _) => FoodFilter::NoFood,
        (true, true) => FoodFilter::AnyFood,
        (true, false) => FoodFilter::ServingDiets(&profile.diet),
    };
    let frame = position
        .heading
        .filter(|_| position.speed >= rules::MOVING_SPEED)
        .map(|h| TravelFrame::new(position.location, h));
    let reach = rules::reach_m(position.speed);

    // No offer can score below its distance with every factor it could earn:
    // once that floor passes the best score, nothing farther can win.
    let can_be_liked = !profile.likes.is_empty();
    let mut best: Option<Choice> = None;
    let mut memo = HoursMemo::default();
    for (merchant, distance_m, vector) in catalog.nearby(position.location, reach, food) {
        if best
            .as_ref()
            .is_some_and(|b| rules::score(distance_m, can_be_liked, true) > b.score)
        {
            break;
        }
        if frame.is_some_and(|f| !rules::is_ahead_of(&f, vector, distance_m))
            || device.blocked.contains(&*merchant.id)
        {
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
                && rules::offer_holds_at(offer, arrival, &mut memo)
                && *open.get_or_insert_with(|| rules::is_open_at(merchant, arrival, &mut memo));
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
    known: FxHashMap<*const Hours, Span>,
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

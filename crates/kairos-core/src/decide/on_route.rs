//! The search along a planned route in use (SPEC "A planned route"): the
//! merchants within the corridor of the stretch ahead, ranked by the detour.
//!
//! Candidates are gathered around points of the stretch every corridor width
//! (a merchant within the corridor lies within 1.5 corridor widths of one of
//! them), each found once. The rules that need no place go first; the
//! others, and the detour (by road, three searches), only for candidates
//! that could still win, taken in the order of a lower bound on their
//! detour, so the search stops as soon as none can.

use rustc_hash::{FxHashMap, FxHashSet};

use super::candidate::{Candidate, MerchantFacts};
use super::place::{Place, Placer, Ranking, RouteView};
use super::{Choice, Scratch, Situation};
use crate::device::Profile;
use crate::roads::matching::{ACCESS_RADIUS_M, MATCH_RADIUS_M};
use crate::route::Nearest;
use crate::rules::{self, Factors, Rule};
use crate::tastes::Learned;

/// The rules that need no place, cheapest first.
const PLACE_FREE: [Rule; 7] = [
    Rule::DietNotServed,
    Rule::NotHungry,
    Rule::Dismissed,
    Rule::Blocked,
    Rule::SuggestedIn24h,
    Rule::Audience,
    Rule::Disliked,
];

/// The rules that need the place (the detour, the arrival).
const PLACED: [Rule; 6] = [
    Rule::OffCorridor,
    Rule::DetourTooLong,
    Rule::OutOfReach,
    Rule::Behind,
    Rule::OfferNotValid,
    Rule::ClosedAtArrival,
];

/// One offer that passed the rules that need no place.
struct Pending {
    floor: u64,
    position: usize,
    offer: usize,
    nearest: Nearest,
}

/// The best offer along the route.
pub(super) fn best_on_route<'c, 'p>(
    situation: &Situation<'c>,
    view: RouteView<'c>,
    profile: &'p Profile,
    learned: &Learned,
    scratch: &mut Scratch,
) -> Option<Choice<'c, 'p>> {
    let Scratch { hours, search } = scratch;
    let catalog = situation.catalog;
    let mut placer = Placer::new(situation, Some(view), search);
    let spacing = view.corridor_m;
    let radius = view.corridor_m + spacing / 2.0 + 1.0;
    let window = spacing + view.corridor_m;
    let pace = rules::pace(situation.position.speed);
    let fastest = situation
        .access
        .map(|a| a.network().max_speed_mps().max(pace));
    let mut seen = FxHashSet::default();
    let mut pending = Vec::new();
    for (sample, along) in view.route.samples(view.place, view.until_m(), spacing) {
        let found = catalog.nearby(sample, radius, situation.food_filter(), None);
        for (merchant, near) in found {
            if !seen.insert(near.position) || rules::is_blocked(situation.device, merchant) {
                continue;
            }
            let Some(nearest) =
                view.nearest_between(merchant.location, along - window, along + window)
            else {
                continue;
            };
            // No detour is shorter than twice the offset at the fastest pace
            // (by road, less the off-road legs a path does not count).
            let floor = match fastest {
                Some(v) => {
                    let road = (nearest.offset_m - MATCH_RADIUS_M - ACCESS_RADIUS_M).max(0.0);
                    (2.0 * road / v).floor() as u64
                }
                None => rules::eta_seconds(2.0 * nearest.offset_m, situation.position.speed),
            };
            let mut facts =
                MerchantFacts::new(merchant, near.position, near.distance_m, near.vector);
            for (index, offer) in merchant.offers.iter().enumerate() {
                let mut candidate = Candidate::new(situation, &mut facts, offer);
                if candidate
                    .first_failing(&PLACE_FREE, &mut placer, hours)
                    .is_none()
                {
                    pending.push(Pending {
                        floor,
                        position: near.position,
                        offer: index,
                        nearest,
                    });
                }
            }
        }
    }
    pending.sort_by_key(|p| (p.floor, p.position, p.offer));
    let most = Factors::best(!profile.likes.is_empty(), learned.can_prefer());
    let mut places: FxHashMap<usize, Option<Place>> = FxHashMap::default();
    let mut best: Option<Choice> = None;
    for p in pending {
        if best
            .as_ref()
            .is_some_and(|b| rules::score_of_key(p.floor, most) > b.score)
        {
            break;
        }
        let merchant = catalog.merchant(p.position);
        let offer = &merchant.offers[p.offer];
        let mut facts = MerchantFacts::new(
            merchant,
            p.position,
            crate::geodesy::distance_m(situation.position.location, merchant.location),
            merchant.location.unit_vector(),
        )
        .with_nearest(p.nearest);
        if let Some(place) = places.get(&p.position) {
            facts.set_place(place.clone());
        }
        let liked = facts.liked(profile);
        let factors = facts.factors(profile, learned, offer);
        let mut candidate = Candidate::new(situation, &mut facts, offer);
        let failing = candidate.first_failing(&PLACED, &mut placer, hours);
        let place = candidate.place(&mut placer);
        places.insert(p.position, place.clone());
        let (None, Some(place)) = (failing, place) else {
            continue;
        };
        let score = rules::score_of_key(place.key(Ranking::Detour), factors);
        if best
            .as_ref()
            .is_none_or(|b| b.is_beaten_by(score, place.tie(), merchant, offer))
        {
            best = Some(Choice {
                merchant,
                offer,
                place,
                liked,
                factors,
                learned: Vec::new(),
                score,
                reach_m: placer.reach_m(),
                ranking: Ranking::Detour,
            });
        }
    }
    best
}

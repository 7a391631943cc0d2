//! Finding the best eligible offer around a position: walk the index nearest
//! first, place each candidate (in a straight line, or by road when a road
//! network is loaded), apply [`crate::rules`] to it, keep the lowest score,
//! and stop as soon as nothing farther could still win.
//!
//! - [`place`]: where a candidate is for this device: distance, bearing,
//!   side, time to arrival; straight or by road.
//! - [`candidate`]: the rules of one candidate offer, applied in SPEC's
//!   order for [`crate::explain`] and in cost order for the search, by the
//!   same code.
//! - [`hours_cache`]: opening-hours states remembered across decisions.
//! - `on_route`: the search along a planned route in use.

pub mod candidate;
pub mod hours_cache;
mod on_route;
pub mod place;

use chrono::{DateTime, Utc};

use crate::catalog::Catalog;
use crate::device::{Device, Position, Profile, TagPattern};
use crate::index::{FoodFilter, Nearby};
use crate::offers::{Merchant, Offer};
use crate::roads::{Access, RoadMatch, SearchScratch};
use crate::rules::{self, Factors, Rule};
use crate::tag_signature;
use crate::tastes::Learned;

pub use candidate::{Candidate, MerchantFacts};
pub use hours_cache::HoursCache;
pub use place::{Place, Placer, Ranking, RouteLeg, RouteView};

/// The winning offer and everything the suggestion says about it.
#[derive(Debug, Clone)]
pub struct Choice<'c, 'p> {
    /// The merchant.
    pub merchant: &'c Merchant,
    /// The offer.
    pub offer: &'c Offer,
    /// Where it is for the device: distance, side, time, road path and turn.
    pub place: Place,
    /// The `likes` tag that made it preferred.
    pub liked: Option<&'p TagPattern>,
    /// The factors its score was reckoned with.
    pub factors: Factors,
    /// The learned tastes that ranked it: `learned:<tag>` and
    /// `learned_against:<tag>` (found for the winner only).
    pub learned: Vec<String>,
    /// The ranking score (lower wins), see [`rules::score`].
    pub score: u64,
    /// The reach used, in metres.
    pub reach_m: f64,
    /// What the score counts: metres, or seconds with roads or on a route.
    pub ranking: Ranking,
}

impl Choice<'_, '_> {
    /// True when a candidate with this score, tie-breaker, merchant and
    /// offer ranks before this choice (see [`ranks_before`]).
    pub fn is_beaten_by(&self, score: u64, tie: u64, merchant: &Merchant, offer: &Offer) -> bool {
        ranks_before(
            (score, tie, merchant, offer),
            (self.score, self.place.tie(), self.merchant, self.offer),
        )
    }
}

/// SPEC's ranking order: lower score, then (on a route) nearer along it,
/// then merchant id, then offer id.
pub fn ranks_before(a: (u64, u64, &Merchant, &Offer), b: (u64, u64, &Merchant, &Offer)) -> bool {
    a.0.cmp(&b.0)
        .then(a.1.cmp(&b.1))
        .then_with(|| a.2.id.cmp(&b.2.id))
        .then_with(|| a.3.id.cmp(&b.3.id))
        .is_lt()
}

/// Everything a decision reads: the merchants, the device and where it is.
#[derive(Clone, Copy)]
pub struct Situation<'a> {
    /// The merchants in service.
    pub catalog: &'a Catalog,
    /// The merchants on the road network, when roads are loaded.
    pub access: Option<&'a Access>,
    /// The device.
    pub device: &'a Device,
    /// Its profile (with consent: the caller checked).
    pub profile: &'a Profile,
    /// Its position.
    pub position: &'a Position,
    /// The position matched to a road, when it is.
    pub road_match: Option<RoadMatch>,
    /// The event time.
    pub now: DateTime<Utc>,
    /// The planned route, when one is in use.
    pub route: Option<RouteView<'a>>,
}

impl Situation<'_> {
    /// True when the context says `hungry: true` now.
    pub fn hungry(&self) -> bool {
        self.device.context.hungry(self.now) == Some(true)
    }

    /// Which merchants the index may skip: a person who is not hungry gets no
    /// food place; a hungry one, only food places serving every diet.
    pub fn food_filter(&self) -> FoodFilter<'_> {
        match (self.hungry(), self.profile.diet.is_empty()) {
            (false, _) => FoodFilter::NoFood,
            (true, true) => FoodFilter::AnyFood,
            (true, false) => FoodFilter::ServingDiets(&self.profile.diet),
        }
    }
}

/// What decisions reuse from one to the next (pure memos and buffers).
#[derive(Default)]
pub struct Scratch {
    /// Opening-hours states.
    pub hours: HoursCache,
    /// The road search's labels.
    pub search: SearchScratch,
}

/// The best eligible offer for the device, by every rule but the device's
/// own gates (consent, position, quiet hours, gap, daily cap), which the
/// caller applies.
pub fn best_offer<'c, 'p>(
    situation: &Situation<'c>,
    profile: &'p Profile,
    scratch: &mut Scratch,
) -> Option<Choice<'c, 'p>> {
    let learned = Learned::new(&situation.device.tastes, profile, situation.now);
    let mut best = match situation.route {
        Some(view) => on_route::best_on_route(situation, view, profile, &learned, scratch),
        None => best_around(situation, profile, &learned, scratch),
    };
    if let Some(choice) = best.as_mut() {
        if choice.factors.learned || choice.factors.against {
            choice.learned = learned.reasons(choice.merchant);
        }
    }
    best
}

/// The best offer around the device: the index walked nearest first.
fn best_around<'c, 'p>(
    situation: &Situation<'c>,
    profile: &'p Profile,
    learned: &Learned,
    scratch: &mut Scratch,
) -> Option<Choice<'c, 'p>> {
    let Scratch { hours, search } = scratch;
    let mut placer = Placer::new(situation, None, search);
    let catalog = situation.catalog;
    let device = situation.device;
    let reach = placer.reach_m();
    let ranking = placer.ranking();

    // No offer can score below its lowest possible ranking key with every
    // factor it could earn: once that floor passes the best score, nothing
    // farther can win. A merchant may earn × 0.75 from `likes` and × 0.85
    // from what was learned; × 1.5 only ever raises a score.
    let can_be_liked = !profile.likes.is_empty();
    let can_be_learned = learned.can_prefer();
    let most = Factors::best(can_be_liked, can_be_learned);
    let preferred_bits = tag_signature::of_patterns(&profile.likes) | learned.liked_bits;
    let mut best: Option<Choice> = None;
    let mut walk = catalog.nearby(
        situation.position.location,
        placer.search_radius_m(),
        situation.food_filter(),
        placer.frame().as_ref().map(rules::ahead_wedge),
    );
    let mut only_preferred = false;
    while let Some((merchant, found)) = walk.next() {
        let Nearby {
            distance_m,
            vector,
            tag_bits,
            position,
        } = found;
        let floor = placer.lowest_key(distance_m);
        let beyond = |factors: Factors| {
            best.as_ref()
                .is_some_and(|b| rules::score_of_key(floor, factors) > b.score)
        };
        if beyond(most) {
            break;
        }
        if placer
            .frame()
            .is_some_and(|f| !rules::is_ahead_of(&f, vector, distance_m))
        {
            continue;
        }
        // From here on nothing can win unless it is preferred, by `likes` or
        // by what was learned (the best only improves, floors only grow):
        // the walk passes over merchants whose tags hold no such tag,
        // without reading them (the index's signature).
        if !only_preferred && beyond(Factors::best(false, false)) {
            only_preferred = true;
            walk.only_maybe_matching(preferred_bits);
        }
        if only_preferred && !tag_signature::may_match(tag_bits, preferred_bits) {
            continue;
        }
        if rules::is_blocked(device, merchant) {
            continue;
        }
        let mut facts = MerchantFacts::new(merchant, position, distance_m, vector);
        for offer in &merchant.offers {
            let with_audience = offer.audience().is_some();
            let could_win = |key: u64, factors: Factors| {
                let score = rules::score_of_key(key, factors);
                best.as_ref()
                    .is_none_or(|b| b.is_beaten_by(score, 0, merchant, offer))
            };
            let at_most = Factors {
                audience: with_audience,
                ..most
            };
            if !could_win(floor, at_most) {
                continue;
            }
            let factors = facts.factors(profile, learned, offer);
            if !could_win(floor, factors) {
                continue;
            }
            let liked = facts.liked(profile);
            let mut candidate = Candidate::new(situation, &mut facts, offer);
            if candidate
                .first_failing(&Rule::BY_COST, &mut placer, hours)
                .is_some()
            {
                continue;
            }
            let Some(place) = candidate.place(&mut placer) else {
                continue;
            };
            let score = rules::score_of_key(place.key(ranking), factors);
            if !could_win(place.key(ranking), factors) {
                continue;
            }
            best = Some(Choice {
                merchant,
                offer,
                place: place.clone(),
                liked,
                factors,
                learned: Vec::new(),
                score,
                reach_m: reach,
                ranking,
            });
            walk.shrink_radius(placer.farthest_scoring(score, most));
        }
    }
    if let Some(choice) = best.as_mut() {
        placer.add_turn(&mut choice.place);
    }
    best
}

/// Why this offer: the rules it passed, in words a tester can grep.
pub fn reasons(choice: &Choice, profile: &Profile, moving: bool, roads: bool) -> Vec<String> {
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
    let on_route = choice.place.route;
    match on_route {
        Some(_) => reasons.push("on_route".into()),
        None => reasons.push(format!("within_reach:{}m", choice.reach_m.round() as u64)),
    }
    if roads {
        let by_road = match on_route {
            Some(leg) => leg.by_road,
            None => choice.place.road.is_some(),
        };
        reasons.push(if by_road { "by_road" } else { "straight_line" }.into());
    }
    if moving && on_route.is_none() {
        reasons.push("ahead".into());
    }
    if choice.offer.audience().is_some() {
        reasons.push("audience_matched".into());
    }
    if let Some(tag) = choice.liked {
        reasons.push(format!("liked:{tag}"));
    }
    reasons.extend(choice.learned.iter().cloned());
    reasons.push("best_ranked".into());
    reasons
}

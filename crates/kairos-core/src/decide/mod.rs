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

pub mod candidate;
pub mod hours_cache;
pub mod place;

use chrono::{DateTime, Utc};

use crate::catalog::Catalog;
use crate::device::{Device, Position, Profile, TagPattern};
use crate::index::{FoodFilter, Nearby};
use crate::offers::{Merchant, Offer};
use crate::roads::{Access, RoadMatch, SearchScratch};
use crate::rules::{self, Rule};
use crate::tag_signature;

pub use candidate::{Candidate, MerchantFacts};
pub use hours_cache::HoursCache;
pub use place::{Place, Placer, Ranking};

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
    /// The ranking score (lower wins), see [`rules::score`].
    pub score: u64,
    /// The reach used, in metres.
    pub reach_m: f64,
    /// What the score counts: metres, or seconds with roads.
    pub ranking: Ranking,
}

impl Choice<'_, '_> {
    /// True when a candidate with this score, merchant and offer ranks before
    /// this choice: lower score, then merchant id, then offer id.
    pub fn is_beaten_by(&self, score: u64, merchant: &Merchant, offer: &Offer) -> bool {
        ranks_before(
            (score, merchant, offer),
            (self.score, self.merchant, self.offer),
        )
    }
}

/// SPEC's ranking order: lower score, then merchant id, then offer id.
pub fn ranks_before(a: (u64, &Merchant, &Offer), b: (u64, &Merchant, &Offer)) -> bool {
    a.0.cmp(&b.0)
        .then_with(|| a.1.id.cmp(&b.1.id))
        .then_with(|| a.2.id.cmp(&b.2.id))
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
    let Scratch { hours, search } = scratch;
    let mut placer = Placer::new(situation, search);
    let catalog = situation.catalog;
    let device = situation.device;
    let reach = placer.reach_m();
    let ranking = placer.ranking();

    // No offer can score below its lowest possible ranking key with every
    // factor it could earn: once that floor passes the best score, nothing
    // farther can win.
    let can_be_liked = !profile.likes.is_empty();
    let liked_bits = tag_signature::of_patterns(&profile.likes);
    let mut best: Option<Choice> = None;
    let mut walk = catalog.nearby(
        situation.position.location,
        placer.search_radius_m(),
        situation.food_filter(),
        placer.frame().as_ref().map(rules::ahead_wedge),
    );
    let mut only_liked = false;
    while let Some((merchant, found)) = walk.next() {
        let Nearby {
            distance_m,
            vector,
            tag_bits,
            position,
        } = found;
        let floor = placer.lowest_key(distance_m);
        let beyond = |liked: bool| {
            best.as_ref()
                .is_some_and(|b| rules::score_of_key(floor, liked, true) > b.score)
        };
        if beyond(can_be_liked) {
            break;
        }
        if placer
            .frame()
            .is_some_and(|f| !rules::is_ahead_of(&f, vector, distance_m))
        {
            continue;
        }
        // From here on nothing can win unless it is liked (the best only
        // improves, floors only grow): the walk passes over merchants whose
        // tags hold no liked tag, without reading them (the index's signature).
        if !only_liked && beyond(false) {
            only_liked = true;
            walk.only_maybe_matching(liked_bits);
        }
        if only_liked && !tag_signature::may_match(tag_bits, liked_bits) {
            continue;
        }
        if rules::is_blocked(device, merchant) {
            continue;
        }
        let mut facts = MerchantFacts::new(merchant, position, distance_m, vector);
        for offer in &merchant.offers {
            let with_audience = offer.audience().is_some();
            let could_win = |key: u64, liked: bool| {
                let score = rules::score_of_key(key, liked, with_audience);
                best.as_ref()
                    .is_none_or(|b| b.is_beaten_by(score, merchant, offer))
            };
            if !could_win(floor, can_be_liked) {
                continue;
            }
            let liked = facts.liked(profile);
            if liked.is_none() && !could_win(floor, false) {
                continue;
            }
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
            let score = rules::score_of_key(place.key(ranking), liked.is_some(), with_audience);
            if !could_win(place.key(ranking), liked.is_some()) {
                continue;
            }
            best = Some(Choice {
                merchant,
                offer,
                place: place.clone(),
                liked,
                score,
                reach_m: reach,
                ranking,
            });
            walk.shrink_radius(placer.farthest_scoring(score, can_be_liked));
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
    reasons.push(format!("within_reach:{}m", choice.reach_m.round() as u64));
    if roads {
        reasons.push(
            if choice.place.road.is_some() {
                "by_road"
            } else {
                "straight_line"
            }
            .into(),
        );
    }
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

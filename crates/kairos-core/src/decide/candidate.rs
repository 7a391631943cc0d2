//! The rules of one candidate offer, by the same code whichever order they
//! are applied in: [`Rule::CANDIDATE`] (SPEC's order, for `explain`, which
//! names the first that fails) or [`Rule::BY_COST`] (cheapest first, for the
//! search, which only needs to know whether all hold). What several offers of
//! a merchant share (its place, its tags' verdicts) is found once, when a
//! rule first needs it.

use super::place::{Place, Placer};
use super::Situation;
use crate::device::{Profile, TagPattern};
use crate::offers::{Merchant, Offer};
use crate::route::Nearest;
use crate::rules::{self, OpenAt, Rule};
use crate::tastes::{self, Learned};

/// What a merchant's offers share, found when first needed.
pub struct MerchantFacts<'c, 'p> {
    merchant: &'c Merchant,
    position: usize,
    straight_m: f64,
    vector: [f64; 3],
    place: Option<Option<Place>>,
    liked: Option<Option<&'p TagPattern>>,
    learned: Option<tastes::Verdict>,
    disliked: Option<bool>,
    open: Option<bool>,
    nearest: Option<Nearest>,
}

impl<'c, 'p> MerchantFacts<'c, 'p> {
    /// The merchant at `position` in the catalog, `straight_m` away at
    /// `vector` on the unit sphere.
    pub fn new(merchant: &'c Merchant, position: usize, straight_m: f64, vector: [f64; 3]) -> Self {
        Self {
            merchant,
            position,
            straight_m,
            vector,
            place: None,
            liked: None,
            learned: None,
            disliked: None,
            open: None,
            nearest: None,
        }
    }

    /// The merchant's place, when the caller already found it.
    pub fn set_place(&mut self, place: Option<Place>) {
        self.place = Some(place);
    }

    /// The merchant's nearest point on the planned route, when the caller
    /// found it (otherwise the placer finds it).
    pub fn with_nearest(mut self, nearest: Nearest) -> Self {
        self.nearest = Some(nearest);
        self
    }

    /// The merchant.
    pub fn merchant(&self) -> &'c Merchant {
        self.merchant
    }

    /// Great-circle distance, metres.
    pub fn straight_m(&self) -> f64 {
        self.straight_m
    }

    /// The first `likes` tag the merchant carries.
    pub fn liked(&mut self, profile: &'p Profile) -> Option<&'p TagPattern> {
        let merchant = self.merchant;
        *self
            .liked
            .get_or_insert_with(|| rules::liked_tag(merchant, profile))
    }

    /// How the learned tastes rank the merchant.
    pub fn learned(&mut self, learned: &Learned) -> tastes::Verdict {
        let merchant = self.merchant;
        *self
            .learned
            .get_or_insert_with(|| learned.verdict(merchant))
    }

    /// The factors of `offer` of this merchant (see [`rules::Factors`]).
    pub fn factors(
        &mut self,
        profile: &'p Profile,
        learned: &Learned,
        offer: &Offer,
    ) -> rules::Factors {
        let verdict = self.learned(learned);
        rules::Factors {
            liked: self.liked(profile).is_some(),
            learned: verdict.learned,
            against: verdict.against,
            audience: offer.audience().is_some(),
        }
    }

    /// Where the merchant is for the device (`None`: out of reach).
    pub fn place(&mut self, placer: &mut Placer) -> Option<&Place> {
        let (position, straight_m, vector, nearest) =
            (self.position, self.straight_m, self.vector, self.nearest);
        self.place
            .get_or_insert_with(|| placer.place(position, straight_m, vector, nearest))
            .as_ref()
    }
}

/// One offer of a merchant, for one decision.
pub struct Candidate<'f, 'c, 'p, 'a> {
    situation: &'f Situation<'a>,
    facts: &'f mut MerchantFacts<'c, 'p>,
    offer: &'c Offer,
}

impl<'f, 'c, 'p, 'a> Candidate<'f, 'c, 'p, 'a> {
    /// `offer` of the merchant of `facts`.
    pub fn new(
        situation: &'f Situation<'a>,
        facts: &'f mut MerchantFacts<'c, 'p>,
        offer: &'c Offer,
    ) -> Self {
        Self {
            situation,
            facts,
            offer,
        }
    }

    /// The first of `rules` (in that order) that rules this offer out, or
    /// `None` when they all hold. Only candidate rules are looked at.
    pub fn first_failing(
        &mut self,
        rules: &[Rule],
        placer: &mut Placer,
        hours: &mut impl OpenAt,
    ) -> Option<Rule> {
        rules
            .iter()
            .copied()
            .find(|&rule| !self.holds(rule, placer, hours))
    }

    /// Where the merchant is for the device (`None`: out of reach).
    pub fn place(&mut self, placer: &mut Placer) -> Option<Place> {
        self.facts.place(placer).cloned()
    }

    /// True when `rule` does not rule this offer out. The device's own gates
    /// are not candidate rules: they hold here.
    pub fn holds(&mut self, rule: Rule, placer: &mut Placer, hours: &mut impl OpenAt) -> bool {
        let situation = self.situation;
        let (device, profile, now) = (situation.device, situation.profile, situation.now);
        let merchant = self.facts.merchant;
        let offer = self.offer;
        match rule {
            Rule::NoConsent
            | Rule::NoPosition
            | Rule::StalePosition
            | Rule::QuietHours
            | Rule::Gap
            | Rule::DailyCap => true,
            Rule::OutOfReach => {
                let on_route = placer.route().is_some();
                let within = |p: &Place| offer.radius_m().is_none_or(|r| p.distance_m <= r);
                match self.facts.place(placer) {
                    Some(place) => within(place),
                    // Off the corridor is its own rule on a route.
                    None => on_route,
                }
            }
            Rule::Behind => placer
                .frame()
                .is_none_or(|f| rules::is_ahead_of(&f, self.facts.vector, self.facts.straight_m)),
            Rule::OffCorridor => placer.route().is_none() || self.facts.place(placer).is_some(),
            Rule::DetourTooLong => {
                let Some(max) = placer.route().map(|r| r.max_detour_s) else {
                    return true;
                };
                self.facts
                    .place(placer)
                    .and_then(|p| p.route)
                    .is_none_or(|leg| leg.detour_s.round() <= max)
            }
            Rule::DietNotServed => !offer.is_food || rules::serves_all_diets(merchant, profile),
            Rule::NotHungry => !offer.is_food || situation.hungry(),
            Rule::Disliked => !*self
                .facts
                .disliked
                .get_or_insert_with(|| rules::is_disliked(merchant, profile)),
            Rule::ClosedAtArrival => {
                let Some(arrival) = self.facts.place(placer).map(|p| p.arrival(now)) else {
                    return true;
                };
                *self
                    .facts
                    .open
                    .get_or_insert_with(|| rules::is_open_at(merchant, arrival, hours))
            }
            Rule::OfferNotValid => match self.facts.place(placer).map(|p| p.arrival(now)) {
                Some(arrival) => rules::offer_holds_at(offer, arrival, hours),
                None => true,
            },
            Rule::Audience => offer
                .audience()
                .is_none_or(|a| rules::audience_holds(a, profile, &device.context, now)),
            Rule::Dismissed => !rules::is_dismissed(device, merchant, offer),
            Rule::Blocked => !rules::is_blocked(device, merchant),
            Rule::SuggestedIn24h => !device.suggested_recently(&merchant.id, &offer.id, now),
        }
    }
}

//! Seeing why (SPEC "Seeing why"): for a device at a moment, the offers
//! nearest in a straight line, each with the first rule that rules it out in
//! the order SPEC lists them, and the one the decision picks, with its score.
//!
//! The verdicts come from the decision's own rule code
//! ([`Candidate::first_failing`] over [`Rule::CANDIDATE`]) and the winner
//! from the decision itself ([`best_offer`]), so the explanation cannot
//! drift from what kairos would do; `tests/explain_matches_decision.rs`
//! holds the two together on random cases.

use crate::decide::{best_offer, Candidate, MerchantFacts, Place, Placer, Ranking, Situation};
use crate::device::Position;
use crate::index::FoodFilter;
use crate::offers::{Merchant, Offer};
use crate::rules::{self, Rule};
use crate::stamp::Stamp;
use crate::tastes::Learned;

/// Half the Earth's circumference, metres: every merchant lies within it.
const EVERYWHERE_M: f64 = 20_000_000.0;

/// What the decision would say about one offer.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The first rule that rules it out.
    RuledOut(Rule),
    /// The decision picks it, with this score (lower wins).
    Wins {
        /// The score, in units of the ranking key (metres or seconds).
        score: f64,
    },
    /// Eligible, but another ranks before it.
    Outranked {
        /// The score, in units of the ranking key.
        score: f64,
    },
}

impl Verdict {
    /// The code printed: a rule's, `wins` or `outranked`.
    pub fn code(&self) -> &'static str {
        match self {
            Verdict::RuledOut(rule) => rule.code(),
            Verdict::Wins { .. } => "wins",
            Verdict::Outranked { .. } => "outranked",
        }
    }
}

/// One offer, explained.
#[derive(Debug, Clone, PartialEq)]
pub struct Explained {
    /// The merchant's id.
    pub merchant: String,
    /// The merchant's name.
    pub name: String,
    /// The offer's id.
    pub offer: String,
    /// The offer's title in the device's language.
    pub title: String,
    /// Whole metres in a straight line.
    pub straight_m: u64,
    /// Where the decision placed it, when within reach: published distance,
    /// seconds to arrival, and whether by road.
    pub placed: Option<Placed>,
    /// What the decision says.
    pub verdict: Verdict,
}

/// Where a candidate was placed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placed {
    /// Whole metres (by road when `by_road`).
    pub distance_m: u64,
    /// Whole seconds to arrival.
    pub eta_s: u64,
    /// Placed by road (else in a straight line).
    pub by_road: bool,
}

/// The device's part of the explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The device.
    pub device: String,
    /// The moment, as given.
    pub at: String,
    /// What scores count: metres, or seconds with roads.
    pub ranking: Ranking,
    /// A rule of the device's own (consent, position, respect) that rules out
    /// every candidate at once, if one does.
    pub gate: Option<Rule>,
    /// The position decided from (the last good one, as if it arrived again).
    pub position: Option<Position>,
    /// Whether that position is matched to a road.
    pub on_road: bool,
    /// The offers nearest in a straight line, nearest first (then the winner
    /// if it lies farther).
    pub candidates: Vec<Explained>,
}

impl Explanation {
    /// The offer the decision picks, if any.
    pub fn winner(&self) -> Option<&Explained> {
        self.candidates
            .iter()
            .find(|c| matches!(c.verdict, Verdict::Wins { .. }))
    }
}

impl crate::engine::Engine {
    /// Explains the decision for `device_id` as if its last good position
    /// arrived again at `at`: the `limit` offers nearest in a straight line,
    /// each with its verdict. A suggestion made at exactly `at` is the
    /// decision explained, so it is not held against itself.
    pub fn explain(&self, device_id: &str, at: &Stamp, limit: usize) -> Explanation {
        let now = at.time;
        let on_route = self
            .device(device_id)
            .and_then(|d| d.route.as_ref())
            .and_then(|r| r.in_use())
            .is_some();
        let ranking = match (on_route, self.roads().is_some()) {
            (true, _) => Ranking::Detour,
            (false, true) => Ranking::Time,
            (false, false) => Ranking::Distance,
        };
        let mut explanation = Explanation {
            device: device_id.to_string(),
            at: at.text.clone(),
            ranking,
            gate: None,
            position: None,
            on_road: false,
            candidates: Vec::new(),
        };
        let Some(device) = self.device(device_id) else {
            explanation.gate = Some(Rule::NoConsent);
            return explanation;
        };
        // The decision being explained is the one at `at`: a suggestion it
        // made does not count against itself (gap, cap, 24 h).
        let mut device = device.clone();
        device.history.retain(|s| s.at != now);
        let device = &device;
        let consent = device.profile.as_ref().filter(|p| p.consent);
        let position = device.position(now).map(|p| Position { ts: now, ..*p });
        explanation.position = position;
        explanation.on_road = position.is_some() && device.road.matched.is_some();
        explanation.gate = match (consent, &position) {
            (None, _) => Some(Rule::NoConsent),
            (Some(_), None) if device.stale_since(now) => Some(Rule::StalePosition),
            (Some(_), None) => Some(Rule::NoPosition),
            (Some(profile), Some(position)) => self.respect_gate(device, profile, position, now),
        };
        let (Some(position), Some(profile)) = (position, device.profile.as_ref()) else {
            return explanation;
        };
        let situation = Situation {
            catalog: self.catalog(),
            access: self.access(),
            device,
            profile,
            position: &position,
            road_match: device.road.matched,
            now,
            route: self.route_view(device),
        };
        let mut scratch = self.scratch().borrow_mut();
        let winner = if explanation.gate.is_none() {
            best_offer(&situation, profile, &mut scratch)
                .map(|c| (c.merchant.id.to_string(), c.offer.id.to_string(), c.score))
        } else {
            None
        };
        let lang = profile.lang.code();
        let explained =
            |merchant: &Merchant, offer: &Offer, straight_m, placed, verdict| Explained {
                merchant: merchant.id.to_string(),
                name: merchant.name.to_string(),
                offer: offer.id.to_string(),
                title: offer.title.in_lang(lang).to_string(),
                straight_m: rules::whole_metres(straight_m),
                placed,
                verdict,
            };
        let crate::decide::Scratch { hours, search } = &mut *scratch;
        let mut placer = Placer::new(&situation, situation.route, search);
        let learned = Learned::new(&device.tastes, profile, now);
        let mut winner_listed = false;
        let everything =
            self.catalog()
                .nearby(position.location, EVERYWHERE_M, FoodFilter::AnyFood, None);
        'merchants: for (merchant, found) in everything {
            let mut facts =
                MerchantFacts::new(merchant, found.position, found.distance_m, found.vector);
            for offer in &merchant.offers {
                let is_winner = winner
                    .as_ref()
                    .is_some_and(|(m, o, _)| **m == *merchant.id && **o == *offer.id);
                if explanation.candidates.len() >= limit && !is_winner {
                    if winner_listed || winner.is_none() {
                        break 'merchants;
                    }
                    continue;
                }
                let mut candidate = Candidate::new(&situation, &mut facts, offer);
                let failing = candidate.first_failing(&Rule::CANDIDATE, &mut placer, hours);
                let place = candidate.place(&mut placer);
                let verdict = match (explanation.gate, failing) {
                    (Some(gate), _) => Verdict::RuledOut(gate),
                    (None, Some(rule)) => Verdict::RuledOut(rule),
                    (None, None) => {
                        let key = place.as_ref().map_or(0, |p| p.key(ranking));
                        let factors = facts.factors(profile, &learned, offer);
                        let score = rules::score_of_key(key, factors) as f64 / rules::SCORE_UNIT;
                        if is_winner {
                            Verdict::Wins { score }
                        } else {
                            Verdict::Outranked { score }
                        }
                    }
                };
                winner_listed |= is_winner;
                let placed = place.as_ref().map(placed);
                explanation.candidates.push(explained(
                    merchant,
                    offer,
                    found.distance_m,
                    placed,
                    verdict,
                ));
            }
        }
        explanation
    }

    /// Quiet hours, the gap and the daily cap, as for a position event.
    fn respect_gate(
        &self,
        device: &crate::device::Device,
        profile: &crate::device::Profile,
        position: &Position,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<Rule> {
        self.respect(device, profile, position, now).err()
    }
}

fn placed(place: &Place) -> Placed {
    Placed {
        distance_m: rules::whole_metres(place.distance_m),
        eta_s: place.eta_s,
        by_road: place.road.is_some(),
    }
}

//! The eligibility rules of SPEC, one function each, their names ([`Rule`],
//! in the order SPEC's `explain` lists them), and the ranking score. The
//! search in [`crate::decide`] and the explanation in [`crate::explain`] call
//! these and nothing else decides.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::device::{Context, Device, Position, Profile, TagPattern};
use crate::geodesy::TravelFrame;
use crate::index::Ahead;
use crate::message::Side;
use crate::offers::{Audience, Condition, Hours, Merchant, Offer};

/// A rule that can rule a suggestion out, in the order SPEC's `explain`
/// applies them: first the device's own gates (they rule out every
/// candidate at once), then the rules of each candidate offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// The profile has no `consent: true` (or there is no profile).
    NoConsent,
    /// No good position in the last 2 h.
    NoPosition,
    /// The last position's `ts` is more than 2 min off the clock.
    StalePosition,
    /// Within the profile's quiet hours (not for `ask`).
    QuietHours,
    /// Within `min_gap_min` of the last suggestion (not for `ask`).
    Gap,
    /// `max_per_day` suggestions in the last 24 h (not for `ask`).
    DailyCap,
    /// Farther than the reach (or the offer's `radius_m`), or no road path within it.
    OutOfReach,
    /// Not within ±60° of a moving device's heading.
    Behind,
    /// Not within the corridor of the planned route ahead.
    OffCorridor,
    /// The detour from the planned route takes longer than `max_detour_s`.
    DetourTooLong,
    /// A food offer where a diet of the profile is not served.
    DietNotServed,
    /// A food offer and the context is not `hungry: true`.
    NotHungry,
    /// The merchant carries a tag of the profile's `dislikes`.
    Disliked,
    /// The merchant is not open at arrival.
    ClosedAtArrival,
    /// The offer's `when` or validity dates do not hold at arrival.
    OfferNotValid,
    /// The offer's audience does not hold for the device.
    Audience,
    /// The person dismissed this offer.
    Dismissed,
    /// The person blocked this merchant.
    Blocked,
    /// This offer was suggested to the device in the last 24 h.
    SuggestedIn24h,
}

impl Rule {
    /// The rules of one candidate offer, in SPEC's order.
    pub const CANDIDATE: [Rule; 13] = [
        Rule::OutOfReach,
        Rule::Behind,
        Rule::OffCorridor,
        Rule::DetourTooLong,
        Rule::DietNotServed,
        Rule::NotHungry,
        Rule::Disliked,
        Rule::ClosedAtArrival,
        Rule::OfferNotValid,
        Rule::Audience,
        Rule::Dismissed,
        Rule::Blocked,
        Rule::SuggestedIn24h,
    ];

    /// The same rules, cheapest first: the order the search applies them in
    /// (it only needs to know whether all hold). Placing a merchant by road
    /// is the costliest step, so the rules that need no place come first,
    /// and the time rules, which need the arrival, last.
    pub const BY_COST: [Rule; 13] = [
        Rule::Behind,
        Rule::DietNotServed,
        Rule::NotHungry,
        Rule::Dismissed,
        Rule::Blocked,
        Rule::SuggestedIn24h,
        Rule::Audience,
        Rule::Disliked,
        Rule::OffCorridor,
        Rule::DetourTooLong,
        Rule::OutOfReach,
        Rule::OfferNotValid,
        Rule::ClosedAtArrival,
    ];

    /// The code `explain` prints, e.g. `closed_at_arrival`.
    pub fn code(self) -> &'static str {
        match self {
            Rule::NoConsent => "no_consent",
            Rule::NoPosition => "no_position",
            Rule::StalePosition => "stale_position",
            Rule::QuietHours => "quiet_hours",
            Rule::Gap => "gap",
            Rule::DailyCap => "daily_cap",
            Rule::OutOfReach => "out_of_reach",
            Rule::Behind => "behind",
            Rule::OffCorridor => "off_corridor",
            Rule::DetourTooLong => "detour_too_long",
            Rule::DietNotServed => "diet_not_served",
            Rule::NotHungry => "not_hungry",
            Rule::Disliked => "disliked",
            Rule::ClosedAtArrival => "closed_at_arrival",
            Rule::OfferNotValid => "offer_not_valid",
            Rule::Audience => "audience",
            Rule::Dismissed => "dismissed",
            Rule::Blocked => "blocked",
            Rule::SuggestedIn24h => "suggested_in_24h",
        }
    }
}

/// Reach never below this, in metres.
pub const MIN_REACH_M: f64 = 1_000.0;
/// Reach never beyond this, in metres.
pub const MAX_REACH_M: f64 = 15_000.0;
/// Seconds of travel that make the reach.
pub const REACH_HORIZON_S: f64 = 600.0;
/// From this speed (m/s) a device with a heading only gets merchants ahead.
pub const MOVING_SPEED: f64 = 2.0;
/// Half-angle of the cone ahead, degrees.
pub const AHEAD_HALF_ANGLE: f64 = 60.0;
/// Lateral offset, metres, beyond which a merchant is to the right or left.
pub const SIDE_OFFSET_M: f64 = 25.0;
/// Walking pace used for arrival when slower than [`MOVING_SPEED`].
pub const WALKING_SPEED: f64 = 1.4;

/// How far a device at `speed` m/s may be offered something.
pub fn reach_m(speed: f64) -> f64 {
    (speed * REACH_HORIZON_S).clamp(MIN_REACH_M, MAX_REACH_M)
}

/// The pace arrival is reckoned at: the speed, or walking pace below 2 m/s.
pub fn pace(speed: f64) -> f64 {
    if speed >= MOVING_SPEED {
        speed
    } else {
        WALKING_SPEED
    }
}

/// Seconds to cover `distance_m` at `speed` (walking pace when slower than 2 m/s), rounded.
pub fn eta_seconds(distance_m: f64, speed: f64) -> u64 {
    (distance_m / pace(speed)).round() as u64
}

/// The instant of arrival.
pub fn arrival_time(now: DateTime<Utc>, eta_s: u64) -> DateTime<Utc> {
    now + Duration::seconds(eta_s.min(i64::MAX as u64) as i64)
}

/// Closer than this, in metres, a merchant has no direction: it counts as ahead.
pub const AT_THE_DOOR_M: f64 = 0.5;

/// True when the merchant (its unit vector, at `distance_m`) lies within ±60° of a
/// moving device's heading.
pub fn is_ahead_of(frame: &TravelFrame, merchant: [f64; 3], distance_m: f64) -> bool {
    distance_m <= AT_THE_DOOR_M || frame.is_within_cone(merchant, AHEAD_HALF_ANGLE)
}

/// The line of travel of a device moving at [`MOVING_SPEED`] or more with a
/// heading: the cone ahead and the side of the road are read from it.
pub fn travel_frame(position: &Position) -> Option<TravelFrame> {
    position
        .heading
        .filter(|_| position.speed >= MOVING_SPEED)
        .map(|h| TravelFrame::new(position.location, h))
}

/// The wedge [`is_ahead_of`] accepts, for the index to prune by: it may skip
/// what lies wholly outside, never what this rule keeps.
pub fn ahead_wedge(frame: &TravelFrame) -> Ahead {
    Ahead::new(frame, AHEAD_HALF_ANGLE, AT_THE_DOOR_M)
}

/// The side of the road for a signed cross-track distance (positive: right).
pub fn side_of(cross_track_m: f64) -> Side {
    if cross_track_m > SIDE_OFFSET_M {
        Side::Right
    } else if cross_track_m < -SIDE_OFFSET_M {
        Side::Left
    } else {
        Side::Ahead
    }
}

/// True when the merchant serves every diet of the profile.
pub fn serves_all_diets(merchant: &Merchant, profile: &Profile) -> bool {
    profile.diet.iter().all(|d| merchant.serves_diet(d))
}

/// The first `likes` tag the merchant carries.
pub fn liked_tag<'p>(merchant: &Merchant, profile: &'p Profile) -> Option<&'p TagPattern> {
    profile
        .likes
        .iter()
        .find(|t| merchant.tags.matches(&t.key, &t.value))
}

/// True when the merchant carries a `dislikes` tag.
pub fn is_disliked(merchant: &Merchant, profile: &Profile) -> bool {
    profile
        .dislikes
        .iter()
        .any(|t| merchant.tags.matches(&t.key, &t.value))
}

/// True when every condition of the audience holds for the device.
pub fn audience_holds(
    audience: &Audience,
    profile: &Profile,
    context: &Context,
    now: DateTime<Utc>,
) -> bool {
    audience.conditions.iter().all(|c| match c {
        Condition::Trip(trips) => context
            .trip(now)
            .is_some_and(|t| trips.iter().any(|x| &**x == t.as_str())),
        Condition::Hungry(wanted) => context.hungry(now) == Some(*wanted),
        Condition::Diet(diets) => diets.iter().all(|d| profile.diet.iter().any(|p| p == &**d)),
        Condition::Party(at_least) => context
            .party(now)
            .is_some_and(|p| u64::from(p) >= *at_least),
        Condition::Lang(langs) => langs.iter().any(|l| &**l == profile.lang.code()),
        Condition::Never(_) => false,
    })
}

/// The food and diet rules for one offer: a food offer needs `hungry: true` and
/// every diet served; anything else suits everyone.
pub fn suits_appetite(merchant: &Merchant, offer: &Offer, profile: &Profile, hungry: bool) -> bool {
    !offer.is_food || (hungry && serves_all_diets(merchant, profile))
}

/// How a rule asks "is this schedule open at that instant": the decision passes
/// a memoised evaluator, tests can pass `Hours::is_open_at`.
pub trait OpenAt {
    /// True when `hours` is open at `t`.
    fn open_at(&mut self, hours: &Arc<Hours>, t: DateTime<Utc>) -> bool;
}

/// The offer's own time rules at arrival: validity dates and `when`.
pub fn offer_holds_at(offer: &Offer, arrival: DateTime<Utc>, hours: &mut impl OpenAt) -> bool {
    offer.is_valid_at(arrival) && offer.when().is_none_or(|w| hours.open_at(w, arrival))
}

/// The merchant is open at arrival (no `opening_hours` means open; `unknown` is not open).
pub fn is_open_at(merchant: &Merchant, arrival: DateTime<Utc>, hours: &mut impl OpenAt) -> bool {
    merchant
        .hours
        .as_ref()
        .is_none_or(|h| hours.open_at(h, arrival))
}

/// The person dismissed this offer (feedback `dismissed`).
pub fn is_dismissed(device: &Device, merchant: &Merchant, offer: &Offer) -> bool {
    !device.dismissed.is_empty()
        && device
            .dismissed
            .contains(&(merchant.id.to_string(), offer.id.to_string()))
}

/// The person blocked this merchant (feedback `block_merchant`).
pub fn is_blocked(device: &Device, merchant: &Merchant) -> bool {
    device.blocked.contains(&*merchant.id)
}

/// The person's refusals and the 24 h no-repeat rule.
pub fn is_fresh_for(
    device: &Device,
    merchant: &Merchant,
    offer: &Offer,
    now: DateTime<Utc>,
) -> bool {
    !device.refused(&merchant.id, &offer.id)
        && !device.suggested_recently(&merchant.id, &offer.id, now)
}

/// The factors a candidate's ranking key is multiplied by (SPEC "Ranking"
/// and "Remembered tastes"): × 0.75 liked (a `likes` tag), × 0.85 learned
/// (a taste tag scoring ≥ 2), × 1.5 learned against (one scoring ≤ −2),
/// × 0.9 with an audience.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Factors {
    /// The merchant carries a `likes` tag.
    pub liked: bool,
    /// A taste tag of the merchant scores ≥ 2.
    pub learned: bool,
    /// A taste tag of the merchant scores ≤ −2.
    pub against: bool,
    /// The offer has an audience (which, being eligible, holds).
    pub audience: bool,
}

impl Factors {
    /// The most favourable factors a candidate could earn: liked when it
    /// `can_be_liked`, learned when it `can_be_learned`, and an audience;
    /// never learned against (× 1.5 only ever raises a score).
    pub fn best(can_be_liked: bool, can_be_learned: bool) -> Self {
        Self {
            liked: can_be_liked,
            learned: can_be_learned,
            against: false,
            audience: true,
        }
    }

    /// The product of the factors, in units of [`SCORE_UNIT`].
    fn product(self) -> u64 {
        let pick = |on: bool, percent: u64| if on { percent } else { 100 };
        pick(self.liked, 75)
            * pick(self.learned, 85)
            * pick(self.against, 150)
            * pick(self.audience, 90)
    }
}

/// What one unit of a ranking key is worth in a score: scores are exact
/// integers, so two candidates with the same key and factors tie exactly and
/// the tie goes to the ids, as SPEC says.
pub const SCORE_UNIT: f64 = 100_000_000.0;

/// The ranking score, lower is better: whole metres (as `distance_m` is
/// published), × the `factors`, in units of 1/[`SCORE_UNIT`] m.
pub fn score(distance_m: f64, factors: Factors) -> u64 {
    score_of_key(whole_metres(distance_m), factors)
}

/// The ranking score of a whole ranking key (metres, or seconds with roads
/// or on a route): the key × the `factors`, in units of 1/[`SCORE_UNIT`].
pub fn score_of_key(key: u64, factors: Factors) -> u64 {
    key.saturating_mul(factors.product())
}

/// A distance beyond which no offer can score `best` or better, even with
/// the most favourable `factors` it could earn (a hair of slack past the
/// rounding edge).
pub fn farthest_scoring(best: u64, factors: Factors) -> f64 {
    let factor = score(1.0, factors);
    (best / factor) as f64 + 0.5 + 1e-3
}

/// A distance as published: whole metres.
pub fn whole_metres(distance_m: f64) -> u64 {
    distance_m.round().max(0.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reach_grows_with_speed_between_one_and_fifteen_km() {
        assert_eq!(reach_m(0.0), 1_000.0);
        assert_eq!(reach_m(5.0), 3_000.0);
        assert_eq!(reach_m(25.0), 15_000.0);
        assert_eq!(reach_m(40.0), 15_000.0);
    }

    #[test]
    fn slow_devices_arrive_at_walking_pace() {
        assert_eq!(eta_seconds(140.0, 0.0), 100);
        assert_eq!(eta_seconds(140.0, 1.9), 100);
        assert_eq!(eta_seconds(3_000.0, 25.0), 120);
    }

    #[test]
    fn the_cone_is_sixty_degrees_each_side() {
        use crate::geodesy::{destination, LatLon};
        let car = LatLon::new(45.9, 6.13);
        let frame = TravelFrame::new(car, 150.0);
        let at = |bearing: f64| destination(car, bearing, 500.0).unit_vector();
        assert!(is_ahead_of(&frame, at(200.0), 500.0));
        assert!(is_ahead_of(&frame, at(90.5), 500.0));
        assert!(!is_ahead_of(&frame, at(89.5), 500.0));
        assert!(
            is_ahead_of(&frame, at(89.5), 0.4),
            "at the door counts as ahead"
        );
    }

    #[test]
    fn the_search_applies_every_candidate_rule_once() {
        let mut spec = Rule::CANDIDATE.to_vec();
        let mut cost = Rule::BY_COST.to_vec();
        spec.sort();
        cost.sort();
        assert_eq!(spec, cost);
        spec.dedup();
        assert_eq!(spec.len(), Rule::CANDIDATE.len());
    }

    #[test]
    fn equal_published_distances_tie_exactly() {
        let plain = Factors::default();
        assert_eq!(score(677.4, plain), score(676.6, plain));
        let liked = Factors {
            liked: true,
            ..plain
        };
        let both = Factors {
            audience: true,
            ..liked
        };
        assert!(score(100.0, both) < score(100.0, liked));
    }

    #[test]
    fn learned_factors_multiply_with_the_others() {
        let learned = Factors {
            learned: true,
            ..Factors::default()
        };
        let against = Factors {
            against: true,
            ..Factors::default()
        };
        assert_eq!(score(1_000.0, learned) as f64 / SCORE_UNIT, 850.0);
        assert_eq!(score(1_000.0, against) as f64 / SCORE_UNIT, 1_500.0);
        let all = Factors {
            liked: true,
            learned: true,
            against: true,
            audience: true,
        };
        assert_eq!(
            score(1_000.0, all) as f64 / SCORE_UNIT,
            860.625,
            "1,000 × 0.75 × 0.85 × 1.5 × 0.9"
        );
    }
}

//! Where a candidate merchant is for the device: distance, bearing, side and
//! time to arrival, in a straight line or by road (SPEC "Decision rules" 4 and
//! "Roads and routes → By road").
//!
//! A [`Placer`] is made once per decision. Without roads it places every
//! merchant in a straight line and ranks by distance. With roads it ranks
//! every candidate by `eta_s`; when the position is matched to a road, a
//! merchant with an access point is placed by the fastest path there (one
//! lazily extended search per decision), and out of reach when that path is
//! longer than the reach or there is none; every other merchant is placed in
//! a straight line.

use chrono::{DateTime, Utc};

use super::Situation;
use crate::geodesy::{bearing_deg, TravelFrame};
use crate::message::Side;
use crate::roads::matching::{ACCESS_RADIUS_M, MATCH_RADIUS_M};
use crate::roads::{Access, RoadPath, RoadSearch, SearchScratch, Turn};
use crate::rules;

/// What the ranking score counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ranking {
    /// Whole metres (no roads loaded).
    Distance,
    /// Whole seconds to arrival (roads loaded).
    Time,
}

impl Ranking {
    /// The unit of a key, as `explain` prints it.
    pub fn unit(self) -> &'static str {
        match self {
            Ranking::Distance => "m",
            Ranking::Time => "s",
        }
    }
}

/// A candidate merchant, placed.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    /// Great-circle distance, metres.
    pub straight_m: f64,
    /// The distance published: the road path's length, or `straight_m`.
    pub distance_m: f64,
    /// Degrees from true north, device to merchant.
    pub bearing: f64,
    /// Side of the road: for a moving device with a heading (straight), or
    /// the merchant's side of its access segment (by road).
    pub side: Option<Side>,
    /// Whole seconds to arrival.
    pub eta_s: u64,
    /// The road path, when placed by road.
    pub road: Option<RoadPath>,
    /// The first turn of the road path (found for the winner only).
    pub turn: Option<Turn>,
}

impl Place {
    /// The ranking key: whole metres or whole seconds.
    pub fn key(&self, ranking: Ranking) -> u64 {
        match ranking {
            Ranking::Distance => rules::whole_metres(self.distance_m),
            Ranking::Time => self.eta_s,
        }
    }

    /// The instant of arrival for an event at `now`.
    pub fn arrival(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        rules::arrival_time(now, self.eta_s)
    }
}

/// Places the candidates of one decision.
pub struct Placer<'a, 's> {
    location: crate::geodesy::LatLon,
    speed: f64,
    frame: Option<TravelFrame>,
    reach: f64,
    access: Option<&'a Access>,
    catalog: &'a crate::catalog::Catalog,
    search: Option<RoadSearch<'a, 's>>,
}

impl<'a, 's> Placer<'a, 's> {
    /// A placer for the device of `situation`; the road search (when the
    /// position is matched) uses `scratch`.
    pub fn new(situation: &Situation<'a>, scratch: &'s mut SearchScratch) -> Self {
        let position = situation.position;
        let reach = rules::reach_m(position.speed);
        let search = match (situation.access, situation.road_match) {
            (Some(access), Some(matched)) => Some(access.network().search_from(
                &matched,
                position.speed,
                reach,
                scratch,
            )),
            _ => None,
        };
        Self {
            location: position.location,
            speed: position.speed,
            frame: rules::travel_frame(position),
            reach,
            access: situation.access,
            catalog: situation.catalog,
            search,
        }
    }

    /// The line of travel of a moving device with a heading.
    pub fn frame(&self) -> Option<TravelFrame> {
        self.frame
    }

    /// The reach, metres.
    pub fn reach_m(&self) -> f64 {
        self.reach
    }

    /// What the score counts: time when roads are loaded, else distance.
    pub fn ranking(&self) -> Ranking {
        if self.access.is_some() {
            Ranking::Time
        } else {
            Ranking::Distance
        }
    }

    /// How far in a straight line a candidate may lie: the reach, and by
    /// road the off-road legs too (they are not counted in a path's length).
    pub fn search_radius_m(&self) -> f64 {
        if self.search.is_some() {
            self.reach + MATCH_RADIUS_M + ACCESS_RADIUS_M
        } else {
            self.reach
        }
    }

    /// A key no merchant `straight_m` away can rank below.
    pub fn lowest_key(&self, straight_m: f64) -> u64 {
        match self.ranking() {
            Ranking::Distance => rules::whole_metres(straight_m),
            Ranking::Time => {
                let straight = rules::eta_seconds(straight_m, self.speed);
                match (&self.search, self.access) {
                    (Some(_), Some(access)) => {
                        let by_road = access.network().eta_lower_bound_s(straight_m).floor();
                        straight.min(by_road as u64)
                    }
                    _ => straight,
                }
            }
        }
    }

    /// A straight-line distance beyond which no candidate can score `best`
    /// or better (see [`rules::farthest_scoring`]).
    pub fn farthest_scoring(&self, best: u64, can_be_liked: bool) -> f64 {
        match self.ranking() {
            Ranking::Distance => rules::farthest_scoring(best, can_be_liked),
            Ranking::Time => {
                let key = best / rules::score_of_key(1, can_be_liked, true);
                let pace = rules::pace(self.speed);
                let straight = (key as f64 + 0.5) * pace;
                let by_road = match (&self.search, self.access) {
                    (Some(_), Some(access)) => {
                        (key as f64 + 1.0) * access.network().max_speed_mps()
                            + MATCH_RADIUS_M
                            + ACCESS_RADIUS_M
                    }
                    _ => 0.0,
                };
                straight.max(by_road) + 1e-3
            }
        }
    }

    /// The merchant at `position` in the catalog, `straight_m` away at
    /// `vector` (its point on the unit sphere), placed; `None` when it is out
    /// of reach.
    pub fn place(&mut self, position: usize, straight_m: f64, vector: [f64; 3]) -> Option<Place> {
        let merchant = self.catalog.merchant(position);
        let bearing = bearing_deg(self.location, merchant.location);
        let by_road = match (&mut self.search, self.access) {
            (Some(search), Some(access)) => access
                .point(self.catalog, position)
                .map(|point| search.path_to(&point)),
            _ => None,
        };
        match by_road {
            // Near a road, but no path within reach: out of reach, never a
            // straight line instead.
            Some(None) => None,
            Some(Some(path)) => (path.distance_m <= self.reach).then(|| Place {
                straight_m,
                distance_m: path.distance_m.round(),
                bearing,
                side: Some(path.side.into()),
                eta_s: path.eta_s.round().max(0.0) as u64,
                road: Some(path),
                turn: None,
            }),
            None => (straight_m <= self.reach).then(|| Place {
                straight_m,
                distance_m: straight_m,
                bearing,
                side: self.frame.map(|f| rules::side_of(f.cross_track_m(vector))),
                eta_s: rules::eta_seconds(straight_m, self.speed),
                road: None,
                turn: None,
            }),
        }
    }

    /// Finds the first turn of a by-road place (done for the winner only).
    pub fn add_turn(&mut self, place: &mut Place) {
        if let (Some(search), Some(path)) = (&mut self.search, &place.road) {
            place.turn = search.turn(path);
        }
    }
}

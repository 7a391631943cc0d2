//! Where a candidate merchant is for the device: distance, bearing, side and
//! time to arrival, in a straight line, by road, or along a planned route
//! (SPEC "Decision rules" 4 and "Roads and routes").
//!
//! A [`Placer`] is made once per decision.
//! - **Around** the device (no planned route in use): without roads every
//!   merchant is placed in a straight line and ranked by distance. With roads
//!   every candidate is ranked by `eta_s`; when the position is matched to a
//!   road, a merchant with an access point is placed by the fastest path
//!   there (one lazily extended search per decision), and out of reach when
//!   that path is longer than the reach or there is none; every other
//!   merchant is placed in a straight line.
//! - **On a route** in use: a merchant is placed by its nearest point L on
//!   the stretch ahead, and ranked by the detour (leave and rejoin the route
//!   at L: by road when roads are loaded, else twice the straight offset).
//!   The time to L is reckoned along the route at the device's speed (the
//!   app's route is not re-routed); the detour's legs at the roads' speeds.

use chrono::{DateTime, Utc};

use super::Situation;
use crate::catalog::Catalog;
use crate::geodesy::{bearing_deg, distance_m, LatLon, TravelFrame};
use crate::message::Side;
use crate::roads::access::departures;
use crate::roads::matching::{ACCESS_RADIUS_M, MATCH_RADIUS_M};
use crate::roads::{Access, MatchState, RoadPath, RoadSearch, SearchScratch, Turn};
use crate::route::{Nearest, OnRoute, Route, SIDE_OFFSET_M};
use crate::rules;

/// What the ranking score counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ranking {
    /// Whole metres (no roads loaded).
    Distance,
    /// Whole seconds to arrival (roads loaded).
    Time,
    /// Whole seconds of detour from the planned route.
    Detour,
}

impl Ranking {
    /// The unit of a key, as `explain` prints it.
    pub fn unit(self) -> &'static str {
        match self {
            Ranking::Distance => "m",
            Ranking::Time | Ranking::Detour => "s",
        }
    }
}

/// A merchant placed along a planned route.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RouteLeg {
    /// Metres along the route from the device's place to L.
    pub along_route_m: f64,
    /// Metres of the detour L → merchant → L.
    pub detour_m: f64,
    /// Seconds of the detour.
    pub detour_s: f64,
    /// The detour by road (else twice the straight offset).
    pub by_road: bool,
}

/// A candidate merchant, placed.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    /// Great-circle distance, metres.
    pub straight_m: f64,
    /// The distance published: the road path's length, or along the route
    /// and the leg to the merchant, or `straight_m`.
    pub distance_m: f64,
    /// Degrees from true north, device to merchant.
    pub bearing: f64,
    /// Side of the road: for a moving device with a heading (straight), the
    /// merchant's side of its access segment (by road), or of the route at L.
    pub side: Option<Side>,
    /// Whole seconds to arrival.
    pub eta_s: u64,
    /// The road path, when placed by road around the device.
    pub road: Option<RoadPath>,
    /// The first turn of the road path (found for the winner only).
    pub turn: Option<Turn>,
    /// Along the planned route, when one is in use.
    pub route: Option<RouteLeg>,
}

impl Place {
    /// The ranking key: whole metres or whole seconds.
    pub fn key(&self, ranking: Ranking) -> u64 {
        match ranking {
            Ranking::Distance => rules::whole_metres(self.distance_m),
            Ranking::Time => self.eta_s,
            Ranking::Detour => self.route.map_or(u64::MAX, |r| whole(r.detour_s)),
        }
    }

    /// What breaks a tie of scores before the ids: on a route, the place
    /// nearer along it (SPEC); else nothing.
    pub fn tie(&self) -> u64 {
        self.route.map_or(0, |r| whole(r.along_route_m))
    }

    /// The instant of arrival for an event at `now`.
    pub fn arrival(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        rules::arrival_time(now, self.eta_s)
    }
}

fn whole(x: f64) -> u64 {
    x.round().max(0.0) as u64
}

/// How far beyond the device's place on the route a merchant's nearest point
/// must lie (a hair, so that rounding never puts a merchant level with the
/// device, or behind it, "beyond").
const BEYOND_M: f64 = 0.5;

/// A planned route in use, for one decision.
#[derive(Clone, Copy)]
pub struct RouteView<'a> {
    /// The route.
    pub route: &'a Route,
    /// The device's place on it.
    pub place: OnRoute,
    /// Metres either side that make the corridor.
    pub corridor_m: f64,
    /// Metres ahead looked along (the stretch ends at the lesser of this and
    /// the route's end).
    pub ahead_m: f64,
    /// Longest detour allowed, seconds.
    pub max_detour_s: f64,
}

impl RouteView<'_> {
    /// Where the stretch ahead ends, metres along the route.
    pub fn until_m(&self) -> f64 {
        (self.place.along_m + self.ahead_m).min(self.route.length_m())
    }

    /// The merchant's nearest point L on the stretch, looking one corridor
    /// width behind the device too; `None` when L is not beyond the device's
    /// place or the merchant lies outside the corridor.
    pub fn nearest(&self, merchant: LatLon) -> Option<Nearest> {
        self.nearest_between(merchant, f64::NEG_INFINITY, f64::INFINITY)
    }

    /// [`RouteView::nearest`] looking only at the route between `from_m` and
    /// `until_m` along it (the stretch around where the merchant was found).
    pub fn nearest_between(&self, merchant: LatLon, from_m: f64, until_m: f64) -> Option<Nearest> {
        let lo = from_m.max(self.place.along_m - self.corridor_m);
        let hi = until_m.min(self.until_m());
        let start = OnRoute {
            segment: self.route.segment_at(lo),
            along_m: lo,
        };
        self.route.nearest(merchant, start, 0.0, hi).filter(|n| {
            n.at.along_m > self.place.along_m + BEYOND_M && n.offset_m <= self.corridor_m
        })
    }
}

enum Mode<'a, 's> {
    Around {
        frame: Option<TravelFrame>,
        reach: f64,
        search: Option<RoadSearch<'a, 's>>,
    },
    OnRoute {
        view: RouteView<'a>,
        scratch: &'s mut SearchScratch,
    },
}

/// Places the candidates of one decision.
pub struct Placer<'a, 's> {
    location: LatLon,
    speed: f64,
    access: Option<&'a Access>,
    catalog: &'a Catalog,
    mode: Mode<'a, 's>,
}

impl<'a, 's> Placer<'a, 's> {
    /// A placer for the device of `situation`, around it or along `route`;
    /// road searches use `scratch`.
    pub fn new(
        situation: &Situation<'a>,
        route: Option<RouteView<'a>>,
        scratch: &'s mut SearchScratch,
    ) -> Self {
        let position = situation.position;
        let mode = match route {
            Some(view) => Mode::OnRoute { view, scratch },
            None => {
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
                Mode::Around {
                    frame: rules::travel_frame(position),
                    reach,
                    search,
                }
            }
        };
        Self {
            location: position.location,
            speed: position.speed,
            access: situation.access,
            catalog: situation.catalog,
            mode,
        }
    }

    /// The line of travel of a moving device with a heading, when the heading
    /// rule applies (not on a route).
    pub fn frame(&self) -> Option<TravelFrame> {
        match &self.mode {
            Mode::Around { frame, .. } => *frame,
            Mode::OnRoute { .. } => None,
        }
    }

    /// The route in use, if any.
    pub fn route(&self) -> Option<&RouteView<'a>> {
        match &self.mode {
            Mode::OnRoute { view, .. } => Some(view),
            Mode::Around { .. } => None,
        }
    }

    /// The reach, metres (none on a route).
    pub fn reach_m(&self) -> f64 {
        match &self.mode {
            Mode::Around { reach, .. } => *reach,
            Mode::OnRoute { .. } => f64::INFINITY,
        }
    }

    /// What the score counts: the detour on a route, time when roads are
    /// loaded, else distance.
    pub fn ranking(&self) -> Ranking {
        match (&self.mode, self.access) {
            (Mode::OnRoute { .. }, _) => Ranking::Detour,
            (Mode::Around { .. }, Some(_)) => Ranking::Time,
            (Mode::Around { .. }, None) => Ranking::Distance,
        }
    }

    fn around_search(&self) -> bool {
        matches!(
            self.mode,
            Mode::Around {
                search: Some(_),
                ..
            }
        )
    }

    /// How far in a straight line a candidate around the device may lie: the
    /// reach, and by road the off-road legs too (they are not counted in a
    /// path's length).
    pub fn search_radius_m(&self) -> f64 {
        let reach = self.reach_m();
        if self.around_search() {
            reach + MATCH_RADIUS_M + ACCESS_RADIUS_M
        } else {
            reach
        }
    }

    /// A key no merchant `straight_m` away can rank below.
    pub fn lowest_key(&self, straight_m: f64) -> u64 {
        match self.ranking() {
            Ranking::Distance => rules::whole_metres(straight_m),
            Ranking::Detour => 0,
            Ranking::Time => {
                let straight = rules::eta_seconds(straight_m, self.speed);
                match self.access {
                    Some(access) if self.around_search() => {
                        let by_road = access.network().eta_lower_bound_s(straight_m).floor();
                        straight.min(by_road as u64)
                    }
                    _ => straight,
                }
            }
        }
    }

    /// A straight-line distance beyond which no candidate around the device
    /// can score `best` or better (see [`rules::farthest_scoring`]).
    /// `most` are the most favourable factors a candidate could earn.
    pub fn farthest_scoring(&self, best: u64, most: rules::Factors) -> f64 {
        match self.ranking() {
            Ranking::Distance => rules::farthest_scoring(best, most),
            Ranking::Detour => f64::INFINITY,
            Ranking::Time => {
                let key = best / rules::score_of_key(1, most);
                let straight = (key as f64 + 0.5) * rules::pace(self.speed);
                let by_road = match self.access {
                    Some(access) if self.around_search() => {
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
    /// of reach (around) or off the corridor (on a route). On a route,
    /// `nearest` is its L when the caller already found it.
    pub fn place(
        &mut self,
        position: usize,
        straight_m: f64,
        vector: [f64; 3],
        nearest: Option<Nearest>,
    ) -> Option<Place> {
        let merchant = self.catalog.merchant(position);
        let bearing = bearing_deg(self.location, merchant.location);
        let (speed, access, catalog) = (self.speed, self.access, self.catalog);
        match &mut self.mode {
            Mode::Around {
                frame,
                reach,
                search,
            } => {
                let by_road = match (search, access) {
                    (Some(search), Some(access)) => access
                        .point(catalog, position)
                        .map(|point| search.path_to(&point)),
                    _ => None,
                };
                match by_road {
                    // Near a road, but no path within reach: out of reach,
                    // never a straight line instead.
                    Some(None) => None,
                    Some(Some(path)) => (path.distance_m <= *reach).then(|| Place {
                        straight_m,
                        distance_m: path.distance_m.round(),
                        bearing,
                        side: Some(path.side.into()),
                        eta_s: whole(path.eta_s),
                        road: Some(path),
                        turn: None,
                        route: None,
                    }),
                    None => (straight_m <= *reach).then(|| Place {
                        straight_m,
                        distance_m: straight_m,
                        bearing,
                        side: frame.map(|f| rules::side_of(f.cross_track_m(vector))),
                        eta_s: rules::eta_seconds(straight_m, speed),
                        road: None,
                        turn: None,
                        route: None,
                    }),
                }
            }
            Mode::OnRoute { view, scratch } => {
                let nearest = nearest.or_else(|| view.nearest(merchant.location))?;
                let pace = rules::pace(speed);
                let along = nearest.at.along_m - view.place.along_m;
                let straight_leg = |offset: f64| (offset, offset / pace);
                let by_road = access.and_then(|access| {
                    let point = access.point(catalog, position)?;
                    Some(detour_by_road(access, &point, &nearest, speed, scratch))
                });
                let (leg_m, leg_s, detour_m, detour_s, roads) = match by_road {
                    Some(Some(((leg_m, leg_s), (back_m, back_s)))) => {
                        (leg_m, leg_s, leg_m + back_m, leg_s + back_s, true)
                    }
                    // Near a road but no way there and back: the detour is
                    // as long as can be.
                    Some(None) => (
                        f64::INFINITY,
                        f64::INFINITY,
                        f64::INFINITY,
                        f64::INFINITY,
                        true,
                    ),
                    None => {
                        let (m, s) = straight_leg(nearest.offset_m);
                        (m, s, 2.0 * m, 2.0 * s, false)
                    }
                };
                let side = if nearest.cross_m > SIDE_OFFSET_M {
                    Side::Right
                } else if nearest.cross_m < -SIDE_OFFSET_M {
                    Side::Left
                } else {
                    Side::Ahead
                };
                Some(Place {
                    straight_m,
                    distance_m: (along + leg_m).round(),
                    bearing,
                    side: Some(side),
                    eta_s: whole(along / pace + leg_s),
                    road: None,
                    turn: None,
                    route: Some(RouteLeg {
                        along_route_m: along,
                        detour_m,
                        detour_s,
                        by_road: roads,
                    }),
                })
            }
        }
    }

    /// Finds the first turn of a by-road place (done for the winner only).
    pub fn add_turn(&mut self, place: &mut Place) {
        if let (
            Mode::Around {
                search: Some(search),
                ..
            },
            Some(path),
        ) = (&mut self.mode, &place.road)
        {
            place.turn = search.turn(path);
        }
    }
}

/// The detour L → merchant → L by road: the legs' (metres, seconds), or
/// `None` when there is no way there and back; L itself off every road falls
/// back to twice the straight offset.
fn detour_by_road(
    access: &Access,
    point: &crate::roads::AccessPoint,
    nearest: &Nearest,
    speed: f64,
    scratch: &mut SearchScratch,
) -> Option<((f64, f64), (f64, f64))> {
    let network = access.network();
    let straight = || {
        let offset = nearest.offset_m;
        let pace = rules::pace(speed);
        Some(((offset, offset / pace), (offset, offset / pace)))
    };
    // Leaving the route at L, going its way.
    let Some(leave) = network.match_position(
        nearest.point,
        Some(nearest.bearing),
        speed.max(rules::MOVING_SPEED),
        &mut MatchState::default(),
    ) else {
        return straight();
    };
    let Some(rejoin) = network.access_point(nearest.point) else {
        return straight();
    };
    // A detour longer than this takes more than any allowed time.
    let bound = 2.0 * distance_m(nearest.point, access_location(access, point)) + 20_000.0;
    let there = network
        .search_from(&leave, speed, bound, scratch)
        .path_to(point)?;
    let back = departures(network, point)
        .iter()
        .filter_map(|start| {
            network
                .search_from(start, 0.0, bound, scratch)
                .path_to(&rejoin)
        })
        .min_by(|a, b| a.eta_s.total_cmp(&b.eta_s))?;
    Some((
        (there.distance_m, there.eta_s),
        (back.distance_m, back.eta_s),
    ))
}

/// The point of an access point on its segment.
fn access_location(access: &Access, point: &crate::roads::AccessPoint) -> LatLon {
    let network = access.network();
    let [a, b] = network.segment_nodes(point.segment());
    let (a, b) = (network.node_location(a), network.node_location(b));
    let length = network.segment_length_m(point.segment()).max(1e-9);
    let t = (point.along_m() / length).clamp(0.0, 1.0);
    LatLon::new(a.lat + t * (b.lat - a.lat), a.lon + t * (b.lon - a.lon))
}

//! SPEC's "The turn": junctions, exit angles, staying on the road, and the
//! first turn of a path as `{side, in_m, nth}`.
//!
//! - A **junction** is a node with three or more distinct neighbours
//!   ([`RoadNetwork::is_junction`]).
//! - The **angle of an exit** is the change of bearing from the incoming way to
//!   the exit, positive clockwise (right). Each bearing is taken between the
//!   junction and the point 20 m along its way from the junction, walking the
//!   way's shape nodes, or the next junction (or dead end) if nearer.
//! - An exit **counts** when it may be entered (not a one-way against) and is
//!   not `service` = driveway, parking_aisle or drive-through. The branch the
//!   path arrives by is not an exit.
//! - The exit that **stays on the road** is the counted exit nearest straight
//!   on, if it is within ±20°. Ties (a fork symmetric to the hundredth of a
//!   degree) go to the exit on the same OSM way as the incoming one, then to
//!   the right one, then to the lower half-edge id.
//! - Right is (20°, 160°], left [−160°, −20°).
//!
//! Corner cases SPEC leaves open, and our reading:
//! - **Taking an exit within ±20° that is not the one nearest straight on** (a
//!   fork) does leave the road: it is the turn, and its side is the sign of its
//!   angle (which is also its side of the straighter branch, since it is the
//!   farther from straight on). At such a turn junction `nth` counts the turn
//!   junction itself, as at every turn: "up to and including the turn".
//! - **Taking an exit beyond ±160°** (a hairpin) leaves the road too: right for
//!   (160°, 180°), left for (−180°, −160°); exactly ±180° (back along the way it
//!   came, only at a junction where nothing else may be entered) is left, the
//!   side a U-turn is made on where traffic keeps right.
//! - **Taking an exit that does not count** (a driveway) leaves the road: its
//!   side is the sign of its angle.
//! - For the junctions *before* the turn, a junction counts towards `nth` when
//!   it has a counted exit in the side's range ((20°, 160°] or [−160°, −20°));
//!   forks within ±20° and hairpins beyond ±160° are neither right nor left.

use super::graph::{bearing_at, RoadNetwork};

/// How far along each way the bearings of an exit are taken, metres.
pub const BEARING_DISTANCE_M: f64 = 20.0;
/// Within this angle of straight on (degrees) an exit may stay on the road.
pub const STRAIGHT_ON_DEG: f64 = 20.0;
/// Beyond this angle (degrees) an exit is neither right nor left.
pub const SHARPEST_DEG: f64 = 160.0;

/// The side of a turn, or of the merchant on its access segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoadSide {
    /// Right.
    Right,
    /// Left.
    Left,
}

impl RoadSide {
    /// `"right"` or `"left"`, as SPEC writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            RoadSide::Right => "right",
            RoadSide::Left => "left",
        }
    }
}

impl From<RoadSide> for crate::message::Side {
    fn from(side: RoadSide) -> Self {
        match side {
            RoadSide::Right => crate::message::Side::Right,
            RoadSide::Left => crate::message::Side::Left,
        }
    }
}

/// The first junction where a path leaves the road (SPEC "The turn").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Turn {
    /// The side of the turn.
    pub side: RoadSide,
    /// Metres along the path from the matched position to the junction (unrounded).
    pub in_m: f64,
    /// Junctions ahead, up to and including the turn, with a counted exit on that side.
    pub nth: u32,
}

/// One exit of a junction, seen from one incoming half-edge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Exit {
    pub half_edge: u32,
    /// Change of bearing, degrees in (−180, 180], positive to the right.
    pub angle: f64,
    /// May be entered.
    pub enterable: bool,
    /// Counts for the turn rule (enterable, not a minor service road).
    pub counted: bool,
}

/// The side an exit's angle lies on when it counts towards `nth` (none within ±20° or beyond ±160°).
pub(crate) fn counted_side(angle: f64) -> Option<RoadSide> {
    if angle > STRAIGHT_ON_DEG && angle <= SHARPEST_DEG {
        Some(RoadSide::Right)
    } else if (-SHARPEST_DEG..-STRAIGHT_ON_DEG).contains(&angle) {
        Some(RoadSide::Left)
    } else {
        None
    }
}

/// The side of a turn taken at `angle` (see the module doc).
pub(crate) fn turn_side(angle: f64) -> RoadSide {
    if (0.0..180.0).contains(&angle) {
        RoadSide::Right
    } else {
        RoadSide::Left
    }
}

impl RoadNetwork {
    /// The point [`BEARING_DISTANCE_M`] along the way that starts with
    /// `first` (a half-edge leaving the junction), or the next junction or
    /// dead end if nearer.
    fn bearing_point(&self, first: u32) -> [f64; 3] {
        let mut h = first;
        let mut walked = 0.0;
        // A guard against a ring of shape nodes with no junction on it.
        for _ in 0..256 {
            let len = f64::from(self.len_m(h));
            if walked + len >= BEARING_DISTANCE_M {
                return self.point_along(h, BEARING_DISTANCE_M - walked);
            }
            walked += len;
            let (from, node) = (self.tail(h), self.head(h));
            if self.branches(node) != 2 {
                return self.node_vector(node);
            }
            match self
                .leaving(node)
                .iter()
                .copied()
                .find(|&g| self.head(g) != from && self.head(g) != node)
            {
                Some(next) => h = next,
                None => return self.node_vector(node),
            }
        }
        self.node_vector(self.head(h))
    }

    /// The exits of the junction `incoming` arrives at, with their angles.
    pub(crate) fn exits(&self, incoming: u32, out: &mut Vec<Exit>) {
        out.clear();
        let junction = self.head(incoming);
        let back = self.tail(incoming);
        let at = self.node_vector(junction);
        let behind = self.bearing_point(incoming ^ 1);
        let arriving = (bearing_at(at, behind) + 180.0).rem_euclid(360.0);
        for &h in self.leaving(junction) {
            let other = self.head(h);
            if other == back || other == junction {
                continue;
            }
            let point = self.bearing_point(h);
            let mut angle = (bearing_at(at, point) - arriving).rem_euclid(360.0);
            if angle > 180.0 {
                angle -= 360.0;
            }
            let enterable = self.may_drive(h);
            let minor = self.way_service[self.way(h) as usize].is_minor();
            out.push(Exit {
                half_edge: h,
                angle,
                enterable,
                counted: enterable && !minor,
            });
        }
    }

    /// The exit that stays on the road, arriving by `incoming` (see the module doc).
    pub(crate) fn stay_on_road(&self, incoming: u32, exits: &[Exit]) -> Option<u32> {
        let way = self.way(incoming);
        exits
            .iter()
            .filter(|e| e.counted && e.angle.abs() <= STRAIGHT_ON_DEG)
            .min_by(|x, y| {
                let off = |e: &Exit| (e.angle.abs() * 100.0).round();
                off(x)
                    .total_cmp(&off(y))
                    .then_with(|| {
                        (self.way(x.half_edge) != way).cmp(&(self.way(y.half_edge) != way))
                    })
                    .then_with(|| (x.angle < 0.0).cmp(&(y.angle < 0.0)))
                    .then_with(|| x.half_edge.cmp(&y.half_edge))
            })
            .map(|e| e.half_edge)
    }

    /// The first turn of a path given as its half-edges from the matched one
    /// (`start_along_m` metres along it) to the last: `None` when the path never
    /// leaves the road.
    pub(crate) fn first_turn(
        &self,
        path: &[u32],
        start_along_m: f64,
        exits: &mut Vec<Exit>,
    ) -> Option<Turn> {
        let (mut right, mut left) = (0u32, 0u32);
        let mut walked = 0.0;
        for (i, pair) in path.windows(2).enumerate() {
            let (incoming, taken) = (pair[0], pair[1]);
            let len = f64::from(self.len_m(incoming));
            walked += if i == 0 {
                (len - start_along_m).max(0.0)
            } else {
                len
            };
            if !self.is_junction(self.head(incoming)) {
                continue;
            }
            self.exits(incoming, exits);
            let stay = self.stay_on_road(incoming, exits);
            if stay == Some(taken) {
                for side in [RoadSide::Right, RoadSide::Left] {
                    if exits
                        .iter()
                        .any(|e| e.counted && counted_side(e.angle) == Some(side))
                    {
                        *match side {
                            RoadSide::Right => &mut right,
                            RoadSide::Left => &mut left,
                        } += 1;
                    }
                }
                continue;
            }
            let angle = exits
                .iter()
                .find(|e| e.half_edge == taken)
                .map_or(180.0, |e| e.angle);
            let side = turn_side(angle);
            let before = match side {
                RoadSide::Right => right,
                RoadSide::Left => left,
            };
            return Some(Turn {
                side,
                in_m: walked,
                nth: before + 1,
            });
        }
        None
    }
}

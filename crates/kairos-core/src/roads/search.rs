//! By road: the fastest path from a matched position to access points, as one
//! lazily extended one-to-many search per decision (SPEC "By road").
//!
//! The search runs on half-edges (a segment in one direction), so "no U-turn"
//! is exact: from a half-edge `u → v` the path may go on by any drivable
//! half-edge leaving `v` except back to `u`; it turns back (`v → u`) only when
//! nothing else may be driven from `v`, i.e. at a dead end. (A node whose only
//! other branches are one-ways towards it is a dead end for a driver too.)
//!
//! **The 4 s rule.** At a junction nearer than `speed × 4 s` along the path
//! the path stays on the road: it takes the exit nearest straight on within
//! ±20° (see [`super::turn`]). When no exit there goes straight on (the road
//! itself ends in a T, or bends hard), the driver has no choice to make early:
//! the path may take any exit that may be entered (and turns back only if
//! there is none). The stretch within `speed × 4 s` is explored first, exactly,
//! as a small tree of states that carry their distance (two ways of reaching
//! the same half-edge there are kept apart, one may be constrained and the
//! other not); from where it ends, an ordinary Dijkstra takes over.
//!
//! **Laziness.** [`RoadSearch::path_to`] settles half-edges in order of time
//! only until the target's best arrival is final (the cheapest unsettled time
//! is no less than it), and keeps everything it settled for the next target:
//! asking for targets nearest first costs one search as far as the farthest
//! needs. Labels live in a [`SearchScratch`] with generation stamps, so a new
//! search costs nothing to clear and allocates nothing once warm.
//!
//! **Bound.** A half-edge whose end lies beyond `max_distance_m` along the path
//! is settled but not expanded: the search never looks past the reach. (So a
//! path is the fastest among those that stay within `max_distance_m`; a target
//! whose fastest path is longer is out of reach, as rule 4 says.)
//!
//! Distances and times count the partial first and last segments (from the
//! projection of the position, to the access point); the off-road legs are not
//! counted.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::graph::{arc_m, RoadNetwork};
use super::matching::{AccessPoint, RoadMatch, ACCESS_RADIUS_M, MATCH_RADIUS_M};
use super::turn::{Exit, RoadSide, Turn};

/// Seconds of travel within which a junction is too near to turn at.
pub const NO_TURN_WITHIN_S: f64 = 4.0;
/// At most this many states in the exact stretch of the 4 s rule (a guard:
/// beyond it, states go to the ordinary search).
const MAX_TREE_STATES: usize = 4096;

const NONE: u32 = u32::MAX;
const TREE: u32 = 1 << 31;

/// A path found by road to an access point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoadPath {
    /// The path's length in metres (unrounded).
    pub distance_m: f64,
    /// The path's time at the roads' speeds, seconds (unrounded).
    pub eta_s: f64,
    /// The merchant's side of its access segment as the path arrives there.
    pub side: RoadSide,
    end: End,
}

/// Where a path ends: a state of the exact stretch, or a label of the search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Tree(u32),
    Label(u32),
}

/// One state of the exact stretch near the start.
#[derive(Debug, Clone, Copy)]
struct TreeState {
    half_edge: u32,
    /// Metres along the half-edge where the state starts (the matched
    /// position for the first state, 0 for the others).
    from_m: f32,
    cost: f32,
    dist: f32,
    /// The state it came from (`TREE | index`), or `NONE`.
    parent: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Queued {
    cost: f32,
    half_edge: u32,
}

impl Eq for Queued {}

impl Ord for Queued {
    /// Reversed, so the max-heap pops the cheapest (then the lowest id) first.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .cost
            .total_cmp(&self.cost)
            .then(other.half_edge.cmp(&self.half_edge))
    }
}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A half-edge's label: its four fields side by side, so reaching it touches
/// one cache line rather than four arrays.
#[derive(Debug, Clone, Copy, Default)]
struct Label {
    /// Seconds to the tail of the half-edge, as reached.
    cost: f32,
    /// Metres to the tail of the half-edge.
    dist: f32,
    /// The half-edge (or `TREE | state`) the label came from.
    parent: u32,
    /// `2 × generation` reached, `2 × generation + 1` settled; older: untouched.
    stamp: u32,
}

/// The reusable memory of searches: one per thread that decides.
#[derive(Default)]
pub struct SearchScratch {
    /// One label per half-edge.
    labels: Vec<Label>,
    generation: u32,
    heap: BinaryHeap<Queued>,
    tree: Vec<TreeState>,
    next: Vec<u32>,
    exits: Vec<Exit>,
    path: Vec<u32>,
    settled: usize,
}

impl SearchScratch {
    /// An empty scratch; it grows to the network's size on first use.
    pub fn new() -> Self {
        Self::default()
    }

    fn begin(&mut self, half_edges: usize) {
        if self.labels.len() != half_edges {
            self.labels = vec![Label::default(); half_edges];
            self.generation = 0;
        }
        if self.generation >= (u32::MAX >> 1) - 1 {
            self.labels.fill(Label::default());
            self.generation = 0;
        }
        self.generation += 1;
        self.heap.clear();
        self.tree.clear();
        self.settled = 0;
    }

    #[inline]
    fn reached(&self, h: u32) -> bool {
        self.labels[h as usize].stamp >= 2 * self.generation
    }
}

/// One decision's search from a matched position (see the module doc).
pub struct RoadSearch<'n, 's> {
    network: &'n RoadNetwork,
    scratch: &'s mut SearchScratch,
    start: RoadMatch,
    start_point: [f64; 3],
    max_distance_m: f32,
}

impl RoadNetwork {
    /// Starts a search from `start` for a device at `speed_mps`, looking no
    /// farther than `max_distance_m` along the roads.
    pub fn search_from<'n, 's>(
        &'n self,
        start: &RoadMatch,
        speed_mps: f64,
        max_distance_m: f64,
        scratch: &'s mut SearchScratch,
    ) -> RoadSearch<'n, 's> {
        scratch.begin(2 * self.segment_count());
        let len = self.len_m(start.half_edge);
        let start = RoadMatch {
            along_m: start.along_m.clamp(0.0, len),
            ..*start
        };
        let mut search = RoadSearch {
            network: self,
            start_point: self.point_along(start.half_edge, start.along_m()),
            scratch,
            start,
            max_distance_m: max_distance_m as f32,
        };
        search.explore_near(speed_mps.max(0.0) * NO_TURN_WITHIN_S);
        search
    }

    /// A lower bound on the time by road to a merchant `straight_m` metres away
    /// in a straight line (the off-road legs at their longest, the rest at the
    /// fastest road's speed).
    pub fn eta_lower_bound_s(&self, straight_m: f64) -> f64 {
        (straight_m - MATCH_RADIUS_M - ACCESS_RADIUS_M).max(0.0) / self.max_speed_mps
    }

    /// The half-edges a path may take on from `incoming` at its head; with
    /// `restricted` (a junction nearer than the 4 s rule allows to turn), only
    /// the exit that stays on the road when there is one.
    fn successors(
        &self,
        incoming: u32,
        restricted: bool,
        exits: &mut Vec<Exit>,
        out: &mut Vec<u32>,
    ) {
        out.clear();
        let node = self.head(incoming);
        let back = self.tail(incoming);
        if restricted && self.is_junction(node) {
            self.exits(incoming, exits);
            if let Some(stay) = self.stay_on_road(incoming, exits) {
                out.push(stay);
                return;
            }
            out.extend(exits.iter().filter(|e| e.enterable).map(|e| e.half_edge));
        } else {
            out.extend(
                self.leaving(node)
                    .iter()
                    .copied()
                    .filter(|&h| self.may_drive(h) && self.head(h) != back),
            );
        }
        if out.is_empty() {
            // A dead end: the only way on is back.
            out.extend(
                self.leaving(node)
                    .iter()
                    .copied()
                    .filter(|&h| self.may_drive(h) && self.head(h) == back),
            );
        }
    }
}

impl RoadSearch<'_, '_> {
    /// The exact stretch of the 4 s rule, then the seeds of the Dijkstra.
    fn explore_near(&mut self, no_turn_m: f64) {
        let net = self.network;
        let s = &mut *self.scratch;
        s.tree.push(TreeState {
            half_edge: self.start.half_edge,
            from_m: self.start.along_m,
            cost: 0.0,
            dist: 0.0,
            parent: NONE,
        });
        let mut i = 0;
        while i < s.tree.len() {
            let state = s.tree[i];
            let len = net.len_m(state.half_edge);
            let rest = len - state.from_m;
            let head_dist = state.dist + rest;
            let head_cost = state.cost
                + if len > 0.0 {
                    net.secs(state.half_edge) * rest / len
                } else {
                    0.0
                };
            let near = f64::from(head_dist) < no_turn_m;
            if head_dist <= self.max_distance_m {
                net.successors(state.half_edge, near, &mut s.exits, &mut s.next);
                for k in 0..s.next.len() {
                    let h = s.next[k];
                    if near && s.tree.len() < MAX_TREE_STATES {
                        s.tree.push(TreeState {
                            half_edge: h,
                            from_m: 0.0,
                            cost: head_cost,
                            dist: head_dist,
                            parent: TREE | i as u32,
                        });
                    } else {
                        relax(s, h, head_cost, head_dist, TREE | i as u32);
                    }
                }
            }
            i += 1;
        }
    }

    /// The fastest path to `access`, or `None` when no path within the search's
    /// reach gets there.
    pub fn path_to(&mut self, access: &AccessPoint) -> Option<RoadPath> {
        let net = self.network;
        let segment = access.segment;
        let len = net.seg_len[segment as usize];
        let secs = net.seg_secs[segment as usize];
        let along = access.along_m.clamp(0.0, len);
        let targets = [(2 * segment, along), (2 * segment + 1, len - along)];
        let part = |t: f32| if len > 0.0 { secs * t / len } else { 0.0 };

        // Candidates in the exact stretch: final from the start.
        let mut best: Option<(f32, f32, End, u32)> = None;
        let consider = |best: &mut Option<(f32, f32, End, u32)>, cost: f32, dist: f32, end, h| {
            if best.is_none_or(|(c, _, _, _)| cost < c) {
                *best = Some((cost, dist, end, h));
            }
        };
        for (i, state) in self.scratch.tree.iter().enumerate() {
            for &(h, t) in &targets {
                if state.half_edge == h && t >= state.from_m {
                    let cost = state.cost + part(t) - part(state.from_m);
                    consider(
                        &mut best,
                        cost,
                        state.dist + t - state.from_m,
                        End::Tree(i as u32),
                        h,
                    );
                }
            }
        }
        let tree_best = best;
        loop {
            let s = &*self.scratch;
            let mut found = tree_best;
            for &(h, t) in &targets {
                if s.reached(h) {
                    let label = s.labels[h as usize];
                    let (cost, dist) = (label.cost + part(t), label.dist + t);
                    consider(&mut found, cost, dist, End::Label(h), h);
                }
            }
            let go_on = s
                .heap
                .peek()
                .is_some_and(|q| found.is_none_or(|(c, ..)| q.cost < c));
            if !go_on {
                best = found;
                break;
            }
            self.settle_next();
        }
        let (cost, dist, end, h) = best?;
        if dist > self.max_distance_m {
            return None;
        }
        let arrives_ab = h & 1 == 0;
        let side = if access.right_of_ab == arrives_ab {
            RoadSide::Right
        } else {
            RoadSide::Left
        };
        Some(RoadPath {
            distance_m: f64::from(dist),
            eta_s: f64::from(cost),
            side,
            end,
        })
    }

    /// Pops the cheapest label, settles it and relaxes what follows it.
    fn settle_next(&mut self) {
        let net = self.network;
        let s = &mut *self.scratch;
        let Some(Queued { cost, half_edge: h }) = s.heap.pop() else {
            return;
        };
        let generation = s.generation;
        let label = &mut s.labels[h as usize];
        if label.stamp == 2 * generation + 1 || cost > label.cost {
            return;
        }
        label.stamp = 2 * generation + 1;
        let dist = label.dist;
        s.settled += 1;
        let head_dist = dist + net.len_m(h);
        if head_dist > self.max_distance_m {
            return;
        }
        let head_cost = cost + net.secs(h);
        let node = net.head(h);
        let back = net.tail(h);
        let leaving = net.leaving(node);
        let mut any = false;
        for &g in leaving {
            if net.may_drive(g) && net.head(g) != back {
                any = true;
                relax(s, g, head_cost, head_dist, h);
            }
        }
        if !any {
            for &g in leaving {
                if net.may_drive(g) {
                    relax(s, g, head_cost, head_dist, h);
                }
            }
        }
    }

    /// A lower bound on the time by road to `access`: the great-circle distance
    /// between the two projections at the fastest road's speed.
    pub fn eta_lower_bound_s(&self, access: &AccessPoint) -> f64 {
        let point = self
            .network
            .point_along(2 * access.segment, access.along_m());
        arc_m(self.start_point, point) / self.network.max_speed_mps
    }

    /// Half-edges settled so far by this search.
    pub fn settled(&self) -> usize {
        self.scratch.settled
    }

    /// The half-edges of a path, from the matched one to the access segment.
    pub fn half_edges(&mut self, path: &RoadPath) -> Vec<u32> {
        self.trace(path);
        self.scratch.path.clone()
    }

    fn trace(&mut self, path: &RoadPath) {
        let s = &mut *self.scratch;
        s.path.clear();
        let mut at = match path.end {
            End::Tree(i) => TREE | i,
            End::Label(h) => h,
        };
        while at != NONE {
            if at & TREE != 0 {
                let state = s.tree[(at & !TREE) as usize];
                s.path.push(state.half_edge);
                at = state.parent;
            } else {
                s.path.push(at);
                at = s.labels[at as usize].parent;
            }
        }
        s.path.reverse();
    }

    /// SPEC's turn for a path this search returned (`None`: it never leaves the road).
    pub fn turn(&mut self, path: &RoadPath) -> Option<Turn> {
        self.trace(path);
        let s = &mut *self.scratch;
        self.network
            .first_turn(&s.path, self.start.along_m(), &mut s.exits)
    }
}

#[inline]
fn relax(s: &mut SearchScratch, h: u32, cost: f32, dist: f32, parent: u32) {
    let reached = 2 * s.generation;
    let label = &mut s.labels[h as usize];
    if label.stamp < reached || (label.stamp == reached && cost < label.cost) {
        *label = Label {
            cost,
            dist,
            parent,
            stamp: reached,
        };
        s.heap.push(Queued { cost, half_edge: h });
    }
}

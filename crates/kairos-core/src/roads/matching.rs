//! Matching a moving position to a road, and a merchant to its access point.
//!
//! **Position** (SPEC "Matching"): only a position with a heading and a speed
//! of at least 2 m/s is matched. Candidates are the drivable *directions* of
//! segments within 50 m whose direction of travel, at the point of the segment
//! nearest the position, lies within 45° of the heading (a two-way segment is
//! two candidates, a one-way only its legal direction). Among them kairos takes
//! the lowest score:
//!
//! `score = distance (m) + 0.2 m per degree off the heading − 10 m if on the road of the previous match`
//!
//! "The road of the previous match" is the OSM way of the previous matched
//! segment, and the road ahead of it: what a driver on the previous match
//! reaches within 200 m going forward, through shape nodes, and at junctions
//! by the exit that stays on the road (SPEC "The turn"), whatever the OSM ways
//! (ways are often split at junctions; the road goes on). The 10 m bonus is the hysteresis: a fix that wanders up to 10 m
//! nearer a parallel or crossing road does not jump to it; a truly different
//! road wins as soon as it is clearly nearer. The angle term (at most 9 m)
//! separates a road from the one it crosses or forks from. The previous match
//! is a small `Copy` value ([`MatchState`]) the caller keeps per device: it is
//! kept while the device is slower than 2 m/s or has no heading, and forgotten
//! after [`MAX_MISSES`] moving fixes in a row match nothing.
//!
//! **Access point** (SPEC "Matching"): a merchant's projection on the nearest
//! drivable segment within 200 m. Our reading of SPEC's "beside a motorway with
//! no exit": `motorway` and `motorway_link` segments are never access points
//! (no one stops on a motorway), so a merchant beside one takes the nearest
//! other road within 200 m, or none.

use crate::geodesy::LatLon;

use super::graph::{cross, dot, norm, normalize, RoadNetwork};
use super::spatial::project;

/// A position farther than this from every road (metres) matches none.
pub const MATCH_RADIUS_M: f64 = 50.0;
/// The largest angle (degrees) between the heading and a road's direction.
pub const MATCH_HALF_ANGLE_DEG: f64 = 45.0;
/// Slower than this (m/s) a position is not matched.
pub const MATCH_MIN_SPEED: f64 = 2.0;
/// Score metres per degree between the heading and the road's direction.
pub const ANGLE_WEIGHT_M_PER_DEG: f64 = 0.2;
/// Score metres taken off a candidate on the road of the previous match.
pub const HYSTERESIS_M: f64 = 10.0;
/// Moving fixes in a row that match nothing before the previous match is forgotten.
pub const MAX_MISSES: u8 = 3;
/// How far ahead of the previous match the road it was on is favoured, metres.
pub const ROAD_AHEAD_M: f64 = 200.0;
/// At most this many segments of the road ahead are favoured.
pub const ROAD_AHEAD_SEGMENTS: usize = 24;
/// A merchant farther than this from every road (metres) has no access point.
pub const ACCESS_RADIUS_M: f64 = 200.0;

/// A position matched to a road: where on which direction of which segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoadMatch {
    pub(crate) half_edge: u32,
    pub(crate) along_m: f32,
    pub(crate) off_road_m: f32,
}

impl RoadMatch {
    /// The half-edge (segment and direction of travel) matched.
    pub fn half_edge(&self) -> u32 {
        self.half_edge
    }

    /// The segment matched.
    pub fn segment(&self) -> u32 {
        self.half_edge >> 1
    }

    /// Metres from the half-edge's first node to the projection.
    pub fn along_m(&self) -> f64 {
        f64::from(self.along_m)
    }

    /// Metres from the position to the road (the off-road leg, not counted).
    pub fn off_road_m(&self) -> f64 {
        f64::from(self.off_road_m)
    }
}

/// What matching remembers between a device's positions (kept by the caller).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MatchState {
    /// The previous match's half-edge and way.
    last: Option<(u32, u32)>,
    /// Moving fixes in a row that matched nothing.
    misses: u8,
}

impl MatchState {
    /// The segment of the previous match, if remembered.
    pub fn last_segment(&self) -> Option<u32> {
        self.last.map(|(h, _)| h >> 1)
    }
}

/// A merchant's place on the road network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AccessPoint {
    pub(crate) segment: u32,
    /// Metres from the segment's first node (`a`) to the projection.
    pub(crate) along_m: f32,
    pub(crate) off_road_m: f32,
    /// The merchant lies right of the direction `a → b` (or on the line).
    pub(crate) right_of_ab: bool,
}

impl AccessPoint {
    /// The segment.
    pub fn segment(&self) -> u32 {
        self.segment
    }

    /// Metres from the segment's first node to the access point.
    pub fn along_m(&self) -> f64 {
        f64::from(self.along_m)
    }

    /// Metres from the merchant to the road (the off-road leg, not counted).
    pub fn off_road_m(&self) -> f64 {
        f64::from(self.off_road_m)
    }
}

/// The unit vector pointing along `heading_deg` in the tangent plane at `at`.
pub(crate) fn heading_vector(at: LatLon, heading_deg: f64) -> [f64; 3] {
    let (phi, lambda) = (at.lat.to_radians(), at.lon.to_radians());
    let (sp, cp, sl, cl) = (phi.sin(), phi.cos(), lambda.sin(), lambda.cos());
    let north = [-sp * cl, -sp * sl, cp];
    let east = [-sl, cl, 0.0];
    let (sh, ch) = heading_deg.to_radians().sin_cos();
    [0, 1, 2].map(|i| ch * north[i] + sh * east[i])
}

impl RoadNetwork {
    /// Matches a position (SPEC "Matching"; the exact rule is in this module's
    /// doc), updating the device's `state`.
    pub fn match_position(
        &self,
        location: LatLon,
        heading_deg: Option<f64>,
        speed_mps: f64,
        state: &mut MatchState,
    ) -> Option<RoadMatch> {
        let heading = heading_deg.filter(|h| h.is_finite())?;
        if speed_mps.is_nan() || speed_mps < MATCH_MIN_SPEED || !location.is_valid() {
            return None;
        }
        let p = location.unit_vector();
        let wanted = heading_vector(location, heading);
        let min_cos = MATCH_HALF_ANGLE_DEG.to_radians().cos();
        let mut best: Option<(f64, RoadMatch, u32)> = None;
        let mut ahead = [u32::MAX; ROAD_AHEAD_SEGMENTS];
        if let Some((h, _)) = state.last {
            self.road_ahead(h, &mut ahead);
        }
        for segment in self.index.near(p, MATCH_RADIUS_M) {
            let [a, b] = self.seg_nodes[segment as usize];
            let (va, vb) = (self.node_vector(a), self.node_vector(b));
            let proj = project(p, va, vb);
            if proj.distance_m > MATCH_RADIUS_M {
                continue;
            }
            let n = cross(va, vb);
            if norm(n) < 1e-15 {
                continue;
            }
            // The direction a → b at the foot of the projection.
            let along_ab = normalize(cross(normalize(n), proj.foot));
            let cos_ab = dot(along_ab, wanted);
            let way = self.seg_way[segment as usize];
            let len = self.seg_len[segment as usize];
            for dir in [0u32, 1] {
                let half_edge = 2 * segment + dir;
                let cos = if dir == 0 { cos_ab } else { -cos_ab };
                if cos < min_cos || !self.may_drive(half_edge) {
                    continue;
                }
                let angle = cos.clamp(-1.0, 1.0).acos().to_degrees();
                let favoured =
                    state.last.is_some_and(|(_, w)| w == way) || ahead.contains(&segment);
                let score = proj.distance_m + ANGLE_WEIGHT_M_PER_DEG * angle
                    - if favoured { HYSTERESIS_M } else { 0.0 };
                let t = if dir == 0 { proj.t } else { 1.0 - proj.t };
                let candidate = RoadMatch {
                    half_edge,
                    along_m: (t * f64::from(len)) as f32,
                    off_road_m: proj.distance_m as f32,
                };
                let better = best.as_ref().is_none_or(|(s, m, _)| {
                    score.total_cmp(s).then(half_edge.cmp(&m.half_edge)).is_lt()
                });
                if better {
                    best = Some((score, candidate, way));
                }
            }
        }
        match best {
            Some((_, matched, way)) => {
                *state = MatchState {
                    last: Some((matched.half_edge, way)),
                    misses: 0,
                };
                Some(matched)
            }
            None => {
                state.misses = state.misses.saturating_add(1);
                if state.misses >= MAX_MISSES {
                    state.last = None;
                }
                None
            }
        }
    }

    /// The segments of the road ahead of half-edge `from` (itself first),
    /// within [`ROAD_AHEAD_M`] or [`ROAD_AHEAD_SEGMENTS`]; the rest of `out`
    /// is left as it is.
    fn road_ahead(&self, from: u32, out: &mut [u32; ROAD_AHEAD_SEGMENTS]) {
        let mut exits = Vec::new();
        let mut h = from;
        let mut walked = 0.0;
        for slot in out.iter_mut() {
            *slot = h >> 1;
            walked += f64::from(self.len_m(h));
            if walked > ROAD_AHEAD_M {
                break;
            }
            let node = self.head(h);
            let back = self.tail(h);
            let next = if self.is_junction(node) {
                self.exits(h, &mut exits);
                self.stay_on_road(h, &exits)
            } else {
                self.leaving(node)
                    .iter()
                    .copied()
                    .find(|&g| self.may_drive(g) && self.head(g) != back)
            };
            match next {
                Some(g) => h = g,
                None => break,
            }
        }
    }

    /// A merchant's access point: its projection on the nearest drivable
    /// segment within 200 m, motorways and their links excepted.
    pub fn access_point(&self, location: LatLon) -> Option<AccessPoint> {
        if !location.is_valid() {
            return None;
        }
        let p = location.unit_vector();
        let mut best: Option<(f64, AccessPoint)> = None;
        for (segment, lower_bound) in self.index.nearest(p) {
            if lower_bound > ACCESS_RADIUS_M || best.as_ref().is_some_and(|(d, _)| lower_bound > *d)
            {
                break;
            }
            if self.segment_class(segment).is_motorway() {
                continue;
            }
            let [a, b] = self.seg_nodes[segment as usize];
            let proj = project(p, self.node_vector(a), self.node_vector(b));
            if proj.distance_m > ACCESS_RADIUS_M {
                continue;
            }
            let better = best.as_ref().is_none_or(|(d, ap)| {
                proj.distance_m
                    .total_cmp(d)
                    .then(segment.cmp(&ap.segment))
                    .is_lt()
            });
            if better {
                let len = self.seg_len[segment as usize];
                best = Some((
                    proj.distance_m,
                    AccessPoint {
                        segment,
                        along_m: (proj.t * f64::from(len)) as f32,
                        off_road_m: proj.distance_m as f32,
                        right_of_ab: proj.cross_m >= 0.0,
                    },
                ));
            }
        }
        best.map(|(_, ap)| ap)
    }
}

//! The segments' R-tree, and the distance from a point to a segment, both on
//! the unit sphere (never lon/lat as planar x/y, see [`crate::geodesy`]).
//!
//! Each segment is stored as the box of its two ends' unit vectors in `f32`,
//! widened by the arc's bulge above its chord and by `f32` rounding, so the
//! box always holds the arc: the tree only prunes, and every candidate is then
//! measured exactly in `f64` ([`project`]). `f32` boxes halve the tree's size.

use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};

use super::graph::{cross, dot, norm, normalize};
use crate::geodesy::{chord_squared_for, EARTH_RADIUS_M};

type Entry = GeomWithData<Rectangle<[f32; 3]>, u32>;

/// The tree's shape: wide nodes, as the merchants' index (see `crate::index`).
struct Shape;

impl rstar::RTreeParams for Shape {
    const MIN_SIZE: usize = 8;
    const MAX_SIZE: usize = 24;
    const REINSERTION_COUNT: usize = 6;
    type DefaultInsertionStrategy = rstar::RStarInsertionStrategy;
}

/// Slack on every box and query, in unit-sphere units (about 6 m): covers
/// `f32` rounding of coordinates near 1 (6e-8) many times over.
const SLACK: f64 = 1e-6;

/// An R-tree of segments by their unit-vector boxes.
pub(crate) struct SegmentIndex {
    tree: RTree<Entry, Shape>,
}

impl SegmentIndex {
    /// Indexes segments given as the unit vectors of their ends, in segment order.
    pub fn new(segments: impl Iterator<Item = ([f64; 3], [f64; 3])>) -> Self {
        let entries: Vec<Entry> = segments
            .enumerate()
            .map(|(s, (a, b))| {
                let chord = norm([b[0] - a[0], b[1] - a[1], b[2] - a[2]]);
                // The arc rises above its chord by at most 1 - cos(θ/2) ≤ chord²/2.
                let pad = chord * chord / 2.0 + SLACK;
                let lower = [0, 1, 2].map(|i| (a[i].min(b[i]) - pad) as f32);
                let upper = [0, 1, 2].map(|i| (a[i].max(b[i]) + pad) as f32);
                Entry::new(Rectangle::from_corners(lower, upper), s as u32)
            })
            .collect();
        Self {
            tree: RTree::bulk_load_with_params(entries),
        }
    }

    /// Segments whose box comes within `radius_m` of `point` (a superset of
    /// those whose arc does).
    pub fn near(&self, point: [f64; 3], radius_m: f64) -> impl Iterator<Item = u32> + '_ {
        let r = chord_squared_for(radius_m).sqrt() + SLACK;
        let lower = point.map(|x| (x - r) as f32);
        let upper = point.map(|x| (x + r) as f32);
        self.tree
            .locate_in_envelope_intersecting(AABB::from_corners(lower, upper))
            .map(|e| e.data)
    }

    /// Segments in increasing order of their box's distance from `point`, each
    /// with a lower bound (metres) on the distance from `point` to its arc.
    pub fn nearest(&self, point: [f64; 3]) -> impl Iterator<Item = (u32, f64)> + '_ {
        let query = point.map(|x| x as f32);
        self.tree
            .nearest_neighbor_iter_with_distance_2(query)
            .map(|(e, d2)| {
                let chord = (f64::from(d2).sqrt() - SLACK).max(0.0);
                (e.data, chord * EARTH_RADIUS_M)
            })
    }

    /// Bytes held by the tree (its entries and an estimate of its nodes).
    pub fn heap_bytes(&self) -> usize {
        let entries = self.tree.size() * std::mem::size_of::<Entry>();
        // Inner nodes: one per ~MIN..MAX entries, each a Vec of children and a box.
        entries + entries / 6
    }
}

/// Where a point falls on a segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Projection {
    /// Metres from the point to the segment.
    pub distance_m: f64,
    /// Fraction of the way from `a` to `b`, [0, 1].
    pub t: f64,
    /// The point on the segment nearest `point`.
    pub foot: [f64; 3],
    /// Signed metres of `point` from the great circle `a → b`: positive on the right.
    pub cross_m: f64,
}

/// The point of the arc `a → b` nearest `p` (all unit vectors), exact on the sphere.
pub(crate) fn project(p: [f64; 3], a: [f64; 3], b: [f64; 3]) -> Projection {
    let n = cross(a, b);
    let n_len = norm(n);
    let to_end = |end: [f64; 3], t: f64| Projection {
        distance_m: super::graph::arc_m(p, end),
        t,
        foot: end,
        cross_m: 0.0,
    };
    if n_len < 1e-15 {
        return to_end(a, 0.0);
    }
    let n = n.map(|x| x / n_len);
    let off = dot(p, n);
    // `n` = a × b points to the left of travel a → b.
    let cross_m = -EARTH_RADIUS_M * off.clamp(-1.0, 1.0).asin();
    let on_plane = normalize([0, 1, 2].map(|i| p[i] - off * n[i]));
    let after_a = dot(cross(a, on_plane), n) >= 0.0;
    let before_b = dot(cross(on_plane, b), n) >= 0.0;
    let mut out = if after_a && before_b {
        let whole = n_len.atan2(dot(a, b));
        let part = norm(cross(a, on_plane)).atan2(dot(a, on_plane));
        Projection {
            distance_m: cross_m.abs(),
            t: (part / whole).clamp(0.0, 1.0),
            foot: on_plane,
            cross_m: 0.0,
        }
    } else if super::graph::arc_m(p, a) <= super::graph::arc_m(p, b) {
        to_end(a, 0.0)
    } else {
        to_end(b, 1.0)
    };
    out.cross_m = cross_m;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geodesy::{cross_track_m, destination, distance_m, LatLon};
    use proptest::prelude::*;

    proptest! {
        /// The projection agrees with a brute-force scan of points along the
        /// segment, at any latitude (70° N included) and across the antimeridian.
        #[test]
        fn projection_matches_a_brute_force_scan(
            lat in -75.0f64..75.0,
            lon in -180.0f64..180.0,
            bearing in 0.0f64..360.0,
            length in 1.0f64..2_000.0,
            off_bearing in 0.0f64..360.0,
            off in 0.0f64..300.0,
        ) {
            let a = LatLon::new(lat, lon);
            let b = destination(a, bearing, length);
            let p = destination(destination(a, bearing, length / 3.0), off_bearing, off);
            let proj = project(p.unit_vector(), a.unit_vector(), b.unit_vector());
            let mut best = f64::INFINITY;
            for i in 0..=2000 {
                let q = destination(a, bearing, length * f64::from(i) / 2000.0);
                best = best.min(distance_m(p, q));
            }
            prop_assert!((proj.distance_m - best).abs() < 0.01 + length / 2000.0, "{} {}", proj.distance_m, best);
            let xt = cross_track_m(a, bearing, p);
            prop_assert!((proj.cross_m - xt).abs() < 0.05, "{} {}", proj.cross_m, xt);
        }

        /// Every segment within the radius is found by the tree.
        #[test]
        fn the_tree_finds_every_segment_within_the_radius(
            lat in -70.0f64..70.0,
            lon in -179.0f64..179.0,
            radius in 5.0f64..300.0,
        ) {
            let origin = LatLon::new(lat, lon);
            let mut ends = Vec::new();
            for i in 0..60 {
                let a = destination(origin, f64::from(i) * 37.0, f64::from(i % 13) * 40.0);
                let b = destination(a, f64::from(i) * 71.0, 5.0 + f64::from(i % 7) * 150.0);
                ends.push((a.unit_vector(), b.unit_vector()));
            }
            let index = SegmentIndex::new(ends.iter().copied());
            let p = origin.unit_vector();
            let found: Vec<u32> = index.near(p, radius).collect();
            for (s, &(a, b)) in ends.iter().enumerate() {
                if project(p, a, b).distance_m <= radius {
                    prop_assert!(found.contains(&(s as u32)), "segment {s}");
                }
            }
            let mut lower_bounds = index.nearest(p);
            let (s, bound) = lower_bounds.next().unwrap();
            let (a, b) = ends[s as usize];
            prop_assert!(bound <= project(p, a, b).distance_m + 1e-6);
        }
    }
}

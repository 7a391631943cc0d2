//! The segments' R-tree, and the distance from a point to a segment, both on
//! the unit sphere (never lon/lat as planar x/y, see [`crate::geodesy`]).
//!
//! Each segment is stored as the box of its two ends' unit vectors in `f32`,
//! widened by the arc's bulge above its chord and by `f32` rounding, so the
//! box always holds the arc: the tree only prunes, and every candidate is then
//! measured exactly in `f64` ([`project`]). `f32` boxes halve the tree's size.
//!
//! The tree is *packed* and static: the segments' boxes sorted along a Z-order
//! curve of their centres, then every [`FANOUT`] consecutive boxes of a level
//! make one box of the level above, up to a single root. It is flat arrays
//! (no node objects), built in one sort: a few times faster to build than a
//! dynamic R-tree's bulk load, which is most of loading a road file.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::ops::Range;

use super::graph::{cross, dot, norm, normalize};
use crate::geodesy::{chord_squared_for, EARTH_RADIUS_M};

/// Children per node of the tree.
const FANOUT: usize = 16;

/// Slack on every box and query, in unit-sphere units (about 6 m): covers
/// `f32` rounding of coordinates near 1 (6e-8) many times over.
const SLACK: f64 = 1e-6;

/// An axis-aligned box in unit-sphere space: lower corner, then upper.
type Bbox = [f32; 6];

/// A packed R-tree of segments by their unit-vector boxes.
pub(crate) struct SegmentIndex {
    /// The boxes of every level, leaves (one per segment, in tree order) first.
    boxes: Vec<Bbox>,
    /// Where each level starts in `boxes`, and where the last ends.
    levels: Vec<usize>,
    /// The segment of each leaf.
    order: Vec<u32>,
}

impl SegmentIndex {
    /// Indexes segments given as the unit vectors of their ends, in segment order.
    pub fn new(segments: impl Iterator<Item = ([f64; 3], [f64; 3])>) -> Self {
        let leaves: Vec<Bbox> = segments
            .map(|(a, b)| {
                let chord = norm([b[0] - a[0], b[1] - a[1], b[2] - a[2]]);
                // The arc rises above its chord by at most 1 - cos(θ/2) ≤ chord²/2.
                let pad = chord * chord / 2.0 + SLACK;
                let mut out = [0.0; 6];
                for i in 0..3 {
                    out[i] = (a[i].min(b[i]) - pad) as f32;
                    out[i + 3] = (a[i].max(b[i]) + pad) as f32;
                }
                out
            })
            .collect();
        let mut keyed: Vec<(u64, u32)> = leaves
            .iter()
            .enumerate()
            .map(|(s, b)| (z_order(b), s as u32))
            .collect();
        keyed.sort_unstable();
        let order: Vec<u32> = keyed.into_iter().map(|(_, s)| s).collect();
        let mut boxes: Vec<Bbox> = order.iter().map(|&s| leaves[s as usize]).collect();
        drop(leaves);
        let mut levels = vec![0, boxes.len()];
        while !boxes.is_empty()
            && (levels.len() == 2 || levels[levels.len() - 1] - levels[levels.len() - 2] > 1)
        {
            let (start, end) = (levels[levels.len() - 2], levels[levels.len() - 1]);
            for first in (start..end).step_by(FANOUT) {
                let last = (first + FANOUT).min(end);
                let mut union = boxes[first];
                for b in &boxes[first + 1..last] {
                    for i in 0..3 {
                        union[i] = union[i].min(b[i]);
                        union[i + 3] = union[i + 3].max(b[i + 3]);
                    }
                }
                boxes.push(union);
            }
            levels.push(boxes.len());
        }
        Self {
            boxes,
            levels,
            order,
        }
    }

    /// The root: its level and the range of its one box.
    fn root(&self) -> Option<(usize, usize)> {
        (!self.order.is_empty())
            .then(|| (self.levels.len() - 2, self.levels[self.levels.len() - 2]))
    }

    /// The boxes (as indices into `boxes`) under the node at `at` of `level`.
    fn children(&self, level: usize, at: usize) -> Range<usize> {
        let first = self.levels[level - 1] + (at - self.levels[level]) * FANOUT;
        first..(first + FANOUT).min(self.levels[level])
    }

    /// Segments whose box comes within `radius_m` of `point` (a superset of
    /// those whose arc does).
    pub fn near(&self, point: [f64; 3], radius_m: f64) -> impl Iterator<Item = u32> + '_ {
        let r = chord_squared_for(radius_m).sqrt() + SLACK;
        let mut query = [0.0; 6];
        for i in 0..3 {
            query[i] = (point[i] - r) as f32;
            query[i + 3] = (point[i] + r) as f32;
        }
        let stack = self
            .root()
            .filter(|&(_, at)| intersects(&self.boxes[at], &query))
            .into_iter()
            .collect();
        Near {
            index: self,
            query,
            stack,
            leaves: 0..0,
        }
    }

    /// Segments in increasing order of their box's distance from `point`, each
    /// with a lower bound (metres) on the distance from `point` to its arc.
    pub fn nearest(&self, point: [f64; 3]) -> impl Iterator<Item = (u32, f64)> + '_ {
        let query = point.map(|x| x as f32);
        let mut heap = BinaryHeap::new();
        if let Some((level, at)) = self.root() {
            heap.push(Pending {
                d2: distance_2(&self.boxes[at], query),
                level: level as u32,
                at: at as u32,
            });
        }
        Nearest {
            index: self,
            query,
            heap,
        }
    }

    /// Bytes held by the tree.
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&self.boxes[..])
            + std::mem::size_of_val(&self.levels[..])
            + std::mem::size_of_val(&self.order[..])
    }
}

/// The segments of [`SegmentIndex::near`], found depth first.
struct Near<'a> {
    index: &'a SegmentIndex,
    query: Bbox,
    /// Inner nodes whose box meets the query: (level, index into `boxes`).
    stack: Vec<(usize, usize)>,
    /// Leaves of the node being read.
    leaves: Range<usize>,
}

impl Iterator for Near<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let index = self.index;
        loop {
            for leaf in self.leaves.by_ref() {
                if intersects(&index.boxes[leaf], &self.query) {
                    return Some(index.order[leaf]);
                }
            }
            let (level, at) = self.stack.pop()?;
            let children = index.children(level, at);
            if level == 1 {
                self.leaves = children;
            } else {
                for child in children {
                    if intersects(&index.boxes[child], &self.query) {
                        self.stack.push((level - 1, child));
                    }
                }
            }
        }
    }
}

/// A node or leaf waiting in [`Nearest`]'s queue.
#[derive(Clone, Copy, PartialEq)]
struct Pending {
    d2: f32,
    level: u32,
    at: u32,
}

impl Eq for Pending {}

impl Ord for Pending {
    /// Reversed, so the max-heap pops the nearest first.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .d2
            .total_cmp(&self.d2)
            .then(other.level.cmp(&self.level))
            .then(other.at.cmp(&self.at))
    }
}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The segments of [`SegmentIndex::nearest`], best first.
struct Nearest<'a> {
    index: &'a SegmentIndex,
    query: [f32; 3],
    heap: BinaryHeap<Pending>,
}

impl Iterator for Nearest<'_> {
    type Item = (u32, f64);

    fn next(&mut self) -> Option<(u32, f64)> {
        let index = self.index;
        loop {
            let Pending { d2, level, at } = self.heap.pop()?;
            if level == 0 {
                let chord = (f64::from(d2).sqrt() - SLACK).max(0.0);
                return Some((index.order[at as usize], chord * EARTH_RADIUS_M));
            }
            for child in index.children(level as usize, at as usize) {
                self.heap.push(Pending {
                    d2: distance_2(&index.boxes[child], self.query),
                    level: level - 1,
                    at: child as u32,
                });
            }
        }
    }
}

fn intersects(a: &Bbox, b: &Bbox) -> bool {
    (0..3).all(|i| a[i] <= b[i + 3] && b[i] <= a[i + 3])
}

/// The squared distance from a point to a box (0 inside).
fn distance_2(b: &Bbox, p: [f32; 3]) -> f32 {
    (0..3)
        .map(|i| {
            let d = (b[i] - p[i]).max(p[i] - b[i + 3]).max(0.0);
            d * d
        })
        .sum()
}

/// The Z-order key of a box's centre, 21 bits per axis over [-1, 1].
fn z_order(b: &Bbox) -> u64 {
    let mut key = 0u64;
    for i in 0..3 {
        let centre = (f64::from(b[i]) + f64::from(b[i + 3])) / 2.0;
        let q = (((centre + 1.0) / 2.0).clamp(0.0, 1.0) * f64::from((1u32 << 21) - 1)) as u64;
        key |= spread(q) << i;
    }
    key
}

/// Spreads the low 21 bits of `x` to every third bit.
fn spread(x: u64) -> u64 {
    let mut x = x & 0x1f_ffff;
    x = (x | x << 32) & 0x001f_0000_0000_ffff;
    x = (x | x << 16) & 0x001f_0000_ff00_00ff;
    x = (x | x << 8) & 0x100f_00f0_0f00_f00f;
    x = (x | x << 4) & 0x10c3_0c30_c30c_30c3;
    x = (x | x << 2) & 0x1249_2492_4924_9249;
    x
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
            // Every segment once, in increasing order of a true lower bound.
            let all: Vec<(u32, f64)> = index.nearest(p).collect();
            prop_assert_eq!(all.len(), ends.len());
            let mut seen = vec![false; ends.len()];
            for (k, &(s, bound)) in all.iter().enumerate() {
                prop_assert!(!seen[s as usize], "segment {} twice", s);
                seen[s as usize] = true;
                let (a, b) = ends[s as usize];
                prop_assert!(bound <= project(p, a, b).distance_m + 1e-6);
                prop_assert!(k == 0 || all[k - 1].1 <= bound);
            }
        }
    }
}

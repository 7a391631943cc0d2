//! The road graph: flat arrays, no maps of ids.
//!
//! - **Nodes** are every OSM node the drivable ways pass through (shape nodes
//!   too, so "20 m along the way" is a walk over segments), with coordinates as
//!   `i32` in 1e-7 degrees (about 1 cm).
//! - **Segments** join two consecutive nodes of a way. Segment `s` has two
//!   *half-edges*: `2s` from its first node `a` to `b`, `2s + 1` from `b` to `a`;
//!   so the twin of half-edge `h` is `h ^ 1` and needs no array. Each segment
//!   keeps its length, its travel time, its way, and which of its two
//!   directions may be driven.
//! - **Adjacency** is CSR: `first_out[n]..first_out[n + 1]` in `adjacent` lists
//!   the half-edges leaving node `n`, *including* those that may not be driven
//!   (a one-way towards `n` is still a branch of the junction).
//! - **Ways** keep their class, speed, `service` kind and OSM id.
//!
//! Geometry is done on unit vectors of the sphere (see [`crate::geodesy`]),
//! computed from the coordinates when needed rather than stored.

use crate::geodesy::{LatLon, EARTH_RADIUS_M};

use super::spatial::SegmentIndex;
use super::tags::{RoadClass, ServiceKind};

/// Segment flag: the half-edge `a → b` may be driven.
pub(crate) const FORWARD: u8 = 1;
/// Segment flag: the half-edge `b → a` may be driven.
pub(crate) const BACKWARD: u8 = 2;

/// Coordinates are stored in units of 1e-7 degrees.
pub(crate) const COORD_SCALE: f64 = 1e7;

/// A drivable road network: the graph, its ways and a spatial index of its segments.
pub struct RoadNetwork {
    pub(crate) lat: Vec<i32>,
    pub(crate) lon: Vec<i32>,
    pub(crate) first_out: Vec<u32>,
    pub(crate) adjacent: Vec<u32>,
    pub(crate) seg_nodes: Vec<[u32; 2]>,
    pub(crate) seg_len: Vec<f32>,
    pub(crate) seg_secs: Vec<f32>,
    pub(crate) seg_way: Vec<u32>,
    pub(crate) seg_flags: Vec<u8>,
    pub(crate) way_class: Vec<RoadClass>,
    pub(crate) way_service: Vec<ServiceKind>,
    pub(crate) way_speed_kmh: Vec<f32>,
    pub(crate) way_osm_id: Vec<i64>,
    pub(crate) index: SegmentIndex,
    pub(crate) max_speed_mps: f64,
}

/// The raw arrays of a network, as the builder and the compact file hold them.
pub(crate) struct Parts {
    pub lat: Vec<i32>,
    pub lon: Vec<i32>,
    pub seg_nodes: Vec<[u32; 2]>,
    pub seg_way: Vec<u32>,
    pub seg_flags: Vec<u8>,
    pub way_class: Vec<RoadClass>,
    pub way_service: Vec<ServiceKind>,
    pub way_speed_kmh: Vec<f32>,
    pub way_osm_id: Vec<i64>,
}

impl RoadNetwork {
    /// Builds the derived arrays (lengths, times, adjacency, spatial index).
    /// The caller guarantees that every index in `parts` is in range.
    pub(crate) fn from_parts(parts: Parts) -> Self {
        let Parts {
            lat,
            lon,
            seg_nodes,
            seg_way,
            seg_flags,
            way_class,
            way_service,
            way_speed_kmh,
            way_osm_id,
        } = parts;
        let n = lat.len();
        // Each node's unit vector once (a segment's ends are shared).
        let vectors: Vec<[f64; 3]> = lat
            .iter()
            .zip(&lon)
            .map(|(&a, &o)| unit_vector(a, o))
            .collect();
        let vector = |i: u32| vectors[i as usize];
        let seg_len: Vec<f32> = seg_nodes
            .iter()
            .map(|&[a, b]| arc_m(vector(a), vector(b)) as f32)
            .collect();
        let seg_secs: Vec<f32> = seg_len
            .iter()
            .zip(&seg_way)
            .map(|(len, &w)| len / (way_speed_kmh[w as usize] / 3.6))
            .collect();
        let mut first_out = vec![0u32; n + 1];
        for &[a, b] in &seg_nodes {
            first_out[a as usize + 1] += 1;
            first_out[b as usize + 1] += 1;
        }
        for i in 0..n {
            first_out[i + 1] += first_out[i];
        }
        let mut fill = first_out.clone();
        let mut adjacent = vec![0u32; 2 * seg_nodes.len()];
        for (s, &[a, b]) in seg_nodes.iter().enumerate() {
            for (end, node) in [(0, a), (1, b)] {
                let slot = &mut fill[node as usize];
                adjacent[*slot as usize] = 2 * s as u32 + end;
                *slot += 1;
            }
        }
        let max_speed_kmh = seg_way
            .iter()
            .map(|&w| way_speed_kmh[w as usize])
            .fold(1.0f32, f32::max);
        let index = SegmentIndex::new(seg_nodes.iter().map(|&[a, b]| (vector(a), vector(b))));
        drop(vectors);
        Self {
            lat,
            lon,
            first_out,
            adjacent,
            seg_nodes,
            seg_len,
            seg_secs,
            seg_way,
            seg_flags,
            way_class,
            way_service,
            way_speed_kmh,
            way_osm_id,
            index,
            max_speed_mps: f64::from(max_speed_kmh) / 3.6,
        }
    }

    /// Road nodes (OSM nodes on drivable ways, shape nodes included).
    pub fn node_count(&self) -> usize {
        self.lat.len()
    }

    /// Segments (two consecutive nodes of a way).
    pub fn segment_count(&self) -> usize {
        self.seg_nodes.len()
    }

    /// Drivable ways kept.
    pub fn way_count(&self) -> usize {
        self.way_class.len()
    }

    /// The fastest speed of any road, m/s (for lower bounds on time).
    pub fn max_speed_mps(&self) -> f64 {
        self.max_speed_mps
    }

    /// Bytes held by the graph and its index (not counting a search's scratch).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of_val;
        size_of_val(&self.lat[..])
            + size_of_val(&self.lon[..])
            + size_of_val(&self.first_out[..])
            + size_of_val(&self.adjacent[..])
            + size_of_val(&self.seg_nodes[..])
            + size_of_val(&self.seg_len[..])
            + size_of_val(&self.seg_secs[..])
            + size_of_val(&self.seg_way[..])
            + size_of_val(&self.seg_flags[..])
            + size_of_val(&self.way_class[..])
            + size_of_val(&self.way_service[..])
            + size_of_val(&self.way_speed_kmh[..])
            + size_of_val(&self.way_osm_id[..])
            + self.index.heap_bytes()
    }

    /// A node's position.
    pub fn node_location(&self, node: u32) -> LatLon {
        let i = node as usize;
        LatLon::new(
            f64::from(self.lat[i]) / COORD_SCALE,
            f64::from(self.lon[i]) / COORD_SCALE,
        )
    }

    /// A node's point on the unit sphere.
    pub(crate) fn node_vector(&self, node: u32) -> [f64; 3] {
        unit_vector(self.lat[node as usize], self.lon[node as usize])
    }

    /// The OSM id of the way a segment belongs to.
    pub fn segment_way_id(&self, segment: u32) -> i64 {
        self.way_osm_id[self.seg_way[segment as usize] as usize]
    }

    /// The class of the way a segment belongs to.
    pub fn segment_class(&self, segment: u32) -> RoadClass {
        self.way_class[self.seg_way[segment as usize] as usize]
    }

    /// A segment's two nodes, in way order.
    pub fn segment_nodes(&self, segment: u32) -> [u32; 2] {
        self.seg_nodes[segment as usize]
    }

    /// A segment's length in metres.
    pub fn segment_length_m(&self, segment: u32) -> f64 {
        f64::from(self.seg_len[segment as usize])
    }

    /// A segment's travel time at its way's speed, seconds.
    pub fn segment_seconds(&self, segment: u32) -> f64 {
        f64::from(self.seg_secs[segment as usize])
    }

    /// The node a half-edge leaves.
    #[inline]
    pub fn tail(&self, half_edge: u32) -> u32 {
        self.seg_nodes[(half_edge >> 1) as usize][(half_edge & 1) as usize]
    }

    /// The node a half-edge reaches.
    #[inline]
    pub fn head(&self, half_edge: u32) -> u32 {
        self.seg_nodes[(half_edge >> 1) as usize][1 - (half_edge & 1) as usize]
    }

    /// True when the half-edge may be driven (not a one-way against it).
    #[inline]
    pub fn may_drive(&self, half_edge: u32) -> bool {
        let flag = if half_edge & 1 == 0 {
            FORWARD
        } else {
            BACKWARD
        };
        self.seg_flags[(half_edge >> 1) as usize] & flag != 0
    }

    /// The half-edges leaving a node, drivable or not.
    #[inline]
    pub fn leaving(&self, node: u32) -> &[u32] {
        let i = node as usize;
        &self.adjacent[self.first_out[i] as usize..self.first_out[i + 1] as usize]
    }

    /// A half-edge's length, metres.
    #[inline]
    pub(crate) fn len_m(&self, half_edge: u32) -> f32 {
        self.seg_len[(half_edge >> 1) as usize]
    }

    /// A half-edge's travel time, seconds.
    #[inline]
    pub(crate) fn secs(&self, half_edge: u32) -> f32 {
        self.seg_secs[(half_edge >> 1) as usize]
    }

    /// The way of a half-edge (an index into the way arrays).
    #[inline]
    pub(crate) fn way(&self, half_edge: u32) -> u32 {
        self.seg_way[(half_edge >> 1) as usize]
    }

    /// The number of distinct neighbours of a node: its branches (SPEC's
    /// junction has three or more, however many OSM ways meet there).
    pub fn branches(&self, node: u32) -> usize {
        let leaving = self.leaving(node);
        let mut count = 0;
        for (i, &h) in leaving.iter().enumerate() {
            let other = self.head(h);
            if other != node && !leaving[..i].iter().any(|&g| self.head(g) == other) {
                count += 1;
            }
        }
        count
    }

    /// True when a node is a junction (three or more branches).
    pub fn is_junction(&self, node: u32) -> bool {
        self.leaving(node).len() >= 3 && self.branches(node) >= 3
    }

    /// The point `along_m` metres from the tail of a half-edge.
    pub(crate) fn point_along(&self, half_edge: u32, along_m: f64) -> [f64; 3] {
        let (a, b) = (
            self.node_vector(self.tail(half_edge)),
            self.node_vector(self.head(half_edge)),
        );
        let len = f64::from(self.len_m(half_edge));
        let t = if len > 0.0 {
            (along_m / len).clamp(0.0, 1.0)
        } else {
            0.0
        };
        normalize([0, 1, 2].map(|i| a[i] + t * (b[i] - a[i])))
    }
}

/// The unit vector of a stored coordinate.
pub(crate) fn unit_vector(lat: i32, lon: i32) -> [f64; 3] {
    LatLon::new(f64::from(lat) / COORD_SCALE, f64::from(lon) / COORD_SCALE).unit_vector()
}

/// A coordinate in degrees as stored (1e-7 degrees).
pub(crate) fn to_fixed(degrees: f64) -> i32 {
    (degrees * COORD_SCALE).round() as i32
}

pub(crate) fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub(crate) fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

pub(crate) fn norm(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}

pub(crate) fn normalize(a: [f64; 3]) -> [f64; 3] {
    let n = norm(a);
    if n > 0.0 {
        a.map(|x| x / n)
    } else {
        a
    }
}

/// Great-circle distance in metres between two unit vectors (stable at any
/// distance: the angle from its sine and cosine).
pub(crate) fn arc_m(a: [f64; 3], b: [f64; 3]) -> f64 {
    EARTH_RADIUS_M * norm(cross(a, b)).atan2(dot(a, b))
}

/// The bearing, degrees clockwise from north in [0, 360), of the great circle
/// from `from` towards `to` (unit vectors), at `from`.
pub(crate) fn bearing_at(from: [f64; 3], to: [f64; 3]) -> f64 {
    let east = normalize([-from[1], from[0], 0.0]);
    // At a pole every direction is south or north: take east as the x axis.
    let east = if norm(east) == 0.0 {
        [0.0, 1.0, 0.0]
    } else {
        east
    };
    let north = cross(from, east);
    let d = [to[0] - from[0], to[1] - from[1], to[2] - from[2]];
    dot(d, east)
        .atan2(dot(d, north))
        .to_degrees()
        .rem_euclid(360.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geodesy::{bearing_deg, distance_m};

    #[test]
    fn arcs_and_bearings_agree_with_geodesy() {
        let a = LatLon::new(48.137, 11.575);
        for (dlat, dlon) in [(0.001, 0.0), (0.0, 0.002), (-0.003, 0.001), (0.02, -0.05)] {
            let b = LatLon::new(a.lat + dlat, a.lon + dlon);
            let (va, vb) = (a.unit_vector(), b.unit_vector());
            assert!((arc_m(va, vb) - distance_m(a, b)).abs() < 1e-3);
            let diff = (bearing_at(va, vb) - bearing_deg(a, b)).rem_euclid(360.0);
            assert!(diff.min(360.0 - diff) < 1e-6, "{dlat} {dlon}");
        }
    }
}

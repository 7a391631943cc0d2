//! Geometry on the sphere: distances, bearings, the side of the road, and the
//! 3-D unit vectors the spatial index is built on.
//!
//! The index stores each place as a point on the unit sphere
//! `[cos φ cos λ, cos φ sin λ, sin φ]`, where straight-line (chord) distance is a
//! monotone function of great-circle distance. That makes `rstar`'s planar
//! pruning exact on the sphere: no special case at the poles, at 70° N or
//! across the antimeridian. Distances and bearings shown to people come from
//! `geo`'s haversine formulas on the same mean Earth radius.

use geo::{Bearing, Destination, Distance, Haversine, Point};

/// Mean Earth radius in metres (GRS80), the one `geo`'s haversine formulas use.
pub const EARTH_RADIUS_M: f64 = 6_371_008.771_4;

/// A position in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatLon {
    /// Latitude in degrees, [-90, 90].
    pub lat: f64,
    /// Longitude in degrees, [-180, 180].
    pub lon: f64,
}

impl LatLon {
    /// A position; callers validate ranges.
    pub fn new(lat: f64, lon: f64) -> Self {
        Self { lat, lon }
    }

    /// True when both coordinates are finite and in range.
    pub fn is_valid(&self) -> bool {
        self.lat.is_finite()
            && self.lon.is_finite()
            && (-90.0..=90.0).contains(&self.lat)
            && (-180.0..=180.0).contains(&self.lon)
    }

    fn point(self) -> Point<f64> {
        Point::new(self.lon, self.lat)
    }

    /// The point on the unit sphere.
    pub fn unit_vector(self) -> [f64; 3] {
        let (phi, lambda) = (self.lat.to_radians(), self.lon.to_radians());
        [
            phi.cos() * lambda.cos(),
            phi.cos() * lambda.sin(),
            phi.sin(),
        ]
    }
}

/// Great-circle distance in metres.
pub fn distance_m(from: LatLon, to: LatLon) -> f64 {
    let d = Haversine.distance(from.point(), to.point());
    // Near antipodes rounding can lift the haversine term a hair above 1, and the
    // crate's asin turns that into NaN: such points are half the circumference apart.
    if d.is_nan() && from.is_valid() && to.is_valid() {
        std::f64::consts::PI * EARTH_RADIUS_M
    } else {
        d
    }
}

/// The point `distance_m` from `from` on the initial bearing `bearing_deg`.
pub fn destination(from: LatLon, bearing_deg: f64, distance_m: f64) -> LatLon {
    let p = Haversine.destination(from.point(), bearing_deg, distance_m);
    LatLon::new(p.y(), p.x())
}

/// Initial bearing from `from` to `to`, degrees clockwise from true north in [0, 360).
pub fn bearing_deg(from: LatLon, to: LatLon) -> f64 {
    let b = Haversine.bearing(from.point(), to.point());
    if b.is_finite() {
        b.rem_euclid(360.0)
    } else {
        0.0
    }
}

/// Signed cross-track distance in metres of `target` from the great circle leaving
/// `from` on `heading_deg`: positive to the right of the line of travel, negative to the left.
pub fn cross_track_m(from: LatLon, heading_deg: f64, target: LatLon) -> f64 {
    let angular = distance_m(from, target) / EARTH_RADIUS_M;
    let delta = (bearing_deg(from, target) - heading_deg).to_radians();
    EARTH_RADIUS_M * (angular.sin() * delta.sin()).clamp(-1.0, 1.0).asin()
}

/// A moving device's line of travel on the unit sphere: where it is and where it
/// heads, so "is this ahead" and "how far to the side" are dot products.
#[derive(Debug, Clone, Copy)]
pub struct TravelFrame {
    here: [f64; 3],
    heading: [f64; 3],
    normal: [f64; 3],
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

impl TravelFrame {
    /// The frame at `from`, heading `heading_deg` clockwise from true north.
    pub fn new(from: LatLon, heading_deg: f64) -> Self {
        let (phi, lambda) = (from.lat.to_radians(), from.lon.to_radians());
        let (sp, cp, sl, cl) = (phi.sin(), phi.cos(), lambda.sin(), lambda.cos());
        let north = [-sp * cl, -sp * sl, cp];
        let east = [-sl, cl, 0.0];
        let (sh, ch) = heading_deg.to_radians().sin_cos();
        let heading = [
            ch * north[0] + sh * east[0],
            ch * north[1] + sh * east[1],
            ch * north[2] + sh * east[2],
        ];
        let here = from.unit_vector();
        // heading × here points to the right of the line of travel.
        let normal = [
            heading[1] * here[2] - heading[2] * here[1],
            heading[2] * here[0] - heading[0] * here[2],
            heading[0] * here[1] - heading[1] * here[0],
        ];
        Self {
            here,
            heading,
            normal,
        }
    }

    /// True when the initial bearing to `target` (a unit vector) is within
    /// `half_angle_deg` (at most 90°) of the heading. A target at the device
    /// itself counts as ahead. Tested against the two walls of
    /// [`TravelFrame::wedge_walls`]: exact to rounding at any distance (a
    /// square root of `1 − cos²` would lose the bearing near the device), and
    /// the very test the index prunes by.
    pub fn is_within_cone(&self, target: [f64; 3], half_angle_deg: f64) -> bool {
        // Within about 6 µm: no bearing to speak of.
        let at_the_device = squared_chord(target, self.here) < 1e-24;
        at_the_device
            || self
                .wedge_walls(half_angle_deg.min(90.0))
                .iter()
                .all(|wall| dot(*wall, target) >= 0.0)
    }

    /// The two planes through the centre of the sphere that bound the wedge of
    /// bearings within `half_angle_deg` (at most 90°) of the heading, as normals
    /// pointing inwards: `target` lies in the wedge exactly when
    /// `wall · target ≥ 0` for both (see [`TravelFrame::is_within_cone`]).
    pub fn wedge_walls(&self, half_angle_deg: f64) -> [[f64; 3]; 2] {
        let (s, c) = half_angle_deg.to_radians().sin_cos();
        let wall = |side: f64| [0, 1, 2].map(|i| s * self.heading[i] + side * c * self.normal[i]);
        [wall(-1.0), wall(1.0)]
    }

    /// Signed cross-track distance in metres: positive to the right of the line of travel.
    pub fn cross_track_m(&self, target: [f64; 3]) -> f64 {
        EARTH_RADIUS_M * dot(target, self.normal).clamp(-1.0, 1.0).asin()
    }
}

/// Smallest absolute angle between two bearings, in degrees [0, 180].
pub fn angle_between_deg(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
}

/// Squared chord length on the unit sphere for a great-circle distance in metres.
pub fn chord_squared_for(distance_m: f64) -> f64 {
    let half_angle = (distance_m / (2.0 * EARTH_RADIUS_M)).min(std::f64::consts::FRAC_PI_2);
    let chord = 2.0 * half_angle.sin();
    chord * chord
}

/// The squared straight-line distance between two points of the unit sphere.
pub fn squared_chord(a: [f64; 3], b: [f64; 3]) -> f64 {
    (0..3).map(|i| (a[i] - b[i]).powi(2)).sum()
}

/// Great-circle distance in metres for a squared chord on the unit sphere.
pub fn distance_for_chord_squared(chord_squared: f64) -> f64 {
    let half = (chord_squared.max(0.0).sqrt() / 2.0).min(1.0);
    2.0 * EARTH_RADIUS_M * half.asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chord_round_trips_to_distance() {
        for d in [0.0, 1.0, 25.0, 1_000.0, 15_000.0, 1_000_000.0, 20_000_000.0] {
            let back = distance_for_chord_squared(chord_squared_for(d));
            assert!((back - d).abs() < 1e-3 * d.max(1.0), "{d} -> {back}");
        }
    }

    #[test]
    fn chord_distance_matches_haversine_across_the_antimeridian() {
        let a = LatLon::new(10.0, 179.99);
        let b = LatLon::new(10.0, -179.99);
        let [x1, y1, z1] = a.unit_vector();
        let [x2, y2, z2] = b.unit_vector();
        let c2 = (x1 - x2).powi(2) + (y1 - y2).powi(2) + (z1 - z2).powi(2);
        let via_chord = distance_for_chord_squared(c2);
        assert!((via_chord - distance_m(a, b)).abs() < 0.01);
        assert!(via_chord < 2_200.0, "{via_chord}");
    }

    #[test]
    fn a_place_east_of_a_northbound_car_is_on_its_right() {
        let car = LatLon::new(45.0, 6.0);
        let east = LatLon::new(45.001, 6.01);
        let west = LatLon::new(45.001, 5.99);
        assert!(cross_track_m(car, 0.0, east) > 25.0);
        assert!(cross_track_m(car, 0.0, west) < -25.0);
    }

    #[test]
    fn the_travel_frame_agrees_with_bearings_and_cross_track() {
        let car = LatLon::new(69.9, 179.95);
        for heading in [0.0, 45.0, 150.0, 269.0, 359.0] {
            let frame = TravelFrame::new(car, heading);
            for (dlat, dlon) in [(0.01, 0.02), (-0.02, 0.01), (0.005, -0.08), (0.03, 0.0)] {
                let target = LatLon::new(car.lat + dlat, car.lon + dlon);
                let target =
                    LatLon::new(target.lat, (target.lon + 180.0).rem_euclid(360.0) - 180.0);
                let by_bearing = angle_between_deg(bearing_deg(car, target), heading);
                for half in [30.0, 60.0, 90.0] {
                    if (by_bearing - half).abs() > 1e-6 {
                        let v = target.unit_vector();
                        assert_eq!(frame.is_within_cone(v, half), by_bearing <= half);
                        let in_wedge = frame.wedge_walls(half).iter().all(|w| dot(*w, v) >= 0.0);
                        assert_eq!(in_wedge, by_bearing <= half, "{heading} {half}");
                    }
                }
                let xt = cross_track_m(car, heading, target);
                assert!(
                    (frame.cross_track_m(target.unit_vector()) - xt).abs() < 0.01,
                    "{xt}"
                );
            }
        }
    }

    #[test]
    fn the_cone_holds_its_edge_a_metre_from_the_device() {
        let car = LatLon::new(48.137, 11.575);
        for heading in [0.0, 77.0, 200.0] {
            let frame = TravelFrame::new(car, heading);
            for distance in [1.0, 20.0, 300.0] {
                let at = |off: f64| destination(car, heading + off, distance).unit_vector();
                assert!(frame.is_within_cone(at(59.8), 60.0), "{heading} {distance}");
                assert!(
                    frame.is_within_cone(at(-59.8), 60.0),
                    "{heading} {distance}"
                );
                assert!(
                    !frame.is_within_cone(at(60.2), 60.0),
                    "{heading} {distance}"
                );
                assert!(
                    !frame.is_within_cone(at(-60.2), 60.0),
                    "{heading} {distance}"
                );
            }
        }
        assert!(TravelFrame::new(car, 10.0).is_within_cone(car.unit_vector(), 60.0));
    }

    #[test]
    fn angles_wrap_around_north() {
        assert_eq!(angle_between_deg(350.0, 10.0), 20.0);
        assert_eq!(angle_between_deg(10.0, 350.0), 20.0);
        assert_eq!(angle_between_deg(0.0, 180.0), 180.0);
    }
}

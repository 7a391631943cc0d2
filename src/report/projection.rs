//! The map's projection: a local equirectangular one around the centre of what
//! is drawn, with longitudes scaled by cos(latitude) so that a kilometre east is
//! as long as a kilometre north (Tromsø at 70° N keeps its shape; an unscaled
//! plot would stretch it almost threefold east-west).
//!
//! Exact at the centre and good to a fraction of a percent across a city or a
//! day's drive; it does not try to be a world map. The centre is the mean of
//! the points on the unit sphere, so a drive across the antimeridian stays in one
//! piece.

use crate::geodesy::{LatLon, EARTH_RADIUS_M};

/// Below this, cos(latitude) is held (the poles have no east).
const MIN_SCALE: f64 = 0.01;

/// Metres east and north of a centre.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalProjection {
    lat0: f64,
    lon0: f64,
    cos_lat0: f64,
}

impl LocalProjection {
    /// A projection centred on `center`.
    pub fn at(center: LatLon) -> Self {
        Self {
            lat0: center.lat,
            lon0: center.lon,
            cos_lat0: center.lat.to_radians().cos().max(MIN_SCALE),
        }
    }

    /// A projection centred on the mean of `points` (valid ones; `0, 0` when none).
    pub fn around(points: impl IntoIterator<Item = LatLon>) -> Self {
        let mut sum = [0.0; 3];
        for point in points.into_iter().filter(LatLon::is_valid) {
            let v = point.unit_vector();
            sum = [sum[0] + v[0], sum[1] + v[1], sum[2] + v[2]];
        }
        let [x, y, z] = sum;
        if x.hypot(y).hypot(z) < 1e-12 {
            return Self::at(LatLon::new(0.0, 0.0));
        }
        let lat = z.atan2(x.hypot(y)).to_degrees();
        let lon = if x.hypot(y) < 1e-12 {
            0.0
        } else {
            y.atan2(x).to_degrees()
        };
        Self::at(LatLon::new(lat, lon))
    }

    /// The centre.
    pub fn center(&self) -> LatLon {
        LatLon::new(self.lat0, self.lon0)
    }

    /// `(east, north)` in metres from the centre.
    pub fn project(&self, point: LatLon) -> (f64, f64) {
        // The shorter way round: a drive across ±180° is not drawn across the world.
        let dlon = (point.lon - self.lon0 + 540.0).rem_euclid(360.0) - 180.0;
        let east = dlon.to_radians() * EARTH_RADIUS_M * self.cos_lat0;
        let north = (point.lat - self.lat0).to_radians() * EARTH_RADIUS_M;
        (east, north)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geodesy::{destination, distance_m};
    use proptest::prelude::*;

    /// Width over height of the projected box of a square of `side_m` with its
    /// south-west corner at `corner`.
    fn aspect_of_square(corner: LatLon, side_m: f64) -> f64 {
        let east = destination(corner, 90.0, side_m);
        let north = destination(corner, 0.0, side_m);
        let north_east = destination(north, 90.0, side_m);
        let square = [corner, east, north_east, north];
        let projection = LocalProjection::around(square);
        let xy: Vec<_> = square.iter().map(|&p| projection.project(p)).collect();
        let width = xy.iter().map(|p| p.0).fold(f64::MIN, f64::max)
            - xy.iter().map(|p| p.0).fold(f64::MAX, f64::min);
        let height = xy.iter().map(|p| p.1).fold(f64::MIN, f64::max)
            - xy.iter().map(|p| p.1).fold(f64::MAX, f64::min);
        width / height
    }

    #[test]
    fn a_square_kilometre_in_tromso_stays_square() {
        let tromso = LatLon::new(69.6496, 18.956);
        let aspect = aspect_of_square(tromso, 1000.0);
        assert!((aspect - 1.0).abs() < 0.005, "aspect {aspect}");
        // What an unscaled lon/lat plot would show instead: ~2.9 times too wide.
        let naive = 1.0 / tromso.lat.to_radians().cos();
        assert!(naive > 2.8, "the test must be able to fail: {naive}");
    }

    #[test]
    fn the_centre_projects_to_the_origin_and_north_is_up() {
        let p = LocalProjection::at(LatLon::new(48.1, 11.5));
        assert_eq!(p.project(LatLon::new(48.1, 11.5)), (0.0, 0.0));
        let (east, north) = p.project(LatLon::new(48.2, 11.5));
        assert!(east.abs() < 1e-9 && north > 11_000.0);
    }

    #[test]
    fn a_drive_across_the_antimeridian_stays_in_one_piece() {
        let (a, b) = (LatLon::new(-16.5, 179.99), LatLon::new(-16.5, -179.99));
        let p = LocalProjection::around([a, b]);
        let (xa, xb) = (p.project(a).0, p.project(b).0);
        assert!(xb > xa && xb - xa < 3_000.0, "{xa} {xb}");
    }

    proptest! {
        #[test]
        fn projected_distances_match_the_sphere_near_the_centre(
            lat in -80.0f64..80.0, lon in -180.0f64..180.0,
            bearing in 0.0f64..360.0, d in 10.0f64..5_000.0,
        ) {
            let center = LatLon::new(lat, lon);
            let other = destination(center, bearing, d);
            let p = LocalProjection::at(center);
            let (x, y) = p.project(other);
            let planar = x.hypot(y);
            let true_d = distance_m(center, other);
            // Within 0.5 % up to 5 km, from the equator to 80°.
            prop_assert!((planar - true_d).abs() <= true_d * 0.005 + 0.01,
                "planar {planar} sphere {true_d}");
        }

        #[test]
        fn squares_keep_their_shape_at_any_latitude(lat in -80.0f64..80.0, lon in -179.0f64..179.0) {
            let aspect = aspect_of_square(LatLon::new(lat, lon), 2_000.0);
            prop_assert!((aspect - 1.0).abs() < 0.01, "aspect {aspect}");
        }
    }
}

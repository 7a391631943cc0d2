//! A planned route (SPEC "A planned route"): the line the device is driving,
//! where the device is on it, and the geometry of the corridor ahead.
//!
//! A route is location data: it lives in the device's memory only (never in
//! [`crate::device::PersistedDevice`]), is erased by `forget`, dropped 12 h
//! after it was set, and, like the last position, 2 h after the device's last
//! good position.
//!
//! *Place on the route*: the first route point within 200 m of a good
//! position, searching forward from the last place, on a segment within 90°
//! of the heading (any segment when the position has no heading). The route
//! is in use until three good positions in a row lie more than 200 m from it
//! (ahead of the last place), and in use again from the first good position
//! within 200 m.

use chrono::{DateTime, Duration, Utc};

use crate::geodesy::{angle_between_deg, LatLon, EARTH_RADIUS_M};
use crate::roads::graph::{arc_m, bearing_at};
use crate::roads::spatial::project;

/// A route is dropped this long after it was set.
pub const ROUTE_TTL: Duration = Duration::hours(12);
/// A position places the device on the route within this distance, metres.
pub const PLACE_RADIUS_M: f64 = 200.0;
/// Good positions in a row off the route before it is no longer in use.
pub const OFF_ROUTE_FIXES: u8 = 3;
/// Most points a route may have.
pub const MAX_POINTS: usize = 10_000;
/// Within this lateral distance, metres, a merchant is `ahead` on the route.
pub const SIDE_OFFSET_M: f64 = 25.0;

/// The route's geometry, with the distance along it of every point.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    points: Vec<LatLon>,
    vectors: Vec<[f64; 3]>,
    along: Vec<f64>,
}

/// Where something lies on the route: a segment (from point `segment` to the
/// next) and the metres from the route's start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OnRoute {
    /// The segment's first point.
    pub segment: usize,
    /// Metres along the route from its first point.
    pub along_m: f64,
}

/// A merchant's nearest point on the route, L.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Nearest {
    /// Where L is on the route.
    pub at: OnRoute,
    /// L itself.
    pub point: LatLon,
    /// Metres from L to the merchant.
    pub offset_m: f64,
    /// Signed metres of the merchant from the route at L: positive on the right.
    pub cross_m: f64,
    /// The route's direction at L, degrees from north.
    pub bearing: f64,
}

impl Route {
    /// A route through `points` (2 to [`MAX_POINTS`], valid coordinates: the
    /// input is checked before).
    pub fn new(points: Vec<LatLon>) -> Self {
        let vectors: Vec<[f64; 3]> = points.iter().map(|p| p.unit_vector()).collect();
        let mut along = Vec::with_capacity(points.len());
        let mut total = 0.0;
        along.push(0.0);
        for pair in vectors.windows(2) {
            total += arc_m(pair[0], pair[1]);
            along.push(total);
        }
        Self {
            points,
            vectors,
            along,
        }
    }

    /// Its points.
    pub fn points(&self) -> &[LatLon] {
        &self.points
    }

    /// Its length, metres.
    pub fn length_m(&self) -> f64 {
        self.along.last().copied().unwrap_or(0.0)
    }

    fn segments(&self) -> usize {
        self.points.len().saturating_sub(1)
    }

    /// Where the segment with first point `segment` runs, degrees from north.
    fn segment_bearing(&self, segment: usize) -> f64 {
        bearing_at(self.vectors[segment], self.vectors[segment + 1])
    }

    /// The device's place on the route for a good position: searching forward
    /// from segment `from`, the first stretch of segments that lie within
    /// 200 m and run within 90° of the heading, and on it the point nearest
    /// the position (so a point 150 m back on the way in does not place the
    /// device behind where it is).
    pub fn place(&self, location: LatLon, heading: Option<f64>, from: usize) -> Option<OnRoute> {
        let p = location.unit_vector();
        let mut best: Option<(f64, OnRoute)> = None;
        for segment in from..self.segments() {
            let runs_its_way =
                heading.is_none_or(|h| angle_between_deg(h, self.segment_bearing(segment)) <= 90.0);
            let (a, b) = (self.vectors[segment], self.vectors[segment + 1]);
            let projection = project(p, a, b);
            let near = runs_its_way && projection.distance_m <= PLACE_RADIUS_M;
            if !near {
                if best.is_some() {
                    break;
                }
                continue;
            }
            if best
                .as_ref()
                .is_none_or(|(d, _)| projection.distance_m < *d)
            {
                let place = OnRoute {
                    segment,
                    along_m: self.along[segment] + projection.t * arc_m(a, b),
                };
                best = Some((projection.distance_m, place));
            }
        }
        best.map(|(_, place)| place)
    }

    /// The merchant's nearest point L on the stretch from `from` to
    /// `until_m` along the route, looking `behind_m` back too, so that a
    /// merchant whose nearest point lies behind `from` is seen as such.
    pub fn nearest(
        &self,
        merchant: LatLon,
        from: OnRoute,
        behind_m: f64,
        until_m: f64,
    ) -> Option<Nearest> {
        let p = merchant.unit_vector();
        let first = self.segment_at(from.along_m - behind_m);
        let mut best: Option<Nearest> = None;
        for segment in first..self.segments() {
            if self.along[segment] > until_m {
                break;
            }
            let (a, b) = (self.vectors[segment], self.vectors[segment + 1]);
            let projection = project(p, a, b);
            if best
                .as_ref()
                .is_some_and(|n| n.offset_m <= projection.distance_m)
            {
                continue;
            }
            let along_m = (self.along[segment] + projection.t * arc_m(a, b)).min(until_m);
            best = Some(Nearest {
                at: OnRoute { segment, along_m },
                point: to_lat_lon(projection.foot),
                offset_m: projection.distance_m,
                cross_m: projection.cross_m,
                bearing: self.segment_bearing(segment),
            });
        }
        best
    }

    /// The segment whose span holds `along_m` (the first one before the start).
    pub fn segment_at(&self, along_m: f64) -> usize {
        let after = self.along.partition_point(|&a| a <= along_m);
        after
            .saturating_sub(1)
            .min(self.segments().saturating_sub(1))
    }

    /// Points of the route from `from` to `until_m` along it, every
    /// `spacing_m` or closer, with their metres along it, to look for
    /// merchants around (each within `spacing_m / 2` of the next along the route).
    pub fn samples(&self, from: OnRoute, until_m: f64, spacing_m: f64) -> Vec<(LatLon, f64)> {
        let mut out = Vec::new();
        let mut at = from.along_m;
        let mut segment = from.segment;
        while at <= until_m + spacing_m / 2.0 && segment < self.segments() {
            while segment + 1 < self.segments() && self.along[segment + 1] < at {
                segment += 1;
            }
            let (a, b) = (self.vectors[segment], self.vectors[segment + 1]);
            let length = self.along[segment + 1] - self.along[segment];
            let t = if length > 0.0 {
                ((at - self.along[segment]) / length).clamp(0.0, 1.0)
            } else {
                0.0
            };
            out.push((to_lat_lon(slerp(a, b, t)), at));
            if at >= until_m.min(self.length_m()) {
                break;
            }
            at = (at + spacing_m).min(until_m.min(self.length_m()));
        }
        out
    }
}

fn slerp(a: [f64; 3], b: [f64; 3], t: f64) -> [f64; 3] {
    let angle = arc_m(a, b) / EARTH_RADIUS_M;
    if angle < 1e-12 {
        return a;
    }
    let (wa, wb) = (
        ((1.0 - t) * angle).sin() / angle.sin(),
        (t * angle).sin() / angle.sin(),
    );
    [0, 1, 2].map(|i| wa * a[i] + wb * b[i])
}

fn to_lat_lon(v: [f64; 3]) -> LatLon {
    let lat = v[2].clamp(-1.0, 1.0).asin().to_degrees();
    let lon = v[1].atan2(v[0]).to_degrees();
    LatLon::new(lat, lon)
}

/// A device's route and where it is on it (memory only).
#[derive(Debug, Clone, PartialEq)]
pub struct RouteState {
    /// The route.
    pub route: std::sync::Arc<Route>,
    /// When it was set.
    pub set_at: DateTime<Utc>,
    /// The last place on it.
    pub place: Option<OnRoute>,
    /// Good positions in a row off the route.
    pub off_fixes: u8,
}

impl RouteState {
    /// A route just set.
    pub fn new(route: Route, set_at: DateTime<Utc>) -> Self {
        Self {
            route: std::sync::Arc::new(route),
            set_at,
            place: None,
            off_fixes: 0,
        }
    }

    /// Moves the place on for a good position.
    pub fn update(&mut self, location: LatLon, heading: Option<f64>) {
        let from = self.place.map_or(0, |p| p.segment);
        match self.route.place(location, heading, from) {
            Some(place) => {
                self.place = Some(place);
                self.off_fixes = 0;
            }
            None => self.off_fixes = self.off_fixes.saturating_add(1),
        }
    }

    /// Where the device is on the route, while the route is in use.
    pub fn in_use(&self) -> Option<OnRoute> {
        self.place.filter(|_| self.off_fixes < OFF_ROUTE_FIXES)
    }

    /// True once the route has expired at `now`.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        now - self.set_at >= ROUTE_TTL
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geodesy::{destination, distance_m};

    /// A straight route north from Annecy, `km` long, a point every 100 m.
    fn north(km: usize) -> Route {
        let start = LatLon::new(45.9, 6.13);
        Route::new(
            (0..=km * 10)
                .map(|i| destination(start, 0.0, i as f64 * 100.0))
                .collect(),
        )
    }

    #[test]
    fn a_position_is_placed_on_the_route_going_its_way() {
        let route = north(5);
        assert!((route.length_m() - 5_000.0).abs() < 1.0);
        let beside = destination(destination(route.points()[12], 0.0, 50.0), 90.0, 120.0);
        let place = route.place(beside, Some(5.0), 0).unwrap();
        assert!((place.along_m - 1_250.0).abs() < 1.0, "{place:?}");
        assert!(
            route.place(beside, Some(180.0), 0).is_none(),
            "against the route"
        );
        assert!(
            route.place(beside, None, 0).is_some(),
            "no heading: any direction"
        );
        let far = destination(beside, 90.0, 200.0);
        assert!(route.place(far, Some(0.0), 0).is_none());
    }

    #[test]
    fn three_good_positions_off_the_route_take_it_out_of_use() {
        let mut state = RouteState::new(north(5), Utc::now());
        let on = north(5).points()[3];
        state.update(on, Some(0.0));
        assert!(state.in_use().is_some());
        let away = destination(on, 90.0, 1_000.0);
        state.update(away, Some(0.0));
        state.update(away, Some(0.0));
        assert!(state.in_use().is_some(), "two off: still in use");
        state.update(away, Some(0.0));
        assert!(state.in_use().is_none(), "three off: not in use");
        state.update(north(5).points()[8], Some(0.0));
        assert!(state.in_use().is_some(), "back within 200 m: in use again");
    }

    #[test]
    fn a_merchant_gets_its_nearest_point_and_side() {
        let route = north(5);
        let from = route.place(route.points()[0], Some(0.0), 0).unwrap();
        let merchant = destination(route.points()[20], 90.0, 300.0);
        let nearest = route.nearest(merchant, from, 0.0, 50_000.0).unwrap();
        assert!((nearest.at.along_m - 2_000.0).abs() < 1.0, "{nearest:?}");
        assert!((nearest.offset_m - 300.0).abs() < 1.0);
        assert!(
            nearest.cross_m > 290.0,
            "east of a route north is its right"
        );
        assert!(distance_m(nearest.point, route.points()[20]) < 1.0);
    }

    #[test]
    fn samples_cover_the_stretch_ahead() {
        let route = north(5);
        let from = route.place(route.points()[5], Some(0.0), 0).unwrap();
        let samples = route.samples(from, 3_000.0, 1_000.0);
        assert_eq!(samples.len(), 4, "{samples:?}");
        assert!(distance_m(samples.last().unwrap().0, route.points()[30]) < 1.0);
    }
}

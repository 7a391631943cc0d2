//! The spatial index against a plain reference: a brute-force scan of every
//! merchant with `geodesy::distance_m`.
//!
//! For random merchants and queries (clustered near the poles, around 70° N,
//! across the antimeridian, or anywhere), the merchants the index returns within
//! a radius are exactly those the scan finds, nearest first, with the scan's
//! distances. The food and diet partitions of the index are held to the same
//! reference: they may only prune what the rules would refuse anyway.
//!
//! Tolerance: at the boundary the index (chord lengths) and the scan (haversine)
//! may disagree by rounding, so a merchant within `1e-6 × R + 1 µm` of the
//! circle may be in or out; everything else must match exactly.

use std::f64::consts::PI;
use std::path::Path;
use std::sync::Arc;

use kairos::geodesy::{distance_m, LatLon, TravelFrame, EARTH_RADIUS_M};
use kairos::index::{FoodFilter, MerchantIndex, Nearby};
use kairos::offers::model::{FOOD_AMENITIES, FOOD_SHOPS};
use kairos::offers::{Loader, Merchant, Offer, Tags};
use kairos::rules;
use kairos::Catalog;
use proptest::prelude::*;
use proptest::sample::Index;

// ---------------------------------------------------------------- geometry

/// Where one reaches going `dist_m` from `from` on `bearing_deg` (spherical
/// "direct" problem), with the longitude brought back into [-180, 180].
fn destination(from: LatLon, bearing_deg: f64, dist_m: f64) -> LatLon {
    let (phi1, lambda1) = (from.lat.to_radians(), from.lon.to_radians());
    let theta = bearing_deg.to_radians();
    let delta = dist_m / EARTH_RADIUS_M;
    let sin_phi2 =
        (phi1.sin() * delta.cos() + phi1.cos() * delta.sin() * theta.cos()).clamp(-1.0, 1.0);
    let phi2 = sin_phi2.asin();
    let lambda2 = lambda1
        + (theta.sin() * delta.sin() * phi1.cos()).atan2(delta.cos() - phi1.sin() * sin_phi2);
    let mut lon = lambda2.to_degrees();
    lon = (lon + 180.0).rem_euclid(360.0) - 180.0;
    LatLon::new(
        phi2.to_degrees().clamp(-90.0, 90.0),
        lon.clamp(-180.0, 180.0),
    )
}

/// Half the circumference: no two points on Earth are farther apart.
const HALF_CIRCUMFERENCE_M: f64 = PI * EARTH_RADIUS_M;

/// How far from the circle rounding may put a merchant on the wrong side.
fn boundary_slack(radius_m: f64) -> f64 {
    1e-6 * radius_m + 1e-6
}

/// How far the index's distance may stray from the scan's.
fn distance_tolerance(d: f64) -> f64 {
    1e-6 * d.max(1.0)
}

// ---------------------------------------------------------------- merchants

/// The OSM tags that decide the index partition a merchant lands in.
#[derive(Debug, Clone)]
struct Traits {
    /// `amenity` or `shop`, food or not, or nothing.
    kind: Option<(&'static str, &'static str)>,
    gluten_free: Option<&'static str>,
    vegan: Option<&'static str>,
    vegetarian: Option<&'static str>,
}

impl Traits {
    fn tags(&self) -> Vec<(&'static str, &'static str)> {
        let mut tags = Vec::new();
        tags.extend(self.kind);
        let diets = [
            ("diet:gluten_free", self.gluten_free),
            ("diet:vegan", self.vegan),
            ("diet:vegetarian", self.vegetarian),
        ];
        for (key, value) in diets {
            if let Some(value) = value {
                tags.push((key, value));
            }
        }
        tags
    }
}

fn traits() -> impl Strategy<Value = Traits> {
    let kind = prop::sample::select(vec![
        None,
        Some(("amenity", "restaurant")),
        Some(("amenity", "fast_food")),
        Some(("amenity", "cafe")),
        Some(("amenity", "ice_cream")),
        Some(("shop", "bakery")),
        Some(("shop", "deli")),
        Some(("amenity", "museum")),
        Some(("amenity", "fuel")),
        Some(("tourism", "viewpoint")),
        Some(("shop", "books")),
    ]);
    let diet = || {
        prop::sample::select(vec![
            None,
            Some("yes"),
            Some("only"),
            Some("limited"),
            Some("no"),
            Some("Yes"),
        ])
    };
    (kind, diet(), diet(), diet()).prop_map(|(kind, gluten_free, vegan, vegetarian)| Traits {
        kind,
        gluten_free,
        vegan,
        vegetarian,
    })
}

/// A merchant as the loader would build it from these tags (food per SPEC).
fn merchant(i: usize, location: LatLon, traits: &Traits) -> Merchant {
    let pairs: Vec<(Arc<str>, Arc<str>)> = traits
        .tags()
        .into_iter()
        .map(|(k, v)| (Arc::from(k), Arc::from(v)))
        .collect();
    let tags = Tags::new(pairs);
    let is_food = tags
        .get("amenity")
        .is_some_and(|a| FOOD_AMENITIES.contains(&a))
        || tags.get("shop").is_some_and(|s| FOOD_SHOPS.contains(&s));
    let name: std::sync::Arc<str> = format!("m{i}").into();
    Merchant {
        id: name.as_ref().into(),
        name: name.clone(),
        location,
        tags,
        is_food,
        timezone: chrono_tz::UTC,
        hours: None,
        offers: vec![Offer::place("place".into(), name, is_food)],
    }
}

// ---------------------------------------------------------------- strategies

fn any_lon() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => -180.0..=180.0f64,
        1 => Just(180.0),
        1 => Just(-180.0),
    ]
}

/// The middle of a scene: near a pole, around 70° N, on the antimeridian, or anywhere.
fn scene_center() -> impl Strategy<Value = LatLon> {
    let near_pole = (
        prop_oneof![0.0..0.05f64, 0.0..0.5f64, 0.0..=5.0f64, Just(0.0)],
        any::<bool>(),
        any_lon(),
    )
        .prop_map(|(from_pole, south, lon)| {
            let lat = 90.0 - from_pole;
            LatLon::new(if south { -lat } else { lat }, lon)
        });
    let seventy_north = (69.5..=70.5f64, any_lon()).prop_map(|(lat, lon)| LatLon::new(lat, lon));
    let antimeridian = (-80.0..=80.0f64, 179.5..=180.0f64, any::<bool>())
        .prop_map(|(lat, lon, west)| LatLon::new(lat, if west { -lon } else { lon }));
    let uniform = (-90.0..=90.0f64, any_lon()).prop_map(|(lat, lon)| LatLon::new(lat, lon));
    prop_oneof![near_pole, seventy_north, antimeridian, uniform]
}

/// How far from the middle of a scene points may lie, in metres.
fn scene_spread() -> impl Strategy<Value = f64> {
    prop_oneof![
        1 => Just(50.0),
        3 => Just(20_000.0),
        1 => Just(200_000.0),
        1 => Just(HALF_CIRCUMFERENCE_M),
    ]
}

/// A query radius: mostly the 1 m to 15 km the engine uses, log-uniform, plus large ones.
fn radius() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => (0.0..=15_000f64.ln()).prop_map(f64::exp),
        1 => Just(1.0),
        1 => Just(15_000.0),
        1 => 15_000.0..=HALF_CIRCUMFERENCE_M,
        1 => Just(HALF_CIRCUMFERENCE_M * 1.5),
    ]
}

/// Merchants and a query in one region of the globe.
#[derive(Debug, Clone)]
struct Scene {
    merchants: Vec<(LatLon, Traits)>,
    query: LatLon,
    radius_m: f64,
}

fn scene(max_merchants: usize) -> impl Strategy<Value = Scene> {
    (scene_center(), scene_spread())
        .prop_flat_map(move |(center, spread)| {
            let point = (0.0..360.0f64, 0.0..=spread)
                .prop_map(move |(bearing, dist)| destination(center, bearing, dist));
            // Some merchants share a spot: ties must not be lost or doubled.
            let merchants =
                prop::collection::vec((point.clone(), traits(), 1..=2usize), 0..max_merchants);
            (
                merchants,
                point,
                radius(),
                any::<Index>(),
                any::<bool>(),
                Just(center),
            )
        })
        .prop_map(
            |(merchants, query, radius_m, pick, at_a_merchant, center)| {
                let merchants: Vec<_> = merchants
                    .into_iter()
                    .flat_map(|(location, traits, copies)| vec![(location, traits); copies])
                    .collect();
                let query = match (at_a_merchant, merchants.is_empty()) {
                    (true, false) => merchants[pick.index(merchants.len())].0,
                    _ if pick.index(8) == 0 => center,
                    _ => query,
                };
                Scene {
                    merchants,
                    query,
                    radius_m,
                }
            },
        )
}

fn build(scene: &Scene) -> Vec<Merchant> {
    scene
        .merchants
        .iter()
        .enumerate()
        .map(|(i, (location, traits))| merchant(i, *location, traits))
        .collect()
}

// ---------------------------------------------------------------- the reference

/// Checks one query's answer against the brute-force scan: `wanted` says which
/// merchants the filter lets through; `exact` says whether the answer must be
/// exactly those within the radius (else: at least those, and nothing outside it
/// or refused by `allowed`).
fn check_answer(
    merchants: &[Merchant],
    query: LatLon,
    radius_m: f64,
    answer: &[(usize, f64)],
    wanted: impl Fn(&Merchant) -> bool,
    allowed: impl Fn(&Merchant) -> bool,
) -> Result<(), TestCaseError> {
    let slack = boundary_slack(radius_m);
    let mut seen = vec![false; merchants.len()];
    for (rank, &(i, d)) in answer.iter().enumerate() {
        prop_assert!(i < merchants.len(), "position {i} out of range");
        prop_assert!(!seen[i], "merchant {i} returned twice");
        seen[i] = true;
        let m = &merchants[i];
        let truth = distance_m(query, m.location);
        prop_assert!(
            allowed(m),
            "merchant {i} {:?} is not allowed by the filter",
            m.tags
        );
        prop_assert!(
            truth <= radius_m + slack,
            "merchant {i} at {truth} m is outside the {radius_m} m radius (index said {d} m)"
        );
        prop_assert!(
            (d - truth).abs() <= distance_tolerance(truth),
            "merchant {i}: index distance {d} m, scan {truth} m"
        );
        if rank > 0 {
            let (j, prev) = answer[rank - 1];
            prop_assert!(
                prev <= d,
                "not nearest first: {j} at {prev} m before {i} at {d} m"
            );
            let prev_truth = distance_m(query, merchants[j].location);
            prop_assert!(
                prev_truth <= truth + distance_tolerance(truth),
                "not nearest first by the scan: {j} at {prev_truth} m before {i} at {truth} m"
            );
        }
    }
    for (i, m) in merchants.iter().enumerate() {
        let truth = distance_m(query, m.location);
        if wanted(m) && truth <= radius_m - slack {
            prop_assert!(
                seen[i],
                "merchant {i} at {truth} m ({:?}) is within {radius_m} m but was not returned",
                m.location
            );
        }
    }
    Ok(())
}

fn within(index: &MerchantIndex, scene: &Scene, filter: FoodFilter<'_>) -> Vec<(usize, f64)> {
    index.within(scene.query, scene.radius_m, filter).collect()
}

fn diets(names: &[&str]) -> Vec<String> {
    names.iter().map(|d| d.to_string()).collect()
}

// ---------------------------------------------------------------- properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    #[test]
    fn any_food_returns_exactly_the_merchants_within_the_radius_nearest_first(scene in scene(48)) {
        let merchants = build(&scene);
        let index = MerchantIndex::new(&merchants);
        let answer = within(&index, &scene, FoodFilter::AnyFood);
        check_answer(&merchants, scene.query, scene.radius_m, &answer, |_| true, |_| true)?;
    }

    #[test]
    fn not_hungry_returns_exactly_the_non_food_places_within_the_radius(scene in scene(48)) {
        let merchants = build(&scene);
        let index = MerchantIndex::new(&merchants);
        let answer = within(&index, &scene, FoodFilter::NoFood);
        let non_food = |m: &Merchant| !m.is_food;
        check_answer(&merchants, scene.query, scene.radius_m, &answer, non_food, non_food)?;
    }

    #[test]
    fn gluten_free_returns_non_food_places_and_exactly_the_gluten_free_food_places(scene in scene(48)) {
        let merchants = build(&scene);
        let index = MerchantIndex::new(&merchants);
        let diet = diets(&["gluten_free"]);
        let answer = within(&index, &scene, FoodFilter::ServingDiets(&diet));
        let fits = |m: &Merchant| {
            !m.is_food || matches!(m.tags.get("diet:gluten_free"), Some("yes" | "only"))
        };
        check_answer(&merchants, scene.query, scene.radius_m, &answer, fits, fits)?;
        // The tag reading above is SPEC's; the model's own reading must agree.
        for m in &merchants {
            prop_assert_eq!(fits(m), !m.is_food || m.serves_diet("gluten_free"));
        }
    }

    #[test]
    fn vegetarian_returns_vegetarian_and_vegan_food_places(scene in scene(48)) {
        let merchants = build(&scene);
        let index = MerchantIndex::new(&merchants);
        let diet = diets(&["vegetarian"]);
        let answer = within(&index, &scene, FoodFilter::ServingDiets(&diet));
        let fits = |m: &Merchant| !m.is_food || m.serves_diet("vegetarian");
        check_answer(&merchants, scene.query, scene.radius_m, &answer, fits, fits)?;
    }

    #[test]
    fn several_diets_never_drop_a_place_serving_them_all(scene in scene(48)) {
        let merchants = build(&scene);
        let index = MerchantIndex::new(&merchants);
        let diet = diets(&["gluten_free", "vegan"]);
        let answer = within(&index, &scene, FoodFilter::ServingDiets(&diet));
        // The index walks one diet's tree and only prunes: every place serving all
        // diets must come back; a place serving none of them never does.
        let serves_all = |m: &Merchant| !m.is_food || diet.iter().all(|d| m.serves_diet(d));
        let serves_one = |m: &Merchant| !m.is_food || diet.iter().any(|d| m.serves_diet(d));
        check_answer(&merchants, scene.query, scene.radius_m, &answer, serves_all, serves_one)?;
    }

    #[test]
    fn only_food_serving_returns_exactly_the_food_places_serving_the_diet(scene in scene(48)) {
        let merchants = build(&scene);
        let index = MerchantIndex::new(&merchants);
        let diet = diets(&["gluten_free"]);
        let answer = within(&index, &scene, FoodFilter::OnlyFoodServing(&diet));
        let fits = |m: &Merchant| m.is_food && m.serves_diet("gluten_free");
        check_answer(&merchants, scene.query, scene.radius_m, &answer, fits, fits)?;
        let none: Vec<String> = Vec::new();
        let answer = within(&index, &scene, FoodFilter::OnlyFoodServing(&none));
        let food = |m: &Merchant| m.is_food;
        check_answer(&merchants, scene.query, scene.radius_m, &answer, food, food)?;
    }

    #[test]
    fn an_empty_diet_list_is_any_food(scene in scene(48)) {
        let merchants = build(&scene);
        let index = MerchantIndex::new(&merchants);
        let any = within(&index, &scene, FoodFilter::AnyFood);
        let none: Vec<String> = Vec::new();
        let empty = within(&index, &scene, FoodFilter::ServingDiets(&none));
        prop_assert_eq!(any, empty);
    }

    #[test]
    fn a_diet_no_merchant_serves_returns_only_non_food_places(scene in scene(48)) {
        let merchants = build(&scene);
        let index = MerchantIndex::new(&merchants);
        let diet = diets(&["kosher"]);
        let kosher = within(&index, &scene, FoodFilter::ServingDiets(&diet));
        let no_food = within(&index, &scene, FoodFilter::NoFood);
        prop_assert_eq!(kosher, no_food);
    }
}

/// A FeatureCollection of Point features with these tags, ids `m0`, `m1`, ...
/// The walk's answer, in a canonical order (equal distances may come out in
/// either order).
fn canonical(mut found: Vec<Nearby>) -> Vec<(usize, f64)> {
    found.sort_by(|a, b| {
        a.distance_m
            .total_cmp(&b.distance_m)
            .then(a.position.cmp(&b.position))
    });
    found
        .into_iter()
        .map(|n| (n.position, n.distance_m))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The heading wedge prunes subtrees; it must never lose a merchant that the
    /// exact rule (`rules::is_ahead_of`, at-the-door included) keeps, nor change
    /// its distance or the nearest-first order.
    #[test]
    fn the_heading_wedge_never_drops_a_merchant_ahead(
        scene in scene(400),
        heading in 0.0..360.0f64,
        hungry in any::<bool>(),
    ) {
        let merchants = build(&scene);
        let index = MerchantIndex::new(&merchants);
        let frame = TravelFrame::new(scene.query, heading);
        let food = if hungry { FoodFilter::AnyFood } else { FoodFilter::NoFood };
        let is_ahead = |n: &Nearby| rules::is_ahead_of(&frame, n.vector, n.distance_m);
        let everywhere: Vec<Nearby> = index
            .nearby(scene.query, scene.radius_m, food, None)
            .filter(is_ahead)
            .collect();
        let pruned: Vec<Nearby> = index
            .nearby(scene.query, scene.radius_m, food, Some(rules::ahead_wedge(&frame)))
            .collect();
        for pair in pruned.windows(2) {
            prop_assert!(pair[0].distance_m <= pair[1].distance_m, "not nearest first");
        }
        let kept: Vec<Nearby> = pruned.into_iter().filter(is_ahead).collect();
        prop_assert_eq!(canonical(kept), canonical(everywhere));
    }
}

/// Pruning is real: a device heading north with a thousand merchants behind it
/// opens almost none of them, yet still finds the one at its door.
#[test]
fn a_device_heading_away_skips_the_merchants_behind_it() {
    let car = LatLon::new(48.137, 11.575);
    let mut merchants: Vec<Merchant> = (0..1000)
        .map(|i| {
            let bearing = 120.0 + (i % 120) as f64;
            plain(destination(car, bearing, 50.0 + 10.0 * i as f64), i)
        })
        .collect();
    merchants.push(plain(destination(car, 180.0, 0.3), 1000));
    merchants.push(plain(destination(car, 10.0, 2_000.0), 1001));
    let index = MerchantIndex::new(&merchants);
    let frame = TravelFrame::new(car, 0.0);
    let everywhere = index
        .nearby(car, 15_000.0, FoodFilter::NoFood, None)
        .count();
    assert_eq!(everywhere, 1002);
    let walked: Vec<usize> = index
        .nearby(
            car,
            15_000.0,
            FoodFilter::NoFood,
            Some(rules::ahead_wedge(&frame)),
        )
        .map(|n| n.position)
        .collect();
    assert!(walked.contains(&1000), "the merchant at the door is ahead");
    assert!(walked.contains(&1001), "the merchant ahead");
    assert!(
        walked.len() < 100,
        "{} of 1002 merchants walked with 1000 behind",
        walked.len()
    );
}

fn feature_collection(scene: &Scene) -> String {
    let features: Vec<serde_json::Value> = scene
        .merchants
        .iter()
        .enumerate()
        .map(|(i, (location, traits))| {
            let mut properties = serde_json::Map::new();
            properties.insert("id".into(), format!("m{i}").into());
            for (k, v) in traits.tags() {
                properties.insert(k.into(), v.into());
            }
            serde_json::json!({
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [location.lon, location.lat]},
                "properties": properties,
            })
        })
        .collect();
    serde_json::json!({"type": "FeatureCollection", "features": features}).to_string()
}

proptest! {
    // Loading looks up a time zone per merchant: fewer, smaller cases.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn merchants_loaded_from_geojson_are_found_by_the_catalog(scene in scene(24)) {
        let mut loader = Loader::new();
        loader
            .load_text(Path::new("generated.geojson"), &feature_collection(&scene))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let (loaded, problems) = loader.finish();
        prop_assert!(
            problems.iter().all(|p| p.severity == kairos::offers::Severity::Warning),
            "{:?}",
            problems
        );
        prop_assert_eq!(loaded.len(), scene.merchants.len());
        let catalog = Catalog::new(loaded);
        let position = |m: &Merchant| m.id[1..].parse::<usize>().expect("ids are m<i>");
        for (i, m) in catalog.merchants().iter().enumerate() {
            prop_assert_eq!(position(m), i);
        }
        let diet = diets(&["gluten_free"]);
        let filters = [
            FoodFilter::AnyFood,
            FoodFilter::NoFood,
            FoodFilter::ServingDiets(&diet),
            FoodFilter::OnlyFoodServing(&diet),
        ];
        for filter in filters {
            let answer: Vec<(usize, f64)> = catalog
                .within(scene.query, scene.radius_m, filter)
                .map(|(m, d)| (position(m), d))
                .collect();
            let fits = |m: &Merchant| match filter {
                FoodFilter::AnyFood => true,
                FoodFilter::NoFood => !m.is_food,
                FoodFilter::ServingDiets(_) => !m.is_food || m.serves_diet("gluten_free"),
                FoodFilter::OnlyFoodServing(_) => m.is_food && m.serves_diet("gluten_free"),
            };
            check_answer(catalog.merchants(), scene.query, scene.radius_m, &answer, fits, fits)?;
        }
    }
}

// ---------------------------------------------------------------- fixed cases

fn plain(location: LatLon, i: usize) -> Merchant {
    let traits = Traits {
        kind: Some(("amenity", "museum")),
        gluten_free: None,
        vegan: None,
        vegetarian: None,
    };
    merchant(i, location, &traits)
}

fn ids_within(merchants: &[Merchant], query: LatLon, radius_m: f64) -> Vec<usize> {
    MerchantIndex::new(merchants)
        .within(query, radius_m, FoodFilter::NoFood)
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn a_place_across_the_antimeridian_is_metres_away_not_a_world_away() {
    let merchants = [
        plain(LatLon::new(0.0, -179.9999), 0),
        plain(LatLon::new(0.0, 179.9), 1),
        plain(LatLon::new(0.0, 0.0), 2),
    ];
    let query = LatLon::new(0.0, 179.9999);
    // 0.0002° of longitude on the equator is about 22 m.
    assert_eq!(ids_within(&merchants, query, 30.0), vec![0]);
    assert_eq!(ids_within(&merchants, query, 15_000.0), vec![0, 1]);
}

#[test]
fn every_longitude_meets_at_the_pole() {
    let merchants: Vec<Merchant> = (0..8)
        .map(|i| plain(LatLon::new(89.9999, -180.0 + 45.0 * i as f64), i))
        .collect();
    // 0.0001° of latitude is about 11 m: all eight lie 11 m from the pole.
    let from_pole = ids_within(&merchants, LatLon::new(90.0, 123.0), 12.0);
    assert_eq!(from_pole.len(), 8);
    assert!(ids_within(&merchants, LatLon::new(-90.0, 0.0), 15_000.0).is_empty());
}

#[test]
fn at_seventy_north_a_degree_of_longitude_is_about_38_km() {
    let merchants = [
        plain(LatLon::new(70.0, 20.0), 0),
        plain(LatLon::new(70.0, 21.0), 1),
        plain(LatLon::new(70.3, 20.0), 2),
    ];
    let query = LatLon::new(70.0, 20.0);
    // Planar lon/lat would rank the 1° east merchant (38 km) before the 0.3° north one (33 km).
    let order: Vec<usize> = MerchantIndex::new(&merchants)
        .within(query, 40_000.0, FoodFilter::NoFood)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(order, vec![0, 2, 1]);
}

#[test]
fn half_the_circumference_reaches_the_whole_world() {
    let merchants: Vec<Merchant> = [
        (0.0, 0.0),
        (0.0, 180.0),
        (90.0, 0.0),
        (-90.0, 0.0),
        (-45.0, -135.0),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (lat, lon))| plain(LatLon::new(lat, lon), i))
    .collect();
    let found = ids_within(&merchants, LatLon::new(0.0, 0.0), HALF_CIRCUMFERENCE_M);
    assert_eq!(found.len(), merchants.len());
    assert_eq!(found[0], 0);
    assert_eq!(*found.last().expect("not empty"), 1);
}

/// The point on the other side of the Earth.
fn antipode(p: LatLon) -> LatLon {
    let lon = if p.lon <= 0.0 {
        p.lon + 180.0
    } else {
        p.lon - 180.0
    };
    LatLon::new(-p.lat, lon)
}

#[test]
fn antipodal_points_are_half_the_circumference_apart() {
    // Haversine's `a` rounds to 1.0000000000000004 here: its square root is above 1
    // and asin of it is NaN. (Found by a brute-force search for such pairs.)
    let a = LatLon::new(-64.310923981581, -46.27381419168185);
    let b = LatLon::new(64.3109239815811, 133.72618580831815);
    let d = distance_m(a, b);
    assert!((d - HALF_CIRCUMFERENCE_M).abs() < 1.0, "{d}");
    let p = LatLon::new(69.51232454868148, 86.5812282599507);
    let d = distance_m(p, antipode(p));
    assert!((d - HALF_CIRCUMFERENCE_M).abs() < 1.0, "{d}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_reference_distance_is_finite_and_symmetric_everywhere(
        a in (-90.0..=90.0f64, any_lon()),
        b in (-90.0..=90.0f64, any_lon()),
        to_antipode in any::<bool>(),
    ) {
        let a = LatLon::new(a.0, a.1);
        let b = if to_antipode { antipode(a) } else { LatLon::new(b.0, b.1) };
        let d = distance_m(a, b);
        prop_assert!(d.is_finite() && (0.0..=HALF_CIRCUMFERENCE_M + 1.0).contains(&d), "{a:?} {b:?}: {d}");
        prop_assert!((d - distance_m(b, a)).abs() <= distance_tolerance(d));
    }
}

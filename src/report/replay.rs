//! A replay's report: [`from_replay`] turns what a [`Recorder`] heard during
//! `replay`, with the catalog, into a [`Report`]: the drive (thinned), the
//! merchants near it, the suggestions, the roads near it, the timeline.
//!
//! Big traces are capped (see the constants): the page stays a few megabytes
//! and says in its summary what it left out.

use std::collections::{HashMap, HashSet};

use crate::catalog::Catalog;
use crate::geodesy::{distance_m, LatLon};
use crate::index::FoodFilter;
use crate::offers::Merchant;
use crate::roads::graph::RoadNetwork;

use super::model::{Drive, DrivePoint, MapMerchant, MerchantStatus, Report};

use super::recorder::{Explainer, Recorder};

/// Merchants within this distance of a position of the drive are on the map.
pub const REACH_M: f64 = 2_000.0;
/// At most this many merchants, the nearest to the drive (suggested ones always).
pub const MAX_MERCHANTS: usize = 3_000;
/// At most this many timeline lines of any kind; past it only suggestions and errors.
pub const MAX_TIMELINE: usize = 10_000;
/// At most this many more timeline lines for suggestions and errors past [`MAX_TIMELINE`].
pub const MAX_NOTABLE: usize = 10_000;
/// At most this many suggestion markers.
pub const MAX_SUGGESTIONS: usize = 5_000;
/// At most this many road segments, those near the drive.
pub const MAX_ROAD_SEGMENTS: usize = 20_000;
/// At most this many drive positions over all devices (longer drives are thinned evenly).
pub const MAX_DRIVE_POINTS: usize = 50_000;

/// Positions closer than this to the last one searched add no merchant search.
const SEARCH_SPACING_M: f64 = 100.0;

/// The report of a replay over `catalog` that `recorder` listened to.
pub fn from_replay<E: Explainer>(title: &str, catalog: &Catalog, recorder: Recorder<E>) -> Report {
    let Recorder {
        explainer,
        lines,
        drives,
        suggestions,
        events,
        counts,
        ..
    } = recorder;
    let total_points: usize = drives.values().map(Vec::len).sum();
    let devices: Vec<Drive> = drives
        .into_iter()
        .map(|(device, points)| Drive {
            device,
            points: thinned(points, total_points),
        })
        .collect();

    let suggested: HashSet<&str> = suggestions.iter().map(|s| s.merchant_id.as_str()).collect();
    let (near, within_reach) = merchants_near(catalog, &devices, &suggested);
    let merchants: Vec<MapMerchant> = near
        .into_iter()
        .map(|m| {
            let status = if suggested.contains(&*m.id) {
                MerchantStatus::Suggested
            } else {
                explainer.status(m)
            };
            MapMerchant {
                id: m.id.to_string(),
                name: m.name.to_string(),
                location: m.location,
                kind: kind_of(|key| m.tags.get(key)).to_string(),
                status,
            }
        })
        .collect();

    let mut summary = vec![format!(
        "{lines} trace lines · {} inputs · {} devices · {} suggestions · {} errors",
        counts.inputs,
        devices.len(),
        counts.suggestions,
        counts.errors
    )];
    summary.push(if within_reach > merchants.len() {
        format!(
            "the {} merchants nearest the drive, of {within_reach} within {} km",
            merchants.len(),
            REACH_M / 1000.0
        )
    } else {
        format!(
            "{} merchants within {} km of the drive",
            merchants.len(),
            REACH_M / 1000.0
        )
    });
    if total_points > MAX_DRIVE_POINTS {
        summary.push(format!(
            "drives thinned from {total_points} positions to about {MAX_DRIVE_POINTS}"
        ));
    }
    if counts.events_left_out > 0 {
        summary.push(format!(
            "{} timeline lines left out (only suggestions and errors past {MAX_TIMELINE})",
            counts.events_left_out
        ));
    }
    if counts.suggestions_left_out > 0 {
        summary.push(format!(
            "{} suggestions not drawn (past {MAX_SUGGESTIONS})",
            counts.suggestions_left_out
        ));
    }
    Report {
        title: title.to_string(),
        summary,
        devices,
        merchants,
        suggestions,
        events,
        roads: Vec::new(),
        problems: Vec::new(),
    }
}

/// The road segments with an end within about [`REACH_M`] of the drives' box (at
/// most [`MAX_ROAD_SEGMENTS`]), each a two-point polyline, for [`Report::roads`].
pub fn roads_near(network: &RoadNetwork, devices: &[Drive]) -> Vec<Vec<LatLon>> {
    let points = devices
        .iter()
        .flat_map(|d| d.points.iter().map(|p| p.location));
    let Some((south, north, west, east)) =
        points.fold(None, |b: Option<(f64, f64, f64, f64)>, p| {
            Some(b.map_or((p.lat, p.lat, p.lon, p.lon), |(s, n, w, e)| {
                (s.min(p.lat), n.max(p.lat), w.min(p.lon), e.max(p.lon))
            }))
        })
    else {
        return Vec::new();
    };
    let margin_lat = REACH_M / 111_000.0;
    let margin_lon = margin_lat / ((south + north) / 2.0).to_radians().cos().max(0.01);
    let inside = |p: LatLon| {
        (south - margin_lat..=north + margin_lat).contains(&p.lat)
            && (west - margin_lon..=east + margin_lon).contains(&p.lon)
    };
    (0..network.segment_count() as u32)
        .map(|segment| {
            network
                .segment_nodes(segment)
                .map(|n| network.node_location(n))
        })
        .filter(|ends| ends.iter().any(|&p| inside(p)))
        .take(MAX_ROAD_SEGMENTS)
        .map(|ends| ends.to_vec())
        .collect()
}

/// Every `stride`-th point, first and last kept, when all drives together hold
/// more than [`MAX_DRIVE_POINTS`].
fn thinned(points: Vec<DrivePoint>, total: usize) -> Vec<DrivePoint> {
    if total <= MAX_DRIVE_POINTS {
        return points;
    }
    let stride = total.div_ceil(MAX_DRIVE_POINTS);
    let last = points.len().saturating_sub(1);
    points
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % stride == 0 || *i == last)
        .map(|(_, p)| p)
        .collect()
}

/// The merchants within [`REACH_M`] of the drives, nearest to them first, at
/// most [`MAX_MERCHANTS`] plus those suggested; and how many were within reach.
fn merchants_near<'a>(
    catalog: &'a Catalog,
    devices: &[Drive],
    suggested: &HashSet<&str>,
) -> (Vec<&'a Merchant>, usize) {
    // Merchant id (unique in a catalog) → its nearest distance to the drive.
    let mut nearest: HashMap<&'a str, (f64, &'a Merchant)> = HashMap::new();
    for drive in devices {
        let mut last: Option<LatLon> = None;
        for point in &drive.points {
            if last.is_some_and(|l| distance_m(l, point.location) < SEARCH_SPACING_M) {
                continue;
            }
            last = Some(point.location);
            for (merchant, d) in catalog.within(point.location, REACH_M, FoodFilter::AnyFood) {
                let entry = nearest.entry(&merchant.id).or_insert((d, merchant));
                entry.0 = entry.0.min(d);
            }
        }
    }
    let within_reach = nearest.len();
    let mut found: Vec<(f64, &Merchant)> = nearest.into_values().collect();
    // Nearest first, ties by id: the same page every time.
    found.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
    let mut kept: Vec<&Merchant> = Vec::with_capacity(found.len().min(MAX_MERCHANTS));
    let mut seen: HashSet<&str> = HashSet::new();
    for &(_, m) in &found {
        if kept.len() < MAX_MERCHANTS || suggested.contains(&*m.id) {
            seen.insert(&m.id);
            kept.push(m);
        }
    }
    // Suggested merchants beyond reach (a long `radius_m`) are on the map too.
    for m in catalog.merchants() {
        if suggested.contains(&*m.id) && !seen.contains(&*m.id) {
            seen.insert(&m.id);
            kept.push(m);
        }
    }
    (kept, within_reach)
}

/// What a place is: the value of its first telling tag.
pub fn kind_of<'a>(tag: impl Fn(&str) -> Option<&'a str>) -> &'a str {
    const KEYS: [&str; 8] = [
        "amenity",
        "shop",
        "tourism",
        "leisure",
        "craft",
        "office",
        "historic",
        "healthcare",
    ];
    KEYS.iter().find_map(|key| tag(key)).unwrap_or("place")
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::config::Config;
    use crate::engine::Engine;
    use crate::input::Input;
    use crate::offers::Loader;
    use crate::output::Suggestion;
    use crate::replay::replay_observed;
    use crate::report::model::{Candidate, Verdict};
    use crate::report::model::{EventKind, Explanation};
    use crate::report::recorder::{
        shorten, Explainer, NoExplanation, Recorder, MAX_TEXT_CHARS, NOT_CHOSEN,
    };
    use crate::trace::TraceEvent;

    const OFFERS: &str = include_str!("../../data/demo/offers.geojson");
    const DRIVE: &str = include_str!("../../data/demo/drive.jsonl");

    fn demo_catalog() -> Catalog {
        let mut loader = Loader::new();
        loader
            .load_text(Path::new("offers.geojson"), OFFERS)
            .expect("the demo offers load");
        Catalog::new(loader.finish().0)
    }

    /// Replays `trace` over the demo offers; the report and the replay's output.
    fn report_of<E: Explainer>(trace: &str, explainer: E) -> (Report, Vec<u8>) {
        let catalog = Arc::new(demo_catalog());
        let mut engine = Engine::new(Config::default().engine, catalog.clone());
        let mut recorder = Recorder::new(explainer);
        let mut out = Vec::new();
        replay_observed(
            &mut engine,
            trace.as_bytes(),
            &mut out,
            &mut Vec::new(),
            &mut recorder,
        )
        .expect("in memory");
        (from_replay("demo", &catalog, recorder), out)
    }

    #[test]
    fn the_demo_drive_has_its_line_its_suggestion_and_a_timeline_line_per_event() {
        let (report, out) = report_of(DRIVE, NoExplanation);
        let positions = DRIVE.lines().filter(|l| l.contains("/position")).count();
        assert_eq!(report.devices.len(), 1);
        assert_eq!(report.devices[0].device, "car-42");
        assert_eq!(report.devices[0].points.len(), positions);
        let outputs = String::from_utf8(out).unwrap().lines().count();
        assert_eq!(report.events.len(), DRIVE.lines().count() + outputs);
        assert_eq!(report.suggestions.len(), 1);
        let s = &report.suggestions[0];
        assert_eq!(s.merchant_id, "comptoir-sans-gluten");
        assert_eq!(
            s.location, report.devices[0].points[0].location,
            "made at the first position"
        );
        let event = &report.events[s.event.expect("on the timeline")];
        assert_eq!(event.kind, EventKind::Suggestion);
        assert_eq!(event.text, s.message);
    }

    #[test]
    fn merchants_near_the_drive_are_not_chosen_by_default_and_the_suggested_one_is_marked() {
        let (report, _) = report_of(DRIVE, NoExplanation);
        let status = |id: &str| {
            report
                .merchants
                .iter()
                .find(|m| m.id == id)
                .map(|m| m.status.clone())
        };
        assert_eq!(
            status("comptoir-sans-gluten"),
            Some(MerchantStatus::Suggested)
        );
        assert_eq!(
            status("pizzeria-du-lac"),
            Some(MerchantStatus::NotEligible(NOT_CHOSEN.into()))
        );
        // La Table Cœliaque is 2.3 km from the nearest position of the drive.
        assert_eq!(status("table-celiaque"), None);
        let to_drive: Vec<f64> = report
            .merchants
            .iter()
            .map(|m| {
                report.devices[0]
                    .points
                    .iter()
                    .map(|p| distance_m(p.location, m.location))
                    .fold(f64::MAX, f64::min)
            })
            .collect();
        assert!(
            to_drive.windows(2).all(|w| w[0] <= w[1]),
            "nearest the drive first: {to_drive:?}"
        );
    }

    /// An explainer as the `explain` code would plug in: sees every step, explains
    /// each suggestion, gives each merchant its status.
    #[derive(Default)]
    struct Plugged {
        steps: usize,
    }

    impl Explainer for Plugged {
        fn before(&mut self, _engine: &Engine, _event: &TraceEvent<'_>, _input: &Input) {
            self.steps += 1;
        }
        fn explain(
            &mut self,
            engine: &Engine,
            event: &TraceEvent<'_>,
            s: &Suggestion,
        ) -> Option<Explanation> {
            assert!(engine.device("car-42").is_some());
            assert_eq!(event.at.text, s.at);
            Some(Explanation {
                candidates: vec![Candidate {
                    merchant_id: s.merchant.id.clone(),
                    merchant_name: s.merchant.name.clone(),
                    offer_id: s.offer.id.clone(),
                    distance_m: s.distance_m,
                    verdict: Verdict::Wins { score: 2253.75 },
                }],
            })
        }
        fn status(&self, merchant: &Merchant) -> MerchantStatus {
            if merchant.serves_diet("gluten_free") {
                MerchantStatus::Eligible
            } else {
                MerchantStatus::NotEligible(format!("diet_not_served after {} steps", self.steps))
            }
        }
    }

    #[test]
    fn an_explainer_fills_the_explanations_and_the_statuses() {
        let (report, _) = report_of(DRIVE, Plugged::default());
        let explanation = report.suggestions[0]
            .explanation
            .as_ref()
            .expect("explained");
        assert_eq!(
            explanation.candidates[0].verdict,
            Verdict::Wins { score: 2253.75 }
        );
        let status = |id: &str| {
            report
                .merchants
                .iter()
                .find(|m| m.id == id)
                .map(|m| m.status.clone())
        };
        assert_eq!(status("bistrot-du-soir"), Some(MerchantStatus::Eligible));
        assert_eq!(
            status("pizzeria-du-lac"),
            Some(MerchantStatus::NotEligible(format!(
                "diet_not_served after {} steps",
                DRIVE.lines().count()
            )))
        );
    }

    #[test]
    fn errors_and_skipped_lines_are_on_the_timeline_as_errors() {
        let trace = concat!(
            "{\"at\": \"2026-07-15T14:00:00+02:00\", \"topic\": \"kairos/car-42/position\", \"payload\": {\"lat\": 95, \"lon\": 6}}\n",
            "not json\n",
            "{\"at\": \"2026-07-15T14:00:01+02:00\", \"topic\": \"elsewhere/x\", \"payload\": {}}\n",
        );
        let (report, _) = report_of(trace, NoExplanation);
        let errors: Vec<_> = report
            .events
            .iter()
            .filter(|e| e.kind == EventKind::Error)
            .collect();
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(errors[0].text.starts_with("out_of_range"));
        assert!(errors[1].text.contains("trace line 2 skipped"));
        assert!(errors[2].text.starts_with("dropped"));
        assert!(
            report.devices.is_empty(),
            "an out-of-range position is not drawn"
        );
        assert!(report.summary[0].contains("3 errors"));
    }

    #[test]
    fn long_payloads_are_cut_on_a_character_boundary() {
        let long = "é".repeat(500);
        let short = shorten(&long);
        assert_eq!(short.chars().count(), MAX_TEXT_CHARS + 1);
        assert!(short.ends_with('…'));
    }
}

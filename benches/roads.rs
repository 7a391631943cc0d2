//! `cargo bench --bench roads [-- PBF]`: the road layer's speed on a real
//! extract (default: the shared Munich one). Prints load times (PBF and
//! compact file), bytes per road node, matching and access-point times, and
//! the by-road search: per query (one matched position, 5–50 access points
//! within 1–15 km, asked nearest first as the decision does) and per target,
//! with half-edges settled; once asking every target, once stopping as the
//! decision will (when the lower bound on `eta_s` passes the best found).
//! Not a test: no timing is asserted anywhere.
//!
//! With `--postgres CONN` (a database with PostGIS and pgRouting installed),
//! also the side by side with pgRouting on the same extract (see
//! `roads_support/pgrouting.rs`); with `--no-grid`, not the grid city.

#[path = "roads_support/pgrouting.rs"]
mod pgrouting;

use std::path::PathBuf;
use std::time::Instant;

use kairos::geodesy::{destination, distance_m, LatLon};
use kairos::import::roads::{import_roads, load_roads};
use kairos::roads::{MatchState, RoadBuilder, RoadNetwork, SearchScratch};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn percentiles(label: &str, unit: &str, values: &mut [f64]) {
    if values.is_empty() {
        println!("{label}: no samples");
        return;
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    println!(
        "{label}: p50 {:.1} {unit}, p90 {:.1} {unit}, p99 {:.1} {unit}, max {:.1} {unit} ({} samples)",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0),
        values.len()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let postgres = args
        .iter()
        .position(|a| a == "--postgres")
        .and_then(|i| args.get(i + 1).cloned());
    let pbf = args
        .iter()
        .enumerate()
        .find(|(i, a)| !a.starts_with('-') && (*i == 0 || args[i - 1] != "--postgres"))
        .map(|(_, a)| PathBuf::from(a))
        .unwrap_or_else(|| {
            std::env::var_os("KAIROS_DATA_DIR")
                .map(PathBuf::from)
                .unwrap_or_default()
                .join("osm/munchen-2020.osm.pbf")
        });
    if !pbf.exists() {
        eprintln!("skipped: {} is absent", pbf.display());
        return;
    }
    let t = Instant::now();
    let (net, report) = load_roads(&pbf).expect("the extract loads");
    let pbf_s = t.elapsed().as_secs_f64();
    let dir = std::env::temp_dir().join(format!("kairos-roads-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let compact = dir.join("roads.kairos");
    import_roads(&pbf, &compact).expect("the compact file is written");
    let mut loads = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let loaded = load_roads(&compact).expect("the compact file loads");
        loads.push(t.elapsed().as_secs_f64() * 1e3);
        drop(loaded);
    }
    let file_bytes = std::fs::metadata(&compact).map(|m| m.len()).unwrap_or(0);
    let _ = std::fs::remove_dir_all(&dir);
    let nodes = net.node_count();
    println!("{}: {report}", pbf.display());
    println!(
        "load: PBF {:.0} ms ({:.2} s per million nodes); compact file ({:.1} MB) {:.1} ms median of 5 ({:.2} s per million nodes)",
        pbf_s * 1e3,
        pbf_s * 1e6 / nodes as f64,
        file_bytes as f64 / 1e6,
        {
            loads.sort_by(f64::total_cmp);
            loads[2]
        },
        loads[2] / 1e3 * 1e6 / nodes as f64
    );
    println!(
        "memory: {} nodes, {} segments, {:.1} MB in the graph and its R-tree: {:.0} bytes per node",
        nodes,
        net.segment_count(),
        net.heap_bytes() as f64 / 1e6,
        net.heap_bytes() as f64 / nodes as f64
    );

    let queries = searches(&net, 2_000);
    if let Some(conn) = postgres {
        let sample: Vec<_> = queries.into_iter().take(500).collect();
        if let Err(e) = pgrouting::side_by_side(&net, &conn, &sample) {
            println!("pgRouting side by side failed: {e:?}");
        }
    }
    if !args.iter().any(|a| a == "--no-grid") {
        grid_city();
    }
}

/// Matching, access points and searches on `net`; returns the queries.
fn searches(net: &RoadNetwork, count: usize) -> Vec<pgrouting::Query> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    // Merchants: points up to 100 m off random segments, with their access points.
    let mut access_us = Vec::new();
    let mut merchants = Vec::new();
    for _ in 0..20_000 {
        let s = rng.below(net.segment_count()) as u32;
        let [a, b] = net.segment_nodes(s);
        let (pa, pb) = (net.node_location(a), net.node_location(b));
        let t = rng.unit();
        let on = LatLon::new(
            pa.lat + t * (pb.lat - pa.lat),
            pa.lon + t * (pb.lon - pa.lon),
        );
        let at = destination(on, rng.unit() * 360.0, rng.unit() * 100.0);
        let start = Instant::now();
        let access = net.access_point(at);
        access_us.push(start.elapsed().as_secs_f64() * 1e6);
        if let Some(access) = access {
            merchants.push((at, access));
        }
    }
    percentiles("access point", "µs", &mut access_us);

    let (mut match_us, mut query_us, mut target_us) = (Vec::new(), Vec::new(), Vec::new());
    let (mut stop_us, mut settled, mut stop_settled) = (Vec::new(), Vec::new(), Vec::new());
    let (mut found, mut asked) = (0usize, 0usize);
    let mut scratch = SearchScratch::new();
    let mut queries = 0;
    let mut asked_queries = Vec::new();
    while queries < count {
        let h = rng.below(2 * net.segment_count()) as u32;
        if !net.may_drive(h) {
            continue;
        }
        let (pa, pb) = (
            net.node_location(net.tail(h)),
            net.node_location(net.head(h)),
        );
        let t = rng.unit();
        let at = LatLon::new(
            pa.lat + t * (pb.lat - pa.lat),
            pa.lon + t * (pb.lon - pa.lon),
        );
        let heading = kairos::geodesy::bearing_deg(pa, pb) + (rng.unit() - 0.5) * 20.0;
        let at = destination(at, heading + 90.0, (rng.unit() - 0.5) * 10.0);
        let speed = 5.0 + rng.unit() * 20.0;
        let start = Instant::now();
        let matched = net.match_position(at, Some(heading), speed, &mut MatchState::default());
        match_us.push(start.elapsed().as_secs_f64() * 1e6);
        let Some(matched) = matched else { continue };
        // 5–50 merchants within 1–15 km, nearest first.
        let want = 5 + rng.below(46);
        let mut targets = Vec::new();
        for _ in 0..want * 40 {
            let (m, access) = merchants[rng.below(merchants.len())];
            let d = distance_m(at, m);
            if (1_000.0..=15_000.0).contains(&d) {
                targets.push((d, access));
                if targets.len() == want {
                    break;
                }
            }
        }
        if targets.is_empty() {
            continue;
        }
        targets.sort_by(|a, b| a.0.total_cmp(&b.0));
        queries += 1;
        let reach = (speed * 600.0).clamp(1_000.0, 15_000.0);
        asked_queries.push(pgrouting::Query {
            matched,
            at,
            reach,
            targets: targets.iter().map(|(_, a)| *a).collect(),
        });

        // Every target.
        let start = Instant::now();
        let mut search = net.search_from(&matched, speed, reach, &mut scratch);
        for (_, access) in &targets {
            let t = Instant::now();
            if search.path_to(access).is_some() {
                found += 1;
            }
            asked += 1;
            target_us.push(t.elapsed().as_secs_f64() * 1e6);
        }
        settled.push(search.settled() as f64);
        query_us.push(start.elapsed().as_secs_f64() * 1e6);

        // As the decision will: stop once no farther target can arrive sooner.
        let start = Instant::now();
        let mut search = net.search_from(&matched, speed, reach, &mut scratch);
        let mut best = f64::INFINITY;
        for (straight, access) in &targets {
            if net.eta_lower_bound_s(*straight) > best {
                break;
            }
            if search.eta_lower_bound_s(access) > best {
                continue;
            }
            if let Some(path) = search.path_to(access) {
                best = best.min(path.eta_s);
            }
        }
        stop_settled.push(search.settled() as f64);
        stop_us.push(start.elapsed().as_secs_f64() * 1e6);
    }
    percentiles("match a position", "µs", &mut match_us);
    println!(
        "search: {queries} queries, {asked} targets asked, {found} found by road within reach"
    );
    percentiles("  per query, every target", "µs", &mut query_us);
    percentiles("  per target", "µs", &mut target_us);
    percentiles("  half-edges settled per query", "", &mut settled);
    percentiles("  per query, stopping early", "µs", &mut stop_us);
    percentiles(
        "  half-edges settled, stopping early",
        "",
        &mut stop_settled,
    );
    asked_queries
}

/// A synthetic city at scale: a 1,000 × 1,000 grid of 50 m blocks (a million
/// nodes, 400 per km², near a real centre's density with shape nodes), every
/// tenth street a 60 km/h secondary, the rest 30 km/h residential; to measure
/// loads and searches of 1–15 km where no shared extract is that large.
fn grid_city() {
    let n: i64 = 1_000;
    let origin = LatLon::new(48.0, 11.0);
    let t = Instant::now();
    let mut b = RoadBuilder::new();
    for row in 0..n {
        let west = destination(origin, 0.0, row as f64 * 50.0);
        let per_degree = 111_195.0 * west.lat.to_radians().cos();
        for col in 0..n {
            let at = LatLon::new(west.lat, origin.lon + col as f64 * 50.0 / per_degree);
            b.add_node(row * n + col, at);
        }
    }
    for i in 0..n {
        let class = if i % 10 == 0 {
            "secondary"
        } else {
            "residential"
        };
        b.add_way(
            1_000_000 + i,
            [("highway", class)],
            (0..n).map(|c| i * n + c),
        );
        b.add_way(
            2_000_000 + i,
            [("highway", class)],
            (0..n).map(|r| r * n + i),
        );
    }
    let (net, report) = b.build();
    println!();
    println!(
        "grid city: built in {:.1} s: {report}",
        t.elapsed().as_secs_f64()
    );
    let dir = std::env::temp_dir().join(format!("kairos-roads-grid-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let file = dir.join("grid.roads");
    std::fs::write(&file, kairos::roads::format::encode(&net, &report)).expect("written");
    let mut loads = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let loaded = load_roads(&file).expect("loads");
        loads.push(t.elapsed().as_secs_f64());
        drop(loaded);
    }
    loads.sort_by(f64::total_cmp);
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "grid city: compact file load {:.2} s median of 3 ({:.2} s per million nodes); {:.0} bytes per node",
        loads[1],
        loads[1] * 1e6 / net.node_count() as f64,
        net.heap_bytes() as f64 / net.node_count() as f64
    );
    searches(&net, 300);
}

//! `cargo bench --bench roads_scale [-- --merchants N --events N --queries N]`:
//! the decision **by road** at scale, on real road networks tiled with their
//! merchants by `kairos generate --roads` (see docs/benchmarks.md). Not a
//! test: no timing is asserted anywhere.
//!
//! Measures, one thread: the road file's load (seconds per million road nodes,
//! bytes per node), the merchants' access points, matching a position, the
//! full decision (`best_offer` on a warm engine, with roads: the by-road
//! search, hours at arrival, ranking by `eta_s`) at positions of the trace
//! (which follow the roads), and the whole trace through `kairos::replay`
//! with `--roads`, in position events per second.

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kairos::decide::{best_offer, Scratch, Situation};
use kairos::gen::{generate, GenerateOptions, ROADS_FILE};
use kairos::import::roads::load_roads;
use kairos::roads::{Access, MatchState};
use kairos::{Catalog, Config, Engine};

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

struct Args {
    merchants: usize,
    devices: usize,
    events: usize,
    queries: usize,
    sources: PathBuf,
    data: PathBuf,
}

fn parse_args() -> AnyResult<Args> {
    let mut args = Args {
        merchants: 1_000_000,
        devices: 2_000,
        events: 200_000,
        queries: 5_000,
        sources: real_data_dir().join("osm"),
        data: PathBuf::from("target/bench-data"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--merchants" => args.merchants = value()?.parse()?,
            "--devices" => args.devices = value()?.parse()?,
            "--events" => args.events = value()?.parse()?,
            "--queries" => args.queries = value()?.parse()?,
            "--sources" => args.sources = value()?.into(),
            "--data" => args.data = value()?.into(),
            "--bench" => {}
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(args)
}

/// This thread's CPU time so far, seconds (`/proc/thread-self/stat`, 10 ms
/// ticks): on a shared machine, the time actually run, not waited for a core.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = after.split_whitespace().collect();
            let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
            // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
            Some((ticks(11)? + ticks(12)?) / 100.0)
        })
        .unwrap_or(f64::NAN)
}

fn quantiles(label: &str, each: &mut [Duration]) {
    each.sort_unstable();
    if each.is_empty() {
        println!("{label}: no samples");
        return;
    }
    let at = |q: f64| each[((each.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e6;
    println!(
        "{label}: p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs, max {:.1} µs ({} samples)",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0),
        each.len()
    );
}

fn main() -> AnyResult<()> {
    let args = parse_args()?;
    let n = args.merchants;
    let dir = args.data.join(format!("roads-{n}"));
    let stamp = format!(
        "generator=roads-1 merchants={n} devices={} events={}",
        args.devices, args.events
    );
    let marker = dir.join("params.txt");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(stamp.as_str()) {
        let started = Instant::now();
        let sources = kairos::gen::default_sources(&args.sources);
        let mut options = GenerateOptions::new(sources, n, args.devices, args.events);
        options.roads = true;
        let summary = generate(&options, &dir)?;
        summary.report(&dir, &mut std::io::stderr())?;
        std::fs::write(&marker, &stamp)?;
        eprintln!("generated in {:.1} s", started.elapsed().as_secs_f64());
    }
    let roads_path = dir.join(ROADS_FILE);

    // The road file: median of 3 loads.
    let (mut loads, mut cpu) = (Vec::new(), Vec::new());
    let mut network = None;
    for _ in 0..3 {
        let (t, c) = (Instant::now(), cpu_seconds());
        let (net, _) = load_roads(&roads_path)?;
        loads.push(t.elapsed().as_secs_f64());
        cpu.push(cpu_seconds() - c);
        network = Some(net);
    }
    cpu.sort_by(f64::total_cmp);
    let network = Arc::new(network.ok_or("no load")?);
    loads.sort_by(f64::total_cmp);
    let nodes = network.node_count() as f64;
    let file_bytes = std::fs::metadata(&roads_path)?.len() as f64;
    println!(
        "roads: {} nodes, {} segments; load {:.3} s median of 3 = {:.2} s per million nodes \
(CPU {:.2} s per million nodes); {:.0} bytes per node in memory (graph + R-tree), {:.0} on disk",
        network.node_count(),
        network.segment_count(),
        loads[1],
        loads[1] * 1e6 / nodes,
        cpu[1] * 1e6 / nodes,
        network.heap_bytes() as f64 / nodes,
        file_bytes / nodes
    );

    let (catalog, _) = kairos::offer_files::load_catalog(&[dir.join("offers.geojson")])?;
    let catalog = Arc::new(catalog);
    let t = Instant::now();
    let access = Access::new(Arc::clone(&network), &catalog);
    let placed = (0..catalog.len())
        .filter(|&i| access.point(&catalog, i).is_some())
        .count();
    println!(
        "access points: {placed} of {} merchants within 200 m of a road, in {:.2} s",
        catalog.len(),
        t.elapsed().as_secs_f64()
    );

    let text = std::fs::read(dir.join("trace.jsonl"))?;
    decisions(&catalog, &network, &access, &text, args.queries)?;

    // The whole trace with roads, one thread.
    let mut engine = Engine::new(Config::default().engine, Arc::clone(&catalog));
    engine.set_roads(Some(Arc::clone(&network)));
    let (started, cpu) = (Instant::now(), cpu_seconds());
    let summary = kairos::replay::replay(
        &mut engine,
        &text[..],
        &mut std::io::sink(),
        &mut std::io::sink(),
    )?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    let positions = text
        .lines()
        .map_while(Result::ok)
        .filter(|l| l.contains("/position\""))
        .count();
    println!(
        "replay --roads: {} events ({positions} positions) in {seconds:.2} s (CPU {cpu:.2} s): \
{:.0} position events/s ({:.0} per CPU second), {:.0} events/s",
        summary.events,
        positions as f64 / seconds,
        positions as f64 / cpu,
        summary.events as f64 / seconds
    );
    Ok(())
}

/// Steps the trace on an engine with roads and, at about `queries` positions,
/// times matching the position and the full decision for its device.
fn decisions(
    catalog: &Arc<Catalog>,
    network: &Arc<kairos::roads::RoadNetwork>,
    access: &Access,
    text: &[u8],
    queries: usize,
) -> AnyResult<()> {
    let mut engine = Engine::new(Config::default().engine, Arc::clone(catalog));
    engine.set_roads(Some(Arc::clone(network)));
    let positions = text
        .lines()
        .map_while(Result::ok)
        .filter(|l| l.contains("/position\""))
        .count();
    let every = (positions / queries.max(1)).max(1);
    let mut scratch = Scratch::default();
    let mut decide_cpu = 0.0;
    let (mut decide, mut matching) = (Vec::new(), Vec::new());
    let (mut matched, mut by_road, mut found, mut seen) = (0usize, 0usize, 0usize, 0usize);
    for line in text.lines().map_while(Result::ok) {
        let Ok(event) = kairos::trace::parse_line(&line) else {
            continue;
        };
        let input = engine.read(&event.topic, &event.payload);
        engine.step(&input, &event.at);
        let Some(device_id) = event.topic.strip_suffix("/position") else {
            continue;
        };
        seen += 1;
        if seen % every != 0 {
            continue;
        }
        let device_id = device_id.trim_start_matches("kairos/");
        let now: DateTime<Utc> = event.at.time;
        let Some(device) = engine.device(device_id) else {
            continue;
        };
        let (Some(profile), Some(position)) = (device.profile.as_ref(), device.position(now))
        else {
            continue;
        };
        // Matching, as the engine does on each position (timed apart).
        let t = Instant::now();
        let again = std::hint::black_box(network.match_position(
            position.location,
            position.heading,
            position.speed,
            &mut MatchState::default(),
        ));
        matching.push(t.elapsed());
        let road_match = device.road.matched;
        if road_match.is_some() || again.is_some() {
            matched += 1;
        }
        let mut profile = profile.clone();
        profile.consent = true;
        let situation = Situation {
            catalog,
            access: Some(access),
            device,
            profile: &profile,
            position,
            road_match,
            now,
            route: None,
        };
        let (t, c) = (Instant::now(), cpu_seconds());
        let answer = std::hint::black_box(best_offer(&situation, &profile, &mut scratch));
        decide.push(t.elapsed());
        decide_cpu += cpu_seconds() - c;
        if let Some(choice) = answer {
            found += 1;
            if choice.place.road.is_some() {
                by_road += 1;
            }
        }
    }
    let n = decide.len();
    println!(
        "decisions: {n} at positions of the trace, {matched} matched to a road, \
{found} found an offer, {by_road} of them placed by road"
    );
    quantiles("match a position", &mut matching);
    let wall: f64 = decide.iter().map(Duration::as_secs_f64).sum();
    quantiles("full decision with roads (best_offer)", &mut decide);
    println!(
        "  mean {:.1} µs wall, {:.1} µs CPU",
        wall * 1e6 / n.max(1) as f64,
        decide_cpu * 1e6 / n.max(1) as f64
    );
    Ok(())
}

/// The real-data folder (`KAIROS_DATA_DIR`, see docs/testing.md): the OSM
/// extracts the merchants and roads are tiled from (`--sources` overrides).
fn real_data_dir() -> PathBuf {
    std::env::var_os("KAIROS_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("data-not-set-see-KAIROS_DATA_DIR"))
}

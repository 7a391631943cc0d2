//! The scale benchmark: kairos against what a user would build instead, on the
//! same merchants and the same positions, in the same run. Not run in CI.
//!
//! `bash bench/run.sh` starts its own Redis, checks PostGIS, and runs
//! `cargo bench --bench scale -- --redis URL --postgres CONN [--merchants 10000,100000,1000000]`.
//! For each size it generates the load with [`kairos::gen`] (real city sets
//! tiled over European city centres, cars driving through them) and measures:
//!
//! - load time and peak RSS of `Catalog::load` (in a child process, so the
//!   generator's memory is not counted);
//! - the index alone: the 50 nearest merchants within reach;
//! - the **simple decision** every build answers: the nearest gluten-free food
//!   place within reach (`clamp(speed × 600 s, 1 km, 15 km)`) inside the ±60°
//!   heading cone. kairos: `Catalog::nearby` over the gluten-free partition;
//!   Redis: `GEOSEARCH … COUNT 50` + pipelined `HMGET` tags, filtered in the
//!   client (and a GEO key holding only the eligible merchants); PostGIS:
//!   `ST_DWithin` + `ORDER BY geog <-> pt LIMIT 50` with a GiST index, filters
//!   in SQL, cone in the client, prepared (and with a partial GiST index);
//! - the **full decision**: `kairos::decide::best_offer` on a warm engine, which
//!   also checks opening hours at arrival, offers' validity and audience,
//!   likes/dislikes, blocks and the 24 h no-repeat, and ranks;
//! - `kairos::replay` over the generated trace, on one thread (parse, decide,
//!   respect gates, write outputs).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kairos::decide::{best_offer, Scratch, Situation};
use kairos::device::Position;
use kairos::gen::{generate, GenerateOptions};
use kairos::geodesy::{distance_m, LatLon, TravelFrame};
use kairos::index::FoodFilter;
use kairos::rules;
use kairos::Stamp;
use kairos::{Catalog, Config, Engine};

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Command-line settings.
struct Args {
    sizes: Vec<usize>,
    devices: usize,
    events: usize,
    queries: usize,
    peer_queries: usize,
    redis: Option<String>,
    postgres: Option<String>,
    data: PathBuf,
    sources: PathBuf,
    seed: u64,
}

fn parse_args() -> AnyResult<Args> {
    let mut args = Args {
        sizes: vec![10_000, 100_000, 1_000_000],
        devices: 2_000,
        events: 400_000,
        queries: 20_000,
        peer_queries: 3_000,
        redis: None,
        postgres: None,
        data: PathBuf::from("target/bench-data"),
        sources: PathBuf::from("../shared/data/osm"),
        seed: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--merchants" => {
                args.sizes = value()?
                    .split(',')
                    .map(|s| s.trim().replace('_', "").parse())
                    .collect::<Result<_, _>>()?
            }
            "--devices" => args.devices = value()?.parse()?,
            "--events" => args.events = value()?.parse()?,
            "--queries" => args.queries = value()?.parse()?,
            "--peer-queries" => args.peer_queries = value()?.parse()?,
            "--redis" => args.redis = Some(value()?),
            "--postgres" => args.postgres = Some(value()?),
            "--data" => args.data = value()?.into(),
            "--sources" => args.sources = value()?.into(),
            "--seed" => args.seed = value()?.parse()?,
            "--load-only" => {
                load_only(Path::new(&value()?))?;
                std::process::exit(0);
            }
            // `cargo bench` passes `--bench`; anything else is a mistake worth saying.
            "--bench" => {}
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    Ok(args)
}

fn main() -> AnyResult<()> {
    let args = parse_args()?;
    let mut table = Table::new(&args.sizes);
    for &n in &args.sizes {
        eprintln!("== {n} merchants");
        run_size(&args, n, &mut table)?;
    }
    println!("{}", table.markdown());
    Ok(())
}

/// One position event of the trace.
#[derive(Clone)]
struct Fix {
    device: String,
    topic: String,
    payload: String,
    at: Stamp,
    location: LatLon,
    heading: f64,
    speed: f64,
}

fn run_size(args: &Args, n: usize, table: &mut Table) -> AnyResult<()> {
    let dir = args.data.join(n.to_string());
    let offers = dir.join("offers.geojson");
    let trace = dir.join("trace.jsonl");
    let stamp = format!(
        "generator=3 merchants={n} devices={} events={} seed={}",
        args.devices, args.events, args.seed
    );
    let marker = dir.join("params.txt");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(stamp.as_str()) {
        let started = Instant::now();
        let sources = kairos::gen::default_sources(&args.sources);
        let mut options = GenerateOptions::new(sources, n, args.devices, args.events);
        options.seed = args.seed;
        let summary = generate(&options, &dir)?;
        summary.report(&dir, &mut std::io::stderr())?;
        std::fs::write(&marker, &stamp)?;
        eprintln!("generated in {:.1} s", started.elapsed().as_secs_f64());
    }

    // Load, in a child process so that peak RSS is the loader's own.
    let child = Command::new(std::env::current_exe()?)
        .arg("--load-only")
        .arg(&offers)
        .output()?;
    let report = String::from_utf8_lossy(&child.stdout);
    let numbers: Vec<f64> = report
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    if let [seconds, rss_kib, hwm_kib, base_kib, merchants] = numbers[..] {
        table.set("load time (s)", n, format!("{seconds:.2}"));
        table.set(
            "resident after load, bytes/merchant",
            n,
            format!("{:.0}", (rss_kib - base_kib) * 1024.0 / merchants),
        );
        table.set(
            "peak RSS during load (MiB; bytes/merchant)",
            n,
            format!(
                "{:.0}; {:.0}",
                hwm_kib / 1024.0,
                (hwm_kib - base_kib) * 1024.0 / merchants
            ),
        );
    } else {
        eprintln!(
            "load child failed: {report} {}",
            String::from_utf8_lossy(&child.stderr)
        );
    }

    let (catalog, _) = Catalog::load(std::slice::from_ref(&offers))?;
    let catalog = Arc::new(catalog);
    let text = std::fs::read(&trace)?;
    let fixes = positions(&text);
    let sample: Vec<&Fix> = spread(&fixes, args.queries);
    let in_reach = sample
        .iter()
        .take(500)
        .map(|f| {
            catalog
                .nearby(
                    f.location,
                    rules::reach_m(f.speed),
                    FoodFilter::AnyFood,
                    None,
                )
                .count()
        })
        .sum::<usize>()
        / sample.len().clamp(1, 500);
    table.set("merchants within reach (mean)", n, in_reach.to_string());

    // The index alone: the 50 nearest within reach.
    let lat = time_each(&sample, |f| {
        catalog
            .nearby(
                f.location,
                rules::reach_m(f.speed),
                FoodFilter::AnyFood,
                None,
            )
            .take(50)
            .count()
    });
    table.set("index: 50 nearest within reach, q/s", n, lat.rate());
    table.set("index: p50 / p99 (µs)", n, lat.p50_p99());

    // The simple decision, kairos's index: food places only, over the
    // gluten-free tree, walked with subtrees outside the heading wedge skipped;
    // then the same walk without the wedge (every merchant within the answer's
    // distance, in all directions, tested one by one).
    let gf = ["gluten_free".to_string()];
    let simple_with = |wedge: bool| {
        time_each(&sample, |f| {
            simple_decision(&catalog, f, FoodFilter::OnlyFoodServing(&gf), wedge)
        })
    };
    let simple = simple_with(true);
    table.set(
        "simple decision, kairos index: q/s (p50 / p99 µs)",
        n,
        format!("{} ({})", simple.rate(), simple.p50_p99()),
    );
    let unpruned = simple_with(false);
    table.set(
        "  the same walk without the heading wedge: q/s (p50 / p99 µs)",
        n,
        format!("{} ({})", unpruned.rate(), unpruned.p50_p99()),
    );
    assert_eq!(
        simple.answers, unpruned.answers,
        "the wedge must not change an answer"
    );
    let mixed = time_each(&sample, |f| {
        simple_decision(&catalog, f, FoodFilter::ServingDiets(&gf), true)
    });
    assert_eq!(mixed.answers, simple.answers);
    table.set(
        "  through the decision's filter (non-food places too, skipped): q/s (p50 / p99 µs)",
        n,
        format!("{} ({})", mixed.rate(), mixed.p50_p99()),
    );

    // Positions with nothing at all ahead: the walk of a decision that finds
    // nothing must still look at everything within reach.
    let ahead_count = |f: &Fix, wedge: bool| {
        let frame = TravelFrame::new(f.location, f.heading);
        catalog
            .nearby(
                f.location,
                rules::reach_m(f.speed),
                FoodFilter::AnyFood,
                wedge.then(|| rules::ahead_wedge(&frame)),
            )
            .filter(|(_, n)| rules::is_ahead_of(&frame, n.vector, n.distance_m))
            .count()
    };
    let empty_cone: Vec<&Fix> = sample
        .iter()
        .copied()
        .filter(|f| ahead_count(f, true) == 0)
        .collect();
    table.set(
        "positions with no merchant at all ahead within reach",
        n,
        format!(
            "{:.1} %",
            100.0 * empty_cone.len() as f64 / sample.len().max(1) as f64
        ),
    );
    let lat = time_each(&empty_cone, |f| ahead_count(f, false));
    table.set(
        "  there, walking all within reach: p50 / p99 µs",
        n,
        lat.p50_p99(),
    );
    let lat = time_each(&empty_cone, |f| ahead_count(f, true));
    table.set(
        "  there, with the heading wedge: p50 / p99 µs",
        n,
        lat.p50_p99(),
    );
    let worst: Vec<&Fix> = sample.iter().copied().take(5_000).collect();
    let all = time_each(&worst, |f| ahead_count(f, false));
    let pruned = time_each(&worst, |f| ahead_count(f, true));
    table.set(
        "every merchant ahead within reach (nothing eligible), without / with the wedge: p99 µs",
        n,
        format!("{} / {}", all.p99(), pruned.p99()),
    );
    assert_eq!(
        all.answers, pruned.answers,
        "pruning must not lose a merchant"
    );

    // The full decision on a warm engine.
    let (full, full_gf, full_tasted) = full_decisions(&catalog, &text, &sample);
    table.set(
        "full decision (trace profiles): q/s (p50 / p99 µs)",
        n,
        format!("{} ({})", full.rate(), full.p50_p99()),
    );
    table.set(
        "full decision (trace profiles, with learned tastes): q/s (p50 / p99 µs)",
        n,
        format!("{} ({})", full_tasted.rate(), full_tasted.p50_p99()),
    );
    table.set(
        "full decision (gluten-free profile): q/s (p50 / p99 µs)",
        n,
        format!("{} ({})", full_gf.rate(), full_gf.p50_p99()),
    );
    for (label, answers) in [
        (
            "  trace profiles: candidates walked p50 / p99; no eligible offer",
            &full.answers,
        ),
        (
            "  gluten-free: candidates walked p50 / p99; no eligible offer",
            &full_gf.answers,
        ),
    ] {
        let mut walks: Vec<usize> = answers.iter().map(|(_, w)| *w).collect();
        walks.sort_unstable();
        let unanswered = answers.iter().filter(|(a, _)| !a).count();
        table.set(
            label,
            n,
            format!(
                "{} / {}; {:.1} %",
                walks.get(walks.len() / 2).unwrap_or(&0),
                walks.get(walks.len() * 99 / 100).unwrap_or(&0),
                100.0 * unanswered as f64 / walks.len().max(1) as f64
            ),
        );
    }

    // Replay on one thread, the whole trace.
    let (events, seconds) = replay(&catalog, &text)?;
    table.set(
        "replay, events/s on one thread",
        n,
        format!("{:.0}", events as f64 / seconds),
    );

    // The worst case: an `ask` after every position, so every other event
    // runs a full decision (asks skip the gap and the daily cap).
    let asking = with_asks(&text);
    let (events, seconds) = replay(&catalog, &asking)?;
    table.set(
        "replay, an ask after every position, events/s on one thread",
        n,
        format!("{:.0}", events as f64 / seconds),
    );

    let peers: Vec<&Fix> = spread(&fixes, args.peer_queries);
    let kairos_peer: Vec<Option<Box<str>>> = peers
        .iter()
        .map(|f| simple_decision(&catalog, f, FoodFilter::OnlyFoodServing(&gf), true))
        .collect();
    let agree = |answers: &[Option<String>]| {
        let same = answers
            .iter()
            .zip(&kairos_peer)
            .filter(|(a, k)| a.as_deref() == k.as_deref())
            .count();
        format!("{:.1} %", 100.0 * same as f64 / answers.len().max(1) as f64)
    };
    let ratio = |peer: &Latencies| format!("{:.0}×", full_gf.per_second() / peer.per_second());

    if let Some(url) = &args.redis {
        match redis_build(url, &catalog, &peers) {
            Ok(r) => {
                table.set("Redis load (s)", n, format!("{:.2}", r.load_s));
                table.set(
                    "Redis GEOSEARCH+HMGET, filter in client: q/s (p50 / p99 µs)",
                    n,
                    format!("{} ({})", r.naive.rate(), r.naive.p50_p99()),
                );
                table.set("  agrees with kairos", n, agree(&r.naive.answers));
                table.set(
                    "Redis GEO key of eligible merchants only: q/s (p50 / p99 µs)",
                    n,
                    format!("{} ({})", r.eligible.rate(), r.eligible.p50_p99()),
                );
                table.set(
                    "kairos full decision ÷ Redis GEOSEARCH+HMGET",
                    n,
                    ratio(&r.naive),
                );
                table.set(
                    "kairos full decision ÷ Redis eligible key",
                    n,
                    ratio(&r.eligible),
                );
            }
            Err(e) => eprintln!("redis build failed: {e}"),
        }
    }
    if let Some(conn) = &args.postgres {
        match postgis_build(conn, &catalog, &peers) {
            Ok(p) => {
                table.set(
                    "PostGIS load: COPY + GiST (s)",
                    n,
                    format!("{:.2}", p.load_s),
                );
                table.set(
                    "PostGIS KNN, filters in SQL: q/s (p50 / p99 µs) [plan_cache_mode]",
                    n,
                    format!("{} ({}) [{}]", p.knn.rate(), p.knn.p50_p99(), p.knn.label),
                );
                table.set("  agrees with kairos ", n, agree(&p.knn.answers));
                table.set(
                    "PostGIS KNN, partial GiST on eligible rows: q/s (p50 / p99 µs) [plan_cache_mode]",
                    n,
                    format!(
                        "{} ({}) [{}]",
                        p.partial.rate(),
                        p.partial.p50_p99(),
                        p.partial.label
                    ),
                );
                table.set("kairos full decision ÷ PostGIS KNN", n, ratio(&p.knn));
                table.set(
                    "kairos full decision ÷ PostGIS partial index",
                    n,
                    ratio(&p.partial),
                );
            }
            Err(e) => eprintln!("postgis build failed: {e}"),
        }
    }
    Ok(())
}

/// `--load-only FILE`: prints `seconds rss_kib hwm_kib baseline_kib merchants`.
fn load_only(offers: &Path) -> AnyResult<()> {
    // Warm the time-zone tables so they are not counted per merchant.
    let _ = kairos::offers::zone::timezone_at(LatLon::new(48.0, 2.0));
    let baseline = status_kib("VmRSS:");
    let started = Instant::now();
    let (catalog, _) = Catalog::load(&[offers.to_path_buf()])?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{seconds} {} {} {baseline} {}",
        status_kib("VmRSS:"),
        status_kib("VmHWM:"),
        catalog.len().max(1)
    );
    Ok(())
}

fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Every position event of a trace.
fn positions(text: &[u8]) -> Vec<Fix> {
    let mut fixes = Vec::new();
    for line in text.lines().map_while(Result::ok) {
        let Ok(event) = kairos::trace::parse_line(&line) else {
            continue;
        };
        let Some(device) = event.topic.strip_suffix("/position") else {
            continue;
        };
        let Ok(payload) = serde_json::from_slice::<serde_json::Value>(&event.payload) else {
            continue;
        };
        let number = |k: &str| payload.get(k).and_then(serde_json::Value::as_f64);
        if let (Some(lat), Some(lon)) = (number("lat"), number("lon")) {
            fixes.push(Fix {
                device: device.trim_start_matches("kairos/").to_string(),
                topic: event.topic.to_string(),
                payload: String::from_utf8_lossy(&event.payload).into_owned(),
                at: event.at.clone(),
                location: LatLon::new(lat, lon),
                heading: number("heading").unwrap_or(0.0),
                speed: number("speed").unwrap_or(0.0),
            });
        }
    }
    fixes
}

/// About `count` items spread evenly over `all`, in order.
fn spread<T>(all: &[T], count: usize) -> Vec<&T> {
    let step = (all.len() / count.max(1)).max(1);
    all.iter().step_by(step).take(count).collect()
}

/// Per-query latencies and each query's answer.
struct Latencies<A = Option<String>> {
    /// Which variant was measured, when there were several.
    label: &'static str,
    each: Vec<Duration>,
    total: Duration,
    answers: Vec<A>,
}

impl<A> Latencies<A> {
    fn new(mut each: Vec<Duration>, total: Duration, answers: Vec<A>) -> Self {
        each.sort_unstable();
        Self {
            label: "",
            each,
            total,
            answers,
        }
    }

    fn per_second(&self) -> f64 {
        self.each.len() as f64 / self.total.as_secs_f64().max(1e-9)
    }

    fn rate(&self) -> String {
        group(self.per_second())
    }

    fn quantile(&self, q: f64) -> f64 {
        if self.each.is_empty() {
            return f64::NAN;
        }
        let i = ((self.each.len() as f64 - 1.0) * q).round() as usize;
        self.each[i].as_secs_f64() * 1e6
    }

    fn p99(&self) -> String {
        format!("{:.1}", self.quantile(0.99))
    }

    fn p50_p99(&self) -> String {
        format!("{:.1} / {:.1}", self.quantile(0.5), self.quantile(0.99))
    }
}

/// Times `query` on each fix, one at a time.
fn time_each<A>(fixes: &[&Fix], mut query: impl FnMut(&Fix) -> A) -> Latencies<A> {
    let mut each = Vec::with_capacity(fixes.len());
    let mut answers = Vec::with_capacity(fixes.len());
    let started = Instant::now();
    for fix in fixes {
        let t = Instant::now();
        let answer = std::hint::black_box(query(fix));
        each.push(t.elapsed());
        answers.push(answer);
    }
    Latencies::new(each, started.elapsed(), answers)
}

/// Decision latencies, each with (found an offer, candidates walked).
type Decisions = Latencies<(bool, usize)>;

/// `best_offer` on a warm engine: the trace is stepped up to each sampled
/// position (untimed), then the decision for that device is timed, with its own
/// profile and with a gluten-free one.
fn full_decisions(
    catalog: &Arc<Catalog>,
    text: &[u8],
    sample: &[&Fix],
) -> (Decisions, Decisions, Decisions) {
    let mut engine = Engine::new(Config::default().engine, Arc::clone(catalog));
    let mut wanted = sample.iter().peekable();
    let (mut own, mut gf, mut tasted) = (Vec::new(), Vec::new(), Vec::new());
    let (mut own_answers, mut gf_answers, mut tasted_answers) =
        (Vec::new(), Vec::new(), Vec::new());
    let (mut own_total, mut gf_total, mut tasted_total) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let tastes = learned_tastes(sample.first().map(|f| f.at.time));
    // The engine's own memos (opening-hours states, road search), as the engine keeps them.
    let mut scratch = Scratch::default();
    for line in text.lines().map_while(Result::ok) {
        let Some(&&next) = wanted.peek() else { break };
        let Ok(event) = kairos::trace::parse_line(&line) else {
            continue;
        };
        let input = engine.read(&event.topic, &event.payload);
        engine.step(&input, &event.at);
        if event.topic != next.topic
            || event.at != next.at
            || *event.payload != *next.payload.as_bytes()
        {
            continue;
        }
        wanted.next();
        let now: DateTime<Utc> = next.at.time;
        let Some(device) = engine.device(&next.device) else {
            continue;
        };
        let (Some(profile), Some(position)) = (device.profile.as_ref(), device.position(now))
        else {
            continue;
        };
        let situation = |profile| Situation {
            catalog,
            access: None,
            device,
            profile,
            position,
            road_match: None,
            now,
            route: None,
        };
        let t = Instant::now();
        let answer = std::hint::black_box(best_offer(&situation(profile), profile, &mut scratch));
        let d = t.elapsed();
        own.push(d);
        own_total += d;
        let reach = rules::reach_m(position.speed);
        let until = answer.as_ref().map_or(reach, |c| c.place.distance_m);
        let filter = if profile.diet.is_empty() {
            FoodFilter::AnyFood
        } else {
            FoodFilter::ServingDiets(&profile.diet)
        };
        let walk = walked(catalog, position, filter, until);
        own_answers.push((answer.is_some(), walk));
        let mut celiac = profile.clone();
        celiac.consent = true;
        celiac.diet = vec!["gluten_free".into()];
        let t = Instant::now();
        let answer = std::hint::black_box(best_offer(&situation(&celiac), &celiac, &mut scratch));
        let d = t.elapsed();
        gf.push(d);
        gf_total += d;
        // How many candidates the index walk visited: all within the answer's
        // distance, or all within reach when nothing was eligible.
        let reach = rules::reach_m(position.speed);
        let until = answer.as_ref().map_or(reach, |c| c.place.distance_m);
        let walk = walked(
            catalog,
            position,
            FoodFilter::ServingDiets(&celiac.diet),
            until,
        );
        gf_answers.push((answer.is_some(), walk));
        // The same device and profile, having learned: the one decision
        // timed, the copy made beforehand.
        let mut learned = device.clone();
        learned.tastes = tastes.clone();
        let situation = Situation {
            catalog,
            access: None,
            device: &learned,
            profile,
            position,
            road_match: None,
            now,
            route: None,
        };
        let t = Instant::now();
        let answer = std::hint::black_box(best_offer(&situation, profile, &mut scratch));
        let d = t.elapsed();
        tasted.push(d);
        tasted_total += d;
        tasted_answers.push((answer.is_some(), 0));
    }
    (
        Latencies::new(own, own_total, own_answers),
        Latencies::new(gf, gf_total, gf_answers),
        Latencies::new(tasted, tasted_total, tasted_answers),
    )
}

/// What a person who gave feedback for a while has learned: fond of Italian
/// food, cafés and bakeries, against fast food and burgers (both factors and
/// the tag signature in play).
fn learned_tastes(at: Option<DateTime<Utc>>) -> kairos::tastes::Tastes {
    let mut tastes = kairos::tastes::Tastes::default();
    let Some(at) = at else { return tastes };
    for (tag, score) in [
        ("cuisine=italian", 3.0),
        ("amenity=cafe", 2.0),
        ("shop=bakery", 2.5),
        ("cuisine=pizza", 1.0),
        ("amenity=fast_food", -3.0),
        ("cuisine=burger", -2.0),
    ] {
        tastes.learn(&[tag.to_string()], score, at);
    }
    tastes
}

/// How many candidates the decision's walk yields up to `until` metres (the
/// answer's distance, or the reach when nothing was eligible).
fn walked(catalog: &Catalog, position: &Position, filter: FoodFilter<'_>, until: f64) -> usize {
    let frame = rules::travel_frame(position);
    catalog
        .nearby(
            position.location,
            rules::reach_m(position.speed),
            filter,
            frame.as_ref().map(rules::ahead_wedge),
        )
        .take_while(|(_, n)| n.distance_m <= until)
        .count()
}

/// The whole trace through `kairos::replay`, outputs discarded: (events, seconds).
fn replay(catalog: &Arc<Catalog>, text: &[u8]) -> AnyResult<(u64, f64)> {
    let mut engine = Engine::new(Config::default().engine, Arc::clone(catalog));
    let started = Instant::now();
    let summary = kairos::replay::replay(
        &mut engine,
        text,
        &mut std::io::sink(),
        &mut std::io::sink(),
    )?;
    Ok((summary.events, started.elapsed().as_secs_f64()))
}

/// The trace with an `ask` (empty payload) right after each position, same time.
fn with_asks(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() * 2);
    for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        out.extend_from_slice(line);
        out.push(b'\n');
        let Ok(event) = kairos::trace::parse_line(std::str::from_utf8(line).unwrap_or("")) else {
            continue;
        };
        if let Some(device) = event.topic.strip_suffix("/position") {
            out.extend_from_slice(
                format!(
                    "{{\"at\":\"{}\",\"topic\":\"{device}/ask\",\"payload\":{{}}}}\n",
                    event.at.text
                )
                .as_bytes(),
            );
        }
    }
    out
}

/// The simple decision every build answers: the nearest food place passing
/// `filter` within reach and ahead (by the exact rule), by id; `wedge` lets the
/// index skip subtrees outside the heading wedge.
fn simple_decision(
    catalog: &Catalog,
    f: &Fix,
    filter: FoodFilter<'_>,
    wedge: bool,
) -> Option<Box<str>> {
    let frame = TravelFrame::new(f.location, f.heading);
    catalog
        .nearby(
            f.location,
            rules::reach_m(f.speed),
            filter,
            wedge.then(|| rules::ahead_wedge(&frame)),
        )
        .find(|(m, n)| m.is_food && rules::is_ahead_of(&frame, n.vector, n.distance_m))
        .map(|(m, _)| m.id.clone())
}

/// True when the merchant at `at` lies within ±60° of the fix's heading.
fn in_cone(fix: &Fix, at: LatLon) -> bool {
    let frame = TravelFrame::new(fix.location, fix.heading);
    rules::is_ahead_of(&frame, at.unit_vector(), distance_m(fix.location, at))
}

struct RedisResult {
    load_s: f64,
    naive: Latencies,
    eligible: Latencies,
}

/// Redis as a user would build it: one GEO key of every merchant, a hash of
/// tags per merchant, and a GEO key holding only the gluten-free food places.
fn redis_build(url: &str, catalog: &Catalog, fixes: &[&Fix]) -> AnyResult<RedisResult> {
    let client = redis::Client::open(url)?;
    let mut con = client.get_connection()?;
    redis::cmd("FLUSHDB").exec(&mut con)?;
    let started = Instant::now();
    for chunk in catalog.merchants().chunks(10_000) {
        let mut pipe = redis::pipe();
        let mut geo = redis::cmd("GEOADD");
        geo.arg("m");
        let mut eligible = redis::cmd("GEOADD");
        eligible.arg("m:gf");
        let mut any_eligible = false;
        for m in chunk {
            geo.arg(m.location.lon).arg(m.location.lat).arg(&*m.id);
            let mut hash = redis::cmd("HSET");
            hash.arg(format!("t:{}", m.id));
            hash.arg("food").arg(u8::from(m.is_food));
            for (k, v) in m.tags.iter() {
                if k == "amenity" || k == "shop" || k.starts_with("diet:") {
                    hash.arg(k).arg(v);
                }
            }
            pipe.add_command(hash).ignore();
            if m.is_food && m.serves_diet("gluten_free") {
                eligible.arg(m.location.lon).arg(m.location.lat).arg(&*m.id);
                any_eligible = true;
            }
        }
        pipe.add_command(geo).ignore();
        if any_eligible {
            pipe.add_command(eligible).ignore();
        }
        pipe.exec(&mut con)?;
    }
    let load_s = started.elapsed().as_secs_f64();

    type Hit = (String, f64, (f64, f64));
    let naive = time_each(fixes, |f| -> Option<String> {
        let hits: Vec<Hit> = redis::cmd("GEOSEARCH")
            .arg("m")
            .arg("FROMLONLAT")
            .arg(f.location.lon)
            .arg(f.location.lat)
            .arg("BYRADIUS")
            .arg(rules::reach_m(f.speed))
            .arg("m")
            .arg("ASC")
            .arg("COUNT")
            .arg(50)
            .arg("WITHDIST")
            .arg("WITHCOORD")
            .query(&mut con)
            .ok()?;
        let mut pipe = redis::pipe();
        for (id, _, _) in &hits {
            pipe.cmd("HMGET")
                .arg(format!("t:{id}"))
                .arg("food")
                .arg("diet:gluten_free");
        }
        let tags: Vec<(Option<String>, Option<String>)> = pipe.query(&mut con).ok()?;
        hits.iter()
            .zip(tags)
            .find(|((_, _, (lon, lat)), (food, gf))| {
                food.as_deref() == Some("1")
                    && matches!(gf.as_deref(), Some("yes" | "only"))
                    && in_cone(f, LatLon::new(*lat, *lon))
            })
            .map(|((id, _, _), _)| id.clone())
    });
    let eligible = time_each(fixes, |f| -> Option<String> {
        let hits: Vec<Hit> = redis::cmd("GEOSEARCH")
            .arg("m:gf")
            .arg("FROMLONLAT")
            .arg(f.location.lon)
            .arg(f.location.lat)
            .arg("BYRADIUS")
            .arg(rules::reach_m(f.speed))
            .arg("m")
            .arg("ASC")
            .arg("COUNT")
            .arg(50)
            .arg("WITHDIST")
            .arg("WITHCOORD")
            .query(&mut con)
            .ok()?;
        hits.into_iter()
            .find(|(_, _, (lon, lat))| in_cone(f, LatLon::new(*lat, *lon)))
            .map(|(id, _, _)| id)
    });
    redis::cmd("FLUSHDB").exec(&mut con)?;
    Ok(RedisResult {
        load_s,
        naive,
        eligible,
    })
}

struct PostgisResult {
    load_s: f64,
    knn: Latencies,
    partial: Latencies,
}

/// PostGIS as a user would build it: a geography column with a GiST index,
/// the trait filters in SQL, the KNN operator, a prepared statement.
fn postgis_build(conn: &str, catalog: &Catalog, fixes: &[&Fix]) -> AnyResult<PostgisResult> {
    let mut client = postgres::Client::connect(conn, postgres::NoTls)?;
    client.batch_execute(
        "CREATE EXTENSION IF NOT EXISTS postgis;
         DROP TABLE IF EXISTS kairos_bench;
         CREATE TABLE kairos_bench (id text PRIMARY KEY, is_food boolean, gluten_free boolean,
                                    geog geography(Point, 4326));",
    )?;
    let started = Instant::now();
    {
        let mut copy = client.copy_in("COPY kairos_bench FROM STDIN")?;
        let mut buffer = std::io::BufWriter::with_capacity(1 << 16, &mut copy);
        for m in catalog.merchants() {
            writeln!(
                buffer,
                "{}\t{}\t{}\tSRID=4326;POINT({} {})",
                m.id,
                m.is_food,
                m.serves_diet("gluten_free"),
                m.location.lon,
                m.location.lat
            )?;
        }
        buffer.flush()?;
        drop(buffer);
        copy.finish()?;
    }
    client.batch_execute(
        "CREATE INDEX kairos_bench_geog ON kairos_bench USING gist (geog); ANALYZE kairos_bench;",
    )?;
    let load_s = started.elapsed().as_secs_f64();
    let statement = client.prepare(
        "SELECT id, ST_X(geog::geometry), ST_Y(geog::geometry) FROM kairos_bench
         WHERE is_food AND gluten_free
           AND ST_DWithin(geog, ST_SetSRID(ST_MakePoint($1::float8, $2::float8), 4326)::geography, $3::float8, false)
         ORDER BY geog <-> ST_SetSRID(ST_MakePoint($1::float8, $2::float8), 4326)::geography
         LIMIT 50",
    )?;
    let query = |client: &mut postgres::Client, f: &Fix| -> Option<String> {
        let rows = client
            .query(
                &statement,
                &[&f.location.lon, &f.location.lat, &rules::reach_m(f.speed)],
            )
            .ok()?;
        rows.iter()
            .find(|r| in_cone(f, LatLon::new(r.get(2), r.get(1))))
            .map(|r| r.get(0))
    };
    explain(&mut client, fixes)?;
    // The planner's generic plan for a prepared statement is sometimes far
    // worse than a plan made for the actual point and reach, sometimes better:
    // a user tuning fairly keeps the faster, so both are measured.
    let best_of_plans = |client: &mut postgres::Client| -> AnyResult<Latencies> {
        let mut runs = Vec::new();
        for mode in ["auto", "force_custom_plan"] {
            client.batch_execute(&format!("SET plan_cache_mode = {mode}"))?;
            let mut run = time_each(fixes, |f| query(client, f));
            run.label = mode;
            runs.push(run);
        }
        runs.sort_by(|a, b| b.per_second().total_cmp(&a.per_second()));
        Ok(runs.swap_remove(0))
    };
    let knn = best_of_plans(&mut client)?;
    client.batch_execute(
        "CREATE INDEX kairos_bench_gf ON kairos_bench USING gist (geog) WHERE is_food AND gluten_free;
         ANALYZE kairos_bench;",
    )?;
    explain(&mut client, fixes)?;
    let partial = best_of_plans(&mut client)?;
    Ok(PostgisResult {
        load_s,
        knn,
        partial,
    })
}

/// Prints the plan PostgreSQL runs for the first fix (to stderr), so the
/// numbers can be read against what the planner chose.
fn explain(client: &mut postgres::Client, fixes: &[&Fix]) -> AnyResult<()> {
    let Some(f) = fixes.first() else {
        return Ok(());
    };
    let sql = format!(
        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT id FROM kairos_bench
         WHERE is_food AND gluten_free
           AND ST_DWithin(geog, ST_SetSRID(ST_MakePoint({lon}, {lat}), 4326)::geography, {reach}, false)
         ORDER BY geog <-> ST_SetSRID(ST_MakePoint({lon}, {lat}), 4326)::geography LIMIT 50",
        lon = f.location.lon,
        lat = f.location.lat,
        reach = rules::reach_m(f.speed)
    );
    for row in client.query(sql.as_str(), &[])? {
        eprintln!("plan: {}", row.get::<_, String>(0));
    }
    Ok(())
}

/// Thousands separated by commas.
fn group(x: f64) -> String {
    let digits = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Rows of measurements, one column per size.
struct Table {
    sizes: Vec<usize>,
    rows: Vec<(String, Vec<String>)>,
}

impl Table {
    fn new(sizes: &[usize]) -> Self {
        Self {
            sizes: sizes.to_vec(),
            rows: Vec::new(),
        }
    }

    fn set(&mut self, label: &str, size: usize, value: String) {
        eprintln!("{size}: {label}: {value}");
        let column = self.sizes.iter().position(|s| *s == size).unwrap_or(0);
        let row = match self.rows.iter().position(|(l, _)| l == label) {
            Some(i) => i,
            None => {
                self.rows
                    .push((label.to_string(), vec![String::new(); self.sizes.len()]));
                self.rows.len() - 1
            }
        };
        self.rows[row].1[column] = value;
    }

    fn markdown(&self) -> String {
        let mut out = String::from("| merchants |");
        for size in &self.sizes {
            out += &format!(" {} |", group(*size as f64));
        }
        out += "\n|---|";
        out += &"---|".repeat(self.sizes.len());
        for (label, values) in &self.rows {
            out += &format!("\n| {label} |");
            for v in values {
                out += &format!(" {v} |");
            }
        }
        out
    }
}

//! Inputs per second through `store::step_durably` with no store (plain
//! `Engine::step`), the redb file store and the Redis store, on one workload,
//! plus the stored size per device:
//!
//! ```text
//! cargo run --release --example state_throughput [-- DEVICES EVENTS [redis://HOST:PORT/DB]]
//! ```
//!
//! Without a Redis URL it starts `/usr/bin/redis-server` on a free port (no
//! persistence) and stops it at the end. The workload runs on a virtual clock
//! (one event every 50 ms, round-robin over the devices): each device sends a
//! consenting profile with a diet, likes and quiet hours, then positions among
//! 50 merchants, an `ask` every 10th event and a `dismissed` feedback every
//! 25th, so a store sees the real mix of silent loads and saved decisions.
//! Single task, as in `serve`'s engine task: one input at a time
//! (`step_durably`, one commit each), and in batches of [`BATCH`] inputs with
//! one commit per batch (`step_batch`, what `serve` does under load, with a
//! packet id per input as a QoS 1 input has).
//!
//! A second workload has only state-changing inputs: each a `context`
//! (`hungry` flipped, so every input is a write).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kairos::delivery::{Delivery, PacketRef};
use kairos::offers::Loader;
use kairos::output::{Body, Output};
use kairos::store::{
    encode, step_batch, step_durably, Arrival, BatchStore, DeviceStore, RedbStore, RedisStore,
};
use kairos::{Catalog, Config, Engine, Stamp};

/// One input of the workload.
struct Input {
    topic: String,
    payload: String,
    at: Stamp,
}

fn catalog() -> Arc<Catalog> {
    let features: Vec<String> = (0..50)
        .map(|i| {
            let (lat, lon) = (
                45.9 + 0.0007 * f64::from(i % 10),
                6.12 + 0.0007 * f64::from(i / 10),
            );
            format!(
                r#"{{"type":"Feature","geometry":{{"type":"Point","coordinates":[{lon},{lat}]}},
                   "properties":{{"id":"m{i}","name":"Place {i}","tourism":"museum",
                   "offers":[{{"id":"a","title":"Entry"}},{{"id":"b","title":"Tour"}}]}}}}"#
            )
        })
        .collect();
    let text = format!(
        r#"{{"type":"FeatureCollection","features":[{}]}}"#,
        features.join(",")
    );
    let mut loader = Loader::new();
    loader
        .load_text(Path::new("bench.geojson"), &text)
        .expect("the bench catalog loads");
    Arc::new(Catalog::new(loader.finish().0))
}

fn workload(devices: usize, events: usize) -> Vec<Input> {
    let start: DateTime<Utc> = "2026-07-15T10:00:00Z".parse().expect("a valid instant");
    let stamp = |i: usize| Stamp::from_utc(start + chrono::Duration::milliseconds(50 * i as i64));
    let mut inputs: Vec<Input> = (0..devices)
        .map(|d| Input {
            topic: format!("kairos/dev-{d:06}/profile"),
            payload: r#"{"consent":true,"diet":["vegetarian"],"likes":["cuisine=italian"],
                         "dislikes":["amenity=fast_food"],"lang":"fr","quiet_hours":"23:00-06:00",
                         "min_gap_min":10,"max_per_day":50}"#
                .to_string(),
            at: stamp(0),
        })
        .collect();
    for i in 0..events {
        let d = i % devices;
        let round = i / devices;
        let (kind, payload) = if round % 25 == 24 {
            (
                "feedback",
                format!(
                    r#"{{"merchant":"m{}","offer":"a","action":"dismissed"}}"#,
                    round % 50
                ),
            )
        } else if round % 10 == 9 {
            ("ask", "{}".to_string())
        } else {
            let wiggle = 0.0001 * (round % 7) as f64;
            (
                "position",
                format!(
                    r#"{{"lat":{},"lon":{},"accuracy":15}}"#,
                    45.9 + wiggle,
                    6.12 + wiggle
                ),
            )
        };
        inputs.push(Input {
            topic: format!("kairos/dev-{d:06}/{kind}"),
            payload,
            at: stamp(i + 1),
        });
    }
    inputs
}

/// Runs the workload through `store` (or plain `step` when `None`); returns
/// inputs per second and suggestions made.
async fn run<S: DeviceStore>(
    store: Option<&S>,
    catalog: &Arc<Catalog>,
    inputs: &[Input],
) -> (f64, usize, Engine) {
    let mut engine = Engine::new(Config::default().engine, catalog.clone());
    let started = Instant::now();
    let mut outputs = 0;
    for input in inputs {
        let read = engine.read(&input.topic, input.payload.as_bytes());
        let out = match store {
            None => engine.step(&read, &input.at),
            Some(store) => step_durably(&mut engine, store, &read, &input.at)
                .await
                .expect("the store works"),
        };
        outputs += out
            .iter()
            .filter(|o| matches!(o, Output::Publish(p) if matches!(p.body, Body::Suggestion(_))))
            .count();
    }
    let rate = inputs.len() as f64 / started.elapsed().as_secs_f64();
    (rate, outputs, engine)
}

/// Inputs in one commit for the batched runs.
const BATCH: usize = 256;

/// Every input changes the device: `context` updates, `hungry` flipped.
fn changing(devices: usize, events: usize) -> Vec<Input> {
    let start: DateTime<Utc> = "2026-07-15T10:00:00Z".parse().expect("a valid instant");
    (0..events)
        .map(|i| Input {
            topic: format!("kairos/dev-{:06}/context", i % devices),
            payload: format!(
                r#"{{"hungry":{},"party":{}}}"#,
                (i / devices).is_multiple_of(2),
                1 + i % 4
            ),
            at: Stamp::from_utc(start + chrono::Duration::milliseconds(50 * i as i64)),
        })
        .collect()
}

/// The workload through `store` in batches of [`BATCH`], one commit each;
/// returns inputs per second and suggestions made.
async fn run_batched<S: BatchStore>(
    store: &S,
    catalog: &Arc<Catalog>,
    inputs: &[Input],
) -> (f64, usize) {
    let mut engine = Engine::new(Config::default().engine, catalog.clone());
    let started = Instant::now();
    let mut outputs = 0;
    for (n, chunk) in inputs.chunks(BATCH.min(store.batch_limit())).enumerate() {
        let arrivals: Vec<Arrival> = chunk
            .iter()
            .enumerate()
            .map(|(i, input)| Arrival {
                input: engine.read(&input.topic, input.payload.as_bytes()),
                at: input.at.clone(),
                delivery: Delivery {
                    packet: Some(PacketRef {
                        client: "bench".into(),
                        pkid: ((n * BATCH + i) % 65_535 + 1) as u16,
                        hash: kairos::delivery::hash(&input.topic, input.payload.as_bytes()),
                    }),
                    ..Delivery::default()
                },
            })
            .collect();
        let answers = step_batch(&mut engine, store, "bench", &arrivals, &[])
            .await
            .expect("the store works");
        for answered in answers {
            if let kairos::store::Answer::Fresh(out) = answered.answer {
                outputs += out
                    .iter()
                    .filter(|o| matches!(o, Output::Publish(p) if matches!(p.body, Body::Suggestion(_))))
                    .count();
            }
        }
    }
    let rate = inputs.len() as f64 / started.elapsed().as_secs_f64();
    (rate, outputs)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let devices: usize = args.first().map_or(Ok(1000), |a| a.parse())?;
    let events: usize = args.get(1).map_or(Ok(50_000), |a| a.parse())?;
    let catalog = catalog();
    let inputs = workload(devices, events);
    println!(
        "{} inputs ({devices} devices), one at a time, virtual clock",
        inputs.len()
    );

    let (rate, outputs, engine) = run::<RedbStore>(None, &catalog, &inputs).await;
    println!("no store   {rate:>9.0} inputs/s  ({outputs} suggestions)");
    let sizes: Vec<usize> = (0..devices)
        .filter_map(|d| engine.export_device(&format!("dev-{d:06}")))
        .map(|state| encode(&state).len())
        .collect();

    let dir = tempfile::tempdir()?;
    let redb = RedbStore::open(&dir.path().join("state.redb")).await?;
    let (rate, outputs, _) = run(Some(&redb), &catalog, &inputs).await;
    let file_bytes = std::fs::metadata(redb.path())?.len();
    println!(
        "redb file  {rate:>9.0} inputs/s  ({outputs} suggestions; file {} KiB; one commit per input)",
        file_bytes / 1024
    );
    let batched = RedbStore::open(&dir.path().join("batched.redb")).await?;
    let (rate, outputs) = run_batched(&batched, &catalog, &inputs).await;
    println!(
        "redb group {rate:>9.0} inputs/s  ({outputs} suggestions; one commit per {BATCH} inputs)"
    );

    let writes = changing(devices, events);
    println!("{} state-changing inputs (context updates)", writes.len());
    let (rate, _, _) = run::<RedbStore>(None, &catalog, &writes).await;
    println!("no store   {rate:>9.0} inputs/s");
    let each = RedbStore::open(&dir.path().join("writes-each.redb")).await?;
    let (rate, _, _) = run(Some(&each), &catalog, &writes).await;
    println!("redb file  {rate:>9.0} inputs/s  (one commit per input)");
    let grouped = RedbStore::open(&dir.path().join("writes-group.redb")).await?;
    let (rate, _) = run_batched(&grouped, &catalog, &writes).await;
    println!("redb group {rate:>9.0} inputs/s  (one commit per {BATCH} inputs)");

    let mut server = None;
    let url = match args.get(2) {
        Some(url) => url.clone(),
        None => {
            let port = free_port();
            server = Some(
                Command::new("/usr/bin/redis-server")
                    .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                    .args(["--save", "", "--appendonly", "no"])
                    .stdout(Stdio::null())
                    .spawn()?,
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
            format!("redis://127.0.0.1:{port}/0")
        }
    };
    let redis = RedisStore::open(&url).await?;
    let (rate, outputs, _) = run(Some(&redis), &catalog, &inputs).await;
    println!("redis      {rate:>9.0} inputs/s  ({outputs} suggestions; {url})");
    let (rate, _, _) = run(Some(&redis), &catalog, &writes).await;
    println!("redis      {rate:>9.0} state-changing inputs/s");
    if let Some(mut server) = server {
        server.kill()?;
        server.wait()?;
    }

    let mean = sizes.iter().sum::<usize>() / sizes.len().max(1);
    let max = sizes.iter().max().copied().unwrap_or(0);
    println!("stored size per device: mean {mean} B, max {max} B (JSON record)");
    Ok(())
}

//! Load benchmark of `kairos serve` over real MQTT (a bench command, not a test):
//!
//! ```sh
//! cargo run --release --example mqtt_load -- --devices 10000 --rate 10000 --seconds 20
//! ```
//!
//! It starts its own Mosquitto on a free loopback port, configured with
//! `max_queued_messages 1000000` and `max_inflight_messages 1000` (the stock
//! 1,000-message queue would drop messages to a subscriber that falls behind,
//! at QoS 1 too), then measures, in one run and with the same rumqttc client:
//!
//! 1. **raw**: the broker's pass-through, a publisher and a subscriber
//!    (no kairos) at the same offered rate, and flat out (`--rate 0` style);
//! 2. **kairos**: `serve` on that broker (its own runtime, the bundled demo
//!    offers, a clock at the demo's lunchtime), `--devices` devices that first
//!    publish a consenting profile (retained) and a context, then positions at
//!    QoS 1, every `--ask-every`-th event an `ask`. Loss = messages the broker
//!    acknowledged minus inputs the engine stepped; latency = an `ask`'s
//!    publish to its answer on `{prefix}/{device}/suggestion`, as the device
//!    sees it.
//!
//! `--rate` is events per second over all devices (keep `rate / devices`
//! under the engine's per-device limit of 10/s); `--rate 0` publishes as fast
//! as the client goes. Each phase ends with a marker message and waits for it,
//! so "sustained" includes draining what was queued.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Parser;
use kairos::serve::{serve, BrokerChoice, Clock, OfferSource, ServeOptions, ServeSummary};
use kairos::{Catalog, Config};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use tokio::sync::oneshot;

#[derive(Parser)]
struct Args {
    /// Simulated devices.
    #[arg(long, default_value_t = 10_000)]
    devices: usize,
    /// Offered events per second over all devices; 0: as fast as possible.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// Seconds of load per phase.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Every n-th event is an `ask` (its answer is timed).
    #[arg(long, default_value_t = 10)]
    ask_every: u64,
    /// serve.channel_capacity (the engine's input queue) [default: the config default].
    #[arg(long)]
    channel_capacity: Option<usize>,
    /// Also measure the raw broker flat out (rate 0).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    raw_max: bool,
}

const WAIT: Duration = Duration::from_secs(60);

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.devices == 0 || args.ask_every == 0 {
        bail!("--devices and --ask-every must be positive");
    }
    let broker = Mosquitto::start()?;
    eprintln!(
        "mosquitto on 127.0.0.1:{} (max_queued_messages 1000000, max_inflight_messages 1000)",
        broker.port
    );
    let load = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("load")
        .enable_all()
        .build()?;

    let raw = load.block_on(raw_phase(broker.port, &args, args.rate))?;
    let raw_max = if args.raw_max && args.rate != 0 {
        Some(load.block_on(raw_phase(broker.port, &args, 0))?)
    } else {
        None
    };

    // kairos on its own runtime, as `kairos serve` would run.
    let engine_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("kairos")
        .enable_all()
        .build()?;
    let drive_start = kairos::trace::parse_line(
        kairos::serve::demo::DEMO_DRIVE
            .lines()
            .nth(2)
            .context("the demo drive has a first position")?,
    )
    .map_err(anyhow::Error::msg)?
    .at
    .time;
    let clock = Clock::scaled(drive_start, 1.0);
    clock.start();
    let mut config = Config::default();
    config.serve.client_id = "kairos-load".into();
    if let Some(capacity) = args.channel_capacity {
        config.serve.channel_capacity = capacity;
    }
    eprintln!("serve.channel_capacity {}", config.serve.channel_capacity);
    let mut loader = kairos::offers::Loader::new();
    loader.load_text(
        &PathBuf::from("data/demo/offers.geojson"),
        kairos::serve::demo::DEMO_OFFERS,
    )?;
    let catalog = Arc::new(Catalog::new(loader.finish().0));
    let (ready, is_ready) = oneshot::channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = engine_rt.spawn(serve(
        ServeOptions {
            config,
            broker: BrokerChoice::External(format!("mqtt://127.0.0.1:{}", broker.port)),
            offers: OfferSource::Loaded(catalog),
            clock,
            ready: Some(ready),
        },
        async move {
            let _ = stopped.await;
        },
    ));
    load.block_on(async { tokio::time::timeout(WAIT, is_ready).await })
        .context("serve did not connect in time")??;
    let mut kairos = load.block_on(kairos_phase(broker.port, &args))?;
    let _ = stop.send(());
    let summary: ServeSummary = engine_rt.block_on(server)??;
    // Inputs the engine stepped during the load: all but the setup, the two
    // markers and its own answers when they come back to it (on MQTT 3.1.1,
    // where kairos's `{prefix}/+/+` subscription has no No Local; they are
    // dropped as no input, and counted so).
    kairos.received = summary
        .stepped
        .saturating_sub(2 * args.devices as u64 + 2 + summary.dropped);

    report(&args, &raw, raw_max.as_ref(), &kairos, &summary);
    Ok(())
}

/// What one phase measured.
struct Phase {
    published: u64,
    received: u64,
    seconds: f64,
    latencies_us: Vec<u32>,
    /// CPU seconds kairos's threads used during the load (Linux only).
    cpu_seconds: Option<f64>,
}

/// CPU seconds used so far by this process's threads named `kairos` (the
/// serve runtime), from /proc; `None` elsewhere.
fn kairos_cpu_seconds() -> Option<f64> {
    let mut ticks = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = task.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if !comm.starts_with("kairos") {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
        // Fields after the parenthesised name: state is 3rd, utime 14th, stime 15th.
        let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
        ticks += field(14)? + field(15)?;
    }
    // USER_HZ is 100 on every Linux this runs on.
    Some(ticks as f64 / 100.0)
}

impl Phase {
    fn rate(&self) -> f64 {
        self.received as f64 / self.seconds
    }

    fn percentile(&self, p: f64) -> Option<f64> {
        if self.latencies_us.is_empty() {
            return None;
        }
        let i = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
        Some(f64::from(self.latencies_us[i]) / 1000.0)
    }
}

fn report(args: &Args, raw: &Phase, raw_max: Option<&Phase>, k: &Phase, s: &ServeSummary) {
    let ms = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.2}"));
    let offered = if args.rate == 0 {
        "max".to_string()
    } else {
        args.rate.to_string()
    };
    println!();
    println!(
        "{} devices, offered {offered} ev/s, {} s, QoS 1, 1 ask in {}",
        args.devices, args.seconds, args.ask_every
    );
    println!("| run | published | received | lost | sustained msg/s | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|---|---|");
    let row = |name: &str, p: &Phase| {
        println!(
            "| {name} | {} | {} | {} | {:.0} | {} | {} |",
            p.published,
            p.received,
            p.published.saturating_sub(p.received),
            p.rate(),
            ms(p.percentile(0.5)),
            ms(p.percentile(0.99)),
        );
    };
    row(&format!("broker raw pass-through, {offered} ev/s"), raw);
    if let Some(max) = raw_max {
        row("broker raw pass-through, flat out", max);
    }
    row(
        &format!("kairos serve, {offered} ev/s (p = ask → answer)"),
        k,
    );
    let best_raw = raw_max.map_or(raw.rate(), |m| m.rate().max(raw.rate()));
    println!();
    println!(
        "engine: received {}, stepped {}, overloaded (dropped) {}, published {}",
        s.received, s.stepped, s.overloaded, s.published
    );
    if let Some(cpu) = k.cpu_seconds {
        println!(
            "kairos CPU during the load: {cpu:.2} s = {:.1} µs per message received \
             (inputs, and its own answers when read back)",
            1e6 * cpu / (k.received + s.dropped).max(1) as f64
        );
    }
    println!(
        "kairos sustained {:.0} ev/s = {:.0} % of the broker's best raw rate (target: zero loss at ≥ 80 %); \
         zero loss: {}; p99 {} ms (target < 5 ms)",
        k.rate(),
        100.0 * k.rate() / best_raw,
        if k.published == k.received && s.overloaded == 0 {
            "yes"
        } else {
            "NO"
        },
        ms(k.percentile(0.99)),
    );
}

/// A fast client: large request queue and in-flight window, Nagle off.
fn client(id: &str, port: u16) -> (AsyncClient, EventLoop) {
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_inflight(1000)
        .set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(options, 10_000);
    eventloop.network_options.set_tcp_nodelay(true);
    (client, eventloop)
}

/// Polls a publisher's event loop until told to stop; counts PUBACKs.
fn drive_publisher(mut eventloop: EventLoop) -> (Arc<AtomicU64>, tokio::task::JoinHandle<()>) {
    let acked = Arc::new(AtomicU64::new(0));
    let counter = acked.clone();
    let task = tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
                Ok(_) => {}
                Err(error) => {
                    eprintln!("publisher: {error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    (acked, task)
}

/// Publishes `count` messages from `message(k)`, `rate` a second (0: flat out).
async fn paced(
    client: &AsyncClient,
    rate: u64,
    count: u64,
    mut message: impl FnMut(u64) -> (String, Vec<u8>),
) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sent = 0;
    while sent < count {
        let due = if rate == 0 {
            count
        } else {
            tick.tick().await;
            ((start.elapsed().as_secs_f64() * rate as f64) as u64).min(count)
        };
        while sent < due {
            let (topic, payload) = message(sent);
            client
                .publish(topic, QoS::AtLeastOnce, false, payload)
                .await?;
            sent += 1;
        }
    }
    Ok(())
}

/// Waits (up to 10 s) until the broker acknowledged `expected` publishes.
async fn wait_for_acks(acked: &AtomicU64, expected: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while acked.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Microseconds since `base`, at least 1 (0 marks "nothing pending").
fn micros_since(base: Instant) -> u64 {
    base.elapsed().as_micros() as u64 + 1
}

/// A position of device `i` at round `round`, with its send time in front.
fn position(base: Instant, i: usize, round: u64) -> Vec<u8> {
    let jitter = (i % 100) as f64 * 1e-5;
    let lat = 45.9125 - jitter - round as f64 * 1.947e-4;
    let lon = 6.13 + jitter + round as f64 * 1.616e-4;
    format!(
        r#"{{"sent_us":{},"lat":{lat:.7},"lon":{lon:.7},"heading":150.0,"speed":25.0,"accuracy":8}}"#,
        micros_since(base)
    )
    .into_bytes()
}

/// The `sent_us` at the front of a position payload.
fn sent_us(payload: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(payload).ok()?;
    let rest = text.strip_prefix(r#"{"sent_us":"#)?;
    rest[..rest.find(',')?].parse().ok()
}

/// Publisher → Mosquitto → subscriber, no kairos, with the same client.
async fn raw_phase(port: u16, args: &Args, rate: u64) -> anyhow::Result<Phase> {
    let label = if rate == 0 { "flat out" } else { "paced" };
    eprintln!("raw pass-through ({label}) ...");
    let count = if rate == 0 {
        (args.seconds * 20_000).max(100_000)
    } else {
        rate * args.seconds
    };
    let base = Instant::now();
    let (sub, mut sub_loop) = client(&format!("raw-sub-{rate}"), port);
    let (subscribed_tx, subscribed) = oneshot::channel();
    let receiver = tokio::spawn(async move {
        let mut subscribed_tx = Some(subscribed_tx);
        let mut received = 0u64;
        let mut latencies = Vec::with_capacity(count as usize);
        let mut last = Instant::now();
        loop {
            match tokio::time::timeout(WAIT, sub_loop.poll()).await {
                Err(_) => break,
                Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => {
                    if let Some(tx) = subscribed_tx.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                    if p.topic == "raw/marker" {
                        break;
                    }
                    received += 1;
                    last = Instant::now();
                    if let Some(sent) = sent_us(&p.payload) {
                        latencies.push(micros_since(base).saturating_sub(sent) as u32);
                    }
                }
                Ok(Ok(_)) => {}
                Ok(Err(error)) => {
                    eprintln!("raw subscriber: {error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        (received, latencies, last)
    });
    sub.subscribe("raw/#", QoS::AtLeastOnce).await?;
    tokio::time::timeout(WAIT, subscribed).await??;

    let (publisher, pub_loop) = client(&format!("raw-pub-{rate}"), port);
    let (acked, pub_task) = drive_publisher(pub_loop);
    let devices = args.devices;
    let start = Instant::now();
    paced(&publisher, rate, count, |k| {
        let i = (k % devices as u64) as usize;
        (
            format!("raw/car-{i}/position"),
            position(base, i, k / devices as u64),
        )
    })
    .await?;
    publisher
        .publish("raw/marker", QoS::AtLeastOnce, false, "end")
        .await?;
    let (received, mut latencies, last) = receiver.await?;
    let seconds = last.duration_since(start).as_secs_f64();
    wait_for_acks(&acked, count + 1).await;
    publisher.disconnect().await?;
    let _ = tokio::time::timeout(Duration::from_secs(5), pub_task).await;
    let _ = sub.disconnect().await;
    latencies.sort_unstable();
    Ok(Phase {
        published: acked.load(Ordering::Relaxed).saturating_sub(1),
        received,
        seconds,
        latencies_us: latencies,
        cpu_seconds: None,
    })
}

/// Devices publish to kairos; a listener times the answers to their asks.
async fn kairos_phase(port: u16, args: &Args) -> anyhow::Result<Phase> {
    let devices = args.devices;
    let base = Instant::now();
    // Per device: when its pending `ask` was sent (µs since base, 0: none).
    let pending: Arc<Vec<AtomicU64>> = Arc::new((0..devices).map(|_| AtomicU64::new(0)).collect());
    let (sub, mut sub_loop) = client("kairos-load-sub", port);
    let (subscribed_tx, subscribed) = oneshot::channel();
    let (marker_tx, mut marker_rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let listener = tokio::spawn({
        let pending = pending.clone();
        async move {
            let mut subscribed_tx = Some(subscribed_tx);
            let mut latencies = Vec::new();
            let mut unmatched = 0u64;
            loop {
                match tokio::time::timeout(WAIT, sub_loop.poll()).await {
                    Err(_) => break,
                    Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => {
                        if let Some(tx) = subscribed_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                        let device = p.topic.split('/').nth(1).unwrap_or("");
                        if device == "marker" {
                            if marker_tx.send(Instant::now()).is_err() {
                                break;
                            }
                            continue;
                        }
                        let i = device
                            .strip_prefix("car-")
                            .and_then(|n| n.parse::<usize>().ok());
                        match i.map(|i| pending[i].swap(0, Ordering::Relaxed)) {
                            Some(sent) if sent > 0 => {
                                latencies.push(micros_since(base).saturating_sub(sent) as u32)
                            }
                            _ => unmatched += 1,
                        }
                    }
                    Ok(Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect))) => break,
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => {
                        eprintln!("answer listener: {error}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            (latencies, unmatched)
        }
    });
    sub.subscribe("kairos/+/suggestion", QoS::AtLeastOnce)
        .await?;
    tokio::time::timeout(WAIT, subscribed).await??;

    let (publisher, pub_loop) = client("kairos-load-pub", port);
    let (acked, pub_task) = drive_publisher(pub_loop);
    // Setup, not timed: a consenting gluten-free profile (retained) and a
    // holiday context for every device; `ask`s make them hungry.
    eprintln!("kairos: {devices} profiles and contexts ...");
    let setup = 2 * devices as u64;
    paced(&publisher, 0, setup, |k| {
        let i = (k / 2) as usize;
        if k % 2 == 0 {
            (
                format!("kairos/car-{i}/profile"),
                br#"{"consent": true, "diet": ["gluten_free"], "lang": "en"}"#.to_vec(),
            )
        } else {
            (
                format!("kairos/car-{i}/context"),
                br#"{"hungry": false, "trip": "vacation"}"#.to_vec(),
            )
        }
    })
    .await?;
    // `publish().await`, not `try_publish`: after a flat-out burst the
    // client's request queue may still be full.
    let marker = |publisher: &AsyncClient| {
        let publisher = publisher.clone();
        async move {
            publisher
                .publish("kairos/marker/ask", QoS::AtLeastOnce, false, "{}")
                .await
        }
    };
    marker(&publisher).await?;
    tokio::time::timeout(WAIT, marker_rx.recv())
        .await
        .context("the engine did not take the setup in time")?;

    let count = if args.rate == 0 {
        (args.seconds * 20_000).max(100_000)
    } else {
        args.rate * args.seconds
    };
    eprintln!("kairos: {count} events ...");
    let cpu_start = kairos_cpu_seconds();
    let start = Instant::now();
    let ask_every = args.ask_every;
    paced(&publisher, args.rate, count, |k| {
        let i = (k % devices as u64) as usize;
        let round = k / devices as u64;
        if k % ask_every == ask_every - 1 && pending[i].load(Ordering::Relaxed) == 0 {
            pending[i].store(micros_since(base), Ordering::Relaxed);
            (
                format!("kairos/car-{i}/ask"),
                br#"{"hungry": true}"#.to_vec(),
            )
        } else {
            (format!("kairos/car-{i}/position"), position(base, i, round))
        }
    })
    .await?;
    marker(&publisher).await?;
    let drained = tokio::time::timeout(WAIT, marker_rx.recv())
        .await
        .context("the engine did not drain in time")?
        .context("answer listener stopped")?;
    let seconds = drained.duration_since(start).as_secs_f64();
    let cpu_seconds = kairos_cpu_seconds()
        .zip(cpu_start)
        .map(|(end, start)| end - start);
    wait_for_acks(&acked, setup + count + 2).await;
    // Answers still in flight to the listener.
    tokio::time::sleep(Duration::from_millis(500)).await;
    publisher.disconnect().await?;
    let _ = tokio::time::timeout(Duration::from_secs(5), pub_task).await;
    sub.disconnect().await?;
    let (mut latencies, unmatched) = listener.await?;
    let unanswered = pending
        .iter()
        .filter(|p| p.load(Ordering::Relaxed) != 0)
        .count();
    eprintln!(
        "kairos: {} asks answered, {unanswered} unanswered, {unmatched} other suggestions",
        latencies.len()
    );
    latencies.sort_unstable();
    Ok(Phase {
        // The load's messages the broker acknowledged (not the setup, not the markers).
        published: acked.load(Ordering::Relaxed).saturating_sub(setup + 2),
        // The caller fills this in from the engine's own count.
        received: 0,
        seconds,
        latencies_us: latencies,
        cpu_seconds,
    })
}

/// Mosquitto on a free loopback port with a large queue; killed on drop.
struct Mosquitto {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    fn start() -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let dir = tempfile::tempdir()?;
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                 max_queued_messages 1000000\nmax_inflight_messages 1000\nset_tcp_nodelay true\n"
            ),
        )?;
        let binary = ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .unwrap_or_else(|| PathBuf::from("mosquitto"));
        let child = Command::new(binary)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("mosquitto must be installed (apt-get install mosquitto)")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("mosquitto did not start on {port}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Self {
            child,
            port,
            _dir: dir,
        })
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

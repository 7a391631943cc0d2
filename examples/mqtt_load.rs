//! Load benchmark of `kairos serve` over real MQTT (a bench command, not a test):
//!
//! ```sh
//! cargo run --release --example mqtt_load -- --devices 10000 --rate 0 --seconds 10 --rounds 5
//! ```
//!
//! It starts its own Mosquitto on a free loopback port, configured with
//! `max_queued_messages 1000000` and `max_inflight_messages 1000` (the stock
//! 1,000-message queue would drop messages to a subscriber that falls behind,
//! at QoS 1 too), starts `serve` on it (its own runtime, the bundled demo
//! offers, a clock at the demo's lunchtime), sets up `--devices` devices (a
//! consenting profile, retained, and a context), then runs `--rounds` rounds,
//! each with the same rumqttc client throughout:
//!
//! 1. **raw**: the broker's pass-through, a publisher and a subscriber (no
//!    kairos), at the offered rate and flat out, with the subscriber once on
//!    kairos's runtime (a receiver deployed like kairos) and once on the
//!    publisher's runtime;
//! 2. **kairos**: the devices publish positions at QoS 1, every
//!    `--ask-every`-th event an `ask`. Loss = messages the broker acknowledged
//!    minus inputs the engine stepped (over the whole run); latency = an
//!    `ask`'s publish to its answer on `{prefix}/{device}/suggestion`, as the
//!    device sees it.
//!
//! `--rate` is events per second over all devices (keep `rate / devices`
//! under the engine's per-device limit of 10/s); `--rate 0` publishes as fast
//! as the client goes. Each phase ends with a marker message and waits for it,
//! so "sustained" includes draining what was queued. Paced, the verdict is
//! whether kairos kept up in every round; flat out, it is the median over
//! rounds of kairos's rate over the round's best raw rate, once against raw
//! with the subscriber apart (deployed like kairos) and once against the best
//! of both layouts. Every phase also reports CPU per message of the broker,
//! the load and the receiver, from /proc.

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
    channel_capacity: Option<std::num::NonZeroUsize>,
    /// Also measure the raw broker flat out (rate 0).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    raw_max: bool,
    /// Worker threads of the receiving side's runtime (kairos's).
    #[arg(long, default_value_t = 2)]
    serve_threads: usize,
    /// Rounds of raw then kairos, interleaved; the verdict is the median
    /// round (a shared 2-core machine drifts from one minute to the next).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Device state in this redb file (`kairos serve`'s default store);
    /// default: memory only.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Every phase through kairos's embedded broker instead of Mosquitto
    /// (the broker CPU columns then show an idle Mosquitto: ignore them).
    #[arg(long)]
    embedded: bool,
}

const WAIT: Duration = Duration::from_secs(60);

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.devices == 0 || args.ask_every == 0 {
        bail!("--devices and --ask-every must be positive");
    }
    let mut broker = Mosquitto::start()?;
    eprintln!(
        "mosquitto on 127.0.0.1:{} (max_queued_messages 1000000, max_inflight_messages 1000)",
        broker.port
    );
    let load = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("load")
        .enable_all()
        .build()?;

    // The receiving side on its own runtime: the raw subscriber first, then
    // kairos, as `kairos serve` would run.
    let engine_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.serve_threads)
        .thread_name("kairos")
        .enable_all()
        .build()?;
    let receiving = engine_rt.handle();

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
    if let Some(path) = &args.state {
        config.serve.state = Some(kairos::store::StateUrl::File(path.clone()));
        eprintln!("device state in {}", path.display());
    }
    let choice = if args.embedded {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        broker.port = port;
        eprintln!("every phase through the embedded broker on 127.0.0.1:{port}");
        BrokerChoice::Embedded(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
    } else {
        BrokerChoice::External(format!("mqtt://127.0.0.1:{}", broker.port).parse().unwrap())
    };
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
            broker: choice,
            offers: OfferSource::Loaded(catalog),
            roads: None,
            clock,
            ready: Some(ready),
        },
        async move {
            let _ = stopped.await;
        },
    ));
    load.block_on(async { tokio::time::timeout(WAIT, is_ready).await })
        .context("serve did not connect in time")??;
    let mut devices = load.block_on(Devices::set_up(&broker, &args))?;

    // Raw and kairos take turns, so each round compares like with like.
    let mut rounds = Vec::with_capacity(args.rounds);
    for round in 1..=args.rounds {
        eprintln!("round {round} of {}", args.rounds);
        let mut rates = vec![args.rate];
        if args.raw_max && args.rate != 0 {
            rates.push(0);
        }
        let (mut apart, mut beside) = (Vec::new(), Vec::new());
        for &rate in &rates {
            apart.push(load.block_on(raw_phase(&broker, Some(receiving), &args, rate))?);
            beside.push(load.block_on(raw_phase(&broker, None, &args, rate))?);
        }
        let kairos = load.block_on(devices.run(&broker, &args))?;
        rounds.push(Round {
            apart,
            beside,
            kairos,
        });
    }
    let outcome = load.block_on(devices.finish())?;
    let _ = stop.send(());
    let summary: ServeSummary = engine_rt.block_on(server)??;
    report(&args, &rounds, &outcome, &summary);
    Ok(())
}

/// One round: the raw phases, then kairos at the offered rate.
struct Round {
    /// Raw, the subscriber on its own runtime, where kairos runs later: a
    /// receiver deployed like kairos.
    apart: Vec<Phase>,
    /// Raw, the subscriber on the publisher's runtime.
    beside: Vec<Phase>,
    kairos: Phase,
}

impl Round {
    /// kairos's rate over the round's best raw rate with a receiver deployed
    /// like kairos.
    fn ratio_like_for_like(&self) -> f64 {
        self.kairos.rate() / best_rate(&self.apart)
    }

    /// kairos's rate over the round's best raw rate of either layout.
    fn ratio_to_best(&self) -> f64 {
        self.kairos.rate() / best_rate(&self.apart).max(best_rate(&self.beside))
    }
}

/// The highest rate among `phases`.
fn best_rate(phases: &[Phase]) -> f64 {
    phases.iter().map(Phase::rate).fold(0.0, f64::max)
}

/// What one phase measured.
struct Phase {
    label: String,
    published: u64,
    received: u64,
    seconds: f64,
    latencies_us: Vec<u32>,
    /// CPU seconds used during the phase (Linux only).
    cpu: Option<CpuUse>,
}

/// CPU seconds used so far, from /proc (Linux only): by this process's
/// threads whose name starts with each of `kairos` (the receiving side: the
/// raw subscriber, then serve) and
/// `load` (the simulated devices), and by the broker.
#[derive(Clone, Copy, Default)]
struct CpuUse {
    kairos: f64,
    load: f64,
    broker: f64,
    /// Times the broker and the receiving side went to sleep (voluntary
    /// context switches): each costs a wakeup later.
    broker_sleeps: u64,
    kairos_sleeps: u64,
}

impl CpuUse {
    fn now(broker_pid: u32) -> Option<Self> {
        let broker = PathBuf::from(format!("/proc/{broker_pid}"));
        let mut use_ = CpuUse {
            broker: stat_seconds(&broker)?,
            broker_sleeps: sleeps(&broker),
            ..CpuUse::default()
        };
        for task in std::fs::read_dir("/proc/self/task").ok()? {
            let dir = task.ok()?.path();
            let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            if comm.starts_with("kairos") {
                use_.kairos += stat_seconds(&dir).unwrap_or(0.0);
                use_.kairos_sleeps += sleeps(&dir);
            } else if comm.starts_with("load") || comm.starts_with("mqtt_load") {
                use_.load += stat_seconds(&dir).unwrap_or(0.0);
            }
        }
        Some(use_)
    }

    fn since(self, start: Self) -> Self {
        CpuUse {
            kairos: self.kairos - start.kairos,
            load: self.load - start.load,
            broker: self.broker - start.broker,
            // Saturating: a thread that ended takes its count with it.
            broker_sleeps: self.broker_sleeps.saturating_sub(start.broker_sleeps),
            kairos_sleeps: self.kairos_sleeps.saturating_sub(start.kairos_sleeps),
        }
    }
}

/// utime + stime of a process or thread (its /proc directory), in seconds.
fn stat_seconds(dir: &std::path::Path) -> Option<f64> {
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    // Fields after the parenthesised name: state is 3rd, utime 14th, stime 15th.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    // USER_HZ is 100 on every Linux this runs on.
    Some((field(14)? + field(15)?) as f64 / 100.0)
}

/// Voluntary context switches of a process or thread (its /proc directory).
fn sleeps(dir: &std::path::Path) -> u64 {
    std::fs::read_to_string(dir.join("status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

impl Phase {
    fn rate(&self) -> f64 {
        self.received as f64 / self.seconds
    }

    fn percentile(&self, p: f64) -> Option<f64> {
        percentile_ms(&self.latencies_us, p)
    }
}

/// The `p` percentile of sorted latencies in µs, in milliseconds.
fn percentile_ms(sorted_us: &[u32], p: f64) -> Option<f64> {
    let last = sorted_us.len().checked_sub(1)?;
    let i = (last as f64 * p).round() as usize;
    Some(f64::from(sorted_us[i]) / 1000.0)
}

/// Milliseconds with two decimals, or a dash.
fn ms(v: Option<f64>) -> String {
    v.map_or("–".to_string(), |v| format!("{v:.2}"))
}

fn report(args: &Args, rounds: &[Round], outcome: &Outcome, s: &ServeSummary) {
    print_phases(args, rounds);
    print_verdict(args, rounds, outcome, s);
}

/// One table row per phase of every round.
fn print_phases(args: &Args, rounds: &[Round]) {
    println!();
    println!(
        "{} devices, offered {}, {} s a phase, QoS 1, 1 ask in {}, {} rounds",
        args.devices,
        offered(args.rate),
        args.seconds,
        args.ask_every,
        rounds.len()
    );
    println!(
        "| round | run | published | received | sustained msg/s | p50 ms | p99 ms | \
         CPU µs/msg: broker | devices | receiver | all | sleeps/1000 msg: broker | receiver |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (n, round) in rounds.iter().enumerate() {
        for p in round
            .apart
            .iter()
            .chain(&round.beside)
            .chain([&round.kairos])
        {
            let per = |seconds: f64| format!("{:.1}", 1e6 * seconds / p.received.max(1) as f64);
            let per_1000 = |n: u64| format!("{:.0}", 1000.0 * n as f64 / p.received.max(1) as f64);
            let cpu = p.cpu.map_or(vec!["–".to_string(); 6], |c| {
                vec![
                    per(c.broker),
                    per(c.load),
                    per(c.kairos),
                    per(c.broker + c.load + c.kairos),
                    per_1000(c.broker_sleeps),
                    per_1000(c.kairos_sleeps),
                ]
            });
            println!(
                "| {} | {} | {} | {} | {:.0} | {} | {} | {} |",
                n + 1,
                p.label,
                p.published,
                p.received,
                p.rate(),
                ms(p.percentile(0.5)),
                ms(p.percentile(0.99)),
                cpu.join(" | "),
            );
        }
    }
    println!(
        "(CPU from /proc, the phase's CPU seconds over its messages; \
         receiver: the raw subscriber, or kairos)"
    );
}

/// Loss over the whole run, latency over every round, and the verdict.
fn print_verdict(args: &Args, rounds: &[Round], outcome: &Outcome, s: &ServeSummary) {
    // Inputs the engine stepped during the load: all but the setup, the
    // markers and its own answers when they come back to it (on MQTT 3.1.1,
    // where kairos's `{prefix}/+/+` subscription has no No Local; they are
    // dropped as no input, and counted so).
    let stepped = s
        .stepped
        .saturating_sub(outcome.setup + outcome.markers + s.dropped);
    // Overloaded inputs were never stepped: already in the difference.
    let lost = outcome.published.saturating_sub(stepped);
    let mut latencies: Vec<u32> = rounds
        .iter()
        .flat_map(|r| r.kairos.latencies_us.iter().copied())
        .collect();
    latencies.sort_unstable();
    println!();
    println!(
        "engine: received {}, stepped {} ({stepped} of the {} load events), \
         overloaded (dropped) {}, published {}; asks answered {}, unanswered {}, other suggestions {}",
        s.received,
        s.stepped,
        outcome.published,
        s.overloaded,
        s.published,
        latencies.len(),
        outcome.unanswered,
        outcome.unmatched,
    );
    if args.rate != 0 {
        // Paced: the question is whether kairos kept up, not a ratio.
        let slowest = rounds
            .iter()
            .map(|r| r.kairos.rate())
            .fold(f64::INFINITY, f64::min);
        println!(
            "kairos kept up with the offered {} ev/s in every round: {} (slowest round {slowest:.0} ev/s, \
             draining included); for the ratio to raw, run flat out (--rate 0)",
            args.rate,
            if slowest >= 0.99 * args.rate as f64 {
                "yes"
            } else {
                "NO"
            },
        );
    } else {
        println!(
            "kairos sustained, per round, of the round's best raw rate \
             (target: ≥ 80 % with zero loss):"
        );
        print_ratios(
            "with the raw subscriber deployed like kairos (its own runtime)",
            rounds.iter().map(Round::ratio_like_for_like),
        );
        print_ratios(
            "with the raw subscriber in either place",
            rounds.iter().map(Round::ratio_to_best),
        );
    }
    println!(
        "lost {lost}, of which overloaded {} (zero loss: {}); \
         ask → answer p50 {} ms, p99 {} ms (target < 5 ms at 10k devices)",
        s.overloaded,
        if lost == 0 && s.overloaded == 0 {
            "yes"
        } else {
            "NO"
        },
        ms(percentile_ms(&latencies, 0.5)),
        ms(percentile_ms(&latencies, 0.99)),
    );
}

/// One line: the rounds' ratios, and their median.
fn print_ratios(what: &str, ratios: impl Iterator<Item = f64>) {
    let mut ratios: Vec<f64> = ratios.collect();
    let listed: Vec<String> = ratios
        .iter()
        .map(|r| format!("{:.0} %", 100.0 * r))
        .collect();
    ratios.sort_by(f64::total_cmp);
    let median = match ratios.len() {
        0 => 0.0,
        n if n % 2 == 1 => ratios[n / 2],
        n => (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0,
    };
    println!(
        "  {what}: {}; median {:.0} %",
        listed.join(", "),
        100.0 * median
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

/// Publisher → Mosquitto → subscriber, no kairos, with the same client; the
/// subscriber runs on `receiving` (where kairos runs), or beside the
/// publisher when `None`.
async fn raw_phase(
    broker: &Mosquitto,
    receiving: Option<&tokio::runtime::Handle>,
    args: &Args,
    rate: u64,
) -> anyhow::Result<Phase> {
    let port = broker.port;
    let label = format!(
        "raw, {}, subscriber {}",
        offered(rate),
        if receiving.is_some() {
            "apart (where kairos runs)"
        } else {
            "beside the publisher"
        }
    );
    eprintln!("{label} ...");
    let count = phase_count(args, rate);
    let base = Instant::now();
    let (sub, mut sub_loop) = client(&format!("raw-sub-{rate}"), port);
    let (subscribed_tx, subscribed) = oneshot::channel();
    let receive = async move {
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
    };
    let receiver = match receiving {
        Some(runtime) => runtime.spawn(receive),
        None => tokio::spawn(receive),
    };
    sub.subscribe("raw/#", QoS::AtLeastOnce).await?;
    tokio::time::timeout(WAIT, subscribed).await??;

    let (publisher, pub_loop) = client(&format!("raw-pub-{rate}"), port);
    let (acked, pub_task) = drive_publisher(pub_loop);
    let devices = args.devices;
    let cpu_start = CpuUse::now(broker.child.id());
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
    let cpu = CpuUse::now(broker.child.id())
        .zip(cpu_start)
        .map(|(end, start)| end.since(start));
    let seconds = last.duration_since(start).as_secs_f64();
    wait_for_acks(&acked, count + 1).await;
    publisher.disconnect().await?;
    let _ = tokio::time::timeout(Duration::from_secs(5), pub_task).await;
    let _ = sub.disconnect().await;
    latencies.sort_unstable();
    Ok(Phase {
        label,
        published: acked.load(Ordering::Relaxed).saturating_sub(1),
        received,
        seconds,
        latencies_us: latencies,
        cpu,
    })
}

/// Events in one phase: `rate × seconds`, or a fixed count flat out.
fn phase_count(args: &Args, rate: u64) -> u64 {
    if rate == 0 {
        (args.seconds * 20_000).max(100_000)
    } else {
        rate * args.seconds
    }
}

/// "max" for flat out, else the rate in events per second.
fn offered(rate: u64) -> String {
    if rate == 0 {
        "flat out".to_string()
    } else {
        format!("{rate} ev/s")
    }
}

/// The simulated devices talking to kairos, and a listener that times the
/// answers to their asks; set up once, then run once per round.
struct Devices {
    base: Instant,
    /// Per device: when its pending `ask` was sent (µs since base, 0: none).
    pending: Arc<Vec<AtomicU64>>,
    publisher: AsyncClient,
    acked: Arc<AtomicU64>,
    pub_task: tokio::task::JoinHandle<()>,
    sub: AsyncClient,
    listener: tokio::task::JoinHandle<u64>,
    /// Answer latencies (µs), taken by each run.
    latencies: Arc<std::sync::Mutex<Vec<u32>>>,
    markers: tokio::sync::mpsc::UnboundedReceiver<Instant>,
    /// Publishes so far (setup, events and markers).
    sent: u64,
    /// Events so far, over all runs (positions keep moving across runs).
    events: u64,
}

/// What the devices saw over all runs.
struct Outcome {
    /// Load events the broker acknowledged (not the setup, not the markers).
    published: u64,
    setup: u64,
    markers: u64,
    unanswered: usize,
    unmatched: u64,
}

impl Devices {
    /// Connects the devices and their listener; every device publishes a
    /// consenting gluten-free profile (retained) and a holiday context, not
    /// timed; `ask`s make them hungry.
    async fn set_up(broker: &Mosquitto, args: &Args) -> anyhow::Result<Self> {
        let port = broker.port;
        let devices = args.devices;
        let base = Instant::now();
        let pending: Arc<Vec<AtomicU64>> =
            Arc::new((0..devices).map(|_| AtomicU64::new(0)).collect());
        let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (sub, mut sub_loop) = client("kairos-load-sub", port);
        let (subscribed_tx, subscribed) = oneshot::channel();
        let (marker_tx, markers) = tokio::sync::mpsc::unbounded_channel::<Instant>();
        let listener = tokio::spawn({
            let pending = pending.clone();
            let latencies = latencies.clone();
            async move {
                let mut subscribed_tx = Some(subscribed_tx);
                let mut unmatched = 0u64;
                loop {
                    match sub_loop.poll().await {
                        Ok(Event::Incoming(Packet::SubAck(_))) => {
                            if let Some(tx) = subscribed_tx.take() {
                                let _ = tx.send(());
                            }
                        }
                        Ok(Event::Incoming(Packet::Publish(p))) => {
                            let device = p.topic.split('/').nth(1).unwrap_or("");
                            if device == "marker" {
                                let _ = marker_tx.send(Instant::now());
                                continue;
                            }
                            let i = device
                                .strip_prefix("car-")
                                .and_then(|n| n.parse::<usize>().ok());
                            match i.map(|i| pending[i].swap(0, Ordering::Relaxed)) {
                                Some(sent) if sent > 0 => {
                                    let took = micros_since(base).saturating_sub(sent) as u32;
                                    latencies.lock().expect("not poisoned").push(took);
                                }
                                _ => unmatched += 1,
                            }
                        }
                        Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => break,
                        Ok(_) => {}
                        Err(error) => {
                            eprintln!("answer listener: {error}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
                unmatched
            }
        });
        sub.subscribe("kairos/+/suggestion", QoS::AtLeastOnce)
            .await?;
        tokio::time::timeout(WAIT, subscribed).await??;

        let (publisher, pub_loop) = client("kairos-load-pub", port);
        let (acked, pub_task) = drive_publisher(pub_loop);
        let mut this = Self {
            base,
            pending,
            publisher,
            acked,
            pub_task,
            sub,
            listener,
            latencies,
            markers,
            sent: 0,
            events: 0,
        };
        eprintln!("kairos: {devices} profiles and contexts ...");
        let setup = 2 * devices as u64;
        paced(&this.publisher, 0, setup, |k| {
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
        this.sent += setup;
        this.marker()
            .await
            .context("the engine did not take the setup in time")?;
        wait_for_acks(&this.acked, this.sent).await;
        this.latencies.lock().expect("not poisoned").clear();
        Ok(this)
    }

    /// Publishes a marker `ask` and waits for its answer: everything
    /// published before it has then been stepped (one connection, in order).
    async fn marker(&mut self) -> anyhow::Result<Instant> {
        // `publish().await`, not `try_publish`: after a flat-out burst the
        // client's request queue may still be full.
        self.publisher
            .publish("kairos/marker/ask", QoS::AtLeastOnce, false, "{}")
            .await?;
        self.sent += 1;
        tokio::time::timeout(WAIT, self.markers.recv())
            .await
            .context("no answer to the marker in time")?
            .context("answer listener stopped")
    }

    /// One phase of positions at `--rate`, every `--ask-every`-th an `ask`
    /// (when the device has none pending), timed until kairos answered the
    /// marker behind them.
    async fn run(&mut self, broker: &Mosquitto, args: &Args) -> anyhow::Result<Phase> {
        let count = phase_count(args, args.rate);
        let label = format!("kairos serve, {} (p = ask → answer)", offered(args.rate));
        eprintln!("{label}: {count} events ...");
        let devices = args.devices as u64;
        let ask_every = args.ask_every;
        let (base, first) = (self.base, self.events);
        let pending = self.pending.clone();
        let acked_before = self.acked.load(Ordering::Relaxed);
        let cpu_start = CpuUse::now(broker.child.id());
        let start = Instant::now();
        paced(&self.publisher, args.rate, count, |k| {
            let k = first + k;
            let i = (k % devices) as usize;
            if k % ask_every == ask_every - 1 && pending[i].load(Ordering::Relaxed) == 0 {
                pending[i].store(micros_since(base), Ordering::Relaxed);
                (
                    format!("kairos/car-{i}/ask"),
                    br#"{"hungry": true}"#.to_vec(),
                )
            } else {
                (
                    format!("kairos/car-{i}/position"),
                    position(base, i, k / devices),
                )
            }
        })
        .await?;
        self.events += count;
        self.sent += count;
        let drained = self.marker().await.context("the engine did not drain")?;
        let seconds = drained.duration_since(start).as_secs_f64();
        let cpu = CpuUse::now(broker.child.id())
            .zip(cpu_start)
            .map(|(end, start)| end.since(start));
        wait_for_acks(&self.acked, self.sent).await;
        let published = self
            .acked
            .load(Ordering::Relaxed)
            .saturating_sub(acked_before + 1);
        let mut latencies = std::mem::take(&mut *self.latencies.lock().expect("not poisoned"));
        latencies.sort_unstable();
        Ok(Phase {
            label,
            published,
            // Stepped, as far as the devices can tell: the marker's answer
            // came after all of them. The engine's own count, checked once
            // at the end, says whether any was lost.
            received: published,
            seconds,
            latencies_us: latencies,
            cpu,
        })
    }

    /// Disconnects the devices and the listener.
    async fn finish(self) -> anyhow::Result<Outcome> {
        let setup = 2 * self.pending.len() as u64;
        let events = self.events;
        let markers = self.sent - setup - events;
        self.publisher.disconnect().await?;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.pub_task).await;
        self.sub.disconnect().await?;
        let unmatched = self.listener.await?;
        let unanswered = self
            .pending
            .iter()
            .filter(|p| p.load(Ordering::Relaxed) != 0)
            .count();
        Ok(Outcome {
            published: self
                .acked
                .load(Ordering::Relaxed)
                .saturating_sub(setup + markers),
            setup,
            markers,
            unanswered,
            unmatched,
        })
    }
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

//! `kairos serve`, `record` and the embedded broker over real sockets: the
//! embedded rumqttd, a Mosquitto each test starts on its own free port, the real
//! `mosquitto_pub` / `mosquitto_sub`, and the built binary. Every wait has a
//! timeout so a broken build fails instead of hanging; a missing Mosquitto
//! fails loudly.

mod support;

use support::live;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use kairos::serve::{serve, BrokerChoice, Clock, OfferSource, ServeOptions, ServeSummary};
use kairos::{Catalog, Config, Engine};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use live::{data, drive, free_address, listen, Mosquitto};

const WAIT: Duration = Duration::from_secs(20);

/// A clock at the drive's start (a July lunchtime), running in real time.
fn lunchtime_clock() -> Clock {
    let clock = Clock::scaled(drive()[0].0, 1.0);
    clock.start();
    clock
}

/// Starts `serve` in-process and waits until it is subscribed.
async fn start_serve(
    broker: BrokerChoice,
    clock: Clock,
) -> (JoinHandle<ServeSummary>, CancellationToken) {
    start_serve_with(broker, clock, data("data/demo/offers.geojson"), |_| {}).await
}

/// Stops `serve` and waits for its summary.
async fn stop_serve(server: JoinHandle<ServeSummary>, stop: CancellationToken) -> ServeSummary {
    stop.cancel();
    tokio::time::timeout(WAIT, server)
        .await
        .expect("serve stops in time")
        .expect("serve ends without panicking")
}

/// Starts `serve` on `offers`, checked for changes every 50 ms.
async fn start_serve_with(
    broker: BrokerChoice,
    clock: Clock,
    offers: PathBuf,
    configure: impl FnOnce(&mut Config),
) -> (JoinHandle<ServeSummary>, CancellationToken) {
    let mut config = Config::default();
    config.serve.client_id = format!("kairos-test-{}", free_address().port());
    config.serve.offers_poll = std::time::Duration::from_millis(50);
    configure(&mut config);
    let (ready, is_ready) = oneshot::channel();
    let stop = CancellationToken::new();
    let options = ServeOptions {
        config,
        broker,
        offers: OfferSource::Paths(vec![offers]),
        roads: None,
        clock,
        ready: Some(ready),
    };
    let handle = tokio::spawn({
        let stop = stop.clone();
        async move {
            serve(options, stop.cancelled_owned())
                .await
                .expect("serve runs")
        }
    });
    tokio::time::timeout(WAIT, is_ready)
        .await
        .expect("serve subscribes in time")
        .expect("serve is ready");
    (handle, stop)
}

/// A rumqttc client subscribed to every suggestion; its messages come out of the receiver.
async fn test_client(
    broker: SocketAddr,
) -> (AsyncClient, mpsc::UnboundedReceiver<(String, Vec<u8>)>) {
    let mut options = MqttOptions::new(
        format!("test-car-{}", free_address().port()),
        broker.ip().to_string(),
        broker.port(),
    );
    options.set_max_packet_size(1 << 20, 1 << 20);
    listen(options, "kairos/+/suggestion").await
}

/// Publishes the first `n` lines of the drive, paced gently.
async fn publish_drive(client: &AsyncClient, n: usize) {
    for (_, topic, payload) in drive().into_iter().take(n) {
        let retain = topic.ends_with("/profile");
        client
            .publish(topic, QoS::AtLeastOnce, retain, payload)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn next_json(
    rx: &mut mpsc::UnboundedReceiver<(String, Vec<u8>)>,
) -> (String, serde_json::Value) {
    let (topic, payload) = tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("an answer arrives in time")
        .expect("the client is running");
    (
        topic,
        serde_json::from_slice(&payload).expect("answers are JSON"),
    )
}

fn assert_seed_suggestion(topic: &str, s: &serde_json::Value) {
    assert_eq!(topic, "kairos/car-42/suggestion");
    assert_eq!(s["merchant"]["id"], "comptoir-sans-gluten", "{s}");
    assert_eq!(s["offer"]["id"], "lunch-gf", "{s}");
    assert_eq!(
        s["message"],
        "Gluten-free holiday lunch — 3 km ahead, on your right"
    );
}

/// `mosquitto_pub` one message (QoS 1).
fn mosquitto_pub(port: u16, topic: &str, payload: &[u8], retain: bool) {
    mosquitto_pub_with(port, topic, payload, retain, &[]);
}

/// `mosquitto_pub` one message (QoS 1) with more arguments (`-V mqttv5`).
fn mosquitto_pub_with(port: u16, topic: &str, payload: &[u8], retain: bool, extra: &[&str]) {
    let mut cmd = Command::new("mosquitto_pub");
    cmd.args(extra);
    cmd.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-q",
        "1",
        "-t",
        topic,
    ])
    .arg("-m")
    .arg(String::from_utf8_lossy(payload).as_ref());
    if retain {
        cmd.arg("-r");
    }
    let status = cmd.status().expect(
        "mosquitto_pub must be installed for this test (apt-get install mosquitto-clients)",
    );
    assert!(status.success(), "mosquitto_pub failed on {topic}");
}

/// A running `mosquitto_sub` on every suggestion; its payloads come out of `messages`.
struct Sub {
    child: Child,
    messages: std::sync::mpsc::Receiver<String>,
}

impl Sub {
    /// Starts it and waits until it is subscribed.
    fn start(port: u16) -> Self {
        Self::start_with(port, &[])
    }

    /// [`Sub::start`] with more arguments (`-V mqttv5`).
    fn start_with(port: u16, extra: &[&str]) -> Self {
        Command::new("mosquitto_sub").arg("--help").output().expect(
            "mosquitto_sub must be installed for this test (apt-get install mosquitto-clients)",
        );
        // stdbuf: mosquitto_sub's stdout is block-buffered on a pipe.
        let mut child = Command::new("stdbuf")
            .args(["-oL", "mosquitto_sub"])
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-d"])
            .args(["-t", "kairos/+/suggestion"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "mosquitto_sub must be installed for this test (apt-get install mosquitto-clients)",
            );
        let stdout = child.stdout.take().unwrap();
        let (tx, messages) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let sub = Self { child, messages };
        sub.wait_for(|l| l.contains("SUBACK"));
        sub
    }

    /// The next output line that holds, within the test timeout.
    fn wait_for(&self, found: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self
                .messages
                .recv_timeout(left)
                .expect("mosquitto_sub got the expected line in time");
            if found(&line) {
                return line;
            }
        }
    }

    fn next_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.wait_for(|l| l.starts_with('{'))).unwrap()
    }
}

impl Drop for Sub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_the_embedded_broker_answers_a_drive_with_the_seed_suggestion() {
    let listen = free_address();
    let (server, stop) = start_serve(BrokerChoice::Embedded(listen), lunchtime_clock()).await;
    let (car, mut answers) = test_client(listen).await;
    publish_drive(&car, 5).await;
    let (topic, suggestion) = next_json(&mut answers).await;
    assert_seed_suggestion(&topic, &suggestion);
    let summary = stop_serve(server, stop).await;
    assert!(summary.published >= 1, "{summary:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_mosquitto_answers_mosquitto_pub_on_mosquitto_sub() {
    let broker = Mosquitto::start();
    let (server, stop) = start_serve(
        BrokerChoice::External(broker.url().parse().unwrap()),
        lunchtime_clock(),
    )
    .await;
    let sub = Sub::start(broker.port);
    for (_, topic, payload) in drive().into_iter().take(4) {
        mosquitto_pub(broker.port, &topic, &payload, topic.ends_with("/profile"));
    }
    assert_seed_suggestion("kairos/car-42/suggestion", &sub.next_json());
    stop_serve(server, stop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_speaks_mqtt_5_to_mosquitto_and_is_not_sent_its_own_answers() {
    let broker = Mosquitto::start();
    let (server, stop) = start_serve(
        BrokerChoice::External(broker.url().parse().unwrap()),
        lunchtime_clock(),
    )
    .await;
    let sub = Sub::start_with(broker.port, &["-V", "mqttv5"]);
    let inputs: Vec<_> = drive().into_iter().take(4).collect();
    for (i, (_, topic, payload)) in inputs.iter().enumerate() {
        // Both versions of client talk to it through the same broker.
        let version: &[&str] = if i % 2 == 0 { &["-V", "mqttv5"] } else { &[] };
        mosquitto_pub_with(
            broker.port,
            topic,
            payload,
            topic.ends_with("/profile"),
            version,
        );
    }
    assert_seed_suggestion("kairos/car-42/suggestion", &sub.next_json());
    // Time for an echo of the suggestion to come back, if the broker sent one.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let summary = stop_serve(server, stop).await;
    // MQTT 5 with No Local: kairos received the drive and none of its own
    // outputs (on 3.1.1 the suggestion comes back to it).
    assert!(summary.published >= 1, "{summary:?}");
    assert_eq!(summary.received, inputs.len() as u64, "{summary:?}");
}

/// What [`proxy`] does with a connection, given its number (from 0) and the
/// protocol level of its CONNECT.
#[derive(Clone, Copy)]
enum Treat {
    /// Pass it on to the broker behind.
    Pass,
    /// Answer the way a 3.1.1-only broker answers MQTT 5: a 3.1.1 CONNACK
    /// "unacceptable protocol version", then close.
    Refuse,
    /// Close it without a word (a proxy whose broker is not up yet).
    Cut,
}

/// A listener in front of `upstream` that reads each CONNECT and treats the
/// connection as `treat` says. The protocol level of every CONNECT it saw
/// comes out of the receiver.
async fn proxy(
    upstream: u16,
    treat: impl Fn(usize, u8) -> Treat + Send + Sync + 'static,
) -> (u16, mpsc::UnboundedReceiver<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (levels, seen) = mpsc::unbounded_channel();
    let treat = std::sync::Arc::new(treat);
    tokio::spawn(async move {
        for n in 0.. {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let levels = levels.clone();
            let treat = treat.clone();
            tokio::spawn(async move {
                // Fixed header, then "\0\x04MQTT" and the protocol level.
                let mut connect = vec![0u8; 2];
                socket.read_exact(&mut connect).await?;
                while connect[connect.len() - 1] & 0x80 != 0 {
                    connect.push(socket.read_u8().await?);
                }
                let header = connect.len();
                connect.resize(header + 7, 0);
                socket.read_exact(&mut connect[header..]).await?;
                let level = connect[header + 6];
                let _ = levels.send(level);
                match treat(n, level) {
                    Treat::Refuse => {
                        socket.write_all(&[0x20, 0x02, 0x00, 0x01]).await?;
                        return socket.shutdown().await;
                    }
                    Treat::Cut => return socket.shutdown().await,
                    Treat::Pass => {}
                }
                let mut broker = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await?;
                broker.write_all(&connect).await?;
                tokio::io::copy_bidirectional(&mut socket, &mut broker).await?;
                Ok::<(), std::io::Error>(())
            });
        }
    });
    (port, seen)
}

/// A broker in front of `upstream` that speaks only MQTT 3.1.1.
async fn mqtt_311_only_broker(upstream: u16) -> (u16, mpsc::UnboundedReceiver<u8>) {
    proxy(upstream, |_, level| {
        if level == 4 {
            Treat::Pass
        } else {
            Treat::Refuse
        }
    })
    .await
}

/// Every protocol level the proxy has seen so far.
fn levels_seen(levels: &mut mpsc::UnboundedReceiver<u8>) -> Vec<u8> {
    let mut seen = Vec::new();
    while let Ok(level) = levels.try_recv() {
        seen.push(level);
    }
    seen
}

/// Serves through the listener on `port` in front of `broker`: the start of
/// the drive goes in through the broker, the seed suggestion comes out, and
/// serve stops. Its summary, and how many inputs the drive sent.
async fn serve_through(broker: &Mosquitto, port: u16) -> (ServeSummary, u64) {
    let (server, stop) = start_serve(
        BrokerChoice::External(format!("mqtt://127.0.0.1:{port}").parse().unwrap()),
        lunchtime_clock(),
    )
    .await;
    let sub = Sub::start(broker.port);
    let inputs: Vec<_> = drive().into_iter().take(4).collect();
    for (_, topic, payload) in &inputs {
        mosquitto_pub(broker.port, topic, payload, topic.ends_with("/profile"));
    }
    assert_seed_suggestion("kairos/car-42/suggestion", &sub.next_json());
    // Time for an echo of the suggestion to come back, if the broker sends one.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let summary = stop_serve(server, stop).await;
    (summary, inputs.len() as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_refuses_mqtt_5_gets_mqtt_3_1_1() {
    let broker = Mosquitto::start();
    let (port, mut levels) = mqtt_311_only_broker(broker.port).await;
    let (summary, inputs) = serve_through(&broker, port).await;
    // MQTT 5 once, then 3.1.1, kept once connected.
    assert_eq!(levels_seen(&mut levels), [5, 4]);
    // 3.1.1 has no No Local: kairos's own suggestion came back to it.
    assert!(summary.received > inputs, "{summary:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_not_ready_at_first_still_gets_mqtt_5_once_it_is() {
    let broker = Mosquitto::start();
    // The first two connections are cut right after their CONNECT, whatever
    // the version, as a proxy does while its MQTT 5 broker starts.
    let (port, mut levels) = proxy(
        broker.port,
        |n, _| {
            if n < 2 {
                Treat::Cut
            } else {
                Treat::Pass
            }
        },
    )
    .await;
    let (summary, inputs) = serve_through(&broker, port).await;
    // MQTT 5 cut off, 3.1.1 cut off, then MQTT 5 again, which stays.
    assert_eq!(levels_seen(&mut levels), [5, 4, 5]);
    // MQTT 5 with No Local: none of kairos's own outputs came back to it.
    assert_eq!(summary.received, inputs, "{summary:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_keeps_answering_with_its_state_when_mosquitto_restarts_mid_drive() {
    let port = free_address().port();
    let mut broker = Mosquitto::on_port(port);
    let (server, stop) = start_serve(
        BrokerChoice::External(broker.url().parse().unwrap()),
        lunchtime_clock(),
    )
    .await;
    let lines = drive();
    {
        // Profile and context, then an `ask` with no position yet: its answer
        // proves the engine holds both before the broker goes away.
        let sub = Sub::start(port);
        for (_, topic, payload) in &lines[..2] {
            mosquitto_pub(port, topic, payload, topic.ends_with("/profile"));
        }
        mosquitto_pub(port, "kairos/car-42/ask", b"{}", false);
        assert_eq!(sub.next_json()["none"], "no_position");
    }
    broker.stop();
    // Without persistence the new broker knows nothing: no retained profile.
    let broker = Mosquitto::on_port(port);
    let sub = Sub::start(port);
    let positions: Vec<_> = lines
        .iter()
        .filter(|l| l.1.ends_with("/position"))
        .collect();
    let deadline = std::time::Instant::now() + WAIT;
    let suggestion = 'drive: loop {
        for (_, topic, payload) in &positions {
            assert!(
                std::time::Instant::now() < deadline,
                "no suggestion after the restart"
            );
            mosquitto_pub(port, topic, payload, false);
            if let Ok(line) = sub.messages.recv_timeout(Duration::from_millis(500)) {
                if line.starts_with('{') {
                    break 'drive serde_json::from_str::<serde_json::Value>(&line).unwrap();
                }
            }
        }
    };
    assert_eq!(
        suggestion["merchant"]["id"], "comptoir-sans-gluten",
        "{suggestion}"
    );
    assert_eq!(suggestion["offer"]["id"], "lunch-gf");
    stop_serve(server, stop).await;
    drop(broker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_live_session_replays_to_the_same_suggestions() {
    let listen = free_address();
    let clock = lunchtime_clock();
    let (server, stop) = start_serve(BrokerChoice::Embedded(listen), clock.clone()).await;
    let (car, mut answers) = test_client(listen).await;

    let trace_path = std::env::temp_dir().join(format!(
        "kairos-record-{}-{}.jsonl",
        std::process::id(),
        listen.port()
    ));
    let (recording, is_recording) = oneshot::channel();
    let stop_recording = CancellationToken::new();
    let recorder = tokio::spawn({
        let stop = stop_recording.clone();
        let path = trace_path.clone();
        async move {
            let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
            let options = kairos::serve::record::RecordOptions {
                config: Config::default(),
                broker: format!("mqtt://{listen}").parse().unwrap(),
                clock,
                ready: Some(recording),
            };
            kairos::serve::record::record(options, &mut file, stop.cancelled_owned())
                .await
                .expect("record runs")
        }
    });
    tokio::time::timeout(WAIT, is_recording)
        .await
        .expect("record subscribes in time")
        .unwrap();

    publish_drive(&car, 10).await;
    let (topic, live) = next_json(&mut answers).await;
    assert_seed_suggestion(&topic, &live);
    // Everything published has been received by now or very soon.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_recording.cancel();
    let written = tokio::time::timeout(WAIT, recorder).await.unwrap().unwrap();
    assert_eq!(written, 10);
    stop_serve(server, stop).await;

    let (catalog, _) = Catalog::load(&[data("data/demo/offers.geojson")]).unwrap();
    let mut engine = Engine::new(Config::default().engine, Arc::new(catalog));
    let trace = std::fs::File::open(&trace_path).unwrap();
    let mut out = Vec::new();
    kairos::replay::replay(
        &mut engine,
        BufReader::new(trace),
        &mut out,
        &mut Vec::new(),
    )
    .unwrap();
    let _ = std::fs::remove_file(&trace_path);
    let replayed: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(replayed.len(), 1, "{replayed:?}");
    let again = &replayed[0]["payload"];
    assert_seed_suggestion(replayed[0]["topic"].as_str().unwrap(), again);
    for key in [
        "merchant",
        "offer",
        "message",
        "distance_m",
        "bearing",
        "side",
        "eta_s",
        "reasons",
    ] {
        assert_eq!(again[key], live[key], "{key}");
    }
}

/// A temporary offers file holding `text`.
fn offers_file(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "kairos-offers-{}-{name}.geojson",
        std::process::id()
    ));
    std::fs::write(&path, text).unwrap();
    path
}

/// Publishes profile, context and the first position of the drive, then
/// `ask`s until the answer is a suggestion (or the test timeout).
async fn ask_until_suggested(
    car: &AsyncClient,
    answers: &mut mpsc::UnboundedReceiver<(String, Vec<u8>)>,
) -> serde_json::Value {
    publish_drive(car, 3).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no suggestion in time"
        );
        car.publish("kairos/car-42/ask", QoS::AtLeastOnce, false, "{}")
            .await
            .unwrap();
        let (_, answer) = next_json(answers).await;
        if answer.get("none").is_none() {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_swaps_in_offers_written_while_it_runs() {
    let listen = free_address();
    let file = offers_file("reload", r#"{"type": "FeatureCollection", "features": []}"#);
    let (server, stop) = start_serve_with(
        BrokerChoice::Embedded(listen),
        lunchtime_clock(),
        file.clone(),
        |_| {},
    )
    .await;
    let (car, mut answers) = test_client(listen).await;
    publish_drive(&car, 3).await;
    car.publish("kairos/car-42/ask", QoS::AtLeastOnce, false, "{}")
        .await
        .unwrap();
    assert_eq!(next_json(&mut answers).await.1["none"], "nothing_fits");
    std::fs::write(
        &file,
        std::fs::read_to_string(data("data/demo/offers.geojson")).unwrap(),
    )
    .unwrap();
    let suggestion = ask_until_suggested(&car, &mut answers).await;
    assert_eq!(suggestion["offer"]["id"], "lunch-gf", "{suggestion}");
    stop_serve(server, stop).await;
    let _ = std::fs::remove_file(&file);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_file_that_fails_to_load_leaves_the_previous_set_in_service() {
    let listen = free_address();
    let file = offers_file(
        "broken",
        &std::fs::read_to_string(data("data/demo/offers.geojson")).unwrap(),
    );
    let (server, stop) = start_serve_with(
        BrokerChoice::Embedded(listen),
        lunchtime_clock(),
        file.clone(),
        |_| {},
    )
    .await;
    let (car, mut answers) = test_client(listen).await;
    std::fs::write(&file, "{ this is not JSON").unwrap();
    // Several polls go by with the broken file in place.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let suggestion = ask_until_suggested(&car, &mut answers).await;
    assert_eq!(suggestion["offer"]["id"], "lunch-gf", "{suggestion}");
    stop_serve(server, stop).await;
    let _ = std::fs::remove_file(&file);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owntracks_phone_location_gets_the_seed_suggestion() {
    let listen = free_address();
    let (server, stop) = start_serve_with(
        BrokerChoice::Embedded(listen),
        lunchtime_clock(),
        data("data/demo/offers.geojson"),
        |c| c.serve.owntracks = true,
    )
    .await;
    let (phone, mut answers) = test_client(listen).await;
    for (_, topic, payload) in drive().into_iter().take(2) {
        let topic = topic.replace("car-42", "anna-phone");
        let retain = topic.ends_with("/profile");
        phone
            .publish(topic, QoS::AtLeastOnce, retain, payload)
            .await
            .unwrap();
    }
    // The drive's first position as OwnTracks sends it: 25 m/s is 90 km/h;
    // tst 1784116500 is 2026-07-15T11:55:00Z, the lunchtime clock's start.
    let location = r#"{"_type":"location","lat":45.9125,"lon":6.13,"cog":150,"vel":90,"acc":10,"tst":1784116500,"tid":"ap"}"#;
    phone
        .publish("owntracks/anna/phone", QoS::AtLeastOnce, false, location)
        .await
        .unwrap();
    let (topic, suggestion) = next_json(&mut answers).await;
    assert_eq!(topic, "kairos/anna-phone/suggestion");
    assert_eq!(suggestion["offer"]["id"], "lunch-gf", "{suggestion}");
    assert_eq!(suggestion["side"], "right");
    stop_serve(server, stop).await;
}

/// A burst far larger than the engine's queue (one input) loses nothing: the
/// edge waits for room instead of dropping, and the broker holds the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_larger_than_the_engine_queue_is_held_back_not_dropped() {
    let broker = Mosquitto::start();
    let address: SocketAddr = format!("127.0.0.1:{}", broker.port).parse().unwrap();
    let (server, stop) = start_serve_with(
        BrokerChoice::External(broker.url().parse().unwrap()),
        lunchtime_clock(),
        data("data/demo/offers.geojson"),
        |c| c.serve.channel_capacity = std::num::NonZeroUsize::MIN,
    )
    .await;
    let (cars, mut answers) = test_client(address).await;
    const BURST: usize = 400;
    for i in 0..BURST {
        let position = format!(r#"{{"lat": 45.9, "lon": 6.13, "speed": {}}}"#, i % 30);
        cars.publish(
            format!("kairos/car-{i}/position"),
            QoS::AtLeastOnce,
            false,
            position,
        )
        .await
        .unwrap();
    }
    // Inputs are stepped in order: the answer to this ask means all came through.
    cars.publish("kairos/last/ask", QoS::AtLeastOnce, false, "{}")
        .await
        .unwrap();
    let (topic, answer) = next_json(&mut answers).await;
    assert_eq!(topic, "kairos/last/suggestion");
    assert_eq!(answer["none"], "no_consent", "{answer}");
    let summary = stop_serve(server, stop).await;
    assert_eq!(summary.overloaded, 0, "{summary:?}");
    assert_eq!(summary.stepped, BURST as u64 + 1, "{summary:?}");
}

#[test]
fn serve_on_a_taken_port_says_so_in_one_line_and_exits_2() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(["serve", "--listen", &addr.to_string()])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        stderr,
        format!(
            "kairos: cannot listen on {addr}: address in use (another MQTT broker?). \
             Use --broker mqtt://{addr} to use that broker, or --listen 127.0.0.1:PORT for another port.\n"
        )
    );
    drop(taken);
}

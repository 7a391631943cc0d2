//! The real `kairos serve` binary as a child process (killed when dropped), and
//! the MQTT clients tests drive it with.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

pub use super::data::bundled as data;
pub use super::mosquitto::{mosquitto_binary, Mosquitto};
pub use super::net::{free_address, free_port, WAIT};

/// The demo drive: (at, topic, payload) per line.
pub fn drive() -> Vec<(chrono::DateTime<chrono::Utc>, String, Vec<u8>)> {
    std::fs::read_to_string(data("data/demo/drive.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let e = kairos::trace::parse_line(l).unwrap();
            (e.at.time, e.topic.into_owned(), e.payload.into_owned())
        })
        .collect()
}

/// A running `kairos serve`, its stderr in a file; killed (SIGKILL) on drop.
pub struct Kairos {
    child: Option<Child>,
    /// Its log (stderr).
    pub log: PathBuf,
    /// Its metrics endpoint, if started with one.
    pub metrics: Option<u16>,
}

impl Kairos {
    /// Starts `kairos serve --broker {broker} --offers {offers}` with `extra`
    /// arguments, logging to `log`, and waits until it connected.
    pub fn serve(broker: &str, offers: &Path, extra: &[&str], log: PathBuf) -> Self {
        let metrics = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_kairos"))
            .args(["serve", "--broker", broker, "--offers"])
            .arg(offers)
            .args(["--metrics", &format!("127.0.0.1:{metrics}")])
            .args(extra)
            .env("RUST_LOG", "kairos=info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("the kairos binary starts");
        let mut kairos = Self {
            child: Some(child),
            log,
            metrics: Some(metrics),
        };
        kairos.wait_log("connected to the broker");
        kairos
    }

    /// Waits until the log has a line containing `needle`; fails if the
    /// process exits first.
    pub fn wait_log(&mut self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let log = self.log_text();
            if log.contains(needle) {
                return;
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("kairos exited ({status}) before {needle:?}:\n{log}");
                }
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in kairos's log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, and waits (up to [`WAIT`]) for a clean exit; returns its code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("kairos did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// The sum of every sample of the counter `name` on its metrics endpoint.
    pub fn counter(&self, name: &str) -> f64 {
        let port = self.metrics.expect("started with --metrics");
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text.lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(['{', ' ']))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl Drop for Kairos {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What a test client receives: (topic, payload, retained).
pub type Inbox = mpsc::UnboundedReceiver<(String, Vec<u8>, bool)>;

/// A client on `options` (inflight raised to 1,000) subscribed to `filters` at
/// QoS 1, returned once the broker acknowledged every subscription; its event
/// loop runs on its own task, reconnecting after errors.
pub async fn subscribed(mut options: MqttOptions, filters: &[&str]) -> (AsyncClient, Inbox) {
    options.set_inflight(1000);
    let (client, mut eventloop) = AsyncClient::new(options, 10_000);
    let (tx, inbox) = mpsc::unbounded_channel();
    let (subscribed, is_subscribed) = tokio::sync::oneshot::channel();
    let expected = filters.len();
    tokio::spawn(async move {
        let mut subscribed = Some(subscribed);
        let mut acks = 0;
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    acks += 1;
                    if acks >= expected {
                        if let Some(s) = subscribed.take() {
                            let _ = s.send(());
                        }
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if tx.send((p.topic, p.payload.to_vec(), p.retain)).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    for filter in filters {
        client.subscribe(*filter, QoS::AtLeastOnce).await.unwrap();
    }
    if expected > 0 {
        tokio::time::timeout(WAIT, is_subscribed)
            .await
            .expect("the test client subscribes in time")
            .unwrap();
    }
    (client, inbox)
}

/// A test's MQTT client: publishes, and collects what arrives on its filters.
pub struct Client {
    /// The rumqttc handle.
    pub client: AsyncClient,
    inbox: Inbox,
}

impl Client {
    /// Connects to `port` and subscribes to `filters` (QoS 1).
    pub async fn connect(port: u16, filters: &[&str]) -> Self {
        let mut options = MqttOptions::new(format!("t-{}", free_port()), "127.0.0.1", port);
        options.set_max_packet_size(1 << 20, 1 << 20);
        let (client, inbox) = subscribed(options, filters).await;
        Self { client, inbox }
    }

    /// Publishes `payload` on `topic` (QoS 1).
    pub async fn publish(&self, topic: &str, payload: &str, retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload.as_bytes().to_vec())
            .await
            .unwrap();
    }

    /// The next message whose topic ends with `suffix`, skipping others
    /// (which are returned too, in `skipped`, for the caller to check).
    pub async fn next_on(
        &mut self,
        suffix: &str,
        skipped: &mut Vec<(String, Vec<u8>)>,
    ) -> (String, serde_json::Value) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let (topic, payload, _) = tokio::time::timeout_at(deadline, self.inbox.recv())
                .await
                .unwrap_or_else(|_| panic!("nothing on *{suffix} in time"))
                .expect("the client runs");
            if topic.ends_with(suffix) {
                let json = if payload.is_empty() {
                    serde_json::Value::Null
                } else {
                    serde_json::from_slice(&payload).unwrap()
                };
                return (topic, json);
            }
            skipped.push((topic, payload));
        }
    }

    /// Everything that arrives within `quiet` of the previous message (or of
    /// the call), then returns.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<(String, Vec<u8>, bool)> {
        let mut got = Vec::new();
        while let Ok(Some(m)) = tokio::time::timeout(quiet, self.inbox.recv()).await {
            got.push(m);
        }
        got
    }

    /// Waits until an engine answers: `ask`s from fresh probe devices until
    /// one is answered (inputs published before the engine subscribed are
    /// lost). Drops whatever else arrived meanwhile.
    pub async fn ready(&mut self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let probe = format!("probe-{}", free_port());
            self.publish(&format!("kairos/{probe}/ask"), "{}", false)
                .await;
            let want = format!("kairos/{probe}/suggestion");
            let answered = tokio::time::timeout(Duration::from_millis(700), async {
                while let Some((topic, _, _)) = self.inbox.recv().await {
                    if topic == want {
                        return;
                    }
                }
            })
            .await;
            if answered.is_ok() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no engine answered in time"
            );
        }
    }

    /// Publishes a malformed context for a fresh barrier device and waits for
    /// its error: one engine handles inputs in the order they were published,
    /// so every input published before it has then been handled (and its
    /// state saved). Returns what arrived meanwhile, barrier errors aside.
    pub async fn barrier(&mut self) -> Vec<(String, Vec<u8>)> {
        let device = format!("barrier-{}", free_port());
        self.publish(&format!("kairos/{device}/context"), "not json", false)
            .await;
        let mut skipped = Vec::new();
        let want = format!("kairos/{device}/error");
        loop {
            let (topic, _) = self.next_on(&want, &mut skipped).await;
            if topic == want {
                skipped.retain(|(t, _)| !t.starts_with("kairos/barrier-"));
                return skipped;
            }
        }
    }
}

/// An offer file of museums (no opening hours, not food: always eligible
/// for a consenting device) `m1`, `m2`, ... at 100 m, 200 m, ... north of
/// [`HOME`]; returns its path inside `dir`.
pub fn museums(dir: &Path, count: usize) -> PathBuf {
    let features: Vec<String> = (1..=count)
        .map(|i| {
            let lat = HOME.0 + 0.0009 * i as f64;
            format!(
                r#"{{"type":"Feature","geometry":{{"type":"Point","coordinates":[{lon},{lat}]}},
                   "properties":{{"id":"m{i}","name":"Museum {i}","tourism":"museum"}}}}"#,
                lon = HOME.1
            )
        })
        .collect();
    let path = dir.join("museums.geojson");
    std::fs::write(
        &path,
        format!(
            r#"{{"type":"FeatureCollection","features":[{}]}}"#,
            features.join(",")
        ),
    )
    .unwrap();
    path
}

/// Where the test devices stand (lat, lon): Annecy.
pub const HOME: (f64, f64) = (45.9, 6.12);

/// A fresh position at [`HOME`] (no `ts`: the receive time).
pub fn position() -> String {
    format!(r#"{{"lat":{},"lon":{},"accuracy":10}}"#, HOME.0, HOME.1)
}

/// The merchant id of a suggestion payload (`None` for `{"none": ..}`).
pub fn merchant(suggestion: &serde_json::Value) -> Option<String> {
    suggestion["merchant"]["id"].as_str().map(str::to_string)
}

/// Counts messages per device on topics ending with `suffix`.
pub fn per_device<'a>(
    messages: impl IntoIterator<Item = &'a (String, Vec<u8>, bool)>,
    suffix: &str,
) -> BTreeMap<String, Vec<serde_json::Value>> {
    let mut by_device: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for (topic, payload, _) in messages {
        if let Some(device) = topic
            .strip_suffix(suffix)
            .and_then(|t| t.strip_prefix("kairos/"))
        {
            let json = serde_json::from_slice(payload).unwrap_or(serde_json::Value::Null);
            by_device.entry(device.to_string()).or_default().push(json);
        }
    }
    by_device
}

/// A rumqttc client on `options`, subscribed to `filter` at QoS 1 (returned
/// once the broker acknowledged it); every message (topic, payload) comes out
/// of the receiver.
pub async fn listen(
    options: MqttOptions,
    filter: &str,
) -> (AsyncClient, mpsc::UnboundedReceiver<(String, Vec<u8>)>) {
    let (client, mut eventloop) = AsyncClient::new(options, 100);
    let (tx, rx) = mpsc::unbounded_channel();
    let (subscribed, is_subscribed) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut subscribed = Some(subscribed);
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(s) = subscribed.take() {
                        let _ = s.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if tx.send((p.topic, p.payload.to_vec())).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
    tokio::time::timeout(WAIT, is_subscribed)
        .await
        .expect("the test client subscribes in time")
        .unwrap();
    (client, rx)
}

//! The shipped Mosquitto deployment (`deploy/mosquitto/`) keeps devices apart
//! (SPEC "Access"), with real clients over its TLS listener and a real
//! `serve` logged in with kairos's own account.
//!
//! The test starts a Mosquitto of its own with the shipped `conf.d/access.conf`
//! (paths moved into a temporary folder, the port a free one) and the shipped
//! `acl` as is, under a main file of its own (no persistence: the shipped main
//! file's other blocks are not what is tested here). Certificates for
//! `localhost` are made with `rcgen`, the password file with the real
//! `mosquitto_passwd`: kairos's account and two devices, `device-a` and
//! `device-b`. A missing Mosquitto fails loudly.
//!
//! No wait here is a guess: every "nothing arrived" is read after a later
//! message that had to come after it (one publisher's messages reach a
//! subscriber in order, and kairos answers in the order it reads).

mod support;

use support::live;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use kairos::config::ServeConfig;
use kairos::serve::{serve, BrokerChoice, Clock, OfferSource, ServeOptions, ServeSummary};
use kairos::Config;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rumqttc::{
    AsyncClient, Event, MqttOptions, Packet, QoS, SubscribeReasonCode, TlsConfiguration, Transport,
};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use live::{free_port, merchant, museums, position, Mosquitto, WAIT};

/// The shipped files, from the repository.
fn shipped(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/mosquitto")
        .join(path)
}

/// Where the shipped files expect to be installed.
const INSTALLED: &str = "/etc/mosquitto/kairos";
const ENGINE: (&str, &str) = ("kairos.engine", "engine-secret-for-tests");
const A: (&str, &str) = ("device-a", "a-secret-for-tests");
const B: (&str, &str) = ("device-b", "b-secret-for-tests");

/// Writes `text` to `path`, readable by the `mosquitto` user Mosquitto drops
/// to when started as root.
fn write_readable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    make_readable(path, 0o644);
}

fn make_readable(path: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
}

/// A CA and a server certificate for `localhost` signed by it, written where
/// the shipped `access.conf` names them (under `root/certs/`); returns the CA.
fn make_certificates(root: &Path) -> PathBuf {
    let certs = root.join("certs");
    std::fs::create_dir(&certs).unwrap();
    make_readable(&certs, 0o755);
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "kairos access test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    write_readable(&certs.join("server.pem"), &server_cert.pem());
    write_readable(&certs.join("server.key"), &server_key.serialize_pem());
    let ca = certs.join("ca.pem");
    write_readable(&ca, &ca_cert.pem());
    ca
}

/// The shipped access configuration on a Mosquitto of our own; killed on drop.
struct ShippedMosquitto {
    _broker: Mosquitto,
    port: u16,
    ca: PathBuf,
}

impl ShippedMosquitto {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        make_readable(root, 0o755);
        let ca = make_certificates(root);
        let passwords = root.join("passwords");
        for (i, (user, password)) in [ENGINE, A, B].into_iter().enumerate() {
            let status = Command::new("mosquitto_passwd")
                .args(if i == 0 {
                    &["-c", "-b"][..]
                } else {
                    &["-b"][..]
                })
                .arg(&passwords)
                .args([user, password])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect(
                    "mosquitto_passwd must be installed for this test (apt-get install mosquitto)",
                );
            assert!(status.success(), "mosquitto_passwd failed");
        }
        make_readable(&passwords, 0o644);

        let main = std::fs::read_to_string(shipped("mosquitto.conf")).unwrap();
        assert!(
            main.lines()
                .any(|l| l.trim() == format!("include_dir {INSTALLED}/conf.d")),
            "the shipped mosquitto.conf includes conf.d/"
        );
        let access = std::fs::read_to_string(shipped("conf.d/access.conf")).unwrap();
        assert!(
            access.lines().any(|l| l.trim() == "listener 8883"),
            "the shipped TLS listener is on 8883"
        );
        let port = free_port();
        let access = access
            .replace(INSTALLED, &root.display().to_string())
            .replace("listener 8883\n", &format!("listener {port} localhost\n"));
        let conf_d = root.join("conf.d");
        std::fs::create_dir(&conf_d).unwrap();
        make_readable(&conf_d, 0o755);
        write_readable(&conf_d.join("access.conf"), &access);
        write_readable(
            &root.join("acl"),
            &std::fs::read_to_string(shipped("acl")).unwrap(),
        );
        let main = root.join("mosquitto.conf");
        write_readable(
            &main,
            &format!(
                "persistence false\nlog_dest stderr\ninclude_dir {}\n",
                conf_d.display()
            ),
        );
        let broker = Mosquitto::with_config(dir, main, &[port]);
        Self {
            _broker: broker,
            port,
            ca,
        }
    }

    fn url(&self) -> String {
        format!("mqtts://localhost:{}", self.port)
    }

    /// TLS trusting the test CA, as kairos's own configuration builds it.
    fn tls(&self) -> TlsConfiguration {
        let config = ServeConfig {
            ca_file: Some(self.ca.clone()),
            ..ServeConfig::default()
        };
        kairos::serve::tls::client_tls(&config).unwrap()
    }

    /// Client options on the TLS listener, logged in as `login` if any.
    fn options(&self, login: Option<(&str, &str)>) -> MqttOptions {
        let user = login.map_or("anonymous", |(user, _)| user);
        let id = format!("{user}-{}", free_port());
        let mut options = MqttOptions::new(id, "localhost", self.port);
        options.set_transport(Transport::Tls(self.tls()));
        if let Some((user, password)) = login {
            options.set_credentials(user, password);
        }
        options
    }
}

/// A device (or any client) on the broker: what it receives, and the SUBACK
/// of each of its subscriptions.
struct Device {
    name: &'static str,
    client: AsyncClient,
    inbox: mpsc::UnboundedReceiver<Received>,
    subacks: mpsc::UnboundedReceiver<Vec<SubscribeReasonCode>>,
    /// Everything read so far, in order.
    seen: Vec<Received>,
}

#[derive(Debug, Clone)]
struct Received {
    topic: String,
    payload: Vec<u8>,
    retain: bool,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.payload).unwrap_or(Value::Null)
    }
}

impl Device {
    async fn connect(broker: &ShippedMosquitto, login: (&'static str, &str)) -> Self {
        let (client, mut eventloop) = AsyncClient::new(broker.options(Some(login)), 100);
        let (tx, inbox) = mpsc::unbounded_channel();
        let (ack_tx, subacks) = mpsc::unbounded_channel();
        let (connected, is_connected) = oneshot::channel();
        tokio::spawn(async move {
            let mut connected = Some(connected);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        if let Some(c) = connected.take() {
                            let _ = c.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(ack))) => {
                        let _ = ack_tx.send(ack.return_codes);
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let received = Received {
                            topic: p.topic,
                            payload: p.payload.to_vec(),
                            retain: p.retain,
                        };
                        if tx.send(received).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
                }
            }
        });
        tokio::time::timeout(WAIT, is_connected)
            .await
            .unwrap_or_else(|_| panic!("{} connects in time", login.0))
            .unwrap();
        Self {
            name: login.0,
            client,
            inbox,
            subacks,
            seen: Vec::new(),
        }
    }

    /// Subscribes to `filter` (QoS 1) and returns whether the broker granted it.
    async fn subscribe(&mut self, filter: &str) -> bool {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .unwrap();
        let codes = tokio::time::timeout(WAIT, self.subacks.recv())
            .await
            .expect("a SUBACK in time")
            .unwrap();
        !matches!(codes.as_slice(), [SubscribeReasonCode::Failure])
    }

    /// Publishes on `kairos/{device}/{kind}` (QoS 1).
    async fn publish(&self, device: &str, kind: &str, payload: &str, retain: bool) {
        self.client
            .publish(
                format!("kairos/{device}/{kind}"),
                QoS::AtLeastOnce,
                retain,
                payload.as_bytes().to_vec(),
            )
            .await
            .unwrap();
    }

    /// Publishes one of its own inputs.
    async fn send(&self, kind: &str, payload: &str) {
        self.publish(self.name, kind, payload, kind == "profile")
            .await;
    }

    /// Reads until a message on `topic` arrives, and returns it (everything
    /// read on the way is kept in `seen`).
    async fn until(&mut self, topic: &str) -> Received {
        loop {
            let received = tokio::time::timeout(WAIT, self.inbox.recv())
                .await
                .unwrap_or_else(|_| panic!("{}: nothing on {topic} in time", self.name))
                .unwrap();
            self.seen.push(received.clone());
            if received.topic == topic {
                return received;
            }
        }
    }

    /// Whether anything read so far was on another device's topics.
    fn foreign(&self) -> Vec<&Received> {
        let own = format!("kairos/{}/", self.name);
        self.seen
            .iter()
            .filter(|r| !r.topic.starts_with(&own))
            .collect()
    }
}

/// `serve` logged in as kairos's own account over TLS, on three museums
/// (m1, m2, m3: 100, 200, 300 m north of HOME).
async fn start_serve(
    broker: &ShippedMosquitto,
    offers_dir: &Path,
) -> (tokio::task::JoinHandle<ServeSummary>, CancellationToken) {
    let mut config = Config::default();
    config.serve.client_id = format!("kairos-access-{}", broker.port);
    config.serve.ca_file = Some(broker.ca.clone());
    config.serve.username = Some(ENGINE.0.into());
    config.serve.password = Some(ENGINE.1.into());
    let (ready, is_ready) = oneshot::channel();
    let options = ServeOptions {
        config,
        broker: BrokerChoice::External(broker.url().parse().unwrap()),
        offers: OfferSource::Paths(vec![museums(offers_dir, 3)]),
        roads: None,
        clock: Clock::System,
        ready: Some(ready),
    };
    let stop = CancellationToken::new();
    let server = tokio::spawn({
        let stop = stop.clone();
        async move {
            serve(options, stop.cancelled_owned())
                .await
                .expect("serve runs with kairos's account")
        }
    });
    tokio::time::timeout(WAIT, is_ready)
        .await
        .expect("serve connects and subscribes in time")
        .expect("serve is ready");
    (server, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_shipped_mosquitto_a_device_reads_and_changes_only_its_own_topics() {
    let broker = ShippedMosquitto::start();
    let offers = tempfile::tempdir().unwrap();
    let (server, stop) = start_serve(&broker, offers.path()).await;
    let mut a = Device::connect(&broker, A).await;
    let mut b = Device::connect(&broker, B).await;
    let mut legit_inputs = 0;

    // A listens as widely as it may, and on B's outputs by name. The
    // wildcard is its positive control: A's own answers come through it.
    assert!(a.subscribe("kairos/#").await, "a wildcard is granted");
    for topic in ["suggestion", "error", "data", "profile"] {
        // Denied at SUBACK, or granted and never delivered: both keep B apart,
        // and what arrives is checked below either way.
        let _ = a.subscribe(&format!("kairos/device-b/{topic}")).await;
    }
    for topic in ["suggestion", "error", "data"] {
        assert!(b.subscribe(&format!("kairos/device-b/{topic}")).await);
    }

    // B's own traffic, end to end through kairos: its position is pushed
    // the nearest museum, its ask gets the next.
    b.send("profile", r#"{"consent":true}"#).await;
    b.send("position", &position()).await;
    b.send("ask", "{}").await;
    legit_inputs += 3;
    let pushed = b.until("kairos/device-b/suggestion").await.json();
    assert_eq!(merchant(&pushed).as_deref(), Some("m1"), "{pushed}");
    let asked = b.until("kairos/device-b/suggestion").await.json();
    assert_eq!(merchant(&asked).as_deref(), Some("m2"), "{asked}");

    // A acts for B: the broker drops all of it, kairos sees none of it.
    a.publish("device-b", "forget", "{}", false).await;
    a.publish("device-b", "profile", r#"{"consent":false}"#, true)
        .await;
    a.publish(
        "device-b",
        "feedback",
        r#"{"merchant":"m3","action":"block_merchant"}"#,
        false,
    )
    .await;
    a.publish("device-b", "position", r#"{"lat":48.85,"lon":2.35}"#, false)
        .await;
    a.publish("device-b", "ask", "{}", false).await;
    a.publish("device-b", "export", "{}", false).await;
    // Nor may A speak for kairos.
    let fake = json!({"id": "fake", "message": "from device-a"}).to_string();
    a.publish("device-b", "suggestion", &fake, false).await;

    // A's own inputs, after those: once A's answers are back, kairos has
    // read (or would have read) everything A published before.
    a.send("profile", r#"{"consent":true}"#).await;
    a.send("position", &position()).await;
    a.send("ask", "{}").await;
    legit_inputs += 3;
    for expect in ["m1", "m2"] {
        let own = a.until("kairos/device-a/suggestion").await.json();
        assert_eq!(merchant(&own).as_deref(), Some(expect), "{own}");
    }

    // B's state is B's own. Its next ask is answered with m3 (m1 and m2 were
    // suggested in the last 24 h; `ask` does not wait for the gap): had A's
    // forget or consent false reached kairos it would be `no_consent`, had
    // its block of m3 or its position in Paris, `nothing_fits`; had A's ask,
    // B would have heard one answer more.
    b.send("ask", "{}").await;
    legit_inputs += 1;
    let third = b.until("kairos/device-b/suggestion").await.json();
    assert_eq!(merchant(&third).as_deref(), Some("m3"), "{third}");
    // B heard kairos only: its three suggestions, nothing else.
    let heard: Vec<&str> = b.seen.iter().map(|r| r.topic.as_str()).collect();
    assert_eq!(heard, ["kairos/device-b/suggestion"; 3], "{:?}", b.seen);

    // A heard nothing of B's: B's third suggestion was published before
    // A's next answer, and A reads in order.
    a.send("ask", "{}").await;
    legit_inputs += 1;
    let again = a.until("kairos/device-a/suggestion").await.json();
    assert_eq!(merchant(&again).as_deref(), Some("m3"), "{again}");
    assert!(a.foreign().is_empty(), "A read {:?}", a.foreign());

    // Retained profiles: a new connection of A's sees its own, not B's (a
    // new one of B's sees B's, untouched by A's publish).
    let mut a2 = Device::connect(&broker, A).await;
    assert!(a2.subscribe("kairos/+/profile").await);
    let _ = a2.subscribe("kairos/device-b/profile").await;
    let mut b2 = Device::connect(&broker, B).await;
    let _ = b2.subscribe("kairos/device-b/profile").await;
    let retained = b2.until("kairos/device-b/profile").await;
    assert!(retained.retain, "{retained:?}");
    assert_eq!(retained.json()["consent"], true, "{retained:?}");
    // A's live profile comes after every retained message of its subscribes.
    a2.send("profile", r#"{"consent":true,"lang":"en"}"#).await;
    legit_inputs += 1;
    loop {
        let got = a2.until("kairos/device-a/profile").await;
        if !got.retain {
            break;
        }
    }
    assert!(
        a2.seen
            .iter()
            .any(|r| r.retain && r.topic == "kairos/device-a/profile"),
        "A's own retained profile: {:?}",
        a2.seen
    );
    assert!(a2.foreign().is_empty(), "A read {:?}", a2.foreign());

    // Once more after A's last input (nothing left to suggest), then count
    // what kairos read and wrote.
    a.send("ask", "{}").await;
    legit_inputs += 1;
    let last = a.until("kairos/device-a/suggestion").await.json();
    assert_eq!(last["none"], "nothing_fits", "{last}");
    stop.cancel();
    let summary = tokio::time::timeout(WAIT, server)
        .await
        .expect("serve stops in time")
        .unwrap();
    // MQTT 5 No Local: kairos's own outputs are not sent back to it.
    assert_eq!(summary.received, legit_inputs, "{summary:?}");
    assert_eq!(summary.published, 3 + 4, "{summary:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_mosquitto_lets_no_one_in_without_an_account() {
    let broker = ShippedMosquitto::start();
    for (who, login) in [
        ("anonymous", None),
        ("a wrong password", Some((A.0, "not-a-secret"))),
        ("an unknown user", Some(("device-c", A.1))),
    ] {
        let (_client, mut eventloop) = AsyncClient::new(broker.options(login), 10);
        let accepted = tokio::time::timeout(WAIT, async {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        return ack.code == rumqttc::ConnectReturnCode::Success
                    }
                    Ok(_) => {}
                    Err(_) => return false,
                }
            }
        })
        .await
        .expect("the broker answers in time");
        assert!(!accepted, "{who} got in");
    }
    // The control: an account gets in.
    let device = Device::connect(&broker, B).await;
    drop(device);
}

//! `kairos serve` on an external broker over TLS with a user name and
//! password: a Mosquitto started on free ports with a CA and a server
//! certificate for `localhost` made by `rcgen` in a temporary folder, a
//! password file made by `mosquitto_passwd`, and anonymous clients refused.
//!
//! Mosquitto listens twice: TLS on `localhost` (what kairos uses) and plain
//! on 127.0.0.1 (the test car, with the same password), so the test client
//! needs no TLS of its own. A missing Mosquitto fails loudly.

mod support;

use support::live;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use kairos::serve::{serve, BrokerChoice, Clock, OfferSource, ServeError, ServeOptions};
use kairos::Config;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use live::{data, drive, free_port, listen, Mosquitto};

const WAIT: Duration = Duration::from_secs(20);
const USER: &str = "kairos-engine";
const PASSWORD: &str = "s3cret-for-tests";

/// Writes `text` to `dir/name`, readable by the `mosquitto` user Mosquitto
/// drops to when started as root.
fn write_readable(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    make_readable(&path, 0o644);
    path
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

/// A CA, and a server certificate for `localhost` signed by it, as PEM files.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn make_pki(dir: &Path) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "kairos test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    Pki {
        ca: write_readable(dir, "ca.pem", &ca_cert.pem()),
        cert: write_readable(dir, "server.pem", &server_cert.pem()),
        key: write_readable(dir, "server.key", &server_key.serialize_pem()),
    }
}

/// Mosquitto with TLS on `localhost:tls_port`, plain on `127.0.0.1:plain_port`,
/// passwords required on both; killed on drop.
struct SecureMosquitto {
    _broker: Mosquitto,
    tls_port: u16,
    plain_port: u16,
    ca: PathBuf,
}

impl SecureMosquitto {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        make_readable(dir.path(), 0o755);
        let pki = make_pki(dir.path());
        let passwords = dir.path().join("passwords");
        let status = Command::new("mosquitto_passwd")
            .args(["-c", "-b"])
            .arg(&passwords)
            .args([USER, PASSWORD])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("mosquitto_passwd must be installed for this test (apt-get install mosquitto)");
        assert!(status.success(), "mosquitto_passwd failed");
        make_readable(&passwords, 0o644);
        let (tls_port, plain_port) = (free_port(), free_port());
        let conf = write_readable(
            dir.path(),
            "mosquitto.conf",
            &format!(
                "per_listener_settings false\nallow_anonymous false\npassword_file {}\npersistence false\n\
                 listener {tls_port} localhost\ncafile {}\ncertfile {}\nkeyfile {}\n\
                 listener {plain_port} 127.0.0.1\n",
                passwords.display(),
                pki.ca.display(),
                pki.cert.display(),
                pki.key.display(),
            ),
        );
        let broker = Mosquitto::with_config(dir, conf, &[tls_port, plain_port]);
        Self {
            _broker: broker,
            tls_port,
            plain_port,
            ca: pki.ca,
        }
    }

    fn tls_url(&self) -> String {
        format!("mqtts://localhost:{}", self.tls_port)
    }
}

/// The engine's configuration for this broker: its CA, the given credentials.
fn config(broker: &SecureMosquitto, user: &str, password: &str) -> Config {
    let mut config = Config::default();
    config.serve.client_id = format!("kairos-tls-{}", broker.tls_port);
    config.serve.ca_file = Some(broker.ca.clone());
    config.serve.username = Some(user.into());
    config.serve.password = Some(password.into());
    config
}

/// Options for `serve` on the broker's TLS listener, at the drive's lunchtime.
fn options(broker: &SecureMosquitto, config: Config) -> (ServeOptions, oneshot::Receiver<()>) {
    let clock = Clock::scaled(drive()[0].0, 1.0);
    clock.start();
    let (ready, is_ready) = oneshot::channel();
    let options = ServeOptions {
        config,
        broker: BrokerChoice::External(broker.tls_url().parse().unwrap()),
        offers: OfferSource::Paths(vec![data("data/demo/offers.geojson")]),
        roads: None,
        clock,
        ready: Some(ready),
    };
    (options, is_ready)
}

/// The test car on the plain listener, subscribed to every suggestion.
async fn car(
    broker: &SecureMosquitto,
) -> (AsyncClient, mpsc::UnboundedReceiver<(String, Vec<u8>)>) {
    let mut options = MqttOptions::new(
        format!("tls-test-car-{}", broker.plain_port),
        "127.0.0.1",
        broker.plain_port,
    );
    options.set_credentials(USER, PASSWORD);
    listen(options, "kairos/+/suggestion").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_over_tls_with_a_password_answers_the_demo_drive() {
    let broker = SecureMosquitto::start();
    let (options, is_ready) = options(&broker, config(&broker, USER, PASSWORD));
    let stop = CancellationToken::new();
    let server = tokio::spawn(serve(options, stop.clone().cancelled_owned()));
    tokio::time::timeout(WAIT, is_ready)
        .await
        .expect("serve connects over TLS in time")
        .expect("serve is ready");
    let (car, mut suggestions) = car(&broker).await;
    let inputs = drive().into_iter().take(5).collect::<Vec<_>>();
    let sent = inputs.len() as u64;
    for (_, topic, payload) in inputs {
        let retain = topic.ends_with("/profile");
        car.publish(topic, QoS::AtLeastOnce, retain, payload)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, payload) = tokio::time::timeout(WAIT, suggestions.recv())
        .await
        .expect("a suggestion arrives in time")
        .unwrap();
    let suggestion: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(suggestion["offer"]["id"], "lunch-gf", "{suggestion}");
    assert_eq!(
        suggestion["message"],
        "Gluten-free holiday lunch — 3 km ahead, on your right"
    );
    // Time for an echo of the suggestion to come back, if the broker sent one.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    let summary = tokio::time::timeout(WAIT, server)
        .await
        .expect("serve stops in time")
        .unwrap()
        .expect("serve ran without error");
    assert!(summary.published >= 1, "{summary:?}");
    // MQTT 5 over TLS, with No Local: none of kairos's own outputs came back.
    assert_eq!(summary.received, sent, "{summary:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_stops_serve_with_a_clear_error() {
    let broker = SecureMosquitto::start();
    let (options, _ready) = options(&broker, config(&broker, USER, "not-the-password"));
    let ended = tokio::time::timeout(WAIT, serve(options, std::future::pending()))
        .await
        .expect("serve gives up on a refused password in time");
    let error = ended.expect_err("a refused password is an error");
    assert!(
        matches!(error, ServeError::BrokerRefused { .. }),
        "{error:?}"
    );
    let line = error.to_string();
    assert!(line.contains(&broker.tls_url()), "{line}");
    assert!(line.contains("user name or password"), "{line}");
    assert!(line.contains("KAIROS_BROKER_PASSWORD"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_certificate_from_another_ca_is_refused_clearly() {
    let broker = SecureMosquitto::start();
    let other = tempfile::tempdir().unwrap();
    let stranger = make_pki(other.path());
    let mut config = config(&broker, USER, PASSWORD);
    config.serve.ca_file = Some(stranger.ca.clone());
    let (options, _ready) = options(&broker, config);
    let ended = tokio::time::timeout(WAIT, serve(options, std::future::pending()))
        .await
        .expect("serve gives up on an untrusted certificate in time");
    let line = ended
        .expect_err("an untrusted broker is an error")
        .to_string();
    assert!(line.contains("TLS handshake failed"), "{line}");
    assert!(line.contains("serve.ca_file"), "{line}");
}

#[test]
fn the_binary_exits_2_with_one_line_on_a_refused_password() {
    let broker = SecureMosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("kairos.toml");
    std::fs::write(
        &conf,
        format!(
            "[serve]\nca_file = {:?}\nusername = {USER:?}\n",
            broker.ca.display().to_string()
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(["serve", "--broker", &broker.tls_url(), "--config"])
        .arg(&conf)
        .arg("--offers")
        .arg(data("data/demo/offers.geojson"))
        .env("KAIROS_BROKER_PASSWORD", "wrong")
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with(&format!(
            "kairos: broker {} refused the connection: not authorised",
            broker.tls_url()
        )),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

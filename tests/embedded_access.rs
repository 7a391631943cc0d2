//! Who may use the embedded broker (SPEC "Access"), through the built binary
//! and real sockets: off loopback without accounts `serve` refuses in one
//! line (exit 2); with a password file made by the real `mosquitto_passwd`
//! (in a temporary folder, named by `KAIROS_EMBEDDED_USERS_FILE`) a client
//! without a valid login never gets a CONNACK and one with it is answered,
//! by a kairos that logs in with an account of its own (not in the file);
//! on loopback without accounts anyone is answered, as before.

mod support;

use support::live;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

use live::{free_port, listen, merchant, museums, position, WAIT};

const DEVICE: &str = "car-42";
const PASSWORD: &str = "correct horse battery staple";

/// A `kairos serve` on the embedded broker, its stderr in a file; stopped
/// (SIGTERM, then SIGKILL) on drop.
struct Served {
    child: Child,
    log: PathBuf,
}

impl Served {
    /// Starts `kairos serve --listen {listen}` on museum offers with `env`,
    /// and waits until its engine is connected to its own broker.
    fn start(dir: &Path, listen: &str, env: &[(&str, &Path)]) -> Self {
        let log = dir.join(format!("serve-{}.log", free_port()));
        let mut command = Command::new(env!("CARGO_BIN_EXE_kairos"));
        command
            .args(["serve", "--listen", listen, "--offers"])
            .arg(museums(dir, 2))
            .arg("--state")
            .arg(dir.join("state.redb"))
            .env_remove("KAIROS_EMBEDDED_USERS_FILE")
            .env_remove("KAIROS_BROKER_USERNAME")
            .env_remove("KAIROS_BROKER_PASSWORD")
            .env("RUST_LOG", "kairos=info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut served = Self {
            child: command.spawn().expect("the kairos binary starts"),
            log,
        };
        served.wait_log("connected to the broker");
        served
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_log(&mut self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let log = self.log_text();
            if log.contains(needle) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("kairos exited ({status}) before {needle:?}:\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(30));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + WAIT;
        while !matches!(self.child.try_wait(), Ok(Some(_))) {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    }
}

/// A password file with one account, [`DEVICE`] / [`PASSWORD`], made by
/// `mosquitto_passwd`.
fn users_file(dir: &Path) -> PathBuf {
    let path = dir.join("users");
    let status = Command::new("mosquitto_passwd")
        .args(["-c", "-b"])
        .arg(&path)
        .args([DEVICE, PASSWORD])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("mosquitto_passwd must be installed for this test (apt-get install mosquitto)");
    assert!(status.success(), "mosquitto_passwd failed");
    path
}

fn options(host: &str, port: u16, login: Option<(&str, &str)>) -> MqttOptions {
    let mut options = MqttOptions::new(format!("access-test-{}", free_port()), host, port);
    if let Some((user, password)) = login {
        options.set_credentials(user, password);
    }
    options
}

/// Whether the broker accepts a connection with `options`: `true` on a
/// CONNACK, `false` when it closes the connection without one.
async fn accepted(options: MqttOptions) -> bool {
    let (_client, mut eventloop) = AsyncClient::new(options, 10);
    tokio::time::timeout(WAIT, async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    })
    .await
    .expect("the broker answers or closes in time")
}

/// Consents, stands at HOME, asks, and returns the answer.
async fn ask(
    client: &AsyncClient,
    answers: &mut mpsc::UnboundedReceiver<(String, Vec<u8>)>,
) -> serde_json::Value {
    let topic = |kind: &str| format!("kairos/{DEVICE}/{kind}");
    for (kind, payload) in [
        ("profile", r#"{"consent":true}"#.to_string()),
        ("position", position()),
        ("ask", "{}".to_string()),
    ] {
        client
            .publish(topic(kind), QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    }
    let (topic, payload) = tokio::time::timeout(WAIT, answers.recv())
        .await
        .expect("an answer arrives in time")
        .expect("the client runs");
    assert_eq!(topic, format!("kairos/{DEVICE}/suggestion"));
    serde_json::from_slice(&payload).unwrap()
}

#[test]
fn serve_off_loopback_without_credentials_exits_2_with_one_line_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    for listen in [
        format!("0.0.0.0:{}", free_port()),
        format!("[::]:{}", free_port()),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_kairos"))
            .args(["serve", "--listen", &listen, "--offers"])
            .arg(museums(dir.path(), 1))
            .arg("--state")
            .arg(dir.path().join("state.redb"))
            .env_remove("KAIROS_EMBEDDED_USERS_FILE")
            .env("RUST_LOG", "off")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{listen}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            stderr.starts_with(&format!(
                "kairos: refusing to open the embedded broker on {listen} without credentials: \
                 anyone who can reach it could read every device's suggestions"
            )),
            "{stderr}"
        );
        assert!(stderr.contains("serve.embedded_users_file"), "{stderr}");
        assert!(stderr.contains("KAIROS_EMBEDDED_USERS_FILE"), "{stderr}");
        assert!(stderr.contains("deploy/mosquitto"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

#[test]
fn a_password_file_with_a_plain_password_stops_serve_with_one_line_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    std::fs::write(&users, format!("{DEVICE}:{PASSWORD}\n")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(["serve", "--listen", &format!("0.0.0.0:{}", free_port())])
        .arg("--offers")
        .arg(museums(dir.path(), 1))
        .arg("--state")
        .arg(dir.path().join("state.redb"))
        .env("KAIROS_EMBEDDED_USERS_FILE", &users)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        stderr,
        format!(
            "kairos: serve.embedded_users_file {}: line 1 (\"{DEVICE}\"): not a hashed password \
             (hash the file with `mosquitto_passwd -U FILE`)\n",
            users.display()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_accounts_only_a_client_that_logs_in_is_let_in_and_it_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path());
    let port = free_port();
    let served = Served::start(
        dir.path(),
        &format!("0.0.0.0:{port}"),
        &[("KAIROS_EMBEDDED_USERS_FILE", &users)],
    );
    assert!(served.log_text().contains("logins required"));

    assert!(
        !accepted(options("127.0.0.1", port, None)).await,
        "no login"
    );
    assert!(
        !accepted(options(
            "127.0.0.1",
            port,
            Some((DEVICE, "not-the-password-4711"))
        ))
        .await,
        "wrong password"
    );
    assert!(
        !accepted(options("127.0.0.1", port, Some(("kairos.engine", "")))).await,
        "kairos's own user name without its password"
    );
    assert!(
        !accepted(options("127.0.0.1", port, Some(("stranger", PASSWORD)))).await,
        "a user the file does not have"
    );

    // kairos's own account is not in the file, yet its engine answers.
    let (client, mut answers) = listen(
        options("127.0.0.1", port, Some((DEVICE, PASSWORD))),
        &format!("kairos/{DEVICE}/suggestion"),
    )
    .await;
    let answer = ask(&client, &mut answers).await;
    assert_eq!(merchant(&answer).as_deref(), Some("m1"), "{answer}");

    let log = served.log_text();
    assert!(log.contains("login refused"), "{log}");
    assert!(
        !log.contains(PASSWORD) && !log.contains("not-the-password-4711"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_loopback_without_accounts_anyone_is_answered_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // 127.0.0.2: all of 127.0.0.0/8 is loopback.
    let _served = Served::start(dir.path(), &format!("127.0.0.2:{port}"), &[]);
    let (client, mut answers) = listen(
        options("127.0.0.2", port, None),
        &format!("kairos/{DEVICE}/suggestion"),
    )
    .await;
    let answer = ask(&client, &mut answers).await;
    assert_eq!(merchant(&answer).as_deref(), Some("m1"), "{answer}");
}

//! Fault tests with real processes (SPEC, "Delivery: nothing lost, nothing
//! twice"): a burst of 1,000 QoS 1 inputs from 50 devices while kairos is
//! killed with SIGKILL and restarted, or while Mosquitto (with persistence)
//! is restarted. Every input is applied exactly once in effect, counted
//! through the outputs and the stored state:
//!
//! - each device sends 10 × (position, `ask`); every `ask` gets exactly one
//!   answer in effect: answers are told apart by their `at` (the `ask`'s
//!   receive time), so a redelivered `ask` answered again from its saved
//!   answer counts once, and one applied twice would show a second `at`;
//! - the device's stored history holds exactly the suggestions it was sent.
//!
//! The devices' profiles set a gap of a day and each device's first position
//! (before the burst) makes its one pull suggestion, so later positions make
//! none: every suggestion in the burst is an `ask`'s answer.

mod support;

use support::live;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use kairos::store::{DeviceStore, RedbStore};
use live::{free_port, position, Client, Kairos, Mosquitto, WAIT};
use rumqttc::{AsyncClient, MqttOptions, QoS};

const DEVICES: usize = 50;
const ASKS: usize = 10;

fn device(i: usize) -> String {
    format!("dev-{i:02}")
}

/// One merchant with 30 offers at 100 m: every `ask` has a new one to give.
fn offers(dir: &Path) -> std::path::PathBuf {
    let offers: Vec<String> = (0..30)
        .map(|i| format!(r#"{{"id":"o{i:02}","title":"Offer {i}"}}"#))
        .collect();
    let text = format!(
        r#"{{"type":"FeatureCollection","features":[{{"type":"Feature",
        "geometry":{{"type":"Point","coordinates":[{lon},{lat}]}},
        "properties":{{"id":"m1","name":"Museum","tourism":"museum","offers":[{}]}}}}]}}"#,
        offers.join(","),
        lat = live::HOME.0 + 0.0009,
        lon = live::HOME.1,
    );
    let path = dir.join("offers.geojson");
    std::fs::write(&path, text).unwrap();
    path
}

/// A config that lets a backlog through the rate limit (a restart delivers
/// a device's queued inputs at once).
fn config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("kairos.toml");
    std::fs::write(
        &path,
        "[engine]\nrate_per_second = 1000.0\nrate_burst = 1000\n",
    )
    .unwrap();
    path
}

/// A client with a persistent session (it survives a broker restart with
/// nothing lost), subscribed to `filters`; what arrives comes out of the
/// receiver.
async fn persistent_client(port: u16, id: &str, filters: &[&str]) -> (AsyncClient, live::Inbox) {
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options.set_clean_session(false);
    live::subscribed(options, filters).await
}

/// Answers per device, keyed by their `at`.
type Answers = BTreeMap<String, BTreeMap<String, serde_json::Value>>;

fn note(answers: &mut Answers, topic: &str, payload: &[u8]) {
    let Some(device) = topic
        .strip_prefix("kairos/")
        .and_then(|t| t.strip_suffix("/suggestion"))
    else {
        return;
    };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(payload) else {
        return;
    };
    let at = json["at"].as_str().unwrap_or_default().to_string();
    let kept = answers
        .entry(device.to_string())
        .or_default()
        .entry(at)
        .or_insert_with(|| json.clone());
    assert_eq!(*kept, json, "the same `at` answered twice, differently");
}

/// Profiles and positions: one suggestion per device; returns them.
async fn seed(publisher: &AsyncClient, inbox: &mut live::Inbox) -> Answers {
    for i in 0..DEVICES {
        let d = device(i);
        let send = |kind: &str, payload: String| {
            publisher.publish(
                format!("kairos/{d}/{kind}"),
                QoS::AtLeastOnce,
                false,
                payload,
            )
        };
        send(
            "profile",
            r#"{"consent": true, "min_gap_min": 1440}"#.into(),
        )
        .await
        .unwrap();
        // The first position makes the device's one pull suggestion; the
        // gap of a day then keeps later positions silent.
        send("position", position()).await.unwrap();
    }
    let mut answers = Answers::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while answers.values().map(BTreeMap::len).sum::<usize>() < DEVICES {
        let (topic, payload, _) = tokio::time::timeout_at(deadline, inbox.recv())
            .await
            .expect("every device gets its first suggestion")
            .unwrap();
        note(&mut answers, &topic, &payload);
    }
    answers
}

/// The burst: 10 rounds of (position, ask) for every device; `mid`s when
/// `with_mid` (a publisher that resends after a broker restart may deliver
/// twice: the `mid` makes that harmless).
async fn burst(publisher: &AsyncClient, with_mid: bool) {
    for round in 0..ASKS {
        for i in 0..DEVICES {
            let d = device(i);
            let (position, ask) = if with_mid {
                let p = position();
                (
                    format!(r#"{{{},"mid":"p-{round}"}}"#, &p[1..p.len() - 1]),
                    format!(r#"{{"mid":"a-{round}"}}"#),
                )
            } else {
                (position(), "{}".to_string())
            };
            for (kind, payload) in [("position", position), ("ask", ask)] {
                publisher
                    .publish(
                        format!("kairos/{d}/{kind}"),
                        QoS::AtLeastOnce,
                        false,
                        payload,
                    )
                    .await
                    .unwrap();
            }
        }
    }
}

/// Collects answers until every device has `1 + ASKS` distinct ones, then a
/// little more (anything extra would be a second application).
async fn collect(answers: &mut Answers, inbox: &mut live::Inbox, context: &dyn Fn() -> String) {
    let deadline = tokio::time::Instant::now() + 3 * WAIT;
    let complete =
        |a: &Answers| (0..DEVICES).all(|i| a.get(&device(i)).map_or(0, BTreeMap::len) > ASKS);
    while !complete(answers) {
        let got = tokio::time::timeout_at(deadline, inbox.recv()).await;
        let Ok(Some((topic, payload, _))) = got else {
            let short: Vec<_> = (0..DEVICES)
                .map(|i| (device(i), answers.get(&device(i)).map_or(0, BTreeMap::len)))
                .filter(|(_, n)| *n < 1 + ASKS)
                .collect();
            panic!(
                "answers missing (device, answers incl. seed): {short:?}\n{}",
                context()
            );
        };
        note(answers, &topic, &payload);
    }
    while let Ok(Some((topic, payload, _))) =
        tokio::time::timeout(Duration::from_millis(1500), inbox.recv()).await
    {
        note(answers, &topic, &payload);
    }
}

/// Every device: exactly `1 + ASKS` answers, and its stored history is
/// exactly the suggestions among them.
async fn check(answers: &Answers, state: &Path) {
    let store = RedbStore::open(state).await.unwrap();
    for i in 0..DEVICES {
        let d = device(i);
        let got = &answers[&d];
        assert_eq!(got.len(), 1 + ASKS, "{d}: one answer per ask: {got:?}");
        let suggested: BTreeSet<String> = got
            .values()
            .filter_map(|a| a["id"].as_str().map(str::to_string))
            .collect();
        let (stored, _) = store.load(&d).await.unwrap().expect("a record");
        let history: BTreeSet<String> = stored.history.iter().map(|s| s.id.clone()).collect();
        assert_eq!(
            stored.history.len(),
            history.len(),
            "{d}: no suggestion recorded twice"
        );
        assert_eq!(history, suggested, "{d}: stored history = suggestions sent");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_through_a_killed_kairos_is_applied_exactly_once() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let offers = offers(dir.path());
    let config = config(dir.path());
    let state = dir.path().join("state.redb");
    let args = [
        "--state",
        state.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ];
    let start = |n: u32| {
        Kairos::serve(
            &broker.url(),
            &offers,
            &args,
            dir.path().join(format!("k{n}.log")),
        )
    };
    let mut kairos = start(1);
    let mut probe = Client::connect(broker.port, &["kairos/+/suggestion"]).await;
    probe.ready().await;
    let (publisher, mut inbox) = persistent_client(
        broker.port,
        &format!("t-{}", free_port()),
        &["kairos/+/suggestion"],
    )
    .await;
    let mut answers = seed(&publisher, &mut inbox).await;

    burst(&publisher, false).await;
    // Killed in the middle: once a tenth of the burst is answered.
    while answers.values().map(BTreeMap::len).sum::<usize>() < DEVICES + DEVICES * ASKS / 10 {
        let (topic, payload, _) = tokio::time::timeout(WAIT, inbox.recv())
            .await
            .unwrap()
            .unwrap();
        note(&mut answers, &topic, &payload);
    }
    kairos.kill();
    let mut kairos = start(2);
    collect(&mut answers, &mut inbox, &|| kairos.log_text()).await;
    assert_eq!(kairos.stop(), Some(0), "{}", kairos.log_text());
    check(&answers, &state).await;
}

/// Mosquitto with the shipped delivery settings (deploy/mosquitto: the
/// block above `include_dir`, persistence in `dir`), on `port`.
fn persistent_mosquitto(dir: &Path, port: u16) -> Mosquitto {
    let shipped = std::fs::read_to_string(live::data("deploy/mosquitto/mosquitto.conf")).unwrap();
    let delivery: String = shipped
        .lines()
        .take_while(|l| !l.starts_with("include_dir"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        delivery.contains("persistence true"),
        "the shipped config persists"
    );
    let delivery = delivery.replace("/var/lib/mosquitto/", &format!("{}/", dir.display()));
    // Mosquitto started as root runs as user `mosquitto`: it must write here.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("{delivery}listener {port} 127.0.0.1\nallow_anonymous true\nlog_dest stderr\n"),
    )
    .unwrap();
    Mosquitto::on_config(conf, &[port])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_through_a_restarted_mosquitto_is_applied_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut broker = persistent_mosquitto(dir.path(), port);
    let url = format!("mqtt://127.0.0.1:{port}");
    let offers = offers(dir.path());
    let config = config(dir.path());
    let state = dir.path().join("state.redb");
    let args = [
        "--state",
        state.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ];
    let mut kairos = Kairos::serve(&url, &offers, &args, dir.path().join("k.log"));
    let mut probe = Client::connect(port, &["kairos/+/suggestion"]).await;
    probe.ready().await;
    drop(probe);
    let (publisher, mut inbox) = persistent_client(
        port,
        &format!("t-{}", free_port()),
        &["kairos/+/suggestion"],
    )
    .await;
    let mut answers = seed(&publisher, &mut inbox).await;

    burst(&publisher, true).await;
    while answers.values().map(BTreeMap::len).sum::<usize>() < DEVICES + DEVICES * ASKS / 10 {
        let (topic, payload, _) = tokio::time::timeout(WAIT, inbox.recv())
            .await
            .unwrap()
            .unwrap();
        note(&mut answers, &topic, &payload);
    }
    broker.terminate();
    broker.restart();
    let log = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    collect(&mut answers, &mut inbox, &|| {
        format!(
            "kairos:\n{}\nmosquitto:\n{}",
            kairos.log_text(),
            log("mosquitto.log")
        )
    })
    .await;
    assert_eq!(kairos.stop(), Some(0), "{}", kairos.log_text());
    check(&answers, &state).await;
}

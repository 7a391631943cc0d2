//! SPEC Privacy through the real binary: after `forget`, nothing about the
//! device is left in the state store (the redb file's bytes, Redis's keys)
//! nor retained on the broker.

mod support;

use support::{live, redis_server};

use std::time::Duration;

use kairos::store::{DeviceStore, RedbStore};
use live::{museums, position, Client, Kairos, Mosquitto};
use redis_server::RedisServer;

/// A device id found nowhere else.
const DEVICE: &str = "forget-me-7f3a";

/// Gives the device a retained profile, a suggestion and a block, checks
/// with `stored` that the store has it, then forgets it and waits for the
/// retained profile to be cleared.
async fn live_then_forget(broker: &Mosquitto, kairos: &mut Kairos, stored: impl Fn() -> bool) {
    let mut car = Client::connect(broker.port, &["kairos/+/suggestion", "kairos/+/error"]).await;
    car.ready().await;
    let profile = r#"{"consent": true, "diet": ["vegan"], "lang": "fr"}"#;
    car.publish(&format!("kairos/{DEVICE}/profile"), profile, true)
        .await;
    car.publish(&format!("kairos/{DEVICE}/position"), &position(), false)
        .await;
    car.publish(
        &format!("kairos/{DEVICE}/feedback"),
        r#"{"merchant": "m2", "action": "block_merchant"}"#,
        false,
    )
    .await;
    let got = car.barrier().await;
    assert_eq!(got.len(), 1, "one suggestion: {got:?}");
    assert!(stored(), "the store holds the device before forget");

    let mut watcher = Client::connect(broker.port, &[&format!("kairos/{DEVICE}/profile")]).await;
    let retained = watcher.drain(Duration::from_millis(500)).await;
    assert!(
        retained
            .iter()
            .any(|(_, p, retain)| *retain && !p.is_empty()),
        "the profile is retained before forget"
    );
    car.publish(&format!("kairos/{DEVICE}/forget"), "{}", false)
        .await;
    car.barrier().await;
    let cleared = watcher.drain(Duration::from_millis(500)).await;
    assert!(
        cleared.iter().any(|(_, p, _)| p.is_empty()),
        "forget publishes the empty retained profile: {cleared:?}"
    );
    let late = Client::connect(broker.port, &[&format!("kairos/{DEVICE}/profile")])
        .await
        .drain(Duration::from_millis(500))
        .await;
    assert!(late.is_empty(), "nothing retained after forget: {late:?}");
    assert!(kairos.log_text().contains("connected"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_leaves_nothing_in_the_state_file() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let offers = museums(dir.path(), 3);
    let state = dir.path().join("state.redb");
    let mut kairos = Kairos::serve(
        &broker.url(),
        &offers,
        &["--state", state.to_str().unwrap()],
        dir.path().join("kairos.log"),
    );
    let in_file = || {
        let bytes = std::fs::read(&state).unwrap();
        bytes.windows(DEVICE.len()).any(|w| w == DEVICE.as_bytes())
    };
    live_then_forget(&broker, &mut kairos, in_file).await;
    assert_eq!(kairos.stop(), Some(0), "{}", kairos.log_text());

    let store = RedbStore::open(&state).await.unwrap();
    assert!(store.load(DEVICE).await.unwrap().is_none());
    drop(store);
    assert!(!in_file(), "the device id is still in the file's bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_leaves_nothing_in_redis() {
    let broker = Mosquitto::start();
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let offers = museums(dir.path(), 3);
    let mut kairos = Kairos::serve(
        &broker.url(),
        &offers,
        &["--state", &redis.url()],
        dir.path().join("kairos.log"),
    );
    let before = redis.scan("*");
    assert!(
        !before.iter().any(|k| k.contains(DEVICE)),
        "a fresh Redis: {before:?}"
    );
    let in_redis = || !redis.scan(&format!("*{DEVICE}*")).is_empty();
    live_then_forget(&broker, &mut kairos, in_redis).await;
    assert_eq!(redis.scan(&format!("*{DEVICE}*")), Vec::<String>::new());
    assert_eq!(redis.scan("*forget*"), Vec::<String>::new());
    assert_eq!(kairos.stop(), Some(0), "{}", kairos.log_text());
}

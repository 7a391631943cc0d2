//! Two `kairos serve --share-group g --state redis://...` processes behind
//! one Mosquitto split the inputs and still keep every device's gap: the
//! real binary, a real Mosquitto, a real Redis. When one instance is killed,
//! the other answers every device, from the state the dead one saved.

mod support;

use support::{live, redis_server};

use std::collections::BTreeMap;
use std::time::Duration;

use live::{merchant, museums, per_device, position, Client, Kairos, Mosquitto};
use redis_server::RedisServer;

const DEVICES: usize = 50;
const ROUNDS: usize = 5;

fn device(i: usize) -> String {
    format!("car-{i:03}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_load_and_each_device_gets_at_most_one_suggestion() {
    let broker = Mosquitto::start();
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let offers = museums(dir.path(), 4);
    // Two instances on one host with one --state: a client id each (the
    // derived default would be the same for both).
    let url = redis.url();
    let args_one = [
        "--share-group",
        "g",
        "--state",
        &url,
        "--client-id",
        "kairos-one",
    ];
    let args_two = [
        "--share-group",
        "g",
        "--state",
        &url,
        "--client-id",
        "kairos-two",
    ];
    let mut one = Kairos::serve(
        &broker.url(),
        &offers,
        &args_one,
        dir.path().join("one.log"),
    );
    let two = Kairos::serve(
        &broker.url(),
        &offers,
        &args_two,
        dir.path().join("two.log"),
    );
    let mut cars = Client::connect(broker.port, &["kairos/+/suggestion", "kairos/+/error"]).await;
    // Both subscribed: probes until each instance has answered one.
    let asks = |k: &Kairos| k.counter("kairos_events_total");
    let deadline = std::time::Instant::now() + live::WAIT;
    while asks(&one) == 0.0 || asks(&two) == 0.0 {
        cars.ready().await;
        assert!(
            std::time::Instant::now() < deadline,
            "both instances answer"
        );
    }
    cars.drain(Duration::from_millis(300)).await;

    // Profiles first (not retained: shared subscriptions get no retained
    // messages), then rounds of positions, two at once per device so that
    // both instances decide for the same device at the same moment.
    for i in 0..DEVICES {
        let profile = r#"{"consent": true, "min_gap_min": 10}"#;
        cars.publish(&format!("kairos/{}/profile", device(i)), profile, false)
            .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..ROUNDS {
        for i in 0..DEVICES {
            let topic = format!("kairos/{}/position", device(i));
            cars.publish(&topic, &position(), false).await;
            cars.publish(&topic, &position(), false).await;
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let phase_one = cars.drain(Duration::from_secs(3)).await;
    let errors = per_device(&phase_one, "/error");
    assert!(errors.is_empty(), "no errors: {errors:?}");
    let suggested = per_device(&phase_one, "/suggestion");
    let first: BTreeMap<String, String> = (0..DEVICES)
        .map(|i| {
            let got = suggested.get(&device(i)).map_or(&[][..], Vec::as_slice);
            assert_eq!(
                got.len(),
                1,
                "{} got {} suggestions from positions (the gap allows one): {got:?}",
                device(i),
                got.len()
            );
            (device(i), merchant(&got[0]).expect("a suggestion"))
        })
        .collect();
    // (Outputs come back through the `+/+` subscription as kind `other`.)
    let inputs = |k: &Kairos| {
        k.counter(r#"kairos_events_total{kind="position"}"#)
            + k.counter(r#"kairos_events_total{kind="profile"}"#)
    };
    let (handled_one, handled_two) = (inputs(&one), inputs(&two));
    assert!(
        handled_one > 0.0 && handled_two > 0.0,
        "both instances handled inputs: {handled_one} and {handled_two}"
    );
    assert_eq!(
        handled_one + handled_two,
        (DEVICES * (1 + 2 * ROUNDS)) as f64,
        "every input was handled once, by one instance"
    );

    // One instance dies; the other answers everyone, from the shared state:
    // positions stay silent (gap), each ask is answered once, never with the
    // offer already given (24 h no-repeat).
    one.kill();
    // Until the broker has seen it go, it routes the group's inputs to the
    // dead instance's session (kept: they wait there for its restart).
    let deadline = std::time::Instant::now() + live::WAIT;
    while !broker.log_text().lines().any(|l| {
        l.contains("kairos-one")
            && (l.contains("closed its connection") || l.contains("disconnected"))
    }) {
        assert!(
            std::time::Instant::now() < deadline,
            "the broker sees instance one go"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for i in 0..DEVICES {
        let car = device(i);
        cars.publish(&format!("kairos/{car}/position"), &position(), false)
            .await;
        cars.publish(&format!("kairos/{car}/ask"), "{}", false)
            .await;
    }
    let phase_two = cars.drain(Duration::from_secs(3)).await;
    let answers = per_device(&phase_two, "/suggestion");
    for i in 0..DEVICES {
        let car = device(i);
        let got = answers.get(&car).map_or(&[][..], Vec::as_slice);
        assert_eq!(got.len(), 1, "{car}: one answer to its ask: {got:?}");
        let again = merchant(&got[0]).unwrap_or_else(|| panic!("{car}: a suggestion: {got:?}"));
        assert_ne!(again, first[&car], "{car}: the same offer twice in 24 h");
    }
    drop(two);
}

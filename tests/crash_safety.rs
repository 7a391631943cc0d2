//! `kairos serve --state FILE` survives `kill -9`: the real binary, a real
//! Mosquitto, a redb file. What a device was told and what it said before the
//! kill (profile, history, blocks) still governs every decision after the
//! restart.

mod support;

use support::live;

use live::{merchant, museums, position, Client, Kairos, Mosquitto};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_engine_restarts_with_the_gap_the_profile_and_the_blocks() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let offers = museums(dir.path(), 4);
    let state = dir.path().join("state.redb");
    let state_arg = state.to_str().unwrap();
    let start = |n: u32| {
        Kairos::serve(
            &broker.url(),
            &offers,
            &["--state", state_arg],
            dir.path().join(format!("kairos-{n}.log")),
        )
    };

    let mut kairos = start(1);
    let mut car = Client::connect(broker.port, &["kairos/+/suggestion", "kairos/+/error"]).await;
    car.ready().await;
    // Not retained: after the restart only the store can know it.
    car.publish(
        "kairos/car-1/profile",
        r#"{"consent": true, "min_gap_min": 10}"#,
        false,
    )
    .await;
    car.publish("kairos/car-1/position", &position(), false)
        .await;
    let got = car.barrier().await;
    assert_eq!(got.len(), 1, "one suggestion: {got:?}");
    let first: serde_json::Value = serde_json::from_slice(&got[0].1).unwrap();
    assert_eq!(merchant(&first).as_deref(), Some("m1"), "{first}");
    car.publish(
        "kairos/car-1/feedback",
        r#"{"merchant": "m2", "action": "block_merchant"}"#,
        false,
    )
    .await;
    let got = car.barrier().await;
    assert!(got.is_empty(), "feedback makes no suggestion: {got:?}");

    kairos.kill();
    let mut kairos = start(2);
    car.ready().await;
    for _ in 0..3 {
        car.publish("kairos/car-1/position", &position(), false)
            .await;
    }
    let got = car.barrier().await;
    assert!(
        got.is_empty(),
        "the gap holds across the restart, yet: {got:?}"
    );

    // `ask` ignores the gap but not consent (stored profile), the 24 h
    // no-repeat (m1, stored history) or the block (m2): m3 it is.
    car.publish("kairos/car-1/ask", "{}", false).await;
    let (_, answer) = car.next_on("/suggestion", &mut Vec::new()).await;
    assert_eq!(
        merchant(&answer).as_deref(),
        Some("m3"),
        "the profile, history and block survive the kill: {answer}"
    );
    car.publish("kairos/car-1/ask", "{}", false).await;
    let (_, answer) = car.next_on("/suggestion", &mut Vec::new()).await;
    assert_eq!(merchant(&answer).as_deref(), Some("m4"), "{answer}");
    assert_eq!(kairos.stop(), Some(0), "{}", kairos.log_text());
}

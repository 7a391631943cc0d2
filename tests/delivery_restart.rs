//! Inputs sent while kairos is down are not lost (SPEC, "Delivery: nothing
//! lost, nothing twice"): the real binary with `--state FILE`, a real
//! Mosquitto. kairos is killed; while it is down one device blocks a
//! merchant, another sends its profile, a third `forget` (all QoS 1, none
//! retained); kairos restarts and all three hold.

mod support;

use support::live;

use std::collections::BTreeSet;

use live::{merchant, museums, position, Client, Kairos, Mosquitto};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_sent_while_kairos_is_down_are_applied_when_it_is_back() {
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
    for device in ["car-a", "car-c"] {
        car.publish(
            &format!("kairos/{device}/profile"),
            r#"{"consent": true}"#,
            false,
        )
        .await;
        car.publish(&format!("kairos/{device}/position"), &position(), false)
            .await;
    }
    let got = car.barrier().await;
    assert_eq!(got.len(), 2, "one suggestion each: {got:?}");

    kairos.kill();
    // A witness on the input topics: the broker has all three once it saw them.
    let mut witness = Client::connect(
        broker.port,
        &["kairos/+/feedback", "kairos/+/profile", "kairos/+/forget"],
    )
    .await;
    car.publish(
        "kairos/car-a/feedback",
        r#"{"merchant": "m2", "action": "block_merchant"}"#,
        false,
    )
    .await;
    car.publish("kairos/car-b/profile", r#"{"consent": true}"#, false)
        .await;
    car.publish("kairos/car-c/forget", "{}", false).await;
    let mut seen = BTreeSet::new();
    while seen.len() < 3 {
        let (topic, _) = witness.next_on("", &mut Vec::new()).await;
        seen.insert(topic);
    }

    let mut kairos = start(2);
    car.ready().await;
    let mut answers = Vec::new();
    for device in ["car-a", "car-b", "car-c"] {
        car.publish(&format!("kairos/{device}/position"), &position(), false)
            .await;
        car.publish(&format!("kairos/{device}/ask"), "{}", false)
            .await;
        let want = format!("kairos/{device}/suggestion");
        let (topic, answer) = loop {
            let (topic, answer) = car.next_on("/suggestion", &mut Vec::new()).await;
            if topic == want {
                break (topic, answer);
            }
        };
        answers.push((topic, answer));
    }
    // car-a: m1 was suggested (24 h no-repeat) and m2 is blocked: m3.
    let a = &answers[0].1;
    assert_eq!(merchant(a).as_deref(), Some("m3"), "the block holds: {a}");
    // car-b: its profile (consent) arrived while kairos was down.
    let b = &answers[1].1;
    assert!(merchant(b).is_some(), "the profile was applied: {b}");
    // car-c: forgotten, so no consent any more.
    let c = &answers[2].1;
    assert_eq!(c["none"], "no_consent", "the forget was applied: {c}");
    assert_eq!(kairos.stop(), Some(0), "{}", kairos.log_text());
}

//! SPEC Several instances: with `--volatile redis://...`, an `ask` handled by
//! another `kairos serve` of the share group than the one that saw the
//! device's position is answered from that position, as one instance would;
//! without it, live state stays per instance (`no_position`). A volatile
//! Redis that writes to disk is refused at start, in one line.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::live::{merchant, museums, position, Client, Kairos, Mosquitto};
use support::net::{free_port, WAIT};
use support::redis_server::{RedisServer, REDIS_SERVER};

const DEVICE: &str = "car-live-41";

/// Instance one sees the position (before consent: no suggestion yet),
/// then the profile; instance two replaces it and gets the `ask`. Returns
/// the answer.
async fn ask_on_the_other_instance(volatile: bool) -> serde_json::Value {
    let broker = Mosquitto::start();
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let offers = museums(dir.path(), 3);
    let url = redis.url();
    let mut args = vec!["--share-group", "g", "--state", &url];
    if volatile {
        args.extend(["--volatile", &url]);
    }
    let mut one = Kairos::serve(&broker.url(), &offers, &args, dir.path().join("one.log"));
    let mut car = Client::connect(broker.port, &["kairos/+/suggestion", "kairos/+/error"]).await;
    car.ready().await;
    car.publish(&format!("kairos/{DEVICE}/position"), &position(), false)
        .await;
    car.publish(
        &format!("kairos/{DEVICE}/profile"),
        r#"{"consent": true}"#,
        false,
    )
    .await;
    let before = car.barrier().await;
    assert!(before.is_empty(), "nothing before consent: {before:?}");
    assert!(one.counter(r#"kairos_events_total{kind="position"}"#) >= 1.0);

    let mut two = Kairos::serve(&broker.url(), &offers, &args, dir.path().join("two.log"));
    // Two answers probes while one still runs: both are in the group...
    let deadline = Instant::now() + WAIT;
    while two.counter("kairos_events_total") == 0.0 {
        car.ready().await;
        assert!(Instant::now() < deadline, "the second instance answers");
    }
    // ...then one goes, and the ask can only reach two.
    assert_eq!(one.stop(), Some(0), "{}", one.log_text());
    car.ready().await;
    car.publish(&format!("kairos/{DEVICE}/ask"), "{}", false)
        .await;
    let (_, answer) = car
        .next_on(&format!("{DEVICE}/suggestion"), &mut Vec::new())
        .await;
    assert_eq!(two.counter(r#"kairos_events_total{kind="position"}"#), 0.0);
    assert_eq!(two.stop(), Some(0), "{}", two.log_text());
    if volatile {
        let live = redis.scan("kairos:live:*");
        assert_eq!(
            live,
            vec![format!("kairos:live:{{{DEVICE}}}")],
            "one live entry"
        );
    } else {
        assert!(
            redis.scan("kairos:live:*").is_empty(),
            "nothing live in Redis"
        );
    }
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_volatile_an_ask_on_another_instance_sees_the_position() {
    let answer = ask_on_the_other_instance(true).await;
    assert_eq!(merchant(&answer).as_deref(), Some("m1"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_volatile_live_state_stays_per_instance() {
    let answer = ask_on_the_other_instance(false).await;
    assert!(answer.to_string().contains("no_position"), "{answer}");
}

#[test]
fn a_volatile_redis_that_writes_to_disk_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let offers = museums(dir.path(), 1);
    let port = free_port();
    let mut redis = Command::new(REDIS_SERVER)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args([
            "--dir",
            dir.path().to_str().unwrap(),
            "--appendonly",
            "yes",
            "--save",
            "",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("redis://127.0.0.1:{port}/0");
    let client = redis::Client::open(url.as_str()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while client.get_connection().is_err() {
        assert!(Instant::now() < deadline, "redis-server answers");
        std::thread::sleep(Duration::from_millis(20));
    }
    let state = dir.path().join("state.redb");
    let out = Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args([
            "serve",
            "--broker",
            &format!("mqtt://127.0.0.1:{}", free_port()),
        ])
        .args(["--offers", offers.to_str().unwrap()])
        .args(["--state", state.to_str().unwrap(), "--volatile", &url])
        .output()
        .unwrap();
    let _ = redis.kill();
    let _ = redis.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("kairos:"))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("appendonly is \"yes\""), "{stderr}");
}

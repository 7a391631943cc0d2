//! Redis restarted under a `--share-group` instance: inputs that arrive
//! while it is down get no answer (fail closed) and are not acknowledged;
//! once Redis is back they are applied, nothing lost. The real binary, a
//! real Mosquitto and a real redis-server (without persistence: it comes
//! back empty, so only what was sent during the outage can explain the
//! answer).

mod support;

use std::time::Duration;

use support::live::{merchant, museums, position, Client, Kairos, Mosquitto};
use support::redis_server::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_during_a_redis_outage_are_applied_once_it_is_back() {
    let broker = Mosquitto::start();
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let offers = museums(dir.path(), 4);
    let url = redis.url();
    let args = [
        "--share-group",
        "g",
        "--state",
        &url,
        "--client-id",
        "kairos-r1",
    ];
    let mut kairos = Kairos::serve(&broker.url(), &offers, &args, dir.path().join("k.log"));
    let mut car = Client::connect(broker.port, &["kairos/+/suggestion", "kairos/+/error"]).await;
    car.ready().await;

    redis.kill();
    car.publish("kairos/car-1/profile", r#"{"consent": true}"#, false)
        .await;
    car.publish("kairos/car-1/position", &position(), false)
        .await;
    car.publish("kairos/car-1/ask", "{}", false).await;
    let during = car.drain(Duration::from_secs(2)).await;
    assert!(
        during
            .iter()
            .all(|(t, _, _)| !t.starts_with("kairos/car-1/")),
        "nothing answered while the store is down (fail closed): {during:?}"
    );

    redis.restart();
    // The position's suggestion, then the ask's: both need the profile sent
    // during the outage (Redis came back empty).
    let mut merchants = Vec::new();
    while merchants.len() < 2 {
        let (topic, answer) = car.next_on("/suggestion", &mut Vec::new()).await;
        if topic == "kairos/car-1/suggestion" {
            merchants.push(merchant(&answer).unwrap_or_else(|| panic!("a suggestion: {answer}")));
        }
    }
    assert_eq!(merchants, ["m1", "m2"], "applied in order, once each");
    let extra = car.drain(Duration::from_secs(1)).await;
    assert!(
        extra.iter().all(|(t, _, _)| t != "kairos/car-1/suggestion"),
        "nothing applied twice: {extra:?}"
    );
    assert_eq!(kairos.stop(), Some(0), "{}", kairos.log_text());
}

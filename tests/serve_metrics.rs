//! `kairos serve --metrics`: the Prometheus endpoint, scraped with a plain
//! HTTP GET over TCP after the demo drive, a malformed payload and a topic
//! that names no valid device.
//!
//! One test in its own binary: the `metrics` facade has one recorder per
//! process, so one process serves one endpoint.

mod support;

use support::live;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use kairos::serve::{serve, BrokerChoice, Clock, OfferSource, ServeOptions};
use kairos::Config;
use rumqttc::{MqttOptions, QoS};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use live::{data, free_address};

const WAIT: Duration = Duration::from_secs(20);

/// `GET /metrics` over a plain TCP connection; the response body.
fn scrape(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap()
}

/// The value of the sample `name` (with its labels, as written) in `text`.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            (key == name).then(|| value.parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_endpoint_counts_a_drive() {
    let listen = free_address();
    let metrics = free_address();
    let mut config = Config::default();
    config.serve.client_id = format!("kairos-metrics-{}", listen.port());
    config.serve.metrics = Some(metrics);
    let lines: Vec<_> = std::fs::read_to_string(data("data/demo/drive.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let e = kairos::trace::parse_line(l).unwrap();
            (e.at.time, e.topic.into_owned(), e.payload.into_owned())
        })
        .collect();
    let clock = Clock::scaled(lines[0].0, 1.0);
    clock.start();
    let (ready, is_ready) = oneshot::channel();
    let stop = CancellationToken::new();
    let server = tokio::spawn(serve(
        ServeOptions {
            config,
            broker: BrokerChoice::Embedded(listen),
            offers: OfferSource::Paths(vec![data("data/demo/offers.geojson")]),
            roads: None,
            clock,
            ready: Some(ready),
        },
        stop.clone().cancelled_owned(),
    ));
    tokio::time::timeout(WAIT, is_ready)
        .await
        .expect("serve subscribes in time")
        .unwrap();

    let before = scrape(metrics);
    assert_eq!(sample(&before, "kairos_broker_connected"), 1.0);
    assert!(sample(&before, "kairos_merchants") >= 1.0);
    assert_eq!(sample(&before, "kairos_suggestions_total"), 0.0);

    let mut options = MqttOptions::new("metrics-car", listen.ip().to_string(), listen.port());
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (car, mut answers) = live::listen(options, "kairos/+/+").await;
    for (_, topic, payload) in lines.into_iter().take(5) {
        let retain = topic.ends_with("/profile");
        car.publish(topic, QoS::AtLeastOnce, retain, payload)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    car.publish(
        "kairos/car-42/position",
        QoS::AtLeastOnce,
        false,
        "not json",
    )
    .await
    .unwrap();
    car.publish("kairos/no good/position", QoS::AtLeastOnce, false, "{}")
        .await
        .unwrap();
    // Wait for the suggestion and the error: both went through the engine.
    let mut seen = (false, false);
    while seen != (true, true) {
        let (topic, _) = tokio::time::timeout(WAIT, answers.recv())
            .await
            .expect("the suggestion and the error arrive in time")
            .unwrap();
        seen.0 |= topic == "kairos/car-42/suggestion";
        seen.1 |= topic == "kairos/car-42/error";
    }

    let after = scrape(metrics);
    assert!(
        sample(&after, r#"kairos_events_total{kind="position"}"#) >= 4.0,
        "{after}"
    );
    assert_eq!(
        sample(&after, r#"kairos_events_total{kind="profile"}"#),
        1.0
    );
    assert_eq!(sample(&after, "kairos_suggestions_total"), 1.0);
    assert_eq!(
        sample(&after, r#"kairos_errors_total{code="not_json"}"#),
        1.0
    );
    assert!(sample(&after, "kairos_dropped_inputs_total") >= 1.0);
    assert_eq!(sample(&after, "kairos_overloaded_inputs_total"), 0.0);
    assert!(sample(&after, "kairos_received_total") >= 7.0);
    assert!(sample(&after, "kairos_published_total") >= 2.0);
    assert_eq!(sample(&after, "kairos_devices"), 1.0);
    assert!(sample(&after, "kairos_decision_seconds_count") >= 7.0);
    assert!(after.contains("# HELP kairos_decision_seconds"), "{after}");

    stop.cancel();
    tokio::time::timeout(WAIT, server)
        .await
        .expect("serve stops in time")
        .unwrap()
        .unwrap();
}

//! `kairos demo`: the seed example, live, in one command.
//!
//! Starts the embedded broker on a free loopback port (or `--listen`), serves
//! the bundled demo offers, drives the bundled demo car through it over real
//! MQTT with an in-process client, prints each suggestion as the person would
//! see it, and returns. Both files are compiled in, so it runs from any folder.
//!
//! The drive is recorded at a July lunchtime (the restaurant only serves lunch),
//! so the engine runs on a [`Clock::scaled`] clock anchored at the drive's first
//! `at`: the car publishes each line when that clock reaches the line's time,
//! [`SPEED`] times faster than real time, and the engine stamps it with the same
//! clock. Arrival jitter shifts receive times by milliseconds × `SPEED`, far
//! inside the lunch window, so the demo always makes the same suggestion.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{Event, Outgoing, Packet, QoS};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{broker, mqtt, serve, BrokerChoice, Clock, OfferSource, ServeError, ServeOptions};
use crate::config::{BrokerAddress, Config};
use crate::trace::parse_line;
use kairos_core::catalog::Catalog;
use kairos_core::offers::Loader;

/// The bundled demo offers (Annecy, France).
pub const DEMO_OFFERS: &str = include_str!("../../data/demo/offers.geojson");
/// The bundled demo drive: a hungry, gluten-free driver on holiday.
pub const DEMO_DRIVE: &str = include_str!("../../data/demo/drive.jsonl");
/// How much faster than real time the drive is played.
pub const SPEED: f64 = 300.0;
/// How long to wait for answers after the last line of the drive.
const LAST_ANSWER_WAIT: Duration = Duration::from_millis(1500);
/// How long any start-up step may take before the demo gives up.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// Runs the demo, printing suggestions to `out`; returns how many were printed.
pub async fn demo(listen: Option<SocketAddr>, out: &mut impl Write) -> Result<usize, ServeError> {
    let bad_bundle = |e: String| ServeError::Other(format!("bundled demo data: {e}"));
    let drive = DEMO_DRIVE
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(parse_line)
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad_bundle)?;
    let first = drive
        .first()
        .ok_or_else(|| bad_bundle("the drive is empty".into()))?
        .at
        .time;
    let mut loader = Loader::new();
    loader.load_text(Path::new("data/demo/offers.geojson"), DEMO_OFFERS)?;
    let catalog = Catalog::new(loader.finish().0);

    let listen = match listen {
        Some(listen) => listen,
        None => broker::free_loopback_address()
            .map_err(|e| ServeError::Other(format!("no free loopback port: {e}")))?,
    };
    let mut config = Config::default();
    config.serve.client_id = "kairos-demo".into();
    let clock = Clock::scaled(first, SPEED);
    let (ready_tx, ready_rx) = oneshot::channel();
    let stop = CancellationToken::new();
    let mut server = tokio::spawn(serve(
        ServeOptions {
            config: config.clone(),
            broker: BrokerChoice::Embedded(listen),
            offers: OfferSource::Loaded(Arc::new(catalog)),
            roads: None,
            clock: clock.clone(),
            ready: Some(ready_tx),
        },
        stop.clone().cancelled_owned(),
    ));
    tokio::select! {
        ended = &mut server => {
            return Err(match ended {
                Ok(Err(error)) => error,
                _ => ServeError::Other("the engine stopped while starting".into()),
            });
        }
        ready = tokio::time::timeout(STEP_TIMEOUT, ready_rx) => {
            if !matches!(ready, Ok(Ok(()))) {
                stop.cancel();
                return Err(ServeError::Other("the engine did not connect to the embedded broker".into()));
            }
        }
    }
    eprintln!(
        "kairos demo: broker on {listen}; driving car-42 through Annecy at {SPEED}× real time"
    );

    // The car: publishes the drive, listens for its suggestions.
    let address = BrokerAddress {
        host: listen.ip().to_string(),
        port: listen.port(),
        tls: false,
    };
    let (car, mut car_loop) = mqtt::client(mqtt::client_options(
        "kairos-demo-car",
        &address,
        &config.serve,
    )?);
    let (answers_tx, mut answers) = mpsc::channel::<(String, Vec<u8>)>(256);
    let (subscribed_tx, subscribed) = oneshot::channel();
    let car_done = CancellationToken::new();
    let car_task = tokio::spawn({
        let car_done = car_done.clone();
        async move {
            let mut subscribed_tx = Some(subscribed_tx);
            loop {
                let event = tokio::select! {
                    () = car_done.cancelled() => break,
                    event = car_loop.poll() => event,
                };
                match event {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(tx) = subscribed_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = answers_tx.send((p.topic, p.payload.to_vec())).await;
                    }
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => break,
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
    });
    let prefix = &config.engine.prefix;
    car.subscribe(format!("{prefix}/+/suggestion"), QoS::AtLeastOnce)
        .await
        .map_err(|e| ServeError::Other(format!("demo client: {e}")))?;
    if !matches!(
        tokio::time::timeout(STEP_TIMEOUT, subscribed).await,
        Ok(Ok(()))
    ) {
        stop.cancel();
        return Err(ServeError::Other(
            "the demo car could not subscribe to its suggestions".into(),
        ));
    }

    clock.start();
    let mut driver = tokio::spawn({
        let car = car.clone();
        let clock = clock.clone();
        let drive: Vec<_> = drive
            .into_iter()
            .map(|e| (e.at.time, e.topic.into_owned(), e.payload.into_owned()))
            .collect();
        async move {
            for (at, topic, payload) in drive {
                tokio::time::sleep(clock.real_until(at)).await;
                let retain = topic.ends_with("/profile");
                car.publish(topic, QoS::AtLeastOnce, retain, payload)
                    .await?;
            }
            Ok::<(), rumqttc::ClientError>(())
        }
    });

    let mut printed = 0;
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        let wait_end = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            driven = &mut driver, if deadline.is_none() => {
                if !matches!(driven, Ok(Ok(()))) {
                    tracing::warn!("the demo drive stopped early");
                }
                deadline = Some(tokio::time::Instant::now() + LAST_ANSWER_WAIT);
            }
            answer = answers.recv() => {
                let Some((topic, payload)) = answer else { break };
                if let Some(line) = as_seen(&topic, &payload) {
                    writeln!(out, "{line}").map_err(|e| ServeError::Other(e.to_string()))?;
                    printed += 1;
                }
            }
            () = wait_end => break,
        }
    }
    let _ = car.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_secs(2), car_task).await;
    car_done.cancel();
    stop.cancel();
    match server.await {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => return Err(error),
        Err(error) => return Err(ServeError::Other(format!("the engine failed: {error}"))),
    }
    if printed == 0 {
        return Err(ServeError::Other("the demo drive got no suggestion".into()));
    }
    Ok(printed)
}

/// A suggestion as the person would see it, with the details after it:
/// `car-42  Gluten-free holiday lunch — 3 km ahead, on your right   (3005 m, right, ...)`.
pub fn as_seen(topic: &str, payload: &[u8]) -> Option<String> {
    let device = topic.split('/').nth(1)?;
    let value: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let message = value.get("message")?.as_str()?;
    let mut details = Vec::new();
    if let Some(d) = value.get("distance_m").and_then(|v| v.as_u64()) {
        details.push(format!("{d} m"));
    }
    if let Some(side) = value.get("side").and_then(|v| v.as_str()) {
        details.push(side.to_string());
    }
    if let Some(b) = value.get("bearing").and_then(|v| v.as_u64()) {
        details.push(format!("bearing {b}°"));
    }
    if let Some(eta) = value.get("eta_s").and_then(|v| v.as_u64()) {
        details.push(format!("eta {eta} s"));
    }
    let reasons: Vec<&str> = value
        .get("reasons")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|r| r.as_str()).collect())
        .unwrap_or_default();
    Some(format!(
        "{device}  {message}   ({}; reasons: {})",
        details.join(", "),
        reasons.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_drive_and_offers_load() {
        assert!(DEMO_DRIVE.lines().all(|l| parse_line(l).is_ok()));
        let mut loader = Loader::new();
        loader
            .load_text(Path::new("offers.geojson"), DEMO_OFFERS)
            .unwrap();
        assert!(!loader.finish().0.is_empty());
    }

    #[test]
    fn a_suggestion_reads_as_the_person_sees_it() {
        let payload = r#"{"message":"Lunch — 3 km ahead, on your right","distance_m":3005,"side":"right","bearing":153,"eta_s":120,"reasons":["consent","hungry"]}"#;
        assert_eq!(
            as_seen("kairos/car-42/suggestion", payload.as_bytes()).unwrap(),
            "car-42  Lunch — 3 km ahead, on your right   (3005 m, right, bearing 153°, eta 120 s; reasons: consent, hungry)"
        );
        assert!(as_seen("kairos/car-42/suggestion", br#"{"none":"nothing_fits"}"#).is_none());
    }
}

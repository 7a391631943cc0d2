//! `kairos demo`: the seed example, live, in one command.
//!
//! Starts the embedded broker on a free loopback port (or `--listen`), serves
//! the bundled offers, drives the bundled cars through them over real MQTT
//! with an in-process client, prints each suggestion as the person would see
//! it, and returns. Every file is compiled in, so it runs from any folder.
//!
//! Two stories ([`Story`]): by default on real roads ([`ROADS`]: Monaco's
//! road network, real restaurants, two cars driving its streets, one
//! French-speaking and one English-speaking, so the demo prints the seed
//! sentence in both languages with by-road distance and turn); with
//! `--straight`, the straight-line story without roads ([`STRAIGHT`]: Annecy).
//!
//! The drives are recorded at a July lunchtime, so the engine runs on a
//! [`Clock::scaled`] clock anchored at the drive's first `at`: the cars
//! publish each line when that clock reaches the line's time, the story's
//! `speed` times faster than real time, and the engine stamps it with the same
//! clock. Arrival jitter shifts receive times by milliseconds × `speed`, far
//! inside the lunch window, so the demo always makes the same suggestions.
//! The road drive's positions carry `ts`, which may be 2 min off the clock
//! before a position is stale: at 60× that is 2 s of real delay.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{Event, Outgoing, Packet, QoS};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{
    broker, mqtt, serve, BrokerChoice, Clock, OfferSource, RoadSource, ServeError, ServeOptions,
};
use crate::config::{BrokerAddress, Config};
use crate::trace::parse_line;
use kairos_core::catalog::Catalog;
use kairos_core::offers::Loader;
use kairos_core::roads::RoadNetwork;

/// The bundled straight-line demo offers (Annecy, France).
pub const DEMO_OFFERS: &str = include_str!("../../data/demo/offers.geojson");
/// The bundled straight-line demo drive: a hungry, gluten-free driver on holiday.
pub const DEMO_DRIVE: &str = include_str!("../../data/demo/drive.jsonl");
/// The bundled road network: Monaco's drivable roads (OpenStreetMap, ODbL),
/// in the compact format of `kairos import roads`.
pub const MONACO_ROADS: &[u8] = include_bytes!("../../data/monaco/monaco.roads");

/// One demo: where, its offers, its drive, and its roads.
#[derive(Debug, Clone, Copy)]
pub struct Story {
    /// Where the drive goes, for the banner.
    pub place: &'static str,
    /// The offer file's name (for messages) and text.
    pub offers: (&'static str, &'static str),
    /// The drive: a trace, one message a line.
    pub drive: &'static str,
    /// The road network in the compact format, if the story has roads.
    pub roads: Option<&'static [u8]>,
    /// How much faster than real time the drive is played.
    pub speed: f64,
}

/// The seed story on real roads (the default).
pub const ROADS: Story = Story {
    place: "Monaco, on its roads",
    offers: (
        "data/monaco/offers.geojson",
        include_str!("../../data/monaco/offers.geojson"),
    ),
    drive: include_str!("../../data/monaco/drive.jsonl"),
    roads: Some(MONACO_ROADS),
    speed: 60.0,
};

/// The seed story in straight lines, without roads (`demo --straight`).
pub const STRAIGHT: Story = Story {
    place: "Annecy, in straight lines",
    offers: ("data/demo/offers.geojson", DEMO_OFFERS),
    drive: DEMO_DRIVE,
    roads: None,
    speed: SPEED,
};

/// How much faster than real time the straight-line drive is played.
pub const SPEED: f64 = 300.0;
/// How long to wait for answers after the last line of the drive.
const LAST_ANSWER_WAIT: Duration = Duration::from_millis(1500);
/// How long any start-up step may take before the demo gives up.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// What `kairos demo` was asked for.
#[derive(Debug, Clone, Default)]
pub struct DemoOptions {
    /// Where the embedded broker listens (default: a free loopback port).
    pub listen: Option<SocketAddr>,
    /// The straight-line story instead of the road one.
    pub straight: bool,
    /// A road file to use instead of the bundled one (road story only).
    pub roads: Option<PathBuf>,
}

/// The story's road network: the file given, else the bundled one.
fn story_roads(story: &Story, file: Option<&Path>) -> Result<Option<RoadNetwork>, ServeError> {
    if let Some(path) = file {
        return super::roads::load(path)
            .map(Some)
            .map_err(|e| ServeError::Other(e.to_string()));
    }
    story
        .roads
        .map(|bytes| {
            kairos_core::roads::format::decode(bytes)
                .map(|(network, _)| network)
                .map_err(|e| ServeError::Other(format!("bundled demo roads: {e}")))
        })
        .transpose()
}

/// Runs the demo, printing suggestions to `out`; returns how many were printed.
pub async fn demo(options: DemoOptions, out: &mut impl Write) -> Result<usize, ServeError> {
    let story = if options.straight { STRAIGHT } else { ROADS };
    let bad_bundle = |e: String| ServeError::Other(format!("bundled demo data: {e}"));
    let drive = story
        .drive
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
    loader.load_text(Path::new(story.offers.0), story.offers.1)?;
    let catalog = Catalog::new(loader.finish().0);
    let roads = story_roads(&story, options.roads.as_deref())?;
    let mut cars: Vec<&str> = drive
        .iter()
        .filter_map(|e| e.topic.split('/').nth(1))
        .collect();
    cars.sort_unstable();
    cars.dedup();
    let cars = cars.join(" and ");

    let listen = match options.listen {
        Some(listen) => listen,
        None => broker::free_loopback_address()
            .map_err(|e| ServeError::Other(format!("no free loopback port: {e}")))?,
    };
    let mut config = Config::default();
    config.serve.client_id = "kairos-demo".into();
    let clock = Clock::scaled(first, story.speed);
    let (ready_tx, ready_rx) = oneshot::channel();
    let stop = CancellationToken::new();
    let mut server = tokio::spawn(serve(
        ServeOptions {
            config: config.clone(),
            broker: BrokerChoice::Embedded(listen),
            offers: OfferSource::Loaded(Arc::new(catalog)),
            roads: roads.map(|network| RoadSource::Loaded(Arc::new(network))),
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
        "kairos demo: broker on {listen}; driving {cars} through {} at {}× real time",
        story.place, story.speed
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
            .iter()
            .map(|e| (e.at.time, e.topic.to_string(), e.payload.to_vec()))
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
/// `car-42  Gluten-free holiday lunch — 3 km ahead, on your right   (3005 m, right, ...)`;
/// by road, the straight distance and the turn too.
pub fn as_seen(topic: &str, payload: &[u8]) -> Option<String> {
    let device = topic.split('/').nth(1)?;
    let value: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let message = value.get("message")?.as_str()?;
    let mut details = Vec::new();
    if let Some(d) = value.get("distance_m").and_then(|v| v.as_u64()) {
        details.push(match value.get("straight_m").and_then(|v| v.as_u64()) {
            Some(straight) => format!("{d} m by road, {straight} m straight"),
            None => format!("{d} m"),
        });
    }
    if let Some(turn) = value.get("turn") {
        let side = turn.get("side").and_then(|v| v.as_str()).unwrap_or("?");
        let nth = turn.get("nth").and_then(|v| v.as_u64()).unwrap_or(0);
        let in_m = turn.get("in_m").and_then(|v| v.as_u64()).unwrap_or(0);
        details.push(format!("turn {side} in {in_m} m at junction {nth}"));
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

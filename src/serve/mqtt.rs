//! The MQTT edge: broker addresses, client options, the task that owns the
//! rumqttc event loop and the task that publishes the engine's outputs.
//!
//! The edge task polls the event loop and does nothing else: it resubscribes on
//! every ConnAck (a clean session forgets subscriptions; retained profiles then
//! arrive again), backs off on errors (rumqttc reconnects on the next poll with
//! no delay of its own), and turns each publish into a [`Received`] for the
//! engine.
//!
//! It hands inputs over with `try_send`, never waiting on the engine: the
//! publisher's requests travel through the very event loop the edge polls, so
//! an edge waiting on a full engine channel, an engine waiting on a full output
//! channel and a publisher waiting on rumqttc's request queue would wait on each
//! other for ever. An input that finds the engine's channel full is dropped,
//! logged and counted (`overloaded`) instead.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS, SubscribeFilter};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{owntracks, Clock, Counters, ServeError, ToEngine};
use crate::config::ServeConfig;
use crate::output::Publish;

/// First pause after a connection error; doubled on each failure in a row.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest pause between two connection attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Requests rumqttc queues before `publish().await` waits.
const REQUEST_CAPACITY: usize = 1024;

/// A broker to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl std::fmt::Display for BrokerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "mqtt://{}:{}", self.host, self.port)
    }
}

/// Reads `mqtt://host[:port]` (port 1883 by default). `mqtts://` is refused
/// as not yet supported.
pub fn parse_broker_url(url: &str) -> Result<BrokerAddress, ServeError> {
    let bad = |detail: &str| ServeError::BrokerUrl {
        url: url.to_string(),
        detail: detail.to_string(),
    };
    if url.starts_with("mqtts://") {
        return Err(bad("TLS (mqtts://) is not supported yet; use mqtt://"));
    }
    let rest = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))
        .ok_or_else(|| bad("expected mqtt://HOST:PORT"))?;
    let rest = rest.trim_end_matches('/');
    if rest.contains(['/', '@', '?']) {
        return Err(bad(
            "expected mqtt://HOST:PORT (credentials go in the config or KAIROS_BROKER_USERNAME / KAIROS_BROKER_PASSWORD)",
        ));
    }
    let (host, port) = match rest.rsplit_once(':') {
        // An IPv6 literal is bracketed: [::1]:1883.
        Some((host, port)) if !host.is_empty() && (!host.contains(':') || host.ends_with(']')) => {
            let port = port.parse().map_err(|_| bad("the port is not a number"))?;
            (host, port)
        }
        _ => (rest, 1883),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok(BrokerAddress {
        host: host.to_string(),
        port,
    })
}

/// Client options for `address`: clean session, packet limit, credentials
/// (from the config, overridden by `KAIROS_BROKER_USERNAME` / `KAIROS_BROKER_PASSWORD`).
pub fn client_options(
    client_id: &str,
    address: &BrokerAddress,
    config: &ServeConfig,
) -> MqttOptions {
    let mut options = MqttOptions::new(client_id, address.host.clone(), address.port);
    options
        .set_clean_session(true)
        .set_keep_alive(Duration::from_secs(30))
        .set_max_packet_size(config.max_packet_bytes, config.max_packet_bytes);
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let username = env("KAIROS_BROKER_USERNAME").unwrap_or_else(|| config.username.clone());
    let password = env("KAIROS_BROKER_PASSWORD").unwrap_or_else(|| config.password.clone());
    if !username.is_empty() {
        options.set_credentials(username, password);
    }
    options
}

/// A new client and its event loop.
pub fn client(options: MqttOptions) -> (AsyncClient, EventLoop) {
    AsyncClient::new(options, REQUEST_CAPACITY)
}

/// One message as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    /// Its topic.
    pub topic: String,
    /// Its payload bytes.
    pub payload: Vec<u8>,
    /// When it arrived, on the serve clock.
    pub at: DateTime<Utc>,
}

/// What the edge needs besides the event loop.
pub(crate) struct Edge {
    pub client: AsyncClient,
    pub filters: Vec<String>,
    /// The topic prefix (OwnTracks locations are mapped under it).
    pub prefix: String,
    pub clock: Clock,
    pub counters: Arc<Counters>,
    /// Cancelled: stop handing inputs on (the loop keeps running to flush).
    pub intake: CancellationToken,
    /// Cancelled: stop polling at once.
    pub stop: CancellationToken,
    /// Told once, after the first subscription is acknowledged.
    pub ready: Option<oneshot::Sender<()>>,
}

/// Polls the event loop until the publisher's disconnect goes out (or `stop`),
/// handing each publish to `inputs` until `intake` is cancelled.
pub(crate) async fn run_edge(
    mut eventloop: EventLoop,
    mut edge: Edge,
    inputs: mpsc::Sender<ToEngine>,
) {
    let mut inputs = Some(inputs);
    let mut backoff = BACKOFF_MIN;
    loop {
        let event = tokio::select! {
            biased;
            () = edge.stop.cancelled() => break,
            () = edge.intake.cancelled(), if inputs.is_some() => {
                inputs = None;
                continue;
            }
            event = eventloop.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff = BACKOFF_MIN;
                tracing::info!("connected to the broker; subscribing to {:?}", edge.filters);
                let filters = edge
                    .filters
                    .iter()
                    .map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
                if let Err(error) = edge.client.try_subscribe_many(filters) {
                    tracing::error!(%error, "cannot subscribe");
                }
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                if let Some(ready) = edge.ready.take() {
                    let _ = ready.send(());
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let Some(sender) = &inputs else { continue };
                edge.counters.received.fetch_add(1, Ordering::Relaxed);
                let at = edge.clock.now();
                let received = if publish.topic.starts_with("owntracks/") {
                    let Some((topic, payload)) =
                        owntracks::to_position(&edge.prefix, &publish.topic, &publish.payload)
                    else {
                        tracing::debug!(topic = %publish.topic, "not an OwnTracks location; ignored");
                        continue;
                    };
                    Received { topic, payload, at }
                } else {
                    Received {
                        topic: publish.topic,
                        payload: publish.payload.to_vec(),
                        at,
                    }
                };
                let topic = received.topic.clone();
                match sender.try_send(ToEngine::Input(received)) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        edge.counters.overloaded.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(%topic, "engine busy: input dropped");
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => inputs = None,
                }
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => break,
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "broker connection lost; retrying in {backoff:?}");
                tokio::select! {
                    () = edge.stop.cancelled() => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// Publishes every output until the engine closes the channel, then asks the
/// event loop to disconnect (after everything queued before it).
pub(crate) async fn run_publisher(
    client: AsyncClient,
    mut outputs: mpsc::Receiver<Publish>,
    counters: Arc<Counters>,
) {
    while let Some(publish) = outputs.recv().await {
        let qos = if publish.at_least_once() {
            QoS::AtLeastOnce
        } else {
            QoS::AtMostOnce
        };
        let bytes = publish.body.to_bytes();
        match client
            .publish(publish.topic.as_str(), qos, publish.retain, bytes)
            .await
        {
            Ok(()) => {
                counters.published.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => tracing::warn!(topic = %publish.topic, %error, "cannot publish"),
        }
    }
    if let Err(error) = client.disconnect().await {
        tracing::debug!(%error, "disconnect request not queued");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls_are_read_with_a_default_port() {
        let a = parse_broker_url("mqtt://127.0.0.1:1884").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", 1884));
        let a = parse_broker_url("mqtt://broker.local").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("broker.local", 1883));
        let a = parse_broker_url("mqtt://[::1]:1885").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("::1", 1885));
        assert!(parse_broker_url("mqtts://h:8883")
            .unwrap_err()
            .to_string()
            .contains("not supported"));
        assert!(parse_broker_url("http://h").is_err());
        assert!(parse_broker_url("mqtt://h:port").is_err());
        assert!(parse_broker_url("mqtt://").is_err());
    }
}

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
//!
//! kairos speaks MQTT 3.1.1, which every broker offers; it needs nothing from
//! MQTT 5 (see docs/serve.md). A broker that answers but refuses kairos
//! before the first connection succeeds (credentials, certificate) is reported
//! once through [`Edge::refused`] and ends the run: retrying cannot fix a
//! configuration. After a first success, every error is retried.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, MqttOptions, Outgoing,
    Packet, QoS, SubscribeFilter, Transport,
};
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
    /// Over TLS (`mqtts://`).
    pub tls: bool,
}

impl std::fmt::Display for BrokerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// Reads `mqtt://host[:port]` (port 1883 by default) or `mqtts://host[:port]`
/// (TLS, port 8883 by default).
pub fn parse_broker_url(url: &str) -> Result<BrokerAddress, ServeError> {
    let bad = |detail: &str| ServeError::BrokerUrl {
        url: url.to_string(),
        detail: detail.to_string(),
    };
    let (rest, tls) = if let Some(rest) = url.strip_prefix("mqtts://") {
        (rest, true)
    } else {
        let rest = url
            .strip_prefix("mqtt://")
            .or_else(|| url.strip_prefix("tcp://"))
            .ok_or_else(|| bad("expected mqtt://HOST:PORT or mqtts://HOST:PORT"))?;
        (rest, false)
    };
    let default_port = if tls { 8883 } else { 1883 };
    let rest = rest.trim_end_matches('/');
    if rest.contains(['/', '@', '?']) {
        return Err(bad(
            "expected mqtt(s)://HOST:PORT (credentials go in the config or KAIROS_BROKER_USERNAME / KAIROS_BROKER_PASSWORD)",
        ));
    }
    let (host, port) = match rest.rsplit_once(':') {
        // An IPv6 literal is bracketed: [::1]:1883.
        Some((host, port)) if !host.is_empty() && (!host.contains(':') || host.ends_with(']')) => {
            let port = port.parse().map_err(|_| bad("the port is not a number"))?;
            (host, port)
        }
        _ => (rest, default_port),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok(BrokerAddress {
        host: host.to_string(),
        port,
        tls,
    })
}

/// Client options for `address`: clean session, packet limit, credentials
/// (from the config, overridden by `KAIROS_BROKER_USERNAME` / `KAIROS_BROKER_PASSWORD`),
/// TLS for `mqtts://` (certificate files are read now).
pub fn client_options(
    client_id: &str,
    address: &BrokerAddress,
    config: &ServeConfig,
) -> Result<MqttOptions, ServeError> {
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
    if address.tls {
        options.set_transport(Transport::Tls(super::tls::client_tls(config)?));
    } else if !config.ca_file.is_empty() || !config.client_cert.is_empty() {
        tracing::warn!("serve.ca_file / client_cert are ignored: the broker URL is not mqtts://");
    }
    Ok(options)
}

/// Why retrying cannot help, when the broker answered but refused kairos
/// (its CONNACK code, or a TLS handshake that failed on a certificate);
/// `None` for errors worth retrying (no broker yet, network).
pub fn refusal(error: &ConnectionError) -> Option<String> {
    match error {
        ConnectionError::ConnectionRefused(code) => Some(match code {
            ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized => {
                "not authorised: wrong or missing user name or password \
                 (serve.username / serve.password, or KAIROS_BROKER_USERNAME / KAIROS_BROKER_PASSWORD)"
                    .to_string()
            }
            ConnectReturnCode::BadClientId => {
                "client id rejected (serve.client_id: 1 to 23 letters and digits)".to_string()
            }
            ConnectReturnCode::RefusedProtocolVersion => {
                "the broker does not speak MQTT 3.1.1".to_string()
            }
            ConnectReturnCode::ServiceUnavailable | ConnectReturnCode::Success => return None,
        }),
        ConnectionError::Tls(rumqttc::TlsError::Io(io))
            if io.kind() != std::io::ErrorKind::InvalidData =>
        {
            None
        }
        ConnectionError::Tls(tls) => Some(format!(
            "TLS handshake failed: {} (check serve.ca_file, and that the broker's certificate names the host of the URL)",
            tls_detail(tls)
        )),
        _ => None,
    }
}

/// The rustls reason inside a TLS error, when there is one.
fn tls_detail(error: &rumqttc::TlsError) -> String {
    match error {
        rumqttc::TlsError::Io(io) => io
            .get_ref()
            .map_or_else(|| io.to_string(), |inner| inner.to_string()),
        other => other.to_string(),
    }
}

/// A new client and its event loop, with Nagle's algorithm off: kairos sends
/// small messages that someone waits for (an answer held back for the
/// previous packet's ACK costs up to 40 ms).
pub fn client(options: MqttOptions) -> (AsyncClient, EventLoop) {
    let (client, mut eventloop) = AsyncClient::new(options, REQUEST_CAPACITY);
    eventloop.network_options.set_tcp_nodelay(true);
    (client, eventloop)
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
    /// Told why, when the broker refuses kairos before the first connection
    /// succeeded; the edge then stops.
    pub refused: Option<oneshot::Sender<String>>,
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
                // Connected once: later refusals are retried like any error.
                edge.refused = None;
                edge.counters.metrics.connected(true);
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
                edge.counters.metrics.received();
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
                        edge.counters.metrics.overloaded();
                        tracing::warn!(%topic, "engine busy: input dropped");
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => inputs = None,
                }
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => break,
            Ok(_) => {}
            Err(error) => {
                edge.counters.metrics.connected(false);
                if let Some(why) = refusal(&error) {
                    if let Some(refused) = edge.refused.take() {
                        tracing::error!("the broker refused kairos: {why}");
                        let _ = refused.send(why);
                        break;
                    }
                    tracing::error!("the broker refused kairos: {why}; retrying in {backoff:?}");
                } else {
                    tracing::warn!(%error, "broker connection lost; retrying in {backoff:?}");
                }
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
                counters.metrics.published(true);
            }
            Err(error) => {
                counters.metrics.published(false);
                tracing::warn!(topic = %publish.topic, %error, "cannot publish");
            }
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
        assert_eq!((a.host.as_str(), a.port, a.tls), ("::1", 1885, false));
        assert_eq!(a.to_string(), "mqtt://[::1]:1885");
        let a = parse_broker_url("mqtts://broker.example").unwrap();
        assert_eq!(
            (a.host.as_str(), a.port, a.tls),
            ("broker.example", 8883, true)
        );
        assert_eq!(a.to_string(), "mqtts://broker.example:8883");
        let a = parse_broker_url("mqtts://localhost:18883").unwrap();
        assert_eq!((a.port, a.tls), (18883, true));
        assert!(parse_broker_url("http://h").is_err());
        assert!(parse_broker_url("mqtt://h:port").is_err());
        assert!(parse_broker_url("mqtt://").is_err());
    }
}

//! The MQTT edge: broker addresses, client options, and the task that owns the
//! rumqttc event loop.
//!
//! The edge task polls the event loop and does nothing else: it resubscribes on
//! every ConnAck (a clean session forgets subscriptions; retained profiles then
//! arrive again), backs off on errors (rumqttc reconnects on the next poll with
//! no delay of its own), and turns each publish into a [`Received`] for the
//! engine.
//!
//! It hands inputs over in batches: rumqttc reads up to nine packets per
//! socket read and hands them out one poll at a time, so the edge collects the
//! publishes of one read and passes them on together once rumqttc has nothing
//! buffered (no waiting: a batch never holds an input back for more input).
//! One handoff, one wakeup of the engine task, per read instead of per message.
//!
//! It hands batches over with `try_send`, never waiting on the engine: the
//! engine's publishes travel through the very event loop the edge polls, so an
//! edge waiting on a full engine queue and an engine waiting on rumqttc's full
//! request queue would wait on each other for ever. The engine's queue is
//! bounded in inputs (`serve.channel_capacity`, counted in
//! [`Counters::queued`](super::Counters), not in batches); inputs that do not
//! fit are dropped, logged and counted (`overloaded`) instead.
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
const REQUEST_CAPACITY: usize = 2048;
/// Most inputs the edge hands over in one batch.
const BATCH_MAX: usize = 64;

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

/// The edge's side of the engine's queue: a bounded channel of batches, with
/// the number of inputs in it (and in the engine's hands) kept in
/// [`Counters::queued`](super::Counters) so the bound is in inputs.
pub(crate) struct Intake {
    sender: mpsc::Sender<ToEngine>,
    capacity: usize,
    counters: Arc<Counters>,
}

/// Whether the engine still takes inputs.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HandedOver {
    /// The batch went on (the part of it that fit).
    Open,
    /// The engine is gone.
    Closed,
}

impl Intake {
    /// An intake bounded at `capacity` inputs.
    pub(crate) fn new(
        sender: mpsc::Sender<ToEngine>,
        capacity: usize,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            sender,
            capacity,
            counters,
        }
    }

    /// Hands `batch` (left empty) to the engine without waiting: what does
    /// not fit under the bound is dropped, logged and counted.
    pub(crate) fn hand_over(&self, batch: &mut Vec<Received>) -> HandedOver {
        if batch.is_empty() {
            return HandedOver::Open;
        }
        let queued = &self.counters.queued;
        // Only the edge adds to `queued` (the engine subtracts), so the room
        // seen here can only grow before the `fetch_add` below.
        let room = self.capacity.saturating_sub(queued.load(Ordering::Acquire));
        if batch.len() > room {
            let dropped = batch.split_off(room);
            self.overloaded(&dropped);
        }
        if batch.is_empty() {
            return HandedOver::Open;
        }
        let count = batch.len();
        queued.fetch_add(count, Ordering::AcqRel);
        match self
            .sender
            .try_send(ToEngine::Inputs(std::mem::take(batch)))
        {
            Ok(()) => HandedOver::Open,
            Err(mpsc::error::TrySendError::Full(ToEngine::Inputs(dropped))) => {
                queued.fetch_sub(count, Ordering::AcqRel);
                self.overloaded(&dropped);
                HandedOver::Open
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                queued.fetch_sub(count, Ordering::AcqRel);
                HandedOver::Open
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                queued.fetch_sub(count, Ordering::AcqRel);
                HandedOver::Closed
            }
        }
    }

    /// Counts and logs inputs dropped because the engine's queue is full
    /// (one log line per batch: a line per input would add to the overload).
    fn overloaded(&self, dropped: &[Received]) {
        let Some(first) = dropped.first() else { return };
        let count = dropped.len() as u64;
        self.counters.overloaded.fetch_add(count, Ordering::Relaxed);
        self.counters.metrics.overloaded(count);
        tracing::warn!(
            topic = %first.topic,
            count,
            "engine busy: inputs dropped"
        );
    }
}

/// Polls the event loop until the engine's disconnect goes out (or `stop`),
/// handing publishes to `intake` in batches until `intake` is cancelled.
pub(crate) async fn run_edge(mut eventloop: EventLoop, mut edge: Edge, intake: Intake) {
    let mut intake = Some(intake);
    let mut batch: Vec<Received> = Vec::new();
    let mut backoff = BACKOFF_MIN;
    loop {
        // Whatever the last read brought is out of rumqttc: hand it on.
        if !batch.is_empty() && (eventloop.state.events.is_empty() || batch.len() >= BATCH_MAX) {
            if let Some(open) = &intake {
                if open.hand_over(&mut batch) == HandedOver::Closed {
                    intake = None;
                }
            }
            batch.clear();
        }
        let event = tokio::select! {
            biased;
            () = edge.stop.cancelled() => break,
            () = edge.intake.cancelled(), if intake.is_some() => {
                // What arrived before the cancellation still goes on.
                if let Some(open) = intake.take() {
                    open.hand_over(&mut batch);
                }
                batch.clear();
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
                if intake.is_none() {
                    continue;
                }
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
                batch.push(received);
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

/// Publishes one output of the engine. It waits only when rumqttc's request
/// queue is full, which the edge, never waiting on the engine, always drains.
pub(crate) async fn publish(client: &AsyncClient, publish: Publish, counters: &Counters) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(n: usize) -> Vec<Received> {
        (0..n)
            .map(|i| Received {
                topic: format!("kairos/car-{i}/position"),
                payload: b"{}".to_vec(),
                at: Utc::now(),
            })
            .collect()
    }

    fn topics(message: ToEngine) -> Vec<String> {
        match message {
            ToEngine::Inputs(batch) => batch.into_iter().map(|r| r.topic).collect(),
            ToEngine::Catalog(_) => panic!("a catalog"),
        }
    }

    #[test]
    fn the_intake_is_bounded_in_inputs_and_counts_what_it_drops() {
        let counters = Arc::new(Counters::default());
        let (sender, mut inbox) = mpsc::channel(8);
        let intake = Intake::new(sender, 3, counters.clone());

        let mut batch = inputs(2);
        assert_eq!(intake.hand_over(&mut batch), HandedOver::Open);
        assert!(batch.is_empty());
        assert_eq!(counters.queued.load(Ordering::Relaxed), 2);

        // One more fits; the first ones of the batch go, in order.
        let mut batch = inputs(3);
        assert_eq!(intake.hand_over(&mut batch), HandedOver::Open);
        assert!(batch.is_empty());
        assert_eq!(counters.queued.load(Ordering::Relaxed), 3);
        assert_eq!(counters.overloaded.load(Ordering::Relaxed), 2);
        assert_eq!(topics(inbox.try_recv().unwrap()).len(), 2);
        assert_eq!(topics(inbox.try_recv().unwrap()), ["kairos/car-0/position"]);

        // Full: everything is dropped until the engine steps some.
        assert_eq!(intake.hand_over(&mut inputs(4)), HandedOver::Open);
        assert_eq!(counters.overloaded.load(Ordering::Relaxed), 6);
        assert!(inbox.try_recv().is_err());
        counters.queued.fetch_sub(3, Ordering::Relaxed);
        assert_eq!(intake.hand_over(&mut inputs(1)), HandedOver::Open);
        assert_eq!(counters.queued.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_full_channel_drops_the_batch_and_a_closed_one_says_so() {
        let counters = Arc::new(Counters::default());
        let (sender, inbox) = mpsc::channel(1);
        let intake = Intake::new(sender, 100, counters.clone());
        assert_eq!(intake.hand_over(&mut inputs(1)), HandedOver::Open);
        // The channel holds one batch: the next is dropped, not queued.
        assert_eq!(intake.hand_over(&mut inputs(2)), HandedOver::Open);
        assert_eq!(counters.overloaded.load(Ordering::Relaxed), 2);
        assert_eq!(counters.queued.load(Ordering::Relaxed), 1);
        drop(inbox);
        assert_eq!(intake.hand_over(&mut inputs(1)), HandedOver::Closed);
        assert_eq!(counters.queued.load(Ordering::Relaxed), 1);
    }

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

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
//! The engine's queue is bounded in inputs (`serve.channel_capacity`, counted
//! in [`Counters::queued`](super::Counters), not in batches). When a batch does
//! not fit, the edge stops polling and waits for the engine to make room: no
//! more reads, so the broker holds what comes next (back-pressure, within the
//! broker's own queue limits). It waits at most [`PATIENCE`], never for ever:
//! the engine's publishes travel through the very event loop the edge polls,
//! so an edge waiting on a full engine queue and an engine waiting on
//! rumqttc's full request queue would otherwise wait on each other for ever.
//! What still does not fit then is dropped, logged and counted (`overloaded`).
//!
//! To an external broker kairos speaks MQTT 5 when the broker offers it (for
//! the No Local subscription option: the broker then keeps kairos's own
//! outputs from it) and MQTT 3.1.1 otherwise; until the first connection
//! succeeds, [`version`](super::version) decides which one each attempt
//! speaks (an MQTT 5 refusal rules MQTT 5 out, an attempt cut off tries 3.1.1
//! and then MQTT 5 again). The embedded rumqttd gets 3.1.1 (its MQTT 5 is
//! incomplete). [`Client`] and [`Connection`] hide which one is in use, so the
//! edge is one piece of logic.
//!
//! A broker that answers but refuses kairos before the first connection succeeds (credentials, certificate) is reported
//! once through [`Edge::refused`] and ends the run: retrying cannot fix a
//! configuration. After a first success, every error is retried.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rumqttc::v5::mqttbytes::v5 as v5_packets;
use rumqttc::{
    v5, AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, MqttOptions, Outgoing,
    Packet, QoS, SubscribeFilter, Transport,
};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::outbox::Tracker;
use super::version::{Choice, Failure};

use super::{owntracks, Clock, Counters, ServeError, ToEngine};
use crate::config::{BrokerAddress, ServeConfig};
use kairos_core::delivery::{self, Delivery, PacketRef, SavedPublish};
use kairos_core::input::{read, Input};
use kairos_core::output::Publish;

/// First pause after a connection error; doubled on each failure in a row.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest pause between two connection attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Requests rumqttc queues before `publish().await` waits (at least; serve
/// sizes it from `channel_capacity`, see [`request_capacity`]).
const REQUEST_CAPACITY: usize = 2048;

/// The request queue for serve: room for the outputs of a full engine queue
/// and more, so the engine rarely waits on it while the edge waits for room.
fn request_capacity(config: &ServeConfig) -> usize {
    REQUEST_CAPACITY.max(config.channel_capacity.get().saturating_mul(2))
}

/// Most inputs the edge hands over in one batch.
const BATCH_MAX: usize = 64;
/// Longest the edge waits, not reading, for the engine to make room.
pub(crate) const PATIENCE: Duration = Duration::from_secs(1);
/// How long an MQTT 5 broker keeps kairos's session (its subscriptions and
/// the inputs queued for it) after kairos went away: one day.
pub const SESSION_EXPIRY_S: u32 = 24 * 3600;

/// The session kairos keeps at the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Session {
    /// Clean: nothing kept across connections (the embedded broker, which
    /// keeps nothing across a restart of kairos anyway).
    Clean,
    /// Persistent: the broker keeps the subscriptions and queues QoS 1 inputs
    /// while kairos is away, and redelivers what kairos had not acknowledged.
    Persistent,
}

/// Client options for `address`: clean session, packet limit, credentials
/// (the config's: `KAIROS_BROKER_USERNAME` / `KAIROS_BROKER_PASSWORD` are
/// applied there, see [`Overrides::from_env`](crate::config::Overrides::from_env)),
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
    if let Some(username) = &config.username {
        options.set_credentials(username, config.password.clone().unwrap_or_default());
    }
    if address.tls {
        options.set_transport(Transport::Tls(super::tls::client_tls(config)?));
    } else if config.ca_file.is_some() || config.client_identity.is_some() {
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
                NOT_AUTHORISED.to_string()
            }
            ConnectReturnCode::BadClientId => BAD_CLIENT_ID.to_string(),
            ConnectReturnCode::RefusedProtocolVersion => {
                "the broker does not speak MQTT 3.1.1".to_string()
            }
            ConnectReturnCode::ServiceUnavailable | ConnectReturnCode::Success => return None,
        }),
        ConnectionError::Tls(tls) => tls_refusal(tls),
        _ => None,
    }
}

/// [`refusal`] for an MQTT 5 connection (its CONNACK reason codes).
fn refusal_v5(error: &v5::ConnectionError) -> Option<String> {
    use v5_packets::ConnectReturnCode as Code;
    match error {
        v5::ConnectionError::ConnectionRefused(code) => match code {
            Code::BadUserNamePassword | Code::NotAuthorized | Code::BadAuthenticationMethod => {
                Some(NOT_AUTHORISED.to_string())
            }
            Code::BadClientId | Code::ClientIdentifierNotValid => Some(BAD_CLIENT_ID.to_string()),
            Code::Banned => Some("the broker has banned this client".to_string()),
            Code::RefusedProtocolVersion | Code::UnsupportedProtocolVersion => {
                Some("the broker does not speak MQTT 5".to_string())
            }
            _ => None,
        },
        v5::ConnectionError::Tls(tls) => tls_refusal(tls),
        _ => None,
    }
}

const NOT_AUTHORISED: &str = "not authorised: wrong or missing user name or password \
     (serve.username / serve.password, or KAIROS_BROKER_USERNAME / KAIROS_BROKER_PASSWORD)";
const BAD_CLIENT_ID: &str = "client id rejected (serve.client_id: 1 to 23 letters and digits)";

/// A TLS handshake that failed on a certificate (not on the network).
fn tls_refusal(tls: &rumqttc::TlsError) -> Option<String> {
    match tls {
        rumqttc::TlsError::Io(io) if io.kind() != std::io::ErrorKind::InvalidData => None,
        tls => Some(format!(
            "TLS handshake failed: {} (check serve.ca_file, and that the broker's certificate names the host of the URL)",
            tls_detail(tls)
        )),
    }
}

/// Whether an MQTT 5 CONNECT failed the way a broker that only speaks 3.1.1
/// fails it: a CONNACK "unacceptable protocol version" (in either version's
/// format: a 3.1.1 CONNACK is not a valid MQTT 5 one), or the connection
/// closed after the CONNECT. Not a broker that is not there (yet), nor a
/// timeout, nor a TLS failure: those say nothing about the version.
fn refuses_v5(error: &v5::ConnectionError) -> bool {
    use std::io::ErrorKind;
    use v5_packets::ConnectReturnCode as Code;
    let closed = |io: &std::io::Error| {
        matches!(
            io.kind(),
            ErrorKind::UnexpectedEof
                | ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::BrokenPipe
        )
    };
    match error {
        v5::ConnectionError::ConnectionRefused(code) => matches!(
            code,
            Code::RefusedProtocolVersion | Code::UnsupportedProtocolVersion
        ),
        v5::ConnectionError::MqttState(state) => match state {
            v5::StateError::Deserialization(_) | v5::StateError::ConnectionAborted => true,
            v5::StateError::Io(io) => closed(io),
            _ => false,
        },
        v5::ConnectionError::NotConnAck(_) => true,
        v5::ConnectionError::Io(io) => closed(io),
        _ => false,
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
    client_queueing(options, REQUEST_CAPACITY)
}

/// [`client`] with a request queue of `capacity`.
fn client_queueing(options: MqttOptions, capacity: usize) -> (AsyncClient, EventLoop) {
    let (client, mut eventloop) = AsyncClient::new(options, capacity);
    eventloop.network_options.set_tcp_nodelay(true);
    (client, eventloop)
}

/// [`client_options`] for MQTT 5: the same session, limits, credentials and TLS.
fn client_options_v5(
    client_id: &str,
    address: &BrokerAddress,
    config: &ServeConfig,
    v4: &MqttOptions,
) -> v5::MqttOptions {
    let mut options = v5::MqttOptions::new(client_id, address.host.clone(), address.port);
    let max_packet = u32::try_from(config.max_packet_bytes).unwrap_or(u32::MAX);
    let persistent = !v4.clean_session();
    options
        .set_clean_start(!persistent)
        .set_manual_acks(v4.manual_acks())
        .set_keep_alive(v4.keep_alive())
        .set_max_packet_size(Some(max_packet))
        .set_transport(v4.transport());
    if persistent {
        options.set_session_expiry_interval(Some(SESSION_EXPIRY_S));
    }
    if let Some(login) = v4.credentials() {
        options.set_credentials(login.username, login.password);
    }
    let mut network = rumqttc::NetworkOptions::new();
    network.set_tcp_nodelay(true);
    options.set_network_options(network);
    options
}

/// The MQTT version a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MqttVersion {
    /// MQTT 3.1.1.
    V311,
    /// MQTT 5.
    V5,
}

impl std::fmt::Display for MqttVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::V311 => "MQTT 3.1.1",
            Self::V5 => "MQTT 5",
        })
    }
}

/// The requests side of the connection (cheap to clone): publishes and the
/// disconnect go through the client of the version in use.
#[derive(Clone)]
pub(crate) struct Client {
    v4: AsyncClient,
    v5: Option<v5::AsyncClient>,
    /// Set while the connection speaks MQTT 3.1.1 instead of 5; changes only
    /// before the first connection succeeds (nothing is published before).
    fell_back: Arc<AtomicBool>,
}

impl Client {
    /// The MQTT 5 client, while MQTT 5 is in use.
    fn v5(&self) -> Option<&v5::AsyncClient> {
        self.v5
            .as_ref()
            .filter(|_| !self.fell_back.load(Ordering::Acquire))
    }

    /// Queues a publish, waiting only when the request queue is full.
    async fn publish(
        &self,
        topic: &str,
        qos: QoS,
        retain: bool,
        payload: Vec<u8>,
    ) -> Result<(), String> {
        match self.v5() {
            Some(v5) => v5
                .publish(topic, qos_v5(qos), retain, payload)
                .await
                .map_err(|e| e.to_string()),
            None => self
                .v4
                .publish(topic, qos, retain, payload)
                .await
                .map_err(|e| e.to_string()),
        }
    }

    /// Queues the acknowledgement of the QoS 1 input with packet id `pkid`
    /// (manual acks: only once its effects are saved).
    pub(crate) async fn ack(&self, pkid: u16) -> Result<(), String> {
        match self.v5() {
            Some(v5) => {
                let mut publish =
                    v5_packets::Publish::new("", v5::mqttbytes::QoS::AtLeastOnce, "", None);
                publish.pkid = pkid;
                v5.ack(&publish).await.map_err(|e| e.to_string())
            }
            None => {
                let mut publish = rumqttc::Publish::new("", QoS::AtLeastOnce, Vec::new());
                publish.pkid = pkid;
                self.v4.ack(&publish).await.map_err(|e| e.to_string())
            }
        }
    }

    /// Queues the disconnect, after everything queued before it.
    pub(crate) async fn disconnect(&self) -> Result<(), String> {
        match self.v5() {
            Some(v5) => v5.disconnect().await.map_err(|e| e.to_string()),
            None => self.v4.disconnect().await.map_err(|e| e.to_string()),
        }
    }

    /// Subscribes to `filters` at QoS 1 without waiting. On MQTT 5 with No
    /// Local (kairos's own outputs are not sent back to it), except on shared
    /// subscriptions, where MQTT 5 forbids it (§3.8.3.1).
    fn try_subscribe(&self, filters: &[String]) -> Result<(), String> {
        match self.v5() {
            Some(v5) => {
                let filters = filters.iter().map(|f| {
                    let mut filter =
                        v5_packets::Filter::new(f.clone(), v5::mqttbytes::QoS::AtLeastOnce);
                    filter.nolocal = !f.starts_with("$share/");
                    // Retained profiles only for a subscription the session
                    // did not have: a resumed session gets only what was
                    // queued, in order (a profile sent again after a queued
                    // `forget` would bring the device back).
                    filter.retain_forward_rule = v5_packets::RetainForwardRule::OnNewSubscribe;
                    filter
                });
                v5.try_subscribe_many(filters).map_err(|e| e.to_string())
            }
            None => {
                let filters = filters
                    .iter()
                    .map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
                self.v4
                    .try_subscribe_many(filters)
                    .map_err(|e| e.to_string())
            }
        }
    }
}

fn qos_v5(qos: QoS) -> v5::mqttbytes::QoS {
    match qos {
        QoS::AtMostOnce => v5::mqttbytes::QoS::AtMostOnce,
        QoS::AtLeastOnce => v5::mqttbytes::QoS::AtLeastOnce,
        QoS::ExactlyOnce => v5::mqttbytes::QoS::ExactlyOnce,
    }
}

/// The event loop of the version in use, polled by the edge only. Before the
/// first connection succeeds the edge may change the version
/// ([`Connection::choose`], by the rules of [`version`](super::version));
/// once connected, it stays for every reconnect.
pub(crate) struct Connection {
    v4: EventLoop,
    /// Until MQTT 5 is ruled out for the run (then dropped).
    v5: Option<Box<v5::EventLoop>>,
    choice: Choice,
    /// Set while the choice is 3.1.1 (shared with [`Client`]).
    fell_back: Arc<AtomicBool>,
}

/// What the edge sees of the event loop, whichever the version.
enum Polled {
    ConnAck {
        session_present: bool,
    },
    SubAck,
    Publish {
        topic: String,
        payload: Vec<u8>,
        /// Packet id of a QoS 1 publish (to acknowledge), else `None`.
        pkid: Option<u16>,
        /// Marked as a redelivery.
        dup: bool,
    },
    /// A QoS 1 publish of kairos's went out with this packet id.
    Sent(u16),
    /// The broker acknowledged kairos's publish with this packet id.
    PubAck(u16),
    /// The disconnect went out.
    Disconnect,
    Other,
    Error(PollError),
}

enum PollError {
    V4(ConnectionError),
    V5(v5::ConnectionError),
}

impl std::fmt::Display for PollError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::V4(error) => error.fmt(f),
            Self::V5(error) => error.fmt(f),
        }
    }
}

impl PollError {
    fn refusal(&self) -> Option<String> {
        match self {
            Self::V4(error) => refusal(error),
            Self::V5(error) => refusal_v5(error),
        }
    }

    /// What the failure says about the MQTT version.
    fn failure(&self) -> Failure {
        use v5_packets::ConnectReturnCode as Code;
        match self {
            Self::V5(v5::ConnectionError::ConnectionRefused(
                Code::RefusedProtocolVersion | Code::UnsupportedProtocolVersion,
            )) => Failure::V5Refused,
            Self::V5(error) if refuses_v5(error) => Failure::V5CutOff,
            Self::V4(ConnectionError::ConnectionRefused(
                ConnectReturnCode::RefusedProtocolVersion,
            )) => Failure::V311Refused,
            _ => Failure::Other,
        }
    }
}

impl Connection {
    fn version(&self) -> MqttVersion {
        if self.choice.is_v5() {
            MqttVersion::V5
        } else {
            MqttVersion::V311
        }
    }

    /// Whether the last socket read's packets are all handed out.
    fn drained(&self) -> bool {
        match self.v5.as_deref().filter(|_| self.choice.is_v5()) {
            Some(v5) => v5.state.events.is_empty(),
            None => self.v4.state.events.is_empty(),
        }
    }

    /// The version the next attempt speaks.
    fn choice(&self) -> Choice {
        self.choice
    }

    /// Speaks `choice` from the next attempt on (MQTT 5 only while it is not
    /// ruled out); only before the first connection succeeds.
    fn choose(&mut self, choice: Choice) {
        if choice == Choice::V311 {
            self.v5 = None;
        }
        self.choice = if self.v5.is_none() {
            Choice::V311
        } else {
            choice
        };
        self.fell_back
            .store(!self.choice.is_v5(), Ordering::Release);
    }

    async fn poll(&mut self) -> Polled {
        let v5 = self.v5.as_mut().filter(|_| self.choice.is_v5());
        match v5 {
            Some(v5) => match v5.poll().await {
                Ok(v5::Event::Incoming(v5_packets::Packet::ConnAck(ack))) => Polled::ConnAck {
                    session_present: ack.session_present,
                },
                Ok(v5::Event::Incoming(v5_packets::Packet::SubAck(_))) => Polled::SubAck,
                Ok(v5::Event::Incoming(v5_packets::Packet::Publish(publish))) => Polled::Publish {
                    topic: String::from_utf8_lossy(&publish.topic).into_owned(),
                    payload: publish.payload.to_vec(),
                    pkid: (publish.qos != v5::mqttbytes::QoS::AtMostOnce).then_some(publish.pkid),
                    dup: publish.dup,
                },
                Ok(v5::Event::Incoming(v5_packets::Packet::PubAck(ack))) => {
                    Polled::PubAck(ack.pkid)
                }
                Ok(v5::Event::Outgoing(Outgoing::Publish(pkid))) => Polled::Sent(pkid),
                Ok(v5::Event::Outgoing(Outgoing::Disconnect)) => Polled::Disconnect,
                Ok(_) => Polled::Other,
                Err(error) => Polled::Error(PollError::V5(error)),
            },
            None => match self.v4.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => Polled::ConnAck {
                    session_present: ack.session_present,
                },
                Ok(Event::Incoming(Packet::SubAck(_))) => Polled::SubAck,
                Ok(Event::Incoming(Packet::Publish(publish))) => Polled::Publish {
                    pkid: (publish.qos != QoS::AtMostOnce).then_some(publish.pkid),
                    dup: publish.dup,
                    topic: publish.topic,
                    payload: publish.payload.to_vec(),
                },
                Ok(Event::Incoming(Packet::PubAck(ack))) => Polled::PubAck(ack.pkid),
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => Polled::Sent(pkid),
                Ok(Event::Outgoing(Outgoing::Disconnect)) => Polled::Disconnect,
                Ok(_) => Polled::Other,
                Err(error) => Polled::Error(PollError::V4(error)),
            },
        }
    }
}

/// A client and its connection to `address`: MQTT 5 first when `try_v5`
/// (an external broker), MQTT 3.1.1 otherwise or once the broker refuses 5.
pub(crate) fn connect(
    client_id: &str,
    address: &BrokerAddress,
    config: &ServeConfig,
    try_v5: bool,
    session: Session,
) -> Result<(Client, Connection), ServeError> {
    let mut options = client_options(client_id, address, config)?;
    // Inputs are acknowledged by the engine once their effects are saved.
    options
        .set_clean_session(session == Session::Clean)
        .set_manual_acks(true);
    let capacity = request_capacity(config);
    let v5 = try_v5.then(|| {
        v5::AsyncClient::new(
            client_options_v5(client_id, address, config, &options),
            capacity,
        )
    });
    let (v4_client, v4_loop) = client_queueing(options, capacity);
    let (v5_client, v5_loop) = v5.unzip();
    let fell_back = Arc::new(AtomicBool::new(false));
    Ok((
        Client {
            v4: v4_client,
            v5: v5_client,
            fell_back: fell_back.clone(),
        },
        Connection {
            choice: if v5_loop.is_some() {
                Choice::V5
            } else {
                Choice::V311
            },
            v4: v4_loop,
            v5: v5_loop.map(Box::new),
            fell_back,
        },
    ))
}

/// One message as it arrived, read once into a typed input.
#[derive(Debug, Clone)]
pub struct Received {
    /// What it says.
    pub input: Input,
    /// When it arrived, on the serve clock.
    pub at: DateTime<Utc>,
    /// Its packet and `mid` (what a redelivery is recognised by).
    pub delivery: Delivery,
    /// The packet id to acknowledge once its effects are saved (QoS 1).
    pub ack: Option<u16>,
}

/// What the edge needs besides the event loop.
pub(crate) struct Edge {
    pub client: Client,
    /// This session's client id (saved with each input's packet id).
    pub client_id: String,
    /// Pairs kairos's publishes with their outbox entries.
    pub tracker: Arc<Tracker>,
    pub filters: Vec<String>,
    /// The topic prefix (OwnTracks locations are mapped under it).
    pub prefix: String,
    /// Largest input payload, in bytes (`engine.max_payload_bytes`).
    pub max_payload_bytes: usize,
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
        let room = self.room();
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

    /// Inputs the engine's queue can still take.
    fn room(&self) -> usize {
        self.capacity
            .saturating_sub(self.counters.queued.load(Ordering::Acquire))
    }

    /// Hands `batch` (left empty) to the engine, waiting up to `patience`
    /// for room when it does not fit; what still does not fit is dropped and
    /// counted. The caller polls nothing meanwhile: that is the back-pressure.
    pub(crate) async fn hand_over_waiting(
        &self,
        batch: &mut Vec<Received>,
        patience: Duration,
    ) -> HandedOver {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let room = self.room();
            if batch.len() <= room {
                return self.hand_over(batch);
            }
            if room > 0 {
                let rest = batch.split_off(room);
                if self.hand_over(batch) == HandedOver::Closed {
                    return HandedOver::Closed;
                }
                *batch = rest;
            }
            // `notify_one` keeps a permit when no one waits: no wakeup is lost
            // between the look at `queued` above and this wait.
            let room_made = self.counters.room.notified();
            if tokio::time::timeout_at(deadline, room_made).await.is_err() {
                return self.hand_over(batch);
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
            topic = %first.input.topic(),
            count,
            "engine busy: inputs dropped"
        );
    }
}

/// Polls the event loop until the engine's disconnect goes out (or `stop`),
/// handing publishes to `intake` in batches until `intake` is cancelled.
pub(crate) async fn run_edge(mut connection: Connection, mut edge: Edge, intake: Intake) {
    let mut intake = Some(intake);
    let mut connected_once = false;
    let mut batch: Vec<Received> = Vec::new();
    let mut backoff = BACKOFF_MIN;
    loop {
        // Whatever the last read brought is out of rumqttc: hand it on.
        if !batch.is_empty() && (connection.drained() || batch.len() >= BATCH_MAX) {
            pass_on(&mut intake, &mut batch).await;
        }
        let event = tokio::select! {
            biased;
            () = edge.stop.cancelled() => break,
            () = edge.intake.cancelled(), if intake.is_some() => {
                // What arrived before the cancellation still goes on.
                if let Some(open) = intake.take() {
                    open.hand_over_waiting(&mut batch, PATIENCE).await;
                }
                batch.clear();
                continue;
            }
            event = connection.poll() => event,
        };
        match event {
            Polled::ConnAck { session_present } => {
                backoff = BACKOFF_MIN;
                // Connected once: later refusals are retried like any error.
                edge.refused = None;
                if !connected_once {
                    connected_once = true;
                    tracing::info!("speaking {}", connection.version());
                } else if !session_present {
                    edge.tracker.session_lost();
                }
                edge.counters.metrics.connected(true);
                // MQTT 5 subscribes again either way (no retained messages
                // for subscriptions the session has, see `try_subscribe`);
                // 3.1.1 has no such option, so a resumed session keeps its
                // subscriptions as they are.
                if session_present && connection.version() == MqttVersion::V311 {
                    tracing::info!("connected to the broker; session resumed");
                    if let Some(ready) = edge.ready.take() {
                        let _ = ready.send(());
                    }
                } else {
                    tracing::info!(
                        session_present,
                        "connected to the broker; subscribing to {:?}",
                        edge.filters
                    );
                    if let Err(error) = edge.client.try_subscribe(&edge.filters) {
                        tracing::error!(%error, "cannot subscribe");
                    }
                }
            }
            Polled::Sent(pkid) => edge.tracker.went_out(pkid),
            Polled::PubAck(pkid) => edge.tracker.acknowledged(pkid),
            Polled::SubAck => {
                if let Some(ready) = edge.ready.take() {
                    let _ = ready.send(());
                }
            }
            Polled::Publish {
                topic,
                payload,
                pkid,
                dup,
            } => {
                if intake.is_none() {
                    continue;
                }
                let delivery = Delivery {
                    packet: pkid.map(|pkid| PacketRef {
                        client: edge.client_id.clone(),
                        pkid,
                        hash: delivery::hash(&topic, &payload),
                    }),
                    dup,
                    mid: delivery::mid_of(&payload),
                };
                edge.counters.received.fetch_add(1, Ordering::Relaxed);
                edge.counters.metrics.received();
                let at = edge.clock.now();
                let input = if topic.starts_with("owntracks/") {
                    let Some(input) =
                        owntracks::to_input(&edge.prefix, &topic, &payload, edge.max_payload_bytes)
                    else {
                        tracing::debug!(%topic, "not an OwnTracks location; ignored");
                        continue;
                    };
                    input
                } else {
                    read(&edge.prefix, &topic, &payload, edge.max_payload_bytes)
                };
                batch.push(Received {
                    input,
                    at,
                    delivery,
                    ack: pkid,
                });
            }
            Polled::Disconnect => break,
            Polled::Other => {}
            Polled::Error(error) => {
                // What the last read brought goes on now, not after the outage.
                pass_on(&mut intake, &mut batch).await;
                let mut may_refuse = true;
                if !connected_once {
                    let next = connection.choice().after(error.failure());
                    if next.choice != connection.choice() {
                        tracing::info!(
                            %error,
                            "connecting failed; trying {} next",
                            if next.choice.is_v5() { "MQTT 5" } else { "MQTT 3.1.1" }
                        );
                        connection.choose(next.choice);
                    }
                    if next.at_once {
                        continue;
                    }
                    may_refuse = next.may_refuse;
                }
                edge.counters.metrics.connected(false);
                match error.refusal().filter(|_| may_refuse) {
                    Some(why) => {
                        if let Some(refused) = edge.refused.take() {
                            tracing::error!("the broker refused kairos: {why}");
                            let _ = refused.send(why);
                            break;
                        }
                        tracing::error!(
                            "the broker refused kairos: {why}; retrying in {backoff:?}"
                        );
                    }
                    None => {
                        tracing::warn!(%error, "broker connection lost; retrying in {backoff:?}")
                    }
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

/// Hands `batch` (left empty) to the engine, if it still takes inputs;
/// forgets the intake once the engine is gone.
async fn pass_on(intake: &mut Option<Intake>, batch: &mut Vec<Received>) {
    if let Some(open) = intake {
        if open.hand_over_waiting(batch, PATIENCE).await == HandedOver::Closed {
            *intake = None;
        }
    }
    batch.clear();
}

/// One message for the broker, as bytes.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    topic: String,
    payload: Vec<u8>,
    retain: bool,
    at_least_once: bool,
}

impl From<Publish> for Message {
    fn from(publish: Publish) -> Self {
        Self {
            at_least_once: publish.at_least_once(),
            payload: publish.body.to_bytes(),
            topic: publish.topic,
            retain: publish.retain,
        }
    }
}

impl From<&SavedPublish> for Message {
    fn from(saved: &SavedPublish) -> Self {
        Self {
            topic: saved.topic.clone(),
            payload: saved.payload.clone().into_bytes(),
            retain: saved.retain,
            at_least_once: saved.at_least_once,
        }
    }
}

/// Publishes one output of the engine; `entry` is its outbox entry, noted
/// in `tracker` so that the broker's acknowledgement releases it. It waits
/// only when rumqttc's request queue is full, which the edge drains whenever
/// it polls (it stops polling only to wait, at most [`PATIENCE`], for the
/// engine to make room). Gives up when `stop` is cancelled (the broker gone
/// while stopping).
pub(crate) async fn publish(
    client: &Client,
    message: Message,
    entry: Option<u64>,
    tracker: &Tracker,
    counters: &Counters,
    stop: &CancellationToken,
) {
    let qos = if message.at_least_once {
        QoS::AtLeastOnce
    } else {
        QoS::AtMostOnce
    };
    if message.at_least_once {
        tracker.queued(entry);
    }
    let queued = tokio::select! {
        queued = client.publish(message.topic.as_str(), qos, message.retain, message.payload) => queued,
        () = stop.cancelled() => Err("stopping with the broker unreachable".to_string()),
    };
    match queued {
        Ok(()) => {
            counters.published.fetch_add(1, Ordering::Relaxed);
            counters.metrics.published(true);
        }
        Err(error) => {
            if message.at_least_once {
                tracker.not_queued();
            }
            counters.metrics.published(false);
            tracing::warn!(topic = %message.topic, %error, "cannot publish");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(n: usize) -> Vec<Received> {
        (0..n)
            .map(|i| Received {
                input: read("kairos", &format!("kairos/car-{i}/position"), b"{}", 100),
                at: Utc::now(),
                delivery: Delivery::default(),
                ack: None,
            })
            .collect()
    }

    fn topics(message: ToEngine) -> Vec<String> {
        match message {
            ToEngine::Inputs(batch) => batch
                .into_iter()
                .map(|r| r.input.topic().to_string())
                .collect(),
            ToEngine::Catalog(_) | ToEngine::Roads(_) => panic!("not inputs"),
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

    #[tokio::test]
    async fn a_full_queue_makes_the_edge_wait_for_room_instead_of_dropping() {
        let counters = Arc::new(Counters::default());
        let (sender, mut inbox) = mpsc::channel(8);
        let intake = Intake::new(sender, 2, counters.clone());
        assert_eq!(intake.hand_over(&mut inputs(2)), HandedOver::Open);
        // An engine that takes one input every 10 ms.
        let engine = tokio::spawn({
            let counters = counters.clone();
            async move {
                let mut taken = Vec::new();
                while let Some(message) = inbox.recv().await {
                    for topic in topics(message) {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        counters.queued.fetch_sub(1, Ordering::AcqRel);
                        counters.room.notify_one();
                        taken.push(topic);
                    }
                }
                taken
            }
        });
        let mut batch = inputs(5);
        let handed = intake
            .hand_over_waiting(&mut batch, Duration::from_secs(5))
            .await;
        assert_eq!(handed, HandedOver::Open);
        assert!(batch.is_empty());
        assert_eq!(counters.overloaded.load(Ordering::Relaxed), 0);
        drop(intake);
        let taken = engine.await.unwrap();
        assert_eq!(taken.len(), 7, "every input reached the engine: {taken:?}");
    }

    #[tokio::test]
    async fn an_engine_that_makes_no_room_in_time_gets_the_excess_dropped() {
        let counters = Arc::new(Counters::default());
        let (sender, _inbox) = mpsc::channel(8);
        let intake = Intake::new(sender, 2, counters.clone());
        assert_eq!(intake.hand_over(&mut inputs(2)), HandedOver::Open);
        let mut batch = inputs(3);
        let handed = intake
            .hand_over_waiting(&mut batch, Duration::from_millis(50))
            .await;
        assert_eq!(handed, HandedOver::Open);
        assert_eq!(counters.overloaded.load(Ordering::Relaxed), 3);
        assert_eq!(counters.queued.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_refused_or_closed_mqtt_5_connect_falls_back_and_a_refused_password_does_not() {
        use std::io::{Error, ErrorKind};
        use v5_packets::ConnectReturnCode as Code;
        let refused = |code| v5::ConnectionError::ConnectionRefused(code);
        assert!(refuses_v5(&refused(Code::UnsupportedProtocolVersion)));
        assert!(refuses_v5(&v5::ConnectionError::MqttState(
            v5::StateError::ConnectionAborted
        )));
        assert!(refuses_v5(&v5::ConnectionError::Io(Error::from(
            ErrorKind::ConnectionReset
        ))));
        // No broker (yet), or one that refuses kairos itself: not about the version.
        assert!(!refuses_v5(&v5::ConnectionError::Io(Error::from(
            ErrorKind::ConnectionRefused
        ))));
        assert!(!refuses_v5(&refused(Code::BadUserNamePassword)));
        assert!(refusal_v5(&refused(Code::NotAuthorized))
            .unwrap()
            .contains("user name or password"));
        assert!(refusal_v5(&refused(Code::ServerBusy)).is_none());
    }

    #[test]
    fn failures_are_read_for_what_they_say_about_the_version() {
        use std::io::{Error, ErrorKind};
        use v5_packets::ConnectReturnCode as Code;
        let v5_refused = |code| PollError::V5(v5::ConnectionError::ConnectionRefused(code));
        assert_eq!(
            v5_refused(Code::UnsupportedProtocolVersion).failure(),
            Failure::V5Refused
        );
        assert_eq!(
            PollError::V5(v5::ConnectionError::MqttState(
                v5::StateError::ConnectionAborted
            ))
            .failure(),
            Failure::V5CutOff
        );
        assert_eq!(
            PollError::V4(ConnectionError::ConnectionRefused(
                ConnectReturnCode::RefusedProtocolVersion
            ))
            .failure(),
            Failure::V311Refused
        );
        for other in [
            v5_refused(Code::BadUserNamePassword),
            PollError::V5(v5::ConnectionError::Io(Error::from(
                ErrorKind::ConnectionRefused,
            ))),
            PollError::V4(ConnectionError::ConnectionRefused(
                ConnectReturnCode::NotAuthorized,
            )),
        ] {
            assert_eq!(other.failure(), Failure::Other, "{other}");
        }
    }
}

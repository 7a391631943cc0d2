//! `kairos serve`: the engine live over MQTT, with an embedded broker by default.
//!
//! Tasks around the one pure [`Engine`], joined by bounded queues:
//!
//! ```text
//! broker ⇄ edge (owns the rumqttc event loop) ──batches of Received──▶ engine task ─┐
//!    ▲                     offer watcher ──new Catalog──▶ engine task              │
//!    └──────────── rumqttc request queue (polled by the edge) ◀── Publish ─────────┘
//! ```
//!
//! The engine publishes its outputs itself, straight into rumqttc's request
//! queue: a separate publisher task cost one more handoff (and often a thread
//! wakeup) per output for nothing. The edge waits on the engine only for
//! room in its queue, and never longer than [`mqtt::PATIENCE`]: the engine may
//! itself be waiting on the request queue the edge drains (see [`mqtt`]).
//!
//! - [`broker`]: the embedded rumqttd, started unless a broker URL is given.
//! - [`users`]: the embedded broker's accounts (`serve.embedded_users_file`).
//! - [`mqtt`]: broker addresses, client options, the edge task.
//! - `engine_task`: the engine task: batches, one store commit each, then
//!   publishes and acknowledgements (inputs acknowledged only once saved).
//! - [`outbox`]: which saved outputs the broker has acknowledged.
//! - [`offers`]: offer files polled and reloaded off the engine task.
//! - [`roads`]: the road file (`--roads`) polled and reloaded likewise.
//! - [`clock`]: where receive times come from (system, or the demo's timeline).
//! - [`demo`]: `kairos demo`, the seed example over real MQTT.
//! - [`record`]: `kairos record`, inputs written as a trace file.
//! - [`owntracks`]: OwnTracks locations read as positions (`serve.owntracks`).
//! - [`tls`]: the rustls configuration for `mqtts://` brokers.
//! - [`metrics`]: the Prometheus endpoint (`--metrics`) and what it counts.
//! - [`purge`]: the state store purged of expired history, off the engine task.
//! - [`share`]: shared subscriptions for several instances (`--share-group`).
//!
//! Shutdown is a future passed in: when it completes, intake stops (the edge
//! stops handing on inputs, the watcher stops), the engine finishes the inputs
//! already queued and publishes their outputs, then disconnects; the edge
//! polls until that disconnect is out (or a grace period ends).

pub mod broker;
pub mod clock;
pub mod demo;
mod engine_task;
pub mod metrics;
pub mod mqtt;
pub mod offers;
pub mod outbox;
pub mod owntracks;
pub mod purge;
pub mod record;
pub mod roads;
pub mod share;
pub mod tls;
pub mod users;
mod version;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use clock::Clock;
pub use mqtt::Received;

use crate::config::{BrokerAddress, Config};
use crate::store::DeviceState;
use kairos_core::catalog::Catalog;
use kairos_core::offers::LoadError;
use kairos_core::Engine;

/// How long the edge may keep polling after the last output to get the
/// publishes and the disconnect out (the broker may be gone).
const FLUSH_GRACE: Duration = Duration::from_secs(5);

/// Why `serve` (or `demo`, `record`) could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The embedded broker's port is taken.
    #[error("cannot listen on {addr}: address in use (another MQTT broker?). Use --broker mqtt://{addr} to use that broker, or --listen {ip}:PORT for another port.", ip = addr.ip())]
    AddressInUse {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The embedded broker was asked to listen off loopback with no accounts:
    /// anyone who reaches it could read every device's suggestions.
    #[error("refusing to open the embedded broker on {addr} without credentials: anyone who can reach it could read every device's suggestions and send `forget` for any device. Keep it on loopback (--listen 127.0.0.1:{port}), give it accounts (serve.embedded_users_file or KAIROS_EMBEDDED_USERS_FILE, a mosquitto_passwd file), or use --broker with a broker that keeps devices apart (deploy/mosquitto).", port = addr.port())]
    OpenWithoutCredentials {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The embedded broker's password file cannot be used.
    #[error(transparent)]
    Users(#[from] users::UsersError),
    /// The embedded broker cannot listen for another reason.
    #[error("cannot listen on {addr}: {detail}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        detail: String,
    },
    /// The broker URL cannot be used.
    #[error(transparent)]
    BrokerUrl(#[from] crate::config::BadBrokerUrl),
    /// The TLS settings cannot be used (certificate files, key).
    #[error("TLS: {0}")]
    Tls(String),
    /// The broker answered but refused kairos (credentials, certificate):
    /// retrying would not help, so `serve` stops with this.
    #[error("broker {broker} refused the connection: {detail}")]
    BrokerRefused {
        /// The broker, as `mqtt(s)://host:port`.
        broker: String,
        /// Why, and what to check.
        detail: String,
    },
    /// The offer files cannot be read at all.
    #[error(transparent)]
    Offers(#[from] LoadError),
    /// The state store cannot be opened (corrupt, unwritable, unreachable).
    #[error(transparent)]
    State(#[from] crate::store::StoreError),
    /// Something else went wrong (broker never answered, output file, ...).
    #[error("{0}")]
    Other(String),
}

/// Which broker to use.
#[derive(Debug, Clone)]
pub enum BrokerChoice {
    /// Start the embedded broker on this address (port 0: any free port).
    Embedded(SocketAddr),
    /// Connect to an existing broker.
    External(BrokerAddress),
}

/// Where the offers come from.
#[derive(Clone)]
pub enum OfferSource {
    /// Files or folders, reloaded when they change.
    Paths(Vec<PathBuf>),
    /// A catalog already loaded, never reloaded (the demo's bundled offers).
    Loaded(Arc<Catalog>),
}

/// Where `serve` gets its road network.
pub enum RoadSource {
    /// A file (`--roads`), reloaded when it changes.
    Path(PathBuf),
    /// A network already loaded, never reloaded (the demo's bundled roads).
    Loaded(Arc<kairos_core::roads::RoadNetwork>),
}

/// Everything `serve` needs.
pub struct ServeOptions {
    /// The configuration (`[engine]` and `[serve]`).
    pub config: Config,
    /// The broker.
    pub broker: BrokerChoice,
    /// The offers.
    pub offers: OfferSource,
    /// The road network (`--roads`), if any.
    pub roads: Option<RoadSource>,
    /// Where receive times come from.
    pub clock: Clock,
    /// Told once the engine is subscribed (tests and the demo wait on it).
    pub ready: Option<oneshot::Sender<()>>,
}

impl ServeOptions {
    /// Options from a configuration: its broker (embedded on `serve.listen`
    /// when `serve.broker` is empty), the system clock.
    pub fn new(config: Config, offers: OfferSource) -> Self {
        let broker = match &config.serve.broker {
            None => BrokerChoice::Embedded(config.serve.listen),
            Some(address) => BrokerChoice::External(address.clone()),
        };
        Self {
            config,
            broker,
            offers,
            roads: None,
            clock: Clock::System,
            ready: None,
        }
    }
}

/// Counts kept while serving.
#[derive(Debug, Default)]
pub struct Counters {
    /// Messages received from the broker.
    pub received: AtomicU64,
    /// Inputs handed to the engine.
    pub stepped: AtomicU64,
    /// Inputs dropped by the engine (topic names no valid device).
    pub dropped: AtomicU64,
    /// Inputs dropped because the engine's queue stayed full (see `mqtt`).
    pub overloaded: AtomicU64,
    /// Messages published.
    pub published: AtomicU64,
    /// Inputs handed to the engine task and not yet stepped (the queue's
    /// bound, `serve.channel_capacity`, is on this).
    pub queued: AtomicUsize,
    /// Told each time the engine takes an input off its queue (room for the
    /// edge, which may be waiting for it).
    pub room: tokio::sync::Notify,
    /// The same events and more, for the Prometheus endpoint.
    pub metrics: metrics::ServeMetrics,
}

/// What a `serve` run went through.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ServeSummary {
    /// Messages received from the broker.
    pub received: u64,
    /// Inputs handed to the engine.
    pub stepped: u64,
    /// Inputs dropped (invalid device topic).
    pub dropped: u64,
    /// Inputs dropped because the engine could not make room in time.
    pub overloaded: u64,
    /// Messages published.
    pub published: u64,
}

impl Counters {
    fn summary(&self) -> ServeSummary {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ServeSummary {
            received: get(&self.received),
            stepped: get(&self.stepped),
            dropped: get(&self.dropped),
            overloaded: get(&self.overloaded),
            published: get(&self.published),
        }
    }
}

/// A message for the engine task.
pub(crate) enum ToEngine {
    /// Inputs to step, in arrival order (what one read from the broker brought).
    Inputs(Vec<Received>),
    /// A new offer set to swap in.
    Catalog(Arc<Catalog>),
    /// A new road network to swap in.
    Roads(Arc<kairos_core::roads::RoadNetwork>),
}

/// Resolves the broker to connect to, starting the embedded one if asked
/// (and waiting until it accepts connections). With accounts for the
/// embedded broker (`serve.embedded_users_file`), also the login kairos's own
/// client must use there.
pub async fn broker_address(
    choice: &BrokerChoice,
    config: &Config,
) -> Result<(BrokerAddress, Option<users::EngineLogin>), ServeError> {
    let users_file = config.serve.embedded_users_file.as_deref();
    match choice {
        BrokerChoice::External(address) => {
            if let Some(path) = users_file {
                tracing::warn!(
                    file = %path.display(),
                    "serve.embedded_users_file is ignored: kairos uses the broker {address}"
                );
            }
            Ok((address.clone(), None))
        }
        BrokerChoice::Embedded(listen) => {
            let users = users_file
                .map(users::Users::load)
                .transpose()?
                .map(Arc::new);
            let login = users.as_ref().map(|u| u.engine_login().clone());
            if let Some(users) = &users {
                tracing::info!(accounts = users.len(), "embedded broker: logins required");
            }
            let addr = broker::start(*listen, config.serve.max_packet_bytes, users)?;
            broker::wait_listening(addr).await?;
            let address = BrokerAddress {
                host: addr.ip().to_string(),
                port: addr.port(),
                tls: false,
            };
            Ok((address, login))
        }
    }
}

/// Runs the live engine until `shutdown` completes, then stops cleanly.
pub async fn serve(
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<ServeSummary, ServeError> {
    let ServeOptions {
        config,
        broker,
        offers,
        roads,
        clock,
        ready,
    } = options;
    // The broker first: a taken port is the most common mistake, and its
    // one-line answer should not wait for (or follow) the offers' warnings.
    let (address, engine_login) = broker_address(&broker, &config).await?;
    let _exporter = config.serve.metrics.map(metrics::start).transpose()?;
    let state = DeviceState::open(config.serve.state.as_ref()).await?;
    let catalog = match &offers {
        OfferSource::Loaded(catalog) => catalog.clone(),
        OfferSource::Paths(paths) => {
            let paths = paths.clone();
            let loaded = tokio::task::spawn_blocking(move || offers::load_catalog(&paths))
                .await
                .map_err(|e| ServeError::Other(format!("offer loading failed: {e}")))??;
            Arc::new(loaded)
        }
    };
    tracing::info!(merchants = catalog.len(), "offers loaded");
    let network = match &roads {
        None => None,
        Some(RoadSource::Loaded(network)) => Some(network.clone()),
        Some(RoadSource::Path(path)) => {
            let path = path.clone();
            let loaded = tokio::task::spawn_blocking(move || roads::load(&path))
                .await
                .map_err(|e| ServeError::Other(format!("road loading failed: {e}")))?
                .map_err(|e| ServeError::Other(e.to_string()))?;
            tracing::info!(nodes = loaded.node_count(), "roads loaded");
            Some(Arc::new(loaded))
        }
    };
    tracing::info!(broker = %address, "connecting");
    let share_group = config.serve.share_group.as_ref();
    let client_id = share::client_id(
        &config.serve.client_id,
        share_group,
        config.serve.state.as_ref(),
    );
    tracing::info!(%client_id, "MQTT client id");
    // MQTT 5 to an external broker that offers it; the embedded rumqttd's
    // MQTT 5 is incomplete.
    let external = matches!(broker, BrokerChoice::External(_));
    // On the embedded broker with accounts, kairos logs in with its own.
    let client_config = match engine_login {
        None => std::borrow::Cow::Borrowed(&config.serve),
        Some(login) => std::borrow::Cow::Owned(crate::config::ServeConfig {
            username: Some(login.username),
            password: Some(login.password),
            ..config.serve.clone()
        }),
    };
    // A persistent session with an external broker: it holds QoS 1 inputs
    // while kairos is away. The embedded broker keeps nothing across a
    // restart of kairos anyway.
    let session = if external {
        mqtt::Session::Persistent
    } else {
        mqtt::Session::Clean
    };
    let (client, connection) =
        mqtt::connect(&client_id, &address, &client_config, external, session)?;
    let outbox_tracker = Arc::new(outbox::Tracker::default());

    let counters = Arc::new(Counters::default());
    counters.metrics.merchants(catalog.len());
    let (refused, is_refused) = oneshot::channel();
    let intake = CancellationToken::new();
    let stop = CancellationToken::new();
    let capacity = config.serve.channel_capacity.get();
    // A batch holds at least one input, so `capacity` batches never bind
    // before `capacity` inputs do (the bound the edge enforces); the few more
    // places are for offer reloads, which share the channel.
    let (to_engine, engine_inbox) = mpsc::channel(capacity + 4);
    let tracker = TaskTracker::new();

    let edge = tracker.spawn(mqtt::run_edge(
        connection,
        mqtt::Edge {
            client: client.clone(),
            client_id: client_id.clone(),
            tracker: outbox_tracker.clone(),
            filters: std::iter::once(format!("{}/+/+", config.engine.prefix))
                .chain(
                    config
                        .serve
                        .owntracks
                        .then(|| owntracks::FILTER.to_string()),
                )
                .map(|f| share::filter(share_group, &f))
                .collect(),
            prefix: config.engine.prefix.clone(),
            max_payload_bytes: config.engine.max_payload_bytes,
            clock: clock.clone(),
            counters: counters.clone(),
            intake: intake.clone(),
            stop: stop.clone(),
            ready,
            refused: Some(refused),
        },
        mqtt::Intake::new(to_engine.clone(), capacity, counters.clone()),
    ));
    if let OfferSource::Paths(paths) = offers {
        tracker.spawn(offers::watch(
            paths,
            config.serve.offers_poll,
            to_engine.clone(),
            intake.clone(),
        ));
    }
    if let Some(RoadSource::Path(path)) = roads {
        tracker.spawn(roads::watch(
            path,
            config.serve.offers_poll,
            to_engine.clone(),
            intake.clone(),
        ));
    }
    drop(to_engine);
    if let Some(store) = state.store() {
        tracker.spawn(purge::purge_periodically(
            store.clone(),
            config.serve.purge_every,
            config.engine.history_days,
            clock.clone(),
            intake.clone(),
        ));
    }
    let mut engine = Engine::new(config.engine.clone(), catalog);
    engine.set_roads(network);
    let kept_state = state.clone();
    let engine = tracker.spawn(engine_task::run_engine(engine_task::EngineTask {
        engine,
        state,
        inbox: engine_inbox,
        outlet: engine_task::Outlet {
            client,
            client_id: client_id.clone(),
            tracker: outbox_tracker.clone(),
            stop: stop.clone(),
            intake: intake.clone(),
        },
        sweep_every: config.serve.sweep_every,
        clock,
        counters: counters.clone(),
    }));
    tracker.close();

    // A broker that refuses kairos before it ever connected (credentials,
    // certificate) is a configuration error: stop with it instead of retrying.
    let refusal = tokio::select! {
        () = shutdown => None,
        Ok(detail) = is_refused => Some(detail),
    };
    if let Some(detail) = refusal {
        intake.cancel();
        stop.cancel();
        tracker.wait().await;
        return Err(ServeError::BrokerRefused {
            broker: address.to_string(),
            detail,
        });
    }
    tracing::info!("stopping: finishing the inputs received and flushing publishes");
    intake.cancel();
    // The engine finishes what it was handed; a broker gone away (its
    // publishes stuck in a full request queue) must not hold the stop for ever.
    let mut engine = engine;
    if tokio::time::timeout(FLUSH_GRACE, &mut engine)
        .await
        .is_err()
    {
        tracing::warn!("broker unreachable while stopping; unsent messages are lost");
        stop.cancel();
        let _ = engine.await;
    }
    if tokio::time::timeout(FLUSH_GRACE, edge).await.is_err() {
        tracing::warn!("broker unreachable while stopping; unsent messages are lost");
        stop.cancel();
    }
    tracker.wait().await;
    // The broker's last acknowledgements came after the engine's last commit.
    let sent = outbox_tracker.take_sent();
    if let Err(error) = kept_state.clear_sent(&client_id, sent).await {
        tracing::warn!(%error, "outbox entries left for the next start");
    }
    let summary = counters.summary();
    tracing::info!(?summary, "stopped");
    Ok(summary)
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

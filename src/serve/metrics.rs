//! The Prometheus endpoint of `serve` (`--metrics ADDR`, `serve.metrics`) and
//! what it counts.
//!
//! The tasks of `serve` record into [`ServeMetrics`], handles taken once when
//! a run starts (a handle is an atomic behind an `Arc`: recording costs a few
//! nanoseconds, nothing is looked up per event). Without an endpoint no
//! recorder is installed and every handle does nothing.
//!
//! The endpoint is `metrics-exporter-prometheus`'s own small HTTP listener,
//! serving the text format on any path (`GET /metrics`), plus `GET /health`.
//! The `metrics` facade has one recorder per process, so one process exports
//! one endpoint: a second [`start`] in the same process is refused (only a test
//! or an embedding program could ask for that).
//!
//! | name | type | what |
//! |---|---|---|
//! | `kairos_events_total{kind}` | counter | inputs handed to the engine, by kind (`position`, `context`, `profile`, `feedback`, `ask`, `forget`, `other`) |
//! | `kairos_suggestions_total` | counter | suggestions published |
//! | `kairos_ask_none_total{reason}` | counter | `ask`s answered with nothing, by reason |
//! | `kairos_errors_total{code}` | counter | error messages published, by SPEC error code |
//! | `kairos_dropped_inputs_total` | counter | inputs dropped unanswered (the topic names no valid device) |
//! | `kairos_overloaded_inputs_total` | counter | inputs dropped because the engine's queue was full |
//! | `kairos_received_total` | counter | messages received from the broker |
//! | `kairos_published_total` | counter | messages published |
//! | `kairos_publish_failures_total` | counter | outputs that could not be handed to the MQTT client |
//! | `kairos_decision_seconds` | histogram | time in `Engine::step`, per input (the state store's time left out) |
//! | `kairos_devices` | gauge | devices the engine holds state for |
//! | `kairos_merchants` | gauge | merchants in the offer set in service (each with its offers) |
//! | `kairos_broker_connected` | gauge | 1 while connected to the broker, else 0 |

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use tokio::task::JoinHandle;

use super::ServeError;
use kairos_core::input::Kind;
use kairos_core::output::{Body, NoneReason};

/// The label of inputs that name no input kind in `kairos_events_total`.
const OTHER: &str = "other";

/// Buckets of `kairos_decision_seconds`: 5 µs to 100 ms.
const DECISION_BUCKETS: [f64; 14] = [
    5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1,
];

/// Where the one endpoint of this process listens, once started.
static EXPORTING: OnceLock<SocketAddr> = OnceLock::new();

/// The running endpoint; it stops when dropped.
#[derive(Debug)]
pub struct Exporter {
    task: JoinHandle<()>,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Installs the Prometheus recorder and starts its HTTP listener on `addr`
/// (on the current tokio runtime).
pub fn start(addr: SocketAddr) -> Result<Exporter, ServeError> {
    let refused = |detail: String| ServeError::Listen { addr, detail };
    if let Some(first) = EXPORTING.get() {
        return Err(refused(format!(
            "this process already exports its metrics on {first}"
        )));
    }
    let (recorder, exporter) = PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets_for_metric(Matcher::Full(DECISION.into()), &DECISION_BUCKETS)
        .and_then(|builder| builder.build())
        .map_err(|e| refused(format!("metrics endpoint: {e}")))?;
    metrics::set_global_recorder(recorder)
        .map_err(|e| refused(format!("metrics endpoint: {e}")))?;
    let _ = EXPORTING.set(addr);
    describe();
    let task = tokio::spawn(async move {
        if let Err(error) = exporter.await {
            tracing::error!(?error, "metrics endpoint stopped");
        }
    });
    tracing::info!(%addr, "Prometheus metrics on http://{addr}/metrics");
    Ok(Exporter { task })
}

const EVENTS: &str = "kairos_events_total";
const SUGGESTIONS: &str = "kairos_suggestions_total";
const ASK_NONE: &str = "kairos_ask_none_total";
const ERRORS: &str = "kairos_errors_total";
const DROPPED: &str = "kairos_dropped_inputs_total";
const OVERLOADED: &str = "kairos_overloaded_inputs_total";
const RECEIVED: &str = "kairos_received_total";
const PUBLISHED: &str = "kairos_published_total";
const PUBLISH_FAILURES: &str = "kairos_publish_failures_total";
const DECISION: &str = "kairos_decision_seconds";
const DEVICES: &str = "kairos_devices";
const MERCHANTS: &str = "kairos_merchants";
const CONNECTED: &str = "kairos_broker_connected";

/// The HELP lines of the endpoint.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(EVENTS, "Inputs handed to the engine, by kind.");
    describe_counter!(SUGGESTIONS, "Suggestions published.");
    describe_counter!(ASK_NONE, "Asks answered with nothing, by reason.");
    describe_counter!(ERRORS, "Error messages published, by error code.");
    describe_counter!(
        DROPPED,
        "Inputs dropped unanswered: the topic names no valid device."
    );
    describe_counter!(
        OVERLOADED,
        "Inputs dropped because the engine's queue was full."
    );
    describe_counter!(RECEIVED, "Messages received from the broker.");
    describe_counter!(PUBLISHED, "Messages published.");
    describe_counter!(PUBLISH_FAILURES, "Outputs the MQTT client would not take.");
    describe_histogram!(DECISION, Unit::Seconds, "Time in Engine::step, per input.");
    describe_gauge!(DEVICES, "Devices the engine holds state for.");
    describe_gauge!(MERCHANTS, "Merchants in the offer set in service.");
    describe_gauge!(CONNECTED, "1 while connected to the MQTT broker, else 0.");
}

/// The handles the tasks of one `serve` run record into.
#[derive(Clone)]
pub struct ServeMetrics {
    /// One per input kind, in [`Kind::ALL`] order, then [`OTHER`].
    events: Vec<Counter>,
    suggestions: Counter,
    dropped: Counter,
    overloaded: Counter,
    received: Counter,
    published: Counter,
    publish_failures: Counter,
    decision: Histogram,
    devices: Gauge,
    merchants: Gauge,
    connected: Gauge,
}

impl Default for ServeMetrics {
    /// Handles on the process's recorder (no-ops when none is installed).
    fn default() -> Self {
        Self {
            events: Kind::ALL
                .iter()
                .map(|kind| kind.as_str())
                .chain([OTHER])
                .map(|kind| metrics::counter!(EVENTS, "kind" => kind))
                .collect(),
            suggestions: metrics::counter!(SUGGESTIONS),
            dropped: metrics::counter!(DROPPED),
            overloaded: metrics::counter!(OVERLOADED),
            received: metrics::counter!(RECEIVED),
            published: metrics::counter!(PUBLISHED),
            publish_failures: metrics::counter!(PUBLISH_FAILURES),
            decision: metrics::histogram!(DECISION),
            devices: metrics::gauge!(DEVICES),
            merchants: metrics::gauge!(MERCHANTS),
            connected: metrics::gauge!(CONNECTED),
        }
    }
}

impl std::fmt::Debug for ServeMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServeMetrics")
    }
}

impl ServeMetrics {
    /// One input stepped: its kind (`None`: it names none), how long the
    /// step took, how many devices the engine now holds.
    pub fn stepped(&self, kind: Option<Kind>, took: Duration, devices: usize) {
        let counter = kind.map_or(Kind::ALL.len(), Kind::index);
        self.events[counter].increment(1);
        self.decision.record(took.as_secs_f64());
        self.devices.set(devices as f64);
    }

    /// One output on its way to the broker.
    pub fn output(&self, body: &Body) {
        match body {
            Body::Suggestion(_) => self.suggestions.increment(1),
            Body::NoSuggestion(none) => {
                metrics::counter!(ASK_NONE, "reason" => none_reason(none.none)).increment(1)
            }
            Body::Error(report) => metrics::counter!(ERRORS, "code" => report.error).increment(1),
            Body::Data(_) | Body::Empty => {}
        }
    }

    /// An input dropped unanswered by the engine.
    pub fn dropped(&self) {
        self.dropped.increment(1);
    }

    /// `count` inputs dropped because the engine's queue was full.
    pub fn overloaded(&self, count: u64) {
        self.overloaded.increment(count);
    }

    /// A message received from the broker.
    pub fn received(&self) {
        self.received.increment(1);
    }

    /// A message handed to the MQTT client (`true`), or refused by it.
    pub fn published(&self, ok: bool) {
        if ok {
            self.published.increment(1);
        } else {
            self.publish_failures.increment(1);
        }
    }

    /// How many devices the engine holds (after a sweep).
    pub fn devices(&self, devices: usize) {
        self.devices.set(devices as f64);
    }

    /// How many merchants are in service.
    pub fn merchants(&self, merchants: usize) {
        self.merchants.set(merchants as f64);
    }

    /// Whether the broker connection is up.
    pub fn connected(&self, up: bool) {
        self.connected.set(if up { 1.0 } else { 0.0 });
    }
}

fn none_reason(reason: NoneReason) -> &'static str {
    match reason {
        NoneReason::NoConsent => "no_consent",
        NoneReason::NoPosition => "no_position",
        NoneReason::StalePosition => "stale_position",
        NoneReason::NothingFits => "nothing_fits",
    }
}

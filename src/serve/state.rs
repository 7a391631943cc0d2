//! Where `serve` keeps device state (`--state`, `serve.state`), and the
//! engine task's side of it: each input stepped through
//! [`step_durably`](crate::store::step_durably), memory trimmed to what the
//! store does not hold, and the store purged of expired history.
//!
//! With a store, the engine task holds only what is volatile (positions, rate
//! limits) between inputs: every input loads the device's record, steps, and
//! saves it with compare-and-set before anything is published. On a store
//! error nothing is published (fail closed), the error is logged and counted
//! (`kairos_state_failures_total`). Without a store (`serve.state` empty in
//! the library: the demo, tests, embedders that want no file), state lives in
//! the engine's memory only, as in `replay`. The binary always names a store:
//! the default file unless `--state` says otherwise.
//!
//! The purge walks every record, so it runs in its own task on its own
//! period (`serve.purge_every_s`), never blocking the engine task. With
//! several instances on one Redis each purges; compare-and-set makes that
//! harmless.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::Clock;
use crate::store::{step_durably_with, DeviceStore, StateUrl, Store, StoreError};
use kairos_core::output::Output;
use kairos_core::{Engine, Stamp};

/// Counter of inputs that got no answer because the store failed.
const STATE_FAILURES: &str = "kairos_state_failures_total";

/// How device state is kept while serving.
#[derive(Debug, Clone)]
pub enum DeviceState {
    /// In the engine's memory only: lost when the process ends.
    Memory,
    /// In a store, loaded before and saved after every input.
    Durable(Arc<Store>),
}

impl DeviceState {
    /// Opens what `location` names: empty for memory only, else a file path
    /// or a `redis://` URL ([`StateUrl`]). A corrupt or unwritable file, a
    /// file locked by another process, or an unreachable Redis is an error
    /// here, before anything is served.
    pub async fn open(location: &str) -> Result<Self, StoreError> {
        if location.is_empty() {
            tracing::info!("device state in memory only (no --state)");
            return Ok(DeviceState::Memory);
        }
        let url = StateUrl::parse(location)?;
        let store = Store::open(&url).await?;
        metrics::describe_counter!(
            STATE_FAILURES,
            "Inputs left unanswered because the state store failed (fail closed)."
        );
        tracing::info!(state = %url.display(), "device state store opened");
        Ok(DeviceState::Durable(Arc::new(store)))
    }

    /// The store, if any.
    pub fn store(&self) -> Option<&Arc<Store>> {
        match self {
            DeviceState::Memory => None,
            DeviceState::Durable(store) => Some(store),
        }
    }

    /// Steps one input: through the store when there is one. On `Err`
    /// nothing may be published; the failure is already logged and counted.
    /// With it, the time spent in [`Engine::step`] (every attempt), the
    /// store's time left out.
    pub async fn step(
        &self,
        engine: &mut Engine,
        topic: &str,
        payload: &[u8],
        at: &Stamp,
    ) -> (Result<Vec<Output>, StoreError>, Duration) {
        let mut decided = Duration::ZERO;
        let mut timed = |engine: &mut Engine| {
            let started = std::time::Instant::now();
            let outputs = engine.step(topic, payload, at);
            decided += started.elapsed();
            outputs
        };
        let DeviceState::Durable(store) = self else {
            let outputs = timed(engine);
            return (Ok(outputs), decided);
        };
        let stepped = step_durably_with(engine, store.as_ref(), topic, timed).await;
        if let Err(error) = &stepped {
            metrics::counter!(STATE_FAILURES).increment(1);
            tracing::warn!(%topic, %error, "state store failed: input left unanswered");
        }
        (stepped, decided)
    }

    /// The engine task's periodic sweep: expired positions and history go;
    /// with a store, devices that hold nothing volatile leave memory too (the
    /// store has the rest, imported again on their next input).
    pub fn sweep(&self, engine: &mut Engine, now: DateTime<Utc>) {
        engine.sweep(now);
        if let DeviceState::Durable(_) = self {
            let evicted = engine.evict_settled(now);
            if evicted > 0 {
                tracing::debug!(evicted, "settled devices dropped from memory");
            }
        }
    }
}

/// Purges the store every `every` (first after one period) of history older
/// than `history_days` and of expired context, until `stop`.
pub(crate) async fn purge_periodically(
    store: Arc<Store>,
    every: Duration,
    history_days: u32,
    clock: Clock,
    stop: CancellationToken,
) {
    let retention = chrono::Duration::days(i64::from(history_days));
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match store.purge_expired(clock.now(), retention).await {
            Ok(purged) => tracing::info!(
                trimmed = purged.trimmed,
                deleted = purged.deleted,
                skipped = purged.skipped,
                "state store purged"
            ),
            Err(error) => tracing::warn!(%error, "state store purge failed; retried next period"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_empty_location_keeps_state_in_memory() {
        assert!(DeviceState::open("").await.unwrap().store().is_none());
    }

    #[tokio::test]
    async fn a_bad_location_is_an_error_before_serving() {
        let err = DeviceState::open("postgres://db/kairos").await.unwrap_err();
        assert!(err.to_string().contains("unknown scheme"), "{err}");
    }
}

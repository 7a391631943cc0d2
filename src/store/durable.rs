//! The one durable step: an input through the pure engine with the device's
//! state loaded from the store before and saved after, and nothing returned
//! to publish until that state is saved.
//!
//! [`DeviceState`] is where `serve` keeps device state (`--state`,
//! `serve.state`): in the engine's memory only (the library's default: the
//! demo, tests, embedders that want no file), or in a [`Store`]. With a store
//! the engine holds only what is volatile (positions, rate limits) between
//! inputs: every input loads the device's record, steps, and saves it with
//! compare-and-set, deciding again on conflict. Of two instances that decided
//! from the same state only one can record; the other reloads, sees it, and
//! now stays silent inside the gap. On a store error nothing is published
//! (fail closed): the error is logged and counted
//! (`kairos_state_failures_total`), and the engine's in-memory copy, stale
//! now, is imported afresh on the device's next input.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kairos_core::input::Input;
use kairos_core::output::Output;
use kairos_core::{Engine, Stamp};

use super::{DeviceStore, SaveOutcome, StateUrl, Store, StoreError};

/// How many times one input is decided before [`StoreError::Contended`]. A
/// conflict needs another instance to write the same device between a load
/// and a save (a few milliseconds), so more than one retry is already rare.
pub const MAX_ATTEMPTS: usize = 5;

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

/// What one durable step gave.
#[derive(Debug)]
pub struct Stepped {
    /// What to publish; `Err` when the store failed (publish nothing).
    pub outputs: Result<Vec<Output>, StoreError>,
    /// Time spent deciding in [`Engine::step`] (every attempt), the store's
    /// time left out.
    pub decided: Duration,
}

impl DeviceState {
    /// Opens what `url` names, or memory only for `None`. A corrupt or
    /// unwritable file, a file locked by another process, or an unreachable
    /// Redis is an error here, before anything is served.
    pub async fn open(url: Option<&StateUrl>) -> Result<Self, StoreError> {
        let Some(url) = url else {
            tracing::info!("device state in memory only (no --state)");
            return Ok(DeviceState::Memory);
        };
        let store = Store::open(url).await?;
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

    /// Steps one input, through the store when there is one. A store failure
    /// is logged and counted here.
    pub async fn step(&self, engine: &mut Engine, input: &Input, at: &Stamp) -> Stepped {
        let mut decided = Duration::ZERO;
        let mut timed = |engine: &mut Engine| {
            let started = Instant::now();
            let outputs = engine.step(input, at);
            decided += started.elapsed();
            outputs
        };
        let outputs = match self {
            DeviceState::Memory => Ok(timed(engine)),
            DeviceState::Durable(store) => {
                let stepped = step_durably_with(engine, store.as_ref(), input, timed).await;
                if let Err(error) = &stepped {
                    metrics::counter!(STATE_FAILURES).increment(1);
                    tracing::warn!(
                        topic = %input.topic(),
                        %error,
                        "state store failed: input left unanswered"
                    );
                }
                stepped
            }
        };
        Stepped { outputs, decided }
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

/// [`Engine::step`] with the device's state loaded from `store` before and
/// saved after. On `Err` nothing must be published (fail closed).
///
/// - An input that cannot change stored state (invalid topic, outputs, a
///   malformed input: it only costs a rate-limit token, which is volatile)
///   is stepped without touching the store.
/// - State is written only when the step changed it; `forget` deletes it.
/// - On [`SaveOutcome::Conflict`] the input is decided again from the fresh
///   state (each attempt also takes a rate-limit token).
pub async fn step_durably<S: DeviceStore>(
    engine: &mut Engine,
    store: &S,
    input: &Input,
    at: &Stamp,
) -> Result<Vec<Output>, StoreError> {
    step_durably_with(engine, store, input, |engine| engine.step(input, at)).await
}

/// [`step_durably`] with the step itself given by the caller (once per
/// attempt), e.g. to time the decision apart from the store.
async fn step_durably_with<S: DeviceStore>(
    engine: &mut Engine,
    store: &S,
    input: &Input,
    mut step: impl FnMut(&mut Engine) -> Vec<Output>,
) -> Result<Vec<Output>, StoreError> {
    let Input::Event { device: id, .. } = input else {
        return Ok(step(engine));
    };
    for _ in 0..MAX_ATTEMPTS {
        let (state, version) = match store.load(id).await? {
            Some((state, version)) => (state, Some(version)),
            None => (Default::default(), None),
        };
        engine.import_device(id, state);
        let before = engine.export_device(id);
        let outputs = step(engine);
        let after = engine.export_device(id);
        if after == before {
            return Ok(outputs);
        }
        match after {
            // `forget` wins over any concurrent write: unconditional.
            None => {
                store.delete(id).await?;
                return Ok(outputs);
            }
            Some(state) => match store.save_if(id, &state, version).await? {
                SaveOutcome::Saved(_) => return Ok(outputs),
                SaveOutcome::Conflict => continue,
            },
        }
    }
    Err(StoreError::Contended {
        device: id.to_string(),
        attempts: MAX_ATTEMPTS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// `serve` drives the protocol from a spawned tokio task: it must be `Send`.
    #[allow(dead_code)]
    fn the_protocol_can_run_on_any_tokio_task(engine: &mut Engine, store: &Store, at: &Stamp) {
        let input = engine.read("kairos/d/position", b"{}");
        let step = step_durably(engine, store, &input, at);
        assert_send(&step);
    }

    #[tokio::test]
    async fn no_location_keeps_state_in_memory() {
        assert!(DeviceState::open(None).await.unwrap().store().is_none());
    }
}

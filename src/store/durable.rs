//! The protocol around the pure engine when device state lives in a store:
//! load, import, step, then compare-and-set, deciding again on conflict.
//!
//! Outputs are returned only once the state they depend on is saved, so a
//! suggestion is published only if it is recorded, and of two instances that
//! decided from the same state only one can record (the other reloads, sees
//! it, and now stays silent inside the gap).

use kairos_core::output::Output;
use kairos_core::{Engine, Stamp};

use super::{DeviceStore, SaveOutcome, StoreError};

/// How many times one input is decided before [`StoreError::Contended`]. A
/// conflict needs another instance to write the same device between a load
/// and a save (a few milliseconds), so more than one retry is already rare.
pub const MAX_ATTEMPTS: usize = 5;

/// [`Engine::step`] with the device's state loaded from `store` before and
/// saved after. On `Err` nothing must be published (fail closed); the engine's
/// in-memory copy is then stale, but the next input imports it afresh.
///
/// - An input that names no device (invalid topic, outputs, unknown kind) is
///   stepped without touching the store.
/// - State is written only when the step changed it; `forget` deletes it.
/// - On [`SaveOutcome::Conflict`] the input is decided again from the fresh
///   state (each attempt also takes a rate-limit token).
pub async fn step_durably<S: DeviceStore>(
    engine: &mut Engine,
    store: &S,
    topic: &str,
    payload: &[u8],
    at: &Stamp,
) -> Result<Vec<Output>, StoreError> {
    step_durably_with(engine, store, topic, |engine| {
        engine.step(topic, payload, at)
    })
    .await
}

/// [`step_durably`] with the step itself given by the caller (once per
/// attempt), e.g. to time the decision apart from the store. `step` must
/// step the input of `topic` (the one the device's state is loaded for).
pub async fn step_durably_with<S: DeviceStore>(
    engine: &mut Engine,
    store: &S,
    topic: &str,
    mut step: impl FnMut(&mut Engine) -> Vec<Output>,
) -> Result<Vec<Output>, StoreError> {
    let Some(id) = engine.device_of(topic).map(str::to_string) else {
        return Ok(step(engine));
    };
    for _ in 0..MAX_ATTEMPTS {
        let (state, version) = match store.load(&id).await? {
            Some((state, version)) => (state, Some(version)),
            None => (Default::default(), None),
        };
        engine.import_device(&id, state);
        let before = engine.export_device(&id);
        let outputs = step(engine);
        let after = engine.export_device(&id);
        if after == before {
            return Ok(outputs);
        }
        match after {
            // `forget` wins over any concurrent write: unconditional.
            None => {
                store.delete(&id).await?;
                return Ok(outputs);
            }
            Some(state) => match store.save_if(&id, &state, version).await? {
                SaveOutcome::Saved(_) => return Ok(outputs),
                SaveOutcome::Conflict => continue,
            },
        }
    }
    Err(StoreError::Contended {
        device: id,
        attempts: MAX_ATTEMPTS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn assert_send<T: Send>(_: &T) {}

    /// `serve` drives the protocol from a spawned tokio task: it must be `Send`.
    #[allow(dead_code)]
    fn the_protocol_can_run_on_any_tokio_task(engine: &mut Engine, store: &Store, at: &Stamp) {
        let step = step_durably(engine, store, "kairos/d/position", b"{}", at);
        assert_send(&step);
    }
}

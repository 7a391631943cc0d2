//! Group commit: a batch of inputs through the pure engine, their effects,
//! their answers and their outbox entries saved in one store write, and
//! nothing returned to publish or acknowledge before that write is durable.
//!
//! [`step_batch`] is the protocol of `serve` with a store (SPEC, "Delivery:
//! nothing lost, nothing twice"):
//!
//! 1. load every device the batch names ([`BatchStore::load_many`]);
//! 2. for each input in arrival order: a redelivery already applied (DUP with
//!    a saved packet, or a `mid` seen in 24 h, see
//!    [`kairos_core::delivery`]) gets its saved answer and changes nothing;
//!    any other input is stepped on the working copy of its device, and when
//!    it changed the device (or is an `ask`, or has a `mid`) its answer is
//!    remembered in the device's record;
//! 3. one [`BatchStore::commit`]: every changed record with compare-and-set on
//!    the version loaded, the at-least-once outputs of saved inputs into the
//!    outbox, the outbox entries the broker acknowledged since out of it. On
//!    conflict (another writer changed a device meanwhile) the whole batch is
//!    decided again from fresh state.
//!
//! The redb file store commits a batch of up to [`BatchStore::batch_limit`]
//! inputs in one transaction (one fsync); Redis, shared by instances that
//! race on devices, one input at a time.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kairos_core::delivery::{recall, remember, Delivery, SavedPublish};
use kairos_core::device::PersistedDevice;
use kairos_core::input::{Event, Input};
use kairos_core::output::Output;
use kairos_core::{Engine, Stamp};
use serde::{Deserialize, Serialize};

use super::{DeviceStore, StoreError, Version, MAX_ATTEMPTS};

/// One input of a batch, with how it reached kairos.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// What it says.
    pub input: Input,
    /// When it arrived.
    pub at: Stamp,
    /// Its packet and `mid`.
    pub delivery: Delivery,
}

/// What one input of a batch is answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Decided now.
    Fresh(Vec<Output>),
    /// Applied before: the saved answer, given again.
    Recalled(Vec<SavedPublish>),
}

/// An answer and, for each message it publishes (in order), the outbox entry
/// that holds it until the broker acknowledges it.
#[derive(Debug, Clone, PartialEq)]
pub struct Answered {
    /// The outputs.
    pub answer: Answer,
    /// One per message to publish; `None`: not in the outbox.
    pub outbox: Vec<Option<u64>>,
    /// Time spent deciding in [`Engine::step`] (the last attempt), the
    /// store's time left out.
    pub decided: Duration,
}

/// A device record to write in a commit.
#[derive(Debug, Clone)]
pub struct Write {
    /// The device.
    pub id: String,
    /// The version loaded (`None`: there was no record).
    pub expected: Option<Version>,
    /// The new record; `None`: delete it.
    pub state: Option<PersistedDevice>,
    /// The batch forgot the device: written whatever the stored version
    /// (`forget` wins over any concurrent write).
    pub forgotten: bool,
}

/// An output saved before it is published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// The `at` of the input it answers.
    pub at: DateTime<Utc>,
    /// The message.
    pub publish: SavedPublish,
}

/// A store that commits a batch at once.
pub trait BatchStore: DeviceStore {
    /// Most inputs per commit.
    fn batch_limit(&self) -> usize;

    /// The records of `ids` (absent ones are left out).
    fn load_many(
        &self,
        ids: Vec<String>,
    ) -> impl Future<Output = Result<HashMap<String, (PersistedDevice, Version)>, StoreError>> + Send;

    /// Writes `writes` (each with compare-and-set unless forgotten), adds
    /// `outbox` entries and removes the `sent` ones, atomically: the seqs
    /// of the new entries, or `None` on conflict (nothing written).
    fn commit(
        &self,
        client: &str,
        writes: Vec<Write>,
        outbox: Vec<OutboxEntry>,
        sent: Vec<u64>,
    ) -> impl Future<Output = Result<Option<Vec<u64>>, StoreError>> + Send;

    /// Every outbox entry of `client`, oldest first.
    fn outbox(
        &self,
        client: &str,
    ) -> impl Future<Output = Result<Vec<(u64, OutboxEntry)>, StoreError>> + Send;
}

/// A device as the batch works on it.
struct Working {
    state: Option<PersistedDevice>,
    expected: Option<Version>,
    dirty: bool,
    forgotten: bool,
}

/// The messages an input's outputs publish, as they are saved.
pub fn saved_publishes(outputs: &[Output]) -> Vec<SavedPublish> {
    outputs
        .iter()
        .filter_map(|output| match output {
            Output::Publish(publish) => Some(SavedPublish {
                topic: publish.topic.clone(),
                payload: String::from_utf8_lossy(&publish.body.to_bytes()).into_owned(),
                retain: publish.retain,
                at_least_once: publish.at_least_once(),
            }),
            Output::Dropped { .. } => None,
        })
        .collect()
}

/// Steps `arrivals` in order through `engine` with their devices' records
/// from `store`, and commits their effects at once (see the module doc).
/// `sent` are outbox entries to remove. On `Err` nothing was written:
/// publish and acknowledge nothing.
pub async fn step_batch<S: BatchStore>(
    engine: &mut Engine,
    store: &S,
    client: &str,
    arrivals: &[Arrival],
    sent: &[u64],
) -> Result<Vec<Answered>, StoreError> {
    let mut ids: Vec<String> = arrivals
        .iter()
        .filter_map(|a| match &a.input {
            Input::Event { device, .. } => Some(device.clone()),
            _ => None,
        })
        .collect();
    ids.sort();
    ids.dedup();
    for _ in 0..MAX_ATTEMPTS {
        let mut loaded = store.load_many(ids.clone()).await?;
        let mut working: HashMap<&str, Working> = ids
            .iter()
            .map(|id| {
                let (state, expected) = match loaded.remove(id) {
                    Some((state, version)) => (Some(state), Some(version)),
                    None => (None, None),
                };
                let working = Working {
                    state,
                    expected,
                    dirty: false,
                    forgotten: false,
                };
                (id.as_str(), working)
            })
            .collect();
        let mut answers = Vec::with_capacity(arrivals.len());
        // (answer index, position among its publishes, entry)
        let mut outbox: Vec<(usize, usize, OutboxEntry)> = Vec::new();
        for arrival in arrivals {
            let Some(device) = (match &arrival.input {
                Input::Event { device, .. } => working.get_mut(device.as_str()),
                _ => None,
            }) else {
                let started = Instant::now();
                let outputs = engine.step(&arrival.input, &arrival.at);
                answers.push(fresh(outputs, started.elapsed()));
                continue;
            };
            let id = arrival.input.device().unwrap_or_default();
            let now = arrival.at.time;
            let current = device.state.clone().unwrap_or_default();
            if let Some(saved) = recall(&current, &arrival.delivery, now) {
                let outbox = vec![None; saved.len()];
                answers.push(Answered {
                    answer: Answer::Recalled(saved.to_vec()),
                    outbox,
                    decided: Duration::ZERO,
                });
                continue;
            }
            engine.import_device(id, current);
            let before = engine.export_device(id);
            let started = Instant::now();
            let outputs = engine.step(&arrival.input, &arrival.at);
            let decided = started.elapsed();
            let after = engine.export_device(id);
            let answer_kept = arrival.delivery.is_traceable()
                && (matches!(
                    &arrival.input,
                    Input::Event {
                        event: Event::Ask(_),
                        ..
                    }
                ) || arrival.delivery.mid.is_some());
            let saved_input = match after {
                None => {
                    device.state = None;
                    device.forgotten = true;
                    device.dirty = true;
                    true
                }
                Some(mut state) if after_changed(&before, &state) || answer_kept => {
                    // Only an `ask` (or an input with a `mid`) needs its
                    // answer kept: any other kind applied again is harmless
                    // (idempotent, or silent within the gap), and its
                    // outputs are in the outbox.
                    if answer_kept {
                        remember(
                            &mut state,
                            &arrival.delivery,
                            now,
                            saved_publishes(&outputs),
                        );
                    }
                    engine.import_device(id, state.clone());
                    device.state = Some(state);
                    device.dirty = true;
                    true
                }
                Some(_) => false,
            };
            if saved_input {
                for (n, publish) in saved_publishes(&outputs).into_iter().enumerate() {
                    if publish.at_least_once {
                        outbox.push((answers.len(), n, OutboxEntry { at: now, publish }));
                    }
                }
            }
            answers.push(fresh(outputs, decided));
        }
        let writes: Vec<Write> = working
            .into_iter()
            .filter(|(_, w)| w.dirty)
            .map(|(id, w)| Write {
                id: id.to_string(),
                expected: w.expected,
                state: w.state,
                forgotten: w.forgotten,
            })
            .collect();
        if writes.is_empty() && outbox.is_empty() && sent.is_empty() {
            return Ok(answers);
        }
        let entries = outbox.iter().map(|(_, _, e)| e.clone()).collect();
        let Some(seqs) = store.commit(client, writes, entries, sent.to_vec()).await? else {
            continue;
        };
        for ((answer, n, _), seq) in outbox.iter().zip(seqs) {
            if let Some(slot) = answers[*answer].outbox.get_mut(*n) {
                *slot = Some(seq);
            }
        }
        return Ok(answers);
    }
    Err(StoreError::Contended {
        device: ids.join(","),
        attempts: MAX_ATTEMPTS,
    })
}

fn after_changed(before: &Option<PersistedDevice>, after: &PersistedDevice) -> bool {
    before.as_ref() != Some(after)
}

/// Each of `arrivals` stepped with no store (state in memory only).
pub fn step_in_memory(engine: &mut Engine, arrivals: &[Arrival]) -> Vec<Answered> {
    arrivals
        .iter()
        .map(|arrival| {
            let started = Instant::now();
            let outputs = engine.step(&arrival.input, &arrival.at);
            fresh(outputs, started.elapsed())
        })
        .collect()
}

fn fresh(outputs: Vec<Output>, decided: Duration) -> Answered {
    let publishes = outputs
        .iter()
        .filter(|o| matches!(o, Output::Publish(_)))
        .count();
    Answered {
        answer: Answer::Fresh(outputs),
        outbox: vec![None; publishes],
        decided,
    }
}

/// Counter of inputs that got no answer because the store failed.
const STATE_FAILURES: &str = "kairos_state_failures_total";

impl super::DeviceState {
    /// Most inputs `serve` hands to one [`step_batch`](Self::step_batch).
    pub fn batch_limit(&self) -> usize {
        match self {
            super::DeviceState::Memory => 1024,
            super::DeviceState::Durable(store) => store.batch_limit(),
        }
    }

    /// Steps a batch: in memory, or through the store with one commit (see
    /// [`step_batch`]). A store failure is logged and counted here; then
    /// nothing must be published or acknowledged.
    pub async fn step_batch(
        &self,
        engine: &mut Engine,
        client: &str,
        arrivals: &[Arrival],
        sent: &[u64],
    ) -> Result<Vec<Answered>, StoreError> {
        match self {
            super::DeviceState::Memory => Ok(step_in_memory(engine, arrivals)),
            super::DeviceState::Durable(store) => {
                let stepped = step_batch(engine, store.as_ref(), client, arrivals, sent).await;
                if let Err(error) = &stepped {
                    metrics::counter!(STATE_FAILURES).increment(arrivals.len() as u64);
                    tracing::warn!(
                        inputs = arrivals.len(),
                        %error,
                        "state store failed: inputs left unanswered and unacknowledged"
                    );
                }
                stepped
            }
        }
    }

    /// The outbox of `client` (empty without a store).
    pub async fn outbox(&self, client: &str) -> Result<Vec<(u64, OutboxEntry)>, StoreError> {
        match self {
            super::DeviceState::Memory => Ok(Vec::new()),
            super::DeviceState::Durable(store) => store.outbox(client).await,
        }
    }

    /// Removes `sent` entries from the outbox of `client`.
    pub async fn clear_sent(&self, client: &str, sent: Vec<u64>) -> Result<(), StoreError> {
        match self {
            super::DeviceState::Durable(store) if !sent.is_empty() => store
                .commit(client, Vec::new(), Vec::new(), sent)
                .await
                .map(|_| ()),
            _ => Ok(()),
        }
    }
}

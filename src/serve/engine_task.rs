//! The one task that owns the engine: takes the inputs queued by the edge,
//! steps them in batches (one store commit per batch, see
//! [`store::step_batch`](crate::store::step_batch)), and only then publishes
//! their outputs and acknowledges them to the broker.
//!
//! A batch is whatever the edge has queued when the engine wakes up, at most
//! [`DeviceState::batch_limit`] inputs: under light load one input, one
//! commit, as before; under load many inputs share one fsync. Nothing waits
//! for more input to fill a batch.
//!
//! When the store is unreachable, the batch is neither answered nor
//! acknowledged: the engine tries it again every [`RETRY`] until the store is
//! back (inputs queue meanwhile, then the broker holds them), or until
//! `serve` stops, when the broker keeps them unacknowledged for the next
//! start. When the store refuses a record (written by a newer kairos, or
//! contended), the batch goes again one input at a time, and that device's
//! inputs are acknowledged unanswered (fail closed).
//!
//! At start, the outbox is read: outputs saved but not acknowledged by the
//! broker when kairos last stopped are published again if their `at` is less
//! than [`REPUBLISH_WITHIN`] old, and dropped otherwise.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::mqtt::{self, Message};
use super::outbox::Tracker;
use super::{Clock, Counters, Received, ToEngine};
use crate::store::{Answer, Answered, Arrival, DeviceState, StoreError};
use kairos_core::output::Output;
use kairos_core::{Engine, Stamp};

/// Most queued messages (batches, catalogs) the engine task takes per wakeup.
const ENGINE_BATCH: usize = 32;
/// Pause between two tries of a batch the store failed.
pub(crate) const RETRY: Duration = Duration::from_millis(500);
/// How often acknowledged outbox entries are removed when no input comes.
const CLEAR_EVERY: Duration = Duration::from_secs(1);
/// An unacknowledged output is published again at start only this soon
/// after its `at` (SPEC: 2 min).
pub const REPUBLISH_WITHIN: chrono::Duration = chrono::Duration::minutes(2);

/// Where the engine's outputs go.
pub(crate) struct Outlet {
    /// The MQTT client.
    pub client: mqtt::Client,
    /// This session's client id (its outbox and packet ids are its own).
    pub client_id: String,
    /// Pairs publishes with their outbox entries.
    pub tracker: Arc<Tracker>,
    /// Cancelled: give up on a broker gone away while stopping.
    pub stop: CancellationToken,
    /// Cancelled: `serve` is stopping (a failed batch is not tried again).
    pub intake: CancellationToken,
    /// `--volatile`: live state shared with the other instances.
    pub live: Option<crate::store::LiveStore>,
}

/// Everything the engine task owns.
pub(crate) struct EngineTask {
    pub engine: Engine,
    pub state: DeviceState,
    pub inbox: mpsc::Receiver<ToEngine>,
    pub outlet: Outlet,
    pub sweep_every: Duration,
    pub clock: Clock,
    pub counters: Arc<Counters>,
}

/// Steps inputs in arrival order, swaps catalogs, sweeps expired state,
/// publishes the outputs; when every sender is gone (and the queue is empty)
/// asks the event loop to disconnect, after everything queued before it.
pub(crate) async fn run_engine(task: EngineTask) {
    let EngineTask {
        mut engine,
        state,
        mut inbox,
        outlet,
        sweep_every,
        clock,
        counters,
    } = task;
    republish_outbox(&state, &outlet, &counters, clock.now()).await;
    let mut sweep = tokio::time::interval(sweep_every);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    sweep.tick().await;
    let mut clear = tokio::time::interval(CLEAR_EVERY);
    clear.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let limit = state.batch_limit().max(1);
    let mut messages = Vec::with_capacity(ENGINE_BATCH);
    let mut pending: Vec<Received> = Vec::new();
    loop {
        tokio::select! {
            taken = inbox.recv_many(&mut messages, ENGINE_BATCH) => if taken == 0 {
                break;
            },
            _ = sweep.tick() => {
                state.sweep(&mut engine, clock.now());
                counters.metrics.devices(engine.device_count());
                continue;
            }
            _ = clear.tick() => {
                clear_sent(&state, &outlet).await;
                continue;
            }
        }
        for message in messages.drain(..) {
            match message {
                ToEngine::Catalog(catalog) => {
                    run_batch(&mut engine, &state, &outlet, &counters, &mut pending).await;
                    engine.set_catalog(catalog);
                    counters.metrics.merchants(engine.catalog().len());
                }
                ToEngine::Roads(network) => {
                    run_batch(&mut engine, &state, &outlet, &counters, &mut pending).await;
                    engine.set_roads(Some(network));
                }
                ToEngine::Inputs(batch) => {
                    for received in batch {
                        pending.push(received);
                        if pending.len() >= limit {
                            run_batch(&mut engine, &state, &outlet, &counters, &mut pending).await;
                        }
                    }
                }
            }
        }
        run_batch(&mut engine, &state, &outlet, &counters, &mut pending).await;
    }
    clear_sent(&state, &outlet).await;
    tokio::select! {
        disconnected = outlet.client.disconnect() => if let Err(error) = disconnected {
            tracing::debug!(%error, "disconnect request not queued");
        },
        () = outlet.stop.cancelled() => {}
    }
}

/// Removes the outbox entries the broker acknowledged.
pub(crate) async fn clear_sent(state: &DeviceState, outlet: &Outlet) {
    let sent = outlet.tracker.take_sent();
    if sent.is_empty() {
        return;
    }
    if let Err(error) = state.clear_sent(&outlet.client_id, sent.clone()).await {
        tracing::debug!(%error, "outbox entries not removed yet");
        outlet.tracker.put_back(sent);
    }
}

/// Publishes again what the outbox holds from the last run, if recent.
async fn republish_outbox(
    state: &DeviceState,
    outlet: &Outlet,
    counters: &Counters,
    now: DateTime<Utc>,
) {
    let entries = match state.outbox(&outlet.client_id).await {
        Ok(entries) => entries,
        Err(error) => {
            tracing::warn!(%error, "cannot read the outbox; nothing republished");
            return;
        }
    };
    let (mut again, mut dropped) = (0, Vec::new());
    for (seq, entry) in entries {
        if now - entry.at <= REPUBLISH_WITHIN {
            again += 1;
            let message = Message::from(&entry.publish);
            mqtt::publish(
                &outlet.client,
                message,
                Some(seq),
                &outlet.tracker,
                counters,
                &outlet.stop,
            )
            .await;
        } else {
            dropped.push(seq);
        }
    }
    if again > 0 || !dropped.is_empty() {
        tracing::info!(
            republished = again,
            dropped = dropped.len(),
            "outputs the broker had not acknowledged when kairos stopped"
        );
    }
    if let Err(error) = state.clear_sent(&outlet.client_id, dropped).await {
        tracing::warn!(%error, "cannot clear old outbox entries");
    }
}

/// Steps the inputs in `pending` (left empty) as one batch, then publishes
/// their outputs and acknowledges them.
async fn run_batch(
    engine: &mut Engine,
    state: &DeviceState,
    outlet: &Outlet,
    counters: &Counters,
    pending: &mut Vec<Received>,
) {
    if pending.is_empty() {
        return;
    }
    let count = pending.len();
    let mut acks = Vec::with_capacity(count);
    let arrivals: Vec<Arrival> = pending
        .drain(..)
        .map(|received| {
            acks.push(received.ack);
            Arrival {
                input: received.input,
                at: Stamp::from_utc(received.at),
                delivery: received.delivery,
            }
        })
        .collect();
    counters.stepped.fetch_add(count as u64, Ordering::Relaxed);
    match step_retrying(engine, state, outlet, &arrivals).await {
        Ok(answers) => {
            let devices = engine.device_count();
            finish(devices, outlet, counters, &arrivals, acks, answers).await;
        }
        Err(Failed::Refused) => {
            // One device's record cannot be used (written by a newer kairos,
            // or contended): the others go on, one input at a time; that
            // device's inputs get no answer (fail closed) and are
            // acknowledged, so they do not hold the broker's window.
            for (arrival, ack) in arrivals.iter().zip(acks) {
                let one = std::slice::from_ref(arrival);
                match step_retrying(engine, state, outlet, one).await {
                    Ok(answers) => {
                        let devices = engine.device_count();
                        finish(devices, outlet, counters, one, vec![ack], answers).await;
                    }
                    Err(Failed::Refused) => {
                        if let Some(pkid) = ack {
                            acknowledge(outlet, pkid).await;
                        }
                    }
                    Err(Failed::Stopping | Failed::LiveUnavailable) => break,
                }
            }
        }
        Err(Failed::LiveUnavailable) => tracing::warn!(
            inputs = count,
            "the volatile store is unreachable: inputs left unanswered for the broker to redeliver"
        ),
        Err(Failed::Stopping) => tracing::warn!(
            inputs = count,
            "stopping with the state store failing: inputs left for the broker to redeliver"
        ),
    }
    counters.queued.fetch_sub(count, Ordering::AcqRel);
    counters.room.notify_one();
}

/// Why a batch was not stepped.
enum Failed {
    /// `serve` is stopping while the store is unreachable.
    Stopping,
    /// The store refused a record (not a passing outage).
    Refused,
    /// The volatile store could not be read: nothing decided.
    LiveUnavailable,
}

/// Steps `arrivals` as one batch, with the devices' live state from the
/// volatile store when there is one (read before, written back after a
/// commit), trying again every [`RETRY`] while the state store is unreachable.
async fn step_retrying(
    engine: &mut Engine,
    state: &DeviceState,
    outlet: &Outlet,
    arrivals: &[Arrival],
) -> Result<Vec<Answered>, Failed> {
    let before = match &outlet.live {
        // Fail closed: nothing decided, nothing acknowledged (redelivered).
        Some(live) => Some(
            super::live::import(engine, live, arrivals)
                .await
                .map_err(|_| Failed::LiveUnavailable)?,
        ),
        None => None,
    };
    let answers = step_store_retrying(engine, state, outlet, arrivals).await?;
    if let (Some(live), Some(before)) = (&outlet.live, before) {
        super::live::export(engine, live, before).await;
    }
    Ok(answers)
}

/// Steps `arrivals` as one batch in the state store, trying again every
/// [`RETRY`] while it is unreachable.
async fn step_store_retrying(
    engine: &mut Engine,
    state: &DeviceState,
    outlet: &Outlet,
    arrivals: &[Arrival],
) -> Result<Vec<Answered>, Failed> {
    loop {
        let sent = outlet.tracker.take_sent();
        match state
            .step_batch(engine, &outlet.client_id, arrivals, &sent)
            .await
        {
            Ok(answers) => return Ok(answers),
            Err(error) => {
                outlet.tracker.put_back(sent);
                if !matches!(error, StoreError::Unavailable { .. }) {
                    return Err(Failed::Refused);
                }
                if outlet.intake.is_cancelled() {
                    return Err(Failed::Stopping);
                }
                tokio::select! {
                    () = tokio::time::sleep(RETRY) => {}
                    () = outlet.intake.cancelled() => return Err(Failed::Stopping),
                }
            }
        }
    }
}

/// Publishes the answers of a stepped batch, then acknowledges its inputs.
async fn finish(
    devices: usize,
    outlet: &Outlet,
    counters: &Counters,
    arrivals: &[Arrival],
    acks: Vec<Option<u16>>,
    answers: Vec<Answered>,
) {
    for ((arrival, ack), answered) in arrivals.iter().zip(acks).zip(answers) {
        counters
            .metrics
            .stepped(arrival.input.kind(), answered.decided, devices);
        deliver(outlet, counters, answered).await;
        if let Some(pkid) = ack {
            acknowledge(outlet, pkid).await;
        }
    }
}

/// Publishes what one input was answered.
async fn deliver(outlet: &Outlet, counters: &Counters, answered: Answered) {
    let mut entries = answered.outbox.into_iter();
    match answered.answer {
        Answer::Fresh(outputs) => {
            for output in outputs {
                match output {
                    Output::Publish(publish) => {
                        counters.metrics.output(&publish.body);
                        let entry = entries.next().flatten();
                        let message = Message::from(publish);
                        mqtt::publish(
                            &outlet.client,
                            message,
                            entry,
                            &outlet.tracker,
                            counters,
                            &outlet.stop,
                        )
                        .await;
                    }
                    Output::Dropped { topic, reason } => {
                        counters.dropped.fetch_add(1, Ordering::Relaxed);
                        counters.metrics.dropped();
                        tracing::debug!(%topic, reason, "input dropped");
                    }
                }
            }
        }
        Answer::Recalled(saved) => {
            tracing::debug!(
                outputs = saved.len(),
                "redelivered input: saved answer given again"
            );
            for publish in &saved {
                let message = Message::from(publish);
                mqtt::publish(
                    &outlet.client,
                    message,
                    None,
                    &outlet.tracker,
                    counters,
                    &outlet.stop,
                )
                .await;
            }
        }
    }
}

/// Acknowledges input packet `pkid` to the broker.
async fn acknowledge(outlet: &Outlet, pkid: u16) {
    let acked = tokio::select! {
        acked = outlet.client.ack(pkid) => acked,
        () = outlet.stop.cancelled() => Err("stopping with the broker unreachable".to_string()),
    };
    if let Err(error) = acked {
        tracing::debug!(pkid, %error, "acknowledgement not queued; the broker will redeliver");
    }
}

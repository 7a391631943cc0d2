//! The state store purged of expired history (older than
//! `engine.history_days`) and context, every `serve.purge_every_s`. The purge
//! walks every record, so it runs in its own task, never blocking the engine
//! task. With several instances on one Redis each purges; compare-and-set
//! makes that harmless.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Clock;
use crate::store::{DeviceStore, Store};

/// Purges the store every `every` (first after one period) of history older
/// than `history_days` and of expired context, until `stop`.
pub async fn purge_periodically(
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

//! Inputs with live state shared through `--volatile`: before a batch, each
//! of its devices' live state is loaded from the volatile store into the
//! engine; after the batch is committed, each device whose live state changed
//! (a position; a `forget`, which deletes it) is written back. The engine
//! stays pure: live state goes in and out as data.

use std::collections::BTreeMap;

use kairos_core::live::LiveDevice;
use kairos_core::Engine;

use crate::store::{Arrival, LiveStore, StoreError};

/// The live state each device had before the batch, as loaded.
pub(super) type Before = BTreeMap<String, Option<LiveDevice>>;

/// The devices `arrivals` name, once each.
fn devices(arrivals: &[Arrival]) -> Vec<String> {
    let mut ids: Vec<String> = arrivals
        .iter()
        .filter_map(|a| a.input.device().map(str::to_string))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Loads the live state of every device of `arrivals` into `engine`. On
/// `Err` (logged) the batch must not be stepped: fail closed.
pub(super) async fn import(
    engine: &mut Engine,
    live: &LiveStore,
    arrivals: &[Arrival],
) -> Result<Before, StoreError> {
    let mut loaded = Before::new();
    for id in devices(arrivals) {
        match live.load(&id).await {
            Ok(state) => {
                loaded.insert(id, state);
            }
            Err(error) => {
                tracing::warn!(%error, "volatile store failed: batch left unanswered");
                return Err(error);
            }
        }
    }
    for (id, state) in &loaded {
        engine.import_live(id, state.as_ref());
    }
    Ok(loaded)
}

/// Writes back the live state of every device whose live state changed
/// since `before` (`None`: deleted). A failure is logged: the entry is a cache of the last position,
/// and an instance without it answers as without `--volatile`.
pub(super) async fn export(engine: &mut Engine, live: &LiveStore, before: Before) {
    let engine: &mut Engine = engine;
    let changed: Vec<(String, Option<LiveDevice>)> = before
        .into_iter()
        .filter_map(|(id, was)| {
            let now = engine.export_live(&id);
            (now != was).then_some((id, now))
        })
        .collect();
    for (id, state) in changed {
        if let Err(error) = live.save(&id, state.as_ref()).await {
            tracing::warn!(%error, device = %id, "volatile store failed: live state not shared");
        }
    }
}

//! Road reload for `serve --roads FILE`: like the offers (see [`super::offers`]),
//! the file's modification time and size are polled, and a changed file is
//! loaded again off the engine task and handed to the engine, which swaps it
//! in whole. A file that fails to load leaves the previous network in service.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::ToEngine;
use crate::import::roads::{load_roads, RoadsError};
use kairos_core::roads::RoadNetwork;

/// Loads a road file, logging what it dropped.
pub(crate) fn load(path: &Path) -> Result<RoadNetwork, RoadsError> {
    let (network, report) = load_roads(path)?;
    for line in report.to_string().lines() {
        tracing::info!("{}", line.trim_start_matches("kairos: "));
    }
    Ok(network)
}

fn snapshot(path: &Path) -> Option<(Option<SystemTime>, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok(), meta.len()))
}

/// Watches `path` until `cancel`, sending each good new network to the engine.
pub(crate) async fn watch(
    path: PathBuf,
    every: Duration,
    engine: mpsc::Sender<ToEngine>,
    cancel: CancellationToken,
) {
    let path = Arc::new(path);
    let look = |path: Arc<PathBuf>| async move {
        tokio::task::spawn_blocking(move || snapshot(&path))
            .await
            .ok()
            .flatten()
    };
    let mut seen = look(path.clone()).await;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let now = look(path.clone()).await;
        if now == seen || now.is_none() {
            continue;
        }
        seen = now;
        let load_path = path.clone();
        match tokio::task::spawn_blocking(move || load(&load_path)).await {
            Ok(Ok(network)) => {
                tracing::info!(nodes = network.node_count(), "roads reloaded");
                if engine
                    .send(ToEngine::Roads(Arc::new(network)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "roads not reloaded; the previous network stays in service");
            }
            Err(error) => {
                tracing::error!(%error, "road loading failed; the previous network stays in service");
            }
        }
    }
}

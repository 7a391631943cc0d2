//! Offer reload for `serve`: polls the offer paths' modification times and,
//! when anything changed (a file edited, added to or removed from a folder),
//! loads the whole set again off the engine task and hands the new catalog to
//! the engine, which swaps it in whole. A set that fails to load leaves the
//! previous one in service; why is logged.
//!
//! Polling (every `serve.offers_poll_ms`) rather than file events keeps this
//! simple and works the same on every file system, network mounts included.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::ToEngine;
use crate::offer_files::{load_catalog as load_files, offer_files};
use kairos_core::catalog::Catalog;
use kairos_core::offers::LoadError;

/// What the offer paths looked like: each file with its modification time and size.
type Snapshot = Result<Vec<(PathBuf, Option<SystemTime>, u64)>, String>;

/// Loads the offer set, logging every problem found (the features skipped).
pub(crate) fn load_catalog(paths: &[PathBuf]) -> Result<Catalog, LoadError> {
    let (catalog, problems) = load_files(paths)?;
    for problem in &problems {
        tracing::warn!("{problem}");
    }
    Ok(catalog)
}

fn snapshot(paths: &[PathBuf]) -> Snapshot {
    let mut files = Vec::new();
    for path in paths {
        for file in offer_files(path).map_err(|e| e.to_string())? {
            let meta = std::fs::metadata(&file).ok();
            let modified = meta.as_ref().and_then(|m| m.modified().ok());
            let len = meta.map_or(0, |m| m.len());
            files.push((file, modified, len));
        }
    }
    Ok(files)
}

/// Watches `paths` until `cancel`, sending each good new set to the engine.
pub(crate) async fn watch(
    paths: Vec<PathBuf>,
    every: Duration,
    engine: mpsc::Sender<ToEngine>,
    cancel: CancellationToken,
) {
    let paths = Arc::new(paths);
    let take = |paths: Arc<Vec<PathBuf>>| async move {
        tokio::task::spawn_blocking(move || snapshot(&paths))
            .await
            .unwrap_or_else(|e| Err(e.to_string()))
    };
    let mut seen = take(paths.clone()).await;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let now = take(paths.clone()).await;
        if now == seen {
            continue;
        }
        seen = now;
        let load_paths = paths.clone();
        let loaded = tokio::task::spawn_blocking(move || load_catalog(&load_paths)).await;
        match loaded {
            Ok(Ok(catalog)) => {
                tracing::info!(merchants = catalog.len(), "offers reloaded");
                if engine
                    .send(ToEngine::Catalog(Arc::new(catalog)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "offers not reloaded; the previous set stays in service");
            }
            Err(error) => {
                tracing::error!(%error, "offer loading failed; the previous set stays in service");
            }
        }
    }
}

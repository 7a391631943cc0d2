//! What one `forget` costs on the file store, which rewrites the file's live
//! records into a fresh file before it returns (docs/state.md, "Forget erases
//! the bytes"): the time of one delete with N typical devices stored, and the
//! file's size.
//!
//! ```text
//! cargo run --release --example forget_cost [-- DEVICES...]
//! ```
//!
//! Default sizes: 1,000, 10,000 and 100,000 devices, each a consenting
//! profile with 10 suggestions, a dismissal and a block (about 1.4 KB of
//! JSON), in a temporary folder.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use kairos::device::{PersistedDevice, Profile, SuggestionRecord};
use kairos::store::{DeviceStore, RedbStore};

fn record(i: usize) -> PersistedDevice {
    let start: DateTime<Utc> = "2026-07-15T12:00:00Z".parse().unwrap_or_default();
    let mut state = PersistedDevice {
        profile: Some(Profile {
            consent: true,
            ..Profile::default()
        }),
        ..PersistedDevice::default()
    };
    for s in 0..10 {
        state.history.push(SuggestionRecord {
            id: format!("s-{i:08x}{s:08x}"),
            at: start + Duration::hours(s),
            merchant: format!("merchant-{}", (i + s as usize) % 500),
            offer: "lunch".into(),
            feedback: None,
            tags: Vec::new(),
        });
    }
    state.blocked.insert(format!("merchant-{}", i % 97));
    state
        .dismissed
        .insert((format!("merchant-{}", i % 89), "lunch".into()));
    state
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 10_000, 100_000]
    } else {
        sizes
    };
    println!("| devices | file (MiB) | one forget (ms) | 50 concurrent forgets (ms) |");
    println!("|---|---|---|---|");
    for n in sizes {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("state.redb");
        let store = RedbStore::open(&path).await?;
        for i in 0..n {
            let _ = store
                .save_if(&format!("device-{i:08}"), &record(i), None)
                .await?;
        }
        let size = std::fs::metadata(&path)?.len() as f64 / (1024.0 * 1024.0);
        let started = Instant::now();
        store.delete("device-00000000").await?;
        let one = started.elapsed().as_secs_f64() * 1e3;
        let started = Instant::now();
        let tasks: Vec<_> = (1..=50)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move { store.delete(&format!("device-{i:08}")).await })
            })
            .collect();
        for task in tasks {
            task.await??;
        }
        let burst = started.elapsed().as_secs_f64() * 1e3;
        println!("| {n} | {size:.1} | {one:.0} | {burst:.0} |");
    }
    Ok(())
}

//! SPEC Privacy on the file store's bytes: once `delete` (what `forget`
//! does) returns, neither the device id nor any distinctive byte of any
//! version of its record is in the redb file, whatever came before:
//! restarts, many devices, many rewrites of the record, suggestions,
//! blocks, dismissals, a crash between the delete and its erasure.

mod support;

use std::path::Path;

use kairos::device::PersistedDevice;
use kairos::store::{DeviceStore, RedbStore, SaveOutcome, Version};
use support::redis_server::device_with_suggestion;

/// Does the file at `path` contain `needle` anywhere in its bytes?
fn file_has(path: &Path, needle: &str) -> bool {
    let bytes = std::fs::read(path).unwrap();
    bytes
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// What only device `id`'s record holds: a merchant, a blocked merchant, a
/// dismissed offer.
fn markers(id: &str) -> [String; 3] {
    [
        format!("sugg-{id}-qzx"),
        format!("blocked-{id}-qzx"),
        format!("dismissed-{id}-qzx"),
    ]
}

/// Device `id`'s record after `n` updates (each one more suggestion).
fn record(id: &str, n: i64) -> PersistedDevice {
    let [merchant, blocked, dismissed] = markers(id);
    let mut state = device_with_suggestion(0, &merchant);
    for i in 1..n {
        let mut more = device_with_suggestion(i * 60, &merchant).history;
        state.history.append(&mut more);
    }
    state.blocked.insert(blocked);
    state
        .dismissed
        .insert((dismissed, format!("offer-{id}-{n}")));
    state
}

/// Saves `n` successive versions of device `id`.
async fn write_versions(store: &RedbStore, id: &str, n: i64) {
    let mut version: Option<Version> = store.load(id).await.unwrap().map(|(_, v)| v);
    for i in 1..=n {
        match store.save_if(id, &record(id, i), version).await.unwrap() {
            SaveOutcome::Saved(v) => version = Some(v),
            SaveOutcome::Conflict => panic!("a single writer cannot conflict"),
        }
    }
}

fn assert_gone(path: &Path, id: &str) {
    assert!(!file_has(path, id), "device id {id:?} is still in the file");
    for marker in markers(id) {
        assert!(
            !file_has(path, &marker),
            "{marker:?} of {id} is still in the file"
        );
    }
    assert!(
        !file_has(path, &format!("offer-{id}-")),
        "an old version of {id} is in the file"
    );
}

#[tokio::test]
async fn after_a_restart_forget_erases_every_version_of_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let store = RedbStore::open(&path).await.unwrap();
    write_versions(&store, "car-forget-1", 12).await;
    write_versions(&store, "car-keep-1", 3).await;
    drop(store);
    assert!(
        file_has(&path, "car-forget-1"),
        "the id is written before forget"
    );

    let store = RedbStore::open(&path).await.unwrap();
    write_versions(&store, "car-forget-1", 2).await;
    store.delete("car-forget-1").await.unwrap();
    // Acknowledged means erased: checked with the store still open.
    assert_gone(&path, "car-forget-1");
    assert!(store.load("car-forget-1").await.unwrap().is_none());
    assert_eq!(
        store.load("car-keep-1").await.unwrap().unwrap().0,
        record("car-keep-1", 3)
    );
    // The store keeps working on the fresh file, and across a restart.
    write_versions(&store, "car-keep-1", 1).await;
    drop(store);
    assert_gone(&path, "car-forget-1");
    let store = RedbStore::open(&path).await.unwrap();
    assert_eq!(
        store.load("car-keep-1").await.unwrap().unwrap().0,
        record("car-keep-1", 1)
    );
}

#[tokio::test]
async fn among_200_devices_forgetting_half_leaves_none_of_theirs_and_all_of_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let ids: Vec<String> = (0..200).map(|i| format!("dev-{i:03}-a7")).collect();
    let store = RedbStore::open(&path).await.unwrap();
    for id in &ids {
        write_versions(&store, id, 3).await;
    }
    drop(store);
    let store = RedbStore::open(&path).await.unwrap();
    // Forgets interleaved with updates of the others, and a restart halfway.
    for (i, id) in ids.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        store.delete(id).await.unwrap();
        write_versions(&store, &ids[i + 1], 1).await;
        if i == 100 {
            drop(store);
            return finish_after_restart(&path, &ids).await;
        }
    }
    unreachable!("the loop restarts at 100");
}

async fn finish_after_restart(path: &Path, ids: &[String]) {
    let store = RedbStore::open(path).await.unwrap();
    // Deletes from several tasks at once share rewrites, and each returns
    // only once its record is erased.
    let mut tasks = Vec::new();
    for id in ids
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0 && *i > 100)
    {
        let (store, id) = (store.clone(), id.1.clone());
        tasks.push(tokio::spawn(async move { store.delete(&id).await }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    for (i, id) in ids.iter().enumerate() {
        if i % 2 == 0 {
            assert_gone(path, id);
        } else {
            assert!(file_has(path, id), "{id} was kept");
            let expected = if i <= 101 { 1 } else { 3 };
            assert_eq!(
                store.load(id).await.unwrap().unwrap().0,
                record(id, expected)
            );
        }
    }
}

#[tokio::test]
async fn a_crash_between_the_delete_and_the_erasure_is_erased_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let store = RedbStore::open(&path).await.unwrap();
    write_versions(&store, "car-crash-1", 5).await;
    write_versions(&store, "car-keep-2", 2).await;
    drop(store);
    // What a crash right after the delete's commit leaves: the record
    // removed, the erasure flagged, the file not yet rewritten.
    {
        let db = redb::Database::open(&path).unwrap();
        let devices: redb::TableDefinition<&str, (u64, &[u8])> =
            redb::TableDefinition::new("devices");
        let meta: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("meta");
        let txn = db.begin_write().unwrap();
        txn.open_table(devices)
            .unwrap()
            .remove("car-crash-1")
            .unwrap();
        txn.open_table(meta)
            .unwrap()
            .insert("erase_pending", 1)
            .unwrap();
        txn.commit().unwrap();
    }
    let store = RedbStore::open(&path).await.unwrap();
    assert_gone(&path, "car-crash-1");
    assert_eq!(
        store.load("car-keep-2").await.unwrap().unwrap().0,
        record("car-keep-2", 2)
    );
}

#[tokio::test]
async fn forgetting_a_device_that_is_not_stored_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let store = RedbStore::open(&path).await.unwrap();
    write_versions(&store, "car-keep-3", 1).await;
    store.delete("never-seen").await.unwrap();
    assert_eq!(
        store.load("car-keep-3").await.unwrap().unwrap().0,
        record("car-keep-3", 1)
    );
}

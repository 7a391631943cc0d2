//! The file store against a real redb file in a temp dir: round trips,
//! compare-and-set, forget, purge, crash safety (a SIGKILLed writer) and
//! clear errors for corrupt, unwritable or already open files.

mod support;

use support::redis_server;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use chrono::Duration;
use kairos::device::PersistedDevice;
use kairos::store::{DeviceStore, RedbStore, SaveOutcome, StoreError};
use redis_server::{at, device_with_suggestion};

fn saved(outcome: SaveOutcome) -> kairos::store::Version {
    match outcome {
        SaveOutcome::Saved(v) => v,
        SaveOutcome::Conflict => panic!("expected the save to succeed"),
    }
}

#[tokio::test]
async fn a_saved_device_is_there_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/state.redb");
    let state = device_with_suggestion(0, "m1");
    {
        let store = RedbStore::open(&path).await.unwrap();
        assert!(store.load("car-1").await.unwrap().is_none());
        saved(store.save_if("car-1", &state, None).await.unwrap());
    }
    let store = RedbStore::open(&path).await.unwrap();
    let (loaded, _) = store.load("car-1").await.unwrap().expect("still there");
    assert_eq!(loaded, state);
}

#[tokio::test]
async fn of_two_writers_that_loaded_the_same_version_only_the_first_saves() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("s.redb")).await.unwrap();
    let v1 = saved(
        store
            .save_if("car-1", &device_with_suggestion(0, "m1"), None)
            .await
            .unwrap(),
    );
    // Creating needs "nothing stored": a second creator conflicts.
    assert_eq!(
        store
            .save_if("car-1", &device_with_suggestion(0, "m9"), None)
            .await
            .unwrap(),
        SaveOutcome::Conflict
    );
    let a = device_with_suggestion(5, "m2");
    let b = device_with_suggestion(6, "m3");
    let v2 = saved(store.save_if("car-1", &a, Some(v1)).await.unwrap());
    assert!(v2 > v1);
    assert_eq!(
        store.save_if("car-1", &b, Some(v1)).await.unwrap(),
        SaveOutcome::Conflict
    );
    assert_eq!(store.load("car-1").await.unwrap(), Some((a, v2)));
}

#[tokio::test]
async fn a_forgotten_device_cannot_be_resurrected_by_a_stale_writer() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("s.redb")).await.unwrap();
    let old = saved(
        store
            .save_if("car-1", &device_with_suggestion(0, "m1"), None)
            .await
            .unwrap(),
    );
    store.delete("car-1").await.unwrap();
    store.delete("car-1").await.unwrap(); // nothing to delete: fine
    assert!(store.load("car-1").await.unwrap().is_none());
    let fresh = saved(
        store
            .save_if("car-1", &PersistedDevice::default(), None)
            .await
            .unwrap(),
    );
    assert!(fresh > old, "versions are never reused");
    assert_eq!(
        store
            .save_if("car-1", &device_with_suggestion(0, "m1"), Some(old))
            .await
            .unwrap(),
        SaveOutcome::Conflict
    );
}

#[tokio::test]
async fn forget_and_purge_leave_no_bytes_of_the_device_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let store = RedbStore::open(&path).await.unwrap();
    let marker = "merchant-with-a-very-recognisable-name";
    saved(
        store
            .save_if("car-1", &device_with_suggestion(0, marker), None)
            .await
            .unwrap(),
    );
    saved(
        store
            .save_if("car-2", &device_with_suggestion(0, "m"), None)
            .await
            .unwrap(),
    );
    store.delete("car-1").await.unwrap();
    // A purge that deletes something (car-2, emptied) also compacts the file.
    let mut empty = store.load("car-2").await.unwrap().unwrap();
    empty.0 = PersistedDevice::default();
    saved(
        store
            .save_if("car-2", &empty.0, Some(empty.1))
            .await
            .unwrap(),
    );
    let purged = store
        .purge_expired(at(0), Duration::days(90))
        .await
        .unwrap();
    assert_eq!(purged.deleted, 1);
    drop(store);
    let bytes = std::fs::read(&path).unwrap();
    let found = bytes.windows(marker.len()).any(|w| w == marker.as_bytes());
    assert!(!found, "a forgotten record's bytes are still in the file");
}

#[tokio::test]
async fn purge_drops_old_history_and_devices_with_nothing_left() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("s.redb")).await.unwrap();
    // Only history, 100 days old: nothing left after the purge.
    let mut gone = device_with_suggestion(0, "m1");
    gone.profile = None;
    saved(store.save_if("gone", &gone, None).await.unwrap());
    // A profile and a 100-day-old suggestion: the profile stays.
    saved(
        store
            .save_if("kept", &device_with_suggestion(0, "m1"), None)
            .await
            .unwrap(),
    );
    // Recent history: untouched.
    let recent = device_with_suggestion(100 * 24 * 60 - 60, "m2");
    let recent_v = saved(store.save_if("recent", &recent, None).await.unwrap());

    let now = at(100 * 24 * 60);
    let purged = store.purge_expired(now, Duration::days(90)).await.unwrap();
    assert_eq!((purged.deleted, purged.trimmed), (1, 1));
    assert!(store.load("gone").await.unwrap().is_none());
    let (kept, _) = store.load("kept").await.unwrap().unwrap();
    assert!(kept.history.is_empty() && kept.profile.is_some());
    assert_eq!(
        store.load("recent").await.unwrap(),
        Some((recent, recent_v))
    );
}

#[tokio::test]
async fn a_corrupt_file_is_a_clear_error_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.redb");
    let noise: Vec<u8> = (0u32..65_536)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&garbage, &noise).unwrap();
    let err = RedbStore::open(&garbage).await.expect_err("refused");
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
    assert!(err.to_string().contains("garbage.redb"), "{err}");
    assert_eq!(std::fs::read(&garbage).unwrap(), noise, "left untouched");

    // A real store whose record bytes were damaged on disk.
    let path = dir.path().join("damaged.redb");
    let marker = "merchant-whose-bytes-will-rot";
    {
        let store = RedbStore::open(&path).await.unwrap();
        saved(
            store
                .save_if("car-1", &device_with_suggestion(0, marker), None)
                .await
                .unwrap(),
        );
    }
    let mut bytes = std::fs::read(&path).unwrap();
    let at_marker = bytes
        .windows(marker.len())
        .position(|w| w == marker.as_bytes())
        .expect("the record is stored as JSON");
    bytes[at_marker..at_marker + 8].copy_from_slice(b"XXXXXXXX");
    std::fs::write(&path, &bytes).unwrap();
    let err = RedbStore::open(&path).await.expect_err("refused");
    assert!(err.to_string().contains("corrupt"), "{err}");
}

#[tokio::test]
async fn an_unwritable_location_is_a_clear_error_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let err = RedbStore::open(&file.join("state.redb"))
        .await
        .expect_err("a file cannot hold a folder");
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
    let err = RedbStore::open(dir.path()).await.expect_err("a folder");
    assert!(err.to_string().contains("folder"), "{err}");
}

#[tokio::test]
async fn a_file_already_open_is_refused_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let _first = RedbStore::open(&path).await.unwrap();
    let err = RedbStore::open(&path).await.expect_err("locked");
    assert!(err.to_string().contains("already open"), "{err}");
}

/// Runs only as the child of the crash test: writes devices one by one,
/// printing each committed one, until it is killed.
#[tokio::test]
async fn crash_child_writes_until_killed() {
    let Ok(path) = std::env::var("KAIROS_CRASH_STORE") else {
        return;
    };
    let store = RedbStore::open(std::path::Path::new(&path)).await.unwrap();
    for i in 0.. {
        let id = format!("car-{i}");
        saved(
            store
                .save_if(&id, &device_with_suggestion(i, "m1"), None)
                .await
                .unwrap(),
        );
        println!("committed {i}");
    }
}

#[test]
fn a_killed_writer_loses_no_committed_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_writes_until_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("KAIROS_CRASH_STORE", &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut last = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("committed ") {
            let n: i64 = n.parse().unwrap();
            last = Some(n);
            if n >= 30 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL, mid-write: no destructor, no close
    child.wait().unwrap();
    let last = last.expect("the child committed writes");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = RedbStore::open(&path).await.expect("reopens after a crash");
        for i in 0..=last {
            let (state, _) = store
                .load(&format!("car-{i}"))
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("committed car-{i} was lost"));
            assert_eq!(state, device_with_suggestion(i, "m1"));
        }
    });
}

//! What only the file store has, on a real redb file in a temp dir: it
//! survives reopening and a SIGKILLed writer, forget and purge leave no bytes,
//! and corrupt, unwritable or already open files are clear errors. The store
//! contract both stores keep is `store_contract.rs`.

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

/// The writer the crash test kills: devices saved one by one, each printed
/// once committed, until the process dies.
fn write_until_killed(path: &std::path::Path) -> ! {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = RedbStore::open(path).await.unwrap();
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
        unreachable!("writes until killed")
    })
}

/// Runs itself again as the writer (this same test, with `KAIROS_CRASH_STORE`
/// naming the file), kills it mid-write and reopens the file.
#[test]
fn a_killed_writer_loses_no_committed_write() {
    if let Some(path) = std::env::var_os("KAIROS_CRASH_STORE") {
        write_until_killed(std::path::Path::new(&path));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_killed_writer_loses_no_committed_write",
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

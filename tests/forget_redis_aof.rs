//! SPEC Privacy on Redis's own files: with `appendonly yes` (and RDB
//! snapshots), a forgotten device's id and record bytes are in none of the
//! files Redis keeps once `delete` (what `forget` does) returns.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kairos::store::{DeviceStore, RedisStore, SaveOutcome};
use support::net::free_port;
use support::redis_server::{device_with_suggestion, REDIS_SERVER};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A redis-server that writes an AOF and snapshots into `dir`.
fn persistent_redis(dir: &Path) -> (Server, String) {
    let port = free_port();
    let child = Command::new(REDIS_SERVER)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--dir", dir.to_str().unwrap()])
        .args(["--appendonly", "yes", "--save", "3600 1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server starts");
    let server = Server(child);
    let url = format!("redis://127.0.0.1:{port}/0");
    let client = redis::Client::open(url.as_str()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while client.get_connection().is_err() {
        assert!(Instant::now() < deadline, "redis-server did not answer");
        std::thread::sleep(Duration::from_millis(20));
    }
    (server, url)
}

/// Does any file under `dir` contain `needle`?
fn files_have(dir: &Path, needle: &str) -> bool {
    std::fs::read_dir(dir).unwrap().any(|entry| {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_have(&path, needle)
        } else {
            let bytes = std::fs::read(&path).unwrap_or_default();
            bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        }
    })
}

#[tokio::test]
async fn with_aof_and_snapshots_forget_leaves_nothing_in_redis_files() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, url) = persistent_redis(dir.path());
    let store = RedisStore::open(&url).await.unwrap();
    let (gone, kept) = ("aof-forget-me-3b", "aof-keep-me-3b");
    for (id, merchant) in [
        (gone, "merchant-of-forgotten-9q"),
        (kept, "merchant-kept-9q"),
    ] {
        let mut version = None;
        for minutes in 0..5 {
            let mut state = device_with_suggestion(minutes * 60, merchant);
            state.blocked.insert(format!("blocked-by-{id}"));
            match store.save_if(id, &state, version).await.unwrap() {
                SaveOutcome::Saved(v) => version = Some(v),
                SaveOutcome::Conflict => panic!("a single writer cannot conflict"),
            }
        }
    }
    // A snapshot too, so the device is in dump.rdb as well as the AOF.
    let mut con = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    assert!(
        files_have(dir.path(), gone),
        "the AOF holds the device before forget"
    );
    assert!(files_have(dir.path(), "merchant-of-forgotten-9q"));

    store.delete(gone).await.unwrap();
    for needle in [
        gone,
        "merchant-of-forgotten-9q",
        "blocked-by-aof-forget-me-3b",
    ] {
        assert!(
            !files_have(dir.path(), needle),
            "{needle:?} is still in Redis's files"
        );
    }
    assert!(
        files_have(dir.path(), kept),
        "the other device is still persisted"
    );
    assert!(store.load(kept).await.unwrap().is_some());
    // A second forget in a row waits for its own rewrite, not the last one.
    store.delete(kept).await.unwrap();
    assert!(!files_have(dir.path(), kept));
}

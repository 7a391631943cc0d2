//! `forget` on Redis's own files: after a delete, have Redis rewrite what it
//! persists (AOF rewrite, RDB snapshot) and wait until it has, so the device's
//! bytes are no longer in its files when `forget` is answered.
//!
//! Redis does nothing of the kind by itself: a `DEL` is appended to the AOF
//! after the writes it undoes, and the last snapshot keeps the record until
//! the next one. What is asked depends on `CONFIG GET appendonly` and
//! `CONFIG GET save`; a Redis without persistence costs one round trip.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ::redis::aio::ConnectionManager;
use ::redis::RedisError;

/// How long a rewrite may take before the `forget` fails (it is retried on
/// the next forget, and the record is already gone from memory).
const REWRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// Between two looks at `INFO persistence`.
const POLL: Duration = Duration::from_millis(20);

/// Warned once that CONFIG is refused.
static WARNED: AtomicBool = AtomicBool::new(false);

/// What Redis persists, from `CONFIG GET`; `None` when CONFIG is refused.
async fn persistence(connection: &mut ConnectionManager) -> Option<(bool, bool)> {
    let aof: Vec<String> = ::redis::cmd("CONFIG")
        .arg("GET")
        .arg("appendonly")
        .query_async(connection)
        .await
        .ok()?;
    let save: Vec<String> = ::redis::cmd("CONFIG")
        .arg("GET")
        .arg("save")
        .query_async(connection)
        .await
        .ok()?;
    let aof = aof.get(1).is_some_and(|v| v == "yes");
    let rdb = save.get(1).is_some_and(|v| !v.trim().is_empty());
    Some((aof, rdb))
}

/// One field of `INFO persistence` as a number (0 when absent).
fn field(info: &str, name: &str) -> u64 {
    info.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

async fn info(connection: &mut ConnectionManager) -> Result<String, RedisError> {
    ::redis::cmd("INFO")
        .arg("persistence")
        .query_async(connection)
        .await
}

/// Runs `command` (`BGREWRITEAOF` or `BGSAVE`) and waits until the counter
/// `done` (`aof_rewrites`, `rdb_saves`) has moved past its value before and
/// `busy` is 0. A rewrite already running is waited for, then one more.
async fn rewrite(
    connection: &mut ConnectionManager,
    command: &str,
    done: &str,
    busy: &str,
) -> Result<(), String> {
    let before = field(&info(connection).await.map_err(|e| e.to_string())?, done);
    let deadline = tokio::time::Instant::now() + REWRITE_TIMEOUT;
    // BGSAVE refuses while an AOF rewrite runs; SCHEDULE queues it instead.
    let mut asked = ::redis::cmd(command);
    if command == "BGSAVE" {
        asked.arg("SCHEDULE");
    }
    asked
        .query_async::<::redis::Value>(connection)
        .await
        .map_err(|e| format!("{command}: {e}"))?;
    loop {
        let now = info(connection).await.map_err(|e| e.to_string())?;
        if field(&now, done) > before
            && field(&now, busy) == 0
            && field(&now, "aof_rewrite_scheduled") == 0
        {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("{command} not done after {REWRITE_TIMEOUT:?}"));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// After a delete: rewrites what Redis persists, and returns once no file of
/// Redis holds the deleted keys' bytes. Without persistence, one round trip.
pub(super) async fn erase_persisted(connection: &mut ConnectionManager) -> Result<(), String> {
    let Some((aof, rdb)) = persistence(connection).await else {
        if !WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "Redis refuses CONFIG GET: kairos cannot check or rewrite its files after \
                 forget (docs/state.md)"
            );
        }
        return Ok(());
    };
    if aof {
        rewrite(
            connection,
            "BGREWRITEAOF",
            "aof_rewrites",
            "aof_rewrite_in_progress",
        )
        .await?;
    }
    if rdb {
        rewrite(connection, "BGSAVE", "rdb_saves", "rdb_bgsave_in_progress").await?;
    }
    Ok(())
}

//! The shared store: device state in Redis, for several kairos instances.
//!
//! One hash per device, `kairos:device:{id}`, with two fields: `v`, the
//! version, and `d`, the JSON record. Compare-and-set is one Lua script, so
//! Redis runs the check and the write atomically: it compares `v` with the
//! version the caller loaded, and only then writes the record with a new
//! version. Versions come from `kairos:seq`, a store-wide counter pushed up to
//! Redis's own clock in microseconds: never reused, even after a Redis
//! restart that lost its data. `forget` is a plain `DEL`: nothing naming the
//! device is left.
//!
//! The connection is a [`ConnectionManager`]: while Redis is unreachable every
//! call returns [`StoreError::Unavailable`] within a few seconds (the caller
//! fails closed), and the manager reconnects by itself once Redis is back.
//! One Redis server (or a primary with replicas) is supported, not Redis
//! Cluster (the counter and the device keys live in different slots).

use std::time::Duration as StdDuration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{AsyncCommands, Client, RedisError, Script};
use chrono::{DateTime, Duration, Utc};

use super::url::redact;
use super::{
    decode, encode, purge_one, DeviceStore, PersistedDevice, Purge, Purged, SaveOutcome,
    StoreError, Version,
};

/// Prefix of every device key: `kairos:device:{id}`.
pub const KEY_PREFIX: &str = "kairos:device:";
/// The store-wide version counter.
const SEQ_KEY: &str = "kairos:seq";

/// Compare-and-set. KEYS: device, counter. ARGV: expected version ("" for
/// none), record. Returns the new version, or -1 on conflict. Versions are
/// written with `%d`: Lua 5.1 would print a large number as `1.7e+15`.
const SAVE_IF: &str = r"
local current = redis.call('HGET', KEYS[1], 'v')
if current == false then current = '' end
if current ~= ARGV[1] then return -1 end
local version = redis.call('INCR', KEYS[2])
local now = redis.call('TIME')
local clock = tonumber(now[1]) * 1000000 + tonumber(now[2])
if version < clock then
  version = clock
  redis.call('SET', KEYS[2], string.format('%d', version))
end
local text = string.format('%d', version)
redis.call('HSET', KEYS[1], 'v', text, 'd', ARGV[2])
return version
";

/// Delete-if-unchanged, for purges. KEYS: device. ARGV: version. 1 when deleted.
const DELETE_IF: &str = r"
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
";

/// Device state in Redis.
#[derive(Clone)]
pub struct RedisStore {
    pub(super) connection: ConnectionManager,
    location: String,
    save_if: Script,
    delete_if: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("location", &self.location)
            .finish()
    }
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port/db`); an unreachable server is an
    /// error here, so a misconfigured instance does not start.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let location = redact(url);
        let open_error = |detail: String| StoreError::Open {
            location: location.clone(),
            detail,
        };
        let client = Client::open(url).map_err(|e| open_error(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(StdDuration::from_secs(2)))
            .set_response_timeout(Some(StdDuration::from_secs(2)))
            .set_number_of_retries(2)
            .set_min_delay(StdDuration::from_millis(50))
            .set_max_delay(StdDuration::from_secs(1));
        let mut connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| open_error(format!("unreachable: {e}")))?;
        let _: String = ::redis::cmd("PING")
            .query_async(&mut connection)
            .await
            .map_err(|e| open_error(format!("unreachable: {e}")))?;
        Ok(Self {
            connection,
            location,
            save_if: Script::new(SAVE_IF),
            delete_if: Script::new(DELETE_IF),
        })
    }

    /// The server, for messages (password hidden).
    pub fn location(&self) -> &str {
        &self.location
    }

    pub(super) fn unavailable(&self, error: RedisError) -> StoreError {
        StoreError::Unavailable {
            location: self.location.clone(),
            detail: error.to_string(),
        }
    }

    /// Deletes the device only if it still has `version`; true when deleted.
    async fn delete_if(&self, id: &str, version: Version) -> Result<bool, StoreError> {
        let deleted: i64 = self
            .delete_if
            .key(key(id))
            .arg(version.get().to_string())
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(|e| self.unavailable(e))?;
        Ok(deleted == 1)
    }

    /// Every device id with a record (SCAN, so Redis is never blocked).
    async fn device_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut connection = self.connection.clone();
        let mut ids = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = ::redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{KEY_PREFIX}*"))
                .arg("COUNT")
                .arg(500)
                .query_async(&mut connection)
                .await
                .map_err(|e| self.unavailable(e))?;
            ids.extend(
                keys.iter()
                    .filter_map(|k| k.strip_prefix(KEY_PREFIX))
                    .map(str::to_string),
            );
            if next == 0 {
                break;
            }
            cursor = next;
        }
        ids.sort();
        ids.dedup();
        Ok(ids)
    }
}

/// The key of a device.
fn key(id: &str) -> String {
    format!("{KEY_PREFIX}{id}")
}

impl DeviceStore for RedisStore {
    async fn load(&self, id: &str) -> Result<Option<(PersistedDevice, Version)>, StoreError> {
        let (version, data): (Option<String>, Option<Vec<u8>>) = ::redis::cmd("HMGET")
            .arg(key(id))
            .arg("v")
            .arg("d")
            .query_async(&mut self.connection.clone())
            .await
            .map_err(|e| self.unavailable(e))?;
        let corrupt = |detail: &str| StoreError::Corrupt {
            device: id.to_string(),
            detail: detail.to_string(),
        };
        match (version, data) {
            (None, None) => Ok(None),
            (Some(version), Some(data)) => {
                let version = version
                    .parse::<u64>()
                    .map_err(|_| corrupt("its version is not a number"))?;
                Ok(Some((decode(id, &data)?, Version::new(version))))
            }
            _ => Err(corrupt("its record lacks a version or data")),
        }
    }

    async fn save_if(
        &self,
        id: &str,
        state: &PersistedDevice,
        expected: Option<Version>,
    ) -> Result<SaveOutcome, StoreError> {
        let expected = expected.map_or_else(String::new, |v| v.get().to_string());
        let version: i64 = self
            .save_if
            .key(key(id))
            .key(SEQ_KEY)
            .arg(expected)
            .arg(encode(state))
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(|e| self.unavailable(e))?;
        Ok(match u64::try_from(version) {
            Ok(v) => SaveOutcome::Saved(Version::new(v)),
            Err(_) => SaveOutcome::Conflict,
        })
    }

    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .connection
            .clone()
            .del(key(id))
            .await
            .map_err(|e| self.unavailable(e))?;
        Ok(())
    }

    async fn purge_expired(
        &self,
        now: DateTime<Utc>,
        retention: Duration,
    ) -> Result<Purged, StoreError> {
        let mut purged = Purged::default();
        for id in self.device_ids().await? {
            let loaded = match self.load(&id).await {
                Ok(Some(loaded)) => loaded,
                // Gone meanwhile, or unreadable (e.g. a newer schema): left alone.
                Ok(None) => continue,
                Err(StoreError::Corrupt { .. }) => {
                    purged.skipped += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let (state, version) = loaded;
            let done = match purge_one(state, now, retention) {
                Purge::Keep => continue,
                Purge::Delete => {
                    let deleted = self.delete_if(&id, version).await?;
                    purged.deleted += usize::from(deleted);
                    deleted
                }
                Purge::Rewrite(state) => {
                    let saved = self.save_if(&id, &state, Some(version)).await?;
                    let saved = matches!(saved, SaveOutcome::Saved(_));
                    purged.trimmed += usize::from(saved);
                    saved
                }
            };
            purged.skipped += usize::from(!done);
        }
        Ok(purged)
    }
}

//! The volatile store (`--volatile redis://...`): each device's live state
//! (its last position) as an expiring Redis entry, so that whichever instance
//! handles a device's next input sees it (SPEC, Several instances).
//!
//! One string per device, `kairos:live:{<id>}` (the braces are a Redis
//! Cluster hash tag), JSON of [`LiveDevice`], set with a 2 h expiry (SPEC
//! Privacy: positions are forgotten 2 h after the last news). Since positions
//! may not be written to disk, [`LiveStore::open`] refuses a Redis that
//! persists (`CONFIG GET save` not empty, or `appendonly` not `no`).

use std::time::Duration as StdDuration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{AsyncCommands, Client};
use kairos_core::device::POSITION_TTL;
use kairos_core::live::LiveDevice;

use super::url::redact;
use super::StoreError;

/// Prefix of every live key.
pub const LIVE_PREFIX: &str = "kairos:live:";

/// Live device state in a Redis that writes nothing to disk.
#[derive(Clone)]
pub struct LiveStore {
    connection: ConnectionManager,
    location: String,
}

impl std::fmt::Debug for LiveStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveStore")
            .field("location", &self.location)
            .finish()
    }
}

fn key(id: &str) -> String {
    format!("{LIVE_PREFIX}{{{id}}}")
}

impl LiveStore {
    /// Connects to `url` and checks that this Redis persists nothing: an
    /// unreachable server, or one with `save` or `appendonly` on, is an error
    /// (one line, naming the setting).
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let location = redact(url);
        let open_error = |detail: String| StoreError::Open {
            location: format!("--volatile {location}"),
            detail,
        };
        let client = Client::open(url).map_err(|e| open_error(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(StdDuration::from_secs(2)))
            .set_response_timeout(Some(StdDuration::from_secs(2)))
            .set_number_of_retries(2);
        let mut connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| open_error(format!("unreachable: {e}")))?;
        for (setting, allowed) in [("save", ""), ("appendonly", "no")] {
            let answer: Vec<String> = ::redis::cmd("CONFIG")
                .arg("GET")
                .arg(setting)
                .query_async(&mut connection)
                .await
                .map_err(|e| open_error(format!("cannot check CONFIG GET {setting}: {e}")))?;
            let value = answer.get(1).map(|v| v.trim()).unwrap_or_default();
            if value != allowed {
                return Err(open_error(format!(
                    "this Redis writes to disk ({setting} is {value:?}, must be {allowed:?}); \
                     positions may not be persisted: run it with --save '' --appendonly no"
                )));
            }
        }
        Ok(Self {
            connection,
            location,
        })
    }

    fn unavailable(&self, detail: String) -> StoreError {
        StoreError::Unavailable {
            location: format!("--volatile {}", self.location),
            detail,
        }
    }

    /// The device's live state, `None` when there is none (or it expired).
    /// An entry that cannot be read counts as none: it is only a cache of
    /// the last position, never a promise.
    pub async fn load(&self, id: &str) -> Result<Option<LiveDevice>, StoreError> {
        let text: Option<Vec<u8>> = self
            .connection
            .clone()
            .get(key(id))
            .await
            .map_err(|e| self.unavailable(e.to_string()))?;
        Ok(text.and_then(|t| serde_json::from_slice(&t).ok()))
    }

    /// Writes the device's live state (`None`: deletes it), expiring 2 h
    /// after now.
    pub async fn save(&self, id: &str, live: Option<&LiveDevice>) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let done: Result<(), _> = match live {
            Some(live) => {
                let text = serde_json::to_vec(live).unwrap_or_default();
                let ttl = POSITION_TTL.num_seconds().unsigned_abs();
                connection.set_ex(key(id), text, ttl).await
            }
            None => connection.del(key(id)).await,
        };
        done.map_err(|e| self.unavailable(e.to_string()))
    }
}

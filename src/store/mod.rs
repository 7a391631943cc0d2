//! Durable, shareable device state: where a device's [`PersistedDevice`]
//! lives between inputs, across restarts and across instances.
//!
//! One trait, [`DeviceStore`], with two backends: [`RedbStore`], a
//! crash-safe file for a single instance (the default), and [`RedisStore`],
//! shared by several instances. [`Store`] is whichever one a [`StateUrl`]
//! names, and [`step_durably`] is the whole protocol around the pure
//! [`Engine::step`](crate::Engine::step): load, import, step, then save with
//! compare-and-set, retrying on conflict.
//!
//! Every record carries a [`Version`]. `save_if` writes only when the stored
//! version is still the one the caller loaded (or, for `None`, when there is
//! no record): of two instances that decided from the same state, the second
//! to save gets [`SaveOutcome::Conflict`], reloads, and decides again. Versions
//! come from a store-wide counter and are never reused, so a record deleted
//! by `forget` and created again can never be overwritten by a writer that
//! loaded the old one.
//!
//! Records are JSON (see [`encode`]): readable with `redis-cli`, and a field
//! added later is not a schema change. The layout is in `docs/state.md`.

use std::future::Future;

use chrono::{DateTime, Duration, Utc};

use kairos_core::device::{PersistedDevice, PERSISTED_SCHEMA};

mod batch;
mod durable;
mod erase;
mod live;
mod redb;
mod redb_batch;
mod redis;
mod redis_batch;
mod redis_erase;
mod url;

pub use self::batch::{
    saved_publishes, step_batch, step_in_memory, Answer, Answered, Arrival, BatchStore,
    OutboxEntry, Write,
};
pub use self::durable::{step_durably, DeviceState, Stepped, MAX_ATTEMPTS};
pub use self::live::LiveStore;
pub use self::redb::RedbStore;
pub use self::redis::{RedisStore, KEY_PREFIX};
pub(crate) use self::url::redact;
pub use self::url::{default_state_path, StateUrl};

/// A record's version: changes on every write, never reused within a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(u64);

impl Version {
    /// The version with this number (as the backends store it).
    pub fn new(n: u64) -> Self {
        Self(n)
    }

    /// Its number.
    pub fn get(self) -> u64 {
        self.0
    }
}

/// What `save_if` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a conflict means nothing was written: reload and decide again"]
pub enum SaveOutcome {
    /// Written; the record now has this version.
    Saved(Version),
    /// Not written: the record changed (or appeared, or vanished) since it
    /// was loaded.
    Conflict,
}

/// What `purge_expired` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Records that lost expired history or context and were rewritten.
    pub trimmed: usize,
    /// Records with nothing left, deleted.
    pub deleted: usize,
    /// Records skipped because a writer changed them meanwhile (they are
    /// looked at again on the next purge).
    pub skipped: usize,
}

/// Why a store operation failed. The caller fails closed: no output is
/// published for a decision whose state could not be read or saved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The state location is not a path or a `redis://` URL.
    #[error("--state {given:?}: {detail}")]
    BadLocation {
        /// What was given.
        given: String,
        /// Why it was refused.
        detail: String,
    },
    /// The store could not be opened: unwritable, locked by another process,
    /// corrupt, or unreachable at start.
    #[error("cannot open the state store {location}: {detail}")]
    Open {
        /// The file or URL.
        location: String,
        /// Why.
        detail: String,
    },
    /// The store failed while in use (IO error, Redis unreachable or timed out).
    #[error("state store {location}: {detail}")]
    Unavailable {
        /// The file or URL.
        location: String,
        /// Why.
        detail: String,
    },
    /// A stored record cannot be read: damaged, or written by a newer kairos.
    #[error("stored state of device {device:?} is unreadable: {detail}")]
    Corrupt {
        /// The device.
        device: String,
        /// Why.
        detail: String,
    },
    /// Other instances kept changing the device: [`step_durably`] gave up.
    #[error("device {device:?}: state changed under {attempts} attempts in a row; gave up")]
    Contended {
        /// The device.
        device: String,
        /// Attempts made.
        attempts: usize,
    },
}

/// Where device state lives. Every method is atomic on its own; none panics
/// on what it reads.
///
/// Implementations return `Send` futures so that `serve` can drive them from
/// any tokio task.
pub trait DeviceStore {
    /// The device's state and its version, or `None` when nothing is stored.
    fn load(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<(PersistedDevice, Version)>, StoreError>> + Send;

    /// Writes `state` only if the stored version is still `expected` (`None`:
    /// only if nothing is stored). Compare-and-set: of two writers that loaded
    /// the same version, exactly one gets [`SaveOutcome::Saved`].
    fn save_if(
        &self,
        id: &str,
        state: &PersistedDevice,
        expected: Option<Version>,
    ) -> impl Future<Output = Result<SaveOutcome, StoreError>> + Send;

    /// Erases the device (SPEC's `forget`), unconditionally: no key, no
    /// tombstone, nothing naming it is left. Deleting nothing is not an error.
    fn delete(&self, id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Drops history older than `retention` (never less than 24 h) and
    /// expired context from every record, and deletes records with nothing
    /// left. Each record is rewritten with compare-and-set, so a concurrent
    /// decision is never lost: a record it changed is skipped this time.
    fn purge_expired(
        &self,
        now: DateTime<Utc>,
        retention: Duration,
    ) -> impl Future<Output = Result<Purged, StoreError>> + Send;
}

/// The stored form of a device's state: JSON.
pub fn encode(state: &PersistedDevice) -> Vec<u8> {
    // Plain structs, string keys and sets of strings: serde_json has nothing
    // to refuse here, but an error must still not panic.
    serde_json::to_vec(state).unwrap_or_else(|_| b"{}".to_vec())
}

/// Reads a stored record of device `id`, refusing a schema this kairos does
/// not know (written by a newer one) rather than losing what it cannot read.
pub fn decode(id: &str, bytes: &[u8]) -> Result<PersistedDevice, StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt {
        device: id.to_string(),
        detail,
    };
    let state: PersistedDevice =
        serde_json::from_slice(bytes).map_err(|e| corrupt(format!("not a device record: {e}")))?;
    match state.schema {
        PERSISTED_SCHEMA => Ok(state),
        n if n > PERSISTED_SCHEMA => Err(corrupt(format!(
            "schema {n} was written by a newer kairos (this one reads {PERSISTED_SCHEMA})"
        ))),
        n => Err(corrupt(format!("unknown schema {n}"))),
    }
}

/// What a purge does to one record.
pub(crate) enum Purge {
    /// Nothing left: delete it.
    Delete,
    /// Something expired: write back what is left.
    Rewrite(Box<PersistedDevice>),
    /// Nothing expired: leave it alone.
    Keep,
}

/// What a purge at `now` does to `state`.
pub(crate) fn purge_one(
    mut state: PersistedDevice,
    now: DateTime<Utc>,
    retention: Duration,
) -> Purge {
    let changed = state.expire(now, retention);
    if state.is_empty() {
        Purge::Delete
    } else if changed {
        Purge::Rewrite(Box::new(state))
    } else {
        Purge::Keep
    }
}

/// The store a [`StateUrl`] names: one type for `serve` to hold whichever
/// backend was chosen at run time.
#[derive(Debug)]
pub enum Store {
    /// A local redb file.
    File(RedbStore),
    /// A Redis server shared by several instances.
    Redis(RedisStore),
}

impl Store {
    /// Opens the store at `url`: a clear error, never silent loss, when the
    /// file is corrupt or unwritable or Redis cannot be reached.
    pub async fn open(url: &StateUrl) -> Result<Self, StoreError> {
        match url {
            StateUrl::File(path) => Ok(Store::File(RedbStore::open(path).await?)),
            StateUrl::Redis(url) => Ok(Store::Redis(RedisStore::open(url).await?)),
        }
    }
}

impl DeviceStore for Store {
    async fn load(&self, id: &str) -> Result<Option<(PersistedDevice, Version)>, StoreError> {
        match self {
            Store::File(s) => s.load(id).await,
            Store::Redis(s) => s.load(id).await,
        }
    }

    async fn save_if(
        &self,
        id: &str,
        state: &PersistedDevice,
        expected: Option<Version>,
    ) -> Result<SaveOutcome, StoreError> {
        match self {
            Store::File(s) => s.save_if(id, state, expected).await,
            Store::Redis(s) => s.save_if(id, state, expected).await,
        }
    }

    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        match self {
            Store::File(s) => s.delete(id).await,
            Store::Redis(s) => s.delete(id).await,
        }
    }

    async fn purge_expired(
        &self,
        now: DateTime<Utc>,
        retention: Duration,
    ) -> Result<Purged, StoreError> {
        match self {
            Store::File(s) => s.purge_expired(now, retention).await,
            Store::Redis(s) => s.purge_expired(now, retention).await,
        }
    }
}

impl BatchStore for Store {
    fn batch_limit(&self) -> usize {
        match self {
            Store::File(s) => s.batch_limit(),
            Store::Redis(s) => s.batch_limit(),
        }
    }

    async fn load_many(
        &self,
        ids: Vec<String>,
    ) -> Result<std::collections::HashMap<String, (PersistedDevice, Version)>, StoreError> {
        match self {
            Store::File(s) => s.load_many(ids).await,
            Store::Redis(s) => s.load_many(ids).await,
        }
    }

    async fn commit(
        &self,
        client: &str,
        writes: Vec<Write>,
        outbox: Vec<OutboxEntry>,
        sent: Vec<u64>,
    ) -> Result<Option<Vec<u64>>, StoreError> {
        match self {
            Store::File(s) => s.commit(client, writes, outbox, sent).await,
            Store::Redis(s) => s.commit(client, writes, outbox, sent).await,
        }
    }

    async fn outbox(&self, client: &str) -> Result<Vec<(u64, OutboxEntry)>, StoreError> {
        match self {
            Store::File(s) => s.outbox(client).await,
            Store::Redis(s) => s.outbox(client).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_written_before_tastes_loads_learning_with_none_learned() {
        let old = br#"{"schema": 1, "profile": {"consent": true, "lang": "fr"},
            "history": [{"id": "s-1", "at": "2026-07-15T12:00:00Z", "merchant": "m1", "offer": "place"}],
            "dismissed": [["m2", "o"]], "blocked": []}"#;
        let state = decode("d", old).unwrap();
        let profile = state.profile.as_ref().unwrap();
        assert!(
            profile.consent && profile.learn,
            "learning is on by default"
        );
        assert!(state.tastes.is_empty());
        assert_eq!(state.history[0].feedback, None);
        assert!(state.history[0].tags.is_empty());
        // Written again, it carries its tastes and round-trips.
        let mut state = state;
        state
            .tastes
            .learn(&["cuisine=italian".to_string()], 1.0, state.history[0].at);
        assert_eq!(decode("d", &encode(&state)).unwrap(), state);
    }

    #[test]
    fn a_record_from_a_newer_kairos_is_refused_not_dropped() {
        let text = br#"{"schema": 2, "blocked": ["m1"]}"#;
        let err = decode("car-1", text).unwrap_err();
        assert!(err.to_string().contains("newer kairos"), "{err}");
    }

    #[test]
    fn a_record_round_trips_and_missing_keys_take_defaults() {
        let mut state = PersistedDevice::default();
        state.blocked.insert("m1".into());
        state.dismissed.insert(("m2".into(), "o".into()));
        assert_eq!(decode("d", &encode(&state)).unwrap(), state);
        let sparse = decode("d", br#"{"schema": 1}"#).unwrap();
        assert_eq!(sparse, PersistedDevice::default());
        assert!(decode("d", b"not json").is_err());
        assert!(decode("d", br#"{"schema": 1}"#).unwrap().tastes.is_empty());
        assert!(decode("d", br#"{"schema": 0}"#).is_err());
    }
}

//! The file store: one crash-safe [redb] file for a single instance (the
//! default `--state`).
//!
//! redb commits are atomic and durable when `commit` returns (copy-on-write
//! pages, checksummed, fsynced), so a killed process loses at most the write
//! in flight, never an older one. The file is locked by the process that
//! opens it: a second instance on the same file gets a clear error, which is
//! why several instances share Redis instead.
//!
//! Two tables: `devices` maps a device id to `(version, JSON record)`, and
//! `meta` holds the store-wide version counter (`seq`, never reset, so a
//! version is never reused) and the layout `format`. redb is blocking IO, so
//! every call runs on tokio's blocking pool.
//!
//! [redb]: https://www.redb.org

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use ::redb::{
    Database, DatabaseError, ReadableDatabase, ReadableTable, StorageError, TableDefinition,
};
use chrono::{DateTime, Duration, Utc};

use super::url::shown;
use super::{
    decode, encode, purge_one, DeviceStore, PersistedDevice, Purge, Purged, SaveOutcome,
    StoreError, Version,
};

/// Device id → (version, JSON record).
pub(super) const DEVICES: TableDefinition<&str, (u64, &[u8])> = TableDefinition::new("devices");
/// Store-wide values: `seq` (last version given out) and `format`.
pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// The layout of the tables above.
const FORMAT: u64 = 1;
/// Page cache; device records are small and read once per input.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// Device state in a local redb file.
#[derive(Clone)]
pub struct RedbStore {
    /// Read-locked by every operation, write-locked only to compact the file
    /// (which needs it to itself).
    db: Arc<RwLock<Database>>,
    path: PathBuf,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.path)
            .finish()
    }
}

impl RedbStore {
    /// Opens (or creates, with its folder) the file at `path`. A file that is
    /// not a kairos store, is corrupt, cannot be written or is open in another
    /// process is an error here, never an empty store.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let path = path.to_path_buf();
        let opened = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || open_blocking(&path)).await
        };
        let db = match opened {
            Ok(result) => result?,
            // redb trusts a cleanly closed file; a panic here means it was
            // damaged outside redb. Report it rather than unwind.
            Err(join) => {
                return Err(StoreError::Open {
                    location: shown(&path),
                    detail: format!("the file is damaged ({join})"),
                })
            }
        };
        Ok(Self {
            db: Arc::new(RwLock::new(db)),
            path,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the database on the blocking pool.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = Arc::clone(&self.db);
        let failed = self.unavailable();
        tokio::task::spawn_blocking(move || {
            let db = db.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&db)
        })
        .await
        .map_err(|join| failed(format!("store task failed: {join}")))?
    }

    pub(super) fn unavailable(&self) -> impl Fn(String) -> StoreError + Send + Clone + 'static {
        let location = shown(&self.path);
        move |detail| StoreError::Unavailable {
            location: location.clone(),
            detail,
        }
    }
}

fn open_blocking(path: &Path) -> Result<Database, StoreError> {
    let open_error = |detail: String| StoreError::Open {
        location: shown(path),
        detail,
    };
    if path.is_dir() {
        return Err(open_error("is a folder; give a file path".into()));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| open_error(format!("cannot create {}: {e}", dir.display())))?;
    }
    let db = Database::builder()
        .set_cache_size(CACHE_BYTES)
        // Verify every page's checksum at open: a damaged file is refused
        // with an error instead of trusted (and possibly panicking later).
        .set_check_integrity_on_open(true)
        .create(path)
        .map_err(|e| open_error(describe_open(e)))?;
    let txn = db
        .begin_write()
        .map_err(|e| open_error(format!("cannot write: {e}")))?;
    {
        let mut meta = txn
            .open_table(META)
            .map_err(|e| open_error(format!("not a kairos state file: {e}")))?;
        let format = meta
            .get("format")
            .map_err(|e| open_error(e.to_string()))?
            .map(|v| v.value());
        match format {
            None => {
                meta.insert("format", FORMAT)
                    .map_err(|e| open_error(e.to_string()))?;
            }
            Some(FORMAT) => {}
            Some(n) => {
                return Err(open_error(format!(
                    "store format {n} was written by a newer kairos (this one reads {FORMAT})"
                )))
            }
        }
        txn.open_table(DEVICES)
            .map_err(|e| open_error(format!("not a kairos state file: {e}")))?;
    }
    txn.commit()
        .map_err(|e| open_error(format!("cannot write: {e}")))?;
    Ok(db)
}

fn describe_open(error: DatabaseError) -> String {
    match error {
        DatabaseError::DatabaseAlreadyOpen => {
            "already open in another process (one instance per file; share state between \
             instances with --state redis://...)"
                .into()
        }
        DatabaseError::Storage(StorageError::Corrupted(why)) => {
            format!("the file is corrupt ({why}); move it aside to start afresh")
        }
        DatabaseError::Storage(StorageError::Io(io))
            if io.kind() == std::io::ErrorKind::InvalidData =>
        {
            format!("not a kairos state file ({io}); move it aside or give another --state")
        }
        DatabaseError::Storage(StorageError::Io(io)) => format!("{io}"),
        other => format!("not a usable state file: {other}"),
    }
}

impl DeviceStore for RedbStore {
    async fn load(&self, id: &str) -> Result<Option<(PersistedDevice, Version)>, StoreError> {
        let id = id.to_string();
        let fail = self.unavailable();
        self.run(move |db| {
            let txn = db.begin_read().map_err(|e| fail(e.to_string()))?;
            let table = txn.open_table(DEVICES).map_err(|e| fail(e.to_string()))?;
            let Some(entry) = table.get(id.as_str()).map_err(|e| fail(e.to_string()))? else {
                return Ok(None);
            };
            let (version, bytes) = entry.value();
            Ok(Some((decode(&id, bytes)?, Version::new(version))))
        })
        .await
    }

    async fn save_if(
        &self,
        id: &str,
        state: &PersistedDevice,
        expected: Option<Version>,
    ) -> Result<SaveOutcome, StoreError> {
        let id = id.to_string();
        let bytes = encode(state);
        let fail = self.unavailable();
        self.run(move |db| {
            let txn = db.begin_write().map_err(|e| fail(e.to_string()))?;
            let saved = {
                let mut devices = txn.open_table(DEVICES).map_err(|e| fail(e.to_string()))?;
                let current = devices
                    .get(id.as_str())
                    .map_err(|e| fail(e.to_string()))?
                    .map(|entry| Version::new(entry.value().0));
                if current != expected {
                    None
                } else {
                    let mut meta = txn.open_table(META).map_err(|e| fail(e.to_string()))?;
                    let version = next_version(&mut meta).map_err(&fail)?;
                    devices
                        .insert(id.as_str(), (version, bytes.as_slice()))
                        .map_err(|e| fail(e.to_string()))?;
                    Some(Version::new(version))
                }
            };
            match saved {
                Some(version) => {
                    txn.commit().map_err(|e| fail(e.to_string()))?;
                    Ok(SaveOutcome::Saved(version))
                }
                None => {
                    txn.abort().map_err(|e| fail(e.to_string()))?;
                    Ok(SaveOutcome::Conflict)
                }
            }
        })
        .await
    }

    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_string();
        let fail = self.unavailable();
        self.run(move |db| {
            let txn = db.begin_write().map_err(|e| fail(e.to_string()))?;
            {
                let mut devices = txn.open_table(DEVICES).map_err(|e| fail(e.to_string()))?;
                devices
                    .remove(id.as_str())
                    .map_err(|e| fail(e.to_string()))?;
            }
            txn.commit().map_err(|e| fail(e.to_string()))
        })
        .await
    }

    async fn purge_expired(
        &self,
        now: DateTime<Utc>,
        retention: Duration,
    ) -> Result<Purged, StoreError> {
        let fail = self.unavailable();
        let purged = self
            .run(move |db| {
                let txn = db.begin_write().map_err(|e| fail(e.to_string()))?;
                let mut purged = Purged::default();
                {
                    let mut devices = txn.open_table(DEVICES).map_err(|e| fail(e.to_string()))?;
                    let mut meta = txn.open_table(META).map_err(|e| fail(e.to_string()))?;
                    let mut changes: Vec<(String, Option<PersistedDevice>)> = Vec::new();
                    for entry in devices.iter().map_err(|e| fail(e.to_string()))? {
                        let (key, value) = entry.map_err(|e| fail(e.to_string()))?;
                        let id = key.value().to_string();
                        let Ok(state) = decode(&id, value.value().1) else {
                            // Unreadable (e.g. a newer schema): left as is.
                            purged.skipped += 1;
                            continue;
                        };
                        match purge_one(state, now, retention) {
                            Purge::Keep => {}
                            Purge::Delete => changes.push((id, None)),
                            Purge::Rewrite(state) => changes.push((id, Some(*state))),
                        }
                    }
                    for (id, change) in changes {
                        match change {
                            None => {
                                devices
                                    .remove(id.as_str())
                                    .map_err(|e| fail(e.to_string()))?;
                                purged.deleted += 1;
                            }
                            Some(state) => {
                                let version = next_version(&mut meta).map_err(&fail)?;
                                devices
                                    .insert(id.as_str(), (version, encode(&state).as_slice()))
                                    .map_err(|e| fail(e.to_string()))?;
                                purged.trimmed += 1;
                            }
                        }
                    }
                }
                txn.commit().map_err(|e| fail(e.to_string()))?;
                Ok(purged)
            })
            .await?;
        if purged.deleted > 0 || purged.trimmed > 0 {
            self.compact().await?;
        }
        Ok(purged)
    }
}

impl RedbStore {
    /// Rewrites the file without its free pages: shrinks it and overwrites
    /// most bytes of deleted records (see docs/state.md on what `forget`
    /// leaves on disk).
    pub async fn compact(&self) -> Result<(), StoreError> {
        let db = Arc::clone(&self.db);
        let fail = self.unavailable();
        let failed = fail.clone();
        tokio::task::spawn_blocking(move || {
            let mut db = db
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            db.compact()
                .map(|_| ())
                .map_err(|e| fail(format!("compaction: {e}")))
        })
        .await
        .map_err(|join| failed(format!("store task failed: {join}")))?
    }
}

/// The next version from the store-wide counter (bumped in the caller's
/// transaction, so it is never given out twice).
pub(super) fn next_version(meta: &mut ::redb::Table<&str, u64>) -> Result<u64, String> {
    let last = meta
        .get("seq")
        .map_err(|e| e.to_string())?
        .map_or(0, |v| v.value());
    let next = last.saturating_add(1);
    meta.insert("seq", next).map_err(|e| e.to_string())?;
    Ok(next)
}

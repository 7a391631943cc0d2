//! `forget` that erases the bytes, in the file store: after a device is
//! deleted, the live content of the file is copied into a fresh file, which
//! replaces the old one by an atomic rename.
//!
//! redb never wipes a freed page, and a deleted key may survive as a
//! separator in a live branch page, so neither a delete nor redb's own
//! `compact` (which moves pages within the same file) guarantees that no byte
//! of a forgotten record is left. A fresh file does: it is written from the
//! live records alone, so no byte of a deleted one was ever in it.
//!
//! The rewrite is crash safe and acknowledged before `forget` is: the delete
//! commits with [`ERASE_PENDING`] set in `meta`; the fresh file (which never
//! has the flag) is fsynced, renamed over the old one and the folder fsynced,
//! and only then does the delete return. A crash in between leaves the flag
//! in the old file, and the next open rewrites before serving. Deletes that
//! commit while a rewrite runs are covered by the next one, so a burst of
//! forgets costs a few rewrites, not one each.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use ::redb::{
    Database, ReadableDatabase, ReadableTable, TableDefinition, TableHandle, WriteTransaction,
};

use super::redb::{CACHE_BYTES, DEVICES, META};

/// `meta` key set in the transaction that deletes a record, cleared by the
/// rewrite (the fresh file never has it).
pub(super) const ERASE_PENDING: &str = "erase_pending";

/// Every table the rewrite knows how to copy. A table it does not know makes
/// the rewrite fail (and `forget` with it) rather than drop data: a new table
/// must be added to [`copy_live`].
const KNOWN_TABLES: &[&str] = &["devices", "meta", "outbox"];

/// The outbox (`redb_batch.rs`): sequence → saved publish.
const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");

/// Deletes waiting for a rewrite, and rewrites done: each delete takes a
/// ticket, and a rewrite started after a ticket was taken covers it.
#[derive(Debug, Default)]
pub(super) struct EraseLog {
    /// Tickets given out (deletes committed with the flag set).
    requested: AtomicU64,
    /// The highest ticket a finished rewrite covers; held while rewriting.
    done: Mutex<u64>,
}

impl EraseLog {
    /// A ticket for a delete that has just committed.
    pub(super) fn ticket(&self) -> u64 {
        self.requested.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Rewrites the file unless a rewrite started after `ticket` was taken
    /// already finished. Blocking.
    pub(super) fn erase(
        &self,
        ticket: u64,
        db: &RwLock<Database>,
        path: &Path,
    ) -> Result<(), String> {
        let mut done = self
            .done
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *done >= ticket {
            return Ok(());
        }
        let covers = self.requested.load(Ordering::SeqCst);
        let mut db = db
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *db = rewrite(&db, path)?;
        *done = covers;
        Ok(())
    }
}

/// Marks, in the delete's own transaction, that the file holds a deleted
/// record's bytes until the next rewrite.
pub(super) fn mark_pending(txn: &WriteTransaction) -> Result<(), String> {
    let mut meta = txn.open_table(META).map_err(|e| e.to_string())?;
    meta.insert(ERASE_PENDING, 1).map_err(|e| e.to_string())?;
    Ok(())
}

/// True when a delete committed and no rewrite followed (a crash, or a
/// rewrite that failed): the next open rewrites first.
pub(super) fn is_pending(db: &Database) -> Result<bool, String> {
    let txn = db.begin_read().map_err(|e| e.to_string())?;
    let meta = txn.open_table(META).map_err(|e| e.to_string())?;
    let pending = meta.get(ERASE_PENDING).map_err(|e| e.to_string())?;
    Ok(pending.is_some())
}

/// The fresh file's name while it is written: `state.redb.rewrite`.
fn fresh_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".rewrite");
    path.with_file_name(name)
}

/// Copies the live content of `db` into a fresh file, fsyncs it, renames it
/// over `path`, fsyncs the folder, and returns the fresh database (already
/// open on the renamed file, so the lock is never released).
pub(super) fn rewrite(db: &Database, path: &Path) -> Result<Database, String> {
    let fresh = fresh_path(path);
    match std::fs::remove_file(&fresh) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot remove {}: {e}", fresh.display())),
    }
    let copy = Database::builder()
        .set_cache_size(CACHE_BYTES)
        .create(&fresh)
        .map_err(|e| format!("cannot create {}: {e}", fresh.display()))?;
    copy_live(db, &copy).map_err(|e| format!("copying the live records: {e}"))?;
    // redb fsyncs on commit; the rename is made durable by the folder's fsync.
    std::fs::rename(&fresh, path).map_err(|e| {
        format!(
            "cannot rename {} over {}: {e}",
            fresh.display(),
            path.display()
        )
    })?;
    let folder = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(folder)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| format!("cannot sync {}: {e}", folder.display()))?;
    Ok(copy)
}

/// One write transaction on `to` with every live entry of `from`, but the
/// pending flag.
fn copy_live(from: &Database, to: &Database) -> Result<(), String> {
    let read = from.begin_read().map_err(|e| e.to_string())?;
    for table in read.list_tables().map_err(|e| e.to_string())? {
        if !KNOWN_TABLES.contains(&table.name()) {
            return Err(format!(
                "table {:?} is not known to the rewrite",
                table.name()
            ));
        }
    }
    if read
        .list_multimap_tables()
        .map_err(|e| e.to_string())?
        .next()
        .is_some()
    {
        return Err("a multimap table is not known to the rewrite".into());
    }
    let write = to.begin_write().map_err(|e| e.to_string())?;
    {
        let source = read.open_table(DEVICES).map_err(|e| e.to_string())?;
        let mut target = write.open_table(DEVICES).map_err(|e| e.to_string())?;
        for entry in source.iter().map_err(|e| e.to_string())? {
            let (key, value) = entry.map_err(|e| e.to_string())?;
            target
                .insert(key.value(), value.value())
                .map_err(|e| e.to_string())?;
        }
        copy_meta(&read, &write, META)?;
        match read.open_table(OUTBOX) {
            Ok(source) => {
                let mut target = write.open_table(OUTBOX).map_err(|e| e.to_string())?;
                for entry in source.iter().map_err(|e| e.to_string())? {
                    let (key, value) = entry.map_err(|e| e.to_string())?;
                    target
                        .insert(key.value(), value.value())
                        .map_err(|e| e.to_string())?;
                }
            }
            Err(::redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    write.commit().map_err(|e| e.to_string())
}

fn copy_meta(
    read: &::redb::ReadTransaction,
    write: &WriteTransaction,
    table: TableDefinition<&str, u64>,
) -> Result<(), String> {
    let source = read.open_table(table).map_err(|e| e.to_string())?;
    let mut target = write.open_table(table).map_err(|e| e.to_string())?;
    for entry in source.iter().map_err(|e| e.to_string())? {
        let (key, value) = entry.map_err(|e| e.to_string())?;
        if key.value() != ERASE_PENDING {
            target
                .insert(key.value(), value.value())
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

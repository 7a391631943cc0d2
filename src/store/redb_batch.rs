//! Group commit on the redb file: a batch's records, outbox entries and
//! outbox removals in one write transaction, so one fsync for the batch
//! (see [`batch`](super::batch)).
//!
//! The outbox is a third table, `outbox`: a number from the `outbox_seq`
//! counter in `meta` → the JSON of an [`OutboxEntry`]. The file is one
//! instance's, so the client id is not part of the key.

use std::collections::HashMap;

use ::redb::{ReadableDatabase, ReadableTable, TableDefinition, TableError};

use super::batch::{BatchStore, OutboxEntry, Write};
use super::redb::{next_version, DEVICES, META};
use super::{decode, encode, PersistedDevice, RedbStore, StoreError, Version};

/// Outbox: seq → JSON [`OutboxEntry`].
const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
/// Most inputs in one transaction.
const BATCH_LIMIT: usize = 1024;

impl BatchStore for RedbStore {
    fn batch_limit(&self) -> usize {
        BATCH_LIMIT
    }

    async fn load_many(
        &self,
        ids: Vec<String>,
    ) -> Result<HashMap<String, (PersistedDevice, Version)>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let fail = self.unavailable();
        self.run(move |db| {
            let txn = db.begin_read().map_err(|e| fail(e.to_string()))?;
            let table = txn.open_table(DEVICES).map_err(|e| fail(e.to_string()))?;
            let mut found = HashMap::with_capacity(ids.len());
            for id in ids {
                let Some(entry) = table.get(id.as_str()).map_err(|e| fail(e.to_string()))? else {
                    continue;
                };
                let (version, bytes) = entry.value();
                let state = decode(&id, bytes)?;
                drop(entry);
                found.insert(id, (state, Version::new(version)));
            }
            Ok(found)
        })
        .await
    }

    async fn commit(
        &self,
        _client: &str,
        writes: Vec<Write>,
        outbox: Vec<OutboxEntry>,
        sent: Vec<u64>,
    ) -> Result<Option<Vec<u64>>, StoreError> {
        let fail = self.unavailable();
        // A `forget` leaves no byte behind (SPEC Privacy): the freed pages
        // that held the record are compacted away after the commit.
        let forgets = writes.iter().any(|w| w.state.is_none());
        let committed = self
            .run(move |db| {
                let txn = db.begin_write().map_err(|e| fail(e.to_string()))?;
                let mut seqs = Vec::with_capacity(outbox.len());
                let conflict = {
                    let mut devices = txn.open_table(DEVICES).map_err(|e| fail(e.to_string()))?;
                    let mut meta = txn.open_table(META).map_err(|e| fail(e.to_string()))?;
                    let mut table = txn.open_table(OUTBOX).map_err(|e| fail(e.to_string()))?;
                    let mut conflict = false;
                    for write in &writes {
                        if write.forgotten {
                            continue;
                        }
                        let current = devices
                            .get(write.id.as_str())
                            .map_err(|e| fail(e.to_string()))?
                            .map(|entry| Version::new(entry.value().0));
                        if current != write.expected {
                            conflict = true;
                            break;
                        }
                    }
                    if !conflict {
                        for write in writes {
                            match write.state {
                                None => {
                                    devices
                                        .remove(write.id.as_str())
                                        .map_err(|e| fail(e.to_string()))?;
                                }
                                Some(state) => {
                                    let version = next_version(&mut meta).map_err(&fail)?;
                                    devices
                                        .insert(
                                            write.id.as_str(),
                                            (version, encode(&state).as_slice()),
                                        )
                                        .map_err(|e| fail(e.to_string()))?;
                                }
                            }
                        }
                        for entry in &outbox {
                            let seq = next_outbox_seq(&mut meta).map_err(&fail)?;
                            let bytes =
                                serde_json::to_vec(entry).map_err(|e| fail(e.to_string()))?;
                            table
                                .insert(seq, bytes.as_slice())
                                .map_err(|e| fail(e.to_string()))?;
                            seqs.push(seq);
                        }
                        for seq in sent {
                            table.remove(seq).map_err(|e| fail(e.to_string()))?;
                        }
                    }
                    conflict
                };
                if conflict {
                    txn.abort().map_err(|e| fail(e.to_string()))?;
                    return Ok(None);
                }
                txn.commit().map_err(|e| fail(e.to_string()))?;
                Ok(Some(seqs))
            })
            .await?;
        if forgets && committed.is_some() {
            self.compact().await?;
        }
        Ok(committed)
    }

    async fn outbox(&self, _client: &str) -> Result<Vec<(u64, OutboxEntry)>, StoreError> {
        let fail = self.unavailable();
        self.run(move |db| {
            let txn = db.begin_read().map_err(|e| fail(e.to_string()))?;
            let table = match txn.open_table(OUTBOX) {
                Ok(table) => table,
                Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(e) => return Err(fail(e.to_string())),
            };
            let mut entries = Vec::new();
            for item in table.iter().map_err(|e| fail(e.to_string()))? {
                let (seq, bytes) = item.map_err(|e| fail(e.to_string()))?;
                // An entry this kairos cannot read is dropped with the rest
                // of the sent ones: it can only be an old output.
                if let Ok(entry) = serde_json::from_slice::<OutboxEntry>(bytes.value()) {
                    entries.push((seq.value(), entry));
                }
            }
            Ok(entries)
        })
        .await
    }
}

/// The next outbox seq (bumped in the caller's transaction).
fn next_outbox_seq(meta: &mut ::redb::Table<&str, u64>) -> Result<u64, String> {
    let last = meta
        .get("outbox_seq")
        .map_err(|e| e.to_string())?
        .map_or(0, |v| v.value());
    let next = last.saturating_add(1);
    meta.insert("outbox_seq", next).map_err(|e| e.to_string())?;
    Ok(next)
}

//! [`BatchStore`] on Redis: one input per commit (instances race on devices,
//! and a compare-and-set over several records of one batch could half
//! succeed), the record with its Lua compare-and-set, then the outbox.
//!
//! Each instance has its own outbox, a hash `kairos:outbox:{client id}`
//! (field: a number from `kairos:outbox-seq:{client id}`, value: the JSON of
//! an [`OutboxEntry`]): an instance's stable client id finds it again after a
//! restart.

use std::collections::HashMap;

use ::redis::AsyncCommands;

use super::batch::{BatchStore, OutboxEntry, Write};
use super::{DeviceStore, PersistedDevice, RedisStore, SaveOutcome, StoreError, Version};

fn outbox_key(client: &str) -> String {
    format!("kairos:outbox:{client}")
}

impl BatchStore for RedisStore {
    fn batch_limit(&self) -> usize {
        1
    }

    async fn load_many(
        &self,
        ids: Vec<String>,
    ) -> Result<HashMap<String, (PersistedDevice, Version)>, StoreError> {
        let mut found = HashMap::with_capacity(ids.len());
        for id in ids {
            if let Some(record) = self.load(&id).await? {
                found.insert(id, record);
            }
        }
        Ok(found)
    }

    async fn commit(
        &self,
        client: &str,
        writes: Vec<Write>,
        outbox: Vec<OutboxEntry>,
        sent: Vec<u64>,
    ) -> Result<Option<Vec<u64>>, StoreError> {
        for write in writes {
            if write.forgotten {
                self.delete(&write.id).await?;
            }
            if let Some(state) = &write.state {
                let expected = if write.forgotten {
                    None
                } else {
                    write.expected
                };
                if self.save_if(&write.id, state, expected).await? == SaveOutcome::Conflict {
                    return Ok(None);
                }
            } else if !write.forgotten {
                self.delete(&write.id).await?;
            }
        }
        let mut connection = self.connection.clone();
        let key = outbox_key(client);
        let mut seqs = Vec::with_capacity(outbox.len());
        if !outbox.is_empty() {
            let last: u64 = connection
                .incr(format!("kairos:outbox-seq:{client}"), outbox.len() as u64)
                .await
                .map_err(|e| self.unavailable(e))?;
            let first = last + 1 - outbox.len() as u64;
            let mut pipe = ::redis::pipe();
            for (n, entry) in outbox.iter().enumerate() {
                let seq = first + n as u64;
                let text = serde_json::to_string(entry).unwrap_or_default();
                pipe.hset(&key, seq, text).ignore();
                seqs.push(seq);
            }
            pipe.query_async::<()>(&mut connection)
                .await
                .map_err(|e| self.unavailable(e))?;
        }
        if !sent.is_empty() {
            let _: i64 = connection
                .hdel(&key, sent)
                .await
                .map_err(|e| self.unavailable(e))?;
        }
        Ok(Some(seqs))
    }

    async fn outbox(&self, client: &str) -> Result<Vec<(u64, OutboxEntry)>, StoreError> {
        let mut connection = self.connection.clone();
        let all: HashMap<u64, String> = connection
            .hgetall(outbox_key(client))
            .await
            .map_err(|e| self.unavailable(e))?;
        let mut entries: Vec<(u64, OutboxEntry)> = all
            .into_iter()
            .filter_map(|(seq, text)| Some((seq, serde_json::from_str(&text).ok()?)))
            .collect();
        entries.sort_by_key(|(seq, _)| *seq);
        Ok(entries)
    }
}

//! One store contract (tests/support/store_contract.rs), run against every
//! store: the redb file in a temp dir and a real `redis-server` of the test's
//! own. What only one store has (files, outages, key layout) is in
//! `store_redb.rs` and `store_redis.rs`.

mod support;

use support::redis_server::RedisServer;
use support::store_contract as contract;

use kairos::store::{RedbStore, RedisStore};

/// Runs each contract function against a fresh store made by `$open`.
macro_rules! contract_for {
    ($store:ident, $open:expr) => {
        mod $store {
            use super::*;

            #[tokio::test]
            async fn a_saved_device_loads_back_with_its_version() {
                let (store, _guard) = $open.await;
                contract::a_saved_device_loads_back_with_its_version(&store).await;
            }

            #[tokio::test]
            async fn of_two_writers_that_loaded_the_same_version_only_the_first_saves() {
                let (store, _guard) = $open.await;
                contract::of_two_writers_that_loaded_the_same_version_only_the_first_saves(&store)
                    .await;
            }

            #[tokio::test]
            async fn a_forgotten_device_cannot_be_resurrected_by_a_stale_writer() {
                let (store, _guard) = $open.await;
                contract::a_forgotten_device_cannot_be_resurrected_by_a_stale_writer(&store).await;
            }

            #[tokio::test]
            async fn purge_drops_old_history_and_devices_with_nothing_left() {
                let (store, _guard) = $open.await;
                contract::purge_drops_old_history_and_devices_with_nothing_left(&store).await;
            }
        }
    };
}

/// A redb store in a temp dir (the dir lives as long as the guard).
async fn redb() -> (RedbStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("nested/state.redb"))
        .await
        .unwrap();
    (store, dir)
}

/// A Redis store on a server of its own (killed with the guard).
async fn redis() -> (RedisStore, RedisServer) {
    let server = RedisServer::start();
    let store = RedisStore::open(&server.url()).await.unwrap();
    (store, server)
}

contract_for!(redb_file, redb());
contract_for!(redis_server_store, redis());

//! What only the Redis store has, against a real `redis-server` per test (own
//! free port, no persistence): its keys, compare-and-set under a race of
//! separate clients, an outage and the recovery after it, and two engines
//! sharing one Redis without both suggesting inside the gap. The store
//! contract both stores keep is `store_contract.rs`.

mod support;

use support::{engine, redis_server};

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use serde_json::json;

use engine::{engine, museum, pos, suggestion, t, tm, ANNECY, DEV};
use kairos::store::{step_durably, DeviceStore, RedisStore, SaveOutcome, StoreError};
use kairos::Stamp;
use redis_server::{device_with_suggestion, RedisServer};

#[tokio::test]
async fn a_saved_device_loads_back_with_its_version() {
    let server = RedisServer::start();
    let store = RedisStore::open(&server.url()).await.unwrap();
    assert!(store.load("car-1").await.unwrap().is_none());
    let state = device_with_suggestion(0, "m1");
    let SaveOutcome::Saved(v1) = store.save_if("car-1", &state, None).await.unwrap() else {
        panic!("first save")
    };
    assert_eq!(
        store.load("car-1").await.unwrap(),
        Some((state.clone(), v1))
    );
    let next = device_with_suggestion(40, "m2");
    let SaveOutcome::Saved(v2) = store.save_if("car-1", &next, Some(v1)).await.unwrap() else {
        panic!("second save")
    };
    assert!(v2 > v1);
    assert_eq!(
        store.save_if("car-1", &state, Some(v1)).await.unwrap(),
        SaveOutcome::Conflict
    );
    assert_eq!(
        server.scan("kairos:device:*"),
        vec!["kairos:device:car-1".to_string()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_many_racing_clients_exactly_one_wins_the_compare_and_set() {
    let server = RedisServer::start();
    let first = RedisStore::open(&server.url()).await.unwrap();
    let SaveOutcome::Saved(v) = first
        .save_if("car-1", &device_with_suggestion(0, "m0"), None)
        .await
        .unwrap()
    else {
        panic!("seed")
    };
    for round in 0..5 {
        let barrier = Arc::new(tokio::sync::Barrier::new(8));
        let (_, base) = first.load("car-1").await.unwrap().unwrap();
        assert!(base >= v);
        let mut racers = Vec::new();
        for i in 0..8 {
            let url = server.url();
            let barrier = barrier.clone();
            racers.push(tokio::spawn(async move {
                let store = RedisStore::open(&url).await.unwrap(); // its own client
                let (_, version) = store.load("car-1").await.unwrap().unwrap();
                barrier.wait().await;
                let mine = device_with_suggestion(60 * (round + 1), &format!("m{i}"));
                (
                    i,
                    store.save_if("car-1", &mine, Some(version)).await.unwrap(),
                )
            }));
        }
        let mut winners = Vec::new();
        for racer in racers {
            if let (i, SaveOutcome::Saved(_)) = racer.await.unwrap() {
                winners.push(i);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        let (stored, _) = first.load("car-1").await.unwrap().unwrap();
        assert_eq!(stored.history[0].merchant, format!("m{}", winners[0]));
    }
}

#[tokio::test]
async fn delete_leaves_no_key_naming_the_device() {
    let server = RedisServer::start();
    let store = RedisStore::open(&server.url()).await.unwrap();
    let _ = store
        .save_if("car-77", &device_with_suggestion(0, "m1"), None)
        .await
        .unwrap();
    let _ = store
        .save_if("other", &device_with_suggestion(0, "m1"), None)
        .await
        .unwrap();
    assert_eq!(server.scan("*car-77*").len(), 1);
    store.delete("car-77").await.unwrap();
    assert!(server.scan("*car-77*").is_empty(), "{:?}", server.scan("*"));
    assert!(store.load("car-77").await.unwrap().is_none());
    assert_eq!(server.scan("*other*").len(), 1);
    store.delete("never-seen").await.unwrap();
}

#[tokio::test]
async fn opening_an_unreachable_redis_is_a_clear_error() {
    let port = redis_server::free_port();
    let err = RedisStore::open(&format!("redis://127.0.0.1:{port}/0"))
        .await
        .expect_err("nobody listens");
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
    assert!(err.to_string().contains("unreachable"), "{err}");
}

#[tokio::test]
async fn a_killed_redis_gives_errors_and_a_restarted_one_is_used_again() {
    let mut server = RedisServer::start();
    let store = RedisStore::open(&server.url()).await.unwrap();
    let state = device_with_suggestion(0, "m1");
    let _ = store.save_if("car-1", &state, None).await.unwrap();

    server.kill();
    let started = Instant::now();
    let err = store.load("car-1").await.expect_err("Redis is down");
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err}");
    let err = store.save_if("car-1", &state, None).await.err();
    assert!(
        matches!(err, Some(StoreError::Unavailable { .. })),
        "{err:?}"
    );
    assert!(
        started.elapsed() < StdDuration::from_secs(20),
        "errors come back promptly: {:?}",
        started.elapsed()
    );

    server.restart(); // same port, empty (no persistence)
    let deadline = Instant::now() + StdDuration::from_secs(20);
    let loaded = loop {
        match store.load("car-1").await {
            Ok(loaded) => break loaded,
            Err(e) => assert!(Instant::now() < deadline, "never recovered: {e}"),
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    };
    assert!(loaded.is_none(), "the restarted server is empty");
    assert!(matches!(
        store.save_if("car-1", &state, None).await.unwrap(),
        SaveOutcome::Saved(_)
    ));
}

/// Two instances, one Redis: both receive a position for the same device
/// at once; exactly one suggestion is made and recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_never_both_suggest_inside_the_gap() {
    let server = RedisServer::start();
    let features = [museum("m1", 300.0), museum("m2", 600.0)];
    let topic = format!("kairos/{DEV}/position");
    let profile = json!({"consent": true}).to_string();
    let setup = RedisStore::open(&server.url()).await.unwrap();
    let mut seed = engine(&features);
    let stamp = Stamp::parse(&t(-60)).unwrap();
    step_durably(
        &mut seed,
        &setup,
        &kairos::input::read(
            "kairos",
            &format!("kairos/{DEV}/profile"),
            profile.as_bytes(),
            65_536,
        ),
        &stamp,
    )
    .await
    .unwrap();

    for round in 0..4 {
        // Each round is 40 min after the previous: outside the 30 min gap.
        let when = tm(40 * round);
        let mut racers = Vec::new();
        for _ in 0..2 {
            let (url, features, topic, when) =
                (server.url(), features.clone(), topic.clone(), when.clone());
            racers.push(tokio::spawn(async move {
                let store = RedisStore::open(&url).await.unwrap();
                let mut instance = engine(&features);
                let payload = pos(ANNECY, json!({})).to_string();
                let stamp = Stamp::parse(&when).unwrap();
                let input = instance.read(&topic, payload.as_bytes());
                let outs = step_durably(&mut instance, &store, &input, &stamp)
                    .await
                    .unwrap();
                suggestion(&outs)
            }));
        }
        let mut made = Vec::new();
        for racer in racers {
            made.extend(racer.await.unwrap());
        }
        if round < 2 {
            assert_eq!(made.len(), 1, "round {round}: {made:?}");
        } else {
            // Both museums were suggested in the last 24 h: nothing left.
            assert!(made.is_empty(), "round {round}: {made:?}");
        }
    }
    let (stored, _) = setup.load(DEV).await.unwrap().unwrap();
    let merchants: Vec<_> = stored.history.iter().map(|s| s.merchant.as_str()).collect();
    assert_eq!(merchants, ["m1", "m2"]);
}

/// The conflict path itself, step by step: the second instance to save is
/// refused, decides again from the fresh state, and stays silent.
#[tokio::test]
async fn the_instance_that_loses_the_race_decides_again_and_stays_silent() {
    let server = RedisServer::start();
    let features = [museum("m1", 300.0)];
    let a_store = RedisStore::open(&server.url()).await.unwrap();
    let b_store = RedisStore::open(&server.url()).await.unwrap();
    let (mut a, mut b) = (engine(&features), engine(&features));
    let consent = json!({"consent": true}).to_string();
    let profile_topic = format!("kairos/{DEV}/profile");
    step_durably(
        &mut a,
        &a_store,
        &kairos::input::read("kairos", &profile_topic, consent.as_bytes(), 65_536),
        &Stamp::parse(&t(-60)).unwrap(),
    )
    .await
    .unwrap();

    let topic = format!("kairos/{DEV}/position");
    let payload = pos(ANNECY, json!({})).to_string();
    let stamp = Stamp::parse(&t(0)).unwrap();
    let (a_state, a_version) = a_store.load(DEV).await.unwrap().unwrap();
    let (b_state, b_version) = b_store.load(DEV).await.unwrap().unwrap();
    a.import_device(DEV, a_state);
    b.import_device(DEV, b_state);
    let input = a.read(&topic, payload.as_bytes());
    assert!(suggestion(&a.step(&input, &stamp)).is_some());
    assert!(suggestion(&b.step(&input, &stamp)).is_some());
    let a_after = a.export_device(DEV).unwrap();
    let b_after = b.export_device(DEV).unwrap();
    assert!(matches!(
        a_store
            .save_if(DEV, &a_after, Some(a_version))
            .await
            .unwrap(),
        SaveOutcome::Saved(_)
    ));
    assert_eq!(
        b_store
            .save_if(DEV, &b_after, Some(b_version))
            .await
            .unwrap(),
        SaveOutcome::Conflict,
        "B's suggestion is not recorded, so it is never published"
    );
    let again = step_durably(&mut b, &b_store, &input, &stamp)
        .await
        .unwrap();
    assert!(suggestion(&again).is_none(), "{again:?}");
}

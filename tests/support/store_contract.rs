//! The contract every device store keeps, written once and run against each
//! (`tests/store_contract.rs`): round trips, compare-and-set, forget that no
//! stale writer undoes, and the purge of old history.

use chrono::Duration;
use kairos::device::PersistedDevice;
use kairos::store::{DeviceStore, SaveOutcome, Version};

use super::redis_server::{at, device_with_suggestion};

fn saved(outcome: SaveOutcome) -> Version {
    match outcome {
        SaveOutcome::Saved(v) => v,
        SaveOutcome::Conflict => panic!("expected the save to succeed"),
    }
}

/// What is saved loads back, with a version that grows on every save.
pub async fn a_saved_device_loads_back_with_its_version(store: &impl DeviceStore) {
    assert!(store.load("car-1").await.unwrap().is_none());
    let state = device_with_suggestion(0, "m1");
    let v1 = saved(store.save_if("car-1", &state, None).await.unwrap());
    assert_eq!(store.load("car-1").await.unwrap(), Some((state, v1)));
    let next = device_with_suggestion(40, "m2");
    let v2 = saved(store.save_if("car-1", &next, Some(v1)).await.unwrap());
    assert!(v2 > v1);
    assert_eq!(store.load("car-1").await.unwrap(), Some((next, v2)));
}

/// Of two writers that loaded the same version only the first saves; creating
/// needs "nothing stored".
pub async fn of_two_writers_that_loaded_the_same_version_only_the_first_saves(
    store: &impl DeviceStore,
) {
    let v1 = saved(
        store
            .save_if("car-1", &device_with_suggestion(0, "m1"), None)
            .await
            .unwrap(),
    );
    assert_eq!(
        store
            .save_if("car-1", &device_with_suggestion(0, "m9"), None)
            .await
            .unwrap(),
        SaveOutcome::Conflict,
        "a second creator conflicts"
    );
    let a = device_with_suggestion(5, "m2");
    let b = device_with_suggestion(6, "m3");
    let v2 = saved(store.save_if("car-1", &a, Some(v1)).await.unwrap());
    assert!(v2 > v1);
    assert_eq!(
        store.save_if("car-1", &b, Some(v1)).await.unwrap(),
        SaveOutcome::Conflict
    );
    assert_eq!(store.load("car-1").await.unwrap(), Some((a, v2)));
}

/// A forgotten device is gone, forgetting twice is fine, and a writer that
/// loaded it before the forget cannot bring it back.
pub async fn a_forgotten_device_cannot_be_resurrected_by_a_stale_writer(store: &impl DeviceStore) {
    let old = saved(
        store
            .save_if("car-1", &device_with_suggestion(0, "m1"), None)
            .await
            .unwrap(),
    );
    store.delete("car-1").await.unwrap();
    store.delete("car-1").await.unwrap();
    store.delete("never-seen").await.unwrap();
    assert!(store.load("car-1").await.unwrap().is_none());
    let fresh = saved(
        store
            .save_if("car-1", &PersistedDevice::default(), None)
            .await
            .unwrap(),
    );
    assert!(fresh > old, "versions are never reused");
    assert_eq!(
        store
            .save_if("car-1", &device_with_suggestion(0, "m1"), Some(old))
            .await
            .unwrap(),
        SaveOutcome::Conflict
    );
}

/// The purge drops history older than the retention, and devices with nothing
/// left; recent history and profiles stay.
pub async fn purge_drops_old_history_and_devices_with_nothing_left(store: &impl DeviceStore) {
    let mut gone = device_with_suggestion(0, "m1");
    gone.profile = None;
    saved(store.save_if("gone", &gone, None).await.unwrap());
    saved(
        store
            .save_if("kept", &device_with_suggestion(0, "m1"), None)
            .await
            .unwrap(),
    );
    let recent = device_with_suggestion(100 * 24 * 60 - 60, "m2");
    let recent_v = saved(store.save_if("recent", &recent, None).await.unwrap());

    let purged = store
        .purge_expired(at(100 * 24 * 60), Duration::days(90))
        .await
        .unwrap();
    assert_eq!((purged.deleted, purged.trimmed), (1, 1));
    assert!(store.load("gone").await.unwrap().is_none());
    let (kept, _) = store.load("kept").await.unwrap().unwrap();
    assert!(kept.history.is_empty() && kept.profile.is_some());
    assert_eq!(
        store.load("recent").await.unwrap(),
        Some((recent, recent_v))
    );
}

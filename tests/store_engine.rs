//! The engine's persistence hooks: what is exported, what an import restores
//! (the gap, dismissals), what never leaves memory (positions), forget, a
//! restart over the file store, and the size of a stored device.

mod support;

use support::{engine, redis_server};

use chrono::NaiveTime;
use serde_json::json;

use engine::{suggestion, t, tm, Sim, ANNECY, DEV};
use kairos::device::{
    Context, Lang, PersistedDevice, Profile, QuietHours, SuggestionRecord, TagPattern, Timed, Trip,
};
use kairos::store::{encode, step_durably, DeviceStore, RedbStore};
use kairos::Stamp;
use redis_server::at;

fn museums() -> Vec<serde_json::Value> {
    vec![engine::museum("m1", 300.0), engine::museum("m2", 600.0)]
}

/// A fresh engine (as after a restart) with `state` imported for [`DEV`].
fn restarted(state: PersistedDevice) -> Sim {
    let mut sim = Sim::new(&museums());
    sim.engine.import_device(DEV, state);
    sim
}

#[test]
fn an_imported_device_keeps_its_gap_and_its_no_repeat() {
    let mut sim = Sim::consenting(&museums(), json!({}));
    assert_eq!(sim.still(&t(0)).unwrap().merchant.id, "m1");
    let state = sim.engine.export_device(DEV).unwrap();
    assert_eq!(state.history.len(), 1);

    let mut after = restarted(state);
    assert!(after.still(&tm(10)).is_none(), "inside the 30 min gap");
    assert_eq!(
        after.still(&tm(40)).unwrap().merchant.id,
        "m2",
        "m1 was suggested less than 24 h ago"
    );
}

#[test]
fn a_dismissed_offer_stays_dismissed_after_an_import() {
    let mut sim = Sim::consenting(&museums(), json!({}));
    let out = sim.send(
        "feedback",
        &json!({"merchant": "m1", "offer": "place", "action": "dismissed"}),
        &t(-30),
    );
    assert!(out.is_empty(), "{out:?}");
    let state = sim.engine.export_device(DEV).unwrap();
    assert!(state
        .dismissed
        .contains(&("m1".to_string(), "place".to_string())));
    let mut after = restarted(state);
    assert_eq!(after.still(&t(0)).unwrap().merchant.id, "m2");
}

#[test]
fn forget_leaves_nothing_to_export() {
    let mut sim = Sim::consenting(&museums(), json!({}));
    assert!(sim.still(&t(0)).is_some());
    sim.send("forget", &json!({}), &t(5));
    assert!(sim.engine.export_device(DEV).is_none());

    let mut sim = Sim::consenting(&museums(), json!({}));
    sim.engine.forget_device(DEV);
    assert!(sim.engine.export_device(DEV).is_none());
    assert!(sim.engine.device(DEV).is_none());
}

#[test]
fn an_import_keeps_the_position_in_memory_and_an_export_never_holds_one() {
    let mut sim = Sim::consenting(&museums(), json!({}));
    assert!(sim.still(&t(0)).is_some());
    let exported = sim.engine.export_device(DEV).unwrap();
    let text = String::from_utf8(encode(&exported)).unwrap();
    assert!(
        !text.contains("45.9") && !text.contains("6.13") && !text.contains("lat"),
        "a position reached the stored form: {text}"
    );
    sim.engine.import_device(DEV, PersistedDevice::default());
    assert!(sim.engine.device(DEV).unwrap().position.is_some());
    assert!(sim.engine.device(DEV).unwrap().history.is_empty());
}

#[test]
fn the_input_names_its_device_only_for_device_topics() {
    let sim = Sim::new(&[]);
    let device = |topic: &str| sim.engine.read(topic, b"{}").device().map(str::to_string);
    assert_eq!(device("kairos/car-1/position").as_deref(), Some("car-1"));
    assert_eq!(device("kairos/car-1/forget").as_deref(), Some("car-1"));
    assert_eq!(device("kairos/car-1/bogus").as_deref(), Some("car-1"));
    assert_eq!(device("kairos/car-1/suggestion"), None);
    assert_eq!(device("other/car-1/position"), None);
    assert_eq!(device("kairos/bad id/position"), None);
}

#[test]
fn settled_devices_leave_memory_and_live_ones_stay() {
    let mut sim = Sim::consenting(&museums(), json!({}));
    assert!(sim.still(&t(0)).is_some());
    let later = Stamp::parse(&tm(5)).unwrap().time;
    assert_eq!(sim.engine.evict_settled(later), 0, "a live position stays");
    let much_later = Stamp::parse(&tm(130)).unwrap().time;
    assert_eq!(sim.engine.evict_settled(much_later), 1);
    assert!(sim.engine.device(DEV).is_none());
}

/// One input through the store, as serve does it.
async fn step(
    sim: &mut Sim,
    store: &RedbStore,
    topic: String,
    body: String,
    at: String,
) -> Vec<kairos::output::Output> {
    let stamp = Stamp::parse(&at).unwrap();
    let input = sim.engine.read(&topic, body.as_bytes());
    step_durably(&mut sim.engine, store, &input, &stamp)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_restarted_instance_remembers_the_gap_from_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let topic = format!("kairos/{DEV}/position");
    let payload = engine::pos(ANNECY, json!({})).to_string();
    {
        let store = RedbStore::open(&path).await.unwrap();
        let mut sim = Sim::new(&museums());
        let consent = json!({"consent": true}).to_string();
        step(
            &mut sim,
            &store,
            format!("kairos/{DEV}/profile"),
            consent,
            t(-60),
        )
        .await;
        let out = step(&mut sim, &store, topic.clone(), payload.clone(), t(0)).await;
        assert_eq!(suggestion(&out).unwrap().merchant.id, "m1");
    }
    let store = RedbStore::open(&path).await.unwrap();
    let mut sim = Sim::new(&museums());
    let out = step(&mut sim, &store, topic.clone(), payload.clone(), tm(10)).await;
    assert!(suggestion(&out).is_none(), "the gap survived the restart");
    let out = step(&mut sim, &store, topic.clone(), payload.clone(), tm(40)).await;
    assert_eq!(suggestion(&out).unwrap().merchant.id, "m2");
    let out = step(
        &mut sim,
        &store,
        format!("kairos/{DEV}/forget"),
        "{}".into(),
        tm(41),
    )
    .await;
    assert_eq!(out.len(), 1, "the retained profile is cleared: {out:?}");
    assert!(store.load(DEV).await.unwrap().is_none());
}

fn record(i: i64) -> SuggestionRecord {
    SuggestionRecord {
        id: format!(
            "s-{:016x}",
            0x9e37_79b9_7f4a_7c15_u64.wrapping_mul(i as u64 + 1)
        ),
        at: at(i * 8 * 60),
        merchant: format!("osm-node-{}", 1_234_567_890 + i),
        offer: "lunch-gluten-free".to_string(),
        feedback: None,
        tags: vec![
            "amenity=restaurant".to_string(),
            "cuisine=italian".to_string(),
        ],
    }
}

fn typical_device(suggestions: i64) -> PersistedDevice {
    let tag = |k: &str, v: &str| TagPattern {
        key: k.into(),
        value: v.into(),
    };
    let mut state = PersistedDevice {
        profile: Some(Profile {
            consent: true,
            diet: vec!["gluten_free".into()],
            likes: vec![tag("cuisine", "italian")],
            dislikes: vec![tag("amenity", "fast_food")],
            lang: Lang::Fr,
            quiet_hours: Some(QuietHours {
                start: NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
                end: NaiveTime::from_hms_opt(7, 0, 0).unwrap(),
            }),
            min_gap_min: Some(45),
            max_per_day: Some(3),
            learn: true,
        }),
        context: Context {
            hungry: Some(Timed {
                value: true,
                set_at: at(0),
            }),
            trip: Some(Timed {
                value: Trip::Vacation,
                set_at: at(0),
            }),
            party: None,
        },
        ..PersistedDevice::default()
    };
    state.history = (0..suggestions).map(record).collect();
    state
        .dismissed
        .insert(("osm-node-1234567890".into(), "lunch-gluten-free".into()));
    state.blocked.insert("osm-way-987654321".into());
    let tags = [
        "amenity=restaurant".to_string(),
        "cuisine=italian".to_string(),
    ];
    state.tastes.learn(&tags, 2.0, at(0));
    state
}

/// Sizes quoted in docs/state.md; the bounds catch an accidental blow-up.
#[test]
fn a_stored_device_is_small() {
    let consent_only = PersistedDevice {
        profile: Some(Profile {
            consent: true,
            ..Profile::default()
        }),
        ..PersistedDevice::default()
    };
    let sizes = [
        ("consent only", encode(&consent_only).len()),
        ("typical, 10 suggestions", encode(&typical_device(10)).len()),
        ("one suggestion record", {
            encode(&typical_device(11)).len() - encode(&typical_device(10)).len()
        }),
        (
            "90 days at 3 a day (270 suggestions)",
            encode(&typical_device(270)).len(),
        ),
    ];
    for (what, bytes) in sizes {
        eprintln!("stored size, {what}: {bytes} bytes");
    }
    assert!(sizes[0].1 < 300);
    assert!(sizes[1].1 < 2_500);
    assert!(sizes[3].1 < 50_000);
}

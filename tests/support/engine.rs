//! Shared helpers for the rule tests: offer files built around a point, an engine
//! driven event by event on a virtual clock, and readers for what it publishes.
//!
//! Every test starts from the same world unless it says otherwise: a device in
//! Annecy (France, Europe/Paris) on Wednesday 2026-07-15 at 14:00 local time.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, FixedOffset};
use geo::{Destination, Haversine, Point};
use serde_json::{json, Map, Value};

use kairos::config::EngineConfig;
use kairos::device::Device;
use kairos::offers::Loader;
use kairos::output::{Body, Output, Publish, Suggestion};
use kairos::{Catalog, Engine, Stamp};

/// The reference instant: Wednesday 2026-07-15, 14:00 in Annecy.
pub const T0: &str = "2026-07-15T14:00:00+02:00";
/// The device everyone uses.
pub const DEV: &str = "car-42";
/// Annecy, France (Europe/Paris).
pub const ANNECY: (f64, f64) = (45.9, 6.13);
/// Tokyo, Japan (Asia/Tokyo).
pub const TOKYO: (f64, f64) = (35.68, 139.76);

/// `secs` after [`T0`], written with the same +02:00 offset.
pub fn t(secs: i64) -> String {
    let base: DateTime<FixedOffset> = DateTime::parse_from_rfc3339(T0).unwrap();
    (base + Duration::seconds(secs)).to_rfc3339()
}

/// `minutes` after [`T0`].
pub fn tm(minutes: i64) -> String {
    t(minutes * 60)
}

/// The point `distance_m` from `origin` (lat, lon) on initial bearing `bearing_deg`.
pub fn dest(origin: (f64, f64), bearing_deg: f64, distance_m: f64) -> (f64, f64) {
    let p = Haversine.destination(Point::new(origin.1, origin.0), bearing_deg, distance_m);
    (p.y(), p.x())
}

/// A GeoJSON feature (a merchant) at `at` with `props` (its `id` added).
pub fn feature(id: &str, at: (f64, f64), props: Value) -> Value {
    let mut props = props.as_object().cloned().unwrap_or_default();
    props.insert("id".into(), json!(id));
    json!({
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [at.1, at.0]},
        "properties": Value::Object(props),
    })
}

/// A merchant `distance_m` from [`ANNECY`] on `bearing_deg`.
pub fn place(id: &str, bearing_deg: f64, distance_m: f64, props: Value) -> Value {
    feature(id, dest(ANNECY, bearing_deg, distance_m), props)
}

/// A museum (not a food place, no hours) north of Annecy.
pub fn museum(id: &str, distance_m: f64) -> Value {
    place(
        id,
        0.0,
        distance_m,
        json!({"name": format!("Museum {id}"), "tourism": "museum"}),
    )
}

/// A restaurant north of Annecy with extra tags.
pub fn restaurant(id: &str, distance_m: f64, extra: Value) -> Value {
    place(
        id,
        0.0,
        distance_m,
        with(json!({"amenity": "restaurant"}), extra),
    )
}

/// `base` with the keys of `extra` added or replaced.
pub fn with(base: Value, extra: Value) -> Value {
    let mut map: Map<String, Value> = base.as_object().cloned().unwrap_or_default();
    if let Value::Object(extra) = extra {
        map.extend(extra);
    }
    Value::Object(map)
}

/// The text of an offer file holding `features`.
pub fn offer_file(features: &[Value]) -> String {
    json!({"type": "FeatureCollection", "features": features}).to_string()
}

/// The catalog of `features`, loaded the way `serve` and `replay` load files.
pub fn catalog(features: &[Value]) -> Catalog {
    let mut loader = Loader::new();
    loader
        .load_text(Path::new("test.geojson"), &offer_file(features))
        .expect("a FeatureCollection");
    let (merchants, _problems) = loader.finish();
    Catalog::new(merchants)
}

/// An engine with default settings serving `features`.
pub fn engine(features: &[Value]) -> Engine {
    Engine::new(EngineConfig::default(), Arc::new(catalog(features)))
}

/// A position payload at `p` with extra fields (heading, speed, ts, accuracy).
pub fn pos(p: (f64, f64), extra: Value) -> Value {
    with(json!({"lat": p.0, "lon": p.1}), extra)
}

/// One device driven through the real engine.
pub struct Sim {
    /// The engine.
    pub engine: Engine,
    /// The device id.
    pub dev: String,
}

impl Sim {
    /// A fresh engine serving `features`, for device [`DEV`].
    pub fn new(features: &[Value]) -> Self {
        Self {
            engine: engine(features),
            dev: DEV.to_string(),
        }
    }

    /// `new`, with a consenting profile `profile` (consent added) set before [`T0`].
    pub fn consenting(features: &[Value], profile: Value) -> Self {
        let mut sim = Self::new(features);
        sim.profile(with(json!({"consent": true}), profile));
        sim
    }

    /// The topic of an input kind for this device.
    pub fn topic(&self, kind: &str) -> String {
        format!("kairos/{}/{kind}", self.dev)
    }

    /// Raw bytes on any topic at `at`.
    pub fn raw(&mut self, topic: &str, payload: &[u8], at: &str) -> Vec<Output> {
        let stamp = Stamp::parse(at).expect("test stamps are RFC 3339");
        let input = self.engine.read(topic, payload);
        self.engine.step(&input, &stamp)
    }

    /// A JSON payload on this device's `kind` topic at `at`.
    pub fn send(&mut self, kind: &str, payload: &Value, at: &str) -> Vec<Output> {
        let topic = self.topic(kind);
        self.raw(&topic, payload.to_string().as_bytes(), at)
    }

    /// Publishes a profile a minute before [`T0`]; it never answers.
    pub fn profile(&mut self, profile: Value) {
        let out = self.send("profile", &profile, &t(-60));
        assert!(out.is_empty(), "a profile never triggers anything: {out:?}");
    }

    /// Publishes a context at `at`; it never answers.
    pub fn context(&mut self, context: Value, at: &str) {
        let out = self.send("context", &context, at);
        assert!(out.is_empty(), "a context never triggers anything: {out:?}");
    }

    /// A position at `p` at `at`.
    pub fn at(&mut self, p: (f64, f64), extra: Value, at: &str) -> Vec<Output> {
        self.send("position", &pos(p, extra), at)
    }

    /// A still device at [`ANNECY`] at `at`: the suggestion, if any.
    pub fn still(&mut self, at: &str) -> Option<Suggestion> {
        suggestion(&self.at(ANNECY, json!({}), at))
    }

    /// An `ask` at `at`.
    pub fn ask(&mut self, fields: Value, at: &str) -> Vec<Output> {
        self.send("ask", &fields, at)
    }

    /// The device's state, for before/after comparisons.
    pub fn state(&self) -> Option<State> {
        self.engine.device(&self.dev).map(State::of)
    }
}

/// What kairos holds about a device, minus the rate-limit bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct State(String);

impl State {
    /// The comparable parts of `device`.
    pub fn of(device: &Device) -> Self {
        Self(format!(
            "{:?} | {:?} | {:?} | {:?} | {:?} | {:?} | {:?}",
            device.profile,
            device.context,
            device.position,
            device.history,
            device.dismissed,
            device.blocked,
            device.tastes
        ))
    }
}

/// Every publish of `outs`.
pub fn publishes(outs: &[Output]) -> Vec<&Publish> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Publish(p) => Some(p),
            Output::Dropped { .. } => None,
        })
        .collect()
}

/// The suggestion of `outs`, if any (and never more than one message).
pub fn suggestion(outs: &[Output]) -> Option<Suggestion> {
    let published = publishes(outs);
    assert!(
        published.len() <= 1,
        "at most one message per event: {outs:?}"
    );
    published.into_iter().find_map(|p| match &p.body {
        Body::Suggestion(s) => Some((**s).clone()),
        _ => None,
    })
}

/// The suggestion of `outs`, which must be there.
pub fn expect_suggestion(outs: &[Output], why: &str) -> Suggestion {
    suggestion(outs).unwrap_or_else(|| panic!("expected a suggestion ({why}), got {outs:?}"))
}

/// The merchant id suggested in `outs`, if any.
pub fn merchant(outs: &[Output]) -> Option<String> {
    suggestion(outs).map(|s| s.merchant.id)
}

/// The `none` reason of an `ask` answer, if `outs` is one.
pub fn none_reason(outs: &[Output]) -> Option<String> {
    publishes(outs).into_iter().find_map(|p| match &p.body {
        Body::NoSuggestion(n) => serde_json::to_value(n.none)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string)),
        _ => None,
    })
}

/// The error code published in `outs`, if any.
pub fn error_code(outs: &[Output]) -> Option<&'static str> {
    publishes(outs).into_iter().find_map(|p| match &p.body {
        Body::Error(e) => Some(e.error),
        _ => None,
    })
}

/// The payload of the only publish of `outs`, as JSON.
pub fn only_json(outs: &[Output]) -> Value {
    let published = publishes(outs);
    assert_eq!(published.len(), 1, "exactly one message: {outs:?}");
    serde_json::from_slice(&published[0].body.to_bytes()).expect("published JSON")
}

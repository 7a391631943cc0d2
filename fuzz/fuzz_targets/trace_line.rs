//! Arbitrary text as one trace line: `trace::parse_line`, and when it reads,
//! the event replayed through an engine serving the demo offers at the line's
//! own time (so hours are evaluated at fuzzed instants, years 0000 to 9999).

#![no_main]

use std::path::Path;
use std::sync::{Arc, LazyLock};

use kairos::config::EngineConfig;
use kairos::offers::Loader;
use kairos::trace::parse_line;
use kairos::{Catalog, Engine};
use libfuzzer_sys::fuzz_target;

#[path = "guarded_panics.rs"]
mod guarded_panics;

static DEMO: LazyLock<Arc<Catalog>> = LazyLock::new(|| {
    let mut loader = Loader::new();
    loader
        .load_text(
            Path::new("demo.geojson"),
            include_str!("../seeds/offer_loader/demo.geojson"),
        )
        .expect("the demo offers load");
    Arc::new(Catalog::new(loader.finish().0))
});

fuzz_target!(init: guarded_panics::tolerate_opening_hours_panics(), |data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(event) = parse_line(line) else {
        return;
    };
    let mut engine = Engine::new(EngineConfig::default(), DEMO.clone());
    let at = &event.at;
    let fixed: [(&str, &[u8]); 3] = [
        ("kairos/car-42/profile", br#"{"consent": true, "lang": "fr"}"#),
        ("kairos/car-42/context", br#"{"hungry": true, "trip": "vacation"}"#),
        ("kairos/car-42/position", br#"{"lat": 45.9125, "lon": 6.13}"#),
    ];
    for (topic, payload) in fixed {
        let input = engine.read(topic, payload);
        engine.step(&input, at);
    }
    let input = engine.read(&event.topic, &event.payload);
    let outputs = engine.step(&input, at);
    assert!(outputs.len() <= 1, "{} outputs for one input", outputs.len());
    let ask = engine.read("kairos/car-42/ask", b"{}");
    let outputs = engine.step(&ask, at);
    assert_eq!(outputs.len(), 1, "an ask is always answered");
});

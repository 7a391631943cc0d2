//! Arbitrary bytes as an input payload: through `input::parse_event` for every
//! input kind (routes included), then read and through `Engine::step` (empty catalog) on each kind's topic
//! and on an arbitrary topic.
//!
//! Input: `TOPIC \n PAYLOAD`; without a newline the whole input is the payload
//! and the topic is a position topic. Besides "no panic", it checks SPEC's
//! "at most one output per input" and "a refused payload gets exactly one error".

#![no_main]

use std::sync::Arc;

use kairos::config::EngineConfig;
use kairos::input::{parse_event, Kind};
use kairos::output::{Body, Output};
use kairos::{Catalog, Engine, Stamp};
use libfuzzer_sys::fuzz_target;

/// Every input kind (a new kind is fuzzed without touching this target).
const KINDS: [Kind; Kind::ALL.len()] = Kind::ALL;

fuzz_target!(|data: &[u8]| {
    let (topic, payload) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (
            String::from_utf8_lossy(&data[..i]).into_owned(),
            &data[i + 1..],
        ),
        None => ("kairos/fuzz/position".to_string(), data),
    };

    for kind in KINDS {
        let _ = parse_event(kind, payload, 65_536);
        let _ = parse_event(kind, payload, 16);
    }

    let config = EngineConfig::default();
    let mut engine = Engine::new(config, Arc::new(Catalog::default()));
    let mut second = 0;
    let mut step = |engine: &mut Engine, topic: &str, payload: &[u8]| {
        second += 1;
        let at = Stamp::parse(&format!("2026-07-15T14:00:{second:02}+02:00"))
            .expect("a valid RFC 3339 stamp");
        let input = engine.read(topic, payload);
        let outputs = engine.step(&input, &at);
        assert!(
            outputs.len() <= 1,
            "{} outputs for one input",
            outputs.len()
        );
        outputs
    };
    // A consenting, hungry device first, so position and ask reach the decision.
    step(
        &mut engine,
        "kairos/fuzz/profile",
        br#"{"consent": true, "quiet_hours": "22:00-07:00"}"#,
    );
    step(&mut engine, "kairos/fuzz/context", br#"{"hungry": true}"#);
    for kind in KINDS {
        let topic = format!("kairos/fuzz/{}", kind.as_str());
        let refused = parse_event(kind, payload, 65_536).is_err();
        let outputs = step(&mut engine, &topic, payload);
        if refused {
            let is_error = matches!(
                outputs.as_slice(),
                [Output::Publish(p)] if matches!(p.body, Body::Error(_))
            );
            assert!(
                is_error,
                "a refused {kind:?} payload must get one error: {outputs:?}"
            );
        }
    }
    step(&mut engine, &topic, payload);
    step(&mut engine, "kairos/fuzz/ask", b"{}");
});

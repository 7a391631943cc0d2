//! kairos embedded in another program: load an offer file, then hand the engine
//! each input of a recorded drive with the time it arrived, and print what a
//! person would read. No broker, no clock, no files but the two read here.
//!
//! ```sh
//! cargo run --example embed
//! ```

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use kairos::offers::Loader;
use kairos::output::{Body, Output};
use kairos::{Catalog, Engine, EngineConfig, Stamp};

/// Replays `drive` (JSON Lines: `at`, `topic`, `payload`) over the merchants of
/// `offers` and writes one line per suggestion: when, and its message.
pub fn run(
    offers: &Path,
    drive: &Path,
    out: &mut impl Write,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut loader = Loader::new();
    loader.load_text(offers, &std::fs::read_to_string(offers)?)?;
    let (merchants, _problems) = loader.finish();
    let mut engine = Engine::new(EngineConfig::default(), Arc::new(Catalog::new(merchants)));

    for line in std::fs::read_to_string(drive)?.lines() {
        let event: serde_json::Value = serde_json::from_str(line)?;
        let at = Stamp::parse(event["at"].as_str().unwrap_or_default()).ok_or("bad `at`")?;
        let topic = event["topic"].as_str().unwrap_or_default();
        let payload = serde_json::to_vec(&event["payload"])?;
        let input = engine.read(topic, &payload);
        for output in engine.step(&input, &at) {
            if let Output::Publish(publish) = output {
                if let Body::Suggestion(s) = publish.body {
                    writeln!(out, "{}  {}", s.at, s.message)?;
                }
            }
        }
    }
    Ok(())
}

#[allow(dead_code)] // `tests/embed_example.rs` includes this file for `run`.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo");
    run(
        &data.join("offers.geojson"),
        &data.join("drive.jsonl"),
        &mut std::io::stdout().lock(),
    )
}

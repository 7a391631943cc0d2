//! `kairos replay`: the engine over a recorded trace, on the trace's clock.
//! Same inputs, same bytes out.

use std::io::{BufRead, Write};

use crate::engine::Engine;
use crate::output::Output;
use crate::trace::{parse_line, write_publish};

/// What a replay went through.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Trace lines read.
    pub lines: u64,
    /// Events handed to the engine.
    pub events: u64,
    /// Lines skipped (not JSON, no valid `at` or `topic`).
    pub skipped: u64,
    /// Messages written.
    pub published: u64,
}

/// Sweep expired state every this many events (memory only: never changes output).
const SWEEP_EVERY: u64 = 65_536;

/// Replays `trace` through `engine`, writing every published message to `out`
/// and every skipped line or dropped input to `log`.
pub fn replay(
    engine: &mut Engine,
    trace: impl BufRead,
    out: &mut impl Write,
    log: &mut impl Write,
) -> std::io::Result<ReplaySummary> {
    let mut summary = ReplaySummary::default();
    for (index, line) in trace.lines().enumerate() {
        let line = line?;
        let number = index + 1;
        summary.lines += 1;
        if line.trim().is_empty() {
            continue;
        }
        let event = match parse_line(&line) {
            Ok(event) => event,
            Err(reason) => {
                summary.skipped += 1;
                writeln!(log, "trace line {number}: {reason}; skipped")?;
                continue;
            }
        };
        summary.events += 1;
        for output in engine.step(&event.topic, &event.payload, &event.at) {
            match output {
                Output::Publish(publish) => {
                    summary.published += 1;
                    write_publish(out, &event.at.text, &publish)?;
                }
                Output::Dropped { topic, reason } => {
                    writeln!(
                        log,
                        "trace line {number}: topic {topic:?}: {reason}; ignored"
                    )?;
                }
            }
        }
        if summary.events % SWEEP_EVERY == 0 {
            engine.sweep(event.at.time);
        }
    }
    out.flush()?;
    Ok(summary)
}

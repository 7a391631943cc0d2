//! `kairos replay`: the engine over a recorded trace, on the trace's clock.
//! Same inputs, same bytes out.

use std::io::{BufRead, Write};

use crate::trace::{parse_line, write_publish, TraceEvent};
use kairos_core::engine::Engine;
use kairos_core::input::Input;
use kairos_core::output::Output;

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

/// A trace line longer than this is skipped (a payload is at most 64 KiB by
/// default; the line around it adds little).
pub const MAX_LINE_BYTES: usize = 1 << 20;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads one line (without its newline) into `buffer`, keeping at most `cap`
/// bytes; `Some(false)` when the line was longer (the rest is consumed, not
/// kept), `None` at the end of the input.
fn read_line_capped(
    input: &mut impl BufRead,
    buffer: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<Option<bool>> {
    buffer.clear();
    let mut fits = true;
    let mut read_any = false;
    loop {
        let available = input.fill_buf()?;
        if available.is_empty() {
            return Ok(read_any.then_some(fits));
        }
        read_any = true;
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(end) => (&available[..end], Some(end + 1)),
            None => (available, None),
        };
        if buffer.len() + chunk.len() <= cap {
            buffer.extend_from_slice(chunk);
        } else {
            fits = false;
        }
        let used = done.unwrap_or(chunk.len());
        input.consume(used);
        if done.is_some() {
            if buffer.last() == Some(&b'\r') {
                buffer.pop();
            }
            return Ok(Some(fits));
        }
    }
}

/// Sweep expired state every this many events (memory only: never changes output).
const SWEEP_EVERY: u64 = 65_536;

/// What a replay goes through, told line by line (`replay --html` listens through
/// `crate::report::Recorder`). Every method has a do-nothing default; `()` ignores all.
pub trait Observer {
    /// Trace line `line`, read as `input`, is about to be stepped; `engine` is the state it finds.
    fn before(&mut self, _engine: &Engine, _line: u64, _event: &TraceEvent<'_>, _input: &Input) {}
    /// Trace line `line` was stepped; `engine` is the state it left, `outputs` what it produced.
    fn after(
        &mut self,
        _engine: &Engine,
        _line: u64,
        _event: &TraceEvent<'_>,
        _input: &Input,
        _outputs: &[Output],
    ) {
    }
    /// Trace line `line` was skipped, for `reason`.
    fn skipped(&mut self, _line: u64, _reason: &str) {}
}

impl Observer for () {}

/// `None` listens to nothing.
impl<O: Observer> Observer for Option<O> {
    fn before(&mut self, engine: &Engine, line: u64, event: &TraceEvent<'_>, input: &Input) {
        if let Some(o) = self {
            o.before(engine, line, event, input);
        }
    }
    fn after(
        &mut self,
        engine: &Engine,
        line: u64,
        event: &TraceEvent<'_>,
        input: &Input,
        outputs: &[Output],
    ) {
        if let Some(o) = self {
            o.after(engine, line, event, input, outputs);
        }
    }
    fn skipped(&mut self, line: u64, reason: &str) {
        if let Some(o) = self {
            o.skipped(line, reason);
        }
    }
}

/// Replays `trace` through `engine`, writing every published message to `out`
/// and every skipped line or dropped input to `log`.
pub fn replay(
    engine: &mut Engine,
    trace: impl BufRead,
    out: &mut impl Write,
    log: &mut impl Write,
) -> std::io::Result<ReplaySummary> {
    replay_observed(engine, trace, out, log, &mut ())
}

/// [`replay`], telling `observer` every line on the way (same output bytes).
pub fn replay_observed(
    engine: &mut Engine,
    trace: impl BufRead,
    out: &mut impl Write,
    log: &mut impl Write,
    observer: &mut impl Observer,
) -> std::io::Result<ReplaySummary> {
    let mut summary = ReplaySummary::default();
    let mut trace = trace;
    let mut buffer = Vec::new();
    let mut number = 0u64;
    while let Some(fits) = read_line_capped(&mut trace, &mut buffer, MAX_LINE_BYTES)? {
        number += 1;
        summary.lines += 1;
        let mut bytes = buffer.as_slice();
        if number == 1 {
            bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
        }
        let line = match (fits, std::str::from_utf8(bytes)) {
            (false, _) => Err(format!("longer than {MAX_LINE_BYTES} bytes")),
            (true, Err(_)) => Err("not UTF-8".to_string()),
            (true, Ok(text)) => Ok(text),
        };
        if line.as_ref().is_ok_and(|l| l.trim().is_empty()) {
            continue;
        }
        let event = match line.and_then(parse_line) {
            Ok(event) => event,
            Err(reason) => {
                summary.skipped += 1;
                observer.skipped(number, &reason);
                writeln!(log, "trace line {number}: {reason}; skipped")?;
                continue;
            }
        };
        summary.events += 1;
        let input = engine.read(&event.topic, &event.payload);
        observer.before(engine, number, &event, &input);
        let outputs = engine.step(&input, &event.at);
        observer.after(engine, number, &event, &input, &outputs);
        for output in outputs {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], cap: usize) -> Vec<(bool, Vec<u8>)> {
        let mut reader = input;
        let mut buffer = Vec::new();
        let mut out = Vec::new();
        while let Some(fits) = read_line_capped(&mut reader, &mut buffer, cap).unwrap() {
            out.push((fits, buffer.clone()));
        }
        out
    }

    #[test]
    fn lines_are_split_capped_and_the_last_needs_no_newline() {
        let got = lines(b"ab\r\ncdefgh\n\nij", 4);
        assert_eq!(
            got,
            vec![
                (true, b"ab".to_vec()),
                (false, Vec::new()),
                (true, Vec::new()),
                (true, b"ij".to_vec())
            ]
        );
    }
}

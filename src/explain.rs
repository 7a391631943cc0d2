//! `kairos explain`: a trace replayed up to a moment, then the decision for
//! one device explained (see `kairos_core::explain`), as aligned text a
//! person reads (coloured only on a terminal) or as JSON for programs.

use std::io::{BufRead, Write};

use anstyle::{AnsiColor, Style};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::trace::parse_line;
pub use kairos_core::explain::{Explained, Explanation, Placed, Verdict};
use kairos_core::{Engine, Stamp};

/// What a run of `explain` went through.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExplainSummary {
    /// Trace lines applied (those at or before the moment).
    pub applied: u64,
    /// Lines skipped (not JSON, no valid `at` or `topic`).
    pub skipped: u64,
}

/// Applies every line of `trace` whose `at` is at or before `until`
/// (outputs discarded; skipped lines reported on `log`).
pub fn replay_until(
    engine: &mut Engine,
    trace: impl BufRead,
    until: DateTime<Utc>,
    log: &mut impl Write,
) -> std::io::Result<ExplainSummary> {
    let mut summary = ExplainSummary::default();
    for (index, line) in trace.split(b'\n').enumerate() {
        let line = line?;
        let number = index + 1;
        let bytes = if index == 0 {
            line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&line)
        } else {
            &line
        };
        let Ok(text) = std::str::from_utf8(bytes) else {
            summary.skipped += 1;
            writeln!(log, "trace line {number}: not UTF-8; skipped")?;
            continue;
        };
        if text.trim().is_empty() {
            continue;
        }
        let event = match parse_line(text.trim_end_matches('\r')) {
            Ok(event) => event,
            Err(reason) => {
                summary.skipped += 1;
                writeln!(log, "trace line {number}: {reason}; skipped")?;
                continue;
            }
        };
        if event.at.time > until {
            continue;
        }
        let input = engine.read(&event.topic, &event.payload);
        engine.step(&input, &event.at);
        summary.applied += 1;
    }
    Ok(summary)
}

/// The explanation for programs (`--json`).
pub fn to_json(explanation: &Explanation) -> Value {
    let unit = explanation.ranking.unit();
    let candidates: Vec<Value> = explanation
        .candidates
        .iter()
        .map(|c| {
            let mut item = json!({
                "merchant": {"id": c.merchant, "name": c.name},
                "offer": {"id": c.offer, "title": c.title},
                "straight_m": c.straight_m,
            });
            if let Some(placed) = &c.placed {
                item["distance_m"] = json!(placed.distance_m);
                item["eta_s"] = json!(placed.eta_s);
                item["by_road"] = json!(placed.by_road);
            }
            item["verdict"] = json!(c.verdict.code());
            if let Verdict::Wins { score } | Verdict::Outranked { score } = c.verdict {
                item["score"] = json!(score);
            }
            if !c.learned.is_empty() {
                item["learned"] = json!(c.learned);
            }
            item
        })
        .collect();
    json!({
        "device": explanation.device,
        "at": explanation.at,
        "ranked_by": if unit == "s" { "eta_s" } else { "distance_m" },
        "gate": explanation.gate.map(|g| g.code()),
        "position": explanation.position.map(|p| json!({
            "lat": p.location.lat,
            "lon": p.location.lon,
            "heading": p.heading,
            "speed": p.speed,
            "on_road": explanation.on_road,
        })),
        "candidates": candidates,
    })
}

/// The explanation for people: a header, then one aligned line per offer.
pub fn write_text(
    explanation: &Explanation,
    out: &mut impl Write,
    colour: bool,
) -> std::io::Result<()> {
    let paint = |style: Style, text: &str| {
        if colour {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_string()
        }
    };
    let bold = Style::new().bold();
    let green = Style::new().bold().fg_color(Some(AnsiColor::Green.into()));
    let yellow = Style::new().fg_color(Some(AnsiColor::Yellow.into()));
    let dim = Style::new().dimmed();
    let red = Style::new().bold().fg_color(Some(AnsiColor::Red.into()));

    writeln!(
        out,
        "{} {} at {}",
        paint(bold, "explain"),
        explanation.device,
        explanation.at
    )?;
    match &explanation.position {
        Some(p) => {
            let heading = p.heading.map_or("none".to_string(), |h| format!("{h:.0}°"));
            let road = if explanation.on_road {
                ", matched to a road"
            } else {
                ""
            };
            writeln!(
                out,
                "  position {:.5}, {:.5}, heading {heading}, speed {:.1} m/s{road}",
                p.location.lat, p.location.lon, p.speed
            )?;
        }
        None => writeln!(out, "  no position")?,
    }
    let unit = explanation.ranking.unit();
    writeln!(
        out,
        "  ranked by {} (lower wins; × 0.75 liked, × 0.9 with an audience)",
        if unit == "s" {
            "seconds to arrival"
        } else {
            "distance"
        }
    )?;
    if let Some(gate) = explanation.gate {
        writeln!(
            out,
            "  {} {}: nothing can be suggested to this device now",
            paint(red, "gate"),
            gate.code()
        )?;
    }
    if explanation.candidates.is_empty() {
        return writeln!(out, "  no offer to explain");
    }
    writeln!(out)?;
    let rows: Vec<[String; 6]> = explanation
        .candidates
        .iter()
        .map(|c| {
            let (distance, eta) = match &c.placed {
                Some(p) => (
                    format!(
                        "{} m{}",
                        p.distance_m,
                        if p.by_road { " by road" } else { "" }
                    ),
                    format!("{} s", p.eta_s),
                ),
                None => ("-".to_string(), "-".to_string()),
            };
            let mut verdict = match c.verdict {
                Verdict::RuledOut(rule) => rule.code().to_string(),
                Verdict::Wins { score } => format!("wins, score {score:.1} {unit}"),
                Verdict::Outranked { score } => format!("outranked, score {score:.1} {unit}"),
            };
            if !c.learned.is_empty() {
                verdict = format!("{verdict} ({})", c.learned.join(", "));
            }
            [
                format!("{} ({})", c.merchant, c.name),
                c.offer.clone(),
                format!("{} m", c.straight_m),
                distance,
                eta,
                verdict,
            ]
        })
        .collect();
    let headers = [
        "merchant", "offer", "straight", "distance", "eta", "verdict",
    ];
    let widths: Vec<usize> = (0..6)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([headers[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let pad = |text: &str, width: usize, right: bool| {
        let fill = " ".repeat(width.saturating_sub(text.chars().count()));
        if right {
            format!("{fill}{text}")
        } else {
            format!("{text}{fill}")
        }
    };
    let line = |cells: [&str; 6]| {
        format!(
            "  {}  {}  {}  {}  {}  {}",
            pad(cells[0], widths[0], false),
            pad(cells[1], widths[1], false),
            pad(cells[2], widths[2], true),
            pad(cells[3], widths[3], true),
            pad(cells[4], widths[4], true),
            cells[5]
        )
    };
    writeln!(out, "{}", paint(dim, &line(headers)))?;
    for (row, candidate) in rows.iter().zip(&explanation.candidates) {
        let text = line([&row[0], &row[1], &row[2], &row[3], &row[4], &row[5]]);
        let style = match candidate.verdict {
            Verdict::Wins { .. } => green,
            Verdict::Outranked { .. } => bold,
            Verdict::RuledOut(_) => yellow,
        };
        writeln!(out, "{}", paint(style, &text))?;
    }
    match explanation.winner() {
        Some(w) => writeln!(
            out,
            "\n  {} {} ({}), offer {}",
            paint(green, "winner:"),
            w.merchant,
            w.name,
            w.offer
        ),
        None => writeln!(
            out,
            "\n  {} nothing fits: kairos stays silent",
            paint(yellow, "winner:")
        ),
    }
}

/// Reads `--at`: RFC 3339 with an offset.
pub fn parse_moment(text: &str) -> Result<Stamp, String> {
    Stamp::parse(text).ok_or_else(|| format!("--at {text:?} is not an RFC 3339 date-time with offset (e.g. 2026-07-15T14:00:00+02:00)"))
}

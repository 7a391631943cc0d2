//! A GPS log turned into a kairos trace (SPEC "Trace files"): one
//! `{prefix}/{device}/position` message per fix, devices merged in time order.
//!
//! Per device, in log order: a fix whose time is not after the last kept fix
//! is dropped, and so is one that would mean moving faster than
//! [`MAX_SPEED_MPS`] from it (a GPS jump). After [`MAX_CONSECUTIVE_JUMPS`] jumps
//! in a row the track starts again from the next fix, so one bad first fix
//! cannot swallow a whole track. Speed and heading come from the log when it
//! has them; otherwise speed is distance / time from the last kept fix, and
//! heading the initial bearing from the last place the device was at least
//! [`MIN_HEADING_MOVE_M`] away from (no heading until it has moved that far:
//! GPS jitter at a standstill points anywhere).
//!
//! The whole log is held in memory to merge its devices in time order: logs
//! are megabytes, not the gigabytes of an OSM extract.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;

use chrono::{DateTime, FixedOffset, SecondsFormat};
use serde_json::{Map, Value};

use super::gps::{read_log, Fix, Log};
use super::{ImportError, Tally};
use kairos_core::geodesy::{bearing_deg, distance_m, LatLon};

/// Faster than this from the last kept fix (m/s, about 250 km/h) is a GPS jump.
pub const MAX_SPEED_MPS: f64 = 70.0;

/// A device must have moved this far (metres) for its heading to be known.
pub const MIN_HEADING_MOVE_M: f64 = 5.0;

/// After this many jumps in a row, the track starts again.
pub const MAX_CONSECUTIVE_JUMPS: usize = 3;

/// The topic prefix of the messages written (SPEC's default).
pub const TOPIC_PREFIX: &str = "kairos";

/// How to turn a log into a trace.
#[derive(Debug, Clone, Default)]
pub struct TraceOptions {
    /// The device name, or the prefix `{device}-{track id}` when the log has
    /// several tracks; by default the file's name.
    pub device: Option<String>,
    /// Shift every time so that the log's first fix is at this instant (in its offset).
    pub start: Option<DateTime<FixedOffset>>,
    /// A profile payload published for each device at its first fix.
    pub profile: Option<Value>,
    /// A context payload published for each device at its first fix, after the profile.
    pub context: Option<Value>,
}

/// What an import wrote and dropped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceSummary {
    /// Devices with at least one position written.
    pub devices: usize,
    /// Position messages written.
    pub positions: usize,
    /// All lines written (positions, profiles, contexts).
    pub lines: usize,
    /// Records of the log that could not be read, by reason.
    pub skipped: Tally,
    /// Fixes read but not written, by reason.
    pub dropped: Tally,
    /// `at` of the first line written.
    pub first: Option<String>,
    /// `at` of the last line written.
    pub last: Option<String>,
}

impl TraceSummary {
    /// Writes the counts by reason, then one summary line.
    pub fn report(&self, out_name: &str, out: &mut impl Write) -> std::io::Result<()> {
        self.skipped.report("skipped", out)?;
        self.dropped.report("dropped", out)?;
        writeln!(
            out,
            "kairos: {} positions of {} devices ({} lines, {} to {}) written to {out_name}; \
             skipped {} unreadable records ({}); dropped {} fixes ({})",
            self.positions,
            self.devices,
            self.lines,
            self.first.as_deref().unwrap_or("-"),
            self.last.as_deref().unwrap_or("-"),
            self.skipped.total(),
            self.skipped.brief(),
            self.dropped.total(),
            self.dropped.brief(),
        )
    }
}

/// One line of the trace being built.
#[derive(Debug, Clone)]
struct Line {
    time: DateTime<FixedOffset>,
    device: String,
    seq: usize,
    topic: String,
    payload: Value,
}

/// Imports the GPS log `input` as the trace file `out`, atomically.
pub fn import_file(
    input: &Path,
    out: &Path,
    options: &TraceOptions,
) -> Result<TraceSummary, ImportError> {
    let base = match &options.device {
        Some(name) if is_device_name(name) => name.clone(),
        Some(name) => {
            return Err(ImportError::Option(format!(
                "--device {name:?}: a device name is 1 to 64 of A-Z, a-z, 0-9, _ and -"
            )))
        }
        None => default_device(input),
    };
    for (flag, payload) in [
        ("--profile", &options.profile),
        ("--context", &options.context),
    ] {
        if payload.as_ref().is_some_and(|p| !p.is_object()) {
            return Err(ImportError::Option(format!("{flag}: not a JSON object")));
        }
    }
    let log = read_log(input)?;
    let (lines, summary) = trace_lines(log, &base, options);
    super::write_atomically(out, |file| {
        for line in &lines {
            write_line(file, line).map_err(ImportError::io(out))?;
        }
        Ok(summary)
    })
}

/// Reads a JSON object given on the command line (`--profile`, `--context`).
pub fn json_object(flag: &str, text: &str) -> Result<Value, ImportError> {
    match serde_json::from_str::<Value>(text) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(ImportError::Option(format!("{flag}: not a JSON object"))),
        Err(e) => Err(ImportError::Option(format!("{flag}: not JSON: {e}"))),
    }
}

/// The trace lines of a log, sorted by time, then device, then message order.
fn trace_lines(log: Log, base: &str, options: &TraceOptions) -> (Vec<Line>, TraceSummary) {
    let mut summary = TraceSummary {
        skipped: log.skipped,
        ..TraceSummary::default()
    };
    let mut fixes = log.fixes;
    if let Some(start) = options.start {
        if let Some(first) = fixes.iter().map(|f| f.time).min() {
            let shift = start.signed_duration_since(first);
            for fix in &mut fixes {
                fix.time = (fix.time + shift).with_timezone(start.offset());
            }
        }
    }

    // Tracks in order of first appearance.
    let mut order: HashMap<Option<String>, usize> = HashMap::new();
    let mut tracks: Vec<(Option<String>, Vec<Fix>)> = Vec::new();
    for fix in fixes {
        let slot = *order.entry(fix.track.clone()).or_insert_with(|| {
            tracks.push((fix.track.clone(), Vec::new()));
            tracks.len() - 1
        });
        tracks[slot].1.push(fix);
    }
    let names = device_names(base, tracks.iter().map(|(t, _)| t.as_deref()));

    let mut lines = Vec::new();
    for ((_, fixes), device) in tracks.into_iter().zip(names) {
        let positions = positions(&device, fixes, &mut summary.dropped);
        let Some(first) = positions.first().map(|(time, _)| *time) else {
            continue;
        };
        summary.devices += 1;
        summary.positions += positions.len();
        let mut seq = 0;
        let mut push = |time, kind: &str, payload| {
            lines.push(Line {
                time,
                device: device.clone(),
                seq,
                topic: format!("{TOPIC_PREFIX}/{device}/{kind}"),
                payload,
            });
            seq += 1;
        };
        if let Some(profile) = &options.profile {
            push(first, "profile", profile.clone());
        }
        if let Some(context) = &options.context {
            push(first, "context", context.clone());
        }
        for (time, payload) in positions {
            push(time, "position", payload);
        }
    }
    lines.sort_by(|a, b| (a.time, &a.device, a.seq).cmp(&(b.time, &b.device, b.seq)));
    summary.lines = lines.len();
    summary.first = lines.first().map(|l| stamp(l.time));
    summary.last = lines.last().map(|l| stamp(l.time));
    (lines, summary)
}

/// The position payloads of one device's fixes, bad fixes dropped.
fn positions(
    device: &str,
    fixes: Vec<Fix>,
    dropped: &mut Tally,
) -> Vec<(DateTime<FixedOffset>, Value)> {
    let mut out = Vec::with_capacity(fixes.len());
    let mut last: Option<(DateTime<FixedOffset>, LatLon)> = None;
    let mut anchor: Option<LatLon> = None;
    let mut jumps = 0;
    for fix in fixes {
        let example = || format!("{device} at {}", stamp(fix.time));
        let mut derived_speed = None;
        if let Some((time, place)) = last {
            let dt = (fix.time - time).num_milliseconds() as f64 / 1000.0;
            if dt <= 0.0 {
                dropped.add("time not after the previous fix", example());
                continue;
            }
            let speed = distance_m(place, fix.at) / dt;
            if speed > MAX_SPEED_MPS {
                if jumps < MAX_CONSECUTIVE_JUMPS {
                    jumps += 1;
                    dropped.add("jump faster than 70 m/s", example());
                    continue;
                }
                // The jumps were the truth: start again from here.
                anchor = None;
            } else {
                derived_speed = Some(speed);
            }
        }
        jumps = 0;
        last = Some((fix.time, fix.at));

        let speed = fix
            .speed
            .filter(|s| s.is_finite() && *s >= 0.0)
            .or(derived_speed);
        let mut heading = fix
            .heading
            .filter(|h| h.is_finite())
            .map(|h| h.rem_euclid(360.0));
        match anchor {
            Some(from) if distance_m(from, fix.at) >= MIN_HEADING_MOVE_M => {
                heading = heading.or(Some(bearing_deg(from, fix.at)));
                anchor = Some(fix.at);
            }
            Some(_) => {}
            None => anchor = Some(fix.at),
        }

        let at = stamp(fix.time);
        let mut payload = Map::new();
        payload.insert("lat".into(), fix.at.lat.into());
        payload.insert("lon".into(), fix.at.lon.into());
        if let Some(h) = heading {
            // One decimal, and 359.96 must not round to 360.
            payload.insert(
                "heading".into(),
                ((h * 10.0).round() / 10.0).rem_euclid(360.0).into(),
            );
        }
        if let Some(s) = speed {
            payload.insert("speed".into(), ((s * 100.0).round() / 100.0).into());
        }
        payload.insert("ts".into(), Value::String(at));
        out.push((fix.time, Value::Object(payload)));
    }
    out
}

/// One device name per track: the base alone for a single track, else
/// `{base}-{track}` (track ids reduced to the characters a device name allows).
fn device_names<'a>(
    base: &str,
    tracks: impl ExactSizeIterator<Item = Option<&'a str>>,
) -> Vec<String> {
    if tracks.len() <= 1 {
        return vec![base.to_string(); tracks.len()];
    }
    let mut taken = HashSet::new();
    tracks
        .enumerate()
        .map(|(index, track)| {
            let mut suffix = track.map(sanitize).unwrap_or_default();
            if suffix.is_empty() || taken.contains(&suffix) {
                suffix = format!("{suffix}{index}");
            }
            taken.insert(suffix.clone());
            let room = 64usize.saturating_sub(suffix.len() + 1).max(1);
            let prefix: String = base.chars().take(room).collect();
            let mut name = format!("{prefix}-{suffix}");
            name.truncate(64);
            name
        })
        .collect()
}

/// The file's name as a device name.
fn default_device(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| sanitize(&s.to_string_lossy()))
        .unwrap_or_default();
    let stem: String = stem.chars().take(64).collect();
    if stem.is_empty() {
        "device".into()
    } else {
        stem
    }
}

fn sanitize(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        .collect()
}

fn is_device_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && sanitize(name).len() == name.len()
}

fn stamp(time: DateTime<FixedOffset>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn write_line(out: &mut impl Write, line: &Line) -> std::io::Result<()> {
    let json = serde_json::json!({
        "at": stamp(line.time),
        "topic": line.topic,
        "payload": line.payload,
    });
    serde_json::to_writer(&mut *out, &json)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::gps::parse_time;

    fn fix(track: &str, time: &str, lat: f64, lon: f64) -> Fix {
        Fix {
            track: Some(track.into()),
            time: parse_time(time).unwrap(),
            at: LatLon::new(lat, lon),
            speed: None,
            heading: None,
        }
    }

    #[test]
    fn jumps_and_repeated_times_are_dropped_and_speed_and_heading_derived() {
        let log = Log {
            fixes: vec![
                fix("a", "2020-01-01T10:00:00Z", 48.0, 11.0),
                fix("a", "2020-01-01T10:00:10Z", 48.001, 11.0),
                fix("a", "2020-01-01T10:00:10Z", 48.002, 11.0),
                fix("a", "2020-01-01T10:00:20Z", 49.0, 11.0),
                fix("a", "2020-01-01T10:00:30Z", 48.002, 11.0),
            ],
            skipped: Tally::default(),
        };
        let (lines, summary) = trace_lines(log, "car", &TraceOptions::default());
        assert_eq!(summary.positions, 3);
        assert_eq!(summary.dropped.count("time not after the previous fix"), 1);
        assert_eq!(summary.dropped.count("jump faster than 70 m/s"), 1);
        assert_eq!(lines[0].topic, "kairos/car/position");
        assert!(lines[0].payload.get("heading").is_none());
        assert_eq!(lines[1].payload["heading"], 0.0);
        let speed = lines[1].payload["speed"].as_f64().unwrap();
        assert!((speed - 11.12).abs() < 0.01, "{speed}");
    }

    #[test]
    fn several_tracks_become_devices_merged_in_time_order_with_a_profile_first() {
        let log = Log {
            fixes: vec![
                fix("1", "2020-01-01T10:00:05Z", 48.0, 11.0),
                fix("1", "2020-01-01T10:00:15Z", 48.0, 11.0),
                fix("\\x02", "2020-01-01T10:00:10+01:00", 48.0, 11.0),
            ],
            skipped: Tally::default(),
        };
        let options = TraceOptions {
            device: None,
            start: None,
            profile: Some(serde_json::json!({"consent": true})),
            context: None,
        };
        let (lines, summary) = trace_lines(log, "hof", &options);
        assert_eq!(summary.devices, 2);
        let order: Vec<_> = lines
            .iter()
            .map(|l| (stamp(l.time), l.topic.clone()))
            .collect();
        assert_eq!(
            order,
            vec![
                (
                    "2020-01-01T10:00:10+01:00".into(),
                    "kairos/hof-x02/profile".into()
                ),
                (
                    "2020-01-01T10:00:10+01:00".into(),
                    "kairos/hof-x02/position".into()
                ),
                ("2020-01-01T10:00:05Z".into(), "kairos/hof-1/profile".into()),
                (
                    "2020-01-01T10:00:05Z".into(),
                    "kairos/hof-1/position".into()
                ),
                (
                    "2020-01-01T10:00:15Z".into(),
                    "kairos/hof-1/position".into()
                ),
            ]
        );
    }

    #[test]
    fn a_start_shifts_the_whole_log_into_its_offset() {
        let log = Log {
            fixes: vec![
                fix("a", "2014-09-10 06:54:07+0200", 48.0, 11.0),
                fix("a", "2014-09-10 06:54:08+0200", 48.0, 11.0),
            ],
            skipped: Tally::default(),
        };
        let options = TraceOptions {
            start: DateTime::parse_from_rfc3339("2026-07-15T12:00:00+02:00").ok(),
            ..TraceOptions::default()
        };
        let (lines, _) = trace_lines(log, "car", &options);
        assert_eq!(stamp(lines[1].time), "2026-07-15T12:00:01+02:00");
        assert_eq!(lines[1].payload["ts"], "2026-07-15T12:00:01+02:00");
    }

    #[test]
    fn device_names_are_checked_and_derived() {
        assert!(is_device_name("hof-12_a"));
        assert!(!is_device_name("hof/12"));
        assert!(!is_device_name(""));
        assert_eq!(default_device(Path::new("/x/x0001-001.json")), "x0001-001");
        let long = "a".repeat(80);
        let names = device_names(&long, [Some("1"), Some("2")].into_iter());
        assert!(names.iter().all(|n| is_device_name(n)), "{names:?}");
    }
}

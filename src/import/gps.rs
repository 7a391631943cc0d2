//! GPS logs read into timed fixes: CSV (an optional track `id` column, a `time`
//! column, and a WKT `geometry` POINT or `lat`/`lon` columns, as in the Hof
//! floating-car data), barefoot JSON (`[{"point": "POINT(lon lat)", "time", "id"}]`)
//! and GPX (track, route and waypoints, read with `quick-xml`).
//!
//! The format is chosen by extension (`.csv`, `.json`, `.gpx`), else by the first
//! byte (`<` GPX, `[` JSON, otherwise CSV). A record that cannot be read (no
//! time, no position) is counted by reason and skipped; times keep the offset
//! the log wrote, and a time without one is UTC.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

use super::{ImportError, Tally};
use kairos_core::geodesy::LatLon;

/// One timed position from a log.
#[derive(Debug, Clone, PartialEq)]
pub struct Fix {
    /// The log's track or vehicle id, when it has one.
    pub track: Option<String>,
    /// When, with the offset the log gave (UTC when it gave none).
    pub time: DateTime<FixedOffset>,
    /// Where.
    pub at: LatLon,
    /// Speed in m/s, when the log gives it.
    pub speed: Option<f64>,
    /// Heading in degrees from true north, when the log gives it.
    pub heading: Option<f64>,
}

/// The fixes of a log, in file order, with the records skipped by reason.
#[derive(Debug, Default)]
pub struct Log {
    /// Fixes in file order.
    pub fixes: Vec<Fix>,
    /// Records that could not be read, by reason.
    pub skipped: Tally,
}

/// Reads a GPS log, choosing the format by extension or first byte.
pub fn read_log(path: &Path) -> Result<Log, ImportError> {
    let file = std::fs::File::open(path).map_err(ImportError::io(path))?;
    let mut input = BufReader::with_capacity(1 << 16, file);
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let first = input
        .fill_buf()
        .map_err(ImportError::io(path))?
        .iter()
        .find(|b| !b.is_ascii_whitespace() && **b != 0xEF && **b != 0xBB && **b != 0xBF)
        .copied();
    match (extension.as_deref(), first) {
        (Some("gpx"), _) | (_, Some(b'<')) => read_gpx(path, input),
        (Some("json"), _) | (_, Some(b'[')) => read_barefoot(path, input),
        _ => read_csv(path, input),
    }
}

/// Reads a CSV log with a header row.
pub fn read_csv(path: &Path, input: impl Read) -> Result<Log, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input);
    let headers = reader
        .headers()
        .map_err(|e| ImportError::format(path, format!("no CSV header: {e}")))?
        .clone();
    let column = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
    };
    let track = column(&["id", "track", "track_id", "vehicle", "device"]);
    let time = column(&["time", "timestamp", "datetime", "ts"])
        .ok_or_else(|| ImportError::format(path, "no `time` column in the CSV header"))?;
    let geometry = column(&["geometry", "wkt", "geom", "point"]);
    let lat_lon = column(&["lat", "latitude"]).zip(column(&["lon", "lng", "longitude"]));
    if geometry.is_none() && lat_lon.is_none() {
        return Err(ImportError::format(
            path,
            "no `geometry` (WKT POINT) or `lat`/`lon` columns in the CSV header",
        ));
    }
    let speed = column(&["speed"]);
    let heading = column(&["heading", "course", "bearing"]);

    let mut log = Log::default();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        let record = match record {
            Ok(r) => r,
            Err(_) => {
                log.skipped.add("row unreadable", format!("line {line}"));
                continue;
            }
        };
        let field = |i: Option<usize>| i.and_then(|i| record.get(i)).filter(|s| !s.is_empty());
        let Some(when) = field(Some(time)).and_then(parse_time) else {
            log.skipped.add("no readable time", format!("line {line}"));
            continue;
        };
        let at = match (field(geometry), lat_lon) {
            (Some(wkt), _) => wkt_point(wkt),
            (None, Some((lat, lon))) => field(Some(lat))
                .and_then(|t| t.parse().ok())
                .zip(field(Some(lon)).and_then(|t| t.parse().ok()))
                .map(|(lat, lon)| LatLon::new(lat, lon)),
            (None, None) => None,
        };
        let Some(at) = at.filter(LatLon::is_valid) else {
            log.skipped
                .add("no readable position", format!("line {line}"));
            continue;
        };
        log.fixes.push(Fix {
            track: field(track).map(str::to_string),
            time: when,
            at,
            speed: field(speed).and_then(|s| s.parse().ok()),
            heading: field(heading).and_then(|s| s.parse().ok()),
        });
    }
    Ok(log)
}

/// Reads a barefoot JSON log: an array of `{"point": WKT, "time", "id"?}` (or
/// `lat`/`lon` fields instead of `point`).
pub fn read_barefoot(path: &Path, input: impl Read) -> Result<Log, ImportError> {
    let items: Vec<Value> = serde_json::from_reader(input)
        .map_err(|e| ImportError::format(path, format!("not a JSON array of samples: {e}")))?;
    let mut log = Log::default();
    for (index, item) in items.iter().enumerate() {
        let example = format!("sample {index}");
        let time = match item.get("time") {
            Some(Value::String(s)) => parse_time(s),
            Some(Value::Number(n)) => n.as_f64().and_then(epoch),
            _ => None,
        };
        let Some(time) = time else {
            log.skipped.add("no readable time", example);
            continue;
        };
        let at = match item.get("point") {
            Some(Value::String(wkt)) => wkt_point(wkt),
            _ => item
                .get("lat")
                .and_then(Value::as_f64)
                .zip(item.get("lon").and_then(Value::as_f64))
                .map(|(lat, lon)| LatLon::new(lat, lon)),
        };
        let Some(at) = at.filter(LatLon::is_valid) else {
            log.skipped.add("no readable position", example);
            continue;
        };
        let track = match item.get("id") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        log.fixes.push(Fix {
            track,
            time,
            at,
            speed: item.get("speed").and_then(Value::as_f64),
            heading: item.get("heading").and_then(Value::as_f64),
        });
    }
    Ok(log)
}

/// Reads the points of a GPX file (`trkpt`, `rtept`, `wpt`) with their `time`,
/// and `speed`/`course` where given (GPX 1.0, or any extension of that name).
pub fn read_gpx(path: &Path, input: impl BufRead) -> Result<Log, ImportError> {
    use quick_xml::events::Event;

    #[derive(Default)]
    struct Open {
        at: Option<LatLon>,
        time: Option<String>,
        speed: Option<f64>,
        heading: Option<f64>,
    }

    let mut reader = quick_xml::Reader::from_reader(input);
    let mut buf = Vec::new();
    let mut point: Option<Open> = None;
    let mut field: Option<&'static str> = None;
    let mut log = Log::default();
    let mut count = 0usize;
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| ImportError::format(path, format!("not readable GPX: {e}")))?;
        match event {
            Event::Start(e) if is_point(&e) => {
                point = Some(Open {
                    at: point_position(&e),
                    ..Open::default()
                });
            }
            Event::Empty(e) if is_point(&e) => {
                finish_point(&mut log, count, point_position(&e), None, None, None);
                count += 1;
            }
            Event::Start(e) if point.is_some() => {
                field = match e.local_name().as_ref() {
                    "time" => Some("time"),
                    "speed" => Some("speed"),
                    "course" => Some("course"),
                    _ => None,
                };
            }
            Event::Text(text) => {
                if let (Some(open), Some(name)) = (point.as_mut(), field) {
                    let text = text.xml10_content();
                    let text = text.trim();
                    match name {
                        "time" => open.time = Some(text.to_string()),
                        "speed" => open.speed = text.parse().ok(),
                        _ => open.heading = text.parse().ok(),
                    }
                }
            }
            Event::End(e) => {
                let name = e.local_name();
                if matches!(name.as_ref(), "trkpt" | "rtept" | "wpt") {
                    if let Some(open) = point.take() {
                        finish_point(
                            &mut log,
                            count,
                            open.at,
                            open.time,
                            open.speed,
                            open.heading,
                        );
                        count += 1;
                    }
                }
                field = None;
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(log)
}

fn is_point(e: &quick_xml::events::BytesStart) -> bool {
    matches!(e.local_name().as_ref(), "trkpt" | "rtept" | "wpt")
}

fn point_position(e: &quick_xml::events::BytesStart) -> Option<LatLon> {
    let (mut lat, mut lon) = (None, None);
    for attribute in e.attributes().flatten() {
        match attribute.key.local_name().as_ref() {
            "lat" => lat = attribute.value.trim().parse::<f64>().ok(),
            "lon" => lon = attribute.value.trim().parse::<f64>().ok(),
            _ => {}
        }
    }
    lat.zip(lon).map(|(lat, lon)| LatLon::new(lat, lon))
}

fn finish_point(
    log: &mut Log,
    index: usize,
    at: Option<LatLon>,
    time: Option<String>,
    speed: Option<f64>,
    heading: Option<f64>,
) {
    let example = format!("point {index}");
    let Some(time) = time.as_deref().and_then(parse_time) else {
        log.skipped.add("no readable time", example);
        return;
    };
    let Some(at) = at.filter(LatLon::is_valid) else {
        log.skipped.add("no readable position", example);
        return;
    };
    log.fixes.push(Fix {
        track: None,
        time,
        at,
        speed,
        heading,
    });
}

/// A time as logs write it: RFC 3339, `2019-03-11 08:33:24+00:00`,
/// `2014-09-10 06:54:07+0200`, without an offset (UTC), or Unix seconds.
pub fn parse_time(text: &str) -> Option<DateTime<FixedOffset>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t);
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t);
        }
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(Utc.from_utc_datetime(&t).fixed_offset());
        }
    }
    text.parse::<f64>().ok().and_then(epoch)
}

/// Unix seconds (or milliseconds, for values too large to be seconds) as UTC.
fn epoch(value: f64) -> Option<DateTime<FixedOffset>> {
    let seconds = if value.abs() > 1e11 {
        value / 1000.0
    } else {
        value
    };
    if !seconds.is_finite() {
        return None;
    }
    let millis = (seconds * 1000.0).round();
    if millis.abs() > 1e15 {
        return None;
    }
    DateTime::from_timestamp_millis(millis as i64).map(|t| t.fixed_offset())
}

/// `POINT (lon lat)` (optionally with `SRID=...;`, a `Z`/`M` and extra ordinates).
pub fn wkt_point(text: &str) -> Option<LatLon> {
    let text = text.trim();
    let text = text.rsplit_once(';').map_or(text, |(_, rest)| rest).trim();
    let rest = text
        .get(..5)?
        .eq_ignore_ascii_case("POINT")
        .then(|| &text[5..])?;
    let inner = rest.trim().trim_start_matches(['Z', 'M', 'z', 'm']).trim();
    let inner = inner.strip_prefix('(')?.strip_suffix(')')?;
    let mut numbers = inner.split_whitespace().map(|n| n.parse::<f64>());
    let lon = numbers.next()?.ok()?;
    let lat = numbers.next()?.ok()?;
    Some(LatLon::new(lat, lon))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_times_keep_their_offset_and_default_to_utc() {
        let t = parse_time("2014-09-10 06:54:07+0200").unwrap();
        assert_eq!(t.to_rfc3339(), "2014-09-10T06:54:07+02:00");
        let t = parse_time("2019-03-11 08:33:24+00:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2019-03-11T08:33:24+00:00");
        let t = parse_time("2020-12-18T06:15:50Z").unwrap();
        assert_eq!(t.offset().local_minus_utc(), 0);
        let t = parse_time("2020-12-18 06:15:50.5").unwrap();
        assert_eq!(t.to_rfc3339(), "2020-12-18T06:15:50.500+00:00");
        assert!(parse_time("yesterday").is_none());
        assert_eq!(parse_time("1600000000").unwrap().timestamp(), 1_600_000_000);
    }

    #[test]
    fn wkt_points_are_lon_then_lat() {
        let p = wkt_point("POINT (11.925816 50.301888)").unwrap();
        assert_eq!((p.lat, p.lon), (50.301888, 11.925816));
        assert!(wkt_point("SRID=4326;POINT Z(1 2 3)").is_some());
        assert!(wkt_point("LINESTRING (1 2, 3 4)").is_none());
        assert!(wkt_point("POINT EMPTY").is_none());
        assert!(wkt_point("").is_none());
    }

    #[test]
    fn a_gpx_track_gives_its_timed_points() {
        let gpx = r#"<?xml version="1.0"?><gpx version="1.1"><trk><trkseg>
            <trkpt lat="45.27" lon="13.71"><ele>211</ele><time>2020-12-18T06:15:50Z</time></trkpt>
            <trkpt lat="45.28" lon="13.72"/>
            <trkpt lat="45.29" lon="13.73"><time>2020-12-18T06:16:00Z</time><speed>3.5</speed></trkpt>
        </trkseg></trk></gpx>"#;
        let log = read_gpx(Path::new("t.gpx"), gpx.as_bytes()).unwrap();
        assert_eq!(log.fixes.len(), 2);
        assert_eq!(log.fixes[1].speed, Some(3.5));
        assert_eq!(log.skipped.count("no readable time"), 1);
    }

    #[test]
    fn csv_rows_without_time_or_position_are_skipped() {
        let csv = "id,time,geometry\n0,2019-03-11 08:33:24+00:00,POINT (11.9 50.3)\n0,,POINT (1 2)\n1,2019-03-11 08:33:25+00:00,nowhere\n";
        let log = read_csv(Path::new("t.csv"), csv.as_bytes()).unwrap();
        assert_eq!(log.fixes.len(), 1);
        assert_eq!(log.fixes[0].track.as_deref(), Some("0"));
        assert_eq!(log.skipped.total(), 2);
        assert!(read_csv(Path::new("t.csv"), "a,b\n1,2\n".as_bytes()).is_err());
    }
}

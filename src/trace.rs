//! Trace files (JSON Lines): reading recorded inputs and writing published
//! outputs, in SPEC's shape `{"at", "topic", "payload" | "payload_raw"}`.

use std::borrow::Cow;
use std::io::Write;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use kairos_core::output::{Body, Publish};
use kairos_core::Stamp;

/// One input line of a trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEvent<'a> {
    /// When it was received.
    pub at: Stamp,
    /// The topic.
    pub topic: Cow<'a, str>,
    /// The payload bytes: a JSON payload's text as written, or `payload_raw`.
    pub payload: Cow<'a, [u8]>,
}

#[derive(Deserialize)]
struct RawLine<'a> {
    #[serde(borrow)]
    at: Option<Cow<'a, str>>,
    #[serde(borrow)]
    topic: Option<Cow<'a, str>>,
    /// Present-but-`null` stays `Some("null")`: a JSON `null` payload is an input
    /// (answered `wrong_type`), not an absent one.
    #[serde(borrow, default, deserialize_with = "present")]
    payload: Option<&'a RawValue>,
    #[serde(borrow)]
    payload_raw: Option<Cow<'a, str>>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Reads one trace line; the error says what is wrong with it.
pub fn parse_line(line: &str) -> Result<TraceEvent<'_>, String> {
    let raw: RawLine = serde_json::from_str(line).map_err(|e| format!("not a JSON object: {e}"))?;
    let at_text = raw.at.ok_or("no `at`")?;
    let at = Stamp::parse(&at_text)
        .ok_or_else(|| format!("`at` {at_text:?} is not an RFC 3339 date-time with offset"))?;
    let topic = raw.topic.ok_or("no `topic`")?;
    let payload: Cow<[u8]> = match (raw.payload, raw.payload_raw) {
        (Some(json), _) => Cow::Borrowed(json.get().as_bytes()),
        (None, Some(Cow::Borrowed(text))) => Cow::Borrowed(text.as_bytes()),
        (None, Some(Cow::Owned(text))) => Cow::Owned(text.into_bytes()),
        (None, None) => Cow::Borrowed(&[]),
    };
    Ok(TraceEvent { at, topic, payload })
}

#[derive(Serialize)]
struct OutLine<'a> {
    at: &'a str,
    topic: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<&'a Body>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_raw: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    retain: bool,
}

/// Writes one published message as a trace line.
pub fn write_publish(out: &mut impl Write, at: &str, publish: &Publish) -> std::io::Result<()> {
    let empty = matches!(publish.body, Body::Empty);
    let line = OutLine {
        at,
        topic: &publish.topic,
        payload: (!empty).then_some(&publish.body),
        payload_raw: empty.then_some(""),
        retain: publish.retain,
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.write_all(b"\n")
}

/// Writes one received message as a trace line (what `record` does): JSON payloads
/// as `payload`, anything else as `payload_raw`.
pub fn write_input(
    out: &mut impl Write,
    at: &str,
    topic: &str,
    payload: &[u8],
) -> std::io::Result<()> {
    #[derive(Serialize)]
    struct InLine<'a> {
        at: &'a str,
        topic: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        payload: Option<&'a RawValue>,
        #[serde(skip_serializing_if = "Option::is_none")]
        payload_raw: Option<Cow<'a, str>>,
    }
    let json = std::str::from_utf8(payload)
        .ok()
        .filter(|t| !t.trim().is_empty())
        .and_then(|t| serde_json::from_str::<&RawValue>(t).ok());
    let line = InLine {
        at,
        topic,
        payload: json,
        payload_raw: json.is_none().then(|| String::from_utf8_lossy(payload)),
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_payload_is_kept_as_written_and_raw_text_as_bytes() {
        let e = parse_line(r#"{"at":"2026-07-15T14:00:00+02:00","topic":"kairos/a/position","payload":{"lat": 1, "lon": 2}}"#).unwrap();
        assert_eq!(&*e.payload, br#"{"lat": 1, "lon": 2}"#);
        let e = parse_line(
            r#"{"at":"2026-07-15T14:00:00Z","topic":"kairos/a/profile","payload_raw":""}"#,
        )
        .unwrap();
        assert!(e.payload.is_empty());
    }

    #[test]
    fn a_null_payload_is_kept_as_null_not_as_empty() {
        let e = parse_line(
            r#"{"at":"2026-07-15T14:00:00Z","topic":"kairos/a/profile","payload":null}"#,
        )
        .unwrap();
        assert_eq!(&*e.payload, b"null");
    }

    #[test]
    fn lines_without_a_valid_at_or_topic_are_refused() {
        assert!(parse_line("{}").is_err());
        assert!(parse_line(r#"{"at":"yesterday","topic":"t"}"#).is_err());
        assert!(parse_line(r#"{"at":"2026-07-15T14:00:00Z"}"#).is_err());
        assert!(parse_line("not json").is_err());
    }

    #[test]
    fn recorded_payloads_round_trip() {
        let mut out = Vec::new();
        write_input(
            &mut out,
            "2026-07-15T14:00:00Z",
            "kairos/a/context",
            br#"{"hungry":true}"#,
        )
        .unwrap();
        write_input(
            &mut out,
            "2026-07-15T14:00:00Z",
            "kairos/a/context",
            b"hungry!",
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(
            &*parse_line(lines[0]).unwrap().payload,
            br#"{"hungry":true}"#
        );
        assert_eq!(&*parse_line(lines[1]).unwrap().payload, b"hungry!");
    }
}

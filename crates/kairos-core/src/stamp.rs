//! The time of an event: the instant, and its text as received, which outputs
//! echo unchanged (SPEC: `at` is the input event's `at`).

use chrono::{DateTime, FixedOffset, Utc};

/// The time of an event: the instant, and its text as received (echoed in outputs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// The instant.
    pub time: DateTime<Utc>,
    /// RFC 3339 text with offset.
    pub text: String,
}

impl Stamp {
    /// Reads RFC 3339 text with an offset.
    pub fn parse(text: &str) -> Option<Self> {
        let t: DateTime<FixedOffset> = DateTime::parse_from_rfc3339(text).ok()?;
        Some(Self {
            time: t.to_utc(),
            text: text.to_string(),
        })
    }

    /// A stamp for an instant, written in UTC.
    pub fn from_utc(time: DateTime<Utc>) -> Self {
        Self {
            time,
            text: time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        }
    }
}

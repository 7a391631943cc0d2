//! What kairos holds about a device, on request (SPEC "Remembered tastes, and
//! what kairos holds"): the answer to `{prefix}/{device}/export`, published on
//! `{prefix}/{device}/data`.
//!
//! [`Data`] serialises with its keys in SPEC's order. It says whether a
//! position and a route are held, never what they are. Lists come sorted by
//! time, then id (`dismissed` and `blocked` hold no time: by id). Times kairos
//! keeps itself are written in UTC (`…Z`); `at` is the export's own, as received.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::device::{Device, Profile, SuggestionRecord, Timed, CONTEXT_TTL};
use crate::input::Action;
use crate::stamp::Stamp;
use crate::tastes::FORGOTTEN_BELOW;

/// The payload of `{prefix}/{device}/data`, keys in SPEC's order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Data {
    /// The device id.
    pub device: String,
    /// The export's time, as received.
    pub at: String,
    /// The profile held, in the shape it is published in; `null` for none.
    pub profile: Option<ProfileData>,
    /// The context fields still in force, with when each expires.
    pub context: BTreeMap<&'static str, ContextField>,
    /// Learned taste tags and their scores in force now.
    pub tastes: BTreeMap<String, Value>,
    /// Suggestions remembered, by time then id.
    pub suggestions: Vec<SuggestionData>,
    /// Offers dismissed for good, by merchant then offer.
    pub dismissed: Vec<DismissedData>,
    /// Merchants blocked for good, by id.
    pub blocked: Vec<String>,
    /// Whether a last position is held (not the position).
    pub has_position: bool,
    /// Whether a planned route is held (not the route).
    pub has_route: bool,
}

/// A profile as the device publishes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileData {
    /// `consent`
    pub consent: bool,
    /// `diet`
    pub diet: Vec<String>,
    /// `likes`, as `key=value`.
    pub likes: Vec<String>,
    /// `dislikes`, as `key=value`.
    pub dislikes: Vec<String>,
    /// `lang`
    pub lang: &'static str,
    /// `quiet_hours` as `HH:MM-HH:MM`, or `null`.
    pub quiet_hours: Option<String>,
    /// `min_gap_min`, or `null`.
    pub min_gap_min: Option<u32>,
    /// `max_per_day`, or `null`.
    pub max_per_day: Option<u32>,
    /// `learn`
    pub learn: bool,
}

/// One context field: its value and when it expires.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContextField {
    /// The value set.
    pub value: Value,
    /// When it expires: 2 h after it was set.
    pub expires: String,
}

/// One suggestion remembered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuggestionData {
    /// Its id.
    pub id: String,
    /// When it was made.
    pub at: String,
    /// The merchant's id.
    pub merchant: String,
    /// The offer's id.
    pub offer: String,
    /// The first feedback the person gave on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feedback: Option<Action>,
}

/// One offer dismissed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DismissedData {
    /// The merchant's id.
    pub merchant: String,
    /// The offer's id.
    pub offer: String,
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A score as a JSON number: a whole number without `.0`.
fn number(score: f64) -> Value {
    if score.fract() == 0.0 {
        Value::from(score as i64)
    } else {
        Value::from(score)
    }
}

fn profile_data(p: &Profile) -> ProfileData {
    ProfileData {
        consent: p.consent,
        diet: p.diet.clone(),
        likes: p.likes.iter().map(ToString::to_string).collect(),
        dislikes: p.dislikes.iter().map(ToString::to_string).collect(),
        lang: p.lang.code(),
        quiet_hours: p
            .quiet_hours
            .map(|q| format!("{}-{}", q.start.format("%H:%M"), q.end.format("%H:%M"))),
        min_gap_min: p.min_gap_min,
        max_per_day: p.max_per_day,
        learn: p.learn,
    }
}

fn field<T: Copy>(
    slot: &Option<Timed<T>>,
    now: DateTime<Utc>,
    value: impl Fn(T) -> Value,
) -> Option<ContextField> {
    slot.filter(|t| now < t.set_at + CONTEXT_TTL)
        .map(|t| ContextField {
            value: value(t.value),
            expires: time(t.set_at + CONTEXT_TTL),
        })
}

/// What kairos holds about `device` (`None`: nothing at all) at `at`.
pub fn data(id: &str, device: Option<&Device>, at: &Stamp) -> Data {
    let now = at.time;
    let empty = Device::default();
    let device = device.unwrap_or(&empty);
    let c = &device.context;
    let context = [
        ("hungry", field(&c.hungry, now, Value::from)),
        ("party", field(&c.party, now, Value::from)),
        ("trip", field(&c.trip, now, |t| Value::from(t.as_str()))),
    ]
    .into_iter()
    .filter_map(|(k, f)| f.map(|f| (k, f)))
    .collect();
    let mut records: Vec<&SuggestionRecord> = device.history.iter().collect();
    records.sort_by(|x, y| x.at.cmp(&y.at).then_with(|| x.id.cmp(&y.id)));
    let suggestions = records
        .into_iter()
        .map(|s| SuggestionData {
            id: s.id.clone(),
            at: time(s.at),
            merchant: s.merchant.clone(),
            offer: s.offer.clone(),
            feedback: s.feedback,
        })
        .collect();
    Data {
        device: id.to_string(),
        at: at.text.clone(),
        profile: device.profile.as_ref().map(profile_data),
        context,
        tastes: device
            .tastes
            .scores_at(now)
            .filter(|(_, score)| score.abs() >= FORGOTTEN_BELOW)
            .map(|(tag, score)| (tag.to_string(), number(score)))
            .collect(),
        suggestions,
        dismissed: device
            .dismissed
            .iter()
            .map(|(merchant, offer)| DismissedData {
                merchant: merchant.clone(),
                offer: offer.clone(),
            })
            .collect(),
        blocked: device.blocked.iter().cloned().collect(),
        has_position: device.position(now).is_some(),
        has_route: device.route.is_some(),
    }
}

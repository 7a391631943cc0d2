//! Delivery: a redelivered input is not applied twice (SPEC, "Delivery:
//! nothing lost, nothing twice").
//!
//! With an input's effects, the edge saves in the device's record what it
//! answered ([`Delivered`]): the packet that brought it (the MQTT session's
//! client id, the packet id and a hash of topic and payload) and the input's
//! own `mid`, if it has one. Before stepping an input, [`recall`] looks for it:
//!
//! - a publish the broker marked as a redelivery (DUP) whose client, packet id
//!   and hash match a saved one gets the saved answer again (same suggestion
//!   `id`, same `at`) and changes nothing;
//! - an input with a `mid` that the device already sent in the last 24 h is
//!   answered as the first time and changes nothing.
//!
//! Everything here is pure: the records live in [`PersistedDevice`], so a
//! store saves them with the effects in one write and `forget` erases them.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::device::PersistedDevice;

/// How long a `mid` is remembered.
pub const MID_TTL: Duration = Duration::hours(24);
/// Longest `mid`; a longer one, or one that is not a string, is refused with
/// an error (`input::parse_event`), like any other bad field.
pub const MID_MAX_CHARS: usize = 64;
/// Packet answers kept per device without a `mid` (the newest). A broker
/// redelivers only what was in flight when kairos stopped.
pub const PACKETS_KEPT: usize = 32;

/// How one input reached kairos, as the edge saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// The packet, for a QoS 1 publish (the only kind a broker redelivers).
    pub packet: Option<PacketRef>,
    /// The broker marked it as a redelivery (MQTT DUP flag).
    pub dup: bool,
    /// The input's own `"mid"`, when it has one of at most 64 characters.
    pub mid: Option<String>,
}

impl Delivery {
    /// Whether there is anything to remember an answer by.
    pub fn is_traceable(&self) -> bool {
        self.packet.is_some() || self.mid.is_some()
    }
}

/// The packet that brought an input: which session, which packet id, and a
/// hash of what it said (packet ids are reused once acknowledged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketRef {
    /// The MQTT client id of the session (each instance has its own).
    pub client: String,
    /// The MQTT packet id.
    pub pkid: u16,
    /// [`hash`] of topic and payload.
    pub hash: u64,
}

/// One output as it was given, kept to be given again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedPublish {
    /// Where.
    pub topic: String,
    /// The exact payload (UTF-8 JSON, or empty for a cleared retained message).
    pub payload: String,
    /// Retained.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retain: bool,
    /// Sent at QoS 1 (else 0).
    #[serde(default = "yes", skip_serializing_if = "Clone::clone")]
    pub at_least_once: bool,
}

fn yes() -> bool {
    true
}

/// An input applied, with what it was answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivered {
    /// When it was applied (its receive time).
    pub at: DateTime<Utc>,
    /// The packet that brought it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packet: Option<PacketRef>,
    /// Its `mid`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mid: Option<String>,
    /// What it was answered (may be nothing).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<SavedPublish>,
}

/// FNV-1a (64 bits) of `topic`, a zero byte and `payload`: stable across
/// builds and machines (it is stored).
pub fn hash(topic: &str, payload: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in topic.as_bytes().iter().chain(&[0u8]).chain(payload) {
        h ^= u64::from(*byte);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The `"mid"` of a payload: a string of 1 to [`MID_MAX_CHARS`] characters at
/// the top of a JSON object; anything else is no `mid`.
pub fn mid_of(payload: &[u8]) -> Option<String> {
    // Most inputs have none: skip the parse.
    if !payload.windows(5).any(|w| w == b"\"mid\"") {
        return None;
    }
    #[derive(Deserialize)]
    struct WithMid {
        mid: Option<serde_json::Value>,
    }
    let parsed: WithMid = serde_json::from_slice(payload).ok()?;
    match parsed.mid? {
        serde_json::Value::String(mid)
            if !mid.is_empty() && mid.chars().count() <= MID_MAX_CHARS =>
        {
            Some(mid)
        }
        _ => None,
    }
}

/// The saved answer to this input, when it was applied already: a DUP
/// publish whose packet matches, or a `mid` seen in the last 24 h.
pub fn recall<'a>(
    state: &'a PersistedDevice,
    delivery: &Delivery,
    now: DateTime<Utc>,
) -> Option<&'a [SavedPublish]> {
    let found = state.delivered.iter().rev().find(|d| {
        let by_mid = match (&delivery.mid, &d.mid) {
            (Some(mid), Some(saved)) => mid == saved && now - d.at < MID_TTL,
            _ => false,
        };
        let by_packet = delivery.dup
            && match (&delivery.packet, &d.packet) {
                (Some(packet), Some(saved)) => packet == saved,
                _ => false,
            };
        by_mid || by_packet
    })?;
    Some(&found.outputs)
}

/// Saves in `state` that this input was applied at `at` and answered
/// `outputs`; drops what is no longer needed (see [`prune`]). A packet id
/// seen again (the broker reuses them) replaces the older answer.
pub fn remember(
    state: &mut PersistedDevice,
    delivery: &Delivery,
    at: DateTime<Utc>,
    outputs: Vec<SavedPublish>,
) {
    if !delivery.is_traceable() {
        return;
    }
    if let Some(packet) = &delivery.packet {
        for d in &mut state.delivered {
            let same = d
                .packet
                .as_ref()
                .is_some_and(|p| p.client == packet.client && p.pkid == packet.pkid);
            if same {
                d.packet = None;
            }
        }
    }
    state.delivered.push(Delivered {
        at,
        packet: delivery.packet.clone(),
        mid: delivery.mid.clone(),
        outputs,
    });
    prune(state, at);
}

/// Keeps what may still be asked for at `now`: `mid`s for 24 h, and the
/// newest [`PACKETS_KEPT`] packet answers (none older than 24 h). True when
/// something was dropped.
pub fn prune(state: &mut PersistedDevice, now: DateTime<Utc>) -> bool {
    let before = state.delivered.len();
    let mut packets = 0;
    for d in state.delivered.iter_mut().rev() {
        if now - d.at >= MID_TTL {
            d.packet = None;
            d.mid = None;
        }
        if d.packet.is_some() {
            packets += 1;
            if packets > PACKETS_KEPT {
                d.packet = None;
            }
        }
    }
    state
        .delivered
        .retain(|d| d.packet.is_some() || d.mid.is_some());
    state.delivered.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn packet(pkid: u16, hash: u64) -> Delivery {
        Delivery {
            packet: Some(PacketRef {
                client: "kairos".into(),
                pkid,
                hash,
            }),
            dup: false,
            mid: None,
        }
    }

    fn answer(id: &str) -> Vec<SavedPublish> {
        vec![SavedPublish {
            topic: "kairos/d/suggestion".into(),
            payload: format!(r#"{{"id":"{id}"}}"#),
            retain: false,
            at_least_once: true,
        }]
    }

    #[test]
    fn a_redelivered_packet_gets_the_saved_answer_and_a_new_one_does_not() {
        let mut state = PersistedDevice::default();
        let now = at("2026-07-15T12:00:00Z");
        remember(&mut state, &packet(7, 1), now, answer("s-1"));
        let mut again = packet(7, 1);
        assert!(recall(&state, &again, now).is_none(), "not marked DUP");
        again.dup = true;
        assert_eq!(recall(&state, &again, now).unwrap(), answer("s-1"));
        // The same packet id on another message (reused after the ack).
        let mut other = packet(7, 2);
        other.dup = true;
        assert!(recall(&state, &other, now).is_none());
        remember(&mut state, &packet(7, 2), now, answer("s-2"));
        assert_eq!(recall(&state, &other, now).unwrap(), answer("s-2"));
        again.dup = true;
        assert!(recall(&state, &again, now).is_none(), "replaced");
    }

    #[test]
    fn a_mid_is_answered_as_the_first_time_for_24_hours() {
        let mut state = PersistedDevice::default();
        let now = at("2026-07-15T12:00:00Z");
        let with_mid = Delivery {
            mid: Some("m-1".into()),
            ..Delivery::default()
        };
        remember(&mut state, &with_mid, now, answer("s-1"));
        let later = now + Duration::hours(23);
        assert_eq!(recall(&state, &with_mid, later).unwrap(), answer("s-1"));
        let day_later = now + MID_TTL;
        assert!(recall(&state, &with_mid, day_later).is_none());
        assert!(prune(&mut state, day_later));
        assert!(state.delivered.is_empty());
    }

    #[test]
    fn only_the_newest_packet_answers_are_kept() {
        let mut state = PersistedDevice::default();
        let now = at("2026-07-15T12:00:00Z");
        for pkid in 0..(PACKETS_KEPT as u16 + 5) {
            remember(&mut state, &packet(pkid, 0), now, Vec::new());
        }
        assert_eq!(state.delivered.len(), PACKETS_KEPT);
        assert_eq!(state.delivered[0].packet.as_ref().unwrap().pkid, 5);
    }

    #[test]
    fn mids_are_read_from_the_top_of_an_object_only() {
        assert_eq!(mid_of(br#"{"lat":1,"mid":"a-1"}"#).as_deref(), Some("a-1"));
        assert_eq!(mid_of(br#"{"x":{"mid":"a"}}"#), None);
        assert_eq!(mid_of(br#"{"mid":5}"#), None);
        assert_eq!(mid_of(br#"{"mid":""}"#), None);
        let long = format!(r#"{{"mid":"{}"}}"#, "x".repeat(65));
        assert_eq!(mid_of(long.as_bytes()), None);
        assert_eq!(mid_of(b"not json \"mid\""), None);
        assert_ne!(hash("a", b"b"), hash("a", b"c"));
        assert_ne!(hash("ab", b""), hash("a", b"b"));
    }
}

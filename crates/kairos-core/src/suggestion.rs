//! A suggestion as published: built from the decision's choice, with its
//! message, reasons and deterministic id.

use crate::decide::{reasons, Choice};
use crate::device::Profile;
use crate::message::{message_text, road_message_text, Side};
use crate::output::{MerchantRef, OfferRef, Suggestion, TurnRef};
use crate::stamp::Stamp;

/// The payload for `choice`, made to `device_id` at `at`; `moving`: the
/// device moves with a heading; `roads`: a road network is loaded.
pub fn build_suggestion(
    device_id: &str,
    at: &Stamp,
    choice: &Choice,
    profile: &Profile,
    moving: bool,
    roads: bool,
) -> Suggestion {
    let lang = profile.lang;
    let title = choice.offer.title.in_lang(lang.code()).to_string();
    let place = &choice.place;
    let turn = place.turn.map(|t| TurnRef {
        side: Side::from(t.side),
        in_m: t.in_m.round().max(0.0) as u64,
        nth: t.nth,
    });
    let message = match (&place.road, place.side) {
        (Some(_), Some(side)) => road_message_text(&title, place.distance_m, side, turn, lang),
        _ => message_text(&title, place.distance_m, place.side, lang),
    };
    Suggestion {
        id: suggestion_id(device_id, at, &choice.merchant.id, &choice.offer.id),
        at: at.text.clone(),
        merchant: MerchantRef {
            id: choice.merchant.id.to_string(),
            name: choice.merchant.name.to_string(),
        },
        offer: OfferRef {
            id: choice.offer.id.to_string(),
            title,
        },
        message,
        lang: lang.code(),
        distance_m: place.distance_m.round() as u64,
        straight_m: place
            .road
            .is_some()
            .then(|| place.straight_m.round() as u64),
        bearing: (place.bearing.round() as u16) % 360,
        side: place.side,
        turn,
        eta_s: place.eta_s,
        reasons: reasons(choice, profile, moving, roads),
    }
}

/// A deterministic id from what the suggestion is (FNV-1a, 64 bits): the same
/// inputs give the same id in every replay and every instance.
pub fn suggestion_id(device: &str, at: &Stamp, merchant: &str, offer: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let millis = at.time.timestamp_millis().to_string();
    for part in [device, millis.as_str(), merchant, offer] {
        for byte in part.bytes().chain(std::iter::once(0)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("s-{hash:016x}")
}

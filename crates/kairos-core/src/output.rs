//! What kairos publishes: suggestions, "nothing" answers to `ask`, errors,
//! the data answering `export`, and the empty retained profile of `forget`,
//! with their JSON shapes.

use serde::Serialize;

use crate::message::Side;

/// A merchant as named in a suggestion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MerchantRef {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// An offer as named in a suggestion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OfferRef {
    /// Its id.
    pub id: String,
    /// Its title in the message's language.
    pub title: String,
}

/// The payload of `{prefix}/{device}/suggestion`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    /// Deterministic id (feedback names it).
    pub id: String,
    /// The input event's time, as received.
    pub at: String,
    /// The merchant.
    pub merchant: MerchantRef,
    /// The offer.
    pub offer: OfferRef,
    /// The sentence for the person.
    pub message: String,
    /// The message's language.
    pub lang: &'static str,
    /// Whole metres (by road when placed by road).
    pub distance_m: u64,
    /// Whole metres in a straight line, for a suggestion placed by road.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub straight_m: Option<u64>,
    /// Whole degrees from true north, device to merchant, in [0, 360).
    pub bearing: u16,
    /// Side of the road, for a moving device with a heading (by road: the
    /// merchant's side of its access road as the path arrives there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub side: Option<Side>,
    /// The first turn off the road the device is on, by road.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turn: Option<TurnRef>,
    /// Estimated seconds to arrival.
    pub eta_s: u64,
    /// On a planned route: metres along it to where the detour leaves it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub along_route_m: Option<u64>,
    /// On a planned route: metres of the detour (there and back).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detour_m: Option<u64>,
    /// On a planned route: seconds of the detour.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detour_s: Option<u64>,
    /// Why this one.
    pub reasons: Vec<String>,
}

pub use crate::message::TurnRef;

/// Why an `ask` got no suggestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoneReason {
    /// No profile, or consent is false.
    NoConsent,
    /// No position known.
    NoPosition,
    /// The last position is more than 2 min old.
    StalePosition,
    /// Nothing is eligible.
    NothingFits,
}

/// The answer to an `ask` that has nothing to offer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoSuggestion {
    /// Why.
    pub none: NoneReason,
    /// The input event's time.
    pub at: String,
}

/// The payload of `{prefix}/{device}/error`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorReport {
    /// SPEC's code.
    pub error: &'static str,
    /// A sentence for people.
    pub detail: String,
    /// The input topic.
    pub topic: String,
}

/// A payload to publish.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Body {
    /// A suggestion.
    Suggestion(Box<Suggestion>),
    /// An `ask` answered with nothing.
    NoSuggestion(NoSuggestion),
    /// An error.
    Error(ErrorReport),
    /// What kairos holds about a device (the answer to `export`).
    Data(Box<crate::export::Data>),
    /// The empty payload (clears a retained message).
    Empty,
}

impl Body {
    /// The bytes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Body::Empty => Vec::new(),
            body => serde_json::to_vec(body)
                .expect("serialising plain structs of strings and numbers cannot fail"),
        }
    }
}

/// One message for the broker.
#[derive(Debug, Clone, PartialEq)]
pub struct Publish {
    /// Where.
    pub topic: String,
    /// What.
    pub body: Body,
    /// Retained (only the cleared profile of `forget`).
    pub retain: bool,
}

impl Publish {
    /// Suggestions and answers go at least once; errors at most once.
    pub fn at_least_once(&self) -> bool {
        !matches!(self.body, Body::Error(_))
    }
}

/// What one input produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A message to publish.
    Publish(Publish),
    /// An input dropped without an answer (its topic names no valid device):
    /// the edge logs and counts it.
    Dropped {
        /// The input topic.
        topic: String,
        /// Why.
        reason: &'static str,
    },
}

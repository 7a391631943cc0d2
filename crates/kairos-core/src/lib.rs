//! # kairos-core
//!
//! The pure decision core of kairos: given the merchants in service, a
//! device's state, one typed input and the time it arrived, what to publish.
//! No clock, no IO, no randomness: `replay` and `serve` (in the `kairos`
//! crate, the edges) call exactly the same [`Engine::step`]. The crate
//! depends on no async runtime, MQTT client, store or file system, so the
//! compiler keeps the seam.
//!
//! - [`geodesy`]: distances, bearings and the side of the road on the sphere;
//!   unit vectors for the index.
//! - [`offers`]: offer files (GeoJSON with OSM tags, as text) read into
//!   merchants and offers; opening hours, time zones, audiences.
//! - [`index`] and [`tag_signature`]: R-trees over the merchants, split by the
//!   selective traits, with per-entry tag summaries.
//! - [`catalog`]: merchants plus their index, swapped whole on reload.
//! - [`stamp`]: the time of an event, as received.
//! - [`input`]: topics and payloads read into one typed input or a precise error.
//! - [`device`]: what kairos knows about one device, and the profile and
//!   context vocabulary.
//! - [`route`]: a planned route: where the device is on it, the corridor ahead.
//! - [`rules`]: SPEC's eligibility rules and the ranking score, one function each.
//! - [`decide`]: the search for the best eligible offer.
//! - [`message`]: the sentence a person reads, in English or French.
//! - [`suggestion`]: a suggestion payload built from the decision, with its id.
//! - [`feedback`]: what the person's feedback changes.
//! - [`tastes`]: tastes learned from feedback, and how they rank merchants.
//! - [`output`]: the payloads kairos publishes.
//! - [`export`]: what kairos holds about a device, the answer to `export`.
//! - [`roads`]: the road network: a compact graph, matching, access points,
//!   the fastest path by road and the turn a driver takes.
//! - [`engine`]: `Engine::step(input, at) -> outputs`, the one entry point.
//! - [`explain`]: why the decision picks what it picks, candidate by candidate.
//! - [`config`]: the engine's settings.

#![warn(missing_docs)]

pub mod catalog;
pub mod config;
pub mod decide;
pub mod delivery;
pub mod device;
pub mod engine;
pub mod explain;
pub mod export;
pub mod feedback;
pub mod geodesy;
pub mod index;
pub mod input;
pub mod message;
pub mod offers;
pub mod output;
pub mod roads;
pub mod route;
pub mod rules;
pub mod stamp;
pub mod suggestion;
pub mod tag_signature;
pub mod tastes;

pub use catalog::Catalog;
pub use config::EngineConfig;
pub use engine::Engine;
pub use stamp::Stamp;

//! # kairos
//!
//! A calm, context-aware, geolocated offer engine: devices publish where they
//! are and what they want; kairos answers with at most one suggestion, only
//! when something truly fits, and otherwise stays silent.
//!
//! # Layout
//!
//! The **core** is pure: no clock, no IO.
//!
//! - [`geodesy`]: distances, bearings and the side of the road on the sphere;
//!   unit vectors for the index.
//! - [`offers`]: offer files (GeoJSON with OSM tags) read into merchants and
//!   offers; opening hours, time zones, audiences.
//! - [`index`]: R-trees over the merchants, split by the selective traits.
//! - [`catalog`]: merchants plus their index, swapped whole on reload.
//! - [`input`]: topics and payloads read into typed events or precise errors.
//! - [`device`]: what kairos knows about one device.
//! - [`rules`]: SPEC's eligibility rules and the ranking score, one function each.
//! - [`decide`]: the search for the best eligible offer.
//! - [`message`]: the sentence a person reads, in English or French.
//! - [`suggestion`]: a suggestion payload built from the decision, with its id.
//! - [`feedback`]: what the person's feedback changes.
//! - [`output`]: the payloads kairos publishes.
//! - [`engine`]: `Engine::step(topic, payload, at) -> outputs`, the one entry point.
//! - [`config`]: the TOML configuration and its documented defaults.
//!
//! The **edges** do IO around the same engine:
//!
//! - [`trace`]: the JSON Lines trace format.
//! - [`replay`]: the engine over a trace on a virtual clock.
//! - [`check`]: offer file validation.
//! - [`report`]: `replay --html` and `check --html`, one self-contained HTML
//!   page with a map of the drive or of the offer files.
//! - [`serve`]: the engine live over MQTT (embedded rumqttd broker or an
//!   existing one), plus `demo` and `record`.
//! - [`store`]: durable device state (everything but positions) in a redb
//!   file or in Redis shared by several instances, with compare-and-set.
//! - [`import`]: real data into kairos's files: merchants from an OSM extract
//!   (`.osm.pbf`) or GeoJSON export as an offer file, and a trace from a GPS log
//!   (CSV, barefoot JSON, GPX), with what was dropped counted by reason.
//! - [`gen`]: benchmark load at any scale: real city sets tiled over many
//!   European city centres, and devices' drives as a trace.

#![warn(missing_docs)]

pub mod catalog;
pub mod check;
pub mod config;
pub mod decide;
pub mod device;
pub mod engine;
pub mod feedback;
pub mod gen;
pub mod geodesy;
pub mod import;
pub mod index;
pub mod input;
pub mod message;
pub mod offers;
pub mod output;
pub mod replay;
pub mod report;
pub mod rules;
pub mod serve;
pub mod store;
pub mod suggestion;
pub mod tag_signature;
pub mod trace;

pub use catalog::Catalog;
pub use config::Config;
pub use engine::{Engine, Stamp};

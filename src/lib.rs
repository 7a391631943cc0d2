//! # kairos
//!
//! A calm, context-aware, geolocated offer engine: devices publish where they
//! are and what they want; kairos answers with at most one suggestion, only
//! when something truly fits, and otherwise stays silent.
//!
//! # Layout
//!
//! The decision is made by the pure core, the crate `kairos-core` (no clock,
//! no IO; its modules are re-exported here under the same names, so
//! `kairos::engine::Engine` is `kairos_core::engine::Engine`). This crate is
//! the **edges** that do IO around that same engine:
//!
//! - [`config`]: the TOML configuration file, read raw then validated, and
//!   its documented defaults.
//! - [`trace`]: the JSON Lines trace format.
//! - [`replay`]: the engine over a trace on a virtual clock.
//! - [`check`]: offer file validation.
//! - [`explain`]: `kairos explain`, the decision for one device explained.
//! - [`report`]: `replay --html` and `check --html`, one self-contained HTML
//!   page with a map of the drive or of the offer files.
//! - [`serve`]: the engine live over MQTT (embedded rumqttd broker or an
//!   existing one), plus `demo` and `record`.
//! - [`store`]: durable device state (everything but positions) in a redb
//!   file or in Redis shared by several instances, with compare-and-set.
//! - [`import`]: real data into kairos's files: merchants from an OSM extract
//!   (`.osm.pbf`) or GeoJSON export as an offer file, and a trace from a GPS log
//!   (CSV, barefoot JSON, GPX), with what was dropped counted by reason.
//! - [`progress`]: progress of long work on a terminal's stderr.
//! - [`gen`]: benchmark load at any scale: real city sets tiled over many
//!   European city centres, and devices' drives as a trace.

#![warn(missing_docs)]

pub use kairos_core::{
    catalog, decide, delivery, device, engine, export, feedback, geodesy, index, input, message,
    offers, output, roads, rules, stamp, suggestion, tag_signature, tastes,
};
pub use kairos_core::{Catalog, Engine, EngineConfig, Stamp};

pub mod check;
pub mod config;
pub mod explain;
pub mod gen;
pub mod import;
pub mod progress;
pub mod replay;
pub mod report;
pub mod serve;
pub mod store;
pub mod trace;

pub use config::Config;

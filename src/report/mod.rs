//! Map reports: one self-contained HTML page that shows a replay (`kairos replay
//! --html`) or the problems of offer files (`kairos check --html`) on a map.
//!
//! - [`model`]: what a report shows, as plain values ([`Report`]).
//! - [`recorder`]: a [`Recorder`] that listens to a replay, and the
//!   [`Explainer`] seam where `explain` plugs in.
//! - [`replay`]: [`from_replay`], the report built from what it heard.
//! - [`explained`]: [`EngineExplainer`], the `explain` code plugged into that seam.
//! - [`check`]: [`from_check`], the offer files' features and their problems.
//! - [`projection`]: metres east and north, scaled by cos(latitude).
//! - [`render()`]: the page itself (inline CSS, SVG and script; no network).
//!
//! Only [`write`] and [`from_check`] touch files; the rest is pure.

pub mod check;
pub mod explained;
pub mod model;
pub mod projection;
pub mod recorder;
pub mod render;
pub mod replay;

use std::path::Path;

pub use check::{from_check, from_check_texts};
pub use explained::EngineExplainer;
pub use model::{
    Candidate, Drive, DrivePoint, EventKind, Explanation, MapMerchant, MapProblem, MapSuggestion,
    MerchantStatus, Report, TimelineEvent, Verdict,
};
pub use recorder::{Explainer, NoExplanation, Recorder};
pub use render::render;
pub use replay::{from_replay, roads_near};

/// Writes the page of `report` to `path`.
pub fn write(path: &Path, report: &Report) -> std::io::Result<()> {
    std::fs::write(path, render(report))
}

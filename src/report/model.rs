//! What a map report shows, as plain values: the drives, the merchants, the
//! suggestions with their explanations, the timeline, the roads and the problems.
//!
//! Builders fill it ([`crate::report::from_replay`], [`crate::report::from_check`]) and
//! anyone may add to it before [`crate::report::render`] turns it into a page: the
//! types carry no behaviour and no IO.

use crate::geodesy::LatLon;
use crate::offers::Severity;

/// One map report: everything the page shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// The page's heading (and `<title>`).
    pub title: String,
    /// Short lines under the heading: counts, and what was left out of a big file.
    pub summary: Vec<String>,
    /// The drive of each device, in device id order.
    pub devices: Vec<Drive>,
    /// The merchants on the map.
    pub merchants: Vec<MapMerchant>,
    /// Every suggestion, in time order.
    pub suggestions: Vec<MapSuggestion>,
    /// Every input and output, in time order.
    pub events: Vec<TimelineEvent>,
    /// Roads, each a polyline, drawn thin under everything.
    pub roads: Vec<Vec<LatLon>>,
    /// Problems of the offer files (all of `check`'s; the load warnings of a replay).
    pub problems: Vec<MapProblem>,
}

/// Where one device reported being, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Drive {
    /// The device id.
    pub device: String,
    /// Its positions, as received.
    pub points: Vec<DrivePoint>,
}

/// One position of a drive.
#[derive(Debug, Clone, PartialEq)]
pub struct DrivePoint {
    /// Where.
    pub location: LatLon,
    /// The input's `at`, as received.
    pub at: String,
}

/// A merchant on the map.
#[derive(Debug, Clone, PartialEq)]
pub struct MapMerchant {
    /// Its id (a placeholder like `features[3]` in `check` when the feature has none).
    pub id: String,
    /// Its name (user data: the page shows it as text only).
    pub name: String,
    /// Where.
    pub location: LatLon,
    /// What it is: the value of its first `amenity`, `shop`, `tourism`... tag.
    pub kind: String,
    /// How it fared.
    pub status: MerchantStatus,
}

/// How a merchant on the map fared.
#[derive(Debug, Clone, PartialEq)]
pub enum MerchantStatus {
    /// Replay: a suggestion named it.
    Suggested,
    /// Replay: it could have been suggested.
    Eligible,
    /// Replay: ruled out, with the rule (SPEC's `explain` code, or a plain sentence).
    NotEligible(String),
    /// Check: the worst problem of its feature (`None`: it loads cleanly).
    Checked(Option<Severity>),
}

/// One suggestion, where it was made.
#[derive(Debug, Clone, PartialEq)]
pub struct MapSuggestion {
    /// The device it was made to.
    pub device: String,
    /// The input's `at`, as received.
    pub at: String,
    /// Where the device was.
    pub location: LatLon,
    /// The merchant suggested.
    pub merchant_id: String,
    /// Its name.
    pub merchant_name: String,
    /// The offer's title.
    pub offer_title: String,
    /// The sentence the person read.
    pub message: String,
    /// SPEC's reason codes.
    pub reasons: Vec<String>,
    /// Whole metres to the merchant.
    pub distance_m: u64,
    /// Its entry in [`Report::events`].
    pub event: Option<usize>,
    /// Why this one and not the others, when known.
    pub explanation: Option<Explanation>,
}

/// Why a decision went the way it did: the candidates nearest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Explanation {
    /// The candidates, nearest first.
    pub candidates: Vec<Candidate>,
}

/// One candidate of an explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The merchant's id.
    pub merchant_id: String,
    /// Its name.
    pub merchant_name: String,
    /// The offer's id.
    pub offer_id: String,
    /// Whole metres in a straight line.
    pub distance_m: u64,
    /// What the rules made of it.
    pub verdict: Verdict,
}

/// What the rules made of a candidate.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The first rule that rules it out (`out_of_reach`, `diet_not_served`...).
    RuledOut(String),
    /// The decision's pick, with its score.
    Wins {
        /// The ranking score.
        score: f64,
    },
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEvent {
    /// The input's `at`, as received.
    pub at: String,
    /// The trace line it came from.
    pub line: u64,
    /// The device, when the topic names a valid one.
    pub device: Option<String>,
    /// Input, suggestion, other output, or error.
    pub kind: EventKind,
    /// The topic (empty for a skipped trace line).
    pub topic: String,
    /// What happened, in a line.
    pub text: String,
    /// Where it happened, when known (the position, or the device's last one).
    pub location: Option<LatLon>,
}

/// What a timeline line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// An input line of the trace.
    Input,
    /// A suggestion published.
    Suggestion,
    /// Another output: an `ask` answered with nothing, a cleared profile.
    Output,
    /// An error published, an input dropped, or a trace line skipped.
    Error,
}

/// A problem of an offer file.
#[derive(Debug, Clone, PartialEq)]
pub struct MapProblem {
    /// The file.
    pub file: String,
    /// The feature (`features[3] (id "x")`), empty for the whole file.
    pub feature: String,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
    /// The feature's marker in [`Report::merchants`], when it is on the map.
    pub merchant: Option<usize>,
}

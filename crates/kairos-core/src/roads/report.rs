//! What a road import kept, dropped and read as a default, counted by reason
//! with a first example each (a `check`-style report).

use std::collections::BTreeMap;
use std::fmt;

/// Counts of what was read into the network, and of what was not, by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoadsReport {
    /// Drivable ways kept (a way split by missing nodes counts once).
    pub ways: usize,
    /// Road nodes in the graph.
    pub nodes: usize,
    /// Segments in the graph.
    pub segments: usize,
    pub(crate) reasons: BTreeMap<String, (usize, String)>,
}

/// Report reason: a way some of whose nodes the extract does not hold.
pub const MISSING_NODES: &str = "ways with nodes missing from the extract (kept in pieces)";
/// Report reason: a way with no two consecutive nodes left.
pub const NO_SEGMENT: &str = "ways dropped: fewer than two nodes in the extract";

impl RoadsReport {
    /// The report of a network made in memory (nothing dropped): its counts.
    pub fn counts_of(network: &super::RoadNetwork) -> Self {
        Self {
            ways: network.way_count(),
            nodes: network.node_count(),
            segments: network.segment_count(),
            reasons: BTreeMap::new(),
        }
    }

    /// Counts one occurrence of `reason`; `example` is kept for the first one.
    pub fn add(&mut self, reason: &str, example: impl fmt::Display) {
        match self.reasons.get_mut(reason) {
            Some((n, _)) => *n += 1,
            None => {
                self.reasons
                    .insert(reason.to_string(), (1, example.to_string()));
            }
        }
    }

    /// Adds `count` occurrences of `reason` with its first example (read back from a file).
    pub(crate) fn add_many(&mut self, reason: &str, count: usize, example: &str) {
        self.reasons
            .entry(reason.to_string())
            .or_insert_with(|| (0, example.to_string()))
            .0 += count;
    }

    /// How many times `reason` was counted.
    pub fn count(&self, reason: &str) -> usize {
        self.reasons.get(reason).map_or(0, |(n, _)| *n)
    }

    /// Every reason with its count and first example, sorted by reason.
    pub fn reasons(&self) -> impl Iterator<Item = (&str, usize, &str)> {
        self.reasons
            .iter()
            .map(|(reason, (n, example))| (reason.as_str(), *n, example.as_str()))
    }
}

impl fmt::Display for RoadsReport {
    /// One line per reason, then a summary line, as `kairos import` prints them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (reason, n, example) in self.reasons() {
            writeln!(f, "kairos: roads: {n} {reason} (e.g. {example})")?;
        }
        write!(
            f,
            "kairos: roads: {} drivable ways, {} nodes, {} segments",
            self.ways, self.nodes, self.segments
        )
    }
}

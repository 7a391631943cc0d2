//! Building a [`RoadNetwork`] from OSM ways and nodes, in any order, with no IO:
//! the PBF reader feeds it, and so do tests that draw grids by hand.
//!
//! Ways are read with [`super::tags::read_way`]; node ids become indices
//! through a sorted array (no map of 64-bit ids). A way whose nodes the extract
//! cut off keeps the runs of consecutive nodes it has (counted); a way left
//! with no segment is dropped (counted). Nodes are numbered in OSM id order.

use crate::geodesy::LatLon;

use super::graph::{to_fixed, Parts, RoadNetwork, BACKWARD, FORWARD};
use super::report::{RoadsReport, MISSING_NODES, NO_SEGMENT};
use super::tags::{read_way, Direction, WayKind};

/// A drivable way waiting for its nodes.
struct PendingWay {
    id: i64,
    kind: WayKind,
    refs: Vec<i64>,
}

/// Collects ways and nodes, then builds the network.
#[derive(Default)]
pub struct RoadBuilder {
    ways: Vec<PendingWay>,
    nodes: Vec<(i64, i32, i32)>,
    report: RoadsReport,
}

impl RoadBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a way: kept when drivable (true), else counted by reason (false).
    pub fn add_way<'a>(
        &mut self,
        id: i64,
        tags: impl IntoIterator<Item = (&'a str, &'a str)>,
        refs: impl IntoIterator<Item = i64>,
    ) -> bool {
        match read_way(tags) {
            Ok((kind, notes)) => {
                for note in notes {
                    self.report.add(note.reason(), format!("way/{id}"));
                }
                self.ways.push(PendingWay {
                    id,
                    kind,
                    refs: refs.into_iter().collect(),
                });
                true
            }
            Err(note) => {
                self.report.add(note.reason(), format!("way/{id}"));
                false
            }
        }
    }

    /// The ids of the nodes the kept ways need, sorted, without duplicates
    /// (for a reader that keeps only those).
    pub fn needed_nodes(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .ways
            .iter()
            .flat_map(|w| w.refs.iter().copied())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Records a node's position (nodes no kept way uses are ignored at build).
    pub fn add_node(&mut self, id: i64, at: LatLon) {
        if at.is_valid() {
            self.nodes.push((id, to_fixed(at.lat), to_fixed(at.lon)));
        }
    }

    /// The network and what was read, dropped or defaulted.
    pub fn build(self) -> (RoadNetwork, RoadsReport) {
        let Self {
            ways,
            mut nodes,
            mut report,
        } = self;
        nodes.sort_unstable_by_key(|n| n.0);
        nodes.dedup_by_key(|n| n.0);
        let position = |id: i64| nodes.binary_search_by_key(&id, |n| n.0).ok();

        // Which nodes are used: only those get a graph index.
        let mut used = vec![false; nodes.len()];
        let mut runs: Vec<(usize, Vec<usize>)> = Vec::new();
        for (w, way) in ways.iter().enumerate() {
            let mut missing = false;
            let mut run: Vec<usize> = Vec::new();
            let mut pieces = 0;
            for &r in &way.refs {
                match position(r) {
                    Some(p) if run.last() == Some(&p) => {}
                    Some(p) => run.push(p),
                    None => {
                        missing = true;
                        if run.len() >= 2 {
                            runs.push((w, std::mem::take(&mut run)));
                            pieces += 1;
                        }
                        run.clear();
                    }
                }
            }
            if run.len() >= 2 {
                runs.push((w, run));
                pieces += 1;
            }
            if missing {
                report.add(MISSING_NODES, format!("way/{}", way.id));
            }
            if pieces == 0 {
                report.add(NO_SEGMENT, format!("way/{}", way.id));
            }
        }
        for (_, run) in &runs {
            for &p in run {
                used[p] = true;
            }
        }
        let mut index = vec![u32::MAX; nodes.len()];
        let (mut lat, mut lon) = (Vec::new(), Vec::new());
        for (p, node) in nodes.iter().enumerate() {
            if used[p] {
                index[p] = lat.len() as u32;
                lat.push(node.1);
                lon.push(node.2);
            }
        }

        // Ways that kept a segment, renumbered in input order.
        let mut way_index = vec![u32::MAX; ways.len()];
        let mut parts = Parts {
            lat,
            lon,
            seg_nodes: Vec::new(),
            seg_way: Vec::new(),
            seg_flags: Vec::new(),
            way_class: Vec::new(),
            way_service: Vec::new(),
            way_speed_kmh: Vec::new(),
            way_osm_id: Vec::new(),
        };
        for (w, run) in &runs {
            let way = &ways[*w];
            if way_index[*w] == u32::MAX {
                way_index[*w] = parts.way_class.len() as u32;
                parts.way_class.push(way.kind.class);
                parts.way_service.push(way.kind.service);
                parts.way_speed_kmh.push(way.kind.speed_kmh);
                parts.way_osm_id.push(way.id);
            }
            let flags = match way.kind.direction {
                Direction::Both => FORWARD | BACKWARD,
                Direction::Forward => FORWARD,
                Direction::Backward => BACKWARD,
            };
            for pair in run.windows(2) {
                parts.seg_nodes.push([index[pair[0]], index[pair[1]]]);
                parts.seg_way.push(way_index[*w]);
                parts.seg_flags.push(flags);
            }
        }
        report.ways = parts.way_class.len();
        report.nodes = parts.lat.len();
        report.segments = parts.seg_nodes.len();
        (RoadNetwork::from_parts(parts), report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_way_cut_by_the_extract_keeps_its_runs_and_is_counted() {
        let mut b = RoadBuilder::new();
        b.add_way(1, [("highway", "residential")], [10, 11, 12, 13, 14]);
        b.add_way(2, [("highway", "footway")], [10, 11]);
        b.add_way(3, [("highway", "primary")], [13, 99]);
        for (id, dlon) in [(10, 0.0), (11, 0.001), (13, 0.003), (14, 0.004)] {
            b.add_node(id, LatLon::new(48.0, 11.0 + dlon));
        }
        b.add_node(77, LatLon::new(48.0, 11.5));
        let (net, report) = b.build();
        assert_eq!(net.node_count(), 4);
        assert_eq!(net.segment_count(), 2);
        assert_eq!(net.way_count(), 1);
        assert_eq!(report.count(MISSING_NODES), 2);
        assert_eq!(report.count(NO_SEGMENT), 1);
        assert_eq!(
            report.count(super::super::tags::Note::NotDrivable.reason()),
            1
        );
    }
}

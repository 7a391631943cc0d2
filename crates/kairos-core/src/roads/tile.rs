//! Copies of real road networks laid side by side: the load `kairos generate`
//! builds at any scale from a few real extracts (each copy moved, turned or
//! mirrored with its merchants, see the root crate's `gen`).

use crate::geodesy::LatLon;

use super::graph::{to_fixed, Parts, RoadNetwork};

/// Builds one network holding a copy of each `(network, place)` piece, every
/// node moved by `place`. The copies keep their ways' classes, speeds and
/// directions; way `w` of copy `k` gets the OSM id `k × 10¹¹ + id` (ids stay
/// apart and still show their source). Copies are not joined to each other.
///
/// `None` when the result would hold more nodes or segments than kairos indexes.
pub fn tile<'a>(
    pieces: impl IntoIterator<Item = (&'a RoadNetwork, &'a dyn Fn(LatLon) -> LatLon)>,
) -> Option<RoadNetwork> {
    let mut parts = Parts {
        lat: Vec::new(),
        lon: Vec::new(),
        seg_nodes: Vec::new(),
        seg_way: Vec::new(),
        seg_flags: Vec::new(),
        way_class: Vec::new(),
        way_service: Vec::new(),
        way_speed_kmh: Vec::new(),
        way_osm_id: Vec::new(),
    };
    for (k, (net, place)) in pieces.into_iter().enumerate() {
        let node_base = u32::try_from(parts.lat.len()).ok()?;
        let way_base = u32::try_from(parts.way_class.len()).ok()?;
        for node in 0..net.node_count() as u32 {
            let at = place(net.node_location(node));
            parts.lat.push(to_fixed(at.lat.clamp(-90.0, 90.0)));
            parts.lon.push(to_fixed(at.lon.clamp(-180.0, 180.0)));
        }
        for &[a, b] in &net.seg_nodes {
            parts
                .seg_nodes
                .push([a.checked_add(node_base)?, b.checked_add(node_base)?]);
        }
        for &w in &net.seg_way {
            parts.seg_way.push(w.checked_add(way_base)?);
        }
        parts.seg_flags.extend_from_slice(&net.seg_flags);
        parts.way_class.extend_from_slice(&net.way_class);
        parts.way_service.extend_from_slice(&net.way_service);
        parts.way_speed_kmh.extend_from_slice(&net.way_speed_kmh);
        parts.way_osm_id.extend(
            net.way_osm_id
                .iter()
                .map(|id| k as i64 * 100_000_000_000 + id),
        );
    }
    if parts.seg_nodes.len() > super::format::MAX_SEGMENTS {
        return None;
    }
    Some(RoadNetwork::from_parts(parts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roads::RoadBuilder;

    #[test]
    fn copies_keep_their_shape_apart_from_each_other() {
        let mut b = RoadBuilder::new();
        b.add_node(1, LatLon::new(48.0, 11.0));
        b.add_node(2, LatLon::new(48.001, 11.0));
        b.add_node(3, LatLon::new(48.001, 11.001));
        b.add_way(
            7,
            [("highway", "residential"), ("oneway", "yes")],
            [1, 2, 3],
        );
        let (net, _) = b.build();
        let same = |at: LatLon| at;
        let east = |at: LatLon| LatLon::new(at.lat, at.lon + 1.0);
        let tiled = tile([
            (&net, &same as &dyn Fn(LatLon) -> LatLon),
            (&net, &east as &dyn Fn(LatLon) -> LatLon),
        ])
        .expect("small enough");
        assert_eq!(tiled.node_count(), 2 * net.node_count());
        assert_eq!(tiled.segment_count(), 2 * net.segment_count());
        for s in 0..net.segment_count() as u32 {
            let copy = s + net.segment_count() as u32;
            assert!((tiled.segment_length_m(copy) - net.segment_length_m(s)).abs() < 0.5);
            assert_eq!(tiled.may_drive(2 * copy), net.may_drive(2 * s));
            assert_eq!(tiled.may_drive(2 * copy + 1), net.may_drive(2 * s + 1));
            assert_eq!(tiled.segment_way_id(copy), 100_000_000_000 + 7);
            let [a, _] = tiled.segment_nodes(copy);
            assert!((tiled.node_location(a).lon - 12.0).abs() < 0.01);
        }
        // The copy's nodes are not the original's.
        let [a, _] = tiled.segment_nodes(net.segment_count() as u32);
        assert!(a as usize >= net.node_count());
    }
}

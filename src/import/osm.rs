//! Merchants from an OpenStreetMap extract (`.osm.pbf`, read with `osmpbf`).
//!
//! Two streaming passes, so that memory follows the merchants, not the extract:
//!
//! 1. Every element in file order: merchant nodes are written at once; merchant
//!    ways are kept (tags and node ids) and their node ids noted; merchant
//!    relations are counted, not imported (their geometry needs their member
//!    ways, a third pass, for a few big places).
//! 2. Only if there were merchant ways: the coordinates of the noted nodes.
//!
//! A way then stands for its centroid: the area centroid of a closed way, the
//! length centroid of an open one, computed from its nodes' coordinates. A way
//! whose nodes the extract cut off uses the nodes it kept; one with none left
//! is dropped. Elements are read in file order, so the output is deterministic.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;

use geo::{Centroid, Coord, LineString, MultiPoint, Point, Polygon};
use osmpbf::{Element, ElementReader};
use serde_json::Value;

use super::merchant::{merchant_kind, Kind, MerchantSink, MerchantSummary};
use super::ImportError;
use kairos_core::geodesy::LatLon;

/// A merchant way waiting for its nodes' coordinates.
struct PendingWay {
    id: String,
    kind: Kind,
    tags: Vec<(String, Value)>,
    refs: Vec<i64>,
}

/// A PBF reader over `path` whose progress shows on a terminal as `what`.
fn counted_reader(
    path: &Path,
    what: &str,
) -> Result<ElementReader<std::io::BufReader<crate::progress::Counting<std::fs::File>>>, ImportError>
{
    let file = crate::progress::open_counted(path, what).map_err(ImportError::io(path))?;
    Ok(ElementReader::new(std::io::BufReader::new(file)))
}

/// Imports the merchants of a PBF extract into `out` (a sink over the offer file).
pub fn import_pbf<W: Write>(path: &Path, out: &mut MerchantSink<W>) -> Result<(), ImportError> {
    let pbf_error =
        |e: osmpbf::Error| ImportError::format(path, format!("not a readable OSM PBF file: {e}"));
    let mut written: std::io::Result<()> = Ok(());
    let mut ways = Vec::new();
    let mut needed = HashSet::new();

    let reader = counted_reader(path, "import osm: merchants")?;
    reader
        .for_each(|element| {
            if written.is_err() {
                return;
            }
            match element {
                Element::Node(node) => {
                    written = node_merchant(out, node.id(), node.lat(), node.lon(), node.tags())
                }
                Element::DenseNode(node) => {
                    written = node_merchant(out, node.id(), node.lat(), node.lon(), node.tags())
                }
                Element::Way(way) => {
                    let tags = owned_tags(way.tags());
                    if let Some(kind) = kind_of(&tags) {
                        let refs: Vec<i64> = way.refs().collect();
                        needed.extend(refs.iter().copied());
                        ways.push(PendingWay {
                            id: format!("way/{}", way.id()),
                            kind,
                            tags,
                            refs,
                        });
                    }
                }
                Element::Relation(relation) => {
                    let tags = owned_tags(relation.tags());
                    if kind_of(&tags).is_some() {
                        out.drop_object(
                            "relation (not imported)",
                            format!("relation/{}", relation.id()),
                        );
                    }
                }
            }
        })
        .map_err(pbf_error)?;
    written.map_err(ImportError::io(path))?;
    if ways.is_empty() {
        return Ok(());
    }

    let mut coords: HashMap<i64, Coord<f64>> = HashMap::with_capacity(needed.len());
    let reader = counted_reader(path, "import osm: way nodes")?;
    reader
        .for_each(|element| {
            let (id, lat, lon) = match element {
                Element::Node(n) => (n.id(), n.lat(), n.lon()),
                Element::DenseNode(n) => (n.id(), n.lat(), n.lon()),
                _ => return,
            };
            if needed.contains(&id) {
                coords.insert(id, Coord { x: lon, y: lat });
            }
        })
        .map_err(pbf_error)?;
    drop(needed);

    for way in ways {
        match way_centroid(&way.refs, &coords) {
            Some(at) => {
                out.add(&way.id, way.kind, at, way.tags)
                    .map_err(ImportError::io(path))?;
            }
            None => out.drop_object("way nodes missing from the extract", &way.id),
        }
    }
    Ok(())
}

/// Imports `path` (`.osm.pbf`) into the offer file `out`, atomically.
pub fn import_file(path: &Path, out: &Path) -> Result<MerchantSummary, ImportError> {
    super::write_atomically(out, |file| {
        let mut sink = MerchantSink::new(file).map_err(ImportError::io(out))?;
        import_pbf(path, &mut sink)?;
        sink.finish().map_err(ImportError::io(out))
    })
}

fn node_merchant<'a, W: Write>(
    out: &mut MerchantSink<W>,
    id: i64,
    lat: f64,
    lon: f64,
    tags: impl Iterator<Item = (&'a str, &'a str)> + Clone,
) -> std::io::Result<()> {
    // Most nodes are untagged road geometry: look before allocating.
    let mut probe = tags.clone();
    if !probe.any(|(k, _)| matches!(k, "amenity" | "shop" | "tourism")) {
        return Ok(());
    }
    let tags = owned_tags(tags);
    if let Some(kind) = kind_of(&tags) {
        out.add(&format!("node/{id}"), kind, LatLon::new(lat, lon), tags)?;
    }
    Ok(())
}

fn owned_tags<'a>(tags: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<(String, Value)> {
    tags.map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect()
}

fn kind_of(tags: &[(String, Value)]) -> Option<Kind> {
    let get = |key: &str| {
        tags.iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_str())
    };
    merchant_kind(get("amenity"), get("shop"), get("tourism"))
}

/// The centroid of a way from the coordinates of the nodes the extract has.
fn way_centroid(refs: &[i64], coords: &HashMap<i64, Coord<f64>>) -> Option<LatLon> {
    let points: Vec<Coord<f64>> = refs.iter().filter_map(|r| coords.get(r).copied()).collect();
    let complete = points.len() == refs.len();
    let closed = refs.len() >= 4 && refs.first() == refs.last();
    let centroid = if complete && closed {
        Polygon::new(LineString::new(points.clone()), Vec::new()).centroid()
    } else if complete {
        LineString::new(points.clone()).centroid()
    } else {
        None
    };
    centroid
        .or_else(|| {
            MultiPoint::from(points.into_iter().map(Point::from).collect::<Vec<_>>()).centroid()
        })
        .map(|p| LatLon::new(p.y(), p.x()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_way_stands_for_its_area_centroid() {
        let coords: HashMap<i64, Coord<f64>> = [
            (1, Coord { x: 0.0, y: 0.0 }),
            (2, Coord { x: 2.0, y: 0.0 }),
            (3, Coord { x: 2.0, y: 2.0 }),
            (4, Coord { x: 0.0, y: 2.0 }),
            // An extra node on one edge moves the vertex mean, not the area centroid.
            (5, Coord { x: 1.0, y: 0.0 }),
        ]
        .into();
        let c = way_centroid(&[1, 5, 2, 3, 4, 1], &coords).unwrap();
        assert!(
            (c.lat - 1.0).abs() < 1e-9 && (c.lon - 1.0).abs() < 1e-9,
            "{c:?}"
        );
    }

    #[test]
    fn a_way_cut_by_the_extract_uses_the_nodes_it_kept_and_none_means_none() {
        let coords: HashMap<i64, Coord<f64>> =
            [(1, Coord { x: 0.0, y: 0.0 }), (2, Coord { x: 2.0, y: 2.0 })].into();
        let c = way_centroid(&[1, 2, 3, 1], &coords).unwrap();
        assert!((c.lat - 2.0 / 3.0).abs() < 1e-9, "{c:?}");
        assert!(way_centroid(&[7, 8, 9, 7], &coords).is_none());
    }
}

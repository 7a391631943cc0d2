//! Road files: the drivable network read from an OSM extract (`.osm.pbf`, with
//! `osmpbf`) or from kairos's own compact file, and `kairos import roads`,
//! which writes the latter (SPEC "Loading roads").
//!
//! The PBF is read in two streaming passes: the ways first (only drivable ones
//! are kept, with their node ids), then only the nodes those ways need (found
//! by binary search in their sorted ids: no map of 64-bit ids). The graph
//! itself is built by the pure [`kairos_core::roads::RoadBuilder`]. The compact file
//! is read in one `read` and decoded by [`kairos_core::roads::format`]; which kind a
//! file is comes from its first bytes, not its name.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use osmpbf::{Element, ElementReader};

use crate::geodesy::LatLon;
use kairos_core::roads::format::{self, FormatError};
use kairos_core::roads::{RoadBuilder, RoadNetwork, RoadsReport};

/// A road file that cannot be loaded or written.
#[derive(Debug, thiserror::Error)]
pub enum RoadsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a readable OSM PBF extract.
    #[error("{path}: not a readable OSM PBF extract or kairos road file: {detail}")]
    Pbf {
        /// The file.
        path: PathBuf,
        /// What the PBF reader said.
        detail: String,
    },
    /// A compact file of another version, or damaged.
    #[error("{path}: {source}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: FormatError,
    },
    /// The file holds no drivable road at all.
    #[error("{path}: no drivable road (highway=motorway ... service) in this file")]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RoadsError + '_ {
    move |source| RoadsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Loads a road network from an `.osm.pbf` extract or a compact road file
/// (told apart by the file's first bytes), with what was dropped by reason.
pub fn load_roads(path: &Path) -> Result<(RoadNetwork, RoadsReport), RoadsError> {
    let mut file = std::fs::File::open(path).map_err(io(path))?;
    let mut magic = [0u8; 8];
    let mut got = 0;
    while got < magic.len() {
        match file.read(&mut magic[got..]).map_err(io(path))? {
            0 => break,
            n => got += n,
        }
    }
    let (network, report) = if format::is_compact(&magic[..got]) {
        drop(file);
        let bytes = std::fs::read(path).map_err(io(path))?;
        format::decode(&bytes).map_err(|source| RoadsError::Format {
            path: path.to_path_buf(),
            source,
        })?
    } else {
        drop(file);
        read_pbf(path)?
    };
    if network.segment_count() == 0 {
        return Err(RoadsError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok((network, report))
}

/// Reads the drivable network of an OSM extract.
pub fn read_pbf(path: &Path) -> Result<(RoadNetwork, RoadsReport), RoadsError> {
    let pbf_error = |e: osmpbf::Error| RoadsError::Pbf {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    let counted = |what: &str| {
        crate::progress::open_counted(path, what)
            .map(|file| ElementReader::new(std::io::BufReader::new(file)))
            .map_err(|e| RoadsError::Pbf {
                path: path.to_path_buf(),
                detail: e.to_string(),
            })
    };
    let mut builder = RoadBuilder::new();
    counted("roads: ways")?
        .for_each(|element| {
            if let Element::Way(way) = element {
                // Most ways are not roads: look at `highway` before reading more.
                if way.tags().any(|(k, _)| k == "highway") {
                    builder.add_way(way.id(), way.tags(), way.refs());
                } else {
                    builder.add_way(way.id(), std::iter::empty(), std::iter::empty());
                }
            }
        })
        .map_err(pbf_error)?;
    let needed = builder.needed_nodes();
    if !needed.is_empty() {
        counted("roads: nodes")?
            .for_each(|element| {
                let (id, lat, lon) = match element {
                    Element::Node(n) => (n.id(), n.lat(), n.lon()),
                    Element::DenseNode(n) => (n.id(), n.lat(), n.lon()),
                    _ => return,
                };
                if needed.binary_search(&id).is_ok() {
                    builder.add_node(id, LatLon::new(lat, lon));
                }
            })
            .map_err(pbf_error)?;
    }
    Ok(builder.build())
}

/// `kairos import roads`: reads `input` (an extract, or a compact file to
/// rewrite) and writes the compact file `out`, atomically.
pub fn import_roads(input: &Path, out: &Path) -> Result<RoadsReport, RoadsError> {
    let (network, report) = load_roads(input)?;
    let bytes = format::encode(&network, &report);
    let name = out.file_name().ok_or_else(|| RoadsError::Io {
        path: out.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"),
    })?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(".partial");
    let temp = out.with_file_name(temp_name);
    let written = std::fs::File::create(&temp)
        .and_then(|mut file| {
            file.write_all(&bytes)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temp, out));
    if let Err(source) = written {
        // Best effort: the error being returned says what went wrong.
        let _ = std::fs::remove_file(&temp);
        return Err(RoadsError::Io {
            path: out.to_path_buf(),
            source,
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A real extract from the real-data folder (`KAIROS_DATA_DIR`, see
    /// docs/testing.md), or `None` when it is absent.
    fn data(name: &str) -> Option<PathBuf> {
        let dir = std::env::var_os("KAIROS_DATA_DIR");
        let path = dir.map(|d| Path::new(&d).join("osm").join(name));
        match path {
            Some(path) if path.exists() => Some(path),
            _ => {
                assert!(
                    std::env::var_os("KAIROS_REQUIRE_DATA").is_none_or(|v| v != "1"),
                    "real data osm/{name} is required (KAIROS_REQUIRE_DATA=1) but absent"
                );
                eprintln!("skipped: real data osm/{name} is absent (KAIROS_DATA_DIR)");
                None
            }
        }
    }

    #[test]
    fn a_compact_file_loads_the_same_network_as_its_extract() {
        let Some(pbf) = data("monaco-2021.osm.pbf") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("monaco.roads");
        let report = import_roads(&pbf, &out).unwrap();
        let (from_pbf, _) = load_roads(&pbf).unwrap();
        let (from_file, file_report) = load_roads(&out).unwrap();
        assert_eq!(file_report, report);
        assert_eq!(from_file.node_count(), from_pbf.node_count());
        assert_eq!(from_file.segment_count(), from_pbf.segment_count());
        for node in 0..from_pbf.node_count() as u32 {
            assert_eq!(from_file.node_location(node), from_pbf.node_location(node));
        }
        for segment in 0..from_pbf.segment_count() as u32 {
            assert_eq!(
                from_file.segment_nodes(segment),
                from_pbf.segment_nodes(segment)
            );
            assert_eq!(
                from_file.segment_length_m(segment),
                from_pbf.segment_length_m(segment)
            );
            assert_eq!(
                from_file.segment_way_id(segment),
                from_pbf.segment_way_id(segment)
            );
        }
        assert!(report.nodes > 1_000, "{report}");
        assert!(report.count("ways not drivable (highway)") > 0, "{report}");
    }

    #[test]
    fn another_version_or_a_damaged_file_is_a_clear_error() {
        let Some(pbf) = data("monaco-2021.osm.pbf") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("monaco.roads");
        import_roads(&pbf, &out).unwrap();
        let mut bytes = std::fs::read(&out).unwrap();
        let good = bytes.clone();
        bytes[8] = 2;
        std::fs::write(&out, &bytes).unwrap();
        let err = load_roads(&out).err().unwrap().to_string();
        assert!(
            err.contains("version 2") && err.contains("reads version 1"),
            "{err}"
        );
        std::fs::write(&out, &good[..good.len() - 3]).unwrap();
        let err = load_roads(&out).err().unwrap().to_string();
        assert!(err.contains("damaged"), "{err}");
        let not = dir.path().join("not.pbf");
        std::fs::write(&not, b"hello, not a road file").unwrap();
        assert!(matches!(load_roads(&not), Err(RoadsError::Pbf { .. })));
    }
}

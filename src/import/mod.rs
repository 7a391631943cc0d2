//! `kairos import`: real-world data turned into kairos's own files.
//!
//! - [`osm`]: merchants from an OpenStreetMap extract (`.osm.pbf`), read in two
//!   streaming passes.
//! - [`geojson`]: merchants from a GeoJSON export (`.geojson` FeatureCollection,
//!   streamed feature by feature, or `.geojsonseq`, one feature a line).
//! - [`merchant`]: what both share: which OSM objects are merchants, how their
//!   tags are cleaned so that `kairos check` accepts them, and the streaming
//!   offer-file writer.
//! - [`gps`]: GPS logs (CSV with WKT or lat/lon columns, barefoot JSON, GPX) read
//!   into timed fixes.
//! - [`trace_log`]: fixes turned into a replayable trace: bad fixes dropped,
//!   heading and speed derived, devices merged in time order.
//!
//! Nothing here is core: this is an edge that reads and writes files. Problems
//! with single records are data (counted by reason in a [`Tally`]); only a file
//! that cannot be read or written at all is an [`ImportError`].

pub mod geojson;
pub mod gps;
pub mod merchant;
pub mod osm;
pub mod roads;
pub mod trace_log;

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

pub use merchant::MerchantSummary;
pub use trace_log::{TraceOptions, TraceSummary};

/// Imports the merchants of `input` into the offer file `out`: an OSM extract
/// (`.pbf`) or a GeoJSON export (`.geojson`, `.json`, `.geojsonseq`), by extension.
pub fn import_merchants(input: &Path, out: &Path) -> Result<MerchantSummary, ImportError> {
    let name = input
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if name.ends_with(".pbf") {
        osm::import_file(input, out)
    } else if [".geojson", ".json", ".geojsonseq", ".geojsonl", ".geojsons"]
        .iter()
        .any(|e| name.ends_with(e))
    {
        geojson::import_file(input, out)
    } else {
        Err(ImportError::format(
            input,
            "not an OSM extract (.osm.pbf) or GeoJSON export (.geojson, .geojsonseq)",
        ))
    }
}

/// An input that cannot be imported at all, or an output that cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not in a format the importer reads.
    #[error("{path}: {detail}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// An option has a value that cannot be used.
    #[error("{0}")]
    Option(String),
}

impl ImportError {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| ImportError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn format(path: &Path, detail: impl Into<String>) -> Self {
        ImportError::Format {
            path: path.to_path_buf(),
            detail: detail.into(),
        }
    }
}

/// Counts by reason, each with its first example (an id or a line number).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    counts: BTreeMap<String, (usize, String)>,
}

impl Tally {
    /// Counts one occurrence of `reason`; `example` is kept for the first one.
    pub fn add(&mut self, reason: impl Into<String>, example: impl fmt::Display) {
        self.counts
            .entry(reason.into())
            .or_insert_with(|| (0, example.to_string()))
            .0 += 1;
    }

    /// How many times `reason` was counted.
    pub fn count(&self, reason: &str) -> usize {
        self.counts.get(reason).map_or(0, |(n, _)| *n)
    }

    /// The total over all reasons.
    pub fn total(&self) -> usize {
        self.counts.values().map(|(n, _)| n).sum()
    }

    /// Every reason with its count and first example, sorted by reason.
    pub fn iter(&self) -> impl Iterator<Item = (&str, usize, &str)> {
        self.counts
            .iter()
            .map(|(reason, (n, example))| (reason.as_str(), *n, example.as_str()))
    }

    /// Writes one line per reason: `{label}: {count} {reason} (e.g. {example})`.
    pub fn report(&self, label: &str, out: &mut impl Write) -> std::io::Result<()> {
        for (reason, n, example) in self.iter() {
            writeln!(out, "kairos: {label}: {n} {reason} (e.g. {example})")?;
        }
        Ok(())
    }

    /// `12 empty value, 3 duplicate id`, or `none`.
    pub fn brief(&self) -> String {
        if self.counts.is_empty() {
            return "none".into();
        }
        self.iter()
            .map(|(reason, n, _)| format!("{n} {reason}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Writes to `out` through a temporary file beside it, renamed into place only
/// when `write` succeeds: a failed import never leaves half a file behind.
fn write_atomically<T>(
    out: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<T, ImportError>,
) -> Result<T, ImportError> {
    let name = out
        .file_name()
        .ok_or_else(|| ImportError::Option(format!("{}: not a file name", out.display())))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(".partial");
    let temp = out.with_file_name(temp_name);
    let file = std::fs::File::create(&temp).map_err(ImportError::io(out))?;
    let mut writer = std::io::BufWriter::with_capacity(1 << 16, file);
    let result = write(&mut writer).and_then(|value| {
        writer.flush().map_err(ImportError::io(out))?;
        std::fs::rename(&temp, out).map_err(ImportError::io(out))?;
        Ok(value)
    });
    if result.is_err() {
        // Best effort: the error being returned says what went wrong.
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_keeps_the_first_example_of_each_reason() {
        let mut tally = Tally::default();
        tally.add("empty value", "node/1");
        tally.add("empty value", "node/2");
        tally.add("duplicate id", "way/3");
        assert_eq!(tally.count("empty value"), 2);
        assert_eq!(tally.total(), 3);
        assert_eq!(tally.brief(), "1 duplicate id, 2 empty value");
        let mut out = Vec::new();
        tally.report("tags dropped", &mut out).unwrap();
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("2 empty value (e.g. node/1)"));
    }
}

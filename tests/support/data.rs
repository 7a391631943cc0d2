//! The real data the slower tests read: OpenStreetMap extracts and exports, and
//! real GPS logs, in a folder named by `KAIROS_DATA_DIR` (with `osm/`,
//! `geojson/` and `traces/` in it; docs/testing.md says which files).
//!
//! Without that folder those tests print why and pass without checking
//! anything; with `KAIROS_REQUIRE_DATA=1` (CI sets it) a missing folder or
//! file fails the test instead, so CI cannot skip them silently.

use std::path::PathBuf;

/// The real-data folder, or `None` (and a line on stderr saying the test is
/// skipped) when `KAIROS_DATA_DIR` is unset or names nothing.
pub fn real_dir() -> Option<PathBuf> {
    match std::env::var_os("KAIROS_DATA_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_dir() => Some(dir),
        Some(dir) => absent(&format!("{} is not a folder", dir.display())),
        None => absent("KAIROS_DATA_DIR is not set"),
    }
}

/// The real-data file `relative` (e.g. `osm/monaco-2021.osm.pbf`), or `None`
/// (said on stderr) when it is not there.
pub fn real(relative: &str) -> Option<PathBuf> {
    let path = real_dir()?.join(relative);
    if path.exists() {
        Some(path)
    } else {
        absent(&format!("{} does not exist", path.display()))
    }
}

/// The real-data file `relative`, for a test that checked [`real_dir`] first.
pub fn real_path(relative: &str) -> PathBuf {
    real(relative).unwrap_or_else(|| panic!("real data {relative} is missing"))
}

fn absent(why: &str) -> Option<PathBuf> {
    if std::env::var_os("KAIROS_REQUIRE_DATA").is_some_and(|v| v == "1") {
        panic!("real data is required (KAIROS_REQUIRE_DATA=1) but {why}");
    }
    eprintln!("skipped: this test needs the real data, and {why}");
    None
}

/// A file bundled with the project (`data/demo/...`).
pub fn bundled(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

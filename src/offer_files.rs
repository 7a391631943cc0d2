//! Offer files on disk: which files a path stands for, and reading them into the
//! core's [`Loader`], which only ever sees text (the core does no IO).

use std::path::{Path, PathBuf};

use kairos_core::offers::{LoadError, Loader, Problem};
use kairos_core::Catalog;

/// The files a path stands for: itself, or a folder's `.geojson` files sorted by name.
pub fn offer_files(path: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    if !path.is_dir() {
        std::fs::metadata(path).map_err(io)?;
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io)? {
        let file = entry.map_err(io)?.path();
        if file.is_file() && file.extension().is_some_and(|e| e == "geojson") {
            files.push(file);
        }
    }
    files.sort();
    Ok(files)
}

/// Loads a file, or every `.geojson` file of a folder sorted by name.
pub fn load_path(loader: &mut Loader, path: &Path) -> Result<(), LoadError> {
    for file in offer_files(path)? {
        let text = std::fs::read_to_string(&file).map_err(|source| LoadError::Io {
            path: file.clone(),
            source,
        })?;
        loader.load_text(&file, &text)?;
    }
    Ok(())
}

/// Loads every path (files, or folders of `.geojson`) into a catalog, skipping
/// unusable features; the problems found come back beside it.
pub fn load_catalog(paths: &[PathBuf]) -> Result<(Catalog, Vec<Problem>), LoadError> {
    let mut loader = Loader::new();
    for path in paths {
        load_path(&mut loader, path)?;
    }
    let (merchants, problems) = loader.finish();
    Ok((Catalog::new(merchants), problems))
}

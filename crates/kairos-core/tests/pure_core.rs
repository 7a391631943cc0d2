//! The core stays pure: no source file of `kairos-core` names the file system,
//! the network or an async runtime (clippy.toml refuses the same std::fs calls).

// This test reads the core's sources: the one place in the crate allowed to.
#![allow(clippy::disallowed_methods)]

use std::path::Path;

fn sources(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn no_core_module_reads_files_or_talks_to_the_network() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() > 20, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for word in [
            "std::fs",
            "fs::read",
            "File::open",
            "std::net",
            "tokio",
            "rumqttc",
            "redb",
            "redis",
        ] {
            assert!(!text.contains(word), "{}: {word}", file.display());
        }
    }
}

//! `examples/embed.rs` prints what the README says it prints.

#[path = "../examples/embed.rs"]
mod embed;

use std::path::Path;

/// The lines the README shows under `$ cargo run --example embed`.
fn readme_output() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("the README is readable");
    let (_, after) = readme
        .split_once("$ cargo run --example embed\n")
        .expect("the README shows the embed example's command");
    let (block, _) = after.split_once("```").expect("the block ends");
    block.to_string()
}

#[test]
fn the_embedding_example_prints_what_the_readme_shows() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo");
    let mut out = Vec::new();
    embed::run(
        &data.join("offers.geojson"),
        &data.join("drive.jsonl"),
        &mut out,
    )
    .expect("the example replays the demo drive");
    let printed = String::from_utf8(out).unwrap();
    assert!(!printed.is_empty(), "the demo drive makes a suggestion");
    assert_eq!(printed, readme_output());
}

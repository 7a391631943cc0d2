//! Memory and time to load a catalog: `cargo run --release --example catalog_memory -- OFFERS...`.
//! Prints merchants, load seconds, resident memory after load (file text freed)
//! and bytes per merchant over the process's baseline.

use std::path::PathBuf;
use std::time::Instant;

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let paths: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    // Warm the time-zone and country tables so they are not counted per merchant.
    let _ = kairos::offers::zone::timezone_at(kairos::geodesy::LatLon::new(48.0, 2.0));
    let baseline = resident_kib();
    let started = Instant::now();
    let (catalog, problems) = kairos::offer_files::load_catalog(&paths)?;
    let seconds = started.elapsed().as_secs_f64();
    let after = resident_kib();
    let n = catalog.len().max(1) as u64;
    println!(
        "{} merchants, {} problems, loaded in {seconds:.2} s, resident {} MiB after load, {} bytes per merchant",
        catalog.len(),
        problems.len(),
        after / 1024,
        (after.saturating_sub(baseline)) * 1024 / n
    );
    Ok(())
}

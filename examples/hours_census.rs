//! How many `opening_hours` values of offer files the crate reads as written,
//! how many only after kairos's repairs, and how many stay unreadable.
//!
//! ```console
//! $ cargo run --release --example hours_census -- [--list] OFFER_FILE...
//! ```
//!
//! `--list` prints every value not read as written, with what it became.

use std::collections::BTreeMap;

use kairos_core::geodesy::LatLon;
use kairos_core::offers::hours::{HoursParser, Locality};
use kairos_core::offers::Reading;

fn main() -> anyhow::Result<()> {
    let mut list = false;
    let mut files = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--list" => list = true,
            _ => files.push(arg),
        }
    }
    // Syntax is what is counted; the place does not change it.
    let locality = Locality {
        timezone: chrono_tz::Tz::UTC,
        location: LatLon::new(0.0, 0.0),
        holidays: None,
    };
    let mut parser = HoursParser::default();
    let mut odd: BTreeMap<String, (usize, String)> = BTreeMap::new();
    println!("file\tvalues\tas written\trepaired\tunreadable (distinct repaired, unreadable)");
    for file in files {
        let text = std::fs::read_to_string(&file)?;
        let collection: serde_json::Value = serde_json::from_str(&text)?;
        let (mut values, mut written, mut repaired, mut unreadable) = (0, 0, 0, 0);
        let mut distinct = (BTreeMap::new(), BTreeMap::new());
        let features = collection["features"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for feature in &features {
            let Some(value) = feature["properties"]["opening_hours"].as_str() else {
                continue;
            };
            if value.trim().is_empty() {
                continue;
            }
            values += 1;
            match parser.parse(value, &locality) {
                Reading::AsWritten(_) => written += 1,
                Reading::Repaired(_, r) => {
                    repaired += 1;
                    distinct.0.insert(value.to_string(), ());
                    odd.entry(value.into())
                        .or_insert((0, format!("-> {}", r.text)))
                        .0 += 1;
                }
                Reading::Unreadable(_, why) => {
                    unreadable += 1;
                    distinct.1.insert(value.to_string(), ());
                    odd.entry(value.into())
                        .or_insert((0, format!("UNREADABLE {why}")))
                        .0 += 1;
                }
            }
        }
        println!(
            "{file}\t{values}\t{written}\t{repaired}\t{unreadable} ({}, {})",
            distinct.0.len(),
            distinct.1.len()
        );
    }
    if list {
        for (value, (n, what)) in odd {
            println!("{n}\t{value:?}\t{what}");
        }
    }
    Ok(())
}

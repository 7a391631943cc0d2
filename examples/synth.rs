//! Synthetic load for benchmarks: N merchants scattered around a few European
//! city centres and a trace of M devices driving through them.
//!
//! `cargo run --release --example synth -- MERCHANTS EVENTS DEVICES OUT_DIR [ASK_SHARE]`
//! writes `OUT_DIR/offers.geojson` and `OUT_DIR/trace.jsonl`; then time
//! `kairos replay --offers OUT_DIR/offers.geojson --trace OUT_DIR/trace.jsonl --out /dev/null`.
//! `ASK_SHARE` (0 to 1, default 0) turns that share of position events into
//! `ask` events, which skip the gap and the daily cap and so always run a full
//! decision: the worst case for the engine.
//! Deterministic: the same arguments give the same files.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

/// A small deterministic generator (SplitMix64): benchmarks must be repeatable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const CITIES: &[(f64, f64)] = &[
    (48.8566, 2.3522),  // Paris
    (45.8992, 6.1294),  // Annecy
    (48.1374, 11.5755), // Munich
    (60.1699, 24.9384), // Helsinki
    (43.7384, 7.4246),  // Monaco
    (47.8095, 13.0550), // Salzburg
    (47.7508, -3.3700), // Lorient
    (41.9028, 12.4964), // Rome
];

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let merchants = arg(1, 100_000);
    let events = arg(2, 200_000);
    let devices = arg(3, 1_000).max(1);
    let out = PathBuf::from(
        args.get(4)
            .cloned()
            .unwrap_or_else(|| "target/synth".into()),
    );
    let ask_share: f64 = args.get(5).and_then(|a| a.parse().ok()).unwrap_or(0.0);
    std::fs::create_dir_all(&out)?;
    let mut rng = Rng(42);

    let mut offers = BufWriter::new(File::create(out.join("offers.geojson"))?);
    writeln!(offers, "{{\"type\":\"FeatureCollection\",\"features\":[")?;
    for i in 0..merchants {
        let (clat, clon) = CITIES[(i % CITIES.len() as u64) as usize];
        // Dense centre, sparser suburbs: about 8 km across.
        let r = 8_000.0 * rng.unit().powf(1.5);
        let a = rng.unit() * std::f64::consts::TAU;
        let lat = clat + r * a.cos() / 111_320.0;
        let lon = clon + r * a.sin() / (111_320.0 * clat.to_radians().cos());
        let food = rng.unit() < 0.45;
        let mut props = format!("\"id\":\"m{i}\",\"name\":\"Merchant {i}\"");
        if food {
            let amenity = rng.pick(&["restaurant", "cafe", "fast_food", "restaurant", "ice_cream"]);
            let cuisine = rng.pick(&["pizza", "french", "burger", "italian", "asian", "regional"]);
            props += &format!(",\"amenity\":\"{amenity}\",\"cuisine\":\"{cuisine}\"");
            if rng.unit() < 0.05 {
                props += ",\"diet:gluten_free\":\"yes\"";
            }
            if rng.unit() < 0.15 {
                props += &format!(
                    ",\"diet:vegetarian\":\"{}\"",
                    rng.pick(&["yes", "only", "limited"])
                );
            }
            props += &format!(
                ",\"opening_hours\":\"{}\"",
                rng.pick(&[
                    "Mo-Su 11:30-14:30,18:30-22:30",
                    "Mo-Fr 12:00-14:00; Sa,Su 11:00-15:30; PH off",
                    "Tu-Su 08:00-20:00",
                    "24/7",
                ])
            );
        } else {
            let shop = rng.pick(&["clothes", "books", "hardware", "florist", "museum"]);
            if shop == "museum" {
                props += ",\"tourism\":\"museum\",\"opening_hours\":\"Tu-Su 10:00-18:00\"";
            } else {
                props += &format!(",\"shop\":\"{shop}\",\"opening_hours\":\"Mo-Sa 09:00-19:00\"");
            }
        }
        let sep = if i + 1 < merchants { "," } else { "" };
        writeln!(
            offers,
            "{{\"type\":\"Feature\",\"geometry\":{{\"type\":\"Point\",\"coordinates\":[{lon:.6},{lat:.6}]}},\"properties\":{{{props}}}}}{sep}"
        )?;
    }
    writeln!(offers, "]}}")?;
    offers.flush()?;

    let mut trace = BufWriter::new(File::create(out.join("trace.jsonl"))?);
    let mut state: Vec<(f64, f64, f64)> = (0..devices)
        .map(|d| {
            let (clat, clon) = CITIES[(d % CITIES.len() as u64) as usize];
            (
                clat + (rng.unit() - 0.5) * 0.05,
                clon + (rng.unit() - 0.5) * 0.05,
                rng.unit() * 360.0,
            )
        })
        .collect();
    let start = 1_784_116_800i64; // 2026-07-15T12:00:00Z
    for d in 0..devices {
        let diet = rng.pick(&["[]", "[\"gluten_free\"]", "[\"vegetarian\"]"]);
        writeln!(trace, "{{\"at\":\"{}\",\"topic\":\"kairos/dev{d}/profile\",\"payload\":{{\"consent\":true,\"diet\":{diet},\"likes\":[\"cuisine=pizza\"]}}}}", stamp(start))?;
        writeln!(trace, "{{\"at\":\"{}\",\"topic\":\"kairos/dev{d}/context\",\"payload\":{{\"hungry\":true,\"trip\":\"vacation\"}}}}", stamp(start))?;
    }
    for e in 0..events {
        let d = (e % devices) as usize;
        let t = start + 1 + (e / devices) as i64;
        let (lat, lon, heading) = &mut state[d];
        *heading = (*heading + (rng.unit() - 0.5) * 20.0).rem_euclid(360.0);
        let speed = 8.0 + rng.unit() * 20.0;
        *lat += speed * heading.to_radians().cos() / 111_320.0;
        *lon += speed * heading.to_radians().sin() / (111_320.0 * lat.to_radians().cos());
        if e >= devices && rng.unit() < ask_share {
            writeln!(
                trace,
                "{{\"at\":\"{}\",\"topic\":\"kairos/dev{d}/ask\",\"payload\":{{}}}}",
                stamp(t)
            )?;
            continue;
        }
        writeln!(
            trace,
            "{{\"at\":\"{}\",\"topic\":\"kairos/dev{d}/position\",\"payload\":{{\"lat\":{lat:.6},\"lon\":{lon:.6},\"heading\":{heading:.1},\"speed\":{speed:.1}}}}}",
            stamp(t)
        )?;
    }
    trace.flush()
}

fn stamp(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

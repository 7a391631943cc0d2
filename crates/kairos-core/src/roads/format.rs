//! kairos's own road file: the graph's arrays as little-endian bytes, so a
//! load is one read and a cast per array (no parsing, no id lookups).
//!
//! Version 1, all integers little-endian:
//!
//! | bytes | what |
//! |---|---|
//! | 8 | magic `KAIROSRD` |
//! | 4 | version (`u32`, 1) |
//! | 4 | reserved (0) |
//! | 4 × 8 | counts (`u64`): nodes *n*, segments *m*, ways *w*, report bytes *r* |
//! | 4*n* + 4*n* | node latitudes, longitudes (`i32`, 1e-7 degrees) |
//! | 4*m* + 4*m* | segment first and second node (`u32`) |
//! | 4*m* | segment way (`u32`) |
//! | *m* | segment directions (`u8`: 1 first → second, 2 back, 3 both) |
//! | *w* + *w* | way class and `service` kind codes (`u8`) |
//! | 4*w* | way speed (`f32`, km/h) |
//! | 8*w* | way OSM id (`i64`) |
//! | *r* | the import report: lines `count\treason\texample` (UTF-8) |
//!
//! Lengths, travel times, adjacency and the R-tree are derived at load (they
//! are cheaper to compute than to read). A file is checked whole before use:
//! its size must match its counts exactly and every index must be in range, so
//! a damaged file is an error, never a panic later.

use super::graph::{Parts, RoadNetwork};
use super::report::RoadsReport;
use super::tags::{RoadClass, ServiceKind};

/// The first bytes of a compact road file.
pub const MAGIC: &[u8; 8] = b"KAIROSRD";
/// The version this build writes and reads.
pub const VERSION: u32 = 1;
const HEADER: usize = 8 + 4 + 4 + 4 * 8;
/// At most this many segments (half-edge ids keep a bit free).
pub const MAX_SEGMENTS: usize = 1 << 30;

/// Why bytes are not a road network this build can read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    /// The bytes do not start with [`MAGIC`].
    #[error("not a kairos road file (no KAIROSRD header)")]
    NotRoads,
    /// Another version of the format.
    #[error("kairos road file version {found}, this kairos reads version {expected}: re-run `kairos import roads`")]
    Version {
        /// The file's version.
        found: u32,
        /// The version this build reads.
        expected: u32,
    },
    /// The file is cut short or inconsistent.
    #[error("damaged kairos road file: {0}")]
    Damaged(String),
}

/// True when `bytes` starts like a compact road file (any version).
pub fn is_compact(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// The network and its report as a compact file's bytes.
pub fn encode(network: &RoadNetwork, report: &RoadsReport) -> Vec<u8> {
    let mut text = String::new();
    for (reason, n, example) in report.reasons() {
        let clean = |s: &str| s.replace(['\t', '\n'], " ");
        text.push_str(&format!("{n}\t{}\t{}\n", clean(reason), clean(example)));
    }
    let (n, m, w) = (
        network.node_count(),
        network.segment_count(),
        network.way_count(),
    );
    let mut out = Vec::with_capacity(HEADER + 8 * n + 13 * m + 14 * w + text.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    for count in [n, m, w, text.len()] {
        out.extend_from_slice(&(count as u64).to_le_bytes());
    }
    let put = |out: &mut Vec<u8>, bytes: &[u8]| out.extend_from_slice(bytes);
    network
        .lat
        .iter()
        .for_each(|x| put(&mut out, &x.to_le_bytes()));
    network
        .lon
        .iter()
        .for_each(|x| put(&mut out, &x.to_le_bytes()));
    for end in 0..2 {
        network
            .seg_nodes
            .iter()
            .for_each(|s| put(&mut out, &s[end].to_le_bytes()));
    }
    network
        .seg_way
        .iter()
        .for_each(|x| put(&mut out, &x.to_le_bytes()));
    put(&mut out, &network.seg_flags);
    network.way_class.iter().for_each(|c| out.push(*c as u8));
    network.way_service.iter().for_each(|c| out.push(*c as u8));
    network
        .way_speed_kmh
        .iter()
        .for_each(|x| put(&mut out, &x.to_le_bytes()));
    network
        .way_osm_id
        .iter()
        .for_each(|x| put(&mut out, &x.to_le_bytes()));
    put(&mut out, text.as_bytes());
    out
}

/// Reads fixed-size little-endian values off the front of a byte slice.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        head
    }

    fn array<const N: usize, T>(&mut self, count: usize, from: fn([u8; N]) -> T) -> Vec<T> {
        self.take(count * N)
            .chunks_exact(N)
            .map(|c| from(c.try_into().expect("chunks_exact gives N bytes")))
            .collect()
    }
}

fn damaged(detail: impl Into<String>) -> FormatError {
    FormatError::Damaged(detail.into())
}

/// Reads a compact file's bytes into the network and its report.
pub fn decode(bytes: &[u8]) -> Result<(RoadNetwork, RoadsReport), FormatError> {
    if !is_compact(bytes) {
        return Err(FormatError::NotRoads);
    }
    if bytes.len() < HEADER {
        return Err(damaged("cut short in its header"));
    }
    let mut r = Reader { rest: &bytes[8..] };
    let version = u32::from_le_bytes(r.take(4).try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(FormatError::Version {
            found: version,
            expected: VERSION,
        });
    }
    r.take(4);
    let mut count = || u64::from_le_bytes(r.take(8).try_into().expect("8 bytes"));
    let (n, m, w, t) = (count(), count(), count(), count());
    let expected = [(n, 8u64), (m, 13), (w, 14), (t, 1)]
        .iter()
        .try_fold(HEADER as u64, |sum, (c, size)| {
            c.checked_mul(*size).and_then(|b| b.checked_add(sum))
        });
    if expected != Some(bytes.len() as u64) {
        return Err(damaged(format!(
            "{} bytes where its counts ({n} nodes, {m} segments, {w} ways) need {}",
            bytes.len(),
            expected.map_or("more than can be".to_string(), |e| e.to_string())
        )));
    }
    let (n, m, w, t) = (n as usize, m as usize, w as usize, t as usize);
    if n > u32::MAX as usize || m > MAX_SEGMENTS || w > u32::MAX as usize {
        return Err(damaged("more nodes, segments or ways than kairos indexes"));
    }
    let lat = r.array(n, i32::from_le_bytes);
    let lon = r.array(n, i32::from_le_bytes);
    let first = r.array(m, u32::from_le_bytes);
    let second = r.array(m, u32::from_le_bytes);
    let seg_way = r.array(m, u32::from_le_bytes);
    let seg_flags = r.take(m).to_vec();
    let classes = r.take(w);
    let services = r.take(w);
    let way_speed_kmh = r.array(w, f32::from_le_bytes);
    let way_osm_id = r.array(w, i64::from_le_bytes);
    let text = std::str::from_utf8(r.take(t)).map_err(|_| damaged("report not UTF-8"))?;

    let scale = super::graph::COORD_SCALE as i64;
    if lat.iter().any(|&x| i64::from(x).abs() > 90 * scale)
        || lon.iter().any(|&x| i64::from(x).abs() > 180 * scale)
    {
        return Err(damaged("a node out of range"));
    }
    let seg_nodes: Vec<[u32; 2]> = first.into_iter().zip(second).map(|(a, b)| [a, b]).collect();
    if seg_nodes
        .iter()
        .any(|s| s[0] as usize >= n || s[1] as usize >= n)
    {
        return Err(damaged("a segment names a node that does not exist"));
    }
    if seg_way.iter().any(|&x| x as usize >= w) {
        return Err(damaged("a segment names a way that does not exist"));
    }
    if seg_flags.iter().any(|&f| !(1..=3).contains(&f)) {
        return Err(damaged("a segment with no direction"));
    }
    let way_class = classes
        .iter()
        .map(|&c| RoadClass::from_code(c))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| damaged("an unknown road class"))?;
    let way_service = services
        .iter()
        .map(|&c| ServiceKind::from_code(c))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| damaged("an unknown service kind"))?;
    if way_speed_kmh.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        return Err(damaged("a way with no speed"));
    }

    let mut report = RoadsReport {
        ways: w,
        nodes: n,
        segments: m,
        ..RoadsReport::default()
    };
    for line in text.lines() {
        let mut fields = line.splitn(3, '\t');
        let (Some(count), Some(reason), Some(example)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err(damaged("a report line without three fields"));
        };
        let count = count
            .parse()
            .map_err(|_| damaged("a report count that is not a number"))?;
        report.add_many(reason, count, example);
    }
    let network = RoadNetwork::from_parts(Parts {
        lat,
        lon,
        seg_nodes,
        seg_way,
        seg_flags,
        way_class,
        way_service,
        way_speed_kmh,
        way_osm_id,
    });
    Ok((network, report))
}

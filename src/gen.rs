//! `kairos generate`: load for benchmarks at any scale, from real data.
//!
//! **Merchants.** Real city sets (OSM extracts imported with kairos's own
//! [`crate::import`] code, or offer files already imported) are *tiled* over
//! [`CITY_CENTRES`], ~80 European city centres: tile `t` goes to city
//! `t % cities`, at the next free cell of a square spiral around its centre, so
//! tiles never overlap and density stays the real one (a big run grows each
//! city's area, not its density). Each tile is one source set, turned by a
//! multiple of 90° and maybe mirrored, every merchant moved by a small jitter;
//! ids are fresh (`m{n}`), tags are the real ones. Real `diet:gluten_free`
//! tags are rare, so a share of the food places (default 2 %, about 0.7 % of
//! all merchants) is tagged `diet:gluten_free=yes`: the only made-up tag.
//!
//! **Drives.** Each device starts near a generated merchant and drives from
//! place to place within its city: it heads for another generated merchant of
//! the same city, turning smoothly (at most [`MAX_TURN_DEG_S`]) with a little
//! wander, at 5–30 m/s, picks the next place on arrival, and reports its
//! position every 1–5 s
//! (its own period). Profiles have consent (95 %), diets, likes and a language;
//! the context says hungry. All devices are merged in time order into one trace.
//!
//! **Roads** (`--roads`). Drives then follow the roads: from the road nearest
//! their start, along drivable directions, taking a random exit at each
//! junction (back only at a dead end), their heading the road's. Each `.osm.pbf` source's drivable network is laid
//! with every tile of its merchants, moved, turned and mirrored the same way
//! (without the merchants' jitter), into `roads.kairos` (the compact road
//! file). Cells are then sized by the roads' extent too, so copies never
//! overlap; copies are islands, not joined to each other (a drive by road
//! stays in its tile, as the merchants it can reach do). Offer-file sources
//! carry no roads: their tiles have none.
//!
//! Deterministic: the same sources, sizes and seed give the same bytes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::import::merchant::MerchantSink;
use crate::import::{osm, ImportError};
use kairos_core::geodesy::LatLon;
use kairos_core::offers::model::{FOOD_AMENITIES, FOOD_SHOPS};
use kairos_core::roads::{RoadNetwork, RoadsReport};

/// City centres (name, lat, lon) the real sets are tiled over.
pub const CITY_CENTRES: &[(&str, f64, f64)] = &[
    ("Paris", 48.8566, 2.3522),
    ("London", 51.5072, -0.1276),
    ("Berlin", 52.5200, 13.4050),
    ("Madrid", 40.4168, -3.7038),
    ("Rome", 41.9028, 12.4964),
    ("Vienna", 48.2082, 16.3738),
    ("Munich", 48.1374, 11.5755),
    ("Helsinki", 60.1699, 24.9384),
    ("Monaco", 43.7384, 7.4246),
    ("Salzburg", 47.8095, 13.0550),
    ("Lorient", 47.7508, -3.3700),
    ("Annecy", 45.8992, 6.1294),
    ("Lyon", 45.7640, 4.8357),
    ("Marseille", 43.2965, 5.3698),
    ("Toulouse", 43.6047, 1.4442),
    ("Bordeaux", 44.8378, -0.5792),
    ("Nantes", 47.2184, -1.5536),
    ("Lille", 50.6292, 3.0573),
    ("Strasbourg", 48.5734, 7.7521),
    ("Nice", 43.7102, 7.2620),
    ("Brussels", 50.8503, 4.3517),
    ("Antwerp", 51.2194, 4.4025),
    ("Amsterdam", 52.3676, 4.9041),
    ("Rotterdam", 51.9244, 4.4777),
    ("Utrecht", 52.0907, 5.1214),
    ("Luxembourg", 49.6116, 6.1319),
    ("Hamburg", 53.5511, 9.9937),
    ("Cologne", 50.9375, 6.9603),
    ("Frankfurt", 50.1109, 8.6821),
    ("Stuttgart", 48.7758, 9.1829),
    ("Dresden", 51.0504, 13.7373),
    ("Leipzig", 51.3397, 12.3731),
    ("Nuremberg", 49.4521, 11.0767),
    ("Hanover", 52.3759, 9.7320),
    ("Zurich", 47.3769, 8.5417),
    ("Geneva", 46.2044, 6.1432),
    ("Basel", 47.5596, 7.5886),
    ("Bern", 46.9480, 7.4474),
    ("Innsbruck", 47.2692, 11.4041),
    ("Graz", 47.0707, 15.4395),
    ("Milan", 45.4642, 9.1900),
    ("Turin", 45.0703, 7.6869),
    ("Venice", 45.4408, 12.3155),
    ("Bologna", 44.4949, 11.3426),
    ("Florence", 43.7696, 11.2558),
    ("Naples", 40.8518, 14.2681),
    ("Barcelona", 41.3874, 2.1686),
    ("Valencia", 39.4699, -0.3763),
    ("Seville", 37.3891, -5.9845),
    ("Bilbao", 43.2630, -2.9350),
    ("Lisbon", 38.7223, -9.1393),
    ("Porto", 41.1579, -8.6291),
    ("Dublin", 53.3498, -6.2603),
    ("Manchester", 53.4808, -2.2426),
    ("Birmingham", 52.4862, -1.8904),
    ("Edinburgh", 55.9533, -3.1883),
    ("Glasgow", 55.8642, -4.2518),
    ("Copenhagen", 55.6761, 12.5683),
    ("Aarhus", 56.1629, 10.2039),
    ("Oslo", 59.9139, 10.7522),
    ("Stockholm", 59.3293, 18.0686),
    ("Gothenburg", 57.7089, 11.9746),
    ("Tampere", 61.4978, 23.7610),
    ("Tallinn", 59.4370, 24.7536),
    ("Riga", 56.9496, 24.1052),
    ("Vilnius", 54.6872, 25.2797),
    ("Warsaw", 52.2297, 21.0122),
    ("Krakow", 50.0647, 19.9450),
    ("Wroclaw", 51.1079, 17.0385),
    ("Prague", 50.0755, 14.4378),
    ("Brno", 49.1951, 16.6068),
    ("Bratislava", 48.1486, 17.1077),
    ("Budapest", 47.4979, 19.0402),
    ("Ljubljana", 46.0569, 14.5058),
    ("Zagreb", 45.8150, 15.9819),
    ("Belgrade", 44.7866, 20.4489),
    ("Bucharest", 44.4268, 26.1025),
    ("Sofia", 42.6977, 23.3219),
    ("Athens", 37.9838, 23.7275),
    ("Thessaloniki", 40.6401, 22.9444),
];

/// How fast a drive turns, in degrees per second (about a city turn at 15 m/s).
pub const MAX_TURN_DEG_S: f64 = 6.0;

/// A drive picks its next destination when it is this close to the current one.
const ARRIVED_M: f64 = 300.0;

/// Metres per degree of latitude (and of longitude at the equator).
const M_PER_DEG: f64 = 111_320.0;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Real merchant sets: `.osm.pbf` extracts (imported here) or offer files.
    pub sources: Vec<PathBuf>,
    /// How many merchants to write.
    pub merchants: usize,
    /// How many devices drive.
    pub devices: usize,
    /// How many position events, over all devices.
    pub events: usize,
    /// The seed: same seed, same files.
    pub seed: u64,
    /// Share of food places tagged `diet:gluten_free=yes` (when not tagged already).
    pub gluten_free_share: f64,
    /// The instant the drives start.
    pub start: DateTime<Utc>,
    /// Also write `roads.kairos`: the sources' road networks, tiled with their merchants.
    pub roads: bool,
}

impl GenerateOptions {
    /// The defaults for `sources`: a Wednesday lunchtime in Central Europe,
    /// seed 1, 2 % gluten-free food places.
    pub fn new(sources: Vec<PathBuf>, merchants: usize, devices: usize, events: usize) -> Self {
        Self {
            sources,
            merchants,
            devices,
            events,
            seed: 1,
            gluten_free_share: 0.02,
            start: DateTime::from_timestamp(1_784_115_000, 0).unwrap_or_default(), // 2026-07-15T11:30:00Z
            roads: false,
        }
    }
}

/// What was generated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenerateSummary {
    /// Merchants in the real sets, before tiling.
    pub source_merchants: usize,
    /// Merchants written.
    pub merchants: usize,
    /// Of which food places.
    pub food: usize,
    /// Of which serve gluten-free (real or added tag).
    pub gluten_free: usize,
    /// Tiles laid (the last may be partial).
    pub tiles: usize,
    /// Cities that received at least one tile.
    pub cities: usize,
    /// Devices in the trace.
    pub devices: usize,
    /// Position events in the trace.
    pub positions: usize,
    /// Trace lines (positions, profiles, contexts).
    pub lines: usize,
    /// Road nodes written (with `roads`).
    pub road_nodes: usize,
    /// Road segments written (with `roads`).
    pub road_segments: usize,
}

impl GenerateSummary {
    /// One line for stderr.
    pub fn report(&self, dir: &Path, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(
            out,
            "kairos: {} merchants ({} food places, {} gluten-free) from {} real ones in {} tiles over {} cities, \
{} devices, {} positions ({} trace lines) written to {}",
            self.merchants,
            self.food,
            self.gluten_free,
            self.source_merchants,
            self.tiles,
            self.cities,
            self.devices,
            self.positions,
            self.lines,
            dir.display()
        )?;
        if self.road_nodes > 0 {
            writeln!(
                out,
                "kairos: {} road nodes, {} segments written to {}",
                self.road_nodes,
                self.road_segments,
                dir.join(ROADS_FILE).display()
            )?;
        }
        Ok(())
    }
}

/// The road file `generate` writes with `roads`.
pub const ROADS_FILE: &str = "roads.kairos";

/// The `.osm.pbf` extracts in `dir`, sorted by name (none when it cannot be read).
pub fn default_sources(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".osm.pbf"))
        .collect();
    found.sort();
    found
}

/// Writes `dir/offers.geojson` and `dir/trace.jsonl`.
pub fn generate(options: &GenerateOptions, dir: &Path) -> Result<GenerateSummary, ImportError> {
    if options.sources.is_empty() {
        return Err(ImportError::Option(
            "no source merchants: give --from FILE (.osm.pbf or offer file)".into(),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|source| ImportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let sets = options
        .sources
        .iter()
        .map(|p| read_source(p, options.roads))
        .collect::<Result<Vec<_>, _>>()?;
    let mut summary = GenerateSummary {
        source_merchants: sets.iter().map(|s| s.places.len()).sum(),
        ..GenerateSummary::default()
    };
    if summary.source_merchants == 0 {
        return Err(ImportError::Option("the sources hold no merchant".into()));
    }
    let offers = dir.join("offers.geojson");
    let (places, tiles) = write_atomically(&offers, |out| {
        write_merchants(options, &sets, out, &mut summary)
    })?;
    let roads = if options.roads {
        Some(write_roads(&sets, &tiles, dir, &mut summary)?)
    } else {
        None
    };
    let trace = dir.join("trace.jsonl");
    write_atomically(&trace, |out| {
        write_drives(options, &places, roads.as_ref(), out, &mut summary)
    })?;
    Ok(summary)
}

/// A real merchant relative to its set's centre.
struct Place {
    east_m: f64,
    north_m: f64,
    is_food: bool,
    properties: Map<String, Value>,
}

/// One real city set.
struct CitySet {
    places: Vec<Place>,
    /// The centre the places' offsets are from, and its latitude's cosine.
    centre: LatLon,
    cos_lat: f64,
    /// Its drivable roads (a `.osm.pbf` source, with `roads`).
    roads: Option<RoadNetwork>,
}

impl CitySet {
    /// Half the side of the square the set fills around its centre (its
    /// merchants, and its roads when it has them).
    fn half_side_m(&self) -> f64 {
        let places = self
            .places
            .iter()
            .map(|p| p.east_m.abs().max(p.north_m.abs()))
            .fold(0.0, f64::max);
        let Some(roads) = &self.roads else {
            return places;
        };
        (0..roads.node_count() as u32)
            .map(|node| {
                let (e, n) = self.offset_of(roads.node_location(node));
                e.abs().max(n.abs())
            })
            .fold(places, f64::max)
    }

    /// Metres east and north of the set's centre, in its local flat frame.
    fn offset_of(&self, at: LatLon) -> (f64, f64) {
        (
            (at.lon - self.centre.lon) * M_PER_DEG * self.cos_lat,
            (at.lat - self.centre.lat) * M_PER_DEG,
        )
    }
}

/// Where one tile went: which set, turned and mirrored how, in which cell.
struct Tile {
    set: usize,
    turns: usize,
    mirror: bool,
    cell: (i64, i64),
    centre: (f64, f64),
    cell_m: f64,
}

impl Tile {
    /// A point of the tile's set (metres from the set's centre) where the tile puts it.
    fn place(&self, mut e: f64, mut n: f64) -> LatLon {
        if self.mirror {
            e = -e;
        }
        for _ in 0..self.turns {
            (e, n) = (n, -e);
        }
        e += self.cell.0 as f64 * self.cell_m;
        n += self.cell.1 as f64 * self.cell_m;
        let (clat, clon) = self.centre;
        LatLon::new(
            clat + n / M_PER_DEG,
            clon + e / (M_PER_DEG * clat.to_radians().cos()),
        )
    }
}

/// Reads one source: a PBF through the importer, anything else as an offer
/// file; with `roads`, a PBF's drivable network too.
fn read_source(path: &Path, roads: bool) -> Result<CitySet, ImportError> {
    let name = path.to_string_lossy().to_ascii_lowercase();
    let text = if name.ends_with(".pbf") {
        let mut buffer = Vec::new();
        let mut sink = MerchantSink::new(&mut buffer).map_err(io_error(path))?;
        osm::import_pbf(path, &mut sink)?;
        sink.finish().map_err(io_error(path))?;
        buffer
    } else {
        std::fs::read(path).map_err(io_error(path))?
    };
    let collection: Value = serde_json::from_slice(&text).map_err(|e| ImportError::Format {
        path: path.to_path_buf(),
        detail: format!("not an offer file: {e}"),
    })?;
    let features = collection
        .get("features")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut points = Vec::new();
    for feature in features {
        let Some(Value::Object(properties)) = feature.get("properties").cloned() else {
            continue;
        };
        let geometry = feature.get("geometry");
        if geometry.and_then(|g| g.get("type")).and_then(Value::as_str) != Some("Point") {
            continue;
        }
        let coordinates = geometry.and_then(|g| g.get("coordinates"));
        let coordinate = |i: usize| coordinates.and_then(|c| c.get(i)).and_then(Value::as_f64);
        if let (Some(lon), Some(lat)) = (coordinate(0), coordinate(1)) {
            points.push((LatLon::new(lat, lon), properties));
        }
    }
    if points.is_empty() {
        return Ok(CitySet {
            places: Vec::new(),
            centre: LatLon::new(0.0, 0.0),
            cos_lat: 1.0,
            roads: None,
        });
    }
    // The centre of the bounding box; offsets in a local flat frame (sets are a few km).
    let (mut lat0, mut lat1, mut lon0, mut lon1) = (90.0f64, -90.0f64, 180.0f64, -180.0f64);
    for (at, _) in &points {
        lat0 = lat0.min(at.lat);
        lat1 = lat1.max(at.lat);
        lon0 = lon0.min(at.lon);
        lon1 = lon1.max(at.lon);
    }
    let centre = LatLon::new((lat0 + lat1) / 2.0, (lon0 + lon1) / 2.0);
    let cos_lat = centre.lat.to_radians().cos();
    let places = points
        .into_iter()
        .map(|(at, properties)| Place {
            east_m: (at.lon - centre.lon) * M_PER_DEG * cos_lat,
            north_m: (at.lat - centre.lat) * M_PER_DEG,
            is_food: is_food(&properties),
            properties,
        })
        .collect();
    let roads = if roads && name.ends_with(".pbf") {
        let (network, _) =
            crate::import::roads::read_pbf(path).map_err(|e| ImportError::Format {
                path: path.to_path_buf(),
                detail: e.to_string(),
            })?;
        Some(network)
    } else {
        None
    };
    Ok(CitySet {
        places,
        centre,
        cos_lat,
        roads,
    })
}

/// Where a tile puts a point of its set.
type Move<'a> = Box<dyn Fn(LatLon) -> LatLon + 'a>;

/// Writes `dir/roads.kairos`: every tile's set's roads, placed as its merchants.
fn write_roads(
    sets: &[CitySet],
    tiles: &[Tile],
    dir: &Path,
    summary: &mut GenerateSummary,
) -> Result<RoadNetwork, ImportError> {
    let path = dir.join(ROADS_FILE);
    let sets: Vec<&CitySet> = sets.iter().filter(|s| !s.places.is_empty()).collect();
    let moves: Vec<(&RoadNetwork, Move<'_>)> = tiles
        .iter()
        .filter_map(|tile| {
            let set = sets[tile.set];
            let roads = set.roads.as_ref()?;
            let place: Move<'_> = Box::new(move |at| {
                let (e, n) = set.offset_of(at);
                tile.place(e, n)
            });
            Some((roads, place))
        })
        .collect();
    let network = kairos_core::roads::tile::tile(
        moves
            .iter()
            .map(|(net, place)| (*net, place.as_ref() as &dyn Fn(LatLon) -> LatLon)),
    )
    .ok_or_else(|| ImportError::Option("too many road nodes for one road file".into()))?;
    summary.road_nodes = network.node_count();
    summary.road_segments = network.segment_count();
    let report = RoadsReport::counts_of(&network);
    let bytes = kairos_core::roads::format::encode(&network, &report);
    write_atomically(&path, |out| out.write_all(&bytes))?;
    Ok(network)
}

/// Food places as the loader sees them.
fn is_food(properties: &Map<String, Value>) -> bool {
    let tag = |k: &str| properties.get(k).and_then(Value::as_str).unwrap_or("");
    FOOD_AMENITIES.contains(&tag("amenity")) || FOOD_SHOPS.contains(&tag("shop"))
}

/// Generated merchants drives start from and head for, by city.
type Places = Vec<Vec<LatLon>>;

/// Writes the tiled merchants; returns places for drives to start from, and
/// where each tile went.
fn write_merchants(
    options: &GenerateOptions,
    sets: &[CitySet],
    out: &mut dyn Write,
    summary: &mut GenerateSummary,
) -> std::io::Result<(Places, Vec<Tile>)> {
    let mut rng = Rng::new(options.seed);
    let sets: Vec<&CitySet> = sets.iter().filter(|s| !s.places.is_empty()).collect();
    let cell_m = 2.0 * sets.iter().map(|s| s.half_side_m()).fold(0.0, f64::max) + 200.0;
    let mut places: Places = vec![Vec::new(); CITY_CENTRES.len()];
    let mut cities = vec![false; CITY_CENTRES.len()];
    out.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[")?;
    let mut line = String::new();
    let mut written = 0usize;
    let mut tile = 0usize;
    let mut tiles = Vec::new();
    let progress =
        crate::progress::Progress::items("generate: merchants", options.merchants as u64);
    while written < options.merchants {
        progress.set(written as u64);
        let city = tile % CITY_CENTRES.len();
        cities[city] = true;
        let (_, clat, clon) = CITY_CENTRES[city];
        let (cx, cy) = spiral_cell(tile / CITY_CENTRES.len());
        let set_index = rng.below(sets.len());
        let set = sets[set_index];
        let turns = rng.below(4);
        let mirror = rng.below(2) == 1;
        tiles.push(Tile {
            set: set_index,
            turns,
            mirror,
            cell: (cx, cy),
            centre: (clat, clon),
            cell_m,
        });
        for place in &set.places {
            if written >= options.merchants {
                break;
            }
            let (mut e, mut n) = (place.east_m, place.north_m);
            if mirror {
                e = -e;
            }
            for _ in 0..turns {
                (e, n) = (n, -e);
            }
            e += cx as f64 * cell_m + (rng.unit() - 0.5) * 30.0;
            n += cy as f64 * cell_m + (rng.unit() - 0.5) * 30.0;
            let lat = clat + n / M_PER_DEG;
            let lon = clon + e / (M_PER_DEG * clat.to_radians().cos());
            let mut properties = Map::with_capacity(place.properties.len() + 1);
            properties.insert("id".into(), Value::String(format!("m{written}")));
            for (k, v) in &place.properties {
                if k != "id" {
                    properties.insert(k.clone(), v.clone());
                }
            }
            if place.is_food {
                summary.food += 1;
                let tagged = properties.contains_key("diet:gluten_free");
                if !tagged && rng.unit() < options.gluten_free_share {
                    properties.insert("diet:gluten_free".into(), Value::String("yes".into()));
                }
                if matches!(
                    properties.get("diet:gluten_free").and_then(Value::as_str),
                    Some("yes" | "only")
                ) {
                    summary.gluten_free += 1;
                }
            }
            line.clear();
            let _ = write!(
                line,
                "{}{{\"type\":\"Feature\",\"geometry\":{{\"type\":\"Point\",\"coordinates\":[{lon:.7},{lat:.7}]}},\"properties\":",
                if written == 0 { "\n" } else { ",\n" }
            );
            out.write_all(line.as_bytes())?;
            serde_json::to_writer(&mut *out, &properties)?;
            out.write_all(b"}")?;
            if rng.unit() < 0.01 || places[city].is_empty() {
                places[city].push(LatLon::new(lat, lon));
            }
            written += 1;
        }
        tile += 1;
    }
    out.write_all(b"\n]}\n")?;
    summary.merchants = written;
    summary.tiles = tile;
    summary.cities = cities.iter().filter(|c| **c).count();
    places.retain(|p| !p.is_empty());
    Ok((places, tiles))
}

/// The `i`-th cell of a square spiral around (0, 0): (0,0), (1,0), (1,1), (0,1), (-1,1), ...
fn spiral_cell(i: usize) -> (i64, i64) {
    let (mut x, mut y, mut dx, mut dy) = (0i64, 0i64, 1i64, 0i64);
    let (mut leg, mut step, mut legs) = (1, 0, 0);
    for _ in 0..i {
        x += dx;
        y += dy;
        step += 1;
        if step == leg {
            step = 0;
            (dx, dy) = (-dy, dx);
            legs += 1;
            if legs % 2 == 0 {
                leg += 1;
            }
        }
    }
    (x, y)
}

/// One device's drive.
struct Drive {
    name: String,
    city: usize,
    target: LatLon,
    at: LatLon,
    heading: f64,
    turn_deg_s: f64,
    speed: f64,
    period_s: i64,
    left: usize,
    context_at: i64,
    context: String,
    /// On the roads: the half-edge driven and metres along it.
    road: Option<(u32, f64)>,
}

/// Writes profiles, contexts and positions of every device, merged in time order.
fn write_drives(
    options: &GenerateOptions,
    places: &Places,
    roads: Option<&RoadNetwork>,
    out: &mut dyn Write,
    summary: &mut GenerateSummary,
) -> std::io::Result<()> {
    let mut rng = Rng::new(options.seed ^ 0x5eed_d12e);
    let devices = options.devices.max(1);
    let start = options.start.timestamp();
    let stamp = |t: i64| {
        DateTime::from_timestamp(t, 0)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let mut drives = Vec::with_capacity(devices);
    let mut queue = BinaryHeap::with_capacity(devices);
    let t0 = stamp(start);
    for d in 0..devices {
        let city = rng.below(places.len());
        let at = offset(
            places[city][rng.below(places[city].len())],
            (rng.unit() - 0.5) * 400.0,
            (rng.unit() - 0.5) * 400.0,
        );
        let name = format!("car{d}");
        let consent = rng.unit() < 0.95;
        let diet = [
            "[]",
            "[]",
            "[\"gluten_free\"]",
            "[\"vegetarian\"]",
            "[\"vegan\"]",
        ][rng.below(5)];
        let likes = [
            "[]",
            "[\"cuisine=pizza\"]",
            "[\"cuisine=italian\",\"amenity=cafe\"]",
            "[\"cuisine=regional\"]",
        ][rng.below(4)];
        let lang = ["en", "fr"][rng.below(2)];
        writeln!(
            out,
            "{{\"at\":\"{t0}\",\"topic\":\"kairos/{name}/profile\",\"payload\":{{\"consent\":{consent},\"diet\":{diet},\"likes\":{likes},\"lang\":\"{lang}\"}}}}"
        )?;
        let trip = ["vacation", "commute", "business", "errand"][rng.below(4)];
        let context = format!("{{\"hungry\":true,\"trip\":\"{trip}\"}}");
        writeln!(
            out,
            "{{\"at\":\"{t0}\",\"topic\":\"kairos/{name}/context\",\"payload\":{context}}}"
        )?;
        summary.lines += 2;
        let period_s = 1 + rng.below(5) as i64;
        let left = options.events / devices + usize::from(d < options.events % devices);
        if left > 0 {
            queue.push(Reverse((start + rng.below(period_s as usize) as i64, d)));
        }
        drives.push(Drive {
            name,
            city,
            target: places[city][rng.below(places[city].len())],
            at,
            heading: rng.unit() * 360.0,
            turn_deg_s: 0.0,
            speed: 5.0 + rng.unit() * 25.0,
            period_s,
            left,
            context_at: start,
            context,
            road: roads.and_then(|net| {
                let access = net.access_point(at)?;
                let h = 2 * access.segment();
                let (h, along) = if net.may_drive(h) {
                    (h, access.along_m())
                } else {
                    (
                        h + 1,
                        net.segment_length_m(access.segment()) - access.along_m(),
                    )
                };
                Some((h, along))
            }),
        });
    }
    let mut line = String::with_capacity(256);
    let progress = crate::progress::Progress::items("generate: events", options.events as u64);
    let mut emitted = 0u64;
    while let Some(Reverse((t, d))) = queue.pop() {
        emitted += 1;
        if emitted.is_multiple_of(4096) {
            progress.set(emitted);
        }
        let drive = &mut drives[d];
        // Context fields expire after 2 h: a long drive says it again.
        if t - drive.context_at >= 5_400 {
            drive.context_at = t;
            writeln!(
                out,
                "{{\"at\":\"{}\",\"topic\":\"kairos/{}/context\",\"payload\":{}}}",
                stamp(t),
                drive.name,
                drive.context
            )?;
            summary.lines += 1;
        }
        match roads {
            Some(net) if drive.road.is_some() => {
                drive.advance_on_road(drive.period_s as f64, net, &mut rng)
            }
            _ => drive.advance(drive.period_s as f64, &places[drive.city], &mut rng),
        }
        line.clear();
        let _ = write!(
            line,
            "{{\"at\":\"{}\",\"topic\":\"kairos/{}/position\",\"payload\":{{\"lat\":{:.6},\"lon\":{:.6},\"heading\":{:.1},\"speed\":{:.1},\"accuracy\":{}}}}}",
            stamp(t),
            drive.name,
            drive.at.lat,
            drive.at.lon,
            drive.heading,
            drive.speed,
            5 + rng.below(11)
        );
        writeln!(out, "{line}")?;
        summary.positions += 1;
        summary.lines += 1;
        drive.left -= 1;
        if drive.left > 0 {
            queue.push(Reverse((t + drive.period_s, d)));
        }
    }
    summary.devices = devices;
    Ok(())
}

impl Drive {
    /// Moves on by `dt` seconds: turns towards the destination (with a
    /// little wander), speed wanders smoothly; a new destination on arrival.
    fn advance(&mut self, dt: f64, places: &[LatLon], rng: &mut Rng) {
        if kairos_core::geodesy::distance_m(self.at, self.target) < ARRIVED_M {
            self.target = places[rng.below(places.len())];
        }
        self.speed = (self.speed + (rng.unit() - 0.5) * 1.0 * dt).clamp(5.0, 30.0);
        self.turn_deg_s = (self.turn_deg_s + (rng.unit() - 0.5) * 1.0 * dt).clamp(-2.0, 2.0);
        let wanted = kairos_core::geodesy::bearing_deg(self.at, self.target);
        let error = (wanted - self.heading + 540.0).rem_euclid(360.0) - 180.0;
        let limit = MAX_TURN_DEG_S * dt;
        let heading = self.heading + (error + self.turn_deg_s * dt).clamp(-limit, limit);
        self.heading = heading.rem_euclid(360.0);
        let step = self.speed * dt;
        let (s, c) = self.heading.to_radians().sin_cos();
        self.at = offset(self.at, step * s, step * c);
    }

    /// Moves on by `dt` seconds along the roads: a random drivable exit at
    /// each node (back only at a dead end); position and heading on the road.
    fn advance_on_road(&mut self, dt: f64, net: &RoadNetwork, rng: &mut Rng) {
        let Some((mut h, mut along)) = self.road else {
            return;
        };
        self.speed = (self.speed + (rng.unit() - 0.5) * 1.0 * dt).clamp(5.0, 30.0);
        along += self.speed * dt;
        let mut choices = Vec::new();
        // At most a few hundred segments per step: a guard on degenerate loops.
        for _ in 0..512 {
            let len = net.segment_length_m(h >> 1);
            if along < len {
                break;
            }
            along -= len;
            let (node, back) = (net.head(h), net.tail(h));
            choices.clear();
            choices.extend(
                net.leaving(node)
                    .iter()
                    .copied()
                    .filter(|&g| net.may_drive(g) && net.head(g) != back),
            );
            if choices.is_empty() {
                choices.extend(
                    net.leaving(node)
                        .iter()
                        .copied()
                        .filter(|&g| net.may_drive(g)),
                );
            }
            match choices.get(rng.below(choices.len())) {
                Some(&g) => h = g,
                None => {
                    along = len;
                    break;
                }
            }
        }
        let (a, b) = (
            net.node_location(net.tail(h)),
            net.node_location(net.head(h)),
        );
        let len = net.segment_length_m(h >> 1).max(1e-9);
        let t = (along / len).clamp(0.0, 1.0);
        self.at = LatLon::new(a.lat + t * (b.lat - a.lat), a.lon + t * (b.lon - a.lon));
        if a != b {
            self.heading = kairos_core::geodesy::bearing_deg(a, b);
        }
        self.road = Some((h, along));
    }
}

/// `at` moved `east_m` and `north_m` metres (flat approximation, fine for metres).
fn offset(at: LatLon, east_m: f64, north_m: f64) -> LatLon {
    LatLon::new(
        at.lat + north_m / M_PER_DEG,
        at.lon + east_m / (M_PER_DEG * at.lat.to_radians().cos()),
    )
}

/// SplitMix64: small, fast and the same everywhere, so a seed means the same files.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ImportError + '_ {
    move |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes through a temporary file renamed into place on success.
fn write_atomically<T>(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<T>,
) -> Result<T, ImportError> {
    let temp = path.with_extension("partial");
    let file = std::fs::File::create(&temp).map_err(io_error(path))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
    let value = write(&mut out)
        .and_then(|v| out.flush().map(|()| v))
        .map_err(io_error(path));
    match value {
        Ok(value) => {
            std::fs::rename(&temp, path).map_err(io_error(path))?;
            Ok(value)
        }
        Err(e) => {
            // Best effort: the error being returned says what went wrong.
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spiral_visits_distinct_cells_around_the_centre() {
        let cells: Vec<_> = (0..25).map(spiral_cell).collect();
        assert_eq!(cells[0], (0, 0));
        let distinct: std::collections::HashSet<_> = cells.iter().collect();
        assert_eq!(distinct.len(), 25);
        assert!(cells.iter().all(|(x, y)| x.abs() <= 2 && y.abs() <= 2));
    }

    #[test]
    fn roads_are_tiled_with_their_merchants_and_drives_follow_them() {
        // The real Monaco extract, from the real-data folder (docs/testing.md).
        let dir = std::env::var_os("KAIROS_DATA_DIR").unwrap_or_default();
        let pbf = Path::new(&dir).join("osm/monaco-2021.osm.pbf");
        if !pbf.exists() {
            assert!(
                std::env::var_os("KAIROS_REQUIRE_DATA").is_none_or(|v| v != "1"),
                "real data {} is required (KAIROS_REQUIRE_DATA=1)",
                pbf.display()
            );
            eprintln!("skipped: real data {} is absent", pbf.display());
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let mut options = GenerateOptions::new(vec![pbf.clone()], 700, 3, 90);
        options.roads = true;
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let summary = generate(&options, &a).unwrap();
        generate(&options, &b).unwrap();
        for file in ["offers.geojson", "trace.jsonl", ROADS_FILE] {
            assert_eq!(
                std::fs::read(a.join(file)).unwrap(),
                std::fs::read(b.join(file)).unwrap(),
                "{file}"
            );
        }
        let (source, _) = crate::import::roads::read_pbf(&pbf).unwrap();
        let (net, _) = crate::import::roads::load_roads(&a.join(ROADS_FILE)).unwrap();
        assert!(summary.tiles >= 3);
        assert_eq!(net.node_count(), summary.tiles * source.node_count());
        assert_eq!(net.segment_count(), summary.tiles * source.segment_count());
        // Every merchant near a road of its tile, every position on a road.
        let (catalog, _) = crate::offer_files::load_catalog(&[a.join("offers.geojson")]).unwrap();
        let near = (0..catalog.len())
            .filter(|&i| net.access_point(catalog.merchant(i).location).is_some())
            .count();
        assert!(
            near * 10 >= catalog.len() * 9,
            "{near} of {}",
            catalog.len()
        );
        let trace = std::fs::read_to_string(a.join("trace.jsonl")).unwrap();
        let mut positions = 0;
        for line in trace.lines().filter(|l| l.contains("/position")) {
            let event: Value = serde_json::from_str(line).unwrap();
            let p = &event["payload"];
            let at = LatLon::new(p["lat"].as_f64().unwrap(), p["lon"].as_f64().unwrap());
            let on = net.access_point(at).expect("a road near the position");
            assert!(on.off_road_m() < 1.0, "{line}: {} m off", on.off_road_m());
            positions += 1;
        }
        assert_eq!(positions, 90);
    }

    #[test]
    fn the_same_seed_gives_the_same_files_and_ids_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("set.geojson");
        std::fs::write(
            &source,
            r#"{"type":"FeatureCollection","features":[
{"type":"Feature","geometry":{"type":"Point","coordinates":[2.35,48.85]},"properties":{"id":"node/1","amenity":"restaurant","name":"A"}},
{"type":"Feature","geometry":{"type":"Point","coordinates":[2.36,48.86]},"properties":{"id":"node/2","shop":"books","name":"B"}}]}"#,
        )
        .unwrap();
        let options = GenerateOptions::new(vec![source], 101, 3, 30);
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let summary = generate(&options, &a).unwrap();
        generate(&options, &b).unwrap();
        for file in ["offers.geojson", "trace.jsonl"] {
            assert_eq!(
                std::fs::read(a.join(file)).unwrap(),
                std::fs::read(b.join(file)).unwrap()
            );
        }
        assert_eq!(summary.merchants, 101);
        assert_eq!(summary.positions, 30);
        let (catalog, problems) =
            crate::offer_files::load_catalog(&[a.join("offers.geojson")]).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(catalog.len(), 101);
    }
}

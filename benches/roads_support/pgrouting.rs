//! The side by side of `cargo bench --bench roads -- --postgres CONN`: what a
//! team would build instead, PostGIS + pgRouting on the same extract's roads.
//!
//! The same segments (nodes, lengths, one-way rules, SPEC's speeds: kairos's
//! reading of the extract) go into a pgRouting edge table (`cost`,
//! `reverse_cost` = seconds, -1 where a one-way forbids), with a GiST index
//! on the vertices. Per query, as a team would: the position's nearest vertex
//! (`<->`), then one `pgr_dijkstra` from it to every candidate's vertex (the
//! vertex kairos's path arrives by, precomputed as access points are). Then,
//! untimed, the answers: pgRouting's time from the node ahead of the position
//! to each arrival node against kairos's for the same stretch (its path less
//! the partial first and last segments).

use std::io::Write;
use std::time::Instant;

use kairos::roads::{AccessPoint, RoadMatch, RoadNetwork, SearchScratch};

type AnyResult<T> = Result<T, Box<dyn std::error::Error>>;

/// One query: a matched position, its reach, and its targets.
pub struct Query {
    pub matched: RoadMatch,
    pub at: kairos::geodesy::LatLon,
    pub reach: f64,
    pub targets: Vec<AccessPoint>,
}

/// Loads `net` into PostgreSQL at `conn` and runs `queries` both ways.
pub fn side_by_side(net: &RoadNetwork, conn: &str, queries: &[Query]) -> AnyResult<()> {
    let mut client = postgres::Client::connect(conn, postgres::NoTls)?;
    client.batch_execute(
        "CREATE EXTENSION IF NOT EXISTS postgis;
         CREATE EXTENSION IF NOT EXISTS pgrouting;
         DROP TABLE IF EXISTS kairos_bench_edges;
         DROP TABLE IF EXISTS kairos_bench_vertices;
         CREATE TABLE kairos_bench_edges (id bigint PRIMARY KEY, source bigint, target bigint,
             cost float8, reverse_cost float8, geom geometry(LineString, 4326));
         CREATE TABLE kairos_bench_vertices (id bigint PRIMARY KEY, geom geometry(Point, 4326));",
    )?;
    let started = Instant::now();
    {
        let mut copy = client.copy_in("COPY kairos_bench_edges FROM STDIN")?;
        let mut out = std::io::BufWriter::with_capacity(1 << 16, &mut copy);
        for s in 0..net.segment_count() as u32 {
            let [a, b] = net.segment_nodes(s);
            let (pa, pb) = (net.node_location(a), net.node_location(b));
            let secs = net.segment_seconds(s);
            let cost = |h: u32| if net.may_drive(h) { secs } else { -1.0 };
            writeln!(
                out,
                "{s}\t{}\t{}\t{}\t{}\tSRID=4326;LINESTRING({} {}, {} {})",
                a + 1,
                b + 1,
                cost(2 * s),
                cost(2 * s + 1),
                pa.lon,
                pa.lat,
                pb.lon,
                pb.lat
            )?;
        }
        out.flush()?;
        drop(out);
        copy.finish()?;
    }
    {
        let mut copy = client.copy_in("COPY kairos_bench_vertices FROM STDIN")?;
        let mut out = std::io::BufWriter::with_capacity(1 << 16, &mut copy);
        for n in 0..net.node_count() as u32 {
            let p = net.node_location(n);
            writeln!(out, "{}\tSRID=4326;POINT({} {})", n + 1, p.lon, p.lat)?;
        }
        out.flush()?;
        drop(out);
        copy.finish()?;
    }
    client.batch_execute(
        "CREATE INDEX ON kairos_bench_vertices USING gist (geom);
         ANALYZE kairos_bench_edges; ANALYZE kairos_bench_vertices;",
    )?;
    println!(
        "pgRouting: {} edges, {} vertices loaded and indexed in {:.1} s",
        net.segment_count(),
        net.node_count(),
        started.elapsed().as_secs_f64()
    );
    let timed = client.prepare(
        "SELECT end_vid, agg_cost FROM pgr_dijkstra(
             'SELECT id, source, target, cost, reverse_cost FROM kairos_bench_edges',
             (SELECT id FROM kairos_bench_vertices
                ORDER BY geom <-> ST_SetSRID(ST_MakePoint($1, $2), 4326) LIMIT 1),
             $3::bigint[], directed => true)
         WHERE edge = -1",
    )?;
    let exact = client.prepare(
        "SELECT end_vid, agg_cost FROM pgr_dijkstra($1, $2::bigint, $3::bigint[], directed => true)
         WHERE edge = -1",
    )?;

    // kairos, the same work: one search, every target (speed 0: the 4 s rule idle).
    let mut scratch = SearchScratch::new();
    let (mut kairos_us, mut pg_us) = (Vec::new(), Vec::new());
    let (mut compared, mut agree, mut pg_faster, mut worst) = (0usize, 0usize, 0usize, 0.0f64);
    let kairos_started = Instant::now();
    let mut plans = Vec::new();
    for q in queries {
        let t = Instant::now();
        let mut search = net.search_from(&q.matched, 0.0, q.reach, &mut scratch);
        let mut found = Vec::new();
        for target in &q.targets {
            if let Some(path) = search.path_to(target) {
                let half_edges = search.half_edges(&path);
                found.push((path, half_edges));
            }
        }
        kairos_us.push(t.elapsed().as_secs_f64() * 1e6);
        plans.push(found);
    }
    let kairos_s = kairos_started.elapsed().as_secs_f64();
    let pg_started = Instant::now();
    for (q, found) in queries.iter().zip(&plans) {
        let arrivals: Vec<i64> = found
            .iter()
            .map(|(_, h)| i64::from(net.tail(*h.last().unwrap_or(&q.matched.half_edge()))) + 1)
            .collect();
        if arrivals.is_empty() {
            // pgRouting refuses an empty array of targets; kairos answered "none".
            continue;
        }
        let t = Instant::now();
        let rows = client.query(&timed, &[&q.at.lon, &q.at.lat, &arrivals])?;
        std::hint::black_box(rows);
        pg_us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let pg_s = pg_started.elapsed().as_secs_f64();
    let pg_queries = pg_us.len();
    for (q, found) in queries.iter().zip(&plans) {
        // Paths of at least three half-edges: a stretch between two nodes.
        let inner: Vec<_> = found.iter().filter(|(_, h)| h.len() >= 3).collect();
        if inner.is_empty() {
            continue;
        }
        // From a vertex of its own whose edges are kairos's possible first
        // moves at the head (no U-turn), so both answer the same question.
        let h = q.matched.half_edge();
        let start = net.node_count() as i64 + 1;
        let moves: String = net
            .leaving(net.head(h))
            .iter()
            .filter(|&&g| net.may_drive(g) && net.head(g) != net.tail(h))
            .enumerate()
            .map(|(k, &g)| {
                format!(
                    " UNION ALL SELECT {}, {start}, {}, {}, -1",
                    100_000_000 + k,
                    i64::from(net.head(g)) + 1,
                    net.segment_seconds(g >> 1)
                )
            })
            .collect();
        let edges =
            format!("SELECT id, source, target, cost, reverse_cost FROM kairos_bench_edges{moves}");
        let arrivals: Vec<i64> = inner
            .iter()
            .map(|(_, h)| i64::from(net.tail(h[h.len() - 1])) + 1)
            .collect();
        let rows = client.query(&exact, &[&edges, &start, &arrivals])?;
        let cost_of = |vid: i64| {
            rows.iter()
                .find(|r| r.get::<_, i64>(0) == vid)
                .map(|r| r.get::<_, f64>(1))
        };
        for ((_, h), vid) in inner.iter().zip(&arrivals) {
            let kairos: f64 = h[1..h.len() - 1]
                .iter()
                .map(|&e| net.segment_seconds(e >> 1))
                .sum();
            let Some(pg) = cost_of(*vid) else { continue };
            compared += 1;
            let gap = kairos - pg;
            if gap.abs() <= 0.05 + 1e-4 * kairos {
                agree += 1;
                worst = worst.max(gap.abs());
            } else if gap > 0.0 {
                pg_faster += 1;
            }
        }
    }
    let q = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * p).round() as usize]
    };
    let targets: usize = plans.iter().map(Vec::len).sum();
    println!(
        "side by side, {} queries ({targets} targets found by road):",
        queries.len()
    );
    println!(
        "  kairos: p50 {:.0} µs, p99 {:.0} µs, {:.0} queries/s",
        q(&mut kairos_us, 0.5),
        q(&mut kairos_us, 0.99),
        queries.len() as f64 / kairos_s
    );
    let pg_rate = pg_queries as f64 / pg_s;
    let kairos_rate = queries.len() as f64 / kairos_s;
    println!(
        "  pgRouting: p50 {:.0} µs, p99 {:.0} µs, {pg_rate:.1} queries/s ({pg_queries} with a target); kairos {:.0}× its throughput",
        q(&mut pg_us, 0.5),
        q(&mut pg_us, 0.99),
        kairos_rate / pg_rate
    );
    println!(
        "  answers: {agree} of {compared} node-to-node times agree within 0.05 s + 0.01 % \
(worst {worst:.4} s); {pg_faster} shorter in pgRouting"
    );
    Ok(())
}

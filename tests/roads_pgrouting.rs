//! kairos's road times against pgRouting's on the same extract (Monaco):
//! gated, since it needs PostgreSQL with PostGIS and pgRouting. Run with
//! `KAIROS_TEST_PGROUTING="host=127.0.0.1 user=postgres dbname=NAME" cargo test --test roads_pgrouting`.
//! (The always-on check against an independent router is
//! `road_distances_agree_with_an_independent_router_on_monaco` in roads_real.rs.)
//!
//! pgRouting gets kairos's segments (its reading of the extract: one-way rules,
//! SPEC's speeds) as an edge table, so the two answer the same question on the
//! same graph with two independent Dijkstras, pgRouting's on nodes. kairos
//! never turns back at the start (SPEC): pgRouting's query starts from a
//! vertex of its own whose edges are the moves kairos may make first; after
//! that a node-based fastest path turns back only where it passes the start
//! node again (V → c → head is simple in pgRouting's graph, a U-turn at c for
//! a driver): those pairs are checked one way (kairos never faster), every
//! other pair must agree.
//! Tolerance 0.05 s + 0.01 %: kairos sums `f32` times, pgRouting `f64` sums
//! of the same `f32` values, over paths of at most a few hundred segments.

mod support;

use std::io::Write;

use kairos::geodesy::LatLon;
use kairos::import::roads::load_roads;
use kairos::roads::{MatchState, SearchScratch};

#[test]
fn road_times_agree_with_pgrouting_on_monaco() {
    let Ok(conn) = std::env::var("KAIROS_TEST_PGROUTING") else {
        eprintln!("skipped: set KAIROS_TEST_PGROUTING to a PostgreSQL with pgRouting");
        return;
    };
    let Some(pbf) = support::data::real("osm/monaco-2021.osm.pbf") else {
        return;
    };
    let (net, _) = load_roads(&pbf).expect("Monaco loads");
    let mut client = postgres::Client::connect(&conn, postgres::NoTls).expect("PostgreSQL");
    let table = format!("kairos_test_edges_{}", std::process::id());
    client
        .batch_execute(&format!(
            "CREATE EXTENSION IF NOT EXISTS pgrouting;
             DROP TABLE IF EXISTS {table};
             CREATE TABLE {table} (id bigint PRIMARY KEY, source bigint, target bigint,
                                   cost float8, reverse_cost float8);"
        ))
        .expect("the edge table");
    {
        let mut copy = client
            .copy_in(&format!("COPY {table} FROM STDIN"))
            .expect("COPY");
        for s in 0..net.segment_count() as u32 {
            let [a, b] = net.segment_nodes(s);
            let secs = net.segment_seconds(s);
            let cost = |h: u32| if net.may_drive(h) { secs } else { -1.0 };
            writeln!(
                copy,
                "{s}\t{}\t{}\t{}\t{}",
                a + 1,
                b + 1,
                cost(2 * s),
                cost(2 * s + 1)
            )
            .expect("a row");
        }
        copy.finish().expect("COPY ends");
    }
    let query = client
        .prepare(
            "SELECT end_vid, node, agg_cost FROM pgr_dijkstra($1, $2::bigint, $3::bigint[], directed => true)",
        )
        .expect("prepared");

    let mut rng = 0x853c_49e6_748f_ea9bu64;
    let mut next = |n: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % n as u64) as usize
    };
    let mut scratch = SearchScratch::new();
    let (mut compared, mut turned_back, mut worst) = (0usize, 0usize, 0.0f64);
    for _ in 0..80 {
        let h = next(2 * net.segment_count()) as u32;
        if !net.may_drive(h) || net.segment_length_m(h >> 1) < 4.0 {
            continue;
        }
        let (pa, pb) = (
            net.node_location(net.tail(h)),
            net.node_location(net.head(h)),
        );
        let mid = LatLon::new((pa.lat + pb.lat) / 2.0, (pa.lon + pb.lon) / 2.0);
        let heading = kairos::geodesy::bearing_deg(pa, pb);
        let Some(start) = net.match_position(mid, Some(heading), 10.0, &mut MatchState::default())
        else {
            continue;
        };
        if start.half_edge() != h {
            continue;
        }
        let head = net.head(h);
        // A dead end ahead: kairos turns back there, the query forbids it.
        let drives_on = net
            .leaving(head)
            .iter()
            .any(|&g| net.may_drive(g) && net.head(g) != net.tail(h));
        if !drives_on {
            continue;
        }
        let seg = h >> 1;
        // The start: a vertex of its own whose edges are the first moves
        // kairos may make from the head (anything drivable but back).
        let start_vid = net.node_count() as i64 + 1;
        let first_moves: Vec<String> = net
            .leaving(head)
            .iter()
            .filter(|&&g| net.may_drive(g) && net.head(g) != net.tail(h))
            .enumerate()
            .map(|(k, &g)| {
                format!(
                    " UNION ALL SELECT {}, {start_vid}, {}, {}, -1",
                    100_000_000 + k,
                    i64::from(net.head(g)) + 1,
                    net.segment_seconds(g >> 1)
                )
            })
            .collect();
        let edges = format!(
            "SELECT id, source, target, cost, reverse_cost FROM {table}{}",
            first_moves.concat()
        );
        let rest = net.segment_seconds(seg) * (1.0 - start.along_m() / net.segment_length_m(seg));
        let mut search = net.search_from(&start, 0.0, 1e6, &mut scratch);
        let mut targets = Vec::new();
        for _ in 0..8 {
            let s = next(net.segment_count()) as u32;
            if net.segment_class(s).is_motorway() || net.segment_length_m(s) < 4.0 || s == seg {
                continue;
            }
            let [x, y] = net.segment_nodes(s);
            let (px, py) = (net.node_location(x), net.node_location(y));
            let Some(access) = net.access_point(LatLon::new(
                (px.lat + py.lat) / 2.0,
                (px.lon + py.lon) / 2.0,
            )) else {
                continue;
            };
            if access.segment() != s {
                continue;
            }
            targets.push((s, access, search.path_to(&access)));
        }
        if targets.is_empty() {
            continue;
        }
        let ends: Vec<i64> = targets
            .iter()
            .flat_map(|(s, ..)| net.segment_nodes(*s))
            .map(|n| i64::from(n) + 1)
            .collect();
        let rows = client
            .query(&query, &[&edges, &start_vid, &ends])
            .expect("pgr_dijkstra");
        // Seconds to a node, and whether pgRouting's path passes the head
        // again (a U-turn just after the start in kairos's terms, which
        // pgRouting's node graph cannot see: then it may only be faster).
        // Entering a target segment at the head is one of the first moves: 0 s.
        let to = |node: u32| -> Option<(f64, bool)> {
            if node == head {
                return Some((0.0, false));
            }
            let vid = i64::from(node) + 1;
            let path: Vec<_> = rows.iter().filter(|r| r.get::<_, i64>(0) == vid).collect();
            let total = path
                .iter()
                .find(|r| r.get::<_, i64>(1) == vid)?
                .get::<_, f64>(2);
            let again = path
                .iter()
                .any(|r| r.get::<_, i64>(1) == i64::from(head) + 1);
            Some((total, again))
        };
        for (s, access, path) in &targets {
            let [x, y] = net.segment_nodes(*s);
            let secs = net.segment_seconds(*s);
            let len = net.segment_length_m(*s);
            let into = access.along_m() / len;
            // Enter at x and drive x → y to the access point, or at y and back.
            let via_x = net
                .may_drive(2 * s)
                .then(|| to(x).map(|(c, again)| (c + secs * into, again)))
                .flatten();
            let via_y = net
                .may_drive(2 * s + 1)
                .then(|| to(y).map(|(c, again)| (c + secs * (1.0 - into), again)))
                .flatten();
            let best = match (via_x, via_y) {
                (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
                (a, b) => a.or(b),
            };
            let expected = best.map(|(t, _)| t + rest);
            let again = best.is_some_and(|(_, again)| again);
            match (path, expected) {
                (Some(path), Some(expected)) if again => {
                    // pgRouting turned back just after the start: never slower.
                    assert!(path.eta_s >= expected - 0.05, "{h} {s}: {} < {expected}", path.eta_s);
                    turned_back += 1;
                }
                (None, Some(_)) if again => turned_back += 1,
                (Some(path), Some(expected)) => {
                    let gap = (path.eta_s - expected).abs();
                    assert!(
                        gap <= 0.05 + 1e-4 * expected,
                        "start half-edge {h}, target segment {s}: kairos {} s, pgRouting {expected} s",
                        path.eta_s
                    );
                    worst = worst.max(gap);
                    compared += 1;
                }
                (None, None) => {}
                (path, expected) => panic!(
                    "start half-edge {h}, target segment {s}: kairos {path:?}, pgRouting {expected:?}"
                ),
            }
        }
    }
    client
        .batch_execute(&format!("DROP TABLE IF EXISTS {table}"))
        .expect("dropped");
    eprintln!(
        "monaco vs pgRouting: {compared} paths agree (worst time gap {worst:.4} s); \
{turned_back} where pgRouting's node graph turns back just after the start"
    );
    assert!(compared >= 100, "only {compared} paths compared");
}

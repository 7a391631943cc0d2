//! The road search on generated grids, where the right answer is known by
//! construction: square blocks of 100 m, so "one block ahead then right" is the
//! next right, paths are Manhattan walks, and one-ways, dead ends and the 4 s
//! rule change the walk in ways a test can predict.

use kairos::geodesy::{destination, LatLon};
use kairos::roads::{MatchState, RoadBuilder, RoadNetwork, RoadSide, SearchScratch};
use proptest::prelude::*;

const BLOCK_M: f64 = 100.0;
const ORIGIN: LatLon = LatLon {
    lat: 48.1,
    lon: 11.5,
};

/// Node (row, col) of a grid: rows go north, columns east.
fn node_at(row: usize, col: usize) -> LatLon {
    let east = destination(ORIGIN, 90.0, col as f64 * BLOCK_M);
    destination(east, 0.0, row as f64 * BLOCK_M)
}

fn node_id(n: usize, row: usize, col: usize) -> i64 {
    (row * n + col + 1) as i64
}

/// How the rows of a grid may be driven.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rows {
    TwoWay,
    /// Even rows eastbound only, odd rows westbound only.
    Alternating,
}

/// An n × n grid; each row and each column one way (residential, 30 km/h).
fn grid(n: usize, rows: Rows) -> RoadNetwork {
    let mut b = RoadBuilder::new();
    for row in 0..n {
        for col in 0..n {
            b.add_node(node_id(n, row, col), node_at(row, col));
        }
    }
    for row in 0..n {
        let oneway = match (rows, row % 2) {
            (Rows::TwoWay, _) => "no",
            (Rows::Alternating, 0) => "yes",
            (Rows::Alternating, _) => "-1",
        };
        b.add_way(
            1000 + row as i64,
            [("highway", "residential"), ("oneway", oneway)],
            (0..n).map(|c| node_id(n, row, c)),
        );
    }
    for col in 0..n {
        b.add_way(
            2000 + col as i64,
            [("highway", "residential")],
            (0..n).map(|r| node_id(n, r, col)),
        );
    }
    b.build().0
}

/// Matches a car `along` metres east of (row, col) heading east (or west of
/// it heading west when `west`), on the road.
fn car(
    net: &RoadNetwork,
    row: usize,
    col: usize,
    along: f64,
    heading: f64,
) -> kairos::roads::RoadMatch {
    let at = destination(node_at(row, col), heading, along);
    let mut state = MatchState::default();
    net.match_position(at, Some(heading), 10.0, &mut state)
        .expect("a car on the grid matches its road")
}

/// A merchant `off` metres east (positive) or west of the column `col`,
/// halfway between rows `row` and `row + 1`.
fn beside_column(row: usize, col: usize, off: f64) -> LatLon {
    let mid = destination(node_at(row, col), 0.0, BLOCK_M / 2.0);
    destination(mid, if off >= 0.0 { 90.0 } else { 270.0 }, off.abs())
}

#[test]
fn one_block_ahead_then_right_is_the_next_right() {
    let net = grid(7, Rows::TwoWay);
    let start = car(&net, 3, 1, 30.0, 90.0);
    let mut scratch = SearchScratch::new();
    let mut search = net.search_from(&start, 5.0, 15_000.0, &mut scratch);
    // South of row 3 at column 2: east 70 m, then right 50 m.
    let access = net.access_point(beside_column(2, 2, 10.0)).unwrap();
    let path = search.path_to(&access).unwrap();
    assert!((path.distance_m - 120.0).abs() < 0.5, "{path:?}");
    // Southbound, a merchant east of the road is on the left.
    assert_eq!(path.side, RoadSide::Left);
    let turn = search.turn(&path).unwrap();
    assert_eq!((turn.side, turn.nth), (RoadSide::Right, 1));
    assert!((turn.in_m - 70.0).abs() < 0.5, "{turn:?}");
    // Two blocks ahead: the second right.
    let access = net.access_point(beside_column(2, 3, -10.0)).unwrap();
    let path = search.path_to(&access).unwrap();
    assert!((path.distance_m - 220.0).abs() < 0.5, "{path:?}");
    assert_eq!(path.side, RoadSide::Right);
    let turn = search.turn(&path).unwrap();
    assert_eq!((turn.side, turn.nth), (RoadSide::Right, 2));
    // Straight ahead on the same road: no turn, on the right (south side).
    let ahead = destination(destination(node_at(3, 4), 90.0, 40.0), 180.0, 15.0);
    let access = net.access_point(ahead).unwrap();
    let path = search.path_to(&access).unwrap();
    assert!((path.distance_m - 310.0).abs() < 0.5, "{path:?}");
    assert_eq!(path.side, RoadSide::Right);
    assert_eq!(search.turn(&path), None);
}

#[test]
fn a_junction_nearer_than_four_seconds_is_driven_through() {
    let net = grid(7, Rows::TwoWay);
    // 30 m before the junction at column 2.
    let start = car(&net, 3, 1, 70.0, 90.0);
    let target = net.access_point(beside_column(2, 2, 10.0)).unwrap();
    let mut scratch = SearchScratch::new();
    // At 5 m/s the junction 30 m ahead is beyond 20 m: turn there.
    let slow = net
        .search_from(&start, 5.0, 15_000.0, &mut scratch)
        .path_to(&target)
        .unwrap();
    assert!((slow.distance_m - 80.0).abs() < 0.5, "{slow:?}");
    // At 10 m/s it is within 40 m: on to column 3, right, right, right.
    let mut search = net.search_from(&start, 10.0, 15_000.0, &mut scratch);
    let fast = search.path_to(&target).unwrap();
    assert!((fast.distance_m - 380.0).abs() < 0.5, "{fast:?}");
    assert_eq!(fast.side, RoadSide::Right, "northbound, east is right");
    let turn = search.turn(&fast).unwrap();
    assert_eq!((turn.side, turn.nth), (RoadSide::Right, 2));
    assert!((turn.in_m - 130.0).abs() < 0.5, "{turn:?}");
}

#[test]
fn a_t_junction_within_four_seconds_still_lets_the_path_turn() {
    // A T: a stem from the south meets an east-west road.
    let mut b = RoadBuilder::new();
    b.add_node(1, node_at(0, 1));
    b.add_node(2, node_at(1, 1));
    b.add_node(3, node_at(1, 0));
    b.add_node(4, node_at(1, 2));
    b.add_way(10, [("highway", "residential")], [1, 2]);
    b.add_way(11, [("highway", "residential")], [3, 2, 4]);
    let net = b.build().0;
    let start = car(&net, 0, 1, 90.0, 0.0);
    let target = net
        .access_point(destination(
            destination(node_at(1, 1), 90.0, 30.0),
            0.0,
            5.0,
        ))
        .unwrap();
    let mut scratch = SearchScratch::new();
    let mut search = net.search_from(&start, 20.0, 15_000.0, &mut scratch);
    let path = search.path_to(&target).unwrap();
    assert!((path.distance_m - 40.0).abs() < 0.5, "{path:?}");
    assert_eq!(path.side, RoadSide::Left, "eastbound, north is left");
    let turn = search.turn(&path).unwrap();
    assert_eq!((turn.side, turn.nth), (RoadSide::Right, 1));
}

#[test]
fn the_path_turns_back_only_at_a_dead_end() {
    let net = grid(5, Rows::TwoWay);
    let mut scratch = SearchScratch::new();
    // 20 m behind the car on its own road: around a block, never a U-turn.
    let start = car(&net, 2, 1, 60.0, 90.0);
    let behind = destination(destination(node_at(2, 1), 90.0, 40.0), 180.0, 5.0);
    let access = net.access_point(behind).unwrap();
    let path = net
        .search_from(&start, 5.0, 15_000.0, &mut scratch)
        .path_to(&access)
        .unwrap();
    // To column 2 (40), round the block (300), 40 m east of column 1 again.
    assert!((path.distance_m - 380.0).abs() < 0.5, "{path:?}");

    // A dead-end spur: 200 m east from a junction, nothing beyond.
    let mut b = RoadBuilder::new();
    for (id, col) in [(1, 0), (2, 1), (3, 2), (4, 3)] {
        b.add_node(id, node_at(0, col));
    }
    b.add_node(5, node_at(1, 1));
    b.add_way(10, [("highway", "residential")], [1, 2, 3, 4]);
    b.add_way(11, [("highway", "residential")], [5, 2]);
    let net = b.build().0;
    let start = car(&net, 0, 1, 50.0, 90.0);
    let behind = destination(destination(node_at(0, 1), 90.0, 30.0), 0.0, 5.0);
    let access = net.access_point(behind).unwrap();
    let mut search = net.search_from(&start, 5.0, 15_000.0, &mut scratch);
    let path = search.path_to(&access).unwrap();
    // On to the end (150 m), back to column 2 (100 m), 70 m more.
    assert!((path.distance_m - 320.0).abs() < 0.5, "{path:?}");
    // Westbound after the turn: north of the road is on the right.
    assert_eq!(path.side, RoadSide::Right);
}

#[test]
fn partial_segments_count_from_the_car_and_to_the_merchant() {
    let net = grid(3, Rows::TwoWay);
    let start = car(&net, 1, 0, 30.0, 90.0);
    let ahead = destination(destination(node_at(1, 0), 90.0, 80.0), 0.0, 10.0);
    let access = net.access_point(ahead).unwrap();
    let mut scratch = SearchScratch::new();
    let mut search = net.search_from(&start, 3.0, 15_000.0, &mut scratch);
    let path = search.path_to(&access).unwrap();
    assert!((path.distance_m - 50.0).abs() < 0.1, "{path:?}");
    assert!((path.eta_s - 50.0 / (30.0 / 3.6)).abs() < 0.05, "{path:?}");
    assert_eq!(path.side, RoadSide::Left, "north of an eastbound road");
    assert_eq!(search.half_edges(&path).len(), 1);
}

#[test]
fn one_way_rows_are_driven_only_their_way() {
    let net = grid(5, Rows::Alternating);
    let mut scratch = SearchScratch::new();
    // Row 1 is westbound: a car heading east there matches nothing of it.
    let at = destination(node_at(1, 1), 90.0, 50.0);
    assert!(net
        .match_position(at, Some(90.0), 10.0, &mut MatchState::default())
        .is_none());
    // Eastbound on row 2, to a merchant on row 1 just west of column 2:
    // row 1 can only be entered westbound, so from column 3.
    let start = car(&net, 2, 0, 50.0, 90.0);
    let target = destination(destination(node_at(1, 2), 270.0, 20.0), 0.0, 5.0);
    let access = net.access_point(target).unwrap();
    let mut search = net.search_from(&start, 5.0, 15_000.0, &mut scratch);
    let path = search.path_to(&access).unwrap();
    // East 150 m to column 2, south 100 m, west 20 m.
    assert!((path.distance_m - 270.0).abs() < 0.5, "{path:?}");
    assert_eq!(path.side, RoadSide::Right, "westbound, north is right");
}

/// A brute-force reference: Dijkstra over (node, previous node) states built
/// from the grid's own definition, not kairos's graph, with the same forward
/// rule (no U-turn but at a dead end) and no 4 s rule (speed 0).
fn reference_distance(
    n: usize,
    rows: Rows,
    removed: &[(usize, usize, usize, usize)],
    start: (usize, usize, usize, usize, f64),
    target: (usize, usize, usize, usize, f64),
) -> Option<f64> {
    use std::collections::{BinaryHeap, HashMap};
    let drivable = |(r1, c1): (usize, usize), (r2, c2): (usize, usize)| {
        let key = (r1.min(r2), c1.min(c2), r1.max(r2), c1.max(c2));
        if removed.contains(&key) {
            return false;
        }
        if r1 == r2 && rows == Rows::Alternating {
            return if r1 % 2 == 0 { c2 > c1 } else { c2 < c1 };
        }
        true
    };
    let neighbours = |(r, c): (usize, usize)| {
        let mut out = Vec::new();
        if r + 1 < n {
            out.push((r + 1, c));
        }
        if r > 0 {
            out.push((r - 1, c));
        }
        if c + 1 < n {
            out.push((r, c + 1));
        }
        if c > 0 {
            out.push((r, c - 1));
        }
        out
    };
    let (sr1, sc1, sr2, sc2, s_along) = start;
    let (tr1, tc1, tr2, tc2, t_along) = target;
    // Same segment, ahead.
    let mut best = f64::INFINITY;
    if (sr1, sc1, sr2, sc2) == (tr1, tc1, tr2, tc2) && t_along >= s_along {
        best = t_along - s_along;
    }
    if (sr1, sc1, sr2, sc2) == (tr2, tc2, tr1, tc1) && BLOCK_M - t_along >= s_along {
        best = BLOCK_M - t_along - s_along;
    }
    // (node, the node before it) -> metres.
    type State = ((usize, usize), (usize, usize));
    let mut dist: HashMap<State, f64> = HashMap::new();
    let mut heap = BinaryHeap::new();
    let first = ((sr2, sc2), (sr1, sc1));
    let d0 = BLOCK_M - s_along;
    dist.insert(first, d0);
    heap.push((std::cmp::Reverse((d0 * 1000.0) as i64), first));
    while let Some((std::cmp::Reverse(_), (at, from))) = heap.pop() {
        let d = dist[&(at, from)];
        let on: Vec<_> = neighbours(at)
            .into_iter()
            .filter(|&next| drivable(at, next) && next != from)
            .collect();
        let on = if on.is_empty() && drivable(at, from) {
            vec![from]
        } else {
            on
        };
        for next in on {
            // Entering the target segment from `at`.
            if (at, next) == ((tr1, tc1), (tr2, tc2)) {
                best = best.min(d + t_along);
            }
            if (at, next) == ((tr2, tc2), (tr1, tc1)) {
                best = best.min(d + BLOCK_M - t_along);
            }
            let nd = d + BLOCK_M;
            if dist.get(&(next, at)).is_none_or(|&old| nd < old - 1e-9) {
                dist.insert((next, at), nd);
                heap.push((std::cmp::Reverse((nd * 1000.0) as i64), (next, at)));
            }
        }
    }
    best.is_finite().then_some(best)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// k blocks ahead then one block right or left is the k-th on that side,
    /// at the distance the grid predicts.
    #[test]
    fn the_kth_junction_ahead_is_the_nth_turn(
        k in 1usize..4,
        right in any::<bool>(),
        along in 25.0f64..75.0,
        merchant_east in any::<bool>(),
        speed in 2.0f64..6.0,
    ) {
        let net = grid(8, Rows::TwoWay);
        let (row, col) = (4, 1);
        let start = car(&net, row, col, along, 90.0);
        let side_row = if right { row - 1 } else { row };
        let off = if merchant_east { 10.0 } else { -10.0 };
        let access = net.access_point(beside_column(side_row, col + k, off)).unwrap();
        let mut scratch = SearchScratch::new();
        let mut search = net.search_from(&start, speed, 15_000.0, &mut scratch);
        let path = search.path_to(&access).unwrap();
        let in_m = (k as f64) * BLOCK_M - along;
        prop_assert!((path.distance_m - (in_m + 50.0)).abs() < 0.5, "{:?}", path);
        let turn = search.turn(&path).unwrap();
        let side = if right { RoadSide::Right } else { RoadSide::Left };
        prop_assert_eq!((turn.side, turn.nth), (side, k as u32));
        prop_assert!((turn.in_m - in_m).abs() < 0.5);
        // Southbound (right turn) east is left; northbound east is right.
        let expected = match (right, merchant_east) {
            (true, true) | (false, false) => RoadSide::Left,
            _ => RoadSide::Right,
        };
        prop_assert_eq!(path.side, expected);
    }

    /// With one-way rows and dead ends cut at random, every path kairos finds
    /// has the reference's length, and every target the reference reaches is found.
    #[test]
    fn paths_on_one_way_grids_match_a_brute_force_router(
        cuts in proptest::collection::vec((0usize..6, 0usize..5, any::<bool>()), 0..8),
        start_row in 0usize..6,
        start_col in 0usize..5,
        start_along in 5.0f64..95.0,
        targets in proptest::collection::vec((0usize..6, 0usize..5, any::<bool>(), 15.0f64..85.0), 1..6),
    ) {
        let n = 6;
        let rows = Rows::Alternating;
        let removed: Vec<(usize, usize, usize, usize)> = cuts
            .iter()
            .map(|&(r, c, vertical)| if vertical && r + 1 < n { (r, c, r + 1, c) } else { (r, c, r, c + 1) })
            .collect();
        let mut b = RoadBuilder::new();
        for row in 0..n {
            for col in 0..n {
                b.add_node(node_id(n, row, col), node_at(row, col));
            }
        }
        // Every block its own way, so cuts can remove any one.
        let mut way = 1;
        for row in 0..n {
            for col in 0..n {
                for (r2, c2) in [(row, col + 1), (row + 1, col)] {
                    if r2 >= n || c2 >= n || removed.contains(&(row, col, r2, c2)) {
                        continue;
                    }
                    let oneway = if r2 == row { if row % 2 == 0 { "yes" } else { "-1" } } else { "no" };
                    b.add_way(way, [("highway", "residential"), ("oneway", oneway)],
                        [node_id(n, row, col), node_id(n, r2, c2)]);
                    way += 1;
                }
            }
        }
        let net = b.build().0;
        // The start: eastbound on an even row, westbound on an odd one.
        let (r, c) = (start_row, start_col);
        if removed.contains(&(r, c, r, c + 1)) {
            return Ok(());
        }
        let (heading, from, to, along) = if r % 2 == 0 {
            (90.0, (r, c), (r, c + 1), start_along)
        } else {
            (270.0, (r, c + 1), (r, c), BLOCK_M - start_along)
        };
        let at = destination(node_at(from.0, from.1), heading, along);
        let Some(start) = net.match_position(at, Some(heading), 10.0, &mut MatchState::default()) else {
            return Err(TestCaseError::fail("the start matches its road"));
        };
        let mut scratch = SearchScratch::new();
        let mut search = net.search_from(&start, 0.0, 15_000.0, &mut scratch);
        for &(tr, tc, vertical, t_along) in &targets {
            let (a, b2) = if vertical { ((tr, tc), (tr + 1, tc)) } else { ((tr, tc), (tr, tc + 1)) };
            if b2.0 >= n || removed.contains(&(a.0, a.1, b2.0, b2.1)) {
                continue;
            }
            let bearing = if vertical { 0.0 } else { 90.0 };
            let point = destination(destination(node_at(a.0, a.1), bearing, t_along), bearing + 90.0, 5.0);
            let access = net.access_point(point).unwrap();
            let expected = reference_distance(n, rows, &removed,
                (from.0, from.1, to.0, to.1, along), (a.0, a.1, b2.0, b2.1, t_along));
            let found = search.path_to(&access).map(|p| p.distance_m);
            match (expected, found) {
                (Some(e), Some(f)) => prop_assert!((e - f).abs() < 0.5, "expected {e}, found {f}"),
                (None, None) => {}
                (e, f) => prop_assert!(false, "expected {:?}, found {:?}", e, f),
            }
        }
    }
}

//! The spatial index: "which merchants lie within this distance, nearest first".
//!
//! Merchants are stored as 3-D unit vectors (see [`crate::geodesy`]) in `rstar`
//! R-trees, so the search is exact on the sphere everywhere. Filtering after a
//! spatial search is what makes naive builds slow, so the index is split along
//! the selective traits of the rules: non-food places, food places, and food
//! places per diet served. A query walks only the trees that can hold an
//! eligible merchant; the rules themselves are still checked, in one place,
//! by the decision core. The partitions only prune, never decide; so does the
//! heading wedge of a moving device ([`Ahead`]), which skips whole subtrees
//! behind it instead of walking every merchant within reach.

use std::collections::{BinaryHeap, HashMap};

use rstar::primitives::GeomWithData;
use rstar::{ParentNode, RTree, RTreeNode};

use crate::geodesy::{
    chord_squared_for, distance_for_chord_squared, squared_chord, LatLon, TravelFrame,
};
use crate::offers::Merchant;
use crate::tag_signature;

type Entry = GeomWithData<[f64; 3], Slot>;

/// The trees' shape: nodes of up to 32 children, not rstar's default 6, so a
/// walk through a dense city opens far fewer nodes (the decision's p99 at 1M
/// merchants about 20 % lower in `benches/scale.rs`; 64 gained nothing more).
struct Shape;

impl rstar::RTreeParams for Shape {
    const MIN_SIZE: usize = 12;
    const MAX_SIZE: usize = 32;
    const REINSERTION_COUNT: usize = 8;
    type DefaultInsertionStrategy = rstar::RStarInsertionStrategy;
}

type Tree = RTree<Entry, Shape>;

/// What an index entry carries besides its point.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Slot {
    /// Position in the catalog.
    position: u32,
    /// The merchant's [`tag_signature`].
    tag_bits: u64,
}

/// Which merchants a query may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoodFilter<'a> {
    /// No food places (the person is not hungry).
    NoFood,
    /// Every food place.
    AnyFood,
    /// Non-food places, and only the food places that serve all these diets
    /// (the index walks the rarest diet's tree): what a hungry person may get.
    ServingDiets(&'a [String]),
    /// Only food places, that serve all these diets (none: any food place).
    OnlyFoodServing(&'a [String]),
}

/// R-trees over the merchants of a catalog, by trait.
#[derive(Default)]
pub struct MerchantIndex {
    non_food: Tree,
    food: Tree,
    food_by_diet: HashMap<String, Tree>,
}

/// The diets a merchant's tags can serve, `diet:<d>` = yes/only.
fn diets_served(merchant: &Merchant) -> impl Iterator<Item = &str> + '_ {
    merchant.tags.iter().filter_map(|(k, v)| {
        k.strip_prefix("diet:")
            .filter(|_| matches!(v, "yes" | "only"))
    })
}

impl MerchantIndex {
    /// Builds the trees; entries are positions in `merchants`.
    pub fn new(merchants: &[Merchant]) -> Self {
        let mut non_food = Vec::new();
        let mut food = Vec::new();
        let mut by_diet: HashMap<String, Vec<Entry>> = HashMap::new();
        for (i, merchant) in merchants.iter().enumerate() {
            let slot = Slot {
                position: i as u32,
                tag_bits: tag_signature::of_tags(&merchant.tags),
            };
            let entry = Entry::new(merchant.location.unit_vector(), slot);
            if !merchant.is_food {
                non_food.push(entry);
                continue;
            }
            food.push(entry);
            let mut diets: Vec<&str> = diets_served(merchant).collect();
            if diets.contains(&"vegan") && !diets.contains(&"vegetarian") {
                diets.push("vegetarian");
            }
            for diet in diets {
                by_diet.entry(diet.to_string()).or_default().push(entry);
            }
        }
        // The non-food tree on a second thread, the food trees on this one.
        std::thread::scope(|scope| {
            let non_food = scope.spawn(|| Tree::bulk_load_with_params(non_food));
            let food = Tree::bulk_load_with_params(food);
            let food_by_diet = by_diet
                .into_iter()
                .map(|(d, entries)| (d, Tree::bulk_load_with_params(entries)))
                .collect();
            Self {
                non_food: non_food.join().expect("bulk loading never panics"),
                food,
                food_by_diet,
            }
        })
    }

    /// Merchants within `radius_m` of `center` that may pass `food`, nearest first,
    /// as (position in the catalog, great-circle distance in metres).
    pub fn within<'a>(
        &'a self,
        center: LatLon,
        radius_m: f64,
        food: FoodFilter<'_>,
    ) -> impl Iterator<Item = (usize, f64)> + 'a {
        self.nearby(center, radius_m, food, None)
            .map(|n| (n.position, n.distance_m))
    }

    /// Like [`MerchantIndex::within`], with each merchant's unit vector, so the
    /// caller can test direction without trigonometry. With `ahead`, whole
    /// subtrees that lie outside its wedge are skipped; merchants near its
    /// walls are still returned, for the caller's exact test.
    pub fn nearby<'a>(
        &'a self,
        center: LatLon,
        radius_m: f64,
        food: FoodFilter<'_>,
        ahead: Option<Ahead>,
    ) -> Walk<'a> {
        let trees: [Option<&Tree>; 2] = match food {
            FoodFilter::NoFood => [Some(&self.non_food), None],
            FoodFilter::AnyFood => [Some(&self.non_food), Some(&self.food)],
            FoodFilter::ServingDiets(diets) => {
                [Some(&self.non_food), Some(self.rarest_diet_tree(diets))]
            }
            FoodFilter::OnlyFoodServing(diets) => [None, Some(self.rarest_diet_tree(diets))],
        };
        let mut walk = Walk {
            query: center.unit_vector(),
            max_d2: reach_d2(radius_m),
            ahead,
            tag_bits: None,
            queue: BinaryHeap::new(),
        };
        for tree in trees.into_iter().flatten() {
            walk.push_children(tree.root());
        }
        walk
    }

    fn rarest_diet_tree(&self, diets: &[String]) -> &Tree {
        static EMPTY: std::sync::LazyLock<Tree> = std::sync::LazyLock::new(Tree::new_with_params);
        if diets.is_empty() {
            return &self.food;
        }
        diets
            .iter()
            .map(|d| self.food_by_diet.get(d.as_str()).unwrap_or(&EMPTY))
            .min_by_key(|tree| tree.size())
            .unwrap_or(&self.food)
    }
}

/// One merchant found near a point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Nearby {
    /// Position in the catalog.
    pub position: usize,
    /// Great-circle distance in metres.
    pub distance_m: f64,
    /// The merchant's point on the unit sphere.
    pub vector: [f64; 3],
    /// The merchant's [`tag_signature`]: which `likes` it could match.
    pub tag_bits: u64,
}

/// Where a moving device looks: the walk may skip any subtree that lies wholly
/// outside this wedge and farther than the door. A pruning aid, never a rule:
/// the decision still tests each merchant with [`crate::rules::is_ahead_of`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ahead {
    walls: [[f64; 3]; 2],
    door_d2: f64,
}

/// How far inside a wall rounding may put a merchant that the exact test keeps
/// (in units of the unit sphere: about 6 µm on the ground).
const WALL_SLACK: f64 = 1e-12;

impl Ahead {
    /// The wedge of bearings within `half_angle_deg` of `frame`'s heading;
    /// anything within `door_m` of the device counts as ahead too.
    pub fn new(frame: &TravelFrame, half_angle_deg: f64, door_m: f64) -> Self {
        Self {
            walls: frame.wedge_walls(half_angle_deg),
            door_d2: reach_d2(door_m),
        }
    }

    /// False when no point of the box between `lower` and `upper`, at least
    /// `d2` (squared chord) from the device, can lie inside the wedge.
    fn may_hold(&self, lower: [f64; 3], upper: [f64; 3], d2: f64) -> bool {
        d2 <= self.door_d2
            || self.walls.iter().all(|w| {
                // The largest w·v over the box: each coordinate at the end w favours.
                let best: f64 = (0..3)
                    .map(|i| w[i] * if w[i] > 0.0 { upper[i] } else { lower[i] })
                    .sum();
                best >= -WALL_SLACK
            })
    }
}

/// A node or an entry waiting in the walk, by its (least) squared chord.
enum Pending<'a> {
    Node(&'a ParentNode<Entry>),
    Entry(&'a Entry),
}

struct Queued<'a>(f64, Pending<'a>);

impl PartialEq for Queued<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.total_cmp(&other.0).is_eq()
    }
}

impl Eq for Queued<'_> {}

impl PartialOrd for Queued<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Queued<'_> {
    /// Reversed, so that the max-heap pops the nearest first.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.0.total_cmp(&self.0)
    }
}

/// A best-first walk over one or more trees at once: nodes and entries share
/// one queue ordered by distance, so entries come out nearest first across the
/// trees; nodes beyond the radius, or outside the wedge, are never opened.
pub struct Walk<'a> {
    query: [f64; 3],
    max_d2: f64,
    ahead: Option<Ahead>,
    /// Once set: only merchants whose tag signature may match (see
    /// [`tag_signature::may_match`]) are returned from here on.
    tag_bits: Option<u64>,
    queue: BinaryHeap<Queued<'a>>,
}

impl<'a> Walk<'a> {
    /// From now on, returns only the merchants whose tag signature may match
    /// `pattern_bits` (from [`tag_signature::of_patterns`]); the others are
    /// neither queued nor returned. For a caller that has found that nothing
    /// farther can win unless it is liked.
    pub fn only_maybe_matching(&mut self, pattern_bits: u64) {
        if pattern_bits != tag_signature::ANY {
            self.tag_bits = Some(pattern_bits);
        }
    }

    /// From now on, nothing farther than `radius_m` is queued or returned
    /// (for a caller that knows nothing farther can win).
    pub fn shrink_radius(&mut self, radius_m: f64) {
        self.max_d2 = self.max_d2.min(reach_d2(radius_m));
    }

    fn wanted(&self, slot: &Slot) -> bool {
        self.tag_bits
            .is_none_or(|bits| tag_signature::may_match(slot.tag_bits, bits))
    }

    fn push_children(&mut self, node: &'a ParentNode<Entry>) {
        for child in node.children() {
            let queued = match child {
                RTreeNode::Leaf(entry) => {
                    let point = *entry.geom();
                    let d2 = squared_chord(self.query, point);
                    if d2 > self.max_d2
                        || !self.may_hold(point, point, d2)
                        || !self.wanted(&entry.data)
                    {
                        continue;
                    }
                    Queued(d2, Pending::Entry(entry))
                }
                RTreeNode::Parent(parent) => {
                    let envelope = parent.envelope();
                    let d2 = envelope.distance_2(&self.query);
                    if d2 > self.max_d2 || !self.may_hold(envelope.lower(), envelope.upper(), d2) {
                        continue;
                    }
                    Queued(d2, Pending::Node(parent))
                }
            };
            self.queue.push(queued);
        }
    }

    fn may_hold(&self, lower: [f64; 3], upper: [f64; 3], d2: f64) -> bool {
        self.ahead.is_none_or(|a| a.may_hold(lower, upper, d2))
    }
}

impl Iterator for Walk<'_> {
    type Item = Nearby;

    fn next(&mut self) -> Option<Nearby> {
        while let Some(Queued(d2, pending)) = self.queue.pop() {
            match pending {
                // Queued before the radius shrank.
                _ if d2 > self.max_d2 => {}
                Pending::Node(node) => self.push_children(node),
                Pending::Entry(entry) if !self.wanted(&entry.data) => {}
                Pending::Entry(entry) => {
                    return Some(Nearby {
                        position: entry.data.position as usize,
                        distance_m: distance_for_chord_squared(d2),
                        vector: *entry.geom(),
                        tag_bits: entry.data.tag_bits,
                    })
                }
            }
        }
        None
    }
}

/// The squared chord of `distance_m`, with a hair of slack so that rounding
/// never drops a merchant exactly at the edge.
fn reach_d2(distance_m: f64) -> f64 {
    chord_squared_for(distance_m) * (1.0 + 1e-9) + 1e-18
}

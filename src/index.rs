//! The spatial index: "which merchants lie within this distance, nearest first".
//!
//! Merchants are stored as 3-D unit vectors (see [`crate::geodesy`]) in `rstar`
//! R-trees, so the search is exact on the sphere everywhere. Filtering after a
//! spatial search is what makes naive builds slow, so the index is split along
//! the selective traits of the rules: non-food places, food places, and food
//! places per diet served. A query walks only the trees that can hold an
//! eligible merchant; the rules themselves are still checked, in one place,
//! by the decision core. The partitions only prune, never decide.

use std::collections::HashMap;

use rstar::primitives::GeomWithData;
use rstar::RTree;

use crate::geodesy::{chord_squared_for, distance_for_chord_squared, LatLon};
use crate::offers::Merchant;

type Entry = GeomWithData<[f64; 3], u32>;

/// Which merchants a query may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoodFilter<'a> {
    /// No food places (the person is not hungry).
    NoFood,
    /// Every food place.
    AnyFood,
    /// Only food places that serve all these diets (the index walks the rarest).
    ServingDiets(&'a [String]),
}

/// R-trees over the merchants of a catalog, by trait.
#[derive(Default)]
pub struct MerchantIndex {
    non_food: RTree<Entry>,
    food: RTree<Entry>,
    food_by_diet: HashMap<String, RTree<Entry>>,
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
            let entry = Entry::new(merchant.location.unit_vector(), i as u32);
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
        Self {
            non_food: RTree::bulk_load(non_food),
            food: RTree::bulk_load(food),
            food_by_diet: by_diet
                .into_iter()
                .map(|(d, entries)| (d, RTree::bulk_load(entries)))
                .collect(),
        }
    }

    /// Merchants within `radius_m` of `center` that may pass `food`, nearest first,
    /// as (position in the catalog, great-circle distance in metres).
    pub fn within<'a>(
        &'a self,
        center: LatLon,
        radius_m: f64,
        food: FoodFilter<'_>,
    ) -> impl Iterator<Item = (usize, f64)> + 'a {
        self.nearby(center, radius_m, food)
            .map(|n| (n.position, n.distance_m))
    }

    /// Like [`MerchantIndex::within`], with each merchant's unit vector, so the
    /// caller can test direction without trigonometry.
    pub fn nearby<'a>(
        &'a self,
        center: LatLon,
        radius_m: f64,
        food: FoodFilter<'_>,
    ) -> impl Iterator<Item = Nearby> + 'a {
        let food_tree = match food {
            FoodFilter::NoFood => None,
            FoodFilter::AnyFood => Some(&self.food),
            FoodFilter::ServingDiets(diets) => Some(self.rarest_diet_tree(diets)),
        };
        // A hair of slack so that rounding never drops a merchant exactly at the edge.
        let max_d2 = chord_squared_for(radius_m) * (1.0 + 1e-9) + 1e-18;
        let query = center.unit_vector();
        let nearest = move |tree: &'a RTree<Entry>| {
            tree.nearest_neighbor_iter_with_distance_2(query)
                .take_while(move |(_, d2)| *d2 <= max_d2)
                .map(|(e, d2)| (e.data as usize, d2, *e.geom()))
        };
        MergeByDistance {
            a: nearest(&self.non_food).peekable(),
            b: food_tree.into_iter().flat_map(nearest).peekable(),
        }
        .map(|(position, d2, vector)| Nearby {
            position,
            distance_m: distance_for_chord_squared(d2),
            vector,
        })
    }

    fn rarest_diet_tree(&self, diets: &[String]) -> &RTree<Entry> {
        static EMPTY: std::sync::LazyLock<RTree<Entry>> = std::sync::LazyLock::new(RTree::new);
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
}

/// (position, squared chord, unit vector), as the trees yield them.
type Hit = (usize, f64, [f64; 3]);

/// Merges two nearest-first streams into one.
struct MergeByDistance<A: Iterator, B: Iterator> {
    a: std::iter::Peekable<A>,
    b: std::iter::Peekable<B>,
}

impl<A, B> Iterator for MergeByDistance<A, B>
where
    A: Iterator<Item = Hit>,
    B: Iterator<Item = Hit>,
{
    type Item = Hit;

    fn next(&mut self) -> Option<Self::Item> {
        match (self.a.peek(), self.b.peek()) {
            (Some(x), Some(y)) if y.1 < x.1 => self.b.next(),
            (Some(_), _) => self.a.next(),
            (None, _) => self.b.next(),
        }
    }
}

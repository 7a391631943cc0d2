//! A loaded, indexed set of merchants: what the engine searches. Immutable once
//! built, so `serve` can swap a new one in atomically.

use crate::index::{Ahead, FoodFilter, MerchantIndex, Nearby, Walk};
use crate::offers::Merchant;

/// Merchants and their spatial index.
#[derive(Default)]
pub struct Catalog {
    merchants: Vec<Merchant>,
    index: MerchantIndex,
}

impl Catalog {
    /// Indexes `merchants`.
    pub fn new(merchants: Vec<Merchant>) -> Self {
        let index = MerchantIndex::new(&merchants);
        Self { merchants, index }
    }

    /// All merchants, in load order.
    pub fn merchants(&self) -> &[Merchant] {
        &self.merchants
    }

    /// The merchant at a position returned by [`Catalog::within`].
    pub fn merchant(&self, position: usize) -> &Merchant {
        &self.merchants[position]
    }

    /// Merchants within `radius_m` of `center`, nearest first, with their distance.
    pub fn within<'a>(
        &'a self,
        center: crate::geodesy::LatLon,
        radius_m: f64,
        food: FoodFilter<'_>,
    ) -> impl Iterator<Item = (&'a Merchant, f64)> + 'a {
        self.index
            .within(center, radius_m, food)
            .map(|(i, d)| (&self.merchants[i], d))
    }

    /// Merchants within `radius_m` of `center`, nearest first, with where the
    /// index found them (distance, point on the unit sphere, tag signature); with `ahead`, the index may skip
    /// those that lie wholly outside its wedge (see [`MerchantIndex::nearby`]).
    pub fn nearby<'a>(
        &'a self,
        center: crate::geodesy::LatLon,
        radius_m: f64,
        food: FoodFilter<'_>,
        ahead: Option<Ahead>,
    ) -> Found<'a> {
        Found {
            walk: self.index.nearby(center, radius_m, food, ahead),
            merchants: &self.merchants,
        }
    }

    /// How many merchants are loaded.
    pub fn len(&self) -> usize {
        self.merchants.len()
    }

    /// True when no merchant is loaded.
    pub fn is_empty(&self) -> bool {
        self.merchants.is_empty()
    }
}

/// Merchants found near a point, nearest first, with where the index found
/// them (see [`Catalog::nearby`]).
pub struct Found<'a> {
    walk: Walk<'a>,
    merchants: &'a [Merchant],
}

impl Found<'_> {
    /// From now on, only merchants that may hold one of the tags summarised in
    /// `pattern_bits` (see [`Walk::only_maybe_matching`]).
    pub fn only_maybe_matching(&mut self, pattern_bits: u64) {
        self.walk.only_maybe_matching(pattern_bits);
    }

    /// From now on, nothing farther than `radius_m` (see [`Walk::shrink_radius`]).
    pub fn shrink_radius(&mut self, radius_m: f64) {
        self.walk.shrink_radius(radius_m);
    }
}

impl<'a> Iterator for Found<'a> {
    type Item = (&'a Merchant, Nearby);

    fn next(&mut self) -> Option<Self::Item> {
        self.walk.next().map(|n| (&self.merchants[n.position], n))
    }
}

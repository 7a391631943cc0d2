//! Merchants on the road network: each merchant's access point (SPEC
//! "Matching": its projection on the nearest drivable segment within 200 m),
//! found the first time a decision needs it and remembered.
//!
//! Finding it costs a few microseconds per merchant, so a catalog of a
//! million merchants is not bound up front: only merchants near the devices
//! ever are. The answer depends only on the merchant and the network, so the
//! memo keeps decisions pure and deterministic. A new catalog or a new
//! network makes a new binding.

use std::sync::{Arc, OnceLock};

use super::{AccessPoint, RoadNetwork};
use crate::catalog::Catalog;

/// A catalog's merchants bound to a road network.
pub struct Access {
    network: Arc<RoadNetwork>,
    points: Vec<OnceLock<Option<AccessPoint>>>,
}

impl Access {
    /// Binds the merchants of `catalog` to `network` (nothing is computed yet).
    pub fn new(network: Arc<RoadNetwork>, catalog: &Catalog) -> Self {
        Self {
            network,
            points: (0..catalog.len()).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The road network.
    pub fn network(&self) -> &RoadNetwork {
        &self.network
    }

    /// The network, shared.
    pub fn network_arc(&self) -> &Arc<RoadNetwork> {
        &self.network
    }

    /// The access point of the merchant at `position` in the catalog (`None`:
    /// no drivable road within 200 m).
    pub fn point(&self, catalog: &Catalog, position: usize) -> Option<AccessPoint> {
        let slot = self.points.get(position)?;
        *slot.get_or_init(|| {
            self.network
                .access_point(catalog.merchant(position).location)
        })
    }
}

//! Roads: the drivable network of SPEC "Roads and routes", pure (no IO).
//!
//! - [`tags`]: which OSM ways are drivable, their class, speed and direction.
//! - [`graph`]: the compact graph (CSR arrays, half-edges) and its geometry.
//! - [`build`]: a [`RoadNetwork`] from ways and nodes in any order.
//! - [`spatial`] (private): the R-tree of segments on the unit sphere.
//! - [`matching`]: a moving position to a road, a merchant to its access point.
//! - [`search`]: the fastest path forward, as a lazy one-to-many search.
//! - [`turn`]: junctions, exit angles and the first turn of a path.
//! - [`format`]: kairos's own compact road file, as bytes.
//! - [`report`]: what an import kept and dropped, by reason.
//! - [`access`]: a catalog's merchants bound to their access points.
//!
//! The file reading is an edge: `crate::import::roads`.

pub mod access;
pub mod build;
pub mod format;
pub mod graph;
pub mod matching;
pub mod report;
pub mod search;
pub(crate) mod spatial;
pub mod tags;
pub mod tile;
pub mod turn;

pub use access::Access;
pub use build::RoadBuilder;
pub use graph::RoadNetwork;
pub use matching::{AccessPoint, MatchState, RoadMatch};
pub use report::RoadsReport;
pub use search::{RoadPath, RoadSearch, SearchScratch};
pub use tags::{RoadClass, ServiceKind};
pub use turn::{RoadSide, Turn};

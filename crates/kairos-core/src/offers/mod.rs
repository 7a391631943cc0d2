//! Offer files: the merchants and offers kairos can suggest.
//!
//! `model` holds the types, `load` reads GeoJSON into them, `hours` wraps the
//! `opening-hours` crate, `zone` finds time zones, `audience` reads an offer's
//! conditions on the device.

pub mod audience;
pub mod hours;
pub mod hours_repair;
pub mod load;
pub mod model;
pub mod zone;

pub use audience::{Audience, Condition};
pub use hours::{Hours, HoursState, Reading};
pub use load::{LoadError, Loader, Problem, Severity};
pub use model::{Merchant, Offer, OfferTerms, Tags, Title, ValidUntil};

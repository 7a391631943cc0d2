//! The merchants and offers kairos suggests, as loaded from offer files.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::audience::Audience;
use super::hours::Hours;
use crate::geodesy::LatLon;

/// `amenity` values that make a food place (SPEC, precise readings).
pub const FOOD_AMENITIES: &[&str] = &[
    "restaurant",
    "fast_food",
    "cafe",
    "food_court",
    "ice_cream",
    "biergarten",
];

/// `shop` values that make a food place.
pub const FOOD_SHOPS: &[&str] = &["bakery", "pastry", "deli", "confectionery"];

/// Tags whose values are (nearly) unique to each place: names, addresses,
/// contacts (not worth interning, nor summarising).
pub fn is_unique_per_place(key: &str) -> bool {
    matches!(
        key,
        "name" | "phone" | "website" | "email" | "ref" | "description"
    ) || key.starts_with("name:")
        || key.starts_with("addr:")
        || key.starts_with("contact:")
}

/// OSM tags of a merchant, `key=value`, with strings shared across merchants.
#[derive(Debug, Clone, Default)]
pub struct Tags(Box<[(Arc<str>, Arc<str>)]>);

impl Tags {
    /// Tags from pairs, in the order given.
    pub fn new(pairs: Vec<(Arc<str>, Arc<str>)>) -> Self {
        Self(pairs.into_boxed_slice())
    }

    /// The value of `key`, if tagged.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| &**k == key).map(|(_, v)| &**v)
    }

    /// The value of `key` as its shared string.
    pub fn shared(&self, key: &str) -> Option<Arc<str>> {
        self.0
            .iter()
            .find(|(k, _)| &**k == key)
            .map(|(_, v)| v.clone())
    }

    /// True when `key` holds `value`, either exactly or as one item of a `;`-list.
    pub fn matches(&self, key: &str, value: &str) -> bool {
        self.get(key)
            .is_some_and(|v| v.split(';').any(|item| item.trim() == value))
    }

    /// All pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }
}

/// One merchant: a place on the map with its tags, hours and offers.
#[derive(Debug, Clone)]
pub struct Merchant {
    /// Unique id across everything loaded.
    pub id: Box<str>,
    /// Display name (`name`, else the id).
    pub name: Arc<str>,
    /// Where it is (a polygon's centroid).
    pub location: LatLon,
    /// OSM tags.
    pub tags: Tags,
    /// A food place per SPEC (amenity restaurant, cafe, ...; shop bakery, ...).
    pub is_food: bool,
    /// Local time zone (`timezone` property, else from the coordinates).
    pub timezone: Tz,
    /// Parsed `opening_hours`; `None` means always open.
    pub hours: Option<Arc<Hours>>,
    /// What it offers; the implicit `place` offer when the file gave no `offers`.
    pub offers: Vec<Offer>,
}

impl Merchant {
    /// True when the merchant serves `diet` (`diet:<d>` = yes or only; vegan serves vegetarian).
    pub fn serves_diet(&self, diet: &str) -> bool {
        let serves = |d: &str| {
            let key = format!("diet:{d}");
            matches!(self.tags.get(&key), Some("yes" | "only"))
        };
        serves(diet) || (diet == "vegetarian" && serves("vegan"))
    }
}

/// An offer's title: one string, or translations in the order given.
#[derive(Debug, Clone)]
pub enum Title {
    /// The same text in every language.
    Plain(Arc<str>),
    /// Language code → text, in file order.
    Translated(Box<[(Box<str>, Box<str>)]>),
}

impl Title {
    /// The title in `lang`, else English, else the first given.
    pub fn in_lang(&self, lang: &str) -> &str {
        match self {
            Title::Plain(text) => text,
            Title::Translated(pairs) => pairs
                .iter()
                .find(|(l, _)| &**l == lang)
                .or_else(|| pairs.iter().find(|(l, _)| &**l == "en"))
                .or_else(|| pairs.first())
                .map(|(_, t)| &**t)
                .unwrap_or(""),
        }
    }
}

/// The end of an offer's validity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidUntil {
    /// Valid up to and including this instant (a date-time was given).
    Through(DateTime<Utc>),
    /// Valid strictly before this instant (a date was given: the next local midnight).
    Before(DateTime<Utc>),
}

/// An offer's conditions beyond the place itself; most merchants (the implicit
/// `place` offer) have none, so they live behind one pointer.
#[derive(Debug, Clone, Default)]
pub struct OfferTerms {
    /// When the offer itself holds (OSM `opening_hours` syntax).
    pub when: Option<Arc<Hours>>,
    /// First instant of validity.
    pub valid_from: Option<DateTime<Utc>>,
    /// End of validity.
    pub valid_until: Option<ValidUntil>,
    /// Conditions on the device.
    pub audience: Option<Audience>,
    /// The farthest this offer may be suggested from.
    pub radius_m: Option<f64>,
}

/// One offer of a merchant.
#[derive(Debug, Clone)]
pub struct Offer {
    /// Unique within its merchant.
    pub id: Arc<str>,
    /// What the person reads.
    pub title: Title,
    /// A food offer: at a food place, or its audience asks `hungry: true`.
    pub is_food: bool,
    /// Its conditions, if any.
    pub terms: Option<Box<OfferTerms>>,
}

impl Offer {
    /// The implicit offer of a merchant without `offers`: the place itself.
    pub fn place(id: Arc<str>, name: Arc<str>, is_food: bool) -> Self {
        Self {
            id,
            title: Title::Plain(name),
            is_food,
            terms: None,
        }
    }

    /// When the offer itself holds.
    pub fn when(&self) -> Option<&Arc<Hours>> {
        self.terms.as_ref()?.when.as_ref()
    }

    /// Conditions on the device.
    pub fn audience(&self) -> Option<&Audience> {
        self.terms.as_ref()?.audience.as_ref()
    }

    /// The farthest this offer may be suggested from.
    pub fn radius_m(&self) -> Option<f64> {
        self.terms.as_ref()?.radius_m
    }

    /// True when the offer has time conditions of its own (`when` or dates).
    pub fn has_time_terms(&self) -> bool {
        self.terms
            .as_ref()
            .is_some_and(|t| t.when.is_some() || t.valid_from.is_some() || t.valid_until.is_some())
    }

    /// True when the offer is valid at `t` by its dates.
    pub fn is_valid_at(&self, t: DateTime<Utc>) -> bool {
        let Some(terms) = &self.terms else {
            return true;
        };
        let started = terms.valid_from.is_none_or(|from| t >= from);
        let not_ended = match terms.valid_until {
            None => true,
            Some(ValidUntil::Through(end)) => t <= end,
            Some(ValidUntil::Before(end)) => t < end,
        };
        started && not_ended
    }
}

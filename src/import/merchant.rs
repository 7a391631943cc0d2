//! What the OSM and GeoJSON importers share: which objects are merchants, how
//! their tags become offer-file properties that `kairos check` accepts, and the
//! streaming writer of the offer file.
//!
//! Tags are kept as OSM wrote them, except those the loader would reject or
//! that carry nothing: empty values, a `timezone` that names no IANA zone, and
//! structured values (`offers`, objects, arrays) that are not tags. Each drop is
//! counted by reason. `opening_hours` is always kept as written; the loader's
//! own [`HoursParser`] counts the values it reads only after repair and those
//! that stay unreadable (the loader keeps such a merchant, never open).

use std::collections::HashSet;
use std::io::Write;

use serde_json::{Map, Value};

use super::Tally;
use kairos_core::geodesy::LatLon;
use kairos_core::offers::hours::{HoursParser, Locality};
use kairos_core::offers::zone::timezone_named;
use kairos_core::offers::Reading;

/// `amenity` values imported as food and drink places.
pub const FOOD_AND_DRINK: &[&str] = &[
    "restaurant",
    "fast_food",
    "cafe",
    "bar",
    "pub",
    "food_court",
    "ice_cream",
    "biergarten",
];

/// `tourism` values imported as places to visit.
pub const TOURISM: &[&str] = &[
    "museum",
    "attraction",
    "gallery",
    "viewpoint",
    "zoo",
    "theme_park",
    "aquarium",
];

/// `shop` values that say there is no shop (any other `shop=*` is one).
const NOT_A_SHOP: &[&str] = &["no", "vacant", "disused", "closed"];

/// What kind of merchant an OSM object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A food or drink `amenity`.
    FoodAndDrink,
    /// Any `shop=*`.
    Shop,
    /// A `tourism` place to visit.
    Tourism,
}

impl Kind {
    /// How the summary names it.
    pub fn label(self) -> &'static str {
        match self {
            Kind::FoodAndDrink => "food and drink",
            Kind::Shop => "shops",
            Kind::Tourism => "tourism",
        }
    }
}

/// The kind of merchant the `amenity`, `shop` and `tourism` tags make, if any.
pub fn merchant_kind(
    amenity: Option<&str>,
    shop: Option<&str>,
    tourism: Option<&str>,
) -> Option<Kind> {
    fn given(v: Option<&str>) -> Option<&str> {
        v.map(str::trim).filter(|v| !v.is_empty())
    }
    if given(amenity).is_some_and(|a| FOOD_AND_DRINK.contains(&a)) {
        Some(Kind::FoodAndDrink)
    } else if given(shop).is_some_and(|s| !NOT_A_SHOP.contains(&s)) {
        Some(Kind::Shop)
    } else if given(tourism).is_some_and(|t| TOURISM.contains(&t)) {
        Some(Kind::Tourism)
    } else {
        None
    }
}

/// What an import wrote and dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MerchantSummary {
    /// Merchants written.
    pub written: usize,
    /// Merchants written, by kind (`food and drink`, `shops`, `tourism`).
    pub kinds: Tally,
    /// Objects or features not written, by reason.
    pub dropped: Tally,
    /// Tags left out of merchants that were written, by reason.
    pub tags_dropped: Tally,
    /// `opening_hours` values written as they are but not readable as written:
    /// `read after repair` or `unreadable (never open)`.
    pub hours: Tally,
}

impl MerchantSummary {
    /// Writes the counts by reason, then one summary line.
    pub fn report(&self, out_name: &str, out: &mut impl Write) -> std::io::Result<()> {
        self.dropped.report("dropped", out)?;
        self.tags_dropped.report("tags dropped", out)?;
        self.hours.report("opening_hours kept", out)?;
        writeln!(
            out,
            "kairos: {} merchants ({}) written to {out_name}; dropped {} objects ({}) and {} tags ({}); opening_hours not readable as written: {} ({})",
            self.written,
            self.kinds.brief(),
            self.dropped.total(),
            self.dropped.brief(),
            self.tags_dropped.total(),
            self.tags_dropped.brief(),
            self.hours.total(),
            self.hours.brief(),
        )
    }
}

/// Receives merchants one at a time, cleans their tags and writes them as an
/// offer file: a GeoJSON FeatureCollection, one Feature a line.
pub struct MerchantSink<W: Write> {
    out: W,
    ids: HashSet<Box<str>>,
    hours: HoursParser,
    /// Syntax is all the importer checks; the zone and place do not change it.
    locality: Locality,
    summary: MerchantSummary,
}

impl<W: Write> MerchantSink<W> {
    /// Starts the FeatureCollection on `out`.
    pub fn new(mut out: W) -> std::io::Result<Self> {
        out.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[")?;
        Ok(Self {
            out,
            ids: HashSet::new(),
            hours: HoursParser::default(),
            locality: Locality {
                timezone: chrono_tz::Tz::UTC,
                location: LatLon::new(0.0, 0.0),
                holidays: None,
            },
            summary: MerchantSummary::default(),
        })
    }

    /// Counts an object that is not written.
    pub fn drop_object(&mut self, reason: impl Into<String>, example: impl std::fmt::Display) {
        self.summary.dropped.add(reason, example);
    }

    /// Writes one merchant with its tags as properties (`id` first); returns
    /// whether it was written (not a duplicate id, coordinates in range).
    pub fn add(
        &mut self,
        id: &str,
        kind: Kind,
        location: LatLon,
        tags: impl IntoIterator<Item = (String, Value)>,
    ) -> std::io::Result<bool> {
        if !location.is_valid() {
            self.summary.dropped.add("coordinates out of range", id);
            return Ok(false);
        }
        if self.ids.contains(id) {
            self.summary.dropped.add("duplicate id", id);
            return Ok(false);
        }
        let mut properties = Map::new();
        properties.insert("id".into(), Value::String(id.into()));
        for (key, value) in tags {
            if let Some(value) = self.tag(id, &key, value) {
                properties.insert(key, value);
            }
        }
        let feature = serde_json::json!({
            "type": "Feature",
            "geometry": {
                "type": "Point",
                "coordinates": [round7(location.lon), round7(location.lat)],
            },
            "properties": properties,
        });
        let separator: &[u8] = if self.summary.written == 0 {
            b"\n"
        } else {
            b",\n"
        };
        self.out.write_all(separator)?;
        serde_json::to_writer(&mut self.out, &feature)?;
        self.ids.insert(id.into());
        self.summary.written += 1;
        self.summary.kinds.add(kind.label(), id);
        Ok(true)
    }

    /// Closes the FeatureCollection and returns what was written and dropped.
    pub fn finish(mut self) -> std::io::Result<MerchantSummary> {
        self.out.write_all(b"\n]}\n")?;
        self.out.flush()?;
        Ok(self.summary)
    }

    /// The tag as it will be written, or `None` (counted) when it is left out.
    fn tag(&mut self, id: &str, key: &str, value: Value) -> Option<Value> {
        let dropped = &mut self.summary.tags_dropped;
        let reason = match (key, &value) {
            // The merchant's id is written first, from the importer.
            ("id", _) => return None,
            ("", _) => "empty key",
            (_, Value::Null) => "empty value",
            (_, Value::String(s)) if s.trim().is_empty() => "empty value",
            ("offers", _) => "offers (not an OSM tag)",
            (_, Value::Array(_) | Value::Object(_)) => "not a string, number or boolean",
            ("timezone", Value::String(zone)) if timezone_named(zone).is_some() => {
                return Some(value)
            }
            ("timezone", _) => "timezone not an IANA zone name",
            ("opening_hours", Value::String(text)) => {
                match self.hours.parse(text, &self.locality) {
                    Reading::AsWritten(_) => {}
                    Reading::Repaired(..) => self.summary.hours.add(READ_AFTER_REPAIR, id),
                    Reading::Unreadable(..) => self.summary.hours.add(UNREADABLE, id),
                }
                return Some(value);
            }
            _ => return Some(value),
        };
        dropped.add(reason, id);
        None
    }
}

/// How the summary counts `opening_hours` read only after repair.
pub const READ_AFTER_REPAIR: &str = "read after repair";
/// How the summary counts `opening_hours` that stay unreadable.
pub const UNREADABLE: &str = "unreadable (never open)";

/// Seven decimals (about a centimetre), OSM's own precision.
fn round7(degrees: f64) -> f64 {
    (degrees * 1e7).round() / 1e7
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, Value)]) -> Vec<(String, Value)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn food_places_shops_and_sights_are_merchants_and_the_rest_is_not() {
        assert_eq!(
            merchant_kind(Some("cafe"), None, None),
            Some(Kind::FoodAndDrink)
        );
        assert_eq!(merchant_kind(None, Some("bakery"), None), Some(Kind::Shop));
        assert_eq!(
            merchant_kind(None, None, Some("museum")),
            Some(Kind::Tourism)
        );
        assert_eq!(merchant_kind(Some("parking"), None, None), None);
        assert_eq!(merchant_kind(None, Some("vacant"), Some("hotel")), None);
        assert_eq!(merchant_kind(Some(""), Some(" "), Some("")), None);
    }

    #[test]
    fn empty_values_are_dropped_and_hours_kept_and_counted() {
        let mut out = Vec::new();
        let mut sink = MerchantSink::new(&mut out).unwrap();
        let written = sink
            .add(
                "node/1",
                Kind::FoodAndDrink,
                LatLon::new(48.1, 11.5),
                tags(&[
                    ("name", "Chez A".into()),
                    ("amenity", "restaurant".into()),
                    ("cuisine", "".into()),
                    ("opening_hours", "whenever the owner feels like it".into()),
                    ("timezone", "Mars/Olympus".into()),
                ]),
            )
            .unwrap();
        assert!(written);
        let repaired = sink
            .add(
                "node/2",
                Kind::Shop,
                LatLon::new(48.1, 11.5),
                tags(&[
                    ("shop", "bakery".into()),
                    ("opening_hours", "Mo-Fr 08-18".into()),
                ]),
            )
            .unwrap();
        assert!(repaired);
        let duplicate = sink
            .add("node/1", Kind::Shop, LatLon::new(48.1, 11.5), Vec::new())
            .unwrap();
        assert!(!duplicate);
        let summary = sink.finish().unwrap();
        assert_eq!(summary.written, 2);
        assert_eq!(summary.dropped.count("duplicate id"), 1);
        assert_eq!(summary.tags_dropped.count("empty value"), 1);
        assert_eq!(summary.hours.count(UNREADABLE), 1);
        assert_eq!(summary.hours.count(READ_AFTER_REPAIR), 1);
        assert_eq!(
            summary.tags_dropped.count("timezone not an IANA zone name"),
            1
        );
        let text = String::from_utf8(out).unwrap();
        let collection: Value = serde_json::from_str(&text).unwrap();
        let props = &collection["features"][0]["properties"];
        assert_eq!(props["id"], "node/1");
        assert_eq!(props["name"], "Chez A");
        assert_eq!(props["opening_hours"], "whenever the owner feels like it");
        let bakery = &collection["features"][1]["properties"];
        assert_eq!(bakery["opening_hours"], "Mo-Fr 08-18");
    }
}

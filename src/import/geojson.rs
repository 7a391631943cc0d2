//! Merchants from a GeoJSON export of OSM data: a `.geojson` FeatureCollection
//! (streamed one feature at a time, never held whole) or `.geojsonseq`
//! (RFC 8142: one feature a line, optionally after an RS byte).
//!
//! Exports are messier than the PBF: ids live in `properties.id`, the Feature's
//! `id`, `@id` (Overpass), or `osm_type` + `osm_id` / `full_id` (QGIS); tags come
//! as empty strings; places come as MultiPoints. The geometry becomes one point:
//! a `Point` as is; a `MultiPoint` its **first** point (a real spot you can go
//! to, where the centroid of scattered points may be nowhere); a `Polygon` or
//! `MultiPolygon` its area centroid. Anything else is dropped and counted.

use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use geo::{Centroid, Coord, LineString, MultiPolygon, Polygon};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::merchant::{merchant_kind, MerchantSink, MerchantSummary};
use super::ImportError;
use kairos_core::geodesy::LatLon;

/// Imports `path` (`.geojson` or `.geojsonseq`) into the offer file `out`, atomically.
pub fn import_file(path: &Path, out: &Path) -> Result<MerchantSummary, ImportError> {
    let seq = path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        matches!(
            e.to_ascii_lowercase().as_str(),
            "geojsonseq" | "geojsonl" | "geojsons"
        )
    });
    super::write_atomically(out, |file| {
        let mut sink = MerchantSink::new(file).map_err(ImportError::io(out))?;
        let input = std::fs::File::open(path).map_err(ImportError::io(path))?;
        let input = BufReader::with_capacity(1 << 16, input);
        if seq {
            import_seq(path, input, &mut sink)?;
        } else {
            import_collection(path, input, &mut sink)?;
        }
        sink.finish().map_err(ImportError::io(out))
    })
}

/// Imports every feature of a FeatureCollection read from `input`, one at a time.
pub fn import_collection<W: Write>(
    path: &Path,
    input: impl std::io::Read,
    sink: &mut MerchantSink<W>,
) -> Result<(), ImportError> {
    let mut index = 0;
    let mut write_error = None;
    let mut on_feature = |feature: Value| {
        let result = import_feature(sink, index, &feature);
        index += 1;
        result.map_err(|e| {
            let text = e.to_string();
            write_error = Some(e);
            text
        })
    };
    let mut de = serde_json::Deserializer::from_reader(input);
    let outcome = de::Deserializer::deserialize_map(
        &mut de,
        CollectionVisitor {
            on_feature: &mut on_feature,
        },
    )
    .and_then(|kind| de.end().map(|()| kind));
    if let Some(e) = write_error {
        return Err(ImportError::Io {
            path: path.to_path_buf(),
            source: e,
        });
    }
    match outcome {
        Ok((Some(kind), true)) if kind == "FeatureCollection" => Ok(()),
        Ok((_, true)) => Err(ImportError::format(
            path,
            "`type` is not \"FeatureCollection\"",
        )),
        Ok((_, false)) => Err(ImportError::format(path, "no `features` array")),
        Err(e) => Err(ImportError::format(
            path,
            format!("not a GeoJSON FeatureCollection: {e}"),
        )),
    }
}

/// Imports a GeoJSON text sequence: one feature a line; a line that is not JSON
/// is counted and skipped.
pub fn import_seq<W: Write>(
    path: &Path,
    input: impl BufRead,
    sink: &mut MerchantSink<W>,
) -> Result<(), ImportError> {
    let mut index = 0;
    for (number, line) in input.lines().enumerate() {
        let line = line.map_err(ImportError::io(path))?;
        let text = line.trim_start_matches('\u{1e}').trim();
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(text) {
            Ok(feature) => {
                import_feature(sink, index, &feature).map_err(ImportError::io(path))?;
                index += 1;
            }
            Err(_) => sink.drop_object("line is not JSON", format!("line {}", number + 1)),
        }
    }
    Ok(())
}

/// One feature: dropped (counted) or written.
fn import_feature<W: Write>(
    sink: &mut MerchantSink<W>,
    index: usize,
    feature: &Value,
) -> std::io::Result<()> {
    let empty = Map::new();
    let props = match feature.get("properties") {
        Some(Value::Object(p)) => p,
        _ => &empty,
    };
    let id = feature_id(feature, props).unwrap_or_else(|| format!("feature/{index}"));
    let tag = |key: &str| props.get(key).and_then(Value::as_str);
    let Some(kind) = merchant_kind(tag("amenity"), tag("shop"), tag("tourism")) else {
        sink.drop_object("not a merchant (no food amenity, shop or tourism)", &id);
        return Ok(());
    };
    let location = match place(feature.get("geometry")) {
        Ok(location) => location,
        Err(reason) => {
            sink.drop_object(reason, &id);
            return Ok(());
        }
    };
    let tags = props.iter().map(|(k, v)| (k.clone(), v.clone()));
    sink.add(&id, kind, location, tags).map(|_| ())
}

/// The merchant id an export gives, in kairos's `node/123` shape when it says
/// which OSM object the feature is.
fn feature_id(feature: &Value, props: &Map<String, Value>) -> Option<String> {
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    if let Some(id) = text(props.get("id"))
        .or_else(|| text(feature.get("id")))
        .or_else(|| text(props.get("@id")))
    {
        return Some(id);
    }
    if let (Some(kind), Some(number)) = (text(props.get("osm_type")), text(props.get("osm_id"))) {
        return Some(format!("{kind}/{number}"));
    }
    let full = text(props.get("full_id"))?;
    let (prefix, number) = full.split_at_checked(1)?;
    let kind = match prefix {
        "n" => "node",
        "w" => "way",
        "r" => "relation",
        _ => return Some(full),
    };
    Some(format!("{kind}/{number}"))
}

/// The one point a geometry stands for, or why there is none.
fn place(geometry: Option<&Value>) -> Result<LatLon, String> {
    let Some(geometry) = geometry.and_then(Value::as_object) else {
        return Err("no geometry".into());
    };
    let kind = geometry.get("type").and_then(Value::as_str).unwrap_or("");
    let coords = geometry.get("coordinates").unwrap_or(&Value::Null);
    let bad = || format!("{kind} coordinates unreadable");
    let point = match kind {
        "Point" => position(coords).ok_or_else(bad)?,
        "MultiPoint" => coords
            .as_array()
            .and_then(|points| points.first())
            .and_then(position)
            .ok_or_else(bad)?,
        "Polygon" => polygon(coords)
            .and_then(|p| p.centroid())
            .map(Coord::from)
            .ok_or_else(bad)?,
        "MultiPolygon" => coords
            .as_array()
            .and_then(|ps| ps.iter().map(polygon).collect::<Option<Vec<_>>>())
            .and_then(|ps| MultiPolygon::new(ps).centroid())
            .map(Coord::from)
            .ok_or_else(bad)?,
        "" => return Err("geometry has no type".into()),
        _ => return Err(format!("geometry {kind} is not a place")),
    };
    Ok(LatLon::new(point.y, point.x))
}

fn position(value: &Value) -> Option<Coord<f64>> {
    let items = value.as_array()?;
    Some(Coord {
        x: items.first()?.as_f64()?,
        y: items.get(1)?.as_f64()?,
    })
}

fn polygon(value: &Value) -> Option<Polygon<f64>> {
    let mut rings = value.as_array()?.iter().map(|ring| {
        ring.as_array()?
            .iter()
            .map(position)
            .collect::<Option<Vec<_>>>()
            .map(LineString::new)
    });
    let exterior = rings.next()??;
    let interiors = rings.collect::<Option<Vec<_>>>()?;
    Some(Polygon::new(exterior, interiors))
}

/// Visits the top-level object, handing each element of `features` to
/// `on_feature` as it is read; yields the `type` and whether `features` was seen.
struct CollectionVisitor<'f, F> {
    on_feature: &'f mut F,
}

impl<'de, F: FnMut(Value) -> Result<(), String>> Visitor<'de> for CollectionVisitor<'_, F> {
    type Value = (Option<String>, bool);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a GeoJSON FeatureCollection object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut kind, mut features) = (None, false);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "type" => kind = map.next_value::<Option<String>>()?,
                "features" => {
                    map.next_value_seed(FeaturesSeed {
                        on_feature: &mut *self.on_feature,
                    })?;
                    features = true;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok((kind, features))
    }
}

struct FeaturesSeed<'f, F> {
    on_feature: &'f mut F,
}

impl<'de, F: FnMut(Value) -> Result<(), String>> DeserializeSeed<'de> for FeaturesSeed<'_, F> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(Value) -> Result<(), String>> Visitor<'de> for FeaturesSeed<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of GeoJSON Features")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(feature) = seq.next_element::<Value>()? {
            (self.on_feature)(feature).map_err(de::Error::custom)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import(text: &str) -> (Value, MerchantSummary) {
        let mut out = Vec::new();
        let mut sink = MerchantSink::new(&mut out).unwrap();
        import_collection(Path::new("t.geojson"), text.as_bytes(), &mut sink).unwrap();
        let summary = sink.finish().unwrap();
        (serde_json::from_slice(&out).unwrap(), summary)
    }

    #[test]
    fn a_qgis_export_gets_osm_ids_first_points_and_no_empty_tags() {
        let (collection, summary) = import(
            r#"{"type":"FeatureCollection","crs":{"type":"name"},"features":[
              {"type":"Feature","properties":{"osm_id":"44","osm_type":"node","amenity":"restaurant","name":"A","tourism":""},
               "geometry":{"type":"MultiPoint","coordinates":[[-3.3,47.7],[-3.0,47.0]]}},
              {"type":"Feature","properties":{"full_id":"w45","shop":"bakery"},
               "geometry":{"type":"Polygon","coordinates":[[[0,0],[2,0],[2,2],[0,2],[0,0]]]}},
              {"type":"Feature","properties":{"amenity":"parking"},"geometry":{"type":"Point","coordinates":[0,0]}},
              {"type":"Feature","properties":{"amenity":"cafe"},"geometry":{"type":"LineString","coordinates":[[0,0],[1,1]]}}
            ]}"#,
        );
        let features = collection["features"].as_array().unwrap();
        assert_eq!(features.len(), 2);
        assert_eq!(features[0]["properties"]["id"], "node/44");
        assert_eq!(
            features[0]["geometry"]["coordinates"],
            serde_json::json!([-3.3, 47.7])
        );
        assert!(features[0]["properties"].get("tourism").is_none());
        assert_eq!(features[1]["properties"]["id"], "way/45");
        assert_eq!(
            features[1]["geometry"]["coordinates"],
            serde_json::json!([1.0, 1.0])
        );
        assert_eq!(
            summary.dropped.count("geometry LineString is not a place"),
            1
        );
        assert_eq!(summary.tags_dropped.count("empty value"), 1);
        assert_eq!(summary.dropped.total(), 2);
    }

    #[test]
    fn a_file_that_is_not_a_feature_collection_is_an_error() {
        let mut sink = MerchantSink::new(Vec::new()).unwrap();
        let path = Path::new("t.geojson");
        assert!(import_collection(path, &b"[1, 2]"[..], &mut sink).is_err());
        assert!(import_collection(path, &br#"{"type":"Feature"}"#[..], &mut sink).is_err());
        assert!(import_collection(path, &b"{\"features\": [] "[..], &mut sink).is_err());
    }

    #[test]
    fn a_sequence_skips_lines_that_are_not_json() {
        let mut out = Vec::new();
        let mut sink = MerchantSink::new(&mut out).unwrap();
        let text = "\u{1e}{\"type\":\"Feature\",\"id\":\"node/1\",\"properties\":{\"shop\":\"deli\"},\"geometry\":{\"type\":\"Point\",\"coordinates\":[1,2]}}\n{oops\n\n";
        import_seq(Path::new("t.geojsonseq"), text.as_bytes(), &mut sink).unwrap();
        let summary = sink.finish().unwrap();
        assert_eq!(summary.written, 1);
        assert_eq!(summary.dropped.count("line is not JSON"), 1);
    }
}

//! `kairos check --html`: the features of offer files on a map, each with the
//! problems `check` finds in it, for the merchant who edits the file.
//!
//! Every feature whose geometry can be placed is a marker (skipped ones too: a
//! bad `opening_hours` still has a place), coloured by its worst problem; the
//! problems of features without usable geometry, and of files that cannot be
//! read at all, are listed apart. The problems are the loader's own, so the page
//! and `check`'s text always agree.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::offer_files::offer_files;
use crate::offers::load::{feature_id, feature_location};
use crate::offers::{LoadError, Loader, Severity};

use super::model::{MapMerchant, MapProblem, MerchantStatus, Report};
use super::replay::kind_of;

/// Reads every path (files, or folders of `.geojson`) and maps what `check` finds.
pub fn from_check(paths: &[PathBuf]) -> Report {
    let mut files = Vec::new();
    let mut unreadable = Vec::new();
    for path in paths {
        match offer_files(path) {
            Ok(list) => {
                for file in list {
                    match std::fs::read_to_string(&file) {
                        Ok(text) => files.push((file, text)),
                        Err(source) => unreadable.push(LoadError::Io { path: file, source }),
                    }
                }
            }
            Err(error) => unreadable.push(error),
        }
    }
    from_check_texts(&files, &unreadable)
}

/// The map of files already read (`(path, text)`), and of those that could not be.
pub fn from_check_texts(files: &[(PathBuf, String)], unreadable: &[LoadError]) -> Report {
    let mut loader = Loader::new();
    let mut problems: Vec<MapProblem> = unreadable.iter().map(whole_file).collect();
    let mut merchants = Vec::new();
    // (file, feature index) → its marker.
    let mut placed: HashMap<(&Path, usize), usize> = HashMap::new();
    let mut features = 0usize;
    for (file, text) in files {
        if let Err(error) = loader.load_text(file, text) {
            problems.push(whole_file(&error));
            continue;
        }
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let Ok(collection) = serde_json::from_str::<Value>(text) else {
            continue;
        };
        let Some(list) = collection.get("features").and_then(Value::as_array) else {
            continue;
        };
        features += list.len();
        for (index, feature) in list.iter().enumerate() {
            let Ok(location) = feature_location(feature.get("geometry")) else {
                continue;
            };
            let props = feature.get("properties").and_then(Value::as_object);
            let tag = |key: &str| {
                props
                    .and_then(|p| p.get(key))
                    .and_then(Value::as_str)
                    .filter(|v| !v.trim().is_empty())
            };
            let id = feature_id(feature).unwrap_or_else(|| format!("features[{index}]"));
            placed.insert((file.as_path(), index), merchants.len());
            merchants.push(MapMerchant {
                name: tag("name").map_or_else(|| id.clone(), str::to_string),
                id,
                location,
                kind: kind_of(tag).to_string(),
                status: MerchantStatus::Checked(None),
            });
        }
    }
    let (usable, found) = loader.finish();
    for problem in found {
        let merchant = placed
            .get(&(problem.file.as_path(), problem.index))
            .copied();
        if let Some(marker) = merchant.and_then(|m| merchants.get_mut(m)) {
            marker.status = MerchantStatus::Checked(Some(worse(&marker.status, problem.severity)));
        }
        problems.push(MapProblem {
            file: problem.file.display().to_string(),
            feature: problem.feature,
            severity: problem.severity,
            message: problem.reason,
            merchant,
        });
    }

    let count = |s| problems.iter().filter(|p| p.severity == s).count();
    let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
    let mut summary = vec![format!(
        "{} files · {features} features · {} usable merchants · {errors} errors · {warnings} warnings",
        files.len() + unreadable.len(),
        usable.len()
    )];
    let unplaced = features - merchants.len();
    if unplaced > 0 {
        summary.push(format!(
            "{unplaced} features have no usable geometry: listed apart"
        ));
    }
    let names: Vec<String> = files
        .iter()
        .map(|(f, _)| {
            f.file_name().map_or_else(
                || f.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            )
        })
        .collect();
    Report {
        title: format!("kairos check: {}", names.join(", ")),
        summary,
        merchants,
        problems,
        ..Report::default()
    }
}

fn whole_file(error: &LoadError) -> MapProblem {
    let file = match error {
        LoadError::Io { path, .. } | LoadError::NotFeatureCollection { path, .. } => path,
    };
    MapProblem {
        file: file.display().to_string(),
        feature: String::new(),
        severity: Severity::Error,
        message: error.to_string(),
        merchant: None,
    }
}

/// The worse of a marker's status so far and one more problem.
fn worse(status: &MerchantStatus, severity: Severity) -> Severity {
    match (status, severity) {
        (MerchantStatus::Checked(Some(Severity::Error)), _) | (_, Severity::Error) => {
            Severity::Error
        }
        _ => Severity::Warning,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{"type": "FeatureCollection", "features": [
      {"type": "Feature", "geometry": {"type": "Point", "coordinates": [6.1, 45.9]},
       "properties": {"id": "good", "name": "Good", "amenity": "cafe"}},
      {"type": "Feature", "geometry": {"type": "Point", "coordinates": [6.2, 45.9]},
       "properties": {"id": "bad-hours", "name": "Bad <hours>", "amenity": "restaurant",
                      "opening_hours": "sometimes"}},
      {"type": "Feature", "geometry": {"type": "Point", "coordinates": [6.3, 45.9]},
       "properties": {"id": "odd-diet", "shop": "bakery", "diet:vegan": "maybe"}},
      {"type": "Feature", "geometry": null, "properties": {"id": "nowhere", "name": "Nowhere"}}
    ]}"#;

    fn report() -> Report {
        from_check_texts(&[(PathBuf::from("shop.geojson"), FILE.to_string())], &[])
    }

    fn status(report: &Report, id: &str) -> MerchantStatus {
        report
            .merchants
            .iter()
            .find(|m| m.id == id)
            .map(|m| m.status.clone())
            .unwrap_or_else(|| panic!("{id} on the map"))
    }

    #[test]
    fn each_placed_feature_is_a_marker_coloured_by_its_worst_problem() {
        let report = report();
        assert_eq!(
            report.merchants.len(),
            3,
            "the feature without geometry is not placed"
        );
        assert_eq!(status(&report, "good"), MerchantStatus::Checked(None));
        assert_eq!(
            status(&report, "bad-hours"),
            MerchantStatus::Checked(Some(Severity::Error))
        );
        assert_eq!(
            status(&report, "odd-diet"),
            MerchantStatus::Checked(Some(Severity::Warning))
        );
    }

    #[test]
    fn problems_of_features_without_geometry_are_listed_apart() {
        let report = report();
        let nowhere: Vec<_> = report
            .problems
            .iter()
            .filter(|p| p.feature.contains("nowhere"))
            .collect();
        assert_eq!(nowhere.len(), 1);
        assert_eq!(nowhere[0].merchant, None);
        assert_eq!(nowhere[0].severity, Severity::Error);
        let hours = report
            .problems
            .iter()
            .find(|p| p.feature.contains("bad-hours"))
            .expect("the hours problem");
        assert_eq!(
            report.merchants[hours.merchant.expect("placed")].id,
            "bad-hours"
        );
        assert!(report
            .summary
            .iter()
            .any(|s| s.contains("1 features have no usable geometry")));
    }

    #[test]
    fn a_file_that_is_not_a_collection_is_one_problem_for_the_whole_file() {
        let report = from_check_texts(&[(PathBuf::from("x.geojson"), "[]".to_string())], &[]);
        assert!(report.merchants.is_empty());
        assert_eq!(report.problems.len(), 1);
        assert_eq!(report.problems[0].feature, "");
        assert!(report.problems[0]
            .message
            .contains("not a GeoJSON FeatureCollection"));
    }
}

//! Scenario folders (`tests/scenarios/<name>/{offers.geojson,trace.jsonl,expect.json}`,
//! the public format): each is replayed through the built `kairos` binary, twice,
//! and held to its `expect.json` (keys and meaning in docs/testing.md, the same
//! as the public scenario checker's).

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

fn replay(case: &Path) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_kairos"))
        .arg("replay")
        .arg("--offers")
        .arg(case.join("offers.geojson"))
        .arg("--trace")
        .arg(case.join("trace.jsonl"))
        .output()
        .expect("the kairos binary runs");
    assert!(
        out.status.success(),
        "{}: exit {:?}: {}",
        case.display(),
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn time(text: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// `v`, or its `id` when it is an object (merchant and offer are `{id, ...}`).
fn id(v: &Value) -> &Value {
    v.get("id").unwrap_or(v)
}

/// Every way `case` falls short of its expectations.
fn problems(case: &Path) -> Vec<String> {
    let exp: Value = serde_json::from_str(
        &std::fs::read_to_string(case.join("expect.json")).expect("expect.json"),
    )
    .expect("expect.json is JSON");
    let out = replay(case);
    let mut bad = Vec::new();
    if replay(case) != out {
        bad.push("output differs between two identical replays".to_string());
    }
    let recs: Vec<Value> = String::from_utf8(out)
        .expect("UTF-8 output")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let on = |suffix: &str| -> Vec<&Value> {
        recs.iter()
            .filter(|r| r["topic"].as_str().is_some_and(|t| t.ends_with(suffix)))
            .collect()
    };
    let (sugg, errs) = (on("/suggestion"), on("/error"));
    let anchor = time(exp["t_anchor"].as_str().expect("t_anchor"));
    if let Some(n) = exp["suggestions"].as_u64() {
        if sugg.len() as u64 != n {
            let seen: Vec<String> = sugg
                .iter()
                .map(|s| format!("{}@{}", id(&s["payload"]["merchant"]), s["at"]))
                .collect();
            bad.push(format!(
                "{} suggestions, expected {n}: {seen:?}",
                sugg.len()
            ));
        }
    }
    for (key, idx) in [("first", 0), ("second", 1)] {
        let (Some(want), Some(s)) = (exp.get(key).and_then(Value::as_object), sugg.get(idx)) else {
            continue;
        };
        let p = &s["payload"];
        for k in ["merchant", "offer"] {
            if let Some(w) = want.get(k) {
                if id(&p[k]) != w {
                    bad.push(format!("{key}: {k} {}, expected {w}", id(&p[k])));
                }
            }
        }
        for k in ["side", "lang"] {
            // `"side": null` expects no side at all.
            if let Some(w) = want.get(k) {
                if p.get(k).unwrap_or(&Value::Null) != w {
                    bad.push(format!("{key}: {k} {}, expected {w}", p[k]));
                }
            }
        }
        if let Some(range) = want.get("distance_m") {
            let (lo, hi) = (range[0].as_f64().unwrap(), range[1].as_f64().unwrap());
            if !p["distance_m"].as_f64().is_some_and(|d| lo <= d && d <= hi) {
                bad.push(format!(
                    "{key}: distance_m {}, expected {lo}..{hi}",
                    p["distance_m"]
                ));
            }
        }
        let at = time(s["at"].as_str().expect("at"));
        if let Some(w) = want.get("at").and_then(Value::as_str) {
            if at != time(w) {
                bad.push(format!("{key}: at {at}, expected {w}"));
            }
        }
        if let Some(w) = want.get("not_before").and_then(Value::as_f64) {
            if ((at - anchor).num_milliseconds() as f64) < w * 1000.0 {
                bad.push(format!("{key}: came at {at}, before consent"));
            }
        }
        if let Some(w) = want.get("min_gap_s").and_then(Value::as_f64) {
            let gap = (at - time(sugg[0]["at"].as_str().unwrap())).num_milliseconds() as f64;
            if gap < w * 1000.0 {
                bad.push(format!("{key}: only {} s after the first", gap / 1000.0));
            }
        }
        let message = p["message"].as_str().unwrap_or("").to_lowercase();
        for sub in want
            .get("message_has")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let sub = sub.as_str().unwrap_or("");
            if !message.contains(&sub.to_lowercase()) {
                bad.push(format!("{key}: message {:?} lacks {sub:?}", p["message"]));
            }
        }
    }
    if exp["never_twice"].as_bool() == Some(true) {
        let mut seen: Vec<(&Value, &Value)> = sugg
            .iter()
            .map(|s| (id(&s["payload"]["merchant"]), id(&s["payload"]["offer"])))
            .collect();
        let n = seen.len();
        seen.sort_by_key(|(m, o)| (m.to_string(), o.to_string()));
        seen.dedup();
        if seen.len() != n {
            bad.push("an offer was suggested twice".into());
        }
    }
    if let Some(n) = exp["errors_at_least"].as_u64() {
        if (errs.len() as u64) < n {
            bad.push(format!(
                "{} error messages, expected at least {n}",
                errs.len()
            ));
        }
    }
    bad
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/scenarios")
        .map(|e| e.expect("a folder entry").path())
        .filter(|p| p.join("expect.json").is_file())
        .collect();
    cases.sort();
    cases
}

#[test]
fn every_scenario_folder_meets_its_expectations() {
    let cases = cases();
    assert!(cases.len() >= 6, "scenarios found: {cases:?}");
    // One thread per case: each runs the binary twice, and they are independent.
    let failures: Vec<String> = std::thread::scope(|scope| {
        let runs: Vec<_> = cases
            .iter()
            .map(|case| (case, scope.spawn(|| problems(case))))
            .collect();
        runs.into_iter()
            .filter_map(|(case, run)| {
                let bad = run.join().expect("a scenario check panicked");
                let name = case.file_name().unwrap().to_string_lossy();
                (!bad.is_empty()).then(|| format!("FAIL {name}: {}", bad.join(" | ")))
            })
            .collect()
    });
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

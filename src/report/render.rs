//! A [`Report`] as one self-contained HTML page: inline CSS, an inline SVG map
//! drawn by a small inline script from the data embedded as JSON. No network:
//! no tiles, no CDN, no fonts, no server; it opens offline from a file.
//!
//! Everything is projected here (see [`LocalProjection`]), so the page only
//! scales and moves metres. User text (merchant names, messages, payloads) is
//! escaped twice over: the JSON is made safe to sit in a `<script>` element, and
//! the script only ever puts text into the page as text (`textContent`), never as
//! markup.

use serde::Serialize;

use super::model::{EventKind, MerchantStatus, Report, Verdict};
use super::projection::LocalProjection;
use crate::geodesy::LatLon;
use crate::offers::Severity;

const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// The page for `report`.
pub fn render(report: &Report) -> String {
    let page = Page::from_report(report);
    let json = serde_json::to_string(&page)
        .expect("serialising plain structs of strings and numbers cannot fail");
    let title = escape_html(&report.title);
    let mut html = String::with_capacity(json.len() + STYLE.len() + SCRIPT.len() + 2048);
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    // The page may load nothing at all, whatever ends up in it.
    html.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n",
    );
    html.push_str(&format!(
        "<title>{title}</title>\n<style>\n{STYLE}</style>\n"
    ));
    html.push_str("</head>\n<body>\n");
    html.push_str(&format!(
        "<header><h1>{title}</h1><p id=\"summary\"></p></header>\n"
    ));
    html.push_str(concat!(
        "<main>\n",
        "<div id=\"map-box\"><svg id=\"map\" role=\"img\" aria-label=\"map\"></svg>",
        "<div id=\"legend\" aria-label=\"legend\"></div>",
        "<div id=\"hint\">wheel: zoom · drag: pan · double-click: fit</div></div>\n",
        "<aside id=\"panel\">",
        "<section id=\"details\"><h2>Details</h2><div id=\"detail\">",
        "<p class=\"muted\">Click a marker or an event.</p></div></section>",
        "<section id=\"problems-box\" hidden><h2>Problems</h2><ul id=\"problems\"></ul></section>",
        "<section id=\"unplaced-box\" hidden><h2>Not on the map</h2><ul id=\"unplaced\"></ul></section>",
        "<section id=\"timeline-box\" hidden><h2>Timeline</h2><ol id=\"timeline\"></ol></section>",
        "</aside>\n</main>\n",
    ));
    html.push_str("<script type=\"application/json\" id=\"report-data\">");
    html.push_str(&script_safe_json(&json));
    html.push_str("</script>\n<script>\n");
    html.push_str(SCRIPT);
    html.push_str("</script>\n</body>\n</html>\n");
    html
}

/// `&`, `<`, `>`, `"` and `'` as entities.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON that cannot end its `<script>` element nor open a comment in it: `<`, `>`
/// and `&` only occur inside JSON strings, where their `\u` escapes mean the same.
fn script_safe_json(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// A point in metres east and north of the centre, to a decimetre.
type Xy = [f64; 2];

/// What the script reads: the report, projected, with short field names.
#[derive(Serialize)]
struct Page<'a> {
    summary: &'a [String],
    /// The projection's centre, for people reading the data.
    center: [f64; 2],
    drives: Vec<PageDrive<'a>>,
    merchants: Vec<PageMerchant<'a>>,
    suggestions: Vec<PageSuggestion<'a>>,
    events: Vec<PageEvent<'a>>,
    roads: Vec<Vec<Xy>>,
    problems: Vec<PageProblem<'a>>,
}

#[derive(Serialize)]
struct PageDrive<'a> {
    device: &'a str,
    points: Vec<Xy>,
}

#[derive(Serialize)]
struct PageMerchant<'a> {
    id: &'a str,
    name: &'a str,
    kind: &'a str,
    at: Xy,
    /// `suggested`, `eligible`, `not_eligible`, `clean`, `warning` or `error`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    why: Option<&'a str>,
}

#[derive(Serialize)]
struct PageSuggestion<'a> {
    device: &'a str,
    time: &'a str,
    at: Xy,
    /// Index into `merchants`, when the merchant is on the map.
    merchant: Option<usize>,
    merchant_name: &'a str,
    offer: &'a str,
    message: &'a str,
    reasons: &'a [String],
    distance_m: u64,
    event: Option<usize>,
    explanation: Option<Vec<PageCandidate<'a>>>,
}

#[derive(Serialize)]
struct PageCandidate<'a> {
    merchant: &'a str,
    name: &'a str,
    offer: &'a str,
    distance_m: u64,
    /// The rule, or `wins`.
    verdict: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<f64>,
}

#[derive(Serialize)]
struct PageEvent<'a> {
    time: &'a str,
    line: u64,
    device: Option<&'a str>,
    /// `input`, `suggestion`, `output` or `error`.
    kind: &'static str,
    topic: &'a str,
    text: &'a str,
    at: Option<Xy>,
}

#[derive(Serialize)]
struct PageProblem<'a> {
    file: &'a str,
    feature: &'a str,
    /// `error` or `warning`.
    level: &'static str,
    message: &'a str,
    merchant: Option<usize>,
}

impl<'a> Page<'a> {
    fn from_report(report: &'a Report) -> Self {
        let projection = LocalProjection::around(located(report));
        let xy = |p: LatLon| {
            let (x, y) = projection.project(p);
            [decimetres(x), decimetres(y)]
        };
        let center = projection.center();
        let merchant_index: std::collections::HashMap<&str, usize> = report
            .merchants
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id.as_str(), i))
            .rev() // the first of duplicate ids wins, as when loading
            .collect();
        Page {
            summary: &report.summary,
            center: [center.lat, center.lon],
            drives: report
                .devices
                .iter()
                .map(|d| PageDrive {
                    device: &d.device,
                    points: d.points.iter().map(|p| xy(p.location)).collect(),
                })
                .collect(),
            merchants: report
                .merchants
                .iter()
                .map(|m| {
                    let (status, why) = match &m.status {
                        MerchantStatus::Suggested => ("suggested", None),
                        MerchantStatus::Eligible => ("eligible", None),
                        MerchantStatus::NotEligible(why) => ("not_eligible", Some(why.as_str())),
                        MerchantStatus::Checked(None) => ("clean", None),
                        MerchantStatus::Checked(Some(s)) => (level(*s), None),
                    };
                    PageMerchant {
                        id: &m.id,
                        name: &m.name,
                        kind: &m.kind,
                        at: xy(m.location),
                        status,
                        why,
                    }
                })
                .collect(),
            suggestions: report
                .suggestions
                .iter()
                .map(|s| PageSuggestion {
                    device: &s.device,
                    time: &s.at,
                    at: xy(s.location),
                    merchant: merchant_index.get(s.merchant_id.as_str()).copied(),
                    merchant_name: &s.merchant_name,
                    offer: &s.offer_title,
                    message: &s.message,
                    reasons: &s.reasons,
                    distance_m: s.distance_m,
                    event: s.event,
                    explanation: s.explanation.as_ref().map(|e| {
                        e.candidates
                            .iter()
                            .map(|c| PageCandidate {
                                merchant: &c.merchant_id,
                                name: &c.merchant_name,
                                offer: &c.offer_id,
                                distance_m: c.distance_m,
                                verdict: match &c.verdict {
                                    Verdict::RuledOut(rule) => rule,
                                    Verdict::Wins { .. } => "wins",
                                },
                                score: match c.verdict {
                                    Verdict::Wins { score } => Some(score),
                                    Verdict::RuledOut(_) => None,
                                },
                            })
                            .collect()
                    }),
                })
                .collect(),
            events: report
                .events
                .iter()
                .map(|e| PageEvent {
                    time: &e.at,
                    line: e.line,
                    device: e.device.as_deref(),
                    kind: match e.kind {
                        EventKind::Input => "input",
                        EventKind::Suggestion => "suggestion",
                        EventKind::Output => "output",
                        EventKind::Error => "error",
                    },
                    topic: &e.topic,
                    text: &e.text,
                    at: e.location.map(xy),
                })
                .collect(),
            roads: report
                .roads
                .iter()
                .map(|road| road.iter().map(|&p| xy(p)).collect())
                .collect(),
            problems: report
                .problems
                .iter()
                .map(|p| PageProblem {
                    file: &p.file,
                    feature: &p.feature,
                    level: level(p.severity),
                    message: &p.message,
                    merchant: p.merchant,
                })
                .collect(),
        }
    }
}

/// Every located thing the map must show (roads only when nothing else is).
fn located(report: &Report) -> Vec<LatLon> {
    let mut points: Vec<LatLon> = report
        .devices
        .iter()
        .flat_map(|d| d.points.iter().map(|p| p.location))
        .chain(report.merchants.iter().map(|m| m.location))
        .chain(report.suggestions.iter().map(|s| s.location))
        .collect();
    if points.is_empty() {
        points.extend(report.roads.iter().flatten().copied());
    }
    points
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// Metres to the decimetre (smaller pages; finer than any GPS). Not finite: 0.
fn decimetres(metres: f64) -> f64 {
    if metres.is_finite() {
        (metres * 10.0).round() / 10.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geodesy::destination;
    use crate::report::model::{Drive, DrivePoint, MapMerchant};

    fn merchant(name: &str, location: LatLon) -> MapMerchant {
        MapMerchant {
            id: "m".into(),
            name: name.into(),
            location,
            kind: "restaurant".into(),
            status: MerchantStatus::Eligible,
        }
    }

    fn embedded_data(html: &str) -> serde_json::Value {
        let start = html.find("id=\"report-data\">").expect("the data element")
            + "id=\"report-data\">".len();
        let end = start + html[start..].find("</script>").expect("its end");
        serde_json::from_str(&html[start..end]).expect("the data is JSON")
    }

    #[test]
    fn a_hostile_merchant_name_stays_text() {
        let name = "</script><script>alert(1)</script><img src=x onerror=alert(2)>&<!--";
        let report = Report {
            title: format!("<b>{name}</b>"),
            merchants: vec![merchant(name, LatLon::new(45.9, 6.1))],
            ..Report::default()
        };
        let html = render(&report);
        assert_eq!(
            html.matches("<script").count(),
            2,
            "only the page's own scripts"
        );
        assert_eq!(html.matches("</script>").count(), 2);
        assert!(!html.contains("<img"), "no markup from the name");
        assert!(!html.contains("<b>"), "no markup from the title");
        assert!(
            html.contains("&lt;b&gt;&lt;/script&gt;"),
            "the title shown as text"
        );
        // And the data still reads back as the exact name.
        let data = embedded_data(&html);
        assert_eq!(data["merchants"][0]["name"], name);
    }

    #[test]
    fn a_square_drive_at_70_north_is_embedded_square() {
        let corner = LatLon::new(70.0, 19.0);
        let east = destination(corner, 90.0, 1000.0);
        let north_east = destination(east, 0.0, 1000.0);
        let north = destination(corner, 0.0, 1000.0);
        let points = [corner, east, north_east, north, corner]
            .into_iter()
            .map(|location| DrivePoint {
                location,
                at: "2026-07-15T12:00:00Z".into(),
            })
            .collect();
        let report = Report {
            devices: vec![Drive {
                device: "car".into(),
                points,
            }],
            ..Report::default()
        };
        let data = embedded_data(&render(&report));
        let xy: Vec<(f64, f64)> = data["drives"][0]["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
            .collect();
        let span = |f: fn(&(f64, f64)) -> f64| {
            xy.iter().map(f).fold(f64::MIN, f64::max) - xy.iter().map(f).fold(f64::MAX, f64::min)
        };
        let (width, height) = (span(|p| p.0), span(|p| p.1));
        assert!((width / height - 1.0).abs() < 0.01, "{width} x {height}");
        assert!((height - 1000.0).abs() < 5.0, "metres north: {height}");
    }

    #[test]
    fn roads_alone_are_drawn_and_centre_the_map() {
        let road = vec![LatLon::new(48.14, 11.57), LatLon::new(48.15, 11.58)];
        let report = Report {
            roads: vec![road],
            ..Report::default()
        };
        let data = embedded_data(&render(&report));
        let points = data["roads"][0].as_array().expect("the road");
        assert_eq!(points.len(), 2);
        let (x0, x1) = (
            points[0][0].as_f64().unwrap(),
            points[1][0].as_f64().unwrap(),
        );
        assert!((x0 + x1).abs() < 1.0, "centred on the road: {x0} {x1}");
        assert!((data["center"][0].as_f64().unwrap() - 48.145).abs() < 1e-3);
    }

    #[test]
    fn the_page_names_no_address_to_load() {
        let html = render(&Report::default());
        for needle in ["http://", "https://", "src=", "href=", "url(", "@import"] {
            assert!(!html.contains(needle), "{needle}");
        }
    }
}

//! The map reports in a real browser: `kairos replay --html` and `kairos check
//! --html` pages opened by headless Chromium (Debian's `chromium`), checked
//! through the DOM the script built, and photographed.
//!
//! Without Chromium the tests say so and pass, except under CI (`CI` set),
//! where `.ci/run` installs it and its absence is a failure. The demo's
//! screenshot goes to a temporary folder; `KAIROS_SCREENSHOT_DIR=docs/images
//! cargo test --test report_browser` refreshes the README's copy.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

const DEMO_OFFERS: &str = "data/demo/offers.geojson";
const DEMO_DRIVE: &str = "data/demo/drive.jsonl";

/// Headless Chromium, each run with a fresh profile.
struct Browser {
    exe: PathBuf,
}

impl Browser {
    /// The browser, or `None` (said on stderr) when it is not installed.
    fn find() -> Option<Self> {
        let candidates = std::env::var_os("KAIROS_CHROMIUM")
            .map(PathBuf::from)
            .into_iter()
            .chain(["/usr/bin/chromium", "/usr/bin/chromium-browser"].map(PathBuf::from));
        for exe in candidates {
            if exe.is_file() {
                return Some(Self { exe });
            }
        }
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is missing under CI: .ci/run installs Debian's `chromium`"
        );
        eprintln!(
            "SKIPPED: no chromium at /usr/bin/chromium (apt-get install -y chromium, or set \
             KAIROS_CHROMIUM): the browser test did not run"
        );
        None
    }

    /// Opens `page` (with `fragment`, e.g. `#suggestion-0`) with `extra` flags.
    fn run(&self, page: &Path, fragment: &str, extra: &[&str]) -> Output {
        let profile = TempDir::new().expect("a temp dir");
        let url = format!("file://{}{fragment}", page.display());
        let mut child = Command::new(&self.exe)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-default-apps",
                "--disable-domain-reliability",
                "--no-pings",
                // The browser's own update and account checks resolve nothing,
                // so no lookup leaves the machine.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--hide-scrollbars",
                "--window-size=1200,800",
                "--virtual-time-budget=5000",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(&url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium starts");
        // A guard against a browser that never returns, not a timed assertion.
        let deadline = Instant::now() + Duration::from_secs(120);
        while child.try_wait().expect("wait").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let output = child.wait_with_output().expect("chromium's output");
        assert!(
            output.status.success(),
            "chromium failed on {url}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// The DOM after the page's script ran.
    fn dom(&self, page: &Path, fragment: &str) -> String {
        let out = self.run(page, fragment, &["--dump-dom"]);
        String::from_utf8(out.stdout).expect("the DOM is UTF-8")
    }

    /// A 1200 × 800 screenshot, written to `png`.
    fn screenshot(&self, page: &Path, fragment: &str, png: &Path) {
        self.run(
            page,
            fragment,
            &[&format!("--screenshot={}", png.display())],
        );
        assert!(png.is_file(), "chromium wrote no screenshot");
    }
}

/// Runs `kairos` with `args` in the crate's folder; its stdout.
fn kairos(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("kairos runs");
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "kairos {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// The demo's report in `dir`, and the replay's output lines.
fn demo_report(dir: &Path) -> (PathBuf, Vec<String>) {
    let page = dir.join("report.html");
    let out = kairos(&[
        "replay",
        "--offers",
        DEMO_OFFERS,
        "--trace",
        DEMO_DRIVE,
        "--html",
        page.to_str().unwrap(),
    ]);
    (page, out.lines().map(str::to_string).collect())
}

/// The part of `dom` from `start` up to `end`.
fn between<'a>(dom: &'a str, start: &str, end: &str) -> &'a str {
    let from = dom
        .find(start)
        .unwrap_or_else(|| panic!("{start} in the DOM"));
    let to = from
        + dom[from..]
            .find(end)
            .unwrap_or_else(|| panic!("{end} after {start}"));
    &dom[from..to]
}

fn demo_lines() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEMO_DRIVE);
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn the_demo_report_shows_the_drive_each_suggestion_the_legend_and_every_event() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let dir = TempDir::new().unwrap();
    let (page, outputs) = demo_report(dir.path());
    let suggestions = outputs
        .iter()
        .filter(|l| l.contains("/suggestion\""))
        .count();
    assert!(suggestions >= 1, "the demo suggests: {outputs:?}");
    let dom = browser.dom(&page, "#suggestion-0");

    let map = between(&dom, "<svg id=\"map\"", "<div id=\"legend\"");
    assert_eq!(
        map.matches("class=\"suggestion-marker\"").count(),
        suggestions
    );
    let drives: Vec<&str> = map.split("<polyline class=\"drive\"").skip(1).collect();
    assert_eq!(drives.len(), 1, "one drive line");
    let points = between(drives[0], "points=\"", "\" ").matches(',').count();
    let positions = demo_lines()
        .iter()
        .filter(|l| l.contains("/position\""))
        .count();
    assert_eq!(points, positions, "a vertex per position");
    assert!(map.contains("class=\"merchant suggested\""));

    let legend = between(&dom, "<div id=\"legend\"", "<div id=\"hint\"");
    for item in [
        "drive of car-42",
        "suggestion, where it was made",
        "merchant suggested",
    ] {
        assert!(legend.contains(item), "legend: {item}");
    }

    let timeline = between(&dom, "<ol id=\"timeline\"", "</ol>");
    assert_eq!(
        timeline.matches("<li class=\"ev ").count(),
        demo_lines().len() + outputs.len(),
        "a timeline line per input and per output"
    );
    assert_eq!(
        timeline.matches("<li class=\"ev suggestion").count(),
        suggestions
    );

    // The fragment opened the first suggestion: its message and reasons.
    let detail = between(&dom, "<div id=\"detail\"", "</section>");
    assert!(detail.contains("Le Comptoir sans Gluten"), "{detail}");
    assert!(detail.contains("Gluten-free holiday lunch"));
    assert!(detail.contains("diet:gluten_free"));
    // Its explanation: the winner with its score, and a rule for the others.
    assert!(detail.contains("wins (score"), "{detail}");
    assert!(detail.contains("diet_not_served"), "{detail}");
}

#[test]
fn the_demo_report_screenshot_is_not_blank() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let dir = TempDir::new().unwrap();
    let (page, _) = demo_report(dir.path());
    let png = dir.path().join("replay-report.png");
    browser.screenshot(&page, "#suggestion-0", &png);

    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("its size")];
    let frame = reader.next_frame(&mut pixels).expect("its pixels");
    assert_eq!((frame.width, frame.height), (1200, 800));
    let channels = frame.color_type.samples();
    let mut counts = std::collections::HashMap::new();
    for px in pixels[..frame.buffer_size()].chunks(channels) {
        *counts.entry(px[..3].to_vec()).or_insert(0usize) += 1;
    }
    let total = (frame.width * frame.height) as usize;
    let background = counts.values().copied().max().unwrap_or(0);
    assert!(counts.len() >= 32, "only {} colours", counts.len());
    assert!(
        total - background >= total / 10,
        "only {} of {total} pixels differ from the background",
        total - background
    );
    // The map's drive blue is there (not just text on white).
    assert!(counts
        .keys()
        .any(|c| c[2] > 180 && c[0] < 60 && c[1] > 80 && c[1] < 140));

    if let Some(out) = std::env::var_os("KAIROS_SCREENSHOT_DIR") {
        let out = Path::new(env!("CARGO_MANIFEST_DIR")).join(out);
        std::fs::create_dir_all(&out).unwrap();
        let smaller = recompressed(&pixels[..frame.buffer_size()], &frame);
        std::fs::write(out.join("replay-report.png"), smaller).unwrap();
        eprintln!(
            "screenshot written to {}",
            out.join("replay-report.png").display()
        );
    }
}

/// The screenshot as an indexed PNG for the README's copy: the 256 commonest
/// colours (the page's flat fills and most of its text), every other pixel (text
/// anti-aliasing) drawn in its nearest one. A third of the browser's file size,
/// and the same picture to the eye.
fn recompressed(pixels: &[u8], frame: &png::OutputInfo) -> Vec<u8> {
    let channels = frame.color_type.samples();
    let rgb: Vec<[u8; 3]> = pixels
        .chunks(channels)
        .map(|px| [px[0], px[1], px[2]])
        .collect();
    let mut counts: std::collections::HashMap<[u8; 3], usize> = Default::default();
    for px in &rgb {
        *counts.entry(*px).or_default() += 1;
    }
    let mut by_count: Vec<([u8; 3], usize)> = counts.into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let palette: Vec<[u8; 3]> = by_count.iter().take(256).map(|(c, _)| *c).collect();
    let mut index: std::collections::HashMap<[u8; 3], u8> = Default::default();
    let nearest = |c: [u8; 3]| {
        let d = |p: &[u8; 3]| {
            (0..3)
                .map(|i| (i32::from(p[i]) - i32::from(c[i])).pow(2))
                .sum::<i32>()
        };
        (0..palette.len())
            .min_by_key(|&i| d(&palette[i]))
            .unwrap_or(0) as u8
    };
    let indexed: Vec<u8> = rgb
        .iter()
        .map(|&c| *index.entry(c).or_insert_with(|| nearest(c)))
        .collect();
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, frame.width, frame.height);
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_palette(palette.concat());
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header().expect("a PNG header");
    writer.write_image_data(&indexed).expect("the pixels");
    writer.finish().expect("the PNG's end");
    out
}

#[test]
fn replay_writes_the_same_output_with_or_without_the_map() {
    let dir = TempDir::new().unwrap();
    let (_, with_map) = demo_report(dir.path());
    let without = kairos(&["replay", "--offers", DEMO_OFFERS, "--trace", DEMO_DRIVE]);
    assert_eq!(with_map, without.lines().collect::<Vec<_>>());
}

#[test]
fn the_report_asks_nothing_of_the_network() {
    let dir = TempDir::new().unwrap();
    let (page, _) = demo_report(dir.path());
    let html = std::fs::read_to_string(&page).unwrap();
    // The embedded data is text (names, messages): addresses in it load nothing.
    let data = between(&html, "<script type=\"application/json\"", "</script>");
    let code = html.replace(data, "");
    for needle in [
        "http://",
        "https://",
        "//cdn",
        "src=",
        "href=",
        "url(",
        "@import",
        "fetch(",
        "XMLHttpRequest",
        "WebSocket",
        "EventSource",
        "sendBeacon",
    ] {
        assert!(!code.contains(needle), "the page names {needle:?}");
    }
    assert!(
        code.contains("default-src 'none'"),
        "the page forbids loading anything"
    );

    // And the browser agrees: its network log shows no request made by the page.
    let Some(browser) = Browser::find() else {
        return;
    };
    assert_eq!(
        page_requests(&browser, &page, dir.path()),
        Vec::<String>::new()
    );
    // The same check sees a page that does load something (loopback only).
    let control = dir.path().join("control.html");
    std::fs::write(
        &control,
        "<!DOCTYPE html><img src=\"http://127.0.0.1:39999/x.png\"><script>fetch('/y')</script>",
    )
    .unwrap();
    let seen = page_requests(&browser, &control, dir.path());
    assert!(
        seen.iter()
            .any(|url| url.starts_with("http://127.0.0.1:39999/")),
        "{seen:?}"
    );
}

/// The URLs `page` asked for, from Chromium's network log. The browser's own
/// requests (update and account checks, which resolve nothing here) have no
/// initiator; a page's have its origin (`null` for a file).
fn page_requests(browser: &Browser, page: &Path, dir: &Path) -> Vec<String> {
    let log = dir.join("netlog.json");
    browser.run(page, "", &[&format!("--log-net-log={}", log.display())]);
    let log: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&log).expect("the network log"))
            .expect("the network log is JSON");
    let start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"].clone();
    assert!(start_job.is_number(), "the log names its event types");
    log["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == start_job)
        .filter_map(|e| {
            Some((
                e["params"]["initiator"].as_str()?,
                e["params"]["url"].as_str()?,
            ))
        })
        .filter(|(initiator, _)| *initiator != "not an origin")
        .map(|(_, url)| url.to_string())
        .collect()
}

/// An offer file whose merchant's name tries to run script and add markup.
fn hostile_offers(dir: &Path) -> PathBuf {
    let name = "</script><script>document.body.dataset.pwned=1</script>\
                <img src=x onerror=\"document.body.dataset.pwned=2\"><b>Bold</b> & Co";
    let offers = serde_json::json!({
        "type": "FeatureCollection",
        "features": [{
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [6.1473664, 45.8883239]},
            "properties": {
                "id": "hostile", "name": name, "amenity": "restaurant",
                "diet:gluten_free": "only", "opening_hours": "Mo-Su 11:00-22:00"
            }
        }, {
            "type": "Feature",
            "geometry": null,
            "properties": {"id": "nowhere", "name": name}
        }]
    });
    let path = dir.join("hostile.geojson");
    std::fs::write(&path, offers.to_string()).unwrap();
    path
}

/// `dom` without its `title="..."` attributes (tooltips hold text, and how a
/// browser writes `<` inside an attribute varies between versions).
fn without_tooltips(dom: &str) -> String {
    let mut out = String::with_capacity(dom.len());
    let mut rest = dom;
    while let Some(start) = rest.find(" title=\"") {
        out.push_str(&rest[..start]);
        let value = &rest[start + 8..];
        rest = value.find('"').map_or("", |end| &value[end + 1..]);
    }
    out.push_str(rest);
    out
}

fn assert_inert(dom: &str) {
    let dom = &without_tooltips(dom);
    assert!(!dom.contains("data-pwned"), "a name ran script");
    assert!(!dom.contains("<img"), "a name added an image");
    assert!(!dom.contains("<b>Bold"), "a name added markup");
    assert!(dom.contains("&lt;img src=x"), "the name is shown as text");
}

#[test]
fn a_merchant_name_with_markup_stays_text_in_both_reports() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let dir = TempDir::new().unwrap();
    let offers = hostile_offers(dir.path());
    let replay_page = dir.path().join("replay.html");
    kairos(&[
        "replay",
        "--offers",
        offers.to_str().unwrap(),
        "--trace",
        DEMO_DRIVE,
        "--html",
        replay_page.to_str().unwrap(),
    ]);
    let dom = browser.dom(&replay_page, "#suggestion-0");
    assert_inert(&dom);
    assert!(between(&dom, "<div id=\"detail\"", "</section>").contains("&lt;b&gt;Bold"));

    let check_page = dir.path().join("check.html");
    kairos(&[
        "check",
        "--offers",
        offers.to_str().unwrap(),
        "--html",
        check_page.to_str().unwrap(),
    ]);
    assert_inert(&browser.dom(&check_page, ""));
}

#[test]
fn the_check_report_maps_each_feature_with_its_problems() {
    let Some(browser) = Browser::find() else {
        return;
    };
    let dir = TempDir::new().unwrap();
    let offers = dir.path().join("shop.geojson");
    std::fs::write(
        &offers,
        r#"{"type": "FeatureCollection", "features": [
          {"type": "Feature", "geometry": {"type": "Point", "coordinates": [11.57, 48.14]},
           "properties": {"id": "fine", "name": "Fine Café", "amenity": "cafe"}},
          {"type": "Feature", "geometry": {"type": "Point", "coordinates": [11.58, 48.14]},
           "properties": {"id": "hours", "name": "Odd Hours", "amenity": "restaurant",
                          "opening_hours": "whenever we like"}},
          {"type": "Feature", "geometry": {"type": "Point", "coordinates": [11.59, 48.15]},
           "properties": {"id": "diet", "name": "Maybe Vegan", "shop": "bakery", "diet:vegan": "maybe"}},
          {"type": "Feature", "properties": {"id": "lost", "name": "No Geometry"}}
        ]}"#,
    )
    .unwrap();
    let page = dir.path().join("check.html");
    let text = kairos(&[
        "check",
        "--offers",
        offers.to_str().unwrap(),
        "--html",
        page.to_str().unwrap(),
    ]);
    assert!(text.contains("2 errors, 1 warnings"), "{text}");
    let dom = browser.dom(&page, "");

    let map = between(&dom, "<svg id=\"map\"", "<div id=\"legend\"");
    assert_eq!(map.matches("class=\"merchant clean\"").count(), 1);
    assert_eq!(map.matches("class=\"merchant error\"").count(), 1);
    assert_eq!(map.matches("class=\"merchant warning\"").count(), 1);
    assert!(!map.contains("class=\"drive\""), "no drive in a check");

    let legend = between(&dom, "<div id=\"legend\"", "<div id=\"hint\"");
    for item in ["no problem", "warnings", "errors"] {
        assert!(legend.contains(item), "legend: {item}");
    }
    let on_map = between(&dom, "<ul id=\"problems\"", "</ul>");
    assert_eq!(on_map.matches("<li").count(), 2);
    assert!(on_map.contains("whenever we like"));
    let apart = between(&dom, "<ul id=\"unplaced\"", "</ul>");
    assert_eq!(apart.matches("<li").count(), 1);
    assert!(apart.contains("lost") && apart.contains("no geometry"));
}

//! Shared by the targets that evaluate opening hours: libfuzzer-sys makes every
//! panic abort, even one kairos catches. kairos guards the `opening-hours`
//! crate with `catch_unwind` (parse and evaluation), so a panic raised inside
//! that crate is tolerated (each distinct location reported once on stderr);
//! any other panic still aborts and is a finding.

use std::collections::HashSet;
use std::sync::Mutex;

/// Installs the hook; call once from the target's `init`.
pub fn tolerate_opening_hours_panics() {
    let default_hook = std::panic::take_hook();
    let seen: Mutex<HashSet<String>> = Mutex::new(HashSet::new());
    std::panic::set_hook(Box::new(move |info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        if location.contains("opening-hours") {
            let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
            if seen.insert(location.clone()) {
                eprintln!("guarded panic in opening-hours at {location}: {info}");
            }
            return;
        }
        default_hook(info);
        std::process::abort();
    }));
}

//! The `kairos` binary of this build, run to completion.

use std::ffi::OsStr;
use std::process::{Command, Output};

/// Runs `kairos args...` and returns what it printed and its status.
pub fn kairos<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(args)
        .env("NO_COLOR", "1")
        .env("KAIROS_NO_PROGRESS", "1")
        .output()
        .expect("the kairos binary runs")
}

/// Runs `kairos args...`, fails the test unless it exits 0, returns stdout.
pub fn kairos_ok<S: AsRef<OsStr>>(args: &[S]) -> String {
    let out = kairos(args);
    assert!(
        out.status.success(),
        "kairos {:?} failed ({}):\n{}",
        args.iter()
            .map(|a| a.as_ref().to_string_lossy())
            .collect::<Vec<_>>(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("kairos prints UTF-8")
}

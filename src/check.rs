//! `kairos check`: every problem of offer files, with file, feature and reason.

use std::io::Write;
use std::path::PathBuf;

use kairos_core::offers::{Loader, Severity};

/// What `check` found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CheckSummary {
    /// Merchants that load.
    pub merchants: usize,
    /// Errors (files that cannot be read, features or offers skipped, conditions that never hold).
    pub errors: usize,
    /// Warnings.
    pub warnings: usize,
}

/// Checks every path, writing one line per problem to `out`.
pub fn check(paths: &[PathBuf], out: &mut impl Write) -> std::io::Result<CheckSummary> {
    let mut loader = Loader::new();
    let mut summary = CheckSummary::default();
    for path in paths {
        if let Err(error) = crate::offer_files::load_path(&mut loader, path) {
            summary.errors += 1;
            writeln!(out, "{error}")?;
        }
    }
    let (merchants, problems) = loader.finish();
    summary.merchants = merchants.len();
    for problem in &problems {
        match problem.severity {
            Severity::Error => summary.errors += 1,
            Severity::Warning => summary.warnings += 1,
        }
        writeln!(out, "{problem}")?;
    }
    writeln!(
        out,
        "{} merchants usable, {} errors, {} warnings",
        summary.merchants, summary.errors, summary.warnings
    )?;
    Ok(summary)
}

//! Progress of long work on stderr (`import`, `generate`, `replay` of a long
//! trace): a bar with what is done, the rate and the time left when stderr is
//! a terminal; nothing otherwise. Either way the caller prints its summary
//! line at the end, so logs and pipes stay quiet and scripts see one line.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar that draws only on a terminal.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Progress through `total` bytes, labelled `what` (e.g. "replay").
    pub fn bytes(what: &str, total: u64) -> Self {
        Self::new(
            what,
            total,
            "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}, {eta} left",
        )
    }

    /// Progress through `total` items, labelled `what`.
    pub fn items(what: &str, total: u64) -> Self {
        Self::new(
            what,
            total,
            "{prefix} [{bar:30}] {human_pos}/{human_len} {per_sec}, {eta} left",
        )
    }

    fn new(what: &str, total: u64, template: &str) -> Self {
        if !std::io::stderr().is_terminal() || std::env::var_os("KAIROS_NO_PROGRESS").is_some() {
            return Self { bar: None };
        }
        let style = ProgressStyle::with_template(template)
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = ProgressBar::new(total).with_style(style);
        bar.set_prefix(what.to_string());
        Self { bar: Some(bar) }
    }

    /// A bar that never draws (for library callers).
    pub fn hidden() -> Self {
        Self { bar: None }
    }

    /// Sets how much is done.
    pub fn set(&self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        }
    }

    /// Adds to what is done.
    pub fn add(&self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(done);
        }
    }

    /// Clears the bar (the caller prints its summary next).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `path` opened for reading, its bytes counted on a bar labelled `what`
/// (through the whole file: one pass of a reader).
pub fn open_counted(
    path: &std::path::Path,
    what: &str,
) -> std::io::Result<Counting<std::fs::File>> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    Ok(Counting::new(file, Progress::bytes(what, size)))
}

/// A reader that moves a [`Progress`] on by the bytes read through it.
pub struct Counting<R> {
    inner: R,
    progress: Progress,
}

impl<R> Counting<R> {
    /// `inner`, counted on `progress`.
    pub fn new(inner: R, progress: Progress) -> Self {
        Self { inner, progress }
    }
}

impl<R: std::io::Read> std::io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.add(n as u64);
        Ok(n)
    }
}

impl<R: std::io::BufRead> std::io::BufRead for Counting<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.progress.add(amount as u64);
        self.inner.consume(amount);
    }
}

//! The `kairos` command line: parses arguments, calls the library, maps errors
//! to exit codes. Nothing else lives here.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use kairos::{Catalog, Config, Engine};

/// kairos: at most one suggestion, only when it truly fits.
#[derive(Parser)]
#[command(
    version,
    about,
    after_help = "Exit codes: 0 success; 1 `check` found problems; 2 bad usage or an unreadable file."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine over a recorded trace and print every message it would publish.
    Replay {
        /// Offer file or folder of .geojson files (repeatable).
        #[arg(long, required = true, num_args = 1..)]
        offers: Vec<PathBuf>,
        /// Trace file (JSON Lines).
        #[arg(long)]
        trace: PathBuf,
        /// Configuration file (TOML).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Validate offer files: every problem with its file, feature and reason.
    Check {
        /// Offer file or folder of .geojson files (repeatable).
        #[arg(long, required = true, num_args = 1..)]
        offers: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("kairos: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Replay {
            offers,
            trace,
            config,
            out,
        } => {
            let config = match config {
                Some(path) => Config::load(&path)?,
                None => Config::default(),
            };
            let catalog = load_catalog(&offers)?;
            let trace = File::open(&trace)
                .with_context(|| format!("cannot read trace {}", trace.display()))?;
            let mut engine = Engine::new(config.engine, Arc::new(catalog));
            let mut sink: Box<dyn Write> = match out {
                Some(path) => Box::new(
                    File::create(&path)
                        .with_context(|| format!("cannot write {}", path.display()))?,
                ),
                None => Box::new(std::io::stdout().lock()),
            };
            let mut sink = BufWriter::with_capacity(1 << 16, &mut sink);
            let summary = kairos::replay::replay(
                &mut engine,
                BufReader::with_capacity(1 << 16, trace),
                &mut sink,
                &mut std::io::stderr().lock(),
            )
            .context("replay failed")?;
            sink.flush().context("cannot write the output")?;
            if summary.skipped > 0 {
                eprintln!("kairos: {} trace lines skipped", summary.skipped);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { offers } => {
            let summary = kairos::check::check(&offers, &mut std::io::stdout().lock())?;
            Ok(if summary.errors > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

/// Loads offers for the engine: unusable features are warnings on stderr.
fn load_catalog(paths: &[PathBuf]) -> anyhow::Result<Catalog> {
    let (catalog, problems) = Catalog::load(paths)?;
    for problem in &problems {
        eprintln!("kairos: {problem}");
    }
    Ok(catalog)
}

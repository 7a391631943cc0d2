//! The `kairos` command line: parses arguments, calls the library, maps errors
//! to exit codes. Nothing else lives here.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use kairos::config::Overrides;
use kairos::serve::{OfferSource, ServeOptions};
use kairos::store::StateUrl;
use kairos::{Catalog, Config, Engine};

/// kairos: at most one suggestion, only when it truly fits.
#[derive(Parser)]
#[command(
    version,
    about,
    after_help = "Exit codes: 0 success; 1 `check` found problems; 2 bad usage, an unreadable file, \
or a broker that cannot be used (port taken, bad URL, credentials or certificate refused, \
the embedded broker off loopback without accounts, an unusable password file), \
or a state store that cannot be opened (corrupt or unwritable file, Redis unreachable).\n\
Logging (serve, demo, record) goes to stderr; set RUST_LOG to change it (e.g. RUST_LOG=kairos=debug; the embedded broker logs as rumqttd, off by default)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The live engine over MQTT, with an embedded broker unless --broker is given.
    /// Runs until SIGINT/SIGTERM, then finishes what it received and stops.
    Serve {
        /// Configuration file (TOML); see `[serve]` in the defaults.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Use this broker instead of the embedded one: mqtt://HOST:PORT, or
        /// mqtts://HOST:PORT for TLS (CA and client certificate in `[serve]`).
        /// Credentials: KAIROS_BROKER_USERNAME / KAIROS_BROKER_PASSWORD.
        #[arg(long, conflicts_with = "listen")]
        broker: Option<String>,
        /// Where the embedded broker listens [default: 127.0.0.1:1883]. Off
        /// loopback only with accounts (serve.embedded_users_file or
        /// KAIROS_EMBEDDED_USERS_FILE).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Offer file or folder of .geojson files (repeatable); reloaded when they change.
        #[arg(long, num_args = 1..)]
        offers: Vec<PathBuf>,
        /// Serve Prometheus metrics on this address (HOST:PORT), e.g. 127.0.0.1:9464.
        #[arg(long)]
        metrics: Option<SocketAddr>,
        /// Where device state lives: a file (created if missing), or
        /// redis://HOST:PORT/DB shared by several instances
        /// [default: serve.state, else $XDG_DATA_HOME/kairos/state.redb].
        #[arg(long, value_name = "PATH|URL")]
        state: Option<String>,
        /// Split inputs with the other instances of this group through MQTT
        /// shared subscriptions ($share/NAME/...); give them one redis:// --state.
        #[arg(long, value_name = "NAME")]
        share_group: Option<String>,
        /// MQTT client id of this instance (1 to 23 characters), kept across
        /// restarts: the broker holds this instance's session under it
        /// [default: serve.client_id, `kairos`; in a share group, `kairos-`
        /// and a hash of the host name and --state].
        #[arg(long, value_name = "ID")]
        client_id: Option<String>,
        /// Road network: an OSM extract (.osm.pbf) or a file of `kairos import
        /// roads`; reloaded when it changes. Distances, arrival times and turns
        /// are then by road.
        #[arg(long, value_name = "FILE")]
        roads: Option<PathBuf>,
    },
    /// The seed example, live: embedded broker, bundled offers, roads and
    /// drive (Monaco), the cars driven over real MQTT; prints each suggestion
    /// and exits.
    Demo {
        /// Where the embedded broker listens [default: a free loopback port].
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// The straight-line demo instead (Annecy, no roads).
        #[arg(long)]
        straight: bool,
        /// Road network instead of the bundled Monaco one: an OSM extract
        /// (.osm.pbf) or a file of `kairos import roads`.
        #[arg(long, value_name = "FILE", conflicts_with = "straight")]
        roads: Option<PathBuf>,
    },
    /// Subscribe to the input topics of a broker and write what arrives as a
    /// trace file (for `replay`). Runs until SIGINT/SIGTERM.
    Record {
        /// The broker: mqtt://HOST:PORT or mqtts://HOST:PORT.
        #[arg(long)]
        broker: String,
        /// The trace file to write.
        #[arg(long)]
        out: PathBuf,
        /// Configuration file (TOML): topic prefix, credentials.
        #[arg(long)]
        config: Option<PathBuf>,
    },
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
        /// Road network: an OSM extract (.osm.pbf) or a file of `kairos import roads`.
        #[arg(long, value_name = "FILE")]
        roads: Option<PathBuf>,
        /// Also write a map of the replay here: one self-contained HTML page
        /// (drive, merchants near it, suggestions, timeline; opens offline).
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
    },
    /// Why kairos suggests what it suggests: replays a trace up to a moment,
    /// then lists the offers nearest the device, each with the first rule
    /// that rules it out, and the winner with its score.
    Explain {
        /// Offer file or folder of .geojson files (repeatable).
        #[arg(long, required = true, num_args = 1..)]
        offers: Vec<PathBuf>,
        /// Trace file (JSON Lines); lines after --at are not applied.
        #[arg(long)]
        trace: PathBuf,
        /// The moment, RFC 3339 with offset (e.g. 2026-07-15T14:00:00+02:00).
        #[arg(long, value_name = "TIME")]
        at: String,
        /// The device to explain.
        #[arg(long, value_name = "ID")]
        device: String,
        /// Road network: an OSM extract (.osm.pbf) or a file of `kairos import roads`.
        #[arg(long, value_name = "FILE")]
        roads: Option<PathBuf>,
        /// How many offers to list, nearest first (the winner is always listed).
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// JSON for programs instead of text.
        #[arg(long)]
        json: bool,
        /// Configuration file (TOML).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Validate offer files: every problem with its file, feature and reason.
    Check {
        /// Offer file or folder of .geojson files (repeatable).
        #[arg(long, required = true, num_args = 1..)]
        offers: Vec<PathBuf>,
        /// Also write the merchants on a map with their problems here
        /// (one self-contained HTML page).
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
    },
    /// Turn real data into kairos files: merchants from OpenStreetMap, traces
    /// from GPS logs. What is dropped is counted by reason on stderr.
    Import {
        #[command(subcommand)]
        what: ImportCommand,
    },
    /// Benchmark load from real data: merchants tiled from real city sets over
    /// many European city centres (real density, fresh ids), and devices'
    /// drives as a trace. Writes DIR/offers.geojson and DIR/trace.jsonl.
    Generate {
        /// How many merchants.
        #[arg(long)]
        merchants: usize,
        /// How many devices drive.
        #[arg(long, default_value_t = 1000)]
        devices: usize,
        /// How many position events, over all devices.
        #[arg(long, default_value_t = 100_000)]
        events: usize,
        /// The folder to write.
        #[arg(long)]
        out: PathBuf,
        /// Same seed, same files.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Real merchant sets: .osm.pbf extracts, offer files, or folders of
        /// them (repeatable), e.g. the OpenStreetMap extracts of a few cities.
        #[arg(long, required = true, num_args = 1..)]
        from: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Merchants (food and drink, shops, sights) from an OSM extract (.osm.pbf)
    /// or a GeoJSON export (.geojson, .geojsonseq), as an offer file.
    Osm {
        /// The extract or export.
        file: PathBuf,
        /// The offer file to write (GeoJSON).
        #[arg(long)]
        out: PathBuf,
    },
    /// The drivable road network of an OSM extract (.osm.pbf) as kairos's
    /// compact road file, faster to load with `--roads`.
    Roads {
        /// The extract.
        file: PathBuf,
        /// The road file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// A trace (JSON Lines, for `replay`) from a GPS log: CSV (id,time,geometry
    /// or lat/lon columns), barefoot JSON or GPX.
    Trace {
        /// The GPS log.
        file: PathBuf,
        /// The trace file to write.
        #[arg(long)]
        out: PathBuf,
        /// Device name, or the prefix of `{device}-{track id}` when the log has
        /// several tracks [default: the log's file name].
        #[arg(long)]
        device: Option<String>,
        /// Shift the log so its first fix is at this RFC 3339 instant.
        #[arg(long)]
        start: Option<chrono::DateTime<chrono::FixedOffset>>,
        /// A profile payload (JSON object) published per device at its first fix.
        #[arg(long)]
        profile: Option<String>,
        /// A context payload (JSON object) published per device at its first fix.
        #[arg(long)]
        context: Option<String>,
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
        Command::Serve {
            config,
            broker,
            listen,
            offers,
            metrics,
            state,
            share_group,
            client_id,
            roads,
        } => {
            init_logging("info,rumqttd=off");
            let overrides = Overrides {
                listen,
                broker,
                metrics,
                state,
                share_group,
                client_id,
                default_state_file: Some(kairos::store::default_state_path()?),
                ..Overrides::from_env()
            };
            let config = Config::load_with(config.as_deref(), &overrides)?;
            warn_about_unshared_state(&config);
            let mut options = ServeOptions::new(config, OfferSource::Paths(offers));
            options.roads = roads.map(kairos::serve::RoadSource::Path);
            runtime()?.block_on(kairos::serve::serve(
                options,
                kairos::serve::shutdown_signal(),
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo {
            listen,
            straight,
            roads,
        } => {
            init_logging("warn,rumqttd=off");
            runtime()?.block_on(kairos::serve::demo::demo(
                kairos::serve::demo::DemoOptions {
                    listen,
                    straight,
                    roads,
                },
                &mut std::io::stdout().lock(),
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Record {
            broker,
            out,
            config,
        } => {
            init_logging("info,rumqttd=off");
            let config = Config::load_with(config.as_deref(), &Overrides::from_env())?;
            let file =
                File::create(&out).with_context(|| format!("cannot write {}", out.display()))?;
            let options = kairos::serve::record::RecordOptions {
                config,
                broker: broker.parse()?,
                clock: kairos::serve::Clock::System,
                ready: None,
            };
            let written = runtime()?.block_on(kairos::serve::record::record(
                options,
                &mut BufWriter::new(file),
                kairos::serve::shutdown_signal(),
            ))?;
            eprintln!("kairos: {written} messages recorded to {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay {
            offers,
            trace,
            config,
            out,
            roads,
            html,
        } => {
            let config = load_config(config.as_deref())?;
            let catalog = load_catalog(&offers)?;
            let title = format!("kairos replay: {}", trace.display());
            let trace = File::open(&trace)
                .with_context(|| format!("cannot read trace {}", trace.display()))?;
            let mut engine = Engine::new(config.engine, Arc::new(catalog));
            engine.set_roads(load_roads(roads.as_deref())?);
            let mut sink: Box<dyn Write> = match out {
                Some(path) => Box::new(
                    File::create(&path)
                        .with_context(|| format!("cannot write {}", path.display()))?,
                ),
                None => Box::new(std::io::stdout().lock()),
            };
            let mut sink = BufWriter::with_capacity(1 << 16, &mut sink);
            let mut recorder = html
                .is_some()
                .then(|| kairos::report::Recorder::new(kairos::report::EngineExplainer::new()));
            let size = trace.metadata().map_or(0, |m| m.len());
            let started = std::time::Instant::now();
            let trace = kairos::progress::Counting::new(
                BufReader::with_capacity(1 << 16, trace),
                kairos::progress::Progress::bytes("replay", size),
            );
            let summary = kairos::replay::replay_observed(
                &mut engine,
                trace,
                &mut sink,
                &mut std::io::stderr().lock(),
                &mut recorder,
            )
            .context("replay failed")?;
            sink.flush().context("cannot write the output")?;
            if let (Some(path), Some(recorder)) = (html, recorder) {
                let mut report = kairos::report::from_replay(&title, engine.catalog(), recorder);
                if let Some(network) = engine.roads() {
                    report.roads = kairos::report::roads_near(network, &report.devices);
                }
                kairos::report::write(&path, &report)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            eprintln!(
                "kairos: replay: {} events, {} messages published, {} trace lines skipped, in {:.1} s",
                summary.events,
                summary.published,
                summary.skipped,
                started.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain {
            offers,
            trace,
            at,
            device,
            roads,
            limit,
            json,
            config,
        } => {
            let at = kairos::explain::parse_moment(&at).map_err(anyhow::Error::msg)?;
            let config = load_config(config.as_deref())?;
            let catalog = load_catalog(&offers)?;
            let file = File::open(&trace)
                .with_context(|| format!("cannot read trace {}", trace.display()))?;
            let mut engine = Engine::new(config.engine, Arc::new(catalog));
            engine.set_roads(load_roads(roads.as_deref())?);
            kairos::explain::replay_until(
                &mut engine,
                BufReader::with_capacity(1 << 16, file),
                at.time,
                &mut std::io::stderr().lock(),
            )
            .context("replay failed")?;
            let explanation = engine.explain(&device, &at, limit);
            let mut out = std::io::stdout().lock();
            if json {
                serde_json::to_writer_pretty(&mut out, &kairos::explain::to_json(&explanation))?;
                writeln!(out)?;
            } else {
                use std::io::IsTerminal;
                let colour =
                    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
                kairos::explain::write_text(&explanation, &mut out, colour)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { what } => import(what),
        Command::Generate {
            merchants,
            devices,
            events,
            out,
            seed,
            from,
        } => {
            let from = from
                .into_iter()
                .flat_map(|path| {
                    if path.is_dir() {
                        kairos::gen::default_sources(&path)
                    } else {
                        vec![path]
                    }
                })
                .collect();
            let mut options = kairos::gen::GenerateOptions::new(from, merchants, devices, events);
            options.seed = seed;
            let summary = kairos::gen::generate(&options, &out)?;
            summary.report(&out, &mut std::io::stderr().lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { offers, html } => {
            let summary = kairos::check::check(&offers, &mut std::io::stdout().lock())?;
            if let Some(path) = html {
                kairos::report::write(&path, &kairos::report::from_check(&offers))
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            Ok(if summary.errors > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

/// `kairos import ...`: the library does the work; counts go to stderr.
fn import(what: ImportCommand) -> anyhow::Result<ExitCode> {
    use kairos::import;
    let mut stderr = std::io::stderr().lock();
    match what {
        ImportCommand::Osm { file, out } => {
            let summary = import::import_merchants(&file, &out)?;
            summary.report(&out.display().to_string(), &mut stderr)?;
        }
        ImportCommand::Roads { file, out } => {
            let report = import::roads::import_roads(&file, &out)?;
            writeln!(stderr, "{report}; written to {}", out.display())?;
        }
        ImportCommand::Trace {
            file,
            out,
            device,
            start,
            profile,
            context,
        } => {
            let options = import::TraceOptions {
                device,
                start,
                profile: profile
                    .map(|p| import::trace_log::json_object("--profile", &p))
                    .transpose()?,
                context: context
                    .map(|c| import::trace_log::json_object("--context", &c))
                    .transpose()?,
            };
            let summary = import::trace_log::import_file(&file, &out, &options)?;
            summary.report(&out.display().to_string(), &mut stderr)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Several instances with a file store each keep their own device state.
fn warn_about_unshared_state(config: &Config) {
    let shared_store = matches!(config.serve.state, Some(StateUrl::Redis(_)));
    if config.serve.share_group.is_some() && !shared_store {
        eprintln!(
            "kairos: warning: --share-group with a file store: each instance keeps its own device \
state, so gaps and caps hold per instance only; give every instance the same --state redis://..."
        );
    }
}

/// Loads a road network for the engine (`--roads`); what it dropped, and a
/// summary, on stderr.
fn load_roads(
    path: Option<&std::path::Path>,
) -> anyhow::Result<Option<Arc<kairos::roads::RoadNetwork>>> {
    let Some(path) = path else { return Ok(None) };
    let (network, report) = kairos::import::roads::load_roads(path)?;
    eprintln!("{report}");
    Ok(Some(Arc::new(network)))
}

/// Loads offers for the engine: unusable features are warnings on stderr.
fn load_catalog(paths: &[PathBuf]) -> anyhow::Result<Catalog> {
    let (catalog, problems) = Catalog::load(paths)?;
    for problem in &problems {
        eprintln!("kairos: {problem}");
    }
    Ok(catalog)
}

fn load_config(path: Option<&std::path::Path>) -> anyhow::Result<Config> {
    Ok(match path {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Logs to stderr; RUST_LOG overrides `default`.
fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

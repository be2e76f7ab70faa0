//! The `vitals` command line: parses arguments and wires the pipeline together.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use vitals::api::{ApiState, Server};
use vitals::config::{EMBEDDED_DEFAULT, EMBEDDED_NAME, LoadedConfig};
use vitals::shutdown::{Stage, stop_in_order};
use vitals::sources::probe::Prober;
use vitals::store::{Store, StoreConfig};
use vitals::telemetry::{self, LogFormat};

#[derive(Parser)]
#[command(
    name = "vitals",
    version,
    about = "Probes, ingests, alerts and exports: one small daemon for a fleet's health."
)]
struct Cli {
    /// Log line format.
    #[arg(
        long,
        global = true,
        env = "VITALS_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: LogFormat,
    /// Log filter, e.g. `info` or `vitals=debug,warn`.
    #[arg(
        long = "log",
        global = true,
        env = "VITALS_LOG",
        default_value = "info"
    )]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Run {
        /// Configuration file. Default: config/vitals.yaml if present, else the embedded default.
        #[arg(short, long, env = "VITALS_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Validate configuration.
    Check {
        #[command(subcommand)]
        what: CheckCommand,
    },
}

#[derive(Subcommand)]
enum CheckCommand {
    /// Validate a configuration file; every error is printed with file:line:col.
    Config {
        /// The file (default: config/vitals.yaml if present, else the embedded default).
        #[arg(env = "VITALS_CONFIG")]
        path: Option<PathBuf>,
    },
}

const DEFAULT_PATH: &str = "config/vitals.yaml";

fn load(path: Option<&Path>) -> Result<LoadedConfig, vitals::config::ConfigErrors> {
    match path {
        Some(p) => LoadedConfig::from_file(p),
        None if Path::new(DEFAULT_PATH).exists() => {
            LoadedConfig::from_file(Path::new(DEFAULT_PATH))
        }
        None => LoadedConfig::from_yaml(EMBEDDED_DEFAULT, EMBEDDED_NAME, |n| std::env::var(n).ok()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check {
            what: CheckCommand::Config { path },
        } => match load(path.as_deref()) {
            Ok(cfg) => {
                println!(
                    "{}: configuration is valid ({} probe targets)",
                    cfg.origin,
                    cfg.probes.len()
                );
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{errors}");
                eprintln!("{} error(s) found", errors.0.len());
                ExitCode::FAILURE
            }
        },
        Command::Run { config } => {
            let cfg = match load(config.as_deref()) {
                Ok(cfg) => cfg,
                Err(errors) => {
                    eprintln!("{errors}");
                    eprintln!(
                        "vitals did not start: {} configuration error(s)",
                        errors.0.len()
                    );
                    return ExitCode::FAILURE;
                }
            };
            if let Err(e) = telemetry::init_logging(cli.log_format, &cli.log) {
                eprintln!("vitals did not start: {e}");
                return ExitCode::FAILURE;
            }
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("vitals did not start: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(run(cfg)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "vitals stopped on an error.");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn run(cfg: LoadedConfig) -> anyhow::Result<()> {
    let registry = telemetry::registry()?;
    let storage = &cfg.config.storage;
    let store = Arc::new(Store::new(
        StoreConfig {
            retention: storage.retention.get(),
            stale_after: storage.series_stale_after.get(),
            max_series: storage.max_series,
        },
        &registry,
    )?);
    let state = ApiState::new(store.clone(), registry.clone())?;
    let server = Server::bind(cfg.listen, state.clone()).await?;
    let listen = server.local_addr().unwrap_or(cfg.listen);

    let mut sources = Stage::new("sources");
    let prober = Prober::new(store.clone(), cfg.config.probes.max_concurrency, &registry)
        .context("starting the prober")?;
    sources.adopt(prober.spawn(cfg.probes.clone(), sources.token()));

    let mut maintenance = Stage::new("store");
    let gc_store = store.clone();
    let gc_cancel = maintenance.token();
    maintenance.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        loop {
            tokio::select! {
                _ = gc_cancel.cancelled() => break,
                _ = tick.tick() => {
                    let s = gc_store.clone();
                    let _ = tokio::task::spawn_blocking(move || s.gc(vitals::api::now_ms())).await;
                }
            }
        }
    });

    let mut api = Stage::new("api");
    let api_cancel = api.token();
    api.spawn(async move {
        if let Err(e) = server.serve(api_cancel).await {
            tracing::error!(error = %e, "The HTTP server failed.");
        }
    });

    state.set_ready(true);
    tracing::info!(
        config = %cfg.origin,
        listen = %listen,
        probes = cfg.probes.len(),
        "vitals is running."
    );

    let signal = vitals::shutdown::signal().await;
    let grace = cfg.config.server.shutdown_grace.get();
    tracing::info!(signal, grace = ?grace, "Shutting down.");
    state.set_ready(false);
    if stop_in_order(vec![sources, maintenance, api], grace).await {
        tracing::info!("vitals stopped.");
    }
    Ok(())
}

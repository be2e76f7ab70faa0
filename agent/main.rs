//! The `vitals` command line: parses arguments, sets up logging, hands over to the daemon
//! (`vitals::daemon`) or a checker, and turns the result into an exit code.

#![forbid(unsafe_code)]

use std::io::{stderr, stdout};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::anyhow;
use clap::{Parser, Subcommand};
use vitals::daemon::ConfigSource;
use vitals::rules::unittest;
use vitals::telemetry::{self, LogFormat};

/// jemalloc: faster than glibc under rule evaluation and returns memory by decay (Cargo.toml).
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Probes, ingests, alerts and exports: one small daemon for a fleet's health.
#[derive(Parser)]
#[command(name = "vitals", version)]
struct Cli {
    /// Log line format.
    #[arg(long, global = true, env = "VITALS_LOG_FORMAT", default_value = "text")]
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
    /// Unit testing.
    Test {
        #[command(subcommand)]
        what: TestCommand,
    },
}

#[derive(Subcommand)]
enum TestCommand {
    /// Run Prometheus rule unit tests (promtool's test file format); exit 1 if any fails.
    Rules {
        /// Unit-test files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Only run test groups whose name matches this regular expression (repeatable).
        #[arg(long)]
        run: Vec<String>,
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
    /// Validate Prometheus rule files; every error is printed with file:line:col.
    Rules {
        /// Rule files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let report = |e: std::io::Error| anyhow!("cannot write the report: {e}");
    let outcome = match cli.command {
        Command::Check {
            what: CheckCommand::Config { path },
        } => Ok(check_config(path)),
        Command::Check {
            what: CheckCommand::Rules { files },
        } => unittest::check_rule_files(&files, &mut stdout(), &mut stderr()).map_err(report),
        Command::Test {
            what: TestCommand::Rules { files, run },
        } => unittest::TestOptions::new(&run)
            .map_err(|e| anyhow!("invalid --run pattern: {e}"))
            .and_then(|o| {
                unittest::test_files(&files, &o, &mut stdout(), &mut stderr()).map_err(report)
            }),
        Command::Run { config } => run(ConfigSource::pick(config), cli.log_format, &cli.log),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// `vitals check config`: every error, or what the configuration holds.
fn check_config(path: Option<PathBuf>) -> bool {
    let errors = match ConfigSource::pick(path).load() {
        Ok(cfg) if cfg.warnings.0.is_empty() => {
            println!("{}: configuration is valid ({})", cfg.origin, cfg.summary());
            return true;
        }
        // What `run` only warns about (a rule glob matching nothing) fails the check.
        Ok(cfg) => cfg.warnings,
        Err(errors) => errors,
    };
    eprintln!("{errors}\n{} error(s) found", errors.0.len());
    false
}

/// `vitals run`: load the configuration (exit 1 before any port is bound when it is
/// invalid), set up logging, run the daemon until a signal.
fn run(source: ConfigSource, format: LogFormat, filter: &str) -> anyhow::Result<bool> {
    let cfg = match source.load() {
        Ok(cfg) => cfg,
        Err(errors) => {
            let n = errors.0.len();
            eprintln!("{errors}\nvitals did not start: {n} configuration error(s)");
            return Ok(false);
        }
    };
    telemetry::init_logging(format, filter).map_err(|e| anyhow!("vitals did not start: {e}"))?;
    let runtime =
        tokio::runtime::Runtime::new().map_err(|e| anyhow!("vitals did not start: {e}"))?;
    runtime
        .block_on(vitals::daemon::run(source, cfg))
        .map_err(|e| anyhow!("vitals stopped on an error: {e}"))?;
    Ok(true)
}

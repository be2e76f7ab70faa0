//! The `vitals` command line: parses arguments, sets up logging, hands over to the daemon
//! (`vitals::daemon`) or a checker, and turns the result into an exit code.

#![forbid(unsafe_code)]

use std::io::{stderr, stdout};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vitals::daemon::ConfigSource;
use vitals::telemetry::{self, LogFormat};

/// jemalloc: rule evaluation allocates and frees a lot per group; jemalloc serves that faster
/// than glibc malloc and returns freed memory by decay instead of keeping it in per-thread
/// arenas (see Cargo.toml for the measured difference).
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
    let report = |what: &str, ok: anyhow::Result<bool>| match ok {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("{what}: {e}");
            ExitCode::FAILURE
        }
    };
    match cli.command {
        Command::Check {
            what: CheckCommand::Config { path },
        } => match ConfigSource::pick(path).load() {
            Ok(cfg) => {
                println!("{}: configuration is valid ({})", cfg.origin, cfg.summary());
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{errors}\n{} error(s) found", errors.0.len());
                ExitCode::FAILURE
            }
        },
        Command::Check {
            what: CheckCommand::Rules { files },
        } => report(
            "cannot write the report",
            vitals::rules::unittest::check_rule_files(&files, &mut stdout(), &mut stderr())
                .map_err(Into::into),
        ),
        Command::Test {
            what: TestCommand::Rules { files, run },
        } => match vitals::rules::unittest::TestOptions::new(&run) {
            Ok(opts) => report(
                "cannot write the report",
                vitals::rules::unittest::test_files(&files, &opts, &mut stdout(), &mut stderr())
                    .map_err(Into::into),
            ),
            Err(e) => report("invalid --run pattern", Err(anyhow::anyhow!("{e}"))),
        },
        Command::Run { config } => {
            let source = ConfigSource::pick(config);
            let cfg = match source.load() {
                Ok(cfg) => cfg,
                Err(errors) => {
                    let n = errors.0.len();
                    eprintln!("{errors}\nvitals did not start: {n} configuration error(s)");
                    return ExitCode::FAILURE;
                }
            };
            if let Err(e) = telemetry::init_logging(cli.log_format, &cli.log) {
                eprintln!("vitals did not start: {e}");
                return ExitCode::FAILURE;
            }
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build();
            match runtime.map_err(anyhow::Error::from) {
                Ok(rt) => report(
                    "vitals stopped on an error",
                    rt.block_on(vitals::daemon::run(source, cfg))
                        .map(|()| true)
                        .map_err(Into::into),
                ),
                Err(e) => report("vitals did not start", Err(e)),
            }
        }
    }
}

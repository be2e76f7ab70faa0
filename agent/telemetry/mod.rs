//! Telemetry: the agent's own logs and metrics (not the data it collects).
//!
//! It owns the tracing subscriber (text or JSON lines, filtered by `VITALS_LOG`) and the
//! Prometheus registry every stage registers its `vitals_*` metrics in; `/metrics` renders
//! that registry after the store's series.

use std::str::FromStr;

use prometheus::{IntGauge, Opts, Registry};
use tracing_subscriber::EnvFilter;

/// Log line format (`VITALS_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Errors setting up telemetry.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("VITALS_LOG is not a valid filter: {0}")]
    Filter(String),
    #[error("cannot register self metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// Installs the global log subscriber. `filter` uses `RUST_LOG` syntax, e.g. `info` or
/// `vitals=debug,hyper=warn`. Logs go to stderr.
pub fn init_logging(format: LogFormat, filter: &str) -> Result<(), TelemetryError> {
    let filter = EnvFilter::from_str(filter).map_err(|e| TelemetryError::Filter(e.to_string()))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    // A second call (tests) finds a subscriber already set; that is fine.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    Ok(())
}

/// The registry of the agent's own metrics, with process metrics and build info in it.
pub fn registry() -> Result<Registry, TelemetryError> {
    let registry = Registry::new();
    #[cfg(target_os = "linux")]
    registry.register(Box::new(
        prometheus::process_collector::ProcessCollector::for_self(),
    ))?;
    let build = IntGauge::with_opts(
        Opts::new(
            "vitals_build_info",
            "Build information; the value is always 1.",
        )
        .const_label("version", env!("CARGO_PKG_VERSION")),
    )?;
    build.set(1);
    registry.register(Box::new(build))?;
    Ok(registry)
}

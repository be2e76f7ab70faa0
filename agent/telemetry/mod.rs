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

/// Most bytes of an input (a query, a path) a log line quotes.
pub const MAX_LOGGED_INPUT: usize = 1024;

/// `text` for a log field: whole when short, else its first [`MAX_LOGGED_INPUT`] bytes (cut at
/// a character boundary) and how long it was, so one hostile input cannot make a 100 KB line.
pub fn loggable(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= MAX_LOGGED_INPUT {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut end = MAX_LOGGED_INPUT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}… ({} bytes in all)", &text[..end], text.len()))
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

/// Registers `metric` in `registry` and hands it back, so a metric is registered where it is
/// made: `let c = register(r, IntCounter::new(..)?)?;`.
pub fn register<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: M,
) -> Result<M, prometheus::Error> {
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

/// Removes one key's series from one family.
type Remover = Box<dyn Fn(&str) + Send + Sync>;

/// Metric families labelled by one key (a rule group, a probe): each is registered when it
/// is made, and [`Keyed::forget`] removes a key's series from every family made through it,
/// so the list of families is never kept by hand.
pub struct Keyed<'r> {
    registry: &'r Registry,
    label: &'static str,
    forget: Vec<Remover>,
}

/// Removes one key's series from every family a [`Keyed`] made.
pub struct Forget(Vec<Remover>);

impl Forget {
    /// Drops `key`'s series from every family.
    pub fn forget(&self, key: &str) {
        self.0.iter().for_each(|f| f(key));
    }
}

impl<'r> Keyed<'r> {
    /// Families registered in `registry`, labelled `label`.
    pub fn new(registry: &'r Registry, label: &'static str) -> Self {
        Keyed {
            registry,
            label,
            forget: Vec::new(),
        }
    }

    /// A family of `P` (e.g. a gauge or counter) labelled by the key.
    pub fn family<P: prometheus::core::MetricVecBuilder + 'static>(
        &mut self,
        make: impl FnOnce(&[&str]) -> Result<prometheus::core::MetricVec<P>, prometheus::Error>,
    ) -> Result<prometheus::core::MetricVec<P>, prometheus::Error> {
        let family = register(self.registry, make(&[self.label])?)?;
        let handle = family.clone();
        self.forget.push(Box::new(move |key| {
            let _ = handle.remove_label_values(&[key]);
        }));
        Ok(family)
    }

    /// The registry (for metrics not labelled by the key).
    pub fn registry(&self) -> &'r Registry {
        self.registry
    }

    /// What removes a key's series from every family made so far.
    pub fn into_forget(self) -> Forget {
        Forget(self.forget)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_inputs_are_cut_for_logs_at_a_character_boundary() {
        assert_eq!(loggable("up"), "up");
        let long = "é".repeat(1000);
        let l = loggable(&long);
        assert!(l.ends_with("… (2000 bytes in all)"), "{l}");
        assert!(l.len() < MAX_LOGGED_INPUT + 32);
    }
}

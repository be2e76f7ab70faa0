//! The daemon's log-and-count events: each one writes its log line and updates its
//! counters in one place (Vector's `internal_events`).

use prometheus::{IntCounterVec, IntGauge, Opts, Registry};

use crate::api::ReloadOutcome;
use crate::config::ConfigErrors;
use crate::telemetry::register;

/// The reloader's self metrics, registered where they are made.
#[derive(Clone)]
pub struct DaemonEvents {
    reloads: IntCounterVec,
    last_success: IntGauge,
}

impl DaemonEvents {
    /// The configuration the daemon starts with loaded, so the gauge starts at 1.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let events = DaemonEvents {
            reloads: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "vitals_config_reloads_total",
                        "Configuration reloads, by outcome (success, failure).",
                    ),
                    &["outcome"],
                )?,
            )?,
            last_success: register(
                registry,
                IntGauge::new(
                    "vitals_config_last_reload_successful",
                    "Whether the last configuration reload succeeded (1) or not (0).",
                )?,
            )?,
        };
        events.last_success.set(1);
        Ok(events)
    }

    /// A reload applied: what changed, what needs a restart.
    pub fn reloaded(&self, outcome: &ReloadOutcome) {
        let restart = outcome.needs_restart();
        let changed = outcome.changed();
        tracing::info!(
            summary = %outcome,
            applied = changed.join(","),
            needs_restart = restart.join(","),
            "Configuration reloaded."
        );
        self.reloads.with_label_values(&["success"]).inc();
        self.last_success.set(1);
    }

    /// A reload refused: the running configuration stays.
    pub fn reload_failed(&self, errors: &ConfigErrors) {
        tracing::error!(errors = %errors, "The new configuration is invalid; keeping the running one.");
        self.reloads.with_label_values(&["failure"]).inc();
        self.last_success.set(0);
    }
}

//! The store checkpoint's log-and-count events, in one place (Vector's `internal_events`):
//! each write, each failure and the load at start.

use prometheus::{Gauge, Histogram, HistogramOpts, IntCounter, IntGauge, Registry};

use super::checkpoint::{CheckpointError, Loaded, Written};
use crate::telemetry::register;

/// `vitals_store_checkpoint_*`.
#[derive(Clone)]
pub struct CheckpointEvents {
    duration: Histogram,
    bytes: IntGauge,
    last_success: Gauge,
    failures: IntCounter,
    load_duration: Gauge,
    series_recovered: IntGauge,
    samples_recovered: IntGauge,
    sections_damaged: IntGauge,
}

impl CheckpointEvents {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        Ok(CheckpointEvents {
            duration: register(
                registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "vitals_store_checkpoint_duration_seconds",
                        "Time to write one store checkpoint (copy, write, sync, rename).",
                    )
                    .buckets(vec![
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    ]),
                )?,
            )?,
            bytes: register(
                registry,
                IntGauge::new(
                    "vitals_store_checkpoint_bytes",
                    "Size of the last store checkpoint written (or loaded at start).",
                )?,
            )?,
            last_success: register(
                registry,
                Gauge::new(
                    "vitals_store_checkpoint_last_success_timestamp_seconds",
                    "When the last store checkpoint was written (Unix seconds).",
                )?,
            )?,
            failures: register(
                registry,
                IntCounter::new(
                    "vitals_store_checkpoint_failures_total",
                    "Store checkpoints that could not be written.",
                )?,
            )?,
            load_duration: register(
                registry,
                Gauge::new(
                    "vitals_store_checkpoint_load_duration_seconds",
                    "Time the store checkpoint took to load at start.",
                )?,
            )?,
            series_recovered: register(
                registry,
                IntGauge::new(
                    "vitals_store_checkpoint_series_recovered",
                    "Series loaded from the store checkpoint at start.",
                )?,
            )?,
            samples_recovered: register(
                registry,
                IntGauge::new(
                    "vitals_store_checkpoint_samples_recovered",
                    "Samples loaded from the store checkpoint at start.",
                )?,
            )?,
            sections_damaged: register(
                registry,
                IntGauge::new(
                    "vitals_store_checkpoint_sections_damaged",
                    "Sections of the store checkpoint found damaged at start (their series were not loaded).",
                )?,
            )?,
        })
    }

    /// A checkpoint written: periodic ones at debug level, the shutdown one (`last`) at info.
    pub fn written(&self, w: &Written, last: bool) {
        self.duration.observe(w.duration.as_secs_f64());
        self.bytes.set(i64::try_from(w.bytes).unwrap_or(i64::MAX));
        self.last_success.set(super::now_ms() as f64 / 1000.0);
        let (path, bytes, series, duration) = (w.path.display(), w.bytes, w.series, w.duration);
        if last {
            tracing::info!(path = %path, bytes, series, duration = ?duration, "Store checkpoint written for shutdown.");
        } else {
            tracing::debug!(path = %path, bytes, series, duration = ?duration, "Store checkpoint written.");
        }
    }

    /// A failed write: counted and logged each time (at most once per checkpoint interval).
    pub fn failed(&self, e: &CheckpointError) {
        self.failures.inc();
        tracing::warn!(error = %e, "Cannot write the store checkpoint; a restart now would lose the samples since the last one.");
    }

    pub fn loaded(&self, l: &Loaded) {
        self.load_duration.set(l.duration.as_secs_f64());
        self.series_recovered.set(l.series as i64);
        self.samples_recovered.set(l.samples as i64);
        self.sections_damaged.set(l.damaged as i64);
        self.bytes.set(i64::try_from(l.bytes).unwrap_or(i64::MAX));
        let age = l.written_at_ms.map(|t| {
            std::time::Duration::from_millis(
                u64::try_from(super::now_ms().saturating_sub(t)).unwrap_or(0),
            )
        });
        if l.damaged > 0 {
            tracing::error!(
                path = %l.path.display(),
                damaged_sections = l.damaged,
                sections = l.sections,
                reason = l.first_damage.as_deref().unwrap_or("unknown"),
                series_loaded = l.series,
                "The store checkpoint is damaged; the damaged part is skipped and its series start empty."
            );
        }
        tracing::info!(
            path = %l.path.display(),
            series = l.series,
            samples = l.samples,
            skipped = l.skipped,
            age = ?age,
            duration = ?l.duration,
            "Store checkpoint loaded."
        );
    }

    pub fn none_found(&self, dir: &std::path::Path) {
        tracing::info!(dir = %dir.display(), "No store checkpoint found; the store starts empty.");
    }
}

//! The prober's log-and-count events: each probe's counts, its start lateness and the
//! up/down transitions it logs, in one place (Vector's `internal_events`).

use std::time::{Duration, Instant};

use prometheus::{Histogram, HistogramOpts, IntCounterVec, Opts, Registry};

use super::ProbeSpec;
use super::outcome::{Failure, Outcome};
use crate::telemetry::register;

/// The prober's own metrics (`vitals_probe_*`).
#[derive(Clone)]
pub struct ProbeMetrics {
    /// `vitals_probes_total{probe}`: probes run.
    pub runs: IntCounterVec,
    /// `vitals_probe_errors_total{probe, reason}`: failed probes by reason.
    pub errors: IntCounterVec,
    /// `vitals_probe_start_lateness_seconds`: how long after its scheduled time a probe began
    /// (waiting for the concurrency cap included).
    pub lateness: Histogram,
}

impl ProbeMetrics {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let runs = register(
            registry,
            IntCounterVec::new(
                Opts::new("vitals_probes_total", "Probes run, by probe."),
                &["probe"],
            )?,
        )?;
        let errors = register(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "vitals_probe_errors_total",
                    "Failed probes, by probe and reason (refused, timeout, dns, tls, connection, condition, body_too_large, too_many_redirects, grpc).",
                ),
                &["probe", "reason"],
            )?,
        )?;
        let lateness = register(
            registry,
            Histogram::with_opts(
                HistogramOpts::new(
                    "vitals_probe_start_lateness_seconds",
                    "Delay between a probe's scheduled start and its actual start.",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                ]),
            )?,
        )?;
        Ok(ProbeMetrics {
            runs,
            errors,
            lateness,
        })
    }
}

impl ProbeMetrics {
    /// A probe ran: counted, and its failure reason counted.
    pub fn probed(&self, probe: &str, o: &Outcome) {
        self.runs.with_label_values(&[probe]).inc();
        if let Some(f) = &o.failure {
            self.errors
                .with_label_values(&[probe, f.reason.as_str()])
                .inc();
        }
    }

    /// A probe began `late` after its scheduled time.
    pub fn started_late(&self, late: Duration) {
        self.lateness.observe(late.as_secs_f64());
    }

    /// A gRPC target's channel could not be set up: it will not run.
    pub fn channel_failed(&self, probe: &str, error: &dyn std::fmt::Display) {
        tracing::error!(probe = %probe, error = %error, "Cannot set up the gRPC channel; this probe will not run.");
    }

    /// The state after `outcome`, given the state `last` (up?, why down, since when):
    /// a change (up → down, down → up, a different reason while down) is logged once.
    pub fn transition(
        &self,
        spec: &ProbeSpec,
        last: Option<(bool, Option<Failure>, Instant)>,
        outcome: Outcome,
    ) -> Option<(bool, Option<Failure>, Instant)> {
        let up = outcome.success();
        let since = match &last {
            Some((was_up, _, since)) if *was_up == up => *since,
            _ => Instant::now(),
        };
        match (&last, &outcome.failure) {
            (None | Some((false, _, _)), None) => {
                let down_for = last.as_ref().map(|(_, _, since)| since.elapsed());
                match down_for {
                    Some(d) => {
                        tracing::info!(probe = %spec.name, instance = %spec.instance, down_for = ?d, "Probe is up again.")
                    }
                    None => {
                        tracing::info!(probe = %spec.name, instance = %spec.instance, "Probe is up.")
                    }
                }
            }
            (last, Some(f)) => {
                let what = match last {
                    None | Some((true, _, _)) => Some("Probe is down."),
                    Some((false, Some(prev), _))
                        if (prev.reason, &prev.condition) != (f.reason, &f.condition) =>
                    {
                        Some("Probe is still down, for a different reason.")
                    }
                    _ => None,
                };
                if let Some(what) = what {
                    tracing::warn!(
                        probe = %spec.name,
                        instance = %spec.instance,
                        reason = %f.reason,
                        condition = f.condition.as_deref(),
                        detail = %f.detail,
                        "{what}"
                    );
                }
            }
            (Some((true, _, _)), None) => {}
        }
        Some((up, outcome.failure, since))
    }
}

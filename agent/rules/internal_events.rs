//! The rule engine's log-and-count events: each evaluation, overrun, failure and alert state
//! change writes its log line and updates its `vitals_rule_*` metrics here, in one place
//! (Vector's `internal_events`). Metrics are registered where they are made.

use prometheus::{
    Histogram, HistogramOpts, IntCounterVec, IntGaugeVec, Opts, Registry, core::AtomicF64,
    core::GenericGaugeVec,
};

use super::alert::InstanceState;
use super::group::{GroupReport, RuleFailure};
use crate::telemetry::{Forget, Keyed, register};

type GaugeVec = GenericGaugeVec<AtomicF64>;

pub(super) struct Metrics {
    pub(super) last_duration: GaugeVec,
    pub(super) interval: GaugeVec,
    pub(super) last_eval_ts: GaugeVec,
    pub(super) rules: IntGaugeVec,
    pub(super) last_samples: IntGaugeVec,
    pub(super) evaluations: IntCounterVec,
    pub(super) failures: IntCounterVec,
    pub(super) iterations: IntCounterVec,
    pub(super) missed: IntCounterVec,
    pub(super) duration: Histogram,
    pub(super) persist_failures: prometheus::IntCounter,
    /// Removes a group's series from every family above labelled `rule_group`.
    pub(super) forget: Forget,
}

impl Metrics {
    pub(super) fn new(r: &Registry) -> Result<Metrics, prometheus::Error> {
        let mut k = Keyed::new(r, "rule_group");
        let m = Metrics {
            last_duration: k.family(|l| {
                GaugeVec::new(
                    Opts::new(
                        "vitals_rule_group_last_duration_seconds",
                        "How long the last evaluation of the rule group took.",
                    ),
                    l,
                )
            })?,
            interval: k.family(|l| {
                GaugeVec::new(
                    Opts::new(
                        "vitals_rule_group_interval_seconds",
                        "The rule group's evaluation interval.",
                    ),
                    l,
                )
            })?,
            last_eval_ts: k.family(|l| {
                GaugeVec::new(
                    Opts::new(
                        "vitals_rule_group_last_evaluation_timestamp_seconds",
                        "When the rule group was last evaluated (the evaluation timestamp).",
                    ),
                    l,
                )
            })?,
            rules: k.family(|l| {
                IntGaugeVec::new(
                    Opts::new("vitals_rule_group_rules", "Rules in the group."),
                    l,
                )
            })?,
            last_samples: k.family(|l| {
                IntGaugeVec::new(
                    Opts::new(
                        "vitals_rule_group_last_evaluation_samples",
                        "Samples the last evaluation of the group wrote back.",
                    ),
                    l,
                )
            })?,
            evaluations: k.family(|l| {
                IntCounterVec::new(
                    Opts::new(
                        "vitals_rule_evaluations_total",
                        "Rule evaluations, per group.",
                    ),
                    l,
                )
            })?,
            failures: k.family(|l| {
                IntCounterVec::new(
                    Opts::new(
                        "vitals_rule_evaluation_failures_total",
                        "Rule evaluations that failed, per group.",
                    ),
                    l,
                )
            })?,
            iterations: k.family(|l| {
                IntCounterVec::new(
                    Opts::new(
                        "vitals_rule_group_iterations_total",
                        "Scheduled evaluations of the group, run or missed.",
                    ),
                    l,
                )
            })?,
            missed: k.family(|l| {
                IntCounterVec::new(
                    Opts::new(
                        "vitals_rule_group_iterations_missed_total",
                        "Scheduled evaluations skipped because the previous one overran.",
                    ),
                    l,
                )
            })?,
            duration: register(
                r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "vitals_rule_group_duration_seconds",
                        "Time taken by rule group evaluations.",
                    )
                    .buckets(vec![
                        0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
                    ]),
                )?,
            )?,
            persist_failures: register(
                r,
                prometheus::IntCounter::new(
                    "vitals_rule_state_persist_failures_total",
                    "Times alert state could not be saved to storage.path.",
                )?,
            )?,
            forget: k.into_forget(),
        };
        Ok(m)
    }

    /// A group (re)started with `rules` rules every `interval_ms`.
    pub(super) fn group_started(&self, key: &str, interval_ms: i64, rules: usize) {
        self.interval
            .with_label_values(&[key])
            .set(interval_ms as f64 / 1000.0);
        self.rules
            .with_label_values(&[key])
            .set(i64::try_from(rules).unwrap_or(i64::MAX));
    }

    /// One evaluation of a group of `rules` rules at `ts` ended: counts, times, and one log
    /// line per failed rule and per alert state change.
    pub(super) fn evaluated(&self, key: &str, ts: i64, rules: usize, report: &GroupReport) {
        self.last_duration
            .with_label_values(&[key])
            .set(report.seconds);
        self.last_eval_ts
            .with_label_values(&[key])
            .set(ts as f64 / 1000.0);
        self.last_samples
            .with_label_values(&[key])
            .set(i64::try_from(report.samples_written).unwrap_or(i64::MAX));
        self.duration.observe(report.seconds);
        self.evaluations
            .with_label_values(&[key])
            .inc_by(u64::try_from(rules).unwrap_or(0));
        self.failures
            .with_label_values(&[key])
            .inc_by(u64::try_from(report.failures.len()).unwrap_or(0));
        log_report(key, report);
    }

    /// An evaluation task panicked (the group keeps its schedule).
    pub(super) fn evaluation_panicked(&self, key: &str, error: &dyn std::fmt::Display) {
        tracing::error!(group = %key, error = %error, "A rule group evaluation panicked.");
    }

    /// A scheduled instant passed; `missed` more were skipped because the evaluation overran.
    pub(super) fn iterated(&self, key: &str, missed: i64) {
        let missed = u64::try_from(missed).unwrap_or(0);
        self.iterations.with_label_values(&[key]).inc_by(1 + missed);
        if missed > 0 {
            self.missed.with_label_values(&[key]).inc_by(missed);
            tracing::warn!(group = %key, missed, "A rule group evaluation overran its interval; skipping the missed evaluations.");
        }
    }

    /// A group was removed: its series leave every family.
    pub(super) fn forget(&self, key: &str) {
        self.forget.forget(key);
    }
}

/// Alert state changes one group evaluation logs one by one; the rest are summed up in one
/// line (alert churn of thousands of instances made thousands of lines a second; the full
/// list is in `/api/v1/alerts` and `vitals_alerts`).
pub const LOGGED_TRANSITIONS: usize = 10;

fn log_report(key: &str, report: &GroupReport) {
    for RuleFailure { rule, error } in &report.failures {
        tracing::warn!(group = %key, rule = %rule, error = %error, "A rule failed to evaluate.");
    }
    for (rule, t) in report.transitions.iter().take(LOGGED_TRANSITIONS) {
        let labels = t.labels.to_string();
        let summary = t.annotations.get("summary").unwrap_or("");
        match t.to {
            InstanceState::Pending => {
                tracing::info!(alertname = %rule, labels = %labels, value = t.value, "Alert is pending.")
            }
            InstanceState::Firing => {
                tracing::warn!(alertname = %rule, labels = %labels, value = t.value, summary, "Alert is firing.")
            }
            InstanceState::Inactive => {
                tracing::info!(alertname = %rule, labels = %labels, summary, "Alert resolved.")
            }
        }
    }
    if report.transitions.len() > LOGGED_TRANSITIONS {
        let rest = &report.transitions[LOGGED_TRANSITIONS..];
        let count = |s: InstanceState| rest.iter().filter(|(_, t)| t.to == s).count();
        tracing::warn!(
            group = %key,
            more = rest.len(),
            firing = count(InstanceState::Firing),
            pending = count(InstanceState::Pending),
            resolved = count(InstanceState::Inactive),
            "More alerts changed state in this evaluation than are logged one by one; see /api/v1/alerts."
        );
    }
}

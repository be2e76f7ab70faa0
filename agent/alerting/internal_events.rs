//! The alerting stage's log-and-count events (Vector's `internal_events`): alerts received,
//! notifications sent and failed, delivery latency, the outbox's depth and age, forwarding
//! and silences. Metrics are registered where they are made.

use std::time::Duration;

use prometheus::{
    Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

use crate::telemetry::register;

/// The stage's own metrics (`vitals_alerts_*`, `vitals_notifications_*`, `vitals_alerting_*`).
#[derive(Clone)]
pub struct Metrics {
    received: IntCounterVec,
    invalid: IntCounter,
    sent: IntCounterVec,
    failed: IntCounterVec,
    latency: HistogramVec,
    /// Notifications written to the outbox and not delivered or given up yet.
    pub outbox_depth: IntGauge,
    /// Age of the oldest notification in the outbox (0 when empty).
    pub outbox_oldest: Gauge,
    outbox_write_failures: IntCounter,
    forwarded: IntCounterVec,
    forward_dropped: IntCounter,
    silences: IntGaugeVec,
    alerts: IntGaugeVec,
}

impl Metrics {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            register(registry, IntCounterVec::new(Opts::new(name, help), labels)?)
        };
        Ok(Metrics {
            received: counter_vec(
                "vitals_alerts_received_total",
                "Alerts received by the alerting stage, by source (rules, api).",
                &["source"],
            )?,
            invalid: register(
                registry,
                IntCounter::new(
                    "vitals_alerts_invalid_total",
                    "Alerts refused by POST /api/v2/alerts as invalid.",
                )?,
            )?,
            sent: counter_vec(
                "vitals_notifications_total",
                "Notifications delivered, by receiver and integration.",
                &["receiver", "integration"],
            )?,
            failed: counter_vec(
                "vitals_notifications_failed_total",
                "Failed notification attempts, by receiver, integration and reason (retryable, final, gave_up, superseded, receiver_gone).",
                &["receiver", "integration", "reason"],
            )?,
            latency: register(
                registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "vitals_notification_latency_seconds",
                        "Time of one delivery attempt, by receiver and integration.",
                    )
                    .buckets(vec![
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    ]),
                    &["receiver", "integration"],
                )?,
            )?,
            outbox_depth: register(
                registry,
                IntGauge::new(
                    "vitals_alerting_outbox_notifications",
                    "Notifications in the durable outbox: decided, not yet delivered or given up.",
                )?,
            )?,
            outbox_oldest: register(
                registry,
                Gauge::new(
                    "vitals_alerting_outbox_oldest_age_seconds",
                    "Age of the oldest notification in the outbox; 0 when it is empty.",
                )?,
            )?,
            outbox_write_failures: register(
                registry,
                IntCounter::new(
                    "vitals_alerting_outbox_write_failures_total",
                    "Outbox and notification-log writes that failed (a restart now could page again or lose a page).",
                )?,
            )?,
            forwarded: counter_vec(
                "vitals_alerting_forwarded_alerts_total",
                "Alerts forwarded to external Alertmanagers, by url and outcome (sent, failed).",
                &["url", "outcome"],
            )?,
            forward_dropped: register(
                registry,
                IntCounter::new(
                    "vitals_alerting_forward_dropped_total",
                    "Alerts not forwarded because the forward queue was full.",
                )?,
            )?,
            silences: register(
                registry,
                IntGaugeVec::new(
                    Opts::new(
                        "vitals_silences",
                        "Silences by state (active, pending, expired).",
                    ),
                    &["state"],
                )?,
            )?,
            alerts: register(
                registry,
                IntGaugeVec::new(
                    Opts::new(
                        "vitals_alerts",
                        "Alerts the alerting stage holds, by state (active, suppressed: silenced or inhibited); refreshed every 15 s.",
                    ),
                    &["state"],
                )?,
            )?,
        })
    }

    pub fn received(&self, source: &str, n: usize) {
        self.received.with_label_values(&[source]).inc_by(n as u64);
    }

    pub fn invalid(&self) {
        self.invalid.inc();
    }

    pub fn delivered(&self, receiver: &str, integration: &str, took: Duration, attempts: u32) {
        self.sent.with_label_values(&[receiver, integration]).inc();
        self.latency
            .with_label_values(&[receiver, integration])
            .observe(took.as_secs_f64());
        tracing::debug!(receiver, integration, attempts, "Notification delivered.");
    }

    pub fn attempt_failed(
        &self,
        receiver: &str,
        integration: &str,
        took: Duration,
        error: &str,
        retry_in: Duration,
    ) {
        self.failed
            .with_label_values(&[receiver, integration, "retryable"])
            .inc();
        self.latency
            .with_label_values(&[receiver, integration])
            .observe(took.as_secs_f64());
        tracing::warn!(receiver, integration, error, retry_in = ?retry_in, "Notification failed; retrying.");
    }

    pub fn final_failure(&self, receiver: &str, integration: &str, error: &str) {
        self.failed
            .with_label_values(&[receiver, integration, "final"])
            .inc();
        tracing::error!(
            receiver,
            integration,
            error,
            "Notification refused; not retrying."
        );
    }

    pub fn gave_up(&self, receiver: &str, integration: &str, error: &str, after: Duration) {
        self.failed
            .with_label_values(&[receiver, integration, "gave_up"])
            .inc();
        tracing::error!(receiver, integration, error, after = ?after, "Notification given up after retrying for delivery.give_up_after.");
    }

    pub fn superseded(&self, receiver: &str, integration: &str) {
        self.failed
            .with_label_values(&[receiver, integration, "superseded"])
            .inc();
        tracing::info!(
            receiver,
            integration,
            "A notification waiting for retry is replaced by a newer one for the same group."
        );
    }

    pub fn receiver_gone(&self, receiver: &str, integration: &str) {
        self.failed
            .with_label_values(&[receiver, integration, "receiver_gone"])
            .inc();
        tracing::warn!(
            receiver,
            integration,
            "A stored notification's receiver is no longer configured; it is dropped."
        );
    }

    pub fn outbox_write_failed(&self, error: &str) {
        self.outbox_write_failures.inc();
        tracing::error!(
            error,
            "Cannot write the notification outbox; a restart now could lose or repeat a page."
        );
    }

    pub fn forwarded(&self, url: &str, n: usize) {
        self.forwarded
            .with_label_values(&[url, "sent"])
            .inc_by(n as u64);
    }

    pub fn forward_failed(&self, url: &str, n: usize, error: &str) {
        self.forwarded
            .with_label_values(&[url, "failed"])
            .inc_by(n as u64);
        tracing::warn!(
            url,
            alerts = n,
            error,
            "Cannot forward alerts to an Alertmanager."
        );
    }

    pub fn forward_dropped(&self, n: usize) {
        self.forward_dropped.inc_by(n as u64);
    }

    pub fn silences(&self, active: usize, pending: usize, expired: usize) {
        self.silences
            .with_label_values(&["active"])
            .set(active as i64);
        self.silences
            .with_label_values(&["pending"])
            .set(pending as i64);
        self.silences
            .with_label_values(&["expired"])
            .set(expired as i64);
    }

    pub fn alerts(&self, active: usize, suppressed: usize) {
        self.alerts
            .with_label_values(&["active"])
            .set(active as i64);
        self.alerts
            .with_label_values(&["suppressed"])
            .set(suppressed as i64);
    }
}

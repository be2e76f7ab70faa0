//! The rule engine's output of alerts to whoever notifies (Prometheus's `NotifyFunc`): after
//! each evaluation a group hands the alerts that need sending to an [`AlertSink`] the daemon
//! passed in, so `rules` never imports the stage that routes them.
//!
//! What is sent follows Prometheus's `sendAlerts`: firing alerts, and alerts resolved within
//! the last 15 minutes; each one when it changed state since it was last sent or when
//! [`RESEND_DELAY_MS`] has passed since, with `endsAt` = the resolve time, or for a firing
//! alert now + 4 × max(resend delay, group interval) (so a receiver resolves it on its own if
//! vitals stops sending). Pending alerts are never sent.

use std::collections::BTreeMap;

/// How often a still-firing alert is sent again (Prometheus's `--rules.alert.resend-delay`).
pub const RESEND_DELAY_MS: i64 = 60_000;

/// One alert handed to the sink, in the shape Alertmanager's API takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentAlert {
    /// The alert's labels (with `alertname`, the rule's labels and the external labels).
    pub labels: BTreeMap<String, String>,
    /// The rendered annotations.
    pub annotations: BTreeMap<String, String>,
    /// When it started firing (Unix ms).
    pub starts_at_ms: i64,
    /// When it resolved, or when it should be taken as resolved if not sent again (Unix ms).
    pub ends_at_ms: i64,
    /// `<external_url>/graph?g0.expr=<expr>&g0.tab=1`.
    pub generator_url: String,
}

/// Where a rule group's alerts go. Called on the blocking pool right after an evaluation;
/// an implementation must not block for long (hand over, do not deliver).
pub trait AlertSink: Send + Sync {
    /// Takes the alerts of one evaluation of one group that need sending (never empty).
    fn send(&self, alerts: Vec<SentAlert>);
}

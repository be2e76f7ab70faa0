//! Forwarding: every alert the stage receives is also sent, as Prometheus sends its alerts,
//! to each Alertmanager in `alerting.forward` (`POST <url>/api/v2/alerts`, JSON, batches of
//! up to [`BATCH`]). This is the path to an external Alertmanager cluster, and from DaemonSet
//! agents to a central vitals.
//!
//! Each Alertmanager has its own queue and task, so one that is down or slow delays only
//! itself. A queue holds [`FORWARD_QUEUE`] alerts. When it is full new alerts are dropped and
//! counted (`vitals_alerting_forward_dropped_total`), as Prometheus's notifier drops when its
//! queue overflows: the rule engine sends every firing alert again every minute, so a drop
//! delays an alert; it does not lose it. A batch that fails is tried [`ATTEMPTS`] times per
//! Alertmanager with backoff, then counted as failed.

use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc;

use super::Alert;
use super::config::ForwardConfig;
use super::internal_events::Metrics;
use super::silence::format_rfc3339;
use crate::net::retry::{Backoff, Jitter};

/// Alerts waiting to be forwarded, at most. Full: new ones are dropped and counted.
pub const FORWARD_QUEUE: usize = 10_000;
/// Most alerts in one request (Prometheus's `--alertmanager.notification-batch-size`... its
/// default is 256; smaller batches keep one slow peer's requests short).
pub const BATCH: usize = 64;
/// Attempts per batch and Alertmanager.
const ATTEMPTS: u32 = 3;
/// Timeout of one request when the target sets none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The forwarding queues and their tasks (one per Alertmanager); dropping it lets each task
/// finish what is queued.
pub struct Forwarder {
    txs: Vec<mpsc::Sender<Alert>>,
    targets: Vec<ForwardConfig>,
    metrics: Metrics,
}

impl Forwarder {
    /// Starts forwarding to `targets`; `None` when there are none. Must run in the runtime.
    pub fn start(targets: &[ForwardConfig], metrics: Metrics) -> Option<Forwarder> {
        if targets.is_empty() {
            return None;
        }
        let txs = targets
            .iter()
            .map(|t| {
                let (tx, rx) = mpsc::channel(FORWARD_QUEUE);
                tokio::spawn(run(rx, t.clone(), metrics.clone()));
                tx
            })
            .collect();
        Some(Forwarder {
            txs,
            targets: targets.to_vec(),
            metrics,
        })
    }

    /// The Alertmanagers it sends to.
    pub fn targets(&self) -> &[ForwardConfig] {
        &self.targets
    }

    /// Queues `alerts` (dropping, and counting, what does not fit).
    pub fn push(&self, alerts: &[Alert]) {
        let mut dropped = 0;
        for tx in &self.txs {
            for a in alerts {
                if tx.try_send(a.clone()).is_err() {
                    dropped += 1;
                }
            }
        }
        if dropped > 0 {
            self.metrics.forward_dropped(dropped);
        }
    }
}

/// The v2 API's `postableAlert`.
pub fn postable(a: &Alert) -> serde_json::Value {
    let mut v = json!({
        "labels": a.labels,
        "annotations": a.annotations,
        "startsAt": format_rfc3339(a.starts_at_ms),
        "generatorURL": a.generator_url,
    });
    if a.ends_at_ms != 0 {
        v["endsAt"] = json!(format_rfc3339(a.ends_at_ms));
    }
    v
}

async fn run(mut rx: mpsc::Receiver<Alert>, t: ForwardConfig, metrics: Metrics) {
    let client = match crate::net::tls::client_builder().build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "Cannot build the HTTP client for alerting.forward; alerts are not forwarded.");
            return;
        }
    };
    let backoff = Backoff::new(
        Duration::from_millis(500),
        Duration::from_secs(5),
        2.0,
        Jitter::Proportional(0.2),
    );
    let Ok(backoff) = backoff else { return };
    let url = format!("{}/api/v2/alerts", t.url.trim_end_matches('/'));
    let timeout = t.timeout.map_or(DEFAULT_TIMEOUT, |d| d.get());
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let body = serde_json::Value::Array(batch.iter().map(postable).collect()).to_string();
        let mut last_error = String::new();
        let mut sent = false;
        for attempt in 0..ATTEMPTS {
            let mut req = client
                .post(&url)
                .timeout(timeout)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            for (k, v) in &t.headers {
                req = req.header(k, v);
            }
            match req.send().await {
                Ok(r) if r.status().is_success() => {
                    sent = true;
                    break;
                }
                Ok(r) => {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    last_error = format!("HTTP {status}: {}", text.trim());
                    if status.is_client_error() && status.as_u16() != 429 {
                        break;
                    }
                }
                Err(e) => last_error = e.without_url().to_string(),
            }
            if attempt + 1 < ATTEMPTS {
                tokio::time::sleep(backoff.delay(attempt)).await;
            }
        }
        if sent {
            metrics.forwarded(&t.url, batch.len());
        } else {
            metrics.forward_failed(&t.url, batch.len(), &last_error);
        }
        batch.clear();
    }
}

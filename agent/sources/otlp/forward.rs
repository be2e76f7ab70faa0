//! Forwarding: what the receiver accepted is re-sent, unchanged, to an upstream OTLP/HTTP
//! receiver as protobuf, so vitals can sit in front of an existing pipeline.
//!
//! Hand-off: a bounded queue of `forward.queue_size` requests. When it is full the new
//! request is dropped (it is still ingested locally) and counted in
//! `vitals_otlp_forward_dropped_total{reason="queue_full"}`. Two workers send with retries
//! (up to `forward.max_attempts`, on connection errors and HTTP 429/502/503/504) after
//! exponential backoff (250 ms doubling to 8 s, jittered), or after the upstream's
//! `Retry-After` when it sends one (at most 30 s); a request that still fails is dropped with `reason="failed"`.
//! At shutdown each queued request gets one more attempt.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use parking_lot::Mutex;
use prometheus::{IntCounterVec, Opts, Registry};
use prost::Message;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::config::ForwardSpec;
use super::{Payload, Signal};
use crate::net::retry::{self, Backoff, Jitter};

/// Workers sending upstream.
const WORKERS: usize = 2;

/// Wait before the first retry; each next one doubles, up to [`RETRY_MAX`], less up to a
/// fifth at random.
const RETRY_INITIAL: Duration = Duration::from_millis(250);
/// Longest wait between attempts unless the upstream asks for longer.
const RETRY_MAX: Duration = Duration::from_secs(8);
/// Longest wait an upstream's `Retry-After` can impose.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(30);

fn backoff() -> Result<Backoff, String> {
    Backoff::new(RETRY_INITIAL, RETRY_MAX, 2.0, Jitter::Proportional(0.2))
        .map(|b| b.with_retry_after_cap(RETRY_AFTER_CAP))
        .map_err(|e| e.to_string())
}

struct Item {
    signal: Signal,
    body: Bytes,
}

/// The forwarding stage.
pub struct Forwarder {
    tx: Mutex<Option<mpsc::Sender<Item>>>,
    dropped: IntCounterVec,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Forwarder {
    pub fn start(
        spec: &ForwardSpec,
        registry: &Registry,
        cancel: CancellationToken,
    ) -> Result<Forwarder, String> {
        let forwarded = IntCounterVec::new(
            Opts::new(
                "vitals_otlp_forwarded_total",
                "OTLP requests forwarded upstream.",
            ),
            &["signal"],
        )
        .map_err(|e| e.to_string())?;
        let dropped = IntCounterVec::new(
            Opts::new(
                "vitals_otlp_forward_dropped_total",
                "OTLP requests not forwarded: queue_full, failed (after retries), shutdown.",
            ),
            &["signal", "reason"],
        )
        .map_err(|e| e.to_string())?;
        registry
            .register(Box::new(forwarded.clone()))
            .map_err(|e| e.to_string())?;
        registry
            .register(Box::new(dropped.clone()))
            .map_err(|e| e.to_string())?;
        let backoff = backoff()?;
        let client = crate::net::tls::client_builder()
            .timeout(spec.timeout)
            .default_headers(spec.headers.clone())
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let (tx, rx) = mpsc::channel::<Item>(spec.queue_size);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let mut tasks = Vec::new();
        for _ in 0..WORKERS {
            let worker = Worker {
                client: client.clone(),
                base: spec.endpoint.clone(),
                max_attempts: spec.max_attempts,
                backoff: backoff.clone(),
                forwarded: forwarded.clone(),
                dropped: dropped.clone(),
            };
            let (rx, cancel) = (rx.clone(), cancel.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let item = rx.lock().await.recv().await;
                    let Some(item) = item else { break };
                    worker.send(item, &cancel).await;
                }
            }));
        }
        Ok(Forwarder {
            tx: Mutex::new(Some(tx)),
            dropped,
            tasks: Mutex::new(tasks),
        })
    }

    /// Queues `payload` for forwarding; drops (and counts) it when the queue is full.
    pub fn offer(&self, payload: &Payload) {
        let (signal, body) = match payload {
            Payload::Metrics(b) => (Signal::Metrics, b.clone()),
            Payload::Traces(r) => (Signal::Traces, Bytes::from(r.encode_to_vec())),
            Payload::Logs(r) => (Signal::Logs, Bytes::from(r.encode_to_vec())),
        };
        let tx = self.tx.lock().clone();
        let Some(tx) = tx else { return };
        if tx.try_send(Item { signal, body }).is_err() {
            self.dropped
                .with_label_values(&[signal.as_str(), "queue_full"])
                .inc();
        }
    }

    /// Closes the queue and waits until the workers have sent (or dropped) what it held.
    pub async fn stopped(&self) {
        self.tx.lock().take();
        let tasks: Vec<JoinHandle<()>> = std::mem::take(&mut *self.tasks.lock());
        for t in tasks {
            let _ = t.await;
        }
    }
}

struct Worker {
    client: reqwest::Client,
    base: reqwest::Url,
    max_attempts: u32,
    backoff: Backoff,
    forwarded: IntCounterVec,
    dropped: IntCounterVec,
}

impl Worker {
    async fn send(&self, item: Item, cancel: &CancellationToken) {
        let path = format!("v1/{}", item.signal.as_str());
        let url = match self.base.join(&path) {
            Ok(u) => u,
            Err(_) => return,
        };
        let attempts = if cancel.is_cancelled() {
            1
        } else {
            self.max_attempts
        };
        for attempt in 1..=attempts {
            let result = self
                .client
                .post(url.clone())
                .header(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-protobuf"),
                )
                .body(item.body.clone())
                .send()
                .await;
            let (retryable, retry_after) = match result {
                Ok(r) if r.status().is_success() => {
                    self.forwarded
                        .with_label_values(&[item.signal.as_str()])
                        .inc();
                    return;
                }
                Ok(r) => (
                    matches!(r.status().as_u16(), 429 | 502 | 503 | 504),
                    retry::retry_after(r.headers(), SystemTime::now()),
                ),
                Err(e) => (!e.is_builder(), None),
            };
            if !retryable || attempt == attempts {
                break;
            }
            let wait = self.backoff.delay_after(attempt - 1, retry_after);
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        let reason = if cancel.is_cancelled() {
            "shutdown"
        } else {
            "failed"
        };
        tracing::debug!(
            signal = item.signal.as_str(),
            reason,
            "An OTLP request was not forwarded."
        );
        self.dropped
            .with_label_values(&[item.signal.as_str(), reason])
            .inc();
    }
}

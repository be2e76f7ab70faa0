//! The OTLP receiver: the second source of the pipeline.
//!
//! It owns the gRPC (`grpc`) and HTTP (`http`) listeners, the decoding of OTLP protobuf and
//! JSON (`json`), the translation of metrics (`metrics`), spans (`spans`) and log records
//! (`logs`) into store series under the OpenTelemetry specification's Prometheus names
//! (`names`), the series cache with its limits (`series`), and optional forwarding of what
//! it received to an upstream collector (`forward`).
//!
//! Hand-off: receivers put each decoded request on the ingest queue (a bounded channel of
//! [`INGEST_QUEUE`] requests) served by one worker thread per core, and wait for the
//! result. When the queue is full the request is refused at once with HTTP 429 /
//! gRPC `RESOURCE_EXHAUSTED` carrying a retry delay, so well-behaved clients retry and
//! nothing is lost silently.

mod config;
mod forward;
mod grpc;
mod grpc_raw;
mod http;
mod internal_events;
pub mod json;
mod logs;
pub mod metrics;
pub mod names;
mod rpc;
pub mod series;
mod spans;
mod stage;
mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prometheus::Registry;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

pub use config::{
    ForwardConfig, ForwardSpec, LogCounterConfig, OtlpConfig, OtlpSpec, ServerTlsConfig,
};
use forward::Forwarder;
pub use internal_events::OtlpMetrics;
pub use logs::LogCounter;
use series::{Entry, Reject, SeriesCache};
pub use stage::OtlpStage;

use crate::config::Secret;
use crate::net::tls::ServerTls;
use crate::net::{BearerToken, ConnectionLimits};
use crate::store::{AppendError, Store, now_ms};

/// Capacity of the ingest queue, in requests. Past it, receivers answer "busy, retry".
pub const INGEST_QUEUE: usize = 64;

/// The three OTLP signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Metrics,
    Traces,
    Logs,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Metrics => "metrics",
            Signal::Traces => "traces",
            Signal::Logs => "logs",
        }
    }
}

/// How a request arrived. The `protocol` label of the receiver's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
    HttpJson,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::HttpJson => "http/json",
        }
    }
}

/// A request ready for ingest. Metrics stay protobuf-encoded: their translation reads the
/// wire format directly (see `wire`), which is the hot path.
pub enum Payload {
    Metrics(bytes::Bytes),
    Traces(ExportTraceServiceRequest),
    Logs(ExportLogsServiceRequest),
}

impl Payload {
    pub fn signal(&self) -> Signal {
        match self {
            Payload::Metrics(_) => Signal::Metrics,
            Payload::Traces(_) => Signal::Traces,
            Payload::Logs(_) => Signal::Logs,
        }
    }
}

/// What became of one request's items (points, spans or log records).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    pub accepted: u64,
    pub rejected: BTreeMap<&'static str, u64>,
    /// Problems with derived series (e.g. `target_info`) that are not items of the request.
    pub side: BTreeMap<&'static str, u64>,
    /// Set when the request turned out not to be valid protobuf (answered 400).
    pub malformed: Option<String>,
}

impl Tally {
    /// Counts one item.
    pub fn note(&mut self, r: Result<(), Reject>) {
        match r {
            Ok(()) => self.accepted += 1,
            Err(reason) => *self.rejected.entry(reason.as_str()).or_default() += 1,
        }
    }

    fn note_side(&mut self, reason: Reject) {
        *self.side.entry(reason.as_str()).or_default() += 1;
    }

    /// Items refused.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// The partial-success message: how many were refused and why, and derived series
    /// (`target_info`) not written.
    pub fn message(&self) -> String {
        let list = |m: &BTreeMap<&'static str, u64>| {
            m.iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = Vec::new();
        if !self.rejected.is_empty() {
            parts.push(format!(
                "{} of {} refused ({})",
                self.rejected_total(),
                self.rejected_total() + self.accepted,
                list(&self.rejected)
            ));
        }
        if !self.side.is_empty() {
            parts.push(format!(
                "resource attributes not stored as target_info ({})",
                list(&self.side)
            ));
        }
        parts.join("; ")
    }

    /// The response's partial success: (items refused, message), when anything was refused
    /// or a derived series not written (then with 0 refused: a warning, as the OTLP
    /// specification allows).
    pub fn partial(&self) -> Option<(i64, String)> {
        let rejected = self.rejected_total();
        (rejected > 0 || !self.side.is_empty())
            .then(|| (i64::try_from(rejected).unwrap_or(i64::MAX), self.message()))
    }
}

fn reject_of(e: AppendError) -> Reject {
    match e {
        AppendError::SeriesLimit => Reject::SeriesLimit,
        AppendError::OutOfOrder => Reject::OutOfOrder,
        AppendError::TooFarInFuture => Reject::TooFarInFuture,
    }
}

/// Writes `values[i]` to the entry's series `i` at `t`; every write is attempted, the first
/// failure is returned.
pub fn write_all(store: &Store, e: &mut Entry, t: i64, values: &[f64]) -> Result<(), Reject> {
    store
        .append_cached_many(|i| e.series.labels(i), &mut e.refs, t, values)
        .map_err(reject_of)
}

/// Writes an aggregate's current values at the receive time, always later than its last
/// write (two requests in one millisecond still both land).
pub fn write_aggregate(
    store: &Store,
    e: &mut Entry,
    now_ms: i64,
    values: &[f64],
) -> Result<(), Reject> {
    let t = now_ms.max(e.last_write_ms + 1);
    e.last_write_ms = t;
    write_all(store, e, t, values)
}

/// Translation and storage of decoded requests.
pub struct Ingest {
    store: Arc<Store>,
    cache: SeriesCache,
    span_buckets: Vec<f64>,
    log_counters: Vec<LogCounter>,
}

impl Ingest {
    pub fn new(store: Arc<Store>, spec: &OtlpSpec) -> Self {
        spans::register_metadata(&store);
        logs::register_metadata(&store, &spec.log_counters);
        Ingest {
            store,
            cache: SeriesCache::new(spec.limits),
            span_buckets: spec.span_buckets.clone(),
            log_counters: spec.log_counters.clone(),
        }
    }

    /// Translates and stores one request.
    pub fn ingest(&self, payload: &Payload) -> Tally {
        let now = now_ms();
        match payload {
            Payload::Metrics(body) => match metrics::ingest(body, &self.cache, &self.store, now) {
                Ok(t) => t,
                Err(e) => Tally {
                    malformed: Some(format!("cannot decode the metrics request: {e}")),
                    ..Tally::default()
                },
            },
            Payload::Traces(r) => {
                spans::ingest(r, &self.span_buckets, &self.cache, &self.store, now)
            }
            Payload::Logs(r) => logs::ingest(r, &self.log_counters, &self.cache, &self.store, now),
        }
    }

    /// Forgets series not written since `before_ms`.
    pub fn expire(&self, before_ms: i64) -> usize {
        self.cache.expire(before_ms)
    }

    pub fn series(&self) -> usize {
        self.cache.series()
    }
}

/// One request waiting for a worker.
struct Job {
    payload: Payload,
    respond: oneshot::Sender<Tally>,
}

/// Why a request was not ingested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The ingest queue is full: retry later.
    Busy,
    /// The receiver is shutting down.
    Closed,
}

/// The receivers' handle on the ingest stage.
#[derive(Clone)]
pub struct Pipeline {
    queue: mpsc::Sender<Job>,
    metrics: OtlpMetrics,
    forward: Option<Arc<Forwarder>>,
}

impl Pipeline {
    /// Submits a decoded request and waits for its tally. `raw` is its protobuf encoding,
    /// for forwarding (encoded here when absent and forwarding is on).
    pub async fn submit(
        &self,
        payload: Payload,
        protocol: Protocol,
        bytes: usize,
    ) -> Result<Tally, Refused> {
        let started = Instant::now();
        let signal = payload.signal();
        self.metrics.received_bytes(signal, protocol, bytes);
        if let Some(f) = &self.forward {
            f.offer(&payload);
        }
        let (tx, rx) = oneshot::channel();
        match self.queue.try_send(Job {
            payload,
            respond: tx,
        }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.refused(signal, protocol, "busy");
                return Err(Refused::Busy);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(Refused::Closed),
        }
        let tally = rx.await.map_err(|_| Refused::Closed)?;
        self.metrics
            .ingested(signal, protocol, &tally, started.elapsed());
        Ok(tally)
    }

    /// Counts a request refused before ingest (bad data, too large, unauthorised...).
    pub fn count_refused(&self, signal: Signal, protocol: Protocol, outcome: &str) {
        self.metrics.refused(signal, protocol, outcome);
    }
}

/// Errors starting the receiver.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error("cannot register OTLP metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot listen for OTLP/{what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("OTLP TLS: {0}")]
    Tls(#[from] crate::net::tls::TlsError),
    #[error("OTLP listener: {0}")]
    Listen(#[from] crate::net::listen::ListenError),
    #[error("cannot start the ingest workers: {0}")]
    Workers(std::io::Error),
    #[error("cannot set up forwarding: {0}")]
    Forward(String),
}

/// What both listeners are served with.
struct Serving<'a> {
    registry: &'a Registry,
    limits: ConnectionLimits,
    tls: Option<ServerTls>,
    auth: BearerToken,
    cancel: CancellationToken,
    /// `gRPC` or `HTTP`, for errors.
    what: &'static str,
}

impl Serving<'_> {
    /// Binds `addr` and serves `router` on it; the bind error names the protocol and the
    /// address. `listener` is the connection metrics' label.
    async fn serve(
        self,
        addr: std::net::SocketAddr,
        listener: &'static str,
        router: axum::Router,
    ) -> Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>), OtlpError> {
        let what = self.what;
        let tcp = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| OtlpError::Bind { what, addr, source })?;
        let bound = tcp.local_addr().unwrap_or(addr);
        let listener = crate::net::Listener::new(tcp, listener, self.limits, self.registry)?
            .with_tls(self.tls);
        let cancel = self.cancel;
        let task = tokio::spawn(listener.serve(router, cancel));
        Ok((bound, task))
    }
}

/// A running receiver: listeners bound, workers started.
pub struct OtlpReceiver {
    pub grpc_addr: Option<std::net::SocketAddr>,
    pub http_addr: Option<std::net::SocketAddr>,
    ingest: Arc<Ingest>,
    metrics: OtlpMetrics,
    tasks: parking_lot::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    workers: parking_lot::Mutex<Vec<std::thread::JoinHandle<()>>>,
    forward: Option<Arc<Forwarder>>,
    /// `otlp.auth_token`, shared by both listeners.
    auth: BearerToken,
}

impl OtlpReceiver {
    /// Binds the listeners, each with its connections under `spec.connections` (their
    /// metrics carry `listener="otlp_grpc"` and `listener="otlp_http"`), and starts the
    /// workers; serving stops when `cancel` fires.
    pub async fn start(
        spec: &OtlpSpec,
        store: Arc<Store>,
        registry: &Registry,
        cancel: CancellationToken,
    ) -> Result<OtlpReceiver, OtlpError> {
        let metrics = OtlpMetrics::new(registry)?;
        let ingest = Arc::new(Ingest::new(store, spec));
        let (tx, rx) = mpsc::channel::<Job>(INGEST_QUEUE);
        let rx = Arc::new(parking_lot::Mutex::new(rx));
        let n = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut workers = Vec::with_capacity(n);
        for i in 0..n {
            let (rx, ingest) = (rx.clone(), ingest.clone());
            let series = metrics.series.clone();
            let handle = std::thread::Builder::new()
                .name(format!("otlp-ingest-{i}"))
                .spawn(move || {
                    loop {
                        // Workers take turns waiting; the lock is held only while receiving.
                        let job = rx.lock().blocking_recv();
                        let Some(job) = job else { break };
                        let tally = ingest.ingest(&job.payload);
                        // Kept current as series arrive, not only when old ones expire.
                        series.set(i64::try_from(ingest.series()).unwrap_or(i64::MAX));
                        let _ = job.respond.send(tally);
                    }
                })
                .map_err(OtlpError::Workers)?;
            workers.push(handle);
        }
        let forward = match &spec.forward {
            Some(f) => Some(Arc::new(
                Forwarder::start(f, registry, cancel.clone()).map_err(OtlpError::Forward)?,
            )),
            None => None,
        };
        let pipeline = Pipeline {
            queue: tx,
            metrics: metrics.clone(),
            forward: forward.clone(),
        };
        let tls = match &spec.tls {
            Some(c) => Some(ServerTls::load(c)?),
            None => None,
        };
        let auth = BearerToken::new(spec.auth_token.clone());
        let serving = |what| Serving {
            registry,
            limits: spec.connections.clone(),
            tls: tls.clone(),
            auth: auth.clone(),
            cancel: cancel.clone(),
            what,
        };
        let mut tasks = Vec::new();
        let mut grpc_addr = None;
        if let Some(addr) = spec.grpc_listen {
            let (bound, task) = grpc::serve(addr, spec, pipeline.clone(), serving("gRPC")).await?;
            grpc_addr = Some(bound);
            tasks.push(task);
        }
        let mut http_addr = None;
        if let Some(addr) = spec.http_listen {
            let (bound, task) = http::serve(addr, spec, pipeline.clone(), serving("HTTP")).await?;
            http_addr = Some(bound);
            tasks.push(task);
        }
        drop(pipeline);
        Ok(OtlpReceiver {
            grpc_addr,
            http_addr,
            ingest,
            metrics,
            tasks: parking_lot::Mutex::new(tasks),
            workers: parking_lot::Mutex::new(workers),
            forward,
            auth,
        })
    }

    /// Replaces `otlp.auth_token` for both listeners at once (empty: none required); requests
    /// from now on are checked against the new token.
    pub fn set_auth_token(&self, token: Secret) {
        self.auth.set(token);
    }

    /// Forgets OTLP series not written since `before_ms` and updates `vitals_otlp_series`.
    pub fn expire(&self, before_ms: i64) {
        self.ingest.expire(before_ms);
        self.metrics
            .series
            .set(i64::try_from(self.ingest.series()).unwrap_or(i64::MAX));
    }

    /// Waits for the listeners to stop (after cancel), then for queued requests to drain,
    /// then for the forwarder to flush or give up.
    pub async fn stopped(&self) {
        let tasks = std::mem::take(&mut *self.tasks.lock());
        for t in tasks {
            let _ = t.await;
        }
        // The listeners held the last queue senders: the workers see the end and exit.
        let workers = std::mem::take(&mut *self.workers.lock());
        let _ = tokio::task::spawn_blocking(move || {
            for w in workers {
                let _ = w.join();
            }
        })
        .await;
        if let Some(f) = &self.forward {
            f.stopped().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let registry = Registry::new();
        let metrics = OtlpMetrics::new(&registry).expect("metrics");
        let (tx, _rx) = mpsc::channel::<Job>(1);
        let pipeline = Pipeline {
            queue: tx.clone(),
            metrics,
            forward: None,
        };
        let (respond, _) = oneshot::channel();
        tx.try_send(Job {
            payload: Payload::Logs(ExportLogsServiceRequest::default()),
            respond,
        })
        .map_err(|_| "fill")
        .expect("queue has room for one");
        let r = pipeline
            .submit(
                Payload::Logs(ExportLogsServiceRequest::default()),
                Protocol::HttpProtobuf,
                0,
            )
            .await;
        assert_eq!(r, Err(Refused::Busy));
        let busy = pipeline
            .metrics
            .requests
            .with_label_values(&["logs", "http/protobuf", "busy"])
            .get();
        assert_eq!(busy, 1);
    }
}

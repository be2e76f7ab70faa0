//! Serving a listener: the one way every HTTP and gRPC port of the agent accepts and serves
//! connections (the API on `server.listen`, OTLP/HTTP and OTLP/gRPC).
//!
//! A [`Listener`] takes a bound TCP socket, an optional [`ServerTls`] and an
//! [`axum::Router`] (tonic services become one with `Routes::into_axum_router`), and serves
//! HTTP/1.1 and HTTP/2 (detected per connection) under [`ConnectionLimits`]:
//! - at most `max_connections` connections at once; one past the cap is closed as soon as
//!   it is accepted, counted in `vitals_connections_refused_total{listener}`, and a warning
//!   is logged when refusing starts (not once per connection);
//! - a TLS handshake must finish within `tls_handshake_timeout`, and the first request's
//!   headers must arrive within `header_read_timeout` of the connection opening; on HTTP/1
//!   every later request's headers within `header_read_timeout` of its first byte (timed
//!   here, not by hyper, whose timer also runs while a keep-alive connection waits: a client
//!   sending every 10 s found its connection closed just as it sent);
//! - a connection with no request in flight for `idle_timeout` is closed gracefully;
//! - a request body must arrive whole within `body_read_timeout` of its headers (the
//!   handler's read fails with [`BodyTimeout`]);
//! - HTTP/2 connections allow `http2_max_concurrent_streams` streams and are pinged every
//!   `http2_keepalive_interval`, closed when a ping is not answered within
//!   `http2_keepalive_timeout`.
//!
//! Open connections are in `vitals_connections_open{listener}`. When the cancellation token
//! fires, the listener stops accepting, every connection is shut down gracefully (HTTP/1
//! finishes its request, HTTP/2 sends GOAWAY and finishes its streams), and
//! [`Listener::serve`] returns once the last connection has closed.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use bytes::Bytes;
use http::Request;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use parking_lot::Mutex;
use prometheus::{IntCounter, IntGauge, Opts, Registry};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::tls::ServerTls;

/// Limits on a listener's connections. The defaults suit a Prometheus server scraping and a
/// fleet of OpenTelemetry SDKs or Collectors exporting; [`ConnectionLimits::validate`]
/// refuses values that cannot work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections served at once; more are closed as soon as they are accepted.
    /// Default 4096 (Prometheus's own `--web.max-connections` is 512; OTLP senders each
    /// keep a connection open). The process's open-file limit must exceed the sum over
    /// listeners.
    pub max_connections: usize,
    /// Time from connection open (or, on HTTP/1, from the end of the previous request)
    /// until a request's headers are complete. Default 10 s.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed. Default 2 min (longer
    /// than the usual 1 min scrape interval, so Prometheus keeps its connection; note that on
    /// HTTP/1 the header-read timeout also bounds the wait for the next request).
    pub idle_timeout: Duration,
    /// Time from a request's headers until its body is read whole. Default 60 s (4 MiB at
    /// about 0.5 Mbit/s).
    pub body_read_timeout: Duration,
    /// Time to finish a TLS handshake. Default 10 s.
    pub tls_handshake_timeout: Duration,
    /// Concurrent streams per HTTP/2 connection. Default 250 (as gRPC-Go and Go's HTTP/2
    /// server).
    pub http2_max_concurrent_streams: u32,
    /// Interval of HTTP/2 keep-alive pings. Default 60 s.
    pub http2_keepalive_interval: Duration,
    /// Time to wait for a ping's answer before closing. Default 20 s (gRPC's default).
    pub http2_keepalive_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 4096,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            body_read_timeout: Duration::from_secs(60),
            tls_handshake_timeout: Duration::from_secs(10),
            http2_max_concurrent_streams: 250,
            http2_keepalive_interval: Duration::from_secs(60),
            http2_keepalive_timeout: Duration::from_secs(20),
        }
    }
}

/// [`ConnectionLimits`] that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    #[error("max_connections must be between 1 and {max}, not {got}")]
    MaxConnections { got: usize, max: usize },
    #[error("{0} must be more than zero")]
    Zero(&'static str),
}

/// Most connections one listener may allow (what its semaphore can count at once).
pub const MAX_CONNECTIONS_LIMIT: usize = 1 << 20;

impl ConnectionLimits {
    /// Checks that every limit is usable.
    pub fn validate(&self) -> Result<(), LimitsError> {
        if self.max_connections == 0 || self.max_connections > MAX_CONNECTIONS_LIMIT {
            return Err(LimitsError::MaxConnections {
                got: self.max_connections,
                max: MAX_CONNECTIONS_LIMIT,
            });
        }
        let durations = [
            ("header_read_timeout", self.header_read_timeout),
            ("idle_timeout", self.idle_timeout),
            ("body_read_timeout", self.body_read_timeout),
            ("tls_handshake_timeout", self.tls_handshake_timeout),
            ("http2_keepalive_interval", self.http2_keepalive_interval),
            ("http2_keepalive_timeout", self.http2_keepalive_timeout),
        ];
        for (name, d) in durations {
            if d.is_zero() {
                return Err(LimitsError::Zero(name));
            }
        }
        if self.http2_max_concurrent_streams == 0 {
            return Err(LimitsError::Zero("http2_max_concurrent_streams"));
        }
        Ok(())
    }
}

/// Errors setting up a listener.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("connection limits: {0}")]
    Limits(#[from] LimitsError),
    #[error("cannot register connection metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// A bound listener with its limits and metrics, ready to serve.
pub struct Listener {
    tcp: TcpListener,
    name: &'static str,
    limits: ConnectionLimits,
    tls: Option<ServerTls>,
    open: IntGauge,
    refused: IntCounter,
}

impl Listener {
    /// Wraps a bound socket. `name` is the `listener` label of the connection metrics
    /// (`api`, `otlp_http`, `otlp_grpc`), which are registered in `registry` here.
    pub fn new(
        tcp: TcpListener,
        name: &'static str,
        limits: ConnectionLimits,
        registry: &Registry,
    ) -> Result<Listener, ListenError> {
        limits.validate()?;
        let open = IntGauge::with_opts(
            Opts::new(
                "vitals_connections_open",
                "Connections open on a listener (TLS handshakes included).",
            )
            .const_label("listener", name),
        )?;
        let refused = IntCounter::with_opts(
            Opts::new(
                "vitals_connections_refused_total",
                "Connections closed at once because the listener had max_connections open.",
            )
            .const_label("listener", name),
        )?;
        registry.register(Box::new(open.clone()))?;
        registry.register(Box::new(refused.clone()))?;
        Ok(Listener {
            tcp,
            name,
            limits,
            tls: None,
            open,
            refused,
        })
    }

    /// Serves TLS (when `Some`) instead of plain TCP.
    pub fn with_tls(mut self, tls: Option<ServerTls>) -> Listener {
        self.tls = tls;
        self
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// Serves `router` until `cancel` fires, then waits for open connections to finish
    /// gracefully.
    pub async fn serve(self, router: Router, cancel: CancellationToken) {
        let Listener {
            tcp,
            name,
            limits,
            tls,
            open,
            refused,
        } = self;
        let slots = Arc::new(Semaphore::new(limits.max_connections));
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // Header reads are timed by `Activity` (hyper's timer would bound keep-alive waits).
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(None);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(limits.http2_max_concurrent_streams)
            .keep_alive_interval(limits.http2_keepalive_interval)
            .keep_alive_timeout(limits.http2_keepalive_timeout);
        let shared = Arc::new(Shared {
            builder,
            router,
            limits: limits.clone(),
            cancel: cancel.clone(),
        });
        let mut refusals = Refusals::default();
        let mut accept_errors = Refusals::default();
        loop {
            let accepted = tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                a = tcp.accept() => a,
            };
            let (stream, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Usually out of file descriptors: wait for some to close.
                    if accept_errors.start() {
                        tracing::warn!(listener = name, error = %e, "Accepting a connection failed; retrying.");
                    }
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
                    }
                }
            };
            accept_errors.end();
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                refused.inc();
                if refusals.start() {
                    tracing::warn!(
                        listener = name,
                        max_connections = limits.max_connections,
                        "Connection limit reached: new connections are closed at once until some finish."
                    );
                }
                drop(stream);
                continue;
            };
            if let Some(n) = refusals.end() {
                tracing::info!(listener = name, refused = n, "Accepting connections again.");
            }
            let _ = stream.set_nodelay(true);
            let (shared, tls, open) = (shared.clone(), tls.clone(), open.clone());
            tokio::spawn(async move {
                let _permit = permit;
                open.inc();
                match tls {
                    None => shared.serve_io(stream).await,
                    Some(tls) => match tls
                        .accept(stream, shared.limits.tls_handshake_timeout)
                        .await
                    {
                        Ok(stream) => shared.serve_io(stream).await,
                        Err(e) => {
                            tracing::debug!(listener = name, peer = %peer, error = %e, "A TLS handshake failed.")
                        }
                    },
                }
                open.dec();
            });
        }
        // Stop listening, then wait until every connection has given its slot back.
        drop(tcp);
        let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
        let _ = slots.acquire_many(all).await;
    }
}

/// An episode of refusals (or accept failures), to log its start once and at most every
/// [`Refusals::QUIET`].
#[derive(Default)]
struct Refusals {
    active: bool,
    warned: bool,
    count: u64,
    last_warned: Option<Instant>,
}

impl Refusals {
    const QUIET: Duration = Duration::from_secs(10);

    /// Counts one; true when this starts an episode that should be logged.
    fn start(&mut self) -> bool {
        self.count += 1;
        if self.active {
            return false;
        }
        self.active = true;
        self.warned = self.last_warned.is_none_or(|t| t.elapsed() >= Self::QUIET);
        if self.warned {
            self.last_warned = Some(Instant::now());
        }
        self.warned
    }

    /// Ends an episode: how many it counted, when its start was logged.
    fn end(&mut self) -> Option<u64> {
        if !self.active {
            return None;
        }
        self.active = false;
        let n = std::mem::take(&mut self.count);
        self.warned.then_some(n)
    }
}

/// What every connection of a listener shares.
struct Shared {
    builder: auto::Builder<TokioExecutor>,
    router: Router,
    limits: ConnectionLimits,
    cancel: CancellationToken,
}

impl Shared {
    async fn serve_io<I>(&self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Arc::new(Activity::new());
        let svc = {
            let (router, activity) = (self.router.clone(), activity.clone());
            let body_timeout = self.limits.body_read_timeout;
            hyper::service::service_fn(move |req: Request<Incoming>| {
                let router = router.clone();
                let guard = activity.begin(req.version() == http::Version::HTTP_2);
                async move {
                    let _guard = guard;
                    let req = req.map(|b| axum::body::Body::new(TimedBody::new(b, body_timeout)));
                    Ok::<_, Infallible>(router.oneshot(req).await.unwrap_or_else(|e| match e {}))
                }
            })
        };
        let io = Watched {
            inner: io,
            activity: activity.clone(),
        };
        let conn = self.builder.serve_connection(TokioIo::new(io), svc);
        tokio::pin!(conn);
        let mut closing = false;
        loop {
            let deadline = activity.deadline(&self.limits);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "A connection ended with an error.");
                    }
                    return;
                }
                _ = self.cancel.cancelled(), if !closing => {
                    if !activity.is_http2() && activity.in_flight() == 0 {
                        // Nothing to finish (a stalled head would hold graceful shutdown).
                        return;
                    }
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
                // Armed while closing too: a client must not hold shutdown up.
                _ = tokio::time::sleep_until(deadline) => {
                    if activity.is_idle(&self.limits) {
                        if closing || !activity.is_http2() {
                            // No request in flight and no response being written: nothing
                            // to finish. hyper's graceful shutdown would wait for a head
                            // that started and stalled.
                            return;
                        }
                        // HTTP/2: GOAWAY tells the client not to use the connection again.
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
                // A head started: its deadline is nearer than the idle one.
                _ = activity.head_started.notified() => {}
            }
        }
    }
}

/// What a connection is doing, for its deadlines.
#[derive(Default)]
struct ActivityState {
    /// Requests in flight.
    in_flight: usize,
    /// When the last request began or ended.
    last: Option<Instant>,
    /// When bytes first arrived with no request in flight (a request's head on its way).
    head_since: Option<Instant>,
    /// HTTP/2: bytes between requests are frames of the connection (pings), not heads.
    http2: bool,
}

/// Requests in flight on one connection, when the last began or ended, and whether the
/// next one's head has started to arrive.
struct Activity {
    opened: Instant,
    state: Mutex<ActivityState>,
    /// Woken when a head starts to arrive, so the deadline is recomputed.
    head_started: tokio::sync::Notify,
}

impl Activity {
    fn new() -> Self {
        Activity {
            opened: Instant::now(),
            state: Mutex::new(ActivityState::default()),
            head_started: tokio::sync::Notify::new(),
        }
    }

    fn begin(self: &Arc<Self>, http2: bool) -> InFlight {
        let mut s = self.state.lock();
        s.in_flight += 1;
        s.last = Some(Instant::now());
        s.head_since = None;
        s.http2 |= http2;
        InFlight(self.clone())
    }

    /// Bytes arrived from the client.
    fn read(&self) {
        let mut s = self.state.lock();
        if s.in_flight == 0 && s.head_since.is_none() && !s.http2 {
            s.head_since = Some(Instant::now());
            drop(s);
            self.head_started.notify_one();
        }
    }

    /// When the connection is to be closed if nothing happens: `header_read_timeout` after
    /// opening while no request came, or after the first byte of a head that has not
    /// finished; `idle_timeout` after the last request otherwise.
    fn deadline(&self, limits: &ConnectionLimits) -> Instant {
        let s = self.state.lock();
        match (s.in_flight, s.last, s.head_since) {
            (0, None, _) => self.opened + limits.header_read_timeout,
            (0, Some(_), Some(head)) => head + limits.header_read_timeout,
            (0, Some(last), None) => last + limits.idle_timeout,
            _ => Instant::now() + limits.idle_timeout,
        }
    }

    fn is_idle(&self, limits: &ConnectionLimits) -> bool {
        self.state.lock().in_flight == 0 && Instant::now() >= self.deadline(limits)
    }

    fn is_http2(&self) -> bool {
        self.state.lock().http2
    }

    fn in_flight(&self) -> usize {
        self.state.lock().in_flight
    }

    /// Bytes went out: a response body still being written keeps the connection busy (the
    /// request counts as done once its handler returned).
    fn wrote(&self) {
        let mut s = self.state.lock();
        if s.in_flight == 0 {
            s.last = Some(Instant::now());
        }
    }
}

/// A request in flight; dropped when its response is ready.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut s = self.0.state.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        s.last = Some(Instant::now());
    }
}

/// A connection's stream, telling its [`Activity`] when bytes arrive.
struct Watched<I> {
    inner: I,
    activity: Arc<Activity>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.read();
        }
        r
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.wrote();
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.wrote();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The error a request body's read ends with when it took longer than
/// [`ConnectionLimits::body_read_timeout`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("the request body was not received within {0:?}")]
pub struct BodyTimeout(pub Duration);

/// True when `err` (or an error it wraps) is a [`BodyTimeout`]: a handler answers 408.
pub fn is_body_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if e.is::<BodyTimeout>() {
            return true;
        }
        cur = e.source();
    }
    false
}

/// A request body that fails with [`BodyTimeout`] when not read whole in time.
struct TimedBody {
    inner: Incoming,
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
}

impl TimedBody {
    fn new(inner: Incoming, timeout: Duration) -> Self {
        TimedBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            timeout,
        }
    }
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTimeout(this.timeout)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::{get, post};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    fn quick(max_connections: usize, timeout: Duration) -> ConnectionLimits {
        ConnectionLimits {
            max_connections,
            header_read_timeout: timeout,
            idle_timeout: timeout,
            body_read_timeout: timeout,
            ..ConnectionLimits::default()
        }
    }

    struct Served {
        addr: SocketAddr,
        registry: Registry,
        cancel: CancellationToken,
        task: tokio::task::JoinHandle<()>,
    }

    async fn serve(limits: ConnectionLimits) -> Served {
        let router = Router::new()
            .route("/ok", get(|| async { "ok" }))
            .route("/big", get(|| async { vec![b'x'; 32 << 20] }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "slow"
                }),
            )
            .route(
                "/upload",
                post(|body: axum::body::Body| async move {
                    match axum::body::to_bytes(body, 1 << 20).await {
                        Ok(b) => (http::StatusCode::OK, b.len().to_string()),
                        Err(e) if is_body_timeout(&e) => {
                            (http::StatusCode::REQUEST_TIMEOUT, e.to_string())
                        }
                        Err(e) => (http::StatusCode::BAD_REQUEST, e.to_string()),
                    }
                }),
            );
        let registry = Registry::new();
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let listener = Listener::new(tcp, "test", limits, &registry).expect("listener");
        let addr = listener.local_addr().expect("addr");
        let cancel = CancellationToken::new();
        let task = tokio::spawn(listener.serve(router, cancel.clone()));
        Served {
            addr,
            registry,
            cancel,
            task,
        }
    }

    fn metric(registry: &Registry, name: &str) -> f64 {
        registry
            .gather()
            .iter()
            .filter(|f| f.name() == name)
            .flat_map(|f| f.get_metric())
            // The one not set reads 0.
            .map(|m| m.get_gauge().get_value() + m.get_counter().get_value())
            .sum()
    }

    async fn wait_open(registry: &Registry, n: f64) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while metric(registry, "vitals_connections_open") != n {
            assert!(
                Instant::now() < deadline,
                "open connections stayed at {}, not {n}",
                metric(registry, "vitals_connections_open")
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// True when the server closes `s` within `d` (whatever it writes first is skipped).
    async fn closed_within(s: &mut TcpStream, d: Duration) -> bool {
        let mut buf = [0u8; 1024];
        let deadline = Instant::now() + d;
        loop {
            match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Sends `raw` on a new connection and reads the answer until the server closes.
    async fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(raw).await.expect("write");
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    const GET_OK: &[u8] = b"GET /ok HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    const PARTIAL: &[u8] = b"POST /v1/metrics HTTP/1.1\r\nHost: t\r\nContent-Ty";

    #[test]
    fn limits_are_validated() {
        assert_eq!(ConnectionLimits::default().validate(), Ok(()));
        let zero = ConnectionLimits {
            max_connections: 0,
            ..ConnectionLimits::default()
        };
        assert!(matches!(
            zero.validate(),
            Err(LimitsError::MaxConnections { .. })
        ));
        let no_timeout = ConnectionLimits {
            header_read_timeout: Duration::ZERO,
            ..ConnectionLimits::default()
        };
        assert_eq!(
            no_timeout.validate(),
            Err(LimitsError::Zero("header_read_timeout"))
        );
        let registry = Registry::new();
        let std = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        std.set_nonblocking(true).expect("nonblocking");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let _guard = rt.enter();
        let tcp = TcpListener::from_std(std).expect("tokio listener");
        assert!(Listener::new(tcp, "x", zero, &registry).is_err());
    }

    #[tokio::test]
    async fn a_connection_past_the_cap_is_closed_at_once() {
        let s = serve(quick(8, Duration::from_secs(10))).await;
        let mut idle = Vec::new();
        for _ in 0..8 {
            idle.push(TcpStream::connect(s.addr).await.expect("connect"));
        }
        wait_open(&s.registry, 8.0).await;
        let mut extra = TcpStream::connect(s.addr).await.expect("connect");
        assert!(closed_within(&mut extra, Duration::from_secs(1)).await);
        assert_eq!(metric(&s.registry, "vitals_connections_refused_total"), 1.0);
        for c in &mut idle {
            assert!(!closed_within(c, Duration::from_millis(20)).await);
        }
        drop(idle);
        wait_open(&s.registry, 0.0).await;
        assert!(exchange(s.addr, GET_OK).await.starts_with("HTTP/1.1 200"));
    }

    #[tokio::test]
    async fn a_partial_header_is_closed_after_the_header_timeout() {
        let s = serve(quick(8, Duration::from_millis(200))).await;
        let mut c = TcpStream::connect(s.addr).await.expect("connect");
        c.write_all(PARTIAL).await.expect("write");
        let started = Instant::now();
        assert!(closed_within(&mut c, Duration::from_secs(2)).await);
        assert!(started.elapsed() >= Duration::from_millis(150));
        wait_open(&s.registry, 0.0).await;
    }

    #[tokio::test]
    async fn requests_answer_once_idle_connections_have_timed_out() {
        let s = serve(quick(8, Duration::from_millis(200))).await;
        let mut held = Vec::new();
        for i in 0..8 {
            let mut c = TcpStream::connect(s.addr).await.expect("connect");
            if i % 2 == 0 {
                c.write_all(PARTIAL).await.expect("write");
            }
            held.push(c);
        }
        wait_open(&s.registry, 8.0).await;
        let started = Instant::now();
        let answer = loop {
            let answer = exchange(s.addr, GET_OK).await;
            if answer.starts_with("HTTP/1.1 200") || started.elapsed() > Duration::from_secs(2) {
                break answer;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
        assert!(metric(&s.registry, "vitals_connections_refused_total") >= 1.0);
        for c in &mut held {
            assert!(closed_within(c, Duration::from_secs(1)).await);
        }
    }

    #[tokio::test]
    async fn an_idle_keep_alive_connection_is_closed() {
        let s = serve(quick(8, Duration::from_millis(200))).await;
        let mut c = TcpStream::connect(s.addr).await.expect("connect");
        c.write_all(b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .expect("write");
        let mut buf = vec![0u8; 1024];
        let n = c.read(&mut buf).await.expect("read");
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        assert!(closed_within(&mut c, Duration::from_secs(2)).await);
    }

    /// Header reads are timed from a head's first byte, not from the end of the last
    /// request: a keep-alive connection may wait longer than `header_read_timeout` (up to
    /// `idle_timeout`) for its next request; a head that starts and stalls is still cut off.
    #[tokio::test]
    async fn keep_alive_waits_past_the_header_timeout_but_a_stalled_head_does_not() {
        let s = serve(ConnectionLimits {
            header_read_timeout: Duration::from_millis(200),
            idle_timeout: Duration::from_secs(5),
            ..ConnectionLimits::default()
        })
        .await;
        let mut c = TcpStream::connect(s.addr).await.expect("connect");
        let mut buf = vec![0u8; 1024];
        for _ in 0..2 {
            c.write_all(b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n")
                .await
                .expect("write");
            let n = c.read(&mut buf).await.expect("read");
            assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
            // Longer than the header timeout, shorter than the idle one.
            tokio::time::sleep(Duration::from_millis(600)).await;
        }
        c.write_all(b"GET /ok HTTP/1.1\r\nHost: t\r\nX-Sl")
            .await
            .expect("write");
        assert!(closed_within(&mut c, Duration::from_secs(2)).await);
    }

    #[tokio::test]
    async fn a_slow_body_times_out() {
        let s = serve(quick(8, Duration::from_millis(200))).await;
        let answer = exchange(
            s.addr,
            b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
        let answer = exchange(
            s.addr,
            b"POST /upload HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    }

    #[tokio::test]
    async fn http2_is_served() {
        let s = serve(ConnectionLimits::default()).await;
        let client = crate::net::tls::client_builder()
            .http2_prior_knowledge()
            .build()
            .expect("client");
        let r = client
            .get(format!("http://{}/ok", s.addr))
            .send()
            .await
            .expect("send");
        assert_eq!(r.version(), http::Version::HTTP_2);
        assert_eq!(r.text().await.expect("body"), "ok");
    }

    #[tokio::test]
    async fn a_stalled_head_does_not_hold_shutdown_up() {
        // Default limits: the header timeout (10 s) is far longer than the wait below.
        let s = serve(ConnectionLimits::default()).await;
        let mut c = TcpStream::connect(s.addr).await.expect("connect");
        c.write_all(PARTIAL).await.expect("write");
        wait_open(&s.registry, 1.0).await;
        s.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(2), s.task)
            .await
            .expect("serve returns though a head is stalled")
            .expect("join");
    }

    /// A response body still being written keeps its connection (the request counts as done
    /// once its handler returned): a slow reader gets all of it though writing it takes
    /// longer than `idle_timeout`.
    #[tokio::test]
    async fn a_body_written_slowly_is_not_cut_off() {
        let s = serve(quick(8, Duration::from_millis(300))).await;
        let mut c = TcpStream::connect(s.addr).await.expect("connect");
        c.write_all(b"GET /big HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut total = 0usize;
        let mut buf = vec![0u8; 256 * 1024];
        let started = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            match c.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        assert!(
            started.elapsed() > Duration::from_millis(300),
            "slower than idle_timeout"
        );
        assert!(total > 32 << 20, "got {total} bytes");
    }

    #[tokio::test]
    async fn shutdown_finishes_in_flight_requests() {
        let s = serve(ConnectionLimits::default()).await;
        let mut idle = TcpStream::connect(s.addr).await.expect("connect");
        let slow = tokio::spawn(exchange(
            s.addr,
            b"GET /slow HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        ));
        wait_open(&s.registry, 2.0).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        s.cancel.cancel();
        let answer = slow.await.expect("join");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
        assert!(answer.ends_with("slow"), "{answer:?}");
        assert!(closed_within(&mut idle, Duration::from_secs(1)).await);
        tokio::time::timeout(Duration::from_secs(2), s.task)
            .await
            .expect("serve returns")
            .expect("join");
        assert!(TcpStream::connect(s.addr).await.is_err());
    }
}

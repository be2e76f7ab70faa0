//! The HTTP API: the pipeline's read side for people and Prometheus.
//!
//! It owns the listener on `server.listen` (a stage: [`ApiServer`], configured by `server:`,
//! [`config`]) and its routes: `/health` (liveness), `/ready` (every stage built and
//! started), `/metrics` (the store's series plus the agent's own metrics), `/federate`
//! (chosen series, for a central Prometheus; both streamed, [`exposition`]), `/-/reload`
//! (handed to the daemon's reloader, [`reload`]), the status page at `/` and the Prometheus
//! HTTP API under `/api/v1` (see [`query`]). It only reads the store and the rule engine's
//! published state.

mod alertmanager;
pub mod config;
pub mod exposition;
pub mod query;
pub mod reload;
mod server;
mod silence_page;
mod status_page;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use parking_lot::Mutex;
use prometheus::{Histogram, HistogramOpts, Registry};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::alerting::AlertingHandle;
use crate::config::Secret;
use crate::net::auth::CHALLENGE;
use crate::net::listen::ListenError;
use crate::net::{BearerToken, ConnectionLimits, Listener};
use crate::rules::status::RulesView;
use crate::store::{Store, now_ms};
use exposition::{Exposition, Format};
pub use reload::{RELOAD_QUEUE, ReloadOutcome, ReloadRequest};
pub use server::{ApiServer, ApiSpec};

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot register API metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("the API listener: {0}")]
    Listen(#[from] ListenError),
    #[error("server.tls: {0}")]
    Tls(#[from] crate::net::tls::TlsError),
}

/// What the handlers share.
pub struct ApiState {
    store: Arc<Store>,
    registry: Registry,
    ready: AtomicBool,
    render_duration: Histogram,
    api_token: BearerToken,
    reload: mpsc::Sender<ReloadRequest>,
    /// Where the rule engine publishes what `/api/v1/rules` and `/api/v1/alerts` show.
    rules: RulesView,
    /// `server.query_timeout`, in ms (see [`ApiState::set_query_limits`]).
    query_timeout_ms: AtomicU64,
    /// `server.query_max_samples`.
    query_max_samples: AtomicUsize,
    /// When this state was made (the process start, for `/api/v1/status/runtimeinfo`).
    started_ms: i64,
    /// Whether the last configuration reload worked, and when the configuration last loaded.
    last_reload: Mutex<(bool, i64)>,
    /// Slots for queries evaluating at once (see [`query::MAX_CONCURRENT_QUERIES`]).
    query_gate: Arc<tokio::sync::Semaphore>,
    /// Slots for `/metrics` and `/federate` answers being written at once (see
    /// [`exposition::body::EXPOSITIONS_AT_ONCE`]).
    exposition_gate: Arc<tokio::sync::Semaphore>,
    /// The alerting stage behind `/api/v2/*` (set once at build; none without `alerting:`).
    alerting: std::sync::OnceLock<AlertingHandle>,
}

/// Query timeout until [`ApiState::set_query_limits`] is called (Prometheus's default).
pub const DEFAULT_QUERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);
/// Sample limit until [`ApiState::set_query_limits`] is called (Prometheus's default).
pub const DEFAULT_QUERY_MAX_SAMPLES: usize = 50_000_000;

impl ApiState {
    /// `api_token` guards mutating calls (empty: none); `reload` is where `/-/reload`
    /// sends its requests.
    pub fn new(
        store: Arc<Store>,
        registry: Registry,
        api_token: Secret,
        reload: mpsc::Sender<ReloadRequest>,
    ) -> Result<Arc<Self>, ApiError> {
        Self::with_rules(store, registry, api_token, reload, RulesView::default())
    }

    /// As [`ApiState::new`], showing the rule engine's groups and alerts from `rules`.
    pub fn with_rules(
        store: Arc<Store>,
        registry: Registry,
        api_token: Secret,
        reload: mpsc::Sender<ReloadRequest>,
        rules: RulesView,
    ) -> Result<Arc<Self>, ApiError> {
        let render_duration = Histogram::with_opts(
            HistogramOpts::new(
                "vitals_scrape_duration_seconds",
                "Time spent writing a /metrics or /federate answer (a slow client lengthens it).",
            )
            .buckets(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]),
        )?;
        registry.register(Box::new(render_duration.clone()))?;
        Ok(Arc::new(ApiState {
            store,
            registry,
            ready: AtomicBool::new(false),
            render_duration,
            api_token: BearerToken::new(api_token),
            reload,
            rules,
            query_timeout_ms: AtomicU64::new(DEFAULT_QUERY_TIMEOUT.as_millis() as u64),
            query_max_samples: AtomicUsize::new(DEFAULT_QUERY_MAX_SAMPLES),
            started_ms: now_ms(),
            last_reload: Mutex::new((true, now_ms())),
            query_gate: Arc::new(tokio::sync::Semaphore::new(query::MAX_CONCURRENT_QUERIES)),
            exposition_gate: Arc::new(tokio::sync::Semaphore::new(
                exposition::body::EXPOSITIONS_AT_ONCE,
            )),
            alerting: std::sync::OnceLock::new(),
        }))
    }

    /// Serves `/api/v2/*` from `alerting` (once; later calls are ignored).
    pub fn set_alerting(&self, alerting: AlertingHandle) {
        let _ = self.alerting.set(alerting);
    }

    /// The view the rule engine publishes its snapshots into.
    pub fn rules_view(&self) -> RulesView {
        self.rules.clone()
    }

    /// Records the outcome of a configuration reload (for `/api/v1/status/runtimeinfo`).
    pub fn record_reload(&self, ok: bool) {
        let mut last = self.last_reload.lock();
        last.0 = ok;
        if ok {
            last.1 = now_ms();
        }
    }

    /// Replaces the API token (after a reload).
    pub fn set_api_token(&self, token: Secret) {
        self.api_token.set(token);
    }

    /// Replaces the API token, saying whether it changed (compared by value, never shown).
    pub(crate) fn replace_api_token(&self, token: Secret) -> bool {
        self.api_token.replace(token)
    }

    /// `None` when the request may mutate, else the 401 answer.
    fn authorize(&self, headers: &HeaderMap) -> Option<Response> {
        if self.api_token.check(headers) {
            return None;
        }
        Some(
            (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, CHALLENGE)],
                "this call needs Authorization: Bearer <server.api_token>\n",
            )
                .into_response(),
        )
    }

    /// `/ready` answers 200 from now on (or 503 again with `false`, during shutdown).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }
}

/// A bound listener, not yet serving.
pub struct Server {
    listener: Listener,
    state: Arc<ApiState>,
}

impl Server {
    /// Binds `addr`, serving connections under `limits` (their metrics carry
    /// `listener="api"`); fails with the address and the OS error.
    pub async fn bind(
        addr: SocketAddr,
        state: Arc<ApiState>,
        limits: ConnectionLimits,
        tls: Option<crate::net::tls::ServerTls>,
    ) -> Result<Server, ApiError> {
        let tcp = TcpListener::bind(addr)
            .await
            .map_err(|source| ApiError::Bind { addr, source })?;
        let listener = Listener::new(tcp, "api", limits, &state.registry)?.with_tls(tls);
        Ok(Server { listener, state })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until `cancel` fires, then finishes in-flight requests.
    pub async fn serve(self, cancel: CancellationToken) -> std::io::Result<()> {
        self.listener.serve(router(self.state), cancel).await;
        Ok(())
    }
}

fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/", get(status_page::page))
        .route("/silences/new", get(silence_page::page))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/federate", get(federate).post(federate))
        .route("/-/reload", post(reload::handler))
        .nest("/api/v1", query::routes())
        .nest("/api/v2", alertmanager::routes())
        .with_state(state)
}

async fn health() -> Response {
    json_response(StatusCode::OK, r#"{"status":"UP"}"#)
}

async fn ready(State(state): State<Arc<ApiState>>) -> Response {
    if state.ready.load(Ordering::SeqCst) {
        json_response(StatusCode::OK, r#"{"status":"UP"}"#)
    } else {
        json_response(StatusCode::SERVICE_UNAVAILABLE, r#"{"status":"NOT_READY"}"#)
    }
}

fn json_response(status: StatusCode, body: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn metrics(State(state): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    expose(state, &headers, None).await
}

/// Prometheus's `/federate`: the newest sample, with its timestamp, of every series matching
/// any `match[]` selector (none: an empty answer, as Prometheus gives), for a central
/// Prometheus scraping with `honor_labels: true`. GET or form POST, like the query API.
async fn federate(State(state): State<Arc<ApiState>>, req: axum::extract::Request) -> Response {
    let headers = req.headers().clone();
    let params = match query::read_params(req).await {
        Ok(p) => p,
        Err(e) => return plain_error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let selectors = params.all("match[]");
    let sets = match query::parse_matchers(&selectors) {
        Ok(sets) => sets,
        Err(e) => return plain_error(StatusCode::BAD_REQUEST, format!("bad match[]: {e}")),
    };
    expose(state, &headers, Some(sets)).await
}

fn plain_error(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message + "\n",
    )
        .into_response()
}

/// Streams an exposition of the store and the agent's own metrics (see [`exposition`]) in
/// the format and encoding the request's headers ask for, once one of the exposition slots is
/// free (waiting for one costs no thread). `select`: `/federate`'s selectors.
async fn expose(
    state: Arc<ApiState>,
    headers: &HeaderMap,
    select: Option<Vec<Vec<crate::store::LabelMatcher>>>,
) -> Response {
    let gzip = query::accepts_gzip(headers);
    let format = Format::from_accept(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let exposition = Exposition { format, select };
    let Ok(slot) = state.exposition_gate.clone().acquire_owned().await else {
        return plain_error(StatusCode::SERVICE_UNAVAILABLE, "vitals is stopping".into());
    };
    let body = exposition::body::stream(gzip, move |out| {
        let _slot = slot;
        let started = Instant::now();
        let own = state.registry.gather();
        let result = exposition.write(&state.store, &own, now_ms(), out);
        state
            .render_duration
            .observe(started.elapsed().as_secs_f64());
        result
    });
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    resp
}

/// An HTML response.
pub(crate) fn html(body: String) -> Html<String> {
    Html(body)
}

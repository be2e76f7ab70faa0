//! The Prometheus HTTP API (`/api/v1/*`): the read side Grafana, `promtool` and `curl` use.
//!
//! It owns parameter parsing ([`params`]), Prometheus's JSON ([`json`]), its error shapes
//! ([`error`]) and the endpoints: `query`, `query_range`, `series`, `labels`,
//! `label/<name>/values`, `metadata`, `query_exemplars`, `format_query`, `rules`, `alerts`
//! and `status/{buildinfo,flags,runtimeinfo}`, gzip-compressed for clients that accept it
//! ([`compress`]). Queries run on the blocking pool (never on the
//! async workers the probes and the rule engine share) under the configured timeout. It only
//! reads the store and the rule engine's published snapshot.

mod compress;
mod error;
pub mod json;
mod params;

mod rules;
mod status;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use promql_parser::parser::Expr;
use promql_parser::parser::value::ValueType;
use serde::Serialize;

use super::ApiState;
use crate::config::PromDuration;
use crate::promql::{DEFAULT_LOOKBACK_MS, Engine, PromqlError, Value};
use crate::store::{LabelMatcher, Labels, MetricType, Store, now_ms};
pub(crate) use compress::accepts_gzip;
pub use error::{ErrorType, QueryError};
pub(crate) use params::Params;
pub(crate) use params::parse_matchers;
use params::{MAX_TIME_MS, MIN_TIME_MS, parse_duration_ns};

/// Prometheus's cap on the points of one range-query series.
const MAX_POINTS: i128 = 11_000;
/// Queries evaluated at once (Prometheus's `--query.max-concurrency` default); more wait
/// for a slot, within their timeout.
pub const MAX_CONCURRENT_QUERIES: usize = 20;
/// Largest request body read (a long `match[]` list fits many times over).
const MAX_BODY_BYTES: usize = 8 << 20;

/// The `/api/v1` routes (nested under `/api/v1` by the server).
pub fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/query", get(query).post(query))
        .route("/query_range", get(query_range).post(query_range))
        .route("/query_exemplars", get(exemplars).post(exemplars))
        .route("/format_query", get(format_query).post(format_query))
        .route("/series", get(series).post(series))
        .route("/labels", get(labels).post(labels))
        .route("/label/{name}/values", get(label_values))
        .route("/metadata", get(metadata))
        .route("/rules", get(rules_endpoint))
        .route("/alerts", get(alerts_endpoint))
        .route("/status/buildinfo", get(buildinfo))
        .route("/status/flags", get(flags))
        .route("/status/runtimeinfo", get(runtimeinfo))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(compress::layer))
        .layer(axum::middleware::from_fn(cors))
}

/// Prometheus's default CORS (`--web.cors.origin='.*'`): a request with an `Origin` gets the
/// CORS headers and any origin is allowed; a preflight `OPTIONS` is answered 204.
async fn cors(req: Request, next: axum::middleware::Next) -> Response {
    let has_origin = req.headers().contains_key(header::ORIGIN);
    let mut resp = if req.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    if has_origin {
        let h = resp.headers_mut();
        for (name, value) in [
            (
                "access-control-allow-headers",
                "Accept, Authorization, Content-Type, Origin",
            ),
            ("access-control-allow-methods", "GET, POST, OPTIONS"),
            ("access-control-expose-headers", "Date"),
            ("vary", "Origin"),
            ("access-control-allow-origin", "*"),
        ] {
            h.insert(name, axum::http::HeaderValue::from_static(value));
        }
    }
    resp
}

/// Limits of one query.
#[derive(Clone, Copy, Debug)]
struct QueryLimits {
    max_samples: usize,
    deadline: Instant,
}

/// What to evaluate.
#[derive(Clone, Copy, Debug)]
enum Eval {
    Instant { t: i64 },
    Range { start: i64, end: i64, step: i64 },
}

/// The one call into the PromQL engine.
fn evaluate(
    store: &Store,
    expr: &Expr,
    what: Eval,
    lookback_ms: Option<i64>,
    limits: QueryLimits,
) -> Result<Value, PromqlError> {
    let mut engine = Engine::new(store).with_limits(crate::promql::QueryLimits {
        max_samples: limits.max_samples,
        deadline: Some(limits.deadline),
        ..crate::promql::QueryLimits::default()
    });
    if let Some(ms) = lookback_ms {
        engine = engine.with_lookback_ms(ms);
    }
    match what {
        Eval::Instant { t } => engine.instant_expr(expr, t),
        Eval::Range { start, end, step } => engine.range_expr(expr, start, end, step),
    }
}

impl ApiState {
    /// Sets the query timeout and the sample limit (`server.query_timeout`,
    /// `server.query_max_samples`); takes effect for the next query.
    pub fn set_query_limits(&self, timeout: Duration, max_samples: usize) {
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        self.query_timeout_ms.store(ms, Ordering::Relaxed);
        self.query_max_samples.store(max_samples, Ordering::Relaxed);
    }

    fn query_timeout(&self) -> Duration {
        Duration::from_millis(self.query_timeout_ms.load(Ordering::Relaxed))
    }
}

// ---- responses ----

fn json_body(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `{"status":"success","data":<data>[,"warnings":[...]]}` around already-encoded data.
fn success_raw(data: &[u8], warnings: &[String]) -> Response {
    let mut out = Vec::with_capacity(data.len() + 40);
    out.extend_from_slice(br#"{"status":"success","data":"#);
    out.extend_from_slice(data);
    if !warnings.is_empty() {
        out.extend_from_slice(br#","warnings":["#);
        for (i, w) in warnings.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json::write_str(&mut out, w);
        }
        out.push(b']');
    }
    out.push(b'}');
    json_body(StatusCode::OK, out)
}

fn encode<T: Serialize + ?Sized>(data: &T) -> Result<Vec<u8>, QueryError> {
    let mut out = Vec::new();
    json::to_writer(&mut out, data)
        .map_err(|e| QueryError::internal(format!("cannot encode the answer: {e}")))?;
    Ok(out)
}

fn success<T: Serialize + ?Sized>(data: &T, warnings: &[String]) -> Response {
    match encode(data) {
        Ok(body) => success_raw(&body, warnings),
        Err(e) => error_response(&e),
    }
}

/// `{"status":"error","errorType":"...","error":"..."}` with the type's status code.
pub fn error_response(err: &QueryError) -> Response {
    let mut out = Vec::with_capacity(err.message.len() + 64);
    out.extend_from_slice(br#"{"status":"error","errorType":"#);
    json::write_str(&mut out, err.kind.as_str());
    out.extend_from_slice(br#","error":"#);
    json::write_str(&mut out, &err.message);
    out.push(b'}');
    json_body(err.kind.status(), out)
}

fn respond(result: Result<Response, QueryError>) -> Response {
    result.unwrap_or_else(|e| error_response(&e))
}

/// Writes a query result as Prometheus's `{"resultType":...,"result":...}`; `t` is the
/// evaluation time (instant vectors and strings carry it).
fn write_result(out: &mut Vec<u8>, value: &Value, t: i64) {
    let kind = match value {
        Value::Scalar(..) => "scalar",
        Value::Vector(_) => "vector",
        Value::Matrix(_) => "matrix",
        Value::String(_) => "string",
    };
    out.extend_from_slice(br#"{"resultType":""#);
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(br#"","result":"#);
    let point = |out: &mut Vec<u8>, t: i64, v: f64| {
        out.push(b'[');
        json::write_timestamp(out, t);
        out.push(b',');
        json::write_value(out, v);
        out.push(b']');
    };
    match value {
        Value::Scalar(ts, v) => point(out, *ts, *v),
        Value::String(s) => {
            out.push(b'[');
            json::write_timestamp(out, t);
            out.push(b',');
            json::write_str(out, s);
            out.push(b']');
        }
        Value::Vector(elems) => {
            out.push(b'[');
            for (i, (labels, v)) in elems.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(br#"{"metric":"#);
                json::write_labels(out, labels);
                out.extend_from_slice(br#","value":"#);
                point(out, t, *v);
                out.push(b'}');
            }
            out.push(b']');
        }
        Value::Matrix(series) => {
            out.push(b'[');
            for (i, (labels, samples)) in series.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(br#"{"metric":"#);
                json::write_labels(out, labels);
                out.extend_from_slice(br#","values":["#);
                for (j, s) in samples.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    point(out, s.t, s.v);
                }
                out.extend_from_slice(b"]}");
            }
            out.push(b']');
        }
    }
    out.push(b'}');
}

// ---- request parameters ----

/// Reads the URL query and, for a form POST, the body.
pub(crate) async fn read_params(req: Request) -> Result<Params, QueryError> {
    let (parts, body) = req.into_parts();
    let query = parts.uri.query().map(str::to_owned);
    let is_form = parts.method == Method::POST && is_form(&parts.headers);
    let body = if is_form {
        Some(
            axum::body::to_bytes(body, MAX_BODY_BYTES)
                .await
                .map_err(|e| QueryError::bad_data(format!("error parsing form values: {e}")))?,
        )
    } else {
        None
    };
    Params::parse(query.as_deref(), body.as_deref())
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// The request's `timeout` (if any) capped by the configured one.
fn effective_timeout(p: &Params, state: &ApiState) -> Result<Duration, QueryError> {
    let configured = state.query_timeout();
    let v = p.get("timeout");
    if v.is_empty() {
        return Ok(configured);
    }
    let ns = parse_duration_ns(v).map_err(|e| QueryError::invalid_param("timeout", e))?;
    let asked = Duration::from_nanos(u64::try_from(ns.max(0)).unwrap_or(u64::MAX));
    Ok(asked.min(configured))
}

/// `lookback_delta` in ms, if given.
fn lookback(p: &Params) -> Result<Option<i64>, QueryError> {
    let v = p.get("lookback_delta");
    if v.is_empty() {
        return Ok(None);
    }
    let ns = parse_duration_ns(v)
        .map_err(|e| QueryError::bad_data(format!("error parsing lookback delta duration: {e}")))?;
    let ms = i64::try_from(ns / 1_000_000).unwrap_or(i64::MAX);
    Ok((ms > 0).then_some(ms))
}

fn parse_query(text: &str) -> Result<Expr, QueryError> {
    crate::promql::parse(text).map_err(QueryError::from_engine)
}

/// Runs `f` on the blocking pool once one of the [`MAX_CONCURRENT_QUERIES`] slots is free;
/// past `timeout` (waiting included) the answer is Prometheus's timeout error.
async fn run_blocking<T: Send + 'static>(
    state: &ApiState,
    timeout: Duration,
    what: &str,
    f: impl FnOnce() -> Result<T, QueryError> + Send + 'static,
) -> Result<T, QueryError> {
    let what = crate::telemetry::loggable(what);
    if timeout.is_zero() {
        // An expired deadline (`timeout=0`): Prometheus times the query out before it starts.
        return Err(QueryError::timeout());
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let gate = state.query_gate.clone().acquire_owned();
    let permit = match tokio::time::timeout_at(deadline, gate).await {
        Err(_) => {
            tracing::warn!(query = %what, timeout = ?timeout, "A query timed out waiting for a free query slot.");
            return Err(QueryError::timeout_in("query queue"));
        }
        Ok(Err(e)) => return Err(QueryError::internal(format!("the query gate failed: {e}"))),
        Ok(Ok(p)) => p,
    };
    // The slot stays taken until the evaluation ends, even when its answer came too late.
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        f()
    });
    match tokio::time::timeout_at(deadline, task).await {
        Err(_) => {
            tracing::warn!(query = %what, timeout = ?timeout, "A query timed out.");
            Err(QueryError::timeout())
        }
        Ok(Err(e)) => {
            tracing::error!(query = %what, error = %e, "A query task failed.");
            Err(QueryError::internal(format!("the query failed: {e}")))
        }
        Ok(Ok(r)) => r,
    }
}

// ---- query endpoints ----

async fn query(State(state): State<Arc<ApiState>>, req: Request) -> Response {
    respond(query_inner(state, req).await)
}

async fn query_inner(state: Arc<ApiState>, req: Request) -> Result<Response, QueryError> {
    let p = read_params(req).await?;
    let t = p.time_or("time", now_ms())?;
    let timeout = effective_timeout(&p, &state)?;
    let lookback_ms = lookback(&p)?;
    let text = p.get("query").to_owned();
    let limits = QueryLimits {
        max_samples: state.query_max_samples.load(Ordering::Relaxed),
        deadline: Instant::now() + timeout,
    };
    let store = state.store.clone();
    let shown = text.clone();
    let body = run_blocking(&state, timeout, &shown, move || {
        let expr = parse_query(&text)?;
        let value = evaluate(&store, &expr, Eval::Instant { t }, lookback_ms, limits)
            .map_err(QueryError::from_engine)?;
        let mut out = Vec::new();
        write_result(&mut out, &value, t);
        Ok(out)
    })
    .await?;
    Ok(success_raw(&body, &[]))
}

async fn query_range(State(state): State<Arc<ApiState>>, req: Request) -> Response {
    respond(query_range_inner(state, req).await)
}

async fn query_range_inner(state: Arc<ApiState>, req: Request) -> Result<Response, QueryError> {
    let p = read_params(req).await?;
    let start = p.time("start")?;
    let end = p.time("end")?;
    if end < start {
        return Err(QueryError::invalid_param(
            "end",
            "end timestamp must not be before start time",
        ));
    }
    let step_ns =
        parse_duration_ns(p.get("step")).map_err(|e| QueryError::invalid_param("step", e))?;
    if step_ns <= 0 {
        return Err(QueryError::invalid_param(
            "step",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (i128::from(end) - i128::from(start)) * 1_000_000 / step_ns > MAX_POINTS {
        return Err(QueryError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    // A step under 1ms can only pass the check above for a range under 11ms.
    let step = i64::try_from(step_ns / 1_000_000)
        .unwrap_or(i64::MAX)
        .max(1);
    let timeout = effective_timeout(&p, &state)?;
    let lookback_ms = lookback(&p)?;
    let text = p.get("query").to_owned();
    let limits = QueryLimits {
        max_samples: state.query_max_samples.load(Ordering::Relaxed),
        deadline: Instant::now() + timeout,
    };
    let store = state.store.clone();
    let shown = text.clone();
    let body = run_blocking(&state, timeout, &shown, move || {
        let expr = parse_query(&text)?;
        let documented = match expr.value_type() {
            ValueType::Vector | ValueType::Scalar => None,
            ValueType::Matrix => Some("range vector"),
            ValueType::String => Some("string"),
        };
        if let Some(kind) = documented {
            return Err(QueryError::invalid_param(
                "query",
                format!(
                    "invalid expression type {kind:?} for range query, must be Scalar or instant Vector"
                ),
            ));
        }
        let value = evaluate(&store, &expr, Eval::Range { start, end, step }, lookback_ms, limits)
            .map_err(QueryError::from_engine)?;
        let mut out = Vec::new();
        write_result(&mut out, &value, end);
        Ok(out)
    })
    .await?;
    Ok(success_raw(&body, &[]))
}

async fn exemplars(req: Request) -> Response {
    respond(exemplars_inner(req).await)
}

/// vitals keeps no exemplars: a valid, empty answer (Grafana asks with every query).
async fn exemplars_inner(req: Request) -> Result<Response, QueryError> {
    let p = read_params(req).await?;
    let start = p.time_or("start", MIN_TIME_MS)?;
    let end = p.time_or("end", MAX_TIME_MS)?;
    if end < start {
        return Err(QueryError::bad_data(
            "end timestamp must not be before start timestamp",
        ));
    }
    let expr = crate::promql::parse(p.get("query")).map_err(|e| match e {
        PromqlError::Parse { message, .. } => QueryError::bad_data(message),
        other => QueryError::bad_data(other.to_string()),
    })?;
    if !has_selector(&expr) {
        // Prometheus answers a query without selectors with no content at all.
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    Ok(success_raw(b"[]", &[]))
}

fn has_selector(e: &Expr) -> bool {
    match e {
        Expr::VectorSelector(_) | Expr::MatrixSelector(_) => true,
        Expr::Aggregate(a) => has_selector(&a.expr) || a.param.as_deref().is_some_and(has_selector),
        Expr::Unary(u) => has_selector(&u.expr),
        Expr::Binary(b) => has_selector(&b.lhs) || has_selector(&b.rhs),
        Expr::Paren(p) => has_selector(&p.expr),
        Expr::Subquery(s) => has_selector(&s.expr),
        Expr::Call(c) => c.args.args.iter().any(|a| has_selector(a)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => false,
    }
}

async fn format_query(req: Request) -> Response {
    respond(
        async {
            let p = read_params(req).await?;
            let expr = parse_query(p.get("query"))?;
            Ok(success(&expr.prettify(), &[]))
        }
        .await,
    )
}

// ---- metadata endpoints ----

/// Series labels matching any of `sets` with a sample in `start..=end`, deduplicated, sorted.
fn matching_series(store: &Store, sets: &[Vec<LabelMatcher>], start: i64, end: i64) -> Vec<Labels> {
    if sets.len() == 1 {
        return store.series_labels(&sets[0], start, end);
    }
    let mut all = BTreeSet::new();
    for set in sets {
        all.extend(store.series_labels(set, start, end));
    }
    all.into_iter().collect()
}

fn truncated(limit: usize, len: usize) -> Vec<String> {
    if limit > 0 && len > limit {
        vec!["results truncated due to limit".to_owned()]
    } else {
        Vec::new()
    }
}

async fn series(State(state): State<Arc<ApiState>>, req: Request) -> Response {
    respond(series_inner(state, req).await)
}

async fn series_inner(state: Arc<ApiState>, req: Request) -> Result<Response, QueryError> {
    let p = read_params(req).await?;
    let selectors = p.all("match[]");
    if selectors.is_empty() {
        return Err(QueryError::bad_data("no match[] parameter provided"));
    }
    let limit = p.limit("limit")?;
    let start = p.time_or("start", MIN_TIME_MS)?;
    let end = p.time_or("end", MAX_TIME_MS)?;
    let sets = parse_matchers(&selectors).map_err(|e| QueryError::invalid_param("match[]", e))?;
    let store = state.store.clone();
    let timeout = state.query_timeout();
    let (body, warnings) = run_blocking(&state, timeout, "series", move || {
        let mut list = matching_series(&store, &sets, start, end);
        let warnings = truncated(limit, list.len());
        if !warnings.is_empty() {
            list.truncate(limit);
        }
        let mut out = Vec::with_capacity(list.len() * 64);
        out.push(b'[');
        for (i, l) in list.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json::write_labels(&mut out, l);
        }
        out.push(b']');
        Ok((out, warnings))
    })
    .await?;
    Ok(success_raw(&body, &warnings))
}

/// `limit`, `start`, `end` and the optional `match[]` of `/labels` and `/label/../values`.
struct LabelQuery {
    limit: usize,
    start: i64,
    end: i64,
    sets: Vec<Vec<LabelMatcher>>,
}

impl LabelQuery {
    fn from_params(p: &Params) -> Result<Self, QueryError> {
        let limit = p.limit("limit")?;
        let start = p.time_or("start", MIN_TIME_MS)?;
        let end = p.time_or("end", MAX_TIME_MS)?;
        let selectors = p.all("match[]");
        let sets = if selectors.is_empty() {
            Vec::new()
        } else {
            parse_matchers(&selectors).map_err(QueryError::bad_data)?
        };
        Ok(LabelQuery {
            limit,
            start,
            end,
            sets,
        })
    }
}

fn string_list(mut list: Vec<String>, limit: usize) -> Response {
    let warnings = truncated(limit, list.len());
    if !warnings.is_empty() {
        list.truncate(limit);
    }
    success(&list, &warnings)
}

async fn labels(State(state): State<Arc<ApiState>>, req: Request) -> Response {
    respond(
        async {
            let p = read_params(req).await?;
            let LabelQuery {
                limit,
                start,
                end,
                sets,
            } = LabelQuery::from_params(&p)?;
            let store = state.store.clone();
            let names = run_blocking(&state, state.query_timeout(), "labels", move || {
                if sets.is_empty() {
                    return Ok(store.label_names());
                }
                let names: BTreeSet<String> = matching_series(&store, &sets, start, end)
                    .iter()
                    .flat_map(|l| l.iter().map(|l| l.name.to_string()).collect::<Vec<_>>())
                    .collect();
                Ok(names.into_iter().collect())
            })
            .await?;
            Ok(string_list(names, limit))
        }
        .await,
    )
}

async fn label_values(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    respond(
        async {
            let name = unescape_name(&name);
            if name.is_empty() {
                return Err(QueryError::bad_data(format!(
                    "invalid label name: {name:?}"
                )));
            }
            let p = read_params(req).await?;
            let LabelQuery {
                limit,
                start,
                end,
                sets,
            } = LabelQuery::from_params(&p)?;
            let store = state.store.clone();
            let values = run_blocking(&state, state.query_timeout(), "label values", move || {
                if sets.is_empty() {
                    return Ok(store.label_values(&name));
                }
                let values: BTreeSet<String> = matching_series(&store, &sets, start, end)
                    .iter()
                    .filter_map(|l| l.get(&name).map(str::to_owned))
                    .collect();
                Ok(values.into_iter().collect())
            })
            .await?;
            Ok(string_list(values, limit))
        }
        .await,
    )
}

/// Prometheus's `U__` value-encoding escape of UTF-8 label names (`U__a_2e_b` is `a.b`);
/// a malformed escape leaves the name as given, as Prometheus does.
fn unescape_name(name: &str) -> String {
    let Some(escaped) = name.strip_prefix("U__") else {
        return name.to_owned();
    };
    let mut out = String::with_capacity(escaped.len());
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        match chars.next() {
            None => return name.to_owned(),
            Some('_') => out.push('_'),
            Some(first) => {
                let mut code: u32 = 0;
                let mut digit = Some(first);
                let mut n = 0;
                loop {
                    match digit {
                        Some('_') => break,
                        Some(d) if n < 6 => match d.to_digit(16) {
                            Some(v) => code = code * 16 + v,
                            None => return name.to_owned(),
                        },
                        _ => return name.to_owned(),
                    }
                    n += 1;
                    digit = chars.next();
                }
                match char::from_u32(code) {
                    Some(c) => out.push(c),
                    None => return name.to_owned(),
                }
            }
        }
    }
    out
}

#[derive(Serialize)]
struct MetadataJson<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    help: &'a str,
    unit: &'a str,
}

fn type_name(t: MetricType) -> &'static str {
    match t {
        MetricType::Counter => "counter",
        MetricType::Gauge => "gauge",
        MetricType::Histogram => "histogram",
        MetricType::Summary => "summary",
        MetricType::Unknown => "unknown",
    }
}

async fn metadata(State(state): State<Arc<ApiState>>, req: Request) -> Response {
    respond(
        async {
            let p = read_params(req).await?;
            let number = |name: &str| -> Result<i64, QueryError> {
                match p.get(name) {
                    "" => Ok(-1),
                    v => v
                        .parse()
                        .map_err(|_| QueryError::bad_data(format!("{name} must be a number"))),
                }
            };
            let limit = number("limit")?;
            // One entry per metric is all the store keeps, so `limit_per_metric` (checked
            // for a number, as Prometheus checks it) never removes anything.
            number("limit_per_metric")?;
            let metric = p.get("metric");
            let all = state.store.all_metadata();
            let mut out: std::collections::BTreeMap<&str, [MetadataJson<'_>; 1]> =
                std::collections::BTreeMap::new();
            for (name, meta) in &all {
                if !metric.is_empty() && name != metric {
                    continue;
                }
                if limit >= 0 && out.len() as i64 >= limit {
                    break;
                }
                out.insert(
                    name,
                    [MetadataJson {
                        kind: type_name(meta.kind),
                        help: &meta.help,
                        unit: &meta.unit,
                    }],
                );
            }
            Ok(success(&out, &[]))
        }
        .await,
    )
}

// ---- rules, alerts, status ----

async fn rules_endpoint(State(state): State<Arc<ApiState>>, req: Request) -> Response {
    respond(
        async {
            let p = read_params(req).await?;
            let filter = rules::RulesFilter::from_params(&p)?;
            let snap = state.rules.get();
            Ok(success(&rules::rules(&snap, &filter), &[]))
        }
        .await,
    )
}

async fn alerts_endpoint(State(state): State<Arc<ApiState>>) -> Response {
    let snap = state.rules.get();
    success(&rules::alerts(&snap), &[])
}

async fn buildinfo() -> Response {
    success(&status::build_info(), &[])
}

fn retention(state: &ApiState) -> String {
    PromDuration(state.store.config().retention).to_string()
}

async fn flags(State(state): State<Arc<ApiState>>) -> Response {
    let lookback = PromDuration(Duration::from_millis(DEFAULT_LOOKBACK_MS as u64)).to_string();
    success(
        &status::flags(
            &PromDuration(state.query_timeout()).to_string(),
            state.query_max_samples.load(Ordering::Relaxed),
            &lookback,
            &retention(&state),
        ),
        &[],
    )
}

async fn runtimeinfo(State(state): State<Arc<ApiState>>) -> Response {
    let (ok, at) = *state.last_reload.lock();
    success(
        &status::runtime_info(state.started_ms, now_ms(), ok, at, &retention(&state)),
        &[],
    )
}

async fn not_found(req: Request<Body>) -> Response {
    error_response(&QueryError::new(
        ErrorType::NotFound,
        // Nested under /api/v1, the router sees the path without that prefix.
        format!("unknown API endpoint /api/v1{}", req.uri().path()),
    ))
}

#[cfg(test)]
mod tests;

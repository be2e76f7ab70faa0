//! Alertmanager's v2 API (`/api/v2/*`) over the alerting stage, in Alertmanager's JSON, so
//! Prometheus and Grafana can send alerts to vitals, and `amtool` and Grafana's Alertmanager
//! data source can list alerts and manage silences:
//!
//! - `POST /alerts` (token), `GET /alerts` (`filter`, `active`, `silenced`, `inhibited`,
//!   `unprocessed`, `receiver`), `GET /alerts/groups` (same filters);
//! - `GET /silences` (`filter`), `POST /silences` (token), `GET|DELETE /silence/{id}`
//!   (DELETE needs the token);
//! - `GET /status`, `GET /receivers`.
//!
//! Errors answer 400 (404 for an unknown silence) with a JSON string saying what is wrong,
//! as Alertmanager does. Without an `alerting:` section every route answers 404 saying so.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::ApiState;
use super::query::Params;
use crate::alerting::matchers::{Matchers, is_valid_label_name};
use crate::alerting::silence::{
    Silence, SilenceError, SilenceState, format_rfc3339, parse_rfc3339,
};
use crate::alerting::stage::{AlertView, GroupView};
use crate::alerting::{Alert, AlertingHandle, Labels, fingerprint_hex};
use crate::store::now_ms;

/// Largest `POST /alerts` body (10,000 alerts of a few hundred bytes fit many times).
const MAX_ALERTS_BODY: usize = 32 << 20;
/// Largest `POST /silences` body.
const MAX_SILENCE_BODY: usize = 1 << 20;

pub fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route(
            "/alerts",
            get(list_alerts)
                .post(post_alerts)
                .layer(DefaultBodyLimit::max(MAX_ALERTS_BODY)),
        )
        .route("/alerts/groups", get(list_groups))
        .route(
            "/silences",
            get(list_silences)
                .post(post_silence)
                .layer(DefaultBodyLimit::max(MAX_SILENCE_BODY)),
        )
        .route("/silence/{id}", get(get_silence).delete(delete_silence))
        .route("/status", get(status))
        .route("/receivers", get(receivers))
}

fn json(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    json(status, &Value::String(message.into()))
}

/// A refused request: its status and what is wrong.
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

fn refuse(status: StatusCode, message: impl Into<String>) -> Refusal {
    Refusal(status, message.into())
}

fn handle(state: &ApiState) -> Result<&AlertingHandle, Refusal> {
    state.alerting.get().ok_or_else(|| {
        refuse(
            StatusCode::NOT_FOUND,
            "alerting is not configured: add an alerting: section (Alertmanager's schema) to the configuration",
        )
    })
}

macro_rules! try_resp {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return r.into_response(),
        }
    };
}

fn params(query: Option<String>) -> Result<Params, Refusal> {
    Params::parse(query.as_deref(), None).map_err(|e| refuse(StatusCode::BAD_REQUEST, e.message))
}

/// A boolean query parameter, true when absent (Alertmanager's defaults).
fn flag(p: &Params, name: &str) -> Result<bool, Refusal> {
    match p.get(name) {
        "" | "true" => Ok(true),
        "false" => Ok(false),
        other => Err(refuse(
            StatusCode::BAD_REQUEST,
            format!("{name}: {other:?} is not true or false"),
        )),
    }
}

/// The `filter` parameters as one matcher list.
fn filters(p: &Params) -> Result<Matchers, Refusal> {
    let mut out = Vec::new();
    for f in p.all("filter") {
        match Matchers::parse(f) {
            Ok(ms) => out.extend(ms.0),
            Err(e) => {
                return Err(refuse(
                    StatusCode::BAD_REQUEST,
                    format!("bad matcher format: {f}: {e}"),
                ));
            }
        }
    }
    Ok(Matchers(out))
}

struct AlertFilter {
    matchers: Matchers,
    active: bool,
    silenced: bool,
    inhibited: bool,
    receiver: Option<regex::Regex>,
}

impl AlertFilter {
    fn parse(p: &Params) -> Result<AlertFilter, Refusal> {
        let receiver = match p.get("receiver") {
            "" => None,
            r => Some(regex::Regex::new(&format!("^(?:{r})$")).map_err(|e| {
                refuse(
                    StatusCode::BAD_REQUEST,
                    format!("failed to parse receiver param: {e}"),
                )
            })?),
        };
        Ok(AlertFilter {
            matchers: filters(p)?,
            active: flag(p, "active")?,
            silenced: flag(p, "silenced")?,
            inhibited: flag(p, "inhibited")?,
            receiver,
        })
    }

    /// Whether a group is listed: its own receiver matches `receiver` (Alertmanager filters
    /// groups by the group's receiver, not by every route an alert matches).
    fn keeps_group(&self, receiver: &str) -> bool {
        self.receiver
            .as_ref()
            .is_none_or(|re| re.is_match(receiver))
    }

    /// Whether an alert of a listed group is shown (the receiver was checked on the group).
    fn keeps_in_group(&self, v: &AlertView) -> bool {
        AlertFilter {
            matchers: Matchers(self.matchers.0.clone()),
            receiver: None,
            ..*self
        }
        .keeps(v)
    }

    fn keeps(&self, v: &AlertView) -> bool {
        let silenced = !v.silenced_by.is_empty();
        let inhibited = !v.inhibited_by.is_empty();
        if !self.silenced && silenced || !self.inhibited && inhibited {
            return false;
        }
        if !self.active && !silenced && !inhibited {
            return false;
        }
        if let Some(re) = &self.receiver
            && !v.receivers.iter().any(|r| re.is_match(r))
        {
            return false;
        }
        self.matchers.matches(&v.alert.labels)
    }
}

/// A `gettableAlert`.
fn alert_json(v: &AlertView) -> Value {
    let a = &v.alert;
    let suppressed = !v.silenced_by.is_empty() || !v.inhibited_by.is_empty();
    json!({
        "annotations": a.annotations,
        "endsAt": format_rfc3339(a.ends_at_ms),
        "fingerprint": fingerprint_hex(a.fingerprint()),
        "receivers": v.receivers.iter().map(|r| json!({"name": r})).collect::<Vec<_>>(),
        "startsAt": format_rfc3339(a.starts_at_ms),
        "status": {
            "inhibitedBy": v.inhibited_by,
            "silencedBy": v.silenced_by,
            "state": if suppressed { "suppressed" } else { "active" },
        },
        "updatedAt": format_rfc3339(v.updated_at_ms),
        "generatorURL": a.generator_url,
        "labels": a.labels,
    })
}

async fn list_alerts(State(state): State<Arc<ApiState>>, RawQuery(q): RawQuery) -> Response {
    let h = try_resp!(handle(&state));
    let p = try_resp!(params(q));
    let f = try_resp!(AlertFilter::parse(&p));
    let mut views: Vec<AlertView> = h.alerts().into_iter().filter(|v| f.keeps(v)).collect();
    views.sort_by_key(|v| v.alert.fingerprint());
    json(
        StatusCode::OK,
        &Value::Array(views.iter().map(alert_json).collect()),
    )
}

async fn list_groups(State(state): State<Arc<ApiState>>, RawQuery(q): RawQuery) -> Response {
    let h = try_resp!(handle(&state));
    let p = try_resp!(params(q));
    let f = try_resp!(AlertFilter::parse(&p));
    let groups: Vec<Value> = h
        .groups()
        .into_iter()
        .filter(|g| f.keeps_group(&g.receiver))
        .filter_map(|g: GroupView| {
            let alerts: Vec<Value> = g
                .alerts
                .iter()
                .filter(|v| f.keeps_in_group(v))
                .map(alert_json)
                .collect();
            (!alerts.is_empty()).then(
                || json!({"alerts": alerts, "labels": g.labels, "receiver": {"name": g.receiver}}),
            )
        })
        .collect();
    json(StatusCode::OK, &Value::Array(groups))
}

/// One `postableAlert` as sent by Prometheus and Alertmanager clients (the fast path: the
/// whole body decodes into these; a body that does not is read again as JSON values to say
/// which alert and field are wrong).
#[derive(serde::Deserialize)]
struct PostableAlert {
    #[serde(default)]
    labels: Option<Labels>,
    #[serde(default)]
    annotations: Option<Labels>,
    #[serde(default, rename = "startsAt")]
    starts_at: Option<String>,
    #[serde(default, rename = "endsAt")]
    ends_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    generator_url: Option<String>,
}

/// Checks a decoded alert as Alertmanager's `Alert.Validate` does.
fn checked(p: PostableAlert) -> Result<Alert, String> {
    let time = |key: &str, v: &Option<String>| -> Result<i64, String> {
        match v.as_deref() {
            None | Some("") => Ok(0),
            Some(s) if s.starts_with("0001-01-01") => Ok(0),
            Some(s) => parse_rfc3339(s).map_err(|e| format!("{key}: {e}")),
        }
    };
    let labels = p.labels.unwrap_or_default();
    if labels.is_empty() {
        return Err("at least one label pair required".into());
    }
    for (k, v) in &labels {
        if !is_valid_label_name(k) {
            return Err(format!("invalid label name {k:?}"));
        }
        if v.is_empty() {
            return Err(format!("empty value for label {k:?}"));
        }
    }
    let annotations = p.annotations.unwrap_or_default();
    if let Some(k) = annotations.keys().find(|k| !is_valid_label_name(k)) {
        return Err(format!("invalid annotation name {k:?}"));
    }
    let starts = time("startsAt", &p.starts_at)?;
    let ends = time("endsAt", &p.ends_at)?;
    if starts != 0 && ends != 0 && ends < starts {
        return Err("start time must be before end time".into());
    }
    Ok(Alert {
        labels,
        annotations,
        starts_at_ms: starts,
        ends_at_ms: ends,
        generator_url: p.generator_url.unwrap_or_default(),
        timeout: false,
    })
}

/// One alert of a body that did not decode as a whole: what is wrong with it, by field.
fn postable_alert(v: &Value) -> Result<Alert, String> {
    let obj = v.as_object().ok_or("an alert must be a JSON object")?;
    let map = |key: &str| -> Result<Option<Labels>, String> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(format!("{key}.{k}: must be a string")),
                })
                .collect::<Result<Labels, String>>()
                .map(Some),
            Some(_) => Err(format!("{key}: must be an object of strings")),
        }
    };
    let text = |key: &str| -> Result<Option<String>, String> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{key}: must be a string")),
        }
    };
    checked(PostableAlert {
        labels: map("labels")?,
        annotations: map("annotations")?,
        starts_at: text("startsAt")?,
        ends_at: text("endsAt")?,
        generator_url: text("generatorURL")?,
    })
}

async fn post_alerts(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(denied) = state.authorize(&headers) {
        return denied;
    }
    let h = try_resp!(handle(&state));
    let mut alerts = Vec::new();
    let mut problems = Vec::new();
    let mut refuse_one = |i: usize, e: String| {
        h.count_invalid();
        problems.push(format!("alert [{i}]: {e}"));
    };
    match serde_json::from_slice::<Vec<PostableAlert>>(&body) {
        Ok(list) => {
            alerts.reserve(list.len());
            for (i, p) in list.into_iter().enumerate() {
                match checked(p) {
                    Ok(a) => alerts.push(a),
                    Err(e) => refuse_one(i, e),
                }
            }
        }
        Err(_) => {
            let list = match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Array(l)) => l,
                Ok(_) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "the body must be a JSON array of alerts",
                    );
                }
                Err(e) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("the body is not JSON: {e}"),
                    );
                }
            };
            for (i, v) in list.iter().enumerate() {
                match postable_alert(v) {
                    Ok(a) => alerts.push(a),
                    Err(e) => refuse_one(i, e),
                }
            }
        }
    }
    // As Alertmanager: the valid alerts are taken even when others are refused.
    h.post_alerts(alerts);
    if problems.is_empty() {
        StatusCode::OK.into_response()
    } else {
        error(StatusCode::BAD_REQUEST, problems.join("; "))
    }
}

fn silence_json(s: &Silence, now: i64) -> Value {
    s.to_json(now)
}

/// Alertmanager's order: active by end, pending by start, expired by end (latest first).
fn silence_order(s: &Silence, now: i64) -> (u8, i64) {
    match s.state(now) {
        SilenceState::Active => (0, s.ends_at_ms),
        SilenceState::Pending => (1, s.starts_at_ms),
        SilenceState::Expired => (2, -s.ends_at_ms),
    }
}

async fn list_silences(State(state): State<Arc<ApiState>>, RawQuery(q): RawQuery) -> Response {
    let h = try_resp!(handle(&state));
    let p = try_resp!(params(q));
    let f = try_resp!(filters(&p));
    let now = now_ms();
    let mut list: Vec<Silence> = h
        .silences()
        .into_iter()
        .filter(|s| {
            // Each filter matcher must match a silence matcher of the same name's value.
            f.0.iter().all(|fm| {
                s.matchers
                    .0
                    .iter()
                    .any(|m| m.name == fm.name && fm.matches_value(&m.value))
            })
        })
        .collect();
    list.sort_by_key(|s| silence_order(s, now));
    json(
        StatusCode::OK,
        &Value::Array(list.iter().map(|s| silence_json(s, now)).collect()),
    )
}

fn silence_error(e: SilenceError) -> Response {
    match e {
        SilenceError::NotFound(_) => error(StatusCode::NOT_FOUND, e.to_string()),
        // Alertmanager 0.25 answers 500 to expiring an expired silence; amtool says so.
        SilenceError::Unsaved | SilenceError::AlreadyExpired(_) => {
            error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
        _ => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

async fn post_silence(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(denied) = state.authorize(&headers) {
        return denied;
    }
    let h = try_resp!(handle(&state));
    let s: Silence = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid silence: {e}")),
    };
    match h.set_silence(s).await {
        Ok(id) => json(StatusCode::OK, &json!({"silenceID": id})),
        Err(e) => silence_error(e),
    }
}

async fn get_silence(State(state): State<Arc<ApiState>>, Path(id): Path<String>) -> Response {
    let h = try_resp!(handle(&state));
    match h.silence(&id) {
        Some(s) => json(StatusCode::OK, &silence_json(&s, now_ms())),
        None => error(StatusCode::NOT_FOUND, format!("silence {id} not found")),
    }
}

async fn delete_silence(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(denied) = state.authorize(&headers) {
        return denied;
    }
    let h = try_resp!(handle(&state));
    match h.expire_silence(&id).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => silence_error(e),
    }
}

async fn status(State(state): State<Arc<ApiState>>) -> Response {
    let h = try_resp!(handle(&state));
    json(
        StatusCode::OK,
        &json!({
            "cluster": {"name": "", "peers": [], "status": "disabled"},
            "config": {"original": "# vitals does not show its alerting configuration here: it holds secrets.\n"},
            "uptime": format_rfc3339(h.started_ms()),
            "versionInfo": {
                "branch": "",
                "buildDate": "",
                "buildUser": "",
                "goVersion": "",
                "revision": "",
                "version": concat!("vitals ", env!("CARGO_PKG_VERSION")),
            },
        }),
    )
}

async fn receivers(State(state): State<Arc<ApiState>>) -> Response {
    let h = try_resp!(handle(&state));
    let list: Vec<Value> = h.receivers().iter().map(|r| json!({"name": r})).collect();
    json(StatusCode::OK, &Value::Array(list))
}

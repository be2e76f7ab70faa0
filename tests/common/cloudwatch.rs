//! A fake CloudWatch on 127.0.0.1 that speaks what the current AWS SDK sends: Smithy RPC v2
//! CBOR (`POST /service/GraniteServiceVersion20100801/operation/<Op>`, `smithy-protocol:
//! rpc-v2-cbor`), for ListMetrics and GetMetricData, paginated. moto does not serve this
//! protocol. It records every call, can throttle the next N calls, refuses any access key but
//! the one it was given, and answers datapoints from what the test put in.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use ciborium::Value;
use tokio::net::TcpListener;

/// The access key the fake accepts.
pub const ACCESS_KEY: &str = "AKIDVITALSTEST";
/// The role STS (`POST /`, AssumeRole) lets [`ACCESS_KEY`] assume; any other is denied.
pub const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/vitals-read";
/// The temporary key AssumeRole hands out, which CloudWatch accepts too.
pub const ROLE_KEY: &str = "ASIAVITALSROLE";
/// Metrics per ListMetrics page (AWS: 500).
pub const LIST_PAGE: usize = 500;

/// One metric CloudWatch knows: namespace, name, dimensions (sorted by name).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FakeMetric {
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<(String, String)>,
}

/// One GetMetricData query as received.
#[derive(Clone, Debug)]
pub struct ReceivedQuery {
    pub id: String,
    pub namespace: String,
    pub metric: String,
    pub dimensions: Vec<(String, String)>,
    pub stat: String,
    pub period: i64,
}

/// One call as received.
#[derive(Clone, Debug)]
pub struct Call {
    pub op: String,
    pub access_key: Option<String>,
    pub queries: Vec<ReceivedQuery>,
    pub start_s: Option<f64>,
    pub end_s: Option<f64>,
    pub next_token: Option<String>,
}

#[derive(Default)]
struct Inner {
    metrics: Vec<FakeMetric>,
    /// (metric, statistic) → datapoints (epoch seconds, value) for every dimension set.
    points: BTreeMap<(FakeMetric, String), Vec<(f64, f64)>>,
    calls: Vec<Call>,
    /// The next N calls fail with (status, code).
    failing: Option<(u32, u16, String)>,
    /// Results per GetMetricData page (AWS pages by datapoints; this pages by queries).
    results_page: usize,
    /// How long each GetMetricData call takes.
    delay: std::time::Duration,
    /// GetMetricData calls being answered now, and the most at once.
    in_flight: usize,
    max_in_flight: usize,
    /// Metrics answered with `StatusCode: Forbidden` and no datapoints.
    forbidden: Vec<FakeMetric>,
}

/// The fake; cheap to clone.
#[derive(Clone)]
pub struct FakeCloudWatch {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl FakeCloudWatch {
    pub async fn start() -> FakeCloudWatch {
        let inner = Arc::new(Mutex::new(Inner {
            results_page: 500,
            ..Inner::default()
        }));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new()
            .route(
                "/service/GraniteServiceVersion20100801/operation/{op}",
                post(handle),
            )
            .route("/", post(sts))
            .with_state(inner.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeCloudWatch { addr, inner }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds a metric ListMetrics lists.
    pub fn add_metric(&self, namespace: &str, name: &str, dims: &[(&str, &str)]) -> FakeMetric {
        let mut dimensions: Vec<(String, String)> = dims
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        dimensions.sort();
        let m = FakeMetric {
            namespace: namespace.into(),
            name: name.into(),
            dimensions,
        };
        let mut g = self.inner.lock().expect("fake");
        if !g.metrics.contains(&m) {
            g.metrics.push(m.clone());
        }
        m
    }

    /// Removes a metric from ListMetrics (its resource went away).
    pub fn remove_metric(&self, m: &FakeMetric) {
        self.inner.lock().expect("fake").metrics.retain(|x| x != m);
    }

    /// Sets the datapoints of `m` for `stat` (epoch seconds, value); GetMetricData returns
    /// those inside the asked window, newest first.
    pub fn set_points(&self, m: &FakeMetric, stat: &str, points: &[(f64, f64)]) {
        self.inner
            .lock()
            .expect("fake")
            .points
            .insert((m.clone(), stat.into()), points.to_vec());
    }

    /// Answers the next `n` calls with `Throttling` (HTTP 400, as CloudWatch does).
    pub fn throttle(&self, n: u32) {
        self.fail(n, 400, "Throttling");
    }

    /// Answers the next `n` calls with HTTP `status` and error code `code`.
    pub fn fail(&self, n: u32, status: u16, code: &str) {
        self.inner.lock().expect("fake").failing = Some((n, status, code.to_string()));
    }

    /// Results per GetMetricData page.
    pub fn set_results_page(&self, n: usize) {
        self.inner.lock().expect("fake").results_page = n.max(1);
    }

    /// Makes every GetMetricData call take `d` (to see calls overlap).
    pub fn set_delay(&self, d: std::time::Duration) {
        self.inner.lock().expect("fake").delay = d;
    }

    /// The most GetMetricData calls that were being answered at once.
    pub fn max_in_flight(&self) -> usize {
        self.inner.lock().expect("fake").max_in_flight
    }

    /// Answers `m`'s queries with `StatusCode: Forbidden` (as CloudWatch does for a metric
    /// of an account the caller may not read).
    pub fn forbid(&self, m: &FakeMetric) {
        self.inner.lock().expect("fake").forbidden.push(m.clone());
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().expect("fake").calls.clone()
    }

    pub fn clear_calls(&self) {
        self.inner.lock().expect("fake").calls.clear();
    }
}

fn text(v: &str) -> Value {
    Value::Text(v.to_string())
}

fn get<'a>(map: &'a Value, key: &str) -> Option<&'a Value> {
    match map {
        Value::Map(m) => m
            .iter()
            .find(|(k, _)| matches!(k, Value::Text(t) if t == key))
            .map(|(_, v)| v),
        _ => None,
    }
}

fn get_text(map: &Value, key: &str) -> Option<String> {
    match get(map, key) {
        Some(Value::Text(t)) => Some(t.clone()),
        _ => None,
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Tag(_, inner) => number(inner),
        Value::Float(f) => Some(*f),
        Value::Integer(i) => i128::from(*i).to_string().parse().ok(),
        _ => None,
    }
}

fn dims_of(v: Option<&Value>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|d| {
                Some((
                    get_text(d, "Name")?,
                    get_text(d, "Value").unwrap_or_default(),
                ))
            })
            .collect(),
        _ => Vec::new(),
    };
    out.sort();
    out
}

fn cbor(status: StatusCode, body: Value, extra: &[(&str, &str)]) -> Response {
    let mut buf = Vec::new();
    let _ = ciborium::into_writer(&body, &mut buf);
    let mut r = (status, buf).into_response();
    let h = r.headers_mut();
    h.insert("smithy-protocol", "rpc-v2-cbor".parse().expect("header"));
    h.insert("content-type", "application/cbor".parse().expect("header"));
    for (k, v) in extra {
        let name = axum::http::HeaderName::from_bytes(k.as_bytes()).expect("header name");
        h.insert(name, v.parse().expect("header"));
    }
    r
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let query_error = format!("{code};Sender");
    cbor(
        status,
        Value::Map(vec![
            (text("__type"), text(code)),
            (text("message"), text(message)),
        ]),
        &[("x-amzn-query-error", query_error.as_str())],
    )
}

/// The access key of a SigV4 `Authorization` header.
fn access_key(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let cred = auth.split("Credential=").nth(1)?;
    Some(cred.split('/').next()?.to_string())
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(op): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if headers.get("smithy-protocol").and_then(|v| v.to_str().ok()) != Some("rpc-v2-cbor") {
        return error(
            StatusCode::BAD_REQUEST,
            "UnknownProtocol",
            "expected rpc-v2-cbor",
        );
    }
    if op == "GetMetricData" {
        let delay = {
            let mut g = inner.lock().expect("fake");
            g.in_flight += 1;
            g.max_in_flight = g.max_in_flight.max(g.in_flight);
            g.delay
        };
        tokio::time::sleep(delay).await;
        inner.lock().expect("fake").in_flight -= 1;
    }
    let Ok(req) = ciborium::from_reader::<Value, _>(&body[..]) else {
        return error(
            StatusCode::BAD_REQUEST,
            "SerializationException",
            "bad CBOR",
        );
    };
    let key = access_key(&headers);
    let next_token = get_text(&req, "NextToken");
    let mut g = inner.lock().expect("fake");
    let mut call = Call {
        op: op.clone(),
        access_key: key.clone(),
        queries: Vec::new(),
        start_s: get(&req, "StartTime").and_then(number),
        end_s: get(&req, "EndTime").and_then(number),
        next_token: next_token.clone(),
    };
    if let Some(Value::Array(qs)) = get(&req, "MetricDataQueries") {
        for q in qs {
            let stat = get(q, "MetricStat");
            let metric = stat.and_then(|s| get(s, "Metric"));
            call.queries.push(ReceivedQuery {
                id: get_text(q, "Id").unwrap_or_default(),
                namespace: metric
                    .and_then(|m| get_text(m, "Namespace"))
                    .unwrap_or_default(),
                metric: metric
                    .and_then(|m| get_text(m, "MetricName"))
                    .unwrap_or_default(),
                dimensions: dims_of(metric.and_then(|m| get(m, "Dimensions"))),
                stat: stat.and_then(|s| get_text(s, "Stat")).unwrap_or_default(),
                period: stat
                    .and_then(|s| get(s, "Period"))
                    .and_then(number)
                    .unwrap_or(0.0) as i64,
            });
        }
    }
    g.calls.push(call.clone());
    if key.as_deref() != Some(ACCESS_KEY) && key.as_deref() != Some(ROLE_KEY) {
        return error(
            StatusCode::FORBIDDEN,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        );
    }
    if let Some((n, status, code)) = g.failing.take() {
        if n > 1 {
            g.failing = Some((n - 1, status, code.clone()));
        }
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        return error(status, &code, "injected by the test");
    }
    let skip: usize = next_token.and_then(|t| t.parse().ok()).unwrap_or(0);
    match op.as_str() {
        "ListMetrics" => {
            let ns = get_text(&req, "Namespace");
            let name = get_text(&req, "MetricName");
            let wanted: Vec<String> = match get(&req, "Dimensions") {
                Some(Value::Array(a)) => a.iter().filter_map(|d| get_text(d, "Name")).collect(),
                _ => Vec::new(),
            };
            let matching: Vec<&FakeMetric> = g
                .metrics
                .iter()
                .filter(|m| ns.as_ref().is_none_or(|n| &m.namespace == n))
                .filter(|m| name.as_ref().is_none_or(|n| &m.name == n))
                .filter(|m| {
                    wanted
                        .iter()
                        .all(|w| m.dimensions.iter().any(|(k, _)| k == w))
                })
                .collect();
            let page: Vec<Value> = matching
                .iter()
                .skip(skip)
                .take(LIST_PAGE)
                .map(|m| {
                    Value::Map(vec![
                        (text("Namespace"), text(&m.namespace)),
                        (text("MetricName"), text(&m.name)),
                        (
                            text("Dimensions"),
                            Value::Array(
                                m.dimensions
                                    .iter()
                                    .map(|(k, v)| {
                                        Value::Map(vec![
                                            (text("Name"), text(k)),
                                            (text("Value"), text(v)),
                                        ])
                                    })
                                    .collect(),
                            ),
                        ),
                    ])
                })
                .collect();
            let mut out = vec![(text("Metrics"), Value::Array(page))];
            if skip + LIST_PAGE < matching.len() {
                out.push((text("NextToken"), text(&(skip + LIST_PAGE).to_string())));
            }
            cbor(StatusCode::OK, Value::Map(out), &[])
        }
        "GetMetricData" => {
            let (start, end) = (call.start_s.unwrap_or(0.0), call.end_s.unwrap_or(0.0));
            let page = g.results_page;
            let results: Vec<Value> = call
                .queries
                .iter()
                .skip(skip)
                .take(page)
                .map(|q| {
                    let key = (
                        FakeMetric {
                            namespace: q.namespace.clone(),
                            name: q.metric.clone(),
                            dimensions: q.dimensions.clone(),
                        },
                        q.stat.clone(),
                    );
                    let mut pts: Vec<(f64, f64)> = g
                        .points
                        .get(&key)
                        .map(|p| {
                            p.iter()
                                .copied()
                                .filter(|(t, _)| *t >= start && *t < end)
                                .collect()
                        })
                        .unwrap_or_default();
                    pts.sort_by(|a, b| b.0.total_cmp(&a.0));
                    let forbidden = g.forbidden.contains(&key.0);
                    if forbidden {
                        pts.clear();
                    }
                    Value::Map(vec![
                        (text("Id"), text(&q.id)),
                        (text("Label"), text(&q.metric)),
                        (
                            text("Timestamps"),
                            Value::Array(
                                pts.iter()
                                    .map(|(t, _)| Value::Tag(1, Box::new(Value::Float(*t))))
                                    .collect(),
                            ),
                        ),
                        (
                            text("Values"),
                            Value::Array(pts.iter().map(|(_, v)| Value::Float(*v)).collect()),
                        ),
                        (
                            text("StatusCode"),
                            text(if forbidden { "Forbidden" } else { "Complete" }),
                        ),
                        (
                            text("Messages"),
                            Value::Array(if forbidden {
                                vec![Value::Map(vec![
                                    (text("Code"), text("Forbidden")),
                                    (text("Value"), text("not authorized for this account")),
                                ])]
                            } else {
                                Vec::new()
                            }),
                        ),
                    ])
                })
                .collect();
            let mut out = vec![(text("MetricDataResults"), Value::Array(results))];
            if skip + page < call.queries.len() {
                out.push((text("NextToken"), text(&(skip + page).to_string())));
            }
            cbor(StatusCode::OK, Value::Map(out), &[])
        }
        _ => error(StatusCode::BAD_REQUEST, "UnknownOperationException", &op),
    }
}

/// STS's AssumeRole (awsQuery: a form body, an XML answer): [`ACCESS_KEY`] may assume
/// [`ROLE_ARN`] and gets [`ROLE_KEY`]; anything else is AccessDenied. Recorded as a call.
async fn sts(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = String::from_utf8_lossy(&body).to_string();
    let field = |name: &str| {
        form.split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .map(|v| v.replace("%3A", ":").replace("%2F", "/"))
    };
    let key = access_key(&headers);
    inner.lock().expect("fake").calls.push(Call {
        op: field("Action").unwrap_or_default(),
        access_key: key.clone(),
        queries: Vec::new(),
        start_s: None,
        end_s: None,
        next_token: None,
    });
    let xml = |status: StatusCode, body: String| {
        (status, [("content-type", "text/xml")], body).into_response()
    };
    if key.as_deref() != Some(ACCESS_KEY) || field("RoleArn").as_deref() != Some(ROLE_ARN) {
        return xml(
            StatusCode::FORBIDDEN,
            "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized to assume this role</Message></Error><RequestId>1</RequestId></ErrorResponse>".into(),
        );
    }
    xml(
        StatusCode::OK,
        format!(
            "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult><Credentials><AccessKeyId>{ROLE_KEY}</AccessKeyId><SecretAccessKey>role-secret</SecretAccessKey><SessionToken>role-token</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROAVITALS:vitals</AssumedRoleId><Arn>arn:aws:sts::123456789012:assumed-role/vitals-read/vitals</Arn></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleResponse>"
        ),
    )
}

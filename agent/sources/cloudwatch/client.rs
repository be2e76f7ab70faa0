//! CloudWatch calls through the AWS SDK (Smithy RPC v2 CBOR): ListMetrics for discovery and
//! GetMetricData for the datapoints, each paginated, and what their errors mean. The SDK's
//! standard retry (3 attempts, exponential backoff with jitter) takes throttling codes and
//! 5xx answers; what still fails is a [`CallError`] with a reason for
//! `vitals_cloudwatch_errors_total{reason}`, and the job tries again on its next run.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::config::retry::RetryConfig;
use aws_sdk_cloudwatch::config::timeout::TimeoutConfig;
use aws_sdk_cloudwatch::config::{BehaviorVersion, Region};
use aws_sdk_cloudwatch::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    Dimension, DimensionFilter, Metric, MetricDataQuery, MetricStat, RecentlyActive, ScanBy,
};

use super::plan::{DimensionSet, Query, Window};
use crate::net::aws::AwsSetup;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one call (all its attempts) may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Attempts per call (the SDK's standard retry).
const ATTEMPTS: u32 = 3;

/// Why a call failed, as `vitals_cloudwatch_errors_total{reason}` counts it.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Throttled past the retries (`Throttling`, `LimitExceeded`, HTTP 429).
    #[error("{op}: throttled by CloudWatch: {message}")]
    Throttled { op: &'static str, message: String },
    /// The credentials were refused or are missing (`InvalidClientTokenId`,
    /// `SignatureDoesNotMatch`, `AccessDenied`, `ExpiredToken`, no credentials found).
    #[error("{op}: AWS refused the credentials ({code}): {message}")]
    Auth {
        op: &'static str,
        code: String,
        message: String,
    },
    /// No credentials could be loaded (the chain found none, or assuming the role failed).
    #[error("{op}: cannot load AWS credentials: {message}")]
    Credentials { op: &'static str, message: String },
    /// No answer: connection, timeout or TLS failure.
    #[error("{op}: cannot reach CloudWatch: {message}")]
    Network { op: &'static str, message: String },
    /// Any other error answer (`InvalidParameterValue`, 5xx past the retries, …).
    #[error("{op}: CloudWatch answered {code}: {message}")]
    Service {
        op: &'static str,
        code: String,
        message: String,
    },
}

impl CallError {
    /// The `reason` label.
    pub fn reason(&self) -> &'static str {
        match self {
            CallError::Throttled { .. } => "throttled",
            CallError::Auth { .. } | CallError::Credentials { .. } => "auth",
            CallError::Network { .. } => "network",
            CallError::Service { .. } => "service",
        }
    }

    fn of<E, R>(op: &'static str, e: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        match &e {
            SdkError::ServiceError(s) => {
                let err = s.err();
                let code = err.code().unwrap_or("unknown").to_string();
                let message = err.message().unwrap_or("").to_string();
                match code.as_str() {
                    "Throttling"
                    | "ThrottlingException"
                    | "LimitExceeded"
                    | "RequestLimitExceeded"
                    | "TooManyRequestsException" => CallError::Throttled { op, message },
                    "InvalidClientTokenId"
                    | "SignatureDoesNotMatch"
                    | "AccessDenied"
                    | "AccessDeniedException"
                    | "ExpiredToken"
                    | "UnrecognizedClientException"
                    | "InvalidAccessKeyId"
                    | "MissingAuthenticationToken" => CallError::Auth { op, code, message },
                    _ => CallError::Service { op, code, message },
                }
            }
            SdkError::ResponseError(_) => CallError::Service {
                op,
                code: "unreadable".into(),
                message: chain(&e),
            },
            _ => {
                let message = chain(&e);
                // Credentials that cannot be loaded fail before the request is sent.
                if is_credentials_error(&e) {
                    CallError::Credentials { op, message }
                } else {
                    CallError::Network { op, message }
                }
            }
        }
    }
}

/// Whether a credentials provider's error is in `e`'s source chain.
fn is_credentials_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err
            .downcast_ref::<aws_credential_types::provider::error::CredentialsError>()
            .is_some()
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// An error and its sources, each once, as one line (`a: b: c`), without the SDK's debug
/// dump.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = err.source();
    }
    parts.join(": ")
}

/// What GetMetricData returned for one query.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueryResult {
    /// `(timestamp ms, value)`, newest first.
    pub points: Vec<(i64, f64)>,
    /// `StatusCode` when it is neither `Complete` nor `PartialData` (`InternalError`,
    /// `Forbidden`), with CloudWatch's messages: the points are not to be trusted.
    pub failed: Option<String>,
}

/// A CloudWatch client for one region and identity.
#[derive(Clone, Debug)]
pub struct CloudWatchClient {
    client: Client,
}

impl CloudWatchClient {
    /// The client of `setup` in `region`; the credentials resolve on the first call.
    pub fn new(setup: &Arc<AwsSetup>, region: &str) -> Self {
        let mut b = aws_sdk_cloudwatch::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .credentials_provider(setup.provider())
            .http_client(setup.http.clone())
            .retry_config(RetryConfig::standard().with_max_attempts(ATTEMPTS))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_timeout(CALL_TIMEOUT)
                    .build(),
            );
        if let Some(e) = &setup.endpoint {
            b = b.endpoint_url(e);
        }
        CloudWatchClient {
            client: Client::from_conf(b.build()),
        }
    }

    /// The dimension sets of `metric` in `namespace` that had data in the last 3 hours
    /// (`RecentlyActive: PT3H`), every page; `calls` counts the pages requested. When
    /// `dimensions` is not empty only metrics with each of those names are listed.
    pub async fn list_metrics(
        &self,
        namespace: &str,
        metric: &str,
        dimensions: &[String],
        calls: &mut u64,
    ) -> Result<Vec<DimensionSet>, CallError> {
        let filters: Vec<DimensionFilter> = dimensions
            .iter()
            .map(|d| DimensionFilter::builder().name(d).build())
            .collect();
        let mut pages = self
            .client
            .list_metrics()
            .namespace(namespace)
            .metric_name(metric)
            .set_dimensions(Some(filters).filter(|f| !f.is_empty()))
            .recently_active(RecentlyActive::Pt3H)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            *calls += 1;
            let page = page.map_err(|e| CallError::of("ListMetrics", e))?;
            for m in page.metrics() {
                let mut set: DimensionSet = m
                    .dimensions()
                    .iter()
                    .filter_map(|d| Some((d.name()?.to_string(), d.value()?.to_string())))
                    .collect();
                set.sort();
                out.push(set);
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// The datapoints of `queries` (at most 500, ids unique) over `window`, newest first,
    /// every page; `calls` counts the pages requested. Queries CloudWatch returned nothing
    /// for are absent from the answer; a query CloudWatch could not answer carries `failed`.
    pub async fn get_metric_data(
        &self,
        namespace: &str,
        period: Duration,
        window: Window,
        queries: &[Query],
        calls: &mut u64,
    ) -> Result<Vec<(String, QueryResult)>, CallError> {
        let period = i32::try_from(period.as_secs()).unwrap_or(i32::MAX);
        let queries: Vec<MetricDataQuery> = queries
            .iter()
            .map(|q| {
                let metric = Metric::builder()
                    .namespace(namespace)
                    .metric_name(&q.metric)
                    .set_dimensions(Some(
                        q.dimensions
                            .iter()
                            .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                            .collect(),
                    ))
                    .build();
                MetricDataQuery::builder()
                    .id(&q.id)
                    .metric_stat(
                        MetricStat::builder()
                            .metric(metric)
                            .period(period)
                            .stat(&q.statistic)
                            .build(),
                    )
                    .return_data(true)
                    .build()
            })
            .collect();
        let mut pages = self
            .client
            .get_metric_data()
            .set_metric_data_queries(Some(queries))
            .start_time(DateTime::from_millis(window.start_ms))
            .end_time(DateTime::from_millis(window.end_ms))
            .scan_by(ScanBy::TimestampDescending)
            .into_paginator()
            .send();
        let mut out: Vec<(String, QueryResult)> = Vec::new();
        let mut at: HashMap<String, usize> = HashMap::new();
        while let Some(page) = pages.next().await {
            *calls += 1;
            let page = page.map_err(|e| CallError::of("GetMetricData", e))?;
            for r in page.metric_data_results() {
                let Some(id) = r.id() else { continue };
                let points = r
                    .timestamps()
                    .iter()
                    .zip(r.values())
                    .filter_map(|(t, v)| Some((t.to_millis().ok()?, *v)));
                let failed = r
                    .status_code()
                    .map(|c| c.as_str())
                    .filter(|c| !matches!(*c, "Complete" | "PartialData"))
                    .map(|c| {
                        let why: Vec<&str> =
                            r.messages().iter().filter_map(|m| m.value()).collect();
                        format!("{c}: {}", why.join("; "))
                    });
                // A query's datapoints may continue on the next page.
                let i = *at.entry(id.to_string()).or_insert_with(|| {
                    out.push((id.to_string(), QueryResult::default()));
                    out.len() - 1
                });
                if let Some((_, q)) = out.get_mut(i) {
                    q.points.extend(points);
                    if failed.is_some() {
                        q.failed = failed;
                    }
                }
            }
        }
        Ok(out)
    }
}

//! `otlp:`, the receiver's section of the configuration, and its validated form.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::logs::LogCounter;
use super::series::Limits;
use super::spans::DEFAULT_BUCKETS;
use crate::config::{FieldError, PromDuration, Secret, Section, resolve_secret_file};
pub use crate::net::tls::ServerTlsConfig;
use crate::net::{ConnectionLimits, ConnectionsConfig};

/// `otlp:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// OTLP/gRPC listen address; empty disables gRPC.
    #[serde(default = "defaults::otlp_grpc")]
    pub grpc_listen: String,
    /// OTLP/HTTP listen address (`/v1/metrics`, `/v1/traces`, `/v1/logs`); empty disables HTTP.
    #[serde(default = "defaults::otlp_http")]
    pub http_listen: String,
    /// Bearer token senders must present (`Authorization: Bearer ...`). Empty: none.
    #[serde(default)]
    pub auth_token: Secret,
    /// Read `auth_token` from this file instead.
    #[serde(default)]
    pub auth_token_file: Option<PathBuf>,
    /// Most series OTLP data may create; points that would create more are refused
    /// (partial success) and counted in `vitals_otlp_rejected_points_total`.
    #[serde(default = "defaults::otlp_max_series")]
    pub max_series: usize,
    /// Largest request accepted, in bytes, checked after decompression too (gRPC and HTTP).
    #[serde(default = "defaults::otlp_max_message_bytes")]
    pub max_message_bytes: usize,
    /// Most labels one series may have; a point with more is refused.
    #[serde(default = "defaults::otlp_max_labels")]
    pub max_labels: usize,
    /// Longest label name, in bytes; a point with a longer one is refused.
    #[serde(default = "defaults::otlp_max_label_name_length")]
    pub max_label_name_length: usize,
    /// Longest label value, in bytes; a point with a longer one is refused.
    #[serde(default = "defaults::otlp_max_label_value_length")]
    pub max_label_value_length: usize,
    /// Upper bounds of the span duration histogram; default the Collector spanmetrics
    /// connector's (2ms ... 15s).
    #[serde(default)]
    pub span_duration_buckets: Option<Vec<PromDuration>>,
    /// Extra counters of log records whose body matches a regex.
    #[serde(default)]
    pub log_counters: Vec<LogCounterConfig>,
    /// Serve both listeners over TLS with this certificate (and, with `client_ca_file`,
    /// only to clients with a certificate signed by that CA).
    #[serde(default)]
    pub tls: Option<ServerTlsConfig>,
    /// Re-send everything received, unchanged, to an upstream collector.
    #[serde(default)]
    pub forward: Option<ForwardConfig>,
    /// Limits on each listener's connections (count, header/idle/body timeouts).
    #[serde(default)]
    pub connections: ConnectionsConfig,
}

/// One entry of `otlp.log_counters`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogCounterConfig {
    /// Metric name; `_total` is added when missing.
    pub name: String,
    /// Regular expression searched for in the record's body.
    #[serde(rename = "match")]
    pub pattern: String,
}

/// `otlp.forward:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardConfig {
    /// Base URL of an OTLP/HTTP receiver, e.g. `http://collector:4318`; requests go to
    /// `/v1/metrics`, `/v1/traces`, `/v1/logs` under it as protobuf.
    pub endpoint: String,
    /// Requests waiting to be forwarded; when full, new ones are dropped and counted in
    /// `vitals_otlp_forward_dropped_total`.
    #[serde(default = "defaults::forward_queue")]
    pub queue_size: usize,
    /// Timeout of one forwarding attempt.
    #[serde(default = "defaults::forward_timeout")]
    pub timeout: PromDuration,
    /// Attempts per request (with exponential backoff) before it is dropped.
    #[serde(default = "defaults::forward_attempts")]
    pub max_attempts: u32,
    /// Extra headers sent upstream (e.g. an authorization header).
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
}

impl Section for OtlpConfig {}

mod defaults {
    use crate::config::PromDuration;
    use std::time::Duration;

    pub fn otlp_grpc() -> String {
        "0.0.0.0:4317".into()
    }
    pub fn otlp_http() -> String {
        "0.0.0.0:4318".into()
    }
    pub fn otlp_max_series() -> usize {
        500_000
    }
    pub fn otlp_max_message_bytes() -> usize {
        16 << 20
    }
    pub fn otlp_max_labels() -> usize {
        64
    }
    pub fn otlp_max_label_name_length() -> usize {
        256
    }
    pub fn otlp_max_label_value_length() -> usize {
        4096
    }
    pub fn forward_queue() -> usize {
        1000
    }
    pub fn forward_timeout() -> PromDuration {
        Duration::from_secs(10).into()
    }
    pub fn forward_attempts() -> u32 {
        5
    }
}

impl OtlpConfig {
    /// Validates the section, reading `auth_token_file` into `auth_token`; every problem,
    /// with paths relative to the section.
    pub fn build(&mut self) -> Result<OtlpSpec, Vec<FieldError>> {
        let mut errors = Vec::new();
        resolve_secret_file(
            "auth_token",
            &mut self.auth_token,
            self.auth_token_file.as_ref(),
            &mut errors,
        );
        match OtlpSpec::build(self) {
            Ok(spec) if errors.is_empty() => Ok(spec),
            Ok(_) => Err(errors),
            Err(more) => {
                errors.extend(more);
                Err(errors)
            }
        }
    }
}

/// `otlp.forward`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardSpec {
    pub endpoint: Url,
    pub queue_size: usize,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub headers: HeaderMap,
}

/// The receiver's settings, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpSpec {
    pub grpc_listen: Option<SocketAddr>,
    pub http_listen: Option<SocketAddr>,
    pub auth_token: Secret,
    pub max_message_bytes: usize,
    pub limits: Limits,
    pub span_buckets: Vec<f64>,
    pub log_counters: Vec<LogCounter>,
    pub tls: Option<ServerTlsConfig>,
    pub forward: Option<ForwardSpec>,
    pub connections: ConnectionLimits,
}

fn listen(field: &str, value: &str, errors: &mut Vec<FieldError>) -> Option<SocketAddr> {
    if value.is_empty() {
        return None;
    }
    match value.parse() {
        Ok(a) => Some(a),
        Err(_) => {
            errors.push(FieldError::new(
                field,
                format!("{value:?} is not an address: expected ip:port, e.g. 0.0.0.0:4317, or \"\" to disable"),
            ));
            None
        }
    }
}

impl OtlpSpec {
    /// Validates `otlp:`; every problem, with paths relative to it.
    pub fn build(c: &OtlpConfig) -> Result<OtlpSpec, Vec<FieldError>> {
        let mut errors = Vec::new();
        let grpc_listen = listen("grpc_listen", &c.grpc_listen, &mut errors);
        let http_listen = listen("http_listen", &c.http_listen, &mut errors);
        if c.grpc_listen.is_empty() && c.http_listen.is_empty() {
            errors.push(FieldError::new(
                "",
                "both grpc_listen and http_listen are empty: remove otlp: to disable the receiver",
            ));
        }
        for (field, value) in [
            ("max_series", c.max_series),
            ("max_message_bytes", c.max_message_bytes),
            ("max_labels", c.max_labels),
            ("max_label_name_length", c.max_label_name_length),
            ("max_label_value_length", c.max_label_value_length),
        ] {
            if value == 0 {
                errors.push(FieldError::new(field, "must be at least 1"));
            }
        }
        let span_buckets: Vec<f64> = match &c.span_duration_buckets {
            None => DEFAULT_BUCKETS.to_vec(),
            Some(b) => {
                let secs: Vec<f64> = b.iter().map(|d| d.get().as_secs_f64()).collect();
                if secs.is_empty() || secs.windows(2).any(|w| w[0] >= w[1]) {
                    errors.push(FieldError::new(
                        "span_duration_buckets",
                        "must be a non-empty list of increasing durations, e.g. [5ms, 50ms, 500ms, 5s]",
                    ));
                }
                secs
            }
        };
        let mut log_counters = Vec::new();
        for (i, lc) in c.log_counters.iter().enumerate() {
            let name_ok = lc
                .name
                .starts_with(|ch: char| ch.is_ascii_alphabetic() || ch == '_')
                && lc
                    .name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':');
            if !name_ok {
                errors.push(FieldError::new(
                    format!("log_counters[{i}].name"),
                    format!(
                        "{:?} is not a valid metric name (letters, digits, _ and :)",
                        lc.name
                    ),
                ));
            }
            match regex::Regex::new(&lc.pattern) {
                Ok(regex) => log_counters.push(LogCounter {
                    metric: if lc.name.ends_with("_total") {
                        lc.name.clone()
                    } else {
                        format!("{}_total", lc.name)
                    },
                    regex,
                }),
                Err(e) => errors.push(FieldError::new(
                    format!("log_counters[{i}].match"),
                    format!("not a valid regular expression: {e}"),
                )),
            }
        }
        if let Some(t) = &c.tls
            && let Err(e) = t.validate()
        {
            errors.extend(e.into_iter().map(|e| e.under("tls")));
        }
        let tls = c.tls.clone();
        let forward = match &c.forward {
            None => None,
            Some(f) => {
                let endpoint = match Url::parse(&f.endpoint) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                        Some(u)
                    }
                    _ => {
                        errors.push(FieldError::new(
                            "forward.endpoint",
                            format!(
                                "{:?} is not an http(s) URL, e.g. http://collector:4318",
                                f.endpoint
                            ),
                        ));
                        None
                    }
                };
                if f.queue_size == 0 {
                    errors.push(FieldError::new("forward.queue_size", "must be at least 1"));
                }
                if f.max_attempts == 0 {
                    errors.push(FieldError::new(
                        "forward.max_attempts",
                        "must be at least 1",
                    ));
                }
                let mut headers = HeaderMap::new();
                for (k, v) in &f.headers {
                    match (
                        HeaderName::from_bytes(k.as_bytes()),
                        HeaderValue::from_str(v.expose()),
                    ) {
                        (Ok(name), Ok(mut value)) => {
                            value.set_sensitive(true);
                            headers.insert(name, value);
                        }
                        _ => errors.push(FieldError::new(
                            format!("forward.headers.{k}"),
                            "is not a valid HTTP header",
                        )),
                    }
                }
                endpoint.map(|endpoint| ForwardSpec {
                    endpoint,
                    queue_size: f.queue_size,
                    timeout: f.timeout.get(),
                    max_attempts: f.max_attempts,
                    headers,
                })
            }
        };
        let connections = c
            .connections
            .build()
            .map_err(|e| errors.extend(e.into_iter().map(|e| e.under("connections"))))
            .unwrap_or_default();
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(OtlpSpec {
            grpc_listen,
            http_listen,
            auth_token: c.auth_token.clone(),
            max_message_bytes: c.max_message_bytes,
            limits: Limits {
                max_series: c.max_series,
                max_labels: c.max_labels,
                max_label_name_len: c.max_label_name_length,
                max_label_value_len: c.max_label_value_length,
            },
            span_buckets,
            log_counters,
            tls,
            forward,
            connections,
        })
    }
}

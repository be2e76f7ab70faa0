//! The validated form of `otlp:`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::logs::LogCounter;
use super::series::Limits;
use super::spans::DEFAULT_BUCKETS;
use crate::config::{FieldError, OtlpConfig, Secret};

/// `otlp.forward`, validated.
#[derive(Debug, Clone)]
pub struct ForwardSpec {
    pub endpoint: Url,
    pub queue_size: usize,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub headers: HeaderMap,
}

/// The receiver's settings, validated.
#[derive(Debug, Clone)]
pub struct OtlpSpec {
    pub grpc_listen: Option<SocketAddr>,
    pub http_listen: Option<SocketAddr>,
    pub auth_token: Secret,
    pub max_message_bytes: usize,
    pub limits: Limits,
    pub span_buckets: Vec<f64>,
    pub log_counters: Vec<LogCounter>,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub forward: Option<ForwardSpec>,
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
        let tls = match &c.tls {
            None => None,
            Some(t) => {
                for (field, path) in [
                    ("tls.cert_file", &t.cert_file),
                    ("tls.key_file", &t.key_file),
                ] {
                    if let Err(e) = std::fs::metadata(path) {
                        errors.push(FieldError::new(
                            field,
                            format!("cannot read {}: {e}", path.display()),
                        ));
                    }
                }
                Some((t.cert_file.clone(), t.key_file.clone()))
            }
        };
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
        })
    }
}

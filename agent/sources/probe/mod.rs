//! Health probes: the first source of the pipeline.
//!
//! It owns the probe targets (validated into [`ProbeSpec`]s), their schedule (`scheduler`:
//! jittered, concurrency-capped), the HTTP(S) / TCP / gRPC checks themselves (`http`, `tcp`,
//! `grpc`) and the conditions that decide success (`condition`). Each probe's result goes
//! into the store under blackbox_exporter's metric names, labelled `probe`, `instance` and
//! the target's labels.

pub mod condition;
mod config;
mod grpc;
mod http;
mod internal_events;
pub mod outcome;
mod scheduler;
mod tcp;

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::config::FieldError;
use crate::store::Labels;
pub use condition::{Condition, ConditionError, Observation};
pub use config::{ProbeDefaults, ProbeTarget, ProbesConfig, ProbesSpec, TlsClientConfig};
pub use internal_events::ProbeMetrics;
pub use outcome::{Failure, FailureReason, Outcome};
pub use scheduler::{Prober, ProberError};

/// The series the prober writes, and nothing else may: OTLP refuses points with these names
/// (`reserved_name`), so whatever reads them (the status page, probe alerts) reads what the
/// prober measured.
pub const PROBE_SERIES: [&str; 5] = [
    "probe_success",
    "probe_duration_seconds",
    "probe_http_status_code",
    "probe_http_redirects",
    "probe_ssl_earliest_cert_expiry",
];

/// Which kind of check a target gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    Http,
    Tcp,
    Grpc,
}

/// TLS settings of one target, resolved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsSettings {
    /// Extra CA certificates to trust (from `tls.ca_file`).
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// The same file as PEM text (gRPC's TLS settings take PEM).
    pub ca_pem: Option<Vec<u8>>,
    /// Accept any certificate.
    pub insecure_skip_verify: bool,
}

impl TlsSettings {
    /// True for the settings most targets share (system roots, verification on).
    pub fn is_default(&self) -> bool {
        self.extra_roots.is_empty() && !self.insecure_skip_verify
    }
}

/// What to probe and how.
// One per configured target, built once: the HTTP variant's size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Http {
        url: Url,
        method: Method,
        headers: HeaderMap,
        body: Option<Bytes>,
        max_body_bytes: u64,
        max_redirects: u32,
        tls: TlsSettings,
    },
    Tcp {
        /// `host:port` as written.
        address: String,
    },
    Grpc {
        /// `http://host:port` or `https://host:port`.
        endpoint: String,
        service: String,
        tls: TlsSettings,
    },
}

/// One validated probe target.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeSpec {
    /// The `probe` label.
    pub name: String,
    /// The `instance` label: the URL or address as written.
    pub instance: String,
    pub target: Target,
    pub interval: Duration,
    pub timeout: Duration,
    /// All must hold for `probe_success` 1.
    pub conditions: Vec<Condition>,
    /// `probe`, `instance` and the target's labels (no `__name__`).
    pub labels: Labels,
}

impl ProbeSpec {
    /// The kind of check.
    pub fn kind(&self) -> ProbeKind {
        match self.target {
            Target::Http { .. } => ProbeKind::Http,
            Target::Tcp { .. } => ProbeKind::Tcp,
            Target::Grpc { .. } => ProbeKind::Grpc,
        }
    }

    /// Validates one `probes.targets[i]` entry against the defaults; returns every problem,
    /// with paths relative to the entry.
    pub fn build(t: &ProbeTarget, d: &ProbeDefaults) -> Result<ProbeSpec, Vec<FieldError>> {
        let mut errors = Vec::new();
        if t.name.trim().is_empty() {
            errors.push(FieldError::new("name", "must not be empty"));
        }
        let interval = t.interval.unwrap_or(d.interval).get();
        let timeout = t.timeout.unwrap_or(d.timeout).get();
        if interval.is_zero() {
            errors.push(FieldError::new("interval", "must be longer than 0s"));
        }
        if timeout.is_zero() {
            errors.push(FieldError::new("timeout", "must be longer than 0s"));
        } else if timeout > interval && !interval.is_zero() {
            let path = if t.timeout.is_some() {
                "timeout"
            } else {
                "interval"
            };
            errors.push(FieldError::new(
                path,
                format!(
                    "timeout ({}) must not be longer than interval ({})",
                    crate::config::PromDuration(timeout),
                    crate::config::PromDuration(interval)
                ),
            ));
        }

        let tls = match tls_settings(t) {
            Ok(tls) => tls,
            Err(e) => {
                errors.push(e);
                TlsSettings::default()
            }
        };
        let set: Vec<&str> = [
            ("url", t.url.is_some()),
            ("tcp", t.tcp.is_some()),
            ("grpc", t.grpc.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect();
        let http_only = [
            ("method", t.method.is_some()),
            ("headers", !t.headers.is_empty()),
            ("body", t.body.is_some()),
            ("max_body_bytes", t.max_body_bytes.is_some()),
            ("max_redirects", t.max_redirects.is_some()),
        ];
        let target = match (set.as_slice(), &t.url, &t.tcp, &t.grpc) {
            (["url"], Some(url), _, _) => http_target(t, url, d, tls, &mut errors),
            (["tcp"], _, Some(addr), _) => {
                if let Err(e) = split_host_port(addr) {
                    errors.push(FieldError::new("tcp", e));
                }
                Some(Target::Tcp {
                    address: addr.clone(),
                })
            }
            (["grpc"], _, _, Some(addr)) => grpc_target(addr, &t.grpc_service, tls, &mut errors),
            ([], ..) => {
                errors.push(FieldError::new("", "needs one of url (HTTP), tcp or grpc"));
                None
            }
            _ => {
                errors.push(FieldError::new(
                    set.get(1).copied().unwrap_or(""),
                    format!(
                        "set only one of url, tcp and grpc (found {})",
                        set.join(", ")
                    ),
                ));
                None
            }
        };
        let kind = match &target {
            Some(Target::Http { .. }) => Some(ProbeKind::Http),
            Some(Target::Tcp { .. }) => Some(ProbeKind::Tcp),
            Some(Target::Grpc { .. }) => Some(ProbeKind::Grpc),
            None => None,
        };
        if kind != Some(ProbeKind::Http) && kind.is_some() {
            for (field, present) in http_only {
                if present {
                    errors.push(FieldError::new(field, "applies to url (HTTP) targets only"));
                }
            }
        }
        if kind == Some(ProbeKind::Grpc) && t.tls.insecure_skip_verify {
            errors.push(FieldError::new(
                "tls.insecure_skip_verify",
                "is not supported for grpc targets (give the server's CA in tls.ca_file)",
            ));
        }
        if !t.grpc_service.is_empty() && kind.is_some() && kind != Some(ProbeKind::Grpc) {
            errors.push(FieldError::new(
                "grpc_service",
                "applies to grpc targets only",
            ));
        }

        let mut conditions = Vec::new();
        for (i, text) in t.conditions.iter().enumerate() {
            let path = format!("conditions[{i}]");
            match Condition::parse(text) {
                Ok(c) => {
                    if let Some(kind) = kind
                        && let Err(e) = c.check_kind(kind)
                    {
                        errors.push(FieldError::new(path, e.to_string()));
                        continue;
                    }
                    conditions.push(c);
                }
                Err(e) => errors.push(FieldError::new(path, e.to_string())),
            }
        }
        if conditions.is_empty()
            && t.conditions.is_empty()
            && kind == Some(ProbeKind::Http)
            && let Ok(c) = Condition::parse("status < 400")
        {
            conditions.push(c);
        }

        for name in t.labels.keys() {
            if let Err(e) = check_label_name(name) {
                errors.push(FieldError::new(format!("labels.{name}"), e));
            }
        }

        let instance = t
            .url
            .as_ref()
            .or(t.tcp.as_ref())
            .or(t.grpc.as_ref())
            .cloned()
            .unwrap_or_default();
        match target {
            Some(target) if errors.is_empty() => {
                let labels = Labels::new(
                    t.labels
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .chain([("probe", t.name.as_str()), ("instance", instance.as_str())]),
                );
                Ok(ProbeSpec {
                    name: t.name.clone(),
                    instance,
                    target,
                    interval,
                    timeout,
                    conditions,
                    labels,
                })
            }
            _ => Err(errors),
        }
    }
}

fn http_target(
    t: &ProbeTarget,
    url: &str,
    d: &ProbeDefaults,
    tls: TlsSettings,
    errors: &mut Vec<FieldError>,
) -> Option<Target> {
    let parsed = match Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
        Ok(u) => {
            errors.push(FieldError::new(
                "url",
                format!(
                    "{url:?} is not an http:// or https:// URL with a host (scheme {:?})",
                    u.scheme()
                ),
            ));
            None
        }
        Err(e) => {
            errors.push(FieldError::new(
                "url",
                format!("{url:?} is not a URL: {e} (expected e.g. http://api:3001/health)"),
            ));
            None
        }
    };
    let method = match t.method.as_deref() {
        None => Method::GET,
        Some(m) => match Method::from_bytes(m.to_ascii_uppercase().as_bytes()) {
            Ok(m) => m,
            Err(_) => {
                errors.push(FieldError::new(
                    "method",
                    format!("{m:?} is not an HTTP method (expected e.g. GET, HEAD, POST)"),
                ));
                Method::GET
            }
        },
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &t.headers {
        let path = format!("headers.{name}");
        let Ok(hname) = HeaderName::from_bytes(name.as_bytes()) else {
            errors.push(FieldError::new(path, "is not a valid HTTP header name"));
            continue;
        };
        match HeaderValue::from_str(value) {
            Ok(mut v) => {
                // Header values often carry credentials: keep them out of Debug output.
                v.set_sensitive(true);
                headers.insert(hname, v);
            }
            // The value is not quoted: it may be a credential.
            Err(_) => errors.push(FieldError::new(
                path,
                "value has characters not allowed in an HTTP header",
            )),
        }
    }
    Some(Target::Http {
        url: parsed?,
        method,
        headers,
        body: t.body.clone().map(Bytes::from),
        max_body_bytes: t.max_body_bytes.unwrap_or(d.max_body_bytes),
        max_redirects: t.max_redirects.unwrap_or(d.max_redirects),
        tls,
    })
}

fn grpc_target(
    addr: &str,
    service: &str,
    tls: TlsSettings,
    errors: &mut Vec<FieldError>,
) -> Option<Target> {
    let (scheme, hostport) = match addr.split_once("://") {
        Some((s @ ("http" | "https"), rest)) => (s, rest),
        Some((s, _)) => {
            errors.push(FieldError::new(
                "grpc",
                format!("scheme {s:?} is not supported: write host:port, http://host:port or https://host:port"),
            ));
            return None;
        }
        None => ("http", addr),
    };
    if let Err(e) = split_host_port(hostport.trim_end_matches('/')) {
        errors.push(FieldError::new("grpc", e));
        return None;
    }
    Some(Target::Grpc {
        endpoint: format!("{scheme}://{}", hostport.trim_end_matches('/')),
        service: service.to_string(),
        tls,
    })
}

fn tls_settings(t: &ProbeTarget) -> Result<TlsSettings, FieldError> {
    let mut settings = TlsSettings {
        extra_roots: Vec::new(),
        ca_pem: None,
        insecure_skip_verify: t.tls.insecure_skip_verify,
    };
    if let Some(path) = &t.tls.ca_file {
        settings.extra_roots =
            read_pem_certs(path).map_err(|e| FieldError::new("tls.ca_file", e))?;
    }
    Ok(settings)
}

/// Checks `conditions` in order; the first that does not hold is the failure.
fn check_conditions(conditions: &[Condition], obs: &Observation<'_>) -> Option<Failure> {
    // One evaluation round parses the JSON body at most once.
    let round = condition::Evaluation::new(obs);
    conditions.iter().find_map(|c| {
        round.check(c).err().map(|detail| Failure {
            reason: FailureReason::Condition,
            condition: Some(c.text().to_string()),
            detail,
        })
    })
}

/// Reads every certificate in a PEM file; an error if there is none.
pub fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let iter = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs: Vec<_> = iter
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{} is not a PEM certificate file: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

/// Splits `host:port` (`[v6]:port` too), checking both parts.
pub fn split_host_port(addr: &str) -> Result<(&str, u16), String> {
    let bad = || format!("{addr:?} is not host:port (expected e.g. db:5432)");
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 || host.contains(['/', ' ']) {
        return Err(bad());
    }
    Ok((host, port))
}

/// Checks a Prometheus label name that a target may set.
fn check_label_name(name: &str) -> Result<(), String> {
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "{name:?} is not a valid label name (letters, digits and _, not starting with a digit)"
        ));
    }
    if name.starts_with("__") {
        return Err(format!("{name:?}: names starting with __ are reserved"));
    }
    if matches!(name, "probe" | "instance") {
        return Err(format!(
            "{name:?} is set by vitals itself and cannot be overridden"
        ));
    }
    Ok(())
}

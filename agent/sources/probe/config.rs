//! `probes:`, the prober's section of the configuration, and its validation into
//! [`ProbesSpec`].

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde::Deserialize;
use serde_yaml_ng::Value;

use super::ProbeSpec;
use crate::config::{FieldError, PromDuration, Section, schema_errors_of};

/// `probes:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbesConfig {
    /// Settings every target inherits unless it sets its own.
    #[serde(default)]
    pub defaults: ProbeDefaults,
    /// At most this many probes run at the same moment; the rest wait their turn.
    #[serde(default = "defaults::max_concurrency")]
    pub max_concurrency: usize,
    /// The targets to probe.
    #[serde(default)]
    pub targets: Vec<ProbeTarget>,
}

/// `probes.defaults:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeDefaults {
    /// Time between two probes of a target.
    #[serde(default = "defaults::probe_interval")]
    pub interval: PromDuration,
    /// A probe that takes longer fails with reason `timeout`. Must not exceed the interval.
    #[serde(default = "defaults::probe_timeout")]
    pub timeout: PromDuration,
    /// Largest response body read, in bytes; a larger body fails the probe (`body_too_large`).
    #[serde(default = "defaults::max_body_bytes")]
    pub max_body_bytes: u64,
    /// Redirects followed before the probe fails (`too_many_redirects`); 0 follows none.
    #[serde(default = "defaults::max_redirects")]
    pub max_redirects: u32,
}

/// One entry of `probes.targets`. Exactly one of `url`, `tcp`, `grpc` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeTarget {
    /// Unique name; becomes the `probe` label.
    pub name: String,
    /// HTTP(S) URL to request, e.g. `http://api:3001/api/health`.
    #[serde(default)]
    pub url: Option<String>,
    /// `host:port` to open a TCP connection to.
    #[serde(default)]
    pub tcp: Option<String>,
    /// `host:port` of a gRPC server answering `grpc.health.v1.Health/Check`
    /// (`https://host:port` for TLS).
    #[serde(default)]
    pub grpc: Option<String>,
    /// gRPC only: the service name asked about; empty means the whole server.
    #[serde(default)]
    pub grpc_service: String,
    /// HTTP only: request method (default `GET`).
    #[serde(default)]
    pub method: Option<String>,
    /// HTTP only: request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// HTTP only: request body.
    #[serde(default)]
    pub body: Option<String>,
    /// Time between probes; default `probes.defaults.interval`.
    #[serde(default)]
    pub interval: Option<PromDuration>,
    /// Probe timeout; default `probes.defaults.timeout`.
    #[serde(default)]
    pub timeout: Option<PromDuration>,
    /// Conditions that must all hold for success, e.g. `status == 200`, `body.status == UP`,
    /// `response_time < 500ms`, `cert_expiry > 14d`. HTTP default: `status < 400`.
    #[serde(default)]
    pub conditions: Vec<String>,
    /// Extra labels on every series of this target.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// TLS settings for `https://` URLs and TLS gRPC.
    #[serde(default)]
    pub tls: TlsClientConfig,
    /// HTTP only: largest body read; default `probes.defaults.max_body_bytes`.
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
    /// HTTP only: redirects followed; default `probes.defaults.max_redirects`.
    #[serde(default)]
    pub max_redirects: Option<u32>,
}

/// TLS client settings of a probe target.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsClientConfig {
    /// PEM file of CA certificates to trust, in addition to the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (expiry is still measured). For testing only.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

impl Section for ProbesConfig {
    /// Each target is checked on its own, so that every broken target is reported at once.
    fn schema_errors(value: &Value, path: &str) -> Vec<FieldError> {
        let mut out = Vec::new();
        let mut rest = value.clone();
        if let Some(Value::Sequence(targets)) =
            rest.as_mapping_mut().and_then(|m| m.remove("targets"))
        {
            for (i, t) in targets.iter().enumerate() {
                out.extend(schema_errors_of::<ProbeTarget>(
                    t,
                    &format!("{path}.targets[{i}]"),
                ));
            }
        }
        out.extend(schema_errors_of::<ProbesConfig>(&rest, path));
        out
    }
}

impl Default for ProbesConfig {
    fn default() -> Self {
        ProbesConfig {
            defaults: ProbeDefaults::default(),
            max_concurrency: defaults::max_concurrency(),
            targets: Vec::new(),
        }
    }
}

impl Default for ProbeDefaults {
    fn default() -> Self {
        ProbeDefaults {
            interval: defaults::probe_interval(),
            timeout: defaults::probe_timeout(),
            max_body_bytes: defaults::max_body_bytes(),
            max_redirects: defaults::max_redirects(),
        }
    }
}

mod defaults {
    use crate::config::PromDuration;
    use std::time::Duration;

    pub fn max_concurrency() -> usize {
        512
    }
    pub fn probe_interval() -> PromDuration {
        Duration::from_secs(15).into()
    }
    pub fn probe_timeout() -> PromDuration {
        Duration::from_secs(5).into()
    }
    pub fn max_body_bytes() -> u64 {
        1 << 20
    }
    pub fn max_redirects() -> u32 {
        10
    }
}

/// `probes:`, validated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProbesSpec {
    /// At most this many probes at once (changes need a restart).
    pub max_concurrency: usize,
    /// The targets, in file order.
    pub targets: Vec<ProbeSpec>,
}

impl ProbesConfig {
    /// Validates the section; every problem, with paths relative to it.
    pub fn build(&self) -> Result<ProbesSpec, Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.max_concurrency == 0 {
            errors.push(FieldError::new("max_concurrency", "must be at least 1"));
        }
        let d = &self.defaults;
        for (field, v) in [
            ("defaults.interval", d.interval),
            ("defaults.timeout", d.timeout),
        ] {
            if v.get().is_zero() {
                errors.push(FieldError::new(field, "must be longer than 0s"));
            }
        }
        let mut targets = Vec::new();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, target) in self.targets.iter().enumerate() {
            let path = format!("targets[{i}]");
            if let Some(first) = seen.insert(target.name.as_str(), i) {
                errors.push(FieldError::new(
                    format!("{path}.name"),
                    format!(
                        "duplicate probe name {:?} (already used by probes.targets[{first}])",
                        target.name
                    ),
                ));
            }
            match ProbeSpec::build(target, d) {
                Ok(spec) => targets.push(spec),
                Err(errs) => errors.extend(errs.into_iter().map(|e| e.under(&path))),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ProbesSpec {
            max_concurrency: self.max_concurrency,
            targets,
        })
    }
}

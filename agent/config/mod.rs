//! Configuration: the YAML schema of `vitals.yaml`, `${ENV}` expansion, secrets read from
//! `*_file` keys, and validation with `file:line:col` errors.
//!
//! This module owns the *shape* of the configuration. Each pipeline stage validates its own
//! part through a constructor that returns every problem it finds (for probes:
//! [`crate::sources::probe::ProbeSpec::build`]); [`Config::from_yaml`] gathers them all and
//! attaches positions.

mod duration;
mod env;
mod error;
pub(crate) mod position;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use duration::{DurationError, PromDuration};
pub use error::{ConfigError, ConfigErrors, FieldError};
use position::Positions;

/// The configuration embedded in the binary, used when no file is given and
/// `config/vitals.yaml` does not exist. It is the same text as the shipped `config/vitals.yaml`.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../config/vitals.yaml");

/// The name errors use for the embedded default.
pub const EMBEDDED_NAME: &str = "<embedded default>";

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The HTTP server: `/health`, `/ready`, `/metrics`, the API and the status page.
    #[serde(default)]
    pub server: ServerConfig,
    /// Where durable state lives and how much the in-memory store keeps.
    #[serde(default)]
    pub storage: StorageConfig,
    /// Health probes: HTTP(S), TCP and gRPC targets polled on an interval.
    #[serde(default)]
    pub probes: ProbesConfig,
    /// The OTLP receiver (metrics, traces, logs over gRPC and HTTP). Absent: not started.
    #[serde(default)]
    pub otlp: Option<OtlpConfig>,
    /// Alerting and recording rules (Prometheus rule-file format).
    #[serde(default)]
    pub rules: RulesConfig,
}

/// `rules:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// Rule files in Prometheus's format: paths or globs (`rules/*.yml`), relative to the
    /// working directory. A glob matching nothing is not an error; a missing named file is.
    #[serde(default)]
    pub files: Vec<String>,
    /// How often groups that set no `interval` of their own are evaluated.
    #[serde(default = "defaults::evaluation_interval")]
    pub evaluation_interval: PromDuration,
    /// Labels that identify this vitals, available to templates as `$externalLabels`.
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    /// The URL people reach this vitals at, available to templates as `$externalURL`.
    #[serde(default)]
    pub external_url: String,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            files: Vec::new(),
            evaluation_interval: defaults::evaluation_interval(),
            external_labels: BTreeMap::new(),
            external_url: String::new(),
        }
    }
}

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
    /// Serve both listeners over TLS with this certificate.
    #[serde(default)]
    pub tls: Option<ServerTlsConfig>,
    /// Re-send everything received, unchanged, to an upstream collector.
    #[serde(default)]
    pub forward: Option<ForwardConfig>,
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

/// Certificate and key for a TLS listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTlsConfig {
    /// PEM certificate chain.
    pub cert_file: PathBuf,
    /// PEM private key.
    pub key_file: PathBuf,
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

/// `server:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port the HTTP server listens on, e.g. `0.0.0.0:9470`.
    #[serde(default = "defaults::listen")]
    pub listen: String,
    /// Bearer token required on mutating API calls (`/-/reload`, silences). Empty: no token.
    #[serde(default)]
    pub api_token: Secret,
    /// Read `api_token` from this file instead (trailing newline removed).
    #[serde(default)]
    pub api_token_file: Option<PathBuf>,
    /// How long shutdown may take before the remaining stages are abandoned.
    #[serde(default = "defaults::shutdown_grace")]
    pub shutdown_grace: PromDuration,
    /// Longest a query of the Prometheus API (`/api/v1/query`, `/api/v1/query_range`, …) may
    /// run before it is answered with a timeout error (Prometheus's `--query.timeout`); a
    /// request's own `timeout` parameter can only shorten it.
    #[serde(default = "defaults::query_timeout")]
    pub query_timeout: PromDuration,
    /// Most samples one query may hold in memory at once before it fails (Prometheus's
    /// `--query.max-samples`).
    #[serde(default = "defaults::query_max_samples")]
    pub query_max_samples: usize,
}

/// `storage:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Directory for durable state (alert state, silences, the notification outbox).
    #[serde(default = "defaults::storage_path")]
    pub path: PathBuf,
    /// How much sample history the in-memory store keeps per series: the longest range the
    /// rules use plus the 5-minute lookback (default 15m). Raise it when Grafana queries vitals
    /// directly over longer ranges; long-term history belongs in a Prometheus that scrapes it.
    #[serde(default = "defaults::retention")]
    pub retention: PromDuration,
    /// A series not written for this long is dropped (Prometheus's staleness horizon).
    #[serde(default = "defaults::stale_after")]
    pub series_stale_after: PromDuration,
    /// Hard cap on live series; new series past it are refused and counted in
    /// `vitals_store_series_dropped_total`.
    #[serde(default = "defaults::max_series")]
    pub max_series: usize,
}

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

/// A secret string: never printed by `Debug`, never part of an error.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself; callers must not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when no secret was configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "Secret(<empty>)"
        } else {
            "Secret(<redacted>)"
        })
    }
}

mod defaults {
    use super::PromDuration;
    use std::path::PathBuf;
    use std::time::Duration;

    pub fn listen() -> String {
        "0.0.0.0:9470".into()
    }
    pub fn shutdown_grace() -> PromDuration {
        Duration::from_secs(10).into()
    }
    pub fn query_timeout() -> PromDuration {
        Duration::from_secs(120).into()
    }
    pub fn query_max_samples() -> usize {
        50_000_000
    }
    pub fn storage_path() -> PathBuf {
        PathBuf::from("./data")
    }
    /// The window the shipped rules need (their longest range, 10m) plus the 5m lookback.
    pub fn retention() -> PromDuration {
        Duration::from_secs(900).into()
    }
    pub fn stale_after() -> PromDuration {
        Duration::from_secs(300).into()
    }
    pub fn max_series() -> usize {
        1_000_000
    }
    pub fn max_concurrency() -> usize {
        512
    }
    pub fn evaluation_interval() -> PromDuration {
        Duration::from_secs(15).into()
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

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: defaults::listen(),
            api_token: Secret::default(),
            api_token_file: None,
            shutdown_grace: defaults::shutdown_grace(),
            query_timeout: defaults::query_timeout(),
            query_max_samples: defaults::query_max_samples(),
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            path: defaults::storage_path(),
            retention: defaults::retention(),
            series_stale_after: defaults::stale_after(),
            max_series: defaults::max_series(),
        }
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

/// A configuration that passed validation, with the values derived from it.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// Where it came from (a path, or [`EMBEDDED_NAME`]).
    pub origin: String,
    /// The configuration as written (after `${ENV}` expansion and `*_file` secrets).
    pub config: Config,
    /// `server.listen`, parsed.
    pub listen: SocketAddr,
    /// Validated probe targets, in file order.
    pub probes: Vec<crate::sources::probe::ProbeSpec>,
    /// The validated OTLP receiver, when configured.
    pub otlp: Option<crate::sources::otlp::OtlpSpec>,
    /// The rule groups of every file `rules.files` names, validated.
    pub rules: Vec<crate::rules::file::GroupSpec>,
}

impl LoadedConfig {
    /// Loads and validates the file at `path`.
    pub fn from_file(path: &Path) -> Result<LoadedConfig, ConfigErrors> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: origin.clone(),
                position: None,
                path: String::new(),
                message: format!("cannot read the configuration file: {e}"),
            }])
        })?;
        Self::from_yaml(&text, &origin, |name| std::env::var(name).ok())
    }

    /// Parses, expands and validates `text`; `origin` names it in errors, `env` looks up
    /// `${VAR}` references. Returns every error found.
    pub fn from_yaml(
        text: &str,
        origin: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<LoadedConfig, ConfigErrors> {
        let at = |position: Option<(usize, usize)>, path: &str, message: String| ConfigError {
            file: origin.to_string(),
            position,
            path: path.to_string(),
            message,
        };
        let expanded = env::expand(text, env).map_err(|errs| {
            ConfigErrors(
                errs.into_iter()
                    .map(|e| at(Some((e.line, e.col)), "", e.message))
                    .collect(),
            )
        })?;
        let positions = Positions::of(text);
        let mut config: Config = if expanded.trim().is_empty() {
            Config::default()
        } else {
            serde_yaml_ng::from_str(&expanded).map_err(|e| {
                let ConfigError {
                    position,
                    mut path,
                    message,
                    ..
                } = ConfigError::from_yaml(origin, &e);
                // serde names the enclosing mapping; the key at the error's position is the field.
                if let Some(field) =
                    position.and_then(|(line, col)| positions.path_at(position::Pos { line, col }))
                    && field.starts_with(&path)
                {
                    path = field.to_string();
                }
                // serde stops at the first problem; the other sections and probe targets are
                // checked one by one so that every broken part is reported at once.
                let mut errors = vec![at(position, &path, message)];
                for (section, message) in section_errors(&expanded) {
                    if path.starts_with(&section) || section.starts_with(&path) && !path.is_empty()
                    {
                        continue;
                    }
                    let pos = positions.value(&section).map(|p| (p.line, p.col));
                    errors.push(at(pos, &section, message));
                }
                errors.sort_by_key(|e| e.position);
                ConfigErrors(errors)
            })?
        };
        let (listen, probes, otlp, errors) = validate(&mut config);
        if !errors.is_empty() {
            let mut errors: Vec<ConfigError> = errors
                .into_iter()
                .map(|e| {
                    let pos = positions.value(&e.path).map(|p| (p.line, p.col));
                    at(pos, &e.path, e.message)
                })
                .collect();
            errors.sort_by_key(|e| e.position);
            return Err(ConfigErrors(errors));
        }
        let rules = load_rules(&config.rules, origin == EMBEDDED_NAME)?;
        match listen {
            Some(listen) => Ok(LoadedConfig {
                origin: origin.to_string(),
                config,
                listen,
                probes,
                otlp,
                rules,
            }),
            None => Err(ConfigErrors(vec![at(
                None,
                "server.listen",
                "missing".into(),
            )])),
        }
    }
}

/// Loads every rule file `rules.files` names; their errors keep their own file and position.
/// The embedded default configuration falls back to the built-in copies of the shipped rules
/// when its patterns match no file.
fn load_rules(
    rules: &RulesConfig,
    embedded: bool,
) -> Result<Vec<crate::rules::file::GroupSpec>, ConfigErrors> {
    use crate::rules::file::{LoadOptions, RuleErrors, expand_patterns, load_files, parse_text};
    // Rule errors are configuration errors already; only `rule_files[i]` is renamed to the
    // field that holds the patterns here.
    let convert = |mut e: RuleErrors| {
        for err in &mut e.0 {
            if err.path.starts_with("rule_files[") {
                err.path = err.path.replacen("rule_files", "rules.files", 1);
            }
        }
        e
    };
    let files = expand_patterns(&rules.files, Path::new("")).map_err(convert)?;
    let opts = LoadOptions {
        default_interval_ms: i64::try_from(rules.evaluation_interval.get().as_millis())
            .unwrap_or(i64::MAX),
    };
    if files.is_empty() && embedded {
        let mut groups = Vec::new();
        for (name, text) in crate::rules::EMBEDDED_RULES {
            groups.extend(parse_text(text, name, &opts).map_err(convert)?);
        }
        return Ok(groups);
    }
    load_files(&files, &opts).map_err(convert)
}

/// Deserialises each top-level section, and each probe target, on its own: the path and
/// message of every part that does not fit its schema (an unknown field names itself).
fn section_errors(text: &str) -> Vec<(String, String)> {
    use serde_yaml_ng::Value;
    fn check<T: serde::de::DeserializeOwned>(
        v: &Value,
        path: &str,
        out: &mut Vec<(String, String)>,
    ) {
        if let Err(e) = serde_yaml_ng::from_value::<T>(v.clone()) {
            let message = e.to_string();
            let path = match message
                .strip_prefix("unknown field `")
                .and_then(|m| m.split_once('`'))
            {
                Some((field, _)) => format!("{path}.{field}"),
                None => path.to_string(),
            };
            out.push((path, message));
        }
    }
    let mut out = Vec::new();
    let Ok(Value::Mapping(root)) = serde_yaml_ng::from_str::<Value>(text) else {
        return out;
    };
    for (key, v) in &root {
        let key = key.as_str().unwrap_or("?");
        match key {
            "server" => check::<ServerConfig>(v, key, &mut out),
            "storage" => check::<StorageConfig>(v, key, &mut out),
            "otlp" => check::<Option<OtlpConfig>>(v, key, &mut out),
            "rules" => check::<RulesConfig>(v, key, &mut out),
            "probes" => {
                let mut rest = v.clone();
                if let Some(Value::Sequence(targets)) =
                    rest.as_mapping_mut().and_then(|m| m.remove("targets"))
                {
                    for (i, t) in targets.iter().enumerate() {
                        check::<ProbeTarget>(t, &format!("probes.targets[{i}]"), &mut out);
                    }
                }
                check::<ProbesConfig>(&rest, key, &mut out);
            }
            other => out.push((
                other.to_string(),
                format!(
                    "unknown field `{other}`, expected one of `server`, `storage`, `probes`, `otlp`, `rules`"
                ),
            )),
        }
    }
    out
}

/// Checks everything that deserialisation cannot, reading `*_file` secrets on the way.
#[allow(clippy::type_complexity)]
fn validate(
    config: &mut Config,
) -> (
    Option<SocketAddr>,
    Vec<crate::sources::probe::ProbeSpec>,
    Option<crate::sources::otlp::OtlpSpec>,
    Vec<FieldError>,
) {
    let mut errors = Vec::new();

    let server = &mut config.server;
    let listen = match server.listen.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            errors.push(FieldError::new(
                "server.listen",
                format!(
                    "{:?} is not an address: expected ip:port, e.g. 0.0.0.0:9470",
                    server.listen
                ),
            ));
            None
        }
    };
    if let Some(file) = &server.api_token_file {
        if !server.api_token.is_empty() {
            errors.push(FieldError::new(
                "server.api_token_file",
                "set either api_token or api_token_file, not both",
            ));
        }
        match read_secret_file(file) {
            Ok(token) => server.api_token = token,
            Err(message) => errors.push(FieldError::new("server.api_token_file", message)),
        }
    }
    if server.shutdown_grace.get().is_zero() {
        errors.push(FieldError::new(
            "server.shutdown_grace",
            "must be longer than 0s",
        ));
    }
    if server.query_timeout.get().is_zero() {
        errors.push(FieldError::new(
            "server.query_timeout",
            "must be longer than 0s",
        ));
    }
    if server.query_max_samples == 0 {
        errors.push(FieldError::new(
            "server.query_max_samples",
            "must be at least 1",
        ));
    }

    let storage = &config.storage;
    if storage.retention.get() < Duration::from_secs(300) {
        errors.push(FieldError::new(
            "storage.retention",
            format!(
                "{} is shorter than the 5m lookback every query needs; use at least 5m",
                storage.retention
            ),
        ));
    }
    if storage.series_stale_after.get().is_zero() {
        errors.push(FieldError::new(
            "storage.series_stale_after",
            "must be longer than 0s",
        ));
    }
    if storage.max_series == 0 {
        errors.push(FieldError::new("storage.max_series", "must be at least 1"));
    }

    let probes = &config.probes;
    if probes.max_concurrency == 0 {
        errors.push(FieldError::new(
            "probes.max_concurrency",
            "must be at least 1",
        ));
    }
    let d = &probes.defaults;
    if d.interval.get().is_zero() {
        errors.push(FieldError::new(
            "probes.defaults.interval",
            "must be longer than 0s",
        ));
    }
    if d.timeout.get().is_zero() {
        errors.push(FieldError::new(
            "probes.defaults.timeout",
            "must be longer than 0s",
        ));
    }
    let mut specs = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, target) in probes.targets.iter().enumerate() {
        let path = format!("probes.targets[{i}]");
        if let Some(first) = seen.insert(target.name.as_str(), i) {
            errors.push(FieldError::new(
                format!("{path}.name"),
                format!(
                    "duplicate probe name {:?} (already used by probes.targets[{first}])",
                    target.name
                ),
            ));
        }
        match crate::sources::probe::ProbeSpec::build(target, d) {
            Ok(spec) => specs.push(spec),
            Err(errs) => errors.extend(errs.into_iter().map(|e| e.under(&path))),
        }
    }
    let otlp = match config.otlp.as_mut() {
        None => None,
        Some(o) => {
            if let Some(file) = &o.auth_token_file {
                if !o.auth_token.is_empty() {
                    errors.push(FieldError::new(
                        "otlp.auth_token_file",
                        "set either auth_token or auth_token_file, not both",
                    ));
                }
                match read_secret_file(file) {
                    Ok(token) => o.auth_token = token,
                    Err(message) => errors.push(FieldError::new("otlp.auth_token_file", message)),
                }
            }
            match crate::sources::otlp::OtlpSpec::build(o) {
                Ok(spec) => Some(spec),
                Err(errs) => {
                    errors.extend(errs.into_iter().map(|e| e.under("otlp")));
                    None
                }
            }
        }
    };
    let rules = &config.rules;
    if rules.evaluation_interval.get().is_zero() {
        errors.push(FieldError::new(
            "rules.evaluation_interval",
            "must be longer than 0s",
        ));
    }
    for name in rules.external_labels.keys() {
        if let Err(m) = crate::rules::file::check_label_name(name) {
            errors.push(FieldError::new(format!("rules.external_labels.{name}"), m));
        }
    }
    (listen, specs, otlp, errors)
}

/// Reads a secret from `path`, dropping one trailing newline. The error never quotes the
/// file's content.
pub fn read_secret_file(path: &Path) -> Result<Secret, String> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Secret::new(
            s.strip_suffix('\n')
                .map(|s| s.strip_suffix('\r').unwrap_or(s))
                .unwrap_or(&s),
        )),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests;

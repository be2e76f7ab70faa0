//! The root of `vitals.yaml`: the list of sections (each owned by its stage), loading a file
//! into a validated [`LoadedConfig`] with every error of every section at once, and where
//! the configuration comes from ([`ConfigSource`]).
//!
//! Adding a section touches one list: the `sections!` invocation below.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::alerting::AlertingStageSpec;
use crate::alerting::config::AlertingConfig;
use crate::api::config::{ServerConfig, ServerSpec};
use crate::config::{ConfigError, ConfigErrors, Document, FieldError, Section, SectionCheck};
use crate::rules::config::{RulesConfig, RulesSpec};
use crate::sources::cloudwatch::{CloudWatchConfig, CloudWatchSpec};
use crate::sources::otlp::{OtlpConfig, OtlpSpec};
use crate::sources::probe::{ProbesConfig, ProbesSpec};
use crate::store::StoreConfig;
use crate::store::config::StorageConfig;

/// The configuration embedded in the binary, used when no file is given and
/// `config/vitals.yaml` does not exist. It is the same text as the shipped `config/vitals.yaml`.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../config/vitals.yaml");

/// The name errors use for the embedded default.
pub const EMBEDDED_NAME: &str = "<embedded default>";

/// Declares the root [`Config`] and the list of its sections from one list of
/// `name: Type` entries, each with its doc comment.
macro_rules! sections {
    ($($(#[$doc:meta])* $name:ident: $ty:ty,)*) => {
        /// The whole configuration file, as written (after `${ENV}` expansion).
        #[derive(Debug, Clone, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Config {
            $($(#[$doc])* #[serde(default)] pub $name: $ty,)*
        }

        /// Every section's name and schema check, in the order the file documents them.
        const SECTIONS: &[(&str, SectionCheck)] = &[
            $((stringify!($name), <$ty as Section>::schema_errors),)*
        ];
    };
}

sections! {
    /// The HTTP server: `/health`, `/ready`, `/metrics`, the API and the status page.
    server: ServerConfig,
    /// Where durable state lives and how much the in-memory store keeps.
    storage: StorageConfig,
    /// Health probes: HTTP(S), TCP and gRPC targets polled on an interval.
    probes: ProbesConfig,
    /// The OTLP receiver (metrics, traces, logs over gRPC and HTTP). Absent: not started.
    otlp: Option<OtlpConfig>,
    /// AWS CloudWatch metrics pulled with GetMetricData, under YACE's names. Absent: not
    /// started.
    cloudwatch: Option<CloudWatchConfig>,
    /// Alerting and recording rules (Prometheus rule-file format).
    rules: RulesConfig,
    /// Alertmanager's configuration (routes, receivers, inhibition, time intervals,
    /// templates) plus vitals' `forward` and `delivery`; or `config_file:` naming an
    /// `alertmanager.yml`. Left out: alerts are only logged and listed.
    alerting: Option<AlertingConfig>,
}

/// A configuration that passed validation: each stage's spec, and the text it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// Where it came from (a path, or [`EMBEDDED_NAME`]).
    pub origin: String,
    /// The configuration as written (after `${ENV}` expansion and `*_file` secrets).
    pub config: Config,
    /// `server:`, validated.
    pub server: ServerSpec,
    /// `storage:`'s settings for the in-memory store.
    pub store: StoreConfig,
    /// `probes:`, validated.
    pub probes: ProbesSpec,
    /// `otlp:`, validated, when configured.
    pub otlp: Option<OtlpSpec>,
    /// `cloudwatch:`, validated, when configured.
    pub cloudwatch: Option<CloudWatchSpec>,
    /// `rules:` and the groups of every rule file it names.
    pub rules: RulesSpec,
    /// The alerting stage's spec, when `alerting:` is set.
    pub alerting: Option<AlertingStageSpec>,
    /// Problems that do not stop `run` (logged as warnings) but fail `vitals check config`:
    /// rule-file globs that match no file.
    pub warnings: ConfigErrors,
}

impl LoadedConfig {
    /// What it holds, for `vitals check config`: `3 probe targets, 9 rule groups (41 rules),
    /// OTLP on 0.0.0.0:4317 and 0.0.0.0:4318`.
    pub fn summary(&self) -> String {
        let rules: usize = self.rules.groups.iter().map(|g| g.rules.len()).sum();
        let otlp = match &self.otlp {
            None => "OTLP off".to_string(),
            Some(o) => {
                let addrs: Vec<String> = [o.grpc_listen, o.http_listen]
                    .into_iter()
                    .flatten()
                    .map(|a| a.to_string())
                    .collect();
                format!("OTLP on {}", addrs.join(" and "))
            }
        };
        let alerting = match &self.alerting {
            None => "alerting off".to_string(),
            Some(a) => {
                let n = a.receivers.len();
                let mut s = format!("{n} receiver{}", if n == 1 { "" } else { "s" });
                if !a.forward.is_empty() {
                    s.push_str(&format!(
                        ", forwarding to {} Alertmanagers",
                        a.forward.len()
                    ));
                }
                s
            }
        };
        let cloudwatch = match &self.cloudwatch {
            None => String::new(),
            Some(c) => {
                let cost = c.cost();
                let discovering = c.jobs.iter().filter(|j| j.discovers()).count();
                let mut s = format!(
                    ", {} CloudWatch job{} (GetMetricData about US${:.2} a month for the static jobs",
                    c.jobs.len(),
                    if c.jobs.len() == 1 { "" } else { "s" },
                    cost.static_usd()
                );
                if discovering > 0 {
                    s.push_str(&format!(
                        ", plus US${:.4} a month per dimension set the {discovering} discovery job{} find{}",
                        cost.per_set_usd(),
                        if discovering == 1 { "" } else { "s" },
                        if discovering == 1 { "s" } else { "" },
                    ));
                }
                s.push(')');
                s
            }
        };
        format!(
            "{} probe targets, {} rule groups ({rules} rules), {otlp}{cloudwatch}, {alerting}",
            self.probes.targets.len(),
            self.rules.groups.len(),
        )
    }

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
        let doc = Document::parse(text, origin, &env)?;
        // Schema errors do not stop validation of the rest: every error in one pass.
        let (mut config, schema): (Config, _) = doc.deserialize_lenient(SECTIONS)?;
        let mut errors: Vec<FieldError> = Vec::new();
        let mut section = |name: &str, errs: Vec<FieldError>| {
            errors.extend(errs.into_iter().map(|e| e.under(name)));
        };
        let server = config.server.build().map_err(|e| section("server", e)).ok();
        let store = config
            .storage
            .build()
            .map_err(|e| section("storage", e))
            .ok();
        let probes = config.probes.build().map_err(|e| section("probes", e)).ok();
        let otlp = match config.otlp.as_mut() {
            None => Some(None),
            Some(o) => o.build().map(Some).map_err(|e| section("otlp", e)).ok(),
        };
        let cloudwatch = match config.cloudwatch.as_ref() {
            None => Some(None),
            Some(c) => c
                .build()
                .map(Some)
                .map_err(|e| section("cloudwatch", e))
                .ok(),
        };
        section("rules", config.rules.validate());
        if let (Some(server), Some(otlp)) = (&server, &otlp) {
            errors.extend(listener_clashes(server.listen, otlp.as_ref()));
        }
        // A part left out for a schema error is validated as its default, which can make up
        // errors about values nobody wrote (a default timeout longer than the interval
        // written): errors it may have touched wait for the next run.
        errors.retain(|e| !schema.touches(&e.path));
        errors.extend(schema.errors.iter().cloned());
        let mut failed = doc.locate(errors);
        // Rule files and the alerting section are loaded even when other sections failed,
        // so their errors are reported in the same pass.
        let mut rules = None;
        if !schema.touches("rules") && !failed.0.iter().any(|e| e.path.starts_with("rules")) {
            match config.rules.load(origin == EMBEDDED_NAME) {
                Ok(r) => rules = Some(r),
                Err(e) => failed.0.extend(e.0),
            }
        }
        let external_url = match (&rules, &server) {
            (Some(r), _) if !r.external_url.is_empty() => r.external_url.clone(),
            (_, Some(server)) => default_external_url(server.listen, server.tls.is_some()),
            _ => String::new(),
        };
        let mut alerting = None;
        if let Some(a) = &config.alerting
            && !schema.touches("alerting")
        {
            match crate::alerting::load(a, &external_url, &env, &|es| doc.locate(es)) {
                Ok(a) => alerting = Some(a),
                Err(e) => failed.0.extend(e.0),
            }
        }
        if !failed.0.is_empty() {
            return Err(failed);
        }
        let Some(mut rules) = rules else {
            return Err(doc.locate(vec![FieldError::new("rules", "invalid rules section")]));
        };
        rules.external_url = external_url;
        let warnings = doc.locate(
            rules
                .unmatched
                .iter()
                .map(|e| e.clone().under("rules"))
                .collect(),
        );
        match (server, store, probes, otlp, cloudwatch) {
            (Some(server), Some(store), Some(probes), Some(otlp), Some(cloudwatch)) => {
                Ok(LoadedConfig {
                    origin: origin.to_string(),
                    config,
                    server,
                    store,
                    probes,
                    otlp,
                    cloudwatch,
                    rules,
                    alerting,
                    warnings,
                })
            }
            // Every section that failed reported at least one error above.
            _ => Err(doc.locate(vec![FieldError::new("", "invalid configuration")])),
        }
    }
}

/// Listeners configured on the same port of overlapping addresses (the same address, or one
/// of them all addresses): an error at each later one, naming the earlier.
fn listener_clashes(
    api: std::net::SocketAddr,
    otlp: Option<&crate::sources::otlp::OtlpSpec>,
) -> Vec<FieldError> {
    let mut listeners = vec![("server.listen", api)];
    if let Some(o) = otlp {
        listeners.extend(o.grpc_listen.map(|a| ("otlp.grpc_listen", a)));
        listeners.extend(o.http_listen.map(|a| ("otlp.http_listen", a)));
    }
    let overlap = |a: std::net::SocketAddr, b: std::net::SocketAddr| {
        a.port() != 0
            && a.port() == b.port()
            && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
    };
    let mut errors = Vec::new();
    for (i, &(field, addr)) in listeners.iter().enumerate() {
        if let Some((other, other_addr)) = listeners[..i].iter().find(|(_, a)| overlap(*a, addr)) {
            errors.push(FieldError::new(
                field,
                format!(
                    "{addr} clashes with {other} ({other_addr}): each listener needs its own port"
                ),
            ));
        }
    }
    errors
}

/// Where the configuration comes from; a reload reads the same place again.
/// Prometheus's default external URL: `http://<host>:<port>`, the host being the listen
/// address, or the machine's name when listening on all addresses (links in alerts and
/// notifications must lead somewhere from another machine).
fn default_external_url(listen: std::net::SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    if !listen.ip().is_unspecified() {
        return format!("{scheme}://{listen}");
    }
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    format!("{scheme}://{host}:{}", listen.port())
}

#[derive(Clone, Debug)]
pub enum ConfigSource {
    /// A file.
    File(PathBuf),
    /// [`EMBEDDED_DEFAULT`].
    Embedded,
}

/// The file `vitals run` reads when no `-c` is given, if it exists.
pub const DEFAULT_PATH: &str = "config/vitals.yaml";

impl ConfigSource {
    /// The given path, else `config/vitals.yaml` if present, else the embedded default.
    pub fn pick(path: Option<PathBuf>) -> Self {
        match path {
            Some(p) => ConfigSource::File(p),
            None if Path::new(DEFAULT_PATH).exists() => ConfigSource::File(DEFAULT_PATH.into()),
            None => ConfigSource::Embedded,
        }
    }

    /// Reads and validates the configuration.
    pub fn load(&self) -> Result<LoadedConfig, ConfigErrors> {
        match self {
            ConfigSource::File(p) => LoadedConfig::from_file(p),
            ConfigSource::Embedded => {
                LoadedConfig::from_yaml(EMBEDDED_DEFAULT, EMBEDDED_NAME, |n| std::env::var(n).ok())
            }
        }
    }
}

#[cfg(test)]
mod tests;

//! `server:`, the HTTP API's section of the configuration, and its validated form.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::config::{FieldError, PromDuration, Secret, Section, parse_listen, resolve_secret_file};
use crate::net::tls::ServerTlsConfig;
use crate::net::{ConnectionLimits, ConnectionsConfig};

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
    /// Limits on the API listener's connections (count, header/idle/body timeouts).
    #[serde(default)]
    pub connections: ConnectionsConfig,
    /// Serve the API, status page and `/metrics` over HTTPS with this certificate (and,
    /// with `client_ca_file`, only to clients with a certificate signed by that CA).
    #[serde(default)]
    pub tls: Option<ServerTlsConfig>,
}

impl Section for ServerConfig {}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: defaults::listen(),
            api_token: Secret::default(),
            api_token_file: None,
            shutdown_grace: defaults::shutdown_grace(),
            query_timeout: defaults::query_timeout(),
            query_max_samples: defaults::query_max_samples(),
            connections: ConnectionsConfig::default(),
            tls: None,
        }
    }
}

mod defaults {
    use crate::config::PromDuration;
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
}

/// `server:`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSpec {
    /// Where the API listens.
    pub listen: SocketAddr,
    /// Guards mutating calls; empty: none.
    pub api_token: Secret,
    /// How long shutdown may take.
    pub shutdown_grace: Duration,
    /// Longest a query may run.
    pub query_timeout: Duration,
    /// Most samples a query may hold.
    pub query_max_samples: usize,
    /// The listener's connection limits.
    pub connections: ConnectionLimits,
    /// HTTPS (and client certificates) on the listener; `None`: plain HTTP.
    pub tls: Option<ServerTlsConfig>,
}

impl ServerConfig {
    /// Validates the section, reading `api_token_file` into `api_token`; every problem, with
    /// paths relative to the section.
    pub fn build(&mut self) -> Result<ServerSpec, Vec<FieldError>> {
        let mut errors = Vec::new();
        let listen = parse_listen("listen", &self.listen, "0.0.0.0:9470")
            .map_err(|e| errors.push(e))
            .ok();
        resolve_secret_file(
            "api_token",
            &mut self.api_token,
            self.api_token_file.as_ref(),
            &mut errors,
        );
        for (field, d) in [
            ("shutdown_grace", self.shutdown_grace),
            ("query_timeout", self.query_timeout),
        ] {
            if d.get().is_zero() {
                errors.push(FieldError::new(field, "must be longer than 0s"));
            }
        }
        if self.query_max_samples == 0 {
            errors.push(FieldError::new("query_max_samples", "must be at least 1"));
        }
        let connections = self
            .connections
            .build()
            .map_err(|e| errors.extend(e.into_iter().map(|e| e.under("connections"))))
            .ok();
        if let Some(t) = &self.tls
            && let Err(e) = t.validate()
        {
            errors.extend(e.into_iter().map(|e| e.under("tls")));
        }
        match (listen, connections) {
            (Some(listen), Some(connections)) if errors.is_empty() => Ok(ServerSpec {
                listen,
                api_token: self.api_token.clone(),
                shutdown_grace: self.shutdown_grace.get(),
                query_timeout: self.query_timeout.get(),
                query_max_samples: self.query_max_samples,
                connections,
                tls: self.tls.clone(),
            }),
            _ => Err(errors),
        }
    }
}

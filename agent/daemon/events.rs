//! The daemon's log-and-count events: each one writes its log line and updates its
//! counters in one place (Vector's `internal_events`).

use prometheus::{IntCounterVec, IntGauge, Opts, Registry};

use crate::api::ReloadOutcome;
use crate::config::ConfigErrors;
use crate::telemetry::register;

/// The reloader's self metrics, registered where they are made.
#[derive(Clone)]
pub struct DaemonEvents {
    reloads: IntCounterVec,
    last_success: IntGauge,
}

impl DaemonEvents {
    /// The configuration the daemon starts with loaded, so the gauge starts at 1.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let events = DaemonEvents {
            reloads: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "vitals_config_reloads_total",
                        "Configuration reloads, by outcome (success, failure).",
                    ),
                    &["outcome"],
                )?,
            )?,
            last_success: register(
                registry,
                IntGauge::new(
                    "vitals_config_last_reload_successful",
                    "Whether the last configuration reload succeeded (1) or not (0).",
                )?,
            )?,
        };
        events.last_success.set(1);
        Ok(events)
    }

    /// A reload applied: what changed, what needs a restart.
    pub fn reloaded(&self, outcome: &ReloadOutcome) {
        let restart = outcome.needs_restart();
        let changed = outcome.changed();
        tracing::info!(
            summary = %outcome,
            applied = changed.join(","),
            needs_restart = restart.join(","),
            "Configuration reloaded."
        );
        self.reloads.with_label_values(&["success"]).inc();
        self.last_success.set(1);
    }

    /// A reload refused: the running configuration stays.
    pub fn reload_failed(&self, errors: &ConfigErrors) {
        tracing::error!(errors = %errors, "The new configuration is invalid; keeping the running one.");
        self.reloads.with_label_values(&["failure"]).inc();
        self.last_success.set(0);
    }
}

/// Logs each of the configuration's warnings (see [`super::LoadedConfig::warnings`]).
pub fn warn_config(cfg: &super::LoadedConfig) {
    for w in &cfg.warnings.0 {
        tracing::warn!(
            file = %w.file,
            line = w.position.map(|p| p.0),
            field = %w.path,
            problem = %w.message,
            "A configuration problem does not stop vitals but should be fixed (vitals check config fails on it)."
        );
    }
}

/// A listener reachable from other hosts with neither a token nor client certificates
/// guarding it: (config field of the
/// listener, address, config field of the missing token, what the token guards).
pub fn unguarded_listeners(
    cfg: &super::LoadedConfig,
) -> Vec<(
    &'static str,
    std::net::SocketAddr,
    &'static str,
    &'static str,
)> {
    let mut out = Vec::new();
    let exposed = |a: &std::net::SocketAddr| !a.ip().is_loopback();
    // A listener that asks every client for a certificate signed by its CA is guarded.
    let verifies = |tls: &Option<crate::net::tls::ServerTlsConfig>| {
        tls.as_ref()
            .is_some_and(crate::net::tls::ServerTlsConfig::verifies_clients)
    };
    if exposed(&cfg.server.listen) && cfg.server.api_token.is_empty() && !verifies(&cfg.server.tls)
    {
        out.push((
            "server.listen",
            cfg.server.listen,
            "server.api_token",
            "reloading the configuration, posting alerts and creating or expiring silences",
        ));
    }
    if let Some(o) = &cfg.otlp
        && o.auth_token.is_empty()
        && !verifies(&o.tls)
    {
        for (field, addr) in [
            ("otlp.grpc_listen", o.grpc_listen),
            ("otlp.http_listen", o.http_listen),
        ] {
            if let Some(a) = addr.filter(exposed) {
                out.push((
                    field,
                    a,
                    "otlp.auth_token",
                    "writing metrics into the store",
                ));
            }
        }
    }
    out
}

/// Logs one warning per listener [`unguarded_listeners`] finds.
pub fn warn_unguarded(cfg: &super::LoadedConfig) {
    for (listener, addr, token, guards) in unguarded_listeners(cfg) {
        tracing::warn!(
            listener,
            address = %addr,
            token,
            open_to = guards,
            "A listener is reachable from other hosts and no token is set: anyone who can reach it can use it. Set the token, or listen on 127.0.0.1."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::LoadedConfig;

    fn unguarded(text: &str) -> Vec<&'static str> {
        let cfg = LoadedConfig::from_yaml(text, "vitals.yaml", |_| None).expect(text);
        unguarded_listeners(&cfg).into_iter().map(|u| u.0).collect()
    }

    #[test]
    fn listeners_reachable_from_other_hosts_without_a_token_are_named() {
        let otlp = r#"otlp: {grpc_listen: "0.0.0.0:4317", http_listen: "127.0.0.1:4318"}"#;
        assert_eq!(
            unguarded(&format!("server: {{listen: \"0.0.0.0:9470\"}}\n{otlp}\n")),
            ["server.listen", "otlp.grpc_listen"]
        );
        assert_eq!(
            unguarded(&format!(
                "server: {{listen: \"[::]:9470\", api_token: t}}\n{}\n",
                otlp.replace('}', ", auth_token: t}")
            )),
            Vec::<&str>::new()
        );
        assert_eq!(
            unguarded(
                "server: {listen: \"127.0.0.1:9470\"}\notlp: {grpc_listen: \"[::1]:4317\", http_listen: \"\"}\n"
            ),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn client_certificates_guard_a_listener_a_server_certificate_alone_does_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        let (c, k) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&c, cert.pem()).expect("write");
        std::fs::write(&k, signing_key.serialize_pem()).expect("write");
        let tls = |ca: bool| {
            let ca = if ca {
                format!(", client_ca_file: \"{}\"", c.display())
            } else {
                String::new()
            };
            format!(
                "tls: {{cert_file: \"{}\", key_file: \"{}\"{ca}}}",
                c.display(),
                k.display()
            )
        };
        let config = |ca: bool| {
            format!(
                "server: {{listen: \"0.0.0.0:9470\", {t}}}\notlp: {{grpc_listen: \"0.0.0.0:4317\", http_listen: \"\", {t}}}\n",
                t = tls(ca)
            )
        };
        assert_eq!(
            unguarded(&config(false)),
            ["server.listen", "otlp.grpc_listen"]
        );
        assert_eq!(unguarded(&config(true)), Vec::<&str>::new());
    }
}

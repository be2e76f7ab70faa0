//! The reloader: on SIGHUP or `POST /-/reload`, reads the configuration again from where it
//! came from and hands each stage its new spec. Each stage applies what can change live and
//! names what needs a restart; a configuration that does not load leaves the running one in
//! place. The work (file I/O, YAML parsing, rule compilation, waiting on a rule group's lock)
//! runs on the blocking pool, never on an async worker.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::events::DaemonEvents;
use super::{ConfigSource, LoadedConfig, Stages, rule_engine_spec};
use crate::api::{ApiSpec, ReloadOutcome, ReloadRequest};
use crate::config::ConfigErrors;
use crate::stage::{Applied, Stage};

pub(super) struct Reloader {
    pub source: ConfigSource,
    /// What a reload compares with in the configuration running now (not all of it: with
    /// thousands of probe targets, a kept copy of their specs costs megabytes).
    pub current: Running,
    pub stages: Stages,
    /// `server.shutdown_grace`, read at shutdown.
    pub grace: Arc<Mutex<Duration>>,
    pub events: DaemonEvents,
}

/// The sections of the running configuration a reload compares as written.
pub(super) struct Running {
    storage: crate::store::config::StorageConfig,
    alerting: Option<crate::alerting::config::AlertingConfig>,
}

impl Running {
    pub(super) fn of(config: &LoadedConfig) -> Self {
        Running {
            storage: config.config.storage.clone(),
            alerting: config.config.alerting.clone(),
        }
    }
}

impl Reloader {
    /// Serves reload requests and SIGHUP until `stop` fires.
    pub async fn run(
        self,
        requests: Option<mpsc::Receiver<ReloadRequest>>,
        stop: CancellationToken,
    ) {
        let mut requests = requests;
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let shared = Arc::new(Mutex::new(self));
        loop {
            #[cfg(unix)]
            let hangup = async {
                match hup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let hangup = std::future::pending::<Option<()>>();
            let request = async {
                match requests.as_mut() {
                    Some(r) => r.recv().await,
                    None => std::future::pending().await,
                }
            };
            let respond = tokio::select! {
                _ = stop.cancelled() => break,
                r = request => match r {
                    Some(r) => Some(r.respond),
                    None => break,
                },
                _ = hangup => None,
            };
            let worker = shared.clone();
            let result = tokio::task::spawn_blocking(move || worker.lock().reload()).await;
            let result = match result {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "The configuration reload stopped unexpectedly.");
                    continue;
                }
            };
            if let Some(respond) = respond {
                let _ = respond.send(result);
            }
        }
    }

    /// Loads the configuration again and applies it, stage by stage in pipeline order.
    fn reload(&mut self) -> Result<ReloadOutcome, ConfigErrors> {
        let mut new = match self.source.load() {
            Ok(new) => {
                super::events::warn_config(&new);
                new
            }
            Err(errors) => {
                self.events.reload_failed(&errors);
                self.stages.api.state().record_reload(false);
                return Err(errors);
            }
        };
        let s = &self.stages;
        let mut outcome = ReloadOutcome::default();
        let mut storage = Applied::default();
        if new.config.storage != self.current.storage {
            storage.needs_restart.push("storage".into());
        }
        outcome.stages.push(("storage", storage));
        let probes = std::mem::take(&mut new.probes);
        outcome
            .stages
            .push(("probe targets", s.prober.apply(probes)));
        let otlp = match (&s.otlp, &new.otlp) {
            (Some(stage), Some(spec)) => stage.apply(spec.clone()),
            (None, None) => Applied::default(),
            _ => Applied {
                needs_restart: vec!["otlp".into()],
                ..Applied::default()
            },
        };
        outcome.stages.push(("otlp", otlp));
        let cloudwatch = match (&s.cloudwatch, &new.cloudwatch) {
            (Some(stage), Some(spec)) => stage.apply(spec.clone()),
            (None, None) => Applied::default(),
            _ => Applied {
                needs_restart: vec!["cloudwatch".into()],
                ..Applied::default()
            },
        };
        outcome.stages.push(("cloudwatch jobs", cloudwatch));
        outcome
            .stages
            .push(("rule groups", s.rules.apply(rule_engine_spec(&new))));
        let alerting = match (&s.alerting, &new.alerting) {
            (Some(stage), Some(spec)) => {
                let mut a = stage.apply(spec.clone());
                if new.config.alerting != self.current.alerting
                    || new
                        .config
                        .alerting
                        .as_ref()
                        .is_some_and(|c| c.config_file.is_some())
                {
                    a.changed.push("alerting".into());
                }
                a
            }
            (None, None) => Applied::default(),
            _ => Applied {
                needs_restart: vec!["alerting".into()],
                ..Applied::default()
            },
        };
        outcome.stages.push(("alerting", alerting));
        let mut server = s.api.apply(ApiSpec {
            server: new.server.clone(),
            rules: s.rules.view(),
            alerting: s.alerting.as_ref().map(|a| a.handle()),
        });
        let mut grace = self.grace.lock();
        if *grace != new.server.shutdown_grace {
            *grace = new.server.shutdown_grace;
            server.changed.push("server.shutdown_grace".into());
        }
        drop(grace);
        outcome.stages.push(("server", server));
        self.events.reloaded(&outcome);
        s.api.state().record_reload(true);
        self.current = Running::of(&new);
        Ok(outcome)
    }
}

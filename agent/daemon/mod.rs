//! The running daemon: builds every stage from a [`LoadedConfig`], starts them, reloads them
//! on SIGHUP or `POST /-/reload`, and stops them in pipeline order on SIGTERM/SIGINT.
//!
//! ```text
//! probe ─┐                     ┌─> rules ──(sink)──> alerting ──> notify (and forward)
//! otlp  ─┼─> store ────────────┤
//! cw    ─┘   (upkeep task)     └─> api: /metrics, /api/v1/*, status page
//! ```
//!
//! [`Daemon::build`] binds every listener (so callers can ask [`Daemon::addrs`] before
//! anything runs), [`Daemon::spawn`] starts the stages and returns a [`DaemonHandle`] whose
//! [`DaemonHandle::shutdown`] stops them: the reloader first, then sources, the rule engine,
//! alerting (its outbox committed), the store's upkeep and last the API (so `/ready` turns
//! false first and `/health` answers to the end), all within `shutdown_grace`; then the store's
//! shutdown checkpoint, written even when the grace ran out. At start the checkpoint is loaded
//! before any listener serves.

pub mod config;
mod events;
mod reload;
pub mod shutdown;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::alerting::AlertingStage;
use crate::alerting::stage::AlertingError;
use crate::api::{ApiError, ApiServer, ApiSpec};
use crate::durable::DurableError;
use crate::rules::manager::{EngineSettings, ManagerError, RuleEngineSpec, RuleManager, StartGate};
use crate::sources::cloudwatch::{CloudWatchError, CloudWatchSource};
use crate::sources::otlp::{OtlpError, OtlpStage};
use crate::sources::probe::{Prober, ProberError};
use crate::stage::{Context, Stage};
use crate::store::maintenance::Checkpointer;
use crate::store::{Store, StoreError, now_ms};
use crate::telemetry::TelemetryError;
pub use config::{ConfigSource, EMBEDDED_DEFAULT, EMBEDDED_NAME, LoadedConfig};
use events::DaemonEvents;
use reload::Reloader;

/// Why the daemon could not start; each names the stage.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("setting up self metrics: {0}")]
    Telemetry(#[from] TelemetryError),
    #[error("registering the daemon's metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("starting the store: {0}")]
    Store(#[from] StoreError),
    #[error("opening storage.path: {0}")]
    Durable(#[from] DurableError),
    #[error("the store checkpoint in storage.path: {0}")]
    Checkpoint(#[from] crate::store::checkpoint::CheckpointError),
    #[error("starting the HTTP API: {0}")]
    Api(#[from] ApiError),
    #[error("starting the prober: {0}")]
    Prober(#[from] ProberError),
    #[error("starting the OTLP receiver: {0}")]
    Otlp(#[from] OtlpError),
    #[error("starting the CloudWatch source: {0}")]
    CloudWatch(#[from] CloudWatchError),
    #[error("starting the rule engine: {0}")]
    Rules(#[from] ManagerError),
    #[error("starting alerting: {0}")]
    Alerting(#[from] AlertingError),
}

/// The addresses the daemon's listeners are bound to.
#[derive(Debug, Clone, Copy)]
pub struct Addrs {
    /// `server.listen`.
    pub api: SocketAddr,
    /// `otlp.grpc_listen`, when on.
    pub otlp_grpc: Option<SocketAddr>,
    /// `otlp.http_listen`, when on.
    pub otlp_http: Option<SocketAddr>,
}

/// Every stage, shared between the daemon's handle and the reloader.
#[derive(Clone)]
struct Stages {
    prober: Arc<Prober>,
    otlp: Option<Arc<OtlpStage>>,
    cloudwatch: Option<Arc<CloudWatchSource>>,
    rules: Arc<RuleManager>,
    alerting: Option<Arc<AlertingStage>>,
    api: Arc<ApiServer>,
}

/// A built daemon: listeners bound, durable state read, nothing running yet.
pub struct Daemon {
    ctx: Context,
    source: ConfigSource,
    config: LoadedConfig,
    stages: Stages,
    events: DaemonEvents,
    checkpointer: Checkpointer,
    /// Handed to the rule engine at start, with the start time.
    gate: StartGate,
}

/// The rule engine's spec: `rules:` plus the query limits of `server:`.
fn rule_engine_spec(cfg: &LoadedConfig) -> RuleEngineSpec {
    let r = &cfg.rules;
    RuleEngineSpec {
        settings: EngineSettings {
            external_labels: r.external_labels.clone(),
            external_url: r.external_url.clone(),
            query_max_samples: cfg.server.query_max_samples,
            query_timeout: cfg.server.query_timeout,
            subquery_step_ms: i64::try_from(r.evaluation_interval.as_millis()).unwrap_or(60_000),
        },
        groups: r.groups.clone(),
    }
}

impl Daemon {
    /// Builds every stage of `config`, which was read from `source` (a reload reads it
    /// again). Binds the API and OTLP listeners and reads durable state.
    pub async fn build(source: ConfigSource, config: LoadedConfig) -> Result<Daemon, DaemonError> {
        let registry = crate::telemetry::registry()?;
        let store = Arc::new(Store::new(config.store.clone(), &registry)?);
        let storage = &config.config.storage;
        let durable = crate::durable::open(&storage.path, &registry)?;
        let checkpointer =
            Checkpointer::new(&storage.path, storage.checkpoint_interval.get(), &registry)?;
        checkpointer.check_writable()?;
        let loaded = {
            let (c, s) = (checkpointer.clone(), store.clone());
            tokio::task::spawn_blocking(move || c.load(&s))
                .await
                .unwrap_or(Ok(None))?
        };
        let ctx = Context {
            store,
            registry,
            durable: Some(durable),
            cancel: CancellationToken::new(),
        };
        let events = DaemonEvents::new(&ctx.registry)?;
        let rules = Arc::new(RuleManager::build(rule_engine_spec(&config), &ctx).await?);
        let alerting = match &config.alerting {
            Some(spec) => {
                let stage = Arc::new(AlertingStage::build(spec.clone(), &ctx).await?);
                rules.set_sink(stage.rules_sink());
                Some(stage)
            }
            None => None,
        };
        let api = ApiServer::build(
            ApiSpec {
                server: config.server.clone(),
                rules: rules.view(),
                alerting: alerting.as_ref().map(|a| a.handle()),
            },
            &ctx,
        )
        .await?;
        let prober = Prober::build(config.probes.clone(), &ctx).await?;
        let otlp = match &config.otlp {
            Some(spec) => Some(Arc::new(OtlpStage::build(spec.clone(), &ctx).await?)),
            None => None,
        };
        let cloudwatch = match &config.cloudwatch {
            Some(spec) => Some(Arc::new(CloudWatchSource::build(spec.clone(), &ctx).await?)),
            None => None,
        };
        let gate = StartGate {
            // Set when the stages start (`spawn`).
            started_ms: 0,
            inputs: Some(prober.first_round()),
            inputs_within: config
                .probes
                .targets
                .iter()
                .map(|t| t.interval + t.timeout)
                .max()
                .unwrap_or_default()
                // A target probed hourly must not hold the rules up for an hour.
                .min(Duration::from_secs(120)),
            restored_until_ms: loaded.and_then(|l| l.written_at_ms),
            restart_grace: config.rules.restart_grace,
        };
        Ok(Daemon {
            ctx,
            source,
            config,
            stages: Stages {
                prober: Arc::new(prober),
                otlp,
                cloudwatch,
                rules,
                alerting,
                api: Arc::new(api),
            },
            events,
            checkpointer,
            gate,
        })
    }

    /// Where the listeners are bound.
    pub fn addrs(&self) -> Addrs {
        Addrs {
            api: self.stages.api.local_addr(),
            otlp_grpc: self.stages.otlp.as_ref().and_then(|o| o.grpc_addr()),
            otlp_http: self.stages.otlp.as_ref().and_then(|o| o.http_addr()),
        }
    }

    /// Starts every stage, in pipeline order, and the reloader; then `/ready` answers 200.
    pub fn spawn(self) -> DaemonHandle {
        let Daemon {
            ctx,
            source,
            config,
            stages,
            events,
            checkpointer,
            mut gate,
        } = self;
        let upkeep_stop = ctx.cancel.child_token();
        let store_upkeep = crate::store::maintenance::spawn(
            ctx.store.clone(),
            checkpointer.clone(),
            upkeep_stop.clone(),
        );
        let durable_upkeep = ctx
            .durable
            .clone()
            .map(|d| crate::durable::spawn_upkeep(d, upkeep_stop.clone()));
        let upkeep = tokio::spawn(async move {
            let _ = store_upkeep.await;
            if let Some(d) = durable_upkeep {
                let _ = d.await;
            }
        });
        gate.started_ms = now_ms();
        stages.rules.set_start_gate(gate);
        if let Some(a) = &stages.alerting {
            a.start();
        }
        stages.rules.start();
        stages.prober.start();
        if let Some(o) = &stages.otlp {
            o.start();
        }
        if let Some(c) = &stages.cloudwatch {
            c.start();
        }
        stages.api.start();
        let grace = Arc::new(Mutex::new(config.server.shutdown_grace));
        let reload_stop = ctx.cancel.child_token();
        let requests = stages.api.take_reload_requests();
        let reloader = Reloader {
            source,
            current: reload::Running::of(&config),
            stages: stages.clone(),
            grace: grace.clone(),
            events,
        };
        let reloader = tokio::spawn(reloader.run(requests, reload_stop.clone()));
        stages.api.state().set_ready(true);
        DaemonHandle {
            stages,
            store: ctx.store.clone(),
            checkpointer,
            upkeep,
            upkeep_stop,
            reloader,
            reload_stop,
            grace,
        }
    }
}

/// The running daemon.
pub struct DaemonHandle {
    stages: Stages,
    store: Arc<Store>,
    checkpointer: Checkpointer,
    upkeep: JoinHandle<()>,
    upkeep_stop: CancellationToken,
    reloader: JoinHandle<()>,
    reload_stop: CancellationToken,
    grace: Arc<Mutex<Duration>>,
}

impl DaemonHandle {
    /// `server.shutdown_grace` as last loaded.
    pub fn grace(&self) -> Duration {
        *self.grace.lock()
    }

    /// Stops every stage in pipeline order within `grace`, then writes the store's shutdown
    /// checkpoint (also when the grace ran out: an evaluation still running then must not
    /// cost the samples). Returns false when the grace period ran out and the remaining
    /// stages were abandoned.
    pub async fn shutdown(self, grace: Duration) -> bool {
        let DaemonHandle {
            stages,
            store,
            checkpointer,
            upkeep,
            upkeep_stop,
            reloader,
            reload_stop,
            ..
        } = self;
        stages.api.state().set_ready(false);
        let Stages {
            prober,
            otlp,
            cloudwatch,
            rules,
            alerting,
            api,
        } = stages;
        let mut steps: Vec<shutdown::Step> = vec![(
            "reload",
            Box::pin(async move {
                reload_stop.cancel();
                let _ = reloader.await;
            }),
        )];
        steps.push(("probes", Box::pin(async move { prober.stop().await })));
        if let Some(o) = otlp {
            steps.push(("otlp", Box::pin(async move { o.stop().await })));
        }
        if let Some(c) = cloudwatch {
            steps.push(("cloudwatch", Box::pin(async move { c.stop().await })));
        }
        steps.push(("rules", Box::pin(async move { rules.stop().await })));
        if let Some(a) = alerting {
            steps.push(("alerting", Box::pin(async move { a.stop().await })));
        }
        steps.push((
            "store",
            Box::pin(async move {
                upkeep_stop.cancel();
                let _ = upkeep.await;
            }),
        ));
        steps.push(("api", Box::pin(async move { api.stop().await })));
        let stopped = shutdown::stop_in_order(steps, grace).await;
        checkpointer.write_final(&store).await;
        stopped
    }
}

/// Builds and runs the daemon until SIGTERM or SIGINT, then stops it within
/// `server.shutdown_grace` (as last reloaded).
pub async fn run(source: ConfigSource, cfg: LoadedConfig) -> Result<(), DaemonError> {
    let (origin, probes, groups) = (
        cfg.origin.clone(),
        cfg.probes.targets.len(),
        cfg.rules.groups.len(),
    );
    events::warn_unguarded(&cfg);
    events::warn_config(&cfg);
    let daemon = Daemon::build(source, cfg).await?;
    let addrs = daemon.addrs();
    let handle = daemon.spawn();
    tracing::info!(
        config = %origin,
        listen = %addrs.api,
        otlp_grpc = addrs.otlp_grpc.map(|a| a.to_string()),
        otlp_http = addrs.otlp_http.map(|a| a.to_string()),
        probes,
        rule_groups = groups,
        "vitals is running."
    );
    let signal = shutdown::signal().await;
    let grace = handle.grace();
    tracing::info!(signal, grace = ?grace, "Shutting down.");
    if handle.shutdown(grace).await {
        tracing::info!("vitals stopped.");
    }
    Ok(())
}

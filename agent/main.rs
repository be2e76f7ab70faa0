//! The `vitals` command line: parses arguments and wires the pipeline together.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::sync::mpsc;
use vitals::api::{ApiState, Server};
use vitals::api::{RELOAD_QUEUE, ReloadRequest};
use vitals::config::{ConfigErrors, EMBEDDED_DEFAULT, EMBEDDED_NAME, LoadedConfig};
use vitals::rules::manager::{EngineSettings, RuleManager};
use vitals::rules::persist::AlertStateStore;
use vitals::shutdown::{Stage, stop_in_order};
use vitals::sources::otlp::OtlpReceiver;
use vitals::sources::probe::Prober;
use vitals::store::{Labels, Store, StoreConfig};
use vitals::telemetry::{self, LogFormat};

/// jemalloc: rule evaluation allocates and frees a lot per group; jemalloc serves that faster
/// than glibc malloc and returns freed memory by decay instead of keeping it in per-thread
/// arenas (see Cargo.toml for the measured difference).
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "vitals",
    version,
    about = "Probes, ingests, alerts and exports: one small daemon for a fleet's health."
)]
struct Cli {
    /// Log line format.
    #[arg(
        long,
        global = true,
        env = "VITALS_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: LogFormat,
    /// Log filter, e.g. `info` or `vitals=debug,warn`.
    #[arg(
        long = "log",
        global = true,
        env = "VITALS_LOG",
        default_value = "info"
    )]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Run {
        /// Configuration file. Default: config/vitals.yaml if present, else the embedded default.
        #[arg(short, long, env = "VITALS_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Validate configuration.
    Check {
        #[command(subcommand)]
        what: CheckCommand,
    },
    /// Unit testing.
    Test {
        #[command(subcommand)]
        what: TestCommand,
    },
}

#[derive(Subcommand)]
enum TestCommand {
    /// Run Prometheus rule unit tests (promtool's test file format); exit 1 if any fails.
    Rules {
        /// Unit-test files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Only run test groups whose name matches this regular expression (repeatable).
        #[arg(long)]
        run: Vec<String>,
    },
}

#[derive(Subcommand)]
enum CheckCommand {
    /// Validate a configuration file; every error is printed with file:line:col.
    Config {
        /// The file (default: config/vitals.yaml if present, else the embedded default).
        #[arg(env = "VITALS_CONFIG")]
        path: Option<PathBuf>,
    },
    /// Validate Prometheus rule files; every error is printed with file:line:col.
    Rules {
        /// Rule files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

const DEFAULT_PATH: &str = "config/vitals.yaml";

/// Where the configuration comes from; a reload reads the same place again.
#[derive(Clone)]
enum ConfigSource {
    File(PathBuf),
    Embedded,
}

impl ConfigSource {
    /// The given path, else `config/vitals.yaml` if present, else the embedded default.
    fn pick(path: Option<PathBuf>) -> Self {
        match path {
            Some(p) => ConfigSource::File(p),
            None if Path::new(DEFAULT_PATH).exists() => ConfigSource::File(DEFAULT_PATH.into()),
            None => ConfigSource::Embedded,
        }
    }

    fn load(&self) -> Result<LoadedConfig, ConfigErrors> {
        match self {
            ConfigSource::File(p) => LoadedConfig::from_file(p),
            ConfigSource::Embedded => {
                LoadedConfig::from_yaml(EMBEDDED_DEFAULT, EMBEDDED_NAME, |n| std::env::var(n).ok())
            }
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check {
            what: CheckCommand::Config { path },
        } => match ConfigSource::pick(path).load() {
            Ok(cfg) => {
                println!(
                    "{}: configuration is valid ({} probe targets)",
                    cfg.origin,
                    cfg.probes.len()
                );
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{errors}");
                eprintln!("{} error(s) found", errors.0.len());
                ExitCode::FAILURE
            }
        },
        Command::Check {
            what: CheckCommand::Rules { files },
        } => check_rules(&files),
        Command::Test {
            what: TestCommand::Rules { files, run },
        } => test_rules(&files, &run),
        Command::Run { config } => {
            let source = ConfigSource::pick(config);
            let cfg = match source.load() {
                Ok(cfg) => cfg,
                Err(errors) => {
                    eprintln!("{errors}");
                    eprintln!(
                        "vitals did not start: {} configuration error(s)",
                        errors.0.len()
                    );
                    return ExitCode::FAILURE;
                }
            };
            if let Err(e) = telemetry::init_logging(cli.log_format, &cli.log) {
                eprintln!("vitals did not start: {e}");
                return ExitCode::FAILURE;
            }
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("vitals did not start: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(run(source, cfg)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "vitals stopped on an error.");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// `vitals check rules FILE...`.
fn check_rules(files: &[PathBuf]) -> ExitCode {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    match vitals::rules::unittest::check_rule_files(files, &mut out, &mut err) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("cannot write the report: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `vitals test rules FILE...`.
fn test_rules(files: &[PathBuf], run: &[String]) -> ExitCode {
    let opts = match vitals::rules::unittest::TestOptions::new(run) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("invalid --run pattern: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    match vitals::rules::unittest::test_files(files, &opts, &mut out, &mut err) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("cannot write the report: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(source: ConfigSource, mut cfg: LoadedConfig) -> anyhow::Result<()> {
    let registry = telemetry::registry()?;
    let storage = &cfg.config.storage;
    let store = Arc::new(Store::new(
        StoreConfig {
            retention: storage.retention.get(),
            stale_after: storage.series_stale_after.get(),
            max_series: storage.max_series,
        },
        &registry,
    )?);
    let (reload_tx, reload_rx) = mpsc::channel(RELOAD_QUEUE);
    let state = ApiState::new(
        store.clone(),
        registry.clone(),
        cfg.config.server.api_token.clone(),
        reload_tx,
    )?;
    state.set_query_limits(
        cfg.config.server.query_timeout.get(),
        cfg.config.server.query_max_samples,
    );
    let server = Server::bind(cfg.listen, state.clone()).await?;
    let listen = server.local_addr().unwrap_or(cfg.listen);

    let mut sources = Stage::new("sources");
    let prober = Arc::new(
        Prober::new(store.clone(), cfg.config.probes.max_concurrency, &registry)
            .context("starting the prober")?,
    );
    // The prober keeps the targets; the copy the reloader keeps needs none (it compares the rest).
    let probe_count = cfg.probes.len();
    prober.apply(std::mem::take(&mut cfg.probes));
    let (stop, p) = (sources.token(), prober.clone());
    sources.spawn(async move {
        stop.cancelled().await;
        p.stop().await;
    });
    let otlp = match &cfg.otlp {
        Some(spec) => Some(Arc::new(
            OtlpReceiver::start(spec, store.clone(), &registry, sources.token())
                .await
                .context("starting the OTLP receiver")?,
        )),
        None => None,
    };
    let (otlp_grpc, otlp_http) = (
        otlp.as_ref().and_then(|o| o.grpc_addr),
        otlp.as_ref().and_then(|o| o.http_addr),
    );

    let durable = vitals::durable::open(&storage.path).context("opening storage.path")?;
    let rules = Arc::new(
        RuleManager::new(
            store.clone(),
            Some(AlertStateStore::new(durable.clone())),
            &registry,
            state.rules_view(),
            engine_settings(&cfg),
        )
        .context("starting the rule engine")?,
    );
    let rule_groups = cfg.rules.len();
    rules.apply(std::mem::take(&mut cfg.rules));
    let mut rule_stage = Stage::new("rules");
    let (stop, r) = (rule_stage.token(), rules.clone());
    rule_stage.spawn(async move {
        stop.cancelled().await;
        r.stop().await;
    });

    let mut maintenance = Stage::new("store");
    let (stop, gc_store, gc_otlp) = (maintenance.token(), store.clone(), otlp.clone());
    let stale_ms = i64::try_from(storage.series_stale_after.get().as_millis()).unwrap_or(i64::MAX);
    maintenance.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {
                    let (s, o) = (gc_store.clone(), gc_otlp.clone());
                    let _ = tokio::task::spawn_blocking(move || {
                        let now = vitals::store::now_ms();
                        s.gc(now);
                        if let Some(o) = o {
                            o.expire(now.saturating_sub(stale_ms));
                        }
                    })
                    .await;
                }
            }
        }
    });

    let mut api = Stage::new("api");
    let stop = api.token();
    api.spawn(async move {
        if let Err(e) = server.serve(stop).await {
            tracing::error!(error = %e, "The HTTP server failed.");
        }
    });

    let (origin, grace) = (cfg.origin.clone(), cfg.config.server.shutdown_grace.get());
    let mut control = Stage::new("reload");
    let reloader = Reloader {
        source,
        current: cfg,
        prober: prober.clone(),
        rules: rules.clone(),
        state: state.clone(),
    };
    control.spawn(reloader.run(reload_rx, control.token()));

    state.set_ready(true);
    tracing::info!(
        config = %origin,
        listen = %listen,
        otlp_grpc = otlp_grpc.map(|a| a.to_string()),
        otlp_http = otlp_http.map(|a| a.to_string()),
        probes = probe_count,
        rule_groups,
        "vitals is running."
    );

    let signal = vitals::shutdown::signal().await;
    tracing::info!(signal, grace = ?grace, "Shutting down.");
    state.set_ready(false);
    let mut drain = Stage::new("otlp ingest");
    if let Some(o) = otlp {
        // Receivers stop with the sources stage; queued requests and forwarding drain here.
        drain.spawn(async move { o.stopped().await });
    }
    if stop_in_order(
        vec![control, sources, drain, rule_stage, maintenance, api],
        grace,
    )
    .await
    {
        tracing::info!("vitals stopped.");
    }
    Ok(())
}

/// Applies a re-read configuration on SIGHUP or `POST /-/reload`. A configuration that
/// does not load leaves the running one in place.
struct Reloader {
    source: ConfigSource,
    current: LoadedConfig,
    prober: Arc<Prober>,
    rules: Arc<RuleManager>,
    state: Arc<ApiState>,
}

/// The rule engine's settings from the configuration.
fn engine_settings(cfg: &LoadedConfig) -> EngineSettings {
    let r = &cfg.config.rules;
    EngineSettings {
        external_labels: Labels::new(
            r.external_labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        ),
        external_url: r.external_url.clone(),
        query_max_samples: cfg.config.server.query_max_samples,
        query_timeout: cfg.config.server.query_timeout.get(),
        subquery_step_ms: i64::try_from(r.evaluation_interval.get().as_millis()).unwrap_or(60_000),
    }
}

impl Reloader {
    async fn run(
        mut self,
        mut requests: mpsc::Receiver<ReloadRequest>,
        stop: tokio_util::sync::CancellationToken,
    ) {
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
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
            let respond = tokio::select! {
                _ = stop.cancelled() => break,
                r = requests.recv() => match r {
                    Some(r) => Some(r.respond),
                    None => break,
                },
                _ = hangup => None,
            };
            let result = self.reload();
            self.state.record_reload(result.is_ok());
            match &result {
                Ok(summary) => tracing::info!(summary = %summary, "Configuration reloaded."),
                Err(errors) => {
                    tracing::error!(errors = %errors, "The new configuration is invalid; keeping the running one.")
                }
            }
            if let Some(respond) = respond {
                let _ = respond.send(result);
            }
        }
    }

    fn reload(&mut self) -> Result<String, String> {
        let mut new = self.source.load().map_err(|e| e.to_string())?;
        let mut restart = Vec::new();
        if new.listen != self.current.listen {
            restart.push("server.listen");
        }
        let (old_s, new_s) = (&self.current.config.storage, &new.config.storage);
        if (
            &old_s.path,
            old_s.retention,
            old_s.series_stale_after,
            old_s.max_series,
        ) != (
            &new_s.path,
            new_s.retention,
            new_s.series_stale_after,
            new_s.max_series,
        ) {
            restart.push("storage");
        }
        if new.config.probes.max_concurrency != self.current.config.probes.max_concurrency {
            restart.push("probes.max_concurrency");
        }
        if format!("{:?}", new.otlp) != format!("{:?}", self.current.otlp) {
            restart.push("otlp");
        }
        self.state
            .set_api_token(new.config.server.api_token.clone());
        let server = &new.config.server;
        self.state
            .set_query_limits(server.query_timeout.get(), server.query_max_samples);
        self.rules.set_settings(engine_settings(&new));
        let groups = self.rules.apply(std::mem::take(&mut new.rules));
        let targets = new.probes.len();
        let stats = self.prober.apply(std::mem::take(&mut new.probes));
        let mut summary = format!(
            "{} probe targets: {} added, {} removed, {} changed, {} unchanged",
            targets, stats.added, stats.removed, stats.changed, stats.unchanged
        );
        summary.push_str(&format!(
            "; rule groups: {} added, {} removed, {} changed, {} unchanged",
            groups.added, groups.removed, groups.changed, groups.unchanged
        ));
        if !restart.is_empty() {
            summary.push_str(&format!(
                "; changes to {} take effect at the next restart",
                restart.join(", ")
            ));
        }
        self.current = new;
        Ok(summary)
    }
}

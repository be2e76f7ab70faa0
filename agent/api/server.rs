//! The API as a pipeline stage: built from `server:` (its listener bound at build), serving
//! from `start`, taking a new token and query limits on reload, draining on `stop`.

use crate::alerting::AlertingHandle;
use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::config::ServerSpec;
use super::{ApiError, ApiState, RELOAD_QUEUE, ReloadRequest, Server};
use crate::net::ConnectionLimits;
use crate::net::tls::{ServerTls, ServerTlsConfig};
use crate::rules::status::RulesView;
use crate::stage::{Applied, Context, Stage};

/// The API's spec: `server:` and the rule engine's published view it shows.
#[derive(Clone, Debug)]
pub struct ApiSpec {
    pub server: ServerSpec,
    pub rules: RulesView,
    /// The alerting stage behind `/api/v2/*`, when `alerting:` is configured.
    pub alerting: Option<AlertingHandle>,
}

/// The HTTP API stage.
pub struct ApiServer {
    state: Arc<ApiState>,
    addr: SocketAddr,
    listen: SocketAddr,
    connections: ConnectionLimits,
    /// `server.tls` as started (a change needs a restart).
    tls: Option<ServerTlsConfig>,
    server: Mutex<Option<Server>>,
    requests: Mutex<Option<mpsc::Receiver<ReloadRequest>>>,
    cancel: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl ApiServer {
    /// The shared state the handlers use (readiness, reload bookkeeping).
    pub fn state(&self) -> &Arc<ApiState> {
        &self.state
    }

    /// The address the listener is bound to (the real port when `listen` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The reload requests `/-/reload` sends; taken once, by the daemon's reloader.
    pub fn take_reload_requests(&self) -> Option<mpsc::Receiver<ReloadRequest>> {
        self.requests.lock().take()
    }
}

impl Stage for ApiServer {
    type Spec = ApiSpec;
    type Error = ApiError;

    async fn build(spec: ApiSpec, ctx: &Context) -> Result<Self, ApiError> {
        let (tx, rx) = mpsc::channel(RELOAD_QUEUE);
        let s = &spec.server;
        let state = ApiState::with_rules(
            ctx.store.clone(),
            ctx.registry.clone(),
            s.api_token.clone(),
            tx,
            spec.rules,
        )?;
        if let Some(a) = spec.alerting {
            state.set_alerting(a);
        }
        state.set_query_limits(s.query_timeout, s.query_max_samples);
        let tls = match &s.tls {
            Some(t) => Some(ServerTls::load(t)?),
            None => None,
        };
        let server = Server::bind(s.listen, state.clone(), s.connections.clone(), tls).await?;
        let addr = server.local_addr().unwrap_or(s.listen);
        Ok(ApiServer {
            state,
            addr,
            listen: s.listen,
            connections: s.connections.clone(),
            tls: s.tls.clone(),
            server: Mutex::new(Some(server)),
            requests: Mutex::new(Some(rx)),
            cancel: ctx.cancel.child_token(),
            task: Mutex::new(None),
        })
    }

    fn start(&self) {
        let Some(server) = self.server.lock().take() else {
            return;
        };
        let stop = self.cancel.clone();
        *self.task.lock() = Some(tokio::spawn(async move {
            if let Err(e) = server.serve(stop).await {
                tracing::error!(error = %e, "The HTTP server failed.");
            }
        }));
    }

    fn apply(&self, spec: ApiSpec) -> Applied {
        let s = spec.server;
        let mut applied = Applied::default();
        if s.listen != self.listen {
            applied.needs_restart.push("server.listen".into());
        }
        if s.connections != self.connections {
            applied.needs_restart.push("server.connections".into());
        }
        if s.tls != self.tls {
            applied.needs_restart.push("server.tls".into());
        }
        if self.state.replace_api_token(s.api_token) {
            applied.changed.push("server.api_token".into());
        }
        self.state
            .set_query_limits(s.query_timeout, s.query_max_samples);
        applied
    }

    async fn stop(&self) {
        self.cancel.cancel();
        let task = self.task.lock().take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}

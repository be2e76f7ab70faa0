//! `POST /-/reload`: hands a reload request to the daemon's reloader over a bounded channel
//! and answers with its typed outcome — what each stage changed, what needs a restart — or
//! every error that kept the new configuration from loading.

use std::fmt;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::oneshot;

use super::ApiState;
use crate::config::ConfigErrors;
use crate::stage::{Applied, ApplyStats};

/// Capacity of the reload channel: one request may wait while another runs; past that,
/// `/-/reload` answers 503 at once instead of queueing.
pub const RELOAD_QUEUE: usize = 1;

/// A request to reload the configuration, answered on `respond`.
pub struct ReloadRequest {
    pub respond: oneshot::Sender<Result<ReloadOutcome, ConfigErrors>>,
}

/// What a reload did, stage by stage, in pipeline order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReloadOutcome {
    /// Each stage's name (`probe targets`, `otlp`, `rule groups`, `server`) and what it did.
    pub stages: Vec<(&'static str, Applied)>,
}

impl ReloadOutcome {
    /// Settings applied live, by config path.
    pub fn changed(&self) -> Vec<&str> {
        self.stages
            .iter()
            .flat_map(|(_, a)| a.changed.iter().map(String::as_str))
            .collect()
    }

    /// Settings that changed but take effect only at the next restart, by config path.
    pub fn needs_restart(&self) -> Vec<&str> {
        self.stages
            .iter()
            .flat_map(|(_, a)| a.needs_restart.iter().map(String::as_str))
            .collect()
    }
}

impl fmt::Display for ReloadOutcome {
    /// `probe targets: 1 added, …; rule groups: …; cloudwatch jobs: … (when configured); applied now: otlp.auth_token; changes to
    /// otlp.grpc_listen take effect at the next restart`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counted: Vec<String> = self
            .stages
            .iter()
            .filter(|(name, a)| {
                matches!(*name, "probe targets" | "rule groups")
                    // Only when configured (before or after).
                    || (*name == "cloudwatch jobs" && a.stats != ApplyStats::default())
            })
            .map(|(name, a)| format!("{name}: {}", a.stats))
            .collect();
        f.write_str(&counted.join("; "))?;
        let changed = self.changed();
        if !changed.is_empty() {
            write!(f, "; applied now: {}", changed.join(", "))?;
        }
        let restart = self.needs_restart();
        if !restart.is_empty() {
            write!(
                f,
                "; changes to {} take effect at the next restart",
                restart.join(", ")
            )?;
        }
        Ok(())
    }
}

/// `POST /-/reload`: 200 with the outcome, 400 with every configuration error, 503 when a
/// reload is already waiting or vitals is shutting down.
pub(super) async fn handler(State(state): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    if let Some(denied) = state.authorize(&headers) {
        return denied;
    }
    let (tx, rx) = oneshot::channel();
    if state
        .reload
        .try_send(ReloadRequest { respond: tx })
        .is_err()
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "a reload is already in progress; try again\n",
        )
            .into_response();
    }
    match rx.await {
        Ok(Ok(outcome)) => (StatusCode::OK, format!("{outcome}\n")).into_response(),
        Ok(Err(errors)) => (StatusCode::BAD_REQUEST, format!("{errors}\n")).into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "vitals is shutting down\n").into_response(),
    }
}

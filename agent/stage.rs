//! The shape every pipeline stage shares, so the daemon builds, reloads and stops each one
//! the same way (sources → store → rules → alerting → notify, plus the API).
//!
//! A stage is built from its validated spec and the shared [`Context`] (`build`: self metrics
//! registered, listeners bound, no work started yet), started (`start`), given a new spec on
//! every configuration reload (`apply`, which says what it changed and what needs a restart),
//! and stopped on shutdown (`stop`, which returns once the stage's work has ended). The
//! daemon (`daemon/`) is the only caller; a stage never imports another stage above it.

use std::fmt;
use std::sync::Arc;

use prometheus::Registry;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// What every stage may use: the store, the self-metrics registry, the durable state file
/// and the daemon's cancellation token (each stage takes a child
/// of it, so cancelling the daemon stops everything and a stage can be stopped alone).
#[derive(Clone)]
pub struct Context {
    /// The time-series store: sources and recording rules write, everything else reads.
    pub store: Arc<Store>,
    /// Where each stage registers its `vitals_*` metrics.
    pub registry: Registry,
    /// `storage.path/vitals.redb`; `None` runs without durable state (unit tests).
    pub durable: Option<crate::durable::Durable>,
    /// Cancelled when the daemon stops.
    pub cancel: CancellationToken,
}

/// Counts of what an `apply` changed in a stage's keyed parts (probe targets, rule groups).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ApplyStats {
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    pub unchanged: usize,
}

impl fmt::Display for ApplyStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} added, {} removed, {} changed, {} unchanged",
            self.added, self.removed, self.changed, self.unchanged
        )
    }
}

/// What a stage did with a new spec: its counts, the settings it changed live, and the
/// fields whose change only takes effect at the next restart (full config paths, e.g.
/// `otlp.grpc_listen`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    pub stats: ApplyStats,
    /// Settings applied live, by config path (`otlp.auth_token`).
    pub changed: Vec<String>,
    /// Settings that changed but need a restart, by config path.
    pub needs_restart: Vec<String>,
}

impl Applied {
    /// Only counts.
    pub fn stats(stats: ApplyStats) -> Self {
        Applied {
            stats,
            ..Applied::default()
        }
    }
}

/// One stage of the pipeline.
pub trait Stage: Sized + Send + Sync + 'static {
    /// The stage's validated configuration.
    type Spec: Send;
    /// Why it could not be built.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Builds the stage: registers its metrics, binds its listeners, reads its durable state.
    /// Starts no work.
    fn build(
        spec: Self::Spec,
        ctx: &Context,
    ) -> impl Future<Output = Result<Self, Self::Error>> + Send;

    /// Starts the stage's work (serving, probing, evaluating). Called once, in the runtime.
    fn start(&self);

    /// Takes a new spec on reload: applies what can change live and names what cannot.
    fn apply(&self, spec: Self::Spec) -> Applied;

    /// Stops the stage and waits until its work has ended.
    fn stop(&self) -> impl Future<Output = ()> + Send;
}

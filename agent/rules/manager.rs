//! The rule manager: runs every group on its own interval, aligned to the clock, publishes
//! their status to the [`RulesView`], exports `vitals_rule_*` metrics, saves alert state after
//! each evaluation and restores it at start, and swaps groups on a reload.
//!
//! Each group is one task; its evaluation runs on the blocking pool (PromQL is CPU work), so a
//! slow group delays only itself. Evaluation timestamps are `k * interval + offset`, the
//! offset a hash of the group's key (as Prometheus does), so groups spread out and the same
//! group evaluates at the same instants across restarts. An evaluation that overruns its
//! interval skips the missed instants (counted in `vitals_rule_group_iterations_missed_total`).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use prometheus::Registry;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::file::GroupSpec;
use super::group::{EvalContext, Group, PersistedGroup};
use super::internal_events::Metrics;
use super::persist::AlertStateStore;
use super::sink::{AlertSink, RESEND_DELAY_MS};
use super::status::RulesView;
use crate::promql::QueryLimits;
use crate::stage::{Applied, ApplyStats, Context, Stage};
use crate::store::{Labels, Store, now_ms};

/// What all groups share.
#[derive(Clone, Debug, Default)]
pub struct EngineSettings {
    /// `$externalLabels`.
    pub external_labels: Labels,
    /// `$externalURL`.
    pub external_url: String,
    /// Most samples one rule's query may load.
    pub query_max_samples: usize,
    /// Longest one rule's query may run.
    pub query_timeout: Duration,
    /// Step of subqueries written without one (`rules.evaluation_interval`).
    pub subquery_step_ms: i64,
}

/// How the first evaluations after a start treat inputs that have not arrived yet (see the
/// README's "Restarts"): a group's first evaluation waits until the probe targets have each
/// run once (at most the longer of one evaluation interval and `inputs_within` after the
/// start), and an alert restored as
/// pending or firing keeps its state while its rule does not return it, for the shorter of
/// `restart_grace` and the outage plus one interval.
#[derive(Clone, Debug)]
pub struct StartGate {
    /// When the daemon started (ms).
    pub started_ms: i64,
    /// Turns true once every probe target has run once.
    pub inputs: Option<tokio::sync::watch::Receiver<bool>>,
    /// The longest the probes' first round can take (the longest probe interval plus the
    /// longest timeout). A group evaluated more often than its probes run must still wait
    /// for them: the 1-hour soak found a 5 s group re-firing on a probe result the store
    /// checkpoint had from before the target recovered.
    pub inputs_within: Duration,
    /// The time of the store checkpoint the store was loaded from; `None` when it started
    /// empty (the whole `restart_grace` applies then).
    pub restored_until_ms: Option<i64>,
    /// `rules.restart_grace`; zero turns the hold off.
    pub restart_grace: Duration,
}

impl StartGate {
    /// Until when restored alerts of a group evaluated every `interval_ms` are held.
    pub fn hold_until(&self, interval_ms: i64) -> Option<i64> {
        let grace = i64::try_from(self.restart_grace.as_millis()).unwrap_or(i64::MAX);
        if grace == 0 {
            return None;
        }
        let hold = match self.restored_until_ms {
            Some(t) => self
                .started_ms
                .saturating_sub(t)
                .max(0)
                .saturating_add(interval_ms)
                .min(grace),
            None => grace,
        };
        Some(self.started_ms.saturating_add(hold))
    }
}

/// Why the manager could not start.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    #[error("cannot register rule metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

struct Shared {
    store: Arc<Store>,
    state: Option<AlertStateStore>,
    view: RulesView,
    metrics: Metrics,
    settings: Mutex<Arc<EngineSettings>>,
    /// Where alerts go after each evaluation; none until the daemon sets one.
    sink: Mutex<Option<Arc<dyn AlertSink>>>,
    /// Set before the first start; see [`StartGate`].
    gate: Mutex<Option<StartGate>>,
}

struct Running {
    fingerprint: String,
    group: Arc<Mutex<Group>>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

/// The rule engine's spec: what every group shares and the groups themselves.
#[derive(Debug, Clone)]
pub struct RuleEngineSpec {
    pub settings: EngineSettings,
    pub groups: Vec<GroupSpec>,
}

/// Runs the rule groups: the rule stage.
pub struct RuleManager {
    shared: Arc<Shared>,
    /// Groups given at build, started by [`Stage::start`].
    pending: Mutex<Vec<GroupSpec>>,
    running: Mutex<Vec<(String, Running)>>,
    /// State read at start, handed to each group the first time it is created.
    restored: Mutex<HashMap<String, PersistedGroup>>,
}

impl RuleManager {
    /// A manager with no groups; `state` (when given) is read now and restored into groups
    /// as [`RuleManager::apply`] creates them.
    pub fn new(
        store: Arc<Store>,
        state: Option<AlertStateStore>,
        registry: &Registry,
        view: RulesView,
        settings: EngineSettings,
    ) -> Result<RuleManager, ManagerError> {
        let restored = match state.as_ref().map(AlertStateStore::load_all) {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                tracing::error!(error = %e, "Cannot read saved alert state; alerts start from scratch.");
                HashMap::new()
            }
            None => HashMap::new(),
        };
        if !restored.is_empty() {
            tracing::info!(
                groups = restored.len(),
                "Alert state restored from storage."
            );
        }
        Ok(RuleManager {
            shared: Arc::new(Shared {
                store,
                state,
                view,
                metrics: Metrics::new(registry)?,
                settings: Mutex::new(Arc::new(settings)),
                sink: Mutex::new(None),
                gate: Mutex::new(None),
            }),
            pending: Mutex::new(Vec::new()),
            running: Mutex::new(Vec::new()),
            restored: Mutex::new(restored),
        })
    }

    /// How the groups started next treat their first evaluations (call before `start`).
    pub fn set_start_gate(&self, gate: StartGate) {
        *self.shared.gate.lock() = Some(gate);
    }

    /// Sends every group's alerts to `sink` from the next evaluation on.
    pub fn set_sink(&self, sink: Arc<dyn AlertSink>) {
        *self.shared.sink.lock() = Some(sink);
    }

    /// Replaces the settings (external labels and URL, query limits) for later evaluations.
    pub fn set_settings(&self, settings: EngineSettings) {
        *self.shared.settings.lock() = Arc::new(settings);
    }

    /// Runs exactly `specs`: new groups start, removed ones stop (their series end with stale
    /// markers), changed ones restart with their rules' alert state carried over, unchanged
    /// ones keep running untouched. Must be called inside the tokio runtime.
    pub fn apply_groups(&self, specs: Vec<GroupSpec>) -> ApplyStats {
        let mut stats = ApplyStats::default();
        let mut running = self.running.lock();
        let mut old: HashMap<String, Running> = running.drain(..).collect();
        let mut next = Vec::with_capacity(specs.len());
        for spec in specs {
            let key = spec.key();
            let fingerprint = spec.fingerprint();
            if let Some(r) = old.remove(&key) {
                if r.fingerprint == fingerprint {
                    stats.unchanged += 1;
                    next.push((key, r));
                    continue;
                }
                stats.changed += 1;
                r.cancel.cancel();
                r.task.abort();
                let mut group = Group::new(spec);
                let mut previous = r.group.lock();
                group.copy_state_from(&mut previous);
                // Series of rules that did not carry over (removed or renamed) end now.
                previous.end_series(&self.shared.store, now_ms());
                drop(previous);
                next.push((key.clone(), self.start(key, fingerprint, group)));
            } else {
                stats.added += 1;
                let mut group = Group::new(spec);
                if let Some(saved) = self.restored.lock().remove(&key) {
                    let hold = self
                        .shared
                        .gate
                        .lock()
                        .as_ref()
                        .and_then(|g| g.hold_until(group.spec().interval_ms));
                    group.restore(&saved, hold);
                }
                next.push((key.clone(), self.start(key, fingerprint, group)));
            }
        }
        for (key, r) in old {
            stats.removed += 1;
            r.cancel.cancel();
            r.task.abort();
            r.group.lock().end_series(&self.shared.store, now_ms());
            self.shared.metrics.forget(&key);
            if let Some(state) = &self.shared.state
                && let Err(e) = state.save(&key, &Vec::new())
            {
                tracing::warn!(group = %key, error = %e, "Cannot drop the saved state of a removed rule group.");
            }
        }
        self.shared.view.publish(super::status::RulesSnapshot {
            groups: next.iter().map(|(_, r)| r.group.lock().status()).collect(),
        });
        *running = next;
        stats
    }

    fn start(&self, key: String, fingerprint: String, group: Group) -> Running {
        self.shared.metrics.group_started(
            &key,
            group.spec().interval_ms.max(1),
            group.spec().rules.len(),
        );
        let group = Arc::new(Mutex::new(group));
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run_group(
            self.shared.clone(),
            key,
            group.clone(),
            cancel.clone(),
        ));
        Running {
            fingerprint,
            group,
            cancel,
            task,
        }
    }

    /// The view this manager publishes its groups and alerts into.
    pub fn view(&self) -> RulesView {
        self.shared.view.clone()
    }

    /// Stops every group, letting an evaluation in progress finish (its state is saved).
    pub async fn stop_groups(&self) {
        let tasks: Vec<_> = {
            let mut running = self.running.lock();
            running
                .drain(..)
                .map(|(_, r)| {
                    r.cancel.cancel();
                    r.task
                })
                .collect()
        };
        for t in tasks {
            let _ = t.await;
        }
    }

    /// Group count.
    pub fn groups(&self) -> usize {
        self.running.lock().len()
    }
}

impl Stage for RuleManager {
    type Spec = RuleEngineSpec;
    type Error = ManagerError;

    /// Reads the saved alert state from `ctx.durable`; publishes into a new [`RulesView`]
    /// (see [`RuleManager::view`]).
    async fn build(spec: RuleEngineSpec, ctx: &Context) -> Result<Self, ManagerError> {
        let manager = RuleManager::new(
            ctx.store.clone(),
            ctx.durable.clone().map(AlertStateStore::new),
            &ctx.registry,
            RulesView::default(),
            spec.settings,
        )?;
        *manager.pending.lock() = spec.groups;
        Ok(manager)
    }

    fn start(&self) {
        let groups = std::mem::take(&mut *self.pending.lock());
        self.apply_groups(groups);
    }

    fn apply(&self, spec: RuleEngineSpec) -> Applied {
        self.set_settings(spec.settings);
        Applied::stats(self.apply_groups(spec.groups))
    }

    async fn stop(&self) {
        self.stop_groups().await;
    }
}

/// The evaluation offset of a group within its interval: stable across restarts.
fn offset_ms(key: &str, interval_ms: i64) -> i64 {
    let h = foldhash::fast::FixedState::with_seed(0x7669_7461_6c73).hash_one(key);
    (h % interval_ms.max(1) as u64) as i64
}

/// The first evaluation instant after `now`: `k * interval + offset`.
fn next_instant(now: i64, interval_ms: i64, offset: i64) -> i64 {
    let base = now - offset;
    let k = base.div_euclid(interval_ms) + 1;
    k * interval_ms + offset
}

async fn run_group(
    shared: Arc<Shared>,
    key: String,
    group: Arc<Mutex<Group>>,
    cancel: CancellationToken,
) {
    let (interval_ms, query_offset) = {
        let g = group.lock();
        (g.spec().interval_ms.max(1), g.spec().query_offset_ms)
    };
    let offset = offset_ms(&key, interval_ms);
    let gate = shared.gate.lock().clone();
    if let Some(StartGate {
        started_ms,
        inputs: Some(mut inputs),
        inputs_within: gate_within,
        ..
    }) = gate
    {
        // The first evaluation after a start waits for the probes' first round, at most one
        // interval or the round's longest time, whichever is longer.
        let within = i64::try_from(gate_within.as_millis()).unwrap_or(i64::MAX);
        let left = started_ms.saturating_add(interval_ms.max(within)) - now_ms();
        if left > 0 {
            let wait = Duration::from_millis(left as u64);
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::timeout(wait, inputs.wait_for(|done| *done)) => {}
            }
        }
    }
    let mut next = next_instant(now_ms(), interval_ms, offset);
    let mut last_saved: Option<Vec<u8>> = None;
    loop {
        let wait = Duration::from_millis(u64::try_from(next - now_ms()).unwrap_or(0));
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let ts = next - query_offset;
        let (s, g, k) = (shared.clone(), group.clone(), key.clone());
        let prev = last_saved.take();
        let done = tokio::task::spawn_blocking(move || evaluate(&s, &g, &k, ts, prev)).await;
        match done {
            Ok(saved) => last_saved = saved,
            Err(e) => shared.metrics.evaluation_panicked(&key, &e),
        }
        next += interval_ms;
        let now = now_ms();
        let missed = if next <= now {
            (now - next) / interval_ms + 1
        } else {
            0
        };
        next += missed * interval_ms;
        shared.metrics.iterated(&key, missed);
    }
}

/// One evaluation on the blocking pool: evaluate, publish, count, log, save. Returns the
/// saved state's shape (the alerts without their values), so the next evaluation skips the
/// write when no alert changed state; a value alone is refreshed by the next evaluation after
/// a restart.
fn evaluate(
    shared: &Shared,
    group: &Mutex<Group>,
    key: &str,
    ts: i64,
    prev_saved: Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    let settings = shared.settings.lock().clone();
    let started = Instant::now();
    let ctx = EvalContext {
        store: &shared.store,
        external_labels: &settings.external_labels,
        external_url: &settings.external_url,
        limits: QueryLimits {
            max_samples: settings.query_max_samples,
            deadline: Some(started + settings.query_timeout),
            ..QueryLimits::default()
        },
        subquery_step_ms: settings.subquery_step_ms,
    };
    let mut g = group.lock();
    let report = g.eval(&ctx, ts);
    let status = g.status();
    let persisted = g.persist();
    let sink = shared.sink.lock().clone();
    let to_send = match &sink {
        Some(_) => g.alerts_to_send(
            ts,
            &settings.external_labels,
            &settings.external_url,
            RESEND_DELAY_MS,
        ),
        None => Vec::new(),
    };
    let rules = g.spec().rules.len();
    drop(g);
    if let Some(sink) = sink
        && !to_send.is_empty()
    {
        sink.send(to_send);
    }
    shared.view.publish_group(status);
    let m = &shared.metrics;
    m.evaluated(key, ts, rules, &report);
    let state = shared.state.as_ref()?;
    // A change of state, not of value, is worth a durable write: compare without values.
    let mut shape = persisted.clone();
    for (_, alerts) in &mut shape {
        for a in alerts {
            a.value = 0.0;
        }
    }
    let bytes = serde_json::to_vec(&shape).ok()?;
    if prev_saved.as_deref() == Some(bytes.as_slice()) {
        return Some(bytes);
    }
    match state.save(key, &persisted) {
        Ok(()) => Some(bytes),
        Err(e) => {
            m.persist_failures.inc();
            // During a storage outage the durable handle logs its start and end once.
            if e.is_outage() {
                tracing::debug!(group = %key, error = %e, "Cannot save alert state; a restart now would lose it.");
            } else {
                tracing::error!(group = %key, error = %e, "Cannot save alert state; a restart now would lose it.");
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hold_is_the_outage_plus_an_interval_within_the_grace() {
        let gate = |restored: Option<i64>, grace: u64| StartGate {
            started_ms: 1_000_000,
            inputs: None,
            inputs_within: Duration::ZERO,
            restored_until_ms: restored,
            restart_grace: Duration::from_secs(grace),
        };
        // Down 20 s, 15 s groups: held 35 s.
        assert_eq!(gate(Some(980_000), 300).hold_until(15_000), Some(1_035_000));
        // Down an hour: held the 5m grace.
        assert_eq!(
            gate(Some(-2_600_000), 300).hold_until(15_000),
            Some(1_300_000)
        );
        // Started empty: the whole grace.
        assert_eq!(gate(None, 300).hold_until(15_000), Some(1_300_000));
        // A checkpoint "from the future" (clock stepped back) counts as no outage.
        assert_eq!(
            gate(Some(1_010_000), 300).hold_until(15_000),
            Some(1_015_000)
        );
        assert_eq!(gate(Some(980_000), 0).hold_until(15_000), None);
    }

    #[test]
    fn instants_are_aligned_and_stable() {
        let off = offset_ms("f;g", 15_000);
        assert!((0..15_000).contains(&off));
        assert_eq!(off, offset_ms("f;g", 15_000));
        let n = next_instant(1_000_000, 15_000, off);
        assert!(n > 1_000_000 && n <= 1_015_000);
        assert_eq!((n - off) % 15_000, 0);
        assert_eq!(next_instant(n, 15_000, off), n + 15_000);
    }
}

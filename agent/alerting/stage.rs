//! The alerting stage: where alerts from the rule engine (through [`RulesSink`]) and from
//! `POST /api/v2/alerts` (through [`AlertingHandle`]) are routed, grouped, inhibited,
//! silenced and turned into notifications, which are written to the durable outbox and then
//! delivered by `notify` with retries.
//!
//! One task runs the dispatcher: it wakes when alerts arrive or a group is due, ticks the
//! [`Dispatcher`], writes the decision (outbox entries + notification log) and starts one
//! delivery per notification and integration. Deliveries run on their own (per-receiver
//! concurrency limit, timeout per attempt, retries with backoff until
//! `delivery.give_up_after`), independent of `group_interval`; a reload swaps the receivers
//! for later notifications and never cancels a delivery in flight. On stop, the dispatcher
//! ends, deliveries waiting to retry leave their notification in the outbox for the next
//! start, and attempts in progress finish.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::config::AlertingSpec;
use super::dispatch::{Dispatcher, Flush};
use super::forward::Forwarder;
use super::inhibit::Inhibitor;
use super::internal_events::Metrics;
use super::outbox::{self, Outbox, OutboxEntry};
use super::silence::{Silence, SilenceError, SilenceState, Silences};
use super::{Alert, Fingerprint, Labels, fingerprint_hex};
use crate::gotemplate::alertmanager::AlertData;
use crate::net::retry::Backoff;
use crate::notify::{Notification, Receiver, SendError, SendErrorKind, Status};
use crate::rules::sink::{AlertSink, SentAlert};
use crate::stage::{Applied, Context, Stage};
use crate::store::now_ms;

/// How often the dispatcher task does its upkeep (garbage collection, gauges), in ms.
const MAINTENANCE_MS: i64 = 15_000;
/// How long an expired silence is kept (Alertmanager's `--data.retention`, 120h).
const SILENCE_RETENTION_MS: i64 = 120 * 3600 * 1000;
/// How long a notification-log entry of a group that is gone is kept: longer than any
/// sensible `repeat_interval`, so a group that comes back within it is not paged again.
const NFLOG_RETENTION_MS: i64 = 5 * 24 * 3600 * 1000;

/// How notifications are delivered (vitals' own `alerting.delivery`).
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Longest one attempt may take.
    pub timeout: Duration,
    /// Retries stop this long after the notification was decided.
    pub give_up_after: Duration,
    /// Most attempts in flight per receiver.
    pub concurrency: usize,
    /// Waits between attempts.
    pub backoff: Backoff,
}

/// The validated `alerting:` section, ready to run.
#[derive(Debug, Clone)]
pub struct AlertingStageSpec {
    /// Routing, inhibition and time intervals; `None` for a forward-only configuration.
    pub routing: Option<AlertingSpec>,
    /// Built receivers, by name.
    pub receivers: BTreeMap<String, Arc<Receiver>>,
    /// Per receiver, a hash of each integration's configuration (in integration order).
    pub identities: BTreeMap<String, Vec<u64>>,
    /// Delivery settings.
    pub delivery: DeliverySettings,
    /// Links back to vitals in notifications (`.ExternalURL`).
    pub external_url: String,
    /// Alertmanagers every alert is forwarded to.
    pub forward: Vec<super::config::ForwardConfig>,
}

/// Why the stage could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AlertingError {
    #[error("cannot register alerting metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot read the alerting state from storage: {0}")]
    State(#[from] crate::durable::StateError),
}

/// One alert as held, with when it was last updated.
#[derive(Debug, Clone)]
struct Held {
    alert: Arc<Alert>,
    updated_at_ms: i64,
}

/// The decision state, behind one lock.
struct Core {
    routing: Option<AlertingSpec>,
    inhibitor: Inhibitor,
    dispatcher: Option<Dispatcher>,
    alerts: BTreeMap<Fingerprint, Held>,
    silences: Silences,
}

/// What deliveries use; swapped whole on reload (deliveries in flight keep theirs).
struct Run {
    receivers: BTreeMap<String, Arc<Receiver>>,
    identities: BTreeMap<String, Vec<u64>>,
    delivery: DeliverySettings,
    external_url: String,
}

struct Shared {
    core: Mutex<Core>,
    wake: Notify,
    outbox: Outbox,
    metrics: Metrics,
    run: Mutex<Arc<Run>>,
    semaphores: Mutex<HashMap<String, Arc<Semaphore>>>,
    deliveries: TaskTracker,
    /// Notifications in the outbox not yet done, by id.
    inflight: Mutex<BTreeMap<String, Pending>>,
    /// One lane per group, receiver and integration: its newest notification and the lock
    /// its attempts take turns on (see [`deliver`]).
    lanes: Mutex<HashMap<LaneKey, Lane>>,
    forwarder: Mutex<Option<Forwarder>>,
    /// Tells deliveries waiting to retry to leave (their entry stays for the next start).
    stopping: CancellationToken,
    /// Numbers silence snapshots (taken under the core lock, in change order).
    silence_seq: std::sync::atomic::AtomicU64,
    started_ms: i64,
}

/// A group's notifications to one integration of one receiver.
type LaneKey = (String, String, usize);

struct Lane {
    /// The newest notification's id: an older one still waiting is superseded by it.
    latest: String,
    /// The fingerprints of the newest notification's alerts: an older notification is only
    /// superseded when these include every alert it reports resolved (a resolution the
    /// newer one does not carry must still be sent).
    covers: std::collections::BTreeSet<String>,
    /// Held during an attempt, so a newer notification is never overtaken by an older one.
    turn: Arc<tokio::sync::Mutex<()>>,
}

fn lane_key(e: &OutboxEntry) -> LaneKey {
    (
        e.notification.group_key.clone(),
        e.receiver.clone(),
        e.integration,
    )
}

/// A notification in the outbox, as the status page lists it.
#[derive(Debug, Clone)]
pub struct Pending {
    pub receiver: String,
    pub integration: String,
    pub group_key: String,
    /// When it was decided (Unix ms).
    pub created_ms: i64,
    /// Failed attempts so far.
    pub failures: u32,
}

/// The alerting stage.
pub struct AlertingStage {
    shared: Arc<Shared>,
    stop_loop: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
    /// Stored notifications to send again at start.
    recovered: Mutex<Vec<OutboxEntry>>,
}

/// The handle the API uses (`/api/v2/*`).
#[derive(Clone)]
pub struct AlertingHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AlertingHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertingHandle").finish_non_exhaustive()
    }
}

/// The rule engine's sink into the stage.
pub struct RulesSink {
    shared: Arc<Shared>,
}

impl AlertSink for RulesSink {
    fn send(&self, alerts: Vec<SentAlert>) {
        let alerts = alerts
            .into_iter()
            .map(|a| Alert {
                labels: a.labels.into(),
                annotations: a.annotations.into(),
                starts_at_ms: a.starts_at_ms,
                ends_at_ms: a.ends_at_ms,
                generator_url: a.generator_url,
                timeout: false,
            })
            .collect::<Vec<_>>();
        self.shared.forward(&alerts);
        self.shared.ingest(alerts, "rules");
    }
}

fn dispatcher_for(
    routing: &AlertingSpec,
    receivers: &BTreeMap<String, Arc<Receiver>>,
) -> Dispatcher {
    let mut d = Dispatcher::new(routing.route.clone());
    configure_send_resolved(&mut d, receivers);
    d
}

/// A receiver gets resolved alerts when any of its integrations wants them; the others drop
/// them when the notification is made.
fn configure_send_resolved(d: &mut Dispatcher, receivers: &BTreeMap<String, Arc<Receiver>>) {
    for (name, r) in receivers {
        d.set_send_resolved(name, r.integrations().iter().any(|i| i.send_resolved()));
    }
}

impl Shared {
    /// Sends alerts on to the Alertmanagers of `forward:` as they were received (without
    /// the end vitals gives an alert that has none, so they apply their own timeout).
    fn forward(&self, alerts: &[Alert]) {
        if let Some(f) = self.forwarder.lock().as_ref() {
            f.push(alerts);
        }
    }

    /// Takes alerts in: merges each with the alert of the same labels, routes it, wakes the
    /// dispatcher.
    fn ingest(&self, alerts: Vec<Alert>, source: &str) {
        if alerts.is_empty() {
            return;
        }
        let now = now_ms();
        self.metrics.received(source, alerts.len());
        let mut guard = self.core.lock();
        let core = &mut *guard;
        for mut a in alerts {
            let fp = a.fingerprint();
            if let Some(old) = core.alerts.get(&fp)
                && old.alert.overlaps(&a)
            {
                a = old.alert.merged(&a, now);
            }
            let a = Arc::new(a);
            if let Some(d) = core.dispatcher.as_mut() {
                d.insert(Arc::clone(&a), now);
            }
            core.alerts.insert(
                fp,
                Held {
                    alert: a,
                    updated_at_ms: now,
                },
            );
        }
        drop(guard);
        self.wake.notify_one();
    }

    fn semaphore(&self, receiver: &str, permits: usize) -> Arc<Semaphore> {
        self.semaphores
            .lock()
            .entry(receiver.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(permits.max(1))))
            .clone()
    }

    fn update_outbox_gauges(&self) {
        let inflight = self.inflight.lock();
        self.metrics.outbox_depth.set(inflight.len() as i64);
        let oldest = inflight
            .values()
            .map(|p| p.created_ms)
            .min()
            .map_or(0.0, |t| (now_ms() - t).max(0) as f64 / 1e3);
        self.metrics.outbox_oldest.set(oldest);
    }

    /// Upkeep, every [`MAINTENANCE_MS`] rather than on every wake: resolved alerts dropped
    /// (their groups hold their own copy until notified), old silences and notification-log
    /// entries forgotten, and the gauges of alerts (over every alert held) and silences set.
    /// Returns the log keys forgotten, to delete from storage.
    fn maintain(&self, core: &mut Core, now: i64) -> Vec<(String, String)> {
        core.alerts.retain(|_, h| !h.alert.resolved(now));
        core.silences.gc(now - SILENCE_RETENTION_MS);
        let (mut active, mut pending, mut expired) = (0, 0, 0);
        for s in core.silences.iter() {
            match s.state(now) {
                SilenceState::Active => active += 1,
                SilenceState::Pending => pending += 1,
                SilenceState::Expired => expired += 1,
            }
        }
        self.metrics.silences(active, pending, expired);
        let known = core.inhibition_candidates();
        let sources = core.inhibitor.sources(&known, now);
        let suppressed = core
            .alerts
            .values()
            .filter(|h| core.muted(&h.alert.labels, &sources, now))
            .count();
        self.metrics
            .alerts(core.alerts.len() - suppressed, suppressed);
        core.dispatcher
            .as_mut()
            .map(|d| d.gc_log(now - NFLOG_RETENTION_MS))
            .unwrap_or_default()
    }

    /// One dispatcher wake: the notifications due now, as outbox entries, with the changed
    /// notification-log entries to store beside them and (with `maintain`) the log entries
    /// to forget.
    fn tick(
        &self,
        now: i64,
        maintain: bool,
    ) -> (
        Vec<OutboxEntry>,
        Vec<super::dispatch::NflogRecord>,
        Vec<(String, String)>,
    ) {
        // The core lock first, then `run`: `apply` swaps both under the core lock, so a tick
        // never pairs the new routing with the old receivers.
        let mut core = self.core.lock();
        let run = self.run.lock().clone();
        let core = &mut *core;
        let forget = if maintain {
            self.maintain(core, now)
        } else {
            Vec::new()
        };
        let Some(dispatcher) = core.dispatcher.as_mut() else {
            return (Vec::new(), Vec::new(), forget);
        };
        if dispatcher.next_deadline().is_none_or(|d| d > now) {
            return (Vec::new(), dispatcher.take_changed_log(), forget);
        }
        let known = core.inhibition_candidates();
        let sources = core.inhibitor.sources(&known, now);
        let (Some(routing), Some(dispatcher)) = (core.routing.as_ref(), core.dispatcher.as_mut())
        else {
            return (Vec::new(), Vec::new(), forget);
        };
        let (silences, inhibitor) = (&core.silences, &core.inhibitor);
        let mut keep = |group: &super::dispatch::Group, a: &Alert| {
            if let Some(route) = routing.route.by_id(&group.route_id)
                && routing.route_muted(route, now)
            {
                return false;
            }
            // Resolved alerts are not silenced or inhibited (Alertmanager's MuteStage only
            // looks at firing ones).
            a.resolved(now) || !muted(silences, inhibitor, &a.labels, &sources, now)
        };
        let flushes = dispatcher.tick(now, &mut keep);
        let mut entries = Vec::new();
        for f in &flushes {
            entries.extend(notifications(f, &run, now));
        }
        (entries, dispatcher.take_changed_log(), forget)
    }
}

/// Whether an alert with `labels` is silenced or inhibited at `now`.
fn muted(
    silences: &Silences,
    inhibitor: &Inhibitor,
    labels: &Labels,
    sources: &[Vec<&Alert>],
    now: i64,
) -> bool {
    !silences.silenced_by(labels, now).is_empty()
        || inhibitor.inhibited_by_in(labels, sources, now).is_some()
}

impl Core {
    /// The alerts inhibition looks at (none when there are no inhibit rules).
    fn inhibition_candidates(&self) -> Vec<Arc<Alert>> {
        if self.inhibitor.rules.is_empty() {
            Vec::new()
        } else {
            self.alerts.values().map(|h| Arc::clone(&h.alert)).collect()
        }
    }

    /// Whether an alert with `labels` is silenced or inhibited at `now`.
    fn muted(&self, labels: &Labels, sources: &[Vec<&Alert>], now: i64) -> bool {
        muted(&self.silences, &self.inhibitor, labels, sources, now)
    }
}

/// The notifications of one flush: one per integration of its receiver (integrations
/// without `send_resolved` get only firing alerts, and nothing when none fire).
fn notifications(f: &Flush, run: &Run, now: i64) -> Vec<OutboxEntry> {
    let Some(receiver) = run.receivers.get(&f.receiver) else {
        tracing::error!(receiver = %f.receiver, "A route names a receiver that is not configured; nothing is sent.");
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, integration) in receiver.integrations().iter().enumerate() {
        let resolved: &[Arc<Alert>] = if integration.send_resolved() {
            &f.resolved
        } else {
            &[]
        };
        if f.firing.is_empty() && resolved.is_empty() {
            continue;
        }
        let n = notification(f, i, resolved, &run.external_url, now);
        out.push(OutboxEntry {
            id: n.id.clone(),
            receiver: f.receiver.clone(),
            integration: i,
            identity: run
                .identities
                .get(&f.receiver)
                .and_then(|ids| ids.get(i))
                .copied()
                .unwrap_or(0),
            kind: integration.name().to_string(),
            notification: n,
            created_ms: now,
        });
    }
    out
}

fn alert_data(a: &Alert, now: i64) -> AlertData {
    AlertData {
        status: if a.resolved(now) {
            "resolved"
        } else {
            "firing"
        }
        .to_string(),
        labels: a.labels.to_map(),
        annotations: a.annotations.to_map(),
        starts_at: a.starts_at_ms,
        ends_at: (a.ends_at_ms != 0).then_some(a.ends_at_ms),
        generator_url: a.generator_url.clone(),
        fingerprint: fingerprint_hex(a.fingerprint()),
    }
}

/// The pairs every map of `maps` shares.
fn common(maps: &[&Labels]) -> Labels {
    let Some((first, rest)) = maps.split_first() else {
        return Labels::new();
    };
    first
        .iter()
        .filter(|(k, v)| rest.iter().all(|m| m.get(*k) == Some(*v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A notification's id: a hash of what decides it (group, receiver, integration, the
/// alerts with their start and end, and when the receiver was last told about the group), so
/// a decision made again after a crash, before it was stored, carries the same id, and the
/// receiver can drop the repeat; the next notification of the group has another.
fn notification_id(f: &Flush, integration: usize, alerts: &[&Arc<Alert>]) -> String {
    let mut hashes = [
        xxhash_rust::xxh64::Xxh64::new(0x7669_7461),
        xxhash_rust::xxh64::Xxh64::new(0x6c73_6964),
    ];
    for h in &mut hashes {
        h.update(f.group_key.as_bytes());
        h.update(&[0]);
        h.update(f.receiver.as_bytes());
        h.update(&[0]);
        h.update(&(integration as u64).to_le_bytes());
        h.update(&f.previous_ms.unwrap_or(-1).to_le_bytes());
        for a in alerts {
            h.update(&a.fingerprint().to_le_bytes());
            h.update(&a.starts_at_ms.to_le_bytes());
            h.update(&[u8::from(
                a.ends_at_ms != 0 && !f.firing.iter().any(|x| Arc::ptr_eq(x, a)),
            )]);
        }
    }
    let (a, b) = (hashes[0].digest(), hashes[1].digest());
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

fn notification(
    f: &Flush,
    integration: usize,
    resolved: &[Arc<Alert>],
    external_url: &str,
    now: i64,
) -> Notification {
    let alerts: Vec<&Arc<Alert>> = f.firing.iter().chain(resolved).collect();
    let labels: Vec<&Labels> = alerts.iter().map(|a| &a.labels).collect();
    let annotations: Vec<&Labels> = alerts.iter().map(|a| &a.annotations).collect();
    Notification {
        id: notification_id(f, integration, &alerts),
        receiver: f.receiver.clone(),
        group_key: f.group_key.clone(),
        status: if f.firing.is_empty() {
            Status::Resolved
        } else {
            Status::Firing
        },
        group_labels: f.group_labels.to_map(),
        common_labels: common(&labels).to_map(),
        common_annotations: common(&annotations).to_map(),
        alerts: alerts.iter().map(|a| alert_data(a, now)).collect(),
        external_url: external_url.to_string(),
        truncated: 0,
    }
}

/// Delivers one stored notification until it is sent, refused, given up, or the stage stops.
async fn deliver(shared: Arc<Shared>, e: OutboxEntry) {
    let run = shared.run.lock().clone();
    // By the configuration's hash first (a reload may have reordered the integrations), else
    // by position and kind (a reload may have changed its settings, a token, a URL).
    let index = run
        .identities
        .get(&e.receiver)
        .and_then(|ids| {
            ids.iter()
                .position(|id| e.identity != 0 && *id == e.identity)
        })
        .unwrap_or(e.integration);
    let integration = run
        .receivers
        .get(&e.receiver)
        .and_then(|r| r.integrations().get(index))
        .filter(|i| i.name() == e.kind);
    let key = lane_key(&e);
    let Some(integration) = integration else {
        shared.metrics.receiver_gone(&e.receiver, &e.kind);
        leave_lane(&shared, &key, &e.id);
        finish(&shared, e.id).await;
        return;
    };
    let settings = &run.delivery;
    let mut retry = 0u32;
    loop {
        // A notification tells the group's whole current state, so a newer one for the same
        // lane replaces an older one still waiting (a firing retried after the resolved
        // would reopen a PagerDuty incident); attempts take turns, so order is kept.
        let superseded = |lanes: &HashMap<LaneKey, Lane>| match lanes.get(&key) {
            Some(l) if l.latest == e.id => false,
            Some(l) => e
                .notification
                .alerts
                .iter()
                .filter(|a| a.status == "resolved")
                .all(|a| l.covers.contains(&a.fingerprint)),
            None => true,
        };
        let turn = {
            let lanes = shared.lanes.lock();
            if superseded(&lanes) {
                drop(lanes);
                shared.metrics.superseded(&e.receiver, &e.kind);
                break;
            }
            lanes.get(&key).map(|l| l.turn.clone()).unwrap_or_default()
        };
        let _turn = tokio::select! {
            g = turn.lock_owned() => g,
            _ = shared.stopping.cancelled() => return,
        };
        if shared.stopping.is_cancelled() {
            return;
        }
        if superseded(&shared.lanes.lock()) {
            shared.metrics.superseded(&e.receiver, &e.kind);
            break;
        }
        let sem = shared.semaphore(&e.receiver, settings.concurrency);
        let permit = tokio::select! {
            p = sem.acquire_owned() => p,
            _ = shared.stopping.cancelled() => return,
        };
        let started = Instant::now();
        let result =
            match tokio::time::timeout(settings.timeout, integration.send(&e.notification)).await {
                Ok(r) => r,
                Err(_) => Err(SendError::retryable(
                    format!("no answer within delivery.timeout ({:?})", settings.timeout),
                    None,
                )),
            };
        drop(permit);
        let took = started.elapsed();
        match result {
            Ok(()) => {
                shared
                    .metrics
                    .delivered(&e.receiver, &e.kind, took, retry + 1);
                break;
            }
            Err(err) => match err.kind {
                SendErrorKind::Final => {
                    shared
                        .metrics
                        .final_failure(&e.receiver, &e.kind, &err.message);
                    break;
                }
                SendErrorKind::Retryable { after } => {
                    let age =
                        Duration::from_millis(u64::try_from(now_ms() - e.created_ms).unwrap_or(0));
                    if age >= settings.give_up_after {
                        shared
                            .metrics
                            .gave_up(&e.receiver, &e.kind, &err.message, age);
                        break;
                    }
                    let wait = settings.backoff.delay_after(retry, after);
                    shared
                        .metrics
                        .attempt_failed(&e.receiver, &e.kind, took, &err.message, wait);
                    retry = retry.saturating_add(1);
                    if let Some(p) = shared.inflight.lock().get_mut(&e.id) {
                        p.failures = retry;
                    }
                    drop(_turn);
                    tokio::select! {
                        _ = shared.stopping.cancelled() => return,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            },
        }
    }
    leave_lane(&shared, &key, &e.id);
    finish(&shared, e.id).await;
}

/// Forgets the lane when `id` is its newest notification.
fn leave_lane(shared: &Shared, key: &LaneKey, id: &str) {
    let mut lanes = shared.lanes.lock();
    if lanes.get(key).is_some_and(|l| l.latest == id) {
        lanes.remove(key);
    }
}

async fn finish(shared: &Shared, id: String) {
    shared.inflight.lock().remove(&id);
    shared.update_outbox_gauges();
    shared.outbox.done(id).await;
}

fn covers(e: &OutboxEntry) -> std::collections::BTreeSet<String> {
    e.notification
        .alerts
        .iter()
        .map(|a| a.fingerprint.clone())
        .collect()
}

fn spawn_delivery(shared: &Arc<Shared>, e: OutboxEntry) {
    shared
        .lanes
        .lock()
        .entry(lane_key(&e))
        .and_modify(|l| {
            l.latest = e.id.clone();
            l.covers = covers(&e);
        })
        .or_insert_with(|| Lane {
            latest: e.id.clone(),
            covers: covers(&e),
            turn: Arc::default(),
        });
    shared.inflight.lock().insert(
        e.id.clone(),
        Pending {
            receiver: e.receiver.clone(),
            integration: e.kind.clone(),
            group_key: e.notification.group_key.clone(),
            created_ms: e.created_ms,
            failures: 0,
        },
    );
    shared.deliveries.spawn(deliver(shared.clone(), e));
}

async fn run_dispatcher(shared: Arc<Shared>, stop: CancellationToken) {
    let mut next_maintenance = now_ms();
    loop {
        let now = now_ms();
        let due = shared
            .core
            .lock()
            .dispatcher
            .as_ref()
            .and_then(Dispatcher::next_deadline);
        let until = due.map_or(next_maintenance, |d| d.min(next_maintenance));
        let wait = Duration::from_millis(u64::try_from(until - now).unwrap_or(0));
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
        let now = now_ms();
        let maintain = now >= next_maintenance;
        if maintain {
            next_maintenance = now + MAINTENANCE_MS;
        }
        let (entries, log, forget) = shared.tick(now, maintain);
        shared.outbox.forget_nflog(forget).await;
        if entries.is_empty() && log.is_empty() {
            shared.update_outbox_gauges();
            continue;
        }
        shared.outbox.record(entries.clone(), log).await;
        for e in entries {
            spawn_delivery(&shared, e);
        }
        shared.update_outbox_gauges();
    }
}

impl AlertingStage {
    /// The sink the rule engine hands its alerts to.
    pub fn rules_sink(&self) -> Arc<dyn AlertSink> {
        Arc::new(RulesSink {
            shared: self.shared.clone(),
        })
    }

    /// The handle the API serves `/api/v2/*` from.
    pub fn handle(&self) -> AlertingHandle {
        AlertingHandle {
            shared: self.shared.clone(),
        }
    }
}

impl Stage for AlertingStage {
    type Spec = AlertingStageSpec;
    type Error = AlertingError;

    /// Reads the outbox, notification log and silences from `ctx.durable`.
    async fn build(spec: AlertingStageSpec, ctx: &Context) -> Result<Self, AlertingError> {
        let metrics = Metrics::new(&ctx.registry)?;
        let loaded = {
            let durable = ctx.durable.clone();
            tokio::task::spawn_blocking(move || outbox::load(durable.as_ref()))
                .await
                .unwrap_or_else(|e| {
                    tracing::error!(error = %e, "Reading the alerting state panicked; starting without it.");
                    Ok(outbox::Loaded::default())
                })?
        };
        let silences = match loaded.silences.as_deref().map(Silences::from_bytes) {
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                tracing::error!(error = %e, "Stored silences do not decode; starting without them.");
                Silences::new()
            }
            None => Silences::new(),
        };
        let mut dispatcher = spec
            .routing
            .as_ref()
            .map(|r| dispatcher_for(r, &spec.receivers));
        if let Some(d) = dispatcher.as_mut() {
            d.restore_log(loaded.nflog);
        }
        if !loaded.outbox.is_empty() || !silences.is_empty() {
            tracing::info!(
                notifications = loaded.outbox.len(),
                silences = silences.len(),
                "Alerting state restored from storage; undelivered notifications are sent again."
            );
        }
        let forwarder = Forwarder::start(&spec.forward, metrics.clone());
        let shared = Arc::new(Shared {
            core: Mutex::new(Core {
                inhibitor: Inhibitor::new(
                    spec.routing
                        .as_ref()
                        .map(|r| r.inhibit_rules.clone())
                        .unwrap_or_default(),
                ),
                routing: spec.routing,
                dispatcher,
                alerts: BTreeMap::new(),
                silences,
            }),
            wake: Notify::new(),
            outbox: Outbox::start(ctx.durable.clone(), metrics.clone()),
            metrics,
            run: Mutex::new(Arc::new(Run {
                receivers: spec.receivers,
                identities: spec.identities,
                delivery: spec.delivery,
                external_url: spec.external_url,
            })),
            semaphores: Mutex::new(HashMap::new()),
            deliveries: TaskTracker::new(),
            inflight: Mutex::new(BTreeMap::new()),
            lanes: Mutex::new(HashMap::new()),
            forwarder: Mutex::new(forwarder),
            stopping: CancellationToken::new(),
            silence_seq: std::sync::atomic::AtomicU64::new(1),
            started_ms: now_ms(),
        });
        Ok(AlertingStage {
            shared,
            stop_loop: ctx.cancel.child_token(),
            task: Mutex::new(None),
            recovered: Mutex::new(loaded.outbox),
        })
    }

    fn start(&self) {
        for e in std::mem::take(&mut *self.recovered.lock()) {
            spawn_delivery(&self.shared, e);
        }
        self.shared.update_outbox_gauges();
        let task = tokio::spawn(run_dispatcher(self.shared.clone(), self.stop_loop.clone()));
        *self.task.lock() = Some(task);
    }

    fn apply(&self, spec: AlertingStageSpec) -> Applied {
        let mut applied = Applied::default();
        let s = &self.shared;
        {
            let mut core = s.core.lock();
            let core = &mut *core;
            core.inhibitor = Inhibitor::new(
                spec.routing
                    .as_ref()
                    .map(|r| r.inhibit_rules.clone())
                    .unwrap_or_default(),
            );
            // A new tree: new groups for the alerts held, the notification log kept (so
            // nothing already sent is sent again), as Alertmanager does on a reload.
            let old = core.dispatcher.take();
            // Resolved alerts whose resolution was not notified yet live only in the old
            // groups: they go into the new ones too.
            let pending_resolved: Vec<Arc<Alert>> = old
                .as_ref()
                .map(|d| {
                    d.groups()
                        .flat_map(|g| g.alerts.values().cloned())
                        .collect()
                })
                .unwrap_or_default();
            core.dispatcher = spec.routing.as_ref().map(|r| {
                let mut d = match old {
                    Some(old) => old.with_tree(r.route.clone()),
                    None => Dispatcher::new(r.route.clone()),
                };
                configure_send_resolved(&mut d, &spec.receivers);
                let now = now_ms();
                for a in pending_resolved.iter().filter(|a| a.resolved(now)) {
                    if !core.alerts.contains_key(&a.fingerprint()) {
                        d.insert(Arc::clone(a), now);
                    }
                }
                for h in core.alerts.values() {
                    d.insert(Arc::clone(&h.alert), now);
                }
                d
            });
            core.routing = spec.routing;
            *s.run.lock() = Arc::new(Run {
                receivers: spec.receivers,
                identities: spec.identities,
                delivery: spec.delivery,
                external_url: spec.external_url,
            });
        }
        // New receivers start with fresh limits; deliveries in flight keep the old ones.
        s.semaphores.lock().clear();
        let mut forwarder = s.forwarder.lock();
        let same = forwarder
            .as_ref()
            .map(|f| f.targets() == spec.forward.as_slice())
            .unwrap_or(spec.forward.is_empty());
        if !same {
            *forwarder = Forwarder::start(&spec.forward, s.metrics.clone());
            applied.changed.push("alerting.forward".to_string());
        }
        drop(forwarder);
        s.wake.notify_one();
        applied
    }

    async fn stop(&self) {
        self.stop_loop.cancel();
        let task = self.task.lock().take();
        if let Some(t) = task {
            let _ = t.await;
        }
        self.shared.stopping.cancel();
        self.shared.deliveries.close();
        self.shared.deliveries.wait().await;
        *self.shared.forwarder.lock() = None;
        // Everything queued for the outbox is committed before the process ends.
        self.shared.outbox.flush().await;
    }
}

/// One alert as the v2 API shows it.
#[derive(Debug, Clone)]
pub struct AlertView {
    pub alert: Alert,
    pub updated_at_ms: i64,
    /// Receivers of the routes it matches.
    pub receivers: Vec<String>,
    /// Ids of the silences muting it.
    pub silenced_by: Vec<String>,
    /// Fingerprints (hex) of the alerts inhibiting it.
    pub inhibited_by: Vec<String>,
}

/// One aggregation group as the v2 API shows it.
#[derive(Debug, Clone)]
pub struct GroupView {
    pub labels: Labels,
    pub receiver: String,
    pub alerts: Vec<AlertView>,
}

/// Why an API call on silences failed.
pub type SilenceResult<T> = Result<T, SilenceError>;

impl AlertingHandle {
    /// Takes alerts posted to `/api/v2/alerts`: an alert without an end is firing for
    /// `resolve_timeout` from now (Alertmanager's rule); without a start it starts now.
    pub fn post_alerts(&self, mut alerts: Vec<Alert>) {
        let now = now_ms();
        let timeout = self
            .shared
            .core
            .lock()
            .routing
            .as_ref()
            .map_or(Duration::from_secs(300), |r| r.resolve_timeout);
        self.shared.forward(&alerts);
        for a in &mut alerts {
            if a.starts_at_ms == 0 {
                a.starts_at_ms = if a.ends_at_ms != 0 {
                    a.ends_at_ms.min(now)
                } else {
                    now
                };
            }
            if a.ends_at_ms == 0 {
                a.ends_at_ms = now + i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX / 2);
                a.timeout = true;
            }
        }
        self.shared.ingest(alerts, "api");
    }

    /// Counts an invalid posted alert.
    pub fn count_invalid(&self) {
        self.shared.metrics.invalid();
    }

    fn view(core: &Core, h: &Held, sources: &[Vec<&Alert>], now: i64) -> AlertView {
        let a = &h.alert;
        let receivers = core
            .routing
            .as_ref()
            .map(|r| {
                let mut v: Vec<String> = r
                    .route
                    .matching(&a.labels)
                    .into_iter()
                    .map(|n| n.receiver.clone())
                    .collect();
                v.dedup();
                v
            })
            .unwrap_or_default();
        let inhibited_by = core
            .inhibitor
            .inhibited_by_in(&a.labels, sources, now)
            .map(|fp| vec![fingerprint_hex(fp)])
            .unwrap_or_default();
        AlertView {
            alert: (**a).clone(),
            updated_at_ms: h.updated_at_ms,
            receivers,
            silenced_by: core.silences.silenced_by(&a.labels, now),
            inhibited_by,
        }
    }

    /// The alerts held that have not resolved.
    pub fn alerts(&self) -> Vec<AlertView> {
        let now = now_ms();
        let core = self.shared.core.lock();
        let known = core.inhibition_candidates();
        let sources = core.inhibitor.sources(&known, now);
        core.alerts
            .values()
            .filter(|h| !h.alert.resolved(now))
            .map(|h| Self::view(&core, h, &sources, now))
            .collect()
    }

    /// The aggregation groups with their unresolved alerts.
    pub fn groups(&self) -> Vec<GroupView> {
        let now = now_ms();
        let core = self.shared.core.lock();
        let Some(d) = core.dispatcher.as_ref() else {
            return Vec::new();
        };
        let known = core.inhibition_candidates();
        let sources = core.inhibitor.sources(&known, now);
        d.groups()
            .map(|g| GroupView {
                labels: g.labels.clone(),
                receiver: g.receiver.clone(),
                alerts: g
                    .alerts
                    .values()
                    .filter(|a| !a.resolved(now))
                    .map(|a| {
                        let held = core.alerts.get(&a.fingerprint()).cloned().unwrap_or(Held {
                            alert: Arc::clone(a),
                            updated_at_ms: now,
                        });
                        Self::view(&core, &held, &sources, now)
                    })
                    .collect(),
            })
            .filter(|g| !g.alerts.is_empty())
            .collect()
    }

    /// Every silence kept (expired ones for a while), newest change first.
    pub fn silences(&self) -> Vec<Silence> {
        let core = self.shared.core.lock();
        core.silences.iter().cloned().collect()
    }

    /// One silence.
    pub fn silence(&self, id: &str) -> Option<Silence> {
        self.shared.core.lock().silences.get(id).cloned()
    }

    /// Stores the silences after a change; false when the write failed.
    async fn save_silences(&self) -> bool {
        let (seq, bytes) = {
            let core = self.shared.core.lock();
            let seq = self
                .shared
                .silence_seq
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            (seq, core.silences.to_bytes(now_ms()))
        };
        self.shared.outbox.save_silences(seq, bytes).await;
        let saved = self.shared.outbox.flush().await;
        // A silence may unmute or mute: look at the groups again.
        self.shared.wake.notify_one();
        saved
    }

    /// Creates or updates a silence; answers its id.
    pub async fn set_silence(&self, s: Silence) -> SilenceResult<String> {
        let id = self.shared.core.lock().silences.set(s, now_ms())?;
        if !self.save_silences().await {
            return Err(SilenceError::Unsaved);
        }
        Ok(id)
    }

    /// Expires a silence.
    pub async fn expire_silence(&self, id: &str) -> SilenceResult<()> {
        self.shared.core.lock().silences.expire(id, now_ms())?;
        if !self.save_silences().await {
            return Err(SilenceError::Unsaved);
        }
        Ok(())
    }

    /// The configured receivers' names.
    pub fn receivers(&self) -> Vec<String> {
        self.shared.run.lock().receivers.keys().cloned().collect()
    }

    /// The notifications in the outbox (decided, not delivered yet), oldest first.
    pub fn outbox(&self) -> Vec<Pending> {
        let mut v: Vec<Pending> = self.shared.inflight.lock().values().cloned().collect();
        v.sort_by_key(|p| p.created_ms);
        v
    }

    /// When the stage started (Unix ms), for `/api/v2/status`.
    pub fn started_ms(&self) -> i64 {
        self.shared.started_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::dispatch::NotifyReason;

    fn flush(previous_ms: Option<i64>) -> Flush {
        let a = Arc::new(Alert {
            labels: crate::alerting::labels(&[("alertname", "A")]),
            starts_at_ms: 1_000,
            ends_at_ms: 9_000,
            ..Alert::default()
        });
        Flush {
            group_key: "{}:{alertname=\"A\"}".into(),
            route_id: "{}".into(),
            receiver: "r".into(),
            group_labels: Labels::new(),
            firing: vec![a],
            resolved: Vec::new(),
            reason: NotifyReason::FirstNotification,
            previous_ms,
        }
    }

    #[test]
    fn notification_ids_are_stable_for_a_decision_and_differ_between_decisions() {
        let f = flush(None);
        let n1 = notification(&f, 0, &[], "", 5_000);
        let n2 = notification(&f, 0, &[], "", 6_000);
        assert_eq!(n1.id, n2.id, "the same decision made again after a crash");
        assert_eq!(n1.id.len(), 36);
        assert_ne!(
            notification(&f, 1, &[], "", 5_000).id,
            n1.id,
            "another integration"
        );
        let repeat = flush(Some(5_000));
        assert_ne!(
            notification(&repeat, 0, &[], "", 5_000).id,
            n1.id,
            "the next notification"
        );
        let mut later = flush(None);
        later.firing[0] = Arc::new(Alert {
            starts_at_ms: 2_000,
            ..(*later.firing[0]).clone()
        });
        assert_ne!(
            notification(&later, 0, &[], "", 5_000).id,
            n1.id,
            "another alert instance"
        );
    }
}

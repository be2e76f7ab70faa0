//! The probe schedule: one task per target on its own interval, started at a stable
//! per-target offset (a hash of its name) so thousands of targets spread over the interval
//! instead of firing in one burst, with a shared semaphore capping how many run at once.
//!
//! Each result is written to the store under blackbox_exporter's names; state changes
//! (up → down, down → up, a different reason while down) are logged once.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::Registry;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::ProbesSpec;
use super::http::HttpClients;
use super::internal_events::ProbeMetrics;
use super::outcome::{Failure, FailureReason, Outcome};
use super::{ProbeKind, ProbeSpec, grpc, http, tcp};
use crate::stage::{Applied, ApplyStats, Context, Stage};
use crate::store::{Labels, METRIC_NAME, MetricMeta, MetricType, SeriesRef, Store, now_ms};

/// Errors setting up the prober.
#[derive(Debug, thiserror::Error)]
pub enum ProberError {
    #[error("cannot register probe metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error(transparent)]
    Http(#[from] http::HttpClientError),
}

/// Runs probe targets and writes their results to the store: the prober stage.
pub struct Prober {
    shared: Arc<Shared>,
    /// `probes.max_concurrency` (the size of `permits`; a change needs a restart).
    max_concurrency: usize,
    /// Targets given at build, started by [`Stage::start`].
    pending: parking_lot::Mutex<Vec<ProbeSpec>>,
    running: parking_lot::Mutex<HashMap<String, Running>>,
}

/// What every target's task uses, behind one `Arc` so a resting task holds one pointer.
struct Shared {
    store: Arc<Store>,
    clients: HttpClients,
    permits: Semaphore,
    metrics: ProbeMetrics,
    first_round: FirstRound,
}

/// Counts down the targets that have not finished a probe since the prober started; its
/// watch turns true at zero (the rule engine's first evaluation waits for it).
struct FirstRound {
    left: std::sync::atomic::AtomicUsize,
    done: tokio::sync::watch::Sender<bool>,
}

impl FirstRound {
    /// Not done until [`FirstRound::begin`] says how many targets to wait for.
    fn new() -> Self {
        FirstRound {
            left: std::sync::atomic::AtomicUsize::new(usize::MAX),
            done: tokio::sync::watch::Sender::new(false),
        }
    }

    fn begin(&self, targets: usize) {
        self.left
            .store(targets, std::sync::atomic::Ordering::Release);
        if targets == 0 {
            self.done.send_replace(true);
        }
    }

    /// One target finished its first probe (or cannot run).
    fn finished_one(&self) {
        use std::sync::atomic::Ordering;
        let before = self
            .left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        if before == Ok(1) {
            self.done.send_replace(true);
        }
    }
}

/// A target's task.
struct Running {
    /// Shared with the task.
    spec: Arc<ProbeSpec>,
    cancel: CancellationToken,
    /// Ends with which of the target's series were ever written, and a time after its last
    /// sample to end them at.
    handle: JoinHandle<Ended>,
}

/// What a target's task leaves when it ends.
struct Ended {
    /// Which of its series (in [`SERIES`] order) were ever written.
    written: [bool; 5],
    /// When to end them: after its last sample.
    end_ms: i64,
}

/// Each series' name ([`super::PROBE_SERIES`]) and help text.
const SERIES: [(&str, &str); 5] = [
    (
        super::PROBE_SERIES[0],
        "Displays whether or not the probe was a success.",
    ),
    (
        super::PROBE_SERIES[1],
        "Returns how long the probe took to complete in seconds.",
    ),
    (
        super::PROBE_SERIES[2],
        "Response HTTP status code (0 when no response arrived).",
    ),
    (super::PROBE_SERIES[3], "The number of redirects followed."),
    (
        super::PROBE_SERIES[4],
        "Returns last SSL chain expiry in unixtime.",
    ),
];

impl Prober {
    /// A prober writing to `store`, running at most `max_concurrency` probes at once.
    pub fn new(
        store: Arc<Store>,
        max_concurrency: usize,
        registry: &Registry,
    ) -> Result<Self, ProberError> {
        for (name, help) in SERIES {
            store.set_metadata(
                name,
                MetricMeta {
                    kind: MetricType::Gauge,
                    help: help.to_string(),
                    unit: String::new(),
                },
            );
        }
        Ok(Prober {
            shared: Arc::new(Shared {
                store,
                clients: HttpClients::new()?,
                permits: Semaphore::new(max_concurrency.max(1)),
                metrics: ProbeMetrics::new(registry)?,
                first_round: FirstRound::new(),
            }),
            max_concurrency,
            pending: parking_lot::Mutex::new(Vec::new()),
            running: parking_lot::Mutex::new(HashMap::new()),
        })
    }

    /// Turns true once every target given at start has finished one probe.
    pub fn first_round(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shared.first_round.done.subscribe()
    }

    /// Makes `specs` the running set: starts new targets, restarts changed ones, stops
    /// removed ones (their series get a stale marker, so queries see them end at once, as
    /// Prometheus does for a target that disappears), leaves unchanged ones on schedule.
    pub fn apply_targets(&self, specs: Vec<ProbeSpec>) -> ApplyStats {
        let mut stats = ApplyStats::default();
        let mut running = self.running.lock();
        let mut next: HashMap<String, Running> = HashMap::with_capacity(specs.len());
        for spec in specs {
            match running.remove(&spec.name) {
                Some(r) if *r.spec == spec => {
                    stats.unchanged += 1;
                    next.insert(spec.name.clone(), r);
                }
                Some(old) => {
                    stats.changed += 1;
                    let old_labels = old.spec.labels.clone();
                    self.retire(old, spec.labels != old_labels);
                    // The old task's last stamp may be up to the alignment's lead ahead of
                    // the clock; the new one's samples (same series when the labels are
                    // unchanged) come after it.
                    let after = now_ms().saturating_add(ALIGN_TOLERANCE_MS);
                    next.insert(spec.name.clone(), self.start_target(spec, Some(after)));
                }
                None => {
                    stats.added += 1;
                    next.insert(spec.name.clone(), self.start_target(spec, None));
                }
            }
        }
        for (_, old) in running.drain() {
            stats.removed += 1;
            self.retire(old, true);
        }
        *running = next;
        stats
    }

    /// Stops every target and waits for their tasks to end.
    pub async fn stop_targets(&self) {
        let handles: Vec<JoinHandle<Ended>> = {
            let mut running = self.running.lock();
            running
                .drain()
                .map(|(_, r)| {
                    r.cancel.cancel();
                    r.handle
                })
                .collect()
        };
        for h in handles {
            let _ = h.await;
        }
    }

    /// Starts a target's task; its samples are stamped after `after` (ms) when given.
    fn start_target(&self, spec: ProbeSpec, after: Option<i64>) -> Running {
        let cancel = CancellationToken::new();
        let spec = Arc::new(spec);
        let task = TargetTask {
            spec: spec.clone(),
            refs: [None; 5],
            after,
            shared: self.shared.clone(),
        };
        let handle = tokio::spawn(task.run(cancel.clone()));
        Running {
            spec,
            cancel,
            handle,
        }
    }

    /// Stops a target's task; once it has ended, ends its series with stale markers when
    /// `mark_stale` (the series will not be written again under these labels).
    fn retire(&self, old: Running, mark_stale: bool) {
        old.cancel.cancel();
        let store = self.shared.store.clone();
        tokio::spawn(async move {
            let Ok(Ended { written, end_ms }) = old.handle.await else {
                return;
            };
            if mark_stale {
                let t = end_ms;
                for (i, _) in written.iter().enumerate().filter(|(_, w)| **w) {
                    let labels = series_labels(&old.spec.labels, i);
                    let _ = store.append(&labels, t, crate::store::stale_marker());
                }
            }
        });
    }
}

/// The labels of a target's series `i` (in [`SERIES`] order): its own and `__name__`.
fn series_labels(base: &Labels, i: usize) -> Labels {
    Labels::new(
        base.iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .chain([(Arc::from(METRIC_NAME), Arc::from(SERIES[i].0))]),
    )
}

/// A target's task: small while it rests (thousands of them wait at once), since its
/// label sets are not kept, only where the store keeps its series.
struct TargetTask {
    spec: Arc<ProbeSpec>,
    /// Where each of the target's series lives in the store (in [`SERIES`] order); its
    /// labels are built only when one is missing or stale.
    refs: [Option<SeriesRef>; 5],
    /// Stamps come after this (ms): the last stamp of the task this one replaces.
    after: Option<i64>,
    shared: Arc<Shared>,
}

/// How far a probe's start may be from its schedule and still be stamped with the scheduled
/// time (Prometheus aligns scrape timestamps the same way, within 2 ms).
const ALIGN_TOLERANCE_MS: i64 = 5;

/// Stamps a target's samples with their scheduled time, so timestamps step by exactly the
/// interval and the store encodes each in one bit instead of ~7 (a millisecond of jitter
/// costs a delta-of-delta); a start further than [`ALIGN_TOLERANCE_MS`] from the schedule,
/// or a wall-clock step, is stamped as it happened and becomes the new anchor. Stamps only
/// increase (an aligned stamp may be up to the tolerance ahead of the clock, and the next
/// start, late and re-anchored, could otherwise fall before it and be refused).
#[derive(Default)]
struct ScheduleClock {
    /// A scheduled instant and the wall-clock time (ms) it was given.
    anchor: Option<(tokio::time::Instant, i64)>,
    /// The last stamp given.
    last: Option<i64>,
}

impl ScheduleClock {
    fn stamp(&mut self, scheduled: tokio::time::Instant, now_ms: i64) -> i64 {
        let aligned = self.anchor.map(|(at, wall)| {
            let since = i64::try_from(scheduled.saturating_duration_since(at).as_millis())
                .unwrap_or(i64::MAX);
            wall.saturating_add(since)
        });
        let ts = match aligned {
            Some(a) if (now_ms - a).abs() <= ALIGN_TOLERANCE_MS => a,
            _ => {
                self.anchor = Some((scheduled, now_ms));
                now_ms
            }
        };
        let ts = after_lead(self.last, ts);
        self.last = Some(ts);
        ts
    }

    /// The time to end the target's series at: now, or just after its last stamp if that is
    /// ahead of the clock by the alignment.
    fn end(&self, now_ms: i64) -> i64 {
        after_lead(self.last, now_ms)
    }
}

/// `t`, or just after `last` when `t` is not after it by no more than the alignment's lead (a
/// wall clock stepped back further is left as it is: the store refuses what it stamps, as
/// for any writer, until the clock passes the old times).
fn after_lead(last: Option<i64>, t: i64) -> i64 {
    match last {
        Some(last) if t <= last && last - t <= ALIGN_TOLERANCE_MS => last.saturating_add(1),
        _ => t,
    }
}

/// A stable offset in `[0, interval)` for `name`, so restarts keep the same spread.
fn start_offset(name: &str, interval: Duration) -> Duration {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    let ms = u64::try_from(interval.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    Duration::from_millis(h.finish() % ms)
}

impl TargetTask {
    async fn run(mut self, cancel: CancellationToken) -> Ended {
        let mut written = [false; 5];
        let mut clock = ScheduleClock {
            anchor: None,
            last: self.after,
        };
        let grpc_channel = match self.spec.kind() {
            ProbeKind::Grpc => match grpc::channel(&self.spec) {
                Ok(c) => Some(c),
                Err(e) => {
                    self.shared.metrics.channel_failed(&self.spec.name, &e);
                    self.shared.first_round.finished_one();
                    return Ended {
                        written,
                        end_ms: now_ms(),
                    };
                }
            },
            _ => None,
        };
        let first = tokio::time::Instant::now() + start_offset(&self.spec.name, self.spec.interval);
        let mut ticker = tokio::time::interval_at(first, self.spec.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut last: Option<(bool, Option<Failure>, Instant)> = None;
        let mut reported = false;
        loop {
            let scheduled = tokio::select! {
                _ = cancel.cancelled() => break,
                t = ticker.tick() => t,
            };
            let permit = tokio::select! {
                _ = cancel.cancelled() => break,
                p = self.shared.permits.acquire() => p,
            };
            let started = Instant::now();
            self.shared
                .metrics
                .started_late(started.saturating_duration_since(scheduled.into_std()));
            let ts = clock.stamp(scheduled, now_ms());
            let outcome = tokio::select! {
                _ = cancel.cancelled() => break,
                // Boxed: the in-flight probe (a few KB of HTTP client state) exists only while it
                // runs, instead of in each of thousands of resting target tasks.
                o = tokio::time::timeout(self.spec.timeout, Box::pin(self.probe_once(grpc_channel.as_ref(), started))) => o,
            };
            drop(permit);
            let mut outcome = outcome.unwrap_or_else(|_| Outcome {
                failure: Some(Failure::new(
                    FailureReason::Timeout,
                    format!(
                        "no answer within {}",
                        crate::config::PromDuration(self.spec.timeout)
                    ),
                )),
                ..Outcome::default()
            });
            // probe_duration_seconds is the whole probe, whatever path it ended on.
            outcome.duration = started.elapsed();
            for (w, now) in written.iter_mut().zip(self.record(ts, &outcome)) {
                *w |= now;
            }
            last = self.shared.metrics.transition(&self.spec, last, outcome);
            if !reported {
                reported = true;
                self.shared.first_round.finished_one();
            }
        }
        Ended {
            written,
            end_ms: clock.end(now_ms()),
        }
    }

    async fn probe_once(
        &self,
        channel: Option<&tonic::transport::Channel>,
        started: Instant,
    ) -> Outcome {
        match (self.spec.kind(), channel) {
            (ProbeKind::Http, _) => http::probe(&self.shared.clients, &self.spec, started).await,
            (ProbeKind::Tcp, _) => tcp::probe(&self.spec, started).await,
            (ProbeKind::Grpc, Some(ch)) => grpc::probe(ch, &self.spec, started).await,
            (ProbeKind::Grpc, None) => Outcome::default(),
        }
    }

    /// Writes the outcome; returns which of the series (in [`SERIES`] order) it wrote.
    fn record(&mut self, ts: i64, o: &Outcome) -> [bool; 5] {
        self.shared.metrics.probed(&self.spec.name, o);
        let http = self.spec.kind() == ProbeKind::Http;
        let values = [
            Some(if o.success() { 1.0 } else { 0.0 }),
            Some(o.duration.as_secs_f64()),
            http.then(|| f64::from(o.http_status.unwrap_or(0))),
            http.then(|| f64::from(o.redirects)),
            o.cert_not_after.map(|t| t as f64),
        ];
        let mut written = [false; 5];
        let labels = &self.spec.labels;
        for (i, ((cached, v), w)) in self
            .refs
            .iter_mut()
            .zip(values)
            .zip(&mut written)
            .enumerate()
        {
            if let Some(v) = v {
                // Refusals (series cap) are counted by the store itself.
                *w = self
                    .shared
                    .store
                    .append_cached_with(|| series_labels(labels, i), cached, ts, v)
                    .is_ok();
            }
        }
        written
    }
}

impl Stage for Prober {
    type Spec = ProbesSpec;
    type Error = ProberError;

    async fn build(spec: ProbesSpec, ctx: &Context) -> Result<Self, ProberError> {
        let prober = Prober::new(ctx.store.clone(), spec.max_concurrency, &ctx.registry)?;
        *prober.pending.lock() = spec.targets;
        Ok(prober)
    }

    fn start(&self) {
        let targets = std::mem::take(&mut *self.pending.lock());
        self.shared.first_round.begin(targets.len());
        self.apply_targets(targets);
    }

    fn apply(&self, spec: ProbesSpec) -> Applied {
        let mut applied = Applied::stats(self.apply_targets(spec.targets));
        if spec.max_concurrency != self.max_concurrency {
            applied
                .needs_restart
                .push("probes.max_concurrency".to_string());
        }
        applied
    }

    async fn stop(&self) {
        self.stop_targets().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_round_is_done_when_every_target_reported_once() {
        let round = FirstRound::new();
        let rx = round.done.subscribe();
        round.begin(2);
        round.finished_one();
        assert!(!*rx.borrow());
        round.finished_one();
        assert!(*rx.borrow());
        // A target added later counts down past zero harmlessly.
        round.finished_one();
        assert!(*rx.borrow());
        let empty = FirstRound::new();
        empty.begin(0);
        assert!(*empty.done.borrow());
    }

    #[test]
    fn timestamps_follow_the_schedule_within_the_tolerance() {
        let mut clock = ScheduleClock::default();
        let t0 = tokio::time::Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let wall = 1_700_000_000_000i64;
        assert_eq!(clock.stamp(at(0), wall + 1), wall + 1);
        // Started 3 ms late, 2 ms early: stamped on schedule.
        assert_eq!(clock.stamp(at(1), wall + 1_004), wall + 1_001);
        assert_eq!(clock.stamp(at(2), wall + 1_999), wall + 2_001);
        // 300 ms late: stamped as it ran, and the next ones follow the new anchor.
        assert_eq!(clock.stamp(at(3), wall + 3_301), wall + 3_301);
        assert_eq!(clock.stamp(at(4), wall + 4_300), wall + 4_301);
        // Never before the last stamp: aligned 3 ms ahead of the clock, then a start 1 ms
        // later that re-anchors (a missed tick returned at once).
        assert_eq!(clock.stamp(at(5), wall + 5_298), wall + 5_301);
        assert_eq!(clock.stamp(at(6), wall + 5_299), wall + 5_302);
        assert_eq!(clock.end(wall + 5_300), wall + 5_303);
        assert_eq!(clock.end(wall + 9_000), wall + 9_000);
        // A clock seeded with the last stamp of the task it replaces.
        let mut next = ScheduleClock {
            anchor: None,
            last: Some(wall + 5_305),
        };
        assert_eq!(next.stamp(at(9), wall + 5_301), wall + 5_306);
        // The wall clock stepped back an hour: the real time again.
        let back = wall - 3_600_000;
        assert_eq!(clock.stamp(at(7), back + 7_000), back + 7_000);
        assert_eq!(clock.stamp(at(8), back + 8_002), back + 8_000);
    }

    #[test]
    fn offsets_are_stable_within_the_interval_and_spread() {
        let interval = Duration::from_secs(1);
        let a = start_offset("api", interval);
        assert_eq!(a, start_offset("api", interval));
        assert!(a < interval);
        let mut buckets = [0usize; 10];
        for i in 0..2000 {
            let o = start_offset(&format!("t{i}"), interval);
            buckets[(o.as_millis() / 100) as usize] += 1;
        }
        // 2,000 targets over ten 100 ms slots: none holds more than twice its share.
        assert!(buckets.iter().all(|&n| n < 400), "{buckets:?}");
    }
}

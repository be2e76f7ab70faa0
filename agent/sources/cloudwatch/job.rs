//! One job's run: find its dimension sets (static, or ListMetrics cached for
//! `discovery_ttl`), ask GetMetricData in calls of at most 500 queries (the calls of a run go
//! out together, each waiting for a permit of the source's concurrency), and write every new
//! datapoint into the store at CloudWatch's own timestamp.
//!
//! - **Windows**: a run asks from where the last complete run ended, and a first run (after
//!   a start or a restart) from [`MAX_CATCH_UP`] periods back, so a slow run, a failed call,
//!   a reload or a restart of up to that long loses no period.
//! - **Sparse sets**: a dimension set all of whose queries came back empty
//!   [`SPARSE_AFTER`] runs in a row is asked every [`SPARSE_EVERY`] runs, over a window that
//!   covers the runs it skipped (GetMetricData bills per metric, not per datapoint).
//! - **Ends**: a dimension set that discovery no longer lists gets a stale marker, so its
//!   series end at once instead of lingering for the lookback.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use parking_lot::Mutex;
use tokio::sync::Semaphore;

use super::client::{CallError, CloudWatchClient, QueryResult};
use super::config::JobSpec;
use super::plan::{self, DimensionSet, Query, Window};
use crate::store::{AppendError, Labels, Store, stale_marker};

/// Runs in a row a dimension set may come back empty before it is asked less often.
pub const SPARSE_AFTER: u32 = 10;
/// A sparse dimension set is asked every this many runs (and every run again once it has data).
pub const SPARSE_EVERY: u64 = 10;
/// How many periods a run reaches back to catch up on periods a previous run missed.
pub const MAX_CATCH_UP: i64 = 10;

/// What one run did, for the source's metrics and logs.
#[derive(Debug, Default)]
pub struct RunReport {
    /// ListMetrics pages requested.
    pub list_calls: u64,
    /// GetMetricData pages requested.
    pub data_calls: u64,
    /// Metric/statistic pairs requested (what AWS bills for GetMetricData).
    pub metrics_requested: u64,
    /// Datapoints written.
    pub points_written: u64,
    /// Series ended with a stale marker (their dimension set left discovery).
    pub series_ended: u64,
    /// Series queried.
    pub series: usize,
    /// Series not queried this run (their dimension set is sparse).
    pub sparse_skipped: usize,
    /// Whether discovery reused an unexpired listing.
    pub discovery_cached: bool,
    /// Calls that failed, and queries CloudWatch could not answer (the run goes on).
    pub errors: Vec<CallError>,
    /// Datapoints the store refused, by reason.
    pub refused: Vec<AppendError>,
}

/// A discovery listing and when it was made.
struct Listing {
    at: Instant,
    sets: Vec<DimensionSet>,
}

/// What a runner remembers between runs (and hands to its successor on reload).
#[derive(Default)]
struct Memory {
    /// Newest timestamp written per series (a window that overlaps the last one writes only
    /// what is new).
    written: HashMap<Labels, i64>,
    /// Runs in a row each dimension set came back with no datapoint at all.
    empty: HashMap<DimensionSet, u32>,
    /// End of the last window every call of which answered.
    asked_until_ms: Option<i64>,
}

/// One job, ready to run again and again.
pub struct JobRunner {
    pub spec: JobSpec,
    client: CloudWatchClient,
    discovery_ttl: Duration,
    listing: Mutex<Option<Listing>>,
    memory: Mutex<Memory>,
    runs: AtomicU64,
}

impl JobRunner {
    pub fn new(spec: JobSpec, client: CloudWatchClient, discovery_ttl: Duration) -> Self {
        JobRunner {
            spec,
            client,
            discovery_ttl,
            listing: Mutex::new(None),
            memory: Mutex::new(Memory::default()),
            runs: AtomicU64::new(0),
        }
    }

    /// Takes over what `old` (the same job before a reload) wrote and asked, so the new
    /// runner neither re-reads nor loses a period and ends what it no longer covers.
    pub fn inherit(&self, old: &JobRunner) {
        *self.memory.lock() = std::mem::take(&mut *old.memory.lock());
    }

    /// Ends every series this runner wrote (its job was removed).
    pub fn end_all(&self, store: &Store, now_ms: i64) -> u64 {
        let written = std::mem::take(&mut self.memory.lock().written);
        written
            .into_keys()
            .filter(|l| store.append(l, now_ms, stale_marker()).is_ok())
            .count() as u64
    }

    /// The job's dimension sets: the static ones, or a listing (fresh when the last is
    /// older than the TTL; when listing fails the last one is used, if any). A discovered
    /// set found for any of the job's metrics is asked for all of them: a metric CloudWatch
    /// publishes only when it happens (ALB 5xx) is asked before it first appears.
    async fn sets(&self, report: &mut RunReport) -> Vec<DimensionSet> {
        let job = &self.spec;
        if !job.discovers() {
            return job.static_sets.clone();
        }
        if let Some(l) = &*self.listing.lock()
            && l.at.elapsed() < self.discovery_ttl
        {
            report.discovery_cached = true;
            return l.sets.clone();
        }
        let mut found = BTreeSet::new();
        for m in &job.metrics {
            match self
                .client
                .list_metrics(
                    &job.namespace,
                    &m.name,
                    &job.dimensions,
                    &mut report.list_calls,
                )
                .await
            {
                Ok(sets) => found.extend(sets.into_iter().filter(|s| plan::wanted(job, s))),
                Err(e) => {
                    report.errors.push(e);
                    // Keep querying what the last listing had.
                    let last = self.listing.lock();
                    return last.as_ref().map(|l| l.sets.clone()).unwrap_or_default();
                }
            }
        }
        let sets: Vec<DimensionSet> = found.into_iter().collect();
        *self.listing.lock() = Some(Listing {
            at: Instant::now(),
            sets: sets.clone(),
        });
        sets
    }

    /// One GetMetricData call (all its pages) once a permit is free; `None` when the source
    /// is stopping.
    async fn call<'a>(
        &self,
        w: Window,
        batch: &'a [Query],
        permits: &Semaphore,
    ) -> (
        Window,
        &'a [Query],
        Option<Result<Vec<(String, QueryResult)>, CallError>>,
        u64,
    ) {
        let mut pages = 0;
        let Ok(_permit) = permits.acquire().await else {
            return (w, batch, None, pages);
        };
        let answer = self
            .client
            .get_metric_data(&self.spec.namespace, self.spec.period, w, batch, &mut pages)
            .await;
        (w, batch, Some(answer), pages)
    }

    /// One run at `now_ms`; `permits` bounds the GetMetricData calls in flight.
    pub async fn run(&self, store: &Store, now_ms: i64, permits: &Semaphore) -> RunReport {
        let mut report = RunReport::default();
        let job = &self.spec;
        let sets = self.sets(&mut report).await;
        let run = self.runs.fetch_add(1, Ordering::Relaxed);
        let period_ms = i64::try_from(job.period.as_millis()).unwrap_or(i64::MAX);
        let fresh = plan::window(now_ms, job.period, job.length, job.delay);
        let reach = |periods: i64| {
            fresh
                .end_ms
                .saturating_sub(period_ms.saturating_mul(periods))
        };
        // From where the last complete run ended (a slow or failed run loses no period), or
        // on a first run (a start, a restart) MAX_CATCH_UP periods back: what the store
        // already holds is written again as exact repeats, which it ignores.
        let asked_until = self.memory.lock().asked_until_ms;
        let window = Window {
            start_ms: asked_until
                .map_or(i64::MIN, |t| t.min(fresh.start_ms))
                .max(reach(MAX_CATCH_UP).min(fresh.start_ms)),
            end_ms: fresh.end_ms,
        };
        // Sparse sets, when asked, cover the runs they skipped.
        let sparse_window = Window {
            start_ms: window.start_ms.min(reach(SPARSE_EVERY as i64)),
            end_ms: fresh.end_ms,
        };
        // The account is known when the job assumes a role: it is in the role's ARN.
        let account = job.role_arn.as_deref().and_then(plan::arn_account);
        let (regular, sparse): (Vec<DimensionSet>, Vec<DimensionSet>) = {
            let m = self.memory.lock();
            sets.iter()
                .cloned()
                .partition(|s| job.nil_to_zero || m.empty.get(s).is_none_or(|&n| n < SPARSE_AFTER))
        };
        let regular_calls = plan::calls(job, &regular, account);
        let sparse_calls = plan::calls(job, &sparse, account);
        // Every series the job covers stays alive, asked this run or not.
        let covered: HashSet<Labels> = regular_calls
            .iter()
            .chain(&sparse_calls)
            .flatten()
            .map(|q| q.series.clone())
            .collect();
        let mut batches: Vec<(Window, Vec<Query>)> =
            regular_calls.into_iter().map(|b| (window, b)).collect();
        if run.is_multiple_of(SPARSE_EVERY) {
            batches.extend(sparse_calls.into_iter().map(|b| (sparse_window, b)));
        }
        let asked: usize = batches.iter().map(|(_, b)| b.len()).sum();
        report.sparse_skipped = covered.len().saturating_sub(asked);
        report.series = asked;
        report.metrics_requested = asked as u64;

        // The calls go out together, each holding a permit while it runs.
        let mut answers = futures::stream::FuturesUnordered::new();
        for (w, batch) in &batches {
            answers.push(self.call(*w, batch, permits));
        }
        let mut complete = true;
        let mut sets_with_data: HashSet<DimensionSet> = HashSet::new();
        let mut sets_asked: HashSet<DimensionSet> = HashSet::new();
        while let Some((w, batch, answer, pages)) = answers.next().await {
            report.data_calls += pages;
            let results = match answer {
                Some(Ok(r)) => r,
                Some(Err(e)) => {
                    report.errors.push(e);
                    complete = false;
                    continue;
                }
                None => {
                    complete = false;
                    continue;
                }
            };
            sets_asked.extend(batch.iter().map(|q| q.dimensions.clone()));
            let by_id: HashMap<&str, &Query> = batch.iter().map(|q| (q.id.as_str(), q)).collect();
            let mut failed: Vec<String> = Vec::new();
            let mut m = self.memory.lock();
            for (id, result) in results {
                let Some(q) = by_id.get(id.as_str()) else {
                    continue;
                };
                let QueryResult { points, failed: f } = result;
                if let Some(f) = f {
                    failed.push(format!("{} {}: {f}", q.metric, q.statistic));
                    // Asked again next run: the window does not move past it.
                    complete = false;
                    continue;
                }
                if !points.is_empty() {
                    sets_with_data.insert(q.dimensions.clone());
                }
                let last = m.written.get(&q.series).copied().unwrap_or(i64::MIN);
                // nil_to_zero: a 0 at the window's oldest period, which no later run asks
                // again, so a datapoint that lands late in a newer one is still written.
                let zero = [(w.start_ms, 0.0)];
                let points: &[(i64, f64)] = if points.is_empty() && job.nil_to_zero {
                    &zero
                } else {
                    &points
                };
                let mut newest = last;
                // Newest first from CloudWatch: write oldest first.
                for &(t, v) in points.iter().rev().filter(|(t, _)| *t > last) {
                    match store.append(&q.series, t, v) {
                        Ok(()) => {
                            report.points_written += 1;
                            newest = newest.max(t);
                        }
                        // After a restart the first window overlaps what the checkpoint
                        // holds: repeats are accepted, a datapoint CloudWatch revised since
                        // is older than the series' newest sample and is left as written.
                        Err(AppendError::OutOfOrder) => {}
                        Err(e) => report.refused.push(e),
                    }
                }
                if newest > last {
                    m.written.insert(q.series.clone(), newest);
                }
            }
            if let Some(first) = failed.first() {
                report.errors.push(CallError::Service {
                    op: "GetMetricData",
                    code: "query not answered".into(),
                    message: format!("{} of {} queries, first {first}", failed.len(), batch.len()),
                });
            }
        }
        drop(answers);
        let mut m = self.memory.lock();
        for s in sets_asked {
            if sets_with_data.contains(&s) {
                m.empty.remove(&s);
            } else {
                *m.empty.entry(s).or_default() += 1;
            }
        }
        if !complete {
            return report;
        }
        m.asked_until_ms = Some(fresh.end_ms);
        // Series whose dimension set is no longer covered end now (a failed listing keeps
        // the last one, so only a listing that answered ends series).
        let gone: Vec<Labels> = m
            .written
            .keys()
            .filter(|l| !covered.contains(*l))
            .cloned()
            .collect();
        let kept: BTreeSet<&DimensionSet> = sets.iter().collect();
        m.empty.retain(|s, _| kept.contains(s));
        for labels in gone {
            m.written.remove(&labels);
            if store.append(&labels, now_ms, stale_marker()).is_ok() {
                report.series_ended += 1;
            }
        }
        report
    }
}

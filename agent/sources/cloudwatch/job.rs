//! One job's run: find its dimension sets (static, or ListMetrics cached for
//! `discovery_ttl`), ask GetMetricData for the window in calls of at most 500 queries (each
//! call waits for a permit of the source's concurrency), and write every new datapoint into
//! the store at CloudWatch's own timestamp. A dimension set that discovery no longer lists
//! gets a stale marker, so its series end at once instead of lingering for the lookback.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Semaphore;

use super::client::{CallError, CloudWatchClient};
use super::config::JobSpec;
use super::plan::{self, DimensionSet};
use crate::store::{AppendError, Labels, Store, stale_marker};

/// Runs in a row a query may come back empty before it is asked less often.
pub const SPARSE_AFTER: u32 = 10;
/// A sparse query is asked every this many runs (and at once again when it has data).
pub const SPARSE_EVERY: u64 = 10;

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
    /// Series not queried this run: empty for [`SPARSE_AFTER`] runs in a row, they are asked
    /// every [`SPARSE_EVERY`] runs.
    pub sparse_skipped: usize,
    /// Whether discovery reused an unexpired listing.
    pub discovery_cached: bool,
    /// Calls that failed (the run goes on with the others).
    pub errors: Vec<CallError>,
    /// Datapoints the store refused, by reason.
    pub refused: Vec<AppendError>,
}

/// A discovery listing and when it was made.
struct Listing {
    at: Instant,
    sets: BTreeMap<String, Vec<DimensionSet>>,
}

/// One job, ready to run again and again.
pub struct JobRunner {
    pub spec: JobSpec,
    client: CloudWatchClient,
    discovery_ttl: Duration,
    listing: Mutex<Option<Listing>>,
    /// Newest timestamp written per series (so a window that overlaps the last one writes
    /// only what is new, and late datapoints of a period not yet written still land).
    written: Mutex<HashMap<Labels, i64>>,
    /// Runs in a row each series' query came back with no datapoint.
    empty: Mutex<HashMap<Labels, u32>>,
    /// Runs so far.
    runs: std::sync::atomic::AtomicU64,
}

impl JobRunner {
    pub fn new(spec: JobSpec, client: CloudWatchClient, discovery_ttl: Duration) -> Self {
        JobRunner {
            spec,
            client,
            discovery_ttl,
            listing: Mutex::new(None),
            written: Mutex::new(HashMap::new()),
            empty: Mutex::new(HashMap::new()),
            runs: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The dimension sets per metric: the static ones, or a listing (fresh when the last is
    /// older than the TTL; when listing fails the last one is used, if any).
    async fn sets(&self, report: &mut RunReport) -> BTreeMap<String, Vec<DimensionSet>> {
        let job = &self.spec;
        if !job.discovers() {
            return job
                .metrics
                .iter()
                .map(|m| (m.name.clone(), job.static_sets.clone()))
                .collect();
        }
        if let Some(l) = &*self.listing.lock()
            && l.at.elapsed() < self.discovery_ttl
        {
            report.discovery_cached = true;
            return l.sets.clone();
        }
        let mut sets = BTreeMap::new();
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
                Ok(found) => {
                    let kept = found.into_iter().filter(|s| plan::wanted(job, s)).collect();
                    sets.insert(m.name.clone(), kept);
                }
                Err(e) => {
                    report.errors.push(e);
                    // Keep querying what the last listing had.
                    let last = self.listing.lock();
                    return last.as_ref().map(|l| l.sets.clone()).unwrap_or_default();
                }
            }
        }
        *self.listing.lock() = Some(Listing {
            at: Instant::now(),
            sets: sets.clone(),
        });
        sets
    }

    /// One run at `now_ms`; `permits` bounds the GetMetricData calls in flight.
    pub async fn run(&self, store: &Store, now_ms: i64, permits: &Semaphore) -> RunReport {
        let mut report = RunReport::default();
        let job = &self.spec;
        let sets = self.sets(&mut report).await;
        let window = plan::window(now_ms, job.period, job.length, job.delay);
        let run = self.runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // The account is known when the job assumes a role: it is in the role's ARN.
        let account = job.role_arn.as_deref().and_then(plan::arn_account);
        let sets_of = |metric: &str| sets.get(metric).cloned().unwrap_or_default();
        // Every series the job covers stays alive, asked this run or not.
        let queried: HashSet<Labels> = plan::calls(job, &sets_of, account, &|_| true)
            .into_iter()
            .flatten()
            .map(|q| q.series)
            .collect();
        let calls = {
            let empty = self.empty.lock();
            let ask = |l: &Labels| {
                run.is_multiple_of(SPARSE_EVERY) || empty.get(l).is_none_or(|&n| n < SPARSE_AFTER)
            };
            plan::calls(job, &sets_of, account, &ask)
        };
        let asked: usize = calls.iter().map(Vec::len).sum();
        report.sparse_skipped = queried.len().saturating_sub(asked);
        let period_ms = i64::try_from(job.period.as_millis()).unwrap_or(i64::MAX);
        let mut complete = true;
        for batch in &calls {
            report.metrics_requested += batch.len() as u64;
            report.series += batch.len();
            let answer = {
                let Ok(_permit) = permits.acquire().await else {
                    // The source is stopping.
                    complete = false;
                    break;
                };
                self.client
                    .get_metric_data(
                        &job.namespace,
                        job.period,
                        window,
                        batch,
                        &mut report.data_calls,
                    )
                    .await
            };
            let results = match answer {
                Ok(r) => r,
                Err(e) => {
                    report.errors.push(e);
                    continue;
                }
            };
            let by_id: HashMap<&str, &plan::Query> =
                batch.iter().map(|q| (q.id.as_str(), q)).collect();
            let mut written = self.written.lock();
            let mut empty = self.empty.lock();
            for q in batch {
                *empty.entry(q.series.clone()).or_default() += 1;
            }
            for (id, points) in results {
                let Some(q) = by_id.get(id.as_str()) else {
                    continue;
                };
                if !points.is_empty() {
                    empty.remove(&q.series);
                }
                let last = written.get(&q.series).copied().unwrap_or(i64::MIN);
                let mut newest = last;
                let zero = [(window.end_ms.saturating_sub(period_ms), 0.0)];
                let points: &[(i64, f64)] = if points.is_empty() && job.nil_to_zero {
                    &zero
                } else {
                    &points
                };
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
                    written.insert(q.series.clone(), newest);
                }
            }
        }
        // Series whose dimension set is no longer queried end now (a failed listing keeps
        // the last one, so only a listing that answered ends series).
        if !complete {
            return report;
        }
        let mut written = self.written.lock();
        let gone: Vec<Labels> = written
            .keys()
            .filter(|l| !queried.contains(*l))
            .cloned()
            .collect();
        self.empty.lock().retain(|l, _| queried.contains(l));
        for labels in gone {
            written.remove(&labels);
            if store.append(&labels, now_ms, stale_marker()).is_ok() {
                report.series_ended += 1;
            }
        }
        report
    }
}

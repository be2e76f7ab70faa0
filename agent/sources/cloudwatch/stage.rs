//! The CloudWatch source as a pipeline stage: built from `cloudwatch:` (a client and a
//! [`JobRunner`] per job, metrics registered), one task per job running it every period,
//! the jobs replaced on reload (added, removed and changed ones restart; unchanged ones keep
//! their discovery cache and their written-up-to marks), and stopped on shutdown.
//!
//! GetMetricData calls of all jobs share `cloudwatch.concurrency` permits (one semaphore,
//! resized on reload: a call waits for a permit; nothing is queued beyond the calls of the
//! runs in progress). A removed job's series end with a stale marker and its per-job
//! metrics are deleted; a changed job's runner hands what it wrote and asked to its successor.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::client::CloudWatchClient;
use super::config::{CloudWatchSpec, JobSpec};
use super::internal_events::CloudWatchMetrics;
use super::job::JobRunner;
use crate::net::aws::AwsSetup;
use crate::stage::{Applied, ApplyStats, Context, Stage};
use crate::store::{Store, now_ms};

/// Why the source could not be built.
#[derive(Debug, thiserror::Error)]
pub enum CloudWatchError {
    #[error("cannot register the CloudWatch metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// One running job.
struct Running {
    /// The job's spec as text, to tell a changed job on reload.
    fingerprint: String,
    runner: Arc<JobRunner>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

/// The CloudWatch stage.
pub struct CloudWatchSource {
    store: Arc<Store>,
    metrics: CloudWatchMetrics,
    cancel: CancellationToken,
    spec: Mutex<CloudWatchSpec>,
    permits: Arc<Semaphore>,
    running: Mutex<BTreeMap<String, Running>>,
}

/// The job's spec (its endpoint resolved from the section's) and the section's discovery TTL.
fn fingerprint(job: &JobSpec, spec: &CloudWatchSpec) -> String {
    format!("{job:?} {:?}", spec.discovery_ttl)
}

impl CloudWatchSource {
    fn spawn(&self, job: JobSpec, spec: &CloudWatchSpec, previous: Option<&JobRunner>) -> Running {
        let fingerprint = fingerprint(&job, spec);
        let setup = Arc::new(AwsSetup::chain(
            &job.region,
            job.endpoint_url.as_ref().map(|u| u.to_string()),
            job.role_arn.clone(),
        ));
        let client = CloudWatchClient::new(&setup, &job.region);
        let runner = Arc::new(JobRunner::new(job, client, spec.discovery_ttl));
        if let Some(p) = previous {
            runner.inherit(p);
        }
        let cancel = self.cancel.child_token();
        let (store, metrics, permits, stop) = (
            self.store.clone(),
            self.metrics.clone(),
            self.permits.clone(),
            cancel.clone(),
        );
        let task = tokio::spawn({
            let runner = runner.clone();
            async move {
                let period = runner.spec.period;
                let name = runner.spec.name.clone();
                let namespace = runner.spec.namespace.clone();
                let mut failing = false;
                loop {
                    let report = tokio::select! {
                        _ = stop.cancelled() => break,
                        r = runner.run(&store, now_ms(), &permits) => r,
                    };
                    failing = metrics.ran(
                        &name,
                        &namespace,
                        &report,
                        failing,
                        now_ms() as f64 / 1000.0,
                    );
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(until_next(now_ms(), period)) => {}
                    }
                }
            }
        });
        Running {
            fingerprint,
            runner,
            cancel,
            task,
        }
    }
}

/// Time until just after the next period boundary (a tenth of the period, at most a second,
/// so the period has closed).
fn until_next(now_ms: i64, period: Duration) -> Duration {
    let p = i64::try_from(period.as_millis())
        .unwrap_or(i64::MAX)
        .max(1000);
    let next = now_ms.div_euclid(p).saturating_add(1).saturating_mul(p) + (p / 10).min(1000);
    Duration::from_millis(u64::try_from(next - now_ms).unwrap_or(1000))
}

impl Stage for CloudWatchSource {
    type Spec = CloudWatchSpec;
    type Error = CloudWatchError;

    async fn build(spec: CloudWatchSpec, ctx: &Context) -> Result<Self, CloudWatchError> {
        Ok(CloudWatchSource {
            store: ctx.store.clone(),
            metrics: CloudWatchMetrics::new(&ctx.registry)?,
            cancel: ctx.cancel.child_token(),
            permits: Arc::new(Semaphore::new(spec.concurrency)),
            spec: Mutex::new(spec),
            running: Mutex::new(BTreeMap::new()),
        })
    }

    fn start(&self) {
        let spec = self.spec.lock().clone();
        let mut running = self.running.lock();
        for job in &spec.jobs {
            running.insert(job.name.clone(), self.spawn(job.clone(), &spec, None));
        }
    }

    fn apply(&self, spec: CloudWatchSpec) -> Applied {
        let mut stats = ApplyStats::default();
        let mut running = self.running.lock();
        let before = self.spec.lock().concurrency;
        if spec.concurrency > before {
            self.permits.add_permits(spec.concurrency - before);
        } else if spec.concurrency < before {
            // Free permits go now; those held by calls in flight as they come back.
            let mut left = before - spec.concurrency;
            left -= self.permits.forget_permits(left);
            if let Ok(n) = u32::try_from(left)
                && n > 0
            {
                let permits = self.permits.clone();
                tokio::spawn(async move {
                    if let Ok(p) = permits.acquire_many(n).await {
                        p.forget();
                    }
                });
            }
        }
        let mut next = BTreeMap::new();
        for job in &spec.jobs {
            let fp = fingerprint(job, &spec);
            match running.remove(&job.name) {
                Some(r) if r.fingerprint == fp => {
                    stats.unchanged += 1;
                    next.insert(job.name.clone(), r);
                }
                Some(r) => {
                    stats.changed += 1;
                    r.cancel.cancel();
                    let new = self.spawn(job.clone(), &spec, Some(&r.runner));
                    next.insert(job.name.clone(), new);
                }
                None => {
                    stats.added += 1;
                    next.insert(job.name.clone(), self.spawn(job.clone(), &spec, None));
                }
            }
        }
        for (name, r) in std::mem::take(&mut *running) {
            stats.removed += 1;
            r.cancel.cancel();
            let ended = r.runner.end_all(&self.store, now_ms());
            self.metrics.forget(&name);
            tracing::info!(job = %name, series_ended = ended, "A CloudWatch job was removed; its series end.");
        }
        *running = next;
        *self.spec.lock() = spec;
        Applied::stats(stats)
    }

    async fn stop(&self) {
        self.cancel.cancel();
        let tasks: Vec<JoinHandle<()>> = std::mem::take(&mut *self.running.lock())
            .into_values()
            .map(|r| r.task)
            .collect();
        for t in tasks {
            let _ = t.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_wait_for_just_after_the_next_period_boundary() {
        let m = Duration::from_secs(60);
        assert_eq!(until_next(120_000, m), Duration::from_secs(61));
        assert_eq!(until_next(150_000, m), Duration::from_secs(31));
        assert_eq!(until_next(179_999, m), Duration::from_millis(1001));
        // A 1 s period runs every second, a tenth of a second past each.
        let s = Duration::from_secs(1);
        assert_eq!(until_next(5_100, s), Duration::from_millis(1000));
        assert_eq!(until_next(5_000, s), Duration::from_millis(1100));
    }
}

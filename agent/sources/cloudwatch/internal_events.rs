//! The CloudWatch source's log-and-count events in one place (Vector's `internal_events`):
//! API calls and metrics requested (what AWS bills), errors by reason, each job's last
//! success, and one log line when a job starts failing and one when it recovers.

use prometheus::{GaugeVec, IntCounterVec, Opts, Registry};

use super::job::RunReport;
use crate::telemetry::register;

/// The source's own metrics (`vitals_cloudwatch_*`).
#[derive(Clone)]
pub struct CloudWatchMetrics {
    /// `vitals_cloudwatch_api_calls_total{api, namespace}`: requests (pages) sent.
    calls: IntCounterVec,
    /// `vitals_cloudwatch_metrics_requested_total{namespace}`: metric/statistic pairs asked
    /// of GetMetricData (AWS bills per 1,000).
    requested: IntCounterVec,
    /// `vitals_cloudwatch_errors_total{reason}`: failed calls and refused datapoints.
    errors: IntCounterVec,
    /// `vitals_cloudwatch_last_success_timestamp_seconds{job}`: end of the job's last run
    /// with no failed call.
    last_success: GaugeVec,
    /// `vitals_cloudwatch_points_written_total{job}`: datapoints written into the store.
    points: IntCounterVec,
}

impl CloudWatchMetrics {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        Ok(CloudWatchMetrics {
            calls: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "vitals_cloudwatch_api_calls_total",
                        "CloudWatch API requests sent (each page), by API and namespace.",
                    ),
                    &["api", "namespace"],
                )?,
            )?,
            requested: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "vitals_cloudwatch_metrics_requested_total",
                        "Metric/statistic pairs requested with GetMetricData (what AWS bills), by namespace.",
                    ),
                    &["namespace"],
                )?,
            )?,
            errors: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "vitals_cloudwatch_errors_total",
                        "Failed CloudWatch calls (throttled, auth, network, service) and datapoints the store refused (store), by reason.",
                    ),
                    &["reason"],
                )?,
            )?,
            last_success: register(
                registry,
                GaugeVec::new(
                    Opts::new(
                        "vitals_cloudwatch_last_success_timestamp_seconds",
                        "When the job last completed a run with no failed call.",
                    ),
                    &["job"],
                )?,
            )?,
            points: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "vitals_cloudwatch_points_written_total",
                        "CloudWatch datapoints written into the store, by job.",
                    ),
                    &["job"],
                )?,
            )?,
        })
    }

    /// A removed job's series of the per-job metrics go.
    pub fn forget(&self, job: &str) {
        let _ = self.last_success.remove_label_values(&[job]);
        let _ = self.points.remove_label_values(&[job]);
    }

    /// A run of `job` over `namespace` ended at `now_s`; `failing` says whether the previous
    /// run failed, and the result whether this one did (for the log on a change).
    pub fn ran(
        &self,
        job: &str,
        namespace: &str,
        r: &RunReport,
        failing: bool,
        now_s: f64,
    ) -> bool {
        self.calls
            .with_label_values(&["ListMetrics", namespace])
            .inc_by(r.list_calls);
        self.calls
            .with_label_values(&["GetMetricData", namespace])
            .inc_by(r.data_calls);
        self.requested
            .with_label_values(&[namespace])
            .inc_by(r.metrics_requested);
        self.points
            .with_label_values(&[job])
            .inc_by(r.points_written);
        for e in &r.errors {
            self.errors.with_label_values(&[e.reason()]).inc();
        }
        if !r.refused.is_empty() {
            self.errors
                .with_label_values(&["store"])
                .inc_by(r.refused.len() as u64);
            tracing::debug!(job, refused = r.refused.len(), first = %r.refused[0], "The store refused CloudWatch datapoints.");
        }
        match r.errors.first() {
            None => {
                self.last_success.with_label_values(&[job]).set(now_s);
                if failing {
                    tracing::info!(job, series = r.series, "The CloudWatch job runs again.");
                }
                false
            }
            Some(e) => {
                if !failing {
                    tracing::error!(job, reason = e.reason(), error = %e, failed_calls = r.errors.len(), "A CloudWatch job failed; it is retried every period.");
                }
                true
            }
        }
    }
}

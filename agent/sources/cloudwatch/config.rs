//! `cloudwatch:`, the CloudWatch source's section of the configuration, and its validation
//! into [`CloudWatchSpec`]: jobs (namespace, dimensions, metrics and statistics, period,
//! length, delay), each either static (dimension values given) or discovered (ListMetrics).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;

use crate::config::{FieldError, PromDuration, Section};

/// `cloudwatch:`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudWatchConfig {
    /// AWS region of every job that names none, e.g. `us-east-1`.
    #[serde(default)]
    pub region: String,
    /// CloudWatch endpoint to call instead of AWS's (a VPC endpoint, or a test server).
    #[serde(default)]
    pub endpoint_url: String,
    /// Role every job assumes (STS AssumeRole) unless it names its own; empty: the
    /// credentials of the standard chain (environment, profile, web identity, ECS, IMDS).
    #[serde(default)]
    pub role_arn: String,
    /// How long a discovery (ListMetrics) result is reused before the namespace is listed again.
    #[serde(default = "defaults::discovery_ttl")]
    pub discovery_ttl: PromDuration,
    /// GetMetricData calls in flight at once, over all jobs (1 to 50).
    #[serde(default = "defaults::concurrency")]
    pub concurrency: usize,
    /// What to collect.
    #[serde(default)]
    pub jobs: Vec<JobConfig>,
}

/// One entry of `cloudwatch.jobs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    /// Name in logs and in `vitals_cloudwatch_last_success_timestamp_seconds{job}`;
    /// default the namespace (and region when two jobs share a namespace, give names).
    #[serde(default)]
    pub name: Option<String>,
    /// CloudWatch namespace, e.g. `AWS/ECS`, `AWS/ApplicationELB`, `AWS/RDS`.
    pub namespace: String,
    /// This job's region; default `cloudwatch.region`.
    #[serde(default)]
    pub region: Option<String>,
    /// This job's role to assume; default `cloudwatch.role_arn`.
    #[serde(default)]
    pub role_arn: Option<String>,
    /// Dimension names a metric must have, exactly (discovery jobs): `[ClusterName,
    /// ServiceName]` takes the per-service series and leaves the per-cluster ones out.
    #[serde(default)]
    pub dimensions: Vec<String>,
    /// Discovery jobs: keep only dimension values matching these (anchored) regular
    /// expressions, by dimension name; `{ClusterName: "prod-.*"}`.
    #[serde(default)]
    pub dimension_filters: BTreeMap<String, String>,
    /// Discovery jobs: keep only these exact dimension values, by dimension name;
    /// `{ServiceName: [api, web]}`.
    #[serde(default)]
    pub dimension_values: BTreeMap<String, Vec<String>>,
    /// This job's CloudWatch endpoint (a VPC endpoint of its region); default
    /// `cloudwatch.endpoint_url`.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Static jobs: the dimension sets to query, with no ListMetrics call; each names a
    /// value for every entry of `dimensions` (or gives the dimensions itself when
    /// `dimensions` is empty).
    #[serde(default, rename = "static")]
    pub static_dimensions: Vec<BTreeMap<String, String>>,
    /// The metrics and their statistics.
    pub metrics: Vec<MetricConfig>,
    /// CloudWatch period of each datapoint: 1s, 5s, 10s, 30s or a multiple of 60s. Default
    /// 60s, the period ALB, ECS and RDS publish at (YACE's default is 300s). Samples are
    /// written at CloudWatch's timestamps (the period's start), `delay` plus a period or
    /// more in the past: with a period of 300s the newest is 15–20 minutes old, past the
    /// 5-minute lookback of a plain selector, so rules over such metrics need
    /// `last_over_time(m[25m])`.
    #[serde(default = "defaults::period")]
    pub period: PromDuration,
    /// How much each run asks for; default the period. A run also reaches back to where
    /// the last complete run ended, and the first run after a start 10 periods back (at
    /// most 10 periods), so a slow or failed run, or an outage that short, loses nothing.
    #[serde(default)]
    pub length: Option<PromDuration>,
    /// How far behind now the window ends (CloudWatch publishes late); default 2× period.
    #[serde(default)]
    pub delay: Option<PromDuration>,
    /// Write 0 when a queried metric has no datapoint in the window (YACE's `nilToZero`),
    /// at the window's oldest period (never asked again, so a datapoint that lands late in
    /// a newer period still lands); otherwise nothing is written for it.
    #[serde(default)]
    pub nil_to_zero: bool,
}

/// One entry of a job's `metrics`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricConfig {
    /// CloudWatch metric name, e.g. `CPUUtilization`.
    pub name: String,
    /// Statistics to fetch: `Average`, `Sum`, `Maximum`, `Minimum`, `SampleCount`, or a
    /// percentile `p50` … `p99.99`. Each is one metric requested (what AWS bills).
    pub statistics: Vec<String>,
}

impl Section for CloudWatchConfig {}

mod defaults {
    use crate::config::PromDuration;
    use std::time::Duration;

    pub fn discovery_ttl() -> PromDuration {
        Duration::from_secs(600).into()
    }
    pub fn concurrency() -> usize {
        5
    }
    pub fn period() -> PromDuration {
        Duration::from_secs(60).into()
    }
}

/// The source's settings, validated.
#[derive(Debug, Clone)]
pub struct CloudWatchSpec {
    pub endpoint_url: Option<reqwest::Url>,
    pub discovery_ttl: Duration,
    pub concurrency: usize,
    pub jobs: Vec<JobSpec>,
}

/// Most GetMetricData calls in flight: AWS allows 50 a second per account and region.
pub const MAX_CONCURRENCY: usize = 50;

/// AWS's GetMetricData price: US$0.01 per 1,000 metrics requested (us-east-1; other regions
/// differ), from aws.amazon.com/cloudwatch/pricing.
pub const USD_PER_1000_METRICS: f64 = 0.01;

/// What a configuration costs in GetMetricData calls over a 30-day month.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostEstimate {
    /// Metric/statistic pairs the static jobs request per month.
    pub static_metrics: f64,
    /// Metric/statistic pairs the discovery jobs request per month for each dimension set
    /// they find (one resource, e.g. one ECS service).
    pub per_discovered_set: f64,
}

impl CostEstimate {
    /// US$ per month of the static jobs.
    pub fn static_usd(&self) -> f64 {
        self.static_metrics / 1000.0 * USD_PER_1000_METRICS
    }
    /// US$ per month per dimension set the discovery jobs find.
    pub fn per_set_usd(&self) -> f64 {
        self.per_discovered_set / 1000.0 * USD_PER_1000_METRICS
    }
}

impl CloudWatchSpec {
    /// The month's GetMetricData bill: each job runs every period and requests one metric
    /// per statistic and dimension set (ListMetrics is billed as an ordinary API request,
    /// within the free million for any sane discovery TTL).
    pub fn cost(&self) -> CostEstimate {
        let month = 30.0 * 24.0 * 3600.0;
        let mut c = CostEstimate {
            static_metrics: 0.0,
            per_discovered_set: 0.0,
        };
        for j in &self.jobs {
            let runs = month / j.period.as_secs_f64().max(1.0);
            let per_set = runs * j.queries_per_set() as f64;
            if j.discovers() {
                c.per_discovered_set += per_set;
            } else {
                c.static_metrics += per_set * j.static_sets.len() as f64;
            }
        }
        c
    }
}

/// One job, validated.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub name: String,
    pub namespace: String,
    pub region: String,
    pub role_arn: Option<String>,
    pub dimensions: Vec<String>,
    pub filters: Vec<(String, Regex)>,
    /// Exact values kept, by dimension name.
    pub values: Vec<(String, BTreeSet<String>)>,
    /// The endpoint to call, when not AWS's.
    pub endpoint_url: Option<reqwest::Url>,
    /// Static dimension sets (name, value), sorted by name; empty for a discovery job.
    pub static_sets: Vec<Vec<(String, String)>>,
    pub metrics: Vec<MetricSpec>,
    pub period: Duration,
    pub length: Duration,
    pub delay: Duration,
    pub nil_to_zero: bool,
}

impl JobSpec {
    /// True when the job lists its dimension sets with ListMetrics.
    pub fn discovers(&self) -> bool {
        self.static_sets.is_empty()
    }

    /// Metric/statistic pairs requested per dimension set and run.
    pub fn queries_per_set(&self) -> usize {
        self.metrics.iter().map(|m| m.statistics.len()).sum()
    }
}

/// One metric of a job, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSpec {
    pub name: String,
    pub statistics: Vec<String>,
}

/// Whether `s` is a statistic GetMetricData takes in `MetricStat.Stat` that vitals supports.
fn valid_statistic(s: &str) -> bool {
    if matches!(s, "Average" | "Sum" | "Maximum" | "Minimum" | "SampleCount") {
        return true;
    }
    // Percentiles as YACE accepts them: p0 … p100 with up to two decimals.
    let Some(p) = s.strip_prefix('p') else {
        return false;
    };
    let (int, frac) = p.split_once('.').unwrap_or((p, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    !int.is_empty()
        && int.len() <= 3
        && digits(int)
        && frac.len() <= 2
        && digits(frac)
        && (p.contains('.') <= !frac.is_empty())
        && int
            .parse::<u32>()
            .is_ok_and(|n| n < 100 || (n == 100 && frac.is_empty()))
}

/// CloudWatch periods: 1, 5, 10, 30 s (high resolution) or a multiple of 60 s.
fn valid_period(d: Duration) -> bool {
    let s = d.as_secs();
    d.subsec_nanos() == 0 && (matches!(s, 1 | 5 | 10 | 30) || (s > 0 && s.is_multiple_of(60)))
}

/// An `endpoint_url` field: `None` when empty, an error when not an http(s) URL.
fn endpoint(field: &str, value: &str, errors: &mut Vec<FieldError>) -> Option<reqwest::Url> {
    if value.is_empty() {
        return None;
    }
    match reqwest::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Some(url),
        _ => {
            errors.push(FieldError::new(
                field,
                format!("{value:?} is not an http(s) URL"),
            ));
            None
        }
    }
}

impl CloudWatchConfig {
    /// Validates the section; every problem, with paths relative to the section.
    pub fn build(&self) -> Result<CloudWatchSpec, Vec<FieldError>> {
        let mut errors = Vec::new();
        let endpoint_url = endpoint("endpoint_url", &self.endpoint_url, &mut errors);
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            errors.push(FieldError::new(
                "concurrency",
                format!("must be 1 to {MAX_CONCURRENCY} (GetMetricData allows 50 calls a second)"),
            ));
        }
        if self.discovery_ttl.get().is_zero() {
            errors.push(FieldError::new("discovery_ttl", "must be longer than 0s"));
        }
        let mut jobs = Vec::new();
        let mut names = BTreeSet::new();
        for (i, job) in self.jobs.iter().enumerate() {
            let at = format!("jobs[{i}]");
            match job.build(self, endpoint_url.as_ref()) {
                Ok(spec) => {
                    if !names.insert(spec.name.clone()) {
                        errors.push(FieldError::new(
                            format!("{at}.name"),
                            format!(
                                "another job is named {:?}; give each job of a namespace a name",
                                spec.name
                            ),
                        ));
                    }
                    jobs.push(spec);
                }
                Err(e) => errors.extend(e.into_iter().map(|e| e.under(&at))),
            }
        }
        if errors.is_empty() {
            Ok(CloudWatchSpec {
                endpoint_url,
                discovery_ttl: self.discovery_ttl.get(),
                concurrency: self.concurrency,
                jobs,
            })
        } else {
            Err(errors)
        }
    }
}

impl JobConfig {
    fn build(
        &self,
        section: &CloudWatchConfig,
        section_endpoint: Option<&reqwest::Url>,
    ) -> Result<JobSpec, Vec<FieldError>> {
        let mut errors = Vec::new();
        let endpoint_url = match &self.endpoint_url {
            Some(u) => endpoint("endpoint_url", u, &mut errors),
            None => section_endpoint.cloned(),
        };
        if self.namespace.trim().is_empty() {
            errors.push(FieldError::new(
                "namespace",
                "must not be empty, e.g. AWS/ECS",
            ));
        }
        let region = self
            .region
            .clone()
            .unwrap_or_else(|| section.region.clone());
        if region.is_empty() {
            errors.push(FieldError::new(
                "region",
                "no region: set it here or in cloudwatch.region, e.g. us-east-1",
            ));
        } else if !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            errors.push(FieldError::new(
                "region",
                format!("{region:?} is not an AWS region name, e.g. us-east-1"),
            ));
        }
        let role_arn = self
            .role_arn
            .clone()
            .unwrap_or_else(|| section.role_arn.clone());
        if !role_arn.is_empty() && !role_arn.starts_with("arn:") {
            errors.push(FieldError::new(
                "role_arn",
                format!("{role_arn:?} is not a role ARN (arn:aws:iam::<account>:role/<name>)"),
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, d) in self.dimensions.iter().enumerate() {
            if d.is_empty() {
                errors.push(FieldError::new(format!("dimensions[{i}]"), "is empty"));
            } else if !seen.insert(d.as_str()) {
                errors.push(FieldError::new(
                    format!("dimensions[{i}]"),
                    format!("{d:?} is listed twice"),
                ));
            }
        }
        let mut filters = Vec::new();
        for (name, pattern) in &self.dimension_filters {
            let at = format!("dimension_filters.{name}");
            if !self.dimensions.is_empty() && !seen.contains(name.as_str()) {
                errors.push(FieldError::new(
                    &at,
                    format!("{name:?} is not one of the job's dimensions"),
                ));
            }
            match Regex::new(&format!("^(?:{pattern})$")) {
                Ok(re) => filters.push((name.clone(), re)),
                Err(e) => errors.push(FieldError::new(&at, format!("bad regular expression: {e}"))),
            }
        }
        let mut values = Vec::new();
        for (name, list) in &self.dimension_values {
            let at = format!("dimension_values.{name}");
            if !self.dimensions.is_empty() && !seen.contains(name.as_str()) {
                errors.push(FieldError::new(
                    &at,
                    format!("{name:?} is not one of the job's dimensions"),
                ));
            }
            if list.is_empty() {
                errors.push(FieldError::new(&at, "lists no value"));
            }
            values.push((name.clone(), list.iter().cloned().collect()));
        }
        let mut static_sets = Vec::new();
        for (i, set) in self.static_dimensions.iter().enumerate() {
            let at = format!("static[{i}]");
            if set.is_empty() {
                errors.push(FieldError::new(&at, "names no dimension"));
            }
            if !self.dimensions.is_empty() {
                let given: BTreeSet<&str> = set.keys().map(String::as_str).collect();
                if given != seen {
                    errors.push(FieldError::new(
                        &at,
                        format!(
                            "must name exactly the job's dimensions {:?}, not {:?}",
                            self.dimensions,
                            given.into_iter().collect::<Vec<_>>()
                        ),
                    ));
                }
            }
            static_sets.push(set.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
        }
        for (field, set) in [
            ("dimension_filters", !self.dimension_filters.is_empty()),
            ("dimension_values", !self.dimension_values.is_empty()),
        ] {
            if !static_sets.is_empty() && set {
                errors.push(FieldError::new(
                    field,
                    "filters apply to discovered dimensions; a static job names its values",
                ));
            }
        }
        if self.metrics.is_empty() {
            errors.push(FieldError::new("metrics", "must name at least one metric"));
        }
        let mut metrics = Vec::new();
        for (i, m) in self.metrics.iter().enumerate() {
            let at = format!("metrics[{i}]");
            if m.name.is_empty() {
                errors.push(FieldError::new(format!("{at}.name"), "is empty"));
            }
            if m.statistics.is_empty() {
                errors.push(FieldError::new(
                    format!("{at}.statistics"),
                    "must name at least one statistic, e.g. [Average]",
                ));
            }
            for (j, s) in m.statistics.iter().enumerate() {
                if !valid_statistic(s) {
                    errors.push(FieldError::new(
                        format!("{at}.statistics[{j}]"),
                        format!(
                            "{s:?} is not a statistic: Average, Sum, Maximum, Minimum, SampleCount or a percentile such as p95 or p99.9"
                        ),
                    ));
                }
            }
            metrics.push(MetricSpec {
                name: m.name.clone(),
                statistics: m.statistics.clone(),
            });
        }
        let period = self.period.get();
        if !valid_period(period) {
            errors.push(FieldError::new(
                "period",
                format!(
                    "{} is not a CloudWatch period: 1s, 5s, 10s, 30s or a multiple of 60s",
                    self.period
                ),
            ));
        }
        let length = self.length.map_or(period, PromDuration::get);
        if length < period {
            errors.push(FieldError::new(
                "length",
                format!("must be at least the period ({})", self.period),
            ));
        }
        let delay = self.delay.map_or(period * 2, PromDuration::get);
        let name = self.name.clone().unwrap_or_else(|| self.namespace.clone());
        if errors.is_empty() {
            Ok(JobSpec {
                name,
                namespace: self.namespace.clone(),
                region,
                role_arn: Some(role_arn).filter(|r| !r.is_empty()),
                dimensions: self.dimensions.clone(),
                filters,
                values,
                endpoint_url,
                static_sets,
                metrics,
                period,
                length,
                delay,
                nil_to_zero: self.nil_to_zero,
            })
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(yaml: &str) -> Result<CloudWatchSpec, Vec<FieldError>> {
        let c: CloudWatchConfig = serde_yaml_ng::from_str(yaml).expect("yaml");
        c.build()
    }

    #[test]
    fn the_design_example_builds_with_its_defaults() {
        let spec = build(
            "region: us-east-1\njobs:\n  - namespace: AWS/ECS\n    dimensions: [ClusterName, ServiceName]\n    metrics: [{name: CPUUtilization, statistics: [Average, Maximum]}]\n    period: 60s\n    delay: 120s\n",
        )
        .expect("valid");
        let j = &spec.jobs[0];
        assert_eq!(j.name, "AWS/ECS");
        assert_eq!(j.region, "us-east-1");
        assert!(j.discovers());
        assert_eq!(j.queries_per_set(), 2);
        assert_eq!(
            (j.period, j.length, j.delay),
            (
                Duration::from_secs(60),
                Duration::from_secs(60),
                Duration::from_secs(120)
            )
        );
        let d = build("region: eu-west-1\njobs: [{namespace: AWS/RDS, metrics: [{name: CPUUtilization, statistics: [p99.9]}]}]\n")
            .expect("valid");
        assert_eq!(d.jobs[0].period, Duration::from_secs(60));
        assert_eq!(d.jobs[0].delay, Duration::from_secs(120));
        assert_eq!(d.concurrency, 5);
    }

    #[test]
    fn every_error_is_reported_at_its_field() {
        let errors = build(
            "endpoint_url: 'ftp://x'\nconcurrency: 0\njobs:\n  - namespace: ''\n    dimensions: [A, A]\n    dimension_filters: {B: '('}\n    metrics: [{name: X, statistics: [Mean, p101, p9.]}]\n    period: 45s\n    length: 30s\n  - namespace: AWS/ECS\n    region: US_EAST\n    role_arn: admin\n    dimensions: [ClusterName]\n    static: [{ServiceName: api}]\n    metrics: []\n",
        )
        .expect_err("invalid");
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "endpoint_url",
                "concurrency",
                "jobs[0].namespace",
                "jobs[0].region",
                "jobs[0].dimensions[1]",
                "jobs[0].dimension_filters.B",
                "jobs[0].dimension_filters.B",
                "jobs[0].metrics[0].statistics[0]",
                "jobs[0].metrics[0].statistics[1]",
                "jobs[0].metrics[0].statistics[2]",
                "jobs[0].period",
                "jobs[0].length",
                "jobs[1].region",
                "jobs[1].role_arn",
                "jobs[1].static[0]",
                "jobs[1].metrics",
            ],
            "{errors:#?}"
        );
    }

    #[test]
    fn the_cost_counts_runs_statistics_and_sets() {
        let spec = build(
            "region: us-east-1\njobs:\n  - {name: s, namespace: AWS/RDS, static: [{DBInstanceIdentifier: a}, {DBInstanceIdentifier: b}], metrics: [{name: CPUUtilization, statistics: [Average, Maximum]}], period: 60s}\n  - {name: d, namespace: AWS/ECS, metrics: [{name: CPUUtilization, statistics: [Average]}], period: 300s}\n",
        )
        .expect("valid");
        let c = spec.cost();
        // 43,200 runs a month x 2 statistics x 2 sets; 8,640 runs x 1 statistic per set.
        assert_eq!(c.static_metrics, 172_800.0);
        assert_eq!(c.per_discovered_set, 8_640.0);
        assert!((c.static_usd() - 1.728).abs() < 1e-9);
        assert!((c.per_set_usd() - 0.0864).abs() < 1e-9);
    }

    #[test]
    fn exact_values_and_a_job_endpoint() {
        let spec = build(
            "region: us-east-1\nendpoint_url: http://vpce.example:443\njobs:\n  - {name: a, namespace: AWS/ECS, dimensions: [ServiceName], dimension_values: {ServiceName: [my.svc]}, metrics: [{name: A, statistics: [Sum]}], endpoint_url: 'https://vpce-eu.example'}\n  - {name: b, namespace: AWS/ECS, metrics: [{name: A, statistics: [Sum]}]}\n",
        )
        .expect("valid");
        let (a, b) = (&spec.jobs[0], &spec.jobs[1]);
        assert_eq!(a.values[0].1.iter().collect::<Vec<_>>(), ["my.svc"]);
        assert_eq!(
            a.endpoint_url.as_ref().map(|u| u.as_str()),
            Some("https://vpce-eu.example/")
        );
        assert_eq!(
            b.endpoint_url.as_ref().map(|u| u.as_str()),
            Some("http://vpce.example:443/")
        );
        let errors = build(
            "region: us-east-1\njobs:\n  - {namespace: AWS/ECS, dimensions: [ServiceName], dimension_values: {Cluster: []}, endpoint_url: 'ftp://x', metrics: [{name: A, statistics: [Sum]}]}\n  - {name: s, namespace: AWS/RDS, static: [{DBInstanceIdentifier: a}], dimension_values: {DBInstanceIdentifier: [a]}, metrics: [{name: A, statistics: [Sum]}]}\n",
        )
        .expect_err("invalid");
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "jobs[0].endpoint_url",
                "jobs[0].dimension_values.Cluster",
                "jobs[0].dimension_values.Cluster",
                "jobs[1].dimension_values",
            ],
            "{errors:#?}"
        );
    }

    #[test]
    fn two_unnamed_jobs_of_one_namespace_need_names() {
        let errors = build("region: us-east-1\njobs:\n  - {namespace: AWS/ECS, metrics: [{name: A, statistics: [Sum]}]}\n  - {namespace: AWS/ECS, region: eu-west-1, metrics: [{name: A, statistics: [Sum]}]}\n")
            .expect_err("clash");
        assert_eq!(errors[0].path, "jobs[1].name");
    }

    #[test]
    fn statistics_as_cloudwatch_takes_them() {
        for s in [
            "Average",
            "Sum",
            "Maximum",
            "Minimum",
            "SampleCount",
            "p0",
            "p50",
            "p95",
            "p99.9",
            "p99.99",
            "p100",
        ] {
            assert!(valid_statistic(s), "{s}");
        }
        for s in [
            "average", "Mean", "p", "p100.5", "p101", "p9.", "p99.999", "p-1", "tm99", "P95", "",
        ] {
            assert!(!valid_statistic(s), "{s}");
        }
    }
}

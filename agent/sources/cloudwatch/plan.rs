//! What one run of a job asks CloudWatch and what it writes: the time window (YACE's, floored
//! to the period, `delay` behind now), the GetMetricData queries cut into calls of at most
//! [`MAX_QUERIES_PER_CALL`], and the series each query's datapoints become. Pure: no I/O, so
//! the client and its tests share it.

use std::time::Duration;

use super::config::JobSpec;
use super::names;
use crate::store::Labels;

/// GetMetricData takes at most 500 queries per call.
pub const MAX_QUERIES_PER_CALL: usize = 500;

/// One dimension set of a metric: (name, value) pairs, sorted by name.
pub type DimensionSet = Vec<(String, String)>;

/// The window `[start, end)` of one run, in ms since the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start_ms: i64,
    pub end_ms: i64,
}

/// YACE's window: `now - period/2` rounded to the period (that is, now floored to the
/// period), then from `length + delay` back to `delay` back, so each query covers whole
/// periods CloudWatch has had time to fill.
pub fn window(now_ms: i64, period: Duration, length: Duration, delay: Duration) -> Window {
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let p = ms(period).max(1);
    let floored = now_ms.div_euclid(p).saturating_mul(p);
    let d = ms(delay);
    Window {
        start_ms: floored.saturating_sub(ms(length).saturating_add(d)),
        end_ms: floored.saturating_sub(d),
    }
}

/// One GetMetricData query: a metric, one dimension set, one statistic.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// `q<index>`, unique within its call (CloudWatch ids start with a lower-case letter).
    pub id: String,
    pub metric: String,
    pub dimensions: DimensionSet,
    pub statistic: String,
    /// The series its datapoints are written to.
    pub series: Labels,
}

/// The queries of one run of `job` over `sets` (every metric and statistic of the job for
/// each set), cut into calls of at most [`MAX_QUERIES_PER_CALL`]. `account_id` labels the
/// series when known.
pub fn calls(job: &JobSpec, sets: &[DimensionSet], account_id: Option<&str>) -> Vec<Vec<Query>> {
    let mut out: Vec<Vec<Query>> = Vec::new();
    let mut current = Vec::new();
    for m in &job.metrics {
        for set in sets {
            for stat in &m.statistics {
                let series = series_labels(job, &m.name, stat, set, account_id);
                if current.len() == MAX_QUERIES_PER_CALL {
                    out.push(std::mem::take(&mut current));
                }
                let id = format!("q{}", current.len());
                current.push(Query {
                    id,
                    metric: m.name.clone(),
                    dimensions: set.clone(),
                    statistic: stat.clone(),
                    series,
                });
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The series of `metric`/`statistic` over dimension set `set`, as YACE names it:
/// `aws_<namespace>_<metric>_<statistic>{dimension_<Name>=…, region, account_id}`.
/// Dimensions whose name is no valid label name are left out, as YACE does.
pub fn series_labels(
    job: &JobSpec,
    metric: &str,
    statistic: &str,
    set: &DimensionSet,
    account_id: Option<&str>,
) -> Labels {
    let name = names::metric_name(&job.namespace, metric, statistic);
    let mut pairs: Vec<(String, String)> = Vec::with_capacity(set.len() + 3);
    pairs.push(("__name__".to_string(), name));
    for (k, v) in set {
        if let Some(label) = names::dimension_label(k) {
            pairs.push((label, v.clone()));
        }
    }
    pairs.push(("region".to_string(), job.region.clone()));
    if let Some(a) = account_id.filter(|a| !a.is_empty()) {
        pairs.push(("account_id".to_string(), a.to_string()));
    }
    Labels::new(pairs)
}

/// The account of an ARN (`arn:aws:iam::123456789012:role/x` → `123456789012`).
pub fn arn_account(arn: &str) -> Option<&str> {
    let account = arn.split(':').nth(4)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
}

/// Whether a discovered dimension set belongs to `job`: exactly the job's dimension names
/// (any set when it names none), every regex filter matching and every exact value list
/// holding its value.
pub fn wanted(job: &JobSpec, set: &DimensionSet) -> bool {
    if !job.dimensions.is_empty()
        && (set.len() != job.dimensions.len()
            || !job
                .dimensions
                .iter()
                .all(|d| set.iter().any(|(k, _)| k == d)))
    {
        return false;
    }
    let value = |name: &str| set.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    job.filters
        .iter()
        .all(|(name, re)| value(name).is_some_and(|v| re.is_match(v)))
        && job
            .values
            .iter()
            .all(|(name, keep)| value(name).is_some_and(|v| keep.contains(v)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::cloudwatch::config::CloudWatchConfig;

    fn job(yaml: &str) -> JobSpec {
        let c: CloudWatchConfig = serde_yaml_ng::from_str(yaml).expect("yaml");
        c.build().expect("valid").jobs.remove(0)
    }

    fn set(pairs: &[(&str, &str)]) -> DimensionSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_window_is_whole_periods_delay_behind_now() {
        let m = |s: i64| s * 1000;
        let w = window(
            m(1_000_000_030),
            Duration::from_secs(60),
            Duration::from_secs(60),
            Duration::from_secs(120),
        );
        // Floored to the minute: 1_000_000_020 s; then 120 s of delay and 60 s of length.
        assert_eq!(
            w,
            Window {
                start_ms: m(999_999_840),
                end_ms: m(999_999_900)
            }
        );
        let w5 = window(
            m(1_000_000_030),
            Duration::from_secs(300),
            Duration::from_secs(900),
            Duration::from_secs(0),
        );
        assert_eq!((w5.start_ms, w5.end_ms), (m(999_999_000), m(999_999_900)));
    }

    #[test]
    fn queries_are_cut_at_500_per_call_with_ids_unique_per_call() {
        let j = job(
            "region: us-east-1\njobs: [{namespace: AWS/ECS, dimensions: [ServiceName], metrics: [{name: CPUUtilization, statistics: [Average, Maximum]}, {name: MemoryUtilization, statistics: [Average]}]}]\n",
        );
        let sets: Vec<DimensionSet> = (0..400)
            .map(|i| set(&[("ServiceName", &format!("s{i}"))]))
            .collect();
        let calls = calls(&j, &sets, Some("123456789012"));
        assert_eq!(
            calls.iter().map(Vec::len).collect::<Vec<_>>(),
            [500, 500, 200]
        );
        for c in &calls {
            let ids: std::collections::BTreeSet<&str> = c.iter().map(|q| q.id.as_str()).collect();
            assert_eq!(ids.len(), c.len());
        }
        // A set left out leaves no gap: the calls stay full.
        let without_s1: Vec<DimensionSet> =
            sets.iter().filter(|s| s[0].1 != "s1").cloned().collect();
        let fewer = super::calls(&j, &without_s1, None);
        assert_eq!(
            fewer.iter().map(Vec::len).collect::<Vec<_>>(),
            [500, 500, 197]
        );
        let q = &calls[0][1];
        assert_eq!(
            (q.metric.as_str(), q.statistic.as_str()),
            ("CPUUtilization", "Maximum")
        );
        assert_eq!(
            q.series.to_string(),
            r#"aws_ecs_cpuutilization_maximum{account_id="123456789012", dimension_ServiceName="s0", region="us-east-1"}"#
        );
    }

    #[test]
    fn the_account_comes_from_a_role_arn() {
        assert_eq!(
            arn_account("arn:aws:iam::123456789012:role/read"),
            Some("123456789012")
        );
        assert_eq!(arn_account("arn:aws:iam::12345:role/read"), None);
        assert_eq!(arn_account("nonsense"), None);
    }

    #[test]
    fn discovered_sets_must_have_exactly_the_dimensions_and_match_the_filters() {
        let j = job(
            "region: us-east-1\njobs: [{namespace: AWS/ECS, dimensions: [ClusterName, ServiceName], dimension_filters: {ClusterName: 'prod-.*'}, metrics: [{name: CPUUtilization, statistics: [Average]}]}]\n",
        );
        assert!(wanted(
            &j,
            &set(&[("ClusterName", "prod-a"), ("ServiceName", "api")])
        ));
        assert!(!wanted(
            &j,
            &set(&[("ClusterName", "dev-a"), ("ServiceName", "api")])
        ));
        assert!(!wanted(&j, &set(&[("ClusterName", "prod-a")])));
        assert!(!wanted(
            &j,
            &set(&[
                ("ClusterName", "prod-a"),
                ("ServiceName", "api"),
                ("X", "y")
            ])
        ));
        // Exact values: a dot is a dot.
        let exact = job(
            "region: us-east-1\njobs: [{namespace: AWS/ECS, dimensions: [ServiceName], dimension_values: {ServiceName: [my.svc]}, metrics: [{name: A, statistics: [Sum]}]}]\n",
        );
        assert!(wanted(&exact, &set(&[("ServiceName", "my.svc")])));
        assert!(!wanted(&exact, &set(&[("ServiceName", "myXsvc")])));
        // Anchored: a value that only contains a match is not one.
        assert!(!wanted(
            &j,
            &set(&[("ClusterName", "xprod-a"), ("ServiceName", "api")])
        ));
    }
}

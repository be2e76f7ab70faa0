//! Log records → counts: `otel_log_records_total{job, instance, severity}` for every record,
//! and the configured `otlp.log_counters` (`<name>_total{job, instance}` for records whose
//! body matches a regex) — the equivalent of CloudWatch metric filters. Counts are kept
//! cumulative in the series cache and written at receive time.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use regex::Regex;

use super::metrics::{Base, ResourceCtx, series_labels};
use super::names;
use super::series::{SeriesCache, hasher};
use super::{Tally, write_aggregate};
use crate::store::{MetricMeta, MetricType, Store};

const RECORDS: &str = "otel_log_records_total";

/// A counter of log records whose body matches `regex`.
#[derive(Debug, Clone)]
pub struct LogCounter {
    /// The metric name, `_total` included.
    pub metric: String,
    pub regex: Regex,
}

impl PartialEq for LogCounter {
    /// Two counters are the same when their names and patterns are (a reload compares them).
    fn eq(&self, other: &Self) -> bool {
        self.metric == other.metric && self.regex.as_str() == other.regex.as_str()
    }
}

/// Severity label: the record's text (upper-cased) or, without one, its number's range.
pub fn severity(text: &str, number: i32) -> String {
    let text = text.trim();
    if !text.is_empty() {
        return text.to_ascii_uppercase();
    }
    match number {
        1..=4 => "TRACE",
        5..=8 => "DEBUG",
        9..=12 => "INFO",
        13..=16 => "WARN",
        17..=20 => "ERROR",
        21..=24 => "FATAL",
        _ => "UNSPECIFIED",
    }
    .to_string()
}

/// Sets the metadata of the log metrics.
pub fn register_metadata(store: &Store, counters: &[LogCounter]) {
    store.set_metadata(
        RECORDS,
        MetricMeta {
            kind: MetricType::Counter,
            help: "Log records received, by job and severity.".into(),
            unit: String::new(),
        },
    );
    for c in counters {
        store.set_metadata(
            &c.metric,
            MetricMeta {
                kind: MetricType::Counter,
                help: format!("Log records whose body matches /{}/.", c.regex.as_str()),
                unit: String::new(),
            },
        );
    }
}

/// One counter's increment in a request: (base labels, metric name, increment).
type Count<'a> = (Vec<(String, String)>, &'a str, f64);

/// Counts the records of `req` and writes the updated cumulative series.
pub fn ingest(
    req: &ExportLogsServiceRequest,
    counters: &[LogCounter],
    cache: &SeriesCache,
    store: &Store,
    now_ms: i64,
) -> Tally {
    let mut tally = Tally::default();
    let mut aggs: HashMap<u64, Count<'_>> = HashMap::new();
    let mut records: HashMap<u64, u64> = HashMap::new();
    for rl in &req.resource_logs {
        let res = ResourceCtx::new(rl.resource.as_ref());
        for sl in &rl.scope_logs {
            for rec in &sl.log_records {
                let sev = severity(&rec.severity_text, rec.severity_number);
                let mut h = hasher();
                (res.hash, RECORDS, &sev).hash(&mut h);
                let key = h.finish();
                let entry = aggs.entry(key).or_insert_with(|| {
                    let mut base = res.pairs.clone();
                    base.push(("severity".into(), sev.clone()));
                    (base, RECORDS, 0.0)
                });
                entry.2 += 1.0;
                *records.entry(key).or_default() += 1;
                tally.accepted += 1;
                if counters.is_empty() {
                    continue;
                }
                let body = names::value_string(rec.body.as_ref());
                for c in counters {
                    if c.regex.is_match(&body) {
                        let mut h = hasher();
                        (res.hash, &c.metric).hash(&mut h);
                        let e = aggs
                            .entry(h.finish())
                            .or_insert_with(|| (res.pairs.clone(), c.metric.as_str(), 0.0));
                        e.2 += 1.0;
                    }
                }
            }
        }
    }
    for (key, (base, metric, inc)) in aggs {
        let r = cache.with(
            key,
            now_ms,
            || {
                let labels = series_labels(&Base::new(base), &Arc::from(metric), None);
                (vec![labels], Vec::new())
            },
            |e| {
                let totals = e.totals.get_or_insert_with(|| vec![0.0]);
                totals[0] += inc;
                let values = totals.clone();
                write_aggregate(store, e, now_ms, &values)
            },
        );
        if let Err(reason) = r.and_then(|w| w) {
            // Only the record counter stands for the records themselves.
            let n = records.get(&key).copied().unwrap_or(0);
            tally.accepted = tally.accepted.saturating_sub(n);
            for _ in 0..n {
                tally.note(Err(reason));
            }
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    #[test]
    fn severity_prefers_text_then_number_ranges() {
        assert_eq!(super::severity(" error ", 0), "ERROR");
        assert_eq!(super::severity("", 17), "ERROR");
        assert_eq!(super::severity("", 9), "INFO");
        assert_eq!(super::severity("", 0), "UNSPECIFIED");
    }
}

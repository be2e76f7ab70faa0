//! Spans → RED metrics, named as the Collector's spanmetrics connector names them:
//! `traces_span_metrics_calls_total` and `traces_span_metrics_duration_seconds_{bucket,sum,count}`
//! labelled `service_name`, `span_name`, `span_kind`, `status_code`, plus
//! `http_response_status_code` and `http_route` when the span has them, and the resource's
//! `job` / `instance`. Counts are kept cumulative in the series cache and written at
//! receive time.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{span, status};

use super::metrics::{Base, LE, ResourceCtx, format_bound, series_labels};
use super::names;
use super::series::{SeriesCache, hasher};
use super::{Tally, write_aggregate};
use crate::store::{Labels, MetricMeta, MetricType, Store};

/// The connector's default duration buckets, in seconds.
pub const DEFAULT_BUCKETS: [f64; 16] = [
    0.002, 0.004, 0.006, 0.008, 0.01, 0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.4, 2.0, 5.0, 10.0, 15.0,
];

const CALLS: &str = "traces_span_metrics_calls_total";
const DURATION: &str = "traces_span_metrics_duration_seconds";

fn kind_name(kind: i32) -> &'static str {
    match span::SpanKind::try_from(kind) {
        Ok(k) => k.as_str_name(),
        Err(_) => "SPAN_KIND_UNSPECIFIED",
    }
}

fn status_name(code: i32) -> &'static str {
    match status::StatusCode::try_from(code) {
        Ok(c) => c.as_str_name(),
        Err(_) => "STATUS_CODE_UNSET",
    }
}

/// Per-request aggregate of one label combination.
struct Agg {
    base: Vec<(String, String)>,
    /// calls, per-bucket counts (bounds + 1), sum, count
    increments: Vec<f64>,
}

/// Sets the metadata of the span metrics once.
pub fn register_metadata(store: &Store) {
    store.set_metadata(
        CALLS,
        MetricMeta {
            kind: MetricType::Counter,
            help: "Spans received, by service, span name, kind and status.".into(),
            unit: String::new(),
        },
    );
    store.set_metadata(
        DURATION,
        MetricMeta {
            kind: MetricType::Histogram,
            help: "Span durations, by service, span name, kind and status.".into(),
            unit: "seconds".into(),
        },
    );
}

/// Aggregates the spans of `req` and writes the updated cumulative series.
pub fn ingest(
    req: &ExportTraceServiceRequest,
    buckets: &[f64],
    cache: &SeriesCache,
    store: &Store,
    now_ms: i64,
) -> Tally {
    let mut tally = Tally::default();
    let mut aggs: HashMap<u64, Agg> = HashMap::new();
    let width = buckets.len() + 4;
    for rs in &req.resource_spans {
        let res = ResourceCtx::new(rs.resource.as_ref());
        let attrs = rs
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or(&[]);
        let service = names::attr(attrs, "service.name")
            .map(|v| names::value_string(Some(v)))
            .unwrap_or_default();
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                let kind = kind_name(s.kind);
                let status = status_name(s.status.as_ref().map_or(0, |st| st.code));
                let http_status = names::attr(&s.attributes, "http.response.status_code")
                    .or_else(|| names::attr(&s.attributes, "http.status_code"))
                    .map(|v| names::value_string(Some(v)));
                let route =
                    names::attr(&s.attributes, "http.route").map(|v| names::value_string(Some(v)));
                let mut h = hasher();
                (
                    res.hash,
                    &service,
                    &s.name,
                    kind,
                    status,
                    &http_status,
                    &route,
                )
                    .hash(&mut h);
                let key = h.finish();
                let agg = aggs.entry(key).or_insert_with(|| {
                    let mut base: Vec<(String, String)> = vec![
                        ("service_name".into(), service.clone()),
                        ("span_name".into(), s.name.clone()),
                        ("span_kind".into(), kind.into()),
                        ("status_code".into(), status.into()),
                    ];
                    if let Some(code) = &http_status {
                        base.push(("http_response_status_code".into(), code.clone()));
                    }
                    if let Some(route) = &route {
                        base.push(("http_route".into(), route.clone()));
                    }
                    base.extend(res.pairs.iter().cloned());
                    Agg {
                        base,
                        increments: vec![0.0; width],
                    }
                });
                let seconds =
                    s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano) as f64 / 1e9;
                agg.increments[0] += 1.0;
                let bucket = buckets
                    .iter()
                    .position(|b| seconds <= *b)
                    .unwrap_or(buckets.len());
                agg.increments[1 + bucket] += 1.0;
                agg.increments[width - 2] += seconds;
                agg.increments[width - 1] += 1.0;
                tally.accepted += 1;
            }
        }
    }
    for (key, agg) in aggs {
        let build = || {
            let base = Base::new(agg.base.clone());
            let mut series: Vec<Labels> = vec![series_labels(&base, &Arc::from(CALLS), None)];
            let bucket: Arc<str> = Arc::from(format!("{DURATION}_bucket"));
            for b in buckets {
                series.push(series_labels(&base, &bucket, Some((&LE, format_bound(*b)))));
            }
            series.push(series_labels(&base, &bucket, Some((&LE, "+Inf".into()))));
            series.push(series_labels(
                &base,
                &Arc::from(format!("{DURATION}_sum")),
                None,
            ));
            series.push(series_labels(
                &base,
                &Arc::from(format!("{DURATION}_count")),
                None,
            ));
            (series, Vec::new())
        };
        let spans = agg.increments[0] as u64;
        let r = cache.with(key, now_ms, build, |e| {
            let totals = e.totals.get_or_insert_with(|| vec![0.0; width]);
            for (t, inc) in totals.iter_mut().zip(&agg.increments) {
                *t += inc;
            }
            // Buckets are written cumulative.
            let mut values = totals.clone();
            for i in 2..=buckets.len() + 1 {
                values[i] += values[i - 1];
            }
            write_aggregate(store, e, now_ms, &values)
        });
        if let Err(reason) = r.and_then(|w| w) {
            tally.accepted = tally.accepted.saturating_sub(spans);
            for _ in 0..spans {
                tally.note(Err(reason));
            }
        }
    }
    tally
}

//! OTLP metrics → store series, per the OTel specification's Prometheus compatibility
//! rules: gauges and sums as they are (`_total` on monotonic sums), histograms as
//! cumulative `_bucket{le}` / `_sum` / `_count`, exponential histograms converted to
//! explicit buckets so `histogram_quantile` works, summaries as `{quantile}` / `_sum` /
//! `_count`. Delta sums and histograms are accumulated into cumulative values per series.
//! Resources give `job` / `instance` and a `target_info` series; scopes give
//! `otel_scope_name` / `otel_scope_version`.

use std::hash::{Hash, Hasher};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogramDataPoint, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::names::{self, Kind};
use super::series::{Entry, Reject, SeriesCache, hasher};
use super::{Tally, write_all};
use crate::store::{Labels, METRIC_NAME, MetricMeta, MetricType, Store, stale_marker};

/// `DataPointFlags.FLAG_NO_RECORDED_VALUE`: the point marks the end of a series.
const NO_RECORDED_VALUE: u32 = 1;

/// What a resource contributes to every series under it.
pub struct ResourceCtx {
    /// `job` and `instance` (when known).
    pub pairs: Vec<(String, String)>,
    /// The other attributes, for `target_info`.
    pub info: Vec<(String, String)>,
    /// Identity hash.
    pub hash: u64,
}

impl ResourceCtx {
    pub fn new(resource: Option<&Resource>) -> Self {
        let attrs: &[KeyValue] = resource.map(|r| r.attributes.as_slice()).unwrap_or(&[]);
        let get = |k| names::attr(attrs, k).map(|v| names::value_string(Some(v)));
        let mut pairs = Vec::new();
        let service = get("service.name").filter(|s| !s.is_empty());
        let job = match (get("service.namespace").filter(|s| !s.is_empty()), service) {
            (Some(ns), Some(svc)) => Some(format!("{ns}/{svc}")),
            (None, Some(svc)) => Some(svc),
            (Some(_), None) | (None, None) => None,
        };
        if let Some(job) = job {
            pairs.push(("job".to_string(), job));
        }
        if let Some(instance) = get("service.instance.id").filter(|s| !s.is_empty()) {
            pairs.push(("instance".to_string(), instance));
        }
        let others: Vec<KeyValue> = attrs
            .iter()
            .filter(|kv| {
                !matches!(
                    kv.key.as_str(),
                    "service.name" | "service.namespace" | "service.instance.id"
                )
            })
            .cloned()
            .collect();
        let mut info = Vec::new();
        names::attr_labels(&others, &mut info);
        info.retain(|(k, v)| !v.is_empty() && k != "job" && k != "instance");
        ResourceCtx {
            pairs,
            info,
            hash: attrs_hash(attrs),
        }
    }

    /// The `target_info` series of this resource, when it has attributes beyond the service.
    pub fn target_info(&self) -> Option<Labels> {
        if self.info.is_empty() {
            return None;
        }
        Some(Labels::new(
            self.info
                .iter()
                .chain(&self.pairs)
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .chain([(METRIC_NAME, "target_info")]),
        ))
    }
}

/// What a scope contributes.
pub struct ScopeCtx {
    pub pairs: Vec<(String, String)>,
    pub hash: u64,
}

impl ScopeCtx {
    pub fn new(scope: Option<&InstrumentationScope>) -> Self {
        let mut pairs = Vec::new();
        let mut h = hasher();
        if let Some(s) = scope {
            if !s.name.is_empty() {
                pairs.push(("otel_scope_name".to_string(), s.name.clone()));
            }
            if !s.version.is_empty() {
                pairs.push(("otel_scope_version".to_string(), s.version.clone()));
            }
            s.name.hash(&mut h);
            s.version.hash(&mut h);
        }
        ScopeCtx {
            pairs,
            hash: h.finish(),
        }
    }
}

fn hash_any(v: Option<&AnyValue>, h: &mut impl Hasher) {
    match v.and_then(|v| v.value.as_ref()) {
        None => 0u8.hash(h),
        Some(any_value::Value::StringValue(s)) => (1u8, s).hash(h),
        Some(any_value::Value::BoolValue(b)) => (2u8, b).hash(h),
        Some(any_value::Value::IntValue(i)) => (3u8, i).hash(h),
        Some(any_value::Value::DoubleValue(d)) => (4u8, d.to_bits()).hash(h),
        Some(any_value::Value::BytesValue(b)) => (5u8, b).hash(h),
        Some(any_value::Value::ArrayValue(a)) => {
            6u8.hash(h);
            for v in &a.values {
                hash_any(Some(v), h);
            }
        }
        Some(any_value::Value::KvlistValue(kv)) => {
            7u8.hash(h);
            attrs_hash(&kv.values).hash(h);
        }
        Some(any_value::Value::StringValueStrindex(i)) => (8u8, i).hash(h),
    }
}

/// Order-independent hash of an attribute set.
pub fn attrs_hash(attrs: &[KeyValue]) -> u64 {
    attrs.iter().fold(attrs.len() as u64, |acc, kv| {
        let mut h = hasher();
        kv.key.hash(&mut h);
        hash_any(kv.value.as_ref(), &mut h);
        acc.wrapping_add(h.finish())
    })
}

/// The label pairs every series of a point carries (before `__name__` and `le`/`quantile`).
pub fn base_pairs(
    res: &ResourceCtx,
    scope: &ScopeCtx,
    attrs: &[KeyValue],
) -> Vec<(String, String)> {
    let mut pairs = Vec::with_capacity(attrs.len() + 4);
    names::attr_labels(attrs, &mut pairs);
    pairs.retain(|(k, _)| k != "job" && k != "instance" && k != METRIC_NAME);
    pairs.extend(scope.pairs.iter().cloned());
    pairs.extend(res.pairs.iter().cloned());
    pairs
}

/// `base` plus `__name__` (and one extra pair).
pub fn series_labels(base: &[(String, String)], name: &str, extra: Option<(&str, &str)>) -> Labels {
    Labels::new(
        base.iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain([(METRIC_NAME, name)])
            .chain(extra),
    )
}

/// A bound as Prometheus writes `le` and `quantile`: shortest decimal, `+Inf`.
pub fn format_bound(b: f64) -> String {
    if b == f64::INFINITY {
        "+Inf".into()
    } else if b == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{b}")
    }
}

fn to_ms(ns: u64, now_ms: i64) -> i64 {
    if ns == 0 {
        now_ms
    } else {
        i64::try_from(ns / 1_000_000).unwrap_or(i64::MAX)
    }
}

/// Translates `req` and writes it to `store`.
pub fn ingest(
    req: &ExportMetricsServiceRequest,
    cache: &SeriesCache,
    store: &Store,
    now_ms: i64,
) -> Tally {
    let mut tally = Tally::default();
    for rm in &req.resource_metrics {
        let res = ResourceCtx::new(rm.resource.as_ref());
        if let Some(info) = res.target_info() {
            let key = super::series::hash_of((res.hash, "target_info"));
            let r = cache.with(
                key,
                now_ms,
                || (vec![info], Vec::new()),
                |e| write_all(store, e, now_ms, &[1.0]),
            );
            // target_info is not a data point of the request: only its failures are noted.
            if let Ok(Err(reason)) | Err(reason) = r.map(|w| w.map(|_| ())) {
                tally.note_side(reason);
            }
        }
        for sm in &rm.scope_metrics {
            let scope = ScopeCtx::new(sm.scope.as_ref());
            for m in &sm.metrics {
                let mut h = hasher();
                (res.hash, scope.hash, &m.name, &m.unit).hash(&mut h);
                let metric_hash = h.finish();
                let Some(data) = &m.data else { continue };
                match data {
                    metric::Data::Gauge(g) => {
                        let name = Lazy::new(|| names::metric_name(&m.name, &m.unit, Kind::Gauge));
                        for p in &g.data_points {
                            let r = number(
                                cache,
                                store,
                                &res,
                                &scope,
                                &name,
                                MetricType::Gauge,
                                &m.description,
                                metric_hash,
                                p,
                                false,
                                now_ms,
                            );
                            tally.note(r);
                        }
                    }
                    metric::Data::Sum(s) => {
                        let kind = if s.is_monotonic {
                            Kind::Counter
                        } else {
                            Kind::Gauge
                        };
                        let ty = if s.is_monotonic {
                            MetricType::Counter
                        } else {
                            MetricType::Gauge
                        };
                        let delta =
                            s.aggregation_temporality == AggregationTemporality::Delta as i32;
                        let name = Lazy::new(|| names::metric_name(&m.name, &m.unit, kind));
                        for p in &s.data_points {
                            let r = number(
                                cache,
                                store,
                                &res,
                                &scope,
                                &name,
                                ty,
                                &m.description,
                                metric_hash ^ 0x5u64,
                                p,
                                delta,
                                now_ms,
                            );
                            tally.note(r);
                        }
                    }
                    metric::Data::Histogram(hist) => {
                        let delta =
                            hist.aggregation_temporality == AggregationTemporality::Delta as i32;
                        let name =
                            Lazy::new(|| names::metric_name(&m.name, &m.unit, Kind::Distribution));
                        for p in &hist.data_points {
                            let point = Distribution {
                                attrs: &p.attributes,
                                time_ns: p.time_unix_nano,
                                start_ns: p.start_time_unix_nano,
                                flags: p.flags,
                                bounds: p.explicit_bounds.clone(),
                                counts: p.bucket_counts.clone(),
                                count: p.count,
                                sum: p.sum,
                            };
                            let r = histogram(
                                cache,
                                store,
                                &res,
                                &scope,
                                &name,
                                &m.description,
                                metric_hash ^ 0x11u64,
                                point,
                                delta,
                                now_ms,
                            );
                            tally.note(r);
                        }
                    }
                    metric::Data::ExponentialHistogram(hist) => {
                        let delta =
                            hist.aggregation_temporality == AggregationTemporality::Delta as i32;
                        let name =
                            Lazy::new(|| names::metric_name(&m.name, &m.unit, Kind::Distribution));
                        for p in &hist.data_points {
                            let (bounds, counts) = exponential_buckets(p);
                            let point = Distribution {
                                attrs: &p.attributes,
                                time_ns: p.time_unix_nano,
                                start_ns: p.start_time_unix_nano,
                                flags: p.flags,
                                bounds,
                                counts,
                                count: p.count,
                                sum: p.sum,
                            };
                            let r = histogram(
                                cache,
                                store,
                                &res,
                                &scope,
                                &name,
                                &m.description,
                                metric_hash ^ 0x12u64,
                                point,
                                delta,
                                now_ms,
                            );
                            tally.note(r);
                        }
                    }
                    metric::Data::Summary(s) => {
                        let name =
                            Lazy::new(|| names::metric_name(&m.name, &m.unit, Kind::Distribution));
                        for p in &s.data_points {
                            let r = summary(
                                cache,
                                store,
                                &res,
                                &scope,
                                &name,
                                &m.description,
                                metric_hash ^ 0x13u64,
                                p,
                                now_ms,
                            );
                            tally.note(r);
                        }
                    }
                }
            }
        }
    }
    tally
}

/// A name computed on first use only (cache hits never need it).
struct Lazy<F: Fn() -> String> {
    make: F,
    value: std::cell::OnceCell<String>,
}

impl<F: Fn() -> String> Lazy<F> {
    fn new(make: F) -> Self {
        Lazy {
            make,
            value: std::cell::OnceCell::new(),
        }
    }
    fn get(&self) -> &str {
        self.value.get_or_init(&self.make)
    }
}

fn point_key(metric_hash: u64, attrs: &[KeyValue]) -> u64 {
    metric_hash ^ attrs_hash(attrs).rotate_left(17)
}

fn meta(store: &Store, name: &str, kind: MetricType, help: &str) {
    if store.metadata(name).is_none() {
        store.set_metadata(
            name,
            MetricMeta {
                kind,
                help: help.to_string(),
                unit: String::new(),
            },
        );
    }
}

/// Folds a delta into the entry's running totals; returns the cumulative values.
fn accumulate(
    e: &mut Entry,
    values: &[f64],
    start_ns: u64,
    time_ns: u64,
) -> Result<Vec<f64>, Reject> {
    if e.last_end_ns != 0 && start_ns != 0 && start_ns < e.last_end_ns {
        return Err(Reject::OutOfOrder);
    }
    if e.last_end_ns != 0 && time_ns != 0 && time_ns <= e.last_end_ns {
        return Err(Reject::OutOfOrder);
    }
    let totals = e.totals.get_or_insert_with(|| vec![0.0; values.len()]);
    if totals.len() != values.len() {
        *totals = vec![0.0; values.len()];
    }
    for (t, v) in totals.iter_mut().zip(values) {
        *t += v;
    }
    e.last_end_ns = time_ns;
    Ok(totals.clone())
}

#[allow(clippy::too_many_arguments)]
fn number(
    cache: &SeriesCache,
    store: &Store,
    res: &ResourceCtx,
    scope: &ScopeCtx,
    name: &Lazy<impl Fn() -> String>,
    ty: MetricType,
    help: &str,
    metric_hash: u64,
    p: &opentelemetry_proto::tonic::metrics::v1::NumberDataPoint,
    delta: bool,
    now_ms: i64,
) -> Result<(), Reject> {
    let value = match p.value {
        Some(number_data_point::Value::AsDouble(d)) => d,
        Some(number_data_point::Value::AsInt(i)) => i as f64,
        None if p.flags & NO_RECORDED_VALUE != 0 => stale_marker(),
        None => return Err(Reject::Invalid),
    };
    let t = to_ms(p.time_unix_nano, now_ms);
    let key = point_key(metric_hash, &p.attributes);
    cache.with(
        key,
        now_ms,
        || {
            meta(store, name.get(), ty, help);
            (
                vec![series_labels(
                    &base_pairs(res, scope, &p.attributes),
                    name.get(),
                    None,
                )],
                Vec::new(),
            )
        },
        |e| {
            let values = if p.flags & NO_RECORDED_VALUE != 0 {
                vec![stale_marker()]
            } else if delta {
                accumulate(e, &[value], p.start_time_unix_nano, p.time_unix_nano)?
            } else {
                vec![value]
            };
            write_all(store, e, t, &values)
        },
    )?
}

/// A histogram point with explicit bounds (exponential ones are converted first).
struct Distribution<'a> {
    attrs: &'a [KeyValue],
    time_ns: u64,
    start_ns: u64,
    flags: u32,
    bounds: Vec<f64>,
    /// Per-bucket (not cumulative) counts; one more than `bounds`.
    counts: Vec<u64>,
    count: u64,
    sum: Option<f64>,
}

fn histogram_series(
    base: &[(String, String)],
    name: &str,
    bounds: &[f64],
    has_sum: bool,
) -> Vec<Labels> {
    let bucket = format!("{name}_bucket");
    let mut series: Vec<Labels> = bounds
        .iter()
        .map(|b| series_labels(base, &bucket, Some(("le", &format_bound(*b)))))
        .collect();
    series.push(series_labels(base, &bucket, Some(("le", "+Inf"))));
    if has_sum {
        series.push(series_labels(base, &format!("{name}_sum"), None));
    }
    series.push(series_labels(base, &format!("{name}_count"), None));
    series
}

#[allow(clippy::too_many_arguments)]
fn histogram(
    cache: &SeriesCache,
    store: &Store,
    res: &ResourceCtx,
    scope: &ScopeCtx,
    name: &Lazy<impl Fn() -> String>,
    help: &str,
    metric_hash: u64,
    p: Distribution<'_>,
    delta: bool,
    now_ms: i64,
) -> Result<(), Reject> {
    let stale = p.flags & NO_RECORDED_VALUE != 0;
    if !stale && !p.counts.is_empty() && p.counts.len() != p.bounds.len() + 1 {
        return Err(Reject::Invalid);
    }
    let t = to_ms(p.time_ns, now_ms);
    let key = point_key(metric_hash, p.attrs);
    let has_sum = p.sum.is_some();
    let mut layout = p.bounds.clone();
    // The layout also records whether a _sum series exists.
    layout.push(if has_sum { 1.0 } else { 0.0 });
    let build = || {
        meta(store, name.get(), MetricType::Histogram, help);
        let base = base_pairs(res, scope, p.attrs);
        (
            histogram_series(&base, name.get(), &p.bounds, has_sum),
            layout.clone(),
        )
    };
    cache.with(key, now_ms, build, |e| {
        if e.layout != layout {
            let base = base_pairs(res, scope, p.attrs);
            cache.rebuild(
                e,
                histogram_series(&base, name.get(), &p.bounds, has_sum),
                layout.clone(),
            )?;
        }
        let values = if stale {
            vec![stale_marker(); e.series.len()]
        } else {
            let mut values = Vec::with_capacity(e.series.len());
            let mut cumulative = 0u64;
            for c in p.counts.iter().take(p.bounds.len()) {
                cumulative += c;
                values.push(cumulative as f64);
            }
            if p.counts.is_empty() {
                values.extend(std::iter::repeat_n(0.0, p.bounds.len()));
            }
            values.push(p.count as f64);
            if let Some(sum) = p.sum {
                values.push(sum);
            }
            values.push(p.count as f64);
            if delta {
                accumulate(e, &values, p.start_ns, p.time_ns)?
            } else {
                values
            }
        };
        write_all(store, e, t, &values)
    })?
}

#[allow(clippy::too_many_arguments)]
fn summary(
    cache: &SeriesCache,
    store: &Store,
    res: &ResourceCtx,
    scope: &ScopeCtx,
    name: &Lazy<impl Fn() -> String>,
    help: &str,
    metric_hash: u64,
    p: &opentelemetry_proto::tonic::metrics::v1::SummaryDataPoint,
    now_ms: i64,
) -> Result<(), Reject> {
    let t = to_ms(p.time_unix_nano, now_ms);
    let key = point_key(metric_hash, &p.attributes);
    let layout: Vec<f64> = p.quantile_values.iter().map(|q| q.quantile).collect();
    let build_series = || {
        let base = base_pairs(res, scope, &p.attributes);
        let mut series: Vec<Labels> = layout
            .iter()
            .map(|q| series_labels(&base, name.get(), Some(("quantile", &format_bound(*q)))))
            .collect();
        series.push(series_labels(&base, &format!("{}_sum", name.get()), None));
        series.push(series_labels(&base, &format!("{}_count", name.get()), None));
        series
    };
    cache.with(
        key,
        now_ms,
        || {
            meta(store, name.get(), MetricType::Summary, help);
            (build_series(), layout.clone())
        },
        |e| {
            if e.layout != layout {
                cache.rebuild(e, build_series(), layout.clone())?;
            }
            let values: Vec<f64> = if p.flags & NO_RECORDED_VALUE != 0 {
                vec![stale_marker(); e.series.len()]
            } else {
                p.quantile_values
                    .iter()
                    .map(|q| q.value)
                    .chain([p.sum, p.count as f64])
                    .collect()
            };
            write_all(store, e, t, &values)
        },
    )?
}

/// Converts an exponential histogram point to explicit upper bounds and per-bucket counts
/// (one more count than bounds, the last for `+Inf`): negative buckets, the zero bucket
/// (`le` = the zero threshold), then positive buckets, in ascending order.
pub fn exponential_buckets(p: &ExponentialHistogramDataPoint) -> (Vec<f64>, Vec<u64>) {
    let base = 2f64.powf(2f64.powi(-p.scale));
    let mut bounds = Vec::new();
    let mut counts = Vec::new();
    if let Some(neg) = &p.negative {
        // Bucket k holds values in [-base^(k+1), -base^k): most negative (highest k) first.
        for (i, c) in neg.bucket_counts.iter().enumerate().rev() {
            let k = i64::from(neg.offset) + i as i64;
            bounds.push(-base.powf(k as f64));
            counts.push(*c);
        }
    }
    bounds.push(p.zero_threshold);
    counts.push(p.zero_count);
    if let Some(pos) = &p.positive {
        // Bucket k holds values in (base^k, base^(k+1)].
        for (i, c) in pos.bucket_counts.iter().enumerate() {
            let k = i64::from(pos.offset) + i as i64;
            bounds.push(base.powf((k + 1) as f64));
            counts.push(*c);
        }
    }
    let in_buckets: u64 = counts.iter().sum();
    counts.push(p.count.saturating_sub(in_buckets));
    (bounds, counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;

    #[test]
    fn exponential_buckets_become_ascending_cumulative_bounds() {
        let p = ExponentialHistogramDataPoint {
            scale: 0,
            count: 7,
            zero_count: 1,
            positive: Some(Buckets {
                offset: 0,
                bucket_counts: vec![2, 3],
            }),
            negative: Some(Buckets {
                offset: 1,
                bucket_counts: vec![1],
            }),
            ..Default::default()
        };
        let (bounds, counts) = exponential_buckets(&p);
        // base 2: negative bucket 1 is [-4, -2) → le -2; zero; (1,2] → le 2; (2,4] → le 4.
        assert_eq!(bounds, [-2.0, 0.0, 2.0, 4.0]);
        assert_eq!(counts, [1, 1, 2, 3, 0]);
    }

    #[test]
    fn bounds_format_like_prometheus() {
        assert_eq!(format_bound(0.005), "0.005");
        assert_eq!(format_bound(1.0), "1");
        assert_eq!(format_bound(1e6), "1000000");
        assert_eq!(format_bound(f64::INFINITY), "+Inf");
    }
}

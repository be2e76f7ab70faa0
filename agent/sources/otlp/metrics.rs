//! OTLP metrics → store series, per the OTel specification's Prometheus compatibility
//! rules: gauges and sums as they are (`_total` on monotonic sums), histograms as
//! cumulative `_bucket{le}` / `_sum` / `_count`, exponential histograms converted to
//! explicit buckets so `histogram_quantile` works, summaries as `{quantile}` / `_sum` /
//! `_count`. Delta sums and histograms are accumulated into cumulative values per series.
//! Resources give `job` / `instance` and a `target_info` series; scopes give
//! `otel_scope_name` / `otel_scope_version`.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock};

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogramDataPoint, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use super::names::{self, Kind};
use super::series::{Entry, NAME_KEY, Reject, SeriesCache, hasher};
use super::wire::{Fields, Value, WireError, packed_fixed64};
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

/// The label pairs shared by the series of one point, as shared strings: the series of a
/// histogram point (buckets, sum, count) hold the same pairs, allocated once.
pub struct Base(Vec<(Arc<str>, Arc<str>)>);

impl Base {
    pub fn new(pairs: Vec<(String, String)>) -> Base {
        Base(
            pairs
                .into_iter()
                .map(|(k, v)| (Arc::from(k), Arc::from(v)))
                .collect(),
        )
    }
}

/// The `le` label name, shared.
pub static LE: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from("le"));
static QUANTILE: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from("quantile"));

/// `base` plus `__name__` (and one extra pair).
pub fn series_labels(base: &Base, name: &Arc<str>, extra: Option<(&Arc<str>, String)>) -> Labels {
    Labels::new(
        base.0
            .iter()
            .cloned()
            .chain([(NAME_KEY.clone(), name.clone())])
            .chain(extra.map(|(k, v)| (k.clone(), Arc::from(v)))),
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

/// A resource seen on the wire: its identity hash now, its labels only when a new series
/// needs them.
struct RawResource<'a> {
    bytes: &'a [u8],
    hash: u64,
    ctx: std::cell::OnceCell<Option<ResourceCtx>>,
}

impl RawResource<'_> {
    /// `None` when the resource does not decode (attributes nested past the decoder's limit).
    fn ctx(&self) -> Option<&ResourceCtx> {
        self.ctx
            .get_or_init(|| {
                Resource::decode(self.bytes)
                    .ok()
                    .map(|r| ResourceCtx::new(Some(&r)))
            })
            .as_ref()
    }
}

/// A scope seen on the wire, likewise.
struct RawScope<'a> {
    bytes: &'a [u8],
    hash: u64,
    ctx: std::cell::OnceCell<Option<ScopeCtx>>,
}

impl RawScope<'_> {
    /// `None` when the scope does not decode.
    fn ctx(&self) -> Option<&ScopeCtx> {
        self.ctx
            .get_or_init(|| {
                InstrumentationScope::decode(self.bytes)
                    .ok()
                    .map(|s| ScopeCtx::new(Some(&s)))
            })
            .as_ref()
    }
}

/// The attributes of a data point, left encoded: `field` is their field number in `point`.
#[derive(Clone, Copy)]
struct RawAttrs<'a> {
    point: &'a [u8],
    field: u32,
}

impl RawAttrs<'_> {
    /// Order-independent hash of the encoded attributes.
    fn hash(self) -> Result<u64, WireError> {
        let mut sum = 0u64;
        let mut n = 0u64;
        for f in Fields::new(self.point) {
            let (num, v) = f?;
            if num == self.field
                && let Some(b) = v.bytes()
            {
                sum = sum.wrapping_add(super::series::hash_of(b));
                n += 1;
            }
        }
        Ok(sum ^ n)
    }

    /// The attributes; one that does not decode refuses the point.
    fn decode(self) -> Result<Vec<KeyValue>, Reject> {
        Fields::new(self.point)
            .filter_map(Result::ok)
            .filter(|(num, _)| *num == self.field)
            .filter_map(|(_, v)| v.bytes())
            .map(|b| KeyValue::decode(b).map_err(|_| Reject::InvalidAttribute))
            .collect()
    }
}

/// Hash of the encoded attributes (field `field`) of a message.
fn raw_attrs_hash(msg: &[u8], field: u32) -> Result<u64, WireError> {
    RawAttrs { point: msg, field }.hash()
}

/// Buffers reused across the points of one request.
#[derive(Default)]
struct Scratch {
    values: Vec<f64>,
    bounds: Vec<f64>,
    counts: Vec<u64>,
}

/// What every point of one metric shares.
struct MetricCtx<'a, 'r> {
    res: &'r RawResource<'a>,
    scope: &'r RawScope<'a>,
    name: &'a str,
    unit: &'a str,
    help: &'a str,
    hash: u64,
    prom_name: std::cell::OnceCell<String>,
}

impl MetricCtx<'_, '_> {
    fn prom_name(&self, kind: Kind) -> &str {
        self.prom_name
            .get_or_init(|| names::metric_name(self.name, self.unit, kind))
    }

    fn base(&self, attrs: RawAttrs<'_>) -> Result<Base, Reject> {
        let res = self.res.ctx().ok_or(Reject::InvalidAttribute)?;
        let scope = self.scope.ctx().ok_or(Reject::InvalidAttribute)?;
        Ok(Base::new(base_pairs(res, scope, &attrs.decode()?)))
    }
}

fn utf8(b: &[u8]) -> Result<&str, WireError> {
    std::str::from_utf8(b).map_err(|_| WireError {
        at: 0,
        what: "a string field is not UTF-8",
    })
}

fn malformed(what: &'static str) -> WireError {
    WireError { at: 0, what }
}

/// Translates a protobuf-encoded `ExportMetricsServiceRequest` and writes it to `store`,
/// reading the wire format directly (see `wire`). A malformed request is an error; points
/// before the malformed part may have been written.
pub fn ingest(
    body: &[u8],
    cache: &SeriesCache,
    store: &Store,
    now_ms: i64,
) -> Result<Tally, WireError> {
    let mut tally = Tally::default();
    let mut scratch = Scratch::default();
    for f in Fields::new(body) {
        let (num, v) = f?;
        if num != 1 {
            continue;
        }
        let rm = v
            .bytes()
            .ok_or(malformed("resource_metrics is not a message"))?;
        resource_metrics(rm, cache, store, now_ms, &mut tally, &mut scratch)?;
    }
    Ok(tally)
}

fn resource_metrics(
    rm: &[u8],
    cache: &SeriesCache,
    store: &Store,
    now_ms: i64,
    tally: &mut Tally,
    scratch: &mut Scratch,
) -> Result<(), WireError> {
    let mut resource: &[u8] = &[];
    for f in Fields::new(rm) {
        if let (1, v) = f? {
            resource = v.bytes().ok_or(malformed("resource is not a message"))?;
        }
    }
    let res = RawResource {
        bytes: resource,
        hash: raw_attrs_hash(resource, 1)?,
        ctx: std::cell::OnceCell::new(),
    };
    let key = super::series::hash_of((res.hash, "target_info"));
    let r = cache.try_with(
        key,
        now_ms,
        || {
            let ctx = res.ctx().ok_or(Reject::InvalidAttribute)?;
            Ok((ctx.target_info().into_iter().collect(), Vec::new()))
        },
        |e| write_all(store, e, now_ms, &[1.0]),
    );
    // target_info is not a data point of the request: only its failures are noted.
    if let Ok(Err(reason)) | Err(reason) = r {
        tally.note_side(reason);
    }
    for f in Fields::new(rm) {
        let (num, v) = f?;
        if num != 2 {
            continue;
        }
        let sm = v
            .bytes()
            .ok_or(malformed("scope_metrics is not a message"))?;
        let mut scope_bytes: &[u8] = &[];
        for f in Fields::new(sm) {
            if let (1, v) = f? {
                scope_bytes = v.bytes().ok_or(malformed("scope is not a message"))?;
            }
        }
        let scope = RawScope {
            bytes: scope_bytes,
            hash: super::series::hash_of(scope_bytes),
            ctx: std::cell::OnceCell::new(),
        };
        for f in Fields::new(sm) {
            let (num, v) = f?;
            if num == 2 {
                let m = v.bytes().ok_or(malformed("metric is not a message"))?;
                metric(m, &res, &scope, cache, store, now_ms, tally, scratch)?;
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn metric(
    m: &[u8],
    res: &RawResource<'_>,
    scope: &RawScope<'_>,
    cache: &SeriesCache,
    store: &Store,
    now_ms: i64,
    tally: &mut Tally,
    scratch: &mut Scratch,
) -> Result<(), WireError> {
    let (mut name, mut unit, mut help): (&[u8], &[u8], &[u8]) = (&[], &[], &[]);
    let mut data: Option<(u32, &[u8])> = None;
    for f in Fields::new(m) {
        match f? {
            (1, v) => name = v.bytes().unwrap_or_default(),
            (2, v) => help = v.bytes().unwrap_or_default(),
            (3, v) => unit = v.bytes().unwrap_or_default(),
            (n @ (5 | 7 | 9 | 10 | 11), v) => data = v.bytes().map(|b| (n, b)),
            _ => {}
        }
    }
    let Some((kind, data)) = data else {
        return Ok(());
    };
    // The data messages hold their points in field 1, temporality in 2, monotonicity in 3.
    let (mut delta, mut monotonic) = (false, false);
    for f in Fields::new(data) {
        match f? {
            (2, Value::Varint(t)) => delta = t == AggregationTemporality::Delta as u64,
            (3, Value::Varint(b)) => monotonic = b != 0,
            _ => {}
        }
    }
    let ctx = MetricCtx {
        res,
        scope,
        name: utf8(name)?,
        unit: utf8(unit)?,
        help: utf8(help)?,
        hash: super::series::hash_of((res.hash, scope.hash, name, unit, kind, monotonic)),
        prom_name: std::cell::OnceCell::new(),
    };
    for f in Fields::new(data) {
        let (num, v) = f?;
        if num != 1 {
            continue;
        }
        let p = v.bytes().ok_or(malformed("data point is not a message"))?;
        let r = match kind {
            5 => number(
                &ctx,
                Kind::Gauge,
                MetricType::Gauge,
                p,
                false,
                cache,
                store,
                now_ms,
            )?,
            7 if monotonic => number(
                &ctx,
                Kind::Counter,
                MetricType::Counter,
                p,
                delta,
                cache,
                store,
                now_ms,
            )?,
            7 => number(
                &ctx,
                Kind::Gauge,
                MetricType::Gauge,
                p,
                delta,
                cache,
                store,
                now_ms,
            )?,
            9 => {
                let point = histogram_point(p, scratch)?;
                histogram(&ctx, point, delta, cache, store, now_ms, scratch)
            }
            10 => {
                let dp = ExponentialHistogramDataPoint::decode(p)
                    .map_err(|_| malformed("bad exponential histogram point"))?;
                let (bounds, counts) = exponential_buckets(&dp);
                scratch.bounds = bounds;
                scratch.counts = counts;
                let point = Distribution {
                    attrs: RawAttrs { point: p, field: 1 },
                    time_ns: dp.time_unix_nano,
                    start_ns: dp.start_time_unix_nano,
                    flags: dp.flags,
                    count: dp.count,
                    sum: dp.sum,
                };
                histogram(&ctx, point, delta, cache, store, now_ms, scratch)
            }
            _ => {
                let dp = SummaryDataPoint::decode(p).map_err(|_| malformed("bad summary point"))?;
                summary(
                    &ctx,
                    RawAttrs { point: p, field: 7 },
                    &dp,
                    cache,
                    store,
                    now_ms,
                )
            }
        };
        tally.note(r);
    }
    Ok(())
}

fn point_key(metric_hash: u64, attrs: RawAttrs<'_>) -> Result<u64, WireError> {
    Ok(metric_hash ^ attrs.hash()?.rotate_left(17))
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

/// Folds a delta into the entry's running totals (in place: `values` becomes cumulative).
fn accumulate(
    e: &mut Entry,
    values: &mut [f64],
    start_ns: u64,
    time_ns: u64,
) -> Result<(), Reject> {
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
    for (t, v) in totals.iter_mut().zip(values.iter_mut()) {
        *t += *v;
        *v = *t;
    }
    e.last_end_ns = time_ns;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn number(
    ctx: &MetricCtx<'_, '_>,
    kind: Kind,
    ty: MetricType,
    p: &[u8],
    delta: bool,
    cache: &SeriesCache,
    store: &Store,
    now_ms: i64,
) -> Result<Result<(), Reject>, WireError> {
    let (mut start_ns, mut time_ns, mut flags, mut value) = (0u64, 0u64, 0u32, None);
    for f in Fields::new(p) {
        match f? {
            (2, Value::Fixed64(v)) => start_ns = v,
            (3, Value::Fixed64(v)) => time_ns = v,
            (4, Value::Fixed64(v)) => value = Some(f64::from_bits(v)),
            (6, Value::Fixed64(v)) => value = Some(v as i64 as f64),
            (8, Value::Varint(v)) => flags = v as u32,
            _ => {}
        }
    }
    let attrs = RawAttrs { point: p, field: 7 };
    let stale = flags & NO_RECORDED_VALUE != 0;
    let value = match value {
        _ if stale => stale_marker(),
        Some(v) => v,
        None => return Ok(Err(Reject::Invalid)),
    };
    let t = to_ms(time_ns, now_ms);
    let key = point_key(ctx.hash ^ (kind as u64), attrs)?;
    let r = cache.try_with(
        key,
        now_ms,
        || {
            let name = ctx.prom_name(kind);
            let base = ctx.base(attrs)?;
            meta(store, name, ty, ctx.help);
            Ok((
                vec![series_labels(&base, &Arc::from(name), None)],
                Vec::new(),
            ))
        },
        |e| {
            let mut values = [value];
            if delta && !stale {
                accumulate(e, &mut values, start_ns, time_ns)?;
            }
            write_all(store, e, t, &values)
        },
    );
    Ok(r.and_then(|w| w))
}

/// A histogram point with explicit bounds (exponential ones are converted first); its
/// bounds and per-bucket counts are in the scratch buffers.
struct Distribution<'a> {
    attrs: RawAttrs<'a>,
    time_ns: u64,
    start_ns: u64,
    flags: u32,
    count: u64,
    sum: Option<f64>,
}

/// Reads an explicit-bounds histogram point; bounds and counts go to `scratch`.
fn histogram_point<'a>(p: &'a [u8], scratch: &mut Scratch) -> Result<Distribution<'a>, WireError> {
    scratch.bounds.clear();
    scratch.counts.clear();
    let mut d = Distribution {
        attrs: RawAttrs { point: p, field: 9 },
        time_ns: 0,
        start_ns: 0,
        flags: 0,
        count: 0,
        sum: None,
    };
    for f in Fields::new(p) {
        match f? {
            (2, Value::Fixed64(v)) => d.start_ns = v,
            (3, Value::Fixed64(v)) => d.time_ns = v,
            (4, Value::Fixed64(v)) => d.count = v,
            (5, Value::Fixed64(v)) => d.sum = Some(f64::from_bits(v)),
            (6, Value::Bytes(b)) => scratch.counts.extend(packed_fixed64(b)),
            (6, Value::Fixed64(v)) => scratch.counts.push(v),
            (7, Value::Bytes(b)) => scratch.bounds.extend(packed_fixed64(b).map(f64::from_bits)),
            (7, Value::Fixed64(v)) => scratch.bounds.push(f64::from_bits(v)),
            (10, Value::Varint(v)) => d.flags = v as u32,
            _ => {}
        }
    }
    Ok(d)
}

fn histogram_series(base: &Base, name: &str, bounds: &[f64], has_sum: bool) -> Vec<Labels> {
    let bucket: Arc<str> = Arc::from(format!("{name}_bucket"));
    let mut series: Vec<Labels> = bounds
        .iter()
        .map(|b| series_labels(base, &bucket, Some((&LE, format_bound(*b)))))
        .collect();
    series.push(series_labels(base, &bucket, Some((&LE, "+Inf".into()))));
    if has_sum {
        series.push(series_labels(base, &Arc::from(format!("{name}_sum")), None));
    }
    series.push(series_labels(
        base,
        &Arc::from(format!("{name}_count")),
        None,
    ));
    series
}

fn histogram(
    ctx: &MetricCtx<'_, '_>,
    p: Distribution<'_>,
    delta: bool,
    cache: &SeriesCache,
    store: &Store,
    now_ms: i64,
    scratch: &mut Scratch,
) -> Result<(), Reject> {
    let stale = p.flags & NO_RECORDED_VALUE != 0;
    let (bounds, counts) = (&scratch.bounds, &scratch.counts);
    if !stale && !counts.is_empty() && counts.len() != bounds.len() + 1 {
        return Err(Reject::Invalid);
    }
    let t = to_ms(p.time_ns, now_ms);
    let key = point_key(ctx.hash ^ 0x11, p.attrs).map_err(|_| Reject::Invalid)?;
    let has_sum = p.sum.is_some();
    // The layout: the bounds, then whether a _sum series exists.
    let same_layout = |layout: &[f64]| {
        layout.len() == bounds.len() + 1
            && layout[..bounds.len()] == bounds[..]
            && layout[bounds.len()] == if has_sum { 1.0 } else { 0.0 }
    };
    let layout = || {
        let mut l = bounds.clone();
        l.push(if has_sum { 1.0 } else { 0.0 });
        l
    };
    let name = || ctx.prom_name(Kind::Distribution);
    let values = &mut scratch.values;
    cache.try_with(
        key,
        now_ms,
        || {
            let base = ctx.base(p.attrs)?;
            meta(store, name(), MetricType::Histogram, ctx.help);
            Ok((histogram_series(&base, name(), bounds, has_sum), layout()))
        },
        |e| {
            if !same_layout(&e.layout) {
                cache.rebuild(
                    e,
                    histogram_series(&ctx.base(p.attrs)?, name(), bounds, has_sum),
                    layout(),
                )?;
            }
            values.clear();
            if stale {
                values.resize(e.series.len(), stale_marker());
            } else {
                // Summed as floats, as they are stored: bucket counts a sender made up
                // can add past u64 (found by fuzzing; it overflowed).
                let mut cumulative = 0f64;
                for c in counts.iter().take(bounds.len()) {
                    cumulative += *c as f64;
                    values.push(cumulative);
                }
                if counts.is_empty() {
                    values.resize(bounds.len(), 0.0);
                }
                values.push(p.count as f64);
                if let Some(sum) = p.sum {
                    values.push(sum);
                }
                values.push(p.count as f64);
                if delta {
                    accumulate(e, values, p.start_ns, p.time_ns)?;
                }
            }
            write_all(store, e, t, values)
        },
    )?
}

fn summary(
    ctx: &MetricCtx<'_, '_>,
    attrs: RawAttrs<'_>,
    p: &SummaryDataPoint,
    cache: &SeriesCache,
    store: &Store,
    now_ms: i64,
) -> Result<(), Reject> {
    let t = to_ms(p.time_unix_nano, now_ms);
    let key = point_key(ctx.hash ^ 0x13, attrs).map_err(|_| Reject::Invalid)?;
    let layout: Vec<f64> = p.quantile_values.iter().map(|q| q.quantile).collect();
    let name = || ctx.prom_name(Kind::Distribution);
    let build_series = || -> Result<Vec<Labels>, Reject> {
        let base = ctx.base(attrs)?;
        let family: Arc<str> = Arc::from(name());
        let mut series: Vec<Labels> = layout
            .iter()
            .map(|q| series_labels(&base, &family, Some((&QUANTILE, format_bound(*q)))))
            .collect();
        series.push(series_labels(
            &base,
            &Arc::from(format!("{}_sum", name())),
            None,
        ));
        series.push(series_labels(
            &base,
            &Arc::from(format!("{}_count", name())),
            None,
        ));
        Ok(series)
    };
    cache.try_with(
        key,
        now_ms,
        || {
            let series = build_series()?;
            meta(store, name(), MetricType::Summary, ctx.help);
            Ok((series, layout.clone()))
        },
        |e| {
            if e.layout != layout {
                cache.rebuild(e, build_series()?, layout.clone())?;
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
    // Saturating: made-up counts can add past u64 (found by fuzzing).
    let in_buckets = counts.iter().fold(0u64, |a, c| a.saturating_add(*c));
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

    /// Bucket counts a sender made up can add past u64; both found by the `otlp_wire` fuzz
    /// target (debug builds panicked on the overflow), kept in fuzz/regressions/otlp_wire/.
    #[test]
    fn bucket_counts_that_add_past_u64_do_not_overflow() {
        let p = ExponentialHistogramDataPoint {
            count: 1,
            positive: Some(Buckets {
                offset: 0,
                bucket_counts: vec![u64::MAX, u64::MAX],
            }),
            ..Default::default()
        };
        let (_, counts) = exponential_buckets(&p);
        assert_eq!(counts.last(), Some(&0));
        let store = Store::new(
            crate::store::StoreConfig {
                retention: std::time::Duration::from_secs(3600),
                stale_after: std::time::Duration::from_secs(3600),
                max_series: 1000,
            },
            &prometheus::Registry::new(),
        )
        .expect("store");
        let cache = SeriesCache::new(super::super::series::Limits {
            max_series: 1000,
            max_labels: 64,
            max_label_name_len: 256,
            max_label_value_len: 4096,
        });
        for input in [
            &include_bytes!(
                "../../../fuzz/regressions/otlp_wire/histogram-bucket-counts-overflow-min"
            )[..],
            &include_bytes!(
                "../../../fuzz/regressions/otlp_wire/exponential-histogram-bucket-sum-overflow-min"
            )[..],
        ] {
            let _ = ingest(input, &cache, &store, 1_000);
        }
    }

    #[test]
    fn bounds_format_like_prometheus() {
        assert_eq!(format_bound(0.005), "0.005");
        assert_eq!(format_bound(1.0), "1");
        assert_eq!(format_bound(1e6), "1000000");
        assert_eq!(format_bound(f64::INFINITY), "+Inf");
    }
}

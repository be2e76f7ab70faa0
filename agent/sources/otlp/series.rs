//! The OTLP series cache: from a data point's identity (resource, scope, metric, attributes)
//! to the label sets it writes, so repeated exports skip name normalisation and label
//! building. It also holds what delta temporality needs (the running cumulative values) and
//! enforces `otlp.max_series`, the label limits and the names reserved for the prober.
//!
//! Identity is a 64-bit foldhash (quality variant, fixed seed) of the raw OTLP fields; with
//! 500,000 series the chance that two collide is about 10⁻⁸.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;

use crate::sources::probe::PROBE_SERIES;
use crate::store::{Label, Labels, METRIC_NAME, SeriesRef};

/// Number of independently locked parts of the cache.
const SHARDS: usize = 16;

/// Why a point was refused. The `reason` label of `vitals_otlp_rejected_points_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reject {
    /// `otlp.max_series` (or the store's cap) reached.
    SeriesLimit,
    /// More labels than `otlp.max_labels`.
    TooManyLabels,
    /// A label name or value longer than the limits.
    LabelTooLong,
    /// Not newer than the series' last sample.
    OutOfOrder,
    /// More than 10 minutes ahead of the store's clock (`AppendError::TooFarInFuture`).
    TooFarInFuture,
    /// A data point that cannot be written (no value, bucket counts that do not match the bounds).
    Invalid,
    /// Attributes (of the point, its resource or scope) that do not decode, e.g. values
    /// nested deeper than the protobuf decoder's limit of 100 messages: dropping them would
    /// merge the point into another series.
    InvalidAttribute,
    /// A series name only the prober writes ([`PROBE_SERIES`]): a point claiming a probe's
    /// result would show a down probe as up.
    ReservedName,
}

impl Reject {
    pub fn as_str(self) -> &'static str {
        match self {
            Reject::SeriesLimit => "series_limit",
            Reject::TooManyLabels => "too_many_labels",
            Reject::LabelTooLong => "label_too_long",
            Reject::OutOfOrder => "out_of_order",
            Reject::TooFarInFuture => "too_far_in_future",
            Reject::Invalid => "invalid",
            Reject::InvalidAttribute => "invalid_attribute",
            Reject::ReservedName => "reserved_name",
        }
    }
}

/// The limits a new series must respect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_series: usize,
    pub max_labels: usize,
    pub max_label_name_len: usize,
    pub max_label_value_len: usize,
}

/// The label sets of one identity's series, kept compactly: the pairs they share once, and
/// per series only its metric name and its own `le` or `quantile` pair. A whole label set is
/// built only when the store must look its series up (the first write, or after the store
/// dropped series from its shard); every other write goes through the cached
/// [`SeriesRef`]. A histogram point's 17 series cost ~80 bytes each here instead of a label
/// set of ~280.
pub enum SeriesSet {
    /// Series that differ only in `__name__` and one `le`/`quantile` pair (every series the
    /// OTLP translation makes).
    Shared {
        base: Box<[Label]>,
        each: Box<[(Arc<str>, Option<Label>)]>,
    },
    /// Any other label sets, kept whole.
    Full(Box<[Labels]>),
}

/// Label names a series of a point may hold beside the point's shared pairs.
fn is_own(name: &str) -> bool {
    matches!(name, METRIC_NAME | "le" | "quantile")
}

impl SeriesSet {
    /// Keeps `series` in the [`SeriesSet::Shared`] form when they fit it.
    pub fn new(series: Vec<Labels>) -> SeriesSet {
        Self::shared(&series).unwrap_or_else(|| SeriesSet::Full(series.into_boxed_slice()))
    }

    fn shared(series: &[Labels]) -> Option<SeriesSet> {
        let first = series.first()?;
        let base: Box<[Label]> = first.iter().filter(|l| !is_own(&l.name)).cloned().collect();
        let mut each = Vec::with_capacity(series.len());
        for labels in series {
            let mut name = None;
            let mut extra = None;
            let mut shared = 0;
            for l in labels.iter() {
                match &*l.name {
                    METRIC_NAME => name = Some(l.value.clone()),
                    "le" | "quantile" if extra.is_none() => extra = Some(l.clone()),
                    _ if base.get(shared) == Some(l) => shared += 1,
                    _ => return None,
                }
            }
            if shared != base.len() {
                return None;
            }
            each.push((name?, extra));
        }
        Some(SeriesSet::Shared {
            base,
            each: each.into_boxed_slice(),
        })
    }

    /// How many series.
    #[allow(clippy::len_without_is_empty)] // never empty: an identity writes some series
    pub fn len(&self) -> usize {
        match self {
            SeriesSet::Shared { each, .. } => each.len(),
            SeriesSet::Full(series) => series.len(),
        }
    }

    /// Series `i`'s label set.
    pub fn labels(&self, i: usize) -> Option<Labels> {
        match self {
            SeriesSet::Shared { base, each } => {
                let (name, extra) = each.get(i)?;
                let name = Label {
                    name: NAME_KEY.clone(),
                    value: name.clone(),
                };
                Some(Labels::new(
                    base.iter()
                        .chain([&name])
                        .chain(extra)
                        .map(|l| (l.name.clone(), l.value.clone())),
                ))
            }
            SeriesSet::Full(series) => series.get(i).cloned(),
        }
    }
}

/// The `__name__` label name, shared.
pub static NAME_KEY: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(METRIC_NAME));

/// One cached identity.
pub struct Entry {
    /// The series written for this identity, in a fixed order (e.g. buckets, sum, count).
    pub series: SeriesSet,
    /// Where each series lives in the store, learnt on first write.
    pub refs: Box<[Option<SeriesRef>]>,
    /// Layout check for histograms: the bounds the series were built for.
    pub layout: Vec<f64>,
    /// Running totals for delta temporality (one per series), if the metric is delta.
    pub totals: Option<Vec<f64>>,
    /// End time (ns) of the last delta folded in; earlier deltas are out of order.
    pub last_end_ns: u64,
    /// Last time (ms) this identity was written, for expiry.
    pub seen_ms: i64,
    /// Timestamp of the last sample written for an aggregate (span and log counts), which
    /// are stamped with the receive time: the next write is always later.
    pub last_write_ms: i64,
}

/// The cache.
pub struct SeriesCache {
    shards: Vec<Mutex<HashMap<u64, Entry>>>,
    count: AtomicUsize,
    limits: Limits,
}

/// Builds identity hashes: fast, and the same in every process (fixed seed).
pub fn hasher() -> foldhash::quality::FoldHasher<'static> {
    use std::hash::BuildHasher;
    static STATE: foldhash::quality::FixedState =
        foldhash::quality::FixedState::with_seed(0x005e_ed0f_0171);
    STATE.build_hasher()
}

/// Hash of anything hashable, for identity parts.
pub fn hash_of(parts: impl Hash) -> u64 {
    let mut h = hasher();
    parts.hash(&mut h);
    h.finish()
}

impl SeriesCache {
    pub fn new(limits: Limits) -> Self {
        SeriesCache {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            count: AtomicUsize::new(0),
            limits,
        }
    }

    /// Series currently cached (what `otlp.max_series` counts).
    pub fn series(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Runs `f` on the entry for `key`, creating it with `build` (which returns the label
    /// sets and the layout) when absent and the limits allow.
    pub fn with<T>(
        &self,
        key: u64,
        now_ms: i64,
        build: impl FnOnce() -> (Vec<Labels>, Vec<f64>),
        f: impl FnOnce(&mut Entry) -> T,
    ) -> Result<T, Reject> {
        self.try_with(key, now_ms, || Ok(build()), f)
    }

    /// [`SeriesCache::with`] with a `build` that can refuse the point.
    pub fn try_with<T>(
        &self,
        key: u64,
        now_ms: i64,
        build: impl FnOnce() -> Result<(Vec<Labels>, Vec<f64>), Reject>,
        f: impl FnOnce(&mut Entry) -> T,
    ) -> Result<T, Reject> {
        let mut shard = self.shards[(key as usize) % SHARDS].lock();
        if let Some(e) = shard.get_mut(&key) {
            e.seen_ms = now_ms;
            return Ok(f(e));
        }
        let (series, layout) = build()?;
        self.check(&series)?;
        let n = series.len();
        if self.count.fetch_add(n, Ordering::Relaxed) + n > self.limits.max_series {
            self.count.fetch_sub(n, Ordering::Relaxed);
            return Err(Reject::SeriesLimit);
        }
        let entry = shard.entry(key).or_insert(Entry {
            refs: vec![None; series.len()].into_boxed_slice(),
            series: SeriesSet::new(series),
            layout,
            totals: None,
            last_end_ns: 0,
            seen_ms: now_ms,
            last_write_ms: 0,
        });
        Ok(f(entry))
    }

    /// Replaces an entry's series (a histogram whose bucket layout changed).
    pub fn rebuild(
        &self,
        entry: &mut Entry,
        series: Vec<Labels>,
        layout: Vec<f64>,
    ) -> Result<(), Reject> {
        self.check(&series)?;
        let (old, new) = (entry.series.len(), series.len());
        if new > old
            && self.count.fetch_add(new - old, Ordering::Relaxed) + new - old
                > self.limits.max_series
        {
            self.count.fetch_sub(new - old, Ordering::Relaxed);
            return Err(Reject::SeriesLimit);
        }
        if old > new {
            self.count.fetch_sub(old - new, Ordering::Relaxed);
        }
        entry.refs = vec![None; series.len()].into_boxed_slice();
        entry.series = SeriesSet::new(series);
        entry.layout = layout;
        entry.totals = None;
        Ok(())
    }

    /// A new identity's series against the limits and the reserved names; only a cache miss
    /// pays for it.
    fn check(&self, series: &[Labels]) -> Result<(), Reject> {
        for labels in series {
            if labels
                .metric_name()
                .is_some_and(|name| PROBE_SERIES.contains(&name))
            {
                return Err(Reject::ReservedName);
            }
            if labels.len() > self.limits.max_labels {
                return Err(Reject::TooManyLabels);
            }
            if labels.iter().any(|l| {
                l.name.len() > self.limits.max_label_name_len
                    || l.value.len() > self.limits.max_label_value_len
            }) {
                return Err(Reject::LabelTooLong);
            }
        }
        Ok(())
    }

    /// Forgets identities not written since `before_ms`; returns how many series that freed.
    pub fn expire(&self, before_ms: i64) -> usize {
        let mut freed = 0;
        for shard in &self.shards {
            shard.lock().retain(|_, e| {
                let keep = e.seen_ms >= before_ms;
                if !keep {
                    freed += e.series.len();
                }
                keep
            });
        }
        self.count.fetch_sub(freed, Ordering::Relaxed);
        freed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_series: usize) -> Limits {
        Limits {
            max_series,
            max_labels: 4,
            max_label_name_len: 8,
            max_label_value_len: 8,
        }
    }

    fn one(name: &str) -> (Vec<Labels>, Vec<f64>) {
        (vec![Labels::new([("__name__", name)])], Vec::new())
    }

    #[test]
    fn probe_series_names_are_reserved() {
        let c = SeriesCache::new(limits(10));
        for name in PROBE_SERIES {
            assert_eq!(
                c.with(hash_of(name), 0, || one(name), |_| ()),
                Err(Reject::ReservedName)
            );
        }
        assert_eq!(c.series(), 0);
        assert!(c.with(1, 0, || one("probe_x"), |_| ()).is_ok());
    }

    #[test]
    fn caps_series_and_frees_them_on_expiry() {
        let c = SeriesCache::new(limits(2));
        assert!(c.with(1, 0, || one("a"), |_| ()).is_ok());
        assert!(c.with(2, 0, || one("b"), |_| ()).is_ok());
        assert_eq!(c.with(3, 0, || one("c"), |_| ()), Err(Reject::SeriesLimit));
        // Known identities still pass at the cap.
        assert!(c.with(1, 10, || one("a"), |_| ()).is_ok());
        assert_eq!(c.expire(5), 1);
        assert!(c.with(3, 10, || one("c"), |_| ()).is_ok());
        assert_eq!(c.series(), 2);
    }

    #[test]
    fn label_limits_refuse_new_series() {
        let c = SeriesCache::new(limits(10));
        let many = || {
            (
                vec![Labels::new([
                    ("a", "1"),
                    ("b", "1"),
                    ("c", "1"),
                    ("d", "1"),
                    ("e", "1"),
                ])],
                Vec::new(),
            )
        };
        assert_eq!(c.with(1, 0, many, |_| ()), Err(Reject::TooManyLabels));
        let long = || (vec![Labels::new([("a", "123456789")])], Vec::new());
        assert_eq!(c.with(2, 0, long, |_| ()), Err(Reject::LabelTooLong));
        assert_eq!(c.series(), 0);
    }

    fn set_of(series: &[Vec<(&str, &str)>]) -> (Vec<Labels>, SeriesSet) {
        let labels: Vec<Labels> = series.iter().map(|p| Labels::new(p.clone())).collect();
        (labels.clone(), SeriesSet::new(labels))
    }

    #[test]
    fn a_histogram_point_keeps_its_shared_labels_once() {
        let base = [("job", "api"), ("route", "/x")];
        let mut series = Vec::new();
        for le in ["0.5", "1", "+Inf"] {
            let mut p = base.to_vec();
            p.extend([("__name__", "h_bucket"), ("le", le)]);
            series.push(p);
        }
        for name in ["h_sum", "h_count"] {
            let mut p = base.to_vec();
            p.push(("__name__", name));
            series.push(p);
        }
        let (labels, set) = set_of(&series);
        assert!(matches!(set, SeriesSet::Shared { .. }));
        assert_eq!(set.len(), 5);
        for (i, want) in labels.iter().enumerate() {
            assert_eq!(set.labels(i).as_ref(), Some(want));
        }
        assert_eq!(set.labels(5), None);
    }

    #[test]
    fn label_sets_that_differ_otherwise_are_kept_whole() {
        let (labels, set) = set_of(&[
            vec![("__name__", "a"), ("x", "1")],
            vec![("__name__", "b"), ("x", "2")],
        ]);
        assert!(matches!(set, SeriesSet::Full(_)));
        assert_eq!(set.labels(1).as_ref(), labels.get(1));
        // No metric name: kept whole too.
        let (_, set) = set_of(&[vec![("x", "1")]]);
        assert!(matches!(set, SeriesSet::Full(_)));
    }

    proptest::proptest! {
        /// Whatever the label sets, the set gives each back exactly.
        #[test]
        fn every_label_set_comes_back(
            base in proptest::collection::btree_map("[a-z_]{1,4}", "[a-z0-9]{0,3}", 0..4),
            series in proptest::collection::vec(
                ("[a-c]{1,2}", proptest::option::of(("(le|quantile|x)", "[0-9+Inf]{1,3}"))),
                1..6,
            ),
        ) {
            let sets: Vec<Labels> = series
                .iter()
                .map(|(name, extra)| {
                    Labels::new(
                        base.iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .chain([("__name__".to_string(), name.clone())])
                            .chain(extra.clone()),
                    )
                })
                .collect();
            let set = SeriesSet::new(sets.clone());
            proptest::prop_assert_eq!(set.len(), sets.len());
            for (i, want) in sets.iter().enumerate() {
                proptest::prop_assert_eq!(set.labels(i), Some(want.clone()));
            }
        }
    }
}

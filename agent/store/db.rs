//! [`Store`]: the sharded series index, appends, queries (`select`, `latest`, label values),
//! retention / stale-series gc, metadata and the store's self-metrics.
//!
//! Locking: 16 shards, each behind its own `RwLock`, chosen by label-set hash; one `RwLock`
//! around the label-pair interner. The order is always *shard, then interner*; no code holds
//! two shards at once, and nothing waits for a shard while holding the interner.

use crate::telemetry::register;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use parking_lot::RwLock;
use prometheus::{IntCounter, IntGauge, Registry};

use super::intern::Interner;
use super::series::{Appended, Series};
use super::shard::{Shard, hash_pairs};
use super::{
    AppendError, Label, LabelMatcher, Labels, MetricMeta, Sample, StoreConfig, StoreError,
    is_stale_marker,
};

const SHARDS: usize = 16;
/// How far back `latest` and `scan_latest` look (Prometheus's lookback delta).
pub(super) const LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// A series and its samples in a queried range.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesSamples {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// What one [`Store::gc`] pass dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcStats {
    /// Whole series dropped because their newest sample was older than `stale_after`.
    pub series_dropped: usize,
    /// Chunks dropped: those entirely older than the retention window, plus every chunk of a
    /// dropped series.
    pub chunks_dropped: usize,
}

/// Size of the store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub series: usize,
    pub samples: usize,
    /// Compressed sample bytes held (sealed and head chunks).
    pub chunk_bytes: usize,
}

struct Metrics {
    series: IntGauge,
    dropped: IntCounter,
    appended: IntCounter,
    out_of_order: IntCounter,
    chunk_bytes: IntGauge,
}

impl Metrics {
    fn new(registry: &Registry) -> Result<Self, StoreError> {
        let m = Metrics {
            series: register(
                registry,
                IntGauge::new("vitals_store_series", "Series held in the in-memory store.")?,
            )?,
            dropped: register(
                registry,
                IntCounter::new(
                    "vitals_store_series_dropped_total",
                    "New series refused because the store holds max_series series.",
                )?,
            )?,
            appended: register(
                registry,
                IntCounter::new(
                    "vitals_store_samples_appended_total",
                    "Samples appended to the in-memory store.",
                )?,
            )?,
            out_of_order: register(
                registry,
                IntCounter::new(
                    "vitals_store_out_of_order_samples_total",
                    "Samples refused because they were not newer than their series' newest sample.",
                )?,
            )?,
            chunk_bytes: register(
                registry,
                IntGauge::new(
                    "vitals_store_chunk_bytes",
                    "Compressed sample bytes held in the in-memory store.",
                )?,
            )?,
        };
        Ok(m)
    }
}

/// The in-memory time-series store. `Send + Sync`; share it as `Arc<Store>`.
pub struct Store {
    cfg: StoreConfig,
    pub(super) shards: Box<[RwLock<Shard>]>,
    pub(super) interner: RwLock<Interner>,
    series_count: AtomicUsize,
    /// The newest sample time known to be acceptable (see `check_not_future`).
    future_horizon: AtomicI64,
    pub(super) metadata: RwLock<BTreeMap<String, MetricMeta>>,
    metrics: Metrics,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("cfg", &self.cfg)
            .field("series", &self.series_count.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Where a series lives, for [`Store::append_cached`]. It is trusted only while its shard
/// has removed no series since it was taken (slots are reused only after a removal), so a
/// stale reference costs one slow lookup, never a write to the wrong series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeriesRef {
    shard: u16,
    slot: u32,
    epoch: u64,
}

/// The shard key: the labels without `__name__`, `le` and `quantile`, so the series of one
/// data point (`x_bucket{le=...}`, `x_sum`, `x_count`, and same-attribute series of other
/// metrics) share a shard and can be written under one lock.
fn group_hash(labels: &Labels) -> u64 {
    group_hash_pairs(labels.iter().map(|l| (&*l.name, &*l.value)))
}

/// [`group_hash`] of (name, value) pairs in name order.
pub(super) fn group_hash_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> u64 {
    hash_pairs(pairs.filter(|(name, _)| !matches!(*name, "__name__" | "le" | "quantile")))
}

fn hash_labels(labels: &Labels) -> u64 {
    hash_pairs(labels.iter().map(|l| (&*l.name, &*l.value)))
}

fn duration_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Matchers resolved to label-pair ids against one interner generation.
struct Resolved {
    generation: u64,
    /// Some matcher can match no series at all.
    empty: bool,
    /// Per matcher that rejects the empty value: the sorted pair ids it accepts. A series
    /// must hold one pair of each set.
    required: Vec<Vec<u32>>,
    /// Pairs that some matcher accepting the empty value rejects. A series must hold none.
    excluded: HashSet<u32>,
}

impl Resolved {
    fn new(matchers: &[LabelMatcher], interner: &Interner) -> Self {
        let mut r = Resolved {
            generation: interner.generation(),
            empty: false,
            required: Vec::new(),
            excluded: HashSet::new(),
        };
        for m in matchers {
            if m.matches("") {
                r.excluded.extend(
                    interner
                        .values_of(m.name())
                        .filter(|(v, _)| !m.matches(v))
                        .map(|(_, id)| id),
                );
            } else {
                let mut ids: Vec<u32> = match m.op() {
                    super::MatchOp::Equal => {
                        interner.lookup(m.name(), m.value()).into_iter().collect()
                    }
                    _ => interner
                        .values_of(m.name())
                        .filter(|(v, _)| m.matches(v))
                        .map(|(_, id)| id)
                        .collect(),
                };
                if ids.is_empty() {
                    r.empty = true;
                }
                ids.sort_unstable();
                r.required.push(ids);
            }
        }
        r
    }

    fn accepts(&self, s: &Series, skip: Option<usize>) -> bool {
        s.pairs().all(|p| !self.excluded.contains(&p))
            && self
                .required
                .iter()
                .enumerate()
                .filter(|&(i, _)| Some(i) != skip)
                .all(|(_, set)| s.pairs().any(|p| set.binary_search(&p).is_ok()))
    }

    /// Slots in `shard` whose series satisfy every matcher, ascending.
    fn candidates(&self, shard: &Shard) -> Vec<u32> {
        if self.empty {
            return Vec::new();
        }
        // Drive from the required set with the fewest postings; check the rest per series.
        let best = self
            .required
            .iter()
            .enumerate()
            .map(|(i, set)| {
                (
                    i,
                    set.iter().map(|&p| shard.postings(p).len()).sum::<usize>(),
                )
            })
            .min_by_key(|&(_, n)| n);
        match best {
            None => shard
                .iter()
                .filter(|(_, s)| self.accepts(s, None))
                .map(|(slot, _)| slot)
                .collect(),
            Some((i, _)) => {
                let mut slots: Vec<u32> = self.required[i]
                    .iter()
                    .flat_map(|&p| shard.postings(p).iter().copied())
                    .collect();
                if self.required[i].len() > 1 {
                    slots.sort_unstable();
                    slots.dedup();
                }
                slots.retain(|&slot| shard.series(slot).is_some_and(|s| self.accepts(s, Some(i))));
                slots
            }
        }
    }
}

/// A series' newest sample when it is live: held, newer than `cutoff`, not a stale marker
/// (what `/metrics`, `/federate` and [`Store::latest`] show).
pub(super) fn live_sample(s: &Series, cutoff: i64) -> Option<Sample> {
    let last = s.last();
    (s.has_samples() && last.t > cutoff && !is_stale_marker(last.v)).then_some(last)
}

fn labels_of(series: &Series, interner: &Interner) -> Labels {
    Labels::from_sorted(
        series
            .pairs()
            .filter_map(|id| interner.pair(id))
            .map(|p| Label {
                name: p.name.clone(),
                value: p.value.clone(),
            })
            .collect(),
    )
}

impl Store {
    /// Builds an empty store and registers its self-metrics in `registry`.
    pub fn new(cfg: StoreConfig, registry: &Registry) -> Result<Store, StoreError> {
        Ok(Store {
            cfg,
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
            interner: RwLock::new(Interner::default()),
            series_count: AtomicUsize::new(0),
            future_horizon: AtomicI64::new(i64::MIN),
            metadata: RwLock::new(BTreeMap::new()),
            metrics: Metrics::new(registry)?,
        })
    }

    /// The configuration the store was built with.
    pub fn config(&self) -> &StoreConfig {
        &self.cfg
    }

    /// How many shards the series are spread over (shard indexes for
    /// [`Store::scan_latest`] run from 0 below this).
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    pub(super) fn shard_index(&self, hash: u64) -> u16 {
        ((hash >> 32) as usize % SHARDS) as u16
    }

    /// Takes one unit of the series budget; false when the cap is reached.
    pub(super) fn reserve_series(&self) -> bool {
        self.series_count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.cfg.max_series).then_some(n + 1)
            })
            .is_ok()
    }

    /// Adds series inserted by the checkpoint load (which bypasses the append path) to the
    /// self-metrics.
    pub(super) fn count_loaded(&self, series: usize, chunk_bytes: usize) {
        self.metrics.series.add(series as i64);
        self.metrics.chunk_bytes.add(chunk_bytes as i64);
    }

    /// Gives back one unit taken by [`Store::reserve_series`].
    pub(super) fn release_series_budget(&self) {
        self.series_count.fetch_sub(1, Ordering::AcqRel);
    }

    /// Takes a reference on each label pair, in order: all of them, or none and `None` when the
    /// pair id space is exhausted. Call with the series' shard locked, never the reverse.
    pub(super) fn intern_pairs<'a>(
        &self,
        pairs: impl Iterator<Item = (&'a Arc<str>, &'a Arc<str>)>,
    ) -> Option<Vec<u32>> {
        let mut interner = self.interner.write();
        let mut ids = Vec::with_capacity(pairs.size_hint().0);
        for (name, value) in pairs {
            match interner.intern(name, value) {
                Some(id) => ids.push(id),
                None => {
                    ids.iter().for_each(|&id| interner.release(id));
                    return None;
                }
            }
        }
        Some(ids)
    }

    /// Drops the references [`Store::intern_pairs`] took.
    pub(super) fn release_pairs(&self, ids: &[u32]) {
        let mut interner = self.interner.write();
        ids.iter().for_each(|&id| interner.release(id));
    }

    /// Appends one sample.
    ///
    /// A sample for a new series past `max_series` is refused with
    /// [`AppendError::SeriesLimit`]. A timestamp not after the series' newest one is refused
    /// with [`AppendError::OutOfOrder`], except an exact repeat (same timestamp and value
    /// bits), which is accepted and ignored. A stale marker for a series the store does not
    /// hold is accepted and ignored (there is nothing to end). A timestamp more than
    /// [`MAX_FUTURE_MS`](super::MAX_FUTURE_MS) ahead of the clock is refused with
    /// [`AppendError::TooFarInFuture`] (before any series is created for it).
    pub fn append(&self, labels: &Labels, t: i64, v: f64) -> Result<(), AppendError> {
        check_not_future(&self.future_horizon, t)?;
        self.append_located(labels, t, v).map(|_| ())
    }

    /// Like [`Store::append`], remembering in `cached` where the series lives, so the next
    /// append for the same labels skips hashing and comparing them (the ingest hot path).
    /// A stale `cached` (the series was dropped, its slot reused) is detected and refreshed.
    pub fn append_cached(
        &self,
        labels: &Labels,
        cached: &mut Option<SeriesRef>,
        t: i64,
        v: f64,
    ) -> Result<(), AppendError> {
        check_not_future(&self.future_horizon, t)?;
        self.append_ref(|| Some(labels), cached, t, v)
    }

    /// [`Store::append_cached`] with the labels made only when the reference is missing or
    /// stale, so a caller needs not keep them.
    pub fn append_cached_with(
        &self,
        labels: impl FnOnce() -> Labels,
        cached: &mut Option<SeriesRef>,
        t: i64,
        v: f64,
    ) -> Result<(), AppendError> {
        check_not_future(&self.future_horizon, t)?;
        self.append_ref(|| Some(labels()), cached, t, v)
    }

    /// [`Store::append_cached`] with the labels made only when the reference is missing or
    /// stale (`None`: the sample is skipped).
    fn append_ref<L: std::borrow::Borrow<Labels>>(
        &self,
        labels: impl FnOnce() -> Option<L>,
        cached: &mut Option<SeriesRef>,
        t: i64,
        v: f64,
    ) -> Result<(), AppendError> {
        if let Some(r) = *cached {
            let mut shard = self.shards[usize::from(r.shard)].write();
            if shard.epoch() == r.epoch {
                let result = shard.append(r.slot, t, v);
                drop(shard);
                return self.account(result);
            }
            drop(shard);
            *cached = None;
        }
        if let Some(labels) = labels() {
            *cached = self.append_located(labels.borrow(), t, v)?;
        }
        Ok(())
    }

    /// Appends `values[i]` to series `labels(i)` at `t`, through the remembered references
    /// `refs[i]` (see [`Store::append_cached`]). The series of one data point (a histogram's
    /// buckets, sum and count) live in one shard, so when every reference is fresh the whole
    /// point is written under a single lock, and `labels` is not called at all (it is called
    /// for each series whose reference is missing or stale; `None` skips it). Every write is
    /// attempted; the first error is returned.
    pub fn append_cached_many(
        &self,
        labels: impl Fn(usize) -> Option<Labels>,
        refs: &mut [Option<SeriesRef>],
        t: i64,
        values: &[f64],
    ) -> Result<(), AppendError> {
        check_not_future(&self.future_horizon, t)?;
        let n = refs.len().min(values.len());
        if let Some(Some(first)) = refs.first() {
            let mut shard = self.shards[usize::from(first.shard)].write();
            let fresh = refs[..n]
                .iter()
                .all(|r| r.is_some_and(|r| r.shard == first.shard && r.epoch == shard.epoch()));
            if fresh {
                let (mut stored, mut bytes, mut out_of_order) = (0u64, 0usize, 0u64);
                let mut result = Ok(());
                for (r, v) in refs[..n].iter().zip(values) {
                    let Some(r) = r else { continue };
                    match shard.append(r.slot, t, *v) {
                        Ok(Appended::Stored { bytes_added }) => {
                            stored += 1;
                            bytes += bytes_added;
                        }
                        Ok(Appended::Duplicate) => {}
                        Err(e) => {
                            if e == AppendError::OutOfOrder {
                                out_of_order += 1;
                            }
                            if result.is_ok() {
                                result = Err(e);
                            }
                        }
                    }
                }
                drop(shard);
                self.metrics.appended.inc_by(stored);
                self.metrics.out_of_order.inc_by(out_of_order);
                if bytes > 0 {
                    self.metrics.chunk_bytes.add(bytes as i64);
                }
                return result;
            }
        }
        let mut result = Ok(());
        for (i, (r, v)) in refs.iter_mut().zip(values).enumerate() {
            if let Err(e) = self.append_ref(|| labels(i), r, t, *v)
                && result.is_ok()
            {
                result = Err(e);
            }
        }
        result
    }

    /// Updates the self-metrics for an append to an existing series.
    fn account(&self, result: Result<Appended, AppendError>) -> Result<(), AppendError> {
        match result {
            Ok(Appended::Stored { bytes_added }) => {
                self.metrics.appended.inc();
                if bytes_added > 0 {
                    self.metrics.chunk_bytes.add(bytes_added as i64);
                }
                Ok(())
            }
            Ok(Appended::Duplicate) => Ok(()),
            Err(e) => {
                if e == AppendError::OutOfOrder {
                    self.metrics.out_of_order.inc();
                }
                Err(e)
            }
        }
    }

    /// Appends by labels; returns where the series lives, taken under the shard's lock
    /// (`None` for an ignored stale marker).
    fn append_located(
        &self,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<Option<SeriesRef>, AppendError> {
        let hash = hash_labels(labels);
        let shard_index = self.shard_index(group_hash(labels));
        let mut shard = self.shards[usize::from(shard_index)].write();
        let found = shard.find(hash, labels, &self.interner.read());
        let (slot, bytes_added) = match found {
            Some(slot) => {
                let result = shard.append(slot, t, v);
                let at = SeriesRef {
                    shard: shard_index,
                    slot,
                    epoch: shard.epoch(),
                };
                drop(shard);
                return self.account(result).map(|()| Some(at));
            }
            None => {
                if is_stale_marker(v) {
                    return Ok(None);
                }
                if !self.reserve_series() {
                    self.metrics.dropped.inc();
                    return Err(AppendError::SeriesLimit);
                }
                let inserted = self
                    .intern_pairs(labels.iter().map(|l| (&l.name, &l.value)))
                    .and_then(|pairs| {
                        let slot = shard.insert(hash, &pairs, t, v);
                        if slot.is_none() {
                            self.release_pairs(&pairs);
                        }
                        slot
                    });
                match inserted {
                    Some((slot, bytes)) => {
                        self.metrics.series.inc();
                        (slot, bytes)
                    }
                    None => {
                        self.release_series_budget();
                        self.metrics.dropped.inc();
                        return Err(AppendError::SeriesLimit);
                    }
                }
            }
        };
        let at = SeriesRef {
            shard: shard_index,
            slot,
            epoch: shard.epoch(),
        };
        drop(shard);
        self.metrics.appended.inc();
        if bytes_added > 0 {
            self.metrics.chunk_bytes.add(bytes_added as i64);
        }
        Ok(Some(at))
    }

    /// Sets the type/help/unit of metric family `metric`.
    pub fn set_metadata(&self, metric: &str, meta: MetricMeta) {
        self.metadata.write().insert(metric.to_owned(), meta);
    }

    pub fn metadata(&self, metric: &str) -> Option<MetricMeta> {
        self.metadata.read().get(metric).cloned()
    }

    /// All metadata, sorted by metric name.
    pub fn all_metadata(&self) -> Vec<(String, MetricMeta)> {
        self.metadata
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Every live series ([`live_sample`]: newest sample within `now_ms - 5m`, not a stale
    /// marker) with that sample, sorted by labels, copied out whole. The exposition endpoints
    /// stream through [`Store::scan_latest`] instead; this is for tests and fuzzing.
    pub fn latest(&self, now_ms: i64) -> Vec<(Labels, Sample)> {
        let cutoff = now_ms.saturating_sub(LOOKBACK_MS);
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.read();
            let interner = self.interner.read();
            for (_, s) in shard.iter() {
                if let Some(last) = live_sample(s, cutoff) {
                    out.push((labels_of(s, &interner), last));
                }
            }
        }
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Series matching all `matchers`, with their samples in `mint..=maxt`, sorted by labels.
    /// Series with no sample in the range are omitted.
    pub fn select(&self, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> Vec<SeriesSamples> {
        let mut out = Vec::new();
        self.each_matching(matchers, mint, maxt, |labels, samples| {
            out.push(SeriesSamples {
                labels,
                samples: std::mem::take(samples),
            })
        });
        out.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// Labels of the series matching all `matchers` that have a sample in `mint..=maxt`,
    /// sorted: [`Store::select`] without copying the samples out (`/api/v1/series`).
    pub fn series_labels(&self, matchers: &[LabelMatcher], mint: i64, maxt: i64) -> Vec<Labels> {
        let mut out = Vec::new();
        self.each_matching(matchers, mint, maxt, |labels, samples| {
            samples.clear();
            out.push(labels);
        });
        out.sort_unstable();
        out
    }

    /// Calls `f` with the labels and the samples in `mint..=maxt` of every series matching
    /// all `matchers` that has any (`f` may take the samples; the buffer is reused otherwise).
    fn each_matching(
        &self,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
        mut f: impl FnMut(Labels, &mut Vec<Sample>),
    ) {
        if mint > maxt {
            return;
        }
        let mut resolved = Resolved::new(matchers, &self.interner.read());
        if resolved.empty {
            return;
        }
        let mut buf = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.read();
            let interner = self.interner.read();
            if interner.generation() != resolved.generation {
                // Pair ids were freed (and may have been reused) since resolving.
                resolved = Resolved::new(matchers, &interner);
            }
            for slot in resolved.candidates(&shard) {
                let Some(s) = shard.series(slot) else {
                    continue;
                };
                buf.clear();
                s.samples_in(mint, maxt, &mut buf);
                if !buf.is_empty() {
                    f(labels_of(s, &interner), &mut buf);
                }
            }
        }
    }

    /// Label names held by live series, sorted.
    pub fn label_names(&self) -> Vec<String> {
        self.interner.read().label_names()
    }

    /// Values of label `name` held by live series, sorted.
    pub fn label_values(&self, name: &str) -> Vec<String> {
        self.interner.read().label_values(name)
    }

    /// Drops chunks entirely older than `now_ms - retention` and series whose newest sample is
    /// older than `now_ms - stale_after`.
    pub fn gc(&self, now_ms: i64) -> GcStats {
        let chunk_cutoff = now_ms.saturating_sub(duration_ms(self.cfg.retention));
        let series_cutoff = now_ms.saturating_sub(duration_ms(self.cfg.stale_after));
        let mut stats = GcStats::default();
        for shard in self.shards.iter() {
            let mut shard = shard.write();
            let r = shard.gc(chunk_cutoff, series_cutoff, &self.interner);
            if !r.released.is_empty() {
                self.release_pairs(&r.released);
            }
            drop(shard);
            stats.series_dropped += r.series_dropped;
            stats.chunks_dropped += r.chunks_dropped;
            if r.series_dropped > 0 {
                self.series_count
                    .fetch_sub(r.series_dropped, Ordering::AcqRel);
                self.metrics.series.sub(r.series_dropped as i64);
            }
            if r.bytes_freed > 0 {
                self.metrics.chunk_bytes.sub(r.bytes_freed as i64);
            }
        }
        stats
    }

    /// Series, samples and compressed bytes held now.
    pub fn stats(&self) -> StoreStats {
        let mut st = StoreStats::default();
        for shard in self.shards.iter() {
            let shard = shard.read();
            for (_, s) in shard.iter() {
                st.series += 1;
                st.samples += s.sample_count();
                st.chunk_bytes += s.byte_len();
            }
        }
        self.metrics.chunk_bytes.set(st.chunk_bytes as i64);
        self.metrics.series.set(st.series as i64);
        st
    }
}

/// Refuses `t` past the clock plus [`MAX_FUTURE_MS`](super::MAX_FUTURE_MS). `horizon` caches
/// the last limit computed: the clock only moves on, so a `t` under a limit computed earlier
/// is under today's, and the clock is read only when `t` passes the cached one (about once
/// every ten minutes for live data, not once per sample: it was 3 % of an OTLP ingest). After
/// the system clock is set back, the old limit holds until the clock reaches it again.
fn check_not_future(horizon: &AtomicI64, t: i64) -> Result<(), AppendError> {
    if t <= horizon.load(Ordering::Relaxed) {
        return Ok(());
    }
    let limit = super::now_ms().saturating_add(super::MAX_FUTURE_MS);
    horizon.fetch_max(limit, Ordering::Relaxed);
    if t > limit {
        return Err(AppendError::TooFarInFuture);
    }
    Ok(())
}

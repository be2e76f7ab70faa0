//! The newest sample of many series, read a shard at a time: what the exposition endpoints
//! (`/metrics`, `/federate`) stream without copying the store's label sets out.
//!
//! A reader asks for one metric family (its metric names, in the order their samples should
//! appear) in one shard. The series are handed over borrowed, [`SCAN_BATCH`] at a time while
//! that shard and the interner are read-locked, so the reader writes them straight to its
//! output and holds no more than one batch of text. The series of one data point (`x_bucket{le=…}`,
//! `x_count`, `x_sum` with the same other labels) share a shard (the shard key leaves out
//! `__name__`, `le` and `quantile`), so within a shard they come out together: grouped by
//! their other labels, then by metric name in the order asked, then by `le`/`quantile`
//! numerically, as OpenMetrics requires of a histogram or summary.

use super::db::{LOOKBACK_MS, group_hash_pairs, live_sample};
use super::intern::Interner;
use super::series::Series;
use super::{LabelMatcher, METRIC_NAME, Sample, Store};

/// One series as [`Store::scan_latest`] hands it over.
pub struct LatestSeries<'a> {
    /// Its metric name (one of the names asked for).
    pub name: &'a str,
    /// Its other labels, in name order.
    pub labels: &'a [(&'a str, &'a str)],
    /// Its newest sample (never a stale marker).
    pub sample: Sample,
}

/// Series handed over per lock: between batches the shard is unlocked and the reader's
/// `between` runs (to send what it wrote), so neither the text held nor the time a writer
/// waits grows with the shard.
pub const SCAN_BATCH: usize = 1024;

impl Store {
    /// Metric names of the live series, sorted.
    pub fn metric_names(&self) -> Vec<String> {
        self.interner.read().label_values(METRIC_NAME)
    }

    /// Calls `f` for every series in shard `shard` named one of `names` whose newest sample
    /// is newer than `now_ms - 5m` and not a stale marker, and which matches every matcher
    /// of at least one set of `select` (all series when `select` is `None`). Grouped as the
    /// module says. `f` runs with the shard read-locked: it should only write. After each
    /// [`SCAN_BATCH`] series, and at the end, `between` runs with nothing locked; its error
    /// ends the scan. A series removed between batches is skipped. Both get `out`, where the
    /// reader keeps what it writes.
    #[allow(clippy::too_many_arguments)]
    pub fn scan_latest<O, E>(
        &self,
        shard: usize,
        names: &[&str],
        now_ms: i64,
        select: Option<&[Vec<LabelMatcher>]>,
        out: &mut O,
        mut f: impl FnMut(&mut O, &LatestSeries<'_>),
        mut between: impl FnMut(&mut O) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some(lock) = self.shards.get(shard) else {
            return Ok(());
        };
        let cutoff = now_ms.saturating_sub(LOOKBACK_MS);
        // (data-point key, rank of the name, le/quantile, slot)
        let mut rows: Vec<(u64, usize, f64, u32)> = Vec::new();
        let epoch = {
            let shard = lock.read();
            let interner = self.interner.read();
            for (rank, name) in names.iter().enumerate() {
                let Some(pair) = interner.lookup(METRIC_NAME, name) else {
                    continue;
                };
                for &slot in shard.postings(pair) {
                    let Some(s) = shard.series(slot) else {
                        continue;
                    };
                    if live_sample(s, cutoff).is_none() {
                        continue;
                    }
                    let (key, bound) = point_of(s, &interner);
                    rows.push((key, rank, bound, slot));
                }
            }
            shard.epoch()
        };
        rows.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then(a.1.cmp(&b.1))
                .then(a.2.total_cmp(&b.2))
                .then(a.3.cmp(&b.3))
        });
        for batch in rows.chunks(SCAN_BATCH) {
            {
                let shard = lock.read();
                let interner = self.interner.read();
                let mut labels: Vec<(&str, &str)> = Vec::new();
                // Slots are reused only after a removal, which moves the epoch on.
                let moved = shard.epoch() != epoch;
                for &(key, rank, _, slot) in batch {
                    let (Some(s), Some(name)) = (shard.series(slot), names.get(rank)) else {
                        continue;
                    };
                    if moved
                        && (point_of(s, &interner).0 != key
                            || !s.pairs().any(|p| interner.is(p, METRIC_NAME, name)))
                    {
                        continue;
                    }
                    // A sample written since the rows were taken may be a stale marker.
                    let Some(last) = live_sample(s, cutoff) else {
                        continue;
                    };
                    labels.clear();
                    labels.extend(
                        s.pairs()
                            .filter_map(|id| interner.pair(id))
                            .filter(|p| &*p.name != METRIC_NAME)
                            .map(|p| (&*p.name, &*p.value)),
                    );
                    if let Some(sets) = select
                        && !sets.iter().any(|set| matches_all(set, name, &labels))
                    {
                        continue;
                    }
                    f(
                        out,
                        &LatestSeries {
                            name,
                            labels: &labels,
                            sample: last,
                        },
                    );
                }
            }
            between(out)?;
        }
        Ok(())
    }
}

/// A series' data-point key (the hash of its labels without `__name__`, `le` and
/// `quantile`: the shard key) and its `le` or `quantile` as a number (0 without one).
fn point_of(s: &Series, interner: &Interner) -> (u64, f64) {
    let pairs = s.pairs().filter_map(|id| interner.pair(id));
    let key = group_hash_pairs(pairs.clone().map(|p| (&*p.name, &*p.value)));
    let bound = pairs
        .filter(|p| matches!(&*p.name, "le" | "quantile"))
        .find_map(|p| p.value.parse::<f64>().ok())
        .unwrap_or(0.0);
    (key, bound)
}

/// Whether the series `name{labels}` satisfies every matcher of `set` (an absent label
/// matches as the empty string).
pub fn matches_all(set: &[LabelMatcher], name: &str, labels: &[(&str, &str)]) -> bool {
    set.iter().all(|m| {
        let value = if m.name() == METRIC_NAME {
            name
        } else {
            labels
                .iter()
                .find(|(n, _)| *n == m.name())
                .map_or("", |(_, v)| v)
        };
        m.matches(value)
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::Duration;

    use super::*;
    use crate::store::{Labels, StoreConfig};

    const T: i64 = 1_700_000_000_000;

    fn scan_shard(store: &Store, names: &[&str], between: impl Fn(usize)) -> Vec<String> {
        let mut lines = Vec::new();
        let mut calls = 0;
        store
            .scan_latest(
                0,
                names,
                T,
                None,
                &mut lines,
                |lines, s| lines.push(format!("{}{:?}", s.name, s.labels)),
                |_| {
                    between(calls);
                    calls += 1;
                    Ok::<(), ()>(())
                },
            )
            .expect("scan");
        lines
    }

    /// Series removed (and their slots reused by new series) while the scan is between
    /// batches are skipped, never written in their slot's new owner's place.
    #[test]
    fn series_removed_between_batches_are_skipped() {
        let cfg = StoreConfig {
            retention: Duration::from_secs(3600),
            stale_after: Duration::from_secs(60),
            max_series: 1_000_000,
        };
        let store = Store::new(cfg, &prometheus::Registry::new()).expect("store");
        let n = 40_000;
        for i in 0..n {
            // Even series are 200 s old: in the 5-minute lookback, but past `stale_after`.
            let t = if i % 2 == 0 { T - 200_000 } else { T };
            let labels = Labels::new([("__name__", "m".to_string()), ("i", i.to_string())]);
            store.append(&labels, t, 1.0).expect("append");
        }
        assert!(n / store.shard_count() > 2 * SCAN_BATCH);
        let odd_of = |lines: &[String]| {
            lines
                .iter()
                .filter(|l| {
                    l.split('"')
                        .nth(3)
                        .and_then(|v| v.parse::<usize>().ok())
                        .is_some_and(|i| i % 2 == 1)
                })
                .count()
        };
        let odd_in_shard = odd_of(&scan_shard(&store, &["m"], |_| {}));
        let lines = scan_shard(&store, &["m"], |call| {
            if call == 0 {
                store.gc(T);
                for c in 0..n {
                    let labels = Labels::new([("__name__", "m".to_string()), ("c", c.to_string())]);
                    store.append(&labels, T, 2.0).expect("append");
                }
            }
        });
        let unique: HashSet<&String> = lines.iter().collect();
        assert_eq!(unique.len(), lines.len(), "a series was written twice");
        assert!(lines.iter().all(|l| !l.contains("\"c\"")), "a new series");
        let odd = odd_of(&lines);
        assert_eq!(odd, odd_in_shard, "every live series is written");
        // The first batch ran before the removal; after it, no removed series shows.
        let even = lines.len() - odd;
        assert!(even > 0 && even <= SCAN_BATCH, "{even}");
    }
}

//! One shard of the store: its series (inline records in a slab), the lookup from label-set
//! hash to series, and the postings (label pair id → sorted series slots) that `select` uses
//! instead of scanning.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::intern::Interner;
use super::series::{Appended, Series};
use super::{AppendError, Labels};

/// Hasher for keys that are already hashes or small dense ids: one multiply spreads them over
/// the high bits the hash table's control bytes use.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, x: u32) {
        self.0 = u64::from(x).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IdMap<V> = HashMap<u32, V, BuildHasherDefault<IdHasher>>;

/// The key of a label-set hash in a shard's lookup (the low half; the shard is chosen by the
/// high half).
fn key(hash: u64) -> u32 {
    hash as u32
}

/// The hash of a label set given as (name, value) pairs in name order.
pub(crate) fn hash_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> u64 {
    use std::hash::BuildHasher;
    // foldhash: several times faster than SipHash on label strings; a fixed seed keeps it the
    // same for the process's lifetime (nothing outside the process sees it).
    static STATE: foldhash::quality::FixedState =
        foldhash::quality::FixedState::with_seed(0x7ab1e5);
    let mut h = STATE.build_hasher();
    for (name, value) in pairs {
        h.write(name.as_bytes());
        h.write_u8(0xff);
        h.write(value.as_bytes());
        h.write_u8(0xff);
    }
    h.finish()
}

/// Result of a shard-level gc pass.
#[derive(Debug, Default)]
pub(crate) struct ShardGc {
    pub(crate) series_dropped: usize,
    pub(crate) chunks_dropped: usize,
    pub(crate) bytes_freed: usize,
    /// Pair ids of dropped series, to release in the interner.
    pub(crate) released: Vec<u32>,
}

#[derive(Debug, Default)]
pub(crate) struct Shard {
    /// Series records; dead slots are listed in `free`.
    slots: Vec<Series>,
    free: Vec<u32>,
    /// Label-set hash key → slot; a second series with the same key goes to `collisions`.
    by_hash: IdMap<u32>,
    collisions: IdMap<Vec<u32>>,
    /// Pair id → sorted slots of the series holding that pair.
    postings: IdMap<Vec<u32>>,
    /// Bumped whenever a series is removed: a slot remembered at an earlier epoch may now
    /// hold another series (see `SeriesRef`).
    epoch: u64,
}

fn same_labels(series: &Series, labels: &Labels, interner: &Interner) -> bool {
    let mut pairs = series.pairs();
    labels.iter().all(|l| {
        pairs
            .next()
            .is_some_and(|id| interner.is(id, &l.name, &l.value))
    }) && pairs.next().is_none()
}

impl Shard {
    /// The removal epoch (see the field).
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    pub(crate) fn series(&self, slot: u32) -> Option<&Series> {
        self.slots.get(slot as usize).filter(|s| !s.is_dead())
    }

    /// All live series with their slots.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &Series)> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.is_dead())
            .map(|(i, s)| (i as u32, s))
    }

    pub(crate) fn postings(&self, pair: u32) -> &[u32] {
        self.postings.get(&pair).map_or(&[], Vec::as_slice)
    }

    /// Slots whose label-set hash key is `hash`'s (the first, then any collisions).
    fn with_key(&self, hash: u64) -> impl Iterator<Item = u32> + '_ {
        let k = key(hash);
        self.by_hash
            .get(&k)
            .into_iter()
            .chain(self.collisions.get(&k).into_iter().flatten())
            .copied()
    }

    /// The slot of the series with exactly these labels.
    pub(crate) fn find(&self, hash: u64, labels: &Labels, interner: &Interner) -> Option<u32> {
        self.with_key(hash).find(|&slot| {
            self.series(slot)
                .is_some_and(|s| same_labels(s, labels, interner))
        })
    }

    pub(crate) fn append(&mut self, slot: u32, t: i64, v: f64) -> Result<Appended, AppendError> {
        match self.slots.get_mut(slot as usize).filter(|s| !s.is_dead()) {
            Some(s) => s.append(t, v),
            // Slots come from `find` under the same lock.
            None => Err(AppendError::OutOfOrder),
        }
    }

    /// Adds a new series holding one sample. `None` when the slot space is exhausted (or the
    /// label set is absurdly large).
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        pairs: &[u32],
        t: i64,
        v: f64,
    ) -> Option<(u32, usize)> {
        let series = Series::new(pairs, t, v)?;
        let bytes = series.byte_len();
        Some((self.insert_series(hash, series)?, bytes))
    }

    /// Adds `series` (whose label-set hash is `hash`); its slot, or `None` when the slot space
    /// is exhausted.
    pub(crate) fn insert_series(&mut self, hash: u64, series: Series) -> Option<u32> {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                let slot = u32::try_from(self.slots.len()).ok()?;
                self.slots.push(Series::dead());
                slot
            }
        };
        for p in series.pairs() {
            let list = self.postings.entry(p).or_default();
            if list.last().is_none_or(|&l| l < slot) {
                list.push(slot);
            } else if let Err(pos) = list.binary_search(&slot) {
                list.insert(pos, slot);
            }
        }
        match self.by_hash.entry(key(hash)) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(slot);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collisions.entry(key(hash)).or_default().push(slot);
            }
        }
        if let Some(s) = self.slots.get_mut(slot as usize) {
            *s = series;
        }
        Some(slot)
    }

    /// The slot of the series whose label pair ids are exactly `pairs` (ids are canonical
    /// within one interner, so equal label sets have equal ids).
    pub(crate) fn find_pairs(&self, hash: u64, pairs: &[u32]) -> Option<u32> {
        self.with_key(hash).find(|&slot| {
            self.series(slot)
                .is_some_and(|s| s.pairs().eq(pairs.iter().copied()))
        })
    }

    /// Removes the series in `slot`, whose label-set hash is `hash`.
    fn remove(&mut self, slot: u32, hash: u64) -> Option<Series> {
        let s = self.slots.get_mut(slot as usize).filter(|s| !s.is_dead())?;
        let series = std::mem::replace(s, Series::dead());
        self.epoch += 1;
        for p in series.pairs() {
            if let Some(list) = self.postings.get_mut(&p) {
                if let Ok(pos) = list.binary_search(&slot) {
                    list.remove(pos);
                }
                if list.is_empty() {
                    self.postings.remove(&p);
                } else if list.capacity() > 2 * list.len() + 4 {
                    list.shrink_to_fit();
                }
            }
        }
        let k = key(hash);
        if self.by_hash.get(&k) == Some(&slot) {
            match self.collisions.get_mut(&k).and_then(Vec::pop) {
                Some(other) => {
                    self.by_hash.insert(k, other);
                }
                None => {
                    self.by_hash.remove(&k);
                }
            }
        } else if let Some(list) = self.collisions.get_mut(&k) {
            list.retain(|&s| s != slot);
        }
        if self.collisions.get(&k).is_some_and(Vec::is_empty) {
            self.collisions.remove(&k);
        }
        self.free.push(slot);
        Some(series)
    }

    /// Drops chunks entirely before `chunk_cutoff` and series whose newest sample is before
    /// `series_cutoff`. `interner` (taken only when a series goes) recomputes label-set hashes.
    pub(crate) fn gc(
        &mut self,
        chunk_cutoff: i64,
        series_cutoff: i64,
        interner: &parking_lot::RwLock<Interner>,
    ) -> ShardGc {
        let mut out = ShardGc::default();
        let mut stale = Vec::new();
        for (i, s) in self.slots.iter_mut().enumerate() {
            if s.is_dead() {
                continue;
            }
            if s.last().t < series_cutoff {
                stale.push(i as u32);
            } else {
                let (chunks, bytes) = s.drop_chunks_before(chunk_cutoff);
                out.chunks_dropped += chunks;
                out.bytes_freed += bytes;
            }
        }
        if !stale.is_empty() {
            let hashes: Vec<u64> = {
                let interner = interner.read();
                stale
                    .iter()
                    .map(|&slot| {
                        let pairs = self.series(slot).into_iter().flat_map(Series::pairs);
                        hash_pairs(
                            pairs
                                .filter_map(|id| interner.pair(id))
                                .map(|p| (&*p.name, &*p.value)),
                        )
                    })
                    .collect()
            };
            for (slot, hash) in stale.into_iter().zip(hashes) {
                if let Some(s) = self.remove(slot, hash) {
                    out.series_dropped += 1;
                    out.chunks_dropped += s.chunk_count();
                    out.bytes_freed += s.byte_len();
                    out.released.extend(s.pairs());
                }
            }
        }
        if self.free.len() > 64 && self.free.len() * 4 > self.slots.len() {
            self.compact_free_tail();
        }
        out
    }

    /// Returns trailing free slots to the allocator.
    fn compact_free_tail(&mut self) {
        while self.slots.last().is_some_and(Series::is_dead) {
            self.slots.pop();
        }
        let len = self.slots.len() as u32;
        self.free.retain(|&s| s < len);
        self.slots.shrink_to_fit();
        self.free.shrink_to_fit();
        self.postings.shrink_to_fit();
        self.by_hash.shrink_to_fit();
    }
}

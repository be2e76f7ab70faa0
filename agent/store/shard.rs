//! One shard of the store: its series (interned label ids + compressed chunks), the lookup from
//! label-set hash to series, and the postings (label pair id → sorted series slots) that
//! `select` uses instead of scanning.

use std::collections::HashMap;

use super::chunk::{Head, Sealed};
use super::intern::Interner;
use super::{AppendError, Labels, Sample};

/// One series: its label pair ids (in label-name order) and its samples.
#[derive(Debug)]
pub(crate) struct Series {
    pub(crate) hash: u64,
    pub(crate) pairs: Box<[u32]>,
    sealed: Vec<Sealed>,
    head: Head,
}

/// What happened to an appended sample.
pub(crate) enum Appended {
    /// Stored; the chunk bytes grew by this much.
    Stored { bytes_added: usize },
    /// Same timestamp and bits as the newest sample: nothing to do.
    Duplicate,
}

impl Series {
    fn new(hash: u64, pairs: Box<[u32]>, t: i64, v: f64) -> Self {
        Series {
            hash,
            pairs,
            sealed: Vec::new(),
            head: Head::new(t, v.to_bits()),
        }
    }

    /// The newest sample ever appended (its chunk may have been dropped by retention).
    pub(crate) fn last(&self) -> Sample {
        let (t, v) = self.head.last();
        Sample {
            t,
            v: f64::from_bits(v),
        }
    }

    /// True when any sample is held.
    pub(crate) fn has_samples(&self) -> bool {
        self.head.count() > 0 || !self.sealed.is_empty()
    }

    pub(crate) fn sample_count(&self) -> usize {
        self.sealed
            .iter()
            .map(|c| usize::from(c.count()))
            .sum::<usize>()
            + usize::from(self.head.count())
    }

    pub(crate) fn chunk_count(&self) -> usize {
        self.sealed.len() + usize::from(self.head.count() > 0)
    }

    pub(crate) fn byte_len(&self) -> usize {
        self.sealed.iter().map(Sealed::byte_len).sum::<usize>() + self.head.byte_len()
    }

    fn append(&mut self, t: i64, v: f64) -> Result<Appended, AppendError> {
        let bits = v.to_bits();
        let (last_t, last_v) = self.head.last();
        if t < last_t || (t == last_t && bits != last_v) {
            return Err(AppendError::OutOfOrder);
        }
        if t == last_t {
            return Ok(Appended::Duplicate);
        }
        let before = self.head.byte_len();
        self.head.push(t, bits);
        let bytes_added = self.head.byte_len() - before;
        if self.head.is_full()
            && let Some(c) = self.head.seal()
        {
            self.sealed.reserve_exact(1);
            self.sealed.push(c);
        }
        Ok(Appended::Stored { bytes_added })
    }

    /// Appends the samples in `mint..=maxt` to `out`.
    pub(crate) fn samples_in(&self, mint: i64, maxt: i64, out: &mut Vec<Sample>) {
        let in_range = |s: &Sample| s.t >= mint && s.t <= maxt;
        for c in &self.sealed {
            if c.max_t < mint || c.min_t() > maxt {
                continue;
            }
            out.extend(c.iter().filter(in_range));
        }
        if self.head.count() > 0 && self.head.min_t() <= maxt && self.head.last().0 >= mint {
            out.extend(self.head.iter().filter(in_range));
        }
    }

    /// Drops chunks whose newest sample is before `cutoff`; returns (chunks, bytes) dropped.
    fn drop_chunks_before(&mut self, cutoff: i64) -> (usize, usize) {
        let n = self.sealed.iter().take_while(|c| c.max_t < cutoff).count();
        let mut bytes: usize = self.sealed[..n].iter().map(Sealed::byte_len).sum();
        let mut chunks = n;
        if n > 0 {
            self.sealed.drain(..n);
            self.sealed.shrink_to_fit();
        }
        if self.head.count() > 0 && self.head.last().0 < cutoff {
            bytes += self.head.byte_len();
            chunks += 1;
            self.head.clear();
        }
        (chunks, bytes)
    }
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
    slots: Vec<Option<Box<Series>>>,
    free: Vec<u32>,
    /// Label-set hash → slot; a second series with the same hash goes to `collisions`.
    by_hash: HashMap<u64, u32>,
    collisions: HashMap<u64, Vec<u32>>,
    /// Pair id → sorted slots of the series holding that pair.
    postings: HashMap<u32, Vec<u32>>,
}

fn same_labels(series: &Series, labels: &Labels, interner: &Interner) -> bool {
    series.pairs.len() == labels.len()
        && series
            .pairs
            .iter()
            .zip(labels.iter())
            .all(|(&id, l)| interner.is(id, &l.name, &l.value))
}

impl Shard {
    pub(crate) fn series(&self, slot: u32) -> Option<&Series> {
        self.slots.get(slot as usize)?.as_deref()
    }

    /// All live series with their slots.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &Series)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i as u32, s.as_deref()?)))
    }

    pub(crate) fn postings(&self, pair: u32) -> &[u32] {
        self.postings.get(&pair).map_or(&[], Vec::as_slice)
    }

    /// The slot of the series with exactly these labels.
    pub(crate) fn find(&self, hash: u64, labels: &Labels, interner: &Interner) -> Option<u32> {
        let first = self.by_hash.get(&hash)?;
        std::iter::once(first)
            .chain(self.collisions.get(&hash).into_iter().flatten())
            .copied()
            .find(|&slot| {
                self.series(slot)
                    .is_some_and(|s| same_labels(s, labels, interner))
            })
    }

    pub(crate) fn append(&mut self, slot: u32, t: i64, v: f64) -> Result<Appended, AppendError> {
        match self.slots.get_mut(slot as usize).and_then(Option::as_mut) {
            Some(s) => s.append(t, v),
            // Slots come from `find` under the same lock.
            None => Err(AppendError::OutOfOrder),
        }
    }

    /// Adds a new series holding one sample. `None` when the slot space is exhausted.
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        pairs: Box<[u32]>,
        t: i64,
        v: f64,
    ) -> Option<(u32, usize)> {
        let series = Box::new(Series::new(hash, pairs, t, v));
        let bytes = series.byte_len();
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                let slot = u32::try_from(self.slots.len()).ok()?;
                self.slots.push(None);
                slot
            }
        };
        for &p in series.pairs.iter() {
            let list = self.postings.entry(p).or_default();
            if let Err(pos) = list.binary_search(&slot) {
                list.insert(pos, slot);
            }
        }
        match self.by_hash.entry(hash) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(slot);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collisions.entry(hash).or_default().push(slot);
            }
        }
        if let Some(s) = self.slots.get_mut(slot as usize) {
            *s = Some(series);
        }
        Some((slot, bytes))
    }

    fn remove(&mut self, slot: u32) -> Option<Box<Series>> {
        let series = self.slots.get_mut(slot as usize)?.take()?;
        for p in series.pairs.iter() {
            if let Some(list) = self.postings.get_mut(p) {
                if let Ok(pos) = list.binary_search(&slot) {
                    list.remove(pos);
                }
                if list.is_empty() {
                    self.postings.remove(p);
                }
            }
        }
        let hash = series.hash;
        if self.by_hash.get(&hash) == Some(&slot) {
            match self.collisions.get_mut(&hash).and_then(Vec::pop) {
                Some(other) => {
                    self.by_hash.insert(hash, other);
                }
                None => {
                    self.by_hash.remove(&hash);
                }
            }
        } else if let Some(list) = self.collisions.get_mut(&hash) {
            list.retain(|&s| s != slot);
        }
        if self.collisions.get(&hash).is_some_and(Vec::is_empty) {
            self.collisions.remove(&hash);
        }
        self.free.push(slot);
        Some(series)
    }

    /// Drops chunks entirely before `chunk_cutoff` and series whose newest sample is before
    /// `series_cutoff`.
    pub(crate) fn gc(&mut self, chunk_cutoff: i64, series_cutoff: i64) -> ShardGc {
        let mut out = ShardGc::default();
        let mut stale = Vec::new();
        for (i, s) in self.slots.iter_mut().enumerate() {
            let Some(s) = s else { continue };
            if s.last().t < series_cutoff {
                stale.push(i as u32);
            } else {
                let (chunks, bytes) = s.drop_chunks_before(chunk_cutoff);
                out.chunks_dropped += chunks;
                out.bytes_freed += bytes;
            }
        }
        for slot in stale {
            if let Some(s) = self.remove(slot) {
                out.series_dropped += 1;
                out.chunks_dropped += s.chunk_count();
                out.bytes_freed += s.byte_len();
                out.released.extend_from_slice(&s.pairs);
            }
        }
        if self.free.len() > 64 && self.free.len() * 4 > self.slots.len() {
            self.compact_free_tail();
        }
        out
    }

    /// Returns trailing free slots to the allocator.
    fn compact_free_tail(&mut self) {
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        let len = self.slots.len() as u32;
        self.free.retain(|&s| s < len);
        self.slots.shrink_to_fit();
        self.free.shrink_to_fit();
    }
}

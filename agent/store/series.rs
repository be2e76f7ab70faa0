//! One series: its label pair ids and all its chunks in a single byte buffer, plus the encoder
//! state of its head chunk. The record is small and lives inline in its shard's slab.
//!
//! Buffer layout: `n_pairs` label pair ids (u32 LE, in label-name order), then the chunks
//! oldest first (format in `chunk`), the last one being the head when `head_start` is before
//! the end. Retention drops a prefix of chunks (a `drain`, i.e. a memmove of a few hundred
//! bytes). The buffer grows by small exact steps, so its slack stays within a few dozen bytes
//! and no per-chunk allocation exists.

use super::bits::BitWriter;
use super::chunk::{
    CHUNK_SAMPLES, COUNT_AT, Chunk, Codec, MAX_VARINT, MIN_T_AT, NO_WINDOW, head_header,
    sealed_len, span_at, write_varint,
};
use super::{AppendError, Sample};

/// Smallest growth step of a series buffer (bytes).
const GROW: usize = 16;

/// `Series::flags`: bits 0-2 are the unused low bits of the head chunk's last byte.
const FREE_MASK: u16 = 0b111;
/// Bits 3-7: leading zeros of the XOR window (0..=31).
const LEADING_SHIFT: u16 = 3;
/// Bits 8-13: trailing zeros of the XOR window (0..=63).
const TRAILING_SHIFT: u16 = 8;
/// Bit 14: the XOR window is set.
const WINDOW: u16 = 1 << 14;
/// Bit 15: an empty slab slot.
const DEAD: u16 = 1 << 15;
/// `head_span` when the head's span does not fit (`seal` then finds its start by parsing).
const SPAN_UNKNOWN: u32 = u32::MAX;

/// What happened to an appended sample.
pub(crate) enum Appended {
    /// Stored; the chunk bytes grew by this much.
    Stored { bytes_added: usize },
    /// Same timestamp and bits as the newest sample: nothing to do.
    Duplicate,
}

/// 64 bytes: the buffer is a boxed slice whose used length is kept here (a `Vec` would spend
/// 8 more bytes on its capacity), and the encoder state is stored flat, its small fields
/// packed into `flags`.
#[derive(Debug)]
pub(crate) struct Series {
    /// The buffer; its first `len` bytes are used, the rest is growth room.
    data: Box<[u8]>,
    len: u32,
    /// Offset of the head chunk in `data`; `len` when there is no head.
    head_start: u32,
    /// Encoder state after the newest sample *of the series* (see [`Codec`]): kept across
    /// seal and retention so the series' newest sample is always known without decoding.
    t: i64,
    dt: i64,
    v: u64,
    idelta: i64,
    /// Newest minus first timestamp of the head chunk (ms), so sealing needs not find the
    /// head's start; [`SPAN_UNKNOWN`] when it does not fit.
    head_span: u32,
    n_pairs: u16,
    /// See [`FREE_MASK`] and the constants after it.
    flags: u16,
}

/// A series' chunk bytes as the checkpoint stores them (label pair ids are written apart,
/// as strings, since ids are local to one process). The encoder state is not stored: it is
/// the state after decoding the newest chunk, rebuilt at load.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RawSeries<'a> {
    /// The chunks, oldest first (the bytes after the pair ids).
    pub(crate) chunks: &'a [u8],
    /// Offset of the head chunk in `chunks`; `chunks.len()` when there is no head.
    pub(crate) head_off: u32,
    /// The newest sample (time, value bits): needed only when retention has dropped every
    /// chunk, since nothing else holds it then.
    pub(crate) last: (i64, u64),
}

impl Series {
    /// A series holding one sample; `None` when it has more than `u16::MAX` labels.
    pub(crate) fn new(pairs: &[u32], t: i64, v: f64) -> Option<Self> {
        let n_pairs = u16::try_from(pairs.len()).ok()?;
        let mut data = Vec::with_capacity(pairs.len() * 4 + MIN_T_AT + 8 + GROW);
        for p in pairs {
            data.extend_from_slice(&p.to_le_bytes());
        }
        let len = u32::try_from(data.len()).ok()?;
        data.resize(data.capacity(), 0);
        let bits = v.to_bits();
        let mut s = Series {
            data: data.into_boxed_slice(),
            len,
            head_start: len,
            t,
            dt: 0,
            v: bits,
            idelta: 0,
            head_span: 0,
            n_pairs,
            flags: 0,
        };
        s.start_head(t, bits)?;
        Some(s)
    }

    /// The chunk bytes, for the checkpoint.
    pub(crate) fn raw(&self) -> RawSeries<'_> {
        let start = self.pairs_end();
        RawSeries {
            chunks: self.bytes().get(start..).unwrap_or(&[]),
            head_off: u32::try_from(self.head_start().saturating_sub(start)).unwrap_or(u32::MAX),
            last: (self.t, self.v),
        }
    }

    /// The series [`Series::raw`] described, with label pair ids `pairs`, its encoder state
    /// rebuilt by decoding its newest chunk. `None` when the parts do not make a well-formed
    /// series (a damaged checkpoint): the head offset past the end, sealed chunk lengths that
    /// do not lead to the head, a chunk that does not decode to its count, or a sealed chunk
    /// whose samples end elsewhere than its header says.
    pub(crate) fn from_raw(pairs: &[u32], raw: &RawSeries<'_>) -> Option<Series> {
        let n_pairs = u16::try_from(pairs.len()).ok()?;
        if raw.head_off as usize > raw.chunks.len() {
            return None;
        }
        let mut data = Vec::with_capacity(pairs.len() * 4 + raw.chunks.len());
        for p in pairs {
            data.extend_from_slice(&p.to_le_bytes());
        }
        let pairs_end = data.len();
        data.extend_from_slice(raw.chunks);
        let len = u32::try_from(data.len()).ok()?;
        let mut s = Series {
            data: data.into_boxed_slice(),
            len,
            head_start: u32::try_from(pairs_end).ok()?.checked_add(raw.head_off)?,
            t: raw.last.0,
            dt: 0,
            v: raw.last.1,
            idelta: 0,
            head_span: 0,
            n_pairs,
            flags: 0,
        };
        if !s.has_samples() {
            return Some(s);
        }
        if !s.well_formed() {
            return None;
        }
        let newest = s.chunks().last()?;
        // An open head has fewer than CHUNK_SAMPLES samples (it is sealed at that count), so
        // the next append's count increment cannot overflow.
        if s.has_head() && newest.count >= CHUNK_SAMPLES {
            return None;
        }
        let (min_t, header_max_t, decimal) = (newest.min_t, newest.max_t, newest.decimal);
        let (codec, free) = newest.iter().finish()?;
        s.set_codec(codec);
        if s.has_head() {
            // The unused low bits are zero: the next append ORs its bits into them.
            let last = s.bytes().last().copied().unwrap_or(0);
            if u32::from(last) & ((1u32 << free) - 1) != 0 {
                return None;
            }
            s.set_free(free);
            s.head_span = u32::try_from(codec.t.wrapping_sub(min_t) as u64).unwrap_or(SPAN_UNKNOWN);
            if !decimal {
                // A head written before decimal mode: closed, so appends use one format (an
                // append to it would write bits it reads otherwise).
                s.seal();
                if s.has_head() {
                    return None;
                }
            }
        } else if header_max_t != codec.t {
            // A sealed newest chunk whose samples end elsewhere than its header says.
            return None;
        }
        Some(s)
    }

    /// Sealed chunk lengths lead exactly to the head, and every chunk's header parses.
    fn well_formed(&self) -> bool {
        let (mut pos, mut sealed) = (self.pairs_end(), 0);
        while pos < self.head_start() {
            let len = sealed_len(self.bytes(), pos);
            if len == 0 {
                return false;
            }
            pos += len;
            sealed += 1;
        }
        pos == self.head_start() && self.chunks().count() == sealed + usize::from(self.has_head())
    }

    /// An empty slab slot.
    pub(crate) fn dead() -> Self {
        Series {
            data: Box::default(),
            len: 0,
            head_start: 0,
            t: 0,
            dt: 0,
            v: 0,
            idelta: 0,
            head_span: 0,
            n_pairs: 0,
            flags: DEAD,
        }
    }

    pub(crate) fn is_dead(&self) -> bool {
        self.flags & DEAD != 0
    }

    fn codec(&self) -> Codec {
        let window = self.flags & WINDOW != 0;
        Codec {
            t: self.t,
            dt: self.dt,
            v: self.v,
            idelta: self.idelta,
            leading: if window {
                ((self.flags >> LEADING_SHIFT) & 31) as u8
            } else {
                NO_WINDOW
            },
            trailing: ((self.flags >> TRAILING_SHIFT) & 63) as u8,
            // Every head chunk has decimal mode (`from_raw` seals an older one).
            decimal: true,
        }
    }

    fn set_codec(&mut self, c: Codec) {
        self.t = c.t;
        self.dt = c.dt;
        self.v = c.v;
        self.idelta = c.idelta;
        let window = if c.leading == NO_WINDOW {
            0
        } else {
            WINDOW
                | (u16::from(c.leading & 31) << LEADING_SHIFT)
                | (u16::from(c.trailing & 63) << TRAILING_SHIFT)
        };
        self.flags = (self.flags & (FREE_MASK | DEAD)) | window;
    }

    /// Unused low bits of the head chunk's last byte.
    fn free(&self) -> u8 {
        (self.flags & FREE_MASK) as u8
    }

    fn set_free(&mut self, free: u8) {
        self.flags = (self.flags & !FREE_MASK) | (u16::from(free) & FREE_MASK);
    }

    /// The used bytes.
    fn bytes(&self) -> &[u8] {
        self.data.get(..self.len()).unwrap_or(&[])
    }

    fn len(&self) -> usize {
        self.len as usize
    }

    fn pairs_end(&self) -> usize {
        usize::from(self.n_pairs) * 4
    }

    /// Label pair ids, in label-name order.
    pub(crate) fn pairs(&self) -> impl Iterator<Item = u32> + Clone + '_ {
        self.data
            .get(..self.pairs_end())
            .unwrap_or(&[])
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn head_start(&self) -> usize {
        self.head_start as usize
    }

    fn has_head(&self) -> bool {
        self.head_start() < self.len()
    }

    /// The newest sample ever appended (its chunk may have been dropped by retention).
    pub(crate) fn last(&self) -> Sample {
        Sample {
            t: self.t,
            v: f64::from_bits(self.v),
        }
    }

    /// True when any sample is held.
    pub(crate) fn has_samples(&self) -> bool {
        self.len() > self.pairs_end()
    }

    /// The chunks, oldest first.
    pub(crate) fn chunks(&self) -> impl Iterator<Item = Chunk<'_>> + '_ {
        let head_start = self.head_start();
        let data = self.bytes();
        let mut pos = self.pairs_end();
        let mut head_done = !self.has_head();
        let mut prev: Option<i64> = None;
        let newest = self.t;
        std::iter::from_fn(move || {
            let c = if pos < head_start {
                let len = sealed_len(data, pos);
                let chunk = data.get(pos..pos + len)?;
                if len == 0 {
                    return None;
                }
                pos += len;
                Chunk::parse(chunk, prev, None)?
            } else {
                if head_done {
                    return None;
                }
                head_done = true;
                Chunk::parse(data.get(head_start..)?, prev, Some(newest))?
            };
            prev = Some(c.max_t);
            Some(c)
        })
    }

    pub(crate) fn sample_count(&self) -> usize {
        self.chunks().map(|c| usize::from(c.count)).sum()
    }

    pub(crate) fn chunk_count(&self) -> usize {
        self.chunks().count()
    }

    /// Compressed bytes held (chunk headers included, label ids not).
    pub(crate) fn byte_len(&self) -> usize {
        self.len() - self.pairs_end()
    }

    /// Replaces the buffer by one of `cap` bytes holding the used bytes.
    fn reallocate(&mut self, cap: usize) {
        let mut v = std::mem::take(&mut self.data).into_vec();
        if cap > v.len() {
            // Exact: never the doubling of `resize` alone.
            v.reserve_exact(cap - v.len());
            v.resize(cap, 0);
        } else {
            v.truncate(cap.max(self.len()));
        }
        self.data = v.into_boxed_slice();
    }

    /// Room for `n` more bytes, growing by small exact steps (never by doubling). False when
    /// the buffer would pass 4 GiB.
    #[must_use]
    fn reserve(&mut self, n: usize) -> bool {
        if self.data.len() - self.len() < n {
            let step = n.max(GROW).max(self.len() / 16);
            if u32::try_from(self.len() + step).is_err() {
                return false;
            }
            self.reallocate(self.len() + step);
        }
        true
    }

    /// Appends `bytes` after the used bytes (room reserved).
    fn push(&mut self, bytes: &[u8]) {
        let at = self.len();
        if let Some(dst) = self.data.get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
            self.len += bytes.len() as u32;
        }
    }

    fn start_head(&mut self, t: i64, v: u64) -> Option<()> {
        // With sealed chunks before it, the new chunk's min_t is relative to the newest sample,
        // which ends the last sealed chunk.
        let prev = (self.len() > self.pairs_end()).then_some(self.t);
        let (h, n) = head_header(t, v, prev);
        if !self.reserve(n) {
            return None;
        }
        self.head_start = self.len;
        self.push(&h[..n]);
        self.set_codec(Codec::start(t, v));
        self.set_free(0);
        self.head_span = 0;
        Some(())
    }

    pub(crate) fn append(&mut self, t: i64, v: f64) -> Result<Appended, AppendError> {
        let bits = v.to_bits();
        let (last_t, last_v) = (self.t, self.v);
        if t < last_t || (t == last_t && bits != last_v) {
            return Err(AppendError::OutOfOrder);
        }
        if t == last_t {
            return Ok(Appended::Duplicate);
        }
        let before = self.len();
        if !self.has_head() {
            // A series buffer past 4 GiB (never with retention) takes no more samples.
            self.start_head(t, bits).ok_or(AppendError::SeriesLimit)?;
        } else {
            let free = self.free();
            let carry = free > 0;
            let last = if carry {
                self.bytes().last().copied().unwrap_or(0)
            } else {
                0
            };
            let mut w = BitWriter::continuing(last, free);
            let mut codec = self.codec();
            codec.encode(&mut w, t, bits);
            let (bytes, free) = w.finish();
            if !self.reserve(bytes.len() - usize::from(carry)) {
                return Err(AppendError::SeriesLimit);
            }
            if carry {
                self.len -= 1;
            }
            self.push(bytes);
            self.set_codec(codec);
            self.set_free(free);
            self.head_span = u32::try_from(t.wrapping_sub(last_t) as u64)
                .ok()
                .and_then(|d| self.head_span.checked_add(d))
                .unwrap_or(SPAN_UNKNOWN);
            let at = self.head_start() + COUNT_AT;
            if let Some(c) = self.data.get_mut(at) {
                *c += 1;
            }
        }
        if self.data.get(self.head_start() + COUNT_AT) >= Some(&CHUNK_SAMPLES) {
            self.seal();
        }
        Ok(Appended::Stored {
            bytes_added: self.len() - before,
        })
    }

    /// Turns the head into a sealed chunk: inserts its span and writes its length.
    fn seal(&mut self) {
        let start = self.head_start();
        let first = start == self.pairs_end();
        let found = if self.head_span == SPAN_UNKNOWN {
            self.chunks()
                .last()
                .map(|c| (self.t.wrapping_sub(c.min_t) as u64, c.span_at))
        } else {
            self.bytes()
                .get(start..)
                .and_then(|head| span_at(head, first))
                .map(|at| (u64::from(self.head_span), at))
        };
        let Some((span, span_at)) = found else {
            return;
        };
        let mut buf = [0u8; MAX_VARINT];
        let n = write_varint(span, &mut buf);
        if !self.reserve(n) {
            return;
        }
        self.push(&buf[..n]);
        let end = self.len();
        if let Some(tail) = self.data.get_mut(start + span_at..end) {
            tail.rotate_right(n);
        }
        // A chunk of CHUNK_SAMPLES samples is at most ~20 bytes per sample: fits u16.
        let len = u16::try_from(end - start).unwrap_or(u16::MAX);
        if let Some(b) = self.data.get_mut(start..start + 2) {
            b.copy_from_slice(&len.to_le_bytes());
        }
        self.head_start = self.len;
        self.set_free(0);
    }

    /// Appends the samples in `mint..=maxt` to `out`.
    pub(crate) fn samples_in(&self, mint: i64, maxt: i64, out: &mut Vec<Sample>) {
        for c in self.chunks() {
            if c.min_t > maxt {
                break;
            }
            if c.max_t < mint {
                continue;
            }
            out.extend(
                c.iter()
                    .skip_while(|s| s.t < mint)
                    .take_while(|s| s.t <= maxt),
            );
        }
    }

    /// Drops chunks whose newest sample is before `cutoff`; returns (chunks, bytes) dropped.
    pub(crate) fn drop_chunks_before(&mut self, cutoff: i64) -> (usize, usize) {
        let start = self.pairs_end();
        let mut end = start;
        let mut chunks = 0;
        // The first chunk kept: its min_t and the end of its (relative) min_t field.
        let mut kept = None;
        for c in self.chunks() {
            if c.max_t >= cutoff {
                kept = Some((c.min_t, c.span_at));
                break;
            }
            chunks += 1;
        }
        if chunks == 0 {
            return (0, 0);
        }
        let head_dropped = self.has_head() && self.t < cutoff;
        let sealed = chunks - usize::from(head_dropped);
        for _ in 0..sealed {
            end += sealed_len(self.bytes(), end);
        }
        if head_dropped {
            end = self.len();
        }
        let len = self.len();
        self.data.copy_within(end..len, start);
        self.len -= (end - start) as u32;
        let mut bytes = end - start;
        if head_dropped {
            self.head_start = self.len;
            self.set_free(0);
        } else {
            self.head_start -= u32::try_from(bytes).unwrap_or(0);
        }
        if let Some((min_t, span_at)) = kept {
            // The kept chunk is first now: its min_t becomes absolute (the drain left room).
            let field_end = start + span_at;
            let grew = (MIN_T_AT + 8).saturating_sub(span_at);
            let len = self.len();
            self.data.copy_within(field_end..len, field_end + grew);
            self.len += grew as u32;
            if let Some(field) = self.data.get_mut(start + MIN_T_AT..start + MIN_T_AT + 8) {
                field.copy_from_slice(&min_t.to_le_bytes());
            }
            bytes -= grew;
            if start < self.head_start() {
                let len = sealed_len(self.bytes(), start) + grew;
                let len = u16::try_from(len).unwrap_or(u16::MAX);
                if let Some(b) = self.data.get_mut(start..start + 2) {
                    b.copy_from_slice(&len.to_le_bytes());
                }
                self.head_start += u32::try_from(grew).unwrap_or(0);
            }
        }
        if self.data.len() > 2 * self.len() + 2 * GROW {
            self.reallocate(self.len() + GROW);
        }
        (chunks, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    fn encode(samples: &[(i64, u64)]) -> Series {
        let mut s = Series::new(&[7, 9], samples[0].0, f64::from_bits(samples[0].1)).unwrap();
        for &(t, v) in &samples[1..] {
            assert!(matches!(
                s.append(t, f64::from_bits(v)),
                Ok(Appended::Stored { .. })
            ));
        }
        s
    }

    fn check(samples: &[(i64, u64)]) {
        let s = encode(samples);
        assert_eq!(s.pairs().collect::<Vec<_>>(), [7, 9]);
        for c in s.chunks() {
            assert!(c.count <= CHUNK_SAMPLES);
            assert!(c.min_t <= c.max_t);
            assert_eq!(c.iter().next().map(|s| s.t), Some(c.min_t));
            assert_eq!(c.iter().last().map(|s| s.t), Some(c.max_t));
        }
        let got: Vec<(i64, u64)> = s
            .chunks()
            .flat_map(|c| c.iter())
            .map(|s| (s.t, s.v.to_bits()))
            .collect();
        assert_eq!(got, samples);
        assert_eq!(s.sample_count(), samples.len());
        assert_eq!(
            s.chunk_count(),
            samples.len().div_ceil(usize::from(CHUNK_SAMPLES))
        );
        let mut all = Vec::new();
        s.samples_in(i64::MIN, i64::MAX, &mut all);
        assert_eq!(all.len(), samples.len());
    }

    /// Strictly increasing timestamps from a start and positive steps.
    fn times(start: i64, steps: &[u64]) -> Vec<i64> {
        let mut t = start;
        let mut out = Vec::with_capacity(steps.len());
        for (i, &s) in steps.iter().enumerate() {
            if i > 0 {
                t = t.wrapping_add(s as i64);
            }
            out.push(t);
        }
        out
    }

    fn interesting_value() -> impl Strategy<Value = u64> {
        prop_oneof![
            any::<u64>(),
            any::<f64>().prop_map(f64::to_bits),
            (-1000i64..1000).prop_map(|i| (i as f64).to_bits()),
            (-(1i64 << 53)..=(1i64 << 53)).prop_map(|i| (i as f64).to_bits()),
            (0i64..400).prop_map(|i| (i as f64 * 0.25).to_bits()),
            // Decimal mode: probe durations (sub-second and not), few-decimal gauges.
            (0u64..3_000_000_000).prop_map(|n| Duration::from_nanos(n).as_secs_f64().to_bits()),
            (-100_000i64..100_000).prop_map(|k| (k as f64 / 100.0).to_bits()),
            (-(1i64 << 53)..(1i64 << 53)).prop_map(|n| (n as f64 / 1e9).to_bits()),
            Just(super::super::STALE_NAN_BITS),
            Just((-0.0f64).to_bits()),
            Just(f64::INFINITY.to_bits()),
            Just(f64::NEG_INFINITY.to_bits()),
            Just(f64::NAN.to_bits()),
            Just(2f64.powi(53).to_bits()),
            Just((-(2f64.powi(53))).to_bits()),
            Just((2f64.powi(53) + 2.0).to_bits()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn round_trip_any_bits(
            start in any::<i64>(),
            steps in proptest::collection::vec(
                prop_oneof![1u64..100_000, Just(15_000u64), 14_990u64..15_010, 1u64..u64::MAX / 4],
                1..400),
            values in proptest::collection::vec(interesting_value(), 400),
        ) {
            // Keep timestamps strictly increasing without overflow.
            let mut ts = times(start.min(i64::MAX / 2), &steps);
            ts.dedup();
            let mut ok = vec![ts[0]];
            for &t in &ts[1..] {
                if t > *ok.last().unwrap_or(&i64::MIN) { ok.push(t) } else { break }
            }
            let samples: Vec<(i64, u64)> = ok.iter().zip(&values).map(|(&t, &v)| (t, v)).collect();
            check(&samples);
        }

        #[test]
        fn round_trip_counters(incs in proptest::collection::vec(0i64..1000, 1..300), jitter in proptest::collection::vec(-20i64..20, 300)) {
            let mut v = 0i64;
            let samples: Vec<(i64, u64)> = incs.iter().enumerate().map(|(i, inc)| {
                v += inc;
                (1_700_000_000_000 + i as i64 * 15_000 + jitter[i], (v as f64).to_bits())
            }).collect();
            check(&samples);
        }

        #[test]
        fn retention_drops_whole_chunks(n in 1usize..300, cut in 0i64..320) {
            let samples: Vec<(i64, u64)> = (0..n as i64).map(|i| (i * 10, (i as f64).to_bits())).collect();
            let mut s = encode(&samples);
            let bytes = s.byte_len();
            let (chunks, freed) = s.drop_chunks_before(cut * 10);
            prop_assert_eq!(bytes - freed, s.byte_len());
            let c = usize::from(CHUNK_SAMPLES);
            let want: Vec<i64> = samples
                .chunks(c)
                .filter(|ch| ch.last().is_some_and(|x| x.0 >= cut * 10))
                .flatten()
                .map(|x| x.0)
                .collect();
            prop_assert_eq!(chunks, n.div_ceil(c) - want.len().div_ceil(c));
            let mut got = Vec::new();
            s.samples_in(i64::MIN, i64::MAX, &mut got);
            prop_assert_eq!(got.iter().map(|x| x.t).collect::<Vec<_>>(), want);
            // Appending continues after retention.
            let t = (n as i64) * 10 + 5;
            prop_assert!(s.append(t, 1.5).is_ok());
            prop_assert_eq!(s.last(), Sample { t, v: 1.5 });
            prop_assert_eq!(s.pairs().collect::<Vec<_>>(), [7, 9]);
        }
    }

    #[test]
    fn probe_durations_take_decimal_mode() {
        // ~1 ms with ±0.3 ms of jitter, as a local HTTP probe measures.
        let mut x = 12345u64;
        let samples: Vec<(i64, u64)> = (0..i64::from(CHUNK_SAMPLES))
            .map(|i| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let nanos = 700_000 + (x >> 33) % 600_000;
                let v = Duration::from_nanos(nanos).as_secs_f64();
                (1_700_000_000_000 + i * 1000, v.to_bits())
            })
            .collect();
        check(&samples);
        let s = encode(&samples);
        // ~28 bits a sample (4 of mode, 3 of bucket, 20 of difference, 1 of timestamp),
        // about half of what XOR alone spends on them.
        let xor = v1_head(&samples).len();
        assert!(s.byte_len() * 8 < samples.len() * 32, "{}", s.byte_len());
        assert!(s.byte_len() * 10 < xor * 6, "{} vs {xor}", s.byte_len());
    }

    /// A head chunk as written before decimal mode (tag 1, XOR's new window as `1`).
    fn v1_head(samples: &[(i64, u64)]) -> Vec<u8> {
        let (t0, v0) = samples[0];
        let mut out = vec![0, 0, samples.len() as u8];
        out.extend_from_slice(&t0.to_le_bytes());
        out.push(1);
        out.extend_from_slice(&v0.to_le_bytes());
        let mut codec = Codec {
            decimal: false,
            ..Codec::start(t0, v0)
        };
        let mut free = 0;
        for &(t, v) in &samples[1..] {
            let last = if free > 0 { out.pop().unwrap_or(0) } else { 0 };
            let mut w = BitWriter::continuing(last, free);
            codec.encode(&mut w, t, v);
            let (bytes, f) = w.finish();
            out.extend_from_slice(bytes);
            free = f;
        }
        out
    }

    #[test]
    fn a_head_from_before_decimal_mode_loads_and_is_sealed() {
        let old: Vec<(i64, u64)> = (0..10i64)
            .map(|i| (i * 1000, (0.000_7 + i as f64 * 0.000_013).to_bits()))
            .collect();
        let chunks = v1_head(&old);
        let raw = RawSeries {
            chunks: &chunks,
            head_off: 0,
            last: *old.last().unwrap(),
        };
        let mut s = Series::from_raw(&[7, 9], &raw).unwrap();
        assert!(!s.has_head(), "the old head is sealed");
        let newer: Vec<(i64, u64)> = (10..20i64)
            .map(|i| (i * 1000, (0.000_7 + i as f64 * 0.000_013).to_bits()))
            .collect();
        for &(t, v) in &newer {
            assert!(s.append(t, f64::from_bits(v)).is_ok());
        }
        let got: Vec<(i64, u64)> = s
            .chunks()
            .flat_map(|c| c.iter())
            .map(|x| (x.t, x.v.to_bits()))
            .collect();
        assert_eq!(got, [old, newer].concat());
        let decimal: Vec<bool> = s.chunks().map(|c| c.decimal).collect();
        assert_eq!(decimal, [false, true]);
        // And it survives another checkpoint round trip as it is.
        let again = Series::from_raw(&[7, 9], &s.raw()).unwrap();
        assert_eq!(again.raw(), s.raw());
    }

    #[test]
    fn record_is_64_bytes() {
        assert_eq!(std::mem::size_of::<Series>(), 64);
    }

    #[test]
    fn huge_head_span_still_seals() {
        // Steps past u32::MAX ms make the head's span unknown: sealing falls back to parsing.
        let samples: Vec<(i64, u64)> = (0..200i64)
            .map(|i| (i * (1i64 << 33), (i as f64).to_bits()))
            .collect();
        check(&samples);
    }

    #[test]
    fn extreme_timestamps() {
        check(&[(i64::MIN, 0), (0, 1), (i64::MAX, 2)]);
        check(&[
            (i64::MIN, 0),
            (i64::MIN + 1, 1),
            (i64::MAX - 1, 3),
            (i64::MAX, 2),
        ]);
    }

    #[test]
    fn stale_marker_is_bit_exact() {
        let stale = super::super::STALE_NAN_BITS;
        let nan = f64::NAN.to_bits();
        check(&[
            (0, 1f64.to_bits()),
            (1, stale),
            (2, nan),
            (3, stale),
            (4, stale),
            (5, 1f64.to_bits()),
        ]);
    }

    #[test]
    fn steady_counter_is_small() {
        let n = i64::from(CHUNK_SAMPLES);
        let samples: Vec<(i64, u64)> = (0..n)
            .map(|i| (1_700_000_000_000 + i * 15_000, ((i * 7) as f64).to_bits()))
            .collect();
        let s = encode(&samples);
        assert_eq!(s.chunk_count(), 1);
        // ~16 bytes of header, a few bytes for the first deltas, then 1+3 bits/sample.
        assert!(
            s.byte_len() < 16 + 8 + samples.len() * 4 / 8,
            "{}",
            s.byte_len()
        );
    }
}

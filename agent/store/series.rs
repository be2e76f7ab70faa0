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
    CHUNK_SAMPLES, COUNT_AT, Chunk, Codec, MAX_VARINT, MIN_T_AT, head_header, sealed_len,
    write_varint,
};
use super::{AppendError, Sample};

/// `free` value of a slab slot holding no series.
const DEAD: u8 = u8::MAX;
/// Smallest growth step of a series buffer (bytes).
const GROW: usize = 16;

/// What happened to an appended sample.
pub(crate) enum Appended {
    /// Stored; the chunk bytes grew by this much.
    Stored { bytes_added: usize },
    /// Same timestamp and bits as the newest sample: nothing to do.
    Duplicate,
}

#[derive(Debug)]
pub(crate) struct Series {
    data: Vec<u8>,
    /// State after the newest sample *of the series*: kept across seal and retention so the
    /// series' newest sample is always known without decoding.
    codec: Codec,
    /// Offset of the head chunk in `data`; `data.len()` when there is no head.
    head_start: u32,
    n_pairs: u16,
    /// Unused low bits of the last byte of the head chunk; [`DEAD`] for an empty slab slot.
    free: u8,
}

impl Series {
    /// A series holding one sample; `None` when it has more than `u16::MAX` labels.
    pub(crate) fn new(pairs: &[u32], t: i64, v: f64) -> Option<Self> {
        let n_pairs = u16::try_from(pairs.len()).ok()?;
        let mut data = Vec::with_capacity(pairs.len() * 4 + MIN_T_AT + 8 + GROW);
        for p in pairs {
            data.extend_from_slice(&p.to_le_bytes());
        }
        let head_start = u32::try_from(data.len()).ok()?;
        let bits = v.to_bits();
        let mut s = Series {
            data,
            codec: Codec::start(t, bits),
            head_start,
            n_pairs,
            free: 0,
        };
        s.start_head(t, bits);
        Some(s)
    }

    /// An empty slab slot.
    pub(crate) fn dead() -> Self {
        Series {
            data: Vec::new(),
            codec: Codec::start(0, 0),
            head_start: 0,
            n_pairs: 0,
            free: DEAD,
        }
    }

    pub(crate) fn is_dead(&self) -> bool {
        self.free == DEAD
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
        self.head_start() < self.data.len()
    }

    /// The newest sample ever appended (its chunk may have been dropped by retention).
    pub(crate) fn last(&self) -> Sample {
        Sample {
            t: self.codec.t,
            v: f64::from_bits(self.codec.v),
        }
    }

    /// True when any sample is held.
    pub(crate) fn has_samples(&self) -> bool {
        self.data.len() > self.pairs_end()
    }

    /// The chunks, oldest first.
    pub(crate) fn chunks(&self) -> impl Iterator<Item = Chunk<'_>> + '_ {
        let head_start = self.head_start();
        let mut pos = self.pairs_end();
        let mut head_done = !self.has_head();
        let mut prev: Option<i64> = None;
        std::iter::from_fn(move || {
            let c = if pos < head_start {
                let len = sealed_len(&self.data, pos);
                let chunk = self.data.get(pos..pos + len)?;
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
                Chunk::parse(self.data.get(head_start..)?, prev, Some(self.codec.t))?
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
        self.data.len() - self.pairs_end()
    }

    /// Room for `n` more bytes, growing by small exact steps (never by doubling).
    fn reserve(&mut self, n: usize) {
        if self.data.capacity() - self.data.len() < n {
            let step = n.max(GROW).max(self.data.len() / 16);
            self.data.reserve_exact(step);
        }
    }

    fn start_head(&mut self, t: i64, v: u64) {
        // With sealed chunks before it, the new chunk's min_t is relative to the newest sample,
        // which ends the last sealed chunk.
        let prev = (self.data.len() > self.pairs_end()).then_some(self.codec.t);
        let (h, n) = head_header(t, v, prev);
        self.reserve(n);
        self.head_start = u32::try_from(self.data.len()).unwrap_or(u32::MAX);
        self.data.extend_from_slice(&h[..n]);
        self.codec = Codec::start(t, v);
        self.free = 0;
    }

    pub(crate) fn append(&mut self, t: i64, v: f64) -> Result<Appended, AppendError> {
        let bits = v.to_bits();
        let (last_t, last_v) = (self.codec.t, self.codec.v);
        if t < last_t || (t == last_t && bits != last_v) {
            return Err(AppendError::OutOfOrder);
        }
        if t == last_t {
            return Ok(Appended::Duplicate);
        }
        let before = self.data.len();
        if !self.has_head() {
            self.start_head(t, bits);
        } else {
            let carry = self.free > 0;
            let last = if carry {
                self.data.last().copied().unwrap_or(0)
            } else {
                0
            };
            let mut w = BitWriter::continuing(last, self.free);
            self.codec.encode(&mut w, t, bits);
            let (bytes, free) = w.finish();
            self.reserve(bytes.len() - usize::from(carry));
            if carry {
                self.data.pop();
            }
            self.data.extend_from_slice(bytes);
            self.free = free;
            let at = self.head_start() + COUNT_AT;
            if let Some(c) = self.data.get_mut(at) {
                *c += 1;
            }
        }
        if self.data.get(self.head_start() + COUNT_AT) >= Some(&CHUNK_SAMPLES) {
            self.seal();
        }
        Ok(Appended::Stored {
            bytes_added: self.data.len() - before,
        })
    }

    /// Turns the head into a sealed chunk: inserts its span and writes its length.
    fn seal(&mut self) {
        let start = self.head_start();
        let Some((min_t, span_at)) = self.chunks().last().map(|c| (c.min_t, c.span_at)) else {
            return;
        };
        let mut span = [0u8; MAX_VARINT];
        let n = write_varint(self.codec.t.wrapping_sub(min_t) as u64, &mut span);
        self.reserve(n);
        self.data.extend_from_slice(&span[..n]);
        if let Some(tail) = self.data.get_mut(start + span_at..) {
            tail.rotate_right(n);
        }
        // A chunk of CHUNK_SAMPLES samples is at most ~20 bytes per sample: fits u16.
        let len = u16::try_from(self.data.len() - start).unwrap_or(u16::MAX);
        if let Some(b) = self.data.get_mut(start..start + 2) {
            b.copy_from_slice(&len.to_le_bytes());
        }
        self.head_start = u32::try_from(self.data.len()).unwrap_or(u32::MAX);
        self.free = 0;
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
        let head_dropped = self.has_head() && self.codec.t < cutoff;
        let sealed = chunks - usize::from(head_dropped);
        for _ in 0..sealed {
            end += sealed_len(&self.data, end);
        }
        if head_dropped {
            end = self.data.len();
        }
        self.data.drain(start..end);
        let mut bytes = end - start;
        if head_dropped {
            self.head_start = u32::try_from(start).unwrap_or(u32::MAX);
            self.free = 0;
        } else {
            self.head_start -= u32::try_from(bytes).unwrap_or(0);
        }
        if let Some((min_t, span_at)) = kept {
            // The kept chunk is first now: its min_t becomes absolute (the drain left room).
            let field = start + MIN_T_AT..start + span_at;
            let grew = (MIN_T_AT + 8).saturating_sub(span_at);
            self.data.splice(field, min_t.to_le_bytes());
            bytes -= grew;
            if start < self.head_start() {
                let len = sealed_len(&self.data, start) + grew;
                let len = u16::try_from(len).unwrap_or(u16::MAX);
                if let Some(b) = self.data.get_mut(start..start + 2) {
                    b.copy_from_slice(&len.to_le_bytes());
                }
                self.head_start += u32::try_from(grew).unwrap_or(0);
            }
        }
        if self.data.capacity() > 2 * self.data.len() + 2 * GROW {
            self.data.shrink_to(self.data.len() + GROW);
        }
        (chunks, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

//! Compressed sample chunks: the encoding of one series' samples.
//!
//! A chunk holds up to [`CHUNK_SAMPLES`] samples. The first sample is stored raw (64-bit
//! timestamp, 64-bit value bits). Every later sample is:
//!
//! * timestamp: Gorilla delta-of-delta, in buckets selected by a unary prefix:
//!   `0` (dod = 0), `10`+5 bits, `110`+9 bits, `1110`+14 bits, `11110`+20 bits, `11111`+64
//!   bits;
//! * value, selected by a prefix:
//!   * `0` — same bits as the previous value;
//!   * `10` — integer mode, when the previous and current values are both integers exactly
//!     representable as `f64` (|v| <= 2^53, `-0.0` excluded): the delta-of-delta of the integer
//!     values in buckets `0` (0), `10`+4, `110`+7, `1110`+10, `11110`+14, `111110`+20,
//!     `1111110`+32, `1111111`+64 bits. A counter growing at a steady rate costs 3 bits per
//!     sample, a noisy one ~8-13;
//!   * `11` — Gorilla XOR with the previous value's bits: `0` reuses the previous
//!     leading/trailing-zero window, `1` + 5 bits leading zeros + 6 bits length + the bits.
//!
//! Values are handled as raw bits, so every `f64` (NaN payloads such as the stale marker,
//! `-0.0`, infinities) round-trips exactly. Arithmetic on timestamps wraps, so any strictly
//! increasing `i64` sequence round-trips too.
//!
//! The first byte of a chunk's bytes is its sample count (written at seal), so a sealed chunk
//! is just its bytes and its newest timestamp (24 bytes plus the data); the oldest timestamp
//! is the raw first one.
//!
//! The head chunk ([`Head`]) appends in place; [`Head::seal`] turns it into a [`Sealed`] chunk
//! whose bytes are a boxed slice with no spare capacity. A new head reserves about the size of
//! the chunk before it, so in steady state a chunk is allocated once.

use super::Sample;
use super::bits::{BitReader, BitWriter};

/// Samples per chunk (~30 minutes at a 15 s interval); must fit the count byte.
pub(crate) const CHUNK_SAMPLES: u16 = 120;
const _: () = assert!(CHUNK_SAMPLES <= u8::MAX as u16);

const T_WIDTHS: [u32; 6] = [0, 5, 9, 14, 20, 64];
const I_WIDTHS: [u32; 8] = [0, 4, 7, 10, 14, 20, 32, 64];
const NO_WINDOW: u8 = u8::MAX;
const MAX_EXACT_INT: f64 = 9_007_199_254_740_992.0; // 2^53

/// The integer a value's bits stand for, when integer mode may encode it exactly.
fn exact_int(bits: u64) -> Option<i64> {
    let v = f64::from_bits(bits);
    if v.is_finite() && v.abs() <= MAX_EXACT_INT {
        let i = v as i64;
        if (i as f64).to_bits() == bits {
            return Some(i);
        }
    }
    None
}

fn fits(v: i64, width: u32) -> bool {
    match width {
        0 => v == 0,
        64.. => true,
        w => {
            let half = 1i64 << (w - 1);
            (-half..half).contains(&v)
        }
    }
}

fn sign_extend(x: u64, width: u32) -> i64 {
    match width {
        0 => 0,
        64.. => x as i64,
        w => ((x << (64 - w)) as i64) >> (64 - w),
    }
}

/// Writes `v` in the first bucket of `widths` it fits; the bucket is chosen by a unary prefix
/// (`i` ones then a zero; the last bucket has no terminating zero).
fn write_bucketed(w: &mut BitWriter<'_>, v: i64, widths: &[u32]) {
    let last = widths.len() - 1;
    for (i, &width) in widths.iter().enumerate() {
        if i == last || fits(v, width) {
            let ones = (1u64 << i) - 1;
            if i < last {
                w.write(ones << 1, i as u32 + 1);
            } else {
                w.write(ones, i as u32);
            }
            if width > 0 {
                w.write(v as u64, width);
            }
            return;
        }
    }
}

fn read_bucketed(r: &mut BitReader<'_>, widths: &[u32]) -> Option<i64> {
    let last = widths.len() - 1;
    let mut i = 0;
    while i < last && r.bit()? {
        i += 1;
    }
    let width = widths[i];
    Some(sign_extend(r.read(width)?, width))
}

/// Encoder/decoder state after a sample; both sides update it identically.
#[derive(Clone, Copy, Debug)]
struct Codec {
    t: i64,
    dt: i64,
    v: u64,
    idelta: i64,
    leading: u8,
    trailing: u8,
}

impl Codec {
    fn start(t: i64, v: u64) -> Self {
        Codec {
            t,
            dt: 0,
            v,
            idelta: 0,
            leading: NO_WINDOW,
            trailing: 0,
        }
    }

    fn set_value(&mut self, v: u64) {
        self.idelta = match (exact_int(self.v), exact_int(v)) {
            (Some(a), Some(b)) => b - a,
            _ => 0,
        };
        self.v = v;
    }

    fn encode(&mut self, w: &mut BitWriter<'_>, t: i64, v: u64) {
        let dt = t.wrapping_sub(self.t);
        write_bucketed(w, dt.wrapping_sub(self.dt), &T_WIDTHS);
        self.t = t;
        self.dt = dt;

        if v == self.v {
            w.bit(false);
        } else if let (Some(a), Some(b)) = (exact_int(self.v), exact_int(v)) {
            w.write(0b10, 2);
            write_bucketed(w, (b - a).wrapping_sub(self.idelta), &I_WIDTHS);
        } else {
            w.write(0b11, 2);
            let xor = self.v ^ v; // non-zero: equal bits took the first branch
            let lz = xor.leading_zeros().min(31);
            let tz = xor.trailing_zeros();
            if self.leading != NO_WINDOW
                && lz >= u32::from(self.leading)
                && tz >= u32::from(self.trailing)
            {
                w.bit(false);
                let sig = 64 - u32::from(self.leading) - u32::from(self.trailing);
                w.write(xor >> self.trailing, sig);
            } else {
                w.bit(true);
                let sig = 64 - lz - tz;
                w.write(u64::from(lz), 5);
                w.write(u64::from(sig & 63), 6);
                w.write(xor >> tz, sig);
                self.leading = lz as u8;
                self.trailing = tz as u8;
            }
        }
        self.set_value(v);
    }

    fn decode(&mut self, r: &mut BitReader<'_>) -> Option<()> {
        let dt = self.dt.wrapping_add(read_bucketed(r, &T_WIDTHS)?);
        self.t = self.t.wrapping_add(dt);
        self.dt = dt;

        let v = if !r.bit()? {
            self.v
        } else if !r.bit()? {
            let a = exact_int(self.v)?;
            let delta = self.idelta.wrapping_add(read_bucketed(r, &I_WIDTHS)?);
            (a.wrapping_add(delta) as f64).to_bits()
        } else {
            let xor = if r.bit()? {
                let lz = r.read(5)? as u32;
                let sig = match r.read(6)? as u32 {
                    0 => 64,
                    s => s,
                };
                let tz = 64u32.checked_sub(lz + sig)?;
                self.leading = lz as u8;
                self.trailing = tz as u8;
                r.read(sig)?.checked_shl(tz)?
            } else {
                if self.leading == NO_WINDOW {
                    return None;
                }
                let sig = 64 - u32::from(self.leading) - u32::from(self.trailing);
                r.read(sig)?.checked_shl(u32::from(self.trailing))?
            };
            self.v ^ xor
        };
        self.set_value(v);
        Some(())
    }
}

/// The chunk being appended to.
#[derive(Debug)]
pub(crate) struct Head {
    bytes: Vec<u8>,
    /// Timestamp of the first sample in the head (meaningless when `count == 0`).
    min_t: i64,
    /// State after the newest sample *of the series*: kept across `seal` so the series'
    /// newest sample is always known without decoding.
    codec: Codec,
    count: u16,
    free: u8,
    /// Bytes of the last sealed chunk: what the next head reserves up front.
    hint: u16,
}

impl Head {
    /// A head holding one sample.
    pub(crate) fn new(t: i64, v: u64) -> Self {
        let mut h = Head {
            bytes: Vec::new(),
            min_t: t,
            codec: Codec::start(t, v),
            count: 0,
            free: 0,
            hint: 0,
        };
        h.push(t, v);
        h
    }

    /// Newest sample of the series (even if its chunk was dropped since).
    pub(crate) fn last(&self) -> (i64, u64) {
        (self.codec.t, self.codec.v)
    }

    pub(crate) fn count(&self) -> u16 {
        self.count
    }

    pub(crate) fn min_t(&self) -> i64 {
        self.min_t
    }

    pub(crate) fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    /// Appends a sample; the caller guarantees `t` is after [`Head::last`].
    pub(crate) fn push(&mut self, t: i64, v: u64) {
        if self.bytes.is_empty() {
            self.bytes.reserve_exact(usize::from(self.hint).max(32));
            self.bytes.push(0); // count, set at seal
            self.free = 0;
        }
        // Grow by ~1.5x (not 2x): a head is most of a series' slack. A sample needs at most
        // 16 + 12 bytes.
        if self.bytes.capacity() - self.bytes.len() < 28 {
            let len = self.bytes.len();
            self.bytes.reserve_exact((len / 2).max(32));
        }
        let mut w = BitWriter::new(&mut self.bytes, &mut self.free);
        if self.count == 0 {
            w.write(t as u64, 64);
            w.write(v, 64);
            self.codec = Codec::start(t, v);
            self.min_t = t;
        } else {
            self.codec.encode(&mut w, t, v);
        }
        self.count += 1;
    }

    /// True when the head should be sealed.
    pub(crate) fn is_full(&self) -> bool {
        self.count >= CHUNK_SAMPLES
    }

    /// Moves the head's samples into a sealed chunk; the head becomes empty (keeping the
    /// newest sample's state). `None` when the head is empty.
    pub(crate) fn seal(&mut self) -> Option<Sealed> {
        if self.count == 0 {
            return None;
        }
        let mut data = std::mem::take(&mut self.bytes);
        if let Some(first) = data.first_mut() {
            *first = self.count as u8;
        }
        self.hint = u16::try_from(data.len() + data.len() / 16 + 4).unwrap_or(u16::MAX);
        let sealed = Sealed {
            max_t: self.codec.t,
            data: data.into_boxed_slice(),
        };
        self.count = 0;
        self.free = 0;
        Some(sealed)
    }

    /// Drops the head's samples (retention), keeping the newest sample's state.
    pub(crate) fn clear(&mut self) {
        self.bytes = Vec::new();
        self.count = 0;
        self.free = 0;
    }

    pub(crate) fn iter(&self) -> ChunkIter<'_> {
        ChunkIter::new(self.bytes.get(1..).unwrap_or(&[]), self.count)
    }
}

/// An immutable chunk: count byte, then the encoded samples.
#[derive(Debug)]
pub(crate) struct Sealed {
    pub(crate) max_t: i64,
    data: Box<[u8]>,
}

impl Sealed {
    pub(crate) fn byte_len(&self) -> usize {
        self.data.len()
    }

    pub(crate) fn count(&self) -> u16 {
        self.data.first().map_or(0, |&c| u16::from(c))
    }

    /// Timestamp of the first sample (stored raw after the count byte).
    pub(crate) fn min_t(&self) -> i64 {
        self.data
            .get(1..9)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(self.max_t, i64::from_be_bytes)
    }

    pub(crate) fn iter(&self) -> ChunkIter<'_> {
        ChunkIter::new(self.data.get(1..).unwrap_or(&[]), self.count())
    }
}

/// Decodes a chunk's samples in time order.
pub(crate) struct ChunkIter<'a> {
    r: BitReader<'a>,
    remaining: u16,
    codec: Option<Codec>,
}

impl<'a> ChunkIter<'a> {
    fn new(data: &'a [u8], count: u16) -> Self {
        ChunkIter {
            r: BitReader::new(data),
            remaining: count,
            codec: None,
        }
    }
}

impl Iterator for ChunkIter<'_> {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let step = match &mut self.codec {
            None => {
                let t = self.r.read(64)? as i64;
                let v = self.r.read(64)?;
                self.codec = Some(Codec::start(t, v));
                Some(())
            }
            Some(c) => c.decode(&mut self.r),
        };
        if step.is_none() {
            // Corrupt data cannot come from our encoder; stop rather than invent samples.
            self.remaining = 0;
            return None;
        }
        self.codec.map(|c| Sample {
            t: c.t,
            v: f64::from_bits(c.v),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(usize::from(self.remaining)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode(samples: &[(i64, u64)]) -> Vec<Sealed> {
        let mut out = Vec::new();
        let mut head: Option<Head> = None;
        for &(t, v) in samples {
            match &mut head {
                None => head = Some(Head::new(t, v)),
                Some(h) => h.push(t, v),
            }
            if let Some(h) = &mut head
                && h.is_full()
            {
                out.extend(h.seal());
            }
        }
        if let Some(h) = &mut head {
            out.extend(h.seal());
        }
        out
    }

    fn decode(chunks: &[Sealed]) -> Vec<(i64, u64)> {
        chunks
            .iter()
            .flat_map(|c| c.iter())
            .map(|s| (s.t, s.v.to_bits()))
            .collect()
    }

    fn check(samples: &[(i64, u64)]) {
        let chunks = encode(samples);
        for c in &chunks {
            assert!(c.count() <= CHUNK_SAMPLES);
            assert!(c.min_t() <= c.max_t);
            assert_eq!(c.iter().next().map(|s| s.t), Some(c.min_t()));
        }
        assert_eq!(decode(&chunks), samples);
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
        let samples: Vec<(i64, u64)> = (0..120)
            .map(|i| (1_700_000_000_000 + i * 15_000, ((i * 7) as f64).to_bits()))
            .collect();
        let chunks = encode(&samples);
        assert_eq!(chunks.len(), 1);
        // 16 bytes raw first sample, a few bytes for the first deltas, then 1+3 bits/sample.
        assert!(
            chunks[0].byte_len() < 16 + 8 + 120 * 4 / 8,
            "{}",
            chunks[0].byte_len()
        );
        assert_eq!(decode(&chunks), samples);
    }
}

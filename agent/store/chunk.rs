//! Compressed sample chunks: the encoding of one series' samples.
//!
//! A series keeps all its chunks back to back in one byte buffer (see `series`); the newest
//! chunk, the *head*, is the one being appended to. A chunk holds up to [`CHUNK_SAMPLES`]
//! samples and is laid out as:
//!
//! ```text
//! len: u16 LE    bytes of the whole chunk, header included (0 while it is the head)
//! count: u8      samples in the chunk
//! min_t          timestamp of the first sample: i64 LE in the series' first chunk, else
//!                varint(min_t - max_t of the chunk before) (retention rewrites the new
//!                first chunk's field as an i64 when it drops the chunks before it)
//! span: varint   max_t - min_t (only once sealed)
//! v0             first value, as a varint tag: `zigzag(i) << 2 | 0b11` when it is an exact
//!                integer i, else tag 5 followed by the 8 value bytes LE. Chunks written
//!                before decimal mode existed (below) have the tags `zigzag(i) << 1` and 1;
//!                they are read without decimal mode, and a head chunk of that kind loaded
//!                from a checkpoint is sealed so that appends never use two formats.
//! bits           every later sample, bit-packed (below)
//! ```
//!
//! Every sample after the first is:
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
//!     leading/trailing-zero window, `10` + 5 bits leading zeros + 6 bits length + the bits
//!     (`1` + ... in chunks without decimal mode);
//!   * `1111` — decimal mode, when the previous and current values are both decimals of at
//!     most nine fractional digits, i.e. exactly `n / 1e9` for an integer n with
//!     |n| < 2^53 (what `Duration::as_secs_f64` gives for a sub-second duration, and every
//!     value written with few decimals: `0.25`, `12.34`): the difference of the `n`s in
//!     buckets `0`+8, `10`+14, `110`+20, `1110`+26, `11110`+32, `11111`+64 bits. A probe's
//!     `probe_duration_seconds` costs ~27 bits a sample instead of XOR's ~60. The encoder
//!     picks whichever of XOR and decimal is shorter.
//!
//! Values are handled as raw bits, so every `f64` (NaN payloads such as the stale marker,
//! `-0.0`, infinities) round-trips exactly. Arithmetic on timestamps wraps, so any strictly
//! increasing `i64` sequence round-trips too.

use super::Sample;
use super::bits::{BitReader, BitWriter};

/// Samples per chunk (20 minutes at a 15 s interval); must fit the count byte. Small chunks
/// keep retention tight (a series holds at most one chunk more than the window: 320 samples
/// for a 1 h window at 15 s) and let a short `select` decode little; the inline header costs
/// ~15 bytes per chunk, so 80 rather than 60 saves ~4 bytes/series/hour.
pub(crate) const CHUNK_SAMPLES: u8 = 80;

/// Offset of the count byte in a chunk.
pub(crate) const COUNT_AT: usize = 2;
/// Offset of the min_t field.
pub(crate) const MIN_T_AT: usize = 3;
/// Largest varint.
pub(crate) const MAX_VARINT: usize = 10;
/// Largest header of a new head chunk: len, count, min_t varint, tag 5 + 8 value bytes (an
/// integer's tag varint is at most 9 bytes too).
pub(crate) const MAX_HEAD_HEADER: usize = MIN_T_AT + MAX_VARINT + 9;

const T_WIDTHS: [u32; 6] = [0, 5, 9, 14, 20, 64];
const I_WIDTHS: [u32; 8] = [0, 4, 7, 10, 14, 20, 32, 64];
const D_WIDTHS: [u32; 6] = [8, 14, 20, 26, 32, 64];
pub(crate) const NO_WINDOW: u8 = u8::MAX;
const MAX_EXACT_INT: f64 = 9_007_199_254_740_992.0; // 2^53
/// Decimal mode's unit: values are `n / DECIMAL_SCALE`.
const DECIMAL_SCALE: f64 = 1e9;
/// The v0 tag of a float first value in a chunk with decimal mode (see the module doc).
const TAG_FLOAT: u64 = 5;
/// The v0 tag of a float first value in a chunk without decimal mode.
const TAG_FLOAT_V1: u64 = 1;

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

/// `n` when a value's bits are exactly `n / 1e9` (decimal mode may encode it).
fn decimal_nanos(bits: u64) -> Option<i64> {
    let v = f64::from_bits(bits);
    if v.is_finite() && v.abs() < MAX_EXACT_INT / DECIMAL_SCALE {
        let n = (v * DECIMAL_SCALE).round() as i64;
        if (n as f64 / DECIMAL_SCALE).to_bits() == bits {
            return Some(n);
        }
    }
    None
}

/// Bits `write_bucketed` spends on `v`.
fn bucketed_len(v: i64, widths: &[u32]) -> u32 {
    let last = widths.len() - 1;
    for (i, &width) in widths.iter().enumerate() {
        if i == last {
            return i as u32 + width;
        }
        if fits(v, width) {
            return i as u32 + 1 + width;
        }
    }
    u32::MAX
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
fn write_bucketed(w: &mut BitWriter, v: i64, widths: &[u32]) {
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
pub(crate) struct Codec {
    /// Timestamp of the newest sample.
    pub(crate) t: i64,
    pub(crate) dt: i64,
    /// Value bits of the newest sample.
    pub(crate) v: u64,
    pub(crate) idelta: i64,
    /// Leading zeros of the XOR window (0..=31), [`NO_WINDOW`] before the first full XOR.
    pub(crate) leading: u8,
    /// Trailing zeros of the XOR window (0..=63).
    pub(crate) trailing: u8,
    /// The chunk has decimal mode (every chunk written now; see the module doc).
    pub(crate) decimal: bool,
}

impl Codec {
    /// The state after a chunk's first sample, for a chunk with decimal mode.
    pub(crate) fn start(t: i64, v: u64) -> Self {
        Codec {
            t,
            dt: 0,
            v,
            idelta: 0,
            leading: NO_WINDOW,
            trailing: 0,
            decimal: true,
        }
    }

    fn set_value(&mut self, v: u64) {
        self.idelta = match (exact_int(self.v), exact_int(v)) {
            (Some(a), Some(b)) => b - a,
            _ => 0,
        };
        self.v = v;
    }

    pub(crate) fn encode(&mut self, w: &mut BitWriter, t: i64, v: u64) {
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
            let reuse = self.leading != NO_WINDOW
                && lz >= u32::from(self.leading)
                && tz >= u32::from(self.trailing);
            // Bits after the `11` prefix: the window's, or a new window's.
            let xor_len = if reuse {
                1 + 64 - u32::from(self.leading) - u32::from(self.trailing)
            } else {
                2 + 11 + 64 - lz - tz
            };
            // The previous value is checked only when the new one is a decimal (a random
            // float, the common case here, costs one check, not two).
            let decimal = self
                .decimal
                .then(|| decimal_nanos(v))
                .flatten()
                .and_then(|b| Some(b.wrapping_sub(decimal_nanos(self.v)?)));
            match decimal {
                Some(d) if 2 + bucketed_len(d, &D_WIDTHS) < xor_len => {
                    w.write(0b11, 2);
                    write_bucketed(w, d, &D_WIDTHS);
                }
                _ if reuse => {
                    w.bit(false);
                    let sig = 64 - u32::from(self.leading) - u32::from(self.trailing);
                    w.write(xor >> self.trailing, sig);
                }
                _ => {
                    w.write(
                        if self.decimal { 0b10 } else { 0b1 },
                        1 + u32::from(self.decimal),
                    );
                    let sig = 64 - lz - tz;
                    w.write(u64::from(lz), 5);
                    w.write(u64::from(sig & 63), 6);
                    w.write(xor >> tz, sig);
                    self.leading = lz as u8;
                    self.trailing = tz as u8;
                }
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
            // After `11`: `0` reuses the XOR window; `1` is a new window, except in a chunk
            // with decimal mode, where `10` is a new window and `11` a decimal.
            let new_window = r.bit()?;
            if new_window && self.decimal && r.bit()? {
                let a = decimal_nanos(self.v)?;
                let n = a.wrapping_add(read_bucketed(r, &D_WIDTHS)?);
                let v = (n as f64 / DECIMAL_SCALE).to_bits();
                // Only what the encoder writes: exactly n / 1e9 with |n| < 2^53.
                decimal_nanos(v).filter(|&m| m == n)?;
                self.set_value(v);
                return Some(());
            }
            let xor = if new_window {
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

pub(crate) fn zigzag(i: i64) -> u64 {
    ((i << 1) ^ (i >> 63)) as u64
}

pub(crate) fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// LEB128; returns the number of bytes written into `out`.
pub(crate) fn write_varint(mut x: u64, out: &mut [u8]) -> usize {
    let mut n = 0;
    loop {
        let byte = (x & 0x7f) as u8;
        x >>= 7;
        let Some(slot) = out.get_mut(n) else {
            return n;
        };
        n += 1;
        if x == 0 {
            *slot = byte;
            return n;
        }
        *slot = byte | 0x80;
    }
}

/// LEB128 at `*pos`, advancing it; `None` past the end or past 64 bits.
pub(crate) fn read_varint(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut x = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *data.get(*pos)?;
        *pos += 1;
        x |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(x);
        }
    }
    None
}

fn read_i64(data: &[u8], at: usize) -> Option<i64> {
    let b = data.get(at..at + 8)?;
    Some(i64::from_le_bytes(<[u8; 8]>::try_from(b).ok()?))
}

/// The header of a new head chunk whose first sample is `(t, v)`: its bytes and length.
/// `prev_max_t` is the newest timestamp of the chunk before (`None` for a first chunk).
pub(crate) fn head_header(
    t: i64,
    v: u64,
    prev_max_t: Option<i64>,
) -> ([u8; MAX_HEAD_HEADER], usize) {
    let mut h = [0u8; MAX_HEAD_HEADER];
    h[COUNT_AT] = 1;
    let at = match prev_max_t {
        None => {
            h[MIN_T_AT..MIN_T_AT + 8].copy_from_slice(&t.to_le_bytes());
            MIN_T_AT + 8
        }
        Some(p) => MIN_T_AT + write_varint(t.wrapping_sub(p) as u64, &mut h[MIN_T_AT..]),
    };
    let n = match exact_int(v) {
        Some(i) => write_varint(zigzag(i) << 2 | 0b11, &mut h[at..]),
        None => {
            h[at] = TAG_FLOAT as u8;
            h[at + 1..at + 9].copy_from_slice(&v.to_le_bytes());
            9
        }
    };
    (h, at + n)
}

/// The offset of the span field of the chunk `chunk` starts with (the end of its min_t
/// field); `first` when it is the series' first chunk (absolute min_t).
pub(crate) fn span_at(chunk: &[u8], first: bool) -> Option<usize> {
    let mut pos = MIN_T_AT;
    if first {
        pos += 8;
        chunk.get(..pos)?;
    } else {
        read_varint(chunk, &mut pos)?;
    }
    Some(pos)
}

/// The `len` field of a sealed chunk starting at `at` (0 when absent or corrupt).
pub(crate) fn sealed_len(data: &[u8], at: usize) -> usize {
    data.get(at..at + 2)
        .map_or(0, |b| usize::from(u16::from_le_bytes([b[0], b[1]])))
}

/// One chunk's header fields and its bit-packed samples.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Chunk<'a> {
    pub(crate) count: u8,
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
    /// Offset of the span field (the end of the min_t field).
    pub(crate) span_at: usize,
    v0: u64,
    /// Written with decimal mode (see the module doc); chunks from before it are not.
    pub(crate) decimal: bool,
    bits: &'a [u8],
}

impl<'a> Chunk<'a> {
    /// Parses a whole chunk. `prev_max_t` is the newest timestamp of the chunk before, `None`
    /// for the series' first chunk. `head_max_t` is `Some(newest timestamp)` for the
    /// (unsealed) head chunk, which has no span field; `None` for a sealed chunk.
    pub(crate) fn parse(
        chunk: &'a [u8],
        prev_max_t: Option<i64>,
        head_max_t: Option<i64>,
    ) -> Option<Self> {
        let count = *chunk.get(COUNT_AT)?;
        let mut pos = MIN_T_AT;
        let min_t = match prev_max_t {
            None => {
                pos += 8;
                read_i64(chunk, MIN_T_AT)?
            }
            Some(p) => p.wrapping_add(read_varint(chunk, &mut pos)? as i64),
        };
        let span_at = pos;
        let max_t = match head_max_t {
            Some(t) => t,
            None => min_t.wrapping_add(read_varint(chunk, &mut pos)? as i64),
        };
        let tag = read_varint(chunk, &mut pos)?;
        let (v0, decimal) = match tag {
            _ if tag & 1 == 0 => ((unzigzag(tag >> 1) as f64).to_bits(), false),
            _ if tag & 0b11 == 0b11 => ((unzigzag(tag >> 2) as f64).to_bits(), true),
            TAG_FLOAT | TAG_FLOAT_V1 => {
                let v = read_i64(chunk, pos)? as u64;
                pos += 8;
                (v, tag == TAG_FLOAT)
            }
            _ => return None,
        };
        Some(Chunk {
            count,
            min_t,
            max_t,
            span_at,
            v0,
            decimal,
            bits: chunk.get(pos..)?,
        })
    }

    pub(crate) fn iter(&self) -> ChunkIter<'a> {
        ChunkIter {
            r: BitReader::new(self.bits),
            remaining: self.count,
            codec: Codec {
                decimal: self.decimal,
                ..Codec::start(self.min_t, self.v0)
            },
            started: false,
        }
    }
}

/// Decodes a chunk's samples in time order.
pub(crate) struct ChunkIter<'a> {
    r: BitReader<'a>,
    remaining: u8,
    codec: Codec,
    started: bool,
}

impl ChunkIter<'_> {
    /// Decodes the rest; the codec state after the last sample and the unused low bits of the
    /// last byte. `None` when the data does not decode to exactly the header's count, or
    /// leaves a whole unused byte (neither comes from our encoder).
    pub(crate) fn finish(mut self) -> Option<(Codec, u8)> {
        while self.remaining > 0 {
            self.next()?;
        }
        let free = (self.r.len_bits()).checked_sub(self.r.position())?;
        Some((self.codec, u8::try_from(free).ok().filter(|f| *f < 8)?))
    }
}

impl Iterator for ChunkIter<'_> {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        if !self.started {
            self.started = true;
        } else if self.codec.decode(&mut self.r).is_none() {
            // Corrupt data cannot come from our encoder; stop rather than invent samples.
            self.remaining = 0;
            return None;
        }
        Some(Sample {
            t: self.codec.t,
            v: f64::from_bits(self.codec.v),
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

    proptest! {
        #[test]
        fn varint_and_zigzag(x in any::<u64>(), i in any::<i64>()) {
            let mut buf = [0u8; MAX_VARINT];
            let n = write_varint(x, &mut buf);
            let mut pos = 0;
            prop_assert_eq!(read_varint(&buf[..n], &mut pos), Some(x));
            prop_assert_eq!(pos, n);
            prop_assert_eq!(unzigzag(zigzag(i)), i);
        }

        #[test]
        fn head_header_round_trips(t in any::<i64>(), v in any::<u64>(), prev in proptest::option::of(any::<i64>())) {
            let prev = prev.filter(|&p| p < t);
            let (h, n) = head_header(t, v, prev);
            let c = Chunk::parse(&h[..n], prev, Some(t)).unwrap();
            prop_assert_eq!(span_at(&h[..n], prev.is_none()), Some(c.span_at));
            prop_assert_eq!((c.count, c.min_t, c.max_t, c.v0), (1, t, t, v));
            prop_assert!(c.bits.is_empty());
            prop_assert!(c.decimal);
        }

        #[test]
        fn headers_from_before_decimal_mode_parse(t in any::<i64>(), i in -(1i64 << 53)..=(1i64 << 53), v in any::<u64>()) {
            let mut h = vec![0, 0, 1];
            h.extend_from_slice(&t.to_le_bytes());
            let mut tag = [0u8; MAX_VARINT];
            let n = write_varint(zigzag(i) << 1, &mut tag);
            let int = [h.clone(), tag[..n].to_vec()].concat();
            let c = Chunk::parse(&int, None, Some(t)).unwrap();
            prop_assert_eq!((c.v0, c.decimal), ((i as f64).to_bits(), false));
            let float = [h, vec![1], v.to_le_bytes().to_vec()].concat();
            let c = Chunk::parse(&float, None, Some(t)).unwrap();
            prop_assert_eq!((c.v0, c.decimal), (v, false));
        }
    }
}

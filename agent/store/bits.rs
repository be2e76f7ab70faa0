//! Bit-level I/O for the chunk encoding: a small fixed-size writer that encodes one sample (and
//! continues the partial last byte of a chunk), and a reader over a byte slice. Bits are written
//! most-significant first; a value of `n` bits occupies the next `n` bit positions. Nothing here
//! panics: the writer drops bits past its capacity (callers size it for the worst case) and the
//! reader returns `None` on short input.

/// Capacity of a [`BitWriter`] in bytes: a partial byte (<= 7 bits) plus the largest encoded
/// sample (69 timestamp bits + 79 value bits: `11`, `10`, 5 + 6 window bits, 64) fits with
/// room to spare.
pub(crate) const WRITER_BYTES: usize = 32;

/// Collects bits for one append, starting from the used bits of the chunk's last byte, so the
/// owner can copy exactly the bytes needed into its buffer (no amortised `Vec` growth).
pub(crate) struct BitWriter {
    buf: [u8; WRITER_BYTES],
    /// Bits written so far (including the carried-over partial byte).
    bits: usize,
}

impl BitWriter {
    /// A writer continuing a byte whose low `free` bits are unused (`free == 0`: start fresh).
    pub(crate) fn continuing(last: u8, free: u8) -> Self {
        let mut w = BitWriter {
            buf: [0; WRITER_BYTES],
            bits: 0,
        };
        if free > 0 && free < 8 {
            w.buf[0] = last;
            w.bits = 8 - usize::from(free);
        }
        w
    }

    /// Writes the low `n` bits of `value` (`n <= 64`).
    pub(crate) fn write(&mut self, value: u64, n: u32) {
        debug_assert!(n <= 64);
        let mut n = n.min(64);
        while n > 0 {
            let used = (self.bits % 8) as u32;
            let free = 8 - used;
            let take = n.min(free);
            let shift = n - take; // < 64 because take >= 1
            let bits = ((value >> shift) & ((1u64 << take) - 1)) as u8;
            if let Some(b) = self.buf.get_mut(self.bits / 8) {
                *b |= bits << (free - take);
            }
            self.bits += take as usize;
            n -= take;
        }
    }

    pub(crate) fn bit(&mut self, b: bool) {
        self.write(u64::from(b), 1);
    }

    /// The bytes written (the first one being the continued partial byte, if any) and the
    /// unused low bits of the last one.
    pub(crate) fn finish(&self) -> (&[u8], u8) {
        let len = self.bits.div_ceil(8).min(WRITER_BYTES);
        let free = (len * 8).saturating_sub(self.bits) as u8;
        (&self.buf[..len], free)
    }
}

/// Reads bits back from a byte slice written by [`BitWriter`].
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        BitReader { data, pos: 0 }
    }

    /// Reads `n <= 64` bits as the low bits of the result; `None` past the end.
    pub(crate) fn read(&mut self, n: u32) -> Option<u64> {
        let mut n = n.min(64);
        let mut out = 0u64;
        while n > 0 {
            let byte = *self.data.get(self.pos / 8)?;
            let avail = 8 - (self.pos % 8) as u32;
            let take = n.min(avail);
            let bits = (u32::from(byte) >> (avail - take)) & ((1u32 << take) - 1);
            out = (out << take) | u64::from(bits);
            self.pos += take as usize;
            n -= take;
        }
        Some(out)
    }

    /// Bits in the data.
    pub(crate) fn len_bits(&self) -> usize {
        self.data.len() * 8
    }

    /// Bits read so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn bit(&mut self) -> Option<bool> {
        let byte = *self.data.get(self.pos / 8)?;
        let b = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Some(b == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Appends `items` through successive writers, as a chunk does one sample at a time.
    fn write_all(groups: &[Vec<(u64, u32)>]) -> Vec<u8> {
        let mut buf: Vec<u8> = Vec::new();
        let mut free = 0u8;
        for items in groups {
            let mut w = BitWriter::continuing(buf.last().copied().unwrap_or(0), free);
            for &(v, n) in items {
                w.write(v, n);
            }
            let (bytes, f) = w.finish();
            if free > 0 {
                buf.pop();
            }
            buf.extend_from_slice(bytes);
            free = f;
        }
        buf
    }

    proptest! {
        #[test]
        fn round_trip(groups in proptest::collection::vec(
            proptest::collection::vec((any::<u64>(), 0u32..=64), 0..3), 0..100)) {
            let buf = write_all(&groups);
            let items: Vec<(u64, u32)> = groups.concat();
            let total: u32 = items.iter().map(|&(_, n)| n).sum();
            prop_assert_eq!(buf.len(), total.div_ceil(8) as usize);
            let mut r = BitReader::new(&buf);
            for &(v, n) in &items {
                let want = if n == 64 { v } else { v & ((1u64 << n) - 1) };
                prop_assert_eq!(r.read(n), Some(want));
            }
        }
    }

    #[test]
    fn reader_stops_at_end() {
        let mut r = BitReader::new(&[0xA5]);
        assert_eq!(r.read(4), Some(0xA));
        assert_eq!(r.bit(), Some(false));
        assert_eq!(r.read(4), None);
    }
}

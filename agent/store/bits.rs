//! Bit-level I/O for the chunk encoding: an appending writer over a `Vec<u8>` and a reader over
//! a byte slice. Bits are written most-significant first; a value of `n` bits occupies the next
//! `n` bit positions. Nothing here panics on short input: the reader returns `None`.

/// Appends bits to `buf`. `free` is the number of unused (low) bits in the last byte of `buf`,
/// kept by the owner between writers so a head chunk can keep appending in place.
pub(crate) struct BitWriter<'a> {
    buf: &'a mut Vec<u8>,
    free: &'a mut u8,
}

impl<'a> BitWriter<'a> {
    pub(crate) fn new(buf: &'a mut Vec<u8>, free: &'a mut u8) -> Self {
        BitWriter { buf, free }
    }

    /// Writes the low `n` bits of `value` (`n <= 64`).
    pub(crate) fn write(&mut self, value: u64, n: u32) {
        debug_assert!(n <= 64);
        let mut n = n.min(64);
        while n > 0 {
            if *self.free == 0 {
                self.buf.push(0);
                *self.free = 8;
            }
            let free = u32::from(*self.free);
            let take = n.min(free);
            let shift = n - take; // < 64 because take >= 1
            let bits = ((value >> shift) & ((1u64 << take) - 1)) as u8;
            if let Some(last) = self.buf.last_mut() {
                *last |= bits << (free - take);
            }
            *self.free -= take as u8;
            n -= take;
        }
    }

    pub(crate) fn bit(&mut self, b: bool) {
        self.write(u64::from(b), 1);
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

    pub(crate) fn bit(&mut self) -> Option<bool> {
        self.read(1).map(|b| b == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(items in proptest::collection::vec((any::<u64>(), 0u32..=64), 0..200)) {
            let mut buf = Vec::new();
            let mut free = 0u8;
            let mut w = BitWriter::new(&mut buf, &mut free);
            for &(v, n) in &items {
                w.write(v, n);
            }
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

//! A minimal protobuf wire-format reader over borrowed bytes: the metrics hot path walks
//! OTLP requests with it instead of decoding them into owned messages, so a data point whose
//! series is already known costs no allocation at all.

/// A field's value as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl<'a> Value<'a> {
    pub fn bytes(self) -> Option<&'a [u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

#[cfg(test)]
impl Value<'_> {
    fn varint(self) -> Option<u64> {
        match self {
            Value::Varint(v) => Some(v),
            _ => None,
        }
    }

    fn fixed64(self) -> Option<u64> {
        match self {
            Value::Fixed64(v) => Some(v),
            _ => None,
        }
    }
}

/// Malformed protobuf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed protobuf at byte {at}: {what}")]
pub struct WireError {
    pub at: usize,
    pub what: &'static str,
}

/// Iterates the fields of one message.
#[derive(Clone)]
pub struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Fields { buf, pos: 0 }
    }

    fn err(&self, what: &'static str) -> WireError {
        WireError { at: self.pos, what }
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| self.err("truncated varint"))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err("varint longer than 10 bytes"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| self.err("field runs past the end"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// The next field, or `None` at the end.
    pub fn next_field(&mut self) -> Result<Option<(u32, Value<'a>)>, WireError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = u32::try_from(key >> 3).map_err(|_| self.err("field number too large"))?;
        if field == 0 {
            return Err(self.err("field number 0"));
        }
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                Value::Fixed64(u64::from_le_bytes([
                    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                ]))
            }
            2 => {
                let n =
                    usize::try_from(self.varint()?).map_err(|_| self.err("length too large"))?;
                Value::Bytes(self.take(n)?)
            }
            5 => {
                let b = self.take(4)?;
                Value::Fixed32(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            _ => return Err(self.err("unsupported wire type (groups are not used by OTLP)")),
        };
        Ok(Some((field, value)))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Value<'a>), WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_field().transpose()
    }
}

/// The 64-bit little-endian words of a packed `fixed64`/`double` field.
pub fn packed_fixed64(b: &[u8]) -> impl Iterator<Item = u64> + '_ {
    b.chunks_exact(8)
        .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn reads_what_prost_writes() {
        use opentelemetry_proto::tonic::metrics::v1::HistogramDataPoint;
        let p = HistogramDataPoint {
            time_unix_nano: 1_700_000_000_000_000_000,
            count: 7,
            sum: Some(1.5),
            bucket_counts: vec![1, 2, 4],
            explicit_bounds: vec![0.5, 1.0],
            flags: 1,
            ..Default::default()
        };
        let bytes = p.encode_to_vec();
        let mut seen = Vec::new();
        for f in Fields::new(&bytes) {
            let (n, v) = f.expect("field");
            seen.push(n);
            match n {
                3 => assert_eq!(v.fixed64(), Some(1_700_000_000_000_000_000)),
                4 => assert_eq!(v.fixed64(), Some(7)),
                5 => assert_eq!(v.fixed64().map(f64::from_bits), Some(1.5)),
                6 => assert_eq!(
                    packed_fixed64(v.bytes().expect("packed")).collect::<Vec<_>>(),
                    [1, 2, 4]
                ),
                7 => assert_eq!(
                    packed_fixed64(v.bytes().expect("packed"))
                        .map(f64::from_bits)
                        .collect::<Vec<_>>(),
                    [0.5, 1.0]
                ),
                10 => assert_eq!(v.varint(), Some(1)),
                _ => {}
            }
        }
        assert_eq!(seen, [3, 4, 5, 6, 7, 10]);
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let bytes = opentelemetry_proto::tonic::common::v1::KeyValue {
            key: "service.name".into(),
            ..Default::default()
        }
        .encode_to_vec();
        for cut in 1..bytes.len() {
            let r: Result<Vec<_>, _> = Fields::new(&bytes[..cut]).collect();
            assert!(r.is_err(), "cut at {cut}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = Fields::new(&bytes).collect::<Vec<_>>();
        }
    }
}

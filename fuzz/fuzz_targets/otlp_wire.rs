//! OTLP metrics, protobuf wire format: the bytes of an `ExportMetricsServiceRequest` (the
//! body of `POST /v1/metrics` with `application/x-protobuf`, or a gRPC `Export` message)
//! handed to the ingest stage as `Payload::Metrics`, exactly as the receivers do; the ingest
//! worker translates it straight from the wire (`sources::otlp::metrics::ingest`) into store
//! appends. Each input gets a fresh store (2,000 series) and series cache, and is ingested
//! twice (the second time through the cached identities, as a repeated export is).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use vitals::sources::otlp::{Ingest, Payload};
use vitals::store::{LabelMatcher, MatchOp};

fuzz_target!(|data: &[u8]| {
    let store = common::store(2_000);
    let ingest = Ingest::new(store.clone(), common::otlp_spec());
    let payload = Payload::Metrics(bytes::Bytes::copy_from_slice(data));
    for _ in 0..2 {
        let tally = ingest.ingest(&payload);
        let _ = tally.message();
        if tally.malformed.is_some() {
            return;
        }
    }
    // Read back what was written (decodes every chunk).
    if let Ok(any) = LabelMatcher::new("__name__", MatchOp::Regex, ".+") {
        let _ = store.select(&[any], i64::MIN, i64::MAX);
    }
    let _ = ingest.expire(i64::MAX);
});

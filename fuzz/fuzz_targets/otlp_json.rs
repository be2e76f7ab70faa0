//! OTLP/JSON: the body of `POST /v1/{metrics,traces,logs}` with `application/json`, decoded
//! by `sources::otlp::json::{metrics,traces,logs}` (the first byte picks the signal), then
//! handled as the HTTP receiver does: metrics re-encoded to protobuf and ingested as
//! `Payload::Metrics`, spans and log records ingested as decoded, into a fresh store.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use prost::Message;
use vitals::sources::otlp::{Ingest, Payload, json};

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let payload = match which % 3 {
        0 => match json::metrics(body) {
            Ok(req) => Payload::Metrics(bytes::Bytes::from(req.encode_to_vec())),
            Err(e) => {
                let _ = e.to_string();
                return;
            }
        },
        1 => match json::traces(body) {
            Ok(req) => Payload::Traces(req),
            Err(e) => {
                let _ = e.to_string();
                return;
            }
        },
        _ => match json::logs(body) {
            Ok(req) => Payload::Logs(req),
            Err(e) => {
                let _ = e.to_string();
                return;
            }
        },
    };
    let store = common::store(2_000);
    let ingest = Ingest::new(store, common::otlp_spec());
    let tally = ingest.ingest(&payload);
    let _ = tally.message();
});

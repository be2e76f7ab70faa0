//! OTLP/HTTP: `POST /v1/metrics`, `/v1/traces`, `/v1/logs` on one port, protobuf or JSON
//! (media-type parameters such as `; charset=utf-8` allowed), optionally gzip-compressed.
//! Answers follow the OTLP specification: the export response in the request's content
//! type (with `partial_success` when items were refused), 400 with a `google.rpc.Status` for
//! undecodable data, 401 without the bearer token, 405 for other methods, 413 past
//! `max_message_bytes` (checked again after decompression, so a gzip bomb cannot grow
//! memory), 408 when the body does not arrive within the listener's body-read timeout, 415 for other media types or encodings, 429 with `Retry-After` when the ingest
//! queue is full.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

use super::rpc::{self, RpcStatus};
use super::{
    OtlpError, OtlpSpec, Payload, Pipeline, Protocol, Refused, Serving, Signal, Tally, json,
};
use crate::net::BearerToken;
use crate::net::auth::CHALLENGE;
use crate::net::listen::is_body_timeout;

struct HttpState {
    pipeline: Pipeline,
    token: BearerToken,
    max_bytes: usize,
}

/// Binds `addr` and serves OTLP/HTTP until the cancellation token fires.
pub(super) async fn serve(
    addr: SocketAddr,
    spec: &OtlpSpec,
    pipeline: Pipeline,
    serving: Serving<'_>,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), OtlpError> {
    let state = Arc::new(HttpState {
        pipeline,
        token: serving.auth.clone(),
        max_bytes: spec.max_message_bytes,
    });
    let app = Router::new()
        .route("/v1/metrics", post(metrics))
        .route("/v1/traces", post(traces))
        .route("/v1/logs", post(logs))
        // The limit is applied by hand below, before and after decompression.
        .layer(DefaultBodyLimit::disable())
        .with_state(state);
    serving.serve(addr, "otlp_http", app).await
}

async fn metrics(State(s): State<Arc<HttpState>>, headers: HeaderMap, body: Body) -> Response {
    handle(&s, Signal::Metrics, &headers, body).await
}

async fn traces(State(s): State<Arc<HttpState>>, headers: HeaderMap, body: Body) -> Response {
    handle(&s, Signal::Traces, &headers, body).await
}

async fn logs(State(s): State<Arc<HttpState>>, headers: HeaderMap, body: Body) -> Response {
    handle(&s, Signal::Logs, &headers, body).await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Media {
    Protobuf,
    Json,
}

/// The media type without parameters, if it is one OTLP uses.
fn media(headers: &HeaderMap) -> Result<Media, String> {
    let raw = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = raw
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/x-protobuf" | "application/protobuf" => Ok(Media::Protobuf),
        "application/json" => Ok(Media::Json),
        _ => Err(format!(
            "unsupported content type {raw:?}: send application/x-protobuf or application/json"
        )),
    }
}

fn error(status: StatusCode, media: Media, code: i32, message: String) -> Response {
    let st = RpcStatus {
        code,
        message,
        details: Vec::new(),
    };
    body_response(status, media, st.encode_to_vec(), || {
        serde_json::json!({"code": st.code, "message": st.message}).to_string()
    })
}

fn body_response(
    status: StatusCode,
    media: Media,
    proto: Vec<u8>,
    json: impl FnOnce() -> String,
) -> Response {
    match media {
        Media::Protobuf => (
            status,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            proto,
        )
            .into_response(),
        Media::Json => {
            (status, [(header::CONTENT_TYPE, "application/json")], json()).into_response()
        }
    }
}

async fn handle(s: &HttpState, signal: Signal, headers: &HeaderMap, body: Body) -> Response {
    let media_type = media(headers);
    let answer_as = *media_type.as_ref().unwrap_or(&Media::Protobuf);
    let protocol = if answer_as == Media::Json {
        Protocol::HttpJson
    } else {
        Protocol::HttpProtobuf
    };
    if !s.token.check(headers) {
        s.pipeline.count_refused(signal, protocol, "unauthorized");
        let mut r = error(
            StatusCode::UNAUTHORIZED,
            answer_as,
            rpc::UNAUTHENTICATED,
            "missing or wrong bearer token".into(),
        );
        r.headers_mut().insert(header::WWW_AUTHENTICATE, CHALLENGE);
        return r;
    }
    let media_type = match media_type {
        Ok(m) => m,
        Err(msg) => {
            s.pipeline
                .count_refused(signal, protocol, "unsupported_media_type");
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                answer_as,
                rpc::INVALID_ARGUMENT,
                msg,
            );
        }
    };
    let too_large = |what: &str| {
        s.pipeline.count_refused(signal, protocol, "too_large");
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            media_type,
            rpc::INVALID_ARGUMENT,
            format!(
                "{what} is larger than otlp.max_message_bytes ({} bytes)",
                s.max_bytes
            ),
        )
    };
    let raw = match axum::body::to_bytes(body, s.max_bytes).await {
        Ok(b) => b,
        Err(e) if is_body_timeout(&e) => {
            s.pipeline.count_refused(signal, protocol, "timeout");
            return error(
                StatusCode::REQUEST_TIMEOUT,
                media_type,
                rpc::UNAVAILABLE,
                format!("{e}"),
            );
        }
        Err(_) => return too_large("the request body"),
    };
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let data: Bytes = match encoding.as_str() {
        "" | "identity" => raw,
        "gzip" => match gunzip(&raw, s.max_bytes) {
            Ok(Some(d)) => Bytes::from(d),
            Ok(None) => return too_large("the decompressed body"),
            Err(e) => {
                s.pipeline.count_refused(signal, protocol, "bad_request");
                return error(
                    StatusCode::BAD_REQUEST,
                    media_type,
                    rpc::INVALID_ARGUMENT,
                    format!("the body is not valid gzip: {e}"),
                );
            }
        },
        other => {
            s.pipeline
                .count_refused(signal, protocol, "unsupported_media_type");
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                media_type,
                rpc::INVALID_ARGUMENT,
                format!("unsupported content encoding {other:?}: send gzip or none"),
            );
        }
    };
    let size = data.len();
    let decoded = decode(signal, media_type, data);
    let payload = match decoded {
        Ok(p) => p,
        Err(msg) => {
            s.pipeline.count_refused(signal, protocol, "bad_request");
            return error(
                StatusCode::BAD_REQUEST,
                media_type,
                rpc::INVALID_ARGUMENT,
                msg,
            );
        }
    };
    match s.pipeline.submit(payload, protocol, size).await {
        Ok(Tally {
            malformed: Some(msg),
            ..
        }) => error(
            StatusCode::BAD_REQUEST,
            media_type,
            rpc::INVALID_ARGUMENT,
            msg,
        ),
        Ok(tally) => success(signal, media_type, &tally),
        Err(Refused::Busy) => {
            let st = rpc::retry_status(rpc::RESOURCE_EXHAUSTED, "vitals is busy: retry later", 1);
            let mut r = body_response(
                StatusCode::TOO_MANY_REQUESTS,
                media_type,
                st.encode_to_vec(),
                || serde_json::json!({"code": st.code, "message": st.message}).to_string(),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
        Err(Refused::Closed) => {
            let mut r = error(
                StatusCode::SERVICE_UNAVAILABLE,
                media_type,
                rpc::UNAVAILABLE,
                "vitals is shutting down".into(),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            r
        }
    }
}

/// Decompresses at most `limit` bytes; `Ok(None)` when the data would be larger.
fn gunzip(data: &[u8], limit: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(limit));
    flate2::read::MultiGzDecoder::new(data)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)?;
    Ok((out.len() <= limit).then_some(out))
}

fn decode(signal: Signal, media: Media, data: Bytes) -> Result<Payload, String> {
    let bad =
        |e: &dyn std::fmt::Display| format!("cannot decode the {} request: {e}", signal.as_str());
    Ok(match (signal, media) {
        // Metrics are read straight from the wire by the ingest workers (a malformed body is
        // found there and answered 400 all the same).
        (Signal::Metrics, Media::Protobuf) => Payload::Metrics(data),
        (Signal::Traces, Media::Protobuf) => {
            Payload::Traces(ExportTraceServiceRequest::decode(data).map_err(|e| bad(&e))?)
        }
        (Signal::Logs, Media::Protobuf) => {
            Payload::Logs(ExportLogsServiceRequest::decode(data).map_err(|e| bad(&e))?)
        }
        (Signal::Metrics, Media::Json) => {
            let req = json::metrics(&data).map_err(|e| bad(&e))?;
            Payload::Metrics(Bytes::from(req.encode_to_vec()))
        }
        (Signal::Traces, Media::Json) => Payload::Traces(json::traces(&data).map_err(|e| bad(&e))?),
        (Signal::Logs, Media::Json) => Payload::Logs(json::logs(&data).map_err(|e| bad(&e))?),
    })
}

fn success(signal: Signal, media: Media, tally: &Tally) -> Response {
    let partial = tally.partial();
    let (proto, field) = match signal {
        Signal::Metrics => (
            ExportMetricsServiceResponse {
                partial_success: partial.clone().map(|(n, m)| ExportMetricsPartialSuccess {
                    rejected_data_points: n,
                    error_message: m,
                }),
            }
            .encode_to_vec(),
            "rejectedDataPoints",
        ),
        Signal::Traces => (
            ExportTraceServiceResponse {
                partial_success: partial.clone().map(|(n, m)| ExportTracePartialSuccess {
                    rejected_spans: n,
                    error_message: m,
                }),
            }
            .encode_to_vec(),
            "rejectedSpans",
        ),
        Signal::Logs => (
            ExportLogsServiceResponse {
                partial_success: partial.clone().map(|(n, m)| ExportLogsPartialSuccess {
                    rejected_log_records: n,
                    error_message: m,
                }),
            }
            .encode_to_vec(),
            "rejectedLogRecords",
        ),
    };
    body_response(StatusCode::OK, media, proto, || match &partial {
        Some((n, m)) => {
            serde_json::json!({"partialSuccess": {field: n.to_string(), "errorMessage": m}})
                .to_string()
        }
        None => "{}".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gunzip_stops_at_the_limit() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&vec![0u8; 1 << 20]).expect("write");
        let gz = enc.finish().expect("finish");
        assert!(gz.len() < 10_000);
        assert_eq!(
            gunzip(&gz, 1 << 20).expect("ok").map(|v| v.len()),
            Some(1 << 20)
        );
        assert_eq!(gunzip(&gz, 1000).expect("ok"), None);
        assert!(gunzip(b"not gzip", 1000).is_err());
    }

    #[test]
    fn media_types_allow_parameters() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(media(&h) == Ok(Media::Json));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Application/X-Protobuf"),
        );
        assert!(media(&h) == Ok(Media::Protobuf));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(media(&h).is_err());
    }
}

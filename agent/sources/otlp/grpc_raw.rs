//! OTLP/gRPC metrics over the request's own bytes: a tonic service for
//! `opentelemetry.proto.collector.metrics.v1.MetricsService/Export` whose codec hands the
//! handler the message as received (after gRPC framing and gzip), not a decoded
//! `ExportMetricsServiceRequest`. The metrics ingest reads the wire format itself (as it does
//! for OTLP/HTTP), so decoding into owned messages and encoding them back, as the generated
//! server would make it, is work and memory spent for nothing. Responses are prost messages.

use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Request, Response, Status};

/// The gRPC service name the OTLP metrics exporters call.
pub const METRICS_SERVICE: &str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What answers an export: the request's bytes in, the response out.
pub trait ExportBytes: Clone + Send + Sync + 'static {
    fn export(
        &self,
        request: Request<Bytes>,
    ) -> impl Future<Output = Result<Response<ExportMetricsServiceResponse>, Status>> + Send;
}

/// Decodes a message to its bytes; encodes a prost message.
struct RawCodec<R>(PhantomData<R>);

impl<R: prost::Message + Send + 'static> Codec for RawCodec<R> {
    type Encode = R;
    type Decode = Bytes;
    type Encoder = ProstEncoder<R>;
    type Decoder = BytesDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        BytesDecoder
    }
}

struct ProstEncoder<R>(PhantomData<R>);

impl<R: prost::Message> Encoder for ProstEncoder<R> {
    type Item = R;
    type Error = Status;

    fn encode(&mut self, item: R, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("encoding the response: {e}")))
    }
}

struct BytesDecoder;

impl Decoder for BytesDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// The metrics service over raw bytes, gzip accepted, messages up to `max_message_bytes`.
#[derive(Clone)]
pub struct RawMetricsServer<H> {
    handler: H,
    max_message_bytes: usize,
}

impl<H: ExportBytes> RawMetricsServer<H> {
    pub fn new(handler: H, max_message_bytes: usize) -> Self {
        RawMetricsServer {
            handler,
            max_message_bytes,
        }
    }
}

impl<H> NamedService for RawMetricsServer<H> {
    const NAME: &'static str = METRICS_SERVICE;
}

/// One export call, for [`Grpc::unary`].
struct Export<H>(H);

impl<H: ExportBytes> UnaryService<Bytes> for Export<H> {
    type Response = ExportMetricsServiceResponse;
    type Future = BoxFuture<Result<Response<ExportMetricsServiceResponse>, Status>>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let handler = self.0.clone();
        Box::pin(async move { handler.export(request).await })
    }
}

impl<H, B> tower::Service<http::Request<B>> for RawMetricsServer<H>
where
    H: ExportBytes,
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            if req.uri().path() != EXPORT_PATH {
                return Ok(Status::unimplemented("no such method").into_http());
            }
            let mut grpc = Grpc::new(RawCodec::<ExportMetricsServiceResponse>(PhantomData))
                .accept_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(this.max_message_bytes);
            Ok(grpc.unary(Export(this.handler), req).await)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tower::ServiceExt;

    #[derive(Clone, Default)]
    struct Record(Arc<Mutex<Vec<Bytes>>>);

    impl ExportBytes for Record {
        async fn export(
            &self,
            request: Request<Bytes>,
        ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
            if let Ok(mut seen) = self.0.lock() {
                seen.push(request.into_inner());
            }
            Ok(Response::new(ExportMetricsServiceResponse::default()))
        }
    }

    fn grpc_request(path: &str, message: &[u8]) -> http::Request<http_body_util::Full<Bytes>> {
        let mut framed = vec![0u8];
        framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
        framed.extend_from_slice(message);
        http::Request::builder()
            .method("POST")
            .uri(format!("http://vitals{path}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(http_body_util::Full::new(Bytes::from(framed)))
            .expect("request")
    }

    #[tokio::test]
    async fn the_handler_gets_the_message_bytes_as_sent() {
        let record = Record::default();
        let server = RawMetricsServer::new(record.clone(), 1024);
        // Not even valid protobuf: the codec does not look inside.
        let message = b"\x0a\x03abc\xff\x01";
        let resp = server
            .oneshot(grpc_request(EXPORT_PATH, message))
            .await
            .expect("infallible");
        assert_eq!(resp.status(), 200);
        let seen = record.0.lock().expect("lock").clone();
        assert_eq!(seen, vec![Bytes::from_static(message)]);
    }

    #[tokio::test]
    async fn other_methods_are_unimplemented() {
        let server = RawMetricsServer::new(Record::default(), 1024);
        let resp = server
            .oneshot(grpc_request(
                "/opentelemetry.proto.collector.metrics.v1.MetricsService/Other",
                b"",
            ))
            .await
            .expect("infallible");
        assert_eq!(resp.headers()["grpc-status"], "12");
    }
}

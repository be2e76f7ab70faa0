//! OTLP/gRPC: the metrics, trace and logs services on one port, gzip accepted, messages up
//! to `max_message_bytes`. Refusals map to gRPC codes as the OTLP specification asks:
//! `UNAUTHENTICATED` without the bearer token, `RESOURCE_EXHAUSTED` with a `RetryInfo`
//! when the ingest queue is full (so clients retry), `UNAVAILABLE` during shutdown, and
//! `RESOURCE_EXHAUSTED` without `RetryInfo` for a message over `max_message_bytes` (tonic
//! answers `OUT_OF_RANGE`, which OTLP clients retry: the same message would fail forever;
//! gRPC's own servers use `RESOURCE_EXHAUSTED` for it).

use std::net::SocketAddr;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::{Code, Request, Response, Status};

use super::grpc_raw::{ExportBytes, RawMetricsServer};
use super::rpc;
use super::{OtlpError, OtlpSpec, Payload, Pipeline, Protocol, Refused, Serving, Signal, Tally};
use crate::net::BearerToken;

#[derive(Clone)]
struct Service {
    pipeline: Pipeline,
    token: BearerToken,
}

impl Service {
    fn authorize<T>(&self, req: &Request<T>, signal: Signal) -> Result<(), Status> {
        let given = req.metadata().get("authorization").map(|v| v.as_bytes());
        if self.token.check_authorization(given) {
            Ok(())
        } else {
            self.pipeline
                .count_refused(signal, Protocol::Grpc, "unauthorized");
            Err(Status::unauthenticated("missing or wrong bearer token"))
        }
    }

    async fn submit(&self, payload: Payload, size: usize) -> Result<Tally, Status> {
        match self.pipeline.submit(payload, Protocol::Grpc, size).await {
            Ok(Tally {
                malformed: Some(msg),
                ..
            }) => Err(Status::invalid_argument(msg)),
            Ok(t) => Ok(t),
            Err(Refused::Busy) => {
                let st =
                    rpc::retry_status(rpc::RESOURCE_EXHAUSTED, "vitals is busy: retry later", 1);
                Err(Status::with_details(
                    Code::ResourceExhausted,
                    st.message.clone(),
                    rpc::encode(&st),
                ))
            }
            Err(Refused::Closed) => Err(Status::unavailable("vitals is shutting down")),
        }
    }
}

impl ExportBytes for Service {
    async fn export(
        &self,
        request: Request<bytes::Bytes>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        self.authorize(&request, Signal::Metrics)?;
        // The request's bytes as received: the ingest reads metrics from the wire format.
        let body = request.into_inner();
        let size = body.len();
        let tally = self.submit(Payload::Metrics(body), size).await?;
        Ok(Response::new(ExportMetricsServiceResponse {
            partial_success: tally.partial().map(|(n, m)| ExportMetricsPartialSuccess {
                rejected_data_points: n,
                error_message: m,
            }),
        }))
    }
}

#[tonic::async_trait]
impl TraceService for Service {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.authorize(&request, Signal::Traces)?;
        let req = request.into_inner();
        let size = req.encoded_len();
        let tally = self.submit(Payload::Traces(req), size).await?;
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: tally.partial().map(|(n, m)| ExportTracePartialSuccess {
                rejected_spans: n,
                error_message: m,
            }),
        }))
    }
}

#[tonic::async_trait]
impl LogsService for Service {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        self.authorize(&request, Signal::Logs)?;
        let req = request.into_inner();
        let size = req.encoded_len();
        let tally = self.submit(Payload::Logs(req), size).await?;
        Ok(Response::new(ExportLogsServiceResponse {
            partial_success: tally.partial().map(|(n, m)| ExportLogsPartialSuccess {
                rejected_log_records: n,
                error_message: m,
            }),
        }))
    }
}

/// Binds `addr` and serves OTLP/gRPC until the cancellation token fires.
pub(super) async fn serve(
    addr: SocketAddr,
    spec: &OtlpSpec,
    pipeline: Pipeline,
    serving: Serving<'_>,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), OtlpError> {
    let svc_pipeline = pipeline.clone();
    let svc = Service {
        pipeline,
        token: serving.auth.clone(),
    };
    let max = spec.max_message_bytes;
    let routes = tonic::service::Routes::new(RawMetricsServer::new(svc.clone(), max))
        .add_service(
            TraceServiceServer::new(svc.clone())
                .max_decoding_message_size(max)
                .accept_compressed(CompressionEncoding::Gzip),
        )
        .add_service(
            LogsServiceServer::new(svc)
                .max_decoding_message_size(max)
                .accept_compressed(CompressionEncoding::Gzip),
        )
        .prepare();
    let too_large = axum::middleware::from_fn(move |req, next| {
        too_large_is_final(svc_pipeline.clone(), req, next)
    });
    serving
        .serve(
            addr,
            "otlp_grpc",
            routes.into_axum_router().layer(too_large),
        )
        .await
}

/// tonic answers a message over `max_decoding_message_size` with `OUT_OF_RANGE`, a code
/// OTLP clients retry; it becomes `RESOURCE_EXHAUSTED` (no `RetryInfo`: not retried), and is
/// counted as refused `too_large` as on OTLP/HTTP. No handler here answers `OUT_OF_RANGE`.
async fn too_large_is_final(
    pipeline: Pipeline,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let signal = match req.uri().path() {
        p if p.ends_with("MetricsService/Export") => Some(Signal::Metrics),
        p if p.ends_with("TraceService/Export") => Some(Signal::Traces),
        p if p.ends_with("LogsService/Export") => Some(Signal::Logs),
        _ => None,
    };
    let mut resp = next.run(req).await;
    let out_of_range = (Code::OutOfRange as i32).to_string();
    if resp
        .headers()
        .get("grpc-status")
        .is_some_and(|v| v.as_bytes() == out_of_range.as_bytes())
    {
        resp.headers_mut().insert(
            "grpc-status",
            axum::http::HeaderValue::from(Code::ResourceExhausted as i32),
        );
        if let Some(signal) = signal {
            pipeline.count_refused(signal, Protocol::Grpc, "too_large");
        }
    }
    resp
}

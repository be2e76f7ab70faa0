//! The gRPC check: `grpc.health.v1.Health/Check` on a channel kept per target (tonic
//! reconnects it as needed); success needs `SERVING` and the conditions.

use std::time::{Duration, Instant};

use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::outcome::{Failure, FailureReason, Outcome, classify_error};
use super::{Observation, ProbeSpec, Target};

/// Builds the (lazily connecting) channel for a gRPC target.
pub fn channel(spec: &ProbeSpec) -> Result<Channel, String> {
    let Target::Grpc { endpoint, tls, .. } = &spec.target else {
        return Err("not a gRPC target".into());
    };
    let https = endpoint.starts_with("https://");
    if https && !tls.extra_roots.is_empty() && !tls.insecure_skip_verify {
        return pinned_channel(endpoint, &tls.extra_roots, spec.timeout);
    }
    let mut ep = endpoint_of(endpoint.clone(), endpoint, spec.timeout)?;
    if https {
        let mut cfg = ClientTlsConfig::new().with_native_roots();
        if let Some(pem) = &tls.ca_pem {
            cfg = cfg.ca_certificate(tonic::transport::Certificate::from_pem(pem));
        }
        ep = ep
            .tls_config(cfg)
            .map_err(|e| format!("TLS settings for {endpoint}: {e}"))?;
    }
    Ok(ep.connect_lazy())
}

/// A tonic endpoint for `url` with the probe timeout on connecting and on each call;
/// errors name `endpoint`, the target as configured.
fn endpoint_of(url: String, endpoint: &str, timeout: Duration) -> Result<Endpoint, String> {
    Ok(Endpoint::from_shared(url)
        .map_err(|e| format!("bad endpoint {endpoint}: {e}"))?
        .connect_timeout(timeout)
        .timeout(timeout))
}

/// The channel of an `https://` target with `tls.ca_file`: the TLS handshake is made here with
/// [`crate::net::tls::pinning_client_config`], as HTTP targets do, so a self-signed
/// certificate given as its own CA is accepted (tonic's TLS settings refuse it as
/// `CaUsedAsEndEntity`). tonic sees a plain connection (`http://` endpoint) and sends
/// requests with the `https` scheme (`origin`).
fn pinned_channel(
    endpoint: &str,
    extra_roots: &[rustls_pki_types::CertificateDer<'static>],
    timeout: Duration,
) -> Result<Channel, String> {
    let mut config = crate::net::tls::pinning_client_config(extra_roots)
        .map_err(|e| format!("TLS settings for {endpoint}: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let origin: tonic::codegen::http::Uri = endpoint
        .parse()
        .map_err(|e| format!("bad endpoint {endpoint}: {e}"))?;
    let plain = endpoint.replacen("https://", "http://", 1);
    let ep = endpoint_of(plain, endpoint, timeout)?.origin(origin);
    let connect = tower::service_fn(move |uri: tonic::codegen::http::Uri| {
        let connector = connector.clone();
        async move {
            let invalid =
                |what: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, what);
            let host = uri
                .host()
                .ok_or_else(|| invalid(format!("no host in {uri}")))?;
            let port = uri.port_u16().unwrap_or(443);
            let bare = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let name = rustls_pki_types::ServerName::try_from(bare.clone())
                .map_err(|e| invalid(format!("{host} is not a TLS server name: {e}")))?;
            let tcp = tokio::net::TcpStream::connect((bare.as_str(), port)).await?;
            let _ = tcp.set_nodelay(true);
            let tls = connector.connect(name, tcp).await?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
        }
    });
    Ok(ep.connect_with_connector_lazy(connect))
}

/// Runs the gRPC check. The caller bounds it with the probe timeout.
pub async fn probe(channel: &Channel, spec: &ProbeSpec, started: Instant) -> Outcome {
    let Target::Grpc { service, .. } = &spec.target else {
        return Outcome::default();
    };
    let mut out = Outcome::default();
    let mut client = HealthClient::new(channel.clone());
    let status = match client
        .check(HealthCheckRequest {
            service: service.clone(),
        })
        .await
    {
        Ok(resp) => resp.into_inner().status,
        Err(status) => {
            out.duration = started.elapsed();
            let failure = match std::error::Error::source(&status) {
                Some(source) => {
                    let (reason, detail) = classify_error(source);
                    Failure::new(reason, detail)
                }
                None => Failure::new(
                    FailureReason::Grpc,
                    format!(
                        "health check answered {:?}: {}",
                        status.code(),
                        status.message()
                    ),
                ),
            };
            out.failure = Some(failure);
            return out;
        }
    };
    out.duration = started.elapsed();
    let name = ServingStatus::try_from(status)
        .map(|s| s.as_str_name())
        .unwrap_or("UNKNOWN");
    if status != ServingStatus::Serving as i32 {
        out.failure = Some(Failure::new(
            FailureReason::Grpc,
            format!("health status is {name}"),
        ));
        return out;
    }
    let obs = Observation {
        response_time: out.duration,
        connected: true,
        grpc_status: Some(name),
        ..Observation::default()
    };
    out.failure = super::check_conditions(&spec.conditions, &obs);
    out
}

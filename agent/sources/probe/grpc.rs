//! The gRPC check: `grpc.health.v1.Health/Check` on a channel kept per target (tonic
//! reconnects it as needed); success needs `SERVING` and the conditions.

use std::time::Instant;

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
    let mut ep = Endpoint::from_shared(endpoint.clone())
        .map_err(|e| format!("bad endpoint {endpoint}: {e}"))?
        .connect_timeout(spec.timeout)
        .timeout(spec.timeout);
    if endpoint.starts_with("https://") {
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

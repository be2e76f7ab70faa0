//! The TCP check: a connection to `host:port` is opened and closed.

use std::time::Instant;

use tokio::net::TcpStream;

use super::outcome::{Failure, FailureReason, Outcome, classify_error};
use super::{Observation, ProbeSpec, Target};

/// Runs the TCP check of `spec`. The caller bounds it with the probe timeout.
pub async fn probe(spec: &ProbeSpec, started: Instant) -> Outcome {
    let Target::Tcp { address } = &spec.target else {
        return Outcome::default();
    };
    let mut out = Outcome::default();
    match TcpStream::connect(address.as_str()).await {
        Ok(stream) => drop(stream),
        Err(e) => {
            let (mut reason, detail) = classify_error(&e);
            // A name that does not resolve surfaces as a bare io::Error from getaddrinfo.
            if reason == FailureReason::Connection
                && (detail.contains("Name or service not known")
                    || detail.contains("failed to lookup address"))
            {
                reason = FailureReason::Dns;
            }
            out.failure = Some(Failure::new(reason, detail));
            out.duration = started.elapsed();
            return out;
        }
    }
    out.duration = started.elapsed();
    let obs = Observation {
        response_time: out.duration,
        connected: true,
        ..Observation::default()
    };
    out.failure = super::check_conditions(&spec.conditions, &obs);
    out
}

//! Probe conditions: parsed from the config, evaluated against each probe's observation.
//! PLACEHOLDER — being implemented.

use std::time::Duration;

use super::ProbeKind;

/// Why a condition string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConditionError(pub String);

/// What one probe saw; conditions are checked against it.
#[derive(Debug, Clone, Default)]
pub struct Observation<'a> {
    /// HTTP status code, when an HTTP response arrived.
    pub status: Option<u16>,
    /// Response body (at most the configured cap), when one was read.
    pub body: Option<&'a [u8]>,
    /// Time from start of the probe to the end of the response.
    pub response_time: Duration,
    /// Time left until the earliest certificate in the chain expires (negative: expired).
    pub cert_expiry: Option<f64>,
    /// True when a connection was made (TCP) / the call completed (gRPC).
    pub connected: bool,
    /// gRPC health status name, e.g. `SERVING`.
    pub grpc_status: Option<&'a str>,
}

/// One parsed condition.
#[derive(Debug, Clone)]
pub struct Condition {
    text: String,
}

impl Condition {
    /// Parses a condition such as `status == 200` or `body.status == UP`.
    pub fn parse(s: &str) -> Result<Condition, ConditionError> {
        Ok(Condition {
            text: s.to_string(),
        })
    }

    /// The condition as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// An error when the condition cannot apply to a probe of `kind` (e.g. `status` on TCP).
    pub fn check_kind(&self, _kind: ProbeKind) -> Result<(), ConditionError> {
        Ok(())
    }

    /// True when evaluating needs the response body.
    pub fn needs_body(&self) -> bool {
        true
    }

    /// `Ok` when the condition holds, else why not, e.g. `status is 503`.
    pub fn evaluate(&self, _obs: &Observation<'_>) -> Result<(), String> {
        Ok(())
    }
}

//! What one probe found: success or a classified failure, plus the measurements that
//! become blackbox_exporter's series.

use std::fmt;
use std::time::Duration;

/// Why a probe failed. The `reason` label of `vitals_probe_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// The target actively refused the connection.
    Refused,
    /// No answer within the probe's timeout.
    Timeout,
    /// The host name did not resolve.
    Dns,
    /// TLS handshake or certificate verification failed.
    Tls,
    /// Any other connection-level failure (reset, unreachable, protocol error).
    Connection,
    /// A response arrived but a condition did not hold.
    Condition,
    /// The body was larger than `max_body_bytes`.
    BodyTooLarge,
    /// More redirects than `max_redirects`, or a redirect without a usable Location.
    Redirects,
    /// The gRPC health service answered with an error status or not SERVING.
    Grpc,
}

impl FailureReason {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Refused => "refused",
            FailureReason::Timeout => "timeout",
            FailureReason::Dns => "dns",
            FailureReason::Tls => "tls",
            FailureReason::Connection => "connection",
            FailureReason::Condition => "condition",
            FailureReason::BodyTooLarge => "body_too_large",
            FailureReason::Redirects => "too_many_redirects",
            FailureReason::Grpc => "grpc",
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A classified failure with a human-readable detail (never a secret: no headers, no body
/// beyond what a condition's reason quotes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: FailureReason,
    /// The condition that failed, as written, when `reason` is `Condition`.
    pub condition: Option<String>,
    /// What happened, e.g. `status is 503` or `connection refused`.
    pub detail: String,
}

impl Failure {
    /// A failure that is not about a condition.
    pub fn new(reason: FailureReason, detail: impl Into<String>) -> Self {
        Failure {
            reason,
            condition: None,
            detail: detail.into(),
        }
    }
}

/// The result of one probe.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Wall time of the whole probe.
    pub duration: Duration,
    /// HTTP status of the final response (after redirects); `None` when none arrived.
    pub http_status: Option<u16>,
    /// Redirects followed.
    pub redirects: u32,
    /// `notAfter` of the earliest-expiring certificate seen, in Unix seconds.
    pub cert_not_after: Option<i64>,
    /// `None` on success.
    pub failure: Option<Failure>,
}

impl Outcome {
    pub fn success(&self) -> bool {
        self.failure.is_none()
    }
}

/// Classifies a transport error by walking its source chain: refused, DNS, TLS, timeout,
/// or another connection failure. Returns the reason and the innermost message.
pub fn classify_error(err: &(dyn std::error::Error + 'static)) -> (FailureReason, String) {
    let mut reason = FailureReason::Connection;
    let mut innermost = err.to_string();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let msg = e.to_string();
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => reason = FailureReason::Refused,
                std::io::ErrorKind::TimedOut => reason = FailureReason::Timeout,
                _ => {}
            }
        }
        if e.downcast_ref::<rustls::Error>().is_some() {
            reason = FailureReason::Tls;
        }
        if msg.starts_with("dns error") || msg.contains("failed to lookup address") {
            reason = FailureReason::Dns;
        }
        if reason == FailureReason::Connection
            && (msg.contains("certificate") || msg.contains("InvalidCertificate"))
        {
            reason = FailureReason::Tls;
        }
        innermost = msg;
        cur = e.source();
    }
    if reason == FailureReason::Tls
        && let Some(hint) = tls_hint(&innermost)
    {
        innermost = format!("{innermost} ({hint})");
    }
    (reason, innermost)
}

/// What a person can do about a TLS failure, from rustls's message (its `Display` text
/// for the errors with context, the variant's name for the others).
fn tls_hint(message: &str) -> Option<&'static str> {
    const HINTS: &[(&[&str], &str)] = &[
        (
            &["UnknownIssuer"],
            "the server's certificate is not signed by a trusted CA: add its CA (or the self-signed certificate itself) to the target's tls.ca_file",
        ),
        (
            &["CaUsedAsEndEntity"],
            "the server presents a CA certificate as its own: list that exact certificate in tls.ca_file to pin it",
        ),
        (
            &["certificate not valid for name", "NotValidForName"],
            "the certificate does not name the host probed: probe the name it was issued for, or reissue it with this name",
        ),
        (
            &["certificate expired", "Expired"],
            "the server's certificate has expired: renew it",
        ),
        (
            &["certificate not valid yet", "NotValidYet"],
            "the server's certificate is not valid yet: check the server's and this host's clocks",
        ),
        (
            &["Revoked"],
            "the server's certificate was revoked: replace it",
        ),
        (
            &["HandshakeFailure"],
            "no TLS version or cipher in common, or the server wants a client certificate",
        ),
        (
            &["CertificateRequired"],
            "the server wants a client certificate, which probes do not send",
        ),
    ];
    HINTS
        .iter()
        .find(|(needles, _)| needles.iter().any(|n| message.contains(n)))
        .map(|(_, hint)| *hint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::CertificateError as C;
    use rustls::pki_types::UnixTime;

    #[test]
    fn rustls_certificate_errors_get_a_hint() {
        let t = |s| UnixTime::since_unix_epoch(std::time::Duration::from_secs(s));
        for (e, want) in [
            (C::UnknownIssuer, "tls.ca_file"),
            (
                C::ExpiredContext {
                    time: t(200),
                    not_after: t(100),
                },
                "expired",
            ),
            (
                C::NotValidYetContext {
                    time: t(100),
                    not_before: t(200),
                },
                "clocks",
            ),
            (C::NotValidForName, "name"),
        ] {
            let message = rustls::Error::InvalidCertificate(e).to_string();
            let hint = tls_hint(&message).unwrap_or_default();
            assert!(hint.contains(want), "{message}: {hint:?}");
        }
    }
}

//! The HTTP(S) check: one request (redirects followed by hand, so every target can have its
//! own cap while all share one connection pool), the body read up to a cap, the peer
//! certificate's expiry, then the conditions.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use reqwest::header::LOCATION;
use reqwest::{Client, Method, StatusCode, Url};

use super::outcome::{Failure, FailureReason, Outcome, classify_error};
use super::{Observation, ProbeSpec, Target, TlsSettings};

/// Errors building an HTTP client.
#[derive(Debug, thiserror::Error)]
pub enum HttpClientError {
    #[error("cannot build the HTTP client: {0}")]
    Build(#[from] reqwest::Error),
    #[error(transparent)]
    Tls(#[from] crate::net::tls::TlsError),
}

/// The HTTP clients probes share: one for the common TLS settings, one more per distinct
/// `tls:` block. Each client holds a keep-alive connection pool.
pub struct HttpClients {
    default: Client,
    custom: Mutex<HashMap<TlsKey, Client>>,
    user_agent: String,
}

#[derive(Hash, PartialEq, Eq)]
struct TlsKey {
    roots: Vec<Vec<u8>>,
    insecure: bool,
}

impl HttpClients {
    pub fn new() -> Result<Self, HttpClientError> {
        let user_agent = format!("vitals/{}", env!("CARGO_PKG_VERSION"));
        Ok(HttpClients {
            default: build_client(&TlsSettings::default(), &user_agent)?,
            custom: Mutex::new(HashMap::new()),
            user_agent,
        })
    }

    /// The client for `tls`, built on first use.
    pub fn client(&self, tls: &TlsSettings) -> Result<Client, HttpClientError> {
        if tls.is_default() {
            return Ok(self.default.clone());
        }
        let key = TlsKey {
            roots: tls.extra_roots.iter().map(|c| c.to_vec()).collect(),
            insecure: tls.insecure_skip_verify,
        };
        let mut custom = self.custom.lock();
        if let Some(c) = custom.get(&key) {
            return Ok(c.clone());
        }
        let client = build_client(tls, &self.user_agent)?;
        custom.insert(key, client.clone());
        Ok(client)
    }
}

fn build_client(tls: &TlsSettings, user_agent: &str) -> Result<Client, HttpClientError> {
    let mut b = crate::net::tls::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .tls_info(true)
        .user_agent(user_agent)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true);
    if tls.insecure_skip_verify {
        b = b.tls_danger_accept_invalid_certs(true);
    } else if !tls.extra_roots.is_empty() {
        b = b.tls_backend_preconfigured(crate::net::tls::pinning_client_config(&tls.extra_roots)?);
    }
    Ok(b.build()?)
}

/// Runs the HTTP check of `spec` (which must be an HTTP target). The caller bounds it with
/// the probe timeout.
pub async fn probe(clients: &HttpClients, spec: &ProbeSpec, started: Instant) -> Outcome {
    let Target::Http {
        url,
        method,
        headers,
        body,
        max_body_bytes,
        max_redirects,
        tls,
    } = &spec.target
    else {
        return Outcome::default();
    };
    let mut out = Outcome::default();
    let client = match clients.client(tls) {
        Ok(c) => c,
        Err(e) => {
            out.failure = Some(Failure::new(FailureReason::Tls, e.to_string()));
            return out;
        }
    };
    let mut url: Url = url.clone();
    let mut method: Method = method.clone();
    let mut body = body.clone();
    let response = loop {
        let mut req = client
            .request(method.clone(), url.clone())
            .headers(headers.clone());
        if let Some(b) = &body {
            req = req.body(b.clone());
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                let (reason, detail) = classify_error(&e);
                out.failure = Some(Failure::new(reason, detail));
                return out;
            }
        };
        record_cert(&mut out, &resp);
        let status = resp.status();
        if !status.is_redirection() || status == StatusCode::NOT_MODIFIED {
            break resp;
        }
        let Some(next) = resp
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| url.join(l).ok())
        else {
            break resp;
        };
        if out.redirects >= *max_redirects {
            out.http_status = Some(status.as_u16());
            out.failure = Some(Failure::new(
                FailureReason::Redirects,
                format!("more than {max_redirects} redirects (last to {next})"),
            ));
            return out;
        }
        out.redirects += 1;
        // As browsers do: 303, and 301/302 after a POST, continue with a body-less GET.
        if status == StatusCode::SEE_OTHER
            || (matches!(status.as_u16(), 301 | 302) && method == Method::POST)
        {
            method = Method::GET;
            body = None;
        }
        url = next;
    };
    out.http_status = Some(response.status().as_u16());

    let needs_body = spec.conditions.iter().any(|c| c.needs_body());
    let mut response = response;
    let mut buf: Vec<u8> = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if (buf.len() + chunk.len()) as u64 > *max_body_bytes {
                    out.failure = Some(Failure::new(
                        FailureReason::BodyTooLarge,
                        format!("body is larger than {max_body_bytes} bytes"),
                    ));
                    out.duration = started.elapsed();
                    return out;
                }
                if needs_body {
                    buf.extend_from_slice(&chunk);
                }
            }
            Ok(None) => break,
            Err(e) => {
                let (reason, detail) = classify_error(&e);
                out.failure = Some(Failure::new(reason, format!("reading the body: {detail}")));
                return out;
            }
        }
    }
    out.duration = started.elapsed();
    let obs = Observation {
        status: out.http_status,
        body: needs_body.then_some(buf.as_slice()),
        response_time: out.duration,
        cert_expiry: out.cert_not_after.map(seconds_left),
        connected: true,
        grpc_status: None,
    };
    out.failure = super::check_conditions(&spec.conditions, &obs);
    out
}

/// Seconds from now until `not_after` (negative when already past).
pub fn seconds_left(not_after: i64) -> f64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    not_after as f64 - now
}

fn record_cert(out: &mut Outcome, resp: &reqwest::Response) {
    let Some(der) = resp
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
    else {
        return;
    };
    if let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) {
        let not_after = cert.validity().not_after.timestamp();
        out.cert_not_after = Some(out.cert_not_after.map_or(not_after, |t| t.min(not_after)));
    }
}

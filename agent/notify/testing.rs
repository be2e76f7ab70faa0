//! Test peers: a recording HTTP server answering what each test scripts, a small SMTP
//! server (EHLO, STARTTLS, AUTH, MAIL/RCPT/DATA), and a sample notification.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use parking_lot::Mutex;

use super::{Notification, Status};
use crate::gotemplate::alertmanager::AlertData;

/// One request the peer received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn form(&self) -> Vec<(String, String)> {
        url_decode_form(&self.body)
    }
}

fn url_decode_form(body: &[u8]) -> Vec<(String, String)> {
    let s = std::str::from_utf8(body).expect("utf-8 form");
    let dec = |p: &str| {
        let p = p.replace('+', " ");
        let b = p.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() {
                let h = u8::from_str_radix(&p[i + 1..i + 3], 16).expect("hex");
                out.push(h);
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).expect("utf-8")
    };
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (dec(k), dec(v))
        })
        .collect()
}

/// A scripted answer: status, headers, body.
#[derive(Clone, Debug)]
pub struct Answer(
    pub u16,
    pub Vec<(&'static str, &'static str)>,
    pub &'static str,
);

pub fn ok() -> Answer {
    Answer(200, vec![], "ok")
}

/// An HTTP peer on 127.0.0.1 that records every request and answers from its script in
/// order (the last answer repeats).
pub struct HttpPeer {
    pub url: String,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
}

impl HttpPeer {
    pub async fn start(script: Vec<Answer>) -> HttpPeer {
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let script = Arc::new(Mutex::new((script, 0usize)));
        let rec = requests.clone();
        let handler = move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let rec = rec.clone();
            let script = script.clone();
            async move {
                rec.lock().push(Recorded {
                    method,
                    uri,
                    headers,
                    body,
                });
                let answer = {
                    let mut s = script.lock();
                    let i = s.1.min(s.0.len().saturating_sub(1));
                    s.1 += 1;
                    s.0.get(i).cloned().unwrap_or_else(ok)
                };
                let mut h = HeaderMap::new();
                for (k, v) in answer.1 {
                    h.insert(
                        axum::http::HeaderName::from_static(k),
                        axum::http::HeaderValue::from_static(v),
                    );
                }
                (StatusCode::from_u16(answer.0).expect("status"), h, answer.2)
            }
        };
        let app = axum::Router::new().fallback(handler);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        HttpPeer {
            url: format!("http://{addr}"),
            requests,
        }
    }

    pub fn taken(&self) -> Vec<Recorded> {
        self.requests.lock().clone()
    }
}

/// A URL whose server accepts the request and never answers in time (`delay`).
pub async fn slow_url(delay: std::time::Duration) -> String {
    let app = axum::Router::new().fallback(move || async move {
        tokio::time::sleep(delay).await;
        "late"
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    format!("http://{addr}")
}

/// A URL where nothing listens.
pub async fn dead_url() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("http://{addr}")
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A firing group of `n` HighErrorRate alerts for service checkout.
pub fn notification(n: usize) -> Notification {
    let alerts = (0..n)
        .map(|i| AlertData {
            status: "firing".into(),
            labels: labels(&[
                ("alertname", "HighErrorRate"),
                ("service", "checkout"),
                ("severity", "critical"),
                ("instance", &format!("pod-{i}")),
            ]),
            annotations: labels(&[
                ("summary", "Error rate 12%"),
                (
                    "runbook_url",
                    "https://runbooks.example.com/high-error-rate",
                ),
            ]),
            starts_at: 1_700_000_000_000 + i as i64 * 1000,
            ends_at: None,
            generator_url: "http://vitals:9470/graph?g0.expr=up".into(),
            fingerprint: format!("{:016x}", 0xabc0 + i),
        })
        .collect();
    Notification {
        id: "n-1234".into(),
        receiver: "ops".into(),
        group_key: "{}:{alertname=\"HighErrorRate\", service=\"checkout\"}".into(),
        status: Status::Firing,
        group_labels: labels(&[("alertname", "HighErrorRate"), ("service", "checkout")]),
        common_labels: labels(&[
            ("alertname", "HighErrorRate"),
            ("service", "checkout"),
            ("severity", "critical"),
        ]),
        common_annotations: labels(&[
            ("summary", "Error rate 12%"),
            (
                "runbook_url",
                "https://runbooks.example.com/high-error-rate",
            ),
        ]),
        alerts,
        external_url: "http://vitals:9470".into(),
        truncated: 0,
    }
}

/// The same group, resolved.
pub fn resolved(n: usize) -> Notification {
    let mut r = notification(n);
    r.status = Status::Resolved;
    for (i, a) in r.alerts.iter_mut().enumerate() {
        a.status = "resolved".into();
        a.ends_at = Some(1_700_000_600_000 + i as i64);
    }
    r
}

// The SMTP peer is shared with the black-box tests (`tests/common`), which include the same
// file; it names the TLS server config as `super::ServerTls`.
use crate::net::tls::ServerTls;
#[path = "testing_smtp.rs"]
mod smtp;
pub use smtp::SmtpPeer;

//! Real probe targets on 127.0.0.1: an HTTP server with healthy and broken routes, a TLS
//! server with a certificate made in the test, and a gRPC health server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Starts the HTTP target server; returns its address. Routes:
/// `/ok` 200 `{"status":"UP"}`, `/down` 503, `/wrong` 200 `{"status":"DOWN"}`, `/slow`
/// (answers after 30 s), `/big` (100 MB), `/loop` (redirects to itself), `/redirect` (to
/// `/ok`), `/auth` (200 only with `Authorization: Bearer let-me-in`).
pub async fn http_server() -> SocketAddr {
    let app = Router::new()
        .route(
            "/ok",
            get(|| async {
                json(
                    StatusCode::OK,
                    r#"{"status":"UP","checks":[{"name":"db"}]}"#,
                )
            }),
        )
        .route(
            "/down",
            get(|| async { json(StatusCode::SERVICE_UNAVAILABLE, r#"{"status":"DOWN"}"#) }),
        )
        .route(
            "/wrong",
            get(|| async { json(StatusCode::OK, r#"{"status":"DOWN"}"#) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                json(StatusCode::OK, r#"{"status":"UP"}"#)
            }),
        )
        .route(
            "/big",
            get(|| async {
                let chunk = bytes::Bytes::from(vec![b'x'; 1 << 20]);
                let stream = futures::stream::iter(
                    (0..100).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
                );
                Body::from_stream(stream)
            }),
        )
        .route("/loop", get(|| async { redirect("/loop") }))
        .route("/redirect", get(|| async { redirect("/ok") }))
        .route(
            "/auth",
            get(|headers: HeaderMap| async move {
                match headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                {
                    Some("Bearer let-me-in") => json(StatusCode::OK, r#"{"status":"UP"}"#),
                    _ => json(StatusCode::UNAUTHORIZED, r#"{"status":"DENIED"}"#),
                }
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn json(status: StatusCode, body: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn redirect(to: &'static str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

/// A CA and a server certificate for 127.0.0.1 valid until `not_after`, written as PEM
/// files in `dir`. Returns (ca file, cert chain, key).
pub struct TestPki {
    pub ca_file: PathBuf,
    /// The server certificate and key as PEM files (for servers configured by path).
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub chain: Vec<rustls_pki_types::CertificateDer<'static>>,
    pub key: rustls_pki_types::PrivateKeyDer<'static>,
}

pub fn make_pki(dir: &Path, not_after: time::OffsetDateTime) -> TestPki {
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "vitals test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca = ca_params.self_signed(&ca_key).expect("ca cert");
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);

    let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
    let mut leaf =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("leaf params");
    leaf.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(30);
    leaf.not_after = not_after;
    let cert = leaf.signed_by(&leaf_key, &issuer).expect("leaf cert");

    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).expect("write ca");
    let cert_file = dir.join("cert.pem");
    std::fs::write(&cert_file, cert.pem()).expect("write cert");
    let key_file = dir.join("key.pem");
    std::fs::write(&key_file, leaf_key.serialize_pem()).expect("write key");
    TestPki {
        ca_file,
        cert_file,
        key_file,
        chain: vec![cert.der().clone()],
        key: rustls_pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
    }
}

/// A self-signed certificate for 127.0.0.1 that is its own CA (`CA:TRUE`, as `openssl req
/// -x509` makes by default): `ca_file` and `cert_file` are the same certificate.
pub fn make_self_signed(dir: &Path) -> TestPki {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "self-signed test server");
    let cert = params.self_signed(&key).expect("self-signed cert");
    let cert_file = dir.join("self.pem");
    std::fs::write(&cert_file, cert.pem()).expect("write cert");
    let key_file = dir.join("self-key.pem");
    std::fs::write(&key_file, key.serialize_pem()).expect("write key");
    TestPki {
        ca_file: cert_file.clone(),
        cert_file,
        key_file,
        chain: vec![cert.der().clone()],
        key: rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    }
}

/// A TLS server answering every request with 200 `{"status":"UP"}`.
pub async fn tls_server(pki: &TestPki) -> SocketAddr {
    vitals::net::tls::install_crypto_provider();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(pki.chain.clone(), pki.key.clone_key())
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let body = r#"{"status":"UP"}"#;
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(resp.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

/// A gRPC server over TLS (`pki`'s certificate) with the standard health service, SERVING.
pub async fn grpc_tls_health_server(pki: &TestPki) -> SocketAddr {
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let cert = std::fs::read(&pki.cert_file).expect("cert");
    let key = std::fs::read(&pki.key_file).expect("key");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut server = tonic::transport::Server::builder()
        .tls_config(
            tonic::transport::ServerTlsConfig::new()
                .identity(tonic::transport::Identity::from_pem(cert, key)),
        )
        .expect("server TLS");
    tokio::spawn(async move {
        let _ = server
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await;
        drop(reporter);
    });
    addr
}

/// A gRPC server with the standard health service; the reporter switches its status.
pub async fn grpc_health_server() -> (SocketAddr, tonic_health::server::HealthReporter) {
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await;
    });
    (addr, reporter)
}

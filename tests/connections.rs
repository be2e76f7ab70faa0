//! Black-box: slow and idle connections on one listener do not take the others down, and
//! each listener counts its open connections (`vitals_connections_open{listener}`).

mod common;

use std::time::{Duration, Instant};

use common::Vitals;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const CONFIG: &str = "server: {listen: \"127.0.0.1:0\"}\notlp:\n  grpc_listen: \"127.0.0.1:0\"\n  http_listen: \"127.0.0.1:0\"\n";

/// Headers that never finish, as a slow-loris client sends them.
const PARTIAL: &[u8] = b"POST /v1/metrics HTTP/1.1\r\nHost: vitals\r\nContent-Type: applica";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_while_partial_headers_sit_on_the_otlp_port() {
    let vitals = Vitals::start(CONFIG);
    let (_, otlp_http) = vitals.otlp_addrs();
    let otlp_http = otlp_http.expect("OTLP/HTTP address logged");
    let started = Instant::now();
    let mut held = Vec::with_capacity(500);
    for _ in 0..500 {
        let mut c = TcpStream::connect(otlp_http).await.expect("connect");
        c.write_all(PARTIAL).await.expect("write");
        held.push(c);
    }
    let open = vitals
        .wait_for_sample(
            "vitals_connections_open",
            &[("listener", "otlp_http")],
            |v| v >= 500.0,
        )
        .await;
    assert!(open >= 500.0);

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let health = client
        .get(vitals.url("/health"))
        .send()
        .await
        .expect("GET /health");
    assert_eq!(health.status(), 200);
    // The OTLP port itself still takes requests: 500 is far below its connection cap.
    let export = client
        .post(format!("http://{otlp_http}/v1/metrics"))
        .header("content-type", "application/json")
        .body(r#"{"resourceMetrics":[]}"#)
        .send()
        .await
        .expect("POST /v1/metrics");
    assert_eq!(export.status(), 200);
    drop(held);

    // And the other way round: partial headers on the API port leave OTLP and the API
    // itself answering.
    let api = vitals.addr;
    let mut held = Vec::with_capacity(300);
    for _ in 0..300 {
        let mut c = TcpStream::connect(api).await.expect("connect");
        c.write_all(PARTIAL).await.expect("write");
        held.push(c);
    }
    let export = client
        .post(format!("http://{otlp_http}/v1/metrics"))
        .header("content-type", "application/json")
        .body(r#"{"resourceMetrics":[]}"#)
        .send()
        .await
        .expect("POST /v1/metrics");
    assert_eq!(export.status(), 200);
    let open = vitals
        .wait_for_sample("vitals_connections_open", &[("listener", "api")], |v| {
            v >= 300.0
        })
        .await;
    assert!(open >= 300.0);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    drop(held);
}

/// A reqwest client trusting `pki`'s CA, presenting `identity` (PEM cert + key) if given.
fn tls_client(ca: &[u8], identity: Option<Vec<u8>>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca).expect("ca cert")])
        .timeout(Duration::from_secs(10));
    if let Some(pem) = identity {
        b = b.identity(reqwest::Identity::from_pem(&pem).expect("identity"));
    }
    b.build().expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_tls_with_client_ca_serves_only_clients_with_a_signed_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = common::targets::make_pki(
        dir.path(),
        time::OffsetDateTime::now_utc() + time::Duration::days(30),
    );
    let other = tempfile::tempdir().expect("tempdir");
    let stranger = common::targets::make_self_signed(other.path());
    let tls = format!(
        "tls: {{cert_file: \"{}\", key_file: \"{}\", client_ca_file: \"{}\"}}",
        pki.cert_file.display(),
        pki.key_file.display(),
        pki.ca_file.display()
    );
    let vitals = Vitals::start(&format!(
        "server: {{listen: \"127.0.0.1:0\", {tls}}}\notlp:\n  grpc_listen: \"\"\n  http_listen: \"127.0.0.1:0\"\n  {tls}\n"
    ));
    let (_, otlp_http) = vitals.otlp_addrs();
    let otlp_http = otlp_http.expect("OTLP/HTTP address logged");
    let ca = std::fs::read(&pki.ca_file).expect("ca");
    let pem = |p: &common::targets::TestPki| {
        let mut pem = std::fs::read(&p.cert_file).expect("cert");
        pem.extend(std::fs::read(&p.key_file).expect("key"));
        pem
    };
    // The test CA signed the server's certificate; the same certificate serves as a client's.
    let trusted = tls_client(&ca, Some(pem(&pki)));
    let r = trusted
        .get(format!("https://{}/health", vitals.addr))
        .send()
        .await
        .expect("https with a client certificate");
    assert_eq!(r.status(), 200);
    let r = trusted
        .post(format!("https://{otlp_http}/v1/metrics"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("OTLP over https with a client certificate");
    assert_eq!(r.status(), 200);

    for (what, client) in [
        ("no client certificate", tls_client(&ca, None)),
        (
            "a certificate from another CA",
            tls_client(&ca, Some(pem(&stranger))),
        ),
    ] {
        for url in [
            format!("https://{}/health", vitals.addr),
            format!("https://{otlp_http}/v1/metrics"),
        ] {
            let r = client.get(&url).send().await;
            assert!(r.is_err(), "{what}: {url} answered {r:?}");
        }
    }
    let plain = reqwest::Client::new()
        .get(format!("http://{}/health", vitals.addr))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP answered {plain:?}");
}

#[test]
fn check_config_names_the_tls_field_that_is_wrong() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = common::targets::make_pki(
        dir.path(),
        time::OffsetDateTime::now_utc() + time::Duration::days(30),
    );
    let not_pem = dir.path().join("not-a-ca.pem");
    std::fs::write(&not_pem, "hello").expect("write");
    let config = dir.path().join("vitals.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  listen: \"127.0.0.1:0\"\n  tls:\n    cert_file: \"{}\"\n    key_file: \"{}\"\n    client_ca_file: \"{}\"\n",
            pki.cert_file.display(),
            dir.path().join("missing-key.pem").display(),
            not_pem.display()
        ),
    )
    .expect("write config");
    let out = common::run_cli(&["check", "config", config.to_str().expect("utf-8")], None);
    assert!(!out.status.success(), "{}", out.stdout);
    assert!(out.stderr.contains("server.tls.key_file"), "{}", out.stderr);
    assert!(out.stderr.contains("missing-key.pem"), "{}", out.stderr);
    assert!(
        out.stderr.contains(":5:"),
        "the key_file line: {}",
        out.stderr
    );

    std::fs::write(
        &config,
        format!(
            "server:\n  listen: \"127.0.0.1:0\"\n  tls:\n    cert_file: \"{}\"\n    key_file: \"{}\"\n    client_ca_file: \"{}\"\n",
            pki.cert_file.display(),
            pki.key_file.display(),
            not_pem.display()
        ),
    )
    .expect("write config");
    let out = common::run_cli(&["check", "config", config.to_str().expect("utf-8")], None);
    assert!(!out.status.success(), "{}", out.stdout);
    assert!(
        out.stderr.contains("server.tls.client_ca_file"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("no PEM certificate"), "{}", out.stderr);
}

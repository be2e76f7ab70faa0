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

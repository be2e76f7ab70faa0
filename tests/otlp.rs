//! Black-box: the real binary receiving OTLP from the OpenTelemetry Rust SDK (gRPC and
//! HTTP exporters) and from raw HTTP requests, checked through `/metrics`.

mod common;

use std::io::Write;

use common::{Vitals, find_sample};
use opentelemetry::KeyValue;
use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _, TracerProvider as _};
use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;

/// A meter provider exporting through `exporter`. The reader runs on the test's Tokio
/// runtime: the OTLP exporters need its reactor.
fn meter_provider(
    exporter: opentelemetry_otlp::MetricExporter,
    resource: Resource,
) -> opentelemetry_sdk::metrics::SdkMeterProvider {
    let reader =
        opentelemetry_sdk::metrics::periodic_reader_with_async_runtime::PeriodicReader::builder(
            exporter,
            opentelemetry_sdk::runtime::Tokio,
        )
        .build();
    opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_reader(reader)
        .with_resource(resource)
        .build()
}

/// Flushes an SDK provider off the async workers (its exporters block on the runtime).
async fn flush<P: Send + 'static>(
    provider: P,
    f: impl FnOnce(&P) -> opentelemetry_sdk::error::OTelSdkResult + Send + 'static,
) {
    tokio::task::spawn_blocking(move || f(&provider))
        .await
        .expect("join")
        .expect("flush");
}

fn config(extra: &str) -> String {
    format!(
        "server: {{listen: \"127.0.0.1:0\"}}\notlp:\n  grpc_listen: \"127.0.0.1:0\"\n  http_listen: \"127.0.0.1:0\"\n{extra}"
    )
}

fn resource() -> Resource {
    Resource::builder_empty()
        .with_attributes([
            KeyValue::new("service.name", "checkout"),
            KeyValue::new("service.namespace", "shop"),
            KeyValue::new("service.instance.id", "i-1"),
            KeyValue::new("deployment.environment", "prod"),
        ])
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_metrics_over_grpc_and_http_become_prometheus_series() {
    let vitals = Vitals::start(&config(""));
    let (grpc, http) = vitals.otlp_addrs();
    let (grpc, http) = (grpc.expect("grpc addr"), http.expect("http addr"));

    // gRPC exporter, cumulative (the SDK default).
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_tonic()
        .with_endpoint(format!("http://{grpc}"))
        .with_compression(opentelemetry_otlp::Compression::Gzip)
        .build()
        .expect("grpc exporter");
    let provider = meter_provider(exporter, resource());
    let meter = provider.meter("vitals-test");
    let orders = meter
        .u64_counter("orders.placed")
        .with_unit("{order}")
        .build();
    orders.add(3, &[KeyValue::new("region", "eu")]);
    orders.add(2, &[KeyValue::new("region", "eu")]);
    let latency = meter
        .f64_histogram("http.server.request.duration")
        .with_unit("s")
        .with_boundaries(vec![0.1, 0.5, 1.0])
        .build();
    for v in [0.05, 0.2, 0.3, 2.0] {
        latency.record(v, &[KeyValue::new("http.route", "/orders")]);
    }
    let queue = meter.i64_up_down_counter("queue.depth").build();
    queue.add(7, &[]);
    queue.add(-2, &[]);
    flush(provider.clone(), |p| p.force_flush()).await;

    let who = [
        ("job", "shop/checkout"),
        ("instance", "i-1"),
        ("otel_scope_name", "vitals-test"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&'static str, &'static str)> {
        who.iter().copied().chain(extra.iter().copied()).collect()
    };
    vitals
        .wait_for_sample("orders_placed_total", &with(&[("region", "eu")]), |v| {
            v == 5.0
        })
        .await;
    let text = vitals.metrics().await;
    let bucket = |le| {
        find_sample(
            &text,
            "http_server_request_duration_seconds_bucket",
            &with(&[("http_route", "/orders"), ("le", le)]),
        )
    };
    assert_eq!(bucket("0.1"), Some(1.0), "{text}");
    assert_eq!(bucket("0.5"), Some(3.0));
    assert_eq!(bucket("1"), Some(3.0));
    assert_eq!(bucket("+Inf"), Some(4.0));
    assert_eq!(
        find_sample(
            &text,
            "http_server_request_duration_seconds_count",
            &with(&[])
        ),
        Some(4.0)
    );
    let sum = find_sample(
        &text,
        "http_server_request_duration_seconds_sum",
        &with(&[]),
    )
    .unwrap_or(0.0);
    assert!((sum - 2.55).abs() < 1e-9, "{sum}");
    assert_eq!(find_sample(&text, "queue_depth", &with(&[])), Some(5.0));
    assert_eq!(
        find_sample(
            &text,
            "target_info",
            &[
                ("job", "shop/checkout"),
                ("instance", "i-1"),
                ("deployment_environment", "prod")
            ]
        ),
        Some(1.0)
    );
    assert!(
        text.contains("# TYPE orders_placed_total counter"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE http_server_request_duration_seconds histogram"),
        "{text}"
    );
    provider.shutdown().ok();

    // HTTP/protobuf exporter with delta temporality: vitals accumulates.
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .with_endpoint(format!("http://{http}/v1/metrics"))
        .with_temporality(opentelemetry_sdk::metrics::Temporality::Delta)
        .build()
        .expect("http exporter");
    let provider = meter_provider(
        exporter,
        Resource::builder_empty()
            .with_service_name("billing")
            .build(),
    );
    let jobs = provider.meter("delta").u64_counter("jobs.done").build();
    for _ in 0..3 {
        jobs.add(4, &[]);
        flush(provider.clone(), |p| p.force_flush()).await;
    }
    vitals
        .wait_for_sample("jobs_done_total", &[("job", "billing")], |v| v == 12.0)
        .await;
    provider.shutdown().ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_spans_become_red_metrics_and_logs_become_counts() {
    let vitals = Vitals::start(&config(
        "  log_counters: [{name: payment_errors, match: \"payment failed\"}]\n",
    ));
    let (grpc, http) = vitals.otlp_addrs();
    let (grpc, http) = (grpc.expect("grpc addr"), http.expect("http addr"));

    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("http://{http}/v1/traces"))
        .build()
        .expect("span exporter");
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .with_resource(
            Resource::builder_empty()
                .with_service_name("orders")
                .build(),
        )
        .build();
    let tracer = provider.tracer("vitals-test");
    for i in 0..5 {
        let mut span = tracer
            .span_builder("GET /orders")
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("http.route", "/orders"),
                KeyValue::new("http.response.status_code", if i < 2 { 500 } else { 200 }),
            ])
            .start(&tracer);
        if i < 2 {
            span.set_status(Status::error("boom"));
        }
        span.end();
    }
    flush(provider.clone(), |p| p.force_flush()).await;
    let base = [
        ("service_name", "orders"),
        ("span_name", "GET /orders"),
        ("span_kind", "SPAN_KIND_SERVER"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&'static str, &'static str)> {
        base.iter().copied().chain(extra.iter().copied()).collect()
    };
    vitals
        .wait_for_sample(
            "traces_span_metrics_calls_total",
            &with(&[
                ("status_code", "STATUS_CODE_ERROR"),
                ("http_response_status_code", "500"),
            ]),
            |v| v == 2.0,
        )
        .await;
    vitals
        .wait_for_sample(
            "traces_span_metrics_calls_total",
            &with(&[
                ("status_code", "STATUS_CODE_UNSET"),
                ("http_response_status_code", "200"),
                ("http_route", "/orders"),
            ]),
            |v| v == 3.0,
        )
        .await;
    vitals
        .wait_for_sample(
            "traces_span_metrics_duration_seconds_bucket",
            &with(&[("status_code", "STATUS_CODE_UNSET"), ("le", "+Inf")]),
            |v| v == 3.0,
        )
        .await;
    provider.shutdown().ok();

    let exporter = opentelemetry_otlp::LogExporter::builder()
        .with_tonic()
        .with_endpoint(format!("http://{grpc}"))
        .build()
        .expect("log exporter");
    let provider = opentelemetry_sdk::logs::SdkLoggerProvider::builder()
        .with_simple_exporter(exporter)
        .with_resource(
            Resource::builder_empty()
                .with_service_name("payments")
                .build(),
        )
        .build();
    let logger = provider.logger("vitals-test");
    for (sev, text, body) in [
        (Severity::Error, "ERROR", "payment failed: card declined"),
        (Severity::Error, "ERROR", "payment failed: timeout"),
        (Severity::Info, "INFO", "payment ok"),
    ] {
        let mut rec = logger.create_log_record();
        rec.set_severity_number(sev);
        rec.set_severity_text(text);
        rec.set_body(body.into());
        logger.emit(rec);
    }
    flush(provider.clone(), |p| p.force_flush()).await;
    vitals
        .wait_for_sample(
            "otel_log_records_total",
            &[("job", "payments"), ("severity", "ERROR")],
            |v| v == 2.0,
        )
        .await;
    vitals
        .wait_for_sample(
            "otel_log_records_total",
            &[("job", "payments"), ("severity", "INFO")],
            |v| v == 1.0,
        )
        .await;
    vitals
        .wait_for_sample("payment_errors_total", &[("job", "payments")], |v| v == 2.0)
        .await;
    provider.shutdown().ok();
}

const JSON_METRICS: &str = r#"{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"json-svc"}}]},"scopeMetrics":[{"metrics":[{"name":"big.counter","sum":{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[{"asInt":"9007199254740993","timeUnixNano":"TS"}]}}]}]}]}"#;

fn json_metrics() -> String {
    let ts = common::now_ns().to_string();
    JSON_METRICS.replace("TS", &ts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_errors_follow_the_otlp_specification() {
    let vitals = Vitals::start(&config(
        "  max_message_bytes: 100000\n  auth_token: \"s3cret\"\n",
    ));
    let (_, http) = vitals.otlp_addrs();
    let url = format!("http://{}/v1/metrics", http.expect("http addr"));
    let client = reqwest::Client::new();
    let post = |ct: &'static str, body: Vec<u8>| {
        client
            .post(&url)
            .bearer_auth("s3cret")
            .header("content-type", ct)
            .body(body)
    };

    // JSON with a charset parameter and a 64-bit integer as a string: accepted, answered in JSON.
    let r = post(
        "application/json; charset=utf-8",
        json_metrics().into_bytes(),
    )
    .send()
    .await
    .expect("send");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.text().await.expect("body"), "{}");
    vitals
        .wait_for_sample("big_counter_total", &[("job", "json-svc")], |v| {
            v == 9007199254740992.0
        })
        .await;

    // No token: 401.
    let r = client
        .post(&url)
        .header("content-type", "application/x-protobuf")
        .body(Vec::new())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    // Other media type: 415. Other method: 405.
    assert_eq!(
        post("text/plain", b"x".to_vec())
            .send()
            .await
            .expect("send")
            .status(),
        415
    );
    assert_eq!(client.get(&url).send().await.expect("send").status(), 405);
    // Undecodable protobuf: 400 with a google.rpc.Status body naming the problem.
    let r = post("application/x-protobuf", vec![0xff, 0xff, 0xff])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/x-protobuf");
    let body = r.bytes().await.expect("body");
    let status = <StatusMsg as prost::Message>::decode(body.as_ref()).expect("google.rpc.Status");
    assert_eq!(status.code, 3);
    assert!(
        status.message.contains("cannot decode the metrics request"),
        "{}",
        status.message
    );
    // Bad JSON: 400 with the field path.
    let r = post("application/json", br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"x","gauge":{"dataPoints":[{"asDouble":"abc"}]}}]}]}]}"#.to_vec())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    let text = r.text().await.expect("body");
    assert!(text.contains("dataPoints[0].asDouble"), "{text}");
    // Too large: 413, before decompression...
    assert_eq!(
        post("application/x-protobuf", vec![0u8; 200_000])
            .send()
            .await
            .expect("send")
            .status(),
        413
    );
    // ... and after: a 10 MB gzip bomb of a few KB is refused without inflating it all.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![0u8; 10 << 20]).expect("gzip");
    let bomb = gz.finish().expect("gzip");
    assert!(bomb.len() < 100_000);
    let r = post("application/x-protobuf", bomb)
        .header("content-encoding", "gzip")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 413);
    // A valid gzip body is accepted.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(json_metrics().as_bytes()).expect("gzip");
    let r = post("application/json", gz.finish().expect("gzip"))
        .header("content-encoding", "gzip")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    // Unsupported encoding: 415.
    let r = post("application/json", b"{}".to_vec())
        .header("content-encoding", "br")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 415);

    // The daemon is still serving.
    assert_eq!(
        reqwest::get(vitals.url("/health"))
            .await
            .expect("health")
            .status(),
        200
    );
    let text = vitals.metrics().await;
    for outcome in [
        "unauthorized",
        "unsupported_media_type",
        "bad_request",
        "too_large",
        "ok",
    ] {
        assert!(
            text.contains(&format!("outcome=\"{outcome}\"")),
            "{outcome} not counted:\n{text}"
        );
    }
}

#[derive(Clone, PartialEq, prost::Message)]
struct StatusMsg {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_cap_gives_partial_success() {
    let vitals = Vitals::start(&config("  max_series: 3\n"));
    let (_, http) = vitals.otlp_addrs();
    let url = format!("http://{}/v1/metrics", http.expect("http addr"));
    let ts = common::now_ns().to_string();
    let points: Vec<String> = (0..5)
        .map(|i| format!(r#"{{"asDouble":{i},"timeUnixNano":"{ts}","attributes":[{{"key":"n","value":{{"intValue":"{i}"}}}}]}}"#))
        .collect();
    let body = format!(
        r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"capped"}}}}]}},"scopeMetrics":[{{"metrics":[{{"name":"g","gauge":{{"dataPoints":[{}]}}}}]}}]}}]}}"#,
        points.join(",")
    );
    let r = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = serde_json::from_str(&r.text().await.expect("body")).expect("json");
    assert_eq!(v["partialSuccess"]["rejectedDataPoints"], "2", "{v}");
    assert!(
        v["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap_or("")
            .contains("series_limit"),
        "{v}"
    );
    let text = vitals.metrics().await;
    assert_eq!(
        find_sample(
            &text,
            "vitals_otlp_rejected_points_total",
            &[("signal", "metrics"), ("reason", "series_limit")]
        ),
        Some(2.0),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_all_land() {
    let vitals = Vitals::start(&config(""));
    let (_, http) = vitals.otlp_addrs();
    let url = format!("http://{}/v1/metrics", http.expect("http addr"));
    let mut tasks = Vec::new();
    for sender in 0..8 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            // Each export 1 ms after the last: samples are kept at millisecond resolution.
            let start = common::now_ns();
            for i in 1..=20u64 {
                let ts = start + u128::from(i) * 1_000_000;
                let body = format!(
                    r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"sender-{sender}"}}}}]}},"scopeMetrics":[{{"metrics":[{{"name":"ticks","sum":{{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[{{"asInt":"{i}","timeUnixNano":"{ts}"}}]}}}}]}}]}}]}}"#
                );
                let r = client.post(&url).header("content-type", "application/json").body(body).send().await.expect("send");
                assert_eq!(r.status(), 200);
                assert_eq!(r.text().await.expect("body"), "{}", "nothing may be refused");
            }
        }));
    }
    for t in tasks {
        t.await.expect("sender");
    }
    let text = vitals.metrics().await;
    for sender in 0..8 {
        assert_eq!(
            find_sample(
                &text,
                "ticks_total",
                &[("job", &format!("sender-{sender}"))]
            ),
            Some(20.0),
            "{text}"
        );
    }
    // The gauge follows ingest, not only the periodic expiry (it read 0 with 50k live).
    let live = find_sample(&text, "vitals_otlp_series", &[]).unwrap_or(0.0);
    assert!(live >= 8.0, "vitals_otlp_series {live}: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_listeners_serve_grpc_and_http() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = common::targets::make_pki(
        dir.path(),
        time::OffsetDateTime::now_utc() + time::Duration::days(30),
    );
    let vitals = Vitals::start(&config(&format!(
        "  tls: {{cert_file: \"{}\", key_file: \"{}\"}}\n",
        pki.cert_file.display(),
        pki.key_file.display()
    )));
    let (grpc, http) = vitals.otlp_addrs();
    let (grpc, http) = (grpc.expect("grpc"), http.expect("http"));
    let ca = std::fs::read(&pki.ca_file).expect("ca");

    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("ca cert")])
        .build()
        .expect("client");
    let r = client
        .post(format!("https://{http}/v1/metrics"))
        .header("content-type", "application/json")
        .body(json_metrics())
        .send()
        .await
        .expect("https");
    assert_eq!(r.status(), 200);
    // Plain HTTP to the TLS port does not get through.
    assert!(
        reqwest::Client::new()
            .post(format!("http://{http}/v1/metrics"))
            .body("{}")
            .send()
            .await
            .is_err()
    );

    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
    let channel = tonic::transport::Endpoint::from_shared(format!("https://{grpc}"))
        .expect("endpoint")
        .tls_config(
            tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(&ca)),
        )
        .expect("tls")
        .connect()
        .await
        .expect("connect over TLS");
    let resp = MetricsServiceClient::new(channel)
        .export(ExportMetricsServiceRequest::default())
        .await
        .expect("export over TLS");
    assert!(resp.into_inner().partial_success.is_none());
    vitals
        .wait_for_sample("big_counter_total", &[("job", "json-svc")], |v| v > 0.0)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_resends_to_an_upstream_receiver() {
    let upstream = Vitals::start(&config(""));
    let (_, up_http) = upstream.otlp_addrs();
    let front = Vitals::start(&config(&format!(
        "  forward: {{endpoint: \"http://{}\"}}\n",
        up_http.expect("upstream http")
    )));
    let (front_grpc, front_http) = front.otlp_addrs();
    let r = reqwest::Client::new()
        .post(format!(
            "http://{}/v1/metrics",
            front_http.expect("front http")
        ))
        .header("content-type", "application/json")
        .body(json_metrics())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    // Over gRPC too, with spans.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(format!("http://{}", front_grpc.expect("front grpc")))
        .build()
        .expect("span exporter");
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .with_resource(Resource::builder_empty().with_service_name("fwd").build())
        .build();
    let tracer = provider.tracer("t");
    tracer.start("work").end();
    for v in [&front, &upstream] {
        v.wait_for_sample("big_counter_total", &[("job", "json-svc")], |v| v > 0.0)
            .await;
        v.wait_for_sample(
            "traces_span_metrics_calls_total",
            &[("service_name", "fwd"), ("span_name", "work")],
            |v| v == 1.0,
        )
        .await;
    }
    front
        .wait_for_sample(
            "vitals_otlp_forwarded_total",
            &[("signal", "metrics")],
            |v| v == 1.0,
        )
        .await;
    provider.shutdown().ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exponential_histograms_summaries_and_delta_histograms_are_translated() {
    let vitals = Vitals::start(&config(""));
    let (_, http) = vitals.otlp_addrs();
    let url = format!("http://{}/v1/metrics", http.expect("http addr"));
    let now = common::now_ns();
    let body = |i: u128| {
        let ts = now + i * 1_000_000_000;
        let start = now + (i - 1) * 1_000_000_000;
        format!(
            r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"shapes"}}}}]}},"scopeMetrics":[{{"metrics":[
            {{"name":"rpc.latency","unit":"s","exponentialHistogram":{{"aggregationTemporality":2,"dataPoints":[{{"timeUnixNano":"{ts}","count":"6","sum":7.5,"scale":0,"zeroCount":"1","positive":{{"offset":0,"bucketCounts":["2","3"]}}}}]}}}},
            {{"name":"gc.pause","unit":"ms","summary":{{"dataPoints":[{{"timeUnixNano":"{ts}","count":"10","sum":55,"quantileValues":[{{"quantile":0.5,"value":4}},{{"quantile":0.99,"value":20}}]}}]}}}},
            {{"name":"batch.size","histogram":{{"aggregationTemporality":1,"dataPoints":[{{"startTimeUnixNano":"{start}","timeUnixNano":"{ts}","count":"3","sum":30,"bucketCounts":["1","2"],"explicitBounds":[10]}}]}}}}
            ]}}]}}]}}"#
        )
    };
    let client = reqwest::Client::new();
    for i in 1..=2 {
        let r = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body(i))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.expect("body"), "{}");
    }
    let text = vitals.metrics().await;
    let job = ("job", "shapes");
    // Exponential, scale 0 (base 2): zero bucket le=0, (1,2] → le=2, (2,4] → le=4.
    for (le, want) in [("0", 1.0), ("2", 3.0), ("4", 6.0), ("+Inf", 6.0)] {
        assert_eq!(
            find_sample(&text, "rpc_latency_seconds_bucket", &[job, ("le", le)]),
            Some(want),
            "le={le}\n{text}"
        );
    }
    assert_eq!(
        find_sample(&text, "gc_pause_milliseconds", &[job, ("quantile", "0.99")]),
        Some(20.0),
        "{text}"
    );
    assert_eq!(
        find_sample(&text, "gc_pause_milliseconds_count", &[job]),
        Some(10.0)
    );
    // Delta histogram, sent twice: accumulated.
    assert_eq!(
        find_sample(&text, "batch_size_bucket", &[job, ("le", "10")]),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        find_sample(&text, "batch_size_bucket", &[job, ("le", "+Inf")]),
        Some(6.0)
    );
    assert_eq!(find_sample(&text, "batch_size_sum", &[job]), Some(60.0));
}

/// A gRPC message over `max_message_bytes` is answered RESOURCE_EXHAUSTED without RetryInfo
/// (OTLP clients do not retry it), not tonic's OUT_OF_RANGE (which they retry forever), and
/// counted as refused `too_large`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_message_over_the_limit_is_refused_for_good() {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
    use opentelemetry_proto::tonic::resource::v1::Resource as PbResource;
    let vitals = Vitals::start(&config("  max_message_bytes: 1000\n"));
    let (grpc, _) = vitals.otlp_addrs();
    let mut client = MetricsServiceClient::connect(format!("http://{}", grpc.expect("grpc")))
        .await
        .expect("connect");
    let big = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(PbResource {
                attributes: vec![KeyValue {
                    key: "pad".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("x".repeat(5000))),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }],
    };
    let status = client.export(big).await.expect_err("over the limit");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(status.details().is_empty(), "no RetryInfo: {status:?}");
    // A message within the limit still goes through on the same connection.
    client
        .export(ExportMetricsServiceRequest::default())
        .await
        .expect("small export");
    let text = vitals.metrics().await;
    assert!(
        text.lines()
            .any(|l| l.starts_with("vitals_otlp_requests_total")
                && l.contains("protocol=\"grpc\"")
                && l.contains("too_large")),
        "{text}"
    );
}

/// A resource attribute too long for a label keeps the resource's points but cannot become
/// `target_info`: the answer says so (a partial success with 0 refused, a warning as the
/// OTLP specification allows) instead of a plain 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_attribute_too_long_for_target_info_is_reported() {
    let vitals = Vitals::start(&config(""));
    let (_, http) = vitals.otlp_addrs();
    let url = format!("http://{}/v1/metrics", http.expect("http addr"));
    let ts = common::now_ns();
    let big = "x".repeat(10_000);
    let body = format!(
        r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"wide"}}}},{{"key":"big","value":{{"stringValue":"{big}"}}}}]}},"scopeMetrics":[{{"metrics":[{{"name":"g","gauge":{{"dataPoints":[{{"asDouble":1,"timeUnixNano":"{ts}"}}]}}}}]}}]}}]}}"#
    );
    let r = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = serde_json::from_str(&r.text().await.expect("body")).expect("json");
    assert_eq!(v["partialSuccess"]["rejectedDataPoints"], "0", "{v}");
    let message = v["partialSuccess"]["errorMessage"].as_str().unwrap_or("");
    assert!(
        message.contains("target_info") && message.contains("label_too_long"),
        "{v}"
    );
    let q = vitals.get_json("/api/v1/query?query=g").await;
    assert_eq!(q["data"]["result"][0]["metric"]["job"], "wide", "{q}");
}

/// A point attribute nested past the protobuf decoder's limit (100 messages) is not dropped
/// silently (that merged the point into another series): the point is refused with reason
/// `invalid_attribute` in the partial success; a shallower nested attribute becomes a JSON
/// label value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attributes_nested_too_deep_refuse_their_point() {
    use opentelemetry_proto::tonic::collector::metrics::v1::{
        ExportMetricsServiceRequest, ExportMetricsServiceResponse,
    };
    use opentelemetry_proto::tonic::common::v1::{
        AnyValue, KeyValue as PbKeyValue, KeyValueList, any_value,
    };
    use opentelemetry_proto::tonic::metrics::v1::{
        Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource as PbResource;
    use prost::Message as _;
    let nested = |levels: usize| {
        let mut v = AnyValue {
            value: Some(any_value::Value::StringValue("leaf".into())),
        };
        for _ in 0..levels {
            v = AnyValue {
                value: Some(any_value::Value::KvlistValue(KeyValueList {
                    values: vec![PbKeyValue {
                        key: "k".into(),
                        value: Some(v),
                        ..Default::default()
                    }],
                })),
            };
        }
        v
    };
    let now = common::now_ns() as u64;
    let point = |levels: usize| NumberDataPoint {
        attributes: vec![PbKeyValue {
            key: "deep".into(),
            value: Some(nested(levels)),
            ..Default::default()
        }],
        time_unix_nano: now,
        value: Some(number_data_point::Value::AsDouble(1.0)),
        ..Default::default()
    };
    let req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(PbResource {
                attributes: vec![PbKeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("nest".into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "nested".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        // 3 messages a level: 2 levels decode, 40 pass the limit.
                        data_points: vec![point(2), point(40)],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let vitals = Vitals::start(&config(""));
    let (_, http) = vitals.otlp_addrs();
    let r = reqwest::Client::new()
        .post(format!("http://{}/v1/metrics", http.expect("http addr")))
        .header("content-type", "application/x-protobuf")
        .body(req.encode_to_vec())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let resp = ExportMetricsServiceResponse::decode(r.bytes().await.expect("body")).expect("pb");
    let partial = resp.partial_success.expect("partial success");
    assert_eq!(partial.rejected_data_points, 1, "{partial:?}");
    assert!(
        partial.error_message.contains("invalid_attribute"),
        "{partial:?}"
    );
    let q = vitals.get_json("/api/v1/query?query=nested").await;
    let result = q["data"]["result"].as_array().expect("result");
    assert_eq!(result.len(), 1, "{q}");
    assert_eq!(result[0]["metric"]["deep"], r#"{"k":{"k":"leaf"}}"#, "{q}");
}

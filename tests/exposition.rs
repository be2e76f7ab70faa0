//! Black-box: the exposition endpoints of the real binary, `/metrics` (plain and gzip) and
//! `/federate?match[]=…`, over OTLP histograms posted to it.

mod common;

use std::io::Read;

use common::Vitals;

const SERVICES: usize = 30;

/// Starts vitals and posts one cumulative histogram point for each of [`SERVICES`]
/// services; returns the daemon and the points' timestamp in ms.
async fn vitals_with_histograms() -> (Vitals, u128) {
    let vitals = Vitals::start(
        "server: {listen: \"127.0.0.1:0\"}\notlp:\n  grpc_listen: \"127.0.0.1:0\"\n  http_listen: \"127.0.0.1:0\"\n",
    );
    let (_, http) = vitals.otlp_addrs();
    let url = format!("http://{}/v1/metrics", http.expect("http addr"));
    let ts = common::now_ns();
    let resources: Vec<String> = (0..SERVICES)
        .map(|i| {
            format!(
                r#"{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"svc{i}"}}}}]}},"scopeMetrics":[{{"metrics":[
                {{"name":"batch.size","histogram":{{"aggregationTemporality":2,"dataPoints":[{{"startTimeUnixNano":"{start}","timeUnixNano":"{ts}","count":"3","sum":30,"bucketCounts":["1","1","1"],"explicitBounds":[10,20]}}]}}}}]}}]}}"#,
                start = ts - 1_000_000_000,
            )
        })
        .collect();
    let body = format!(r#"{{"resourceMetrics":[{}]}}"#, resources.join(","));
    let r = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    (vitals, ts / 1_000_000)
}

/// The lines of an exposition that are not the agent's own (changing) metrics.
fn store_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| {
            !l.contains("vitals_") && !l.contains(" process_") && !l.starts_with("process_")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_is_gzipped_when_accepted_and_keeps_each_histogram_point_together() {
    let (vitals, _) = vitals_with_histograms().await;
    let plain = vitals.metrics().await;
    let r = reqwest::Client::new()
        .get(vitals.url("/metrics"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let gz = r.bytes().await.expect("body");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut text)
        .expect("gunzip");
    assert_eq!(store_lines(&text), store_lines(&plain));

    // Each service's point: buckets in order, then _count and _sum, never interleaved.
    let lines: Vec<&str> = plain
        .lines()
        .filter(|l| l.starts_with("batch_size"))
        .collect();
    assert_eq!(lines.len(), SERVICES * 5, "{plain}");
    for point in lines.chunks(5) {
        let names: Vec<&str> = point
            .iter()
            .map(|l| l.split(['{', ' ']).next().unwrap_or(""))
            .collect();
        assert_eq!(
            names,
            [
                "batch_size_bucket",
                "batch_size_bucket",
                "batch_size_bucket",
                "batch_size_count",
                "batch_size_sum"
            ],
            "{point:?}"
        );
        let job = point[0]
            .split("job=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("job");
        assert!(
            point.iter().all(|l| l.contains(&format!("job=\"{job}\""))),
            "{point:?}"
        );
        for (line, le) in point.iter().zip(["10", "20", "+Inf"]) {
            assert!(line.contains(&format!("le=\"{le}\"")), "{point:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federate_answers_the_matching_series_with_their_timestamps() {
    let (vitals, ts_ms) = vitals_with_histograms().await;
    let client = reqwest::Client::new();
    let get = |query: &'static str| {
        let url = vitals.url(&format!("/federate?{query}"));
        let client = client.clone();
        async move {
            let r = client.get(url).send().await.expect("GET");
            (r.status().as_u16(), r.text().await.expect("body"))
        }
    };

    let (status, text) = get(
        "match[]=batch_size_count&match[]=%7B__name__%3D%22batch_size_sum%22,job%3D%22svc7%22%7D",
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(samples.len(), SERVICES + 1, "{text}");
    for line in &samples {
        assert!(line.ends_with(&format!(" {ts_ms}")), "{line}");
    }
    assert!(
        samples.iter().any(|l| l.starts_with("batch_size_sum{")
            && l.contains("job=\"svc7\"")
            && l.contains("} 30 ")),
        "{text}"
    );
    assert_eq!(text.matches("# TYPE batch_size histogram").count(), 1);

    // The agent's own metrics can be federated too.
    let (status, text) = get("match[]=%7B__name__%3D~%22vitals_otlp_.*%22%7D").await;
    assert_eq!(status, 200);
    assert!(text.contains("vitals_otlp_series "), "{text}");

    // A form POST, as Prometheus's API takes it.
    let r = client
        .post(vitals.url("/federate"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("match%5B%5D=batch_size_count%7Bjob%3D%22svc3%22%7D")
        .send()
        .await
        .expect("POST");
    let text = r.text().await.expect("body");
    assert_eq!(
        text.lines().filter(|l| !l.starts_with('#')).count(),
        1,
        "{text}"
    );

    // No selector: nothing, as Prometheus answers.
    assert_eq!(get("").await, (200, String::new()));
    // A bad selector: 400 saying what is wrong.
    let (status, text) = get("match[]=%7Bjob%3D~%22(%22%7D").await;
    assert_eq!(status, 400, "{text}");
    assert!(text.starts_with("bad match[]: "), "{text}");
    let (status, text) = get("match[]=rate(x%5B5m%5D)").await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("not a series selector"), "{text}");
    // The daemon is still serving.
    assert!(vitals.metrics().await.contains("batch_size_count"));
}

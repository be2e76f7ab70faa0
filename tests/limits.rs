//! Black-box: the limits that keep one request from taking the daemon down — queries nested
//! too deeply (stack), queries that make huge labels (memory), and points stamped far in the
//! future (a series blocked for good) — through the real binary.

mod common;

use common::{Vitals, find_sample, run_cli};

fn config() -> String {
    "server: {listen: \"127.0.0.1:0\"}\notlp:\n  grpc_listen: \"127.0.0.1:0\"\n  http_listen: \"127.0.0.1:0\"\n".to_owned()
}

const FORM: &str = "application/x-www-form-urlencoded";

/// A form body, every byte but letters and digits percent-encoded.
fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos()
}

fn gauge_point(name: &str, value: f64, t_ns: u128) -> String {
    format!(
        r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"skewed"}}}}]}},"scopeMetrics":[{{"metrics":[{{"name":"{name}","gauge":{{"dataPoints":[{{"asDouble":{value},"timeUnixNano":"{t_ns}"}}]}}}}]}}]}}]}}"#
    )
}

async fn post_json(url: &str, body: String) -> serde_json::Value {
    let r = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let text = r.text().await.expect("body");
    if text.trim().is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_point_a_year_ahead_is_refused_and_does_not_block_its_series() {
    let vitals = Vitals::start(&config());
    let (_, http) = vitals.otlp_addrs();
    let url = format!("http://{}/v1/metrics", http.expect("http addr"));
    let year_ns = 365 * 24 * 3600 * 1_000_000_000u128;

    let v = post_json(&url, gauge_point("skew_g", 1.0, now_ns() + year_ns)).await;
    assert_eq!(v["partialSuccess"]["rejectedDataPoints"], "1", "{v}");
    assert!(
        v["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap_or("")
            .contains("too_far_in_future"),
        "{v}"
    );

    let v = post_json(&url, gauge_point("skew_g", 2.0, now_ns())).await;
    assert!(
        v.get("partialSuccess")
            .is_none_or(|p| p.get("rejectedDataPoints").is_none_or(|n| n == "0")),
        "{v}"
    );

    let q = vitals.get_json("/api/v1/query?query=skew_g").await;
    let result = &q["data"]["result"];
    assert_eq!(result.as_array().map(Vec::len), Some(1), "{q}");
    assert_eq!(result[0]["value"][1], "2", "{q}");

    let text = vitals.metrics().await;
    assert_eq!(
        find_sample(
            &text,
            "vitals_otlp_rejected_points_total",
            &[("signal", "metrics"), ("reason", "too_far_in_future")]
        ),
        Some(1.0),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_and_explosive_queries_are_refused_and_the_daemon_stays_up() {
    let vitals = Vitals::start(&config());
    let client = reqwest::Client::new();
    let deep = format!("{}1{}", "abs(".repeat(2000), ")".repeat(2000));
    let chain = vec!["1"; 10_000].join("+");
    for (path, query) in [
        ("/api/v1/query", deep.clone()),
        ("/api/v1/query", chain.clone()),
        ("/api/v1/format_query", deep.clone()),
        ("/api/v1/format_query", chain.clone()),
    ] {
        let r = client
            .post(vitals.url(path))
            .header("content-type", FORM)
            .body(form(&[("query", &query)]))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 400, "{path}");
        let v: serde_json::Value =
            serde_json::from_str(&r.text().await.expect("body")).expect("json");
        assert_eq!(v["errorType"], "bad_data", "{v}");
        assert_eq!(
            v["error"],
            "invalid parameter \"query\": query is nested too deeply (more than 512 levels)"
        );
    }
    let r = client
        .post(vitals.url("/api/v1/query_range"))
        .header("content-type", FORM)
        .body(form(&[
            ("query", &deep),
            ("start", "0"),
            ("end", "60"),
            ("step", "15"),
        ]))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);

    // 7 levels of label_replace, each repeating `$1` ten times: refused, not built.
    let mut q = r#"label_replace(vector(1), "a", "0123456789", "", "")"#.to_owned();
    for _ in 0..7 {
        q = format!(
            r#"label_replace({q}, "a", "{}", "a", "(.*)")"#,
            "$1".repeat(10)
        );
    }
    let r = client
        .post(vitals.url("/api/v1/query"))
        .header("content-type", FORM)
        .body(form(&[("query", &q)]))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 422);
    let v: serde_json::Value = serde_json::from_str(&r.text().await.expect("body")).expect("json");
    assert_eq!(v["errorType"], "execution", "{v}");
    assert_eq!(
        v["error"],
        "label_replace() would make a label value longer than 65536 bytes"
    );

    // Still serving.
    let v = vitals.get_json("/api/v1/query?query=1%2B1").await;
    assert_eq!(v["data"]["result"][1], "2", "{v}");
}

#[test]
fn a_rule_file_nested_too_deeply_fails_check_with_a_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let deep = format!("{}up{}", "abs(".repeat(2000), ")".repeat(2000));
    let rules = dir.path().join("deep.yml");
    std::fs::write(
        &rules,
        format!("groups:\n  - name: g\n    rules:\n      - record: r\n        expr: {deep}\n"),
    )
    .expect("write rules");
    let rules = rules.display().to_string();
    let out = run_cli(&["check", "rules", &rules], None);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "{rules}:5:15: groups[0].rules[0].expr: query is nested too deeply (more than 512 levels)"
        )),
        "{}",
        out.stderr
    );

    let config = dir.path().join("vitals.yaml");
    std::fs::write(&config, "rules: {files: [\"deep.yml\"]}\n").expect("write config");
    let out = run_cli(
        &["check", "config", &config.display().to_string()],
        Some(dir.path()),
    );
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("query is nested too deeply (more than 512 levels)"),
        "{}",
        out.stderr
    );
}

//! Black-box: the Prometheus HTTP API of the real binary over a real socket. Samples with
//! known values and timestamps go in through OTLP/HTTP JSON; every endpoint's JSON (and its
//! error shapes) is checked as Prometheus would answer.

mod common;

use std::time::Duration;

use common::{Vitals, run_cli};
use serde_json::{Value, json};

const ROOMS: [(&str, f64, f64); 2] = [("a", 0.0, 1.5), ("b", 100.0, 1.0)];
const POINTS: i64 = 8;
const STEP_MS: i64 = 15_000;

fn config(extra_server: &str) -> String {
    format!(
        "server: {{listen: \"127.0.0.1:0\", api_token: \"tok\"{extra_server}}}\notlp:\n  grpc_listen: \"\"\n  http_listen: \"127.0.0.1:0\"\n"
    )
}

/// A running daemon holding `room_temp{job="thermo",room=a|b}` at `base + i*15s`, i in 0..8:
/// room a is `1.5*i`, room b `100 + i`. Returns the daemon and `base` (ms, whole seconds).
async fn daemon_with_data(extra_server: &str) -> (Vitals, i64) {
    let vitals = Vitals::start(&config(extra_server));
    let (_, http) = vitals.otlp_addrs();
    let url = format!("http://{}/v1/metrics", http.expect("otlp http addr"));
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let base = (now_s - 150) * 1000;
    let client = reqwest::Client::new();
    for i in 0..POINTS {
        let ts_ns = (base + i * STEP_MS) as i128 * 1_000_000;
        let points: Vec<String> = ROOMS
            .iter()
            .map(|(room, offset, slope)| {
                format!(
                    r#"{{"asDouble":{},"timeUnixNano":"{ts_ns}","attributes":[{{"key":"room","value":{{"stringValue":"{room}"}}}}]}}"#,
                    offset + slope * i as f64
                )
            })
            .collect();
        let body = format!(
            r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"thermo"}}}}]}},"scopeMetrics":[{{"metrics":[{{"name":"room.temp","description":"Room temperature.","gauge":{{"dataPoints":[{}]}}}}]}}]}}]}}"#,
            points.join(",")
        );
        let r = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("post otlp");
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    }
    // Wait until every point is queryable.
    let last = base + (POINTS - 1) * STEP_MS;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, v) = get(
            &vitals,
            &format!(
                "/api/v1/query?query=sum(count_over_time(room_temp[10m]))&time={}",
                last / 1000
            ),
        )
        .await;
        if v["data"]["result"][0]["value"][1] == json!((POINTS * 2).to_string()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "data never became queryable: {v}\n{}",
            vitals.logs().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (vitals, base)
}

async fn get(vitals: &Vitals, path: &str) -> (u16, Value) {
    let r = reqwest::get(vitals.url(path)).await.expect("GET");
    decode(r).await
}

async fn post_form(vitals: &Vitals, path: &str, form: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(vitals.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned())
        .send()
        .await
        .expect("POST");
    decode(r).await
}

async fn decode(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = r.text().await.expect("body");
    assert_eq!(ct, "application/json", "{text}");
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, v)
}

fn secs(ms: i64) -> String {
    if ms % 1000 == 0 {
        (ms / 1000).to_string()
    } else {
        format!("{}.{:03}", ms / 1000, ms % 1000)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instant_and_range_queries_answer_in_prometheus_json() {
    let (vitals, base) = daemon_with_data("").await;
    let last = base + (POINTS - 1) * STEP_MS;

    // Instant query, exact bytes: timestamps as seconds with milliseconds, values as strings.
    let t = last + 500;
    let r = reqwest::get(vitals.url(&format!(
        "/api/v1/query?query=room_temp%7Broom%3D%22a%22%7D&time={}",
        secs(t)
    )))
    .await
    .expect("GET");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await.expect("body"),
        format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{"__name__":"room_temp","job":"thermo","room":"a"}},"value":[{}.500,"10.5"]}}]}}}}"#,
            last / 1000
        )
    );

    // Clients that accept gzip (Grafana's and promtool's do) get the same answer compressed.
    let r = reqwest::Client::new()
        .get(vitals.url(&format!(
            "/api/v1/query_range?query=room_temp&start={}&end={}&step=1",
            secs(base),
            secs(last)
        )))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("GET gzip");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let gz = r.bytes().await.expect("body");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text)
        .expect("gunzip");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        v["data"]["result"][0]["values"].as_array().map(Vec::len),
        Some(((last - base) / 1000 + 1) as usize),
        "{text}"
    );

    // RFC 3339 time, POST form, scalar result.
    let (status, v) = post_form(
        &vitals,
        "/api/v1/query",
        "query=scalar(sum(room_temp))&time=2015-07-01T20:10:51.781Z",
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["data"],
        json!({"resultType": "scalar", "result": [1435781451.781, "NaN"]})
    );

    // Range query over POST: one matrix series per room, a point per step.
    let form = format!(
        "query=room_temp&start={}&end={}&step=30s",
        secs(base),
        secs(base + 60_000)
    );
    let (status, v) = post_form(&vitals, "/api/v1/query_range", &form).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["resultType"], "matrix");
    let b0 = base / 1000;
    assert_eq!(
        v["data"]["result"],
        json!([
            {"metric": {"__name__": "room_temp", "job": "thermo", "room": "a"},
             "values": [[b0, "0"], [b0 + 30, "3"], [b0 + 60, "6"]]},
            {"metric": {"__name__": "room_temp", "job": "thermo", "room": "b"},
             "values": [[b0, "100"], [b0 + 30, "102"], [b0 + 60, "104"]]}
        ])
    );
    // Step as float seconds, GET.
    let (_, v2) = get(
        &vitals,
        &format!(
            "/api/v1/query_range?query=room_temp&start={}&end={}&step=30",
            secs(base),
            secs(base + 60_000)
        ),
    )
    .await;
    assert_eq!(v2["data"], v["data"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_labels_values_and_metadata() {
    let (vitals, base) = daemon_with_data("").await;

    let (status, v) = get(&vitals, "/api/v1/series?match[]=room_temp").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["data"],
        json!([
            {"__name__": "room_temp", "job": "thermo", "room": "a"},
            {"__name__": "room_temp", "job": "thermo", "room": "b"}
        ])
    );
    // Repeated match[] in a POST form, a time window, and a limit.
    let (_, v) = post_form(
        &vitals,
        "/api/v1/series",
        &format!(
            "match[]=room_temp%7Broom%3D%22b%22%7D&match[]=room_temp&start={}&end={}&limit=1",
            secs(base),
            secs(base + 1000)
        ),
    )
    .await;
    assert_eq!(v["data"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["warnings"], json!(["results truncated due to limit"]));
    // A window before the data: no series.
    let (_, v) = get(
        &vitals,
        &format!("/api/v1/series?match[]=room_temp&end={}", secs(base - 1000)),
    )
    .await;
    assert_eq!(v["data"], json!([]));

    let (_, v) = get(&vitals, "/api/v1/labels?match[]=room_temp").await;
    assert_eq!(v["data"], json!(["__name__", "job", "room"]));
    let (_, v) = post_form(&vitals, "/api/v1/labels", "").await;
    let names = v["data"].as_array().cloned().unwrap_or_default();
    assert!(names.contains(&json!("room")), "{v}");

    let (_, v) = get(&vitals, "/api/v1/label/room/values").await;
    assert_eq!(v["data"], json!(["a", "b"]));
    let (_, v) = get(&vitals, "/api/v1/label/__name__/values").await;
    assert!(
        v["data"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("room_temp"))),
        "{v}"
    );
    let (_, v) = get(
        &vitals,
        "/api/v1/label/room/values?match[]=room_temp%7Broom!%3D%22a%22%7D",
    )
    .await;
    assert_eq!(v["data"], json!(["b"]));

    let (status, v) = get(&vitals, "/api/v1/metadata?metric=room_temp").await;
    assert_eq!(status, 200);
    assert_eq!(
        v["data"],
        json!({"room_temp": [{"type": "gauge", "help": "Room temperature.", "unit": ""}]})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_have_prometheus_shapes_and_statuses() {
    let (vitals, _) = daemon_with_data("").await;
    let cases: [(&str, u16, &str, &str); 8] = [
        (
            "/api/v1/query?query=up&time=abc",
            400,
            "bad_data",
            "invalid parameter \"time\": Invalid time value for 'time': cannot parse \"abc\" to a valid timestamp",
        ),
        (
            "/api/v1/query_range?query=up&start=10&end=5&step=1",
            400,
            "bad_data",
            "invalid parameter \"end\": end timestamp must not be before start time",
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=10&step=-1",
            400,
            "bad_data",
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=86400&step=1",
            400,
            "bad_data",
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ),
        (
            "/api/v1/series",
            400,
            "bad_data",
            "no match[] parameter provided",
        ),
        (
            "/api/v1/query?query=room_temp&timeout=0",
            503,
            "timeout",
            "query timed out in expression evaluation",
        ),
        (
            "/api/v1/query?query=room_temp%20*%20on(job)%20room_temp",
            422,
            "execution",
            "",
        ),
        (
            "/api/v1/no_such_endpoint",
            404,
            "not_found",
            "unknown API endpoint /api/v1/no_such_endpoint",
        ),
    ];
    for (path, status, kind, message) in cases {
        let (got, v) = get(&vitals, path).await;
        assert_eq!(got, status, "{path}: {v}");
        assert_eq!(v["status"], "error", "{path}");
        assert_eq!(v["errorType"], kind, "{path}: {v}");
        if !message.is_empty() {
            assert_eq!(v["error"], message, "{path}");
        }
    }
    // A parse error names the parameter; POST forms are read the same way.
    let (got, v) = post_form(&vitals, "/api/v1/query", "query=sum(").await;
    assert_eq!(got, 400);
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("invalid parameter \"query\": ")),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_alerts_status_and_exemplars_are_valid_for_grafana() {
    let (vitals, _) = daemon_with_data(", query_timeout: 45s, query_max_samples: 1000").await;

    let (_, v) = get(&vitals, "/api/v1/rules").await;
    assert_eq!(v["status"], "success");
    assert!(v["data"]["groups"].is_array(), "{v}");
    let (_, v) = get(&vitals, "/api/v1/alerts").await;
    assert!(v["data"]["alerts"].is_array(), "{v}");
    let (status, v) = get(&vitals, "/api/v1/rules?type=everything").await;
    assert_eq!(status, 400);
    assert_eq!(
        v["error"],
        "invalid parameter \"type\": not supported value \"everything\""
    );

    let (_, v) = get(&vitals, "/api/v1/status/buildinfo").await;
    assert_eq!(v["data"]["version"], env!("CARGO_PKG_VERSION"));
    for field in ["revision", "branch", "buildUser", "buildDate", "goVersion"] {
        assert!(v["data"][field].is_string(), "{field}: {v}");
    }
    // Configured limits are what the server reports (and applies).
    let (_, v) = get(&vitals, "/api/v1/status/flags").await;
    assert_eq!(v["data"]["query.timeout"], "45s", "{v}");
    assert_eq!(v["data"]["query.max-samples"], "1000");
    let (_, v) = get(&vitals, "/api/v1/status/runtimeinfo").await;
    assert_eq!(v["data"]["reloadConfigSuccess"], true, "{v}");
    assert_eq!(v["data"]["storageRetention"], "15m");

    // Browsers (Grafana's direct access) get Prometheus's default CORS answers.
    let client = reqwest::Client::new();
    let r = client
        .request(reqwest::Method::OPTIONS, vitals.url("/api/v1/query"))
        .header("origin", "http://grafana.example")
        .send()
        .await
        .expect("OPTIONS");
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert_eq!(
        r.headers()["access-control-allow-methods"],
        "GET, POST, OPTIONS"
    );
    let r = client
        .get(vitals.url("/api/v1/labels"))
        .header("origin", "http://grafana.example")
        .send()
        .await
        .expect("GET");
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let r = client
        .get(vitals.url("/api/v1/labels"))
        .send()
        .await
        .expect("GET");
    assert!(r.headers().get("access-control-allow-origin").is_none());

    let (status, v) = post_form(&vitals, "/api/v1/query_exemplars", "query=room_temp").await;
    assert_eq!(status, 200);
    assert_eq!(v, json!({"status": "success", "data": []}));
    let (_, v) = get(&vitals, "/api/v1/format_query?query=sum(room_temp)by(room)").await;
    assert_eq!(v["data"], "sum by (room) (room_temp)");

    // A reload applies new limits.
    std::fs::write(
        vitals.config_path(),
        config(", query_timeout: 1m30s, query_max_samples: 2000"),
    )
    .expect("write config");
    let r = reqwest::Client::new()
        .post(vitals.url("/-/reload"))
        .bearer_auth("tok")
        .send()
        .await
        .expect("reload");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let (_, v) = get(&vitals, "/api/v1/status/flags").await;
    assert_eq!(v["data"]["query.timeout"], "1m30s", "{v}");
    assert_eq!(v["data"]["query.max-samples"], "2000");
}

#[test]
fn query_limits_are_validated_in_the_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("vitals.yaml");
    std::fs::write(
        &path,
        "server:\n  query_timeout: 0s\n  query_max_samples: 0\n",
    )
    .expect("write");
    let out = run_cli(&["check", "config", &path.display().to_string()], None);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("server.query_timeout: must be longer than 0s"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("server.query_max_samples: must be at least 1"),
        "{}",
        out.stderr
    );
}

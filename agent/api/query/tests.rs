//! Handler tests: the real handlers over an in-memory store, without a socket.

use super::*;
use crate::rules::status::{
    ActiveAlert, AlertState, GroupStatus, RuleHealth, RuleKind, RuleStatus, RulesSnapshot,
};
use crate::store::StoreConfig;
use axum::http::Request as HttpRequest;
use prometheus::Registry;
use tokio::sync::mpsc;

fn state() -> Arc<ApiState> {
    let registry = Registry::new();
    let store = Store::new(
        StoreConfig {
            retention: Duration::from_secs(3600),
            stale_after: Duration::from_secs(3600),
            max_series: 10_000,
        },
        &registry,
    )
    .map(Arc::new)
    .unwrap_or_else(|e| panic!("store: {e}"));
    let t0 = 1_700_000_000_000;
    for (job, inst, base) in [
        ("api", "a:1", 1.0),
        ("api", "a:2", 10.0),
        ("web", "w:1", 100.0),
    ] {
        let labels = Labels::new([("__name__", "up_total"), ("job", job), ("instance", inst)]);
        for i in 0..10 {
            store
                .append(&labels, t0 + i * 15_000, base + i as f64)
                .unwrap_or_else(|e| panic!("append: {e}"));
        }
    }
    store.set_metadata(
        "up_total",
        crate::store::MetricMeta {
            kind: MetricType::Counter,
            help: "Ups.".into(),
            unit: String::new(),
        },
    );
    let (tx, _rx) = mpsc::channel(1);
    ApiState::new(store, registry, crate::config::Secret::default(), tx)
        .unwrap_or_else(|e| panic!("state: {e}"))
}

fn get(uri: &str) -> Request {
    HttpRequest::builder()
        .uri(uri)
        .body(Body::empty())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn post(uri: &str, form: &str) -> Request {
    HttpRequest::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn body(r: Response) -> (u16, String) {
    let status = r.status().as_u16();
    let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn json(r: Response) -> (u16, serde_json::Value) {
    let (status, text) = body(r).await;
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, v)
}

#[tokio::test]
async fn instant_vector_text_is_exactly_prometheus_shape() {
    let st = state();
    let r = query(
        State(st.clone()),
        get("/query?query=up_total%7Bjob%3D%22web%22%7D&time=1700000135.5"),
    )
    .await;
    let (status, text) = body(r).await;
    assert_eq!(status, 200);
    assert_eq!(
        text,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up_total","instance":"w:1","job":"web"},"value":[1700000135.500,"109"]}]}}"#
    );
}

#[tokio::test]
async fn scalar_string_and_matrix_results() {
    let st = state();
    let (_, v) = json(query(State(st.clone()), get("/query?query=1%2F3&time=100")).await).await;
    assert_eq!(
        v["data"],
        serde_json::json!({"resultType":"scalar","result":[100,"0.3333333333333333"]})
    );
    let (_, v) =
        json(query(State(st.clone()), get("/query?query=%22hi%22&time=100.25")).await).await;
    assert_eq!(
        v["data"],
        serde_json::json!({"resultType":"string","result":[100.25,"hi"]})
    );
    let (_, text) = body(
        query(
            State(st.clone()),
            get("/query?query=up_total%7Binstance%3D%22a%3A1%22%7D%5B30s%5D&time=1700000135"),
        )
        .await,
    )
    .await;
    assert!(
        text.contains(r#""values":[[1700000120,"9"],[1700000135,"10"]]"#),
        "{text}"
    );
    let (_, v) = json(query(State(st), get("/query?query=-1%2F0&time=1")).await).await;
    assert_eq!(v["data"]["result"][1], "-Inf");
}

#[tokio::test]
async fn range_query_over_post_form() {
    let st = state();
    let r = query_range(
        State(st),
        post(
            "/query_range",
            "query=sum+by+(job)(up_total)&start=1700000000&end=1700000030&step=15s",
        ),
    )
    .await;
    let (status, v) = json(r).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["resultType"], "matrix");
    assert_eq!(
        v["data"]["result"][0],
        serde_json::json!({"metric":{"job":"api"},"values":[[1700000000,"11"],[1700000015,"13"],[1700000030,"15"]]})
    );
    assert_eq!(
        v["data"]["result"][1]["metric"],
        serde_json::json!({"job":"web"})
    );
}

#[tokio::test]
async fn range_query_errors_are_prometheus_errors() {
    let st = state();
    let cases = [
        (
            "query=up&start=10&end=5&step=1",
            "invalid parameter \"end\": end timestamp must not be before start time",
        ),
        (
            "query=up&start=0&end=5&step=0",
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ),
        (
            "query=up&start=0&end=5&step=x",
            "invalid parameter \"step\": cannot parse \"x\" to a valid duration",
        ),
        (
            "query=up&start=0&end=11001&step=1",
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ),
        (
            "query=up&start=abc&end=5&step=1",
            "invalid parameter \"start\": cannot parse \"abc\" to a valid timestamp",
        ),
        (
            "query=up%5B5m%5D&start=0&end=5&step=1",
            "invalid parameter \"query\": invalid expression type \"range vector\" for range query, must be Scalar or instant Vector",
        ),
    ];
    for (q, msg) in cases {
        let (status, v) =
            json(query_range(State(st.clone()), get(&format!("/query_range?{q}"))).await).await;
        assert_eq!(status, 400, "{q}: {v}");
        assert_eq!(v["status"], "error");
        assert_eq!(v["errorType"], "bad_data");
        assert_eq!(v["error"], msg, "{q}");
    }
}

#[tokio::test]
async fn instant_query_errors() {
    let st = state();
    let (status, v) = json(query(State(st.clone()), get("/query?query=up&time=abc")).await).await;
    assert_eq!(status, 400);
    assert_eq!(
        v["error"],
        "invalid parameter \"time\": Invalid time value for 'time': cannot parse \"abc\" to a valid timestamp"
    );
    let (status, v) = json(query(State(st.clone()), get("/query?query=sum(")).await).await;
    assert_eq!(status, 400);
    assert!(
        v["error"]
            .as_str()
            .unwrap_or("")
            .starts_with("invalid parameter \"query\": "),
        "{v}"
    );
    let (status, v) =
        json(query(State(st.clone()), get("/query?query=up&timeout=soon")).await).await;
    assert_eq!(status, 400);
    assert_eq!(
        v["error"],
        "invalid parameter \"timeout\": cannot parse \"soon\" to a valid duration"
    );
    // Evaluation errors are `execution` (422).
    let (status, v) = json(
        query(
            State(st),
            get("/query?query=up_total%20*%20on(job)%20up_total&time=1700000100"),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["errorType"], "execution");
}

#[tokio::test]
async fn a_query_past_its_timeout_answers_503() {
    let st = state();
    st.set_query_limits(Duration::ZERO, 1000);
    let (status, v) =
        json(query(State(st), get("/query?query=up_total&time=1700000100")).await).await;
    assert_eq!(status, 503);
    assert_eq!(v["errorType"], "timeout");
    assert_eq!(v["error"], "query timed out in expression evaluation");
}

#[tokio::test]
async fn a_query_over_the_sample_limit_answers_422() {
    let st = state();
    st.set_query_limits(Duration::from_secs(60), 5);
    let (status, v) = json(
        query(
            State(st.clone()),
            get("/query?query=sum(rate(up_total[5m]))&time=1700000140"),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["errorType"], "execution");
    assert_eq!(
        v["error"],
        "query processing would load too many samples into memory in query execution"
    );
    // Under the limit, the same engine answers.
    st.set_query_limits(Duration::from_secs(60), 1000);
    let (status, _) = json(
        query(
            State(st),
            get("/query?query=sum(rate(up_total[5m]))&time=1700000140"),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn series_labels_and_values() {
    let st = state();
    let (status, v) = json(
        series(
            State(st.clone()),
            get("/series?match[]=up_total%7Bjob%3D%22api%22%7D"),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        v["data"],
        serde_json::json!([
            {"__name__":"up_total","instance":"a:1","job":"api"},
            {"__name__":"up_total","instance":"a:2","job":"api"}
        ])
    );
    // Two selectors are merged without duplicates; limit truncates with a warning.
    let (_, v) = json(
        series(
            State(st.clone()),
            post("/series", "match[]=up_total&match[]={job=\"web\"}&limit=2"),
        )
        .await,
    )
    .await;
    assert_eq!(v["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        v["warnings"],
        serde_json::json!(["results truncated due to limit"])
    );
    // Outside the window: nothing.
    let (_, v) =
        json(series(State(st.clone()), get("/series?match[]=up_total&end=1000")).await).await;
    assert_eq!(v["data"], serde_json::json!([]));
    let (status, v) = json(series(State(st.clone()), get("/series")).await).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"], "no match[] parameter provided");
    let (status, v) = json(
        series(
            State(st.clone()),
            get("/series?match[]=%7Bjob%3D~%22.*%22%7D"),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        v["error"],
        "invalid parameter \"match[]\": match[] must contain at least one non-empty matcher"
    );

    let (_, v) = json(labels(State(st.clone()), get("/labels")).await).await;
    assert_eq!(
        v["data"],
        serde_json::json!(["__name__", "instance", "job"])
    );
    let (_, v) = json(labels(State(st.clone()), get("/labels?match[]=nothing_here")).await).await;
    assert_eq!(v["data"], serde_json::json!([]));

    let values = |q: &'static str| {
        let st = st.clone();
        async move {
            let (path, query) = q.split_once('?').unwrap_or((q, ""));
            let name = path
                .trim_start_matches("/label/")
                .trim_end_matches("/values")
                .to_owned();
            json(label_values(State(st), Path(name), get(&format!("{path}?{query}"))).await).await
        }
    };
    let (_, v) = values("/label/job/values?").await;
    assert_eq!(v["data"], serde_json::json!(["api", "web"]));
    let (_, v) = values("/label/instance/values?match[]=%7Bjob%3D%22api%22%7D&limit=1").await;
    assert_eq!(v["data"], serde_json::json!(["a:1"]));
    assert_eq!(v["warnings"][0], "results truncated due to limit");
    let (_, v) = values("/label/__name__/values?").await;
    assert_eq!(v["data"], serde_json::json!(["up_total"]));
    let (status, v) = values("/label/U__/values?").await;
    assert_eq!(status, 400);
    assert_eq!(v["error"], "invalid label name: \"\"");
}

#[test]
fn utf8_label_names_unescape_as_prometheus_does() {
    assert_eq!(unescape_name("job"), "job");
    assert_eq!(unescape_name("U__a_2e_b"), "a.b");
    assert_eq!(unescape_name("U__a__b"), "a_b");
    assert_eq!(unescape_name("U__x_zz_"), "U__x_zz_");
    assert_eq!(unescape_name("U__x_"), "U__x_");
    assert_eq!(unescape_name("U__"), "");
}

#[tokio::test]
async fn metadata_shape_and_limits() {
    let st = state();
    let (_, v) = json(metadata(State(st.clone()), get("/metadata")).await).await;
    assert_eq!(
        v["data"],
        serde_json::json!({"up_total":[{"type":"counter","help":"Ups.","unit":""}]})
    );
    let (_, v) = json(metadata(State(st.clone()), get("/metadata?limit=0")).await).await;
    assert_eq!(v["data"], serde_json::json!({}));
    let (_, v) = json(metadata(State(st.clone()), get("/metadata?metric=other")).await).await;
    assert_eq!(v["data"], serde_json::json!({}));
    let (status, v) = json(metadata(State(st), get("/metadata?limit=many")).await).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"], "limit must be a number");
}

#[tokio::test]
async fn rules_and_alerts_show_the_published_snapshot() {
    let st = state();
    let (_, v) = json(rules_endpoint(State(st.clone()), get("/rules")).await).await;
    assert_eq!(
        v,
        serde_json::json!({"status":"success","data":{"groups":[]}})
    );
    let (_, v) = json(alerts_endpoint(State(st.clone())).await).await;
    assert_eq!(
        v,
        serde_json::json!({"status":"success","data":{"alerts":[]}})
    );

    let alert = ActiveAlert {
        labels: Labels::new([("alertname", "Down"), ("job", "api")]),
        annotations: Labels::new([("summary", "api <down> & out")]),
        state: AlertState::Pending,
        active_at_ms: 1_700_000_000_000,
        fired_at_ms: None,
        keep_firing_since_ms: None,
        value: 1.0,
    };
    st.rules_view().publish(RulesSnapshot {
        groups: vec![GroupStatus {
            name: "g".into(),
            file: "f.yml".into(),
            interval_ms: 30_000,
            limit: 0,
            rules: vec![RuleStatus {
                name: "Down".into(),
                query: "up == 0".into(),
                labels: Labels::default(),
                kind: RuleKind::Alerting {
                    for_ms: 300_000,
                    keep_firing_for_ms: 0,
                    annotations: Labels::default(),
                    alerts: vec![alert],
                },
                health: RuleHealth::Ok,
                last_error: None,
                last_evaluation_ms: Some(1_700_000_000_000),
                evaluation_seconds: 0.25,
            }],
            last_evaluation_ms: Some(1_700_000_000_000),
            evaluation_seconds: 0.25,
        }],
    });
    let (_, text) = body(alerts_endpoint(State(st.clone())).await).await;
    assert_eq!(
        text,
        r#"{"status":"success","data":{"alerts":[{"labels":{"alertname":"Down","job":"api"},"annotations":{"summary":"api \u003cdown\u003e \u0026 out"},"state":"pending","activeAt":"2023-11-14T22:13:20Z","value":"1e+00"}]}}"#
    );
    let (_, v) = json(rules_endpoint(State(st.clone()), get("/rules?type=alert")).await).await;
    let rule = &v["data"]["groups"][0]["rules"][0];
    assert_eq!(rule["state"], "pending");
    assert_eq!(rule["duration"], 300.0);
    assert_eq!(v["data"]["groups"][0]["interval"], 30.0);
    let (_, v) = json(rules_endpoint(State(st.clone()), get("/rules?type=record")).await).await;
    assert_eq!(v["data"]["groups"], serde_json::json!([]));
    let (status, _) = json(rules_endpoint(State(st), get("/rules?type=x")).await).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn exemplars_format_and_status() {
    let st = state();
    let (status, v) = json(exemplars(get("/query_exemplars?query=up_total")).await).await;
    assert_eq!(status, 200);
    assert_eq!(v, serde_json::json!({"status":"success","data":[]}));
    let (status, _) = body(exemplars(get("/query_exemplars?query=1%2B1")).await).await;
    assert_eq!(status, 204);
    let (status, v) = json(exemplars(get("/query_exemplars?query=up&start=10&end=1")).await).await;
    assert_eq!(status, 400);
    assert_eq!(
        v["error"],
        "end timestamp must not be before start timestamp"
    );

    let (_, v) = json(format_query(get("/format_query?query=sum%28up%29by%28job%29")).await).await;
    assert_eq!(v["data"], "sum by (job) (up)");

    let (_, v) = json(buildinfo().await).await;
    assert_eq!(v["data"]["version"], env!("CARGO_PKG_VERSION"));
    for field in ["revision", "branch", "buildUser", "buildDate", "goVersion"] {
        assert!(v["data"][field].is_string(), "{field}");
    }
    assert!(v["data"].get("features").is_none());
    st.set_query_limits(Duration::from_secs(90), 1234);
    let (_, v) = json(flags(State(st.clone())).await).await;
    assert_eq!(v["data"]["query.timeout"], "1m30s");
    assert_eq!(v["data"]["query.max-samples"], "1234");
    assert_eq!(v["data"]["storage.tsdb.retention.time"], "1h");
    st.record_reload(false);
    let (_, v) = json(runtimeinfo(State(st)).await).await;
    assert_eq!(v["data"]["reloadConfigSuccess"], false);
    assert_eq!(v["data"]["storageRetention"], "1h");
    assert!(
        v["data"]["startTime"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z'))
    );
}

#[tokio::test]
async fn unknown_paths_are_json_404s() {
    let (status, v) = json(not_found(get("/nope")).await).await;
    assert_eq!(status, 404);
    assert_eq!(
        v,
        serde_json::json!({"status":"error","errorType":"not_found","error":"unknown API endpoint /api/v1/nope"})
    );
}

#[test]
fn a_large_matrix_encodes_in_one_pass() {
    let series: Vec<(Labels, Vec<crate::store::Sample>)> = (0..10_000)
        .map(|i| {
            (
                Labels::new([("__name__", "m".to_owned()), ("i", i.to_string())]),
                (0..10)
                    .map(|j| crate::store::Sample {
                        t: j * 1000,
                        v: j as f64,
                    })
                    .collect(),
            )
        })
        .collect();
    let mut out = Vec::new();
    write_result(&mut out, &Value::Matrix(series), 0);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap_or_default();
    assert_eq!(v["result"].as_array().map(Vec::len), Some(10_000));
    assert_eq!(v["result"][9_999]["values"][9], serde_json::json!([9, "9"]));
}

#[tokio::test]
async fn queries_wait_for_a_free_slot_within_their_timeout() {
    let st = state();
    let held = st
        .query_gate
        .clone()
        .acquire_many_owned(MAX_CONCURRENT_QUERIES as u32)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, v) =
        json(query(State(st.clone()), get("/query?query=1&timeout=50ms")).await).await;
    assert_eq!(status, 503);
    assert_eq!(v["error"], "query timed out in query queue");
    drop(held);
    let (status, _) = json(query(State(st), get("/query?query=1&timeout=5s")).await).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn queries_nested_too_deeply_answer_400_on_every_endpoint() {
    let st = state();
    let deep = format!("{}up_total{}", "abs(".repeat(2000), ")".repeat(2000));
    let chain = vec!["1"; 10_000].join("%2B");
    let expected = format!(
        "invalid parameter \"query\": query is nested too deeply (more than {} levels)",
        crate::promql::MAX_EXPR_DEPTH
    );
    let check = |(status, v): (u16, serde_json::Value)| {
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["status"], "error");
        assert_eq!(v["errorType"], "bad_data");
        assert!(
            v["error"]
                .as_str()
                .is_some_and(|e| e.contains("nested too deeply (more than 512 levels)")),
            "{v}"
        );
        v
    };
    let v = check(json(query(State(st.clone()), get(&format!("/query?query={deep}"))).await).await);
    assert_eq!(v["error"], expected.as_str());
    check(json(query(State(st.clone()), post("/query", &format!("query={chain}"))).await).await);
    check(
        json(
            query_range(
                State(st.clone()),
                get(&format!(
                    "/query_range?query={deep}&start=1700000000&end=1700000100&step=15"
                )),
            )
            .await,
        )
        .await,
    );
    check(json(format_query(get(&format!("/format_query?query={chain}"))).await).await);
    check(json(exemplars(get(&format!("/query_exemplars?query={deep}"))).await).await);
    check(json(series(State(st.clone()), get(&format!("/series?match[]={deep}"))).await).await);
    check(json(labels(State(st), get(&format!("/labels?match[]={chain}"))).await).await);
}

#[tokio::test]
async fn a_query_making_huge_labels_answers_422() {
    let st = state();
    // The tester's 400-byte query: 7 levels of label_replace, each repeating `$1` ten times,
    // would make a label of 30 MB per series.
    let mut q = "label_replace(up_total, \"a\", \"$1\", \"instance\", \"(.*)\")".to_owned();
    for _ in 0..7 {
        q = format!(
            "label_replace({q}, \"a\", \"{}\", \"a\", \"(.*)\")",
            "$1".repeat(10)
        );
    }
    let form = format!("query={}&time=1700000100", q.replace('$', "%24"));
    let (status, v) = json(query(State(st.clone()), post("/query", &form)).await).await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["errorType"], "execution");
    assert_eq!(
        v["error"],
        format!(
            "label_replace() would make a label value longer than {} bytes",
            crate::promql::DEFAULT_MAX_LABEL_VALUE_BYTES
        )
    );
}

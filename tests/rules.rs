//! Black-box tests of the rule engine through the real binary: rules fire from probe and
//! OTLP data, appear as `ALERTS` / `ALERTS_FOR_STATE` and recorded series, and alert state
//! survives a `kill -9`.

mod common;

use std::time::{Duration, Instant};

use common::{Vitals, find_sample};

const RULES: &str = r#"groups:
  - name: probes
    interval: 1s
    rules:
      - record: probe:success:min
        expr: min by (probe) (probe_success)
      - alert: TargetDown
        expr: probe_success == 0
        for: 3s
        labels: {severity: critical}
        annotations: {summary: "{{ $labels.probe }} is down"}
"#;

fn config() -> String {
    r#"server: {listen: "127.0.0.1:0"}
probes:
  defaults: {interval: 1s, timeout: 500ms}
  targets:
    - {name: closed, tcp: "127.0.0.1:1"}
rules: {files: ["rules.yml"]}
"#
    .to_string()
}

fn start(dir: tempfile::TempDir) -> Vitals {
    std::fs::write(dir.path().join("rules.yml"), RULES).expect("write rules");
    Vitals::start_in(dir, &config(), &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_fire_from_probe_data_and_stay_firing_across_kill_9() {
    let v = start(tempfile::tempdir().expect("tempdir"));
    // Pending first (for: 3s), then firing.
    v.wait_for_sample(
        "ALERTS",
        &[("alertname", "TargetDown"), ("alertstate", "pending")],
        |x| x == 1.0,
    )
    .await;
    v.wait_for_sample(
        "ALERTS",
        &[("alertname", "TargetDown"), ("alertstate", "firing")],
        |x| x == 1.0,
    )
    .await;
    let active_at = v
        .wait_for_sample("ALERTS_FOR_STATE", &[("alertname", "TargetDown")], |_| true)
        .await;
    v.wait_for_sample("probe:success:min", &[("probe", "closed")], |x| x == 0.0)
        .await;
    let firing = v.log_events("Alert is firing.");
    assert_eq!(firing.len(), 1, "{:?}", v.logs());
    assert_eq!(firing[0]["summary"], "closed is down");
    // The query API and the status page show it.
    let alerts: serde_json::Value = v.get_json("/api/v1/alerts").await;
    let a = &alerts["data"]["alerts"][0];
    assert_eq!(a["labels"]["alertname"], "TargetDown", "{alerts}");
    assert_eq!(a["state"], "firing");
    assert_eq!(a["annotations"]["summary"], "closed is down");
    let rules: serde_json::Value = v.get_json("/api/v1/rules?type=alert").await;
    let g = &rules["data"]["groups"][0];
    assert_eq!(g["name"], "probes", "{rules}");
    assert_eq!(g["rules"][0]["name"], "TargetDown");
    assert_eq!(g["rules"][0]["health"], "ok");
    assert_eq!(g["rules"][0]["state"], "firing");
    let q: serde_json::Value = v.get_json("/api/v1/query?query=ALERTS").await;
    assert_eq!(
        q["data"]["result"][0]["metric"]["alertstate"], "firing",
        "{q}"
    );
    let page = v.get_text("/").await;
    assert!(
        page.contains("1 firing, 0 pending") && page.contains("TargetDown"),
        "{page}"
    );

    // kill -9: no shutdown path runs. The restarted daemon must resume firing, with the
    // same activation time, and never show the alert pending again.
    let dir = v.kill();
    let v = start(dir);
    // Restored before the first evaluation: the API shows it firing at once.
    let alerts: serde_json::Value = v.get_json("/api/v1/alerts").await;
    assert_eq!(alerts["data"]["alerts"][0]["state"], "firing", "{alerts}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = v.metrics().await;
        assert!(
            find_sample(&text, "ALERTS", &[("alertstate", "pending")]).is_none(),
            "the restored alert went back to pending:\n{text}"
        );
        if let Some(x) = find_sample(&text, "ALERTS", &[("alertstate", "firing")]) {
            assert_eq!(x, 1.0);
            let restored = find_sample(&text, "ALERTS_FOR_STATE", &[("alertname", "TargetDown")]);
            assert_eq!(
                restored,
                Some(active_at),
                "for progress was not kept:\n{text}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never firing after restart:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        v.log_events("Alert is pending.").is_empty(),
        "{:?}",
        v.logs()
    );
    assert!(
        v.log_events("Alert is firing.").is_empty(),
        "a restored firing alert must not fire again: {:?}",
        v.logs()
    );
    let text = v.metrics().await;
    assert!(
        text.contains("vitals_rule_group_last_duration_seconds{rule_group=\"rules.yml;probes\"}"),
        "{text}"
    );
}

#[test]
fn an_invalid_rule_file_stops_the_start_with_its_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: sum(\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("vitals.yaml"), config()).expect("write");
    let out = common::run_cli(&["run", "-c", "vitals.yaml"], Some(dir.path()));
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("rules.yml:5:15: groups[0].rules[0].expr: could not parse expression"),
        "{}",
        out.stderr
    );
}

fn otlp_json(now_ns: u128, requests: u64, errors: u64, depth: f64) -> String {
    format!(
        r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"checkout"}}}}]}},"scopeMetrics":[{{"metrics":[
{{"name":"queue.depth","gauge":{{"dataPoints":[{{"asDouble":{depth},"timeUnixNano":"{now_ns}"}}]}}}},
{{"name":"requests","sum":{{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[
 {{"asInt":"{ok}","timeUnixNano":"{now_ns}","attributes":[{{"key":"code","value":{{"stringValue":"200"}}}}]}},
 {{"asInt":"{errors}","timeUnixNano":"{now_ns}","attributes":[{{"key":"code","value":{{"stringValue":"500"}}}}]}}]}}}}]}}]}}]}}"#,
        ok = requests - errors
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_fire_from_otlp_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("rules.yml"),
        r#"groups:
  - name: otlp
    interval: 500ms
    rules:
      - alert: HighErrorRate
        expr: sum by (job) (rate(requests_total{code="500"}[1m])) / sum by (job) (rate(requests_total[1m])) > 0.05
        labels: {severity: critical}
        annotations: {summary: "{{ $labels.job }} errors at {{ $value }}"}
      - alert: QueueDeep
        expr: queue_depth > 10
        labels: {severity: warning}
"#,
    )
    .expect("write rules");
    let v = Vitals::start_in(
        dir,
        "server: {listen: \"127.0.0.1:0\"}\notlp: {grpc_listen: \"\", http_listen: \"127.0.0.1:0\"}\nrules: {files: [\"rules.yml\"]}\n",
        &[],
    );
    let (_, http) = v.otlp_addrs();
    let url = format!("http://{}/v1/metrics", http.expect("otlp http"));
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut i = 0u64;
    loop {
        i += 1;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos();
        // 10% of requests fail: the error-rate alert must fire.
        let body = otlp_json(now, i * 100, i * 10, 42.0);
        let r = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("post");
        assert!(
            r.status().is_success(),
            "{}",
            r.text().await.unwrap_or_default()
        );
        let text = v.metrics().await;
        let high = find_sample(
            &text,
            "ALERTS",
            &[
                ("alertname", "HighErrorRate"),
                ("job", "checkout"),
                ("alertstate", "firing"),
            ],
        );
        let deep = find_sample(
            &text,
            "ALERTS",
            &[("alertname", "QueueDeep"), ("alertstate", "firing")],
        );
        if high == Some(1.0) && deep == Some(1.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "alerts never fired:\n{text}\n{:?}",
            v.logs()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let firing = v.log_events("Alert is firing.");
    let high = firing
        .iter()
        .find(|e| e["alertname"] == "HighErrorRate")
        .expect("HighErrorRate logged");
    assert!(
        high["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with("checkout errors at 0.")),
        "{high}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_swaps_rules_keeps_state_and_ends_removed_series() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules.yml");
    let v = start(dir);
    v.wait_for_sample(
        "ALERTS",
        &[("alertname", "TargetDown"), ("alertstate", "firing")],
        |x| x == 1.0,
    )
    .await;
    // Same group, TargetDown changed (a new label), the recording rule replaced.
    std::fs::write(
        &rules,
        RULES
            .replace("probe:success:min", "probe:success:max")
            .replace("min by", "max by")
            .replace("{severity: critical}", "{severity: critical, team: infra}"),
    )
    .expect("rewrite");
    v.signal("-HUP");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = v.metrics().await;
        let new_record = find_sample(&text, "probe:success:max", &[("probe", "closed")]);
        let old_record = find_sample(&text, "probe:success:min", &[]);
        let relabelled = find_sample(
            &text,
            "ALERTS",
            &[
                ("alertname", "TargetDown"),
                ("team", "infra"),
                ("alertstate", "firing"),
            ],
        );
        assert!(
            find_sample(
                &text,
                "ALERTS",
                &[("team", "infra"), ("alertstate", "pending")]
            )
            .is_none()
                || relabelled.is_none(),
            "{text}"
        );
        if new_record == Some(0.0) && old_record.is_none() && relabelled.is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "reload not applied:\n{text}\n{:?}",
            v.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reloaded = v.log_events("Configuration reloaded.");
    assert!(
        reloaded[0]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("rule groups: 0 added, 0 removed, 1 changed")),
        "{reloaded:?}"
    );

    // A broken rule file is refused with its position; the running rules stay.
    std::fs::write(
        &rules,
        "groups:\n  - name: probes\n    rules:\n      - alert: X\n        expr: rate(up[\n",
    )
    .expect("rewrite");
    let r = reqwest::Client::new()
        .post(v.url("/-/reload"))
        .send()
        .await
        .expect("reload");
    assert_eq!(r.status().as_u16(), 400);
    let body = r.text().await.expect("body");
    assert!(
        body.contains("rules.yml:5:15: groups[0].rules[0].expr: could not parse expression"),
        "{body}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let text = v.metrics().await;
    assert_eq!(
        find_sample(
            &text,
            "ALERTS",
            &[("alertname", "TargetDown"), ("alertstate", "firing")]
        ),
        Some(1.0),
        "{text}"
    );
}

/// Alert churn does not flood the log: one evaluation logs its first state changes one by
/// one and sums up the rest in one line (`vitals_alerts` and `/api/v1/alerts` list them all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_alert_changes_in_one_evaluation_are_summed_up_in_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: churn\n    interval: 1s\n    rules:\n      - alert: Down\n        expr: probe_success == 0\n",
    )
    .expect("write rules");
    let targets: String = (1..=15)
        .map(|i| format!("    - {{name: t{i}, tcp: \"127.0.0.1:{i}\"}}\n"))
        .collect();
    let v = Vitals::start_in(
        dir,
        &format!(
            "server: {{listen: \"127.0.0.1:0\"}}\nprobes:\n  defaults: {{interval: 1s, timeout: 500ms}}\n  targets:\n{targets}rules: {{files: [\"rules.yml\"]}}\n"
        ),
        &[],
    );
    let summary = v.wait_log_events(
        "More alerts changed state in this evaluation than are logged one by one; see /api/v1/alerts.",
        1,
    );
    // With no `for`, each of the 15 instances goes pending then firing: 30 changes.
    let (firing, pending) = (
        v.log_events("Alert is firing.").len(),
        v.log_events("Alert is pending.").len(),
    );
    assert_eq!(firing + pending, 10, "one by one");
    assert_eq!(summary[0]["more"], 20, "{}", summary[0]);
    assert_eq!(summary[0]["firing"].as_u64(), Some(15 - firing as u64));
    let alerts = v.get_json("/api/v1/alerts").await;
    assert_eq!(
        alerts["data"]["alerts"].as_array().map(Vec::len),
        Some(15),
        "{alerts}"
    );
}

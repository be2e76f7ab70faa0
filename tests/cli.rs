//! Black-box: the command line — config checking, refusing bad config before binding a
//! port, the embedded default, and clean shutdown.

mod common;

use common::{Vitals, run_cli};

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p.display().to_string()
}

#[test]
fn check_config_reports_every_error_with_position_and_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = write(
        dir.path(),
        "bad.yaml",
        "probes:\n  targets:\n    - name: a\n      url: \"not a url\"\n      conditions: [\"stauts == 200\"]\n    - name: a\n      tcp: \"db:99999\"\n",
    );
    let out = run_cli(&["check", "config", &bad], None);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{bad}:4:12: probes.targets[0].url: "))),
        "{}",
        out.stderr
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{bad}:5:20: probes.targets[0].conditions[0]: "))),
        "{}",
        out.stderr
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{bad}:6:13: probes.targets[1].name: duplicate"))),
        "{}",
        out.stderr
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{bad}:7:12: probes.targets[1].tcp: "))),
        "{}",
        out.stderr
    );

    let good = write(
        dir.path(),
        "good.yaml",
        "probes:\n  targets:\n    - {name: a, tcp: \"db:5432\"}\n",
    );
    let out = run_cli(&["check", "config", &good], None);
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
}

#[test]
fn unknown_keys_bad_durations_and_malformed_yaml_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (text, want) in [
        (
            "server:\n  listne: x\n",
            ":2:3: server.listne: unknown field `listne`",
        ),
        (
            "probes:\n  defaults:\n    interval: 10\n",
            ":3:15: probes.defaults.interval: \"10\" is not a duration",
        ),
        ("probes: [\n", ":"),
        (
            "storage:\n  retention: 1m\n",
            ":2:14: storage.retention: 1m is shorter than the 5m lookback",
        ),
    ] {
        let f = write(dir.path(), "c.yaml", text);
        let out = run_cli(&["check", "config", &f], None);
        assert_eq!(out.status.code(), Some(1), "{text}: {}", out.stderr);
        assert!(
            out.stderr.starts_with(&format!("{f}{want}")),
            "{text}: {}",
            out.stderr
        );
    }
}

#[test]
fn run_with_invalid_config_exits_before_binding() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The port is taken: were the daemon to bind before validating, the error would be about it.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let f = write(
        dir.path(),
        "c.yaml",
        &format!(
            "server: {{listen: \"127.0.0.1:{port}\"}}\nprobes:\n  targets:\n    - {{name: x, url: \"http://a/\", conditions: [\"status ==\"]}}\n"
        ),
    );
    let out = run_cli(&["run", "-c", &f], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr.contains("probes.targets[0].conditions[0]"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("cannot listen"), "{}", out.stderr);
}

#[test]
fn run_reports_a_taken_port_and_exits_non_zero() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(
        dir.path(),
        "c.yaml",
        &format!("server: {{listen: \"127.0.0.1:{port}\"}}\n"),
    );
    let out = run_cli(&["run", "-c", &f], None);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        out.stderr
            .contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{}",
        out.stderr
    );
}

#[test]
fn embedded_default_is_used_without_a_config_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_cli(&["check", "config"], Some(dir.path()));
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("<embedded default>"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_ready_metrics_and_clean_shutdown() {
    let vitals = Vitals::start("server: {listen: \"127.0.0.1:0\"}\n");
    let health = reqwest::get(vitals.url("/health")).await.expect("health");
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.expect("body"), r#"{"status":"UP"}"#);
    assert_eq!(
        reqwest::get(vitals.url("/ready"))
            .await
            .expect("ready")
            .status(),
        200
    );

    let text = vitals.metrics().await;
    assert!(text.contains("# TYPE vitals_build_info gauge"), "{text}");
    assert!(text.contains("process_resident_memory_bytes"), "{text}");
    let om = reqwest::Client::new()
        .get(vitals.url("/metrics"))
        .header("Accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .expect("openmetrics");
    assert!(
        om.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("application/openmetrics-text"),
    );
    assert!(om.text().await.expect("body").ends_with("# EOF\n"));
    let page = reqwest::get(vitals.url("/")).await.expect("status page");
    assert_eq!(page.status(), 200);
    // Loopback only: no warning about listeners open to other hosts.
    assert!(
        vitals
            .log_events("A listener is reachable from other hosts and no token is set: anyone who can reach it can use it. Set the token, or listen on 127.0.0.1.")
            .is_empty()
    );

    let status = vitals.terminate();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_logs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = write(dir.path(), "token", "file-secret-123\n");
    let vitals = Vitals::start_with_env(
        &format!(
            "server: {{listen: \"127.0.0.1:0\", api_token_file: \"{token_file}\"}}\nprobes:\n  targets:\n    - {{name: x, url: \"http://127.0.0.1:1/\", headers: {{X-Api-Key: \"${{PROBE_KEY}}\"}}}}\n"
        ),
        &[("PROBE_KEY", "env-secret-456")],
    );
    vitals
        .wait_for(
            "probe_success{instance=\"http://127.0.0.1:1/\",probe=\"x\"}",
            |v| v == 0.0,
        )
        .await;
    let logs = vitals.logs().join("\n");
    assert!(
        !logs.contains("file-secret-123") && !logs.contains("env-secret-456"),
        "{logs}"
    );
}

#[test]
fn check_config_fails_on_a_rule_glob_matching_nothing_which_run_only_warns_about() {
    let config = "server: {listen: \"127.0.0.1:0\"}\nrules:\n  files: [\"missing/*.yml\"]\n";
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("vitals.yaml"), config).expect("config");
    let out = run_cli(&["check", "config", "vitals.yaml"], Some(dir.path()));
    assert_eq!(out.status.code(), Some(1), "{}", out.stdout);
    assert!(
        out.stderr.contains("vitals.yaml:3:") && out.stderr.contains("rules.files[0]"),
        "{}",
        out.stderr
    );
    let v = Vitals::start_in(dir, config, &[]);
    let w = v.wait_log_events(
        "A configuration problem does not stop vitals but should be fixed (vitals check config fails on it).",
        1,
    );
    assert_eq!(w.len(), 1, "{}", v.logs().join("\n"));
    assert_eq!(w[0]["field"], "rules.files[0]");
}

/// A rule whose range is a number too large for a duration made the PromQL parser panic and
/// `check config` exit 101 (a crash loop for `run`); it is a located error now.
#[test]
fn a_rule_that_panics_the_parser_is_a_located_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "r.yml",
        "groups:\n  - name: g\n    rules:\n      - record: x\n        expr: rate(up[555555555555555555555554])\n",
    );
    let cfg = write(dir.path(), "c.yaml", "rules: {files: [r.yml]}\n");
    let out = run_cli(&["check", "config", &cfg], Some(dir.path()));
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("r.yml:5:15: groups[0].rules[0].expr:"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("panicked"),
        "not printed: {}",
        out.stderr
    );
}

/// `check config` on a CloudWatch section prints what its GetMetricData calls cost a month,
/// and refuses a bad job with every error at its field.
#[test]
fn check_config_prints_the_cloudwatch_cost_and_refuses_a_bad_job() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = write(
        dir.path(),
        "cw.yaml",
        "cloudwatch:\n  region: us-east-1\n  jobs:\n    - namespace: AWS/ECS\n      dimensions: [ClusterName, ServiceName]\n      metrics: [{name: CPUUtilization, statistics: [Average, Maximum]}]\n    - name: rds\n      namespace: AWS/RDS\n      static: [{DBInstanceIdentifier: a}, {DBInstanceIdentifier: b}]\n      metrics: [{name: CPUUtilization, statistics: [Average]}]\n      period: 300s\n",
    );
    let out = run_cli(&["check", "config", &good], None);
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    // rds: 8,640 runs x 1 statistic x 2 sets = 17,280 metrics (US$0.17); the ECS job:
    // 43,200 runs x 2 statistics = 86,400 per service (US$0.864).
    assert!(
        out.stdout.contains("2 CloudWatch jobs (GetMetricData about US$0.17 a month for the static jobs, plus US$0.8640 a month per dimension set the 1 discovery job finds)"),
        "{}",
        out.stdout
    );
    let bad = write(
        dir.path(),
        "cwbad.yaml",
        "cloudwatch:\n  concurrency: 500\n  jobs:\n    - namespace: AWS/ECS\n      metrics: [{name: CPUUtilization, statistics: [Mean]}]\n      period: 45s\n",
    );
    let out = run_cli(&["check", "config", &bad], None);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    for want in [
        ":2:16: cloudwatch.concurrency: must be 1 to 50",
        "cloudwatch.jobs[0].region: no region",
        ":5:53: cloudwatch.jobs[0].metrics[0].statistics[0]: \"Mean\" is not a statistic",
        ":6:15: cloudwatch.jobs[0].period: 45s is not a CloudWatch period",
    ] {
        assert!(out.stderr.contains(want), "{want} in:\n{}", out.stderr);
    }
}

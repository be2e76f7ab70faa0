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

    // kill -9: no shutdown path runs. The restarted daemon must resume firing, with the
    // same activation time, and never show the alert pending again.
    let dir = v.kill();
    let v = start(dir);
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

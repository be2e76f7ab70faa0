//! Black-box tests of restarts through the real binary: a probe fleet and an OTLP sender
//! with a firing `ProbeDown`, a firing error-rate alert and a pending one; after `kill -9` or
//! SIGTERM and a restart no alert changes state (same `activeAt`, never resolved in the API,
//! the logs or at the webhook receiver), every sample the store had checkpointed is back and
//! `rate()` over the gap is unchanged. A target that recovered after the last checkpoint does
//! not re-fire its resolved alert when the first probe round after the restart is slower than
//! the rule interval. A damaged checkpoint is skipped with one log line; a read-only
//! `storage.path` is a clear start error.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::receiver::{Answer, Receiver};
use common::{Vitals, find_sample, run_cli};
use serde_json::Value;

const RULES: &str = r#"groups:
  - name: restart
    interval: 1s
    rules:
      - alert: ProbeDown
        expr: probe_success == 0
      - alert: HighErrorRate
        expr: sum(rate(requests_total{code="500"}[5m])) / sum(rate(requests_total[5m])) > 0.1
      - alert: SlowBurn
        expr: probe_success == 1
        for: 1h
"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn config(up: std::net::SocketAddr, otlp_port: u16, hook: &Receiver) -> String {
    format!(
        r#"server: {{listen: "127.0.0.1:0"}}
storage: {{checkpoint_interval: 1s}}
probes:
  defaults: {{interval: 1s, timeout: 500ms}}
  targets:
    - {{name: closed, tcp: "127.0.0.1:1"}}
    - {{name: web, url: "http://{up}/ok"}}
otlp: {{grpc_listen: "127.0.0.1:0", http_listen: "127.0.0.1:{otlp_port}"}}
rules: {{files: ["rules.yml"]}}
alerting:
  route: {{receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s, repeat_interval: 1h}}
  receivers:
    - name: hook
      webhook_configs: [{{url: "{}"}}]
"#,
        hook.url("/hook")
    )
}

/// One OTLP/HTTP JSON export of the cumulative counter `requests` (→ `requests_total`) for
/// codes 200 and 500 at `ts_ms`.
fn export(ts_ms: i64, ok: u64, errors: u64) -> String {
    let point = |code: &str, n: u64| {
        format!(
            r#"{{"asInt":"{n}","timeUnixNano":"{}","attributes":[{{"key":"code","value":{{"stringValue":"{code}"}}}}]}}"#,
            ts_ms * 1_000_000
        )
    };
    format!(
        r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"shop"}}}}]}},"scopeMetrics":[{{"metrics":[{{"name":"requests","sum":{{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[{},{}]}}}}]}}]}}]}}"#,
        point("200", ok),
        point("500", errors)
    )
}

/// An OTLP sender exporting every 250 ms to a fixed port, through restarts (failed exports
/// are dropped, as an SDK would after its retries). Records the timestamps vitals accepted.
struct Sender {
    acked: Arc<Mutex<Vec<i64>>>,
    paused: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Sender {
    fn start(port: u16) -> Sender {
        let acked = Arc::new(Mutex::new(Vec::new()));
        let log = acked.clone();
        let paused = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let pause = paused.clone();
        let task = tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .expect("client");
            // Six minutes of history first, so every [5m] window is full; then live. The
            // counters grow with time (10 errors/s, 40 successes/s), so the rate is the same
            // whatever the export spacing and across the restart gap.
            let start = now_ms() - 6 * 60_000;
            let mut t = start;
            loop {
                if pause.load(std::sync::atomic::Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    t = now_ms();
                    continue;
                }
                let errors = u64::try_from((t - start) / 100).unwrap_or(0);
                let ok = client
                    .post(format!("http://127.0.0.1:{port}/v1/metrics"))
                    .header("content-type", "application/json")
                    .body(export(t, 4 * errors, errors))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ok {
                    log.lock().expect("acked").push(t);
                }
                if t < now_ms() - 1000 {
                    // History is sent until vitals takes it.
                    if ok {
                        t += 5000;
                    } else {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                } else {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    t = now_ms();
                }
            }
        });
        Sender {
            acked,
            paused,
            task,
        }
    }

    fn pause(&self, paused: bool) {
        self.paused
            .store(paused, std::sync::atomic::Ordering::Relaxed);
    }

    fn acked(&self) -> Vec<i64> {
        self.acked.lock().expect("acked").clone()
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// alertname → (state, activeAt) from `/api/v1/alerts`.
async fn alerts(v: &Vitals) -> BTreeMap<String, (String, String)> {
    let j = v.get_json("/api/v1/alerts").await;
    j["data"]["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            (
                a["labels"]["alertname"].as_str().unwrap_or("").to_string(),
                (
                    a["state"].as_str().unwrap_or("").to_string(),
                    a["activeAt"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect()
}

fn expected_states(a: &BTreeMap<String, (String, String)>) -> bool {
    a.get("ProbeDown").is_some_and(|s| s.0 == "firing")
        && a.get("HighErrorRate").is_some_and(|s| s.0 == "firing")
        && a.get("SlowBurn").is_some_and(|s| s.0 == "pending")
}

async fn query(v: &Vitals, q: &str, time_ms: i64) -> Value {
    let url = reqwest::Url::parse_with_params(
        &v.url("/api/v1/query"),
        &[
            ("query", q),
            ("time", &(time_ms as f64 / 1000.0).to_string()),
        ],
    )
    .expect("url");
    let text = reqwest::get(url)
        .await
        .expect("GET")
        .text()
        .await
        .expect("body");
    let j: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{q}: {e}: {text}"));
    assert_eq!(j["status"], "success", "{q}: {j}");
    j["data"]["result"].clone()
}

async fn scalar(v: &Vitals, q: &str, time_ms: i64) -> f64 {
    let r = query(v, q, time_ms).await;
    r[0]["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{q} at {time_ms}: {r}"))
}

/// Timestamps (ms) of the raw samples of `requests_total{code="500"}` held now.
async fn held_timestamps(v: &Vitals) -> Vec<i64> {
    let r = query(v, r#"requests_total{code="500"}[1h]"#, now_ms()).await;
    r[0]["values"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| (p[0].as_f64().unwrap_or(0.0) * 1000.0).round() as i64)
        .collect()
}

/// The newest checkpoint's time (ms), from `/metrics`.
async fn last_checkpoint_ms(v: &Vitals) -> i64 {
    let m = v.metrics().await;
    (find_sample(
        &m,
        "vitals_store_checkpoint_last_success_timestamp_seconds",
        &[],
    )
    .unwrap_or(0.0)
        * 1000.0) as i64
}

/// Webhook notifications that carry a resolved alert.
fn resolved_notifications(hook: &Receiver) -> Vec<Value> {
    hook.received()
        .iter()
        .map(|r| r.json())
        .filter(|n| {
            n["alerts"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| a["status"] == "resolved")
        })
        .collect()
}

async fn restart_changes_nothing(kill: bool) {
    let up = common::targets::http_server().await;
    let hook = Receiver::start(Answer::Ok).await;
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("rules.yml"), RULES).expect("rules");
    let cfg = config(up, port, &hook);
    let v = Vitals::start_in(dir, &cfg, &[]);
    let sender = Sender::start(port);

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let before = loop {
        let a = alerts(&v).await;
        if expected_states(&a) {
            break a;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "alerts never reached firing/firing/pending: {a:?}\n{}",
            v.logs().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Each alert group has been notified once, firing.
    hook.wait_for(2).await;
    // A few seconds of probe results before the instant the queries are compared at.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let t0 = now_ms() - 1000;
    let rate_q = r#"sum(rate(requests_total{code="500"}[5m]))"#;
    let rate_before = scalar(&v, rate_q, t0).await;
    let ratio_q = r#"sum(rate(requests_total{code="500"}[5m])) / sum(rate(requests_total[5m]))"#;
    let ratio_before = scalar(&v, ratio_q, t0).await;
    let probes_q = r#"count_over_time(probe_success{probe="closed"}[10m])"#;
    let probes_before = scalar(&v, probes_q, t0).await;

    let (dir, checkpointed) = if kill {
        // Wait for a checkpoint written after t0, then kill.
        while last_checkpoint_ms(&v).await < t0 + 1500 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let checkpointed = last_checkpoint_ms(&v).await;
        (v.kill(), checkpointed)
    } else {
        let (status, dir) = v.stop();
        assert!(status.success(), "{status}");
        (dir, now_ms())
    };
    let acked_before_stop = sender.acked();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let v = Vitals::start_in(dir, &cfg, &[]);
    // Watch several evaluations: no alert changes state or activeAt.
    for _ in 0..25 {
        let a = alerts(&v).await;
        assert_eq!(a, before, "alerts changed across the restart");
        let page = v.get_text("/").await;
        assert!(page.contains("2 firing, 1 pending"), "status page: {page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        v.log_events("Alert resolved.").is_empty(),
        "an alert resolved after the restart: {:?}",
        v.log_events("Alert resolved.")
    );
    assert!(v.log_events("Alert is firing.").is_empty());
    assert!(
        resolved_notifications(&hook).is_empty(),
        "{:?}",
        hook.received()
    );
    // Still the two first notifications: nothing was announced again.
    assert_eq!(hook.received().len(), 2, "{:?}", hook.received());

    // Every sample accepted before the checkpoint (SIGTERM: before the stop) is back.
    let held = held_timestamps(&v).await;
    let lost: Vec<i64> = acked_before_stop
        .iter()
        .copied()
        .filter(|t| *t <= checkpointed - 1000)
        .filter(|t| held.binary_search(t).is_err())
        .collect();
    assert!(lost.is_empty(), "samples lost across the restart: {lost:?}");
    if !kill {
        let last = acked_before_stop.iter().max().copied().unwrap_or(0);
        assert!(
            held.contains(&last),
            "the last sample before SIGTERM is lost"
        );
    }
    // The same queries at the same instant give the same answers.
    assert_eq!(scalar(&v, rate_q, t0).await, rate_before);
    assert_eq!(scalar(&v, ratio_q, t0).await, ratio_before);
    assert_eq!(scalar(&v, probes_q, t0).await, probes_before);
    // And across the gap the rate is still the sender's (10 errors/s).
    let rate_now = scalar(&v, rate_q, now_ms()).await;
    assert!(
        (rate_now - rate_before).abs() <= rate_before * 0.25,
        "rate over the gap {rate_now} vs {rate_before}"
    );
    let m = v.metrics().await;
    assert!(
        find_sample(&m, "vitals_store_checkpoint_series_recovered", &[]).unwrap_or(0.0) >= 12.0
    );
    drop(sender);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_and_restart_change_no_alert_and_keep_the_checkpointed_samples() {
    restart_changes_nothing(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_restart_change_no_alert_and_lose_no_sample() {
    restart_changes_nothing(false).await;
}

/// With no checkpoint (the store restarts empty) and a sender that is slow to come back, a
/// restored firing alert is held, not resolved, and resumes when the data returns; a sender
/// that never comes back resolves it once `restart_grace` has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_alert_is_held_until_its_inputs_return_or_the_grace_ends() {
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("rules.yml"), RULES).expect("rules");
    let cfg = format!(
        r#"server: {{listen: "127.0.0.1:0"}}
storage: {{checkpoint_interval: 0s}}
otlp: {{grpc_listen: "127.0.0.1:0", http_listen: "127.0.0.1:{port}"}}
rules: {{files: ["rules.yml"], restart_grace: 6s}}
"#
    );
    let v = Vitals::start_in(dir, &cfg, &[]);
    let sender = Sender::start(port);
    let firing = |a: &BTreeMap<String, (String, String)>| {
        a.get("HighErrorRate").filter(|s| s.0 == "firing").cloned()
    };
    let before = loop {
        if let Some(s) = firing(&alerts(&v).await) {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Down for 2 s; the sender comes back 2 s after vitals does.
    sender.pause(true);
    let dir = v.kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let v = Vitals::start_in(dir, &cfg, &[]);
    for i in 0..30 {
        if i == 10 {
            sender.pause(false);
        }
        let a = alerts(&v).await;
        assert_eq!(firing(&a), Some(before.clone()), "after {i} polls: {a:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(v.log_events("Alert resolved.").is_empty());

    // Now the sender stays away: held for restart_grace (the store was empty, so the outage
    // length is unknown), then resolved.
    sender.pause(true);
    let dir = v.kill();
    let v = Vitals::start_in(dir, &cfg, &[]);
    let started = std::time::Instant::now();
    let resolved = loop {
        let a = alerts(&v).await;
        if firing(&a).is_none() {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never resolved"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        resolved >= Duration::from_secs(5),
        "resolved {resolved:?} after the restart, inside the 6s grace"
    );
    assert_eq!(v.wait_log_events("Alert resolved.", 1).len(), 1);
}

/// Scheduled evaluations of the (one) rule group so far, from `/metrics`.
async fn group_iterations(v: &Vitals) -> f64 {
    find_sample(
        &v.metrics().await,
        "vitals_rule_group_iterations_total",
        &[],
    )
    .unwrap_or(0.0)
}

/// Alerts with `status` (firing or resolved) in every notification `hook` received.
fn deliveries(hook: &Receiver, status: &str) -> usize {
    hook.received()
        .iter()
        .flat_map(|r| r.json()["alerts"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["status"] == status)
        .count()
}

/// A target that recovered after the last store checkpoint, then a `kill -9`, then a start
/// where the first probe round is slower than the rule interval: the group's first
/// evaluation waits for that round, so the checkpoint's stale `probe_success 0` never
/// re-fires the resolved alert (the 1-hour soak found a 5 s group re-firing and losing the
/// resolution when it waited one rule interval only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_evaluation_after_a_start_waits_for_a_probe_round_slower_than_the_rule_interval()
{
    let target = Receiver::start(Answer::Fail {
        status: 503,
        times: u32::MAX,
    })
    .await;
    let hook = Receiver::start(Answer::Ok).await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: fast\n    interval: 1s\n    rules:\n      - alert: ProbeDown\n        expr: probe_success == 0\n",
    )
    .expect("rules");
    // Checkpoints only at shutdown (SIGTERM): the store keeps what it had at the first stop.
    let cfg = format!(
        r#"server: {{listen: "127.0.0.1:0"}}
storage: {{checkpoint_interval: 1h}}
probes:
  targets:
    - {{name: web, url: "{}", interval: 5s, timeout: 4s}}
rules: {{files: ["rules.yml"]}}
alerting:
  route: {{receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s, repeat_interval: 1h}}
  receivers:
    - name: hook
      webhook_configs: [{{url: "{}"}}]
"#,
        target.url("/health"),
        hook.url("/hook")
    );
    let firing = |a: &BTreeMap<String, (String, String)>| {
        a.get("ProbeDown").filter(|s| s.0 == "firing").cloned()
    };

    // Life 1: the target is down, ProbeDown fires; SIGTERM checkpoints probe_success 0.
    let v = Vitals::start_in(dir, &cfg, &[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while firing(&alerts(&v).await).is_none() {
        assert!(std::time::Instant::now() < deadline, "never fired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, dir) = v.stop();
    assert!(status.success(), "{status}");

    // Life 2: the target is back, ProbeDown resolves (its state is saved), and vitals is
    // killed before any checkpoint holds the recovery.
    target.set_answer(Answer::Ok);
    let v = Vitals::start_in(dir, &cfg, &[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !alerts(&v).await.is_empty() || deliveries(&hook, "resolved") == 0 {
        assert!(std::time::Instant::now() < deadline, "never resolved");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Two more evaluations: the one after the resolution has saved the alert state.
    let seen = group_iterations(&v).await;
    v.wait_for_sample("vitals_rule_group_iterations_total", &[], |n| {
        n >= seen + 2.0
    })
    .await;
    let fired = deliveries(&hook, "firing");
    let dir = v.kill();

    // Life 3: the target answers after 3 s, longer than the 1 s rule interval (the probe
    // interval is 5 s). Until the
    // probe's first answer (and after it) ProbeDown stays resolved.
    target.set_answer(Answer::Slow(Duration::from_secs(3)));
    let v = Vitals::start_in(dir, &cfg, &[]);
    let until = std::time::Instant::now() + Duration::from_secs(6);
    while std::time::Instant::now() < until {
        let a = alerts(&v).await;
        assert!(
            a.is_empty(),
            "re-fired from the checkpoint's stale probe_success 0: {a:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The probe did answer (up), and the group did evaluate.
    v.wait_for_sample("probe_success", &[("probe", "web")], |x| x == 1.0)
        .await;
    assert!(group_iterations(&v).await >= 1.0);
    assert_eq!(
        deliveries(&hook, "firing"),
        fired,
        "a new firing notification"
    );
    assert!(
        v.log_events("Alert is firing.").is_empty(),
        "{}",
        v.logs().join("\n")
    );
}

const SIMPLE: &str = r#"server: {listen: "127.0.0.1:0"}
storage: {checkpoint_interval: 1s}
probes:
  defaults: {interval: 200ms, timeout: 100ms}
  targets:
    - {name: closed, tcp: "127.0.0.1:1"}
"#;

const DAMAGED: &str =
    "The store checkpoint is damaged; the damaged part is skipped and its series start empty.";

/// Writes a checkpoint (SIGTERM), damages it with `damage`, restarts: vitals logs the damage
/// once, keeps running and writes good checkpoints again.
async fn damaged_checkpoint_is_skipped(damage: impl FnOnce(&mut Vec<u8>)) -> Vitals {
    let v = Vitals::start(SIMPLE);
    v.wait_for(
        "probe_success{instance=\"127.0.0.1:1\",probe=\"closed\"}",
        |x| x == 0.0,
    )
    .await;
    let (_, dir) = v.stop();
    let path = dir.path().join("data/store/store.ckpt");
    let mut data = std::fs::read(&path).expect("checkpoint written at shutdown");
    damage(&mut data);
    std::fs::write(&path, &data).expect("write");
    let v = Vitals::start_in(dir, SIMPLE, &[]);
    let events = v.wait_log_events(DAMAGED, 1);
    assert_eq!(events.len(), 1, "{}", v.logs().join("\n"));
    assert!(events[0]["reason"].is_string(), "{}", events[0]);
    // Still running, probing, and checkpointing again.
    let checkpoints = v
        .wait_for_sample("vitals_store_checkpoint_duration_seconds_count", &[], |n| {
            n >= 2.0
        })
        .await;
    assert!(checkpoints >= 2.0);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_checkpoint_is_skipped_with_one_log_line() {
    let v = damaged_checkpoint_is_skipped(|d| d.truncate(d.len() / 2)).await;
    let e = &v.log_events(DAMAGED)[0];
    assert!(
        e["reason"].as_str().unwrap_or("").contains("truncated"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipped_bytes_in_a_checkpoint_are_skipped_with_one_log_line() {
    let v = damaged_checkpoint_is_skipped(|d| {
        let n = d.len();
        d[n - 20] ^= 0xff;
        d[10] ^= 0x01;
    })
    .await;
    let e = &v.log_events(DAMAGED)[0];
    assert!(
        e["reason"].as_str().unwrap_or("").contains("checksum"),
        "{e}"
    );
}

#[test]
fn a_read_only_storage_path_is_a_clear_start_error() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    // Root writes through permission bits: use a path no process may write instead.
    let target = if std::fs::write(data.join("probe"), b"").is_ok() {
        std::path::PathBuf::from("/proc/vitals-data")
    } else {
        data.clone()
    };
    let cfg = format!(
        "server: {{listen: \"127.0.0.1:0\"}}\nstorage: {{path: \"{}\"}}\n",
        target.display()
    );
    std::fs::write(dir.path().join("vitals.yaml"), cfg).expect("config");
    let out = run_cli(
        &[
            "run",
            "-c",
            &dir.path().join("vitals.yaml").to_string_lossy(),
        ],
        Some(dir.path()),
    );
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("storage.path") && out.stderr.contains(&*target.to_string_lossy()),
        "{}",
        out.stderr
    );
}

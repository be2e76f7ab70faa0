//! Black-box tests of the durable state file (`data/vitals.redb`) through the real binary: a
//! corrupt or empty file is moved aside with a warning and the daemon starts on a fresh one
//! (which then keeps alert state across a restart); a file another vitals holds stays a clear
//! start error.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Vitals;

const RULES: &str = r#"groups:
  - name: probes
    interval: 1s
    rules:
      - alert: TargetDown
        expr: probe_success == 0
        for: 1s
"#;

const CONFIG: &str = r#"server: {listen: "127.0.0.1:0"}
probes:
  defaults: {interval: 1s, timeout: 500ms}
  targets:
    - {name: closed, tcp: "127.0.0.1:1"}
rules: {files: ["rules.yml"]}
"#;

const SET_ASIDE: &str = "The state database cannot be read; it was moved aside and a fresh one started (saved alert state is lost).";

fn start(dir: tempfile::TempDir) -> Vitals {
    std::fs::write(dir.path().join("rules.yml"), RULES).expect("write rules");
    Vitals::start_in(dir, CONFIG, &[])
}

/// A temp dir whose `data/vitals.redb` holds `contents`.
fn dir_with_state_file(contents: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("data")).expect("data dir");
    std::fs::write(dir.path().join("data/vitals.redb"), contents).expect("write state file");
    dir
}

fn set_aside_files(data: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(data)
        .expect("read data dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vitals.redb.corrupt-"))
        })
        .collect()
}

async fn wait_firing(v: &Vitals) {
    v.wait_for_sample(
        "ALERTS",
        &[("alertname", "TargetDown"), ("alertstate", "firing")],
        |x| x == 1.0,
    )
    .await;
}

async fn health_ok(v: &Vitals) {
    let r = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
        .get(v.url("/health"))
        .send()
        .await
        .expect("GET /health");
    assert!(r.status().is_success(), "/health: {}", r.status());
}

/// Starts on the given file, checks it was moved aside (contents intact) with one warning,
/// and that the fresh file keeps a firing alert across a `kill -9` (redb repairs the file the
/// kill left, and says so).
async fn starts_fresh_from(contents: &[u8], reason_contains: &str) {
    let v = start(dir_with_state_file(contents));
    health_ok(&v).await;
    let data = v.data_dir();
    let aside = set_aside_files(&data);
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(std::fs::read(&aside[0]).expect("read aside"), contents);
    let warnings = v.log_events(SET_ASIDE);
    assert_eq!(warnings.len(), 1, "{:?}", v.logs());
    let w = &warnings[0];
    assert_eq!(w["level"], "WARN", "{w}");
    // Both paths as configured (`storage.path` is `./data` here), in the same directory.
    let path = w["path"].as_str().expect("path field");
    let moved_to = w["moved_to"].as_str().expect("moved_to field");
    assert!(path.ends_with("data/vitals.redb"), "{w}");
    let aside_name = aside[0].file_name().expect("name").to_string_lossy();
    assert_eq!(
        moved_to,
        Path::new(path)
            .with_file_name(&*aside_name)
            .display()
            .to_string(),
        "{w}"
    );
    assert!(
        w["reason"]
            .as_str()
            .is_some_and(|r| r.contains(reason_contains)),
        "{w}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("vitals.redb"))
            .expect("fresh file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "fresh state file mode {mode:o}");
    }
    let text = v.metrics().await;
    assert_eq!(
        common::sample_value(&text, "vitals_durable_files_set_aside_total"),
        Some(1.0),
        "{text}"
    );

    // The fresh file works: a firing alert is saved and restored after kill -9.
    wait_firing(&v).await;
    // The save follows the evaluation that fired; give it a moment to commit.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before: Vec<String> = v
        .logs()
        .into_iter()
        .filter(|l| l.contains("state") || l.contains("WARN") || l.contains("ERROR"))
        .collect();
    let dir = v.kill();
    let v = start(dir);
    // (Asserted on the log: the first evaluation may resolve it before the probe runs again.)
    let restored = v.log_events("Alert state restored from storage.");
    assert_eq!(
        restored.first().map(|e| e["groups"].clone()),
        Some(serde_json::json!(1)),
        "before: {before:#?}\nafter: {:#?}",
        v.logs()
    );
    assert!(v.log_events(SET_ASIDE).is_empty(), "{:?}", v.logs());
    let text = v.metrics().await;
    assert_eq!(
        common::sample_value(&text, "vitals_durable_files_set_aside_total"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(set_aside_files(&v.data_dir()).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_state_file_is_moved_aside_and_the_daemon_starts() {
    let garbage: Vec<u8> = (0..20_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    starts_fresh_from(&garbage, "Not a redb database").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_state_file_is_moved_aside_not_silently_reused() {
    starts_fresh_from(b"", "empty").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_file_held_by_another_vitals_is_a_start_error_naming_it() {
    let v = start(tempfile::tempdir().expect("tempdir"));
    health_ok(&v).await;
    let other = tempfile::tempdir().expect("tempdir");
    let config = other.path().join("vitals.yaml");
    let held = v.data_dir();
    std::fs::write(
        &config,
        CONFIG.replace(
            "rules: {files: [\"rules.yml\"]}\n",
            &format!("storage: {{path: {:?}}}\n", held.display().to_string()),
        ),
    )
    .expect("config");
    let mut child = Command::new(common::binary())
        .args(["run", "-c"])
        .arg(&config)
        .current_dir(other.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn second vitals");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("a second vitals on the same storage.path started");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("read stderr");
    assert!(!status.success(), "{stderr}");
    let path = v.data_dir().join("vitals.redb").display().to_string();
    assert!(
        stderr.contains(&path) && stderr.contains("already open"),
        "{stderr}"
    );
    assert!(set_aside_files(&v.data_dir()).is_empty());
    health_ok(&v).await;
}

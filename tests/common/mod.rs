//! Shared helpers for the black-box tests: start the real `vitals` binary on a free port,
//! wait for it, read `/metrics`, and run real local targets (HTTP, TLS, gRPC).
#![allow(dead_code)]

pub mod cloudwatch;
pub mod receiver;
pub mod targets;

/// The SMTP server of `notify`'s unit tests (one copy of the code, included here).
use vitals::net::tls::ServerTls;
#[path = "../../agent/notify/testing_smtp.rs"]
pub mod smtp;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The wall clock in nanoseconds since the Unix epoch (OTLP timestamps).
pub fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos()
}

/// Path of the binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_vitals")
}

/// A running `vitals run`; killed when dropped.
pub struct Vitals {
    child: Child,
    pub addr: SocketAddr,
    logs: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

/// Result of running a command to completion.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `vitals ARGS` to completion.
pub fn run_cli(args: &[&str], cwd: Option<&Path>) -> Output {
    let mut cmd = Command::new(binary());
    cmd.args(args).env_remove("VITALS_CONFIG");
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let out = cmd.output().expect("run vitals");
    Output {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Vitals {
    /// Writes `config` (which should listen on `127.0.0.1:0`) to a temp dir and starts the
    /// daemon with JSON logs; returns once it logged that it is running.
    pub fn start(config: &str) -> Vitals {
        Self::start_with_env(config, &[])
    }

    pub fn start_with_env(config: &str, env: &[(&str, &str)]) -> Vitals {
        Self::start_in(tempfile::tempdir().expect("tempdir"), config, env)
    }

    /// Starts the daemon in `dir` (its config and `data/` live there): pass the directory
    /// [`Vitals::kill`] returned to restart on the same durable state.
    pub fn start_in(dir: tempfile::TempDir, config: &str, env: &[(&str, &str)]) -> Vitals {
        // reqwest in the tests needs the same TLS crypto provider the daemon installs.
        vitals::net::tls::install_crypto_provider();
        let path = dir.path().join("vitals.yaml");
        std::fs::write(&path, config).expect("write config");
        let mut cmd = Command::new(binary());
        cmd.args(["run", "-c"])
            .arg(&path)
            .current_dir(dir.path())
            .env("VITALS_LOG_FORMAT", "json")
            .env("VITALS_LOG", "debug")
            .env("VITALS_STORAGE", dir.path().join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn vitals");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let running = line.contains("vitals is running.");
                // Recorded before the starter is woken, so it can read the line at once.
                sink.lock().expect("logs").push(line.clone());
                if running {
                    let _ = tx.send(line);
                }
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "vitals did not start; logs:\n{}",
                    logs.lock().expect("logs").join("\n")
                );
            }
        };
        let v: serde_json::Value = serde_json::from_str(&line).expect("json log line");
        let addr = v["listen"]
            .as_str()
            .expect("listen field")
            .parse()
            .expect("addr");
        Vitals {
            child,
            addr,
            logs,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The configuration file the daemon was started with (rewrite it, then reload).
    pub fn config_path(&self) -> PathBuf {
        self._dir.path().join("vitals.yaml")
    }

    /// Sends `signal` (e.g. `-HUP`) to the daemon.
    pub fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status();
    }

    pub fn data_dir(&self) -> PathBuf {
        self._dir.path().join("data")
    }

    /// Everything logged so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().expect("logs").clone()
    }

    /// Log lines (parsed JSON) whose message is `message`.
    pub fn log_events(&self, message: &str) -> Vec<serde_json::Value> {
        self.logs()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["message"] == message)
            .collect()
    }

    /// Waits (up to 10 s) until `n` log lines have the message `message` (the log is read
    /// from the daemon's stderr by a thread, so a line can trail the HTTP answer it
    /// preceded); returns them.
    pub fn wait_log_events(&self, message: &str, n: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let events = self.log_events(message);
            if events.len() >= n || Instant::now() > deadline {
                return events;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// GET `path` and parse the body as JSON.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let text = reqwest::get(self.url(path))
            .await
            .expect("GET")
            .text()
            .await
            .expect("body");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
    }

    /// GET `path` as text.
    pub async fn get_text(&self, path: &str) -> String {
        reqwest::get(self.url(path))
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
            .text()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: body: {e}"))
    }

    /// GET /metrics as text.
    pub async fn metrics(&self) -> String {
        self.get_text("/metrics").await
    }

    /// Polls /metrics until the sample named `name` with `labels` satisfies `ok`.
    pub async fn wait_for_sample(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        ok: impl Fn(f64) -> bool,
    ) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = self.metrics().await;
            if let Some(v) = find_sample(&text, name, labels)
                && ok(v)
            {
                return v;
            }
            if Instant::now() > deadline {
                panic!(
                    "{name}{labels:?} never matched; /metrics:\n{text}\nlogs:\n{}",
                    self.logs().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The OTLP/gRPC and OTLP/HTTP addresses logged at start.
    pub fn otlp_addrs(&self) -> (Option<SocketAddr>, Option<SocketAddr>) {
        let running = self.log_events("vitals is running.");
        let first = running.first();
        let get = |k: &str| {
            first
                .and_then(|e| e[k].as_str())
                .and_then(|s| s.parse().ok())
        };
        (get("otlp_grpc"), get("otlp_http"))
    }

    /// Polls /metrics until `sample` (e.g. `probe_success{...}`) has a value for which
    /// `ok` holds; returns it. Panics with the last exposition after `within`.
    pub async fn wait_for(&self, sample: &str, ok: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = self.metrics().await;
            if let Some(v) = sample_value(&text, sample)
                && ok(v)
            {
                return v;
            }
            if Instant::now() > deadline {
                panic!(
                    "{sample} never matched; /metrics:\n{text}\nlogs:\n{}",
                    self.logs().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills the daemon with SIGKILL (no shutdown at all) and hands back its directory.
    pub fn kill(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self._dir, dir)
    }

    /// Sends SIGTERM, waits for the exit and hands back its directory (to start again on
    /// the same durable state).
    pub fn stop(mut self) -> (ExitStatus, tempfile::TempDir) {
        let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().expect("tempdir"));
        (self.terminate(), dir)
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(mut self) -> ExitStatus {
        self.signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("vitals did not exit after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Vitals {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of the first sample named `name` that carries every pair of `labels`.
pub fn find_sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let (label_text, value) = match rest.strip_prefix('{') {
            Some(r) => r.rsplit_once("} ")?,
            None => ("", rest.strip_prefix(' ')?),
        };
        let all = labels
            .iter()
            .all(|(k, v)| label_text.contains(&format!("{k}=\"{v}\"")));
        if !all {
            return None;
        }
        match value {
            "NaN" => Some(f64::NAN),
            "+Inf" => Some(f64::INFINITY),
            v => v.parse().ok(),
        }
    })
}

/// The value of the sample written exactly as `series` (name plus labels in exposition
/// order) in a text exposition.
pub fn sample_value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?;
        let value = rest.strip_prefix(' ')?;
        match value.split(' ').next()? {
            "NaN" => Some(f64::NAN),
            "+Inf" => Some(f64::INFINITY),
            "-Inf" => Some(f64::NEG_INFINITY),
            v => v.parse().ok(),
        }
    })
}

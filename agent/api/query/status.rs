//! `/api/v1/status/*`: build information, flags and runtime information in Prometheus's
//! shapes.
//!
//! Grafana reads `buildinfo` when a Prometheus data source is saved: an answer without a
//! `features` field makes it treat the server as Prometheus (not Mimir), with the ruler API
//! off. The version is not used to pick features automatically (only a version a user sets in
//! the data source's settings is), so vitals reports its own version rather than pretending
//! to be a Prometheus release; Grafana then uses the query API paths every Prometheus 2.x
//! has (`/series` for label lookups), all of which vitals serves.

use std::collections::BTreeMap;

use serde::Serialize;

use super::json::rfc3339;

#[derive(Serialize)]
pub struct BuildInfo {
    version: &'static str,
    revision: &'static str,
    branch: &'static str,
    #[serde(rename = "buildUser")]
    build_user: &'static str,
    #[serde(rename = "buildDate")]
    build_date: &'static str,
    #[serde(rename = "goVersion")]
    go_version: &'static str,
}

/// vitals's own version; the fields a Go build stamps in are not recorded by this build.
pub fn build_info() -> BuildInfo {
    BuildInfo {
        version: env!("CARGO_PKG_VERSION"),
        revision: "unknown",
        branch: "unknown",
        build_user: "unknown",
        build_date: "unknown",
        go_version: "none (vitals is written in Rust)",
    }
}

/// The settings that correspond to Prometheus command-line flags, named as those flags.
pub fn flags(
    query_timeout: &str,
    max_samples: usize,
    lookback: &str,
    retention: &str,
) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("query.timeout", query_timeout.to_owned()),
        ("query.max-samples", max_samples.to_string()),
        ("query.lookback-delta", lookback.to_owned()),
        ("storage.tsdb.retention.time", retention.to_owned()),
    ])
}

#[derive(Serialize)]
pub struct RuntimeInfo {
    #[serde(rename = "startTime")]
    start_time: String,
    #[serde(rename = "CWD")]
    cwd: String,
    hostname: String,
    #[serde(rename = "serverTime")]
    server_time: String,
    #[serde(rename = "reloadConfigSuccess")]
    reload_config_success: bool,
    #[serde(rename = "lastConfigTime")]
    last_config_time: String,
    #[serde(rename = "corruptionCount")]
    corruption_count: i64,
    #[serde(rename = "goroutineCount")]
    goroutine_count: i64,
    #[serde(rename = "GOMAXPROCS")]
    gomaxprocs: usize,
    #[serde(rename = "GOMEMLIMIT")]
    gomemlimit: i64,
    #[serde(rename = "GOGC")]
    gogc: String,
    #[serde(rename = "GODEBUG")]
    godebug: String,
    #[serde(rename = "storageRetention")]
    storage_retention: String,
}

/// What runs now. The Go-runtime fields have no Rust counterpart and are zero or empty;
/// `GOMAXPROCS` is the parallelism the machine offers.
pub fn runtime_info(
    started_ms: i64,
    now_ms: i64,
    reload_ok: bool,
    last_config_ms: i64,
    retention: &str,
) -> RuntimeInfo {
    RuntimeInfo {
        start_time: rfc3339(Some(started_ms)),
        cwd: std::env::current_dir()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        hostname: std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default(),
        server_time: rfc3339(Some(now_ms)),
        reload_config_success: reload_ok,
        last_config_time: rfc3339(Some(last_config_ms)),
        corruption_count: 0,
        goroutine_count: 0,
        gomaxprocs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        gomemlimit: 0,
        gogc: String::new(),
        godebug: String::new(),
        storage_retention: retention.to_owned(),
    }
}

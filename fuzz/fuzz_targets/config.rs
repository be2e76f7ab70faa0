//! Configuration loading as `vitals check config` and `vitals run` do it:
//! `daemon::config::LoadedConfig::from_yaml` (`${VAR}` expansion, YAML, every section's
//! validation, rule files, the alerting section) on the input as the text of `vitals.yaml`.
//!
//! The process changes its working directory to a scratch directory holding the files a
//! configuration may name (`rules/*.yml`, `alertmanager.yml`, `templates/*.tmpl`,
//! `token.txt`), so libFuzzer must be given absolute paths (`run.sh` and `cargo fuzz` do). Configurations
//! name files by path, and an operator's file is trusted: inputs whose expanded text could
//! reach a device or kernel file (`/dev/zero` reads forever) or walk the file system (`**`)
//! are skipped, as are YAML escapes that could spell one.
#![no_main]

mod common;

use std::sync::Once;

use libfuzzer_sys::fuzz_target;
use vitals::config::Document;
use vitals::daemon::config::LoadedConfig;

const ORIGIN: &str = "vitals.yaml";

fn env(name: &str) -> Option<String> {
    match name {
        "TOKEN" => Some("s3cret-value".into()),
        "VITALS_LISTEN" => Some("127.0.0.1:9470".into()),
        "RULES" => Some("rules/*.yml".into()),
        "EMPTY" => Some(String::new()),
        "MULTI" => Some("a\nb: c".into()),
        _ => None,
    }
}

fn setup() {
    let dir = common::scratch("config");
    let files: &[(&str, &str)] = &[
        ("rules/probes.yml", include_str!("../../rules/probes.yml")),
        ("rules/otlp.yml", include_str!("../../rules/otlp.yml")),
        (
            "rules/alerting.yml",
            include_str!("../seeds/rule_file/alerting.yml"),
        ),
        (
            "rules/templates.yml",
            include_str!("../seeds/rule_file/templates.yml"),
        ),
        (
            "alertmanager.yml",
            "route: {receiver: log, group_by: [alertname]}\nreceivers: [{name: log, log_configs: [{level: warn}]}]\n",
        ),
        (
            "templates/custom.tmpl",
            "{{ define \"custom.title\" }}[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}{{ end }}\n",
        ),
        ("token.txt", "file-secret\n"),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, text).expect("write fixture");
    }
    std::env::set_current_dir(&dir).expect("chdir");
}

/// Whether a configuration could make the loader read a device or kernel file or walk the
/// whole file system (harness guard, not a finding).
fn unsafe_paths(expanded: &str) -> bool {
    const BAD: &[&str] = &[
        "/dev", "/proc", "/sys", "**", "../", "/..", "\\x", "\\u", "\\U", "\\/", "\\\n", "\\\r",
        "\\N", "\\_", "\\L", "\\P",
    ];
    BAD.iter().any(|b| expanded.contains(b))
}

static INIT: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    common::tolerate_caught_parser_panics();
    INIT.call_once(setup);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Document::parse(text, ORIGIN, env) {
        Ok(doc) if unsafe_paths(doc.expanded()) => return,
        Ok(_) => {}
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    }
    match LoadedConfig::from_yaml(text, ORIGIN, env) {
        Ok(cfg) => {
            let _ = cfg.summary();
            let _ = cfg.warnings.to_string();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});

//! Rule unit-test files (`vitals test rules`, promtool's format): the input is written as
//! `test.yml` in a scratch directory holding rule files (`rules/*.yml` from
//! `tests/promtool/rules/` and `rules.yml` from `tests/fixtures/test_rules/`), parsed with
//! `rules::unittest::spec::parse` and, when the run is bounded, run with
//! `rules::unittest::test_file` (what `vitals test rules FILE` runs) and its report written
//! with `write_report`.
//!
//! Bounded means: every `rule_files` entry is relative and stays in the directory, the
//! evaluation interval is at least 1s, each group evaluates at most 2,000 times, and every
//! input series expands to at most 10,000 values (`series::parse_values`). Longer runs are
//! only slow, not wrong (`vitals test rules` trusts its files), so they are parsed only.
#![no_main]

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use vitals::rules::unittest::series::parse_values;
use vitals::rules::unittest::{TestOptions, spec, test_file, write_report};

macro_rules! rule_fixtures {
    ($($name:literal),*) => {
        &[$((concat!("rules/", $name), include_str!(concat!("../../tests/promtool/rules/", $name)))),*]
    };
}

const FIXTURES: &[(&str, &str)] = rule_fixtures!(
    "aggregations.yml",
    "alerting.yml",
    "glob_a.yml",
    "glob_b.yml",
    "input_notation.yml",
    "instant_functions.yml",
    "keep_firing_for.yml",
    "limit_exceeded.yml",
    "operators.yml",
    "range_functions.yml",
    "selectors.yml",
    "templates.yml",
    "templates_query.yml"
);

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = common::scratch("promtool_test");
        std::fs::create_dir_all(dir.join("rules")).expect("mkdir");
        for (name, text) in FIXTURES {
            std::fs::write(dir.join(name), text).expect("write fixture");
        }
        std::fs::write(
            dir.join("rules.yml"),
            include_str!("../../tests/fixtures/test_rules/rules.yml"),
        )
        .expect("write fixture");
        dir
    })
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

fn bounded(f: &spec::TestFile) -> bool {
    let relative =
        |p: &String| !p.is_empty() && !p.starts_with('/') && !p.contains("..") && !p.contains("**");
    if !f.rule_files.iter().all(relative) {
        return false;
    }
    let interval = match f.evaluation_interval.map(|d| ms(d.get())) {
        Some(0) | None => 60_000,
        Some(i) => i,
    };
    if interval < 1_000 {
        return false;
    }
    f.tests.iter().all(|t| {
        let max_t = t
            .alert_rule_test
            .iter()
            .map(|a| ms(a.eval_time.get()))
            .chain(t.promql_expr_test.iter().map(|e| ms(e.eval_time.get())))
            .max()
            .unwrap_or(0);
        max_t / interval <= 2_000
            && t.input_series
                .iter()
                .all(|s| parse_values(&s.values).map_or(true, |v| v.len() <= 10_000))
    })
}

fuzz_target!(|data: &[u8]| {
    common::tolerate_caught_parser_panics();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = match spec::parse(text, "test.yml") {
        Ok(p) => p,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    if !bounded(&parsed.spec) {
        return;
    }
    let path = dir().join("test.yml");
    std::fs::write(&path, data).expect("write test file");
    let report = test_file(&path, &TestOptions::default());
    let _ = write_report(&report, &mut std::io::sink(), &mut std::io::sink());
});

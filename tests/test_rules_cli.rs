//! Black-box: `vitals test rules` and `vitals check rules` run as the real binary on the
//! fixtures in `tests/fixtures/test_rules/` (each also checked with promtool), comparing exit
//! codes and report text with promtool's.

mod common;

use std::path::Path;

use common::run_cli;

const DIR: &str = "tests/fixtures/test_rules";

/// Runs `vitals ARGS` from the crate root, so paths in reports are the relative ones given.
fn vitals(args: &[&str]) -> common::Output {
    run_cli(args, Some(Path::new(env!("CARGO_MANIFEST_DIR"))))
}

fn fixture(name: &str) -> String {
    format!("{DIR}/{name}")
}

#[test]
fn passing_tests_exit_0_with_success() {
    let f = fixture("pass.yml");
    let out = vitals(&["test", "rules", &f]);
    assert_eq!(out.status.code(), Some(0), "{}{}", out.stdout, out.stderr);
    assert_eq!(out.stdout, format!("Unit Testing:  {f}\n  SUCCESS\n\n"));
    assert_eq!(out.stderr, "");
}

#[test]
fn failing_tests_exit_1_with_promtools_report() {
    let f = fixture("fail.yml");
    let out = vitals(&["test", "rules", &f]);
    assert_eq!(out.status.code(), Some(1), "{}{}", out.stdout, out.stderr);
    // Both streams byte for byte as promtool 2.42 prints them for this file.
    assert_eq!(out.stdout, EXPECTED_FAIL_STDOUT);
    assert_eq!(out.stderr, EXPECTED_FAIL_STDERR);
}

#[test]
fn every_file_is_reported_and_one_failure_fails_the_run() {
    let (pass, fail) = (fixture("pass.yml"), fixture("fail.yml"));
    let out = vitals(&["test", "rules", &pass, &fail, &pass]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(out.stdout.matches("  SUCCESS").count(), 2, "{}", out.stdout);
    assert_eq!(out.stderr.matches("  FAILED:").count(), 1, "{}", out.stderr);
    let out = vitals(&["test", "rules", &pass, &pass]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn run_selects_test_groups_by_name() {
    let f = fixture("fail.yml");
    // Only the unnamed group, whose check fails, is left out by the pattern.
    let out = vitals(&["test", "rules", "--run", "^wrong", &f]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!out.stderr.contains("sum(up)"), "{}", out.stderr);
    let out = vitals(&["test", "rules", "--run", "nothing matches", &f]);
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    let out = vitals(&["test", "rules", "--run", "(", &f]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr.contains("invalid --run pattern"),
        "{}",
        out.stderr
    );
}

/// Runs a malformed fixture: exit 1, and a FAILED block whose first error line starts so.
fn assert_fails_with(name: &str, start: &str) {
    let f = fixture(name);
    let out = vitals(&["test", "rules", &f]);
    assert_eq!(out.status.code(), Some(1), "{}{}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.first(), Some(&"  FAILED:"), "{}", out.stderr);
    let want = format!("{f}:{start}");
    assert!(
        lines.get(1).is_some_and(|l| l.starts_with(&want)),
        "expected a line starting {want:?}, got:\n{}",
        out.stderr
    );
}

#[test]
fn malformed_test_files_name_file_position_and_field() {
    assert_fails_with(
        "bad_field.yml",
        "10:9: tests[0].alert_rule_test[0]: unknown field `exp_alert`",
    );
    assert_fails_with(
        "bad_values.yml",
        "6:17: tests[0].input_series[0].values: value \"3+x4\"",
    );
    assert_fails_with(
        "bad_series.yml",
        "5:17: tests[0].input_series[0].series: \"up{job=~\\\"a\\\"}\"",
    );
    assert_fails_with(
        "bad_duration.yml",
        "5:9: tests[0].alert_rule_test[0]: \"5 minutes\" is not a duration",
    );
}

#[test]
fn a_missing_rule_file_is_an_error_naming_it() {
    assert_fails_with(
        "missing_rules.yml",
        "3:5: rule_files[1]: no such rule file: tests/fixtures/test_rules/does_not_exist.yml",
    );
}

#[test]
fn invalid_rule_files_fail_the_test_file_with_their_errors() {
    let f = fixture("uses_bad_rules.yml");
    let out = vitals(&["test", "rules", &f]);
    assert_eq!(out.status.code(), Some(1));
    let bad = fixture("bad_rules.yml");
    assert!(
        out.stderr.contains(&format!(
            "{bad}:5:15: groups[0].rules[0].expr: could not parse expression"
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!(
            "{bad}:6:17: groups[0].rules[1].record: invalid recording rule name"
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn a_test_file_that_does_not_exist_is_reported() {
    let out = vitals(&["test", "rules", "tests/fixtures/test_rules/nope.yml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr
            .contains("tests/fixtures/test_rules/nope.yml: cannot read the test file"),
        "{}",
        out.stderr
    );
}

/// The rules shipped in `rules/` (they use `humanizeDuration`: this needs the full Go
/// template engine).
#[test]
fn the_shipped_probe_rules_are_valid_and_pass_their_tests() {
    let out = vitals(&["check", "rules", "rules/probes.yml"]);
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "Checking rules/probes.yml\n  SUCCESS: 4 rules found\n\n"
    );
    let out = vitals(&["test", "rules", "rules/tests/probes_test.yml"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout,
        "Unit Testing:  rules/tests/probes_test.yml\n  SUCCESS\n\n"
    );
}

#[test]
fn check_rules_counts_rules_or_prints_every_error() {
    let good = fixture("rules.yml");
    let out = vitals(&["check", "rules", &good]);
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    assert_eq!(
        out.stdout,
        format!("Checking {good}\n  SUCCESS: 3 rules found\n\n")
    );
    let bad = fixture("bad_rules.yml");
    let out = vitals(&["check", "rules", &good, &bad]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        out.stdout,
        format!("Checking {good}\n  SUCCESS: 3 rules found\n\nChecking {bad}\n\n")
    );
    let errors: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(errors.len(), 3, "{}", out.stderr);
    assert_eq!(errors[0], "  FAILED:");
    assert!(errors[1].starts_with(&format!("{bad}:5:15: groups[0].rules[0].expr: ")));
    assert!(errors[2].starts_with(&format!("{bad}:6:17: groups[0].rules[1].record: ")));
    let out = vitals(&["check", "rules"]);
    assert_eq!(out.status.code(), Some(2), "a file is required");
}

const EXPECTED_FAIL_STDOUT: &str = concat!(
    "Unit Testing:  tests/fixtures/test_rules/fail.yml\n",
    "\n",
    "\n",
    "\n",
    "\n",
    "\n",
);

const EXPECTED_FAIL_STDERR: &str = concat!(
    "  FAILED:\n",
    "    name: wrong expectations,\n",
    "    alertname: InstanceDown, time: 2m, \n",
    "        exp:[\n",
    "            0:\n",
    "              Labels:{alertname=\"InstanceDown\", severity=\"page\"}\n",
    "              Annotations:{}\n",
    "            ], \n",
    "        got:[]\n",
    "    name: wrong expectations,\n",
    "    alertname: InstanceDown, time: 10m, \n",
    "        exp:[\n",
    "            0:\n",
    "              Labels:{alertname=\"InstanceDown\", instance=\"localhost:9090\", job=\"prometheus\", severity=\"critical\"}\n",
    "              Annotations:{summary=\"Instance localhost:9090 down\"}\n",
    "            ], \n",
    "        got:[\n",
    "            0:\n",
    "              Labels:{alertname=\"InstanceDown\", instance=\"localhost:9090\", job=\"prometheus\", severity=\"page\"}\n",
    "              Annotations:{description=\"localhost:9090 of job prometheus has been down for more than 5 minutes.\", summary=\"Instance localhost:9090 down\"}\n",
    "            ]\n",
    "    expr: \"up\", time: 1m,\n",
    "        exp: {__name__=\"up\", instance=\"localhost:9090\", job=\"prometheus\"} 1E+00\n",
    "        got: {__name__=\"up\", instance=\"localhost:9090\", job=\"prometheus\"} 0E+00\n",
    "    expr: \"sum(up)\", time: 5m,\n",
    "        exp: nil\n",
    "        got: {} 1E+00\n",
);

/// The differential suite (`tests/promtool/`, checked against real promtool in the interop
/// tier) and the shipped rules' tests, with vitals alone: every file passes, every
/// `must_fail/` file fails, so a regression shows up without promtool installed.
#[test]
fn the_differential_suite_and_shipped_rule_tests_keep_their_verdicts() {
    let root = env!("CARGO_MANIFEST_DIR");
    let list = |dir: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(format!("{root}/{dir}"))
            .expect("dir")
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "yml"))
            .map(|p| p.display().to_string())
            .collect();
        v.sort();
        v
    };
    let mut pass = list("tests/promtool");
    pass.extend(list("rules/tests"));
    assert!(pass.len() >= 15, "{pass:?}");
    for f in &pass {
        let out = vitals(&["test", "rules", f]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{f}:\n{}{}",
            out.stdout,
            out.stderr
        );
    }
    let fail = list("tests/promtool/must_fail");
    assert!(fail.len() >= 10, "{fail:?}");
    for f in &fail {
        let out = vitals(&["test", "rules", f]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{f}:\n{}{}",
            out.stdout,
            out.stderr
        );
        assert!(out.stderr.contains("FAILED"), "{f}:\n{}", out.stderr);
    }
}

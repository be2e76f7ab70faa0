//! End-to-end tests of the unit-test runner on files in a temporary directory.

use std::path::PathBuf;

use super::*;

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::tempdir().expect("temp dir"))
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    }
}

const RULES: &str = r#"
groups:
  - name: g
    rules:
      - alert: InstanceDown
        expr: up == 0
        for: 2m
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.instance }} down"
      - record: job:up:sum
        expr: sum by (job) (up)
"#;

fn run(dir: &Dir, test: &str) -> FileReport {
    dir.write("rules.yml", RULES);
    let t = dir.write("test.yml", test);
    test_file(&t, &TestOptions::default())
}

#[test]
fn passing_alert_and_expr_tests() {
    let r = run(
        &Dir::new(),
        r#"
rule_files: [rules.yml]
tests:
  - interval: 1m
    input_series:
      - series: 'up{job="a", instance="x"}'
        values: '0x10'
      - series: 'up{job="a", instance="y"}'
        values: '1x10'
    alert_rule_test:
      - eval_time: 1m
        alertname: InstanceDown
        exp_alerts: []
      - eval_time: 2m
        alertname: InstanceDown
        exp_alerts:
          - exp_labels: {severity: page, job: a, instance: x}
            exp_annotations: {summary: "x down"}
    promql_expr_test:
      - expr: job:up:sum
        eval_time: 5m
        exp_samples:
          - labels: 'job:up:sum{job="a"}'
            value: 1
      - expr: '1 + 1'
        eval_time: 0m
        exp_samples:
          - labels: '{}'
            value: 2
      - expr: 'vector(3)'
        eval_time: 0m
        exp_samples:
          - labels: ''
            value: 3
"#,
    );
    assert!(r.passed(), "{:#?}", r.failures);
}

#[test]
fn a_wrong_alert_prints_promtools_diff() {
    let r = run(
        &Dir::new(),
        r#"
rule_files: [rules.yml]
tests:
  - name: down
    interval: 1m
    input_series:
      - series: 'up{job="a", instance="x"}'
        values: '0x10'
    alert_rule_test:
      - eval_time: 1m
        alertname: InstanceDown
        exp_alerts:
          - exp_labels: {severity: page, job: a, instance: x}
"#,
    );
    assert_eq!(
        r.failures,
        [
            "    name: down,\n    alertname: InstanceDown, time: 1m, \n        exp:[\n            0:\n              Labels:{alertname=\"InstanceDown\", instance=\"x\", job=\"a\", severity=\"page\"}\n              Annotations:{}\n            ], \n        got:[]"
        ]
    );
}

#[test]
fn a_wrong_sample_prints_promtools_diff() {
    let r = run(
        &Dir::new(),
        r#"
rule_files: [rules.yml]
tests:
  - input_series:
      - series: 'up{job="a"}'
        values: '1 2 3'
    promql_expr_test:
      - expr: up
        eval_time: 1m
        exp_samples:
          - labels: 'up{job="a"}'
            value: 3
      - expr: 'nosuch'
        eval_time: 1m
        exp_samples:
          - labels: 'nosuch'
            value: 3
      - expr: up
        eval_time: 1m
        exp_samples:
          - labels: 'up{job=a}'
            value: 3
      - expr: 'up{'
        eval_time: 1m
"#,
    );
    assert_eq!(r.failures.len(), 4, "{:#?}", r.failures);
    assert_eq!(
        r.failures[3],
        "    expr: \"up{\", time: 1m, err: parse error: unexpected end of input inside braces"
    );
    assert_eq!(
        r.failures[0],
        "    expr: \"up\", time: 1m,\n        exp: {__name__=\"up\", job=\"a\"} 3E+00\n        got: {__name__=\"up\", job=\"a\"} 2E+00"
    );
    assert_eq!(
        r.failures[1],
        "    expr: \"nosuch\", time: 1m,\n        exp: {__name__=\"nosuch\"} 3E+00\n        got: nil"
    );
    assert!(
        r.failures[2].starts_with("    expr: \"up\", time: 1m, err: labels \"up{job=a}\": "),
        "{}",
        r.failures[2]
    );
}

#[test]
fn alerts_are_checked_at_the_evaluation_at_or_before_eval_time() {
    // Evaluations at 0, 2m, 4m: at 3m the state is the 2m evaluation's, where the
    // alert (for: 2m, active since 0) fires.
    let r = run(
        &Dir::new(),
        r#"
rule_files: [rules.yml]
evaluation_interval: 2m
tests:
  - interval: 1m
    input_series:
      - series: 'up{job="a", instance="x"}'
        values: '0x10'
    alert_rule_test:
      - eval_time: 1m59s
        alertname: InstanceDown
        exp_alerts: []
      - eval_time: 3m
        alertname: InstanceDown
        exp_alerts:
          - exp_labels: {severity: page, job: a, instance: x}
            exp_annotations: {summary: "x down"}
"#,
    );
    assert!(r.passed(), "{:#?}", r.failures);
}

#[test]
fn a_rule_that_fails_to_evaluate_stops_the_test_group() {
    let dir = Dir::new();
    dir.write(
        "bad.yml",
        "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: up + on(job) group_left x\n",
    );
    let t = dir.write(
        "test.yml",
        "rule_files: [bad.yml]\ntests:\n  - input_series:\n      - series: 'up{job=\"a\", i=\"1\"}'\n        values: '1'\n      - series: 'x{job=\"a\", i=\"1\"}'\n        values: '1'\n      - series: 'x{job=\"a\", i=\"2\"}'\n        values: '1'\n    promql_expr_test:\n      - expr: r\n        eval_time: 1m\n",
    );
    let r = test_file(&t, &TestOptions::default());
    assert_eq!(r.failures.len(), 1, "{:#?}", r.failures);
    assert!(
        r.failures[0].starts_with("    rule: r, time: 0s, err: "),
        "{}",
        r.failures[0]
    );
}

#[test]
fn file_level_problems() {
    let dir = Dir::new();
    let t = dir.write(
        "t.yml",
        "rule_files: [missing.yml, 'none-*.yml']\ntests: []\n",
    );
    let r = test_file(&t, &TestOptions::default());
    assert_eq!(r.failures.len(), 1);
    assert!(
        r.failures[0].contains("t.yml:1:14: rule_files[0]: no such rule file"),
        "{}",
        r.failures[0]
    );
    let t = dir.write("t2.yml", "rule_files: ['none-*.yml']\ntests: []\n");
    let r = test_file(&t, &TestOptions::default());
    assert!(r.passed());
    assert_eq!(r.warnings.len(), 1);
    assert!(r.warnings[0].starts_with("no file match pattern "));
    let t = dir.write("t3.yml", "group_eval_order: [a, a]\n");
    let r = test_file(&t, &TestOptions::default());
    assert_eq!(r.failures, ["group name repeated in evaluation order: a"]);
    let r = test_file(&dir.0.path().join("nope.yml"), &TestOptions::default());
    assert!(r.failures[0].contains("cannot read the test file"));
}

#[test]
fn malformed_series_and_missing_alertname() {
    let dir = Dir::new();
    dir.write("rules.yml", RULES);
    let t = dir.write(
        "t.yml",
        "rule_files: [rules.yml]\ntests:\n  - input_series:\n      - series: 'up{job=\"a\"}'\n        values: '1 2x'\n  - name: second\n    alert_rule_test:\n      - eval_time: 1m\n",
    );
    let r = test_file(&t, &TestOptions::default());
    assert_eq!(r.failures.len(), 2, "{:#?}", r.failures);
    assert!(
        r.failures[0].contains("t.yml:5:17: tests[0].input_series[0].values: value \"2x\""),
        "{}",
        r.failures[0]
    );
    assert_eq!(
        r.failures[1],
        "an item under alert_rule_test misses required attribute alertname at eval_time 1m (in TestGroup second)"
    );
}

#[test]
fn group_eval_order_lets_one_group_read_anothers_result() {
    let dir = Dir::new();
    dir.write(
        "rules.yml",
        "groups:\n  - name: second\n    rules:\n      - record: b\n        expr: a * 2\n  - name: first\n    rules:\n      - record: a\n        expr: vector(1)\n",
    );
    let test = |order: &str| {
        let t = dir.write(
            "t.yml",
            &format!(
                "rule_files: [rules.yml]\ngroup_eval_order: [{order}]\ntests:\n  - promql_expr_test:\n      - expr: b\n        eval_time: 0m\n        exp_samples:\n          - labels: 'b'\n            value: 2\n"
            ),
        );
        test_file(&t, &TestOptions::default())
    };
    assert!(test("first, second").passed());
    assert!(!test("second, first").passed());
}

#[test]
fn run_filter_selects_test_groups_by_name() {
    let dir = Dir::new();
    dir.write("rules.yml", RULES);
    let t = dir.write(
        "t.yml",
        "rule_files: [rules.yml]\ntests:\n  - name: good\n    promql_expr_test:\n      - expr: '1'\n        exp_samples: [{labels: '{}', value: 1}]\n  - name: bad\n    promql_expr_test:\n      - expr: '1'\n        exp_samples: [{labels: '{}', value: 2}]\n",
    );
    let all = test_file(&t, &TestOptions::default());
    assert_eq!(all.failures.len(), 1);
    let opts = TestOptions::new(&["^go".into()]).unwrap();
    assert!(test_file(&t, &opts).passed());
}

#[test]
fn reports_print_on_the_streams_promtool_uses() {
    let ok = FileReport {
        file: "a.yml".into(),
        ..FileReport::default()
    };
    let bad = FileReport {
        file: "b.yml".into(),
        warnings: vec!["no file match pattern x*".into()],
        failures: vec!["one".into(), "two".into()],
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    write_report(&ok, &mut out, &mut err).unwrap();
    write_report(&bad, &mut out, &mut err).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out),
        "Unit Testing:  a.yml\n  SUCCESS\n\nUnit Testing:  b.yml\n\n\n\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&err),
        "  WARNING: no file match pattern x*\n  FAILED:\none\ntwo\n"
    );
}

#[test]
fn check_rules_counts_rules_and_prints_errors() {
    let dir = Dir::new();
    let good = dir.write("good.yml", RULES);
    let bad = dir.write(
        "bad.yml",
        "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: sum(\n",
    );
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert!(check_rule_files(std::slice::from_ref(&good), &mut out, &mut err).unwrap());
    assert_eq!(
        String::from_utf8_lossy(&out),
        format!("Checking {}\n  SUCCESS: 2 rules found\n\n", good.display())
    );
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert!(!check_rule_files(&[good, bad.clone()], &mut out, &mut err).unwrap());
    let err = String::from_utf8_lossy(&err);
    assert!(
        err.starts_with(&format!(
            "  FAILED:\n{}:5:15: groups[0].rules[0].expr: could not parse expression",
            bad.display()
        )),
        "{err}"
    );
}

#[test]
fn samples_are_written_only_as_the_test_clock_reaches_them() {
    // As promtool's lazy loader: evaluations stop at the last eval_time (1m), so the sample
    // at 2m is never written and `offset -1m` at 1m finds the 1m sample.
    let r = run(
        &Dir::new(),
        "tests:\n  - interval: 1m\n    input_series:\n      - series: 'x'\n        values: '1 2 3 4'\n    promql_expr_test:\n      - expr: x offset -1m\n        eval_time: 1m\n        exp_samples:\n          - labels: 'x'\n            value: 2\n",
    );
    assert!(r.passed(), "{:#?}", r.failures);
}

#[test]
fn start_timestamp_moves_the_test_clock() {
    let r = run(
        &Dir::new(),
        r#"
rule_files: [rules.yml]
tests:
  - interval: 1m
    start_timestamp: 1000
    input_series:
      - series: 'up{job="a", instance="x"}'
        values: '0x10'
    alert_rule_test:
      - eval_time: 2m
        alertname: InstanceDown
        exp_alerts:
          - exp_labels: {severity: page, job: a, instance: x}
            exp_annotations: {summary: "x down"}
    promql_expr_test:
      - expr: time()
        eval_time: 1m
        exp_samples: [{labels: '{}', value: 1060}]
      - expr: timestamp(up)
        eval_time: 1m
        exp_samples: [{labels: '{instance="x", job="a"}', value: 1060}]
  - start_timestamp: "2021-01-01T00:00:00Z"
    promql_expr_test:
      - expr: time()
        exp_samples: [{labels: '{}', value: 1609459200}]
  - start_timestamp: soon
"#,
    );
    assert_eq!(r.failures.len(), 1, "{:#?}", r.failures);
    assert!(
        r.failures[0].contains("tests[2].start_timestamp: cannot parse \"soon\""),
        "{}",
        r.failures[0]
    );
}

#[test]
fn fuzzy_compare_forgives_the_last_bit_only() {
    let dir = Dir::new();
    let test = |fuzzy: bool, value: &str| {
        let t = dir.write(
            "t.yml",
            &format!(
                "fuzzy_compare: {fuzzy}\ntests:\n  - promql_expr_test:\n      - expr: '0.1 + 0.2'\n        exp_samples: [{{labels: '{{}}', value: {value}}}]\n"
            ),
        );
        test_file(&t, &TestOptions::default()).passed()
    };
    assert!(!test(false, "0.3"));
    assert!(test(true, "0.3"));
    assert!(test(false, "0.30000000000000004"));
    assert!(!test(true, "0.31"));
}

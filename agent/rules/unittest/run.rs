//! One test group run as promtool runs it: a fresh store, the input series written as the
//! test clock reaches them, every group evaluated at every `evaluation_interval` from 0 to
//! the largest `eval_time`, alerts compared after the evaluation at or just before each
//! `eval_time`, then the PromQL expressions.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use super::format::{
    format_float_e, go_duration, go_quote, indent_lines, labels_string, model_duration,
};
use super::series::{parse_metric, parse_values};
use super::spec::{ExprTest, ParsedFile, TestGroup};
use crate::promql::{Engine, PromqlError, QueryLimits, Value};
use crate::rules::file::{LoadOptions, load_files};
use crate::rules::group::{EvalContext, Group};
use crate::rules::status::AlertState;
use crate::store::{Labels, Store, StoreConfig};

/// What the whole file's tests share.
pub struct FileContext<'a> {
    pub parsed: &'a ParsedFile,
    pub rule_files: &'a [PathBuf],
    pub eval_interval_ms: i64,
    /// `group_eval_order`: group name → position.
    pub order: &'a HashMap<String, usize>,
    pub fuzzy: bool,
}

/// A label set as promtool compares it: sorted pairs, empty values kept.
type Pairs = Vec<(String, String)>;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct AlertView {
    labels: Pairs,
    annotations: Pairs,
}

fn pairs_of(l: &Labels) -> Pairs {
    l.iter()
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect()
}

fn pairs_string(p: &Pairs) -> String {
    labels_string(p.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// promtool's `labelsAndAnnotations.String()`.
fn alerts_string(list: &[AlertView]) -> String {
    if list.is_empty() {
        return "[]".into();
    }
    let mut s = String::from("[");
    for (i, a) in list.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let body = format!(
            "\nLabels:{}\nAnnotations:{}",
            pairs_string(&a.labels),
            pairs_string(&a.annotations)
        );
        s.push_str(&format!("\n{i}:{}", indent_lines(&body, "  ")));
    }
    s.push_str("\n]");
    s
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Runs test group `index`; the returned texts are its failures, in promtool's words.
pub fn run_group(tg: &TestGroup, index: usize, fc: &FileContext<'_>) -> Vec<String> {
    let interval_ms = match tg.interval.map(|d| ms(d.get())) {
        Some(i) if i > 0 => i,
        _ => fc.eval_interval_ms,
    };
    let tp = format!("tests[{index}]");
    let mint = match super::spec::parse_start_timestamp(&tg.start_timestamp) {
        Ok(t) => t,
        Err(e) => {
            return vec![
                fc.parsed
                    .error_at(&format!("{tp}.start_timestamp"), e)
                    .to_string(),
            ];
        }
    };

    // Input series: a later definition of the same series replaces an earlier one.
    let mut series: BTreeMap<Labels, Vec<Option<f64>>> = BTreeMap::new();
    for (i, s) in tg.input_series.iter().enumerate() {
        let sp = format!("{tp}.input_series[{i}]");
        let labels = match parse_metric(&s.series) {
            Ok(l) => l,
            Err(e) => {
                return vec![
                    fc.parsed
                        .error_at(
                            &format!("{sp}.series"),
                            format!("{}: {e}", go_quote(&s.series)),
                        )
                        .to_string(),
                ];
            }
        };
        match parse_values(&s.values) {
            Ok(v) => {
                series.insert(labels, v);
            }
            Err(e) => {
                return vec![
                    fc.parsed
                        .error_at(&format!("{sp}.values"), e.to_string())
                        .to_string(),
                ];
            }
        }
    }
    let mut samples: Vec<(i64, &Labels, f64)> = Vec::new();
    for (labels, steps) in &series {
        for (i, step) in steps.iter().enumerate() {
            if let Some(v) = step {
                let t = i64::try_from(i)
                    .ok()
                    .and_then(|i| i.checked_mul(interval_ms))
                    .and_then(|d| d.checked_add(mint))
                    .unwrap_or(i64::MAX);
                samples.push((t, labels, *v));
            }
        }
    }
    samples.sort_by_key(|s| s.0);

    // The rules, with this test's interval as the groups' default.
    let specs = match load_files(
        fc.rule_files,
        &LoadOptions {
            default_interval_ms: interval_ms,
        },
    ) {
        Ok(s) => s,
        Err(errors) => return errors.0.iter().map(|e| e.to_string()).collect(),
    };
    let mut groups: Vec<Group> = specs.into_iter().map(Group::new).collect();
    // promtool sorts by position in group_eval_order, unlisted groups counting as 0; a
    // stable sort keeps file order among equals.
    groups.sort_by_key(|g| fc.order.get(&g.spec().name).copied().unwrap_or(0));

    let mut alert_tests: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, a) in tg.alert_rule_test.iter().enumerate() {
        if a.alertname.is_empty() {
            let in_group = if tg.name.is_empty() {
                String::new()
            } else {
                format!(" (in TestGroup {})", tg.name)
            };
            return vec![format!(
                "an item under alert_rule_test misses required attribute alertname at eval_time {}{in_group}",
                model_duration(ms(a.eval_time.get()))
            )];
        }
        alert_tests
            .entry(ms(a.eval_time.get()))
            .or_default()
            .push(i);
    }
    let max_t = tg
        .alert_rule_test
        .iter()
        .map(|a| ms(a.eval_time.get()))
        .chain(tg.promql_expr_test.iter().map(|e| ms(e.eval_time.get())))
        .max()
        .unwrap_or(0);

    let registry = prometheus::Registry::new();
    let forever = Duration::from_secs(100 * 365 * 24 * 3600);
    let store = match Store::new(
        StoreConfig {
            retention: forever,
            stale_after: forever,
            max_series: usize::MAX,
        },
        &registry,
    ) {
        Ok(s) => s,
        Err(e) => return vec![format!("cannot create the test store: {e}")],
    };
    let external_labels = Labels::new(
        tg.external_labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let ctx = EvalContext {
        store: &store,
        external_labels: &external_labels,
        external_url: &tg.external_url,
        limits: QueryLimits::default(),
        subquery_step_ms: fc.eval_interval_ms,
    };

    let mut errs = Vec::new();
    let mut next_sample = 0;
    let mut pending_checks = alert_tests.iter().peekable();
    let max_t = mint.saturating_add(max_t);
    let mut ts = mint;
    while ts <= max_t {
        while let Some(&(t, labels, v)) = samples.get(next_sample) {
            if t > ts {
                break;
            }
            // Samples of one series come in time order: an append cannot be refused.
            let _ = store.append(labels, t, v);
            next_sample += 1;
        }
        let mut eval_errs = Vec::new();
        for g in &mut groups {
            let report = g.eval(&ctx, ts);
            for crate::rules::group::RuleFailure { rule, error: e } in report.failures {
                eval_errs.push(format!(
                    "    rule: {rule}, time: {}, err: {e}",
                    go_duration(ts)
                ));
            }
        }
        if !eval_errs.is_empty() {
            errs.extend(eval_errs);
            return errs;
        }
        while let Some(&(&t, cases)) = pending_checks.peek() {
            let since = ts - mint;
            if !(since <= t && t < since.saturating_add(fc.eval_interval_ms)) {
                break;
            }
            for &i in cases.iter() {
                if let Some(e) = check_alerts(tg, i, &groups) {
                    errs.push(e);
                }
            }
            pending_checks.next();
        }
        match ts.checked_add(fc.eval_interval_ms) {
            Some(n) => ts = n,
            None => break,
        }
    }

    for e in &tg.promql_expr_test {
        if let Some(failure) = check_expr(e, &store, mint, fc.fuzzy, fc.eval_interval_ms) {
            errs.push(failure);
        }
    }
    errs
}

/// The firing alerts called `name` across every group, with annotations that rendered
/// empty put back (the store's label sets drop empty values; Prometheus keeps them).
fn firing(groups: &[Group], name: &str) -> Vec<AlertView> {
    let mut out = Vec::new();
    for g in groups {
        let mut keys: Vec<Vec<&str>> = g
            .spec()
            .rules
            .iter()
            .filter(|r| r.name == name)
            .filter_map(|r| match &r.kind {
                crate::rules::file::RuleKindSpec::Alert { annotations, .. } => {
                    Some(annotations.iter().map(|(k, _)| k.as_str()).collect())
                }
                crate::rules::file::RuleKindSpec::Record => None,
            })
            .collect();
        keys.dedup();
        let fill: &[&str] = if keys.len() == 1 { &keys[0] } else { &[] };
        for a in g.alerts_of(name) {
            if a.state != AlertState::Firing {
                continue;
            }
            let mut annotations = pairs_of(&a.annotations);
            for k in fill {
                if !annotations.iter().any(|(n, _)| n == k) {
                    annotations.push(((*k).to_string(), String::new()));
                }
            }
            annotations.sort();
            out.push(AlertView {
                labels: pairs_of(&a.labels),
                annotations,
            });
        }
    }
    out
}

fn check_alerts(tg: &TestGroup, i: usize, groups: &[Group]) -> Option<String> {
    let case = &tg.alert_rule_test[i];
    let mut got = firing(groups, &case.alertname);
    let mut exp: Vec<AlertView> = case
        .exp_alerts
        .iter()
        .map(|a| {
            let mut labels = a.exp_labels.clone();
            labels.insert("alertname".into(), case.alertname.clone());
            AlertView {
                labels: labels.into_iter().collect(),
                annotations: a
                    .exp_annotations
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            }
        })
        .collect();
    got.sort();
    exp.sort();
    if got == exp {
        return None;
    }
    let name = if tg.name.is_empty() {
        String::new()
    } else {
        format!("    name: {},\n", tg.name)
    };
    let indent = " ".repeat(12);
    Some(format!(
        "{name}    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
        case.alertname,
        model_duration(ms(case.eval_time.get())),
        indent_lines(&alerts_string(&exp), &indent),
        indent_lines(&alerts_string(&got), &indent),
    ))
}

fn float_eq(a: f64, b: f64, fuzzy: bool) -> bool {
    // NaN never equals NaN: promtool compares with Go's `==`.
    a == b || (fuzzy && (a.next_down() == b || a.next_up() == b))
}

fn samples_string(s: &[(Labels, f64)]) -> String {
    if s.is_empty() {
        return "nil".into();
    }
    s.iter()
        .map(|(l, v)| {
            format!(
                "{} {}",
                labels_string(l.iter().map(|l| (&*l.name, &*l.value))),
                format_float_e(*v)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_expr(
    e: &ExprTest,
    store: &Store,
    mint: i64,
    fuzzy: bool,
    subquery_step_ms: i64,
) -> Option<String> {
    let time = model_duration(ms(e.eval_time.get()));
    let head = format!("    expr: {}, time: {time}", go_quote(&e.expr));
    let mut got = match Engine::new(store)
        .with_subquery_step_ms(subquery_step_ms)
        .instant(&e.expr, mint.saturating_add(ms(e.eval_time.get())))
    {
        Ok(Value::Vector(v)) => v,
        Ok(Value::Scalar(_, v)) => vec![(Labels::default(), v)],
        Ok(_) => {
            return Some(format!(
                "{head}, err: rule result is not a vector or scalar"
            ));
        }
        Err(PromqlError::Parse { message, .. }) => {
            return Some(format!("{head}, err: parse error: {message}"));
        }
        Err(err) => return Some(format!("{head}, err: {err}")),
    };
    let mut exp = Vec::with_capacity(e.exp_samples.len());
    for s in &e.exp_samples {
        // An empty `labels` is the empty label set (a scalar's), as promtool reads it.
        let labels = if s.labels.trim().is_empty() {
            Ok(Labels::default())
        } else {
            parse_metric(&s.labels).map_err(|err| err.to_string())
        };
        let labels = labels.and_then(|l| {
            if s.histogram.is_empty() {
                Ok(l)
            } else {
                Err("native histogram samples are not supported (the store holds floats)".into())
            }
        });
        match labels {
            Ok(l) => exp.push((l, s.value)),
            Err(err) => {
                return Some(format!(
                    "{head}, err: labels {}: {err}",
                    go_quote(&s.labels)
                ));
            }
        }
    }
    got.sort_by(|a, b| a.0.cmp(&b.0));
    exp.sort_by(|a, b| a.0.cmp(&b.0));
    let same = got.len() == exp.len()
        && got
            .iter()
            .zip(&exp)
            .all(|(g, x)| g.0 == x.0 && float_eq(x.1, g.1, fuzzy));
    if same {
        return None;
    }
    Some(format!(
        "{head},\n        exp: {}\n        got: {}",
        samples_string(&exp),
        samples_string(&got)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_lists_print_like_promtool() {
        let a = AlertView {
            labels: vec![("alertname".into(), "X".into()), ("job".into(), "a".into())],
            annotations: vec![("summary".into(), "down".into())],
        };
        assert_eq!(alerts_string(&[]), "[]");
        assert_eq!(
            indent_lines(&alerts_string(&[a.clone(), a]), "            "),
            "[\n            0:\n              Labels:{alertname=\"X\", job=\"a\"}\n              Annotations:{summary=\"down\"},\n            1:\n              Labels:{alertname=\"X\", job=\"a\"}\n              Annotations:{summary=\"down\"}\n            ]"
        );
    }

    #[test]
    fn floats_compare_exactly_unless_fuzzy() {
        let x = 0.1 + 0.2;
        assert!(!float_eq(0.3, x, false));
        assert!(float_eq(0.3, x, true));
        assert!(!float_eq(0.3, 0.31, true));
        assert!(!float_eq(f64::NAN, f64::NAN, true));
        assert!(float_eq(f64::INFINITY, f64::INFINITY, false));
    }

    #[test]
    fn samples_print_like_promtool() {
        let l = Labels::new([("__name__", "up"), ("job", "a")]);
        assert_eq!(samples_string(&[]), "nil");
        assert_eq!(
            samples_string(&[(l.clone(), 50.0), (l, 0.5)]),
            r#"{__name__="up", job="a"} 5E+01, {__name__="up", job="a"} 5E-01"#
        );
    }
}

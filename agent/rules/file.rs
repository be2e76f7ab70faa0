//! Prometheus rule files: the YAML schema (`groups`, `interval`, `limit`, `rules` with
//! `record` / `alert`, `expr`, `for`, `keep_firing_for`, `labels`, `annotations`) and its
//! validation into [`GroupSpec`]s the engine runs.
//!
//! Loading gathers every problem of every file before giving up, each with
//! `file:line:col`, the field path and what is wrong, as `vitals check rules` prints them.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use promql_parser::parser::Expr;
use serde::Deserialize;

use super::template::Template;
use crate::config::position::Positions;
use crate::config::{PromDuration, check_depth};

/// One problem in a rule file: the configuration's positioned error (`file:line:col: path:
/// message`).
pub use crate::config::ConfigError as RuleError;
/// Every problem found, in file order.
pub use crate::config::ConfigErrors as RuleErrors;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    groups: Vec<RawGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: String,
    #[serde(default)]
    interval: Option<PromDuration>,
    #[serde(default)]
    query_offset: Option<PromDuration>,
    #[serde(default)]
    limit: usize,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    record: Option<String>,
    #[serde(default)]
    alert: Option<String>,
    #[serde(default)]
    expr: Option<serde_yaml_ng::Value>,
    #[serde(default, rename = "for")]
    for_: Option<PromDuration>,
    #[serde(default)]
    keep_firing_for: Option<PromDuration>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// What a rule computes.
#[derive(Debug, Clone)]
pub enum RuleKindSpec {
    /// `record: <name>`: the result is written back to the store under that metric name.
    Record,
    /// `alert: <name>`.
    Alert {
        /// `for`, ms: how long the expression must hold before the alert fires.
        for_ms: i64,
        /// `keep_firing_for`, ms: how long a firing alert stays firing after the expression
        /// stops returning it.
        keep_firing_for_ms: i64,
        /// Annotation templates, by name.
        annotations: Vec<(String, Arc<Template>)>,
    },
}

/// One validated rule.
#[derive(Debug, Clone)]
pub struct RuleSpec {
    /// The `record` or `alert` name.
    pub name: String,
    /// The expression as written.
    pub expr_text: String,
    /// The parsed expression.
    pub expr: Arc<Expr>,
    /// Label templates (alerting rules) or plain values (recording rules), by name; group
    /// labels are merged in (the rule's own win).
    pub labels: Vec<(String, Arc<Template>)>,
    pub kind: RuleKindSpec,
}

impl RuleSpec {
    /// True for alerting rules.
    pub fn is_alert(&self) -> bool {
        matches!(self.kind, RuleKindSpec::Alert { .. })
    }
}

/// One validated group.
#[derive(Debug, Clone)]
pub struct GroupSpec {
    /// The file, as given.
    pub file: String,
    pub name: String,
    /// Evaluation interval, ms (the group's own, else the global one).
    pub interval_ms: i64,
    /// How far behind now the group evaluates, ms.
    pub query_offset_ms: i64,
    /// Most alerts (or recorded series) one evaluation may produce; 0: no limit.
    pub limit: usize,
    pub rules: Vec<RuleSpec>,
}

impl GroupSpec {
    /// `file;name`: the identity Prometheus uses (`rule_group` label), unique per process.
    pub fn key(&self) -> String {
        format!("{};{}", self.file, self.name)
    }

    /// A text that changes whenever anything that affects evaluation changes (for reloads).
    pub fn fingerprint(&self) -> String {
        let mut s = format!(
            "{}|{}|{}|{}",
            self.interval_ms,
            self.query_offset_ms,
            self.limit,
            self.rules.len()
        );
        for r in &self.rules {
            s.push_str(&format!("\n{}|{}|", r.name, r.expr_text));
            for (k, t) in &r.labels {
                s.push_str(&format!("{k}={};", t.source()));
            }
            if let RuleKindSpec::Alert {
                for_ms,
                keep_firing_for_ms,
                annotations,
            } = &r.kind
            {
                s.push_str(&format!("|{for_ms}|{keep_firing_for_ms}|"));
                for (k, t) in annotations {
                    s.push_str(&format!("{k}={};", t.source()));
                }
            }
        }
        s
    }
}

/// Options that apply to every file.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The interval of groups that do not set one, ms.
    pub default_interval_ms: i64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            default_interval_ms: 60_000,
        }
    }
}

/// What [`expand_patterns`] found.
#[derive(Debug, Default)]
pub struct Expanded {
    /// The files, sorted per pattern, without repeats.
    pub files: Vec<PathBuf>,
    /// Indices of the glob patterns that matched no file (promtool warns about them).
    pub unmatched: Vec<usize>,
}

/// Expands `patterns` (paths or globs; relative ones against `base`, or as they are when
/// `base` is empty) into files, sorted
/// per pattern, without repeats. A pattern without glob characters must name a file.
pub fn expand_patterns(patterns: &[String], base: &Path) -> Result<Expanded, RuleErrors> {
    let mut out = Vec::new();
    let mut unmatched = Vec::new();
    let mut seen = HashSet::new();
    let mut errors = Vec::new();
    for (i, p) in patterns.iter().enumerate() {
        let full = if Path::new(p).is_absolute() || base.as_os_str().is_empty() {
            PathBuf::from(p)
        } else {
            base.join(p)
        };
        let text = full.to_string_lossy().to_string();
        let err = |message: String| RuleError {
            file: p.clone(),
            position: None,
            path: format!("rule_files[{i}]"),
            message,
        };
        if !p.contains(['*', '?', '[']) {
            if seen.insert(full.clone()) {
                out.push(full);
            }
            continue;
        }
        match glob::glob(&text) {
            Ok(paths) => {
                let mut found: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
                if found.is_empty() {
                    unmatched.push(i);
                }
                found.sort();
                for f in found {
                    if seen.insert(f.clone()) {
                        out.push(f);
                    }
                }
            }
            Err(e) => errors.push(err(format!("invalid pattern: {e}"))),
        }
    }
    if errors.is_empty() {
        Ok(Expanded {
            files: out,
            unmatched,
        })
    } else {
        Err(RuleErrors(errors))
    }
}

/// Loads and validates every file; groups in file order.
pub fn load_files(files: &[PathBuf], opts: &LoadOptions) -> Result<Vec<GroupSpec>, RuleErrors> {
    let mut groups = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        let name = f.display().to_string();
        match std::fs::read_to_string(f) {
            Ok(text) => match parse_text(&text, &name, opts) {
                Ok(g) => groups.extend(g),
                Err(e) => errors.extend(e.0),
            },
            Err(e) => errors.push(RuleError {
                file: name,
                position: None,
                path: String::new(),
                message: format!("cannot read the rule file: {e}"),
            }),
        }
    }
    if errors.is_empty() {
        Ok(groups)
    } else {
        Err(RuleErrors(errors))
    }
}

/// Parses and validates one rule file's text; `file` names it in errors and in the groups.
pub fn parse_text(
    text: &str,
    file: &str,
    opts: &LoadOptions,
) -> Result<Vec<GroupSpec>, RuleErrors> {
    check_depth(text).map_err(|e| {
        RuleErrors(vec![RuleError {
            file: file.to_string(),
            position: Some((e.line, e.col)),
            path: String::new(),
            message: e.to_string(),
        }])
    })?;
    let positions = Positions::of(text);
    let at = |path: &str, message: String| {
        let position = positions.value(path).map(|p| (p.line, p.col));
        RuleError {
            file: file.to_string(),
            position,
            path: path.to_string(),
            message,
        }
    };
    let raw: RawFile = if text.trim().is_empty() {
        RawFile { groups: Vec::new() }
    } else {
        serde_yaml_ng::from_str(text)
            .map_err(|e| RuleErrors(vec![RuleError::from_yaml(file, &e)]))?
    };
    let mut errors = Vec::new();
    let mut groups = Vec::new();
    let mut group_names = HashSet::new();
    for (gi, g) in raw.groups.into_iter().enumerate() {
        let gp = format!("groups[{gi}]");
        if g.name.is_empty() {
            errors.push(at(
                &format!("{gp}.name"),
                "group name must not be empty".into(),
            ));
        } else if !group_names.insert(g.name.clone()) {
            errors.push(at(
                &format!("{gp}.name"),
                format!("{:?}: repeated group name", g.name),
            ));
        }
        let interval_ms = match g.interval {
            Some(d) if d.get().is_zero() => {
                errors.push(at(
                    &format!("{gp}.interval"),
                    "interval must be positive".into(),
                ));
                opts.default_interval_ms
            }
            Some(d) => duration_ms(d),
            None => opts.default_interval_ms,
        };
        for k in g.labels.keys() {
            if let Err(m) = check_label_name(k) {
                errors.push(at(&format!("{gp}.labels.{k}"), m));
            }
        }
        let mut rules = Vec::new();
        for (ri, r) in g.rules.into_iter().enumerate() {
            let rp = format!("{gp}.rules[{ri}]");
            match build_rule(r, &g.labels, &rp, &mut |p, m| errors.push(at(p, m))) {
                Some(rule) => rules.push(rule),
                None => continue,
            }
        }
        groups.push(GroupSpec {
            file: file.to_string(),
            name: g.name,
            interval_ms,
            query_offset_ms: g.query_offset.map(duration_ms).unwrap_or(0),
            limit: g.limit,
            rules,
        });
    }
    if errors.is_empty() {
        Ok(groups)
    } else {
        errors.sort_by_key(|e: &RuleError| e.position);
        Err(RuleErrors(errors))
    }
}

fn duration_ms(d: PromDuration) -> i64 {
    i64::try_from(d.get().as_millis()).unwrap_or(i64::MAX)
}

fn build_rule(
    r: RawRule,
    group_labels: &BTreeMap<String, String>,
    rp: &str,
    err: &mut dyn FnMut(&str, String),
) -> Option<RuleSpec> {
    let mut ok = true;
    let (name, is_alert) = match (&r.record, &r.alert) {
        (Some(_), Some(_)) => {
            err(rp, "only one of 'record' and 'alert' must be set".into());
            return None;
        }
        (None, None) => {
            err(rp, "one of 'record' or 'alert' must be set".into());
            return None;
        }
        (Some(rec), None) => {
            if !is_valid_metric_name(rec) {
                err(
                    &format!("{rp}.record"),
                    format!("invalid recording rule name: {rec:?}"),
                );
                ok = false;
            }
            (rec.clone(), false)
        }
        (None, Some(a)) => {
            if a.is_empty() {
                err(
                    &format!("{rp}.alert"),
                    "alert name must not be empty".into(),
                );
                ok = false;
            }
            (a.clone(), true)
        }
    };
    let expr_text = match &r.expr {
        None => {
            err(rp, "field 'expr' must be set in rule".into());
            return None;
        }
        Some(v) => match scalar_text(v) {
            Some(t) if !t.trim().is_empty() => t,
            _ => {
                err(
                    &format!("{rp}.expr"),
                    "field 'expr' must be a non-empty PromQL expression".into(),
                );
                return None;
            }
        },
    };
    let expr = match crate::promql::parse(&expr_text) {
        Ok(e) => {
            if let Err(e) = crate::promql::check_supported(&e) {
                err(&format!("{rp}.expr"), e.to_string());
                ok = false;
            }
            Some(e)
        }
        Err(e) => {
            let message = match e {
                crate::promql::PromqlError::Parse { message, .. } => {
                    format!("could not parse expression: {message}")
                }
                other => other.to_string(),
            };
            err(&format!("{rp}.expr"), message);
            ok = false;
            None
        }
    };
    if !is_alert {
        if r.for_.is_some() {
            err(
                &format!("{rp}.for"),
                "invalid field 'for' in recording rule".into(),
            );
            ok = false;
        }
        if r.keep_firing_for.is_some() {
            err(
                &format!("{rp}.keep_firing_for"),
                "invalid field 'keep_firing_for' in recording rule".into(),
            );
            ok = false;
        }
        if !r.annotations.is_empty() {
            err(
                &format!("{rp}.annotations"),
                "invalid field 'annotations' in recording rule".into(),
            );
            ok = false;
        }
    }
    let mut all_labels: BTreeMap<String, String> = group_labels.clone();
    for (k, v) in &r.labels {
        all_labels.insert(k.clone(), v.clone());
    }
    let mut labels = Vec::new();
    for (k, v) in &all_labels {
        let p = format!("{rp}.labels.{k}");
        if let Err(m) = check_label_name(k) {
            err(&p, m);
            ok = false;
            continue;
        }
        if k == "__name__" {
            err(&p, "invalid label name: __name__".into());
            ok = false;
            continue;
        }
        let tmpl_name = format!("__alert_{name}");
        let parsed = if is_alert {
            Template::parse(&tmpl_name, v)
        } else {
            Ok(Template::literal(v))
        };
        match parsed {
            Ok(t) => labels.push((k.clone(), Arc::new(t))),
            Err(e) => {
                err(&p, format!("invalid template: {e}"));
                ok = false;
            }
        }
    }
    let mut annotations = Vec::new();
    for (k, v) in &r.annotations {
        let p = format!("{rp}.annotations.{k}");
        if let Err(m) = check_label_name(k) {
            err(&p, m);
            ok = false;
            continue;
        }
        match Template::parse(&format!("__alert_{name}"), v) {
            Ok(t) => annotations.push((k.clone(), Arc::new(t))),
            Err(e) => {
                err(&p, format!("invalid template: {e}"));
                ok = false;
            }
        }
    }
    let expr = expr?;
    if !ok {
        return None;
    }
    let kind = if is_alert {
        RuleKindSpec::Alert {
            for_ms: r.for_.map(duration_ms).unwrap_or(0),
            keep_firing_for_ms: r.keep_firing_for.map(duration_ms).unwrap_or(0),
            annotations,
        }
    } else {
        RuleKindSpec::Record
    };
    Some(RuleSpec {
        name,
        expr_text,
        expr: Arc::new(expr),
        labels,
        kind,
    })
}

/// A YAML scalar as text (`expr: 1` is the expression `1`).
fn scalar_text(v: &serde_yaml_ng::Value) -> Option<String> {
    use serde_yaml_ng::Value;
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Prometheus's metric-name rule: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Prometheus's label-name rule: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn check_label_name(s: &str) -> Result<(), String> {
    let mut chars = s.chars();
    let ok = match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {
            chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("invalid label name: {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<GroupSpec>, RuleErrors> {
        parse_text(text, "r.yml", &LoadOptions::default())
    }

    #[test]
    fn deeply_nested_rule_files_are_refused() {
        let n = 30_000;
        let text = format!("groups: {}{}\n", "[".repeat(n), "]".repeat(n));
        let errs = parse(&text).unwrap_err();
        assert_eq!(errs.0.len(), 1, "{errs}");
        let e = errs.0[0].to_string();
        assert!(e.starts_with("r.yml:1:"), "{e}");
        assert!(
            e.ends_with(": YAML is nested too deeply (more than 64 levels)"),
            "{e}"
        );
    }

    #[test]
    fn parses_groups_and_rules() {
        let g = parse(
            "groups:\n  - name: g\n    interval: 30s\n    limit: 3\n    rules:\n      - record: job:up:sum\n        expr: sum by (job) (up)\n      - alert: Down\n        expr: up == 0\n        for: 1m\n        keep_firing_for: 2m\n        labels: {severity: critical}\n        annotations: {summary: \"{{ $labels.job }} down\"}\n",
        )
        .unwrap();
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].interval_ms, 30_000);
        assert_eq!(g[0].limit, 3);
        assert_eq!(g[0].rules.len(), 2);
        assert_eq!(g[0].key(), "r.yml;g");
        match &g[0].rules[1].kind {
            RuleKindSpec::Alert {
                for_ms,
                keep_firing_for_ms,
                annotations,
            } => {
                assert_eq!((*for_ms, *keep_firing_for_ms), (60_000, 120_000));
                assert_eq!(annotations.len(), 1);
            }
            RuleKindSpec::Record => panic!("expected an alert"),
        }
    }

    #[test]
    fn numeric_expr_is_an_expression() {
        let g = parse("groups:\n  - name: g\n    rules:\n      - record: one\n        expr: 1\n")
            .unwrap();
        assert_eq!(g[0].rules[0].expr_text, "1");
        assert_eq!(g[0].interval_ms, 60_000);
    }

    #[test]
    fn every_error_is_reported_with_its_position() {
        let text = "groups:\n  - name: g\n    rules:\n      - record: \"bad name\"\n        expr: up\n      - alert: A\n        expr: sum(\n      - record: r\n        expr: up\n        for: 1m\n  - name: g\n    rules: []\n";
        let errs = parse(text).unwrap_err().0;
        let shown: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(errs.len(), 4, "{shown:#?}");
        assert!(
            shown[0]
                .starts_with("r.yml:4:17: groups[0].rules[0].record: invalid recording rule name"),
            "{shown:#?}"
        );
        assert!(
            shown[1].starts_with("r.yml:7:15: groups[0].rules[1].expr: could not parse expression"),
            "{shown:#?}"
        );
        assert!(
            shown[2].starts_with("r.yml:10:14: groups[0].rules[2].for: invalid field 'for'"),
            "{shown:#?}"
        );
        assert!(
            shown[3].contains("groups[1].name: \"g\": repeated group name"),
            "{shown:#?}"
        );
    }

    #[test]
    fn unknown_fields_and_bad_durations_are_schema_errors() {
        let e = parse("groups:\n  - name: g\n    rulez: []\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `rulez`"), "{e}");
        assert!(e.to_string().starts_with("r.yml:3:"), "{e}");
        let e = parse("groups:\n  - name: g\n    interval: 5 minutes\n").unwrap_err();
        assert!(e.to_string().contains("not a duration"), "{e}");
    }

    #[test]
    fn record_and_alert_together_or_neither_are_refused() {
        let e = parse("groups:\n  - name: g\n    rules:\n      - record: a\n        alert: b\n        expr: up\n      - expr: up\n").unwrap_err();
        assert_eq!(e.0.len(), 2, "{e}");
        assert!(e.0[0].message.contains("only one of"));
        assert!(e.0[1].message.contains("one of 'record' or 'alert'"));
    }

    #[test]
    fn invalid_label_names_and_templates_are_refused() {
        let e = parse("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        labels: {\"bad-name\": x}\n        annotations: {summary: \"{{ $labels.job \"}\n").unwrap_err();
        assert_eq!(e.0.len(), 2, "{e}");
        assert!(e.0.iter().any(|x| x.message.contains("invalid label name")));
        assert!(e.0.iter().any(|x| x.message.contains("invalid template")));
    }

    #[test]
    fn metric_and_label_name_rules() {
        assert!(is_valid_metric_name("job:http_requests:rate5m"));
        assert!(!is_valid_metric_name("1abc"));
        assert!(!is_valid_metric_name(""));
        assert!(check_label_name("_a1").is_ok());
        assert!(check_label_name("a:b").is_err());
    }
}

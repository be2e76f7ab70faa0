//! One rule group: its rules evaluated in order at one timestamp, recording rules' results
//! and `ALERTS` / `ALERTS_FOR_STATE` written back to the store, stale markers for series a
//! rule no longer produces, and the group's status.
//!
//! A group is plain data plus [`Group::eval`]; scheduling (when to evaluate) belongs to
//! [`super::manager`], and `vitals test rules` drives the same `eval` on a test clock.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use promql_parser::parser::Expr;

use super::alert::{AlertTable, Candidate, PersistedAlert, Transition};
use super::file::{GroupSpec, RuleKindSpec, RuleSpec};
use super::sink::SentAlert;
use super::status::{ActiveAlert, GroupStatus, RuleHealth, RuleKind, RuleStatus};
use super::template::{QuerySample, Template, TemplateData};
use crate::promql::{Engine, QueryLimits, Value};
use crate::store::{Labels, METRIC_NAME, Store, stale_marker};

/// What every evaluation needs besides the group itself.
pub struct EvalContext<'a> {
    pub store: &'a Store,
    /// `$externalLabels` in templates.
    pub external_labels: &'a Labels,
    /// `$externalURL` in templates.
    pub external_url: &'a str,
    /// Limits applied to each rule's query.
    pub limits: QueryLimits,
    /// Step of subqueries written without one: the global evaluation interval, as in
    /// Prometheus.
    pub subquery_step_ms: i64,
}

impl EvalContext<'_> {
    /// The engine every query of this evaluation uses.
    fn engine(&self) -> Engine<'_> {
        Engine::new(self.store)
            .with_limits(self.limits)
            .with_subquery_step_ms(self.subquery_step_ms)
    }
}

/// A rule's runtime state next to its spec.
#[derive(Debug)]
struct Rule {
    spec: RuleSpec,
    alerts: AlertTable,
    health: RuleHealth,
    last_error: Option<String>,
    last_eval: Option<i64>,
    eval_seconds: f64,
    /// Series this rule wrote at its previous evaluation (recorded series or ALERTS*), to
    /// end with a stale marker when they disappear.
    written: BTreeSet<Labels>,
}

/// What one evaluation of a group did.
#[derive(Debug, Default)]
pub struct GroupReport {
    /// Rules that failed, with their error.
    pub failures: Vec<RuleFailure>,
    /// Alert state changes, with the rule name.
    pub transitions: Vec<(String, Transition)>,
    /// Samples written back to the store.
    pub samples_written: usize,
    pub seconds: f64,
}

/// A rule whose evaluation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFailure {
    /// The rule's name (`alert` or `record`); `<group>` when the group's own machinery failed.
    pub rule: String,
    /// What went wrong, as `/api/v1/rules` shows it in `lastError`.
    pub error: String,
}

/// One group and the state of its rules.
#[derive(Debug)]
pub struct Group {
    spec: GroupSpec,
    rules: Vec<Rule>,
    /// Per rule: true when it neither reads a series another rule of the group records nor
    /// records one another rule reads, so it may run concurrently with the others.
    independent: Vec<bool>,
    last_eval: Option<i64>,
    eval_seconds: f64,
}

/// What [`Group::persist`] saves: per rule (by name), its alerts.
pub type PersistedGroup = Vec<(String, Vec<PersistedAlert>)>;

impl Group {
    /// A group with no evaluation yet.
    pub fn new(spec: GroupSpec) -> Group {
        let rules = spec
            .rules
            .iter()
            .map(|r| Rule {
                spec: r.clone(),
                alerts: AlertTable::default(),
                health: RuleHealth::Unknown,
                last_error: None,
                last_eval: None,
                eval_seconds: 0.0,
                written: BTreeSet::new(),
            })
            .collect();
        let independent = independent_rules(&spec.rules);
        Group {
            spec,
            rules,
            independent,
            last_eval: None,
            eval_seconds: 0.0,
        }
    }

    pub fn spec(&self) -> &GroupSpec {
        &self.spec
    }

    /// Takes over the alert state (and last-written series) of the rules of `old` that
    /// have the same name and kind, as Prometheus does on a reload.
    pub fn copy_state_from(&mut self, old: &mut Group) {
        for r in &mut self.rules {
            if let Some(o) = old
                .rules
                .iter_mut()
                .find(|o| o.spec.name == r.spec.name && o.spec.is_alert() == r.spec.is_alert())
            {
                r.alerts = std::mem::take(&mut o.alerts);
                r.written = std::mem::take(&mut o.written);
                r.health = o.health;
                r.last_error = o.last_error.take();
                r.last_eval = o.last_eval;
                r.eval_seconds = o.eval_seconds;
            }
        }
        self.last_eval = old.last_eval;
        self.eval_seconds = old.eval_seconds;
    }

    /// Ends every series the group wrote with a stale marker at `ts` (the group is removed).
    pub fn end_series(&mut self, store: &Store, ts: i64) {
        for r in &mut self.rules {
            for l in std::mem::take(&mut r.written) {
                let _ = store.append(&l, ts, stale_marker());
            }
        }
    }

    /// Every alerting rule's alerts, by rule name.
    pub fn persist(&self) -> PersistedGroup {
        self.rules
            .iter()
            .filter(|r| r.spec.is_alert() && !r.alerts.is_empty())
            .map(|r| (r.spec.name.clone(), r.alerts.persist()))
            .collect()
    }

    /// Restores what [`Group::persist`] saved; rules that no longer exist are ignored.
    /// Puts back the alerts saved before a restart, holding the active ones until
    /// `hold_until` (ms; see [`AlertTable::restore`]).
    pub fn restore(&mut self, saved: &PersistedGroup, hold_until: Option<i64>) {
        for (name, alerts) in saved {
            if let Some(r) = self
                .rules
                .iter_mut()
                .find(|r| r.spec.is_alert() && &r.spec.name == name)
            {
                r.alerts = AlertTable::restore(alerts, hold_until);
            }
        }
    }

    /// Evaluates every rule at `ts` (ms), writing results to the store. Rules that depend on
    /// each other run in file order; independent ones run concurrently on up to
    /// [`MAX_CONCURRENT_RULES`] threads (as Prometheus 3 does), which gives the same results.
    pub fn eval(&mut self, ctx: &EvalContext<'_>, ts: i64) -> GroupReport {
        let started = Instant::now();
        let limit = self.spec.limit;
        let (mut parallel, mut serial): (Vec<&mut Rule>, Vec<&mut Rule>) = (Vec::new(), Vec::new());
        for (rule, ind) in self.rules.iter_mut().zip(&self.independent) {
            if *ind {
                parallel.push(rule);
            } else {
                serial.push(rule);
            }
        }
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(MAX_CONCURRENT_RULES);
        let mut report = if threads > 1 && parallel.len() >= 2 * threads {
            let chunk = parallel.len().div_ceil(threads);
            std::thread::scope(|scope| {
                let handles: Vec<_> = parallel
                    .chunks_mut(chunk)
                    .map(|rules| {
                        scope.spawn(move || {
                            let mut r = GroupReport::default();
                            for rule in rules.iter_mut() {
                                eval_one(rule, ctx, ts, limit, &mut r);
                            }
                            r
                        })
                    })
                    .collect();
                let mut merged = GroupReport::default();
                for h in handles {
                    match h.join() {
                        Ok(r) => merged.merge(r),
                        Err(_) => merged.failures.push(RuleFailure {
                            rule: "<group>".into(),
                            error: "a rule evaluation thread panicked".into(),
                        }),
                    }
                }
                merged
            })
        } else {
            let mut r = GroupReport::default();
            for rule in parallel {
                eval_one(rule, ctx, ts, limit, &mut r);
            }
            r
        };
        for rule in serial {
            eval_one(rule, ctx, ts, limit, &mut report);
        }
        self.last_eval = Some(ts);
        self.eval_seconds = started.elapsed().as_secs_f64();
        report.seconds = self.eval_seconds;
        report
    }

    /// The group's status as of its last evaluation.
    pub fn status(&self) -> GroupStatus {
        GroupStatus {
            name: self.spec.name.clone(),
            file: self.spec.file.clone(),
            interval_ms: self.spec.interval_ms,
            limit: self.spec.limit,
            last_evaluation_ms: self.last_eval,
            evaluation_seconds: self.eval_seconds,
            rules: self
                .rules
                .iter()
                .map(|r| RuleStatus {
                    name: r.spec.name.clone(),
                    query: r.spec.expr_text.clone(),
                    labels: Labels::new(
                        r.spec.labels.iter().map(|(k, t)| (k.as_str(), t.source())),
                    ),
                    kind: match &r.spec.kind {
                        RuleKindSpec::Record => RuleKind::Recording,
                        RuleKindSpec::Alert {
                            for_ms,
                            keep_firing_for_ms,
                            annotations,
                        } => RuleKind::Alerting {
                            for_ms: *for_ms,
                            keep_firing_for_ms: *keep_firing_for_ms,
                            annotations: Labels::new(
                                annotations.iter().map(|(k, t)| (k.as_str(), t.source())),
                            ),
                            alerts: r.alerts.active(),
                        },
                    },
                    health: r.health,
                    last_error: r.last_error.clone(),
                    last_evaluation_ms: r.last_eval,
                    evaluation_seconds: r.eval_seconds,
                })
                .collect(),
        }
    }

    /// The pending and firing alerts of the rule called `name`.
    /// The alerts of every alerting rule to hand to the alert sink after the evaluation at
    /// `ts` (see [`super::sink`]), marked as sent; external labels are added where the alert
    /// does not have the label itself.
    pub fn alerts_to_send(
        &mut self,
        ts: i64,
        external_labels: &Labels,
        external_url: &str,
        resend_delay_ms: i64,
    ) -> Vec<SentAlert> {
        let interval_ms = self.spec.interval_ms;
        let mut out = Vec::new();
        for rule in self.rules.iter_mut().filter(|r| r.spec.is_alert()) {
            let generator_url = format!(
                "{external_url}/graph?g0.expr={}&g0.tab=1",
                crate::gotemplate::query_escape(&rule.spec.expr_text)
            );
            for (labels, annotations, starts, ends) in
                rule.alerts.to_send(ts, resend_delay_ms, interval_ms)
            {
                let mut l: BTreeMap<String, String> = labels
                    .iter()
                    .map(|p| (p.name.to_string(), p.value.to_string()))
                    .collect();
                for p in external_labels.iter() {
                    l.entry(p.name.to_string())
                        .or_insert_with(|| p.value.to_string());
                }
                out.push(SentAlert {
                    labels: l,
                    annotations: annotations
                        .iter()
                        .map(|p| (p.name.to_string(), p.value.to_string()))
                        .collect(),
                    starts_at_ms: starts,
                    ends_at_ms: ends,
                    generator_url: generator_url.clone(),
                });
            }
        }
        out
    }

    pub fn alerts_of(&self, name: &str) -> Vec<ActiveAlert> {
        self.rules
            .iter()
            .filter(|r| r.spec.is_alert() && r.spec.name == name)
            .flat_map(|r| r.alerts.active())
            .collect()
    }
}

/// Most threads one group evaluation uses for independent rules (Prometheus 3's
/// `--rules.max-concurrent-rule-evals` default).
pub const MAX_CONCURRENT_RULES: usize = 4;

impl GroupReport {
    fn merge(&mut self, other: GroupReport) {
        self.failures.extend(other.failures);
        self.transitions.extend(other.transitions);
        self.samples_written += other.samples_written;
    }
}

fn eval_one(
    rule: &mut Rule,
    ctx: &EvalContext<'_>,
    ts: i64,
    limit: usize,
    report: &mut GroupReport,
) {
    let started = Instant::now();
    let result = eval_rule(rule, ctx, ts, limit, report);
    rule.last_eval = Some(ts);
    rule.eval_seconds = started.elapsed().as_secs_f64();
    match result {
        Ok(()) => {
            rule.health = RuleHealth::Ok;
            rule.last_error = None;
        }
        Err(e) => {
            rule.health = RuleHealth::Err;
            report.failures.push(RuleFailure {
                rule: rule.spec.name.clone(),
                error: e.clone(),
            });
            rule.last_error = Some(e);
        }
    }
}

/// Metric names an expression reads; `None` when a selector could match any name.
fn metric_names(e: &Expr, out: &mut Option<BTreeSet<String>>) {
    if out.is_none() {
        return;
    }
    match e {
        Expr::VectorSelector(vs) => selector_name(vs, out),
        Expr::MatrixSelector(ms) => selector_name(&ms.vs, out),
        Expr::Aggregate(a) => {
            metric_names(&a.expr, out);
            if let Some(p) = &a.param {
                metric_names(p, out);
            }
        }
        Expr::Unary(u) => metric_names(&u.expr, out),
        Expr::Binary(b) => {
            metric_names(&b.lhs, out);
            metric_names(&b.rhs, out);
        }
        Expr::Paren(p) => metric_names(&p.expr, out),
        Expr::Subquery(sq) => metric_names(&sq.expr, out),
        Expr::Call(c) => {
            for a in &c.args.args {
                metric_names(a, out);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
        Expr::Extension(_) => *out = None,
    }
}

fn selector_name(vs: &promql_parser::parser::VectorSelector, out: &mut Option<BTreeSet<String>>) {
    let by_matcher = vs.matchers.matchers.iter().find_map(|m| {
        (m.name == METRIC_NAME && matches!(m.op, promql_parser::label::MatchOp::Equal))
            .then(|| m.value.clone())
    });
    match (vs.name.clone().or(by_matcher), out.as_mut()) {
        (Some(n), Some(names)) if vs.matchers.or_matchers.is_empty() => {
            names.insert(n);
        }
        _ => *out = None,
    }
}

/// Which rules may run concurrently: those that read no metric another rule of the group
/// records (templates' `query` calls are not analysed: a rule using one is kept in order),
/// and whose own recorded metric no other rule reads.
fn independent_rules(rules: &[RuleSpec]) -> Vec<bool> {
    let reads: Vec<Option<BTreeSet<String>>> = rules
        .iter()
        .map(|r| {
            let mut names = Some(BTreeSet::new());
            metric_names(&r.expr, &mut names);
            let uses_query = r.labels.iter().any(|(_, t)| t.source().contains("query"))
                || matches!(&r.kind, RuleKindSpec::Alert { annotations, .. }
                    if annotations.iter().any(|(_, t)| t.source().contains("query")));
            if uses_query { None } else { names }
        })
        .collect();
    let recorded: Vec<Option<&str>> = rules
        .iter()
        .map(|r| (!r.is_alert()).then_some(r.name.as_str()))
        .collect();
    let reads_of = |i: usize, name: &str| match &reads[i] {
        None => true,
        Some(set) => set.contains(name),
    };
    (0..rules.len())
        .map(|i| {
            let depends = recorded
                .iter()
                .enumerate()
                .any(|(j, n)| j != i && n.is_some_and(|n| reads_of(i, n)));
            let depended_on =
                recorded[i].is_some_and(|n| (0..rules.len()).any(|j| j != i && reads_of(j, n)));
            !depends && !depended_on
        })
        .collect()
}

/// The rule's expression at `ts` as a vector (a scalar becomes one sample without labels).
fn query(ctx: &EvalContext<'_>, rule: &RuleSpec, ts: i64) -> Result<Vec<(Labels, f64)>, String> {
    let engine = ctx.engine();
    match engine.instant_expr(&rule.expr, ts) {
        Ok(Value::Vector(v)) => Ok(v),
        Ok(Value::Scalar(_, v)) => Ok(vec![(Labels::default(), v)]),
        Ok(Value::Matrix(_)) => Err("rule result is a range vector, not an instant vector".into()),
        Ok(Value::String(_)) => Err("rule result is a string, not an instant vector".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn eval_rule(
    rule: &mut Rule,
    ctx: &EvalContext<'_>,
    ts: i64,
    limit: usize,
    report: &mut GroupReport,
) -> Result<(), String> {
    let result = query(ctx, &rule.spec, ts);
    let mut out: Vec<(Labels, f64)> = Vec::new();
    let outcome = match result {
        Err(e) => Err(e),
        Ok(vector) => match &rule.spec.kind {
            RuleKindSpec::Record => record(&rule.spec, vector, limit).map(|samples| {
                out = samples;
            }),
            RuleKindSpec::Alert {
                for_ms,
                keep_firing_for_ms,
                annotations,
            } => {
                let candidates = candidates(&rule.spec, annotations, vector, ctx, ts);
                match rule
                    .alerts
                    .step(candidates, ts, *for_ms, *keep_firing_for_ms, limit)
                {
                    Ok(step) => {
                        for a in &step.active {
                            out.push((
                                with_name(&a.labels, "ALERTS", &[("alertstate", a.state.as_str())]),
                                1.0,
                            ));
                            out.push((
                                with_name(&a.labels, "ALERTS_FOR_STATE", &[]),
                                (a.active_at_ms.div_euclid(1000)) as f64,
                            ));
                        }
                        report.transitions.extend(
                            step.transitions
                                .into_iter()
                                .map(|t| (rule.spec.name.clone(), t)),
                        );
                        Ok(())
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
        },
    };
    // Written series: what this evaluation produced; the rest of last time's end stale.
    let mut now_written = BTreeSet::new();
    for (labels, v) in out {
        if ctx.store.append(&labels, ts, v).is_ok() {
            report.samples_written += 1;
        }
        now_written.insert(labels);
    }
    for gone in rule.written.difference(&now_written) {
        let _ = ctx.store.append(gone, ts, stale_marker());
    }
    rule.written = now_written;
    outcome
}

/// A recording rule's output series: the result renamed, with the rule's labels.
fn record(
    rule: &RuleSpec,
    vector: Vec<(Labels, f64)>,
    limit: usize,
) -> Result<Vec<(Labels, f64)>, String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(vector.len());
    for (labels, v) in vector {
        let mut pairs: Vec<(Arc<str>, Arc<str>)> = labels
            .iter()
            .filter(|l| &*l.name != METRIC_NAME)
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        pairs.push((METRIC_NAME.into(), rule.name.as_str().into()));
        for (k, t) in &rule.labels {
            pairs.push((k.as_str().into(), t.source().into()));
        }
        let labels = Labels::new(pairs);
        if !seen.insert(labels.clone()) {
            return Err(
                "vector contains metrics with the same labelset after applying rule labels".into(),
            );
        }
        out.push((labels, v));
    }
    if limit > 0 && out.len() > limit {
        return Err(format!("exceeded limit {limit} with {} series", out.len()));
    }
    Ok(out)
}

/// Renders a template; a failure renders as Prometheus does, into the text itself.
fn render(t: &Template, data: &TemplateData<'_>, rule: &str) -> String {
    match t.render(data) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(rule, error = %e, "An alert template failed to render.");
            format!("<error expanding template: {e}>")
        }
    }
}

/// The alert candidates of one evaluation: labels and annotations rendered per sample.
fn candidates(
    rule: &RuleSpec,
    annotations: &[(String, Arc<Template>)],
    vector: Vec<(Labels, f64)>,
    ctx: &EvalContext<'_>,
    ts: i64,
) -> Vec<Candidate> {
    let run_query = |q: &str| -> Result<Vec<QuerySample>, String> {
        match ctx.engine().instant(q, ts) {
            Ok(Value::Vector(v)) => Ok(v
                .into_iter()
                .map(|(labels, value)| QuerySample { labels, value })
                .collect()),
            Ok(Value::Scalar(_, value)) => Ok(vec![QuerySample {
                labels: Labels::default(),
                value,
            }]),
            Ok(_) => Err("query in template must return a vector or a scalar".into()),
            Err(e) => Err(e.to_string()),
        }
    };
    vector
        .into_iter()
        .map(|(series, value)| {
            let data = TemplateData {
                labels: &series,
                external_labels: ctx.external_labels,
                external_url: ctx.external_url,
                value,
                query: Some(&run_query),
            };
            let mut pairs: Vec<(Arc<str>, Arc<str>)> = series
                .iter()
                .filter(|l| &*l.name != METRIC_NAME)
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            for (k, t) in &rule.labels {
                pairs.push((k.as_str().into(), render(t, &data, &rule.name).into()));
            }
            pairs.push(("alertname".into(), rule.name.as_str().into()));
            let annotations = Labels::new(
                annotations
                    .iter()
                    .map(|(k, t)| (k.clone(), render(t, &data, &rule.name))),
            );
            Candidate {
                labels: Labels::new(pairs),
                annotations,
                value,
            }
        })
        .collect()
}

/// `labels` plus `__name__="name"` and the `extra` pairs: `ALERTS{…, alertstate}` and
/// `ALERTS_FOR_STATE{…}`.
fn with_name(labels: &Labels, name: &str, extra: &[(&str, &str)]) -> Labels {
    Labels::new(
        labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .chain(std::iter::once((METRIC_NAME.into(), name.into())))
            .chain(extra.iter().map(|(k, v)| (Arc::from(*k), Arc::from(*v)))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::file::{LoadOptions, parse_text};
    use crate::rules::status::AlertState;
    use crate::store::{StoreConfig, is_stale_marker};
    use std::time::Duration;

    fn store() -> Store {
        Store::new(
            StoreConfig {
                retention: Duration::from_secs(86_400),
                stale_after: Duration::from_secs(86_400),
                max_series: 100_000,
            },
            &prometheus::Registry::new(),
        )
        .unwrap()
    }

    fn group(text: &str) -> Group {
        Group::new(
            parse_text(text, "t.yml", &LoadOptions::default())
                .unwrap()
                .remove(0),
        )
    }

    fn ctx(store: &Store) -> EvalContext<'_> {
        static EMPTY: std::sync::OnceLock<Labels> = std::sync::OnceLock::new();
        EvalContext {
            store,
            external_labels: EMPTY.get_or_init(Labels::default),
            external_url: "",
            limits: QueryLimits::default(),
            subquery_step_ms: 60_000,
        }
    }

    fn up(store: &Store, job: &str, t: i64, v: f64) {
        store
            .append(&Labels::new([("__name__", "up"), ("job", job)]), t, v)
            .unwrap();
    }

    #[test]
    fn dependency_analysis_keeps_recording_chains_in_order() {
        let g = group(
            "groups:\n  - name: g\n    rules:\n      - record: job:up:sum\n        expr: sum(up)\n      - alert: A\n        expr: job:up:sum == 0\n      - alert: B\n        expr: up == 0\n      - alert: C\n        expr: '{__name__=~\"u.\"} == 0'\n",
        );
        // The recorder and its reader are ordered; B reads only `up`; C could read anything.
        assert_eq!(g.independent, vec![false, false, true, false]);
    }

    #[test]
    fn a_recording_rule_feeds_a_later_alert_in_the_same_evaluation() {
        let s = store();
        let mut g = group(
            "groups:\n  - name: g\n    rules:\n      - record: job:up:sum\n        expr: sum by (job) (up)\n        labels: {src: rule}\n      - alert: AllDown\n        expr: job:up:sum == 0\n        labels: {severity: page}\n",
        );
        up(&s, "a", 0, 0.0);
        let r = g.eval(&ctx(&s), 1000);
        assert!(r.failures.is_empty(), "{:?}", r.failures);
        let alerts = g.alerts_of("AllDown");
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].state, AlertState::Firing);
        assert_eq!(
            alerts[0].labels,
            Labels::new([
                ("alertname", "AllDown"),
                ("job", "a"),
                ("severity", "page"),
                ("src", "rule")
            ])
        );
        let recorded = s.select(
            &[crate::store::LabelMatcher::new(
                "__name__",
                crate::store::MatchOp::Equal,
                "job:up:sum",
            )
            .unwrap()],
            0,
            2000,
        );
        assert_eq!(recorded[0].labels.get("src"), Some("rule"));
    }

    #[test]
    fn series_that_disappear_end_with_a_stale_marker() {
        let s = store();
        let mut g =
            group("groups:\n  - name: g\n    rules:\n      - alert: Down\n        expr: up == 0\n");
        up(&s, "a", 0, 0.0);
        g.eval(&ctx(&s), 1000);
        up(&s, "a", 2000, 1.0);
        g.eval(&ctx(&s), 3000);
        let alerts = s.select(
            &[
                crate::store::LabelMatcher::new("__name__", crate::store::MatchOp::Equal, "ALERTS")
                    .unwrap(),
            ],
            0,
            5000,
        );
        assert_eq!(alerts.len(), 1);
        let samples = &alerts[0].samples;
        assert_eq!(samples[0].v, 1.0);
        assert!(is_stale_marker(samples[1].v), "{samples:?}");
    }

    #[test]
    fn errors_are_reported_per_rule_and_the_rest_still_run() {
        let s = store();
        up(&s, "a", 0, 0.0);
        up(&s, "b", 0, 0.0);
        let mut g = group(
            "groups:\n  - name: g\n    rules:\n      - record: dup\n        expr: up * 0\n      - alert: Down\n        expr: up == 0\n",
        );
        let r = g.eval(&ctx(&s), 1000);
        // `up * 0` drops the name: both series become `dup{job=...}`, distinct; fine.
        assert!(r.failures.is_empty(), "{:?}", r.failures);
        let mut g = group(
            "groups:\n  - name: g\n    rules:\n      - record: dup\n        expr: sum without (job) (up) or vector(1)\n      - alert: Down\n        expr: up == 0\n        labels: {job: x}\n",
        );
        let r = g.eval(&ctx(&s), 1000);
        assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
        assert_eq!(r.failures[0].rule, "Down");
        assert!(
            r.failures[0].error.contains("same labelset"),
            "{:?}",
            r.failures
        );
        let st = g.status();
        assert_eq!(st.rules[0].health, RuleHealth::Ok);
        assert_eq!(st.rules[1].health, RuleHealth::Err);
    }

    #[test]
    fn concurrent_and_serial_evaluation_agree() {
        let s = store();
        for j in 0..40 {
            up(&s, &format!("j{j}"), 0, (j % 2) as f64);
        }
        let mut text = String::from("groups:\n  - name: g\n    rules:\n");
        for j in 0..40 {
            text.push_str(&format!(
                "      - alert: A{j}\n        expr: up{{job=\"j{j}\"}} == 0\n"
            ));
        }
        let mut par = group(&text);
        assert!(par.independent.iter().all(|x| *x));
        let mut ser = group(&text);
        ser.independent.iter_mut().for_each(|x| *x = false);
        par.eval(&ctx(&s), 1000);
        ser.eval(&ctx(&s), 1000);
        for j in 0..40 {
            let name = format!("A{j}");
            assert_eq!(par.alerts_of(&name), ser.alerts_of(&name));
            assert_eq!(par.alerts_of(&name).len(), (j + 1) % 2);
        }
    }
}

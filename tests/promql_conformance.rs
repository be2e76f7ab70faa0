//! Runs Prometheus's PromQL conformance scripts (`promqltest` format, see
//! `../shared/promql-conformance/FORMAT.md`) against `vitals::promql`.
//!
//! Supported: `load`/`load_with_nhcb` (float samples; a series defined twice in one `load`
//! keeps its last definition; the NHCB conversion is not done), `clear`, `eval instant at`,
//! `eval range from .. to .. step`, `expect fail` (with `msg:`/`regex:` compared against the
//! error's message), `expect ordered`, `expect string`, `expect range vector`, and the
//! deprecated `eval_fail`/`eval_ordered`/`eval_warn`/`eval_info`. Annotation expectations
//! (`expect warn/info/no_warn/no_info`) are not checked: the engine emits no annotations.
//! Evals that expect native histogram values are skipped; so is a mismatching eval whose
//! selectors match a series loaded with native histogram samples (the store holds floats
//! only). `PROMQL_CONFORMANCE_VERBOSE=1` prints every failure and skip with its reason;
//! `PROMQL_CONFORMANCE_DIR` points at the scripts (default: the nearest
//! `shared/promql-conformance` beside the crate or an ancestor directory).
//!
//! The test asserts that the scripts were found, that evals ran, and that the number of
//! passing evals does not drop below [`PASS_FLOOR`].

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{Expr, VectorSelector};
use vitals::promql::functions::almost_equal;
use vitals::promql::{Engine, Value, parse};
use vitals::store::{
    LabelMatcher, Labels, MatchOp, Sample, Store, StoreConfig, is_stale_marker, stale_marker,
};

/// Evals that passed when this floor was last raised; a drop below it is a regression.
const PASS_FLOOR: usize = 1080;
const EPSILON: f64 = 1e-6;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Point {
    Value(f64),
    Gap,
    Stale,
    Histogram,
}

fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('-') {
        return parse_duration(rest).map(|d| -d);
    }
    if let Ok(secs) = s.parse::<f64>() {
        return Some((secs * 1000.0).round() as i64);
    }
    let mut total = 0i64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "y" => 365 * 86_400_000,
            _ => return None,
        };
        total += n * mult;
        rest = &rest[unit_len..];
    }
    Some(total)
}

fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    let lower = s.to_ascii_lowercase();
    let (neg, body) = match lower.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, lower.strip_prefix('+').unwrap_or(&lower)),
    };
    let v = if let Some(hex) = body.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()? as f64
    } else {
        body.parse::<f64>().ok()?
    };
    Some(if neg { -v } else { v })
}

/// Expands one value token: `1`, `_`, `stale`, `a+bxn`, `a-bxn`, `axn`, `_xn`.
fn expand_token(tok: &str) -> Option<Vec<Point>> {
    match tok {
        "_" => return Some(vec![Point::Gap]),
        "stale" => return Some(vec![Point::Stale]),
        _ => {}
    }
    // `0x10` is "0 repeated 10 more times", not hexadecimal: the repeat form wins whenever
    // what follows the last `x` is all digits.
    let repeat = tok.rfind('x').filter(|&x| {
        x > 0 && x + 1 < tok.len() && tok[x + 1..].bytes().all(|b| b.is_ascii_digit())
    });
    if repeat.is_none()
        && let Some(v) = parse_number(tok)
    {
        return Some(vec![Point::Value(v)]);
    }
    let x = repeat?;
    let times: usize = tok[x + 1..].parse().ok()?;
    let head = &tok[..x];
    if head == "_" {
        return Some(vec![Point::Gap; times]);
    }
    if head == "stale" {
        return Some(vec![Point::Stale; times]);
    }
    let bytes = head.as_bytes();
    let op = (1..bytes.len())
        .find(|&i| (bytes[i] == b'+' || bytes[i] == b'-') && !matches!(bytes[i - 1], b'e' | b'E'));
    let (start, inc) = match op {
        Some(i) => (parse_number(&head[..i])?, parse_number(&head[i..])?),
        None => (parse_number(head)?, 0.0),
    };
    let mut out = Vec::with_capacity(times + 1);
    let mut v = start;
    for _ in 0..=times {
        out.push(Point::Value(v));
        v += inc;
    }
    Some(out)
}

/// Splits the value part of a series line into points; `{{...}}` histograms (possibly with
/// an `xN` suffix) become [`Point::Histogram`].
fn parse_points(s: &str) -> Option<Vec<Point>> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        if rest.starts_with("{{") {
            let mut end = rest.find("}}")? + 2;
            // `{{a}}+{{b}}xN` / `{{a}}-{{b}}xN`: a histogram series with an increment.
            if rest[end..].starts_with("+{{") || rest[end..].starts_with("-{{") {
                end += rest[end..].find("}}")? + 2;
            }
            let after = &rest[end..];
            let tok_end = after.find(char::is_whitespace).unwrap_or(after.len());
            let times = after[..tok_end]
                .strip_prefix('x')
                .and_then(|n| n.parse::<usize>().ok())
                .map_or(1, |n| n + 1);
            out.extend(std::iter::repeat_n(Point::Histogram, times));
            rest = after[tok_end..].trim_start();
            continue;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        out.extend(expand_token(&rest[..end])?);
        rest = rest[end..].trim_start();
    }
    Some(out)
}

/// Splits `metric{a="b c"} 1 2` into the series and the rest.
fn split_series(line: &str) -> (&str, &str) {
    let (mut depth, mut quote) = (0i32, None::<char>);
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) => {
                if c == q && prev != '\\' {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' | '`' => quote = Some(c),
                '{' => depth += 1,
                '}' => depth -= 1,
                c if c.is_whitespace() && depth == 0 => return (&line[..i], &line[i..]),
                _ => {}
            },
        }
        prev = if prev == '\\' && c == '\\' { ' ' } else { c };
    }
    (line, "")
}

fn parse_labels(s: &str) -> Option<Labels> {
    let s = s.trim();
    if s == "{}" {
        return Some(Labels::default());
    }
    match parse(s).ok()? {
        promql_parser::parser::Expr::VectorSelector(vs) => {
            let mut pairs: Vec<(String, String)> = Vec::new();
            if let Some(n) = vs.name {
                pairs.push(("__name__".to_owned(), n));
            }
            for m in vs.matchers.matchers {
                pairs.push((m.name, m.value));
            }
            Some(Labels::new(pairs))
        }
        _ => None,
    }
}

#[derive(Debug)]
enum Expected {
    /// A bare value line: a scalar result.
    Scalar(Point),
    Series(Labels, Vec<Point>),
}

fn parse_expected(line: &str) -> Option<Expected> {
    if let Some(points) = parse_points(line).filter(|p| p.len() == 1) {
        return Some(Expected::Scalar(points[0]));
    }
    let (series, values) = split_series(line);
    Some(Expected::Series(
        parse_labels(series)?,
        parse_points(values)?,
    ))
}

enum Kind {
    Instant(i64),
    Range { start: i64, end: i64, step: i64 },
}

struct Eval {
    line: usize,
    query: String,
    kind: Kind,
    fail: bool,
    /// `expect fail msg: …` / `expect fail regex: …`.
    fail_msg: Option<FailMsg>,
    ordered: bool,
    string: Option<String>,
    range_vector: Option<(i64, i64, i64)>,
    expected: Vec<Expected>,
}

enum FailMsg {
    Exact(String),
    Regex(regex::Regex),
}

enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

fn new_store() -> Store {
    Store::new(
        StoreConfig {
            retention: Duration::from_secs(100 * 365 * 86_400),
            stale_after: Duration::from_secs(100 * 365 * 86_400),
            max_series: 10_000_000,
        },
        &prometheus::Registry::new(),
    )
    .expect("store")
}

fn parse_eval_header(line: &str) -> Option<(Kind, String, bool, bool)> {
    let (cmd, rest) = line.split_once(char::is_whitespace)?;
    let (fail, ordered) = match cmd {
        "eval" | "eval_warn" | "eval_info" => (false, false),
        "eval_fail" => (true, false),
        "eval_ordered" => (false, true),
        _ => return None,
    };
    let rest = rest.trim_start();
    if let Some(r) = rest.strip_prefix("instant at ") {
        let (at, q) = r.trim_start().split_once(char::is_whitespace)?;
        Some((
            Kind::Instant(parse_duration(at)?),
            q.trim().to_owned(),
            fail,
            ordered,
        ))
    } else if let Some(r) = rest.strip_prefix("range from ") {
        let mut it = r.trim_start().splitn(6, char::is_whitespace);
        let start = parse_duration(it.next()?)?;
        (it.next()? == "to").then_some(())?;
        let end = parse_duration(it.next()?)?;
        (it.next()? == "step").then_some(())?;
        let step = parse_duration(it.next()?)?;
        let q = it.next()?.trim().to_owned();
        Some((Kind::Range { start, end, step }, q, fail, ordered))
    } else {
        None
    }
}

fn parse_range_vector(s: &str) -> Option<(i64, i64, i64)> {
    let r = s.trim().strip_prefix("from ")?;
    let parts: Vec<&str> = r.split_whitespace().collect();
    match parts.as_slice() {
        [a, "to", b, "step", c] => {
            Some((parse_duration(a)?, parse_duration(b)?, parse_duration(c)?))
        }
        _ => None,
    }
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    if s.len() >= 2 && (s.starts_with('"') || s.starts_with('`')) {
        s[1..s.len() - 1].to_owned()
    } else {
        s.to_owned()
    }
}

fn points_match(exp: &Point, act: f64) -> bool {
    match exp {
        Point::Value(v) => almost_equal(*v, act, EPSILON),
        Point::Stale => is_stale_marker(act),
        Point::Gap | Point::Histogram => false,
    }
}

fn compare_series(
    exp: &[(Labels, Vec<(i64, Point)>)],
    act: &[(Labels, Vec<Sample>)],
) -> Result<(), String> {
    if exp.len() != act.len() {
        return Err(format!(
            "expected {} series, got {}: {:?}",
            exp.len(),
            act.len(),
            act.iter().map(|a| a.0.to_string()).collect::<Vec<_>>()
        ));
    }
    for (labels, samples) in act {
        let Some((_, points)) = exp.iter().find(|(l, _)| l == labels) else {
            return Err(format!("unexpected series {labels}"));
        };
        let wanted: Vec<&(i64, Point)> = points.iter().filter(|(_, p)| *p != Point::Gap).collect();
        if wanted.len() != samples.len() {
            return Err(format!(
                "{labels}: expected {} points, got {}: {samples:?}",
                wanted.len(),
                samples.len()
            ));
        }
        for ((t, p), s) in wanted.iter().map(|x| (x.0, x.1)).zip(samples) {
            if t != s.t || !points_match(&p, s.v) {
                return Err(format!("{labels}: expected {p:?}@{t}, got {}@{}", s.v, s.t));
            }
        }
    }
    Ok(())
}

/// Whether a selector of `query` matches any series that holds native histogram samples.
fn reads_histograms(query: &str, hist_series: &[Labels]) -> bool {
    fn selectors<'a>(e: &'a Expr, out: &mut Vec<&'a VectorSelector>) {
        match e {
            Expr::VectorSelector(vs) => out.push(vs),
            Expr::MatrixSelector(ms) => out.push(&ms.vs),
            Expr::Aggregate(a) => {
                selectors(&a.expr, out);
                if let Some(p) = &a.param {
                    selectors(p, out);
                }
            }
            Expr::Unary(u) => selectors(&u.expr, out),
            Expr::Binary(b) => {
                selectors(&b.lhs, out);
                selectors(&b.rhs, out);
            }
            Expr::Paren(p) => selectors(&p.expr, out),
            Expr::Subquery(sq) => selectors(&sq.expr, out),
            Expr::Call(c) => c.args.args.iter().for_each(|a| selectors(a, out)),
            _ => {}
        }
    }
    if hist_series.is_empty() {
        return false;
    }
    let Ok(expr) = parse(query) else {
        return false;
    };
    let mut found = Vec::new();
    selectors(&expr, &mut found);
    let matches = |m: &promql_parser::label::Matcher, l: &Labels| {
        let op = match m.op {
            PMatchOp::Equal => MatchOp::Equal,
            PMatchOp::NotEqual => MatchOp::NotEqual,
            PMatchOp::Re(_) => MatchOp::Regex,
            PMatchOp::NotRe(_) => MatchOp::NotRegex,
        };
        LabelMatcher::new(&m.name, op, &m.value)
            .is_ok_and(|lm| lm.matches(l.get(&m.name).unwrap_or("")))
    };
    found.iter().any(|vs| {
        hist_series.iter().any(|l| {
            let name_ok = vs.name.as_ref().is_none_or(|n| l.metric_name() == Some(n));
            let base_ok = vs.matchers.matchers.iter().all(|m| matches(m, l));
            let or_ok = vs.matchers.or_matchers.is_empty()
                || vs
                    .matchers
                    .or_matchers
                    .iter()
                    .any(|set| set.iter().all(|m| matches(m, l)));
            name_ok && base_ok && or_ok
        })
    })
}

/// Runs one eval. A mismatch in an eval whose selectors match a series loaded with native
/// histogram samples (which the store does not hold) counts as skipped, not failed.
fn run_eval(engine: &Engine<'_>, ev: &Eval, hist_series: &[Labels]) -> Outcome {
    match run_eval_inner(engine, ev) {
        Outcome::Fail(reason) if reads_histograms(&ev.query, hist_series) => {
            Outcome::Skip(format!("reads native histograms ({reason})"))
        }
        other => other,
    }
}

fn run_eval_inner(engine: &Engine<'_>, ev: &Eval) -> Outcome {
    let has_hist = ev.expected.iter().any(|e| match e {
        Expected::Scalar(p) => *p == Point::Histogram,
        Expected::Series(_, ps) => ps.contains(&Point::Histogram),
    });
    if has_hist {
        return Outcome::Skip("expects native histograms".to_owned());
    }
    let result = match ev.kind {
        Kind::Instant(t) => engine.instant(&ev.query, t),
        Kind::Range { start, end, step } => engine.range(&ev.query, start, end, step),
    };
    let value = match (result, ev.fail) {
        (Err(e), true) => {
            let msg = e.to_string();
            return match &ev.fail_msg {
                Some(FailMsg::Exact(want)) if &msg != want => {
                    Outcome::Fail(format!("expected error {want:?}, got {msg:?}"))
                }
                Some(FailMsg::Regex(re)) if !re.is_match(&msg) => {
                    Outcome::Fail(format!("expected error matching {re}, got {msg:?}"))
                }
                _ => Outcome::Pass,
            };
        }
        (Ok(v), true) => return Outcome::Fail(format!("expected an error, got {v:?}")),
        (Err(e), false) => return Outcome::Fail(format!("error: {e}")),
        (Ok(v), false) => v,
    };
    if let Some(s) = &ev.string {
        return match value {
            Value::String(got) if &got == s => Outcome::Pass,
            other => Outcome::Fail(format!("expected string {s:?}, got {other:?}")),
        };
    }
    let check = match (&ev.kind, value) {
        (Kind::Instant(_), Value::Scalar(_, v)) => match ev.expected.as_slice() {
            [Expected::Scalar(p)] => points_match(p, v)
                .then_some(())
                .ok_or(format!("expected {p:?}, got scalar {v}")),
            [Expected::Series(l, ps)] if l.is_empty() && ps.len() == 1 => points_match(&ps[0], v)
                .then_some(())
                .ok_or(format!("expected {:?}, got scalar {v}", ps[0])),
            other => Err(format!("expected {other:?}, got scalar {v}")),
        },
        (Kind::Instant(_), Value::Vector(v)) => {
            let exp: Vec<(&Labels, Point)> = ev
                .expected
                .iter()
                .filter_map(|e| match e {
                    Expected::Series(l, ps) if ps.len() == 1 => Some((l, ps[0])),
                    _ => None,
                })
                .collect();
            if exp.len() != ev.expected.len() {
                Err(format!("malformed expectation {:?}", ev.expected))
            } else if exp.len() != v.len() {
                Err(format!(
                    "expected {} samples, got {}: {:?}",
                    exp.len(),
                    v.len(),
                    v.iter()
                        .map(|x| format!("{} {}", x.0, x.1))
                        .collect::<Vec<_>>()
                ))
            } else {
                let mut res = Ok(());
                for (i, (labels, val)) in v.iter().enumerate() {
                    let Some(pos) = exp.iter().position(|(l, _)| *l == labels) else {
                        res = Err(format!("unexpected sample {labels} {val}"));
                        break;
                    };
                    if ev.ordered && pos != i {
                        res = Err(format!("{labels} at position {i}, expected {pos}"));
                        break;
                    }
                    if !points_match(&exp[pos].1, *val) {
                        res = Err(format!("{labels}: expected {:?}, got {val}", exp[pos].1));
                        break;
                    }
                }
                res
            }
        }
        (Kind::Instant(_), Value::Matrix(m)) => match ev.range_vector {
            Some((start, _end, step)) => {
                let exp = expected_series(&ev.expected, start, step);
                compare_series(&exp, &m)
            }
            None => Err("unexpected range vector result".to_owned()),
        },
        (Kind::Range { start, step, .. }, Value::Matrix(m)) => {
            let exp = expected_series(&ev.expected, *start, *step);
            compare_series(&exp, &m)
        }
        (_, other) => Err(format!("unexpected result {other:?}")),
    };
    match check {
        Ok(()) => Outcome::Pass,
        Err(e) => Outcome::Fail(e),
    }
}

fn expected_series(exp: &[Expected], start: i64, step: i64) -> Vec<(Labels, Vec<(i64, Point)>)> {
    exp.iter()
        .map(|e| {
            let (labels, points): (Labels, &[Point]) = match e {
                Expected::Scalar(p) => (Labels::default(), std::slice::from_ref(p)),
                Expected::Series(l, ps) => (l.clone(), ps),
            };
            let pts = points
                .iter()
                .enumerate()
                .map(|(i, p)| (start + i as i64 * step, *p))
                .collect();
            (labels, pts)
        })
        .collect()
}

#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
    skipped: usize,
}

/// What went wrong (or was skipped) where: `(line, query, reason)`.
type Notes = Vec<(usize, String, String)>;

/// Runs one script, noting failures and skips.
fn run_file(text: &str, tally: &mut Tally, failures: &mut Notes, skips: &mut Notes) {
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            let l = l.trim();
            if l.starts_with('#') {
                String::new()
            } else {
                l.to_owned()
            }
        })
        .collect();
    let mut store = new_store();
    // Series that hold native histogram samples (the store cannot): evals reading them are
    // skipped.
    let mut hist_series: Vec<Labels> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = &lines[i];
        let lineno = i + 1;
        i += 1;
        if line.is_empty() {
            continue;
        }
        let (cmd, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let mut block = Vec::new();
        while cmd != "clear" && i < lines.len() && !lines[i].is_empty() {
            block.push(lines[i].clone());
            i += 1;
        }
        match cmd {
            "clear" => {
                store = new_store();
                hist_series.clear();
            }
            "load" | "load_with_nhcb" => {
                let Some(interval) = parse_duration(rest) else {
                    failures.push((lineno, line.clone(), "bad load interval".into()));
                    continue;
                };
                // Within one `load`, a series defined twice keeps its last definition.
                let mut defs: Vec<(Labels, Vec<Point>)> = Vec::new();
                for b in &block {
                    let (series, values) = split_series(b);
                    let (Some(labels), Some(points)) = (parse_labels(series), parse_points(values))
                    else {
                        failures.push((lineno, b.clone(), "unparsed load line".into()));
                        continue;
                    };
                    match defs.iter_mut().find(|(l, _)| *l == labels) {
                        Some(d) => d.1 = points,
                        None => defs.push((labels, points)),
                    }
                }
                for (labels, points) in defs {
                    // `load_with_nhcb` also makes a native histogram (named without
                    // `_bucket`, without `le`) of each classic bucket series.
                    if cmd == "load_with_nhcb"
                        && let Some(base) =
                            labels.metric_name().and_then(|n| n.strip_suffix("_bucket"))
                    {
                        let nhcb =
                            Labels::new(labels.iter().filter(|l| &*l.name != "le").map(|l| {
                                if &*l.name == "__name__" {
                                    (l.name.to_string(), base.to_owned())
                                } else {
                                    (l.name.to_string(), l.value.to_string())
                                }
                            }));
                        if !hist_series.contains(&nhcb) {
                            hist_series.push(nhcb);
                        }
                    }
                    if points.contains(&Point::Histogram) && !hist_series.contains(&labels) {
                        hist_series.push(labels.clone());
                    }
                    for (k, p) in points.iter().enumerate() {
                        let t = k as i64 * interval;
                        let v = match p {
                            Point::Value(v) => *v,
                            Point::Stale => stale_marker(),
                            Point::Gap | Point::Histogram => continue,
                        };
                        let _ = store.append(&labels, t, v);
                    }
                }
            }
            _ if cmd.starts_with("eval") => {
                let Some((kind, query, fail, ordered)) = parse_eval_header(line) else {
                    tally.failed += 1;
                    failures.push((lineno, line.clone(), "harness could not parse eval".into()));
                    continue;
                };
                let mut ev = Eval {
                    line: lineno,
                    query,
                    kind,
                    fail,
                    fail_msg: None,
                    ordered,
                    string: None,
                    range_vector: None,
                    expected: Vec::new(),
                };
                let mut bad = None;
                for b in &block {
                    if let Some(exp) = b.strip_prefix("expect ") {
                        let exp = exp.trim();
                        if exp == "fail" || exp.starts_with("fail ") {
                            ev.fail = true;
                            let rest = exp["fail".len()..].trim();
                            if let Some(m) = rest.strip_prefix("msg:") {
                                ev.fail_msg = Some(FailMsg::Exact(unquote(m)));
                            } else if let Some(r) = rest.strip_prefix("regex:") {
                                match regex::Regex::new(&unquote(r)) {
                                    Ok(re) => ev.fail_msg = Some(FailMsg::Regex(re)),
                                    Err(_) => bad = Some(b.clone()),
                                }
                            }
                        } else if exp == "ordered" {
                            ev.ordered = true;
                        } else if let Some(s) = exp.strip_prefix("string ") {
                            ev.string = Some(unquote(s));
                        } else if let Some(r) = exp.strip_prefix("range vector ") {
                            ev.range_vector = parse_range_vector(r);
                        }
                        continue;
                    }
                    match parse_expected(b) {
                        Some(e) => ev.expected.push(e),
                        None => bad = Some(b.clone()),
                    }
                }
                if let Some(b) = bad {
                    tally.skipped += 1;
                    skips.push((ev.line, ev.query.clone(), format!("unparsed line {b:?}")));
                    continue;
                }
                let engine = Engine::new(&store);
                match run_eval(&engine, &ev, &hist_series) {
                    Outcome::Pass => tally.passed += 1,
                    Outcome::Skip(reason) => {
                        tally.skipped += 1;
                        skips.push((ev.line, ev.query.clone(), reason));
                    }
                    Outcome::Fail(reason) => {
                        tally.failed += 1;
                        failures.push((ev.line, ev.query.clone(), reason));
                    }
                }
            }
            _ => {}
        }
    }
}

/// Names of functions and aggregations a query calls: the "features" a failure is about.
fn features(query: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = query.as_bytes();
    let mut start = None;
    for (i, &b) in bytes.iter().enumerate() {
        let ident = b.is_ascii_alphanumeric() || b == b'_';
        match (start, ident) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                let rest = query[i..].trim_start();
                let word = &query[s..i];
                const KEYWORDS: &[&str] = &[
                    "by",
                    "without",
                    "on",
                    "ignoring",
                    "group_left",
                    "group_right",
                    "bool",
                ];
                let call =
                    rest.starts_with('(') || rest.starts_with("by") || rest.starts_with("without");
                if call && !word.chars().all(|c| c.is_ascii_digit()) && !KEYWORDS.contains(&word) {
                    out.push(word.to_owned());
                }
                start = None;
            }
            _ => {}
        }
    }
    for kw in ["offset", "@", "group_left", "group_right", "bool", "[", ":"] {
        if query.contains(kw) {
            out.push(match kw {
                "[" => "range selector".to_owned(),
                ":" if query.contains(":]")
                    || query.contains(":1")
                    || query.contains(":5")
                    || query.contains(":2")
                    || query.contains(":3") =>
                {
                    "subquery".to_owned()
                }
                ":" => continue,
                other => other.to_owned(),
            });
        }
    }
    if out.is_empty() {
        out.push("(selector / literal / operator)".to_owned());
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn promql_conformance() {
    // `PROMQL_CONFORMANCE_DIR`, else the nearest `shared/promql-conformance` beside the crate
    // or one of its ancestors (a worktree may sit deeper than the main checkout).
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir: PathBuf = match std::env::var_os("PROMQL_CONFORMANCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => manifest
            .ancestors()
            .skip(1)
            .map(|a| a.join("shared/promql-conformance"))
            .find(|d| d.is_dir())
            .unwrap_or_else(|| manifest.join("../shared/promql-conformance")),
    };
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "promql conformance scripts not readable at {} ({e}); set PROMQL_CONFORMANCE_DIR",
            dir.display()
        )
    });
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    let verbose = std::env::var_os("PROMQL_CONFORMANCE_VERBOSE").is_some();
    let mut total = Tally::default();
    let mut feature_fails: BTreeMap<String, usize> = BTreeMap::new();
    let mut rows = Vec::new();
    let mut reasons: HashMap<String, usize> = HashMap::new();
    for f in &files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Ok(text) = std::fs::read_to_string(f) else {
            println!("promql conformance: cannot read {}", f.display());
            continue;
        };
        let mut tally = Tally::default();
        let mut failures = Vec::new();
        let mut skips = Vec::new();
        run_file(&text, &mut tally, &mut failures, &mut skips);
        if verbose {
            for (line, query, reason) in &skips {
                println!("SKIP {name}:{line}: {query}\n     {reason}");
            }
        }
        for (line, query, reason) in &failures {
            for feat in features(query) {
                *feature_fails.entry(feat).or_default() += 1;
            }
            let kind = reason.split(':').next().unwrap_or("").to_owned();
            *reasons.entry(kind).or_default() += 1;
            if verbose {
                println!("FAIL {name}:{line}: {query}\n     {reason}");
            }
        }
        total.passed += tally.passed;
        total.failed += tally.failed;
        total.skipped += tally.skipped;
        rows.push((name, tally));
    }
    println!(
        "\n{:<22} {:>7} {:>7} {:>8}",
        "file", "passed", "failed", "skipped"
    );
    for (name, t) in &rows {
        println!(
            "{:<22} {:>7} {:>7} {:>8}",
            name, t.passed, t.failed, t.skipped
        );
    }
    println!(
        "{:<22} {:>7} {:>7} {:>8}",
        "TOTAL", total.passed, total.failed, total.skipped
    );
    let mut top: Vec<(String, usize)> = feature_fails.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    println!("\nfailing evals by feature (a query can count for several):");
    for (feat, n) in top.iter().take(25) {
        println!("  {n:>4}  {feat}");
    }
    assert!(!files.is_empty(), "no .test files in {}", dir.display());
    assert!(
        total.passed + total.failed + total.skipped > 0,
        "the harness ran no evals"
    );
    assert!(
        total.passed >= PASS_FLOOR,
        "conformance regressed: {} evals pass, floor is {PASS_FLOOR}",
        total.passed
    );
}

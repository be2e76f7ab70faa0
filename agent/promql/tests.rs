use std::time::Duration;

use super::*;
use crate::store::{StoreConfig, stale_marker};

const MIN: i64 = 60_000;

fn store() -> Store {
    Store::new(
        StoreConfig {
            retention: Duration::from_secs(365 * 24 * 3600),
            stale_after: Duration::from_secs(365 * 24 * 3600),
            max_series: 10_000,
        },
        &prometheus::Registry::new(),
    )
    .unwrap()
}

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(pairs.iter().copied())
}

/// Loads `name{labels}` with one value per minute from t=0 (`None` is a gap).
fn load(s: &Store, labels: &[(&str, &str)], values: &[Option<f64>]) {
    for (i, v) in values.iter().enumerate() {
        if let Some(v) = v {
            s.append(&l(labels), i as i64 * MIN, *v).unwrap();
        }
    }
}

fn vector(v: Value) -> Vec<(Labels, f64)> {
    match v {
        Value::Vector(mut v) => {
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        }
        other => panic!("expected a vector, got {other:?}"),
    }
}

fn counters() -> Store {
    let s = store();
    let vals: Vec<Option<f64>> = (0..=10).map(|i| Some(i as f64 * 60.0)).collect();
    load(&s, &[("__name__", "req_total"), ("job", "a")], &vals);
    let vals: Vec<Option<f64>> = (0..=10).map(|i| Some(i as f64 * 120.0)).collect();
    load(&s, &[("__name__", "req_total"), ("job", "b")], &vals);
    s
}

#[test]
fn instant_selector_looks_back_five_minutes_left_open() {
    let s = store();
    load(&s, &[("__name__", "up")], &[Some(1.0)]);
    let e = Engine::new(&s);
    assert_eq!(vector(e.instant("up", 4 * MIN).unwrap()).len(), 1);
    assert_eq!(vector(e.instant("up", 5 * MIN - 1).unwrap()).len(), 1);
    // The window is (t-5m, t]: a sample exactly 5m old is out.
    assert!(vector(e.instant("up", 5 * MIN).unwrap()).is_empty());
}

#[test]
fn stale_marker_ends_a_series() {
    let s = store();
    let lb = l(&[("__name__", "up")]);
    s.append(&lb, 0, 1.0).unwrap();
    s.append(&lb, MIN, stale_marker()).unwrap();
    let e = Engine::new(&s);
    assert_eq!(vector(e.instant("up", 30_000).unwrap()).len(), 1);
    assert!(vector(e.instant("up", 2 * MIN).unwrap()).is_empty());
}

#[test]
fn range_selector_is_left_open_and_offset_works() {
    let s = counters();
    let e = Engine::new(&s);
    let Value::Matrix(m) = e.instant(r#"req_total{job="a"}[2m]"#, 4 * MIN).unwrap() else {
        panic!("matrix expected");
    };
    let ts: Vec<i64> = m[0].1.iter().map(|x| x.t).collect();
    assert_eq!(ts, vec![3 * MIN, 4 * MIN]);
    let v = vector(
        e.instant(r#"req_total{job="a"} offset 2m"#, 4 * MIN)
            .unwrap(),
    );
    assert_eq!(v[0].1, 120.0);
    let v = vector(e.instant(r#"req_total{job="a"} @ 60"#, 9 * MIN).unwrap());
    assert_eq!(v[0].1, 60.0);
}

#[test]
fn rate_and_increase_extrapolate() {
    let s = counters();
    let e = Engine::new(&s);
    // 1/s exactly, samples aligned with the window's end; extrapolated to the start.
    let v = vector(
        e.instant(r#"rate(req_total{job="a"}[5m])"#, 10 * MIN)
            .unwrap(),
    );
    assert!((v[0].1 - 1.0).abs() < 1e-9, "{v:?}");
    assert_eq!(v[0].0, l(&[("job", "a")]));
    let v = vector(
        e.instant(r#"increase(req_total{job="b"}[5m])"#, 10 * MIN)
            .unwrap(),
    );
    assert!((v[0].1 - 600.0).abs() < 1e-9, "{v:?}");
}

#[test]
fn binary_matching_and_aggregation() {
    let s = counters();
    let e = Engine::new(&s);
    let v = vector(
        e.instant(r#"req_total / on(job) req_total"#, 10 * MIN)
            .unwrap(),
    );
    assert_eq!(
        v,
        vec![(l(&[("job", "a")]), 1.0), (l(&[("job", "b")]), 1.0)]
    );
    let v = vector(e.instant("req_total > 700", 10 * MIN).unwrap());
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].0.metric_name(), Some("req_total"));
    let v = vector(e.instant("sum(req_total)", 10 * MIN).unwrap());
    assert_eq!(v, vec![(Labels::default(), 1800.0)]);
    let v = vector(e.instant("topk(1, req_total)", 10 * MIN).unwrap());
    assert_eq!(v[0].0.get("job"), Some("b"));
    let v = vector(
        e.instant(r#"count_values("v", req_total)"#, 10 * MIN)
            .unwrap(),
    );
    assert_eq!(v.len(), 2);
}

#[test]
fn range_query_is_one_instant_per_step() {
    let s = counters();
    let e = Engine::new(&s);
    let Value::Matrix(m) = e
        .range(r#"req_total{job="a"} * 2"#, 0, 2 * MIN, MIN)
        .unwrap()
    else {
        panic!("matrix expected");
    };
    assert_eq!(m.len(), 1);
    let vals: Vec<f64> = m[0].1.iter().map(|x| x.v).collect();
    assert_eq!(vals, vec![0.0, 120.0, 240.0]);
}

#[test]
fn errors_name_what_failed() {
    let s = store();
    let e = Engine::new(&s);
    let err = e.instant("holt_winters(x[5m], 0.5, 0.5)", 0).unwrap_err();
    assert!(err.to_string().contains("holt_winters"), "{err}");
    assert!(matches!(
        e.instant("sum(", 0),
        Err(PromqlError::Parse { .. })
    ));
    assert!(matches!(
        e.range("1", 10, 0, 1),
        Err(PromqlError::BadRange { .. })
    ));
}

#[test]
fn histogram_quantile_interpolates() {
    let q = functions::bucket_quantile(0.5, vec![(0.1, 10.0), (0.5, 20.0), (f64::INFINITY, 20.0)]);
    assert!((q - 0.1).abs() < 1e-12, "{q}");
    let q = functions::bucket_quantile(0.75, vec![(1.0, 0.0), (2.0, 4.0), (f64::INFINITY, 4.0)]);
    assert!((q - 1.75).abs() < 1e-12, "{q}");
    assert!(functions::bucket_quantile(0.5, vec![(1.0, 1.0)]).is_nan());
}

fn limited(s: &Store, max_samples: usize) -> Engine<'_> {
    Engine::new(s).with_limits(QueryLimits {
        max_samples,
        deadline: None,
        ..QueryLimits::default()
    })
}

#[test]
fn max_samples_counts_what_selectors_load() {
    let s = counters();
    // An instant selector loads one sample per series: 2.
    assert!(limited(&s, 2).instant("req_total", 10 * MIN).is_ok());
    let err = limited(&s, 1).instant("req_total", 10 * MIN).unwrap_err();
    assert!(
        matches!(err, PromqlError::TooManySamples { limit: 1 }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "query processing would load too many samples into memory in query execution"
    );
    // A range selector loads every sample in its window: 5 per series in (5m, 10m].
    assert!(
        limited(&s, 10)
            .instant("rate(req_total[5m])", 10 * MIN)
            .is_ok()
    );
    assert!(matches!(
        limited(&s, 9).instant("rate(req_total[5m])", 10 * MIN),
        Err(PromqlError::TooManySamples { limit: 9 })
    ));
    // Both sides of a binary operator are held at once.
    assert!(matches!(
        limited(&s, 3).instant("req_total + req_total", 10 * MIN),
        Err(PromqlError::TooManySamples { .. })
    ));
}

#[test]
fn max_samples_counts_range_results_and_subqueries() {
    let s = counters();
    // 3 steps × 2 series: the result holds 6 points; each step loads 2 more.
    assert!(limited(&s, 6).range("req_total", 0, 2 * MIN, MIN).is_ok());
    assert!(matches!(
        limited(&s, 5).range("req_total", 0, 2 * MIN, MIN),
        Err(PromqlError::TooManySamples { limit: 5 })
    ));
    // `max_over_time(req_total[5m:1m])` at 10m: 5 inner steps × 2 series = 10 points.
    let q = "max_over_time(req_total[5m:1m])";
    assert!(limited(&s, 10).instant(q, 10 * MIN).is_ok());
    assert!(matches!(
        limited(&s, 9).instant(q, 10 * MIN),
        Err(PromqlError::TooManySamples { .. })
    ));
    // Without limits, nothing is refused.
    assert!(
        Engine::new(&s)
            .with_limits(QueryLimits::default())
            .range(q, 0, 10 * MIN, MIN)
            .is_ok()
    );
}

#[test]
fn deadline_stops_queries() {
    let s = counters();
    let past = std::time::Instant::now();
    let e = Engine::new(&s).with_limits(QueryLimits {
        max_samples: usize::MAX,
        deadline: Some(past),
        ..QueryLimits::default()
    });
    for r in [
        e.instant("req_total", 10 * MIN),
        e.instant("1 + 1", 0),
        e.range("sum(rate(req_total[5m]))", 0, 10 * MIN, MIN),
    ] {
        let err = r.unwrap_err();
        assert!(matches!(err, PromqlError::Timeout { .. }), "{err}");
        assert_eq!(err.to_string(), "query timed out in expression evaluation");
    }
    let later = std::time::Instant::now() + std::time::Duration::from_secs(3600);
    let e = Engine::new(&s).with_limits(QueryLimits {
        max_samples: usize::MAX,
        deadline: Some(later),
        ..QueryLimits::default()
    });
    assert!(
        e.range("sum(rate(req_total[5m]))", 0, 10 * MIN, MIN)
            .is_ok()
    );
}

#[test]
fn range_query_equals_one_instant_query_per_step() {
    let s = store();
    // Irregular samples, a gap and a stale marker, so windows start and end unevenly.
    for (job, every) in [("a", 7_000i64), ("b", 13_000)] {
        let lb = l(&[("__name__", "req_total"), ("job", job)]);
        let mut t = 0;
        let mut v = 0.0;
        while t < 40 * MIN {
            if !(10 * MIN..12 * MIN).contains(&t) {
                s.append(&lb, t, v).unwrap();
            }
            v += 3.0;
            t += every;
        }
        s.append(&lb, t, stale_marker()).unwrap();
    }
    let e = Engine::new(&s);
    let queries = [
        "req_total",
        "rate(req_total[1m])",
        "sum by (job) (increase(req_total[5m] offset 2m))",
        "req_total @ 600 - req_total",
        "max_over_time(rate(req_total[2m])[10m:1m])",
        "timestamp(req_total)",
        "count_over_time(req_total[3m]) > 5",
    ];
    let (start, end, step) = (MIN, 41 * MIN, 17_000);
    for q in queries {
        let Value::Matrix(m) = e.range(q, start, end, step).unwrap() else {
            panic!("matrix expected for {q}");
        };
        let mut expected: std::collections::BTreeMap<Labels, Vec<Sample>> = Default::default();
        let mut t = start;
        while t <= end {
            for (labels, v) in vector(e.instant(q, t).unwrap()) {
                expected.entry(labels).or_default().push(Sample { t, v });
            }
            t += step;
        }
        let expected: Vec<(Labels, Vec<Sample>)> = expected.into_iter().collect();
        assert_eq!(m, expected, "{q}");
    }
}

/// Runs `f` on a thread with a 2 MiB stack: the size of a tokio blocking-pool thread (where
/// the API evaluates queries) and of a rule-group worker.
fn on_2_mib_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

/// The deepest queries [`check_depth`] lets through, of every shape that recurses.
fn deepest_queries() -> Vec<String> {
    let n = MAX_EXPR_DEPTH;
    let nest = |open: &str, inner: &str, close: &str, k: usize| {
        format!("{}{inner}{}", open.repeat(k), close.repeat(k))
    };
    vec![
        nest("abs(", "x", ")", n - 1),
        nest("(", "x", ")", n - 1),
        nest("sum by (job) (", "x", ")", n - 1),
        nest("-(", "x", ")", n / 2 - 1),
        nest(
            "label_replace(",
            "x",
            r#", "a", "$1", "job", "(.*)")"#,
            n - 1,
        ),
        nest("max_over_time(", "x", "[1m:1m])", n - 1),
        nest("clamp_min(", "x", ", 0)", n - 1),
        vec!["1"; n].join("+"),
        vec!["x"; n].join("+"),
        vec!["x"; n].join(" and "),
        vec!["x"; n].join(" * on(job) group_left "),
        format!("{}x", "-".repeat(n - 1)),
    ]
}

#[test]
fn deepest_queries_fit_a_2_mib_stack() {
    on_2_mib_stack(|| {
        let s = store();
        load(&s, &[("__name__", "x"), ("job", "a")], &[Some(1.0); 10]);
        let e = Engine::new(&s);
        for q in deepest_queries() {
            let expr = parse(&q).unwrap_or_else(|err| panic!("{err}: {q:.60}"));
            check_supported(&expr).unwrap();
            let _ = expr.to_string();
            let _ = expr.prettify();
            e.instant_expr(&expr, 5 * MIN)
                .unwrap_or_else(|err| panic!("{err}: {q:.60}"));
            e.range_expr(&expr, 3 * MIN, 5 * MIN, MIN)
                .unwrap_or_else(|err| panic!("{err}: {q:.60}"));
        }
    });
}

#[test]
fn queries_past_the_depth_limit_are_refused_before_parsing() {
    on_2_mib_stack(|| {
        for q in [
            "abs(".repeat(2000) + "x" + &")".repeat(2000),
            vec!["1"; 10_000].join("+"),
            format!("{}1", "-".repeat(10_000)),
        ] {
            let err = parse(&q).unwrap_err();
            assert!(matches!(
                err,
                PromqlError::TooDeep {
                    limit: MAX_EXPR_DEPTH
                }
            ));
            let s = store();
            assert!(matches!(
                Engine::new(&s).instant(&q, 0),
                Err(PromqlError::TooDeep { .. })
            ));
        }
    });
}

/// `label_replace` nested `levels` times around `x`, each level repeating `$1` ten times.
fn exploding_label_replace(levels: usize) -> String {
    let mut q = "x".to_owned();
    for _ in 0..levels {
        q = format!(
            r#"label_replace({q}, "a", "{}", "a", "(.*)")"#,
            "$1".repeat(10)
        );
    }
    q
}

#[test]
fn label_values_a_query_makes_are_bounded() {
    let s = store();
    for i in 0..50 {
        let n = i.to_string();
        load(
            &s,
            &[("__name__", "x"), ("a", "0123456789"), ("n", &n)],
            &[Some(1.0)],
        );
    }
    let e = Engine::new(&s);
    // 10 bytes, then 100, 1,000, 10,000, 100,000: the fourth level is still within 64 KiB.
    assert!(e.instant(&exploding_label_replace(3), MIN).is_ok());
    let err = e.instant(&exploding_label_replace(7), MIN).unwrap_err();
    assert!(
        matches!(
            err,
            PromqlError::LabelValueTooLong {
                func: "label_replace",
                limit: DEFAULT_MAX_LABEL_VALUE_BYTES
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "label_replace() would make a label value longer than 65536 bytes"
    );
    let join = r#"label_join(x, "b", "-", "a", "a", "a", "a", "a", "a", "a", "a")"#;
    let tight = |value: usize, total: usize| {
        Engine::new(&s).with_limits(QueryLimits {
            max_label_value_bytes: value,
            max_label_bytes: total,
            ..QueryLimits::default()
        })
    };
    assert!(tight(87, 50 * 87).instant(join, MIN).is_ok());
    assert!(matches!(
        tight(86, usize::MAX).instant(join, MIN),
        Err(PromqlError::LabelValueTooLong {
            func: "label_join",
            limit: 86
        })
    ));
    // Many series each within the value limit still run out of the query's budget.
    let err = tight(usize::MAX, 49 * 87).instant(join, MIN).unwrap_err();
    assert!(matches!(err, PromqlError::TooManyLabelBytes { limit } if limit == 49 * 87));
    assert_eq!(
        err.to_string(),
        format!(
            "query processing would make more than {} bytes of label values in query execution",
            49 * 87
        )
    );
    // The budget is per step of a range query, like the sample limit.
    assert!(
        tight(usize::MAX, 50 * 87)
            .range(join, 0, 4 * MIN, MIN)
            .is_ok()
    );
}

#[test]
fn an_expired_deadline_stops_evaluation_inside_a_binary_chain() {
    let s = store();
    // Scalars only: no selector, so only the checks inside the evaluator can see the clock.
    // (200 terms: shallow enough for the test thread's stack without the deep-query thread.)
    let q = vec!["1"; 200].join(" + ");
    let expr = parse(&q).unwrap();
    let past = std::time::Instant::now();
    let e = Engine::new(&s).with_limits(QueryLimits {
        deadline: Some(past),
        ..QueryLimits::default()
    });
    // Past the check at the start of the query: straight into the evaluator.
    let ev = e.evaluator(0, 0, 0);
    let err = ev.eval(&expr, 0).unwrap_err();
    assert!(matches!(err, PromqlError::Timeout { .. }), "{err:?}");
    // Without a deadline the same chain evaluates.
    let ev = Engine::new(&s).evaluator(0, 0, 0);
    assert!(matches!(ev.eval(&expr, 0), Ok(eval::Val::Scalar(v)) if v == 200.0));
}

/// The parser panics on a bare-number duration too large for a `Duration` (found by the
/// `query_params` fuzz target): the panic becomes a parse error.
#[test]
fn a_parser_panic_is_a_parse_error() {
    for q in [
        "rate(up[555555555555555555555554])",
        "up offset 1e300",
        "rate(up[1e30])",
    ] {
        match parse(q) {
            Err(PromqlError::Parse { message, .. }) => assert!(!message.is_empty(), "{q}"),
            other => panic!("{q}: {other:?}"),
        }
    }
}

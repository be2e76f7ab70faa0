//! Rule evaluation in-process: the 1,000-rule group of `../shared/bench/ruleload/`
//! (`make_rules.py 5m 15s`) over the same ~97,000 series, 6 minutes of 15 s samples, so every
//! 5m window is full. This isolates the engine's cost from ingest and scheduling;
//! `benches/rule_load/run.sh` is the side-by-side run against Prometheus.
//!
//! Run: `cargo bench --bench rules`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use vitals::promql::QueryLimits;
use vitals::rules::file::{LoadOptions, parse_text};
use vitals::rules::group::{EvalContext, Group};
use vitals::store::{Labels, Store, StoreConfig};

const JOBS: usize = 100;
const INST: usize = 5;
const ROUTES: usize = 10;
const LE: [&str; 15] = [
    "0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75", "1", "2.5", "5",
    "7.5", "10", "+Inf",
];
const STEP_MS: i64 = 15_000;
const STEPS: i64 = 25;
const T0: i64 = 1_700_000_000_000;

/// The series of exporter.py, at scrape `k`.
fn fill(store: &Store, k: i64) {
    let t = T0 + k * STEP_MS;
    for j in 0..JOBS {
        for i in 0..INST {
            let job = format!("svc-{j}");
            let inst = format!("i-{i}");
            let base = |name: &str| {
                Labels::new([
                    ("__name__", name.to_owned()),
                    ("job", job.clone()),
                    ("instance", inst.clone()),
                ])
            };
            let on = |b: bool| if b { 1.0 } else { 0.0 };
            let ji = (j + i) as i64;
            let _ = store.append(
                &base("cpu_utilization"),
                t,
                0.5 + 0.4 * on((ji + k) % 3 == 0),
            );
            let _ = store.append(
                &base("mem_utilization"),
                t,
                0.6 + 0.3 * on((j as i64 + k) % 4 == 0),
            );
            let _ = store.append(
                &base("probe_success"),
                t,
                on((j as i64 * 7 + i as i64 + k) % 50 != 0),
            );
            for r in 0..ROUTES {
                let route = format!("/r{r}");
                for (code, v) in [
                    ("200", k * (100 + r as i64)),
                    ("500", k * ((j as i64 % 10) + 1)),
                ] {
                    let l = Labels::new([
                        ("__name__", "http_requests_total"),
                        ("job", &job),
                        ("instance", &inst),
                        ("route", &route),
                        ("code", code),
                    ]);
                    let _ = store.append(&l, t, v as f64);
                }
                let mut c = 0i64;
                for (q, le) in LE.iter().enumerate() {
                    if q < 14 {
                        c += k * (15 - q as i64);
                    }
                    let l = Labels::new([
                        ("__name__", "http_request_duration_seconds_bucket"),
                        ("job", &job),
                        ("instance", &inst),
                        ("route", &route),
                        ("le", le),
                    ]);
                    let _ = store.append(&l, t, c as f64);
                }
            }
        }
    }
}

/// make_rules.py's output.
fn rules_text() -> String {
    let tmpl: [(&str, &str); 10] = [
        (
            "ErrorRate",
            r#"sum(rate(http_requests_total{job="J",code=~"5.."}[W])) / sum(rate(http_requests_total{job="J"}[W])) > 0.05"#,
        ),
        (
            "P95",
            r#"histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{job="J"}[W]))) > 0.5"#,
        ),
        (
            "P99Route",
            r#"histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{job="J"}[W]))) > 1"#,
        ),
        (
            "CPU",
            r#"avg by (instance) (cpu_utilization{job="J"}) > 0.8"#,
        ),
        ("Mem", r#"max_over_time(mem_utilization{job="J"}[W]) > 0.8"#),
        ("Down", r#"probe_success{job="J"} == 0"#),
        (
            "Flaky",
            r#"avg_over_time(probe_success{job="J"}[W]) < 0.99"#,
        ),
        (
            "Traffic",
            r#"sum(rate(http_requests_total{job="J"}[W])) < 1"#,
        ),
        (
            "RouteErrors",
            r#"sum by (route) (increase(http_requests_total{job="J",code="500"}[W])) > 100"#,
        ),
        (
            "Absent",
            r#"absent(cpu_utilization{job="J",instance="i-0"})"#,
        ),
    ];
    let mut out = String::from("groups:\n  - name: load\n    interval: 15s\n    rules:\n");
    for j in 0..JOBS {
        for (name, e) in tmpl {
            let e = e.replace('J', &format!("svc-{j}")).replace("[W]", "[5m]");
            out.push_str(&format!(
                "      - alert: {name}_svc{j}\n        expr: '{e}'\n        for: 1m\n        labels: {{severity: warning}}\n"
            ));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let store = Store::new(
        StoreConfig {
            retention: Duration::from_secs(3600),
            stale_after: Duration::from_secs(3600),
            max_series: 1_000_000,
        },
        &prometheus::Registry::new(),
    )
    .expect("store");
    for k in 1..=STEPS {
        fill(&store, k);
    }
    let spec = parse_text(&rules_text(), "rules.yml", &LoadOptions::default())
        .expect("rules")
        .remove(0);
    assert_eq!(spec.rules.len(), 1000);
    let mut group = Group::new(spec);
    let labels = Labels::default();
    let ctx = EvalContext {
        store: &store,
        external_labels: &labels,
        external_url: "",
        limits: QueryLimits::default(),
        subquery_step_ms: 15_000,
    };
    let ts = T0 + STEPS * STEP_MS;
    let report = group.eval(&ctx, ts);
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    eprintln!(
        "series: {}, one evaluation wrote {} samples",
        store.stats().series,
        report.samples_written
    );
    let mut g = c.benchmark_group("rules");
    g.sample_size(10);
    g.bench_function("1000_rules_97k_series", |b| {
        b.iter(|| black_box(group.eval(&ctx, ts)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

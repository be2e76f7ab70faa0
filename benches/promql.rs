//! PromQL evaluation benchmarks over a store holding 10,000 classic-histogram bucket series
//! (100 jobs x 5 instances x 20 `le` buckets), one sample every 15 s for 70 minutes, so every
//! 5-minute window is full:
//!
//! - the alerting staple `histogram_quantile(0.95, sum by (le, job) (rate(x_bucket[5m])))` as
//!   an instant query (the requirement is under 20 ms);
//! - `sum by (job) (rate(x_bucket[5m]))` as a range query over 1 hour at a 15 s step.
//!
//! Run: `cargo bench --bench promql`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use vitals::promql::{Engine, Value};
use vitals::store::{Labels, Store, StoreConfig};

const JOBS: usize = 100;
const INSTANCES: usize = 5;
const BUCKETS: usize = 20;
const STEP_MS: i64 = 15_000;
/// 70 minutes of samples.
const SAMPLES: i64 = 70 * 4;
const END_MS: i64 = (SAMPLES - 1) * STEP_MS;

fn loaded_store() -> Store {
    let store = Store::new(
        StoreConfig {
            retention: Duration::from_secs(24 * 3600),
            stale_after: Duration::from_secs(24 * 3600),
            max_series: 1_000_000,
        },
        &prometheus::Registry::new(),
    )
    .expect("store");
    let mut series = Vec::with_capacity(JOBS * INSTANCES * BUCKETS);
    for job in 0..JOBS {
        for inst in 0..INSTANCES {
            for b in 0..BUCKETS {
                let le = if b == BUCKETS - 1 {
                    "+Inf".to_owned()
                } else {
                    format!("{}", 0.005 * (1u64 << b.min(12)) as f64 * (b + 1) as f64)
                };
                let labels = Labels::new([
                    ("__name__", "x_bucket".to_owned()),
                    ("job", format!("job-{job}")),
                    ("instance", format!("10.0.{job}.{inst}:8080")),
                    ("le", le),
                ]);
                // Cumulative counts: higher buckets grow faster, so the quantile moves.
                let per_step = (b + 1 + (job + inst) % 3) as f64;
                series.push((labels, per_step));
            }
        }
    }
    for k in 0..SAMPLES {
        for (labels, per_step) in &series {
            store
                .append(labels, k * STEP_MS, k as f64 * per_step)
                .expect("append");
        }
    }
    store
}

fn bench(c: &mut Criterion) {
    let store = loaded_store();
    let engine = Engine::new(&store);
    let mut g = c.benchmark_group("promql");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(10));

    let instant = "histogram_quantile(0.95, sum by (le, job) (rate(x_bucket[5m])))";
    match engine.instant(instant, END_MS) {
        Ok(Value::Vector(v)) => assert_eq!(v.len(), JOBS, "one quantile per job"),
        other => panic!("unexpected result of {instant}: {other:?}"),
    }
    g.bench_function("instant_histogram_quantile_10k_buckets", |b| {
        b.iter(|| black_box(engine.instant(instant, END_MS)).is_ok())
    });

    let range = "sum by (job) (rate(x_bucket[5m]))";
    let start = END_MS - 3_600_000;
    match engine.range(range, start, END_MS, STEP_MS) {
        Ok(Value::Matrix(m)) => {
            assert_eq!(m.len(), JOBS, "one series per job");
            assert_eq!(m[0].1.len(), 241, "1h at 15s is 241 points");
        }
        other => panic!("unexpected result of {range}: {other:?}"),
    }
    g.bench_function("range_sum_rate_1h_15s_10k_series", |b| {
        b.iter(|| black_box(engine.range(range, start, END_MS, STEP_MS)).is_ok())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

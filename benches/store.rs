//! Store benchmarks: append throughput (existing series, integer counters) and `select` of a
//! 5-minute window over 10,000 series of one metric name with varying `le` labels.
//!
//! Run: `cargo bench --bench store`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vitals::store::{LabelMatcher, Labels, MatchOp, Store, StoreConfig};

const SERIES: usize = 10_000;
const STEP_MS: i64 = 15_000;

fn new_store() -> Store {
    Store::new(
        StoreConfig {
            retention: Duration::from_secs(3600),
            stale_after: Duration::from_secs(600),
            max_series: 1_000_000,
        },
        &prometheus::Registry::new(),
    )
    .expect("store")
}

/// 10,000 `http_request_duration_seconds_bucket` series: 100 instances x 100 `le` values.
fn bucket_labels() -> Vec<Labels> {
    (0..SERIES)
        .map(|i| {
            Labels::new([
                (
                    "__name__",
                    "http_request_duration_seconds_bucket".to_owned(),
                ),
                ("job", "api".to_owned()),
                ("instance", format!("10.0.0.{}:8080", i / 100)),
                ("le", format!("{}", (i % 100) as f64 * 0.05)),
            ])
        })
        .collect()
}

fn append(c: &mut Criterion) {
    let labels = bucket_labels();
    let mut g = c.benchmark_group("store_append");
    g.throughput(Throughput::Elements(SERIES as u64));
    let store = new_store();
    let mut step = 0i64;
    g.bench_function("10k_existing_series_one_scrape", |b| {
        b.iter(|| {
            step += 1;
            for (i, l) in labels.iter().enumerate() {
                let v = (step * (i as i64 % 7)) as f64;
                black_box(store.append(l, step * STEP_MS, v)).ok();
            }
        })
    });
    g.finish();
}

fn select(c: &mut Criterion) {
    let labels = bucket_labels();
    let store = new_store();
    // One hour of data.
    for step in 0..240i64 {
        for (i, l) in labels.iter().enumerate() {
            store
                .append(l, step * STEP_MS, (step * (i as i64 % 7)) as f64)
                .expect("append");
        }
    }
    let maxt = 239 * STEP_MS;
    let mint = maxt - 5 * 60_000;
    let by_name = [LabelMatcher::new(
        "__name__",
        MatchOp::Equal,
        "http_request_duration_seconds_bucket",
    )
    .expect("matcher")];
    let by_name_and_instance = [
        by_name[0].clone(),
        LabelMatcher::new("instance", MatchOp::Equal, "10.0.0.7:8080").expect("matcher"),
    ];
    let by_regex = [
        by_name[0].clone(),
        LabelMatcher::new("le", MatchOp::Regex, "0\\.5|1|2\\.5").expect("matcher"),
    ];
    let mut g = c.benchmark_group("store_select_5m");
    g.bench_function("10k_series_by_name", |b| {
        b.iter(|| black_box(store.select(&by_name, mint, maxt)))
    });
    g.bench_function("100_series_name_and_instance", |b| {
        b.iter(|| black_box(store.select(&by_name_and_instance, mint, maxt)))
    });
    g.bench_function("300_series_le_regex", |b| {
        b.iter(|| black_box(store.select(&by_regex, mint, maxt)))
    });
    g.finish();
}

criterion_group!(benches, append, select);
criterion_main!(benches);

//! Memory of the in-memory store at the design target: 100,000 active series at 15 s resolution
//! over one hour (240 samples each) must fit in 64 MiB of RSS.
//!
//! Run: `cargo bench --bench store_memory`. Prints RSS (VmRSS from /proc/self/status) before and
//! after filling, `Store::stats().chunk_bytes`, bytes/sample and bytes/series.
//!
//! The series mix per instance (1,000 instances in 20 jobs, 100 series each) is what a fleet of
//! HTTP services exports: request counters with integer increments, histogram buckets, float
//! `_sum` counters, memory-byte gauges (integers that move), 0.25-step gauges, ratio gauges with
//! full-precision floats, and constant `up`/`probe_success`. Samples are appended time-major
//! (every series at t, then every series at t+15s), as scrapes arrive.
//!
//! By default the 7 ratio-style gauges per instance (`cpu_utilization_ratio`,
//! `probe_duration_seconds`) move in 0.25 steps like the other float gauges;
//! `STORE_MEMORY_FLOATS=1` makes them full-precision random floats (~60 bits/sample each,
//! the worst case for any float compression).
//!
//! `STORE_MEMORY_JITTER_MS=N` adds a uniform ±N ms jitter to every timestamp (default 0:
//! scheduler-aligned timestamps).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use vitals::store::{Labels, Store, StoreConfig};

const INSTANCES: usize = 1000;
const JOBS: usize = 20;
const SAMPLES: usize = 240;
const STEP_MS: i64 = 15_000;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[derive(Clone, Copy)]
enum Kind {
    /// Integer counter growing by about `rate` per step (0 = never moves).
    Counter { rate: f64 },
    /// Float counter (histogram `_sum`) growing by about `rate` per step.
    FloatCounter { rate: f64 },
    /// Integer gauge random-walking around `base` bytes.
    Bytes { base: f64 },
    /// Gauge in 0.25 steps.
    QuarterSteps,
    /// Full-precision float in [0, 1).
    Ratio,
    /// Constant 1.
    Constant,
}

struct Spec {
    labels: Labels,
    kind: Kind,
    value: f64,
}

fn specs(rng: &mut SmallRng, full_floats: bool) -> Vec<Spec> {
    let ratio = if full_floats {
        Kind::Ratio
    } else {
        Kind::QuarterSteps
    };
    let s = |x: &str| -> Arc<str> { Arc::from(x) };
    let methods = ["GET", "POST", "PUT", "DELETE"].map(s);
    let statuses = ["200", "201", "404", "500", "503"].map(s);
    let les = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf",
    ]
    .map(s);
    let n = |x: &str| -> (Arc<str>, Arc<str>) { (s("__name__"), s(x)) };
    let mut out = Vec::with_capacity(INSTANCES * 100);
    for i in 0..INSTANCES {
        let job = s(&format!("service-{}", i % JOBS));
        let instance = s(&format!("10.0.{}.{}:8080", i / 250, i % 250));
        let base = vec![(s("job"), job.clone()), (s("instance"), instance.clone())];
        let mut push = |extra: Vec<(Arc<str>, Arc<str>)>, kind: Kind, value: f64| {
            let mut pairs = base.clone();
            pairs.extend(extra);
            out.push(Spec {
                labels: Labels::new(pairs),
                kind,
                value,
            });
        };
        for m in &methods {
            for st in &statuses {
                let rate = if rng.random_bool(0.3) {
                    0.0
                } else {
                    rng.random_range(0.0..200.0)
                };
                push(
                    vec![
                        n("http_requests_total"),
                        (s("method"), m.clone()),
                        (s("status"), st.clone()),
                    ],
                    Kind::Counter { rate },
                    rng.random_range(0.0..1e6f64).floor(),
                );
            }
            let total = rng.random_range(0.0..300.0);
            for (k, le) in les.iter().enumerate() {
                let frac = ((k + 1) as f64 / les.len() as f64).powi(2);
                push(
                    vec![
                        n("http_request_duration_seconds_bucket"),
                        (s("method"), m.clone()),
                        (s("le"), le.clone()),
                    ],
                    Kind::Counter { rate: total * frac },
                    0.0,
                );
            }
            push(
                vec![
                    n("http_request_duration_seconds_sum"),
                    (s("method"), m.clone()),
                ],
                Kind::FloatCounter { rate: total * 0.08 },
                0.0,
            );
            push(
                vec![
                    n("http_request_duration_seconds_count"),
                    (s("method"), m.clone()),
                ],
                Kind::Counter { rate: total },
                0.0,
            );
        }
        push(
            vec![n("process_resident_memory_bytes")],
            Kind::Bytes { base: 3e8 },
            3e8,
        );
        for area in [
            "heap",
            "stack",
            "mmap",
            "cache",
            "buffers",
            "slab",
            "pagetables",
        ] {
            push(
                vec![n("memory_bytes"), (s("area"), s(area))],
                Kind::Bytes { base: 5e7 },
                5e7,
            );
        }
        for q in 0..8 {
            push(
                vec![n("queue_depth"), (s("queue"), s(&format!("q{q}")))],
                Kind::QuarterSteps,
                10.0,
            );
        }
        for cpu in 0..4 {
            push(
                vec![n("cpu_utilization_ratio"), (s("cpu"), s(&cpu.to_string()))],
                ratio,
                0.5,
            );
        }
        push(vec![n("up")], Kind::Constant, 1.0);
        for p in ["self", "db", "cache"] {
            push(
                vec![n("probe_success"), (s("probe"), s(p))],
                Kind::Constant,
                1.0,
            );
        }
        for p in ["self", "db", "cache"] {
            push(
                vec![n("probe_duration_seconds"), (s("probe"), s(p))],
                ratio,
                1.0,
            );
        }
        push(vec![n("go_goroutines")], Kind::Bytes { base: 200.0 }, 200.0);
    }
    out
}

fn next_value(rng: &mut SmallRng, kind: Kind, v: f64) -> f64 {
    match kind {
        Kind::Counter { rate: 0.0 } => v,
        Kind::Counter { rate } => {
            // Poisson-ish increments around the rate.
            let noise = rng.random_range(-1.0..1.0) * rate.sqrt() * 2.0;
            v + (rate + noise).max(0.0).round()
        }
        Kind::FloatCounter { rate } => v + rate * rng.random_range(0.5..1.5),
        Kind::Bytes { base } => {
            let step = (base * 0.01).max(4.0);
            (v + rng.random_range(-step..step))
                .round()
                .clamp(0.0, base * 4.0)
        }
        Kind::QuarterSteps => {
            if rng.random_bool(0.5) {
                v
            } else {
                (v + f64::from(rng.random_range(-4i32..=4)) * 0.25).max(0.0)
            }
        }
        Kind::Ratio => rng.random::<f64>(),
        Kind::Constant => v,
    }
}

fn main() {
    let jitter: i64 = std::env::var("STORE_MEMORY_JITTER_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut rng = SmallRng::seed_from_u64(42);
    let full_floats = std::env::var("STORE_MEMORY_FLOATS").is_ok_and(|v| v == "1");
    let mut specs = specs(&mut rng, full_floats);
    // `STORE_MEMORY_ONLY=<metric name>` keeps one family (to see what each kind costs).
    if let Ok(only) = std::env::var("STORE_MEMORY_ONLY") {
        specs.retain(|s| s.labels.metric_name() == Some(only.as_str()));
    }
    let registry = prometheus::Registry::new();
    let store = Store::new(
        StoreConfig {
            retention: Duration::from_secs(3600),
            stale_after: Duration::from_secs(600),
            max_series: 1_000_000,
        },
        &registry,
    )
    .expect("store");

    // The specs (labels and generator state) are the bench's own memory: measure after them.
    let before = rss_kib();
    let start_ms: i64 = 1_700_000_000_000;
    let started = Instant::now();
    for step in 0..SAMPLES as i64 {
        for (i, spec) in specs.iter_mut().enumerate() {
            let offset = (i / 100) as i64 * 7 % STEP_MS; // instances scraped at different phases
            let j = if jitter > 0 {
                rng.random_range(-jitter..=jitter)
            } else {
                0
            };
            let t = start_ms + step * STEP_MS + offset + j;
            spec.value = next_value(&mut rng, spec.kind, spec.value);
            store.append(&spec.labels, t, spec.value).expect("append");
        }
    }
    let elapsed = started.elapsed();
    let after = rss_kib();
    let st = store.stats();
    let delta_bytes = (after.saturating_sub(before)) * 1024;
    println!("store_memory: jitter ±{jitter} ms, full-precision ratio gauges: {full_floats}");
    println!(
        "  series {}  samples {}  ({:.1} M samples appended in {:.2?}, {:.2} M samples/s single-threaded)",
        st.series,
        st.samples,
        st.samples as f64 / 1e6,
        elapsed,
        st.samples as f64 / 1e6 / elapsed.as_secs_f64()
    );
    println!(
        "  RSS before fill {:.1} MiB, after {:.1} MiB, store delta {:.1} MiB (target < 64 MiB)",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        delta_bytes as f64 / 1048576.0
    );
    println!(
        "  chunk_bytes {:.1} MiB = {:.3} bytes/sample ({:.2} bits/sample)",
        st.chunk_bytes as f64 / 1048576.0,
        st.chunk_bytes as f64 / st.samples as f64,
        st.chunk_bytes as f64 * 8.0 / st.samples as f64
    );
    println!(
        "  RSS delta per series {:.0} bytes, per sample {:.3} bytes; non-chunk overhead per series {:.0} bytes",
        delta_bytes as f64 / st.series as f64,
        delta_bytes as f64 / st.samples as f64,
        (delta_bytes as f64 - st.chunk_bytes as f64) / st.series as f64
    );
    // Keep everything alive until measured.
    drop(specs);
    drop(store);
}

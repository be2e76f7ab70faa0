//! Helpers the fuzz targets share: small stores with tight limits, the OTLP receiver's
//! validated settings, a scratch directory per process, and a tokio runtime.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use vitals::sources::otlp::{OtlpConfig, OtlpSpec};
use vitals::store::{Labels, Store, StoreConfig};

/// A fresh, empty store admitting at most `max_series` series.
pub fn store(max_series: usize) -> Arc<Store> {
    let cfg = StoreConfig {
        retention: Duration::from_secs(3600),
        stale_after: Duration::from_secs(3600),
        max_series,
    };
    Arc::new(Store::new(cfg, &prometheus::Registry::new()).expect("store"))
}

/// Base of the test stores' data: 2023-11-14T22:13:20Z.
pub const T0: i64 = 1_700_000_000_000;

/// A store with a handful of series (the shapes the query API and PromQL tests use):
/// counters, a gauge with odd values and a stale marker, a histogram and a summary, 10
/// samples each, 15 s apart from [`T0`].
pub fn small_store() -> Arc<Store> {
    let s = store(1_000);
    let put = |pairs: &[(&str, &str)], f: &dyn Fn(i64) -> f64| {
        let labels = Labels::new(pairs.iter().copied());
        for i in 0..10 {
            let _ = s.append(&labels, T0 + i * 15_000, f(i));
        }
    };
    for (job, inst, base) in [
        ("api", "a:1", 1.0),
        ("api", "a:2", 10.0),
        ("web", "w:1", 100.0),
    ] {
        put(
            &[("__name__", "up_total"), ("job", job), ("instance", inst)],
            &|i| base + i as f64,
        );
        put(
            &[("__name__", "up"), ("job", job), ("instance", inst)],
            &|i| (i % 2) as f64,
        );
    }
    put(
        &[("__name__", "temperature"), ("room", "a")],
        &|i| match i {
            3 => f64::NAN,
            4 => f64::INFINITY,
            5 => -0.0,
            9 => vitals::store::stale_marker(),
            _ => 20.5 - i as f64,
        },
    );
    for (le, k) in [("0.1", 1.0), ("0.5", 3.0), ("1", 7.0), ("+Inf", 9.0)] {
        put(
            &[
                ("__name__", "req_seconds_bucket"),
                ("job", "api"),
                ("le", le),
            ],
            &|i| k * (i + 1) as f64,
        );
    }
    put(&[("__name__", "req_seconds_sum"), ("job", "api")], &|i| {
        3.5 * i as f64
    });
    put(&[("__name__", "req_seconds_count"), ("job", "api")], &|i| {
        9.0 * (i + 1) as f64
    });
    for q in ["0.5", "0.99"] {
        put(
            &[("__name__", "rpc_seconds"), ("quantile", q), ("svc", "x")],
            &|i| 0.01 * i as f64,
        );
    }
    s
}

/// The OTLP receiver's validated settings (through `OtlpSpec::build`, as `otlp:` is
/// validated), with tight series and label limits and one log counter.
pub fn otlp_spec() -> &'static OtlpSpec {
    static SPEC: OnceLock<OtlpSpec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let cfg: OtlpConfig = serde_json::from_str(
            r#"{"grpc_listen": "", "http_listen": "127.0.0.1:0", "max_series": 2000,
                "max_labels": 32, "max_label_name_length": 128, "max_label_value_length": 1024,
                "log_counters": [{"name": "payment_errors", "match": "(?i)payment .*fail"}]}"#,
        )
        .expect("otlp config");
        OtlpSpec::build(&cfg).expect("otlp spec")
    })
}

/// A scratch directory for this process: `$VITALS_FUZZ_TMP` (set by `run.sh`, removed when it
/// ends) or the system temporary directory, then `vitals-fuzz-<name>-<pid>`.
pub fn scratch(name: &str) -> PathBuf {
    let base = std::env::var_os("VITALS_FUZZ_TMP")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("vitals-fuzz-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A multi-threaded runtime shared by every input (the handlers use the blocking pool).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(4)
            .enable_all()
            .build()
            .expect("runtime")
    })
}

/// Lets a panic inside the PromQL parser unwind to `vitals::promql::parse`, which catches it
/// and answers a parse error (the daemon survives it). libFuzzer's hook aborts on every panic
/// before unwinding, which would report that handled case as a crash; every other panic
/// still aborts. Call at the start of each input of a target that reaches the parser.
pub fn tolerate_caught_parser_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let aborting = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let trace = std::backtrace::Backtrace::force_capture().to_string();
            // The parser's frames, below vitals' `promql::parse` (agent/promql/mod.rs).
            if trace.contains("promql_parser") && trace.contains("agent/promql/mod.rs") {
                return;
            }
            aborting(info);
        }));
    });
}

//! The CloudWatch source against the tests' fake CloudWatch (Smithy RPC v2 CBOR over HTTP on
//! 127.0.0.1), through the real SDK: one discovery job over 5,000 metric/statistic pairs
//! (2,500 ECS services x Average and Maximum, three datapoints each), two cycles. Prints the
//! calls each cycle made, its wall time and the process's RSS growth.
//!
//!   cargo bench --bench cloudwatch
//!
//! Bars (issue 11), asserted: ≤ 10 GetMetricData calls per cycle, under 2 s, < 30 MiB extra
//! RSS, and no ListMetrics call in the second cycle (inside the discovery TTL).

#[path = "../tests/common/cloudwatch.rs"]
mod fake;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use fake::{ACCESS_KEY, FakeCloudWatch};
use vitals::net::aws::{AwsSetup, https_client};
use vitals::sources::cloudwatch::client::CloudWatchClient;
use vitals::sources::cloudwatch::config::CloudWatchConfig;
use vitals::sources::cloudwatch::job::JobRunner;

const SERVICES: usize = 2_500;

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        vitals::net::tls::install_crypto_provider();
        let fake = FakeCloudWatch::start().await;
        let now_s = (vitals::store::now_ms() / 60_000 * 60) as f64;
        for i in 0..SERVICES {
            let m = fake.add_metric(
                "AWS/ECS",
                "CPUUtilization",
                &[("ClusterName", "prod"), ("ServiceName", &format!("service-{i:05}"))],
            );
            let pts = [(now_s - 240.0, 40.0 + (i % 50) as f64), (now_s - 180.0, 41.0), (now_s - 120.0, 42.5)];
            fake.set_points(&m, "Average", &pts);
            fake.set_points(&m, "Maximum", &pts);
        }
        let cfg: CloudWatchConfig = serde_yaml_ng::from_str(
            "region: us-east-1\njobs: [{namespace: AWS/ECS, dimensions: [ClusterName, ServiceName], metrics: [{name: CPUUtilization, statistics: [Average, Maximum]}], period: 60s, length: 180s, delay: 60s}]\n",
        )
        .expect("yaml");
        let spec = cfg.build().expect("valid");
        let setup = Arc::new(AwsSetup {
            http: https_client(),
            region: None,
            endpoint: Some(fake.url()),
            static_keys: Some(Credentials::new(ACCESS_KEY, "secret", None, None, "bench")),
            profile: None,
            role_arn: None,
        });
        let store = vitals::store::Store::new(
            vitals::store::StoreConfig {
                retention: Duration::from_secs(3600),
                stale_after: Duration::from_secs(3600),
                max_series: 100_000,
            },
            &prometheus::Registry::new(),
        )
        .expect("store");
        let permits = tokio::sync::Semaphore::new(spec.concurrency);
        let before = rss_mib();
        let runner = JobRunner::new(
            spec.jobs[0].clone(),
            CloudWatchClient::new(&setup, "us-east-1"),
            spec.discovery_ttl,
        );
        for cycle in 1..=2 {
            fake.clear_calls();
            let started = Instant::now();
            let r = runner.run(&store, vitals::store::now_ms(), &permits).await;
            let took = started.elapsed();
            let calls = fake.calls();
            let list = calls.iter().filter(|c| c.op == "ListMetrics").count();
            let data = calls.iter().filter(|c| c.op == "GetMetricData").count();
            println!(
                "cycle {cycle}: {} metric/statistic pairs, {data} GetMetricData calls, {list} ListMetrics calls, {} datapoints written, {:.0} ms, errors {}, RSS +{:.1} MiB",
                r.metrics_requested,
                r.points_written,
                took.as_secs_f64() * 1000.0,
                r.errors.len(),
                rss_mib() - before
            );
            // The bars: a bench that misses one fails.
            assert!(r.errors.is_empty(), "{:?}", r.errors);
            assert!(data <= 10, "{data} GetMetricData calls");
            assert!(took < Duration::from_secs(2), "cycle took {took:?}");
            assert!(rss_mib() - before < 30.0, "RSS grew {} MiB", rss_mib() - before);
            if cycle == 2 {
                assert_eq!(list, 0, "ListMetrics inside the discovery TTL");
            }
        }
    });
}

//! The CloudWatch client through the real AWS SDK against a fake CloudWatch speaking Smithy
//! RPC v2 CBOR over HTTP on 127.0.0.1: ListMetrics and GetMetricData pagination, batches of
//! at most 500 queries, throttling retried then given up, refused credentials.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::Credentials;
use common::cloudwatch::{ACCESS_KEY, FakeCloudWatch};
use vitals::net::aws::{AwsSetup, https_client};
use vitals::sources::cloudwatch::client::{CallError, CloudWatchClient};
use vitals::sources::cloudwatch::config::CloudWatchConfig;
use vitals::sources::cloudwatch::plan::{self, Window};

fn client(fake: &FakeCloudWatch, key: &str) -> CloudWatchClient {
    vitals::net::tls::install_crypto_provider();
    let setup = Arc::new(AwsSetup {
        http: https_client(),
        region: None,
        endpoint: Some(fake.url()),
        static_keys: Some(Credentials::new(key, "secret", None, None, "test")),
        profile: None,
        role_arn: None,
    });
    CloudWatchClient::new(&setup, "us-east-1")
}

#[tokio::test]
async fn list_metrics_reads_every_page() {
    let fake = FakeCloudWatch::start().await;
    for i in 0..1_200 {
        fake.add_metric(
            "AWS/ECS",
            "CPUUtilization",
            &[
                ("ClusterName", "prod"),
                ("ServiceName", &format!("svc{i:04}")),
            ],
        );
    }
    fake.add_metric("AWS/ECS", "CPUUtilization", &[("ClusterName", "prod")]);
    fake.add_metric(
        "AWS/RDS",
        "CPUUtilization",
        &[("DBInstanceIdentifier", "db")],
    );
    let c = client(&fake, ACCESS_KEY);
    let mut calls = 0;
    let sets = c
        .list_metrics(
            "AWS/ECS",
            "CPUUtilization",
            &["ServiceName".into()],
            &mut calls,
        )
        .await
        .expect("list");
    assert_eq!(sets.len(), 1_200);
    assert_eq!(calls, 3);
    assert_eq!(
        sets[7],
        [
            ("ClusterName".to_string(), "prod".to_string()),
            ("ServiceName".to_string(), "svc0007".to_string())
        ]
    );
    let wire = fake.calls();
    assert_eq!(wire.len(), 3);
    assert_eq!(wire[1].next_token.as_deref(), Some("500"));
}

#[tokio::test]
async fn get_metric_data_batches_of_500_and_result_pages_come_back_whole() {
    let fake = FakeCloudWatch::start().await;
    fake.set_results_page(120);
    let cfg: CloudWatchConfig = serde_yaml_ng::from_str(
        "region: us-east-1\njobs: [{namespace: AWS/ECS, dimensions: [ServiceName], metrics: [{name: CPUUtilization, statistics: [Average, Maximum]}], period: 60s}]\n",
    )
    .expect("yaml");
    let job = cfg.build().expect("valid").jobs.remove(0);
    let now_s = 1_800_000_000.0;
    let mut sets = Vec::new();
    for i in 0..600 {
        let svc = format!("svc{i:03}");
        let m = fake.add_metric("AWS/ECS", "CPUUtilization", &[("ServiceName", &svc)]);
        // Two periods of data inside the window, one outside it.
        fake.set_points(
            &m,
            "Average",
            &[
                (now_s - 240.0, i as f64),
                (now_s - 180.0, i as f64 + 0.5),
                (now_s - 60.0, 99.0),
            ],
        );
        sets.push(vec![("ServiceName".to_string(), svc)]);
    }
    let calls = plan::calls(&job, &|_| sets.clone(), None);
    assert_eq!(
        calls.iter().map(Vec::len).collect::<Vec<_>>(),
        [500, 500, 200]
    );
    let c = client(&fake, ACCESS_KEY);
    let window = Window {
        start_ms: (now_s as i64 - 300) * 1000,
        end_ms: (now_s as i64 - 120) * 1000,
    };
    let mut pages = 0;
    let mut answered = Vec::new();
    for batch in &calls {
        let r = c
            .get_metric_data(
                "AWS/ECS",
                Duration::from_secs(60),
                window,
                batch,
                &mut pages,
            )
            .await
            .expect("get");
        assert_eq!(r.len(), batch.len());
        answered.extend(r.into_iter().map(|(id, p)| {
            let q = batch.iter().find(|q| q.id == id).expect("known id");
            (q.series.to_string(), q.statistic.clone(), p)
        }));
    }
    // 500 → 5 pages of 120 (4 full + 20), twice; 200 → 2 pages.
    assert_eq!(pages, 5 + 5 + 2);
    let wire = fake.calls();
    assert!(wire.iter().all(|c| c.queries.len() <= 500));
    assert!(
        wire.iter()
            .all(|c| c.queries.iter().all(|q| q.period == 60))
    );
    assert_eq!(wire[0].start_s, Some(now_s - 300.0));
    let (series, stat, points) = answered
        .iter()
        .find(|(s, st, _)| s.contains("svc007") && st == "Average")
        .expect("svc007");
    assert_eq!(
        series,
        r#"aws_ecs_cpuutilization_average{dimension_ServiceName="svc007", region="us-east-1"}"#
    );
    assert_eq!(stat, "Average");
    // Newest first, CloudWatch's own timestamps, the out-of-window point left out.
    assert_eq!(
        points,
        &[
            ((now_s as i64 - 180) * 1000, 7.5),
            ((now_s as i64 - 240) * 1000, 7.0)
        ]
    );
    // Maximum was never set: the query is answered with no datapoints.
    assert!(
        answered
            .iter()
            .filter(|(_, st, _)| st == "Maximum")
            .all(|(_, _, p)| p.is_empty())
    );
}

#[tokio::test]
async fn throttling_is_retried_then_reported() {
    let fake = FakeCloudWatch::start().await;
    fake.add_metric(
        "AWS/RDS",
        "DatabaseConnections",
        &[("DBInstanceIdentifier", "db1")],
    );
    let c = client(&fake, ACCESS_KEY);
    let mut calls = 0;
    fake.throttle(2);
    let sets = c
        .list_metrics("AWS/RDS", "DatabaseConnections", &[], &mut calls)
        .await
        .expect("the third attempt succeeds");
    assert_eq!(sets.len(), 1);
    assert_eq!(fake.calls().len(), 3);

    fake.clear_calls();
    fake.throttle(10);
    let e = c
        .list_metrics("AWS/RDS", "DatabaseConnections", &[], &mut calls)
        .await
        .expect_err("throttled past the retries");
    assert!(matches!(e, CallError::Throttled { .. }), "{e}");
    assert_eq!(e.reason(), "throttled");
    assert_eq!(fake.calls().len(), 3, "three attempts");
}

#[tokio::test]
async fn refused_credentials_are_one_clear_error() {
    let fake = FakeCloudWatch::start().await;
    let c = client(&fake, "AKIDWRONG");
    let mut calls = 0;
    let e = c
        .list_metrics("AWS/ECS", "CPUUtilization", &[], &mut calls)
        .await
        .expect_err("refused");
    assert_eq!(e.reason(), "auth", "{e}");
    let text = e.to_string();
    assert!(text.contains("InvalidClientTokenId"), "{text}");
    assert!(!text.contains("secret"), "{text}");
    assert_eq!(fake.calls().len(), 1, "not retried");
}

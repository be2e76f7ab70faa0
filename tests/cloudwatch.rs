//! The CloudWatch client through the real AWS SDK against a fake CloudWatch speaking Smithy
//! RPC v2 CBOR over HTTP on 127.0.0.1: ListMetrics and GetMetricData pagination, batches of
//! at most 500 queries, throttling retried then given up, refused credentials.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::Credentials;
use common::cloudwatch::{ACCESS_KEY, FakeCloudWatch, ROLE_ARN, ROLE_KEY};
use vitals::net::aws::{AwsSetup, https_client};
use vitals::sources::cloudwatch::client::{CallError, CloudWatchClient};
use vitals::sources::cloudwatch::config::{CloudWatchConfig, JobSpec};
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

/// The first job of a `cloudwatch:` section written in YAML.
fn job_of(yaml: &str) -> JobSpec {
    let cfg: CloudWatchConfig = serde_yaml_ng::from_str(yaml).expect("yaml");
    cfg.build().expect("valid").jobs.remove(0)
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
    let job = job_of(
        "region: us-east-1\njobs: [{namespace: AWS/ECS, dimensions: [ServiceName], metrics: [{name: CPUUtilization, statistics: [Average, Maximum]}], period: 60s}]\n",
    );
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
    let calls = plan::calls(&job, &sets, None);
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
            (q.series.to_string(), q.statistic.clone(), p.points)
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
async fn unavailable_and_too_many_requests_are_retried() {
    let fake = FakeCloudWatch::start().await;
    fake.add_metric("AWS/ECS", "CPUUtilization", &[("ServiceName", "api")]);
    let c = client(&fake, ACCESS_KEY);
    let mut calls = 0;
    for (status, code) in [
        (503, "ServiceUnavailable"),
        (429, "TooManyRequestsException"),
        (500, "InternalServiceError"),
    ] {
        fake.clear_calls();
        fake.fail(2, status, code);
        let sets = c
            .list_metrics("AWS/ECS", "CPUUtilization", &[], &mut calls)
            .await
            .unwrap_or_else(|e| panic!("{status} {code}: {e}"));
        assert_eq!(sets.len(), 1);
        assert_eq!(
            fake.calls().len(),
            3,
            "{status} {code}: two failures, then the answer"
        );
    }
    // A client error is not retried, and names CloudWatch's code.
    fake.clear_calls();
    fake.fail(1, 400, "InvalidParameterValue");
    let e = c
        .list_metrics("AWS/ECS", "CPUUtilization", &[], &mut calls)
        .await
        .expect_err("refused");
    assert_eq!(e.reason(), "service");
    assert!(e.to_string().contains("InvalidParameterValue"), "{e}");
    assert_eq!(fake.calls().len(), 1);
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

fn store() -> vitals::store::Store {
    vitals::store::Store::new(
        vitals::store::StoreConfig {
            retention: Duration::from_secs(24 * 3600),
            stale_after: Duration::from_secs(24 * 3600),
            max_series: 10_000,
        },
        &prometheus::Registry::new(),
    )
    .expect("store")
}

/// (timestamp ms, value) of every sample of the series named `name` with `dim`.
fn samples(store: &vitals::store::Store, name: &str, dim: &str) -> Vec<(i64, f64)> {
    use vitals::store::{LabelMatcher, MatchOp};
    let m = [
        LabelMatcher::new("__name__", MatchOp::Equal, name).expect("matcher"),
        LabelMatcher::new("dimension_ServiceName", MatchOp::Equal, dim).expect("matcher"),
    ];
    store
        .select(&m, 0, i64::MAX)
        .into_iter()
        .flat_map(|s| s.samples)
        .map(|s| (s.t, s.v))
        .collect()
}

#[tokio::test]
async fn a_discovery_job_writes_cloudwatch_timestamps_reuses_its_listing_and_ends_lost_series() {
    use vitals::sources::cloudwatch::job::JobRunner;
    let fake = FakeCloudWatch::start().await;
    let job = job_of(
        "region: us-east-1\njobs: [{namespace: AWS/ECS, dimensions: [ClusterName, ServiceName], dimension_filters: {ClusterName: prod}, metrics: [{name: CPUUtilization, statistics: [Average]}], period: 60s, length: 180s, delay: 60s, nil_to_zero: true}]\n",
    );
    let now_ms = vitals::store::now_ms() / 60_000 * 60_000 + 30_000;
    let now_s = (now_ms / 1000) as f64;
    let api = fake.add_metric(
        "AWS/ECS",
        "CPUUtilization",
        &[("ClusterName", "prod"), ("ServiceName", "api")],
    );
    let web = fake.add_metric(
        "AWS/ECS",
        "CPUUtilization",
        &[("ClusterName", "prod"), ("ServiceName", "web")],
    );
    fake.add_metric(
        "AWS/ECS",
        "CPUUtilization",
        &[("ClusterName", "dev"), ("ServiceName", "api")],
    );
    fake.add_metric("AWS/ECS", "CPUUtilization", &[("ClusterName", "prod")]);
    // The job's window is [now-30s-240s, now-30s-60s): three periods; a first run reaches
    // back 10 periods, to now-30s-660s. api has two of the three; the third lands late. web
    // has none: nil_to_zero writes 0 at the window's oldest period (a later run never asks it
    // again, so a late datapoint of a newer one still lands).
    let (t1, t2, t3) = (now_s - 270.0, now_s - 210.0, now_s - 150.0);
    fake.set_points(&api, "Average", &[(t1, 10.0), (t2, 20.0)]);
    let runner = JobRunner::new(job, client(&fake, ACCESS_KEY), Duration::from_secs(600));
    let permits = tokio::sync::Semaphore::new(2);
    let s = store();
    let r = runner.run(&s, now_ms, &permits).await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!((r.list_calls, r.data_calls, r.metrics_requested), (1, 1, 2));
    let ms = |t: f64| (t * 1000.0) as i64;
    let name = "aws_ecs_cpuutilization_average";
    assert_eq!(samples(&s, name, "api"), [(ms(t1), 10.0), (ms(t2), 20.0)]);
    assert_eq!(samples(&s, name, "web"), [(ms(now_s - 690.0), 0.0)]);
    let wire = fake.calls();
    assert_eq!(wire[1].start_s, Some(now_s - 30.0 - 660.0));
    assert_eq!(wire[1].end_s, Some(now_s - 30.0 - 60.0));

    // The late datapoint arrives; the next run (within the TTL: no ListMetrics) writes it.
    fake.set_points(&api, "Average", &[(t1, 10.0), (t2, 20.0), (t3, 30.0)]);
    fake.clear_calls();
    let r = runner.run(&s, now_ms, &permits).await;
    assert!(r.discovery_cached);
    // Written: t3, and web's 0 for this window (still empty).
    assert_eq!((r.list_calls, r.data_calls, r.points_written), (0, 1, 2));
    assert!(fake.calls().iter().all(|c| c.op == "GetMetricData"));
    assert_eq!(
        samples(&s, name, "api"),
        [(ms(t1), 10.0), (ms(t2), 20.0), (ms(t3), 30.0)]
    );

    // web goes away; once the listing expires its series ends with a stale marker.
    fake.remove_metric(&web);
    let runner_ttl = {
        JobRunner::new(
            job_of(
                "region: us-east-1\njobs: [{namespace: AWS/ECS, dimensions: [ClusterName, ServiceName], metrics: [{name: CPUUtilization, statistics: [Average]}], period: 60s, nil_to_zero: true}]\n",
            ),
            client(&fake, ACCESS_KEY),
            Duration::from_millis(1),
        )
    };
    fake.add_metric(
        "AWS/ECS",
        "CPUUtilization",
        &[("ClusterName", "prod"), ("ServiceName", "web")],
    );
    let s2 = store();
    let r = runner_ttl.run(&s2, now_ms, &permits).await;
    assert_eq!(r.series, 3, "prod/api, prod/web, dev/api");
    fake.remove_metric(&web);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let r = runner_ttl.run(&s2, now_ms + 60_000, &permits).await;
    assert_eq!((r.list_calls, r.series, r.series_ended), (1, 2, 1));
    let web_samples = samples(&s2, name, "web");
    let last = web_samples.last().expect("web samples");
    assert_eq!(last.0, now_ms + 60_000);
    assert!(vitals::store::is_stale_marker(last.1), "{web_samples:?}");
}

/// The binary with three CloudWatch jobs against the fake: the ECS job's datapoints land in
/// the store at CloudWatch's timestamps, a rule fires on them, the self metrics count the
/// calls; a static RDS job assumes a role through STS and labels its series with the role's
/// account; the job whose role STS refuses fails with one error line and the others go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_pulls_cloudwatch_metrics_and_alerts_on_them() {
    let fake = FakeCloudWatch::start().await;
    let now_s = (vitals::store::now_ms() / 1000) as f64;
    let api = fake.add_metric(
        "AWS/ECS",
        "CPUUtilization",
        &[("ClusterName", "prod"), ("ServiceName", "api")],
    );
    // Datapoints every minute for the last 10 minutes: whatever minute the window lands on.
    let minute = (now_s / 60.0).floor() * 60.0;
    let points: Vec<(f64, f64)> = (1..=10).map(|i| (minute - 60.0 * i as f64, 93.5)).collect();
    fake.set_points(&api, "Average", &points);
    let orders = fake.add_metric(
        "AWS/RDS",
        "DatabaseConnections",
        &[("DBInstanceIdentifier", "orders")],
    );
    fake.set_points(&orders, "Average", &points);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: aws\n    interval: 1s\n    rules:\n      - alert: EcsCpuHot\n        expr: aws_ecs_cpuutilization_average > 80\n",
    )
    .expect("rules");
    let cfg = format!(
        r#"server: {{listen: "127.0.0.1:0"}}
probes: {{targets: []}}
cloudwatch:
  region: us-east-1
  endpoint_url: "{}"
  jobs:
    - namespace: AWS/ECS
      dimensions: [ClusterName, ServiceName]
      metrics: [{{name: CPUUtilization, statistics: [Average]}}]
      period: 60s
    - name: elsewhere
      namespace: AWS/RDS
      role_arn: "arn:aws:iam::123456789012:role/nobody"
      metrics: [{{name: DatabaseConnections, statistics: [Sum]}}]
      period: 60s
    - name: rds
      namespace: AWS/RDS
      role_arn: "{ROLE_ARN}"
      static: [{{DBInstanceIdentifier: orders}}]
      metrics: [{{name: DatabaseConnections, statistics: [Average]}}]
rules: {{files: ["rules.yml", "{}/rules/cloudwatch.yml"]}}
"#,
        fake.url(),
        env!("CARGO_MANIFEST_DIR")
    );
    let sts = fake.url();
    let v = common::Vitals::start_in(
        dir,
        &cfg,
        &[
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", "not-logged-secret"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_ENDPOINT_URL_STS", &sts),
        ],
    );
    v.wait_for_sample(
        "vitals_cloudwatch_last_success_timestamp_seconds",
        &[("job", "AWS/ECS")],
        |t| t > 0.0,
    )
    .await;
    let calls = common::find_sample(
        &v.metrics().await,
        "vitals_cloudwatch_api_calls_total",
        &[("api", "GetMetricData"), ("namespace", "AWS/ECS")],
    );
    assert_eq!(calls, Some(1.0));
    let requested = common::find_sample(
        &v.metrics().await,
        "vitals_cloudwatch_metrics_requested_total",
        &[("namespace", "AWS/ECS")],
    );
    assert_eq!(requested, Some(1.0));
    // The alert fires on what the source wrote.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let a = v.get_json("/api/v1/alerts").await;
        let firing = a["data"]["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| {
                a["labels"]["alertname"] == "EcsCpuHot"
                    && a["labels"]["dimension_ServiceName"] == "api"
                    && a["labels"]["region"] == "us-east-1"
                    && a["state"] == "firing"
            });
        // The shipped rule (for: 15m) sees the same series: pending.
        let shipped = a["data"]["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| {
                a["labels"]["alertname"] == "EcsServiceCpuHigh"
                    && a["labels"]["dimension_ClusterName"] == "prod"
                    && a["labels"]["dimension_ServiceName"] == "api"
                    && a["state"] == "pending"
            });
        let firing = firing && shipped;
        if firing {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never fired: {a}\n{}",
            v.logs().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // At CloudWatch's timestamps: the newest sample is the start of the window's last
    // minute, 3-4 minutes old (delay 2 x period, then the period itself), not "now".
    let q = v
        .get_json("/api/v1/query?query=timestamp(aws_ecs_cpuutilization_average)")
        .await;
    let ts: f64 = q["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{q}"));
    let age = vitals::store::now_ms() as f64 / 1000.0 - ts;
    assert!((180.0..=250.0).contains(&age), "sample {age} s old");
    // A first run (a start or a restart) reaches back 10 periods, so an outage of up to
    // 10 minutes loses no period.
    let first = fake
        .calls()
        .into_iter()
        .find(|c| c.op == "GetMetricData" && c.queries.iter().any(|q| q.namespace == "AWS/ECS"))
        .expect("an ECS call");
    assert_eq!(
        first.end_s.zip(first.start_s).map(|(e, s)| e - s),
        Some(600.0)
    );
    // The rds job assumed its role and asked with the temporary key; its series carry the
    // role's account.
    v.wait_for_sample(
        "vitals_cloudwatch_last_success_timestamp_seconds",
        &[("job", "rds")],
        |t| t > 0.0,
    )
    .await;
    let wire = fake.calls();
    assert!(
        wire.iter()
            .any(|c| c.op == "AssumeRole" && c.access_key.as_deref() == Some(ACCESS_KEY))
    );
    assert!(wire.iter().any(|c| c.op == "GetMetricData"
        && c.access_key.as_deref() == Some(ROLE_KEY)
        && c.queries.iter().any(|q| q.metric == "DatabaseConnections")));
    let q = v
        .get_json("/api/v1/query?query=aws_rds_database_connections_average")
        .await;
    assert_eq!(
        q["data"]["result"][0]["metric"]["account_id"], "123456789012",
        "{q}"
    );
    assert_eq!(
        q["data"]["result"][0]["metric"]["dimension_DBInstanceIdentifier"], "orders",
        "{q}"
    );
    // The elsewhere job's role is refused: one error line naming the job, no secret.
    let errors = v.wait_log_events("A CloudWatch job failed; it is retried every period.", 1);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["job"], "elsewhere", "{}", errors[0]);
    assert_eq!(errors[0]["reason"], "auth", "{}", errors[0]);
    assert!(
        errors[0]["error"]
            .as_str()
            .unwrap_or("")
            .contains("AccessDenied"),
        "{}",
        errors[0]
    );
    let logs = v.logs().join("\n");
    assert!(!logs.contains("not-logged-secret"));
    assert!(
        v.log_events("A CloudWatch job failed; it is retried every period.")
            .iter()
            .all(|e| e["job"] == "elsewhere")
    );

    // Reload without the failing job and without rds: the ECS job keeps running untouched,
    // rds's series end at once and its per-job metrics go.
    let mut fewer = cfg.replace(
        "    - name: elsewhere\n      namespace: AWS/RDS\n      role_arn: \"arn:aws:iam::123456789012:role/nobody\"\n      metrics: [{name: DatabaseConnections, statistics: [Sum]}]\n      period: 60s\n",
        "",
    );
    fewer = fewer.replace(
        &format!("    - name: rds\n      namespace: AWS/RDS\n      role_arn: \"{ROLE_ARN}\"\n      static: [{{DBInstanceIdentifier: orders}}]\n      metrics: [{{name: DatabaseConnections, statistics: [Average]}}]\n"),
        "",
    );
    assert!(
        !fewer.contains("elsewhere") && !fewer.contains("name: rds"),
        "{fewer}"
    );
    std::fs::write(v.config_path(), &fewer).expect("config");
    let answer = reqwest::Client::new()
        .post(v.url("/-/reload"))
        .send()
        .await
        .expect("reload");
    assert_eq!(answer.status(), 200);
    let text = answer.text().await.expect("body");
    assert!(
        text.contains("cloudwatch jobs: 0 added, 2 removed, 0 changed, 1 unchanged"),
        "{text}"
    );
    let q = v
        .get_json("/api/v1/query?query=aws_rds_database_connections_average")
        .await;
    assert_eq!(q["data"]["result"].as_array().map(Vec::len), Some(0), "{q}");
    let m = v.metrics().await;
    assert!(!m.contains("vitals_cloudwatch_last_success_timestamp_seconds{job=\"rds\"}"));
    assert!(m.contains("vitals_cloudwatch_last_success_timestamp_seconds{job=\"AWS/ECS\"}"));
    assert_eq!(
        v.wait_log_events("A CloudWatch job was removed; its series end.", 2)
            .len(),
        2
    );
}

#[tokio::test]
async fn a_query_empty_for_ten_runs_is_asked_every_tenth_run_until_it_has_data() {
    use vitals::sources::cloudwatch::job::JobRunner;
    let fake = FakeCloudWatch::start().await;
    let job = job_of(
        "region: us-east-1\njobs: [{namespace: AWS/RDS, static: [{DBInstanceIdentifier: busy}, {DBInstanceIdentifier: idle}], metrics: [{name: DatabaseConnections, statistics: [Sum]}]}]\n",
    );
    let runner = JobRunner::new(job, client(&fake, ACCESS_KEY), Duration::from_secs(600));
    let permits = tokio::sync::Semaphore::new(1);
    let s = store();
    let busy = fake.add_metric(
        "AWS/RDS",
        "DatabaseConnections",
        &[("DBInstanceIdentifier", "busy")],
    );
    let idle = fake.add_metric(
        "AWS/RDS",
        "DatabaseConnections",
        &[("DBInstanceIdentifier", "idle")],
    );
    let minute = vitals::store::now_ms() / 60_000 * 60_000;
    let mut asked = Vec::new();
    for run in 0..22i64 {
        // Each run a minute later, busy with a datapoint in its window; idle has one from
        // run 15 on (each window covers one minute, so idle's query finds it at run 15 or
        // later, whenever it is asked).
        let now = minute + run * 60_000;
        let t = ((now - 150_000) / 1000) as f64;
        fake.set_points(&busy, "Sum", &[(t, 5.0)]);
        if run >= 15 {
            fake.set_points(&idle, "Sum", &[(t, 1.0)]);
        }
        let r = runner.run(&s, now, &permits).await;
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        asked.push(r.metrics_requested);
    }
    // Runs 0-9 ask both; idle has then been empty 10 times: runs 11-19 skip it (10 is a
    // tenth run). Run 20 asks it, finds data, and from 21 on it is asked every run again.
    assert_eq!(&asked[..11], &[2; 11]);
    assert_eq!(&asked[11..20], &[1; 9]);
    assert_eq!(&asked[20..], &[2, 2]);
}

/// A job's calls go out together up to the permits; a run that fails is caught up by the
/// next one (its window starts where the last complete run ended); a query CloudWatch
/// answers `Forbidden` is an error, writes nothing, and holds the window back.
#[tokio::test]
async fn calls_overlap_up_to_the_permits_and_a_failed_run_is_caught_up() {
    use vitals::sources::cloudwatch::job::JobRunner;
    let fake = FakeCloudWatch::start().await;
    fake.set_delay(Duration::from_millis(200));
    let statics: Vec<String> = (0..1_200)
        .map(|i| format!("{{DBInstanceIdentifier: db{i:04}}}"))
        .collect();
    let job = job_of(&format!(
        "region: us-east-1\njobs: [{{namespace: AWS/RDS, static: [{}], metrics: [{{name: CPUUtilization, statistics: [Average]}}]}}]\n",
        statics.join(", ")
    ));
    let runner = JobRunner::new(job, client(&fake, ACCESS_KEY), Duration::from_secs(600));
    let s = store();
    let minute = vitals::store::now_ms() / 60_000 * 60_000;
    // Three calls of 500, 500 and 200 queries, two permits: two at once, never three.
    let permits = tokio::sync::Semaphore::new(2);
    let r = runner.run(&s, minute + 1_000, &permits).await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!((r.data_calls, r.metrics_requested), (3, 1_200));
    assert_eq!(fake.max_in_flight(), 2);
    let first_end = fake.calls().last().and_then(|c| c.end_s).expect("end");

    // The next minute's run is throttled past its retries; the one after asks from where the
    // first ended: two periods.
    fake.set_delay(Duration::ZERO);
    fake.throttle(1_000);
    let r = runner.run(&s, minute + 61_000, &permits).await;
    assert_eq!(r.errors.len(), 3, "{:?}", r.errors);
    fake.throttle(0);
    fake.clear_calls();
    let r = runner.run(&s, minute + 121_000, &permits).await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let wire = fake.calls();
    assert!(
        wire.iter().all(|c| c.start_s == Some(first_end)),
        "{:?}",
        wire.first()
    );
    assert_eq!(wire[0].end_s, Some(first_end + 120.0));

    // db0007 is Forbidden: one error for its call, nothing written, the window held back.
    let db7 = fake.add_metric(
        "AWS/RDS",
        "CPUUtilization",
        &[("DBInstanceIdentifier", "db0007")],
    );
    fake.set_points(&db7, "Average", &[(first_end + 130.0, 5.0)]);
    fake.forbid(&db7);
    fake.clear_calls();
    let r = runner.run(&s, minute + 181_000, &permits).await;
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    assert!(
        r.errors[0].to_string().contains("Forbidden"),
        "{}",
        r.errors[0]
    );
    assert_eq!(r.points_written, 0);
    fake.clear_calls();
    runner.run(&s, minute + 241_000, &permits).await;
    assert_eq!(
        fake.calls()[0].start_s,
        Some(first_end + 120.0),
        "held back"
    );
}

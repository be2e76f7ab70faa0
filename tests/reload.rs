//! Black-box: reloading the configuration (POST /-/reload and SIGHUP) while running.

mod common;

use common::targets;
use common::{Vitals, sample_value};

fn config(http: std::net::SocketAddr, targets: &str) -> String {
    format!(
        "server: {{listen: \"127.0.0.1:0\", api_token: \"${{TOKEN}}\"}}\nprobes:\n  defaults: {{interval: 1s, timeout: 900ms}}\n  targets:\n{}",
        targets.replace("HTTP", &http.to_string())
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_target_changes_and_keeps_running_on_bad_config() {
    let http = targets::http_server().await;
    let start = config(
        http,
        "    - {name: a, url: \"http://HTTP/ok\", labels: {team: x}}\n    - {name: b, url: \"http://HTTP/ok\"}\n",
    );
    let vitals = Vitals::start_with_env(&start, &[("TOKEN", "reload-token")]);
    let a_x = format!("probe_success{{instance=\"http://{http}/ok\",probe=\"a\",team=\"x\"}}");
    let a_y = format!("probe_success{{instance=\"http://{http}/ok\",probe=\"a\",team=\"y\"}}");
    let b = format!("probe_success{{instance=\"http://{http}/ok\",probe=\"b\"}}");
    let c = format!("probe_success{{instance=\"http://{http}/down\",probe=\"c\"}}");
    vitals.wait_for(&a_x, |v| v == 1.0).await;
    vitals.wait_for(&b, |v| v == 1.0).await;

    let client = reqwest::Client::new();
    let reload = |token: Option<&'static str>| {
        let mut req = client.post(vitals.url("/-/reload"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };

    // Mutating calls need the token.
    let denied = reload(None).await.expect("reload");
    assert_eq!(denied.status(), 401);
    let denied = reload(Some("wrong")).await.expect("reload");
    assert_eq!(denied.status(), 401);

    // A bad configuration is refused with its errors; the running one stays.
    std::fs::write(
        vitals.config_path(),
        config(
            http,
            "    - {name: a, url: \"http://HTTP/ok\", conditions: [\"status ===\"]}\n",
        ),
    )
    .expect("write");
    let bad = reload(Some("reload-token")).await.expect("reload");
    assert_eq!(bad.status(), 400);
    let text = bad.text().await.expect("body");
    assert!(text.contains("probes.targets[0].conditions[0]"), "{text}");
    vitals.wait_for(&b, |v| v == 1.0).await;

    // b removed, c added, a's labels changed.
    std::fs::write(
        vitals.config_path(),
        config(
            http,
            "    - {name: a, url: \"http://HTTP/ok\", labels: {team: y}}\n    - {name: c, url: \"http://HTTP/down\"}\n",
        ),
    )
    .expect("write");
    let ok = reload(Some("reload-token")).await.expect("reload");
    assert_eq!(ok.status(), 200);
    let summary = ok.text().await.expect("body");
    assert!(
        summary.contains("1 added, 1 removed, 1 changed, 0 unchanged"),
        "{summary}"
    );
    vitals.wait_for(&a_y, |v| v == 1.0).await;
    vitals.wait_for(&c, |v| v == 0.0).await;
    // Removed and relabelled series end with a stale marker: gone from /metrics at once.
    let text = vitals.metrics().await;
    assert_eq!(sample_value(&text, &b), None, "{text}");
    assert_eq!(sample_value(&text, &a_x), None, "{text}");

    // SIGHUP reloads too.
    std::fs::write(
        vitals.config_path(),
        config(
            http,
            "    - {name: a, url: \"http://HTTP/ok\", labels: {team: y}}\n",
        ),
    )
    .expect("write");
    vitals.signal("-HUP");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while sample_value(&vitals.metrics().await, &c).is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "SIGHUP did not remove c"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        vitals.wait_log_events("Configuration reloaded.", 2).len(),
        2
    );
    assert_eq!(
        vitals
            .wait_log_events(
                "The new configuration is invalid; keeping the running one.",
                1
            )
            .len(),
        1
    );
    assert!(!vitals.logs().iter().any(|l| l.contains("reload-token")));
    assert_eq!(vitals.terminate().code(), Some(0));
}

/// The OTLP bearer token applies live on reload (the answer and the log say so, the old
/// token stops working at once); a change that needs a restart is named as such.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_auth_token_changes_apply_on_reload() {
    let config = |token: &str, max_series: u32| {
        format!(
            "server: {{listen: \"127.0.0.1:0\", api_token: admin}}\notlp: {{grpc_listen: \"127.0.0.1:0\", http_listen: \"127.0.0.1:0\", auth_token: {token}, max_series: {max_series}}}\n"
        )
    };
    let vitals = Vitals::start(&config("old-token", 1000));
    let (_, http) = vitals.otlp_addrs();
    let url = format!("http://{}/v1/metrics", http.expect("otlp http addr"));
    let client = reqwest::Client::new();
    let export = |token: &'static str| {
        client
            .post(&url)
            .bearer_auth(token)
            .header("content-type", "application/x-protobuf")
            .body(Vec::<u8>::new())
            .send()
    };
    assert_eq!(export("old-token").await.expect("export").status(), 200);
    assert_eq!(export("new-token").await.expect("export").status(), 401);

    std::fs::write(vitals.config_path(), config("new-token", 2000)).expect("write");
    let answer = client
        .post(vitals.url("/-/reload"))
        .bearer_auth("admin")
        .send()
        .await
        .expect("reload");
    assert_eq!(answer.status(), 200);
    let text = answer.text().await.expect("body");
    assert!(text.contains("applied now: otlp.auth_token"), "{text}");
    assert!(
        text.contains("changes to otlp.max_series take effect at the next restart"),
        "{text}"
    );
    let logged = vitals.wait_log_events("Configuration reloaded.", 1);
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0]["applied"], "otlp.auth_token", "{logged:?}");
    assert_eq!(logged[0]["needs_restart"], "otlp.max_series", "{logged:?}");

    assert_eq!(export("old-token").await.expect("export").status(), 401);
    assert_eq!(export("new-token").await.expect("export").status(), 200);
    // Neither token is ever logged.
    assert!(
        !vitals
            .logs()
            .iter()
            .any(|l| l.contains("old-token") || l.contains("new-token"))
    );
}

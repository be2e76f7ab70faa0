//! Black-box: the real binary probing real local targets, read back through `/metrics`.

mod common;

use common::targets;
use common::{Vitals, sample_value};

/// `vitals_probe_errors_total{probe, reason}` in an exposition (0 when absent).
fn probe_errors(text: &str, probe: &str, reason: &str) -> f64 {
    sample_value(
        text,
        &format!("vitals_probe_errors_total{{probe=\"{probe}\",reason=\"{reason}\"}}"),
    )
    .unwrap_or(0.0)
}

fn series(metric: &str, instance: &str, probe: &str) -> String {
    format!("{metric}{{instance=\"{instance}\",probe=\"{probe}\"}}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_tcp_and_failure_modes_are_measured_and_classified() {
    let http = targets::http_server().await;
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    }; // dropped: nothing listens there any more
    let u = |path: &str| format!("http://{http}{path}");
    let config = format!(
        r#"
server: {{listen: "127.0.0.1:0"}}
probes:
  defaults: {{interval: 1s, timeout: 900ms, max_body_bytes: 65536, max_redirects: 3}}
  targets:
    - {{name: ok, url: "{ok}", conditions: ["status == 200", "body.status == UP", "len(body.checks) == 1", "response_time < 800ms"]}}
    - {{name: down, url: "{down}"}}
    - {{name: wrong, url: "{wrong}", conditions: ["status == 200", "body.status == UP"]}}
    - {{name: slow, url: "{slow}"}}
    - {{name: refused, url: "http://{refused}/health"}}
    - {{name: big, url: "{big}"}}
    - {{name: loop, url: "{lp}"}}
    - {{name: redirect, url: "{redirect}", conditions: ["status == 200"]}}
    - {{name: auth, url: "{auth}", headers: {{Authorization: "Bearer let-me-in"}}, conditions: ["status == 200"]}}
    - {{name: tcp_ok, tcp: "{http}"}}
    - {{name: tcp_refused, tcp: "{refused}"}}
"#,
        ok = u("/ok"),
        down = u("/down"),
        wrong = u("/wrong"),
        slow = u("/slow"),
        big = u("/big"),
        lp = u("/loop"),
        redirect = u("/redirect"),
        auth = u("/auth"),
    );
    let vitals = Vitals::start(&config);

    let success = |probe: &str, instance: &str| series("probe_success", instance, probe);
    vitals
        .wait_for(&success("ok", &u("/ok")), |v| v == 1.0)
        .await;
    vitals
        .wait_for(&success("redirect", &u("/redirect")), |v| v == 1.0)
        .await;
    vitals
        .wait_for(&success("auth", &u("/auth")), |v| v == 1.0)
        .await;
    vitals
        .wait_for(&success("tcp_ok", &http.to_string()), |v| v == 1.0)
        .await;
    for (probe, path) in [
        ("down", "/down"),
        ("wrong", "/wrong"),
        ("slow", "/slow"),
        ("big", "/big"),
        ("loop", "/loop"),
    ] {
        vitals
            .wait_for(&success(probe, &u(path)), |v| v == 0.0)
            .await;
    }
    vitals
        .wait_for(
            &success("refused", &format!("http://{refused}/health")),
            |v| v == 0.0,
        )
        .await;
    vitals
        .wait_for(&success("tcp_refused", &refused.to_string()), |v| v == 0.0)
        .await;

    // Let every target run a few intervals, so "logged once" means something.
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    let text = vitals.metrics().await;
    let status = |probe: &str, path: &str| {
        sample_value(&text, &series("probe_http_status_code", &u(path), probe))
    };
    assert_eq!(status("ok", "/ok"), Some(200.0));
    assert_eq!(status("down", "/down"), Some(503.0));
    assert_eq!(status("redirect", "/redirect"), Some(200.0));
    assert_eq!(status("slow", "/slow"), Some(0.0));
    assert_eq!(
        sample_value(
            &text,
            &series("probe_http_redirects", &u("/redirect"), "redirect")
        ),
        Some(1.0)
    );
    let duration = sample_value(
        &text,
        &series("probe_duration_seconds", &u("/slow"), "slow"),
    );
    assert!(
        duration.is_some_and(|d| d >= 0.85),
        "slow probe duration {duration:?}"
    );

    let errors = |probe: &str, reason: &str| probe_errors(&text, probe, reason);
    for (probe, reason) in [
        ("down", "condition"),
        ("wrong", "condition"),
        ("slow", "timeout"),
        ("refused", "refused"),
        ("tcp_refused", "refused"),
        ("big", "body_too_large"),
        ("loop", "too_many_redirects"),
    ] {
        assert!(
            errors(probe, reason) >= 2.0,
            "{probe}: no {reason} errors in\n{text}"
        );
    }
    assert_eq!(errors("ok", "condition"), 0.0);

    // State changes are logged once each, with the reason and the failing condition.
    let down = vitals.log_events("Probe is down.");
    let for_probe = |p: &str| down.iter().filter(|e| e["probe"] == p).collect::<Vec<_>>();
    for p in [
        "down",
        "wrong",
        "slow",
        "refused",
        "big",
        "loop",
        "tcp_refused",
    ] {
        assert_eq!(for_probe(p).len(), 1, "{p} logged {:?}", for_probe(p));
    }
    assert_eq!(for_probe("wrong")[0]["condition"], "body.status == UP");
    assert_eq!(for_probe("down")[0]["condition"], "status < 400");
    assert!(
        for_probe("down")[0]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("503"),
        "{:?}",
        for_probe("down")
    );
    assert!(for_probe("ok").is_empty());
    // The header's credential never reaches a log line.
    assert!(!vitals.logs().iter().any(|l| l.contains("let-me-in")));

    assert!(vitals.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_certificates_are_checked_and_their_expiry_exported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = time::OffsetDateTime::now_utc();
    let short_dir = dir.path().join("short");
    let expired_dir = dir.path().join("expired");
    std::fs::create_dir_all(&short_dir).expect("mkdir");
    std::fs::create_dir_all(&expired_dir).expect("mkdir");
    let short = targets::make_pki(&short_dir, now + time::Duration::days(3));
    let expired = targets::make_pki(&expired_dir, now - time::Duration::days(1));
    let short_addr = targets::tls_server(&short).await;
    let expired_addr = targets::tls_server(&expired).await;
    let short_url = format!("https://{short_addr}/health");
    let expired_url = format!("https://{expired_addr}/health");
    let config = format!(
        r#"
server: {{listen: "127.0.0.1:0"}}
probes:
  defaults: {{interval: 1s, timeout: 900ms}}
  targets:
    - name: short
      url: "{short_url}"
      tls: {{ca_file: "{short_ca}"}}
      conditions: ["status == 200", "cert_expiry > 14d"]
    - name: short_lenient
      url: "{short_url}"
      tls: {{ca_file: "{short_ca}"}}
      conditions: ["status == 200", "cert_expiry > 1d"]
    - name: expired
      url: "{expired_url}"
      tls: {{ca_file: "{expired_ca}"}}
    - name: expired_insecure
      url: "{expired_url}"
      tls: {{insecure_skip_verify: true}}
      conditions: ["cert_expiry > 0"]
    - name: untrusted
      url: "{short_url}"
"#,
        short_ca = short.ca_file.display(),
        expired_ca = expired.ca_file.display(),
    );
    let vitals = Vitals::start(&config);
    let s = |m: &str, p: &str, url: &str| series(m, url, p);

    vitals
        .wait_for(&s("probe_success", "short_lenient", &short_url), |v| {
            v == 1.0
        })
        .await;
    vitals
        .wait_for(&s("probe_success", "short", &short_url), |v| v == 0.0)
        .await;
    let expiry = vitals
        .wait_for(
            &s("probe_ssl_earliest_cert_expiry", "short", &short_url),
            |v| v > 0.0,
        )
        .await;
    let want = (now + time::Duration::days(3)).unix_timestamp() as f64;
    assert!((expiry - want).abs() < 5.0, "expiry {expiry}, want {want}");

    vitals
        .wait_for(&s("probe_success", "expired", &expired_url), |v| v == 0.0)
        .await;
    vitals
        .wait_for(&s("probe_success", "untrusted", &short_url), |v| v == 0.0)
        .await;
    vitals
        .wait_for(&s("probe_success", "expired_insecure", &expired_url), |v| {
            v == 0.0
        })
        .await;
    let expired_at = vitals
        .wait_for(
            &s(
                "probe_ssl_earliest_cert_expiry",
                "expired_insecure",
                &expired_url,
            ),
            |v| v > 0.0,
        )
        .await;
    assert!(expired_at < now.unix_timestamp() as f64);

    let text = vitals.metrics().await;
    let errors = |probe: &str, reason: &str| probe_errors(&text, probe, reason);
    assert!(errors("expired", "tls") >= 1.0, "{text}");
    assert!(errors("untrusted", "tls") >= 1.0, "{text}");
    assert!(errors("short", "condition") >= 1.0, "{text}");
    let down = vitals.log_events("Probe is down.");
    let short_down = down
        .iter()
        .find(|e| e["probe"] == "short")
        .expect("short logged down");
    assert_eq!(short_down["condition"], "cert_expiry > 14d");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_health_status_is_followed() {
    let (addr, reporter) = targets::grpc_health_server().await;
    let config = format!(
        r#"
server: {{listen: "127.0.0.1:0"}}
probes:
  defaults: {{interval: 1s, timeout: 900ms}}
  targets:
    - {{name: grpc, grpc: "{addr}"}}
    - {{name: grpc_unknown_service, grpc: "{addr}", grpc_service: "nope.v1.Nope"}}
"#
    );
    let vitals = Vitals::start(&config);
    let success = series("probe_success", &addr.to_string(), "grpc");
    vitals.wait_for(&success, |v| v == 1.0).await;
    vitals
        .wait_for(
            &series("probe_success", &addr.to_string(), "grpc_unknown_service"),
            |v| v == 0.0,
        )
        .await;
    reporter
        .set_service_status("", tonic_health::ServingStatus::NotServing)
        .await;
    vitals.wait_for(&success, |v| v == 0.0).await;
    let down = vitals.log_events("Probe is down.");
    let grpc_down = down
        .iter()
        .find(|e| e["probe"] == "grpc")
        .expect("grpc logged down");
    assert_eq!(grpc_down["reason"], "grpc");
    assert!(
        grpc_down["detail"]
            .as_str()
            .unwrap_or("")
            .contains("NOT_SERVING")
    );
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    vitals.wait_for(&success, |v| v == 1.0).await;
    assert_eq!(vitals.log_events("Probe is up again.").len(), 1);
}

/// Two unrelated self-signed certificates (the server's and a stranger's) under `dir`.
fn two_self_signed(dir: &std::path::Path) -> (targets::TestPki, targets::TestPki) {
    let (own, other) = (dir.join("own"), dir.join("other"));
    std::fs::create_dir_all(&own).expect("mkdir");
    std::fs::create_dir_all(&other).expect("mkdir");
    (
        targets::make_self_signed(&own),
        targets::make_self_signed(&other),
    )
}

/// gRPC targets pin a self-signed `tls.ca_file` as HTTP targets do; another one is refused
/// with reason `tls`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_certificate_given_as_ca_file_is_trusted_by_grpc_probes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pki, stranger) = two_self_signed(dir.path());
    let addr = targets::grpc_tls_health_server(&pki).await;
    let endpoint = format!("https://{addr}");
    let config = format!(
        r#"
server: {{listen: "127.0.0.1:0"}}
probes:
  defaults: {{interval: 1s, timeout: 900ms}}
  targets:
    - {{name: pinned, grpc: "{endpoint}", tls: {{ca_file: "{own}"}}}}
    - {{name: stranger, grpc: "{endpoint}", tls: {{ca_file: "{other}"}}}}
"#,
        own = pki.ca_file.display(),
        other = stranger.ca_file.display(),
    );
    let vitals = Vitals::start(&config);
    vitals
        .wait_for(&series("probe_success", &endpoint, "pinned"), |v| v == 1.0)
        .await;
    vitals
        .wait_for(&series("probe_success", &endpoint, "stranger"), |v| {
            v == 0.0
        })
        .await;
    let down = vitals.wait_log_events("Probe is down.", 1);
    let stranger_down = down
        .iter()
        .find(|e| e["probe"] == "stranger")
        .expect("stranger logged down");
    assert_eq!(stranger_down["reason"], "tls", "{stranger_down}");
    // The detail says what to do about it.
    assert!(
        stranger_down["detail"]
            .as_str()
            .is_some_and(|d| d.contains("tls.ca_file")),
        "{stranger_down}"
    );
}

/// A self-signed certificate that is its own CA, given as `tls.ca_file`, is trusted (rustls
/// alone refuses it as `CaUsedAsEndEntity`); another self-signed certificate is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_certificate_given_as_ca_file_is_trusted_and_only_that_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pki, stranger) = two_self_signed(dir.path());
    let addr = targets::tls_server(&pki).await;
    let url = format!("https://{addr}/health");
    let config = format!(
        r#"
server: {{listen: "127.0.0.1:0"}}
probes:
  defaults: {{interval: 1s, timeout: 900ms}}
  targets:
    - name: pinned
      url: "{url}"
      tls: {{ca_file: "{own}"}}
      conditions: ["status == 200", "cert_expiry > 1d"]
    - name: stranger
      url: "{url}"
      tls: {{ca_file: "{other}"}}
"#,
        own = pki.ca_file.display(),
        other = stranger.ca_file.display(),
    );
    let vitals = Vitals::start(&config);
    vitals
        .wait_for(&series("probe_success", &url, "pinned"), |v| v == 1.0)
        .await;
    vitals
        .wait_for(
            &series("probe_ssl_earliest_cert_expiry", &url, "pinned"),
            |v| v > 0.0,
        )
        .await;
    vitals
        .wait_for(&series("probe_success", &url, "stranger"), |v| v == 0.0)
        .await;
    let down = vitals.wait_log_events("Probe is down.", 1);
    let stranger_down = down
        .iter()
        .find(|e| e["probe"] == "stranger")
        .expect("stranger logged down");
    assert_eq!(stranger_down["reason"], "tls", "{stranger_down}");
    assert!(
        stranger_down["detail"]
            .as_str()
            .is_some_and(|d| d.contains("tls.ca_file")),
        "{stranger_down}"
    );
}

/// The status page shows every probe with its state, status code and instance, read from the
/// store however many other series it holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_lists_each_probe_and_its_state() {
    let http = targets::http_server().await;
    let config = format!(
        r#"
server: {{listen: "127.0.0.1:0"}}
probes:
  defaults: {{interval: 1s, timeout: 900ms}}
  targets:
    - {{name: api, url: "http://{http}/ok"}}
    - {{name: web, url: "http://{http}/down"}}
"#
    );
    let vitals = Vitals::start(&config);
    for (probe, path, want) in [("api", "/ok", 1.0), ("web", "/down", 0.0)] {
        vitals
            .wait_for(
                &series("probe_success", &format!("http://{http}{path}"), probe),
                |v| v == want,
            )
            .await;
    }
    let page = vitals.get_text("/").await;
    assert!(page.contains("2 probes, 1 down."), "{page}");
    let row = |probe: &str| {
        page.split("<tr>")
            .find(|r| r.starts_with(&format!("<td>{probe}</td>")))
            .unwrap_or_default()
            .to_string()
    };
    let (api, web) = (row("api"), row("web"));
    assert!(api.contains("<td class=up>UP</td>"), "{page}");
    assert!(api.contains(&format!("http://{http}/ok")), "{api}");
    assert!(api.contains("<td>200</td>"), "{api}");
    assert!(web.contains("<td class=down>DOWN</td>"), "{page}");
    assert!(
        web.contains("<td>503</td>") || web.contains("<td>500</td>"),
        "{web}"
    );
}

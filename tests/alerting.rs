//! Black-box tests of alerting through the real binary: alerts from rules and from
//! `POST /api/v2/alerts` are routed, grouped, silenced and inhibited, and delivered to real
//! HTTP receivers with retries; nothing is lost or sent twice across `kill -9`.

mod common;

use std::time::Duration;

use common::receiver::{Answer, Receiver};
use common::{Vitals, find_sample};
use serde_json::{Value, json};

fn alerting_config(hook: &Receiver, route_extra: &str, extra: &str) -> String {
    format!(
        r#"server: {{listen: "127.0.0.1:0"}}
alerting:
  route: {{receiver: hook, group_by: [alertname, service], group_wait: 0s, group_interval: 1s, repeat_interval: 1h{route_extra}}}
  receivers:
    - name: hook
      webhook_configs: [{{url: "{}"}}]
  delivery: {{min_backoff: 100ms, max_backoff: 200ms}}
{extra}"#,
        hook.url("/hook")
    )
}

async fn post(v: &Vitals, path: &str, body: &Value, token: Option<&str>) -> (u16, String) {
    let mut req = reqwest::Client::new()
        .post(v.url(path))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("POST");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

fn alert(name: &str, service: &str, severity: &str) -> Value {
    json!({"labels": {"alertname": name, "service": service, "severity": severity},
           "annotations": {"summary": format!("{name} on {service}")},
           "generatorURL": "http://prometheus/graph"})
}

fn alertnames(n: &Value) -> Vec<String> {
    let mut v: Vec<String> = n["alerts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x["labels"]["alertname"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posted_alerts_are_grouped_and_delivered_once_in_alertmanagers_webhook_json() {
    let hook = Receiver::start(Answer::Ok).await;
    let v = Vitals::start(&alerting_config(&hook, "", ""));
    let (status, body) = post(
        &v,
        "/api/v2/alerts",
        &json!([
            alert("HighErrorRate", "checkout", "critical"),
            alert("HighErrorRate", "cart", "critical")
        ]),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let got = hook.wait_for(2).await;
    let mut services: Vec<String> = got
        .iter()
        .map(|r| {
            r.json()["groupLabels"]["service"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    services.sort();
    assert_eq!(services, ["cart", "checkout"]);
    let n = got[0].json();
    assert_eq!(got[0].path, "/hook");
    assert_eq!(n["version"], "4");
    assert_eq!(n["status"], "firing");
    assert_eq!(n["receiver"], "hook");
    assert_eq!(n["alerts"][0]["status"], "firing");
    assert_eq!(n["alerts"][0]["generatorURL"], "http://prometheus/graph");
    assert!(
        n["groupKey"]
            .as_str()
            .unwrap_or("")
            .starts_with("{}:{alertname=\"HighErrorRate\"")
    );
    assert!(n["notificationId"].as_str().is_some_and(|s| !s.is_empty()));

    // Posting the same alerts again (as Prometheus does every minute) pages nobody again.
    post(
        &v,
        "/api/v2/alerts",
        &json!([alert("HighErrorRate", "checkout", "critical")]),
        None,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(hook.received().len(), 2);

    // The alerts are listed in Alertmanager's shape.
    let listed = v.get_json("/api/v2/alerts").await;
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
    assert_eq!(listed[0]["status"]["state"], "active");
    assert_eq!(listed[0]["receivers"][0]["name"], "hook");
    let groups = v.get_json("/api/v2/alerts/groups").await;
    assert_eq!(groups.as_array().map(Vec::len), Some(2), "{groups}");
    let filtered = v
        .get_json("/api/v2/alerts?filter=service%3D%22cart%22")
        .await;
    assert_eq!(filtered.as_array().map(Vec::len), Some(1), "{filtered}");

    // Resolving one sends a resolved notification for its group.
    let mut resolved = alert("HighErrorRate", "cart", "critical");
    resolved["endsAt"] = json!("2020-01-01T00:00:00Z");
    resolved["startsAt"] = json!("2019-12-31T00:00:00Z");
    post(&v, "/api/v2/alerts", &json!([resolved]), None).await;
    let got = hook.wait_for(3).await;
    let last = got[2].json();
    assert_eq!(last["status"], "resolved", "{last}");
    assert_eq!(last["groupLabels"]["service"], "cart");
    let m = v.metrics().await;
    assert_eq!(
        find_sample(
            &m,
            "vitals_notifications_total",
            &[("receiver", "hook"), ("integration", "webhook")]
        ),
        Some(3.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_is_retried_with_the_same_notification_id_until_it_recovers() {
    let hook = Receiver::start(Answer::Fail {
        status: 503,
        times: 2,
    })
    .await;
    let v = Vitals::start(&alerting_config(&hook, "", ""));
    post(
        &v,
        "/api/v2/alerts",
        &json!([alert("Down", "api", "critical")]),
        None,
    )
    .await;
    let got = hook.wait_for(3).await;
    let ids: Vec<Value> = got
        .iter()
        .map(|r| r.json()["notificationId"].clone())
        .collect();
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[1], ids[2]);
    v.wait_for_sample(
        "vitals_notifications_total",
        &[("receiver", "hook"), ("integration", "webhook")],
        |x| x == 1.0,
    )
    .await;
    let m = v.metrics().await;
    assert_eq!(
        find_sample(
            &m,
            "vitals_notifications_failed_total",
            &[
                ("receiver", "hook"),
                ("integration", "webhook"),
                ("reason", "retryable")
            ]
        ),
        Some(2.0)
    );
    assert_eq!(
        find_sample(&m, "vitals_alerting_outbox_notifications", &[]),
        Some(0.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_receiver_is_not_retried_and_the_refusal_is_logged() {
    let hook = Receiver::start(Answer::Fail {
        status: 400,
        times: 100,
    })
    .await;
    let v = Vitals::start(&alerting_config(&hook, "", ""));
    post(
        &v,
        "/api/v2/alerts",
        &json!([alert("Down", "api", "critical")]),
        None,
    )
    .await;
    hook.wait_for(1).await;
    v.wait_for_sample(
        "vitals_notifications_failed_total",
        &[("receiver", "hook"), ("reason", "final")],
        |x| x == 1.0,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(hook.received().len(), 1);
    let refused = v.log_events("Notification refused; not retrying.");
    assert!(
        refused.iter().any(|e| e["error"]
            .as_str()
            .unwrap_or("")
            .contains("test receiver failure")),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silences_and_inhibition_mute_and_show_in_the_api_and_silences_survive_kill_9() {
    let hook = Receiver::start(Answer::Ok).await;
    let extra = "  inhibit_rules: [{source_matchers: ['severity=\"critical\"'], target_matchers: ['severity=\"warning\"'], equal: [service]}]\n";
    let config = alerting_config(&hook, "", extra);
    let v = Vitals::start(&config);
    let now = chrono_like_now();
    let (status, body) = post(
        &v,
        "/api/v2/silences",
        &json!({"matchers": [{"name": "alertname", "value": "Noisy", "isRegex": false, "isEqual": true}],
                "startsAt": now, "endsAt": "2099-01-01T00:00:00Z", "createdBy": "test", "comment": "maintenance"}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id = serde_json::from_str::<Value>(&body).expect("json")["silenceID"]
        .as_str()
        .expect("silenceID")
        .to_string();
    post(
        &v,
        "/api/v2/alerts",
        &json!([
            alert("Noisy", "api", "info"),
            alert("Outage", "db", "critical"),
            alert("Slow", "db", "warning")
        ]),
        None,
    )
    .await;
    let got = hook.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got_after = hook.received();
    assert_eq!(got_after.len(), 1, "{got_after:#?}");
    assert_eq!(alertnames(&got[0].json()), ["Outage"]);

    let listed = v.get_json("/api/v2/alerts").await;
    let by_name = |name: &str| -> Value {
        listed
            .as_array()
            .and_then(|a| a.iter().find(|x| x["labels"]["alertname"] == name).cloned())
            .unwrap_or(Value::Null)
    };
    assert_eq!(by_name("Noisy")["status"]["state"], "suppressed");
    assert_eq!(by_name("Noisy")["status"]["silencedBy"][0], id.as_str());
    assert_eq!(by_name("Slow")["status"]["state"], "suppressed");
    assert_eq!(
        by_name("Slow")["status"]["inhibitedBy"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let active_only = v
        .get_json("/api/v2/alerts?silenced=false&inhibited=false")
        .await;
    assert_eq!(
        active_only.as_array().map(Vec::len),
        Some(1),
        "{active_only}"
    );

    // The silence survives kill -9.
    let dir = v.kill();
    let v = Vitals::start_in(dir, &config, &[]);
    let s = v.get_json(&format!("/api/v2/silence/{id}")).await;
    assert_eq!(s["status"]["state"], "active", "{s}");
    assert_eq!(s["comment"], "maintenance");
    assert_eq!(s["matchers"][0]["name"], "alertname");
    let all = v
        .get_json("/api/v2/silences?filter=alertname%3DNoisy")
        .await;
    assert_eq!(all.as_array().map(Vec::len), Some(1), "{all}");

    // Expiring it lets the alert through.
    let r = reqwest::Client::new()
        .delete(v.url(&format!("/api/v2/silence/{id}")))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 200);
    let before = hook.received().len();
    post(
        &v,
        "/api/v2/alerts",
        &json!([alert("Noisy", "api", "info")]),
        None,
    )
    .await;
    let got = hook.wait_for(before + 1).await;
    assert_eq!(alertnames(&got[before].json()), ["Noisy"]);
    let s = v.get_json(&format!("/api/v2/silence/{id}")).await;
    assert_eq!(s["status"]["state"], "expired");
    // Expiring it again fails as in Alertmanager (500, "already expired").
    let r = reqwest::Client::new()
        .delete(v.url(&format!("/api/v2/silence/{id}")))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 500);
    assert!(
        r.text()
            .await
            .unwrap_or_default()
            .contains("already expired")
    );
}

/// Now as RFC 3339.
fn chrono_like_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    jiff::Timestamp::from_second(secs)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_delivery_resends_the_same_notification_after_restart_and_pages_no_one_twice()
{
    // A probe target that is down and a rule that fires at once.
    let hook = Receiver::start(Answer::Hang).await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: ProbeDown\n        expr: probe_success == 0\n",
    )
    .expect("rules");
    let config = alerting_config(
        &hook,
        "",
        "probes:\n  defaults: {interval: 1s, timeout: 500ms}\n  targets: [{name: closed, tcp: \"127.0.0.1:1\"}]\nrules: {files: [rules.yml]}\n",
    );
    let v = Vitals::start_in(dir, &config, &[]);
    let first = hook.wait_for(1).await;
    let id = first[0].json()["notificationId"].clone();
    assert_eq!(alertnames(&first[0].json()), ["ProbeDown"]);
    // Killed while the receiver has not answered.
    let dir = v.kill();
    hook.set_answer(Answer::Ok);
    let v = Vitals::start_in(dir, &config, &[]);
    let got = hook.wait_for(2).await;
    assert_eq!(
        got[1].json()["notificationId"],
        id,
        "the resend carries the same id"
    );
    // The rule engine sends the restored firing alert again: the notification log says the
    // receiver knows it, so nobody is paged again within repeat_interval.
    v.wait_for_sample(
        "vitals_alerts_received_total",
        &[("source", "rules")],
        |x| x >= 1.0,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(hook.received().len(), 2, "{:#?}", hook.received());

    // Delivered and killed again: still no second page after a restart.
    let dir = v.kill();
    let v = Vitals::start_in(dir, &config, &[]);
    v.wait_for_sample(
        "vitals_alerts_received_total",
        &[("source", "rules")],
        |x| x >= 1.0,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(hook.received().len(), 2, "{:#?}", hook.received());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_v2_api_refuses_bad_input_and_mutations_without_the_token() {
    let hook = Receiver::start(Answer::Ok).await;
    let config = alerting_config(&hook, "", "").replace(
        "server: {listen: \"127.0.0.1:0\"}",
        "server: {listen: \"127.0.0.1:0\", api_token: s3cret}",
    );
    let v = Vitals::start(&config);
    let (status, _) = post(&v, "/api/v2/alerts", &json!([alert("A", "b", "c")]), None).await;
    assert_eq!(status, 401);
    let (status, body) = post(
        &v,
        "/api/v2/alerts",
        &json!([{"labels": {}}, {"labels": {"0bad": "x"}}, alert("Good", "b", "c"),
                {"labels": {"a": "b"}, "startsAt": "2020-01-02T00:00:00Z", "endsAt": "2020-01-01T00:00:00Z"},
                {"labels": {"a": "b"}, "startsAt": "yesterday"}]),
        Some("s3cret"),
    )
    .await;
    assert_eq!(status, 400);
    let body: String = serde_json::from_str(&body).expect("a JSON string");
    for needle in [
        "alert [0]: at least one label pair required",
        "alert [1]: invalid label name \"0bad\"",
        "alert [3]: start time must be before end time",
        "alert [4]: startsAt:",
    ] {
        assert!(body.contains(needle), "{needle} in {body}");
    }
    // The valid one was taken.
    hook.wait_for(1).await;
    let (status, body) = post(
        &v,
        "/api/v2/alerts",
        &json!({"not": "a list"}),
        Some("s3cret"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = post(
        &v,
        "/api/v2/silences",
        &json!({"matchers": [{"name": "a", "value": ".*", "isRegex": true}], "startsAt": chrono_like_now(), "endsAt": "2099-01-01T00:00:00Z"}),
        Some("s3cret"),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("must not match the empty string"), "{body}");
    let r = reqwest::Client::new()
        .delete(v.url("/api/v2/silence/nope"))
        .bearer_auth("s3cret")
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 404);
    assert_eq!(
        v.get_json("/api/v2/receivers").await,
        json!([{"name": "hook"}])
    );
    assert_eq!(
        v.get_json("/api/v2/status").await["cluster"]["status"],
        "disabled"
    );
    assert_eq!(v.get_json("/health").await["status"], "UP");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_forwards_its_alerts_to_a_central_vitals_which_notifies_once() {
    let hook = Receiver::start(Answer::Ok).await;
    let central = Vitals::start(&alerting_config(&hook, "", ""));
    let agent_config = |node: &str| {
        format!(
            "server: {{listen: \"127.0.0.1:0\"}}\nalerting: {{forward: [{{url: \"{}\"}}]}}\n",
            central.url("")
        ) + &format!("# {node}\n")
    };
    let a = Vitals::start(&agent_config("a"));
    let b = Vitals::start(&agent_config("b"));
    // Two agents see the same condition.
    for agent in [&a, &b] {
        let (status, body) = post(
            agent,
            "/api/v2/alerts",
            &json!([alert("NodeDown", "api", "critical")]),
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let got = hook.wait_for(1).await;
    assert_eq!(alertnames(&got[0].json()), ["NodeDown"]);
    a.wait_for_sample(
        "vitals_alerting_forwarded_alerts_total",
        &[("outcome", "sent")],
        |x| x == 1.0,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(hook.received().len(), 1, "one notification for both agents");
}

#[test]
fn alerting_config_errors_name_the_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v.yaml");
    std::fs::write(
        &path,
        r#"alerting:
  route:
    receiver: ops
    routes:
      - matchers: ['severity=~"crit']
        receiver: nobody
  receivers:
    - name: ops
      webhook_configs: [{url: "http://x", bogus: 1}]
"#,
    )
    .expect("write");
    let out = common::run_cli(&["check", "config", path.to_str().expect("path")], None);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("alerting.receivers[0].webhook_configs[0].bogus")
            || out.stderr.contains("bogus"),
        "{}",
        out.stderr
    );
    std::fs::write(
        &path,
        r#"alerting:
  route:
    receiver: ops
    routes:
      - matchers: ['severity=~"(crit"']
        receiver: nobody
  receivers:
    - name: ops
      webhook_configs: [{url: "not a url"}]
"#,
    )
    .expect("write");
    let out = common::run_cli(&["check", "config", path.to_str().expect("path")], None);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let text = &out.stderr;
    assert!(text.contains("alerting.route.routes[0].receiver"), "{text}");
    assert!(text.contains("nobody"), "{text}");
    assert!(
        text.contains("alerting.route.routes[0].matchers[0]"),
        "{text}"
    );
    assert!(
        text.contains("alerting.receivers[0].webhook_configs[0].url"),
        "{text}"
    );
    assert!(text.contains("v.yaml:"), "{text}");
}

/// Decodes an `application/x-www-form-urlencoded` body.
fn form(body: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 3 <= b.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                    Ok(x) => {
                        out.push(x);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                },
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_receiver_pages_by_email_teams_sms_slack_and_pagerduty() {
    let smtp = common::smtp::SmtpPeer::start(false, None).await;
    let hook = Receiver::start(Answer::Ok).await;
    let config = format!(
        r##"server: {{listen: "127.0.0.1:0"}}
alerting:
  route: {{receiver: oncall, group_by: [alertname, service], group_wait: 0s}}
  receivers:
    - name: oncall
      email_configs: [{{to: oncall@example.com, from: vitals@example.com, smarthost: "{smtp}", require_tls: false}}]
      msteamsv2_configs: [{{webhook_url: "{teams}"}}]
      twilio_configs: [{{account_sid: AC123, auth_token: "${{TWILIO_TOKEN}}", from: "+15550001111", to: ["+15550002222", "+15550003333"], api_url: "{twilio}"}}]
      slack_configs: [{{api_url: "{slack}", channel: "#ops"}}]
      pagerduty_configs: [{{routing_key: "${{PD_KEY}}", url: "{pd}"}}]
"##,
        smtp = smtp.addr,
        teams = hook.url("/teams"),
        twilio = hook.url(""),
        slack = hook.url("/slack"),
        pd = hook.url("/pd"),
    );
    let v = Vitals::start_with_env(
        &config,
        &[("TWILIO_TOKEN", "tw-secret"), ("PD_KEY", "pd-routing-key")],
    );
    let mut a = alert("HighErrorRate", "checkout", "critical");
    a["annotations"]["runbook_url"] = json!("https://runbooks.example/high-error-rate");
    post(&v, "/api/v2/alerts", &json!([a]), None).await;
    let got = hook.wait_for(5).await;
    let by_path = |p: &str| -> Vec<common::receiver::Received> {
        got.iter().filter(|r| r.path == p).cloned().collect()
    };

    let teams = by_path("/teams");
    assert_eq!(teams.len(), 1);
    let card = teams[0].json();
    assert_eq!(card["type"], "message", "{card}");
    assert_eq!(
        card["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let text = card.to_string();
    assert!(
        text.contains("HighErrorRate") && text.contains("checkout"),
        "{text}"
    );
    assert!(
        text.contains("https://runbooks.example/high-error-rate"),
        "runbook button: {text}"
    );

    let sms = by_path("/2010-04-01/Accounts/AC123/Messages.json");
    assert_eq!(sms.len(), 2, "one message per number");
    let mut to: Vec<String> = Vec::new();
    for s in &sms {
        let f = form(&s.body);
        let get = |k: &str| {
            f.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        to.push(get("To"));
        assert_eq!(get("From"), "+15550001111");
        let body = get("Body");
        assert!(
            body.contains("HighErrorRate") && body.contains("checkout"),
            "{body}"
        );
        assert!(body.chars().count() <= 320, "fits two SMS segments: {body}");
        let auth = s
            .headers
            .get("authorization")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        assert!(auth.starts_with("Basic "), "{auth}");
    }
    to.sort();
    assert_eq!(to, ["+15550002222", "+15550003333"]);

    let slack = by_path("/slack");
    assert_eq!(slack.len(), 1);
    assert_eq!(slack[0].json()["channel"], "#ops");

    let pd = by_path("/pd");
    assert_eq!(pd.len(), 1);
    let e = pd[0].json();
    assert_eq!(e["routing_key"], "pd-routing-key");
    assert_eq!(e["event_action"], "trigger");
    assert!(
        e["dedup_key"].as_str().is_some_and(|k| !k.is_empty()),
        "{e}"
    );

    // Email: one mail for the group, Alertmanager's subject.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while smtp.mails().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].rcpts, ["oncall@example.com"]);
    assert!(
        mails[0]
            .data
            .contains("Subject: [FIRING:1] HighErrorRate checkout (critical)"),
        "{}",
        mails[0].data
    );
    // No secret in the logs.
    let logs = v.logs().join("\n");
    assert!(!logs.contains("tw-secret") && !logs.contains("pd-routing-key"));
    let m = v.metrics().await;
    for integration in ["email", "msteamsv2", "twilio", "slack", "pagerduty"] {
        assert_eq!(
            find_sample(
                &m,
                "vitals_notifications_total",
                &[("receiver", "oncall"), ("integration", integration)]
            ),
            Some(1.0),
            "{integration}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_swaps_receivers_without_cancelling_a_delivery_in_flight() {
    let old = Receiver::start(Answer::Slow(Duration::from_millis(1500))).await;
    let new = Receiver::start(Answer::Ok).await;
    let v = Vitals::start(&alerting_config(&old, "", ""));
    post(
        &v,
        "/api/v2/alerts",
        &json!([alert("First", "api", "critical")]),
        None,
    )
    .await;
    old.wait_for(1).await;
    // The old receiver is still answering when the configuration changes.
    std::fs::write(v.config_path(), alerting_config(&new, "", "")).expect("rewrite");
    let r = reqwest::Client::new()
        .post(v.url("/-/reload"))
        .send()
        .await
        .expect("reload");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    v.wait_for_sample(
        "vitals_notifications_total",
        &[("receiver", "hook"), ("integration", "webhook")],
        |x| x == 1.0,
    )
    .await;
    assert_eq!(old.received().len(), 1);
    let m = v.metrics().await;
    assert_eq!(
        find_sample(
            &m,
            "vitals_notifications_failed_total",
            &[("receiver", "hook")]
        ),
        None
    );
    // Later notifications go to the new receiver.
    post(
        &v,
        "/api/v2/alerts",
        &json!([alert("Second", "api", "critical")]),
        None,
    )
    .await;
    let got = new.wait_for(1).await;
    assert_eq!(alertnames(&got[0].json()), ["Second"]);
    assert_eq!(old.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teams_alertmanager_yml_loads_as_it_is_with_its_template_files() {
    let hook = Receiver::start(Answer::Ok).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let am = dir.path().join("am");
    std::fs::create_dir(&am).expect("mkdir");
    std::fs::write(
        am.join("alertmanager.yml"),
        format!(
            r#"global: {{resolve_timeout: 5m}}
templates: ['templates/*.tmpl']
route: {{receiver: team, group_by: ['...'], group_wait: 0s}}
receivers:
  - name: team
    msteamsv2_configs: [{{webhook_url: "{}", title: '{{{{ template "team.title" . }}}}'}}]
"#,
            hook.url("/teams")
        ),
    )
    .expect("write");
    std::fs::create_dir(am.join("templates")).expect("mkdir");
    std::fs::write(
        am.join("templates/team.tmpl"),
        r#"{{ define "team.title" }}Team alert: {{ .CommonLabels.alertname }} ({{ .Alerts.Firing | len }}){{ end }}"#,
    )
    .expect("write");
    let config =
        "server: {listen: \"127.0.0.1:0\"}\nalerting: {config_file: am/alertmanager.yml}\n";
    let v = Vitals::start_in(dir, config, &[]);
    post(
        &v,
        "/api/v2/alerts",
        &json!([alert("DiskFull", "db", "warning")]),
        None,
    )
    .await;
    let got = hook.wait_for(1).await;
    let card = got[0].json().to_string();
    assert!(card.contains("Team alert: DiskFull (1)"), "{card}");
}

#[test]
fn errors_in_a_config_file_point_into_that_file_and_the_rest_into_the_main_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("am.yml"),
        "route:\n  receiver: team\n  routes:\n    - receiver: ghost\nreceivers:\n  - name: team\n    email_configs: [{to: a@b.c}]\n",
    )
    .expect("write");
    let main = dir.path().join("v.yaml");
    std::fs::write(
        &main,
        format!(
            "alerting: {{config_file: {}, forward: [{{url: 'ftp://x'}}]}}\n",
            dir.path().join("am.yml").display()
        ),
    )
    .expect("write");
    let out = common::run_cli(&["check", "config", main.to_str().expect("path")], None);
    assert_eq!(out.status.code(), Some(1));
    let text = &out.stderr;
    assert!(text.contains("am.yml:4:"), "{text}");
    assert!(
        text.contains("route.routes[0].receiver: undefined receiver \"ghost\""),
        "{text}"
    );
    assert!(
        text.contains("receivers[0].email_configs[0].smarthost: missing"),
        "{text}"
    );
    assert!(
        text.contains("v.yaml:1:") && text.contains("alerting.forward[0].url"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_keeps_a_notification_waiting_for_retry_and_the_next_start_sends_it() {
    let hook = Receiver::start(Answer::Fail {
        status: 503,
        times: 1_000,
    })
    .await;
    let config = alerting_config(&hook, "", "").replace(
        "max_backoff: 200ms",
        "max_backoff: 200ms, give_up_after: 10m",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let v = Vitals::start_in(dir, &config, &[]);
    post(
        &v,
        "/api/v2/alerts",
        &json!([alert("Down", "api", "critical")]),
        None,
    )
    .await;
    let first = hook.wait_for(2).await;
    let id = first[0].json()["notificationId"].clone();
    let started = std::time::Instant::now();
    let (status, dir) = v.stop();
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stops without waiting for the retries"
    );
    let before = hook.received().len();
    hook.set_answer(Answer::Ok);
    let _v = Vitals::start_in(dir, &config, &[]);
    let got = hook.wait_for(before + 1).await;
    assert_eq!(got[before].json()["notificationId"], id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_notification_replaces_an_older_one_still_retrying_so_resolved_comes_last() {
    let hook = Receiver::start(Answer::Fail {
        status: 503,
        times: 4,
    })
    .await;
    let config = alerting_config(&hook, "", "").replace(
        "min_backoff: 100ms, max_backoff: 200ms",
        "min_backoff: 700ms, max_backoff: 700ms",
    );
    let v = Vitals::start(&config);
    post(
        &v,
        "/api/v2/alerts",
        &json!([alert("Down", "api", "critical")]),
        None,
    )
    .await;
    hook.wait_for(1).await;
    let mut resolved = alert("Down", "api", "critical");
    resolved["startsAt"] = json!("2020-01-01T00:00:00Z");
    resolved["endsAt"] = json!("2020-01-02T00:00:00Z");
    post(&v, "/api/v2/alerts", &json!([resolved]), None).await;
    v.wait_for_sample("vitals_notifications_total", &[("receiver", "hook")], |x| {
        x == 1.0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = hook.received();
    let statuses: Vec<String> = got
        .iter()
        .map(|r| r.json()["status"].as_str().unwrap_or("").to_string())
        .collect();
    let last = statuses.last().cloned().unwrap_or_default();
    assert_eq!(last, "resolved", "{statuses:?}");
    let first_resolved = statuses.iter().position(|s| s == "resolved").unwrap_or(0);
    assert!(
        statuses[first_resolved..].iter().all(|s| s == "resolved"),
        "no firing after the resolved: {statuses:?}"
    );
    let m = v.metrics().await;
    assert_eq!(
        find_sample(
            &m,
            "vitals_notifications_failed_total",
            &[("receiver", "hook"), ("reason", "superseded")]
        ),
        Some(1.0),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_http_config_and_smtp_tls_config_apply_to_integrations_without_their_own() {
    let smtp = common::smtp::SmtpPeer::start(true, None).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("smtp-ca.pem");
    std::fs::write(&ca, smtp.cert_pem.clone().expect("cert")).expect("write");
    let hook = Receiver::start(Answer::Ok).await;
    let config = format!(
        r#"server: {{listen: "127.0.0.1:0"}}
alerting:
  global:
    http_config: {{authorization: {{credentials: "${{GLOBAL_TOKEN}}"}}}}
    smtp_tls_config: {{ca_file: "{ca}", server_name: localhost}}
    smtp_smarthost: "{smtp}"
    smtp_from: vitals@example.com
  route: {{receiver: all, group_wait: 0s}}
  receivers:
    - name: all
      webhook_configs:
        - {{url: "{inherits}"}}
        - {{url: "{own}", http_config: {{basic_auth: {{username: u, password: p}}}}}}
      email_configs: [{{to: ops@example.com}}]
"#,
        ca = ca.display(),
        smtp = smtp.addr,
        inherits = hook.url("/inherits"),
        own = hook.url("/own"),
    );
    let v = Vitals::start_in(dir, &config, &[("GLOBAL_TOKEN", "g10bal")]);
    post(&v, "/api/v2/alerts", &json!([alert("A", "b", "c")]), None).await;
    let got = hook.wait_for(2).await;
    let auth = |path: &str| {
        got.iter()
            .find(|r| r.path == path)
            .and_then(|r| r.headers.get("authorization"))
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(auth("/inherits"), "Bearer g10bal");
    assert!(
        auth("/own").starts_with("Basic "),
        "its own http_config, whole"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while smtp.mails().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "{}", v.logs().join("\n"));
    assert!(
        mails[0].tls,
        "STARTTLS, the certificate trusted through global.smtp_tls_config"
    );
}

#[test]
fn a_bad_global_http_config_is_an_error_at_its_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v.yaml");
    std::fs::write(
        &path,
        "alerting:\n  global:\n    http_config: {proxy_url: 'http://proxy:3128', bogus: 1}\n  route: {receiver: a}\n  receivers: [{name: a}]\n",
    )
    .expect("write");
    let out = common::run_cli(&["check", "config", path.to_str().expect("path")], None);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("v.yaml:3:")
            && out.stderr.contains("alerting.global.http_config")
            && out.stderr.contains("bogus"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_notification_finds_its_integration_after_a_restart_reordered_them() {
    let x = Receiver::start(Answer::Hang).await;
    let y = Receiver::start(Answer::Ok).await;
    let config = |first: &Receiver, second: &Receiver| {
        format!(
            r#"server: {{listen: "127.0.0.1:0"}}
alerting:
  route: {{receiver: two, group_wait: 0s}}
  receivers:
    - name: two
      webhook_configs: [{{url: "{}"}}, {{url: "{}"}}]
"#,
            first.url("/"),
            second.url("/")
        )
    };
    let v = Vitals::start(&config(&x, &y));
    post(&v, "/api/v2/alerts", &json!([alert("A", "b", "c")]), None).await;
    let sent_x = x.wait_for(1).await;
    y.wait_for(1).await;
    v.wait_for_sample("vitals_notifications_total", &[("receiver", "two")], |n| {
        n == 1.0
    })
    .await;
    // Killed while X has not answered; the restart's configuration lists Y first.
    let dir = v.kill();
    x.set_answer(Answer::Ok);
    let _v = Vitals::start_in(dir, &config(&y, &x), &[]);
    let got = x.wait_for(2).await;
    assert_eq!(
        got[1].json()["notificationId"],
        sent_x[0].json()["notificationId"]
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(y.received().len(), 1, "Y is not sent X's notification");
}

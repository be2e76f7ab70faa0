//! The status page at `/`: the active alerts (from the rule engine's snapshot), then every
//! probe with its state, last duration and status code, as Gatus shows it, rendered from the
//! store.
//!
//! It reads the probe series by name ([`PROBE_SERIES`](crate::sources::probe::PROBE_SERIES))
//! and trusts them to be the prober's: OTLP refuses points with those names
//! (`reserved_name`), so no exporter can show a down probe as up. (A recording rule of the
//! operator's own configuration could still write one; that is configuration, not input.)

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;

use super::{ApiState, html};
use crate::rules::status::AlertState;
use crate::store::now_ms;

/// The series the page shows.
const PAGE_SERIES: [&str; 4] = [
    "probe_success",
    "probe_duration_seconds",
    "probe_http_status_code",
    "probe_ssl_earliest_cert_expiry",
];

#[derive(Default)]
struct Row {
    up: Option<bool>,
    duration: Option<f64>,
    status: Option<f64>,
    cert: Option<f64>,
    instance: String,
}

pub(super) async fn page(State(state): State<Arc<ApiState>>) -> Html<String> {
    // Only the probes' series, read from the store without copying their label sets out:
    // the page stays cheap however many OTLP series the store holds.
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    let store = &state.store;
    let now_ms = now_ms();
    for shard in 0..store.shard_count() {
        let Ok(()) = store.scan_latest(
            shard,
            &PAGE_SERIES,
            now_ms,
            None,
            &mut rows,
            |rows, s| {
                let label = |name: &str| s.labels.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
                let Some(probe) = label("probe") else {
                    return;
                };
                let row = rows.entry(probe.to_string()).or_default();
                row.instance = label("instance").unwrap_or_default().to_string();
                let v = s.sample.v;
                match s.name {
                    "probe_success" => row.up = Some(v == 1.0),
                    "probe_duration_seconds" => row.duration = Some(v),
                    "probe_http_status_code" => row.status = Some(v),
                    "probe_ssl_earliest_cert_expiry" => row.cert = Some(v),
                    _ => {}
                }
            },
            |_| Ok::<(), std::convert::Infallible>(()),
        );
    }
    let now = now_ms as f64 / 1000.0;
    let down = rows.values().filter(|r| r.up == Some(false)).count();
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html><head><meta charset=utf-8><meta http-equiv=refresh content=15>\
<title>vitals</title><style>body{{font:14px system-ui,sans-serif;margin:2em}}\
table{{border-collapse:collapse}}td,th{{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}}\
.up{{color:#070}}.down{{color:#b00;font-weight:bold}}</style></head><body>\
<h1>vitals</h1><p>{} probes, {} down. <a href=\"/metrics\">/metrics</a></p>\
<table><tr><th>probe</th><th>state</th><th>instance</th><th>duration</th><th>HTTP status</th><th>certificate</th></tr>",
        rows.len(),
        down
    );
    for (name, r) in &rows {
        let (class, state) = match r.up {
            Some(true) => ("up", "UP"),
            Some(false) => ("down", "DOWN"),
            None => ("", "?"),
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td class={class}>{state}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(name),
            escape(&r.instance),
            r.duration.map(format_ms).unwrap_or_default(),
            r.status
                .filter(|s| *s > 0.0)
                .map(|s| format!("{s}"))
                .unwrap_or_default(),
            r.cert
                .map(|c| format!("expires in {:.0} days", (c - now) / 86400.0))
                .unwrap_or_default(),
        );
    }
    out.push_str("</table>");
    alerts(&state, &mut out);
    if let Some(a) = state.alerting.get() {
        notifications(a, &mut out);
    }
    out.push_str("</body></html>");
    html(out)
}

/// The pending and firing alerts, firing first.
fn alerts(state: &ApiState, out: &mut String) {
    let snapshot = state.rules.get();
    let mut active: Vec<_> = snapshot.alerts().collect();
    active.sort_by_key(|a| (a.state != AlertState::Firing, a.active_at_ms));
    let firing = active
        .iter()
        .filter(|a| a.state == AlertState::Firing)
        .count();
    let _ = write!(
        out,
        "<h2>Alerts</h2><p>{} firing, {} pending, from {} rule groups. \
<a href=\"/api/v1/alerts\">/api/v1/alerts</a></p>",
        firing,
        active.len() - firing,
        snapshot.groups.len()
    );
    if active.is_empty() {
        return;
    }
    out.push_str(
        "<table><tr><th>alert</th><th>state</th><th>since</th><th>labels</th><th>summary</th></tr>",
    );
    let now = now_ms();
    for a in active {
        let class = if a.state == AlertState::Firing {
            "down"
        } else {
            ""
        };
        let labels: Vec<String> = a
            .labels
            .iter()
            .filter(|l| &*l.name != "alertname")
            .map(|l| format!("{}={}", l.name, l.value))
            .collect();
        let _ = write!(
            out,
            "<tr><td>{}</td><td class={class}>{}</td><td>{} ago</td><td>{}</td><td>{}</td></tr>",
            escape(a.labels.get("alertname").unwrap_or_default()),
            a.state.as_str(),
            format_age(now.saturating_sub(a.active_at_ms)),
            escape(&labels.join(", ")),
            escape(a.annotations.get("summary").unwrap_or_default()),
        );
    }
    out.push_str("</table>");
}

/// Silences in force or to come, and the notifications waiting for delivery.
fn notifications(a: &crate::alerting::AlertingHandle, out: &mut String) {
    use crate::alerting::silence::SilenceState;
    let now = now_ms();
    let mut silences: Vec<_> = a
        .silences()
        .into_iter()
        .filter(|s| s.state(now) != SilenceState::Expired)
        .collect();
    silences.sort_by_key(|s| s.ends_at_ms);
    let _ = write!(
        out,
        "<h2>Silences</h2><p>{} active or pending. <a href=\"/api/v2/silences\">/api/v2/silences</a></p>",
        silences.len()
    );
    if !silences.is_empty() {
        out.push_str("<table><tr><th>matchers</th><th>state</th><th>ends in</th><th>by</th><th>comment</th></tr>");
        for s in &silences {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&s.matchers.to_string()),
                match s.state(now) {
                    SilenceState::Active => "active",
                    _ => "pending",
                },
                format_age(s.ends_at_ms.saturating_sub(now)),
                escape(&s.created_by),
                escape(&s.comment),
            );
        }
        out.push_str("</table>");
    }
    let pending = a.outbox();
    let _ = write!(
        out,
        "<h2>Outbox</h2><p>{} notifications waiting for delivery.</p>",
        pending.len()
    );
    if !pending.is_empty() {
        out.push_str("<table><tr><th>receiver</th><th>integration</th><th>group</th><th>waiting</th><th>failed attempts</th></tr>");
        for p in &pending {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&p.receiver),
                escape(&p.integration),
                escape(&p.group_key),
                format_age(now.saturating_sub(p.created_ms)),
                p.failures,
            );
        }
        out.push_str("</table>");
    }
}

/// A duration in ms as `3d 4h`, `5m 2s` or `12s`.
fn format_age(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        s if s >= 86_400 => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

/// Seconds as milliseconds, with a decimal below 10 ms (loopback probes take well under 1 ms).
fn format_ms(seconds: f64) -> String {
    let ms = seconds * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

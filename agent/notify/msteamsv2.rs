//! `msteamsv2_configs`: Microsoft Teams through a Workflows (Power Automate) webhook, as an
//! Adaptive Card: a title coloured by severity, a fact set per alert, and buttons for the
//! runbook, the dashboard and a silence. Large groups are summarised (the first alerts, then
//! "and K more") so the message stays under Teams' 28 KB limit.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{Client, HttpConfig, check_url};
use super::{
    FieldTemplates, GlobalDefaults, Notification, SendError, Status, default_true, secret_of,
    timeout_or, truncate,
};
use crate::config::{FieldError, PromDuration, Secret};
use crate::gotemplate::alertmanager::AlertData;

/// The timeout when `timeout` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Teams refuses messages over 28 KB; the card is kept at or below this many bytes.
pub const MAX_BYTES: usize = 28 * 1000;
/// The longest fact value and title kept.
const MAX_VALUE: usize = 400;

/// One `msteamsv2_configs` entry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MsTeamsV2Config {
    /// Whether resolved notifications are sent (default true).
    #[serde(default = "default_true")]
    pub send_resolved: bool,
    /// HTTP client options.
    #[serde(default)]
    pub http_config: HttpConfig,
    /// The Workflows webhook URL; a secret.
    #[serde(default)]
    pub webhook_url: Secret,
    /// A file holding the webhook URL.
    pub webhook_url_file: Option<PathBuf>,
    /// The card's title (default `{{ template "msteamsv2.default.title" . }}`).
    pub title: Option<String>,
    /// Text shown under the title (default none: the alerts' fact sets say it).
    pub text: Option<String>,
    /// How long one request may take (default 30s).
    pub timeout: Option<PromDuration>,
}

/// A built Teams (Workflows) integration.
#[derive(Debug)]
pub struct MsTeamsV2 {
    pub(crate) send_resolved: bool,
    client: Client,
    url: Secret,
    templates: FieldTemplates,
    has_text: bool,
}

impl MsTeamsV2Config {
    /// Validates and builds.
    pub fn build(&self, globals: &GlobalDefaults) -> Result<MsTeamsV2, Vec<FieldError>> {
        let mut errors = Vec::new();
        let url = secret_of(
            "webhook_url",
            &self.webhook_url,
            self.webhook_url_file.as_ref(),
            &mut errors,
        );
        if self.webhook_url_file.is_none() || !url.is_empty() {
            check_url("webhook_url", url.expose(), &mut errors);
        }
        let title = self
            .title
            .as_deref()
            .unwrap_or(r#"{{ template "msteamsv2.default.title" . }}"#);
        let text = self.text.as_deref().unwrap_or("");
        let templates =
            FieldTemplates::build(globals, &[("title", title), ("text", text)], &mut errors);
        let client = self
            .http_config
            .client(timeout_or(self.timeout, DEFAULT_TIMEOUT), &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(MsTeamsV2 {
            send_resolved: self.send_resolved,
            client,
            url,
            templates,
            has_text: self.text.is_some(),
        })
    }
}

/// The title's colour: resolved → Good, critical → Attention, warning → Warning.
fn color(n: &Notification) -> &'static str {
    if n.status == Status::Resolved {
        return "Good";
    }
    let sev = |s: &str| {
        n.firing()
            .any(|a| a.labels.get("severity").is_some_and(|v| v == s))
    };
    if sev("critical") || sev("page") {
        "Attention"
    } else if sev("warning") {
        "Warning"
    } else {
        "Default"
    }
}

/// One alert's block: its name and status, then the labels that tell it apart from the
/// group and its summary/description.
fn alert_block(n: &Notification, a: &AlertData) -> Value {
    let mut facts = Vec::new();
    for (k, v) in &a.labels {
        if k == "alertname" || n.group_labels.contains_key(k) || n.common_labels.contains_key(k) {
            continue;
        }
        facts.push(json!({"title": k, "value": truncate(v, MAX_VALUE)}));
    }
    for k in ["summary", "description"] {
        if let Some(v) = a.annotations.get(k) {
            facts.push(json!({"title": k, "value": truncate(v, MAX_VALUE)}));
        }
    }
    let name = a.labels.get("alertname").map_or("alert", String::as_str);
    json!({
        "type": "Container",
        "separator": true,
        "items": [
            {"type": "TextBlock", "text": truncate(&format!("{name} ({})", a.status), MAX_VALUE),
             "weight": "Bolder", "wrap": true},
            {"type": "FactSet", "facts": facts},
        ],
    })
}

/// The first value of annotation `key` (common first, then the alerts').
fn annotation<'n>(n: &'n Notification, keys: &[&str]) -> Option<&'n str> {
    keys.iter().find_map(|k| {
        n.common_annotations
            .get(*k)
            .or_else(|| n.alerts.iter().find_map(|a| a.annotations.get(*k)))
            .map(String::as_str)
    })
}

/// The buttons: runbook, dashboard and a silence for the group, when known.
fn actions(n: &Notification) -> Vec<Value> {
    let mut out = Vec::new();
    let open =
        |title: &str, url: &str| json!({"type": "Action.OpenUrl", "title": title, "url": url});
    if let Some(u) = annotation(n, &["runbook_url", "runbook"]) {
        out.push(open("Runbook", u));
    }
    if let Some(u) = annotation(n, &["dashboard_url", "dashboard", "grafana_url"]) {
        out.push(open("Dashboard", u));
    }
    if !n.external_url.is_empty() && n.status == Status::Firing {
        let filter: Vec<String> = n
            .group_labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect();
        let filter = format!("{{{}}}", filter.join(","));
        let q: String = url_encode(&filter);
        out.push(open(
            "Silence",
            &format!("{}/silences/new?filter={q}", n.external_url),
        ));
    }
    out
}

fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl MsTeamsV2 {
    /// The message for `n`, with as many alert blocks as fit in [`MAX_BYTES`].
    pub fn body(&self, n: &Notification) -> Result<Value, SendError> {
        let data = n.template_data();
        let title = truncate(self.templates.render("title", &data)?.trim(), MAX_VALUE * 2);
        let text = if self.has_text {
            Some(truncate(
                self.templates.render("text", &data)?.trim(),
                MAX_BYTES / 4,
            ))
        } else {
            None
        };
        let blocks: Vec<Value> = n.alerts.iter().map(|a| alert_block(n, a)).collect();
        let card = |shown: usize| {
            let mut body = vec![json!({
                "type": "TextBlock", "text": title, "size": "Large", "weight": "Bolder",
                "color": color(n), "wrap": true,
            })];
            if let Some(t) = &text {
                body.push(json!({"type": "TextBlock", "text": t, "wrap": true}));
            }
            body.extend(blocks[..shown].iter().cloned());
            let more = n.alerts.len() - shown + n.truncated;
            if more > 0 {
                body.push(json!({
                    "type": "TextBlock", "wrap": true, "isSubtle": true,
                    "text": format!("and {more} more alert{}", if more == 1 { "" } else { "s" }),
                }));
            }
            json!({
                "type": "message",
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": body,
                        "actions": actions(n),
                        "msteams": {"width": "Full"},
                    },
                }],
            })
        };
        let fits = |v: &Value| serde_json::to_vec(v).map_or(usize::MAX, |b| b.len()) <= MAX_BYTES;
        let all = card(blocks.len());
        if fits(&all) {
            return Ok(all);
        }
        // The most alerts that fit: the size grows with the count, so bisect.
        let (mut lo, mut hi) = (0, blocks.len());
        while lo + 1 < hi {
            let mid = (lo + hi) / 2;
            if fits(&card(mid)) { lo = mid } else { hi = mid }
        }
        let c = card(lo);
        if fits(&c) {
            Ok(c)
        } else {
            Err(SendError::fatal(
                "msteamsv2: the card does not fit in 28 KB even without alerts",
            ))
        }
    }

    /// Posts the card.
    pub async fn send(&self, n: &Notification) -> Result<(), SendError> {
        let body = self.body(n)?;
        let req = self.client.post_json(self.url.expose(), &body);
        self.client.send("msteamsv2", req).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::SendErrorKind;
    use super::super::testing::{Answer, HttpPeer, notification, ok, resolved};
    use super::*;

    fn build(url: &str) -> MsTeamsV2 {
        let c: MsTeamsV2Config =
            serde_yaml_ng::from_str(&format!("{{webhook_url: '{url}/workflows/abc'}}")).unwrap();
        c.build(&GlobalDefaults::default()).unwrap()
    }

    #[tokio::test]
    async fn posts_an_adaptive_card() {
        let peer = HttpPeer::start(vec![Answer(202, vec![], ""), ok()]).await;
        let t = build(&peer.url);
        t.send(&notification(2)).await.unwrap();
        let r = &peer.taken()[0];
        assert_eq!(r.uri.path(), "/workflows/abc");
        let fact = |i: &str| {
            json!({"type": "Container", "separator": true, "items": [
                {"type": "TextBlock", "text": "HighErrorRate (firing)", "weight": "Bolder", "wrap": true},
                {"type": "FactSet", "facts": [
                    {"title": "instance", "value": format!("pod-{i}")},
                    {"title": "summary", "value": "Error rate 12%"},
                ]},
            ]})
        };
        let want = json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {"type": "TextBlock", "text": "[FIRING:2] HighErrorRate checkout (critical)",
                         "size": "Large", "weight": "Bolder", "color": "Attention", "wrap": true},
                        fact("0"), fact("1"),
                    ],
                    "actions": [
                        {"type": "Action.OpenUrl", "title": "Runbook",
                         "url": "https://runbooks.example.com/high-error-rate"},
                        {"type": "Action.OpenUrl", "title": "Silence",
                         "url": "http://vitals:9470/silences/new?filter=%7Balertname%3D%22HighErrorRate%22%2Cservice%3D%22checkout%22%7D"},
                    ],
                    "msteams": {"width": "Full"},
                },
            }],
        });
        assert_eq!(r.json(), want);
        t.send(&resolved(1)).await.unwrap();
        let v = peer.taken()[1].json();
        assert_eq!(v["attachments"][0]["content"]["body"][0]["color"], "Good");
    }

    #[tokio::test]
    async fn five_hundred_alerts_are_summarised_under_28kb() {
        let peer = HttpPeer::start(vec![ok()]).await;
        let t = build(&peer.url);
        let mut n = notification(500);
        for a in &mut n.alerts {
            a.annotations.insert("description".into(), "d".repeat(300));
        }
        t.send(&n).await.unwrap();
        let r = &peer.taken()[0];
        assert!(r.body.len() <= MAX_BYTES, "{} bytes", r.body.len());
        let body = r.json()["attachments"][0]["content"]["body"].clone();
        let body = body.as_array().unwrap();
        let shown = body.len() - 2;
        assert!(shown > 10 && shown < 500, "{shown}");
        assert_eq!(
            body.last().unwrap()["text"],
            format!("and {} more alerts", 500 - shown)
        );
        // One more alert would not have fitted.
        assert!(r.body.len() > MAX_BYTES - 1500);
    }

    #[tokio::test]
    async fn a_bad_request_is_final() {
        let peer = HttpPeer::start(vec![Answer(400, vec![], "card invalid")]).await;
        let e = build(&peer.url).send(&notification(1)).await.unwrap_err();
        assert_eq!(e.kind, SendErrorKind::Final);
        assert!(
            e.message.contains("card invalid") && !e.message.contains("abc"),
            "{e}"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]
        #[test]
        fn cards_never_exceed_the_limit(
            count in 0usize..200,
            value in "[a-zé\"<>]{0,900}",
            title in "[a-z]{0,3000}",
        ) {
            let c: MsTeamsV2Config = serde_yaml_ng::from_str(
                &format!("{{webhook_url: 'http://127.0.0.1:1', title: '{title}'}}")
            ).unwrap();
            let t = c.build(&GlobalDefaults::default()).unwrap();
            let mut n = notification(count.max(1));
            n.alerts.truncate(count);
            for a in &mut n.alerts {
                a.labels.insert("pod".into(), value.clone());
                a.annotations.insert("description".into(), value.clone());
            }
            let body = serde_json::to_vec(&t.body(&n).unwrap()).unwrap();
            proptest::prop_assert!(body.len() <= MAX_BYTES, "{}", body.len());
        }
    }
}

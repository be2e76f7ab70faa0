//! `pagerduty_configs`: PagerDuty Events API v2. A firing group triggers an incident, the
//! resolved group resolves it; both carry the same `dedup_key` ([`dedup_key`]: a hash of the
//! receiver and the group key, stable across the group's states, where the notification's
//! `id` changes with the state), so PagerDuty pairs them.

use std::collections::BTreeMap;
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

/// PagerDuty's Events API v2 endpoint.
pub const DEFAULT_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// The timeout when `timeout` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// PagerDuty refuses summaries over 1024 characters.
const MAX_SUMMARY: usize = 1024;

/// One `pagerduty_configs` entry (Events API v2 only: `routing_key`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyConfig {
    /// Whether resolved notifications are sent (default true).
    #[serde(default = "default_true")]
    pub send_resolved: bool,
    /// HTTP client options.
    #[serde(default)]
    pub http_config: HttpConfig,
    /// The integration's routing key (Events API v2).
    #[serde(default)]
    pub routing_key: Secret,
    /// A file holding the routing key.
    pub routing_key_file: Option<PathBuf>,
    /// The Events API URL (default: `global.pagerduty_url`, else PagerDuty's).
    pub url: Option<String>,
    /// The incident summary (default `{{ template "pagerduty.default.description" . }}`).
    pub description: Option<String>,
    /// The event's source (default: the `client` template's value).
    pub source: Option<String>,
    /// The client name shown in PagerDuty.
    pub client: Option<String>,
    /// The link back shown in PagerDuty.
    pub client_url: Option<String>,
    /// `critical`, `error`, `warning` or `info` (default `error`); a template.
    pub severity: Option<String>,
    /// The event's class.
    pub class: Option<String>,
    /// The event's component.
    pub component: Option<String>,
    /// The event's group.
    pub group: Option<String>,
    /// Extra `custom_details`, each value a template (default: firing/resolved/num_* as
    /// Alertmanager).
    #[serde(default)]
    pub details: BTreeMap<String, String>,
    /// How long one request may take (default 30s).
    pub timeout: Option<PromDuration>,
}

/// A built PagerDuty integration.
#[derive(Debug)]
pub struct PagerDuty {
    pub(crate) send_resolved: bool,
    client: Client,
    url: String,
    routing_key: Secret,
    templates: FieldTemplates,
    details: Vec<String>,
    optional: Vec<&'static str>,
}

impl PagerDutyConfig {
    /// Validates and builds.
    pub fn build(&self, globals: &GlobalDefaults) -> Result<PagerDuty, Vec<FieldError>> {
        let mut errors = Vec::new();
        let routing_key = secret_of(
            "routing_key",
            &self.routing_key,
            self.routing_key_file.as_ref(),
            &mut errors,
        );
        if routing_key.is_empty() && self.routing_key_file.is_none() {
            errors.push(FieldError::new("routing_key", "missing"));
        }
        let url = self
            .url
            .clone()
            .or_else(|| globals.pagerduty_url.clone())
            .unwrap_or_else(|| DEFAULT_URL.to_string());
        check_url("url", &url, &mut errors);
        let d = |v: &Option<String>, def: &'static str| v.clone().unwrap_or_else(|| def.into());
        let mut fields = vec![
            (
                "description".to_string(),
                d(
                    &self.description,
                    r#"{{ template "pagerduty.default.description" . }}"#,
                ),
            ),
            (
                "client".to_string(),
                d(
                    &self.client,
                    r#"{{ template "pagerduty.default.client" . }}"#,
                ),
            ),
            (
                "client_url".to_string(),
                d(
                    &self.client_url,
                    r#"{{ template "pagerduty.default.clientURL" . }}"#,
                ),
            ),
            ("severity".to_string(), d(&self.severity, "error")),
        ];
        let mut optional = Vec::new();
        for (name, v) in [
            ("source", &self.source),
            ("class", &self.class),
            ("component", &self.component),
            ("group", &self.group),
        ] {
            if let Some(v) = v {
                fields.push((name.to_string(), v.clone()));
                optional.push(name);
            }
        }
        let mut details = BTreeMap::from([
            (
                "firing".to_string(),
                r#"{{ template "pagerduty.default.instances" .Alerts.Firing }}"#.to_string(),
            ),
            (
                "resolved".to_string(),
                r#"{{ template "pagerduty.default.instances" .Alerts.Resolved }}"#.to_string(),
            ),
            (
                "num_firing".to_string(),
                "{{ .Alerts.Firing | len }}".to_string(),
            ),
            (
                "num_resolved".to_string(),
                "{{ .Alerts.Resolved | len }}".to_string(),
            ),
        ]);
        details.extend(self.details.clone());
        for (k, v) in &details {
            fields.push((format!("details.{k}"), v.clone()));
        }
        let refs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let templates = FieldTemplates::build(globals, &refs, &mut errors);
        let client = self
            .http_config
            .client(timeout_or(self.timeout, DEFAULT_TIMEOUT), &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(PagerDuty {
            send_resolved: self.send_resolved,
            client,
            url,
            routing_key,
            templates,
            details: details.into_keys().collect(),
            optional,
        })
    }
}

/// The group-stable deduplication key: 16 hex digits of xxHash64 over the receiver and the
/// group key (Alertmanager hashes the group key with SHA-256 to the same end).
pub fn dedup_key(n: &Notification) -> String {
    let mut h = xxhash_rust::xxh64::Xxh64::new(0);
    h.update(n.receiver.as_bytes());
    h.update(&[0]);
    h.update(n.group_key.as_bytes());
    format!("{:016x}", h.digest())
}

impl PagerDuty {
    /// The Events API v2 body for `n`.
    pub fn body(&self, n: &Notification) -> Result<Value, SendError> {
        let data = n.template_data();
        let r = |f: &str| self.templates.render(f, &data);
        let client = r("client")?;
        let severity = match r("severity")?.trim() {
            s @ ("critical" | "error" | "warning" | "info") => s.to_string(),
            _ => "error".to_string(),
        };
        let mut custom = serde_json::Map::new();
        for k in &self.details {
            custom.insert(k.clone(), Value::String(r(&format!("details.{k}"))?));
        }
        let mut payload = json!({
            "summary": truncate(&r("description")?, MAX_SUMMARY),
            "source": client,
            "severity": severity,
            "custom_details": custom,
        });
        for name in &self.optional {
            payload[*name] = Value::String(r(name)?);
        }
        let action = match n.status {
            Status::Firing => "trigger",
            Status::Resolved => "resolve",
        };
        let mut body = json!({
            "routing_key": self.routing_key.expose(),
            "event_action": action,
            "dedup_key": dedup_key(n),
        });
        if n.status == Status::Firing {
            body["payload"] = payload;
            body["client"] = Value::String(client);
            body["client_url"] = Value::String(r("client_url")?);
        }
        Ok(body)
    }

    /// Sends one event.
    pub async fn send(&self, n: &Notification) -> Result<(), SendError> {
        let body = self.body(n)?;
        let req = self.client.post_json(&self.url, &body);
        self.client.send("pagerduty", req).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::SendErrorKind;
    use super::super::testing::{Answer, HttpPeer, notification, ok, resolved};
    use super::*;

    fn build(yaml: &str) -> PagerDuty {
        let c: PagerDutyConfig = serde_yaml_ng::from_str(yaml).unwrap();
        c.build(&GlobalDefaults::default()).unwrap()
    }

    #[tokio::test]
    async fn triggers_then_resolves_with_one_dedup_key() {
        let peer = HttpPeer::start(vec![Answer(202, vec![], "{}")]).await;
        let p = build(&format!(
            "{{routing_key: rk, url: '{}/v2/enqueue', severity: '{{{{ .CommonLabels.severity }}}}', \
             details: {{num_firing: '{{{{ .Alerts.Firing | len }}}}'}}}}",
            peer.url
        ));
        p.send(&notification(2)).await.unwrap();
        p.send(&resolved(2)).await.unwrap();
        let rs = peer.taken();
        assert_eq!(rs[0].uri.path(), "/v2/enqueue");
        let v = rs[0].json();
        assert_eq!(v["routing_key"], "rk");
        assert_eq!(v["event_action"], "trigger");
        let key = dedup_key(&notification(1));
        assert_eq!(key.len(), 16);
        assert_eq!(v["dedup_key"], key.as_str());
        assert_eq!(
            v["payload"]["summary"],
            "[FIRING:2] HighErrorRate checkout (critical)"
        );
        assert_eq!(v["payload"]["source"], "vitals");
        assert_eq!(v["payload"]["severity"], "critical");
        assert_eq!(v["payload"]["custom_details"]["num_firing"], "2");
        assert!(
            v["payload"]["custom_details"]["firing"]
                .as_str()
                .unwrap()
                .contains("instance = pod-1")
        );
        assert_eq!(v["client_url"], "http://vitals:9470/#/alerts?receiver=ops");
        assert_eq!(
            rs[1].json(),
            json!({"routing_key": "rk", "event_action": "resolve", "dedup_key": key})
        );
    }

    #[tokio::test]
    async fn errors_never_show_the_routing_key() {
        let peer = HttpPeer::start(vec![Answer(400, vec![], "invalid routing key"), ok()]).await;
        let p = build(&format!("{{routing_key: sekrit, url: '{}'}}", peer.url));
        let e = p.send(&notification(1)).await.unwrap_err();
        assert_eq!(e.kind, SendErrorKind::Final);
        assert!(!e.message.contains("sekrit"));
        let e = PagerDutyConfig::default()
            .build(&GlobalDefaults::default())
            .unwrap_err();
        assert_eq!(e[0].path, "routing_key");
    }
}

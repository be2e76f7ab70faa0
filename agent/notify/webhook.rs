//! `webhook_configs`: Alertmanager's webhook JSON (version "4") POSTed to any URL, plus
//! vitals' `notificationId` so receivers can deduplicate.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{Client, HttpConfig, check_url};
use super::{
    GlobalDefaults, Notification, SendError, default_true, rfc3339, secret_of, timeout_or,
};
use crate::config::{FieldError, PromDuration, Secret};

/// The timeout when `timeout` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// One `webhook_configs` entry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Whether resolved notifications are sent (default true).
    #[serde(default = "default_true")]
    pub send_resolved: bool,
    /// HTTP client options (authentication, TLS).
    #[serde(default)]
    pub http_config: HttpConfig,
    /// The URL to POST to; treated as a secret (never logged).
    #[serde(default)]
    pub url: Secret,
    /// A file holding the URL (instead of `url`).
    pub url_file: Option<PathBuf>,
    /// Send at most this many alerts, counting the rest in `truncatedAlerts` (0: all).
    #[serde(default)]
    pub max_alerts: usize,
    /// How long one request may take (default 30s).
    pub timeout: Option<PromDuration>,
}

/// A built webhook integration.
#[derive(Debug)]
pub struct Webhook {
    pub(crate) send_resolved: bool,
    client: Client,
    url: Secret,
    max_alerts: usize,
}

impl WebhookConfig {
    /// Validates and builds.
    pub fn build(&self, _globals: &GlobalDefaults) -> Result<Webhook, Vec<FieldError>> {
        let mut errors = Vec::new();
        let url = secret_of("url", &self.url, self.url_file.as_ref(), &mut errors);
        if self.url_file.is_none() || !url.is_empty() {
            check_url("url", url.expose(), &mut errors);
        }
        let client = self
            .http_config
            .client(timeout_or(self.timeout, DEFAULT_TIMEOUT), &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Webhook {
            send_resolved: self.send_resolved,
            client,
            url,
            max_alerts: self.max_alerts,
        })
    }
}

/// The webhook body of `n`, keeping at most `max_alerts` alerts (0: all).
pub fn body(n: &Notification, max_alerts: usize) -> Value {
    let keep = if max_alerts == 0 {
        n.alerts.len()
    } else {
        max_alerts.min(n.alerts.len())
    };
    let alerts: Vec<Value> = n.alerts[..keep]
        .iter()
        .map(|a| {
            let ends = if a.status == "firing" {
                None
            } else {
                a.ends_at
            };
            json!({
                "status": a.status,
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": rfc3339(Some(a.starts_at)),
                "endsAt": rfc3339(ends),
                "generatorURL": a.generator_url,
                "fingerprint": a.fingerprint,
            })
        })
        .collect();
    json!({
        "receiver": n.receiver,
        "status": n.status.as_str(),
        "alerts": alerts,
        "groupLabels": n.group_labels,
        "commonLabels": n.common_labels,
        "commonAnnotations": n.common_annotations,
        "externalURL": n.external_url,
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": n.truncated + (n.alerts.len() - keep),
        "notificationId": n.id,
    })
}

impl Webhook {
    /// POSTs the webhook JSON.
    pub async fn send(&self, n: &Notification) -> Result<(), SendError> {
        let req = self
            .client
            .post_json(self.url.expose(), &body(n, self.max_alerts));
        self.client.send("webhook", req).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Answer, HttpPeer, dead_url, notification, ok, resolved, slow_url};
    use super::super::{SendErrorKind, Status};
    use super::*;

    fn build(yaml: &str) -> Webhook {
        let c: WebhookConfig = serde_yaml_ng::from_str(yaml).unwrap();
        c.build(&GlobalDefaults::default()).unwrap()
    }

    #[tokio::test]
    async fn posts_alertmanagers_json_with_auth() {
        let peer = HttpPeer::start(vec![ok()]).await;
        let w = build(&format!(
            "{{url: '{}/hook', max_alerts: 1, http_config: {{basic_auth: {{username: u, password: p}}}}}}",
            peer.url
        ));
        assert!(w.send_resolved);
        w.send(&notification(2)).await.unwrap();
        let r = &peer.taken()[0];
        assert_eq!(r.method, "POST");
        assert_eq!(r.uri.path(), "/hook");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("authorization"), Some("Basic dTpw"));
        let want = json!({
            "receiver": "ops",
            "status": "firing",
            "alerts": [{
                "status": "firing",
                "labels": {"alertname": "HighErrorRate", "instance": "pod-0",
                           "service": "checkout", "severity": "critical"},
                "annotations": {"runbook_url": "https://runbooks.example.com/high-error-rate",
                                "summary": "Error rate 12%"},
                "startsAt": "2023-11-14T22:13:20Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://vitals:9470/graph?g0.expr=up",
                "fingerprint": "000000000000abc0",
            }],
            "groupLabels": {"alertname": "HighErrorRate", "service": "checkout"},
            "commonLabels": {"alertname": "HighErrorRate", "service": "checkout",
                             "severity": "critical"},
            "commonAnnotations": {"runbook_url": "https://runbooks.example.com/high-error-rate",
                                  "summary": "Error rate 12%"},
            "externalURL": "http://vitals:9470",
            "version": "4",
            "groupKey": "{}:{alertname=\"HighErrorRate\", service=\"checkout\"}",
            "truncatedAlerts": 1,
            "notificationId": "n-1234",
        });
        assert_eq!(r.json(), want);
    }

    #[tokio::test]
    async fn resolved_alerts_carry_their_end() {
        let peer = HttpPeer::start(vec![ok()]).await;
        let w = build(&format!(
            "{{url: '{}', http_config: {{authorization: {{credentials: tok}}}}}}",
            peer.url
        ));
        let n = resolved(1);
        assert_eq!(n.status, Status::Resolved);
        w.send(&n).await.unwrap();
        let r = &peer.taken()[0];
        assert_eq!(r.header("authorization"), Some("Bearer tok"));
        let v = r.json();
        assert_eq!(v["status"], "resolved");
        assert_eq!(v["alerts"][0]["endsAt"], "2023-11-14T22:23:20Z");
        assert_eq!(v["truncatedAlerts"], 0);
    }

    #[tokio::test]
    async fn classifies_failures() {
        let peer = HttpPeer::start(vec![
            Answer(500, vec![], "boom"),
            ok(),
            Answer(429, vec![("retry-after", "2")], ""),
            Answer(400, vec![], "bad payload"),
        ])
        .await;
        let w = build(&format!("{{url: '{}/secret-token'}}", peer.url));
        let n = notification(1);
        let e = w.send(&n).await.unwrap_err();
        assert_eq!(e.kind, SendErrorKind::Retryable { after: None });
        assert!(
            e.message.contains("500") && e.message.contains("boom"),
            "{e}"
        );
        w.send(&n).await.unwrap();
        let e = w.send(&n).await.unwrap_err();
        assert_eq!(
            e.kind,
            SendErrorKind::Retryable {
                after: Some(Duration::from_secs(2))
            }
        );
        let e = w.send(&n).await.unwrap_err();
        assert_eq!(e.kind, SendErrorKind::Final);
        assert!(e.message.contains("bad payload"), "{e}");
        assert!(!e.message.contains("secret-token"));
        assert_eq!(peer.taken().len(), 4);

        let w = build(&format!(
            "{{url: '{}/secret-token', timeout: 2s}}",
            dead_url().await
        ));
        let e = w.send(&n).await.unwrap_err();
        assert!(e.is_retryable(), "{e}");
        assert!(!e.message.contains("secret-token"), "{e}");
    }

    #[tokio::test]
    async fn a_timeout_is_retryable() {
        let url = slow_url(Duration::from_secs(5)).await;
        let w = build(&format!("{{url: '{url}/secret-token', timeout: 300ms}}"));
        let started = std::time::Instant::now();
        let e = w.send(&notification(1)).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(e.kind, SendErrorKind::Retryable { after: None }, "{e}");
        assert!(!e.message.contains("secret-token"), "{e}");
    }

    #[test]
    fn url_file_and_url_both_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("url");
        std::fs::write(&f, "http://x/\n").unwrap();
        let c: WebhookConfig =
            serde_yaml_ng::from_str(&format!("{{url: 'http://y', url_file: '{}'}}", f.display()))
                .unwrap();
        let e = c.build(&GlobalDefaults::default()).unwrap_err();
        assert_eq!(e[0].path, "url_file");
        let c: WebhookConfig =
            serde_yaml_ng::from_str(&format!("{{url_file: '{}'}}", f.display())).unwrap();
        assert_eq!(
            c.build(&GlobalDefaults::default()).unwrap().url.expose(),
            "http://x/"
        );
    }
}

//! `msteams_configs`: Microsoft Teams through a legacy Office 365 connector webhook, as the
//! MessageCard Alertmanager sends (`themeColor`, `title`, `summary`, Markdown `text`).

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

/// The timeout when `timeout` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The text is cut to keep the card under Teams' 28 KB.
const MAX_TEXT: usize = 24 * 1000;

/// One `msteams_configs` entry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MsTeamsConfig {
    /// Whether resolved notifications are sent (default true).
    #[serde(default = "default_true")]
    pub send_resolved: bool,
    /// HTTP client options.
    #[serde(default)]
    pub http_config: HttpConfig,
    /// The connector's webhook URL; a secret.
    #[serde(default)]
    pub webhook_url: Secret,
    /// A file holding the webhook URL.
    pub webhook_url_file: Option<PathBuf>,
    /// The card's title (default `{{ template "msteams.default.title" . }}`).
    pub title: Option<String>,
    /// The card's summary (default `{{ template "msteams.default.summary" . }}`).
    pub summary: Option<String>,
    /// The card's Markdown text (default `{{ template "msteams.default.text" . }}`).
    pub text: Option<String>,
    /// How long one request may take (default 30s).
    pub timeout: Option<PromDuration>,
}

/// A built legacy Teams integration.
#[derive(Debug)]
pub struct MsTeams {
    pub(crate) send_resolved: bool,
    client: Client,
    url: Secret,
    templates: FieldTemplates,
}

impl MsTeamsConfig {
    /// Validates and builds.
    pub fn build(&self, globals: &GlobalDefaults) -> Result<MsTeams, Vec<FieldError>> {
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
        let f = |v: &Option<String>, d: &'static str| v.clone().unwrap_or_else(|| d.to_string());
        let (title, summary, text) = (
            f(&self.title, r#"{{ template "msteams.default.title" . }}"#),
            f(
                &self.summary,
                r#"{{ template "msteams.default.summary" . }}"#,
            ),
            f(&self.text, r#"{{ template "msteams.default.text" . }}"#),
        );
        let templates = FieldTemplates::build(
            globals,
            &[("title", &title), ("summary", &summary), ("text", &text)],
            &mut errors,
        );
        let client = self
            .http_config
            .client(timeout_or(self.timeout, DEFAULT_TIMEOUT), &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(MsTeams {
            send_resolved: self.send_resolved,
            client,
            url,
            templates,
        })
    }
}

impl MsTeams {
    /// The MessageCard for `n`.
    pub fn body(&self, n: &Notification) -> Result<Value, SendError> {
        let data = n.template_data();
        let r = |f: &str| self.templates.render(f, &data);
        let color = match n.status {
            Status::Firing => "8C1A1A",
            Status::Resolved => "2DC72D",
        };
        Ok(json!({
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "themeColor": color,
            "title": truncate(&r("title")?, 1000),
            "summary": truncate(&r("summary")?, 1000),
            "text": truncate(&r("text")?, MAX_TEXT),
        }))
    }

    /// Posts the card.
    pub async fn send(&self, n: &Notification) -> Result<(), SendError> {
        let body = self.body(n)?;
        let req = self.client.post_json(self.url.expose(), &body);
        self.client.send("msteams", req).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::SendErrorKind;
    use super::super::testing::{Answer, HttpPeer, notification, ok};
    use super::*;

    #[tokio::test]
    async fn posts_a_message_card() {
        let peer = HttpPeer::start(vec![Answer(503, vec![], "busy"), ok()]).await;
        let c: MsTeamsConfig = serde_yaml_ng::from_str(&format!(
            "{{webhook_url: '{}/webhookb2/x', text: 'Summary: {{{{ .CommonAnnotations.summary }}}}'}}",
            peer.url
        ))
        .unwrap();
        let t = c.build(&GlobalDefaults::default()).unwrap();
        let e = t.send(&notification(2)).await.unwrap_err();
        assert_eq!(e.kind, SendErrorKind::Retryable { after: None });
        t.send(&notification(2)).await.unwrap();
        let r = &peer.taken()[1];
        assert_eq!(
            r.json(),
            json!({
                "@type": "MessageCard",
                "@context": "https://schema.org/extensions",
                "themeColor": "8C1A1A",
                "title": "[FIRING:2] HighErrorRate checkout (critical)",
                "summary": "[FIRING:2] HighErrorRate checkout (critical)",
                "text": "Summary: Error rate 12%",
            })
        );
    }
}

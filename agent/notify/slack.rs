//! `slack_configs`: a Slack incoming webhook, with Alertmanager's attachment layout and
//! default title/text templates.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::http::{Client, HttpConfig, check_url};
use super::{
    FieldTemplates, GlobalDefaults, Notification, SendError, secret_of, timeout_or, truncate,
};
use crate::config::{FieldError, PromDuration, Secret};

/// The timeout when `timeout` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Slack cuts attachment titles at 1024 characters; Alertmanager does so first.
const MAX_TITLE: usize = 1024;

/// One `slack_configs` entry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// Whether resolved notifications are sent (default false, as Alertmanager).
    #[serde(default)]
    pub send_resolved: bool,
    /// HTTP client options.
    #[serde(default)]
    pub http_config: HttpConfig,
    /// The incoming webhook URL (default `global.slack_api_url`); a secret.
    #[serde(default)]
    pub api_url: Secret,
    /// A file holding the webhook URL.
    pub api_url_file: Option<PathBuf>,
    /// The channel or user to post to (the webhook's own when empty); a template.
    pub channel: Option<String>,
    /// The bot's user name (default `{{ template "slack.default.username" . }}`).
    pub username: Option<String>,
    /// The attachment colour (default `danger` firing, `good` resolved).
    pub color: Option<String>,
    /// The attachment title (default `{{ template "slack.default.title" . }}`).
    pub title: Option<String>,
    /// The title's link (default `{{ template "slack.default.titlelink" . }}`).
    pub title_link: Option<String>,
    /// Text above the attachment.
    pub pretext: Option<String>,
    /// The attachment text (default `{{ template "slack.default.text" . }}`).
    pub text: Option<String>,
    /// The attachment footer.
    pub footer: Option<String>,
    /// The plain-text summary (default `{{ template "slack.default.fallback" . }}`).
    pub fallback: Option<String>,
    /// The attachment's callback id.
    pub callback_id: Option<String>,
    /// An emoji for the bot's icon.
    pub icon_emoji: Option<String>,
    /// An image URL for the bot's icon.
    pub icon_url: Option<String>,
    /// Whether Slack links channel and user names.
    #[serde(default)]
    pub link_names: bool,
    /// Which attachment fields are Markdown (default fallback, pretext, text).
    pub mrkdwn_in: Option<Vec<String>>,
    /// How long one request may take (default 30s).
    pub timeout: Option<PromDuration>,
}

/// A built Slack integration.
#[derive(Debug)]
pub struct Slack {
    pub(crate) send_resolved: bool,
    client: Client,
    url: Secret,
    templates: FieldTemplates,
    link_names: bool,
    mrkdwn_in: Vec<String>,
}

const FIELDS: [(&str, &str); 12] = [
    ("channel", ""),
    ("username", r#"{{ template "slack.default.username" . }}"#),
    ("color", r#"{{ template "slack.default.color" . }}"#),
    ("title", r#"{{ template "slack.default.title" . }}"#),
    (
        "title_link",
        r#"{{ template "slack.default.titlelink" . }}"#,
    ),
    ("pretext", r#"{{ template "slack.default.pretext" . }}"#),
    ("text", r#"{{ template "slack.default.text" . }}"#),
    ("footer", r#"{{ template "slack.default.footer" . }}"#),
    ("fallback", r#"{{ template "slack.default.fallback" . }}"#),
    (
        "callback_id",
        r#"{{ template "slack.default.callbackid" . }}"#,
    ),
    (
        "icon_emoji",
        r#"{{ template "slack.default.iconemoji" . }}"#,
    ),
    ("icon_url", r#"{{ template "slack.default.iconurl" . }}"#),
];

impl SlackConfig {
    fn field(&self, name: &str) -> Option<&String> {
        match name {
            "channel" => self.channel.as_ref(),
            "username" => self.username.as_ref(),
            "color" => self.color.as_ref(),
            "title" => self.title.as_ref(),
            "title_link" => self.title_link.as_ref(),
            "pretext" => self.pretext.as_ref(),
            "text" => self.text.as_ref(),
            "footer" => self.footer.as_ref(),
            "fallback" => self.fallback.as_ref(),
            "callback_id" => self.callback_id.as_ref(),
            "icon_emoji" => self.icon_emoji.as_ref(),
            "icon_url" => self.icon_url.as_ref(),
            _ => None,
        }
    }

    /// Validates and builds.
    pub fn build(&self, globals: &GlobalDefaults) -> Result<Slack, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut url = secret_of(
            "api_url",
            &self.api_url,
            self.api_url_file.as_ref(),
            &mut errors,
        );
        if url.is_empty() && self.api_url_file.is_none() {
            url = globals.slack_api_url.clone().unwrap_or_default();
        }
        if url.is_empty() {
            errors.push(FieldError::new(
                "api_url",
                "missing (and no global.slack_api_url)",
            ));
        } else {
            check_url("api_url", url.expose(), &mut errors);
        }
        let fields: Vec<(&str, &str)> = FIELDS
            .iter()
            .map(|(name, def)| (*name, self.field(name).map_or(*def, |s| s.as_str())))
            .collect();
        let templates = FieldTemplates::build(globals, &fields, &mut errors);
        let client = self
            .http_config
            .client(timeout_or(self.timeout, DEFAULT_TIMEOUT), &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Slack {
            send_resolved: self.send_resolved,
            client,
            url,
            templates,
            link_names: self.link_names,
            mrkdwn_in: self
                .mrkdwn_in
                .clone()
                .unwrap_or_else(|| ["fallback", "pretext", "text"].map(String::from).to_vec()),
        })
    }
}

impl Slack {
    /// The incoming-webhook body for `n`; empty fields are left out, as Alertmanager does.
    pub fn body(&self, n: &Notification) -> Result<Value, SendError> {
        let data = n.template_data();
        let mut top = Map::new();
        let mut att = Map::new();
        for (name, _) in FIELDS {
            let mut v = self.templates.render(name, &data)?;
            if v.is_empty() {
                continue;
            }
            if name == "title" {
                v = truncate(&v, MAX_TITLE);
            }
            let target = match name {
                "channel" | "username" | "icon_emoji" | "icon_url" => &mut top,
                _ => &mut att,
            };
            target.insert(name.to_string(), Value::String(v));
        }
        if self.link_names {
            top.insert("link_names".into(), Value::Bool(true));
        }
        att.insert("mrkdwn_in".into(), json!(self.mrkdwn_in));
        top.insert("attachments".into(), Value::Array(vec![Value::Object(att)]));
        Ok(Value::Object(top))
    }

    /// Posts to the webhook.
    pub async fn send(&self, n: &Notification) -> Result<(), SendError> {
        let body = self.body(n)?;
        let req = self.client.post_json(self.url.expose(), &body);
        self.client.send("slack", req).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::SendErrorKind;
    use super::super::testing::{Answer, HttpPeer, notification, ok};
    use super::*;

    #[tokio::test]
    async fn posts_alertmanagers_default_attachment() {
        let peer = HttpPeer::start(vec![ok()]).await;
        let c: SlackConfig =
            serde_yaml_ng::from_str("{channel: '#ops', text: '{{ .CommonAnnotations.summary }}'}")
                .unwrap();
        let globals = GlobalDefaults {
            slack_api_url: Some(Secret::new(format!("{}/services/T/B/X", peer.url))),
            ..GlobalDefaults::default()
        };
        let s = c.build(&globals).unwrap();
        assert!(!s.send_resolved);
        s.send(&notification(2)).await.unwrap();
        let r = &peer.taken()[0];
        assert_eq!(r.uri.path(), "/services/T/B/X");
        let title = "[FIRING:2] HighErrorRate checkout (critical)";
        let link = "http://vitals:9470/#/alerts?receiver=ops";
        assert_eq!(
            r.json(),
            json!({
                "channel": "#ops",
                "username": "vitals",
                "attachments": [{
                    "color": "danger",
                    "title": title,
                    "title_link": link,
                    "text": "Error rate 12%",
                    "fallback": format!("{title} | {link}"),
                    "mrkdwn_in": ["fallback", "pretext", "text"],
                }],
            })
        );
    }

    #[tokio::test]
    async fn a_429_asks_for_a_later_retry() {
        let peer = HttpPeer::start(vec![Answer(
            429,
            vec![("retry-after", "2")],
            "rate_limited",
        )])
        .await;
        let c: SlackConfig =
            serde_yaml_ng::from_str(&format!("{{api_url: '{}/hook'}}", peer.url)).unwrap();
        let e = c
            .build(&GlobalDefaults::default())
            .unwrap()
            .send(&notification(1))
            .await
            .unwrap_err();
        assert_eq!(
            e.kind,
            SendErrorKind::Retryable {
                after: Some(Duration::from_secs(2))
            }
        );
        let e = SlackConfig::default()
            .build(&GlobalDefaults::default())
            .unwrap_err();
        assert_eq!(e[0].path, "api_url");
    }
}

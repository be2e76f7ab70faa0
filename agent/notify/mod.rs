//! Notification integrations: the last stage of the pipeline, after `alerting` has routed,
//! grouped, inhibited and silenced. The alerting stage hands each [`Integration`] of a
//! [`Receiver`] a [`Notification`] (one group, one receiver, one state) and gets back
//! `Ok(())` (sent), [`SendErrorKind::Retryable`] (try again, maybe after a delay the peer
//! asked for) or [`SendErrorKind::Final`] (give up).
//!
//! This module owns one `receivers[]` entry of Alertmanager's schema ([`ReceiverConfig`]), its
//! validation ([`ReceiverConfig::build`], every error with its path) and one submodule per
//! integration, each with its config, build and send: [`webhook`], [`email`], [`msteamsv2`],
//! [`msteams`], [`twilio`], [`slack`], [`pagerduty`], [`sns`], [`log`]. It is stateless: retries, the
//! outbox and the notification log belong to `alerting`. Subjects and bodies are rendered with
//! [`crate::gotemplate::alertmanager`] from vitals' default templates (`default.tmpl`,
//! Alertmanager's `template/default.tmpl` definitions) plus any files the alerting stage
//! passes in [`GlobalDefaults::templates`].
//!
//! It imports only the leaf modules `config`, `net` and `gotemplate`.

pub mod email;
mod http;
pub mod log;
pub mod msteams;
pub mod msteamsv2;
pub mod pagerduty;
pub mod slack;
pub mod sns;
#[cfg(test)]
mod testing;
pub mod twilio;
pub mod webhook;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::config::{FieldError, PromDuration};
use crate::gotemplate::alertmanager::{AlertData, NotificationData, Templates, quote_meta};

pub use http::{Authorization, BasicAuth, HttpConfig, TlsConfig};

/// The `*_configs` keys of a receiver, in the order [`ReceiverConfig::build`] adds their
/// integrations (the alerting stage relies on it to tell integrations apart across reloads).
pub const INTEGRATION_KEYS: [&str; 9] = [
    "email_configs",
    "msteamsv2_configs",
    "msteams_configs",
    "webhook_configs",
    "slack_configs",
    "pagerduty_configs",
    "sns_configs",
    "twilio_configs",
    "log_configs",
];

/// vitals' default notification templates (Alertmanager's `default.tmpl` definitions).
pub const DEFAULT_TEMPLATES: &str = include_str!("default.tmpl");

/// Whether a notification reports a firing or a resolved group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Status {
    /// At least one alert of the group is firing.
    Firing,
    /// Every alert of the group has resolved.
    Resolved,
}

impl Status {
    /// `firing` or `resolved`, as Alertmanager writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One notification: one alert group, for one receiver, in one state. Its serde form is
/// what the alerting stage's outbox stores.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Notification {
    /// Stable per group + receiver + state: the webhook's `notificationId` (PagerDuty's
    /// `dedup_key` is derived from `receiver` and `group_key` instead, so the trigger and the
    /// resolve share it: [`pagerduty::dedup_key`]).
    pub id: String,
    /// The receiver's name.
    pub receiver: String,
    /// The group's key (Alertmanager's `groupKey`).
    pub group_key: String,
    /// Firing when any alert is.
    pub status: Status,
    /// The labels the group is grouped by.
    pub group_labels: BTreeMap<String, String>,
    /// The labels every alert of the group shares.
    pub common_labels: BTreeMap<String, String>,
    /// The annotations every alert of the group shares.
    pub common_annotations: BTreeMap<String, String>,
    /// The group's alerts (perhaps already cut by the alerting stage: see `truncated`).
    pub alerts: Vec<AlertData>,
    /// The URL of this vitals, for links back.
    pub external_url: String,
    /// How many alerts the alerting stage left out of `alerts`.
    pub truncated: usize,
}

impl Notification {
    /// The data notification templates see (`.Receiver` is quoted as Alertmanager does).
    pub fn template_data(&self) -> NotificationData {
        NotificationData {
            receiver: quote_meta(&self.receiver),
            status: self.status.as_str().to_string(),
            alerts: self.alerts.clone(),
            group_labels: self.group_labels.clone(),
            common_labels: self.common_labels.clone(),
            common_annotations: self.common_annotations.clone(),
            external_url: self.external_url.clone(),
        }
    }

    /// Alerts that are firing.
    pub fn firing(&self) -> impl Iterator<Item = &AlertData> {
        self.alerts.iter().filter(|a| a.status == "firing")
    }
}

impl From<&Notification> for NotificationData {
    fn from(n: &Notification) -> Self {
        n.template_data()
    }
}

/// What went wrong sending; `kind` says whether to try again.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// Retry or give up.
    pub kind: SendErrorKind,
    /// What happened; never contains a secret (webhook URLs, tokens, passwords).
    pub message: String,
}

/// Whether a failed send is worth repeating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendErrorKind {
    /// Try again: after `after` when the peer said so (`Retry-After`), else with backoff.
    Retryable { after: Option<Duration> },
    /// Repeating cannot help (the peer refused the request, a template failed).
    Final,
}

impl SendError {
    /// A retryable error.
    pub fn retryable(message: impl Into<String>, after: Option<Duration>) -> SendError {
        SendError {
            kind: SendErrorKind::Retryable { after },
            message: message.into(),
        }
    }

    /// A final error.
    pub fn fatal(message: impl Into<String>) -> SendError {
        SendError {
            kind: SendErrorKind::Final,
            message: message.into(),
        }
    }

    /// True for [`SendErrorKind::Retryable`].
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, SendErrorKind::Retryable { .. })
    }
}

/// Alertmanager's `global` keys that integrations inherit; the alerting stage fills it from
/// its configuration.
#[derive(Clone, Debug, Default)]
pub struct GlobalDefaults {
    /// `smtp_from`: the default sender address.
    pub smtp_from: Option<String>,
    /// `smtp_smarthost`: the default SMTP server, `host:port`.
    pub smtp_smarthost: Option<String>,
    /// `smtp_hello`: the default EHLO name (Alertmanager's default `localhost`).
    pub smtp_hello: Option<String>,
    /// `smtp_auth_username`.
    pub smtp_auth_username: Option<String>,
    /// `smtp_auth_password` (already read from `smtp_auth_password_file` if used).
    pub smtp_auth_password: Option<crate::config::Secret>,
    /// `smtp_require_tls` (Alertmanager's default true).
    pub smtp_require_tls: Option<bool>,
    /// `slack_api_url` (already read from `slack_api_url_file` if used).
    pub slack_api_url: Option<crate::config::Secret>,
    /// `pagerduty_url` (default `https://events.pagerduty.com/v2/enqueue`).
    pub pagerduty_url: Option<String>,
    /// `resolve_timeout`: how long an alert without `endsAt` stays firing (informational here).
    pub resolve_timeout: Option<Duration>,
    /// Extra template files (name, text) parsed after vitals' defaults: Alertmanager's
    /// `templates:` files, read by the alerting stage.
    pub templates: Vec<(String, String)>,
}

/// One `receivers[]` entry, in Alertmanager's schema plus vitals' `twilio_configs` and
/// `log_configs`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    /// The receiver's unique name, which routes refer to.
    pub name: String,
    /// Email through an SMTP server.
    #[serde(default)]
    pub email_configs: Vec<email::EmailConfig>,
    /// Microsoft Teams through a Workflows (Power Automate) webhook, as an Adaptive Card.
    #[serde(default)]
    pub msteamsv2_configs: Vec<msteamsv2::MsTeamsV2Config>,
    /// Microsoft Teams through a legacy Office 365 connector webhook, as a MessageCard.
    #[serde(default)]
    pub msteams_configs: Vec<msteams::MsTeamsConfig>,
    /// Alertmanager's webhook JSON to any HTTP endpoint.
    #[serde(default)]
    pub webhook_configs: Vec<webhook::WebhookConfig>,
    /// Slack incoming webhooks.
    #[serde(default)]
    pub slack_configs: Vec<slack::SlackConfig>,
    /// PagerDuty Events API v2.
    #[serde(default)]
    pub pagerduty_configs: Vec<pagerduty::PagerDutyConfig>,
    /// Amazon SNS: a topic, a phone number (SMS) or a target ARN.
    #[serde(default)]
    pub sns_configs: Vec<sns::SnsConfig>,
    /// SMS through Twilio's Messages API (vitals' own).
    #[serde(default)]
    pub twilio_configs: Vec<twilio::TwilioConfig>,
    /// One log line per notification (vitals' own; the embedded default's receiver).
    #[serde(default)]
    pub log_configs: Vec<log::LogConfig>,
}

/// A receiver ready to send: its integrations in configuration order.
#[derive(Debug)]
pub struct Receiver {
    name: String,
    integrations: Vec<Integration>,
}

impl Receiver {
    /// The receiver's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its integrations; the alerting stage sends (and retries) each on its own.
    pub fn integrations(&self) -> &[Integration] {
        &self.integrations
    }
}

/// One configured integration.
#[derive(Debug)]
pub enum Integration {
    Email(email::Email),
    MsTeamsV2(msteamsv2::MsTeamsV2),
    MsTeams(msteams::MsTeams),
    Webhook(webhook::Webhook),
    Slack(slack::Slack),
    PagerDuty(pagerduty::PagerDuty),
    Sns(sns::Sns),
    Twilio(twilio::Twilio),
    Log(log::Log),
}

impl Integration {
    /// The integration's kind, as Alertmanager names it (`email`, `msteamsv2`, `webhook`…).
    pub fn name(&self) -> &'static str {
        match self {
            Integration::Email(_) => "email",
            Integration::MsTeamsV2(_) => "msteamsv2",
            Integration::MsTeams(_) => "msteams",
            Integration::Webhook(_) => "webhook",
            Integration::Slack(_) => "slack",
            Integration::PagerDuty(_) => "pagerduty",
            Integration::Sns(_) => "sns",
            Integration::Twilio(_) => "twilio",
            Integration::Log(_) => "log",
        }
    }

    /// Whether resolved notifications are sent.
    pub fn send_resolved(&self) -> bool {
        match self {
            Integration::Email(i) => i.send_resolved,
            Integration::MsTeamsV2(i) => i.send_resolved,
            Integration::MsTeams(i) => i.send_resolved,
            Integration::Webhook(i) => i.send_resolved,
            Integration::Slack(i) => i.send_resolved,
            Integration::PagerDuty(i) => i.send_resolved,
            Integration::Sns(i) => i.send_resolved,
            Integration::Twilio(i) => i.send_resolved,
            Integration::Log(i) => i.send_resolved,
        }
    }

    /// Sends `n` once (no retries: the caller decides from the error's kind).
    pub async fn send(&self, n: &Notification) -> Result<(), SendError> {
        match self {
            Integration::Email(i) => i.send(n).await,
            Integration::MsTeamsV2(i) => i.send(n).await,
            Integration::MsTeams(i) => i.send(n).await,
            Integration::Webhook(i) => i.send(n).await,
            Integration::Slack(i) => i.send(n).await,
            Integration::PagerDuty(i) => i.send(n).await,
            Integration::Sns(i) => i.send(n).await,
            Integration::Twilio(i) => i.send(n).await,
            Integration::Log(i) => i.send(n).await,
        }
    }
}

impl ReceiverConfig {
    /// Validates every integration and builds the receiver; returns every problem with its
    /// path below the receiver (`email_configs[0].to: missing`).
    pub fn build(&self, globals: &GlobalDefaults) -> Result<Receiver, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut integrations = Vec::new();
        if self.name.is_empty() {
            errors.push(FieldError::new("name", "missing"));
        }
        fn each<C>(
            list: &[C],
            key: &str,
            errors: &mut Vec<FieldError>,
            out: &mut Vec<Integration>,
            build: impl Fn(&C) -> Result<Integration, Vec<FieldError>>,
        ) {
            for (i, c) in list.iter().enumerate() {
                match build(c) {
                    Ok(integration) => out.push(integration),
                    Err(es) => {
                        let at = format!("{key}[{i}]");
                        errors.extend(es.into_iter().map(|e| e.under(&at)));
                    }
                }
            }
        }
        let (e, o) = (&mut errors, &mut integrations);
        each(&self.email_configs, "email_configs", e, o, |c| {
            c.build(globals).map(Integration::Email)
        });
        each(&self.msteamsv2_configs, "msteamsv2_configs", e, o, |c| {
            c.build(globals).map(Integration::MsTeamsV2)
        });
        each(&self.msteams_configs, "msteams_configs", e, o, |c| {
            c.build(globals).map(Integration::MsTeams)
        });
        each(&self.webhook_configs, "webhook_configs", e, o, |c| {
            c.build(globals).map(Integration::Webhook)
        });
        each(&self.slack_configs, "slack_configs", e, o, |c| {
            c.build(globals).map(Integration::Slack)
        });
        each(&self.pagerduty_configs, "pagerduty_configs", e, o, |c| {
            c.build(globals).map(Integration::PagerDuty)
        });
        each(&self.sns_configs, "sns_configs", e, o, |c| {
            c.build(globals).map(Integration::Sns)
        });
        each(&self.twilio_configs, "twilio_configs", e, o, |c| {
            c.build(globals).map(Integration::Twilio)
        });
        each(&self.log_configs, "log_configs", e, o, |c| {
            c.build(globals).map(Integration::Log)
        });
        if errors.is_empty() {
            Ok(Receiver {
                name: self.name.clone(),
                integrations,
            })
        } else {
            Err(errors)
        }
    }
}

/// The template set of one integration: vitals' defaults, the global template files, then
/// the integration's own templated fields, each added under its own name.
#[derive(Debug)]
pub(crate) struct FieldTemplates {
    set: Templates,
}

impl FieldTemplates {
    /// Parses the defaults, `globals.templates` and `fields` (name, template text); errors
    /// are reported at each field's name (the global files' at `templates`).
    pub(crate) fn build(
        globals: &GlobalDefaults,
        fields: &[(&str, &str)],
        errors: &mut Vec<FieldError>,
    ) -> FieldTemplates {
        let files = std::iter::once(("default.tmpl", DEFAULT_TEMPLATES)).chain(
            globals
                .templates
                .iter()
                .map(|(n, t)| (n.as_str(), t.as_str())),
        );
        let mut set = match Templates::parse_files(files) {
            Ok(set) => set,
            Err(e) => {
                errors.push(FieldError::new("templates", e.to_string()));
                // The embedded defaults parse (tested): no input reaches this.
                Templates::parse_files([("default.tmpl", DEFAULT_TEMPLATES)])
                    .expect("the embedded default templates parse")
            }
        };
        for (name, text) in fields {
            if let Err(e) = set.add(&format!("vitals.field.{name}"), text) {
                errors.push(FieldError::new(*name, format!("bad template: {e}")));
            }
        }
        FieldTemplates { set }
    }

    /// Renders the field `name` for `data`; a failure is final.
    pub(crate) fn render(&self, name: &str, data: &NotificationData) -> Result<String, SendError> {
        self.set
            .execute(&format!("vitals.field.{name}"), data)
            .map_err(|e| SendError::fatal(format!("template for {name}: {e}")))
    }

    /// Renders the template `name` of the set itself (`email.default.html`).
    #[cfg(test)]
    pub(crate) fn render_named(
        &self,
        name: &str,
        data: &NotificationData,
    ) -> Result<String, SendError> {
        self.set
            .execute(name, data)
            .map_err(|e| SendError::fatal(format!("template {name}: {e}")))
    }
}

/// `send_resolved`'s default when a config leaves it out.
pub(crate) fn default_true() -> bool {
    true
}

/// The configured timeout or `default`.
pub(crate) fn timeout_or(t: Option<PromDuration>, default: Duration) -> Duration {
    t.map_or(default, PromDuration::get)
}

/// Reads a `KEY` / `KEY_file` secret pair into a value; errors at `KEY_file`.
pub(crate) fn secret_of(
    key: &str,
    value: &crate::config::Secret,
    file: Option<&PathBuf>,
    errors: &mut Vec<FieldError>,
) -> crate::config::Secret {
    let mut s = value.clone();
    crate::config::resolve_secret_file(key, &mut s, file, errors);
    s
}

/// Cuts `s` to at most `max` bytes on a character boundary, marking the cut with `…`.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Go's `time.Time` JSON form (RFC 3339 with nanoseconds trimmed) of milliseconds since the
/// epoch; `None` is Go's zero time `0001-01-01T00:00:00Z`.
pub(crate) fn rfc3339(ms: Option<i64>) -> String {
    let Some(ms) = ms else {
        return "0001-01-01T00:00:00Z".to_string();
    };
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = crate::civil::civil_from_days(days);
    let (h, mi, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    let frac = if milli == 0 {
        String::new()
    } else {
        let f = format!(".{milli:03}");
        f.trim_end_matches('0').to_string()
    };
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_templates_parse_and_render_alertmanagers_subject() {
        let mut errors = Vec::new();
        let t = FieldTemplates::build(
            &GlobalDefaults::default(),
            &[("subject", r#"{{ template "__subject" . }}"#)],
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let n = testing::notification(2);
        assert_eq!(
            t.render("subject", &n.template_data()).unwrap(),
            "[FIRING:2] HighErrorRate checkout (critical)"
        );
        for name in [
            "email.default.html",
            "email.default.text",
            "slack.default.title",
            "msteams.default.text",
            "msteamsv2.default.text",
        ] {
            t.render_named(name, &n.template_data()).unwrap();
        }
    }

    #[test]
    fn times_render_as_go_marshals_them() {
        assert_eq!(rfc3339(None), "0001-01-01T00:00:00Z");
        assert_eq!(rfc3339(Some(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(Some(1_700_000_000_120)), "2023-11-14T22:13:20.12Z");
    }

    #[test]
    fn truncate_keeps_characters_whole() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("ééééé", 6), "é…");
        assert!(truncate(&"x".repeat(100), 10).len() <= 10);
    }

    #[test]
    fn build_reports_every_error_with_its_path() {
        let yaml = r#"
name: ops
email_configs: [{from: a@b.c}]
webhook_configs: [{}, {url: "http://x"}]
twilio_configs: [{account_sid: AC1, to: []}]
sns_configs: [{phone_number: "+1"}]
"#;
        let c: ReceiverConfig = serde_yaml_ng::from_str(yaml).unwrap();
        let errs = c.build(&GlobalDefaults::default()).unwrap_err();
        let paths: Vec<_> = errs
            .iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect();
        let has = |p: &str| paths.iter().any(|x| x.starts_with(p));
        assert!(has("email_configs[0].to: missing"), "{paths:?}");
        assert!(has("email_configs[0].smarthost: missing"), "{paths:?}");
        assert!(has("webhook_configs[0].url"), "{paths:?}");
        assert!(!has("webhook_configs[1]"), "{paths:?}");
        assert!(has("twilio_configs[0].to"), "{paths:?}");
        assert!(has("twilio_configs[0].auth_token"), "{paths:?}");
        assert!(has("twilio_configs[0].from"), "{paths:?}");
        assert!(has("sns_configs[0].phone_number"), "{paths:?}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let r: Result<ReceiverConfig, _> =
            serde_yaml_ng::from_str("name: x\nwebhook_configs: [{url: 'http://x', nope: 1}]");
        assert!(r.is_err());
    }

    #[test]
    fn receivers_and_sends_cross_tasks() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>(_: &T) {}
        send_sync::<Receiver>();
        let r = ReceiverConfig {
            name: "default".into(),
            log_configs: vec![log::LogConfig::default()],
            ..ReceiverConfig::default()
        }
        .build(&GlobalDefaults::default())
        .unwrap();
        let n = testing::notification(1);
        let fut = r.integrations()[0].send(&n);
        send(&fut);
        assert_eq!(r.integrations()[0].name(), "log");
    }

    /// Every HTTP integration, against one script: 500 (retry), 200 (sent), 429 with
    /// `Retry-After: 2` (retry in 2s), 400 with a body (final, body quoted).
    #[tokio::test]
    async fn every_http_integration_classifies_answers_alike() {
        use testing::{Answer, HttpPeer, ok};
        let configs = [
            "webhook_configs: [{url: 'URL'}]",
            "slack_configs: [{api_url: 'URL'}]",
            "msteamsv2_configs: [{webhook_url: 'URL'}]",
            "msteams_configs: [{webhook_url: 'URL'}]",
            "pagerduty_configs: [{routing_key: rk, url: 'URL'}]",
            "twilio_configs: [{account_sid: AC1, auth_token: t, from: '+15550000', to: ['+15550001'], api_url: 'URL'}]",
        ];
        for c in configs {
            let peer = HttpPeer::start(vec![
                Answer(500, vec![], "oops"),
                ok(),
                Answer(429, vec![("retry-after", "2")], "slow down"),
                Answer(400, vec![], "you sent garbage"),
            ])
            .await;
            let yaml = format!("name: r\n{}", c.replace("URL", &peer.url));
            let r: ReceiverConfig = serde_yaml_ng::from_str(&yaml).unwrap();
            let r = r.build(&GlobalDefaults::default()).unwrap();
            let i = &r.integrations()[0];
            let n = testing::notification(1);
            let e = i.send(&n).await.unwrap_err();
            assert_eq!(e.kind, SendErrorKind::Retryable { after: None }, "{c}: {e}");
            i.send(&n).await.unwrap();
            let e = i.send(&n).await.unwrap_err();
            let after = Some(Duration::from_secs(2));
            assert_eq!(e.kind, SendErrorKind::Retryable { after }, "{c}: {e}");
            let e = i.send(&n).await.unwrap_err();
            assert_eq!(e.kind, SendErrorKind::Final, "{c}: {e}");
            assert!(e.message.contains("you sent garbage"), "{c}: {e}");
            assert!(!e.message.contains(&peer.url), "{c}: {e}");
            assert_eq!(peer.taken().len(), 4, "{c}");
        }
    }
}

//! `twilio_configs` (vitals' own): SMS through Twilio's Messages API, one request per number.
//! The text fits one or two SMS segments (at most 306 GSM characters):
//! `[CRIT] HighErrorRate checkout x2: Error rate 12%` — a severity code, the alert name, the
//! group's other labels, the count when more than one, then the summary cut to fit.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::http::{Client, HttpConfig, check_url};
use super::{GlobalDefaults, Notification, SendError, Status, default_true, secret_of, timeout_or};
use crate::config::{FieldError, PromDuration, Secret};

/// Twilio's API.
pub const DEFAULT_API_URL: &str = "https://api.twilio.com";
/// The timeout when `timeout` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// Two concatenated GSM-7 segments.
pub const MAX_CHARS: usize = 306;

/// One `twilio_configs` entry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioConfig {
    /// Whether resolved notifications are sent (default true).
    #[serde(default = "default_true")]
    pub send_resolved: bool,
    /// The account SID (`AC…`): the API path and the basic-auth user.
    #[serde(default)]
    pub account_sid: String,
    /// The auth token (basic-auth password).
    #[serde(default)]
    pub auth_token: Secret,
    /// A file holding the auth token.
    pub auth_token_file: Option<PathBuf>,
    /// The sending number (E.164); or set `messaging_service_sid`.
    pub from: Option<String>,
    /// A Messaging Service to send from instead of `from`.
    pub messaging_service_sid: Option<String>,
    /// The numbers to text (E.164), one request each.
    #[serde(default)]
    pub to: Vec<String>,
    /// The API base URL (default `https://api.twilio.com`; regional endpoints, tests).
    pub api_url: Option<String>,
    /// How long one request may take (default 15s).
    pub timeout: Option<PromDuration>,
    /// HTTP client options other than authentication (TLS).
    #[serde(default)]
    pub http_config: HttpConfig,
}

/// A built Twilio integration.
#[derive(Debug)]
pub struct Twilio {
    pub(crate) send_resolved: bool,
    client: Client,
    url: String,
    account_sid: String,
    auth_token: Secret,
    sender: (&'static str, String),
    to: Vec<String>,
}

impl TwilioConfig {
    /// Validates and builds.
    pub fn build(&self, _globals: &GlobalDefaults) -> Result<Twilio, Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.account_sid.is_empty() {
            errors.push(FieldError::new("account_sid", "missing"));
        } else if !self.account_sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            errors.push(FieldError::new(
                "account_sid",
                "must be letters and digits (AC…)",
            ));
        }
        let auth_token = secret_of(
            "auth_token",
            &self.auth_token,
            self.auth_token_file.as_ref(),
            &mut errors,
        );
        if auth_token.is_empty() && self.auth_token_file.is_none() {
            errors.push(FieldError::new("auth_token", "missing"));
        }
        let sender = match (&self.from, &self.messaging_service_sid) {
            (Some(f), None) => ("From", f.clone()),
            (None, Some(m)) => ("MessagingServiceSid", m.clone()),
            (Some(_), Some(_)) => {
                errors.push(FieldError::new(
                    "from",
                    "set from or messaging_service_sid, not both",
                ));
                ("From", String::new())
            }
            (None, None) => {
                errors.push(FieldError::new(
                    "from",
                    "missing (or set messaging_service_sid)",
                ));
                ("From", String::new())
            }
        };
        if self.to.is_empty() {
            errors.push(FieldError::new("to", "missing: at least one number"));
        }
        for (i, n) in self.to.iter().enumerate() {
            if !is_e164(n) {
                errors.push(FieldError::new(
                    format!("to[{i}]"),
                    format!("{n:?} is not an E.164 number (+15551234567)"),
                ));
            }
        }
        let api = self
            .api_url
            .clone()
            .unwrap_or_else(|| DEFAULT_API_URL.to_string());
        check_url("api_url", &api, &mut errors);
        if self.http_config.basic_auth.is_some() || self.http_config.authorization.is_some() {
            errors.push(FieldError::new(
                "http_config",
                "authentication is account_sid and auth_token",
            ));
        }
        let client = self
            .http_config
            .client(timeout_or(self.timeout, DEFAULT_TIMEOUT), &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Twilio {
            send_resolved: self.send_resolved,
            client,
            url: format!(
                "{}/2010-04-01/Accounts/{}/Messages.json",
                api.trim_end_matches('/'),
                self.account_sid
            ),
            account_sid: self.account_sid.clone(),
            auth_token,
            sender,
            to: self.to.clone(),
        })
    }
}

/// Whether `n` is an E.164 number: `+` and digits, at least 7 of them (also `sns`'s check).
pub(crate) fn is_e164(n: &str) -> bool {
    n.starts_with('+') && n.len() >= 8 && n[1..].bytes().all(|b| b.is_ascii_digit())
}

/// The severity's short code.
fn code(n: &Notification) -> &'static str {
    if n.status == Status::Resolved {
        return "OK";
    }
    let sev = n
        .common_labels
        .get("severity")
        .or_else(|| n.firing().find_map(|a| a.labels.get("severity")))
        .map_or("", String::as_str);
    match sev {
        "critical" | "page" => "CRIT",
        "warning" => "WARN",
        "info" => "INFO",
        _ => "ALERT",
    }
}

/// The SMS text for `n`, at most [`MAX_CHARS`] characters.
pub fn text(n: &Notification) -> String {
    let name = n
        .group_labels
        .get("alertname")
        .or_else(|| n.common_labels.get("alertname"))
        .or_else(|| n.alerts.first().and_then(|a| a.labels.get("alertname")))
        .map_or("alert", String::as_str);
    let mut head = format!("[{}] {name}", code(n));
    for (k, v) in &n.group_labels {
        if k != "alertname" {
            head.push(' ');
            head.push_str(v);
        }
    }
    let count = match n.status {
        Status::Firing => n.firing().count() + n.truncated,
        Status::Resolved => n.alerts.len() + n.truncated,
    };
    if count > 1 {
        head.push_str(&format!(" x{count}"));
    }
    let summary = n
        .common_annotations
        .get("summary")
        .or_else(|| n.alerts.first().and_then(|a| a.annotations.get("summary")))
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "));
    let mut out = cut(&head, MAX_CHARS);
    if let Some(s) = summary.filter(|s| !s.is_empty()) {
        let room = MAX_CHARS.saturating_sub(out.chars().count() + 2);
        if room > 3 {
            out.push_str(": ");
            out.push_str(&cut(&s, room));
        }
    }
    out
}

/// At most `max` characters, ending in `...` when cut.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(3)).collect();
    out.push_str("...");
    out
}

impl Twilio {
    /// Texts every number; stops at the first failure (a retry texts them all again).
    pub async fn send(&self, n: &Notification) -> Result<(), SendError> {
        let body = text(n);
        for to in &self.to {
            let form = [
                ("To", to.as_str()),
                (self.sender.0, self.sender.1.as_str()),
                ("Body", body.as_str()),
            ];
            let encoded = form
                .iter()
                .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
                .collect::<Vec<_>>()
                .join("&");
            let req = self
                .client
                .post(&self.url)
                .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
                .header(
                    http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(encoded);
            self.client.send("twilio", req).await?;
        }
        Ok(())
    }
}

/// `application/x-www-form-urlencoded` encoding of one name or value.
fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::SendErrorKind;
    use super::super::testing::{Answer, HttpPeer, notification, resolved};
    use super::*;
    use proptest::prelude::*;

    fn build(url: &str, extra: &str) -> Twilio {
        let c: TwilioConfig = serde_yaml_ng::from_str(&format!(
            "{{account_sid: AC123, auth_token: tok, to: ['+15550001', '+15550002'], api_url: '{url}'{extra}}}"
        ))
        .unwrap();
        c.build(&GlobalDefaults::default()).unwrap()
    }

    #[tokio::test]
    async fn one_form_post_per_number() {
        let peer = HttpPeer::start(vec![Answer(201, vec![], "{\"sid\":\"SM1\"}")]).await;
        let t = build(&peer.url, ", from: '+15559999'");
        t.send(&notification(2)).await.unwrap();
        let rs = peer.taken();
        assert_eq!(rs.len(), 2);
        for (r, to) in rs.iter().zip(["+15550001", "+15550002"]) {
            assert_eq!(r.uri.path(), "/2010-04-01/Accounts/AC123/Messages.json");
            assert_eq!(r.header("authorization"), Some("Basic QUMxMjM6dG9r"));
            assert_eq!(
                r.header("content-type"),
                Some("application/x-www-form-urlencoded")
            );
            assert_eq!(
                r.form(),
                vec![
                    ("To".to_string(), to.to_string()),
                    ("From".to_string(), "+15559999".to_string()),
                    (
                        "Body".to_string(),
                        "[CRIT] HighErrorRate checkout x2: Error rate 12%".to_string()
                    ),
                ]
            );
        }
    }

    #[tokio::test]
    async fn messaging_service_and_errors() {
        let peer = HttpPeer::start(vec![Answer(
            400,
            vec![],
            "{\"code\":21211,\"message\":\"invalid To\"}",
        )])
        .await;
        let t = build(&peer.url, ", messaging_service_sid: MG1");
        let e = t.send(&resolved(1)).await.unwrap_err();
        assert_eq!(e.kind, SendErrorKind::Final);
        assert!(
            e.message.contains("21211") && !e.message.contains("tok"),
            "{e}"
        );
        let r = &peer.taken()[0];
        assert_eq!(
            r.form()[1],
            ("MessagingServiceSid".to_string(), "MG1".to_string())
        );
        assert_eq!(r.form()[2].1, "[OK] HighErrorRate checkout: Error rate 12%");
        assert_eq!(peer.taken().len(), 1, "stops at the first failure");
    }

    proptest! {
        #[test]
        fn texts_fit_two_segments(summary in ".{0,600}", n in 1usize..30, svc in "[a-z]{0,400}") {
            let mut notif = notification(n);
            notif.common_annotations.insert("summary".into(), summary);
            notif.group_labels.insert("service".into(), svc);
            let t = text(&notif);
            prop_assert!(t.chars().count() <= MAX_CHARS, "{}", t.chars().count());
            prop_assert!(t.starts_with("[CRIT] HighErrorRate"));
        }
    }
}

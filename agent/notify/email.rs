//! `email_configs`: one mail per notification through an SMTP smarthost (lettre, async on
//! tokio, rustls): STARTTLS when `require_tls` (the default), implicit TLS on port 465,
//! AUTH PLAIN/LOGIN when `auth_username` is set, a multipart/alternative body (plain text and
//! HTML) and Alertmanager's default subject (`[FIRING:2] HighErrorRate checkout`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;

use super::http::TlsConfig;
use super::{FieldTemplates, GlobalDefaults, Notification, SendError, secret_of, timeout_or};
use crate::config::{FieldError, PromDuration, Secret};

/// The timeout when `timeout` is not set (connection and each SMTP command).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// One `email_configs` entry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// Whether resolved notifications are sent (default false, as Alertmanager).
    #[serde(default)]
    pub send_resolved: bool,
    /// The recipients, comma-separated; a template.
    #[serde(default)]
    pub to: String,
    /// The sender (default `global.smtp_from`); a template.
    pub from: Option<String>,
    /// The EHLO name (default `global.smtp_hello`, else `localhost`).
    pub hello: Option<String>,
    /// The SMTP server, `host:port` (default `global.smtp_smarthost`). Port 465 is implicit
    /// TLS.
    pub smarthost: Option<String>,
    /// The user to authenticate as (default `global.smtp_auth_username`); no AUTH when empty.
    pub auth_username: Option<String>,
    /// The password (default `global.smtp_auth_password`).
    #[serde(default)]
    pub auth_password: Secret,
    /// A file holding the password.
    pub auth_password_file: Option<PathBuf>,
    /// Require STARTTLS (default `global.smtp_require_tls`, else true). Ignored on port 465.
    pub require_tls: Option<bool>,
    /// TLS options (`insecure_skip_verify` for self-signed test servers).
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// The HTML body (default `{{ template "email.default.html" . }}`; empty: none).
    pub html: Option<String>,
    /// The plain-text body (default `{{ template "email.default.text" . }}`; empty: none).
    pub text: Option<String>,
    /// Extra headers, values are templates; `Subject` defaults to
    /// `{{ template "email.default.subject" . }}`, `To` and `From` to the fields above.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// How long connecting and each SMTP command may take (default 30s).
    pub timeout: Option<PromDuration>,
}

/// A built email integration.
pub struct Email {
    pub(crate) send_resolved: bool,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    templates: FieldTemplates,
    has_html: bool,
    has_text: bool,
    extra_headers: Vec<String>,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email").finish_non_exhaustive()
    }
}

impl EmailConfig {
    /// Validates and builds.
    pub fn build(&self, globals: &GlobalDefaults) -> Result<Email, Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.to.trim().is_empty() {
            errors.push(FieldError::new("to", "missing"));
        }
        let from = self.from.clone().or_else(|| globals.smtp_from.clone());
        if from.as_deref().is_none_or(str::is_empty) {
            errors.push(FieldError::new("from", "missing (and no global.smtp_from)"));
        }
        let hello = self
            .hello
            .clone()
            .or_else(|| globals.smtp_hello.clone())
            .unwrap_or_else(|| "localhost".to_string());
        let smarthost = self
            .smarthost
            .clone()
            .or_else(|| globals.smtp_smarthost.clone());
        let (host, port) = match smarthost.as_deref().map(str::trim) {
            None | Some("") => {
                errors.push(FieldError::new(
                    "smarthost",
                    "missing (and no global.smtp_smarthost)",
                ));
                (String::new(), 0)
            }
            Some(s) => match s.rsplit_once(':').map(|(h, p)| (h, p.parse::<u16>())) {
                Some((h, Ok(p))) if !h.is_empty() && p != 0 => (
                    h.trim_start_matches('[').trim_end_matches(']').to_string(),
                    p,
                ),
                _ => {
                    errors.push(FieldError::new(
                        "smarthost",
                        format!("{s:?} is not host:port, e.g. smtp.example.com:587"),
                    ));
                    (String::new(), 0)
                }
            },
        };
        let mut password = secret_of(
            "auth_password",
            &self.auth_password,
            self.auth_password_file.as_ref(),
            &mut errors,
        );
        let username = self
            .auth_username
            .clone()
            .or_else(|| globals.smtp_auth_username.clone())
            .unwrap_or_default();
        if password.is_empty() && self.auth_password_file.is_none() {
            password = globals.smtp_auth_password.clone().unwrap_or_default();
        }
        let require_tls = self
            .require_tls
            .or(globals.smtp_require_tls)
            .unwrap_or(true);

        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in &self.headers {
            let name = canonical(k);
            if HeaderName::new_from_ascii(name.clone()).is_err() {
                errors.push(FieldError::new(format!("headers.{k}"), "not a header name"));
            }
            headers.insert(name, v.clone());
        }
        headers
            .entry("Subject".into())
            .or_insert_with(|| r#"{{ template "email.default.subject" . }}"#.into());
        headers
            .entry("To".into())
            .or_insert_with(|| self.to.clone());
        headers
            .entry("From".into())
            .or_insert_with(|| from.clone().unwrap_or_default());
        let html = self
            .html
            .clone()
            .unwrap_or_else(|| r#"{{ template "email.default.html" . }}"#.into());
        let text = self
            .text
            .clone()
            .unwrap_or_else(|| r#"{{ template "email.default.text" . }}"#.into());
        let mut fields: Vec<(String, String)> = vec![
            ("to".into(), self.to.clone()),
            ("from".into(), from.clone().unwrap_or_default()),
            ("html".into(), html.clone()),
            ("text".into(), text.clone()),
        ];
        for (k, v) in &headers {
            fields.push((format!("headers.{k}"), v.clone()));
        }
        let refs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let templates = FieldTemplates::build(globals, &refs, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }

        let timeout = timeout_or(self.timeout, DEFAULT_TIMEOUT);
        let insecure = self.tls_config.insecure_skip_verify;
        let mut tls_errors = Vec::new();
        let files = self.tls_config.read(&mut tls_errors);
        let server_name = self
            .tls_config
            .server_name
            .clone()
            .unwrap_or_else(|| host.clone());
        let mut params = TlsParameters::builder(server_name)
            .dangerous_accept_invalid_certs(insecure)
            .dangerous_accept_invalid_hostnames(insecure);
        if let Some(ca) = &files.ca {
            match lettre::transport::smtp::client::Certificate::from_pem(ca) {
                Ok(c) => params = params.add_root_certificate(c),
                Err(e) => tls_errors.push(FieldError::new(
                    "ca_file",
                    format!("not a PEM certificate: {e}"),
                )),
            }
        }
        if let Some((cert, key)) = &files.identity {
            match lettre::transport::smtp::client::Identity::from_pem(cert, key) {
                Ok(id) => params = params.identify_with(id),
                Err(e) => tls_errors.push(FieldError::new(
                    "cert_file",
                    format!("the certificate and key do not load: {e}"),
                )),
            }
        }
        if files.tls13_only {
            params =
                params.set_min_tls_version(lettre::transport::smtp::client::TlsVersion::Tlsv13);
        }
        if !tls_errors.is_empty() {
            return Err(tls_errors
                .into_iter()
                .map(|e| e.under("tls_config"))
                .collect());
        }
        let params = params.build_rustls();
        let tls = match params {
            Ok(p) if port == 465 => Tls::Wrapper(p),
            Ok(p) if require_tls => Tls::Required(p),
            Ok(_) => Tls::None,
            Err(e) => {
                return Err(vec![FieldError::new(
                    "tls_config",
                    format!("cannot set up TLS: {e}"),
                )]);
            }
        };
        crate::net::tls::install_crypto_provider();
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .tls(tls)
            .hello_name(ClientId::Domain(hello))
            .timeout(Some(timeout));
        if !username.is_empty() {
            builder = builder
                .credentials(Credentials::new(username, password.expose().to_string()))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        Ok(Email {
            send_resolved: self.send_resolved,
            transport: builder.build(),
            templates,
            has_html: !html.is_empty(),
            has_text: !text.is_empty(),
            extra_headers: headers.into_keys().collect(),
        })
    }
}

/// `content-type` → `Content-Type`, as Go's `textproto.CanonicalMIMEHeaderKey`.
fn canonical(k: &str) -> String {
    k.split('-')
        .map(|p| {
            let mut c = p.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn mailboxes(field: &str, list: &str) -> Result<Vec<Mailbox>, SendError> {
    let out: Result<Vec<Mailbox>, _> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<Mailbox>()
                .map_err(|e| SendError::fatal(format!("email: {field} {s:?}: {e}")))
        })
        .collect();
    let out = out?;
    if out.is_empty() {
        return Err(SendError::fatal(format!("email: {field} is empty")));
    }
    Ok(out)
}

impl Email {
    /// The mail for `n`.
    pub fn message(&self, n: &Notification) -> Result<Message, SendError> {
        let data = n.template_data();
        let r = |f: &str| self.templates.render(f, &data);
        let mut b = Message::builder();
        for m in mailboxes("from", &r("headers.From")?)? {
            b = b.from(m);
        }
        for m in mailboxes("to", &r("headers.To")?)? {
            b = b.to(m);
        }
        // The envelope's recipients are `to`; a `To` header only changes what is shown.
        let envelope_to = mailboxes("to", &r("to")?)?;
        let envelope_from = mailboxes("from", &r("from")?)?;
        // A Message-ID (`<uuid@hostname>`), as Alertmanager sets one; lettre adds `Date`.
        b = b.subject(r("headers.Subject")?.trim()).message_id(None);
        for name in &self.extra_headers {
            if matches!(name.as_str(), "Subject" | "To" | "From") {
                continue;
            }
            let value = r(&format!("headers.{name}"))?;
            let hn = HeaderName::new_from_ascii(name.clone())
                .map_err(|_| SendError::fatal(format!("email: bad header name {name:?}")))?;
            b = b.raw_header(HeaderValue::new(hn, value));
        }
        let envelope = lettre::address::Envelope::new(
            envelope_from.first().map(|m| m.email.clone()),
            envelope_to.into_iter().map(|m| m.email).collect(),
        )
        .map_err(|e| SendError::fatal(format!("email: envelope: {e}")))?;
        b = b.envelope(envelope);
        let html = if self.has_html {
            Some(r("html")?)
        } else {
            None
        };
        let text = if self.has_text {
            Some(r("text")?)
        } else {
            None
        };
        let built = match (text, html) {
            (Some(t), Some(h)) => b.multipart(
                MultiPart::alternative()
                    .singlepart(SinglePart::plain(t))
                    .singlepart(SinglePart::html(h)),
            ),
            (Some(t), None) => b.singlepart(SinglePart::plain(t)),
            (None, Some(h)) => b.singlepart(SinglePart::html(h)),
            (None, None) => b.body(String::new()),
        };
        built.map_err(|e| SendError::fatal(format!("email: cannot build the message: {e}")))
    }

    /// Sends one mail; permanent SMTP refusals (5xx) are final, the rest retryable.
    pub async fn send(&self, n: &Notification) -> Result<(), SendError> {
        let msg = self.message(n)?;
        match self.transport.send(msg).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => {
                Err(SendError::fatal(format!("email: {}", smtp_error(&e))))
            }
            Err(e) => Err(SendError::retryable(
                format!("email: {}", smtp_error(&e)),
                None,
            )),
        }
    }
}

/// lettre's error text, with a part its source repeats said once ("Connection error:
/// Connection error: invalid peer certificate" reads "Connection error: invalid peer
/// certificate").
fn smtp_error(e: &lettre::transport::smtp::Error) -> String {
    let text = e.to_string();
    let mut parts: Vec<&str> = Vec::new();
    for p in text.split(": ") {
        if parts.last() != Some(&p) {
            parts.push(p);
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::super::SendErrorKind;
    use super::super::testing::{SmtpPeer, notification};
    use super::*;

    fn build(yaml: &str) -> Email {
        let c: EmailConfig = serde_yaml_ng::from_str(yaml).unwrap();
        c.build(&GlobalDefaults::default()).unwrap()
    }

    #[tokio::test]
    async fn starttls_trusts_the_ca_file_and_refuses_an_unknown_certificate() {
        let peer = SmtpPeer::start(true, None).await;
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, peer.cert_pem.clone().unwrap()).unwrap();
        let e = build(&format!(
            "{{to: ops@example.com, from: vitals@example.com, smarthost: '{}', \
             tls_config: {{ca_file: '{}', server_name: localhost}}}}",
            peer.addr,
            ca.display()
        ));
        e.send(&notification(1)).await.unwrap();
        assert!(peer.mails()[0].tls, "STARTTLS was used");
        // Without the CA the self-signed certificate is refused, and retrying cannot help.
        let e = build(&format!(
            "{{to: ops@example.com, from: vitals@example.com, smarthost: '{}', \
             tls_config: {{server_name: localhost}}}}",
            peer.addr
        ));
        let err = e.send(&notification(1)).await.unwrap_err();
        assert!(err.message.contains("certificate"), "{err:?}");
        assert!(
            !err.message.contains("error: Connection error"),
            "said once: {err:?}"
        );
        assert_eq!(peer.mails().len(), 1);
        // Bad files are configuration errors at their field.
        let c: EmailConfig = serde_yaml_ng::from_str(
            "{to: a@b.c, from: v@b.c, smarthost: 'h:25', tls_config: {ca_file: /nonexistent.pem, cert_file: /x.pem, min_version: TLS10}}",
        )
        .unwrap();
        let errs = c.build(&GlobalDefaults::default()).unwrap_err();
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"tls_config.ca_file"), "{errs:?}");
        assert!(paths.contains(&"tls_config.cert_file"), "{errs:?}");
        assert!(paths.contains(&"tls_config.min_version"), "{errs:?}");
    }

    #[tokio::test]
    async fn starttls_auth_and_a_multipart_mail() {
        let peer = SmtpPeer::start(true, Some(("vitals", "pa55"))).await;
        let e = build(&format!(
            "{{to: 'ops@example.com, oncall@example.com', from: 'vitals@example.com', \
             smarthost: '{}', hello: vitals.local, auth_username: vitals, auth_password: pa55, \
             tls_config: {{insecure_skip_verify: true}}, headers: {{x-team: '{{{{ .CommonLabels.service }}}}'}}}}",
            peer.addr
        ));
        e.send(&notification(2)).await.unwrap();
        let mails = peer.mails();
        assert_eq!(mails.len(), 1);
        let m = &mails[0];
        assert!(m.tls, "STARTTLS was used");
        assert_eq!(m.ehlo, "vitals.local");
        assert_eq!(m.auth.as_deref(), Some("vitals:pa55"));
        assert_eq!(m.from, "vitals@example.com");
        assert_eq!(m.rcpts, vec!["ops@example.com", "oncall@example.com"]);
        let d = &m.data;
        assert!(
            d.contains("Subject: [FIRING:2] HighErrorRate checkout (critical)\r\n"),
            "{d}"
        );
        assert!(d.contains("From: vitals@example.com\r\n"), "{d}");
        assert!(
            d.contains("To: ops@example.com, oncall@example.com\r\n"),
            "{d}"
        );
        assert!(d.contains("X-Team: checkout\r\n"), "{d}");
        assert!(
            d.contains("\r\nDate: ") && d.contains("\r\nMessage-ID: <"),
            "{d}"
        );
        assert!(d.contains("Content-Type: multipart/alternative;"), "{d}");
        let plain = d
            .find("Content-Type: text/plain; charset=utf-8")
            .expect("text part");
        let html = d
            .find("Content-Type: text/html; charset=utf-8")
            .expect("html part");
        assert!(plain < html, "text first, HTML last (preferred)");
        assert!(d.contains("instance = pod-1"), "{d}");
        assert!(d.contains("<h3>[2] Firing</h3>"), "{d}");
    }

    #[tokio::test]
    async fn plain_smtp_without_tls_and_refusals() {
        let peer = SmtpPeer::start(false, None).await;
        let e = build(&format!(
            "{{to: 'ops@example.com', from: 'vitals@example.com', smarthost: '{}', \
             require_tls: false, html: ''}}",
            peer.addr
        ));
        e.send(&notification(1)).await.unwrap();
        let m = &peer.mails()[0];
        assert!(!m.tls && m.auth.is_none());
        assert!(
            m.data.contains("Content-Type: text/plain; charset=utf-8"),
            "{}",
            m.data
        );
        assert!(!m.data.contains("multipart"), "{}", m.data);

        // A server without STARTTLS while TLS is required: retryable (not sent in clear).
        let e = build(&format!(
            "{{to: 'ops@example.com', from: 'vitals@example.com', smarthost: '{}'}}",
            peer.addr
        ));
        let err = e.send(&notification(1)).await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert_eq!(peer.mails().len(), 1);

        // A refused recipient (550) is final.
        let e = build(&format!(
            "{{to: 'nobody@refused.example', from: 'vitals@example.com', smarthost: '{}', require_tls: false}}",
            peer.addr
        ));
        let err = e.send(&notification(1)).await.unwrap_err();
        assert_eq!(err.kind, SendErrorKind::Final, "{err}");
    }

    #[tokio::test]
    async fn a_wrong_password_never_shows_in_the_error() {
        let peer = SmtpPeer::start(true, Some(("vitals", "right"))).await;
        let e = build(&format!(
            "{{to: 'ops@example.com', from: 'vitals@example.com', smarthost: '{}', \
             auth_username: vitals, auth_password: wrong-sekrit, tls_config: {{insecure_skip_verify: true}}}}",
            peer.addr
        ));
        let err = e.send(&notification(1)).await.unwrap_err();
        assert_eq!(err.kind, SendErrorKind::Final, "{err}");
        assert!(!err.message.contains("wrong-sekrit"), "{err}");
    }

    #[test]
    fn globals_fill_in_and_errors_name_fields() {
        let globals = GlobalDefaults {
            smtp_from: Some("g@example.com".into()),
            smtp_smarthost: Some("smtp.example.com:587".into()),
            ..GlobalDefaults::default()
        };
        let c: EmailConfig = serde_yaml_ng::from_str("{to: a@example.com}").unwrap();
        assert!(c.build(&globals).is_ok());
        let c: EmailConfig = serde_yaml_ng::from_str("{smarthost: nohost}").unwrap();
        let errs = c.build(&GlobalDefaults::default()).unwrap_err();
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, vec!["to", "from", "smarthost"]);
    }
}

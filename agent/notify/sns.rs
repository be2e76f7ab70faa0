//! `sns_configs`: Amazon SNS `Publish` through the AWS SDK, to a topic, a phone number (SMS) or
//! a target ARN, in Alertmanager's schema (`api_url`, `sigv4`, `topic_arn`, `phone_number`,
//! `target_arn`, `subject`, `message`, `attributes`, `send_resolved`).
//!
//! This module owns the config, its validation, the SDK client (built once per integration,
//! sharing one rustls/ring HTTPS client) and what an SDK error means for delivery:
//! throttling, 5xx, timeouts and connection failures are retryable; other service errors
//! (`InvalidParameter`, `AuthorizationError`, `NotFound`…) are final with AWS's message.
//!
//! Credentials: `sigv4.access_key`/`secret_key` when given, else the SDK's standard chain
//! (environment, `sigv4.profile` or the default profile, web identity, ECS, IMDS), resolved
//! lazily on the first send; `sigv4.role_arn` assumes that role through STS with those as
//! the base. The region: `sigv4.region`, else `AWS_REGION`/`AWS_DEFAULT_REGION`, else the
//! topic's or target's ARN, else (on the first send) the profile or IMDS.
//!
//! Texts: an SMS (`phone_number`) without a `message` gets the short form
//! [`super::twilio::text`] uses (`[CRIT] HighErrorRate checkout x2: Error rate 12%`, at most
//! 306 characters: two segments) and no subject; a configured SMS message is cut to 1,600
//! characters, and topic/target messages to 256 KiB, with the `truncated` attribute set as
//! Alertmanager does. Subjects are made what SNS accepts (printable ASCII, under 100
//! characters). The destination fields and attribute names are taken literally (validated
//! at build); `subject`, `message` and attribute values are templates.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_sns::Client;
use aws_sdk_sns::config::{Credentials, Region, SharedCredentialsProvider};
use aws_sdk_sns::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sns::operation::publish::PublishError;
use aws_sdk_sns::types::MessageAttributeValue;
use serde::Deserialize;
use tokio::sync::OnceCell;

use super::http::check_url;
use super::{
    FieldTemplates, GlobalDefaults, Notification, SendError, default_true, truncate, twilio,
};
use crate::config::{FieldError, Secret};
use crate::net::aws::{self, AwsSetup};

/// How long one Publish may take, connection and signing included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// SNS's limit for an SMS message, in characters (Alertmanager cuts there).
pub const MAX_SMS_CHARS: usize = 1600;
/// SNS's limit for any other message, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// SNS subjects must be shorter than 100 characters.
const MAX_SUBJECT: usize = 99;

/// One `sns_configs` entry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnsConfig {
    /// Whether resolved notifications are sent (default true).
    #[serde(default = "default_true")]
    pub send_resolved: bool,
    /// The SNS endpoint (default the region's; VPC endpoints, tests).
    pub api_url: Option<String>,
    /// Region and credentials.
    #[serde(default)]
    pub sigv4: SigV4Config,
    /// Publish to this topic…
    pub topic_arn: Option<String>,
    /// …or text this number (E.164)…
    pub phone_number: Option<String>,
    /// …or publish to this endpoint (a mobile push endpoint's ARN).
    pub target_arn: Option<String>,
    /// The subject (default `{{ template "sns.default.subject" . }}`; not sent with SMS
    /// unless set).
    pub subject: Option<String>,
    /// The message (default `{{ template "sns.default.message" . }}`; SMS: the short text).
    pub message: Option<String>,
    /// String message attributes; the values are templates.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// Alertmanager's `sigv4` block.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigV4Config {
    /// The AWS region (`eu-west-1`).
    pub region: Option<String>,
    /// A static access key id (with `secret_key`).
    pub access_key: Option<String>,
    /// The static secret access key.
    #[serde(default)]
    pub secret_key: Secret,
    /// A named profile of the shared config and credentials files.
    pub profile: Option<String>,
    /// A role to assume with the credentials found.
    pub role_arn: Option<String>,
}

/// Where a Publish goes.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Destination {
    Topic(String),
    Phone(String),
    Target(String),
}

/// A built SNS integration.
pub struct Sns {
    pub(crate) send_resolved: bool,
    /// Built at `build` when the region is known there, else on the first send.
    client: OnceCell<Client>,
    setup: Arc<AwsSetup>,
    destination: Destination,
    templates: FieldTemplates,
    custom_subject: bool,
    custom_message: bool,
    attributes: Vec<String>,
}

impl fmt::Debug for Sns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the SDK config: it holds the credentials provider.
        f.debug_struct("Sns")
            .field("send_resolved", &self.send_resolved)
            .field("destination", &self.destination)
            .field("region", &self.setup.region)
            .field("endpoint", &self.setup.endpoint)
            .finish_non_exhaustive()
    }
}

/// The SNS client: no SDK retries (the alerting stage retries), bounded time.
fn sns_client(setup: &AwsSetup, region: Region, credentials: SharedCredentialsProvider) -> Client {
    let mut b = aws_sdk_sns::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region)
        .credentials_provider(credentials)
        .http_client(setup.http.clone())
        .retry_config(aws_sdk_sns::config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_sdk_sns::config::timeout::TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_timeout(DEFAULT_TIMEOUT)
                .build(),
        );
    if let Some(e) = &setup.endpoint {
        b = b.endpoint_url(e);
    }
    Client::from_conf(b.build())
}

/// The client made on the first send when the region was not known at build.
async fn late_client(setup: &AwsSetup) -> Result<Client, SendError> {
    let sdk = setup.sdk_config().await;
    let region = sdk.region().cloned().ok_or_else(|| {
        SendError::retryable("sns: no AWS region (set sigv4.region or AWS_REGION)", None)
    })?;
    let credentials = setup
        .credentials(&sdk)
        .await
        .ok_or_else(|| SendError::retryable("sns: no AWS credentials found", None))?;
    Ok(sns_client(setup, region, credentials))
}

/// `+` and 7 to 15 digits, as [`twilio`] checks its numbers.
fn check_e164(field: &str, n: &str, errors: &mut Vec<FieldError>) {
    if !twilio::is_e164(n) {
        errors.push(FieldError::new(
            field,
            format!("{n:?} is not an E.164 number (+15551234567)"),
        ));
    }
}

/// `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`; returns the region when well formed.
fn arn_region<'a>(field: &str, arn: &'a str, errors: &mut Vec<FieldError>) -> Option<&'a str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() < 6 || parts[0] != "arn" || parts[1].is_empty() || parts[5].is_empty() {
        errors.push(FieldError::new(
            field,
            format!("{arn:?} is not an ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"),
        ));
        return None;
    }
    Some(parts[3]).filter(|r| !r.is_empty())
}

/// The region from the environment, as the SDK's first provider reads it.
fn env_region() -> Option<String> {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
}

impl SnsConfig {
    /// Validates and builds (the SDK client too, when the region is known).
    pub fn build(&self, globals: &GlobalDefaults) -> Result<Sns, Vec<FieldError>> {
        let mut errors = Vec::new();
        let set: Vec<(&str, &String)> = [
            ("topic_arn", &self.topic_arn),
            ("phone_number", &self.phone_number),
            ("target_arn", &self.target_arn),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
        .collect();
        let mut arn_region_found = None;
        let destination = match set.as_slice() {
            [] => {
                errors.push(FieldError::new(
                    "topic_arn",
                    "missing: set one of topic_arn, phone_number or target_arn",
                ));
                None
            }
            [(key, value)] => match *key {
                "phone_number" => {
                    check_e164(key, value, &mut errors);
                    Some(Destination::Phone(value.to_string()))
                }
                "topic_arn" => {
                    arn_region_found = arn_region(key, value, &mut errors);
                    Some(Destination::Topic(value.to_string()))
                }
                _ => {
                    arn_region_found = arn_region(key, value, &mut errors);
                    Some(Destination::Target(value.to_string()))
                }
            },
            [(first, _), rest @ ..] => {
                for (key, _) in rest {
                    errors.push(FieldError::new(
                        *key,
                        format!(
                            "set only one of topic_arn, phone_number or target_arn ({first} is set)"
                        ),
                    ));
                }
                None
            }
        };
        if let Some(url) = &self.api_url {
            check_url("api_url", url, &mut errors);
        }
        let sigv4 = &self.sigv4;
        let region = match &sigv4.region {
            Some(r) => {
                if r.is_empty()
                    || !r
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                {
                    errors.push(FieldError::new(
                        "sigv4.region",
                        format!("{r:?} is not a region (eu-west-1)"),
                    ));
                }
                Some(r.clone())
            }
            None => env_region().or(arn_region_found.map(str::to_string)),
        };
        let static_keys = match (&sigv4.access_key, sigv4.secret_key.is_empty()) {
            (None, true) => None,
            (Some(k), false) if !k.is_empty() => Some(Credentials::new(
                k.clone(),
                sigv4.secret_key.expose().to_string(),
                None,
                None,
                "sigv4",
            )),
            (Some(_), true) => {
                errors.push(FieldError::new(
                    "sigv4.secret_key",
                    "missing (access_key is set)",
                ));
                None
            }
            _ => {
                errors.push(FieldError::new(
                    "sigv4.access_key",
                    "missing (secret_key is set)",
                ));
                None
            }
        };
        if static_keys.is_some() && sigv4.profile.is_some() {
            errors.push(FieldError::new(
                "sigv4.profile",
                "set a profile or access_key/secret_key, not both",
            ));
        }
        if let Some(role) = &sigv4.role_arn {
            arn_region("sigv4.role_arn", role, &mut errors);
        }
        let subject = self
            .subject
            .as_deref()
            .unwrap_or(r#"{{ template "sns.default.subject" . }}"#);
        let message = self
            .message
            .as_deref()
            .unwrap_or(r#"{{ template "sns.default.message" . }}"#);
        let mut fields = vec![
            ("subject".to_string(), subject),
            ("message".to_string(), message),
        ];
        for (k, v) in &self.attributes {
            let at = format!("attributes.{k}");
            if k.is_empty() || k.len() > 256 || k.starts_with("AWS.") || k.starts_with("Amazon.") {
                errors.push(FieldError::new(
                    &at,
                    "attribute names are 1 to 256 characters, not starting AWS. or Amazon.",
                ));
            }
            fields.push((at, v.as_str()));
        }
        let field_refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let templates = FieldTemplates::build(globals, &field_refs, &mut errors);
        let Some(destination) = destination.filter(|_| errors.is_empty()) else {
            return Err(errors);
        };
        let setup = Arc::new(AwsSetup {
            http: aws::https_client(),
            region: region.map(Region::new),
            endpoint: self.api_url.clone(),
            static_keys,
            profile: sigv4.profile.clone(),
            role_arn: sigv4.role_arn.clone(),
        });
        let client = match &setup.region {
            Some(r) => OnceCell::new_with(Some(sns_client(&setup, r.clone(), setup.provider()))),
            None => OnceCell::new(),
        };
        Ok(Sns {
            send_resolved: self.send_resolved,
            client,
            setup,
            destination,
            templates,
            custom_subject: self.subject.is_some(),
            custom_message: self.message.is_some(),
            attributes: self.attributes.keys().cloned().collect(),
        })
    }
}

/// At most `max` characters; whether it was cut.
fn cut_chars(s: String, max: usize) -> (String, bool) {
    if s.chars().count() <= max {
        return (s, false);
    }
    (s.chars().take(max).collect(), true)
}

/// What SNS takes as a subject: printable ASCII (others become `?`, line breaks spaces),
/// under 100 characters.
fn subject_text(s: &str) -> String {
    let clean: String = s
        .trim()
        .chars()
        .map(|c| match c {
            ' '..='~' => c,
            c if c.is_whitespace() || c.is_control() => ' ',
            _ => '?',
        })
        .collect();
    truncate(&clean, MAX_SUBJECT)
        .replace('…', "")
        .trim_end()
        .to_string()
}

/// A string message attribute.
fn attribute(value: String) -> Result<MessageAttributeValue, SendError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| SendError::fatal(format!("sns: attribute: {e}")))
}

/// Throttling codes of AWS's Query protocol services.
fn throttled(code: &str) -> bool {
    code.contains("Throttl")
        || matches!(
            code,
            "TooManyRequestsException"
                | "RequestLimitExceeded"
                | "LimitExceededException"
                | "SlowDown"
        )
}

/// What a failed Publish means for delivery.
fn classify(e: SdkError<PublishError, aws_sdk_sns::config::http::HttpResponse>) -> SendError {
    match &e {
        SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            let code = s.err().code().unwrap_or("unknown error");
            let message = s.err().message().unwrap_or_default();
            let text = format!("sns: {code}: {message} (HTTP {status})");
            if throttled(code) || status == 429 || status >= 500 {
                SendError::retryable(text, None)
            } else {
                SendError::fatal(text)
            }
        }
        SdkError::ResponseError(r) => {
            let status = r.raw().status().as_u16();
            let text = format!(
                "sns: unreadable answer (HTTP {status}): {}",
                DisplayErrorContext(&e)
            );
            if status == 429 || status >= 500 || (200..300).contains(&status) {
                SendError::retryable(text, None)
            } else {
                SendError::fatal(text)
            }
        }
        SdkError::TimeoutError(_) => SendError::retryable("sns: timed out", None),
        SdkError::DispatchFailure(_) => {
            SendError::retryable(format!("sns: {}", DisplayErrorContext(&e)), None)
        }
        // Identity resolution (the credential chain, STS) fails here: maybe transient.
        _ => SendError::retryable(format!("sns: {}", DisplayErrorContext(&e)), None),
    }
}

impl Sns {
    /// The message for `n` and whether it was cut.
    fn message(&self, n: &Notification) -> Result<(String, bool), SendError> {
        let data = n.template_data();
        Ok(match (&self.destination, self.custom_message) {
            (Destination::Phone(_), false) => (twilio::text(n), false),
            (Destination::Phone(_), true) => {
                cut_chars(self.templates.render("message", &data)?, MAX_SMS_CHARS)
            }
            _ => {
                let m = self.templates.render("message", &data)?;
                if m.len() > MAX_MESSAGE_BYTES {
                    (truncate(&m, MAX_MESSAGE_BYTES), true)
                } else {
                    (m, false)
                }
            }
        })
    }

    /// Publishes `n` once.
    pub async fn send(&self, n: &Notification) -> Result<(), SendError> {
        let client = self
            .client
            .get_or_try_init(|| late_client(&self.setup))
            .await?;
        let data = n.template_data();
        let (message, truncated) = self.message(n)?;
        if message.trim().is_empty() {
            return Err(SendError::fatal("sns: the message rendered empty"));
        }
        let mut req = client.publish().message(message);
        req = match &self.destination {
            Destination::Topic(arn) => {
                let req = req.topic_arn(arn);
                if arn.ends_with(".fifo") {
                    let group = xxhash_rust::xxh64::xxh64(n.group_key.as_bytes(), 0);
                    req.message_group_id(format!("{group:016x}"))
                        .message_deduplication_id(&n.id)
                } else {
                    req
                }
            }
            Destination::Phone(p) => req.phone_number(p),
            Destination::Target(arn) => req.target_arn(arn),
        };
        if self.custom_subject || !matches!(self.destination, Destination::Phone(_)) {
            let subject = subject_text(&self.templates.render("subject", &data)?);
            if !subject.is_empty() {
                req = req.subject(subject);
            }
        }
        for k in &self.attributes {
            let v = self.templates.render(&format!("attributes.{k}"), &data)?;
            if !v.is_empty() {
                req = req.message_attributes(k, attribute(v)?);
            }
        }
        if truncated {
            req = req.message_attributes("truncated", attribute("true".into())?);
        }
        req.send().await.map(|_| ()).map_err(classify)
    }
}

#[cfg(test)]
mod tests {
    use super::super::SendErrorKind;
    use super::super::testing::{Answer, HttpPeer, dead_url, notification, resolved};
    use super::*;

    const PUBLISHED: &str = r#"<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">
  <PublishResult><MessageId>567910cd-659e-55d4-8ccb-5aaf14679dc0</MessageId></PublishResult>
  <ResponseMetadata><RequestId>d74b8436-ae13-5ab4-a9ff-ce54dfea72a0</RequestId></ResponseMetadata>
</PublishResponse>"#;

    fn error_xml(kind: &str, code: &str, message: &str) -> &'static str {
        Box::leak(
            format!(
                r#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"#
            )
            .into_boxed_str(),
        )
    }

    fn config(yaml: &str) -> SnsConfig {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    fn build(yaml: &str) -> Sns {
        config(yaml).build(&GlobalDefaults::default()).unwrap()
    }

    fn errors(yaml: &str) -> Vec<String> {
        config(yaml)
            .build(&GlobalDefaults::default())
            .unwrap_err()
            .into_iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect()
    }

    fn keys(url: &str) -> String {
        format!(
            "api_url: '{url}', sigv4: {{region: eu-west-1, access_key: AKIDTEST, secret_key: s3cr3t}}"
        )
    }

    #[test]
    fn validation_errors_carry_their_paths() {
        let e = errors("{sigv4: {region: eu-west-1}}");
        assert!(e[0].starts_with("topic_arn: missing"), "{e:?}");
        let e = errors("{phone_number: '+1', sigv4: {region: eu-west-1}}");
        assert!(
            e[0].starts_with("phone_number: \"+1\" is not an E.164"),
            "{e:?}"
        );
        let e = errors(
            "{phone_number: '+15550001', topic_arn: 'arn:aws:sns:eu-west-1:1:t', sigv4: {region: eu-west-1}}",
        );
        assert!(e[0].starts_with("phone_number: set only one"), "{e:?}");
        let e = errors("{topic_arn: 'sns:topic', sigv4: {region: eu-west-1}}");
        assert!(
            e[0].starts_with("topic_arn: \"sns:topic\" is not an ARN"),
            "{e:?}"
        );
        let e = errors(
            "{target_arn: 'arn:aws:sns:eu-west-1:1:endpoint/x', api_url: 'ftp://x', sigv4: {region: EU, access_key: AK, role_arn: nope}, subject: '{{ .Nope', attributes: {AWS.x: v}}",
        );
        for p in [
            "api_url: must be an http",
            "sigv4.region: \"EU\" is not a region",
            "sigv4.secret_key: missing",
            "sigv4.role_arn: \"nope\" is not an ARN",
            "subject: bad template",
            "attributes.AWS.x: attribute names",
        ] {
            assert!(e.iter().any(|x| x.starts_with(p)), "{p} in {e:?}");
        }
        let e = errors("{phone_number: '+15550001', sigv4: {secret_key: s, profile: p}}");
        assert!(
            e.iter().any(|x| x.starts_with("sigv4.access_key: missing")),
            "{e:?}"
        );
        // The region comes from the topic's ARN when not given.
        let s = build("{topic_arn: 'arn:aws:sns:ap-south-1:123456789012:ops'}");
        if env_region().is_none() {
            assert_eq!(s.setup.region, Some(Region::new("ap-south-1")));
        }
        assert!(s.client.initialized());
        assert!(s.send_resolved);
    }

    #[test]
    fn paths_are_below_the_receiver() {
        let r: super::super::ReceiverConfig = serde_yaml_ng::from_str(
            "name: r\nsns_configs: [{phone_number: '+15550001', sigv4: {region: eu-west-1}}, {phone_number: '555'}]",
        )
        .unwrap();
        let e = r.build(&GlobalDefaults::default()).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].path, "sns_configs[1].phone_number");
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let s = build(&format!(
            "{{phone_number: '+15550001', {}}}",
            keys("http://x")
        ));
        let d = format!("{s:?}");
        assert!(!d.contains("s3cr3t") && d.contains("+15550001"), "{d}");
        let c = config(&format!(
            "{{phone_number: '+15550001', {}}}",
            keys("http://x")
        ));
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }

    #[test]
    fn sms_text_is_short() {
        let s = build(&format!(
            "{{phone_number: '+15550001', {}}}",
            keys("http://x")
        ));
        let (m, cut) = s.message(&notification(2)).unwrap();
        assert_eq!(m, "[CRIT] HighErrorRate checkout x2: Error rate 12%");
        assert!(!cut);
        let (m, _) = s.message(&resolved(1)).unwrap();
        assert_eq!(m, "[OK] HighErrorRate checkout: Error rate 12%");
        let mut big = notification(40);
        big.common_annotations
            .insert("summary".into(), "x".repeat(2000));
        let (m, _) = s.message(&big).unwrap();
        assert!(m.chars().count() <= twilio::MAX_CHARS, "{}", m.len());
        // A configured SMS message is cut at SNS's 1,600 characters, flagged.
        let s = build(&format!(
            "{{phone_number: '+15550001', message: '{{{{ range .Alerts }}}}{}{{{{ end }}}}', {}}}",
            "y".repeat(100),
            keys("http://x")
        ));
        let (m, cut) = s.message(&notification(20)).unwrap();
        assert_eq!((m.chars().count(), cut), (MAX_SMS_CHARS, true));
    }

    #[test]
    fn subjects_are_what_sns_accepts() {
        assert_eq!(subject_text("a\nb  é"), "a b  ?");
        assert!(subject_text(&"z".repeat(300)).len() < 100);
    }

    #[tokio::test]
    async fn publishes_an_sms_as_the_query_protocol_says() {
        let peer = HttpPeer::start(vec![Answer(
            200,
            vec![("content-type", "text/xml")],
            PUBLISHED,
        )])
        .await;
        let s = build(&format!(
            "{{phone_number: '+15550001', {}}}",
            keys(&peer.url)
        ));
        s.send(&notification(2)).await.unwrap();
        let rs = peer.taken();
        assert_eq!(rs.len(), 1);
        let r = &rs[0];
        assert_eq!(r.method, "POST");
        assert_eq!(r.uri.path(), "/");
        assert_eq!(
            r.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        let auth = r.header("authorization").unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
                && auth.contains("/eu-west-1/sns/aws4_request"),
            "{auth}"
        );
        assert!(!auth.contains("s3cr3t"));
        let form: BTreeMap<String, String> = r.form().into_iter().collect();
        assert_eq!(form["Action"], "Publish");
        assert_eq!(form["Version"], "2010-03-31");
        assert_eq!(form["PhoneNumber"], "+15550001");
        assert_eq!(
            form["Message"],
            "[CRIT] HighErrorRate checkout x2: Error rate 12%"
        );
        assert!(!form.contains_key("Subject"), "{form:?}");
        assert!(!form.contains_key("TopicArn"), "{form:?}");
    }

    #[tokio::test]
    async fn publishes_to_a_fifo_topic_with_subject_and_attributes() {
        let peer = HttpPeer::start(vec![Answer(200, vec![], PUBLISHED)]).await;
        let s = build(&format!(
            "{{topic_arn: 'arn:aws:sns:eu-west-1:123456789012:ops.fifo', attributes: {{team: '{{{{ .CommonLabels.service }}}}', empty: ''}}, {}}}",
            keys(&peer.url)
        ));
        let n = notification(2);
        s.send(&n).await.unwrap();
        let form: BTreeMap<String, String> = peer.taken()[0].form().into_iter().collect();
        assert_eq!(
            form["TopicArn"],
            "arn:aws:sns:eu-west-1:123456789012:ops.fifo"
        );
        assert_eq!(
            form["Subject"],
            "[FIRING:2] HighErrorRate checkout (critical)"
        );
        assert!(form["Message"].contains("Alerts Firing:"), "{form:?}");
        assert_eq!(form["MessageDeduplicationId"], n.id);
        assert_eq!(form["MessageGroupId"].len(), 16);
        assert_eq!(form["MessageAttributes.entry.1.Name"], "team");
        assert_eq!(form["MessageAttributes.entry.1.Value.DataType"], "String");
        assert_eq!(
            form["MessageAttributes.entry.1.Value.StringValue"],
            "checkout"
        );
        assert!(
            !form.contains_key("MessageAttributes.entry.2.Name"),
            "{form:?}"
        );
    }

    #[tokio::test]
    async fn errors_are_retryable_or_final_as_aws_means_them() {
        let throttled = error_xml("Sender", "Throttling", "Rate exceeded");
        let denied = error_xml(
            "Sender",
            "AuthorizationError",
            "User is not authorized to perform: SNS:Publish",
        );
        let invalid = error_xml(
            "Sender",
            "InvalidParameter",
            "Invalid parameter: PhoneNumber",
        );
        let peer = HttpPeer::start(vec![
            Answer(400, vec![], throttled),
            Answer(500, vec![], error_xml("Receiver", "InternalError", "oops")),
            Answer(403, vec![], denied),
            Answer(400, vec![], invalid),
            Answer(502, vec![], "<html>bad gateway</html>"),
        ])
        .await;
        let s = build(&format!(
            "{{phone_number: '+15550001', {}}}",
            keys(&peer.url)
        ));
        let n = notification(1);
        let e = s.send(&n).await.unwrap_err();
        assert_eq!(e.kind, SendErrorKind::Retryable { after: None }, "{e}");
        assert!(e.message.contains("Throttling"), "{e}");
        let e = s.send(&n).await.unwrap_err();
        assert!(e.is_retryable(), "{e}");
        let e = s.send(&n).await.unwrap_err();
        assert_eq!(e.kind, SendErrorKind::Final, "{e}");
        assert!(
            e.message
                .contains("AuthorizationError: User is not authorized"),
            "{e}"
        );
        let e = s.send(&n).await.unwrap_err();
        assert_eq!(e.kind, SendErrorKind::Final, "{e}");
        assert!(e.message.contains("Invalid parameter: PhoneNumber"), "{e}");
        let e = s.send(&n).await.unwrap_err();
        assert!(e.is_retryable(), "{e}");
        assert!(!e.message.contains("s3cr3t"), "{e}");
        assert_eq!(peer.taken().len(), 5, "no SDK retries");

        let dead = build(&format!(
            "{{phone_number: '+15550001', {}}}",
            keys(&dead_url().await)
        ));
        let e = dead.send(&n).await.unwrap_err();
        assert!(e.is_retryable(), "{e}");
    }

    #[tokio::test]
    async fn an_integration_sends_through_the_receiver() {
        let peer = HttpPeer::start(vec![Answer(200, vec![], PUBLISHED)]).await;
        let r: super::super::ReceiverConfig = serde_yaml_ng::from_str(&format!(
            "name: r\nsns_configs: [{{target_arn: 'arn:aws:sns:eu-west-1:1:endpoint/GCM/app/x', send_resolved: false, {}}}]",
            keys(&peer.url)
        ))
        .unwrap();
        let r = r.build(&GlobalDefaults::default()).unwrap();
        let i = &r.integrations()[0];
        assert_eq!(i.name(), "sns");
        assert!(!i.send_resolved());
        i.send(&notification(1)).await.unwrap();
        let form: BTreeMap<String, String> = peer.taken()[0].form().into_iter().collect();
        assert_eq!(
            form["TargetArn"],
            "arn:aws:sns:eu-west-1:1:endpoint/GCM/app/x"
        );
    }
}

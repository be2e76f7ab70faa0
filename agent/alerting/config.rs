//! The `alerting:` section: Alertmanager's configuration schema, so an `alertmanager.yml`'s
//! content pastes in unchanged (or `config_file:` names one to load as it is), plus vitals'
//! own `forward:` list. [`AlertingConfig::build`] validates all of it, reporting every error
//! with its path, and compiles the [`AlertingSpec`] the rest of `alerting` runs on: the route
//! tree with matchers parsed and timings inherited, inhibit rules, time intervals.
//!
//! Receivers are kept opaque here (`name` plus the integrations' YAML); `notify` owns their
//! schema. Only their names are checked: unique, and every route's receiver defined.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::inhibit::InhibitRule;
use super::matchers::{MatchType, Matcher, Matchers, is_valid_label_name};
use super::route::{GroupBy, RouteNode, RouteTree};
use super::time_interval::{TimeInterval, TimeIntervalSpec};
use crate::config::{FieldError, PromDuration, Secret};

/// The `alerting:` section.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// Path of an Alertmanager configuration file to load as it is, instead of writing its
    /// content inline; only `forward` may be set beside it. The loader reads the file
    /// ([`AlertingConfig::from_alertmanager_yaml`], [`AlertingConfig::with_file`]).
    #[serde(default)]
    pub config_file: Option<PathBuf>,
    /// Defaults shared by every receiver and the alert resolve timeout.
    #[serde(default)]
    pub global: GlobalConfig,
    /// The root of the routing tree; required.
    #[serde(default)]
    pub route: Option<RouteConfig>,
    /// Rules that mute alerts (targets) while other alerts (sources) fire.
    #[serde(default)]
    pub inhibit_rules: Vec<InhibitRuleConfig>,
    /// Named time intervals that routes refer to in `mute_time_intervals` and
    /// `active_time_intervals`.
    #[serde(default)]
    pub time_intervals: Vec<NamedTimeInterval>,
    /// The older name of `time_intervals`, still accepted; names are shared between both.
    #[serde(default)]
    pub mute_time_intervals: Vec<NamedTimeInterval>,
    /// Files (globs) of notification templates (`{{ define "name" }}`).
    #[serde(default)]
    pub templates: Vec<String>,
    /// Where notifications go: each receiver has a unique name and integrations.
    #[serde(default)]
    pub receivers: Vec<ReceiverConfig>,
    /// Also send every alert to these Alertmanagers (their `/api/v2/alerts`). vitals' own.
    #[serde(default)]
    pub forward: Vec<ForwardConfig>,
    /// How notifications are delivered: timeouts, retries, concurrency. vitals' own.
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// Alertmanager's tracing settings: accepted so its files load, and ignored.
    #[serde(default)]
    pub tracing: Option<serde_yaml_ng::Value>,
}

/// The section's schema check also checks each receiver's integrations against `notify`'s
/// schema, so an unknown key inside `email_configs` is reported with the others.
impl crate::config::Section for AlertingConfig {
    fn schema_errors(value: &serde_yaml_ng::Value, path: &str) -> Vec<FieldError> {
        let mut errors = crate::config::schema_errors_of::<AlertingConfig>(value, path);
        if let Some(list) = value.get("receivers").and_then(|r| r.as_sequence()) {
            for (i, r) in list.iter().enumerate() {
                errors.extend(crate::config::schema_errors_of::<
                    crate::notify::ReceiverConfig,
                >(r, &format!("{path}.receivers[{i}]")));
            }
        }
        errors
    }
}

/// A receiver. The integrations (`email_configs`, `msteamsv2_configs`, ...) are `notify`'s;
/// this section only checks the name. (No `deny_unknown_fields`: the flattened mapping takes
/// every other key; `notify::ReceiverConfig` replaces this type and checks them.)
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct ReceiverConfig {
    /// The receiver's unique name, used by routes.
    pub name: String,
    /// The integrations, as written.
    #[serde(flatten)]
    pub integrations: serde_yaml_ng::Mapping,
}

/// `delivery:` settings (vitals' own; Alertmanager ties retries to `group_interval`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Longest one delivery attempt may take before it counts as failed and is retried;
    /// 30s by default.
    #[serde(default = "default_delivery_timeout")]
    pub timeout: PromDuration,
    /// Retrying a notification stops this long after it was decided (logged and counted in
    /// `vitals_notifications_failed_total{reason="gave_up"}`); 1h by default.
    #[serde(default = "default_give_up_after")]
    pub give_up_after: PromDuration,
    /// Most delivery attempts in flight at once per receiver; 8 by default.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// First wait before a retry; it doubles (with jitter) up to `max_backoff`. 1s by
    /// default.
    #[serde(default = "default_min_backoff")]
    pub min_backoff: PromDuration,
    /// Longest wait between retries (a peer's `Retry-After` may ask for more, up to 5m);
    /// 1m by default.
    #[serde(default = "default_max_backoff")]
    pub max_backoff: PromDuration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            timeout: default_delivery_timeout(),
            give_up_after: default_give_up_after(),
            concurrency: default_concurrency(),
            min_backoff: default_min_backoff(),
            max_backoff: default_max_backoff(),
        }
    }
}

fn default_delivery_timeout() -> PromDuration {
    PromDuration(Duration::from_secs(30))
}
fn default_give_up_after() -> PromDuration {
    PromDuration(Duration::from_secs(3600))
}
fn default_concurrency() -> usize {
    8
}
fn default_min_backoff() -> PromDuration {
    PromDuration(Duration::from_secs(1))
}
fn default_max_backoff() -> PromDuration {
    PromDuration(Duration::from_secs(60))
}

/// An Alertmanager every alert is forwarded to.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ForwardConfig {
    /// Base URL of the Alertmanager (`http://alertmanager:9093`).
    pub url: String,
    /// Timeout of one request; 10s when left out.
    #[serde(default)]
    pub timeout: Option<PromDuration>,
    /// Extra HTTP headers sent with every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// `global:` defaults.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GlobalConfig {
    /// How long after its last update an alert without an end time counts as resolved;
    /// 5m by default.
    #[serde(default = "default_resolve_timeout")]
    pub resolve_timeout: PromDuration,
    /// HTTP client settings (`notify`'s `http_config` schema) of every HTTP integration
    /// that has no `http_config` of its own; checked when the receivers are built.
    #[serde(default)]
    pub http_config: Option<serde_yaml_ng::Value>,
    /// Default sender address of email.
    #[serde(default)]
    pub smtp_from: Option<String>,
    /// Default SMTP server, `host:port`.
    #[serde(default)]
    pub smtp_smarthost: Option<String>,
    /// Default hostname sent in HELO/EHLO; `localhost` when left out.
    #[serde(default)]
    pub smtp_hello: Option<String>,
    /// Default SMTP AUTH user.
    #[serde(default)]
    pub smtp_auth_username: Option<String>,
    /// Default SMTP AUTH password (PLAIN, LOGIN).
    #[serde(default)]
    pub smtp_auth_password: Option<Secret>,
    /// File to read the SMTP AUTH password from.
    #[serde(default)]
    pub smtp_auth_password_file: Option<PathBuf>,
    /// Default SMTP AUTH secret (CRAM-MD5).
    #[serde(default)]
    pub smtp_auth_secret: Option<Secret>,
    /// File to read the SMTP AUTH secret from.
    #[serde(default)]
    pub smtp_auth_secret_file: Option<PathBuf>,
    /// Default SMTP AUTH identity (PLAIN).
    #[serde(default)]
    pub smtp_auth_identity: Option<String>,
    /// Whether SMTP needs STARTTLS; true by default.
    #[serde(default = "default_true")]
    pub smtp_require_tls: bool,
    /// Default TLS settings of SMTP.
    #[serde(default)]
    pub smtp_tls_config: Option<serde_yaml_ng::Value>,
    /// Whether SMTP uses TLS from the first byte (port 465); by port when left out.
    #[serde(default)]
    pub smtp_force_implicit_tls: Option<bool>,
    /// Default Slack webhook URL.
    #[serde(default)]
    pub slack_api_url: Option<Secret>,
    /// File to read the Slack webhook URL from.
    #[serde(default)]
    pub slack_api_url_file: Option<PathBuf>,
    /// Default Slack app token.
    #[serde(default)]
    pub slack_app_token: Option<Secret>,
    /// File to read the Slack app token from.
    #[serde(default)]
    pub slack_app_token_file: Option<PathBuf>,
    /// Slack app API URL.
    #[serde(default)]
    pub slack_app_url: Option<String>,
    /// PagerDuty events URL.
    #[serde(default)]
    pub pagerduty_url: Option<String>,
    /// Opsgenie API URL.
    #[serde(default)]
    pub opsgenie_api_url: Option<String>,
    /// Opsgenie API key.
    #[serde(default)]
    pub opsgenie_api_key: Option<Secret>,
    /// File to read the Opsgenie API key from.
    #[serde(default)]
    pub opsgenie_api_key_file: Option<PathBuf>,
    /// WeChat API URL.
    #[serde(default)]
    pub wechat_api_url: Option<String>,
    /// WeChat API secret.
    #[serde(default)]
    pub wechat_api_secret: Option<Secret>,
    /// File to read the WeChat API secret from.
    #[serde(default)]
    pub wechat_api_secret_file: Option<PathBuf>,
    /// WeChat corp id.
    #[serde(default)]
    pub wechat_api_corp_id: Option<String>,
    /// VictorOps API URL.
    #[serde(default)]
    pub victorops_api_url: Option<String>,
    /// VictorOps API key.
    #[serde(default)]
    pub victorops_api_key: Option<Secret>,
    /// File to read the VictorOps API key from.
    #[serde(default)]
    pub victorops_api_key_file: Option<PathBuf>,
    /// Telegram API URL.
    #[serde(default)]
    pub telegram_api_url: Option<String>,
    /// Telegram bot token.
    #[serde(default)]
    pub telegram_bot_token: Option<Secret>,
    /// File to read the Telegram bot token from.
    #[serde(default)]
    pub telegram_bot_token_file: Option<PathBuf>,
    /// Webex API URL.
    #[serde(default)]
    pub webex_api_url: Option<String>,
    /// Rocket.Chat API URL.
    #[serde(default)]
    pub rocketchat_api_url: Option<String>,
    /// Rocket.Chat token.
    #[serde(default)]
    pub rocketchat_token: Option<Secret>,
    /// File to read the Rocket.Chat token from.
    #[serde(default)]
    pub rocketchat_token_file: Option<PathBuf>,
    /// Rocket.Chat token id.
    #[serde(default)]
    pub rocketchat_token_id: Option<Secret>,
    /// File to read the Rocket.Chat token id from.
    #[serde(default)]
    pub rocketchat_token_id_file: Option<PathBuf>,
    /// Mattermost webhook URL.
    #[serde(default)]
    pub mattermost_webhook_url: Option<Secret>,
    /// File to read the Mattermost webhook URL from.
    #[serde(default)]
    pub mattermost_webhook_url_file: Option<PathBuf>,
    /// Jira API URL.
    #[serde(default)]
    pub jira_api_url: Option<String>,
    /// Default Twilio account SID (vitals' own default for `twilio_configs`).
    #[serde(default)]
    pub twilio_account_sid: Option<String>,
    /// Default Twilio auth token (vitals' own).
    #[serde(default)]
    pub twilio_auth_token: Option<Secret>,
    /// File to read the default Twilio auth token from (vitals' own).
    #[serde(default)]
    pub twilio_auth_token_file: Option<PathBuf>,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        // An empty mapping takes every serde default.
        serde_yaml_ng::from_str("{}").unwrap_or_else(|_| unreachable!("defaults deserialise"))
    }
}

fn default_resolve_timeout() -> PromDuration {
    PromDuration(Duration::from_secs(300))
}

fn default_true() -> bool {
    true
}

/// One node of the routing tree.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Receiver of the alerts this route takes; inherited from the parent when left out
    /// (required on the root).
    #[serde(default)]
    pub receiver: Option<String>,
    /// Labels that split alerts into groups (one notification per group); `['...']` groups by
    /// all labels, `[]` puts all the route's alerts in one group. Inherited when left out.
    #[serde(default)]
    pub group_by: Option<Vec<String>>,
    /// Whether alerts matching this route go on to its later siblings.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
    /// Matchers an alert must satisfy, each item one or more comma-separated matchers
    /// (`severity="critical"`); not allowed on the root.
    #[serde(default)]
    pub matchers: Vec<String>,
    /// Deprecated equality matchers `{label: value}`.
    #[serde(default, rename = "match")]
    pub match_eq: BTreeMap<String, String>,
    /// Deprecated regex matchers `{label: regex}`.
    #[serde(default)]
    pub match_re: BTreeMap<String, String>,
    /// How long to wait to send the first notification of a new group (30s; inherited).
    #[serde(default)]
    pub group_wait: Option<PromDuration>,
    /// How long to wait before notifying about changes of a group (5m; inherited, not zero).
    #[serde(default)]
    pub group_interval: Option<PromDuration>,
    /// How long to wait before repeating an unchanged notification (4h; inherited, not zero).
    #[serde(default)]
    pub repeat_interval: Option<PromDuration>,
    /// Names of time intervals when this route sends nothing (not inherited).
    #[serde(default)]
    pub mute_time_intervals: Vec<String>,
    /// Names of time intervals outside which this route sends nothing (not inherited).
    #[serde(default)]
    pub active_time_intervals: Vec<String>,
    /// Child routes, tried in order.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
}

/// An inhibit rule: while an alert matching the source matchers fires, alerts matching the
/// target matchers with the same values of the `equal` labels are muted.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InhibitRuleConfig {
    /// Matchers of the inhibiting alerts.
    #[serde(default)]
    pub source_matchers: Vec<String>,
    /// Deprecated equality form of `source_matchers`.
    #[serde(default)]
    pub source_match: BTreeMap<String, String>,
    /// Deprecated regex form of `source_matchers`.
    #[serde(default)]
    pub source_match_re: BTreeMap<String, String>,
    /// Matchers of the muted alerts.
    #[serde(default)]
    pub target_matchers: Vec<String>,
    /// Deprecated equality form of `target_matchers`.
    #[serde(default)]
    pub target_match: BTreeMap<String, String>,
    /// Deprecated regex form of `target_matchers`.
    #[serde(default)]
    pub target_match_re: BTreeMap<String, String>,
    /// Labels whose values must be equal in source and target (missing equals missing).
    #[serde(default)]
    pub equal: Vec<String>,
}

/// A named list of time intervals; a time is in it when any of them contains it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NamedTimeInterval {
    /// The name routes refer to.
    pub name: String,
    /// The intervals.
    #[serde(default)]
    pub time_intervals: Vec<TimeIntervalSpec>,
}

/// The validated, compiled `alerting:` section.
#[derive(Debug, Clone)]
pub struct AlertingSpec {
    /// The routing tree.
    pub route: RouteTree,
    /// The inhibit rules, in order.
    pub inhibit_rules: Vec<InhibitRule>,
    /// Time intervals by name (from both `time_intervals` and `mute_time_intervals`).
    pub time_intervals: BTreeMap<String, Vec<TimeInterval>>,
    /// Receiver names, in file order.
    pub receivers: Vec<String>,
    /// Template globs.
    pub templates: Vec<String>,
    /// How long an alert without an end time stays firing after its last update.
    pub resolve_timeout: Duration,
    /// Alertmanagers to forward to.
    pub forward: Vec<ForwardConfig>,
}

impl AlertingSpec {
    /// Whether `route` sends nothing at `now_ms` because of its time intervals (Alertmanager's
    /// `TimeMuteStage` and `TimeActiveStage`): one of its `mute_time_intervals` contains the
    /// instant, or it has `active_time_intervals` and none contains it.
    pub fn route_muted(&self, route: &RouteNode, now_ms: i64) -> bool {
        let contains = |name: &String| {
            self.time_intervals
                .get(name)
                .is_some_and(|tis| tis.iter().any(|t| t.contains(now_ms)))
        };
        route.mute_time_intervals.iter().any(contains)
            || (!route.active_time_intervals.is_empty()
                && !route.active_time_intervals.iter().any(contains))
    }
}

/// The defaults of the root route.
const DEFAULT_GROUP_WAIT: Duration = Duration::from_secs(30);
const DEFAULT_GROUP_INTERVAL: Duration = Duration::from_secs(300);
const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 3600);

/// Parses each `matchers:` item (each may hold several, comma-separated) plus the legacy
/// `match`/`match_re` maps into one list; errors at `field[i]` name the matcher text.
pub fn parse_matcher_fields(
    matchers: &[String],
    match_eq: &BTreeMap<String, String>,
    match_re: &BTreeMap<String, String>,
    names: (&str, &str, &str),
    errors: &mut Vec<FieldError>,
) -> Matchers {
    let mut out = Vec::new();
    for (k, v) in match_eq {
        if !is_valid_label_name(k) {
            errors.push(FieldError::new(
                format!("{}.{k}", names.1),
                format!("invalid label name {k:?}"),
            ));
            continue;
        }
        if let Ok(m) = Matcher::new(MatchType::Equal, k, v) {
            out.push(m);
        }
    }
    for (k, v) in match_re {
        if !is_valid_label_name(k) {
            errors.push(FieldError::new(
                format!("{}.{k}", names.2),
                format!("invalid label name {k:?}"),
            ));
            continue;
        }
        match Matcher::new(MatchType::Regexp, k, v) {
            Ok(m) => out.push(m),
            Err(e) => errors.push(FieldError::new(format!("{}.{k}", names.2), e.to_string())),
        }
    }
    for (i, text) in matchers.iter().enumerate() {
        match Matchers::parse(text) {
            Ok(ms) => out.extend(ms.0),
            Err(e) => errors.push(FieldError::new(
                format!("{}[{i}]", names.0),
                format!("{e} (in matcher `{text}`)"),
            )),
        }
    }
    Matchers(out)
}

impl AlertingConfig {
    /// Parses an Alertmanager configuration file's text, as `config_file:` loads it.
    pub fn from_alertmanager_yaml(text: &str) -> Result<AlertingConfig, serde_yaml_ng::Error> {
        serde_yaml_ng::from_str(text)
    }

    /// Whether any field other than `config_file`, `forward`, `delivery` is set.
    fn has_inline_content(&self) -> bool {
        let empty = AlertingConfig {
            config_file: self.config_file.clone(),
            forward: self.forward.clone(),
            delivery: self.delivery.clone(),
            ..AlertingConfig::default()
        };
        *self != empty
    }

    /// Every problem of the section, each with its path. The same checks as [`Self::build`].
    pub fn validate(&self) -> Vec<FieldError> {
        self.build().err().unwrap_or_default()
    }

    /// Validates and compiles the section. With `config_file` set, this checks only that
    /// nothing else (but `forward`) is set: load the file with
    /// [`Self::from_alertmanager_yaml`], [`Self::with_file`] and build that.
    pub fn build(&self) -> Result<AlertingSpec, Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.config_file.is_some() {
            if self.has_inline_content() {
                errors.push(FieldError::new(
                    "config_file",
                    "config_file replaces the inline Alertmanager configuration: set either, not both (forward may stay)",
                ));
            } else {
                errors.push(FieldError::new(
                    "config_file",
                    "load the file first (AlertingConfig::with_file)",
                ));
            }
            return Err(errors);
        }

        // Receivers: unique, non-empty names.
        let mut receivers = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, r) in self.receivers.iter().enumerate() {
            if r.name.is_empty() {
                errors.push(FieldError::new(
                    format!("receivers[{i}].name"),
                    "missing name in receiver",
                ));
            } else if !seen.insert(r.name.clone()) {
                errors.push(FieldError::new(
                    format!("receivers[{i}].name"),
                    format!("notification config name {:?} is not unique", r.name),
                ));
            } else {
                receivers.push(r.name.clone());
            }
        }

        // Time intervals, both lists, one name space.
        let mut time_intervals = BTreeMap::new();
        for (field, list) in [
            ("time_intervals", &self.time_intervals),
            ("mute_time_intervals", &self.mute_time_intervals),
        ] {
            for (i, ti) in list.iter().enumerate() {
                let at = format!("{field}[{i}]");
                if ti.name.is_empty() {
                    errors.push(FieldError::new(format!("{at}.name"), "missing name"));
                    continue;
                }
                if time_intervals.contains_key(&ti.name) {
                    errors.push(FieldError::new(
                        format!("{at}.name"),
                        format!("time interval {:?} is not unique", ti.name),
                    ));
                    continue;
                }
                let mut built = Vec::new();
                for (j, spec) in ti.time_intervals.iter().enumerate() {
                    match spec.build() {
                        Ok(t) => built.push(t),
                        Err(es) => errors.extend(
                            es.into_iter()
                                .map(|e| e.under(&format!("{at}.time_intervals[{j}]"))),
                        ),
                    }
                }
                time_intervals.insert(ti.name.clone(), built);
            }
        }

        // Inhibit rules.
        let mut inhibit_rules = Vec::new();
        for (i, r) in self.inhibit_rules.iter().enumerate() {
            let mut errs = Vec::new();
            let source = parse_matcher_fields(
                &r.source_matchers,
                &r.source_match,
                &r.source_match_re,
                ("source_matchers", "source_match", "source_match_re"),
                &mut errs,
            );
            let target = parse_matcher_fields(
                &r.target_matchers,
                &r.target_match,
                &r.target_match_re,
                ("target_matchers", "target_match", "target_match_re"),
                &mut errs,
            );
            for (j, l) in r.equal.iter().enumerate() {
                if !is_valid_label_name(l) {
                    errs.push(FieldError::new(
                        format!("equal[{j}]"),
                        format!("invalid label name {l:?}"),
                    ));
                }
            }
            if errs.is_empty() {
                inhibit_rules.push(InhibitRule {
                    source,
                    target,
                    equal: r.equal.iter().cloned().collect(),
                });
            }
            errors.extend(
                errs.into_iter()
                    .map(|e| e.under(&format!("inhibit_rules[{i}]"))),
            );
        }

        // The route tree.
        let root = match &self.route {
            None => {
                errors.push(FieldError::new("route", "no route provided in config"));
                None
            }
            Some(r) => {
                let mut errs = Vec::new();
                if r.receiver.as_deref().unwrap_or("").is_empty() {
                    errs.push(FieldError::new(
                        "receiver",
                        "root route must specify a default receiver",
                    ));
                }
                if !r.matchers.is_empty() || !r.match_eq.is_empty() || !r.match_re.is_empty() {
                    errs.push(FieldError::new(
                        "matchers",
                        "root route must not have any matchers",
                    ));
                }
                if !r.mute_time_intervals.is_empty() {
                    errs.push(FieldError::new(
                        "mute_time_intervals",
                        "root route must not have any mute time intervals",
                    ));
                }
                if !r.active_time_intervals.is_empty() {
                    errs.push(FieldError::new(
                        "active_time_intervals",
                        "root route must not have any active time intervals",
                    ));
                }
                let ctx = BuildCtx {
                    receivers: &seen,
                    intervals: &time_intervals,
                };
                let node = build_route(r, None, "", 0, &ctx, &mut errs);
                errors.extend(errs.into_iter().map(|e| e.under("route")));
                Some(node)
            }
        };

        for (i, f) in self.forward.iter().enumerate() {
            if !(f.url.starts_with("http://") || f.url.starts_with("https://")) {
                errors.push(FieldError::new(
                    format!("forward[{i}].url"),
                    format!("{:?} is not an http:// or https:// URL", f.url),
                ));
            }
            if f.timeout.is_some_and(|t| t.get().is_zero()) {
                errors.push(FieldError::new(
                    format!("forward[{i}].timeout"),
                    "must be above zero",
                ));
            }
        }

        match root {
            Some(root) if errors.is_empty() => Ok(AlertingSpec {
                route: RouteTree { root },
                inhibit_rules,
                time_intervals,
                receivers,
                templates: self.templates.clone(),
                resolve_timeout: self.global.resolve_timeout.get(),
                forward: self.forward.clone(),
            }),
            _ => Err(errors),
        }
    }

    /// The configuration loaded from `config_file`: `file` (its parsed content) with this
    /// section's `forward` and `delivery` kept.
    pub fn with_file(&self, mut file: AlertingConfig) -> AlertingConfig {
        file.config_file = None;
        if file.forward.is_empty() {
            file.forward = self.forward.clone();
        }
        if file.delivery == DeliveryConfig::default() {
            file.delivery = self.delivery.clone();
        }
        file
    }
}

struct BuildCtx<'a> {
    receivers: &'a BTreeSet<String>,
    intervals: &'a BTreeMap<String, Vec<TimeInterval>>,
}

/// Compiles `r` under `parent` (inheriting its options); `path` is the errors' prefix
/// relative to the root route ("" for the root, `routes[0].routes[2]` below).
fn build_route(
    r: &RouteConfig,
    parent: Option<&RouteNode>,
    path: &str,
    index: usize,
    ctx: &BuildCtx<'_>,
    errors: &mut Vec<FieldError>,
) -> RouteNode {
    let at = |f: &str| {
        if path.is_empty() {
            f.to_string()
        } else {
            format!("{path}.{f}")
        }
    };
    let mut errs = Vec::new();

    let receiver = match r.receiver.as_deref() {
        Some(name) if !name.is_empty() => {
            if !ctx.receivers.contains(name) {
                errors.push(FieldError::new(
                    at("receiver"),
                    format!("undefined receiver {name:?} used in route"),
                ));
            }
            name.to_string()
        }
        _ => parent.map(|p| p.receiver.clone()).unwrap_or_default(),
    };

    // group_by: `...` alone, or label names; an empty list (or none) inherits.
    let mut group_by = parent.map_or(GroupBy::Labels(BTreeSet::new()), |p| p.group_by.clone());
    if let Some(list) = &r.group_by {
        let all = list.iter().any(|l| l == "...");
        let names: Vec<&String> = list.iter().filter(|l| *l != "...").collect();
        if all && !names.is_empty() {
            errs.push(FieldError::new(
                at("group_by"),
                "cannot have wildcard group_by (`...`) and other labels at the same time",
            ));
        }
        let mut set = BTreeSet::new();
        for (i, l) in list.iter().enumerate() {
            if l == "..." {
                continue;
            }
            if !is_valid_label_name(l) {
                errs.push(FieldError::new(
                    format!("{}[{i}]", at("group_by")),
                    format!("invalid label name {l:?}"),
                ));
            } else if !set.insert(l.clone()) {
                errs.push(FieldError::new(
                    format!("{}[{i}]", at("group_by")),
                    format!("duplicated label {l:?} in group_by"),
                ));
            }
        }
        // As Alertmanager: `['...']` groups by everything, any other list (even an empty
        // one) replaces the parent's labels.
        if all && names.is_empty() {
            group_by = GroupBy::All;
        } else {
            group_by = GroupBy::Labels(set);
        }
    }

    let timing = |v: Option<PromDuration>, inherited: Option<Duration>, default: Duration| {
        v.map(PromDuration::get).or(inherited).unwrap_or(default)
    };
    let group_wait = timing(
        r.group_wait,
        parent.map(|p| p.group_wait),
        DEFAULT_GROUP_WAIT,
    );
    let group_interval = timing(
        r.group_interval,
        parent.map(|p| p.group_interval),
        DEFAULT_GROUP_INTERVAL,
    );
    let repeat_interval = timing(
        r.repeat_interval,
        parent.map(|p| p.repeat_interval),
        DEFAULT_REPEAT_INTERVAL,
    );
    if r.group_interval.is_some_and(|d| d.get().is_zero()) {
        errs.push(FieldError::new(
            at("group_interval"),
            "group_interval cannot be zero",
        ));
    }
    if r.repeat_interval.is_some_and(|d| d.get().is_zero()) {
        errs.push(FieldError::new(
            at("repeat_interval"),
            "repeat_interval cannot be zero",
        ));
    }

    for (field, names) in [
        ("mute_time_intervals", &r.mute_time_intervals),
        ("active_time_intervals", &r.active_time_intervals),
    ] {
        for (i, name) in names.iter().enumerate() {
            if !ctx.intervals.contains_key(name) {
                errs.push(FieldError::new(
                    format!("{}[{i}]", at(field)),
                    format!("undefined time interval {name:?} used in route"),
                ));
            }
        }
    }

    let mut matcher_errs = Vec::new();
    let mut matchers = parse_matcher_fields(
        &r.matchers,
        &r.match_eq,
        &r.match_re,
        ("matchers", "match", "match_re"),
        &mut matcher_errs,
    );
    errs.extend(matcher_errs.into_iter().map(|e| e.under(path)));
    matchers.sort();

    let key = match parent {
        Some(p) => format!("{}/{matchers}", p.key),
        None => matchers.to_string(),
    };
    let id = match parent {
        Some(p) => format!("{}/{matchers}/{index}", p.id),
        None => matchers.to_string(),
    };

    errors.extend(errs);
    let mut node = RouteNode {
        receiver,
        group_by,
        group_wait,
        group_interval,
        repeat_interval,
        matchers,
        continue_matching: r.continue_matching,
        mute_time_intervals: r.mute_time_intervals.clone(),
        active_time_intervals: r.active_time_intervals.clone(),
        routes: Vec::new(),
        key,
        id,
    };
    let children = r
        .routes
        .iter()
        .enumerate()
        .map(|(i, c)| build_route(c, Some(&node), &at(&format!("routes[{i}]")), i, ctx, errors))
        .collect();
    node.routes = children;
    node
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The structure of Alertmanager's `doc/examples/simple.yml`: nested routes with
    /// `continue`, `group_by` overrides, an inhibit rule, email/pagerduty receivers, tracing.
    const AM_SIMPLE: &str = r#"
global:
  smtp_smarthost: 'localhost:25'
  smtp_from: 'alertmanager@example.org'
  smtp_auth_username: 'alertmanager'
  smtp_auth_password: 'password'
templates:
  - '/etc/alertmanager/template/*.tmpl'
route:
  group_by: ['alertname', 'cluster', 'service']
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 3h
  receiver: team-X-mails
  routes:
    - matchers:
        - service=~"foo1|foo2|baz"
      receiver: team-X-mails
      routes:
        - matchers:
            - severity="critical"
          receiver: team-X-pager
    - matchers:
        - service="files"
      receiver: team-Y-mails
      routes:
        - matchers:
            - severity="critical"
          receiver: team-Y-pager
    - matchers:
        - service="database"
      receiver: team-DB-pager
      group_by: [alertname, cluster, database]
      routes:
        - matchers:
            - owner="team-X"
          receiver: team-X-pager
          continue: true
        - matchers:
            - owner="team-Y"
          receiver: team-Y-pager
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname, cluster, service]
receivers:
  - name: 'team-X-mails'
    email_configs:
      - to: 'team-X+alerts@example.org'
  - name: 'team-X-pager'
    email_configs:
      - to: 'team-X+alerts-critical@example.org'
    pagerduty_configs:
      - service_key: <team-X-key>
  - name: 'team-Y-mails'
    email_configs:
      - to: 'team-Y+alerts@example.org'
  - name: 'team-Y-pager'
    pagerduty_configs:
      - service_key: <team-Y-key>
  - name: 'team-DB-pager'
    pagerduty_configs:
      - service_key: <team-DB-key>
tracing:
  endpoint: localhost:4317
  insecure: true
  sampling_fraction: 1.0
"#;

    /// DESIGN.md's `alerting:` example.
    const DESIGN: &str = r#"
route: {receiver: ops, group_by: [alertname, service], group_wait: 30s, group_interval: 5m,
        repeat_interval: 4h, routes: [{matchers: ['severity="critical"'], receiver: oncall, continue: true}]}
inhibit_rules: [{source_matchers: ['severity="critical"'], target_matchers: ['severity="warning"'], equal: [service]}]
receivers:
  - name: ops
    email_configs: [{to: ops@example.com, from: vitals@example.com, smarthost: "smtp:587",
                     auth_username: vitals, auth_password: "secret"}]
    msteamsv2_configs: [{webhook_url: "https://example.com/hook"}]
  - name: oncall
    twilio_configs: [{account_sid: "AC1", auth_token: "t", from: "+1", to: ["+1"]}]
    sns_configs: [{phone_number: "+1", sigv4: {region: us-east-1}}]
forward: [{url: "http://alertmanager:9093"}]
"#;

    fn parse(y: &str) -> AlertingConfig {
        serde_yaml_ng::from_str(y).unwrap()
    }

    fn errors(y: &str) -> Vec<(String, String)> {
        parse(y)
            .build()
            .unwrap_err()
            .into_iter()
            .map(|e| (e.path, e.message))
            .collect()
    }

    #[test]
    fn alertmanager_simple_example_builds() {
        let c = AlertingConfig::from_alertmanager_yaml(AM_SIMPLE).unwrap();
        assert_eq!(
            c.global.smtp_auth_password.as_ref().map(Secret::expose),
            Some("password")
        );
        assert!(c.global.smtp_require_tls);
        assert_eq!(c.global.resolve_timeout.get(), Duration::from_secs(300));
        let spec = c.build().unwrap();
        let root = &spec.route.root;
        assert_eq!(root.receiver, "team-X-mails");
        assert_eq!(root.repeat_interval, Duration::from_secs(3 * 3600));
        let db = &root.routes[2];
        assert_eq!(db.receiver, "team-DB-pager");
        assert_eq!(
            db.group_by,
            GroupBy::Labels(
                ["alertname", "cluster", "database"]
                    .map(String::from)
                    .into()
            )
        );
        // Children inherit timings and group_by.
        let x_pager = &root.routes[0].routes[0];
        assert_eq!(x_pager.repeat_interval, Duration::from_secs(3 * 3600));
        assert_eq!(x_pager.group_by, root.group_by);
        assert_eq!(
            x_pager.key,
            r#"{}/{service=~"foo1|foo2|baz"}/{severity="critical"}"#
        );
        assert_eq!(
            x_pager.id,
            r#"{}/{service=~"foo1|foo2|baz"}/0/{severity="critical"}/0"#
        );
        assert!(db.routes[0].continue_matching);
        assert_eq!(spec.inhibit_rules.len(), 1);
        assert_eq!(spec.receivers.len(), 5);
    }

    #[test]
    fn design_example_builds() {
        let spec = parse(DESIGN).build().unwrap();
        assert_eq!(spec.route.root.routes[0].receiver, "oncall");
        assert_eq!(spec.route.root.group_wait, Duration::from_secs(30));
        assert_eq!(spec.forward[0].url, "http://alertmanager:9093");
    }

    #[test]
    fn legacy_match_and_time_intervals() {
        let spec = parse(
            r#"
route:
  receiver: a
  routes:
    - match: {team: db}
      match_re: {severity: "crit.*"}
      receiver: b
      group_by: ['...']
      mute_time_intervals: [offhours]
      active_time_intervals: [holidays]
receivers: [{name: a}, {name: b}]
time_intervals:
  - name: offhours
    time_intervals: [{weekdays: [saturday, sunday]}]
mute_time_intervals:
  - name: holidays
    time_intervals: [{months: [december], days_of_month: ['24:26']}]
"#,
        )
        .build()
        .unwrap();
        let child = &spec.route.root.routes[0];
        assert_eq!(child.group_by, GroupBy::All);
        // 2024-01-06 was a Saturday: muted by `offhours`; on Monday 2024-01-08 the route is
        // outside its only active interval (`holidays`), so muted too; on 2024-12-25, a
        // Wednesday, it is active.
        assert!(spec.route_muted(child, 1_704_542_400_000));
        assert!(spec.route_muted(child, 1_704_715_200_000));
        assert!(!spec.route_muted(child, 1_735_128_000_000));
        assert!(!spec.route_muted(&spec.route.root, 1_704_542_400_000));
        assert_eq!(
            child.matchers.to_string(),
            r#"{severity=~"crit.*",team="db"}"#
        );
        assert_eq!(spec.time_intervals.len(), 2);
    }

    #[test]
    fn group_by_inheritance() {
        let spec = parse(
            r#"
route:
  receiver: a
  group_by: [alertname]
  routes:
    - {receiver: a}
    - {receiver: a, group_by: []}
    - {receiver: a, group_by: ['...'], routes: [{receiver: a}]}
receivers: [{name: a}]
"#,
        )
        .build()
        .unwrap();
        let r = &spec.route.root.routes;
        assert_eq!(r[0].group_by, spec.route.root.group_by);
        assert_eq!(r[1].group_by, GroupBy::Labels(BTreeSet::new()));
        assert_eq!(r[2].routes[0].group_by, GroupBy::All);
    }

    #[test]
    fn every_error_has_its_path() {
        let errs = errors(
            r#"
route:
  receiver: nobody
  matchers: ['a="b"']
  group_interval: 0s
  routes:
    - matchers: ['severity=="x"', 'ok="1"']
      receiver: ghost
      group_by: ['...', service]
      repeat_interval: 0s
      mute_time_intervals: [never]
      routes:
        - match_re: {x: "("}
          group_by: [service, service, "bad-name"]
inhibit_rules:
  - source_matchers: ['sev="crit"']
    target_matchers: ['sev=~"("']
    equal: ["no-good"]
receivers: [{name: a}, {name: a}, {name: ""}]
time_intervals:
  - {name: t, time_intervals: [{weekdays: [funday]}]}
mute_time_intervals:
  - {name: t}
forward: [{url: "alertmanager:9093", timeout: 0s}]
"#,
        );
        let paths: Vec<&str> = errs.iter().map(|(p, _)| p.as_str()).collect();
        for want in [
            "receivers[1].name",
            "receivers[2].name",
            "time_intervals[0].time_intervals[0].weekdays[0]",
            "mute_time_intervals[0].name",
            "inhibit_rules[0].target_matchers[0]",
            "inhibit_rules[0].equal[0]",
            "route.receiver",
            "route.matchers",
            "route.group_interval",
            "route.routes[0].receiver",
            "route.routes[0].group_by",
            "route.routes[0].repeat_interval",
            "route.routes[0].mute_time_intervals[0]",
            "route.routes[0].matchers[0]",
            "route.routes[0].routes[0].group_by[1]",
            "route.routes[0].routes[0].group_by[2]",
            "route.routes[0].routes[0].match_re.x",
            "forward[0].url",
            "forward[0].timeout",
        ] {
            assert!(paths.contains(&want), "missing {want} in {errs:#?}");
        }
        let bad_matcher = errs
            .iter()
            .find(|(p, _)| p == "route.routes[0].matchers[0]")
            .unwrap();
        assert!(
            bad_matcher.1.contains(r#"severity=="x""#),
            "{}",
            bad_matcher.1
        );
        let unknown = errs
            .iter()
            .find(|(p, _)| p == "route.routes[0].receiver")
            .unwrap();
        assert!(unknown.1.contains("ghost"));
    }

    #[test]
    fn missing_route_and_config_file_exclusivity() {
        assert_eq!(errors("receivers: []")[0].0, "route");
        let errs = errors("{config_file: am.yml, route: {receiver: a}}");
        assert_eq!(errs[0].0, "config_file");
        let outer = parse("{config_file: am.yml, forward: [{url: 'http://am:9093'}]}");
        let loaded = outer.with_file(AlertingConfig::from_alertmanager_yaml(DESIGN).unwrap());
        assert!(loaded.build().is_ok());
    }

    fn route_tree() -> impl proptest::strategy::Strategy<Value = RouteConfig> {
        use proptest::prelude::*;
        let leaf = (
            proptest::option::of(1u64..100),
            proptest::option::of(1u64..100),
        )
            .prop_map(|(w, r)| RouteConfig {
                group_wait: w.map(|s| PromDuration(Duration::from_secs(s))),
                repeat_interval: r.map(|s| PromDuration(Duration::from_secs(s))),
                matchers: vec!["x=\"1\"".into()],
                ..RouteConfig::default()
            });
        leaf.prop_recursive(3, 12, 3, |inner| {
            (
                proptest::option::of(1u64..100),
                proptest::collection::vec(inner, 0..3),
            )
                .prop_map(|(w, routes)| RouteConfig {
                    group_wait: w.map(|s| PromDuration(Duration::from_secs(s))),
                    matchers: vec!["y=\"2\"".into()],
                    routes,
                    ..RouteConfig::default()
                })
        })
    }

    fn check_inheritance(
        cfg: &RouteConfig,
        node: &RouteNode,
        wait: Duration,
        repeat: Duration,
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        let wait = cfg.group_wait.map_or(wait, PromDuration::get);
        let repeat = cfg.repeat_interval.map_or(repeat, PromDuration::get);
        proptest::prop_assert_eq!(node.group_wait, wait);
        proptest::prop_assert_eq!(node.repeat_interval, repeat);
        proptest::prop_assert_eq!(node.receiver.as_str(), "a");
        proptest::prop_assert_eq!(cfg.routes.len(), node.routes.len());
        for (c, n) in cfg.routes.iter().zip(&node.routes) {
            check_inheritance(c, n, wait, repeat)?;
        }
        Ok(())
    }

    proptest::proptest! {
        /// Each node's timings are its own when set, else its nearest ancestor's, else
        /// Alertmanager's defaults; the receiver is inherited from the root.
        #[test]
        fn timings_inherit_down_the_tree(children in proptest::collection::vec(route_tree(), 0..4)) {
            let root = RouteConfig {
                receiver: Some("a".into()),
                routes: children,
                ..RouteConfig::default()
            };
            let cfg = AlertingConfig {
                route: Some(root.clone()),
                receivers: vec![ReceiverConfig { name: "a".into(), ..ReceiverConfig::default() }],
                ..AlertingConfig::default()
            };
            let spec = cfg.build().unwrap();
            check_inheritance(&root, &spec.route.root, DEFAULT_GROUP_WAIT, DEFAULT_REPEAT_INTERVAL)?;
        }
    }

    #[test]
    fn unknown_fields_are_rejected() {
        assert!(
            serde_yaml_ng::from_str::<AlertingConfig>("{route: {receiver: a, grup_by: [x]}}")
                .is_err()
        );
        assert!(serde_yaml_ng::from_str::<AlertingConfig>("{global: {smtp_form: x}}").is_err());
    }
}

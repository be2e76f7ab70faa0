//! Loading the `alerting:` section into what the stage runs ([`AlertingStageSpec`]): the
//! routing compiled by [`super::config`], the file of `config_file:` read (errors located in
//! that file), template files read, `*_file` secrets read, and every receiver built by
//! `notify` (each integration's errors at its path, `receivers[0].email_configs[0].to`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::config::{AlertingConfig, DeliveryConfig, GlobalConfig};
use super::stage::{AlertingStageSpec, DeliverySettings};
use crate::config::{ConfigError, ConfigErrors, Document, FieldError, Secret, resolve_secret_file};
use crate::net::retry::{Backoff, Jitter};
use crate::notify::{GlobalDefaults, ReceiverConfig};

/// Longest wait a receiver's `Retry-After` may impose.
const RETRY_AFTER_CAP: std::time::Duration = std::time::Duration::from_secs(300);

/// Loads `cfg` (the section as written in the main file). `locate` places errors found in
/// the section itself (paths below `alerting`) in the main file; errors in a `config_file`
/// are placed in that file. `external_url` is the base of links back to vitals.
pub fn load(
    cfg: &AlertingConfig,
    external_url: &str,
    env: &dyn Fn(&str) -> Option<String>,
    locate: &dyn Fn(Vec<FieldError>) -> ConfigErrors,
) -> Result<AlertingStageSpec, ConfigErrors> {
    let Some(file) = &cfg.config_file else {
        return spec_of(cfg, external_url, Path::new(""))
            .map_err(|es| locate(es.into_iter().map(|e| e.under("alerting")).collect()));
    };
    let origin = file.display().to_string();
    if let Err(mut es) = cfg.build()
        && es.iter().any(|e| e.message.contains("set either"))
    {
        es.retain(|e| e.message.contains("set either"));
        return Err(locate(
            es.into_iter().map(|e| e.under("alerting")).collect(),
        ));
    }
    let text = std::fs::read_to_string(file).map_err(|e| {
        locate(vec![FieldError::new(
            "alerting.config_file",
            format!("cannot read {origin}: {e}"),
        )])
    })?;
    let doc = Document::parse(&text, &origin, env)?;
    let parsed: AlertingConfig = if doc.expanded().trim().is_empty() {
        AlertingConfig::default()
    } else {
        serde_yaml_ng::from_str(doc.expanded())
            .map_err(|e| ConfigErrors(vec![ConfigError::from_yaml(&origin, &e)]))?
    };
    if parsed.config_file.is_some() {
        return Err(doc.locate(vec![FieldError::new(
            "config_file",
            "an Alertmanager file cannot name another config_file",
        )]));
    }
    // `forward` and `delivery` the file leaves out come from the main file: their errors
    // are placed there.
    let from_main = |path: &str| {
        (path.starts_with("forward") && parsed.forward.is_empty())
            || (path.starts_with("delivery") && parsed.delivery == DeliveryConfig::default())
    };
    let merged = cfg.with_file(parsed.clone());
    // As Alertmanager: template paths are relative to the file's directory.
    let base = file.parent().unwrap_or(Path::new(""));
    spec_of(&merged, external_url, base).map_err(|es| {
        let (main, file): (Vec<FieldError>, Vec<FieldError>) =
            es.into_iter().partition(|e| from_main(&e.path));
        let mut out = doc.locate(file);
        if !main.is_empty() {
            out.0
                .extend(locate(main.into_iter().map(|e| e.under("alerting")).collect()).0);
        }
        out
    })
}

/// The stage's spec of an inline section; errors with paths relative to it. Relative
/// template paths are taken from `base` (empty: the working directory).
fn spec_of(
    cfg: &AlertingConfig,
    external_url: &str,
    base: &Path,
) -> Result<AlertingStageSpec, Vec<FieldError>> {
    let mut errors = Vec::new();
    // An agent that only forwards needs no route of its own.
    let forward_only = cfg.route.is_none()
        && cfg.receivers.is_empty()
        && cfg.inhibit_rules.is_empty()
        && !cfg.forward.is_empty();
    let routing = if forward_only {
        // Still checks `forward` itself.
        let mut probe = cfg.clone();
        probe.route = Some(Default::default());
        if let Err(es) = probe.build() {
            errors.extend(es.into_iter().filter(|e| e.path.starts_with("forward")));
        }
        None
    } else {
        match cfg.build() {
            Ok(s) => Some(s),
            Err(es) => {
                errors.extend(es);
                None
            }
        }
    };
    let mut globals = globals_of(&cfg.global, &mut errors);
    globals.templates = read_templates(&cfg.templates, base, &mut errors);
    let mut receivers = BTreeMap::new();
    let mut identities = BTreeMap::new();
    if let Some(h) = &cfg.global.http_config
        && let Err(e) = serde_yaml_ng::from_value::<crate::notify::HttpConfig>(h.clone())
    {
        errors.push(FieldError::new("global.http_config", e.to_string()));
    }
    if let Some(t) = &cfg.global.smtp_tls_config
        && let Err(e) = serde_yaml_ng::from_value::<crate::notify::TlsConfig>(t.clone())
    {
        errors.push(FieldError::new("global.smtp_tls_config", e.to_string()));
    }
    for (i, r) in cfg.receivers.iter().enumerate() {
        let at = format!("receivers[{i}]");
        let mut m = r.integrations.clone();
        inherit(
            &mut m,
            HTTP_INTEGRATIONS,
            "http_config",
            cfg.global.http_config.as_ref(),
        );
        inherit(
            &mut m,
            &["email_configs"],
            "tls_config",
            cfg.global.smtp_tls_config.as_ref(),
        );
        m.insert("name".into(), r.name.clone().into());
        let ids = integration_identities(&m);
        let rc: ReceiverConfig = match serde_yaml_ng::from_value(serde_yaml_ng::Value::Mapping(m)) {
            Ok(rc) => rc,
            Err(e) => {
                errors.push(FieldError::new(&at, e.to_string()));
                continue;
            }
        };
        match rc.build(&globals) {
            Ok(built) => {
                identities.insert(r.name.clone(), ids);
                receivers.insert(r.name.clone(), Arc::new(built));
            }
            Err(es) => errors.extend(es.into_iter().map(|e| e.under(&at))),
        }
    }
    let delivery = delivery_of(&cfg.delivery, &mut errors);
    match (errors.is_empty(), delivery) {
        (true, Some(delivery)) if routing.is_some() || forward_only => Ok(AlertingStageSpec {
            routing,
            receivers,
            identities,
            delivery,
            external_url: external_url.to_string(),
            forward: cfg.forward.clone(),
        }),
        _ => Err(errors),
    }
}

/// A hash of each integration's configuration, in the order `notify` builds a receiver's
/// integrations: a stored notification finds its integration by it after a reload that
/// reordered them.
fn integration_identities(receiver: &serde_yaml_ng::Mapping) -> Vec<u64> {
    let mut out = Vec::new();
    for key in crate::notify::INTEGRATION_KEYS {
        if let Some(serde_yaml_ng::Value::Sequence(list)) = receiver.get(key) {
            for entry in list {
                let text = serde_yaml_ng::to_string(entry).unwrap_or_default();
                let mut h = xxhash_rust::xxh64::Xxh64::new(0);
                h.update(key.as_bytes());
                h.update(text.as_bytes());
                // 0 means "unknown" in stored notifications.
                out.push(h.digest().max(1));
            }
        }
    }
    out
}

/// The integrations that speak HTTP and take an `http_config`.
const HTTP_INTEGRATIONS: &[&str] = &[
    "webhook_configs",
    "slack_configs",
    "pagerduty_configs",
    "msteams_configs",
    "msteamsv2_configs",
    "twilio_configs",
];

/// Gives every `kinds` integration of a receiver without its own `field` the global
/// value, whole (as Alertmanager does with `http_config` and `smtp_tls_config`: no merging
/// of fields).
fn inherit(
    receiver: &mut serde_yaml_ng::Mapping,
    kinds: &[&str],
    field: &str,
    global: Option<&serde_yaml_ng::Value>,
) {
    let Some(global) = global else { return };
    for key in kinds {
        let Some(serde_yaml_ng::Value::Sequence(list)) = receiver.get_mut(*key) else {
            continue;
        };
        for entry in list {
            if let serde_yaml_ng::Value::Mapping(m) = entry
                && !m.contains_key(field)
            {
                m.insert(field.into(), global.clone());
            }
        }
    }
}

fn secret_with_file(
    key: &str,
    value: &Option<Secret>,
    file: &Option<std::path::PathBuf>,
    errors: &mut Vec<FieldError>,
) -> Option<Secret> {
    let mut s = value.clone().unwrap_or_default();
    let mut errs = Vec::new();
    resolve_secret_file(key, &mut s, file.as_ref(), &mut errs);
    errors.extend(errs.into_iter().map(|e| e.under("global")));
    (!s.is_empty()).then_some(s)
}

fn globals_of(g: &GlobalConfig, errors: &mut Vec<FieldError>) -> GlobalDefaults {
    GlobalDefaults {
        smtp_from: g.smtp_from.clone(),
        smtp_smarthost: g.smtp_smarthost.clone(),
        smtp_hello: g.smtp_hello.clone(),
        smtp_auth_username: g.smtp_auth_username.clone(),
        smtp_auth_password: secret_with_file(
            "smtp_auth_password",
            &g.smtp_auth_password,
            &g.smtp_auth_password_file,
            errors,
        ),
        smtp_require_tls: Some(g.smtp_require_tls),
        slack_api_url: secret_with_file(
            "slack_api_url",
            &g.slack_api_url,
            &g.slack_api_url_file,
            errors,
        ),
        pagerduty_url: g.pagerduty_url.clone(),
        resolve_timeout: Some(g.resolve_timeout.get()),
        templates: Vec::new(),
    }
}

/// Reads the files the `templates` globs match, in order.
fn read_templates(
    globs: &[String],
    base: &Path,
    errors: &mut Vec<FieldError>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, pattern) in globs.iter().enumerate() {
        let at = format!("templates[{i}]");
        let full = base.join(pattern);
        let pattern = &full.to_string_lossy().to_string();
        let paths: Vec<std::path::PathBuf> = if pattern.contains(['*', '?', '[']) {
            match glob::glob(pattern) {
                Ok(p) => {
                    let mut v: Vec<_> = p.filter_map(Result::ok).collect();
                    v.sort();
                    v
                }
                Err(e) => {
                    errors.push(FieldError::new(at, format!("invalid pattern: {e}")));
                    continue;
                }
            }
        } else {
            vec![Path::new(pattern).to_path_buf()]
        };
        for p in paths {
            match std::fs::read_to_string(&p) {
                Ok(text) => out.push((p.display().to_string(), text)),
                Err(e) => errors.push(FieldError::new(
                    &at,
                    format!("cannot read {}: {e}", p.display()),
                )),
            }
        }
    }
    out
}

fn delivery_of(d: &DeliveryConfig, errors: &mut Vec<FieldError>) -> Option<DeliverySettings> {
    let mut ok = true;
    for (field, v) in [("timeout", d.timeout), ("give_up_after", d.give_up_after)] {
        if v.get().is_zero() {
            errors.push(FieldError::new(
                format!("delivery.{field}"),
                "must be above zero",
            ));
            ok = false;
        }
    }
    if d.concurrency == 0 {
        errors.push(FieldError::new(
            "delivery.concurrency",
            "must be at least 1",
        ));
        ok = false;
    }
    let backoff = match Backoff::new(
        d.min_backoff.get(),
        d.max_backoff.get(),
        2.0,
        Jitter::Proportional(0.2),
    ) {
        Ok(b) => Some(b.with_retry_after_cap(RETRY_AFTER_CAP)),
        Err(e) => {
            errors.push(FieldError::new("delivery.min_backoff", e.to_string()));
            None
        }
    };
    match (ok, backoff) {
        (true, Some(backoff)) => Some(DeliverySettings {
            timeout: d.timeout.get(),
            give_up_after: d.give_up_after.get(),
            concurrency: d.concurrency,
            backoff,
        }),
        _ => None,
    }
}

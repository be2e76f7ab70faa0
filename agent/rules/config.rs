//! `rules:`, the rule engine's section of the configuration: which rule files to load and
//! what every group shares.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::file::{Expanded, GroupSpec, LoadOptions, expand_patterns, load_files, parse_text};
use crate::config::{ConfigErrors, FieldError, PromDuration, Section};
use crate::store::Labels;

/// `rules:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// Rule files in Prometheus's format: paths or globs (`rules/*.yml`), relative to the
    /// working directory. A missing named file is an error; a glob matching nothing is an
    /// error for `vitals check config` and a warning for `run` and reloads.
    #[serde(default)]
    pub files: Vec<String>,
    /// How often groups that set no `interval` of their own are evaluated.
    #[serde(default = "defaults::evaluation_interval")]
    pub evaluation_interval: PromDuration,
    /// Labels that identify this vitals, available to templates as `$externalLabels`.
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    /// The URL people reach this vitals at, available to templates as `$externalURL`.
    #[serde(default)]
    pub external_url: String,
    /// After a restart, how long at most an alert restored as pending or firing is kept in
    /// its state while its rule does not return it (its inputs may simply not have been
    /// reported again yet). The hold is the shorter of this and the time vitals was down
    /// (since its last store checkpoint) plus one evaluation interval; it ends early for an
    /// alert its rule returns again. `0s` turns the hold off.
    #[serde(default = "defaults::restart_grace")]
    pub restart_grace: PromDuration,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            files: Vec::new(),
            evaluation_interval: defaults::evaluation_interval(),
            external_labels: BTreeMap::new(),
            external_url: String::new(),
            restart_grace: defaults::restart_grace(),
        }
    }
}

impl Section for RulesConfig {}

mod defaults {
    use crate::config::PromDuration;
    use std::time::Duration;

    pub fn evaluation_interval() -> PromDuration {
        Duration::from_secs(15).into()
    }
    /// The 5-minute lookback: a series silent that long is absent to PromQL anyway, and every
    /// `[5m]` window has refilled.
    pub fn restart_grace() -> PromDuration {
        Duration::from_secs(300).into()
    }
}

/// `rules:`, validated, with every group of every file it names.
#[derive(Debug, Clone)]
pub struct RulesSpec {
    /// How often groups without their own `interval` run (and subqueries' default step).
    pub evaluation_interval: Duration,
    /// `$externalLabels`.
    pub external_labels: Labels,
    /// `$externalURL`.
    pub external_url: String,
    /// `restart_grace`.
    pub restart_grace: Duration,
    /// Glob patterns of `files` that matched no file (`files[i]`): an error for `vitals check
    /// config`, a warning for `run` and reloads.
    pub unmatched: Vec<FieldError>,
    /// The groups, in file order.
    pub groups: Vec<GroupSpec>,
}

impl RulesConfig {
    /// Checks the section's own fields; every problem, with paths relative to it.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.evaluation_interval.get().is_zero() {
            errors.push(FieldError::new(
                "evaluation_interval",
                "must be longer than 0s",
            ));
        }
        for name in self.external_labels.keys() {
            if let Err(m) = super::file::check_label_name(name) {
                errors.push(FieldError::new(format!("external_labels.{name}"), m));
            }
        }
        errors
    }

    /// Loads every rule file `files` names; their errors keep their own file and position.
    /// `embedded` (the embedded default configuration) falls back to the built-in copies of
    /// the shipped rules when the patterns match no file.
    pub fn load(&self, embedded: bool) -> Result<RulesSpec, ConfigErrors> {
        // Rule errors are configuration errors already; only `rule_files[i]` is renamed to the
        // field that holds the patterns here.
        let convert = |mut e: ConfigErrors| {
            for err in &mut e.0 {
                if err.path.starts_with("rule_files[") {
                    err.path = err.path.replacen("rule_files", "rules.files", 1);
                }
            }
            e
        };
        let Expanded { files, unmatched } =
            expand_patterns(&self.files, Path::new("")).map_err(convert)?;
        let opts = LoadOptions {
            default_interval_ms: i64::try_from(self.evaluation_interval.get().as_millis())
                .unwrap_or(i64::MAX),
        };
        let fallback = files.is_empty() && embedded;
        let unmatched = if fallback {
            Vec::new()
        } else {
            unmatched
                .into_iter()
                .map(|i| {
                    let p = self.files.get(i).map_or("", String::as_str);
                    FieldError::new(format!("files[{i}]"), format!("{p:?} matches no file"))
                })
                .collect()
        };
        let groups = if fallback {
            let mut groups = Vec::new();
            for (name, text) in super::EMBEDDED_RULES {
                groups.extend(parse_text(text, name, &opts).map_err(convert)?);
            }
            groups
        } else {
            load_files(&files, &opts).map_err(convert)?
        };
        Ok(RulesSpec {
            evaluation_interval: self.evaluation_interval.get(),
            external_labels: Labels::new(
                self.external_labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            ),
            external_url: self.external_url.clone(),
            restart_grace: self.restart_grace.get(),
            unmatched,
            groups,
        })
    }
}

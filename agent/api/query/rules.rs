//! `/api/v1/rules` and `/api/v1/alerts`: the rule engine's latest [`RulesSnapshot`] in
//! Prometheus's shapes (Grafana's alert list and `promtool`-style clients read these).

use std::collections::HashSet;

use serde::Serialize;

use super::error::QueryError;
use super::json::{LabelsJson, go_exp, rfc3339};
use super::params::{Params, parse_matchers};
use crate::rules::status::{ActiveAlert, AlertState, RuleKind, RuleStatus, RulesSnapshot};
use crate::store::LabelMatcher;

#[derive(Serialize)]
pub struct AlertJson<'a> {
    labels: LabelsJson<'a>,
    annotations: LabelsJson<'a>,
    state: &'static str,
    #[serde(rename = "activeAt")]
    active_at: String,
    #[serde(rename = "keepFiringSince", skip_serializing_if = "Option::is_none")]
    keep_firing_since: Option<String>,
    value: String,
}

impl<'a> AlertJson<'a> {
    pub fn new(a: &'a ActiveAlert) -> Self {
        AlertJson {
            labels: LabelsJson(&a.labels),
            annotations: LabelsJson(&a.annotations),
            state: a.state.as_str(),
            active_at: rfc3339(Some(a.active_at_ms)),
            keep_firing_since: a.keep_firing_since_ms.map(|t| rfc3339(Some(t))),
            // Prometheus: strconv.FormatFloat(value, 'e', -1, 64).
            value: go_exp(a.value),
        }
    }
}

/// `{"alerts":[...]}`: every active alert.
#[derive(Serialize)]
pub struct AlertsJson<'a> {
    alerts: Vec<AlertJson<'a>>,
}

pub fn alerts(snap: &RulesSnapshot) -> AlertsJson<'_> {
    AlertsJson {
        alerts: snap.alerts().map(AlertJson::new).collect(),
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum RuleJson<'a> {
    Alerting {
        state: &'static str,
        name: &'a str,
        query: &'a str,
        duration: f64,
        #[serde(rename = "keepFiringFor")]
        keep_firing_for: f64,
        labels: LabelsJson<'a>,
        annotations: LabelsJson<'a>,
        alerts: Vec<AlertJson<'a>>,
        health: &'static str,
        #[serde(rename = "lastError", skip_serializing_if = "Option::is_none")]
        last_error: Option<&'a str>,
        #[serde(rename = "evaluationTime")]
        evaluation_time: f64,
        #[serde(rename = "lastEvaluation")]
        last_evaluation: String,
        #[serde(rename = "type")]
        kind: &'static str,
    },
    Recording {
        name: &'a str,
        query: &'a str,
        labels: LabelsJson<'a>,
        health: &'static str,
        #[serde(rename = "lastError", skip_serializing_if = "Option::is_none")]
        last_error: Option<&'a str>,
        #[serde(rename = "evaluationTime")]
        evaluation_time: f64,
        #[serde(rename = "lastEvaluation")]
        last_evaluation: String,
        #[serde(rename = "type")]
        kind: &'static str,
    },
}

#[derive(Serialize)]
struct GroupJson<'a> {
    name: &'a str,
    file: &'a str,
    rules: Vec<RuleJson<'a>>,
    interval: f64,
    limit: usize,
    #[serde(rename = "evaluationTime")]
    evaluation_time: f64,
    #[serde(rename = "lastEvaluation")]
    last_evaluation: String,
}

/// `{"groups":[...]}`.
#[derive(Serialize)]
pub struct RulesJson<'a> {
    groups: Vec<GroupJson<'a>>,
}

/// What `/api/v1/rules` was asked for.
pub struct RulesFilter {
    alerting: bool,
    recording: bool,
    names: HashSet<String>,
    groups: HashSet<String>,
    files: HashSet<String>,
    matchers: Vec<Vec<LabelMatcher>>,
    exclude_alerts: bool,
}

impl RulesFilter {
    /// Reads `type`, `rule_name[]`, `rule_group[]`, `file[]`, `match[]` and `exclude_alerts`.
    pub fn from_params(p: &Params) -> Result<Self, QueryError> {
        let typ = p.get("type").to_lowercase();
        if !typ.is_empty() && typ != "alert" && typ != "record" {
            return Err(QueryError::invalid_param(
                "type",
                format!("not supported value {typ:?}"),
            ));
        }
        let selectors = p.all("match[]");
        let matchers = if selectors.is_empty() {
            Vec::new()
        } else {
            parse_matchers(&selectors).map_err(QueryError::bad_data)?
        };
        let exclude_alerts = match p.get("exclude_alerts") {
            "" => false,
            v => parse_go_bool(v).ok_or_else(|| {
                QueryError::invalid_param(
                    "exclude_alerts",
                    format!("strconv.ParseBool: parsing {v:?}: invalid syntax"),
                )
            })?,
        };
        let set = |name: &str| p.all(name).into_iter().map(str::to_owned).collect();
        Ok(RulesFilter {
            alerting: typ.is_empty() || typ == "alert",
            recording: typ.is_empty() || typ == "record",
            names: set("rule_name[]"),
            groups: set("rule_group[]"),
            files: set("file[]"),
            matchers,
            exclude_alerts,
        })
    }

    fn keeps(&self, rule: &RuleStatus) -> bool {
        let kind_ok = match rule.kind {
            RuleKind::Alerting { .. } => self.alerting,
            RuleKind::Recording => self.recording,
        };
        kind_ok
            && (self.names.is_empty() || self.names.contains(&rule.name))
            && (self.matchers.is_empty()
                || self.matchers.iter().any(|set| {
                    set.iter()
                        .all(|m| m.matches(rule.labels.get(m.name()).unwrap_or("")))
                }))
    }
}

fn parse_go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// The groups and rules `filter` keeps; a group left with no rules is left out, as
/// Prometheus leaves it out.
pub fn rules<'a>(snap: &'a RulesSnapshot, filter: &RulesFilter) -> RulesJson<'a> {
    let mut groups = Vec::new();
    for g in &snap.groups {
        if (!filter.groups.is_empty() && !filter.groups.contains(&g.name))
            || (!filter.files.is_empty() && !filter.files.contains(&g.file))
        {
            continue;
        }
        let rules: Vec<RuleJson<'a>> = g
            .rules
            .iter()
            .filter(|r| filter.keeps(r))
            .map(|r| rule_json(r, filter.exclude_alerts))
            .collect();
        if rules.is_empty() {
            continue;
        }
        groups.push(GroupJson {
            name: &g.name,
            file: &g.file,
            rules,
            interval: seconds(g.interval_ms),
            limit: g.limit,
            evaluation_time: g.evaluation_seconds,
            last_evaluation: rfc3339(g.last_evaluation_ms),
        });
    }
    RulesJson { groups }
}

fn rule_json(r: &RuleStatus, exclude_alerts: bool) -> RuleJson<'_> {
    let last_error = r.last_error.as_deref().filter(|e| !e.is_empty());
    match &r.kind {
        RuleKind::Alerting {
            for_ms,
            keep_firing_for_ms,
            annotations,
            alerts,
        } => RuleJson::Alerting {
            state: rule_state(alerts),
            name: &r.name,
            query: &r.query,
            duration: seconds(*for_ms),
            keep_firing_for: seconds(*keep_firing_for_ms),
            labels: LabelsJson(&r.labels),
            annotations: LabelsJson(annotations),
            alerts: if exclude_alerts {
                Vec::new()
            } else {
                alerts.iter().map(AlertJson::new).collect()
            },
            health: r.health.as_str(),
            last_error,
            evaluation_time: r.evaluation_seconds,
            last_evaluation: rfc3339(r.last_evaluation_ms),
            kind: "alerting",
        },
        RuleKind::Recording => RuleJson::Recording {
            name: &r.name,
            query: &r.query,
            labels: LabelsJson(&r.labels),
            health: r.health.as_str(),
            last_error,
            evaluation_time: r.evaluation_seconds,
            last_evaluation: rfc3339(r.last_evaluation_ms),
            kind: "recording",
        },
    }
}

/// The highest state of a rule's alerts: `firing`, `pending` or `inactive`.
fn rule_state(alerts: &[ActiveAlert]) -> &'static str {
    if alerts.iter().any(|a| a.state == AlertState::Firing) {
        "firing"
    } else if alerts.is_empty() {
        "inactive"
    } else {
        "pending"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::status::{GroupStatus, RuleHealth};
    use crate::store::Labels;

    fn snapshot() -> RulesSnapshot {
        let alert = ActiveAlert {
            labels: Labels::new([
                ("alertname", "Down"),
                ("probe", "api"),
                ("severity", "page"),
            ]),
            annotations: Labels::new([("summary", "api is down")]),
            state: AlertState::Firing,
            active_at_ms: 1_700_000_000_123,
            fired_at_ms: Some(1_700_000_060_123),
            keep_firing_since_ms: None,
            value: 0.0,
        };
        RulesSnapshot {
            groups: vec![
                GroupStatus {
                    name: "probes".into(),
                    file: "rules/probes.yml".into(),
                    interval_ms: 15_000,
                    limit: 0,
                    rules: vec![
                        RuleStatus {
                            name: "Down".into(),
                            query: "probe_success == 0".into(),
                            labels: Labels::new([("severity", "page")]),
                            kind: RuleKind::Alerting {
                                for_ms: 60_000,
                                keep_firing_for_ms: 0,
                                annotations: Labels::new([(
                                    "summary",
                                    "{{ $labels.probe }} is down",
                                )]),
                                alerts: vec![alert],
                            },
                            health: RuleHealth::Ok,
                            last_error: None,
                            last_evaluation_ms: Some(1_700_000_100_000),
                            evaluation_seconds: 0.0015,
                        },
                        RuleStatus {
                            name: "job:probe_success:avg".into(),
                            query: "avg by (job) (probe_success)".into(),
                            labels: Labels::default(),
                            kind: RuleKind::Recording,
                            health: RuleHealth::Err,
                            last_error: Some("boom".into()),
                            last_evaluation_ms: None,
                            evaluation_seconds: 0.0,
                        },
                    ],
                    last_evaluation_ms: Some(1_700_000_100_000),
                    evaluation_seconds: 0.002,
                },
                GroupStatus {
                    name: "other".into(),
                    file: "rules/other.yml".into(),
                    interval_ms: 60_000,
                    limit: 10,
                    rules: vec![RuleStatus {
                        name: "Quiet".into(),
                        query: "vector(0) > 1".into(),
                        labels: Labels::default(),
                        kind: RuleKind::Alerting {
                            for_ms: 0,
                            keep_firing_for_ms: 300_000,
                            annotations: Labels::default(),
                            alerts: vec![],
                        },
                        health: RuleHealth::Unknown,
                        last_error: None,
                        last_evaluation_ms: None,
                        evaluation_seconds: 0.0,
                    }],
                    last_evaluation_ms: None,
                    evaluation_seconds: 0.0,
                },
            ],
        }
    }

    fn render<T: Serialize>(v: &T) -> serde_json::Value {
        let mut out = Vec::new();
        super::super::json::to_writer(&mut out, v).unwrap_or_default();
        serde_json::from_slice(&out).unwrap_or_default()
    }

    fn filter(q: &str) -> RulesFilter {
        let p = Params::parse(Some(q), None).unwrap_or_default();
        match RulesFilter::from_params(&p) {
            Ok(f) => f,
            Err(e) => panic!("{q}: {e}"),
        }
    }

    #[test]
    fn rules_in_prometheus_shape() {
        let snap = snapshot();
        let v = render(&rules(&snap, &filter("")));
        let g = &v["groups"][0];
        assert_eq!(g["name"], "probes");
        assert_eq!(g["file"], "rules/probes.yml");
        assert_eq!(g["interval"], 15.0);
        assert_eq!(g["limit"], 0);
        assert_eq!(g["evaluationTime"], 0.002);
        assert_eq!(g["lastEvaluation"], "2023-11-14T22:15:00Z");
        let a = &g["rules"][0];
        assert_eq!(a["type"], "alerting");
        assert_eq!(a["state"], "firing");
        assert_eq!(a["name"], "Down");
        assert_eq!(a["query"], "probe_success == 0");
        assert_eq!(a["duration"], 60.0);
        assert_eq!(a["keepFiringFor"], 0.0);
        assert_eq!(a["labels"], serde_json::json!({"severity": "page"}));
        assert_eq!(a["annotations"]["summary"], "{{ $labels.probe }} is down");
        assert_eq!(a["health"], "ok");
        assert!(a.get("lastError").is_none());
        assert_eq!(a["alerts"][0]["state"], "firing");
        assert_eq!(a["alerts"][0]["activeAt"], "2023-11-14T22:13:20.123Z");
        assert_eq!(a["alerts"][0]["value"], "0e+00");
        assert_eq!(a["alerts"][0]["annotations"]["summary"], "api is down");
        let r = &g["rules"][1];
        assert_eq!(r["type"], "recording");
        assert_eq!(r["health"], "err");
        assert_eq!(r["lastError"], "boom");
        assert_eq!(r["lastEvaluation"], "0001-01-01T00:00:00Z");
        assert_eq!(r["labels"], serde_json::json!({}));
        assert!(r.get("state").is_none());
        let q = &v["groups"][1]["rules"][0];
        assert_eq!(q["state"], "inactive");
        assert_eq!(q["keepFiringFor"], 300.0);
        assert_eq!(q["alerts"], serde_json::json!([]));
        assert_eq!(q["health"], "unknown");
    }

    #[test]
    fn rule_filters() {
        let snap = snapshot();
        let names = |q: &str| -> Vec<String> {
            let v = render(&rules(&snap, &filter(q)));
            v["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
                .map(|r| r["name"].as_str().unwrap_or("").to_owned())
                .collect()
        };
        assert_eq!(names("type=record"), ["job:probe_success:avg"]);
        assert_eq!(names("type=ALERT"), ["Down", "Quiet"]);
        assert_eq!(
            names("rule_name[]=Quiet&rule_name[]=Down"),
            ["Down", "Quiet"]
        );
        assert_eq!(names("rule_group[]=other"), ["Quiet"]);
        assert_eq!(
            names("file[]=rules/probes.yml"),
            ["Down", "job:probe_success:avg"]
        );
        assert_eq!(names("match[]=%7Bseverity%3D%22page%22%7D"), ["Down"]);
        // A group whose rules are all filtered out is not listed.
        let v = render(&rules(&snap, &filter("type=record")));
        assert_eq!(v["groups"].as_array().map(Vec::len), Some(1));
        let v = render(&rules(&snap, &filter("exclude_alerts=true")));
        assert_eq!(v["groups"][0]["rules"][0]["alerts"], serde_json::json!([]));
    }

    #[test]
    fn bad_rule_filters() {
        let p = Params::parse(Some("type=both"), None).unwrap_or_default();
        let err = RulesFilter::from_params(&p).map(|_| ()).unwrap_err();
        assert_eq!(
            err.message,
            "invalid parameter \"type\": not supported value \"both\""
        );
        let p = Params::parse(Some("exclude_alerts=maybe"), None).unwrap_or_default();
        assert!(RulesFilter::from_params(&p).is_err());
    }

    #[test]
    fn alerts_list_every_active_alert() {
        let snap = snapshot();
        let v = render(&alerts(&snap));
        let list = v["alerts"].as_array().cloned().unwrap_or_default();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["labels"]["alertname"], "Down");
        assert_eq!(list[0]["state"], "firing");
        assert_eq!(list[0]["value"], "0e+00");
        assert!(list[0].get("keepFiringSince").is_none());
        let empty = render(&alerts(&RulesSnapshot::default()));
        assert_eq!(empty, serde_json::json!({"alerts": []}));
    }
}

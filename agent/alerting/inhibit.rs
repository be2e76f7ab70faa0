//! Inhibition (Alertmanager's `inhibit` package): while a source alert fires, target alerts
//! with the same values of the rule's `equal` labels are muted. Rules come from `config`;
//! `dispatch`'s caller asks [`Inhibitor::inhibited_by`] before notifying.

use std::collections::BTreeSet;

use super::matchers::Matchers;
use super::{Alert, Fingerprint, Labels};

/// One compiled inhibit rule.
#[derive(Debug, Clone)]
pub struct InhibitRule {
    /// Matchers of the inhibiting (source) alerts.
    pub source: Matchers,
    /// Matchers of the inhibited (target) alerts.
    pub target: Matchers,
    /// Labels whose values must be equal on both (a missing label is the empty string).
    pub equal: BTreeSet<String>,
}

impl InhibitRule {
    /// The fingerprint of a firing alert in `alerts` that inhibits `labels` under this rule.
    /// When the target also matches the source side, alerts that match both sides are not
    /// counted as sources, so an alert never inhibits itself (Alertmanager's `hasEqual` with
    /// `excludeTwoSidedMatch`).
    pub fn inhibited_by<'a>(
        &self,
        labels: &Labels,
        alerts: impl IntoIterator<Item = &'a Alert>,
        now_ms: i64,
    ) -> Option<Fingerprint> {
        if !self.target.matches(labels) {
            return None;
        }
        let two_sided = self.source.matches(labels);
        let get = |l: &'a Labels, n: &str| l.get(n).map_or("", String::as_str).to_string();
        alerts
            .into_iter()
            .filter(|a| !a.resolved(now_ms) && self.source.matches(&a.labels))
            .filter(|a| {
                self.equal
                    .iter()
                    .all(|n| get(&a.labels, n) == labels.get(n).map_or("", String::as_str))
            })
            .find(|a| !(two_sided && self.target.matches(&a.labels)))
            .map(Alert::fingerprint)
    }
}

/// The inhibit rules of one configuration.
#[derive(Debug, Clone, Default)]
pub struct Inhibitor {
    /// The rules, in order.
    pub rules: Vec<InhibitRule>,
}

impl Inhibitor {
    /// An inhibitor for `rules`.
    pub fn new(rules: Vec<InhibitRule>) -> Self {
        Inhibitor { rules }
    }

    /// The fingerprint of an alert in `alerts` (the alerts currently known; resolved ones are
    /// skipped) that inhibits an alert with `labels`, by the first rule that has one. For one
    /// target; many targets share one [`Inhibitor::sources`].
    pub fn inhibited_by<A: std::borrow::Borrow<Alert>>(
        &self,
        labels: &Labels,
        alerts: &[A],
        now_ms: i64,
    ) -> Option<Fingerprint> {
        self.inhibited_by_in(labels, &self.sources(alerts, now_ms), now_ms)
    }

    /// Per rule, the alerts of `alerts` that can inhibit under it (firing, matching its
    /// source side): built once, then asked for many targets with [`Inhibitor::inhibited_by_in`]
    /// (a scan of all alerts per target is quadratic in a large alert set).
    pub fn sources<'a, A: std::borrow::Borrow<Alert>>(
        &self,
        alerts: &'a [A],
        now_ms: i64,
    ) -> Vec<Vec<&'a Alert>> {
        self.rules
            .iter()
            .map(|r| {
                alerts
                    .iter()
                    .map(|a| a.borrow())
                    .filter(|a| !a.resolved(now_ms) && r.source.matches(&a.labels))
                    .collect()
            })
            .collect()
    }

    /// The inhibiting alert's fingerprint for `labels`, by the first rule that has one, over
    /// the `sources` built for the current alerts.
    pub fn inhibited_by_in(
        &self,
        labels: &Labels,
        sources: &[Vec<&Alert>],
        now_ms: i64,
    ) -> Option<Fingerprint> {
        self.rules
            .iter()
            .zip(sources)
            .find_map(|(r, src)| r.inhibited_by(labels, src.iter().copied(), now_ms))
    }

    /// Whether an alert with `labels` is inhibited.
    pub fn mutes<A: std::borrow::Borrow<Alert>>(
        &self,
        labels: &Labels,
        alerts: &[A],
        now_ms: i64,
    ) -> bool {
        self.inhibited_by(labels, alerts, now_ms).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::labels;
    use proptest::prelude::*;

    fn rule(source: &str, target: &str, equal: &[&str]) -> InhibitRule {
        InhibitRule {
            source: Matchers::parse(source).unwrap(),
            target: Matchers::parse(target).unwrap(),
            equal: equal.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn alert(pairs: &[(&str, &str)]) -> Alert {
        Alert {
            labels: labels(pairs),
            starts_at_ms: 1,
            ..Alert::default()
        }
    }

    #[test]
    fn critical_inhibits_warning_of_same_service() {
        let ih = Inhibitor::new(vec![rule(
            r#"severity="critical""#,
            r#"severity="warning""#,
            &["service"],
        )]);
        let crit = alert(&[("severity", "critical"), ("service", "api")]);
        let firing = vec![crit.clone()];
        let warn_api = labels(&[("severity", "warning"), ("service", "api")]);
        let warn_db = labels(&[("severity", "warning"), ("service", "db")]);
        assert_eq!(
            ih.inhibited_by(&warn_api, &firing, 10),
            Some(crit.fingerprint())
        );
        assert!(!ih.mutes(&warn_db, &firing, 10));
        // Resolved sources do not inhibit.
        let mut resolved = crit;
        resolved.ends_at_ms = 5;
        assert!(!ih.mutes(&warn_api, &[resolved], 10));
        // Missing equal labels are equal (both empty).
        let crit_nosvc = alert(&[("severity", "critical")]);
        assert!(ih.mutes(&labels(&[("severity", "warning")]), &[crit_nosvc], 10));
    }

    #[test]
    fn an_alert_does_not_inhibit_itself() {
        // Source and target both match any alert with `alertname=Foo`.
        let ih = Inhibitor::new(vec![rule(r#"alertname="Foo""#, r#"alertname="Foo""#, &[])]);
        let a = alert(&[("alertname", "Foo"), ("x", "1")]);
        let b = alert(&[("alertname", "Foo"), ("x", "2")]);
        assert!(!ih.mutes(&a.labels, std::slice::from_ref(&a), 10));
        // Another alert that matches both sides does not inhibit either.
        assert!(!ih.mutes(&a.labels, &[a.clone(), b], 10));
    }

    proptest! {
        #[test]
        fn equals_direct_model(
            sev_t in "(critical|warning|info)",
            svc_t in "(api|db)?",
            sources in proptest::collection::vec(("(critical|warning)", "(api|db)?", any::<bool>()), 0..5),
        ) {
            let r = rule(r#"severity="critical""#, r#"severity=~"warning|info""#, &["service"]);
            let target = labels(&[("severity", &sev_t), ("service", &svc_t)]);
            let alerts: Vec<Alert> = sources
                .iter()
                .map(|(sev, svc, resolved)| Alert {
                    labels: labels(&[("severity", sev), ("service", svc)]),
                    ends_at_ms: if *resolved { 5 } else { 0 },
                    ..Alert::default()
                })
                .collect();
            let want = sev_t != "critical"
                && sources.iter().any(|(sev, svc, resolved)| !resolved && sev == "critical" && *svc == svc_t);
            prop_assert_eq!(r.inhibited_by(&target, &alerts, 10).is_some(), want);
            // The stage's indexed form agrees with the model too.
            let inh = Inhibitor::new(vec![r.clone()]);
            let sources = inh.sources(&alerts, 10);
            prop_assert_eq!(inh.inhibited_by_in(&target, &sources, 10).is_some(), want);
        }
    }
}

//! The alert state machine of one alerting rule: inactive → pending → firing → resolved,
//! with `for` and `keep_firing_for`, as Prometheus's `rules/alerting.go` defines it.
//!
//! It owns the rule's active alerts (keyed by their labels) and nothing else: evaluating the
//! expression, rendering templates and writing `ALERTS` are the group's job. Its state
//! serialises to [`PersistedAlert`]s so that a restart resumes exactly where it stopped: a
//! firing alert is still firing, a pending one keeps its `for` progress.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::status::{ActiveAlert, AlertState};
use crate::store::Labels;

/// How long a resolved alert is kept (for notifications of its end), as Prometheus does.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// The state of one alert instance, including resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InstanceState {
    Pending,
    Firing,
    /// Resolved (was firing, or was pending and is being evicted); kept for
    /// [`RESOLVED_RETENTION_MS`].
    Inactive,
}

/// One alert instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersistedAlert {
    /// Final labels (series labels without `__name__`, rule labels, `alertname`).
    pub labels: Vec<(String, String)>,
    /// Rendered annotations.
    pub annotations: Vec<(String, String)>,
    pub state: InstanceState,
    pub active_at_ms: i64,
    pub fired_at_ms: Option<i64>,
    pub resolved_at_ms: Option<i64>,
    pub keep_firing_since_ms: Option<i64>,
    /// The value at the last evaluation that returned it.
    pub value: f64,
}

#[derive(Clone, Debug, PartialEq)]
struct Instance {
    annotations: Labels,
    state: InstanceState,
    active_at: i64,
    fired_at: Option<i64>,
    resolved_at: Option<i64>,
    keep_firing_since: Option<i64>,
    value: f64,
    /// When it was last handed to the alert sink (not persisted: after a restart every
    /// firing alert is sent again at once, which the receiving side deduplicates).
    last_sent: Option<i64>,
    /// Restored at start: until this time an evaluation that does not return it leaves it
    /// as it was (its inputs may not have been reported again yet). Cleared once returned.
    held_until: Option<i64>,
}

impl Instance {
    /// The API's view of a pending or firing instance.
    fn active_alert(&self, labels: &Labels) -> ActiveAlert {
        ActiveAlert {
            labels: labels.clone(),
            annotations: self.annotations.clone(),
            state: if self.state == InstanceState::Firing {
                AlertState::Firing
            } else {
                AlertState::Pending
            },
            active_at_ms: self.active_at,
            fired_at_ms: self.fired_at,
            keep_firing_since_ms: self.keep_firing_since,
            value: self.value,
        }
    }
}

/// One element of the rule's result, after templates: the alert's final labels, its
/// rendered annotations and the expression's value.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub labels: Labels,
    pub annotations: Labels,
    pub value: f64,
}

/// A state change, for logs and (later) notifications.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    pub labels: Labels,
    pub annotations: Labels,
    /// The new state (`Inactive` = resolved).
    pub to: InstanceState,
    pub value: f64,
    pub active_at_ms: i64,
}

/// What an evaluation of the state machine produced.
#[derive(Debug, Default)]
pub struct Step {
    /// The pending and firing alerts after this evaluation.
    pub active: Vec<ActiveAlert>,
    /// State changes in this evaluation.
    pub transitions: Vec<Transition>,
}

/// Errors of one evaluation.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AlertError {
    #[error("vector contains metrics with the same labelset after applying alert labels")]
    DuplicateLabelset,
    #[error("exceeded limit of {limit} with {count} alerts")]
    Limit { limit: usize, count: usize },
}

/// The active alerts of one alerting rule.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertTable {
    active: BTreeMap<Labels, Instance>,
}

impl AlertTable {
    /// Applies one evaluation's result at `ts` (ms).
    pub fn step(
        &mut self,
        results: Vec<Candidate>,
        ts: i64,
        for_ms: i64,
        keep_firing_for_ms: i64,
        limit: usize,
    ) -> Result<Step, AlertError> {
        let mut seen: BTreeMap<Labels, Candidate> = BTreeMap::new();
        for c in results {
            if seen.contains_key(&c.labels) {
                return Err(AlertError::DuplicateLabelset);
            }
            seen.insert(c.labels.clone(), c);
        }
        let mut transitions = Vec::new();
        for (labels, c) in &seen {
            match self.active.get_mut(labels) {
                Some(a) if a.state != InstanceState::Inactive => {
                    a.value = c.value;
                    a.annotations = c.annotations.clone();
                }
                _ => {
                    self.active.insert(
                        labels.clone(),
                        Instance {
                            annotations: c.annotations.clone(),
                            state: InstanceState::Pending,
                            active_at: ts,
                            fired_at: None,
                            resolved_at: None,
                            keep_firing_since: None,
                            value: c.value,
                            last_sent: None,
                            held_until: None,
                        },
                    );
                    transitions.push(Transition {
                        labels: labels.clone(),
                        annotations: c.annotations.clone(),
                        to: InstanceState::Pending,
                        value: c.value,
                        active_at_ms: ts,
                    });
                }
            }
        }
        let mut evict = Vec::new();
        let mut active = Vec::new();
        for (labels, a) in self.active.iter_mut() {
            if seen.contains_key(labels) {
                a.keep_firing_since = None;
                a.held_until = None;
            } else if a.state != InstanceState::Inactive
                && a.held_until.is_some_and(|until| ts < until)
            {
                // Held after a restart: neither resolved nor promoted.
                active.push(a.active_alert(labels));
                continue;
            } else {
                let mut keep_firing = false;
                if a.state == InstanceState::Firing && keep_firing_for_ms > 0 {
                    let since = *a.keep_firing_since.get_or_insert(ts);
                    keep_firing = ts - since < keep_firing_for_ms;
                }
                if !keep_firing {
                    if a.state == InstanceState::Pending
                        || a.resolved_at
                            .is_some_and(|r| ts - r > RESOLVED_RETENTION_MS)
                    {
                        evict.push(labels.clone());
                    }
                    if a.state != InstanceState::Inactive {
                        let was_firing = a.state == InstanceState::Firing;
                        a.state = InstanceState::Inactive;
                        a.resolved_at = Some(ts);
                        if was_firing {
                            transitions.push(Transition {
                                labels: labels.clone(),
                                annotations: a.annotations.clone(),
                                to: InstanceState::Inactive,
                                value: a.value,
                                active_at_ms: a.active_at,
                            });
                        }
                    }
                    continue;
                }
            }
            if a.state == InstanceState::Pending && ts - a.active_at >= for_ms {
                a.state = InstanceState::Firing;
                a.fired_at = Some(ts);
                transitions.push(Transition {
                    labels: labels.clone(),
                    annotations: a.annotations.clone(),
                    to: InstanceState::Firing,
                    value: a.value,
                    active_at_ms: a.active_at,
                });
            }
            active.push(a.active_alert(labels));
        }
        for labels in evict {
            self.active.remove(&labels);
        }
        if limit > 0 && active.len() > limit {
            let count = active.len();
            self.active.clear();
            return Err(AlertError::Limit { limit, count });
        }
        Ok(Step {
            active,
            transitions,
        })
    }

    /// The pending and firing alerts, sorted by labels.
    pub fn active(&self) -> Vec<ActiveAlert> {
        self.active
            .iter()
            .filter(|(_, a)| a.state != InstanceState::Inactive)
            .map(|(labels, a)| a.active_alert(labels))
            .collect()
    }

    /// Every instance, resolved ones included, for persistence.
    pub fn persist(&self) -> Vec<PersistedAlert> {
        let pairs = |l: &Labels| {
            l.iter()
                .map(|p| (p.name.to_string(), p.value.to_string()))
                .collect::<Vec<_>>()
        };
        self.active
            .iter()
            .map(|(labels, a)| PersistedAlert {
                labels: pairs(labels),
                annotations: pairs(&a.annotations),
                state: a.state,
                active_at_ms: a.active_at,
                fired_at_ms: a.fired_at,
                resolved_at_ms: a.resolved_at,
                keep_firing_since_ms: a.keep_firing_since,
                value: a.value,
            })
            .collect()
    }

    /// The table [`AlertTable::persist`] saved. Its pending and firing alerts are held (see
    /// `Instance::held_until`) until `hold_until` (ms), when given.
    pub fn restore(saved: &[PersistedAlert], hold_until: Option<i64>) -> AlertTable {
        let labels =
            |v: &[(String, String)]| Labels::new(v.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        AlertTable {
            active: saved
                .iter()
                .map(|p| {
                    (
                        labels(&p.labels),
                        Instance {
                            annotations: labels(&p.annotations),
                            state: p.state,
                            active_at: p.active_at_ms,
                            fired_at: p.fired_at_ms,
                            resolved_at: p.resolved_at_ms,
                            keep_firing_since: p.keep_firing_since_ms,
                            value: p.value,
                            last_sent: None,
                            // One already past its rule (running out `keep_firing_for`)
                            // goes on as before, unheld.
                            held_until: hold_until.filter(|_| p.keep_firing_since_ms.is_none()),
                        },
                    )
                })
                .collect(),
        }
    }

    /// The alerts to hand to the alert sink at `ts` (Prometheus's `sendAlerts`, see
    /// [`super::sink`]), marked as sent: firing and resolved ones (never pending) that
    /// changed since they were last sent or were last sent `resend_delay_ms` ago. Each is
    /// (labels, annotations, fired at, ends at).
    pub fn to_send(
        &mut self,
        ts: i64,
        resend_delay_ms: i64,
        interval_ms: i64,
    ) -> Vec<(&Labels, &Labels, i64, i64)> {
        let valid_until = ts.saturating_add(4 * resend_delay_ms.max(interval_ms));
        let mut out = Vec::new();
        for (labels, a) in self.active.iter_mut() {
            // Pending alerts, and pending ones being evicted, have never fired.
            let Some(fired_at) = a.fired_at else { continue };
            if a.state == InstanceState::Pending {
                continue;
            }
            let resolved_since_sent = match (a.resolved_at, a.last_sent) {
                (Some(r), Some(sent)) => r > sent,
                (Some(_), None) => true,
                _ => false,
            };
            let due = a
                .last_sent
                .is_none_or(|sent| sent.saturating_add(resend_delay_ms) < ts);
            if !(resolved_since_sent || due) {
                continue;
            }
            a.last_sent = Some(ts);
            let ends_at = a.resolved_at.unwrap_or(valid_until);
            out.push((labels, &a.annotations, fired_at, ends_at));
        }
        out
    }

    /// Number of instances held (resolved included).
    pub fn len(&self) -> usize {
        self.active.len()
    }

    /// True when no instance is held.
    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cand(job: &str) -> Candidate {
        Candidate {
            labels: Labels::new([("alertname", "A"), ("job", job)]),
            annotations: Labels::default(),
            value: 1.0,
        }
    }

    fn states(t: &AlertTable) -> Vec<AlertState> {
        t.active().iter().map(|a| a.state).collect()
    }

    #[test]
    fn pending_then_firing_after_for() {
        let mut t = AlertTable::default();
        let s = t.step(vec![cand("a")], 0, 60_000, 0, 0).unwrap();
        assert_eq!(s.active[0].state, AlertState::Pending);
        assert_eq!(s.transitions[0].to, InstanceState::Pending);
        t.step(vec![cand("a")], 30_000, 60_000, 0, 0).unwrap();
        assert_eq!(states(&t), vec![AlertState::Pending]);
        let s = t.step(vec![cand("a")], 60_000, 60_000, 0, 0).unwrap();
        assert_eq!(states(&t), vec![AlertState::Firing]);
        assert_eq!(s.transitions[0].to, InstanceState::Firing);
        assert_eq!(s.active[0].active_at_ms, 0);
        assert_eq!(s.active[0].fired_at_ms, Some(60_000));
    }

    #[test]
    fn zero_for_fires_at_once_and_resolves() {
        let mut t = AlertTable::default();
        let s = t.step(vec![cand("a")], 0, 0, 0, 0).unwrap();
        assert_eq!(s.active[0].state, AlertState::Firing);
        let s = t.step(vec![], 15_000, 0, 0, 0).unwrap();
        assert!(s.active.is_empty());
        assert_eq!(s.transitions[0].to, InstanceState::Inactive);
        // The resolved instance is kept for notifications, then evicted.
        assert_eq!(t.len(), 1);
        t.step(vec![], 15_000 + RESOLVED_RETENTION_MS + 1, 0, 0, 0)
            .unwrap();
        assert!(t.is_empty());
    }

    #[test]
    fn a_restored_alert_is_held_while_absent_until_the_hold_ends() {
        let mut t = AlertTable::default();
        t.step(vec![cand("a"), cand("b")], 0, 0, 0, 0).unwrap();
        let saved = t.persist();
        // Restarted at 100 s, held until 130 s.
        let mut r = AlertTable::restore(&saved, Some(130_000));
        let s = r.step(vec![cand("b")], 115_000, 0, 0, 0).unwrap();
        assert!(s.transitions.is_empty(), "{:?}", s.transitions);
        assert_eq!(s.active.len(), 2);
        assert!(
            s.active
                .iter()
                .all(|a| a.state == AlertState::Firing && a.active_at_ms == 0)
        );
        // `b` came back: its hold is over, so its absence now resolves it; `a` is still held.
        let s = r.step(vec![], 120_000, 0, 0, 0).unwrap();
        assert_eq!(s.transitions.len(), 1);
        assert_eq!(s.transitions[0].labels, cand("b").labels);
        assert_eq!(s.transitions[0].to, InstanceState::Inactive);
        // The hold ends: `a` resolves.
        let s = r.step(vec![], 130_000, 0, 0, 0).unwrap();
        assert_eq!(s.transitions.len(), 1);
        assert_eq!(s.transitions[0].labels, cand("a").labels);
        assert!(s.active.is_empty());
    }

    #[test]
    fn an_alert_restored_while_running_out_keep_firing_for_is_not_held() {
        let mut t = AlertTable::default();
        t.step(vec![cand("a")], 0, 0, 30_000, 0).unwrap();
        t.step(vec![], 15_000, 0, 30_000, 0).unwrap();
        let mut r = AlertTable::restore(&t.persist(), Some(300_000));
        // keep_firing_for ends at 45 s as it would have without the restart.
        let s = r.step(vec![], 45_000, 0, 30_000, 0).unwrap();
        assert_eq!(s.transitions.len(), 1);
        assert_eq!(s.transitions[0].to, InstanceState::Inactive);
    }

    #[test]
    fn a_held_pending_alert_is_neither_dropped_nor_promoted() {
        let mut t = AlertTable::default();
        t.step(vec![cand("a")], 0, 60_000, 0, 0).unwrap();
        let mut r = AlertTable::restore(&t.persist(), Some(200_000));
        // Past its `for`, but absent: it stays pending.
        let s = r.step(vec![], 90_000, 60_000, 0, 0).unwrap();
        assert!(s.transitions.is_empty());
        assert_eq!(s.active[0].state, AlertState::Pending);
        // Returned: promoted as usual, keeping its activeAt.
        let s = r.step(vec![cand("a")], 105_000, 60_000, 0, 0).unwrap();
        assert_eq!(s.active[0].state, AlertState::Firing);
        assert_eq!(s.active[0].active_at_ms, 0);
    }

    #[test]
    fn pending_that_stops_is_dropped_without_a_resolved_event() {
        let mut t = AlertTable::default();
        t.step(vec![cand("a")], 0, 60_000, 0, 0).unwrap();
        let s = t.step(vec![], 15_000, 60_000, 0, 0).unwrap();
        assert!(s.transitions.is_empty());
        assert!(t.is_empty());
    }

    #[test]
    fn keep_firing_for_holds_a_firing_alert() {
        let mut t = AlertTable::default();
        t.step(vec![cand("a")], 0, 0, 30_000, 0).unwrap();
        let s = t.step(vec![], 15_000, 0, 30_000, 0).unwrap();
        assert_eq!(s.active[0].state, AlertState::Firing);
        assert_eq!(s.active[0].keep_firing_since_ms, Some(15_000));
        t.step(vec![], 30_000, 0, 30_000, 0).unwrap();
        assert_eq!(states(&t), vec![AlertState::Firing]);
        t.step(vec![], 45_000, 0, 30_000, 0).unwrap();
        assert!(states(&t).is_empty());
    }

    #[test]
    fn returning_result_resets_keep_firing_since() {
        let mut t = AlertTable::default();
        t.step(vec![cand("a")], 0, 0, 30_000, 0).unwrap();
        t.step(vec![], 15_000, 0, 30_000, 0).unwrap();
        let s = t.step(vec![cand("a")], 30_000, 0, 30_000, 0).unwrap();
        assert_eq!(s.active[0].keep_firing_since_ms, None);
        t.step(vec![], 45_000, 0, 30_000, 0).unwrap();
        t.step(vec![], 60_000, 0, 30_000, 0).unwrap();
        assert_eq!(states(&t), vec![AlertState::Firing]);
    }

    #[test]
    fn a_resolved_alert_that_returns_starts_pending_again() {
        let mut t = AlertTable::default();
        t.step(vec![cand("a")], 0, 0, 0, 0).unwrap();
        t.step(vec![], 15_000, 0, 0, 0).unwrap();
        let s = t.step(vec![cand("a")], 30_000, 60_000, 0, 0).unwrap();
        assert_eq!(s.active[0].state, AlertState::Pending);
        assert_eq!(s.active[0].active_at_ms, 30_000);
    }

    #[test]
    fn duplicates_and_limit_are_errors() {
        let mut t = AlertTable::default();
        assert_eq!(
            t.step(vec![cand("a"), cand("a")], 0, 0, 0, 0).unwrap_err(),
            AlertError::DuplicateLabelset
        );
        assert_eq!(
            t.step(vec![cand("a"), cand("b")], 0, 0, 0, 1).unwrap_err(),
            AlertError::Limit { limit: 1, count: 2 }
        );
        assert!(t.is_empty());
    }

    /// The reference the table is checked against: one series' state from its presence at
    /// each step, written from the rules' definition rather than from the code above.
    fn model(present: &[bool], step: i64, for_ms: i64, kff: i64) -> Vec<Option<AlertState>> {
        let mut out = Vec::new();
        let mut active_at: Option<i64> = None;
        let mut firing = false;
        let mut absent_since: Option<i64> = None;
        for (i, &p) in present.iter().enumerate() {
            let ts = i as i64 * step;
            if p {
                absent_since = None;
                let at = *active_at.get_or_insert(ts);
                if ts - at >= for_ms {
                    firing = true;
                }
            } else if firing && kff > 0 && ts - *absent_since.get_or_insert(ts) < kff {
                // kept firing
            } else {
                active_at = None;
                firing = false;
                absent_since = None;
            }
            out.push(match (active_at, firing) {
                (None, _) => None,
                (Some(_), true) => Some(AlertState::Firing),
                (Some(_), false) => Some(AlertState::Pending),
            });
        }
        out
    }

    proptest! {
        #[test]
        fn matches_the_model(present in proptest::collection::vec(any::<bool>(), 1..60),
                             for_steps in 0i64..5, kff_steps in 0i64..5) {
            let step = 15_000;
            let (for_ms, kff) = (for_steps * step, kff_steps * step);
            let expected = model(&present, step, for_ms, kff);
            let mut t = AlertTable::default();
            for (i, &p) in present.iter().enumerate() {
                let r = if p { vec![cand("a")] } else { vec![] };
                let s = t.step(r, i as i64 * step, for_ms, kff, 0).unwrap();
                prop_assert_eq!(s.active.first().map(|a| a.state), expected[i], "step {}", i);
            }
        }

        /// A restart at any step (persist, then restore into a new table) changes nothing
        /// that follows: the state survives exactly.
        #[test]
        fn restore_resumes_exactly(present in proptest::collection::vec(any::<bool>(), 1..40),
                                   restart_at in 0usize..40,
                                   for_steps in 0i64..4, kff_steps in 0i64..4) {
            let step = 15_000;
            let (for_ms, kff) = (for_steps * step, kff_steps * step);
            let mut a = AlertTable::default();
            let mut b = AlertTable::default();
            for (i, &p) in present.iter().enumerate() {
                if i == restart_at {
                    let saved = serde_json::to_vec(&b.persist()).unwrap();
                    let saved: Vec<PersistedAlert> = serde_json::from_slice(&saved).unwrap();
                    b = AlertTable::restore(&saved, None);
                }
                let r = if p { vec![cand("a"), cand("b")] } else { vec![cand("b")] };
                let sa = a.step(r.clone(), i as i64 * step, for_ms, kff, 0).unwrap();
                let sb = b.step(r, i as i64 * step, for_ms, kff, 0).unwrap();
                prop_assert_eq!(sa.active, sb.active);
                prop_assert_eq!(sa.transitions, sb.transitions);
            }
        }
    }
}

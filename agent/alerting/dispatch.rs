//! Aggregation groups and their timing (Alertmanager's `dispatch/dispatch.go` plus the
//! `DedupStage` of `notify/notify.go`), as a pure state machine: the caller feeds alerts
//! ([`Dispatcher::insert`]) and the time ([`Dispatcher::tick`]), and gets back the
//! notifications to send now ([`Flush`]). No clock, no timers, no I/O.
//!
//! Per (route, group labels) group:
//! - the first flush comes `group_wait` after the group appeared (at once when the alert that
//!   made it started more than `group_wait` ago);
//! - after that the group is looked at every `group_interval`, and notified when it changed
//!   (a new firing alert; a newly resolved one when `send_resolved`; all resolved), or when
//!   nothing changed but `repeat_interval` passed since the last notification;
//! - resolved alerts are sent once (when the receiver has `send_resolved`) and then dropped;
//!   a group with no alerts left is removed.
//!
//! The notification log (what was last sent per group and receiver) is kept here too, as
//! Alertmanager's `nflog`; delivery itself (with retries) is `notify`'s, and a flush is taken
//! as delivered. Alerts without an end time should be given `now + resolve_timeout` as their
//! end by the caller, as Alertmanager's API does.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::route::{RouteNode, RouteTree};
use super::{Alert, Fingerprint, Labels};

/// Why a group is notified (Alertmanager's `NotifyReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyReason {
    /// The group was never notified to this receiver, or the last notification resolved all.
    FirstNotification,
    /// Alerts fire that the last notification did not have.
    NewAlertsInGroup,
    /// Every alert the receiver was told of has resolved.
    AllAlertsResolved,
    /// Alerts resolved since the last notification (receivers with `send_resolved`).
    NewResolvedAlerts,
    /// Nothing changed, and `repeat_interval` passed.
    RepeatIntervalElapsed,
}

/// One notification to send now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flush {
    /// Alertmanager's group key: `<route key>:<group labels>`.
    pub group_key: String,
    /// The route's id.
    pub route_id: String,
    /// The receiver to notify.
    pub receiver: String,
    /// The group's labels (`.GroupLabels` in templates).
    pub group_labels: Labels,
    /// The firing alerts, by fingerprint (shared with the stage's alert table: one copy of
    /// each alert in memory).
    pub firing: Vec<Arc<Alert>>,
    /// The resolved alerts (empty unless the receiver has `send_resolved`).
    pub resolved: Vec<Arc<Alert>>,
    /// Why it is sent.
    pub reason: NotifyReason,
    /// When this group was last notified to this receiver (the previous log entry), if ever:
    /// with the alerts it makes a notification's id stable across a crash before the
    /// decision was stored.
    pub previous_ms: Option<i64>,
}

/// What was last sent for a group (an `nflog` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
struct LogEntry {
    firing: BTreeSet<Fingerprint>,
    resolved: BTreeSet<Fingerprint>,
    at_ms: i64,
}

/// One notification-log entry in its stored form: what was last sent to `receiver` for
/// the group `group_key`, and when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NflogRecord {
    pub group_key: String,
    pub receiver: String,
    pub firing: Vec<Fingerprint>,
    pub resolved: Vec<Fingerprint>,
    pub at_ms: i64,
}

/// One aggregation group.
#[derive(Debug, Clone)]
pub struct Group {
    /// The group key.
    pub key: String,
    /// The route's id.
    pub route_id: String,
    /// The receiver.
    pub receiver: String,
    /// The group labels.
    pub labels: Labels,
    /// Its alerts, by fingerprint.
    pub alerts: BTreeMap<Fingerprint, Arc<Alert>>,
    /// When it is next looked at.
    pub next_flush_ms: i64,
    /// Whether it was flushed once.
    pub has_flushed: bool,
    group_interval_ms: i64,
    repeat_interval_ms: i64,
}

/// The groups of one routing tree.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    tree: RouteTree,
    groups: BTreeMap<String, Group>,
    log: BTreeMap<(String, String), LogEntry>,
    /// Log keys changed since [`Dispatcher::take_changed_log`] (to store them).
    changed: BTreeSet<(String, String)>,
    send_resolved: BTreeMap<String, bool>,
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Alertmanager's `DedupStage.needsUpdate`: why to notify, or `None`.
fn needs_update(
    entry: Option<&LogEntry>,
    firing: &BTreeSet<Fingerprint>,
    resolved: &BTreeSet<Fingerprint>,
    send_resolved: bool,
    repeat_ms: i64,
    now_ms: i64,
) -> Option<NotifyReason> {
    let Some(entry) = entry else {
        return (!firing.is_empty()).then_some(NotifyReason::FirstNotification);
    };
    if !firing.is_subset(&entry.firing) {
        return Some(if entry.firing.is_empty() {
            NotifyReason::FirstNotification
        } else {
            NotifyReason::NewAlertsInGroup
        });
    }
    if firing.is_empty() {
        // All resolved: notify if the receiver was told of firing alerts.
        return (!entry.firing.is_empty()).then_some(NotifyReason::AllAlertsResolved);
    }
    if send_resolved && !resolved.is_subset(&entry.resolved) {
        return Some(NotifyReason::NewResolvedAlerts);
    }
    (entry.at_ms.saturating_add(repeat_ms) < now_ms).then_some(NotifyReason::RepeatIntervalElapsed)
}

impl Dispatcher {
    /// A dispatcher for `tree`; every receiver has `send_resolved` until told otherwise.
    pub fn new(tree: RouteTree) -> Self {
        Dispatcher {
            tree,
            groups: BTreeMap::new(),
            log: BTreeMap::new(),
            changed: BTreeSet::new(),
            send_resolved: BTreeMap::new(),
        }
    }

    /// Sets whether `receiver` is sent resolved alerts.
    pub fn set_send_resolved(&mut self, receiver: &str, send: bool) {
        self.send_resolved.insert(receiver.to_string(), send);
    }

    fn sends_resolved(&self, receiver: &str) -> bool {
        self.send_resolved.get(receiver).copied().unwrap_or(true)
    }

    /// Routes `alert` and adds it (replacing an alert with the same labels) to the group of
    /// each route it matches, creating groups as needed.
    pub fn insert(&mut self, alert: Arc<Alert>, now_ms: i64) {
        let routes: Vec<&RouteNode> = self.tree.matching(&alert.labels);
        for route in routes {
            let key = route.group_key(&alert.labels);
            let group = match self.groups.entry(key) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    let group_wait_ms = ms(route.group_wait);
                    // As Alertmanager: a group made for an alert that started more than
                    // group_wait ago is flushed at once.
                    let next_flush_ms = if alert.starts_at_ms.saturating_add(group_wait_ms) < now_ms
                    {
                        now_ms
                    } else {
                        now_ms.saturating_add(group_wait_ms)
                    };
                    let key = e.key().clone();
                    e.insert(Group {
                        key,
                        route_id: route.id.clone(),
                        receiver: route.receiver.clone(),
                        labels: route.group_labels(&alert.labels),
                        alerts: BTreeMap::new(),
                        next_flush_ms,
                        has_flushed: false,
                        group_interval_ms: ms(route.group_interval),
                        repeat_interval_ms: ms(route.repeat_interval),
                    })
                }
            };
            group.alerts.insert(alert.fingerprint(), Arc::clone(&alert));
        }
    }

    /// The earliest time a group is due, if any group exists.
    pub fn next_deadline(&self) -> Option<i64> {
        self.groups.values().map(|g| g.next_flush_ms).min()
    }

    /// The current groups, by key.
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// Flushes every group due at `now_ms`. `keep(group, alert)` says whether an alert takes
    /// part (false for silenced or inhibited alerts, or when the route is muted by a time
    /// interval); left-out alerts are neither sent nor logged. Returns what to send.
    pub fn tick(
        &mut self,
        now_ms: i64,
        keep: &mut dyn FnMut(&Group, &Alert) -> bool,
    ) -> Vec<Flush> {
        let mut out = Vec::new();
        let due: Vec<String> = self
            .groups
            .values()
            .filter(|g| g.next_flush_ms <= now_ms)
            .map(|g| g.key.clone())
            .collect();
        for key in due {
            let send_resolved = match self.groups.get(&key) {
                Some(g) => self.sends_resolved(&g.receiver),
                None => continue,
            };
            let Some(group) = self.groups.get_mut(&key) else {
                continue;
            };
            group.next_flush_ms = now_ms.saturating_add(group.group_interval_ms);
            group.has_flushed = true;

            let mut firing = Vec::new();
            let mut resolved = Vec::new();
            for a in group.alerts.values() {
                if !keep(group, a) {
                    continue;
                }
                if a.resolved(now_ms) {
                    resolved.push(Arc::clone(a));
                } else {
                    firing.push(Arc::clone(a));
                }
            }
            // Every alert silenced, inhibited or muted: nothing is sent and the log stays as
            // it is (Alertmanager's pipeline stops before its dedup stage), so the alerts are
            // not announced again as new when the silence ends.
            if firing.is_empty() && resolved.is_empty() {
                group.alerts.retain(|_, a| !a.resolved(now_ms));
                if group.alerts.is_empty() {
                    self.groups.remove(&key);
                }
                continue;
            }
            let firing_fps: BTreeSet<_> = firing.iter().map(|a| a.fingerprint()).collect();
            let resolved_fps: BTreeSet<_> = resolved.iter().map(|a| a.fingerprint()).collect();
            let log_key = (group.key.clone(), group.receiver.clone());
            if let Some(reason) = needs_update(
                self.log.get(&log_key),
                &firing_fps,
                &resolved_fps,
                send_resolved,
                group.repeat_interval_ms,
                now_ms,
            ) {
                if !send_resolved {
                    resolved.clear();
                }
                if !firing.is_empty() || !resolved.is_empty() {
                    out.push(Flush {
                        group_key: group.key.clone(),
                        route_id: group.route_id.clone(),
                        receiver: group.receiver.clone(),
                        group_labels: group.labels.clone(),
                        firing,
                        resolved,
                        reason,
                        previous_ms: self.log.get(&log_key).map(|e| e.at_ms),
                    });
                }
                self.changed.insert(log_key.clone());
                self.log.insert(
                    log_key,
                    LogEntry {
                        firing: firing_fps,
                        resolved: resolved_fps,
                        at_ms: now_ms,
                    },
                );
            }
            // Resolved alerts have had their one chance; drop them, and the group if empty.
            group.alerts.retain(|_, a| !a.resolved(now_ms));
            if group.alerts.is_empty() {
                self.groups.remove(&key);
            }
        }
        out
    }

    /// The log entry of `group_key` and `receiver`, for storage.
    pub fn log_record(&self, group_key: &str, receiver: &str) -> Option<NflogRecord> {
        let e = self
            .log
            .get(&(group_key.to_string(), receiver.to_string()))?;
        Some(NflogRecord {
            group_key: group_key.to_string(),
            receiver: receiver.to_string(),
            firing: e.firing.iter().copied().collect(),
            resolved: e.resolved.iter().copied().collect(),
            at_ms: e.at_ms,
        })
    }

    /// The log entries changed since the last call (each flush's, and those changed with
    /// nothing to send, e.g. all resolved for a receiver without `send_resolved`), to store.
    pub fn take_changed_log(&mut self) -> Vec<NflogRecord> {
        let keys = std::mem::take(&mut self.changed);
        keys.iter()
            .filter_map(|(g, r)| self.log_record(g, r))
            .collect()
    }

    /// Takes stored log entries back (at start).
    pub fn restore_log(&mut self, records: impl IntoIterator<Item = NflogRecord>) {
        for r in records {
            self.log.insert(
                (r.group_key, r.receiver),
                LogEntry {
                    firing: r.firing.into_iter().collect(),
                    resolved: r.resolved.into_iter().collect(),
                    at_ms: r.at_ms,
                },
            );
        }
    }

    /// A dispatcher for a new routing tree (a reload) that keeps this one's notification
    /// log and send_resolved settings but none of its groups: the caller inserts the
    /// current alerts again, as Alertmanager does on a reload.
    pub fn with_tree(self, tree: RouteTree) -> Dispatcher {
        Dispatcher {
            tree,
            groups: BTreeMap::new(),
            log: self.log,
            changed: self.changed,
            send_resolved: self.send_resolved,
        }
    }

    /// Forgets notification-log entries older than `cutoff_ms` whose group is gone; returns
    /// the (group key, receiver) of each.
    pub fn gc_log(&mut self, cutoff_ms: i64) -> Vec<(String, String)> {
        let groups = &self.groups;
        let mut removed = Vec::new();
        self.log.retain(|(key, receiver), e| {
            let keep = e.at_ms >= cutoff_ms || groups.contains_key(key);
            if !keep {
                removed.push((key.clone(), receiver.clone()));
            }
            keep
        });
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::config::AlertingConfig;
    use crate::alerting::labels;
    use proptest::prelude::*;

    const S: i64 = 1000;

    fn dispatcher() -> Dispatcher {
        let c: AlertingConfig = serde_yaml_ng::from_str(
            r#"
route: {receiver: r, group_by: [service], group_wait: 30s, group_interval: 5m, repeat_interval: 1h}
receivers: [{name: r}]
"#,
        )
        .unwrap();
        Dispatcher::new(c.build().unwrap().route)
    }

    fn alert(name: &str, start: i64) -> Alert {
        Alert {
            labels: labels(&[("alertname", name), ("service", "api")]),
            starts_at_ms: start,
            ..Alert::default()
        }
    }

    fn names(f: &[Arc<Alert>]) -> Vec<String> {
        f.iter().map(|a| a.labels["alertname"].clone()).collect()
    }

    fn all(_: &Group, _: &Alert) -> bool {
        true
    }

    #[test]
    fn a_silenced_group_is_not_announced_again_when_the_silence_ends() {
        let mut d = dispatcher();
        d.insert(Arc::new(alert("A", 0)), 0);
        assert_eq!(d.tick(30 * S, &mut all).len(), 1);
        assert_eq!(d.take_changed_log().len(), 1);
        // Silenced: nothing is sent and the log is left alone.
        let mut none = |_: &Group, _: &Alert| false;
        assert!(d.tick(330 * S, &mut none).is_empty());
        assert!(d.take_changed_log().is_empty());
        // The silence ends before repeat_interval: the receiver already knows A.
        assert!(d.tick(630 * S, &mut all).is_empty());
        // After repeat_interval it is repeated.
        assert_eq!(d.tick(3930 * S, &mut all).len(), 1);
    }

    #[test]
    fn group_wait_interval_repeat_and_resolve() {
        let mut d = dispatcher();
        d.insert(Arc::new(alert("A", 0)), 0);
        assert!(d.tick(29 * S, &mut all).is_empty());
        assert_eq!(d.next_deadline(), Some(30 * S));
        let f = d.tick(30 * S, &mut all);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].group_key, r#"{}:{service="api"}"#);
        assert_eq!(f[0].reason, NotifyReason::FirstNotification);
        assert_eq!(names(&f[0].firing), ["A"]);
        // A new alert waits for the group interval.
        d.insert(Arc::new(alert("B", 40 * S)), 40 * S);
        assert!(d.tick(60 * S, &mut all).is_empty());
        let f = d.tick(330 * S, &mut all);
        assert_eq!(names(&f[0].firing), ["A", "B"]);
        assert_eq!(f[0].reason, NotifyReason::NewAlertsInGroup);
        // Unchanged: nothing until the repeat interval passed.
        assert!(d.tick(630 * S, &mut all).is_empty());
        let mut t = 630 * S;
        let mut repeated = None;
        while t < 2 * 3600 * S {
            t += 300 * S;
            if !d.tick(t, &mut all).is_empty() {
                repeated = Some(t);
                break;
            }
        }
        assert_eq!(repeated, Some(330 * S + 3600 * S + 300 * S));
        // Resolve B: sent once as resolved, then dropped.
        let mut b = alert("B", 40 * S);
        b.ends_at_ms = t + S;
        d.insert(Arc::new(b), t + S);
        let f = d.tick(t + 300 * S, &mut all);
        assert_eq!(names(&f[0].resolved), ["B"]);
        assert_eq!(f[0].reason, NotifyReason::NewResolvedAlerts);
        assert_eq!(names(&f[0].firing), ["A"]);
        assert_eq!(d.groups().next().unwrap().alerts.len(), 1);
        // Resolve A: the group is notified and removed.
        let mut a = alert("A", 0);
        a.ends_at_ms = t + 301 * S;
        d.insert(Arc::new(a), t + 301 * S);
        let f = d.tick(t + 600 * S, &mut all);
        assert!(f[0].firing.is_empty());
        assert_eq!(f[0].reason, NotifyReason::AllAlertsResolved);
        assert_eq!(names(&f[0].resolved), ["A"]);
        assert_eq!(d.groups().count(), 0);
        assert_eq!(d.next_deadline(), None);
    }

    #[test]
    fn old_alerts_flush_at_once_and_send_resolved_off() {
        let mut d = dispatcher();
        d.set_send_resolved("r", false);
        d.insert(Arc::new(alert("A", 0)), 100 * S);
        assert_eq!(d.tick(100 * S, &mut all).len(), 1);
        let mut a = alert("A", 0);
        a.ends_at_ms = 101 * S;
        d.insert(Arc::new(a), 101 * S);
        // All resolved but the receiver takes no resolved alerts: nothing is sent.
        assert!(d.tick(400 * S, &mut all).is_empty());
        assert_eq!(d.groups().count(), 0);
        // Filtered alerts are not sent.
        d.insert(Arc::new(alert("B", 500 * S)), 500 * S);
        assert!(d.tick(530 * S, &mut |_, _| false).is_empty());
    }

    #[derive(Debug, Clone)]
    enum Ev {
        Fire(u8),
        Resolve(u8),
        Tick,
    }

    fn ev() -> impl Strategy<Value = (Ev, i64)> {
        (
            prop_oneof![
                (0u8..4).prop_map(Ev::Fire),
                (0u8..4).prop_map(Ev::Resolve),
                Just(Ev::Tick),
                Just(Ev::Tick),
            ],
            0i64..400,
        )
    }

    proptest! {
        /// Invariants of the timing against the simple model of each alert's state:
        /// flushes of a group are at least group_interval apart; an unchanged firing set is only
        /// repeated after repeat_interval; a resolution is sent at most once; and in the end
        /// every alert still firing has been sent after its last change.
        #[test]
        fn timing_invariants(events in proptest::collection::vec(ev(), 1..40)) {
            let mut d = dispatcher();
            let mut now = 0i64;
            let mut firing: BTreeMap<u8, i64> = BTreeMap::new(); // id -> start
            // Flushes with the group's generation (a group removed and made again restarts
            // its timing).
            let mut flushes: Vec<(i64, Flush, u32)> = Vec::new();
            let mut generation = 0u32;
            let mut tick = |d: &mut Dispatcher, now: i64, flushes: &mut Vec<(i64, Flush, u32)>| {
                for f in d.tick(now, &mut all) {
                    flushes.push((now, f, generation));
                }
                if d.groups().count() == 0 {
                    generation += 1;
                }
            };
            for (e, dt) in events.into_iter().chain(std::iter::once((Ev::Tick, 0))) {
                now += dt * S;
                match e {
                    Ev::Fire(i) => {
                        let start = *firing.entry(i).or_insert(now);
                        d.insert(Arc::new(alert(&format!("a{i}"), start)), now);
                    }
                    Ev::Resolve(i) => {
                        if let Some(start) = firing.remove(&i) {
                            let mut a = alert(&format!("a{i}"), start);
                            a.ends_at_ms = now;
                            d.insert(Arc::new(a), now);
                        }
                    }
                    Ev::Tick => tick(&mut d, now, &mut flushes),
                }
            }
            // Drain: tick until quiet.
            for _ in 0..30 {
                now += 300 * S;
                tick(&mut d, now, &mut flushes);
            }
            for w in flushes.windows(2) {
                if w[0].2 != w[1].2 {
                    continue;
                }
                prop_assert!(w[1].0 - w[0].0 >= 300 * S, "flushes too close: {:?}", (w[0].0, w[1].0));
                let same = w[0].1.firing == w[1].1.firing && w[1].1.resolved.is_empty();
                if same {
                    prop_assert!(w[1].0 - w[0].0 > 3600 * S, "unchanged repeat too soon");
                }
            }
            let mut resolved_seen = BTreeSet::new();
            for (_, f, _) in &flushes {
                for a in &f.resolved {
                    prop_assert!(resolved_seen.insert((a.labels["alertname"].clone(), a.ends_at_ms)),
                        "resolution sent twice");
                }
            }
            for i in firing.keys() {
                let name = format!("a{i}");
                let sent = flushes.iter().any(|(_, f, _)| f.firing.iter().any(|a| a.labels["alertname"] == name));
                prop_assert!(sent, "{} never notified", name);
            }
        }
    }
}

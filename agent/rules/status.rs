//! What the rule engine shows of itself: a snapshot of every group, rule and active alert,
//! read by `/api/v1/rules`, `/api/v1/alerts` and the status page.
//!
//! The engine publishes a new [`RulesSnapshot`] after every group evaluation; readers take
//! an `Arc` of the latest one and never hold a lock while they render it.

use std::sync::Arc;

use parking_lot::RwLock;

use crate::store::Labels;

/// The state of one active alert (an inactive alert is not listed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertState {
    /// The expression returned the series, but not yet for the rule's `for` duration.
    Pending,
    /// Pending for at least `for` (or kept firing by `keep_firing_for`).
    Firing,
}

impl AlertState {
    /// The name Prometheus uses (`alertstate` label, API `state`).
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One active alert of an alerting rule.
#[derive(Clone, Debug, PartialEq)]
pub struct ActiveAlert {
    /// The series' labels (without `__name__`) plus the rule's labels and `alertname`.
    pub labels: Labels,
    /// The rule's annotations, rendered for this alert.
    pub annotations: Labels,
    pub state: AlertState,
    /// When the alert became pending (ms since the epoch).
    pub active_at_ms: i64,
    /// When it started firing (ms), if it has.
    pub fired_at_ms: Option<i64>,
    /// When the expression stopped returning it while `keep_firing_for` keeps it (ms).
    pub keep_firing_since_ms: Option<i64>,
    /// The expression's value at the last evaluation that returned it.
    pub value: f64,
}

/// Whether the last evaluation of a rule worked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RuleHealth {
    #[default]
    Unknown,
    Ok,
    Err,
}

impl RuleHealth {
    /// `unknown`, `ok` or `err`, as Prometheus's API spells them.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleHealth::Unknown => "unknown",
            RuleHealth::Ok => "ok",
            RuleHealth::Err => "err",
        }
    }
}

/// What kind of rule, with the parts only that kind has.
#[derive(Clone, Debug, PartialEq)]
pub enum RuleKind {
    Alerting {
        /// `for`, in ms.
        for_ms: i64,
        /// `keep_firing_for`, in ms.
        keep_firing_for_ms: i64,
        /// The annotations as written (templates, not rendered).
        annotations: Labels,
        /// Active alerts, sorted by labels.
        alerts: Vec<ActiveAlert>,
    },
    Recording,
}

/// One rule of a group, as of its last evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleStatus {
    /// `alert` or `record` name.
    pub name: String,
    /// The PromQL expression as written.
    pub query: String,
    /// The rule's `labels`.
    pub labels: Labels,
    pub kind: RuleKind,
    pub health: RuleHealth,
    /// The last evaluation's error, if it failed.
    pub last_error: Option<String>,
    /// When the rule was last evaluated (ms), if it has been.
    pub last_evaluation_ms: Option<i64>,
    /// How long that evaluation took, in seconds.
    pub evaluation_seconds: f64,
}

/// One group, as of its last evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupStatus {
    pub name: String,
    /// The file it was loaded from.
    pub file: String,
    /// Evaluation interval, in ms.
    pub interval_ms: i64,
    /// `limit` (0: none).
    pub limit: usize,
    pub rules: Vec<RuleStatus>,
    /// When the group was last evaluated (ms), if it has been.
    pub last_evaluation_ms: Option<i64>,
    /// How long that evaluation took, in seconds.
    pub evaluation_seconds: f64,
}

/// Every group, in the order of the files and of the groups in them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RulesSnapshot {
    pub groups: Vec<GroupStatus>,
}

impl RulesSnapshot {
    /// Every active alert of every alerting rule, in group and rule order.
    pub fn alerts(&self) -> impl Iterator<Item = &ActiveAlert> {
        self.groups
            .iter()
            .flat_map(|g| g.rules.iter())
            .flat_map(|r| match &r.kind {
                RuleKind::Alerting { alerts, .. } => alerts.as_slice(),
                RuleKind::Recording => &[],
            })
    }
}

/// Where the engine publishes its snapshots and readers take them. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct RulesView(Arc<RwLock<Arc<RulesSnapshot>>>);

impl RulesView {
    /// The latest snapshot.
    pub fn get(&self) -> Arc<RulesSnapshot> {
        self.0.read().clone()
    }

    /// Replaces the snapshot (the engine, after an evaluation or a reload).
    pub fn publish(&self, snapshot: RulesSnapshot) {
        *self.0.write() = Arc::new(snapshot);
    }

    /// Replaces one group's status by name and file, or appends it. The other groups are
    /// copied into the new snapshot; the replaced one is not.
    pub fn publish_group(&self, group: GroupStatus) {
        let mut guard = self.0.write();
        let (name, file) = (group.name.clone(), group.file.clone());
        let mut new = Some(group);
        let mut groups = Vec::with_capacity(guard.groups.len() + 1);
        for g in &guard.groups {
            match new.take_if(|_| g.name == name && g.file == file) {
                Some(n) => groups.push(n),
                None => groups.push(g.clone()),
            }
        }
        groups.extend(new);
        *guard = Arc::new(RulesSnapshot { groups });
    }
}

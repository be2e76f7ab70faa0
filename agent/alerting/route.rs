//! The routing tree (Alertmanager's `dispatch/route.go`): which routes an alert goes to and
//! which group it joins there. Built and validated by `config`; read by `dispatch`.

use std::collections::BTreeSet;
use std::time::Duration;

use super::matchers::Matchers;
use super::{Fingerprint, Labels, fingerprint, labels_string};

/// Which labels split a route's alerts into groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// `group_by: ['...']`: every label (one group per distinct label set).
    All,
    /// These labels (empty: one group for the whole route).
    Labels(BTreeSet<String>),
}

/// One compiled route: its own matchers and its resolved options.
#[derive(Debug, Clone)]
pub struct RouteNode {
    /// The receiver name (inherited when the config left it out).
    pub receiver: String,
    /// Grouping labels (inherited when left out).
    pub group_by: GroupBy,
    /// Wait before a new group's first notification.
    pub group_wait: Duration,
    /// Minimum time between notifications of a changed group.
    pub group_interval: Duration,
    /// Time after which an unchanged group is notified again.
    pub repeat_interval: Duration,
    /// The route's matchers, sorted as Alertmanager sorts them.
    pub matchers: Matchers,
    /// Whether matching goes on to later siblings after this route matched.
    pub continue_matching: bool,
    /// Time interval names that mute this route.
    pub mute_time_intervals: Vec<String>,
    /// Time interval names outside which this route is muted.
    pub active_time_intervals: Vec<String>,
    /// Children, in order.
    pub routes: Vec<RouteNode>,
    /// Alertmanager's `Route.Key()`: the matchers of the path from the root, `/`-joined.
    pub key: String,
    /// Alertmanager's `Route.ID()`: like the key, with each node's index among its siblings.
    pub id: String,
}

impl RouteNode {
    /// The routes below (and including) this one that take `labels`, depth-first
    /// (Alertmanager's `Route.Match`): none when this route's matchers fail; otherwise the
    /// children's matches in order, stopping after the first matching child without
    /// `continue`; this route itself when no child matched.
    pub fn matching<'a>(&'a self, labels: &Labels) -> Vec<&'a RouteNode> {
        let mut out = Vec::new();
        self.collect(labels, &mut out);
        out
    }

    fn collect<'a>(&'a self, labels: &Labels, out: &mut Vec<&'a RouteNode>) -> bool {
        if !self.matchers.matches(labels) {
            return false;
        }
        let before = out.len();
        for child in &self.routes {
            if child.collect(labels, out) && !child.continue_matching {
                break;
            }
        }
        if out.len() == before {
            out.push(self);
        }
        true
    }

    /// The labels of `labels` this route groups by.
    pub fn group_labels(&self, labels: &Labels) -> Labels {
        match &self.group_by {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => labels
                .iter()
                .filter(|(k, _)| names.contains(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// The aggregation group key of an alert with `labels` on this route, as Alertmanager's
    /// `aggrGroup.GroupKey()`: `<route key>:<group labels>`, e.g.
    /// `{}/{severity="critical"}:{alertname="Down", service="api"}`.
    pub fn group_key(&self, labels: &Labels) -> String {
        format!("{}:{}", self.key, labels_string(&self.group_labels(labels)))
    }

    /// The fingerprint of the group labels (Alertmanager keys groups by it within a route).
    pub fn group_fingerprint(&self, labels: &Labels) -> Fingerprint {
        fingerprint(&self.group_labels(labels))
    }

    /// Visits this route and every route below it, depth-first, in order.
    pub fn walk<'a>(&'a self, visit: &mut impl FnMut(&'a RouteNode)) {
        visit(self);
        for c in &self.routes {
            c.walk(visit);
        }
    }
}

/// The compiled routing tree.
#[derive(Debug, Clone)]
pub struct RouteTree {
    /// The root route (no matchers; has the default receiver).
    pub root: RouteNode,
}

impl RouteTree {
    /// The routes that take an alert with `labels`; never empty, as the root takes every alert.
    pub fn matching(&self, labels: &Labels) -> Vec<&RouteNode> {
        self.root.matching(labels)
    }

    /// The route whose `id` is `id`.
    pub fn by_id(&self, id: &str) -> Option<&RouteNode> {
        let mut found = None;
        self.root.walk(&mut |r| {
            if found.is_none() && r.id == id {
                found = Some(r);
            }
        });
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::config::AlertingConfig;
    use crate::alerting::labels;
    use proptest::prelude::*;

    fn tree(yaml: &str) -> RouteTree {
        serde_yaml_ng::from_str::<AlertingConfig>(yaml)
            .unwrap()
            .build()
            .unwrap()
            .route
    }

    const TREE: &str = r#"
route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: ['owner="team-A"']
      receiver: team-A
      routes:
        - matchers: ['env="prod"']
          receiver: team-A-prod
    - matchers: ['owner="team-B"']
      receiver: team-B
      continue: true
    - matchers: ['owner=~"team-.*"']
      receiver: any-team
      group_by: ['...']
    - matchers: ['owner="team-C"']
      receiver: team-C
receivers: [{name: default}, {name: team-A}, {name: team-A-prod}, {name: team-B}, {name: any-team}, {name: team-C}]
"#;

    fn receivers(t: &RouteTree, l: &Labels) -> Vec<String> {
        t.matching(l).iter().map(|r| r.receiver.clone()).collect()
    }

    #[test]
    fn matches_like_alertmanager() {
        let t = tree(TREE);
        assert_eq!(receivers(&t, &labels(&[])), ["default"]);
        assert_eq!(receivers(&t, &labels(&[("owner", "team-A")])), ["team-A"]);
        assert_eq!(
            receivers(&t, &labels(&[("owner", "team-A"), ("env", "prod")])),
            ["team-A-prod"]
        );
        // continue: team-B goes on to the regex route, which does not continue.
        assert_eq!(
            receivers(&t, &labels(&[("owner", "team-B")])),
            ["team-B", "any-team"]
        );
        // team-C matches the regex route first, which stops.
        assert_eq!(receivers(&t, &labels(&[("owner", "team-C")])), ["any-team"]);
    }

    #[test]
    fn group_keys() {
        let t = tree(TREE);
        let l = labels(&[("alertname", "Down"), ("owner", "team-A"), ("x", "1")]);
        let r = t.matching(&l)[0];
        assert_eq!(r.group_key(&l), r#"{}/{owner="team-A"}:{alertname="Down"}"#);
        let l = labels(&[("alertname", "Down"), ("owner", "team-X")]);
        let r = t.matching(&l)[0];
        assert_eq!(r.group_by, GroupBy::All);
        assert_eq!(
            r.group_key(&l),
            r#"{}/{owner=~"team-.*"}:{alertname="Down", owner="team-X"}"#
        );
        assert_eq!(r.id, r#"{}/{owner=~"team-.*"}/2"#);
        assert!(t.by_id(&r.id).is_some());
        assert_eq!(t.root.key, "{}");
    }

    proptest! {
        /// Against a direct model: without `continue`, an alert lands on exactly one route,
        /// the first child whose matcher holds, else the root.
        #[test]
        fn first_matching_child_or_root(owner in "team-[A-D]?", env in "(prod|dev)?") {
            let t = tree(TREE);
            let l = labels(&[("owner", &owner), ("env", &env)]);
            let got = receivers(&t, &l);
            let want: Vec<&str> = match owner.as_str() {
                "team-A" if env == "prod" => vec!["team-A-prod"],
                "team-A" => vec!["team-A"],
                "team-B" => vec!["team-B", "any-team"],
                "team-" | "team-C" | "team-D" => vec!["any-team"],
                _ => vec!["default"],
            };
            prop_assert_eq!(got, want);
        }
    }
}

//! Alert state on disk: every group's alerts (pending, firing, resolved, with `for` and
//! `keep_firing_for` progress) in the `alert_state` table of the durable database, saved after
//! every evaluation that changed them and read once at start.
//!
//! The key is the group's `file;name`; the value is the JSON of
//! [`PersistedGroup`](super::group::PersistedGroup). A value that does not decode (a file
//! from a future version) is skipped with a warning, never a crash.

use std::collections::HashMap;

use redb::{ReadableTable, TableDefinition};

use super::group::PersistedGroup;
use crate::durable::{Durable, StateError};

const ALERT_STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("alert_state");

/// Why alert state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("alert state: {0}")]
    Durable(#[from] StateError),
    #[error("alert state of group {group}: {source}")]
    Encode {
        group: String,
        source: serde_json::Error,
    },
}

impl PersistError {
    /// True while the state database is out of service: the durable handle logged the outage
    /// once, so a caller need not log each failed save.
    pub fn is_outage(&self) -> bool {
        matches!(self, PersistError::Durable(e) if e.is_outage())
    }
}

/// The alert-state table.
#[derive(Clone)]
pub struct AlertStateStore {
    db: Durable,
}

impl AlertStateStore {
    /// The `alert_state` table of `db`.
    pub fn new(db: Durable) -> Self {
        AlertStateStore { db }
    }

    /// Every saved group, by key.
    pub fn load_all(&self) -> Result<HashMap<String, PersistedGroup>, PersistError> {
        let raw = self.db.read(|tx| {
            let table = match tx.open_table(ALERT_STATE) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(e) => return Err(e.into()),
            };
            let mut raw = Vec::new();
            for entry in table.iter()? {
                let (k, v) = entry?;
                raw.push((k.value().to_string(), v.value().to_vec()));
            }
            Ok(raw)
        })?;
        let mut out = HashMap::new();
        for (k, v) in raw {
            match serde_json::from_slice::<PersistedGroup>(&v) {
                Ok(g) => {
                    out.insert(k, g);
                }
                Err(e) => tracing::warn!(
                    group = %k,
                    error = %e,
                    "Saved alert state does not decode; that group starts without it."
                ),
            }
        }
        Ok(out)
    }

    /// Saves (or, when `state` is empty, removes) one group's alerts, durably.
    pub fn save(&self, key: &str, state: &PersistedGroup) -> Result<(), PersistError> {
        let bytes = if state.is_empty() {
            None
        } else {
            Some(
                serde_json::to_vec(state).map_err(|source| PersistError::Encode {
                    group: key.to_string(),
                    source,
                })?,
            )
        };
        self.db.write(|tx| {
            let mut table = tx.open_table(ALERT_STATE)?;
            match &bytes {
                None => {
                    table.remove(key)?;
                }
                Some(b) => {
                    table.insert(key, b.as_slice())?;
                }
            }
            Ok(())
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::alert::{InstanceState, PersistedAlert};

    #[test]
    fn saves_reloads_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::durable::open(dir.path(), &prometheus::Registry::new()).unwrap();
        let s = AlertStateStore::new(db.clone());
        assert!(s.load_all().unwrap().is_empty());
        let g: PersistedGroup = vec![(
            "A".into(),
            vec![PersistedAlert {
                labels: vec![("alertname".into(), "A".into())],
                annotations: vec![],
                state: InstanceState::Firing,
                active_at_ms: 1,
                fired_at_ms: Some(2),
                resolved_at_ms: None,
                keep_firing_since_ms: None,
                value: 0.5,
            }],
        )];
        s.save("f;g", &g).unwrap();
        drop(s);
        drop(db);
        let db = crate::durable::open(dir.path(), &prometheus::Registry::new()).unwrap();
        let s = AlertStateStore::new(db);
        assert_eq!(s.load_all().unwrap().get("f;g"), Some(&g));
        s.save("f;g", &vec![]).unwrap();
        assert!(s.load_all().unwrap().is_empty());
    }
}

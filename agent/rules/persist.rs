//! Alert state on disk: every group's alerts (pending, firing, resolved, with `for` and
//! `keep_firing_for` progress) in the `alert_state` table of the durable database, saved after
//! every evaluation that changed them and read once at start.
//!
//! The key is the group's `file;name`; the value is the JSON of
//! [`PersistedGroup`](super::group::PersistedGroup). A value that does not decode (a file
//! from a future version) is skipped with a warning, never a crash.

use std::collections::HashMap;
use std::sync::Arc;

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use super::group::PersistedGroup;

const ALERT_STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("alert_state");

/// Why alert state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("alert state database: {0}")]
    Db(#[from] redb::Error),
    #[error("alert state of group {group}: {source}")]
    Encode {
        group: String,
        source: serde_json::Error,
    },
}

macro_rules! db_err {
    ($($t:ty),*) => {$(
        impl From<$t> for PersistError {
            fn from(e: $t) -> Self {
                PersistError::Db(e.into())
            }
        }
    )*};
}
db_err!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// The alert-state table.
#[derive(Clone)]
pub struct AlertStateStore {
    db: Arc<redb::Database>,
}

impl AlertStateStore {
    pub fn new(db: Arc<redb::Database>) -> Self {
        AlertStateStore { db }
    }

    /// Every saved group, by key.
    pub fn load_all(&self) -> Result<HashMap<String, PersistedGroup>, PersistError> {
        let tx = self.db.begin_read()?;
        let table = match tx.open_table(ALERT_STATE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(HashMap::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = HashMap::new();
        for entry in table.iter()? {
            let (k, v) = entry?;
            match serde_json::from_slice::<PersistedGroup>(v.value()) {
                Ok(g) => {
                    out.insert(k.value().to_string(), g);
                }
                Err(e) => tracing::warn!(
                    group = k.value(),
                    error = %e,
                    "Saved alert state does not decode; that group starts without it."
                ),
            }
        }
        Ok(out)
    }

    /// Saves (or, when `state` is empty, removes) one group's alerts, durably.
    pub fn save(&self, key: &str, state: &PersistedGroup) -> Result<(), PersistError> {
        let tx = self.db.begin_write()?;
        {
            let mut table = tx.open_table(ALERT_STATE)?;
            if state.is_empty() {
                table.remove(key)?;
            } else {
                let bytes = serde_json::to_vec(state).map_err(|source| PersistError::Encode {
                    group: key.to_string(),
                    source,
                })?;
                table.insert(key, bytes.as_slice())?;
            }
        }
        tx.commit()?;
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
        let db = crate::durable::open(dir.path()).unwrap();
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
        let db = crate::durable::open(dir.path()).unwrap();
        let s = AlertStateStore::new(db);
        assert_eq!(s.load_all().unwrap().get("f;g"), Some(&g));
        s.save("f;g", &vec![]).unwrap();
        assert!(s.load_all().unwrap().is_empty());
    }
}

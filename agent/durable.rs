//! Durable state: the one embedded database file (`storage.path/vitals.redb`, redb) that
//! outlives a restart. It only opens the file; each stage owns its own tables in it (the rule
//! engine: alert state; later alerting: silences and the notification outbox).

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The database file's name under `storage.path`.
pub const FILE_NAME: &str = "vitals.redb";

/// redb's page cache. Its default (1 GiB) would let rewritten pages pile up in RSS; the
/// state is small and read once at start, so a few MiB is plenty.
const CACHE_BYTES: usize = 8 << 20;

/// Why the durable state could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DurableError {
    #[error("cannot create the storage directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the state database {path}: {source}")]
    Open {
        path: PathBuf,
        source: redb::DatabaseError,
    },
}

/// Opens (creating if needed) `dir/vitals.redb`. Another vitals holding the same file is an
/// error here, not a corrupted file later.
pub fn open(dir: &Path) -> Result<Arc<redb::Database>, DurableError> {
    std::fs::create_dir_all(dir).map_err(|source| DurableError::Dir {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join(FILE_NAME);
    redb::Database::builder()
        .set_cache_size(CACHE_BYTES)
        .create(&path)
        .map(Arc::new)
        .map_err(|source| DurableError::Open { path, source })
}

//! Opening the state file: creates it (0600 on unix), lets redb repair a file left by a crash,
//! verifies its integrity, and moves a file that cannot be opened because of what is in it
//! (corrupt, not a redb file, empty, an old format) aside to `vitals.redb.corrupt-<unix-ts>`
//! so the daemon starts with a fresh one. What is wrong with the machine rather than the file
//! (another process holds it, no permission, a read-only or failing disk) stays an error.
//!
//! [`Durable`](super::Durable) calls [`open`] at start and again to reopen after an I/O error.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use redb::{Database, DatabaseError, StorageError};

use super::DurableError;

/// redb's page cache. Its default (1 GiB) would let rewritten pages pile up in RSS; the
/// state is small and read once at start, so a few MiB is plenty.
const CACHE_BYTES: usize = 8 << 20;

/// Turns an opened file into a database: the plain file backend in production, a wrapper
/// that fails on demand in tests.
pub(super) type Backend =
    Arc<dyn Fn(&redb::Builder, File) -> Result<Database, DatabaseError> + Send + Sync>;

/// The production backend: redb's own file backend.
pub(super) fn file_backend() -> Backend {
    Arc::new(|builder, file| builder.create_with_backend(redb::backends::FileBackend::new(file)?))
}

/// An opened database and what it took.
pub(super) struct Opened {
    pub db: Database,
    /// Where an unreadable file was moved, if one was.
    pub set_aside: Option<PathBuf>,
}

/// Why one attempt to open the file failed.
enum Attempt {
    /// The file's contents are the problem: move it aside and start fresh.
    Unreadable(String),
    /// Anything else: report it.
    Fatal(DurableError),
}

/// Opens `path`, creating it if missing; an unreadable file is moved aside (with a warning)
/// and replaced by a fresh one. `reopening` (during an outage, already logged) logs redb's
/// repair of the file the failed handle left at debug level instead of as a warning.
pub(super) fn open(
    path: &Path,
    backend: &Backend,
    reopening: bool,
) -> Result<Opened, DurableError> {
    let mut set_aside = None;
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() && m.len() == 0 => {
            set_aside = Some(move_aside(path, "the file is empty (0 bytes)")?);
        }
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(source) => {
            return Err(DurableError::Access {
                path: path.to_path_buf(),
                source,
            });
        }
    }
    match attempt(path, backend, reopening) {
        Ok(db) => Ok(Opened { db, set_aside }),
        Err(Attempt::Fatal(e)) => Err(e),
        Err(Attempt::Unreadable(reason)) => {
            let to = move_aside(path, &reason)?;
            match attempt(path, backend, reopening) {
                Ok(db) => Ok(Opened {
                    db,
                    set_aside: Some(to),
                }),
                Err(Attempt::Fatal(e)) => Err(e),
                Err(Attempt::Unreadable(reason)) => Err(DurableError::Fresh {
                    path: path.to_path_buf(),
                    reason,
                }),
            }
        }
    }
}

/// One open: the file (0600 when created), redb's open (which repairs a file a crash left),
/// then an integrity check (which repairs what it can and reports the rest as corrupt).
fn attempt(path: &Path, backend: &Backend, reopening: bool) -> Result<Database, Attempt> {
    let file = create_options().open(path).map_err(|source| {
        Attempt::Fatal(DurableError::Access {
            path: path.to_path_buf(),
            source,
        })
    })?;
    let repairing = Arc::new(AtomicBool::new(false));
    let mut builder = Database::builder();
    builder.set_cache_size(CACHE_BYTES);
    {
        let repairing = repairing.clone();
        let path = path.display().to_string();
        builder.set_repair_callback(move |_| {
            if !repairing.swap(true, Ordering::Relaxed) {
                if reopening {
                    tracing::debug!(path = %path, "Repairing the state database.");
                } else {
                    tracing::warn!(
                        path = %path,
                        "The state database was not closed cleanly; repairing it."
                    );
                }
            }
        });
    }
    // redb documents that a plain open of a file altered outside redb may panic (debug builds
    // assert on what redb itself never writes): that is a corrupt file too, not a crash.
    let mut db = match std::panic::catch_unwind(AssertUnwindSafe(|| backend(&builder, file))) {
        Ok(Ok(db)) => db,
        Ok(Err(e)) => return Err(classify(path, e)),
        Err(panic) => return Err(Attempt::Unreadable(panic_reason(panic.as_ref()))),
    };
    if repairing.load(Ordering::Relaxed) {
        if reopening {
            tracing::debug!(path = %path.display(), "The state database was repaired.");
        } else {
            tracing::warn!(path = %path.display(), "The state database was repaired.");
        }
    }
    match std::panic::catch_unwind(AssertUnwindSafe(|| db.check_integrity())) {
        Ok(Ok(true)) => Ok(db),
        Ok(Ok(false)) => {
            tracing::warn!(
                path = %path.display(),
                "The state database failed its integrity check and was repaired."
            );
            Ok(db)
        }
        Ok(Err(e)) => {
            drop(db);
            Err(classify(path, e))
        }
        Err(panic) => {
            drop(db);
            Err(Attempt::Unreadable(panic_reason(panic.as_ref())))
        }
    }
}

#[cfg(unix)]
fn create_options() -> OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = OpenOptions::new();
    o.read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600);
    o
}

#[cfg(not(unix))]
fn create_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.read(true).write(true).create(true).truncate(false);
    o
}

/// Is the file's content the problem (move it aside) or the machine (report it)?
fn classify(path: &Path, e: DatabaseError) -> Attempt {
    let unreadable = match &e {
        DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
            return Attempt::Fatal(DurableError::Locked {
                path: path.to_path_buf(),
            });
        }
        DatabaseError::UpgradeRequired(_) | DatabaseError::RepairAborted => true,
        DatabaseError::Storage(StorageError::Corrupted(_)) => true,
        // redb reports "not a redb file" as InvalidData; a file shorter than its own header
        // says runs into the end of the file.
        DatabaseError::Storage(StorageError::Io(io)) => {
            matches!(io.kind(), ErrorKind::InvalidData | ErrorKind::UnexpectedEof)
        }
        _ => false,
    };
    if unreadable {
        Attempt::Unreadable(e.to_string())
    } else {
        Attempt::Fatal(DurableError::Open {
            path: path.to_path_buf(),
            source: e,
        })
    }
}

fn panic_reason(panic: &(dyn std::any::Any + Send)) -> String {
    let msg = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown".to_string());
    format!("redb panicked reading it: {msg}")
}

/// Renames `path` to `path.corrupt-<unix-ts>` (a `-N` suffix if that exists) and logs it.
fn move_aside(path: &Path, reason: &str) -> Result<PathBuf, DurableError> {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| super::FILE_NAME.to_string());
    let mut to = path.with_file_name(format!("{name}.corrupt-{ts}"));
    let mut n = 1;
    while to.exists() {
        to = path.with_file_name(format!("{name}.corrupt-{ts}-{n}"));
        n += 1;
    }
    std::fs::rename(path, &to).map_err(|source| DurableError::SetAside {
        path: path.to_path_buf(),
        reason: reason.to_string(),
        source,
    })?;
    tracing::warn!(
        path = %path.display(),
        moved_to = %to.display(),
        reason = %reason,
        "The state database cannot be read; it was moved aside and a fresh one started (saved alert state is lost)."
    );
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corrupt_files(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains(".corrupt-"))
            .collect();
        v.sort();
        v
    }

    fn write_one(db: &Database) {
        const T: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("t");
        let tx = db.begin_write().unwrap();
        tx.open_table(T).unwrap().insert("k", 1).unwrap();
        tx.commit().unwrap();
    }

    #[test]
    fn garbage_is_moved_aside_and_a_fresh_file_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(super::super::FILE_NAME);
        std::fs::write(&path, vec![0xa5u8; 10_000]).unwrap();
        let opened = open(&path, &file_backend(), false).unwrap();
        let aside = opened.set_aside.clone().unwrap();
        assert_eq!(corrupt_files(dir.path()), vec![aside.clone()]);
        assert_eq!(std::fs::read(&aside).unwrap(), vec![0xa5u8; 10_000]);
        write_one(&opened.db);
    }

    #[test]
    fn an_empty_file_is_moved_aside_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(super::super::FILE_NAME);
        std::fs::write(&path, b"").unwrap();
        let opened = open(&path, &file_backend(), false).unwrap();
        assert!(opened.set_aside.is_some());
        assert_eq!(corrupt_files(dir.path()).len(), 1);
    }

    #[test]
    fn damaged_pages_behind_a_valid_header_are_set_aside_or_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(super::super::FILE_NAME);
        {
            let db = open(&path, &file_backend(), false).unwrap().db;
            write_one(&db);
        }
        let mut bytes = std::fs::read(&path).unwrap();
        // Keep the header (first page), scribble over everything after it.
        for b in bytes.iter_mut().skip(4096) {
            *b = 0x5a;
        }
        std::fs::write(&path, &bytes).unwrap();
        // Either redb repairs it or it is moved aside; never an error, never a panic.
        let opened = open(&path, &file_backend(), false).unwrap();
        write_one(&opened.db);
    }

    #[test]
    fn a_valid_file_opens_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(super::super::FILE_NAME);
        drop(open(&path, &file_backend(), false).unwrap());
        let opened = open(&path, &file_backend(), false).unwrap();
        assert!(opened.set_aside.is_none());
        assert!(corrupt_files(dir.path()).is_empty());
    }

    #[test]
    fn a_file_held_open_elsewhere_is_an_error_not_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(super::super::FILE_NAME);
        let _held = open(&path, &file_backend(), false).unwrap();
        let err = open(&path, &file_backend(), false).err().unwrap();
        assert!(matches!(err, DurableError::Locked { .. }), "{err}");
        assert!(err.to_string().contains(&path.display().to_string()));
        assert!(corrupt_files(dir.path()).is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn created_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(super::super::FILE_NAME);
        drop(open(&path, &file_backend(), false).unwrap());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

//! Durable state: the one embedded database file (`storage.path/vitals.redb`, redb) that
//! outlives a restart, behind a handle that heals. Each stage owns its own tables in it (the
//! rule engine: alert state; later alerting: silences and the notification outbox) and reaches
//! them only through [`Durable::write`] and [`Durable::read`].
//!
//! Healing, in two places:
//! - at open ([`file`]): a file that cannot be read for what is in it is moved aside and a
//!   fresh one started; a file a crash left is repaired by redb;
//! - at run time (here): after an I/O error (a full disk) redb refuses every later
//!   transaction until the database is reopened, so the handle closes it and reopens it on a
//!   later call, backing off between attempts, until writes land again. An outage is logged
//!   once when it starts and once when it ends, and counted in `vitals_durable_*`.
//!
//! Upkeep ([`spawn_upkeep`]): redb reuses freed pages but never shrinks its file, so a burst
//! (40,000 alerts in a minute) left a 63 MB file for good. Every [`COMPACT_INTERVAL`] the file
//! is compacted when it is past [`COMPACT_MIN_BYTES`] and more than twice what its pages hold.

#[cfg(test)]
mod failing;
mod file;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use prometheus::{IntCounter, IntGauge, Registry};

/// The database file's name under `storage.path`.
pub const FILE_NAME: &str = "vitals.redb";

/// How often the upkeep looks at the file's size.
pub const COMPACT_INTERVAL: Duration = Duration::from_secs(600);
/// A file smaller than this is never compacted (not worth holding writers up for).
pub const COMPACT_MIN_BYTES: u64 = 8 << 20;

/// First wait before reopening again after a failed reopen or write.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait between reopen attempts during an outage.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Why the durable state could not be opened (a start error).
#[derive(Debug, thiserror::Error)]
pub enum DurableError {
    #[error("cannot create the storage directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the state database {path} is already open in another process (another vitals with the same storage.path?)"
    )]
    Locked { path: PathBuf },
    #[error("cannot open the state database {path}: {source}")]
    Access {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the state database {path}: {source}")]
    Open {
        path: PathBuf,
        source: redb::DatabaseError,
    },
    #[error(
        "the state database {path} is unreadable ({reason}) and cannot be moved aside: {source}"
    )]
    SetAside {
        path: PathBuf,
        reason: String,
        source: std::io::Error,
    },
    #[error("a fresh state database {path} cannot be opened: {reason}")]
    Fresh { path: PathBuf, reason: String },
    #[error("cannot register durable-state metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// Why one read or write of durable state did not happen. Closures passed to
/// [`Durable::write`] and [`Durable::read`] return it too (`?` converts redb's errors), so the
/// handle can tell a broken database from a caller's own failure.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The database was closed after an I/O error and is not reopened yet (backing off).
    #[error(
        "the state database {path} is unavailable after an I/O error; reopening in {retry_in:?}"
    )]
    Unavailable { path: PathBuf, retry_in: Duration },
    /// Reopening after an I/O error failed.
    #[error("the state database could not be reopened: {0}")]
    Reopen(#[source] Box<DurableError>),
    /// redb failed (an I/O error here closes the database until it can be reopened).
    #[error("state database: {0}")]
    Db(#[from] redb::Error),
    /// The caller's closure gave up for its own reason (nothing was written).
    #[error("{0}")]
    Caller(#[source] Box<dyn std::error::Error + Send + Sync>),
}

macro_rules! redb_err {
    ($($t:ty),*) => {$(
        impl From<$t> for StateError {
            fn from(e: $t) -> Self {
                StateError::Db(e.into())
            }
        }
    )*};
}
redb_err!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

impl StateError {
    /// Wraps a caller's own error (say, a value that does not encode).
    pub fn caller(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StateError::Caller(Box::new(e))
    }

    /// True while the database is out of service (an I/O error, a failed reopen, backing off):
    /// the handle has logged it once, so callers need not log every failure.
    pub fn is_outage(&self) -> bool {
        match self {
            StateError::Unavailable { .. } | StateError::Reopen(_) => true,
            StateError::Db(e) => needs_reopen(e),
            StateError::Caller(_) => false,
        }
    }
}

/// Errors after which redb refuses every later transaction until the database is reopened
/// (`PreviousIo`), or which a reopen (with its integrity check) may cure.
fn needs_reopen(e: &redb::Error) -> bool {
    matches!(
        e,
        redb::Error::Io(_)
            | redb::Error::PreviousIo
            | redb::Error::Backend(_)
            | redb::Error::DatabaseClosed
            | redb::Error::Corrupted(_)
    )
}

struct Metrics {
    compactions: IntCounter,
    file_bytes: IntGauge,
    write_failures: IntCounter,
    outages: IntCounter,
    reopens: IntCounter,
    set_aside: IntCounter,
    available: IntGauge,
}

impl Metrics {
    fn new(r: &Registry) -> Result<Metrics, prometheus::Error> {
        fn reg<C: prometheus::core::Collector + Clone + 'static>(
            r: &Registry,
            c: C,
        ) -> Result<C, prometheus::Error> {
            r.register(Box::new(c.clone()))?;
            Ok(c)
        }
        Ok(Metrics {
            compactions: reg(
                r,
                IntCounter::new(
                    "vitals_durable_compactions_total",
                    "Times the state database file was compacted (its free pages given back).",
                )?,
            )?,
            file_bytes: reg(
                r,
                IntGauge::new(
                    "vitals_durable_file_bytes",
                    "Size of the state database file, as of the last upkeep.",
                )?,
            )?,
            write_failures: reg(
                r,
                IntCounter::new(
                    "vitals_durable_write_failures_total",
                    "Writes to the state database (storage.path/vitals.redb) that did not land.",
                )?,
            )?,
            outages: reg(
                r,
                IntCounter::new(
                    "vitals_durable_outages_total",
                    "Times the state database stopped working after an I/O error.",
                )?,
            )?,
            reopens: reg(
                r,
                IntCounter::new(
                    "vitals_durable_reopens_total",
                    "Times the state database was reopened after an I/O error.",
                )?,
            )?,
            set_aside: reg(
                r,
                IntCounter::new(
                    "vitals_durable_files_set_aside_total",
                    "Unreadable state database files moved aside (vitals.redb.corrupt-<ts>).",
                )?,
            )?,
            available: reg(
                r,
                IntGauge::new(
                    "vitals_durable_available",
                    "1 while the state database accepts writes, 0 during an outage.",
                )?,
            )?,
        })
    }
}

/// An outage: from the first I/O error until a write lands again.
struct Outage {
    since: Instant,
    error: String,
    failures: u64,
    /// No reopen before this.
    next_try: Instant,
    backoff: Duration,
}

struct Slot {
    /// `None` once closed after an I/O error, until reopened.
    db: Option<Arc<redb::Database>>,
    outage: Option<Outage>,
}

struct Inner {
    path: PathBuf,
    backend: file::Backend,
    first_backoff: Duration,
    slot: Mutex<Slot>,
    metrics: Metrics,
}

/// The durable state database: cheap to clone, shared by every stage that keeps state.
#[derive(Clone)]
pub struct Durable {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Durable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Durable")
            .field("path", &self.inner.path)
            .finish()
    }
}

/// Opens (creating if needed) `dir/vitals.redb` and registers the `vitals_durable_*` metrics
/// in `registry`. An unreadable file is moved aside and a fresh one started; another process
/// holding the file, missing permissions or an uncreatable directory are errors naming the path.
pub fn open(dir: &Path, registry: &Registry) -> Result<Durable, DurableError> {
    Durable::open_with(dir, registry, file::file_backend(), FIRST_BACKOFF)
}

impl Durable {
    fn open_with(
        dir: &Path,
        registry: &Registry,
        backend: file::Backend,
        first_backoff: Duration,
    ) -> Result<Durable, DurableError> {
        std::fs::create_dir_all(dir).map_err(|source| DurableError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
        let metrics = Metrics::new(registry)?;
        let path = dir.join(FILE_NAME);
        let opened = file::open(&path, &backend, false)?;
        if opened.set_aside.is_some() {
            metrics.set_aside.inc();
        }
        metrics.available.set(1);
        Ok(Durable {
            inner: Arc::new(Inner {
                path,
                backend,
                first_backoff,
                slot: Mutex::new(Slot {
                    db: Some(Arc::new(opened.db)),
                    outage: None,
                }),
                metrics,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` in a write transaction and commits it. After an I/O error the database is
    /// closed and reopened by a later call (not before a backoff has passed; until then this
    /// returns [`StateError::Unavailable`] at once). `f` returning an error aborts the
    /// transaction. Blocks for the commit (an fsync).
    pub fn write<T>(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        let result = self.acquire().and_then(|db| {
            let r = (|| {
                let tx = db.begin_write()?;
                let v = f(&tx)?;
                tx.commit()?;
                Ok(v)
            })();
            self.settle(&db, &r, true);
            r
        });
        if result.is_err() {
            self.inner.metrics.write_failures.inc();
        }
        result
    }

    /// Runs `f` in a read transaction, healing like [`Durable::write`].
    pub fn read<T>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        use redb::ReadableDatabase;
        let db = self.acquire()?;
        let r = (|| {
            let tx = db.begin_read()?;
            f(&tx)
        })();
        self.settle(&db, &r, false);
        r
    }

    /// The open database, reopening it if it was closed after an I/O error and the backoff
    /// has passed.
    fn acquire(&self) -> Result<Arc<redb::Database>, StateError> {
        let inner = &*self.inner;
        let mut slot = inner.slot.lock();
        if let Some(db) = &slot.db {
            return Ok(db.clone());
        }
        let now = Instant::now();
        let next_try = slot.outage.as_ref().map_or(now, |o| o.next_try);
        if now < next_try {
            if let Some(o) = slot.outage.as_mut() {
                o.failures += 1;
            }
            return Err(StateError::Unavailable {
                path: inner.path.clone(),
                retry_in: next_try - now,
            });
        }
        match file::open(&inner.path, &inner.backend, true) {
            Ok(opened) => {
                if opened.set_aside.is_some() {
                    inner.metrics.set_aside.inc();
                }
                inner.metrics.reopens.inc();
                tracing::debug!(path = %inner.path.display(), "State database reopened.");
                let db = Arc::new(opened.db);
                slot.db = Some(db.clone());
                Ok(db)
            }
            Err(e) => {
                if let Some(o) = slot.outage.as_mut() {
                    o.failures += 1;
                    o.error = e.to_string();
                    o.next_try = now + o.backoff;
                    o.backoff = (o.backoff * 2).min(MAX_BACKOFF);
                }
                Err(StateError::Reopen(Box::new(e)))
            }
        }
    }

    /// Books the outcome of one transaction on `db`: an error that needs a reopen closes the
    /// database and starts (or prolongs) an outage; a write that lands ends it.
    fn settle<T>(&self, db: &Arc<redb::Database>, result: &Result<T, StateError>, write: bool) {
        let inner = &*self.inner;
        match result {
            Ok(_) if write => {
                let mut slot = inner.slot.lock();
                if let Some(o) = slot.outage.take() {
                    inner.metrics.available.set(1);
                    tracing::info!(
                        path = %inner.path.display(),
                        down_for = ?o.since.elapsed(),
                        failed_attempts = o.failures,
                        "Writes to the state database resume."
                    );
                }
            }
            Err(StateError::Db(e)) if needs_reopen(e) => {
                let now = Instant::now();
                let mut slot = inner.slot.lock();
                if slot.db.as_ref().is_some_and(|d| Arc::ptr_eq(d, db)) {
                    // Closed once every transaction still using it has ended.
                    slot.db = None;
                }
                match slot.outage.as_mut() {
                    Some(o) => {
                        o.failures += 1;
                        o.next_try = now + o.backoff;
                        o.backoff = (o.backoff * 2).min(MAX_BACKOFF);
                    }
                    None => {
                        inner.metrics.outages.inc();
                        inner.metrics.available.set(0);
                        tracing::error!(
                            path = %inner.path.display(),
                            error = %e,
                            "The state database failed; state is not saved until it can be reopened (retrying with backoff)."
                        );
                        // The first reopen is tried at the next call: a disk may already have room.
                        slot.outage = Some(Outage {
                            since: now,
                            error: e.to_string(),
                            failures: 1,
                            next_try: now,
                            backoff: inner.first_backoff,
                        });
                    }
                }
            }
            _ => {}
        }
    }

    /// Compacts the file when it is past `min_bytes` and more than twice what its allocated
    /// pages hold; returns the file's size before and after when it did. Holds every other
    /// transaction up meanwhile; skipped (None) while one is in progress or during an outage.
    pub fn compact_if_sparse(&self, min_bytes: u64) -> Option<(u64, u64)> {
        let inner = &*self.inner;
        let size = || std::fs::metadata(&inner.path).map(|m| m.len()).unwrap_or(0);
        let before = size();
        inner
            .metrics
            .file_bytes
            .set(i64::try_from(before).unwrap_or(i64::MAX));
        if before < min_bytes {
            return None;
        }
        let used = self
            .write(|tx| {
                let s = tx.stats()?;
                Ok(s.allocated_pages() * s.page_size() as u64)
            })
            .ok()?;
        if before <= used.saturating_mul(2) {
            return None;
        }
        let mut slot = inner.slot.lock();
        let arc = slot.db.take()?;
        let mut db = match Arc::try_unwrap(arc) {
            Ok(db) => db,
            Err(arc) => {
                // A transaction holds it: next time.
                slot.db = Some(arc);
                return None;
            }
        };
        let started = Instant::now();
        let result = db.compact();
        slot.db = Some(Arc::new(db));
        drop(slot);
        let after = size();
        inner
            .metrics
            .file_bytes
            .set(i64::try_from(after).unwrap_or(i64::MAX));
        match result {
            Ok(_) if after < before => {
                inner.metrics.compactions.inc();
                tracing::info!(
                    path = %inner.path.display(),
                    before_bytes = before,
                    after_bytes = after,
                    took = ?started.elapsed(),
                    "The state database file was compacted."
                );
                Some((before, after))
            }
            Ok(_) => None,
            Err(e) => {
                // An I/O error here shows at the next transaction, which heals as usual.
                tracing::warn!(path = %inner.path.display(), error = %e, "The state database file could not be compacted.");
                None
            }
        }
    }

    /// The error that started the current outage, if there is one.
    pub fn outage(&self) -> Option<String> {
        self.inner
            .slot
            .lock()
            .outage
            .as_ref()
            .map(|o| o.error.clone())
    }
}

/// Runs [`Durable::compact_if_sparse`] (with [`COMPACT_MIN_BYTES`]) every
/// [`COMPACT_INTERVAL`] on the blocking pool, until `cancel` fires.
pub fn spawn_upkeep(
    durable: Durable,
    cancel: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(COMPACT_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {
                    let d = durable.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        d.compact_if_sparse(COMPACT_MIN_BYTES)
                    })
                    .await;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::TableDefinition;

    const T: TableDefinition<&str, u64> = TableDefinition::new("t");

    fn put(d: &Durable, k: &str, v: u64) -> Result<(), StateError> {
        d.write(|tx| {
            tx.open_table(T)?.insert(k, v)?;
            Ok(())
        })
    }

    fn get(d: &Durable, k: &str) -> Result<Option<u64>, StateError> {
        d.read(|tx| match tx.open_table(T) {
            Ok(t) => Ok(t.get(k)?.map(|v| v.value())),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(e.into()),
        })
    }

    fn counter(r: &Registry, name: &str) -> f64 {
        r.gather()
            .iter()
            .find(|m| m.name() == name)
            .map(|m| {
                let s = &m.get_metric()[0];
                if m.get_field_type() == prometheus::proto::MetricType::COUNTER {
                    s.get_counter().get_value()
                } else {
                    s.get_gauge().get_value()
                }
            })
            .unwrap_or_else(|| panic!("{name} not registered"))
    }

    #[test]
    fn writes_and_reads_round_trip_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let d = open(dir.path(), &Registry::new()).unwrap();
        put(&d, "a", 1).unwrap();
        assert_eq!(get(&d, "a").unwrap(), Some(1));
        drop(d);
        let d = open(dir.path(), &Registry::new()).unwrap();
        assert_eq!(get(&d, "a").unwrap(), Some(1));
    }

    #[test]
    fn a_caller_error_aborts_without_an_outage() {
        let dir = tempfile::tempdir().unwrap();
        let r = Registry::new();
        let d = open(dir.path(), &r).unwrap();
        let err = d
            .write(|tx| {
                tx.open_table(T)?.insert("a", 1)?;
                Err::<(), _>(StateError::caller(std::io::Error::other("no")))
            })
            .unwrap_err();
        assert!(!err.is_outage());
        assert_eq!(get(&d, "a").unwrap(), None);
        assert!(d.outage().is_none());
        assert_eq!(counter(&r, "vitals_durable_write_failures_total"), 1.0);
        assert_eq!(counter(&r, "vitals_durable_outages_total"), 0.0);
    }

    #[test]
    fn writes_resume_after_the_disk_has_room_again() {
        let dir = tempfile::tempdir().unwrap();
        let r = Registry::new();
        let full = failing::DiskFull::default();
        let d =
            Durable::open_with(dir.path(), &r, full.backend(), Duration::from_millis(200)).unwrap();
        put(&d, "before", 1).unwrap();

        full.set(true);
        let first = put(&d, "during", 2).unwrap_err();
        assert!(first.is_outage(), "{first}");
        assert!(d.outage().is_some());
        // The next call reopens at once; the disk is still full, so it fails (the reopen's
        // repair or the write), and later calls back off without touching the file.
        assert!(put(&d, "during", 2).unwrap_err().is_outage());
        let writes_before = full.writes();
        for _ in 0..20 {
            let e = put(&d, "during", 2).unwrap_err();
            assert!(e.is_outage(), "{e}");
        }
        assert_eq!(
            full.writes(),
            writes_before,
            "a backoff must not hammer the disk"
        );
        assert_eq!(counter(&r, "vitals_durable_outages_total"), 1.0);
        assert_eq!(counter(&r, "vitals_durable_available"), 0.0);

        // Room again: after the backoff the handle reopens and the write lands.
        full.set(false);
        let deadline = Instant::now() + Duration::from_secs(10);
        while put(&d, "after", 3).is_err() {
            assert!(Instant::now() < deadline, "writes never resumed");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(d.outage().is_none());
        assert_eq!(get(&d, "before").unwrap(), Some(1));
        assert_eq!(get(&d, "after").unwrap(), Some(3));
        assert!(counter(&r, "vitals_durable_reopens_total") >= 1.0);
        assert!(counter(&r, "vitals_durable_write_failures_total") >= 22.0);
        assert_eq!(counter(&r, "vitals_durable_outages_total"), 1.0);
        assert_eq!(counter(&r, "vitals_durable_available"), 1.0);

        // And it survives a real reopen.
        drop(d);
        let d = open(dir.path(), &Registry::new()).unwrap();
        assert_eq!(get(&d, "after").unwrap(), Some(3));
    }

    #[test]
    fn previous_io_and_io_errors_are_outages_caller_errors_are_not() {
        for e in [
            redb::Error::PreviousIo,
            redb::Error::Io(std::io::Error::from(std::io::ErrorKind::StorageFull)),
            redb::Error::Corrupted("x".into()),
        ] {
            assert!(StateError::Db(e).is_outage());
        }
        assert!(!StateError::Db(redb::Error::ValueTooLarge(1)).is_outage());
        assert!(!StateError::caller(std::io::Error::other("no")).is_outage());
    }

    #[test]
    fn an_uncreatable_directory_is_a_start_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"x").unwrap();
        let err = open(&blocker.join("sub"), &Registry::new()).unwrap_err();
        assert!(matches!(err, DurableError::Dir { .. }), "{err}");
        assert!(err.to_string().contains("sub"), "{err}");
    }

    #[test]
    fn a_sparse_file_is_compacted_and_keeps_its_data() {
        const BLOBS: TableDefinition<u64, &[u8]> = TableDefinition::new("blobs");
        let dir = tempfile::tempdir().expect("tempdir");
        let r = Registry::new();
        let d = open(dir.path(), &r).expect("open");
        put(&d, "kept", 7).expect("put");
        let blob = vec![7u8; 64 * 1024];
        // A burst: 16 MiB written in many commits, then deleted.
        for chunk in 0..16u64 {
            d.write(|tx| {
                let mut t = tx.open_table(BLOBS)?;
                for i in 0..16 {
                    t.insert(chunk * 16 + i, blob.as_slice())?;
                }
                Ok(())
            })
            .expect("write blobs");
        }
        d.write(|tx| {
            tx.delete_table(BLOBS)?;
            Ok(())
        })
        .expect("delete");
        let size = std::fs::metadata(d.path()).expect("stat").len();
        assert!(size > 16 << 20, "the burst grew the file: {size}");
        assert_eq!(
            d.compact_if_sparse(u64::MAX),
            None,
            "below the minimum size"
        );
        let (before, after) = d.compact_if_sparse(1 << 20).expect("compacted");
        assert_eq!(before, size);
        assert!(after < before / 4, "{before} -> {after}");
        assert_eq!(counter(&r, "vitals_durable_compactions_total"), 1.0);
        assert_eq!(get(&d, "kept").expect("read"), Some(7));
        put(&d, "after", 8).expect("writes go on");
        // Dense now: nothing more to do.
        assert_eq!(d.compact_if_sparse(1 << 20), None);
    }
}

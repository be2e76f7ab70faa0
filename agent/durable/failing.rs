//! Test support: a file backend that fails every write like a full disk while a flag is set,
//! so tests reach redb's I/O-error paths (and `PreviousIo`) without mounting anything.

use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};

use super::file::Backend;

/// The switch shared by the test and every backend it opened.
#[derive(Clone, Default, Debug)]
pub(super) struct DiskFull {
    full: Arc<AtomicBool>,
    /// Write, set_len and sync calls that reached the backend (failed or not).
    writes: Arc<AtomicU64>,
}

impl DiskFull {
    pub(super) fn set(&self, full: bool) {
        self.full.store(full, Ordering::SeqCst);
    }

    pub(super) fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// A backend for [`super::Durable::open_with`].
    pub(super) fn backend(&self) -> Backend {
        let me = self.clone();
        Arc::new(move |builder, file| {
            builder.create_with_backend(Failing {
                inner: FileBackend::new(file)?,
                disk: me.clone(),
            })
        })
    }

    fn check(&self) -> std::io::Result<()> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        if self.full.load(Ordering::SeqCst) {
            Err(std::io::Error::from(std::io::ErrorKind::StorageFull))
        } else {
            Ok(())
        }
    }
}

#[derive(Debug)]
struct Failing {
    inner: FileBackend,
    disk: DiskFull,
}

impl StorageBackend for Failing {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.disk.check()?;
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.disk.check()?;
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        self.disk.check()?;
        self.inner.write(offset, data)
    }

    fn close(&self) -> Result<(), std::io::Error> {
        self.inner.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}

//! The store's own upkeep: every [`GC_INTERVAL`], drop chunks past retention and series
//! past `series_stale_after`; every `storage.checkpoint_interval`, write the checkpoint (see
//! [`super::checkpoint`]); and once more at shutdown ([`Checkpointer::write_final`]). All of it runs on the blocking pool
//! (it walks every shard), so an append never waits on the disk.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use prometheus::Registry;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::checkpoint::{self, CheckpointError, Loaded};
use super::internal_events::CheckpointEvents;
use super::{Store, now_ms};

/// How often the store drops what retention and staleness no longer keep.
pub const GC_INTERVAL: Duration = Duration::from_secs(30);

/// Writes and loads the store checkpoint in `storage.path/store/`.
#[derive(Clone)]
pub struct Checkpointer {
    dir: PathBuf,
    /// Time between checkpoints; zero writes none (and loads none).
    interval: Duration,
    events: CheckpointEvents,
}

impl Checkpointer {
    /// The checkpointer of `storage_path`; registers its metrics in `registry`.
    pub fn new(
        storage_path: &std::path::Path,
        interval: Duration,
        registry: &Registry,
    ) -> Result<Self, prometheus::Error> {
        Ok(Checkpointer {
            dir: storage_path.join(checkpoint::DIR),
            interval,
            events: CheckpointEvents::new(registry)?,
        })
    }

    /// False when checkpoints are off (`storage.checkpoint_interval: 0s`).
    pub fn enabled(&self) -> bool {
        !self.interval.is_zero()
    }

    /// Makes sure the checkpoint directory exists and takes a file, so a read-only
    /// `storage.path` is an error at start rather than a warning every interval.
    pub fn check_writable(&self) -> Result<(), CheckpointError> {
        if !self.enabled() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir).map_err(|source| CheckpointError::CreateDir {
            path: self.dir.clone(),
            source,
        })?;
        let probe = self.dir.join(".write-test");
        std::fs::write(&probe, b"")
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|source| CheckpointError::Write {
                path: probe,
                source,
            })
    }

    /// Loads the checkpoint into `store` (blocking; call before anything writes to it).
    pub fn load(&self, store: &Store) -> Result<Option<Loaded>, CheckpointError> {
        if !self.enabled() {
            return Ok(None);
        }
        let loaded = store.load_checkpoint(&self.dir)?;
        match &loaded {
            Some(l) => self.events.loaded(l),
            None => self.events.none_found(&self.dir),
        }
        Ok(loaded)
    }

    /// Writes the shutdown checkpoint (when checkpoints are on): call once the sources and
    /// the rule engine have stopped.
    pub async fn write_final(&self, store: &Arc<Store>) {
        if self.enabled() {
            self.write(store, true).await;
        }
    }

    /// Writes one checkpoint on the blocking pool; counts and logs the outcome.
    async fn write(&self, store: &Arc<Store>, last: bool) {
        let (s, dir) = (store.clone(), self.dir.clone());
        match tokio::task::spawn_blocking(move || s.write_checkpoint(&dir)).await {
            Ok(Ok(w)) => self.events.written(&w, last),
            Ok(Err(e)) => self.events.failed(&e),
            Err(e) => self.events.failed(&CheckpointError::Write {
                path: self.dir.clone(),
                source: std::io::Error::other(e.to_string()),
            }),
        }
    }
}

/// Starts the upkeep task (gc, and periodic checkpoints when `checkpointer` is enabled); it ends
/// when `cancel` fires. The shutdown checkpoint is [`Checkpointer::write_final`].
pub fn spawn(
    store: Arc<Store>,
    checkpointer: Checkpointer,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    let checkpointer = Some(checkpointer).filter(Checkpointer::enabled);
    tokio::spawn(async move {
        let mut gc_tick = tokio::time::interval(GC_INTERVAL);
        // Without checkpoints this ticker is never polled (see the `if` below).
        let period = checkpointer
            .as_ref()
            .map_or(Duration::from_secs(3600), |c| c.interval);
        let mut ck_tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ck_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = gc_tick.tick() => {
                    let s = store.clone();
                    let stats = tokio::task::spawn_blocking(move || s.gc(now_ms())).await;
                    if let Ok(stats) = stats
                        && (stats.series_dropped > 0 || stats.chunks_dropped > 0)
                    {
                        tracing::debug!(
                            series_dropped = stats.series_dropped,
                            chunks_dropped = stats.chunks_dropped,
                            "Store garbage collection dropped old data."
                        );
                    }
                }
                _ = ck_tick.tick(), if checkpointer.is_some() => {
                    if let Some(c) = &checkpointer {
                        c.write(&store, false).await;
                    }
                }
            }
        }
    })
}

//! The store's own upkeep: every [`GC_INTERVAL`], drop chunks past retention and series
//! past `series_stale_after`, on the blocking pool (it walks every shard).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Store, now_ms};

/// How often the store drops what retention and staleness no longer keep.
pub const GC_INTERVAL: Duration = Duration::from_secs(30);

/// Starts the upkeep task; it ends when `cancel` fires.
pub fn spawn(store: Arc<Store>, cancel: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(GC_INTERVAL);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {
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
            }
        }
    })
}

//! Staged shutdown: the daemon's stages stop one after another in pipeline order (the
//! reloader, sources, the rule engine, store upkeep, then the API), all within one grace
//! period; and the signals that start it.

use std::pin::Pin;
use std::time::Duration;

/// One step of shutdown: a stage's name and the future that stops it.
pub type Step = (&'static str, Pin<Box<dyn Future<Output = ()> + Send>>);

/// Runs `steps` in order, each started only once the previous one has finished, all within
/// `grace`. Returns false when the grace period ran out (the rest are abandoned).
pub async fn stop_in_order(steps: Vec<Step>, grace: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + grace;
    for (name, stop) in steps {
        if tokio::time::timeout_at(deadline, stop).await.is_err() {
            tracing::warn!(stage = name, grace = ?grace, "Shutdown grace period ran out; abandoning the remaining stages.");
            return false;
        }
        tracing::debug!(stage = name, "Stage stopped.");
    }
    true
}

/// Waits for SIGTERM or SIGINT (Ctrl-C) and returns its name.
pub async fn signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            _ => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}

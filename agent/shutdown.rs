//! Staged shutdown: the daemon's stages stop one after another in pipeline order
//! (sources, then store maintenance, then the API), all within one grace period.

use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// One stage: a cancellation token its tasks watch, and the tasks themselves.
pub struct Stage {
    name: &'static str,
    cancel: CancellationToken,
    tasks: JoinSet<()>,
}

impl Stage {
    /// A new stage named for logs.
    pub fn new(name: &'static str) -> Self {
        Stage {
            name,
            cancel: CancellationToken::new(),
            tasks: JoinSet::new(),
        }
    }

    /// The token this stage's tasks must watch.
    pub fn token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Adds a task to the stage.
    pub fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(task);
    }
}

/// Stops `stages` in order, each cancelled only once the previous one has finished, all
/// within `grace`. Returns false when the grace period ran out (the rest are abandoned).
pub async fn stop_in_order(stages: Vec<Stage>, grace: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + grace;
    for mut stage in stages {
        stage.cancel.cancel();
        let drained = tokio::time::timeout_at(deadline, async {
            while stage.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(stage = stage.name, grace = ?grace, "Shutdown grace period ran out; abandoning the remaining stages.");
            return false;
        }
        tracing::debug!(stage = stage.name, "Stage stopped.");
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

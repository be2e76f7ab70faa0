//! The OTLP receiver as a pipeline stage: built from `otlp:` (listeners bound, ingest
//! workers started), expiring its series cache on the store's staleness horizon, taking a
//! new bearer token live on reload (every other change needs a restart, and says so), and
//! draining on `stop`.

use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{OtlpError, OtlpReceiver, OtlpSpec};
use crate::stage::{Applied, Context, Stage};
use crate::store::now_ms;

/// How often series not written within `storage.series_stale_after` leave the OTLP cache.
const EXPIRE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// The OTLP stage.
pub struct OtlpStage {
    receiver: Arc<OtlpReceiver>,
    spec: Mutex<OtlpSpec>,
    stale_after_ms: i64,
    cancel: CancellationToken,
    expire: Mutex<Option<JoinHandle<()>>>,
}

impl OtlpStage {
    /// The bound gRPC address, when gRPC is on.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.receiver.grpc_addr
    }

    /// The bound HTTP address, when HTTP is on.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.receiver.http_addr
    }
}

/// The config paths of the fields that differ between `old` and `new`, other than the
/// bearer token (which applies live).
fn restart_fields(old: &OtlpSpec, new: &OtlpSpec) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |differs: bool, field: &str| {
        if differs {
            out.push(format!("otlp.{field}"));
        }
    };
    check(old.grpc_listen != new.grpc_listen, "grpc_listen");
    check(old.http_listen != new.http_listen, "http_listen");
    check(
        old.max_message_bytes != new.max_message_bytes,
        "max_message_bytes",
    );
    check(old.limits.max_series != new.limits.max_series, "max_series");
    check(old.limits.max_labels != new.limits.max_labels, "max_labels");
    check(
        old.limits.max_label_name_len != new.limits.max_label_name_len,
        "max_label_name_length",
    );
    check(
        old.limits.max_label_value_len != new.limits.max_label_value_len,
        "max_label_value_length",
    );
    check(
        old.span_buckets != new.span_buckets,
        "span_duration_buckets",
    );
    check(old.log_counters != new.log_counters, "log_counters");
    check(old.tls != new.tls, "tls");
    check(old.forward != new.forward, "forward");
    check(old.connections != new.connections, "connections");
    out
}

impl Stage for OtlpStage {
    type Spec = OtlpSpec;
    type Error = OtlpError;

    async fn build(spec: OtlpSpec, ctx: &Context) -> Result<Self, OtlpError> {
        let cancel = ctx.cancel.child_token();
        let receiver =
            OtlpReceiver::start(&spec, ctx.store.clone(), &ctx.registry, cancel.clone()).await?;
        let stale_after_ms =
            i64::try_from(ctx.store.config().stale_after.as_millis()).unwrap_or(i64::MAX);
        Ok(OtlpStage {
            receiver: Arc::new(receiver),
            spec: Mutex::new(spec),
            stale_after_ms,
            cancel,
            expire: Mutex::new(None),
        })
    }

    fn start(&self) {
        let (receiver, cancel, stale) = (
            self.receiver.clone(),
            self.cancel.clone(),
            self.stale_after_ms,
        );
        *self.expire.lock() = Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(EXPIRE_INTERVAL);
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tick.tick() => {
                        let r = receiver.clone();
                        let _ = tokio::task::spawn_blocking(move || {
                            r.expire(now_ms().saturating_sub(stale));
                        })
                        .await;
                    }
                }
            }
        }));
    }

    fn apply(&self, new: OtlpSpec) -> Applied {
        let mut applied = Applied::default();
        let mut spec = self.spec.lock();
        if spec.auth_token != new.auth_token {
            self.receiver.set_auth_token(new.auth_token.clone());
            applied.changed.push("otlp.auth_token".into());
        }
        applied.needs_restart = restart_fields(&spec, &new);
        // What runs now: the live token, everything else as started.
        spec.auth_token = new.auth_token;
        applied
    }

    async fn stop(&self) {
        self.cancel.cancel();
        let expire = self.expire.lock().take();
        if let Some(t) = expire {
            let _ = t.await;
        }
        // Queued requests and forwarding drain here.
        self.receiver.stopped().await;
    }
}

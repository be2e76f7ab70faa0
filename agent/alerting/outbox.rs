//! The durable side of alerting, in `storage.path/vitals.redb`: the outbox (each
//! notification written before it is sent, removed when delivered or given up), the
//! notification log (what each receiver was last told per group, Alertmanager's `nflog`) and
//! the silences.
//!
//! A decision (the notifications of one dispatcher tick plus their log entries) is written in
//! one transaction, so after a `kill -9` either both are there (the outbox sends again) or
//! neither (the dispatcher decides again). The first attempt does not wait for the disk: it
//! starts while the decision is being committed (an fsync is 1–7 ms here, most of a
//! notification's latency); a crash inside that window can only repeat a notification, never
//! lose one, and the repeat carries the same id (ids are a hash of the decision, see the
//! stage). Writes go through one writer on the blocking pool that commits whatever is queued
//! in one transaction (one fsync for many completions).
//!
//! The writer's queue holds [`WRITE_QUEUE`] operations; when full, the sender waits (the
//! dispatcher loop and deliveries slow down; nothing is dropped).

use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::dispatch::NflogRecord;
use super::internal_events::Metrics;
use crate::durable::{Durable, StateError};
use crate::notify::Notification;

const OUTBOX: TableDefinition<&str, &[u8]> = TableDefinition::new("alerting_outbox");
const NFLOG: TableDefinition<&str, &[u8]> = TableDefinition::new("alerting_nflog");
const SILENCES: TableDefinition<&str, &[u8]> = TableDefinition::new("alerting_silences");
const SILENCES_KEY: &str = "silences";

/// Capacity of the writer's queue (operations). Full: senders wait.
pub const WRITE_QUEUE: usize = 4096;
/// Most operations committed in one transaction.
const BATCH: usize = 1024;
/// Tries of one failed transaction before its operations are given up (logged, counted).
const WRITE_ATTEMPTS: u32 = 5;
/// Wait between those tries.
const RETRY_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// One notification for one integration of one receiver, as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutboxEntry {
    /// The notification's id (the webhook's `notificationId`): the same on every attempt,
    /// also after a restart.
    pub id: String,
    /// The receiver's name.
    pub receiver: String,
    /// The integration's index within the receiver (configuration order).
    pub integration: usize,
    /// A hash of the integration's configuration (0: unknown), to find it again after a
    /// reload reordered the receiver's integrations.
    #[serde(default)]
    pub identity: u64,
    /// The integration's kind (`webhook`, `email`...), to check it still is the same.
    pub kind: String,
    /// What to send.
    pub notification: Notification,
    /// When it was decided (Unix ms): retries stop `give_up_after` later.
    pub created_ms: i64,
}

/// What the durable state held at start.
#[derive(Debug, Default)]
pub struct Loaded {
    pub outbox: Vec<OutboxEntry>,
    pub nflog: Vec<NflogRecord>,
    pub silences: Option<Vec<u8>>,
}

fn nflog_key(group_key: &str, receiver: &str) -> String {
    format!("{receiver}\u{0}{group_key}")
}

enum Op {
    Decide {
        entries: Vec<OutboxEntry>,
        nflog: Vec<NflogRecord>,
        done: Option<oneshot::Sender<bool>>,
    },
    Done(String),
    /// A snapshot of the silences, numbered: an older one queued after a newer is skipped.
    Silences(u64, Vec<u8>),
    ForgetNflog(Vec<(String, String)>),
}

/// The writer's handle; cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    tx: Option<mpsc::Sender<Op>>,
}

/// Reads what `durable` holds for alerting (nothing without one). A record that does not
/// decode is skipped with a warning.
pub fn load(durable: Option<&Durable>) -> Result<Loaded, StateError> {
    let Some(db) = durable else {
        return Ok(Loaded::default());
    };
    let raw = db.read(|tx| {
        let mut out = (Vec::new(), Vec::new(), None);
        match tx.open_table(OUTBOX) {
            Ok(t) => {
                for e in t.iter()? {
                    let (_, v) = e?;
                    out.0.push(v.value().to_vec());
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(e.into()),
        }
        match tx.open_table(NFLOG) {
            Ok(t) => {
                for e in t.iter()? {
                    let (_, v) = e?;
                    out.1.push(v.value().to_vec());
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(e.into()),
        }
        match tx.open_table(SILENCES) {
            Ok(t) => out.2 = t.get(SILENCES_KEY)?.map(|v| v.value().to_vec()),
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(out)
    })?;
    let decode = |what: &str, bytes: &[u8]| -> Option<serde_json::Value> {
        match serde_json::from_slice(bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(record = what, error = %e, "A stored alerting record does not decode; it is skipped.");
                None
            }
        }
    };
    let mut loaded = Loaded {
        silences: raw.2,
        ..Loaded::default()
    };
    for b in raw.0 {
        if let Some(e) = decode("outbox", &b).and_then(|v| serde_json::from_value(v).ok()) {
            loaded.outbox.push(e);
        }
    }
    for b in raw.1 {
        if let Some(e) = decode("nflog", &b).and_then(|v| serde_json::from_value(v).ok()) {
            loaded.nflog.push(e);
        }
    }
    loaded.outbox.sort_by_key(|e| e.created_ms);
    Ok(loaded)
}

impl Outbox {
    /// Starts the writer on the blocking pool (none without `durable`: every operation is
    /// then done at once, in memory only). The writer ends when every handle is dropped,
    /// after writing what was queued.
    pub fn start(durable: Option<Durable>, metrics: Metrics) -> Outbox {
        let Some(db) = durable else {
            return Outbox { tx: None };
        };
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        tokio::task::spawn_blocking(move || writer(db, rx, metrics));
        Outbox { tx: Some(tx) }
    }

    /// Queues a decision for the next commit, ahead of every later operation (so a
    /// delivery's removal can never be written before its entry); returns without waiting for
    /// the disk. A failed write is logged and counted.
    pub async fn record(&self, entries: Vec<OutboxEntry>, nflog: Vec<NflogRecord>) {
        if let Some(tx) = &self.tx {
            let _ = tx
                .send(Op::Decide {
                    entries,
                    nflog,
                    done: None,
                })
                .await;
        }
    }

    /// Waits until everything queued before is committed; false when that write failed.
    pub async fn flush(&self) -> bool {
        let Some(tx) = &self.tx else { return true };
        let (done, wait) = oneshot::channel();
        let op = Op::Decide {
            entries: Vec::new(),
            nflog: Vec::new(),
            done: Some(done),
        };
        if tx.send(op).await.is_err() {
            return false;
        }
        wait.await.unwrap_or(false)
    }

    /// Removes a delivered (or given-up) notification.
    pub async fn done(&self, id: String) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Op::Done(id)).await;
        }
    }

    /// Stores the silences (their v2 JSON); `seq` numbers the snapshot (taken under the
    /// lock that orders the changes), so a slower older one never overwrites a newer.
    pub async fn save_silences(&self, seq: u64, bytes: Vec<u8>) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Op::Silences(seq, bytes)).await;
        }
    }

    /// Forgets log entries (group key, receiver) no longer needed.
    pub async fn forget_nflog(&self, keys: Vec<(String, String)>) {
        if let (Some(tx), false) = (&self.tx, keys.is_empty()) {
            let _ = tx.send(Op::ForgetNflog(keys)).await;
        }
    }
}

fn writer(db: Durable, mut rx: mpsc::Receiver<Op>, metrics: Metrics) {
    let mut silences_seq = 0u64;
    while let Some(first) = rx.blocking_recv() {
        let mut ops = vec![first];
        while ops.len() < BATCH {
            match rx.try_recv() {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        let mut dones = Vec::new();
        let mut batch_seq = silences_seq;
        let mut write = || {
            batch_seq = silences_seq;
            db.write(|tx| {
                let mut outbox = tx.open_table(OUTBOX)?;
                let mut nflog = tx.open_table(NFLOG)?;
                let mut silences = tx.open_table(SILENCES)?;
                for op in &ops {
                    match op {
                        Op::Decide {
                            entries,
                            nflog: log,
                            ..
                        } => {
                            for e in entries {
                                let bytes = serde_json::to_vec(e).map_err(StateError::caller)?;
                                outbox.insert(e.id.as_str(), bytes.as_slice())?;
                            }
                            for r in log {
                                let bytes = serde_json::to_vec(r).map_err(StateError::caller)?;
                                nflog.insert(
                                    nflog_key(&r.group_key, &r.receiver).as_str(),
                                    bytes.as_slice(),
                                )?;
                            }
                        }
                        Op::Done(id) => {
                            outbox.remove(id.as_str())?;
                        }
                        Op::Silences(seq, bytes) => {
                            if *seq >= batch_seq {
                                batch_seq = *seq;
                                silences.insert(SILENCES_KEY, bytes.as_slice())?;
                            }
                        }
                        Op::ForgetNflog(keys) => {
                            for (g, r) in keys {
                                nflog.remove(nflog_key(g, r).as_str())?;
                            }
                        }
                    }
                }
                Ok(())
            })
        };
        // A failed transaction (a full disk, an I/O error) is tried again a few times before
        // its operations are given up: they are a batch of unrelated decisions and removals.
        let mut result = write();
        for _ in 1..WRITE_ATTEMPTS {
            if result.is_ok() {
                break;
            }
            std::thread::sleep(RETRY_WAIT);
            result = write();
        }
        let ok = result.is_ok();
        if let Err(e) = result {
            metrics.outbox_write_failed(&e.to_string());
        } else {
            silences_seq = batch_seq;
        }
        for op in ops {
            if let Op::Decide { done: Some(d), .. } = op {
                dones.push(d);
            }
        }
        for d in dones {
            let _ = d.send(ok);
        }
    }
}

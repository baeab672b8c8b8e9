//! The durable record behind the engine, and the contract every backend keeps.
//!
//! The engine keeps every queue's index in memory and is the only judge of SQS
//! semantics; a `Store` keeps the record that rebuilds that index after a restart. Each
//! engine operation turns into an ordered list of `Change`s, submitted while the queue's
//! lock is held — so the store sees changes in the order memory saw them — and awaited
//! before the client is answered. A durable store commits many submissions in one
//! transaction and one fsync (group commit); after a crash its content is a prefix of
//! the submitted sequence that includes everything acknowledged.
//!
//! The contract, the same for every backend (and checked for each by `conformance`):
//! - **Order and durability.** `submit` applies a submission atomically after every earlier
//!   one; its `Commit` resolves once it is durable.
//! - **Reads see submissions.** `load` and `contents` see every change submitted so far,
//!   committed or not: the engine shows a message as soon as its send is submitted (a long
//!   poll takes it while the send commits), so a receive must find its body. Each receive
//!   still answers only after its own later commit, so nothing is acknowledged ahead of the
//!   disk. A backend keeps its in-flight bodies itself; the engine keeps no bodies and never
//!   asks which kind of store it has.
//! - **Failure is part of the contract.** A commit that fails resolves to an error and the
//!   store then refuses every change (`health` says `Failed`), so the record never holds a
//!   change whose predecessor was lost. `recover` is the one way back: once the store can
//!   commit again, it hands everything it holds to the engine's `rebuild` while still
//!   refusing changes — so nothing slips in between what the engine rebuilt from and the
//!   first change accepted — and only then accepts changes. `load` keeps working meanwhile,
//!   so the engine can show what is durable while the store is down.
//! - **One snapshot per read.** `load` returns queues, tasks and the seq limit as of one
//!   point; `contents` reads several bodies in one go (one read transaction for SQLite, one
//!   round trip for a networked backend).
//!
//! `MemoryStore` is the reference backend: it keeps what it is given (in memory), so an
//! engine rebuilt on the same instance sees a restart, and it can be made to fail commits
//! (`set_failing`) as a full disk does. How several nodes would share one record is not
//! this contract's concern yet.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use crate::attributes::QueueAttributes;
use crate::clock::Millis;
use crate::message::SharedContent;
pub use crate::movetask::record::{TaskRecord, TaskStatus};

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

/// What a queue is, apart from its messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueRecord {
    pub name: String,
    pub uid: u64,
    pub created_at: Millis,
    pub last_modified: Millis,
    pub attributes: QueueAttributes,
    pub tags: BTreeMap<String, String>,
    pub last_purge: Option<Millis>,
}

/// The part of a message that receives and visibility changes rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageState {
    pub enqueued_at: Millis,
    /// When the message becomes (or became) visible: end of its delay or of its visibility timeout.
    pub visible_at: Millis,
    pub receive_count: u32,
    /// 0 until the first receive (the clock never reads 0).
    pub first_receive_at: Millis,
    pub received_at: Millis,
    /// Counts receives; part of each receipt handle.
    pub nonce: u32,
}

#[derive(Debug, Clone)]
pub enum Change {
    PutQueue(QueueRecord),
    /// Removes the queue and every message of it.
    DeleteQueue {
        uid: u64,
    },
    /// `seq` is unique across queues: a store may key the body by it alone.
    PutMessage {
        queue: u64,
        seq: u64,
        content: SharedContent,
        state: MessageState,
    },
    SetState {
        queue: u64,
        seq: u64,
        state: MessageState,
    },
    DeleteMessage {
        queue: u64,
        seq: u64,
    },
    /// Removes every message of the queue.
    Purge {
        queue: u64,
    },
    /// A move task's record and progress.
    PutTask(Box<TaskRecord>),
    /// Forget an ended move task's record (kept for `MOVE_TASK_RETENTION_MS`).
    DeleteTask {
        started_at: Millis,
        id: String,
    },
    /// A queue was deleted: its name may not be created again for a while, restarts included.
    PutTombstone(Tombstone),
    /// Forget the tombstone of a queue's stored name.
    DeleteTombstone {
        name: String,
    },
    /// A FIFO deduplication id accepted until `expires_at`.
    PutDedup {
        queue: u64,
        key: String,
        message_id: String,
        seq: u64,
        expires_at: Millis,
    },
    DeleteDedup {
        queue: u64,
        key: String,
    },
    /// A FIFO receive made under a ReceiveRequestAttemptId, replayed to a retry until it
    /// expires: written in the same submission as the receive's states.
    PutAttempt {
        queue: u64,
        record: AttemptRecord,
    },
    DeleteAttempt {
        queue: u64,
        id: String,
    },
    /// Seqs below `below` may be in use: a restarted engine hands out none of them again.
    /// A store keeps the highest limit it was given.
    ReserveSeqs {
        below: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// One stored queue as read back at startup: its record and its messages' states by seq.
pub struct LoadedQueue {
    pub record: QueueRecord,
    pub messages: Vec<(u64, MessageState)>,
    /// FIFO deduplication entries: (key, message id, seq, expires at).
    pub dedup: Vec<DedupRecord>,
    /// FIFO receive attempts, by id.
    pub attempts: Vec<AttemptRecord>,
}

/// A remembered FIFO deduplication id, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DedupRecord {
    pub key: String,
    pub message_id: String,
    pub seq: u64,
    pub expires_at: Millis,
}

/// A FIFO receive made under a ReceiveRequestAttemptId, as stored: which receive of which
/// messages it was — enough, with their states and bodies, to rebuild its answer, receipt
/// handles included. Kept apart from the states: a message's state has no room for it in the
/// engine's index, and is rewritten by visibility changes that leave the attempt standing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub id: String,
    pub expires_at: Millis,
    /// (seq, nonce) of each receipt handle delivered, in the order delivered.
    pub receipts: Vec<(u64, u64)>,
}

/// A deleted queue's stored name and when it was deleted (AWS refuses to create it again for
/// 60 s: QueueDeletedRecently).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    pub name: String,
    pub deleted_at: Millis,
}

/// Everything a store holds, as of one point: what rebuilds the engine.
#[derive(Default)]
pub struct Stored {
    /// In uid order.
    pub queues: Vec<LoadedQueue>,
    /// Every move task kept, in start order.
    pub tasks: Vec<TaskRecord>,
    /// The highest `ReserveSeqs` limit kept (0 if none).
    pub seq_limit: u64,
    /// Deleted queues' tombstones, in name order.
    pub tombstones: Vec<Tombstone>,
}

/// Whether a store takes changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Healthy,
    /// A commit failed: every change is refused until `Store::recover` succeeds.
    Failed,
}

impl Health {
    /// A store's health from its "a commit failed" flag.
    pub fn of(failed: &std::sync::atomic::AtomicBool) -> Health {
        if failed.load(std::sync::atomic::Ordering::SeqCst) {
            Health::Failed
        } else {
            Health::Healthy
        }
    }
}

pub type Commit = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>;

/// Rebuilds the engine from what a recovering store holds; see `Store::recover`.
pub type Rebuild<'a> = &'a mut dyn FnMut(Stored) -> Result<(), StoreError>;

pub trait Store: Send + Sync + 'static {
    /// Queue `changes` to be applied atomically, after everything submitted before.
    /// The returned future resolves once they are durable. After a failed commit every
    /// submission fails until `recover`.
    fn submit(&self, changes: Vec<Change>) -> Commit;
    /// Everything stored (submitted changes included), for rebuilding the engine's index.
    fn load(&self) -> Result<Stored, StoreError>;
    /// The contents of messages of `queue`, one per seq (`None`: no such message), read in
    /// one go. A body is found from its `PutMessage`'s submission on, committed or not.
    fn contents(&self, queue: u64, seqs: &[u64]) -> Result<Vec<Option<SharedContent>>, StoreError>;
    /// Whether the store takes changes.
    fn health(&self) -> Health;
    /// After a failure: if commits succeed again, call `rebuild` with everything stored —
    /// changes are still refused meanwhile — and accept changes once it returns `Ok`.
    /// An error (still failing, or `rebuild`'s) leaves the store refusing changes.
    fn recover(&self, rebuild: Rebuild<'_>) -> Result<(), StoreError>;
    /// Finish what was submitted and release what the store holds (files, locks).
    fn close(&self) {}
}

/// The reference store: keeps what it is given, in memory. Serves `--in-memory` and tests;
/// an engine opened again on the same instance sees what a restart would.
#[derive(Default)]
pub struct MemoryStore {
    record: parking_lot::Mutex<Record>,
    /// Commits fail while set, as on a full disk.
    failing: AtomicBool,
    /// A commit failed: changes are refused until `recover`.
    failed: AtomicBool,
}

/// Keyed by the engine's own numbers (seqs, queue uids): an unkeyed hash is safe, and cheap on
/// the hot path (every send, receive and delete changes the record).
type ByNumber<V> = HashMap<u64, V, foldhash::fast::FixedState>;

/// Message states and bodies of one queue, by seq.
type Messages = ByNumber<(MessageState, SharedContent)>;

#[derive(Default)]
struct Record {
    queues: BTreeMap<u64, QueueRecord>,
    messages: ByNumber<Messages>,
    dedup: ByNumber<BTreeMap<String, DedupRecord>>,
    attempts: ByNumber<BTreeMap<String, AttemptRecord>>,
    tasks: BTreeMap<(Millis, String), TaskRecord>,
    seq_limit: u64,
    tombstones: BTreeMap<String, Millis>,
}

impl Record {
    fn apply(&mut self, change: Change) {
        match change {
            Change::PutQueue(record) => {
                self.queues.insert(record.uid, record);
            }
            Change::DeleteQueue { uid } => {
                self.queues.remove(&uid);
                self.purge(uid);
            }
            Change::Purge { queue } => self.purge(queue),
            Change::PutMessage { queue, seq, content, state } => {
                self.messages.entry(queue).or_default().insert(seq, (state, content));
            }
            Change::SetState { queue, seq, state } => {
                // Like an update: a message deleted before does not come back.
                if let Some(m) = self.messages.get_mut(&queue).and_then(|m| m.get_mut(&seq)) {
                    m.0 = state;
                }
            }
            Change::DeleteMessage { queue, seq } => {
                if let Some(m) = self.messages.get_mut(&queue) {
                    m.remove(&seq);
                }
            }
            Change::PutTask(task) => {
                self.tasks.insert((task.started_at, task.id.clone()), *task);
            }
            Change::DeleteTask { started_at, id } => {
                self.tasks.remove(&(started_at, id));
            }
            Change::PutTombstone(t) => {
                self.tombstones.insert(t.name, t.deleted_at);
            }
            Change::DeleteTombstone { name } => {
                self.tombstones.remove(&name);
            }
            Change::PutDedup { queue, key, message_id, seq, expires_at } => {
                let record = DedupRecord { key: key.clone(), message_id, seq, expires_at };
                self.dedup.entry(queue).or_default().insert(key, record);
            }
            Change::DeleteDedup { queue, key } => {
                if let Some(d) = self.dedup.get_mut(&queue) {
                    d.remove(&key);
                }
            }
            Change::PutAttempt { queue, record } => {
                self.attempts.entry(queue).or_default().insert(record.id.clone(), record);
            }
            Change::DeleteAttempt { queue, id } => {
                if let Some(a) = self.attempts.get_mut(&queue) {
                    a.remove(&id);
                }
            }
            Change::ReserveSeqs { below } => self.seq_limit = self.seq_limit.max(below),
        }
    }

    fn purge(&mut self, queue: u64) {
        self.messages.remove(&queue);
        self.dedup.remove(&queue);
        self.attempts.remove(&queue);
    }

    fn stored(&self) -> Stored {
        let queues = self
            .queues
            .values()
            .map(|record| {
                let mut messages: Vec<(u64, MessageState)> = self
                    .messages
                    .get(&record.uid)
                    .map(|m| m.iter().map(|(&seq, (state, _))| (seq, *state)).collect())
                    .unwrap_or_default();
                messages.sort_unstable_by_key(|&(seq, _)| seq);
                let dedup = self.dedup.get(&record.uid).map(|d| d.values().cloned().collect()).unwrap_or_default();
                let attempts =
                    self.attempts.get(&record.uid).map(|a| a.values().cloned().collect()).unwrap_or_default();
                LoadedQueue { record: record.clone(), messages, dedup, attempts }
            })
            .collect();
        let tombstones =
            self.tombstones.iter().map(|(name, &deleted_at)| Tombstone { name: name.clone(), deleted_at }).collect();
        Stored { queues, tasks: self.tasks.values().cloned().collect(), seq_limit: self.seq_limit, tombstones }
    }
}

impl MemoryStore {
    /// Make commits fail (`true`), as a full disk does, or succeed again (`false`).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

fn refusing() -> StoreError {
    StoreError("the store refuses changes after a failed commit, until it recovers".into())
}

impl Store for MemoryStore {
    fn submit(&self, changes: Vec<Change>) -> Commit {
        let result = {
            // Under the lock, so that a failure is ordered with the submissions around it.
            let mut record = self.record.lock();
            if self.failed.load(Ordering::SeqCst) {
                Err(refusing())
            } else if self.failing.load(Ordering::SeqCst) {
                self.failed.store(true, Ordering::SeqCst);
                Err(StoreError("the commit failed: no space left on device (simulated)".into()))
            } else {
                for change in changes {
                    record.apply(change);
                }
                Ok(())
            }
        };
        Box::pin(std::future::ready(result))
    }

    fn load(&self) -> Result<Stored, StoreError> {
        Ok(self.record.lock().stored())
    }

    fn contents(&self, queue: u64, seqs: &[u64]) -> Result<Vec<Option<SharedContent>>, StoreError> {
        let record = self.record.lock();
        let messages = record.messages.get(&queue);
        Ok(seqs.iter().map(|seq| messages.and_then(|m| m.get(seq)).map(|(_, c)| c.clone())).collect())
    }

    fn health(&self) -> Health {
        Health::of(&self.failed)
    }

    fn recover(&self, rebuild: Rebuild<'_>) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError("the store still fails commits (simulated)".into()));
        }
        rebuild(self.load()?)?;
        self.failed.store(false, Ordering::SeqCst);
        Ok(())
    }
}

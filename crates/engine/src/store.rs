//! The durable record behind the engine.
//!
//! The engine keeps every queue's index in memory and is the only judge of SQS
//! semantics; a `Store` keeps the record that rebuilds that index after a restart. Each
//! engine operation turns into an ordered list of `Change`s, submitted while the queue's
//! lock is held — so the store sees changes in the order memory saw them — and awaited
//! before the client is answered. A durable store commits many submissions in one
//! transaction and one fsync (group commit); after a crash its content is a prefix of
//! the submitted sequence that includes everything acknowledged.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use crate::attributes::QueueAttributes;
use crate::clock::Millis;
use crate::message::SharedContent;
pub use crate::movetask::record::{TaskRecord, TaskStatus};

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
    PutTask(TaskRecord),
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
}

/// A remembered FIFO deduplication id, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DedupRecord {
    pub key: String,
    pub message_id: String,
    pub seq: u64,
    pub expires_at: Millis,
}

pub type Commit = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>;

pub trait Store: Send + Sync + 'static {
    /// Queue `changes` to be applied atomically, after everything submitted before.
    /// The returned future resolves once they are durable.
    fn submit(&self, changes: Vec<Change>) -> Commit;
    /// Everything stored, for rebuilding the engine's index.
    fn load(&self) -> Result<Vec<LoadedQueue>, StoreError>;
    /// Flush and release everything (files, locks); the store refuses changes afterwards.
    fn close(&self) {}
    /// Whether an earlier commit failed, so the store refuses changes.
    fn is_failed(&self) -> bool {
        false
    }
    /// Check that a commit succeeds again (space returned); the store still refuses
    /// changes until `resume`, so the engine can reload what is on disk first.
    fn probe(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Accept changes again after a successful `probe` and reload.
    fn resume(&self) {}
    /// The highest `ReserveSeqs` limit kept (0 if none).
    fn seq_limit(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
    /// Every move task kept, in start order.
    fn load_tasks(&self) -> Result<Vec<TaskRecord>, StoreError> {
        Ok(Vec::new())
    }
    /// A message's content, for messages loaded without it.
    fn content(&self, queue: u64, seq: u64) -> Result<Option<SharedContent>, StoreError>;
    /// For reading several contents in a row (a receive, a move-task batch): the store may
    /// serve them from one snapshot instead of one per message.
    fn reader(&self) -> Box<dyn ContentReader + '_> {
        Box::new(self)
    }
    /// Whether contents live only in the engine's memory. Otherwise the engine keeps no
    /// bodies: `content` must also find those submitted but not yet committed.
    fn is_memory(&self) -> bool {
        false
    }
}

/// Reads contents one after another; see `Store::reader`.
pub trait ContentReader {
    fn content(&mut self, queue: u64, seq: u64) -> Result<Option<SharedContent>, StoreError>;
}

/// One `Store::content` call per read.
impl<S: Store + ?Sized> ContentReader for &S {
    fn content(&mut self, queue: u64, seq: u64) -> Result<Option<SharedContent>, StoreError> {
        Store::content(*self, queue, seq)
    }
}

/// Keeps nothing: the engine's memory is the only copy. For tests and `--in-memory`.
#[derive(Debug, Default)]
pub struct MemoryStore;

impl Store for MemoryStore {
    fn submit(&self, _changes: Vec<Change>) -> Commit {
        Box::pin(std::future::ready(Ok(())))
    }

    fn load(&self) -> Result<Vec<LoadedQueue>, StoreError> {
        Ok(Vec::new())
    }

    fn content(&self, _queue: u64, _seq: u64) -> Result<Option<SharedContent>, StoreError> {
        Ok(None)
    }

    fn is_memory(&self) -> bool {
        true
    }
}

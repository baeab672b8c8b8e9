//! Durable stores for the engine's record (see `engine::store` for the contract).
//!
//! `RedbStore` keeps three redb tables, each value encoded with postcard:
//! - `queues`: queue uid → `QueueRecord`;
//! - `states`: (queue uid, seq) → `MessageState` — small, rewritten by every receive
//!   and visibility change, and the only table read at startup;
//! - `bodies`: (queue uid, seq) → `Content` — written once, read when a message that was
//!   loaded at startup is first received.
//!
//! One writer thread applies submissions in order. While it commits (one fsync), new
//! submissions queue up; it takes all of them into the next transaction — group commit.
//! If a commit fails (disk full, I/O error) the transaction is discarded and the store
//! refuses further changes until the server restarts and reloads what is on disk, so the
//! durable record never holds a change whose predecessor was lost.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

use engine::message::{Content, SharedContent};
use engine::store::{
    Change, Commit, DedupRecord, LoadedQueue, MessageState, QueueRecord, Store, StoreError, TaskRecord,
};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

const QUEUES: TableDefinition<u64, &[u8]> = TableDefinition::new("queues");
const STATES: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("states");
const BODIES: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("bodies");
/// (start time, task id) → `TaskRecord`, so a scan lists tasks in start order.
const TASKS: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("tasks");
/// (queue uid, deduplication key) → `DedupRecord` of a FIFO queue.
const DEDUP: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("dedup");
/// A scratch row the health probe rewrites.
const PROBE: TableDefinition<&str, u64> = TableDefinition::new("probe");

/// redb's page cache. Its default (1 GiB) would dominate the server's memory; bodies are
/// read once per delivery, so a small cache costs little.
const CACHE_BYTES: usize = 32 * 1024 * 1024;

/// Most submissions one transaction takes.
const MAX_GROUP: usize = 4096;

struct Job {
    changes: Vec<Change>,
    done: tokio::sync::oneshot::Sender<Result<(), StoreError>>,
}

/// Bodies submitted but not yet committed, so a receive can deliver them meanwhile.
type Pending = Arc<parking_lot::Mutex<HashMap<(u64, u64), SharedContent>>>;

/// The open database; `None` only while it is being reopened after an I/O error.
type SharedDb = Arc<parking_lot::RwLock<Option<Arc<Database>>>>;

pub struct RedbStore {
    db: SharedDb,
    pending: Pending,
    /// `None` once closed: closing the channel ends the writer, which is then joined.
    jobs: parking_lot::Mutex<Option<mpsc::Sender<Job>>>,
    writer: parking_lot::Mutex<Option<std::thread::JoinHandle<()>>>,
    failed: Arc<AtomicBool>,
    lock: parking_lot::Mutex<Option<File>>,
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("the data directory {} is in use by another redrive server", .0.display())]
    Locked(PathBuf),
    #[error("cannot use the data directory {}: {}", .0.display(), .1)]
    Io(PathBuf, std::io::Error),
    #[error("cannot open the store in {}: {}", .0.display(), .1)]
    Database(PathBuf, String),
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

fn encode<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    postcard::to_stdvec(v).map_err(err)
}

fn decode<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, StoreError> {
    postcard::from_bytes(bytes).map_err(err)
}

impl RedbStore {
    /// Open (or create) the store in `dir`, taking an exclusive lock on it.
    pub fn open(dir: &Path) -> Result<RedbStore, OpenError> {
        std::fs::create_dir_all(dir).map_err(|e| OpenError::Io(dir.into(), e))?;
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| OpenError::Io(dir.into(), e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(OpenError::Locked(dir.into())),
            Err(std::fs::TryLockError::Error(e)) => return Err(OpenError::Io(dir.into(), e)),
        }
        let path = dir.join("redrive.redb");
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .map_err(|e| OpenError::Database(dir.into(), e.to_string()))?;
        // Create the tables so that readers never meet a missing one.
        let init = || -> Result<(), StoreError> {
            let txn = db.begin_write().map_err(err)?;
            txn.open_table(QUEUES).map_err(err)?;
            txn.open_table(STATES).map_err(err)?;
            txn.open_table(BODIES).map_err(err)?;
            txn.open_table(TASKS).map_err(err)?;
            txn.open_table(DEDUP).map_err(err)?;
            txn.commit().map_err(err)
        };
        init().map_err(|e| OpenError::Database(dir.into(), e.0))?;
        let db: SharedDb = Arc::new(parking_lot::RwLock::new(Some(Arc::new(db))));
        let (jobs, rx) = mpsc::channel::<Job>();
        let failed = Arc::new(AtomicBool::new(false));
        let pending = Pending::default();
        let (wdb, wfailed, wpending) = (db.clone(), failed.clone(), pending.clone());
        let writer = std::thread::Builder::new()
            .name("redrive-store".into())
            .spawn(move || writer(&wdb, &rx, &wfailed, &wpending))
            .map_err(|e| OpenError::Io(dir.into(), e))?;
        Ok(RedbStore {
            db,
            pending,
            jobs: parking_lot::Mutex::new(Some(jobs)),
            writer: parking_lot::Mutex::new(Some(writer)),
            failed,
            lock: parking_lot::Mutex::new(Some(lock)),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn current(db: &SharedDb) -> Result<Arc<Database>, StoreError> {
    db.read().clone().ok_or_else(|| StoreError("the store is being reopened".into()))
}

fn writer(db: &SharedDb, rx: &mpsc::Receiver<Job>, failed: &AtomicBool, pending: &Pending) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let result = if failed.load(Ordering::SeqCst) {
            Err(StoreError("the store stopped after an earlier failure; restart the server".into()))
        } else {
            current(db).and_then(|db| apply(&db, &group))
        };
        if let Err(e) = &result {
            tracing::error!(error = %e, "store commit failed; refusing further changes until restart");
            failed.store(true, Ordering::SeqCst);
        }
        {
            // Committed (or refused for good): either way the pending copies are done.
            let mut p = pending.lock();
            for change in group.iter().flat_map(|j| j.changes.iter()) {
                if let Change::PutMessage { queue, seq, .. } = change {
                    p.remove(&(*queue, *seq));
                }
            }
        }
        for job in group {
            let _ = job.done.send(result.clone());
        }
    }
}

fn apply(db: &Database, group: &[Job]) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(err)?;
    {
        let mut queues = txn.open_table(QUEUES).map_err(err)?;
        let mut states = txn.open_table(STATES).map_err(err)?;
        let mut bodies = txn.open_table(BODIES).map_err(err)?;
        let mut tasks = txn.open_table(TASKS).map_err(err)?;
        let mut dedup = txn.open_table(DEDUP).map_err(err)?;
        for change in group.iter().flat_map(|j| j.changes.iter()) {
            match change {
                Change::PutQueue(record) => {
                    queues.insert(record.uid, encode(record)?.as_slice()).map_err(err)?;
                }
                Change::DeleteQueue { uid } => {
                    queues.remove(*uid).map_err(err)?;
                    dedup.retain_in((*uid, "")..(uid.saturating_add(1), ""), |_, _| false).map_err(err)?;
                    states.retain_in((*uid, 0)..=(*uid, u64::MAX), |_, _| false).map_err(err)?;
                    bodies.retain_in((*uid, 0)..=(*uid, u64::MAX), |_, _| false).map_err(err)?;
                }
                Change::Purge { queue } => {
                    dedup.retain_in((*queue, "")..(queue.saturating_add(1), ""), |_, _| false).map_err(err)?;
                    states.retain_in((*queue, 0)..=(*queue, u64::MAX), |_, _| false).map_err(err)?;
                    bodies.retain_in((*queue, 0)..=(*queue, u64::MAX), |_, _| false).map_err(err)?;
                }
                Change::PutMessage { queue, seq, content, state } => {
                    bodies.insert((*queue, *seq), encode(content.as_ref())?.as_slice()).map_err(err)?;
                    states.insert((*queue, *seq), encode(state)?.as_slice()).map_err(err)?;
                }
                Change::SetState { queue, seq, state } => {
                    states.insert((*queue, *seq), encode(state)?.as_slice()).map_err(err)?;
                }
                Change::DeleteMessage { queue, seq } => {
                    states.remove((*queue, *seq)).map_err(err)?;
                    bodies.remove((*queue, *seq)).map_err(err)?;
                }
                Change::PutDedup { queue, key, message_id, seq, expires_at } => {
                    let record = DedupRecord {
                        key: key.clone(),
                        message_id: message_id.clone(),
                        seq: *seq,
                        expires_at: *expires_at,
                    };
                    dedup.insert((*queue, key.as_str()), encode(&record)?.as_slice()).map_err(err)?;
                }
                Change::DeleteDedup { queue, key } => {
                    dedup.remove((*queue, key.as_str())).map_err(err)?;
                }
                Change::PutTask(task) => {
                    tasks.insert((task.started_at, task.id.as_str()), encode(task)?.as_slice()).map_err(err)?;
                }
            }
        }
    }
    txn.commit().map_err(err)
}

impl Drop for RedbStore {
    /// Finish what was submitted and close the database before the lock is released,
    /// so the same directory can be opened again at once.
    fn drop(&mut self) {
        self.close();
    }
}

impl Store for RedbStore {
    fn submit(&self, changes: Vec<Change>) -> Commit {
        let (done, wait) = tokio::sync::oneshot::channel();
        if !self.failed.load(Ordering::SeqCst) {
            let mut p = self.pending.lock();
            for change in &changes {
                if let Change::PutMessage { queue, seq, content, .. } = change {
                    p.insert((*queue, *seq), content.clone());
                }
            }
        }
        let sent = self.jobs.lock().as_ref().is_some_and(|j| j.send(Job { changes, done }).is_ok());
        if self.failed.load(Ordering::SeqCst) || !sent {
            return Box::pin(std::future::ready(Err(StoreError(
                "the store stopped after an earlier failure; restart the server".into(),
            ))));
        }
        Box::pin(async move { wait.await.unwrap_or_else(|_| Err(StoreError("the store writer stopped".into()))) })
    }

    fn load(&self) -> Result<Vec<LoadedQueue>, StoreError> {
        let txn = current(&self.db)?.begin_read().map_err(err)?;
        let queues = txn.open_table(QUEUES).map_err(err)?;
        let states = txn.open_table(STATES).map_err(err)?;
        let dedups = txn.open_table(DEDUP).map_err(err)?;
        let mut out = Vec::new();
        for entry in queues.iter().map_err(err)? {
            let (_, value) = entry.map_err(err)?;
            let record: QueueRecord = decode(value.value())?;
            let mut messages = Vec::new();
            for e in states.range((record.uid, 0)..=(record.uid, u64::MAX)).map_err(err)? {
                let (key, value) = e.map_err(err)?;
                let state: MessageState = decode(value.value())?;
                messages.push((key.value().1, state));
            }
            let mut dedup = Vec::new();
            for e in dedups.range((record.uid, "")..(record.uid.saturating_add(1), "")).map_err(err)? {
                let (_, value) = e.map_err(err)?;
                dedup.push(decode::<DedupRecord>(value.value())?);
            }
            out.push(LoadedQueue { record, messages, dedup });
        }
        Ok(out)
    }

    /// Finish what was submitted, close the database and release the directory's lock;
    /// later submissions fail.
    fn close(&self) {
        self.jobs.lock().take();
        if let Some(w) = self.writer.lock().take() {
            let _ = w.join();
        }
        self.db.write().take();
        self.lock.lock().take();
    }

    fn is_failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    fn probe(&self) -> Result<(), StoreError> {
        // redb refuses work after an I/O error until the database is opened anew.
        let db = {
            let mut guard = self.db.write();
            if let Some(old) = guard.take() {
                if let Err(still_used) = Arc::try_unwrap(old) {
                    *guard = Some(still_used);
                    return Err(StoreError("the database is still in use; retrying".into()));
                }
            }
            let db = Arc::new(Database::builder().set_cache_size(CACHE_BYTES).create(&self.path).map_err(err)?);
            *guard = Some(db.clone());
            db
        };
        let txn = db.begin_write().map_err(err)?;
        {
            let mut t = txn.open_table(PROBE).map_err(err)?;
            let n = t.get("probe").map_err(err)?.map_or(0, |v| v.value());
            t.insert("probe", n + 1).map_err(err)?;
        }
        txn.commit().map_err(err)
    }

    fn resume(&self) {
        self.pending.lock().clear();
        self.failed.store(false, Ordering::SeqCst);
        tracing::info!("store accepts changes again");
    }

    fn load_tasks(&self) -> Result<Vec<TaskRecord>, StoreError> {
        let txn = current(&self.db)?.begin_read().map_err(err)?;
        let tasks = txn.open_table(TASKS).map_err(err)?;
        let mut out = Vec::new();
        for entry in tasks.iter().map_err(err)? {
            let (_, value) = entry.map_err(err)?;
            out.push(decode(value.value())?);
        }
        Ok(out)
    }

    fn content(&self, queue: u64, seq: u64) -> Result<Option<SharedContent>, StoreError> {
        if let Some(c) = self.pending.lock().get(&(queue, seq)) {
            return Ok(Some(c.clone()));
        }
        let txn = current(&self.db)?.begin_read().map_err(err)?;
        let bodies = txn.open_table(BODIES).map_err(err)?;
        match bodies.get((queue, seq)).map_err(err)? {
            Some(v) => decode::<Content>(v.value()).map(|c| Some(Arc::new(c))),
            None => Ok(None),
        }
    }
}

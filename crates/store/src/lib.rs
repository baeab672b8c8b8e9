//! Durable store for the engine's record (see `engine::store` for the contract).
//!
//! `SqliteStore` keeps the record in SQLite (rusqlite, bundled), as the micro-benchmark in
//! docs/benchmarks.md ("Storage engine choice") recommends: WAL journal with
//! `synchronous=FULL` (every commit fsyncs the WAL), states and bodies in separate tables.
//! Values are postcard-encoded; u64 keys are stored as the i64 with the same bits, so seqs and
//! times keep their order (below 2^63) and queue uids, which may be any u64, are only ever
//! compared for equality.
//! - `queues`: uid → `QueueRecord`;
//! - `states`: (queue, seq) → `MessageState`, `WITHOUT ROWID` — small, rewritten by every
//!   receive and visibility change, and the only message table read at startup;
//! - `contents`: seq → `Content`, keyed by the seq alone (the engine's seqs are unique across
//!   queues), so a body is one row of one B-tree with no second index — written once, read at
//!   each delivery (the engine keeps no bodies with this store). A store written before seqs
//!   were unique keeps its older bodies in `bodies`, keyed by (queue, seq); they are read and
//!   deleted there until none is left, and the empty table is dropped at the next open;
//! - `tasks`: (started at, id) → `TaskRecord`, scanned in start order;
//! - `dedup`: (queue, key) → `DedupRecord` of a FIFO queue;
//! - `attempts`: (queue, id) → `AttemptRecord`, a FIFO receive made under a
//!   ReceiveRequestAttemptId (created at open: a store written before has none);
//! - `meta`: name → integer: `seq_limit`, below which seqs may have been used; `format`, the
//!   layout of the blobs (`format.rs`, which upgrades older ones at open).
//!
//! One writer thread applies submissions in order. While it commits (one fsync), new
//! submissions queue up; it takes all of them into the next transaction — group commit.
//! Bodies submitted but not yet committed wait in a pending map, so `contents` finds them as
//! the contract asks (both in `group.rs`, shared with the PostgreSQL store). Reads (`load`, `contents`) go through read-only connections (about one
//! per core), which in WAL mode never wait for the writer's fsync. SQLite drops a reader's page
//! cache whenever the writer has changed the file, so the bodies one `contents` call asks for
//! (a receive of ten, a move-task batch) are read in one read transaction. At startup, `load`'s scan of a
//! large queue's states has helper connections reading ahead of it when the disk is cold
//! (`read_ahead.rs`). The WAL is kept
//! short by SQLite's automatic checkpoint (once a commit leaves 1000 pages, ~4 MiB, in it, on
//! the writer's thread, as benchmarked); `journal_size_limit` truncates a WAL that one large
//! transaction grew. New databases have incremental auto-vacuum: in its idle time the writer
//! gives a drained store's free pages back to the disk (`housekeeping.rs`).
//! If a commit fails (disk full, I/O error) the transaction is rolled back and the store
//! refuses further changes until `recover`: a small write transaction commits again, the
//! engine rebuilds from what is on disk, and only then are changes accepted — so the durable
//! record never holds a change whose predecessor was lost.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use engine::message::{Content, SharedContent};
use engine::store::{
    AttemptRecord, Change, Commit, DedupRecord, Health, LoadedQueue, MessageState, QueueRecord, Rebuild, Store,
    StoreError, Stored, TaskRecord, Tombstone,
};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use group::{Job, Submissions};

mod body_check;
mod format;
mod group;
mod housekeeping;
pub mod postgres;
mod read_ahead;

pub use body_check::{BodyCheck, BodyProblem};
pub use postgres::PgStore;

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS queues (
        uid INTEGER PRIMARY KEY, record BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS states (
        queue INTEGER NOT NULL, seq INTEGER NOT NULL, state BLOB NOT NULL,
        PRIMARY KEY (queue, seq)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS contents (seq INTEGER PRIMARY KEY, content BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS tasks (
        started_at INTEGER NOT NULL, id TEXT NOT NULL, record BLOB NOT NULL,
        PRIMARY KEY (started_at, id)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS dedup (
        queue INTEGER NOT NULL, key TEXT NOT NULL, record BLOB NOT NULL,
        PRIMARY KEY (queue, key)) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS attempts (
        queue INTEGER NOT NULL, id TEXT NOT NULL, record BLOB NOT NULL,
        PRIMARY KEY (queue, id)) WITHOUT ROWID;
    -- Single values by name: `seq_limit`, the highest ReserveSeqs limit.
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
    -- Deleted queues' stored names, while CreateQueue of them is refused (QueueDeletedRecently).
    CREATE TABLE IF NOT EXISTS tombstones (name TEXT PRIMARY KEY, deleted_at INTEGER NOT NULL) WITHOUT ROWID;
    -- A scratch row the health probe rewrites.
    CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);";

/// Page cache of the writer's connection, in KiB; SQLite's caches would otherwise grow with
/// the database. Bodies are read once per delivery, so small caches cost little. Small for a
/// second reason: while the database is under 1 GiB, a B-tree balance that swaps page numbers
/// parks a page at the number above it (the pending-byte page), and every commit after one
/// then walks the cache's whole hash table to drop pages past the end — 15 % of the writer's
/// CPU in the cycle with 8 MiB (docs/benchmarks.md).
const WRITER_CACHE_KIB: u32 = 2 * 1024;
/// Page cache of each reader's connection, in KiB.
const READER_CACHE_KIB: u32 = 4 * 1024;
/// Read-only connections: one per runtime worker (one per core), within these bounds.
const READERS: std::ops::RangeInclusive<usize> = 2..=4;
/// A WAL that one large transaction grew is truncated back to this after a checkpoint.
const WAL_LIMIT_BYTES: u64 = 64 * 1024 * 1024;
/// How long a connection waits for another's lock (WAL recovery, checkpoint restarts).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const FILE_NAME: &str = "redrive.sqlite";
/// The file of the redb store that earlier versions kept.
const REDB_FILE_NAME: &str = "redrive.redb";

/// A connection; `None` once closed (or, for the writer's, while it is being reopened).
type SharedConn = Arc<parking_lot::Mutex<Option<Connection>>>;

pub struct SqliteStore {
    /// The writer's connection: the writer thread's, and the probe's while the store is failed.
    conn: SharedConn,
    /// The read-only connections of `load` and `contents`.
    readers: Vec<parking_lot::Mutex<Option<Connection>>>,
    /// Closing it ends the writer, which is then joined.
    submissions: Submissions,
    writer: parking_lot::Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Whether the legacy `bodies` table held rows at open.
    legacy: bool,
    lock: parking_lot::Mutex<Option<File>>,
    path: PathBuf,
    /// The SQLite VFS the files go through, if not the default.
    vfs: Option<String>,
    /// Passes of the writer's housekeeping asked for and done (`housekeeping.rs`).
    housekeeping: Arc<housekeeping::Shared>,
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

fn closed() -> StoreError {
    StoreError("the store is closed".into())
}

fn encode<T: serde::Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, StoreError> {
    postcard::to_stdvec(v).map_err(err)
}

fn decode<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, StoreError> {
    postcard::from_bytes(bytes).map_err(err)
}

/// Column `i` of a row: a postcard-encoded blob.
fn blob<T: serde::de::DeserializeOwned>(row: &rusqlite::Row<'_>, i: usize) -> Result<T, StoreError> {
    decode(row.get_ref(i).map_err(err)?.as_blob().map_err(err)?)
}

/// A u64 key as the SQLite integer with the same bits.
fn key(v: u64) -> i64 {
    v as i64
}

/// The writer's connection: WAL, `synchronous=FULL`, a bounded cache. A new database is made
/// with incremental auto-vacuum, so housekeeping can shrink it (a no-op on one that holds tables).
fn open_writer(path: &Path, vfs: Option<&str>) -> Result<Connection, StoreError> {
    let conn = open_connection(path, OpenFlags::default(), vfs)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
    conn.execute_batch("PRAGMA auto_vacuum=INCREMENTAL").map_err(err)?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0)).map_err(err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError(format!("SQLite refused WAL mode (journal_mode={mode})")));
    }
    conn.execute_batch(&format!(
        "PRAGMA synchronous=FULL; PRAGMA cache_size=-{WRITER_CACHE_KIB}; \
         PRAGMA journal_size_limit={WAL_LIMIT_BYTES};"
    ))
    .map_err(err)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// A reader's connection; opened once the writer's has created the tables.
fn open_reader(path: &Path, vfs: Option<&str>) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = open_connection(path, flags, vfs)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
    conn.execute_batch(&format!("PRAGMA cache_size=-{READER_CACHE_KIB};")).map_err(err)?;
    Ok(conn)
}

/// A connection through the VFS named `vfs`, or SQLite's default.
fn open_connection(path: &Path, flags: OpenFlags, vfs: Option<&str>) -> Result<Connection, StoreError> {
    match vfs {
        Some(vfs) => Connection::open_with_flags_and_vfs(path, flags, vfs),
        None => Connection::open_with_flags(path, flags),
    }
    .map_err(err)
}

fn close_connection(conn: Connection) {
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "closing the store's database");
    }
}

impl SqliteStore {
    /// Open (or create) the store in `dir`, taking an exclusive lock on it.
    pub fn open(dir: &Path) -> Result<SqliteStore, OpenError> {
        SqliteStore::open_with_vfs(dir, None)
    }

    /// `open`, with SQLite's file I/O going through the VFS registered as `vfs` (tests inject
    /// faults with `faults::FaultyFiles`); `None`: SQLite's default.
    pub fn open_with_vfs(dir: &Path, vfs: Option<&str>) -> Result<SqliteStore, OpenError> {
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
        let path = dir.join(FILE_NAME);
        if !path.exists() && dir.join(REDB_FILE_NAME).exists() {
            // Starting empty beside it would look like every queue was lost.
            return Err(OpenError::Database(
                dir.into(),
                format!(
                    "it holds {REDB_FILE_NAME}, a store of an earlier redrive (redb); this version keeps \
                     its record in SQLite ({FILE_NAME}) and cannot read it"
                ),
            ));
        }
        let database = |e: StoreError| OpenError::Database(dir.into(), e.0);
        refuse_truncated(&path).map_err(database)?;
        let mut conn = open_writer(&path, vfs).map_err(database)?;
        refuse_foreign(&conn).map_err(database)?;
        conn.execute_batch(SCHEMA).map_err(err).map_err(database)?;
        format::upgrade(&mut conn).map_err(database)?;
        adopt_auto_vacuum(&conn).map_err(database)?;
        let legacy = open_legacy_bodies(&conn).map_err(database)?;
        let cores = std::thread::available_parallelism().map_or(*READERS.start(), std::num::NonZeroUsize::get);
        let readers = (0..cores.clamp(*READERS.start(), *READERS.end()))
            .map(|_| open_reader(&path, vfs).map(|c| parking_lot::Mutex::new(Some(c))))
            .collect::<Result<Vec<_>, _>>()
            .map_err(database)?;
        let conn: SharedConn = Arc::new(parking_lot::Mutex::new(Some(conn)));
        let (submissions, rx) = Submissions::new();
        let (wconn, failed, pending) = (conn.clone(), submissions.failed.clone(), submissions.pending.clone());
        let housekeeping = Arc::new(housekeeping::Shared::default());
        let mut housekeeper = housekeeping::Housekeeper::new(housekeeping.clone());
        let housekeeping_commits = housekeeping.clone();
        let writer = std::thread::Builder::new()
            .name("redrive-store".into())
            .spawn(move || {
                group::write(
                    &rx,
                    &failed,
                    &pending,
                    |jobs| match wconn.lock().as_mut() {
                        Some(c) => {
                            housekeeping_commits.committed();
                            apply(c, jobs, legacy)
                        }
                        None => Err(closed()),
                    },
                    || wconn.lock().as_ref().map_or(group::Idle::Done, |c| housekeeper.step(c)),
                )
            })
            .map_err(|e| OpenError::Io(dir.into(), e))?;
        Ok(SqliteStore {
            conn,
            readers,
            submissions,
            writer: parking_lot::Mutex::new(Some(writer)),
            legacy,
            lock: parking_lot::Mutex::new(Some(lock)),
            path,
            vfs: vfs.map(str::to_string),
            housekeeping,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Wait until a housekeeping pass that began after this call has finished (returned the
    /// free space, or found too little to be worth it); an error if the store refuses changes.
    pub async fn housekeeping_pass(&self) -> Result<(), StoreError> {
        let (ticket, mut done) = self.housekeeping.request();
        // An empty submission wakes the writer; its idle time after it runs the pass.
        self.submit(Vec::new()).await?;
        done.wait_for(|d| *d >= ticket).await.map(|_| ()).map_err(|_| closed())
    }

    /// Housekeeping only when `housekeeping_pass` asks (tests, to place a pass exactly).
    #[cfg(test)]
    fn pause_housekeeping(&self, paused: bool) {
        self.housekeeping.set_paused(paused);
    }

    /// A free reader's connection, or the first one when all are busy.
    /// Helpers reading `queue`'s states ahead of a scan that has reached `seq`, up to its last.
    fn read_ahead(&self, txn: &Connection, queue: u64, seq: u64) -> Result<read_ahead::ReadAhead, StoreError> {
        let last: i64 =
            txn.query_row("SELECT max(seq) FROM states WHERE queue = ?1", [key(queue)], |r| r.get(0)).map_err(err)?;
        Ok(read_ahead::ReadAhead::start(&self.path, self.vfs.as_deref(), key(queue), seq, last as u64))
    }

    fn reader_conn(&self) -> parking_lot::MutexGuard<'_, Option<Connection>> {
        self.readers.iter().find_map(|r| r.try_lock()).unwrap_or_else(|| self.readers[0].lock())
    }
}

/// A database file of 0 bytes with no write-ahead log beside it holds nothing SQLite wrote: it
/// was truncated, or copied half-way. Starting afresh on it would look like every queue was
/// lost, so it is refused. (A new store's file may be empty while its first pages are still in
/// the WAL: that is a store, and opens.)
fn refuse_truncated(path: &Path) -> Result<(), StoreError> {
    let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).ok();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    if len(path) == Some(0) && len(Path::new(&wal)).unwrap_or(0) == 0 {
        return Err(StoreError(format!(
            "{FILE_NAME} is empty (0 bytes): it was truncated or copied half-way, and opening it would start \
             with no queues. Restore it from a backup, or remove it to start afresh"
        )));
    }
    Ok(())
}

/// A database that holds tables but none of a store's is some other program's: refused, and
/// left as it was, rather than have the store's tables added beside its own.
fn refuse_foreign(conn: &Connection) -> Result<(), StoreError> {
    let mut stmt = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").map_err(err)?;
    let tables: Vec<String> = stmt.query_map([], |r| r.get(0)).map_err(err)?.collect::<Result<_, _>>().map_err(err)?;
    if !tables.is_empty() && !tables.iter().any(|t| t == "meta" || t == "queues") {
        return Err(StoreError(format!(
            "{FILE_NAME} is not a redrive store: it holds other tables ({}). Give --data-dir a directory of its own",
            tables.join(", ")
        )));
    }
    Ok(())
}

/// Files up to this size made without auto-vacuum are vacuumed at open to adopt it (about a
/// second here); larger ones are left as they are, with a warning, not to hold up a restart.
const ADOPT_AT_OPEN_BYTES: u64 = 64 << 20;

/// A store made before databases had incremental auto-vacuum cannot shrink until a full
/// VACUUM rebuilds it with the pointer maps that needs. A small one is rebuilt here, at open;
/// a larger one says once how to compact it offline.
fn adopt_auto_vacuum(conn: &Connection) -> Result<(), StoreError> {
    let pragma = |name: &str| conn.pragma_query_value(None, name, |r| r.get::<_, i64>(0)).map_err(err);
    if pragma("auto_vacuum")? == 2 {
        return Ok(());
    }
    let bytes = (pragma("page_count")? * pragma("page_size")?) as u64;
    if bytes <= ADOPT_AT_OPEN_BYTES {
        tracing::info!(mib = bytes >> 20, "rebuilding the store once so that it can return free space (VACUUM)");
        return conn.execute_batch("PRAGMA auto_vacuum=INCREMENTAL; VACUUM;").map_err(err);
    }
    tracing::warn!(
        mib = bytes >> 20,
        "this store was made before redrive returned free disk space: its file keeps its largest size. \
         To compact it, stop the server and run: sqlite3 DATA_DIR/{FILE_NAME} 'PRAGMA auto_vacuum=INCREMENTAL; VACUUM;' \
         (needs free disk space of about the file's size)"
    );
    Ok(())
}

/// Whether the `bodies` table of a store written before seqs were unique holds rows; an empty
/// one is dropped (a schema change, so only here, before any reader opens).
fn open_legacy_bodies(conn: &Connection) -> Result<bool, StoreError> {
    let exists: bool = conn
        .query_row("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'bodies')", [], |r| {
            r.get(0)
        })
        .map_err(err)?;
    if !exists {
        return Ok(false);
    }
    let rows: bool = conn.query_row("SELECT EXISTS (SELECT 1 FROM bodies)", [], |r| r.get(0)).map_err(err)?;
    if !rows {
        conn.execute_batch("DROP TABLE bodies").map_err(err)?;
    }
    Ok(rows)
}

/// A message's content: from `contents`, else (in a store with legacy bodies) from `bodies`.
fn read_content(conn: &Connection, queue: u64, seq: u64, legacy: bool) -> Result<Option<SharedContent>, StoreError> {
    let found = query_content(conn, "SELECT content FROM contents WHERE seq = ?1", [key(seq)], (queue, seq))?;
    if found.is_some() || !legacy {
        return Ok(found);
    }
    query_content(
        conn,
        "SELECT content FROM bodies WHERE queue = ?1 AND seq = ?2",
        [key(queue), key(seq)],
        (queue, seq),
    )
}

/// The content in the first row of `sql`, if any. A row that cannot be decoded is as good as
/// missing (`damaged`): an error would fail every receive of the queue behind it.
fn query_content(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    message: (u64, u64),
) -> Result<Option<SharedContent>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(err)?;
    let mut rows = stmt.query(params).map_err(err)?;
    match rows.next().map_err(err)? {
        Some(row) => {
            let bytes = row.get_ref(0).map_err(err)?.as_blob().map_err(err)?;
            Ok(damaged(decode::<Content>(bytes), message).map(Arc::new))
        }
        None => Ok(None),
    }
}

/// A stored body that does not decode: said once per read, with what to do, and treated as
/// missing (the engine skips a message without a body) so its queue goes on serving.
pub(crate) fn damaged(decoded: Result<Content, StoreError>, (queue, seq): (u64, u64)) -> Option<Content> {
    match decoded {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::error!(
                queue,
                seq,
                error = %e,
                "a stored message body is damaged and cannot be read; the message is skipped (restore the \
                 database from a backup to recover it)"
            );
            None
        }
    }
}

/// Run one statement of the writer's (prepared once per connection); the rows it changed.
fn run(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<usize, StoreError> {
    conn.prepare_cached(sql).map_err(err)?.execute(params).map_err(err)
}

/// Apply `group` in one transaction; on any error the transaction is rolled back.
fn apply(conn: &mut Connection, group: &[Job], legacy: bool) -> Result<(), StoreError> {
    let result = apply_in_transaction(conn, group, legacy);
    if result.is_err() && !conn.is_autocommit() {
        // Dropping the transaction rolled back already unless that failed too; try again.
        if let Err(e) = conn.execute_batch("ROLLBACK") {
            tracing::warn!(error = %e, "rolling back a failed commit");
        }
    }
    result
}

fn apply_in_transaction(conn: &mut Connection, group: &[Job], legacy: bool) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
    for change in group.iter().flat_map(|j| j.changes.iter()) {
        match change {
            Change::PutQueue(record) => {
                run(
                    &tx,
                    "INSERT OR REPLACE INTO queues (uid, record) VALUES (?1, ?2)",
                    params![key(record.uid), encode(record)?],
                )?;
            }
            Change::DeleteQueue { uid } => {
                run(&tx, "DELETE FROM queues WHERE uid = ?1", [key(*uid)])?;
                purge(&tx, *uid, legacy)?;
            }
            Change::Purge { queue } => purge(&tx, *queue, legacy)?,
            Change::PutMessage { queue, seq, content, state } => {
                let (queue, seq) = (key(*queue), key(*seq));
                run(
                    &tx,
                    "INSERT OR REPLACE INTO contents (seq, content) VALUES (?1, ?2)",
                    params![seq, encode(content.as_ref())?],
                )?;
                run(
                    &tx,
                    "INSERT OR REPLACE INTO states (queue, seq, state) VALUES (?1, ?2, ?3)",
                    params![queue, seq, encode(state)?],
                )?;
            }
            Change::SetState { queue, seq, state } => {
                // An UPDATE rewrites the row in place when the size is unchanged (REPLACE would
                // delete and insert it), and cannot bring back a message deleted before.
                run(
                    &tx,
                    "UPDATE states SET state = ?3 WHERE queue = ?1 AND seq = ?2",
                    params![key(*queue), key(*seq), encode(state)?],
                )?;
            }
            Change::DeleteMessage { queue, seq } => {
                let (queue, seq) = (key(*queue), key(*seq));
                run(&tx, "DELETE FROM states WHERE queue = ?1 AND seq = ?2", [queue, seq])?;
                if run(&tx, "DELETE FROM contents WHERE seq = ?1", [seq])? == 0 && legacy {
                    run(&tx, "DELETE FROM bodies WHERE queue = ?1 AND seq = ?2", [queue, seq])?;
                }
            }
            Change::PutDedup { queue, key: dedup_key, message_id, seq, expires_at } => {
                let record = DedupRecord {
                    key: dedup_key.clone(),
                    message_id: message_id.clone(),
                    seq: *seq,
                    expires_at: *expires_at,
                };
                run(
                    &tx,
                    "INSERT OR REPLACE INTO dedup (queue, key, record) VALUES (?1, ?2, ?3)",
                    params![key(*queue), dedup_key, encode(&record)?],
                )?;
            }
            Change::DeleteDedup { queue, key: dedup_key } => {
                run(&tx, "DELETE FROM dedup WHERE queue = ?1 AND key = ?2", params![key(*queue), dedup_key])?;
            }
            Change::PutAttempt { queue, record } => {
                run(
                    &tx,
                    "INSERT OR REPLACE INTO attempts (queue, id, record) VALUES (?1, ?2, ?3)",
                    params![key(*queue), record.id, encode(record)?],
                )?;
            }
            Change::DeleteAttempt { queue, id } => {
                run(&tx, "DELETE FROM attempts WHERE queue = ?1 AND id = ?2", params![key(*queue), id])?;
            }
            Change::ReserveSeqs { below } => {
                run(
                    &tx,
                    "INSERT INTO meta (key, value) VALUES ('seq_limit', ?1) \
                     ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
                    [key(*below)],
                )?;
            }
            Change::PutTask(task) => {
                run(
                    &tx,
                    "INSERT OR REPLACE INTO tasks (started_at, id, record) VALUES (?1, ?2, ?3)",
                    params![key(task.started_at), task.id, encode(task)?],
                )?;
            }
            Change::DeleteTask { started_at, id } => {
                run(&tx, "DELETE FROM tasks WHERE started_at = ?1 AND id = ?2", params![key(*started_at), id])?;
            }
            Change::PutTombstone(t) => {
                run(
                    &tx,
                    "INSERT OR REPLACE INTO tombstones (name, deleted_at) VALUES (?1, ?2)",
                    params![t.name, key(t.deleted_at)],
                )?;
            }
            Change::DeleteTombstone { name } => {
                run(&tx, "DELETE FROM tombstones WHERE name = ?1", [name])?;
            }
        }
    }
    tx.commit().map_err(err)
}

/// Remove every message of a queue, its deduplication records and its receive attempts.
fn purge(conn: &Connection, queue: u64, legacy: bool) -> Result<(), StoreError> {
    let legacy_bodies = legacy.then_some("DELETE FROM bodies WHERE queue = ?1");
    for sql in [
        "DELETE FROM dedup WHERE queue = ?1",
        "DELETE FROM attempts WHERE queue = ?1",
        // Before the states, which say which seqs are the queue's.
        "DELETE FROM contents WHERE seq IN (SELECT seq FROM states WHERE queue = ?1)",
        "DELETE FROM states WHERE queue = ?1",
    ]
    .into_iter()
    .chain(legacy_bodies)
    {
        run(conn, sql, [key(queue)])?;
    }
    Ok(())
}

/// One small write transaction: whether commits succeed again.
fn probe_write(conn: &mut Connection) -> Result<(), StoreError> {
    if !conn.is_autocommit() {
        conn.execute_batch("ROLLBACK").map_err(err)?;
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
    tx.execute("INSERT INTO probe (id, n) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET n = n + 1", []).map_err(err)?;
    tx.commit().map_err(err)
}

impl Drop for SqliteStore {
    /// Finish what was submitted and close the database before the lock is released,
    /// so the same directory can be opened again at once.
    fn drop(&mut self) {
        self.close();
    }
}

impl Store for SqliteStore {
    fn submit(&self, changes: Vec<Change>) -> Commit {
        self.submissions.submit(changes)
    }

    fn load(&self) -> Result<Stored, StoreError> {
        let mut guard = self.reader_conn();
        let conn = guard.as_mut().ok_or_else(closed)?;
        // One read transaction: every table as of the same commit.
        let txn = conn.transaction().map_err(err)?;
        let seq_limit: Option<i64> = txn
            .query_row("SELECT value FROM meta WHERE key = 'seq_limit'", [], |r| r.get(0))
            .optional()
            .map_err(err)?;
        let mut tasks = Vec::new();
        {
            let mut stmt = txn.prepare_cached("SELECT record FROM tasks ORDER BY started_at, id").map_err(err)?;
            let mut rows = stmt.query([]).map_err(err)?;
            while let Some(row) = rows.next().map_err(err)? {
                tasks.push(blob::<TaskRecord>(row, 0)?);
            }
        }
        let mut records = Vec::new();
        {
            let mut stmt = txn.prepare_cached("SELECT record FROM queues").map_err(err)?;
            let mut rows = stmt.query([]).map_err(err)?;
            while let Some(row) = rows.next().map_err(err)? {
                records.push(blob::<QueueRecord>(row, 0)?);
            }
        }
        records.sort_by_key(|r| r.uid);
        let mut out = Vec::with_capacity(records.len());
        let mut states =
            txn.prepare_cached("SELECT seq, state FROM states WHERE queue = ?1 ORDER BY seq").map_err(err)?;
        let mut dedups = txn.prepare_cached("SELECT record FROM dedup WHERE queue = ?1 ORDER BY key").map_err(err)?;
        let mut attempt_rows =
            txn.prepare_cached("SELECT record FROM attempts WHERE queue = ?1 ORDER BY id").map_err(err)?;
        for record in records {
            let mut messages = Vec::new();
            let mut ahead: Option<read_ahead::ReadAhead> = None;
            let mut rows = states.query([key(record.uid)]).map_err(err)?;
            while let Some(row) = rows.next().map_err(err)? {
                let seq = row.get::<_, i64>(0).map_err(err)? as u64;
                let state: MessageState = blob(row, 1)?;
                messages.push((seq, state));
                if messages.len() % 4096 == 0 {
                    match &ahead {
                        Some(ahead) => ahead.reached(seq),
                        None if messages.len() >= read_ahead::START_AFTER => {
                            ahead = Some(self.read_ahead(&txn, record.uid, seq)?);
                        }
                        None => {}
                    }
                }
            }
            drop((rows, ahead));
            let mut dedup = Vec::new();
            let mut rows = dedups.query([key(record.uid)]).map_err(err)?;
            while let Some(row) = rows.next().map_err(err)? {
                dedup.push(blob::<DedupRecord>(row, 0)?);
            }
            drop(rows);
            let mut attempts = Vec::new();
            let mut rows = attempt_rows.query([key(record.uid)]).map_err(err)?;
            while let Some(row) = rows.next().map_err(err)? {
                attempts.push(blob::<AttemptRecord>(row, 0)?);
            }
            drop(rows);
            out.push(LoadedQueue { record, messages, dedup, attempts });
        }
        drop((states, dedups, attempt_rows));
        let mut tombstones = Vec::new();
        {
            let mut stmt = txn.prepare_cached("SELECT name, deleted_at FROM tombstones ORDER BY name").map_err(err)?;
            let mut rows = stmt.query([]).map_err(err)?;
            while let Some(row) = rows.next().map_err(err)? {
                let deleted_at: i64 = row.get(1).map_err(err)?;
                tombstones.push(Tombstone { name: row.get(0).map_err(err)?, deleted_at: deleted_at as u64 });
            }
        }
        txn.commit().map_err(err)?;
        Ok(Stored { queues: out, tasks, seq_limit: seq_limit.map_or(0, |v| v as u64), tombstones })
    }

    /// Bodies not committed yet come from the pending map; the others from one read
    /// transaction, begun after the pending map was read: a body missing from it then had
    /// been committed already (the writer drops a pending body only after its commit).
    fn contents(&self, queue: u64, seqs: &[u64]) -> Result<Vec<Option<SharedContent>>, StoreError> {
        let mut out = self.submissions.pending(queue, seqs);
        let unread = out.iter().filter(|c| c.is_none()).count();
        if unread == 0 {
            return Ok(out);
        }
        let guard = self.reader_conn();
        let conn = guard.as_ref().ok_or_else(closed)?;
        // SQLite drops a reader's page cache whenever the writer has changed the file: a run
        // of reads (a receive of ten, a move-task batch) shares one read transaction.
        let batch = unread > 1;
        if batch {
            conn.execute_batch("BEGIN").map_err(err)?;
        }
        let mut read = Ok(());
        for (slot, &seq) in out.iter_mut().zip(seqs).filter(|(slot, _)| slot.is_none()) {
            match read_content(conn, queue, seq, self.legacy) {
                Ok(c) => *slot = c,
                Err(e) => {
                    read = Err(e);
                    break;
                }
            }
        }
        if batch {
            if let Err(e) = conn.execute_batch("COMMIT") {
                tracing::warn!(error = %e, "ending a read transaction");
            }
        }
        read.map(|()| out)
    }

    /// Finish what was submitted, close the database and release the directory's lock;
    /// later submissions fail.
    fn close(&self) {
        self.submissions.close();
        if let Some(w) = self.writer.lock().take() {
            let _ = w.join();
        }
        for reader in &self.readers {
            if let Some(conn) = reader.lock().take() {
                close_connection(conn);
            }
        }
        // The last connection to close checkpoints the WAL into the database file.
        if let Some(conn) = self.conn.lock().take() {
            close_connection(conn);
        }
        self.lock.lock().take();
    }

    fn health(&self) -> Health {
        Health::of(&self.submissions.failed)
    }

    /// A small write transaction checks that commits succeed again (space returned); the
    /// writer goes on refusing changes until the engine has rebuilt from the database.
    fn recover(&self, rebuild: Rebuild<'_>) -> Result<(), StoreError> {
        self.probe()?;
        rebuild(self.load()?)?;
        self.submissions.pending.lock().clear();
        self.submissions.failed.store(false, Ordering::SeqCst);
        tracing::info!("store accepts changes again");
        Ok(())
    }
}

impl SqliteStore {
    /// Whether a commit succeeds, on the writer's connection (or on a fresh one, in case the
    /// old one kept a bad state).
    fn probe(&self) -> Result<(), StoreError> {
        // Closed: the directory's lock may be gone, so it must not be reopened.
        if self.submissions.is_closed() {
            return Err(closed());
        }
        let mut guard = self.conn.lock();
        if let Some(conn) = guard.as_mut() {
            match probe_write(conn) {
                Ok(()) => return Ok(()),
                Err(e) => tracing::debug!(error = %e, "store probe failed; reopening the database"),
            }
        }
        if let Some(old) = guard.take() {
            close_connection(old);
        }
        let mut conn = open_writer(&self.path, self.vfs.as_deref())?;
        let result = probe_write(&mut conn);
        *guard = Some(conn);
        result
    }
}

#[cfg(any(test, feature = "faults"))]
pub mod faults;
#[cfg(test)]
mod tests;

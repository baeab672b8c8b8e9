//! `PgStore`: the engine's record in PostgreSQL, for one node or several sharing one database
//! (docs/multi-node.md).
//!
//! The same record as `SqliteStore`'s (the same tables and postcard blobs, in the schema
//! `redrive`), and the same shape: one writer thread takes every queued submission into one
//! transaction (group commit), bodies not committed yet wait in a pending map so `contents`
//! finds them, and a failed commit makes the store refuse changes until `recover`. What differs:
//! - **Fencing.** A store is opened for one epoch of the lease (`lease.rs`). Every write
//!   transaction first reads the lease row `FOR KEY SHARE` and aborts unless the epoch is still
//!   its own: once another node has taken the lease, this one can never commit again.
//! - **Set-based writes.** A round trip costs more than a SQLite statement, so a group's changes
//!   are folded (a message put then deleted in the same group is never written; a put then a
//!   new state is one put) and written with one statement per kind over `unnest` arrays.
//! - **Own threads.** rust-postgres's blocking client runs its own runtime and may not be called
//!   from the server's; the writer and the readers (`load`, `contents`) run on threads of the
//!   store's, and a read waits for its answer on a channel.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use engine::message::{Content, SharedContent};
use engine::store::{
    AttemptRecord, Change, Commit, DedupRecord, Health, LoadedQueue, MessageState, QueueRecord, Rebuild, Store,
    StoreError, Stored, TaskRecord, Tombstone,
};
use postgres::{Client, NoTls, Statement};

use crate::group::{self, Job, Submissions};
use crate::{closed, decode, encode};

/// A PostgreSQL error with what the server said (its Display alone is "db error").
pub(crate) fn err(e: impl Into<PgError>) -> StoreError {
    StoreError(e.into().0)
}

/// The text of an error met talking to PostgreSQL.
pub(crate) struct PgError(String);

impl From<postgres::Error> for PgError {
    fn from(e: postgres::Error) -> PgError {
        PgError(match (e.as_db_error(), std::error::Error::source(&e)) {
            (Some(db), _) => format!("PostgreSQL: {} ({})", db.message(), db.code().code()),
            (None, Some(source)) => format!("{e}: {source}"),
            (None, None) => e.to_string(),
        })
    }
}

impl From<std::io::Error> for PgError {
    fn from(e: std::io::Error) -> PgError {
        PgError(e.to_string())
    }
}

pub mod lease;
mod schema;
#[cfg(test)]
mod tests;

pub use lease::{Holder, Lease};

/// The schema the store's tables live in.
pub const SCHEMA: &str = "redrive";
/// Reader threads (and connections) of `load` and `contents`.
const READERS: usize = 2;
/// How long a connection may take to open, and a statement to run, before the store counts the
/// database as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const STATEMENT_TIMEOUT_MS: u32 = 30_000;
/// Every statement of the store's writes finds its rows by key, and its tables are churned
/// faster than their statistics follow (a queue drained to nothing, then filled again between
/// two autovacuums): planned from statistics that say "empty", its statements scanned whole
/// tables — PostgreSQL's CPU per message grew with the backlog (docs/benchmarks.md). So the
/// store's sessions plan with the keys' indexes.
const KEYED_PLANS: &str = "-c enable_seqscan=off";

/// Run `f` on a thread of its own: rust-postgres's blocking client starts a runtime of its own,
/// which may not be done on a thread of the server's (or a test's) runtime. For what is rare
/// (opening, migrating, the lease); the hot paths have threads of their own.
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| match scope.spawn(f).join() {
        Ok(out) => out,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// The connection settings of `url`, with the store's timeouts: a database that stops answering
/// fails commits (and the lease's renewals) instead of hanging them.
fn settings(url: &str) -> Result<tokio_postgres::Config, StoreError> {
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| StoreError(format!("the PostgreSQL URL: {e}")))?;
    config
        .connect_timeout(CONNECT_TIMEOUT)
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(5))
        .options(format!("-c statement_timeout={STATEMENT_TIMEOUT_MS} {KEYED_PLANS}"));
    if config.get_application_name().is_none() {
        config.application_name("redrive");
    }
    Ok(config)
}

/// A blocking connection (for what is not the writer's), with the store's settings.
pub(crate) fn connect(url: &str) -> Result<Client, StoreError> {
    postgres::Config::from(settings(url)?)
        .connect(NoTls)
        .map_err(|e| StoreError(format!("cannot connect to PostgreSQL: {}", PgError::from(e).0)))
}

/// A read, run on a reader thread with its connection.
type Read = Box<dyn FnOnce(&mut Option<ReaderConn>) + Send>;

/// A reader's connection, with the statement every receive runs prepared once.
struct ReaderConn {
    client: Client,
    contents: Statement,
}

impl ReaderConn {
    fn open(url: &str, schema: &str) -> Result<ReaderConn, StoreError> {
        let mut client = connect(url)?;
        let contents = client
            .prepare(&format!("SELECT seq, content FROM {schema}.contents WHERE seq = ANY($1::int8[])"))
            .map_err(err)?;
        Ok(ReaderConn { client, contents })
    }
}

pub struct PgStore {
    url: String,
    schema: String,
    epoch: i64,
    submissions: Submissions,
    writer: parking_lot::Mutex<Option<std::thread::JoinHandle<()>>>,
    reads: parking_lot::Mutex<Option<mpsc::Sender<Read>>>,
    readers: parking_lot::Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// The last failed commit found the lease's epoch moved on: another node holds the record.
    fenced: Arc<AtomicBool>,
    /// Set by `recover` for the writer to open a fresh connection before its next group.
    reconnect: Arc<AtomicBool>,
}

/// The writer's connection (the async client, on a runtime of the writer thread's own, so that
/// a transaction's statements go out together) and its statements, prepared once.
struct Writer {
    runtime: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
    sql: Statements,
}

impl Writer {
    fn open(url: &str, schema: &str) -> Result<Writer, StoreError> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(err)?;
        let config: tokio_postgres::Config = settings(url)?;
        let (client, connection) = runtime
            .block_on(config.connect(NoTls))
            .map_err(|e| StoreError(format!("cannot connect to PostgreSQL: {}", PgError::from(e).0)))?;
        runtime.spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %PgError::from(e).0, "the store's connection to PostgreSQL ended");
            }
        });
        let sql = runtime.block_on(Statements::prepare(&client, schema))?;
        Ok(Writer { runtime, client, sql })
    }
}

/// A value bound to a statement of a batch.
type Param = Box<dyn postgres::types::ToSql + Sync + Send>;

/// A transaction's statements, sent to PostgreSQL together.
#[derive(Default)]
struct Batch<'s> {
    statements: Vec<(&'s Statement, Vec<Param>)>,
}

impl<'s> Batch<'s> {
    fn push(&mut self, statement: &'s Statement, params: Vec<Param>) {
        self.statements.push((statement, params));
    }

    /// BEGIN, every statement, COMMIT — all sent before any answer is awaited (tokio-postgres
    /// pipelines requests in the order they are first polled), so a group costs one round trip
    /// and the commit's fsync. A failed statement aborts the transaction, and PostgreSQL then
    /// answers the COMMIT with a rollback: nothing of the group is kept.
    async fn run(&self, client: &tokio_postgres::Client) -> Result<(), tokio_postgres::Error> {
        let params: Vec<Vec<&(dyn postgres::types::ToSql + Sync)>> = self
            .statements
            .iter()
            .map(|(_, p)| p.iter().map(|b| b.as_ref() as &(dyn postgres::types::ToSql + Sync)).collect())
            .collect();
        let statements = self.statements.iter().zip(&params).map(|((statement, _), p)| client.execute(*statement, p));
        let (begun, done, committed) = futures_util::join!(
            client.batch_execute("BEGIN"),
            in_order(statements.collect()),
            client.batch_execute("COMMIT")
        );
        begun?;
        done.into_iter().try_for_each(|r| r.map(drop))?;
        committed
    }
}

/// Every future's output, polled always in the order given — so each sends its request before
/// the next does (`join_all` may poll a long list in another order).
async fn in_order<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(out) => {
                        *output = Some(out);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// The SQLSTATE the fence raises (schema.rs): another node holds the lease.
const FENCED: &str = "RD001";

struct Statements {
    fence: Statement,
    put_queue: Statement,
    delete_queue: Statement,
    purge: [Statement; 4],
    put_contents: Statement,
    put_states: Statement,
    set_states: Statement,
    delete_states: Statement,
    delete_contents: Statement,
    put_dedup: Statement,
    delete_dedup: Statement,
    put_attempt: Statement,
    delete_attempt: Statement,
    put_task: Statement,
    delete_task: Statement,
    put_tombstone: Statement,
    delete_tombstone: Statement,
    reserve: Statement,
}

impl Statements {
    async fn prepare(client: &tokio_postgres::Client, s: &str) -> Result<Statements, StoreError> {
        let p = |sql: String| async move { client.prepare(&sql).await.map_err(err) };
        Ok(Statements {
            fence: p(format!("SELECT {s}.fence($1)")).await?,
            put_queue: p(format!(
                "INSERT INTO {s}.queues (uid, record) VALUES ($1, $2) \
                 ON CONFLICT (uid) DO UPDATE SET record = excluded.record"
            ))
            .await?,
            delete_queue: p(format!("DELETE FROM {s}.queues WHERE uid = $1")).await?,
            purge: [
                p(format!("DELETE FROM {s}.dedup WHERE queue = $1")).await?,
                p(format!("DELETE FROM {s}.attempts WHERE queue = $1")).await?,
                // Before the states, which say which seqs are the queue's.
                p(format!("DELETE FROM {s}.contents WHERE seq IN (SELECT seq FROM {s}.states WHERE queue = $1)"))
                    .await?,
                p(format!("DELETE FROM {s}.states WHERE queue = $1")).await?,
            ],
            put_contents: p(format!(
                "INSERT INTO {s}.contents (seq, content) SELECT * FROM unnest($1::int8[], $2::bytea[]) \
                 ON CONFLICT (seq) DO UPDATE SET content = excluded.content"
            ))
            .await?,
            put_states: p(format!(
                "INSERT INTO {s}.states (queue, seq, state) SELECT * FROM unnest($1::int8[], $2::int8[], $3::bytea[]) \
                 ON CONFLICT (seq) DO UPDATE SET state = excluded.state"
            ))
            .await?,
            // An UPDATE cannot bring back a message deleted before. `seq = ANY` puts the key in
            // the plan's index condition whatever the table's statistics say.
            set_states: p(format!(
                "UPDATE {s}.states AS t SET state = u.state FROM unnest($1::int8[], $2::bytea[]) AS u(seq, state) \
                 WHERE t.seq = u.seq AND t.seq = ANY($1::int8[])"
            ))
            .await?,
            delete_states: p(format!("DELETE FROM {s}.states WHERE seq = ANY($1::int8[])")).await?,
            delete_contents: p(format!("DELETE FROM {s}.contents WHERE seq = ANY($1::int8[])")).await?,
            put_dedup: p(format!(
                "INSERT INTO {s}.dedup (queue, key, record) SELECT * FROM unnest($1::int8[], $2::bytea[], $3::bytea[]) \
                 ON CONFLICT (queue, key) DO UPDATE SET record = excluded.record"
            ))
            .await?,
            delete_dedup: p(format!(
                "DELETE FROM {s}.dedup AS t USING unnest($1::int8[], $2::bytea[]) AS d(queue, key) \
                 WHERE t.queue = d.queue AND t.key = d.key"
            ))
            .await?,
            put_attempt: p(format!(
                "INSERT INTO {s}.attempts (queue, id, record) VALUES ($1, $2, $3) \
                 ON CONFLICT (queue, id) DO UPDATE SET record = excluded.record"
            ))
            .await?,
            delete_attempt: p(format!("DELETE FROM {s}.attempts WHERE queue = $1 AND id = $2")).await?,
            put_task: p(format!(
                "INSERT INTO {s}.tasks (started_at, id, record) VALUES ($1, $2, $3) \
                 ON CONFLICT (started_at, id) DO UPDATE SET record = excluded.record"
            ))
            .await?,
            delete_task: p(format!("DELETE FROM {s}.tasks WHERE started_at = $1 AND id = $2")).await?,
            put_tombstone: p(format!(
                "INSERT INTO {s}.tombstones (name, deleted_at) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET deleted_at = excluded.deleted_at"
            ))
            .await?,
            delete_tombstone: p(format!("DELETE FROM {s}.tombstones WHERE name = $1")).await?,
            reserve: p(format!(
                "INSERT INTO {s}.meta (key, value) VALUES ('seq_limit', $1) \
                 ON CONFLICT (key) DO UPDATE SET value = greatest({s}.meta.value, excluded.value)"
            ))
            .await?,
        })
    }
}

/// A u64 key as the bigint with the same bits (as the SQLite store keeps them).
fn key(v: u64) -> i64 {
    v as i64
}

/// The fence's refusal, as `recover` finds it.
fn fenced_error(epoch: i64, now: i64) -> StoreError {
    StoreError(format!(
        "this node's authority over the record moved to another node (its epoch {epoch}, the lease's {now})"
    ))
}

impl PgStore {
    /// Migrate the database at `url` and open the store for the lease's `epoch` (see
    /// `Lease::take`); in the schema `SCHEMA`.
    pub fn open(url: &str, epoch: i64) -> Result<PgStore, StoreError> {
        PgStore::open_in(url, SCHEMA, epoch)
    }

    /// Only migrate the database at `url` (schema `SCHEMA`): what a node does before it looks
    /// at the lease.
    pub fn migrate(url: &str) -> Result<(), StoreError> {
        PgStore::migrate_in(url, SCHEMA)
    }

    /// `migrate`, in the schema `schema`.
    pub fn migrate_in(url: &str, schema: &str) -> Result<(), StoreError> {
        if !schema::valid_schema(schema) {
            return Err(StoreError(format!("{schema:?} is not a schema name the store can use")));
        }
        off_runtime(|| schema::migrate(&mut connect(url)?, schema))
    }

    /// `open`, in the schema `schema` (tests give each store its own).
    pub fn open_in(url: &str, schema: &str, epoch: i64) -> Result<PgStore, StoreError> {
        PgStore::migrate_in(url, schema)?;
        let writer = off_runtime(|| Writer::open(url, schema))?;
        let (submissions, rx) = Submissions::new();
        let fenced = Arc::new(AtomicBool::new(false));
        let reconnect = Arc::new(AtomicBool::new(false));
        let context = WriterContext {
            url: url.to_string(),
            schema: schema.to_string(),
            epoch,
            fenced: fenced.clone(),
            reconnect: reconnect.clone(),
        };
        let (failed, pending) = (submissions.failed.clone(), submissions.pending.clone());
        let writer = std::thread::Builder::new()
            .name("redrive-pg-writer".into())
            .spawn(move || {
                let mut conn = Some(writer);
                // PostgreSQL's autovacuum makes free space reusable by itself; no housekeeping here.
                group::write(&rx, &failed, &pending, |jobs| context.commit(&mut conn, jobs), || group::Idle::Done);
            })
            .map_err(err)?;
        let (reads, read_rx) = mpsc::channel::<Read>();
        let read_rx = Arc::new(parking_lot::Mutex::new(read_rx));
        let readers = (0..READERS)
            .map(|i| {
                let (rx, url, schema) = (read_rx.clone(), url.to_string(), schema.to_string());
                std::thread::Builder::new()
                    .name(format!("redrive-pg-reader-{i}"))
                    .spawn(move || reader(&url, &schema, &rx))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        Ok(PgStore {
            url: url.to_string(),
            schema: schema.to_string(),
            epoch,
            submissions,
            writer: parking_lot::Mutex::new(Some(writer)),
            reads: parking_lot::Mutex::new(Some(reads)),
            readers: parking_lot::Mutex::new(readers),
            fenced,
            reconnect,
        })
    }

    /// Whether a commit found that another node has taken the lease.
    pub fn is_fenced(&self) -> bool {
        self.fenced.load(Ordering::SeqCst)
    }

    /// Run `f` on a reader thread with a connection, and wait for its answer.
    fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut ReaderConn, &str) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let (url, schema) = (self.url.clone(), self.schema.clone());
        let job: Read = Box::new(move |conn: &mut Option<ReaderConn>| {
            let result = match conn {
                Some(c) if !c.client.is_closed() => f(c, &schema),
                _ => match ReaderConn::open(&url, &schema) {
                    Ok(c) => f(conn.insert(c), &schema),
                    Err(e) => Err(e),
                },
            };
            if result.is_err() && conn.as_ref().is_some_and(|c| c.client.is_closed()) {
                *conn = None;
            }
            let _ = tx.send(result);
        });
        let sent = self.reads.lock().as_ref().is_some_and(|r| r.send(job).is_ok());
        if !sent {
            return Err(closed());
        }
        rx.recv().unwrap_or_else(|_| Err(StoreError("the store's reader stopped".into())))
    }
}

fn reader(url: &str, schema: &str, jobs: &parking_lot::Mutex<mpsc::Receiver<Read>>) {
    let mut conn = ReaderConn::open(url, schema).ok();
    loop {
        let job = match jobs.lock().recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        job(&mut conn);
    }
}

/// What the writer thread needs besides its connection.
struct WriterContext {
    url: String,
    schema: String,
    epoch: i64,
    fenced: Arc<AtomicBool>,
    reconnect: Arc<AtomicBool>,
}

impl WriterContext {
    /// Commit `group` in one transaction, fenced by this store's epoch.
    fn commit(&self, conn: &mut Option<Writer>, group: &[Job]) -> Result<(), StoreError> {
        self.fenced.store(false, Ordering::SeqCst);
        if self.reconnect.swap(false, Ordering::SeqCst) || conn.as_ref().is_none_or(|w| w.client.is_closed()) {
            *conn = None;
            *conn = Some(Writer::open(&self.url, &self.schema)?);
        }
        let Some(w) = conn.as_mut() else { return Err(closed()) };
        // First, under the lease's row lock: the fence, which fails the whole transaction
        // unless the lease is still at this store's epoch.
        let mut batch = Batch::default();
        batch.push(&w.sql.fence, vec![Box::new(self.epoch)]);
        let mut fold = Fold::default();
        for change in group.iter().flat_map(|j| j.changes.iter()) {
            fold.apply(&mut batch, &w.sql, change)?;
        }
        fold.flush(&mut batch, &w.sql)?;
        w.runtime.block_on(batch.run(&w.client)).map_err(|e| {
            if e.code().is_some_and(|c| c.code() == FENCED) {
                self.fenced.store(true, Ordering::SeqCst);
            }
            err(e)
        })
    }
}

/// A group's message and deduplication changes, folded to their net effect per key and written
/// with one statement per kind. Changes of other kinds (queues, purges, tasks) flush what was
/// folded before them, so every change still lands in submission order.
#[derive(Default)]
struct Fold {
    /// New messages by seq: queue, state, content.
    puts: HashMap<u64, (u64, MessageState, SharedContent)>,
    /// New states of messages written before this group, by (queue, seq).
    states: HashMap<(u64, u64), MessageState>,
    /// Messages written before this group, to delete.
    deletes: HashSet<(u64, u64)>,
    dedup_puts: HashMap<(u64, String), DedupRecord>,
    dedup_deletes: HashSet<(u64, String)>,
}

impl Fold {
    fn apply<'s>(&mut self, batch: &mut Batch<'s>, sql: &'s Statements, change: &Change) -> Result<(), StoreError> {
        match change {
            Change::PutMessage { queue, seq, content, state } => {
                self.puts.insert(*seq, (*queue, *state, content.clone()));
            }
            Change::SetState { queue, seq, state } => match self.puts.get_mut(seq) {
                Some(put) => put.1 = *state,
                None => {
                    if !self.deletes.contains(&(*queue, *seq)) {
                        self.states.insert((*queue, *seq), *state);
                    }
                }
            },
            Change::DeleteMessage { queue, seq } => {
                // A message put in this group was never written: dropping the put is the delete.
                if self.puts.remove(seq).is_none() {
                    self.states.remove(&(*queue, *seq));
                    self.deletes.insert((*queue, *seq));
                }
            }
            Change::PutDedup { queue, key: k, message_id, seq, expires_at } => {
                let record =
                    DedupRecord { key: k.clone(), message_id: message_id.clone(), seq: *seq, expires_at: *expires_at };
                self.dedup_deletes.remove(&(*queue, k.clone()));
                self.dedup_puts.insert((*queue, k.clone()), record);
            }
            Change::DeleteDedup { queue, key: k } => {
                self.dedup_puts.remove(&(*queue, k.clone()));
                self.dedup_deletes.insert((*queue, k.clone()));
            }
            Change::PutQueue(record) => {
                self.flush(batch, sql)?;
                batch.push(&sql.put_queue, vec![Box::new(key(record.uid)), Box::new(encode(record)?)]);
            }
            Change::DeleteQueue { uid } => {
                self.flush(batch, sql)?;
                batch.push(&sql.delete_queue, vec![Box::new(key(*uid))]);
                purge(batch, sql, *uid);
            }
            Change::Purge { queue } => {
                self.flush(batch, sql)?;
                purge(batch, sql, *queue);
            }
            Change::PutTask(task) => {
                self.flush(batch, sql)?;
                let params: Vec<Param> =
                    vec![Box::new(key(task.started_at)), Box::new(task.id.clone()), Box::new(encode(task.as_ref())?)];
                batch.push(&sql.put_task, params);
            }
            Change::DeleteTask { started_at, id } => {
                self.flush(batch, sql)?;
                batch.push(&sql.delete_task, vec![Box::new(key(*started_at)), Box::new(id.clone())]);
            }
            Change::PutTombstone(t) => {
                batch.push(&sql.put_tombstone, vec![Box::new(t.name.clone()), Box::new(key(t.deleted_at))]);
            }
            Change::DeleteTombstone { name } => batch.push(&sql.delete_tombstone, vec![Box::new(name.clone())]),
            // Rows of their own, which no folded change touches: written in submission order
            // with the purges around them.
            Change::PutAttempt { queue, record } => {
                let params: Vec<Param> =
                    vec![Box::new(key(*queue)), Box::new(record.id.clone()), Box::new(encode(record)?)];
                batch.push(&sql.put_attempt, params);
            }
            Change::DeleteAttempt { queue, id } => {
                batch.push(&sql.delete_attempt, vec![Box::new(key(*queue)), Box::new(id.clone())]);
            }
            Change::ReserveSeqs { below } => batch.push(&sql.reserve, vec![Box::new(key(*below))]),
        }
        Ok(())
    }

    /// Write what was folded, and start afresh.
    fn flush<'s>(&mut self, batch: &mut Batch<'s>, sql: &'s Statements) -> Result<(), StoreError> {
        let fold = std::mem::take(self);
        if !fold.deletes.is_empty() {
            let seqs: Vec<i64> = fold.deletes.iter().map(|&(_, seq)| key(seq)).collect();
            batch.push(&sql.delete_contents, vec![Box::new(seqs.clone())]);
            batch.push(&sql.delete_states, vec![Box::new(seqs)]);
        }
        if !fold.puts.is_empty() {
            let mut queues = Vec::with_capacity(fold.puts.len());
            let mut seqs = Vec::with_capacity(fold.puts.len());
            let mut states = Vec::with_capacity(fold.puts.len());
            let mut contents = Vec::with_capacity(fold.puts.len());
            for (seq, (queue, state, content)) in &fold.puts {
                queues.push(key(*queue));
                seqs.push(key(*seq));
                states.push(encode(state)?);
                contents.push(encode(content.as_ref())?);
            }
            batch.push(&sql.put_contents, vec![Box::new(seqs.clone()), Box::new(contents)]);
            batch.push(&sql.put_states, vec![Box::new(queues), Box::new(seqs), Box::new(states)]);
        }
        if !fold.states.is_empty() {
            let mut seqs = Vec::with_capacity(fold.states.len());
            let mut states = Vec::with_capacity(fold.states.len());
            for ((_, seq), state) in &fold.states {
                seqs.push(key(*seq));
                states.push(encode(state)?);
            }
            batch.push(&sql.set_states, vec![Box::new(seqs), Box::new(states)]);
        }
        if !fold.dedup_deletes.is_empty() {
            let (queues, keys): (Vec<i64>, Vec<Vec<u8>>) =
                fold.dedup_deletes.into_iter().map(|(q, k)| (key(q), k.into_bytes())).unzip();
            batch.push(&sql.delete_dedup, vec![Box::new(queues), Box::new(keys)]);
        }
        if !fold.dedup_puts.is_empty() {
            let mut queues = Vec::with_capacity(fold.dedup_puts.len());
            let mut keys = Vec::with_capacity(fold.dedup_puts.len());
            let mut records = Vec::with_capacity(fold.dedup_puts.len());
            for ((queue, k), record) in fold.dedup_puts {
                queues.push(key(queue));
                records.push(encode(&record)?);
                keys.push(k.into_bytes());
            }
            batch.push(&sql.put_dedup, vec![Box::new(queues), Box::new(keys), Box::new(records)]);
        }
        Ok(())
    }
}

fn purge<'s>(batch: &mut Batch<'s>, sql: &'s Statements, queue: u64) {
    for statement in &sql.purge {
        batch.push(statement, vec![Box::new(key(queue))]);
    }
}

/// Everything stored, from one snapshot (a repeatable-read, read-only transaction).
fn load(client: &mut Client, s: &str) -> Result<Stored, StoreError> {
    let mut tx = client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(err)?;
    let seq_limit: Option<i64> = tx
        .query_opt(&format!("SELECT value FROM {s}.meta WHERE key = 'seq_limit'"), &[])
        .map_err(err)?
        .map(|r| r.get(0));
    let tasks = tx
        .query(&format!("SELECT record FROM {s}.tasks ORDER BY started_at, id"), &[])
        .map_err(err)?
        .iter()
        .map(|r| decode::<TaskRecord>(r.get(0)))
        .collect::<Result<Vec<_>, _>>()?;
    let records = tx
        .query(&format!("SELECT record FROM {s}.queues"), &[])
        .map_err(err)?
        .iter()
        .map(|r| decode::<QueueRecord>(r.get(0)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut states: HashMap<u64, Vec<(u64, MessageState)>> = HashMap::new();
    for row in tx.query(&format!("SELECT queue, seq, state FROM {s}.states ORDER BY queue, seq"), &[]).map_err(err)? {
        let (queue, seq): (i64, i64) = (row.get(0), row.get(1));
        states.entry(queue as u64).or_default().push((seq as u64, decode(row.get(2))?));
    }
    let mut dedups: HashMap<u64, Vec<DedupRecord>> = HashMap::new();
    for row in tx.query(&format!("SELECT queue, record FROM {s}.dedup ORDER BY queue, key"), &[]).map_err(err)? {
        let queue: i64 = row.get(0);
        dedups.entry(queue as u64).or_default().push(decode(row.get(1))?);
    }
    let mut attempts: HashMap<u64, Vec<AttemptRecord>> = HashMap::new();
    for row in tx.query(&format!("SELECT queue, record FROM {s}.attempts ORDER BY queue, id"), &[]).map_err(err)? {
        let queue: i64 = row.get(0);
        attempts.entry(queue as u64).or_default().push(decode(row.get(1))?);
    }
    let tombstones = tx
        .query(&format!("SELECT name, deleted_at FROM {s}.tombstones ORDER BY name"), &[])
        .map_err(err)?
        .iter()
        .map(|r| Tombstone { name: r.get(0), deleted_at: r.get::<_, i64>(1) as u64 })
        .collect();
    tx.commit().map_err(err)?;
    let mut queues: Vec<LoadedQueue> = records
        .into_iter()
        .map(|record| LoadedQueue {
            messages: states.remove(&record.uid).unwrap_or_default(),
            dedup: dedups.remove(&record.uid).unwrap_or_default(),
            attempts: attempts.remove(&record.uid).unwrap_or_default(),
            record,
        })
        .collect();
    queues.sort_by_key(|q| q.record.uid);
    Ok(Stored { queues, tasks, seq_limit: seq_limit.map_or(0, |v| v as u64), tombstones })
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.close();
    }
}

impl Store for PgStore {
    fn submit(&self, changes: Vec<Change>) -> Commit {
        self.submissions.submit(changes)
    }

    fn load(&self) -> Result<Stored, StoreError> {
        self.read(|conn, schema| load(&mut conn.client, schema))
    }

    /// Bodies not committed yet come from the pending map; the others from one query, sent
    /// after the pending map was read: a body missing from it had been committed already.
    fn contents(&self, queue: u64, seqs: &[u64]) -> Result<Vec<Option<SharedContent>>, StoreError> {
        let mut out = self.submissions.pending(queue, seqs);
        let unread: Vec<i64> =
            out.iter().zip(seqs).filter(|(slot, _)| slot.is_none()).map(|(_, &seq)| key(seq)).collect();
        if unread.is_empty() {
            return Ok(out);
        }
        let found: HashMap<u64, SharedContent> = self.read(move |conn, _| {
            let rows = conn.client.query(&conn.contents, &[&unread]).map_err(err)?;
            Ok(rows
                .iter()
                .filter_map(|r| {
                    let seq = r.get::<_, i64>(0) as u64;
                    crate::damaged(decode::<Content>(r.get(1)), (queue, seq)).map(|c| (seq, Arc::new(c)))
                })
                .collect::<HashMap<_, _>>())
        })?;
        for (slot, seq) in out.iter_mut().zip(seqs) {
            if slot.is_none() {
                *slot = found.get(seq).cloned();
            }
        }
        Ok(out)
    }

    fn health(&self) -> Health {
        Health::of(&self.submissions.failed)
    }

    /// The lease must still be at this store's epoch (no other node took the record) before
    /// the engine rebuilds from what is stored.
    fn recover(&self, rebuild: Rebuild<'_>) -> Result<(), StoreError> {
        let epoch = self.read(|conn, s| {
            Ok(conn
                .client
                .query_one(&format!("SELECT epoch FROM {s}.lease WHERE id = 1"), &[])
                .map_err(err)?
                .get::<_, i64>(0))
        })?;
        if epoch != self.epoch {
            self.fenced.store(true, Ordering::SeqCst);
            return Err(fenced_error(self.epoch, epoch));
        }
        self.fenced.store(false, Ordering::SeqCst);
        rebuild(self.load()?)?;
        self.submissions.pending.lock().clear();
        self.reconnect.store(true, Ordering::SeqCst);
        self.submissions.failed.store(false, Ordering::SeqCst);
        tracing::info!("store accepts changes again");
        Ok(())
    }

    fn close(&self) {
        self.submissions.close();
        if let Some(w) = self.writer.lock().take() {
            let _ = w.join();
        }
        self.reads.lock().take();
        for r in self.readers.lock().drain(..) {
            let _ = r.join();
        }
    }
}

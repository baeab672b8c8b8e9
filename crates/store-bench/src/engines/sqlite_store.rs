//! SQLite through rusqlite (bundled): WAL journal, `synchronous=FULL` (the WAL is fsync'd on every
//! commit), default auto-checkpoint. Bodies live in a rowid table keyed by `(queue_id, seq)`; the
//! small state records in a `WITHOUT ROWID` table (SQLite's advice: WITHOUT ROWID suits rows well
//! under 1/20 of a page, which the 1 KiB bodies are not). Values are postcard bytes or the raw body.

use std::path::Path;

use anyhow::Result;
use rusqlite::{params, Connection};

use crate::engines::{Layout, Store, Tuning};
use crate::workload::{body_for, decode_state, encode_combined, encode_state, Key, Op, BODY_LEN};

pub const VERSION: &str = "rusqlite 0.41.1 (bundled SQLite)";

const SPLIT_SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS body (
        queue_id INTEGER NOT NULL, seq INTEGER NOT NULL, body BLOB NOT NULL,
        PRIMARY KEY (queue_id, seq));
    CREATE TABLE IF NOT EXISTS state (
        queue_id INTEGER NOT NULL, seq INTEGER NOT NULL, rec BLOB NOT NULL,
        PRIMARY KEY (queue_id, seq)) WITHOUT ROWID;";

const COMBINED_SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS message (
        queue_id INTEGER NOT NULL, seq INTEGER NOT NULL, rec BLOB NOT NULL,
        PRIMARY KEY (queue_id, seq));";

pub struct SqliteStore {
    conn: Connection,
    layout: Layout,
    synchronous_full: bool,
    body: Box<[u8; BODY_LEN]>,
    buf: Vec<u8>,
}

/// SQLite integers are signed; the benchmark's ids are far below `i64::MAX`.
fn sql_key(key: &Key) -> Result<(i64, i64)> {
    Ok((i64::try_from(key.queue_id)?, i64::try_from(key.seq)?))
}

impl SqliteStore {
    pub fn open(dir: &Path, layout: Layout, tuning: Tuning) -> Result<Self> {
        let conn = Connection::open(dir.join("store.sqlite"))?;
        let journal: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
        anyhow::ensure!(journal.eq_ignore_ascii_case("wal"), "SQLite refused WAL mode: {journal}");
        conn.execute_batch(&format!("PRAGMA synchronous=FULL; PRAGMA cache_size=-{};", tuning.cache_bytes / 1024))?;
        conn.execute_batch(match layout {
            Layout::Split => SPLIT_SCHEMA,
            Layout::Combined => COMBINED_SCHEMA,
        })?;
        Ok(SqliteStore {
            conn,
            layout,
            synchronous_full: true,
            body: Box::new([0; BODY_LEN]),
            buf: Vec::with_capacity(2048),
        })
    }

    fn set_synchronous(&mut self, full: bool) -> Result<()> {
        if self.synchronous_full != full {
            self.conn.execute_batch(if full { "PRAGMA synchronous=FULL" } else { "PRAGMA synchronous=OFF" })?;
            self.synchronous_full = full;
        }
        Ok(())
    }
}

impl Store for SqliteStore {
    fn apply(&mut self, ops: &[Op], durable: bool) -> Result<()> {
        self.set_synchronous(durable)?;
        let tx = self.conn.transaction()?;
        match self.layout {
            Layout::Split => {
                let mut insert_body =
                    tx.prepare_cached("INSERT INTO body (queue_id, seq, body) VALUES (?1, ?2, ?3)")?;
                let mut insert_state =
                    tx.prepare_cached("INSERT INTO state (queue_id, seq, rec) VALUES (?1, ?2, ?3)")?;
                let mut update_state =
                    tx.prepare_cached("UPDATE state SET rec = ?3 WHERE queue_id = ?1 AND seq = ?2")?;
                let mut delete_body = tx.prepare_cached("DELETE FROM body WHERE queue_id = ?1 AND seq = ?2")?;
                let mut delete_state = tx.prepare_cached("DELETE FROM state WHERE queue_id = ?1 AND seq = ?2")?;
                for op in ops {
                    match op {
                        Op::Insert { n, key, state } => {
                            let (q, s) = sql_key(key)?;
                            body_for(*n, &mut self.body);
                            insert_body.execute(params![q, s, &self.body[..]])?;
                            encode_state(state, &mut self.buf)?;
                            insert_state.execute(params![q, s, &self.buf[..]])?;
                        }
                        Op::Receive { key, state, .. } => {
                            let (q, s) = sql_key(key)?;
                            encode_state(state, &mut self.buf)?;
                            anyhow::ensure!(update_state.execute(params![q, s, &self.buf[..]])? == 1, "lost {key:?}");
                        }
                        Op::Delete { key } => {
                            let (q, s) = sql_key(key)?;
                            delete_body.execute(params![q, s])?;
                            delete_state.execute(params![q, s])?;
                        }
                    }
                }
            }
            Layout::Combined => {
                let mut insert = tx.prepare_cached("INSERT INTO message (queue_id, seq, rec) VALUES (?1, ?2, ?3)")?;
                let mut update = tx.prepare_cached("UPDATE message SET rec = ?3 WHERE queue_id = ?1 AND seq = ?2")?;
                let mut delete = tx.prepare_cached("DELETE FROM message WHERE queue_id = ?1 AND seq = ?2")?;
                for op in ops {
                    match op {
                        Op::Insert { n, key, state } => {
                            let (q, s) = sql_key(key)?;
                            body_for(*n, &mut self.body);
                            encode_combined(state, &self.body[..], &mut self.buf)?;
                            insert.execute(params![q, s, &self.buf[..]])?;
                        }
                        Op::Receive { n, key, state } => {
                            let (q, s) = sql_key(key)?;
                            body_for(*n, &mut self.body);
                            encode_combined(state, &self.body[..], &mut self.buf)?;
                            anyhow::ensure!(update.execute(params![q, s, &self.buf[..]])? == 1, "lost {key:?}");
                        }
                        Op::Delete { key } => {
                            let (q, s) = sql_key(key)?;
                            delete.execute(params![q, s])?;
                        }
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        // Checkpoint the pre-fill into the main file (fsync'd), then measure from a short WAL.
        self.set_synchronous(true)?;
        self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    fn scan_states(&mut self) -> Result<(u64, u64)> {
        let sql = match self.layout {
            Layout::Split => "SELECT rec FROM state ORDER BY queue_id, seq",
            Layout::Combined => "SELECT rec FROM message ORDER BY queue_id, seq",
        };
        let mut stmt = self.conn.prepare(sql)?;
        let mut rows = stmt.query([])?;
        let (mut count, mut receives) = (0u64, 0u64);
        while let Some(row) = rows.next()? {
            let state = decode_state(row.get_ref(0)?.as_blob()?)?;
            count += 1;
            receives += u64::from(state.receive_count);
        }
        Ok((count, receives))
    }
}

/// The SQLite library version actually linked.
pub fn library_version() -> &'static str {
    rusqlite::version()
}

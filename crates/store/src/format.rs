//! The layout of the blobs on disk, by version, and the upgrade from each to the next.
//!
//! Postcard blobs carry no field names, so a field added to `Content` or `TaskRecord` changes
//! their layout: the store writes its format in `meta` (`format`), and at open rewrites every
//! blob of an older format in one transaction, before anything reads them. A store newer than
//! this code is refused rather than misread.
//!
//! - 1: the layouts before safe redrive (kept below, as they were).
//! - 2: `Content` gains `dead_lettered_at` and `redrives`; `TaskRecord` gains `options` and
//!   `progress`. Messages a DLQ held before the upgrade have no `dead_lettered_at`.
//! - 3: a queue of another account than the configured one is stored under `account/name`
//!   (before, every stored queue was restored into the configured account). No blob changes —
//!   every name of format 2 is a bare name, which still means the configured account — but a
//!   redrive that knows only format 2 would restore `account/name` as a queue of that name, so
//!   it must refuse such a store.

use engine::message::{Attributes, Content};
use engine::store::{TaskRecord, TaskStatus};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::Deserialize;

use crate::{decode, encode, err, StoreError};

/// The format this code writes.
pub(crate) const CURRENT: i64 = 3;

/// Bring the store's blobs to the current format; a store that holds nothing is simply marked.
pub(crate) fn upgrade(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
    let stored: Option<i64> =
        tx.query_row("SELECT value FROM meta WHERE key = 'format'", [], |r| r.get(0)).optional().map_err(err)?;
    let format = match stored {
        Some(f) => f,
        // Unmarked: written before formats were kept (1), or new.
        None if holds_anything(&tx)? => 1,
        None => CURRENT,
    };
    if format > CURRENT {
        return Err(StoreError(format!(
            "the store was written by a newer redrive (format {format}; this version reads up to {CURRENT})"
        )));
    }
    if format < 2 {
        let tables: &[&str] = if table_exists(&tx, "bodies")? { &["contents", "bodies"] } else { &["contents"] };
        for table in tables {
            rewrite(&tx, table, "content", |bytes| encode(&Content::from(decode::<v1::Content>(bytes)?)))?;
        }
        rewrite(&tx, "tasks", "record", |bytes| encode(&TaskRecord::from(decode::<v1::TaskRecord>(bytes)?)))?;
    }
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('format', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![CURRENT],
    )
    .map_err(err)?;
    tx.commit().map_err(err)
}

fn holds_anything(conn: &Connection) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM queues) OR EXISTS (SELECT 1 FROM contents) OR EXISTS (SELECT 1 FROM tasks)",
        [],
        |r| r.get(0),
    )
    .map_err(err)
}

fn table_exists(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    conn.query_row("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)", [name], |r| {
        r.get(0)
    })
    .map_err(err)
}

/// Rewrite every blob of `column` in `table` with `convert`, each row addressed by its primary
/// key (some tables are `WITHOUT ROWID`).
fn rewrite(
    conn: &Connection,
    table: &str,
    column: &str,
    convert: impl Fn(&[u8]) -> Result<Vec<u8>, StoreError>,
) -> Result<(), StoreError> {
    let keys = primary_key(conn, table)?;
    let select = format!("SELECT {}, {column} FROM {table}", keys.join(", "));
    let condition: Vec<String> = keys.iter().enumerate().map(|(i, k)| format!("{k} = ?{}", i + 2)).collect();
    let update = format!("UPDATE {table} SET {column} = ?1 WHERE {}", condition.join(" AND "));
    let mut read = conn.prepare(&select).map_err(err)?;
    let mut write = conn.prepare(&update).map_err(err)?;
    let mut rows = read.query([]).map_err(err)?;
    while let Some(row) = rows.next().map_err(err)? {
        let mut values: Vec<rusqlite::types::Value> = Vec::with_capacity(keys.len() + 1);
        let blob = row.get_ref(keys.len()).map_err(err)?.as_blob().map_err(err)?;
        values.push(rusqlite::types::Value::Blob(convert(blob)?));
        for i in 0..keys.len() {
            values.push(row.get(i).map_err(err)?);
        }
        write.execute(rusqlite::params_from_iter(values)).map_err(err)?;
    }
    Ok(())
}

/// The columns of a table's primary key, in key order.
fn primary_key(conn: &Connection, table: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt =
        conn.prepare(&format!("SELECT name, pk FROM pragma_table_info('{table}') WHERE pk > 0")).map_err(err)?;
    let mut keys: Vec<(i64, String)> =
        stmt.query_map([], |r| Ok((r.get(1)?, r.get(0)?))).map_err(err)?.collect::<Result<_, _>>().map_err(err)?;
    keys.sort();
    Ok(keys.into_iter().map(|(_, name)| name).collect())
}

/// Format 1, as it was written.
pub(crate) mod v1 {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
    pub struct Content {
        pub id: String,
        pub body: String,
        pub md5_of_body: String,
        pub attributes: Attributes,
        pub md5_of_attributes: Option<String>,
        pub system_attributes: Attributes,
        pub md5_of_system_attributes: Option<String>,
        pub sender_id: String,
        pub sent_at: u64,
        pub dead_letter_source_arn: Option<String>,
        pub group_id: Option<String>,
        pub deduplication_id: Option<String>,
    }

    #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
    pub struct TaskRecord {
        pub id: String,
        pub source_arn: String,
        pub destination_arn: Option<String>,
        pub max_per_second: Option<u32>,
        pub status: TaskStatus,
        pub moved: u64,
        pub to_move: u64,
        pub started_at: u64,
        pub failure_reason: Option<String>,
        pub boundary_seq: u64,
    }
}

impl From<v1::Content> for Content {
    fn from(c: v1::Content) -> Content {
        Content {
            id: c.id,
            body: c.body,
            md5_of_body: c.md5_of_body,
            attributes: c.attributes,
            md5_of_attributes: c.md5_of_attributes,
            system_attributes: c.system_attributes,
            md5_of_system_attributes: c.md5_of_system_attributes,
            sender_id: c.sender_id,
            sent_at: c.sent_at,
            dead_letter_source_arn: c.dead_letter_source_arn,
            group_id: c.group_id,
            deduplication_id: c.deduplication_id,
            dead_lettered_at: None,
            redrives: None,
        }
    }
}

impl From<v1::TaskRecord> for TaskRecord {
    fn from(t: v1::TaskRecord) -> TaskRecord {
        TaskRecord {
            id: t.id,
            source_arn: t.source_arn,
            destination_arn: t.destination_arn,
            max_per_second: t.max_per_second,
            status: t.status,
            moved: t.moved,
            to_move: t.to_move,
            started_at: t.started_at,
            failure_reason: t.failure_reason,
            boundary_seq: t.boundary_seq,
            options: Default::default(),
            progress: Default::default(),
        }
    }
}

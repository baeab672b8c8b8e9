//! The start-up check of stored bodies (issue 21): a damaged or missing body row found, and
//! said, when the server starts rather than when the message is next delivered.
//!
//! Restart speed matters more (issue 22: 10 M messages back in under 5 s), so the check is not
//! part of opening: the server runs it in the background once serving. It walks `states` in
//! key order, `CHECK_BATCH` rows to a read transaction on a reader's connection, each joined
//! to its body row, and lets the reader go between batches, so receives wait for one batch at
//! most. A state and its body are committed together, so within one batch a state without a
//! body is truly missing; a body that was deleted after its batch is simply not seen.

use std::collections::HashMap;
use std::time::Duration;

use engine::message::Content;
use engine::store::{QueueRecord, StoreError};

use crate::{closed, decode, err, SqliteStore};

/// Message states read (with their bodies) per read transaction.
const CHECK_BATCH: i64 = 1000;

/// What the check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodyCheck {
    /// Stored messages whose body was looked for.
    pub checked: u64,
    pub damaged: u64,
    pub missing: u64,
    /// The damaged and missing ones, each said once in the log.
    pub problems: Vec<BodyProblem>,
    pub elapsed: Duration,
}

/// One message whose body cannot be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyProblem {
    /// The queue's name (its uid if no queue record names it).
    pub queue: String,
    pub seq: u64,
    /// What is wrong: "damaged (…)" with the decoding error, or "missing".
    pub what: String,
}

impl SqliteStore {
    /// Check that every stored message has a body that decodes; logs one warning per problem
    /// and a summary line. An error if the store closes (or a read fails) on the way.
    pub fn check_bodies(&self) -> Result<BodyCheck, StoreError> {
        // The real time a background pass took, for its log line (not the engine's clock,
        // which tests drive by hand).
        #[allow(clippy::disallowed_methods)]
        let started = std::time::Instant::now();
        let names = self.queue_names()?;
        let body = if self.legacy {
            "COALESCE(c.content, (SELECT b.content FROM bodies b WHERE b.queue = s.queue AND b.seq = s.seq))"
        } else {
            "c.content"
        };
        let sql = format!(
            "SELECT s.queue, s.seq, {body} FROM states s LEFT JOIN contents c ON c.seq = s.seq \
             WHERE (s.queue, s.seq) > (?1, ?2) ORDER BY s.queue, s.seq LIMIT ?3"
        );
        let mut check = BodyCheck::default();
        let mut after = (i64::MIN, i64::MIN);
        loop {
            let mut found = Vec::new();
            let mut rows_read = 0;
            {
                let guard = self.reader_conn();
                let conn = guard.as_ref().ok_or_else(closed)?;
                let mut stmt = conn.prepare_cached(&sql).map_err(err)?;
                let mut rows = stmt.query([after.0, after.1, CHECK_BATCH]).map_err(err)?;
                while let Some(row) = rows.next().map_err(err)? {
                    rows_read += 1;
                    after = (row.get(0).map_err(err)?, row.get(1).map_err(err)?);
                    let what = match row.get_ref(2).map_err(err)?.as_blob_or_null().map_err(err)? {
                        None => Some("missing".to_string()),
                        Some(bytes) => decode::<Content>(bytes).err().map(|e| format!("damaged ({e})")),
                    };
                    if let Some(what) = what {
                        found.push((after.0 as u64, after.1 as u64, what));
                    }
                }
            }
            check.checked += rows_read;
            for (queue, seq, what) in found {
                let queue = names.get(&queue).cloned().unwrap_or_else(|| queue.to_string());
                tracing::warn!(
                    queue = %queue,
                    seq,
                    "body check: a stored message's body is {what}; the message cannot be delivered \
                     and is skipped (restore the database from a backup to recover it)"
                );
                if what == "missing" {
                    check.missing += 1;
                } else {
                    check.damaged += 1;
                }
                check.problems.push(BodyProblem { queue, seq, what });
            }
            if rows_read < CHECK_BATCH as u64 {
                break;
            }
            std::thread::yield_now();
        }
        check.elapsed = started.elapsed();
        tracing::info!(
            "body check: {} bodies checked, {} damaged, {} missing, in {:.1} s",
            check.checked,
            check.damaged,
            check.missing,
            check.elapsed.as_secs_f64()
        );
        Ok(check)
    }

    /// Every queue's name by uid.
    fn queue_names(&self) -> Result<HashMap<u64, String>, StoreError> {
        let guard = self.reader_conn();
        let conn = guard.as_ref().ok_or_else(closed)?;
        let mut stmt = conn.prepare_cached("SELECT record FROM queues").map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        let mut names = HashMap::new();
        while let Some(row) = rows.next().map_err(err)? {
            // A queue record that does not decode fails the store's load already.
            if let Ok(record) = crate::blob::<QueueRecord>(row, 0) {
                names.insert(record.uid, record.name);
            }
        }
        Ok(names)
    }
}

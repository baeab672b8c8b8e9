//! fjall: an LSM-tree with a shared write-ahead journal. Each layout table is a keyspace; a group
//! commit is one cross-keyspace `WriteBatch` persisted with `PersistMode::SyncAll` (fsync of the
//! journal). Keys are the 16-byte big-endian `(queue_id, seq)`; values are postcard bytes or the raw
//! body. Keyspace options are fjall's defaults (LZ4 block compression, no key-value separation).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use crate::engines::{Layout, Store, Tuning};
use crate::workload::{body_for, decode_state, encode_combined, encode_state, Op, BODY_LEN};

pub const VERSION: &str = "fjall 3.1.13";

pub struct FjallStore {
    db: Database,
    layout: Layout,
    /// Split: bodies; combined: whole messages.
    primary: Keyspace,
    /// Split only: state records.
    states: Option<Keyspace>,
    body: Box<[u8; BODY_LEN]>,
    buf: Vec<u8>,
}

impl FjallStore {
    pub fn open(dir: &Path, layout: Layout, tuning: Tuning) -> Result<Self> {
        let db = Database::builder(dir).cache_size(tuning.cache_bytes).open()?;
        let (primary, states) = match layout {
            Layout::Split => (
                db.keyspace("body", KeyspaceCreateOptions::default)?,
                Some(db.keyspace("state", KeyspaceCreateOptions::default)?),
            ),
            Layout::Combined => (db.keyspace("message", KeyspaceCreateOptions::default)?, None),
        };
        Ok(FjallStore { db, layout, primary, states, body: Box::new([0; BODY_LEN]), buf: Vec::with_capacity(2048) })
    }
}

impl Store for FjallStore {
    fn apply(&mut self, ops: &[Op], durable: bool) -> Result<()> {
        let mut batch = self.db.batch().durability(durable.then_some(PersistMode::SyncAll));
        match (self.layout, &self.states) {
            (Layout::Split, Some(states)) => {
                for op in ops {
                    match op {
                        Op::Insert { n, key, state } => {
                            body_for(*n, &mut self.body);
                            batch.insert(&self.primary, key.to_bytes(), &self.body[..]);
                            encode_state(state, &mut self.buf)?;
                            batch.insert(states, key.to_bytes(), &self.buf[..]);
                        }
                        Op::Receive { key, state, .. } => {
                            encode_state(state, &mut self.buf)?;
                            batch.insert(states, key.to_bytes(), &self.buf[..]);
                        }
                        Op::Delete { key } => {
                            batch.remove(&self.primary, key.to_bytes());
                            batch.remove(states, key.to_bytes());
                        }
                    }
                }
            }
            _ => {
                for op in ops {
                    match op {
                        Op::Insert { n, key, state } | Op::Receive { n, key, state } => {
                            body_for(*n, &mut self.body);
                            encode_combined(state, &self.body[..], &mut self.buf)?;
                            batch.insert(&self.primary, key.to_bytes(), &self.buf[..]);
                        }
                        Op::Delete { key } => batch.remove(&self.primary, key.to_bytes()),
                    }
                }
            }
        }
        batch.commit()?;
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        self.db.persist(PersistMode::SyncAll)?;
        Ok(())
    }

    fn settle(&mut self) -> Result<()> {
        // Idle = no sealed memtable waiting for its flush, no queued flush, no running compaction,
        // seen three times 5 ms apart (so a compaction scheduled right after a flush is caught).
        let deadline = Instant::now() + Duration::from_secs(300);
        let mut idle_polls = 0;
        loop {
            let sealed =
                self.primary.sealed_memtable_count() + self.states.as_ref().map_or(0, |s| s.sealed_memtable_count());
            if sealed == 0 && self.db.outstanding_flushes() == 0 && self.db.active_compactions() == 0 {
                idle_polls += 1;
            } else {
                idle_polls = 0;
            }
            if idle_polls >= 3 || Instant::now() >= deadline {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn scan_states(&mut self) -> Result<(u64, u64)> {
        let keyspace = self.states.as_ref().unwrap_or(&self.primary);
        let (mut count, mut receives) = (0u64, 0u64);
        for guard in keyspace.iter() {
            let (_key, value) = guard.into_inner()?;
            let state = decode_state(&value)?;
            count += 1;
            receives += u64::from(state.receive_count);
        }
        Ok((count, receives))
    }
}

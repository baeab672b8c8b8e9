//! redb: a copy-on-write B-tree in a single file. Both the 3.x and the 4.x line are benchmarked;
//! their APIs are the same for everything used here, so one implementation is instantiated twice.
//!
//! Keys are redb's native `(u64, u64)` tuples; values are postcard bytes (state) or the raw body.
//! Durable commits use `Durability::Immediate` (fsync on commit); the pre-fill uses
//! `Durability::None` followed by one `Immediate` commit.

macro_rules! redb_store {
    ($module:ident, $krate:ident, $version:literal) => {
        pub mod $module {
            use std::path::Path;

            use anyhow::Result;
            use $krate::{Database, Durability, ReadableDatabase, TableDefinition};

            use crate::engines::{Layout, Store, Tuning};
            use crate::workload::{body_for, decode_state, encode_combined, encode_state, Op, BODY_LEN};

            pub const VERSION: &str = $version;

            type K = (u64, u64);
            const BODIES: TableDefinition<K, &[u8]> = TableDefinition::new("body");
            const STATES: TableDefinition<K, &[u8]> = TableDefinition::new("state");
            const MESSAGES: TableDefinition<K, &[u8]> = TableDefinition::new("message");

            pub struct RedbStore {
                db: Database,
                layout: Layout,
                body: Box<[u8; BODY_LEN]>,
                buf: Vec<u8>,
            }

            impl RedbStore {
                pub fn open(dir: &Path, layout: Layout, tuning: Tuning) -> Result<Self> {
                    let db = Database::builder()
                        .set_cache_size(usize::try_from(tuning.cache_bytes)?)
                        .create(dir.join("store.redb"))?;
                    // Create the tables up front so that a scan of an empty store works.
                    let tx = db.begin_write()?;
                    match layout {
                        Layout::Split => {
                            tx.open_table(BODIES)?;
                            tx.open_table(STATES)?;
                        }
                        Layout::Combined => {
                            tx.open_table(MESSAGES)?;
                        }
                    }
                    tx.commit()?;
                    Ok(RedbStore { db, layout, body: Box::new([0; BODY_LEN]), buf: Vec::with_capacity(2048) })
                }
            }

            impl Store for RedbStore {
                fn apply(&mut self, ops: &[Op], durable: bool) -> Result<()> {
                    let mut tx = self.db.begin_write()?;
                    tx.set_durability(if durable { Durability::Immediate } else { Durability::None })?;
                    match self.layout {
                        Layout::Split => {
                            let mut bodies = tx.open_table(BODIES)?;
                            let mut states = tx.open_table(STATES)?;
                            for op in ops {
                                match op {
                                    Op::Insert { n, key, state } => {
                                        body_for(*n, &mut self.body);
                                        bodies.insert((key.queue_id, key.seq), &self.body[..])?;
                                        encode_state(state, &mut self.buf)?;
                                        states.insert((key.queue_id, key.seq), &self.buf[..])?;
                                    }
                                    Op::Receive { key, state, .. } => {
                                        encode_state(state, &mut self.buf)?;
                                        states.insert((key.queue_id, key.seq), &self.buf[..])?;
                                    }
                                    Op::Delete { key } => {
                                        bodies.remove((key.queue_id, key.seq))?;
                                        states.remove((key.queue_id, key.seq))?;
                                    }
                                }
                            }
                        }
                        Layout::Combined => {
                            let mut messages = tx.open_table(MESSAGES)?;
                            for op in ops {
                                match op {
                                    Op::Insert { n, key, state } | Op::Receive { n, key, state } => {
                                        body_for(*n, &mut self.body);
                                        encode_combined(state, &self.body[..], &mut self.buf)?;
                                        messages.insert((key.queue_id, key.seq), &self.buf[..])?;
                                    }
                                    Op::Delete { key } => {
                                        messages.remove((key.queue_id, key.seq))?;
                                    }
                                }
                            }
                        }
                    }
                    tx.commit()?;
                    Ok(())
                }

                fn sync(&mut self) -> Result<()> {
                    // An empty Immediate commit makes all preceding Durability::None commits durable.
                    let mut tx = self.db.begin_write()?;
                    tx.set_durability(Durability::Immediate)?;
                    tx.commit()?;
                    Ok(())
                }

                fn scan_states(&mut self) -> Result<(u64, u64)> {
                    let tx = self.db.begin_read()?;
                    let table = tx.open_table(match self.layout {
                        Layout::Split => STATES,
                        Layout::Combined => MESSAGES,
                    })?;
                    let (mut count, mut receives) = (0u64, 0u64);
                    for entry in table.range::<K>(..)? {
                        let (_key, value) = entry?;
                        let state = decode_state(value.value())?;
                        count += 1;
                        receives += u64::from(state.receive_count);
                    }
                    Ok((count, receives))
                }
            }
        }
    };
}

redb_store!(v3, redb, "redb 3.1.3");
redb_store!(v4, redb4, "redb 4.6.0");

//! The candidate engines behind one small interface: apply a group of mutations in one
//! transaction, and scan all state records.

use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::workload::Op;

mod fjall_store;
mod redb_store;
mod sqlite_store;

/// How a message is laid out in the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Body and state under separate keys (two tables / keyspaces): a receive rewrites ~80 bytes.
    Split,
    /// Body and state in one record: a receive rewrites the whole ~1.1 KiB record.
    Combined,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::Split => "split",
            Layout::Combined => "combined",
        }
    }
}

/// The candidates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// SQLite (rusqlite, bundled), WAL, synchronous=FULL.
    Sqlite,
    /// fjall 3 (LSM), batch committed with PersistMode::SyncAll.
    Fjall,
    /// redb 3.x (copy-on-write B-tree), Durability::Immediate.
    Redb,
    /// redb 4.x, Durability::Immediate.
    Redb4,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Fjall => "fjall",
            Engine::Redb => "redb",
            Engine::Redb4 => "redb4",
        }
    }

    /// Crate and version, as linked.
    pub fn version(self) -> &'static str {
        match self {
            Engine::Sqlite => sqlite_store::VERSION,
            Engine::Fjall => fjall_store::VERSION,
            Engine::Redb => redb_store::v3::VERSION,
            Engine::Redb4 => redb_store::v4::VERSION,
        }
    }
}

/// Engine tuning shared by all candidates.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Tuning {
    /// Page/block cache budget in bytes.
    pub cache_bytes: u64,
}

/// A durable message store under test.
pub trait Store {
    /// Applies `ops` atomically in one transaction. With `durable`, the commit is fsync'd before this
    /// returns (the group commit); without it, nothing is forced to disk (pre-fill only).
    fn apply(&mut self, ops: &[Op], durable: bool) -> Result<()>;

    /// Forces everything applied so far to stable storage (end of the pre-fill).
    fn sync(&mut self) -> Result<()>;

    /// Waits until the engine's background work (fjall's memtable flushes and compactions) is done.
    /// Called after the pre-fill, so runs start from a steady state, and after every measured run,
    /// whose figure includes this time: background work caused by a run is part of its cost, and it
    /// must not spill into the next engine's run.
    fn settle(&mut self) -> Result<()> {
        Ok(())
    }

    /// Reads and decodes every state record, in key order, as startup recovery would. Returns the
    /// number of records and the sum of their receive counts (so the decode is not optimised away).
    fn scan_states(&mut self) -> Result<(u64, u64)>;
}

/// Opens (creating if needed) a store in directory `dir`.
pub fn open(engine: Engine, layout: Layout, dir: &Path, tuning: Tuning) -> Result<Box<dyn Store>> {
    std::fs::create_dir_all(dir)?;
    Ok(match engine {
        Engine::Sqlite => Box::new(sqlite_store::SqliteStore::open(dir, layout, tuning)?),
        Engine::Fjall => Box::new(fjall_store::FjallStore::open(dir, layout, tuning)?),
        Engine::Redb => Box::new(redb_store::v3::RedbStore::open(dir, layout, tuning)?),
        Engine::Redb4 => Box::new(redb_store::v4::RedbStore::open(dir, layout, tuning)?),
    })
}

/// The SQLite library version linked through rusqlite's `bundled` feature.
pub fn sqlite_library_version() -> &'static str {
    sqlite_store::library_version()
}

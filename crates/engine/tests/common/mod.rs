//! What the engine's behaviour tests share: one account, one caller, the manual clock.
#![allow(dead_code)] // each test file uses its own share of these

use std::collections::BTreeMap;
use std::sync::Arc;

use engine::{Caller, Engine, EngineConfig, ManualClock, MemoryStore, QueueId};

pub mod tasks;

pub const START: u64 = 1_700_000_000_000;
pub const ACCOUNT: &str = "000000000000";

pub fn config() -> EngineConfig {
    EngineConfig { region: "us-east-1".into(), account_id: ACCOUNT.into(), ..Default::default() }
}

/// The one caller of these tests; "me" is the SenderId of what it sends.
pub fn me() -> Caller {
    Caller::new(ACCOUNT, Some("me".into()))
}

pub fn qid(name: &str) -> QueueId {
    QueueId::new(ACCOUNT, name)
}

pub fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// An engine in memory on a manual clock at `START`.
pub fn engine() -> (Arc<Engine>, ManualClock) {
    let clock = ManualClock::new(START);
    (Arc::new(Engine::in_memory(config(), Arc::new(clock.clone()))), clock)
}

/// An engine opened on `store`: opened again on the same store, it is the same server restarted.
pub fn open(store: &Arc<MemoryStore>, clock: &ManualClock) -> Arc<Engine> {
    Arc::new(Engine::open(config(), Arc::new(clock.clone()), store.clone()).unwrap())
}

/// An engine on a SQLite store in `dir`: opened again on the same directory, it is the same
/// durable server restarted.
pub fn open_durable(dir: &std::path::Path, clock: &ManualClock) -> Arc<Engine> {
    let store = store::SqliteStore::open(dir).unwrap();
    Arc::new(Engine::open(config(), Arc::new(clock.clone()), Arc::new(store)).unwrap())
}

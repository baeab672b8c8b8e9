//! The engine: every queue's index in memory, the store behind it, and the clock. Each
//! operation reads the clock once and changes one queue under its lock (two, for a
//! dead-letter hand-off); its files are split by idea, not by size.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::clock::{Clock, Millis};
use crate::error::{Error, Result};
use crate::movetask::MoveTasks;
use crate::queue::{Queue, SeqCounter, Seqs};
use crate::queue_id::{Caller, QueueId};
use crate::store::{Health, MemoryStore, Store, StoreError, Stored};

mod commit;
mod dead_letters;
mod lifecycle;
mod messages;
mod move_tasks;
pub use move_tasks::MAX_REDRIVES_TAG;
mod queues;
mod receive;
mod validation;
mod views;

pub use messages::Sent;
pub(crate) use messages::{prepare, SendRules};
pub use receive::ReceiveOptions;
pub use validation::{check_batch, check_system_attribute_names};
pub use views::{message_system_attributes, select_message_attributes, QueueMetrics};

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub region: String,
    pub account_id: String,
    /// The loop guard's default: a move task leaves a message already redriven this many times
    /// in its dead-letter queue (`None`: no limit). A task may set its own.
    pub max_redrives: Option<u32>,
}

/// `EngineConfig::max_redrives` unless configured.
pub const DEFAULT_MAX_REDRIVES: u32 = 10;

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            max_redrives: Some(DEFAULT_MAX_REDRIVES),
        }
    }
}

pub struct Engine {
    clock: Arc<dyn Clock>,
    config: EngineConfig,
    store: Arc<dyn Store>,
    queues: RwLock<BTreeMap<QueueId, Arc<Queue>>>,
    recently_deleted: Mutex<HashMap<QueueId, Millis>>,
    /// Whether the index was reloaded from disk since the store failed (`heal`).
    reloaded: AtomicBool,
    stopping: AtomicBool,
    stop_signal: tokio::sync::Notify,
    move_tasks: Arc<MoveTasks>,
    /// The one loop that runs every move task, once started.
    move_task_driver: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The next message seq, shared by every queue.
    seqs: Seqs,
}

impl Engine {
    /// An engine over `store`, with every queue and message the store kept.
    pub fn open(config: EngineConfig, clock: Arc<dyn Clock>, store: Arc<dyn Store>) -> Result<Engine, StoreError> {
        let now = clock.now();
        let Stored { queues: loaded, tasks, seq_limit, tombstones } = store.load()?;
        let engine = Engine {
            clock,
            config,
            store,
            queues: RwLock::new(BTreeMap::new()),
            recently_deleted: Mutex::new(HashMap::new()),
            reloaded: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            stop_signal: tokio::sync::Notify::new(),
            move_tasks: Arc::new(MoveTasks::new(tasks)),
            move_task_driver: Mutex::new(None),
            seqs: SeqCounter::new(),
        };
        engine.seqs.restore_limit(seq_limit);
        for task in engine.move_tasks.records() {
            // A task resumed moves only what was in its queue when it started.
            engine.seqs.at_least(task.boundary_seq);
        }
        engine.restore_tombstones(tombstones);
        let mut queues = engine.queues.write();
        for q in loaded {
            let id = engine.stored_id(&q.record.name);
            let queue = Queue::restore(id.clone(), engine.arn_of(&id), q, now, &*engine.store, &engine.seqs);
            queues.insert(id, queue);
        }
        drop(queues);
        Ok(engine)
    }

    /// An engine that keeps everything in memory.
    pub fn in_memory(config: EngineConfig, clock: Arc<dyn Clock>) -> Engine {
        match Engine::open(config.clone(), clock.clone(), Arc::new(MemoryStore::default())) {
            Ok(e) => e,
            // MemoryStore::load cannot fail; keep the signature honest anyway.
            Err(_) => Engine {
                clock,
                config,
                store: Arc::new(MemoryStore::default()),
                queues: RwLock::new(BTreeMap::new()),
                recently_deleted: Mutex::new(HashMap::new()),
                reloaded: AtomicBool::new(false),
                stopping: AtomicBool::new(false),
                stop_signal: tokio::sync::Notify::new(),
                move_tasks: Arc::default(),
                move_task_driver: Mutex::new(None),
                seqs: SeqCounter::new(),
            },
        }
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Whether changes can be made: false while the store refuses commits (a full disk),
    /// until it heals.
    pub fn accepts_changes(&self) -> bool {
        self.store.health() == Health::Healthy
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    pub(crate) fn all_queues(&self) -> Vec<Arc<Queue>> {
        self.queues.read().values().cloned().collect()
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub fn arn_of(&self, id: &QueueId) -> String {
        id.arn(&self.config.region)
    }

    /// A stored queue's id: its record's name is `account/name` for a queue of another account
    /// than the configured one (a queue name has no `/`), and the bare name for the configured
    /// account's — so those follow `--account-id` if it changes, as they always have.
    fn stored_id(&self, stored: &str) -> QueueId {
        match stored.split_once('/') {
            Some((account, name)) => QueueId::new(account, name),
            None => QueueId::new(self.config.account_id.clone(), stored),
        }
    }

    /// The name a queue's record is stored under (see `stored_id`).
    pub(crate) fn stored_name(&self, id: &QueueId) -> String {
        if id.account == self.config.account_id {
            id.name.clone()
        } else {
            format!("{}/{}", id.account, id.name)
        }
    }

    pub(crate) fn queue(&self, id: &QueueId) -> Result<Arc<Queue>> {
        self.queues.read().get(id).cloned().ok_or(Error::QueueDoesNotExist)
    }

    /// The queue `id` names, as `caller` may reach it: its own account's unless the queue's
    /// policy denies the action, another account's only where the policy allows it (else
    /// AccessDenied, as AWS answers).
    pub fn queue_for(&self, caller: &Caller, id: &QueueId) -> Result<Arc<Queue>> {
        if caller.account == id.account && caller.call.is_none() {
            return self.queue(id);
        }
        // Another account's queue, or a request a policy may judge: refused as AWS refuses it.
        let queue = self.queue(id).map_err(|_| Error::QueueDoesNotExist)?;
        if !self.allows(caller, &queue) {
            return Err(Error::AccessDenied(queue.arn.clone()));
        }
        Ok(queue)
    }

    /// The one access decision (`access.rs`): the caller's own account's queues, unless their
    /// policy denies the action; another account's only where their policy allows it.
    fn allows(&self, caller: &Caller, queue: &Queue) -> bool {
        let Some(call) = &caller.call else { return caller.account == queue.id.account };
        // A batch is judged as its action (AWS: SendMessageBatch needs sqs:SendMessage).
        let action = call.action.strip_suffix("Batch").unwrap_or(&call.action);
        // Another account may only be granted what AddPermission can grant.
        if caller.account != queue.id.account && !crate::policy::ACTIONS[1..].contains(&action) {
            return false;
        }
        let policy = {
            let state = queue.state.lock();
            match &state.attrs.policy {
                // The common case, decided without copying anything.
                None => return caller.account == queue.id.account,
                Some(p) => p.clone(),
            }
        };
        let request = crate::access::Request {
            action,
            resource: &queue.arn,
            owner: &queue.id.account,
            account: &caller.account,
            source_ip: call.source_ip,
            secure_transport: call.secure_transport,
            now: self.clock.now(),
        };
        crate::access::permits(Some(&policy), &request)
    }
}

//! The SQS operations. Each reads the clock once and changes one queue under its lock.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use parking_lot::{Mutex, RwLock};

use crate::attributes::{DeduplicationScope, QueueAttributes, READABLE_NAMES};
use crate::clock::{Clock, Millis};
use crate::dlq::{self, HandOff, RedrivePolicy};
use crate::error::{Error, Result};
use crate::fifo;
use crate::message::{self, AttributeData, AttributeValue, Attributes, Content, NewMessage};
use crate::movetask::{self, MoveTasks, TaskRecord};
use crate::policy;
use crate::queue::{Counts, DeadLetter, Queue, QueueState, Received, SeqCounter, Seqs, MAX_WAKE};
use crate::queue_id::{Caller, QueueId};
use crate::receipt::ReceiptHandle;
use crate::store::{Change, Commit, Health, MemoryStore, QueueRecord, Store, StoreError, Stored};

const DELETE_COOLDOWN_MS: u64 = 60_000;
const PURGE_COOLDOWN_MS: u64 = 60_000;
const MAX_BATCH_ENTRIES: usize = 10;
const MAX_BATCH_BYTES: usize = 1_048_576;
const MAX_TAGS: usize = 50;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub region: String,
    pub account_id: String,
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

/// One queue as metrics see it.
#[derive(Debug, Clone)]
pub struct QueueMetrics {
    pub id: QueueId,
    pub arn: String,
    /// Named as the dead-letter target of some queue's RedrivePolicy.
    pub is_dead_letter_queue: bool,
    pub counts: Counts,
    /// Age of the oldest message, by its enqueue time.
    pub oldest_age_ms: Option<u64>,
    pub stats: crate::queue::Stats,
}

/// What SendMessage reports for one stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub message_id: String,
    pub md5_of_body: String,
    pub md5_of_attributes: Option<String>,
    pub md5_of_system_attributes: Option<String>,
    pub sequence_number: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ReceiveOptions {
    pub max_messages: Option<i64>,
    pub visibility_timeout: Option<i64>,
    pub wait_time_seconds: Option<i64>,
    /// FIFO: a retry within 5 minutes with the same id gets the same messages.
    pub attempt_id: Option<String>,
}

impl Engine {
    /// An engine over `store`, with every queue and message the store kept.
    pub fn open(config: EngineConfig, clock: Arc<dyn Clock>, store: Arc<dyn Store>) -> Result<Engine, StoreError> {
        let now = clock.now();
        let Stored { queues: loaded, tasks, seq_limit } = store.load()?;
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

    /// End every long poll now (they answer with what they have) and refuse to start more waits.
    pub fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop_signal.notify_waiters();
        for q in self.queues.read().values() {
            q.arrivals.notify_waiters();
        }
    }

    /// After a failed commit: rebuild every queue's index from what the store holds —
    /// dropping the changes that were never acknowledged, so that what the server shows and
    /// answers matches the disk again — at once, and again as the store recovers (it hands
    /// over its record before it accepts changes again). Returns whether it healed.
    pub fn heal(self: &Arc<Self>) -> Result<bool, StoreError> {
        if self.store.health() == Health::Healthy {
            return Ok(false);
        }
        // Holding the registry's write lock keeps new operations out meanwhile.
        let mut queues = self.queues.write();
        if !self.reloaded.swap(true, Ordering::SeqCst) {
            let stored = self.store.load()?;
            self.reload(&mut queues, stored);
        }
        self.store.recover(&mut |stored| {
            self.reload(&mut queues, stored);
            Ok(())
        })?;
        drop(queues);
        self.reloaded.store(false, Ordering::SeqCst);
        self.resume_tasks();
        Ok(true)
    }

    /// Replace the in-memory index by what the store holds (a queue of the same uid keeps its
    /// `Queue`, so waiters on it stay attached).
    fn reload(&self, queues: &mut BTreeMap<QueueId, Arc<Queue>>, stored: Stored) {
        let now = self.clock.now();
        let Stored { queues: loaded, tasks, seq_limit } = stored;
        self.seqs.forget_reservations_since(seq_limit);
        let mut fresh = BTreeMap::new();
        for q in loaded {
            let id = self.stored_id(&q.record.name);
            let queue = Queue::restore(id.clone(), self.arn_of(&id), q, now, &*self.store, &self.seqs);
            fresh.insert(id, queue);
        }
        for (name, old) in queues.iter() {
            match fresh.get(name) {
                Some(new) if new.uid == old.uid => {
                    let mut state = old.state.lock();
                    // The running totals are since the server started: they go on.
                    let stats = state.stats;
                    std::mem::swap(&mut *state, &mut *new.state.lock());
                    state.stats = stats;
                    drop(state);
                    fresh.insert(name.clone(), old.clone());
                }
                _ => {
                    old.state.lock().deleted = true;
                    old.arrivals.notify_waiters();
                }
            }
        }
        *queues = fresh;
        self.move_tasks.reload(tasks);
    }

    /// Watch the store and heal it when it fails (checks once a second of the clock).
    pub fn spawn_healer(self: &Arc<Self>) {
        let engine = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(e) = engine.upgrade() else { return };
                if e.is_stopping() {
                    return;
                }
                match e.heal() {
                    Ok(true) => tracing::warn!("store recovered; state reloaded from disk"),
                    Ok(false) => {}
                    Err(err) => tracing::warn!(error = %err, "store still failing"),
                }
                let wake = e.clock.sleep_until(e.clock.now() + 1000);
                let stopped = e.clone();
                drop(e);
                tokio::select! {
                    _ = wake => {}
                    _ = stopped.stopped() => return,
                }
            }
        });
    }

    /// `shutdown`, then wait for the move-task driver to stop (it holds the engine).
    pub async fn stop(&self) {
        self.shutdown();
        let driver = self.move_task_driver.lock().take();
        if let Some(driver) = driver {
            let _ = driver.await;
        }
        // Release the data directory now, even if a lingering connection still holds the engine.
        self.store.close();
    }

    /// Resolves once `shutdown` has been called.
    pub(crate) async fn stopped(&self) {
        let signal = self.stop_signal.notified();
        tokio::pin!(signal);
        signal.as_mut().enable();
        if !self.is_stopping() {
            signal.await;
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

    /// A stored queue's id: every stored queue belongs to the one configured account.
    fn stored_id(&self, name: &str) -> QueueId {
        QueueId::new(self.config.account_id.clone(), name)
    }

    pub(crate) fn queue(&self, id: &QueueId) -> Result<Arc<Queue>> {
        self.queues.read().get(id).cloned().ok_or(Error::QueueDoesNotExist)
    }

    /// The queue `id` names, as `caller` may reach it: the one access decision of the
    /// engine. A caller reaches its own account's queues; another account's queue does not
    /// exist for it (as AWS answers for a queue URL of another account without a Policy
    /// granting access).
    pub fn queue_for(&self, caller: &Caller, id: &QueueId) -> Result<Arc<Queue>> {
        if caller.account != id.account {
            return Err(Error::QueueDoesNotExist);
        }
        self.queue(id)
    }

    /// Wait until `commit` is durable; a store failure is the client's 503.
    pub(crate) async fn durable(commit: Commit) -> Result<()> {
        commit.await.map_err(|e| Engine::not_durable(&e))
    }

    /// A commit that failed, logged, as the client's 503.
    pub(crate) fn not_durable(e: &StoreError) -> Error {
        tracing_error(e);
        Error::ServiceUnavailable("The service is unavailable: the message store could not save the change.".into())
    }

    /// Apply `f` to a queue's state under its lock, submit the changes it made, and wait
    /// for them to be durable.
    async fn change<T>(
        &self,
        queue: &Arc<Queue>,
        f: impl FnOnce(&mut QueueState, &mut Vec<Change>) -> Result<T>,
    ) -> Result<T> {
        self.change_waking(queue, f, |_| 0).await
    }

    /// `change`, and wake `wakes(value)` long polls of the queue as soon as the changes are
    /// submitted rather than once they are durable: a woken receive submits its own changes
    /// after these, so it answers only once these are durable too, and the wait for the
    /// two commits overlaps instead of running one after the other.
    async fn change_waking<T>(
        &self,
        queue: &Arc<Queue>,
        f: impl FnOnce(&mut QueueState, &mut Vec<Change>) -> Result<T>,
        wakes: impl FnOnce(&T) -> usize,
    ) -> Result<T> {
        let mut changes = Vec::new();
        let (value, commit, next_visible) = {
            let mut state = queue.state.lock();
            if state.deleted {
                return Err(Error::QueueDoesNotExist);
            }
            let value = f(&mut state, &mut changes);
            // Changes made before an error (expiry) are kept too. A success that changed
            // nothing (a FIFO duplicate, a delete of a message already gone) still waits for
            // what was submitted before it — the change it repeats may not be durable yet, or
            // may have failed — so it is never acknowledged ahead of the store.
            let commit = if changes.is_empty() {
                value.is_ok().then(|| self.store.submit(Vec::new()))
            } else {
                Some(self.store.submit(changes))
            };
            (value, commit, state.next_pending_from(self.clock.now()))
        };
        if let Ok(v) = &value {
            queue.wake(wakes(v));
        }
        // A delayed send or a shorter visibility timeout may be the queue's next wake-up.
        queue.arm_timer_at(next_visible, &self.clock);
        if let Some(commit) = commit {
            Engine::durable(commit).await?;
        }
        value
    }

    /// The queue's record after `f` edits its state.
    async fn change_queue(&self, queue: &Arc<Queue>, f: impl FnOnce(&mut QueueState) -> Result<()>) -> Result<()> {
        self.change(queue, |state, changes| {
            f(state)?;
            changes.push(Change::PutQueue(queue.record(state)));
            Ok(())
        })
        .await
    }

    // ---- queues ----

    pub async fn create_queue(
        &self,
        caller: &Caller,
        name: &str,
        attributes: &BTreeMap<String, String>,
        tags: &BTreeMap<String, String>,
    ) -> Result<Arc<Queue>> {
        let now = self.clock.now();
        let id = caller.queue(name);
        let fifo_attr = attributes.get("FifoQueue").map(|v| v.eq_ignore_ascii_case("true"));
        validate_queue_name(name, fifo_attr == Some(true))?;
        let fifo = name.ends_with(".fifo");
        QueueAttributes::defaults(fifo).apply(attributes)?;
        self.check_redrive_target(&self.arn_of(&id), fifo, attributes)?;
        let (queue, commit) = 'found: {
            let mut queues = self.queues.write();
            if let Some(existing) = queues.get(&id) {
                let state = existing.state.lock();
                let proposed = state.attrs.apply(attributes)?;
                if let Some(differs) = attributes.keys().find(|k| proposed.get(k) != state.attrs.get(k)) {
                    return Err(Error::QueueAlreadyExists(format!(
                        "A queue already exists with the same name and a different value for attribute {differs}"
                    )));
                }
                // Tags given for an existing queue must be its tags (reported from AWS).
                if !tags.is_empty() && *tags != state.tags {
                    return Err(Error::QueueAlreadyExists(
                        "A queue already exists with the same name and different tags".into(),
                    ));
                }
                // Its creation may still be committing (or have failed): answer once it is durable.
                break 'found (existing.clone(), self.store.submit(Vec::new()));
            }
            if let Some(&deleted_at) = self.recently_deleted.lock().get(&id) {
                if now < deleted_at + DELETE_COOLDOWN_MS {
                    return Err(Error::QueueDeletedRecently);
                }
            }
            let attrs = QueueAttributes::defaults(fifo).apply(attributes)?;
            validate_tags(tags)?;
            let record = QueueRecord {
                name: name.to_string(),
                uid: rand::random(),
                created_at: now,
                last_modified: now,
                attributes: attrs,
                tags: tags.clone(),
                last_purge: None,
            };
            let queue = Queue::new(id.clone(), self.arn_of(&id), record.clone(), self.seqs.clone());
            queues.insert(id, queue.clone());
            (queue, self.store.submit(vec![Change::PutQueue(record)]))
        };
        Engine::durable(commit).await?;
        Ok(queue)
    }

    pub async fn delete_queue(&self, caller: &Caller, id: &QueueId) -> Result<()> {
        self.queue_for(caller, id)?;
        let commit = {
            let mut queues = self.queues.write();
            let queue = queues.remove(id).ok_or(Error::QueueDoesNotExist)?;
            queue.state.lock().deleted = true;
            self.recently_deleted.lock().insert(id.clone(), self.clock.now());
            queue.arrivals.notify_waiters();
            self.store.submit(vec![Change::DeleteQueue { uid: queue.uid }])
        };
        Engine::durable(commit).await
    }

    /// The caller's queues whose names start with `prefix`, in name order, `max` at a time.
    pub fn list_queues(
        &self,
        caller: &Caller,
        prefix: Option<&str>,
        max_results: Option<i64>,
        next_token: Option<&str>,
    ) -> Result<(Vec<QueueId>, Option<String>)> {
        let limit = match max_results {
            Some(n) if !(1..=1000).contains(&n) => return Err(Error::InvalidParameterValue(
                "Value for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000."
                    .into(),
            )),
            Some(n) => n as usize,
            None => 1000,
        };
        let after = match next_token.filter(|t| !t.is_empty()) {
            Some(t) => Some(decode_token(t)?),
            None => None,
        };
        let prefix = prefix.unwrap_or("");
        let queues = self.queues.read();
        let mut names = queues
            .keys()
            .filter(|id| id.account == caller.account && id.name.starts_with(prefix))
            .filter(|id| after.as_deref().is_none_or(|a| id.name.as_str() > a))
            .take(limit + 1)
            .cloned()
            .collect::<Vec<_>>();
        let more = names.len() > limit;
        names.truncate(limit);
        let token = match (more && max_results.is_some(), names.last()) {
            (true, Some(last)) => Some(URL_SAFE_NO_PAD.encode(&last.name)),
            _ => None,
        };
        Ok((names, token))
    }

    pub async fn purge_queue(&self, caller: &Caller, id: &QueueId) -> Result<usize> {
        let queue = self.queue_for(caller, id)?;
        let now = self.clock.now();
        self.change(&queue, |state, changes| {
            if state.last_purge.is_some_and(|t| now < t + PURGE_COOLDOWN_MS) {
                return Err(Error::PurgeQueueInProgress(queue.id.name.clone()));
            }
            state.last_purge = Some(now);
            let n = state.purge(queue.uid, changes);
            changes.push(Change::PutQueue(queue.record(state)));
            Ok(n)
        })
        .await
    }

    /// A snapshot of every queue's depth, age and totals, for metrics.
    pub fn metrics(&self) -> Vec<QueueMetrics> {
        let now = self.clock.now();
        let dlq_arns: std::collections::HashSet<String> = self
            .all_queues()
            .iter()
            .filter_map(|q| q.state.lock().attrs.redrive().map(|p| p.dead_letter_target_arn.clone()))
            .collect();
        self.all_queues()
            .iter()
            .map(|q| {
                // Only looks: messages past retention are the sweep's to delete.
                let mut state = q.state.lock();
                state.make_due_visible(now);
                let c = state.counts();
                // Still a dead-letter queue while it holds dead letters, even once no source
                // names it any more (its source deleted or its policy removed).
                let holds_dead_letters = state.stats.dead_letters_in > 0 && c.visible + c.in_flight + c.delayed > 0;
                QueueMetrics {
                    id: q.id.clone(),
                    arn: q.arn.clone(),
                    is_dead_letter_queue: dlq_arns.contains(&q.arn) || holds_dead_letters,
                    counts: state.counts(),
                    oldest_age_ms: state.oldest_enqueued_at().map(|t| now.saturating_sub(t)),
                    stats: state.stats,
                }
            })
            .collect()
    }

    /// Every move task, oldest first.
    pub fn move_tasks(&self) -> Vec<TaskRecord> {
        self.move_tasks.records()
    }

    // ---- move tasks: the component is `movetask`; these answer for it ----

    pub async fn start_message_move_task(
        self: &Arc<Self>,
        source_arn: &str,
        destination_arn: Option<&str>,
        max_per_second: Option<i64>,
    ) -> Result<String> {
        let (handle, commit) =
            self.move_tasks.start(&**self, source_arn, destination_arn, max_per_second, self.clock.now())?;
        self.resume_tasks();
        Engine::durable(commit).await?;
        Ok(handle)
    }

    /// Tasks of `source_arn`, newest first.
    pub fn list_message_move_tasks(&self, source_arn: &str, max_results: Option<i64>) -> Result<Vec<TaskRecord>> {
        self.move_tasks.list(self, source_arn, max_results)
    }

    /// Ask a RUNNING task to stop; returns how many messages it has moved.
    pub async fn cancel_message_move_task(&self, handle: &str) -> Result<u64> {
        let (moved, commit) = self.move_tasks.cancel(self, handle)?;
        Engine::durable(commit).await?;
        Ok(moved)
    }

    /// Start the move-task driver, once: the tasks a store kept RUNNING or CANCELLING resume,
    /// and tasks started later run.
    pub fn resume_tasks(self: &Arc<Self>) {
        let mut driver = self.move_task_driver.lock();
        if driver.is_none() && !self.is_stopping() {
            *driver = Some(movetask::driver::spawn(self.clone(), self.move_tasks.clone()));
        }
    }

    /// Lock a queue's state brought up to now. Messages dropped for retention are
    /// deleted from the store too, without waiting: nothing is acknowledged by it.
    fn observe<'q>(&self, queue: &'q Queue) -> parking_lot::MutexGuard<'q, QueueState> {
        let mut state = queue.state.lock();
        let mut changes = Vec::new();
        state.advance(queue.uid, self.clock.now(), &mut changes);
        if !changes.is_empty() {
            drop(self.store.submit(changes));
        }
        state
    }

    pub fn counts(&self, caller: &Caller, id: &QueueId) -> Result<Counts> {
        let queue = self.queue_for(caller, id)?;
        let state = self.observe(&queue);
        Ok(state.counts())
    }

    /// GetQueueAttributes: `All` or named attributes, in AWS's order.
    pub fn get_queue_attributes(
        &self,
        caller: &Caller,
        id: &QueueId,
        names: &[String],
    ) -> Result<Vec<(String, String)>> {
        for n in names {
            if n != "All" && !READABLE_NAMES.contains(&n.as_str()) {
                return Err(Error::InvalidAttributeName(format!("Unknown Attribute {n}.")));
            }
        }
        let queue = self.queue_for(caller, id)?;
        let all = names.iter().any(|n| n == "All");
        let state = self.observe(&queue);
        let counts = state.counts();
        let mut out = Vec::new();
        for &attr in READABLE_NAMES {
            if !all && !names.iter().any(|n| n == attr) {
                continue;
            }
            let value = match attr {
                "QueueArn" => Some(queue.arn.clone()),
                "ApproximateNumberOfMessages" => Some(counts.visible.to_string()),
                "ApproximateNumberOfMessagesNotVisible" => Some(counts.in_flight.to_string()),
                "ApproximateNumberOfMessagesDelayed" => Some(counts.delayed.to_string()),
                "CreatedTimestamp" => Some((queue.created_at / 1000).to_string()),
                "LastModifiedTimestamp" => Some((state.last_modified / 1000).to_string()),
                other => state.attrs.get(other),
            };
            if let Some(v) = value {
                out.push((attr.to_string(), v));
            }
        }
        Ok(out)
    }

    pub async fn set_queue_attributes(
        &self,
        caller: &Caller,
        id: &QueueId,
        attributes: &BTreeMap<String, String>,
    ) -> Result<()> {
        let queue = self.queue_for(caller, id)?;
        let now = self.clock.now();
        queue.state.lock().attrs.apply(attributes)?;
        self.check_redrive_target(&queue.arn, queue.is_fifo(), attributes)?;
        self.change(&queue, |state, changes| {
            let before = state.attrs.delay_seconds;
            state.attrs = state.attrs.apply(attributes)?;
            state.last_modified = now;
            changes.push(Change::PutQueue(queue.record(state)));
            // A FIFO queue's delay is retroactive (documented): it moves the end of the delay
            // of every message not yet received.
            if queue.is_fifo() && state.attrs.delay_seconds != before {
                let delay_ms = u64::from(state.attrs.delay_seconds) * 1000;
                state.redelay_unreceived(queue.uid, delay_ms, now, changes);
            }
            Ok(())
        })
        .await?;
        // A shorter retention or a new delay can change what is receivable.
        queue.arrivals.notify_waiters();
        Ok(())
    }

    pub async fn tag_queue(&self, caller: &Caller, id: &QueueId, tags: &BTreeMap<String, String>) -> Result<()> {
        let queue = self.queue_for(caller, id)?;
        if tags.is_empty() {
            return Err(Error::MissingParameter("Tags".into()));
        }
        validate_tags(tags)?;
        self.change_queue(&queue, |state| {
            let mut merged = state.tags.clone();
            merged.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
            if merged.len() > MAX_TAGS {
                return Err(Error::InvalidParameterValue(format!("Too many tags added for queue {id}.")));
            }
            state.tags = merged;
            Ok(())
        })
        .await
    }

    pub async fn untag_queue(&self, caller: &Caller, id: &QueueId, keys: &[String]) -> Result<()> {
        let queue = self.queue_for(caller, id)?;
        if keys.is_empty() || keys.iter().any(|k| k.is_empty() || k.chars().count() > 128) {
            return Err(Error::InvalidParameterValue(
                "Tag keys must be between 1 and 128 characters in length.".into(),
            ));
        }
        self.change_queue(&queue, |state| {
            for k in keys {
                state.tags.remove(k);
            }
            Ok(())
        })
        .await
    }

    pub fn list_queue_tags(&self, caller: &Caller, id: &QueueId) -> Result<BTreeMap<String, String>> {
        Ok(self.queue_for(caller, id)?.state.lock().tags.clone())
    }

    pub async fn add_permission(
        &self,
        caller: &Caller,
        id: &QueueId,
        label: &str,
        accounts: &[String],
        actions: &[String],
    ) -> Result<()> {
        let queue = self.queue_for(caller, id)?;
        self.change_queue(&queue, |state| {
            let policy = policy::add_statement(state.attrs.policy.as_deref(), &queue.arn, label, accounts, actions)?;
            state.attrs.policy = Some(policy);
            Ok(())
        })
        .await
    }

    pub async fn remove_permission(&self, caller: &Caller, id: &QueueId, label: &str) -> Result<()> {
        let queue = self.queue_for(caller, id)?;
        self.change_queue(&queue, |state| {
            state.attrs.policy = policy::remove_statement(state.attrs.policy.as_deref(), label)?;
            Ok(())
        })
        .await
    }

    // ---- messages ----

    pub async fn send_message(&self, caller: &Caller, id: &QueueId, message: NewMessage) -> Result<Sent> {
        let queue = self.queue_for(caller, id)?;
        let now = self.clock.now();
        let rules = SendRules::of(&queue.state.lock().attrs);
        let (content, delay_ms) = prepare(rules, message, caller.sender_id(), now, false)?;
        self.change_waking(
            &queue,
            |state, changes| Ok(accept(state, queue.uid, content, delay_ms, now, changes)),
            |_| 1,
        )
        .await
    }

    /// SendMessageBatch: batch-level rules first, then each entry on its own.
    pub async fn send_message_batch(
        &self,
        caller: &Caller,
        id: &QueueId,
        entries: Vec<(String, NewMessage)>,
    ) -> Result<Vec<(String, Result<Sent>)>> {
        check_batch(entries.iter().map(|(id, _)| id.as_str()), "SendMessageBatchRequestEntry")?;
        let queue = self.queue_for(caller, id)?;
        let total: usize = entries.iter().map(|(_, m)| message::message_size(&m.body, &m.attributes)).sum();
        if total > MAX_BATCH_BYTES {
            return Err(Error::BatchRequestTooLong { limit: MAX_BATCH_BYTES, sent: total });
        }
        let now = self.clock.now();
        let rules = SendRules::of(&queue.state.lock().attrs);
        if rules.fifo {
            // On a FIFO queue these fail the whole batch, unlike other entry errors (recorded on AWS).
            if entries.iter().any(|(_, m)| m.group_id.is_none()) {
                return Err(Error::InvalidParameterValue(
                    "The request must contain the parameter MessageGroupId.".into(),
                ));
            }
            if !rules.content_based_deduplication && entries.iter().any(|(_, m)| m.deduplication_id.is_none()) {
                return Err(Error::InvalidParameterValue(NO_DEDUP_ID.into()));
            }
        }
        let prepared: Vec<_> = entries
            .into_iter()
            .map(|(id, message)| (id, prepare(rules, message, caller.sender_id(), now, true)))
            .collect();
        self.change_waking(
            &queue,
            |state, changes| {
                Ok(prepared
                    .into_iter()
                    .map(|(id, p)| {
                        (id, p.map(|(content, delay_ms)| accept(state, queue.uid, content, delay_ms, now, changes)))
                    })
                    .collect::<Vec<_>>())
            },
            |results| results.iter().filter(|(_, r)| r.is_ok()).count(),
        )
        .await
    }

    /// ReceiveMessage, long-polling for up to the wait time. Returns as soon as a
    /// message is receivable: on send, on a visibility or delay expiry, or at the deadline.
    pub async fn receive_message(
        &self,
        caller: &Caller,
        id: &QueueId,
        options: ReceiveOptions,
    ) -> Result<Vec<Received>> {
        let max = match options.max_messages {
            None => 1,
            Some(n @ 1..=10) => n as usize,
            Some(n) => {
                return Err(Error::invalid_parameter(
                    n,
                    "MaxNumberOfMessages",
                    "Must be between 1 and 10, if provided.",
                ))
            }
        };
        if let Some(v) = options.visibility_timeout.filter(|v| !(0..=43_200).contains(v)) {
            return Err(Error::invalid_parameter(v, "VisibilityTimeout", "Must be >= 0 and <= 43200, if provided."));
        }
        if let Some(w) = options.wait_time_seconds.filter(|w| !(0..=20).contains(w)) {
            return Err(Error::invalid_parameter(w, "WaitTimeSeconds", "Must be >= 0 and <= 20, if provided."));
        }
        // Documented: up to 128 characters of a-z, A-Z, 0-9 and punctuation.
        if let Some(id) = options.attempt_id.as_deref().filter(|id| !is_printable_id(id)) {
            return Err(Error::invalid_parameter(
                id,
                "ReceiveRequestAttemptId",
                "ReceiveRequestAttemptId can only include alphanumeric and punctuation characters. 1 to 128 in length.",
            ));
        }
        let queue = self.queue_for(caller, id)?;
        let start = self.clock.now();
        let (visibility_ms, wait_ms) = {
            let state = queue.state.lock();
            let vt = options.visibility_timeout.map_or(u64::from(state.attrs.visibility_timeout), |v| v as u64);
            let wait = options
                .wait_time_seconds
                .map_or(u64::from(state.attrs.receive_message_wait_time_seconds), |w| w as u64);
            (vt * 1000, wait * 1000)
        };
        let deadline = start + wait_ms;
        if let Some(id) = &options.attempt_id {
            // A retry gets the same messages and handles, and their visibility timeout
            // starts again (documented for ReceiveRequestAttemptId) — unless one of them was
            // deleted or received again since, when the documentation rules the retry out:
            // then it is a new receive.
            let retried = self
                .change(&queue, |state, changes| {
                    let Some(earlier) = state.fifo.as_mut().and_then(|f| f.attempt(id, start)) else {
                        return Ok(None);
                    };
                    let unchanged = earlier
                        .iter()
                        .all(|r| ReceiptHandle::decode(&r.receipt_handle).is_some_and(|h| state.holds_receive(&h)));
                    if !unchanged {
                        if let Some(f) = state.fifo.as_mut() {
                            f.forget_attempt(id);
                        }
                        return Ok(None);
                    }
                    for r in &earlier {
                        if let Some(h) = ReceiptHandle::decode(&r.receipt_handle) {
                            let _ = state.change_visibility(
                                queue.uid,
                                &h,
                                &r.receipt_handle,
                                visibility_ms,
                                start,
                                changes,
                            );
                        }
                    }
                    Ok(Some(earlier))
                })
                .await?;
            if let Some(earlier) = retried {
                return Ok(earlier);
            }
        }
        loop {
            // Register for wake-ups before looking, so a send in between is not missed.
            let arrivals = queue.arrivals.notified();
            tokio::pin!(arrivals);
            arrivals.as_mut().enable();
            let now = self.clock.now();
            let stopping = self.stopping.load(Ordering::SeqCst);
            let got = self.receive_once(&queue, max, visibility_ms, now).await?;
            if !got.is_empty() && queue.state.lock().counts().visible > 0 {
                // Wake-ups are one per message: pass one on if this receive left some behind.
                queue.wake(1);
            }
            if !got.is_empty() || now >= deadline || stopping {
                if let (Some(id), false) = (&options.attempt_id, got.is_empty()) {
                    if let Some(f) = queue.state.lock().fifo.as_mut() {
                        f.remember_attempt(id.clone(), got.clone(), now);
                    }
                }
                return Ok(got);
            }
            // A message that becomes visible later (a visibility timeout or a delay ending)
            // wakes us through the queue's timer, whoever put it in flight and when (the
            // receive above armed it for what is pending now).
            tokio::select! {
                _ = &mut arrivals => {}
                _ = self.clock.sleep_until(deadline) => {}
            }
        }
    }

    /// One receive attempt, with the dead-letter hand-off. Source and DLQ are locked
    /// together (in uid order) so a moved message is in exactly one of them, in memory
    /// and — one submission, one transaction — on disk.
    async fn receive_once(
        &self,
        queue: &Arc<Queue>,
        max: usize,
        visibility_ms: u64,
        now: Millis,
    ) -> Result<Vec<Received>> {
        let policy = queue.state.lock().attrs.redrive().cloned();
        // A deleted DLQ leaves messages in the source, as on AWS.
        let dlq =
            policy.as_ref().and_then(|p| self.queue_by_arn(&p.dead_letter_target_arn)).filter(|d| d.uid != queue.uid);
        let mut changes = Vec::new();
        let (result, commit, moved, next_visible) = {
            let (mut src, mut dst) = Queue::lock_pair(queue, dlq.as_deref());
            if src.deleted {
                return Err(Error::QueueDoesNotExist);
            }
            src.advance(queue.uid, now, &mut changes);
            let dead_letter = match (&policy, dst.as_deref_mut(), dlq.as_deref()) {
                (Some(p), Some(state), Some(d)) if !state.deleted => Some(DeadLetter {
                    state,
                    uid: d.uid,
                    rule: HandOff { source_arn: &queue.arn, max_receive_count: p.max_receive_count, fifo: d.is_fifo() },
                    moved: 0,
                }),
                _ => None,
            };
            let result = src.receive(queue.uid, max, visibility_ms, now, &*self.store, dead_letter, &mut changes);
            let moved = changes.iter().any(|c| matches!(c, Change::PutMessage { .. }));
            let commit = (!changes.is_empty()).then(|| self.store.submit(changes));
            (result, commit, moved, src.next_pending_from(now))
        };
        // What this receive put in flight wakes other long polls when its timeout ends.
        queue.arm_timer_at(next_visible, &self.clock);
        // Waiters on the DLQ wake at submission, as for a send (`change_waking`).
        if moved {
            if let Some(d) = &dlq {
                d.wake(MAX_WAKE);
            }
        }
        if let Some(commit) = commit {
            Engine::durable(commit).await?;
        }
        result
    }

    /// The queue an ARN names, if it is one of this server's.
    pub fn queue_by_arn(&self, arn: &str) -> Option<Arc<Queue>> {
        self.queue(&QueueId::from_arn(arn, &self.config.region)?).ok()
    }

    /// Refuse a RedrivePolicy that `dlq::check_target` refuses for the queue it names.
    fn check_redrive_target(&self, source_arn: &str, fifo: bool, attributes: &BTreeMap<String, String>) -> Result<()> {
        let Some(raw) = attributes.get("RedrivePolicy").filter(|r| !r.is_empty()) else { return Ok(()) };
        let policy = RedrivePolicy::parse(raw)?;
        let target = self.queue_by_arn(&policy.dead_letter_target_arn);
        let allow = target.as_ref().and_then(|t| t.state.lock().attrs.redrive_allow_policy.clone());
        let target = target.as_deref().map(|t| dlq::Target { arn: &t.arn, fifo: t.is_fifo(), allow: allow.as_ref() });
        dlq::check_target(raw, source_arn, fifo, target)
    }

    /// The queues whose RedrivePolicy targets `id`, in name order, paged.
    pub fn list_dead_letter_source_queues(
        &self,
        caller: &Caller,
        id: &QueueId,
        max_results: Option<i64>,
        next_token: Option<&str>,
    ) -> Result<(Vec<QueueId>, Option<String>)> {
        let dlq = self.queue_for(caller, id)?;
        let limit = match max_results {
            Some(n) if !(1..=1000).contains(&n) => return Err(Error::InvalidParameterValue(
                "Value for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000."
                    .into(),
            )),
            Some(n) => n as usize,
            None => 1000,
        };
        let after = match next_token.filter(|t| !t.is_empty()) {
            Some(t) => Some(
                decode_token(t).map_err(|_| Error::InvalidParameterValue("Invalid or expired next token.".into()))?,
            ),
            None => None,
        };
        let queues: Vec<Arc<Queue>> = self.queues.read().values().cloned().collect();
        let mut names = queues
            .iter()
            .filter(|q| after.as_deref().is_none_or(|a| q.id.name.as_str() > a))
            .filter(|q| q.state.lock().attrs.redrive().is_some_and(|p| p.dead_letter_target_arn == dlq.arn))
            .map(|q| q.id.clone())
            .take(limit + 1)
            .collect::<Vec<_>>();
        let more = names.len() > limit;
        names.truncate(limit);
        let token = match (more && max_results.is_some(), names.last()) {
            (true, Some(last)) => Some(URL_SAFE_NO_PAD.encode(&last.name)),
            _ => None,
        };
        Ok((names, token))
    }

    fn handle_for(&self, queue: &Queue, text: &str) -> Result<ReceiptHandle> {
        ReceiptHandle::decode(text)
            .filter(|h| h.queue_uid == queue.uid)
            .ok_or_else(|| Error::ReceiptHandleIsInvalid(text.to_string()))
    }

    pub async fn delete_message(&self, caller: &Caller, id: &QueueId, receipt_handle: &str) -> Result<()> {
        let queue = self.queue_for(caller, id)?;
        let handle = self.handle_for(&queue, receipt_handle)?;
        let now = self.clock.now();
        // A delete releases a FIFO group: its next message may be receivable now.
        let fifo = queue.is_fifo();
        self.change_waking(
            &queue,
            |state, changes| state.delete(queue.uid, &handle, receipt_handle, now, changes),
            |_| usize::from(fifo),
        )
        .await
    }

    pub async fn delete_message_batch(
        &self,
        caller: &Caller,
        id: &QueueId,
        entries: &[(String, String)],
    ) -> Result<Vec<(String, Result<()>)>> {
        check_batch(entries.iter().map(|(id, _)| id.as_str()), "DeleteMessageBatchRequestEntry")?;
        let queue = self.queue_for(caller, id)?;
        let now = self.clock.now();
        let fifo = queue.is_fifo();
        self.change_waking(
            &queue,
            |state, changes| {
                Ok(entries
                    .iter()
                    .map(|(id, text)| {
                        let r =
                            self.handle_for(&queue, text).and_then(|h| state.delete(queue.uid, &h, text, now, changes));
                        (id.clone(), r)
                    })
                    .collect::<Vec<_>>())
            },
            |results| if fifo { results.len() } else { 0 },
        )
        .await
    }

    pub async fn change_message_visibility(
        &self,
        caller: &Caller,
        id: &QueueId,
        receipt_handle: &str,
        timeout: i64,
    ) -> Result<()> {
        if !(0..=43_200).contains(&timeout) {
            return Err(Error::invalid_parameter(timeout, "VisibilityTimeout", "Must be between 0 and 43200."));
        }
        let queue = self.queue_for(caller, id)?;
        let handle = self.handle_for(&queue, receipt_handle)?;
        let now = self.clock.now();
        self.change_waking(
            &queue,
            |state, changes| {
                state.advance(queue.uid, now, changes);
                state.change_visibility(queue.uid, &handle, receipt_handle, timeout as u64 * 1000, now, changes)
            },
            |woke| usize::from(*woke),
        )
        .await
        .map(|_| ())
    }

    pub async fn change_message_visibility_batch(
        &self,
        caller: &Caller,
        id: &QueueId,
        entries: &[(String, String, Option<i64>)],
    ) -> Result<Vec<(String, Result<()>)>> {
        check_batch(entries.iter().map(|(id, _, _)| id.as_str()), "ChangeMessageVisibilityBatchRequestEntry")?;
        let queue = self.queue_for(caller, id)?;
        let now = self.clock.now();
        // Each entry's result says whether it made its message visible now.
        let results = self
            .change_waking(
                &queue,
                |state, changes| {
                    state.advance(queue.uid, now, changes);
                    Ok(entries
                        .iter()
                        .enumerate()
                        .map(|(i, (id, text, timeout))| {
                            let r = match timeout {
                                None => Err(Error::MissingParameter(format!(
                                    "ChangeMessageVisibilityBatchRequestEntry.{}.VisibilityTimeout",
                                    i + 1
                                ))),
                                Some(t) if !(0..=43_200).contains(t) => Err(Error::invalid_parameter(
                                    t,
                                    "VisibilityTimeout",
                                    "VisibilityTimeout must be an integer between 0 and 43200.",
                                )),
                                Some(t) => self.handle_for(&queue, text).and_then(|h| {
                                    state.change_visibility(queue.uid, &h, text, *t as u64 * 1000, now, changes)
                                }),
                            };
                            (id.clone(), r)
                        })
                        .collect::<Vec<_>>())
                },
                |results| if results.iter().any(|(_, r)| *r == Ok(true)) { results.len() } else { 0 },
            )
            .await?;
        Ok(results.into_iter().map(|(id, r)| (id, r.map(|_| ()))).collect())
    }
}

/// What move tasks see of the engine: its queues and its store.
impl movetask::Queues for Engine {
    fn by_arn(&self, arn: &str) -> Option<Arc<Queue>> {
        self.queue_by_arn(arn)
    }

    fn is_dead_letter_queue(&self, queue: &Queue) -> bool {
        self.all_queues()
            .iter()
            .any(|q| q.state.lock().attrs.redrive().is_some_and(|p| p.dead_letter_target_arn == queue.arn))
    }

    fn store(&self) -> &dyn Store {
        &*self.store
    }
}

fn tracing_error(e: &StoreError) {
    tracing::error!(error = %e, "the store could not make a change durable");
}

/// What `prepare` needs of a queue's attributes, copied out under a short lock so that the
/// work on each message (validation, MD5, a MessageId) runs outside the queue's lock: under
/// it, two request threads sending batches to one queue took turns, one waiting idle.
#[derive(Clone, Copy)]
struct SendRules {
    fifo: bool,
    content_based_deduplication: bool,
    maximum_message_size: u32,
    delay_seconds: u32,
}

impl SendRules {
    fn of(attrs: &QueueAttributes) -> SendRules {
        SendRules {
            fifo: attrs.fifo_queue,
            content_based_deduplication: attrs.content_based_deduplication,
            maximum_message_size: attrs.maximum_message_size,
            delay_seconds: attrs.delay_seconds,
        }
    }
}

/// 1 to 128 characters of a-z, A-Z, 0-9 and ASCII punctuation: the rule for message group,
/// deduplication and receive attempt ids.
fn is_printable_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic())
}

/// Validate one message against the queue's rules and build its stored content.
/// `in_batch` picks AWS's wording for an oversized batch entry.
fn prepare(rules: SendRules, m: NewMessage, sender_id: &str, now: Millis, in_batch: bool) -> Result<(Content, u64)> {
    if m.body.is_empty() {
        return Err(Error::MissingParameter("MessageBody".into()));
    }
    message::check_characters(&m.body)?;
    message::validate_attributes(&m.attributes)?;
    message::validate_system_attributes(&m.system_attributes)?;
    let limit = rules.maximum_message_size as usize;
    if message::message_size(&m.body, &m.attributes) > limit {
        let verb = if in_batch { "cannot be validated" } else { "are invalid" };
        return Err(Error::InvalidParameterValue(format!(
            "One or more parameters {verb}. Reason: Message must be shorter than {limit} bytes."
        )));
    }
    for (param, value) in [("MessageGroupId", &m.group_id), ("MessageDeduplicationId", &m.deduplication_id)] {
        if let Some(v) = value {
            if !is_printable_id(v) {
                return Err(Error::invalid_parameter(
                    v,
                    param,
                    &format!("{param} can only include alphanumeric and punctuation characters. 1 to 128 in length."),
                ));
            }
        }
    }
    let mut deduplication_id = m.deduplication_id;
    if rules.fifo {
        if m.group_id.is_none() {
            return Err(Error::MissingParameter("MessageGroupId".into()));
        }
        if let Some(d) = m.delay_seconds.filter(|d| *d != 0) {
            return Err(Error::invalid_parameter(
                d,
                "DelaySeconds",
                "The request include parameter that is not valid for this queue type.",
            ));
        }
        if deduplication_id.is_none() && rules.content_based_deduplication {
            deduplication_id = Some(fifo::content_dedup_id(&m.body));
        }
        if deduplication_id.is_none() {
            return Err(Error::InvalidParameterValue(NO_DEDUP_ID.into()));
        }
    } else {
        if let Some(d) = &deduplication_id {
            return Err(Error::invalid_parameter(
                d,
                "MessageDeduplicationId",
                "The request includes a parameter that is not valid for this queue type.",
            ));
        }
    }
    let delay = match m.delay_seconds {
        // FIFO queues delay only at the queue level; an accepted 0 changes nothing.
        _ if rules.fifo => u64::from(rules.delay_seconds),
        Some(d) if !(0..=900).contains(&d) => {
            return Err(Error::invalid_parameter(d, "DelaySeconds", "DelaySeconds must be >= 0 and <= 900."))
        }
        Some(d) => d as u64,
        None => u64::from(rules.delay_seconds),
    };
    // The digest is of what the client sent; a trace header taken from the HTTP header is
    // not part of it, nor of the message's size (as on AWS).
    let md5_of_system_attributes = message::md5_of_attributes(&m.system_attributes);
    let mut system_attributes = m.system_attributes;
    if let Some(trace) = m.trace_header.filter(|t| !t.is_empty()) {
        system_attributes
            .entry("AWSTraceHeader".into())
            .or_insert(AttributeValue { data_type: "String".into(), value: AttributeData::String(trace) });
    }
    let content = Content {
        id: uuid::Uuid::new_v4().to_string(),
        md5_of_body: message::md5_hex(m.body.as_bytes()),
        md5_of_attributes: message::md5_of_attributes(&m.attributes),
        md5_of_system_attributes,
        body: m.body,
        attributes: m.attributes,
        system_attributes,
        sender_id: sender_id.to_string(),
        sent_at: now,
        dead_letter_source_arn: None,
        group_id: m.group_id,
        deduplication_id,
    };
    Ok((content, delay * 1000))
}

const NO_DEDUP_ID: &str =
    "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly";

/// Store a prepared message, or on a FIFO queue answer a duplicate within the
/// deduplication window with the message accepted first (not stored again).
fn accept(
    state: &mut QueueState,
    uid: u64,
    content: Content,
    delay_ms: u64,
    now: Millis,
    changes: &mut Vec<Change>,
) -> Sent {
    let mut sent = sent_of(&content);
    let key = match (&state.fifo, &content.group_id, &content.deduplication_id) {
        (Some(_), Some(group), Some(dedup)) => {
            Some(fifo::dedup_key(state.attrs.deduplication_scope == DeduplicationScope::MessageGroup, group, dedup))
        }
        _ => None,
    };
    if let (Some(key), Some(f)) = (&key, state.fifo.as_mut()) {
        let first = f.duplicate(key, now);
        changes.extend(f.lapsed.drain(..).map(|key| Change::DeleteDedup { queue: uid, key }));
        if let Some(first) = first {
            sent.message_id = first.message_id;
            sent.sequence_number = Some(first.sequence_number);
            return sent;
        }
    }
    let seq = state.insert(uid, Arc::new(content), now, delay_ms, now, changes);
    state.stats.sent += 1;
    if let (Some(key), Some(f)) = (key, state.fifo.as_mut()) {
        sent.sequence_number = Some(fifo::sequence_number(seq));
        changes.push(Change::PutDedup {
            queue: uid,
            key: key.clone(),
            message_id: sent.message_id.clone(),
            seq,
            expires_at: now + fifo::DEDUP_WINDOW_MS,
        });
        f.remember(
            key,
            fifo::Accepted { message_id: sent.message_id.clone(), sequence_number: fifo::sequence_number(seq) },
            now,
        );
    }
    sent
}

fn sent_of(c: &Content) -> Sent {
    Sent {
        message_id: c.id.clone(),
        md5_of_body: c.md5_of_body.clone(),
        md5_of_attributes: c.md5_of_attributes.clone(),
        md5_of_system_attributes: c.md5_of_system_attributes.clone(),
        sequence_number: None,
    }
}

/// Queue names: 1–80 characters of `[A-Za-z0-9_-]`, FIFO queues ending in `.fifo`.
fn validate_queue_name(name: &str, fifo_attr: bool) -> Result<()> {
    let fifo = name.ends_with(".fifo");
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    let chars_ok = !base.is_empty() && base.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    const FIFO_RULE: &str = "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.";
    const RULE: &str = "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length";
    // A `.fifo` name without FifoQueue=true is judged as a standard name, so the dot fails.
    match (fifo_attr, fifo) {
        (true, true) if chars_ok && name.len() <= 80 => Ok(()),
        (true, _) => Err(Error::InvalidParameterValue(FIFO_RULE.into())),
        (false, false) if chars_ok && name.len() <= 80 => Ok(()),
        (false, _) => Err(Error::InvalidParameterValue(RULE.into())),
    }
}

fn validate_tags(tags: &BTreeMap<String, String>) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(Error::InvalidParameterValue("Too many tags added.".into()));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(Error::InvalidParameterValue(format!(
                "Tag key '{k}' is invalid: a tag key must be 1 to 128 characters."
            )));
        }
        if k.starts_with("aws:") {
            return Err(Error::InvalidParameterValue(format!(
                "Tag key '{k}' is invalid: the prefix aws: is reserved for use by AWS."
            )));
        }
        if v.chars().count() > 256 {
            return Err(Error::InvalidParameterValue(format!(
                "Tag value for key '{k}' is invalid: a tag value can be at most 256 characters."
            )));
        }
        if !k.chars().chain(v.chars()).all(tag_char) {
            return Err(Error::InvalidParameterValue(format!(
                "Tag '{k}' is invalid: tag keys and values may contain only letters, digits, spaces and _ . : / = + - @."
            )));
        }
    }
    Ok(())
}

/// AWS's tag character set, `[\p{L}\p{Z}\p{N}_.:/=+\-@]` (quotas-queues.html).
fn tag_char(c: char) -> bool {
    c.is_alphanumeric()
        || (c.is_whitespace() && !c.is_control())
        || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
}

/// Batch rules shared by the three batch actions: 1–10 entries with distinct, well-formed ids.
pub fn check_batch<'a>(ids: impl Iterator<Item = &'a str> + Clone, entry_name: &'static str) -> Result<()> {
    let n = ids.clone().count();
    if n == 0 {
        return Err(Error::EmptyBatchRequest(entry_name));
    }
    if n > MAX_BATCH_ENTRIES {
        return Err(Error::TooManyEntriesInBatchRequest(n));
    }
    let mut seen = HashSet::new();
    for id in ids {
        if id.is_empty() || id.len() > 80 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(Error::InvalidBatchEntryId);
        }
        if !seen.insert(id) {
            return Err(Error::BatchEntryIdsNotDistinct(id.to_string()));
        }
    }
    Ok(())
}

fn decode_token(token: &str) -> Result<String> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| Error::InvalidParameterValue("Invalid NextToken value.".into()))
}

/// Refuse unknown names in AttributeNames / MessageSystemAttributeNames.
pub fn check_system_attribute_names(names: &[String]) -> Result<()> {
    const KNOWN: &[&str] = &[
        "All",
        "SenderId",
        "SentTimestamp",
        "ApproximateReceiveCount",
        "ApproximateFirstReceiveTimestamp",
        "AWSTraceHeader",
        "DeadLetterQueueSourceArn",
        "MessageDeduplicationId",
        "MessageGroupId",
        "SequenceNumber",
        "SqsManagedSseEnabled",
    ];
    // The SDK models type the older AttributeNames as queue attribute names, so typed clients
    // may send those; they name no message attribute and select nothing.
    let known = |n: &str| KNOWN.contains(&n) || crate::attributes::READABLE_NAMES.contains(&n);
    match names.iter().find(|n| !known(n)) {
        Some(n) => Err(Error::InvalidAttributeName(format!("Unknown Attribute {n}."))),
        None => Ok(()),
    }
}

/// The system attributes of a received message, as named by AttributeNames /
/// MessageSystemAttributeNames (`All` or individual names; check them first).
pub fn message_system_attributes(r: &Received, names: &[String]) -> BTreeMap<String, String> {
    let all = names.iter().any(|n| n == "All");
    let wants = |n: &str| all || names.iter().any(|x| x == n);
    let c = &r.content;
    let mut out = BTreeMap::new();
    let mut put = |n: &str, v: Option<String>| {
        if let Some(v) = v.filter(|_| wants(n)) {
            out.insert(n.to_string(), v);
        }
    };
    put("SenderId", Some(c.sender_id.clone()));
    put("SentTimestamp", Some(c.sent_at.to_string()));
    put("ApproximateReceiveCount", Some(r.receive_count.to_string()));
    put("ApproximateFirstReceiveTimestamp", Some(r.first_receive_at.to_string()));
    put(
        "AWSTraceHeader",
        c.system_attributes.get("AWSTraceHeader").and_then(|v| match &v.value {
            message::AttributeData::String(s) => Some(s.clone()),
            message::AttributeData::Binary(_) => None,
        }),
    );
    put("DeadLetterQueueSourceArn", c.dead_letter_source_arn.clone());
    put("MessageGroupId", c.group_id.clone());
    put("MessageDeduplicationId", c.deduplication_id.clone().filter(|_| r.sequence_number.is_some()));
    put("SequenceNumber", r.sequence_number.clone());
    out
}

/// The user attributes selected by MessageAttributeNames: `All`, `.*`, `prefix.*` or exact names.
pub fn select_message_attributes(attributes: &Attributes, names: &[String]) -> Attributes {
    attributes
        .iter()
        .filter(|(name, _)| {
            names.iter().any(|n| {
                n == "All"
                    || n == "*"
                    || n == ".*"
                    || n == *name
                    // `Hel.*` selects `Hello` and `Help.Me`: a plain prefix (recorded on AWS).
                    || n.strip_suffix(".*").is_some_and(|p| name.starts_with(p))
            })
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

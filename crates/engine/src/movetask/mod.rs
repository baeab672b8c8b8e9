//! Message move tasks: redrive from a dead-letter queue back to the sources (or to a
//! chosen queue), at full speed or at a capped rate.
//!
//! # Parts
//! - `record.rs`: `TaskRecord`, what the store keeps and ListMessageMoveTasks shows.
//! - `MoveTasks` (here): every task's record and each active task's `Run`; answers
//!   StartMessageMoveTask, ListMessageMoveTasks and CancelMessageMoveTask, and `tick(now)`
//!   steps every task that is due and says when the next step is.
//! - `run.rs`: one task's place in the state machine below. `rate.rs`: the rate cap.
//! - `batch.rs`: the queue side of a batch. The engine gives the component its queues
//!   through `Queues` (a queue by ARN, which queues are dead-letter queues, the store).
//! - `driver.rs`: the one tokio task for all move tasks: `tick`, then sleep through the
//!   engine's clock until the next deadline, the oldest submitted batch being durable, or a
//!   wake-up (a task started or cancelled, the records reloaded).
//!
//! # Batches
//! A task moves the messages that were in its source when it started (seq below
//! `boundary_seq`), oldest first, up to 1,000 per batch (10 under a rate cap). Each batch —
//! the deletes from the source, the new messages in the destination and the task's progress
//! — is one submission, made under both queues' locks and the records' lock, so after a
//! crash a message is in exactly one queue, the count matches, and the store never sees an
//! older count after a newer one or after a cancel. A task's next batch is prepared while
//! the store commits the one before: at most two of its batches are not yet durable.
//!
//! # States
//! AWS's statuses in capitals (kept in the record); Redrive's phases (`run::Phase`, memory
//! only) in brackets.
//! ```text
//!                     StartMessageMoveTask
//!                              │
//!                              ▼
//!     ┌──────────── RUNNING [Moving] ◄──┐ step: a batch; under a rate cap, wait
//!     │                  │    │    └────┘ (next deadline) until the window reopens
//!     │ CancelMessage-   │    └─ nothing left below the boundary ──► [Ending] ──► COMPLETED
//!     │ MoveTask         └─ source or destination gone, a message
//!     ▼                     without a source, a store failure ─────► [Ending] ──► FAILED
//! CANCELLING ── the task's next step ───────────────────────────────► [Ending] ──► CANCELLED
//! ```
//! [Ending] writes the final status once every batch submitted is durable; a batch that
//! never becomes durable turns any ending into FAILED (InternalError). CANCELLING lasts
//! until the task's next step: at once for a full-speed task, when the rate window reopens
//! for a capped one. After a restart a RUNNING task resumes in [Moving] and a CANCELLING one
//! ends at its first step; at shutdown the driver stops stepping and waits for what it
//! submitted, so tasks keep their status on disk.
//!
//! Safe redrive adds phases, not special cases: e.g. [Canary] moves N messages and hands
//! over to [Watching], whose step (due at its timeout, or when woken) checks the moved
//! messages: all deleted → [Moving]; one dead-lettered again or the timeout passed →
//! [Ending] FAILED with the reason. Halting on re-failure is one more transition out of
//! [Moving] and [Watching]: a step that finds too many moved messages back in the DLQ goes
//! to [Ending] FAILED. A phase that must survive a restart goes into the record as well.
//!
//! # Locks
//! Queue states before the records' lock, never the other way; `runs` is taken only by the
//! driver (`tick`, `settled`), before either. `reload` takes only the records' lock: the
//! engine calls it holding its registry's write lock, which `tick` needs to find queues.

mod batch;
pub(crate) mod driver;
mod rate;
pub mod record;
mod run;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::clock::Millis;
use crate::error::{Error, Result};
use crate::filter::Matcher;
use crate::peek::Peeked;
use crate::queue::Queue;
use crate::store::{Change, Commit, Store};
use record::{Handle, Moved, Progress, Stage};
pub use record::{TaskOptions, TaskRecord, TaskStatus};
use run::{Run, Step, Work};

/// At most this many tasks RUNNING or CANCELLING at once (AWS's per-account quota).
const MAX_ACTIVE: usize = 100;
/// Messages a dry run shows.
pub const DRY_RUN_SAMPLE: usize = 10;
/// MessageIds of messages that came back a record keeps.
const MAX_CAME_BACK: usize = 100;
/// Canary sizes allowed, and the default.
pub const CANARY_SIZES: std::ops::RangeInclusive<u32> = 1..=1000;
pub const DEFAULT_CANARY_SIZE: u32 = 10;
/// Longest a canary may wait for its messages to be deleted, and the default (ms).
pub const MAX_CANARY_TIMEOUT_MS: Millis = 12 * 3600 * 1000;
pub const DEFAULT_CANARY_TIMEOUT_MS: Millis = 5 * 60 * 1000;
/// Longest a task watches for messages that come back, and the default (ms).
pub const MAX_HALT_WINDOW_MS: Millis = 24 * 3600 * 1000;
pub const DEFAULT_HALT_WINDOW_MS: Millis = 5 * 60 * 1000;
/// How long an ended task's record is kept (ListMessageMoveTasks, the redrive history) after
/// it ended: AWS documents no period; a month of history is what an operator looking back at
/// an incident needs, and it bounds the record (docs/safe-redrive.md).
pub const MOVE_TASK_RETENTION_MS: Millis = 30 * 24 * 3600 * 1000;

/// What a task is asked to do: AWS's parameters and Redrive's options.
#[derive(Debug, Clone, Default)]
pub struct TaskRequest {
    pub source_arn: String,
    pub destination_arn: Option<String>,
    pub max_per_second: Option<i64>,
    pub options: TaskOptions,
}

/// What a task would move now.
#[derive(Debug, Clone)]
pub struct DryRun {
    pub matching: u64,
    /// Matching, but left by the loop guard.
    pub skipped: u64,
    pub sample: Vec<Peeked>,
}

impl TaskOptions {
    /// Redrive's options' limits, with the parameter and the reason.
    fn check(&self) -> Result<()> {
        let invalid = |param: &str, reason: String| Error::InvalidParameterValue(format!("{param}: {reason}"));
        if let Some(filter) = &self.filter {
            filter.check()?;
        }
        if let Some(c) = self.canary {
            if !CANARY_SIZES.contains(&c.size) {
                return Err(invalid(
                    "Canary.Size",
                    format!("Must be between {} and {}.", CANARY_SIZES.start(), CANARY_SIZES.end()),
                ));
            }
            if !(1000..=MAX_CANARY_TIMEOUT_MS).contains(&c.timeout_ms) {
                return Err(invalid(
                    "Canary.TimeoutSeconds",
                    format!("Must be between 1 and {}.", MAX_CANARY_TIMEOUT_MS / 1000),
                ));
            }
        }
        if let Some(h) = self.halt {
            if h.max_count.is_none() && h.max_percent.is_none() {
                return Err(invalid("Halt", "Give MaxCount, MaxPercent or both.".into()));
            }
            if h.max_percent.is_some_and(|p| p > 100) {
                return Err(invalid("Halt.MaxPercent", "Must be between 0 and 100.".into()));
            }
            if !(1000..=MAX_HALT_WINDOW_MS).contains(&h.window_ms) {
                return Err(invalid(
                    "Halt.WindowSeconds",
                    format!("Must be between 1 and {}.", MAX_HALT_WINDOW_MS / 1000),
                ));
            }
        }
        Ok(())
    }
}

/// A step's work on the queues, for one task.
struct TaskWork<'a> {
    tasks: &'a MoveTasks,
    queues: &'a dyn Queues,
    task: &'a TaskRecord,
    matcher: Option<&'a Matcher<'a>>,
    now: Millis,
}

impl Work for TaskWork<'_> {
    fn move_batch(&mut self, limit: usize, list_moved: bool) -> Result<Option<batch::Batch>, batch::Failed> {
        let p = &self.task.progress;
        let plan = batch::Plan {
            cursor: p.cursor,
            limit,
            matcher: self.matcher,
            max_redrives: self.task.options.max_redrives,
            count_skips: p.pass == 0,
            list_moved,
        };
        let (tasks, queues, id) = (self.tasks, self.queues, &self.task.id);
        batch::move_batch(queues, self.task, plan, self.now, |changes, done| {
            tasks.update(queues, id, changes, |t| {
                t.moved += done.moved;
                t.progress.pass_moved += done.moved;
                t.progress.skipped += done.skipped;
                t.progress.cursor = done.cursor;
                t.progress.canary.extend(done.listed);
            })
        })
    }

    fn still_there(&self, moved: &[Moved]) -> usize {
        moved.iter().filter(|m| self.queues.by_arn(&m.queue_arn).is_some_and(|q| q.state.lock().holds(m.seq))).count()
    }

    fn came_back(&self) -> u64 {
        self.tasks.record(&self.task.id).map_or(0, |t| t.progress.failed_again)
    }
}

/// What move tasks need of the engine's queues; the engine gives it.
pub(crate) trait Queues {
    /// The queue an ARN names, if it is one of this server's.
    fn by_arn(&self, arn: &str) -> Option<Arc<Queue>>;
    /// Whether the caller may see a task of the queue this ARN names (its account's, even
    /// if the queue is gone).
    fn may_see(&self, arn: &str) -> bool;
    /// Whether some queue's RedrivePolicy names this queue as its dead-letter queue.
    fn is_dead_letter_queue(&self, queue: &Queue) -> bool;
    /// Where every change goes, in the order memory made it.
    fn store(&self) -> &dyn Store;
}

/// The move tasks of one engine.
#[derive(Default)]
pub struct MoveTasks {
    records: Mutex<Records>,
    runs: Mutex<Runs>,
    /// Tells the driver to tick now: a task started or was cancelled, the records reloaded.
    wake: Notify,
}

#[derive(Default)]
struct Records {
    /// Every task, oldest first.
    all: Vec<TaskRecord>,
    /// Counts reloads: runs and submissions of an earlier generation are stale.
    generation: u64,
}

#[derive(Default)]
struct Runs {
    generation: u64,
    active: HashMap<String, Run>,
}

/// What one `tick` did.
pub(crate) struct Tick {
    /// When the next step is due; `None`: not before a submitted batch is durable or a wake-up.
    pub next: Option<Millis>,
    /// Submissions to see durable, in submission order.
    pub submitted: Vec<Submitted>,
}

/// A submission of a task: a batch, to be reported back with `settled`, or its final record.
pub(crate) struct Submitted {
    pub batch: Option<BatchOf>,
    pub commit: Commit,
}

/// Whose batch a submission is.
pub(crate) struct BatchOf {
    task: String,
    generation: u64,
}

impl MoveTasks {
    /// The tasks a store kept, oldest first.
    pub(crate) fn new(records: Vec<TaskRecord>) -> MoveTasks {
        MoveTasks { records: Mutex::new(Records { all: records, generation: 0 }), ..MoveTasks::default() }
    }

    /// Every task, oldest first.
    pub fn records(&self) -> Vec<TaskRecord> {
        self.records.lock().all.clone()
    }

    /// Forget the tasks that ended more than `MOVE_TASK_RETENTION_MS` before `now` (a record
    /// without an end time, from before end times were kept, counts from its start); the
    /// changes that forget them in the store.
    pub(crate) fn prune(&self, now: Millis) -> Vec<crate::store::Change> {
        let cutoff = now.saturating_sub(MOVE_TASK_RETENTION_MS);
        let mut records = self.records.lock();
        let mut forgotten = Vec::new();
        records.all.retain(|t| {
            let ended = t.progress.finished_at.unwrap_or(t.started_at);
            let keep = t.status.is_active() || ended >= cutoff;
            if !keep {
                forgotten.push(crate::store::Change::DeleteTask { started_at: t.started_at, id: t.id.clone() });
            }
            keep
        });
        forgotten
    }

    /// Replace every record by what the store holds (after the store failed): runs start
    /// again from the statuses kept, and batches still committing are forgotten.
    pub(crate) fn reload(&self, records: Vec<TaskRecord>) {
        let mut r = self.records.lock();
        r.all = records;
        r.generation += 1;
        drop(r);
        self.wake.notify_one();
    }

    /// Resolves when the driver should tick before its deadline.
    pub(crate) async fn woken(&self) {
        self.wake.notified().await
    }

    /// StartMessageMoveTask (and the extension's StartRedrive): the new task's handle, and
    /// its record's submission, to be awaited before answering.
    pub(crate) fn start(&self, queues: &dyn Queues, request: TaskRequest, now: Millis) -> Result<(String, Commit)> {
        let source = self.check(queues, &request)?;
        let rate = request.max_per_second.map(|r| r as u32);
        let (to_move, boundary_seq) = batch::snapshot(&source, queues.store(), now);
        let to_move = match &request.options.filter {
            // Only what the filter takes will move: count it now (a scan of the source).
            Some(filter) => {
                let matcher = filter.check()?;
                crate::peek::count(&source, queues.store(), now, boundary_seq, &matcher, request.options.max_redrives)?
                    .matching
            }
            None => to_move,
        };
        let stage = if request.options.canary.is_some() { Stage::Canary } else { Stage::Moving };
        let mut records = self.records.lock();
        let tasks = &mut records.all;
        if tasks.iter().any(|t| t.source_arn == source.arn && t.status.is_active()) {
            return Err(Error::InvalidParameterValue(
                "There is already a task running. Only one active task is allowed for a source queue arn at a given time."
                    .into(),
            ));
        }
        if tasks.iter().filter(|t| t.status.is_active()).count() >= MAX_ACTIVE {
            return Err(Error::OverLimit(format!(
                "You can have at most {MAX_ACTIVE} active message move tasks at a time."
            )));
        }
        // Start times are kept distinct (a task started in the same millisecond as the last
        // is stamped a millisecond later), so that newest-first survives a restart, where
        // tasks are read back by start time.
        let started_at = tasks.last().map_or(now, |last| now.max(last.started_at + 1));
        let record = TaskRecord {
            id: uuid::Uuid::new_v4().to_string(),
            source_arn: source.arn.clone(),
            destination_arn: request.destination_arn,
            max_per_second: rate,
            status: TaskStatus::Running,
            moved: 0,
            to_move,
            started_at,
            failure_reason: None,
            boundary_seq,
            options: request.options,
            progress: Progress { stage, ..Progress::default() },
        };
        // Submitted under the lock, before the driver can see the task and submit its batches.
        let commit = queues.store().submit(vec![Change::PutTask(Box::new(record.clone()))]);
        let handle = record.handle();
        tasks.push(record);
        drop(records);
        self.wake.notify_one();
        Ok((handle, commit))
    }

    /// What a task asked for would move now, moving nothing: how many messages, how many the
    /// loop guard would leave, and the first `sample` of them.
    pub(crate) fn dry_run(&self, queues: &dyn Queues, request: &TaskRequest, now: Millis) -> Result<DryRun> {
        let source = self.check(queues, request)?;
        let filter = request.options.filter.clone().unwrap_or_default();
        let matcher = filter.check()?;
        let (_, boundary) = batch::snapshot(&source, queues.store(), now);
        let mut sample = Vec::new();
        let counted = crate::peek::scan_matching(
            &source,
            queues.store(),
            now,
            boundary,
            &matcher,
            request.options.max_redrives,
            |peeked| {
                if sample.len() < DRY_RUN_SAMPLE {
                    sample.push(peeked);
                }
            },
        )?;
        Ok(DryRun { matching: counted.matching, skipped: counted.looped, sample })
    }

    /// A request's checks, as StartMessageMoveTask makes them, and Redrive's options'; the
    /// source queue.
    fn check(&self, queues: &dyn Queues, request: &TaskRequest) -> Result<Arc<Queue>> {
        let source_arn = request.source_arn.as_str();
        check_arn_format(source_arn, "SourceArn")?;
        let source = queues.by_arn(source_arn).ok_or_else(|| not_found("SourceArn"))?;
        if !queues.is_dead_letter_queue(&source) {
            return Err(Error::InvalidParameterValue("Source queue must be configured as a Dead Letter Queue.".into()));
        }
        if let Some(dest) = request.destination_arn.as_deref() {
            check_arn_format(dest, "DestinationArn")?;
            if dest == source_arn {
                return Err(Error::InvalidParameterValue(
                    "Source queue arn and destination queue arn cannot be the same.".into(),
                ));
            }
            let d = queues.by_arn(dest).ok_or_else(|| not_found("DestinationArn"))?;
            if d.is_fifo() != source.is_fifo() {
                return Err(Error::InvalidParameterValue(
                    "The source queue and destination queue must be of the same queue type.".into(),
                ));
            }
        }
        if request.max_per_second.is_some_and(|r| !(1..=500).contains(&r)) {
            return Err(Error::InvalidParameterValue(
                "Value for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: You must enter a number that's between 1 and 500."
                    .into(),
            ));
        }
        request.options.check()?;
        Ok(source)
    }

    /// ListMessageMoveTasks: the tasks of `source_arn`, newest first.
    pub(crate) fn list(
        &self,
        queues: &dyn Queues,
        source_arn: &str,
        max_results: Option<i64>,
    ) -> Result<Vec<TaskRecord>> {
        let max = match max_results {
            None => 1,
            Some(n @ 1..=10) => n as usize,
            Some(_) => return Err(Error::InvalidParameterValue(
                "Value for parameter MaxResults is invalid. Reason: You must enter a number that's between 1 and 10."
                    .into(),
            )),
        };
        check_arn_format(source_arn, "SourceArn")?;
        let source = queues.by_arn(source_arn).ok_or_else(|| not_found("SourceArn"))?;
        // A queue created again under the same name does not inherit the old one's tasks.
        let own = |t: &&TaskRecord| t.source_arn == source.arn && t.started_at >= source.created_at;
        Ok(self.records.lock().all.iter().rev().filter(own).take(max).cloned().collect())
    }

    /// CancelMessageMoveTask: the task turns CANCELLING (CANCELLED at its next step).
    /// Returns how many messages it has moved, and the record's submission.
    pub(crate) fn cancel(&self, queues: &dyn Queues, handle: &str) -> Result<(u64, Commit)> {
        let decoded = Handle::decode(handle)
            .ok_or_else(|| Error::InvalidParameterValue("Value for parameter TaskHandle is invalid.".into()))?;
        queues.by_arn(&decoded.source_arn).ok_or_else(|| not_found("SourceArn"))?;
        let mut records = self.records.lock();
        let task = records
            .all
            .iter_mut()
            .find(|t| t.id == decoded.task_id && t.source_arn == decoded.source_arn)
            .ok_or_else(|| Error::ResourceNotFound("Task does not exist.".into()))?;
        if task.status != TaskStatus::Running {
            return Err(Error::InvalidParameterValue("Only active tasks can be cancelled.".into()));
        }
        task.status = TaskStatus::Cancelling;
        // Submitted under the lock, like a batch's progress (`update`).
        let result = (task.moved, queues.store().submit(vec![Change::PutTask(Box::new(task.clone()))]));
        drop(records);
        self.wake.notify_one();
        Ok(result)
    }

    /// Step every active task that is due at `now`, as far as it goes without waiting.
    pub(crate) fn tick(&self, queues: &dyn Queues, now: Millis) -> Tick {
        let mut tick = Tick { next: None, submitted: Vec::new() };
        let mut runs = self.runs.lock();
        let (generation, active) = {
            let r = self.records.lock();
            (r.generation, r.all.iter().filter(|t| t.status.is_active()).map(|t| t.id.clone()).collect::<Vec<_>>())
        };
        if runs.generation != generation {
            runs.active.clear();
            runs.generation = generation;
        }
        runs.active.retain(|id, _| active.contains(id));
        for id in &active {
            let ended = loop {
                // The record as it is now: each step may have changed its progress, and a
                // cancel or a message coming back may have come since.
                let Some(task) = self.record(id).filter(|t| t.status.is_active()) else { break true };
                let run = runs.active.entry(id.clone()).or_insert_with(|| Run::new(&task));
                let step = match task.options.filter.as_ref().map(|f| f.check()).transpose() {
                    Ok(matcher) => {
                        let mut work = TaskWork { tasks: self, queues, task: &task, matcher: matcher.as_ref(), now };
                        run.step(&task, now, &mut work)
                    }
                    // Checked at the start; a record that fails it now cannot run.
                    Err(e) => Step::End(TaskStatus::Failed, Some(e.to_string())),
                };
                let changed = match step {
                    Step::Submitted(b) => {
                        // Receivers of the destination wake at submission; their own commits
                        // follow the batch's, as for a send.
                        if let Some(d) = &b.destination {
                            d.wake(b.moved);
                        }
                        let batch = BatchOf { task: id.clone(), generation };
                        tick.submitted.push(Submitted { batch: Some(batch), commit: b.commit });
                        continue;
                    }
                    Step::Stage(stage) => self.update(queues, id, Vec::new(), |t| t.progress.stage = stage),
                    Step::NextPass => self.update(queues, id, Vec::new(), |t| {
                        t.progress.cursor = 0;
                        t.progress.pass += 1;
                        t.progress.pass_moved = 0;
                    }),
                    Step::WaitUntil(at) => {
                        tick.next = Some(tick.next.map_or(at, |next| next.min(at)));
                        break false;
                    }
                    Step::WaitDurable => break false,
                    Step::Again => continue,
                    Step::End(status, reason) => {
                        let end = self.update(queues, id, Vec::new(), |t| {
                            t.status = status;
                            t.failure_reason = reason;
                            t.progress.finished_at = Some(now);
                        });
                        tick.submitted.extend(end.map(|commit| Submitted { batch: None, commit }));
                        break true;
                    }
                };
                tick.submitted.extend(changed.map(|commit| Submitted { batch: None, commit }));
            };
            if ended {
                runs.active.remove(id);
            }
        }
        tick
    }

    /// Submit a receive's changes, in which messages moved by tasks came back to a dead-letter
    /// queue (`arrivals`: each one's task and MessageId): each task counts them, and its
    /// record goes with the changes, under the records' lock like every record.
    pub(crate) fn submit_with_arrivals(
        &self,
        store: &dyn Store,
        mut changes: Vec<Change>,
        arrivals: &[(&str, &str)],
    ) -> Commit {
        let mut records = self.records.lock();
        let mut touched = Vec::new();
        for &(task, message_id) in arrivals {
            if let Some(t) = records.all.iter_mut().find(|t| t.id == task) {
                t.progress.failed_again += 1;
                if t.progress.came_back.len() < MAX_CAME_BACK {
                    t.progress.came_back.push(message_id.to_string());
                }
                if !touched.contains(&task) {
                    touched.push(task);
                }
            }
        }
        for task in touched {
            if let Some(t) = records.all.iter().find(|t| t.id == task) {
                changes.push(Change::PutTask(Box::new(t.clone())));
            }
        }
        let commit = store.submit(changes);
        drop(records);
        self.wake.notify_one();
        commit
    }

    /// A batch `tick` submitted is durable, or (`Err`) will never be.
    pub(crate) fn settled(&self, batch: BatchOf, result: Result<()>) {
        let mut runs = self.runs.lock();
        if runs.generation != batch.generation {
            return;
        }
        if let Some(run) = runs.active.get_mut(&batch.task) {
            run.settled(result);
        }
    }

    fn record(&self, id: &str) -> Option<TaskRecord> {
        self.records.lock().all.iter().find(|t| t.id == id).cloned()
    }

    /// The task a handle names, among the queues the caller reaches.
    pub(crate) fn describe(&self, queues: &dyn Queues, handle: &str) -> Result<TaskRecord> {
        let decoded = Handle::decode(handle)
            .ok_or_else(|| Error::InvalidParameterValue("Value for parameter TaskHandle is invalid.".into()))?;
        queues.by_arn(&decoded.source_arn).ok_or_else(|| not_found("SourceArn"))?;
        self.record(&decoded.task_id)
            .filter(|t| t.source_arn == decoded.source_arn)
            .ok_or_else(|| Error::ResourceNotFound("Task does not exist.".into()))
    }

    /// Every task whose source the caller reaches (or one source's), newest first: the
    /// redrive history.
    pub(crate) fn history(&self, queues: &dyn Queues, source_arn: Option<&str>) -> Vec<TaskRecord> {
        let records = self.records.lock().all.clone();
        records
            .into_iter()
            .rev()
            .filter(|t| source_arn.is_none_or(|s| t.source_arn == s) && queues.may_see(&t.source_arn))
            .collect()
    }

    /// Change a task's record and submit it to the store, after `changes`, in one submission
    /// made under the records' lock: records reach the store in the order memory changed
    /// them, so a batch's progress cannot overwrite a cancel, nor an older count a newer one.
    fn update(
        &self,
        queues: &dyn Queues,
        id: &str,
        mut changes: Vec<Change>,
        f: impl FnOnce(&mut TaskRecord),
    ) -> Option<Commit> {
        let mut records = self.records.lock();
        let t = records.all.iter_mut().find(|t| t.id == id)?;
        f(t);
        changes.push(Change::PutTask(Box::new(t.clone())));
        Some(queues.store().submit(changes))
    }
}

fn check_arn_format(arn: &str, param: &str) -> Result<()> {
    match crate::queue_id::parse_arn(arn) {
        Some(_) => Ok(()),
        None => Err(Error::InvalidParameterValue(format!(
            "You must use this format to specify the {param}: arn:<partition>:<service>:<region>:<account-id>:<resource-id>"
        ))),
    }
}

fn not_found(param: &str) -> Error {
    Error::ResourceNotFound(format!("The resource that you specified for the {param} parameter doesn't exist."))
}

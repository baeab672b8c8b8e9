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
use crate::queue::Queue;
use crate::store::{Change, Commit, Store};
use record::Handle;
pub use record::{TaskRecord, TaskStatus};
use run::{Run, Step};

/// At most this many tasks RUNNING or CANCELLING at once (AWS's per-account quota).
const MAX_ACTIVE: usize = 100;

/// What move tasks need of the engine's queues; the engine gives it.
pub(crate) trait Queues {
    /// The queue an ARN names, if it is one of this server's.
    fn by_arn(&self, arn: &str) -> Option<Arc<Queue>>;
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

    /// StartMessageMoveTask: the new task's handle, and its record's submission, to be
    /// awaited before answering.
    pub(crate) fn start(
        &self,
        queues: &dyn Queues,
        source_arn: &str,
        destination_arn: Option<&str>,
        max_per_second: Option<i64>,
        now: Millis,
    ) -> Result<(String, Commit)> {
        check_arn_format(source_arn, "SourceArn")?;
        let source = queues.by_arn(source_arn).ok_or_else(|| not_found("SourceArn"))?;
        if !queues.is_dead_letter_queue(&source) {
            return Err(Error::InvalidParameterValue("Source queue must be configured as a Dead Letter Queue.".into()));
        }
        if let Some(dest) = destination_arn {
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
        let rate = match max_per_second {
            None => None,
            Some(r @ 1..=500) => Some(r as u32),
            Some(_) => {
                return Err(Error::InvalidParameterValue(
                    "Value for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: You must enter a number that's between 1 and 500."
                        .into(),
                ))
            }
        };
        let (to_move, boundary_seq) = batch::snapshot(&source, queues.store(), now);
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
            destination_arn: destination_arn.map(str::to_string),
            max_per_second: rate,
            status: TaskStatus::Running,
            moved: 0,
            to_move,
            started_at,
            failure_reason: None,
            boundary_seq,
        };
        // Submitted under the lock, before the driver can see the task and submit its batches.
        let commit = queues.store().submit(vec![Change::PutTask(record.clone())]);
        let handle = record.handle();
        tasks.push(record);
        drop(records);
        self.wake.notify_one();
        Ok((handle, commit))
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
        let result = (task.moved, queues.store().submit(vec![Change::PutTask(task.clone())]));
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
            (r.generation, r.all.iter().filter(|t| t.status.is_active()).cloned().collect::<Vec<_>>())
        };
        if runs.generation != generation {
            runs.active.clear();
            runs.generation = generation;
        }
        runs.active.retain(|id, _| active.iter().any(|t| t.id == *id));
        for task in &active {
            let run = runs.active.entry(task.id.clone()).or_insert_with(|| Run::new(task));
            let mut status = task.status;
            let ended = loop {
                let step = run.step(status, now, |limit| {
                    batch::move_batch(queues, task, limit, now, |changes, moved| {
                        self.update(queues, &task.id, changes, |t| t.moved += moved)
                    })
                });
                match step {
                    Step::Submitted(b) => {
                        // Receivers of the destination wake at submission; their own commits
                        // follow the batch's, as for a send.
                        b.destination.wake(b.moved);
                        let batch = BatchOf { task: task.id.clone(), generation };
                        tick.submitted.push(Submitted { batch: Some(batch), commit: b.commit });
                    }
                    Step::WaitUntil(at) => {
                        tick.next = Some(tick.next.map_or(at, |next| next.min(at)));
                        break false;
                    }
                    Step::WaitDurable => break false,
                    Step::End(status, reason) => {
                        let end = self.update(queues, &task.id, Vec::new(), |t| {
                            t.status = status;
                            t.failure_reason = reason;
                        });
                        tick.submitted.extend(end.map(|commit| Submitted { batch: None, commit }));
                        break true;
                    }
                }
                // A cancel may have come since.
                match self.status_of(&task.id) {
                    Some(s) if s.is_active() => status = s,
                    _ => break true,
                }
            };
            if ended {
                runs.active.remove(&task.id);
            }
        }
        tick
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

    fn status_of(&self, id: &str) -> Option<TaskStatus> {
        self.records.lock().all.iter().find(|t| t.id == id).map(|t| t.status)
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
        changes.push(Change::PutTask(t.clone()));
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

//! Message move tasks: redrive from a dead-letter queue back to the sources (or to a
//! chosen queue), at full speed or at a capped rate.
//!
//! A task moves the messages that were in its source when it started (seq below
//! `boundary_seq`), oldest first, in batches. Each batch — the deletes from the source,
//! the new messages in the destination and the task's progress — is one submission, so
//! after a crash a message is in exactly one queue and the count matches; a task that was
//! RUNNING resumes on restart. States: RUNNING → COMPLETED | FAILED, and
//! RUNNING → CANCELLING (observable until the runner's next step) → CANCELLED.

use std::collections::VecDeque;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::dlq::parse_arn;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::message::{Content, SharedContent};
use crate::queue::Queue;
use crate::store::{Change, Commit};

/// Messages per batch when no rate is set.
const FULL_SPEED_BATCH: usize = 1000;
/// At most this many tasks RUNNING or CANCELLING at once (AWS's per-account quota).
const MAX_ACTIVE: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskStatus {
    Running,
    Cancelling,
    Cancelled,
    Completed,
    Failed,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Running => "RUNNING",
            TaskStatus::Cancelling => "CANCELLING",
            TaskStatus::Cancelled => "CANCELLED",
            TaskStatus::Completed => "COMPLETED",
            TaskStatus::Failed => "FAILED",
        }
    }

    pub fn is_active(self) -> bool {
        matches!(self, TaskStatus::Running | TaskStatus::Cancelling)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub id: String,
    pub source_arn: String,
    pub destination_arn: Option<String>,
    pub max_per_second: Option<u32>,
    pub status: TaskStatus,
    pub moved: u64,
    pub to_move: u64,
    pub started_at: Millis,
    pub failure_reason: Option<String>,
    /// Messages of the source with a smaller seq were there when the task started.
    pub boundary_seq: u64,
}

impl TaskRecord {
    /// AWS's handle: base64 of `{"taskId":…,"sourceArn":…}` (docs/aws-reference.md §5).
    pub fn handle(&self) -> String {
        // Written by hand to keep AWS's key order; each value is JSON-escaped by serde.
        let text = |v: &str| serde_json::Value::String(v.to_string()).to_string();
        STANDARD.encode(format!(r#"{{"taskId":{},"sourceArn":{}}}"#, text(&self.id), text(&self.source_arn)))
    }
}

#[derive(Deserialize)]
struct Handle {
    #[serde(rename = "taskId")]
    task_id: String,
    #[serde(rename = "sourceArn")]
    source_arn: String,
}

fn arn_format(arn: &str, param: &str) -> Result<()> {
    match parse_arn(arn) {
        Some(_) => Ok(()),
        None => Err(Error::InvalidParameterValue(format!(
            "You must use this format to specify the {param}: arn:<partition>:<service>:<region>:<account-id>:<resource-id>"
        ))),
    }
}

fn not_found(param: &str) -> Error {
    Error::ResourceNotFound(format!("The resource that you specified for the {param} parameter doesn't exist."))
}

/// Why a batch could not be moved.
enum Stop {
    Failed(String),
    Store(Error),
}

impl Engine {
    pub async fn start_message_move_task(
        self: &Arc<Self>,
        source_arn: &str,
        destination_arn: Option<&str>,
        max_per_second: Option<i64>,
    ) -> Result<String> {
        arn_format(source_arn, "SourceArn")?;
        let source = self.queue_by_arn(source_arn).ok_or_else(|| not_found("SourceArn"))?;
        let is_dlq = self
            .all_queues()
            .iter()
            .any(|q| q.state.lock().attrs.redrive().is_some_and(|p| p.dead_letter_target_arn == source.arn));
        if !is_dlq {
            return Err(Error::InvalidParameterValue("Source queue must be configured as a Dead Letter Queue.".into()));
        }
        if let Some(dest) = destination_arn {
            arn_format(dest, "DestinationArn")?;
            if dest == source_arn {
                return Err(Error::InvalidParameterValue(
                    "Source queue arn and destination queue arn cannot be the same.".into(),
                ));
            }
            let d = self.queue_by_arn(dest).ok_or_else(|| not_found("DestinationArn"))?;
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
        let now = self.clock().now();
        let (to_move, boundary_seq) = {
            let mut changes = Vec::new();
            let mut state = source.state.lock();
            state.advance(source.uid, now, &mut changes);
            if !changes.is_empty() {
                drop(self.store().submit(changes));
            }
            // Every message the task may move: those in flight or delayed now move too once
            // they are visible, if that is before the task ends.
            let c = state.counts();
            ((c.visible + c.in_flight + c.delayed) as u64, state.next_seq())
        };
        let record = {
            let mut tasks = self.tasks().lock();
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
            // Start times are kept distinct (a task started in the same millisecond as the
            // last is stamped a millisecond later), so that newest-first survives a restart,
            // where tasks are read back by start time.
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
            tasks.push(record.clone());
            record
        };
        self.persist_task(&record).await?;
        self.spawn_task(record.id.clone());
        Ok(record.handle())
    }

    /// Tasks of `source_arn`, newest first.
    pub fn list_message_move_tasks(&self, source_arn: &str, max_results: Option<i64>) -> Result<Vec<TaskRecord>> {
        let max = match max_results {
            None => 1,
            Some(n @ 1..=10) => n as usize,
            Some(_) => return Err(Error::InvalidParameterValue(
                "Value for parameter MaxResults is invalid. Reason: You must enter a number that's between 1 and 10."
                    .into(),
            )),
        };
        arn_format(source_arn, "SourceArn")?;
        let source = self.queue_by_arn(source_arn).ok_or_else(|| not_found("SourceArn"))?;
        let tasks = self.tasks().lock();
        // A queue created again under the same name does not inherit the old one's tasks.
        let own = |t: &&TaskRecord| t.source_arn == source.arn && t.started_at >= source.created_at;
        Ok(tasks.iter().rev().filter(own).take(max).cloned().collect())
    }

    /// Ask a RUNNING task to stop; returns how many messages it has moved.
    pub async fn cancel_message_move_task(&self, handle: &str) -> Result<u64> {
        let invalid = || Error::InvalidParameterValue("Value for parameter TaskHandle is invalid.".into());
        let decoded: Handle =
            STANDARD.decode(handle.trim()).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or_else(invalid)?;
        self.queue_by_arn(&decoded.source_arn).ok_or_else(|| not_found("SourceArn"))?;
        let (moved, commit) = {
            let mut tasks = self.tasks().lock();
            let task = tasks
                .iter_mut()
                .find(|t| t.id == decoded.task_id && t.source_arn == decoded.source_arn)
                .ok_or_else(|| Error::ResourceNotFound("Task does not exist.".into()))?;
            if task.status != TaskStatus::Running {
                return Err(Error::InvalidParameterValue("Only active tasks can be cancelled.".into()));
            }
            task.status = TaskStatus::Cancelling;
            // Submitted under the lock, like a batch's progress (`update_task`).
            (task.moved, self.store().submit(vec![Change::PutTask(task.clone())]))
        };
        Engine::durable(commit).await?;
        Ok(moved)
    }

    /// Start runners for the tasks a store kept RUNNING or CANCELLING (after a restart).
    pub fn resume_tasks(self: &Arc<Self>) {
        let active: Vec<String> =
            self.tasks().lock().iter().filter(|t| t.status.is_active()).map(|t| t.id.clone()).collect();
        for id in active {
            self.spawn_task(id);
        }
    }

    fn spawn_task(self: &Arc<Self>, id: String) {
        let engine = self.clone();
        let handle = tokio::spawn(async move { engine.run_task(id).await });
        self.runners().lock().push(handle);
    }

    async fn persist_task(&self, record: &TaskRecord) -> Result<()> {
        Engine::durable(self.store().submit(vec![Change::PutTask(record.clone())])).await
    }

    fn task(&self, id: &str) -> Option<TaskRecord> {
        self.tasks().lock().iter().find(|t| t.id == id).cloned()
    }

    /// Change a task's record and submit it to the store, after `changes`, in one submission
    /// made under the tasks' lock: records reach the store in the order memory changed them,
    /// so a batch's progress cannot overwrite a cancel, nor an older count a newer one.
    fn update_task(&self, id: &str, mut changes: Vec<Change>, f: impl FnOnce(&mut TaskRecord)) -> Option<Commit> {
        let mut tasks = self.tasks().lock();
        let t = tasks.iter_mut().find(|t| t.id == id)?;
        f(t);
        changes.push(Change::PutTask(t.clone()));
        Some(self.store().submit(changes))
    }

    async fn finish_task(&self, id: &str, status: TaskStatus, reason: Option<String>) {
        if let Some(commit) = self.update_task(id, Vec::new(), |t| {
            t.status = status;
            t.failure_reason = reason;
        }) {
            let _ = Engine::durable(commit).await;
        }
    }

    async fn run_task(self: Arc<Self>, id: String) {
        // Moves of the last second, for the rate cap: (time, count).
        let mut window: VecDeque<(Millis, u32)> = VecDeque::new();
        // The batch submitted last, still being committed. The next batch is prepared while
        // the store commits it (the store keeps submission order, so after a crash the disk
        // holds a prefix of the batches, each with its own progress record).
        let mut inflight: Option<InFlight> = None;
        loop {
            let Some(task) = self.task(&id) else { return };
            match task.status {
                TaskStatus::Running if !self.is_stopping() => {}
                TaskStatus::Running => {
                    // Stopping: the task stays RUNNING and the next start resumes it.
                    let _ = settle(inflight.take()).await;
                    return;
                }
                TaskStatus::Cancelling => {
                    if let Err(stop) = settle(inflight.take()).await {
                        return self.stop_task(&id, stop).await;
                    }
                    return self.finish_task(&id, TaskStatus::Cancelled, None).await;
                }
                _ => return,
            }
            let now = self.clock().now();
            let limit = match task.max_per_second {
                None => FULL_SPEED_BATCH,
                Some(rate) => {
                    while window.front().is_some_and(|&(t, _)| t + 1000 <= now) {
                        window.pop_front();
                    }
                    let used: u32 = window.iter().map(|&(_, n)| n).sum();
                    if used >= rate {
                        if let Err(stop) = settle(inflight.take()).await {
                            return self.stop_task(&id, stop).await;
                        }
                        let until = window.front().map_or(now + 1000, |&(t, _)| t + 1000);
                        tokio::select! {
                            _ = self.clock().sleep_until(until) => {}
                            _ = self.stopped() => return,
                        }
                        continue;
                    }
                    (rate - used).min(10) as usize
                }
            };
            let batch = self.move_batch(&task, limit, now);
            // Whatever this batch did, the one before it must be durable first.
            if let Err(stop) = settle(inflight.take()).await {
                return self.stop_task(&id, stop).await;
            }
            match batch {
                Ok(None) => return self.finish_task(&id, TaskStatus::Completed, None).await,
                Ok(Some(b)) => {
                    window.push_back((now, b.moved as u32));
                    inflight = Some(b);
                }
                Err(stop) => return self.stop_task(&id, stop).await,
            }
            tokio::task::yield_now().await;
        }
    }

    async fn stop_task(&self, id: &str, stop: Stop) {
        let reason = match stop {
            Stop::Failed(reason) => reason,
            Stop::Store(e) => format!("AWS.SimpleQueueService.InternalError: {e}"),
        };
        self.finish_task(id, TaskStatus::Failed, Some(reason)).await
    }

    /// Move those of the next `limit` movable messages that share the oldest one's destination, in
    /// memory and submitted to the store; `None` when nothing is left to move.
    fn move_batch(&self, task: &TaskRecord, limit: usize, now: Millis) -> Result<Option<InFlight>, Stop> {
        let nonexistent = || Stop::Failed("AWS.SimpleQueueService.NonExistentQueue".into());
        let source = self.queue_by_arn(&task.source_arn).ok_or_else(nonexistent)?;
        let candidates = {
            let mut changes = Vec::new();
            let mut state = source.state.lock();
            state.advance(source.uid, now, &mut changes);
            if !changes.is_empty() {
                drop(self.store().submit(changes));
            }
            state.movable(source.uid, task.boundary_seq, limit, &**self.store()).map_err(Stop::Store)?
        };
        let Some((_, first)) = candidates.first() else { return Ok(None) };
        let dest_arn = match &task.destination_arn {
            Some(d) => d.clone(),
            None => first
                .dead_letter_source_arn
                .clone()
                .ok_or_else(|| Stop::Failed("CouldNotDetermineMessageSource".into()))?,
        };
        let dest = self.queue_by_arn(&dest_arn).filter(|d| d.uid != source.uid).ok_or_else(nonexistent)?;
        let same_destination = |c: &SharedContent| {
            task.destination_arn.is_some() || c.dead_letter_source_arn.as_deref() == Some(&dest_arn)
        };
        let mut changes = Vec::new();
        let (moved, commit) = {
            let (mut src, dst) = crate::engine::lock_pair(&source, Some(&dest));
            let Some(mut dst) = dst else { return Err(nonexistent()) };
            if dst.deleted {
                return Err(nonexistent());
            }
            let mut moved = 0;
            for (seq, content) in candidates.iter().filter(|(_, c)| same_destination(c)) {
                if !src.take_visible(source.uid, *seq, &mut changes) {
                    continue;
                }
                // A redriven message is a new message: new id, new times, no receive count.
                let id = uuid::Uuid::new_v4().to_string();
                let fresh = Content {
                    deduplication_id: content.deduplication_id.as_ref().map(|_| id.clone()),
                    id,
                    sent_at: now,
                    dead_letter_source_arn: None,
                    ..(**content).clone()
                };
                dst.insert(dest.uid, Arc::new(fresh), now, 0, now, &mut changes);
                dst.stats.redriven += 1;
                moved += 1;
            }
            let commit = self.update_task(&task.id, changes, |t| t.moved += moved as u64).ok_or_else(nonexistent)?;
            (moved, commit)
        };
        // Nothing movable among the candidates (all taken by receivers meanwhile) is not the
        // end: the next round looks again.
        Ok(Some(InFlight { moved, commit, dest }))
    }
}

/// A batch of a move task submitted to the store.
struct InFlight {
    moved: usize,
    commit: Commit,
    dest: Arc<Queue>,
}

/// Wake receivers of a submitted batch's destination (their own commits follow the batch's,
/// as for a send), then wait until the batch is durable.
async fn settle(batch: Option<InFlight>) -> Result<(), Stop> {
    let Some(b) = batch else { return Ok(()) };
    b.dest.wake(b.moved);
    Engine::durable(b.commit).await.map_err(Stop::Store)
}

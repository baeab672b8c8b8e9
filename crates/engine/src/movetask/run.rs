//! One active task's place in the state machine (drawn in `movetask`'s module doc): its rate
//! window, its batches not yet durable, and how it ends. Its stage (canary, watching …) is in
//! the record, so that a restart resumes it; the rest is memory only. It knows no queues: a
//! step is handed `Work`, which does what touches them.

use super::batch::{internal_error, Batch, Failed};
use super::rate::RateWindow;
use super::record::{Moved, Stage, TaskRecord, TaskStatus};
use crate::clock::Millis;
use crate::error::Error;

/// Messages per batch when no rate is set.
const FULL_SPEED_BATCH: usize = 1000;
/// Messages per batch under a rate cap, so that the moves spread over the second.
const RATED_BATCH: u32 = 10;
/// Batches of one task submitted and not yet durable: the next is prepared while the store
/// commits the one before (after a crash, the disk holds a prefix of the batches, each with
/// its progress; the crash harness allows for two lost).
const MAX_UNDURABLE: usize = 2;
/// How often a canary's messages are looked for while consumers work on them.
pub(super) const WATCH_POLL_MS: Millis = 1000;

/// What a step needs done to the queues.
pub(super) trait Work {
    /// Move a batch of up to `limit` messages from `cursor` on (`None`: nothing left to look
    /// at); `list_moved` lists where each went.
    fn move_batch(&mut self, limit: usize, list_moved: bool) -> Result<Option<Batch>, Failed>;
    /// How many of these messages are still in the queue they were moved to.
    fn still_there(&self, moved: &[Moved]) -> usize;
    /// How many messages the task moved have come back to the dead-letter queue, now.
    fn came_back(&self) -> u64;
}

pub(super) struct Run {
    rate: Option<RateWindow>,
    undurable: usize,
    /// Why a submitted batch did not become durable: whatever the stage, the task fails.
    store_failure: Option<String>,
    /// The next step is not due before this (a rate window reopening).
    not_before: Millis,
    /// Set once the task is to end: with this status and reason, once its batches are durable.
    ending: Option<(TaskStatus, Option<String>)>,
}

/// What a step did, and so when the task wants its next one.
pub(super) enum Step {
    /// A batch was submitted: the task may step again at once.
    Submitted(Batch),
    /// The task goes on in this stage (its record is to say so).
    Stage(Stage),
    /// A pass over the source is over and moved something: the next starts from the oldest.
    NextPass,
    /// Step again at once, with the record as it is now.
    Again,
    /// Nothing to do before this time.
    WaitUntil(Millis),
    /// Nothing to do until a submitted batch is durable.
    WaitDurable,
    /// The task is over: its record takes this status and reason.
    End(TaskStatus, Option<String>),
}

impl Run {
    pub(super) fn new(task: &TaskRecord) -> Run {
        Run {
            rate: task.max_per_second.map(RateWindow::new),
            undurable: 0,
            store_failure: None,
            not_before: 0,
            ending: None,
        }
    }

    /// One step of `task` (its record as it is now).
    pub(super) fn step(&mut self, task: &TaskRecord, now: Millis, work: &mut dyn Work) -> Step {
        if now < self.not_before {
            return Step::WaitUntil(self.not_before);
        }
        // A cancel is seen here, at the task's next step: CANCELLING lasts until then.
        if task.status == TaskStatus::Cancelling && self.ending.is_none() {
            self.ending = Some((TaskStatus::Cancelled, None));
        }
        if self.ending.is_none() {
            if let Some(reason) = halted(task) {
                self.ending = Some((TaskStatus::Failed, Some(reason)));
            }
        }
        if self.ending.is_some() {
            return self.end();
        }
        let p = &task.progress;
        match p.stage {
            Stage::Canary => {
                let size = task.options.canary.map_or(0, |c| c.size as usize);
                let watch = || match task.options.canary {
                    Some(c) => Step::Stage(Stage::CanaryWatch { until: now + c.timeout_ms }),
                    None => Step::Stage(Stage::Moving),
                };
                if p.canary.len() >= size {
                    return if self.undurable > 0 { Step::WaitDurable } else { watch() };
                }
                match self.move_once(now, size - p.canary.len(), true, work) {
                    Some(step) => step,
                    // Nothing (more) to move: fewer messages than the canary's size are the
                    // canary; none at all, and the task is done.
                    None if self.undurable > 0 => Step::WaitDurable,
                    None if p.canary.is_empty() => self.finish(TaskStatus::Completed, None),
                    None => watch(),
                }
            }
            Stage::CanaryWatch { until } => {
                let waiting = work.still_there(&p.canary);
                // Gone from the destination may mean back in the dead-letter queue: counted
                // before it left, so asked after looking.
                if work.came_back() > 0 {
                    return Step::Again;
                }
                if waiting == 0 {
                    return Step::Stage(Stage::Moving);
                }
                if now >= until {
                    return self.finish(TaskStatus::Failed, Some(canary_timed_out(task, waiting)));
                }
                Step::WaitUntil(until.min(now + WATCH_POLL_MS))
            }
            Stage::Moving => match self.move_once(now, FULL_SPEED_BATCH, false, work) {
                Some(step) => step,
                None if self.undurable > 0 => Step::WaitDurable,
                None if p.pass_moved > 0 => Step::NextPass,
                None => match task.options.halt {
                    Some(h) => Step::Stage(Stage::Watching { until: now + h.window_ms }),
                    None => self.finish(TaskStatus::Completed, None),
                },
            },
            Stage::Watching { until } => {
                if now >= until {
                    return self.finish(TaskStatus::Completed, None);
                }
                // A message that comes back wakes the driver; the halt check is above.
                Step::WaitUntil(until)
            }
        }
    }

    /// Move a batch of at most `most`; `None`: nothing is left to look at.
    fn move_once(&mut self, now: Millis, most: usize, list_moved: bool, work: &mut dyn Work) -> Option<Step> {
        if self.undurable >= MAX_UNDURABLE {
            return Some(Step::WaitDurable);
        }
        let limit = match self.rate.as_mut().map(|w| w.room(now)) {
            None => most.min(FULL_SPEED_BATCH),
            Some(Ok(room)) => most.min(room.min(RATED_BATCH) as usize),
            Some(Err(reopens)) => {
                self.not_before = reopens;
                return Some(Step::WaitUntil(reopens));
            }
        };
        match work.move_batch(limit, list_moved) {
            Ok(Some(batch)) => {
                if let Some(w) = self.rate.as_mut() {
                    w.moved(now, batch.moved as u32);
                }
                self.undurable += 1;
                Some(Step::Submitted(batch))
            }
            Ok(None) => None,
            Err(Failed(reason)) => Some(self.finish(TaskStatus::Failed, Some(reason))),
        }
    }

    /// End the task with this status and reason (once its batches are durable).
    fn finish(&mut self, status: TaskStatus, reason: Option<String>) -> Step {
        self.ending = Some((status, reason));
        self.end()
    }

    /// Whatever ends the task, the batches before must be durable first; if one was not,
    /// that is why it ends.
    fn end(&mut self) -> Step {
        if self.undurable > 0 {
            return Step::WaitDurable;
        }
        match (&self.store_failure, &self.ending) {
            (Some(reason), _) => Step::End(TaskStatus::Failed, Some(reason.clone())),
            (None, Some((status, reason))) => Step::End(*status, reason.clone()),
            (None, None) => Step::WaitDurable,
        }
    }

    /// One of the task's submitted batches is durable, or (`Err`) will never be: then the
    /// task moves nothing more and fails.
    pub(super) fn settled(&mut self, result: Result<(), Error>) {
        self.undurable = self.undurable.saturating_sub(1);
        if let Err(e) = result {
            self.store_failure.get_or_insert_with(|| internal_error(&e));
            if self.ending.is_none() {
                self.ending = Some((TaskStatus::Failed, None));
                self.not_before = 0;
            }
        }
    }
}

/// Why the task must stop, if messages it moved came back: any during the canary, or more
/// than the halt rule allows.
fn halted(task: &TaskRecord) -> Option<String> {
    let p = &task.progress;
    if p.failed_again == 0 {
        return None;
    }
    let came_back = || p.came_back.iter().take(10).cloned().collect::<Vec<_>>().join(", ");
    if matches!(p.stage, Stage::Canary | Stage::CanaryWatch { .. }) {
        return Some(format!(
            "Canary failed: {} of the {} canary messages came back to the dead-letter queue, so their \
             consumers still fail them; the rest stay in the dead-letter queue. Came back: {}.",
            p.failed_again,
            p.canary.len(),
            came_back()
        ));
    }
    let h = task.options.halt?;
    let over_count = h.max_count.is_some_and(|k| p.failed_again > k);
    let over_share = h.max_percent.is_some_and(|pct| p.failed_again * 100 > u64::from(pct) * task.moved.max(1));
    if !(over_count || over_share) {
        return None;
    }
    let limit = match (h.max_count, h.max_percent) {
        (Some(k), Some(pct)) => format!("more than {k} or {pct} %"),
        (Some(k), None) => format!("more than {k}"),
        (None, Some(pct)) => format!("more than {pct} %"),
        (None, None) => String::new(),
    };
    Some(format!(
        "Halted: {} of the {} messages moved came back to the dead-letter queue ({limit}), so their \
         consumers still fail them; the rest stay in the dead-letter queue. Came back: {}.",
        p.failed_again,
        task.moved,
        came_back()
    ))
}

fn canary_timed_out(task: &TaskRecord, waiting: usize) -> String {
    let p = &task.progress;
    let seconds = task.options.canary.map_or(0, |c| c.timeout_ms / 1000);
    let queues: std::collections::BTreeSet<&str> = p.canary.iter().map(|m| m.queue_arn.as_str()).collect();
    format!(
        "Canary timed out: {waiting} of the {} canary messages were not deleted by a consumer of {} within \
         {seconds} s; the rest stay in the dead-letter queue.",
        p.canary.len(),
        queues.into_iter().collect::<Vec<_>>().join(", ")
    )
}

//! One active task's place in the state machine (drawn in `movetask`'s module doc): its phase,
//! its rate window and its batches not yet durable. Memory only, rebuilt from the record's
//! status after a restart. It knows no queues: a step is handed the batch mover.

use super::batch::{internal_error, Batch, Failed};
use super::rate::RateWindow;
use super::record::{TaskRecord, TaskStatus};
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

pub(super) struct Run {
    phase: Phase,
    rate: Option<RateWindow>,
    undurable: usize,
    /// Why a submitted batch did not become durable: whatever the phase, the task fails.
    store_failure: Option<String>,
    /// The next step is not due before this (a rate window reopening).
    not_before: Millis,
}

/// Redrive's phases, finer than AWS's statuses. Safe redrive's canary, watch and halt are to
/// be further variants here, each with its step.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// RUNNING: a batch per step.
    Moving,
    /// The task ends with this status and reason once every submitted batch is durable.
    Ending(TaskStatus, Option<String>),
}

/// What a step did, and so when the task wants its next one.
pub(super) enum Step {
    /// A batch was submitted: the task may step again at once.
    Submitted(Batch),
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
            phase: Phase::Moving,
            rate: task.max_per_second.map(RateWindow::new),
            undurable: 0,
            store_failure: None,
            not_before: 0,
        }
    }

    /// One step of a task whose record has `status` now. `move_batch(limit)` moves up to
    /// `limit` messages (`None`: nothing left).
    pub(super) fn step(
        &mut self,
        status: TaskStatus,
        now: Millis,
        move_batch: impl FnOnce(usize) -> Result<Option<Batch>, Failed>,
    ) -> Step {
        if now < self.not_before {
            return Step::WaitUntil(self.not_before);
        }
        // A cancel is seen here, at the task's next step: CANCELLING lasts until then.
        if status == TaskStatus::Cancelling && self.phase == Phase::Moving {
            self.phase = Phase::Ending(TaskStatus::Cancelled, None);
        }
        match self.phase {
            Phase::Moving => self.move_once(now, move_batch),
            Phase::Ending(..) => self.end(),
        }
    }

    fn move_once(&mut self, now: Millis, move_batch: impl FnOnce(usize) -> Result<Option<Batch>, Failed>) -> Step {
        if self.undurable >= MAX_UNDURABLE {
            return Step::WaitDurable;
        }
        let limit = match self.rate.as_mut().map(|w| w.room(now)) {
            None => FULL_SPEED_BATCH,
            Some(Ok(room)) => room.min(RATED_BATCH) as usize,
            Some(Err(reopens)) => {
                self.not_before = reopens;
                return Step::WaitUntil(reopens);
            }
        };
        match move_batch(limit) {
            Ok(Some(batch)) => {
                if let Some(w) = self.rate.as_mut() {
                    w.moved(now, batch.moved as u32);
                }
                self.undurable += 1;
                Step::Submitted(batch)
            }
            Ok(None) => {
                self.phase = Phase::Ending(TaskStatus::Completed, None);
                self.end()
            }
            Err(Failed(reason)) => {
                self.phase = Phase::Ending(TaskStatus::Failed, Some(reason));
                self.end()
            }
        }
    }

    /// Whatever ends the task, the batches before must be durable first; if one was not,
    /// that is why it ends.
    fn end(&mut self) -> Step {
        if self.undurable > 0 {
            return Step::WaitDurable;
        }
        match (&self.store_failure, &self.phase) {
            (Some(reason), _) => Step::End(TaskStatus::Failed, Some(reason.clone())),
            (None, Phase::Ending(status, reason)) => Step::End(*status, reason.clone()),
            (None, Phase::Moving) => Step::WaitDurable,
        }
    }

    /// One of the task's submitted batches is durable, or (`Err`) will never be: then the
    /// task moves nothing more and fails.
    pub(super) fn settled(&mut self, result: Result<(), Error>) {
        self.undurable = self.undurable.saturating_sub(1);
        if let Err(e) = result {
            self.store_failure.get_or_insert_with(|| internal_error(&e));
            if self.phase == Phase::Moving {
                self.phase = Phase::Ending(TaskStatus::Failed, None);
                self.not_before = 0;
            }
        }
    }
}

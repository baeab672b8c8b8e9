//! Message move tasks as the API sees them; the tasks themselves are `crate::movetask`,
//! which reaches the queues through the `movetask::Queues` view implemented here.

use std::sync::Arc;

use crate::error::Result;
use crate::movetask::{self, DryRun, TaskOptions, TaskRecord, TaskRequest};
use crate::queue::Queue;
use crate::queue_id::Caller;

use crate::store::Store;

use super::Engine;

/// The tag of a dead-letter queue that sets its loop guard.
pub const MAX_REDRIVES_TAG: &str = "redrive:max-redrives";

/// What move tasks see of the engine: its queues and its store.
impl movetask::Queues for Engine {
    fn by_arn(&self, arn: &str) -> Option<Arc<Queue>> {
        self.queue_by_arn(arn)
    }

    fn may_see(&self, _arn: &str) -> bool {
        true
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

/// The engine as a caller's request sees it: only its own account's queues (move tasks are
/// the owner's: no policy grants them to another account, as on AWS).
struct Reachable<'a> {
    engine: &'a Engine,
    caller: &'a Caller,
}

impl movetask::Queues for Reachable<'_> {
    fn by_arn(&self, arn: &str) -> Option<Arc<Queue>> {
        self.engine.queue_by_arn(arn).filter(|q| q.id.account == self.caller.account)
    }

    fn may_see(&self, arn: &str) -> bool {
        crate::queue_id::parse_arn(arn).is_some_and(|a| a.account == self.caller.account)
    }

    fn is_dead_letter_queue(&self, queue: &Queue) -> bool {
        movetask::Queues::is_dead_letter_queue(self.engine, queue)
    }

    fn store(&self) -> &dyn Store {
        &*self.engine.store
    }
}

impl Engine {
    /// StartMessageMoveTask: AWS's task, with the loop guard's default.
    pub async fn start_message_move_task(
        self: &Arc<Self>,
        caller: &Caller,
        source_arn: &str,
        destination_arn: Option<&str>,
        max_per_second: Option<i64>,
    ) -> Result<String> {
        let request = TaskRequest {
            source_arn: source_arn.to_string(),
            destination_arn: destination_arn.map(str::to_string),
            max_per_second,
            options: TaskOptions::default(),
        };
        self.start_redrive(caller, request).await
    }

    /// A move task with Redrive's options (filter, canary, halt, loop guard); a loop guard
    /// not given takes the server's default, and the task records who started it.
    pub async fn start_redrive(self: &Arc<Self>, caller: &Caller, mut request: TaskRequest) -> Result<String> {
        request.options.started_by = Some(caller.sender_id().to_string());
        if request.options.max_redrives.is_none() {
            request.options.max_redrives = self.max_redrives_of(&request.source_arn);
        }
        let (handle, commit) = self.move_tasks.start(&Reachable { engine: self, caller }, request, self.clock.now())?;
        self.resume_tasks();
        Engine::durable(commit).await?;
        Ok(handle)
    }

    /// What `start_redrive` would move now, moving nothing.
    pub fn dry_run_redrive(&self, caller: &Caller, mut request: TaskRequest) -> Result<DryRun> {
        if request.options.max_redrives.is_none() {
            request.options.max_redrives = self.max_redrives_of(&request.source_arn);
        }
        self.move_tasks.dry_run(&Reachable { engine: self, caller }, &request, self.clock.now())
    }

    /// The loop guard of a DLQ: its tag `redrive:max-redrives` (0: no limit), else the
    /// server's default. A tag, so that any SQS client can set it per queue.
    fn max_redrives_of(&self, dlq_arn: &str) -> Option<u32> {
        let tagged = self
            .queue_by_arn(dlq_arn)
            .and_then(|q| q.state.lock().tags.get(MAX_REDRIVES_TAG).and_then(|v| v.trim().parse::<u32>().ok()));
        match tagged {
            Some(0) => None,
            Some(n) => Some(n),
            None => self.config.max_redrives,
        }
    }

    /// The task a handle names.
    pub fn describe_redrive(&self, caller: &Caller, handle: &str) -> Result<TaskRecord> {
        self.move_tasks.describe(&Reachable { engine: self, caller }, handle)
    }

    /// Every task of the caller's queues (or of one source), newest first.
    pub fn redrive_history(&self, caller: &Caller, source_arn: Option<&str>) -> Vec<TaskRecord> {
        self.move_tasks.history(&Reachable { engine: self, caller }, source_arn)
    }

    /// Tasks of `source_arn`, newest first.
    pub fn list_message_move_tasks(
        &self,
        caller: &Caller,
        source_arn: &str,
        max_results: Option<i64>,
    ) -> Result<Vec<TaskRecord>> {
        self.move_tasks.list(&Reachable { engine: self, caller }, source_arn, max_results)
    }

    /// Ask a RUNNING task to stop; returns how many messages it has moved.
    pub async fn cancel_message_move_task(&self, caller: &Caller, handle: &str) -> Result<u64> {
        let (moved, commit) = self.move_tasks.cancel(&Reachable { engine: self, caller }, handle)?;
        Engine::durable(commit).await?;
        Ok(moved)
    }

    /// Forget the move tasks past their retention (the sweep's); the store's changes for it.
    pub(crate) fn prune_tasks(&self, now: crate::clock::Millis) -> Vec<crate::store::Change> {
        self.move_tasks.prune(now)
    }

    /// Start the move-task driver, once: the tasks a store kept RUNNING or CANCELLING resume,
    /// and tasks started later run.
    pub fn resume_tasks(self: &Arc<Self>) {
        let mut driver = self.move_task_driver.lock();
        if driver.is_none() && !self.is_stopping() {
            *driver = Some(movetask::driver::spawn(self.clone(), self.move_tasks.clone()));
        }
    }
}

//! How a change becomes durable: applied under the queue's lock, submitted to the store in
//! the order memory saw it, awaited before the client is answered.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::queue::{Queue, QueueState};
use crate::store::{Change, Commit, StoreError};

use super::Engine;

pub(super) fn tracing_error(e: &StoreError) {
    tracing::error!(error = %e, "the store could not make a change durable");
}
impl Engine {
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
    pub(super) async fn change<T>(
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
    pub(super) async fn change_waking<T>(
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
    pub(super) async fn change_queue(
        &self,
        queue: &Arc<Queue>,
        f: impl FnOnce(&mut QueueState) -> Result<()>,
    ) -> Result<()> {
        self.change(queue, |state, changes| {
            f(state)?;
            changes.push(Change::PutQueue(queue.record(state)));
            Ok(())
        })
        .await
    }
}

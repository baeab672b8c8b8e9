//! The queue side of a move task: what a source holds when a task starts, and one batch
//! moved from the source to its destination(s) — in memory under both queues' locks, and to
//! the store in one submission with the task's progress.

use std::sync::Arc;

use parking_lot::MutexGuard;

use super::{Queues, TaskRecord};
use crate::clock::Millis;
use crate::message::SharedContent;
use crate::queue::{Queue, QueueState};
use crate::store::{Change, Commit, Store};

/// AWS's FailureReason when the source or the destination no longer exists.
pub(super) const NON_EXISTENT_QUEUE: &str = "AWS.SimpleQueueService.NonExistentQueue";
/// AWS's FailureReason for a message without a DeadLetterQueueSourceArn and no destination.
pub(super) const NO_SOURCE: &str = "CouldNotDetermineMessageSource";

/// Why a batch could not be moved: the task fails with this FailureReason.
#[derive(Debug)]
pub(super) struct Failed(pub String);

/// A batch submitted to the store, not yet durable.
pub(super) struct Batch {
    pub moved: usize,
    pub commit: Commit,
    pub destination: Arc<Queue>,
}

/// A queue's state brought up to `now`; what retention dropped is deleted from the store
/// without waiting (nothing is acknowledged by it).
fn advanced<'q>(queue: &'q Queue, store: &dyn Store, now: Millis) -> MutexGuard<'q, QueueState> {
    let mut changes = Vec::new();
    let mut state = queue.state.lock();
    state.advance(queue.uid, now, &mut changes);
    if !changes.is_empty() {
        drop(store.submit(changes));
    }
    state
}

/// What a task starting now on `source` will move: how many messages (those in flight or
/// delayed now move too once they are visible, if that is before the task ends), and the
/// seq below which they all are.
pub(super) fn snapshot(source: &Queue, store: &dyn Store, now: Millis) -> (u64, u64) {
    let state = advanced(source, store, now);
    let c = state.counts();
    ((c.visible + c.in_flight + c.delayed) as u64, state.next_seq())
}

/// Move those of the next `limit` movable messages of the task's source that share the
/// oldest one's destination; `None` when nothing is left to move. `progress(changes, moved)`
/// adds the task's record to the batch's changes and submits them: it is called under both
/// queues' locks, so the store sees the batch in the order memory made it.
pub(super) fn move_batch(
    queues: &dyn Queues,
    task: &TaskRecord,
    limit: usize,
    now: Millis,
    progress: impl FnOnce(Vec<Change>, u64) -> Option<Commit>,
) -> Result<Option<Batch>, Failed> {
    let nonexistent = || Failed(NON_EXISTENT_QUEUE.into());
    let store = queues.store();
    let source = queues.by_arn(&task.source_arn).ok_or_else(nonexistent)?;
    let candidates = advanced(&source, store, now)
        .movable(source.uid, task.boundary_seq, limit, store)
        .map_err(|e| Failed(internal_error(&e)))?;
    let Some((_, first)) = candidates.first() else { return Ok(None) };
    let dest_arn = match &task.destination_arn {
        Some(d) => d.clone(),
        None => first.dead_letter_source_arn.clone().ok_or_else(|| Failed(NO_SOURCE.into()))?,
    };
    let destination = queues.by_arn(&dest_arn).filter(|d| d.uid != source.uid).ok_or_else(nonexistent)?;
    let same_destination =
        |c: &SharedContent| task.destination_arn.is_some() || c.dead_letter_source_arn.as_deref() == Some(&dest_arn);
    let mut changes = Vec::new();
    let (mut src, dst) = Queue::lock_pair(&source, Some(&destination));
    let Some(mut dst) = dst.filter(|d| !d.deleted) else { return Err(nonexistent()) };
    let mut moved = 0;
    for (seq, content) in candidates.iter().filter(|(_, c)| same_destination(c)) {
        if !src.take_visible(source.uid, *seq, &mut changes) {
            continue;
        }
        let (fresh, m) = crate::dlq::redriven(content, now);
        dst.insert_with_state(destination.uid, Arc::new(fresh), m, now, &mut changes);
        dst.stats.redriven += 1;
        moved += 1;
    }
    let commit = progress(changes, moved as u64).ok_or_else(nonexistent)?;
    drop((src, dst));
    // Nothing movable among the candidates (all taken by receivers meanwhile) is not the
    // end: the next step looks again.
    Ok(Some(Batch { moved, commit, destination }))
}

/// The FailureReason of a task stopped by the store.
pub(super) fn internal_error(e: &dyn std::fmt::Display) -> String {
    format!("AWS.SimpleQueueService.InternalError: {e}")
}

//! The queue side of a move task: what a source holds when a task starts, and one batch
//! moved from the source to its destination(s) — in memory under both queues' locks, and to
//! the store in one submission with the task's progress.

use std::sync::Arc;

use parking_lot::MutexGuard;

use super::record::Moved;
use super::{Queues, TaskRecord};
use crate::clock::Millis;
use crate::filter::Matcher;
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
    /// Where it moved to (`None`: every message looked at stays).
    pub destination: Option<Arc<Queue>>,
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

/// How one batch chooses: from which seq, how many candidates, which of them move.
pub(super) struct Plan<'a> {
    pub cursor: u64,
    pub limit: usize,
    pub matcher: Option<&'a Matcher<'a>>,
    pub max_redrives: Option<u32>,
    /// Count the messages the loop guard leaves (only on the first pass: a later one meets
    /// them again).
    pub count_skips: bool,
    /// List what moved, where to (the canary's messages).
    pub list_moved: bool,
}

/// What a batch did, for the task's record (its `record::Progress`).
#[derive(Debug, Default)]
pub(super) struct Done {
    pub moved: u64,
    pub skipped: u64,
    /// The next seq to look at.
    pub cursor: u64,
    pub listed: Vec<Moved>,
}

/// Look at the next `limit` movable messages of the task's source from `plan.cursor` on, and
/// move those that the filter takes, the loop guard lets go, and share the first such one's
/// destination; `None` when no message is left to look at. `progress(changes, progress)` adds
/// the task's record to the batch's changes and submits them: it is called under both queues'
/// locks, so the store sees the batch in the order memory made it.
pub(super) fn move_batch(
    queues: &dyn Queues,
    task: &TaskRecord,
    plan: Plan<'_>,
    now: Millis,
    progress: impl FnOnce(Vec<Change>, Done) -> Option<Commit>,
) -> Result<Option<Batch>, Failed> {
    let nonexistent = || Failed(NON_EXISTENT_QUEUE.into());
    let store = queues.store();
    let source = queues.by_arn(&task.source_arn).ok_or_else(nonexistent)?;
    let candidates = advanced(&source, store, now)
        .movable(source.uid, (plan.cursor, task.boundary_seq), plan.limit, store)
        .map_err(|e| Failed(internal_error(&e)))?;
    let Some(&(last, _)) = candidates.last() else { return Ok(None) };
    let looped =
        |c: &SharedContent| plan.max_redrives.is_some_and(|max| c.redrives.as_ref().is_some_and(|r| r.count >= max));
    let chosen = |c: &SharedContent| plan.matcher.is_none_or(|m| m.matches(c)) && !looped(c);
    let mut done = Done { cursor: last + 1, ..Done::default() };
    let destination = match candidates.iter().find(|(_, c)| chosen(c)) {
        None => None,
        Some((_, first)) => {
            let arn = match &task.destination_arn {
                Some(d) => d.clone(),
                None => first.dead_letter_source_arn.clone().ok_or_else(|| Failed(NO_SOURCE.into()))?,
            };
            Some(queues.by_arn(&arn).filter(|d| d.uid != source.uid).ok_or_else(nonexistent)?)
        }
    };
    let mut changes = Vec::new();
    let (mut src, dst) = Queue::lock_pair(&source, destination.as_deref());
    let mut dst = match (&destination, dst) {
        (Some(_), Some(d)) if !d.deleted => Some(d),
        (Some(_), _) => return Err(nonexistent()),
        (None, _) => None,
    };
    for (seq, content) in &candidates {
        if plan.matcher.is_some_and(|m| !m.matches(content)) {
            continue;
        }
        if looped(content) {
            done.skipped += u64::from(plan.count_skips);
            continue;
        }
        let (Some(to), Some(dst)) = (&destination, dst.as_mut()) else { continue };
        if task.destination_arn.is_none() && content.dead_letter_source_arn.as_deref() != Some(to.arn.as_str()) {
            // Another source's message: the next batch starts from it.
            done.cursor = done.cursor.min(*seq);
            continue;
        }
        if !src.take_visible(source.uid, *seq, &mut changes) {
            continue;
        }
        let (fresh, m) = crate::dlq::redriven(content, &task.id, now);
        let id = fresh.id.clone();
        let at = dst.insert_with_state(to.uid, Arc::new(fresh), m, now, &mut changes);
        dst.stats.redriven += 1;
        done.moved += 1;
        if plan.list_moved {
            done.listed.push(Moved { queue_arn: to.arn.clone(), seq: at, message_id: id });
        }
    }
    let moved = done.moved as usize;
    let commit = progress(changes, done).ok_or_else(nonexistent)?;
    drop((src, dst));
    // Nothing movable among the candidates (all taken by receivers meanwhile, or passed over)
    // is not the end: the next step looks on.
    Ok(Some(Batch { moved, commit, destination }))
}

/// The FailureReason of a task stopped by the store.
pub(super) fn internal_error(e: &dyn std::fmt::Display) -> String {
    format!("AWS.SimpleQueueService.InternalError: {e}")
}

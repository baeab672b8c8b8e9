//! ReceiveMessage: long polling, receive attempts, and the dead-letter hand-off inside it.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::clock::Millis;
use crate::dlq::HandOff;
use crate::error::{Error, Result};
use crate::fifo::FifoIndex;
use crate::queue::{DeadLetter, Queue, Received, MAX_WAKE};
use crate::queue_id::{Caller, QueueId};
use crate::receipt::ReceiptHandle;
use crate::store::{AttemptRecord, Change};

use super::validation::is_printable_id;
use super::Engine;

#[derive(Debug, Clone, Default)]
pub struct ReceiveOptions {
    pub max_messages: Option<i64>,
    pub visibility_timeout: Option<i64>,
    pub wait_time_seconds: Option<i64>,
    /// FIFO: a retry within 5 minutes with the same id gets the same messages.
    pub attempt_id: Option<String>,
}
impl Engine {
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
                    let uid = queue.uid;
                    let earlier = state.fifo.as_mut().and_then(|f| f.attempt(id, start));
                    let unchanged = earlier.as_ref().is_some_and(|earlier| {
                        earlier
                            .iter()
                            .all(|r| ReceiptHandle::decode(&r.receipt_handle).is_some_and(|h| state.holds_receive(&h)))
                    });
                    if let Some(f) = state.fifo.as_mut() {
                        if earlier.is_some() && !unchanged {
                            f.forget_attempt(id);
                        }
                        forget_lapsed_attempts(f, uid, changes);
                    }
                    let Some(earlier) = earlier.filter(|_| unchanged) else { return Ok(None) };
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
            let got = self.receive_once(&queue, max, visibility_ms, now, options.attempt_id.as_deref()).await?;
            if !got.is_empty() && queue.state.lock().counts().visible > 0 {
                // Wake-ups are one per message: pass one on if this receive left some behind.
                queue.wake(1);
            }
            if !got.is_empty() || now >= deadline || stopping {
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
    /// and — one submission, one transaction — on disk. A FIFO receive that delivers under
    /// `attempt_id` is remembered for retries, and stored with the states it changed.
    pub(super) async fn receive_once(
        &self,
        queue: &Arc<Queue>,
        max: usize,
        visibility_ms: u64,
        now: Millis,
        attempt_id: Option<&str>,
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
            if let Some(f) = src.fifo.as_mut() {
                // Forgotten before this attempt is stored: an id may lapse and be used again.
                forget_lapsed_attempts(f, queue.uid, &mut changes);
                if let (Some(id), Ok(got)) = (attempt_id, &result) {
                    if !got.is_empty() {
                        let expires_at = f.remember_attempt(id.to_string(), got.clone(), now);
                        let receipts = got
                            .iter()
                            .filter_map(|r| ReceiptHandle::decode(&r.receipt_handle))
                            .map(|h| (h.seq, h.nonce))
                            .collect();
                        let record = AttemptRecord { id: id.to_string(), expires_at, receipts };
                        changes.push(Change::PutAttempt { queue: queue.uid, record });
                    }
                }
            }
            let moved = changes.iter().any(|c| matches!(c, Change::PutMessage { .. }));
            // Messages a move task returned that came back: the task counts them, in the
            // same submission.
            let came_back: Vec<(String, String)> = if moved {
                changes
                    .iter()
                    .filter_map(|c| match c {
                        Change::PutMessage { content, .. } => {
                            content.redrives.as_ref().map(|r| (r.task.clone(), content.id.clone()))
                        }
                        _ => None,
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let commit = if came_back.is_empty() {
                (!changes.is_empty()).then(|| self.store.submit(changes))
            } else {
                let arrivals: Vec<(&str, &str)> = came_back.iter().map(|(t, m)| (t.as_str(), m.as_str())).collect();
                Some(self.move_tasks.submit_with_arrivals(&*self.store, changes, &arrivals))
            };
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
}

/// Tell the store to forget the receive attempts of `f` that lapsed or were ruled out.
fn forget_lapsed_attempts(f: &mut FifoIndex, queue: u64, changes: &mut Vec<Change>) {
    changes.extend(f.lapsed_attempts.drain(..).map(|id| Change::DeleteAttempt { queue, id }));
}

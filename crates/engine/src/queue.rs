//! One queue's messages and the index that makes receive, delete and visibility
//! changes cost O(log n) whatever the backlog.
//!
//! Every message is in exactly one state: Delayed or InFlight (both indexed in `pending`
//! by the time they become visible), or Visible (indexed in `ready` by arrival order).
//! `promote(now)` moves due pending messages to `ready`; counts are kept as the states
//! change, so the approximate counts are O(1).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::attributes::QueueAttributes;
use crate::clock::Millis;
use crate::error::{Error, Result};
use crate::message::SharedContent;
use crate::receipt::ReceiptHandle;

/// AWS's cap on in-flight messages of a standard queue.
pub const MAX_IN_FLIGHT: usize = 120_000;
/// A message's visibility can never be extended past 12 hours from its receive.
pub const MAX_VISIBILITY_MS: u64 = 43_200_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Delayed,
    Visible,
    InFlight,
}

#[derive(Debug)]
struct Slot {
    content: SharedContent,
    state: State,
    visible_at: Millis,
    enqueued_at: Millis,
    receive_count: u32,
    first_receive_at: Option<Millis>,
    received_at: Millis,
    nonce: u64,
}

/// A message handed to a consumer.
#[derive(Debug, Clone)]
pub struct Received {
    pub content: SharedContent,
    pub receipt_handle: String,
    pub receive_count: u32,
    pub first_receive_at: Millis,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub visible: usize,
    pub in_flight: usize,
    pub delayed: usize,
}

/// A queue: fixed identity plus mutable state behind one lock.
pub struct Queue {
    pub name: String,
    pub arn: String,
    /// Distinguishes this queue from an earlier one of the same name (receipt handles).
    pub uid: u64,
    pub created_at: Millis,
    pub(crate) state: Mutex<QueueState>,
    /// Woken whenever a message may have become receivable.
    pub(crate) arrivals: Notify,
}

pub(crate) struct QueueState {
    pub attrs: QueueAttributes,
    pub last_modified: Millis,
    pub tags: BTreeMap<String, String>,
    pub last_purge: Option<Millis>,
    pub deleted: bool,
    messages: HashMap<u64, Slot>,
    ready: BTreeSet<u64>,
    pending: BTreeSet<(Millis, u64)>,
    by_age: BTreeSet<(Millis, u64)>,
    delayed: usize,
    in_flight: usize,
    next_seq: u64,
}

impl Queue {
    pub(crate) fn new(
        name: String,
        arn: String,
        uid: u64,
        attrs: QueueAttributes,
        tags: BTreeMap<String, String>,
        now: Millis,
    ) -> Arc<Queue> {
        Arc::new(Queue {
            name,
            arn,
            uid,
            created_at: now,
            state: Mutex::new(QueueState {
                attrs,
                last_modified: now,
                tags,
                last_purge: None,
                deleted: false,
                messages: HashMap::new(),
                ready: BTreeSet::new(),
                pending: BTreeSet::new(),
                by_age: BTreeSet::new(),
                delayed: 0,
                in_flight: 0,
                next_seq: 1,
            }),
            arrivals: Notify::new(),
        })
    }

    pub fn is_fifo(&self) -> bool {
        self.name.ends_with(".fifo")
    }
}

impl QueueState {
    /// Bring the index up to `now`: drop messages past retention, make due ones visible.
    pub fn advance(&mut self, now: Millis) {
        let retention = u64::from(self.attrs.message_retention_period) * 1000;
        while let Some(&(enqueued_at, seq)) = self.by_age.first() {
            if enqueued_at.saturating_add(retention) > now {
                break;
            }
            self.remove(seq);
        }
        while let Some(&(visible_at, seq)) = self.pending.first() {
            if visible_at > now {
                break;
            }
            self.pending.remove(&(visible_at, seq));
            if let Some(slot) = self.messages.get_mut(&seq) {
                match slot.state {
                    State::Delayed => self.delayed -= 1,
                    State::InFlight => self.in_flight -= 1,
                    State::Visible => {}
                }
                slot.state = State::Visible;
                self.ready.insert(seq);
            }
        }
    }

    /// When the next pending message becomes visible, if any.
    pub fn next_visible_at(&self) -> Option<Millis> {
        self.pending.first().map(|&(t, _)| t)
    }

    pub fn counts(&self) -> Counts {
        Counts { visible: self.ready.len(), in_flight: self.in_flight, delayed: self.delayed }
    }

    pub fn insert(&mut self, content: SharedContent, enqueued_at: Millis, delay_ms: u64, now: Millis) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let visible_at = now + delay_ms;
        let state = if delay_ms > 0 { State::Delayed } else { State::Visible };
        match state {
            State::Delayed => {
                self.delayed += 1;
                self.pending.insert((visible_at, seq));
            }
            _ => {
                self.ready.insert(seq);
            }
        }
        self.by_age.insert((enqueued_at, seq));
        self.messages.insert(
            seq,
            Slot {
                content,
                state,
                visible_at,
                enqueued_at,
                receive_count: 0,
                first_receive_at: None,
                received_at: 0,
                nonce: 0,
            },
        );
    }

    /// Hide up to `max` visible messages for `visibility_ms` and hand them out, oldest first.
    pub fn receive(&mut self, uid: u64, max: usize, visibility_ms: u64, now: Millis) -> Result<Vec<Received>> {
        if self.ready.is_empty() {
            return Ok(Vec::new());
        }
        if self.in_flight >= MAX_IN_FLIGHT {
            return Err(Error::OverLimit(format!(
                "Too many messages in flight: the queue already has {MAX_IN_FLIGHT} in-flight messages."
            )));
        }
        let mut out = Vec::with_capacity(max.min(self.ready.len()));
        while out.len() < max {
            let Some(seq) = self.ready.pop_first() else {
                break;
            };
            let Some(slot) = self.messages.get_mut(&seq) else {
                continue;
            };
            slot.receive_count += 1;
            slot.nonce += 1;
            slot.received_at = now;
            let first = *slot.first_receive_at.get_or_insert(now);
            slot.state = State::InFlight;
            slot.visible_at = now + visibility_ms;
            self.pending.insert((slot.visible_at, seq));
            self.in_flight += 1;
            out.push(Received {
                content: slot.content.clone(),
                receipt_handle: ReceiptHandle { queue_uid: uid, seq, nonce: slot.nonce }.encode(),
                receive_count: slot.receive_count,
                first_receive_at: first,
            });
        }
        Ok(out)
    }

    /// Delete by receipt handle. A handle of a message already gone succeeds, as on AWS;
    /// so does an older handle of a standard-queue message received again since.
    pub fn delete(&mut self, handle: &ReceiptHandle) -> Result<()> {
        if self.messages.contains_key(&handle.seq) {
            self.remove(handle.seq);
        }
        Ok(())
    }

    /// Change the visibility of a received message, with its latest receipt handle.
    /// As recorded against AWS, a message whose timeout already ran out is hidden again;
    /// a deleted message and an older handle are refused (docs/aws-reference.md §4.1).
    /// Ok(true) when the message became visible at once.
    pub fn change_visibility(
        &mut self,
        handle: &ReceiptHandle,
        handle_text: &str,
        timeout_ms: u64,
        now: Millis,
    ) -> Result<bool> {
        let gone = || {
            Error::invalid_parameter(
                handle_text,
                "ReceiptHandle",
                "Message does not exist or is not available for visibility timeout change.",
            )
        };
        let Some(slot) = self.messages.get_mut(&handle.seq) else { return Err(gone()) };
        if slot.state == State::Delayed {
            return Err(gone());
        }
        if slot.nonce != handle.nonce {
            return Err(Error::invalid_parameter(handle_text, "ReceiptHandle", "The receipt handle has expired."));
        }
        if now + timeout_ms > slot.received_at + MAX_VISIBILITY_MS {
            return Err(Error::invalid_parameter(
                timeout_ms / 1000,
                "VisibilityTimeout",
                "Total VisibilityTimeout for the message is beyond the limit [43200 seconds]",
            ));
        }
        match slot.state {
            State::InFlight => {
                self.pending.remove(&(slot.visible_at, handle.seq));
                self.in_flight -= 1;
            }
            State::Visible => {
                self.ready.remove(&handle.seq);
            }
            State::Delayed => {}
        }
        slot.visible_at = now + timeout_ms;
        if timeout_ms == 0 {
            slot.state = State::Visible;
            self.ready.insert(handle.seq);
            Ok(true)
        } else {
            slot.state = State::InFlight;
            self.in_flight += 1;
            self.pending.insert((slot.visible_at, handle.seq));
            Ok(false)
        }
    }

    pub fn purge(&mut self) -> usize {
        let n = self.messages.len();
        self.messages.clear();
        self.ready.clear();
        self.pending.clear();
        self.by_age.clear();
        self.delayed = 0;
        self.in_flight = 0;
        n
    }

    fn remove(&mut self, seq: u64) {
        let Some(slot) = self.messages.remove(&seq) else {
            return;
        };
        self.by_age.remove(&(slot.enqueued_at, seq));
        match slot.state {
            State::Visible => {
                self.ready.remove(&seq);
            }
            State::Delayed => {
                self.delayed -= 1;
                self.pending.remove(&(slot.visible_at, seq));
            }
            State::InFlight => {
                self.in_flight -= 1;
                self.pending.remove(&(slot.visible_at, seq));
            }
        }
    }
}

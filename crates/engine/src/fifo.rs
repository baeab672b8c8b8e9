//! FIFO queue bookkeeping: message groups, the deduplication window, receive attempts.
//!
//! A group delivers the run of visible messages from its head (oldest message) up to the
//! first one that is not visible: so nothing while its head is in flight, and, as recorded on
//! AWS, its head again as soon as that becomes visible, even while a later message of the
//! group is still in flight. `available` holds the groups whose head is visible, ordered by
//! when that head became visible (ties in the order it happened), so a group whose message
//! came back from a receive waits behind groups visible since before; picking the next group
//! is O(log n) however many groups exist.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::clock::Millis;
use crate::queue::Received;

/// How long a deduplication id (and a ReceiveRequestAttemptId) is remembered.
pub const DEDUP_WINDOW_MS: u64 = 5 * 60 * 1000;

pub type GroupId = Arc<str>;

#[derive(Debug, Default)]
pub(crate) struct Group {
    /// Every message of the group still in the queue, by seq.
    pub seqs: BTreeSet<u64>,
    /// The key under which this group sits in `available`, if it does.
    pub available_at: Option<AvailableKey>,
}

/// (when the head became visible, whether it had been received before, the order it became
/// visible in, the head's seq). Within one millisecond a head never received goes first, in
/// send order (its seq), then heads back from a receive, in the order they came back.
pub(crate) type AvailableKey = (Millis, bool, u64, u64);

/// A message already accepted under a deduplication id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub message_id: String,
    pub sequence_number: String,
}

#[derive(Debug, Default)]
pub(crate) struct FifoIndex {
    pub groups: HashMap<GroupId, Group>,
    /// The group of every message in the queue, by seq.
    group_of: HashMap<u64, GroupId>,
    pub available: BTreeSet<(AvailableKey, GroupId)>,
    /// Counts heads becoming visible, to order those that did in the same millisecond.
    next_order: u64,
    dedup: HashMap<String, (Accepted, Millis)>,
    dedup_order: VecDeque<(Millis, String)>,
    attempts: HashMap<String, (Millis, Vec<Received>)>,
    attempt_order: VecDeque<(Millis, String)>,
    /// Deduplication keys that lapsed, for the store to forget.
    pub lapsed: Vec<String>,
    /// Receive attempts that lapsed or were ruled out, for the store to forget.
    pub lapsed_attempts: Vec<String>,
}

impl FifoIndex {
    pub fn add(&mut self, group: &GroupId, seq: u64) {
        self.groups.entry(group.clone()).or_default().seqs.insert(seq);
        self.group_of.insert(seq, group.clone());
    }

    /// The group of the message `seq`.
    pub fn group_of(&self, seq: u64) -> Option<&GroupId> {
        self.group_of.get(&seq)
    }

    /// Forget the message `seq`. Answers its group.
    pub fn remove(&mut self, seq: u64) -> Option<GroupId> {
        let group = self.group_of.remove(&seq)?;
        if let Some(g) = self.groups.get_mut(&group) {
            g.seqs.remove(&seq);
        }
        Some(group)
    }

    /// Recompute whether `group` can deliver: `visible_since(head)` is when its head became
    /// visible and whether it had been received before, or `None` while it is not visible.
    pub fn refresh(&mut self, group: &GroupId, visible_since: impl Fn(u64) -> Option<(Millis, bool)>) {
        let Some(g) = self.groups.get_mut(group) else { return };
        let Some(head) = g.seqs.first().copied() else {
            if let Some(old) = g.available_at.take() {
                self.available.remove(&(old, group.clone()));
            }
            self.groups.remove(group);
            return;
        };
        let since = visible_since(head);
        if let (Some((t, returned)), Some((at, was_returned, _, h))) = (since, g.available_at) {
            if (at, was_returned, h) == (t, returned, head) {
                return;
            }
        }
        if let Some(old) = g.available_at.take() {
            self.available.remove(&(old, group.clone()));
        }
        if let Some((t, returned)) = since {
            let order = if returned { self.next_order } else { head };
            self.next_order += 1;
            let key = (t, returned, order, head);
            g.available_at = Some(key);
            self.available.insert((key, group.clone()));
        }
    }

    /// The seq of `group` just before `seq`, if any is still in the queue.
    pub fn previous_in_group(&self, group: &GroupId, seq: u64) -> Option<u64> {
        self.groups.get(group)?.seqs.range(..seq).next_back().copied()
    }

    /// The next seq of `group` after `after`.
    pub fn next_in_group(&self, group: &GroupId, after: u64) -> Option<u64> {
        self.groups.get(group)?.seqs.range(after + 1..).next().copied()
    }

    pub fn clear_messages(&mut self) {
        self.groups.clear();
        self.group_of.clear();
        self.available.clear();
        self.dedup.clear();
        self.dedup_order.clear();
        self.lapsed.clear();
    }

    fn expire(&mut self, now: Millis) {
        while let Some((t, key)) = self.dedup_order.front() {
            if *t > now {
                break;
            }
            if self.dedup.get(key).is_some_and(|(_, exp)| *exp <= now) {
                self.dedup.remove(key);
                self.lapsed.push(key.clone());
            }
            self.dedup_order.pop_front();
        }
        while let Some((t, key)) = self.attempt_order.front() {
            if *t > now {
                break;
            }
            if self.attempts.get(key).is_some_and(|(exp, _)| *exp <= now) {
                self.attempts.remove(key);
                self.lapsed_attempts.push(key.clone());
            }
            self.attempt_order.pop_front();
        }
    }

    /// The message accepted earlier under `key` within the window.
    pub fn duplicate(&mut self, key: &str, now: Millis) -> Option<Accepted> {
        self.expire(now);
        // Its own expiry decides: `expire` stops at the first entry not yet due, and entries
        // may be out of time order (concurrent sends read the clock before the queue's lock).
        self.dedup.get(key).filter(|(_, expires)| *expires > now).map(|(a, _)| a.clone())
    }

    pub fn remember(&mut self, key: String, accepted: Accepted, sent_at: Millis) {
        self.remember_until(key, accepted, sent_at + DEDUP_WINDOW_MS);
    }

    pub fn remember_until(&mut self, key: String, accepted: Accepted, expires: Millis) {
        self.dedup_order.push_back((expires, key.clone()));
        self.dedup.insert(key, (accepted, expires));
    }

    pub fn attempt(&mut self, id: &str, now: Millis) -> Option<Vec<Received>> {
        self.expire(now);
        self.attempts.get(id).map(|(_, r)| r.clone())
    }

    /// Drop a receive attempt whose messages changed since (its expiry entry lapses unused).
    pub fn forget_attempt(&mut self, id: &str) {
        if self.attempts.remove(id).is_some() {
            self.lapsed_attempts.push(id.to_string());
        }
    }

    /// Remember a receive made at `now` under attempt `id`; answers when it expires.
    pub fn remember_attempt(&mut self, id: String, received: Vec<Received>, now: Millis) -> Millis {
        let expires = now + DEDUP_WINDOW_MS;
        self.remember_attempt_until(id, received, expires);
        expires
    }

    pub fn remember_attempt_until(&mut self, id: String, received: Vec<Received>, expires: Millis) {
        self.attempt_order.push_back((expires, id.clone()));
        self.attempts.insert(id, (expires, received));
    }
}

/// The deduplication key of a message: its id, scoped to its group when asked to be.
pub fn dedup_key(scope_is_group: bool, group: &str, dedup_id: &str) -> String {
    if scope_is_group {
        format!("{group}\u{0}{dedup_id}")
    } else {
        dedup_id.to_string()
    }
}

/// Content-based deduplication id: hex SHA-256 of the body (recorded on AWS).
pub fn content_dedup_id(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// SequenceNumber for a message: large, increasing with the queue's seq, as AWS's are.
pub fn sequence_number(seq: u64) -> String {
    (18_000_000_000_000_000_000u128 + u128::from(seq)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_dedup_is_the_hex_sha256_of_the_body() {
        assert_eq!(content_dedup_id("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn a_group_is_available_while_its_head_is_visible_in_the_order_heads_became_visible() {
        let mut f = FifoIndex::default();
        let (a, b, c): (GroupId, GroupId, GroupId) = (Arc::from("a"), Arc::from("b"), Arc::from("c"));
        f.add(&a, 1);
        f.add(&a, 2);
        f.add(&b, 3);
        f.add(&c, 4);
        for g in [&c, &b, &a] {
            f.refresh(g, |_| Some((100, false)));
        }
        let heads = |f: &FifoIndex| f.available.iter().map(|((_, _, _, h), _)| *h).collect::<Vec<_>>();
        assert_eq!(heads(&f), [1, 3, 4], "never received: oldest head first");
        // a's head goes in flight: a cannot deliver, whatever follows it.
        f.refresh(&a, |_| None);
        assert_eq!(heads(&f), [3, 4]);
        // b's head too, then both come back in the same millisecond, b first: behind c,
        // which was visible before, and in the order they came back.
        f.refresh(&b, |_| None);
        f.refresh(&b, |_| Some((100, true)));
        f.refresh(&a, |_| Some((100, true)));
        assert_eq!(heads(&f), [4, 3, 1]);
        // Refreshing an unchanged group keeps its place.
        f.refresh(&c, |_| Some((100, false)));
        assert_eq!(heads(&f), [4, 3, 1]);
        // a's head is deleted; its next message has been visible since 50.
        assert_eq!(f.remove(1), Some(a.clone()));
        f.refresh(&a, |_| Some((50, false)));
        assert_eq!(heads(&f), [2, 4, 3]);
        f.remove(2);
        f.refresh(&a, |_| None);
        assert!(!f.groups.contains_key(&a));
    }

    #[test]
    fn duplicates_are_remembered_for_five_minutes() {
        let mut f = FifoIndex::default();
        let a = Accepted { message_id: "m".into(), sequence_number: "1".into() };
        f.remember("k".into(), a.clone(), 1000);
        assert_eq!(f.duplicate("k", 1000 + DEDUP_WINDOW_MS - 1), Some(a));
        assert_eq!(f.duplicate("k", 1000 + DEDUP_WINDOW_MS), None);
    }
}

//! FIFO queue bookkeeping: message groups, the deduplication window, receive attempts.
//!
//! A group can deliver only while none of its messages is in flight, and then only its
//! head (oldest message) onward. `available` holds the groups that can deliver now, keyed
//! by their head's seq, so picking the next group is O(log n) however many groups exist.

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
    pub in_flight: usize,
    /// The key under which this group sits in `available`, if it does.
    pub available_at: Option<u64>,
}

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
    pub available: BTreeSet<(u64, GroupId)>,
    dedup: HashMap<String, (Accepted, Millis)>,
    dedup_order: VecDeque<(Millis, String)>,
    attempts: HashMap<String, (Millis, Vec<Received>)>,
    attempt_order: VecDeque<(Millis, String)>,
    /// Deduplication keys that lapsed, for the store to forget.
    pub lapsed: Vec<String>,
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

    /// Forget the message `seq`; `was_in_flight` releases its group's lock. Answers its group.
    pub fn remove(&mut self, seq: u64, was_in_flight: bool) -> Option<GroupId> {
        let group = self.group_of.remove(&seq)?;
        if let Some(g) = self.groups.get_mut(&group) {
            g.seqs.remove(&seq);
            if was_in_flight {
                g.in_flight = g.in_flight.saturating_sub(1);
            }
        }
        Some(group)
    }

    pub fn in_flight_delta(&mut self, group: &GroupId, up: bool) {
        if let Some(g) = self.groups.get_mut(group) {
            if up {
                g.in_flight += 1;
            } else {
                g.in_flight = g.in_flight.saturating_sub(1);
            }
        }
    }

    /// Recompute whether `group` can deliver: nothing in flight and its head visible.
    pub fn refresh(&mut self, group: &GroupId, head_visible: impl Fn(u64) -> bool) {
        let Some(g) = self.groups.get_mut(group) else { return };
        if let Some(old) = g.available_at.take() {
            self.available.remove(&(old, group.clone()));
        }
        match g.seqs.first().copied() {
            None => {
                self.groups.remove(group);
            }
            Some(head) if g.in_flight == 0 && head_visible(head) => {
                g.available_at = Some(head);
                self.available.insert((head, group.clone()));
            }
            Some(_) => {}
        }
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
            }
            self.attempt_order.pop_front();
        }
    }

    /// The message accepted earlier under `key` within the window.
    pub fn duplicate(&mut self, key: &str, now: Millis) -> Option<Accepted> {
        self.expire(now);
        self.dedup.get(key).map(|(a, _)| a.clone())
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

    pub fn remember_attempt(&mut self, id: String, received: Vec<Received>, now: Millis) {
        let expires = now + DEDUP_WINDOW_MS;
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
    fn a_group_is_available_only_with_nothing_in_flight_and_a_visible_head() {
        let mut f = FifoIndex::default();
        let g: GroupId = Arc::from("g");
        f.add(&g, 1);
        f.add(&g, 2);
        f.refresh(&g, |_| true);
        assert_eq!(f.available.first().map(|(s, _)| *s), Some(1));
        f.in_flight_delta(&g, true);
        f.refresh(&g, |_| true);
        assert!(f.available.is_empty());
        assert_eq!(f.remove(1, true), Some(g.clone()));
        f.refresh(&g, |_| true);
        assert_eq!(f.available.first().map(|(s, _)| *s), Some(2));
        assert_eq!(f.remove(2, false), Some(g.clone()));
        f.refresh(&g, |_| true);
        assert!(f.groups.is_empty() && f.available.is_empty());
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

//! A queue's messages in order of enqueue time: for retention (oldest first), the age of the
//! oldest message, and looking through a queue in enqueue order.
//!
//! Nearly every message arrives no older than the one before it, so those are kept in a
//! sorted deque (16 bytes a message) instead of a B-tree of every message (≈ 31 bytes a
//! message, since inserting in order leaves its nodes half empty). The few that arrive older
//! than the newest so far — a dead letter keeping its source's enqueue time, a clock stepped
//! back — go to a B-tree beside it, and the two are read merged. A message removed from the
//! middle of the deque leaves its entry there until it reaches the front, or until removed
//! entries outnumber the live ones and the deque is swept: the caller says which seqs are
//! still in the queue (seqs are never reused, so a removed one never comes back).

use std::collections::{BTreeSet, VecDeque};
use std::ops::Bound::{Excluded, Unbounded};

use crate::clock::Millis;

/// Enqueue time and seq: the order messages age in.
pub(crate) type AgeKey = (Millis, u64);

/// Removed entries kept in the deque before a sweep, beyond as many as the live ones.
const SWEEP_SLACK: usize = 1024;

#[derive(Debug, Default)]
pub(crate) struct AgeIndex {
    /// Keys in ascending order, each greater than every key before it when it came; may hold
    /// keys of removed messages, though never at the front.
    in_order: VecDeque<AgeKey>,
    /// How many of `in_order`'s keys are of messages still in the queue.
    live: usize,
    /// Keys that came smaller than the deque's last.
    others: BTreeSet<AgeKey>,
}

impl AgeIndex {
    /// An index of `keys`, given in seq order (a restore's).
    pub fn of(keys: impl Iterator<Item = AgeKey>) -> AgeIndex {
        let mut index = AgeIndex::default();
        let mut others = Vec::new();
        for key in keys {
            if index.in_order.back().is_none_or(|&last| key > last) {
                index.in_order.push_back(key);
            } else {
                others.push(key);
            }
        }
        index.live = index.in_order.len();
        index.in_order.shrink_to_fit();
        index.others = others.into_iter().collect();
        index
    }

    pub fn insert(&mut self, key: AgeKey) {
        if self.in_order.back().is_none_or(|&last| key > last) {
            self.in_order.push_back(key);
            self.live += 1;
        } else {
            self.others.insert(key);
        }
    }

    /// Forget `key`, whose message has left the queue; `in_queue` says of a seq whether its
    /// message is still there.
    pub fn remove(&mut self, key: AgeKey, in_queue: impl Fn(u64) -> bool) {
        if self.others.remove(&key) {
            return;
        }
        self.live = self.live.saturating_sub(1);
        while self.in_order.front().is_some_and(|&(_, seq)| !in_queue(seq)) {
            self.in_order.pop_front();
        }
        if self.in_order.len() > 2 * self.live + SWEEP_SLACK {
            self.in_order.retain(|&(_, seq)| in_queue(seq));
            self.in_order.shrink_to(self.live * 2);
        }
    }

    pub fn clear(&mut self) {
        *self = AgeIndex::default();
    }

    /// The oldest message's key.
    pub fn first(&self) -> Option<AgeKey> {
        match (self.in_order.front(), self.others.first()) {
            (Some(&a), Some(&b)) => Some(a.min(b)),
            (a, b) => a.or(b).copied(),
        }
    }

    /// Up to `limit` keys after `after` (from the oldest if none), oldest first.
    pub fn after(&self, after: Option<AgeKey>, limit: usize, in_queue: impl Fn(u64) -> bool) -> Vec<AgeKey> {
        let start = after.map_or(0, |cursor| self.in_order.partition_point(|&key| key <= cursor));
        let mut deque = self.in_order.range(start..).copied().filter(|&(_, seq)| in_queue(seq)).peekable();
        let mut others = match after {
            Some(cursor) => self.others.range((Excluded(cursor), Unbounded)),
            None => self.others.range(..),
        }
        .copied()
        .peekable();
        let mut out = Vec::with_capacity(limit.min(1024));
        while out.len() < limit {
            let next = match (deque.peek(), others.peek()) {
                (Some(a), Some(b)) if a < b => deque.next(),
                (_, Some(_)) => others.next(),
                (Some(_), None) => deque.next(),
                (None, None) => None,
            };
            match next {
                Some(key) => out.push(key),
                None => break,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Against a B-tree of every key: arrivals mostly in order with some older ones, removals
    /// from anywhere, and every read compared.
    #[test]
    fn reads_the_same_as_an_ordered_set_of_every_key() {
        let mut index = AgeIndex::default();
        let mut model = BTreeSet::new();
        let mut live = std::collections::HashSet::new();
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut rand = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let (mut now, mut seq) = (1_000u64, 0u64);
        for round in 0..200_000 {
            match rand(10) {
                0..=4 => {
                    now += rand(3);
                    seq += 1;
                    // One arrival in twenty keeps an older enqueue time (a dead letter).
                    let t = if rand(20) == 0 { now.saturating_sub(rand(500)) } else { now };
                    index.insert((t, seq));
                    model.insert((t, seq));
                    live.insert(seq);
                }
                _ => {
                    // Remove the oldest, or one from anywhere.
                    let key = if rand(2) == 0 {
                        model.first().copied()
                    } else {
                        let skip = rand(model.len().max(1) as u64) as usize;
                        model.iter().nth(skip).copied()
                    };
                    if let Some(key) = key {
                        model.remove(&key);
                        live.remove(&key.1);
                        index.remove(key, |s| live.contains(&s));
                    }
                }
            }
            assert_eq!(index.first(), model.first().copied(), "round {round}");
            if round % 997 == 0 {
                let cursor = model.iter().nth(model.len() / 3).copied();
                let want: Vec<AgeKey> = match cursor {
                    Some(c) => model.range((Excluded(c), Unbounded)).take(50).copied().collect(),
                    None => model.iter().take(50).copied().collect(),
                };
                assert_eq!(index.after(cursor, 50, |s| live.contains(&s)), want, "round {round}");
                assert!(index.in_order.len() <= 2 * index.live + SWEEP_SLACK + 1, "swept");
            }
        }
    }

    #[test]
    fn a_restored_index_keeps_out_of_order_keys_beside_the_deque() {
        let index = AgeIndex::of([(10, 1), (12, 2), (5, 3), (12, 4), (11, 5)].into_iter());
        assert_eq!(index.first(), Some((5, 3)));
        assert_eq!(index.after(None, 10, |_| true), vec![(5, 3), (10, 1), (11, 5), (12, 2), (12, 4)]);
        assert_eq!(index.after(Some((11, 5)), 10, |_| true), vec![(12, 2), (12, 4)]);
    }
}

//! An ordered set of keys that nearly always arrive in ascending order: a queue's messages by
//! enqueue time (retention drops the oldest first; peeking reads in that order), and its
//! visible messages by seq (receives take the oldest).
//!
//! Messages arrive in order, so their keys are kept in a sorted deque (8 or 16 bytes a key)
//! rather than a B-tree of every key (about twice that, since inserting in order leaves its
//! nodes half empty). The few keys that arrive below the deque's last — a dead letter keeping
//! its source's enqueue time, a message visible again after its visibility timeout — go to a
//! B-tree beside it, and the two are read merged. A key removed from the middle of the deque
//! stays there, dead, until it reaches the front, or until dead keys outnumber live ones and
//! the deque is swept. Whether a key in the deque is dead the caller's records say (`member`:
//! is the key's message still in the set?), so a key is never pushed to the deque twice, and
//! one that comes back is in the B-tree, which then holds its only live copy.

use std::collections::{BTreeSet, VecDeque};
use std::ops::{Bound, RangeBounds};

/// Dead keys kept in the deque before a sweep, beyond as many as the live ones.
const SWEEP_SLACK: usize = 1024;

#[derive(Debug)]
pub(crate) struct AscendingSet<K> {
    /// Ascending; each key was greater than every key before it when it came. May hold dead
    /// keys, never at the front.
    in_order: VecDeque<K>,
    /// How many of `in_order`'s keys are live.
    live: usize,
    /// Keys that came no greater than the deque's last.
    others: BTreeSet<K>,
}

impl<K> Default for AscendingSet<K> {
    fn default() -> Self {
        AscendingSet { in_order: VecDeque::new(), live: 0, others: BTreeSet::new() }
    }
}

impl<K: Ord + Copy> AscendingSet<K> {
    /// A set of `keys`, none twice (a restore's, in seq order).
    pub fn of(keys: impl Iterator<Item = K>) -> AscendingSet<K> {
        let mut set = AscendingSet::default();
        let mut others = Vec::new();
        for key in keys {
            if set.in_order.back().is_none_or(|&last| key > last) {
                set.in_order.push_back(key);
            } else {
                others.push(key);
            }
        }
        set.live = set.in_order.len();
        set.in_order.shrink_to_fit();
        set.others = others.into_iter().collect();
        set
    }

    /// Add `key`, which is not in the set.
    pub fn insert(&mut self, key: K) {
        if self.in_order.back().is_none_or(|&last| key > last) {
            self.in_order.push_back(key);
            self.live += 1;
        } else {
            self.others.insert(key);
        }
    }

    /// Remove `key`, which is in the set; `member` says of any other key whether it is still
    /// in the set (of `key` it may say anything).
    pub fn remove(&mut self, key: K, member: impl Fn(K) -> bool) {
        if self.others.remove(&key) {
            return;
        }
        self.live = self.live.saturating_sub(1);
        let others = &self.others;
        let dead = |k: K| k == key || !member(k) || others.contains(&k);
        while self.in_order.front().is_some_and(|&k| dead(k)) {
            self.in_order.pop_front();
        }
        if self.in_order.len() > 2 * self.live + SWEEP_SLACK {
            self.in_order.retain(|&k| !dead(k));
            self.in_order.shrink_to(self.live * 2);
        }
    }

    pub fn clear(&mut self) {
        *self = AscendingSet::default();
    }

    pub fn len(&self) -> usize {
        self.live + self.others.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn first(&self) -> Option<K> {
        match (self.in_order.front(), self.others.first()) {
            (Some(&a), Some(&b)) => Some(a.min(b)),
            (a, b) => a.or(b).copied(),
        }
    }

    /// The keys in `range`, ascending; `member` as for `remove`.
    pub fn range<'a>(
        &'a self,
        range: impl RangeBounds<K>,
        member: impl Fn(K) -> bool + 'a,
    ) -> impl Iterator<Item = K> + 'a {
        let start = match range.start_bound() {
            Bound::Included(s) => self.in_order.partition_point(|k| k < s),
            Bound::Excluded(s) => self.in_order.partition_point(|k| k <= s),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(e) => self.in_order.partition_point(|k| k <= e),
            Bound::Excluded(e) => self.in_order.partition_point(|k| k < e),
            Bound::Unbounded => self.in_order.len(),
        };
        let bounds = (range.start_bound().cloned(), range.end_bound().cloned());
        let others = &self.others;
        let deque = self
            .in_order
            .range(start..end.max(start))
            .copied()
            .filter(move |&k| member(k) && !others.contains(&k))
            .peekable();
        Merge { a: deque, b: self.others.range(bounds).copied().peekable() }
    }
}

/// Two ascending iterators read as one.
struct Merge<A: Iterator, B: Iterator> {
    a: std::iter::Peekable<A>,
    b: std::iter::Peekable<B>,
}

impl<K: Ord, A: Iterator<Item = K>, B: Iterator<Item = K>> Iterator for Merge<A, B> {
    type Item = K;

    fn next(&mut self) -> Option<K> {
        match (self.a.peek(), self.b.peek()) {
            (Some(a), Some(b)) if a < b => self.a.next(),
            (_, Some(_)) => self.b.next(),
            (Some(_), None) => self.a.next(),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::ops::Bound::{Excluded, Unbounded};

    /// Against a B-tree of every key: new keys mostly ascending, removals of the first and
    /// from anywhere, removed keys coming back (a message visible again), every read compared.
    #[test]
    fn reads_the_same_as_an_ordered_set_of_every_key() {
        let mut set = AscendingSet::default();
        let mut model = BTreeSet::new();
        let mut gone = Vec::new();
        let mut rng = StdRng::seed_from_u64(0x9E37_79B9_7F4A_7C15);
        let mut rand = move |n: u64| rng.gen_range(0..n);
        let mut next = 1_000u64;
        for round in 0..100_000 {
            match rand(20) {
                0..=9 => {
                    next += 1 + rand(3);
                    // One key in twenty comes below the last (a late arrival).
                    let key = if rand(20) == 0 { next - rand(500) } else { next };
                    if model.insert(key) {
                        set.insert(key);
                    }
                }
                10 => {
                    if let Some(key) = gone.pop().filter(|k| !model.contains(k)) {
                        model.insert(key);
                        set.insert(key);
                    }
                }
                r => {
                    let key = if r < 15 {
                        model.first().copied()
                    } else {
                        let skip = rand(model.len().max(1) as u64) as usize;
                        model.iter().nth(skip).copied()
                    };
                    if let Some(key) = key {
                        model.remove(&key);
                        set.remove(key, |k| model.contains(&k));
                        gone.push(key);
                    }
                }
            }
            assert_eq!(set.first(), model.first().copied(), "round {round}");
            assert_eq!(set.len(), model.len(), "round {round}");
            if round % 331 == 0 {
                let from = model.iter().nth(model.len() / 3).copied().unwrap_or(0);
                let to = from + 200;
                let member = |k| model.contains(&k);
                let got: Vec<u64> = set.range((Excluded(from), Unbounded), member).take(50).collect();
                let want: Vec<u64> = model.range((Excluded(from), Unbounded)).take(50).copied().collect();
                assert_eq!(got, want, "round {round}");
                let got: Vec<u64> = set.range(from..to, member).collect();
                assert_eq!(got, model.range(from..to).copied().collect::<Vec<_>>(), "round {round}");
                assert!(set.in_order.len() <= 2 * set.live + SWEEP_SLACK + 1, "dead keys are swept");
            }
        }
    }

    #[test]
    fn a_restored_set_keeps_late_keys_beside_the_deque() {
        let set = AscendingSet::of([(10, 1), (12, 2), (5, 3), (12, 4), (11, 5)].into_iter());
        assert_eq!(set.first(), Some((5, 3)));
        assert_eq!(set.range(.., |_| true).collect::<Vec<_>>(), vec![(5, 3), (10, 1), (11, 5), (12, 2), (12, 4)]);
        assert_eq!(set.range((Excluded((11, 5)), Unbounded), |_| true).collect::<Vec<_>>(), vec![(12, 2), (12, 4)]);
    }
}

//! A queue's index slots by seq: the slots in one dense vector, found through a hash table of
//! their 4-byte positions in it.
//!
//! This is what `IndexMap` does, minus two things a queue has no use for: the hash kept beside
//! every entry (a seq hashes in a nanosecond) and 8-byte positions (a queue never holds 4
//! billion messages). With a 32-byte slot that is 40 bytes a message in the vector and 5 per
//! bucket of the table (at most 2 buckets a message), where `IndexMap` took 48 and 9 — a
//! million stored messages cost ≈ 16 MiB less. Seqs are the server's own numbers, so a fast
//! unkeyed hash is safe.

use std::hash::BuildHasher;

use hashbrown::HashTable;

#[derive(Debug)]
pub(crate) struct SeqMap<V> {
    entries: Vec<(u64, V)>,
    /// Positions in `entries`.
    table: HashTable<u32>,
    hasher: foldhash::fast::FixedState,
}

impl<V> Default for SeqMap<V> {
    fn default() -> Self {
        SeqMap { entries: Vec::new(), table: HashTable::new(), hasher: foldhash::fast::FixedState::default() }
    }
}

impl<V> SeqMap<V> {
    pub fn hash(&self, seq: u64) -> u64 {
        self.hasher.hash_one(seq)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// How many entries fit before the table grows.
    pub fn capacity(&self) -> usize {
        self.table.capacity()
    }

    fn position(&self, seq: u64) -> Option<usize> {
        let entries = &self.entries;
        self.table.find(self.hash(seq), |&i| entries[i as usize].0 == seq).map(|&i| i as usize)
    }

    pub fn get(&self, seq: &u64) -> Option<&V> {
        self.position(*seq).map(|i| &self.entries[i].1)
    }

    pub fn get_mut(&mut self, seq: &u64) -> Option<&mut V> {
        self.position(*seq).map(|i| &mut self.entries[i].1)
    }

    pub fn contains_key(&self, seq: &u64) -> bool {
        self.position(*seq).is_some()
    }

    /// Put `value` at `seq`; the value it replaces, if any.
    pub fn insert(&mut self, seq: u64, value: V) -> Option<V> {
        if let Some(i) = self.position(seq) {
            return Some(std::mem::replace(&mut self.entries[i].1, value));
        }
        self.insert_new(seq, value);
        None
    }

    /// Put `value` at `seq`, which the map does not hold (a restore's seqs are unique): no
    /// lookup first.
    pub fn insert_new(&mut self, seq: u64, value: V) {
        let hash = self.hash(seq);
        let SeqMap { entries, table, hasher } = self;
        let position = u32::try_from(entries.len()).expect("fewer than 4 billion messages in a queue");
        entries.push((seq, value));
        table.insert_unique(hash, position, |&i| hasher.hash_one(entries[i as usize].0));
    }

    /// Remove `seq`'s entry, moving the last one into its place.
    pub fn swap_remove(&mut self, seq: &u64) -> Option<V> {
        let hash = self.hash(*seq);
        let SeqMap { entries, table, hasher } = self;
        let found = table.find_entry(hash, |&i| entries[i as usize].0 == *seq).ok()?;
        let (i, _) = found.remove();
        let (i, last) = (i as usize, entries.len() - 1);
        if i != last {
            let moved = hasher.hash_one(entries[last].0);
            if let Some(p) = table.find_mut(moved, |&p| p as usize == last) {
                *p = i as u32;
            }
        }
        Some(entries.swap_remove(i).1)
    }

    pub fn reserve(&mut self, additional: usize) {
        let SeqMap { entries, table, hasher } = self;
        entries.reserve_exact(additional);
        table.reserve(additional, |&i| hasher.hash_one(entries[i as usize].0));
    }

    pub fn shrink_to(&mut self, min_capacity: usize) {
        let SeqMap { entries, table, hasher } = self;
        entries.shrink_to(min_capacity);
        table.shrink_to(min_capacity, |&i| hasher.hash_one(entries[i as usize].0));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&u64, &V)> {
        self.entries.iter().map(|(seq, value)| (seq, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::collections::HashMap;

    #[test]
    fn holds_what_a_hash_map_holds_through_inserts_removals_and_shrinks() {
        let mut map = SeqMap::default();
        let mut model = HashMap::new();
        let mut rng = StdRng::seed_from_u64(0x2545_F491_4F6C_DD1D);
        let mut rand = move |n: u64| rng.gen_range(0..n);
        for round in 0..50_000u64 {
            let seq = rand(3_000);
            match rand(4) {
                0 | 1 => assert_eq!(map.insert(seq, round), model.insert(seq, round), "round {round}"),
                2 => assert_eq!(map.swap_remove(&seq), model.remove(&seq), "round {round}"),
                _ => {
                    if let (Some(v), Some(w)) = (map.get_mut(&seq), model.get_mut(&seq)) {
                        *v += 1;
                        *w += 1;
                    }
                }
            }
            if round % 5_000 == 0 {
                map.shrink_to(map.len());
            }
            assert_eq!(map.get(&seq), model.get(&seq), "round {round}");
            assert_eq!(map.len(), model.len());
        }
        let mut all: Vec<(u64, u64)> = map.iter().map(|(&k, &v)| (k, v)).collect();
        let mut want: Vec<(u64, u64)> = model.into_iter().collect();
        all.sort_unstable();
        want.sort_unstable();
        assert_eq!(all, want);
    }
}

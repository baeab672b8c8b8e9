//! What the server has promised: every acknowledged send and delete, plus the requests
//! whose outcome the crash left unknown.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use crate::content::Content;

/// A message the server acknowledged (or, for an uncertain send, showed us after a restart).
#[derive(Debug, Clone)]
pub struct Sent {
    pub queue: usize,
    pub content: Arc<Content>,
    pub md5_body: String,
    pub md5_attrs: Option<String>,
    /// `SentTimestamp` when first drained; must never change afterwards.
    pub sent_ts: Option<String>,
    /// `ApproximateReceiveCount` at the last drain; every later drain must see more.
    pub receive_count: Option<u64>,
}

#[derive(Debug, Default)]
pub struct Model {
    /// Acknowledged, not (acknowledged) deleted: must be present exactly once.
    pub live: HashMap<String, Sent>,
    /// Acknowledged deletes: must never be seen again.
    pub deleted: HashSet<String>,
    /// Sends without an answer: the message may or may not exist.
    pub uncertain_sends: Vec<(usize, Arc<Content>)>,
    /// Deletes without an answer: the message may or may not still exist.
    pub uncertain_deletes: HashSet<String>,
}

impl Model {
    pub fn ack_send(&mut self, id: String, sent: Sent) {
        // A worker may have received and deleted the message before the send's answer arrived.
        if !self.deleted.contains(&id) {
            self.live.insert(id, sent);
        }
    }

    pub fn ack_delete(&mut self, id: &str) {
        self.live.remove(id);
        self.deleted.insert(id.to_string());
    }
}

/// Invariant violations, grouped by kind, with the first few examples of each.
#[derive(Debug, Default)]
pub struct Findings {
    kinds: BTreeMap<&'static str, (usize, Vec<String>)>,
}

const EXAMPLES: usize = 5;

impl Findings {
    pub fn add(&mut self, kind: &'static str, detail: impl Into<String>) {
        let entry = self.kinds.entry(kind).or_default();
        entry.0 += 1;
        if entry.1.len() < EXAMPLES {
            entry.1.push(detail.into());
        }
    }

    pub fn merge(&mut self, other: Findings) {
        for (kind, (count, examples)) in other.kinds {
            let entry = self.kinds.entry(kind).or_default();
            entry.0 += count;
            for e in examples {
                if entry.1.len() < EXAMPLES {
                    entry.1.push(e);
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    pub fn total(&self) -> usize {
        self.kinds.values().map(|(n, _)| n).sum()
    }

    /// One line per kind with its count, then its examples indented.
    pub fn report(&self) -> String {
        let mut out = String::new();
        for (kind, (count, examples)) in &self.kinds {
            out.push_str(&format!("  FAILED {kind}: {count}\n"));
            for e in examples {
                out.push_str(&format!("    {e}\n"));
            }
            if *count > examples.len() {
                out.push_str(&format!("    … and {} more\n", count - examples.len()));
            }
        }
        out
    }
}

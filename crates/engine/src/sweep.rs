//! Retention for queues nobody reads. Every operation on a queue drops its messages past
//! retention first, but a queue nobody touches would keep them (and their disk space)
//! forever; reads for metrics only look. One background task, for every queue, does the
//! rest: `tick(now)` drops what has expired and returns when the next message expires, and
//! a thin loop sleeps on the engine's clock until then. It also forgets move tasks that
//! ended longer ago than their retention (`movetask::MOVE_TASK_RETENTION_MS`), and deleted
//! queues' tombstones once their name may be created again.

use std::sync::Arc;

use crate::clock::Millis;
use crate::engine::Engine;

/// The longest the sweep sleeps: a queue's retention period may be shortened meanwhile,
/// which brings its next expiry forward.
const MAX_SLEEP_MS: Millis = 60_000;

impl Engine {
    /// Drop every message past retention at `now`, in every queue; returns when the next
    /// one expires (at most `MAX_SLEEP_MS` ahead). The deletes are submitted without
    /// waiting: nothing is acknowledged by them, and a lost one is expired again at load.
    pub fn sweep(&self, now: Millis) -> Millis {
        let mut next = now.saturating_add(MAX_SLEEP_MS);
        for queue in self.all_queues() {
            let mut changes = Vec::new();
            let mut state = queue.state.lock();
            if state.deleted {
                continue;
            }
            state.expire(queue.uid, now, &mut changes);
            if !changes.is_empty() {
                drop(self.store().submit(changes));
            }
            if let Some(t) = state.next_expiry() {
                next = next.min(t);
            }
        }
        let mut forgotten = self.prune_tasks(now);
        forgotten.extend(self.prune_tombstones(now));
        if !forgotten.is_empty() {
            drop(self.store().submit(forgotten));
        }
        next
    }

    /// Run `sweep` in the background until the engine stops.
    pub fn spawn_sweeper(self: &Arc<Self>) {
        self.spawn_background(|e, now| e.sweep(now));
    }
}

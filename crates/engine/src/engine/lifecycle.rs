//! Start, stop and healing: a failed store reloads the index from disk and, once it commits
//! again, service resumes.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::clock::Millis;
use crate::error::Result;
use crate::queue::Queue;
use crate::queue_id::QueueId;
use crate::store::{Health, StoreError, Stored};

use super::Engine;

impl Engine {
    /// End every long poll now (they answer with what they have) and refuse to start more waits.
    pub fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop_signal.notify_waiters();
        for q in self.queues.read().values() {
            q.arrivals.notify_waiters();
        }
    }

    /// After a failed commit: rebuild every queue's index from what the store holds —
    /// dropping the changes that were never acknowledged, so that what the server shows and
    /// answers matches the disk again — at once, and again as the store recovers (it hands
    /// over its record before it accepts changes again). Returns whether it healed.
    pub fn heal(self: &Arc<Self>) -> Result<bool, StoreError> {
        if self.store.health() == Health::Healthy {
            return Ok(false);
        }
        // Holding the registry's write lock keeps new operations out meanwhile.
        let mut queues = self.queues.write();
        if !self.reloaded.swap(true, Ordering::SeqCst) {
            let stored = self.store.load()?;
            self.reload(&mut queues, stored);
        }
        self.store.recover(&mut |stored| {
            self.reload(&mut queues, stored);
            Ok(())
        })?;
        drop(queues);
        self.reloaded.store(false, Ordering::SeqCst);
        self.resume_tasks();
        Ok(true)
    }

    /// Replace the in-memory index by what the store holds (a queue of the same uid keeps its
    /// `Queue`, so waiters on it stay attached).
    pub(super) fn reload(&self, queues: &mut BTreeMap<QueueId, Arc<Queue>>, stored: Stored) {
        let now = self.clock.now();
        let Stored { queues: loaded, tasks, seq_limit, tombstones } = stored;
        self.restore_tombstones(tombstones);
        self.seqs.forget_reservations_since(seq_limit);
        let mut fresh = BTreeMap::new();
        for q in loaded {
            let id = self.stored_id(&q.record.name);
            let queue = Queue::restore(id.clone(), self.arn_of(&id), q, now, &*self.store, &self.seqs);
            fresh.insert(id, queue);
        }
        for (name, old) in queues.iter() {
            match fresh.get(name) {
                Some(new) if new.uid == old.uid => {
                    let mut state = old.state.lock();
                    // The running totals are since the server started: they go on.
                    let stats = state.stats;
                    std::mem::swap(&mut *state, &mut *new.state.lock());
                    state.stats = stats;
                    drop(state);
                    fresh.insert(name.clone(), old.clone());
                }
                _ => {
                    old.state.lock().deleted = true;
                    old.arrivals.notify_waiters();
                }
            }
        }
        *queues = fresh;
        self.move_tasks.reload(tasks);
    }

    /// Watch the store and heal it when it fails (checks once a second of the clock).
    pub fn spawn_healer(self: &Arc<Self>) {
        self.spawn_background(|e, now| {
            match e.heal() {
                Ok(true) => tracing::warn!("store recovered; state reloaded from disk"),
                Ok(false) => {}
                Err(err) => tracing::warn!(error = %err, "store still failing"),
            }
            now + 1000
        });
    }

    /// Run background work until the engine stops: `step(engine, now)` does what is due and
    /// returns when it wants to run next; the loop only sleeps on the engine's clock. It
    /// holds the engine only while a step runs, so a dropped engine ends it too.
    pub(crate) fn spawn_background(self: &Arc<Self>, step: impl Fn(&Arc<Engine>, Millis) -> Millis + Send + 'static) {
        let engine = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(e) = engine.upgrade() else { return };
                if e.is_stopping() {
                    return;
                }
                let next = step(&e, e.clock.now());
                let wake = e.clock.sleep_until(next);
                let stopped = e.clone();
                drop(e);
                tokio::select! {
                    _ = wake => {}
                    _ = stopped.stopped() => return,
                }
            }
        });
    }

    /// `shutdown`, then wait for the move-task driver to stop (it holds the engine).
    pub async fn stop(&self) {
        self.shutdown();
        let driver = self.move_task_driver.lock().take();
        if let Some(driver) = driver {
            let _ = driver.await;
        }
        // Release the data directory now, even if a lingering connection still holds the engine.
        self.store.close();
    }

    /// Resolves once `shutdown` has been called.
    pub(crate) async fn stopped(&self) {
        let signal = self.stop_signal.notified();
        tokio::pin!(signal);
        signal.as_mut().enable();
        if !self.is_stopping() {
            signal.await;
        }
    }
}

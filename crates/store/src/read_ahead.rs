//! Reading ahead of a restore's scan of a large queue, for a cold start.
//!
//! `load` reads a queue's states in key order, one B-tree leaf at a time. With the page cache
//! cold (after a reboot) each leaf is a read from the disk, waited for before the next is asked
//! for, and the leaves are scattered across the file among the bodies written beside them: a
//! restore of 10 M messages spent two thirds of its time waiting on one read at a time. Once a
//! queue proves large, helper connections count the rows of the ranges ahead of the scan, so
//! several reads are in flight at once and the scan finds its leaves in the page cache. They
//! share nothing with the scan but the operating system's page cache: what `load` returns is
//! its own read transaction's, whatever the helpers read, and a helper that fails only leaves
//! its range cold.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// Rows of one queue the scan reads before helpers start: small queues never start them.
pub(crate) const START_AFTER: usize = 50_000;
/// Seqs in one helper's range.
const RANGE: u64 = 16_384;
/// Helpers, each with one read in flight: the disk's queue depth, not a number of cores.
const HELPERS: usize = 8;
/// A range read faster than this was in the page cache already (from a cold disk, its ≈ 160
/// leaves take tens of milliseconds): the helpers stop, so a warm start does not pay for
/// counting what the scan reads anyway.
const CACHED: Duration = Duration::from_millis(2);

/// Read-aheads started, for the test that the scan of a large queue starts one.
#[cfg(test)]
pub(crate) static STARTED: AtomicU64 = AtomicU64::new(0);

/// Helpers reading ahead of the scan of one queue, stopped (and joined) when dropped.
pub(crate) struct ReadAhead {
    shared: Arc<Shared>,
    helpers: Vec<JoinHandle<()>>,
}

struct Shared {
    queue: i64,
    /// The first seq of range 0.
    from: u64,
    /// The queue's last seq.
    to: u64,
    /// The next range a helper takes; the scan moves it past the ranges it has reached.
    next: AtomicU64,
    stop: AtomicBool,
}

impl ReadAhead {
    /// Helpers for the seqs of `queue` after `from` up to `to`, the queue's last.
    pub fn start(path: &Path, vfs: Option<&str>, queue: i64, from: u64, to: u64) -> ReadAhead {
        #[cfg(test)]
        STARTED.fetch_add(1, Ordering::Relaxed);
        // Range 0 is the one the scan is in: a helper would find it cached by the scan.
        let shared = Arc::new(Shared { queue, from, to, next: AtomicU64::new(1), stop: AtomicBool::new(false) });
        let helpers = (0..HELPERS)
            .filter_map(|i| {
                let (shared, path, vfs) = (shared.clone(), path.to_path_buf(), vfs.map(str::to_string));
                std::thread::Builder::new()
                    .name(format!("redrive-read-ahead-{i}"))
                    .spawn(move || match super::open_reader(&path, vfs.as_deref()) {
                        Ok(conn) => shared.help(&conn),
                        Err(e) => tracing::debug!(error = %e, "read-ahead connection"),
                    })
                    .ok()
            })
            .collect();
        ReadAhead { shared, helpers }
    }

    /// The scan has reached `seq`: ranges before it are no use any more.
    pub fn reached(&self, seq: u64) {
        let s = &self.shared;
        s.next.fetch_max(seq.saturating_sub(s.from) / RANGE + 1, Ordering::Relaxed);
    }
}

impl Shared {
    fn help(&self, conn: &Connection) {
        let Ok(mut count) = conn.prepare("SELECT count(*) FROM states WHERE queue = ?1 AND seq >= ?2 AND seq < ?3")
        else {
            return;
        };
        while !self.stop.load(Ordering::Relaxed) {
            let range = self.next.fetch_add(1, Ordering::Relaxed);
            let lo = self.from.saturating_add(range.saturating_mul(RANGE));
            if lo > self.to {
                return;
            }
            let hi = lo.saturating_add(RANGE);
            #[allow(clippy::disallowed_methods)] // how long a read took is the disk's time, not SQS time
            let began = Instant::now();
            if let Err(e) = count
                .query_row(rusqlite::params![self.queue, super::key(lo), super::key(hi.min(i64::MAX as u64))], |r| {
                    r.get::<_, i64>(0)
                })
            {
                tracing::debug!(error = %e, "read-ahead");
                return;
            }
            if began.elapsed() < CACHED {
                self.stop.store(true, Ordering::Relaxed);
            }
        }
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for helper in self.helpers.drain(..) {
            let _ = helper.join();
        }
    }
}

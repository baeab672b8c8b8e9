//! Giving a drained store's disk space back (issue 21: the disk back near its starting size
//! once the queues are drained).
//!
//! SQLite reuses the pages a delete frees (its freelist) but never shrinks the file by itself,
//! so a store that once held a deep backlog would keep that size for good. Databases are made
//! with `auto_vacuum=INCREMENTAL` (see `open_writer`), which keeps the pointer maps that let
//! `PRAGMA incremental_vacuum(N)` move the last N pages into free slots and cut the file.
//!
//! The writer runs it in its idle time (`group::write`: no submission waiting), one bounded
//! step at a time, so a burst of sends waits for one step at most; outside a pass it looks at
//! the freelist once a second at most (`LOOK_EVERY`), since under load it is idle between
//! most commits:
//! - a pass starts only when the freelist is both over `MIN_FREE_BYTES` and over a quarter of
//!   the file. Free pages are what the next fill reuses first; vacuuming a small or
//!   proportionally small freelist would only move pages that the next burst extends the file
//!   for again (two writes for nothing), and under `MIN_FREE_BYTES` the gain is within the
//!   WAL's usual size (the automatic checkpoint lets it reach ~4 MiB);
//! - once started, a pass goes on, `STEP_PAGES` per step (each one transaction, one fsync),
//!   a step only once no commit has come for `QUIET` (or one `PACE` after the last, so that a
//!   pass under unbroken load still ends), until no page is free, then truncates the WAL
//!   (`wal_checkpoint(TRUNCATE)`), which the moved pages went through, so both files shrink (waiting `CHECKPOINT_WAIT` at most for
//!   readers on an older snapshot; if one holds on, the next idle time tries again);
//! - every step is a committed transaction: a crash between or inside steps leaves a database
//!   SQLite recovers like any other, with every message (a vacuum moves pages, not rows).
//!
//! A step that fails (a full disk, a failed fsync) ends the pass with a warning; the record is
//! untouched, and the next idle time tries again. `SqliteStore::housekeeping_pass` waits for a
//! pass that began after it was called, so a test (or an operator's tool) can see it done.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::group::Idle;

/// Pages one step moves at most (with 4 KiB pages, 1 MiB): a step costs about one fsync and
/// the writes of that many pages, the longest a submission arriving mid-step waits.
const STEP_PAGES: u64 = 256;
/// Free bytes below which no pass starts.
const MIN_FREE_BYTES: u64 = 8 << 20;
/// A pass starts when more than 1/`FREE_SHARE_DIVISOR` of the file is free.
const FREE_SHARE_DIVISOR: u64 = 4;
/// How long the closing checkpoint waits for readers on an older snapshot; the WAL is left for
/// the next pass rather than hold up submissions for the store's full busy timeout.
const CHECKPOINT_WAIT: Duration = Duration::from_millis(50);
/// How often, at most, an idle writer looks at the freelist (three pragma reads) when no pass
/// is under way or asked for.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// During a pass, a step waits until no commit has come for this long: under a steady stream of
/// submissions the writer is idle for a moment between most commits, and a step in each of
/// those moments would make every commit wait for one (single sends at c=256 fell from
/// ≈ 45,000 to ≈ 4,000 a second while a pass ran).
const QUIET: Duration = Duration::from_millis(20);
/// Under load that never lets up, a pass still takes one step this often, so it ends.
const PACE: Duration = Duration::from_secs(1);

/// Real time, for pacing the looks: housekeeping is not part of the engine's behaviour, which
/// the engine's clock (driven by hand in tests) governs.
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

/// What the store and its writer share: passes asked for and passes done.
#[derive(Default)]
pub(crate) struct Shared {
    /// The highest ticket handed out by `SqliteStore::housekeeping_pass`.
    requested: AtomicU64,
    /// The highest ticket a finished pass had seen when it began.
    done: tokio::sync::watch::Sender<u64>,
    /// No pass unless one is asked for (tests, to place a pass exactly).
    paused: AtomicBool,
    /// Commits the writer has made: a pass's steps wait for them to pause (`QUIET`).
    commits: AtomicU64,
}

impl Shared {
    /// A ticket for a pass beginning after now, and a watch of the passes done.
    pub fn request(&self) -> (u64, tokio::sync::watch::Receiver<u64>) {
        let done = self.done.subscribe();
        (self.requested.fetch_add(1, Ordering::SeqCst) + 1, done)
    }

    /// The writer has committed a group.
    pub fn committed(&self) {
        self.commits.fetch_add(1, Ordering::Relaxed);
    }

    #[cfg(test)]
    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
    }
}

/// The writer's side: where the current pass is.
pub(crate) struct Housekeeper {
    shared: Arc<Shared>,
    /// A pass is under way: vacuum until nothing is free, then truncate the WAL.
    vacuuming: bool,
    /// The ticket the current pass began with.
    ticket: u64,
    /// The WAL still holds the pass's moved pages: a reader kept the last checkpoint from
    /// truncating it.
    wal_left: bool,
    /// When the freelist was last looked at outside a pass.
    last_look: Option<Instant>,
    /// The commits counted at the last step or wait.
    commits_seen: u64,
    /// When that count was first seen (`None`: not since it last changed).
    quiet_since: Option<Instant>,
    /// When the pass last took a step.
    last_step: Option<Instant>,
}

impl Housekeeper {
    pub fn new(shared: Arc<Shared>) -> Housekeeper {
        Housekeeper {
            shared,
            vacuuming: false,
            ticket: 0,
            wal_left: false,
            last_look: None,
            commits_seen: 0,
            quiet_since: None,
            last_step: None,
        }
    }

    /// One bounded step on the writer's connection; what is left to do.
    pub fn step(&mut self, conn: &Connection) -> Idle {
        let requested = self.shared.requested.load(Ordering::SeqCst);
        let asked = requested > *self.shared.done.borrow();
        if !self.vacuuming {
            if self.shared.paused.load(Ordering::SeqCst) && !asked {
                return Idle::Done;
            }
            // Under load the writer is idle between most commits: it looks at the freelist
            // once a second at most, and comes back for the look it skipped if it stays idle.
            if let Some(since) =
                self.last_look.map(|t| now().saturating_duration_since(t)).filter(|&e| e < LOOK_EVERY && !asked)
            {
                return Idle::LookAgainIn(LOOK_EVERY - since);
            }
            self.last_look = Some(now());
            self.ticket = requested;
        } else if let Some(wait) = self.wait_for_quiet() {
            return Idle::LookAgainIn(wait);
        }
        let more = match self.try_step(conn) {
            Ok(more) => more,
            Err(e) => {
                tracing::warn!(error = %e, "returning the store's free space failed; trying again when next idle");
                self.vacuuming = false;
                false
            }
        };
        if more {
            return Idle::More;
        }
        self.shared.done.send_if_modified(|done| {
            let newer = self.ticket > *done;
            *done = (*done).max(self.ticket);
            newer
        });
        // A pass asked for while this one ran must begin after the ask: one more step.
        if self.shared.requested.load(Ordering::SeqCst) > self.ticket {
            Idle::More
        } else {
            Idle::Done
        }
    }

    /// Mid-pass: how long to wait before the next step, if commits have not paused for `QUIET`
    /// and the last step is not `PACE` old.
    fn wait_for_quiet(&mut self) -> Option<Duration> {
        let now = now();
        let commits = self.shared.commits.load(Ordering::Relaxed);
        if commits != self.commits_seen {
            self.commits_seen = commits;
            self.quiet_since = None;
        }
        let quiet = now.saturating_duration_since(*self.quiet_since.get_or_insert(now));
        let paced = self.last_step.is_none_or(|t| now.saturating_duration_since(t) >= PACE);
        if quiet >= QUIET || paced {
            self.last_step = Some(now);
            return None;
        }
        Some(QUIET - quiet)
    }

    fn try_step(&mut self, conn: &Connection) -> rusqlite::Result<bool> {
        let pragma = |name: &str| conn.pragma_query_value(None, name, |r| r.get::<_, i64>(0)).map(|v| v as u64);
        let (free, pages, page_size) = (pragma("freelist_count")?, pragma("page_count")?, pragma("page_size")?);
        if !self.vacuuming {
            if free * page_size < MIN_FREE_BYTES || free * FREE_SHARE_DIVISOR <= pages {
                return if self.wal_left { self.truncate_wal(conn).map(|()| false) } else { Ok(false) };
            }
            tracing::info!(
                free_mib = (free * page_size) >> 20,
                file_mib = (pages * page_size) >> 20,
                "returning the store's free space to the disk"
            );
            self.vacuuming = true;
        }
        if free > 0 {
            // One row per page moved: stepped to the end, the step is one transaction.
            let mut stmt = conn.prepare_cached(&format!("PRAGMA incremental_vacuum({STEP_PAGES})"))?;
            let mut rows = stmt.query([])?;
            while rows.next()?.is_some() {}
            return Ok(true);
        }
        self.vacuuming = false;
        self.wal_left = true;
        self.truncate_wal(conn)?;
        tracing::info!(file_mib = (pages * page_size) >> 20, "returned the store's free space to the disk");
        Ok(false)
    }

    /// Checkpoint the whole WAL and truncate it to nothing, waiting briefly for readers.
    fn truncate_wal(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        conn.busy_timeout(CHECKPOINT_WAIT)?;
        let busy = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0));
        conn.busy_timeout(crate::BUSY_TIMEOUT)?;
        self.wal_left = busy? != 0;
        Ok(())
    }
}

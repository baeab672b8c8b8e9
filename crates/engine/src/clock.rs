//! The one place time is read. Everything below the engine takes `now` as a value
//! (epoch milliseconds); waiting goes through `Clock::sleep_until`, so tests that use
//! `ManualClock` move time forward instead of sleeping.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::watch;

/// Milliseconds since the Unix epoch.
pub type Millis = u64;

pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Millis;
    /// Completes once `now() >= deadline`.
    fn sleep_until(&self, deadline: Millis) -> Sleep;
}

/// Wall-clock time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one sanctioned read of the system clock
    fn now(&self) -> Millis {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as Millis).unwrap_or(0)
    }

    #[allow(clippy::disallowed_methods)] // the one sanctioned timer
    fn sleep_until(&self, deadline: Millis) -> Sleep {
        let wait = deadline.saturating_sub(self.now());
        Box::pin(tokio::time::sleep(std::time::Duration::from_millis(wait)))
    }
}

/// Time that moves only when told to. Sleepers wake as soon as `advance` passes their deadline.
#[derive(Clone)]
pub struct ManualClock {
    now: Arc<AtomicU64>,
    tick: Arc<watch::Sender<Millis>>,
}

impl ManualClock {
    pub fn new(start: Millis) -> Self {
        let (tx, _) = watch::channel(start);
        ManualClock { now: Arc::new(AtomicU64::new(start)), tick: Arc::new(tx) }
    }

    /// A manual clock starting at the current wall-clock time, so timestamps look real.
    pub fn starting_now() -> Self {
        ManualClock::new(SystemClock.now())
    }

    pub fn advance(&self, by: std::time::Duration) -> Millis {
        let by = by.as_millis() as Millis;
        let now = self.now.fetch_add(by, Ordering::SeqCst) + by;
        self.tick.send_replace(now);
        now
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Millis {
        self.now.load(Ordering::SeqCst)
    }

    fn sleep_until(&self, deadline: Millis) -> Sleep {
        let mut rx = self.tick.subscribe();
        let now = self.now.clone();
        Box::pin(async move {
            while now.load(Ordering::SeqCst) < deadline {
                if rx.changed().await.is_err() {
                    // The clock is gone: nothing will ever advance it.
                    std::future::pending::<()>().await;
                }
            }
        })
    }
}

impl std::fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ManualClock({})", self.now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_sleeper_wakes_when_the_manual_clock_passes_its_deadline() {
        let clock = ManualClock::new(1_000);
        let sleep = clock.sleep_until(1_500);
        let handle = tokio::spawn(sleep);
        clock.advance(Duration::from_millis(200));
        tokio::task::yield_now().await;
        assert!(!handle.is_finished());
        clock.advance(Duration::from_millis(300));
        tokio::time::timeout(Duration::from_secs(5), handle).await.unwrap().unwrap();
        assert_eq!(clock.now(), 1_500);
    }

    #[tokio::test]
    async fn a_deadline_in_the_past_completes_at_once() {
        let clock = ManualClock::new(1_000);
        tokio::time::timeout(Duration::from_secs(5), clock.sleep_until(10)).await.unwrap();
    }
}

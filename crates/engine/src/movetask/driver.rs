//! The one loop that runs every move task: `tick`, then wait — through the engine's clock —
//! for the earliest deadline, the oldest submitted batch to be durable, or a wake-up.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{MoveTasks, Submitted};
use crate::engine::Engine;

pub(crate) fn spawn(engine: Arc<Engine>, tasks: Arc<MoveTasks>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(drive(engine, tasks))
}

async fn drive(engine: Arc<Engine>, tasks: Arc<MoveTasks>) {
    let clock = engine.clock().clone();
    // In submission order, which is the order the store makes them durable: waiting for
    // the oldest first loses no time.
    let mut submitted: VecDeque<Submitted> = VecDeque::new();
    while !engine.is_stopping() {
        let tick = tasks.tick(&*engine, clock.now());
        submitted.extend(tick.submitted);
        let deadline = async {
            match tick.next {
                Some(at) => clock.sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        // Awaited by reference: if another branch wins, the commit is still there to await.
        let oldest = async {
            match submitted.front_mut() {
                Some(s) => (&mut s.commit).await.map_err(|e| Engine::not_durable(&e)),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = oldest => {
                if let Some(Submitted { batch: Some(batch), .. }) = submitted.pop_front() {
                    tasks.settled(batch, result);
                }
            }
            _ = deadline => {}
            _ = tasks.woken() => {}
            _ = engine.stopped() => break,
        }
        // A store that commits at once (in memory) would otherwise keep this thread.
        tokio::task::yield_now().await;
    }
    // Tasks keep their status and resume at the next start; what was submitted is made
    // durable before the store closes.
    for s in submitted {
        let _ = s.commit.await;
    }
}

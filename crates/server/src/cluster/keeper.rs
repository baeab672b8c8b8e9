//! The lease keeper: a thread of its own (the lease's PostgreSQL calls block) that takes the
//! lease when it is free, renews it while this node holds it, and tells the node what it sees.
//!
//! It only reports; the node decides (`cluster::Node`): it builds an engine when told it
//! won, steps down when told it lost, and checks by its own clock that renewals keep coming.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use store::postgres::{Holder, Lease};

/// What the keeper saw.
#[derive(Debug)]
pub enum Seen {
    /// This node took the lease: its epoch, and the cluster's token.
    Won { epoch: i64, token: String },
    /// A renewal of `epoch` succeeded; it was sent at `at`.
    Renewed { epoch: i64, at: Instant },
    /// The lease of `epoch` is no longer this node's.
    Lost { epoch: i64 },
    /// Another node holds it (or nobody, and taking it failed).
    Follow(Holder),
    /// The database could not be asked.
    Unreachable(String),
}

/// What the node asks of the keeper.
#[derive(Debug)]
pub enum Ask {
    /// Give up the lease of this epoch (this node stepped down, or is stopping).
    Release(i64),
    /// Stop: release what is held and end the thread.
    Stop,
}

pub struct Settings {
    pub database: String,
    pub schema: String,
    pub node: String,
    pub url: String,
    pub ttl: Duration,
}

/// How often a node that does not hold the lease looks at it.
const LOOK_EVERY: Duration = Duration::from_millis(500);

pub fn run(settings: &Settings, asks: &mpsc::Receiver<Ask>, tell: &tokio::sync::mpsc::UnboundedSender<Seen>) {
    let mut lease: Option<Lease> = None;
    let mut held: Option<i64> = None;
    loop {
        let pause = if held.is_some() { settings.ttl / 5 } else { LOOK_EVERY };
        match asks.recv_timeout(pause) {
            Ok(Ask::Release(epoch)) => {
                if held == Some(epoch) {
                    held = None;
                }
                if let Some(l) = lease.as_mut() {
                    if let Err(e) = l.release(&settings.node, epoch) {
                        tracing::warn!(error = %e, epoch, "releasing the lease");
                    }
                }
                continue;
            }
            Ok(Ask::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                if let (Some(l), Some(epoch)) = (lease.as_mut(), held) {
                    let _ = l.release(&settings.node, epoch);
                }
                return;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if lease.as_ref().is_none_or(Lease::is_closed) {
            match Lease::connect(&settings.database, &settings.schema) {
                Ok(l) => lease = Some(l),
                Err(e) => {
                    let _ = tell.send(Seen::Unreachable(e.0));
                    continue;
                }
            }
        }
        let Some(l) = lease.as_mut() else { continue };
        let step = match held {
            Some(epoch) => {
                let at = super::real_now();
                l.renew(&settings.node, epoch, settings.ttl).map(|kept| {
                    if kept {
                        Seen::Renewed { epoch, at }
                    } else {
                        held = None;
                        Seen::Lost { epoch }
                    }
                })
            }
            None => l.read().and_then(|holder| {
                if !holder.expired && holder.node.as_deref() != Some(settings.node.as_str()) {
                    return Ok(Seen::Follow(holder));
                }
                match l.take(&settings.node, &settings.url, settings.ttl)? {
                    Some(epoch) => {
                        held = Some(epoch);
                        Ok(Seen::Won { epoch, token: holder.token })
                    }
                    None => l.read().map(Seen::Follow),
                }
            }),
        };
        let seen = match step {
            Ok(seen) => seen,
            Err(e) => {
                // A broken connection is replaced at the next turn.
                if l.is_closed() {
                    lease = None;
                }
                Seen::Unreachable(e.0)
            }
        };
        if tell.send(seen).is_err() {
            return;
        }
    }
}

//! What both durable stores share: submissions queued to one writer thread, which takes every
//! submission waiting into one transaction (group commit), and the bodies of submissions not
//! committed yet, kept so reads find them (the contract's "reads see submissions").

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

use engine::message::SharedContent;
use engine::store::{Change, Commit, StoreError};

/// Most submissions one transaction takes.
const MAX_GROUP: usize = 4096;

/// One submission, and where its outcome goes.
pub(crate) struct Job {
    pub changes: Vec<Change>,
    done: tokio::sync::oneshot::Sender<Result<(), StoreError>>,
}

/// Bodies submitted but not yet committed, by (queue, seq).
pub(crate) type Pending = Arc<parking_lot::Mutex<HashMap<(u64, u64), SharedContent>>>;

pub(crate) fn refusing() -> StoreError {
    StoreError("the store refuses changes after a failed commit, until it recovers".into())
}

/// The submitting side: `Store::submit`, and the pending bodies reads consult.
pub(crate) struct Submissions {
    /// `None` once closed: closing the channel ends the writer.
    jobs: parking_lot::Mutex<Option<mpsc::Sender<Job>>>,
    pub pending: Pending,
    /// A commit failed: changes are refused until the store recovers.
    pub failed: Arc<AtomicBool>,
}

impl Submissions {
    /// The submitting side, and the receiving end its writer thread runs `write` on.
    pub fn new() -> (Submissions, mpsc::Receiver<Job>) {
        let (jobs, rx) = mpsc::channel();
        let submissions = Submissions {
            jobs: parking_lot::Mutex::new(Some(jobs)),
            pending: Pending::default(),
            failed: Arc::new(AtomicBool::new(false)),
        };
        (submissions, rx)
    }

    /// Queue `changes` for the writer; the future resolves with their commit.
    pub fn submit(&self, changes: Vec<Change>) -> Commit {
        if self.failed.load(Ordering::SeqCst) {
            return Box::pin(std::future::ready(Err(refusing())));
        }
        let (done, wait) = tokio::sync::oneshot::channel();
        {
            let mut p = self.pending.lock();
            for change in &changes {
                if let Change::PutMessage { queue, seq, content, .. } = change {
                    p.insert((*queue, *seq), content.clone());
                }
            }
        }
        // Once sent, the writer answers — with the commit's own error if this very job fails it
        // (checking `failed` again here would race the writer and hide that error); it refuses
        // the job itself if the store failed meanwhile, and drops its pending bodies either way.
        let sent = self.jobs.lock().as_ref().is_some_and(|j| j.send(Job { changes, done }).is_ok());
        if !sent {
            return Box::pin(std::future::ready(Err(crate::closed())));
        }
        Box::pin(async move { wait.await.unwrap_or_else(|_| Err(StoreError("the store writer stopped".into()))) })
    }

    /// The pending bodies of `seqs` of `queue` (`None`: not pending — committed, or unknown).
    pub fn pending(&self, queue: u64, seqs: &[u64]) -> Vec<Option<SharedContent>> {
        let pending = self.pending.lock();
        seqs.iter().map(|seq| pending.get(&(queue, *seq)).cloned()).collect()
    }

    /// No more submissions: the writer finishes what is queued and ends.
    pub fn close(&self) {
        self.jobs.lock().take();
    }

    pub fn is_closed(&self) -> bool {
        self.jobs.lock().is_none()
    }
}

/// What an idle writer's housekeeping step leaves to do.
pub(crate) enum Idle {
    /// Nothing until the next submission.
    Done,
    /// Another step, unless a submission arrived meanwhile.
    More,
    /// Nothing now; look again after this long if no submission arrives first.
    LookAgainIn(std::time::Duration),
}

/// The writer thread's loop: each turn takes every submission waiting (up to `MAX_GROUP`),
/// commits them with `commit` in one transaction — or refuses them while the store is failed —
/// then drops their pending bodies and answers each. Ends when the submitting side closes.
/// While no submission waits (and the store is not failed), `idle` does one bounded step of
/// housekeeping and says what is left (`Idle`); a submission arriving ends the idle time,
/// so it waits for one step at most.
pub(crate) fn write(
    rx: &mpsc::Receiver<Job>,
    failed: &AtomicBool,
    pending: &Pending,
    mut commit: impl FnMut(&[Job]) -> Result<(), StoreError>,
    mut idle: impl FnMut() -> Idle,
) {
    let mut next = None;
    loop {
        let first = match next.take() {
            Some(job) => job,
            None => match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let result = if failed.load(Ordering::SeqCst) { Err(refusing()) } else { commit(&group) };
        if let Err(e) = &result {
            // Failed first: nothing that follows (logging included) may leave the store
            // accepting changes after a commit it lost.
            failed.store(true, Ordering::SeqCst);
            tracing::error!(error = %e, "store commit failed; refusing further changes until it recovers");
        }
        {
            // Committed (or refused for good): either way the pending copies are done.
            let mut p = pending.lock();
            for change in group.iter().flat_map(|j| j.changes.iter()) {
                if let Change::PutMessage { queue, seq, .. } = change {
                    p.remove(&(*queue, *seq));
                }
            }
        }
        for job in group {
            let _ = job.done.send(result.clone());
        }
        loop {
            match rx.try_recv() {
                Ok(job) => {
                    next = Some(job);
                    break;
                }
                Err(mpsc::TryRecvError::Disconnected) => return,
                Err(mpsc::TryRecvError::Empty) if failed.load(Ordering::SeqCst) => break,
                Err(mpsc::TryRecvError::Empty) => match idle() {
                    Idle::Done => break,
                    Idle::More => {}
                    Idle::LookAgainIn(wait) => match rx.recv_timeout(wait) {
                        Ok(job) => {
                            next = Some(job);
                            break;
                        }
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    },
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The submission whose commit fails hears that commit's own error, not the refusal that
    /// follows it. Many rounds, since the writer has to win a race against the submitter for
    /// a wrong answer to show.
    #[tokio::test]
    async fn a_failed_commit_answers_with_its_own_error() {
        for round in 0..500 {
            let (submissions, rx) = Submissions::new();
            let (failed, pending) = (submissions.failed.clone(), submissions.pending.clone());
            let writer = std::thread::spawn(move || {
                write(&rx, &failed, &pending, |_| Err(StoreError("disk full".into())), || Idle::Done)
            });
            let first = submissions.submit(Vec::new()).await.expect_err("the commit fails");
            assert_eq!(first.0, "disk full", "round {round}");
            let next = submissions.submit(Vec::new()).await.expect_err("refused");
            assert_eq!(next.0, refusing().0);
            submissions.close();
            writer.join().expect("the writer ends");
        }
    }
}

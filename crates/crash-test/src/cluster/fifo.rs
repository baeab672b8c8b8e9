//! FIFO order per group across failovers.
//!
//! During every cycle's load, one sender per group sends numbered messages (`g2-000017`) to a
//! FIFO queue, one at a time, each with its own deduplication id. A send left without an answer
//! (the kill) is sent again with the same id until it is answered — the deduplication record
//! must survive the takeover, so a retry never makes a second copy — or, if the load stops
//! first, it is counted as maybe sent. A consumer receives and deletes at the same time, and at
//! the end the rest is received the same way. Every receive is checked as it comes: within a
//! group a message is either the next one (higher than any received before, with no
//! acknowledged number skipped) or the redelivery of the oldest one whose delete had no answer
//! (which then cannot have been deleted); a message whose delete was acknowledged never comes
//! back. At the end every acknowledged number must have been received and deleted, and nothing
//! received that was never sent.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{json, Value};

use crate::client::{list_of, str_of, CallError, Sqs};
use crate::load::{lock, Shared};
use crate::model::Findings;
use crate::verify::{counts, DRAIN_VISIBILITY_S};

pub const QUEUE: &str = "crash-test-order.fifo";

#[derive(Default)]
struct Group {
    /// The next number to send.
    next: u64,
    /// Numbers whose send was acknowledged.
    acked: BTreeSet<u64>,
    /// Numbers whose send had no answer when the load stopped.
    maybe: BTreeSet<u64>,
    /// Sends that were answered only on a retry.
    retried: u64,
    /// The highest number received so far.
    last: Option<u64>,
    /// Numbers received and deleted (the delete acknowledged, or implied by what came next).
    deleted: BTreeSet<u64>,
    /// Numbers received whose delete has no answer (yet), with the receive they came in: each
    /// may come back, oldest first.
    undeleted: BTreeMap<u64, u64>,
    /// Receives of a number whose delete had no answer.
    redelivered: u64,
}

impl Group {
    /// Check number `n`, received in receive `round`, against what this group received before.
    fn received(&mut self, g: usize, n: u64, round: u64, findings: &mut Findings) {
        if self.deleted.contains(&n) {
            findings.add(
                "FIFO message received again after its delete",
                format!("{}: its delete was acknowledged, or a later message of its group came since", body(g, n)),
            );
            return;
        }
        let redelivery = match self.undeleted.get(&n) {
            Some(&r) if r == round => {
                findings.add("FIFO message twice in one receive", body(g, n));
                return;
            }
            Some(_) => true,
            None => match self.last {
                Some(last) if n <= last => {
                    findings.add(
                        "FIFO order broken within a group",
                        format!("{} received after {}", body(g, n), body(g, last)),
                    );
                    return;
                }
                _ => false,
            },
        };
        // Had an earlier message of this group not been deleted, it would have come first (or
        // held the group back while in flight): every earlier delete without an answer took
        // effect.
        let earlier: Vec<u64> = self.undeleted.range(..n).filter(|(_, &r)| r != round).map(|(&u, _)| u).collect();
        for u in earlier {
            self.undeleted.remove(&u);
            self.deleted.insert(u);
        }
        if redelivery {
            self.redelivered += 1;
        } else {
            let from = self.last.map_or(0, |l| l + 1);
            if let Some(skipped) = self.acked.range(from..n).next() {
                findings.add(
                    "FIFO message skipped",
                    format!("{} received before {} (acknowledged, never received)", body(g, n), body(g, *skipped)),
                );
            }
            self.last = Some(n);
        }
        // Until its delete is answered, it may come back.
        self.undeleted.insert(n, round);
    }
}

pub struct Fifo {
    pub url: String,
    groups: Vec<Mutex<Group>>,
    /// Receives so far.
    rounds: AtomicU64,
}

impl Fifo {
    pub async fn create(sqs: &Sqs, groups: usize) -> Result<Fifo, String> {
        let input = json!({ "QueueName": QUEUE, "Attributes": { "FifoQueue": "true" } });
        let answer = sqs.call("CreateQueue", &input).await.map_err(|e| format!("CreateQueue {QUEUE}: {e}"))?;
        let url = str_of(&answer, "QueueUrl").ok_or_else(|| format!("CreateQueue {QUEUE} answered {answer}"))?;
        Ok(Fifo {
            url: url.to_string(),
            groups: (0..groups).map(|_| Mutex::default()).collect(),
            rounds: AtomicU64::new(0),
        })
    }

    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    /// Acknowledged sends so far, and sends answered only on a retry.
    pub fn sent(&self) -> (usize, u64) {
        self.groups.iter().fold((0, 0), |(n, r), g| {
            let g = lock(g);
            (n + g.acked.len(), r + g.retried)
        })
    }
}

fn body(group: usize, n: u64) -> String {
    format!("g{group}-{n:06}")
}

/// Send group `g`'s numbers in order until the load stops.
pub async fn sender(sh: Arc<Shared>, fifo: Arc<Fifo>, g: usize) {
    while !sh.stop.load(Ordering::SeqCst) {
        let n = lock(&fifo.groups[g]).next;
        let input = json!({
            "QueueUrl": fifo.url,
            "MessageBody": body(g, n),
            "MessageGroupId": format!("g{g}"),
            "MessageDeduplicationId": body(g, n),
        });
        let mut tries = 0u32;
        let acked = loop {
            tries += 1;
            match sh.sqs.call("SendMessage", &input).await {
                Ok(_) => break true,
                Err(e) if e.uncertain() && !sh.stop.load(Ordering::SeqCst) => {
                    sh.unexpected("SendMessage (FIFO)", &e);
                    // Not in a hurry: a takeover takes seconds.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(e) => {
                    sh.unexpected("SendMessage (FIFO)", &e);
                    break false;
                }
            }
        };
        let mut group = lock(&fifo.groups[g]);
        if acked {
            group.acked.insert(n);
            if tries > 1 {
                group.retried += 1;
            }
        } else {
            group.maybe.insert(n);
        }
        group.next = n + 1;
    }
}

/// Receive and delete until the load stops.
pub async fn consumer(sh: Arc<Shared>, fifo: Arc<Fifo>) {
    while !sh.stop.load(Ordering::SeqCst) {
        let mut findings = Findings::default();
        let result = receive_round(&sh.sqs, &fifo, CONSUMER_VISIBILITY_S, &mut findings).await;
        lock(&sh.findings).merge(findings);
        match result {
            Ok(0) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            Ok(_) => {}
            Err((what, e)) => sh.unexpected(what, &e),
        }
    }
}

/// A consumer's visibility timeout: short, so that what a kill left in flight comes back at the
/// verifier's clock advance.
const CONSUMER_VISIBILITY_S: u64 = 30;

/// One receive, each message checked, then one delete of all of them. Answers how many came.
async fn receive_round(
    sqs: &Sqs,
    fifo: &Fifo,
    visibility: u64,
    findings: &mut Findings,
) -> Result<usize, (&'static str, CallError)> {
    let input = json!({
        "QueueUrl": fifo.url,
        "MaxNumberOfMessages": 10,
        "VisibilityTimeout": visibility,
        "WaitTimeSeconds": 0,
    });
    let answer = sqs.call("ReceiveMessage", &input).await.map_err(|e| ("ReceiveMessage (FIFO)", e))?;
    let messages = list_of(&answer, "Messages");
    let round = fifo.rounds.fetch_add(1, Ordering::Relaxed);
    let mut entries = Vec::new();
    let mut taken = Vec::new();
    for m in messages {
        let Some((g, n)) = parse(m, fifo.groups()) else {
            findings.add("FIFO message from nowhere", m.to_string());
            continue;
        };
        lock(&fifo.groups[g]).received(g, n, round, findings);
        if let Some(handle) = str_of(m, "ReceiptHandle") {
            entries.push(json!({ "Id": format!("e{}", taken.len()), "ReceiptHandle": handle }));
            taken.push((g, n));
        }
    }
    if entries.is_empty() {
        return Ok(messages.len());
    }
    let answer = sqs
        .call("DeleteMessageBatch", &json!({ "QueueUrl": fifo.url, "Entries": entries }))
        .await
        .map_err(|e| ("DeleteMessageBatch (FIFO)", e))?;
    for ok in list_of(&answer, "Successful") {
        let i = str_of(ok, "Id").and_then(|id| id.strip_prefix('e')).and_then(|i| i.parse::<usize>().ok());
        if let Some(&(g, n)) = i.and_then(|i| taken.get(i)) {
            let mut group = lock(&fifo.groups[g]);
            group.undeleted.remove(&n);
            group.deleted.insert(n);
        }
    }
    if let Some(failed) = list_of(&answer, "Failed").first() {
        return Err((
            "DeleteMessageBatch (FIFO) entry",
            CallError::Api { status: 200, kind: "Failed".into(), message: failed.to_string() },
        ));
    }
    Ok(messages.len())
}

/// Receive (and delete) the rest of the queue, then check that every acknowledged number was
/// received and nothing else. Answers the report line.
pub async fn check(sqs: &Sqs, fifo: &Fifo, findings: &mut Findings) -> Result<String, String> {
    let started = Instant::now();
    let before = counts(sqs, &fifo.url).await?;
    let (mut received, mut empty) = (0, 0);
    while empty < 2 {
        match receive_round(sqs, fifo, DRAIN_VISIBILITY_S, findings).await {
            Ok(0) => empty += 1,
            Ok(n) => {
                empty = 0;
                received += n as u64;
            }
            Err((what, e)) => return Err(format!("receiving {QUEUE}: {what}: {e}")),
        }
    }
    if before.total() != received {
        findings.add(
            "FIFO queue count disagrees with the drain",
            format!("{QUEUE}: {} counted before, {received} received", before.total()),
        );
    }
    let (mut acked, mut maybe_present, mut maybe_absent, mut redelivered) = (0, 0, 0, 0);
    for (g, group) in fifo.groups.iter().enumerate() {
        let mut group = lock(group);
        // The queue is empty: every delete without an answer took effect.
        let undeleted = std::mem::take(&mut group.undeleted);
        group.deleted.extend(undeleted.into_keys());
        for n in group.acked.difference(&group.deleted) {
            findings.add("acknowledged FIFO message lost", format!("{} (acknowledged), never received", body(g, *n)));
        }
        for n in &group.deleted {
            if !group.acked.contains(n) && !group.maybe.contains(n) {
                findings.add("FIFO message from nowhere", format!("{} was never sent", body(g, *n)));
            }
        }
        acked += group.acked.len();
        maybe_present += group.maybe.intersection(&group.deleted).count();
        maybe_absent += group.maybe.difference(&group.deleted).count();
        redelivered += group.redelivered;
    }
    let (_, retried) = fifo.sent();
    Ok(format!(
        "FIFO: {acked} acknowledged in {} groups ({retried} only on a retry after a kill), {maybe_present} unanswered sends stored / {maybe_absent} not; {redelivered} redelivered after an unanswered delete; the last {received} received at the end in {:.1} s",
        fifo.groups(),
        started.elapsed().as_secs_f64()
    ))
}

/// (group, number) of a message body `g2-000017`.
fn parse(m: &Value, groups: usize) -> Option<(usize, u64)> {
    let (g, n) = str_of(m, "Body")?.strip_prefix('g')?.split_once('-')?;
    let g: usize = g.parse().ok()?;
    (g < groups).then_some((g, n.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(acked: std::ops::Range<u64>) -> Group {
        Group { acked: acked.collect(), ..Group::default() }
    }

    /// Deletes of `ns` answered.
    fn delete(group: &mut Group, ns: &[u64]) {
        for n in ns {
            group.undeleted.remove(n);
            group.deleted.insert(*n);
        }
    }

    #[test]
    fn redeliveries_after_unanswered_deletes_are_in_order_and_the_rest_is_not() {
        let mut findings = Findings::default();
        let mut g = group(0..10);
        for (round, n) in [0, 1, 2].into_iter().enumerate() {
            g.received(0, n, round as u64, &mut findings);
        }
        delete(&mut g, &[0, 1]);
        // 2's delete had no answer: it comes back, then 3 and 4 in one receive.
        g.received(0, 2, 10, &mut findings);
        g.received(0, 3, 10, &mut findings);
        g.received(0, 4, 10, &mut findings);
        // That receive's delete had no answer either; 5 alone then means it took effect.
        g.received(0, 5, 11, &mut findings);
        assert!(findings.is_empty(), "{}", findings.report());
        assert_eq!(g.redelivered, 1);
        assert!(g.deleted.is_superset(&[2, 3, 4].into_iter().collect()));

        g.received(0, 3, 12, &mut findings);
        g.received(0, 7, 13, &mut findings);
        g.received(0, 6, 14, &mut findings);
        g.received(0, 9, 15, &mut findings);
        g.received(0, 9, 15, &mut findings);
        let report = findings.report();
        for kind in [
            "FIFO message received again after its delete: 1",
            "FIFO message skipped: 2",
            "FIFO order broken within a group: 1",
            "FIFO message twice in one receive: 1",
        ] {
            assert!(report.contains(kind), "{kind} not in\n{report}");
        }
    }
}

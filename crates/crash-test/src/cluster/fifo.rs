//! FIFO order per group across failovers.
//!
//! During every cycle's load, one sender per group sends numbered messages (`g2-000017`) to a
//! FIFO queue, one at a time, each with its own deduplication id. A send left without an answer
//! (the kill) is sent again with the same id until it is answered — the deduplication record
//! must survive the takeover, so a retry never makes a second copy — or, if the load stops
//! first, it is counted as maybe sent. At the end the queue is received in full (each message
//! deleted once read): within each group the numbers must be strictly increasing, every
//! acknowledged number present, and nothing present that was never sent.

use std::collections::BTreeSet;
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
}

pub struct Fifo {
    pub url: String,
    groups: Vec<Mutex<Group>>,
}

impl Fifo {
    pub async fn create(sqs: &Sqs, groups: usize) -> Result<Fifo, String> {
        let input = json!({ "QueueName": QUEUE, "Attributes": { "FifoQueue": "true" } });
        let answer = sqs.call("CreateQueue", &input).await.map_err(|e| format!("CreateQueue {QUEUE}: {e}"))?;
        let url = str_of(&answer, "QueueUrl").ok_or_else(|| format!("CreateQueue {QUEUE} answered {answer}"))?;
        Ok(Fifo { url: url.to_string(), groups: (0..groups).map(|_| Mutex::default()).collect() })
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

/// Receive the whole queue, deleting what was read, and check each group's order and
/// completeness. Answers the report line.
pub async fn check(sqs: &Sqs, fifo: &Fifo, findings: &mut Findings) -> Result<String, String> {
    let started = Instant::now();
    let before = counts(sqs, &fifo.url).await?;
    let input = json!({
        "QueueUrl": fifo.url,
        "MaxNumberOfMessages": 10,
        "VisibilityTimeout": DRAIN_VISIBILITY_S,
        "WaitTimeSeconds": 0,
        "AttributeNames": ["All"],
    });
    let mut got: Vec<Vec<u64>> = vec![Vec::new(); fifo.groups()];
    let (mut received, mut empty) = (0u64, 0);
    while empty < 2 {
        let answer = sqs.call("ReceiveMessage", &input).await.map_err(|e| format!("receiving {QUEUE}: {e}"))?;
        let messages = list_of(&answer, "Messages");
        if messages.is_empty() {
            empty += 1;
            continue;
        }
        empty = 0;
        received += messages.len() as u64;
        let mut entries = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            match parse(m, fifo.groups()) {
                Some((g, n)) => got[g].push(n),
                None => findings.add("FIFO message from nowhere", m.to_string()),
            }
            if let Some(handle) = str_of(m, "ReceiptHandle") {
                entries.push(json!({ "Id": format!("e{i}"), "ReceiptHandle": handle }));
            }
        }
        let answer = sqs
            .call("DeleteMessageBatch", &json!({ "QueueUrl": fifo.url, "Entries": entries }))
            .await
            .map_err(|e: CallError| format!("DeleteMessageBatch {QUEUE}: {e}"))?;
        if !list_of(&answer, "Failed").is_empty() {
            return Err(format!("DeleteMessageBatch {QUEUE} answered {answer}"));
        }
    }
    if before.total() != received {
        findings.add(
            "FIFO queue count disagrees with the drain",
            format!("{QUEUE}: {} counted before, {received} received", before.total()),
        );
    }
    let (mut acked, mut maybe_present, mut maybe_absent) = (0, 0, 0);
    for (g, numbers) in got.iter().enumerate() {
        let group = lock(&fifo.groups[g]);
        for pair in numbers.windows(2) {
            if pair[1] <= pair[0] {
                findings.add(
                    "FIFO order broken within a group",
                    format!(
                        "group g{g}: {} received after {} (received order {:?}…)",
                        body(g, pair[1]),
                        body(g, pair[0]),
                        &numbers[..numbers.len().min(40)]
                    ),
                );
            }
        }
        let present: BTreeSet<u64> = numbers.iter().copied().collect();
        for n in &group.acked {
            if !present.contains(n) {
                findings.add("acknowledged FIFO message lost", format!("{} (acknowledged), absent", body(g, *n)));
            }
        }
        for n in &present {
            if !group.acked.contains(n) && !group.maybe.contains(n) {
                findings.add("FIFO message from nowhere", format!("{} was never sent", body(g, *n)));
            }
        }
        acked += group.acked.len();
        maybe_present += group.maybe.iter().filter(|n| present.contains(n)).count();
        maybe_absent += group.maybe.iter().filter(|n| !present.contains(n)).count();
    }
    let (_, retried) = fifo.sent();
    Ok(format!(
        "FIFO: {received} received in {} groups ({acked} acknowledged, {retried} of them only on a retry after a kill; {maybe_present} unanswered sends stored / {maybe_absent} not) in {:.1} s",
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

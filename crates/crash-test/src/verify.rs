//! After a restart: drain every queue, compare what is there with the model, then put the
//! backlog back (or delete part of it) for the next cycle.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{json, Value};
use tokio::task::JoinSet;

use crate::client::{list_of, str_of, CallError, Sqs};
use crate::content::{parse_attrs, Content};
use crate::load::lock;
use crate::model::{Findings, Model, Sent};

/// The longest visibility timeout SQS allows; drained messages stay hidden this long.
pub const DRAIN_VISIBILITY_S: u64 = 43_200;

#[derive(Debug, Clone)]
pub struct Observed {
    pub queue: usize,
    pub id: String,
    pub handle: String,
    pub content: Content,
    pub md5_body: String,
    pub md5_attrs: Option<String>,
    pub sent_ts: Option<String>,
    pub receive_count: Option<u64>,
}

fn parse_message(queue: usize, m: &Value) -> Result<Observed, String> {
    let field = |k: &str| str_of(m, k).map(str::to_string).ok_or_else(|| format!("no {k} in {m}"));
    let attrs = parse_attrs(m.get("MessageAttributes"))?;
    let system = m.get("Attributes");
    let system_str = |k: &str| system.and_then(|a| str_of(a, k)).map(str::to_string);
    Ok(Observed {
        queue,
        id: field("MessageId")?,
        handle: field("ReceiptHandle")?,
        content: Content { body: field("Body")?, attrs },
        md5_body: field("MD5OfBody")?,
        md5_attrs: str_of(m, "MD5OfMessageAttributes").map(str::to_string),
        sent_ts: system_str("SentTimestamp"),
        receive_count: system_str("ApproximateReceiveCount").and_then(|c| c.parse().ok()),
    })
}

/// One verification: what the drain found and what was put back.
pub struct Settled {
    pub totals: CheckTotals,
    /// "q0 123" per queue.
    pub per_queue: Vec<String>,
    pub put: PutBack,
}

impl Settled {
    /// The drain's line of a cycle's report.
    pub fn drained(&self) -> String {
        let t = &self.totals;
        format!(
            "drained {} ({}): {} lost, {} unanswered sends stored / {} not, {} unanswered deletes done / {} not",
            t.present,
            self.per_queue.join(", "),
            t.lost,
            t.adopted,
            t.uncertain_sends_gone,
            t.uncertain_deletes_done,
            t.uncertain_deletes_undone,
        )
    }

    /// The put-back's line of a cycle's report.
    pub fn put_back(&self, model: &Mutex<Model>) -> String {
        let put = &self.put;
        format!(
            "put back {}, deleted {}{}; backlog now {}",
            put.returned,
            put.deleted,
            if put.stuck > 0 { format!(", {} stuck hidden", put.stuck) } else { String::new() },
            lock(model).live.len()
        )
    }
}

/// With every visibility timeout run out: drain every queue, check its counts against the
/// drain and the drain against the model, then carry the backlog over to the next cycle,
/// deleting part of it when it is above `backlog` (and every acknowledged delete that came
/// back). Messages whose put-back failed stay hidden 12 h (`PutBack::stuck`).
pub async fn settle(
    sqs: &Sqs,
    urls: &[String],
    model: &Arc<Mutex<Model>>,
    backlog: usize,
    rng: &mut StdRng,
    deadline: Instant,
    findings: &mut Findings,
) -> Result<Settled, String> {
    let mut observed: Vec<Observed> = Vec::new();
    let mut per_queue = Vec::new();
    for (q, url) in urls.iter().enumerate() {
        let before = counts(sqs, url).await?;
        let drained = drain(sqs, url, q, deadline, findings).await?;
        let after = counts(sqs, url).await?;
        let distinct = drained.iter().map(|o| o.id.as_str()).collect::<HashSet<_>>().len() as u64;
        if before.total() != distinct {
            findings.add(
                "queue counts disagree with the drain",
                format!(
                    "q{q} before the drain: expected {distinct} messages, got visible {} + not visible {} + delayed {}",
                    before.visible, before.not_visible, before.delayed
                ),
            );
        }
        if after.visible != 0 || after.not_visible + after.delayed != distinct {
            findings.add(
                "queue counts disagree with the drain",
                format!(
                    "q{q} after the drain: expected visible 0, not visible {distinct}; got visible {}, not visible {}, delayed {}",
                    after.visible, after.not_visible, after.delayed
                ),
            );
        }
        per_queue.push(format!("q{q} {distinct}"));
        observed.extend(drained);
    }
    let (totals, resurrected) = check(&mut lock(model), &observed, findings);

    // Carry the backlog over, trimming it towards `backlog`.
    let present = totals.present.saturating_sub(resurrected.len());
    let delete_p = if present > backlog {
        ((present - backlog) as f64 / present as f64 + 0.05).min(1.0)
    } else {
        rng.gen_range(0.0..0.05)
    };
    let plans = plan_put_back(urls.len(), observed, &resurrected, delete_p, rng);
    let put = put_back(sqs, urls, plans, model, findings).await?;
    Ok(Settled { totals, per_queue, put })
}

/// Receive until the queue answers empty twice, hiding each message for 12 hours.
/// Malformed messages are reported in `findings` and skipped.
pub async fn drain(
    sqs: &Sqs,
    url: &str,
    queue: usize,
    deadline: Instant,
    findings: &mut Findings,
) -> Result<Vec<Observed>, String> {
    let input = json!({
        "QueueUrl": url,
        "MaxNumberOfMessages": 10,
        "VisibilityTimeout": DRAIN_VISIBILITY_S,
        "WaitTimeSeconds": 0,
        "AttributeNames": ["All"],
        "MessageAttributeNames": ["All"],
    });
    let mut out = Vec::new();
    let mut empty = 0;
    while empty < 2 {
        if Instant::now() > deadline {
            return Err(format!("draining q{queue} did not finish in time ({} messages so far)", out.len()));
        }
        let answer = sqs.call("ReceiveMessage", &input).await.map_err(|e| format!("draining q{queue}: {e}"))?;
        let messages = list_of(&answer, "Messages");
        if messages.is_empty() {
            empty += 1;
            continue;
        }
        empty = 0;
        for m in messages {
            match parse_message(queue, m) {
                Ok(o) => out.push(o),
                Err(e) => findings.add("malformed received message", format!("q{queue}: {e}")),
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounts {
    pub visible: u64,
    pub not_visible: u64,
    pub delayed: u64,
}

impl QueueCounts {
    pub fn total(&self) -> u64 {
        self.visible + self.not_visible + self.delayed
    }
}

pub async fn counts(sqs: &Sqs, url: &str) -> Result<QueueCounts, String> {
    let input = json!({
        "QueueUrl": url,
        "AttributeNames": [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed"
        ],
    });
    let answer = sqs.call("GetQueueAttributes", &input).await.map_err(|e| format!("GetQueueAttributes: {e}"))?;
    let get = |k: &str| -> Result<u64, String> {
        answer
            .get("Attributes")
            .and_then(|a| str_of(a, k))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("GetQueueAttributes answered no {k}: {answer}"))
    };
    Ok(QueueCounts {
        visible: get("ApproximateNumberOfMessages")?,
        not_visible: get("ApproximateNumberOfMessagesNotVisible")?,
        delayed: get("ApproximateNumberOfMessagesDelayed")?,
    })
}

#[derive(Debug, Default)]
pub struct CheckTotals {
    /// Distinct messages present.
    pub present: usize,
    /// Messages of sends that had no answer at the kill, found stored.
    pub adopted: usize,
    /// Sends that had no answer at the kill and did not survive (allowed).
    pub uncertain_sends_gone: usize,
    /// Deletes that had no answer at the kill: taken effect / not.
    pub uncertain_deletes_done: usize,
    pub uncertain_deletes_undone: usize,
    pub lost: usize,
}

/// Compare the drained messages with the model, report every broken invariant, and
/// reconcile the model with what is there (so each problem is reported once).
/// Returns the totals and the ids that must be deleted (acknowledged deletes that came back).
pub fn check(model: &mut Model, observed: &[Observed], findings: &mut Findings) -> (CheckTotals, HashSet<String>) {
    let mut totals = CheckTotals::default();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut resurrected = HashSet::new();
    for o in observed {
        let n = seen.entry(o.id.as_str()).or_insert(0);
        *n += 1;
        if *n > 1 {
            if *n == 2 {
                findings.add(
                    "message present more than once",
                    format!("message {} in q{}: expected once, got it again in the same drain", o.id, o.queue),
                );
            }
            continue;
        }
        totals.present += 1;
        if o.md5_body != o.content.md5_body() {
            findings.add(
                "MD5OfBody does not match the body",
                format!("message {}: body md5 {}, MD5OfBody {}", o.id, o.content.md5_body(), o.md5_body),
            );
        }
        if o.md5_attrs != o.content.md5_attrs() {
            findings.add(
                "MD5OfMessageAttributes does not match the attributes",
                format!("message {}: computed {:?}, got {:?}", o.id, o.content.md5_attrs(), o.md5_attrs),
            );
        }
        if model.deleted.contains(&o.id) {
            findings.add(
                "acknowledged delete came back",
                format!(
                    "message {} in q{}: expected absent (delete acknowledged), got present ({})",
                    o.id,
                    o.queue,
                    o.content.summary()
                ),
            );
            resurrected.insert(o.id.clone());
            continue;
        }
        if let Some(s) = model.live.get_mut(&o.id) {
            if s.queue != o.queue {
                findings.add(
                    "message in the wrong queue",
                    format!("message {}: expected in q{}, got in q{}", o.id, s.queue, o.queue),
                );
            }
            if *s.content != o.content {
                findings.add("message content changed", format!("message {}: {}", o.id, s.content.diff(&o.content)));
            }
            if s.md5_body != o.md5_body || s.md5_attrs != o.md5_attrs {
                findings.add(
                    "message MD5s changed",
                    format!(
                        "message {}: expected body {} attrs {:?} (as the send answered), got body {} attrs {:?}",
                        o.id, s.md5_body, s.md5_attrs, o.md5_body, o.md5_attrs
                    ),
                );
            }
            if let (Some(before), Some(now)) = (&s.sent_ts, &o.sent_ts) {
                if before != now {
                    findings.add("SentTimestamp changed", format!("message {}: expected {before}, got {now}", o.id));
                }
            }
            if let (Some(before), Some(now)) = (s.receive_count, o.receive_count) {
                if now <= before {
                    findings.add(
                        "ApproximateReceiveCount went backwards",
                        format!("message {}: expected more than {before} (last drain), got {now}", o.id),
                    );
                }
            }
            *s = sent_from(o, s.sent_ts.clone().or_else(|| o.sent_ts.clone()));
            continue;
        }
        if let Some(i) = model.uncertain_sends.iter().position(|(q, c)| *q == o.queue && **c == o.content) {
            model.uncertain_sends.swap_remove(i);
            totals.adopted += 1;
        } else {
            findings.add(
                "message from nowhere",
                format!(
                    "message {} in q{}: expected no such message (never acknowledged, not in flight at the kill), got present ({})",
                    o.id,
                    o.queue,
                    o.content.summary()
                ),
            );
        }
        model.live.insert(o.id.clone(), sent_from(o, o.sent_ts.clone()));
    }
    let missing: Vec<String> = model.live.keys().filter(|id| !seen.contains_key(id.as_str())).cloned().collect();
    for id in missing {
        if model.uncertain_deletes.contains(&id) {
            totals.uncertain_deletes_done += 1;
            model.ack_delete(&id);
            continue;
        }
        if let Some(s) = model.live.remove(&id) {
            totals.lost += 1;
            findings.add(
                "acknowledged message lost",
                format!("message {id} in q{}: expected present ({}), got absent", s.queue, s.content.summary()),
            );
        }
    }
    totals.uncertain_deletes_undone = model
        .uncertain_deletes
        .iter()
        .filter(|id| seen.contains_key(id.as_str()) && !resurrected.contains(*id))
        .count();
    totals.uncertain_sends_gone = model.uncertain_sends.len();
    model.uncertain_sends.clear();
    model.uncertain_deletes.clear();
    (totals, resurrected)
}

fn sent_from(o: &Observed, sent_ts: Option<String>) -> Sent {
    Sent {
        queue: o.queue,
        content: Arc::new(o.content.clone()),
        md5_body: o.md5_body.clone(),
        md5_attrs: o.md5_attrs.clone(),
        sent_ts,
        receive_count: o.receive_count,
    }
}

#[derive(Debug, Default)]
pub struct PutBack {
    pub deleted: usize,
    pub returned: usize,
    /// Messages left hidden for 12 hours because their put-back failed.
    pub stuck: usize,
}

/// Per queue: the (id, receipt handle) pairs to delete and to make visible again.
#[derive(Debug, Default)]
pub struct QueuePlan {
    pub delete: Vec<(String, String)>,
    pub keep: Vec<(String, String)>,
}

/// Split the drained messages: delete each with probability `delete_p` (always those in
/// `must_delete`), return the rest. Each message once (a duplicate's handle is the later one).
pub fn plan_put_back(
    queues: usize,
    observed: Vec<Observed>,
    must_delete: &HashSet<String>,
    delete_p: f64,
    rng: &mut StdRng,
) -> Vec<QueuePlan> {
    let mut by_queue: Vec<HashMap<String, String>> = vec![HashMap::new(); queues];
    for o in observed {
        by_queue[o.queue].insert(o.id, o.handle);
    }
    by_queue
        .into_iter()
        .map(|messages| {
            let mut plan = QueuePlan::default();
            for (id, handle) in messages {
                if must_delete.contains(&id) || rng.gen_bool(delete_p) {
                    plan.delete.push((id, handle));
                } else {
                    plan.keep.push((id, handle));
                }
            }
            plan
        })
        .collect()
}

/// Carry out the plans (DeleteMessageBatch; ChangeMessageVisibilityBatch to 0), one task
/// per queue. Deletes go into the model.
pub async fn put_back(
    sqs: &Sqs,
    urls: &[String],
    plans: Vec<QueuePlan>,
    model: &Arc<Mutex<Model>>,
    findings: &mut Findings,
) -> Result<PutBack, String> {
    let mut tasks = JoinSet::new();
    for (queue, plan) in plans.into_iter().enumerate() {
        let sqs = sqs.clone();
        let url = urls[queue].clone();
        tasks.spawn(async move {
            let mut f = Findings::default();
            let deleted = batches(&sqs, &url, "DeleteMessageBatch", &plan.delete, &mut f).await?;
            let returned = batches(&sqs, &url, "ChangeMessageVisibilityBatch", &plan.keep, &mut f).await?;
            Ok::<_, String>((deleted, returned.len(), plan.keep.len() - returned.len(), f))
        });
    }
    let mut out = PutBack::default();
    while let Some(joined) = tasks.join_next().await {
        let (deleted, returned, stuck, f) = joined.map_err(|e| format!("put-back task: {e}"))??;
        out.deleted += deleted.len();
        out.returned += returned;
        out.stuck += stuck;
        findings.merge(f);
        let mut model = lock(model);
        for id in deleted {
            model.ack_delete(&id);
        }
    }
    Ok(out)
}

/// Run `action` over `items` (id, handle) ten at a time; answers the ids that succeeded.
async fn batches(
    sqs: &Sqs,
    url: &str,
    action: &'static str,
    items: &[(String, String)],
    findings: &mut Findings,
) -> Result<Vec<String>, String> {
    let mut done = Vec::new();
    for chunk in items.chunks(10) {
        let entries: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, (_, handle))| {
                let mut e = json!({ "Id": format!("e{i}"), "ReceiptHandle": handle });
                if action == "ChangeMessageVisibilityBatch" {
                    e["VisibilityTimeout"] = json!(0);
                }
                e
            })
            .collect();
        let answer = sqs
            .call(action, &json!({ "QueueUrl": url, "Entries": entries }))
            .await
            .map_err(|e: CallError| format!("{action}: {e}"))?;
        for ok in list_of(&answer, "Successful") {
            let i = str_of(ok, "Id").and_then(|id| id.strip_prefix('e')).and_then(|i| i.parse::<usize>().ok());
            if let Some((id, _)) = i.and_then(|i| chunk.get(i)) {
                done.push(id.clone());
            }
        }
        for failed in list_of(&answer, "Failed") {
            let i = str_of(failed, "Id").and_then(|id| id.strip_prefix('e')).and_then(|i| i.parse::<usize>().ok());
            let id = i.and_then(|i| chunk.get(i)).map(|(id, _)| id.as_str()).unwrap_or("?");
            findings.add(
                "a fresh receipt handle was refused",
                format!("{action} of message {id}: expected success, got {failed}"),
            );
        }
    }
    Ok(done)
}

/// A receipt handle taken before a kill, to be used after the restart.
#[derive(Debug, Clone)]
pub struct Kept {
    pub queue: usize,
    pub id: String,
    pub handle: String,
}

/// Receive a few messages per queue for 12 hours and keep their handles.
pub async fn keep_handles(sqs: &Sqs, urls: &[String]) -> Vec<Kept> {
    let mut kept = Vec::new();
    for (queue, url) in urls.iter().enumerate() {
        let input = json!({
            "QueueUrl": url,
            "MaxNumberOfMessages": 3,
            "VisibilityTimeout": DRAIN_VISIBILITY_S,
            "WaitTimeSeconds": 0,
        });
        if let Ok(answer) = sqs.call("ReceiveMessage", &input).await {
            for m in list_of(&answer, "Messages") {
                if let (Some(id), Some(handle)) = (str_of(m, "MessageId"), str_of(m, "ReceiptHandle")) {
                    kept.push(Kept { queue, id: id.into(), handle: handle.into() });
                }
            }
        }
    }
    kept
}

/// After the restart, before the clock moves: the kept messages must still be hidden
/// (their 12-hour deadline survived), and their old handles must still work: a visibility
/// change, then a delete. Answers how many were deleted and how many could not be.
pub async fn check_kept(
    sqs: &Sqs,
    urls: &[String],
    kept: &[Kept],
    model: &Arc<Mutex<Model>>,
    deadline: Instant,
    findings: &mut Findings,
) -> Result<(usize, usize), String> {
    let eligible: Vec<&Kept> = {
        let m = lock(model);
        kept.iter().filter(|k| !m.deleted.contains(&k.id) && !m.uncertain_deletes.contains(&k.id)).collect()
    };
    // Drain everything visible; a kept message must not be among it. (These drained
    // messages are hidden for 12 h from the restart clock; the 13 h advance frees them.)
    let ids: HashSet<&str> = eligible.iter().map(|k| k.id.as_str()).collect();
    for (queue, url) in urls.iter().enumerate() {
        let mut scratch = Findings::default();
        for o in drain(sqs, url, queue, deadline, &mut scratch).await? {
            if ids.contains(o.id.as_str()) {
                findings.add(
                    "in-flight message visible after restart",
                    format!(
                        "message {} in q{queue}: received with VisibilityTimeout {DRAIN_VISIBILITY_S} s before the kill, expected still hidden, got visible",
                        o.id
                    ),
                );
            }
        }
    }
    let (mut deleted, mut failed) = (0, 0);
    for k in eligible {
        let url = &urls[k.queue];
        let cmv = json!({ "QueueUrl": url, "ReceiptHandle": k.handle, "VisibilityTimeout": 30 });
        if let Err(e) = sqs.call("ChangeMessageVisibility", &cmv).await {
            findings.add(
                "receipt handle from before the crash refused",
                format!("ChangeMessageVisibility of message {} in q{}: expected success, got {e}", k.id, k.queue),
            );
        }
        match sqs.call("DeleteMessage", &json!({ "QueueUrl": url, "ReceiptHandle": k.handle })).await {
            Ok(_) => {
                deleted += 1;
                lock(model).ack_delete(&k.id);
            }
            Err(e) => {
                failed += 1;
                findings.add(
                    "receipt handle from before the crash refused",
                    format!("DeleteMessage of message {} in q{}: expected success, got {e}", k.id, k.queue),
                );
            }
        }
    }
    Ok((deleted, failed))
}

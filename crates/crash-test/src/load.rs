//! Concurrent workers doing a random mix of SQS calls, recording every acknowledged
//! send and delete (and every unanswered one) in the shared model.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{json, Value};

use crate::client::{list_of, str_of, CallError, Sqs};
use crate::content::{parse_attrs, Content};
use crate::model::{Findings, Model, Sent};

/// Receipt handles a worker keeps for later deletes and visibility changes.
const HELD_MAX: usize = 64;
/// Longest visibility timeout the load sets (receive or change); the verifier relies on it.
pub const MAX_LOAD_VISIBILITY_S: u64 = 60;

#[derive(Default)]
pub struct Stats {
    pub send_requests: AtomicU64,
    pub sent: AtomicU64,
    pub batch_sent: AtomicU64,
    pub receive_requests: AtomicU64,
    pub received: AtomicU64,
    pub deleted: AtomicU64,
    pub visibility_changes: AtomicU64,
    pub visibility_refused: AtomicU64,
    pub uncertain_sends: AtomicU64,
    pub uncertain_deletes: AtomicU64,
    pub errors: AtomicU64,
}

pub struct Shared {
    pub sqs: Sqs,
    pub urls: Vec<String>,
    pub model: Arc<Mutex<Model>>,
    pub stop: AtomicBool,
    /// Set just before the SIGKILL: errors from then on are the crash, not surprises.
    pub killing: AtomicBool,
    pub outstanding: AtomicUsize,
    pub stats: Stats,
    pub findings: Mutex<Findings>,
    pub errors: Mutex<Vec<String>>,
}

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    pub fn new(sqs: Sqs, urls: Vec<String>, model: Arc<Mutex<Model>>) -> Shared {
        Shared {
            sqs,
            urls,
            model,
            stop: AtomicBool::new(false),
            killing: AtomicBool::new(false),
            outstanding: AtomicUsize::new(0),
            stats: Stats::default(),
            findings: Mutex::new(Findings::default()),
            errors: Mutex::new(Vec::new()),
        }
    }

    /// An error that was not caused by the kill: counted, and the first few kept.
    pub fn unexpected(&self, what: &str, e: &CallError) {
        if self.killing.load(Ordering::SeqCst) && e.uncertain() {
            return;
        }
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
        let mut errors = lock(&self.errors);
        if errors.len() < 5 {
            errors.push(format!("{what}: {e}"));
        }
    }

    fn model(&self) -> MutexGuard<'_, Model> {
        lock(&self.model)
    }

    /// What the workers did, for the cycle's report.
    pub fn done(&self) -> String {
        let s = &self.stats;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "{} sent ({} in batches, {} requests), {} received ({} requests), {} deleted, {} visibility changes ({} refused)",
            get(&s.sent),
            get(&s.batch_sent),
            get(&s.send_requests),
            get(&s.received),
            get(&s.receive_requests),
            get(&s.deleted),
            get(&s.visibility_changes),
            get(&s.visibility_refused),
        )
    }

    /// The requests the kill left without an answer.
    pub fn unanswered(&self) -> String {
        let s = &self.stats;
        format!(
            "{} sends and {} deletes unanswered",
            s.uncertain_sends.load(Ordering::Relaxed),
            s.uncertain_deletes.load(Ordering::Relaxed)
        )
    }

    /// Errors not caused by a kill, as a finding.
    pub fn report_errors(&self, findings: &mut Findings) {
        let n = self.stats.errors.load(Ordering::Relaxed);
        if n > 0 {
            findings.add(
                "request failed while the server was up",
                format!("{n} requests failed before the kill; first: {}", lock(&self.errors).join(" | ")),
            );
        }
    }
}

struct Held {
    queue: usize,
    id: String,
    handle: String,
}

/// Counts a request as outstanding for as long as it lives (also if the task is aborted).
struct Outstanding<'a>(&'a AtomicUsize);

impl<'a> Outstanding<'a> {
    fn new(n: &'a AtomicUsize) -> Self {
        n.fetch_add(1, Ordering::SeqCst);
        Outstanding(n)
    }
}

impl Drop for Outstanding<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

pub async fn worker(sh: Arc<Shared>, mut rng: StdRng) {
    let mut held: Vec<Held> = Vec::new();
    while !sh.stop.load(Ordering::SeqCst) {
        let queue = rng.gen_range(0..sh.urls.len());
        let _guard = Outstanding::new(&sh.outstanding);
        let roll = rng.gen_range(0..100);
        match roll {
            // Sends outweigh deletes so the backlog grows from cycle to cycle.
            0..=19 => send(&sh, &mut rng, queue).await,
            20..=44 => send_batch(&sh, &mut rng, queue).await,
            45..=69 => receive(&sh, &mut rng, queue, &mut held).await,
            _ if held.is_empty() => receive(&sh, &mut rng, queue, &mut held).await,
            70..=81 => {
                let h = held.swap_remove(rng.gen_range(0..held.len()));
                delete(&sh, h).await;
            }
            82..=89 => delete_batch(&sh, &mut rng, &mut held).await,
            _ => {
                let i = rng.gen_range(0..held.len());
                change_visibility(&sh, &mut rng, &held[i]).await;
            }
        }
    }
}

/// `MessageBody` and `MessageAttributes` members, plus the given extra members.
fn message_input(content: &Content, mut input: Value) -> Value {
    input["MessageBody"] = json!(content.body);
    if let Some(attrs) = content.attrs_json() {
        input["MessageAttributes"] = attrs;
    }
    input
}

/// Record an acknowledged send after checking the digests it answered.
fn acked_send(sh: &Shared, queue: usize, content: Arc<Content>, answer: &Value) {
    let Some(id) = str_of(answer, "MessageId") else {
        sh.unexpected("send", &CallError::Api { status: 200, kind: "NoMessageId".into(), message: answer.to_string() });
        return;
    };
    let md5_body = str_of(answer, "MD5OfMessageBody").unwrap_or("").to_string();
    let md5_attrs = str_of(answer, "MD5OfMessageAttributes").map(str::to_string);
    if md5_body != content.md5_body() || md5_attrs != content.md5_attrs() {
        lock(&sh.findings).add(
            "send answered wrong MD5s",
            format!(
                "message {id}: expected body {} attrs {:?}, got body {md5_body} attrs {md5_attrs:?}",
                content.md5_body(),
                content.md5_attrs()
            ),
        );
    }
    sh.stats.sent.fetch_add(1, Ordering::Relaxed);
    let sent = Sent { queue, content, md5_body, md5_attrs, sent_ts: None, receive_count: None };
    sh.model().ack_send(id.to_string(), sent);
}

async fn send(sh: &Shared, rng: &mut StdRng, queue: usize) {
    let content = Arc::new(Content::random(rng));
    sh.stats.send_requests.fetch_add(1, Ordering::Relaxed);
    match sh.sqs.call("SendMessage", &message_input(&content, json!({ "QueueUrl": sh.urls[queue] }))).await {
        Ok(answer) => acked_send(sh, queue, content, &answer),
        Err(e) => {
            if e.uncertain() {
                sh.stats.uncertain_sends.fetch_add(1, Ordering::Relaxed);
                sh.model().uncertain_sends.push((queue, content));
            }
            sh.unexpected("SendMessage", &e);
        }
    }
}

async fn send_batch(sh: &Shared, rng: &mut StdRng, queue: usize) {
    let n = rng.gen_range(1..=10);
    let contents: Vec<Arc<Content>> = (0..n).map(|_| Arc::new(Content::random(rng))).collect();
    let entries: Vec<Value> =
        contents.iter().enumerate().map(|(i, c)| message_input(c, json!({ "Id": format!("m{i}") }))).collect();
    sh.stats.send_requests.fetch_add(1, Ordering::Relaxed);
    let input = json!({ "QueueUrl": sh.urls[queue], "Entries": entries });
    match sh.sqs.call("SendMessageBatch", &input).await {
        Ok(answer) => {
            for ok in list_of(&answer, "Successful") {
                let index = str_of(ok, "Id").and_then(|id| id.strip_prefix('m')).and_then(|i| i.parse::<usize>().ok());
                match index.and_then(|i| contents.get(i)) {
                    Some(c) => {
                        sh.stats.batch_sent.fetch_add(1, Ordering::Relaxed);
                        acked_send(sh, queue, c.clone(), ok);
                    }
                    None => sh.unexpected(
                        "SendMessageBatch",
                        &CallError::Api { status: 200, kind: "UnknownEntryId".into(), message: ok.to_string() },
                    ),
                }
            }
            for failed in list_of(&answer, "Failed") {
                sh.unexpected(
                    "SendMessageBatch entry",
                    &CallError::Api { status: 200, kind: "Failed".into(), message: failed.to_string() },
                );
            }
        }
        Err(e) => {
            if e.uncertain() {
                sh.stats.uncertain_sends.fetch_add(n, Ordering::Relaxed);
                let mut model = sh.model();
                model.uncertain_sends.extend(contents.into_iter().map(|c| (queue, c)));
            }
            sh.unexpected("SendMessageBatch", &e);
        }
    }
}

async fn receive(sh: &Shared, rng: &mut StdRng, queue: usize, held: &mut Vec<Held>) {
    let input = json!({
        "QueueUrl": sh.urls[queue],
        "MaxNumberOfMessages": rng.gen_range(1..=10),
        "VisibilityTimeout": rng.gen_range(0..=MAX_LOAD_VISIBILITY_S),
        "WaitTimeSeconds": 0,
        "AttributeNames": ["All"],
        "MessageAttributeNames": ["All"],
    });
    sh.stats.receive_requests.fetch_add(1, Ordering::Relaxed);
    let answer = match sh.sqs.call("ReceiveMessage", &input).await {
        Ok(a) => a,
        Err(e) => return sh.unexpected("ReceiveMessage", &e),
    };
    for m in list_of(&answer, "Messages") {
        let (Some(id), Some(handle), Some(body)) =
            (str_of(m, "MessageId"), str_of(m, "ReceiptHandle"), str_of(m, "Body"))
        else {
            lock(&sh.findings).add("malformed received message", m.to_string());
            continue;
        };
        sh.stats.received.fetch_add(1, Ordering::Relaxed);
        // Whatever the store does, a live message must read back as it was sent.
        let expected = sh.model().live.get(id).map(|s| (s.queue, s.content.clone()));
        if let Some((q, content)) = expected {
            let got = match parse_attrs(m.get("MessageAttributes")) {
                Ok(attrs) => Content { body: body.to_string(), attrs },
                Err(e) => {
                    lock(&sh.findings).add("malformed received message", format!("message {id}: {e}"));
                    continue;
                }
            };
            if *content != got {
                lock(&sh.findings)
                    .add("received content differs from the send", format!("message {id}: {}", content.diff(&got)));
            }
            if q != queue {
                lock(&sh.findings)
                    .add("message in the wrong queue", format!("message {id}: sent to q{q}, got from q{queue}"));
            }
        }
        if held.len() >= HELD_MAX {
            held.swap_remove(rng.gen_range(0..held.len()));
        }
        held.push(Held { queue, id: id.to_string(), handle: handle.to_string() });
    }
}

async fn delete(sh: &Shared, h: Held) {
    let input = json!({ "QueueUrl": sh.urls[h.queue], "ReceiptHandle": h.handle });
    match sh.sqs.call("DeleteMessage", &input).await {
        Ok(_) => {
            sh.stats.deleted.fetch_add(1, Ordering::Relaxed);
            sh.model().ack_delete(&h.id);
        }
        Err(e) => {
            if e.uncertain() {
                sh.stats.uncertain_deletes.fetch_add(1, Ordering::Relaxed);
                sh.model().uncertain_deletes.insert(h.id);
            }
            sh.unexpected("DeleteMessage", &e);
        }
    }
}

async fn delete_batch(sh: &Shared, rng: &mut StdRng, held: &mut Vec<Held>) {
    let queue = held[rng.gen_range(0..held.len())].queue;
    let want = rng.gen_range(1..=10);
    let mut batch = Vec::new();
    let mut i = 0;
    while i < held.len() && batch.len() < want {
        if held[i].queue == queue {
            batch.push(held.swap_remove(i));
        } else {
            i += 1;
        }
    }
    let entries: Vec<Value> =
        batch.iter().enumerate().map(|(i, h)| json!({ "Id": format!("d{i}"), "ReceiptHandle": h.handle })).collect();
    let input = json!({ "QueueUrl": sh.urls[queue], "Entries": entries });
    match sh.sqs.call("DeleteMessageBatch", &input).await {
        Ok(answer) => {
            for ok in list_of(&answer, "Successful") {
                let index = str_of(ok, "Id").and_then(|id| id.strip_prefix('d')).and_then(|i| i.parse::<usize>().ok());
                if let Some(h) = index.and_then(|i| batch.get(i)) {
                    sh.stats.deleted.fetch_add(1, Ordering::Relaxed);
                    sh.model().ack_delete(&h.id);
                }
            }
            for failed in list_of(&answer, "Failed") {
                sh.unexpected(
                    "DeleteMessageBatch entry",
                    &CallError::Api { status: 200, kind: "Failed".into(), message: failed.to_string() },
                );
            }
        }
        Err(e) => {
            if e.uncertain() {
                sh.stats.uncertain_deletes.fetch_add(batch.len() as u64, Ordering::Relaxed);
                sh.model().uncertain_deletes.extend(batch.into_iter().map(|h| h.id));
            }
            sh.unexpected("DeleteMessageBatch", &e);
        }
    }
}

async fn change_visibility(sh: &Shared, rng: &mut StdRng, h: &Held) {
    let input = json!({
        "QueueUrl": sh.urls[h.queue],
        "ReceiptHandle": h.handle,
        "VisibilityTimeout": rng.gen_range(0..=MAX_LOAD_VISIBILITY_S),
    });
    match sh.sqs.call("ChangeMessageVisibility", &input).await {
        Ok(_) => {
            sh.stats.visibility_changes.fetch_add(1, Ordering::Relaxed);
        }
        // Refusals are normal: the handle went stale (received again) or the message is gone.
        Err(CallError::Api { status: 400, .. }) => {
            sh.stats.visibility_refused.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => sh.unexpected("ChangeMessageVisibility", &e),
    }
}

//! What the move-task tests share: queues that dead-letter into a DLQ, messages sent and
//! dead-lettered, tasks started and waited for while the driver runs.

use std::collections::BTreeMap;
use std::sync::Arc;

use engine::message::NewMessage;
use engine::{Clock, Engine, ReceiveOptions, SystemClock, TaskRecord, TaskStatus};

use super::*;

pub fn arn(e: &Engine, name: &str) -> String {
    e.arn_of(&qid(name))
}

pub fn redrive_to(e: &Engine, dlq: &str) -> String {
    format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":"1"}}"#, arn(e, dlq))
}

pub async fn create(e: &Engine, name: &str, pairs: &[(&str, &str)]) {
    e.create_queue(&me(), name, &attrs(pairs), &BTreeMap::new()).await.unwrap();
}

/// `dlq`, and each of `sources` dead-lettering into it after one receive.
pub async fn sources_and_dlq(e: &Engine, sources: &[&str], dlq: &str) {
    let fifo = dlq.ends_with(".fifo");
    let fifo_attrs: &[(&str, &str)] = if fifo { &[("FifoQueue", "true")] } else { &[] };
    create(e, dlq, fifo_attrs).await;
    let policy = redrive_to(e, dlq);
    for s in sources {
        let mut pairs = vec![("RedrivePolicy", policy.as_str())];
        pairs.extend_from_slice(fifo_attrs);
        create(e, s, &pairs).await;
    }
}

pub fn message(body: &str, group: Option<&str>) -> NewMessage {
    NewMessage {
        body: body.into(),
        group_id: group.map(str::to_string),
        deduplication_id: group.map(|_| body.to_string()),
        ..Default::default()
    }
}

pub fn numbered(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:02}")).collect()
}

pub fn receive(max: i64, visibility: Option<i64>) -> ReceiveOptions {
    ReceiveOptions {
        max_messages: Some(max),
        visibility_timeout: visibility,
        wait_time_seconds: Some(0),
        ..Default::default()
    }
}

/// Send `(body, group)`s to `source` and dead-letter them all without moving the clock: a
/// receive with VisibilityTimeout 0 counts one receive and leaves the message visible, so
/// the next receive hands it to the DLQ.
pub async fn dead_letter(e: &Engine, source: &str, messages: &[(String, Option<&str>)]) {
    for (body, group) in messages {
        e.send_message(&me(), &qid(source), message(body, *group)).await.unwrap();
    }
    for _ in 0..10_000 {
        let c = e.counts(&me(), &qid(source)).unwrap();
        if (c.visible, c.in_flight, c.delayed) == (0, 0, 0) {
            return;
        }
        e.receive_message(&me(), &qid(source), receive(10, Some(0))).await.unwrap();
    }
    panic!("{source} kept messages");
}

pub async fn dead_letter_all(e: &Engine, source: &str, bodies: &[String]) {
    let plain: Vec<_> = bodies.iter().map(|b| (b.clone(), None)).collect();
    dead_letter(e, source, &plain).await;
}

/// Receive and delete everything `queue` holds, in receive order.
pub async fn drain(e: &Engine, queue: &str) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let got = e.receive_message(&me(), &qid(queue), receive(10, Some(30))).await.unwrap();
        if got.is_empty() {
            return out;
        }
        for r in got {
            e.delete_message(&me(), &qid(queue), &r.receipt_handle).await.unwrap();
            out.push(r.content.body.clone());
        }
    }
}

pub fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

pub fn visible(e: &Engine, queue: &str) -> usize {
    e.counts(&me(), &qid(queue)).unwrap().visible
}

pub fn latest(e: &Engine, dlq: &str) -> TaskRecord {
    e.list_message_move_tasks(&me(), &arn(e, dlq), None).unwrap().remove(0)
}

pub async fn start(e: &Arc<Engine>, dlq: &str, destination: Option<&str>, rate: Option<i64>) -> String {
    let destination = destination.map(|d| arn(e, d));
    e.start_message_move_task(&me(), &arn(e, dlq), destination.as_deref(), rate).await.unwrap()
}

/// A real pause, for a store that commits on its own thread.
pub async fn real_pause(millis: u64) {
    SystemClock.sleep_until(SystemClock.now() + millis).await;
}

/// Let the driver run until `done` holds of the DLQ's latest task; fails after 10 s.
pub async fn until(e: &Engine, dlq: &str, what: &str, done: impl Fn(&TaskRecord) -> bool) -> TaskRecord {
    for i in 0..2_000 {
        let task = latest(e, dlq);
        if done(&task) {
            return task;
        }
        if i < 200 {
            tokio::task::yield_now().await;
        } else {
            real_pause(5).await;
        }
    }
    panic!("{what}: still {:?}", latest(e, dlq));
}

pub async fn until_status(e: &Engine, dlq: &str, status: TaskStatus) -> TaskRecord {
    until(e, dlq, status.as_str(), |t| t.status == status).await
}

/// `until` `moved` messages moved, and then no more while the clock stands still.
pub async fn until_moved_and_held(e: &Engine, dlq: &str, moved: u64) -> TaskRecord {
    until(e, dlq, &format!("{moved} moved"), |t| t.moved >= moved).await;
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
    real_pause(20).await;
    let task = latest(e, dlq);
    assert_eq!(task.moved, moved, "held at {moved} until the clock moves: {task:?}");
    task
}

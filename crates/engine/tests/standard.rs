//! Engine behaviour of standard queues, driven by a manual clock: nothing here sleeps.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test helper is a failed test

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use engine::message::NewMessage;
use engine::{Clock, Engine, EngineConfig, Error, ManualClock, ReceiveOptions};

mod common;
use common::*;

fn body(text: &str) -> NewMessage {
    NewMessage { body: text.into(), ..Default::default() }
}

fn recv(max: i64, visibility: Option<i64>) -> ReceiveOptions {
    ReceiveOptions {
        max_messages: Some(max),
        visibility_timeout: visibility,
        wait_time_seconds: Some(0),
        ..Default::default()
    }
}

async fn bodies(e: &Engine, q: &str, opts: ReceiveOptions) -> Vec<String> {
    e.receive_message(&me(), &qid(q), opts).await.unwrap().iter().map(|r| r.content.body.clone()).collect()
}

/// A ReceiveMessage waiting up to 20 s, spawned.
fn long_poll(e: &Arc<Engine>, queue: &'static str) -> tokio::task::JoinHandle<Vec<engine::Received>> {
    let e = e.clone();
    tokio::spawn(async move {
        let opts = ReceiveOptions { wait_time_seconds: Some(20), ..Default::default() };
        e.receive_message(&me(), &qid(queue), opts).await.unwrap()
    })
}

#[tokio::test]
async fn a_received_message_is_hidden_until_its_visibility_timeout_ends() {
    let (e, clock) = engine();
    e.create_queue(&me(), "q", &attrs(&[("VisibilityTimeout", "30")]), &BTreeMap::new()).await.unwrap();
    e.send_message(&me(), &qid("q"), body("a")).await.unwrap();
    assert_eq!(bodies(&e, "q", recv(1, None)).await, ["a"]);
    clock.advance(Duration::from_millis(29_999));
    assert!(bodies(&e, "q", recv(1, None)).await.is_empty());
    clock.advance(Duration::from_millis(1));
    let again = e.receive_message(&me(), &qid("q"), recv(1, None)).await.unwrap();
    assert_eq!(again[0].receive_count, 2);
    assert_eq!(again[0].first_receive_at, START);
}

#[tokio::test]
async fn delays_count_as_delayed_then_become_visible() {
    let (e, clock) = engine();
    e.create_queue(&me(), "q", &attrs(&[("DelaySeconds", "10")]), &BTreeMap::new()).await.unwrap();
    e.send_message(&me(), &qid("q"), body("queue-delay")).await.unwrap();
    e.send_message(&me(), &qid("q"), NewMessage { delay_seconds: Some(0), ..body("no-delay") }).await.unwrap();
    let c = e.counts(&me(), &qid("q")).unwrap();
    assert_eq!((c.visible, c.delayed, c.in_flight), (1, 1, 0));
    clock.advance(Duration::from_secs(10));
    assert_eq!(e.counts(&me(), &qid("q")).unwrap().visible, 2);
}

#[tokio::test]
async fn messages_past_retention_are_gone() {
    let (e, clock) = engine();
    e.create_queue(&me(), "q", &attrs(&[("MessageRetentionPeriod", "60")]), &BTreeMap::new()).await.unwrap();
    e.send_message(&me(), &qid("q"), body("old")).await.unwrap();
    clock.advance(Duration::from_secs(30));
    e.send_message(&me(), &qid("q"), body("new")).await.unwrap();
    clock.advance(Duration::from_secs(30));
    assert_eq!(bodies(&e, "q", recv(10, None)).await, ["new"]);
}

#[tokio::test]
async fn a_long_poll_returns_as_soon_as_a_message_is_sent() {
    let (e, _clock) = engine();
    e.create_queue(&me(), "q", &BTreeMap::new(), &BTreeMap::new()).await.unwrap();
    let waiter = long_poll(&e, "q");
    tokio::task::yield_now().await;
    e.send_message(&me(), &qid("q"), body("hello")).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap();
    assert_eq!(got[0].content.body, "hello");
}

/// Queue `q` with its one message ("again") in flight for 5 s, and a long poll waiting on it.
async fn in_flight_for_5_s_with_a_poll_waiting(
) -> (Arc<Engine>, ManualClock, tokio::task::JoinHandle<Vec<engine::Received>>) {
    let (e, clock) = engine();
    e.create_queue(&me(), "q", &BTreeMap::new(), &BTreeMap::new()).await.unwrap();
    e.send_message(&me(), &qid("q"), body("again")).await.unwrap();
    e.receive_message(&me(), &qid("q"), recv(1, Some(5))).await.unwrap();
    let waiter = long_poll(&e, "q");
    tokio::task::yield_now().await;
    (e, clock, waiter)
}

#[tokio::test]
async fn a_long_poll_wakes_exactly_when_a_visibility_timeout_ends() {
    let (_e, clock, waiter) = in_flight_for_5_s_with_a_poll_waiting().await;
    clock.advance(Duration::from_millis(4_999));
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(!waiter.is_finished(), "woke before the visibility timeout ended");
    clock.advance(Duration::from_millis(1));
    let got = tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap();
    assert_eq!(got[0].content.body, "again");
}

/// GetQueueAttributes brings the index up to date — the message whose timeout ended becomes
/// visible — before the queue's timer runs (on this one-thread runtime the timer runs only
/// when the test yields); the timer must still wake the waiting poll.
#[tokio::test]
async fn a_long_poll_wakes_when_an_observer_made_the_message_visible_before_the_timer_ran() {
    let (e, clock, waiter) = in_flight_for_5_s_with_a_poll_waiting().await;
    clock.advance(Duration::from_secs(5));
    let counts = e.get_queue_attributes(&me(), &qid("q"), &["ApproximateNumberOfMessages".to_string()]).unwrap();
    assert_eq!(counts, [("ApproximateNumberOfMessages".to_string(), "1".to_string())]);
    let got = tokio::time::timeout(Duration::from_secs(5), waiter).await.expect("the poll woke").unwrap();
    assert_eq!(got[0].content.body, "again");
}

#[tokio::test]
async fn a_long_poll_with_nothing_to_receive_ends_at_its_wait_time() {
    let (e, clock) = engine();
    e.create_queue(&me(), "q", &BTreeMap::new(), &BTreeMap::new()).await.unwrap();
    let waiter = long_poll(&e, "q");
    // Let the poll start (and read the clock) before time moves.
    tokio::task::yield_now().await;
    clock.advance(Duration::from_secs(19));
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished());
    clock.advance(Duration::from_secs(1));
    assert!(tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap().is_empty());
}

#[tokio::test]
async fn the_receive_after_max_receive_count_moves_the_message_to_the_dead_letter_queue() {
    let (e, clock) = engine();
    e.create_queue(&me(), "dlq", &BTreeMap::new(), &BTreeMap::new()).await.unwrap();
    let policy = r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":2}"#;
    e.create_queue(&me(), "src", &attrs(&[("RedrivePolicy", policy)]), &BTreeMap::new()).await.unwrap();
    let sent = e.send_message(&me(), &qid("src"), body("poison")).await.unwrap();
    for _ in 0..2 {
        assert_eq!(bodies(&e, "src", recv(1, Some(1))).await, ["poison"]);
        clock.advance(Duration::from_secs(1));
    }
    // Expiry alone moved nothing.
    assert_eq!(e.counts(&me(), &qid("dlq")).unwrap().visible, 0);
    assert!(bodies(&e, "src", recv(1, Some(1))).await.is_empty());
    assert_eq!(e.counts(&me(), &qid("src")).unwrap().visible + e.counts(&me(), &qid("src")).unwrap().in_flight, 0);
    let moved = e.receive_message(&me(), &qid("dlq"), recv(1, None)).await.unwrap();
    assert_eq!(moved[0].content.id, sent.message_id);
    assert_eq!(moved[0].receive_count, 3);
    assert_eq!(moved[0].content.dead_letter_source_arn.as_deref(), Some("arn:aws:sqs:us-east-1:000000000000:src"));
}

#[tokio::test]
async fn a_purge_is_allowed_once_a_minute() {
    let (e, clock) = engine();
    e.create_queue(&me(), "q", &BTreeMap::new(), &BTreeMap::new()).await.unwrap();
    e.send_message(&me(), &qid("q"), body("x")).await.unwrap();
    assert_eq!(e.purge_queue(&me(), &qid("q")).await.unwrap(), 1);
    assert_eq!(e.purge_queue(&me(), &qid("q")).await, Err(Error::PurgeQueueInProgress("q".into())));
    clock.advance(Duration::from_secs(60));
    assert_eq!(e.purge_queue(&me(), &qid("q")).await.unwrap(), 0);
}

#[tokio::test]
async fn a_deleted_name_cannot_be_reused_for_sixty_seconds() {
    let (e, clock) = engine();
    e.create_queue(&me(), "q", &BTreeMap::new(), &BTreeMap::new()).await.unwrap();
    e.delete_queue(&me(), &qid("q")).await.unwrap();
    assert!(matches!(
        e.create_queue(&me(), "q", &BTreeMap::new(), &BTreeMap::new()).await,
        Err(Error::QueueDeletedRecently)
    ));
    clock.advance(Duration::from_secs(60));
    e.create_queue(&me(), "q", &BTreeMap::new(), &BTreeMap::new()).await.unwrap();
}

/// The reference store, with every commit held until the gate is opened: a stand-in for a
/// slow disk, to see what happens while a change is submitted but not yet durable.
struct GatedStore {
    record: engine::MemoryStore,
    open: tokio::sync::watch::Sender<bool>,
}

impl engine::Store for GatedStore {
    fn submit(&self, changes: Vec<engine::store::Change>) -> engine::store::Commit {
        let applied = self.record.submit(changes);
        let mut open = self.open.subscribe();
        Box::pin(async move {
            let _ = open.wait_for(|o| *o).await;
            applied.await
        })
    }

    fn load(&self) -> Result<engine::store::Stored, engine::store::StoreError> {
        self.record.load()
    }

    fn contents(
        &self,
        queue: u64,
        seqs: &[u64],
    ) -> Result<Vec<Option<engine::message::SharedContent>>, engine::store::StoreError> {
        self.record.contents(queue, seqs)
    }

    fn health(&self) -> engine::store::Health {
        self.record.health()
    }

    fn recover(&self, rebuild: engine::store::Rebuild<'_>) -> Result<(), engine::store::StoreError> {
        self.record.recover(rebuild)
    }
}

/// An engine on a `GatedStore` whose gate is open.
fn gated_engine() -> (Arc<Engine>, ManualClock, Arc<GatedStore>) {
    let clock = ManualClock::new(START);
    let config = EngineConfig { region: "us-east-1".into(), account_id: ACCOUNT.into(), ..Default::default() };
    let store = Arc::new(GatedStore { record: Default::default(), open: tokio::sync::watch::channel(true).0 });
    let e = Arc::new(Engine::open(config, Arc::new(clock.clone()), store.clone()).unwrap());
    (e, clock, store)
}

/// Yield until a message of `queue` is in flight (taken by a receive).
async fn until_in_flight(e: &Engine, queue: &str, what: &str) {
    let mut yields = 0;
    while e.counts(&me(), &qid(queue)).unwrap().in_flight == 0 {
        yields += 1;
        assert!(yields < 10_000, "{what}");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_long_poll_takes_a_message_while_its_send_commits_and_answers_once_it_is_durable() {
    let (e, _clock, store) = gated_engine();
    e.create_queue(&me(), "q", &BTreeMap::new(), &BTreeMap::new()).await.unwrap();
    store.open.send_replace(false);

    let waiter = long_poll(&e, "q");
    tokio::task::yield_now().await;
    let sender = {
        let e = e.clone();
        tokio::spawn(async move { e.send_message(&me(), &qid("q"), body("hello")).await.unwrap() })
    };
    // The waiter is woken by the submission, not by the commit: it takes the message
    // while the send's commit is still held...
    until_in_flight(&e, "q", "the long poll was not woken while the send was committing").await;
    // ...but neither answers before the commits are durable.
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert!(!waiter.is_finished() && !sender.is_finished());
    store.open.send_replace(true);
    let sent = tokio::time::timeout(Duration::from_secs(5), sender).await.unwrap().unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap();
    assert_eq!(got[0].content.body, "hello");
    assert_eq!(got[0].content.id, sent.message_id);
}

#[tokio::test]
async fn a_long_poll_on_the_dead_letter_queue_takes_a_hand_off_while_it_commits() {
    let (e, _clock, store) = gated_engine();
    e.create_queue(&me(), "dlq", &BTreeMap::new(), &BTreeMap::new()).await.unwrap();
    let policy = r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":1}"#;
    e.create_queue(&me(), "src", &attrs(&[("RedrivePolicy", policy)]), &BTreeMap::new()).await.unwrap();
    let sent = e.send_message(&me(), &qid("src"), body("poison")).await.unwrap();
    assert_eq!(bodies(&e, "src", recv(1, Some(0))).await, ["poison"]);
    store.open.send_replace(false);

    let waiter = long_poll(&e, "dlq");
    tokio::task::yield_now().await;
    // The second receive hands the message to the DLQ and waits for that commit.
    let receiver = {
        let e = e.clone();
        tokio::spawn(async move { e.receive_message(&me(), &qid("src"), recv(1, None)).await.unwrap() })
    };
    until_in_flight(&e, "dlq", "the DLQ's long poll was not woken while the hand-off was committing").await;
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert!(!waiter.is_finished() && !receiver.is_finished());
    store.open.send_replace(true);
    assert!(tokio::time::timeout(Duration::from_secs(5), receiver).await.unwrap().unwrap().is_empty());
    let got = tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap();
    assert_eq!(got[0].content.id, sent.message_id);
    assert_eq!(got[0].receive_count, 2);
}

fn depth(e: &Engine, q: &str) -> usize {
    let m = e.metrics().into_iter().find(|m| m.id.name == q).unwrap();
    m.counts.visible + m.counts.in_flight + m.counts.delayed
}

#[tokio::test]
async fn a_metrics_read_leaves_expired_messages_to_the_sweep() {
    let (e, clock) = engine();
    e.create_queue(&me(), "q", &attrs(&[("MessageRetentionPeriod", "60")]), &BTreeMap::new()).await.unwrap();
    e.send_message(&me(), &qid("q"), body("a")).await.unwrap();
    clock.advance(Duration::from_millis(30_000));
    e.send_message(&me(), &qid("q"), body("b")).await.unwrap();
    clock.advance(Duration::from_millis(30_000));
    assert_eq!(depth(&e, "q"), 2, "metrics only look");
    // The first message expires now; the sweep comes back when the second one does.
    assert_eq!(e.sweep(clock.now()), START + 90_000);
    assert_eq!(depth(&e, "q"), 1);
    assert_eq!(e.sweep(START + 90_000), START + 150_000, "an empty engine sleeps the longest");
    assert_eq!(depth(&e, "q"), 0);
}

#[tokio::test]
async fn the_background_sweep_empties_a_queue_nobody_reads() {
    let (e, clock) = engine();
    e.create_queue(&me(), "q", &attrs(&[("MessageRetentionPeriod", "60")]), &BTreeMap::new()).await.unwrap();
    e.send_message(&me(), &qid("q"), body("a")).await.unwrap();
    e.spawn_sweeper();
    clock.advance(Duration::from_millis(60_000));
    let mut waited = 0;
    while depth(&e, "q") > 0 && waited < 500 {
        tokio::task::yield_now().await;
        waited += 1;
    }
    assert_eq!(depth(&e, "q"), 0);
    e.stop().await;
}

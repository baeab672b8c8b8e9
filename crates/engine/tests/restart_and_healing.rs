//! The engine over the reference store (`MemoryStore`), which keeps what it is given: a
//! restart is a new engine on the same store, and a full disk is a store set to fail.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test helper is a failed test

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use engine::message::NewMessage;
use engine::{Engine, Error, ManualClock, MemoryStore, ReceiveOptions};

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

async fn bodies(e: &Engine, q: &str) -> Vec<String> {
    let mut got: Vec<String> = e
        .receive_message(&me(), &qid(q), recv(10, Some(600)))
        .await
        .unwrap()
        .iter()
        .map(|r| r.content.body.clone())
        .collect();
    got.sort();
    got
}

fn fifo() -> BTreeMap<String, String> {
    BTreeMap::from([("FifoQueue".to_string(), "true".to_string())])
}

fn deduplicated(text: &str, id: &str) -> NewMessage {
    NewMessage { group_id: Some("g".into()), deduplication_id: Some(id.into()), ..body(text) }
}

#[tokio::test]
async fn an_engine_opened_again_on_the_same_store_finds_messages_handles_and_deduplication_ids() {
    let store = Arc::new(MemoryStore::default());
    let clock = ManualClock::new(START);
    let e = open(&store, &clock);
    e.create_queue(&me(), "q", &BTreeMap::new(), &BTreeMap::new()).await.unwrap();
    e.create_queue(&me(), "f.fifo", &fifo(), &BTreeMap::new()).await.unwrap();
    for text in ["one", "two", "three"] {
        e.send_message(&me(), &qid("q"), body(text)).await.unwrap();
    }
    let first = e.send_message(&me(), &qid("f.fifo"), deduplicated("f1", "d1")).await.unwrap();
    let taken = e.receive_message(&me(), &qid("q"), recv(1, Some(600))).await.unwrap().remove(0);
    e.stop().await;
    drop(e);

    let e = open(&store, &clock);
    let c = e.counts(&me(), &qid("q")).unwrap();
    assert_eq!((c.visible, c.in_flight), (2, 1));
    // The handle issued before the restart still deletes its message.
    e.delete_message(&me(), &qid("q"), &taken.receipt_handle).await.unwrap();
    assert_eq!(e.counts(&me(), &qid("q")).unwrap().in_flight, 0);
    // The deduplication id is remembered: the retry gets the first send's id, and no copy.
    let retry = e.send_message(&me(), &qid("f.fifo"), deduplicated("f1 again", "d1")).await.unwrap();
    assert_eq!(retry.message_id, first.message_id);
    assert_eq!(e.counts(&me(), &qid("f.fifo")).unwrap().visible, 1);
    // Message numbers go on above the stored ones: a new message overwrites none.
    e.send_message(&me(), &qid("q"), body("four")).await.unwrap();
    let mut all = vec!["one".to_string(), "two".into(), "three".into(), "four".into()];
    all.retain(|b| b != &taken.content.body);
    all.sort();
    assert_eq!(bodies(&e, "q").await, all);
}

#[tokio::test]
async fn a_failed_commit_answers_503_shows_only_what_was_acknowledged_and_heals_once_commits_succeed() {
    let store = Arc::new(MemoryStore::default());
    let clock = ManualClock::new(START);
    let e = open(&store, &clock);
    e.create_queue(&me(), "q", &BTreeMap::new(), &BTreeMap::new()).await.unwrap();
    e.create_queue(&me(), "f.fifo", &fifo(), &BTreeMap::new()).await.unwrap();
    e.send_message(&me(), &qid("q"), body("acknowledged")).await.unwrap();
    assert!(e.accepts_changes());

    store.set_failing(true);
    let lost = e.send_message(&me(), &qid("q"), body("lost")).await;
    assert!(matches!(lost, Err(Error::ServiceUnavailable(_))), "{lost:?}");
    assert!(!e.accepts_changes(), "not ready while the store refuses changes");
    // A retry of what failed fails again: it is not answered from memory as a duplicate.
    for attempt in ["first", "retry"] {
        let sent = e.send_message(&me(), &qid("f.fifo"), deduplicated("d", "d1")).await;
        assert!(matches!(sent, Err(Error::ServiceUnavailable(_))), "{attempt}: {sent:?}");
    }
    // Still failing: no healing, but memory is rebuilt from what the store kept.
    assert!(e.heal().is_err());
    assert_eq!(e.counts(&me(), &qid("q")).unwrap().visible, 1, "the refused send is not shown");
    assert_eq!(e.counts(&me(), &qid("f.fifo")).unwrap().visible, 0);
    assert!(!e.accepts_changes());

    store.set_failing(false);
    clock.advance(Duration::from_secs(1));
    assert!(e.heal().unwrap(), "healed once commits succeed");
    assert!(e.accepts_changes());
    assert!(!e.heal().unwrap(), "nothing left to heal");
    e.send_message(&me(), &qid("f.fifo"), deduplicated("d", "d1")).await.unwrap();
    e.send_message(&me(), &qid("q"), body("after")).await.unwrap();
    assert_eq!(bodies(&e, "q").await, ["acknowledged", "after"]);
    e.stop().await;

    // What memory showed is what the store holds.
    let e = open(&store, &clock);
    let c = e.counts(&me(), &qid("q")).unwrap();
    assert_eq!((c.visible, c.in_flight), (0, 2));
    assert_eq!(e.counts(&me(), &qid("f.fifo")).unwrap().visible, 1);
}

#[tokio::test]
async fn a_queue_of_another_account_is_its_accounts_after_a_restart() {
    use engine::store::Store;
    use engine::{Caller, QueueId};
    let store = Arc::new(MemoryStore::default());
    let clock = ManualClock::new(START);
    let other = Caller::new("222222222222", Some("AKIDOTHER".into()));
    let e = open(&store, &clock);
    e.create_queue(&other, "theirs", &BTreeMap::new(), &BTreeMap::new()).await.unwrap();
    e.create_queue(&me(), "mine", &BTreeMap::new(), &BTreeMap::new()).await.unwrap();
    let theirs = QueueId::new("222222222222", "theirs");
    e.send_message(&other, &theirs, body("kept")).await.unwrap();
    e.stop().await;
    drop(e);

    let e = open(&store, &clock);
    let (listed, _) = e.list_queues(&other, None, None, None).unwrap();
    assert_eq!(listed, std::slice::from_ref(&theirs), "the other account's queue is still its own");
    let (listed, _) = e.list_queues(&me(), None, None, None).unwrap();
    assert_eq!(listed, [qid("mine")], "and not the configured account's");
    assert_eq!(e.counts(&other, &theirs).unwrap().visible, 1);
    // The configured account's queues are stored under their bare names, as before.
    let mut names: Vec<String> = store.load().unwrap().queues.into_iter().map(|q| q.record.name).collect();
    names.sort();
    assert_eq!(names, ["222222222222/theirs", "mine"]);
}

#[tokio::test]
async fn a_queue_deleted_just_before_a_restart_is_still_deleted_recently_after_it() {
    let store = Arc::new(MemoryStore::default());
    let clock = ManualClock::new(START);
    let e = open(&store, &clock);
    e.create_queue(&me(), "gone", &BTreeMap::new(), &BTreeMap::new()).await.unwrap();
    e.delete_queue(&me(), &qid("gone")).await.unwrap();
    e.stop().await;
    drop(e);

    let e = open(&store, &clock);
    clock.advance(Duration::from_secs(30));
    let again = e.create_queue(&me(), "gone", &BTreeMap::new(), &BTreeMap::new()).await;
    assert!(matches!(again, Err(Error::QueueDeletedRecently)), "{:?}", again.map(|q| q.id.clone()));
    clock.advance(Duration::from_secs(31));
    e.create_queue(&me(), "gone", &BTreeMap::new(), &BTreeMap::new()).await.unwrap();
    // Recreated: its tombstone is gone from the store too, so a later restart does not refuse it.
    use engine::store::Store;
    assert!(store.load().unwrap().tombstones.is_empty());
}

/// Sends `n` messages named `{prefix}{i}` in batches of ten (FIFO ones in `groups` groups).
async fn fill(e: &Engine, q: &str, prefix: &str, n: usize, groups: Option<usize>) {
    for start in (0..n).step_by(10) {
        let entries = (start..(start + 10).min(n))
            .map(|i| {
                let mut m = body(&format!("{prefix}{i}"));
                if let Some(g) = groups {
                    m.group_id = Some(format!("g{}", i % g));
                    m.deduplication_id = Some(format!("{prefix}{i}"));
                }
                (format!("e{i}"), m)
            })
            .collect();
        for (_, sent) in e.send_message_batch(&me(), &qid(q), entries).await.unwrap() {
            sent.unwrap();
        }
    }
}

#[tokio::test]
async fn a_queue_restored_with_more_messages_than_one_thread_indexes_keeps_every_state_and_order() {
    // Above the count from which a restore builds the index on two threads.
    const N: usize = 60_000;
    let store = Arc::new(MemoryStore::default());
    let clock = ManualClock::new(START);
    let e = open(&store, &clock);
    e.create_queue(&me(), "big", &BTreeMap::new(), &BTreeMap::new()).await.unwrap();
    e.create_queue(&me(), "big.fifo", &fifo(), &BTreeMap::new()).await.unwrap();
    fill(&e, "big", "m", N, None).await;
    fill(&e, "big.fifo", "f", N, Some(3)).await;
    let taken = e.receive_message(&me(), &qid("big"), recv(10, Some(600))).await.unwrap();
    let delayed = NewMessage { delay_seconds: Some(900), ..body("late") };
    e.send_message(&me(), &qid("big"), delayed).await.unwrap();
    let head = e.receive_message(&me(), &qid("big.fifo"), recv(1, Some(600))).await.unwrap();
    assert_eq!(head[0].content.body, "f0");
    e.stop().await;
    drop(e);

    let e = open(&store, &clock);
    let c = e.counts(&me(), &qid("big")).unwrap();
    assert_eq!((c.visible, c.in_flight, c.delayed), (N - 10, 10, 1));
    // Oldest first, where the first ten left off.
    let next = e.receive_message(&me(), &qid("big"), recv(10, Some(600))).await.unwrap();
    let names: Vec<&str> = next.iter().map(|r| r.content.body.as_str()).collect();
    assert_eq!(names, (10..20).map(|i| format!("m{i}")).collect::<Vec<_>>());
    // Handles issued before the restart still delete their messages.
    for r in &taken {
        e.delete_message(&me(), &qid("big"), &r.receipt_handle).await.unwrap();
    }
    // Group g0 is held by its in-flight head; the others deliver from their heads in order.
    let fifo = e.receive_message(&me(), &qid("big.fifo"), recv(10, Some(600))).await.unwrap();
    let fifo: Vec<&str> = fifo.iter().map(|r| r.content.body.as_str()).collect();
    assert_eq!(fifo, ["f1", "f4", "f7", "f10", "f13", "f16", "f19", "f22", "f25", "f28"]);
    // Visibility timeouts and delays run on from what was stored.
    clock.advance(Duration::from_secs(901));
    let c = e.counts(&me(), &qid("big")).unwrap();
    assert_eq!((c.visible, c.in_flight, c.delayed), (N - 10 + 1, 0, 0));
}

fn attempt(id: &str, visibility: i64) -> ReceiveOptions {
    ReceiveOptions { attempt_id: Some(id.into()), ..recv(10, Some(visibility)) }
}

/// What a retry must give back unchanged: body, receipt handle, receive count, first receive.
fn answer(got: &[engine::Received]) -> Vec<(String, String, u32, u64)> {
    got.iter()
        .map(|r| (r.content.body.clone(), r.receipt_handle.clone(), r.receive_count, r.first_receive_at))
        .collect()
}

/// One run over a store that `open` opens again on each call (a restart).
async fn a_receive_attempt_outlives_a_restart(open: impl Fn() -> Arc<Engine>, clock: &ManualClock) {
    let e = open();
    e.create_queue(&me(), "f.fifo", &fifo(), &BTreeMap::new()).await.unwrap();
    for (text, group) in [("a1", "a"), ("a2", "a"), ("b1", "b")] {
        let m = NewMessage { group_id: Some(group.into()), deduplication_id: Some(text.into()), ..body(text) };
        e.send_message(&me(), &qid("f.fifo"), m).await.unwrap();
    }
    let first = e.receive_message(&me(), &qid("f.fifo"), attempt("x", 3600)).await.unwrap();
    assert_eq!(first.len(), 3);
    // Attempt y's message is received again (its handle changes) before the restart.
    let c1 = NewMessage { group_id: Some("c".into()), deduplication_id: Some("c1".into()), ..body("c1") };
    e.send_message(&me(), &qid("f.fifo"), c1).await.unwrap();
    let y = e.receive_message(&me(), &qid("f.fifo"), attempt("y", 5)).await.unwrap();
    assert_eq!(answer(&y)[0].0, "c1");
    clock.advance(Duration::from_secs(6));
    let again = e.receive_message(&me(), &qid("f.fifo"), recv(10, Some(3600))).await.unwrap();
    assert_eq!(answer(&again)[0].0, "c1");
    e.stop().await;
    drop(e);

    let e = open();
    let retry = e.receive_message(&me(), &qid("f.fifo"), attempt("x", 60)).await.unwrap();
    assert_eq!(answer(&retry), answer(&first), "the same messages, in the same order, with the same handles");
    assert!(
        e.receive_message(&me(), &qid("f.fifo"), attempt("y", 60)).await.unwrap().is_empty(),
        "y's message was received again: a new receive, and every message is in flight"
    );
    // x was made 6 s before the retry, which hid its messages for 60 s: 301 s on, x has
    // lapsed and its messages are visible again — a new receive.
    clock.advance(Duration::from_secs(301));
    let later = e.receive_message(&me(), &qid("f.fifo"), attempt("x", 3600)).await.unwrap();
    let mut got: Vec<String> = later.iter().map(|r| r.content.body.clone()).collect();
    got.sort();
    assert_eq!(got, ["a1", "a2", "b1"]);
    for r in &later {
        assert_eq!(r.receive_count, 2);
        assert!(first.iter().all(|f| f.receipt_handle != r.receipt_handle), "a new handle");
    }
}

#[tokio::test]
async fn a_receive_attempt_replays_after_a_restart_until_a_message_of_it_is_received_again_or_it_lapses() {
    let store = Arc::new(MemoryStore::default());
    let clock = ManualClock::new(START);
    a_receive_attempt_outlives_a_restart(|| open(&store, &clock), &clock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receive_attempt_replays_after_a_restart_of_a_sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(START);
    a_receive_attempt_outlives_a_restart(|| open_durable(dir.path(), &clock), &clock).await;
}

/// Over the PostgreSQL that `REDRIVE_TEST_POSTGRES` names, in a schema of its own; skipped
/// (with a line saying so) without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receive_attempt_replays_after_a_restart_of_a_postgresql_store() {
    let Some(url) = std::env::var("REDRIVE_TEST_POSTGRES").ok().filter(|u| !u.is_empty()) else {
        eprintln!("skipped: set REDRIVE_TEST_POSTGRES to a PostgreSQL URL to run this test");
        return;
    };
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let clock = ManualClock::new(START);
    let open = || {
        let pg = store::PgStore::open_in(&url, &schema, 0).unwrap();
        Arc::new(Engine::open(config(), Arc::new(clock.clone()), Arc::new(pg)).unwrap())
    };
    a_receive_attempt_outlives_a_restart(open, &clock).await;
}

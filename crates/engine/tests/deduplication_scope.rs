//! A FIFO queue deduplicates by the DeduplicationScope it was created with; a later change is
//! reported by GetQueueAttributes but does not change deduplication (recorded on AWS on
//! 2025-08-19: LocalStack's `test_fifo_change_to_high_throughput_after_creation` and
//! `test_fifo_change_to_regular_throughput_after_creation` snapshots). The scope survives a
//! restart. Time moves only by the manual clock.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test helper is a failed test

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use engine::message::NewMessage;
use engine::{Engine, ManualClock, MemoryStore};

mod common;
use common::*;

const FIVE_MINUTES: Duration = Duration::from_secs(5 * 60);

fn message(body: &str, group: &str, dedup: &str) -> NewMessage {
    NewMessage {
        body: body.into(),
        group_id: Some(group.into()),
        deduplication_id: Some(dedup.into()),
        ..Default::default()
    }
}

/// Sends `body` and answers whether it was stored as a new message (not a duplicate).
async fn stored(e: &Engine, q: &str, body: &str, group: &str, dedup: &str) -> bool {
    let before = e.counts(&me(), &qid(q)).unwrap().visible;
    e.send_message(&me(), &qid(q), message(body, group, dedup)).await.unwrap();
    e.counts(&me(), &qid(q)).unwrap().visible == before + 1
}

async fn reported_scope(e: &Engine, q: &str) -> String {
    let a = e.get_queue_attributes(&me(), &qid(q), &["DeduplicationScope".to_string()]).unwrap();
    a.into_iter().find(|(k, _)| k == "DeduplicationScope").unwrap().1
}

#[tokio::test]
async fn a_queue_created_with_queue_scope_still_deduplicates_across_groups_after_a_switch_to_message_group() {
    let store = Arc::new(MemoryStore::default());
    let clock = ManualClock::new(START);
    let e = open(&store, &clock);
    let q = "by-queue.fifo";
    e.create_queue(&me(), q, &attrs(&[("FifoQueue", "true"), ("DeduplicationScope", "queue")]), &BTreeMap::new())
        .await
        .unwrap();
    assert!(stored(&e, q, "Test1", "group1", "same-dedup").await);
    assert!(!stored(&e, q, "Test2", "group2", "same-dedup").await, "queue scope: a duplicate across groups");

    e.set_queue_attributes(
        &me(),
        &qid(q),
        &attrs(&[("DeduplicationScope", "messageGroup"), ("FifoThroughputLimit", "perMessageGroupId")]),
    )
    .await
    .unwrap();
    assert_eq!(reported_scope(&e, q).await, "messageGroup", "the new value is reported");
    clock.advance(Duration::from_secs(1));
    assert!(!stored(&e, q, "Test3", "group3", "same-dedup").await, "an id seen before: still a duplicate");
    assert!(stored(&e, q, "Test4", "group4", "dedup_2").await);
    assert!(!stored(&e, q, "Test5", "group5", "dedup_2").await, "a new id: deduplicated across groups too");

    // The same after a restart, and the window still lasts five minutes from the first send.
    e.stop().await;
    drop(e);
    let e = open(&store, &clock);
    assert_eq!(reported_scope(&e, q).await, "messageGroup");
    assert!(!stored(&e, q, "Test6", "group6", "dedup_2").await, "after a restart: still by queue");
    clock.advance(FIVE_MINUTES);
    assert!(stored(&e, q, "Test8", "group8", "dedup_2").await, "the window of dedup_2 has passed");
}

#[tokio::test]
async fn a_queue_created_with_message_group_scope_still_deduplicates_per_group_after_a_switch_to_queue() {
    let store = Arc::new(MemoryStore::default());
    let clock = ManualClock::new(START);
    let e = open(&store, &clock);
    let q = "by-group.fifo";
    let created = attrs(&[
        ("FifoQueue", "true"),
        ("DeduplicationScope", "messageGroup"),
        ("FifoThroughputLimit", "perMessageGroupId"),
    ]);
    e.create_queue(&me(), q, &created, &BTreeMap::new()).await.unwrap();
    assert!(stored(&e, q, "Test1", "group1", "same-dedup").await);
    assert!(stored(&e, q, "Test2", "group2", "same-dedup").await, "message-group scope: not a duplicate");

    e.set_queue_attributes(
        &me(),
        &qid(q),
        &attrs(&[("DeduplicationScope", "queue"), ("FifoThroughputLimit", "perQueue")]),
    )
    .await
    .unwrap();
    assert_eq!(reported_scope(&e, q).await, "queue", "the new value is reported");
    clock.advance(Duration::from_secs(1));
    assert!(stored(&e, q, "Test3", "group3", "same-dedup").await, "an id seen in other groups: not a duplicate");
    assert!(stored(&e, q, "Test4", "group4", "new-dedup").await);
    assert!(stored(&e, q, "Test5", "group5", "new-dedup").await, "a new id in another group: not a duplicate");
    assert!(!stored(&e, q, "Test6", "group5", "new-dedup").await, "in the same group it still is");

    e.stop().await;
    drop(e);
    let e = open(&store, &clock);
    assert_eq!(reported_scope(&e, q).await, "queue");
    assert!(stored(&e, q, "Test7", "group7", "new-dedup").await, "after a restart: still by group");
    assert!(!stored(&e, q, "Test8", "group7", "new-dedup").await);
}

//! One suite of tests for every `Store` backend: what each must keep, return and refuse
//! (the contract in `store`'s module docs). A backend's crate runs it with
//! `engine::store_conformance!(its_backend())`, one test per case; `MemoryStore` runs it
//! here. Modelled on Garage's `db/test.rs`: the same functions, given a way to open the
//! backend, for every backend.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed case

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::attributes::QueueAttributes;
use crate::message::{Content, SharedContent};
use crate::store::{
    AttemptRecord, Change, DedupRecord, Health, MemoryStore, MessageState, QueueRecord, Store, StoreError, Stored,
    TaskRecord, TaskStatus,
};

/// How the suite opens, restarts and breaks one backend.
pub trait Backend {
    /// A store: empty the first time, then holding what the last one kept.
    fn open(&mut self) -> Arc<dyn Store>;
    /// Close `store` and open what it kept again: a restart.
    fn reopen(&mut self, store: Arc<dyn Store>) -> Arc<dyn Store> {
        store.close();
        drop(store);
        self.open()
    }
    /// Make commits fail as on a full disk (`true`), or succeed again (`false`).
    fn set_failing(&mut self, failing: bool);
}

/// `MemoryStore` as a backend: a restart is the same instance opened again.
#[derive(Default)]
pub struct Memory(Option<Arc<MemoryStore>>);

impl Backend for Memory {
    fn open(&mut self) -> Arc<dyn Store> {
        self.0.get_or_insert_with(Default::default).clone()
    }

    fn set_failing(&mut self, failing: bool) {
        self.0.get_or_insert_with(Default::default).set_failing(failing);
    }
}

/// One test per case of the suite, for the backend `$backend` builds. With `without_faults`,
/// only the cases that need no injected failure; with `only_faults`, only those that do.
#[macro_export]
macro_rules! store_conformance {
    ($backend:expr) => {
        $crate::store_conformance!($backend, without_faults);
        $crate::store_conformance!($backend, only_faults);
    };
    ($backend:expr, only_faults) => {
        $crate::store_conformance!(@cases $backend;
            a_failed_commit_refuses_every_change_until_the_store_recovers,
            recovery_hands_over_the_durable_record_before_changes_are_accepted_again,
        );
    };
    ($backend:expr, without_faults) => {
        $crate::store_conformance!(@cases $backend;
            every_change_comes_back_after_a_reopen,
            purge_and_delete_queue_remove_messages_and_dedup_of_that_queue_only,
            a_submitted_body_is_found_before_its_commit_is_awaited,
            a_state_change_never_brings_back_a_deleted_message,
            the_seq_limit_keeps_the_highest_reservation,
            contents_are_read_in_one_go_with_none_for_a_missing_message,
            a_deleted_task_is_forgotten_and_the_others_kept,
            tombstones_are_kept_replaced_and_forgotten,
            receive_attempts_are_kept_by_id_replaced_forgotten_and_purged_with_their_queue,
        );
    };
    (@cases $backend:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let mut backend = $backend;
                $crate::store::conformance::$case(&mut backend).await;
            }
        )*
    };
}

/// A uid above 2^63 (a backend with signed integers must keep it).
pub const BIG_UID: u64 = 0xF000_0000_0000_0001;

pub fn queue(uid: u64, name: &str) -> QueueRecord {
    QueueRecord {
        name: name.into(),
        uid,
        created_at: 1_000,
        last_modified: 2_000,
        attributes: QueueAttributes::defaults(name.ends_with(".fifo")),
        tags: BTreeMap::from([("team".to_string(), "a".to_string())]),
        last_purge: None,
    }
}

pub fn content(body: &str) -> SharedContent {
    Arc::new(Content {
        id: format!("id-{body}"),
        body: body.into(),
        md5_of_body: crate::message::md5_hex(body.as_bytes()),
        attributes: BTreeMap::new(),
        md5_of_attributes: None,
        system_attributes: BTreeMap::new(),
        md5_of_system_attributes: None,
        sender_id: "sender".into(),
        sent_at: 5,
        dead_letter_source_arn: None,
        group_id: None,
        deduplication_id: None,
        dead_lettered_at: None,
        redrives: None,
    })
}

pub fn state(visible_at: u64, receive_count: u32) -> MessageState {
    MessageState {
        enqueued_at: 10,
        visible_at,
        receive_count,
        first_receive_at: if receive_count > 0 { 20 } else { 0 },
        received_at: 20,
        nonce: receive_count,
    }
}

pub fn put(queue: u64, seq: u64, body: &str) -> Change {
    Change::PutMessage { queue, seq, content: content(body), state: state(10, 0) }
}

pub fn task(id: &str, started_at: u64) -> TaskRecord {
    TaskRecord {
        id: id.into(),
        source_arn: "arn:aws:sqs:us-east-1:000000000000:dlq".into(),
        destination_arn: None,
        max_per_second: Some(10),
        status: TaskStatus::Running,
        moved: 1,
        to_move: 5,
        started_at,
        failure_reason: None,
        boundary_seq: 7,
        // Redrive's own parts, set, so that a store is seen to keep them.
        options: crate::movetask::TaskOptions {
            started_by: Some("AKIDEXAMPLE".into()),
            filter: Some(crate::filter::MessageFilter { body_contains: Some("refund".into()), ..Default::default() }),
            canary: Some(crate::movetask::record::Canary { size: 3, timeout_ms: 60_000 }),
            halt: None,
            max_redrives: Some(10),
        },
        progress: crate::movetask::record::Progress {
            stage: crate::movetask::record::Stage::CanaryWatch { until: 99 },
            failed_again: 1,
            came_back: vec!["m-1".into()],
            ..Default::default()
        },
    }
}

pub fn dedup(queue: u64, key: &str, seq: u64) -> Change {
    Change::PutDedup { queue, key: key.into(), message_id: format!("m-{key}"), seq, expires_at: 300_000 }
}

/// The body of one message, if the store has it.
pub fn body(store: &dyn Store, queue: u64, seq: u64) -> Option<String> {
    let mut found = store.contents(queue, &[seq]).expect("contents");
    assert_eq!(found.len(), 1, "one answer per seq");
    found.pop().flatten().map(|c| c.body.clone())
}

/// The stored queues' names.
fn names(stored: &Stored) -> Vec<&str> {
    stored.queues.iter().map(|q| q.record.name.as_str()).collect()
}

pub async fn every_change_comes_back_after_a_reopen(backend: &mut dyn Backend) {
    let store = backend.open();
    store
        .submit(vec![Change::PutQueue(queue(BIG_UID, "big.fifo")), Change::PutQueue(queue(7, "small"))])
        .await
        .unwrap();
    // Submitted together: a durable backend may commit them in one transaction.
    let commits = vec![
        store.submit(vec![put(7, 1, "one"), put(7, 2, "two"), put(7, 3, "three")]),
        store.submit(vec![Change::SetState { queue: 7, seq: 2, state: state(99, 1) }]),
        store.submit(vec![Change::DeleteMessage { queue: 7, seq: 1 }]),
        // Seqs are unique across queues (the engine has one counter).
        store.submit(vec![put(BIG_UID, 4, "fifo-one"), dedup(BIG_UID, "b", 4), dedup(BIG_UID, "a", 4)]),
        store.submit(vec![dedup(BIG_UID, "c", 4), Change::DeleteDedup { queue: BIG_UID, key: "b".into() }]),
        store.submit(vec![
            Change::PutTask(Box::new(task("late", 2_000))),
            Change::PutTask(Box::new(task("early", 1_000))),
        ]),
        store.submit(vec![Change::ReserveSeqs { below: 1 << 20 }]),
    ];
    for c in commits {
        c.await.unwrap();
    }
    let mut renamed = queue(7, "small");
    renamed.last_modified = 3_000;
    renamed.attributes.visibility_timeout = 77;
    let mut updated = task("late", 2_000);
    updated.moved = 5;
    updated.status = TaskStatus::Completed;
    store.submit(vec![Change::PutQueue(renamed.clone()), Change::PutTask(Box::new(updated.clone()))]).await.unwrap();
    let store = backend.reopen(store);

    let stored = store.load().unwrap();
    // In uid order, as u64s.
    assert_eq!(
        stored.queues.iter().map(|q| q.record.clone()).collect::<Vec<_>>(),
        [renamed, queue(BIG_UID, "big.fifo")]
    );
    assert_eq!(stored.queues[0].messages, [(2, state(99, 1)), (3, state(10, 0))]);
    assert!(stored.queues[0].dedup.is_empty());
    assert_eq!(stored.queues[1].messages, [(4, state(10, 0))]);
    let keys: Vec<_> = stored.queues[1].dedup.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["a", "c"], "in key order");
    assert_eq!(
        stored.queues[1].dedup[0],
        DedupRecord { key: "a".into(), message_id: "m-a".into(), seq: 4, expires_at: 300_000 }
    );
    assert_eq!(stored.tasks, [task("early", 1_000), updated], "in start order");
    assert_eq!(stored.seq_limit, 1 << 20);
    assert_eq!(store.contents(7, &[3]).unwrap(), [Some(content("three"))]);
    assert_eq!(body(&*store, 7, 2).as_deref(), Some("two"));
    assert_eq!(body(&*store, BIG_UID, 4).as_deref(), Some("fifo-one"));
    assert_eq!(body(&*store, 7, 1), None, "a deleted message keeps no body");
    assert_eq!(body(&*store, 8, 9), None);
}

pub fn attempt(id: &str, receipts: &[(u64, u64)]) -> AttemptRecord {
    AttemptRecord { id: id.into(), expires_at: 300_000, receipts: receipts.to_vec() }
}

pub async fn receive_attempts_are_kept_by_id_replaced_forgotten_and_purged_with_their_queue(backend: &mut dyn Backend) {
    let store = backend.open();
    let (a, b) = (BIG_UID, 7);
    let mut changes = vec![Change::PutQueue(queue(a, "a.fifo")), Change::PutQueue(queue(b, "b.fifo"))];
    changes.extend([put(a, 1, "one"), put(a, 2, "two"), put(b, 3, "three")]);
    // An id of any punctuation, and receipts in delivery order (not seq order).
    let odd = "x!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    changes.extend([
        Change::PutAttempt { queue: a, record: attempt("first", &[(2, 1), (1, 1)]) },
        Change::PutAttempt { queue: a, record: attempt(odd, &[(1, 1)]) },
        Change::PutAttempt { queue: a, record: attempt("gone", &[(1, 1)]) },
        Change::PutAttempt { queue: b, record: attempt("first", &[(3, 1)]) },
    ]);
    store.submit(changes).await.unwrap();
    store
        .submit(vec![
            Change::PutAttempt { queue: a, record: attempt(odd, &[(1, 2)]) },
            Change::DeleteAttempt { queue: a, id: "gone".into() },
        ])
        .await
        .unwrap();
    let store = backend.reopen(store);

    let stored = store.load().unwrap();
    assert_eq!(stored.queues[0].record.uid, b);
    assert_eq!(stored.queues[0].attempts, [attempt("first", &[(3, 1)])]);
    let mut kept = stored.queues[1].attempts.clone();
    kept.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(kept, [attempt("first", &[(2, 1), (1, 1)]), attempt(odd, &[(1, 2)])]);
    store.submit(vec![Change::Purge { queue: a }, Change::DeleteQueue { uid: b }]).await.unwrap();
    let store = backend.reopen(store);
    let stored = store.load().unwrap();
    assert_eq!(names(&stored), ["a.fifo"]);
    assert!(stored.queues[0].attempts.is_empty(), "a purge forgets the queue's attempts");
}

pub async fn purge_and_delete_queue_remove_messages_and_dedup_of_that_queue_only(backend: &mut dyn Backend) {
    let store = backend.open();
    let (a, b, c) = (1, BIG_UID, BIG_UID + 1);
    let mut changes =
        vec![Change::PutQueue(queue(a, "a")), Change::PutQueue(queue(b, "b")), Change::PutQueue(queue(c, "c"))];
    // Seqs a: 1, 2; b: 3, 4; c: 5, 6.
    for (i, q) in [a, b, c].into_iter().enumerate() {
        let first = 2 * i as u64 + 1;
        changes.extend([put(q, first, "x"), put(q, first + 1, "y"), dedup(q, "k", first)]);
    }
    store.submit(changes).await.unwrap();
    store.submit(vec![Change::Purge { queue: b }, Change::DeleteQueue { uid: c }]).await.unwrap();
    assert_eq!(body(&*store, b, 3), None);
    assert_eq!(body(&*store, c, 6), None);
    assert_eq!(body(&*store, a, 2).as_deref(), Some("y"));
    let store = backend.reopen(store);

    let stored = store.load().unwrap();
    assert_eq!(names(&stored), ["a", "b"]);
    assert_eq!(stored.queues[0].messages.len(), 2);
    assert_eq!(stored.queues[0].dedup.len(), 1);
    assert!(stored.queues[1].messages.is_empty());
    assert!(stored.queues[1].dedup.is_empty());
    // The purged queue takes new messages.
    store.submit(vec![put(b, 7, "z")]).await.unwrap();
    assert_eq!(store.load().unwrap().queues[1].messages, [(7, state(10, 0))]);
}

pub async fn a_submitted_body_is_found_before_its_commit_is_awaited(backend: &mut dyn Backend) {
    let store = backend.open();
    store.submit(vec![Change::PutQueue(queue(3, "q"))]).await.unwrap();
    let commit = store.submit(vec![put(3, 1, "early")]);
    assert_eq!(body(&*store, 3, 1).as_deref(), Some("early"), "before the commit is awaited");
    commit.await.unwrap();
    assert_eq!(body(&*store, 3, 1).as_deref(), Some("early"), "after it");
    let delete = store.submit(vec![Change::DeleteMessage { queue: 3, seq: 1 }]);
    delete.await.unwrap();
    assert_eq!(body(&*store, 3, 1), None);
}

pub async fn a_state_change_never_brings_back_a_deleted_message(backend: &mut dyn Backend) {
    let store = backend.open();
    store.submit(vec![Change::PutQueue(queue(3, "q")), put(3, 1, "gone"), put(3, 2, "kept")]).await.unwrap();
    // A delete and a late visibility change of the same message, in that order.
    store
        .submit(vec![
            Change::DeleteMessage { queue: 3, seq: 1 },
            Change::SetState { queue: 3, seq: 1, state: state(50, 1) },
            Change::SetState { queue: 3, seq: 2, state: state(60, 2) },
        ])
        .await
        .unwrap();
    let store = backend.reopen(store);
    assert_eq!(store.load().unwrap().queues[0].messages, [(2, state(60, 2))]);
    assert_eq!(body(&*store, 3, 1), None);
}

pub async fn the_seq_limit_keeps_the_highest_reservation(backend: &mut dyn Backend) {
    let store = backend.open();
    assert_eq!(store.load().unwrap().seq_limit, 0);
    store.submit(vec![Change::ReserveSeqs { below: 1 << 20 }]).await.unwrap();
    // Two reservations crossing in flight: the lower one, submitted later, changes nothing.
    store.submit(vec![Change::ReserveSeqs { below: 3 << 20 }, Change::ReserveSeqs { below: 2 << 20 }]).await.unwrap();
    assert_eq!(store.load().unwrap().seq_limit, 3 << 20);
    let store = backend.reopen(store);
    assert_eq!(store.load().unwrap().seq_limit, 3 << 20);
}

pub async fn a_deleted_task_is_forgotten_and_the_others_kept(backend: &mut dyn Backend) {
    let store = backend.open();
    let tasks = ["a", "b", "c"].map(|id| Change::PutTask(Box::new(task(id, 1_000))));
    store.submit(tasks.to_vec()).await.unwrap();
    store.submit(vec![Change::DeleteTask { started_at: 1_000, id: "b".into() }]).await.unwrap();
    // A task not kept, or kept under another start time, is not there to forget: no error.
    store.submit(vec![Change::DeleteTask { started_at: 2_000, id: "a".into() }]).await.unwrap();
    let ids = |stored: Stored| stored.tasks.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(ids(store.load().unwrap()), ["a", "c"]);
    let store = backend.reopen(store);
    assert_eq!(ids(store.load().unwrap()), ["a", "c"]);
}

pub async fn tombstones_are_kept_replaced_and_forgotten(backend: &mut dyn Backend) {
    use crate::store::Tombstone;
    let store = backend.open();
    let stone = |name: &str, at: u64| Change::PutTombstone(Tombstone { name: name.into(), deleted_at: at });
    store.submit(vec![stone("b", 1_000), stone("a", 2_000), stone("b", 3_000)]).await.unwrap();
    store.submit(vec![stone("c", 4_000), Change::DeleteTombstone { name: "a".into() }]).await.unwrap();
    let kept = |stored: Stored| stored.tombstones.into_iter().map(|t| (t.name, t.deleted_at)).collect::<Vec<_>>();
    let want = vec![("b".to_string(), 3_000), ("c".to_string(), 4_000)];
    assert_eq!(kept(store.load().unwrap()), want, "in name order, the latest deletion kept");
    let store = backend.reopen(store);
    assert_eq!(kept(store.load().unwrap()), want);
}

pub async fn contents_are_read_in_one_go_with_none_for_a_missing_message(backend: &mut dyn Backend) {
    let store = backend.open();
    let mut changes = vec![Change::PutQueue(queue(1, "q"))];
    changes.extend((1..=20).map(|seq| put(1, seq, &format!("m{seq}"))));
    store.submit(changes).await.unwrap();
    store.submit(vec![Change::DeleteMessage { queue: 1, seq: 5 }]).await.unwrap();
    // Submitted, not yet awaited, in the middle of a read of committed ones.
    let pending = store.submit(vec![put(1, 21, "m21")]);
    let found = store.contents(1, &[3, 5, 21, 20, 99]).unwrap();
    let bodies: Vec<Option<&str>> = found.iter().map(|c| c.as_ref().map(|c| c.body.as_str())).collect();
    assert_eq!(bodies, [Some("m3"), None, Some("m21"), Some("m20"), None], "one answer per seq, in order");
    assert!(store.contents(1, &[]).unwrap().is_empty());
    pending.await.unwrap();
}

/// Submit `changes`, expecting the commit to fail.
async fn refused(store: &dyn Store, changes: Vec<Change>, what: &str) -> StoreError {
    match store.submit(changes).await {
        Err(e) => e,
        Ok(()) => panic!("{what}: the commit succeeded"),
    }
}

pub async fn a_failed_commit_refuses_every_change_until_the_store_recovers(backend: &mut dyn Backend) {
    let store = backend.open();
    store.submit(vec![Change::PutQueue(queue(1, "q")), put(1, 1, "acknowledged")]).await.unwrap();
    assert_eq!(store.health(), Health::Healthy);
    backend.set_failing(true);
    refused(&*store, vec![put(1, 2, "lost")], "a commit on a full disk").await;
    assert_eq!(store.health(), Health::Failed);
    // Space returns, but the store goes on refusing until it recovers: nothing may land
    // after a change that was lost.
    backend.set_failing(false);
    refused(&*store, vec![put(1, 3, "after the loss")], "a commit before recovery").await;
    refused(&*store, Vec::new(), "an empty submission (a wait for the ones before it)").await;
    assert_eq!(store.health(), Health::Failed);
    // What is durable can still be read meanwhile.
    let stored = store.load().unwrap();
    assert_eq!(stored.queues[0].messages.iter().map(|m| m.0).collect::<Vec<_>>(), [1]);
    assert_eq!(body(&*store, 1, 1).as_deref(), Some("acknowledged"));
    store.recover(&mut |_| Ok(())).unwrap();
    assert_eq!(store.health(), Health::Healthy);
    store.submit(vec![put(1, 4, "after recovery")]).await.unwrap();
    let store = backend.reopen(store);
    let seqs: Vec<u64> = store.load().unwrap().queues[0].messages.iter().map(|m| m.0).collect();
    assert_eq!(seqs, [1, 4], "what was acknowledged, and nothing that was not");
    assert_eq!(body(&*store, 1, 4).as_deref(), Some("after recovery"));
}

pub async fn recovery_hands_over_the_durable_record_before_changes_are_accepted_again(backend: &mut dyn Backend) {
    let store = backend.open();
    store.submit(vec![Change::PutQueue(queue(1, "q")), put(1, 1, "kept")]).await.unwrap();
    backend.set_failing(true);
    refused(&*store, vec![Change::PutQueue(queue(2, "lost")), put(2, 2, "lost")], "a commit on a full disk").await;
    // Still failing: no recovery, and `rebuild` is not called.
    let mut called = false;
    assert!(store
        .recover(&mut |_| {
            called = true;
            Ok(())
        })
        .is_err());
    assert!(!called);
    assert_eq!(store.health(), Health::Failed);
    backend.set_failing(false);
    // A rebuild that fails leaves the store refusing changes.
    assert!(store.recover(&mut |_| Err(StoreError("rebuild failed".into()))).is_err());
    assert_eq!(store.health(), Health::Failed);
    let mut seen = None;
    let handle = store.clone();
    store
        .recover(&mut |stored| {
            // Changes are still refused while the engine rebuilds.
            assert_eq!(handle.health(), Health::Failed);
            seen = Some((names(&stored).join(","), stored.queues[0].messages.len()));
            Ok(())
        })
        .unwrap();
    assert_eq!(seen, Some(("q".to_string(), 1)));
    assert_eq!(store.health(), Health::Healthy);
    store.submit(vec![put(1, 3, "new")]).await.unwrap();
    assert_eq!(body(&*store, 1, 3).as_deref(), Some("new"));
}

#[cfg(test)]
mod memory {
    crate::store_conformance!(crate::store::conformance::Memory::default());
}

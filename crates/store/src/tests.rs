//! Conformance of `SqliteStore` to the `Store` contract: what is committed comes back after
//! a reopen, in the order the engine expects.

use std::collections::BTreeMap;
use std::sync::Arc;

use engine::attributes::QueueAttributes;
use engine::message::Content;
use engine::store::{Change, DedupRecord, MessageState, QueueRecord, Store, TaskRecord, TaskStatus};

use crate::{OpenError, SqliteStore};

/// A uid above 2^63: stored as a negative SQLite integer.
const BIG_UID: u64 = 0xF000_0000_0000_0001;

fn queue(uid: u64, name: &str) -> QueueRecord {
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

fn content(body: &str) -> Arc<Content> {
    Arc::new(Content {
        id: format!("id-{body}"),
        body: body.into(),
        md5_of_body: engine::message::md5_hex(body.as_bytes()),
        attributes: BTreeMap::new(),
        md5_of_attributes: None,
        system_attributes: BTreeMap::new(),
        md5_of_system_attributes: None,
        sender_id: "sender".into(),
        sent_at: 5,
        dead_letter_source_arn: None,
        group_id: None,
        deduplication_id: None,
    })
}

fn state(visible_at: u64, receive_count: u32) -> MessageState {
    MessageState {
        enqueued_at: 10,
        visible_at,
        receive_count,
        first_receive_at: if receive_count > 0 { 20 } else { 0 },
        received_at: 20,
        nonce: receive_count,
    }
}

fn put(queue: u64, seq: u64, body: &str) -> Change {
    Change::PutMessage { queue, seq, content: content(body), state: state(10, 0) }
}

fn task(id: &str, started_at: u64) -> TaskRecord {
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
    }
}

fn dedup(queue: u64, key: &str, seq: u64) -> Change {
    Change::PutDedup { queue, key: key.into(), message_id: format!("m-{key}"), seq, expires_at: 300_000 }
}

#[tokio::test]
async fn what_was_committed_comes_back_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store
        .submit(vec![Change::PutQueue(queue(BIG_UID, "big.fifo")), Change::PutQueue(queue(7, "small"))])
        .await
        .unwrap();
    // Submitted together: one group, one transaction.
    let commits = vec![
        store.submit(vec![put(7, 1, "one"), put(7, 2, "two"), put(7, 3, "three")]),
        store.submit(vec![Change::SetState { queue: 7, seq: 2, state: state(99, 1) }]),
        store.submit(vec![Change::DeleteMessage { queue: 7, seq: 1 }]),
        // Seqs are unique across queues (the engine has one counter).
        store.submit(vec![put(BIG_UID, 4, "fifo-one"), dedup(BIG_UID, "b", 4), dedup(BIG_UID, "a", 4)]),
        store.submit(vec![dedup(BIG_UID, "c", 4), Change::DeleteDedup { queue: BIG_UID, key: "b".into() }]),
        store.submit(vec![Change::PutTask(task("late", 2_000)), Change::PutTask(task("early", 1_000))]),
    ];
    for c in commits {
        c.await.unwrap();
    }
    let mut updated = task("late", 2_000);
    updated.moved = 5;
    updated.status = TaskStatus::Completed;
    store.submit(vec![Change::PutTask(updated.clone())]).await.unwrap();
    store.close();
    assert!(store.submit(vec![put(7, 9, "after close")]).await.is_err());
    drop(store);

    let store = SqliteStore::open(dir.path()).unwrap();
    let loaded = store.load().unwrap();
    // In uid order, as u64s.
    assert_eq!(
        loaded.iter().map(|q| q.record.clone()).collect::<Vec<_>>(),
        [queue(7, "small"), queue(BIG_UID, "big.fifo")]
    );
    assert_eq!(loaded[0].messages, [(2, state(99, 1)), (3, state(10, 0))]);
    assert!(loaded[0].dedup.is_empty());
    assert_eq!(loaded[1].messages, [(4, state(10, 0))]);
    let keys: Vec<_> = loaded[1].dedup.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["a", "c"]);
    assert_eq!(
        loaded[1].dedup[0],
        DedupRecord { key: "a".into(), message_id: "m-a".into(), seq: 4, expires_at: 300_000 }
    );
    let tasks = store.load_tasks().unwrap();
    assert_eq!(tasks, [task("early", 1_000), updated]);
    assert_eq!(store.content(7, 2).unwrap().unwrap().body, "two");
    assert_eq!(store.content(7, 3).unwrap().unwrap(), content("three"));
    assert_eq!(store.content(BIG_UID, 4).unwrap().unwrap().body, "fifo-one");
    assert!(store.content(7, 1).unwrap().is_none(), "a deleted message keeps no body");
    assert!(store.content(8, 1).unwrap().is_none());
}

#[tokio::test]
async fn purge_and_delete_queue_remove_messages_and_dedup_of_that_queue_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
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
    assert!(store.content(b, 3).unwrap().is_none());
    assert!(store.content(c, 6).unwrap().is_none());
    assert!(store.content(a, 2).unwrap().is_some());
    drop(store);

    let store = SqliteStore::open(dir.path()).unwrap();
    let loaded = store.load().unwrap();
    let names: Vec<_> = loaded.iter().map(|q| q.record.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(loaded[0].messages.len(), 2);
    assert_eq!(loaded[0].dedup.len(), 1);
    assert!(loaded[1].messages.is_empty());
    assert!(loaded[1].dedup.is_empty());
    // The purged queue takes new messages.
    store.submit(vec![put(b, 7, "z")]).await.unwrap();
    assert_eq!(store.load().unwrap()[1].messages.len(), 1);
}

#[tokio::test]
async fn a_submitted_body_can_be_read_before_its_commit_is_awaited() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.submit(vec![Change::PutQueue(queue(3, "q"))]).await.unwrap();
    let commit = store.submit(vec![put(3, 1, "early")]);
    assert_eq!(store.content(3, 1).unwrap().unwrap().body, "early");
    commit.await.unwrap();
    assert_eq!(store.content(3, 1).unwrap().unwrap().body, "early");
    assert!(store.pending.lock().is_empty());
}

#[tokio::test]
async fn the_directory_lock_refuses_a_second_store_until_the_first_closes() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    match SqliteStore::open(dir.path()) {
        Err(e @ OpenError::Locked(_)) => {
            assert!(e.to_string().contains("is in use by another redrive server"), "{e}");
        }
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("a second store opened the same directory"),
    }
    store.close();
    let again = SqliteStore::open(dir.path()).unwrap();
    assert!(again.load().unwrap().is_empty());
}

#[tokio::test]
async fn probe_and_resume_leave_a_healthy_store_working() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.submit(vec![Change::PutQueue(queue(3, "q")), put(3, 1, "kept")]).await.unwrap();
    assert!(!store.is_failed());
    store.probe().unwrap();
    store.probe().unwrap();
    store.resume();
    store.submit(vec![put(3, 2, "after")]).await.unwrap();
    assert_eq!(store.load().unwrap()[0].messages.len(), 2);
    store.close();
    assert!(store.probe().is_err(), "a closed store does not reopen its database");
}

#[test]
fn a_directory_holding_an_earlier_redb_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("redrive.redb"), b"old").unwrap();
    let e = SqliteStore::open(dir.path()).err().expect("must refuse");
    assert!(e.to_string().contains("redrive.redb"), "{e}");
    // The lock was released with the refusal.
    std::fs::remove_file(dir.path().join("redrive.redb")).unwrap();
    SqliteStore::open(dir.path()).unwrap();
}

#[tokio::test]
async fn a_reader_finds_messages_committed_after_its_first_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.submit(vec![Change::PutQueue(queue(1, "q")), put(1, 1, "first")]).await.unwrap();
    let mut reader = store.reader();
    // The first read begins the reader's snapshot.
    assert_eq!(reader.content(1, 1).unwrap().unwrap().body, "first");
    // Committed (so no longer pending) after that snapshot began.
    store.submit(vec![put(1, 2, "second")]).await.unwrap();
    assert_eq!(reader.content(1, 2).unwrap().unwrap().body, "second");
    assert_eq!(reader.content(1, 1).unwrap().unwrap().body, "first");
    assert!(reader.content(1, 3).unwrap().is_none());
    drop(reader);
    // Its transaction ended: the writer and a plain read go on.
    store.submit(vec![Change::DeleteMessage { queue: 1, seq: 1 }]).await.unwrap();
    assert!(store.content(1, 1).unwrap().is_none());
    assert_eq!(store.content(1, 2).unwrap().unwrap().body, "second");
}

#[tokio::test]
async fn the_wal_stays_bounded_under_a_stream_of_commits() {
    // Checkpoints restart the WAL from its start; if none ever reached the WAL's end (as
    // happens to a checkpoint running beside a busy writer) it would grow with every
    // message (here ≈ 40 MiB of bodies).
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.submit(vec![Change::PutQueue(queue(1, "stream"))]).await.unwrap();
    let body = "x".repeat(1024);
    let mut seq = 0;
    for _ in 0..400 {
        let commits: Vec<_> = (0..10)
            .map(|_| {
                let changes = (0..10)
                    .map(|_| {
                        seq += 1;
                        put(1, seq, &body)
                    })
                    .collect();
                store.submit(changes)
            })
            .collect();
        for c in commits {
            c.await.unwrap();
        }
    }
    let wal = std::fs::metadata(dir.path().join("redrive.sqlite-wal")).unwrap().len();
    assert!(wal < 24 << 20, "WAL of {wal} bytes after 40,000 messages");
    drop(store);
    let store = SqliteStore::open(dir.path()).unwrap();
    let loaded = store.load().unwrap();
    assert_eq!(loaded[0].messages.len(), 40_000);
    assert_eq!(store.content(1, 40_000).unwrap().unwrap().body, body);
}

/// Whether the database in `dir` has a table `name`.
fn has_table(dir: &std::path::Path, name: &str) -> bool {
    let conn = rusqlite::Connection::open(dir.join(crate::FILE_NAME)).unwrap();
    conn.query_row("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = ?1)", [name], |r| r.get(0)).unwrap()
}

#[tokio::test]
async fn bodies_stored_before_seqs_were_unique_are_read_deleted_and_purged_until_none_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.submit(vec![Change::PutQueue(queue(1, "a")), Change::PutQueue(queue(2, "b"))]).await.unwrap();
    drop(store);
    // As an earlier version wrote them: bodies keyed by (queue, seq), each queue counting from 1.
    {
        let conn = rusqlite::Connection::open(dir.path().join(crate::FILE_NAME)).unwrap();
        conn.execute_batch(
            "CREATE TABLE bodies (queue INTEGER NOT NULL, seq INTEGER NOT NULL, content BLOB NOT NULL,
             PRIMARY KEY (queue, seq));",
        )
        .unwrap();
        for (q, seq, body) in [(1, 1, "a-one"), (2, 1, "b-one"), (2, 2, "b-two")] {
            let c = crate::encode(content(body).as_ref()).unwrap();
            let st = crate::encode(&state(10, 0)).unwrap();
            conn.execute("INSERT INTO bodies (queue, seq, content) VALUES (?1, ?2, ?3)", rusqlite::params![q, seq, c])
                .unwrap();
            conn.execute("INSERT INTO states (queue, seq, state) VALUES (?1, ?2, ?3)", rusqlite::params![q, seq, st])
                .unwrap();
        }
    }

    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.content(1, 1).unwrap().unwrap().body, "a-one");
    assert_eq!(store.content(2, 1).unwrap().unwrap().body, "b-one");
    let mut reader = store.reader();
    assert_eq!(reader.content(2, 2).unwrap().unwrap().body, "b-two");
    drop(reader);
    // New seqs start above every stored one.
    store.submit(vec![put(1, 3, "a-new")]).await.unwrap();
    store.submit(vec![Change::DeleteMessage { queue: 1, seq: 1 }]).await.unwrap();
    assert!(store.content(1, 1).unwrap().is_none());
    assert_eq!(store.content(2, 1).unwrap().unwrap().body, "b-one", "another queue's seq 1 is untouched");
    store.submit(vec![Change::Purge { queue: 2 }]).await.unwrap();
    assert!(store.content(2, 2).unwrap().is_none());
    assert_eq!(store.content(1, 3).unwrap().unwrap().body, "a-new");
    drop(store);

    // Nothing left in the old table: it is dropped at the next open.
    assert!(has_table(dir.path(), "bodies"));
    let store = SqliteStore::open(dir.path()).unwrap();
    assert!(!has_table(dir.path(), "bodies"));
    let loaded = store.load().unwrap();
    assert_eq!(loaded[0].messages.iter().map(|m| m.0).collect::<Vec<_>>(), [3]);
    assert!(loaded[1].messages.is_empty());
    assert_eq!(store.content(1, 3).unwrap().unwrap().body, "a-new");
}

#[tokio::test]
async fn the_seq_limit_keeps_the_highest_reservation() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.seq_limit().unwrap(), 0);
    store.submit(vec![Change::ReserveSeqs { below: 1 << 20 }]).await.unwrap();
    // Two reservations crossing in flight: the lower one, committed later, changes nothing.
    store.submit(vec![Change::ReserveSeqs { below: 3 << 20 }, Change::ReserveSeqs { below: 2 << 20 }]).await.unwrap();
    assert_eq!(store.seq_limit().unwrap(), 3 << 20);
    drop(store);
    assert_eq!(SqliteStore::open(dir.path()).unwrap().seq_limit().unwrap(), 3 << 20);
}

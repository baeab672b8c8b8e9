//! `SqliteStore` against the store contract (the conformance suite every backend runs), and
//! what is SQLite's own: the directory's lock, the WAL's size, stores of earlier versions.

use engine::store::conformance::{body, content, put, queue, state, Backend};
use engine::store::{Change, Health, Store};
use std::sync::Arc;

use crate::faults::FaultyFiles;
use crate::{OpenError, SqliteStore};

/// A SQLite store in a temporary directory; a restart opens the same directory again. Its
/// files go through SQLite's own VFS, or through a `FaultyFiles` that fails writes (a full
/// disk) or fsyncs on demand.
struct Sqlite {
    dir: tempfile::TempDir,
    files: Option<FaultyFiles>,
    fault: Fault,
}

#[derive(Clone, Copy)]
enum Fault {
    DiskFull,
    FailedFsync,
}

fn sqlite() -> Sqlite {
    Sqlite { dir: tempfile::tempdir().expect("a temporary directory"), files: None, fault: Fault::DiskFull }
}

fn faulty(fault: Fault) -> Sqlite {
    Sqlite { files: Some(FaultyFiles::register().expect("register the VFS")), fault, ..sqlite() }
}

impl Backend for Sqlite {
    fn open(&mut self) -> Arc<dyn Store> {
        let vfs = self.files.as_ref().map(|f| f.name.as_str());
        Arc::new(SqliteStore::open_with_vfs(self.dir.path(), vfs).expect("open the store"))
    }

    fn set_failing(&mut self, failing: bool) {
        let faults = &self.files.as_ref().expect("a store opened through FaultyFiles").faults;
        match self.fault {
            Fault::DiskFull => faults.set_disk_full(failing),
            Fault::FailedFsync => faults.set_fsync_fails(failing),
        }
    }
}

/// Through SQLite's own VFS: what the server runs on.
mod default_vfs {
    engine::store_conformance!(super::sqlite(), without_faults);
}

/// Through the fault-injecting VFS, the whole suite: the VFS keeps the contract too.
mod disk_full {
    engine::store_conformance!(super::faulty(super::Fault::DiskFull));
}

mod failed_fsync {
    engine::store_conformance!(super::faulty(super::Fault::FailedFsync), only_faults);
}

#[tokio::test]
async fn a_closed_store_refuses_changes_and_does_not_reopen_its_database() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.submit(vec![Change::PutQueue(queue(3, "q")), put(3, 1, "kept")]).await.unwrap();
    store.close();
    assert!(store.submit(vec![put(3, 2, "after close")]).await.is_err());
    assert!(store.probe().is_err(), "the directory's lock is released: the database stays closed");
    assert_eq!(store.health(), Health::Healthy, "closed is not failed");
    drop(store);
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.load().unwrap().queues[0].messages, [(1, state(10, 0))]);
}

#[tokio::test]
async fn recovering_a_healthy_store_probes_and_hands_over_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.submit(vec![Change::PutQueue(queue(3, "q")), put(3, 1, "kept")]).await.unwrap();
    let mut seen = 0;
    store
        .recover(&mut |stored| {
            seen = stored.queues[0].messages.len();
            Ok(())
        })
        .unwrap();
    assert_eq!(seen, 1);
    store.submit(vec![put(3, 2, "after")]).await.unwrap();
    assert_eq!(body(&store, 3, 2).as_deref(), Some("after"));
    assert!(store.submissions.pending.lock().is_empty(), "committed bodies leave the pending map");
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
    assert!(again.load().unwrap().queues.is_empty());
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
    let loaded = store.load().unwrap().queues;
    assert_eq!(loaded[0].messages.len(), 40_000);
    assert_eq!(engine::store::conformance::body(&store, 1, 40_000).as_deref(), Some(body.as_str()));
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
    assert_eq!(body(&store, 1, 1).as_deref(), Some("a-one"));
    assert_eq!(body(&store, 2, 1).as_deref(), Some("b-one"));
    // Several in one read transaction.
    let both = store.contents(2, &[1, 2]).unwrap();
    assert_eq!(both, [Some(content("b-one")), Some(content("b-two"))]);
    // New seqs start above every stored one.
    store.submit(vec![put(1, 3, "a-new")]).await.unwrap();
    store.submit(vec![Change::DeleteMessage { queue: 1, seq: 1 }]).await.unwrap();
    assert_eq!(body(&store, 1, 1), None);
    assert_eq!(body(&store, 2, 1).as_deref(), Some("b-one"), "another queue's seq 1 is untouched");
    store.submit(vec![Change::Purge { queue: 2 }]).await.unwrap();
    assert_eq!(body(&store, 2, 2), None);
    assert_eq!(body(&store, 1, 3).as_deref(), Some("a-new"));
    drop(store);

    // Nothing left in the old table: it is dropped at the next open.
    assert!(has_table(dir.path(), "bodies"));
    let store = SqliteStore::open(dir.path()).unwrap();
    assert!(!has_table(dir.path(), "bodies"));
    let loaded = store.load().unwrap().queues;
    assert_eq!(loaded[0].messages.iter().map(|m| m.0).collect::<Vec<_>>(), [3]);
    assert!(loaded[1].messages.is_empty());
    assert_eq!(body(&store, 1, 3).as_deref(), Some("a-new"));
}

/// A store as format 1 left it: blobs without the fields safe redrive added, no `format` mark.
fn write_format_1(dir: &std::path::Path) {
    use crate::format::v1;
    let store = SqliteStore::open(dir).unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(dir.join(crate::FILE_NAME)).unwrap();
    let c = content("old body");
    let old = v1::Content {
        id: c.id.clone(),
        body: c.body.clone(),
        md5_of_body: c.md5_of_body.clone(),
        attributes: c.attributes.clone(),
        md5_of_attributes: None,
        system_attributes: c.system_attributes.clone(),
        md5_of_system_attributes: None,
        sender_id: c.sender_id.clone(),
        sent_at: c.sent_at,
        dead_letter_source_arn: Some("arn:aws:sqs:us-east-1:000000000000:src".into()),
        group_id: None,
        deduplication_id: None,
    };
    let task = v1::TaskRecord {
        id: "t-old".into(),
        source_arn: "arn:aws:sqs:us-east-1:000000000000:dlq".into(),
        destination_arn: None,
        max_per_second: Some(5),
        status: engine::TaskStatus::Running,
        moved: 2,
        to_move: 9,
        started_at: 1_000,
        failure_reason: None,
        boundary_seq: 40,
    };
    conn.execute_batch("DELETE FROM meta WHERE key = 'format'").unwrap();
    conn.execute(
        "INSERT INTO queues (uid, record) VALUES (1, ?1)",
        [crate::encode(&engine::store::conformance::queue(1, "dlq")).unwrap()],
    )
    .unwrap();
    conn.execute("INSERT INTO states (queue, seq, state) VALUES (1, 7, ?1)", [crate::encode(&state(10, 0)).unwrap()])
        .unwrap();
    conn.execute("INSERT INTO contents (seq, content) VALUES (7, ?1)", [crate::encode(&old).unwrap()]).unwrap();
    conn.execute(
        "INSERT INTO tasks (started_at, id, record) VALUES (1000, 't-old', ?1)",
        [crate::encode(&task).unwrap()],
    )
    .unwrap();
}

#[tokio::test]
async fn a_store_of_format_1_is_upgraded_at_open_and_its_messages_and_tasks_read_back() {
    let dir = tempfile::tempdir().unwrap();
    write_format_1(dir.path());

    let store = SqliteStore::open(dir.path()).unwrap();
    let got = store.contents(1, &[7]).unwrap().remove(0).expect("the message");
    assert_eq!(got.body, "old body");
    assert_eq!(got.dead_letter_source_arn.as_deref(), Some("arn:aws:sqs:us-east-1:000000000000:src"));
    assert_eq!((got.dead_lettered_at, got.redrives.clone()), (None, None), "unknown before format 2");
    let tasks = store.load().unwrap().tasks;
    assert_eq!(tasks.len(), 1);
    let t = &tasks[0];
    assert_eq!((t.id.as_str(), t.moved, t.to_move, t.boundary_seq, t.max_per_second), ("t-old", 2, 9, 40, Some(5)));
    assert_eq!((t.options.clone(), t.progress.clone()), Default::default(), "a plain task, as it was");
    drop(store);

    // Upgraded once: the next open reads the current format as it is.
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.contents(1, &[7]).unwrap()[0].as_ref().map(|c| c.body.clone()).as_deref(), Some("old body"));
    assert_eq!(store.load().unwrap().tasks[0].id, "t-old");
}

/// Receive attempts got a table of their own after format 3: a store from before has none, and
/// opens with its messages, no attempt, and a table for them from then on.
#[tokio::test]
async fn a_store_from_before_receive_attempts_were_stored_opens_without_any_and_keeps_them_from_then_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.submit(vec![Change::PutQueue(queue(1, "f.fifo")), put(1, 7, "kept")]).await.unwrap();
    store.close();
    drop(store);
    let conn = rusqlite::Connection::open(dir.path().join(crate::FILE_NAME)).unwrap();
    conn.execute_batch("DROP TABLE attempts").unwrap();
    drop(conn);
    assert!(!has_table(dir.path(), "attempts"));

    let store = SqliteStore::open(dir.path()).unwrap();
    let stored = store.load().unwrap();
    assert_eq!(stored.queues[0].messages, [(7, state(10, 0))]);
    assert!(stored.queues[0].attempts.is_empty());
    let record = engine::store::conformance::attempt("a", &[(7, 1)]);
    store.submit(vec![Change::PutAttempt { queue: 1, record: record.clone() }]).await.unwrap();
    assert_eq!(store.load().unwrap().queues[0].attempts, [record]);
}

#[test]
fn a_store_written_by_a_newer_version_is_refused_not_misread() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join(crate::FILE_NAME)).unwrap();
    conn.execute_batch("UPDATE meta SET value = 99 WHERE key = 'format'").unwrap();
    drop(conn);
    let refused = SqliteStore::open(dir.path()).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(refused.contains("written by a newer redrive (format 99; this version reads up to 3)"), "{refused}");
}

#[test]
fn a_truncated_or_foreign_database_file_is_refused_and_left_as_it_was() {
    // Truncated to nothing: refused, not opened as a new, empty store.
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("redrive.sqlite"), b"").expect("write");
    let refused = SqliteStore::open(dir.path()).err().expect("a zero-byte database is refused").to_string();
    assert!(refused.contains("redrive.sqlite is empty (0 bytes)"), "{refused}");
    assert_eq!(std::fs::metadata(dir.path().join("redrive.sqlite")).expect("still there").len(), 0);

    // Not a database at all: SQLite's own refusal, with the directory named.
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("redrive.sqlite"), vec![0x5a; 8192]).expect("write");
    let refused = SqliteStore::open(dir.path()).err().expect("noise is refused").to_string();
    assert!(refused.contains("file is not a database"), "{refused}");

    // Another program's database: refused, and none of the store's tables added to it.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("redrive.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).expect("create");
        conn.execute_batch("CREATE TABLE users (id INTEGER); INSERT INTO users VALUES (1);").expect("fill");
    }
    let refused = SqliteStore::open(dir.path()).err().expect("a foreign database is refused").to_string();
    assert!(refused.contains("not a redrive store") && refused.contains("users"), "{refused}");
    let conn = rusqlite::Connection::open(&path).expect("reopen");
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(tables, ["users"]);

    // A store that is new (its first pages still in the WAL) or empty opens, as before.
    let dir = tempfile::tempdir().expect("a temporary directory");
    SqliteStore::open(dir.path()).expect("a new store opens").close();
    SqliteStore::open(dir.path()).expect("and opens again").close();
}

/// Bytes of the database and its WAL in `dir`: what the store takes on disk.
fn store_bytes(dir: &std::path::Path) -> u64 {
    let len = |name: &str| std::fs::metadata(dir.join(name)).map_or(0, |m| m.len());
    len(crate::FILE_NAME) + len(&format!("{}-wal", crate::FILE_NAME))
}

/// `n` messages of `body` in queue 1 from seq `first`, 100 to a commit.
async fn fill(store: &SqliteStore, first: u64, n: u64, body: &str) {
    for start in (first..first + n).step_by(100) {
        let changes = (start..(start + 100).min(first + n)).map(|seq| put(1, seq, body)).collect();
        store.submit(changes).await.unwrap();
    }
}

/// Delete the messages of queue 1 in `seqs`, 100 to a commit.
async fn delete(store: &SqliteStore, seqs: impl Iterator<Item = u64>) {
    let seqs: Vec<u64> = seqs.collect();
    for chunk in seqs.chunks(100) {
        store.submit(chunk.iter().map(|&seq| Change::DeleteMessage { queue: 1, seq }).collect()).await.unwrap();
    }
}

/// The value of `PRAGMA name` of the database in `dir`, opened afresh (after the store closed).
fn pragma(dir: &std::path::Path, name: &str) -> i64 {
    let conn = rusqlite::Connection::open(dir.join(crate::FILE_NAME)).unwrap();
    conn.pragma_query_value(None, name, |r| r.get(0)).unwrap()
}

#[tokio::test]
async fn a_drained_store_gives_its_disk_space_back_and_keeps_what_was_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.submit(vec![Change::PutQueue(queue(1, "q"))]).await.unwrap();
    fill(&store, 1, 10, "kept").await;
    store.housekeeping_pass().await.unwrap();
    let before = store_bytes(dir.path());
    let body = "b".repeat(4 * 1024);
    fill(&store, 11, 10_000, &body).await;
    let full = store_bytes(dir.path());
    assert!(full > before + (40 << 20), "{full} bytes after 40 MiB of bodies, {before} before");
    delete(&store, 11..10_011).await;
    store.housekeeping_pass().await.unwrap();
    let after = store_bytes(dir.path());
    assert!(after <= before + before / 10 + (64 << 10), "{after} bytes once drained, {before} before the fill");
    let loaded = store.load().unwrap().queues;
    assert_eq!(loaded[0].messages.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(), (1..=10).collect::<Vec<_>>());
    assert_eq!(body_of(&store, 10).as_deref(), Some("kept"));
    drop(store);
    assert_eq!(pragma(dir.path(), "auto_vacuum"), 2, "a new store is made with incremental auto-vacuum");
}

/// Housekeeping is the store's own business, paced by real time (a look at the freelist once
/// a second at most), so this test waits in real time: a few seconds at most.
#[tokio::test]
#[allow(clippy::disallowed_methods)]
async fn a_store_left_idle_after_a_drain_gives_its_space_back_unasked() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.submit(vec![Change::PutQueue(queue(1, "q"))]).await.unwrap();
    store.housekeeping_pass().await.unwrap();
    let before = store_bytes(dir.path());
    fill(&store, 1, 5_000, &"b".repeat(4 * 1024)).await;
    // The deletes come in many commits, so the writer's looks in between are paced out and the
    // last commit's look is most likely one it must come back for.
    delete(&store, 1..5_001).await;
    let started = std::time::Instant::now();
    let mut after = store_bytes(dir.path());
    while after > before + before / 10 + (64 << 10) && started.elapsed() < std::time::Duration::from_secs(20) {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        after = store_bytes(dir.path());
    }
    assert!(after <= before + before / 10 + (64 << 10), "{after} bytes 20 s after the drain, {before} before the fill");
}

fn body_of(store: &SqliteStore, seq: u64) -> Option<String> {
    engine::store::conformance::body(store, 1, seq)
}

#[tokio::test]
async fn a_crash_in_the_middle_of_returning_free_space_loses_no_message() {
    let files = FaultyFiles::register().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_with_vfs(dir.path(), Some(&files.name)).unwrap();
    store.pause_housekeeping(true);
    store.submit(vec![Change::PutQueue(queue(1, "q"))]).await.unwrap();
    let body = "b".repeat(4 * 1024);
    fill(&store, 1, 4_000, &body).await;
    let kept = |seq: &u64| seq.is_multiple_of(10);
    delete(&store, (1..=4_000).filter(|seq| !kept(seq))).await;
    // A few steps of the pass commit (each one fsync), then every fsync fails: the pass ends
    // there, part-way, and the files are taken as they are — a crash after the last good sync.
    files.faults.set_fsync_fails_after(3);
    store.housekeeping_pass().await.unwrap();
    let image = tempfile::tempdir().unwrap();
    for name in [crate::FILE_NAME.to_string(), format!("{}-wal", crate::FILE_NAME)] {
        std::fs::copy(dir.path().join(&name), image.path().join(&name)).unwrap();
    }
    files.faults.set_fsync_fails(false);

    let recovered = SqliteStore::open(image.path()).unwrap();
    let seqs: Vec<u64> = recovered.load().unwrap().queues[0].messages.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, (1..=4_000).filter(kept).collect::<Vec<_>>());
    for seq in seqs {
        assert_eq!(body_of(&recovered, seq).as_deref(), Some(body.as_str()), "message {seq}");
    }
    drop(recovered);
    let conn = rusqlite::Connection::open(image.path().join(crate::FILE_NAME)).unwrap();
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    drop(conn);
    let free = pragma(image.path(), "freelist_count");
    assert!(free > 1_000, "the crash came part-way through the pass ({free} pages still free)");

    // The store itself goes on: the next pass finishes the work.
    assert_eq!(store.health(), Health::Healthy, "housekeeping that failed changes no record");
    store.housekeeping_pass().await.unwrap();
    assert_eq!(body_of(&store, 4_000).as_deref(), Some(body.as_str()));
    drop(store);
    assert_eq!(pragma(dir.path(), "freelist_count"), 0);
}

#[tokio::test]
async fn the_body_check_names_each_damaged_or_missing_body_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.submit(vec![Change::PutQueue(queue(1, "orders"))]).await.unwrap();
    fill(&store, 1, 2_500, "fine").await;
    drop(store);
    let conn = rusqlite::Connection::open(dir.path().join(crate::FILE_NAME)).unwrap();
    conn.execute("UPDATE contents SET content = x'ffffffffff' WHERE seq = 7", []).unwrap();
    conn.execute("DELETE FROM contents WHERE seq = 2001", []).unwrap();
    drop(conn);

    let store = SqliteStore::open(dir.path()).unwrap();
    let check = store.check_bodies().unwrap();
    assert_eq!((check.checked, check.damaged, check.missing), (2_500, 1, 1));
    let named: Vec<_> = check.problems.iter().map(|p| (p.queue.as_str(), p.seq, p.what.split(' ').next())).collect();
    assert_eq!(named, [("orders", 7, Some("damaged")), ("orders", 2001, Some("missing"))]);
    assert_eq!(body_of(&store, 8).as_deref(), Some("fine"), "the check leaves the others readable");
}

#[tokio::test]
async fn a_small_store_made_without_auto_vacuum_adopts_it_at_open_with_its_messages() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.submit(vec![Change::PutQueue(queue(1, "q"))]).await.unwrap();
    fill(&store, 1, 50, "old").await;
    drop(store);
    // As an earlier version made it.
    let conn = rusqlite::Connection::open(dir.path().join(crate::FILE_NAME)).unwrap();
    conn.execute_batch("PRAGMA auto_vacuum=NONE; VACUUM;").unwrap();
    drop(conn);
    assert_eq!(pragma(dir.path(), "auto_vacuum"), 0);

    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.load().unwrap().queues[0].messages.len(), 50);
    assert_eq!(body_of(&store, 50).as_deref(), Some("old"));
    drop(store);
    assert_eq!(pragma(dir.path(), "auto_vacuum"), 2);
}

/// A queue large enough for the restore's scan to start readers ahead of it comes back whole:
/// every message once, in seq order, with its own state — across the seqs deleted among them
/// and the queue after it.
#[tokio::test]
async fn a_large_queue_read_with_readers_ahead_loads_every_message_once_in_order() {
    let mut backend = sqlite();
    let store = backend.open();
    let n = 3 * crate::read_ahead::START_AFTER as u64;
    let kept = |seq: u64| !seq.is_multiple_of(7) && !(60_000..62_000).contains(&seq);
    store.submit(vec![Change::PutQueue(queue(1, "big")), Change::PutQueue(queue(2, "after"))]).await.unwrap();
    for start in (1..=n).step_by(10_000) {
        let changes = (start..(start + 10_000).min(n + 1))
            .filter(|&seq| kept(seq))
            .map(|seq| Change::PutMessage { queue: 1, seq, content: content("b"), state: state(seq, (seq % 5) as u32) })
            .collect();
        store.submit(changes).await.unwrap();
    }
    store.submit(vec![put(2, n + 1, "x"), put(2, n + 2, "y")]).await.unwrap();
    let store = backend.reopen(store);

    let before = crate::read_ahead::STARTED.load(std::sync::atomic::Ordering::Relaxed);
    let stored = store.load().unwrap();
    assert!(crate::read_ahead::STARTED.load(std::sync::atomic::Ordering::Relaxed) > before, "a read-ahead started");
    let big = &stored.queues[0].messages;
    let expected: Vec<u64> = (1..=n).filter(|&seq| kept(seq)).collect();
    assert_eq!(big.iter().map(|&(seq, _)| seq).collect::<Vec<_>>(), expected);
    assert!(big.iter().all(|(seq, s)| s.visible_at == *seq && s.receive_count == (seq % 5) as u32));
    assert_eq!(stored.queues[1].messages.iter().map(|&(seq, _)| seq).collect::<Vec<_>>(), [n + 1, n + 2]);
    store.close();
}

/// A pass gives way to a stream of commits (a step in every pause between them made each
/// commit wait for one), and finishes once the stream stops. Real time, as above.
#[tokio::test]
#[allow(clippy::disallowed_methods)]
async fn a_pass_gives_way_to_a_stream_of_commits_and_finishes_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.submit(vec![Change::PutQueue(queue(1, "q"))]).await.unwrap();
    fill(&store, 1, 5_000, &"b".repeat(4 * 1024)).await;
    delete(&store, 1..5_001).await;
    let free = || pragma_live(&store, "freelist_count");
    let at_start = free();
    assert!(at_start > 4_000, "{at_start} pages free after the drain");
    // Back-to-back commits for 1.5 s: the pauses between them are far under 20 ms.
    let started = std::time::Instant::now();
    let mut seq = 10_000;
    while started.elapsed() < std::time::Duration::from_millis(1_500) {
        store.submit(vec![put(1, seq, "x")]).await.unwrap();
        seq += 1;
    }
    let during = at_start - free();
    // The pass's first step and one a second (256 pages each), with slack for a loaded machine
    // that stalls more than 20 ms between two commits now and then; without the wait for a
    // pause, every page free went back during the stream.
    assert!(during <= 8 * 256, "{during} pages returned during the stream of commits");
    store.housekeeping_pass().await.unwrap();
    assert_eq!(free(), 0, "the pass finished once the commits stopped");
}

/// `PRAGMA name` read through the store's own reader.
fn pragma_live(store: &SqliteStore, name: &str) -> i64 {
    let guard = store.reader_conn();
    guard.as_ref().unwrap().pragma_query_value(None, name, |r| r.get(0)).unwrap()
}

//! `PgStore` against the store contract, and what is its own: migrations, the lease, fencing.
//! They run against the PostgreSQL that `REDRIVE_TEST_POSTGRES` names (scripts/test starts a
//! throwaway one); without it they are skipped, with a line saying so. Each store gets a schema
//! of its own, so tests run side by side in one database.

use std::sync::Arc;
use std::time::Duration;

use engine::store::conformance::{body, content, put, queue, Backend};
use engine::store::{Change, Health, Store};

use super::{Lease, PgStore};

/// The test database's URL, or `None` (and a line on stderr) when none is configured.
fn database() -> Option<String> {
    match std::env::var("REDRIVE_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipped: set REDRIVE_TEST_POSTGRES to a PostgreSQL URL to run the PostgreSQL store's tests");
            None
        }
    }
}

fn fresh_schema() -> String {
    format!("t_{}", uuid::Uuid::new_v4().simple())
}

/// A store in a schema of its own; a restart opens the same schema again. Commits fail the way a
/// node's do once another node has taken the lease: the lease's epoch moves away (and back).
struct Postgres {
    url: String,
    schema: String,
}

fn postgres() -> Option<Postgres> {
    database().map(|url| Postgres { url, schema: fresh_schema() })
}

impl Postgres {
    fn sql(&self, sql: &str) {
        let sql = sql.replace("{s}", &self.schema);
        super::off_runtime(|| super::connect(&self.url).expect("connect").batch_execute(&sql)).expect("run SQL");
    }
}

impl Backend for Postgres {
    fn open(&mut self) -> Arc<dyn Store> {
        Arc::new(PgStore::open_in(&self.url, &self.schema, 0).expect("open the store"))
    }

    fn set_failing(&mut self, failing: bool) {
        let shift = if failing { "+ 1000" } else { "- 1000" };
        self.sql(&format!("UPDATE {{s}}.lease SET epoch = epoch {shift}"));
    }
}

mod conformance {
    engine::store_conformance!({
        let Some(backend) = super::postgres() else { return };
        backend
    });
}

#[tokio::test]
async fn a_store_opened_twice_migrates_once_and_a_newer_schema_is_refused() {
    let Some(mut pg) = postgres() else { return };
    let store = pg.open();
    store.close();
    let again = pg.open();
    again.close();
    pg.sql("INSERT INTO {s}.schema_migrations (version) VALUES (999)");
    let refused = PgStore::open_in(&pg.url, &pg.schema, 0).err().expect("a newer schema is refused");
    assert!(refused.0.contains("newer redrive"), "{refused}");
}

/// A schema migrated before receive attempts were stored (step 1 only) gets their table at
/// open, and its messages come back with no attempt.
#[tokio::test]
async fn a_schema_from_before_receive_attempts_were_stored_is_migrated_and_keeps_its_messages() {
    let Some(mut pg) = postgres() else { return };
    let store = pg.open();
    store.submit(vec![Change::PutQueue(queue(1, "f.fifo")), put(1, 7, "kept")]).await.expect("commit");
    store.close();
    drop(store);
    pg.sql("DROP TABLE {s}.attempts; DELETE FROM {s}.schema_migrations WHERE version = 2;");

    let store = pg.open();
    let stored = store.load().expect("load");
    assert_eq!(stored.queues[0].messages.iter().map(|&(seq, _)| seq).collect::<Vec<_>>(), [7]);
    assert!(stored.queues[0].attempts.is_empty());
    assert_eq!(body(&*store, 1, 7).as_deref(), Some("kept"));
    let record = engine::store::conformance::attempt("a", &[(7, 1)]);
    store.submit(vec![Change::PutAttempt { queue: 1, record: record.clone() }]).await.expect("commit");
    assert_eq!(store.load().expect("load").queues[0].attempts, [record]);
    store.close();
}

#[tokio::test]
async fn a_taken_lease_fences_the_old_holders_commits_and_its_recovery() {
    let Some(pg) = postgres() else { return };
    PgStore::migrate_in(&pg.url, &pg.schema).expect("migrate");
    let mut lease = Lease::connect(&pg.url, &pg.schema).expect("lease");
    let ttl = Duration::from_secs(5);
    let first = super::off_runtime(|| lease.take("node-a", "http://a", ttl)).expect("take").expect("free at first");
    let old = PgStore::open_in(&pg.url, &pg.schema, first).expect("open");
    old.submit(vec![Change::PutQueue(queue(1, "q")), put(1, 1, "kept")]).await.expect("the holder commits");

    // Another node may not take a lease that has not expired; once released, it may.
    assert_eq!(super::off_runtime(|| lease.take("node-b", "http://b", ttl)).expect("take"), None);
    super::off_runtime(|| lease.release("node-a", first)).expect("release");
    let second = super::off_runtime(|| lease.take("node-b", "http://b", ttl)).expect("take").expect("released");
    assert_eq!(second, first + 1);
    let holder = super::off_runtime(|| lease.read()).expect("read");
    assert_eq!(
        (holder.node.as_deref(), holder.url.as_deref(), holder.expired),
        (Some("node-b"), Some("http://b"), false)
    );

    let refused = old.submit(vec![put(1, 2, "lost")]).await.expect_err("the old holder is fenced");
    assert!(refused.0.contains("moved to another node"), "{refused}");
    assert!(old.is_fenced());
    assert_eq!(old.health(), Health::Failed);
    assert!(old.recover(&mut |_| Ok(())).is_err(), "a fenced store does not recover");
    assert!(!super::off_runtime(|| lease.renew("node-a", first, ttl)).expect("renew"), "the old holder cannot renew");
    old.close();

    let new: Arc<dyn Store> = Arc::new(PgStore::open_in(&pg.url, &pg.schema, second).expect("open"));
    assert_eq!(body(new.as_ref(), 1, 1).as_deref(), Some("kept"));
    assert_eq!(body(new.as_ref(), 1, 2), None, "nothing the fenced node submitted was kept");
    assert!(super::off_runtime(|| lease.renew("node-b", second, ttl)).expect("renew"));
    new.close();
    // A client's drop ends its runtime: not on this one's thread.
    super::off_runtime(move || drop(lease));
}

#[tokio::test]
async fn a_group_that_puts_changes_and_deletes_the_same_messages_keeps_only_the_net_effect() {
    let Some(mut pg) = postgres() else { return };
    let store = pg.open();
    let (q, mut state) = (7, engine::store::conformance::state(1, 0));
    // One submission: folded into one write per kind.
    let mut changes = vec![Change::PutQueue(queue(q, "q"))];
    for seq in 1..=100 {
        changes.push(Change::PutMessage { queue: q, seq, content: content(&format!("m{seq}")), state });
    }
    state.receive_count = 3;
    for seq in 1..=50 {
        changes.push(Change::SetState { queue: q, seq, state });
    }
    for seq in 41..=60 {
        changes.push(Change::DeleteMessage { queue: q, seq });
    }
    store.submit(changes).await.expect("commit");
    let store = pg.reopen(store);
    let stored = store.load().expect("load");
    let messages = &stored.queues[0].messages;
    assert_eq!(messages.len(), 80);
    assert!(messages.iter().all(|(seq, s)| (*seq <= 40) == (s.receive_count == 3)));
    assert!(messages.iter().all(|(seq, _)| !(41..=60).contains(seq)));
    assert_eq!(body(store.as_ref(), q, 100).as_deref(), Some("m100"));
    assert_eq!(body(store.as_ref(), q, 50), None);
    store.close();
}

#[tokio::test]
async fn a_deduplication_key_may_hold_any_character() {
    let Some(mut pg) = postgres() else { return };
    let store = pg.open();
    // A message group's scope joins the group and the id with a NUL.
    let key = "group-1\u{0}order-42 ü".to_string();
    let put = Change::PutDedup { queue: 3, key: key.clone(), message_id: "m".into(), seq: 9, expires_at: 99 };
    store.submit(vec![Change::PutQueue(queue(3, "q.fifo")), put]).await.expect("commit");
    let store = pg.reopen(store);
    let stored = store.load().expect("load");
    assert_eq!(stored.queues[0].dedup.iter().map(|d| d.key.as_str()).collect::<Vec<_>>(), [key.as_str()]);
    store.submit(vec![Change::DeleteDedup { queue: 3, key }]).await.expect("commit");
    let store = pg.reopen(store);
    assert!(store.load().expect("load").queues[0].dedup.is_empty());
    store.close();
}

#[tokio::test]
async fn a_damaged_body_reads_as_missing_and_the_others_are_read() {
    let Some(mut pg) = postgres() else { return };
    let store = pg.open();
    store.submit(vec![Change::PutQueue(queue(1, "q")), put(1, 1, "one"), put(1, 2, "two")]).await.expect("commit");
    pg.sql("UPDATE {s}.contents SET content = '\\xffffffffff'::bytea WHERE seq = 1");
    let found = store.contents(1, &[1, 2]).expect("a damaged row is no error");
    assert!(found[0].is_none());
    assert_eq!(found[1].as_ref().map(|c| c.body.as_str()), Some("two"));
    store.close();
}

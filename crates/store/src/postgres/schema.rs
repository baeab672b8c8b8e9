//! The PostgreSQL store's tables, as numbered migrations applied at open.
//!
//! Each step runs once, recorded in `redrive.schema_migrations`; all pending steps run in one
//! transaction holding an advisory lock, so nodes that start together apply each step once and
//! none reads a half-made schema. A database migrated by a newer redrive is refused rather than
//! misread. The blobs are the SQLite store's (postcard, `format::CURRENT`), so the engine's
//! types have one encoding; a future change of their layout is a migration here.

use postgres::Client;

use super::err;
use crate::StoreError;

/// The advisory lock key migrations hold (any constant; "redrive" in ASCII).
const MIGRATION_LOCK: i64 = 0x0072_6564_7269_7665;

/// The steps, in order; step n is `MIGRATIONS[n - 1]`. Never edit a released step: add one.
const MIGRATIONS: &[&str] = &[
    // 1: the record (as SQLite's store keeps it) and the lease.
    "CREATE TABLE queues (uid bigint PRIMARY KEY, record bytea NOT NULL);
     -- Keyed by the seq alone (unique across queues), so that a group's states are found by
     -- `seq = ANY(…)` on the key; a queue's, for loading and purging, by the second index.
     CREATE TABLE states (seq bigint PRIMARY KEY, queue bigint NOT NULL, state bytea NOT NULL);
     CREATE INDEX states_by_queue ON states (queue, seq);
     CREATE TABLE contents (seq bigint PRIMARY KEY, content bytea NOT NULL);
     CREATE TABLE tasks (started_at bigint NOT NULL, id text NOT NULL, record bytea NOT NULL,
                         PRIMARY KEY (started_at, id));
     -- A key may hold any character, NUL included (a group's scope joins group and id with
     -- one), which PostgreSQL's text cannot: its UTF-8 bytes.
     CREATE TABLE dedup (queue bigint NOT NULL, key bytea NOT NULL, record bytea NOT NULL,
                         PRIMARY KEY (queue, key));
     CREATE TABLE meta (key text PRIMARY KEY, value bigint NOT NULL);
     CREATE TABLE tombstones (name text PRIMARY KEY, deleted_at bigint NOT NULL);
     INSERT INTO meta (key, value) VALUES ('format', 3);
     -- Who may write the record (docs/multi-node.md): one row. `token` authenticates requests
     -- nodes forward to each other; only those who can read this database know it (244 random
     -- bits: gen_random_uuid draws from a cryptographic source).
     CREATE TABLE lease (id int PRIMARY KEY CHECK (id = 1), holder text, url text,
                         epoch bigint NOT NULL, expires_at timestamptz NOT NULL, token text NOT NULL);
     -- Every commit's first statement: the lease's row locked FOR KEY SHARE (a takeover's
     -- FOR UPDATE waits for the commit, and the commits after it see the new epoch), and the
     -- transaction failed unless the epoch is the committing node's.
     CREATE FUNCTION fence(mine bigint) RETURNS bigint LANGUAGE plpgsql SET search_path FROM CURRENT AS $fence$
     DECLARE held bigint;
     BEGIN
         SELECT epoch INTO held FROM lease WHERE id = 1 FOR KEY SHARE;
         IF held IS DISTINCT FROM mine THEN
             RAISE EXCEPTION 'this node''s authority over the record moved to another node (its epoch %, the lease''s %)',
                 mine, held USING ERRCODE = 'RD001';
         END IF;
         RETURN held;
     END $fence$;
     INSERT INTO lease (id, holder, url, epoch, expires_at, token)
         VALUES (1, NULL, NULL, 0, now(),
                 replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));",
    // 2: FIFO receives made under a ReceiveRequestAttemptId, replayed to retries across a
    // restart or a takeover. An id is printable ASCII, so text holds it.
    "CREATE TABLE attempts (queue bigint NOT NULL, id text NOT NULL, record bytea NOT NULL,
                           PRIMARY KEY (queue, id));",
];

/// Create the schema `schema` if needed and apply the migrations it has not had.
pub(crate) fn migrate(client: &mut Client, schema: &str) -> Result<(), StoreError> {
    let mut tx = client.transaction().map_err(err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).map_err(err)?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         SET LOCAL search_path TO {schema};
         CREATE TABLE IF NOT EXISTS schema_migrations (
             version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());"
    ))
    .map_err(err)?;
    let applied: i32 =
        tx.query_one("SELECT coalesce(max(version), 0) FROM schema_migrations", &[]).map_err(err)?.get(0);
    let known = MIGRATIONS.len() as i32;
    if applied > known {
        return Err(StoreError(format!(
            "the database was migrated by a newer redrive (schema version {applied}; this version knows up to {known})"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
        let version = version as i32 + 1;
        tx.batch_execute(sql).map_err(|e| StoreError(format!("migration {version}: {e}")))?;
        tx.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[&version]).map_err(err)?;
        tracing::info!(version, schema, "applied a migration of the PostgreSQL store");
    }
    let format: i64 = tx.query_one("SELECT value FROM meta WHERE key = 'format'", &[]).map_err(err)?.get(0);
    if format != crate::format::CURRENT {
        return Err(StoreError(format!(
            "the database's blobs are format {format}; this version writes format {}",
            crate::format::CURRENT
        )));
    }
    tx.commit().map_err(err)
}

/// Whether `name` may be used as a schema name unquoted (the store builds its SQL with it).
pub(crate) fn valid_schema(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

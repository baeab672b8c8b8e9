//! The lease: which node may write the record, and its fencing epoch (docs/multi-node.md).
//!
//! One row. Its `expires_at` is in the database's clock, so nodes' clocks never have to
//! agree. Taking it locks the row `FOR UPDATE`, which waits for any commit in progress (every
//! commit holds it `FOR KEY SHARE`) — so once a takeover has committed, the old holder's
//! commits see the new epoch and fail. Renewing is a plain `UPDATE` (`FOR NO KEY UPDATE`),
//! which never waits for a commit.

use std::time::Duration;

use postgres::Client;

use super::{err, off_runtime};
use crate::StoreError;

/// The lease row as a node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub node: Option<String>,
    /// Where the holder takes forwarded requests.
    pub url: Option<String>,
    pub epoch: i64,
    /// Whether `expires_at` has passed, by the database's clock.
    pub expired: bool,
    /// The secret that authenticates forwarded requests.
    pub token: String,
}

/// The lease of one schema, through a connection of its own. Its calls block: make them from a
/// thread of your own (the server's lease keeper), not from an async task.
pub struct Lease {
    client: Client,
    schema: String,
}

impl Lease {
    /// Connect to `url` and use the lease in `schema` (migrated already by `PgStore::open`).
    pub fn connect(url: &str, schema: &str) -> Result<Lease, StoreError> {
        let client = off_runtime(|| {
            let mut client = super::connect(url)?;
            // A renewal need not wait for an fsync: if PostgreSQL loses it in a crash, the lease
            // looks older than it was — another node may take it sooner, and the fence on every
            // commit still refuses this node's writes. Visibility to other sessions is at once.
            client.batch_execute("SET synchronous_commit = off").map_err(err)?;
            Ok::<_, StoreError>(client)
        })?;
        Ok(Lease { client, schema: schema.to_string() })
    }

    /// The address this connection comes from as the database sees it (`None` over a socket):
    /// an address other nodes can likely reach this one at.
    pub fn client_addr(&mut self) -> Result<Option<std::net::IpAddr>, StoreError> {
        let row = self.client.query_one("SELECT host(inet_client_addr())", &[]).map_err(err)?;
        Ok(row.get::<_, Option<String>>(0).and_then(|s| s.parse().ok()))
    }

    pub fn read(&mut self) -> Result<Holder, StoreError> {
        let sql =
            format!("SELECT holder, url, epoch, expires_at <= now(), token FROM {}.lease WHERE id = 1", self.schema);
        let row = self.client.query_one(&sql, &[]).map_err(err)?;
        Ok(Holder { node: row.get(0), url: row.get(1), epoch: row.get(2), expired: row.get(3), token: row.get(4) })
    }

    /// Take the lease for `node` if it is free (expired, released) or already `node`'s: the new
    /// epoch, or `None` if another node holds it.
    pub fn take(&mut self, node: &str, url: &str, ttl: Duration) -> Result<Option<i64>, StoreError> {
        let mut tx = self.client.transaction().map_err(err)?;
        let row = tx
            .query_one(
                &format!("SELECT holder, expires_at <= now() FROM {}.lease WHERE id = 1 FOR UPDATE", self.schema),
                &[],
            )
            .map_err(err)?;
        let (holder, expired): (Option<String>, bool) = (row.get(0), row.get(1));
        if !expired && holder.as_deref() != Some(node) {
            return Ok(None);
        }
        let row = tx
            .query_one(
                &format!(
                    "UPDATE {}.lease SET holder = $1, url = $2, epoch = epoch + 1, \
                     expires_at = now() + make_interval(secs => $3) WHERE id = 1 RETURNING epoch",
                    self.schema
                ),
                &[&node, &url, &ttl.as_secs_f64()],
            )
            .map_err(err)?;
        let epoch: i64 = row.get(0);
        tx.commit().map_err(err)?;
        Ok(Some(epoch))
    }

    /// Extend `node`'s lease of `epoch` by `ttl` from now; `false` if it is no longer theirs.
    pub fn renew(&mut self, node: &str, epoch: i64, ttl: Duration) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE {}.lease SET expires_at = now() + make_interval(secs => $3) \
             WHERE id = 1 AND holder = $1 AND epoch = $2",
            self.schema
        );
        Ok(self.client.execute(&sql, &[&node, &epoch, &ttl.as_secs_f64()]).map_err(err)? == 1)
    }

    /// Give up `node`'s lease of `epoch` at once, so another node need not wait for it to expire.
    pub fn release(&mut self, node: &str, epoch: i64) -> Result<(), StoreError> {
        let sql =
            format!("UPDATE {}.lease SET expires_at = now() WHERE id = 1 AND holder = $1 AND epoch = $2", self.schema);
        self.client.execute(&sql, &[&node, &epoch]).map_err(err)?;
        Ok(())
    }

    /// Whether the connection is still usable (a closed one is replaced by the caller).
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

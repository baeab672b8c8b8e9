//! Queue administration: create, delete, list, purge, attributes, tags, permissions.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::attributes::{QueueAttributes, READABLE_NAMES};
use crate::clock::Millis;
use crate::error::{Error, Result};
use crate::policy;
use crate::queue::Queue;
use crate::queue_id::{Caller, QueueId};
use crate::store::{Change, QueueRecord, Tombstone};

use super::validation::{validate_queue_name, validate_tags, Paging, MAX_TAGS};
use super::Engine;

pub(super) const DELETE_COOLDOWN_MS: u64 = 60_000;

impl Engine {
    /// The deleted queues a store kept, as the cooldown's memory (their age is judged at
    /// CreateQueue and by the sweep).
    pub(super) fn restore_tombstones(&self, tombstones: Vec<Tombstone>) {
        let mut deleted = self.recently_deleted.lock();
        deleted.clear();
        deleted.extend(tombstones.into_iter().map(|t| (self.stored_id(&t.name), t.deleted_at)));
    }

    /// Forget the tombstones past the cooldown (the sweep's); the store's changes for it.
    pub(crate) fn prune_tombstones(&self, now: Millis) -> Vec<Change> {
        let mut deleted = self.recently_deleted.lock();
        let expired: Vec<QueueId> =
            deleted.iter().filter(|(_, &at)| now >= at + DELETE_COOLDOWN_MS).map(|(id, _)| id.clone()).collect();
        expired
            .into_iter()
            .map(|id| {
                deleted.remove(&id);
                Change::DeleteTombstone { name: self.stored_name(&id) }
            })
            .collect()
    }
}
pub(super) const PURGE_COOLDOWN_MS: u64 = 60_000;
impl Engine {
    pub async fn create_queue(
        &self,
        caller: &Caller,
        name: &str,
        attributes: &BTreeMap<String, String>,
        tags: &BTreeMap<String, String>,
    ) -> Result<Arc<Queue>> {
        let now = self.clock.now();
        let id = caller.queue(name);
        let fifo_attr = attributes.get("FifoQueue").map(|v| v.eq_ignore_ascii_case("true"));
        validate_queue_name(name, fifo_attr == Some(true))?;
        let fifo = name.ends_with(".fifo");
        QueueAttributes::created(fifo, attributes)?;
        self.check_redrive_target(&self.arn_of(&id), fifo, attributes)?;
        let (queue, commit) = 'found: {
            let mut queues = self.queues.write();
            if let Some(existing) = queues.get(&id) {
                let state = existing.state.lock();
                let proposed = state.attrs.apply(attributes)?;
                if let Some(differs) = attributes.keys().find(|k| proposed.get(k) != state.attrs.get(k)) {
                    return Err(Error::QueueAlreadyExists(format!(
                        "A queue already exists with the same name and a different value for attribute {differs}"
                    )));
                }
                // Tags given for an existing queue must be its tags (reported from AWS).
                if !tags.is_empty() && *tags != state.tags {
                    return Err(Error::QueueAlreadyExists(
                        "A queue already exists with the same name and different tags".into(),
                    ));
                }
                // Its creation may still be committing (or have failed): answer once it is durable.
                break 'found (existing.clone(), self.store.submit(Vec::new()));
            }
            let tombstone = self.recently_deleted.lock().get(&id).copied();
            if tombstone.is_some_and(|deleted_at| now < deleted_at + DELETE_COOLDOWN_MS) {
                return Err(Error::QueueDeletedRecently);
            }
            let attrs = QueueAttributes::created(fifo, attributes)?;
            validate_tags(tags)?;
            let record = QueueRecord {
                name: self.stored_name(&id),
                uid: rand::random(),
                created_at: now,
                last_modified: now,
                attributes: attrs,
                tags: tags.clone(),
                last_purge: None,
            };
            let mut changes = Vec::with_capacity(2);
            if tombstone.is_some() {
                self.recently_deleted.lock().remove(&id);
                changes.push(Change::DeleteTombstone { name: record.name.clone() });
            }
            changes.push(Change::PutQueue(record.clone()));
            let queue = Queue::new(id.clone(), self.arn_of(&id), record, self.seqs.clone());
            queues.insert(id, queue.clone());
            (queue, self.store.submit(changes))
        };
        Engine::durable(commit).await?;
        Ok(queue)
    }

    pub async fn delete_queue(&self, caller: &Caller, id: &QueueId) -> Result<()> {
        self.queue_for(caller, id)?;
        let commit = {
            let mut queues = self.queues.write();
            let queue = queues.remove(id).ok_or(Error::QueueDoesNotExist)?;
            queue.state.lock().deleted = true;
            let now = self.clock.now();
            self.recently_deleted.lock().insert(id.clone(), now);
            queue.arrivals.notify_waiters();
            let tombstone = Tombstone { name: self.stored_name(id), deleted_at: now };
            self.store.submit(vec![Change::DeleteQueue { uid: queue.uid }, Change::PutTombstone(tombstone)])
        };
        Engine::durable(commit).await
    }

    /// The caller's queues whose names start with `prefix`, in name order, `max` at a time.
    pub fn list_queues(
        &self,
        caller: &Caller,
        prefix: Option<&str>,
        max_results: Option<i64>,
        next_token: Option<&str>,
    ) -> Result<(Vec<QueueId>, Option<String>)> {
        let paging = Paging::of(max_results, next_token, "Invalid NextToken value.")?;
        let prefix = prefix.unwrap_or("");
        let ids = self
            .queues
            .read()
            .keys()
            .filter(|id| id.account == caller.account && id.name.starts_with(prefix) && paging.is_after(&id.name))
            .take(paging.wanted())
            .cloned()
            .collect();
        Ok(paging.page(ids))
    }

    pub async fn purge_queue(&self, caller: &Caller, id: &QueueId) -> Result<usize> {
        let queue = self.queue_for(caller, id)?;
        let now = self.clock.now();
        self.change(&queue, |state, changes| {
            if state.last_purge.is_some_and(|t| now < t + PURGE_COOLDOWN_MS) {
                return Err(Error::PurgeQueueInProgress(queue.id.name.clone()));
            }
            state.last_purge = Some(now);
            let n = state.purge(queue.uid, changes);
            changes.push(Change::PutQueue(queue.record(state)));
            Ok(n)
        })
        .await
    }

    /// GetQueueAttributes: `All` or named attributes, in AWS's order.
    pub fn get_queue_attributes(
        &self,
        caller: &Caller,
        id: &QueueId,
        names: &[String],
    ) -> Result<Vec<(String, String)>> {
        for n in names {
            if n != "All" && !READABLE_NAMES.contains(&n.as_str()) {
                return Err(Error::InvalidAttributeName(format!("Unknown Attribute {n}.")));
            }
        }
        let queue = self.queue_for(caller, id)?;
        let all = names.iter().any(|n| n == "All");
        let state = self.observe(&queue);
        let counts = state.counts();
        let mut out = Vec::new();
        for &attr in READABLE_NAMES {
            if !all && !names.iter().any(|n| n == attr) {
                continue;
            }
            let value = match attr {
                "QueueArn" => Some(queue.arn.clone()),
                "ApproximateNumberOfMessages" => Some(counts.visible.to_string()),
                "ApproximateNumberOfMessagesNotVisible" => Some(counts.in_flight.to_string()),
                "ApproximateNumberOfMessagesDelayed" => Some(counts.delayed.to_string()),
                "CreatedTimestamp" => Some((queue.created_at / 1000).to_string()),
                "LastModifiedTimestamp" => Some((state.last_modified / 1000).to_string()),
                other => state.attrs.get(other),
            };
            if let Some(v) = value {
                out.push((attr.to_string(), v));
            }
        }
        Ok(out)
    }

    pub async fn set_queue_attributes(
        &self,
        caller: &Caller,
        id: &QueueId,
        attributes: &BTreeMap<String, String>,
    ) -> Result<()> {
        let queue = self.queue_for(caller, id)?;
        let now = self.clock.now();
        queue.state.lock().attrs.apply(attributes)?;
        self.check_redrive_target(&queue.arn, queue.is_fifo(), attributes)?;
        self.change(&queue, |state, changes| {
            let before = state.attrs.delay_seconds;
            state.attrs = state.attrs.apply(attributes)?;
            state.last_modified = now;
            changes.push(Change::PutQueue(queue.record(state)));
            // A FIFO queue's delay is retroactive (documented): it moves the end of the delay
            // of every message not yet received.
            if queue.is_fifo() && state.attrs.delay_seconds != before {
                let delay_ms = u64::from(state.attrs.delay_seconds) * 1000;
                state.redelay_unreceived(queue.uid, delay_ms, now, changes);
            }
            Ok(())
        })
        .await?;
        // A shorter retention or a new delay can change what is receivable.
        queue.arrivals.notify_waiters();
        Ok(())
    }

    pub async fn tag_queue(&self, caller: &Caller, id: &QueueId, tags: &BTreeMap<String, String>) -> Result<()> {
        let queue = self.queue_for(caller, id)?;
        if tags.is_empty() {
            return Err(Error::MissingParameter("Tags".into()));
        }
        validate_tags(tags)?;
        self.change_queue(&queue, |state| {
            let mut merged = state.tags.clone();
            merged.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
            if merged.len() > MAX_TAGS {
                return Err(Error::InvalidParameterValue(format!("Too many tags added for queue {id}.")));
            }
            state.tags = merged;
            Ok(())
        })
        .await
    }

    pub async fn untag_queue(&self, caller: &Caller, id: &QueueId, keys: &[String]) -> Result<()> {
        let queue = self.queue_for(caller, id)?;
        if keys.is_empty() || keys.iter().any(|k| k.is_empty() || k.chars().count() > 128) {
            return Err(Error::InvalidParameterValue(
                "Tag keys must be between 1 and 128 characters in length.".into(),
            ));
        }
        self.change_queue(&queue, |state| {
            for k in keys {
                state.tags.remove(k);
            }
            Ok(())
        })
        .await
    }

    pub fn list_queue_tags(&self, caller: &Caller, id: &QueueId) -> Result<BTreeMap<String, String>> {
        Ok(self.queue_for(caller, id)?.state.lock().tags.clone())
    }

    pub async fn add_permission(
        &self,
        caller: &Caller,
        id: &QueueId,
        label: &str,
        accounts: &[String],
        actions: &[String],
    ) -> Result<()> {
        let queue = self.queue_for(caller, id)?;
        self.change_queue(&queue, |state| {
            let policy = policy::add_statement(state.attrs.policy.as_deref(), &queue.arn, label, accounts, actions)?;
            state.attrs.policy = Some(policy);
            Ok(())
        })
        .await
    }

    pub async fn remove_permission(&self, caller: &Caller, id: &QueueId, label: &str) -> Result<()> {
        let queue = self.queue_for(caller, id)?;
        self.change_queue(&queue, |state| {
            state.attrs.policy = policy::remove_statement(state.attrs.policy.as_deref(), label)?;
            Ok(())
        })
        .await
    }
}

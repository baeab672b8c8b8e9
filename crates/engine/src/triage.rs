//! What an operator does to chosen messages of a queue (a DLQ, usually) that SQS has no call
//! for: fix a message's body or attributes where it is, delete the messages a filter takes, and
//! import messages exported earlier (`PeekMessages`' view of them) with what they carried.
//!
//! Messages are found by a scan (`peek::scan`): there is no index by MessageId, and these are
//! an operator's calls, not a consumer's. A message in flight is not edited (its consumer holds
//! it); a delete takes it whatever its state, as the operator asked.

use std::ops::ControlFlow;
use std::sync::Arc;

use crate::clock::Millis;
use crate::engine::{prepare, Engine, SendRules};
use crate::error::{Error, Result};
use crate::filter::MessageFilter;
use crate::message::{Attributes, Content, NewMessage, Redrives};
use crate::peek::scan;
use crate::queue::Queue;
use crate::queue_id::{Caller, QueueId};
use crate::store::{Change, MessageState};

/// Most messages one import takes.
pub const MAX_IMPORT: usize = 100;

/// A new body and/or new message attributes for a message.
#[derive(Debug, Clone, Default)]
pub struct MessageFix {
    pub body: Option<String>,
    pub attributes: Option<Attributes>,
}

/// A message as an export wrote it, to be put into a queue again.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    /// Kept when given, so that a message goes back under its own id; new otherwise.
    pub message_id: Option<String>,
    pub body: String,
    pub attributes: Attributes,
    pub system_attributes: Attributes,
    pub group_id: Option<String>,
    pub deduplication_id: Option<String>,
    pub sent_at: Option<Millis>,
    pub dead_letter_source_arn: Option<String>,
    pub dead_lettered_at: Option<Millis>,
    pub receive_count: u32,
    pub redrive_count: u32,
}

impl Engine {
    /// Give the message `message_id` a new body and/or new attributes (and so new MD5s), where
    /// it is: same MessageId, place in the queue, counts and times. Checked as SendMessage checks
    /// a message; refused while the message is in flight.
    pub async fn update_message(
        &self,
        caller: &Caller,
        id: &QueueId,
        message_id: &str,
        fix: MessageFix,
    ) -> Result<Content> {
        if fix.body.is_none() && fix.attributes.is_none() {
            return Err(Error::MissingParameter("Body or MessageAttributes".into()));
        }
        let queue = self.queue_for(caller, id)?;
        let now = self.clock().now();
        let (seq, old) = find(self, &queue, now, message_id)?;
        let rules = send_rules(&queue);
        let candidate = NewMessage {
            body: fix.body.unwrap_or_else(|| old.body.clone()),
            attributes: fix.attributes.unwrap_or_else(|| old.attributes.clone()),
            group_id: old.group_id.clone(),
            deduplication_id: old.deduplication_id.clone(),
            ..Default::default()
        };
        let (checked, _) = prepare(rules, candidate, &old.sender_id, now, false)?;
        let fixed = Content {
            body: checked.body,
            md5_of_body: checked.md5_of_body,
            attributes: checked.attributes,
            md5_of_attributes: checked.md5_of_attributes,
            ..old.as_ref().clone()
        };
        let commit = {
            let state = queue.state.lock();
            let Some((m, in_flight)) = state.message_at(seq) else { return Err(not_found(message_id)) };
            if in_flight {
                return Err(Error::InvalidParameterValue(format!(
                    "Message {message_id} is in flight: a consumer holds it. Edit it once it is visible again."
                )));
            }
            // Submitted under the queue's lock, so no receive or delete of it comes between.
            self.store().submit(vec![Change::PutMessage {
                queue: queue.uid,
                seq,
                content: Arc::new(fixed.clone()),
                state: m,
            }])
        };
        Engine::durable(commit).await?;
        Ok(fixed)
    }

    /// Delete every message the filter takes, whatever its state; how many. An empty filter is
    /// refused: PurgeQueue empties a queue.
    pub async fn delete_matching(&self, caller: &Caller, id: &QueueId, filter: &MessageFilter) -> Result<u64> {
        if filter.is_empty() {
            return Err(Error::InvalidParameterValue(
                "Filter: give at least one test (PurgeQueue deletes every message).".into(),
            ));
        }
        let matcher = filter.check()?;
        let queue = self.queue_for(caller, id)?;
        let now = self.clock().now();
        let mut seqs = Vec::new();
        scan(&queue, &**self.store(), now, None, |seq, _, content, _| {
            if matcher.matches(&content) {
                seqs.push(seq);
            }
            ControlFlow::Continue(())
        })?;
        let mut changes = Vec::new();
        let (deleted, commit) = {
            let mut state = queue.state.lock();
            let deleted = seqs.iter().filter(|&&seq| state.discard(queue.uid, seq, &mut changes)).count();
            (deleted, (!changes.is_empty()).then(|| self.store().submit(changes)))
        };
        if let Some(commit) = commit {
            Engine::durable(commit).await?;
        }
        Ok(deleted as u64)
    }

    /// Put exported messages into a queue, visible at once, each checked as SendMessage checks
    /// a message and keeping what it carried (its MessageId when given, times, source, receive
    /// and redrive counts); how many. All or none: one refused message refuses the import.
    pub async fn import_messages(&self, caller: &Caller, id: &QueueId, messages: Vec<Imported>) -> Result<usize> {
        if messages.len() > MAX_IMPORT {
            return Err(Error::InvalidParameterValue(format!("Messages: at most {MAX_IMPORT} per call.")));
        }
        let queue = self.queue_for(caller, id)?;
        let now = self.clock().now();
        let rules = send_rules(&queue);
        let mut ready = Vec::with_capacity(messages.len());
        for (i, m) in messages.into_iter().enumerate() {
            let candidate = NewMessage {
                body: m.body,
                attributes: m.attributes,
                system_attributes: m.system_attributes,
                group_id: m.group_id,
                deduplication_id: m.deduplication_id,
                ..Default::default()
            };
            let (mut content, _) = prepare(rules, candidate, caller.sender_id(), now, false)
                .map_err(|e| Error::InvalidParameterValue(format!("Messages[{i}]: {e}")))?;
            if let Some(id) = m.message_id.filter(|id| !id.is_empty()) {
                content.id = id;
            }
            content.sent_at = m.sent_at.unwrap_or(now);
            content.dead_letter_source_arn = m.dead_letter_source_arn;
            content.dead_lettered_at = m.dead_lettered_at;
            content.redrives = (m.redrive_count > 0).then(|| Redrives { count: m.redrive_count, task: String::new() });
            let state = MessageState {
                enqueued_at: now,
                visible_at: now,
                receive_count: m.receive_count,
                first_receive_at: 0,
                received_at: 0,
                nonce: 0,
            };
            ready.push((content, state));
        }
        let count = ready.len();
        let mut changes = Vec::new();
        let commit = {
            let mut state = queue.state.lock();
            if state.deleted {
                return Err(Error::QueueDoesNotExist);
            }
            for (content, m) in ready {
                state.insert_with_state(queue.uid, Arc::new(content), m, now, &mut changes);
            }
            (!changes.is_empty()).then(|| self.store().submit(changes))
        };
        queue.wake(count);
        if let Some(commit) = commit {
            Engine::durable(commit).await?;
        }
        Ok(count)
    }
}

fn send_rules(queue: &Queue) -> SendRules {
    SendRules::of(&queue.state.lock().attrs)
}

/// The seq and content of the message `message_id`.
fn find(engine: &Engine, queue: &Queue, now: Millis, message_id: &str) -> Result<(u64, Arc<Content>)> {
    let mut found = None;
    scan(queue, &**engine.store(), now, None, |seq, _, content, _| {
        if content.id == message_id {
            found = Some((seq, content));
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    found.ok_or_else(|| not_found(message_id))
}

fn not_found(message_id: &str) -> Error {
    Error::ResourceNotFound(format!("The queue holds no message {message_id}."))
}

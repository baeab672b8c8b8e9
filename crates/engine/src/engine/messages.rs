//! Send, delete and visibility changes.

use std::sync::Arc;

use crate::attributes::{DeduplicationScope, QueueAttributes};
use crate::clock::Millis;
use crate::error::{Error, Result};
use crate::fifo;
use crate::message::{self, AttributeData, AttributeValue, Content, NewMessage};
use crate::queue::{Queue, QueueState};
use crate::queue_id::{Caller, QueueId};
use crate::receipt::ReceiptHandle;
use crate::store::Change;

use super::validation::{check_batch, is_printable_id, MAX_BATCH_BYTES};
use super::Engine;

/// What SendMessage reports for one stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub message_id: String,
    pub md5_of_body: String,
    pub md5_of_attributes: Option<String>,
    pub md5_of_system_attributes: Option<String>,
    pub sequence_number: Option<String>,
}
/// What `prepare` needs of a queue's attributes, copied out under a short lock so that the
/// work on each message (validation, MD5, a MessageId) runs outside the queue's lock: under
/// it, two request threads sending batches to one queue took turns, one waiting idle.
#[derive(Clone, Copy)]
pub(crate) struct SendRules {
    fifo: bool,
    content_based_deduplication: bool,
    maximum_message_size: u32,
    delay_seconds: u32,
}
impl SendRules {
    pub(crate) fn of(attrs: &QueueAttributes) -> SendRules {
        SendRules {
            fifo: attrs.fifo_queue,
            content_based_deduplication: attrs.content_based_deduplication,
            maximum_message_size: attrs.maximum_message_size,
            delay_seconds: attrs.delay_seconds,
        }
    }
}
/// Validate one message against the queue's rules and build its stored content.
/// `in_batch` picks AWS's wording for an oversized batch entry.
pub(crate) fn prepare(
    rules: SendRules,
    m: NewMessage,
    sender_id: &str,
    now: Millis,
    in_batch: bool,
) -> Result<(Content, u64)> {
    if m.body.is_empty() {
        return Err(Error::MissingParameter("MessageBody".into()));
    }
    message::check_characters(&m.body)?;
    message::validate_attributes(&m.attributes)?;
    message::validate_system_attributes(&m.system_attributes)?;
    let limit = rules.maximum_message_size as usize;
    if message::message_size(&m.body, &m.attributes) > limit {
        let verb = if in_batch { "cannot be validated" } else { "are invalid" };
        return Err(Error::InvalidParameterValue(format!(
            "One or more parameters {verb}. Reason: Message must be shorter than {limit} bytes."
        )));
    }
    for (param, value) in [("MessageGroupId", &m.group_id), ("MessageDeduplicationId", &m.deduplication_id)] {
        if let Some(v) = value {
            if !is_printable_id(v) {
                return Err(Error::invalid_parameter(
                    v,
                    param,
                    &format!("{param} can only include alphanumeric and punctuation characters. 1 to 128 in length."),
                ));
            }
        }
    }
    let mut deduplication_id = m.deduplication_id;
    if rules.fifo {
        if m.group_id.is_none() {
            return Err(Error::MissingParameter("MessageGroupId".into()));
        }
        if let Some(d) = m.delay_seconds.filter(|d| *d != 0) {
            return Err(Error::invalid_parameter(
                d,
                "DelaySeconds",
                "The request include parameter that is not valid for this queue type.",
            ));
        }
        if deduplication_id.is_none() && rules.content_based_deduplication {
            deduplication_id = Some(fifo::content_dedup_id(&m.body));
        }
        if deduplication_id.is_none() {
            return Err(Error::InvalidParameterValue(NO_DEDUP_ID.into()));
        }
    } else {
        if let Some(d) = &deduplication_id {
            return Err(Error::invalid_parameter(
                d,
                "MessageDeduplicationId",
                "The request includes a parameter that is not valid for this queue type.",
            ));
        }
    }
    let delay = match m.delay_seconds {
        // FIFO queues delay only at the queue level; an accepted 0 changes nothing.
        _ if rules.fifo => u64::from(rules.delay_seconds),
        Some(d) if !(0..=900).contains(&d) => {
            return Err(Error::invalid_parameter(d, "DelaySeconds", "DelaySeconds must be >= 0 and <= 900."))
        }
        Some(d) => d as u64,
        None => u64::from(rules.delay_seconds),
    };
    // The digest is of what the client sent; a trace header taken from the HTTP header is
    // not part of it, nor of the message's size (as on AWS).
    let md5_of_system_attributes = message::md5_of_attributes(&m.system_attributes);
    let mut system_attributes = m.system_attributes;
    if let Some(trace) = m.trace_header.filter(|t| !t.is_empty()) {
        system_attributes
            .entry("AWSTraceHeader".into())
            .or_insert(AttributeValue { data_type: "String".into(), value: AttributeData::String(trace) });
    }
    let content = Content {
        id: uuid::Uuid::new_v4().to_string(),
        md5_of_body: message::md5_hex(m.body.as_bytes()),
        md5_of_attributes: message::md5_of_attributes(&m.attributes),
        md5_of_system_attributes,
        body: m.body,
        attributes: m.attributes,
        system_attributes,
        sender_id: sender_id.to_string(),
        sent_at: now,
        dead_letter_source_arn: None,
        group_id: m.group_id,
        deduplication_id,
        dead_lettered_at: None,
        redrives: None,
    };
    Ok((content, delay * 1000))
}
pub(super) const NO_DEDUP_ID: &str =
    "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly";
/// Store a prepared message, or on a FIFO queue answer a duplicate within the
/// deduplication window with the message accepted first (not stored again).
pub(super) fn accept(
    state: &mut QueueState,
    uid: u64,
    content: Content,
    delay_ms: u64,
    now: Millis,
    changes: &mut Vec<Change>,
) -> Sent {
    let mut sent = sent_of(&content);
    let key = match (&state.fifo, &content.group_id, &content.deduplication_id) {
        (Some(_), Some(group), Some(dedup)) => {
            Some(fifo::dedup_key(state.attrs.deduplicates_by == DeduplicationScope::MessageGroup, group, dedup))
        }
        _ => None,
    };
    if let (Some(key), Some(f)) = (&key, state.fifo.as_mut()) {
        let first = f.duplicate(key, now);
        changes.extend(f.lapsed.drain(..).map(|key| Change::DeleteDedup { queue: uid, key }));
        if let Some(first) = first {
            sent.message_id = first.message_id;
            sent.sequence_number = Some(first.sequence_number);
            return sent;
        }
    }
    let seq = state.insert(uid, Arc::new(content), now, delay_ms, now, changes);
    state.stats.sent += 1;
    if let (Some(key), Some(f)) = (key, state.fifo.as_mut()) {
        sent.sequence_number = Some(fifo::sequence_number(seq));
        changes.push(Change::PutDedup {
            queue: uid,
            key: key.clone(),
            message_id: sent.message_id.clone(),
            seq,
            expires_at: now + fifo::DEDUP_WINDOW_MS,
        });
        f.remember(
            key,
            fifo::Accepted { message_id: sent.message_id.clone(), sequence_number: fifo::sequence_number(seq) },
            now,
        );
    }
    sent
}
pub(super) fn sent_of(c: &Content) -> Sent {
    Sent {
        message_id: c.id.clone(),
        md5_of_body: c.md5_of_body.clone(),
        md5_of_attributes: c.md5_of_attributes.clone(),
        md5_of_system_attributes: c.md5_of_system_attributes.clone(),
        sequence_number: None,
    }
}
impl Engine {
    pub async fn send_message(&self, caller: &Caller, id: &QueueId, message: NewMessage) -> Result<Sent> {
        let queue = self.queue_for(caller, id)?;
        let now = self.clock.now();
        let rules = SendRules::of(&queue.state.lock().attrs);
        let (content, delay_ms) = prepare(rules, message, caller.sender_id(), now, false)?;
        self.change_waking(
            &queue,
            |state, changes| Ok(accept(state, queue.uid, content, delay_ms, now, changes)),
            |_| 1,
        )
        .await
    }

    /// SendMessageBatch: batch-level rules first, then each entry on its own.
    pub async fn send_message_batch(
        &self,
        caller: &Caller,
        id: &QueueId,
        entries: Vec<(String, NewMessage)>,
    ) -> Result<Vec<(String, Result<Sent>)>> {
        check_batch(entries.iter().map(|(id, _)| id.as_str()), "SendMessageBatchRequestEntry")?;
        let queue = self.queue_for(caller, id)?;
        let total: usize = entries.iter().map(|(_, m)| message::message_size(&m.body, &m.attributes)).sum();
        if total > MAX_BATCH_BYTES {
            return Err(Error::BatchRequestTooLong { limit: MAX_BATCH_BYTES, sent: total });
        }
        let now = self.clock.now();
        let rules = SendRules::of(&queue.state.lock().attrs);
        if rules.fifo {
            // On a FIFO queue these fail the whole batch, unlike other entry errors (recorded on AWS).
            if entries.iter().any(|(_, m)| m.group_id.is_none()) {
                return Err(Error::InvalidParameterValue(
                    "The request must contain the parameter MessageGroupId.".into(),
                ));
            }
            if !rules.content_based_deduplication && entries.iter().any(|(_, m)| m.deduplication_id.is_none()) {
                return Err(Error::InvalidParameterValue(NO_DEDUP_ID.into()));
            }
        }
        let prepared: Vec<_> = entries
            .into_iter()
            .map(|(id, message)| (id, prepare(rules, message, caller.sender_id(), now, true)))
            .collect();
        self.change_waking(
            &queue,
            |state, changes| {
                Ok(prepared
                    .into_iter()
                    .map(|(id, p)| {
                        (id, p.map(|(content, delay_ms)| accept(state, queue.uid, content, delay_ms, now, changes)))
                    })
                    .collect::<Vec<_>>())
            },
            |results| results.iter().filter(|(_, r)| r.is_ok()).count(),
        )
        .await
    }

    pub(super) fn handle_for(&self, queue: &Queue, text: &str) -> Result<ReceiptHandle> {
        ReceiptHandle::decode(text)
            .filter(|h| h.queue_uid == queue.uid)
            .ok_or_else(|| Error::ReceiptHandleIsInvalid(text.to_string()))
    }

    pub async fn delete_message(&self, caller: &Caller, id: &QueueId, receipt_handle: &str) -> Result<()> {
        let queue = self.queue_for(caller, id)?;
        let handle = self.handle_for(&queue, receipt_handle)?;
        let now = self.clock.now();
        // A delete releases a FIFO group: its next message may be receivable now.
        let fifo = queue.is_fifo();
        self.change_waking(
            &queue,
            |state, changes| state.delete(queue.uid, &handle, receipt_handle, now, changes),
            |_| usize::from(fifo),
        )
        .await
    }

    pub async fn delete_message_batch(
        &self,
        caller: &Caller,
        id: &QueueId,
        entries: &[(String, String)],
    ) -> Result<Vec<(String, Result<()>)>> {
        check_batch(entries.iter().map(|(id, _)| id.as_str()), "DeleteMessageBatchRequestEntry")?;
        let queue = self.queue_for(caller, id)?;
        let now = self.clock.now();
        let fifo = queue.is_fifo();
        self.change_waking(
            &queue,
            |state, changes| {
                Ok(entries
                    .iter()
                    .map(|(id, text)| {
                        let r =
                            self.handle_for(&queue, text).and_then(|h| state.delete(queue.uid, &h, text, now, changes));
                        (id.clone(), r)
                    })
                    .collect::<Vec<_>>())
            },
            |results| if fifo { results.len() } else { 0 },
        )
        .await
    }

    pub async fn change_message_visibility(
        &self,
        caller: &Caller,
        id: &QueueId,
        receipt_handle: &str,
        timeout: i64,
    ) -> Result<()> {
        if !(0..=43_200).contains(&timeout) {
            return Err(Error::invalid_parameter(timeout, "VisibilityTimeout", "Must be between 0 and 43200."));
        }
        let queue = self.queue_for(caller, id)?;
        let handle = self.handle_for(&queue, receipt_handle)?;
        let now = self.clock.now();
        self.change_waking(
            &queue,
            |state, changes| {
                state.advance(queue.uid, now, changes);
                state.change_visibility(queue.uid, &handle, receipt_handle, timeout as u64 * 1000, now, changes)
            },
            |woke| usize::from(*woke),
        )
        .await
        .map(|_| ())
    }

    pub async fn change_message_visibility_batch(
        &self,
        caller: &Caller,
        id: &QueueId,
        entries: &[(String, String, Option<i64>)],
    ) -> Result<Vec<(String, Result<()>)>> {
        check_batch(entries.iter().map(|(id, _, _)| id.as_str()), "ChangeMessageVisibilityBatchRequestEntry")?;
        let queue = self.queue_for(caller, id)?;
        let now = self.clock.now();
        // Each entry's result says whether it made its message visible now.
        let results = self
            .change_waking(
                &queue,
                |state, changes| {
                    state.advance(queue.uid, now, changes);
                    Ok(entries
                        .iter()
                        .enumerate()
                        .map(|(i, (id, text, timeout))| {
                            let r = match timeout {
                                None => Err(Error::MissingParameter(format!(
                                    "ChangeMessageVisibilityBatchRequestEntry.{}.VisibilityTimeout",
                                    i + 1
                                ))),
                                Some(t) if !(0..=43_200).contains(t) => Err(Error::invalid_parameter(
                                    t,
                                    "VisibilityTimeout",
                                    "VisibilityTimeout must be an integer between 0 and 43200.",
                                )),
                                Some(t) => self.handle_for(&queue, text).and_then(|h| {
                                    state.change_visibility(queue.uid, &h, text, *t as u64 * 1000, now, changes)
                                }),
                            };
                            (id.clone(), r)
                        })
                        .collect::<Vec<_>>())
                },
                |results| if results.iter().any(|(_, r)| *r == Ok(true)) { results.len() } else { 0 },
            )
            .await?;
        Ok(results.into_iter().map(|(id, r)| (id, r.map(|_| ()))).collect())
    }
}

//! Read-only views for the server: metrics snapshots and the shaping of received messages.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::message::{self, Attributes};
use crate::movetask::TaskRecord;
use crate::queue::{Counts, Queue, QueueState, Received};
use crate::queue_id::{Caller, QueueId};

use super::Engine;

/// One queue as metrics see it.
#[derive(Debug, Clone)]
pub struct QueueMetrics {
    pub id: QueueId,
    pub arn: String,
    /// Named as the dead-letter target of some queue's RedrivePolicy.
    pub is_dead_letter_queue: bool,
    pub counts: Counts,
    /// Age of the oldest message, by its enqueue time.
    pub oldest_age_ms: Option<u64>,
    pub stats: crate::queue::Stats,
}
/// The system attributes of a received message, as named by AttributeNames /
/// MessageSystemAttributeNames (`All` or individual names; check them first).
pub fn message_system_attributes(r: &Received, names: &[String]) -> BTreeMap<String, String> {
    let all = names.iter().any(|n| n == "All");
    let wants = |n: &str| all || names.iter().any(|x| x == n);
    let c = &r.content;
    let mut out = BTreeMap::new();
    let mut put = |n: &str, v: Option<String>| {
        if let Some(v) = v.filter(|_| wants(n)) {
            out.insert(n.to_string(), v);
        }
    };
    put("SenderId", Some(c.sender_id.clone()));
    put("SentTimestamp", Some(c.sent_at.to_string()));
    put("ApproximateReceiveCount", Some(r.receive_count.to_string()));
    put("ApproximateFirstReceiveTimestamp", Some(r.first_receive_at.to_string()));
    put(
        "AWSTraceHeader",
        c.system_attributes.get("AWSTraceHeader").and_then(|v| match &v.value {
            message::AttributeData::String(s) => Some(s.clone()),
            message::AttributeData::Binary(_) => None,
        }),
    );
    put("DeadLetterQueueSourceArn", c.dead_letter_source_arn.clone());
    put("MessageGroupId", c.group_id.clone());
    put("MessageDeduplicationId", c.deduplication_id.clone().filter(|_| r.sequence_number.is_some()));
    put("SequenceNumber", r.sequence_number.clone());
    out
}
/// The user attributes selected by MessageAttributeNames: `All`, `.*`, `prefix.*` or exact names.
pub fn select_message_attributes(attributes: &Attributes, names: &[String]) -> Attributes {
    attributes
        .iter()
        .filter(|(name, _)| {
            names.iter().any(|n| {
                n == "All"
                    || n == "*"
                    || n == ".*"
                    || n == *name
                    // `Hel.*` selects `Hello` and `Help.Me`: a plain prefix (recorded on AWS).
                    || n.strip_suffix(".*").is_some_and(|p| name.starts_with(p))
            })
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
impl Engine {
    /// A snapshot of every queue's depth, age and totals, for metrics.
    pub fn metrics(&self) -> Vec<QueueMetrics> {
        let now = self.clock.now();
        let dlq_arns: std::collections::HashSet<String> = self
            .all_queues()
            .iter()
            .filter_map(|q| q.state.lock().attrs.redrive().map(|p| p.dead_letter_target_arn.clone()))
            .collect();
        self.all_queues()
            .iter()
            .map(|q| {
                // Only looks: messages past retention are the sweep's to delete.
                let mut state = q.state.lock();
                state.make_due_visible(now);
                let c = state.counts();
                // Still a dead-letter queue while it holds dead letters, even once no source
                // names it any more (its source deleted or its policy removed).
                let holds_dead_letters = state.stats.dead_letters_in > 0 && c.visible + c.in_flight + c.delayed > 0;
                QueueMetrics {
                    id: q.id.clone(),
                    arn: q.arn.clone(),
                    is_dead_letter_queue: dlq_arns.contains(&q.arn) || holds_dead_letters,
                    counts: state.counts(),
                    oldest_age_ms: state.oldest_enqueued_at().map(|t| now.saturating_sub(t)),
                    stats: state.stats,
                }
            })
            .collect()
    }

    /// Every move task, oldest first.
    pub fn move_tasks(&self) -> Vec<TaskRecord> {
        self.move_tasks.records()
    }

    /// Lock a queue's state brought up to now. Messages dropped for retention are
    /// deleted from the store too, without waiting: nothing is acknowledged by it.
    pub(super) fn observe<'q>(&self, queue: &'q Queue) -> parking_lot::MutexGuard<'q, QueueState> {
        let mut state = queue.state.lock();
        let mut changes = Vec::new();
        state.advance(queue.uid, self.clock.now(), &mut changes);
        if !changes.is_empty() {
            drop(self.store.submit(changes));
        }
        state
    }

    pub fn counts(&self, caller: &Caller, id: &QueueId) -> Result<Counts> {
        let queue = self.queue_for(caller, id)?;
        let state = self.observe(&queue);
        Ok(state.counts())
    }
}

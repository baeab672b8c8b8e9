//! Dead-letter queues seen from the registry: which queue an ARN names, whether a
//! RedrivePolicy's target may be used, which sources feed a DLQ.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::dlq::{self, RedrivePolicy};
use crate::error::Result;
use crate::queue::Queue;
use crate::queue_id::{Caller, QueueId};

use super::validation::Paging;
use super::Engine;

impl Engine {
    /// The queue an ARN names, if it is one of this server's.
    pub fn queue_by_arn(&self, arn: &str) -> Option<Arc<Queue>> {
        self.queue(&QueueId::from_arn(arn, &self.config.region)?).ok()
    }

    /// Refuse a RedrivePolicy that `dlq::check_target` refuses for the queue it names.
    pub(super) fn check_redrive_target(
        &self,
        source_arn: &str,
        fifo: bool,
        attributes: &BTreeMap<String, String>,
    ) -> Result<()> {
        let Some(raw) = attributes.get("RedrivePolicy").filter(|r| !r.is_empty()) else { return Ok(()) };
        let policy = RedrivePolicy::parse(raw)?;
        let target = self.queue_by_arn(&policy.dead_letter_target_arn);
        // A dead-letter queue is in its source's account (and region), as on AWS.
        let source_account = crate::queue_id::parse_arn(source_arn).map(|a| a.account.to_string());
        if target.as_ref().is_some_and(|t| Some(&t.id.account) != source_account.as_ref()) {
            return Err(dlq::invalid_redrive_policy(
                raw,
                "Dead letter target must be in the same account as the source queue.",
            ));
        }
        let allow = target.as_ref().and_then(|t| t.state.lock().attrs.redrive_allow_policy.clone());
        let target = target.as_deref().map(|t| dlq::Target { arn: &t.arn, fifo: t.is_fifo(), allow: allow.as_ref() });
        dlq::check_target(raw, source_arn, fifo, target)
    }

    /// The queues whose RedrivePolicy targets `id`, in name order, paged.
    pub fn list_dead_letter_source_queues(
        &self,
        caller: &Caller,
        id: &QueueId,
        max_results: Option<i64>,
        next_token: Option<&str>,
    ) -> Result<(Vec<QueueId>, Option<String>)> {
        let dlq = self.queue_for(caller, id)?;
        let paging = Paging::of(max_results, next_token, "Invalid or expired next token.")?;
        let queues: Vec<Arc<Queue>> = self.queues.read().values().cloned().collect();
        let ids = queues
            .iter()
            .filter(|q| paging.is_after(&q.id.name))
            .filter(|q| q.state.lock().attrs.redrive().is_some_and(|p| p.dead_letter_target_arn == dlq.arn))
            .map(|q| q.id.clone())
            .take(paging.wanted())
            .collect();
        Ok(paging.page(ids))
    }
}

//! One `match` over the 23 actions: each decoded request goes to its handler in `api`.

use engine::{Caller, Engine, QueueId};
use protocol::{ApiError, Request, Response};

use crate::api;

/// What every handler can fail with: an AWS error, from the engine or from conversion.
#[derive(Debug)]
pub struct Failure(pub ApiError);

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure(e)
    }
}

pub type Outcome = Result<Response, Failure>;

/// What a handler knows of the request beyond its input.
pub struct Ctx<'a> {
    pub engine: &'a std::sync::Arc<Engine>,
    /// `scheme://host[:port]` queue URLs start with.
    pub base_url: String,
    /// Who is asking: the engine judges access by it, and it is the SenderId of what it sends.
    pub caller: Caller,
    /// The request's `X-Amzn-Trace-Id`, which sent messages carry as `AWSTraceHeader`.
    pub trace_header: Option<String>,
}

impl Ctx<'_> {
    /// Name the action the request asks for (what a queue policy judges), once it is decoded.
    pub fn acting(&mut self, action: &str) {
        self.caller.set_action(action);
    }

    pub fn queue_url(&self, id: &QueueId) -> String {
        id.url(&self.base_url)
    }

    /// The queue a QueueUrl names (see `QueueId::from_url` for the forms accepted).
    pub fn queue_id(&self, url: &str) -> Result<QueueId, Failure> {
        QueueId::from_url(url, &self.base_url, &self.caller.account)
            .ok_or_else(|| Failure(ApiError::queue_does_not_exist()))
    }
}

pub async fn dispatch(ctx: &Ctx<'_>, request: Request) -> Outcome {
    use Request as R;
    match request {
        R::CreateQueue(i) => api::queues::create_queue(ctx, i).await,
        R::GetQueueUrl(i) => api::queues::get_queue_url(ctx, i).await,
        R::ListQueues(i) => api::queues::list_queues(ctx, i).await,
        R::DeleteQueue(i) => api::queues::delete_queue(ctx, i).await,
        R::PurgeQueue(i) => api::queues::purge_queue(ctx, i).await,
        R::GetQueueAttributes(i) => api::queues::get_queue_attributes(ctx, i).await,
        R::SetQueueAttributes(i) => api::queues::set_queue_attributes(ctx, i).await,
        R::TagQueue(i) => api::tags::tag_queue(ctx, i).await,
        R::UntagQueue(i) => api::tags::untag_queue(ctx, i).await,
        R::ListQueueTags(i) => api::tags::list_queue_tags(ctx, i).await,
        R::AddPermission(i) => api::permissions::add_permission(ctx, i).await,
        R::RemovePermission(i) => api::permissions::remove_permission(ctx, i).await,
        R::SendMessage(i) => api::messages::send_message(ctx, i).await,
        R::SendMessageBatch(i) => api::messages::send_message_batch(ctx, i).await,
        R::ReceiveMessage(i) => api::messages::receive_message(ctx, i).await,
        R::DeleteMessage(i) => api::messages::delete_message(ctx, i).await,
        R::DeleteMessageBatch(i) => api::messages::delete_message_batch(ctx, i).await,
        R::ChangeMessageVisibility(i) => api::messages::change_message_visibility(ctx, i).await,
        R::ChangeMessageVisibilityBatch(i) => api::messages::change_message_visibility_batch(ctx, i).await,
        R::ListDeadLetterSourceQueues(i) => api::redrive::list_dead_letter_source_queues(ctx, i).await,
        R::StartMessageMoveTask(i) => api::redrive::start_message_move_task(ctx, i).await,
        R::ListMessageMoveTasks(i) => api::redrive::list_message_move_tasks(ctx, i).await,
        R::CancelMessageMoveTask(i) => api::redrive::cancel_message_move_task(ctx, i).await,
    }
}

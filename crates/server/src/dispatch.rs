//! One `match` over the 23 actions: each decoded request goes to its handler in `api`.

use engine::Engine;
use protocol::{ApiError, ErrorCode, Request, Response};

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
    /// SenderId of sent messages: the caller's access key id, else the account.
    pub sender_id: String,
    /// The request's `X-Amzn-Trace-Id`, which sent messages carry as `AWSTraceHeader`.
    pub trace_header: Option<String>,
}

impl Ctx<'_> {
    pub fn account(&self) -> &str {
        &self.engine.config().account_id
    }

    pub fn queue_url(&self, name: &str) -> String {
        format!("{}/{}/{}", self.base_url, self.account(), name)
    }

    /// The queue a QueueUrl names. Accepts `{base}/{account}/{name}`, the legacy
    /// `{base}/queue/{name}`, LocalStack's `{base}/queue/{region}/{account}/{name}` and a
    /// bare path, with or without the path of a `--public-url` before them; another
    /// account's queue does not exist here.
    pub fn queue_name(&self, url: &str) -> Result<String, Failure> {
        let mut segments = path_segments(url);
        let prefix = path_segments(&self.base_url);
        if !prefix.is_empty() && segments.starts_with(&prefix) {
            segments.drain(..prefix.len());
        }
        let name = match segments.as_slice() {
            [owner, name] if *owner == self.account() || *owner == "queue" => *name,
            ["queue", _region, owner, name] if *owner == self.account() => *name,
            [name] => *name,
            // A URL with no queue in it names no queue: AWS answers NonExistentQueue
            // (reported by moto's maintainers, as recorded for a missing QueueUrl).
            _ => {
                return Err(Failure(ApiError::new(ErrorCode::QueueDoesNotExist, "The specified queue does not exist.")))
            }
        };
        Ok(name.to_string())
    }
}

/// The non-empty path segments of a URL (or of a bare path), without query or fragment.
fn path_segments(url: &str) -> Vec<&str> {
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map_or("", |(_, p)| p),
        None => url,
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    path.split('/').filter(|s| !s.is_empty()).collect()
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

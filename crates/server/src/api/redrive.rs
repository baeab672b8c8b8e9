//! Dead-letter queue listing and message move tasks (not yet implemented: a clear error).

use protocol::types::*;
use protocol::{ApiError, ErrorCode, Response};

use crate::dispatch::{Ctx, Failure, Outcome};

fn not_yet(action: &str) -> Failure {
    Failure(ApiError::new(ErrorCode::UnsupportedOperation, format!("{action} is not supported by this server yet.")))
}

pub async fn list_dead_letter_source_queues(ctx: &Ctx<'_>, i: ListDeadLetterSourceQueuesInput) -> Outcome {
    let (names, next_token) = ctx.engine.list_dead_letter_source_queues(
        &ctx.queue_name(&i.queue_url)?,
        i.max_results,
        i.next_token.as_deref(),
    )?;
    Ok(Response::ListDeadLetterSourceQueues(ListDeadLetterSourceQueuesOutput {
        queue_urls: names.iter().map(|n| ctx.queue_url(n)).collect(),
        next_token,
    }))
}

pub async fn start_message_move_task(_ctx: &Ctx<'_>, _i: StartMessageMoveTaskInput) -> Outcome {
    Err(not_yet("StartMessageMoveTask"))
}

pub async fn list_message_move_tasks(_ctx: &Ctx<'_>, _i: ListMessageMoveTasksInput) -> Outcome {
    Err(not_yet("ListMessageMoveTasks"))
}

pub async fn cancel_message_move_task(_ctx: &Ctx<'_>, _i: CancelMessageMoveTaskInput) -> Outcome {
    Err(not_yet("CancelMessageMoveTask"))
}

//! Dead-letter queue listing and message move tasks.

use engine::TaskStatus;
use protocol::types::*;
use protocol::Response;

use crate::dispatch::{Ctx, Outcome};

pub async fn list_dead_letter_source_queues(ctx: &Ctx<'_>, i: ListDeadLetterSourceQueuesInput) -> Outcome {
    let (names, next_token) = ctx.engine.list_dead_letter_source_queues(
        &ctx.caller,
        &ctx.queue_id(&i.queue_url)?,
        i.max_results,
        i.next_token.as_deref(),
    )?;
    Ok(Response::ListDeadLetterSourceQueues(ListDeadLetterSourceQueuesOutput {
        queue_urls: names.iter().map(|n| ctx.queue_url(n)).collect(),
        next_token,
    }))
}

pub async fn start_message_move_task(ctx: &Ctx<'_>, i: StartMessageMoveTaskInput) -> Outcome {
    let handle = ctx
        .engine
        .start_message_move_task(
            &ctx.caller,
            &i.source_arn,
            i.destination_arn.as_deref(),
            i.max_number_of_messages_per_second,
        )
        .await?;
    Ok(Response::StartMessageMoveTask(StartMessageMoveTaskOutput { task_handle: Some(handle) }))
}

pub async fn list_message_move_tasks(ctx: &Ctx<'_>, i: ListMessageMoveTasksInput) -> Outcome {
    let tasks = ctx.engine.list_message_move_tasks(&ctx.caller, &i.source_arn, i.max_results)?;
    let results = tasks
        .into_iter()
        .map(|t| ListMessageMoveTasksResultEntry {
            // AWS shows the handle only while the task can still be cancelled.
            task_handle: (t.status == TaskStatus::Running).then(|| t.handle()),
            status: Some(t.status.as_str().to_string()),
            source_arn: Some(t.source_arn),
            destination_arn: t.destination_arn,
            max_number_of_messages_per_second: t.max_per_second.map(i64::from),
            approximate_number_of_messages_moved: Some(t.moved as i64),
            approximate_number_of_messages_to_move: Some(t.to_move as i64),
            failure_reason: t.failure_reason.filter(|_| t.status == TaskStatus::Failed),
            started_timestamp: Some(t.started_at as i64),
        })
        .collect();
    Ok(Response::ListMessageMoveTasks(ListMessageMoveTasksOutput { results }))
}

pub async fn cancel_message_move_task(ctx: &Ctx<'_>, i: CancelMessageMoveTaskInput) -> Outcome {
    let moved = ctx.engine.cancel_message_move_task(&ctx.caller, &i.task_handle).await?;
    Ok(Response::CancelMessageMoveTask(CancelMessageMoveTaskOutput {
        approximate_number_of_messages_moved: Some(moved as i64),
    }))
}

use protocol::types::*;
use protocol::{ApiError, ErrorCode, Response};

use crate::dispatch::{Ctx, Failure, Outcome};

pub async fn create_queue(ctx: &Ctx<'_>, i: CreateQueueInput) -> Outcome {
    let queue =
        ctx.engine.create_queue(&i.queue_name, &i.attributes.unwrap_or_default(), &i.tags.unwrap_or_default()).await?;
    Ok(Response::QueueUrl(QueueUrlOutput { queue_url: ctx.queue_url(&queue.name) }))
}

pub async fn get_queue_url(ctx: &Ctx<'_>, i: GetQueueUrlInput) -> Outcome {
    if i.queue_owner_aws_account_id.as_deref().is_some_and(|a| a != ctx.account()) {
        return Err(Failure(ApiError::new(ErrorCode::QueueDoesNotExist, "The specified queue does not exist.")));
    }
    let queue = ctx.engine.queue(&i.queue_name)?;
    Ok(Response::QueueUrl(QueueUrlOutput { queue_url: ctx.queue_url(&queue.name) }))
}

pub async fn list_queues(ctx: &Ctx<'_>, i: ListQueuesInput) -> Outcome {
    let (names, next_token) =
        ctx.engine.list_queues(i.queue_name_prefix.as_deref(), i.max_results, i.next_token.as_deref())?;
    Ok(Response::ListQueues(ListQueuesOutput {
        queue_urls: names.iter().map(|n| ctx.queue_url(n)).collect(),
        next_token,
    }))
}

pub async fn delete_queue(ctx: &Ctx<'_>, i: QueueUrlInput) -> Outcome {
    ctx.engine.delete_queue(&ctx.queue_name(&i.queue_url)?).await?;
    Ok(Response::Empty)
}

pub async fn purge_queue(ctx: &Ctx<'_>, i: QueueUrlInput) -> Outcome {
    ctx.engine.purge_queue(&ctx.queue_name(&i.queue_url)?).await?;
    Ok(Response::Empty)
}

pub async fn get_queue_attributes(ctx: &Ctx<'_>, i: GetQueueAttributesInput) -> Outcome {
    let attrs = ctx.engine.get_queue_attributes(&ctx.queue_name(&i.queue_url)?, &i.attribute_names)?;
    Ok(Response::Attributes(AttributesOutput { attributes: attrs.into_iter().collect() }))
}

pub async fn set_queue_attributes(ctx: &Ctx<'_>, i: SetQueueAttributesInput) -> Outcome {
    ctx.engine.set_queue_attributes(&ctx.queue_name(&i.queue_url)?, &i.attributes).await?;
    Ok(Response::Empty)
}

use protocol::types::*;
use protocol::Response;

use crate::dispatch::{Ctx, Outcome};

pub async fn create_queue(ctx: &Ctx<'_>, i: CreateQueueInput) -> Outcome {
    let queue = ctx
        .engine
        .create_queue(&ctx.caller, &i.queue_name, &i.attributes.unwrap_or_default(), &i.tags.unwrap_or_default())
        .await?;
    Ok(Response::QueueUrl(QueueUrlOutput { queue_url: ctx.queue_url(&queue.id) }))
}

pub async fn get_queue_url(ctx: &Ctx<'_>, i: GetQueueUrlInput) -> Outcome {
    let owner = i.queue_owner_aws_account_id.as_deref().unwrap_or(&ctx.caller.account);
    let queue =
        ctx.engine.queue_for(&ctx.caller, &engine::QueueId::new(owner, &i.queue_name)).map_err(|e| match e {
            engine::Error::QueueDoesNotExist if owner != ctx.caller.account => engine::Error::QueueNotInAccount {
                name: i.queue_name.clone(),
                account: owner.to_string(),
                own_account: ctx.caller.account.clone(),
            },
            e => e,
        })?;
    Ok(Response::QueueUrl(QueueUrlOutput { queue_url: ctx.queue_url(&queue.id) }))
}

pub async fn list_queues(ctx: &Ctx<'_>, i: ListQueuesInput) -> Outcome {
    let (names, next_token) =
        ctx.engine.list_queues(&ctx.caller, i.queue_name_prefix.as_deref(), i.max_results, i.next_token.as_deref())?;
    Ok(Response::ListQueues(ListQueuesOutput {
        queue_urls: names.iter().map(|n| ctx.queue_url(n)).collect(),
        next_token,
    }))
}

pub async fn delete_queue(ctx: &Ctx<'_>, i: QueueUrlInput) -> Outcome {
    ctx.engine.delete_queue(&ctx.caller, &ctx.queue_id(&i.queue_url)?).await?;
    Ok(Response::Empty)
}

pub async fn purge_queue(ctx: &Ctx<'_>, i: QueueUrlInput) -> Outcome {
    ctx.engine.purge_queue(&ctx.caller, &ctx.queue_id(&i.queue_url)?).await?;
    Ok(Response::Empty)
}

pub async fn get_queue_attributes(ctx: &Ctx<'_>, i: GetQueueAttributesInput) -> Outcome {
    let attrs = ctx.engine.get_queue_attributes(&ctx.caller, &ctx.queue_id(&i.queue_url)?, &i.attribute_names)?;
    Ok(Response::Attributes(AttributesOutput { attributes: attrs.into_iter().collect() }))
}

pub async fn set_queue_attributes(ctx: &Ctx<'_>, i: SetQueueAttributesInput) -> Outcome {
    ctx.engine.set_queue_attributes(&ctx.caller, &ctx.queue_id(&i.queue_url)?, &i.attributes).await?;
    Ok(Response::Empty)
}

use protocol::types::*;
use protocol::Response;

use crate::dispatch::{Ctx, Outcome};

pub async fn tag_queue(ctx: &Ctx<'_>, i: TagQueueInput) -> Outcome {
    ctx.engine.tag_queue(&ctx.caller, &ctx.queue_id(&i.queue_url)?, &i.tags).await?;
    Ok(Response::Empty)
}

pub async fn untag_queue(ctx: &Ctx<'_>, i: UntagQueueInput) -> Outcome {
    ctx.engine.untag_queue(&ctx.caller, &ctx.queue_id(&i.queue_url)?, &i.tag_keys).await?;
    Ok(Response::Empty)
}

pub async fn list_queue_tags(ctx: &Ctx<'_>, i: QueueUrlInput) -> Outcome {
    let tags = ctx.engine.list_queue_tags(&ctx.caller, &ctx.queue_id(&i.queue_url)?)?;
    Ok(Response::ListQueueTags(ListQueueTagsOutput { tags }))
}

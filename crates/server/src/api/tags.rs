use protocol::types::*;
use protocol::Response;

use crate::dispatch::{Ctx, Outcome};

pub fn tag_queue(ctx: &Ctx, i: TagQueueInput) -> Outcome {
    ctx.engine.tag_queue(&ctx.queue_name(&i.queue_url)?, &i.tags)?;
    Ok(Response::Empty)
}

pub fn untag_queue(ctx: &Ctx, i: UntagQueueInput) -> Outcome {
    ctx.engine.untag_queue(&ctx.queue_name(&i.queue_url)?, &i.tag_keys)?;
    Ok(Response::Empty)
}

pub fn list_queue_tags(ctx: &Ctx, i: QueueUrlInput) -> Outcome {
    let tags = ctx.engine.list_queue_tags(&ctx.queue_name(&i.queue_url)?)?;
    Ok(Response::ListQueueTags(ListQueueTagsOutput { tags }))
}

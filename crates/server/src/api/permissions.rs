use protocol::types::*;
use protocol::Response;

use crate::dispatch::{Ctx, Outcome};

pub async fn add_permission(ctx: &Ctx<'_>, i: AddPermissionInput) -> Outcome {
    ctx.engine
        .add_permission(&ctx.caller, &ctx.queue_id(&i.queue_url)?, &i.label, &i.aws_account_ids, &i.actions)
        .await?;
    Ok(Response::Empty)
}

pub async fn remove_permission(ctx: &Ctx<'_>, i: RemovePermissionInput) -> Outcome {
    ctx.engine.remove_permission(&ctx.caller, &ctx.queue_id(&i.queue_url)?, &i.label).await?;
    Ok(Response::Empty)
}

use protocol::types::*;
use protocol::Response;

use crate::dispatch::{Ctx, Outcome};

pub fn add_permission(ctx: &Ctx, i: AddPermissionInput) -> Outcome {
    ctx.engine.add_permission(&ctx.queue_name(&i.queue_url)?, &i.label, &i.aws_account_ids, &i.actions)?;
    Ok(Response::Empty)
}

pub fn remove_permission(ctx: &Ctx, i: RemovePermissionInput) -> Outcome {
    ctx.engine.remove_permission(&ctx.queue_name(&i.queue_url)?, &i.label)?;
    Ok(Response::Empty)
}

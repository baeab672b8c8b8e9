//! One module per group of subcommands; `run` sends each to its own.

mod fix;
mod inspect;
mod list;
mod redrive;
mod tasks;
mod transfer;

use super::args::{Dlq, DlqCommand};
use super::client::Clients;
use super::error::CliError;

pub async fn run(dlq: Dlq) -> Result<(), CliError> {
    let c = Clients::new(&dlq.global).await?;
    match dlq.command {
        DlqCommand::List => list::list(&c).await,
        DlqCommand::Peek { queue, filter, limit } => inspect::peek(&c, &queue, &filter, limit).await,
        DlqCommand::Count { queue, filter } => inspect::count(&c, &queue, &filter).await,
        DlqCommand::Export { queue, filter, output, receive, hold } => {
            transfer::export(&c, &queue, &filter, output.as_deref(), receive.then_some(hold)).await
        }
        DlqCommand::Import { queue, file } => transfer::import(&c, &queue, file.as_deref()).await,
        DlqCommand::Redrive(args) => redrive::redrive(&c, &args).await,
        DlqCommand::Status { dlq, max, watch } => tasks::status(&c, &dlq, max, &watch).await,
        DlqCommand::Cancel { target } => tasks::cancel(&c, &target).await,
        DlqCommand::History { dlq, limit } => tasks::history(&c, dlq.as_deref(), limit).await,
        DlqCommand::Edit { queue, message_id, body, body_file, attributes, remove_attributes } => {
            let edit = fix::Edit { body, body_file, attributes, remove_attributes };
            fix::edit(&c, &queue, &message_id, edit).await
        }
        DlqCommand::Delete { queue, filter, dry_run } => fix::delete(&c, &queue, &filter, dry_run).await,
    }
}

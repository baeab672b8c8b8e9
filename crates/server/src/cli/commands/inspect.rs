//! `peek` and `count`: a queue's messages looked at without receiving them (the extension's
//! PeekMessages and CountMessages).

use serde_json::{json, Value};

use crate::cli::args::FilterArgs;
use crate::cli::client::Clients;
use crate::cli::error::CliError;
use crate::cli::filter::Filter;
use crate::cli::output;
use crate::cli::queue::QueueRef;

/// PeekMessages' largest page.
const PAGE: u64 = 50;

pub async fn peek(c: &Clients, queue: &str, args: &FilterArgs, limit: u64) -> Result<(), CliError> {
    let queue = QueueRef::parse(queue)?;
    let url = queue.url(c).await?;
    let filter = Filter::from_args(args, c).await?;
    let mut messages = Vec::new();
    let mut token: Option<String> = None;
    while (messages.len() as u64) < limit {
        let mut input =
            json!({ "QueueUrl": url, "MaxResults": PAGE.min(limit - messages.len() as u64), "Filter": filter.api });
        if let Some(t) = &token {
            input["NextToken"] = json!(t);
        }
        let mut page = c.extension.call("PeekMessages", &input).await?;
        if let Some(Value::Array(got)) = page.get_mut("Messages").map(Value::take) {
            messages.extend(got);
        }
        token = page.get("NextToken").and_then(Value::as_str).map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    if c.json {
        return output::json(&json!({ "Messages": messages }));
    }
    if messages.is_empty() {
        let what = if filter.is_empty() { "No messages" } else { "No matching messages" };
        return output::line(&format!("{what} in {}.", queue.display_name()));
    }
    messages_table(&messages)
}

/// Messages as PeekMessages shows them, one row each.
pub fn messages_table(messages: &[Value]) -> Result<(), CliError> {
    let rows = messages
        .iter()
        .map(|m| {
            let a = &m["Attributes"];
            vec![
                output::text(&m["MessageId"]),
                output::text(&m["State"]),
                output::time(output::ms_of(&a["SentTimestamp"])),
                output::time(output::ms_of(&m["DeadLetteredTimestamp"])),
                output::text(&a["ApproximateReceiveCount"]),
                output::text(&m["RedriveCount"]),
                a["DeadLetterQueueSourceArn"].as_str().map_or("-".into(), output::queue_name),
                output::short(m["Body"].as_str().unwrap_or_default(), 60),
            ]
        })
        .collect();
    output::table(&["MESSAGE ID", "STATE", "SENT", "DEAD-LETTERED", "RECEIVES", "REDRIVES", "SOURCE", "BODY"], rows)
}

pub async fn count(c: &Clients, queue: &str, args: &FilterArgs) -> Result<(), CliError> {
    let queue = QueueRef::parse(queue)?;
    let url = queue.url(c).await?;
    let filter = Filter::from_args(args, c).await?;
    let out = c.extension.call("CountMessages", &json!({ "QueueUrl": url, "Filter": filter.api })).await?;
    if c.json {
        return output::json(&out);
    }
    let (count, examined) = (output::text(&out["Count"]), output::text(&out["Examined"]));
    if filter.is_empty() {
        output::line(&format!("{count} messages in {}", queue.display_name()))
    } else {
        output::line(&format!("{count} of the {examined} messages in {} match", queue.display_name()))
    }
}

//! Fix and retry through the extension: UpdateMessage (a new body or attributes, where the
//! message is), DeleteMessages (the messages a filter takes), ExportMessages (pages of
//! messages with everything they carry, as JSON Lines' lines) and ImportMessages (those lines
//! put into a queue again).

use std::collections::BTreeMap;

use engine::message::{AttributeData, AttributeValue, Attributes};
use engine::{Imported, MessageFix, PeekOptions};
use protocol::types::MessageAttributeMap;
use protocol::ApiError;
use serde::Deserialize;
use serde_json::{json, Value};

use super::wire::{self, FilterInput};
use crate::api::messages::attributes_in;
use crate::dispatch::{Ctx, Failure};
use crate::errors::to_api;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateMessageInput {
    queue_url: String,
    message_id: String,
    body: Option<String>,
    message_attributes: Option<MessageAttributeMap>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DeleteMessagesInput {
    queue_url: String,
    filter: FilterInput,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ExportMessagesInput {
    queue_url: String,
    max_results: Option<i64>,
    next_token: Option<String>,
    filter: Option<FilterInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ImportMessagesInput {
    queue_url: String,
    messages: Vec<ExportedMessage>,
}

/// A line of an export, as `wire::peeked_json` wrote it; what it does not need is ignored, so
/// an export's lines go back as they are.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ExportedMessage {
    message_id: Option<String>,
    body: String,
    message_attributes: Option<MessageAttributeMap>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    dead_lettered_timestamp: Option<u64>,
    #[serde(default)]
    redrive_count: u32,
}

pub async fn update(ctx: &Ctx<'_>, i: UpdateMessageInput) -> Result<Value, ApiError> {
    let id = ctx.queue_id(&i.queue_url).map_err(|f: Failure| f.0)?;
    let attributes = i.message_attributes.map(|m| attributes_in(Some(m), "user")).transpose().map_err(|f| f.0)?;
    let fix = MessageFix { body: i.body, attributes };
    let fixed = ctx.engine.update_message(&ctx.caller, &id, &i.message_id, fix).await.map_err(|e| to_api(&e))?;
    let mut out = json!({ "MessageId": fixed.id, "MD5OfBody": fixed.md5_of_body });
    if let Some(md5) = fixed.md5_of_attributes {
        out["MD5OfMessageAttributes"] = json!(md5);
    }
    Ok(out)
}

pub async fn delete(ctx: &Ctx<'_>, i: DeleteMessagesInput) -> Result<Value, ApiError> {
    let id = ctx.queue_id(&i.queue_url).map_err(|f: Failure| f.0)?;
    let filter = i.filter.into_filter()?;
    let deleted = ctx.engine.delete_matching(&ctx.caller, &id, &filter).await.map_err(|e| to_api(&e))?;
    Ok(json!({ "Deleted": deleted }))
}

pub fn export(ctx: &Ctx<'_>, i: ExportMessagesInput) -> Result<Value, ApiError> {
    let id = ctx.queue_id(&i.queue_url).map_err(|f: Failure| f.0)?;
    let filter = i.filter.map(FilterInput::into_filter).transpose()?.unwrap_or_default();
    let options = PeekOptions { max_results: i.max_results, next_token: i.next_token, filter, export: true };
    let page = ctx.engine.peek_messages(&ctx.caller, &id, &options).map_err(|e| to_api(&e))?;
    let messages: Vec<Value> = page.messages.iter().map(wire::peeked_json).collect();
    let mut out = json!({ "Messages": messages });
    if let Some(t) = page.next_token {
        out["NextToken"] = json!(t);
    }
    Ok(out)
}

pub async fn import(ctx: &Ctx<'_>, i: ImportMessagesInput) -> Result<Value, ApiError> {
    let id = ctx.queue_id(&i.queue_url).map_err(|f: Failure| f.0)?;
    let mut messages = Vec::with_capacity(i.messages.len());
    for (n, m) in i.messages.into_iter().enumerate() {
        let attributes = attributes_in(m.message_attributes, "user")
            .map_err(|f| ApiError::invalid_parameter_value(format!("Messages[{n}]: {}", f.0.message)))?;
        let a = &m.attributes;
        let number = |name: &str| -> Result<Option<u64>, ApiError> {
            a.get(name)
                .map(|v| {
                    v.parse::<u64>().map_err(|_| {
                        ApiError::invalid_parameter_value(format!("Messages[{n}]: Attributes.{name} is not a number."))
                    })
                })
                .transpose()
        };
        let mut system_attributes = Attributes::new();
        if let Some(trace) = a.get("AWSTraceHeader") {
            let value = AttributeValue { data_type: "String".into(), value: AttributeData::String(trace.clone()) };
            system_attributes.insert("AWSTraceHeader".into(), value);
        }
        messages.push(Imported {
            message_id: m.message_id,
            body: m.body,
            attributes,
            system_attributes,
            group_id: a.get("MessageGroupId").cloned(),
            deduplication_id: a.get("MessageDeduplicationId").cloned(),
            sent_at: number("SentTimestamp")?,
            dead_letter_source_arn: a.get("DeadLetterQueueSourceArn").cloned(),
            dead_lettered_at: m.dead_lettered_timestamp,
            receive_count: number("ApproximateReceiveCount")?.unwrap_or(0) as u32,
            redrive_count: m.redrive_count,
        });
    }
    let imported = ctx.engine.import_messages(&ctx.caller, &id, messages).await.map_err(|e| to_api(&e))?;
    Ok(json!({ "Imported": imported }))
}

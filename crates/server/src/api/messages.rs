use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use engine::message::{self, AttributeData, AttributeValue, Attributes, NewMessage};
use engine::ReceiveOptions;
use engine::{check_system_attribute_names, message_system_attributes, select_message_attributes};
use protocol::types::*;
use protocol::{ApiError, Response};

use super::batch_failure;
use crate::dispatch::{Ctx, Failure, Outcome};
use crate::errors::to_api;

fn invalid(message: String) -> Failure {
    Failure(ApiError::invalid_parameter_value(message))
}

/// Wire attributes to domain attributes: the data type picks the value member; blobs arrive base64.
pub(crate) fn attributes_in(map: Option<MessageAttributeMap>, kind: &str) -> Result<Attributes, Failure> {
    let mut out = Attributes::new();
    for (name, v) in map.unwrap_or_default() {
        if !v.string_list_values.is_empty() || !v.binary_list_values.is_empty() {
            return Err(Failure(ApiError::new(
                protocol::ErrorCode::UnsupportedOperation,
                "Message attribute list values in SendMessage operation are not supported.",
            )));
        }
        let data_type = v.data_type.unwrap_or_default();
        if data_type.is_empty() {
            return Err(invalid(format!(
                "The message ({kind}) attribute '{name}' must contain a non-empty message attribute type."
            )));
        }
        let value = if data_type.starts_with("Binary") {
            let text = v.binary_value.unwrap_or_default();
            AttributeData::Binary(STANDARD.decode(text.as_bytes()).map_err(|_| {
                invalid(format!("The message ({kind}) attribute '{name}' has an invalid base64 binary value."))
            })?)
        } else {
            AttributeData::String(v.string_value.unwrap_or_default())
        };
        out.insert(name, AttributeValue { data_type, value });
    }
    Ok(out)
}

pub(crate) fn attributes_out(attrs: &Attributes) -> MessageAttributeMap {
    attrs
        .iter()
        .map(|(name, v)| {
            let mut w = MessageAttributeValue { data_type: Some(v.data_type.clone()), ..Default::default() };
            match &v.value {
                AttributeData::String(s) => w.string_value = Some(s.clone()),
                AttributeData::Binary(b) => w.binary_value = Some(STANDARD.encode(b)),
            }
            (name.clone(), w)
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn new_message(
    ctx: &Ctx<'_>,
    body: String,
    delay_seconds: Option<i64>,
    attributes: Option<MessageAttributeMap>,
    system_attributes: Option<MessageAttributeMap>,
    deduplication_id: Option<String>,
    group_id: Option<String>,
) -> Result<NewMessage, Failure> {
    Ok(NewMessage {
        body,
        delay_seconds,
        attributes: attributes_in(attributes, "user")?,
        system_attributes: attributes_in(system_attributes, "system")?,
        group_id,
        deduplication_id,
        trace_header: ctx.trace_header.clone(),
    })
}

pub async fn send_message(ctx: &Ctx<'_>, i: SendMessageInput) -> Outcome {
    let id = ctx.queue_id(&i.queue_url)?;
    let m = new_message(
        ctx,
        i.message_body,
        i.delay_seconds,
        i.message_attributes,
        i.message_system_attributes,
        i.message_deduplication_id,
        i.message_group_id,
    )?;
    let sent = ctx.engine.send_message(&ctx.caller, &id, m).await?;
    Ok(Response::SendMessage(SendMessageOutput {
        md5_of_message_body: sent.md5_of_body,
        md5_of_message_attributes: sent.md5_of_attributes,
        md5_of_message_system_attributes: sent.md5_of_system_attributes,
        message_id: sent.message_id,
        sequence_number: sent.sequence_number,
    }))
}

pub async fn send_message_batch(ctx: &Ctx<'_>, i: SendMessageBatchInput) -> Outcome {
    let queue = ctx.queue_id(&i.queue_url)?;
    let converted: Vec<(String, Result<NewMessage, Failure>)> = i
        .entries
        .into_iter()
        .map(|e| {
            let m = new_message(
                ctx,
                e.message_body,
                e.delay_seconds,
                e.message_attributes,
                e.message_system_attributes,
                e.message_deduplication_id,
                e.message_group_id,
            );
            (e.id, m)
        })
        .collect();
    // The engine applies the batch rules to the batch it is given. An entry whose attributes
    // the wire could not carry is set aside before it, yet the rules judge the batch as sent
    // (and before any entry): so then the engine's rules are applied here, to every id.
    if converted.iter().any(|(_, m)| m.is_err()) {
        engine::check_batch(converted.iter().map(|(id, _)| id.as_str()), "SendMessageBatchRequestEntry")?;
    }
    let mut out = SendMessageBatchOutput::default();
    let mut entries = Vec::with_capacity(converted.len());
    for (id, m) in converted {
        match m {
            Ok(m) => entries.push((id, m)),
            Err(f) => out.failed.push(batch_failure(id, &f.0)),
        }
    }
    if entries.is_empty() && !out.failed.is_empty() {
        return Ok(Response::SendMessageBatch(out));
    }
    for (id, result) in ctx.engine.send_message_batch(&ctx.caller, &queue, entries).await? {
        match result {
            Ok(sent) => out.successful.push(SendMessageBatchResultEntry {
                id,
                message_id: sent.message_id,
                md5_of_message_body: sent.md5_of_body,
                md5_of_message_attributes: sent.md5_of_attributes,
                md5_of_message_system_attributes: sent.md5_of_system_attributes,
                sequence_number: sent.sequence_number,
            }),
            Err(e) => out.failed.push(batch_failure(id, &to_api(&e))),
        }
    }
    Ok(Response::SendMessageBatch(out))
}

pub async fn receive_message(ctx: &Ctx<'_>, i: ReceiveMessageInput) -> Outcome {
    let id = ctx.queue_id(&i.queue_url)?;
    let mut names = i.attribute_names;
    names.extend(i.message_system_attribute_names);
    check_system_attribute_names(&names)?;
    let options = ReceiveOptions {
        max_messages: i.max_number_of_messages,
        visibility_timeout: i.visibility_timeout,
        wait_time_seconds: i.wait_time_seconds,
        attempt_id: i.receive_request_attempt_id,
    };
    let received = ctx.engine.receive_message(&ctx.caller, &id, options).await?;
    let messages = received
        .iter()
        .map(|r| {
            let selected = select_message_attributes(&r.content.attributes, &i.message_attribute_names);
            Message {
                message_id: r.content.id.clone(),
                receipt_handle: r.receipt_handle.clone(),
                md5_of_body: r.content.md5_of_body.clone(),
                body: r.content.body.clone(),
                attributes: message_system_attributes(r, &names),
                md5_of_message_attributes: message::md5_of_attributes(&selected),
                message_attributes: attributes_out(&selected),
            }
        })
        .collect();
    Ok(Response::ReceiveMessage(ReceiveMessageOutput { messages }))
}

pub async fn delete_message(ctx: &Ctx<'_>, i: DeleteMessageInput) -> Outcome {
    ctx.engine.delete_message(&ctx.caller, &ctx.queue_id(&i.queue_url)?, &i.receipt_handle).await?;
    Ok(Response::Empty)
}

pub async fn delete_message_batch(ctx: &Ctx<'_>, i: DeleteMessageBatchInput) -> Outcome {
    let id = ctx.queue_id(&i.queue_url)?;
    let entries: Vec<(String, String)> = i.entries.into_iter().map(|e| (e.id, e.receipt_handle)).collect();
    Ok(Response::IdBatch(id_batch(ctx.engine.delete_message_batch(&ctx.caller, &id, &entries).await?)))
}

pub async fn change_message_visibility(ctx: &Ctx<'_>, i: ChangeMessageVisibilityInput) -> Outcome {
    ctx.engine
        .change_message_visibility(&ctx.caller, &ctx.queue_id(&i.queue_url)?, &i.receipt_handle, i.visibility_timeout)
        .await?;
    Ok(Response::Empty)
}

pub async fn change_message_visibility_batch(ctx: &Ctx<'_>, i: ChangeMessageVisibilityBatchInput) -> Outcome {
    let id = ctx.queue_id(&i.queue_url)?;
    let entries: Vec<_> = i.entries.into_iter().map(|e| (e.id, e.receipt_handle, e.visibility_timeout)).collect();
    Ok(Response::IdBatch(id_batch(ctx.engine.change_message_visibility_batch(&ctx.caller, &id, &entries).await?)))
}

fn id_batch(results: Vec<(String, engine::Result<()>)>) -> IdBatchOutput {
    let mut out = IdBatchOutput::default();
    for (id, r) in results {
        match r {
            Ok(()) => out.successful.push(BatchResultIdEntry { id }),
            Err(e) => out.failed.push(batch_failure(id, &to_api(&e))),
        }
    }
    out
}

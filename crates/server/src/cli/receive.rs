//! What runs against SQS itself without the extension: one pass over a queue by
//! ReceiveMessage, each message hidden for `hold` seconds so the pass sees it once, and the
//! messages it keeps released again (visibility 0) at the end. Every message looked at counts
//! a receive (`ApproximateReceiveCount`), and a queue with a RedrivePolicy may dead-letter it.

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName,
};
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::client::Clients;
use super::error::CliError;

/// Empty answers in a row after which a queue that still shows visible messages is left
/// (another consumer took them, or SQS's short poll missed them).
const MAX_EMPTY: u32 = 5;

pub struct Pass<'a> {
    c: &'a Clients,
    url: String,
    hold: i32,
    held: Vec<String>,
    done: bool,
}

impl<'a> Pass<'a> {
    pub fn new(c: &'a Clients, url: &str, hold: i32) -> Pass<'a> {
        Pass { c, url: url.to_string(), hold, held: Vec::new(), done: false }
    }

    /// The next messages received (up to 10), or `None` once the queue shows none visible.
    pub async fn next(&mut self) -> Result<Option<Vec<Message>>, CliError> {
        let mut empty = 0;
        while !self.done {
            let got = self
                .c
                .sqs
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(10)
                .visibility_timeout(self.hold)
                .wait_time_seconds(0)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await?;
            let messages = got.messages.unwrap_or_default();
            if !messages.is_empty() {
                return Ok(Some(messages));
            }
            empty += 1;
            let attributes = self
                .c
                .sqs
                .get_queue_attributes()
                .queue_url(&self.url)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                .send()
                .await?;
            let visible = attributes
                .attributes
                .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages).and_then(|v| v.parse().ok()))
                .unwrap_or(0u64);
            if visible == 0 || empty >= MAX_EMPTY {
                self.done = true;
            }
        }
        Ok(None)
    }

    /// Keep this message hidden until `release`: it stays in the queue.
    pub fn keep(&mut self, message: &Message) {
        if let Some(r) = &message.receipt_handle {
            self.held.push(r.clone());
        }
    }

    /// Makes every kept message visible again at once.
    pub async fn release(self) -> Result<(), CliError> {
        for chunk in self.held.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        .visibility_timeout(0)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| CliError::input(e.to_string()))?;
            self.c.sqs.change_message_visibility_batch().queue_url(&self.url).set_entries(Some(entries)).send().await?;
        }
        Ok(())
    }
}

/// A received message in the shape of an export's line (ExportMessages), so filters, tables
/// and `import` take both alike.
pub fn as_exported(m: &Message) -> Value {
    let mut attributes = Map::new();
    for (k, v) in m.attributes.iter().flatten() {
        attributes.insert(k.as_str().to_string(), json!(v));
    }
    let mut out = json!({
        "MessageId": m.message_id,
        "Body": m.body.as_deref().unwrap_or_default(),
        "MD5OfBody": m.md5_of_body,
        "Attributes": attributes,
        "RedriveCount": 0,
    });
    if let Some(user) = m.message_attributes.as_ref().filter(|a| !a.is_empty()) {
        let mut map = Map::new();
        for (name, v) in user {
            let mut a = json!({ "DataType": v.data_type() });
            if let Some(s) = v.string_value() {
                a["StringValue"] = json!(s);
            }
            if let Some(b) = v.binary_value() {
                a["BinaryValue"] = json!(base64::engine::general_purpose::STANDARD.encode(b.as_ref()));
            }
            map.insert(name.clone(), a);
        }
        out["MessageAttributes"] = Value::Object(map);
        out["MD5OfMessageAttributes"] = json!(m.md5_of_message_attributes);
    }
    out
}

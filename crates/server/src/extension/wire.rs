//! The extension's JSON shapes for what the engine keeps as plain data: a message filter, a
//! task with Redrive's options and progress, a peeked message.

use engine::{
    message_system_attributes, AttributeTest, Canary, Halt, JsonTest, MessageFilter, Peeked, TaskRecord, TaskStatus,
    TimeRange,
};
use protocol::ApiError;
use serde::Deserialize;
use serde_json::{json, Value};

/// `Filter`, as the extension takes it (docs/extension-api.md).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct FilterInput {
    dead_letter_queue_source_arn: Option<String>,
    sent_after: Option<u64>,
    sent_before: Option<u64>,
    dead_lettered_after: Option<u64>,
    dead_lettered_before: Option<u64>,
    #[serde(default)]
    message_attributes: Vec<AttributeTestInput>,
    body_contains: Option<String>,
    #[serde(default)]
    body_json: Vec<JsonTestInput>,
    #[serde(default)]
    message_ids: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct AttributeTestInput {
    name: String,
    equals: Option<String>,
    exists: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct JsonTestInput {
    path: String,
    equals: Value,
}

impl FilterInput {
    pub fn into_filter(self) -> Result<MessageFilter, ApiError> {
        let mut attributes = Vec::with_capacity(self.message_attributes.len());
        for t in self.message_attributes {
            match (t.equals, t.exists) {
                (Some(v), None | Some(true)) => attributes.push(AttributeTest { name: t.name, equals: Some(v) }),
                (None, Some(true)) => attributes.push(AttributeTest { name: t.name, equals: None }),
                _ => {
                    return Err(ApiError::invalid_parameter_value(format!(
                        "Filter.MessageAttributes: the test of {:?} needs Equals (a value) or Exists: true.",
                        t.name
                    )))
                }
            }
        }
        Ok(MessageFilter {
            source_arn: self.dead_letter_queue_source_arn,
            sent: TimeRange { from: self.sent_after, to: self.sent_before },
            dead_lettered: TimeRange { from: self.dead_lettered_after, to: self.dead_lettered_before },
            attributes,
            body_contains: self.body_contains,
            body_json: self
                .body_json
                .into_iter()
                .map(|t| JsonTest { pointer: t.path, equals: t.equals.to_string() })
                .collect(),
            message_ids: self.message_ids,
        })
    }
}

/// A filter as a task shows it: the same shape the extension takes.
pub fn filter_json(f: &MessageFilter) -> Value {
    let mut out = json!({});
    let mut put = |key: &str, v: Value| {
        out[key] = v;
    };
    if let Some(arn) = &f.source_arn {
        put("DeadLetterQueueSourceArn", json!(arn));
    }
    for (key, v) in [
        ("SentAfter", f.sent.from),
        ("SentBefore", f.sent.to),
        ("DeadLetteredAfter", f.dead_lettered.from),
        ("DeadLetteredBefore", f.dead_lettered.to),
    ] {
        if let Some(v) = v {
            put(key, json!(v));
        }
    }
    if !f.attributes.is_empty() {
        let tests: Vec<Value> = f
            .attributes
            .iter()
            .map(|t| match &t.equals {
                Some(v) => json!({ "Name": t.name, "Equals": v }),
                None => json!({ "Name": t.name, "Exists": true }),
            })
            .collect();
        put("MessageAttributes", json!(tests));
    }
    if let Some(text) = &f.body_contains {
        put("BodyContains", json!(text));
    }
    if !f.body_json.is_empty() {
        let tests: Vec<Value> = f
            .body_json
            .iter()
            .map(|t| json!({ "Path": t.pointer, "Equals": serde_json::from_str::<Value>(&t.equals).unwrap_or(Value::Null) }))
            .collect();
        put("BodyJson", json!(tests));
    }
    if !f.message_ids.is_empty() {
        put("MessageIds", json!(f.message_ids));
    }
    out
}

/// A task: AWS's fields as ListMessageMoveTasks shows them, and Redrive's.
pub fn task_json(t: &TaskRecord) -> Value {
    let mut out = json!({
        "TaskHandle": t.handle(),
        "Status": t.status.as_str(),
        "SourceArn": t.source_arn,
        "ApproximateNumberOfMessagesMoved": t.moved,
        "ApproximateNumberOfMessagesToMove": t.to_move,
        "StartedTimestamp": t.started_at,
        "Stage": t.progress.stage.as_str(),
        "ApproximateNumberOfMessagesSkipped": t.progress.skipped,
        "ApproximateNumberOfMessagesFailedAgain": t.progress.failed_again,
        "FailedAgainMessageIds": t.progress.came_back,
    });
    if let Some(d) = &t.destination_arn {
        out["DestinationArn"] = json!(d);
    }
    if let Some(r) = t.max_per_second {
        out["MaxNumberOfMessagesPerSecond"] = json!(r);
    }
    if let (TaskStatus::Failed, Some(reason)) = (t.status, &t.failure_reason) {
        out["FailureReason"] = json!(reason);
    }
    if let Some(at) = t.progress.finished_at {
        out["FinishedTimestamp"] = json!(at);
    }
    let o = &t.options;
    if let Some(by) = &o.started_by {
        out["StartedBy"] = json!(by);
    }
    if let Some(f) = &o.filter {
        out["Filter"] = filter_json(f);
    }
    if let Some(Canary { size, timeout_ms }) = o.canary {
        out["Canary"] = json!({ "Size": size, "TimeoutSeconds": timeout_ms / 1000 });
        out["CanaryMessageIds"] = json!(t.progress.canary.iter().map(|m| &m.message_id).collect::<Vec<_>>());
    }
    if let Some(Halt { max_count, max_percent, window_ms }) = o.halt {
        let mut h = json!({ "WindowSeconds": window_ms / 1000 });
        if let Some(k) = max_count {
            h["MaxCount"] = json!(k);
        }
        if let Some(p) = max_percent {
            h["MaxPercent"] = json!(p);
        }
        out["Halt"] = h;
    }
    if let Some(max) = o.max_redrives {
        out["MaxRedrives"] = json!(max);
    }
    out
}

/// A message as a peek, a dry run or an export shows it (an export's line; an import takes it
/// back).
pub fn peeked_json(p: &Peeked) -> Value {
    let all = vec!["All".to_string()];
    let c = &p.message.content;
    let mut m = json!({
        "MessageId": c.id,
        "MD5OfBody": c.md5_of_body,
        "Body": c.body,
        "Attributes": message_system_attributes(&p.message, &all),
        "State": p.state.as_str(),
        "RedriveCount": c.redrives.as_ref().map_or(0, |r| r.count),
    });
    if let Some(at) = c.dead_lettered_at {
        m["DeadLetteredTimestamp"] = json!(at);
    }
    if !c.attributes.is_empty() {
        m["MessageAttributes"] = json!(crate::api::messages::attributes_out(&c.attributes));
        m["MD5OfMessageAttributes"] = json!(c.md5_of_attributes);
    }
    m
}

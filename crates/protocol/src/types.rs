//! Typed inputs and outputs of the 23 actions, shaped as the AWS JSON 1.0 protocol
//! shapes them (botocore sqs 2012-11-05). Both codecs decode into these types: JSON
//! directly, Query after `query::decode` has rebuilt the same JSON tree from its
//! flattened parameters.
//!
//! Blobs (`BinaryValue`) stay base64 text here; the server decodes them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub type StringMap = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct MessageAttributeValue {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_value: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub string_list_values: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binary_list_values: Vec<String>,
    #[serde(default)]
    pub data_type: Option<String>,
}

pub type MessageAttributeMap = BTreeMap<String, MessageAttributeValue>;

/// A batch's `Entries` sent as `null` or left out (over Query: no `…RequestEntry.N`
/// parameters) is an empty batch, which the engine's batch rules refuse.
fn absent_or_null_is_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

// ---- queues ----

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateQueueInput {
    pub queue_name: String,
    #[serde(default)]
    pub attributes: Option<StringMap>,
    #[serde(default, rename = "tags")]
    pub tags: Option<StringMap>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueueUrlOutput {
    pub queue_url: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetQueueUrlInput {
    pub queue_name: String,
    #[serde(default, rename = "QueueOwnerAWSAccountId")]
    pub queue_owner_aws_account_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ListQueuesInput {
    #[serde(default)]
    pub queue_name_prefix: Option<String>,
    #[serde(default)]
    pub next_token: Option<String>,
    #[serde(default)]
    pub max_results: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ListQueuesOutput {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queue_urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Input of every action that takes only a queue URL (DeleteQueue, PurgeQueue, ListQueueTags).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueueUrlInput {
    pub queue_url: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetQueueAttributesInput {
    pub queue_url: String,
    #[serde(default)]
    pub attribute_names: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct AttributesOutput {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: StringMap,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SetQueueAttributesInput {
    pub queue_url: String,
    pub attributes: StringMap,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagQueueInput {
    pub queue_url: String,
    pub tags: StringMap,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagQueueInput {
    pub queue_url: String,
    pub tag_keys: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ListQueueTagsOutput {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: StringMap,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddPermissionInput {
    pub queue_url: String,
    pub label: String,
    #[serde(rename = "AWSAccountIds")]
    pub aws_account_ids: Vec<String>,
    pub actions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RemovePermissionInput {
    pub queue_url: String,
    pub label: String,
}

// ---- messages ----

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendMessageInput {
    pub queue_url: String,
    pub message_body: String,
    #[serde(default)]
    pub delay_seconds: Option<i64>,
    #[serde(default)]
    pub message_attributes: Option<MessageAttributeMap>,
    #[serde(default)]
    pub message_system_attributes: Option<MessageAttributeMap>,
    #[serde(default)]
    pub message_deduplication_id: Option<String>,
    #[serde(default)]
    pub message_group_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct SendMessageOutput {
    #[serde(rename = "MD5OfMessageBody")]
    pub md5_of_message_body: String,
    #[serde(rename = "MD5OfMessageAttributes", default, skip_serializing_if = "Option::is_none")]
    pub md5_of_message_attributes: Option<String>,
    #[serde(rename = "MD5OfMessageSystemAttributes", default, skip_serializing_if = "Option::is_none")]
    pub md5_of_message_system_attributes: Option<String>,
    pub message_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendMessageBatchRequestEntry {
    pub id: String,
    pub message_body: String,
    #[serde(default)]
    pub delay_seconds: Option<i64>,
    #[serde(default)]
    pub message_attributes: Option<MessageAttributeMap>,
    #[serde(default)]
    pub message_system_attributes: Option<MessageAttributeMap>,
    #[serde(default)]
    pub message_deduplication_id: Option<String>,
    #[serde(default)]
    pub message_group_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendMessageBatchInput {
    pub queue_url: String,
    #[serde(default, deserialize_with = "absent_or_null_is_empty")]
    pub entries: Vec<SendMessageBatchRequestEntry>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct SendMessageBatchResultEntry {
    pub id: String,
    pub message_id: String,
    #[serde(rename = "MD5OfMessageBody")]
    pub md5_of_message_body: String,
    #[serde(rename = "MD5OfMessageAttributes", default, skip_serializing_if = "Option::is_none")]
    pub md5_of_message_attributes: Option<String>,
    #[serde(rename = "MD5OfMessageSystemAttributes", default, skip_serializing_if = "Option::is_none")]
    pub md5_of_message_system_attributes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct BatchResultErrorEntry {
    pub id: String,
    pub sender_fault: bool,
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// AWS leaves out an empty list (docs/aws-reference.md §1.1); the SDKs default it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct SendMessageBatchOutput {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub successful: Vec<SendMessageBatchResultEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<BatchResultErrorEntry>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReceiveMessageInput {
    pub queue_url: String,
    #[serde(default)]
    pub attribute_names: Vec<String>,
    #[serde(default)]
    pub message_system_attribute_names: Vec<String>,
    #[serde(default)]
    pub message_attribute_names: Vec<String>,
    #[serde(default)]
    pub max_number_of_messages: Option<i64>,
    #[serde(default)]
    pub visibility_timeout: Option<i64>,
    #[serde(default)]
    pub wait_time_seconds: Option<i64>,
    #[serde(default)]
    pub receive_request_attempt_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Message {
    pub message_id: String,
    pub receipt_handle: String,
    #[serde(rename = "MD5OfBody")]
    pub md5_of_body: String,
    pub body: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: StringMap,
    #[serde(rename = "MD5OfMessageAttributes", default, skip_serializing_if = "Option::is_none")]
    pub md5_of_message_attributes: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub message_attributes: MessageAttributeMap,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ReceiveMessageOutput {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<Message>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteMessageInput {
    pub queue_url: String,
    pub receipt_handle: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteMessageBatchRequestEntry {
    pub id: String,
    pub receipt_handle: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteMessageBatchInput {
    pub queue_url: String,
    #[serde(default, deserialize_with = "absent_or_null_is_empty")]
    pub entries: Vec<DeleteMessageBatchRequestEntry>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct BatchResultIdEntry {
    pub id: String,
}

/// Output of DeleteMessageBatch and ChangeMessageVisibilityBatch.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct IdBatchOutput {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub successful: Vec<BatchResultIdEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<BatchResultErrorEntry>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChangeMessageVisibilityInput {
    pub queue_url: String,
    pub receipt_handle: String,
    pub visibility_timeout: i64,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChangeMessageVisibilityBatchRequestEntry {
    pub id: String,
    pub receipt_handle: String,
    #[serde(default)]
    pub visibility_timeout: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChangeMessageVisibilityBatchInput {
    pub queue_url: String,
    #[serde(default, deserialize_with = "absent_or_null_is_empty")]
    pub entries: Vec<ChangeMessageVisibilityBatchRequestEntry>,
}

// ---- dead-letter queues and move tasks ----

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListDeadLetterSourceQueuesInput {
    pub queue_url: String,
    #[serde(default)]
    pub next_token: Option<String>,
    #[serde(default)]
    pub max_results: Option<i64>,
}

/// The JSON member is `queueUrls`, lowercase, unlike every other list (botocore model).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
pub struct ListDeadLetterSourceQueuesOutput {
    #[serde(rename = "queueUrls", default, skip_serializing_if = "Vec::is_empty")]
    pub queue_urls: Vec<String>,
    #[serde(rename = "NextToken", default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartMessageMoveTaskInput {
    pub source_arn: String,
    #[serde(default)]
    pub destination_arn: Option<String>,
    #[serde(default)]
    pub max_number_of_messages_per_second: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct StartMessageMoveTaskOutput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_handle: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CancelMessageMoveTaskInput {
    pub task_handle: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct CancelMessageMoveTaskOutput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approximate_number_of_messages_moved: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListMessageMoveTasksInput {
    pub source_arn: String,
    #[serde(default)]
    pub max_results: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ListMessageMoveTasksResultEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_handle: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_number_of_messages_per_second: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approximate_number_of_messages_moved: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approximate_number_of_messages_to_move: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_timestamp: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ListMessageMoveTasksOutput {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<ListMessageMoveTasksResultEntry>,
}

/// A decoded request: one variant per action.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    AddPermission(AddPermissionInput),
    CancelMessageMoveTask(CancelMessageMoveTaskInput),
    ChangeMessageVisibility(ChangeMessageVisibilityInput),
    ChangeMessageVisibilityBatch(ChangeMessageVisibilityBatchInput),
    CreateQueue(CreateQueueInput),
    DeleteMessage(DeleteMessageInput),
    DeleteMessageBatch(DeleteMessageBatchInput),
    DeleteQueue(QueueUrlInput),
    GetQueueAttributes(GetQueueAttributesInput),
    GetQueueUrl(GetQueueUrlInput),
    ListDeadLetterSourceQueues(ListDeadLetterSourceQueuesInput),
    ListMessageMoveTasks(ListMessageMoveTasksInput),
    ListQueueTags(QueueUrlInput),
    ListQueues(ListQueuesInput),
    PurgeQueue(QueueUrlInput),
    ReceiveMessage(ReceiveMessageInput),
    RemovePermission(RemovePermissionInput),
    SendMessage(SendMessageInput),
    SendMessageBatch(SendMessageBatchInput),
    SetQueueAttributes(SetQueueAttributesInput),
    StartMessageMoveTask(StartMessageMoveTaskInput),
    TagQueue(TagQueueInput),
    UntagQueue(UntagQueueInput),
}

/// A response body before encoding. `Empty` is an action without output members.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    Empty,
    QueueUrl(QueueUrlOutput),
    ListQueues(ListQueuesOutput),
    Attributes(AttributesOutput),
    ListQueueTags(ListQueueTagsOutput),
    SendMessage(SendMessageOutput),
    SendMessageBatch(SendMessageBatchOutput),
    ReceiveMessage(ReceiveMessageOutput),
    IdBatch(IdBatchOutput),
    ListDeadLetterSourceQueues(ListDeadLetterSourceQueuesOutput),
    StartMessageMoveTask(StartMessageMoveTaskOutput),
    CancelMessageMoveTask(CancelMessageMoveTaskOutput),
    ListMessageMoveTasks(ListMessageMoveTasksOutput),
}

impl Response {
    /// Actions without output members answer with an empty body.
    pub fn is_empty(&self) -> bool {
        matches!(self, Response::Empty)
    }

    /// This output as the JSON protocol's body, serialized straight from the output type (no
    /// intermediate tree: a receive of ten 1 KiB bodies would copy every body into it).
    pub fn to_json(&self) -> Vec<u8> {
        // These types hold only strings, integers, booleans, lists and string-keyed maps,
        // which always serialize.
        serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec())
    }

    /// The JSON tree of this output (the Query protocol renders it as XML).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// An output serializes as its members; `Empty` as an object without any.
impl Serialize for Response {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Response::Empty => serde::ser::SerializeMap::end(s.serialize_map(Some(0))?),
            Response::QueueUrl(o) => o.serialize(s),
            Response::ListQueues(o) => o.serialize(s),
            Response::Attributes(o) => o.serialize(s),
            Response::ListQueueTags(o) => o.serialize(s),
            Response::SendMessage(o) => o.serialize(s),
            Response::SendMessageBatch(o) => o.serialize(s),
            Response::ReceiveMessage(o) => o.serialize(s),
            Response::IdBatch(o) => o.serialize(s),
            Response::ListDeadLetterSourceQueues(o) => o.serialize(s),
            Response::StartMessageMoveTask(o) => o.serialize(s),
            Response::CancelMessageMoveTask(o) => o.serialize(s),
            Response::ListMessageMoveTasks(o) => o.serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_body_says_what_the_tree_says() {
        let attr = MessageAttributeValue {
            string_value: Some("v \"quoted\" \u{1F600}".into()),
            binary_value: None,
            string_list_values: Vec::new(),
            binary_list_values: Vec::new(),
            data_type: Some("String".into()),
        };
        let message = Message {
            message_id: "id".into(),
            receipt_handle: "rh".into(),
            md5_of_body: "md5".into(),
            body: "line\nbreak\ttab <&>".into(),
            attributes: BTreeMap::from([("ApproximateReceiveCount".to_string(), "3".to_string())]),
            md5_of_message_attributes: Some("amd5".into()),
            message_attributes: BTreeMap::from([("a".to_string(), attr)]),
        };
        for out in [
            Response::Empty,
            Response::ReceiveMessage(ReceiveMessageOutput { messages: vec![message.clone(), message] }),
            Response::ReceiveMessage(ReceiveMessageOutput { messages: Vec::new() }),
            Response::SendMessage(SendMessageOutput {
                md5_of_message_body: "m".into(),
                md5_of_message_attributes: None,
                md5_of_message_system_attributes: None,
                message_id: "id".into(),
                sequence_number: Some("18000000000000000001".into()),
            }),
        ] {
            let direct: serde_json::Value = serde_json::from_slice(&out.to_json()).unwrap();
            assert_eq!(direct, out.to_value(), "{out:?}");
        }
        assert_eq!(Response::Empty.to_json(), b"{}");
        assert_eq!(Response::Empty.to_value(), serde_json::json!({}));
    }
}

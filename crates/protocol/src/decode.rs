//! From a request's JSON tree (sent as JSON, or rebuilt from Query parameters) to a typed `Request`.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::action::Action;
use crate::error::{ApiError, ErrorCode};
use crate::types::Request;

fn typed<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| serde_error(&e.to_string()))
}

/// serde names a missing member as "missing field `Name`"; AWS answers MissingParameter.
fn serde_error(text: &str) -> ApiError {
    if let Some(rest) = text.strip_prefix("missing field `") {
        if let Some(name) = rest.split('`').next() {
            // Recorded against AWS (docs/aws-reference.md §2.2): a missing QueueUrl is a
            // missing queue, a missing QueueName an invalid value.
            return match name {
                "QueueUrl" => ApiError::queue_does_not_exist(),
                "QueueName" => ApiError::invalid_parameter_value(
                    "Value for parameter QueueName is invalid. Reason: Must specify a queue name.",
                ),
                _ => ApiError::missing_parameter(name),
            };
        }
    }
    ApiError::new(ErrorCode::SerializationException, coral_message(text))
}

/// AWS's (Coral's) words for a member of the wrong JSON type, where they are known
/// (docs/aws-reference.md §2.1); serde's own description otherwise.
fn coral_message(serde_text: &str) -> String {
    let integer_expected =
        ["expected i64", "expected i32", "expected u64", "expected u32"].iter().any(|e| serde_text.contains(e));
    if serde_text.starts_with("invalid type: string") && integer_expected {
        "STRING_VALUE can not be converted to an Integer".into()
    } else if serde_text.starts_with("invalid type: map") {
        "Start of structure or map found where not expected.".into()
    } else if serde_text.starts_with("invalid type: sequence") {
        "Start of list found where not expected".into()
    } else {
        serde_text.to_string()
    }
}

/// Decode the JSON tree of one action's input. A body that is not an object is a
/// serialization error; `null` (no body at all) counts as `{}`.
pub fn decode(action: Action, value: Value) -> Result<Request, ApiError> {
    let value = match value {
        Value::Null => Value::Object(Default::default()),
        v @ Value::Object(_) => v,
        other => {
            return Err(ApiError::new(
                ErrorCode::SerializationException,
                format!("Start of structure or map found where not expected: {other}"),
            ))
        }
    };
    use Action as A;
    use Request as R;
    Ok(match action {
        A::AddPermission => R::AddPermission(typed(value)?),
        A::CancelMessageMoveTask => R::CancelMessageMoveTask(typed(value)?),
        A::ChangeMessageVisibility => R::ChangeMessageVisibility(typed(value)?),
        A::ChangeMessageVisibilityBatch => R::ChangeMessageVisibilityBatch(typed(value)?),
        A::CreateQueue => R::CreateQueue(typed(value)?),
        A::DeleteMessage => R::DeleteMessage(typed(value)?),
        A::DeleteMessageBatch => R::DeleteMessageBatch(typed(value)?),
        A::DeleteQueue => R::DeleteQueue(typed(value)?),
        A::GetQueueAttributes => R::GetQueueAttributes(typed(value)?),
        A::GetQueueUrl => R::GetQueueUrl(typed(value)?),
        A::ListDeadLetterSourceQueues => R::ListDeadLetterSourceQueues(typed(value)?),
        A::ListMessageMoveTasks => R::ListMessageMoveTasks(typed(value)?),
        A::ListQueueTags => R::ListQueueTags(typed(value)?),
        A::ListQueues => R::ListQueues(typed(value)?),
        A::PurgeQueue => R::PurgeQueue(typed(value)?),
        A::ReceiveMessage => R::ReceiveMessage(typed(value)?),
        A::RemovePermission => R::RemovePermission(typed(value)?),
        A::SendMessage => R::SendMessage(typed(value)?),
        A::SendMessageBatch => R::SendMessageBatch(typed(value)?),
        A::SetQueueAttributes => R::SetQueueAttributes(typed(value)?),
        A::StartMessageMoveTask => R::StartMessageMoveTask(typed(value)?),
        A::TagQueue => R::TagQueue(typed(value)?),
        A::UntagQueue => R::UntagQueue(typed(value)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_missing_required_member_is_missing_parameter() {
        let err = decode(Action::SendMessage, json!({"QueueUrl": "u"})).unwrap_err();
        assert_eq!(err.code, ErrorCode::MissingParameter);
        assert_eq!(err.message, "The request must contain the parameter MessageBody.");
    }

    #[test]
    fn a_wrong_type_is_a_serialization_error() {
        let err = decode(Action::ReceiveMessage, json!({"QueueUrl": "u", "MaxNumberOfMessages": "ten"})).unwrap_err();
        assert_eq!(err.code, ErrorCode::SerializationException);
        // AWS's words (reported from AWS; the other two as a peer copied them).
        assert_eq!(err.message, "STRING_VALUE can not be converted to an Integer");
        let err = decode(Action::SendMessage, json!({"QueueUrl": "u", "MessageBody": {"a": 1}})).unwrap_err();
        assert_eq!(err.message, "Start of structure or map found where not expected.");
        let err = decode(Action::SendMessage, json!({"QueueUrl": "u", "MessageBody": ["a"]})).unwrap_err();
        assert_eq!(err.message, "Start of list found where not expected");
    }

    #[test]
    fn a_batch_without_entries_decodes_as_an_empty_batch_for_the_engine_to_refuse() {
        for value in [json!({"QueueUrl": "u"}), json!({"QueueUrl": "u", "Entries": null})] {
            let Request::DeleteMessageBatch(input) = decode(Action::DeleteMessageBatch, value).unwrap() else {
                panic!("a DeleteMessageBatch request")
            };
            assert!(input.entries.is_empty());
        }
    }

    #[test]
    fn a_missing_queue_url_is_a_missing_queue() {
        let err = decode(Action::SendMessage, json!({"MessageBody": "b"})).unwrap_err();
        assert_eq!(err, ApiError::new(ErrorCode::QueueDoesNotExist, "The specified queue does not exist."));
    }

    #[test]
    fn no_body_decodes_like_an_empty_object() {
        assert_eq!(decode(Action::ListQueues, Value::Null).unwrap(), Request::ListQueues(Default::default()));
    }
}

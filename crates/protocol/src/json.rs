//! The AWS JSON 1.0 protocol: `X-Amz-Target: AmazonSQS.<Action>`, JSON bodies both ways.

use serde_json::{json, Value};

use crate::action::Action;
use crate::error::{ApiError, ErrorCode};

pub const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
pub const TARGET_PREFIX: &str = "AmazonSQS.";

/// The action named by an `X-Amz-Target` header value.
pub fn action_from_target(target: &str) -> Result<Action, ApiError> {
    target
        .strip_prefix(TARGET_PREFIX)
        .and_then(Action::from_name)
        .ok_or_else(|| ApiError::not_valid_for_endpoint(ErrorCode::UnknownOperation, target))
}

/// Parse a request body; an empty body is an empty input.
pub fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| {
        let text = e.to_string();
        // A `\uD800`-style escape with no partner (a string cut inside an emoji) is valid JSON
        // text for AWS's parser, and the character is outside the body's allowed set.
        if text.contains("surrogate") || text.contains("hex escape") {
            ApiError::invalid_message_contents()
        } else {
            ApiError::new(ErrorCode::SerializationException, format!("Could not parse request body: {text}"))
        }
    })
}

pub fn encode_response(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec())
}

/// The body of a JSON error; the caller adds the status and the `x-amzn-query-error` header.
pub fn encode_error(err: &ApiError) -> Vec<u8> {
    let info = err.code.info();
    encode_response(&json!({ "__type": info.json_type, "message": err.message }))
}

/// Value of the `x-amzn-query-error` header, from which SDKs read the legacy error code.
pub fn query_error_header(err: &ApiError) -> String {
    let info = err.code.info();
    format!("{};{}", info.query_code, if info.sender_fault { "Sender" } else { "Receiver" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_surrogate_escape_is_an_invalid_character_not_malformed_json() {
        for body in [r#"{"MessageBody":"ab\ud800cd"}"#, r#"{"MessageBody":"\udc00"}"#, r#"{"MessageBody":"\ud800"}"#] {
            assert_eq!(parse_body(body.as_bytes()).unwrap_err().code, ErrorCode::InvalidMessageContents, "{body}");
        }
        assert!(parse_body(r#"{"MessageBody":"\ud83d\ude00"}"#.as_bytes()).is_ok(), "a proper pair is an emoji");
        assert_eq!(parse_body(b"{").unwrap_err().code, ErrorCode::SerializationException);
    }

    #[test]
    fn target_names_the_action() {
        assert_eq!(action_from_target("AmazonSQS.SendMessage").unwrap(), Action::SendMessage);
        assert_eq!(action_from_target("AmazonSQS.Nope").unwrap_err().code, ErrorCode::UnknownOperation);
        assert_eq!(action_from_target("SendMessage").unwrap_err().code, ErrorCode::UnknownOperation);
    }

    #[test]
    fn only_a_query_caller_is_told_of_the_wsdl_version() {
        let e = ApiError::queue_does_not_exist();
        let v: Value = serde_json::from_slice(&encode_error(&e)).unwrap();
        assert_eq!(v["message"], "The specified queue does not exist.");
        let q = crate::query::encode_error_json(&e, "rid");
        assert_eq!(q["Error"]["Message"], "The specified queue does not exist for this wsdl version.");
    }

    #[test]
    fn a_query_caller_gets_the_servers_longer_no_such_queue_message_as_it_is() {
        let e = ApiError::new(ErrorCode::QueueDoesNotExist, "The specified queue q does not exist in account 1.");
        let q = crate::query::encode_error_json(&e, "rid");
        assert_eq!(q["Error"]["Message"], "The specified queue q does not exist in account 1.");
        assert_eq!(q["Error"]["Code"], "AWS.SimpleQueueService.NonExistentQueue");
    }

    #[test]
    fn errors_carry_type_message_and_legacy_code() {
        let e = ApiError::new(ErrorCode::QueueDoesNotExist, "The specified queue does not exist.");
        let v: Value = serde_json::from_slice(&encode_error(&e)).unwrap();
        assert_eq!(v["__type"], "com.amazonaws.sqs#QueueDoesNotExist");
        assert_eq!(v["message"], "The specified queue does not exist.");
        assert_eq!(query_error_header(&e), "AWS.SimpleQueueService.NonExistentQueue;Sender");
    }
}

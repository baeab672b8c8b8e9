//! The AWS Query protocol: form-encoded (or query-string) parameters in, XML out.
//! (Being written: see the helper's note in the module when it lands.)

use serde_json::Value;

use crate::action::Action;
use crate::error::ApiError;

/// XML namespace of every Query response.
pub const XMLNS: &str = "http://queue.amazonaws.com/doc/2012-11-05/";

/// Rebuild the JSON input tree of `action` from flattened Query parameters
/// (`Attribute.1.Name`, `SendMessageBatchRequestEntry.2.Id`, …).
pub fn decode(action: Action, params: &[(String, String)]) -> Result<Value, ApiError> {
    let _ = action;
    let mut map = serde_json::Map::new();
    for (k, v) in params {
        map.insert(k.clone(), Value::String(v.clone()));
    }
    Ok(Value::Object(map))
}

/// `<{Action}Response><{Action}Result>…</{Action}Result><ResponseMetadata>…` for a JSON output tree.
pub fn encode_response(action: Action, output: &Value, request_id: &str) -> String {
    let _ = output;
    format!(
        "<?xml version=\"1.0\"?><{a}Response xmlns=\"{XMLNS}\"><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{a}Response>",
        a = action.name()
    )
}

/// `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>`.
pub fn encode_error(err: &ApiError, request_id: &str) -> String {
    let info = err.code.info();
    format!(
        "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>{}</Type><Code>{}</Code><Message>{}</Message><Detail/></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        if info.sender_fault { "Sender" } else { "Receiver" },
        info.query_code,
        err.message
    )
}

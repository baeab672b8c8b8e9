//! The Query XML writer: any output tree (the JSON after the first byte, or the tree a Query
//! form decodes to) of any action (the first byte), any request id, and any error message
//! render as one well-formed document that parses back with quick-xml, the request id and the
//! message as given (characters XML cannot hold as U+FFFD).
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::{query, Action, ApiError, ErrorCode};
use redrive_fuzz::{as_written, parse_back, text_of};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let action = Action::ALL[pick as usize % Action::ALL.len()];
    let text = String::from_utf8_lossy(rest);
    // The text itself, as a request id and as an error's message.
    let texts = parse_back(&query::encode_response(action, &serde_json::Value::Null, &text));
    assert_eq!(text_of(&texts, "RequestId"), as_written(&text));
    let err = ApiError::new(ErrorCode::InvalidParameterValue, text.as_ref());
    let texts = parse_back(&query::encode_error(&err, "rid"));
    assert_eq!(text_of(&texts, "Message"), as_written(&text));
    // The text as an output tree: JSON, else the tree its Query form decodes to.
    let tree = match serde_json::from_slice::<serde_json::Value>(rest) {
        Ok(tree) => tree,
        Err(_) => match query::decode(action, &query::parse_params(rest)) {
            Ok(tree) => tree,
            Err(_) => return,
        },
    };
    parse_back(&query::encode_response(action, &tree, "rid"));
    // A typed output's tree, where the text is one.
    if let Ok(url) = serde_json::from_value::<protocol::types::QueueUrlOutput>(tree) {
        let value = protocol::Response::QueueUrl(url.clone()).to_value();
        let texts = parse_back(&query::encode_response(Action::GetQueueUrl, &value, "rid"));
        assert_eq!(text_of(&texts, "QueueUrl"), as_written(&url.queue_url));
    }
});

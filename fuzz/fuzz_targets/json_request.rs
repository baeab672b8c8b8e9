//! JSON 1.0 request decoding: `X-Amz-Target` on the first line, the body after it. Decoding
//! never panics; an error renders as a JSON body and as well-formed Query XML.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::{json, query, Action};

fuzz_target!(|data: &[u8]| {
    let (target, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let target = String::from_utf8_lossy(target);
    // An unknown target is refused; its body still goes through a real action's decoding.
    let action = json::action_from_target(&target).unwrap_or_else(|err| {
        check_error(&err);
        Action::ALL[body.first().map_or(0, |b| *b as usize) % Action::ALL.len()]
    });
    let decoded = json::parse_body(body).and_then(|tree| protocol::decode(action, tree));
    if let Err(err) = decoded {
        check_error(&err);
    }
});

fn check_error(err: &protocol::ApiError) {
    let body: serde_json::Value = serde_json::from_slice(&json::encode_error(err)).expect("an error body is JSON");
    assert_eq!(body["message"], err.message.as_str());
    let texts = redrive_fuzz::parse_back(&query::encode_error(err, "rid"));
    assert_eq!(redrive_fuzz::text_of(&texts, "Message"), redrive_fuzz::as_written(err.query_message()));
}

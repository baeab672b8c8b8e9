//! Query request decoding: the form body (the first byte picks the action) → the JSON tree →
//! the typed request. Never panics, and the tree decodes exactly as the same tree sent over
//! JSON does: the two protocols share one set of types.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::{json, query, Action};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, form)) = data.split_first() else { return };
    let action = Action::ALL[pick as usize % Action::ALL.len()];
    let params = query::parse_params(form);
    let tree = match query::decode(action, &params) {
        Ok(tree) => tree,
        Err(err) => {
            redrive_fuzz::parse_back(&query::encode_error(&err, "rid"));
            return;
        }
    };
    let over_json = json::parse_body(&json::encode_response(&tree)).expect("the tree's own JSON parses");
    assert_eq!(over_json, tree);
    let typed = protocol::decode(action, tree.clone());
    assert_eq!(typed, protocol::decode(action, over_json), "{tree}");
    if let Err(err) = typed {
        redrive_fuzz::parse_back(&query::encode_error(&err, "rid"));
    }
});

//! The policy documents a queue takes: RedrivePolicy, RedriveAllowPolicy and Policy. Parsing
//! never panics; a RedrivePolicy or RedriveAllowPolicy that parses parses again, to the same
//! value, from the text GetQueueAttributes returns; a Policy that validates is judged, takes an
//! AddPermission statement (the result still valid) and gives it back on RemovePermission.
#![no_main]

use engine::fuzzing::{
    add_statement, permits, remove_statement, validate, verdict, AccessRequest, RedriveAllowPolicy, RedrivePolicy,
};
use libfuzzer_sys::fuzz_target;

const ARN: &str = "arn:aws:sqs:us-east-1:000000000000:q";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(policy) = RedrivePolicy::parse(&text) {
        assert_eq!(RedrivePolicy::parse(&policy.to_json()).ok(), Some(policy));
    }
    if let Ok(allow) = RedriveAllowPolicy::parse(&text) {
        let again = RedriveAllowPolicy::parse(allow.to_json()).expect("its own text parses");
        assert_eq!(again.permission(), allow.permission());
        allow.allows(ARN);
    }
    for account in ["000000000000", "111122223333"] {
        let request = AccessRequest {
            action: "SendMessage",
            resource: ARN,
            owner: "000000000000",
            account,
            source_ip: Some([10, 1, 2, 3].into()),
            secure_transport: true,
            now: 1_765_000_000_000,
        };
        verdict(&text, &request);
        permits(Some(&text), &request);
    }
    if validate(&text).is_ok() {
        let added = add_statement(Some(&text), ARN, "fuzz", &["111122223333".into()], &["SendMessage".into()]);
        if let Ok(added) = added {
            validate(&added).expect("a valid policy with one more statement is valid");
            let removed = remove_statement(Some(&added), "fuzz").expect("the statement just added is removed");
            if let Some(removed) = removed {
                let _ = validate(&removed);
            }
        }
    }
    let _ = remove_statement(Some(&text), "fuzz");
});

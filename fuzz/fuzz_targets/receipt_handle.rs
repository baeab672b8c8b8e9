//! Receipt handles: any string decodes or is refused without a panic; a handle that decodes
//! is the one encoding gives those values (one spelling per handle); and any values encode
//! to a handle that decodes back to them.
#![no_main]

use engine::fuzzing::ReceiptHandle;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(handle) = ReceiptHandle::decode(&text) {
        assert_eq!(handle.encode(), text, "a second spelling of {handle:?}");
    }
    let mut words = data.chunks(8).map(|c| {
        let mut b = [0u8; 8];
        b[..c.len()].copy_from_slice(c);
        u64::from_le_bytes(b)
    });
    let handle = ReceiptHandle {
        queue_uid: words.next().unwrap_or(0),
        seq: words.next().unwrap_or(0),
        nonce: words.next().unwrap_or(0),
    };
    assert_eq!(ReceiptHandle::decode(&handle.encode()), Some(handle));
});

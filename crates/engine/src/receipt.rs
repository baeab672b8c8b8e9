//! Receipt handles: opaque to clients, they name the queue incarnation, the message and
//! the receive that issued them, so a handle from an earlier receive can be told apart.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

const VERSION: u8 = 1;
const LEN: usize = 1 + 8 + 8 + 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptHandle {
    pub queue_uid: u64,
    pub seq: u64,
    /// Which receive of the message issued the handle.
    pub nonce: u64,
}

impl ReceiptHandle {
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(LEN);
        bytes.push(VERSION);
        bytes.extend_from_slice(&self.queue_uid.to_be_bytes());
        bytes.extend_from_slice(&self.seq.to_be_bytes());
        bytes.extend_from_slice(&self.nonce.to_be_bytes());
        // AWS handles start "AQEB"; the prefix keeps ours recognisable in logs.
        format!("AQEB{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn decode(text: &str) -> Option<ReceiptHandle> {
        let bytes = URL_SAFE_NO_PAD.decode(text.strip_prefix("AQEB")?).ok()?;
        if bytes.len() != LEN || bytes.first() != Some(&VERSION) {
            return None;
        }
        let word =
            |i: usize| -> Option<u64> { Some(u64::from_be_bytes(bytes.get(1 + 8 * i..9 + 8 * i)?.try_into().ok()?)) };
        Some(ReceiptHandle { queue_uid: word(0)?, seq: word(1)?, nonce: word(2)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handle_round_trips() {
        let h = ReceiptHandle { queue_uid: 7, seq: u64::MAX, nonce: 3 };
        assert_eq!(ReceiptHandle::decode(&h.encode()), Some(h));
    }

    #[test]
    fn garbage_does_not_decode() {
        for bad in ["", "AQEB", "hello", "AQEB!!!!", "AQEBAAAA"] {
            assert_eq!(ReceiptHandle::decode(bad), None, "{bad}");
        }
    }
}

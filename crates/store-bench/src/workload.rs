//! The data model and the operation stream replayed against every engine.
//!
//! Messages are numbered globally in arrival order `n = 0, 1, 2, …`. Message `n` lives in queue
//! `n % queues + 1` with sequence number `n / queues`, so every queue sees a monotonically increasing
//! `seq` and the store always holds a contiguous window of message numbers:
//!
//! ```text
//!   head ........ recv ...................... tail
//!   [received, awaiting delete)[stored, not yet received)
//! ```
//!
//! Each step of the steady-state "cycle" workload emits three operations: insert message `tail`,
//! receive message `recv` (blind overwrite of its state record), delete message `head`. The backlog
//! depth `tail - head` and the in-flight window `recv - head` therefore stay constant.

use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

/// Size of every message body.
pub const BODY_LEN: usize = 1024;

/// Synthetic epoch for the timestamps stored in state records (milliseconds); the benchmark does not
/// read the wall clock for data, only for measuring.
const EPOCH_MS: u64 = 1_750_000_000_000;

/// Visibility timeout applied by a receive.
const VISIBILITY_TIMEOUT_MS: u64 = 30_000;

/// Primary key of a message: `(queue_id, seq)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub queue_id: u64,
    pub seq: u64,
}

impl Key {
    /// Order-preserving byte form for engines whose keys are byte strings (fjall): big-endian so that
    /// byte order equals `(queue_id, seq)` order. postcard's varints are not order-preserving, so keys
    /// use this fixed-width form while values use postcard.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.queue_id.to_be_bytes());
        out[8..].copy_from_slice(&self.seq.to_be_bytes());
        out
    }
}

/// The mutable per-message state (≈80 bytes encoded with postcard), rewritten on every receive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MsgState {
    pub message_id: [u8; 16],
    pub receive_count: u32,
    pub sent_at_ms: u64,
    pub visible_at_ms: u64,
    pub first_receive_ms: u64,
    pub receipt_nonce: [u8; 16],
    pub body_md5: [u8; 16],
    pub attributes_md5: [u8; 16],
    pub body_len: u32,
    pub flags: u8,
}

/// The single-record layout: state and body under one key, so every receive rewrites the body too.
#[derive(Serialize)]
pub struct CombinedRef<'a> {
    pub state: &'a MsgState,
    #[serde(with = "serde_bytes")]
    pub body: &'a [u8],
}

/// Encodes a state record.
pub fn encode_state(state: &MsgState, buf: &mut Vec<u8>) -> anyhow::Result<()> {
    buf.clear();
    postcard::to_io(state, &mut *buf)?;
    Ok(())
}

/// Encodes a combined state+body record.
pub fn encode_combined(state: &MsgState, body: &[u8], buf: &mut Vec<u8>) -> anyhow::Result<()> {
    buf.clear();
    postcard::to_io(&CombinedRef { state, body }, &mut *buf)?;
    Ok(())
}

/// Decodes a state record, or the state prefix of a combined record (postcard is sequential, so the
/// body that follows the state is simply left unread).
pub fn decode_state(bytes: &[u8]) -> anyhow::Result<MsgState> {
    let (state, _rest) = postcard::take_from_bytes::<MsgState>(bytes)?;
    Ok(state)
}

/// The deterministic 1 KiB body of message `n` (incompressible random bytes, the worst case for the
/// engines that compress).
pub fn body_for(n: u64, body: &mut [u8; BODY_LEN]) {
    SmallRng::seed_from_u64(n ^ 0x5eed_b0d1).fill_bytes(body);
}

fn id16(n: u64, salt: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&n.to_le_bytes());
    out[8..].copy_from_slice(&(n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt).to_le_bytes());
    out
}

/// State of message `n` right after it was sent.
pub fn state_sent(n: u64) -> MsgState {
    let sent = EPOCH_MS + n;
    MsgState {
        message_id: id16(n, 1),
        receive_count: 0,
        sent_at_ms: sent,
        visible_at_ms: sent,
        first_receive_ms: 0,
        receipt_nonce: [0; 16],
        body_md5: id16(n, 2),
        attributes_md5: id16(n, 3),
        body_len: BODY_LEN as u32,
        flags: 0,
    }
}

/// State of message `n` after one receive at logical time `now` (message number of the tail).
pub fn state_received(n: u64, now: u64) -> MsgState {
    let at = EPOCH_MS + now;
    MsgState {
        receive_count: 1,
        visible_at_ms: at + VISIBILITY_TIMEOUT_MS,
        first_receive_ms: at,
        receipt_nonce: id16(now, n),
        ..state_sent(n)
    }
}

/// One mutation applied inside a group-commit transaction.
#[derive(Clone, Debug)]
pub enum Op {
    /// Put a new message: body and state. `n` is the message number (the body is derived from it).
    Insert { n: u64, key: Key, state: MsgState },
    /// Overwrite the state record of an existing message (blind: the server knows the old state
    /// from its in-memory index, so no read is needed).
    Receive { n: u64, key: Key, state: MsgState },
    /// Remove body and state.
    Delete { key: Key },
}

/// Generator of the steady-state insert → receive → delete stream (see the module docs).
#[derive(Clone, Debug)]
pub struct Cycle {
    queues: u64,
    head: u64,
    recv: u64,
    tail: u64,
    phase: u8,
}

impl Cycle {
    /// The in-flight window (received, not yet deleted) used for a backlog of `depth` messages.
    pub fn in_flight(depth: u64) -> u64 {
        (depth / 10).clamp(1, 1000)
    }

    /// A store pre-filled with messages `0..depth`, the first [`Cycle::in_flight`] of them received.
    pub fn new(queues: u64, depth: u64) -> Self {
        assert!(depth >= 2, "backlog depth must be at least 2");
        Cycle { queues, head: 0, recv: Self::in_flight(depth), tail: depth, phase: 0 }
    }

    pub fn key(&self, n: u64) -> Key {
        Key { queue_id: n % self.queues + 1, seq: n / self.queues }
    }

    /// The operations that pre-fill message `n` (a single insert, with the received state for the
    /// in-flight window).
    pub fn prefill_op(&self, n: u64) -> Op {
        let state = if n < self.recv { state_received(n, self.tail) } else { state_sent(n) };
        Op::Insert { n, key: self.key(n), state }
    }

    /// Messages currently stored.
    pub fn depth(&self) -> u64 {
        self.tail - self.head
    }

    pub fn next_op(&mut self) -> Op {
        let op = match self.phase {
            0 => {
                let n = self.tail;
                self.tail += 1;
                Op::Insert { n, key: self.key(n), state: state_sent(n) }
            }
            1 => {
                let n = self.recv;
                self.recv += 1;
                Op::Receive { n, key: self.key(n), state: state_received(n, self.tail) }
            }
            _ => {
                let n = self.head;
                self.head += 1;
                Op::Delete { key: self.key(n) }
            }
        };
        self.phase = (self.phase + 1) % 3;
        op
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_record_is_about_80_bytes() {
        let mut buf = Vec::new();
        encode_state(&state_received(123_456, 1_000_000), &mut buf).expect("encode");
        assert!((70..=96).contains(&buf.len()), "state record is {} bytes", buf.len());
        assert_eq!(decode_state(&buf).expect("decode"), state_received(123_456, 1_000_000));
    }

    #[test]
    fn combined_record_prefix_decodes_as_state() {
        let mut body = [0u8; BODY_LEN];
        body_for(7, &mut body);
        let mut buf = Vec::new();
        encode_combined(&state_sent(7), &body, &mut buf).expect("encode");
        assert_eq!(decode_state(&buf).expect("decode"), state_sent(7));
    }

    #[test]
    fn cycle_keeps_depth_constant_and_keys_ordered() {
        let mut c = Cycle::new(16, 1000);
        for _ in 0..3000 {
            c.next_op();
        }
        assert_eq!(c.depth(), 1000);
        assert!(c.key(17) > c.key(1));
        assert!(c.key(17).to_bytes() > c.key(1).to_bytes());
    }
}

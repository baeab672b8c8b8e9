//! Handlers: wire types in, one engine call, wire types out.

pub mod messages;
pub mod permissions;
pub mod queues;
pub mod redrive;
pub mod tags;

use protocol::types::BatchResultErrorEntry;
use protocol::ApiError;

/// A failed batch entry as AWS reports it: the legacy code, its fault, the message.
pub fn batch_failure(id: String, e: &ApiError) -> BatchResultErrorEntry {
    let info = e.code.info();
    BatchResultErrorEntry {
        id,
        sender_fault: info.sender_fault,
        code: info.query_code.to_string(),
        message: Some(e.message.clone()),
    }
}

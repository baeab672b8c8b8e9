//! The SQS wire: actions, typed inputs and outputs, the JSON 1.0 and Query codecs, and
//! the table of AWS error codes. Knows nothing of the engine or of any runtime.

pub mod action;
pub mod decode;
pub mod error;
pub mod json;
pub mod query;
pub mod types;

pub use action::Action;
pub use decode::decode;
pub use error::{ApiError, ErrorCode};
pub use types::{Request, Response};

//! Everything SQS means: queues and their attributes, messages, visibility, delays,
//! retention, long polling and the clock. Knows nothing of HTTP or wire formats.

pub mod attributes;
pub mod clock;
pub mod dlq;
pub mod engine;
pub mod error;
pub mod fifo;
pub mod message;
pub mod movetask;
pub mod peek;
pub mod policy;
pub mod queue;
pub mod queue_id;
pub mod receipt;
pub mod store;
mod sweep;

pub use clock::{Clock, ManualClock, Millis, SystemClock};
pub use engine::{Engine, EngineConfig, ReceiveOptions, Sent};
pub use error::{Error, Result};
pub use queue_id::{Caller, QueueId};
pub use store::{MemoryStore, Store};

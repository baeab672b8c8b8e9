//! Everything SQS means: queues and their attributes, messages, visibility, delays,
//! retention, long polling and the clock. Knows nothing of HTTP or wire formats.

mod access;
mod ascending;
mod attributes;
pub mod clock;
mod dlq;
mod engine;
pub mod error;
mod fifo;
mod filter;
pub mod message;
pub(crate) mod movetask;
mod peek;
mod policy;
mod queue;
mod queue_id;
mod receipt;
mod seq_map;
pub mod store;
mod sweep;
mod triage;

pub use attributes::{DeduplicationScope, QueueAttributes};
pub use clock::{Clock, ManualClock, Millis, SystemClock};
pub use dlq::RedrivePermission;
pub use engine::{
    check_batch, check_system_attribute_names, message_system_attributes, select_message_attributes, Engine,
    EngineConfig, QueueMetrics, ReceiveOptions, Sent, DEFAULT_MAX_REDRIVES, MAX_REDRIVES_TAG,
};
pub use error::{Error, Result};
pub use filter::{AttributeTest, JsonTest, MessageFilter, TimeRange};
pub use movetask::record::{Canary, Halt, Moved, Progress, Stage, TaskOptions};
pub use movetask::{
    DryRun, TaskRecord, TaskRequest, TaskStatus, DEFAULT_CANARY_SIZE, DEFAULT_CANARY_TIMEOUT_MS, DEFAULT_HALT_WINDOW_MS,
};
pub use peek::{Counted, PeekOptions, PeekPage, PeekState, Peeked};
pub use queue::{Counts, Queue, Received};
pub use queue_id::{Call, Caller, QueueId};
pub use store::{MemoryStore, Store};
pub use triage::{Imported, MessageFix, MAX_IMPORT};

/// The parsers of untrusted text the fuzz targets (`fuzz/`, docs/fuzzing.md) drive directly;
/// not an API: the engine itself is their only other caller.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::access::{permits, verdict, Request as AccessRequest, Verdict};
    pub use crate::dlq::{RedriveAllowPolicy, RedrivePolicy};
    pub use crate::policy::{add_statement, remove_statement, validate};
    pub use crate::receipt::ReceiptHandle;
}

//! A move task as the store keeps it and ListMessageMoveTasks shows it. Plain data: the
//! store depends on this module, not on the task runner around it.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::filter::MessageFilter;

/// AWS's statuses. Redrive's own phases inside RUNNING (see `movetask`) are not among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskStatus {
    Running,
    Cancelling,
    Cancelled,
    Completed,
    Failed,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Running => "RUNNING",
            TaskStatus::Cancelling => "CANCELLING",
            TaskStatus::Cancelled => "CANCELLED",
            TaskStatus::Completed => "COMPLETED",
            TaskStatus::Failed => "FAILED",
        }
    }

    pub fn is_active(self) -> bool {
        matches!(self, TaskStatus::Running | TaskStatus::Cancelling)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub id: String,
    pub source_arn: String,
    pub destination_arn: Option<String>,
    pub max_per_second: Option<u32>,
    pub status: TaskStatus,
    pub moved: u64,
    pub to_move: u64,
    pub started_at: Millis,
    pub failure_reason: Option<String>,
    /// Messages of the source with a smaller seq were there when the task started.
    pub boundary_seq: u64,
    /// Redrive's own: who started the task and how it chooses and guards what it moves.
    pub options: TaskOptions,
    /// Redrive's own: where the task is beyond AWS's status, and what it saw.
    pub progress: Progress,
}

/// A task's settings beyond AWS's (all off for a plain StartMessageMoveTask but the loop
/// guard, which takes the server's default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskOptions {
    /// The caller's identity: its access key, else its account.
    pub started_by: Option<String>,
    /// Only messages that match move; the rest stay in the dead-letter queue untouched.
    pub filter: Option<MessageFilter>,
    pub canary: Option<Canary>,
    pub halt: Option<Halt>,
    /// A message already redriven this many times is left in the dead-letter queue and
    /// counted as skipped; `None`: no limit.
    pub max_redrives: Option<u32>,
}

/// Move `size` messages first, and the rest only once a consumer has deleted every one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Canary {
    pub size: u32,
    /// The canary fails if its messages are not all deleted by then.
    pub timeout_ms: u64,
}

/// Stop the task when more than `max_count` of the messages it moved, or more than
/// `max_percent` % of them, are dead-lettered again within `window_ms` of being moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Halt {
    pub max_count: Option<u64>,
    pub max_percent: Option<u32>,
    pub window_ms: u64,
}

/// Where a task is inside RUNNING, and what it has seen; kept so that a restart resumes the
/// task in the phase it was in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub stage: Stage,
    /// Messages left in the dead-letter queue by the loop guard.
    pub skipped: u64,
    /// Messages this task moved that were dead-lettered again within the halt window (or,
    /// without a halt rule, at all while the task ran).
    pub failed_again: u64,
    /// The MessageIds (in the dead-letter queue) of the first messages that came back.
    pub came_back: Vec<String>,
    /// The canary's messages, where they were moved to.
    pub canary: Vec<Moved>,
    /// When the task took its final status.
    pub finished_at: Option<Millis>,
    /// The scan of the source: the next seq to look at, which pass over the source this is
    /// (a message that was in flight when a pass went by is moved by the next), and how many
    /// this pass moved (a pass that moves nothing is the last).
    pub cursor: u64,
    pub pass: u32,
    pub pass_moved: u64,
}

/// Redrive's stages of a RUNNING task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stage {
    /// Moving the canary's messages.
    Canary,
    /// The canary is moved; waiting, until this deadline, for consumers to delete it.
    CanaryWatch { until: Millis },
    /// Moving the rest.
    #[default]
    Moving,
    /// Everything is moved; watching, until this deadline, for messages that come back.
    Watching { until: Millis },
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Canary => "CANARY",
            Stage::CanaryWatch { .. } => "CANARY_WATCH",
            Stage::Moving => "MOVING",
            Stage::Watching { .. } => "WATCHING",
        }
    }
}

/// A message a task moved, by where it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moved {
    pub queue_arn: String,
    pub seq: u64,
    pub message_id: String,
}

impl TaskRecord {
    /// AWS's handle: base64 of `{"taskId":…,"sourceArn":…}` (docs/aws-reference.md §5).
    pub fn handle(&self) -> String {
        // Written by hand to keep AWS's key order; each value is JSON-escaped by serde.
        let text = |v: &str| serde_json::Value::String(v.to_string()).to_string();
        STANDARD.encode(format!(r#"{{"taskId":{},"sourceArn":{}}}"#, text(&self.id), text(&self.source_arn)))
    }
}

/// A decoded task handle: which task of which source.
#[derive(Debug, PartialEq, Eq, Deserialize)]
pub(crate) struct Handle {
    #[serde(rename = "taskId")]
    pub task_id: String,
    #[serde(rename = "sourceArn")]
    pub source_arn: String,
}

impl Handle {
    pub(crate) fn decode(handle: &str) -> Option<Handle> {
        STANDARD.decode(handle.trim()).ok().and_then(|b| serde_json::from_slice(&b).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handle_decodes_to_the_task_and_source_it_was_made_of() {
        let record = TaskRecord {
            id: "t-1".into(),
            source_arn: r#"arn:aws:sqs:us-east-1:000000000000:q"quoted""#.into(),
            destination_arn: None,
            max_per_second: None,
            status: TaskStatus::Running,
            moved: 0,
            to_move: 0,
            started_at: 1,
            failure_reason: None,
            boundary_seq: 0,
            options: TaskOptions::default(),
            progress: Progress::default(),
        };
        let handle = record.handle();
        let text = String::from_utf8(STANDARD.decode(&handle).unwrap()).unwrap();
        assert!(text.starts_with(r#"{"taskId":"t-1","sourceArn":"#), "AWS's key order: {text}");
        assert_eq!(
            Handle::decode(&handle),
            Some(Handle { task_id: record.id.clone(), source_arn: record.source_arn.clone() })
        );
        assert_eq!(Handle::decode("not base64!"), None);
    }
}

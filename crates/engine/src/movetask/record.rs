//! A move task as the store keeps it and ListMessageMoveTasks shows it. Plain data: the
//! store depends on this module, not on the task runner around it.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::clock::Millis;

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

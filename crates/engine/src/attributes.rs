//! Queue attributes: AWS's names, defaults, ranges and errors.
//!
//! Held typed — the dead-letter policies parsed once, when set or loaded — and stored in the
//! layout of `StoredAttributes`, the one durable stores have always kept.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::dlq::{RedriveAllowPolicy, RedrivePolicy};
use crate::error::{Error, Result};

pub const MAX_MESSAGE_SIZE: u32 = 1_048_576;

/// The settable attributes of one queue. Computed attributes (counts, timestamps,
/// QueueArn) live with the queue's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredAttributes", into = "StoredAttributes")]
pub struct QueueAttributes {
    pub delay_seconds: u32,
    pub maximum_message_size: u32,
    pub message_retention_period: u32,
    pub receive_message_wait_time_seconds: u32,
    pub visibility_timeout: u32,
    pub policy: Option<String>,
    pub redrive_policy: Option<RedrivePolicy>,
    pub redrive_allow_policy: Option<RedriveAllowPolicy>,
    pub kms_master_key_id: Option<String>,
    pub kms_data_key_reuse_period_seconds: u32,
    pub sqs_managed_sse_enabled: bool,
    /// Whether this is a FIFO queue: the one answer, fixed at creation (the name's `.fifo`
    /// suffix is checked to agree then).
    pub fifo_queue: bool,
    pub content_based_deduplication: bool,
    /// The DeduplicationScope GetQueueAttributes reports: the last one set.
    pub deduplication_scope: DeduplicationScope,
    /// The scope deduplication actually uses: the one the queue was created with. Recorded on
    /// AWS (2025-08-19, both directions): a later change of DeduplicationScope is reported
    /// but deduplication goes on as before, for the ids seen before and for new ones alike.
    pub deduplicates_by: DeduplicationScope,
    pub fifo_throughput_limit: FifoThroughputLimit,
}

/// Whether FIFO deduplication ids count per queue or per message group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeduplicationScope {
    Queue,
    MessageGroup,
}

impl DeduplicationScope {
    fn parse(value: &str) -> Option<Self> {
        match value {
            "queue" => Some(DeduplicationScope::Queue),
            "messageGroup" => Some(DeduplicationScope::MessageGroup),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeduplicationScope::Queue => "queue",
            DeduplicationScope::MessageGroup => "messageGroup",
        }
    }
}

/// Whether a FIFO queue's throughput quota applies per queue or per message group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FifoThroughputLimit {
    PerQueue,
    PerMessageGroupId,
}

impl FifoThroughputLimit {
    fn parse(value: &str) -> Option<Self> {
        match value {
            "perQueue" => Some(FifoThroughputLimit::PerQueue),
            "perMessageGroupId" => Some(FifoThroughputLimit::PerMessageGroupId),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FifoThroughputLimit::PerQueue => "perQueue",
            FifoThroughputLimit::PerMessageGroupId => "perMessageGroupId",
        }
    }
}

impl QueueAttributes {
    pub fn defaults(fifo: bool) -> Self {
        QueueAttributes {
            delay_seconds: 0,
            maximum_message_size: MAX_MESSAGE_SIZE,
            message_retention_period: 345_600,
            receive_message_wait_time_seconds: 0,
            visibility_timeout: 30,
            policy: None,
            redrive_policy: None,
            redrive_allow_policy: None,
            kms_master_key_id: None,
            kms_data_key_reuse_period_seconds: 300,
            // SSE-SQS is on by default for queues created since 2022.
            sqs_managed_sse_enabled: true,
            fifo_queue: fifo,
            content_based_deduplication: false,
            deduplication_scope: DeduplicationScope::Queue,
            deduplicates_by: DeduplicationScope::Queue,
            fifo_throughput_limit: FifoThroughputLimit::PerQueue,
        }
    }

    /// The attributes of a queue created with `attrs`: the defaults with `attrs` applied, and
    /// deduplication fixed to the scope it is created with.
    pub fn created(fifo: bool, attrs: &BTreeMap<String, String>) -> Result<Self> {
        let mut created = QueueAttributes::defaults(fifo).apply(attrs)?;
        created.deduplicates_by = created.deduplication_scope;
        Ok(created)
    }

    /// Apply one attribute, checking AWS's range for it.
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let invalid = || Error::InvalidAttributeValue(format!("Invalid value for the parameter {name}."));
        let int = |lo: u32, hi: u32| -> Result<u32> {
            value.trim().parse::<u32>().ok().filter(|v| (lo..=hi).contains(v)).ok_or_else(invalid)
        };
        let boolean = || -> Result<bool> {
            match value.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(invalid()),
            }
        };
        // Recorded against AWS (docs/aws-reference.md §2.3): the FIFO-only names are
        // "unknown" on a standard queue, the two throughput ones with their own wording.
        let fifo_only = |this: &Self| -> Result<()> {
            match (this.fifo_queue, name) {
                (true, _) => Ok(()),
                (false, "DeduplicationScope" | "FifoThroughputLimit") => Err(Error::InvalidAttributeName(format!(
                    "You can specify the {name} only when FifoQueue is set to true."
                ))),
                (false, _) => Err(Error::InvalidAttributeName(format!("Unknown Attribute {name}."))),
            }
        };
        match name {
            "DelaySeconds" => self.delay_seconds = int(0, 900)?,
            "MaximumMessageSize" => self.maximum_message_size = int(1024, MAX_MESSAGE_SIZE)?,
            "MessageRetentionPeriod" => self.message_retention_period = int(60, 1_209_600)?,
            "ReceiveMessageWaitTimeSeconds" => self.receive_message_wait_time_seconds = int(0, 20)?,
            "VisibilityTimeout" => self.visibility_timeout = int(0, 43_200)?,
            "KmsDataKeyReusePeriodSeconds" => self.kms_data_key_reuse_period_seconds = int(60, 86_400)?,
            "SqsManagedSseEnabled" => {
                self.sqs_managed_sse_enabled = boolean()?;
                if self.sqs_managed_sse_enabled {
                    self.kms_master_key_id = None;
                }
            }
            "KmsMasterKeyId" => {
                self.kms_master_key_id = non_empty(value);
                if self.kms_master_key_id.is_some() {
                    self.sqs_managed_sse_enabled = false;
                }
            }
            "Policy" => {
                if !value.is_empty() {
                    crate::policy::validate(value)?;
                }
                self.policy = non_empty(value);
            }
            "RedrivePolicy" => {
                self.redrive_policy = match value {
                    "" => None,
                    raw => Some(RedrivePolicy::parse(raw)?),
                }
            }
            "RedriveAllowPolicy" => {
                self.redrive_allow_policy = match value {
                    "" => None,
                    raw => Some(RedriveAllowPolicy::parse(raw)?),
                }
            }
            "FifoQueue" => {
                fifo_only(self)?;
                if !boolean()? {
                    return Err(Error::InvalidAttributeValue(
                        "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported."
                            .into(),
                    ));
                }
            }
            "ContentBasedDeduplication" => {
                fifo_only(self)?;
                self.content_based_deduplication = boolean()?;
            }
            "DeduplicationScope" => {
                fifo_only(self)?;
                self.deduplication_scope = DeduplicationScope::parse(value).ok_or_else(invalid)?;
            }
            "FifoThroughputLimit" => {
                fifo_only(self)?;
                self.fifo_throughput_limit = FifoThroughputLimit::parse(value).ok_or_else(invalid)?;
            }
            _ => return Err(Error::InvalidAttributeName(format!("Unknown Attribute {name}."))),
        }
        Ok(())
    }

    /// Apply several attributes at once: all or nothing.
    pub fn apply(&self, attrs: &BTreeMap<String, String>) -> Result<QueueAttributes> {
        let sse = attrs.get("SqsManagedSseEnabled").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if sse && attrs.get("KmsMasterKeyId").is_some_and(|k| !k.is_empty()) {
            return Err(Error::InvalidAttributeName(
                "You can use one type of server-side encryption (SSE) at one time. You can either enable KMS SSE or SQS SSE."
                    .into(),
            ));
        }
        let mut next = self.clone();
        for (name, value) in attrs {
            next.set(name, value)?;
        }
        if next.fifo_throughput_limit == FifoThroughputLimit::PerMessageGroupId
            && next.deduplication_scope == DeduplicationScope::Queue
        {
            return Err(Error::InvalidAttributeValue(
                "The perMessageGroupId value is allowed only when the value for DeduplicationScope is messageGroup"
                    .into(),
            ));
        }
        Ok(next)
    }

    pub fn is_fifo(&self) -> bool {
        self.fifo_queue
    }

    pub fn redrive(&self) -> Option<&RedrivePolicy> {
        self.redrive_policy.as_ref()
    }

    /// The current value of a settable attribute, as GetQueueAttributes shows it;
    /// `None` when AWS omits it (unset policies, FIFO attributes of a standard queue).
    pub fn get(&self, name: &str) -> Option<String> {
        let fifo = |v: String| if self.fifo_queue { Some(v) } else { None };
        match name {
            "DelaySeconds" => Some(self.delay_seconds.to_string()),
            "MaximumMessageSize" => Some(self.maximum_message_size.to_string()),
            "MessageRetentionPeriod" => Some(self.message_retention_period.to_string()),
            "ReceiveMessageWaitTimeSeconds" => Some(self.receive_message_wait_time_seconds.to_string()),
            "VisibilityTimeout" => Some(self.visibility_timeout.to_string()),
            "Policy" => self.policy.clone(),
            "RedrivePolicy" => self.redrive_policy.as_ref().map(RedrivePolicy::to_json),
            "RedriveAllowPolicy" => self.redrive_allow_policy.as_ref().map(|p| p.to_json().to_string()),
            "KmsMasterKeyId" => self.kms_master_key_id.clone(),
            "KmsDataKeyReusePeriodSeconds" => {
                self.kms_master_key_id.as_ref().map(|_| self.kms_data_key_reuse_period_seconds.to_string())
            }
            "SqsManagedSseEnabled" => Some(self.sqs_managed_sse_enabled.to_string()),
            "FifoQueue" => fifo("true".into()),
            "ContentBasedDeduplication" => fifo(self.content_based_deduplication.to_string()),
            "DeduplicationScope" => fifo(self.deduplication_scope.as_str().into()),
            "FifoThroughputLimit" => fifo(self.fifo_throughput_limit.as_str().into()),
            _ => None,
        }
    }
}

/// `QueueAttributes` as durable stores keep it (postcard: field order and types are the
/// format), the dead-letter policies as JSON text. Records written before the policies were
/// typed load unchanged, and are written back byte for byte.
///
/// `deduplication_scope` is the reported scope, followed by `;` and the scope deduplication
/// uses when the two differ (`messageGroup;queue`): a new field would not be readable from
/// older records (postcard has no optional trailing fields), while a record without the `;`
/// part, as every older one is, deduplicates by the scope it reports.
#[derive(Serialize, Deserialize)]
struct StoredAttributes {
    delay_seconds: u32,
    maximum_message_size: u32,
    message_retention_period: u32,
    receive_message_wait_time_seconds: u32,
    visibility_timeout: u32,
    policy: Option<String>,
    redrive_policy: Option<String>,
    redrive_allow_policy: Option<String>,
    kms_master_key_id: Option<String>,
    kms_data_key_reuse_period_seconds: u32,
    sqs_managed_sse_enabled: bool,
    fifo_queue: bool,
    content_based_deduplication: bool,
    deduplication_scope: String,
    fifo_throughput_limit: String,
}

impl From<StoredAttributes> for QueueAttributes {
    fn from(s: StoredAttributes) -> Self {
        // Stored values were checked when set; one that no longer parses is dropped (logged),
        // rather than keep the queue, or the whole store, from loading.
        fn parsed<T>(name: &str, text: Option<String>, parse: fn(&str) -> Result<T>) -> Option<T> {
            let text = text?;
            parse(&text).inspect_err(|_| invalid_stored(name, &text)).ok()
        }
        let (reported, used) = match s.deduplication_scope.split_once(';') {
            Some((reported, used)) => (reported, used),
            None => (s.deduplication_scope.as_str(), s.deduplication_scope.as_str()),
        };
        let scope = |text: &str| {
            DeduplicationScope::parse(text).unwrap_or_else(|| {
                invalid_stored("DeduplicationScope", &s.deduplication_scope);
                DeduplicationScope::Queue
            })
        };
        let (deduplication_scope, deduplicates_by) = (scope(reported), scope(used));
        QueueAttributes {
            delay_seconds: s.delay_seconds,
            maximum_message_size: s.maximum_message_size,
            message_retention_period: s.message_retention_period,
            receive_message_wait_time_seconds: s.receive_message_wait_time_seconds,
            visibility_timeout: s.visibility_timeout,
            policy: s.policy,
            redrive_policy: parsed("RedrivePolicy", s.redrive_policy, RedrivePolicy::parse),
            redrive_allow_policy: parsed("RedriveAllowPolicy", s.redrive_allow_policy, RedriveAllowPolicy::parse),
            kms_master_key_id: s.kms_master_key_id,
            kms_data_key_reuse_period_seconds: s.kms_data_key_reuse_period_seconds,
            sqs_managed_sse_enabled: s.sqs_managed_sse_enabled,
            fifo_queue: s.fifo_queue,
            content_based_deduplication: s.content_based_deduplication,
            deduplication_scope,
            deduplicates_by,
            fifo_throughput_limit: FifoThroughputLimit::parse(&s.fifo_throughput_limit).unwrap_or_else(|| {
                invalid_stored("FifoThroughputLimit", &s.fifo_throughput_limit);
                FifoThroughputLimit::PerQueue
            }),
        }
    }
}

impl From<QueueAttributes> for StoredAttributes {
    fn from(a: QueueAttributes) -> Self {
        StoredAttributes {
            delay_seconds: a.delay_seconds,
            maximum_message_size: a.maximum_message_size,
            message_retention_period: a.message_retention_period,
            receive_message_wait_time_seconds: a.receive_message_wait_time_seconds,
            visibility_timeout: a.visibility_timeout,
            policy: a.policy,
            redrive_policy: a.redrive_policy.as_ref().map(RedrivePolicy::to_json),
            redrive_allow_policy: a.redrive_allow_policy.as_ref().map(|p| p.to_json().to_string()),
            kms_master_key_id: a.kms_master_key_id,
            kms_data_key_reuse_period_seconds: a.kms_data_key_reuse_period_seconds,
            sqs_managed_sse_enabled: a.sqs_managed_sse_enabled,
            fifo_queue: a.fifo_queue,
            content_based_deduplication: a.content_based_deduplication,
            deduplication_scope: if a.deduplicates_by == a.deduplication_scope {
                a.deduplication_scope.as_str().into()
            } else {
                format!("{};{}", a.deduplication_scope.as_str(), a.deduplicates_by.as_str())
            },
            fifo_throughput_limit: a.fifo_throughput_limit.as_str().into(),
        }
    }
}

fn invalid_stored(name: &str, value: &str) {
    tracing::warn!(attribute = name, value, "a stored queue attribute is invalid; its default is used");
}

fn non_empty(v: &str) -> Option<String> {
    if v.is_empty() {
        None
    } else {
        Some(v.to_string())
    }
}

/// Every name GetQueueAttributes accepts, in the order `All` lists them.
pub const READABLE_NAMES: &[&str] = &[
    "QueueArn",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "VisibilityTimeout",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "Policy",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn values_outside_aws_ranges_are_refused_and_nothing_changes() {
        let a = QueueAttributes::defaults(false);
        for (name, bad) in [
            ("DelaySeconds", "901"),
            ("MaximumMessageSize", "1023"),
            ("MaximumMessageSize", "1048577"),
            ("MessageRetentionPeriod", "59"),
            ("MessageRetentionPeriod", "1209601"),
            ("ReceiveMessageWaitTimeSeconds", "21"),
            ("VisibilityTimeout", "43201"),
            ("VisibilityTimeout", "-1"),
            ("VisibilityTimeout", "x"),
            ("KmsDataKeyReusePeriodSeconds", "59"),
            ("SqsManagedSseEnabled", "yes"),
        ] {
            let err = a.apply(&map(&[("DelaySeconds", "5"), (name, bad)])).unwrap_err();
            assert_eq!(
                err,
                Error::InvalidAttributeValue(format!("Invalid value for the parameter {name}.")),
                "{name}={bad}"
            );
        }
        assert_eq!(a, QueueAttributes::defaults(false));
    }

    #[test]
    fn unknown_and_fifo_only_names_are_invalid_on_a_standard_queue() {
        let a = QueueAttributes::defaults(false);
        for name in ["Nope", "ContentBasedDeduplication", "QueueArn"] {
            assert!(matches!(a.apply(&map(&[(name, "true")])), Err(Error::InvalidAttributeName(_))), "{name}");
        }
    }

    #[test]
    fn a_kms_key_turns_off_managed_sse() {
        let a = QueueAttributes::defaults(false).apply(&map(&[("KmsMasterKeyId", "alias/aws/sqs")])).unwrap();
        assert_eq!(a.get("SqsManagedSseEnabled").as_deref(), Some("false"));
        assert_eq!(a.get("KmsDataKeyReusePeriodSeconds").as_deref(), Some("300"));
    }

    #[test]
    fn policies_are_kept_parsed_and_shown_as_aws_returns_them() {
        let arn = "arn:aws:sqs:us-east-1:000000000000:dlq";
        let allow = r#"{"redrivePermission": "denyAll"}"#;
        let a = QueueAttributes::defaults(false)
            .apply(&map(&[
                ("RedrivePolicy", &format!(r#"{{"maxReceiveCount":"4","deadLetterTargetArn":"{arn}"}}"#)),
                ("RedriveAllowPolicy", allow),
            ]))
            .unwrap();
        let policy = a.redrive().unwrap();
        assert_eq!((policy.dead_letter_target_arn.as_str(), policy.max_receive_count), (arn, 4));
        assert_eq!(
            a.get("RedrivePolicy").as_deref(),
            Some(format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":4}}"#).as_str())
        );
        assert_eq!(a.get("RedriveAllowPolicy").as_deref(), Some(allow));
        assert!(!a.redrive_allow_policy.as_ref().unwrap().allows("arn:aws:sqs:us-east-1:000000000000:src"));
        let cleared = a.apply(&map(&[("RedrivePolicy", ""), ("RedriveAllowPolicy", "")])).unwrap();
        assert_eq!((cleared.redrive(), cleared.get("RedriveAllowPolicy")), (None, None));
    }

    #[test]
    fn fifo_settings_are_typed_and_shown_by_their_aws_names() {
        let a = QueueAttributes::defaults(true)
            .apply(&map(&[("DeduplicationScope", "messageGroup"), ("FifoThroughputLimit", "perMessageGroupId")]))
            .unwrap();
        assert!(a.is_fifo());
        assert_eq!(a.deduplication_scope, DeduplicationScope::MessageGroup);
        assert_eq!(a.get("FifoThroughputLimit").as_deref(), Some("perMessageGroupId"));
        assert!(a.apply(&map(&[("DeduplicationScope", "group")])).is_err());
        assert!(!QueueAttributes::defaults(false).is_fifo());
    }
}

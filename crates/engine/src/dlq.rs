//! The dead-letter rules, in one place: a source's RedrivePolicy and a DLQ's
//! RedriveAllowPolicy as typed values, the check a RedrivePolicy's target must pass, which
//! receive hands a message off, the message as it arrives in the DLQ, and the message as a
//! move task returns it. The engine finds the queues and locks them; `queue.rs` applies these
//! rules to its index. Messages echo AWS's wording (docs/aws-reference.md §2.5).

use serde_json::{Map, Value};

use crate::clock::Millis;
use crate::error::{Error, Result};
use crate::message::{Content, Redrives};
// Re-exported for the move tasks' ARN checks.
use crate::queue_id::parse_arn;
use crate::store::MessageState;

/// A parsed RedrivePolicy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedrivePolicy {
    pub dead_letter_target_arn: String,
    pub max_receive_count: u32,
}

impl RedrivePolicy {
    /// Parse and check a RedrivePolicy value; the target is checked by `check_target`.
    pub fn parse(raw: &str) -> Result<RedrivePolicy> {
        let invalid = |reason: &str| invalid_redrive_policy(raw, reason);
        let map: Map<String, Value> =
            match serde_json::from_str(raw) {
                Ok(Value::Object(m)) => m,
                _ => return Err(Error::InvalidAttributeValue(
                    "Invalid value for the parameter RedrivePolicy. Reason: Redrive policy is not a valid JSON map."
                        .into(),
                )),
            };
        if map.keys().any(|k| k != "deadLetterTargetArn" && k != "maxReceiveCount") {
            return Err(invalid("Only following attributes are supported: [maxReceiveCount, deadLetterTargetArn]."));
        }
        let count = map
            .get("maxReceiveCount")
            .ok_or_else(|| invalid("Redrive policy does not contain mandatory attribute: maxReceiveCount."))?;
        let arn = map
            .get("deadLetterTargetArn")
            .ok_or_else(|| invalid("Redrive policy does not contain mandatory attribute: deadLetterTargetArn."))?;
        // maxReceiveCount may be a number or a string holding one.
        let count_text = match count {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let max_receive_count =
            count_text.trim().parse::<i64>().ok().filter(|n| (1..=1000).contains(n)).ok_or_else(|| {
                invalid(&format!(
                    "Invalid value for maxReceiveCount: {count_text}, valid values are from 1 to 1000 both inclusive."
                ))
            })? as u32;
        let arn = arn.as_str().ok_or_else(|| invalid("Invalid value for deadLetterTargetArn."))?;
        let parts = parse_arn(arn).ok_or_else(|| invalid("Invalid value for deadLetterTargetArn."))?;
        if parts.service != "sqs" {
            return Err(invalid("Only SQS queues are valid resources for deadLetterTargetArn."));
        }
        Ok(RedrivePolicy { dead_letter_target_arn: arn.to_string(), max_receive_count })
    }

    /// The form AWS stores and returns: compact, target first, count as a number.
    pub fn to_json(&self) -> String {
        serde_json::json!({"deadLetterTargetArn": self.dead_letter_target_arn, "maxReceiveCount": self.max_receive_count})
            .to_string()
    }
}

pub(crate) fn invalid_redrive_policy(raw: &str, reason: &str) -> Error {
    Error::InvalidParameterValue(format!("Value {raw} for parameter RedrivePolicy is invalid. Reason: {reason}"))
}

/// Which source queues may use a queue as their dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedrivePermission {
    AllowAll,
    DenyAll,
    ByQueue(Vec<String>),
}

/// A parsed RedriveAllowPolicy, with the text it was given: GetQueueAttributes returns that
/// text as set (AWS's own normalization of this attribute is not recorded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedriveAllowPolicy {
    permission: RedrivePermission,
    text: String,
}

impl RedriveAllowPolicy {
    pub fn parse(raw: &str) -> Result<RedriveAllowPolicy> {
        let unsupported = || {
            Error::InvalidAttributeValue(
                "Invalid value for the parameter RedriveAllowPolicy. Reason: Amazon SQS can't create the redrive allow policy, as it\u{2019}s in an unsupported format."
                    .into(),
            )
        };
        let invalid = |reason: &str| {
            Error::InvalidParameterValue(format!(
                "Value {raw} for parameter RedriveAllowPolicy is invalid. Reason: Amazon SQS can't create the redrive allow policy. {reason}"
            ))
        };
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(raw) else { return Err(unsupported()) };
        if map.keys().any(|k| k != "redrivePermission" && k != "sourceQueueArns") {
            return Err(unsupported());
        }
        let arns = match map.get("sourceQueueArns") {
            None => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|v| v.as_str().map(str::to_string).ok_or_else(unsupported))
                    .collect::<Result<Vec<_>>>()?,
            ),
            Some(_) => return Err(unsupported()),
        };
        let permission = match map.get("redrivePermission").and_then(Value::as_str) {
            Some(p @ ("allowAll" | "denyAll")) => {
                if arns.is_some() {
                    return Err(invalid("To specify one or more source queue ARNs, you must set redrivePermission to byQueue."));
                }
                if p == "allowAll" {
                    RedrivePermission::AllowAll
                } else {
                    RedrivePermission::DenyAll
                }
            }
            Some("byQueue") => match arns {
                Some(a) if a.len() > 10 => {
                    return Err(invalid("The maximum number of source queue ARNs you can specify is 10."))
                }
                Some(a) if !a.is_empty() => RedrivePermission::ByQueue(a),
                _ => {
                    return Err(invalid(
                        "When you specify the byQueue permission type, you must also specify one or more sourceQueueArns values.",
                    ))
                }
            },
            _ => return Err(unsupported()),
        };
        Ok(RedriveAllowPolicy { permission, text: raw.to_string() })
    }

    pub fn permission(&self) -> &RedrivePermission {
        &self.permission
    }

    /// The policy as GetQueueAttributes returns it: the text it was set with.
    pub fn to_json(&self) -> &str {
        &self.text
    }

    pub fn allows(&self, source_arn: &str) -> bool {
        match &self.permission {
            RedrivePermission::AllowAll => true,
            RedrivePermission::DenyAll => false,
            RedrivePermission::ByQueue(arns) => arns.iter().any(|a| a == source_arn),
        }
    }
}

/// What the RedrivePolicy check needs to know of the queue a policy names.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub arn: &'a str,
    pub fifo: bool,
    /// `None`: no RedriveAllowPolicy set, which admits every source.
    pub allow: Option<&'a RedriveAllowPolicy>,
}

/// Refuse a RedrivePolicy (`raw`, as given) whose target is not a queue of this server
/// (`None`), is of the other queue type than the source, or whose RedriveAllowPolicy does not
/// admit the source. A queue may always be its own dead-letter queue.
pub fn check_target(raw: &str, source_arn: &str, source_fifo: bool, target: Option<Target<'_>>) -> Result<()> {
    let invalid = |reason: &str| invalid_redrive_policy(raw, reason);
    let target = target.ok_or_else(|| invalid("Dead letter target does not exist."))?;
    if target.fifo != source_fifo {
        return Err(invalid("Dead-letter queue must be same type of queue as the source.."));
    }
    if target.arn != source_arn && !target.allow.is_none_or(|p| p.allows(source_arn)) {
        return Err(invalid(&format!(
            "The dead-letter queue {} does not allow this source queue to use it: see its RedriveAllowPolicy.",
            target.arn
        )));
    }
    Ok(())
}

/// A source's hand-off rule, resolved for one receive: its policy's count, the source's ARN
/// (which a dead-lettered message carries) and the type of its dead-letter queue.
#[derive(Debug, Clone, Copy)]
pub struct HandOff<'a> {
    pub source_arn: &'a str,
    pub max_receive_count: u32,
    pub fifo: bool,
}

impl HandOff<'_> {
    /// Whether a receive hands this message to the dead-letter queue instead of delivering
    /// it: it was already received `maxReceiveCount` times. AWS moves a message lazily, on
    /// the receive that would exceed the count, not when its last visibility timeout ends.
    #[inline]
    pub fn applies_to(&self, m: &MessageState) -> bool {
        m.receive_count >= self.max_receive_count
    }

    /// The message as it arrives in the dead-letter queue: the same MessageId, body and
    /// receive count, marked with its source and the time it arrived, visible at once. A
    /// standard DLQ keeps the original enqueue time; a FIFO one starts it anew and takes the
    /// MessageId as the deduplication id.
    pub fn arrival(&self, content: &Content, m: MessageState, now: Millis) -> (Content, MessageState) {
        let mut moved = content.clone();
        moved.dead_letter_source_arn = Some(self.source_arn.to_string());
        moved.dead_lettered_at = Some(now);
        let mut m = m;
        if self.fifo {
            m.enqueued_at = now;
            moved.deduplication_id = Some(moved.id.clone());
        }
        m.visible_at = now;
        (moved, m)
    }
}

/// The message as move task `task` returns it to a source (or sends it to a chosen queue): a
/// new message — new MessageId (and deduplication id, if it had one), sent and enqueued now,
/// never received, no longer marked as dead-lettered — visible at once; its redrive count
/// goes up by one and names the task.
pub fn redriven(content: &Content, task: &str, now: Millis) -> (Content, MessageState) {
    let id = uuid::Uuid::new_v4().to_string();
    let count = content.redrives.as_ref().map_or(0, |r| r.count) + 1;
    let fresh = Content {
        deduplication_id: content.deduplication_id.as_ref().map(|_| id.clone()),
        id,
        sent_at: now,
        dead_letter_source_arn: None,
        dead_lettered_at: None,
        redrives: Some(Redrives { count, task: task.to_string() }),
        ..content.clone()
    };
    let m = MessageState {
        enqueued_at: now,
        visible_at: now,
        receive_count: 0,
        first_receive_at: 0,
        received_at: 0,
        nonce: 0,
    };
    (fresh, m)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:sqs:us-east-1:000000000000:dlq";
    const SOURCE: &str = "arn:aws:sqs:us-east-1:000000000000:source";

    fn content(dedup: Option<&str>) -> Content {
        Content {
            id: "original-id".into(),
            body: "body".into(),
            md5_of_body: "md5".into(),
            attributes: Default::default(),
            md5_of_attributes: None,
            system_attributes: Default::default(),
            md5_of_system_attributes: None,
            sender_id: "sender".into(),
            sent_at: 100,
            dead_letter_source_arn: None,
            group_id: dedup.map(|_| "group".to_string()),
            deduplication_id: dedup.map(str::to_string),
            dead_lettered_at: None,
            redrives: None,
        }
    }

    /// A message received three times, the last at 5,000, its timeout ended.
    const RECEIVED: MessageState = MessageState {
        enqueued_at: 1_000,
        visible_at: 6_000,
        receive_count: 3,
        first_receive_at: 2_000,
        received_at: 5_000,
        nonce: 3,
    };

    #[test]
    fn a_count_given_as_a_string_is_stored_as_a_number() {
        let p = RedrivePolicy::parse(&format!(r#"{{"deadLetterTargetArn":"{ARN}","maxReceiveCount":"3"}}"#)).unwrap();
        assert_eq!(p.max_receive_count, 3);
        assert_eq!(p.to_json(), format!(r#"{{"deadLetterTargetArn":"{ARN}","maxReceiveCount":3}}"#));
    }

    #[test]
    fn bad_policies_get_aws_reasons() {
        let reason = |raw: &str| match RedrivePolicy::parse(raw) {
            Err(Error::InvalidParameterValue(m)) => m.split("Reason: ").nth(1).unwrap_or("").to_string(),
            other => format!("{other:?}"),
        };
        assert_eq!(
            reason(&format!(r#"{{"deadLetterTargetArn":"{ARN}","maxReceiveCount":0}}"#)),
            "Invalid value for maxReceiveCount: 0, valid values are from 1 to 1000 both inclusive."
        );
        assert_eq!(
            reason(&format!(r#"{{"deadLetterTargetArn":"{ARN}","maxReceiveCount":1001}}"#)),
            "Invalid value for maxReceiveCount: 1001, valid values are from 1 to 1000 both inclusive."
        );
        assert_eq!(
            reason(r#"{"deadLetterTargetArn":"dummy","maxReceiveCount":4}"#),
            "Invalid value for deadLetterTargetArn."
        );
        assert_eq!(
            reason(r#"{"deadLetterTargetArn":"arn:aws:sns:us-east-1:0:t","maxReceiveCount":4}"#),
            "Only SQS queues are valid resources for deadLetterTargetArn."
        );
        assert_eq!(reason(r#"{}"#), "Redrive policy does not contain mandatory attribute: maxReceiveCount.");
        assert_eq!(
            reason(r#"{"maxReceiveCount":2}"#),
            "Redrive policy does not contain mandatory attribute: deadLetterTargetArn."
        );
        assert_eq!(
            reason(&format!(r#"{{"deadLetterTargetArn":"{ARN}","maxReceiveCount":2,"x":1}}"#)),
            "Only following attributes are supported: [maxReceiveCount, deadLetterTargetArn]."
        );
        assert!(matches!(RedrivePolicy::parse("nope"), Err(Error::InvalidAttributeValue(_))));
    }

    #[test]
    fn allow_policies_parse_and_decide() {
        let all = RedriveAllowPolicy::parse(r#"{"redrivePermission":"allowAll"}"#).unwrap();
        assert_eq!(all.permission(), &RedrivePermission::AllowAll);
        assert!(all.allows(ARN));
        let deny = RedriveAllowPolicy::parse(r#"{"redrivePermission":"denyAll"}"#).unwrap();
        assert!(!deny.allows(ARN));
        let by =
            RedriveAllowPolicy::parse(&format!(r#"{{"redrivePermission":"byQueue","sourceQueueArns":["{ARN}"]}}"#))
                .unwrap();
        assert_eq!(by.permission(), &RedrivePermission::ByQueue(vec![ARN.to_string()]));
        assert!(by.allows(ARN) && !by.allows("arn:aws:sqs:us-east-1:000000000000:other"));
        for bad in [
            r#"{"redrivePermission":"byQueue"}"#,
            r#"{"redrivePermission":"byQueue","sourceQueueArns":[]}"#,
            r#"{"redrivePermission":"allowAll","sourceQueueArns":["a"]}"#,
            r#"{"redrivePermission":"sometimes"}"#,
            r#"[]"#,
        ] {
            assert!(RedriveAllowPolicy::parse(bad).is_err(), "{bad}");
        }
        let eleven: Vec<String> = (0..11).map(|i| format!("\"arn:aws:sqs:us-east-1:0:q{i}\"")).collect();
        assert!(RedriveAllowPolicy::parse(&format!(
            r#"{{"redrivePermission":"byQueue","sourceQueueArns":[{}]}}"#,
            eleven.join(",")
        ))
        .is_err());
    }

    #[test]
    fn an_allow_policy_is_returned_as_it_was_given() {
        let raw = r#"{ "sourceQueueArns": ["arn:aws:sqs:us-east-1:0:a"], "redrivePermission": "byQueue" }"#;
        assert_eq!(RedriveAllowPolicy::parse(raw).unwrap().to_json(), raw);
    }

    #[test]
    fn a_target_must_exist_be_of_the_same_type_and_admit_the_source() {
        let raw = format!(r#"{{"deadLetterTargetArn":"{ARN}","maxReceiveCount":3}}"#);
        let reason = |r: Result<()>| match r {
            Err(Error::InvalidParameterValue(m)) => {
                assert!(m.starts_with(&format!("Value {raw} for parameter RedrivePolicy is invalid.")), "{m}");
                m.split("Reason: ").nth(1).unwrap_or("").to_string()
            }
            other => format!("{other:?}"),
        };
        let target = |fifo, allow| Some(Target { arn: ARN, fifo, allow });
        assert_eq!(reason(check_target(&raw, SOURCE, false, None)), "Dead letter target does not exist.");
        assert_eq!(
            reason(check_target(&raw, SOURCE, true, target(false, None))),
            "Dead-letter queue must be same type of queue as the source.."
        );
        let deny = RedriveAllowPolicy::parse(r#"{"redrivePermission":"denyAll"}"#).unwrap();
        assert_eq!(
            reason(check_target(&raw, SOURCE, false, target(false, Some(&deny)))),
            format!(
                "The dead-letter queue {ARN} does not allow this source queue to use it: see its RedriveAllowPolicy."
            )
        );
        let by =
            RedriveAllowPolicy::parse(&format!(r#"{{"redrivePermission":"byQueue","sourceQueueArns":["{SOURCE}"]}}"#))
                .unwrap();
        assert_eq!(check_target(&raw, SOURCE, false, target(false, Some(&by))), Ok(()));
        assert_eq!(check_target(&raw, SOURCE, false, target(false, None)), Ok(()), "unset admits every source");
        assert_eq!(check_target(&raw, ARN, false, target(false, Some(&deny))), Ok(()), "its own DLQ");
    }

    #[test]
    fn a_message_is_handed_off_once_received_max_receive_count_times() {
        let rule = |max| HandOff { source_arn: SOURCE, max_receive_count: max, fifo: false };
        assert!(!rule(4).applies_to(&RECEIVED));
        assert!(rule(3).applies_to(&RECEIVED));
        assert!(rule(1).applies_to(&RECEIVED));
        let never_received = MessageState { receive_count: 0, ..RECEIVED };
        assert!(!rule(1).applies_to(&never_received));
    }

    #[test]
    fn a_standard_dead_letter_keeps_its_id_counts_and_enqueue_time_and_names_its_source() {
        let rule = HandOff { source_arn: SOURCE, max_receive_count: 3, fifo: false };
        let (moved, m) = rule.arrival(&content(None), RECEIVED, 9_000);
        let expected =
            Content { dead_letter_source_arn: Some(SOURCE.into()), dead_lettered_at: Some(9_000), ..content(None) };
        assert_eq!(moved, expected);
        assert_eq!(m, MessageState { visible_at: 9_000, ..RECEIVED });
    }

    #[test]
    fn a_fifo_dead_letter_is_enqueued_anew_and_deduplicated_by_its_message_id() {
        let rule = HandOff { source_arn: SOURCE, max_receive_count: 3, fifo: true };
        let (moved, m) = rule.arrival(&content(Some("producer-dedup")), RECEIVED, 9_000);
        assert_eq!(
            moved,
            Content {
                dead_letter_source_arn: Some(SOURCE.into()),
                dead_lettered_at: Some(9_000),
                deduplication_id: Some("original-id".into()),
                ..content(Some("producer-dedup"))
            }
        );
        assert_eq!(m, MessageState { enqueued_at: 9_000, visible_at: 9_000, ..RECEIVED });
    }

    #[test]
    fn a_redriven_message_is_a_new_message_with_its_body_and_attributes_and_one_more_redrive() {
        let dead =
            Content { dead_letter_source_arn: Some(SOURCE.into()), dead_lettered_at: Some(8_000), ..content(None) };
        let (fresh, m) = redriven(&dead, "task-1", 9_000);
        assert_ne!(fresh.id, dead.id);
        let counted = Some(Redrives { count: 1, task: "task-1".into() });
        assert_eq!(fresh, Content { id: fresh.id.clone(), sent_at: 9_000, redrives: counted, ..content(None) });
        assert_eq!(
            m,
            MessageState {
                enqueued_at: 9_000,
                visible_at: 9_000,
                receive_count: 0,
                first_receive_at: 0,
                received_at: 0,
                nonce: 0
            }
        );
        let (again, _) =
            redriven(&Content { dead_letter_source_arn: Some(SOURCE.into()), ..fresh.clone() }, "task-2", 9_500);
        assert_ne!(again.id, fresh.id, "every redrive makes a new id");
        assert_eq!(
            again.redrives,
            Some(Redrives { count: 2, task: "task-2".into() }),
            "the count is kept across moves"
        );
    }

    #[test]
    fn a_redriven_fifo_message_is_deduplicated_by_its_new_id_and_keeps_its_group() {
        let dead = Content {
            dead_letter_source_arn: Some(SOURCE.into()),
            deduplication_id: Some("original-id".into()),
            ..content(Some("x"))
        };
        let (fresh, _) = redriven(&dead, "task-1", 9_000);
        assert_eq!(fresh.deduplication_id.as_deref(), Some(fresh.id.as_str()));
        assert_eq!(fresh.group_id.as_deref(), Some("group"));
        assert_eq!(fresh.dead_letter_source_arn, None);
    }
}

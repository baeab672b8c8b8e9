//! Dead-letter queue policies: RedrivePolicy on a source, RedriveAllowPolicy on a DLQ.
//! Messages echo AWS's wording (docs/aws-reference.md §2.5).

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// A parsed RedrivePolicy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedrivePolicy {
    pub dead_letter_target_arn: String,
    pub max_receive_count: u32,
}

impl RedrivePolicy {
    /// Parse and check a RedrivePolicy value; the target's existence is checked by the engine.
    pub fn parse(raw: &str) -> Result<RedrivePolicy> {
        let invalid = |reason: &str| {
            Error::InvalidParameterValue(format!(
                "Value {raw} for parameter RedrivePolicy is invalid. Reason: {reason}"
            ))
        };
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

/// Which source queues may use a queue as their dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedriveAllowPolicy {
    AllowAll,
    DenyAll,
    ByQueue(Vec<String>),
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
        match map.get("redrivePermission").and_then(Value::as_str) {
            Some(p @ ("allowAll" | "denyAll")) => {
                if arns.is_some() {
                    return Err(invalid("To specify one or more source queue ARNs, you must set redrivePermission to byQueue."));
                }
                Ok(if p == "allowAll" { RedriveAllowPolicy::AllowAll } else { RedriveAllowPolicy::DenyAll })
            }
            Some("byQueue") => match arns {
                Some(a) if a.len() > 10 => Err(invalid("The maximum number of source queue ARNs you can specify is 10.")),
                Some(a) if !a.is_empty() => Ok(RedriveAllowPolicy::ByQueue(a)),
                _ => Err(invalid(
                    "When you specify the byQueue permission type, you must also specify one or more sourceQueueArns values.",
                )),
            },
            _ => Err(unsupported()),
        }
    }

    pub fn allows(&self, source_arn: &str) -> bool {
        match self {
            RedriveAllowPolicy::AllowAll => true,
            RedriveAllowPolicy::DenyAll => false,
            RedriveAllowPolicy::ByQueue(arns) => arns.iter().any(|a| a == source_arn),
        }
    }
}

/// The parts of `arn:partition:service:region:account:resource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArnParts<'a> {
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

pub fn parse_arn(arn: &str) -> Option<ArnParts<'_>> {
    let mut it = arn.splitn(6, ':');
    if it.next()? != "arn" {
        return None;
    }
    let _partition = it.next().filter(|p| !p.is_empty())?;
    let service = it.next().filter(|s| !s.is_empty())?;
    let region = it.next()?;
    let account = it.next()?;
    let resource = it.next().filter(|r| !r.is_empty())?;
    Some(ArnParts { service, region, account, resource })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:sqs:us-east-1:000000000000:dlq";

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
        assert_eq!(
            RedriveAllowPolicy::parse(r#"{"redrivePermission":"allowAll"}"#).unwrap(),
            RedriveAllowPolicy::AllowAll
        );
        let deny = RedriveAllowPolicy::parse(r#"{"redrivePermission":"denyAll"}"#).unwrap();
        assert!(!deny.allows(ARN));
        let by =
            RedriveAllowPolicy::parse(&format!(r#"{{"redrivePermission":"byQueue","sourceQueueArns":["{ARN}"]}}"#))
                .unwrap();
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
}

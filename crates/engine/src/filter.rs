//! Which messages a peek, a count, an export or a selective redrive takes: a filter over what
//! a message carries — the queue it was dead-lettered from, when it was sent and
//! dead-lettered, its message attributes, its body as text and as JSON. Every test given must
//! hold (AND); an empty filter takes every message.
//!
//! A filter is plain data (kept in a move task's record); `check` validates one and gives the
//! `Matcher` that applies it, with its JSON values parsed once.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::Millis;
use crate::error::{Error, Result};
use crate::message::{AttributeData, Content};

/// Longest body text a filter looks for.
pub const MAX_TEXT_CHARS: usize = 1024;
/// Most attribute tests, and most JSON tests, in one filter.
pub const MAX_TESTS: usize = 10;
/// Most MessageIds one filter names.
pub const MAX_MESSAGE_IDS: usize = 1000;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageFilter {
    /// The queue the message was dead-lettered from (its DeadLetterQueueSourceArn).
    pub source_arn: Option<String>,
    /// Sent in this time range (SentTimestamp).
    pub sent: TimeRange,
    /// Reached its dead-letter queue in this time range; a message never dead-lettered does
    /// not match a range that is set.
    pub dead_lettered: TimeRange,
    pub attributes: Vec<AttributeTest>,
    /// The body contains this text (case-sensitive).
    pub body_contains: Option<String>,
    /// The body is JSON and holds these values.
    pub body_json: Vec<JsonTest>,
    /// The message is one of these (by MessageId): the messages an operator chose.
    pub message_ids: Vec<String>,
}

/// From `from` (inclusive) to `to` (exclusive), milliseconds since the epoch; either end open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRange {
    pub from: Option<Millis>,
    pub to: Option<Millis>,
}

/// A message attribute is present (`equals: None`) or has this value: the text of a String
/// or Number attribute, the base64 of a Binary one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeTest {
    pub name: String,
    pub equals: Option<String>,
}

/// The body's value at a JSON Pointer (RFC 6901, e.g. `/order/kind`) equals a JSON value,
/// kept as its text (`"refund"`, `42`, `true`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonTest {
    pub pointer: String,
    pub equals: String,
}

impl TimeRange {
    fn holds(&self, at: Millis) -> bool {
        self.from.is_none_or(|f| at >= f) && self.to.is_none_or(|t| at < t)
    }

    fn is_open(&self) -> bool {
        self.from.is_none() && self.to.is_none()
    }
}

impl MessageFilter {
    pub fn is_empty(&self) -> bool {
        *self == MessageFilter::default()
    }

    /// The filter checked (its limits, its pointers and JSON values), ready to apply.
    pub fn check(&self) -> Result<Matcher<'_>> {
        let invalid = |param: &str, reason: String| Error::InvalidParameterValue(format!("{param}: {reason}"));
        if let Some(text) = &self.body_contains {
            if text.is_empty() || text.chars().count() > MAX_TEXT_CHARS {
                return Err(invalid("Filter.BodyContains", format!("Must be 1 to {MAX_TEXT_CHARS} characters.")));
            }
        }
        for (range, param) in [(&self.sent, "Filter.Sent"), (&self.dead_lettered, "Filter.DeadLettered")] {
            if let (Some(from), Some(to)) = (range.from, range.to) {
                if from > to {
                    return Err(invalid(param, "From must not be after To.".into()));
                }
            }
        }
        if self.attributes.len() > MAX_TESTS || self.body_json.len() > MAX_TESTS {
            return Err(invalid("Filter", format!("At most {MAX_TESTS} attribute tests and {MAX_TESTS} JSON tests.")));
        }
        if self.message_ids.len() > MAX_MESSAGE_IDS {
            return Err(invalid("Filter.MessageIds", format!("At most {MAX_MESSAGE_IDS} MessageIds.")));
        }
        if self.attributes.iter().any(|a| a.name.is_empty()) {
            return Err(invalid("Filter.MessageAttributes", "Each test needs a Name.".into()));
        }
        let mut json = Vec::with_capacity(self.body_json.len());
        for t in &self.body_json {
            if !(t.pointer.is_empty() || t.pointer.starts_with('/')) {
                return Err(invalid(
                    "Filter.BodyJson",
                    format!("Path {:?} is not a JSON Pointer: it starts with / (e.g. /order/kind).", t.pointer),
                ));
            }
            let value: Value = serde_json::from_str(&t.equals).map_err(|e| {
                invalid("Filter.BodyJson", format!("Equals for {:?} is not a JSON value: {e}.", t.pointer))
            })?;
            json.push((t.pointer.as_str(), value));
        }
        Ok(Matcher { filter: self, json })
    }
}

/// A checked filter.
pub struct Matcher<'f> {
    filter: &'f MessageFilter,
    json: Vec<(&'f str, Value)>,
}

impl Matcher<'_> {
    /// Whether the message passes every test of the filter.
    pub fn matches(&self, c: &Content) -> bool {
        let f = self.filter;
        if !f.message_ids.is_empty() && !f.message_ids.contains(&c.id) {
            return false;
        }
        if f.source_arn.as_ref().is_some_and(|arn| c.dead_letter_source_arn.as_ref() != Some(arn)) {
            return false;
        }
        if !f.sent.holds(c.sent_at) {
            return false;
        }
        if !f.dead_lettered.is_open() && !c.dead_lettered_at.is_some_and(|at| f.dead_lettered.holds(at)) {
            return false;
        }
        for test in &f.attributes {
            let Some(attribute) = c.attributes.get(&test.name) else { return false };
            if let Some(want) = &test.equals {
                let same = match &attribute.value {
                    AttributeData::String(s) => s == want,
                    AttributeData::Binary(b) => {
                        use base64::Engine as _;
                        base64::engine::general_purpose::STANDARD.encode(b) == *want
                    }
                };
                if !same {
                    return false;
                }
            }
        }
        if f.body_contains.as_ref().is_some_and(|text| !c.body.contains(text.as_str())) {
            return false;
        }
        if !self.json.is_empty() {
            let Ok(body) = serde_json::from_str::<Value>(&c.body) else { return false };
            return self.json.iter().all(|(pointer, want)| body.pointer(pointer) == Some(want));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::AttributeValue;

    fn message(body: &str) -> Content {
        Content {
            id: "m".into(),
            body: body.into(),
            md5_of_body: String::new(),
            attributes: [
                (
                    "kind".to_string(),
                    AttributeValue { data_type: "String".into(), value: AttributeData::String("refund".into()) },
                ),
                (
                    "raw".to_string(),
                    AttributeValue { data_type: "Binary".into(), value: AttributeData::Binary(vec![1, 2]) },
                ),
            ]
            .into(),
            md5_of_attributes: None,
            system_attributes: Default::default(),
            md5_of_system_attributes: None,
            sender_id: String::new(),
            sent_at: 1_000,
            dead_letter_source_arn: Some("arn:aws:sqs:us-east-1:000000000000:orders".into()),
            group_id: None,
            deduplication_id: None,
            dead_lettered_at: Some(5_000),
            redrives: None,
        }
    }

    fn passes(filter: MessageFilter, body: &str) -> bool {
        filter.check().unwrap().matches(&message(body))
    }

    #[test]
    fn an_empty_filter_takes_every_message() {
        assert!(passes(MessageFilter::default(), "anything"));
        assert!(MessageFilter::default().is_empty());
    }

    #[test]
    fn each_test_keeps_only_the_messages_it_describes() {
        let body = r#"{"order":{"id":42,"kind":"refund"},"paid":true}"#;
        let source = |arn: &str| MessageFilter { source_arn: Some(arn.into()), ..Default::default() };
        assert!(passes(source("arn:aws:sqs:us-east-1:000000000000:orders"), body));
        assert!(!passes(source("arn:aws:sqs:us-east-1:000000000000:other"), body));

        let sent = |from, to| MessageFilter { sent: TimeRange { from, to }, ..Default::default() };
        assert!(passes(sent(Some(1_000), Some(1_001)), body), "from is inclusive");
        assert!(!passes(sent(None, Some(1_000)), body), "to is exclusive");
        let dead = |from| MessageFilter { dead_lettered: TimeRange { from, to: None }, ..Default::default() };
        assert!(passes(dead(Some(4_000)), body));
        assert!(!passes(dead(Some(6_000)), body));

        let attr = |name: &str, equals: Option<&str>| MessageFilter {
            attributes: vec![AttributeTest { name: name.into(), equals: equals.map(str::to_string) }],
            ..Default::default()
        };
        assert!(passes(attr("kind", None), body));
        assert!(passes(attr("kind", Some("refund")), body));
        assert!(!passes(attr("kind", Some("sale")), body));
        assert!(!passes(attr("missing", None), body));
        assert!(passes(attr("raw", Some("AQI=")), body), "a binary value compares as base64");

        let contains = |text: &str| MessageFilter { body_contains: Some(text.into()), ..Default::default() };
        assert!(passes(contains("refund"), body));
        assert!(!passes(contains("Refund"), body), "case-sensitive");

        let json = |pointer: &str, equals: &str| MessageFilter {
            body_json: vec![JsonTest { pointer: pointer.into(), equals: equals.into() }],
            ..Default::default()
        };
        assert!(passes(json("/order/kind", r#""refund""#), body));
        assert!(passes(json("/order/id", "42"), body));
        assert!(passes(json("/paid", "true"), body));
        assert!(!passes(json("/order/id", r#""42""#), body), "a number is not its text");
        assert!(!passes(json("/order/missing", "null"), body));
        assert!(!passes(json("/order/kind", r#""refund""#), "not json"), "a body that is not JSON never matches");

        let ids = |ids: &[&str]| MessageFilter {
            message_ids: ids.iter().map(|i| i.to_string()).collect(),
            ..Default::default()
        };
        assert!(passes(ids(&["x", "m"]), body));
        assert!(!passes(ids(&["x"]), body));
    }

    #[test]
    fn a_message_never_dead_lettered_does_not_match_a_dead_letter_range() {
        let filter = MessageFilter { dead_lettered: TimeRange { from: Some(0), to: None }, ..Default::default() };
        let fresh = Content { dead_lettered_at: None, ..message("x") };
        assert!(!filter.check().unwrap().matches(&fresh));
    }

    #[test]
    fn bad_filters_are_refused_with_the_field_and_the_reason() {
        let refused = |f: MessageFilter| f.check().err().map(|e| e.to_string()).unwrap_or_default();
        let pointer = MessageFilter {
            body_json: vec![JsonTest { pointer: "$.order".into(), equals: "1".into() }],
            ..Default::default()
        };
        assert!(refused(pointer).starts_with("Filter.BodyJson: Path \"$.order\" is not a JSON Pointer"));
        let value = MessageFilter {
            body_json: vec![JsonTest { pointer: "/order".into(), equals: "refund".into() }],
            ..Default::default()
        };
        assert!(refused(value).starts_with("Filter.BodyJson: Equals for \"/order\" is not a JSON value"));
        let range = MessageFilter { sent: TimeRange { from: Some(5), to: Some(4) }, ..Default::default() };
        assert_eq!(refused(range), "Filter.Sent: From must not be after To.");
        let long = MessageFilter { body_contains: Some("x".repeat(1025)), ..Default::default() };
        assert_eq!(refused(long), "Filter.BodyContains: Must be 1 to 1024 characters.");
    }
}

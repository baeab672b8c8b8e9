//! The filter flags as the extension's `Filter` (docs/extension-api.md), and the same tests
//! applied on this side to a received message, for what runs against SQS itself.

use serde_json::{json, Map, Value};

use super::args::FilterArgs;
use super::client::Clients;
use super::error::CliError;
use super::queue::QueueRef;

/// A filter ready to send (`api`) and to apply here (`matches`).
#[derive(Debug, Clone)]
pub struct Filter {
    pub api: Value,
}

impl Filter {
    pub async fn from_args(args: &FilterArgs, c: &Clients) -> Result<Filter, CliError> {
        let mut f = Map::new();
        if let Some(source) = &args.source {
            f.insert("DeadLetterQueueSourceArn".into(), json!(QueueRef::parse(source)?.arn(c).await?));
        }
        for (key, v) in [
            ("SentAfter", args.sent_after),
            ("SentBefore", args.sent_before),
            ("DeadLetteredAfter", args.dead_lettered_after),
            ("DeadLetteredBefore", args.dead_lettered_before),
        ] {
            if let Some(v) = v {
                f.insert(key.into(), json!(v));
            }
        }
        if !args.attributes.is_empty() {
            let tests: Vec<Value> = args
                .attributes
                .iter()
                .map(|a| match a.split_once('=') {
                    Some((name, value)) => json!({ "Name": name, "Equals": value }),
                    None => json!({ "Name": a, "Exists": true }),
                })
                .collect();
            f.insert("MessageAttributes".into(), json!(tests));
        }
        if let Some(text) = &args.body_contains {
            f.insert("BodyContains".into(), json!(text));
        }
        if !args.json_paths.is_empty() {
            let mut tests = Vec::new();
            for p in &args.json_paths {
                let (path, value) = p.split_once('=').ok_or_else(|| {
                    CliError::usage(format!("--json-path {p}: give /pointer=VALUE, e.g. /kind=refund"))
                })?;
                if !path.starts_with('/') {
                    return Err(CliError::usage(format!(
                        "--json-path {p}: {path} is not a JSON Pointer: it starts with / (e.g. /order/kind)"
                    )));
                }
                let value = serde_json::from_str::<Value>(value).unwrap_or_else(|_| json!(value));
                tests.push(json!({ "Path": path, "Equals": value }));
            }
            f.insert("BodyJson".into(), json!(tests));
        }
        if !args.message_ids.is_empty() {
            f.insert("MessageIds".into(), json!(args.message_ids));
        }
        Ok(Filter { api: Value::Object(f) })
    }

    pub fn is_empty(&self) -> bool {
        !matches!(self.api.as_object(), Some(m) if !m.is_empty())
    }

    /// Refuses what cannot be told from a received message (SQS keeps no dead-letter time).
    pub fn check_client_side(&self) -> Result<(), CliError> {
        for key in ["DeadLetteredAfter", "DeadLetteredBefore"] {
            if self.api.get(key).is_some() {
                return Err(CliError::usage(
                    "--dead-lettered-after/--dead-lettered-before need a Redrive server: SQS does not tell \
                     when a message was dead-lettered",
                ));
            }
        }
        Ok(())
    }

    /// Whether `message` (a message in the export's shape) passes every test.
    pub fn matches(&self, message: &Value) -> bool {
        let attr = |name: &str| message["Attributes"].get(name).and_then(Value::as_str);
        let number = |name: &str| attr(name).and_then(|v| v.parse::<u64>().ok());
        let body = message["Body"].as_str().unwrap_or_default();
        let f = &self.api;
        if let Some(arn) = f.get("DeadLetterQueueSourceArn").and_then(Value::as_str) {
            if attr("DeadLetterQueueSourceArn") != Some(arn) {
                return false;
            }
        }
        let sent = number("SentTimestamp");
        if let Some(after) = f.get("SentAfter").and_then(Value::as_u64) {
            if !matches!(sent, Some(s) if s >= after) {
                return false;
            }
        }
        if let Some(before) = f.get("SentBefore").and_then(Value::as_u64) {
            if !matches!(sent, Some(s) if s < before) {
                return false;
            }
        }
        if let Some(text) = f.get("BodyContains").and_then(Value::as_str) {
            if !body.contains(text) {
                return false;
            }
        }
        for t in f.get("MessageAttributes").and_then(Value::as_array).into_iter().flatten() {
            let name = t["Name"].as_str().unwrap_or_default();
            let Some(a) = message.get("MessageAttributes").and_then(|m| m.get(name)) else { return false };
            if let Some(expected) = t.get("Equals").and_then(Value::as_str) {
                let actual = a.get("StringValue").or_else(|| a.get("BinaryValue")).and_then(Value::as_str);
                if actual != Some(expected) {
                    return false;
                }
            }
        }
        let tests = f.get("BodyJson").and_then(Value::as_array);
        if tests.is_some_and(|t| !t.is_empty()) {
            let Ok(parsed) = serde_json::from_str::<Value>(body) else { return false };
            for t in tests.into_iter().flatten() {
                let path = t["Path"].as_str().unwrap_or_default();
                if parsed.pointer(path) != Some(&t["Equals"]) {
                    return false;
                }
            }
        }
        if let Some(ids) = f.get("MessageIds").and_then(Value::as_array) {
            if !ids.iter().any(|id| id.as_str() == message["MessageId"].as_str()) {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> Value {
        json!({
            "MessageId": "m1",
            "Body": r#"{"kind":"refund","n":42}"#,
            "Attributes": { "SentTimestamp": "1000", "DeadLetterQueueSourceArn": "arn:aws:sqs:r:1:src" },
            "MessageAttributes": { "tenant": { "DataType": "String", "StringValue": "acme" } },
        })
    }

    fn filter(api: Value) -> Filter {
        Filter { api }
    }

    #[test]
    fn a_received_message_is_filtered_as_the_server_filters() {
        let m = message();
        assert!(filter(json!({})).matches(&m));
        assert!(filter(json!({ "BodyJson": [{ "Path": "/n", "Equals": 42 }] })).matches(&m));
        assert!(!filter(json!({ "BodyJson": [{ "Path": "/n", "Equals": "42" }] })).matches(&m), "42 is not \"42\"");
        assert!(filter(json!({ "MessageAttributes": [{ "Name": "tenant", "Equals": "acme" }] })).matches(&m));
        assert!(filter(json!({ "MessageAttributes": [{ "Name": "tenant", "Exists": true }] })).matches(&m));
        assert!(!filter(json!({ "MessageAttributes": [{ "Name": "region", "Exists": true }] })).matches(&m));
        assert!(filter(json!({ "SentAfter": 1000, "SentBefore": 1001 })).matches(&m));
        assert!(!filter(json!({ "SentBefore": 1000 })).matches(&m));
        assert!(filter(json!({ "DeadLetterQueueSourceArn": "arn:aws:sqs:r:1:src" })).matches(&m));
        assert!(!filter(json!({ "DeadLetterQueueSourceArn": "arn:aws:sqs:r:1:other" })).matches(&m));
        assert!(filter(json!({ "MessageIds": ["m0", "m1"], "BodyContains": "refund" })).matches(&m));
        assert!(!filter(json!({ "MessageIds": ["m0"] })).matches(&m));
        assert!(filter(json!({ "DeadLetteredAfter": 1 })).check_client_side().is_err());
    }
}

//! Hostile input: every field of a valid request of every operation replaced, in turn, by
//! values of the wrong type, out of range or malformed, and the field left out; the same for
//! the Query protocol's parameters. Each answer must be an SQS answer (2xx or 4xx with an
//! error code, never a 5xx, a dropped connection or a hang), and a queue that no request
//! names keeps its messages intact.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{fresh_dir, on_disk, Harness};

/// Values a client could send in place of any field.
fn hostile_values() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(-1),
        json!(0),
        json!(i64::MAX),
        json!(u64::MAX),
        json!(-9_223_372_036_854_775_808i64),
        json!(1e308),
        json!(-1e308),
        json!(1.5),
        json!(""),
        json!("-1"),
        json!("99999999999999999999999"),
        json!("1e308"),
        json!("x"),
        json!("\u{0}\u{1}\u{fffe}"),
        json!("\u{1F600}".repeat(64)),
        json!("a".repeat(300 * 1024)),
        json!([]),
        json!([null, 1, "x", {}]),
        json!({}),
        json!({"x": {"y": [1]}}),
    ]
}

/// A valid request of each operation, with real queues, handles and a task handle.
fn templates(
    target: &str,
    target_arn: &str,
    dlq: &str,
    dlq_arn: &str,
    handle: &str,
    task: &str,
) -> Vec<(&'static str, Value)> {
    let attrs =
        json!({"a": {"DataType": "String", "StringValue": "x"}, "b": {"DataType": "Binary", "BinaryValue": "AAE="}});
    vec![
        ("CreateQueue", json!({"QueueName": "made", "Attributes": {"VisibilityTimeout": "30"}, "tags": {"k": "v"}})),
        ("GetQueueUrl", json!({"QueueName": "target", "QueueOwnerAWSAccountId": "000000000000"})),
        ("ListQueues", json!({"QueueNamePrefix": "t", "MaxResults": 5, "NextToken": "x"})),
        ("GetQueueAttributes", json!({"QueueUrl": target, "AttributeNames": ["All"]})),
        ("SetQueueAttributes", json!({"QueueUrl": target, "Attributes": {"VisibilityTimeout": "30"}})),
        ("TagQueue", json!({"QueueUrl": target, "Tags": {"k": "v"}})),
        ("UntagQueue", json!({"QueueUrl": target, "TagKeys": ["k"]})),
        ("ListQueueTags", json!({"QueueUrl": target})),
        ("ListDeadLetterSourceQueues", json!({"QueueUrl": dlq, "MaxResults": 5, "NextToken": "x"})),
        (
            "AddPermission",
            json!({"QueueUrl": target, "Label": "l", "AWSAccountIds": ["111122223333"], "Actions": ["SendMessage"]}),
        ),
        ("RemovePermission", json!({"QueueUrl": target, "Label": "l"})),
        (
            "SendMessage",
            json!({"QueueUrl": target, "MessageBody": "b", "DelaySeconds": 0, "MessageAttributes": attrs,
                   "MessageSystemAttributes": {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1"}}}),
        ),
        (
            "SendMessageBatch",
            json!({"QueueUrl": target, "Entries": [{"Id": "1", "MessageBody": "b", "DelaySeconds": 0, "MessageAttributes": attrs}]}),
        ),
        (
            "ReceiveMessage",
            json!({"QueueUrl": target, "MaxNumberOfMessages": 1, "VisibilityTimeout": 0, "WaitTimeSeconds": 0,
                   "AttributeNames": ["All"], "MessageSystemAttributeNames": ["All"], "MessageAttributeNames": ["All"],
                   "ReceiveRequestAttemptId": "r"}),
        ),
        ("ChangeMessageVisibility", json!({"QueueUrl": target, "ReceiptHandle": handle, "VisibilityTimeout": 0})),
        (
            "ChangeMessageVisibilityBatch",
            json!({"QueueUrl": target, "Entries": [{"Id": "1", "ReceiptHandle": handle, "VisibilityTimeout": 0}]}),
        ),
        ("DeleteMessage", json!({"QueueUrl": target, "ReceiptHandle": handle})),
        ("DeleteMessageBatch", json!({"QueueUrl": target, "Entries": [{"Id": "1", "ReceiptHandle": handle}]})),
        (
            "StartMessageMoveTask",
            json!({"SourceArn": dlq_arn, "DestinationArn": target_arn, "MaxNumberOfMessagesPerSecond": 1}),
        ),
        ("ListMessageMoveTasks", json!({"SourceArn": dlq_arn, "MaxResults": 1})),
        ("CancelMessageMoveTask", json!({"TaskHandle": task})),
        ("PurgeQueue", json!({"QueueUrl": target})),
        ("DeleteQueue", json!({"QueueUrl": target})),
    ]
}

/// Every path to a value inside `v` (object keys and array indexes), containers included.
fn paths(v: &Value, prefix: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                prefix.push(PathStep::Key(k.clone()));
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                prefix.push(PathStep::Index(i));
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum PathStep {
    Key(String),
    Index(usize),
}

/// `v` with the value at `path` replaced by `with`, or removed when `with` is `None`.
fn mutate(v: &Value, path: &[PathStep], with: Option<&Value>) -> Value {
    let mut out = v.clone();
    let (last, parents) = path.split_last().expect("a path has a step");
    let mut at = &mut out;
    for step in parents {
        at = match step {
            PathStep::Key(k) => &mut at[k.as_str()],
            PathStep::Index(i) => &mut at[*i],
        };
    }
    match (last, with) {
        (PathStep::Key(k), Some(w)) => at[k.as_str()] = w.clone(),
        (PathStep::Key(k), None) => {
            at.as_object_mut().expect("an object").remove(k);
        }
        (PathStep::Index(i), Some(w)) => at[*i] = w.clone(),
        (PathStep::Index(i), None) => {
            at.as_array_mut().expect("an array").remove(*i);
        }
    }
    out
}

struct Raw {
    http: reqwest::Client,
    endpoint: String,
}

impl Raw {
    fn new(h: &Harness) -> Raw {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
        Raw { http, endpoint: h.endpoint() }
    }

    /// POSTs a JSON 1.0 request; the status and body, or why there was no answer.
    async fn json(&self, target: &str, body: Vec<u8>) -> Result<(u16, String), String> {
        self.post(&[("Content-Type", "application/x-amz-json-1.0"), ("X-Amz-Target", target)], body).await
    }

    async fn query(&self, body: String) -> Result<(u16, String), String> {
        self.post(&[("Content-Type", "application/x-www-form-urlencoded")], body.into_bytes()).await
    }

    async fn post(&self, headers: &[(&str, &str)], body: Vec<u8>) -> Result<(u16, String), String> {
        let mut request = self.http.post(&self.endpoint).body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.map_err(|e| format!("no answer: {e}"))?;
        let status = response.status().as_u16();
        Ok((status, response.text().await.map_err(|e| format!("no body: {e}"))?))
    }
}

/// What is wrong with a JSON-protocol answer, if anything.
fn json_fault(answer: Result<(u16, String), String>) -> Option<String> {
    match answer {
        Err(e) => Some(e),
        Ok((status, body)) if status >= 500 => Some(format!("{status} {body}")),
        Ok((status, body)) if status >= 400 => match serde_json::from_str::<Value>(&body) {
            Ok(v) if v["__type"].is_string() => None,
            _ => Some(format!("{status} without an error type: {body}")),
        },
        // Operations with no output answer with an empty body, as AWS does.
        Ok((_, body)) if body.is_empty() => None,
        Ok((status, body)) => match serde_json::from_str::<Value>(&body) {
            Ok(v) if v.is_object() => None,
            _ => Some(format!("{status} with a body that is not a JSON object: {body}")),
        },
    }
}

/// What is wrong with a Query-protocol answer, if anything.
fn query_fault(answer: Result<(u16, String), String>) -> Option<String> {
    match answer {
        Err(e) => Some(e),
        Ok((status, body)) if status >= 500 => Some(format!("{status} {body}")),
        Ok((status, body)) if status >= 400 && !body.contains("<ErrorResponse") => {
            Some(format!("{status} without an ErrorResponse: {body}"))
        }
        Ok(_) => None,
    }
}

/// Queues the hostile requests act on, and a witness queue none of them names.
struct Scene {
    target: String,
    target_arn: String,
    dlq: String,
    dlq_arn: String,
    handle: String,
    task: String,
}

async fn scene(h: &Harness) -> Scene {
    let dlq = h.create_queue("target-dlq").await;
    let dlq_arn = h.attribute(&dlq, "QueueArn").await;
    let policy = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}).to_string();
    let target = h.create_queue_with("target", &[("RedrivePolicy", policy.as_str())]).await;
    let target_arn = h.attribute(&target, "QueueArn").await;
    h.client.send_message().queue_url(&target).message_body("t").send().await.unwrap();
    let received = h.client.receive_message().queue_url(&target).send().await.unwrap();
    let handle = received.messages()[0].receipt_handle().unwrap().to_string();
    h.client.send_message().queue_url(&dlq).message_body("d").send().await.unwrap();
    let task =
        h.client.start_message_move_task().source_arn(&dlq_arn).max_number_of_messages_per_second(1).send().await;
    let task = task.unwrap().task_handle().unwrap().to_string();
    Scene { target, target_arn, dlq, dlq_arn, handle, task }
}

/// Fills a witness queue that no hostile request names; returns its URL.
async fn witness(h: &Harness) -> String {
    let url = h.create_queue("witness").await;
    for body in ["w-one", "w-two", "w-three"] {
        h.client.send_message().queue_url(&url).message_body(body).send().await.unwrap();
    }
    url
}

/// The witness still holds its three messages, unchanged.
async fn check_witness(h: &Harness, url: &str) {
    let mut bodies = Vec::new();
    for _ in 0..10 {
        let out = h.client.receive_message().queue_url(url).max_number_of_messages(10).send().await.unwrap();
        bodies.extend(out.messages().iter().map(|m| m.body().unwrap().to_string()));
        if bodies.len() >= 3 {
            break;
        }
    }
    bodies.sort();
    assert_eq!(bodies, ["w-one", "w-three", "w-two"]);
}

/// Sends every hostile variant of every operation's JSON request; the faults found and
/// how many requests were sent.
async fn json_pass(h: &Harness) -> (Vec<String>, usize) {
    let raw = Raw::new(h);
    let mut faults = Vec::new();
    let mut sent = 0;
    let s = scene(h).await;
    for (op, template) in templates(&s.target, &s.target_arn, &s.dlq, &s.dlq_arn, &s.handle, &s.task) {
        let target = format!("AmazonSQS.{op}");
        let mut all = Vec::new();
        paths(&template, &mut Vec::new(), &mut all);
        for path in &all {
            let variants = hostile_values().into_iter().map(Some).chain([None]);
            for value in variants {
                let body = serde_json::to_vec(&mutate(&template, path, value.as_ref())).unwrap();
                sent += 1;
                if let Some(fault) = json_fault(raw.json(&target, body).await) {
                    faults.push(format!("{op} {path:?} = {value:?}: {fault}"));
                }
            }
        }
        // Whole bodies that are not the request's object.
        for body in [&b""[..], b"null", b"[]", b"\"x\"", b"{", b"{\"QueueUrl\":", &[0xff, 0xfe, 0x00]] {
            sent += 1;
            if let Some(fault) = json_fault(raw.json(&target, body.to_vec()).await) {
                faults.push(format!("{op} body {body:?}: {fault}"));
            }
        }
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        sent += 1;
        if let Some(fault) = json_fault(raw.json(&target, deep.into_bytes()).await) {
            faults.push(format!("{op} deeply nested body: {fault}"));
        }
    }
    (faults, sent)
}

fn assert_no_faults(faults: &[String], sent: usize, at_least: usize) {
    assert!(faults.is_empty(), "{} of {sent} answers were not SQS answers:\n{}", faults.len(), faults.join("\n"));
    assert!(sent >= at_least, "only {sent} requests were sent");
}

#[tokio::test]
async fn every_field_of_every_json_operation_survives_hostile_values() {
    let h = Harness::start().await;
    let witness_url = witness(&h).await;
    let (faults, sent) = json_pass(&h).await;
    assert_no_faults(&faults, sent, 2_000);
    check_witness(&h, &witness_url).await;
}

#[tokio::test]
async fn hostile_values_leave_the_durable_record_intact_across_a_restart() {
    let dir = fresh_dir("hostile");
    let h = Harness::start_with(on_disk(&dir)).await;
    let witness_url = witness(&h).await;
    let (faults, sent) = json_pass(&h).await;
    assert_no_faults(&faults, sent, 2_000);
    h.server.shutdown().await;

    let h = Harness::start_with(on_disk(&dir)).await;
    check_witness(&h, &witness_url).await;
    h.server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The JSON templates as Query parameters (Attribute.N.Name, Entry.N.Field …), flattened.
fn query_templates(s: &Scene) -> Vec<(&'static str, Vec<(String, String)>)> {
    let p = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
    let (t, d, hd) = (s.target.as_str(), s.dlq.as_str(), s.handle.as_str());
    vec![
        (
            "CreateQueue",
            p(&[
                ("QueueName", "made-q"),
                ("Attribute.1.Name", "VisibilityTimeout"),
                ("Attribute.1.Value", "30"),
                ("Tag.1.Key", "k"),
                ("Tag.1.Value", "v"),
            ]),
        ),
        ("GetQueueUrl", p(&[("QueueName", "target"), ("QueueOwnerAWSAccountId", "000000000000")])),
        ("ListQueues", p(&[("QueueNamePrefix", "t"), ("MaxResults", "5"), ("NextToken", "x")])),
        ("GetQueueAttributes", p(&[("QueueUrl", t), ("AttributeName.1", "All")])),
        (
            "SetQueueAttributes",
            p(&[("QueueUrl", t), ("Attribute.1.Name", "VisibilityTimeout"), ("Attribute.1.Value", "30")]),
        ),
        ("TagQueue", p(&[("QueueUrl", t), ("Tag.1.Key", "k"), ("Tag.1.Value", "v")])),
        ("UntagQueue", p(&[("QueueUrl", t), ("TagKey.1", "k")])),
        ("ListQueueTags", p(&[("QueueUrl", t)])),
        ("ListDeadLetterSourceQueues", p(&[("QueueUrl", d), ("MaxResults", "5")])),
        (
            "AddPermission",
            p(&[("QueueUrl", t), ("Label", "l"), ("AWSAccountId.1", "111122223333"), ("ActionName.1", "SendMessage")]),
        ),
        ("RemovePermission", p(&[("QueueUrl", t), ("Label", "l")])),
        (
            "SendMessage",
            p(&[
                ("QueueUrl", t),
                ("MessageBody", "b"),
                ("DelaySeconds", "0"),
                ("MessageAttribute.1.Name", "a"),
                ("MessageAttribute.1.Value.DataType", "String"),
                ("MessageAttribute.1.Value.StringValue", "x"),
                ("MessageAttribute.2.Name", "b"),
                ("MessageAttribute.2.Value.DataType", "Binary"),
                ("MessageAttribute.2.Value.BinaryValue", "AAE="),
            ]),
        ),
        (
            "SendMessageBatch",
            p(&[
                ("QueueUrl", t),
                ("SendMessageBatchRequestEntry.1.Id", "1"),
                ("SendMessageBatchRequestEntry.1.MessageBody", "b"),
                ("SendMessageBatchRequestEntry.1.DelaySeconds", "0"),
            ]),
        ),
        (
            "ReceiveMessage",
            p(&[
                ("QueueUrl", t),
                ("MaxNumberOfMessages", "1"),
                ("VisibilityTimeout", "0"),
                ("WaitTimeSeconds", "0"),
                ("AttributeName.1", "All"),
                ("MessageAttributeName.1", "All"),
            ]),
        ),
        ("ChangeMessageVisibility", p(&[("QueueUrl", t), ("ReceiptHandle", hd), ("VisibilityTimeout", "0")])),
        (
            "ChangeMessageVisibilityBatch",
            p(&[
                ("QueueUrl", t),
                ("ChangeMessageVisibilityBatchRequestEntry.1.Id", "1"),
                ("ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle", hd),
                ("ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout", "0"),
            ]),
        ),
        ("DeleteMessage", p(&[("QueueUrl", t), ("ReceiptHandle", hd)])),
        (
            "DeleteMessageBatch",
            p(&[
                ("QueueUrl", t),
                ("DeleteMessageBatchRequestEntry.1.Id", "1"),
                ("DeleteMessageBatchRequestEntry.1.ReceiptHandle", hd),
            ]),
        ),
        (
            "StartMessageMoveTask",
            p(&[("SourceArn", &s.dlq_arn), ("DestinationArn", &s.target_arn), ("MaxNumberOfMessagesPerSecond", "1")]),
        ),
        ("ListMessageMoveTasks", p(&[("SourceArn", &s.dlq_arn), ("MaxResults", "1")])),
        ("CancelMessageMoveTask", p(&[("TaskHandle", &s.task)])),
        ("PurgeQueue", p(&[("QueueUrl", t)])),
        ("DeleteQueue", p(&[("QueueUrl", t)])),
    ]
}

/// Query values: all strings, some of them not numbers, not UTF-8 once decoded, or huge.
const QUERY_HOSTILE: &[&str] = &[
    "",
    "-1",
    "0",
    "99999999999999999999999",
    "1e308",
    "1.5",
    "x",
    "%00%01",
    "%ff%fe",
    "%",
    "%zz",
    "&&==",
    "%F0%9F%98%80",
];

fn encode_form(pairs: &[(String, String)], raw_value: Option<(usize, &str)>) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&form(k));
        out.push('=');
        match raw_value {
            // Hostile values go in as written, so malformed percent-escapes reach the server.
            Some((at, raw)) if at == i => out.push_str(raw),
            _ => out.push_str(&form(v)),
        }
    }
    out
}

fn form(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[tokio::test]
async fn every_parameter_of_every_query_operation_survives_hostile_values() {
    let h = Harness::start().await;
    let witness_url = witness(&h).await;
    let raw = Raw::new(&h);
    let s = scene(&h).await;
    let mut faults = Vec::new();
    let mut sent = 0;
    for (op, params) in query_templates(&s) {
        let mut base = vec![("Action".to_string(), op.to_string()), ("Version".to_string(), "2012-11-05".to_string())];
        base.extend(params);
        for at in 1..base.len() {
            for value in QUERY_HOSTILE {
                sent += 1;
                let body = encode_form(&base, Some((at, value)));
                if let Some(fault) = query_fault(raw.query(body.clone()).await) {
                    faults.push(format!("{body}: {fault}"));
                }
            }
            // The parameter left out, and its index pushed out of range.
            let mut without = base.clone();
            let (name, value) = without.remove(at);
            let renamed = name.replace(".1", ".99999999999999999999").replace(".2", ".0");
            for pairs in [without.clone(), [without, vec![(renamed, value)]].concat()] {
                sent += 1;
                let body = encode_form(&pairs, None);
                if let Some(fault) = query_fault(raw.query(body.clone()).await) {
                    faults.push(format!("{body}: {fault}"));
                }
            }
        }
    }
    assert_no_faults(&faults, sent, 1_000);
    check_witness(&h, &witness_url).await;
}

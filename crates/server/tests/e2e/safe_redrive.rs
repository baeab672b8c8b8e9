//! Safe redrive over HTTP: the extension's CountMessages, PeekMessages filters, StartRedrive
//! (dry run, filter, canary), DescribeRedrive and ListRedrives, next to the unchanged SDK —
//! which sees the same tasks in ListMessageMoveTasks, FAILED with Redrive's reason when a
//! canary stops one.

use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};
use serde_json::{json, Value};

use crate::common::{consumer_still_failing, md5_hex, post, real_pause, Harness, ACCOUNT, REGION};

fn arn(name: &str) -> String {
    format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")
}

async fn call(h: &Harness, op: &str, input: Value) -> Value {
    let (status, out) = post(h, "/", &format!("Redrive_v1.{op}"), input, &[]).await;
    assert_eq!(status, 200, "{op}: {out}");
    out
}

/// `src` (maxReceiveCount 1) and its DLQ `dlq`, and 20 messages dead-lettered: bodies
/// `{"n":i}`, attribute kind = refund for even i, sale for odd.
async fn twenty_dead_letters(h: &Harness) -> (String, String) {
    let dlq = h.create_queue("dlq").await;
    let policy = format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":"1"}}"#, arn("dlq"));
    let src = h.create_queue_with("src", &[("RedrivePolicy", &policy)]).await;
    for i in 0..20 {
        let kind = if i % 2 == 0 { "refund" } else { "sale" };
        let attribute = MessageAttributeValue::builder().data_type("String").string_value(kind).build().unwrap();
        h.client
            .send_message()
            .queue_url(&src)
            .message_body(format!(r#"{{"n":{i}}}"#))
            .message_attributes("kind", attribute)
            .send()
            .await
            .unwrap();
    }
    consumer_still_failing(h, &src).await;
    assert_eq!(h.counts(&dlq).await, (20, 0, 0));
    (src, dlq)
}

async fn describe(h: &Harness, handle: &str) -> Value {
    call(h, "DescribeRedrive", json!({ "TaskHandle": handle })).await
}

/// Poll DescribeRedrive (real time, bounded) until `done` holds.
async fn until(h: &Harness, handle: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..500 {
        let task = describe(h, handle).await;
        if done(&task) {
            return task;
        }
        real_pause(10).await;
    }
    panic!("{what}: still {}", describe(h, handle).await);
}

fn refunds() -> Value {
    json!({ "MessageAttributes": [{ "Name": "kind", "Equals": "refund" }] })
}

#[tokio::test]
async fn filters_count_and_peek_a_dlq_without_receiving_anything() {
    let h = Harness::start().await;
    let (_, dlq) = twenty_dead_letters(&h).await;
    let count = |filter: Value| call(&h, "CountMessages", json!({ "QueueUrl": dlq, "Filter": filter }));
    assert_eq!(count(refunds()).await["Count"], 10);
    assert_eq!(count(json!({ "BodyJson": [{ "Path": "/n", "Equals": 3 }] })).await["Count"], 1);
    assert_eq!(count(json!({ "DeadLetterQueueSourceArn": arn("src") })).await["Count"], 20);
    assert_eq!(count(json!({ "DeadLetterQueueSourceArn": arn("other") })).await["Count"], 0);
    let all = count(json!({})).await;
    assert_eq!((all["Count"].clone(), all["Examined"].clone()), (json!(20), json!(20)));

    let page = call(&h, "PeekMessages", json!({ "QueueUrl": dlq, "Filter": refunds(), "MaxResults": 3 })).await;
    let messages = page["Messages"].as_array().unwrap();
    let bodies: Vec<&str> = messages.iter().map(|m| m["Body"].as_str().unwrap()).collect();
    assert_eq!(bodies, [r#"{"n":0}"#, r#"{"n":2}"#, r#"{"n":4}"#]);
    assert!(messages[0]["DeadLetteredTimestamp"].as_u64().is_some_and(|t| t > 0));
    assert_eq!(messages[0]["RedriveCount"], 0);
    assert!(page["NextToken"].is_string());
    assert_eq!(h.counts(&dlq).await, (20, 0, 0), "nothing received");

    let (status, out) = post(
        &h,
        "/",
        "Redrive_v1.CountMessages",
        json!({ "QueueUrl": dlq, "Filter": { "BodyJson": [{ "Path": "$.n", "Equals": 3 }] } }),
        &[],
    )
    .await;
    assert_eq!(
        (status, out["__type"].as_str()),
        (400, Some("com.amazon.coral.service#InvalidParameterValueException")),
        "{out}"
    );
    assert!(out["message"].as_str().unwrap().contains("is not a JSON Pointer"), "{out}");
}

#[tokio::test]
async fn a_dry_run_shows_what_would_move_and_a_canary_stops_a_redrive_into_a_broken_consumer() {
    let h = Harness::start().await;
    let (src, dlq) = twenty_dead_letters(&h).await;

    let dry = call(&h, "StartRedrive", json!({ "SourceArn": arn("dlq"), "Filter": refunds(), "DryRun": true })).await;
    assert_eq!(dry["ApproximateNumberOfMessagesToMove"], 10);
    assert_eq!(dry["Sample"].as_array().unwrap().len(), 10);
    assert_eq!(h.counts(&dlq).await, (20, 0, 0), "a dry run moves nothing");

    // The consumer is still broken: the canary's two come back, and the task stops there.
    let start = json!({ "SourceArn": arn("dlq"), "Filter": refunds(), "Canary": { "Size": 2, "TimeoutSeconds": 60 } });
    let handle = call(&h, "StartRedrive", start.clone()).await["TaskHandle"].as_str().unwrap().to_string();
    let watching = until(&h, &handle, "canary moved", |t| t["Stage"] == "CANARY_WATCH").await;
    assert_eq!(
        (watching["Status"].as_str(), watching["ApproximateNumberOfMessagesMoved"].as_u64()),
        (Some("RUNNING"), Some(2))
    );
    consumer_still_failing(&h, &src).await;
    let failed = until(&h, &handle, "canary failed", |t| t["Status"] == "FAILED").await;
    assert_eq!(failed["ApproximateNumberOfMessagesFailedAgain"], 2);
    // The SDK sees the same task, with AWS's fields.
    let tasks = h.client.list_message_move_tasks().source_arn(arn("dlq")).send().await.unwrap();
    let task = &tasks.results()[0];
    assert_eq!(task.status(), Some("FAILED"));
    assert!(task.failure_reason().unwrap().starts_with("Canary failed: 2 of the 2 canary messages came back"));
    assert_eq!(h.counts(&dlq).await, (20, 0, 0), "nothing lost");

    // Fixed: the same redrive's canary is deleted, then the rest of the refunds move.
    let handle = call(&h, "StartRedrive", start).await["TaskHandle"].as_str().unwrap().to_string();
    until(&h, &handle, "canary moved", |t| t["Stage"] == "CANARY_WATCH").await;
    for m in h.drain(&src).await {
        h.delete(&src, &m).await;
    }
    h.advance(1);
    let done = until(&h, &handle, "completed", |t| t["Status"] == "COMPLETED").await;
    assert_eq!(done["ApproximateNumberOfMessagesMoved"], 10);
    assert_eq!(h.counts(&src).await, (8, 0, 0), "the other eight refunds");
    assert_eq!(h.counts(&dlq).await, (10, 0, 0), "the sales stay");

    let history = call(&h, "ListRedrives", json!({ "SourceArn": arn("dlq") })).await;
    let tasks = history["Tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    assert_eq!((tasks[0]["Status"].as_str(), tasks[1]["Status"].as_str()), (Some("COMPLETED"), Some("FAILED")));
    assert_eq!(tasks[0]["Filter"], refunds());
    assert_eq!(tasks[0]["Canary"], json!({ "Size": 2, "TimeoutSeconds": 60 }));
    assert!(tasks[0]["StartedBy"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(tasks[0]["FinishedTimestamp"].as_u64().is_some());
    let attributes = h.attributes_named(&dlq, &[QueueAttributeName::QueueArn.as_str()]).await;
    assert_eq!(attributes["QueueArn"], arn("dlq"));
}

#[tokio::test]
async fn fix_and_retry_edits_deletes_and_redrives_chosen_messages_and_an_export_comes_back_by_import() {
    let h = Harness::start().await;
    let (src, dlq) = twenty_dead_letters(&h).await;
    let exported = call(&h, "ExportMessages", json!({ "QueueUrl": dlq, "MaxResults": 1000 })).await;
    let lines = exported["Messages"].as_array().unwrap().clone();
    assert_eq!(lines.len(), 20);
    assert!(exported.get("NextToken").is_none());
    let id = |i: usize| lines[i]["MessageId"].as_str().unwrap().to_string();

    // Delete two chosen messages; an empty filter is refused (PurgeQueue does that).
    let gone = call(&h, "DeleteMessages", json!({ "QueueUrl": dlq, "Filter": { "MessageIds": [id(0), id(1)] } })).await;
    assert_eq!(gone["Deleted"], 2);
    let (status, out) = post(&h, "/", "Redrive_v1.DeleteMessages", json!({ "QueueUrl": dlq, "Filter": {} }), &[]).await;
    assert_eq!(status, 400, "{out}");
    assert_eq!(h.counts(&dlq).await, (18, 0, 0));

    // Fix one message's body where it is, then redrive just that one, now.
    let fixed_body = r#"{"n":2,"fixed":true}"#;
    let fixed = call(&h, "UpdateMessage", json!({ "QueueUrl": dlq, "MessageId": id(2), "Body": fixed_body })).await;
    assert_eq!(fixed["MD5OfBody"], md5_hex(fixed_body.as_bytes()));
    let peek = call(&h, "PeekMessages", json!({ "QueueUrl": dlq, "Filter": { "MessageIds": [id(2)] } })).await;
    let shown = &peek["Messages"][0];
    assert_eq!((shown["Body"].as_str(), shown["MessageId"].as_str()), (Some(fixed_body), Some(id(2).as_str())));
    assert_eq!(shown["Attributes"]["DeadLetterQueueSourceArn"], arn("src"), "it still knows where it came from");
    let one = json!({ "SourceArn": arn("dlq"), "Filter": { "MessageIds": [id(2)] } });
    let handle = call(&h, "StartRedrive", one).await["TaskHandle"].as_str().unwrap().to_string();
    assert_eq!(
        until(&h, &handle, "moved", |t| t["Status"] == "COMPLETED").await["ApproximateNumberOfMessagesMoved"],
        1
    );
    let back = h.drain(&src).await;
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].body(), Some(fixed_body), "the SDK checked the new MD5 too");
    h.delete(&src, &back[0]).await;
    let unknown = json!({ "QueueUrl": dlq, "MessageId": "no-such-id", "Body": "x" });
    let (status, out) = post(&h, "/", "Redrive_v1.UpdateMessage", unknown, &[]).await;
    assert_eq!((status, out["message"].as_str()), (404, Some("The queue holds no message no-such-id.")), "{out}");

    // The DLQ goes to a laptop and back: emptied, imported again, redriven by the SDK.
    let everything = json!({ "QueueUrl": dlq, "Filter": { "DeadLetterQueueSourceArn": arn("src") } });
    assert_eq!(call(&h, "DeleteMessages", everything).await["Deleted"], 17);
    let back_in = &lines[3..];
    assert_eq!(call(&h, "ImportMessages", json!({ "QueueUrl": dlq, "Messages": back_in })).await["Imported"], 17);
    let again = call(&h, "ExportMessages", json!({ "QueueUrl": dlq })).await;
    let again = again["Messages"].as_array().unwrap();
    for (before, after) in back_in.iter().zip(again) {
        for field in ["MessageId", "Body", "MD5OfBody", "MessageAttributes", "MD5OfMessageAttributes"] {
            assert_eq!(before[field], after[field], "{field} kept");
        }
        for attribute in ["SentTimestamp", "DeadLetterQueueSourceArn", "ApproximateReceiveCount"] {
            assert_eq!(before["Attributes"][attribute], after["Attributes"][attribute], "{attribute} kept");
        }
    }
    h.client.start_message_move_task().source_arn(arn("dlq")).send().await.unwrap();
    for _ in 0..500 {
        if h.counts(&src).await.0 == 17 {
            break;
        }
        real_pause(10).await;
    }
    assert_eq!((h.counts(&src).await, h.counts(&dlq).await), ((17, 0, 0), (0, 0, 0)), "back to their source");
}

//! Dead-letter queues and message move tasks, driven by the unchanged aws-sdk-sqs client:
//! the AWS News Blog walk-through (seed article) step by step, every RedrivePolicy /
//! RedriveAllowPolicy / move-task validation error with AWS's wording
//! (docs/aws-reference.md §2.5, §2.11, §4.6, §5), redrive to the original sources and
//! to a chosen destination, the velocity cap against the manual clock, cancellation,
//! a destination deleted mid-task, and a task that survives a restart of a durable server.
//!
//! Move tasks run in the background: tests poll ListMessageMoveTasks for a bounded
//! real-time while (never sleeping for simulated time) and move the manual clock one
//! second at a time to let a rate-limited task proceed.

use std::collections::BTreeMap;
use std::fmt::Debug;

use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{ListMessageMoveTasksResultEntry, Message, MessageSystemAttributeName, QueueAttributeName};
use base64::Engine as _;

use crate::common::{
    check_body_md5, fresh_dir, md5_hex, on_disk, real_pause, restart, string_attribute, system_attribute_of, Harness,
    ACCOUNT, REGION,
};

const NON_EXISTENT_QUEUE: &str = "AWS.SimpleQueueService.NonExistentQueue";

fn arn(name: &str) -> String {
    format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")
}

/// A RedrivePolicy; `count` is the raw JSON token (`3` or `"3"`).
fn redrive_policy(dlq_arn: &str, count: &str) -> String {
    format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":{count}}}"#)
}

/// HTTP status, legacy error code and message of a failed call (panics on success).
fn failure<T: Debug, E: ProvideErrorMetadata + Debug>(
    result: Result<T, SdkError<E, HttpResponse>>,
) -> (u16, String, String) {
    match result {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(err) => {
            let status = err.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
            (status, err.code().unwrap_or("<no code>").to_string(), err.message().unwrap_or("<no message>").to_string())
        }
    }
}

fn invalid(message: impl Into<String>) -> (u16, String, String) {
    (400, "InvalidParameterValue".to_string(), message.into())
}

fn not_found(message: impl Into<String>) -> (u16, String, String) {
    (404, "ResourceNotFoundException".to_string(), message.into())
}

fn receive_count(m: &Message) -> u32 {
    system_attribute_of(m, MessageSystemAttributeName::ApproximateReceiveCount)
        .expect("ApproximateReceiveCount")
        .parse()
        .expect("a count")
}

fn bodies(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| m.body().expect("body").to_string()).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn numbered(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:02}")).collect()
}

/// One receive with every system and message attribute, no wait; checks body MD5s.
async fn receive_all_attributes(h: &Harness, url: &str, max: i32, visibility: Option<i32>) -> Vec<Message> {
    let output = h
        .client
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(max)
        .wait_time_seconds(0)
        .set_visibility_timeout(visibility)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .send()
        .await
        .expect("receive");
    let messages = output.messages().to_vec();
    for m in &messages {
        check_body_md5(m);
    }
    messages
}

/// A DLQ and a source whose RedrivePolicy sends there after `max_receives` receives.
async fn source_and_dlq(h: &Harness, source: &str, dlq: &str, max_receives: &str) -> (String, String) {
    let dlq_url = h.create_queue(dlq).await;
    let source_url = h.create_queue_with(source, &[("RedrivePolicy", &redrive_policy(&arn(dlq), max_receives))]).await;
    (source_url, dlq_url)
}

/// Sends `bodies` to a source with maxReceiveCount 1 and dead-letters them all without
/// moving the clock: a receive with VisibilityTimeout 0 counts one receive and leaves
/// the message visible, so the next receive hands it to the DLQ.
async fn dead_letter_all(h: &Harness, source_url: &str, dlq_url: &str, bodies_to_send: &[String]) {
    let before = h.counts(dlq_url).await.0;
    for b in bodies_to_send {
        h.send(source_url, b).await;
    }
    for _ in 0..100 {
        let got = receive_all_attributes(h, source_url, 10, Some(0)).await;
        if got.is_empty() && h.counts(source_url).await == (0, 0, 0) {
            break;
        }
    }
    assert_eq!(h.counts(source_url).await, (0, 0, 0), "every message left the source");
    assert_eq!(h.counts(dlq_url).await.0, before + bodies_to_send.len() as u64, "every message is in the DLQ");
}

async fn start_task(h: &Harness, source_arn: &str, destination_arn: Option<&str>, rate: Option<i32>) -> String {
    h.client
        .start_message_move_task()
        .source_arn(source_arn)
        .set_destination_arn(destination_arn.map(str::to_string))
        .set_max_number_of_messages_per_second(rate)
        .send()
        .await
        .expect("start message move task")
        .task_handle()
        .expect("TaskHandle")
        .to_string()
}

async fn list_tasks(h: &Harness, source_arn: &str, max: Option<i32>) -> Vec<ListMessageMoveTasksResultEntry> {
    h.client
        .list_message_move_tasks()
        .source_arn(source_arn)
        .set_max_results(max)
        .send()
        .await
        .expect("list message move tasks")
        .results()
        .to_vec()
}

async fn latest_task(h: &Harness, source_arn: &str) -> ListMessageMoveTasksResultEntry {
    let tasks = list_tasks(h, source_arn, None).await;
    assert_eq!(tasks.len(), 1, "the default MaxResults is 1: {tasks:?}");
    tasks.into_iter().next().expect("a task")
}

/// Polls the newest task (up to 5 s of real time, 20 ms steps) until `done` holds.
async fn wait_task(
    h: &Harness,
    source_arn: &str,
    what: &str,
    done: impl Fn(&ListMessageMoveTasksResultEntry) -> bool,
) -> ListMessageMoveTasksResultEntry {
    let mut last = None;
    for _ in 0..250 {
        let task = latest_task(h, source_arn).await;
        if done(&task) {
            return task;
        }
        last = Some(task);
        real_pause(20).await;
    }
    panic!("task never reached {what}: last seen {last:?}");
}

async fn wait_status(h: &Harness, source_arn: &str, status: &str) -> ListMessageMoveTasksResultEntry {
    wait_task(h, source_arn, status, |t| t.status() == Some(status)).await
}

/// Waits until the task has moved `n` messages, then checks it stays there (it must be
/// waiting for the clock) and never went past `n`.
async fn wait_moved_and_held(h: &Harness, source_arn: &str, n: i64) -> ListMessageMoveTasksResultEntry {
    let task = wait_task(h, source_arn, &format!("{n} moved"), |t| {
        assert!(t.approximate_number_of_messages_moved() <= n, "moved more than {n}: {t:?}");
        t.approximate_number_of_messages_moved() == n
    })
    .await;
    real_pause(150).await;
    let again = latest_task(h, source_arn).await;
    assert_eq!(again.approximate_number_of_messages_moved(), n, "no more than {n} before the clock moves: {again:?}");
    assert_eq!(again.status(), Some("RUNNING"));
    task
}

fn decode_handle(handle: &str) -> serde_json::Value {
    let bytes = base64::engine::general_purpose::STANDARD.decode(handle).expect("the handle is standard base64");
    serde_json::from_slice(&bytes).expect("the handle holds JSON")
}

fn handle_of(task_id: &str, source_arn: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!(r#"{{"taskId":"{task_id}","sourceArn":"{source_arn}"}}"#))
}

async fn source_queues(h: &Harness, dlq_url: &str) -> Vec<String> {
    h.client
        .list_dead_letter_source_queues()
        .queue_url(dlq_url)
        .send()
        .await
        .expect("list dead letter source queues")
        .queue_urls()
        .to_vec()
}

/// The manual clock's time now, in epoch milliseconds (as the server reports it).
fn server_now(h: &Harness) -> i64 {
    h.server.engine().clock().now() as i64
}

// ---- the AWS News Blog walk-through (seed 002), step by step ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_news_blog_walkthrough_dead_letters_after_three_receives_and_redrives_to_the_source() {
    let h = Harness::start().await;
    // First, the dead-letter queue, and its ARN.
    let dlq_url = h.create_queue("awsnewsblog-dlq").await;
    let dlq_arn = h.attribute(&dlq_url, "QueueArn").await;
    assert_eq!(dlq_arn, arn("awsnewsblog-dlq"));
    // Then the application queue: post messages in the DLQ after three delivery attempts.
    let policy = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"3"}}"#);
    let url = h.create_queue_with("awsnewsblog", &[("RedrivePolicy", &policy)]).await;
    assert_eq!(url, h.expected_url("awsnewsblog"));
    assert_eq!(
        h.attribute(&url, "RedrivePolicy").await,
        format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":3}}"#),
        "stored as AWS stores it: compact, count as a number"
    );

    let sent = h.send(&url, "Hello World").await;
    assert_eq!(sent.md5_of_message_body(), Some("b10a8db164e0754105b7a99be72e3fe5"));
    let message_id = sent.message_id().expect("MessageId").to_string();

    // Consume without deleting, three times, waiting out the 30 s visibility timeout.
    let mut sent_at = String::new();
    for attempt in 1..=3 {
        let got = receive_all_attributes(&h, &url, 1, None).await;
        assert_eq!(got.len(), 1, "receive {attempt} returns the message");
        let m = &got[0];
        assert_eq!(m.message_id(), Some(message_id.as_str()));
        assert_eq!(m.body(), Some("Hello World"));
        assert_eq!(m.md5_of_body(), Some("b10a8db164e0754105b7a99be72e3fe5"));
        assert_eq!(receive_count(m), attempt);
        assert_eq!(system_attribute_of(m, MessageSystemAttributeName::DeadLetterQueueSourceArn), None);
        if attempt == 1 {
            sent_at = system_attribute_of(m, MessageSystemAttributeName::SentTimestamp).expect("SentTimestamp");
        }
        assert!(h.receive(&url, 1).await.is_empty(), "hidden for the visibility timeout");
        h.advance(31);
    }
    // After three processing attempts, the message is not in the queue anymore.
    assert!(h.receive(&url, 10).await.is_empty(), "the fourth receive is empty");
    assert_eq!(h.counts(&url).await, (0, 0, 0));
    assert_eq!(h.counts(&dlq_url).await, (1, 0, 0));

    // It is in the DLQ, with its MessageId, body and MD5, and the count goes on.
    let got = receive_all_attributes(&h, &dlq_url, 10, None).await;
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m.message_id(), Some(message_id.as_str()), "the original message ID is retained");
    assert_eq!(m.body(), Some("Hello World"));
    assert_eq!(m.md5_of_body(), Some("b10a8db164e0754105b7a99be72e3fe5"));
    assert_eq!(receive_count(m), 4, "maxReceiveCount + 1 on the first DLQ receive");
    assert_eq!(
        system_attribute_of(m, MessageSystemAttributeName::DeadLetterQueueSourceArn).as_deref(),
        Some(arn("awsnewsblog").as_str())
    );
    assert_eq!(
        system_attribute_of(m, MessageSystemAttributeName::SentTimestamp).as_deref(),
        Some(sent_at.as_str()),
        "a standard DLQ keeps the original enqueue time"
    );
    assert_eq!(source_queues(&h, &dlq_url).await, vec![url.clone()]);
    h.advance(31);

    // Redrive programmatically to the original queue.
    let started_at = server_now(&h);
    let handle = start_task(&h, &dlq_arn, None, None).await;
    let decoded = decode_handle(&handle);
    assert_eq!(decoded["sourceArn"], serde_json::json!(dlq_arn));
    let task_id = decoded["taskId"].as_str().expect("taskId is a string");
    assert!(uuid::Uuid::parse_str(task_id).is_ok(), "taskId is a UUID: {task_id}");
    assert_eq!(decoded.as_object().map(|o| o.len()), Some(2), "only taskId and sourceArn: {decoded}");

    let task = wait_status(&h, &dlq_arn, "COMPLETED").await;
    assert_eq!(task.source_arn(), Some(dlq_arn.as_str()));
    assert_eq!(task.approximate_number_of_messages_moved(), 1);
    assert_eq!(task.approximate_number_of_messages_to_move(), Some(1));
    assert_eq!(task.started_timestamp(), started_at, "StartedTimestamp is epoch milliseconds");
    assert_eq!(task.task_handle(), None, "no TaskHandle once COMPLETED");
    assert_eq!(task.destination_arn(), None, "no DestinationArn when none was given");
    assert_eq!(task.max_number_of_messages_per_second(), None, "no rate when none was given");
    assert_eq!(task.failure_reason(), None);

    // The application can consume the message again: a new message in the source.
    assert_eq!(h.counts(&dlq_url).await, (0, 0, 0));
    let got = receive_all_attributes(&h, &url, 10, None).await;
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m.body(), Some("Hello World"));
    assert_eq!(m.md5_of_body(), Some("b10a8db164e0754105b7a99be72e3fe5"));
    assert_ne!(m.message_id(), Some(message_id.as_str()), "a redriven message has a new MessageId");
    assert!(m.message_id().is_some_and(|id| uuid::Uuid::parse_str(id).is_ok()));
    assert_eq!(receive_count(m), 1, "the receive count starts again");
    assert_eq!(system_attribute_of(m, MessageSystemAttributeName::DeadLetterQueueSourceArn), None);
    h.delete(&url, m).await;
    assert_eq!(h.counts(&url).await, (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_attributes_and_sender_survive_the_dead_letter_hand_off_and_the_redrive() {
    let h = Harness::start().await;
    let (url, dlq_url) = source_and_dlq(&h, "attrs", "attrs-dlq", "1").await;
    let sent = h
        .client
        .send_message()
        .queue_url(&url)
        .message_body("with attributes")
        .message_attributes("color", string_attribute("blue"))
        .send()
        .await
        .expect("send");
    assert_eq!(sent.md5_of_message_attributes(), Some("da1b33cc3cbfe8b1630921e78e6b9880"));
    let first = receive_all_attributes(&h, &url, 1, None).await;
    let sent_ts = system_attribute_of(&first[0], MessageSystemAttributeName::SentTimestamp).expect("SentTimestamp");
    let sender = system_attribute_of(&first[0], MessageSystemAttributeName::SenderId).expect("SenderId");
    h.advance(31);
    assert!(h.receive(&url, 1).await.is_empty());

    let in_dlq = receive_all_attributes(&h, &dlq_url, 1, Some(0)).await;
    assert_eq!(in_dlq.len(), 1);
    let m = &in_dlq[0];
    assert_eq!(m.message_id(), sent.message_id());
    assert_eq!(m.md5_of_message_attributes(), Some("da1b33cc3cbfe8b1630921e78e6b9880"));
    assert_eq!(m.message_attributes().and_then(|a| a.get("color")).and_then(|v| v.string_value()), Some("blue"));
    assert_eq!(system_attribute_of(m, MessageSystemAttributeName::SentTimestamp).as_deref(), Some(sent_ts.as_str()));
    assert_eq!(system_attribute_of(m, MessageSystemAttributeName::SenderId).as_deref(), Some(sender.as_str()));
    assert_eq!(receive_count(m), 2);

    start_task(&h, &arn("attrs-dlq"), None, None).await;
    wait_status(&h, &arn("attrs-dlq"), "COMPLETED").await;
    let back = receive_all_attributes(&h, &url, 1, None).await;
    assert_eq!(back.len(), 1);
    let m = &back[0];
    assert_eq!(m.body(), Some("with attributes"));
    assert_eq!(m.md5_of_message_attributes(), Some("da1b33cc3cbfe8b1630921e78e6b9880"));
    assert_eq!(m.message_attributes().and_then(|a| a.get("color")).and_then(|v| v.string_value()), Some("blue"));
    assert_eq!(receive_count(m), 1);
}

// ---- RedrivePolicy ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_redrive_policy_is_refused_with_aws_reasons() {
    let h = Harness::start().await;
    let dlq_url = h.create_queue("target-dlq").await;
    let dlq = arn("target-dlq");
    let reason =
        |raw: &str, r: &str| invalid(format!("Value {raw} for parameter RedrivePolicy is invalid. Reason: {r}"));
    let range =
        |n: &str| format!("Invalid value for maxReceiveCount: {n}, valid values are from 1 to 1000 both inclusive.");
    let with_extra = format!(r#"{{"deadLetterTargetArn":"{dlq}","maxReceiveCount":3,"extra":1}}"#);
    let only_target = format!(r#"{{"deadLetterTargetArn":"{dlq}"}}"#);
    let other_region = redrive_policy("arn:aws:sqs:eu-west-1:000000000000:target-dlq", "3");
    let other_account = redrive_policy("arn:aws:sqs:us-east-1:111111111111:target-dlq", "3");
    let cases: Vec<(String, (u16, String, String))> = vec![
        (
            "{not json".to_string(),
            (
                400,
                "InvalidAttributeValue".to_string(),
                "Invalid value for the parameter RedrivePolicy. Reason: Redrive policy is not a valid JSON map."
                    .to_string(),
            ),
        ),
        ("{}".to_string(), reason("{}", "Redrive policy does not contain mandatory attribute: maxReceiveCount.")),
        (
            only_target.clone(),
            reason(&only_target, "Redrive policy does not contain mandatory attribute: maxReceiveCount."),
        ),
        (
            r#"{"maxReceiveCount":3}"#.to_string(),
            reason(
                r#"{"maxReceiveCount":3}"#,
                "Redrive policy does not contain mandatory attribute: deadLetterTargetArn.",
            ),
        ),
        (
            with_extra.clone(),
            reason(&with_extra, "Only following attributes are supported: [maxReceiveCount, deadLetterTargetArn]."),
        ),
        (redrive_policy(&dlq, "0"), reason(&redrive_policy(&dlq, "0"), &range("0"))),
        (redrive_policy(&dlq, "1001"), reason(&redrive_policy(&dlq, "1001"), &range("1001"))),
        (redrive_policy(&dlq, r#""0""#), reason(&redrive_policy(&dlq, r#""0""#), &range("0"))),
        (
            r#"{"deadLetterTargetArn": "dummy", "maxReceiveCount": 42}"#.to_string(),
            reason(
                r#"{"deadLetterTargetArn": "dummy", "maxReceiveCount": 42}"#,
                "Invalid value for deadLetterTargetArn.",
            ),
        ),
        (
            redrive_policy("arn:aws:sns:us-east-1:000000000000:target-dlq", "3"),
            reason(
                &redrive_policy("arn:aws:sns:us-east-1:000000000000:target-dlq", "3"),
                "Only SQS queues are valid resources for deadLetterTargetArn.",
            ),
        ),
        (
            redrive_policy(&arn("no-such-dlq"), "3"),
            reason(&redrive_policy(&arn("no-such-dlq"), "3"), "Dead letter target does not exist."),
        ),
        (other_region.clone(), reason(&other_region, "Dead letter target does not exist.")),
        (other_account.clone(), reason(&other_account, "Dead letter target does not exist.")),
    ];
    let existing = h.create_queue("existing-source").await;
    for (raw, expected) in &cases {
        let created = h
            .client
            .create_queue()
            .queue_name("bad-source")
            .attributes(QueueAttributeName::RedrivePolicy, raw)
            .send()
            .await;
        assert_eq!(&failure(created), expected, "CreateQueue with RedrivePolicy {raw}");
        let set = h
            .client
            .set_queue_attributes()
            .queue_url(&existing)
            .attributes(QueueAttributeName::RedrivePolicy, raw)
            .send()
            .await;
        assert_eq!(&failure(set), expected, "SetQueueAttributes with RedrivePolicy {raw}");
    }
    let listed = h.client.list_queues().send().await.expect("list queues");
    assert_eq!(listed.queue_urls().len(), 2, "no refused queue was created: {:?}", listed.queue_urls());
    assert!(!h.attributes(&existing).await.contains_key("RedrivePolicy"), "no policy was set");
    assert!(source_queues(&h, &dlq_url).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_policy_is_stored_normalized_and_an_empty_value_removes_it() {
    let h = Harness::start().await;
    let dlq_url = h.create_queue("norm-dlq").await;
    let dlq = arn("norm-dlq");
    let normalized = |n: u32| format!(r#"{{"deadLetterTargetArn":"{dlq}","maxReceiveCount":{n}}}"#);

    let as_string = h.create_queue_with("as-string", &[("RedrivePolicy", &redrive_policy(&dlq, r#""3""#))]).await;
    assert_eq!(h.attribute(&as_string, "RedrivePolicy").await, normalized(3));
    let as_number = h.create_queue_with("as-number", &[("RedrivePolicy", &redrive_policy(&dlq, "3"))]).await;
    assert_eq!(h.attribute(&as_number, "RedrivePolicy").await, normalized(3));
    // Spacing and key order of the request do not matter.
    let spaced = h
        .create_queue_with(
            "spaced",
            &[("RedrivePolicy", &format!(r#"{{ "maxReceiveCount" : "1000", "deadLetterTargetArn" : "{dlq}" }}"#))],
        )
        .await;
    assert_eq!(h.attribute(&spaced, "RedrivePolicy").await, normalized(1000));
    let lowest = h.create_queue_with("lowest", &[("RedrivePolicy", &redrive_policy(&dlq, "1"))]).await;
    assert_eq!(h.attribute(&lowest, "RedrivePolicy").await, normalized(1));
    // CreateQueue again with the string form of the same policy is "the same value".
    assert_eq!(
        h.create_queue_with("as-number", &[("RedrivePolicy", &redrive_policy(&dlq, r#""3""#))]).await,
        as_number
    );
    let differs = h
        .client
        .create_queue()
        .queue_name("as-number")
        .attributes(QueueAttributeName::RedrivePolicy, redrive_policy(&dlq, "4"))
        .send()
        .await;
    assert_eq!(
        failure(differs),
        (
            400,
            "QueueAlreadyExists".to_string(),
            "A queue already exists with the same name and a different value for attribute RedrivePolicy".to_string()
        )
    );

    assert_eq!(
        sorted(source_queues(&h, &dlq_url).await),
        sorted(vec![as_string.clone(), as_number.clone(), spaced.clone(), lowest.clone()])
    );

    // Omitted until set; "" removes it.
    let plain = h.create_queue("plain").await;
    assert!(!h.attributes(&plain).await.contains_key("RedrivePolicy"));
    h.set_attribute(&plain, "RedrivePolicy", &redrive_policy(&dlq, r#""7""#)).await;
    assert_eq!(h.attribute(&plain, "RedrivePolicy").await, normalized(7));
    h.set_attribute(&plain, "RedrivePolicy", "").await;
    assert!(!h.attributes(&plain).await.contains_key("RedrivePolicy"), "RedrivePolicy=\"\" removes the policy");
    h.set_attribute(&as_string, "RedrivePolicy", "").await;
    assert_eq!(sorted(source_queues(&h, &dlq_url).await), sorted(vec![as_number, spaced, lowest]));

    // A queue may name itself as its DLQ; its messages are not lost.
    let own = h.create_queue("own-dlq").await;
    h.set_attribute(&own, "RedrivePolicy", &redrive_policy(&arn("own-dlq"), "1")).await;
    assert_eq!(source_queues(&h, &own).await, vec![own.clone()]);
    h.send(&own, "to myself").await;
    for _ in 0..3 {
        assert_eq!(bodies(&h.receive(&own, 1).await), vec!["to myself".to_string()]);
        h.advance(31);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_dead_letter_source_queues_lists_sources_by_page_and_nothing_for_a_plain_queue() {
    let h = Harness::start().await;
    let dlq_url = h.create_queue("pages-dlq").await;
    let mut urls = Vec::new();
    for name in ["src-c", "src-a", "src-b"] {
        urls.push(h.create_queue_with(name, &[("RedrivePolicy", &redrive_policy(&arn("pages-dlq"), "2"))]).await);
    }
    h.create_queue_with("unrelated", &[("VisibilityTimeout", "5")]).await;
    assert_eq!(sorted(source_queues(&h, &dlq_url).await), sorted(urls.clone()));

    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..5 {
        let page = h
            .client
            .list_dead_letter_source_queues()
            .queue_url(&dlq_url)
            .max_results(2)
            .set_next_token(token.clone())
            .send()
            .await
            .expect("page");
        assert!(page.queue_urls().len() <= 2);
        seen.extend(page.queue_urls().iter().cloned());
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(sorted(seen.clone()), sorted(urls), "every source once over the pages");
    assert_eq!(seen.len(), 3);

    let plain = h.create_queue("not-a-dlq").await;
    assert!(source_queues(&h, &plain).await.is_empty(), "no sources: an empty list");
    let missing = h.client.list_dead_letter_source_queues().queue_url(h.expected_url("missing")).send().await;
    let (status, code, _) = failure(missing);
    assert_eq!((status, code.as_str()), (400, NON_EXISTENT_QUEUE));
    for bad in [0, 1001] {
        let r = h.client.list_dead_letter_source_queues().queue_url(&dlq_url).max_results(bad).send().await;
        assert_eq!(
            failure(r),
            invalid(
                "Value for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000."
            ),
            "MaxResults {bad}"
        );
    }
}

// ---- RedriveAllowPolicy ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redrive_allow_policies_are_validated_with_aws_reasons() {
    let h = Harness::start().await;
    let dlq_url = h.create_queue("allow-dlq").await;
    let cant = |raw: &str, r: &str| {
        invalid(format!(
            "Value {raw} for parameter RedriveAllowPolicy is invalid. Reason: Amazon SQS can't create the redrive allow policy. {r}"
        ))
    };
    let unsupported = (
        400,
        "InvalidAttributeValue".to_string(),
        "Invalid value for the parameter RedriveAllowPolicy. Reason: Amazon SQS can't create the redrive allow policy, as it\u{2019}s in an unsupported format."
            .to_string(),
    );
    let by_queue_bare = r#"{"redrivePermission":"byQueue"}"#;
    let by_queue_empty = r#"{"redrivePermission":"byQueue","sourceQueueArns":[]}"#;
    let allow_with = format!(r#"{{"redrivePermission":"allowAll","sourceQueueArns":["{}"]}}"#, arn("a"));
    let deny_with = format!(r#"{{"redrivePermission":"denyAll","sourceQueueArns":["{}"]}}"#, arn("a"));
    let eleven: Vec<String> = (0..11).map(|i| format!(r#""{}""#, arn(&format!("s{i}")))).collect();
    let too_many = format!(r#"{{"redrivePermission":"byQueue","sourceQueueArns":[{}]}}"#, eleven.join(","));
    let byq_reason =
        "When you specify the byQueue permission type, you must also specify one or more sourceQueueArns values.";
    let arns_reason = "To specify one or more source queue ARNs, you must set redrivePermission to byQueue.";
    let cases: Vec<(String, (u16, String, String))> = vec![
        (by_queue_bare.to_string(), cant(by_queue_bare, byq_reason)),
        (by_queue_empty.to_string(), cant(by_queue_empty, byq_reason)),
        (allow_with.clone(), cant(&allow_with, arns_reason)),
        (deny_with.clone(), cant(&deny_with, arns_reason)),
        (too_many.clone(), cant(&too_many, "The maximum number of source queue ARNs you can specify is 10.")),
        ("{nope".to_string(), unsupported.clone()),
        (r#"{"redrivePermission":"sometimes"}"#.to_string(), unsupported.clone()),
        ("[]".to_string(), unsupported.clone()),
    ];
    for (raw, expected) in &cases {
        let set = h
            .client
            .set_queue_attributes()
            .queue_url(&dlq_url)
            .attributes(QueueAttributeName::RedriveAllowPolicy, raw)
            .send()
            .await;
        assert_eq!(&failure(set), expected, "RedriveAllowPolicy {raw}");
        let created = h
            .client
            .create_queue()
            .queue_name("allow-new")
            .attributes(QueueAttributeName::RedriveAllowPolicy, raw)
            .send()
            .await;
        assert_eq!(&failure(created), expected, "CreateQueue with RedriveAllowPolicy {raw}");
    }
    assert!(!h.attributes(&dlq_url).await.contains_key("RedriveAllowPolicy"), "omitted until set");

    // Ten ARNs are fine; each valid form reads back; "" removes it.
    let ten: Vec<String> = (0..10).map(|i| format!(r#""{}""#, arn(&format!("s{i}")))).collect();
    let ten = format!(r#"{{"redrivePermission":"byQueue","sourceQueueArns":[{}]}}"#, ten.join(","));
    for good in [r#"{"redrivePermission":"allowAll"}"#, r#"{"redrivePermission":"denyAll"}"#, ten.as_str()] {
        h.set_attribute(&dlq_url, "RedriveAllowPolicy", good).await;
        let back: serde_json::Value =
            serde_json::from_str(&h.attribute(&dlq_url, "RedriveAllowPolicy").await).expect("JSON");
        assert_eq!(back, serde_json::from_str::<serde_json::Value>(good).expect("JSON"));
    }
    h.set_attribute(&dlq_url, "RedriveAllowPolicy", "").await;
    assert!(!h.attributes(&dlq_url).await.contains_key("RedriveAllowPolicy"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_allow_policy_decides_which_sources_may_use_the_dlq() {
    let h = Harness::start().await;
    let listed = h.create_queue("listed").await;
    let other = h.create_queue("other").await;
    let denying =
        h.create_queue_with("denying-dlq", &[("RedriveAllowPolicy", r#"{"redrivePermission":"denyAll"}"#)]).await;
    let by_queue = format!(r#"{{"redrivePermission":"byQueue","sourceQueueArns":["{}"]}}"#, arn("listed"));
    let choosy = h.create_queue_with("choosy-dlq", &[("RedriveAllowPolicy", &by_queue)]).await;
    let open = h.create_queue_with("open-dlq", &[("RedriveAllowPolicy", r#"{"redrivePermission":"allowAll"}"#)]).await;
    let refused_prefix = |raw: &str| format!("Value {raw} for parameter RedrivePolicy is invalid.");

    // denyAll: no queue may start using it, by CreateQueue or SetQueueAttributes.
    let to_denying = redrive_policy(&arn("denying-dlq"), "3");
    let (status, code, message) = failure(
        h.client
            .create_queue()
            .queue_name("new-source")
            .attributes(QueueAttributeName::RedrivePolicy, &to_denying)
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (400, "InvalidParameterValue"));
    assert!(message.starts_with(&refused_prefix(&to_denying)), "{message}");
    let (status, code, _) = failure(
        h.client
            .set_queue_attributes()
            .queue_url(&listed)
            .attributes(QueueAttributeName::RedrivePolicy, &to_denying)
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (400, "InvalidParameterValue"));
    assert!(source_queues(&h, &denying).await.is_empty());

    // byQueue: only the listed ARN.
    let to_choosy = redrive_policy(&arn("choosy-dlq"), "3");
    let (status, code, message) = failure(
        h.client
            .set_queue_attributes()
            .queue_url(&other)
            .attributes(QueueAttributeName::RedrivePolicy, &to_choosy)
            .send()
            .await,
    );
    assert_eq!((status, code.as_str()), (400, "InvalidParameterValue"));
    assert!(message.starts_with(&refused_prefix(&to_choosy)), "{message}");
    h.set_attribute(&listed, "RedrivePolicy", &to_choosy).await;
    assert_eq!(source_queues(&h, &choosy).await, vec![listed.clone()]);
    assert!(!h.attributes(&other).await.contains_key("RedrivePolicy"));

    // allowAll (and no policy at all): anyone.
    h.set_attribute(&other, "RedrivePolicy", &redrive_policy(&arn("open-dlq"), "3")).await;
    assert_eq!(source_queues(&h, &open).await, vec![other.clone()]);
    let plain = h.create_queue("plain-dlq").await;
    h.create_queue_with("anyone", &[("RedrivePolicy", &redrive_policy(&arn("plain-dlq"), "3"))]).await;
    assert_eq!(source_queues(&h, &plain).await, vec![h.expected_url("anyone")]);

    // Lifting the denial admits new sources.
    h.set_attribute(&denying, "RedriveAllowPolicy", r#"{"redrivePermission":"allowAll"}"#).await;
    h.create_queue_with("new-source", &[("RedrivePolicy", &to_denying)]).await;
    assert_eq!(source_queues(&h, &denying).await, vec![h.expected_url("new-source")]);
}

// ---- StartMessageMoveTask / ListMessageMoveTasks / CancelMessageMoveTask errors ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_message_move_task_refuses_bad_requests_with_aws_errors() {
    let h = Harness::start().await;
    let (source_url, dlq_url) = source_and_dlq(&h, "smt-src", "smt-dlq", "1").await;
    let other = h.create_queue("smt-other").await;
    let dlq = arn("smt-dlq");
    let start = |source: String, dest: Option<String>, rate: Option<i32>| {
        h.client
            .start_message_move_task()
            .source_arn(source)
            .set_destination_arn(dest)
            .set_max_number_of_messages_per_second(rate)
            .send()
    };
    let rate_message =
        "Value for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: You must enter a number that's between 1 and 500.";
    assert_eq!(
        failure(start(arn("smt-other"), None, None).await),
        invalid("Source queue must be configured as a Dead Letter Queue.")
    );
    assert_eq!(
        failure(start(arn("smt-src"), Some(dlq.clone()), None).await),
        invalid("Source queue must be configured as a Dead Letter Queue."),
        "the source queue itself is not a DLQ (the first call of the 'two-part' article)"
    );
    assert_eq!(
        failure(start(arn("no-such-queue"), None, None).await),
        not_found("The resource that you specified for the SourceArn parameter doesn't exist.")
    );
    assert_eq!(
        failure(start("arn:aws:sqs:eu-west-1:000000000000:smt-dlq".into(), None, None).await),
        not_found("The resource that you specified for the SourceArn parameter doesn't exist."),
        "a queue of this name in another region"
    );
    assert_eq!(
        failure(start(dlq.clone(), Some(arn("no-such-queue")), None).await),
        not_found("The resource that you specified for the DestinationArn parameter doesn't exist.")
    );
    assert_eq!(
        failure(start(dlq.clone(), Some(dlq.clone()), None).await),
        invalid("Source queue arn and destination queue arn cannot be the same.")
    );
    for bad in ["not-an-arn", "arn:aws:sqs", ""] {
        assert_eq!(
            failure(start(bad.to_string(), None, None).await),
            invalid("You must use this format to specify the SourceArn: arn:<partition>:<service>:<region>:<account-id>:<resource-id>"),
            "SourceArn {bad:?}"
        );
        assert_eq!(
            failure(start(dlq.clone(), Some(bad.to_string()), None).await),
            invalid("You must use this format to specify the DestinationArn: arn:<partition>:<service>:<region>:<account-id>:<resource-id>"),
            "DestinationArn {bad:?}"
        );
    }
    for rate in [0, 501, -1] {
        assert_eq!(failure(start(dlq.clone(), None, Some(rate)).await), invalid(rate_message), "rate {rate}");
    }
    assert!(list_tasks(&h, &dlq, Some(10)).await.is_empty(), "no refused task was recorded");

    // One active task per source: a second start while one runs (rate-limited) is refused.
    dead_letter_all(&h, &source_url, &dlq_url, &numbered("m", 3)).await;
    start_task(&h, &dlq, None, Some(1)).await;
    wait_moved_and_held(&h, &dlq, 1).await;
    assert_eq!(
        failure(start(dlq.clone(), None, None).await),
        invalid(
            "There is already a task running. Only one active task is allowed for a source queue arn at a given time."
        )
    );
    assert_eq!(
        failure(start(dlq.clone(), Some(arn("smt-other")), Some(500)).await),
        invalid(
            "There is already a task running. Only one active task is allowed for a source queue arn at a given time."
        )
    );
    // Rate limits 1 and 500 are both in range; the running task is still the only one.
    assert_eq!(list_tasks(&h, &dlq, Some(10)).await.len(), 1);
    h.advance(1);
    wait_moved_and_held(&h, &dlq, 2).await;
    h.advance(1);
    wait_moved_and_held(&h, &dlq, 3).await;
    h.advance(1);
    wait_status(&h, &dlq, "COMPLETED").await;
    // Once it completed, a new task may start (with the highest rate).
    let handle = start_task(&h, &dlq, Some(&arn("smt-other")), Some(500)).await;
    assert_eq!(decode_handle(&handle)["sourceArn"], serde_json::json!(dlq));
    let task = wait_status(&h, &dlq, "COMPLETED").await;
    assert_eq!(task.approximate_number_of_messages_to_move(), Some(0), "the DLQ was empty");
    assert_eq!(task.approximate_number_of_messages_moved(), 0);
    assert_eq!(task.max_number_of_messages_per_second(), Some(500));
    assert_eq!(task.destination_arn(), Some(arn("smt-other").as_str()));
    assert_eq!(h.counts(&other).await, (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_message_move_task_refuses_bad_handles_with_aws_errors() {
    let h = Harness::start().await;
    let (source_url, dlq_url) = source_and_dlq(&h, "cx-src", "cx-dlq", "1").await;
    let dlq = arn("cx-dlq");
    let cancel = |handle: String| h.client.cancel_message_move_task().task_handle(handle).send();

    assert_eq!(failure(cancel("foobared".into()).await), invalid("Value for parameter TaskHandle is invalid."));
    let not_json = base64::engine::general_purpose::STANDARD.encode("not json");
    assert_eq!(failure(cancel(not_json).await), invalid("Value for parameter TaskHandle is invalid."));
    let id = uuid::Uuid::new_v4().to_string();
    assert_eq!(
        failure(cancel(handle_of(&id, &arn("no-such-dlq"))).await),
        not_found("The resource that you specified for the SourceArn parameter doesn't exist.")
    );
    assert_eq!(failure(cancel(handle_of(&id, &dlq)).await), not_found("Task does not exist."));

    dead_letter_all(&h, &source_url, &dlq_url, &numbered("m", 2)).await;
    let handle = start_task(&h, &dlq, None, None).await;
    wait_status(&h, &dlq, "COMPLETED").await;
    assert_eq!(failure(cancel(handle.clone()).await), invalid("Only active tasks can be cancelled."));
    let task_id = decode_handle(&handle)["taskId"].as_str().expect("taskId").to_string();
    assert_eq!(failure(cancel(handle_of(&task_id, &arn("cx-src"))).await), not_found("Task does not exist."));
    assert_eq!(h.counts(&source_url).await, (2, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_message_move_tasks_shows_the_newest_first_one_by_default_up_to_ten() {
    let h = Harness::start().await;
    let (source_url, dlq_url) = source_and_dlq(&h, "lt-src", "lt-dlq", "1").await;
    let dlq = arn("lt-dlq");
    let max_message =
        "Value for parameter MaxResults is invalid. Reason: You must enter a number that's between 1 and 10.";
    for bad in [0, 11] {
        let r = h.client.list_message_move_tasks().source_arn(&dlq).max_results(bad).send().await;
        assert_eq!(failure(r), invalid(max_message), "MaxResults {bad}");
    }
    assert_eq!(
        failure(h.client.list_message_move_tasks().source_arn(arn("nope")).send().await),
        not_found("The resource that you specified for the SourceArn parameter doesn't exist.")
    );
    let none = h.client.list_message_move_tasks().source_arn(&dlq).send().await.expect("list");
    assert!(none.results().is_empty(), "no task yet");

    // Three completed tasks that moved 1, 2 and 3 messages, in that order.
    for n in 1..=3usize {
        dead_letter_all(&h, &source_url, &dlq_url, &numbered(&format!("round{n}"), n)).await;
        start_task(&h, &dlq, None, None).await;
        let t = wait_status(&h, &dlq, "COMPLETED").await;
        assert_eq!(t.approximate_number_of_messages_moved(), n as i64);
        for m in h.drain(&source_url).await {
            h.delete(&source_url, &m).await;
        }
        h.advance(1);
    }
    let one = list_tasks(&h, &dlq, None).await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].approximate_number_of_messages_moved(), 3, "the newest task");
    let two = list_tasks(&h, &dlq, Some(2)).await;
    assert_eq!(two.iter().map(|t| t.approximate_number_of_messages_moved()).collect::<Vec<_>>(), vec![3, 2]);
    let all = list_tasks(&h, &dlq, Some(10)).await;
    assert_eq!(all.iter().map(|t| t.approximate_number_of_messages_moved()).collect::<Vec<_>>(), vec![3, 2, 1]);
    assert_eq!(
        all.iter().map(|t| t.approximate_number_of_messages_to_move()).collect::<Vec<_>>(),
        vec![Some(3), Some(2), Some(1)]
    );
    let stamps: Vec<i64> = all.iter().map(|t| t.started_timestamp()).collect();
    assert!(stamps[0] > stamps[1] && stamps[1] > stamps[2], "newest first: {stamps:?}");
    for t in &all {
        assert_eq!(t.status(), Some("COMPLETED"));
        assert_eq!(t.source_arn(), Some(dlq.as_str()));
        assert_eq!(t.task_handle(), None);
    }
    // Another DLQ's tasks are not listed.
    source_and_dlq(&h, "lt-src2", "lt-dlq2", "1").await;
    assert!(list_tasks(&h, &arn("lt-dlq2"), Some(10)).await.is_empty());
}

// ---- where messages go ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_destination_every_message_returns_to_its_own_source() {
    let h = Harness::start().await;
    let dlq_url = h.create_queue("shared-dlq").await;
    let policy = redrive_policy(&arn("shared-dlq"), "1");
    let a = h.create_queue_with("source-a", &[("RedrivePolicy", &policy)]).await;
    let b = h.create_queue_with("source-b", &[("RedrivePolicy", &policy)]).await;
    assert_eq!(sorted(source_queues(&h, &dlq_url).await), sorted(vec![a.clone(), b.clone()]));
    // Interleave the two sources in the DLQ: a0 b0 a1 b1 a2.
    for i in 0..3 {
        dead_letter_all(&h, &a, &dlq_url, &[format!("a{i}")]).await;
        if i < 2 {
            dead_letter_all(&h, &b, &dlq_url, &[format!("b{i}")]).await;
        }
    }
    let peek = receive_all_attributes(&h, &dlq_url, 10, Some(0)).await;
    let origin: BTreeMap<String, String> = peek
        .iter()
        .map(|m| {
            (
                m.body().expect("body").to_string(),
                system_attribute_of(m, MessageSystemAttributeName::DeadLetterQueueSourceArn).expect("source arn"),
            )
        })
        .collect();
    assert_eq!(origin.len(), 5);
    for (body, source) in &origin {
        let expected = if body.starts_with('a') { arn("source-a") } else { arn("source-b") };
        assert_eq!(source, &expected, "DeadLetterQueueSourceArn of {body}");
    }

    start_task(&h, &arn("shared-dlq"), None, None).await;
    let task = wait_status(&h, &arn("shared-dlq"), "COMPLETED").await;
    assert_eq!(task.approximate_number_of_messages_moved(), 5);
    assert_eq!(task.approximate_number_of_messages_to_move(), Some(5));
    assert_eq!(h.counts(&dlq_url).await, (0, 0, 0));
    let in_a = receive_all_attributes(&h, &a, 10, None).await;
    let in_b = receive_all_attributes(&h, &b, 10, None).await;
    assert_eq!(sorted(bodies(&in_a)), vec!["a0", "a1", "a2"]);
    assert_eq!(sorted(bodies(&in_b)), vec!["b0", "b1"]);
    for m in in_a.iter().chain(&in_b) {
        assert_eq!(receive_count(m), 1);
        assert_eq!(system_attribute_of(m, MessageSystemAttributeName::DeadLetterQueueSourceArn), None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_destination_every_message_goes_to_that_queue() {
    let h = Harness::start().await;
    let dlq_url = h.create_queue("shared-dlq").await;
    let policy = redrive_policy(&arn("shared-dlq"), "1");
    let a = h.create_queue_with("source-a", &[("RedrivePolicy", &policy)]).await;
    let b = h.create_queue_with("source-b", &[("RedrivePolicy", &policy)]).await;
    let elsewhere = h.create_queue("elsewhere").await;
    dead_letter_all(&h, &a, &dlq_url, &numbered("a", 3)).await;
    dead_letter_all(&h, &b, &dlq_url, &numbered("b", 2)).await;

    start_task(&h, &arn("shared-dlq"), Some(&arn("elsewhere")), None).await;
    let task = wait_status(&h, &arn("shared-dlq"), "COMPLETED").await;
    assert_eq!(task.destination_arn(), Some(arn("elsewhere").as_str()));
    assert_eq!(task.approximate_number_of_messages_moved(), 5);
    assert_eq!(h.counts(&dlq_url).await, (0, 0, 0));
    assert_eq!(h.counts(&a).await, (0, 0, 0));
    assert_eq!(h.counts(&b).await, (0, 0, 0));
    let moved = receive_all_attributes(&h, &elsewhere, 10, None).await;
    assert_eq!(sorted(bodies(&moved)), vec!["a-00", "a-01", "a-02", "b-00", "b-01"]);
    assert!(moved.iter().all(|m| receive_count(m) == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_without_a_rate_moves_everything_without_the_clock_moving() {
    let h = Harness::start().await;
    let (url, dlq_url) = source_and_dlq(&h, "fast", "fast-dlq", "1").await;
    let sent = numbered("fast", 25);
    dead_letter_all(&h, &url, &dlq_url, &sent).await;
    start_task(&h, &arn("fast-dlq"), None, None).await;
    let task = wait_status(&h, &arn("fast-dlq"), "COMPLETED").await;
    assert_eq!(task.approximate_number_of_messages_moved(), 25);
    assert_eq!(task.approximate_number_of_messages_to_move(), Some(25));
    assert_eq!(h.counts(&dlq_url).await, (0, 0, 0));
    let back = h.drain(&url).await;
    assert_eq!(sorted(bodies(&back)), sent, "each message exactly once");
}

// ---- velocity, cancel, failure ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_task_moves_at_most_its_rate_per_clock_second() {
    let h = Harness::start().await;
    let (url, dlq_url) = source_and_dlq(&h, "slow", "slow-dlq", "1").await;
    let dlq = arn("slow-dlq");
    let sent = numbered("slow", 25);
    dead_letter_all(&h, &url, &dlq_url, &sent).await;

    let handle = start_task(&h, &dlq, None, Some(10)).await;
    let task = wait_moved_and_held(&h, &dlq, 10).await;
    assert_eq!(task.status(), Some("RUNNING"));
    assert_eq!(task.task_handle(), Some(handle.as_str()), "the handle is listed while RUNNING");
    assert_eq!(task.max_number_of_messages_per_second(), Some(10));
    assert_eq!(task.approximate_number_of_messages_to_move(), Some(25));
    assert_eq!(task.destination_arn(), None);
    assert_eq!(h.counts(&dlq_url).await.0, 15);
    assert_eq!(h.counts(&url).await.0, 10);

    h.advance(1);
    wait_moved_and_held(&h, &dlq, 20).await;
    assert_eq!(h.counts(&dlq_url).await.0, 5);
    assert_eq!(h.counts(&url).await.0, 20);

    h.advance(1);
    let done = wait_status(&h, &dlq, "COMPLETED").await;
    assert_eq!(done.approximate_number_of_messages_moved(), 25);
    assert_eq!(done.max_number_of_messages_per_second(), Some(10), "the rate stays listed");
    assert_eq!(done.task_handle(), None);
    assert_eq!(h.counts(&dlq_url).await, (0, 0, 0));
    assert_eq!(sorted(bodies(&h.drain(&url).await)), sent, "each message exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_running_task_stops_it_and_keeps_what_moved() {
    let h = Harness::start().await;
    let (url, dlq_url) = source_and_dlq(&h, "cancel", "cancel-dlq", "1").await;
    let dlq = arn("cancel-dlq");
    let sent = numbered("c", 12);
    dead_letter_all(&h, &url, &dlq_url, &sent).await;

    let handle = start_task(&h, &dlq, None, Some(5)).await;
    wait_moved_and_held(&h, &dlq, 5).await;
    let cancelled = h.client.cancel_message_move_task().task_handle(&handle).send().await.expect("cancel");
    assert_eq!(cancelled.approximate_number_of_messages_moved(), 5);

    // CANCELLING until the runner next looks, which it does when the clock moves.
    let task = latest_task(&h, &dlq).await;
    assert_eq!(task.status(), Some("CANCELLING"));
    assert_eq!(task.task_handle(), None, "no handle once it can no longer be cancelled");
    real_pause(100).await;
    assert_eq!(latest_task(&h, &dlq).await.status(), Some("CANCELLING"));
    assert_eq!(
        failure(h.client.cancel_message_move_task().task_handle(&handle).send().await),
        invalid("Only active tasks can be cancelled.")
    );

    h.advance(1);
    let task = wait_status(&h, &dlq, "CANCELLED").await;
    assert_eq!(task.approximate_number_of_messages_moved(), 5);
    assert_eq!(task.approximate_number_of_messages_to_move(), Some(12));
    assert_eq!(task.task_handle(), None);
    assert_eq!(task.failure_reason(), None);
    h.advance(5);
    real_pause(100).await;
    assert_eq!(latest_task(&h, &dlq).await.approximate_number_of_messages_moved(), 5, "nothing moves after cancel");
    assert_eq!(h.counts(&dlq_url).await.0, 7, "unmoved messages stay in the DLQ");
    let moved = h.drain(&url).await;
    assert_eq!(moved.len(), 5, "moved messages stay moved");
    let left = h.drain(&dlq_url).await;
    let mut all = bodies(&moved);
    all.extend(bodies(&left));
    assert_eq!(sorted(all), sent, "nothing lost or duplicated");
    assert_eq!(
        failure(h.client.cancel_message_move_task().task_handle(&handle).send().await),
        invalid("Only active tasks can be cancelled.")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_destination_mid_task_fails_the_task_and_leaves_the_rest_in_the_dlq() {
    let h = Harness::start().await;
    let (url, dlq_url) = source_and_dlq(&h, "fail", "fail-dlq", "1").await;
    let dest = h.create_queue("doomed").await;
    let dlq = arn("fail-dlq");
    let sent = numbered("f", 12);
    dead_letter_all(&h, &url, &dlq_url, &sent).await;

    start_task(&h, &dlq, Some(&arn("doomed")), Some(5)).await;
    wait_moved_and_held(&h, &dlq, 5).await;
    h.client.delete_queue().queue_url(&dest).send().await.expect("delete destination");
    h.advance(1);
    let task = wait_status(&h, &dlq, "FAILED").await;
    assert_eq!(task.failure_reason(), Some(NON_EXISTENT_QUEUE));
    assert_eq!(task.approximate_number_of_messages_moved(), 5);
    assert_eq!(task.approximate_number_of_messages_to_move(), Some(12));
    assert_eq!(task.destination_arn(), Some(arn("doomed").as_str()));
    assert_eq!(task.max_number_of_messages_per_second(), Some(5));
    assert_eq!(task.task_handle(), None);
    h.advance(5);
    assert_eq!(h.counts(&dlq_url).await, (7, 0, 0), "unmoved messages remain in the DLQ");
    assert_eq!(h.counts(&url).await, (0, 0, 0));
    // A new task may start after a failure and takes the rest home.
    start_task(&h, &dlq, None, None).await;
    let again = wait_status(&h, &dlq, "COMPLETED").await;
    assert_eq!(again.approximate_number_of_messages_moved(), 7);
    assert_eq!(h.counts(&url).await.0, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_original_source_mid_task_fails_the_task() {
    let h = Harness::start().await;
    let (url, dlq_url) = source_and_dlq(&h, "gone-src", "gone-dlq", "1").await;
    let dlq = arn("gone-dlq");
    dead_letter_all(&h, &url, &dlq_url, &numbered("g", 8)).await;
    start_task(&h, &dlq, None, Some(3)).await;
    wait_moved_and_held(&h, &dlq, 3).await;
    h.client.delete_queue().queue_url(&url).send().await.expect("delete source");
    h.advance(1);
    let task = wait_status(&h, &dlq, "FAILED").await;
    assert_eq!(task.failure_reason(), Some(NON_EXISTENT_QUEUE));
    assert_eq!(task.approximate_number_of_messages_moved(), 3);
    assert_eq!(h.counts(&dlq_url).await, (5, 0, 0));
}

// ---- when messages do (not) move ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_visibility_timeout_alone_moves_nothing() {
    let h = Harness::start().await;
    let (url, dlq_url) = source_and_dlq(&h, "idle", "idle-dlq", "1").await;
    let sent = h.send(&url, "received once").await;
    assert_eq!(h.receive(&url, 1).await.len(), 1);
    for _ in 0..3 {
        h.advance(31);
        assert_eq!(h.counts(&url).await, (1, 0, 0), "visible again in the source, not moved");
        assert_eq!(h.counts(&dlq_url).await, (0, 0, 0));
    }
    // Only the next receive hands it off (and does not return it).
    assert!(h.receive(&url, 10).await.is_empty());
    assert_eq!(h.counts(&url).await, (0, 0, 0));
    let in_dlq = receive_all_attributes(&h, &dlq_url, 10, None).await;
    assert_eq!(in_dlq.len(), 1);
    assert_eq!(in_dlq[0].message_id(), sent.message_id());
    assert_eq!(receive_count(&in_dlq[0]), 2);
    // A message never received is never moved, however long it waits.
    h.send(&url, "never received").await;
    h.advance(3600);
    assert_eq!(h.counts(&url).await, (1, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_dlq_leaves_messages_in_the_source() {
    let h = Harness::start().await;
    let (url, dlq_url) = source_and_dlq(&h, "orphan", "orphan-dlq", "2").await;
    let sent = h.send(&url, "stays home").await;
    h.client.delete_queue().queue_url(&dlq_url).send().await.expect("delete DLQ");
    for expected in 1..=5 {
        let got = receive_all_attributes(&h, &url, 1, None).await;
        assert_eq!(got.len(), 1, "receive {expected} still returns the message");
        assert_eq!(got[0].message_id(), sent.message_id());
        assert_eq!(receive_count(&got[0]), expected);
        h.advance(31);
    }
    assert_eq!(h.counts(&url).await, (1, 0, 0));
    // The policy still names the (deleted) DLQ.
    assert_eq!(h.attribute(&url, "RedrivePolicy").await, redrive_policy(&arn("orphan-dlq"), "2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receive_of_several_messages_returns_those_under_the_limit_and_moves_the_rest() {
    let h = Harness::start().await;
    let (url, dlq_url) = source_and_dlq(&h, "mixed", "mixed-dlq", "2").await;
    h.send(&url, "old").await;
    // "old" is received twice; "new" arrives afterwards.
    for _ in 0..2 {
        assert_eq!(bodies(&h.receive(&url, 10).await), vec!["old".to_string()]);
        h.advance(31);
    }
    h.send(&url, "new").await;
    let got = receive_all_attributes(&h, &url, 10, None).await;
    assert_eq!(bodies(&got), vec!["new".to_string()], "the over-received message is not returned");
    assert_eq!(receive_count(&got[0]), 1);
    assert_eq!(h.counts(&dlq_url).await, (1, 0, 0));
    assert_eq!(h.counts(&url).await, (0, 1, 0));
    let in_dlq = h.receive(&dlq_url, 10).await;
    assert_eq!(bodies(&in_dlq), vec!["old".to_string()]);
    assert_eq!(in_dlq[0].md5_of_body(), Some(md5_hex(b"old").as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standard_dlq_keeps_the_original_enqueue_time_for_retention() {
    // AWS: "For standard queues, the expiration of a message is always based on its
    // original enqueue timestamp"; the redrive-policy guide (seed 004) says the same.
    let h = Harness::start().await;
    let dlq_url = h.create_queue_with("short-dlq", &[("MessageRetentionPeriod", "120")]).await;
    let url = h.create_queue_with("long-src", &[("RedrivePolicy", &redrive_policy(&arn("short-dlq"), "1"))]).await;
    h.send(&url, "ageing").await;
    assert_eq!(h.receive(&url, 1).await.len(), 1);
    h.advance(31);
    assert!(h.receive(&url, 1).await.is_empty(), "handed to the DLQ at 31 s");
    assert_eq!(h.counts(&dlq_url).await, (1, 0, 0));
    h.advance(60);
    assert_eq!(h.counts(&dlq_url).await, (1, 0, 0), "91 s after the send: still retained");
    h.advance(30);
    assert_eq!(h.counts(&dlq_url).await, (0, 0, 0), "121 s after the send: past the DLQ's 120 s retention");
    assert!(h.receive(&dlq_url, 10).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polls_wake_when_a_message_is_dead_lettered_or_redriven() {
    let h = Harness::start().await;
    let (url, dlq_url) = source_and_dlq(&h, "wake", "wake-dlq", "1").await;
    let long_poll = |queue: String| {
        let client = h.client.clone();
        tokio::spawn(async move {
            client.receive_message().queue_url(queue).wait_time_seconds(20).send().await.expect("long poll")
        })
    };
    // A consumer long-polls the DLQ; the hand-off (no clock movement) wakes it.
    let waiting = long_poll(dlq_url.clone());
    real_pause(100).await;
    assert!(!waiting.is_finished(), "nothing to receive yet");
    h.send(&url, "wake up").await;
    assert_eq!(receive_all_attributes(&h, &url, 1, Some(0)).await.len(), 1);
    assert!(h.receive(&url, 1).await.is_empty());
    let got = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
        .await
        .expect("the long poll returned without the clock moving")
        .expect("task");
    assert_eq!(bodies(got.messages()), vec!["wake up".to_string()]);
    h.advance(31);

    // A consumer long-polls the source; the redrive wakes it.
    let waiting = long_poll(url.clone());
    real_pause(100).await;
    assert!(!waiting.is_finished());
    start_task(&h, &arn("wake-dlq"), None, None).await;
    let got = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
        .await
        .expect("the long poll returned without the clock moving")
        .expect("task");
    assert_eq!(bodies(got.messages()), vec!["wake up".to_string()]);
}

// ---- FIFO ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dlq_must_be_of_the_same_queue_type_as_its_sources() {
    let h = Harness::start().await;
    h.create_queue("std-dlq").await;
    h.create_queue_with("fifo-dlq.fifo", &[("FifoQueue", "true")]).await;
    let std_source = h.create_queue("std-src").await;
    let to_fifo = redrive_policy(&arn("fifo-dlq.fifo"), "3");
    let to_std = redrive_policy(&arn("std-dlq"), "3");
    let reason = |raw: &str| {
        invalid(format!(
            "Value {raw} for parameter RedrivePolicy is invalid. Reason: Dead-letter queue must be same type of queue as the source.."
        ))
    };
    let set = h
        .client
        .set_queue_attributes()
        .queue_url(&std_source)
        .attributes(QueueAttributeName::RedrivePolicy, &to_fifo)
        .send()
        .await;
    assert_eq!(failure(set), reason(&to_fifo));
    let created = h
        .client
        .create_queue()
        .queue_name("fifo-src.fifo")
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::RedrivePolicy, &to_std)
        .send()
        .await;
    assert_eq!(failure(created), reason(&to_std));

    // A move task between queues of different types is refused too.
    h.set_attribute(&std_source, "RedrivePolicy", &to_std).await;
    let start = h
        .client
        .start_message_move_task()
        .source_arn(arn("std-dlq"))
        .destination_arn(arn("fifo-dlq.fifo"))
        .send()
        .await;
    assert_eq!(failure(start), invalid("The source queue and destination queue must be of the same queue type."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_queue_dead_letters_to_a_fifo_dlq_and_is_redriven_back() {
    let h = Harness::start().await;
    let dlq_url = h.create_queue_with("orders-dlq.fifo", &[("FifoQueue", "true")]).await;
    let url = h
        .create_queue_with(
            "orders.fifo",
            &[
                ("FifoQueue", "true"),
                ("ContentBasedDeduplication", "true"),
                ("RedrivePolicy", &redrive_policy(&arn("orders-dlq.fifo"), "1")),
            ],
        )
        .await;
    let sent = h
        .client
        .send_message()
        .queue_url(&url)
        .message_body("fifo poison")
        .message_group_id("g1")
        .send()
        .await
        .expect("send");
    let first = receive_all_attributes(&h, &url, 1, None).await;
    assert_eq!(first.len(), 1);
    h.advance(31);
    assert!(h.receive(&url, 10).await.is_empty(), "the second receive hands it off");
    let in_dlq = receive_all_attributes(&h, &dlq_url, 1, Some(0)).await;
    assert_eq!(in_dlq.len(), 1);
    let m = &in_dlq[0];
    assert_eq!(m.message_id(), sent.message_id());
    assert_eq!(m.body(), Some("fifo poison"));
    assert_eq!(system_attribute_of(m, MessageSystemAttributeName::MessageGroupId).as_deref(), Some("g1"));
    assert_eq!(
        system_attribute_of(m, MessageSystemAttributeName::DeadLetterQueueSourceArn).as_deref(),
        Some(arn("orders.fifo").as_str())
    );
    assert_eq!(receive_count(m), 2);

    start_task(&h, &arn("orders-dlq.fifo"), None, None).await;
    let task = wait_status(&h, &arn("orders-dlq.fifo"), "COMPLETED").await;
    assert_eq!(task.approximate_number_of_messages_moved(), 1);
    let back = receive_all_attributes(&h, &url, 10, None).await;
    assert_eq!(bodies(&back), vec!["fifo poison".to_string()]);
    assert_eq!(system_attribute_of(&back[0], MessageSystemAttributeName::MessageGroupId).as_deref(), Some("g1"));
    assert_eq!(receive_count(&back[0]), 1);
    assert_ne!(back[0].message_id(), sent.message_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_dlq_restarts_the_retention_clock() {
    // AWS: "For FIFO queues, the enqueue timestamp of the message is reset when the
    // message is moved to a dead-letter queue."
    let h = Harness::start().await;
    let dlq_url =
        h.create_queue_with("young-dlq.fifo", &[("FifoQueue", "true"), ("MessageRetentionPeriod", "120")]).await;
    let url = h
        .create_queue_with(
            "young.fifo",
            &[
                ("FifoQueue", "true"),
                ("ContentBasedDeduplication", "true"),
                ("RedrivePolicy", &redrive_policy(&arn("young-dlq.fifo"), "1")),
            ],
        )
        .await;
    h.client.send_message().queue_url(&url).message_body("renewed").message_group_id("g").send().await.expect("send");
    assert_eq!(h.receive(&url, 1).await.len(), 1);
    h.advance(100);
    assert!(h.receive(&url, 1).await.is_empty(), "handed to the DLQ 100 s after the send");
    h.advance(60);
    assert_eq!(h.counts(&dlq_url).await, (1, 0, 0), "160 s after the send, 60 s in the DLQ: retained");
    h.advance(61);
    assert_eq!(h.counts(&dlq_url).await, (0, 0, 0), "121 s in the DLQ: expired");
}

// ---- durability ----

/// 20 messages dead-lettered without moving the clock (the next server's clock starts at
/// the real time again, which must not be earlier than anything this one recorded), and
/// a task at 5 a second that has moved its first 5 and waits for the clock.
async fn durable_task_in_progress(h: &Harness) -> (String, Vec<String>) {
    let (url, dlq_url) = source_and_dlq(h, "durable", "durable-dlq", "1").await;
    let sent = numbered("d", 20);
    dead_letter_all(h, &url, &dlq_url, &sent).await;
    let handle = start_task(h, &arn("durable-dlq"), None, Some(5)).await;
    wait_moved_and_held(h, &arn("durable-dlq"), 5).await;
    (handle, sent)
}

async fn check_resumed(h: &Harness, handle: &str, sent: &[String]) {
    let dlq = arn("durable-dlq");
    let url = h.expected_url("durable");
    let dlq_url = h.expected_url("durable-dlq");
    let task = latest_task(h, &dlq).await;
    assert_eq!(task.task_handle(), Some(handle), "the same task, the same handle: {task:?}");
    assert_eq!(task.approximate_number_of_messages_to_move(), Some(20));
    // It resumes where it stopped (5 moved) and goes on at most 5 per clock-second.
    let task = wait_moved_and_held(h, &dlq, 10).await;
    assert_eq!(task.max_number_of_messages_per_second(), Some(5));
    assert_eq!(h.counts(&url).await.0, 10);
    assert_eq!(h.counts(&dlq_url).await.0, 10, "every message in exactly one queue");
    h.advance(1);
    wait_moved_and_held(h, &dlq, 15).await;
    h.advance(1);
    wait_moved_and_held(h, &dlq, 20).await;
    h.advance(1);
    let done = wait_status(h, &dlq, "COMPLETED").await;
    assert_eq!(done.approximate_number_of_messages_moved(), 20);
    assert_eq!(h.counts(&dlq_url).await, (0, 0, 0));
    assert_eq!(sorted(bodies(&h.drain(&url).await)), sent, "no message lost or duplicated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_task_survives_a_restart_and_resumes_without_losing_or_duplicating() {
    let dir = fresh_dir("movetask");
    let h = Harness::start_with(on_disk(&dir)).await;
    let (handle, sent) = durable_task_in_progress(&h).await;
    // Plain shutdown while the task waits for the clock: it must stop the task's runner
    // and close the store, so that the same data dir opens again.
    let Harness { server, client } = h;
    drop(client);
    server.shutdown().await;

    let h = restart(&dir).await;
    check_resumed(&h, &handle, &sent).await;
    let Harness { server, .. } = h;
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

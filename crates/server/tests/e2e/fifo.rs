//! FIFO queues through the unchanged aws-sdk-sqs client, checked against what AWS was
//! recorded (or documented) to do (docs/aws-reference.md §2.3, §2.4, §2.6, §2.9, §4.1,
//! §4.2, §4.6, §4.8): creation rules and the FIFO attributes, send validation, content-based
//! deduplication, the 5-minute deduplication window and its scopes, ordering within message
//! groups, ReceiveRequestAttemptId, expired receipt handles, and FIFO dead-letter queues and
//! move tasks. Simulated time moves only through `Harness::advance`.

use std::collections::BTreeMap;
use std::fmt::Debug;

use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::operation::send_message::SendMessageOutput;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};

use crate::common::{
    check_body_md5, fresh_dir, md5_hex, on_disk, real_pause, restart, system_attribute_of, Harness, ACCOUNT, REGION,
};

const FIFO_NAME_RULE: &str = "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.";
const NAME_RULE: &str = "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length";
const NO_DEDUP_ID: &str =
    "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly";
const SHA256_HELLO: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

fn arn(name: &str) -> String {
    format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")
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

fn rejected(code: &str, message: impl Into<String>) -> (u16, String, String) {
    (400, code.to_string(), message.into())
}

async fn fifo_queue(h: &Harness, name: &str, attributes: &[(&str, &str)]) -> String {
    let mut all = vec![("FifoQueue", "true")];
    all.extend_from_slice(attributes);
    h.create_queue_with(name, &all).await
}

/// SendMessage to a FIFO queue; checks the MD5 and that a SequenceNumber came back.
async fn send(h: &Harness, url: &str, body: &str, group: &str, dedup: Option<&str>) -> SendMessageOutput {
    let output = h
        .client
        .send_message()
        .queue_url(url)
        .message_body(body)
        .message_group_id(group)
        .set_message_deduplication_id(dedup.map(str::to_string))
        .send()
        .await
        .unwrap_or_else(|e| panic!("send {body} to group {group}: {e:?}"));
    assert_eq!(output.md5_of_message_body(), Some(md5_hex(body.as_bytes()).as_str()));
    assert!(output.sequence_number().is_some(), "a FIFO send answers a SequenceNumber: {output:?}");
    output
}

/// Sends `body` with its body as deduplication id: unique bodies, no deduplication surprises.
async fn send_unique(h: &Harness, url: &str, body: &str, group: &str) -> String {
    send(h, url, body, group, Some(body)).await.message_id().expect("MessageId").to_string()
}

/// One ReceiveMessage with every system attribute, no wait; checks body MD5s.
async fn receive(h: &Harness, url: &str, max: i32, visibility: Option<i32>, attempt: Option<&str>) -> Vec<Message> {
    let output = h
        .client
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(max)
        .wait_time_seconds(0)
        .set_visibility_timeout(visibility)
        .set_receive_request_attempt_id(attempt.map(str::to_string))
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .expect("receive");
    let messages = output.messages().to_vec();
    for m in &messages {
        check_body_md5(m);
    }
    messages
}

fn bodies(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.body().expect("body")).collect()
}

fn handle(m: &Message) -> &str {
    m.receipt_handle().expect("receipt handle")
}

fn attr(m: &Message, name: MessageSystemAttributeName) -> Option<String> {
    system_attribute_of(m, name)
}

fn receive_count(m: &Message) -> u32 {
    attr(m, MessageSystemAttributeName::ApproximateReceiveCount).expect("ApproximateReceiveCount").parse().expect("n")
}

async fn delete_all(h: &Harness, url: &str, messages: &[Message]) {
    for m in messages {
        h.delete(url, m).await;
    }
}

/// Receives and deletes until the queue answers empty; returns the bodies in delivery order.
async fn consume_all(h: &Harness, url: &str) -> Vec<Message> {
    let mut all = Vec::new();
    for _ in 0..100 {
        let got = receive(h, url, 10, None, None).await;
        if got.is_empty() {
            return all;
        }
        delete_all(h, url, &got).await;
        all.extend(got);
    }
    panic!("the queue did not drain");
}

fn of_group<'a>(messages: &'a [Message], group: &str) -> Vec<&'a str> {
    messages
        .iter()
        .filter(|m| attr(m, MessageSystemAttributeName::MessageGroupId).as_deref() == Some(group))
        .map(|m| m.body().expect("body"))
        .collect()
}

fn batch_entry(id: &str, body: &str, group: Option<&str>, dedup: Option<&str>) -> SendMessageBatchRequestEntry {
    SendMessageBatchRequestEntry::builder()
        .id(id)
        .message_body(body)
        .set_message_group_id(group.map(str::to_string))
        .set_message_deduplication_id(dedup.map(str::to_string))
        .build()
        .expect("entry")
}

// ---- 1. creation ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_name_needs_fifo_queue_true_and_fifo_queue_true_needs_a_fifo_name() {
    let h = Harness::start().await;
    let create = |name: String, fifo: Option<&'static str>| {
        let mut r = h.client.create_queue().queue_name(name);
        if let Some(v) = fifo {
            r = r.attributes(QueueAttributeName::FifoQueue, v);
        }
        r.send()
    };
    // A `.fifo` name without FifoQueue=true is judged as a standard name: the dot fails it.
    assert_eq!(
        failure(create("orders.fifo".into(), None).await),
        rejected("InvalidParameterValue", NAME_RULE),
        "botocore#3058 quotes this AWS answer"
    );
    assert_eq!(failure(create("orders".into(), Some("true")).await), rejected("InvalidParameterValue", FIFO_NAME_RULE));
    assert_eq!(
        failure(create("bad name.fifo".into(), Some("true")).await),
        rejected("InvalidParameterValue", FIFO_NAME_RULE)
    );
    assert_eq!(failure(create(".fifo".into(), Some("true")).await), rejected("InvalidParameterValue", FIFO_NAME_RULE));
    // The suffix counts toward the 80 characters.
    let longest = format!("{}.fifo", "a".repeat(75));
    let too_long = format!("{}.fifo", "a".repeat(76));
    assert_eq!(failure(create(too_long, Some("true")).await), rejected("InvalidParameterValue", FIFO_NAME_RULE));
    let url = create(longest.clone(), Some("true")).await.expect("an 80-character FIFO name").queue_url;
    assert_eq!(url.as_deref(), Some(h.expected_url(&longest).as_str()));
    let url = fifo_queue(&h, "Orders_2-b.fifo", &[]).await;
    assert_eq!(url, h.expected_url("Orders_2-b.fifo"));
    assert_eq!(h.attribute(&url, "FifoQueue").await, "true");
    // FifoQueue=true on an existing FIFO queue is the same queue.
    assert_eq!(fifo_queue(&h, "Orders_2-b.fifo", &[]).await, url);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_queue_false_cannot_turn_a_fifo_queue_into_a_standard_one() {
    let h = Harness::start().await;
    let url = fifo_queue(&h, "typed.fifo", &[]).await;
    let set = |value: &'static str| {
        h.client.set_queue_attributes().queue_url(&url).attributes(QueueAttributeName::FifoQueue, value).send()
    };
    assert_eq!(
        failure(set("false").await),
        rejected(
            "InvalidAttributeValue",
            "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported."
        )
    );
    set("true").await.expect("FifoQueue=true on a FIFO queue succeeds");
    assert_eq!(h.attribute(&url, "FifoQueue").await, "true");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_attributes_on_a_standard_queue_are_refused_with_aws_wording() {
    let h = Harness::start().await;
    let cases = [
        ("FifoQueue", "false", "Unknown Attribute FifoQueue."),
        ("FifoQueue", "true", "Unknown Attribute FifoQueue."),
        ("ContentBasedDeduplication", "true", "Unknown Attribute ContentBasedDeduplication."),
        ("ContentBasedDeduplication", "false", "Unknown Attribute ContentBasedDeduplication."),
        (
            "DeduplicationScope",
            "messageGroup",
            "You can specify the DeduplicationScope only when FifoQueue is set to true.",
        ),
        ("DeduplicationScope", "queue", "You can specify the DeduplicationScope only when FifoQueue is set to true."),
        (
            "FifoThroughputLimit",
            "perQueue",
            "You can specify the FifoThroughputLimit only when FifoQueue is set to true.",
        ),
    ];
    let url = h.create_queue("plain").await;
    for (name, value, message) in cases {
        let set = h.client.set_queue_attributes().queue_url(&url).attributes(QueueAttributeName::from(name), value);
        assert_eq!(failure(set.send().await), rejected("InvalidAttributeName", message), "SetQueueAttributes {name}");
        if (name, value) == ("FifoQueue", "true") {
            // On CreateQueue that is a FIFO queue with a bad name (see the test above).
            continue;
        }
        let created = h
            .client
            .create_queue()
            .queue_name("plain-2")
            .attributes(QueueAttributeName::from(name), value)
            .send()
            .await;
        assert_eq!(failure(created), rejected("InvalidAttributeName", message), "CreateQueue {name}={value}");
    }
    let all = h.attributes(&url).await;
    for name in ["FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"] {
        assert!(!all.contains_key(name), "a standard queue has no {name}: {all:?}");
    }
    assert!(h.client.get_queue_url().queue_name("plain-2").send().await.is_err(), "no queue was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deduplication_scope_and_throughput_limit_accept_only_the_allowed_combinations() {
    let h = Harness::start().await;
    let combos = [("queue", "perQueue"), ("messageGroup", "perQueue"), ("messageGroup", "perMessageGroupId")];
    for (i, (scope, limit)) in combos.iter().enumerate() {
        let url =
            fifo_queue(&h, &format!("ok-{i}.fifo"), &[("DeduplicationScope", scope), ("FifoThroughputLimit", limit)])
                .await;
        let a = h.attributes_named(&url, &["DeduplicationScope", "FifoThroughputLimit"]).await;
        assert_eq!(a.get("DeduplicationScope").map(String::as_str), Some(*scope));
        assert_eq!(a.get("FifoThroughputLimit").map(String::as_str), Some(*limit));
    }
    // High throughput needs per-group deduplication (AWS's model documentation).
    let per_group_only =
        "The perMessageGroupId value is allowed only when the value for DeduplicationScope is messageGroup";
    for attrs in [
        vec![("DeduplicationScope", "queue"), ("FifoThroughputLimit", "perMessageGroupId")],
        vec![("FifoThroughputLimit", "perMessageGroupId")],
    ] {
        let mut r = h.client.create_queue().queue_name("bad.fifo").attributes(QueueAttributeName::FifoQueue, "true");
        for (k, v) in &attrs {
            r = r.attributes(QueueAttributeName::from(*k), *v);
        }
        assert_eq!(failure(r.send().await), rejected("InvalidAttributeValue", per_group_only), "{attrs:?}");
    }
    for (name, value) in [("DeduplicationScope", "group"), ("FifoThroughputLimit", "perGroup")] {
        let r = h
            .client
            .create_queue()
            .queue_name("bad.fifo")
            .attributes(QueueAttributeName::FifoQueue, "true")
            .attributes(QueueAttributeName::from(name), value);
        assert_eq!(
            failure(r.send().await),
            rejected("InvalidAttributeValue", format!("Invalid value for the parameter {name}.")),
        );
    }
    // The same rule holds when SetQueueAttributes changes one side of an allowed pair.
    let url = fifo_queue(&h, "switch.fifo", &[]).await;
    h.set_attribute(&url, "DeduplicationScope", "messageGroup").await;
    h.set_attribute(&url, "FifoThroughputLimit", "perMessageGroupId").await;
    let back = h
        .client
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::DeduplicationScope, "queue")
        .send()
        .await;
    assert_eq!(failure(back), rejected("InvalidAttributeValue", per_group_only));
    assert_eq!(h.attribute(&url, "DeduplicationScope").await, "messageGroup", "a refused change changes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_queue_attributes_all_of_a_fifo_queue_adds_the_four_fifo_attributes() {
    let h = Harness::start().await;
    let url = fifo_queue(&h, "attrs.fifo", &[]).await;
    let all = h.attributes(&url).await;
    let expected = BTreeMap::from([
        ("ApproximateNumberOfMessages", "0"),
        ("ApproximateNumberOfMessagesDelayed", "0"),
        ("ApproximateNumberOfMessagesNotVisible", "0"),
        ("ContentBasedDeduplication", "false"),
        ("DeduplicationScope", "queue"),
        ("DelaySeconds", "0"),
        ("FifoQueue", "true"),
        ("FifoThroughputLimit", "perQueue"),
        ("MaximumMessageSize", "1048576"),
        ("MessageRetentionPeriod", "345600"),
        ("ReceiveMessageWaitTimeSeconds", "0"),
        ("SqsManagedSseEnabled", "true"),
        ("VisibilityTimeout", "30"),
    ]);
    for (name, value) in &expected {
        assert_eq!(all.get(*name).map(String::as_str), Some(*value), "{name} in {all:?}");
    }
    assert_eq!(all.get("QueueArn"), Some(&arn("attrs.fifo")));
    for name in ["CreatedTimestamp", "LastModifiedTimestamp"] {
        let secs: u64 = all[name].parse().expect("epoch seconds");
        assert!(secs > 1_600_000_000 && secs < 10_000_000_000, "{name} is in seconds: {secs}");
    }
    assert_eq!(all.len(), expected.len() + 3, "nothing else: {all:?}");

    // Set values read back; CreateQueue compares them like any attribute.
    let url2 = fifo_queue(
        &h,
        "cbd.fifo",
        &[
            ("ContentBasedDeduplication", "true"),
            ("DeduplicationScope", "messageGroup"),
            ("FifoThroughputLimit", "perMessageGroupId"),
        ],
    )
    .await;
    let a = h.attributes(&url2).await;
    assert_eq!(a["ContentBasedDeduplication"], "true");
    assert_eq!(a["DeduplicationScope"], "messageGroup");
    assert_eq!(a["FifoThroughputLimit"], "perMessageGroupId");
    assert_eq!(fifo_queue(&h, "cbd.fifo", &[("ContentBasedDeduplication", "true")]).await, url2);
    let differs = h
        .client
        .create_queue()
        .queue_name("cbd.fifo")
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "false")
        .send()
        .await;
    assert_eq!(
        failure(differs),
        rejected(
            "QueueAlreadyExists",
            "A queue already exists with the same name and a different value for attribute ContentBasedDeduplication"
        )
    );
}

// ---- 2. send ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_message_without_a_group_id_is_a_missing_parameter() {
    let h = Harness::start().await;
    let url = fifo_queue(&h, "nogroup.fifo", &[("ContentBasedDeduplication", "true")]).await;
    let r = h.client.send_message().queue_url(&url).message_body("x").message_deduplication_id("d").send().await;
    assert_eq!(failure(r), rejected("MissingParameter", "The request must contain the parameter MessageGroupId."));
    assert_eq!(h.counts(&url).await, (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_entry_without_a_group_or_dedup_id_fails_the_whole_batch() {
    let h = Harness::start().await;
    let url = fifo_queue(&h, "batch.fifo", &[]).await;
    let send = |entries: Vec<SendMessageBatchRequestEntry>| {
        h.client.send_message_batch().queue_url(&url).set_entries(Some(entries)).send()
    };
    // Unlike SendMessage (MissingParameter), the batch answers InvalidParameterValue.
    let no_group = vec![batch_entry("a", "one", Some("g"), Some("1")), batch_entry("b", "two", None, Some("2"))];
    assert_eq!(
        failure(send(no_group).await),
        rejected("InvalidParameterValue", "The request must contain the parameter MessageGroupId.")
    );
    let no_dedup = vec![batch_entry("a", "one", Some("g"), Some("1")), batch_entry("b", "two", Some("g"), None)];
    assert_eq!(failure(send(no_dedup).await), rejected("InvalidParameterValue", NO_DEDUP_ID));
    assert_eq!(h.counts(&url).await, (0, 0, 0), "no entry of a refused batch was stored");

    // A good batch: every entry has a SequenceNumber, increasing in entry order.
    let good = vec![batch_entry("a", "one", Some("g"), Some("1")), batch_entry("b", "two", Some("g"), Some("2"))];
    let out = send(good).await.expect("batch");
    assert!(out.failed().is_empty(), "{:?}", out.failed());
    let seqs: Vec<u128> = out
        .successful()
        .iter()
        .map(|e| e.sequence_number().expect("SequenceNumber").parse().expect("a number"))
        .collect();
    assert_eq!(seqs.len(), 2);
    assert!(seqs[0] < seqs[1], "{seqs:?}");
    assert_eq!(bodies(&consume_all(&h, &url).await), ["one", "two"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_and_deduplication_ids_are_1_to_128_alphanumeric_or_punctuation_characters() {
    let h = Harness::start().await;
    let url = fifo_queue(&h, "ids.fifo", &[]).await;
    let punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    let longest = format!("{punctuation}{}", "x".repeat(128 - punctuation.len()));
    for good in ["a", "Group-1_b.c", punctuation, longest.as_str()] {
        send(&h, &url, &format!("group {good}"), good, Some(&format!("d-{}", good.len()))).await;
        send(&h, &url, &format!("dedup {good}"), "g", Some(good)).await;
    }
    let too_long = "y".repeat(129);
    for bad in ["", "with space", "grüppe", "tab\there", too_long.as_str()] {
        let r = h.client.send_message().queue_url(&url).message_body("x").message_group_id(bad);
        assert_eq!(
            failure(r.message_deduplication_id("ok").send().await),
            rejected(
                "InvalidParameterValue",
                format!(
                    "Value {bad} for parameter MessageGroupId is invalid. Reason: MessageGroupId can only include alphanumeric and punctuation characters. 1 to 128 in length."
                )
            ),
            "group id {bad:?}"
        );
        let r = h.client.send_message().queue_url(&url).message_body("x").message_group_id("g");
        assert_eq!(
            failure(r.message_deduplication_id(bad).send().await),
            rejected(
                "InvalidParameterValue",
                format!(
                    "Value {bad} for parameter MessageDeduplicationId is invalid. Reason: MessageDeduplicationId can only include alphanumeric and punctuation characters. 1 to 128 in length."
                )
            ),
            "deduplication id {bad:?}"
        );
    }
    assert_eq!(h.counts(&url).await, (8, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_content_based_deduplication_a_deduplication_id_is_required() {
    let h = Harness::start().await;
    let url = fifo_queue(&h, "explicit.fifo", &[]).await;
    let r = h.client.send_message().queue_url(&url).message_body("x").message_group_id("g").send().await;
    assert_eq!(failure(r), rejected("InvalidParameterValue", NO_DEDUP_ID));
    // Turning ContentBasedDeduplication on makes the same send succeed.
    h.set_attribute(&url, "ContentBasedDeduplication", "true").await;
    send(&h, &url, "x", "g", None).await;
    assert_eq!(h.counts(&url).await, (1, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_content_based_deduplication_id_is_the_sha256_of_the_body_and_shows_on_receive() {
    let h = Harness::start().await;
    let url = fifo_queue(&h, "cbd.fifo", &[("ContentBasedDeduplication", "true")]).await;
    let first = send(&h, &url, "hello", "g1", None).await;
    let explicit = send(&h, &url, "order #1: 2 widgets", "g1", Some("order-1")).await;
    let got = receive(&h, &url, 10, None, None).await;
    assert_eq!(bodies(&got), ["hello", "order #1: 2 widgets"]);
    let m = &got[0];
    assert_eq!(m.message_id(), first.message_id());
    assert_eq!(attr(m, MessageSystemAttributeName::MessageDeduplicationId).as_deref(), Some(SHA256_HELLO));
    assert_eq!(attr(m, MessageSystemAttributeName::MessageGroupId).as_deref(), Some("g1"));
    assert_eq!(attr(m, MessageSystemAttributeName::SequenceNumber).as_deref(), first.sequence_number());
    assert!(attr(m, MessageSystemAttributeName::SenderId).is_some());
    assert!(attr(m, MessageSystemAttributeName::SentTimestamp).is_some());
    assert_eq!(receive_count(m), 1);
    // An explicit id wins over the content.
    let m = &got[1];
    assert_eq!(m.message_id(), explicit.message_id());
    assert_eq!(attr(m, MessageSystemAttributeName::MessageDeduplicationId).as_deref(), Some("order-1"));
    assert_eq!(attr(m, MessageSystemAttributeName::SequenceNumber).as_deref(), explicit.sequence_number());

    // Asking for single attributes returns only those.
    delete_all(&h, &url, &got).await;
    send(&h, &url, r#"{"order":42}"#, "g2", None).await;
    let out = h
        .client
        .receive_message()
        .queue_url(&url)
        .message_system_attribute_names(MessageSystemAttributeName::MessageDeduplicationId)
        .send()
        .await
        .expect("receive");
    let m = &out.messages()[0];
    let names: Vec<&str> = m.attributes().map(|a| a.keys().map(|k| k.as_str()).collect()).unwrap_or_default();
    assert_eq!(names, ["MessageDeduplicationId"]);
    assert_eq!(
        attr(m, MessageSystemAttributeName::MessageDeduplicationId).as_deref(),
        Some("54985dc3c12fada7a1b1db53cf23d3cbd4bcbe64e1cef95071e2073e2ceff4ed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_message_delay_seconds_is_refused_on_a_fifo_queue_but_zero_is_accepted() {
    let h = Harness::start().await;
    let url = fifo_queue(&h, "delay.fifo", &[("ContentBasedDeduplication", "true")]).await;
    let with_delay = |d: i32, body: &'static str| {
        h.client.send_message().queue_url(&url).message_body(body).message_group_id("g").delay_seconds(d).send()
    };
    assert_eq!(
        failure(with_delay(5, "five").await),
        rejected(
            "InvalidParameterValue",
            "Value 5 for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type."
        )
    );
    with_delay(0, "zero").await.expect("DelaySeconds=0 is accepted");
    // In a batch the entry fails on its own.
    let entries = vec![
        SendMessageBatchRequestEntry::builder()
            .id("late")
            .message_body("late")
            .message_group_id("g")
            .delay_seconds(5)
            .build()
            .expect("entry"),
        batch_entry("now", "now", Some("g"), None),
    ];
    let out = h.client.send_message_batch().queue_url(&url).set_entries(Some(entries)).send().await.expect("batch");
    assert_eq!(out.successful().iter().map(|e| e.id()).collect::<Vec<_>>(), ["now"]);
    assert_eq!(out.failed().len(), 1);
    assert_eq!((out.failed()[0].id(), out.failed()[0].code()), ("late", "InvalidParameterValue"));
    assert!(out.failed()[0].sender_fault());
    assert_eq!(h.counts(&url).await, (2, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_level_delay_seconds_applies_to_every_fifo_message() {
    let h = Harness::start().await;
    let url = fifo_queue(&h, "delayed.fifo", &[("DelaySeconds", "10"), ("ContentBasedDeduplication", "true")]).await;
    send(&h, &url, "first", "g", None).await;
    h.advance(4);
    send(&h, &url, "second", "g", None).await;
    send(&h, &url, "other", "h", None).await;
    assert_eq!(h.counts(&url).await, (0, 0, 3));
    assert!(receive(&h, &url, 10, None, None).await.is_empty(), "all delayed");
    h.advance(6);
    assert_eq!(h.counts(&url).await, (1, 0, 2));
    assert_eq!(bodies(&receive(&h, &url, 10, None, None).await), ["first"]);
    h.advance(4);
    // `second` is visible now, but its group waits for `first`; `other` delivers.
    assert_eq!(bodies(&receive(&h, &url, 10, None, None).await), ["other"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_delay_seconds_0_does_not_bypass_the_queue_delay() {
    // SendMessage documentation: "When you set FifoQueue, you can't set DelaySeconds per
    // message. You can set this parameter only on a queue level." DelaySeconds=0 is accepted
    // (recorded), so it must mean "no per-message delay", not "deliver now".
    let h = Harness::start().await;
    let url = fifo_queue(&h, "delay-zero.fifo", &[("DelaySeconds", "10"), ("ContentBasedDeduplication", "true")]).await;
    let r = h.client.send_message().queue_url(&url).message_body("zero").message_group_id("g").delay_seconds(0);
    r.send().await.expect("DelaySeconds=0 is accepted");
    let entries = vec![SendMessageBatchRequestEntry::builder()
        .id("e")
        .message_body("batch zero")
        .message_group_id("h")
        .delay_seconds(0)
        .build()
        .expect("entry")];
    let out = h.client.send_message_batch().queue_url(&url).set_entries(Some(entries)).send().await.expect("batch");
    assert!(out.failed().is_empty(), "{:?}", out.failed());
    assert_eq!(h.counts(&url).await, (0, 0, 2), "both delayed by the queue's 10 s");
    assert!(receive(&h, &url, 10, None, None).await.is_empty());
    h.advance(10);
    assert_eq!(bodies(&receive(&h, &url, 10, None, None).await), ["zero", "batch zero"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_numbers_come_with_send_and_receive_and_increase_within_a_group() {
    let h = Harness::start().await;
    let url = fifo_queue(&h, "seq.fifo", &[]).await;
    let mut sent = Vec::new();
    for (i, group) in ["a", "b", "a", "a", "b"].iter().enumerate() {
        let out = send(&h, &url, &format!("m{i}"), group, Some(&format!("d{i}"))).await;
        let seq = out.sequence_number().expect("SequenceNumber").to_string();
        assert!(seq.len() >= 20 && seq.bytes().all(|b| b.is_ascii_digit()), "a large number: {seq}");
        sent.push((group.to_string(), out.message_id().expect("id").to_string(), seq));
    }
    for group in ["a", "b"] {
        let seqs: Vec<u128> =
            sent.iter().filter(|(g, _, _)| g == group).map(|(_, _, s)| s.parse().expect("n")).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "group {group}: {seqs:?}");
    }
    let got = consume_all(&h, &url).await;
    assert_eq!(got.len(), 5);
    for m in &got {
        let (_, _, seq) = sent.iter().find(|(_, id, _)| Some(id.as_str()) == m.message_id()).expect("a sent message");
        assert_eq!(attr(m, MessageSystemAttributeName::SequenceNumber).as_deref(), Some(seq.as_str()));
    }
    // A standard queue has none.
    let plain = h.create_queue("plain").await;
    assert_eq!(h.send(&plain, "x").await.sequence_number(), None);
    let m = receive(&h, &plain, 1, None, None).await;
    assert_eq!(attr(&m[0], MessageSystemAttributeName::SequenceNumber), None);
    assert_eq!(attr(&m[0], MessageSystemAttributeName::MessageDeduplicationId), None);
}

// ---- 3. the deduplication window ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_within_five_minutes_is_accepted_not_stored_and_answers_the_first_message_id() {
    let h = Harness::start().await;
    let url = fifo_queue(&h, "dedup.fifo", &[]).await;
    let first = send(&h, &url, "first", "g", Some("order-7")).await;
    h.advance(299);
    let again = send(&h, &url, "second, same id", "g", Some("order-7")).await;
    assert_eq!(again.message_id(), first.message_id(), "the duplicate answers the first MessageId");
    assert_eq!(h.counts(&url).await, (1, 0, 0), "and is not stored");
    let got = receive(&h, &url, 10, None, None).await;
    assert_eq!(bodies(&got), ["first"]);
    h.delete(&url, &got[0]).await;
    // Deleting the message does not end the window.
    let after_delete = send(&h, &url, "third", "g", Some("order-7")).await;
    assert_eq!(after_delete.message_id(), first.message_id());
    assert_eq!(h.counts(&url).await, (0, 0, 0));
    // Five minutes after the first send the id is new again.
    h.advance(2);
    let fresh = send(&h, &url, "fourth", "g", Some("order-7")).await;
    assert_ne!(fresh.message_id(), first.message_id());
    assert_eq!(h.counts(&url).await, (1, 0, 0));
    assert_eq!(bodies(&receive(&h, &url, 10, None, None).await), ["fourth"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_based_duplicates_and_batch_duplicates_are_answered_with_the_first_message() {
    let h = Harness::start().await;
    let url = fifo_queue(&h, "cbd-dup.fifo", &[("ContentBasedDeduplication", "true")]).await;
    let a = send(&h, &url, "hello", "g", None).await;
    let b = send(&h, &url, "hello", "other-group", None).await;
    assert_eq!(b.message_id(), a.message_id(), "the body decides, across groups (scope queue)");
    let c = send(&h, &url, "hello!", "g", None).await;
    assert_ne!(c.message_id(), a.message_id());
    let entries = vec![
        batch_entry("one", "batch body", Some("g"), None),
        batch_entry("two", "batch body", Some("g"), None),
        batch_entry("three", "hello", Some("g"), None),
    ];
    let out = h.client.send_message_batch().queue_url(&url).set_entries(Some(entries)).send().await.expect("batch");
    assert!(out.failed().is_empty(), "duplicates are accepted: {:?}", out.failed());
    let ids: BTreeMap<&str, &str> = out.successful().iter().map(|e| (e.id(), e.message_id())).collect();
    assert_eq!(ids["one"], ids["two"], "a duplicate inside the batch answers the first entry's id");
    assert_eq!(Some(ids["three"]), a.message_id());
    assert_eq!(h.counts(&url).await, (3, 0, 0));
    assert_eq!(bodies(&consume_all(&h, &url).await), ["hello", "hello!", "batch body"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deduplication_scope_message_group_scopes_ids_to_their_group() {
    let h = Harness::start().await;
    let per_queue = fifo_queue(&h, "scope-queue.fifo", &[]).await;
    let a = send(&h, &per_queue, "a", "g1", Some("same")).await;
    let b = send(&h, &per_queue, "b", "g2", Some("same")).await;
    assert_eq!(a.message_id(), b.message_id(), "scope queue: one id space for the queue");
    assert_eq!(h.counts(&per_queue).await, (1, 0, 0));

    let per_group = fifo_queue(&h, "scope-group.fifo", &[("DeduplicationScope", "messageGroup")]).await;
    let a = send(&h, &per_group, "a", "g1", Some("same")).await;
    let b = send(&h, &per_group, "b", "g2", Some("same")).await;
    assert_ne!(a.message_id(), b.message_id(), "scope messageGroup: each group has its own ids");
    let a2 = send(&h, &per_group, "a again", "g1", Some("same")).await;
    assert_eq!(a2.message_id(), a.message_id(), "but within a group a duplicate is still a duplicate");
    assert_eq!(h.counts(&per_group).await, (2, 0, 0));
    let got = consume_all(&h, &per_group).await;
    assert_eq!(of_group(&got, "g1"), ["a"]);
    assert_eq!(of_group(&got, "g2"), ["b"]);
}

/// Recorded on AWS (2025-08-19): a queue created with DeduplicationScope=queue and switched to
/// messageGroup reports the new scope but goes on deduplicating across groups, for old ids and
/// new ones; the scope it was created with is kept through a restart of a durable server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deduplication_scope_changed_after_creation_is_reported_but_deduplication_keeps_the_first() {
    let dir = fresh_dir("fifo-scope");
    let h = Harness::start_with(on_disk(&dir)).await;
    let url = fifo_queue(&h, "switched.fifo", &[("DeduplicationScope", "queue")]).await;
    let first = send(&h, &url, "Test1", "group1", Some("same-dedup")).await;
    h.set_attribute(&url, "DeduplicationScope", "messageGroup").await;
    assert_eq!(h.attribute(&url, "DeduplicationScope").await, "messageGroup");
    let again = send(&h, &url, "Test3", "group3", Some("same-dedup")).await;
    assert_eq!(again.message_id(), first.message_id(), "an id seen before is still a duplicate in another group");
    let new = send(&h, &url, "Test4", "group4", Some("dedup_2")).await;
    h.server.shutdown().await;

    let h = restart(&dir).await;
    assert_eq!(h.attribute(&url, "DeduplicationScope").await, "messageGroup");
    let dup = send(&h, &url, "Test5", "group5", Some("dedup_2")).await;
    assert_eq!(dup.message_id(), new.message_id(), "a new id too, after a restart");
    assert_eq!(bodies(&consume_all(&h, &url).await), ["Test1", "Test4"]);
    h.server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_queue_clears_the_deduplication_window() {
    let h = Harness::start().await;
    let url = fifo_queue(&h, "purge.fifo", &[]).await;
    let first = send(&h, &url, "before", "g", Some("d")).await;
    h.client.purge_queue().queue_url(&url).send().await.expect("purge");
    assert_eq!(h.counts(&url).await, (0, 0, 0));
    let after = send(&h, &url, "after", "g", Some("d")).await;
    assert_ne!(after.message_id(), first.message_id(), "the id is new after a purge");
    assert_eq!(bodies(&receive(&h, &url, 10, None, None).await), ["after"]);
}

// ---- 4. ordering within groups ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_delivers_in_send_order_and_waits_while_one_of_its_messages_is_in_flight() {
    let h = Harness::start().await;
    let url = fifo_queue(&h, "order.fifo", &[]).await;
    for (body, group) in [("a1", "A"), ("b1", "B"), ("a2", "A"), ("a3", "A"), ("b2", "B")] {
        send_unique(&h, &url, body, group).await;
    }
    let first = receive(&h, &url, 1, None, None).await;
    assert_eq!(bodies(&first), ["a1"]);
    // A is blocked while a1 is in flight; B still delivers.
    let second = receive(&h, &url, 1, None, None).await;
    assert_eq!(bodies(&second), ["b1"]);
    assert!(receive(&h, &url, 10, None, None).await.is_empty(), "both groups have a message in flight");
    assert_eq!(h.counts(&url).await, (3, 2, 0));
    h.delete(&url, &first[0]).await;
    assert_eq!(bodies(&receive(&h, &url, 1, None, None).await), ["a2"]);
    h.delete(&url, &second[0]).await;
    let rest = receive(&h, &url, 10, None, None).await;
    assert_eq!(bodies(&rest), ["b2"], "A still waits for a2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_receive_fills_from_one_group_first() {
    let h = Harness::start().await;
    let url = fifo_queue(&h, "fill.fifo", &[]).await;
    for i in 1..=5 {
        send_unique(&h, &url, &format!("x{i}"), "X").await;
        if i <= 3 {
            send_unique(&h, &url, &format!("y{i}"), "Y").await;
        }
    }
    let got = receive(&h, &url, 10, None, None).await;
    assert!(got.len() >= 5, "at least the whole first group: {:?}", bodies(&got));
    assert_eq!(bodies(&got[..5]), ["x1", "x2", "x3", "x4", "x5"], "as many of one group as possible first");
    assert_eq!(of_group(&got, "Y"), ["y1", "y2", "y3"][..got.len() - 5].to_vec(), "then others, in order");
    // A smaller batch from a single group: the first messages, in order.
    let url = fifo_queue(&h, "single.fifo", &[]).await;
    for i in 1..=6 {
        send_unique(&h, &url, &format!("m{i}"), "only").await;
    }
    assert_eq!(bodies(&receive(&h, &url, 4, None, None).await), ["m1", "m2", "m3", "m4"]);
    assert!(receive(&h, &url, 10, None, None).await.is_empty(), "the group is in flight");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_visibility_timeout_the_group_starts_again_from_the_undeleted_message() {
    let h = Harness::start().await;
    let url = fifo_queue(&h, "expiry.fifo", &[("VisibilityTimeout", "10")]).await;
    for body in ["m1", "m2", "m3"] {
        send_unique(&h, &url, body, "g").await;
    }
    let got = receive(&h, &url, 2, None, None).await;
    assert_eq!(bodies(&got), ["m1", "m2"]);
    h.delete(&url, &got[0]).await;
    h.advance(9);
    assert!(receive(&h, &url, 10, None, None).await.is_empty(), "m2 still in flight blocks m3");
    h.advance(1);
    let again = receive(&h, &url, 10, None, None).await;
    assert_eq!(bodies(&again), ["m2", "m3"], "m2 comes back before m3");
    assert_eq!(receive_count(&again[0]), 2);
    assert_eq!(receive_count(&again[1]), 1);
    assert_ne!(handle(&again[0]), handle(&got[1]), "a new receipt handle");
    delete_all(&h, &url, &again).await;
    assert_eq!(h.counts(&url).await, (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_message_visibility_to_zero_releases_the_group() {
    let h = Harness::start().await;
    let url = fifo_queue(&h, "release.fifo", &[]).await;
    for body in ["m1", "m2", "m3"] {
        send_unique(&h, &url, body, "g").await;
    }
    let got = receive(&h, &url, 1, None, None).await;
    assert_eq!(bodies(&got), ["m1"]);
    h.client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(handle(&got[0]))
        .visibility_timeout(0)
        .send()
        .await
        .expect("change visibility");
    let again = receive(&h, &url, 1, None, None).await;
    assert_eq!(bodies(&again), ["m1"], "m1 again, not m2");
    assert_ne!(handle(&again[0]), handle(&got[0]));
    assert_eq!(receive_count(&again[0]), 2);
    h.delete(&url, &again[0]).await;
    // Releasing the later of two in-flight messages does not unblock the group.
    let pair = receive(&h, &url, 2, None, None).await;
    assert_eq!(bodies(&pair), ["m2", "m3"]);
    h.client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(handle(&pair[1]))
        .visibility_timeout(0)
        .send()
        .await
        .expect("change visibility");
    assert!(receive(&h, &url, 10, None, None).await.is_empty(), "m2 is still in flight");
    assert_eq!(h.counts(&url).await, (1, 1, 0));
    h.delete(&url, &pair[0]).await;
    assert_eq!(bodies(&receive(&h, &url, 10, None, None).await), ["m3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_waiting_behind_an_in_flight_message_wakes_when_the_group_is_released() {
    let h = Harness::start().await;
    let url = fifo_queue(&h, "wake.fifo", &[]).await;
    for body in ["m1", "m2", "m3"] {
        send_unique(&h, &url, body, "g").await;
    }
    let spawn_poll = || {
        let request = h.client.receive_message().queue_url(&url).wait_time_seconds(20);
        tokio::spawn(async move { request.send().await.expect("long poll") })
    };
    let prompt = std::time::Duration::from_secs(3);

    // Released by ChangeMessageVisibility 0: m1 comes back.
    let first = receive(&h, &url, 1, None, None).await;
    let poll = spawn_poll();
    real_pause(300).await;
    assert!(!poll.is_finished(), "the group is in flight: the poll waits");
    h.client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(handle(&first[0]))
        .visibility_timeout(0)
        .send()
        .await
        .expect("release");
    let out = tokio::time::timeout(prompt, poll).await.expect("woken by the release").expect("poll task");
    assert_eq!(bodies(out.messages()), ["m1"]);

    // Released by DeleteMessage: m2 follows.
    let poll = spawn_poll();
    real_pause(300).await;
    assert!(!poll.is_finished(), "m1 is in flight again: the poll waits");
    h.delete(&url, &out.messages()[0]).await;
    let next = tokio::time::timeout(prompt, poll).await.expect("woken by the delete").expect("poll task");
    assert_eq!(bodies(next.messages()), ["m2"]);
}

// ---- 5. ReceiveRequestAttemptId ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receive_retried_with_the_same_attempt_id_returns_the_same_messages_and_handles() {
    let h = Harness::start().await;
    let url = fifo_queue(&h, "attempt.fifo", &[]).await;
    for body in ["m1", "m2", "m3"] {
        send_unique(&h, &url, body, "g").await;
    }
    let first = receive(&h, &url, 2, None, Some("attempt-1")).await;
    assert_eq!(bodies(&first), ["m1", "m2"]);
    h.advance(10);
    let retry = receive(&h, &url, 2, None, Some("attempt-1")).await;
    assert_eq!(bodies(&retry), ["m1", "m2"]);
    for (a, b) in first.iter().zip(&retry) {
        assert_eq!(a.message_id(), b.message_id());
        assert_eq!(handle(a), handle(b), "the same receipt handle");
        assert_eq!(receive_count(b), 1, "a retry is not another receive");
    }
    assert_eq!(h.counts(&url).await, (1, 2, 0));
    // Another attempt id is a new receive: the group is in flight.
    assert!(receive(&h, &url, 10, None, Some("attempt-2")).await.is_empty());
    // The handles of the retry work.
    delete_all(&h, &url, &retry).await;
    assert_eq!(bodies(&receive(&h, &url, 10, None, Some("attempt-3")).await), ["m3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_within_the_deduplication_interval_resets_the_visibility_timeout() {
    // Documented for ReceiveRequestAttemptId: "During a visibility timeout, subsequent calls
    // with the same ReceiveRequestAttemptId return the same messages and receipt handles. If a
    // retry occurs within the deduplication interval, it resets the visibility timeout."
    let h = Harness::start().await;
    let url = fifo_queue(&h, "reset.fifo", &[]).await;
    send_unique(&h, &url, "m1", "g").await;
    let first = receive(&h, &url, 1, Some(20), Some("attempt")).await;
    assert_eq!(bodies(&first), ["m1"]);
    h.advance(15);
    let retry = receive(&h, &url, 1, Some(20), Some("attempt")).await;
    assert_eq!(handle(&retry[0]), handle(&first[0]));
    h.advance(10);
    assert_eq!(h.counts(&url).await, (0, 1, 0), "25 s after the receive, 10 s after the retry: still hidden");
    assert!(receive(&h, &url, 1, None, None).await.is_empty());
    h.delete(&url, &retry[0]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_id_is_forgotten_after_five_minutes() {
    let h = Harness::start().await;
    let url = fifo_queue(&h, "forget.fifo", &[]).await;
    send_unique(&h, &url, "m1", "g").await;
    let first = receive(&h, &url, 1, None, Some("attempt")).await;
    h.advance(301);
    let later = receive(&h, &url, 1, None, Some("attempt")).await;
    assert_eq!(bodies(&later), ["m1"]);
    assert_ne!(handle(&later[0]), handle(&first[0]), "a new receive, with a new handle");
    assert_eq!(receive_count(&later[0]), 2);
}

// ---- 6. expired receipt handles ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_with_an_expired_handle_is_refused_and_keeps_the_message() {
    let h = Harness::start().await;
    let url = fifo_queue(&h, "expired.fifo", &[]).await;
    send_unique(&h, &url, "m1", "g").await;
    let got = receive(&h, &url, 1, Some(5), None).await;
    h.advance(6);
    let expired = handle(&got[0]).to_string();
    let r = h.client.delete_message().queue_url(&url).receipt_handle(&expired).send().await;
    assert_eq!(
        failure(r),
        rejected(
            "InvalidParameterValue",
            format!("Value {expired} for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.")
        )
    );
    assert_eq!(h.counts(&url).await, (1, 0, 0), "the message stays");
    let again = receive(&h, &url, 1, None, None).await;
    assert_eq!(bodies(&again), ["m1"]);
    assert_eq!(receive_count(&again[0]), 2);
    // The handle of the earlier receive stays expired even while the message is in flight again.
    let r = h.client.delete_message().queue_url(&url).receipt_handle(&expired).send().await;
    assert_eq!(failure(r).1, "InvalidParameterValue");
    // In a batch the entry fails on its own.
    let entries = vec![
        DeleteMessageBatchRequestEntry::builder().id("old").receipt_handle(&expired).build().expect("entry"),
        DeleteMessageBatchRequestEntry::builder().id("new").receipt_handle(handle(&again[0])).build().expect("entry"),
    ];
    let out = h.client.delete_message_batch().queue_url(&url).set_entries(Some(entries)).send().await.expect("batch");
    assert_eq!(out.successful().iter().map(|e| e.id()).collect::<Vec<_>>(), ["new"]);
    assert_eq!(out.failed().len(), 1);
    assert_eq!((out.failed()[0].id(), out.failed()[0].code()), ("old", "InvalidParameterValue"));
    assert_eq!(h.counts(&url).await, (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extending_the_visibility_first_lets_a_late_delete_succeed() {
    let h = Harness::start().await;
    let url = fifo_queue(&h, "extend.fifo", &[]).await;
    send_unique(&h, &url, "m1", "g").await;
    send_unique(&h, &url, "m2", "g").await;
    let got = receive(&h, &url, 1, Some(5), None).await;
    h.advance(3);
    h.client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(handle(&got[0]))
        .visibility_timeout(30)
        .send()
        .await
        .expect("extend");
    h.advance(10);
    assert!(receive(&h, &url, 10, None, None).await.is_empty(), "still in flight: the group waits");
    h.delete(&url, &got[0]).await;
    assert_eq!(bodies(&receive(&h, &url, 10, None, None).await), ["m2"]);
}

// ---- 7. dead-letter queues ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_source_needs_a_fifo_dead_letter_queue_and_the_other_way_round() {
    let h = Harness::start().await;
    h.create_queue("plain-dlq").await;
    fifo_queue(&h, "fifo-dlq.fifo", &[]).await;
    let cases = [("source.fifo", true, "plain-dlq"), ("source", false, "fifo-dlq.fifo")];
    for (source, fifo, dlq) in cases {
        let policy = format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":"3"}}"#, arn(dlq));
        let mut r = h.client.create_queue().queue_name(source).attributes(QueueAttributeName::RedrivePolicy, &policy);
        if fifo {
            r = r.attributes(QueueAttributeName::FifoQueue, "true");
        }
        assert_eq!(
            failure(r.send().await),
            rejected(
                "InvalidParameterValue",
                format!(
                    "Value {policy} for parameter RedrivePolicy is invalid. Reason: Dead-letter queue must be same type of queue as the source.."
                )
            ),
            "{source} -> {dlq}"
        );
    }
    let policy = format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":3}}"#, arn("fifo-dlq.fifo"));
    let url = fifo_queue(&h, "source.fifo", &[("RedrivePolicy", &policy)]).await;
    assert_eq!(h.attribute(&url, "RedrivePolicy").await, policy);
}

async fn fifo_source_and_dlq(h: &Harness, max_receives: u32, dlq_attrs: &[(&str, &str)]) -> (String, String) {
    let dlq_url = fifo_queue(h, "dlq.fifo", dlq_attrs).await;
    let policy = format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":{max_receives}}}"#, arn("dlq.fifo"));
    let url = fifo_queue(h, "source.fifo", &[("RedrivePolicy", &policy)]).await;
    (url, dlq_url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fifo_dead_letter_hand_off_keeps_the_message_and_unblocks_its_group() {
    let h = Harness::start().await;
    let (url, dlq_url) = fifo_source_and_dlq(&h, 1, &[]).await;
    let poison = send_unique(&h, &url, "poison", "g").await;
    send_unique(&h, &url, "next", "g").await;
    send_unique(&h, &url, "other", "h").await;
    let first = receive(&h, &url, 1, Some(10), None).await;
    assert_eq!(bodies(&first), ["poison"]);
    let sent_at = attr(&first[0], MessageSystemAttributeName::SentTimestamp).expect("SentTimestamp");
    h.advance(10);
    // The receive that finds `poison` at maxReceiveCount moves it; its group goes on.
    let mut delivered = receive(&h, &url, 10, None, None).await;
    if !delivered.iter().any(|m| m.body() == Some("next")) {
        delivered.extend(receive(&h, &url, 10, None, None).await);
    }
    assert_eq!(of_group(&delivered, "g"), ["next"], "the next message of the group is delivered");
    assert_eq!(of_group(&delivered, "h"), ["other"]);
    delete_all(&h, &url, &delivered).await;
    assert_eq!(h.counts(&url).await, (0, 0, 0));
    assert_eq!(h.counts(&dlq_url).await, (1, 0, 0));

    let moved = receive(&h, &dlq_url, 10, None, None).await;
    assert_eq!(moved.len(), 1);
    let m = &moved[0];
    assert_eq!(m.message_id(), Some(poison.as_str()), "the MessageId is kept");
    assert_eq!(m.body(), Some("poison"));
    assert_eq!(attr(m, MessageSystemAttributeName::MessageGroupId).as_deref(), Some("g"));
    assert_eq!(
        attr(m, MessageSystemAttributeName::MessageDeduplicationId).as_deref(),
        Some(poison.as_str()),
        "the deduplication id becomes the MessageId"
    );
    assert!(attr(m, MessageSystemAttributeName::SequenceNumber).is_some());
    assert_eq!(
        attr(m, MessageSystemAttributeName::DeadLetterQueueSourceArn).as_deref(),
        Some(arn("source.fifo").as_str())
    );
    assert_eq!(receive_count(m), 2, "the count goes on");
    assert_eq!(attr(m, MessageSystemAttributeName::SentTimestamp), Some(sent_at));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_dead_letter_queue_counts_retention_from_the_move() {
    let h = Harness::start().await;
    let (url, dlq_url) = fifo_source_and_dlq(&h, 1, &[("MessageRetentionPeriod", "120")]).await;
    send_unique(&h, &url, "late", "g").await;
    receive(&h, &url, 1, Some(100), None).await;
    h.advance(100);
    // Moved 100 s after it was sent.
    assert!(receive(&h, &url, 10, None, None).await.is_empty());
    assert_eq!(h.counts(&dlq_url).await, (1, 0, 0));
    h.advance(50);
    assert_eq!(h.counts(&dlq_url).await, (1, 0, 0), "150 s after the send, 50 s after the move: kept");
    h.advance(71);
    assert_eq!(h.counts(&dlq_url).await, (0, 0, 0), "121 s after the move: past retention");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_task_from_a_fifo_dlq_back_to_its_source_keeps_each_groups_order() {
    let h = Harness::start().await;
    let (url, dlq_url) = fifo_source_and_dlq(&h, 1, &[]).await;
    let order = [("a1", "A"), ("b1", "B"), ("a2", "A"), ("a3", "A"), ("b2", "B"), ("c1", "C"), ("a4", "A")];
    for (body, group) in order {
        send_unique(&h, &url, body, group).await;
    }
    // Receive with VisibilityTimeout 0 until everything reached the DLQ: each message counts
    // one receive, then the next receive moves it and the group goes on.
    for _ in 0..50 {
        if h.counts(&url).await == (0, 0, 0) {
            break;
        }
        receive(&h, &url, 10, Some(0), None).await;
    }
    assert_eq!(h.counts(&url).await, (0, 0, 0));
    assert_eq!(h.counts(&dlq_url).await, (7, 0, 0));

    let dlq_arn = arn("dlq.fifo");
    h.client.start_message_move_task().source_arn(&dlq_arn).send().await.expect("start move task");
    let mut status = String::new();
    for _ in 0..250 {
        let tasks = h.client.list_message_move_tasks().source_arn(&dlq_arn).send().await.expect("list");
        status = tasks.results().first().and_then(|t| t.status()).unwrap_or_default().to_string();
        if status == "COMPLETED" {
            assert_eq!(tasks.results()[0].approximate_number_of_messages_moved(), 7);
            break;
        }
        real_pause(20).await;
    }
    assert_eq!(status, "COMPLETED");
    assert_eq!(h.counts(&dlq_url).await, (0, 0, 0));

    let back = consume_all(&h, &url).await;
    assert_eq!(of_group(&back, "A"), ["a1", "a2", "a3", "a4"]);
    assert_eq!(of_group(&back, "B"), ["b1", "b2"]);
    assert_eq!(of_group(&back, "C"), ["c1"]);
    for m in &back {
        assert_eq!(receive_count(m), 1, "a redriven message starts over");
        assert!(attr(m, MessageSystemAttributeName::SequenceNumber).is_some());
    }
}

// ---- durability ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_locks_receipt_handles_and_the_deduplication_window_survive_a_restart() {
    let dir = fresh_dir("fifo");
    let h = Harness::start_with(on_disk(&dir)).await;
    let url = fifo_queue(&h, "durable.fifo", &[]).await;
    let done = send(&h, &url, "done", "g", Some("d-done")).await;
    let m1 = send(&h, &url, "m1", "g", Some("d-1")).await;
    send(&h, &url, "m2", "g", Some("d-2")).await;
    let o1 = send(&h, &url, "o1", "other", Some("d-o1")).await;
    let got = receive(&h, &url, 1, None, None).await;
    assert_eq!(bodies(&got), ["done"]);
    h.delete(&url, &got[0]).await;
    let in_flight = receive(&h, &url, 1, None, None).await;
    assert_eq!(bodies(&in_flight), ["m1"]);
    // No clock advance: the next server's manual clock starts at the real time again.
    let Harness { server, client } = h;
    drop(client);
    server.shutdown().await;

    let h = restart(&dir).await;
    assert_eq!(h.counts(&url).await, (2, 1, 0), "m2 and o1 visible, m1 in flight");
    assert_eq!(send(&h, &url, "m1 again", "g", Some("d-1")).await.message_id(), m1.message_id());
    assert_eq!(h.counts(&url).await, (2, 1, 0), "a duplicate of a stored message is not stored");
    // The group still waits for m1; the other group delivers.
    assert_eq!(bodies(&receive(&h, &url, 10, None, None).await), ["o1"]);
    h.delete(&url, &in_flight[0]).await;
    assert_eq!(bodies(&receive(&h, &url, 10, None, None).await), ["m2"]);
    let last = send(&h, &url, "after restart", "g", Some("d-3")).await;
    let before: u128 = o1.sequence_number().expect("n").parse().expect("n");
    let after: u128 = last.sequence_number().expect("n").parse().expect("n");
    assert!(after > before, "SequenceNumber keeps increasing: {before} then {after}");
    // The window of a message deleted before the restart is still open (sent seconds ago).
    let again = send(&h, &url, "done again", "g", Some("d-done")).await;
    assert_eq!(again.message_id(), done.message_id(), "a duplicate of a deleted message within 5 minutes");
    let Harness { server, .. } = h;
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A receive made under a ReceiveRequestAttemptId is stored with it: after a restart a retry
/// still gets the same messages, in the same order, with the same handles — unless a message
/// of it was deleted since, or its 5 minutes are over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receive_attempt_survives_a_restart_until_a_message_of_it_goes_or_five_minutes_pass() {
    let dir = fresh_dir("fifo");
    let h = Harness::start_with(on_disk(&dir)).await;
    let url = fifo_queue(&h, "attempts.fifo", &[]).await;
    for (body, group) in [("m1", "g"), ("m2", "g"), ("o1", "other")] {
        send_unique(&h, &url, body, group).await;
    }
    let first = receive(&h, &url, 10, Some(3600), Some("attempt-x")).await;
    assert_eq!(first.len(), 3);
    send_unique(&h, &url, "p1", "p").await;
    let deleted = receive(&h, &url, 10, Some(3600), Some("attempt-y")).await;
    assert_eq!(bodies(&deleted), ["p1"]);
    h.delete(&url, &deleted[0]).await;
    // No clock advance: the next server's manual clock starts at the real time again.
    let Harness { server, client } = h;
    drop(client);
    server.shutdown().await;

    let h = restart(&dir).await;
    let retry = receive(&h, &url, 10, Some(60), Some("attempt-x")).await;
    let ids = |got: &[Message]| got.iter().map(|m| m.message_id().expect("id").to_string()).collect::<Vec<_>>();
    let handles = |got: &[Message]| got.iter().map(|m| handle(m).to_string()).collect::<Vec<_>>();
    assert_eq!(ids(&retry), ids(&first), "the same messages, in the same order");
    assert_eq!(handles(&retry), handles(&first), "the same receipt handles");
    for m in &retry {
        assert_eq!(receive_count(m), 1, "a retry is not another receive");
    }
    assert_eq!(h.counts(&url).await, (0, 3, 0));
    // p1 was deleted: attempt-y's retry is a new receive, and every message is in flight.
    assert!(receive(&h, &url, 10, None, Some("attempt-y")).await.is_empty());
    // The retry hid the messages for 60 s; 301 s on, attempt-x has lapsed: a new receive.
    h.advance(301);
    let later = receive(&h, &url, 10, Some(3600), Some("attempt-x")).await;
    let mut again = ids(&later);
    again.sort();
    let mut expected = ids(&first);
    expected.sort();
    assert_eq!(again, expected);
    for m in &later {
        assert_eq!(receive_count(m), 2);
        assert!(!handles(&first).contains(&handle(m).to_string()), "a new handle");
    }
    delete_all(&h, &url, &later).await;
    let Harness { server, .. } = h;
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Deduplication ids are stored by key; after a restart each still lapses at its own time,
/// not once every id sorting before it has lapsed too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_deduplication_id_lapses_at_its_own_time_after_a_restart() {
    let dir = fresh_dir("fifo");
    let h = Harness::start_with(on_disk(&dir)).await;
    let url = fifo_queue(&h, "lapse.fifo", &[]).await;
    let first = send(&h, &url, "zzz", "g", Some("zzz")).await;
    h.advance(240);
    send(&h, &url, "aaa", "g", Some("aaa")).await;
    let Harness { server, client } = h;
    drop(client);
    server.shutdown().await;

    // The next server's manual clock starts at the real time again: 301 s on, zzz's window
    // (from the first send, seconds ago in real time) has ended and aaa's has not.
    let h = restart(&dir).await;
    h.advance(301);
    let again = send(&h, &url, "zzz", "g", Some("zzz")).await;
    assert_ne!(again.message_id(), first.message_id(), "zzz's 5 minutes are over: a new message");
    assert_eq!(h.counts(&url).await.0, 3);
    let Harness { server, .. } = h;
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

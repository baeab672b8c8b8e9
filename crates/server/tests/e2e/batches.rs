//! SendMessageBatch, DeleteMessageBatch and ChangeMessageVisibilityBatch.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchError;
use aws_sdk_sqs::types::{
    BatchResultErrorEntry, ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    SendMessageBatchRequestEntry,
};

use crate::common::{error_code, error_of, md5_hex, md5_of_attributes, string_attribute, Harness};

fn send_entry(id: &str, body: &str) -> SendMessageBatchRequestEntry {
    SendMessageBatchRequestEntry::builder().id(id).message_body(body).build().expect("entry")
}

fn delete_entry(id: &str, handle: &str) -> DeleteMessageBatchRequestEntry {
    DeleteMessageBatchRequestEntry::builder().id(id).receipt_handle(handle).build().expect("entry")
}

fn visibility_entry(id: &str, handle: &str, timeout: i32) -> ChangeMessageVisibilityBatchRequestEntry {
    ChangeMessageVisibilityBatchRequestEntry::builder()
        .id(id)
        .receipt_handle(handle)
        .visibility_timeout(timeout)
        .build()
        .expect("entry")
}

fn handle(m: &Message) -> &str {
    m.receipt_handle().expect("receipt handle")
}

fn failures(failed: &[BatchResultErrorEntry]) -> BTreeMap<String, (String, bool)> {
    failed.iter().map(|f| (f.id().to_string(), (f.code().to_string(), f.sender_fault()))).collect()
}

async fn send_batch_code(h: &Harness, url: &str, entries: Vec<SendMessageBatchRequestEntry>) -> String {
    error_code(h.client.send_message_batch().queue_url(url).set_entries(Some(entries)).send().await)
}

async fn delete_batch_code(h: &Harness, url: &str, entries: Vec<DeleteMessageBatchRequestEntry>) -> String {
    error_code(h.client.delete_message_batch().queue_url(url).set_entries(Some(entries)).send().await)
}

async fn visibility_batch_code(
    h: &Harness,
    url: &str,
    entries: Vec<ChangeMessageVisibilityBatchRequestEntry>,
) -> String {
    error_code(h.client.change_message_visibility_batch().queue_url(url).set_entries(Some(entries)).send().await)
}

/// Sends `n` messages and receives them all, returning them in flight.
async fn in_flight(h: &Harness, url: &str, n: usize) -> Vec<Message> {
    for i in 0..n {
        h.send(url, &format!("m{i}")).await;
    }
    let messages = h.drain(url).await;
    assert_eq!(messages.len(), n);
    messages
}

// ---- SendMessageBatch ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_ten_messages_is_sent_and_each_entry_reports_its_id_and_md5() {
    let h = Harness::start().await;
    let url = h.create_queue("batch").await;
    let entries: Vec<_> = (0..10).map(|i| send_entry(&format!("e{i}"), &format!("body {i}"))).collect();
    let output =
        h.client.send_message_batch().queue_url(&url).set_entries(Some(entries)).send().await.expect("send batch");
    assert!(output.failed().is_empty(), "{:?}", output.failed());
    assert_eq!(output.successful().len(), 10);
    let mut message_ids = BTreeSet::new();
    for entry in output.successful() {
        let i: usize = entry.id().trim_start_matches('e').parse().expect("our id");
        assert_eq!(entry.md5_of_message_body(), md5_hex(format!("body {i}").as_bytes()));
        message_ids.insert(entry.message_id().to_string());
    }
    assert_eq!(message_ids.len(), 10, "distinct message ids");
    let received = h.drain(&url).await;
    let received_ids: BTreeSet<String> = received.iter().map(|m| m.message_id().expect("id").to_string()).collect();
    assert_eq!(received_ids, message_ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_entries_carry_their_own_attributes_and_delays() {
    let h = Harness::start().await;
    let url = h.create_queue("batch-extras").await;
    let attributes = std::collections::HashMap::from([("colour".to_string(), string_attribute("green"))]);
    let with_attributes = SendMessageBatchRequestEntry::builder()
        .id("attrs")
        .message_body("with attributes")
        .set_message_attributes(Some(attributes.clone()))
        .build()
        .expect("entry");
    let delayed = SendMessageBatchRequestEntry::builder()
        .id("delayed")
        .message_body("delayed")
        .delay_seconds(30)
        .build()
        .expect("entry");
    let output = h
        .client
        .send_message_batch()
        .queue_url(&url)
        .entries(with_attributes)
        .entries(delayed)
        .send()
        .await
        .expect("send batch");
    let by_id: BTreeMap<&str, _> = output.successful().iter().map(|e| (e.id(), e)).collect();
    assert_eq!(by_id["attrs"].md5_of_message_attributes(), Some(md5_of_attributes(&attributes).as_str()));
    assert!(by_id["delayed"].md5_of_message_attributes().is_none());
    assert_eq!(h.counts(&url).await, (1, 0, 1));
    h.advance(30);
    assert_eq!(h.counts(&url).await, (2, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_entry_fails_alone_with_sender_fault_and_its_error_code() {
    let h = Harness::start().await;
    let url = h.create_queue("partial").await;
    let too_late = SendMessageBatchRequestEntry::builder()
        .id("too-late")
        .message_body("delayed too long")
        .delay_seconds(901)
        .build()
        .expect("entry");
    let output = h
        .client
        .send_message_batch()
        .queue_url(&url)
        .entries(send_entry("good", "fine"))
        .entries(send_entry("bad-chars", "nul \u{0} inside"))
        .entries(too_late)
        .send()
        .await
        .expect("a batch with bad entries still succeeds as a whole");
    let ok: Vec<&str> = output.successful().iter().map(|e| e.id()).collect();
    assert_eq!(ok, vec!["good"]);
    let failed = failures(output.failed());
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(failed["bad-chars"], ("InvalidMessageContents".to_string(), true));
    assert_eq!(failed["too-late"], ("InvalidParameterValue".to_string(), true));
    let received = h.drain(&url).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].body(), Some("fine"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_batch_fails_with_empty_batch_request_for_every_batch_action() {
    let h = Harness::start().await;
    let url = h.create_queue("empty-batch").await;
    let err = h
        .client
        .send_message_batch()
        .queue_url(&url)
        .set_entries(Some(Vec::new()))
        .send()
        .await
        .expect_err("empty batch");
    assert_eq!(err.code(), Some("AWS.SimpleQueueService.EmptyBatchRequest"));
    assert!(matches!(err.into_service_error(), SendMessageBatchError::EmptyBatchRequest(_)));
    assert_eq!(delete_batch_code(&h, &url, Vec::new()).await, "AWS.SimpleQueueService.EmptyBatchRequest");
    assert_eq!(visibility_batch_code(&h, &url, Vec::new()).await, "AWS.SimpleQueueService.EmptyBatchRequest");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_eleven_entries_fails_with_too_many_entries_for_every_batch_action() {
    let h = Harness::start().await;
    let url = h.create_queue("big-batch").await;
    let code = "AWS.SimpleQueueService.TooManyEntriesInBatchRequest";
    let sends = (0..11).map(|i| send_entry(&format!("e{i}"), "x")).collect();
    let result = h.client.send_message_batch().queue_url(&url).set_entries(Some(sends)).send().await;
    assert_eq!(
        error_of(result),
        (code.to_string(), "Maximum number of entries per request are 10. You have sent 11.".to_string())
    );
    assert_eq!(h.counts(&url).await, (0, 0, 0), "nothing of a refused batch is sent");
    let deletes = (0..11).map(|i| delete_entry(&format!("e{i}"), "handle")).collect();
    assert_eq!(delete_batch_code(&h, &url, deletes).await, code);
    let changes = (0..11).map(|i| visibility_entry(&format!("e{i}"), "handle", 0)).collect();
    assert_eq!(visibility_batch_code(&h, &url, changes).await, code);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_entry_ids_must_be_distinct_for_every_batch_action() {
    let h = Harness::start().await;
    let url = h.create_queue("dup-batch").await;
    let code = "AWS.SimpleQueueService.BatchEntryIdsNotDistinct";
    let sends = vec![send_entry("same", "a"), send_entry("other", "b"), send_entry("same", "c")];
    assert_eq!(send_batch_code(&h, &url, sends).await, code);
    assert_eq!(h.counts(&url).await, (0, 0, 0));
    let deletes = vec![delete_entry("same", "h1"), delete_entry("same", "h2")];
    assert_eq!(delete_batch_code(&h, &url, deletes).await, code);
    let changes = vec![visibility_entry("same", "h1", 0), visibility_entry("same", "h2", 0)];
    assert_eq!(visibility_batch_code(&h, &url, changes).await, code);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_entry_ids_of_up_to_80_letters_digits_hyphens_and_underscores_are_accepted() {
    let h = Harness::start().await;
    let url = h.create_queue("ids-ok").await;
    let long = "i".repeat(80);
    let output = h
        .client
        .send_message_batch()
        .queue_url(&url)
        .entries(send_entry(&long, "a"))
        .entries(send_entry("Mixed-Case_09", "b"))
        .entries(send_entry("1", "c"))
        .send()
        .await
        .expect("valid ids");
    assert_eq!(output.successful().len(), 3);
    assert!(output.failed().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_entry_ids_with_other_characters_or_over_80_characters_fail_with_invalid_batch_entry_id() {
    let h = Harness::start().await;
    let url = h.create_queue("ids-bad").await;
    let code = "AWS.SimpleQueueService.InvalidBatchEntryId";
    for id in ["has space", "dot.id", "slash/id", "star*", &"i".repeat(81)] {
        let sends = vec![send_entry("fine", "a"), send_entry(id, "b")];
        let result = h.client.send_message_batch().queue_url(&url).set_entries(Some(sends)).send().await;
        assert_eq!(
            error_of(result),
            (
                code.to_string(),
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. \
                 It can be at most 80 letters long."
                    .to_string()
            ),
            "id {id:?}"
        );
    }
    assert_eq!(h.counts(&url).await, (0, 0, 0));
    assert_eq!(delete_batch_code(&h, &url, vec![delete_entry("bad id", "h")]).await, code);
    assert_eq!(visibility_batch_code(&h, &url, vec![visibility_entry("bad id", "h", 0)]).await, code);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_messages_total_more_than_1_mib_fails_with_batch_request_too_long() {
    let h = Harness::start().await;
    let url = h.create_queue("heavy").await;
    let half = "h".repeat(600_000);
    let result = h
        .client
        .send_message_batch()
        .queue_url(&url)
        .entries(send_entry("one", &half))
        .entries(send_entry("two", &half))
        .send()
        .await;
    assert_eq!(
        error_of(result),
        (
            "AWS.SimpleQueueService.BatchRequestTooLong".to_string(),
            "Batch requests cannot be longer than 1048576 bytes. You have sent 1200000 bytes.".to_string()
        )
    );
    assert_eq!(h.counts(&url).await, (0, 0, 0));
    let fits = "h".repeat(524_288);
    let output = h
        .client
        .send_message_batch()
        .queue_url(&url)
        .entries(send_entry("one", &fits))
        .entries(send_entry("two", &fits))
        .send()
        .await
        .expect("exactly 1 MiB in total fits");
    assert_eq!(output.successful().len(), 2);
}

// ---- DeleteMessageBatch ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_message_batch_deletes_each_entry_and_reports_bad_handles_per_entry() {
    let h = Harness::start().await;
    let url = h.create_queue("delete-batch").await;
    let messages = in_flight(&h, &url, 3).await;
    let output = h
        .client
        .delete_message_batch()
        .queue_url(&url)
        .entries(delete_entry("a", handle(&messages[0])))
        .entries(delete_entry("b", handle(&messages[1])))
        .entries(delete_entry("bogus", "not-a-receipt-handle"))
        .send()
        .await
        .expect("delete batch");
    let ok: BTreeSet<&str> = output.successful().iter().map(|e| e.id()).collect();
    assert_eq!(ok, BTreeSet::from(["a", "b"]));
    let failed = failures(output.failed());
    assert_eq!(failed.len(), 1);
    assert_eq!(failed["bogus"], ("ReceiptHandleIsInvalid".to_string(), true));
    assert_eq!(h.counts(&url).await, (0, 1, 0), "only the third is left, in flight");
    h.advance(31);
    let left = h.drain(&url).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].message_id(), messages[2].message_id());
}

// ---- ChangeMessageVisibilityBatch ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_message_visibility_batch_changes_each_entry_and_reports_bad_handles_per_entry() {
    let h = Harness::start().await;
    let url = h.create_queue("vis-batch").await;
    let messages = in_flight(&h, &url, 3).await;
    let output = h
        .client
        .change_message_visibility_batch()
        .queue_url(&url)
        .entries(visibility_entry("now", handle(&messages[0]), 0))
        .entries(visibility_entry("later", handle(&messages[1]), 120))
        .entries(visibility_entry("bogus", "not-a-receipt-handle", 0))
        .send()
        .await
        .expect("change visibility batch");
    let ok: BTreeSet<&str> = output.successful().iter().map(|e| e.id()).collect();
    assert_eq!(ok, BTreeSet::from(["now", "later"]));
    let failed = failures(output.failed());
    assert_eq!(failed.len(), 1);
    assert_eq!(failed["bogus"], ("ReceiptHandleIsInvalid".to_string(), true));

    let now = h.drain(&url).await;
    assert_eq!(now.len(), 1);
    assert_eq!(now[0].message_id(), messages[0].message_id());
    h.advance(31);
    let after_default = h.drain(&url).await;
    let ids: BTreeSet<_> = after_default.iter().map(|m| m.message_id()).collect();
    assert_eq!(ids, BTreeSet::from([messages[0].message_id(), messages[2].message_id()]));
    h.advance(90);
    let after_long = h.drain(&url).await;
    assert!(
        after_long.iter().any(|m| m.message_id() == messages[1].message_id()),
        "the 120 s entry is back after 121 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_message_visibility_batch_reports_an_out_of_range_timeout_per_entry_or_refuses_the_batch() {
    let h = Harness::start().await;
    let url = h.create_queue("vis-range").await;
    let messages = in_flight(&h, &url, 1).await;
    let result = h
        .client
        .change_message_visibility_batch()
        .queue_url(&url)
        .entries(visibility_entry("too-long", handle(&messages[0]), 43201))
        .send()
        .await;
    match result {
        Ok(output) => {
            let failed = failures(output.failed());
            assert_eq!(failed["too-long"], ("InvalidParameterValue".to_string(), true));
        }
        Err(err) => assert_eq!(err.code(), Some("InvalidParameterValue")),
    }
}

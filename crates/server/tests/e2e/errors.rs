//! Error codes every client relies on: a missing queue, bad receipt handles, messages
//! that are no longer in flight.

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::operation::delete_message::DeleteMessageError;
use aws_sdk_sqs::operation::receive_message::ReceiveMessageError;
use aws_sdk_sqs::operation::send_message::SendMessageError;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, QueueAttributeName,
    SendMessageBatchRequestEntry,
};

use crate::common::{error_code, http_status, Harness};

const MISSING: &str = "AWS.SimpleQueueService.NonExistentQueue";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_queue_operation_on_a_missing_queue_fails_with_non_existent_queue() {
    let h = Harness::start().await;
    let url = h.expected_url("never-created");
    let c = &h.client;
    let mut codes = Vec::new();
    codes.push(("SendMessage", error_code(c.send_message().queue_url(&url).message_body("x").send().await)));
    let entry = SendMessageBatchRequestEntry::builder().id("a").message_body("x").build().expect("entry");
    codes.push(("SendMessageBatch", error_code(c.send_message_batch().queue_url(&url).entries(entry).send().await)));
    codes.push(("ReceiveMessage", error_code(c.receive_message().queue_url(&url).send().await)));
    codes.push(("DeleteMessage", error_code(c.delete_message().queue_url(&url).receipt_handle("handle").send().await)));
    let entry = DeleteMessageBatchRequestEntry::builder().id("a").receipt_handle("handle").build().expect("entry");
    codes
        .push(("DeleteMessageBatch", error_code(c.delete_message_batch().queue_url(&url).entries(entry).send().await)));
    codes.push((
        "ChangeMessageVisibility",
        error_code(
            c.change_message_visibility().queue_url(&url).receipt_handle("handle").visibility_timeout(0).send().await,
        ),
    ));
    let entry = ChangeMessageVisibilityBatchRequestEntry::builder()
        .id("a")
        .receipt_handle("handle")
        .visibility_timeout(0)
        .build()
        .expect("entry");
    codes.push((
        "ChangeMessageVisibilityBatch",
        error_code(c.change_message_visibility_batch().queue_url(&url).entries(entry).send().await),
    ));
    codes.push((
        "GetQueueAttributes",
        error_code(c.get_queue_attributes().queue_url(&url).attribute_names(QueueAttributeName::All).send().await),
    ));
    codes.push((
        "SetQueueAttributes",
        error_code(
            c.set_queue_attributes()
                .queue_url(&url)
                .attributes(QueueAttributeName::VisibilityTimeout, "10")
                .send()
                .await,
        ),
    ));
    codes.push(("PurgeQueue", error_code(c.purge_queue().queue_url(&url).send().await)));
    codes.push(("DeleteQueue", error_code(c.delete_queue().queue_url(&url).send().await)));
    codes.push(("TagQueue", error_code(c.tag_queue().queue_url(&url).tags("k", "v").send().await)));
    codes.push(("UntagQueue", error_code(c.untag_queue().queue_url(&url).tag_keys("k").send().await)));
    codes.push(("ListQueueTags", error_code(c.list_queue_tags().queue_url(&url).send().await)));
    codes.push((
        "AddPermission",
        error_code(
            c.add_permission()
                .queue_url(&url)
                .label("l")
                .aws_account_ids("111122223333")
                .actions("SendMessage")
                .send()
                .await,
        ),
    ));
    codes.push(("RemovePermission", error_code(c.remove_permission().queue_url(&url).label("l").send().await)));
    codes.push(("GetQueueUrl", error_code(c.get_queue_url().queue_name("never-created").send().await)));
    let wrong: Vec<_> = codes.iter().filter(|(_, code)| code != MISSING).collect();
    assert!(wrong.is_empty(), "operations not answering {MISSING}: {wrong:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_queue_is_a_typed_queue_does_not_exist_error_for_message_operations() {
    let h = Harness::start().await;
    let url = h.expected_url("never-created");
    let err = h.client.send_message().queue_url(&url).message_body("x").send().await.expect_err("missing");
    assert!(matches!(err.into_service_error(), SendMessageError::QueueDoesNotExist(_)));
    let err = h.client.receive_message().queue_url(&url).send().await.expect_err("missing");
    assert!(matches!(err.into_service_error(), ReceiveMessageError::QueueDoesNotExist(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_url_naming_the_queue_of_another_account_is_not_found() {
    let h = Harness::start().await;
    h.create_queue("mine").await;
    let elsewhere = format!("{}/111122223333/mine", h.endpoint());
    let result = h.client.send_message().queue_url(elsewhere).message_body("x").send().await;
    assert_eq!(error_code(result), MISSING);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_receipt_handle_fails_with_receipt_handle_is_invalid() {
    let h = Harness::start().await;
    let url = h.create_queue("handles").await;
    h.send(&url, "x").await;
    for bogus in ["not-a-receipt-handle", "AQEB%%%", "0"] {
        let err =
            h.client.delete_message().queue_url(&url).receipt_handle(bogus).send().await.expect_err("bogus handle");
        assert_eq!(err.code(), Some("ReceiptHandleIsInvalid"), "delete with {bogus:?}");
        assert_eq!(http_status(&err), 404, "AWS answers a malformed handle with 404");
        let expected = format!("The input receipt handle \"{bogus}\" is not a valid receipt handle.");
        assert_eq!(err.message(), Some(expected.as_str()));
        assert!(matches!(err.into_service_error(), DeleteMessageError::ReceiptHandleIsInvalid(_)));
        let err = h
            .client
            .change_message_visibility()
            .queue_url(&url)
            .receipt_handle(bogus)
            .visibility_timeout(10)
            .send()
            .await
            .expect_err("bogus handle");
        assert_eq!(err.code(), Some("ReceiptHandleIsInvalid"), "change visibility with {bogus:?}");
    }
    assert_eq!(h.counts(&url).await, (1, 0, 0), "the message is untouched");
}

// AWS's model lists MessageNotInflight, but recordings of real SQS (docs/aws-reference.md
// §2.8, §4.1) show that a standard queue accepts ChangeMessageVisibility with the latest
// handle once the message is visible again, and hides it again; these tests follow AWS.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_visibility_after_the_timeout_expired_hides_the_message_again() {
    let h = Harness::start().await;
    let url = h.create_queue("not-inflight").await;
    h.send(&url, "x").await;
    let m = h.receive(&url, 1).await.remove(0);
    h.advance(31);
    assert_eq!(h.counts(&url).await, (1, 0, 0), "visible again");
    h.client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(m.receipt_handle().expect("handle"))
        .visibility_timeout(60)
        .send()
        .await
        .expect("real SQS answers 200 here");
    assert_eq!(h.counts(&url).await, (0, 1, 0), "hidden again for the new timeout");
    assert!(h.receive(&url, 1).await.is_empty());
    h.advance(61);
    assert_eq!(h.receive(&url, 1).await.len(), 1);
}

/// AWS-validated (LocalStack's `test_terminate_visibility_timeout_after_receive`): on a
/// standard queue, the handle of an earlier receive still changes the message's visibility.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_handle_changes_the_visibility_of_a_message_received_again() {
    let h = Harness::start().await;
    let url = h.create_queue("older-handle").await;
    h.send(&url, "test").await;
    let first = h.client.receive_message().queue_url(&url).visibility_timeout(0).send().await.unwrap();
    let older = first.messages()[0].receipt_handle().unwrap().to_string();
    let again = h.client.receive_message().queue_url(&url).visibility_timeout(3).send().await.unwrap();
    assert_eq!(again.messages().len(), 1);
    assert_eq!(h.counts(&url).await, (0, 1, 0), "in flight after the second receive");
    h.client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(&older)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let released = h.receive(&url, 1).await;
    assert_eq!(released.len(), 1, "visible again without waiting for the 3 s");
    assert_eq!(released[0].body(), Some("test"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_visibility_after_releasing_a_message_hides_it_again() {
    let h = Harness::start().await;
    let url = h.create_queue("released").await;
    h.send(&url, "x").await;
    let m = h.receive(&url, 1).await.remove(0);
    let handle = m.receipt_handle().expect("handle");
    h.client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(handle)
        .visibility_timeout(0)
        .send()
        .await
        .expect("release");
    assert_eq!(h.counts(&url).await, (1, 0, 0));
    h.client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(handle)
        .visibility_timeout(10)
        .send()
        .await
        .expect("hide again");
    assert_eq!(h.counts(&url).await, (0, 1, 0));
    assert!(h.receive(&url, 1).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_error_message_explains_a_missing_queue() {
    let h = Harness::start().await;
    let err = h.client.get_queue_url().queue_name("ghost").send().await.expect_err("missing");
    assert_eq!(http_status(&err), 400);
    let message = err.message().unwrap_or_default().to_string();
    assert!(!message.is_empty(), "an error message is given");
    assert_eq!(message, "The specified queue does not exist.");
}

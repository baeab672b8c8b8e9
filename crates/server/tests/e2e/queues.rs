//! CreateQueue, GetQueueUrl, ListQueues, DeleteQueue and PurgeQueue.

use std::collections::BTreeSet;

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::operation::create_queue::CreateQueueError;
use aws_sdk_sqs::operation::get_queue_url::GetQueueUrlError;
use aws_sdk_sqs::operation::purge_queue::PurgeQueueError;
use aws_sdk_sqs::types::QueueAttributeName;

use crate::common::{error_code, error_of, http_status, Harness, ACCOUNT};

async fn list_all(h: &Harness, prefix: Option<&str>) -> BTreeSet<String> {
    let output =
        h.client.list_queues().set_queue_name_prefix(prefix.map(str::to_string)).send().await.expect("list queues");
    assert!(output.next_token().is_none(), "no NextToken without MaxResults");
    output.queue_urls().iter().cloned().collect()
}

// ---- CreateQueue ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_a_queue_returns_a_url_made_of_the_endpoint_account_and_name() {
    let h = Harness::start().await;
    let url = h.create_queue("orders").await;
    assert_eq!(url, h.expected_url("orders"));
    assert_eq!(url, format!("{}/{ACCOUNT}/orders", h.endpoint()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_the_same_queue_twice_with_the_same_attributes_returns_the_same_url() {
    let h = Harness::start().await;
    let first = h.create_queue_with("same", &[("VisibilityTimeout", "45"), ("DelaySeconds", "3")]).await;
    let second = h.create_queue_with("same", &[("VisibilityTimeout", "45"), ("DelaySeconds", "3")]).await;
    assert_eq!(first, second);
    let plain_first = h.create_queue("plain").await;
    let plain_second = h.create_queue("plain").await;
    assert_eq!(plain_first, plain_second);
    assert_eq!(list_all(&h, None).await.len(), 2, "no duplicate queues were made");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_an_existing_queue_with_different_attributes_fails_with_queue_already_exists() {
    let h = Harness::start().await;
    let url = h.create_queue_with("taken", &[("VisibilityTimeout", "45")]).await;
    let err = h
        .client
        .create_queue()
        .queue_name("taken")
        .attributes(QueueAttributeName::VisibilityTimeout, "60")
        .send()
        .await
        .expect_err("different attributes must be refused");
    assert_eq!(err.code(), Some("QueueAlreadyExists"));
    assert_eq!(
        err.message(),
        Some("A queue already exists with the same name and a different value for attribute VisibilityTimeout")
    );
    assert!(matches!(err.into_service_error(), CreateQueueError::QueueNameExists(_)), "typed as QueueNameExists");
    assert_eq!(h.attribute(&url, "VisibilityTimeout").await, "45", "the existing queue is unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_an_existing_queue_compares_only_the_attributes_given_against_current_values() {
    let h = Harness::start().await;
    let url = h.create_queue_with("subset", &[("VisibilityTimeout", "45"), ("DelaySeconds", "3")]).await;
    assert_eq!(h.create_queue("subset").await, url, "no attributes: the existing URL");
    assert_eq!(h.create_queue_with("subset", &[("DelaySeconds", "3")]).await, url, "an equal subset");
    h.set_attribute(&url, "VisibilityTimeout", "50").await;
    assert_eq!(h.create_queue_with("subset", &[("VisibilityTimeout", "50")]).await, url, "the current value matches");
    let result = h
        .client
        .create_queue()
        .queue_name("subset")
        .attributes(QueueAttributeName::VisibilityTimeout, "45")
        .send()
        .await;
    assert_eq!(error_code(result), "QueueAlreadyExists", "the old value no longer matches");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_name_of_80_characters_is_accepted() {
    let h = Harness::start().await;
    let name = "q".repeat(80);
    let url = h.create_queue(&name).await;
    assert_eq!(url, h.expected_url(&name));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_name_of_81_characters_is_refused() {
    let h = Harness::start().await;
    let result = h.client.create_queue().queue_name("q".repeat(81)).send().await;
    assert_eq!(error_code(result), "InvalidParameterValue");
    assert!(list_all(&h, None).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_names_of_letters_digits_hyphens_and_underscores_are_accepted() {
    let h = Harness::start().await;
    for name in ["Mixed-Case_123", "a", "0", "-_-", "UPPER"] {
        let url = h.create_queue(name).await;
        assert_eq!(url, h.expected_url(name));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_names_with_any_other_character_are_refused() {
    let h = Harness::start().await;
    for name in ["has space", "dot.name", "slash/name", "star*", "colon:name", "ümlaut", "tab\tname", "standard.fifo"]
    {
        let result = h.client.create_queue().queue_name(name).send().await;
        assert_eq!(
            error_of(result),
            (
                "InvalidParameterValue".to_string(),
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length".to_string()
            ),
            "name {name:?}"
        );
    }
    assert!(list_all(&h, None).await.is_empty(), "no queue was made");
}

// ---- GetQueueUrl ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_queue_url_returns_the_url_that_create_queue_returned() {
    let h = Harness::start().await;
    let created = h.create_queue("lookup").await;
    let output = h.client.get_queue_url().queue_name("lookup").send().await.expect("get queue url");
    assert_eq!(output.queue_url(), Some(created.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_queue_url_accepts_the_owning_account_id() {
    let h = Harness::start().await;
    let created = h.create_queue("owned").await;
    let output = h
        .client
        .get_queue_url()
        .queue_name("owned")
        .queue_owner_aws_account_id(ACCOUNT)
        .send()
        .await
        .expect("get queue url with owner");
    assert_eq!(output.queue_url(), Some(created.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_queue_url_in_another_account_finds_no_queue_and_says_which_account_holds_them() {
    let h = Harness::start().await;
    h.create_queue("owned").await;
    let (code, message) =
        error_of(h.client.get_queue_url().queue_name("owned").queue_owner_aws_account_id("111122223333").send().await);
    assert_eq!(code, "AWS.SimpleQueueService.NonExistentQueue");
    assert_eq!(
        message,
        "The specified queue owned does not exist in account 111122223333 (QueueOwnerAWSAccountId). \
         This server's queues are in account 000000000000: name that account or none \
         (a Symfony Messenger DSN reads sqs://HOST/000000000000/owned)."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_queue_url_for_a_missing_queue_fails_with_queue_does_not_exist() {
    let h = Harness::start().await;
    let err = h.client.get_queue_url().queue_name("missing").send().await.expect_err("no such queue");
    assert_eq!(err.code(), Some("AWS.SimpleQueueService.NonExistentQueue"));
    assert!(matches!(err.into_service_error(), GetQueueUrlError::QueueDoesNotExist(_)), "typed as QueueDoesNotExist");
}

// ---- ListQueues ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_queues_on_a_new_server_returns_no_urls() {
    let h = Harness::start().await;
    assert!(list_all(&h, None).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_queues_returns_every_queue_url() {
    let h = Harness::start().await;
    let mut expected = BTreeSet::new();
    for name in ["alpha", "beta", "gamma"] {
        expected.insert(h.create_queue(name).await);
    }
    assert_eq!(list_all(&h, None).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_queues_filters_by_a_case_sensitive_name_prefix() {
    let h = Harness::start().await;
    let orders = h.create_queue("orders").await;
    let orders_dlq = h.create_queue("orders-dlq").await;
    h.create_queue("Orders-upper").await;
    h.create_queue("payments").await;
    assert_eq!(list_all(&h, Some("orders")).await, BTreeSet::from([orders.clone(), orders_dlq]));
    assert_eq!(list_all(&h, Some("orders-")).await.len(), 1);
    assert_eq!(list_all(&h, Some("orders")).await.iter().filter(|u| **u == orders).count(), 1);
    assert!(list_all(&h, Some("nothing")).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_queues_pages_with_max_results_and_next_token() {
    let h = Harness::start().await;
    let mut expected = BTreeSet::new();
    for i in 0..5 {
        expected.insert(h.create_queue(&format!("page-{i}")).await);
    }
    let mut seen = Vec::new();
    let mut page_sizes = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..10 {
        let output =
            h.client.list_queues().max_results(2).set_next_token(token.clone()).send().await.expect("list page");
        page_sizes.push(output.queue_urls().len());
        seen.extend(output.queue_urls().iter().cloned());
        token = output.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(page_sizes, vec![2, 2, 1]);
    assert_eq!(seen.len(), 5, "no URL repeated across pages: {seen:?}");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_queues_paging_keeps_to_the_prefix() {
    let h = Harness::start().await;
    let mut expected = BTreeSet::new();
    for i in 0..3 {
        expected.insert(h.create_queue(&format!("keep-{i}")).await);
        h.create_queue(&format!("skip-{i}")).await;
    }
    let mut seen = BTreeSet::new();
    let mut token: Option<String> = None;
    for _ in 0..10 {
        let output = h
            .client
            .list_queues()
            .queue_name_prefix("keep")
            .max_results(1)
            .set_next_token(token.clone())
            .send()
            .await
            .expect("list page");
        assert!(output.queue_urls().len() <= 1);
        seen.extend(output.queue_urls().iter().cloned());
        token = output.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_queues_accepts_max_results_of_1_and_of_1000() {
    let h = Harness::start().await;
    h.create_queue("one").await;
    h.create_queue("two").await;
    let one = h.client.list_queues().max_results(1).send().await.expect("max 1");
    assert_eq!(one.queue_urls().len(), 1);
    assert!(one.next_token().is_some(), "a second page exists");
    let all = h.client.list_queues().max_results(1000).send().await.expect("max 1000");
    assert_eq!(all.queue_urls().len(), 2);
    assert!(all.next_token().is_none(), "no further page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_queues_refuses_max_results_outside_1_to_1000() {
    let h = Harness::start().await;
    h.create_queue("one").await;
    for max in [0, -1, 1001] {
        let result = h.client.list_queues().max_results(max).send().await;
        assert_eq!(error_code(result), "InvalidParameterValue", "MaxResults {max}");
    }
}

// ---- DeleteQueue ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_queue_disappears_from_get_queue_url_and_list_queues() {
    let h = Harness::start().await;
    let url = h.create_queue("doomed").await;
    let kept = h.create_queue("kept").await;
    h.client.delete_queue().queue_url(&url).send().await.expect("delete queue");
    let result = h.client.get_queue_url().queue_name("doomed").send().await;
    assert_eq!(error_code(result), "AWS.SimpleQueueService.NonExistentQueue");
    assert_eq!(list_all(&h, None).await, BTreeSet::from([kept]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_queue_refuses_messages() {
    let h = Harness::start().await;
    let url = h.create_queue("doomed").await;
    h.send(&url, "before").await;
    h.client.delete_queue().queue_url(&url).send().await.expect("delete queue");
    let result = h.client.send_message().queue_url(&url).message_body("after").send().await;
    assert_eq!(error_code(result), "AWS.SimpleQueueService.NonExistentQueue");
    let result = h.client.receive_message().queue_url(&url).send().await;
    assert_eq!(error_code(result), "AWS.SimpleQueueService.NonExistentQueue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_queue_twice_fails_with_non_existent_queue() {
    let h = Harness::start().await;
    let url = h.create_queue("twice").await;
    h.client.delete_queue().queue_url(&url).send().await.expect("first delete");
    let result = h.client.delete_queue().queue_url(&url).send().await;
    assert_eq!(error_code(result), "AWS.SimpleQueueService.NonExistentQueue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreating_a_queue_within_60_seconds_of_deleting_it_fails_with_queue_deleted_recently() {
    let h = Harness::start().await;
    let url = h.create_queue("again").await;
    h.client.delete_queue().queue_url(&url).send().await.expect("delete queue");
    h.advance(30);
    let err = h
        .client
        .create_queue()
        .queue_name("again")
        .send()
        .await
        .expect_err("AWS asks for 60 seconds between delete and re-create");
    assert_eq!(err.code(), Some("AWS.SimpleQueueService.QueueDeletedRecently"));
    assert_eq!(
        err.message(),
        Some("You must wait 60 seconds after deleting a queue before you can create another with the same name.")
    );
    assert!(matches!(err.into_service_error(), CreateQueueError::QueueDeletedRecently(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_name_can_be_reused_60_seconds_after_deletion_and_starts_empty() {
    let h = Harness::start().await;
    let url = h.create_queue_with("reused", &[("VisibilityTimeout", "100")]).await;
    h.send(&url, "old message").await;
    h.client.delete_queue().queue_url(&url).send().await.expect("delete queue");
    h.advance(61);
    let again = h.create_queue("reused").await;
    assert_eq!(again, url);
    assert_eq!(h.counts(&again).await, (0, 0, 0));
    assert!(h.receive(&again, 10).await.is_empty(), "old messages are gone");
    assert_eq!(h.attribute(&again, "VisibilityTimeout").await, "30", "old attributes are gone");
}

// ---- PurgeQueue ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purging_a_queue_removes_visible_in_flight_and_delayed_messages() {
    let h = Harness::start().await;
    let url = h.create_queue("purge").await;
    for body in ["one", "two", "three"] {
        h.send(&url, body).await;
    }
    h.client.send_message().queue_url(&url).message_body("later").delay_seconds(60).send().await.expect("delayed send");
    assert_eq!(h.receive(&url, 1).await.len(), 1);
    assert_eq!(h.counts(&url).await, (2, 1, 1));
    h.client.purge_queue().queue_url(&url).send().await.expect("purge");
    assert_eq!(h.counts(&url).await, (0, 0, 0));
    h.advance(120);
    assert!(h.receive(&url, 10).await.is_empty(), "nothing comes back after purge");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_purge_within_60_seconds_fails_with_purge_queue_in_progress() {
    let h = Harness::start().await;
    let url = h.create_queue("purge").await;
    h.client.purge_queue().queue_url(&url).send().await.expect("first purge");
    h.advance(59);
    let err = h.client.purge_queue().queue_url(&url).send().await.expect_err("one purge per 60 seconds");
    assert_eq!(err.code(), Some("AWS.SimpleQueueService.PurgeQueueInProgress"));
    assert_eq!(http_status(&err), 403);
    assert_eq!(err.message(), Some("Only one PurgeQueue operation on purge is allowed every 60 seconds."));
    assert!(matches!(err.into_service_error(), PurgeQueueError::PurgeQueueInProgress(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_can_be_purged_again_once_60_seconds_have_passed() {
    let h = Harness::start().await;
    let url = h.create_queue("purge").await;
    h.client.purge_queue().queue_url(&url).send().await.expect("first purge");
    h.advance(60);
    h.send(&url, "after first purge").await;
    h.client.purge_queue().queue_url(&url).send().await.expect("second purge after 60 s");
    assert_eq!(h.counts(&url).await, (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_of_one_queue_does_not_touch_another() {
    let h = Harness::start().await;
    let purged = h.create_queue("purged").await;
    let other = h.create_queue("other").await;
    h.send(&purged, "x").await;
    h.send(&other, "y").await;
    h.client.purge_queue().queue_url(&purged).send().await.expect("purge");
    assert_eq!(h.counts(&other).await, (1, 0, 0));
    h.client.purge_queue().queue_url(&other).send().await.expect("the other queue has its own 60 s window");
}

// ---- Config ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_url_setting_replaces_the_host_in_queue_urls() {
    let h = Harness::start_with(|c| c.public_url = Some("http://sqs.example.test:4566".to_string())).await;
    let url = h.create_queue("public").await;
    assert_eq!(url, format!("http://sqs.example.test:4566/{ACCOUNT}/public"));
    h.send(&url, "routed by path").await;
    let messages = h.receive(&url, 1).await;
    assert_eq!(messages.len(), 1);
    let listed = h.client.list_queues().send().await.expect("list");
    assert_eq!(listed.queue_urls().to_vec(), vec![url]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_region_and_account_appear_in_urls_and_arns() {
    let h = Harness::start_with(|c| {
        c.region = "eu-west-1".to_string();
        c.account_id = "123456789012".to_string();
    })
    .await;
    let url = h.create_queue("regional").await;
    assert_eq!(url, format!("{}/123456789012/regional", h.endpoint()));
    assert_eq!(h.attribute(&url, "QueueArn").await, "arn:aws:sqs:eu-west-1:123456789012:regional");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_shutdown_the_server_answers_no_more_requests() {
    let Harness { server, client } = Harness::start().await;
    client.create_queue().queue_name("before").send().await.expect("create before shutdown");
    server.shutdown().await;
    let result = client.list_queues().send().await;
    assert!(result.is_err(), "a stopped server must not answer: {result:?}");
}

//! GetQueueAttributes and SetQueueAttributes.

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesError;
use aws_sdk_sqs::types::QueueAttributeName;

use crate::common::{error_code, error_of, real_now_secs, Harness, ACCOUNT};

/// Every attribute a standard queue can be asked for by name.
const READABLE: &[&str] = &[
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
];

/// (attribute, lowest accepted, highest accepted, refused values) from the AWS reference.
const RANGES: &[(&str, &str, &str, &[&str])] = &[
    ("DelaySeconds", "0", "900", &["-1", "901", "ten", "1.5"]),
    ("MaximumMessageSize", "1024", "1048576", &["1023", "1048577", "big"]),
    ("MessageRetentionPeriod", "60", "1209600", &["59", "1209601", "forever"]),
    ("ReceiveMessageWaitTimeSeconds", "0", "20", &["-1", "21", "long"]),
    ("VisibilityTimeout", "0", "43200", &["-1", "43201", "soon"]),
    ("KmsDataKeyReusePeriodSeconds", "60", "86400", &["59", "86401", "often"]),
];

fn parse_u64(attributes: &std::collections::HashMap<String, String>, name: &str) -> u64 {
    attributes
        .get(name)
        .unwrap_or_else(|| panic!("{name} missing from {attributes:?}"))
        .parse()
        .unwrap_or_else(|e| panic!("{name} is not an integer: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_queue_reports_the_aws_default_attributes_under_all() {
    let h = Harness::start().await;
    let url = h.create_queue("defaults").await;
    let attributes = h.attributes(&url).await;
    let expect = |name: &str, value: &str| {
        assert_eq!(attributes.get(name).map(String::as_str), Some(value), "{name} in {attributes:?}");
    };
    expect("ApproximateNumberOfMessages", "0");
    expect("ApproximateNumberOfMessagesNotVisible", "0");
    expect("ApproximateNumberOfMessagesDelayed", "0");
    expect("DelaySeconds", "0");
    expect("MaximumMessageSize", "1048576");
    expect("MessageRetentionPeriod", "345600");
    expect("ReceiveMessageWaitTimeSeconds", "0");
    expect("VisibilityTimeout", "30");
    expect("SqsManagedSseEnabled", "true");
    expect("QueueArn", &format!("arn:aws:sqs:us-east-1:{ACCOUNT}:defaults"));
    assert!(attributes.contains_key("CreatedTimestamp"), "{attributes:?}");
    assert!(attributes.contains_key("LastModifiedTimestamp"), "{attributes:?}");
    for absent in ["Policy", "RedrivePolicy", "FifoQueue", "KmsMasterKeyId", "ContentBasedDeduplication"] {
        assert!(!attributes.contains_key(absent), "{absent} is not reported for a plain standard queue");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_attribute_names_returns_no_attributes() {
    let h = Harness::start().await;
    let url = h.create_queue("none").await;
    let attributes = h.attributes_named(&url, &[]).await;
    assert!(attributes.is_empty(), "{attributes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_attribute_can_be_requested_alone_by_name() {
    let h = Harness::start().await;
    let url = h.create_queue("each").await;
    let all = h.attributes(&url).await;
    for name in READABLE {
        let one = h.attributes_named(&url, &[name]).await;
        assert_eq!(one.len(), 1, "asking for {name} returns just it: {one:?}");
        assert_eq!(one.get(*name), all.get(*name), "{name} agrees with All");
    }
    let two = h.attributes_named(&url, &["VisibilityTimeout", "DelaySeconds"]).await;
    assert_eq!(two.len(), 2, "{two:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_arn_names_the_region_account_and_queue() {
    let h = Harness::start().await;
    let url = h.create_queue("arn-check").await;
    assert_eq!(h.attribute(&url, "QueueArn").await, format!("arn:aws:sqs:us-east-1:{ACCOUNT}:arn-check"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_and_last_modified_timestamps_are_equal_epoch_seconds_on_a_new_queue() {
    let h = Harness::start().await;
    let url = h.create_queue("stamps").await;
    let attributes = h.attributes(&url).await;
    let created = parse_u64(&attributes, "CreatedTimestamp");
    let modified = parse_u64(&attributes, "LastModifiedTimestamp");
    assert!(created > 1_600_000_000, "epoch seconds, not millis or zero: {created}");
    assert!(created < 10_000_000_000, "epoch seconds, not millis: {created}");
    assert!(created.abs_diff(real_now_secs()) < 7 * 24 * 3600, "the clock starts near now: {created}");
    assert_eq!(created, modified);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setting_an_attribute_moves_last_modified_timestamp_and_keeps_created_timestamp() {
    let h = Harness::start().await;
    let url = h.create_queue("stamps").await;
    let before = h.attributes(&url).await;
    h.advance(100);
    h.set_attribute(&url, "VisibilityTimeout", "45").await;
    let after = h.attributes(&url).await;
    assert_eq!(parse_u64(&after, "CreatedTimestamp"), parse_u64(&before, "CreatedTimestamp"));
    let moved = parse_u64(&after, "LastModifiedTimestamp") - parse_u64(&before, "LastModifiedTimestamp");
    assert!((100..=102).contains(&moved), "LastModifiedTimestamp moved by the clock's 100 s: {moved}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_attribute_name_fails_with_invalid_attribute_name() {
    let h = Harness::start().await;
    let url = h.create_queue("unknown").await;
    let err = h
        .client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::from("NoSuchAttribute"))
        .send()
        .await
        .expect_err("unknown name");
    assert_eq!(err.code(), Some("InvalidAttributeName"));
    assert_eq!(err.message(), Some("Unknown Attribute NoSuchAttribute."));
    assert!(matches!(err.into_service_error(), GetQueueAttributesError::InvalidAttributeName(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approximate_counts_track_visible_in_flight_and_delayed_messages() {
    let h = Harness::start().await;
    let url = h.create_queue("counts").await;
    assert_eq!(h.counts(&url).await, (0, 0, 0));
    for body in ["a", "b", "c"] {
        h.send(&url, body).await;
    }
    assert_eq!(h.counts(&url).await, (3, 0, 0));
    let received = h.receive(&url, 2).await;
    assert_eq!(received.len(), 2);
    assert_eq!(h.counts(&url).await, (1, 2, 0));
    h.client
        .send_message()
        .queue_url(&url)
        .message_body("delayed")
        .delay_seconds(10)
        .send()
        .await
        .expect("delayed send");
    assert_eq!(h.counts(&url).await, (1, 2, 1));
    h.delete(&url, &received[0]).await;
    assert_eq!(h.counts(&url).await, (1, 1, 1));
    h.advance(10);
    assert_eq!(h.counts(&url).await, (2, 1, 0), "the delay has passed");
    h.advance(21);
    assert_eq!(h.counts(&url).await, (3, 0, 0), "the visibility timeout has passed");
}

// ---- SetQueueAttributes ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_numeric_attribute_accepts_the_bounds_of_its_aws_range() {
    let h = Harness::start().await;
    let url = h.create_queue("bounds").await;
    // KmsDataKeyReusePeriodSeconds is reported only once a KMS key is configured.
    h.set_attribute(&url, "KmsMasterKeyId", "alias/aws/sqs").await;
    for (name, low, high, _) in RANGES {
        for value in [low, high] {
            h.set_attribute(&url, name, value).await;
            assert_eq!(h.attribute(&url, name).await, *value, "{name}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_numeric_attribute_refuses_values_outside_its_aws_range_with_invalid_attribute_value() {
    let h = Harness::start().await;
    let url = h.create_queue("bounds").await;
    for (name, _, _, refused) in RANGES {
        for value in *refused {
            let result = h
                .client
                .set_queue_attributes()
                .queue_url(&url)
                .attributes(QueueAttributeName::from(*name), *value)
                .send()
                .await;
            assert_eq!(error_code(result), "InvalidAttributeValue", "{name}={value:?}");
        }
    }
    let attributes = h.attributes(&url).await;
    assert_eq!(attributes.get("VisibilityTimeout").map(String::as_str), Some("30"), "nothing changed");
    assert_eq!(attributes.get("DelaySeconds").map(String::as_str), Some("0"), "nothing changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_queue_applies_the_same_ranges_to_its_attributes() {
    let h = Harness::start().await;
    let url = h
        .create_queue_with(
            "ranged",
            &[
                ("DelaySeconds", "900"),
                ("MaximumMessageSize", "1024"),
                ("MessageRetentionPeriod", "60"),
                ("ReceiveMessageWaitTimeSeconds", "20"),
                ("VisibilityTimeout", "43200"),
            ],
        )
        .await;
    let attributes = h.attributes(&url).await;
    assert_eq!(attributes.get("DelaySeconds").map(String::as_str), Some("900"));
    assert_eq!(attributes.get("MaximumMessageSize").map(String::as_str), Some("1024"));
    assert_eq!(attributes.get("MessageRetentionPeriod").map(String::as_str), Some("60"));
    assert_eq!(attributes.get("ReceiveMessageWaitTimeSeconds").map(String::as_str), Some("20"));
    assert_eq!(attributes.get("VisibilityTimeout").map(String::as_str), Some("43200"));

    let result = h
        .client
        .create_queue()
        .queue_name("too-slow")
        .attributes(QueueAttributeName::VisibilityTimeout, "43201")
        .send()
        .await;
    assert_eq!(error_code(result), "InvalidAttributeValue");
    let result = h.client.get_queue_url().queue_name("too-slow").send().await;
    assert_eq!(error_code(result), "AWS.SimpleQueueService.NonExistentQueue", "no queue was made");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_queue_refuses_an_unknown_attribute_with_invalid_attribute_name() {
    let h = Harness::start().await;
    let result =
        h.client.create_queue().queue_name("odd").attributes(QueueAttributeName::from("Colour"), "blue").send().await;
    assert_eq!(error_code(result), "InvalidAttributeName");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setting_an_unknown_or_read_only_attribute_fails_with_invalid_attribute_name() {
    let h = Harness::start().await;
    let url = h.create_queue("readonly").await;
    for name in ["Colour", "QueueArn", "ApproximateNumberOfMessages", "CreatedTimestamp"] {
        let result = h
            .client
            .set_queue_attributes()
            .queue_url(&url)
            .attributes(QueueAttributeName::from(name), "1")
            .send()
            .await;
        assert_eq!(error_code(result), "InvalidAttributeName", "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_attributes_are_set_in_one_call() {
    let h = Harness::start().await;
    let url = h.create_queue("several").await;
    h.client
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::VisibilityTimeout, "120")
        .attributes(QueueAttributeName::DelaySeconds, "15")
        .attributes(QueueAttributeName::ReceiveMessageWaitTimeSeconds, "5")
        .send()
        .await
        .expect("set several");
    let attributes = h.attributes(&url).await;
    assert_eq!(attributes.get("VisibilityTimeout").map(String::as_str), Some("120"));
    assert_eq!(attributes.get("DelaySeconds").map(String::as_str), Some("15"));
    assert_eq!(attributes.get("ReceiveMessageWaitTimeSeconds").map(String::as_str), Some("5"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_managed_sse_enabled_is_stored_and_returned() {
    let h = Harness::start().await;
    let url = h.create_queue_with("sse", &[("SqsManagedSseEnabled", "true")]).await;
    assert_eq!(h.attribute(&url, "SqsManagedSseEnabled").await, "true");
    h.set_attribute(&url, "SqsManagedSseEnabled", "false").await;
    assert_eq!(h.attribute(&url, "SqsManagedSseEnabled").await, "false");
    assert_eq!(h.attributes(&url).await.get("SqsManagedSseEnabled").map(String::as_str), Some("false"));
    let result = h
        .client
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::SqsManagedSseEnabled, "maybe")
        .send()
        .await;
    assert_eq!(error_code(result), "InvalidAttributeValue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_master_key_id_and_data_key_reuse_period_are_stored_and_returned() {
    let h = Harness::start().await;
    let url = h.create_queue("kms").await;
    h.client
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::KmsMasterKeyId, "alias/aws/sqs")
        .attributes(QueueAttributeName::KmsDataKeyReusePeriodSeconds, "600")
        .send()
        .await
        .expect("set kms attributes");
    let attributes = h.attributes(&url).await;
    assert_eq!(attributes.get("KmsMasterKeyId").map(String::as_str), Some("alias/aws/sqs"));
    assert_eq!(attributes.get("KmsDataKeyReusePeriodSeconds").map(String::as_str), Some("600"));
    assert_eq!(h.attribute(&url, "KmsMasterKeyId").await, "alias/aws/sqs");
    assert_eq!(h.attribute(&url, "KmsDataKeyReusePeriodSeconds").await, "600");
    assert_eq!(attributes.get("SqsManagedSseEnabled").map(String::as_str), Some("false"), "SSE-KMS replaces SSE-SQS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_and_sqs_managed_encryption_cannot_be_enabled_together() {
    let h = Harness::start().await;
    let url = h.create_queue("both-sse").await;
    let result = h
        .client
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::KmsMasterKeyId, "alias/aws/sqs")
        .attributes(QueueAttributeName::SqsManagedSseEnabled, "true")
        .send()
        .await;
    assert_eq!(error_code(result), "InvalidAttributeName");
    assert!(!h.attributes(&url).await.contains_key("KmsMasterKeyId"), "nothing was applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_attributes_stay_hidden_until_a_key_is_set() {
    let h = Harness::start().await;
    let url = h.create_queue("no-kms").await;
    let attributes = h.attributes(&url).await;
    assert!(!attributes.contains_key("KmsMasterKeyId"), "{attributes:?}");
    assert!(!attributes.contains_key("KmsDataKeyReusePeriodSeconds"), "{attributes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_is_stored_and_returned_and_invalid_json_is_refused() {
    let h = Harness::start().await;
    let url = h.create_queue("policy").await;
    let arn = format!("arn:aws:sqs:us-east-1:{ACCOUNT}:policy");
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AllowSend",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
            "Action": "SQS:SendMessage",
            "Resource": arn,
        }]
    });
    h.set_attribute(&url, "Policy", &policy.to_string()).await;
    let stored: serde_json::Value = serde_json::from_str(&h.attribute(&url, "Policy").await).expect("Policy is JSON");
    assert_eq!(stored["Statement"][0]["Sid"], "AllowSend");
    assert_eq!(stored["Statement"][0]["Action"], "SQS:SendMessage");
    let result = h
        .client
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::Policy, "{not json")
        .send()
        .await;
    assert_eq!(error_code(result), "InvalidAttributeValue");
    h.set_attribute(&url, "Policy", "").await;
    let attributes = h.attributes(&url).await;
    assert!(!attributes.contains_key("Policy"), "an empty Policy removes it: {attributes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_only_attributes_are_unknown_on_a_standard_queue() {
    let h = Harness::start().await;
    for (name, value) in [("FifoQueue", "false"), ("ContentBasedDeduplication", "false")] {
        let result = h
            .client
            .create_queue()
            .queue_name("standard")
            .attributes(QueueAttributeName::from(name), value)
            .send()
            .await;
        assert_eq!(error_of(result), ("InvalidAttributeName".to_string(), format!("Unknown Attribute {name}.")));
    }
    let url = h.create_queue("standard").await;
    let result =
        h.client.set_queue_attributes().queue_url(&url).attributes(QueueAttributeName::FifoQueue, "true").send().await;
    assert_eq!(error_code(result), "InvalidAttributeName");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lowered_maximum_message_size_refuses_larger_bodies() {
    let h = Harness::start().await;
    let url = h.create_queue_with("small", &[("MaximumMessageSize", "1024")]).await;
    h.send(&url, &"x".repeat(1024)).await;
    let result = h.client.send_message().queue_url(&url).message_body("x".repeat(1025)).send().await;
    assert_eq!(error_code(result), "InvalidParameterValue");
}

//! TagQueue, UntagQueue, ListQueueTags, AddPermission and RemovePermission.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

use crate::common::{error_code, error_of, Harness, ACCOUNT};

async fn tags(h: &Harness, url: &str) -> HashMap<String, String> {
    let output = h.client.list_queue_tags().queue_url(url).send().await.expect("list queue tags");
    output.tags().cloned().unwrap_or_default()
}

fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A policy field that AWS writes as a string when it has one value and a list otherwise.
fn one_or_many(value: &Value) -> BTreeSet<String> {
    match value {
        Value::String(s) => BTreeSet::from([s.clone()]),
        Value::Array(items) => items.iter().map(|v| v.as_str().expect("string item").to_string()).collect(),
        other => panic!("expected a string or a list, got {other}"),
    }
}

/// AddPermission: SendMessage for account 111122223333 under `label`.
async fn grant_send(
    h: &Harness,
    url: &str,
    label: &str,
) -> Result<
    aws_sdk_sqs::operation::add_permission::AddPermissionOutput,
    aws_sdk_sqs::error::SdkError<aws_sdk_sqs::operation::add_permission::AddPermissionError>,
> {
    h.client
        .add_permission()
        .queue_url(url)
        .label(label)
        .aws_account_ids("111122223333")
        .actions("SendMessage")
        .send()
        .await
}

async fn policy(h: &Harness, url: &str) -> Option<Value> {
    let attributes = h.attributes_named(url, &["Policy"]).await;
    attributes.get("Policy").map(|p| serde_json::from_str(p).expect("Policy is JSON"))
}

fn statement<'a>(policy: &'a Value, sid: &str) -> Option<&'a Value> {
    policy["Statement"].as_array().and_then(|s| s.iter().find(|st| st["Sid"] == sid))
}

// ---- tags ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_without_tags_lists_none() {
    let h = Harness::start().await;
    let url = h.create_queue("untagged").await;
    assert!(tags(&h, &url).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_given_at_creation_are_listed() {
    let h = Harness::start().await;
    let output = h
        .client
        .create_queue()
        .queue_name("tagged")
        .tags("team", "payments")
        .tags("env", "test")
        .send()
        .await
        .expect("create with tags");
    let url = output.queue_url().expect("url").to_string();
    assert_eq!(tags(&h, &url).await, map(&[("team", "payments"), ("env", "test")]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_queue_adds_new_tags_and_overwrites_existing_ones() {
    let h = Harness::start().await;
    let url = h.create_queue("retag").await;
    h.client.tag_queue().queue_url(&url).tags("team", "payments").tags("env", "test").send().await.expect("tag");
    h.client.tag_queue().queue_url(&url).tags("env", "prod").tags("cost-centre", "42").send().await.expect("retag");
    assert_eq!(tags(&h, &url).await, map(&[("team", "payments"), ("env", "prod"), ("cost-centre", "42")]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untag_queue_removes_only_the_named_keys() {
    let h = Harness::start().await;
    let url = h.create_queue("untag").await;
    h.client.tag_queue().queue_url(&url).tags("a", "1").tags("b", "2").tags("c", "3").send().await.expect("tag");
    h.client
        .untag_queue()
        .queue_url(&url)
        .tag_keys("a")
        .tag_keys("c")
        .tag_keys("never-set")
        .send()
        .await
        .expect("untag");
    assert_eq!(tags(&h, &url).await, map(&[("b", "2")]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_belong_to_one_queue() {
    let h = Harness::start().await;
    let tagged = h.create_queue("tagged").await;
    let other = h.create_queue("other").await;
    h.client.tag_queue().queue_url(&tagged).tags("k", "v").send().await.expect("tag");
    assert!(tags(&h, &other).await.is_empty());
}

// ---- permissions ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_permission_writes_a_statement_into_the_policy_attribute() {
    let h = Harness::start().await;
    let url = h.create_queue("shared").await;
    let arn = format!("arn:aws:sqs:us-east-1:{ACCOUNT}:shared");
    h.client
        .add_permission()
        .queue_url(&url)
        .label("LetPartnerSend")
        .aws_account_ids("111122223333")
        .actions("SendMessage")
        .send()
        .await
        .expect("add permission");
    let policy = policy(&h, &url).await.expect("a Policy attribute appears");
    assert_eq!(policy["Version"], "2008-10-17", "the version AWS writes for AddPermission");
    assert_eq!(policy["Id"], format!("{arn}/SQSDefaultPolicy"));
    let st = statement(&policy, "LetPartnerSend").expect("the statement is named by the label");
    assert_eq!(st["Effect"], "Allow");
    assert_eq!(one_or_many(&st["Principal"]["AWS"]), BTreeSet::from(["arn:aws:iam::111122223333:root".to_string()]));
    assert_eq!(one_or_many(&st["Action"]), BTreeSet::from(["SQS:SendMessage".to_string()]));
    assert_eq!(st["Resource"], arn.as_str());
    let all = h.attributes(&url).await;
    assert!(all.contains_key("Policy"), "All includes Policy once one exists");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_document_keeps_the_key_order_aws_writes() {
    let h = Harness::start().await;
    let url = h.create_queue("ordered").await;
    h.client
        .add_permission()
        .queue_url(&url)
        .label("l1")
        .aws_account_ids("111111111111")
        .actions("ReceiveMessage")
        .send()
        .await
        .expect("add permission");
    let text = h.attributes_named(&url, &["Policy"]).await["Policy"].clone();
    let keys = |of: &str| -> Vec<usize> {
        of.split(',').map(|k| text.find(&format!("\"{k}\"")).unwrap_or_else(|| panic!("{k} in {text}"))).collect()
    };
    let top = keys("Version,Id,Statement");
    assert!(top.windows(2).all(|w| w[0] < w[1]), "top-level keys out of order: {text}");
    let statement = keys("Sid,Effect,Principal,Action,Resource");
    assert!(statement.windows(2).all(|w| w[0] < w[1]), "statement keys out of order: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_permission_lists_every_account_and_action_it_was_given() {
    let h = Harness::start().await;
    let url = h.create_queue("shared").await;
    h.client
        .add_permission()
        .queue_url(&url)
        .label("Consumers")
        .aws_account_ids("111122223333")
        .aws_account_ids("444455556666")
        .actions("ReceiveMessage")
        .actions("DeleteMessage")
        .send()
        .await
        .expect("add permission");
    h.client
        .add_permission()
        .queue_url(&url)
        .label("Producers")
        .aws_account_ids("777788889999")
        .actions("SendMessage")
        .send()
        .await
        .expect("add second permission");
    let policy = policy(&h, &url).await.expect("Policy");
    let consumers = statement(&policy, "Consumers").expect("Consumers statement");
    assert_eq!(
        one_or_many(&consumers["Principal"]["AWS"]),
        BTreeSet::from(["arn:aws:iam::111122223333:root".to_string(), "arn:aws:iam::444455556666:root".to_string()])
    );
    assert_eq!(
        one_or_many(&consumers["Action"]),
        BTreeSet::from(["SQS:ReceiveMessage".to_string(), "SQS:DeleteMessage".to_string()])
    );
    assert!(statement(&policy, "Producers").is_some(), "both statements kept: {policy}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_permission_removes_the_statement_with_that_label() {
    let h = Harness::start().await;
    let url = h.create_queue("unshare").await;
    for label in ["Keep", "Drop"] {
        grant_send(&h, &url, label).await.expect("add permission");
    }
    h.client.remove_permission().queue_url(&url).label("Drop").send().await.expect("remove");
    let policy_after = policy(&h, &url).await.expect("one statement is left");
    assert!(statement(&policy_after, "Drop").is_none(), "{policy_after}");
    assert!(statement(&policy_after, "Keep").is_some(), "{policy_after}");
    h.client.remove_permission().queue_url(&url).label("Keep").send().await.expect("remove last");
    let attributes = h.attributes(&url).await;
    assert!(!attributes.contains_key("Policy"), "removing the last statement removes the Policy: {attributes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_permission_refuses_a_label_that_already_exists() {
    let h = Harness::start().await;
    let url = h.create_queue("dup-label").await;
    let add = || {
        h.client
            .add_permission()
            .queue_url(&url)
            .label("Same")
            .aws_account_ids("111122223333")
            .actions("SendMessage")
            .send()
    };
    add().await.expect("first add");
    assert_eq!(
        error_of(add().await),
        (
            "InvalidParameterValue".to_string(),
            "Value Same for parameter Label is invalid. Reason: Already exists.".to_string()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_permission_refuses_an_unknown_action() {
    let h = Harness::start().await;
    let url = h.create_queue("bad-action").await;
    let result = h
        .client
        .add_permission()
        .queue_url(&url)
        .label("Odd")
        .aws_account_ids("111122223333")
        .actions("FlyToTheMoon")
        .send()
        .await;
    assert_eq!(error_code(result), "InvalidParameterValue");
    assert!(policy(&h, &url).await.is_none(), "no policy was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_permission_refuses_an_unknown_label() {
    let h = Harness::start().await;
    let url = h.create_queue("no-label").await;
    let result = h.client.remove_permission().queue_url(&url).label("Nobody").send().await;
    assert_eq!(error_code(result), "InvalidParameterValue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_without_statements_is_refused_and_add_permission_then_still_works() {
    let h = Harness::start().await;
    let url = h.create_queue("bad-policy").await;
    let arn = h.attribute(&url, "QueueArn").await;
    let empty = serde_json::json!({"Version": "2008-10-17", "Id": format!("{arn}/SQSDefaultPolicy"), "Statement": []});
    for bad in [empty.to_string(), "{}".into(), r#"{"Statement":"x"}"#.into(), r#"{"Statement":5}"#.into(), "[]".into()]
    {
        let result =
            h.client.set_queue_attributes().queue_url(&url).attributes(QueueAttributeName::Policy, &bad).send().await;
        assert_eq!(
            error_of(result),
            ("InvalidAttributeValue".to_string(), "Invalid value for the parameter Policy.".to_string()),
            "{bad}"
        );
    }
    assert!(policy(&h, &url).await.is_none(), "nothing was stored");
    h.client
        .add_permission()
        .queue_url(&url)
        .label("After")
        .aws_account_ids("111122223333")
        .actions("SendMessage")
        .send()
        .await
        .expect("add permission after refused policies");
    assert!(statement(&policy(&h, &url).await.unwrap(), "After").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_permission_names_accounts_by_twelve_digit_id() {
    let h = Harness::start().await;
    let url = h.create_queue("principals").await;
    for bad in ["*", "abc", "12345", "arn:aws:iam::111111111111:user/bob"] {
        let result = h
            .client
            .add_permission()
            .queue_url(&url)
            .label("P")
            .aws_account_ids(bad)
            .actions("SendMessage")
            .send()
            .await;
        assert_eq!(
            error_of(result),
            (
                "InvalidParameterValue".to_string(),
                format!("Value [{bad}] for parameter PrincipalId is invalid. Reason: Unable to verify.")
            )
        );
    }
    assert!(policy(&h, &url).await.is_none(), "no policy was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_policy_holds_at_most_twenty_statements() {
    let h = Harness::start().await;
    let url = h.create_queue("full-policy").await;
    for i in 0..20 {
        grant_send(&h, &url, &format!("s{i}")).await.expect("up to 20 statements");
    }
    assert_eq!(
        error_of(grant_send(&h, &url, "s20").await),
        ("OverLimit".to_string(), "21 Statements were found, maximum allowed is 20.".to_string())
    );
    let statements: Vec<Value> =
        (0..21).map(|i| serde_json::json!({"Sid": format!("s{i}"), "Effect": "Allow"})).collect();
    let big = serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string();
    let result =
        h.client.set_queue_attributes().queue_url(&url).attributes(QueueAttributeName::Policy, big).send().await;
    assert_eq!(
        error_of(result),
        (
            "InvalidAttributeValue".to_string(),
            "21 statements were found in the submitted policy, max allowed is 20".to_string()
        )
    );
    assert_eq!(policy(&h, &url).await.unwrap()["Statement"].as_array().unwrap().len(), 20, "the policy is unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_keep_to_the_aws_character_set_and_leave_the_aws_prefix_alone() {
    let h = Harness::start().await;
    let url = h.create_queue("tag-rules").await;
    let ok = map(&[("team name_1.a:b/c=d+e-f@g", "Zürich 東京 ü 42"), ("empty", "")]);
    h.client.tag_queue().queue_url(&url).set_tags(Some(ok.clone())).send().await.expect("documented characters");
    for (k, v) in [("aws:owner", "x"), ("bad!", "x"), ("k", "v#"), ("tab\tkey", "x"), ("k", "line\nbreak")] {
        let result = h.client.tag_queue().queue_url(&url).tags(k, v).send().await;
        assert_eq!(error_code(result), "InvalidParameterValue", "{k:?}={v:?}");
        let created = h.client.create_queue().queue_name("tag-rules-new").tags(k, v).send().await;
        assert_eq!(error_code(created), "InvalidParameterValue", "create with {k:?}={v:?}");
    }
    assert_eq!(tags(&h, &url).await, ok, "refused tags change nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_queue_of_an_existing_name_with_other_tags_is_refused() {
    let h = Harness::start().await;
    let url = h.client.create_queue().queue_name("tagged").tags("team", "a").send().await.unwrap();
    let url = url.queue_url().unwrap().to_string();
    let again = h.client.create_queue().queue_name("tagged").tags("team", "a").send().await.unwrap();
    assert_eq!(again.queue_url(), Some(url.as_str()), "the same tags: the existing queue");
    let untagged = h.client.create_queue().queue_name("tagged").send().await.unwrap();
    assert_eq!(untagged.queue_url(), Some(url.as_str()), "no tags given: the existing queue");
    let other = h.client.create_queue().queue_name("tagged").tags("team", "b").send().await;
    assert_eq!(error_code(other), "QueueAlreadyExists");
    h.create_queue("bare").await;
    let tagged_now = h.client.create_queue().queue_name("bare").tags("team", "a").send().await;
    assert_eq!(error_code(tagged_now), "QueueAlreadyExists", "even when the existing queue has no tags");
    assert_eq!(tags(&h, &url).await, map(&[("team", "a")]), "the queue's tags are unchanged");
}

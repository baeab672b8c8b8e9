//! Queues declared in the config file (`[[queues]]`): created or brought up to date at start,
//! in any order, through the same rules as the API; a refused declaration stops the start
//! and changes nothing; queues the config does not name are left alone.

use std::collections::HashMap;
use std::path::Path;

use clap::Parser;
use redrive::config::{Args, QueueDeclaration};
use redrive::StartError;

use crate::common::{client_for, error_code, fresh_dir, on_disk, real_pause, Harness, ACCOUNT, REGION};

/// The declarations of a config file holding `toml`, read as `redrive --config` reads it.
fn declarations(toml: &str) -> Vec<QueueDeclaration> {
    let dir = fresh_dir("declared-config");
    let file = dir.join("redrive.toml");
    std::fs::write(&file, toml).unwrap();
    let config = Args::parse_from(["redrive", "--config", file.to_str().unwrap()]).into_config().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    config.queues
}

/// Starts a server declaring `toml`'s queues, in memory or on `dir`; retries while a previous
/// server's store on `dir` is still closing.
async fn start(dir: Option<&Path>, toml: &str) -> Result<Harness, String> {
    let queues = declarations(toml);
    for _ in 0..250 {
        let mut config = redrive::Config::for_tests();
        if let Some(dir) = dir {
            on_disk(dir)(&mut config);
        }
        config.queues = queues.clone();
        match redrive::start(config).await {
            Ok(server) => return Ok(Harness { client: client_for(&server.endpoint()), server }),
            Err(StartError::Declare(refused)) => return Err(refused.to_string()),
            Err(_) => real_pause(20).await,
        }
    }
    panic!("the store on {dir:?} stayed locked");
}

async fn tags(h: &Harness, name: &str) -> HashMap<String, String> {
    let out = h.client.list_queue_tags().queue_url(h.expected_url(name)).send().await.unwrap();
    out.tags().cloned().unwrap_or_default()
}

async fn queue_names(h: &Harness) -> Vec<String> {
    let out = h.client.list_queues().send().await.unwrap();
    out.queue_urls().iter().map(|u| u.rsplit('/').next().unwrap().to_string()).collect()
}

fn arn(name: &str) -> String {
    format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")
}

const SHOP: &str = r#"
[[queues]]
name = "orders"
dead_letter_queue = "orders-dlq"   # declared after its source
max_receive_count = 2
attributes = { VisibilityTimeout = 60, DelaySeconds = "0" }
tags = { team = "payments" }

[[queues]]
name = "orders-dlq"
attributes = { RedriveAllowPolicy = '{"redrivePermission":"byQueue","sourceQueueArns":["arn:aws:sqs:us-east-1:000000000000:orders"]}' }

[[queues]]
name = "jobs.fifo"
dead_letter_queue = "jobs-dlq.fifo"
max_receive_count = 1
attributes = { ContentBasedDeduplication = true }

[[queues]]
name = "jobs-dlq.fifo"
"#;

#[tokio::test]
async fn declared_queues_are_created_with_their_attributes_tags_and_dead_letter_queues_in_any_order() {
    let h = start(None, SHOP).await.unwrap();
    assert_eq!(queue_names(&h).await, ["jobs-dlq.fifo", "jobs.fifo", "orders", "orders-dlq"]);
    let orders = h.expected_url("orders");
    assert_eq!(h.attribute(&orders, "VisibilityTimeout").await, "60");
    let policy: serde_json::Value = serde_json::from_str(&h.attribute(&orders, "RedrivePolicy").await).unwrap();
    assert_eq!(policy["deadLetterTargetArn"], arn("orders-dlq"));
    assert_eq!(policy["maxReceiveCount"].to_string().trim_matches('"'), "2");
    assert_eq!(tags(&h, "orders").await, HashMap::from([("team".to_string(), "payments".to_string())]));
    let allow: serde_json::Value =
        serde_json::from_str(&h.attribute(&h.expected_url("orders-dlq"), "RedriveAllowPolicy").await).unwrap();
    assert_eq!(allow["redrivePermission"], "byQueue");
    let jobs = h.attributes(&h.expected_url("jobs.fifo")).await;
    assert_eq!((jobs["FifoQueue"].as_str(), jobs["ContentBasedDeduplication"].as_str()), ("true", "true"));
    assert_eq!(h.attribute(&h.expected_url("jobs-dlq.fifo"), "FifoQueue").await, "true");

    // The declared dead-lettering works: the third receive hands the message over.
    h.send(&orders, "lost").await;
    for _ in 0..2 {
        assert_eq!(h.receive(&orders, 1).await.len(), 1);
        h.advance(61);
    }
    assert!(h.receive(&orders, 1).await.is_empty());
    let dead = h.receive(&h.expected_url("orders-dlq"), 1).await;
    assert_eq!(dead[0].body(), Some("lost"));
}

#[tokio::test]
async fn a_dead_letter_queue_that_refuses_the_source_stops_the_start_with_one_line_naming_the_shorthand() {
    let refused = start(
        None,
        r#"
        [[queues]]
        name = "first"

        [[queues]]
        name = "source"
        dead_letter_queue = "closed-dlq"
        max_receive_count = 3

        [[queues]]
        name = "closed-dlq"
        attributes = { RedriveAllowPolicy = '{"redrivePermission":"denyAll"}' }
        "#,
    )
    .await
    .err()
    .expect("refused");
    assert_eq!(
        refused,
        format!(
            "declared queue source: dead_letter_queue: InvalidParameterValue: Value {{\"deadLetterTargetArn\":\"{}\",\"maxReceiveCount\":3}} for parameter RedrivePolicy is invalid. Reason: The dead-letter queue {} does not allow this source queue to use it: see its RedriveAllowPolicy.",
            arn("closed-dlq"),
            arn("closed-dlq")
        )
    );
}

#[tokio::test]
async fn a_fifo_source_with_a_standard_dead_letter_queue_is_refused_by_the_same_rule_as_the_api() {
    let refused = start(
        None,
        r#"
        [[queues]]
        name = "work.fifo"
        dead_letter_queue = "plain-dlq"
        max_receive_count = 3

        [[queues]]
        name = "plain-dlq"
        "#,
    )
    .await
    .err()
    .expect("refused");
    assert!(refused.starts_with("declared queue work.fifo: dead_letter_queue: InvalidParameterValue: "), "{refused}");
    assert!(refused.ends_with("Reason: Dead-letter queue must be same type of queue as the source.."), "{refused}");
}

#[tokio::test]
async fn a_bad_name_or_tag_is_refused_with_the_part_that_is_wrong() {
    let bad_name = start(None, "[[queues]]\nname = \"no spaces\"\n").await.err().expect("refused");
    assert!(
        bad_name.starts_with("declared queue no spaces: name: InvalidParameterValue: Can only include"),
        "{bad_name}"
    );
    let bad_tag = start(None, "[[queues]]\nname = \"q\"\ntags = { \"aws:x\" = \"1\" }\n").await.err().expect("refused");
    assert!(
        bad_tag.starts_with("declared queue q: tags: InvalidParameterValue: Tag key 'aws:x' is invalid"),
        "{bad_tag}"
    );
    let unknown =
        start(None, "[[queues]]\nname = \"q\"\nattributes = { Colour = \"red\" }\n").await.err().expect("refused");
    assert_eq!(unknown, "declared queue q: attribute Colour: InvalidAttributeName: Unknown Attribute Colour.");
    let fifo_only = start(None, "[[queues]]\nname = \"q\"\nattributes = { ContentBasedDeduplication = true }\n")
        .await
        .err()
        .expect("refused");
    assert_eq!(
        fifo_only,
        "declared queue q: attribute ContentBasedDeduplication: InvalidAttributeName: Unknown Attribute ContentBasedDeduplication."
    );
}

#[tokio::test]
async fn a_restart_brings_declared_queues_up_to_date_and_leaves_the_rest_alone() {
    let dir = fresh_dir("declared-update");
    let h = start(Some(&dir), SHOP).await.unwrap();
    let orders = h.expected_url("orders");
    // Changed by clients since: an attribute and a tag the config does not name, another queue.
    h.set_attribute(&orders, "MessageRetentionPeriod", "600").await;
    h.client.tag_queue().queue_url(&orders).tags("owner", "ops").send().await.unwrap();
    let other = h.create_queue_with("other", &[("VisibilityTimeout", "5")]).await;
    h.send(&orders, "kept").await;
    h.server.shutdown().await;

    let updated = SHOP
        .replace("VisibilityTimeout = 60", "VisibilityTimeout = 90")
        .replace("max_receive_count = 2", "max_receive_count = 7")
        .replace("team = \"payments\"", "team = \"billing\"");
    let h = start(Some(&dir), &updated).await.unwrap();
    assert_eq!(h.attribute(&orders, "VisibilityTimeout").await, "90");
    let policy: serde_json::Value = serde_json::from_str(&h.attribute(&orders, "RedrivePolicy").await).unwrap();
    assert_eq!(policy["maxReceiveCount"].to_string().trim_matches('"'), "7");
    assert_eq!(h.attribute(&orders, "MessageRetentionPeriod").await, "600", "not named: left as it was");
    assert_eq!(
        tags(&h, "orders").await,
        HashMap::from([("team".to_string(), "billing".to_string()), ("owner".to_string(), "ops".to_string())])
    );
    assert_eq!(h.attribute(&other, "VisibilityTimeout").await, "5");
    assert_eq!(h.receive(&orders, 1).await[0].body(), Some("kept"), "its messages stay");
    h.server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_refused_declaration_on_restart_changes_nothing_on_disk() {
    let dir = fresh_dir("declared-refused");
    let h = start(Some(&dir), SHOP).await.unwrap();
    h.server.shutdown().await;

    // A valid change to orders and a new queue come first; the bad value last.
    let bad = format!(
        "{}\n[[queues]]\nname = \"newcomer\"\n\n[[queues]]\nname = \"late\"\nattributes = {{ VisibilityTimeout = 43201 }}\n",
        SHOP.replace("VisibilityTimeout = 60", "VisibilityTimeout = 90")
    );
    let refused = start(Some(&dir), &bad).await.err().expect("refused");
    assert_eq!(
        refused,
        "declared queue late: attribute VisibilityTimeout: InvalidAttributeValue: Invalid value for the parameter VisibilityTimeout."
    );

    let h = start(Some(&dir), "").await.unwrap();
    assert_eq!(queue_names(&h).await, ["jobs-dlq.fifo", "jobs.fifo", "orders", "orders-dlq"]);
    assert_eq!(h.attribute(&h.expected_url("orders"), "VisibilityTimeout").await, "60");
    let missing = h.client.get_queue_url().queue_name("newcomer").send().await;
    assert_eq!(error_code(missing), "AWS.SimpleQueueService.NonExistentQueue");
    h.server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn two_queues_may_be_each_others_dead_letter_queue() {
    let h = start(
        None,
        "[[queues]]\nname = \"ping\"\ndead_letter_queue = \"pong\"\nmax_receive_count = 1\n\n\
         [[queues]]\nname = \"pong\"\ndead_letter_queue = \"ping\"\nmax_receive_count = 1\n",
    )
    .await
    .unwrap();
    let ping: serde_json::Value =
        serde_json::from_str(&h.attribute(&h.expected_url("ping"), "RedrivePolicy").await).unwrap();
    let pong: serde_json::Value =
        serde_json::from_str(&h.attribute(&h.expected_url("pong"), "RedrivePolicy").await).unwrap();
    assert_eq!(
        (ping["deadLetterTargetArn"].as_str(), pong["deadLetterTargetArn"].as_str()),
        (Some(&*arn("pong")), Some(&*arn("ping")))
    );
}

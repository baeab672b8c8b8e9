//! The Rust recipe of docs/clients.md: its code block is this crate's
//! clients_docs/aws_sdk_sqs_recipe.rs, byte for byte, and the test runs it against a server.

use crate::common::Harness;
use crate::metrics::scrape;

#[allow(dead_code)] // its `main` is for the reader; the test calls `orders`
mod aws_sdk_sqs_recipe;

const RECIPE: &str = include_str!("clients_docs/aws_sdk_sqs_recipe.rs");

#[test]
fn the_rust_recipe_on_the_page_is_the_file_the_test_runs() {
    let page =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/clients.md")).expect("clients.md");
    let (_, after) = page.split_once("<!-- recipe: aws-sdk-sqs -->\n```rust\n").expect("the aws-sdk-sqs recipe");
    let (block, _) = after.split_once("\n```").expect("its closing fence");
    assert_eq!(format!("{block}\n"), RECIPE, "docs/clients.md and clients_docs/aws_sdk_sqs_recipe.rs differ");
}

#[tokio::test]
async fn the_rust_recipe_creates_the_queues_and_round_trips_a_message() {
    let h = Harness::start().await;
    aws_sdk_sqs_recipe::orders(&h.endpoint()).await.expect("the recipe runs");

    let url = h.expected_url("orders");
    let policy: serde_json::Value =
        serde_json::from_str(&h.attribute(&url, "RedrivePolicy").await).expect("JSON policy");
    assert_eq!(policy["deadLetterTargetArn"], "arn:aws:sqs:us-east-1:000000000000:orders-dlq");
    assert_eq!(policy["maxReceiveCount"], 5);
    assert_eq!(h.counts(&url).await, (0, 0, 0), "the message was deleted");
    let m = scrape(&h).await;
    let orders = [("queue", "orders"), ("dead_letter_queue", "false")];
    for family in ["sent", "received", "deleted"] {
        let name = format!("redrive_queue_messages_{family}_total");
        let values: Vec<f64> = m.matching(&name, &orders).iter().map(|s| s.value).collect();
        assert_eq!(values, [1.0], "{name}");
    }
}

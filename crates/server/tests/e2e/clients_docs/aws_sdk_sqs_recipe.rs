use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::types::QueueAttributeName;
use aws_sdk_sqs::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    orders("http://127.0.0.1:9324").await
}

pub async fn orders(endpoint: &str) -> Result<(), Box<dyn std::error::Error>> {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "redrive"))
        .build();
    let sqs = Client::from_conf(config);

    let dlq = sqs.create_queue().queue_name("orders-dlq").send().await?;
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(dlq.queue_url().unwrap_or_default())
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap_or_default();
    let policy = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"5"}}"#);
    let queue =
        sqs.create_queue().queue_name("orders").attributes(QueueAttributeName::RedrivePolicy, policy).send().await?;
    let queue_url = queue.queue_url().unwrap_or_default();

    sqs.send_message().queue_url(queue_url).message_body(r#"{"order": 42}"#).send().await?;

    // A long poll (up to 20 s) answers as soon as a message is there.
    let received =
        sqs.receive_message().queue_url(queue_url).max_number_of_messages(10).wait_time_seconds(20).send().await?;
    for message in received.messages() {
        println!("{}", message.body().unwrap_or_default());
        let handle = message.receipt_handle().unwrap_or_default();
        sqs.delete_message().queue_url(queue_url).receipt_handle(handle).send().await?;
    }
    Ok(())
}

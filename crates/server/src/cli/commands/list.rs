//! `list`: the dead-letter queues — every queue some RedrivePolicy names — with their depth
//! and sources. Plain SQS calls only, so it works against SQS itself.

use std::collections::BTreeMap;

use aws_sdk_sqs::types::QueueAttributeName as A;
use serde_json::{json, Value};

use crate::cli::client::Clients;
use crate::cli::error::CliError;
use crate::cli::output;

struct QueueInfo {
    url: String,
    attributes: std::collections::HashMap<A, String>,
}

pub async fn list(c: &Clients) -> Result<(), CliError> {
    let mut urls = Vec::new();
    let mut token = None;
    loop {
        let page = c.sqs.list_queues().max_results(1000).set_next_token(token).send().await?;
        urls.extend(page.queue_urls.unwrap_or_default());
        token = page.next_token;
        if token.is_none() {
            break;
        }
    }
    let mut queues = Vec::with_capacity(urls.len());
    for url in urls {
        let wanted = [
            A::QueueArn,
            A::RedrivePolicy,
            A::ApproximateNumberOfMessages,
            A::ApproximateNumberOfMessagesNotVisible,
            A::ApproximateNumberOfMessagesDelayed,
        ];
        let got = c.sqs.get_queue_attributes().queue_url(&url).set_attribute_names(Some(wanted.to_vec())).send().await;
        match got {
            Ok(out) => queues.push(QueueInfo { url, attributes: out.attributes.unwrap_or_default() }),
            // Deleted between the listing and now.
            Err(e) if matches!(&e, aws_sdk_sqs::error::SdkError::ServiceError(s) if s.err().is_queue_does_not_exist()) =>
                {}
            Err(e) => return Err(e.into()),
        }
    }
    // DLQ ARN → its sources (queue, maxReceiveCount).
    let mut dlqs: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for q in &queues {
        let Some(policy) = q.attributes.get(&A::RedrivePolicy) else { continue };
        let Ok(policy) = serde_json::from_str::<Value>(policy) else { continue };
        let Some(target) = policy["deadLetterTargetArn"].as_str() else { continue };
        let arn = q.attributes.get(&A::QueueArn).cloned().unwrap_or_default();
        dlqs.entry(target.to_string()).or_default().push(json!({
            "QueueName": output::queue_name(&q.url),
            "QueueUrl": q.url,
            "QueueArn": arn,
            "MaxReceiveCount": output::ms_of(&policy["maxReceiveCount"]),
        }));
    }
    let count = |q: &QueueInfo, a: A| q.attributes.get(&a).and_then(|v| v.parse::<u64>().ok());
    let mut out = Vec::new();
    for (arn, sources) in dlqs {
        let found = queues.iter().find(|q| q.attributes.get(&A::QueueArn) == Some(&arn));
        let mut d = json!({ "QueueName": output::queue_name(&arn), "QueueArn": arn, "Exists": found.is_some(), "Sources": sources });
        if let Some(q) = found {
            d["QueueUrl"] = json!(q.url);
            d["ApproximateNumberOfMessages"] = json!(count(q, A::ApproximateNumberOfMessages));
            d["ApproximateNumberOfMessagesNotVisible"] = json!(count(q, A::ApproximateNumberOfMessagesNotVisible));
            d["ApproximateNumberOfMessagesDelayed"] = json!(count(q, A::ApproximateNumberOfMessagesDelayed));
        }
        out.push(d);
    }
    if c.json {
        return output::json(&json!({ "DeadLetterQueues": out }));
    }
    if out.is_empty() {
        return output::line("No dead-letter queues: no queue has a RedrivePolicy.");
    }
    let rows = out
        .iter()
        .map(|d| {
            let sources: Vec<String> = d["Sources"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| match s["MaxReceiveCount"].as_u64() {
                    Some(n) => format!("{} (after {n})", output::text(&s["QueueName"])),
                    None => output::text(&s["QueueName"]),
                })
                .collect();
            let name = output::text(&d["QueueName"]);
            vec![
                if d["Exists"] == true { name } else { format!("{name} (missing)") },
                output::text(&d["ApproximateNumberOfMessages"]),
                output::text(&d["ApproximateNumberOfMessagesNotVisible"]),
                output::text(&d["ApproximateNumberOfMessagesDelayed"]),
                sources.join(", "),
            ]
        })
        .collect();
    output::table(&["DLQ", "MESSAGES", "IN FLIGHT", "DELAYED", "SOURCES"], rows)
}

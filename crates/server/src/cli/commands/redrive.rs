//! `redrive`: a move task out of a dead-letter queue — StartMessageMoveTask when nothing
//! Redrive-only is asked for (so it works against SQS itself), StartRedrive for a filter, a
//! canary, a halt rule, a loop guard or a dry run — or, with `--client-side`, the move done
//! here with plain SQS calls: receive, filter, send, delete.

use std::collections::HashMap;

use engine::clock::{Clock, SystemClock};
use serde_json::{json, Value};

use super::inspect::messages_table;
use super::tasks;
use crate::cli::args::RedriveArgs;
use crate::cli::client::Clients;
use crate::cli::error::CliError;
use crate::cli::filter::Filter;
use crate::cli::output;
use crate::cli::queue::QueueRef;
use crate::cli::receive::{as_exported, Pass};

pub async fn redrive(c: &Clients, a: &RedriveArgs) -> Result<(), CliError> {
    let dlq = QueueRef::parse(&a.dlq)?;
    let to = a.to.as_deref().map(QueueRef::parse).transpose()?;
    let filter = Filter::from_args(&a.filter, c).await?;
    if a.client_side {
        return client_side(c, a, &dlq, to.as_ref(), &filter).await;
    }
    let source_arn = dlq.arn(c).await?;
    let destination_arn = match &to {
        Some(q) => Some(q.arn(c).await?),
        None => None,
    };
    let redrive_only = !filter.is_empty()
        || a.canary.is_some()
        || a.halt_percent.is_some()
        || a.halt_count.is_some()
        || a.halt_window.is_some()
        || a.max_redrives.is_some()
        || a.dry_run;
    let handle = if redrive_only {
        let mut input = json!({ "SourceArn": source_arn });
        if let Some(d) = &destination_arn {
            input["DestinationArn"] = json!(d);
        }
        if let Some(r) = a.rate {
            input["MaxNumberOfMessagesPerSecond"] = json!(r);
        }
        if !filter.is_empty() {
            input["Filter"] = filter.api.clone();
        }
        if let Some(size) = a.canary {
            input["Canary"] = json!({ "Size": size });
            if let Some(t) = a.canary_timeout {
                input["Canary"]["TimeoutSeconds"] = json!(t);
            }
        }
        if a.halt_percent.is_some() || a.halt_count.is_some() || a.halt_window.is_some() {
            let mut halt = json!({});
            if let Some(p) = a.halt_percent {
                halt["MaxPercent"] = json!(p);
            }
            if let Some(k) = a.halt_count {
                halt["MaxCount"] = json!(k);
            }
            if let Some(w) = a.halt_window {
                halt["WindowSeconds"] = json!(w);
            }
            input["Halt"] = halt;
        }
        if let Some(n) = a.max_redrives {
            input["MaxRedrives"] = json!(n);
        }
        if a.dry_run {
            input["DryRun"] = json!(true);
        }
        let out = c.extension.call("StartRedrive", &input).await?;
        if a.dry_run {
            return dry_run_report(c, &out, dlq.display_name());
        }
        out["TaskHandle"].as_str().unwrap_or_default().to_string()
    } else {
        let out = c
            .sqs
            .start_message_move_task()
            .source_arn(&source_arn)
            .set_destination_arn(destination_arn.clone())
            .set_max_number_of_messages_per_second(a.rate)
            .send()
            .await?;
        out.task_handle.unwrap_or_default()
    };
    if a.watch.watch {
        return tasks::watch_and_report(c, &handle, &source_arn, a.watch.interval).await;
    }
    if c.json {
        return output::json(&json!({ "TaskHandle": handle }));
    }
    let whither = destination_arn.as_deref().map_or("their source queues".to_string(), output::queue_name);
    output::line(&format!(
        "Started moving messages from {} to {whither}.\nTask handle: {handle}\nFollow it: redrive dlq status {} --watch",
        dlq.display_name(),
        dlq.display_name()
    ))
}

fn dry_run_report(c: &Clients, out: &Value, dlq: &str) -> Result<(), CliError> {
    if c.json {
        return output::json(out);
    }
    let n = output::count(out["ApproximateNumberOfMessagesToMove"].as_u64().unwrap_or(0), "message");
    let skipped = out["ApproximateNumberOfMessagesSkipped"].as_u64().unwrap_or(0);
    let mut text = format!("Dry run: {n} would move from {dlq}");
    if skipped > 0 {
        text.push_str(&format!("; {skipped} more match but stay (already redriven --max-redrives times)"));
    }
    text.push_str(". Nothing moved.");
    output::line(&text)?;
    let sample = out["Sample"].as_array().cloned().unwrap_or_default();
    if !sample.is_empty() {
        output::line(&format!("The first {} that would:", sample.len()))?;
        messages_table(&sample)?;
    }
    Ok(())
}

/// The move done here: every matching message received from the DLQ is sent to its
/// destination and then deleted; the others are released at the end.
async fn client_side(
    c: &Clients,
    a: &RedriveArgs,
    dlq: &QueueRef,
    to: Option<&QueueRef>,
    filter: &Filter,
) -> Result<(), CliError> {
    filter.check_client_side()?;
    let dlq_url = dlq.url(c).await?;
    let fixed = match to {
        Some(q) => Some(q.url(c).await?),
        None => None,
    };
    let mut urls: HashMap<String, String> = HashMap::new();
    let (mut examined, mut moved, mut no_source) = (0u64, 0u64, 0u64);
    let mut sample = Vec::new();
    let clock = SystemClock;
    let started = clock.now();
    let mut pass = Pass::new(c, &dlq_url, a.hold);
    let mut failure = None;
    'pass: loop {
        let batch = match pass.next().await {
            Ok(Some(batch)) => batch,
            Ok(None) => break,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        for (i, m) in batch.iter().enumerate() {
            examined += 1;
            let line = as_exported(m);
            if !filter.matches(&line) {
                pass.keep(m);
                continue;
            }
            if a.dry_run {
                moved += 1;
                if sample.len() < 10 {
                    sample.push(line);
                }
                pass.keep(m);
                continue;
            }
            let source = line["Attributes"]["DeadLetterQueueSourceArn"].as_str();
            let destination = match (&fixed, source) {
                (Some(url), _) => Ok(url.clone()),
                (None, Some(arn)) => source_url(c, &mut urls, arn).await,
                (None, None) => {
                    no_source += 1;
                    pass.keep(m);
                    continue;
                }
            };
            if let Some(rate) = a.rate {
                // Paced from the start: `moved` messages take moved / rate seconds.
                let due = started + moved * 1000 / rate.max(1) as u64;
                clock.sleep_until(due).await;
            }
            let done = match destination {
                Ok(url) => move_one(c, m, &dlq_url, &url).await,
                Err(e) => Err(e),
            };
            if let Err(e) = done {
                // This one and the rest of the batch stay in the DLQ, released below.
                batch[i..].iter().for_each(|m| pass.keep(m));
                failure = Some(e);
                break 'pass;
            }
            moved += 1;
        }
    }
    pass.release().await?;
    if let Some(e) = failure {
        return Err(e);
    }
    let name = dlq.display_name();
    if a.dry_run {
        let out = json!({ "DryRun": true, "ApproximateNumberOfMessagesToMove": moved, "Examined": examined, "Sample": sample });
        if c.json {
            return output::json(&out);
        }
        output::line(&format!("Dry run (client side): {moved} of the {examined} messages received from {name} would move. Nothing moved; each was received once."))?;
        if !sample.is_empty() {
            messages_table(&sample)?;
        }
        return Ok(());
    }
    let out = json!({ "Moved": moved, "Examined": examined, "WithoutSource": no_source });
    if c.json {
        return output::json(&out);
    }
    let mut text = format!("Moved {moved} of the {examined} messages received from {name} (client side).");
    if no_source > 0 {
        text.push_str(&format!(" {no_source} have no source queue to go back to: give --to."));
    }
    output::line(&text)
}

/// The URL of a source queue named by its ARN, asked once per ARN.
async fn source_url(c: &Clients, urls: &mut HashMap<String, String>, arn: &str) -> Result<String, CliError> {
    if let Some(url) = urls.get(arn) {
        return Ok(url.clone());
    }
    let url = QueueRef::parse(arn)?.url(c).await?;
    urls.insert(arn.to_string(), url.clone());
    Ok(url)
}

/// Send a copy to `destination`, then delete the original: two calls, not one transaction.
async fn move_one(
    c: &Clients,
    m: &aws_sdk_sqs::types::Message,
    dlq_url: &str,
    destination: &str,
) -> Result<(), CliError> {
    use aws_sdk_sqs::types::MessageSystemAttributeName as S;
    let attribute = |name: S| m.attributes.as_ref().and_then(|a| a.get(&name)).cloned();
    let mut send = c
        .sqs
        .send_message()
        .queue_url(destination)
        .message_body(m.body.as_deref().unwrap_or_default())
        .set_message_attributes(m.message_attributes.clone().filter(|a| !a.is_empty()));
    if let Some(group) = attribute(S::MessageGroupId) {
        let dedup = attribute(S::MessageDeduplicationId).or_else(|| m.message_id.clone());
        send = send.message_group_id(group).set_message_deduplication_id(dedup);
    }
    send.send().await?;
    let receipt = m.receipt_handle.as_deref().unwrap_or_default();
    c.sqs.delete_message().queue_url(dlq_url).receipt_handle(receipt).send().await?;
    Ok(())
}

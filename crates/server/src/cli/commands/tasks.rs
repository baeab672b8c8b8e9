//! Move tasks: `status` (a DLQ's latest, `--watch` to follow one to its end), `cancel`, and
//! `history` (ListRedrives). Status and cancel fall back to ListMessageMoveTasks and
//! CancelMessageMoveTask, so they work against SQS itself.

use engine::clock::{Clock, SystemClock};
use serde_json::{json, Value};

use crate::cli::args::WatchArgs;
use crate::cli::client::Clients;
use crate::cli::error::CliError;
use crate::cli::output;
use crate::cli::queue::QueueRef;

const ENDED: [&str; 3] = ["COMPLETED", "FAILED", "CANCELLED"];

pub async fn status(c: &Clients, dlq: &str, max: u32, watch: &WatchArgs) -> Result<(), CliError> {
    let dlq = QueueRef::parse(dlq)?;
    let arn = dlq.arn(c).await?;
    let tasks = latest(c, &arn, max).await?;
    if watch.watch {
        let Some(newest) = tasks.first() else {
            return Err(CliError::Api {
                code: "ResourceNotFound".into(),
                message: format!("{} has no move task to watch.", dlq.display_name()),
            });
        };
        return match newest["TaskHandle"].as_str() {
            Some(handle) if !ENDED.contains(&newest["Status"].as_str().unwrap_or_default()) => {
                watch_and_report(c, handle, &arn, watch.interval).await
            }
            // Ended already (SQS lists an ended task without its handle).
            _ => report(c, newest),
        };
    }
    if c.json {
        return output::json(&json!({ "Tasks": tasks }));
    }
    if tasks.is_empty() {
        return output::line(&format!("No move tasks for {}.", dlq.display_name()));
    }
    for (i, t) in tasks.iter().enumerate() {
        if i > 0 {
            output::line("")?;
        }
        task_fields(t)?;
    }
    Ok(())
}

/// The newest `max` tasks of a DLQ: Redrive's (with stage and options) where the extension is
/// there, else SQS's ListMessageMoveTasks, in the same shape.
async fn latest(c: &Clients, arn: &str, max: u32) -> Result<Vec<Value>, CliError> {
    match c.extension.call("ListRedrives", &json!({ "SourceArn": arn, "MaxResults": max })).await {
        Ok(out) => Ok(out["Tasks"].as_array().cloned().unwrap_or_default()),
        Err(CliError::NotRedrive { .. }) => sqs_tasks(c, arn, max as i32).await,
        Err(e) => Err(e),
    }
}

async fn sqs_tasks(c: &Clients, arn: &str, max: i32) -> Result<Vec<Value>, CliError> {
    let out = c.sqs.list_message_move_tasks().source_arn(arn).max_results(max).send().await?;
    Ok(out
        .results
        .unwrap_or_default()
        .iter()
        .map(|t| {
            let mut v = json!({
                "Status": t.status,
                "SourceArn": t.source_arn,
                "ApproximateNumberOfMessagesMoved": t.approximate_number_of_messages_moved,
                "ApproximateNumberOfMessagesToMove": t.approximate_number_of_messages_to_move,
                "StartedTimestamp": t.started_timestamp,
            });
            for (key, value) in [
                ("TaskHandle", t.task_handle.clone()),
                ("DestinationArn", t.destination_arn.clone()),
                ("FailureReason", t.failure_reason.clone()),
            ] {
                if let Some(value) = value {
                    v[key] = json!(value);
                }
            }
            if let Some(r) = t.max_number_of_messages_per_second {
                v["MaxNumberOfMessagesPerSecond"] = json!(r);
            }
            v
        })
        .collect())
}

/// One task, `label: value` lines.
fn task_fields(t: &Value) -> Result<(), CliError> {
    let moved = output::text(&t["ApproximateNumberOfMessagesMoved"]);
    let to_move = output::text(&t["ApproximateNumberOfMessagesToMove"]);
    let mut f = vec![
        ("Status", output::text(&t["Status"])),
        ("Stage", output::text(&t["Stage"])),
        ("From", t["SourceArn"].as_str().map_or("-".into(), output::queue_name)),
        ("To", t["DestinationArn"].as_str().map_or("their source queues".into(), output::queue_name)),
        ("Moved", format!("{moved} of {to_move}")),
    ];
    // A stage means something only while the task runs.
    if t.get("Stage").is_none() || t["Status"] != "RUNNING" {
        f.retain(|(k, _)| *k != "Stage");
    }
    for (label, key) in
        [("Skipped", "ApproximateNumberOfMessagesSkipped"), ("Failed again", "ApproximateNumberOfMessagesFailedAgain")]
    {
        if t[key].as_u64().is_some_and(|n| n > 0) {
            f.push((label, output::text(&t[key])));
        }
    }
    let options = options_summary(t);
    if !options.is_empty() {
        f.push(("Options", options));
    }
    f.push(("Started", output::time(output::ms_of(&t["StartedTimestamp"]))));
    if let Some(at) = output::ms_of(&t["FinishedTimestamp"]) {
        f.push(("Finished", output::time(Some(at))));
    }
    if let Some(by) = t["StartedBy"].as_str() {
        f.push(("Started by", by.to_string()));
    }
    if let Some(reason) = t["FailureReason"].as_str() {
        f.push(("Reason", reason.to_string()));
    }
    f.push(("Handle", output::text(&t["TaskHandle"])));
    output::fields(&f)
}

/// A task's Redrive options in a few words: `filter, canary 5, halt >5%, rate 10`.
fn options_summary(t: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(f) = t["Filter"].as_object().filter(|f| !f.is_empty()) {
        let keys: Vec<&str> = f.keys().map(String::as_str).collect();
        parts.push(format!("filter ({})", keys.join(", ")));
    }
    if let Some(size) = t["Canary"]["Size"].as_u64() {
        parts.push(format!("canary {size}"));
    }
    if let Some(p) = t["Halt"]["MaxPercent"].as_u64() {
        parts.push(format!("halt >{p}%"));
    }
    if let Some(k) = t["Halt"]["MaxCount"].as_u64() {
        parts.push(format!("halt >{k}"));
    }
    if let Some(r) = t["MaxNumberOfMessagesPerSecond"].as_u64() {
        parts.push(format!("rate {r}/s"));
    }
    parts.join(", ")
}

/// Follows a task (DescribeRedrive, or ListMessageMoveTasks against SQS itself) until it
/// ends, a bar on a terminal meanwhile; prints it; a FAILED or CANCELLED end is an error (3).
pub async fn watch_and_report(c: &Clients, handle: &str, source_arn: &str, interval: f64) -> Result<(), CliError> {
    let progress = output::Progress::new();
    let clock = SystemClock;
    let mut redrive = true;
    let mut started: Option<u64> = None;
    let task = loop {
        let task = if redrive {
            match c.extension.call("DescribeRedrive", &json!({ "TaskHandle": handle })).await {
                Ok(t) => Some(t),
                Err(CliError::NotRedrive { .. }) => {
                    redrive = false;
                    continue;
                }
                Err(e) => return Err(e),
            }
        } else {
            // SQS lists a task's handle only while it runs: once ended, it is the task with
            // the start time seen, or (ended before the first look) the DLQ's newest.
            let tasks = sqs_tasks(c, source_arn, 10).await?;
            let ours = |t: &Value| match t["TaskHandle"].as_str() {
                Some(h) => h == handle,
                None => started.is_none() || started == output::ms_of(&t["StartedTimestamp"]),
            };
            tasks.into_iter().find(|t| ours(t))
        };
        let Some(task) = task else {
            return Err(CliError::Api { code: "ResourceNotFound".into(), message: format!("no task {handle}") });
        };
        let status = task["Status"].as_str().unwrap_or_default().to_string();
        let moved = task["ApproximateNumberOfMessagesMoved"].as_u64().unwrap_or(0);
        let to_move = task["ApproximateNumberOfMessagesToMove"].as_u64().unwrap_or(0);
        let stage = match task["Stage"].as_str() {
            Some(s) if status == "RUNNING" => format!(" {s}"),
            _ => String::new(),
        };
        progress.update(moved, to_move, format!("{status}{stage}"));
        if ENDED.contains(&status.as_str()) {
            break task;
        }
        started = started.or_else(|| output::ms_of(&task["StartedTimestamp"]));
        clock.sleep_until(clock.now() + (interval * 1000.0) as u64).await;
    };
    progress.finish();
    report(c, &task)
}

/// Prints an ended task; a FAILED or CANCELLED one is an error (exit code 3).
fn report(c: &Clients, task: &Value) -> Result<(), CliError> {
    if c.json {
        output::json(task)?;
    } else {
        task_fields(task)?;
    }
    match task["Status"].as_str() {
        Some(s @ ("FAILED" | "CANCELLED")) => Err(CliError::TaskEnded {
            status: s.to_string(),
            reason: task["FailureReason"].as_str().map(str::to_string),
        }),
        _ => Ok(()),
    }
}

pub async fn cancel(c: &Clients, target: &str) -> Result<(), CliError> {
    let handle = match QueueRef::parse(target) {
        Ok(dlq) => {
            let arn = dlq.arn(c).await?;
            let tasks = sqs_tasks(c, &arn, 10).await?;
            let running = tasks.iter().find(|t| t["Status"] == "RUNNING").and_then(|t| t["TaskHandle"].as_str());
            match running {
                Some(h) => h.to_string(),
                None => {
                    return Err(CliError::Api {
                        code: "ResourceNotFound".into(),
                        message: format!("{} has no running move task.", dlq.display_name()),
                    })
                }
            }
        }
        // Not a queue: a task handle.
        Err(_) => target.to_string(),
    };
    let out = c.sqs.cancel_message_move_task().task_handle(&handle).send().await?;
    let moved = out.approximate_number_of_messages_moved;
    if c.json {
        return output::json(&json!({ "TaskHandle": handle, "ApproximateNumberOfMessagesMoved": moved }));
    }
    output::line(&format!(
        "Cancelled the task after {} moved.\nTask handle: {handle}",
        output::count(moved.max(0) as u64, "message")
    ))
}

pub async fn history(c: &Clients, dlq: Option<&str>, limit: u64) -> Result<(), CliError> {
    let source = match dlq {
        Some(d) => Some(QueueRef::parse(d)?.arn(c).await?),
        None => None,
    };
    let mut tasks: Vec<Value> = Vec::new();
    let mut token: Option<String> = None;
    while (tasks.len() as u64) < limit {
        let mut input = json!({ "MaxResults": (limit - tasks.len() as u64).min(100) });
        if let Some(s) = &source {
            input["SourceArn"] = json!(s);
        }
        if let Some(t) = &token {
            input["NextToken"] = json!(t);
        }
        let out = c.extension.call("ListRedrives", &input).await?;
        tasks.extend(out["Tasks"].as_array().cloned().unwrap_or_default());
        token = out.get("NextToken").and_then(Value::as_str).map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    if c.json {
        return output::json(&json!({ "Tasks": tasks }));
    }
    if tasks.is_empty() {
        return output::line("No redrives yet.");
    }
    let rows = tasks
        .iter()
        .map(|t| {
            vec![
                output::time(output::ms_of(&t["StartedTimestamp"])),
                t["SourceArn"].as_str().map_or("-".into(), output::queue_name),
                t["DestinationArn"].as_str().map_or("(sources)".into(), output::queue_name),
                output::text(&t["Status"]),
                output::text(&t["ApproximateNumberOfMessagesMoved"]),
                output::text(&t["ApproximateNumberOfMessagesSkipped"]),
                output::text(&t["ApproximateNumberOfMessagesFailedAgain"]),
                options_summary(t),
                t["StartedBy"].as_str().unwrap_or("-").to_string(),
                t["FailureReason"].as_str().map_or(String::new(), |r| output::short(r, 60)),
            ]
        })
        .collect();
    output::table(
        &["STARTED", "DLQ", "TO", "STATUS", "MOVED", "SKIPPED", "FAILED AGAIN", "OPTIONS", "BY", "REASON"],
        rows,
    )
}

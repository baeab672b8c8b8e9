//! Safe redrive through the extension: StartRedrive (with a filter, a canary, a halt rule, a
//! loop guard, or as a dry run), DescribeRedrive, ListRedrives (the redrive history).

use engine::{Canary, Halt, TaskOptions, TaskRequest};
use serde::Deserialize;
use serde_json::{json, Value};

use super::wire::{self, FilterInput};
use crate::dispatch::Ctx;
use crate::errors::to_api;
use protocol::ApiError;

/// Tasks one ListRedrives page holds at most (and by default).
const MAX_LIST: usize = 100;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct StartRedriveInput {
    source_arn: String,
    destination_arn: Option<String>,
    max_number_of_messages_per_second: Option<i64>,
    filter: Option<FilterInput>,
    canary: Option<CanaryInput>,
    halt: Option<HaltInput>,
    max_redrives: Option<u32>,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct CanaryInput {
    size: Option<u32>,
    timeout_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct HaltInput {
    max_count: Option<u64>,
    max_percent: Option<u32>,
    window_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DescribeRedriveInput {
    task_handle: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListRedrivesInput {
    source_arn: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

pub async fn start(ctx: &Ctx<'_>, i: StartRedriveInput) -> Result<Value, ApiError> {
    let canary = i.canary.map(|c| Canary {
        size: c.size.unwrap_or(engine::DEFAULT_CANARY_SIZE),
        timeout_ms: c.timeout_seconds.map_or(engine::DEFAULT_CANARY_TIMEOUT_MS, |s| s.saturating_mul(1000)),
    });
    let halt = i.halt.map(|h| Halt {
        max_count: h.max_count,
        max_percent: h.max_percent,
        window_ms: h.window_seconds.map_or(engine::DEFAULT_HALT_WINDOW_MS, |s| s.saturating_mul(1000)),
    });
    let filter = i.filter.map(FilterInput::into_filter).transpose()?.filter(|f| !f.is_empty());
    let request = TaskRequest {
        source_arn: i.source_arn,
        destination_arn: i.destination_arn,
        max_per_second: i.max_number_of_messages_per_second,
        options: TaskOptions { started_by: None, filter, canary, halt, max_redrives: i.max_redrives },
    };
    if i.dry_run {
        let (engine, caller) = (ctx.engine.clone(), ctx.caller.clone());
        let dry = super::blocking(move || engine.dry_run_redrive(&caller, request)).await?;
        let sample: Vec<Value> = dry.sample.iter().map(wire::peeked_json).collect();
        return Ok(json!({
            "DryRun": true,
            "ApproximateNumberOfMessagesToMove": dry.matching,
            "ApproximateNumberOfMessagesSkipped": dry.skipped,
            "Sample": sample,
        }));
    }
    let handle = ctx.engine.start_redrive(&ctx.caller, request).await.map_err(|e| to_api(&e))?;
    Ok(json!({ "TaskHandle": handle }))
}

pub fn describe(ctx: &Ctx<'_>, i: DescribeRedriveInput) -> Result<Value, ApiError> {
    let task = ctx.engine.describe_redrive(&ctx.caller, &i.task_handle).map_err(|e| to_api(&e))?;
    Ok(wire::task_json(&task))
}

pub fn list(ctx: &Ctx<'_>, i: ListRedrivesInput) -> Result<Value, ApiError> {
    let max = match i.max_results {
        None => MAX_LIST,
        Some(n) if (1..=MAX_LIST as i64).contains(&n) => n as usize,
        Some(n) => {
            return Err(ApiError::invalid_parameter_value(format!("MaxResults: {n} is not between 1 and {MAX_LIST}.")))
        }
    };
    let skip = match i.next_token.as_deref() {
        None => 0,
        Some(t) => t.parse::<usize>().map_err(|_| ApiError::invalid_parameter_value("Invalid NextToken value."))?,
    };
    let all = ctx.engine.redrive_history(&ctx.caller, i.source_arn.as_deref());
    let tasks: Vec<Value> = all.iter().skip(skip).take(max).map(wire::task_json).collect();
    let mut out = json!({ "Tasks": tasks });
    if skip + max < all.len() {
        out["NextToken"] = json!((skip + max).to_string());
    }
    Ok(out)
}

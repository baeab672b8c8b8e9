//! The Redrive extension API, version 1: what SQS has no call for, on the same port, in the
//! JSON 1.0 protocol's shapes (`X-Amz-Target: Redrive_v1.<Operation>`, a JSON body, errors as
//! `{"__type", "message"}`). Specified in docs/extension-api.md. The console uses it, and
//! nothing private.

mod redrive;
mod triage;
mod wire;

use bytes::Bytes;
use engine::PeekOptions;
use http_body_util::Full;
use hyper::header::HeaderMap;
use hyper::{Response, StatusCode};
use protocol::{json, ApiError, ErrorCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::dispatch::{Ctx, Failure};
use crate::errors::to_api;
use wire::FilterInput;

pub const TARGET_PREFIX: &str = "Redrive_v1.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    PeekMessages,
    CountMessages,
    GetQueueDepthHistory,
    StartRedrive,
    DescribeRedrive,
    ListRedrives,
    UpdateMessage,
    DeleteMessages,
    ExportMessages,
    ImportMessages,
}

impl Operation {
    fn from_name(name: &str) -> Option<Operation> {
        match name {
            "PeekMessages" => Some(Operation::PeekMessages),
            "CountMessages" => Some(Operation::CountMessages),
            "GetQueueDepthHistory" => Some(Operation::GetQueueDepthHistory),
            "StartRedrive" => Some(Operation::StartRedrive),
            "DescribeRedrive" => Some(Operation::DescribeRedrive),
            "ListRedrives" => Some(Operation::ListRedrives),
            "UpdateMessage" => Some(Operation::UpdateMessage),
            "DeleteMessages" => Some(Operation::DeleteMessages),
            "ExportMessages" => Some(Operation::ExportMessages),
            "ImportMessages" => Some(Operation::ImportMessages),
            _ => None,
        }
    }
}

/// The extension target a request names, if it names one (`Redrive_v1.…`).
pub fn target(headers: &HeaderMap) -> Option<&str> {
    headers.get("x-amz-target").and_then(|v| v.to_str().ok()).filter(|t| t.starts_with(TARGET_PREFIX))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PeekMessagesInput {
    queue_url: String,
    #[serde(default)]
    max_results: Option<i64>,
    #[serde(default)]
    next_token: Option<String>,
    #[serde(default)]
    body_contains: Option<String>,
    #[serde(default)]
    filter: Option<FilterInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CountMessagesInput {
    queue_url: String,
    #[serde(default)]
    filter: Option<FilterInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetQueueDepthHistoryInput {
    queue_url: String,
}

/// An extension call's answer in JSON: the output, or the error in the SQS API's JSON shape.
pub fn render(answer: &Result<Value, ApiError>, request_id: &str) -> Response<Full<Bytes>> {
    match answer {
        Ok(value) => {
            let mut r = Response::new(Full::new(Bytes::from(json::encode_response(value))));
            *r.status_mut() = StatusCode::OK;
            let h = r.headers_mut();
            h.insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(json::CONTENT_TYPE));
            if let Ok(v) = hyper::header::HeaderValue::from_str(request_id) {
                h.insert("x-amzn-requestid", v);
            }
            r
        }
        Err(e) => crate::sqs::render(crate::sqs::Protocol::Json, None, &Err(e.clone().into()), request_id),
    }
}

/// Run one extension call (`target` is `Redrive_v1.<Op>`).
pub async fn call(
    ctx: &mut Ctx<'_>,
    depth: &crate::depth::History,
    target: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    let op = target.strip_prefix(TARGET_PREFIX).and_then(Operation::from_name).ok_or_else(|| {
        ApiError::new(ErrorCode::UnknownOperation, format!("The action {target} is not valid for this endpoint."))
    })?;
    let tree = json::parse_body(body)?;
    // A policy judges an extension call by its own name: only the owner may make it.
    ctx.acting(target.strip_prefix(TARGET_PREFIX).unwrap_or(target));
    let ctx = &*ctx;
    match op {
        Operation::PeekMessages => {
            let i: PeekMessagesInput = typed(tree)?;
            let id = ctx.queue_id(&i.queue_url).map_err(|f: Failure| f.0)?;
            let mut filter = i.filter.map(FilterInput::into_filter).transpose()?.unwrap_or_default();
            // The first version's one filter, kept.
            if let Some(text) = i.body_contains.filter(|t| !t.is_empty()) {
                filter.body_contains.get_or_insert(text);
            }
            let options = PeekOptions { max_results: i.max_results, next_token: i.next_token, filter, export: false };
            let page = ctx.engine.peek_messages(&ctx.caller, &id, &options).map_err(|e| to_api(&e))?;
            let messages: Vec<Value> = page.messages.iter().map(wire::peeked_json).collect();
            let mut out = json!({ "Messages": messages });
            if let Some(t) = page.next_token {
                out["NextToken"] = json!(t);
            }
            Ok(out)
        }
        Operation::CountMessages => {
            let i: CountMessagesInput = typed(tree)?;
            let id = ctx.queue_id(&i.queue_url).map_err(|f: Failure| f.0)?;
            let filter = i.filter.map(FilterInput::into_filter).transpose()?.unwrap_or_default();
            let (engine, caller) = (ctx.engine.clone(), ctx.caller.clone());
            let counted = blocking(move || engine.count_messages(&caller, &id, &filter)).await?;
            Ok(json!({ "Count": counted.matching, "Examined": counted.examined }))
        }
        Operation::StartRedrive => redrive::start(ctx, typed(tree)?).await,
        Operation::DescribeRedrive => redrive::describe(ctx, typed(tree)?),
        Operation::ListRedrives => redrive::list(ctx, typed(tree)?),
        Operation::UpdateMessage => triage::update(ctx, typed(tree)?).await,
        Operation::DeleteMessages => triage::delete(ctx, typed(tree)?).await,
        Operation::ExportMessages => triage::export(ctx, typed(tree)?),
        Operation::ImportMessages => triage::import(ctx, typed(tree)?).await,
        Operation::GetQueueDepthHistory => {
            let i: GetQueueDepthHistoryInput = typed(tree)?;
            let id = ctx.queue_id(&i.queue_url).map_err(|f: Failure| f.0)?;
            // The access decision is the engine's: a queue the caller cannot reach does not exist.
            ctx.engine.queue_for(&ctx.caller, &id).map_err(|e| to_api(&e))?;
            let samples = depth
                .of(ctx.engine, &id)
                .ok_or_else(|| ApiError::new(ErrorCode::QueueDoesNotExist, "The specified queue does not exist."))?;
            let samples: Vec<Value> = samples
                .iter()
                .map(|s| {
                    json!({
                        "Timestamp": s.at,
                        "ApproximateNumberOfMessages": s.available,
                        "ApproximateNumberOfMessagesNotVisible": s.in_flight,
                        "ApproximateNumberOfMessagesDelayed": s.delayed,
                        "DeadLetterArrivals": s.dead_letter_arrivals,
                    })
                })
                .collect();
            Ok(json!({ "IntervalSeconds": crate::depth::INTERVAL_MS / 1000, "Samples": samples }))
        }
    }
}

/// Run a scan of a whole queue (seconds for millions of messages, reading the store) on
/// tokio's blocking threads, so that the request workers go on serving other calls.
pub(crate) async fn blocking<T: Send + 'static>(
    scan: impl FnOnce() -> engine::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(scan).await {
        Ok(result) => result.map_err(|e| to_api(&e)),
        Err(e) => Err(ApiError::new(ErrorCode::InternalError, format!("the scan stopped: {e}"))),
    }
}

/// An input from its JSON tree, with the SQS API's words for the usual mistakes.
pub(crate) fn typed<T: DeserializeOwned>(tree: Value) -> Result<T, ApiError> {
    let tree = if tree.is_null() { json!({}) } else { tree };
    serde_json::from_value(tree).map_err(|e| {
        let text = e.to_string();
        if text.starts_with("missing field `QueueUrl`") {
            // As the SQS API answers a missing QueueUrl (docs/aws-reference.md §2.2).
            ApiError::new(ErrorCode::QueueDoesNotExist, "The specified queue does not exist.")
        } else {
            ApiError::new(ErrorCode::SerializationException, text)
        }
    })
}

//! From an HTTP request to a typed SQS request and back, in whichever protocol the
//! caller speaks: JSON 1.0 when `X-Amz-Target` names the action, Query otherwise.
//! `handle` decodes and dispatches, and returns a typed answer (never a rendered error);
//! the HTTP wrapper counts and logs that answer, then writes it with `render`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};
use protocol::{json, query, Action, ApiError, ErrorCode};

use crate::dispatch::{dispatch, Ctx};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Json,
    Query,
    /// Query parameters from a caller whose `Accept` asks for JSON: AWS answers those in JSON
    /// (recorded), the XML tree written as JSON.
    QueryJson,
}

impl Protocol {
    fn is_query(self) -> bool {
        matches!(self, Protocol::Query | Protocol::QueryJson)
    }
}

/// What the HTTP layer hands over.
pub struct Call<'a> {
    /// Detected once, by the HTTP wrapper, which also renders the answer in it.
    pub protocol: Protocol,
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
}

/// What a call came to, typed: the HTTP wrapper counts it, then renders it.
pub type Answer = Result<protocol::Response, Refusal>;

/// Why a call was not carried out.
#[derive(Debug)]
pub enum Refusal {
    /// An AWS error, rendered in the caller's protocol.
    Error(ApiError),
    /// A queue's URL opened without an action: recorded on AWS as a 404 with the body
    /// `<UnknownOperationException/>`, whatever the Accept header.
    NoAction,
}

impl Refusal {
    /// The code the call is counted and logged under: the AWS query error code.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Error(e) => e.code.info().query_code,
            Refusal::NoAction => "UnknownOperationException",
        }
    }
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal::Error(e)
    }
}

pub fn protocol_of(headers: &HeaderMap) -> Protocol {
    let accepts_json =
        || headers.get_all(ACCEPT).iter().filter_map(|v| v.to_str().ok()).any(|v| v.contains("application/json"));
    // A JSON 1.0 body without X-Amz-Target still gets a JSON answer (an unknown operation).
    let json_body = || {
        headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/x-amz-json"))
    };
    if headers.contains_key("x-amz-target") || json_body() {
        Protocol::Json
    } else if accepts_json() {
        Protocol::QueryJson
    } else {
        Protocol::Query
    }
}

/// Actions that name their queue by QueueUrl (a Query request may put it in the path instead).
fn takes_queue_url(action: Action) -> bool {
    !matches!(
        action,
        Action::CreateQueue
            | Action::GetQueueUrl
            | Action::ListQueues
            | Action::StartMessageMoveTask
            | Action::ListMessageMoveTasks
            | Action::CancelMessageMoveTask
    )
}

/// Decode and dispatch one call; returns the action (once it is known) and the answer.
pub async fn handle(ctx: &mut Ctx<'_>, call: Call<'_>) -> (Option<Action>, Answer) {
    let on_queue_path = call.path.trim_matches('/').contains('/');
    let params = match call.protocol {
        Protocol::Query | Protocol::QueryJson => query_params(&call),
        Protocol::Json => Vec::new(),
    };
    let names_action = params.iter().any(|(k, _)| k == "Action");
    if call.protocol.is_query() && call.method == Method::GET && on_queue_path && !names_action {
        return (None, Err(Refusal::NoAction));
    }
    let action = match call.protocol {
        Protocol::Json => {
            json::action_from_target(call.headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or(""))
        }
        Protocol::Query | Protocol::QueryJson => query_action(&params),
    };
    let action = match action {
        Ok(a) => a,
        Err(e) => return (None, Err(e.into())),
    };
    ctx.acting(action.name());
    let ctx = &*ctx;
    let answer = async {
        let tree = match call.protocol {
            Protocol::Json => json::parse_body(&call.body)?,
            Protocol::Query | Protocol::QueryJson => {
                // A queue's URL refuses account-level actions (recorded on AWS).
                if on_queue_path && matches!(action, Action::CreateQueue | Action::ListQueues) {
                    return Err(ApiError::not_valid_for_endpoint(ErrorCode::InvalidAction, action.name()));
                }
                let mut tree = query::decode(action, &params)?;
                if takes_queue_url(action) && on_queue_path {
                    if let Some(obj) = tree.as_object_mut() {
                        obj.entry("QueueUrl").or_insert_with(|| format!("{}{}", ctx.base_url, call.path).into());
                    }
                }
                tree
            }
        };
        dispatch(ctx, protocol::decode(action, tree)?).await.map_err(|f| f.0)
    }
    .await;
    (Some(action), answer.map_err(Refusal::Error))
}

/// The action a Query request names in its `Action` parameter.
fn query_action(params: &[(String, String)]) -> Result<Action, ApiError> {
    let name = params
        .iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| ApiError::new(ErrorCode::MissingAction, protocol::error::must_contain("Action")))?;
    Action::from_name(name).ok_or_else(|| ApiError::not_valid_for_endpoint(ErrorCode::InvalidAction, name))
}

/// An answer as the caller's protocol writes it.
pub fn render(protocol: Protocol, action: Option<Action>, answer: &Answer, request_id: &str) -> Response<Full<Bytes>> {
    match answer {
        Ok(out) => success(protocol, action, out, request_id),
        Err(Refusal::Error(e)) => error(protocol, e, request_id),
        Err(Refusal::NoAction) => {
            respond(StatusCode::NOT_FOUND, "text/xml", request_id, b"<UnknownOperationException/>".to_vec())
        }
    }
}

/// A Query request's parameters: the query string's, then a POSTed form's.
pub(crate) fn query_params(call: &Call<'_>) -> Vec<(String, String)> {
    let mut params = call.query.map(|q| query::parse_params(q.as_bytes())).unwrap_or_default();
    if call.method == Method::POST {
        params.extend(query::parse_params(&call.body));
    }
    params
}

fn respond(status: StatusCode, content_type: &'static str, request_id: &str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    r
}

fn success(
    protocol: Protocol,
    action: Option<Action>,
    out: &protocol::types::Response,
    request_id: &str,
) -> Response<Full<Bytes>> {
    match (protocol, action) {
        // JSON actions without output members answer with an empty body, as AWS does.
        (Protocol::Json, _) if out.is_empty() => respond(StatusCode::OK, json::CONTENT_TYPE, request_id, Vec::new()),
        (Protocol::Query, Some(a)) => respond(
            StatusCode::OK,
            "text/xml",
            request_id,
            query::encode_response(a, &out.to_value(), request_id).into_bytes(),
        ),
        (Protocol::QueryJson, Some(a)) => respond(
            StatusCode::OK,
            "application/json",
            request_id,
            query::encode_response_json(a, &out.to_value(), request_id).to_string().into_bytes(),
        ),
        _ => respond(StatusCode::OK, json::CONTENT_TYPE, request_id, out.to_json()),
    }
}

/// An AWS error in the caller's protocol.
fn error(protocol: Protocol, e: &ApiError, request_id: &str) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(e.code.info().status).unwrap_or(StatusCode::BAD_REQUEST);
    match protocol {
        Protocol::Json => {
            let mut r = respond(status, json::CONTENT_TYPE, request_id, json::encode_error(e));
            if let Ok(v) = HeaderValue::from_str(&json::query_error_header(e)) {
                r.headers_mut().insert("x-amzn-query-error", v);
            }
            r
        }
        Protocol::QueryJson => {
            let body = query::encode_error_json(e, request_id).to_string().into_bytes();
            respond(status, "application/json", request_id, body)
        }
        Protocol::Query => respond(status, "text/xml", request_id, query::encode_error(e, request_id).into_bytes()),
    }
}

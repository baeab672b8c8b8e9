//! The HTTP wrapper every request goes through: size limits, request id, logging,
//! the service endpoints (/health, /ready, /metrics, the test clock) and the SQS handler,
//! whose typed answer it counts (by AWS error code) before rendering it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use engine::{Caller, Engine, ManualClock};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, HOST};
use hyper::{Method, Request, Response, StatusCode};
use protocol::{ApiError, ErrorCode};

use crate::config::Config;
use crate::dispatch::Ctx;
use crate::request_log::Seen;
use crate::sqs;

/// Largest request body accepted. A 1 MiB batch can triple in size when form-encoded.
pub const MAX_BODY: usize = 5 * 1024 * 1024;
/// Largest request head (request line and headers) hyper will buffer.
pub const MAX_HEAD: usize = 64 * 1024;
/// How long a connection may sit idle between requests, or take to send a request's head.
pub const IDLE_TIMEOUT_S: u64 = 120;
/// How long a request body may take to arrive once its headers have.
pub const BODY_TIMEOUT_MS: u64 = 30_000;
/// Request bodies being read at once, across all connections, in KiB: a bound on the memory
/// that slow or stalled uploads can hold (a body waits for its share of it).
pub const BODY_BUDGET_KIB: usize = 256 * 1024;

pub struct App {
    pub engine: Arc<Engine>,
    pub config: Config,
    pub manual_clock: Option<ManualClock>,
    pub local_addr: SocketAddr,
    pub metrics: crate::metrics::Metrics,
    pub body_budget: tokio::sync::Semaphore,
    /// Who may use the console's API endpoint.
    pub console: crate::console::access::Access,
    /// Queue depths over the last hour, for the extension API (the console's chart).
    pub depth: Arc<crate::depth::History>,
    /// Signature checks, when a credentials file is given; `None`: any caller is the account.
    pub auth: Option<crate::auth::Auth>,
    /// TLS on the listener, when a certificate and key are given.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Console sign-ins (used when there is a credentials file).
    pub sessions: crate::console::session::Sessions,
}

/// The console's sign-in: `{"AccessKeyId", "SecretAccessKey"}` of a key of the credentials
/// file starts a session (its cookie); a wrong pair answers 403 as the API refuses a key.
async fn sign_in(app: &App, req: Request<Incoming>) -> Response<Full<Bytes>> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Input {
        access_key_id: String,
        secret_access_key: String,
    }
    let refuse = |code: protocol::ErrorCode, message: &str| {
        let answer: Result<serde_json::Value, ApiError> = Err(ApiError::new(code, message));
        crate::extension::render(&answer, &uuid::Uuid::new_v4().to_string())
    };
    let (_, body) = req.into_parts();
    let body = match read_body(app, body, None).await {
        Ok(b) => b,
        Err(e) => return crate::extension::render(&Err(e), &uuid::Uuid::new_v4().to_string()),
    };
    let Ok(input) = serde_json::from_slice::<Input>(&body) else {
        return refuse(protocol::ErrorCode::SerializationException, "Give AccessKeyId and SecretAccessKey.");
    };
    let Some(caller) = app.auth.as_ref().and_then(|a| a.sign_in(&input.access_key_id, &input.secret_access_key)) else {
        return refuse(protocol::ErrorCode::AccessDenied, "The access key or its secret is wrong.");
    };
    let account = caller.account.clone();
    let id = app.sessions.start(caller, app.engine.clock().now());
    let answer = Ok(serde_json::json!({ "Account": account }));
    let mut r = crate::extension::render(&answer, &uuid::Uuid::new_v4().to_string());
    let cookie = crate::console::session::set_cookie(Some(&id), app.tls.is_some());
    if let Ok(v) = hyper::header::HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(hyper::header::SET_COOKIE, v);
    }
    r.headers_mut().insert(hyper::header::CACHE_CONTROL, hyper::header::HeaderValue::from_static("no-store"));
    r
}

/// The console's sign-out: the session ends and its cookie is cleared.
fn sign_out(app: &App, req: Request<Incoming>) -> Response<Full<Bytes>> {
    app.sessions.end(req.headers());
    let mut r = crate::extension::render(&Ok(serde_json::json!({})), &uuid::Uuid::new_v4().to_string());
    let cookie = crate::console::session::set_cookie(None, app.tls.is_some());
    if let Ok(v) = hyper::header::HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(hyper::header::SET_COOKIE, v);
    }
    r
}

/// Whether a /metrics request may read: no token configured, or the request's bearer token is
/// it (compared in constant time).
fn metrics_allowed(token: &Option<String>, headers: &hyper::HeaderMap) -> bool {
    use subtle::ConstantTimeEq;
    let Some(token) = token else { return true };
    let given = headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    bool::from(given.as_bytes().ct_eq(token.as_bytes()))
}

/// The address a connection came from, kept with each of its requests.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

pub async fn serve(app: Arc<App>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let cors = crate::cors::allowed_origin(&app.config.cors_origins, req.headers());
    let console_path = crate::console::owns(&path);
    let mut response = match (&method, path.as_str()) {
        // The console: its pages, and its API endpoint once the access check passes, which is
        // then served exactly as an API call on `/`.
        (_, p) if console_path => {
            let own_origin = match &app.config.public_url {
                Some(url) => crate::console::origin_of(url).to_string(),
                None => request_base_url(req.headers(), &app),
            };
            let signin = app
                .auth
                .as_ref()
                .map(|_| crate::console::SignIn { sessions: &app.sessions, now: app.engine.clock().now() });
            match crate::console::route(&app.console, &method, p, req.headers(), &own_origin, signin) {
                crate::console::Route::Respond(r) => r,
                crate::console::Route::Api(caller) => api_call(&app, req, &request_id, caller).await,
                crate::console::Route::SignIn => sign_in(&app, req).await,
                crate::console::Route::SignOut => sign_out(&app, req),
            }
        }
        (_, "/") if crate::console::is_browser_visit(&method, req.headers(), req.uri().query()) => {
            crate::console::redirect_to_console()
        }
        (&Method::OPTIONS, _) if cors.is_some() => crate::cors::preflight(req.headers()),
        (&Method::GET | &Method::HEAD, "/health") => plain(StatusCode::OK, "OK"),
        // Ready: requests can change something. Not while the store refuses commits (until it
        // heals), so a load balancer sends traffic elsewhere meanwhile.
        (&Method::GET | &Method::HEAD, "/ready") if app.engine.accepts_changes() => plain(StatusCode::OK, "OK"),
        (&Method::GET | &Method::HEAD, "/ready") => {
            plain(StatusCode::SERVICE_UNAVAILABLE, "the store refuses changes (disk full or failing); retrying")
        }
        (&Method::GET | &Method::HEAD, "/metrics") => {
            if metrics_allowed(&app.config.metrics_token, req.headers()) {
                crate::metrics::response(&app.metrics, &app.engine)
            } else {
                let mut r = plain(StatusCode::UNAUTHORIZED, "/metrics needs Authorization: Bearer <the metrics token>");
                r.headers_mut()
                    .insert(hyper::header::WWW_AUTHENTICATE, hyper::header::HeaderValue::from_static("Bearer"));
                r
            }
        }
        (_, "/_redrive/clock/advance") => advance_clock(&app, req.uri().query()),
        // The SQS API is GET and POST only. Any other method runs nothing; so does a CORS
        // preflight from an origin not allowed (`--cors-origin`), which gets no CORS headers,
        // so browsers keep that site's pages away from this server.
        (m, _) if m != Method::GET && m != Method::POST => {
            let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "the SQS API takes GET and POST");
            r.headers_mut().insert(hyper::header::ALLOW, hyper::header::HeaderValue::from_static("GET, POST"));
            r
        }
        _ => api_call(&app, req, &request_id, None).await,
    };
    // Console responses never carry CORS headers: no other origin may read the page's token.
    if let Some(origin) = cors.filter(|_| !console_path) {
        crate::cors::allow(&mut response, origin);
    }
    Ok(response)
}

/// An SQS (or extension) API call: counted from the typed answer, then rendered in the
/// protocol detected here, and logged.
/// `as_caller`: a console session's caller, which takes the place of the request's signature.
async fn api_call(
    app: &App,
    req: Request<Incoming>,
    request_id: &str,
    as_caller: Option<engine::Caller>,
) -> Response<Full<Bytes>> {
    let timer = crate::metrics::Timer::start();
    let (action, code, response, seen) = match crate::extension::target(req.headers()).map(str::to_string) {
        Some(target) => {
            let answer = extension_call(app, req, &target, as_caller).await;
            let code = answer.as_ref().err().map(|e| e.code.info().query_code);
            let seen = Seen { requested: Some(target), ..Seen::default() };
            (None, code, crate::extension::render(&answer, request_id), seen)
        }
        None => {
            let protocol = sqs::protocol_of(req.headers());
            let (action, answer, seen) = sqs_call(app, req, protocol, as_caller).await;
            let code = answer.as_ref().err().map(sqs::Refusal::code);
            (action, code, sqs::render(protocol, action, &answer, request_id), seen)
        }
    };
    let elapsed = timer.elapsed();
    app.metrics.record(action, code, elapsed);
    // Logged under the name /metrics counts it by; an action not known is counted as
    // Unknown (a bounded set of series) and logged with the name it was called by too.
    let requested = seen.requested.as_deref().filter(|_| action.is_none()).map(tracing::field::display);
    macro_rules! log_request {
        ($level:expr, $($params:tt)*) => {
            tracing::event!(
                $level,
                request_id = %request_id,
                action = %action.map_or(crate::metrics::UNKNOWN_ACTION, |a| a.name()),
                requested_action = requested,
                queue = seen.queue.as_deref().map(tracing::field::display),
                $($params)*
                status = response.status().as_u16(),
                code = %code.unwrap_or("OK"),
                ms = elapsed.as_micros() as f64 / 1000.0,
                "request"
            )
        };
    }
    match &seen.params {
        Some(params) => log_request!(tracing::Level::TRACE, params = %params,),
        None => log_request!(tracing::Level::DEBUG,),
    }
    response
}

/// A request's head, its body (read within the limits) and what handlers know of the call.
async fn prepare(
    app: &App,
    req: Request<Incoming>,
    as_caller: Option<engine::Caller>,
) -> Result<(hyper::http::request::Parts, Bytes, Ctx<'_>), ApiError> {
    let (parts, body) = req.into_parts();
    let declared = parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared.filter(|n| *n > MAX_BODY as u64) {
        drain(body, n).await;
        return Err(too_large());
    }
    let body = read_body(app, body, declared).await?;
    let base_url = match &app.config.public_url {
        Some(url) => url.clone(),
        None => request_base_url(&parts.headers, app),
    };
    let ctx = Ctx {
        engine: &app.engine,
        base_url,
        caller: {
            let mut caller = match (as_caller, &app.auth) {
                (Some(signed_in), _) => signed_in,
                (None, Some(auth)) => auth.verify(&parts, &body, app.engine.clock().now())?,
                (None, None) => caller(&parts.headers, parts.uri.query(), &app.config.account_id),
            };
            // The action is named once the request is decoded (`Ctx::acting`).
            caller.call = Some(engine::Call {
                action: String::new(),
                source_ip: parts.extensions.get::<Peer>().map(|p| p.0.ip()),
                secure_transport: app.tls.is_some(),
            });
            caller
        },
        trace_header: parts.headers.get("x-amzn-trace-id").and_then(|v| v.to_str().ok()).map(str::to_string),
    };
    Ok((parts, body, ctx))
}

/// An SQS call, with what the log shows of it (read only while the log would show it).
async fn sqs_call(
    app: &App,
    req: Request<Incoming>,
    protocol: sqs::Protocol,
    as_caller: Option<engine::Caller>,
) -> (Option<protocol::Action>, sqs::Answer, Seen) {
    let (parts, body, mut ctx) = match prepare(app, req, as_caller).await {
        Ok(p) => p,
        Err(e) => return (None, Err(e.into()), Seen::default()),
    };
    let call = sqs::Call {
        protocol,
        method: &parts.method,
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        body,
    };
    let seen = if tracing::enabled!(tracing::Level::DEBUG) {
        crate::request_log::seen(&call, tracing::enabled!(tracing::Level::TRACE))
    } else {
        Seen::default()
    };
    let (action, answer) = sqs::handle(&mut ctx, call).await;
    (action, answer, seen)
}

/// A `Redrive_v1.<Op>` call (docs/extension-api.md).
async fn extension_call(
    app: &App,
    req: Request<Incoming>,
    target: &str,
    as_caller: Option<engine::Caller>,
) -> Result<serde_json::Value, ApiError> {
    let (_, body, mut ctx) = prepare(app, req, as_caller).await?;
    crate::extension::call(&mut ctx, &app.depth, target, &body).await
}

/// `scheme://host` as the client reached this server: from a proxy's `X-Forwarded-Proto` and
/// `X-Forwarded-Host` when it set them (TLS ends at the proxy), else `Host`, with `https://`
/// when the server itself serves TLS and `http://` otherwise.
fn request_base_url(headers: &hyper::HeaderMap, app: &App) -> String {
    let first = |name: &str| {
        let value = headers.get(name).and_then(|v| v.to_str().ok())?;
        value.split(',').next().map(str::trim).filter(|v| !v.is_empty())
    };
    let scheme = match first("x-forwarded-proto") {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ if app.tls.is_some() => "https",
        _ => "http",
    };
    match first("x-forwarded-host").or_else(|| first(HOST.as_str())) {
        Some(host) => format!("{scheme}://{host}"),
        None => format!("{scheme}://{}", app.local_addr),
    }
}

/// Read a request body: at most MAX_BODY bytes, within BODY_TIMEOUT_MS of real time (a
/// connection deadline, like hyper's for headers, not SQS time), holding its share of the
/// body budget (its declared length, else the largest body) while it arrives.
async fn read_body(app: &App, body: Incoming, declared: Option<u64>) -> Result<Bytes, ApiError> {
    // A request without a body (a GET) takes no share.
    let expected = declared.or_else(|| hyper::body::Body::size_hint(&body).exact());
    let kib = expected.map_or(MAX_BODY, |n| n as usize).div_ceil(1024).min(BODY_BUDGET_KIB) as u32;
    let read = async {
        let _share = if kib > 0 { Some(app.body_budget.acquire_many(kib).await) } else { None };
        Limited::new(body, MAX_BODY).collect().await
    };
    match tokio::time::timeout(std::time::Duration::from_millis(BODY_TIMEOUT_MS), read).await {
        Ok(Ok(b)) => Ok(b.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(_)) => Err(ApiError::new(ErrorCode::SerializationException, "The request body could not be read.")),
        Err(_) => Err(ApiError::new(
            ErrorCode::RequestTimeout,
            format!("The request body did not arrive within {} s.", BODY_TIMEOUT_MS / 1000),
        )),
    }
}

/// Bodies a refused request may send before its 413, read and thrown away.
const DRAIN_MAX: u64 = 32 * 1024 * 1024;
/// A refused body that stops arriving for this long is not waited for any more.
const DRAIN_IDLE_MS: u64 = 2000;

/// Read and discard a body too large to take (nothing is kept), so that a client still sending
/// it then reads the 413 rather than a connection reset under it: closing a socket with unread
/// data resets it. Not past DRAIN_MAX bytes, a pause of DRAIN_IDLE_MS, or the body timeout.
#[allow(clippy::disallowed_methods)] // connection pacing is real time, not SQS time
async fn drain(mut body: Incoming, declared: u64) {
    use http_body_util::BodyExt;
    if declared > DRAIN_MAX {
        return;
    }
    let idle = std::time::Duration::from_millis(DRAIN_IDLE_MS);
    let read = async { while let Ok(Some(Ok(_))) = tokio::time::timeout(idle, body.frame()).await {} };
    let _ = tokio::time::timeout(std::time::Duration::from_millis(BODY_TIMEOUT_MS), read).await;
}

pub(crate) fn too_large() -> ApiError {
    ApiError::new(ErrorCode::RequestEntityTooLarge, format!("Request body is larger than {MAX_BODY} bytes."))
}

/// An API error answered without a call: rendered as the request's protocol would have it
/// (an extension call's JSON, or the SQS protocol its headers name).
pub(crate) fn refuse(headers: &hyper::HeaderMap, error: ApiError) -> Response<Full<Bytes>> {
    let request_id = uuid::Uuid::new_v4().to_string();
    match crate::extension::target(headers) {
        Some(_) => crate::extension::render(&Err(error), &request_id),
        None => sqs::render(sqs::protocol_of(headers), None, &Err(error.into()), &request_id),
    }
}

/// 503 ServiceUnavailable (which SDKs retry), saying why.
pub(crate) fn unavailable(headers: &hyper::HeaderMap, why: &str) -> Response<Full<Bytes>> {
    refuse(headers, ApiError::new(ErrorCode::ServiceUnavailable, why))
}

/// Who is asking: the one account, with the access key id the request names — from a SigV4
/// `Authorization` header, or the query string of a presigned request (`X-Amz-Credential`,
/// or SigV2's `AWSAccessKeyId`). Signatures are not checked (any credentials are accepted).
fn caller(headers: &hyper::HeaderMap, query: Option<&str>, account: &str) -> Caller {
    let from_header = headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1))
        .and_then(|c| c.split('/').next())
        .map(str::to_string);
    let from_query = || {
        let params = form_pairs(query?);
        let found = params.into_iter().find(|(k, _)| k == "X-Amz-Credential" || k == "AWSAccessKeyId")?;
        found.1.split('/').next().map(str::to_string)
    };
    let access_key =
        from_header.or_else(from_query).filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric()));
    Caller::new(account, access_key)
}

fn advance_clock(app: &App, query: Option<&str>) -> Response<Full<Bytes>> {
    let Some(clock) = &app.manual_clock else {
        return plain(StatusCode::NOT_FOUND, "the manual clock is off (start with --manual-clock)");
    };
    let ms = query.into_iter().flat_map(form_pairs).find(|(k, _)| k == "ms").and_then(|(_, v)| v.parse::<u64>().ok());
    match ms {
        Some(ms) => {
            let now = clock.advance(std::time::Duration::from_millis(ms));
            json_ok(format!("{{\"now_ms\":{now}}}"))
        }
        None => plain(StatusCode::BAD_REQUEST, "give ?ms=N"),
    }
}

fn form_pairs(q: &str) -> Vec<(String, String)> {
    protocol::query::parse_params(q.as_bytes())
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain"));
    r
}

fn json_ok(body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    r
}

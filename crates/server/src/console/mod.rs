//! The web console at `/console`: static pages embedded in the binary, and one guarded API
//! endpoint.
//!
//! The pages (`crates/server/console/`: plain HTML, CSS and JavaScript, no framework and no
//! build step) are compiled in with `include_str!`, so `cargo run` serves them with nothing
//! fetched at run time. The console holds no SQS rule: its script calls `POST /console/api`
//! with the JSON 1.0 protocol (`X-Amz-Target: AmazonSQS.<Action>`, or `Redrive_v1.<Op>` for
//! the extension API), and once `access` lets a request through, the HTTP wrapper hands it to
//! the very code path that serves the SQS API on `/` — the same decoding, validation, engine
//! calls and error words.
//!
//! Console responses carry a strict Content-Security-Policy (scripts and styles from this
//! origin only, no inline script) and never CORS headers, so no other origin can read the page
//! or the token in it.

pub mod access;
pub mod session;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderMap, HeaderValue, ACCEPT, CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use hyper::{Method, Response, StatusCode};
use protocol::{ApiError, ErrorCode};

/// Where the console lives.
pub const PATH: &str = "/console";
/// The console's API endpoint.
pub const API_PATH: &str = "/console/api";

const INDEX_HTML: &str = include_str!("../../console/index.html");
const CONSOLE_JS: &str = include_str!("../../console/console.js");
const CONSOLE_CSS: &str = include_str!("../../console/console.css");
const FAVICON_SVG: &str = include_str!("../../console/favicon.svg");

/// Placeholder in index.html replaced by the console token.
const TOKEN_SLOT: &str = "{{console-token}}";
/// Placeholder in index.html replaced by `signin` (a credentials file: sign in first) or `open`.
const AUTH_SLOT: &str = "{{console-auth}}";
/// Sign-in, sign-out and the session's account.
pub const SIGN_IN_PATH: &str = "/console/signin";
pub const SIGN_OUT_PATH: &str = "/console/signout";
pub const SESSION_PATH: &str = "/console/session";

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Whether a path belongs to the console.
pub fn owns(path: &str) -> bool {
    path == PATH || path.starts_with("/console/")
}

/// A browser opening the server's root: `GET /` with no query, asking for HTML, naming no
/// action. SDKs and the CLI never send that, so they keep today's answers.
pub fn is_browser_visit(method: &Method, headers: &HeaderMap, query: Option<&str>) -> bool {
    let wants_html = headers.get_all(ACCEPT).iter().filter_map(|v| v.to_str().ok()).any(|v| v.contains("text/html"));
    method == Method::GET && query.is_none_or(str::is_empty) && wants_html && !headers.contains_key("x-amz-target")
}

pub fn redirect_to_console() -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SEE_OTHER;
    r.headers_mut().insert(LOCATION, HeaderValue::from_static("console"));
    r
}

/// What the HTTP wrapper does with a console request.
pub enum Route {
    /// Answer with this (a page, an asset, a refusal).
    Respond(Response<Full<Bytes>>),
    /// The access check passed: serve it as an SQS / extension API call, as this signed-in
    /// caller (`None`: a server without credentials, where every caller is its account).
    Api(Option<engine::Caller>),
    /// The access check passed: sign in with the key and secret in the body.
    SignIn,
    /// The access check passed: end the session.
    SignOut,
}

/// Sign-in state, for a server with a credentials file.
pub struct SignIn<'a> {
    pub sessions: &'a session::Sessions,
    pub now: engine::Millis,
}

/// Route a request whose path the console `owns`. `own_origin`: `scheme://host[:port]` as the
/// caller reached this server; `signin`: the sessions when the console needs a sign-in.
pub fn route(
    access: &access::Access,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    own_origin: &str,
    signin: Option<SignIn<'_>>,
) -> Route {
    let get = method == Method::GET || method == Method::HEAD;
    let page = |body: String, content_type: &'static str| Route::Respond(asset(body, content_type));
    match path {
        API_PATH if method == Method::POST => {
            // JSON 1.0 only: the console speaks nothing else, and a Query form post is what a
            // cross-site HTML form could send.
            let json = headers.contains_key("x-amz-target")
                && headers
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("application/x-amz-json-1.0"));
            match access.check(headers, own_origin) {
                Ok(_) if !json => Route::Respond(refusal(
                    ErrorCode::UnknownOperation,
                    "The console API takes the JSON 1.0 protocol (X-Amz-Target).",
                )),
                Ok(_) => match &signin {
                    None => Route::Api(None),
                    Some(s) => match s.sessions.caller(headers, s.now) {
                        Some(caller) => Route::Api(Some(caller)),
                        None => Route::Respond(refusal(ErrorCode::AccessDenied, "Sign in to the console first.")),
                    },
                },
                Err(denied) => Route::Respond(refusal(ErrorCode::AccessDenied, denied.message())),
            }
        }
        SIGN_IN_PATH | SIGN_OUT_PATH if method == Method::POST => match access.check(headers, own_origin) {
            Err(denied) => Route::Respond(refusal(ErrorCode::AccessDenied, denied.message())),
            Ok(_) if signin.is_none() => {
                Route::Respond(refusal(ErrorCode::InvalidAction, "This server has no credentials file: no sign-in."))
            }
            Ok(_) if path == SIGN_IN_PATH => Route::SignIn,
            Ok(_) => Route::SignOut,
        },
        SESSION_PATH if get => {
            let account = signin.as_ref().and_then(|s| s.sessions.caller(headers, s.now)).map(|c| c.account);
            let body = serde_json::json!({ "SignedIn": account.is_some(), "Account": account }).to_string();
            page(body, "application/json")
        }
        PATH if get => {
            let auth = if signin.is_some() { "signin" } else { "open" };
            page(INDEX_HTML.replace(TOKEN_SLOT, access.token()).replace(AUTH_SLOT, auth), "text/html; charset=utf-8")
        }
        // Relative links in the page resolve against `/console`, not `/console/`.
        "/console/" if get => {
            let mut r = redirect_to_console();
            r.headers_mut().insert(LOCATION, HeaderValue::from_static("../console"));
            Route::Respond(r)
        }
        "/console/console.js" if get => page(CONSOLE_JS.to_string(), "text/javascript; charset=utf-8"),
        "/console/console.css" if get => page(CONSOLE_CSS.to_string(), "text/css; charset=utf-8"),
        "/console/favicon.svg" if get => page(FAVICON_SVG.to_string(), "image/svg+xml"),
        _ if get || method == Method::POST => Route::Respond(plain(StatusCode::NOT_FOUND, "no such console page")),
        _ => {
            let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "the console takes GET (pages) and POST (its API)");
            r.headers_mut().insert(hyper::header::ALLOW, HeaderValue::from_static("GET, POST"));
            Route::Respond(r)
        }
    }
}

fn asset(body: String, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    // The page carries a per-process token and the assets change with the binary.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = asset(text.to_string(), "text/plain; charset=utf-8");
    *r.status_mut() = status;
    r
}

/// A refusal in the API's own error shape, so the console shows it like any other error.
fn refusal(code: ErrorCode, message: &str) -> Response<Full<Bytes>> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let refusal = crate::sqs::Refusal::Error(ApiError::new(code, message));
    crate::sqs::render(crate::sqs::Protocol::Json, None, &Err(refusal), &request_id)
}

/// `scheme://host[:port]` of a URL (the origin a browser sends for pages under it).
pub fn origin_of(url: &str) -> &str {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host_end = rest.find('/').map_or(url.len(), |i| scheme.len() + 3 + i);
            &url[..host_end]
        }
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_origin_of_a_public_url_drops_its_path() {
        assert_eq!(origin_of("https://example.test/sqs"), "https://example.test");
        assert_eq!(origin_of("http://127.0.0.1:9324"), "http://127.0.0.1:9324");
    }

    #[test]
    fn only_a_plain_browser_get_of_the_root_is_a_visit() {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT, HeaderValue::from_static("text/html,application/xhtml+xml,*/*;q=0.8"));
        assert!(is_browser_visit(&Method::GET, &h, None));
        assert!(!is_browser_visit(&Method::GET, &h, Some("Action=ListQueues")));
        assert!(!is_browser_visit(&Method::POST, &h, None));
        assert!(!is_browser_visit(&Method::GET, &HeaderMap::new(), None));
    }

    #[test]
    fn the_page_carries_the_token_and_no_inline_script() {
        let access = access::Access::new();
        let Route::Respond(r) = route(&access, &Method::GET, PATH, &HeaderMap::new(), "http://x", None) else {
            panic!("a page")
        };
        assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
        assert!(INDEX_HTML.contains(TOKEN_SLOT));
        assert!(!INDEX_HTML.contains("<script>"), "every script is a file (CSP: no inline script)");
    }
}

//! CORS, for pages that call the API from a browser (the AWS SDK for JavaScript there). Off
//! unless origins are configured: the server takes any credentials, so without this any web
//! page a developer visits could use a local server through the browser.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{
    HeaderMap, HeaderValue, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS, ORIGIN, VARY,
};
use hyper::{Response, StatusCode};

/// The request's `Origin` when it is one of `allowed` (or `allowed` holds `*`).
pub fn allowed_origin(allowed: &[String], headers: &HeaderMap) -> Option<HeaderValue> {
    if allowed.is_empty() {
        return None;
    }
    let origin = headers.get(ORIGIN)?;
    let text = origin.to_str().ok()?;
    allowed.iter().any(|a| a == "*" || a.trim_end_matches('/') == text).then(|| origin.clone())
}

/// The answer to a preflight from an allowed origin: the SQS methods, and whatever headers
/// the SDK asked to send (it signs several of its own).
pub fn preflight(headers: &HeaderMap) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::NO_CONTENT;
    let h = r.headers_mut();
    h.insert(ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST"));
    if let Some(asked) = headers.get(ACCESS_CONTROL_REQUEST_HEADERS) {
        h.insert(ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    r
}

/// Let the page read the answer, and the headers the SDKs read errors and ids from.
pub fn allow(response: &mut Response<Full<Bytes>>, origin: HeaderValue) {
    let h = response.headers_mut();
    h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("x-amzn-requestid, x-amzn-query-error"));
    h.insert(VARY, HeaderValue::from_static("Origin"));
}

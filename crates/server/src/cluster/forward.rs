//! Forwarding a request to the leader, as received, and relaying its answer.
//!
//! The request goes unchanged (method, path and query, headers, body), so its SigV4 signature
//! verifies at the leader, `Host` included. Two headers are added, outside what a signature
//! covers: the client's address and the cluster's token, which only nodes know (it is in the
//! database); the leader takes the address for queue policies' `aws:SourceIp` only with the
//! right token, and a request that carries them is never forwarded a second time.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response};

use crate::http;

/// How long a request waits for a leader to serve it (a takeover takes the lease's ttl).
pub const WAIT: Duration = Duration::from_secs(10);
/// The client's address, as the first node saw it.
const CLIENT: HeaderName = HeaderName::from_static("x-redrive-forwarded-for");
/// The cluster's token: proof that a node forwarded the request.
const TOKEN: HeaderName = HeaderName::from_static("x-redrive-cluster-token");
/// On a 503 from a node that no longer leads: the request was not applied, so the forwarding
/// node may send it to the next leader.
pub const NOT_LEADER: HeaderName = HeaderName::from_static("x-redrive-not-leader");
/// Hop-by-hop headers, which belong to one connection and are not forwarded.
const HOP_BY_HOP: [&str; 8] =
    ["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "content-length"];

/// What a request says of its forwarding, read (and removed) when it arrives.
pub struct Forwarded {
    /// It came from another node (with the right token).
    pub marked: bool,
    /// The client's address, as that node saw it.
    pub client: Option<SocketAddr>,
}

impl Forwarded {
    /// Remove the forwarding headers from `req`; believe them only with the cluster's `token`.
    pub fn take<B>(req: &mut Request<B>, token: Option<&str>) -> Forwarded {
        use subtle::ConstantTimeEq;
        let headers = req.headers_mut();
        let given = headers.remove(TOKEN);
        let client = headers.remove(CLIENT);
        let trusted = match (given, token) {
            (Some(given), Some(token)) => bool::from(given.as_bytes().ct_eq(token.as_bytes())),
            _ => false,
        };
        Forwarded { marked: trusted, client: client.filter(|_| trusted).and_then(|c| c.to_str().ok()?.parse().ok()) }
    }
}

/// How a forward went.
pub enum Outcome {
    /// The leader answered: its answer.
    Answered(Response<Full<Bytes>>),
    /// The leader could not be reached (nothing was sent): another may be tried.
    Unreached(String),
    /// The request was sent but its answer was lost: it may have been applied, so it is not
    /// sent again; the client decides, as after a lost answer from AWS.
    Broken(Response<Full<Bytes>>),
}

pub struct Forwarder {
    client: reqwest::Client,
}

impl Forwarder {
    pub fn new() -> Result<Forwarder, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            // A long poll waits up to 20 s at the leader; a forward never waits much longer.
            .timeout(Duration::from_secs(60))
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(|e| format!("cannot build the forwarding client: {e}"))?;
        Ok(Forwarder { client })
    }

    pub async fn send(
        &self,
        leader: &str,
        token: &str,
        parts: &hyper::http::request::Parts,
        body: Bytes,
        client: Option<SocketAddr>,
    ) -> Outcome {
        let target = match parts.uri.path_and_query() {
            Some(pq) => format!("{leader}{pq}"),
            None => leader.to_string(),
        };
        let mut headers = parts.headers.clone();
        for name in HOP_BY_HOP {
            headers.remove(name);
        }
        if let Ok(token) = HeaderValue::from_str(token) {
            headers.insert(TOKEN, token);
        }
        if let Some(value) = client.and_then(|c| HeaderValue::from_str(&c.to_string()).ok()) {
            headers.insert(CLIENT, value);
        }
        let sent = self.client.request(parts.method.clone(), target).headers(headers).body(body).send().await;
        let answer = match sent {
            Ok(answer) => answer,
            Err(e) if e.is_connect() => return Outcome::Unreached(e.to_string()),
            Err(e) => {
                return Outcome::Broken(http::unavailable(
                    &parts.headers,
                    &format!("the leader's answer was lost ({e})"),
                ))
            }
        };
        if answer.headers().contains_key(NOT_LEADER) {
            return Outcome::Unreached(format!("{leader} no longer leads"));
        }
        let (status, mut answer_headers) = (answer.status(), answer.headers().clone());
        match answer.bytes().await {
            Ok(bytes) => {
                for name in HOP_BY_HOP {
                    answer_headers.remove(name);
                }
                let mut r = Response::new(Full::new(bytes));
                *r.status_mut() = status;
                *r.headers_mut() = answer_headers;
                Outcome::Answered(r)
            }
            Err(e) => {
                Outcome::Broken(http::unavailable(&parts.headers, &format!("the leader's answer was lost ({e})")))
            }
        }
    }
}

/// A request's body, read within the server's limits before it is forwarded (so that it can be
/// sent again if the leader cannot be reached); a body too large is answered 413 here.
pub async fn read_body(parts: &hyper::http::request::Parts, body: Incoming) -> Result<Bytes, Response<Full<Bytes>>> {
    let read = Limited::new(body, http::MAX_BODY).collect();
    match tokio::time::timeout(Duration::from_millis(http::BODY_TIMEOUT_MS), read).await {
        Ok(Ok(b)) => Ok(b.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            Err(http::refuse(&parts.headers, http::too_large()))
        }
        Ok(Err(_)) => Err(http::refuse(
            &parts.headers,
            protocol::ApiError::new(protocol::ErrorCode::SerializationException, "The request body could not be read."),
        )),
        Err(_) => Err(http::refuse(
            &parts.headers,
            protocol::ApiError::new(protocol::ErrorCode::RequestTimeout, "The request body did not arrive in time."),
        )),
    }
}

/// A pause between looks for a leader: real time (a takeover's pace), not SQS time.
#[allow(clippy::disallowed_methods)]
pub async fn pause() {
    tokio::time::sleep(Duration::from_millis(100)).await;
}

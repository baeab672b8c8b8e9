//! The ceiling: an in-process fake SQS endpoint on loopback that answers SendMessage and
//! SendMessageBatch at once with a canned, valid JSON 1.0 response. Driving it with the same
//! client and concurrency measures the most that client can do on this machine. The fake runs
//! on the cores the client's runtime leaves, or inside that runtime when it has them all: the
//! fewest threads give the highest, so strictest, ceiling (SDK client: 14,000–14,600
//! SendMessage calls/s inside its runtime, 12,500–12,700 beside it on two threads of its own).

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use md5::{Digest, Md5};
use serde_json::json;

use crate::client::BATCH;

/// The accept loop ends by itself after this many connections (it is aborted long before).
const MAX_CONNECTIONS: u64 = 1_000_000;

pub struct FakeServer {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
        // Dropped inside the bench's runtime, where waiting for a runtime to stop is not allowed.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[derive(Clone)]
struct Canned {
    send: Bytes,
    batch: Bytes,
    queue_url: Bytes,
}

/// Starts the fake on 127.0.0.1 (a free port); `body` is the message body the bench sends,
/// whose MD5 the canned responses carry; `client_threads` are the client's runtime's (the
/// fake takes the cores left, or runs in the caller's runtime when none are).
pub fn start(body: &str, client_threads: usize) -> std::io::Result<FakeServer> {
    let runtime = match crate::cores().saturating_sub(client_threads) {
        0 => None,
        n => Some(
            tokio::runtime::Builder::new_multi_thread().worker_threads(n).thread_name("fake").enable_all().build()?,
        ),
    };
    let handle = runtime.as_ref().map_or_else(tokio::runtime::Handle::current, |r| r.handle().clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let listener = {
        let _entered = handle.enter();
        tokio::net::TcpListener::from_std(listener)?
    };
    let md5 = format!("{:x}", Md5::digest(body.as_bytes()));
    let id = "6f0c1c5e-5d1a-4c3b-9f53-2d5b8a0e7a11";
    let entries: Vec<_> =
        (0..BATCH).map(|i| json!({"Id": i.to_string(), "MessageId": id, "MD5OfMessageBody": md5})).collect();
    let canned = Canned {
        send: json!({"MD5OfMessageBody": md5, "MessageId": id}).to_string().into(),
        batch: json!({"Successful": entries}).to_string().into(),
        queue_url: json!({"QueueUrl": format!("http://{addr}/000000000000/ceiling")}).to_string().into(),
    };
    let task = handle.spawn(async move {
        for _ in 0..MAX_CONNECTIONS {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let _ = stream.set_nodelay(true);
            let canned = canned.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| answer(canned.clone(), req));
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    Ok(FakeServer { addr, task, runtime })
}

async fn answer(canned: Canned, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let target = req.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    // Read the request body so the connection stays usable, as a real server would.
    let _ = req.into_body().collect().await;
    let (status, body) = match target.as_str() {
        "AmazonSQS.SendMessage" => (StatusCode::OK, canned.send),
        "AmazonSQS.SendMessageBatch" => (StatusCode::OK, canned.batch),
        "AmazonSQS.CreateQueue" | "AmazonSQS.GetQueueUrl" => (StatusCode::OK, canned.queue_url),
        _ => (
            StatusCode::BAD_REQUEST,
            Bytes::from_static(br#"{"__type":"com.amazonaws.sqs#InvalidAction","message":"not in the fake"}"#),
        ),
    };
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/x-amz-json-1.0"));
    r.headers_mut().insert("x-amzn-requestid", HeaderValue::from_static("00000000-0000-4000-8000-000000000000"));
    Ok(r)
}

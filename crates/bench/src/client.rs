//! The two clients a scenario can drive: the official SDK, and a raw HTTP/1.1 client that
//! sends pre-built AWS JSON 1.0 requests (unsigned) over one keep-alive connection per worker,
//! so that the load generator itself costs as little CPU as possible.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_sqs::config::retry::RetryConfig;
use aws_sdk_sqs::config::timeout::TimeoutConfig;
use aws_sdk_sqs::config::{BehaviorVersion, Region, StalledStreamProtectionConfig};
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, AUTHORIZATION, CONNECTION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{json, Value};

/// Every single call is bounded: the longest legitimate one is a 20 s long poll.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);
pub const BATCH: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientKind {
    Sdk,
    Raw,
}

impl ClientKind {
    pub fn name(self) -> &'static str {
        match self {
            ClientKind::Sdk => "sdk",
            ClientKind::Raw => "raw",
        }
    }
}

/// A parsed `http://host:port` endpoint that resolves to a loopback address.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: String,
    pub addr: SocketAddr,
    host: HeaderValue,
}

impl Endpoint {
    /// Only loopback targets are accepted: this tool never sends traffic off the machine.
    pub async fn resolve(url: &str) -> Result<Endpoint, String> {
        let url = url.trim_end_matches('/').to_string();
        let authority =
            url.strip_prefix("http://").ok_or_else(|| format!("endpoint {url}: only http:// is supported"))?;
        if authority.contains('/') {
            return Err(format!("endpoint {url}: give scheme, host and port only"));
        }
        let with_port = if authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let addrs: Vec<SocketAddr> =
            tokio::net::lookup_host(with_port.as_str()).await.map_err(|e| format!("endpoint {url}: {e}"))?.collect();
        let addr = *addrs.first().ok_or_else(|| format!("endpoint {url}: no address"))?;
        if !addrs.iter().all(|a| a.ip().is_loopback()) {
            return Err(format!("endpoint {url} resolves to {addr}: only loopback targets are allowed"));
        }
        let host = HeaderValue::from_str(authority).map_err(|e| format!("endpoint {url}: {e}"))?;
        Ok(Endpoint { url, addr, host })
    }
}

pub fn sdk_client(endpoint: &Endpoint) -> aws_sdk_sqs::Client {
    let timeouts =
        TimeoutConfig::builder().connect_timeout(Duration::from_secs(5)).operation_timeout(CALL_TIMEOUT).build();
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "AKIDREDRIVEBENCH0001",
            "redrive-bench-secret",
            None,
            None,
            "redrive-bench",
        ))
        .endpoint_url(endpoint.url.as_str())
        // A benchmark counts failures; it does not hide them behind retries.
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts)
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

fn sdk_err<E, R>(e: aws_sdk_sqs::error::SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    DisplayErrorContext(&e).to_string()
}

/// The SQS actions the raw client speaks.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    SendMessage,
    SendMessageBatch,
    ReceiveMessage,
    DeleteMessage,
    DeleteMessageBatch,
    /// Redrive's extension: how many of a queue's messages a filter takes.
    CountMessages,
}

impl Action {
    fn target(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Action::SendMessage => "AmazonSQS.SendMessage",
            Action::SendMessageBatch => "AmazonSQS.SendMessageBatch",
            Action::ReceiveMessage => "AmazonSQS.ReceiveMessage",
            Action::DeleteMessage => "AmazonSQS.DeleteMessage",
            Action::DeleteMessageBatch => "AmazonSQS.DeleteMessageBatch",
            Action::CountMessages => "Redrive_v1.CountMessages",
        })
    }
}

/// A constant header, not a signature: the request stays unsigned (Redrive does not verify
/// signatures and takes only the access key id from it), but multi-service emulators such as
/// moto route a request by the service named in its credential scope.
const PLACEHOLDER_AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=AKIDREDRIVEBENCH0001/20240101/us-east-1/sqs/aws4_request, \
     SignedHeaders=content-type;host;x-amz-target, Signature=0000000000000000000000000000000000000000000000000000000000000000";

/// One keep-alive HTTP/1.1 connection; reconnects on the next call after a failure.
pub struct RawConn {
    endpoint: Arc<Endpoint>,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl RawConn {
    pub fn new(endpoint: Arc<Endpoint>) -> RawConn {
        RawConn { endpoint, sender: None }
    }

    async fn connect(&mut self) -> Result<(), String> {
        let stream = tokio::net::TcpStream::connect(self.endpoint.addr).await.map_err(|e| format!("connect: {e}"))?;
        stream.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
        let (sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.sender = Some(sender);
        Ok(())
    }

    /// POST / with the action's target; the response body on 200, an error otherwise.
    pub async fn call(&mut self, action: Action, body: Bytes) -> Result<Bytes, String> {
        match tokio::time::timeout(CALL_TIMEOUT, self.call_inner(action, body)).await {
            Ok(Ok(b)) => Ok(b),
            Ok(Err(e)) => {
                self.sender = None;
                Err(e)
            }
            Err(_) => {
                self.sender = None;
                Err(format!("timed out after {}s", CALL_TIMEOUT.as_secs()))
            }
        }
    }

    async fn call_inner(&mut self, action: Action, body: Bytes) -> Result<Bytes, String> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            self.connect().await?;
        }
        let sender = self.sender.as_mut().ok_or("not connected")?;
        if sender.ready().await.is_err() {
            // Closed by the server since the last call; nothing was sent, so connect again.
            self.connect().await?;
        }
        let sender = self.sender.as_mut().ok_or("not connected")?;
        sender.ready().await.map_err(|e| format!("connection: {e}"))?;
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = hyper::Uri::from_static("/");
        let headers = request.headers_mut();
        headers.insert(HOST, self.endpoint.host.clone());
        headers.insert("x-amz-target", action.target());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-amz-json-1.0"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static(PLACEHOLDER_AUTHORIZATION));
        let response = sender.send_request(request).await.map_err(|e| format!("request: {e}"))?;
        let status = response.status();
        if response.headers().get(CONNECTION).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close")) {
            self.sender = None;
        }
        let bytes = response.into_body().collect().await.map_err(|e| format!("response body: {e}"))?.to_bytes();
        if status != StatusCode::OK {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
            return Err(format!("HTTP {status}: {text}"));
        }
        Ok(bytes)
    }
}

/// A message as a scenario needs it.
pub struct Received {
    pub receipt: String,
    pub body: String,
}

#[derive(Deserialize)]
struct RawReceive {
    #[serde(rename = "Messages", default)]
    messages: Vec<RawMessage>,
}

#[derive(Deserialize)]
struct RawMessage {
    #[serde(rename = "ReceiptHandle")]
    receipt: String,
    #[serde(rename = "Body")]
    body: String,
}

#[derive(Deserialize)]
struct RawBatchResult {
    #[serde(rename = "Successful", default)]
    successful: Vec<IgnoredAny>,
    #[serde(rename = "Failed", default)]
    failed: Vec<Value>,
}

/// Outcome of a batch call: entries that succeeded, and the first failed entry if any.
pub struct BatchOutcome {
    pub ok: usize,
    pub failed: usize,
    pub first_failure: Option<String>,
}

fn raw_batch_outcome(bytes: &[u8]) -> Result<BatchOutcome, String> {
    let r: RawBatchResult = serde_json::from_slice(bytes).map_err(|e| format!("bad batch response: {e}"))?;
    Ok(BatchOutcome {
        ok: r.successful.len(),
        failed: r.failed.len(),
        first_failure: r.failed.first().map(Value::to_string),
    })
}

/// One entry of a batch send (FIFO entries carry group and deduplication ids).
pub struct Entry {
    pub body: String,
    pub group: Option<String>,
    pub dedup: Option<String>,
}

/// A send request built once and reused: the raw forms are the exact bytes on the wire.
pub struct PreparedSend {
    pub url: String,
    pub body: String,
    raw_one: Bytes,
    raw_batch: Bytes,
    sdk_batch: Vec<SendMessageBatchRequestEntry>,
}

impl PreparedSend {
    pub fn new(url: &str, body: &str) -> Result<PreparedSend, String> {
        let entries: Vec<Value> = (0..BATCH).map(|i| json!({"Id": i.to_string(), "MessageBody": body})).collect();
        let raw_one = serde_json::to_vec(&json!({"QueueUrl": url, "MessageBody": body})).map_err(|e| e.to_string())?;
        let raw_batch = serde_json::to_vec(&json!({"QueueUrl": url, "Entries": entries})).map_err(|e| e.to_string())?;
        let sdk_batch = (0..BATCH)
            .map(|i| SendMessageBatchRequestEntry::builder().id(i.to_string()).message_body(body).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        Ok(PreparedSend {
            url: url.to_string(),
            body: body.to_string(),
            raw_one: raw_one.into(),
            raw_batch: raw_batch.into(),
            sdk_batch,
        })
    }
}

/// A receive request built once per worker.
pub struct PreparedReceive {
    pub url: String,
    pub max: i32,
    pub wait: i32,
    pub visibility: Option<i32>,
    raw: Bytes,
}

impl PreparedReceive {
    pub fn new(url: &str, max: i32, wait: i32, visibility: Option<i32>) -> Result<PreparedReceive, String> {
        let mut v = json!({"QueueUrl": url, "MaxNumberOfMessages": max, "WaitTimeSeconds": wait});
        if let (Some(vt), Some(obj)) = (visibility, v.as_object_mut()) {
            obj.insert("VisibilityTimeout".into(), vt.into());
        }
        let raw = serde_json::to_vec(&v).map_err(|e| e.to_string())?;
        Ok(PreparedReceive { url: url.to_string(), max, wait, visibility, raw: raw.into() })
    }
}

/// A worker's connection: the shared SDK client (its own pool) or a raw connection.
pub enum Conn {
    Sdk(aws_sdk_sqs::Client),
    Raw(RawConn),
}

impl Conn {
    pub async fn send(&mut self, p: &PreparedSend) -> Result<(), String> {
        match self {
            Conn::Sdk(c) => {
                c.send_message().queue_url(&p.url).message_body(&p.body).send().await.map(|_| ()).map_err(sdk_err)
            }
            Conn::Raw(r) => r.call(Action::SendMessage, p.raw_one.clone()).await.map(|_| ()),
        }
    }

    pub async fn send_batch(&mut self, p: &PreparedSend) -> Result<BatchOutcome, String> {
        match self {
            Conn::Sdk(c) => {
                let out = c
                    .send_message_batch()
                    .queue_url(&p.url)
                    .set_entries(Some(p.sdk_batch.clone()))
                    .send()
                    .await
                    .map_err(sdk_err)?;
                Ok(BatchOutcome {
                    ok: out.successful().len(),
                    failed: out.failed().len(),
                    first_failure: out.failed().first().map(|f| format!("{f:?}")),
                })
            }
            Conn::Raw(r) => raw_batch_outcome(&r.call(Action::SendMessageBatch, p.raw_batch.clone()).await?),
        }
    }

    /// One message built for this call (e.g. carrying a timestamp).
    pub async fn send_body(&mut self, url: &str, body: &str) -> Result<(), String> {
        match self {
            Conn::Sdk(c) => {
                c.send_message().queue_url(url).message_body(body).send().await.map(|_| ()).map_err(sdk_err)
            }
            Conn::Raw(r) => {
                let raw =
                    serde_json::to_vec(&json!({"QueueUrl": url, "MessageBody": body})).map_err(|e| e.to_string())?;
                r.call(Action::SendMessage, raw.into()).await.map(|_| ())
            }
        }
    }

    /// A batch built for this call (FIFO: per-entry group and deduplication ids).
    pub async fn send_entries(&mut self, url: &str, entries: &[Entry]) -> Result<BatchOutcome, String> {
        match self {
            Conn::Sdk(c) => {
                let built = entries
                    .iter()
                    .enumerate()
                    .map(|(i, e)| {
                        SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(&e.body)
                            .set_message_group_id(e.group.clone())
                            .set_message_deduplication_id(e.dedup.clone())
                            .build()
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| e.to_string())?;
                let out =
                    c.send_message_batch().queue_url(url).set_entries(Some(built)).send().await.map_err(sdk_err)?;
                Ok(BatchOutcome {
                    ok: out.successful().len(),
                    failed: out.failed().len(),
                    first_failure: out.failed().first().map(|f| format!("{f:?}")),
                })
            }
            Conn::Raw(r) => {
                let list: Vec<Value> = entries
                    .iter()
                    .enumerate()
                    .map(|(i, e)| {
                        let mut v = json!({"Id": i.to_string(), "MessageBody": e.body});
                        if let Some(obj) = v.as_object_mut() {
                            if let Some(g) = &e.group {
                                obj.insert("MessageGroupId".into(), g.as_str().into());
                            }
                            if let Some(d) = &e.dedup {
                                obj.insert("MessageDeduplicationId".into(), d.as_str().into());
                            }
                        }
                        v
                    })
                    .collect();
                let raw = serde_json::to_vec(&json!({"QueueUrl": url, "Entries": list})).map_err(|e| e.to_string())?;
                raw_batch_outcome(&r.call(Action::SendMessageBatch, raw.into()).await?)
            }
        }
    }

    pub async fn receive(&mut self, p: &PreparedReceive) -> Result<Vec<Received>, String> {
        match self {
            Conn::Sdk(c) => {
                let out = c
                    .receive_message()
                    .queue_url(&p.url)
                    .max_number_of_messages(p.max)
                    .wait_time_seconds(p.wait)
                    .set_visibility_timeout(p.visibility)
                    .send()
                    .await
                    .map_err(sdk_err)?;
                Ok(out
                    .messages()
                    .iter()
                    .map(|m| Received {
                        receipt: m.receipt_handle().unwrap_or_default().to_string(),
                        body: m.body().unwrap_or_default().to_string(),
                    })
                    .collect())
            }
            Conn::Raw(r) => {
                let bytes = r.call(Action::ReceiveMessage, p.raw.clone()).await?;
                if bytes.is_empty() {
                    return Ok(Vec::new());
                }
                let out: RawReceive =
                    serde_json::from_slice(&bytes).map_err(|e| format!("bad receive response: {e}"))?;
                Ok(out.messages.into_iter().map(|m| Received { receipt: m.receipt, body: m.body }).collect())
            }
        }
    }

    pub async fn delete(&mut self, url: &str, receipt: &str) -> Result<(), String> {
        match self {
            Conn::Sdk(c) => {
                c.delete_message().queue_url(url).receipt_handle(receipt).send().await.map(|_| ()).map_err(sdk_err)
            }
            Conn::Raw(r) => {
                let raw = serde_json::to_vec(&json!({"QueueUrl": url, "ReceiptHandle": receipt}))
                    .map_err(|e| e.to_string())?;
                r.call(Action::DeleteMessage, raw.into()).await.map(|_| ())
            }
        }
    }

    pub async fn delete_batch(&mut self, url: &str, receipts: &[&str]) -> Result<BatchOutcome, String> {
        match self {
            Conn::Sdk(c) => {
                let entries = receipts
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(*r).build()
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| e.to_string())?;
                let out =
                    c.delete_message_batch().queue_url(url).set_entries(Some(entries)).send().await.map_err(sdk_err)?;
                Ok(BatchOutcome {
                    ok: out.successful().len(),
                    failed: out.failed().len(),
                    first_failure: out.failed().first().map(|f| format!("{f:?}")),
                })
            }
            Conn::Raw(r) => {
                let list: Vec<Value> = receipts
                    .iter()
                    .enumerate()
                    .map(|(i, r)| json!({"Id": i.to_string(), "ReceiptHandle": r}))
                    .collect();
                let raw = serde_json::to_vec(&json!({"QueueUrl": url, "Entries": list})).map_err(|e| e.to_string())?;
                raw_batch_outcome(&r.call(Action::DeleteMessageBatch, raw.into()).await?)
            }
        }
    }
}

/// Control-plane calls (setup, attributes, move tasks) always go through the SDK.
pub struct Control {
    pub sdk: aws_sdk_sqs::Client,
}

impl Control {
    pub async fn create_queue(&self, name: &str, attributes: &[(&str, String)]) -> Result<String, String> {
        let mut req = self.sdk.create_queue().queue_name(name);
        for (k, v) in attributes {
            req = req.attributes(aws_sdk_sqs::types::QueueAttributeName::from(*k), v.clone());
        }
        let out = req.send().await.map_err(sdk_err)?;
        out.queue_url().map(str::to_string).ok_or_else(|| "CreateQueue returned no QueueUrl".to_string())
    }

    pub async fn delete_queue(&self, url: &str) -> Result<(), String> {
        self.sdk.delete_queue().queue_url(url).send().await.map(|_| ()).map_err(sdk_err)
    }

    pub async fn attribute(&self, url: &str, name: &str) -> Result<String, String> {
        let key = aws_sdk_sqs::types::QueueAttributeName::from(name);
        let out = self
            .sdk
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(key.clone())
            .send()
            .await
            .map_err(sdk_err)?;
        out.attributes().and_then(|a| a.get(&key)).cloned().ok_or_else(|| format!("no attribute {name}"))
    }

    pub async fn count_attribute(&self, url: &str, name: &str) -> Result<u64, String> {
        self.attribute(url, name).await?.parse::<u64>().map_err(|e| format!("{name}: {e}"))
    }

    pub async fn start_move_task(&self, source_arn: &str, destination_arn: Option<&str>) -> Result<String, String> {
        let out = self
            .sdk
            .start_message_move_task()
            .source_arn(source_arn)
            .set_destination_arn(destination_arn.map(str::to_string))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.task_handle().unwrap_or_default().to_string())
    }

    /// The newest task on the source: (status, messages moved, failure reason).
    pub async fn latest_move_task(&self, source_arn: &str) -> Result<(String, u64, Option<String>), String> {
        let out =
            self.sdk.list_message_move_tasks().source_arn(source_arn).max_results(1).send().await.map_err(sdk_err)?;
        let t = out.results().first().ok_or("ListMessageMoveTasks returned no task")?;
        Ok((
            t.status().unwrap_or_default().to_string(),
            u64::try_from(t.approximate_number_of_messages_moved()).unwrap_or(0),
            t.failure_reason().map(str::to_string),
        ))
    }
}

//! Raw AWS JSON 1.0 calls: `POST /` with `X-Amz-Target: AmazonSQS.<Action>` (or
//! `Redrive_v1.<Operation>` for the extension API).

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// Every request gives up after this long; nothing waits unbounded.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Answers received by every client of this process: a watchdog's sign that the server is
/// alive and working, however slow the machine.
static ANSWERED: AtomicU64 = AtomicU64::new(0);

/// How many requests have been answered so far, successes and errors alike.
pub fn answered() -> u64 {
    ANSWERED.load(Ordering::Relaxed)
}

#[derive(Debug, Clone)]
pub enum CallError {
    /// No answer: refused, reset, timed out. The request may or may not have taken effect.
    Transport(String),
    /// The server answered with an error status.
    Api { status: u16, kind: String, message: String },
}

impl CallError {
    /// Whether the request may have taken effect: no answer, or a server-side failure.
    pub fn uncertain(&self) -> bool {
        match self {
            CallError::Transport(_) => true,
            CallError::Api { status, .. } => *status >= 500,
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Transport(e) => write!(f, "transport error: {e}"),
            CallError::Api { status, kind, message } => write!(f, "HTTP {status} {kind}: {message}"),
        }
    }
}

/// Where a client's requests go: one server, or the live nodes of a cluster in turn.
#[derive(Clone)]
enum Target {
    One(String),
    Nodes(Arc<Endpoints>),
}

/// The endpoints of a cluster's nodes, by slot; a slot is empty while its node is down. Each
/// request goes to the next live one (round robin).
#[derive(Default)]
pub struct Endpoints {
    slots: Mutex<Vec<Option<String>>>,
    next: AtomicUsize,
}

impl Endpoints {
    pub fn new(slots: usize) -> Endpoints {
        Endpoints { slots: Mutex::new(vec![None; slots]), next: AtomicUsize::new(0) }
    }

    /// Mark node `slot` up at `endpoint`, or down (None).
    pub fn set(&self, slot: usize, endpoint: Option<String>) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = slots.get_mut(slot) {
            *s = endpoint.map(|e| e.trim_end_matches('/').to_string());
        }
    }

    fn pick(&self) -> Option<String> {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let live: Vec<&String> = slots.iter().flatten().collect();
        if live.is_empty() {
            return None;
        }
        Some(live[self.next.fetch_add(1, Ordering::Relaxed) % live.len()].clone())
    }
}

#[derive(Clone)]
pub struct Sqs {
    http: reqwest::Client,
    target: Target,
}

impl Sqs {
    pub fn new(endpoint: &str, pool: usize) -> Result<Sqs, String> {
        Ok(Sqs { http: http_client(pool)?, target: Target::One(endpoint.trim_end_matches('/').to_string()) })
    }

    /// A client whose every request goes to the next live node of `nodes`.
    pub fn over(nodes: Arc<Endpoints>, pool: usize) -> Result<Sqs, String> {
        Ok(Sqs { http: http_client(pool)?, target: Target::Nodes(nodes) })
    }

    fn endpoint(&self) -> Result<String, CallError> {
        match &self.target {
            Target::One(endpoint) => Ok(endpoint.clone()),
            Target::Nodes(nodes) => nodes.pick().ok_or_else(|| CallError::Transport("no node is up".into())),
        }
    }

    pub async fn call(&self, action: &str, input: &Value) -> Result<Value, CallError> {
        self.call_target("AmazonSQS", action, input).await
    }

    /// An operation of Redrive's extension API (docs/extension-api.md).
    pub async fn extension(&self, operation: &str, input: &Value) -> Result<Value, CallError> {
        self.call_target("Redrive_v1", operation, input).await
    }

    async fn call_target(&self, prefix: &str, action: &str, input: &Value) -> Result<Value, CallError> {
        let response = self
            .http
            .post(format!("{}/", self.endpoint()?))
            .header("X-Amz-Target", format!("{prefix}.{action}"))
            .header("Content-Type", "application/x-amz-json-1.0")
            .body(serde_json::to_vec(input).map_err(|e| CallError::Transport(e.to_string()))?)
            .send()
            .await
            .map_err(|e| CallError::Transport(describe(&e)))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| CallError::Transport(describe(&e)))?;
        ANSWERED.fetch_add(1, Ordering::Relaxed);
        let value: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Object(Default::default())
        } else {
            match serde_json::from_slice(&bytes) {
                Ok(v) => v,
                Err(e) if status < 300 => {
                    return Err(CallError::Api {
                        status,
                        kind: "BadJson".into(),
                        message: format!("{e}: {}", String::from_utf8_lossy(&bytes[..bytes.len().min(200)])),
                    })
                }
                Err(_) => Value::String(String::from_utf8_lossy(&bytes).into_owned()),
            }
        };
        if (200..300).contains(&status) {
            return Ok(value);
        }
        let kind = value.get("__type").and_then(Value::as_str).unwrap_or("?");
        let kind = kind.rsplit('#').next().unwrap_or(kind).to_string();
        let message = match value.get("message").or_else(|| value.get("Message")) {
            Some(Value::String(m)) => m.clone(),
            _ => value.to_string(),
        };
        Err(CallError::Api { status, kind, message })
    }

    /// Move the server's manual clock; answers its new time (epoch ms).
    pub async fn advance_clock(&self, ms: u64) -> Result<u64, CallError> {
        let response = self
            .http
            .post(format!("{}/_redrive/clock/advance?ms={ms}", self.endpoint()?))
            .send()
            .await
            .map_err(|e| CallError::Transport(describe(&e)))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| CallError::Transport(describe(&e)))?;
        let now = serde_json::from_str::<Value>(&text).ok().and_then(|v| v.get("now_ms").and_then(Value::as_u64));
        match now {
            Some(now) if status == 200 => Ok(now),
            _ => Err(CallError::Api { status, kind: "ClockAdvance".into(), message: text }),
        }
    }

    pub async fn create_queue(&self, name: &str) -> Result<String, CallError> {
        let v = self.call("CreateQueue", &serde_json::json!({ "QueueName": name })).await?;
        match v.get("QueueUrl").and_then(Value::as_str) {
            Some(url) => Ok(url.to_string()),
            None => Err(CallError::Api { status: 200, kind: "NoQueueUrl".into(), message: v.to_string() }),
        }
    }
}

fn http_client(pool: usize) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(3))
        .pool_max_idle_per_host(pool)
        .no_proxy()
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// reqwest's Display hides the cause (e.g. "connection refused"); add the chain.
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A string member of a JSON object.
pub fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// A list member that the server may omit when empty.
pub fn list_of<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

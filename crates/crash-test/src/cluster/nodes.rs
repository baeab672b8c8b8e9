//! The nodes under test: a fresh PostgreSQL database for the run, N `redrive` processes on it
//! (each with its own log), their `/ready` answers, SIGKILL and restart.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::Endpoints;
use crate::server::{self, Server};

/// A node that started must say it can serve (leader, or follower of one) within this long.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// The public URL every node puts in queue URLs: a load balancer's, as in production. The
/// harness never calls it; nodes take a queue from the URL's path.
const PUBLIC_URL: &str = "http://redrive-lb.invalid:4566";

/// The run's own database, made on the given server and dropped at the end.
pub struct Database {
    admin: String,
    name: String,
    /// The URL the nodes are given.
    pub url: String,
}

impl Database {
    /// Create database `name` through `admin` (a PostgreSQL URL whose user may create databases).
    pub async fn create(admin: &str, name: &str) -> Result<Database, String> {
        let mut url = url::Url::parse(admin).map_err(|e| format!("--postgres is not a URL: {e}"))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(format!("--postgres takes a postgres:// URL, not {}://…", url.scheme()));
        }
        url.set_path(&format!("/{name}"));
        execute(admin, &format!("CREATE DATABASE \"{name}\"")).await?;
        Ok(Database { admin: admin.to_string(), name: name.to_string(), url: url.to_string() })
    }

    /// Drop the database (the nodes must be gone). Errors are printed, not fatal.
    pub async fn drop_it(&self) {
        if let Err(e) = execute(&self.admin, &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)).await {
            println!("crash-test: could not drop database {}: {e}", self.name);
        }
    }
}

/// A PostgreSQL URL fit to print: without its password.
pub fn shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "(not a URL)".into(),
    }
}

async fn execute(url: &str, sql: &str) -> Result<(), String> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| format!("PostgreSQL {}: {e}", shown(url)))?;
    let conn = tokio::spawn(connection);
    let result = client.batch_execute(sql).await.map_err(|e| format!("{sql}: {e}"));
    drop(client);
    let _ = conn.await;
    result
}

/// What a node's `/ready` answered.
#[derive(Debug, Clone)]
pub struct Ready {
    pub status: u16,
    pub role: String,
    pub detail: String,
}

impl Ready {
    pub fn leads(&self) -> bool {
        self.status == 200 && self.role == "leader"
    }

    /// The lease's epoch, from a leader's detail ("epoch N").
    pub fn epoch(&self) -> Option<u64> {
        self.detail.strip_prefix("epoch ")?.parse().ok()
    }
}

struct Slot {
    id: String,
    log: PathBuf,
    server: Option<Server>,
}

pub struct Nodes {
    bin: PathBuf,
    database: String,
    lease_ttl: f64,
    slots: Vec<Slot>,
    /// Where the load's requests go: the nodes that are up.
    pub endpoints: Arc<Endpoints>,
    http: reqwest::Client,
}

impl Nodes {
    pub fn new(bin: PathBuf, dir: &Path, database: String, count: usize, lease_ttl: f64) -> Result<Nodes, String> {
        let slots = (0..count)
            .map(|i| Slot { id: format!("node-{i}"), log: dir.join(format!("node-{i}.log")), server: None })
            .collect();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .no_proxy()
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Nodes { bin, database, lease_ttl, slots, endpoints: Arc::new(Endpoints::new(count)), http })
    }

    pub fn count(&self) -> usize {
        self.slots.len()
    }

    pub fn id(&self, slot: usize) -> &str {
        &self.slots[slot].id
    }

    /// Start node `slot` and wait until it can serve; then requests go to it too. Answers how
    /// long it took.
    pub async fn start(&mut self, slot: usize) -> Result<Duration, String> {
        let started = Instant::now();
        let s = &self.slots[slot];
        let args: Vec<OsString> = [
            "--bind",
            "127.0.0.1:0",
            "--public-url",
            PUBLIC_URL,
            "--node-id",
            &s.id,
            "--lease-ttl",
            &self.lease_ttl.to_string(),
            "--manual-clock",
        ]
        .into_iter()
        .map(OsString::from)
        .collect();
        // The URL may hold a password: in the environment, not on the command line.
        let env = [("REDRIVE_STORE", self.database.as_str()), ("NO_COLOR", "1")];
        let server = Server::start_with(&self.bin, &args, &env, &s.log).await.map_err(|e| format!("{}: {e}", s.id))?;
        let endpoint = server.endpoint.clone();
        self.slots[slot].server = Some(server);
        loop {
            match self.ready(slot).await {
                Some(r) if r.status == 200 => break,
                last if started.elapsed() > READY_TIMEOUT => {
                    return Err(format!(
                        "{} not ready {} s after its start (last /ready: {last:?}); log tail:\n{}",
                        self.slots[slot].id,
                        READY_TIMEOUT.as_secs(),
                        server::tail(&self.slots[slot].log)
                    ))
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        self.endpoints.set(slot, Some(endpoint));
        Ok(started.elapsed())
    }

    /// SIGKILL node `slot`; no request is sent to it from now on.
    pub fn kill(&mut self, slot: usize) {
        self.endpoints.set(slot, None);
        if let Some(server) = self.slots[slot].server.take() {
            server.kill();
        }
    }

    pub fn kill_all(&mut self) {
        for slot in 0..self.slots.len() {
            self.kill(slot);
        }
    }

    pub fn is_up(&self, slot: usize) -> bool {
        self.slots[slot].server.is_some()
    }

    pub fn endpoint(&self, slot: usize) -> Option<&str> {
        self.slots[slot].server.as_ref().map(|s| s.endpoint.as_str())
    }

    /// Node `slot`'s `/ready`, or None if it is down or does not answer.
    pub async fn ready(&self, slot: usize) -> Option<Ready> {
        let endpoint = self.endpoint(slot)?;
        let response = self.http.get(format!("{endpoint}/ready")).send().await.ok()?;
        let status = response.status().as_u16();
        let v: Value = response.json().await.ok()?;
        let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        Some(Ready { status, role: field("role"), detail: field("detail") })
    }

    /// Every node's `/ready`, by slot.
    pub async fn all_ready(&self) -> Vec<Option<Ready>> {
        let mut out = Vec::new();
        for slot in 0..self.slots.len() {
            out.push(self.ready(slot).await);
        }
        out
    }

    /// The node that says it leads, and its epoch.
    pub async fn leader(&self) -> Option<(usize, u64)> {
        for (slot, ready) in self.all_ready().await.into_iter().enumerate() {
            if let Some(r) = ready.filter(Ready::leads) {
                return Some((slot, r.epoch().unwrap_or(0)));
            }
        }
        None
    }

    /// Each node's role, for reports: "node-0 leader (epoch 3), node-1 follower, node-2 down".
    pub async fn roles(&self) -> String {
        let mut parts = Vec::new();
        for (slot, ready) in self.all_ready().await.into_iter().enumerate() {
            let id = &self.slots[slot].id;
            parts.push(match ready {
                None if !self.is_up(slot) => format!("{id} down"),
                None => format!("{id} not answering"),
                Some(r) if r.leads() => format!("{id} leader ({})", r.detail),
                Some(r) => format!("{id} {} {} ({})", r.role, r.status, r.detail),
            });
        }
        parts.join(", ")
    }

    /// Every node's log lines that say it stepped down (and why), for a report.
    pub fn step_downs(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for s in &self.slots {
            let text = std::fs::read_to_string(&s.log).unwrap_or_default();
            lines.extend(
                text.lines().filter(|l| l.contains("stepping down")).map(|l| format!("{}: {}", s.id, l.trim())),
            );
        }
        lines
    }

    /// The last lines of every node's log, for a report.
    pub fn tails(&self) -> String {
        self.slots
            .iter()
            .map(|s| format!("--- {} ({}):\n{}", s.id, s.log.display(), server::tail(&s.log)))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        self.kill_all();
    }
}

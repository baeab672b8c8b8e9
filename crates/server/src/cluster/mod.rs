//! Several nodes on one PostgreSQL (docs/multi-node.md): one node at a time — the holder of the
//! lease — runs the engine; the others forward every request to it.
//!
//! A node is in one of three roles. **Leader**: it holds the lease and serves requests with its
//! engine, whose store commits only under the lease's epoch. **Follower**: another node holds
//! it; requests are forwarded there (`forward.rs`). **Waiting**: no usable leader is known (at
//! start, during a takeover, or cut off from the database); requests wait up to
//! `forward::WAIT` for one, then answer 503.
//!
//! The lease keeper (`keeper.rs`, a thread) reports what it sees; this node acts on it and
//! also watches, by its own monotonic clock, that its renewals keep coming: a leader whose
//! last successful renewal began more than three quarters of the ttl ago stops serving, before any other node
//! can take the lease (which waits for the database's `expires_at`, ttl after that renewal).

mod forward;
mod keeper;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use engine::{Clock, ManualClock};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

use crate::config::Config;
use crate::http::{self, App};

/// A leader stops serving a quarter of the ttl before its lease can have expired: time for
/// clocks' rates to differ, and for the last renewal's own latency.
const SAFETY_SHARE: u32 = 4;
/// How often the node checks its renewals and its store.
const WATCH_EVERY: Duration = Duration::from_millis(100);

/// What this node does with a request now.
#[derive(Clone)]
enum Role {
    Leader { app: Arc<App>, epoch: i64 },
    Follower { leader: String, token: String },
    Waiting { why: String },
}

pub struct Node {
    config: Config,
    id: String,
    /// Where other nodes forward requests to this one.
    url: String,
    local_addr: SocketAddr,
    manual_clock: Option<ManualClock>,
    clock: Arc<dyn Clock>,
    role: parking_lot::RwLock<Role>,
    /// The token forwarded requests carry, once known (from the lease row).
    token: parking_lot::RwLock<Option<String>>,
    /// The epoch this node took the lease at, and when its last successful renewal began.
    renewed: parking_lot::Mutex<Option<(i64, Instant)>>,
    /// When the keeper last reached the database.
    heard: parking_lot::Mutex<Instant>,
    asks: parking_lot::Mutex<std::sync::mpsc::Sender<keeper::Ask>>,
    forward: forward::Forwarder,
    stopping: std::sync::atomic::AtomicBool,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

impl Node {
    /// Migrate the database, start the lease keeper and the node's watch; the node starts
    /// Waiting and serves once it knows a leader (or is one).
    pub async fn start(
        config: Config,
        database: String,
        local_addr: SocketAddr,
        manual_clock: Option<ManualClock>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Node>, StartError> {
        store::PgStore::migrate(&database).map_err(|e| StartError(format!("PostgreSQL store: {e}")))?;
        let id = config
            .node_id
            .clone()
            .unwrap_or_else(|| format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]));
        let url = match &config.node_url {
            Some(url) => url.clone(),
            None => own_url(&database, local_addr)?,
        };
        let ttl = Duration::from_millis(config.lease_ttl_ms);
        let (asks, asked) = std::sync::mpsc::channel();
        let (tell, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let node = Arc::new(Node {
            config,
            id: id.clone(),
            url: url.clone(),
            local_addr,
            manual_clock,
            clock,
            role: parking_lot::RwLock::new(Role::Waiting { why: "the node is starting".into() }),
            token: parking_lot::RwLock::new(None),
            renewed: parking_lot::Mutex::new(None),
            heard: parking_lot::Mutex::new(real_now()),
            asks: parking_lot::Mutex::new(asks),
            forward: forward::Forwarder::new().map_err(StartError)?,
            stopping: std::sync::atomic::AtomicBool::new(false),
        });
        let settings = keeper::Settings {
            database: database.clone(),
            schema: store::postgres::SCHEMA.into(),
            node: id.clone(),
            url,
            ttl,
        };
        std::thread::Builder::new()
            .name("redrive-lease".into())
            .spawn(move || keeper::run(&settings, &asked, &tell))
            .map_err(|e| StartError(format!("cannot start the lease keeper: {e}")))?;
        tracing::info!(node = %id, url = %node.url, "node started; looking for the lease");
        let watcher = node.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(WATCH_EVERY);
            loop {
                tokio::select! {
                    // What the keeper saw first: renewals that arrived while the record loaded
                    // must count before the watch looks at them.
                    biased;
                    event = seen.recv() => match event {
                        Some(event) => watcher.on(event, &database).await,
                        None => break,
                    },
                    _ = tick.tick() => watcher.watch(ttl).await,
                }
            }
        });
        Ok(node)
    }

    async fn on(self: &Arc<Self>, seen: keeper::Seen, database: &str) {
        if self.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        if !matches!(seen, keeper::Seen::Unreachable(_)) {
            *self.heard.lock() = real_now();
        }
        match seen {
            keeper::Seen::Won { epoch, token } => {
                *self.token.write() = Some(token);
                *self.renewed.lock() = Some((epoch, real_now()));
                match self.lead(database, epoch).await {
                    Ok(app) => {
                        tracing::info!(node = %self.id, epoch, "took the lease: serving every queue");
                        *self.role.write() = Role::Leader { app, epoch };
                    }
                    Err(e) => {
                        tracing::error!(error = %e, epoch, "cannot serve after taking the lease; releasing it");
                        self.ask(keeper::Ask::Release(epoch));
                        *self.role.write() = Role::Waiting { why: e };
                    }
                }
            }
            keeper::Seen::Renewed { epoch, at } => {
                let mut renewed = self.renewed.lock();
                if renewed.is_some_and(|(e, _)| e == epoch) {
                    *renewed = Some((epoch, at));
                }
            }
            keeper::Seen::Lost { epoch } => self.step_down(epoch, "another node took the lease").await,
            keeper::Seen::Follow(holder) => {
                *self.token.write() = Some(holder.token.clone());
                if let Role::Leader { epoch, .. } = self.role() {
                    self.step_down(epoch, "another node holds the lease").await;
                }
                *self.role.write() = match holder.url {
                    Some(leader) if !holder.expired => Role::Follower { leader, token: holder.token },
                    _ => Role::Waiting { why: "no node holds the lease yet".into() },
                };
            }
            keeper::Seen::Unreachable(e) => {
                tracing::warn!(error = %e, "the lease keeper cannot reach PostgreSQL");
            }
        }
    }

    /// A leader whose renewals stopped, or whose store failed, steps down; a follower that has
    /// not heard from the database for a ttl stops forwarding to a leader it cannot vouch for.
    async fn watch(self: &Arc<Self>, ttl: Duration) {
        match self.role() {
            Role::Leader { app, epoch } => {
                let renewed = *self.renewed.lock();
                let margin = ttl / SAFETY_SHARE;
                if renewed.is_none_or(|(e, at)| e != epoch || at.elapsed() + margin > ttl) {
                    self.step_down(epoch, "the lease could not be renewed in time").await;
                } else if !app.engine.accepts_changes() {
                    // A fenced or failed commit: the record may have moved on without us.
                    self.step_down(epoch, "a commit failed").await;
                }
            }
            Role::Follower { .. } if self.heard.lock().elapsed() > ttl => {
                *self.role.write() = Role::Waiting { why: "PostgreSQL cannot be reached".into() };
            }
            _ => {}
        }
    }

    /// Build the engine on the record as of this epoch and everything that serves it.
    async fn lead(&self, database: &str, epoch: i64) -> Result<Arc<App>, String> {
        let (database, config, clock) = (database.to_string(), crate::engine_config(&self.config), self.clock.clone());
        // Loading the record can take seconds: not on a thread that serves requests.
        let engine = tokio::task::spawn_blocking(move || {
            let store = store::PgStore::open(&database, epoch).map_err(|e| format!("opening the store: {e}"))?;
            engine::Engine::open(config, clock, Arc::new(store)).map_err(|e| format!("loading the record: {e}"))
        })
        .await
        .map_err(|e| format!("loading the record: {e}"))??;
        let engine = Arc::new(engine);
        if let Err(refused) = crate::declare::declare(&engine, &self.config.queues).await {
            engine.stop().await;
            return Err(refused.to_string());
        }
        engine.resume_tasks();
        engine.spawn_sweeper();
        crate::app(engine, self.config.clone(), self.manual_clock.clone(), self.local_addr, None)
            .map_err(|e| e.to_string())
    }

    async fn step_down(&self, epoch: i64, why: &str) {
        let app = {
            let mut role = self.role.write();
            match &*role {
                Role::Leader { epoch: e, app } if *e == epoch => {
                    let app = app.clone();
                    *role = Role::Waiting { why: why.to_string() };
                    app
                }
                _ => return,
            }
        };
        tracing::warn!(node = %self.id, epoch, why, "stepping down: no longer serving");
        self.ask(keeper::Ask::Release(epoch));
        app.engine.shutdown();
        app.engine.stop().await;
    }

    fn ask(&self, ask: keeper::Ask) {
        let _ = self.asks.lock().send(ask);
    }

    fn role(&self) -> Role {
        self.role.read().clone()
    }

    /// Stop serving: the engine (if leading) stops and the lease is released, so another node
    /// takes over at once.
    pub async fn shutdown(&self) {
        self.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
        let role = std::mem::replace(&mut *self.role.write(), Role::Waiting { why: "the node is stopping".into() });
        if let Role::Leader { app, .. } = role {
            app.engine.shutdown();
            app.engine.stop().await;
        }
        self.ask(keeper::Ask::Stop);
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// Serve one request: this node's own endpoints, else by the leader (here or forwarded).
    pub async fn serve(self: Arc<Self>, mut req: Request<Incoming>) -> Response<Full<Bytes>> {
        let forwarded = forward::Forwarded::take(&mut req, self.token.read().as_deref());
        match (req.method(), req.uri().path()) {
            (&Method::GET | &Method::HEAD, "/health") => return text(StatusCode::OK, "OK".into()),
            (&Method::GET | &Method::HEAD, "/ready") => return self.ready(),
            _ => {}
        }
        let deadline = real_now() + forward::WAIT;
        // Served here if this node leads; else forwarded once a leader is known.
        loop {
            match self.role() {
                Role::Leader { app, .. } => {
                    if let Some(peer) = forwarded.client {
                        req.extensions_mut().insert(http::Peer(peer));
                    }
                    return match http::serve(app, req).await {
                        Ok(r) => r,
                        Err(never) => match never {},
                    };
                }
                // Forwarded to a node that is not the leader (it just lost the lease): never
                // forwarded again, so no request loops between nodes.
                Role::Follower { .. } if forwarded.marked => {
                    let mut r = unavailable(req.headers(), "this node is no longer the leader; retry");
                    r.headers_mut().insert(forward::NOT_LEADER, hyper::header::HeaderValue::from_static("1"));
                    return r;
                }
                Role::Follower { .. } => break,
                Role::Waiting { why } if real_now() >= deadline => {
                    return unavailable(req.headers(), &format!("no node can serve this request now ({why}); retry"));
                }
                Role::Waiting { .. } => forward::pause().await,
            }
        }
        let (parts, incoming) = req.into_parts();
        let body = match forward::read_body(&parts, incoming).await {
            Ok(b) => b,
            Err(response) => return response,
        };
        let client = forwarded.client.or(parts.extensions.get::<http::Peer>().map(|p| p.0));
        loop {
            match self.role() {
                Role::Follower { leader, token } => {
                    match self.forward.send(&leader, &token, &parts, body.clone(), client).await {
                        forward::Outcome::Answered(response) | forward::Outcome::Broken(response) => return response,
                        forward::Outcome::Unreached(e) => {
                            tracing::debug!(error = %e, leader = %leader, "the leader cannot be reached or no longer leads; waiting for the lease to move");
                        }
                    }
                }
                // This node took the lease while the request waited; its body was read already.
                Role::Leader { .. } => return unavailable(&parts.headers, "the leader changed; retry"),
                Role::Waiting { .. } => {}
            }
            if real_now() >= deadline {
                return unavailable(&parts.headers, "the leader cannot be reached; retry");
            }
            forward::pause().await;
        }
    }

    fn ready(&self) -> Response<Full<Bytes>> {
        let (status, role, detail) = match self.role() {
            Role::Leader { app, epoch } if app.engine.accepts_changes() => {
                (StatusCode::OK, "leader", format!("epoch {epoch}"))
            }
            Role::Leader { .. } => (StatusCode::SERVICE_UNAVAILABLE, "leader", "the store refuses changes".into()),
            Role::Follower { leader, .. } => (StatusCode::OK, "follower", leader),
            Role::Waiting { why } => (StatusCode::SERVICE_UNAVAILABLE, "waiting", why),
        };
        let body = serde_json::json!({ "node": self.id, "role": role, "detail": detail, "url": self.url });
        let mut r = text(status, body.to_string());
        r.headers_mut()
            .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
        r
    }
}

/// The lease's time: real and monotonic, never the SQS clock — a manual clock (tests) must
/// not hold a lease past its expiry in the database's time, nor make one expire early.
#[allow(clippy::disallowed_methods)]
pub(crate) fn real_now() -> Instant {
    Instant::now()
}

/// This node's URL for other nodes: the bound address, or, when bound to every interface, the
/// address PostgreSQL sees this node connect from (an address the other nodes likely reach).
fn own_url(database: &str, local: SocketAddr) -> Result<String, StartError> {
    if !local.ip().is_unspecified() {
        return Ok(format!("http://{local}"));
    }
    let mut lease = store::postgres::Lease::connect(database, store::postgres::SCHEMA)
        .map_err(|e| StartError(format!("PostgreSQL store: {e}")))?;
    let seen = store::postgres::off_runtime(|| lease.client_addr()).map_err(|e| StartError(e.to_string()))?;
    store::postgres::off_runtime(move || drop(lease));
    match seen {
        Some(ip) => Ok(format!("http://{}", SocketAddr::new(ip, local.port()))),
        None => Err(StartError(
            "cannot tell which address other nodes reach this one at: give --node-url http://ADDR:PORT".into(),
        )),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain"));
    r
}

/// 503 ServiceUnavailable, which SDKs retry.
fn unavailable(headers: &hyper::HeaderMap, message: &str) -> Response<Full<Bytes>> {
    http::unavailable(headers, message)
}

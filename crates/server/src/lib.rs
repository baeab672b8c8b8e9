//! The `redrive` server: configuration, the listener, the HTTP wrapper and the SQS
//! handlers on top of the engine.

pub mod api;
pub mod auth;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod console;
pub mod cors;
pub mod declare;
pub mod depth;
pub mod dispatch;
pub mod errors;
pub mod extension;
pub mod http;
pub mod metrics;
pub mod request_log;
pub mod sqs;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use engine::{Clock, Engine, EngineConfig, ManualClock, SystemClock};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use config::Config;

/// A running server.
pub struct Server {
    addr: SocketAddr,
    front: Front,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// What answers requests: one engine of this process's, or a node of several sharing a
/// PostgreSQL database (which leads or forwards).
#[derive(Clone)]
enum Front {
    Single(Arc<http::App>),
    Node(Arc<cluster::Node>),
}

impl Front {
    async fn serve(
        &self,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> Result<hyper::Response<http_body_util::Full<bytes::Bytes>>, std::convert::Infallible> {
        match self {
            Front::Single(app) => http::serve(app.clone(), req).await,
            Front::Node(node) => Ok(node.clone().serve(req).await),
        }
    }

    fn tls(&self) -> Option<tokio_rustls::TlsAcceptor> {
        match self {
            Front::Single(app) => app.tls.clone(),
            Front::Node(_) => None,
        }
    }

    /// Long polls end early so shutdown does not wait out their 20 s; move tasks pause.
    fn begin_shutdown(&self) {
        if let Front::Single(app) = self {
            app.engine.shutdown();
        }
    }

    /// Requests have finished: stop the runners, flush and close the store (a node also
    /// releases its lease).
    async fn stop(&self) {
        match self {
            Front::Single(app) => app.engine.stop().await,
            Front::Node(node) => node.shutdown().await,
        }
    }
}

impl Server {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn endpoint(&self) -> String {
        let scheme = if self.front.tls().is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The engine of a single server (panics for a node of several: tests only).
    pub fn engine(&self) -> &Arc<Engine> {
        match &self.front {
            Front::Single(app) => &app.engine,
            Front::Node(_) => panic!("a node of several has no engine of its own"),
        }
    }

    /// Move the manual clock forward (panics if the server runs on the system clock:
    /// tests only).
    pub fn advance_clock(&self, by: Duration) {
        match &self.front {
            Front::Single(app) if app.manual_clock.is_some() => {
                if let Some(c) = &app.manual_clock {
                    c.advance(by);
                }
            }
            _ => panic!("advance_clock needs Config::manual_clock on a single server"),
        }
    }

    /// Stop accepting, let in-flight requests finish (up to 30 s), then return.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    /// Resolves when the server has stopped.
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
    #[error("{0}")]
    Open(#[from] store::OpenError),
    #[error("cannot load the store: {0}")]
    Load(#[from] engine::store::StoreError),
    #[error("{0}")]
    Declare(#[from] declare::Refused),
    #[error("{0}")]
    Credentials(String),
    #[error("{0}")]
    Tls(String),
    #[error("{0}")]
    Node(#[from] cluster::StartError),
}

/// The engine's settings from the server's.
pub(crate) fn engine_config(config: &Config) -> EngineConfig {
    EngineConfig {
        region: config.region.clone(),
        account_id: config.account_id.clone(),
        max_redrives: config.max_redrives,
    }
}

/// Everything that serves requests with `engine`.
pub(crate) fn app(
    engine: Arc<Engine>,
    config: Config,
    manual_clock: Option<ManualClock>,
    local_addr: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> Result<Arc<http::App>, StartError> {
    let auth = match &config.credentials {
        Some(path) => {
            Some(auth::Auth::new(auth::Credentials::load(path).map_err(StartError::Credentials)?, &config.region))
        }
        None => None,
    };
    let app = Arc::new(http::App {
        engine,
        config,
        manual_clock,
        local_addr,
        metrics: metrics::Metrics::new(),
        body_budget: tokio::sync::Semaphore::new(http::BODY_BUDGET_KIB),
        console: console::access::Access::new(),
        depth: Arc::new(depth::History::default()),
        auth,
        tls,
        sessions: console::session::Sessions::default(),
    });
    app.depth.spawn_sampler(&app.engine);
    Ok(app)
}

/// Open the store, load it, apply the declared queues, and start listening.
pub async fn start(config: Config) -> Result<Server, StartError> {
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key).map_err(StartError::Tls)?),
        _ => None,
    };
    if let Some(path) = &config.credentials {
        // Refused at start, before anything listens, as before.
        auth::Credentials::load(path).map_err(StartError::Credentials)?;
    }
    let listener = TcpListener::bind(&config.bind).await.map_err(|e| StartError::Bind(config.bind.clone(), e))?;
    if config.credentials.is_none() && !config::is_loopback(&config.bind) {
        tracing::warn!(
            bind = %config.bind,
            "listening on a network without credentials (--allow-anonymous-network): anyone who can reach it can use every queue"
        );
    }
    let addr = listener.local_addr().map_err(|e| StartError::Bind(config.bind.clone(), e))?;
    let config_limits = (config.max_connections, config.idle_timeout_s, config.max_headers);
    let manual_clock = config.manual_clock.then(ManualClock::starting_now);
    let clock: Arc<dyn Clock> = match &manual_clock {
        Some(c) => Arc::new(c.clone()),
        None => Arc::new(SystemClock),
    };
    let front = match config.store.clone() {
        Some(database) => Front::Node(cluster::Node::start(config, database, addr, manual_clock, clock).await?),
        None => {
            let mut sqlite = None;
            let engine = Arc::new(if config.in_memory {
                Engine::in_memory(engine_config(&config), clock)
            } else {
                let store = Arc::new(store::SqliteStore::open_with_vfs(&config.data_dir, config.store_vfs.as_deref())?);
                sqlite = Some(store.clone());
                Engine::open(engine_config(&config), clock, store)?
            });
            if let Err(refused) = declare::declare(&engine, &config.queues).await {
                engine.stop().await;
                return Err(refused.into());
            }
            engine.resume_tasks();
            engine.spawn_healer();
            engine.spawn_sweeper();
            let app = app(engine, config, manual_clock, addr, tls)?;
            if let Some(store) = sqlite {
                spawn_body_check(store, &app);
            }
            Front::Single(app)
        }
    };
    let (stop, stopped) = watch::channel(false);
    let limits = Limits::of(&config_limits);
    let task = tokio::spawn(accept_loop(listener, front.clone(), limits, stopped));
    Ok(Server { addr, front, stop, task })
}

/// The start-up check of stored bodies (issue 21), in the background so that it does not
/// hold up the restart; it ends early if the store closes. Its counts go to /metrics.
fn spawn_body_check(store: Arc<store::SqliteStore>, app: &Arc<http::App>) {
    let app = Arc::downgrade(app);
    tokio::task::spawn_blocking(move || match store.check_bodies() {
        Ok(check) => {
            if let Some(app) = app.upgrade() {
                let _ = app.metrics.body_check.set(check);
            }
        }
        Err(e) => tracing::info!(error = %e, "the start-up check of stored message bodies stopped"),
    });
}

/// What a connection may hold and take (docs/security.md, "Limits").
#[derive(Clone, Copy)]
struct Limits {
    connections: usize,
    idle: Duration,
    headers: Option<usize>,
}

impl Limits {
    /// From (max connections, idle timeout in seconds, max headers); the process's limit on
    /// open files is raised to its hard limit first, and the connections fitted under it.
    fn of(&(connections, idle_s, headers): &(usize, u64, Option<usize>)) -> Limits {
        // Files the server needs besides connections: the store's, the listener, logs.
        const RESERVE: u64 = 256;
        let files = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
        let fit = files.saturating_sub(RESERVE).max(1) as usize;
        if connections > fit {
            tracing::warn!(
                max_connections = connections,
                open_files_limit = files,
                "the open-files limit allows fewer connections than --max-connections; at most {fit} will be open at once"
            );
        }
        Limits { connections: connections.min(fit), idle: Duration::from_secs(idle_s), headers }
    }
}

/// Serve one connection's requests (over TCP, or TLS once its handshake is done) until it
/// closes or the server shuts down.
async fn serve_connection<S>(
    front: Front,
    stream: S,
    peer: std::net::SocketAddr,
    limits: Limits,
    watcher: hyper_util::server::graceful::Watcher,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        // Where it came from: a queue policy's aws:SourceIp.
        req.extensions_mut().insert(http::Peer(peer));
        let front = front.clone();
        async move { front.serve(req).await }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // Also how long an idle keep-alive connection stays open: longer than clients keep
        // idle sockets in practice, so a reused one is rarely closed under them (AWS's idle
        // close is reported at 1–2 minutes).
        .header_read_timeout(limits.idle)
        .max_buf_size(http::MAX_HEAD);
    if let Some(n) = limits.headers {
        // Given only when configured: hyper's default (100) keeps its headers on the stack.
        builder.max_headers(n);
    }
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    let _ = watcher.watch(conn).await;
}

/// How long shutdown waits for open connections: real time, so a manual clock cannot hold it.
#[allow(clippy::disallowed_methods)]
async fn shutdown_grace() {
    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
}

/// A pause in real time: connection pacing, not SQS time, so a manual clock must not hold it.
#[allow(clippy::disallowed_methods)]
async fn accept_pause() {
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
}

async fn accept_loop(listener: TcpListener, front: Front, limits: Limits, mut stopped: watch::Receiver<bool>) {
    let graceful = GracefulShutdown::new();
    // One permit per open connection: at the limit, accepting waits, and new connections wait
    // in the kernel's listen backlog while those open keep being served.
    let open = Arc::new(tokio::sync::Semaphore::new(limits.connections));
    loop {
        let permit = tokio::select! {
            permit = open.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = stopped.changed() => break,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors (or memory): accepting again at once would
                        // spin; pause so that open connections can finish and free some.
                        tracing::warn!(error = %e, "accept failed; pausing 100 ms");
                        accept_pause().await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (front, watcher) = (front.clone(), graceful.watcher());
                tokio::spawn(async move {
                    let _open = permit;
                    match front.tls() {
                        None => serve_connection(front, stream, peer, limits, watcher).await,
                        Some(acceptor) => {
                            if let Some(stream) = tls::handshake(&acceptor, stream).await {
                                serve_connection(front, stream, peer, limits, watcher).await;
                            }
                        }
                    }
                });
            }
            _ = stopped.changed() => break,
        }
    }
    drop(listener);
    // Long polls end early so shutdown does not wait out their 20 s; move tasks pause
    // (a RUNNING task resumes at the next start).
    front.begin_shutdown();
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = shutdown_grace() => {
            tracing::warn!("connections still open after 30 s; stopping anyway");
        }
    }
    // Requests have finished: stop the runners, flush and close the store.
    front.stop().await;
}

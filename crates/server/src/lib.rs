//! The `redrive` server: configuration, the listener, the HTTP wrapper and the SQS
//! handlers on top of the engine.

pub mod api;
pub mod auth;
pub mod cli;
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
    app: Arc<http::App>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn endpoint(&self) -> String {
        let scheme = if self.app.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.app.engine
    }

    /// Move the manual clock forward (panics if the server runs on the system clock:
    /// tests only).
    pub fn advance_clock(&self, by: Duration) {
        match &self.app.manual_clock {
            Some(c) => {
                c.advance(by);
            }
            None => panic!("advance_clock needs Config::manual_clock"),
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
}

/// Open the store, load it, apply the declared queues, and start listening.
pub async fn start(config: Config) -> Result<Server, StartError> {
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key).map_err(StartError::Tls)?),
        _ => None,
    };
    let auth = match &config.credentials {
        Some(path) => {
            Some(auth::Auth::new(auth::Credentials::load(path).map_err(StartError::Credentials)?, &config.region))
        }
        None => None,
    };
    let listener = TcpListener::bind(&config.bind).await.map_err(|e| StartError::Bind(config.bind.clone(), e))?;
    if auth.is_none() && !config::is_loopback(&config.bind) {
        tracing::warn!(
            bind = %config.bind,
            "listening on a network without credentials (--allow-anonymous-network): anyone who can reach it can use every queue"
        );
    }
    let addr = listener.local_addr().map_err(|e| StartError::Bind(config.bind.clone(), e))?;
    let manual_clock = config.manual_clock.then(ManualClock::starting_now);
    let clock: Arc<dyn Clock> = match &manual_clock {
        Some(c) => Arc::new(c.clone()),
        None => Arc::new(SystemClock),
    };
    let engine_config = EngineConfig {
        region: config.region.clone(),
        account_id: config.account_id.clone(),
        max_redrives: config.max_redrives,
    };
    let engine = Arc::new(if config.in_memory {
        Engine::in_memory(engine_config, clock)
    } else {
        let store = store::SqliteStore::open_with_vfs(&config.data_dir, config.store_vfs.as_deref())?;
        Engine::open(engine_config, clock, Arc::new(store))?
    });
    if let Err(refused) = declare::declare(&engine, &config.queues).await {
        engine.stop().await;
        return Err(refused.into());
    }
    engine.resume_tasks();
    engine.spawn_healer();
    engine.spawn_sweeper();
    let app = Arc::new(http::App {
        engine,
        config,
        manual_clock,
        local_addr: addr,
        metrics: metrics::Metrics::new(),
        body_budget: tokio::sync::Semaphore::new(http::BODY_BUDGET_KIB),
        console: console::access::Access::new(),
        depth: Arc::new(depth::History::default()),
        auth,
        tls,
        sessions: console::session::Sessions::default(),
    });
    app.depth.spawn_sampler(&app.engine);
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, app.clone(), stopped));
    Ok(Server { addr, app, stop, task })
}

/// Serve one connection's requests (over TCP, or TLS once its handshake is done) until it
/// closes or the server shuts down.
async fn serve_connection<S>(
    app: Arc<http::App>,
    stream: S,
    peer: std::net::SocketAddr,
    watcher: hyper_util::server::graceful::Watcher,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        // Where it came from: a queue policy's aws:SourceIp.
        req.extensions_mut().insert(http::Peer(peer));
        http::serve(app.clone(), req)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        // Also how long an idle keep-alive connection stays open: longer than clients keep
        // idle sockets in practice, so a reused one is rarely closed under them (AWS's idle
        // close is reported at 1–2 minutes).
        .header_read_timeout(std::time::Duration::from_secs(http::IDLE_TIMEOUT_S))
        .max_buf_size(http::MAX_HEAD)
        .serve_connection(TokioIo::new(stream), service);
    let _ = watcher.watch(conn).await;
}

/// A pause in real time: connection pacing, not SQS time, so a manual clock must not hold it.
#[allow(clippy::disallowed_methods)]
async fn accept_pause() {
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
}

async fn accept_loop(listener: TcpListener, app: Arc<http::App>, mut stopped: watch::Receiver<bool>) {
    let graceful = GracefulShutdown::new();
    loop {
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
                let (app, watcher) = (app.clone(), graceful.watcher());
                tokio::spawn(async move {
                    match app.tls.clone() {
                        None => serve_connection(app, stream, peer, watcher).await,
                        Some(acceptor) => {
                            if let Some(stream) = tls::handshake(&acceptor, stream).await {
                                serve_connection(app, stream, peer, watcher).await;
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
    app.engine.shutdown();
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = app.engine.clock().sleep_until(app.engine.clock().now() + 30_000) => {
            tracing::warn!("connections still open after 30 s; stopping anyway");
        }
    }
    // Requests have finished: stop the runners, flush and close the store.
    app.engine.stop().await;
}

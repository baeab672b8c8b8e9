use std::io::Write;

use clap::Parser;
use redrive::config::Args;

/// jemalloc rather than glibc's malloc: request buffers and bodies are allocated on one thread
/// and freed on another (the store's writer), where glibc spent a fifth of the server's CPU in
/// arena locks and consolidation (docs/benchmarks.md); idle RSS stays ~8 MiB.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    // jemalloc's own thread returns freed memory to the system as it ages, also while the
    // server is idle (otherwise only an allocation triggers it): a restart's transient index
    // building (hundreds of MiB with millions of messages) does not stay in RSS.
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
        eprintln!("redrive: jemalloc's background thread: {e}");
    }
    let mut args = Args::parse();
    if let Some(command) = args.command.take() {
        return redrive::cli::run(command);
    }
    let config = match args.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("redrive: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(config.workers(cores)).enable_all().build();
    match runtime {
        Ok(rt) => rt.block_on(serve(config)),
        Err(e) => {
            eprintln!("redrive: cannot start the runtime: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

async fn serve(config: redrive::config::Config) -> std::process::ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(|| QuietStderr).init();
    // Signal handlers first, so a SIGTERM right after the listening line exits cleanly.
    let signal = shutdown_signal();
    let server = match redrive::start(config).await {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "redrive: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    // Tests and scripts read this line to learn the port. A full or closed stdout must not
    // stop the server (println! would panic).
    let _ = writeln!(std::io::stdout(), "redrive listening on {}", server.endpoint());
    tracing::info!(addr = %server.addr(), "listening");
    signal.await;
    tracing::info!("shutting down");
    server.shutdown().await;
    std::process::ExitCode::SUCCESS
}

/// Registers the handlers at once; the returned future resolves on SIGINT or SIGTERM.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            match (term, int) {
                (Some(mut term), Some(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Standard error for logs, where a failed write (a full disk, a closed pipe) is dropped: the
/// logger reports its own write errors with `eprintln!`, which panics when stderr fails, and a
/// panic on the store's writer thread would leave the store unable to heal.
struct QuietStderr;

impl Write for QuietStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

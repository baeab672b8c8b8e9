//! The server under test as a child process: start it, learn its port, SIGKILL it.
//! A `Server` kills and reaps its process when dropped, so no child outlives the harness.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

pub const READY_PREFIX: &str = "redrive listening on ";
/// A restart with 100,000 stored messages takes 0.25 s against a debug build here; CI
/// machines have been seen 10-30x slower.
const START_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Server {
    child: Proc,
    pub endpoint: String,
}

/// A child process that is killed and reaped when dropped, also when a future holding it
/// is cancelled half-way (a timeout, Ctrl-C).
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        kill_and_reap(&mut self.0);
    }
}

/// The arguments of a server on `data_dir`.
fn data_dir_args(data_dir: &Path) -> Vec<OsString> {
    let mut args = vec![OsString::from("--data-dir"), data_dir.as_os_str().to_owned()];
    args.extend(["--bind", "127.0.0.1:0", "--manual-clock"].map(OsString::from));
    args
}

/// Spawn `bin` with `args`; its first stdout line arrives on the receiver ("" at EOF).
fn spawn(
    bin: &Path,
    args: &[OsString],
    env: &[(&str, &str)],
    log: &Path,
) -> Result<(Proc, oneshot::Receiver<String>), String> {
    let log_file = open_log(log)?;
    let mut cmd = Command::new(bin);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::from(log_file));
    // Its settings come from these flags alone: no `REDRIVE_*` variable but the log filter.
    cmd.env_clear().envs(
        std::env::vars_os()
            .filter(|(k, _)| k.to_str().is_none_or(|k| !k.starts_with("REDRIVE_") || k == "REDRIVE_LOG")),
    );
    cmd.envs(env.iter().copied());
    let mut child = Proc(cmd.spawn().map_err(|e| format!("cannot start {}: {e}", bin.display()))?);
    let stdout = child.0.stdout.take().ok_or("no stdout pipe")?;
    let (tx, rx) = oneshot::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line.trim_end().to_string());
        // Keep the pipe drained until the process exits.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    Ok((child, rx))
}

fn open_log(log: &Path) -> Result<File, String> {
    OpenOptions::new().create(true).append(true).open(log).map_err(|e| format!("cannot open {}: {e}", log.display()))
}

impl Server {
    /// Start the server and wait (bounded) for its ready line.
    pub async fn start(bin: &Path, data_dir: &Path, log: &Path) -> Result<Server, String> {
        Server::start_with(bin, &data_dir_args(data_dir), &[], log).await
    }

    /// Start the server with these arguments (which bind 127.0.0.1) and environment variables
    /// (for secrets, which a command line shows to everyone); wait for its ready line.
    pub async fn start_with(bin: &Path, args: &[OsString], env: &[(&str, &str)], log: &Path) -> Result<Server, String> {
        let (mut child, rx) = spawn(bin, args, env, log)?;
        let line = match tokio::time::timeout(START_TIMEOUT, rx).await {
            Ok(Ok(line)) => line,
            Ok(Err(_)) => String::new(),
            Err(_) => {
                drop(child);
                return Err(format!("server printed nothing within {START_TIMEOUT:?}; log tail:\n{}", tail(log)));
            }
        };
        match line.strip_prefix(READY_PREFIX) {
            Some(url) if url.starts_with("http://127.0.0.1:") => {
                Ok(Server { child, endpoint: url.trim_end_matches('/').to_string() })
            }
            _ => {
                // Give an exiting process a moment so its status is known.
                let status = wait_exit(&mut child.0, Duration::from_millis(500)).await;
                drop(child);
                Err(format!(
                    "server did not become ready (stdout: {line:?}, exit: {}); log tail:\n{}",
                    status.unwrap_or_else(|| "still running".into()),
                    tail(log)
                ))
            }
        }
    }

    /// SIGKILL (no chance to flush anything) and reap.
    pub fn kill(self) {
        drop(self.child);
    }
}

fn kill_and_reap(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        // `Child::kill` is SIGKILL on Unix.
        let _ = child.kill();
    }
    let _ = child.wait();
}

async fn wait_exit(child: &mut Child, limit: Duration) -> Option<String> {
    let until = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status.to_string());
        }
        if Instant::now() >= until {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Start a second server on a data dir another server holds. Ok(message) when it is
/// refused properly (non-zero exit, a message on stderr); Err(what went wrong) otherwise.
pub async fn second_server_refused(bin: &Path, data_dir: &Path, log: &Path) -> Result<String, String> {
    let (mut proc, mut rx) = spawn(bin, &data_dir_args(data_dir), &[], log)?;
    let child = &mut proc.0;
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let message = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
            return match (status.success(), message.is_empty()) {
                (true, _) => Err(format!("second server on the same data dir exited successfully ({status})")),
                (false, true) => Err(format!("second server exited with {status} but printed no message")),
                (false, false) => Ok(format!("{status}: {message}")),
            };
        }
        if let Ok(line) = rx.try_recv() {
            if line.starts_with(READY_PREFIX) {
                kill_and_reap(child);
                return Err(format!("second server on the same data dir started and printed {line:?}"));
            }
        }
        if Instant::now() >= until {
            kill_and_reap(child);
            return Err("second server on the same data dir neither exited nor became ready within 10 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The last lines of a log, for error messages.
pub fn tail(log: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(log) {
        let _ = f.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// `--bin` default: a release build if there is one, else a debug build; looked for under
/// the current directory, then the workspace this harness was built from.
pub fn default_bin() -> Option<PathBuf> {
    let mut targets = vec![PathBuf::from("target")];
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        targets.push(PathBuf::from(dir));
    }
    targets.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    ["release", "debug"]
        .iter()
        .flat_map(|profile| targets.iter().map(move |t| t.join(profile).join("redrive")))
        .find(|candidate| candidate.is_file())
}

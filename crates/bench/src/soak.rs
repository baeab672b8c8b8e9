//! The soak: mixed, paced load for --minutes against a server this module starts itself,
//! SIGKILLed and restarted on the same data dir and port every --kill-every minutes; a sample
//! of the server's RSS, open fds, disk use and the window's latency every --report-every
//! seconds; then the load stops, every accounted queue is drained, and the run is judged.
//!
//! Load, at a fixed --rate (sends per second over all queues, so latency reflects the server
//! and not a saturated machine): three standard queues, one FIFO queue, and a source queue
//! whose RedrivePolicy (maxReceiveCount 1) hands to a DLQ the messages its consumer leaves
//! undeleted on purpose (one in five, the first time it sees them). Producers mix
//! SendMessageBatch and SendMessage; consumers alternate short polls and 2 s long polls and
//! mix DeleteMessageBatch, DeleteMessage and ChangeMessageVisibility (release to 0 once, or
//! extend before deleting). Every minute a move task returns the DLQ to its source, and
//! every 40 s a scratch queue under a fresh name is created, filled, purged and deleted.
//!
//! Accounting: each body carries a unique id. A send is retried (same ids) until it is
//! acknowledged; a failed attempt that may have reached the server (anything but a refused
//! connection) marks its ids "uncertain". At the end every acknowledged id must have been
//! received (else lost). A repeat receive is explained when the previous copy was never
//! deleted (released or handed off on purpose, a delete that failed, a visibility timeout that
//! lapsed), or its send was uncertain; it is unexplained when the receive was *sent after* an
//! acknowledged delete of a certain send — the server forgot an acknowledged delete.
//!
//! The criteria (each PASS, FAIL, or n/a when the run is too short to say):
//! - RSS growth. A restarted server starts small, so RSS is compared at the same phase of
//!   each kill cycle: just before each kill, at the same age since the server started. The
//!   first such reading after warm-up is compared with the last (< 5 %). With fewer than two
//!   kills after warm-up, the highest sample of the first third after warm-up is compared with
//!   the highest of the last third.
//! - p99 drift: p99 of every operation except long polls (whose time is mostly waiting for
//!   messages) over the first N minutes after warm-up against the last N minutes of load,
//!   N = min(5, a third of the measured time) (< 20 %). Requests that start from a kill until
//!   10 s after the server is ready again are left out; each restart's own cost is reported
//!   apart: time to ready, and the p99 and errors of the minute after the kill.
//! - Disk: the data dir (database, WAL and all) after the drain and a few idle seconds (the
//!   WAL checkpointed) against its size at the end of warm-up (< 10 % more). The "starting
//!   size" is taken then rather than at start, when a fresh dir is near empty: by the end of
//!   warm-up the schema, the steady backlog's pages and the WAL's working size exist, and
//!   what is measured is whether a long run leaves more behind (pages not reused).
//! - 0 lost, 0 unexplained duplicates.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, QueueAttributeName, SendMessageBatchRequestEntry};
use aws_sdk_sqs::Client;
use serde_json::{json, Map, Value};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::client::{sdk_client, Endpoint};
use crate::stats::{emit, round, rss_mib, Stats};
use crate::{secs, Args};

const READY_PREFIX: &str = "redrive listening on ";
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Requests starting this long after a restart's ready line are steady again.
const RESTART_SETTLE: Duration = Duration::from_secs(10);
/// A restart's own cost: the latency of the minute after the kill.
const RESTART_MINUTE: Duration = Duration::from_secs(60);
const RETRY_PAUSE: Duration = Duration::from_millis(200);
const MOVE_EVERY: Duration = Duration::from_secs(60);
const SCRATCH_EVERY: Duration = Duration::from_secs(40);
const DRAIN_LIMIT: Duration = Duration::from_secs(300);
/// Idle time before the final disk reading, for the WAL's checkpoint.
const IDLE_BEFORE_DISK: Duration = Duration::from_secs(5);
const STANDARD_QUEUES: usize = 3;
const FIFO_GROUPS: u64 = 10;
const PRODUCERS_PER_QUEUE: usize = 2;

fn note(text: impl AsRef<str>) {
    eprintln!("redrive-bench: soak: {}", text.as_ref());
}

// ---- the server process -------------------------------------------------------------------

/// The server as a child process, SIGKILLed and reaped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            // `Child::kill` is SIGKILL on Unix.
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Starts `bin` on `data_dir` bound to `bind`; returns it and its URL once it printed its
/// ready line.
async fn start_server(bin: &Path, data_dir: &Path, bind: &str, log: &Path) -> Result<(Server, String), String> {
    let log_file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
    let mut cmd = Command::new(bin);
    cmd.args([OsString::from("--data-dir"), data_dir.as_os_str().to_owned(), "--bind".into(), bind.into()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file));
    // Its settings come from these flags alone: no `REDRIVE_*` variable but the log filter.
    cmd.env_clear().envs(
        std::env::vars_os()
            .filter(|(k, _)| k.to_str().is_none_or(|k| !k.starts_with("REDRIVE_") || k == "REDRIVE_LOG")),
    );
    let mut server = Server(cmd.spawn().map_err(|e| format!("cannot start {}: {e}", bin.display()))?);
    let stdout = server.0.stdout.take().ok_or("no stdout pipe")?;
    let (tx, rx) = oneshot::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line.trim_end().to_string());
        // Keep the pipe drained until the process exits.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    let line = match tokio::time::timeout(START_TIMEOUT, rx).await {
        Ok(Ok(line)) => line,
        Ok(Err(_)) => String::new(),
        Err(_) => return Err(format!("server printed nothing within {START_TIMEOUT:?} (log: {})", log.display())),
    };
    match line.strip_prefix(READY_PREFIX) {
        Some(url) if url.starts_with("http://127.0.0.1:") => Ok((server, url.trim_end_matches('/').to_string())),
        _ => Err(format!("server did not become ready (stdout: {line:?}; log: {})", log.display())),
    }
}

/// Total size of the files under `dir` (the database, its WAL and anything else).
fn disk_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => disk_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn open_fds(pid: u32) -> Option<u64> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

// ---- latency ----------------------------------------------------------------------------------

/// Latencies and errors of the current sample window, the steady ones apart.
#[derive(Default)]
struct Window {
    /// Every request, per operation, and "all" (every operation except long polls).
    every: Stats,
    /// "all", without the requests around a restart.
    steady: Stats,
    sent: u64,
}

struct RestartCost {
    at: Instant,
    down: Duration,
    to_ready: Duration,
    minute: Stats,
}

struct Meter {
    started: Instant,
    window: Mutex<Window>,
    /// Milliseconds after `started` before which a request is not steady (a kill, a restart).
    steady_from_ms: AtomicU64,
    restarting: AtomicBool,
    restarts: Mutex<Vec<RestartCost>>,
}

impl Meter {
    fn ms(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.started).as_millis()).unwrap_or(u64::MAX)
    }

    fn ms32(&self, t: Instant) -> u32 {
        u32::try_from(self.ms(t)).unwrap_or(u32::MAX)
    }

    fn ok(&self, op: &'static str, t0: Instant, t1: Instant) {
        let took = t1 - t0;
        let in_all = op != "receive_wait";
        let steady = in_all
            && !self.restarting.load(Ordering::Relaxed)
            && self.ms(t0) >= self.steady_from_ms.load(Ordering::Relaxed);
        if let Ok(mut w) = self.window.lock() {
            w.every.record(op, took);
            if in_all {
                w.every.record_latency("all", took);
            }
            if steady {
                w.steady.record_latency("all", took);
            }
        }
        if in_all {
            if let Ok(mut r) = self.restarts.lock() {
                if let Some(last) = r.last_mut().filter(|c| t0 >= c.at && t0 < c.at + RESTART_MINUTE) {
                    last.minute.record("all", took);
                }
            }
        }
    }

    fn err(&self, op: &'static str, t0: Instant, e: &str) {
        if let Ok(mut w) = self.window.lock() {
            w.every.error(op, e);
        }
        if let Ok(mut r) = self.restarts.lock() {
            if let Some(last) = r.last_mut().filter(|c| t0 >= c.at && t0 < c.at + RESTART_MINUTE) {
                last.minute.error(op, e);
            }
        }
    }

    async fn time<T>(
        &self,
        op: &'static str,
        fut: impl std::future::Future<Output = Result<T, String>>,
    ) -> Result<T, String> {
        let t0 = Instant::now();
        let r = fut.await;
        match &r {
            Ok(_) => self.ok(op, t0, Instant::now()),
            Err(e) => self.err(op, t0, e),
        }
        r
    }
}

// ---- accounting -------------------------------------------------------------------------------

/// What became of a message's latest receive. Times are milliseconds since the start.
#[derive(Clone, Copy)]
enum Last {
    /// Received; no delete answered yet.
    Pending,
    /// Left undeleted on purpose (released, or left for the DLQ).
    Intended,
    DeleteFailed,
    DeleteAcked(u32),
}

/// Kept small: a 30-minute soak at 2,000 messages/s books 3.6 million of them.
struct Msg {
    acked: bool,
    uncertain_send: bool,
    receives: u16,
    last: Last,
}

#[derive(Default)]
struct Book {
    msgs: HashMap<u64, Msg>,
    next_id: u64,
    explained: HashMap<&'static str, u64>,
    unexplained: u64,
    unexplained_examples: Vec<String>,
    foreign: u64,
}

impl Book {
    fn new_ids(&mut self, n: usize) -> Vec<u64> {
        let ids: Vec<u64> = (self.next_id..self.next_id + n as u64).collect();
        self.next_id += n as u64;
        for id in &ids {
            self.msgs.insert(*id, Msg { acked: false, uncertain_send: false, receives: 0, last: Last::Pending });
        }
        ids
    }

    /// A receive sent at `t0` (ms) returned `id`; Some(true) when this is its first receive.
    fn received(&mut self, id: u64, t0: u32) -> Option<bool> {
        let Some(m) = self.msgs.get_mut(&id) else {
            self.foreign += 1;
            return None;
        };
        m.receives = m.receives.saturating_add(1);
        if m.receives == 1 {
            m.last = Last::Pending;
            return Some(true);
        }
        let reason = match m.last {
            Last::DeleteAcked(t) if t0 > t => {
                if m.uncertain_send {
                    Some("retried_send")
                } else {
                    None
                }
            }
            Last::DeleteAcked(_) => Some("redelivered_while_deleting"),
            Last::Intended => Some("left_undeleted_on_purpose"),
            Last::DeleteFailed => Some("delete_failed_or_lost"),
            Last::Pending => Some("visibility_lapsed"),
        };
        match reason {
            Some(r) => *self.explained.entry(r).or_default() += 1,
            None => {
                self.unexplained += 1;
                if self.unexplained_examples.len() < 10 {
                    self.unexplained_examples
                        .push(format!("id {id}: received by a receive sent after its delete was acknowledged"));
                }
            }
        }
        m.last = Last::Pending;
        Some(false)
    }

    fn set(&mut self, id: u64, last: Last) {
        if let Some(m) = self.msgs.get_mut(&id) {
            m.last = last;
        }
    }
}

fn body_of(id: u64, size: usize) -> String {
    let mut s = format!("soak:{id}:");
    const FILL: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut i = 0;
    while s.len() < size {
        s.push(FILL[i % FILL.len()] as char);
        i += 1;
    }
    s
}

fn id_of(body: &str) -> Option<u64> {
    body.strip_prefix("soak:")?.split(':').next()?.parse().ok()
}

// ---- the run ----------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Standard,
    Fifo,
    /// The source queue whose undeleted messages go to the DLQ.
    Source,
}

struct Queue {
    name: String,
    url: String,
    kind: Kind,
}

struct Soak {
    args: Args,
    sdk: Client,
    meter: Meter,
    book: Mutex<Book>,
    queues: Vec<Queue>,
    dlq_url: String,
    dlq_arn: String,
    /// The load stops.
    stop: AtomicBool,
    server_pid: AtomicU32,
    tag: String,
    moves: Mutex<(u64, u64)>,
    scratch_cycles: AtomicU64,
}

fn sdk_err<E, R>(e: aws_sdk_sqs::error::SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    aws_sdk_sqs::error::DisplayErrorContext(&e).to_string()
}

/// Could a failed request have reached the server? Only a refused connection surely did not.
fn maybe_delivered(e: &str) -> bool {
    !e.contains("Connection refused")
}

impl Soak {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    async fn pause(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }

    /// A periodic task's next turn: waits until `next` (a stop is seen within 250 ms), then sets
    /// the turn after it `period` on; false once the load stops.
    async fn turn(&self, next: &mut Instant, period: Duration) -> bool {
        while !self.stopped() {
            if Instant::now() >= *next {
                *next = Instant::now() + period;
                return true;
            }
            self.pause(Duration::from_millis(250)).await;
        }
        false
    }

    /// Sends `n` new messages to `q` (a batch, or one SendMessage when `n` is 1), retried
    /// until acknowledged; after the load stops, retries give up after 30 s.
    async fn produce(&self, q: &Queue, n: usize) {
        let ids = match self.book.lock() {
            Ok(mut b) => b.new_ids(n),
            Err(_) => return,
        };
        let mut left = ids;
        let mut stop_seen: Option<Instant> = None;
        while !left.is_empty() {
            let r = if left.len() == 1 && n == 1 {
                self.send_one(q, left[0]).await
            } else {
                self.send_batch(q, &left).await
            };
            match r {
                Ok(acked) => {
                    if let Ok(mut b) = self.book.lock() {
                        for id in &acked {
                            if let Some(m) = b.msgs.get_mut(id) {
                                m.acked = true;
                            }
                        }
                    }
                    if let Ok(mut w) = self.meter.window.lock() {
                        w.sent += acked.len() as u64;
                    }
                    left.retain(|id| !acked.contains(id));
                }
                Err(e) => {
                    if maybe_delivered(&e) {
                        if let Ok(mut b) = self.book.lock() {
                            for id in &left {
                                if let Some(m) = b.msgs.get_mut(id) {
                                    m.uncertain_send = true;
                                }
                            }
                        }
                    }
                }
            }
            if left.is_empty() {
                break;
            }
            if self.stopped() {
                let since = *stop_seen.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_secs(30) {
                    return;
                }
            }
            self.pause(RETRY_PAUSE).await;
        }
    }

    async fn send_one(&self, q: &Queue, id: u64) -> Result<Vec<u64>, String> {
        let mut req = self.sdk.send_message().queue_url(&q.url).message_body(body_of(id, self.args.body_size));
        if q.kind == Kind::Fifo {
            req = req.message_group_id(format!("g{}", id % FIFO_GROUPS)).message_deduplication_id(id.to_string());
        }
        self.meter.time("send", async { req.send().await.map_err(sdk_err) }).await?;
        Ok(vec![id])
    }

    async fn send_batch(&self, q: &Queue, ids: &[u64]) -> Result<Vec<u64>, String> {
        let entries = ids
            .iter()
            .map(|id| {
                let mut e = SendMessageBatchRequestEntry::builder()
                    .id(id.to_string())
                    .message_body(body_of(*id, self.args.body_size));
                if q.kind == Kind::Fifo {
                    e = e.message_group_id(format!("g{}", id % FIFO_GROUPS)).message_deduplication_id(id.to_string());
                }
                e.build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let req = self.sdk.send_message_batch().queue_url(&q.url).set_entries(Some(entries));
        let out = self.meter.time("send_batch", async { req.send().await.map_err(sdk_err) }).await?;
        if let Some(f) = out.failed().first() {
            self.meter.err(
                "send_batch_entry",
                Instant::now(),
                &format!("{} failed entries, e.g. {f:?}", out.failed().len()),
            );
        }
        Ok(out.successful().iter().filter_map(|s| s.id().parse().ok()).collect())
    }

    /// Producer of `q` at `rate` messages per second: three batches of 10 for every single
    /// SendMessage.
    async fn producer(self: Arc<Self>, qi: usize, rate: f64) {
        let per_tick = (3.0 * 10.0 + 1.0) / 4.0;
        let mut tick = tokio::time::interval(secs(per_tick / rate.max(0.01)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut n: u64 = 0;
        while !self.stopped() {
            tick.tick().await;
            n += 1;
            self.produce(&self.queues[qi], if n.is_multiple_of(4) { 1 } else { 10 }).await;
        }
    }

    /// A consumer of `q` while the load runs; `drain` deletes everything it receives.
    async fn consume_once(&self, q: &Queue, call: u64, drain: bool) -> Result<usize, String> {
        let long = drain || call.is_multiple_of(2);
        let visibility = if drain {
            30
        } else if q.kind == Kind::Source {
            2
        } else {
            10
        };
        let req = self
            .sdk
            .receive_message()
            .queue_url(&q.url)
            .max_number_of_messages(10)
            .wait_time_seconds(if long {
                if drain {
                    1
                } else {
                    2
                }
            } else {
                0
            })
            .visibility_timeout(visibility);
        let t0 = Instant::now();
        let out = self
            .meter
            .time(if long { "receive_wait" } else { "receive" }, async { req.send().await.map_err(sdk_err) })
            .await?;
        let mut delete: Vec<(u64, String)> = Vec::new();
        let mut extend: Vec<(u64, String)> = Vec::new();
        let mut release: Vec<(u64, String)> = Vec::new();
        let received = out.messages().len();
        {
            let Ok(mut b) = self.book.lock() else { return Ok(received) };
            for m in out.messages() {
                let receipt = m.receipt_handle().unwrap_or_default().to_string();
                let Some(id) = id_of(m.body().unwrap_or_default()) else {
                    b.foreign += 1;
                    continue;
                };
                let Some(first) = b.received(id, self.meter.ms32(t0)) else { continue };
                if drain || q.kind == Kind::Fifo {
                    delete.push((id, receipt));
                } else if first && q.kind == Kind::Source && id % 5 == 0 {
                    // Left for the DLQ: the next receive hands it off (maxReceiveCount 1).
                    b.set(id, Last::Intended);
                } else if first && q.kind == Kind::Standard && id % 20 == 1 {
                    b.set(id, Last::Intended);
                    release.push((id, receipt));
                } else if q.kind == Kind::Standard && id % 20 == 2 {
                    extend.push((id, receipt));
                } else {
                    delete.push((id, receipt));
                }
            }
        }
        for (_, receipt) in &release {
            let req =
                self.sdk.change_message_visibility().queue_url(&q.url).receipt_handle(receipt).visibility_timeout(0);
            let _ = self.meter.time("change_visibility", async { req.send().await.map_err(sdk_err) }).await;
        }
        for (id, receipt) in extend {
            let req =
                self.sdk.change_message_visibility().queue_url(&q.url).receipt_handle(&receipt).visibility_timeout(60);
            let _ = self.meter.time("change_visibility", async { req.send().await.map_err(sdk_err) }).await;
            delete.push((id, receipt));
        }
        if delete.is_empty() {
            return Ok(received);
        }
        if call % 4 == 1 {
            for (id, receipt) in &delete {
                let req = self.sdk.delete_message().queue_url(&q.url).receipt_handle(receipt);
                let r = self.meter.time("delete", async { req.send().await.map_err(sdk_err) }).await;
                let last =
                    if r.is_ok() { Last::DeleteAcked(self.meter.ms32(Instant::now())) } else { Last::DeleteFailed };
                if let Ok(mut b) = self.book.lock() {
                    b.set(*id, last);
                }
            }
        } else {
            let entries = delete
                .iter()
                .map(|(id, receipt)| {
                    DeleteMessageBatchRequestEntry::builder().id(id.to_string()).receipt_handle(receipt).build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            let req = self.sdk.delete_message_batch().queue_url(&q.url).set_entries(Some(entries));
            let r = self.meter.time("delete_batch", async { req.send().await.map_err(sdk_err) }).await;
            let now = Instant::now();
            let ok: Vec<u64> = match &r {
                Ok(out) => out.successful().iter().filter_map(|s| s.id().parse().ok()).collect(),
                Err(_) => Vec::new(),
            };
            if let Ok(out) = &r {
                if let Some(f) = out.failed().first() {
                    self.meter.err("delete_batch_entry", now, &format!("{f:?}"));
                }
            }
            if let Ok(mut b) = self.book.lock() {
                for (id, _) in &delete {
                    b.set(
                        *id,
                        if ok.contains(id) { Last::DeleteAcked(self.meter.ms32(now)) } else { Last::DeleteFailed },
                    );
                }
            }
        }
        Ok(received)
    }

    async fn consumer(self: Arc<Self>, qi: usize) {
        let mut call: u64 = 0;
        while !self.stopped() {
            call += 1;
            match self.consume_once(&self.queues[qi], call, false).await {
                Ok(0) if call % 2 == 1 => self.pause(Duration::from_millis(100)).await,
                Ok(_) => {}
                Err(_) => self.pause(RETRY_PAUSE).await,
            }
        }
    }

    /// Moves the DLQ back to its source and waits for the task to end; Ok(status).
    async fn move_back(&self) -> Result<String, String> {
        let req = self.sdk.start_message_move_task().source_arn(&self.dlq_arn);
        self.meter.time("start_move_task", async { req.send().await.map_err(sdk_err) }).await?;
        let until = Instant::now() + Duration::from_secs(120);
        while Instant::now() < until {
            self.pause(Duration::from_millis(500)).await;
            let req = self.sdk.list_message_move_tasks().source_arn(&self.dlq_arn).max_results(1);
            let Ok(out) = self.meter.time("list_move_tasks", async { req.send().await.map_err(sdk_err) }).await else {
                continue;
            };
            let status = out.results().first().and_then(|t| t.status()).unwrap_or_default().to_string();
            if status != "RUNNING" {
                return Ok(status);
            }
        }
        Err("move task still RUNNING after 120 s".into())
    }

    async fn mover(self: Arc<Self>) {
        let mut next = Instant::now() + MOVE_EVERY / 2;
        while self.turn(&mut next, MOVE_EVERY).await {
            let done = self.move_back().await;
            if let Ok(mut m) = self.moves.lock() {
                match done.as_deref() {
                    Ok("COMPLETED") => m.0 += 1,
                    _ => m.1 += 1,
                }
            }
        }
    }

    /// Create, fill, purge and delete a queue under a fresh name (AWS: a deleted name cannot be
    /// created again for 60 s, a queue purged once per 60 s). Not accounted.
    async fn scratch_cycle(&self, n: u64, leftovers: &mut Vec<String>) {
        for url in std::mem::take(leftovers) {
            let req = self.sdk.delete_queue().queue_url(&url);
            if self.meter.time("delete_queue", async { req.send().await.map_err(sdk_err) }).await.is_err() {
                leftovers.push(url);
            }
        }
        let name = format!("soak-scratch-{}-{n}", self.tag);
        let req = self.sdk.create_queue().queue_name(&name);
        let Ok(out) = self.meter.time("create_queue", async { req.send().await.map_err(sdk_err) }).await else {
            return;
        };
        let Some(url) = out.queue_url().map(str::to_string) else { return };
        leftovers.push(url.clone());
        for b in 0..5 {
            let entries: Result<Vec<_>, _> = (0..10)
                .map(|i| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(format!("scratch {b} {i}"))
                        .build()
                })
                .collect();
            let Ok(entries) = entries else { return };
            let req = self.sdk.send_message_batch().queue_url(&url).set_entries(Some(entries));
            if self.meter.time("send_batch", async { req.send().await.map_err(sdk_err) }).await.is_err() {
                return;
            }
        }
        let req = self.sdk.purge_queue().queue_url(&url);
        if self.meter.time("purge_queue", async { req.send().await.map_err(sdk_err) }).await.is_err() {
            return;
        }
        let req = self.sdk.delete_queue().queue_url(&url);
        if self.meter.time("delete_queue", async { req.send().await.map_err(sdk_err) }).await.is_ok() {
            leftovers.retain(|u| u != &url);
            self.scratch_cycles.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn scratcher(self: Arc<Self>) {
        let mut leftovers = Vec::new();
        let mut n = 0;
        let mut next = Instant::now() + SCRATCH_EVERY / 4;
        while self.turn(&mut next, SCRATCH_EVERY).await {
            n += 1;
            self.scratch_cycle(n, &mut leftovers).await;
        }
        // Whatever a kill left behind.
        for _ in 0..20 {
            if leftovers.is_empty() {
                break;
            }
            for url in std::mem::take(&mut leftovers) {
                if self.sdk.delete_queue().queue_url(&url).send().await.is_err() {
                    leftovers.push(url);
                }
            }
            self.pause(Duration::from_millis(500)).await;
        }
    }

    async fn depth(&self, url: &str) -> Result<u64, String> {
        let out = self
            .sdk
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.attributes().map(|a| a.values().filter_map(|v| v.parse::<u64>().ok()).sum()).unwrap_or(0))
    }

    /// After the load: return the DLQ to its source and receive-and-delete every queue until
    /// all are empty (messages in flight come back when their visibility timeout lapses).
    async fn drain(&self) -> Result<Duration, String> {
        let t0 = Instant::now();
        let mut call = 0;
        loop {
            if t0.elapsed() > DRAIN_LIMIT {
                return Err(format!("queues not empty after {}s of draining", DRAIN_LIMIT.as_secs()));
            }
            if self.depth(&self.dlq_url).await.unwrap_or(1) > 0 {
                let status = self.move_back().await;
                note(format!("drain: move task DLQ -> source: {status:?}"));
            }
            for q in &self.queues {
                loop {
                    call += 1;
                    match self.consume_once(q, call * 4, true).await {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e) => {
                            note(format!("drain: {}: {e}", q.name));
                            self.pause(RETRY_PAUSE).await;
                        }
                    }
                }
            }
            let mut total = self.depth(&self.dlq_url).await?;
            for q in &self.queues {
                total += self.depth(&q.url).await?;
            }
            if total == 0 {
                return Ok(t0.elapsed());
            }
            self.pause(Duration::from_secs(1)).await;
        }
    }
}

// ---- samples ----------------------------------------------------------------------------------

struct Sample {
    t: f64,
    rss_max: Option<f64>,
    steady: Stats,
    disk: u64,
}

struct PreKill {
    t: f64,
    rss: Option<f64>,
}

/// Appends a sample to the samples file and prints its gist.
fn record_line(path: &Path, line: &Value) {
    let f = |k: &str| line.get(k).map_or("-".to_string(), Value::to_string);
    note(format!(
        "{:>7}s {:6} rss {} MiB, fds {}, disk {} B, {} req/s, {} sent/s, p50 {} ms, p99 {} ms (steady {}), errors {}, restarts {}",
        f("elapsed_s"),
        line.get("phase").and_then(Value::as_str).unwrap_or(""),
        f("rss_mib"),
        f("fds"),
        f("disk_bytes"),
        f("ops_per_s"),
        f("sent_per_s"),
        f("p50_ms"),
        f("p99_ms"),
        f("steady_p99_ms"),
        f("errors"),
        f("restarts"),
    ));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(path) {
        use std::io::Write;
        let _ = writeln!(f, "{line}");
    }
}

pub async fn main(args: Args) -> ExitCode {
    let budget = secs(args.minutes * 60.0 * 2.0) + Duration::from_secs(600);
    match tokio::time::timeout(budget, run(args)).await {
        Ok(Ok(true)) => ExitCode::SUCCESS,
        Ok(Ok(false)) => ExitCode::from(1),
        Ok(Err(e)) => {
            eprintln!("redrive-bench: soak failed: {e}");
            ExitCode::from(1)
        }
        Err(_) => {
            eprintln!("redrive-bench: soak did not finish within {}s", budget.as_secs());
            ExitCode::from(3)
        }
    }
}

/// Runs the soak; Ok(whether every criterion that could be judged passed).
async fn run(args: Args) -> Result<bool, String> {
    let bin = args.server.clone().ok_or("--server is required")?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let tag = format!("{}-{}", std::process::id(), now.as_millis() % 100_000_000);
    let out_dir = args.out.parent().map(Path::to_path_buf).unwrap_or_default();
    let own_dir = args.data_dir.is_none();
    let data_dir = args.data_dir.clone().unwrap_or_else(|| out_dir.join(format!("soak-{tag}")));
    std::fs::create_dir_all(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let log = out_dir.join(format!("soak-{tag}.server.log"));
    let samples_path = args.samples.clone().unwrap_or_else(|| args.out.with_extension("soak-samples.jsonl"));
    note(format!(
        "server {} on {} (log {}); samples to {}",
        bin.display(),
        data_dir.display(),
        log.display(),
        samples_path.display()
    ));

    let started = Instant::now();
    let (server, url) = start_server(&bin, &data_dir, "127.0.0.1:0", &log).await?;
    let bind = url.trim_start_matches("http://").to_string();
    let endpoint = Endpoint::resolve(&url).await?;
    let sdk = sdk_client(&endpoint);
    let pid = server.0.id();

    // Queues.
    let create = |name: String, attrs: Vec<(QueueAttributeName, String)>| {
        let sdk = sdk.clone();
        async move {
            let mut req = sdk.create_queue().queue_name(&name);
            for (k, v) in attrs {
                req = req.attributes(k, v);
            }
            let out = req.send().await.map_err(sdk_err)?;
            out.queue_url().map(str::to_string).ok_or_else(|| "CreateQueue returned no QueueUrl".to_string())
        }
    };
    let prefix = format!("soak-{tag}");
    let mut queues = Vec::new();
    for i in 0..STANDARD_QUEUES {
        let name = format!("{prefix}-std{i}");
        let url = create(name.clone(), vec![(QueueAttributeName::VisibilityTimeout, "10".into())]).await?;
        queues.push(Queue { name, url, kind: Kind::Standard });
    }
    let name = format!("{prefix}-fifo.fifo");
    let url = create(
        name.clone(),
        vec![(QueueAttributeName::FifoQueue, "true".into()), (QueueAttributeName::VisibilityTimeout, "10".into())],
    )
    .await?;
    queues.push(Queue { name, url, kind: Kind::Fifo });
    let dlq_url = create(format!("{prefix}-dlq"), vec![]).await?;
    let dlq_arn = sdk
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(sdk_err)?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or("no QueueArn")?;
    let name = format!("{prefix}-src");
    let policy = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}).to_string();
    let url = create(
        name.clone(),
        vec![(QueueAttributeName::RedrivePolicy, policy), (QueueAttributeName::VisibilityTimeout, "2".into())],
    )
    .await?;
    queues.push(Queue { name, url, kind: Kind::Source });

    let soak = Arc::new(Soak {
        sdk,
        meter: Meter {
            started,
            window: Mutex::new(Window::default()),
            steady_from_ms: AtomicU64::new(0),
            restarting: AtomicBool::new(false),
            restarts: Mutex::new(Vec::new()),
        },
        book: Mutex::new(Book::default()),
        queues,
        dlq_url,
        dlq_arn,
        stop: AtomicBool::new(false),
        server_pid: AtomicU32::new(pid),
        tag: tag.clone(),
        moves: Mutex::new((0, 0)),
        scratch_cycles: AtomicU64::new(0),
        args,
    });
    let a = &soak.args;
    let warmup = a.warmup();
    let load = secs(a.minutes * 60.0);
    let kill_every = (a.kill_every > 0.0).then(|| secs(a.kill_every * 60.0));
    let report_every = secs(a.report_every);
    note(format!(
        "{} msg/s over {} queues for {:.1} min (warm-up {}s), kill every {}",
        a.rate(),
        soak.queues.len(),
        a.minutes,
        warmup.as_secs(),
        kill_every.map_or("never".into(), |k| format!("{}s", k.as_secs()))
    ));

    let mut load_tasks = JoinSet::new();
    // Two producers a queue: one alone, waiting for each answer, falls behind its ticks
    // whenever a request takes longer than a tick (about 20 ms at 2,000 messages/s).
    let per_producer = a.rate() / soak.queues.len() as f64 / PRODUCERS_PER_QUEUE as f64;
    for qi in 0..soak.queues.len() {
        for _ in 0..PRODUCERS_PER_QUEUE {
            load_tasks.spawn(soak.clone().producer(qi, per_producer));
        }
        let consumers = if soak.queues[qi].kind == Kind::Source { 1 } else { 2 };
        for _ in 0..consumers {
            load_tasks.spawn(soak.clone().consumer(qi));
        }
    }
    load_tasks.spawn(soak.clone().mover());
    load_tasks.spawn(soak.clone().scratcher());

    // The main loop: samples, kills and restarts, until the load's end.
    let mut server = Some(server);
    let mut samples: Vec<Sample> = Vec::new();
    let mut pre_kills: Vec<PreKill> = Vec::new();
    let mut next_kill = kill_every.map(|k| started + k);
    let mut next_sample = started + report_every;
    let load_end = started + load;
    let mut rss_max: Option<f64> = None;
    let mut disk_at_warmup: Option<u64> = None;
    let mut restarts = 0u32;
    let mut fds_max: Option<u64> = None;
    let mut last_sample = started;
    // Until the load's end, and its last sample if one falls due then.
    while Instant::now() < load_end || next_sample <= load_end + Duration::from_millis(500) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let pid = soak.server_pid.load(Ordering::Relaxed);
        if let Some(r) = rss_mib(pid) {
            rss_max = Some(rss_max.map_or(r, |m: f64| m.max(r)));
        }
        let now = Instant::now();
        if disk_at_warmup.is_none() && now >= started + warmup {
            disk_at_warmup = Some(disk_bytes(&data_dir));
        }
        if now >= next_sample {
            let w = soak.meter.window.lock().map(|mut w| std::mem::take(&mut *w)).unwrap_or_default();
            let t = now.duration_since(started).as_secs_f64();
            let span = now.duration_since(last_sample).as_secs_f64().max(1e-3);
            last_sample = now;
            let disk = disk_bytes(&data_dir);
            let fds = open_fds(pid);
            fds_max = fds_max.max(fds);
            let phase = if now < started + warmup { "warmup" } else { "load" };
            let line = json!({
                "kind": "sample",
                "elapsed_s": round(t, 1),
                "phase": phase,
                "rss_mib": rss_mib(pid).map(|v| round(v, 1)),
                "rss_mib_max": rss_max.map(|v| round(v, 1)),
                "fds": fds,
                "disk_bytes": disk,
                "ops_per_s": round(w.every.ops as f64 / span, 1),
                "sent_per_s": round(w.sent as f64 / span, 1),
                "errors": w.every.errors,
                "first_error": w.every.first_error,
                "p50_ms": w.every.quantile_ms("all", 0.5).map(|v| round(v, 3)),
                "p99_ms": w.every.quantile_ms("all", 0.99).map(|v| round(v, 3)),
                "steady_p99_ms": w.steady.quantile_ms("all", 0.99).map(|v| round(v, 3)),
                "latency_ms": w.every.latency_json(),
                "restarts": restarts,
            });
            record_line(&samples_path, &line);
            samples.push(Sample { t, rss_max, steady: w.steady, disk });
            rss_max = None;
            next_sample += report_every;
        }
        if let (Some(k), Some(every)) = (next_kill, kill_every) {
            if now >= k && now + Duration::from_secs(5) < load_end {
                next_kill = Some(k + every);
                soak.meter.restarting.store(true, Ordering::Relaxed);
                pre_kills.push(PreKill { t: now.duration_since(started).as_secs_f64(), rss: rss_mib(pid) });
                let kill_at = Instant::now();
                if let Ok(mut r) = soak.meter.restarts.lock() {
                    r.push(RestartCost {
                        at: kill_at,
                        down: Duration::ZERO,
                        to_ready: Duration::ZERO,
                        minute: Stats::default(),
                    });
                }
                drop(server.take());
                let spawn_at = Instant::now();
                let mut attempt = 0;
                let (s, _) = loop {
                    attempt += 1;
                    match start_server(&bin, &data_dir, &bind, &log).await {
                        Ok(s) => break s,
                        // The port may linger a moment after the kill.
                        Err(e) if attempt < 10 => {
                            note(format!("restart attempt {attempt}: {e}"));
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                        Err(e) => return Err(format!("restart failed: {e}")),
                    }
                };
                let ready = Instant::now();
                restarts += 1;
                soak.server_pid.store(s.0.id(), Ordering::Relaxed);
                server = Some(s);
                soak.meter.steady_from_ms.store(soak.meter.ms(ready + RESTART_SETTLE), Ordering::Relaxed);
                soak.meter.restarting.store(false, Ordering::Relaxed);
                if let Ok(mut r) = soak.meter.restarts.lock() {
                    if let Some(c) = r.last_mut() {
                        c.down = ready - kill_at;
                        c.to_ready = ready - spawn_at;
                    }
                }
                note(format!("restart {restarts}: ready {:.3}s after the kill", (ready - kill_at).as_secs_f64()));
            }
        }
    }

    // Stop the load, let the producers' last retries finish, drain, check.
    soak.stop.store(true, Ordering::Relaxed);
    let join_limit = Instant::now() + Duration::from_secs(150);
    while !load_tasks.is_empty() {
        let left = join_limit.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, load_tasks.join_next()).await.is_err() {
            note("load tasks did not stop within 150 s; aborting them");
            load_tasks.abort_all();
            break;
        }
    }
    note("load stopped; draining");
    let drained = soak.drain().await;
    tokio::time::sleep(IDLE_BEFORE_DISK).await;
    let pid = soak.server_pid.load(Ordering::Relaxed);
    let disk_final = disk_bytes(&data_dir);
    let fds_final = open_fds(pid);
    let rss_final = rss_mib(pid);

    // ---- the judgement ----
    let a = &soak.args;
    let load_s = load.as_secs_f64();
    let warm_s = warmup.as_secs_f64();
    let measured = (load_s - warm_s).max(0.0);
    let n_s = (measured / 3.0).min(300.0);
    let mut criteria = Map::new();
    let mut all_pass = true;
    let mut judge = |name: &str, value: Option<f64>, limit: f64, detail: Value| {
        let verdict = match value {
            Some(v) if v <= limit => "PASS",
            Some(_) => "FAIL",
            None => "n/a",
        };
        if verdict == "FAIL" {
            all_pass = false;
        }
        eprintln!(
            "redrive-bench: soak: {verdict:4} {name}: {} (limit {limit}) {detail}",
            value.map_or("n/a".into(), |v| format!("{}", round(v, 2)))
        );
        criteria.insert(
            name.into(),
            json!({"value": value.map(|v| round(v, 3)), "limit": limit, "verdict": verdict, "detail": detail}),
        );
    };

    // RSS: just before each kill after warm-up, first against last; else max of first third
    // after warm-up against max of the last third.
    let kills_after: Vec<&PreKill> = pre_kills.iter().filter(|k| k.t >= warm_s && k.rss.is_some()).collect();
    let (rss_growth, rss_detail) = if kills_after.len() >= 2 {
        let first = kills_after[0].rss.unwrap_or(0.0);
        let last = kills_after[kills_after.len() - 1].rss.unwrap_or(0.0);
        (
            (first > 0.0).then(|| (last - first) / first * 100.0),
            json!({"method": "before each kill", "first_mib": round(first, 1), "last_mib": round(last, 1),
                   "before_kills_mib": pre_kills.iter().map(|k| json!([round(k.t, 1), k.rss.map(|r| round(r, 1))])).collect::<Vec<_>>()}),
        )
    } else {
        let max_in = |from: f64, to: f64| {
            samples
                .iter()
                .filter(|s| s.t > from && s.t <= to)
                .filter_map(|s| s.rss_max)
                .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))))
        };
        let first = max_in(warm_s, warm_s + measured / 3.0);
        let last = max_in(load_s - measured / 3.0, load_s + 1.0);
        let growth = match (first, last) {
            (Some(f), Some(l)) if f > 0.0 && kill_every.is_none() => Some((l - f) / f * 100.0),
            _ => None,
        };
        (
            growth,
            json!({"method": "max of first vs last third after warm-up (no restarts in between)", "first_mib": first, "last_mib": last}),
        )
    };
    judge("rss_growth_pct", rss_growth, 5.0, rss_detail);

    // p99 drift over steady requests.
    let merged = |from: f64, to: f64| {
        let mut s = Stats::default();
        // A sample covers the report_every seconds before its time.
        for x in samples.iter().filter(|x| x.t - a.report_every >= from - 0.5 && x.t <= to + 0.5) {
            s.merge_ref(&x.steady);
        }
        s
    };
    let first_w = merged(warm_s, warm_s + n_s);
    let last_w = merged(load_s - n_s, load_s);
    let p_first = first_w.quantile_ms("all", 0.99);
    let p_last = last_w.quantile_ms("all", 0.99);
    let drift = match (p_first, p_last) {
        (Some(f), Some(l)) if f > 0.0 && n_s >= a.report_every => Some((l - f) / f * 100.0),
        _ => None,
    };
    judge(
        "p99_drift_pct",
        drift,
        20.0,
        json!({"window_s": round(n_s, 0), "first_p99_ms": p_first, "last_p99_ms": p_last}),
    );

    // Disk.
    let disk_growth = disk_at_warmup.filter(|d| *d > 0).map(|d| (disk_final as f64 - d as f64) / d as f64 * 100.0);
    let disk_max = samples.iter().map(|s| s.disk).max();
    judge(
        "disk_growth_pct",
        disk_growth.filter(|_| drained.is_ok()),
        10.0,
        json!({"after_warmup_bytes": disk_at_warmup, "after_drain_bytes": disk_final, "max_sampled_bytes": disk_max}),
    );

    // Messages.
    let (acked, sent, lost, lost_examples, dup_msgs, explained, unexplained, examples, foreign) = {
        let b = soak.book.lock().map_err(|_| "book poisoned")?;
        let lost: Vec<u64> = b.msgs.iter().filter(|(_, m)| m.acked && m.receives == 0).map(|(id, _)| *id).collect();
        let dup = b.msgs.values().filter(|m| m.receives > 1).count();
        (
            b.msgs.values().filter(|m| m.acked).count(),
            b.msgs.len(),
            lost.len(),
            lost.iter().take(10).copied().collect::<Vec<_>>(),
            dup,
            b.explained.clone(),
            b.unexplained,
            b.unexplained_examples.clone(),
            b.foreign,
        )
    };
    let drained_ok = drained.is_ok();
    judge(
        "lost",
        drained_ok.then_some(lost as f64),
        0.0,
        json!({"acknowledged": acked, "sent": sent, "examples": lost_examples, "drain": drained.as_ref().map(|d| round(d.as_secs_f64(), 1)).map_err(Clone::clone)}),
    );
    judge("unexplained_duplicates", Some(unexplained as f64), 0.0, json!({"examples": examples}));
    if !drained_ok {
        all_pass = false;
    }

    let restart_costs: Vec<Value> = soak
        .meter
        .restarts
        .lock()
        .map(|r| {
            r.iter()
                .map(|c| {
                    json!({
                        "at_s": round(c.at.duration_since(started).as_secs_f64(), 1),
                        "down_s": round(c.down.as_secs_f64(), 3),
                        "time_to_ready_s": round(c.to_ready.as_secs_f64(), 3),
                        "minute_p99_ms": c.minute.quantile_ms("all", 0.99).map(|v| round(v, 3)),
                        "minute_errors": c.minute.errors,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let moves = soak.moves.lock().map(|m| *m).unwrap_or((0, 0));
    let mut line = Map::new();
    line.insert("scenario".into(), "soak".into());
    line.insert("kind".into(), "summary".into());
    line.insert("target".into(), a.target.as_str().into());
    line.insert("server".into(), bin.display().to_string().into());
    line.insert("unix_time".into(), now.as_secs().into());
    line.insert("minutes".into(), a.minutes.into());
    line.insert("kill_every_min".into(), a.kill_every.into());
    line.insert("rate".into(), a.rate().into());
    line.insert("body_size".into(), a.body_size.into());
    line.insert("warmup_s".into(), round(warm_s, 1).into());
    line.insert("restarts".into(), restarts.into());
    line.insert("restart_costs".into(), restart_costs.into());
    line.insert("messages_sent".into(), sent.into());
    line.insert("messages_acknowledged".into(), acked.into());
    line.insert("lost".into(), lost.into());
    line.insert("received_more_than_once".into(), dup_msgs.into());
    line.insert("duplicates_explained".into(), json!(explained));
    line.insert("duplicates_unexplained".into(), unexplained.into());
    line.insert("foreign_messages".into(), foreign.into());
    line.insert("move_tasks".into(), json!({"completed": moves.0, "other": moves.1}));
    line.insert("scratch_cycles".into(), soak.scratch_cycles.load(Ordering::Relaxed).into());
    line.insert("rss_mib_final".into(), rss_final.map(|v| round(v, 1)).into());
    line.insert("fds_final".into(), fds_final.into());
    line.insert("fds_max".into(), fds_max.into());
    line.insert("criteria".into(), Value::Object(criteria));
    line.insert("pass".into(), all_pass.into());
    line.insert("samples_file".into(), samples_path.display().to_string().into());
    emit(&a.out, &line);
    note(if all_pass { "PASS" } else { "FAIL" });

    drop(server);
    if own_dir && all_pass {
        let _ = std::fs::remove_dir_all(&data_dir);
    } else {
        note(format!("data dir kept: {}", data_dir.display()));
    }
    Ok(all_pass)
}

//! The scenarios. Every loop ends at its window's deadline (or count), after a bounded number
//! of consecutive errors, or at a fixed iteration cap; every call has a timeout.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};
use tokio::task::JoinSet;

use crate::client::{
    sdk_client, Action, ClientKind, Conn, Control, Endpoint, Entry, PreparedReceive, PreparedSend, RawConn, BATCH,
};
use crate::stats::{emit, measured, round, Monitor, MonitorOut, Stats, Window};
use crate::{fake, Args, CeilingOf, RedriveFill, Scenario};

/// A worker gives up after this many failures in a row (the target is down or refusing).
const MAX_CONSECUTIVE_ERRORS: u32 = 200;
const ERROR_BACKOFF: Duration = Duration::from_millis(20);

/// Where requests go: the endpoint under test, or the in-process fake.
pub struct Target {
    pub endpoint: Arc<Endpoint>,
    pub sdk: aws_sdk_sqs::Client,
}

impl Target {
    fn new(endpoint: Arc<Endpoint>) -> Target {
        let sdk = sdk_client(&endpoint);
        Target { endpoint, sdk }
    }

    fn conn(&self, kind: ClientKind) -> Conn {
        match kind {
            ClientKind::Sdk => Conn::Sdk(self.sdk.clone()),
            ClientKind::Raw => Conn::Raw(RawConn::new(self.endpoint.clone())),
        }
    }
}

pub struct Ctx {
    pub args: Args,
    pub target: Target,
    pub control: Control,
    tag: String,
}

impl Ctx {
    pub fn new(args: Args, endpoint: Arc<Endpoint>) -> Ctx {
        let target = Target::new(endpoint);
        let control = Control { sdk: target.sdk.clone() };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let tag = format!("{}-{}", std::process::id(), now.as_millis() % 100_000_000);
        Ctx { args, target, control, tag }
    }

    fn queue_name(&self, what: &str) -> String {
        format!("{}-{what}-{}", self.args.queue, self.tag)
    }

    fn body(&self) -> String {
        padded(String::new(), self.args.body_size)
    }

    /// The fields every line carries.
    fn line(&self, scenario: &str) -> Map<String, Value> {
        let a = &self.args;
        let mut m = Map::new();
        m.insert("scenario".into(), scenario.into());
        m.insert("client".into(), a.client.name().into());
        m.insert("target".into(), a.target.as_str().into());
        m.insert("store".into(), a.store.as_str().into());
        m.insert("endpoint".into(), self.target.endpoint.url.as_str().into());
        m.insert("concurrency".into(), a.concurrency.into());
        m.insert("client_threads".into(), a.client_threads().into());
        m.insert("body_size".into(), a.body_size.into());
        m.insert("warmup_s".into(), a.warmup().as_secs_f64().into());
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        m.insert("unix_time".into(), now.as_secs().into());
        m
    }

    async fn cleanup(&self, urls: &[&str]) {
        if self.args.keep_queues {
            return;
        }
        for url in urls {
            if let Err(e) = self.control.delete_queue(url).await {
                eprintln!("redrive-bench: could not delete {url}: {e}");
            }
        }
    }
}

/// `prefix` followed by filler up to `size` bytes (never shorter than the prefix).
fn padded(mut s: String, size: usize) -> String {
    const FILL: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut i = 0;
    while s.len() < size {
        s.push(FILL[i % FILL.len()] as char);
        i += 1;
    }
    s
}

fn note(text: impl AsRef<str>) {
    eprintln!("redrive-bench: {}", text.as_ref());
}

pub async fn run(ctx: &Ctx) -> Result<(), String> {
    match ctx.args.scenario {
        Scenario::Send => plain_send(ctx, false).await,
        Scenario::SendBatch => plain_send(ctx, true).await,
        Scenario::Fill => fill(ctx).await,
        Scenario::Count => count(ctx).await,
        Scenario::Cycle => cycle(ctx).await,
        Scenario::LongPoll => long_poll(ctx).await,
        Scenario::Redrive => redrive(ctx).await,
        Scenario::Fifo => fifo(ctx).await,
        Scenario::Ceiling => ceiling(ctx).await,
        Scenario::Soak => Err("the soak runs from main, with its own server".into()),
    }
}

/// Waits until `at` (a no-op if it has passed).
async fn until(at: Instant) {
    tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
}

/// Joins every task, merging their stats; returns the merged stats and the last finish time.
async fn join_all(set: &mut JoinSet<(Stats, Instant)>) -> (Stats, Instant) {
    let mut total = Stats::default();
    let mut last = Instant::now();
    let mut first = true;
    while let Some(r) = set.join_next().await {
        match r {
            Ok((s, t)) => {
                total.merge(s);
                last = if first { t } else { last.max(t) };
                first = false;
            }
            Err(e) if e.is_cancelled() => {}
            Err(e) => total.error("worker", e),
        }
    }
    (total, last)
}

/// `workers` senders of single messages or batches against `url` until the window ends.
async fn run_sends(
    ctx: &Ctx,
    target: &Target,
    url: &str,
    batch: bool,
    window: Arc<Window>,
    workers: usize,
) -> Result<(Stats, Duration, MonitorOut), String> {
    let prepared = Arc::new(PreparedSend::new(url, &ctx.body())?);
    let mut set = JoinSet::new();
    for _ in 0..workers {
        let mut conn = target.conn(ctx.args.client);
        let p = prepared.clone();
        let w = window.clone();
        set.spawn(async move {
            let mut s = Stats::default();
            let mut last = Instant::now();
            let mut failures = 0;
            let (op, units) = if batch { ("send_batch", BATCH as u64) } else { ("send", 1) };
            while w.claim(units) {
                let t0 = Instant::now();
                let r = if batch {
                    conn.send_batch(&p).await
                } else {
                    conn.send(&p).await.map(|()| crate::client::BatchOutcome { ok: 1, failed: 0, first_failure: None })
                };
                let t1 = Instant::now();
                last = t1;
                match r {
                    Ok(out) => {
                        failures = 0;
                        if w.counts(t0, t1) {
                            s.record(op, t1 - t0);
                            s.messages += out.ok as u64;
                        }
                        if out.failed > 0 {
                            s.error(op, format!("{} failed entries, e.g. {:?}", out.failed, out.first_failure));
                        }
                    }
                    Err(e) => {
                        s.error(op, e);
                        failures += 1;
                        if failures >= MAX_CONSECUTIVE_ERRORS {
                            break;
                        }
                        tokio::time::sleep(ERROR_BACKOFF).await;
                    }
                }
            }
            (s, last)
        });
    }
    until(window.from).await;
    let mon = Monitor::start(ctx.args.server_pid);
    let (stats, last) = join_all(&mut set).await;
    let out = mon.finish();
    Ok((stats, window.elapsed(last), out))
}

async fn plain_send(ctx: &Ctx, batch: bool) -> Result<(), String> {
    let a = &ctx.args;
    let url = ctx.control.create_queue(&ctx.queue_name(a.scenario.name()), &[]).await?;
    let window = Window::new(a.warmup(), a.duration(), a.count);
    let result = run_sends(ctx, &ctx.target, &url, batch, window, a.concurrency).await;
    ctx.cleanup(&[&url]).await;
    let (stats, elapsed, mon) = result?;
    let mut line = ctx.line(a.scenario.name());
    measured(&mut line, &stats, elapsed, &mon, if batch { "send_batch" } else { "send" });
    emit(&a.out, &line);
    Ok(())
}

/// Stores --count messages (default 1,000,000) and keeps them: the server's RSS after is the point.
async fn fill(ctx: &Ctx) -> Result<(), String> {
    let a = &ctx.args;
    let count = a.count.unwrap_or(1_000_000);
    let url = ctx.control.create_queue(&ctx.queue_name("fill"), &[]).await?;
    let window = Window::new(Duration::ZERO, a.duration(), Some(count));
    let (stats, elapsed, mon) = run_sends(ctx, &ctx.target, &url, true, window, a.concurrency).await?;
    let mut line = ctx.line("fill");
    measured(&mut line, &stats, elapsed, &mon, "send_batch");
    line.insert("queue_url".into(), url.as_str().into());
    line.insert("stored".into(), ctx.control.count_attribute(&url, "ApproximateNumberOfMessages").await.ok().into());
    emit(&a.out, &line);
    Ok(())
}

/// Calls of CountMessages timed once the queue is full.
const COUNT_CALLS: usize = 5;

async fn count(ctx: &Ctx) -> Result<(), String> {
    let a = &ctx.args;
    let count = a.count.unwrap_or(1_000_000);
    let url = ctx.control.create_queue(&ctx.queue_name("count"), &[]).await?;
    let window = Window::new(Duration::ZERO, a.duration(), Some(count));
    let fill_start = Instant::now();
    run_sends(ctx, &ctx.target, &url, true, window, a.concurrency).await?;
    note(format!("count: stored {count} messages in {:.1}s", fill_start.elapsed().as_secs_f64()));
    let mut conn = RawConn::new(ctx.target.endpoint.clone());
    let input = json!({ "QueueUrl": url, "Filter": { "BodyContains": "needle that no body holds" } });
    let body = bytes::Bytes::from(input.to_string());
    let mon = Monitor::start(a.server_pid);
    let mut stats = Stats::default();
    let mut examined = 0;
    let t0 = Instant::now();
    for _ in 0..COUNT_CALLS {
        let t = Instant::now();
        match conn.call(Action::CountMessages, body.clone()).await {
            Ok(out) => {
                stats.record("count_messages", t.elapsed());
                let v: Value = serde_json::from_slice(&out).map_err(|e| format!("CountMessages: {e}"))?;
                examined = v["Examined"].as_u64().unwrap_or(0);
                if v["Count"].as_u64() != Some(0) {
                    stats.error("count_messages", format!("counted {}", v["Count"]));
                }
            }
            Err(e) => stats.error("count_messages", e),
        }
    }
    let took = t0.elapsed();
    let out = mon.finish();
    stats.messages = examined * COUNT_CALLS as u64;
    if examined < count {
        stats.error("count_messages", format!("examined {examined} of {count}"));
    }
    ctx.cleanup(&[&url]).await;
    let mut line = ctx.line("count");
    line.insert("count".into(), count.into());
    measured(&mut line, &stats, took, &out, "count_messages");
    line.insert("examined".into(), examined.into());
    emit(&a.out, &line);
    Ok(())
}

async fn cycle(ctx: &Ctx) -> Result<(), String> {
    let a = &ctx.args;
    let half = (a.concurrency / 2).max(1);
    let producers = a.producers.unwrap_or(half);
    let consumers = a.consumers.unwrap_or(half);
    let url = ctx.control.create_queue(&ctx.queue_name("cycle"), &[]).await?;
    let window = Window::new(a.warmup(), a.duration(), a.count);
    let prepared = Arc::new(PreparedSend::new(&url, &ctx.body())?);
    let receive = Arc::new(PreparedReceive::new(&url, 10, 1, None)?);
    let deleted_total = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let backlog = Arc::new(Backlog::default());
    let mut set = JoinSet::new();
    for _ in 0..producers {
        let mut conn = ctx.target.conn(a.client);
        let (p, w, sent, backlog, max_backlog) =
            (prepared.clone(), window.clone(), sent.clone(), backlog.clone(), a.max_backlog);
        set.spawn(async move {
            let mut s = Stats::default();
            let mut last = Instant::now();
            let mut failures = 0;
            while w.claim(BATCH as u64) {
                if let Some(max) = max_backlog {
                    backlog.below(max, &w).await;
                }
                let t0 = Instant::now();
                let r = conn.send_batch(&p).await;
                let t1 = Instant::now();
                last = t1;
                match r {
                    Ok(out) => {
                        failures = 0;
                        backlog.sent.fetch_add(out.ok as u64, Ordering::Relaxed);
                        if w.counts(t0, t1) {
                            s.record("send_batch", t1 - t0);
                            sent.fetch_add(out.ok as u64, Ordering::Relaxed);
                        }
                        if out.failed > 0 {
                            s.error("send_batch", format!("{} failed entries", out.failed));
                        }
                    }
                    Err(e) => {
                        s.error("send_batch", e);
                        failures += 1;
                        if failures >= MAX_CONSECUTIVE_ERRORS {
                            break;
                        }
                        tokio::time::sleep(ERROR_BACKOFF).await;
                    }
                }
            }
            (s, last)
        });
    }
    let limit = a.count;
    for _ in 0..consumers {
        let mut conn = ctx.target.conn(a.client);
        let (r, w, deleted_total, url, backlog) =
            (receive.clone(), window.clone(), deleted_total.clone(), url.clone(), backlog.clone());
        set.spawn(async move {
            let mut s = Stats::default();
            let mut last = Instant::now();
            let mut failures = 0;
            while !w.past_end()
                && match limit {
                    Some(l) => deleted_total.load(Ordering::Relaxed) < l,
                    None => true,
                }
            {
                let t0 = Instant::now();
                let got = conn.receive(&r).await;
                let t1 = Instant::now();
                last = t1;
                let msgs = match got {
                    Ok(m) => m,
                    Err(e) => {
                        s.error("receive", e);
                        failures += 1;
                        if failures >= MAX_CONSECUTIVE_ERRORS {
                            break;
                        }
                        tokio::time::sleep(ERROR_BACKOFF).await;
                        continue;
                    }
                };
                failures = 0;
                if w.counts(t0, t1) {
                    s.record("receive", t1 - t0);
                }
                if msgs.is_empty() {
                    continue;
                }
                let receipts: Vec<&str> = msgs.iter().map(|m| m.receipt.as_str()).collect();
                let t2 = Instant::now();
                let del = conn.delete_batch(&url, &receipts).await;
                let t3 = Instant::now();
                last = t3;
                match del {
                    Ok(out) => {
                        backlog.deleted(out.ok as u64);
                        if w.counts(t0, t3) {
                            s.record("delete_batch", t3 - t2);
                            s.messages += out.ok as u64;
                            deleted_total.fetch_add(out.ok as u64, Ordering::Relaxed);
                        }
                        if out.failed > 0 {
                            s.error("delete_batch", format!("{} failed entries", out.failed));
                        }
                    }
                    Err(e) => s.error("delete_batch", e),
                }
            }
            (s, last)
        });
    }
    until(window.from).await;
    let mon = Monitor::start(a.server_pid);
    let (stats, last) = join_all(&mut set).await;
    let out = mon.finish();
    let backlog = ctx.control.count_attribute(&url, "ApproximateNumberOfMessages").await.ok();
    ctx.cleanup(&[&url]).await;
    let mut line = ctx.line("cycle");
    line.insert("producers".into(), producers.into());
    line.insert("consumers".into(), consumers.into());
    line.insert("max_backlog".into(), a.max_backlog.into());
    measured(&mut line, &stats, window.elapsed(last), &out, "receive");
    let secs = window.elapsed(last).as_secs_f64().max(1e-9);
    let sent = sent.load(Ordering::Relaxed);
    line.insert("messages_sent".into(), sent.into());
    line.insert("messages_sent_per_s".into(), round(sent as f64 / secs, 1).into());
    line.insert("backlog_after".into(), backlog.into());
    emit(&a.out, &line);
    Ok(())
}

/// Messages a cycle's producers sent and its consumers deleted, warm-up included; producers
/// wait on it for `--max-backlog`.
#[derive(Default)]
struct Backlog {
    sent: AtomicU64,
    deleted: AtomicU64,
    drained: tokio::sync::Notify,
}

impl Backlog {
    fn deleted(&self, n: u64) {
        self.deleted.fetch_add(n, Ordering::Relaxed);
        self.drained.notify_waiters();
    }

    /// Wait until fewer than `max` sent messages are undeleted (or the window ends). The
    /// timeout covers a wake-up missed between the check and the wait.
    async fn below(&self, max: u64, window: &Window) {
        while self.sent.load(Ordering::Relaxed).saturating_sub(self.deleted.load(Ordering::Relaxed)) >= max
            && !window.past_end()
        {
            let _ = tokio::time::timeout(Duration::from_millis(1), self.drained.notified()).await;
        }
    }
}

/// Microseconds since `base`, written at the start of a long-poll body, then M (measured)
/// or P (a settling probe).
fn stamp(base: Instant, probe: bool) -> String {
    format!("{:016};{};", base.elapsed().as_micros(), if probe { 'P' } else { 'M' })
}

fn is_probe(body: &str) -> bool {
    body.get(17..18) == Some("P")
}

fn parse_stamp(body: &str) -> Option<u64> {
    body.get(..16)?.parse().ok()
}

struct LongPollShared {
    stats: Mutex<Stats>,
    received: AtomicU64,
    started: AtomicU64,
    probes_received: AtomicU64,
    last_probe_us: AtomicU64,
    stop: AtomicBool,
}

/// A consumer makes at most this many receive calls (each up to 20 s).
const MAX_POLLS: u32 = 1_000_000;

async fn long_poll(ctx: &Ctx) -> Result<(), String> {
    let a = &ctx.args;
    let consumers = a.consumers.unwrap_or(10_000);
    let url = ctx.control.create_queue(&ctx.queue_name("longpoll"), &[]).await?;
    let receive = Arc::new(PreparedReceive::new(&url, 1, 20, None)?);
    // The first polls of --spread-polls: waits of 1..=20 s.
    let first: Option<Arc<Vec<PreparedReceive>>> = a
        .spread_polls
        .then(|| (1..=20).map(|wait| PreparedReceive::new(&url, 1, wait, None)).collect::<Result<_, _>>())
        .transpose()?
        .map(Arc::new);
    let shared = Arc::new(LongPollShared {
        stats: Mutex::new(Stats::default()),
        received: AtomicU64::new(0),
        started: AtomicU64::new(0),
        probes_received: AtomicU64::new(0),
        last_probe_us: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let base = Instant::now();
    let mut set: JoinSet<()> = JoinSet::new();
    note(format!("long-poll: starting {consumers} consumers"));
    for k in 0..consumers {
        let mut conn = ctx.target.conn(a.client);
        let (r, sh, url) = (receive.clone(), shared.clone(), url.clone());
        let first = first.clone();
        set.spawn(async move {
            let mut failures = 0;
            for i in 0..MAX_POLLS {
                if sh.stop.load(Ordering::Relaxed) {
                    break;
                }
                if i == 0 {
                    sh.started.fetch_add(1, Ordering::Relaxed);
                }
                let poll = match &first {
                    Some(f) if i == 0 => &f[k % f.len()],
                    _ => &*r,
                };
                let msgs = match conn.receive(poll).await {
                    Ok(m) => m,
                    Err(e) => {
                        if !sh.stop.load(Ordering::Relaxed) {
                            sh.stats.lock().unwrap_or_else(|p| p.into_inner()).error("receive", e);
                        }
                        failures += 1;
                        if failures >= MAX_CONSECUTIVE_ERRORS {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                failures = 0;
                let now_us = base.elapsed().as_micros() as u64;
                for m in msgs {
                    let sent_us = parse_stamp(&m.body);
                    if is_probe(&m.body) {
                        let us = sent_us.map_or(u64::MAX, |t| now_us.saturating_sub(t));
                        sh.last_probe_us.store(us, Ordering::Relaxed);
                        sh.probes_received.fetch_add(1, Ordering::Relaxed);
                        let _ = conn.delete(&url, &m.receipt).await;
                        continue;
                    }
                    {
                        let mut s = sh.stats.lock().unwrap_or_else(|p| p.into_inner());
                        match sent_us {
                            Some(t) => {
                                s.record_latency("e2e", Duration::from_micros(now_us.saturating_sub(t)));
                                s.messages += 1;
                            }
                            None => s.error("receive", "body without a timestamp"),
                        }
                    }
                    sh.received.fetch_add(1, Ordering::Relaxed);
                    let t0 = Instant::now();
                    let del = conn.delete(&url, &m.receipt).await;
                    let mut s = sh.stats.lock().unwrap_or_else(|p| p.into_inner());
                    match del {
                        Ok(()) => s.record("delete", t0.elapsed()),
                        Err(e) => s.error("delete", e),
                    }
                }
            }
        });
    }
    // Settle: every consumer has issued its first long poll, --warmup has passed, and then
    // three probe messages in a row arrive within 50 ms (the server has taken in the polls).
    let settle_start = Instant::now();
    let settle_cap = settle_start + Duration::from_secs(60);
    while shared.started.load(Ordering::Relaxed) < consumers as u64 && Instant::now() < settle_cap {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(a.warmup().max(Duration::from_secs(1))).await;
    let mut producer = ctx.target.conn(a.client);
    let (mut good, mut probes) = (0, 0u64);
    while good < 3 && Instant::now() < settle_cap {
        let before = shared.probes_received.load(Ordering::Relaxed);
        probes += 1;
        if let Err(e) = producer.send_body(&url, &padded(stamp(base, true), a.body_size)).await {
            note(format!("long-poll: probe failed: {e}"));
        }
        let wait_until = Instant::now() + Duration::from_secs(5);
        while shared.probes_received.load(Ordering::Relaxed) == before && Instant::now() < wait_until {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let arrived = shared.probes_received.load(Ordering::Relaxed) > before;
        good = if arrived && shared.last_probe_us.load(Ordering::Relaxed) < 50_000 { good + 1 } else { 0 };
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let settle_s = settle_start.elapsed().as_secs_f64();
    let started = shared.started.load(Ordering::Relaxed);
    note(format!(
        "long-poll: {started} consumers polling (settled in {settle_s:.1}s, {probes} probes); producing at {} msg/s",
        a.rate()
    ));

    let window = Window::new(Duration::ZERO, a.duration(), a.count);
    let mon = Monitor::start(a.server_pid);
    let mut pstats = Stats::default();
    let mut sent = 0u64;
    let mut tick = (a.rate() > 0.0).then(|| {
        let mut t = tokio::time::interval(Duration::from_secs_f64(1.0 / a.rate().min(1e6)));
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    let mut failures = 0;
    while window.claim(1) {
        if let Some(t) = tick.as_mut() {
            t.tick().await;
        }
        let body = padded(stamp(base, false), a.body_size);
        let t0 = Instant::now();
        match producer.send_body(&url, &body).await {
            Ok(()) => {
                failures = 0;
                pstats.record("send", t0.elapsed());
                sent += 1;
            }
            Err(e) => {
                pstats.error("send", e);
                failures += 1;
                if failures >= MAX_CONSECUTIVE_ERRORS {
                    break;
                }
            }
        }
    }
    let produced_until = Instant::now();
    // Give the last messages a bounded time to arrive.
    let grace = produced_until + Duration::from_secs(5);
    while shared.received.load(Ordering::Relaxed) < sent && Instant::now() < grace {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let out = mon.finish();
    shared.stop.store(true, Ordering::Relaxed);
    set.abort_all();
    let drain_until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < drain_until {
        match tokio::time::timeout(Duration::from_secs(1), set.join_next()).await {
            Ok(Some(_)) | Err(_) => {}
            Ok(None) => break,
        }
    }
    let received = shared.received.load(Ordering::Relaxed);
    let mut stats = std::mem::take(&mut *shared.stats.lock().unwrap_or_else(|p| p.into_inner()));
    stats.merge(pstats);
    ctx.cleanup(&[&url]).await;
    let mut line = ctx.line("long-poll");
    line.insert("consumers".into(), consumers.into());
    line.insert("consumers_started".into(), started.into());
    line.insert("spread_polls".into(), a.spread_polls.into());
    line.insert("settle_s".into(), round(settle_s, 2).into());
    line.insert("settle_probes".into(), probes.into());
    line.insert("rate".into(), a.rate().into());
    measured(&mut line, &stats, produced_until.saturating_duration_since(window.from), &out, "e2e");
    line.insert("sent".into(), sent.into());
    line.insert("received".into(), received.into());
    line.insert("not_received".into(), sent.saturating_sub(received).into());
    emit(&a.out, &line);
    Ok(())
}

/// Hands off every message of `src` to its DLQ: receive with VisibilityTimeout=0 until empty
/// (the first receive counts 1, the second exceeds maxReceiveCount=1 and moves the message).
async fn hand_off(ctx: &Ctx, src: &str, cap: Instant) -> Result<Stats, String> {
    let receive = Arc::new(PreparedReceive::new(src, 10, 0, Some(0))?);
    let mut set = JoinSet::new();
    for _ in 0..ctx.args.concurrency {
        let mut conn = ctx.target.conn(ctx.args.client);
        let r = receive.clone();
        set.spawn(async move {
            let mut s = Stats::default();
            let mut empties = 0;
            let mut failures = 0;
            while Instant::now() < cap && empties < 3 {
                let t0 = Instant::now();
                match conn.receive(&r).await {
                    Ok(m) => {
                        failures = 0;
                        s.record("handoff_receive", t0.elapsed());
                        empties = if m.is_empty() { empties + 1 } else { 0 };
                    }
                    Err(e) => {
                        s.error("handoff_receive", e);
                        failures += 1;
                        if failures >= MAX_CONSECUTIVE_ERRORS {
                            break;
                        }
                        tokio::time::sleep(ERROR_BACKOFF).await;
                    }
                }
            }
            (s, Instant::now())
        });
    }
    Ok(join_all(&mut set).await.0)
}

async fn redrive(ctx: &Ctx) -> Result<(), String> {
    let a = &ctx.args;
    let count = a.count.unwrap_or(10_000);
    let cap = Instant::now() + a.duration();
    let dlq = ctx.control.create_queue(&ctx.queue_name("dlq"), &[]).await?;
    let dlq_arn = ctx.control.attribute(&dlq, "QueueArn").await?;
    let policy = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"}).to_string();
    let src = ctx.control.create_queue(&ctx.queue_name("src"), &[("RedrivePolicy", policy)]).await?;
    let src_arn = ctx.control.attribute(&src, "QueueArn").await?;
    let result = redrive_measure(ctx, count, cap, (&src, &src_arn), (&dlq, &dlq_arn)).await;
    ctx.cleanup(&[&src, &dlq]).await;
    let line = result?;
    emit(&a.out, &line);
    Ok(())
}

async fn redrive_measure(
    ctx: &Ctx,
    count: u64,
    cap: Instant,
    (src, src_arn): (&str, &str),
    (dlq, dlq_arn): (&str, &str),
) -> Result<Map<String, Value>, String> {
    let a = &ctx.args;
    let fill_start = Instant::now();
    let fill_to = match a.redrive_fill {
        RedriveFill::Handoff => src,
        RedriveFill::Direct => dlq,
    };
    let window = Window::new(Duration::ZERO, cap.saturating_duration_since(Instant::now()), Some(count));
    let (mut fill_stats, _, _) = run_sends(ctx, &ctx.target, fill_to, true, window, a.concurrency).await?;
    if a.redrive_fill == RedriveFill::Handoff {
        fill_stats.merge(hand_off(ctx, src, cap).await?);
    }
    let fill_s = fill_start.elapsed().as_secs_f64();
    let in_dlq = ctx.control.count_attribute(dlq, "ApproximateNumberOfMessages").await?;
    note(format!("redrive: filled the DLQ with {in_dlq} messages in {fill_s:.2}s"));
    if in_dlq < count {
        fill_stats.error("fill", format!("the DLQ holds {in_dlq} of {count} messages"));
    }

    let destination = (a.redrive_fill == RedriveFill::Direct).then_some(src_arn);
    let mon = Monitor::start(a.server_pid);
    let mut stats = Stats::default();
    let t0 = Instant::now();
    ctx.control.start_move_task(dlq_arn, destination).await?;
    let mut status = String::new();
    let mut moved = 0;
    let mut failure = None;
    let mut polls = 0u64;
    while Instant::now() < cap {
        polls += 1;
        match ctx.control.latest_move_task(dlq_arn).await {
            Ok((s, m, f)) => {
                (status, moved, failure) = (s, m, f);
                if status != "RUNNING" && status != "CANCELLING" {
                    break;
                }
            }
            Err(e) => stats.error("list_move_tasks", e),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = t0.elapsed();
    let out = mon.finish();
    if status != "COMPLETED" {
        stats.error("move_task", format!("status {status:?}, failure {failure:?}"));
    }
    stats.record("move_task", took);
    stats.messages = moved;
    let src_after = ctx.control.count_attribute(src, "ApproximateNumberOfMessages").await.ok();
    let mut line = ctx.line("redrive");
    line.insert("fill".into(), format!("{:?}", a.redrive_fill).to_lowercase().into());
    line.insert("count".into(), count.into());
    measured(&mut line, &stats, took, &out, "move_task");
    line.insert("task_status".into(), status.into());
    line.insert("dlq_before".into(), in_dlq.into());
    line.insert("src_after".into(), src_after.into());
    line.insert("status_polls".into(), polls.into());
    line.insert("fill_s".into(), round(fill_s, 3).into());
    line.insert("fill_errors".into(), fill_stats.errors.into());
    if let Some(e) = fill_stats.first_error {
        line.insert("fill_first_error".into(), e.into());
    }
    Ok(line)
}

async fn fifo(ctx: &Ctx) -> Result<(), String> {
    let a = &ctx.args;
    let attrs = [("FifoQueue", "true".to_string())];
    let url = ctx.control.create_queue(&format!("{}.fifo", ctx.queue_name("fifo")), &attrs).await?;
    let result = fifo_measure(ctx, &url).await;
    ctx.cleanup(&[&url]).await;
    let (send_line, drain_line) = result?;
    emit(&a.out, &send_line);
    emit(&a.out, &drain_line);
    Ok(())
}

async fn fifo_measure(ctx: &Ctx, url: &str) -> Result<(Map<String, Value>, Map<String, Value>), String> {
    let a = &ctx.args;
    let groups = a.groups;
    let body_size = a.body_size;
    // Phase 1: send batches whose entries cycle through the groups.
    let window = Window::new(Duration::ZERO, a.duration(), a.count);
    let seq = Arc::new(AtomicU64::new(0));
    let mut set = JoinSet::new();
    for producer in 0..a.concurrency {
        let mut conn = ctx.target.conn(a.client);
        let (w, seq, url) = (window.clone(), seq.clone(), url.to_string());
        set.spawn(async move {
            let mut s = Stats::default();
            let mut last = Instant::now();
            let mut failures = 0;
            while w.claim(BATCH as u64) {
                let entries: Vec<Entry> = (0..BATCH)
                    .map(|_| {
                        let n = seq.fetch_add(1, Ordering::Relaxed);
                        Entry {
                            // Sequence, then producer: one producer's sends reach the server in order.
                            body: padded(format!("{n:016};{producer:06};"), body_size),
                            group: Some(format!("g{}", n % groups)),
                            dedup: Some(n.to_string()),
                        }
                    })
                    .collect();
                let t0 = Instant::now();
                let r = conn.send_entries(&url, &entries).await;
                let t1 = Instant::now();
                last = t1;
                match r {
                    Ok(out) => {
                        failures = 0;
                        s.record("send_batch", t1 - t0);
                        s.messages += out.ok as u64;
                        if out.failed > 0 {
                            s.error(
                                "send_batch",
                                format!("{} failed entries, e.g. {:?}", out.failed, out.first_failure),
                            );
                        }
                    }
                    Err(e) => {
                        s.error("send_batch", e);
                        failures += 1;
                        if failures >= MAX_CONSECUTIVE_ERRORS {
                            break;
                        }
                        tokio::time::sleep(ERROR_BACKOFF).await;
                    }
                }
            }
            (s, last)
        });
    }
    let mon = Monitor::start(a.server_pid);
    let (send_stats, last) = join_all(&mut set).await;
    let send_out = mon.finish();
    let sent = send_stats.messages;
    let mut send_line = ctx.line("fifo");
    send_line.insert("phase".into(), "send".into());
    send_line.insert("groups".into(), groups.into());
    measured(&mut send_line, &send_stats, last.saturating_duration_since(window.from), &send_out, "send_batch");
    note(format!("fifo: sent {sent} messages over {groups} groups; draining"));

    // Phase 2: receive and delete everything, checking order within each group.
    let consumers = a.consumers.unwrap_or(a.concurrency);
    let cap = Instant::now() + a.duration().max(Duration::from_secs(10)) * 3;
    let receive = Arc::new(PreparedReceive::new(url, 10, 1, None)?);
    let deleted = Arc::new(AtomicU64::new(0));
    // Last sequence number seen per (group, producer): it must only grow.
    let last_seen: Arc<Mutex<HashMap<(u64, u64), u64>>> = Arc::new(Mutex::new(HashMap::new()));
    let violations = Arc::new(AtomicU64::new(0));
    let drain_start = Instant::now();
    let mon = Monitor::start(a.server_pid);
    let mut set = JoinSet::new();
    for _ in 0..consumers {
        let mut conn = ctx.target.conn(a.client);
        let (r, deleted, last_seen, violations, url) =
            (receive.clone(), deleted.clone(), last_seen.clone(), violations.clone(), url.to_string());
        set.spawn(async move {
            let mut s = Stats::default();
            let mut last = Instant::now();
            let mut failures = 0;
            while Instant::now() < cap && deleted.load(Ordering::Relaxed) < sent {
                let t0 = Instant::now();
                let got = conn.receive(&r).await;
                last = Instant::now();
                let msgs = match got {
                    Ok(m) => m,
                    Err(e) => {
                        s.error("receive", e);
                        failures += 1;
                        if failures >= MAX_CONSECUTIVE_ERRORS {
                            break;
                        }
                        tokio::time::sleep(ERROR_BACKOFF).await;
                        continue;
                    }
                };
                failures = 0;
                s.record("receive", last - t0);
                if msgs.is_empty() {
                    continue;
                }
                {
                    let mut seen = last_seen.lock().unwrap_or_else(|p| p.into_inner());
                    for m in &msgs {
                        match parse_stamp(&m.body).zip(m.body.get(17..23).and_then(|p| p.parse::<u64>().ok())) {
                            Some((n, producer)) => {
                                let prev = seen.insert((n % groups, producer), n);
                                if prev.is_some_and(|p| p >= n) {
                                    violations.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            None => s.error("receive", "body without a sequence number"),
                        }
                    }
                }
                let receipts: Vec<&str> = msgs.iter().map(|m| m.receipt.as_str()).collect();
                let t2 = Instant::now();
                let del = conn.delete_batch(&url, &receipts).await;
                last = Instant::now();
                match del {
                    Ok(out) => {
                        s.record("delete_batch", last - t2);
                        s.messages += out.ok as u64;
                        deleted.fetch_add(out.ok as u64, Ordering::Relaxed);
                        if out.failed > 0 {
                            s.error("delete_batch", format!("{} failed entries", out.failed));
                        }
                    }
                    Err(e) => s.error("delete_batch", e),
                }
            }
            (s, last)
        });
    }
    let (drain_stats, last) = join_all(&mut set).await;
    let drain_out = mon.finish();
    let mut drain_line = ctx.line("fifo");
    drain_line.insert("phase".into(), "receive-delete".into());
    drain_line.insert("groups".into(), groups.into());
    drain_line.insert("consumers".into(), consumers.into());
    measured(&mut drain_line, &drain_stats, last.saturating_duration_since(drain_start), &drain_out, "receive");
    drain_line.insert("sent".into(), sent.into());
    drain_line.insert("order_violations".into(), violations.load(Ordering::Relaxed).into());
    drain_line.insert("left".into(), sent.saturating_sub(deleted.load(Ordering::Relaxed)).into());
    Ok((send_line, drain_line))
}

async fn ceiling(ctx: &Ctx) -> Result<(), String> {
    let a = &ctx.args;
    let batch = a.ceiling_of == CeilingOf::SendBatch;
    let (of, op) = if batch { ("send-batch", "send_batch") } else { ("send", "send") };
    let body = ctx.body();

    let fake = fake::start(&body, a.client_threads()).map_err(|e| format!("fake server: {e}"))?;
    let fake_addr = fake.addr;
    let fake_target = Target::new(Arc::new(Endpoint::resolve(&format!("http://{}", fake.addr)).await?));
    let fake_url = format!("http://{}/000000000000/ceiling", fake.addr);
    note(format!("ceiling: {of} against the in-process fake at {}", fake.addr));
    let window = Window::new(a.warmup(), a.duration(), a.count);
    let (fstats, felapsed, fout) = run_sends(ctx, &fake_target, &fake_url, batch, window, a.concurrency).await?;
    drop(fake);
    let ceiling = fstats.messages as f64 / felapsed.as_secs_f64().max(1e-9);
    let ceiling_ops = fstats.ops as f64 / felapsed.as_secs_f64().max(1e-9);
    let mut fline = ctx.line("ceiling");
    fline.insert("of".into(), of.into());
    fline.insert("target".into(), "fake".into());
    fline.insert("endpoint".into(), format!("http://{fake_addr}").into());
    fline.insert("note".into(), "the fake runs inside the bench process; bench_cpu_s includes it".into());
    measured(&mut fline, &fstats, felapsed, &MonitorOut { server_rss_mib_after: None, ..fout }, op);
    fline.insert("ceiling_messages_per_s".into(), round(ceiling, 1).into());
    emit(&a.out, &fline);

    note(format!("ceiling: {of} against {}", ctx.target.endpoint.url));
    let url = ctx.control.create_queue(&ctx.queue_name(of), &[]).await?;
    let window = Window::new(a.warmup(), a.duration(), a.count);
    let result = run_sends(ctx, &ctx.target, &url, batch, window, a.concurrency).await;
    ctx.cleanup(&[&url]).await;
    let (stats, elapsed, out) = result?;
    let mut line = ctx.line(of);
    measured(&mut line, &stats, elapsed, &out, op);
    let rate = stats.messages as f64 / elapsed.as_secs_f64().max(1e-9);
    line.insert("ceiling_messages_per_s".into(), round(ceiling, 1).into());
    line.insert("ceiling_ops_per_s".into(), round(ceiling_ops, 1).into());
    line.insert("ratio_to_ceiling".into(), (ceiling > 0.0).then(|| round(rate / ceiling, 3)).into());
    emit(&a.out, &line);
    Ok(())
}

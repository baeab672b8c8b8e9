//! `--redrive-scenario`: dead-letter redrive under crashes.
//!
//! Setup: queues `redrive-src` and `redrive-dlq` (src's RedrivePolicy sends a message to
//! the DLQ on its second receive, maxReceiveCount 1). N unique bodies (`m-000123-<random
//! hex>`, with a String (`kind`, "a" or "b"), a Number and a Binary attribute derived from
//! them) are sent to src with SendMessageBatch, then src is received from (VisibilityTimeout
//! 0) until it answers empty: every message is returned once and handed to the DLQ by its
//! second receive. The DLQ must then hold exactly N visible messages.
//!
//! Then K times: a message move task runs (the one the restart resumed, if it is still
//! RUNNING; else a new one — the first from the DLQ back to the messages' origin without
//! DestinationArn, later ones in the other direction with DestinationArn, from whichever
//! queue holds everything), the server is SIGKILLed at a random moment of the move
//! (when the task's progress passes a random 10–90 % of what remained, or 50–500 ms
//! into the round), restarted on the same data dir, and checked on a consistent
//! snapshot (the source's count is read before and after the task and the destination;
//! both reads equal means no batch committed in between): nothing in flight, src + dlq
//! = N, the task's ApproximateNumberOfMessagesMoved = what left its source since it
//! started (exactly: progress commits with the batch), same task (handle, to-move,
//! start time), no extra task, progress not behind what was seen before the kill by more
//! than the two batches that may not have been durable yet.
//!
//! Finally the task must complete (COMPLETED, moved = to-move, every task ever started
//! too), and a full drain of both queues must give back the N bodies exactly once each,
//! all in the task's destination, with their attributes and MD5s, ApproximateReceiveCount
//! 1 and a MessageId that is new (not the one the send answered) and unique.
//!
//! Checks are counted as cycles: one per kill and one for the final drain.

use std::collections::HashSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::task::JoinSet;

use crate::client::{answered, list_of, str_of, Sqs};
use crate::content::{parse_attrs, Attr, AttrData, Attrs, Content};
use crate::load::lock;
use crate::model::Findings;
use crate::server::Server;
use crate::verify::{counts, QueueCounts, DRAIN_VISIBILITY_S};
use crate::Outcome;

/// Concurrent requests while filling and draining: many, so that one group commit (one
/// fsync) carries many requests on a machine whose fsync is slow.
pub(crate) const CONCURRENCY: usize = 64;
/// Messages a full-speed task moves per transaction.
const FULL_SPEED_BATCH: u64 = 1000;
/// Progress ListMessageMoveTasks may show before it is durable: the task prepares and
/// submits the next batch while the store commits the one before.
const UNDURABLE_PROGRESS: u64 = 2 * FULL_SPEED_BATCH;
/// maxReceiveCount of the reverse policy (dlq → src) needed for moves out of src; high so
/// it never hands anything off.
const REVERSE_MAX_RECEIVES: u32 = 1000;
pub(crate) const SRC: usize = 0;
pub(crate) const DLQ: usize = 1;
pub(crate) const NAMES: [&str; 2] = ["src", "dlq"];
const QUEUE_NAMES: [&str; 2] = ["redrive-src", "redrive-dlq"];
/// Pause between ListMessageMoveTasks polls while waiting for the kill point.
pub(crate) const POLL: Duration = Duration::from_millis(10);
/// A phase is aborted when the server answers nothing for this long, or a running task
/// moves nothing for this long. Phases have no total time limit: a slow machine (a debug
/// build, an fsync of tens of milliseconds) only makes them slower.
pub(crate) const STALL: Duration = Duration::from_secs(60);
/// How often a long phase prints what it has done.
const REPORT: Duration = Duration::from_secs(15);

pub struct Options {
    pub messages: u64,
    pub kills: u32,
}

/// Run one phase under the stall watchdog, printing the requests answered every REPORT.
pub(crate) async fn watched<T>(what: &str, phase: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::pin!(phase);
    let begun = Instant::now();
    let first = answered();
    let (mut last, mut last_change) = (first, Instant::now());
    let mut report = tokio::time::interval_at(tokio::time::Instant::now() + REPORT, REPORT);
    loop {
        tokio::select! {
            result = &mut phase => return result,
            _ = report.tick() => {
                let now = answered();
                if now != last {
                    (last, last_change) = (now, Instant::now());
                } else if last_change.elapsed() >= STALL {
                    return Err(format!("the server answered nothing for {} s", STALL.as_secs()));
                }
                println!("  {what}: {} requests answered in {:.0} s", now - first, secs(begun));
            }
        }
    }
}

/// Fails when a task's progress has not changed for STALL; call it with every view polled.
pub(crate) struct TaskStall {
    moved: u64,
    since: Instant,
}

impl TaskStall {
    pub(crate) fn new(view: &TaskView) -> TaskStall {
        TaskStall { moved: view.moved, since: Instant::now() }
    }

    pub(crate) fn check(&mut self, view: &TaskView) -> Result<(), String> {
        if view.moved != self.moved {
            (self.moved, self.since) = (view.moved, Instant::now());
        } else if self.since.elapsed() >= STALL {
            return Err(format!("the task moved nothing for {} s ({view:?})", STALL.as_secs()));
        }
        Ok(())
    }
}

/// Run the scenario; its checks are the outcome's cycles.
pub async fn run(bin: PathBuf, dir: &Path, seed: u64, opts: &Options) -> Outcome {
    let total = opts.kills + 1;
    let mut s = Scenario::new(bin, dir, seed, opts);
    let begun = Instant::now();
    if let Err(e) = watched("setup", s.setup()).await {
        println!("redrive setup: ABORTED: {e}");
        println!("crash-test: {total} checks not run (counted as failed)");
        return Outcome { passed: 0, failed: total };
    }
    let mut outcome = Outcome { passed: 0, failed: 0 };
    for k in 1..=total {
        let last = k == total;
        let started = Instant::now();
        let what = if last { "final".to_string() } else { format!("kill {k}/{}", opts.kills) };
        let result = if last { watched(&what, s.finish()).await } else { watched(&what, s.kill_round(k)).await };
        let took = started.elapsed().as_secs_f64();
        match result {
            Ok(findings) if findings.is_empty() => {
                outcome.passed += 1;
                println!("{what}: PASS ({took:.1} s)");
            }
            Ok(findings) => {
                outcome.failed += 1;
                println!(
                    "{what}: FAIL, {} violations ({took:.1} s)\n{}",
                    findings.total(),
                    findings.report().trim_end()
                );
            }
            Err(e) => {
                let rest = total - k;
                outcome.failed += 1 + rest;
                println!("{what}: ABORTED: {e}");
                if rest > 0 {
                    println!("crash-test: {rest} remaining checks not run (counted as failed)");
                }
                break;
            }
        }
    }
    if let Some(server) = s.server.take() {
        server.kill();
    }
    println!("redrive scenario: {} messages, {} kills, {:.1} s in all", opts.messages, opts.kills, secs(begun));
    outcome
}

/// The task the scenario is interrupting.
#[derive(Debug, Clone)]
struct TaskRef {
    source: usize,
    dest: usize,
    handle: String,
    to_move: u64,
    started: u64,
}

/// One ListMessageMoveTasks entry.
#[derive(Debug, Clone)]
pub(crate) struct TaskView {
    pub(crate) status: String,
    pub(crate) handle: Option<String>,
    pub(crate) moved: u64,
    pub(crate) to_move: u64,
    pub(crate) started: u64,
    pub(crate) failure: Option<String>,
}

impl TaskView {
    fn parse(v: &Value) -> Result<TaskView, String> {
        let num = |k: &str| v.get(k).and_then(Value::as_u64).ok_or_else(|| format!("task entry without {k}: {v}"));
        Ok(TaskView {
            status: str_of(v, "Status").ok_or_else(|| format!("task entry without Status: {v}"))?.to_string(),
            handle: str_of(v, "TaskHandle").map(str::to_string),
            moved: num("ApproximateNumberOfMessagesMoved")?,
            to_move: num("ApproximateNumberOfMessagesToMove")?,
            started: num("StartedTimestamp")?,
            failure: str_of(v, "FailureReason").map(str::to_string),
        })
    }

    pub(crate) fn running(&self) -> bool {
        self.status == "RUNNING"
    }
}

/// ListMessageMoveTasks of the queue `source_arn`: its newest `max` tasks, newest first.
pub(crate) async fn list_tasks(sqs: &Sqs, source_arn: &str, max: usize) -> Result<Vec<TaskView>, String> {
    let input = json!({ "SourceArn": source_arn, "MaxResults": max });
    let answer = sqs.call("ListMessageMoveTasks", &input).await.map_err(|e| format!("ListMessageMoveTasks: {e}"))?;
    list_of(&answer, "Results").iter().map(TaskView::parse).collect()
}

/// The N messages: body and attributes follow from the index and a random suffix.
pub(crate) struct Corpus {
    suffixes: Vec<u64>,
}

impl Corpus {
    /// N messages, their random parts drawn from `rng`.
    pub(crate) fn new(n: u64, rng: &mut impl Rng) -> Corpus {
        Corpus { suffixes: (0..n).map(|_| rng.gen()).collect() }
    }

    pub(crate) fn len(&self) -> usize {
        self.suffixes.len()
    }

    pub(crate) fn body(&self, i: usize) -> String {
        format!("m-{i:06}-{:016x}", self.suffixes[i])
    }

    /// "a" or "b", half and half at random: the String attribute `kind`, which a filter can
    /// take (the safe-redrive scenario moves only the "a"s).
    pub(crate) fn kind(&self, i: usize) -> &'static str {
        if self.suffixes[i] & 1 == 0 {
            "a"
        } else {
            "b"
        }
    }

    pub(crate) fn content(&self, i: usize) -> Content {
        let mut attrs = Attrs::new();
        attrs.insert("kind".into(), Attr { data_type: "String".into(), data: AttrData::Text(self.kind(i).into()) });
        attrs.insert("n".into(), Attr { data_type: "Number".into(), data: AttrData::Text(i.to_string()) });
        attrs.insert(
            "sig".into(),
            Attr { data_type: "Binary".into(), data: AttrData::Bytes(self.suffixes[i].to_be_bytes().to_vec()) },
        );
        Content { body: self.body(i), attrs }
    }

    /// The index of a body this corpus holds.
    pub(crate) fn index(&self, body: &str) -> Option<usize> {
        let (num, _) = body.strip_prefix("m-")?.split_once('-')?;
        let i: usize = num.parse().ok()?;
        (i < self.suffixes.len() && self.body(i) == body).then_some(i)
    }
}

struct Scenario {
    bin: PathBuf,
    data_dir: PathBuf,
    log: PathBuf,
    rng: StdRng,
    n: u64,
    kills: u32,
    server: Option<Server>,
    sqs: Option<Sqs>,
    urls: [String; 2],
    arns: [String; 2],
    corpus: Arc<Corpus>,
    /// The MessageId each send answered, by index.
    original_ids: Vec<String>,
    task: Option<TaskRef>,
    /// Tasks started per source queue, to spot one the server made up.
    started: [usize; 2],
    /// Whether dlq has a RedrivePolicy to src (src is then a DLQ too, so a task can move out of it).
    reverse_policy: bool,
}

impl Scenario {
    fn new(bin: PathBuf, dir: &Path, seed: u64, opts: &Options) -> Scenario {
        let mut rng = StdRng::seed_from_u64(seed);
        let corpus = Arc::new(Corpus::new(opts.messages, &mut rng));
        Scenario {
            bin,
            data_dir: dir.join("data"),
            log: dir.join("server.log"),
            rng,
            n: opts.messages,
            kills: opts.kills,
            server: None,
            sqs: None,
            urls: Default::default(),
            arns: Default::default(),
            corpus,
            original_ids: Vec::new(),
            task: None,
            started: [0; 2],
            reverse_policy: false,
        }
    }

    fn sqs(&self) -> Result<Sqs, String> {
        self.sqs.clone().ok_or_else(|| "no server".to_string())
    }

    async fn start_server(&mut self) -> Result<Duration, String> {
        let started = Instant::now();
        let server = Server::start(&self.bin, &self.data_dir, &self.log).await?;
        let ready = started.elapsed();
        self.sqs = Some(Sqs::new(&server.endpoint, CONCURRENCY)?);
        self.server = Some(server);
        Ok(ready)
    }

    async fn setup(&mut self) -> Result<(), String> {
        self.start_server().await?;
        let filled = fill_dlq(&self.sqs()?, &self.corpus, "redrive setup").await?;
        (self.urls, self.arns, self.original_ids) = (filled.urls, filled.arns, filled.original_ids);
        Ok(())
    }

    /// The newest task of `source`.
    async fn latest(&self, source: usize) -> Result<TaskView, String> {
        let tasks = self.tasks(source, 1).await?;
        tasks.into_iter().next().ok_or_else(|| format!("ListMessageMoveTasks of {} lists no task", NAMES[source]))
    }

    async fn tasks(&self, source: usize, max: usize) -> Result<Vec<TaskView>, String> {
        list_tasks(&self.sqs()?, &self.arns[source], max).await
    }

    /// Start a task moving everything out of `source`, which must hold all N messages.
    async fn start_task(&mut self, source: usize, findings: &mut Findings) -> Result<TaskRef, String> {
        let sqs = self.sqs()?;
        let dest = 1 - source;
        // Without DestinationArn the messages go back where they were dead-lettered from;
        // that is src, and only the DLQ's messages have an origin.
        let explicit = self.task.is_some();
        if source == SRC && !self.reverse_policy {
            let policy =
                json!({ "deadLetterTargetArn": self.arns[SRC], "maxReceiveCount": REVERSE_MAX_RECEIVES }).to_string();
            let input = json!({ "QueueUrl": self.urls[DLQ], "Attributes": { "RedrivePolicy": policy } });
            sqs.call("SetQueueAttributes", &input).await.map_err(|e| format!("SetQueueAttributes dlq: {e}"))?;
            self.reverse_policy = true;
        }
        let before = [counts(&sqs, &self.urls[SRC]).await?, counts(&sqs, &self.urls[DLQ]).await?];
        if before[source].visible != self.n || before[source].total() != self.n || before[dest].total() != 0 {
            findings.add(
                "counts before a task starts",
                format!(
                    "expected {} {} visible and {} empty, got src {} and dlq {}",
                    NAMES[source],
                    self.n,
                    NAMES[dest],
                    show(before[SRC]),
                    show(before[DLQ])
                ),
            );
        }
        let mut input = json!({ "SourceArn": self.arns[source] });
        if explicit {
            input["DestinationArn"] = json!(self.arns[dest]);
        }
        let answer =
            sqs.call("StartMessageMoveTask", &input).await.map_err(|e| format!("StartMessageMoveTask: {e}"))?;
        let handle = str_of(&answer, "TaskHandle")
            .ok_or_else(|| format!("StartMessageMoveTask answered no TaskHandle: {answer}"))?
            .to_string();
        self.started[source] += 1;
        let view = self.latest(source).await?;
        if view.to_move != self.n {
            findings.add(
                "task to-move is not the DLQ depth at its start",
                format!(
                    "ApproximateNumberOfMessagesToMove {} with {} messages in {}",
                    view.to_move, self.n, NAMES[source]
                ),
            );
        }
        if view.running() && view.handle.as_deref() != Some(handle.as_str()) {
            findings.add(
                "task listed is not the one started",
                format!("listed handle {:?}, started {handle}", view.handle),
            );
        }
        Ok(TaskRef { source, dest, handle, to_move: view.to_move, started: view.started })
    }

    async fn kill_round(&mut self, k: u32) -> Result<Findings, String> {
        let mut findings = Findings::default();
        let round = Instant::now();

        // The task to interrupt: the one the last restart resumed, or a new one.
        let (task, how) = match self.task.clone() {
            None => (self.start_task(DLQ, &mut findings).await?, "started"),
            Some(t) => {
                let view = self.latest(t.source).await?;
                match view.status.as_str() {
                    "RUNNING" => (t, "resumed"),
                    "COMPLETED" => (self.start_task(t.dest, &mut findings).await?, "started"),
                    other => return Err(format!("task out of {} is {other} ({:?})", NAMES[t.source], view.failure)),
                }
            }
        };
        self.task = Some(task.clone());

        // Kill at a random point: a share of what remains moved, or a random time.
        let by_progress = self.rng.gen_bool(0.5);
        let share = self.rng.gen_range(0.1..=0.9);
        let delay = Duration::from_millis(self.rng.gen_range(50..=500));
        let first = self.latest(task.source).await?;
        let target = first.moved + ((first.to_move.saturating_sub(first.moved)) as f64 * share).ceil() as u64;
        let mut stall = TaskStall::new(&first);
        let mut seen = first;
        let mut polls = 1u64;
        let t0 = Instant::now();
        while seen.running() {
            if by_progress && seen.moved >= target || !by_progress && t0.elapsed() >= delay {
                break;
            }
            tokio::time::sleep(POLL).await;
            seen = self.latest(task.source).await?;
            stall.check(&seen)?;
            polls += 1;
        }
        let at = t0.elapsed();
        let server = self.server.take().ok_or("no server to kill")?;
        server.kill();
        self.sqs = None;
        let plan = if by_progress {
            format!("{:.0} % of what remained moved (moved ≥ {target})", share * 100.0)
        } else {
            format!("{} ms", delay.as_millis())
        };

        let ready = self.start_server().await?;
        let (a, view, d, reads) = self.snapshot(&task).await?;
        self.check_after_restart(&task, &seen, &a, &view, &d, &mut findings).await?;
        let (s, q) = if task.source == SRC { (a, d) } else { (d, a) };
        // The batch being committed at the kill is visible to ListMessageMoveTasks already.
        let undone = if view.moved < seen.moved {
            format!(" ({} seen moved before the kill were not durable yet)", seen.moved - view.moved)
        } else {
            String::new()
        };
        println!(
            "kill {k}/{}: task {}→{} {how} ({} to move); kill point {plan}: SIGKILL after {:.0} ms ({polls} polls), last seen {} moved {}; restart {:.2} s; after: task {} moved {} = {} to move − {} left in {}{undone}; src {} + dlq {} = {} [consistent snapshot after {reads} tries; round {:.1} s]",
            self.kills,
            NAMES[task.source],
            NAMES[task.dest],
            task.to_move,
            at.as_secs_f64() * 1000.0,
            seen.status,
            seen.moved,
            ready.as_secs_f64(),
            view.status,
            view.moved,
            view.to_move,
            a.visible,
            NAMES[task.source],
            s.total(),
            q.total(),
            s.total() + q.total(),
            secs(round),
        );
        Ok(findings)
    }

    /// Source counts, task, destination counts, source counts again until both source
    /// counts agree: then no batch committed in between and the four values belong together.
    async fn snapshot(&self, task: &TaskRef) -> Result<(QueueCounts, TaskView, QueueCounts, u32), String> {
        let sqs = self.sqs()?;
        for tries in 1..=2000 {
            let a = counts(&sqs, &self.urls[task.source]).await?;
            let view = self.latest(task.source).await?;
            let d = counts(&sqs, &self.urls[task.dest]).await?;
            let b = counts(&sqs, &self.urls[task.source]).await?;
            if a == b {
                return Ok((a, view, d, tries));
            }
        }
        Err("no consistent snapshot of the counts and the task in 2000 tries".into())
    }

    async fn check_after_restart(
        &self,
        task: &TaskRef,
        before: &TaskView,
        a: &QueueCounts,
        view: &TaskView,
        d: &QueueCounts,
        findings: &mut Findings,
    ) -> Result<(), String> {
        let n = self.n;
        if a.not_visible + a.delayed + d.not_visible + d.delayed != 0 {
            findings.add(
                "messages in flight or delayed after the restart",
                format!("{} {}, {} {}", NAMES[task.source], show(*a), NAMES[task.dest], show(*d)),
            );
        }
        if a.total() + d.total() != n {
            findings.add(
                "src + dlq is not N",
                format!(
                    "{} {} + {} {} = {}, sent {n}",
                    NAMES[task.source],
                    show(*a),
                    NAMES[task.dest],
                    show(*d),
                    a.total() + d.total()
                ),
            );
        }
        if !matches!(view.status.as_str(), "RUNNING" | "COMPLETED") {
            findings.add("task not RUNNING or COMPLETED after the restart", format!("{view:?}"));
        }
        if view.running() && view.handle.as_deref() != Some(task.handle.as_str()) {
            findings.add("the restart did not resume the same task", format!("listed {view:?}, was {}", task.handle));
        }
        if view.to_move != task.to_move || view.started != task.started {
            findings.add(
                "task changed over the restart",
                format!(
                    "to move {} started {} before, {} and {} after",
                    task.to_move, task.started, view.to_move, view.started
                ),
            );
        }
        let left = task.to_move.checked_sub(a.visible);
        if left != Some(view.moved) {
            findings.add(
                "task progress is not what left its source",
                format!(
                    "moved {} but {} messages left {} ({} to move, {} there now)",
                    view.moved,
                    left.map_or("a negative number of".into(), |l| l.to_string()),
                    NAMES[task.source],
                    task.to_move,
                    a.visible
                ),
            );
        }
        if view.status == "COMPLETED" && (view.moved != task.to_move || a.total() != 0) {
            findings.add(
                "task COMPLETED with messages left",
                format!("moved {} of {}, {} left in {}", view.moved, task.to_move, a.total(), NAMES[task.source]),
            );
        }
        if view.moved + UNDURABLE_PROGRESS < before.moved {
            findings.add(
                "task progress went back over the restart",
                format!("moved {} before the kill, {} after (more than two batches lost)", before.moved, view.moved),
            );
        }
        if !before.running() && view.status != before.status {
            findings.add(
                "finished task changed over the restart",
                format!("{} before, {} after", before.status, view.status),
            );
        }
        // The restart resumes the task; it does not start another.
        let listed = self.tasks(task.source, 10).await?;
        let active = listed.iter().filter(|t| matches!(t.status.as_str(), "RUNNING" | "CANCELLING")).count();
        if listed.len() != self.started[task.source].min(10) || active > 1 {
            findings.add(
                "tasks appeared over the restart",
                format!(
                    "{} lists {} tasks ({active} active), {} were started",
                    NAMES[task.source],
                    listed.len(),
                    self.started[task.source]
                ),
            );
        }
        Ok(())
    }

    /// Let the task complete, then drain both queues and compare with what was sent.
    async fn finish(&mut self) -> Result<Findings, String> {
        let mut findings = Findings::default();
        let sqs = self.sqs()?;
        let task = self.task.clone().ok_or("no task was started")?;
        let t = Instant::now();
        let mut view = self.latest(task.source).await?;
        let mut stall = TaskStall::new(&view);
        while view.running() {
            tokio::time::sleep(Duration::from_millis(20)).await;
            view = self.latest(task.source).await?;
            stall.check(&view)?;
        }
        let completed_s = secs(t);
        if view.status != "COMPLETED" || view.moved != task.to_move || view.to_move != task.to_move {
            findings.add(
                "resumed task did not complete with moved = to move",
                format!("{} moved {} of {} ({:?})", view.status, view.moved, view.to_move, view.failure),
            );
        }
        for source in [SRC, DLQ] {
            for other in self.tasks(source, 10).await? {
                if other.status != "COMPLETED" || other.moved != other.to_move {
                    findings.add(
                        "a task did not complete with moved = to move",
                        format!(
                            "out of {}: {} moved {} of {}",
                            NAMES[source], other.status, other.moved, other.to_move
                        ),
                    );
                }
            }
        }
        let before = [counts(&sqs, &self.urls[SRC]).await?, counts(&sqs, &self.urls[DLQ]).await?];
        if before[task.source].total() != 0
            || before[task.dest].visible != self.n
            || before[task.dest].total() != self.n
        {
            findings.add(
                "counts after the task completed",
                format!(
                    "expected {} empty and {} visible in {}, got src {} and dlq {}",
                    NAMES[task.source],
                    self.n,
                    NAMES[task.dest],
                    show(before[SRC]),
                    show(before[DLQ])
                ),
            );
        }

        let drained = drain_corpus(
            &sqs,
            &self.urls,
            &self.corpus,
            std::mem::take(&mut self.original_ids),
            task.dest,
            &mut findings,
        )
        .await?;
        println!(
            "final: task {}→{} {} moved {}/{} ({completed_s:.1} s to complete); {drained}",
            NAMES[task.source], NAMES[task.dest], view.status, view.moved, view.to_move,
        );
        Ok(findings)
    }
}

/// The queues `fill_dlq` made, by SRC and DLQ, and the MessageId each send answered.
pub(crate) struct Filled {
    pub urls: [String; 2],
    pub arns: [String; 2],
    pub original_ids: Vec<String>,
}

/// Create `redrive-src` and `redrive-dlq` (src hands a message off on its second receive)
/// and dead-letter the whole corpus: sent to src, received from it until it answers empty.
/// The DLQ must then hold every message, visible.
pub(crate) async fn fill_dlq(sqs: &Sqs, corpus: &Arc<Corpus>, what: &str) -> Result<Filled, String> {
    let n = corpus.len() as u64;
    let dlq = create(sqs, QUEUE_NAMES[DLQ], json!({})).await?;
    let dlq_arn = queue_arn(sqs, &dlq).await?;
    let policy = json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1 }).to_string();
    let src = create(sqs, QUEUE_NAMES[SRC], json!({ "RedrivePolicy": policy })).await?;
    let src_arn = queue_arn(sqs, &src).await?;

    let t = Instant::now();
    let original_ids = send_all(sqs, &src, corpus).await?;
    let sent_s = secs(t);
    let t = Instant::now();
    let (returned, requests) = hand_off(sqs, &src, n).await?;
    let handoff_s = secs(t);
    let src_counts = counts(sqs, &src).await?;
    let dlq_counts = counts(sqs, &dlq).await?;
    println!(
        "{what}: sent {n} to src in {sent_s:.1} s; drained src in {handoff_s:.1} s ({requests} receives, {returned} returned once, the rest handed off); src {}, dlq {}",
        show(src_counts),
        show(dlq_counts)
    );
    if returned != n {
        return Err(format!("the first receives returned {returned} messages, expected {n}"));
    }
    if src_counts.total() != 0 || dlq_counts.visible != n || dlq_counts.total() != n {
        return Err(format!(
            "after the hand-off expected src empty and dlq {n} visible, got src {} and dlq {}",
            show(src_counts),
            show(dlq_counts)
        ));
    }
    Ok(Filled { urls: [src, dlq], arns: [src_arn, dlq_arn], original_ids })
}

/// What `drain_corpus` found, for the report.
pub(crate) struct CorpusDrain {
    per_queue: [u64; 2],
    seconds: f64,
    requests: u64,
    distinct: usize,
    n: usize,
    missing: u64,
    duplicated: u64,
}

impl std::fmt::Display for CorpusDrain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "drained src {} + dlq {} in {:.1} s ({} receives): {} distinct of {}, {} missing, {} duplicated",
            self.per_queue[SRC],
            self.per_queue[DLQ],
            self.seconds,
            self.requests,
            self.distinct,
            self.n,
            self.missing,
            self.duplicated
        )
    }
}

/// After a move task into `dest` completed: drain src and dlq and check that every message of
/// the corpus is there exactly once, in `dest`, as it was sent (body, attributes, MD5s), with
/// a new and unique MessageId (not one of `original_ids`) and a receive count of 1; and that
/// the queues' counts agree with the drain.
pub(crate) async fn drain_corpus(
    sqs: &Sqs,
    urls: &[String; 2],
    corpus: &Arc<Corpus>,
    original_ids: Vec<String>,
    dest: usize,
    findings: &mut Findings,
) -> Result<CorpusDrain, String> {
    let n = corpus.len();
    let t = Instant::now();
    let check = Arc::new(Mutex::new(FinalCheck {
        corpus: corpus.clone(),
        original_ids,
        dest,
        seen: vec![0; n],
        ids: HashSet::with_capacity(n),
        per_queue: [0; 2],
        findings: Findings::default(),
    }));
    let mut requests = 0;
    for q in [SRC, DLQ] {
        requests += drain(sqs, &urls[q], q, &check).await?;
    }
    let seconds = secs(t);
    let after = [counts(sqs, &urls[SRC]).await?, counts(sqs, &urls[DLQ]).await?];
    let mut check = lock(&check);
    let mut missing = 0u64;
    let mut duplicated = 0u64;
    for (i, &c) in check.seen.iter().enumerate() {
        if c == 0 {
            missing += 1;
            findings.add("message missing", check.corpus.body(i));
        } else if c > 1 {
            duplicated += 1;
            findings.add("message duplicated", format!("{} received {c} times", check.corpus.body(i)));
        }
    }
    let per_queue = check.per_queue;
    findings.merge(std::mem::take(&mut check.findings));
    if after[SRC].visible + after[DLQ].visible != 0
        || after[SRC].total() + after[DLQ].total() != per_queue[0] + per_queue[1]
    {
        findings.add(
            "counts disagree with the drain",
            format!(
                "drained src {} dlq {}; then src {} dlq {}",
                per_queue[0],
                per_queue[1],
                show(after[SRC]),
                show(after[DLQ])
            ),
        );
    }
    let distinct = check.seen.iter().filter(|&&c| c > 0).count();
    Ok(CorpusDrain { per_queue, seconds, requests, distinct, n, missing, duplicated })
}

/// What the final drain found.
struct FinalCheck {
    corpus: Arc<Corpus>,
    original_ids: Vec<String>,
    dest: usize,
    seen: Vec<u8>,
    ids: HashSet<String>,
    per_queue: [u64; 2],
    findings: Findings,
}

/// A message received (or peeked) from queue `q`: its index in the corpus and its MessageId,
/// once its body, attributes and MD5s are checked against the corpus.
pub(crate) fn corpus_message<'m>(
    corpus: &Corpus,
    q: usize,
    m: &'m Value,
    findings: &mut Findings,
) -> Option<(usize, &'m str)> {
    let (Some(body), Some(id)) = (str_of(m, "Body"), str_of(m, "MessageId")) else {
        findings.add("malformed received message", m.to_string());
        return None;
    };
    let Some(i) = corpus.index(body) else {
        findings.add("unknown body", format!("{} message {id}: {body:?}", NAMES[q]));
        return None;
    };
    let expected = corpus.content(i);
    match parse_attrs(m.get("MessageAttributes")) {
        Ok(attrs) if attrs == expected.attrs => {}
        Ok(attrs) => findings.add(
            "message attributes changed",
            format!("{body}: {}", expected.diff(&Content { body: body.to_string(), attrs })),
        ),
        Err(e) => findings.add("message attributes changed", format!("{body}: {e}")),
    }
    if str_of(m, "MD5OfBody") != Some(expected.md5_body().as_str()) {
        findings.add("wrong MD5OfBody", format!("{body}: {:?}", str_of(m, "MD5OfBody")));
    }
    if str_of(m, "MD5OfMessageAttributes").map(str::to_string) != expected.md5_attrs() {
        findings.add("wrong MD5OfMessageAttributes", format!("{body}: {:?}", str_of(m, "MD5OfMessageAttributes")));
    }
    Some((i, id))
}

/// What a drain hands each message it receives to.
pub(crate) trait Drained: Send + 'static {
    fn message(&mut self, q: usize, m: &Value);
}

impl Drained for FinalCheck {
    fn message(&mut self, q: usize, m: &Value) {
        self.per_queue[q] += 1;
        let Some((i, id)) = corpus_message(&self.corpus, q, m, &mut self.findings) else { return };
        self.seen[i] = self.seen[i].saturating_add(1);
        let body = self.corpus.body(i);
        if q != self.dest {
            self.findings.add("message outside the task's destination", format!("{body} in {}", NAMES[q]));
        }
        if self.original_ids.get(i).is_some_and(|orig| orig == id) {
            self.findings.add("redriven message kept its MessageId", format!("{body}: {id}"));
        }
        if !self.ids.insert(id.to_string()) {
            self.findings.add("MessageId given twice", format!("{body}: {id}"));
        }
        let count = m.get("Attributes").and_then(|a| str_of(a, "ApproximateReceiveCount"));
        if count != Some("1") {
            self.findings
                .add("receive count carried over the redrive", format!("{body}: ApproximateReceiveCount {count:?}"));
        }
    }
}

/// Receive everything in `url`, hiding it for 12 h, with concurrent workers; answers the
/// number of receive requests.
pub(crate) async fn drain<D: Drained>(sqs: &Sqs, url: &str, q: usize, check: &Arc<Mutex<D>>) -> Result<u64, String> {
    let input = Arc::new(json!({
        "QueueUrl": url,
        "MaxNumberOfMessages": 10,
        "VisibilityTimeout": DRAIN_VISIBILITY_S,
        "WaitTimeSeconds": 0,
        "AttributeNames": ["All"],
        "MessageAttributeNames": ["All"],
    }));
    let requests = Arc::new(AtomicU64::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (sqs, input, check, requests) = (sqs.clone(), input.clone(), check.clone(), requests.clone());
        workers.spawn(async move {
            loop {
                requests.fetch_add(1, Ordering::Relaxed);
                let answer =
                    sqs.call("ReceiveMessage", &input).await.map_err(|e| format!("draining {}: {e}", NAMES[q]))?;
                let messages = list_of(&answer, "Messages");
                if messages.is_empty() {
                    return Ok::<(), String>(());
                }
                let mut check = lock(&check);
                for m in messages {
                    check.message(q, m);
                }
            }
        });
    }
    join_all(workers).await?;
    Ok(requests.load(Ordering::Relaxed))
}

/// Send the corpus to `url` in batches of 10 from concurrent workers; answers the MessageIds.
async fn send_all(sqs: &Sqs, url: &str, corpus: &Arc<Corpus>) -> Result<Vec<String>, String> {
    let n = corpus.suffixes.len();
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (sqs, url, corpus, next) = (sqs.clone(), url.to_string(), corpus.clone(), next.clone());
        workers.spawn(async move {
            let mut ids: Vec<(usize, String)> = Vec::new();
            loop {
                let start = next.fetch_add(10, Ordering::Relaxed) as usize;
                if start >= n {
                    return Ok::<_, String>(ids);
                }
                let batch: Vec<(usize, Content)> = (start..n.min(start + 10)).map(|i| (i, corpus.content(i))).collect();
                let entries: Vec<Value> = batch
                    .iter()
                    .map(|(i, c)| json!({ "Id": format!("m{i}"), "MessageBody": c.body, "MessageAttributes": c.attrs_json() }))
                    .collect();
                let answer = sqs
                    .call("SendMessageBatch", &json!({ "QueueUrl": url, "Entries": entries }))
                    .await
                    .map_err(|e| format!("SendMessageBatch: {e}"))?;
                let failed = list_of(&answer, "Failed");
                let ok = list_of(&answer, "Successful");
                if !failed.is_empty() || ok.len() != batch.len() {
                    return Err(format!("SendMessageBatch of {} answered {answer}", batch.len()));
                }
                for entry in ok {
                    let i = str_of(entry, "Id").and_then(|id| id.strip_prefix('m')).and_then(|i| i.parse::<usize>().ok());
                    let id = str_of(entry, "MessageId");
                    let (Some(i), Some(id)) = (i, id) else {
                        return Err(format!("SendMessageBatch entry without Id or MessageId: {entry}"));
                    };
                    let c = corpus.content(i);
                    if str_of(entry, "MD5OfMessageBody") != Some(c.md5_body().as_str())
                        || str_of(entry, "MD5OfMessageAttributes").map(str::to_string) != c.md5_attrs()
                    {
                        return Err(format!("SendMessageBatch answered wrong MD5s for {}: {entry}", c.body));
                    }
                    ids.push((i, id.to_string()));
                }
            }
        });
    }
    let mut out = vec![String::new(); n];
    for part in join_all(workers).await? {
        for (i, id) in part {
            out[i] = id;
        }
    }
    Ok(out)
}

/// Receive from src (VisibilityTimeout 0) until it answers empty: each message is returned
/// by its first receive and handed to the DLQ by the second. Answers (returned, requests).
async fn hand_off(sqs: &Sqs, url: &str, n: u64) -> Result<(u64, u64), String> {
    let input =
        Arc::new(json!({ "QueueUrl": url, "MaxNumberOfMessages": 10, "VisibilityTimeout": 0, "WaitTimeSeconds": 0 }));
    let returned = Arc::new(AtomicU64::new(0));
    let requests = Arc::new(AtomicU64::new(0));
    // Every receive returns or hands off at least one message; more requests is a bug.
    let max_requests = 2 * n + 100;
    let mut workers = JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (sqs, input, returned, requests) = (sqs.clone(), input.clone(), returned.clone(), requests.clone());
        workers.spawn(async move {
            loop {
                if requests.fetch_add(1, Ordering::Relaxed) >= max_requests {
                    return Err(format!("src still not empty after {max_requests} receives"));
                }
                let answer =
                    sqs.call("ReceiveMessage", &input).await.map_err(|e| format!("ReceiveMessage src: {e}"))?;
                let got = list_of(&answer, "Messages").len() as u64;
                if got == 0 {
                    return Ok::<(), String>(());
                }
                returned.fetch_add(got, Ordering::Relaxed);
            }
        });
    }
    join_all(workers).await?;
    Ok((returned.load(Ordering::Relaxed), requests.load(Ordering::Relaxed)))
}

/// Every worker's result; the first error aborts the others.
pub(crate) async fn join_all<T: 'static>(mut workers: JoinSet<Result<T, String>>) -> Result<Vec<T>, String> {
    let mut out = Vec::new();
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(Ok(v)) => out.push(v),
            Ok(Err(e)) => {
                workers.abort_all();
                return Err(e);
            }
            Err(e) => {
                workers.abort_all();
                return Err(format!("worker failed: {e}"));
            }
        }
    }
    Ok(out)
}

pub(crate) async fn create(sqs: &Sqs, name: &str, attributes: Value) -> Result<String, String> {
    let answer = sqs
        .call("CreateQueue", &json!({ "QueueName": name, "Attributes": attributes }))
        .await
        .map_err(|e| format!("CreateQueue {name}: {e}"))?;
    str_of(&answer, "QueueUrl").map(str::to_string).ok_or_else(|| format!("CreateQueue {name} answered {answer}"))
}

pub(crate) async fn queue_arn(sqs: &Sqs, url: &str) -> Result<String, String> {
    let answer = sqs
        .call("GetQueueAttributes", &json!({ "QueueUrl": url, "AttributeNames": ["QueueArn"] }))
        .await
        .map_err(|e| format!("GetQueueAttributes QueueArn: {e}"))?;
    answer
        .get("Attributes")
        .and_then(|a| str_of(a, "QueueArn"))
        .map(str::to_string)
        .ok_or_else(|| format!("GetQueueAttributes answered no QueueArn: {answer}"))
}

pub(crate) fn show(c: QueueCounts) -> String {
    if c.not_visible + c.delayed == 0 {
        c.visible.to_string()
    } else {
        format!("{} visible + {} not visible + {} delayed", c.visible, c.not_visible, c.delayed)
    }
}

pub(crate) fn secs(since: Instant) -> f64 {
    since.elapsed().as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_bodies_map_back_to_their_index() {
        let corpus = Corpus { suffixes: vec![0, u64::MAX, 0x1234] };
        for i in 0..3 {
            assert_eq!(corpus.index(&corpus.body(i)), Some(i));
        }
        assert_eq!(corpus.body(2), "m-000002-0000000000001234");
        assert_eq!(corpus.index("m-000002-0000000000001235"), None);
        assert_eq!(corpus.index("m-000003-0000000000001234"), None);
        assert_eq!(corpus.index("m-2-0000000000001234"), None);
        assert_eq!(corpus.index("x"), None);
        let c = corpus.content(1);
        assert_eq!(parse_attrs(c.attrs_json().as_ref()).expect("parses"), c.attrs);
    }

    fn received(c: &Content, id: &str, count: &str) -> Value {
        json!({
            "MessageId": id,
            "ReceiptHandle": "h",
            "Body": c.body,
            "MD5OfBody": c.md5_body(),
            "MD5OfMessageAttributes": c.md5_attrs(),
            "MessageAttributes": c.attrs_json(),
            "Attributes": { "ApproximateReceiveCount": count },
        })
    }

    #[test]
    fn final_check_finds_what_is_wrong() {
        let corpus = Arc::new(Corpus { suffixes: vec![1, 2, 3, 4] });
        let mut check = FinalCheck {
            corpus: corpus.clone(),
            original_ids: vec!["o0".into(), "o1".into(), "o2".into(), "o3".into()],
            dest: SRC,
            seen: vec![0; 4],
            ids: HashSet::new(),
            per_queue: [0; 2],
            findings: Findings::default(),
        };
        check.message(SRC, &received(&corpus.content(0), "n0", "1"));
        assert!(check.findings.is_empty(), "{}", check.findings.report());
        check.message(SRC, &received(&corpus.content(1), "o1", "1"));
        check.message(DLQ, &received(&corpus.content(2), "n0", "2"));
        let mut changed = corpus.content(3);
        changed.attrs.remove("sig");
        check.message(SRC, &received(&changed, "n3", "1"));
        check.message(SRC, &json!({ "MessageId": "x", "Body": "m-000009-0000000000000001" }));
        let report = check.findings.report();
        for kind in [
            "redriven message kept its MessageId",
            "message outside the task's destination",
            "MessageId given twice",
            "receive count carried over the redrive",
            "message attributes changed",
            "wrong MD5OfMessageAttributes",
            "unknown body",
        ] {
            assert!(report.contains(kind), "{kind} not in\n{report}");
        }
        assert_eq!(check.seen, vec![1, 1, 1, 1]);
        assert_eq!(check.per_queue, [4, 1]);
    }
}

//! `--safe-redrive-scenario`: safe redrive (docs/safe-redrive.md) under crashes. A task with
//! a filter, a canary or a halt rule is SIGKILLed in each of its stages and must resume in
//! the stage it was in, neither losing nor duplicating a message.
//!
//! Setup as the redrive scenario's (`redrive::fill_dlq`): N messages dead-lettered from
//! `redrive-src` (maxReceiveCount 1) into `redrive-dlq`; each has a String attribute `kind`,
//! "a" or "b" at random. Three tasks then run one after the other, each started by
//! StartRedrive at MaxNumberOfMessagesPerSecond 20 (batches of 10). The server runs with
//! `--manual-clock`: a task moves 20 messages per second the harness advances the clock by,
//! and a canary's watch looks at its messages once a second of that clock, so the harness
//! decides how far a task has got when it kills the server.
//!
//! 1. **Canary fails.** Filter kind = a, Canary of C (TimeoutSeconds 3600). K kills in
//!    CANARY (once a random number of the canary's messages moved) or CANARY_WATCH (after a
//!    random number of watch polls). A consumer then still fails the canary: it receives
//!    from src with VisibilityTimeout 0, so each message's second receive hands it back to
//!    the DLQ; a kill after a random number of those receives, one after the task ended.
//!    FAILED with the canary's reason, FailedAgain = C, FailedAgainMessageIds =
//!    CanaryMessageIds; PeekMessages of the DLQ lists all N bodies once each, the canary's
//!    with RedriveCount 1, the others 0, and a receive drain of it gives them all once each
//!    (ChangeMessageVisibility then makes them visible again, once real time has reached the
//!    server clock: see `real_time_catches_up`).
//! 2. **Canary passes.** The same filter and canary, and Halt {MaxPercent 50, WindowSeconds
//!    1200}: K kills in the canary's stages; the consumer deletes the canary; a kill; K kills
//!    in MOVING (once a random share moved), one in WATCHING; the clock passes the halt
//!    window; a kill. COMPLETED, moved = to move = the kind-a messages; the DLQ lists exactly
//!    the kind-b bodies (RedriveCount 0: untouched); src lists, and a receive drain of it
//!    gives, exactly the kind-a bodies but the deleted canary, once each (RedriveCount 2 for
//!    the first task's canary, 1 for the rest). src is then purged.
//! 3. **Halt.** No filter (the DLQ holds the kind-b messages), Halt {MaxCount 5, WindowSeconds
//!    21600}: K kills in MOVING; in WATCHING a consumer fails messages one receive at a time,
//!    with kills after a random number of them, until the task ends FAILED with the halt's
//!    reason; a kill. The DLQ's messages with RedriveCount 1 are exactly
//!    FailedAgainMessageIds, and a receive drain of both queues gives each kind-b body
//!    exactly once (src first: its receive hands the message the consumer had received once
//!    to the DLQ, where the DLQ's drain gets it).
//!
//! After every restart, on reads retried until two DescribeRedrive calls around them agree
//! (then no batch committed in between): the same task (by its handle; ListMessageMoveTasks
//! lists no other); RUNNING unless what it saw ends it (a canary message back, more back
//! than the halt allows); its stage, moved count and canary not behind what was durable
//! before the kill (half the kill points are fenced: after reading the task, an acknowledged
//! SendMessage to another queue, and the store keeps a prefix of its submissions; the others
//! kill right away, or just after the clock let a batch go); FailedAgain exactly what the
//! consumer's acknowledged receives handed back; nothing in flight; src + dlq = N less what
//! the consumer deleted; moved = what left the DLQ (dlq = its count at the start − moved +
//! FailedAgain); in the canary's stages src holds exactly the canary (less deleted and come
//! back), by MessageId; under a filter, every kind-b message still in the DLQ (CountMessages).
//!
//! A restarted server's manual clock starts at the real time; the harness first moves it on
//! to where the last server's had got, so that server time never goes back for long (the
//! deadlines are chosen for the moment it does: see CANARY_TIMEOUT_S).
//!
//! Checks are counted as cycles: one per kill and one per task's end.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::client::{list_of, str_of, Sqs};
use crate::load::lock;
use crate::model::Findings;
use crate::redrive::{
    self, corpus_message, create, secs, show, watched, Corpus, Drained, DLQ, NAMES, POLL, SRC, STALL,
};
use crate::server::Server;
use crate::verify::{counts, QueueCounts};
use crate::Outcome;

/// Every task's MaxNumberOfMessagesPerSecond: messages per second of the manual clock.
const RATE: u64 = 20;
/// Deadlines (seconds of the server clock). A restarted server's clock starts behind the last
/// one's until the harness moves it on, and a task that steps in between steps at that clock:
/// a deadline it takes then is early, and one it meets later passes at the catch-up. So each
/// deadline is longer than all the clock the harness moves before it: the canary's than the
/// first tasks' polls, the second task's halt window than those, the third's than that
/// window too. (For the same reason nothing the task is to move may be stamped visible at a
/// time the restarted clock has not reached: see `real_time_catches_up`.)
const CANARY_TIMEOUT_S: u64 = 3600;
const PASSING_WINDOW_S: u64 = 1200;
const HALT_WINDOW_S: u64 = 6 * 3600;
const HALT_MAX_COUNT: u64 = 5;
const SECOND_MS: u64 = 1000;
const FENCE_QUEUE: &str = "safe-redrive-fence";

pub struct Options {
    pub messages: u64,
    /// Kills in each group of stages (the canary's, moving) of each task.
    pub kills: u32,
    pub canary: u32,
}

/// Run the scenario; its checks are the outcome's cycles.
pub async fn run(bin: PathBuf, dir: &Path, seed: u64, opts: &Options) -> Outcome {
    let mut s = Scenario::new(bin, dir, seed, opts);
    let begun = Instant::now();
    let result = async {
        watched("safe-redrive setup", s.setup()).await?;
        watched("canary fails", s.canary_fails()).await?;
        watched("canary passes", s.canary_passes()).await?;
        watched("halt", s.halt()).await
    }
    .await;
    if let Err(e) = result {
        println!("safe redrive: ABORTED: {e}");
        println!("crash-test: the checks after it not run (one counted as failed)");
        s.outcome.failed += 1;
    }
    if let Some(server) = s.server.take() {
        server.kill();
    }
    println!(
        "safe-redrive scenario: {} messages ({} kind a), canary {}, {} kills (restarted clocks up to {} s behind), {:.1} s in all",
        s.corpus.len(),
        s.n_a,
        s.canary,
        s.killed,
        s.behind_ms / 1000,
        secs(begun)
    );
    s.outcome
}

/// One DescribeRedrive answer.
#[derive(Debug, Clone, PartialEq)]
struct View {
    handle: String,
    status: String,
    stage: String,
    moved: u64,
    to_move: u64,
    started: u64,
    skipped: u64,
    failed_again: u64,
    failed_ids: Vec<String>,
    canary_ids: Vec<String>,
    failure: Option<String>,
}

impl View {
    fn parse(v: &Value) -> Result<View, String> {
        let num = |k: &str| v.get(k).and_then(Value::as_u64).ok_or_else(|| format!("DescribeRedrive without {k}: {v}"));
        let text =
            |k: &str| str_of(v, k).map(str::to_string).ok_or_else(|| format!("DescribeRedrive without {k}: {v}"));
        let ids = |k: &str| list_of(v, k).iter().filter_map(Value::as_str).map(str::to_string).collect();
        Ok(View {
            handle: text("TaskHandle")?,
            status: text("Status")?,
            stage: text("Stage")?,
            moved: num("ApproximateNumberOfMessagesMoved")?,
            to_move: num("ApproximateNumberOfMessagesToMove")?,
            started: num("StartedTimestamp")?,
            skipped: num("ApproximateNumberOfMessagesSkipped")?,
            failed_again: num("ApproximateNumberOfMessagesFailedAgain")?,
            failed_ids: ids("FailedAgainMessageIds"),
            canary_ids: ids("CanaryMessageIds"),
            failure: str_of(v, "FailureReason").map(str::to_string),
        })
    }

    fn running(&self) -> bool {
        self.status == "RUNNING"
    }

    /// Ended after running, then the stage in its order: a task only ever goes up.
    fn rank(&self) -> (u8, u8) {
        let stage = match self.stage.as_str() {
            "CANARY" => 0,
            "CANARY_WATCH" => 1,
            "MOVING" => 2,
            "WATCHING" => 3,
            _ => 4,
        };
        (u8::from(!self.running()), stage)
    }

    fn in_canary(&self) -> bool {
        matches!(self.stage.as_str(), "CANARY" | "CANARY_WATCH")
    }

    fn short(&self) -> String {
        format!(
            "{} {} moved {}/{} failed again {}",
            self.status, self.stage, self.moved, self.to_move, self.failed_again
        )
    }
}

const CANARY: (u8, u8) = (0, 0);
const CANARY_WATCH: (u8, u8) = (0, 1);
const MOVING: (u8, u8) = (0, 2);
const WATCHING: (u8, u8) = (0, 3);

/// The task under test and what the harness knows of it.
struct Tracked {
    handle: String,
    to_move: u64,
    started: u64,
    /// src and dlq totals when it started.
    at_start: [u64; 2],
    /// MessageIds the consumer deleted from src since.
    deleted: HashSet<String>,
    /// The task as read before an acknowledged fence: durable.
    floor: Option<View>,
    /// FailedAgain as the consumer's last acknowledged receive left it; nothing else changes it.
    failed_exact: u64,
    /// Whether a filter keeps the kind-b messages in the DLQ.
    filtered: bool,
    /// Messages that may come back before the task must stop (once out of the canary).
    halt_max: Option<u64>,
    /// Whether the task watches for a halt window after its last move, and whether the
    /// harness has moved the clock past that window yet.
    halt: bool,
    window_passed: bool,
}

impl Tracked {
    /// Whether what the task saw ends it at its next step.
    fn must_end(&self, v: &View) -> bool {
        let allowed = if v.in_canary() { Some(0) } else { self.halt_max };
        v.running() && allowed.is_some_and(|a| v.failed_again > a)
    }
}

/// Where to kill: once the task is at least in `rank` and has moved `moved`, after `polls`
/// more seconds of the clock.
struct Point {
    rank: (u8, u8),
    moved: u64,
    polls: u32,
    plan: String,
}

/// Reads after a restart that belong together.
struct Snapshot {
    view: View,
    counts: [QueueCounts; 2],
    /// src's MessageIds, in the canary's stages.
    src_ids: Option<HashSet<String>>,
    /// Kind-b messages in src and dlq, under a filter.
    kind_b: Option<[u64; 2]>,
}

struct Scenario {
    bin: PathBuf,
    data_dir: PathBuf,
    log: PathBuf,
    rng: StdRng,
    corpus: Arc<Corpus>,
    n_a: u64,
    n_b: u64,
    canary: u32,
    kills: u32,
    server: Option<Server>,
    sqs: Option<Sqs>,
    urls: [String; 2],
    arns: [String; 2],
    fence: String,
    /// The furthest the server clock has been (epoch ms), and the most a restarted server's
    /// clock was behind it.
    clock: u64,
    behind_ms: u64,
    tasks_started: usize,
    killed: u32,
    outcome: Outcome,
    /// Indexes of the first task's canary, back in the DLQ after it failed.
    first_canary: HashSet<usize>,
}

impl Scenario {
    fn new(bin: PathBuf, dir: &Path, seed: u64, opts: &Options) -> Scenario {
        let mut rng = StdRng::seed_from_u64(seed);
        let corpus = Arc::new(Corpus::new(opts.messages, &mut rng));
        let n_a = (0..corpus.len()).filter(|&i| corpus.kind(i) == "a").count() as u64;
        Scenario {
            bin,
            data_dir: dir.join("data"),
            log: dir.join("server.log"),
            rng,
            n_b: corpus.len() as u64 - n_a,
            n_a,
            corpus,
            canary: opts.canary,
            kills: opts.kills,
            server: None,
            sqs: None,
            urls: Default::default(),
            arns: Default::default(),
            fence: String::new(),
            clock: 0,
            behind_ms: 0,
            tasks_started: 0,
            killed: 0,
            outcome: Outcome { passed: 0, failed: 0 },
            first_canary: HashSet::new(),
        }
    }

    fn sqs(&self) -> Result<Sqs, String> {
        self.sqs.clone().ok_or_else(|| "no server".to_string())
    }

    async fn start_server(&mut self) -> Result<Duration, String> {
        let started = Instant::now();
        let server = Server::start(&self.bin, &self.data_dir, &self.log).await?;
        let ready = started.elapsed();
        let sqs = Sqs::new(&server.endpoint, redrive::CONCURRENCY)?;
        self.server = Some(server);
        // Server time does not go back over a restart.
        let now = sqs.advance_clock(0).await.map_err(|e| format!("clock: {e}"))?;
        if now < self.clock {
            self.behind_ms = self.behind_ms.max(self.clock - now);
            sqs.advance_clock(self.clock - now).await.map_err(|e| format!("clock: {e}"))?;
        }
        self.clock = self.clock.max(now);
        self.sqs = Some(sqs);
        Ok(ready)
    }

    async fn setup(&mut self) -> Result<(), String> {
        self.start_server().await?;
        let sqs = self.sqs()?;
        let filled = redrive::fill_dlq(&sqs, &self.corpus, "safe-redrive setup").await?;
        (self.urls, self.arns) = (filled.urls, filled.arns);
        self.fence = create(&sqs, FENCE_QUEUE, json!({})).await?;
        Ok(())
    }

    /// A check's result: PASS or FAIL, counted.
    fn record(&mut self, what: &str, findings: Findings, since: Instant) {
        let took = secs(since);
        if findings.is_empty() {
            self.outcome.passed += 1;
            println!("{what}: PASS ({took:.1} s)");
        } else {
            self.outcome.failed += 1;
            println!("{what}: FAIL, {} violations ({took:.1} s)\n{}", findings.total(), findings.report().trim_end());
        }
    }

    async fn advance(&mut self, ms: u64) -> Result<(), String> {
        let now = self.sqs()?.advance_clock(ms).await.map_err(|e| format!("clock: {e}"))?;
        self.clock = self.clock.max(now);
        Ok(())
    }

    async fn describe(&self, handle: &str) -> Result<View, String> {
        let answer = self
            .sqs()?
            .extension("DescribeRedrive", &json!({ "TaskHandle": handle }))
            .await
            .map_err(|e| format!("DescribeRedrive: {e}"))?;
        View::parse(&answer)
    }

    async fn count_kind(&self, q: usize, kind: &str) -> Result<u64, String> {
        let input = json!({ "QueueUrl": self.urls[q], "Filter": { "MessageAttributes": [{ "Name": "kind", "Equals": kind }] } });
        let answer = self
            .sqs()?
            .extension("CountMessages", &input)
            .await
            .map_err(|e| format!("CountMessages {}: {e}", NAMES[q]))?;
        answer.get("Count").and_then(Value::as_u64).ok_or_else(|| format!("CountMessages answered {answer}"))
    }

    /// Every message of queue `q`, as PeekMessages lists them (nothing is received).
    async fn peek_all(&self, q: usize) -> Result<Vec<Value>, String> {
        let sqs = self.sqs()?;
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut input = json!({ "QueueUrl": self.urls[q], "MaxResults": 50 });
            if let Some(t) = &token {
                input["NextToken"] = json!(t);
            }
            let answer =
                sqs.extension("PeekMessages", &input).await.map_err(|e| format!("PeekMessages {}: {e}", NAMES[q]))?;
            out.extend(list_of(&answer, "Messages").iter().cloned());
            match str_of(&answer, "NextToken") {
                Some(t) if out.len() <= 10 * self.corpus.len() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    /// StartRedrive from the DLQ with these options, at RATE.
    async fn start(&mut self, what: &str, mut input: Value, findings: &mut Findings) -> Result<Tracked, String> {
        let sqs = self.sqs()?;
        input["SourceArn"] = json!(self.arns[DLQ]);
        input["MaxNumberOfMessagesPerSecond"] = json!(RATE);
        let at_start = [counts(&sqs, &self.urls[SRC]).await?.total(), counts(&sqs, &self.urls[DLQ]).await?.total()];
        let answer = sqs.extension("StartRedrive", &input).await.map_err(|e| format!("StartRedrive: {e}"))?;
        let handle =
            str_of(&answer, "TaskHandle").ok_or_else(|| format!("StartRedrive answered {answer}"))?.to_string();
        self.tasks_started += 1;
        let view = self.describe(&handle).await?;
        let expected_stage = if input.get("Canary").is_some() { "CANARY" } else { "MOVING" };
        if view.stage != expected_stage && view.rank() < MOVING {
            findings.add("task started in the wrong stage", format!("{what}: {}", view.short()));
        }
        println!(
            "{what}: started {} ({} to move; src {}, dlq {})",
            view.short(),
            view.to_move,
            at_start[SRC],
            at_start[DLQ]
        );
        Ok(Tracked {
            handle,
            to_move: view.to_move,
            started: view.started,
            at_start,
            deleted: HashSet::new(),
            floor: None,
            failed_exact: 0,
            filtered: input.get("Filter").is_some(),
            halt_max: input.get("Halt").and_then(|h| h.get("MaxCount")).and_then(Value::as_u64),
            halt: input.get("Halt").is_some(),
            window_passed: false,
        })
    }

    /// Advance the server clock a second at a time until the task is `reached` or has ended.
    async fn drive(&mut self, t: &Tracked, reached: impl Fn(&View) -> bool) -> Result<View, String> {
        let mut v = self.describe(&t.handle).await?;
        let (mut last, mut since) = ((v.rank(), v.moved), Instant::now());
        while !reached(&v) && v.running() {
            self.advance(SECOND_MS).await?;
            tokio::time::sleep(POLL).await;
            v = self.describe(&t.handle).await?;
            if (v.rank(), v.moved) != last {
                (last, since) = ((v.rank(), v.moved), Instant::now());
            } else if since.elapsed() >= STALL {
                return Err(format!("the task went nowhere for {} s: {}", STALL.as_secs(), v.short()));
            }
        }
        Ok(v)
    }

    /// Drive the task to `point`, SIGKILL the server, restart it and check (one counted check).
    async fn kill_round(&mut self, what: &str, t: &mut Tracked, point: Point) -> Result<(), String> {
        let round = Instant::now();
        let mut seen = self.drive(t, |v| v.rank() >= point.rank && v.moved >= point.moved).await?;
        for _ in 0..point.polls {
            self.advance(SECOND_MS).await?;
            tokio::time::sleep(POLL).await;
            seen = self.describe(&t.handle).await?;
        }
        let fenced = self.rng.gen_bool(0.5);
        let how = if fenced {
            self.sqs()?
                .call("SendMessage", &json!({ "QueueUrl": self.fence, "MessageBody": "fence" }))
                .await
                .map_err(|e| format!("SendMessage fence: {e}"))?;
            t.floor = Some(seen.clone());
            "fenced"
        } else if self.rng.gen_bool(0.5) {
            // The window reopens: a batch is likely being committed at the kill.
            self.advance(SECOND_MS).await?;
            "just after a clock second"
        } else {
            "at once"
        };
        self.server.take().ok_or("no server to kill")?.kill();
        self.sqs = None;
        self.killed += 1;
        let ready = self.start_server().await?;
        let mut findings = Findings::default();
        let (snap, reads) = self.snapshot(t).await?;
        self.check_restart(t, &snap, &mut findings);
        self.check_listed(t, &mut findings).await?;
        let v = &snap.view;
        println!(
            "{what}: kill at {} ({how}), seen {}; restart {:.2} s; after: {}, canary {}, src {} + dlq {} [{reads} reads]",
            point.plan,
            seen.short(),
            ready.as_secs_f64(),
            v.short(),
            v.canary_ids.len(),
            show(snap.counts[SRC]),
            show(snap.counts[DLQ]),
        );
        self.record(what, findings, round);
        Ok(())
    }

    /// The task, the counts and what else the checks need, read until two DescribeRedrive
    /// calls around them agree and the task has taken what it saw into account.
    async fn snapshot(&self, t: &Tracked) -> Result<(Snapshot, u32), String> {
        let sqs = self.sqs()?;
        let until = Instant::now() + STALL;
        let mut reads = 0;
        loop {
            reads += 1;
            let view = self.describe(&t.handle).await?;
            let c = [counts(&sqs, &self.urls[SRC]).await?, counts(&sqs, &self.urls[DLQ]).await?];
            let src_ids = match view.in_canary() {
                true => Some(
                    self.peek_all(SRC)
                        .await?
                        .iter()
                        .filter_map(|m| str_of(m, "MessageId"))
                        .map(str::to_string)
                        .collect(),
                ),
                false => None,
            };
            let kind_b = match t.filtered {
                true => Some([self.count_kind(SRC, "b").await?, self.count_kind(DLQ, "b").await?]),
                false => None,
            };
            let again = self.describe(&t.handle).await?;
            if again == view && !t.must_end(&view) {
                return Ok((Snapshot { view, counts: c, src_ids, kind_b }, reads));
            }
            if Instant::now() >= until {
                return Err(format!(
                    "the task did not settle after the restart in {} s: {}",
                    STALL.as_secs(),
                    again.short()
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn check_restart(&self, t: &Tracked, s: &Snapshot, findings: &mut Findings) {
        let v = &s.view;
        if v.handle != t.handle || v.to_move != t.to_move || v.started != t.started {
            findings.add(
                "task changed over the restart",
                format!("to move {} started {} before, {} and {} after", t.to_move, t.started, v.to_move, v.started),
            );
        }
        if let Some(f) = &t.floor {
            if v.rank() < f.rank() {
                findings.add(
                    "task went back to an earlier stage over the restart",
                    format!("{} durable before the kill, {} after", f.short(), v.short()),
                );
            }
            if v.moved < f.moved {
                findings.add(
                    "task progress went back over the restart",
                    format!("moved {} durable before the kill, {} after", f.moved, v.moved),
                );
            }
            if !v.failed_ids.starts_with(&f.failed_ids) {
                findings.add(
                    "FailedAgainMessageIds lost over the restart",
                    format!("{} durable before the kill, {} after", f.failed_ids.len(), v.failed_ids.len()),
                );
            }
            if !v.canary_ids.starts_with(&f.canary_ids) {
                let kept = f.canary_ids.iter().zip(&v.canary_ids).take_while(|(a, b)| a == b).count();
                findings.add(
                    "canary lost over the restart",
                    format!(
                        "{} canary messages durable before the kill, {} after, the first {kept} the same",
                        f.canary_ids.len(),
                        v.canary_ids.len()
                    ),
                );
            }
            if !f.running() && (v.status != f.status || v.failure != f.failure) {
                findings
                    .add("ended task changed over the restart", format!("{} before, {} after", f.short(), v.short()));
            }
        }
        let ended_by_failures = v.failed_again > if v.in_canary() { 0 } else { t.halt_max.unwrap_or(u64::MAX) };
        let completed = v.status == "COMPLETED" && v.moved == v.to_move;
        if !(v.running() || completed || ended_by_failures) {
            findings.add("task ended over the restart", v.short());
        }
        if completed && t.halt && !t.window_passed {
            findings.add("task completed before its halt window ended", v.short());
        }
        if v.failed_again != t.failed_exact {
            findings.add(
                "FailedAgain is not what the consumer handed back",
                format!("{} after the restart, {} after the consumer's last receive", v.failed_again, t.failed_exact),
            );
        }
        if v.skipped != 0 {
            findings.add("messages skipped", format!("{} skipped by the loop guard", v.skipped));
        }
        let [src, dlq] = s.counts;
        if src.not_visible + src.delayed + dlq.not_visible + dlq.delayed != 0 {
            findings.add(
                "messages in flight or delayed after the restart",
                format!("src {}, dlq {}", show(src), show(dlq)),
            );
        }
        let n = t.at_start[SRC] + t.at_start[DLQ] - t.deleted.len() as u64;
        if src.total() + dlq.total() != n {
            findings.add(
                "src + dlq is not N",
                format!("src {} + dlq {} = {}, expected {n}", show(src), show(dlq), src.total() + dlq.total()),
            );
        }
        if dlq.total() + v.moved != t.at_start[DLQ] + v.failed_again {
            findings.add(
                "task progress is not what left the DLQ",
                format!(
                    "moved {} and {} came back, but the DLQ went from {} to {}",
                    v.moved,
                    v.failed_again,
                    t.at_start[DLQ],
                    dlq.total()
                ),
            );
        }
        if v.in_canary() {
            let canary = self.canary as u64;
            let full = canary.min(v.to_move);
            if v.moved != v.canary_ids.len() as u64 || v.moved > canary {
                findings.add(
                    "the canary's stages moved more than the canary",
                    format!("moved {} with {} canary messages listed, canary {canary}", v.moved, v.canary_ids.len()),
                );
            }
            if v.stage == "CANARY_WATCH" && v.canary_ids.len() as u64 != full {
                findings.add("canary watched before it was all moved", format!("{} of {full}", v.canary_ids.len()));
            }
            if let Some(src_ids) = &s.src_ids {
                let back: HashSet<&String> = v.failed_ids.iter().collect();
                let expected: HashSet<String> =
                    v.canary_ids.iter().filter(|id| !t.deleted.contains(*id) && !back.contains(id)).cloned().collect();
                if *src_ids != expected {
                    findings.add(
                        "src does not hold exactly the canary",
                        format!(
                            "src holds {} messages, {} of them not canary; {} canary messages not deleted or come back missing",
                            src_ids.len(),
                            src_ids.difference(&expected).count(),
                            expected.difference(src_ids).count()
                        ),
                    );
                }
            }
        }
        let undeleted = v.canary_ids.iter().filter(|id| !t.deleted.contains(*id)).count();
        if !v.in_canary() && undeleted > 0 {
            findings.add(
                "task went on past a canary not deleted",
                format!("{}, {undeleted} of its {} canary messages not deleted", v.short(), v.canary_ids.len()),
            );
        }
        if let Some([src_b, dlq_b]) = s.kind_b {
            if src_b != 0 || dlq_b != self.n_b {
                findings.add(
                    "a message the filter leaves out moved",
                    format!("kind b: {src_b} in src, {dlq_b} of {} in the DLQ", self.n_b),
                );
            }
        }
    }

    /// The restart resumed the task; it started no other.
    async fn check_listed(&self, t: &Tracked, findings: &mut Findings) -> Result<(), String> {
        let input = json!({ "SourceArn": self.arns[DLQ], "MaxResults": 10 });
        let answer =
            self.sqs()?.call("ListMessageMoveTasks", &input).await.map_err(|e| format!("ListMessageMoveTasks: {e}"))?;
        let listed = list_of(&answer, "Results");
        let newest = listed.first().and_then(|r| str_of(r, "TaskHandle"));
        let running = listed.iter().filter(|r| str_of(r, "Status") == Some("RUNNING")).count();
        if listed.len() != self.tasks_started.min(10) || running > 1 || (running == 1 && newest != Some(&t.handle)) {
            findings.add(
                "tasks appeared over the restart",
                format!("{} tasks listed ({running} running), {} started", listed.len(), self.tasks_started),
            );
        }
        Ok(())
    }

    /// K kills at random points of what is left of the canary's stages.
    async fn canary_kills(&mut self, what: &str, t: &mut Tracked) -> Result<(), String> {
        let c = u64::from(self.canary).min(t.to_move);
        for k in 1..=self.kills {
            let now = self.describe(&t.handle).await?;
            // A task the filter leaves fewer messages to has a smaller canary; a lost canary
            // (the bug this looks for) can make it move more.
            let from = if now.rank() < CANARY_WATCH { now.moved.min(c + 1) } else { c + 1 };
            let r = self.rng.gen_range(from..=c + 3);
            let point = if r <= c {
                Point { rank: CANARY, moved: r, polls: 0, plan: format!("CANARY, {r} moved") }
            } else {
                let polls = (r - c - 1) as u32;
                Point { rank: CANARY_WATCH, moved: 0, polls, plan: format!("CANARY_WATCH + {polls} s") }
            };
            self.kill_round(&format!("{what}: canary kill {k}/{}", self.kills), t, point).await?;
        }
        Ok(())
    }

    /// K kills at random shares of what is left to move after the canary.
    async fn moving_kills(&mut self, what: &str, t: &mut Tracked) -> Result<(), String> {
        for k in 1..=self.kills {
            let now = self.describe(&t.handle).await?.moved;
            let share = self.rng.gen_range(0.0..1.0);
            let moved = now + (t.to_move.saturating_sub(now) as f64 * share) as u64;
            let point = Point { rank: MOVING, moved, polls: 0, plan: format!("MOVING, {moved} moved") };
            self.kill_round(&format!("{what}: moving kill {k}/{}", self.kills), t, point).await?;
        }
        Ok(())
    }

    /// Kill where the task is now.
    async fn kill_here(&mut self, what: &str, t: &mut Tracked, plan: &str) -> Result<(), String> {
        self.kill_round(what, t, Point { rank: CANARY, moved: 0, polls: 0, plan: plan.to_string() }).await
    }

    /// A consumer that still fails: receive from src with VisibilityTimeout 0 (a message's
    /// second receive hands it back to the DLQ). Answers how many the receive returned.
    async fn fail_receive(&self, max: u32) -> Result<usize, String> {
        let input = json!({ "QueueUrl": self.urls[SRC], "MaxNumberOfMessages": max, "VisibilityTimeout": 0, "WaitTimeSeconds": 0 });
        let answer =
            self.sqs()?.call("ReceiveMessage", &input).await.map_err(|e| format!("ReceiveMessage src: {e}"))?;
        Ok(list_of(&answer, "Messages").len())
    }

    /// A consumer that works: receive and delete everything in src. Answers the MessageIds
    /// and corpus indexes deleted.
    async fn delete_all(&self) -> Result<Vec<(String, usize)>, String> {
        let sqs = self.sqs()?;
        let mut deleted = Vec::new();
        let mut findings = Findings::default();
        loop {
            let input = json!({ "QueueUrl": self.urls[SRC], "MaxNumberOfMessages": 10, "VisibilityTimeout": 600, "WaitTimeSeconds": 0, "MessageAttributeNames": ["All"] });
            let answer = sqs.call("ReceiveMessage", &input).await.map_err(|e| format!("ReceiveMessage src: {e}"))?;
            let messages = list_of(&answer, "Messages");
            if messages.is_empty() {
                return match findings.is_empty() {
                    true => Ok(deleted),
                    false => Err(format!("the consumer received wrong messages:\n{}", findings.report())),
                };
            }
            let mut entries = Vec::new();
            for (k, m) in messages.iter().enumerate() {
                let handle =
                    str_of(m, "ReceiptHandle").ok_or_else(|| format!("a message without ReceiptHandle: {m}"))?;
                entries.push(json!({ "Id": format!("d{k}"), "ReceiptHandle": handle }));
                if let Some((i, id)) = corpus_message(&self.corpus, SRC, m, &mut findings) {
                    deleted.push((id.to_string(), i));
                }
            }
            let answer = sqs
                .call("DeleteMessageBatch", &json!({ "QueueUrl": self.urls[SRC], "Entries": entries }))
                .await
                .map_err(|e| format!("DeleteMessageBatch src: {e}"))?;
            if !list_of(&answer, "Failed").is_empty() {
                return Err(format!("DeleteMessageBatch src answered {answer}"));
            }
        }
    }

    /// Wait until real time has reached the server clock. A message made visible at a server
    /// time after the real time would be in flight again to a restarted server, whose clock
    /// starts at the real time, until the harness moved it on — and the task resumes before.
    async fn real_time_catches_up(&self) -> Result<Duration, String> {
        let begun = Instant::now();
        let real = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| format!("system clock: {e}"))?
            .as_millis() as u64;
        let ahead = self.clock.saturating_sub(real);
        if ahead > STALL.as_millis() as u64 {
            return Err(format!("the server clock is {} s ahead of real time", ahead / 1000));
        }
        tokio::time::sleep(Duration::from_millis(ahead + 50)).await;
        Ok(begun.elapsed())
    }

    /// Make received messages of queue `q` visible at once.
    async fn visible_again(&self, q: usize, handles: &[String]) -> Result<(), String> {
        let sqs = self.sqs()?;
        for chunk in handles.chunks(10) {
            let entries: Vec<Value> = chunk
                .iter()
                .enumerate()
                .map(|(k, h)| json!({ "Id": format!("v{k}"), "ReceiptHandle": h, "VisibilityTimeout": 0 }))
                .collect();
            let input = json!({ "QueueUrl": self.urls[q], "Entries": entries });
            let answer = sqs
                .call("ChangeMessageVisibilityBatch", &input)
                .await
                .map_err(|e| format!("ChangeMessageVisibilityBatch {}: {e}", NAMES[q]))?;
            if !list_of(&answer, "Failed").is_empty() {
                return Err(format!("ChangeMessageVisibilityBatch {} answered {answer}", NAMES[q]));
            }
        }
        Ok(())
    }

    /// Wait (real time) for the task to take a final status.
    async fn ended(&self, t: &Tracked) -> Result<View, String> {
        let until = Instant::now() + STALL;
        loop {
            let v = self.describe(&t.handle).await?;
            if !v.running() {
                return Ok(v);
            }
            if Instant::now() >= until {
                return Err(format!("the task did not end within {} s: {}", STALL.as_secs(), v.short()));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Every message of both queues, listed by PeekMessages (`drain`: received, by a drain).
    async fn inventory(&self, drain: [bool; 2]) -> Result<Inventory, String> {
        let inv = Arc::new(Mutex::new(Inventory::new(self.corpus.clone())));
        for q in [SRC, DLQ] {
            if drain[q] {
                lock(&inv).received = true;
                redrive::drain(&self.sqs()?, &self.urls[q], q, &inv).await?;
            } else {
                let peeked = self.peek_all(q).await?;
                let mut inv = lock(&inv);
                for m in &peeked {
                    inv.message(q, m);
                }
            }
        }
        let inv = std::mem::replace(&mut *lock(&inv), Inventory::new(self.corpus.clone()));
        Ok(inv)
    }

    /// Task 1: the consumer still fails the canary.
    async fn canary_fails(&mut self) -> Result<(), String> {
        const WHAT: &str = "canary fails";
        let begun = Instant::now();
        let mut findings = Findings::default();
        let filter = json!({ "MessageAttributes": [{ "Name": "kind", "Equals": "a" }] });
        let canary = json!({ "Size": self.canary, "TimeoutSeconds": CANARY_TIMEOUT_S });
        let mut t = self.start(WHAT, json!({ "Filter": filter, "Canary": canary }), &mut findings).await?;
        if t.to_move != self.n_a {
            findings.add("to move is not what the filter takes", format!("{} to move, {} kind a", t.to_move, self.n_a));
        }
        self.record(&format!("{WHAT}: start"), findings, begun);
        self.canary_kills(WHAT, &mut t).await?;
        self.drive(&t, |v| v.rank() >= CANARY_WATCH).await?;

        // The consumer fails the canary; a kill after a random number of its receives.
        let kill_after = self.rng.gen_range(1..=4);
        let most = 4 * self.canary as usize + 20;
        let mut receives = 0;
        loop {
            let got = self.fail_receive(10).await?;
            receives += 1;
            t.failed_exact = self.describe(&t.handle).await?.failed_again;
            if receives == kill_after {
                let plan = format!("the consumer's receive {receives} ({} back)", t.failed_exact);
                self.kill_here(&format!("{WHAT}: consumer kill"), &mut t, &plan).await?;
            }
            if got == 0 && counts(&self.sqs()?, &self.urls[SRC]).await?.total() == 0 {
                break;
            }
            if receives > most {
                return Err(format!("src not empty after {receives} receives that fail its messages"));
            }
        }
        self.ended(&t).await?;
        self.kill_here(&format!("{WHAT}: ended kill"), &mut t, "the end").await?;

        let begun = Instant::now();
        let mut findings = Findings::default();
        let v = self.describe(&t.handle).await?;
        let c = u64::from(self.canary).min(t.to_move);
        if v.status != "FAILED" || !v.failure.as_deref().is_some_and(|r| r.starts_with("Canary failed:")) {
            findings.add("task did not fail with the canary's reason", format!("{} ({:?})", v.short(), v.failure));
        }
        let canary: HashSet<&String> = v.canary_ids.iter().collect();
        let back: HashSet<&String> = v.failed_ids.iter().collect();
        if v.failed_again != c || v.moved != c || canary.len() as u64 != c || back != canary {
            findings.add(
                "FailedAgain is not the canary",
                format!(
                    "{}; {} canary ids, {} failed-again ids, {} in both",
                    v.short(),
                    canary.len(),
                    back.len(),
                    canary.intersection(&back).count()
                ),
            );
        }
        let inv = self.inventory([false, false]).await?;
        inv.expect(|_| Some(DLQ), &mut findings);
        for (i, found) in inv.found.iter().enumerate() {
            let Some((_, id, redrives)) = found.first() else { continue };
            let was_canary = canary.contains(id);
            if was_canary {
                self.first_canary.insert(i);
            }
            if *redrives != u64::from(was_canary) {
                findings.add(
                    "wrong RedriveCount",
                    format!("{} {id}: {redrives}, canary: {was_canary}", self.corpus.body(i)),
                );
            }
        }
        findings.merge(inv.findings);
        // And as a consumer gets them: a drain, after which they are made visible again for
        // the next task.
        let drained = self.inventory([false, true]).await?;
        drained.expect(|_| Some(DLQ), &mut findings);
        let waited = self.real_time_catches_up().await?;
        self.visible_again(DLQ, &drained.handles).await?;
        findings.merge(drained.findings);
        let dlq = counts(&self.sqs()?, &self.urls[DLQ]).await?;
        if dlq.visible != self.corpus.len() as u64 || dlq.total() != dlq.visible {
            findings.add("DLQ not all visible after the drain's timeout", show(dlq));
        }
        println!(
            "{WHAT}: end: {}, {:?}; dlq lists {} messages, {} of them the canary; drained {} (then {:.1} s for real time to reach the server clock)",
            v.short(),
            v.failure,
            inv.per_queue[DLQ],
            self.first_canary.len(),
            drained.per_queue[DLQ],
            waited.as_secs_f64()
        );
        self.record(&format!("{WHAT}: end"), findings, begun);
        Ok(())
    }

    /// Task 2: the consumer deletes the canary; the rest moves, is watched, completes.
    async fn canary_passes(&mut self) -> Result<(), String> {
        const WHAT: &str = "canary passes";
        let begun = Instant::now();
        let mut findings = Findings::default();
        let filter = json!({ "MessageAttributes": [{ "Name": "kind", "Equals": "a" }] });
        let canary = json!({ "Size": self.canary, "TimeoutSeconds": CANARY_TIMEOUT_S });
        let halt = json!({ "MaxPercent": 50, "WindowSeconds": PASSING_WINDOW_S });
        let input = json!({ "Filter": filter, "Canary": canary, "Halt": halt });
        let mut t = self.start(WHAT, input, &mut findings).await?;
        if t.to_move != self.n_a {
            findings.add("to move is not what the filter takes", format!("{} to move, {} kind a", t.to_move, self.n_a));
        }
        self.record(&format!("{WHAT}: start"), findings, begun);
        self.canary_kills(WHAT, &mut t).await?;
        let v = self.drive(&t, |v| v.rank() >= CANARY_WATCH).await?;

        let deleted = self.delete_all().await?;
        let deleted_ids: HashSet<String> = deleted.iter().map(|(id, _)| id.clone()).collect();
        let canary_ids: HashSet<String> = v.canary_ids.iter().cloned().collect();
        t.deleted = deleted_ids.clone();
        let mut findings = Findings::default();
        if deleted_ids != canary_ids {
            findings.add(
                "the consumer did not get exactly the canary",
                format!("deleted {}, canary {}", deleted_ids.len(), canary_ids.len()),
            );
        }
        self.record(&format!("{WHAT}: canary deleted"), findings, Instant::now());
        self.kill_here(&format!("{WHAT}: canary deleted kill"), &mut t, "canary deleted").await?;
        self.moving_kills(WHAT, &mut t).await?;
        let polls = self.rng.gen_range(0..=2);
        let point = Point { rank: WATCHING, moved: 0, polls, plan: format!("WATCHING + {polls} s") };
        self.kill_round(&format!("{WHAT}: watching kill"), &mut t, point).await?;
        t.window_passed = true;
        for _ in 0..3 {
            self.advance((PASSING_WINDOW_S + 1) * SECOND_MS).await?;
            if !self.describe(&t.handle).await?.running() {
                break;
            }
        }
        self.ended(&t).await?;
        self.kill_here(&format!("{WHAT}: ended kill"), &mut t, "the end").await?;

        let begun = Instant::now();
        let mut findings = Findings::default();
        let v = self.describe(&t.handle).await?;
        if v.status != "COMPLETED" || v.moved != self.n_a || v.failed_again != 0 {
            findings.add("task did not complete with every kind-a message moved", v.short());
        }
        let deleted_at: HashSet<usize> = deleted.iter().map(|&(_, i)| i).collect();
        let kind = |i: usize| self.corpus.kind(i);
        let peeked = self.inventory([false, false]).await?;
        peeked.expect(
            |i| match (kind(i), deleted_at.contains(&i)) {
                ("b", _) => Some(DLQ),
                (_, false) => Some(SRC),
                (_, true) => None,
            },
            &mut findings,
        );
        for (i, found) in peeked.found.iter().enumerate() {
            let Some(&(q, ref id, redrives)) = found.first() else { continue };
            let expected = match q {
                DLQ => 0,
                _ => 1 + u64::from(self.first_canary.contains(&i)),
            };
            if redrives != expected {
                findings.add(
                    "wrong RedriveCount",
                    format!("{} {id} in {}: {redrives}, expected {expected}", self.corpus.body(i), NAMES[q]),
                );
            }
        }
        findings.merge(peeked.findings);
        let drained = self.inventory([true, false]).await?;
        drained.expect(
            |i| match (kind(i), deleted_at.contains(&i)) {
                ("b", _) => Some(DLQ),
                (_, false) => Some(SRC),
                (_, true) => None,
            },
            &mut findings,
        );
        findings.merge(drained.findings);
        let sqs = self.sqs()?;
        sqs.call("PurgeQueue", &json!({ "QueueUrl": self.urls[SRC] }))
            .await
            .map_err(|e| format!("PurgeQueue src: {e}"))?;
        let src = counts(&sqs, &self.urls[SRC]).await?;
        if src.total() != 0 {
            return Err(format!("src not empty after PurgeQueue: {}", show(src)));
        }
        println!(
            "{WHAT}: end: {}; src listed {} then drained {} (canary of {} deleted), dlq {}",
            v.short(),
            peeked.per_queue[SRC],
            drained.per_queue[SRC],
            deleted.len(),
            peeked.per_queue[DLQ]
        );
        self.record(&format!("{WHAT}: end"), findings, begun);
        Ok(())
    }

    /// Task 3: the consumer fails more than the halt rule allows after the move.
    async fn halt(&mut self) -> Result<(), String> {
        const WHAT: &str = "halt";
        let begun = Instant::now();
        let mut findings = Findings::default();
        let halt = json!({ "MaxCount": HALT_MAX_COUNT, "WindowSeconds": HALT_WINDOW_S });
        let mut t = self.start(WHAT, json!({ "Halt": halt }), &mut findings).await?;
        if t.to_move != self.n_b || t.at_start != [0, self.n_b] {
            findings.add(
                "task started on the wrong messages",
                format!("{} to move, src and dlq {:?}", t.to_move, t.at_start),
            );
        }
        self.record(&format!("{WHAT}: start"), findings, begun);
        self.moving_kills(WHAT, &mut t).await?;
        self.drive(&t, |v| v.rank() >= WATCHING).await?;

        // Fail messages one receive at a time, with kills after random numbers of them.
        let target = HALT_MAX_COUNT + 2;
        let kill_at: HashSet<u64> = (0..2).map(|_| self.rng.gen_range(1..=target)).collect();
        let mut killed_at = HashSet::new();
        let mut receives = 0;
        while t.failed_exact < target {
            self.fail_receive(1).await?;
            receives += 1;
            t.failed_exact = self.describe(&t.handle).await?.failed_again;
            if kill_at.contains(&t.failed_exact) && killed_at.insert(t.failed_exact) {
                let plan = format!("{} failed again", t.failed_exact);
                self.kill_here(&format!("{WHAT}: consumer kill"), &mut t, &plan).await?;
            }
            if receives > 4 * target + 10 {
                return Err(format!("{receives} receives that fail messages, {} came back", t.failed_exact));
            }
        }
        self.ended(&t).await?;
        self.kill_here(&format!("{WHAT}: ended kill"), &mut t, "the end").await?;

        let begun = Instant::now();
        let mut findings = Findings::default();
        let v = self.describe(&t.handle).await?;
        if v.status != "FAILED" || !v.failure.as_deref().is_some_and(|r| r.starts_with("Halted:")) {
            findings.add("task did not fail with the halt's reason", format!("{} ({:?})", v.short(), v.failure));
        }
        if v.moved != self.n_b {
            findings.add("task halted before it moved everything", v.short());
        }
        let peeked = self.inventory([false, false]).await?;
        let back: HashSet<&str> =
            peeked.found.iter().flatten().filter(|f| f.0 == DLQ && f.2 > 0).map(|f| f.1.as_str()).collect();
        let listed: HashSet<&str> = v.failed_ids.iter().map(String::as_str).collect();
        if back.len() as u64 != v.failed_again || back != listed {
            findings.add(
                "FailedAgain is not what came back to the DLQ",
                format!(
                    "{}: {} listed, {} redriven messages in the DLQ, {} in both",
                    v.short(),
                    listed.len(),
                    back.len(),
                    back.intersection(&listed).count()
                ),
            );
        }
        findings.merge(peeked.findings);
        let drained = self.inventory([true, true]).await?;
        drained.expect(|i| (self.corpus.kind(i) == "b").then_some(usize::MAX), &mut findings);
        findings.merge(drained.findings);
        println!(
            "{WHAT}: end: {}, {:?}; drained src {} + dlq {}",
            v.short(),
            v.failure,
            drained.per_queue[SRC],
            drained.per_queue[DLQ]
        );
        self.record(&format!("{WHAT}: end"), findings, begun);
        Ok(())
    }
}

/// What a listing or a drain of both queues found: per corpus index, each (queue, MessageId,
/// RedriveCount) it was seen with.
struct Inventory {
    corpus: Arc<Corpus>,
    found: Vec<Vec<(usize, String, u64)>>,
    per_queue: [u64; 2],
    /// Received by a drain (ApproximateReceiveCount, not RedriveCount) rather than peeked.
    received: bool,
    /// The receipt handles a drain got.
    handles: Vec<String>,
    findings: Findings,
}

impl Inventory {
    fn new(corpus: Arc<Corpus>) -> Inventory {
        let found = vec![Vec::new(); corpus.len()];
        Inventory {
            corpus,
            found,
            per_queue: [0; 2],
            received: false,
            handles: Vec::new(),
            findings: Findings::default(),
        }
    }

    /// Each message exactly once, in the queue `place` says (`None`: nowhere; `usize::MAX`:
    /// either).
    fn expect(&self, place: impl Fn(usize) -> Option<usize>, findings: &mut Findings) {
        for (i, found) in self.found.iter().enumerate() {
            let body = self.corpus.body(i);
            match (place(i), found.as_slice()) {
                (None, []) => {}
                (None, [(q, ..), ..]) => findings.add("deleted message back", format!("{body} in {}", NAMES[*q])),
                (Some(_), []) => findings.add("message missing", body),
                (Some(want), [(q, ..)]) if want == usize::MAX || want == *q => {}
                (Some(want), [(q, ..)]) => findings
                    .add("message in the wrong queue", format!("{body} in {}, expected {}", NAMES[*q], NAMES[want])),
                (Some(_), more) => findings.add(
                    "message duplicated",
                    format!("{body} {} times: {:?}", more.len(), more.iter().map(|f| NAMES[f.0]).collect::<Vec<_>>()),
                ),
            }
        }
    }
}

impl Drained for Inventory {
    fn message(&mut self, q: usize, m: &Value) {
        self.per_queue[q] += 1;
        if let Some(handle) = str_of(m, "ReceiptHandle") {
            self.handles.push(handle.to_string());
        }
        let Some((i, id)) = corpus_message(&self.corpus, q, m, &mut self.findings) else { return };
        let redrives = m.get("RedriveCount").and_then(Value::as_u64);
        if !self.received {
            if str_of(m, "State") != Some("Available") {
                self.findings.add(
                    "message not available",
                    format!("{} in {}: {:?}", self.corpus.body(i), NAMES[q], str_of(m, "State")),
                );
            }
            if redrives.is_none() {
                self.findings
                    .add("PeekMessages without RedriveCount", format!("{} in {}", self.corpus.body(i), NAMES[q]));
            }
        }
        self.found[i].push((q, id.to_string(), redrives.unwrap_or(0)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(status: &str, stage: &str) -> View {
        View {
            handle: "h".into(),
            status: status.into(),
            stage: stage.into(),
            moved: 0,
            to_move: 10,
            started: 1,
            skipped: 0,
            failed_again: 0,
            failed_ids: Vec::new(),
            canary_ids: Vec::new(),
            failure: None,
        }
    }

    #[test]
    fn stages_rank_in_the_order_a_task_goes_through_them() {
        let order = [
            view("RUNNING", "CANARY"),
            view("RUNNING", "CANARY_WATCH"),
            view("RUNNING", "MOVING"),
            view("RUNNING", "WATCHING"),
            view("FAILED", "CANARY_WATCH"),
        ];
        for pair in order.windows(2) {
            assert!(pair[0].rank() < pair[1].rank(), "{} before {}", pair[0].short(), pair[1].short());
        }
        assert_eq!(view("RUNNING", "CANARY").rank(), CANARY);
        assert_eq!(view("RUNNING", "WATCHING").rank(), WATCHING);
    }

    #[test]
    fn inventory_finds_missing_duplicated_misplaced_and_resurrected_messages() {
        let mut rng = StdRng::seed_from_u64(7);
        let corpus = Arc::new(Corpus::new(4, &mut rng));
        let mut inv = Inventory::new(corpus.clone());
        let listed = |i: usize, id: &str| {
            let c = corpus.content(i);
            json!({
                "MessageId": id, "Body": c.body, "MD5OfBody": c.md5_body(),
                "MD5OfMessageAttributes": c.md5_attrs(), "MessageAttributes": c.attrs_json(),
                "State": "Available", "RedriveCount": 1,
            })
        };
        inv.message(SRC, &listed(0, "x0"));
        inv.message(DLQ, &listed(1, "x1"));
        inv.message(SRC, &listed(1, "y1"));
        inv.message(DLQ, &listed(3, "x3"));
        assert!(inv.findings.is_empty(), "{}", inv.findings.report());
        let mut findings = Findings::default();
        inv.expect(|i| [Some(SRC), Some(DLQ), Some(SRC), Some(SRC)][i], &mut findings);
        let report = findings.report();
        for kind in ["message duplicated", "message missing", "message in the wrong queue"] {
            assert!(report.contains(kind), "{kind} not in\n{report}");
        }
        let mut findings = Findings::default();
        inv.expect(|i| [None, Some(usize::MAX), None, Some(usize::MAX)][i], &mut findings);
        let report = findings.report();
        assert!(report.contains("deleted message back") && report.contains("message duplicated"), "{report}");
        assert_eq!(inv.found[0], vec![(SRC, "x0".to_string(), 1)]);
    }
}

//! A message move task across failovers: the redrive scenario's shape (src/redrive.rs), smaller.
//!
//! At setup N messages are dead-lettered into `redrive-dlq` and a task moving them back to
//! `redrive-src` starts, capped at `RATE` messages per second. The nodes run a manual clock,
//! so the task moves `RATE` messages each time the leader's clock passes a second — at each of
//! the harness's clock moves, and at once when a new leader resumes it — and so runs across
//! several cycles' kills. After every cycle the counts and the task are read on a consistent
//! snapshot: src + dlq = N, nothing in flight, the same task (handle, to-move), its progress
//! exactly what left the DLQ. At the end the task must complete and a full drain give back
//! every message exactly once, in src, as it was sent, under a new MessageId.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use serde_json::json;

use crate::client::{str_of, Sqs};
use crate::model::Findings;
use crate::redrive::{self, list_tasks, Corpus, TaskStall, TaskView, DLQ, SRC};
use crate::verify::{counts, QueueCounts};

/// Messages moved per second of the leader's clock.
const RATE: u64 = 250;
/// Progress ListMessageMoveTasks may show before it is durable: the batch being committed,
/// and the next one prepared meanwhile.
const UNDURABLE_PROGRESS: u64 = 2 * RATE;

pub struct MoveTask {
    n: u64,
    corpus: Arc<Corpus>,
    urls: [String; 2],
    arns: [String; 2],
    original_ids: Vec<String>,
    handle: String,
    to_move: u64,
    /// Kills while the task was running, and how many of them the leader's.
    pub kills: u32,
    pub leader_kills: u32,
    /// Progress at the last check.
    pub moved: u64,
    /// Progress seen just before the last kill, if the task was polled then.
    seen_before_kill: Option<u64>,
    pub status: String,
}

impl MoveTask {
    /// Dead-letter N messages and start the task.
    pub async fn start(sqs: &Sqs, n: u64, rng: &mut StdRng) -> Result<MoveTask, String> {
        let corpus = Arc::new(Corpus::new(n, rng));
        let filled = redrive::fill_dlq(sqs, &corpus, "move task setup").await?;
        let input = json!({ "SourceArn": filled.arns[DLQ], "MaxNumberOfMessagesPerSecond": RATE });
        let answer =
            sqs.call("StartMessageMoveTask", &input).await.map_err(|e| format!("StartMessageMoveTask: {e}"))?;
        let handle = str_of(&answer, "TaskHandle")
            .ok_or_else(|| format!("StartMessageMoveTask answered no TaskHandle: {answer}"))?
            .to_string();
        let view = latest(sqs, &filled.arns[DLQ]).await?;
        if view.to_move != n {
            return Err(format!("the task's ApproximateNumberOfMessagesToMove is {}, expected {n}", view.to_move));
        }
        Ok(MoveTask {
            n,
            corpus,
            urls: filled.urls,
            arns: filled.arns,
            original_ids: filled.original_ids,
            handle,
            to_move: view.to_move,
            kills: 0,
            leader_kills: 0,
            moved: view.moved,
            seen_before_kill: None,
            status: view.status,
        })
    }

    pub fn running(&self) -> bool {
        self.status == "RUNNING"
    }

    /// Note the task's progress just before a kill.
    pub async fn before_kill(&mut self, sqs: &Sqs) -> Result<(), String> {
        self.seen_before_kill = Some(latest(sqs, &self.arns[DLQ]).await?.moved);
        Ok(())
    }

    /// A kill happened; counted if the task was running.
    pub fn killed(&mut self, leader: bool) {
        if self.running() {
            self.kills += 1;
            self.leader_kills += u32::from(leader);
        }
    }

    /// Check the counts and the task on a consistent snapshot; answers the report line.
    pub async fn check(&mut self, sqs: &Sqs, findings: &mut Findings) -> Result<String, String> {
        let (dlq, view, src, tries) = self.snapshot(sqs).await?;
        let before = self.moved;
        if dlq.not_visible + dlq.delayed + src.not_visible + src.delayed != 0 {
            findings.add(
                "move task: messages in flight or delayed",
                format!("dlq {}, src {}", redrive::show(dlq), redrive::show(src)),
            );
        }
        if dlq.total() + src.total() != self.n {
            findings.add(
                "move task: src + dlq is not N",
                format!("src {} + dlq {} = {}, sent {}", src.total(), dlq.total(), src.total() + dlq.total(), self.n),
            );
        }
        if !matches!(view.status.as_str(), "RUNNING" | "COMPLETED") {
            findings.add("move task not RUNNING or COMPLETED", format!("{view:?}"));
        }
        if view.running() && view.handle.as_deref() != Some(self.handle.as_str()) {
            findings.add("move task: not the same task", format!("listed {view:?}, started {}", self.handle));
        }
        if view.to_move != self.to_move {
            findings.add("move task: to-move changed", format!("{} at the start, now {}", self.to_move, view.to_move));
        }
        if self.to_move.checked_sub(dlq.total()) != Some(view.moved) {
            findings.add(
                "move task: progress is not what left the DLQ",
                format!("moved {}, but dlq holds {} of {} to move", view.moved, dlq.total(), self.to_move),
            );
        }
        if view.moved < before {
            findings
                .add("move task: progress went back", format!("moved {before} at the last check, {} now", view.moved));
        }
        // ListMessageMoveTasks may show a batch whose commit was under way at the kill.
        let seen = self.seen_before_kill.take();
        if let Some(seen) = seen.filter(|&seen| view.moved + UNDURABLE_PROGRESS < seen) {
            findings.add(
                "move task: progress went back over the kill",
                format!("moved {seen} just before the kill, {} after it (more than two batches lost)", view.moved),
            );
        }
        let listed = list_tasks(sqs, &self.arns[DLQ], 10).await?;
        if listed.len() != 1 {
            findings.add("move task: tasks appeared", format!("the DLQ lists {} tasks, 1 was started", listed.len()));
        }
        self.moved = view.moved;
        self.status = view.status.clone();
        let at_kill = match seen {
            Some(seen) if seen != before => format!(", {seen} just before the kill"),
            _ => String::new(),
        };
        Ok(format!(
            "move task {} {}/{} ({before} at the last check{at_kill}; dlq {} + src {} = {}; snapshot after {tries} tries)",
            view.status,
            view.moved,
            view.to_move,
            dlq.total(),
            src.total(),
            dlq.total() + src.total()
        ))
    }

    /// DLQ counts, task, src counts, DLQ counts again until both DLQ counts agree: no batch
    /// committed in between, so the values belong together.
    async fn snapshot(&self, sqs: &Sqs) -> Result<(QueueCounts, TaskView, QueueCounts, u32), String> {
        for tries in 1..=2000 {
            let a = counts(sqs, &self.urls[DLQ]).await?;
            let view = latest(sqs, &self.arns[DLQ]).await?;
            let s = counts(sqs, &self.urls[SRC]).await?;
            let b = counts(sqs, &self.urls[DLQ]).await?;
            if a == b {
                return Ok((a, view, s, tries));
            }
        }
        Err("move task: no consistent snapshot of the counts and the task in 2000 tries".into())
    }

    /// Move the leader's clock a second at a time (through `tick`) until the task completes,
    /// then drain both queues and compare with the corpus. Answers the report line.
    pub async fn finish<F, Fut>(&mut self, sqs: &Sqs, mut tick: F, findings: &mut Findings) -> Result<String, String>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let t = Instant::now();
        let mut view = latest(sqs, &self.arns[DLQ]).await?;
        let mut stall = TaskStall::new(&view);
        let mut ticks = 0;
        while view.running() {
            tick().await?;
            ticks += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
            view = latest(sqs, &self.arns[DLQ]).await?;
            stall.check(&view)?;
        }
        let completed_s = t.elapsed().as_secs_f64();
        if view.status != "COMPLETED" || view.moved != self.to_move || view.to_move != self.to_move {
            findings.add(
                "move task did not complete with moved = to move",
                format!("{} moved {} of {} ({:?})", view.status, view.moved, view.to_move, view.failure),
            );
        }
        self.moved = view.moved;
        self.status = view.status.clone();
        let drained =
            redrive::drain_corpus(sqs, &self.urls, &self.corpus, std::mem::take(&mut self.original_ids), SRC, findings)
                .await?;
        Ok(format!(
            "move task dlq→src {} {}/{} across {} kills ({} of the leader); {ticks} clock seconds to complete ({completed_s:.1} s); {drained}",
            view.status, view.moved, view.to_move, self.kills, self.leader_kills
        ))
    }
}

async fn latest(sqs: &Sqs, arn: &str) -> Result<TaskView, String> {
    list_tasks(sqs, arn, 1).await?.into_iter().next().ok_or_else(|| "ListMessageMoveTasks lists no task".to_string())
}

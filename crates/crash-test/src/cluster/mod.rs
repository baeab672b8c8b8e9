//! `--nodes N --postgres URL`: the crash test against several nodes on one PostgreSQL.
//!
//! The run makes its own database, starts N nodes on it (`--store`, `--lease-ttl`, a manual
//! clock each) and runs the single-node mode's load (src/load.rs) with every request sent to
//! the next live node in turn, so most are forwarded to the leader. Each cycle SIGKILLs one
//! node — the leader (found through `/ready`) in most cycles, a follower in some — with
//! requests in flight, keeps the load running until a surviving node serves again (the
//! failover time: kill → first request answered through another node, 10 s at most), stops
//! it, restarts the killed node (it comes back as a follower) and checks exactly what the
//! single-node mode checks (src/verify.rs): every acknowledged send present once as sent, no
//! acknowledged delete back, nothing from nowhere, counts that agree with a full drain, and,
//! once per run, receipt handles and 12-hour visibility deadlines that outlive the kill.
//! Beside the load, a FIFO queue is fed in order across the kills (fifo.rs), and a message
//! move task runs across them (moving.rs); both are checked at the end.
//!
//! Clock: each node has its own manual clock, which starts at the real time when the process
//! starts and moves only when the harness advances it; an advance (`/_redrive/clock/advance`)
//! sent to any node is forwarded to the leader, so it moves the leader's clock. The harness
//! keeps the highest clock any advance answered (`clock`): every deadline the load set is
//! within a minute of it. A new leader's clock is behind (its process started at the real
//! time and was never advanced), so after a takeover the verifier first brings it up to
//! `clock` — as one real clock would be — and only then checks that messages received for
//! 12 h before the kill are still hidden, and advances it past every deadline the load may
//! have set (by either clock) before it drains.

mod fifo;
mod moving;
mod nodes;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::task::JoinSet;

use crate::client::Sqs;
use crate::load::{self, lock, Shared, MAX_LOAD_VISIBILITY_S};
use crate::model::{Findings, Model};
use crate::verify::{self, Kept, DRAIN_VISIBILITY_S};
use crate::Outcome;

use fifo::Fifo;
use moving::MoveTask;
use nodes::{Database, Nodes};

/// Generous: CI machines have been seen ten times slower than a development machine.
const CYCLE_BUDGET: Duration = Duration::from_secs(180);
/// The promise: a dead node's queues are served by the others within 10 s.
const FAILOVER_LIMIT: Duration = Duration::from_secs(10);
/// After this long without a node serving again the cycle is aborted.
const FAILOVER_GIVE_UP: Duration = Duration::from_secs(40);
/// How long the load keeps running after the first request served again.
const LOAD_AFTER_FAILOVER: Duration = Duration::from_millis(300);

pub struct Options {
    pub postgres: String,
    pub nodes: usize,
    pub cycles: u32,
    pub workers: u32,
    pub queues: u32,
    pub backlog: usize,
    pub lease_ttl: f64,
    pub move_messages: u64,
    pub fifo_groups: usize,
}

/// Run the cycles, then the FIFO and move-task checks; each is one of the outcome's checks.
pub async fn run(bin: PathBuf, dir: &Path, seed: u64, keep: bool, opts: &Options) -> Outcome {
    let total = opts.cycles + 2;
    let name = format!("redrive_crash_{}_{:08x}", std::process::id(), seed as u32);
    let database = match Database::create(&opts.postgres, &name).await {
        Ok(db) => db,
        Err(e) => {
            println!("cluster setup: ABORTED: {e}");
            return Outcome { passed: 0, failed: total };
        }
    };
    println!("crash-test: database {name} on {}", nodes::shown(&opts.postgres));
    let outcome = match Cluster::new(bin, dir, seed, &database, opts) {
        Ok(mut cluster) => {
            let outcome = cluster.all().await;
            cluster.nodes.kill_all();
            outcome
        }
        Err(e) => {
            println!("cluster setup: ABORTED: {e}");
            Outcome { passed: 0, failed: total }
        }
    };
    if keep {
        println!("crash-test: database {name} kept");
    } else {
        database.drop_it().await;
    }
    outcome
}

struct Cluster<'a> {
    opts: &'a Options,
    nodes: Nodes,
    sqs: Sqs,
    rng: StdRng,
    model: Arc<Mutex<Model>>,
    urls: Vec<String>,
    fifo: Option<Arc<Fifo>>,
    moving: Option<MoveTask>,
    /// The highest clock (epoch ms) an advance answered: the load's deadlines end within a
    /// minute of it.
    clock: u64,
    /// A later deadline (epoch ms) some message may still be hidden until.
    extra_deadline: Option<u64>,
    /// The cycle whose leader kill keeps receipt handles (taken for 12 h) for after the failover.
    keep_cycle: u32,
    /// A cycle that kills a follower (others may too).
    follower_cycle: u32,
    /// The lease's epoch after the last cycle.
    epoch: u64,
    /// Lease moves no kill caused.
    spontaneous: u32,
    /// Failover times of leader kills and of follower kills.
    leader_failovers: Vec<Duration>,
    follower_failovers: Vec<Duration>,
}

impl<'a> Cluster<'a> {
    fn new(bin: PathBuf, dir: &Path, seed: u64, database: &Database, opts: &'a Options) -> Result<Self, String> {
        let mut rng = StdRng::seed_from_u64(seed);
        let nodes = Nodes::new(bin, dir, database.url.clone(), opts.nodes, opts.lease_ttl)?;
        let sqs = Sqs::over(nodes.endpoints.clone(), opts.workers as usize * 2 + 64)?;
        let cycles = opts.cycles.max(1);
        // Handles are kept across a leader's kill; a follower is killed in another cycle.
        let keep_cycle = rng.gen_range(1..=cycles);
        let follower_cycle = match cycles {
            1 => 0,
            _ => (keep_cycle + rng.gen_range(1..cycles) - 1) % cycles + 1,
        };
        Ok(Cluster {
            opts,
            nodes,
            sqs,
            keep_cycle,
            follower_cycle,
            rng,
            model: Arc::default(),
            urls: Vec::new(),
            fifo: None,
            moving: None,
            clock: 0,
            extra_deadline: None,
            epoch: 0,
            spontaneous: 0,
            leader_failovers: Vec::new(),
            follower_failovers: Vec::new(),
        })
    }

    async fn all(&mut self) -> Outcome {
        let opts = self.opts;
        let total = opts.cycles + 2;
        let begun = Instant::now();
        if let Err(e) = self.setup().await {
            println!("cluster setup: ABORTED: {e}\n{}", self.nodes.tails());
            return Outcome { passed: 0, failed: total };
        }
        let mut outcome = Outcome { passed: 0, failed: 0 };
        for k in 1..=total {
            let started = Instant::now();
            let what = match k {
                k if k <= opts.cycles => format!("cycle {k}/{}", opts.cycles),
                k if k == opts.cycles + 1 => "fifo".to_string(),
                _ => "move task".to_string(),
            };
            let phase = async {
                match k {
                    k if k <= opts.cycles => self.cycle(k).await,
                    k if k == opts.cycles + 1 => self.check_fifo().await,
                    _ => self.finish_move().await,
                }
            };
            let result = match tokio::time::timeout(CYCLE_BUDGET, phase).await {
                Ok(r) => r,
                Err(_) => Err(format!("exceeded its {} s budget", CYCLE_BUDGET.as_secs())),
            };
            let took = started.elapsed().as_secs_f64();
            match result {
                Ok(findings) if findings.is_empty() => {
                    outcome.passed += 1;
                    println!("{what}: PASS ({took:.1} s)");
                }
                Ok(findings) => {
                    outcome.failed += 1;
                    println!(
                        "{what}: FAIL, {} violations ({took:.1} s)\n{}\n  nodes: {}\n{}",
                        findings.total(),
                        findings.report().trim_end(),
                        self.nodes.roles().await,
                        self.nodes.tails()
                    );
                }
                Err(e) => {
                    let rest = total - k;
                    outcome.failed += 1 + rest;
                    println!("{what}: ABORTED: {e}\n  nodes: {}\n{}", self.nodes.roles().await, self.nodes.tails());
                    if rest > 0 {
                        println!("crash-test: {rest} remaining checks not run (counted as failed)");
                    }
                    break;
                }
            }
        }
        println!(
            "cluster: {} nodes, failover (kill → first request served through another node): leader kills {}; follower kills {}; {} lease moves without a kill; {:.1} s in all",
            opts.nodes,
            spread(&mut self.leader_failovers),
            spread(&mut self.follower_failovers),
            self.spontaneous,
            begun.elapsed().as_secs_f64()
        );
        outcome
    }

    async fn setup(&mut self) -> Result<(), String> {
        let started = Instant::now();
        for slot in 0..self.nodes.count() {
            self.nodes.start(slot).await?;
        }
        let roles = self.nodes.roles().await;
        let ready = started.elapsed();
        for q in 0..self.opts.queues {
            let url =
                self.sqs.create_queue(&format!("crash-test-{q}")).await.map_err(|e| format!("CreateQueue: {e}"))?;
            self.urls.push(url);
        }
        self.fifo = Some(Arc::new(Fifo::create(&self.sqs, self.opts.fifo_groups).await?));
        self.moving = Some(MoveTask::start(&self.sqs, self.opts.move_messages, &mut self.rng).await?);
        self.clock = self.advance(0).await?;
        self.epoch = self.nodes.leader().await.ok_or("no node leads after the setup")?.1;
        if self.epoch != 1 {
            self.moved_without_kill(format!("epoch {} after the setup", self.epoch));
        }
        println!(
            "cluster: {} nodes ready in {:.2} s ({roles}); {} queues, a FIFO queue, a move task of {} messages; setup {:.1} s",
            self.nodes.count(),
            ready.as_secs_f64(),
            self.urls.len(),
            self.opts.move_messages,
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// Advance the leader's clock (through any node); answers its new time.
    async fn advance(&mut self, ms: u64) -> Result<u64, String> {
        let now = self.sqs.advance_clock(ms).await.map_err(|e| format!("clock: {e}"))?;
        self.clock = self.clock.max(now);
        Ok(now)
    }

    async fn cycle(&mut self, k: u32) -> Result<Findings, String> {
        let deadline = Instant::now() + CYCLE_BUDGET;
        let mut findings = Findings::default();
        let fifo = self.fifo.clone().ok_or("no FIFO queue")?;

        // Load, through every node in turn.
        let shared = Arc::new(Shared::new(self.sqs.clone(), self.urls.clone(), self.model.clone()));
        let mut workers = JoinSet::new();
        for _ in 0..self.opts.workers {
            workers.spawn(load::worker(shared.clone(), StdRng::seed_from_u64(self.rng.gen())));
        }
        for g in 0..fifo.groups() {
            workers.spawn(fifo::sender(shared.clone(), fifo.clone(), g));
        }
        workers.spawn(fifo::consumer(shared.clone(), fifo.clone()));
        let load_for = Duration::from_millis(self.rng.gen_range(200..=1000));
        tokio::time::sleep(load_for).await;
        let kept = if k == self.keep_cycle { verify::keep_handles(&self.sqs, &self.urls).await } else { Vec::new() };

        // The victim: the leader in most cycles.
        let (leader, epoch) = self.nodes.leader().await.ok_or_else(|| "no node leads before the kill".to_string())?;
        if epoch != self.epoch {
            self.moved_without_kill(format!("epoch {} after the last cycle, {epoch} before this kill", self.epoch));
        }
        let kill_leader = k == self.keep_cycle || k != self.follower_cycle && self.rng.gen_bool(0.8);
        let victim = if kill_leader {
            leader
        } else {
            let followers: Vec<usize> = (0..self.nodes.count()).filter(|&s| s != leader).collect();
            followers[self.rng.gen_range(0..followers.len())]
        };
        // A clock second lets the move task move its next batch, so that the kill may land
        // in the middle of it.
        if self.moving.as_ref().is_some_and(MoveTask::running) {
            self.advance(1000).await?;
            tokio::time::sleep(Duration::from_millis(self.rng.gen_range(0..=100))).await;
            if let Some(m) = self.moving.as_mut() {
                m.before_kill(&self.sqs).await?;
            }
        }
        shared.killing.store(true, Ordering::SeqCst);
        let outstanding = shared.outstanding.load(Ordering::SeqCst);
        let killed_at = Instant::now();
        self.nodes.kill(victim);
        if let Some(m) = self.moving.as_mut() {
            m.killed(kill_leader);
        }

        // The load goes on until another node serves; then a little longer, and it stops.
        let failover = self.failover(killed_at).await;
        let probe_note = match failover {
            Some(t) => {
                tokio::time::sleep(LOAD_AFTER_FAILOVER).await;
                if kill_leader { &mut self.leader_failovers } else { &mut self.follower_failovers }.push(t);
                if t > FAILOVER_LIMIT {
                    findings.add(
                        "no node served within 10 s of the kill",
                        format!(
                            "killed {} ({}) at cycle {k}: first request served {:.2} s later; nodes: {}",
                            self.nodes.id(victim),
                            if kill_leader { "leader" } else { "follower" },
                            t.as_secs_f64(),
                            self.nodes.roles().await
                        ),
                    );
                }
                format!("served again through another node after {:.2} s", t.as_secs_f64())
            }
            None => {
                shared.stop.store(true, Ordering::SeqCst);
                workers.abort_all();
                return Err(format!(
                    "no node served a request within {} s of killing {} ({}); nodes: {}",
                    FAILOVER_GIVE_UP.as_secs(),
                    self.nodes.id(victim),
                    if kill_leader { format!("leader, epoch {epoch}") } else { "follower".into() },
                    self.nodes.roles().await
                ));
            }
        };
        shared.stop.store(true, Ordering::SeqCst);
        let joined =
            tokio::time::timeout(Duration::from_secs(15), async { while workers.join_next().await.is_some() {} }).await;
        if joined.is_err() {
            workers.abort_all();
            findings.add("workers did not stop", "workers still busy 15 s after the kill (requests not timing out?)");
        }
        findings.merge(std::mem::take(&mut *lock(&shared.findings)));
        println!(
            "cycle {k}/{}: load {:.2} s: {}; SIGKILL {} ({}, epoch {epoch}) with {outstanding} requests outstanding{}, {probe_note}: {}",
            self.opts.cycles,
            load_for.as_secs_f64(),
            shared.done(),
            self.nodes.id(victim),
            if kill_leader { "leader" } else { "follower" },
            if kept.is_empty() { String::new() } else { format!(" and {} receipt handles kept", kept.len()) },
            shared.unanswered(),
        );
        shared.report_errors(&mut findings);

        // The killed node comes back (as a follower).
        let restart = self.nodes.start(victim).await?;
        let (new_leader, new_epoch) = self.nodes.leader().await.ok_or("no node leads after the restart")?;
        let expected = if kill_leader { epoch + 1 } else { epoch };
        if kill_leader && new_epoch <= epoch {
            findings.add(
                "the lease did not move",
                format!("leader epoch {epoch} killed; now {} leads at epoch {new_epoch}", self.nodes.id(new_leader)),
            );
        } else if new_epoch != expected {
            self.moved_without_kill(format!("epoch {epoch} killed, {new_epoch} after the failover"));
        }
        self.verify(&kept, &mut findings, deadline).await?;
        let (after, after_epoch) = self.nodes.leader().await.ok_or("no node leads after the verification")?;
        if after_epoch != new_epoch {
            // The new leader's clock is behind: the drain cannot be trusted (nor the model after it).
            return Err(format!(
                "the lease moved during the verification, without a kill: {} led at epoch {new_epoch} before it, {} at epoch {after_epoch} after; the nodes' step-downs:\n    {}",
                self.nodes.id(new_leader),
                self.nodes.id(after),
                self.nodes.step_downs().join("\n    ")
            ));
        }
        self.epoch = after_epoch;
        println!(
            "  {} restarted in {:.2} s; {} leads (epoch {new_epoch})",
            self.nodes.id(victim),
            restart.as_secs_f64(),
            self.nodes.id(new_leader)
        );
        Ok(findings)
    }

    /// A lease move no kill caused (a leader whose renewals came late stepped down): harmless
    /// to the checks outside the verification, but said.
    fn moved_without_kill(&mut self, what: String) {
        self.spontaneous += 1;
        println!(
            "  NOTE: the lease moved without a kill ({what}); the nodes' step-downs:\n    {}",
            self.nodes.step_downs().join("\n    ")
        );
    }

    /// Time from the kill until a request is answered through a surviving node (each request
    /// waits for a leader at the node, up to its own limit); None after FAILOVER_GIVE_UP.
    async fn failover(&self, killed_at: Instant) -> Option<Duration> {
        let survivors: Vec<Sqs> = (0..self.nodes.count())
            .filter_map(|s| self.nodes.endpoint(s))
            .filter_map(|e| Sqs::new(e, 1).ok())
            .collect();
        let input = json!({ "QueueUrl": self.urls.first()?, "AttributeNames": ["ApproximateNumberOfMessages"] });
        for i in 0.. {
            if killed_at.elapsed() > FAILOVER_GIVE_UP || survivors.is_empty() {
                return None;
            }
            if survivors[i % survivors.len()].call("GetQueueAttributes", &input).await.is_ok() {
                return Some(killed_at.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// After the kill and the restart: bring the leader's clock up to the harness's, check the
    /// kept handles and the move task, let every visibility timeout run out, drain and compare.
    async fn verify(&mut self, kept: &[Kept], findings: &mut Findings, deadline: Instant) -> Result<(), String> {
        let clock = self.clock;
        let now0 = self.advance(0).await?;
        // A new leader's clock is behind the one the load ran on: bring it up to it first.
        let behind = clock.saturating_sub(now0);
        let now0 = if behind > 0 { self.advance(behind).await? } else { now0 };
        let mut bound = clock + (MAX_LOAD_VISIBILITY_S + 1) * 1000;
        if !kept.is_empty() {
            let (deleted, failed) =
                verify::check_kept(&self.sqs, &self.urls, kept, &self.model, deadline, findings).await?;
            println!(
                "  kept receipt handles: {} taken before the kill, {deleted} deleted after the failover",
                kept.len()
            );
            // The check drained every queue for 12 h from now0.
            bound = bound.max(now0 + (DRAIN_VISIBILITY_S + 1) * 1000);
            if failed > 0 {
                bound = bound.max(clock + (DRAIN_VISIBILITY_S + 1) * 1000);
            }
        }
        if let Some(extra) = self.extra_deadline.take() {
            bound = bound.max(extra + 1000);
        }
        let moving = match self.moving.as_mut() {
            Some(m) => m.check(&self.sqs, findings).await?,
            None => String::new(),
        };
        // Let every visibility timeout run out: no more (the clock would pile up past the
        // messages' 4-day retention over the cycles).
        let advance = bound.saturating_sub(now0);
        let now = self.advance(advance).await?;
        let settled =
            verify::settle(&self.sqs, &self.urls, &self.model, self.opts.backlog, &mut self.rng, deadline, findings)
                .await?;
        if settled.put.stuck > 0 {
            self.extra_deadline = Some(now + DRAIN_VISIBILITY_S * 1000);
        }
        println!(
            "  clock {}+{}; {}",
            if behind > 0 { format!("brought up {:.1} s, then ", behind as f64 / 1000.0) } else { String::new() },
            crate::hms(advance),
            settled.drained()
        );
        println!("  {}; {moving}", settled.put_back(&self.model));
        Ok(())
    }

    async fn check_fifo(&mut self) -> Result<Findings, String> {
        let mut findings = Findings::default();
        let fifo = self.fifo.clone().ok_or("no FIFO queue")?;
        let line = fifo::check(&self.sqs, &fifo, &mut findings).await?;
        println!("{line}");
        Ok(findings)
    }

    async fn finish_move(&mut self) -> Result<Findings, String> {
        let mut findings = Findings::default();
        let mut moving = self.moving.take().ok_or("no move task")?;
        let sqs = self.sqs.clone();
        let clock = Arc::new(Mutex::new(self.clock));
        let tick = || {
            let (sqs, clock) = (sqs.clone(), clock.clone());
            async move {
                let now = sqs.advance_clock(1000).await.map_err(|e| format!("clock: {e}"))?;
                let mut c = lock(&clock);
                *c = (*c).max(now);
                Ok(())
            }
        };
        let line = moving.finish(&sqs, tick, &mut findings).await?;
        self.clock = *lock(&clock);
        println!("{line}");
        Ok(findings)
    }
}

/// "median 2.41 s, worst 2.87 s of 6".
fn spread(times: &mut [Duration]) -> String {
    if times.is_empty() {
        return "none".into();
    }
    times.sort();
    format!(
        "median {:.2} s, worst {:.2} s of {}",
        times[times.len() / 2].as_secs_f64(),
        times[times.len() - 1].as_secs_f64(),
        times.len()
    )
}

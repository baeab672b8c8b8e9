//! `redrive-crash`: crash-consistency harness for the redrive server.
//!
//! Each cycle runs concurrent workers against the server (sends, batch sends, receives,
//! deletes, visibility changes), SIGKILLs it at a random moment with requests in flight,
//! restarts it on the same data dir and checks that the store kept its promises:
//! every acknowledged send is there exactly once with the same body, attributes and MD5s,
//! no acknowledged delete is back, nothing appears that was neither acknowledged nor in
//! flight at the kill, and the queue counts agree with a full drain. Once per run it also
//! checks that receipt handles and visibility deadlines survive a crash and that a second
//! server on the same data dir is refused.
//!
//! Clock: the server runs with `--manual-clock`; a restart starts its clock at the real
//! time. The verifier advances it at least 13 h (more if a deadline set under a clock that
//! was already ahead demands it) so every visibility timeout has run out. The next cycle's
//! load then runs on that same server process.
//!
//! Usage: `redrive-crash [--bin target/release/redrive] [--cycles 20] [--seed N]
//! [--workers 8] [--queues 3] [--backlog 3000] [--keep]`
//!
//! `redrive-crash --redrive-scenario [--redrive-messages N] [--redrive-kills 5] [--bin …]
//! [--seed N] [--keep]` runs the dead-letter redrive scenario instead of the load cycles
//! (src/redrive.rs): N messages dead-lettered into a DLQ, SIGKILLs during message move
//! tasks, exact counts after each restart, a full drain at the end. N defaults to 100,000
//! (about 30 s against a debug build on a development machine).
//!
//! `redrive-crash --safe-redrive-scenario [--safe-redrive-messages N] [--safe-redrive-kills K]
//! [--safe-redrive-canary C] [--bin …] [--seed N] [--keep]` runs the safe-redrive scenario
//! (src/safe_redrive.rs): tasks with a filter, a canary and a halt rule SIGKILLed in each of
//! their stages (K kills per group of stages), resumed in the stage they were in, exact counts
//! and a full listing or drain at each task's end. N defaults to 2,000, K to 4, C to 50.
//!
//! `redrive-crash --nodes 3 --postgres postgres://USER@HOST:PORT/DB [--cycles 8] [--lease-ttl 2]
//! [--move-messages 5000] [--fifo-groups 4] [--bin …] [--seed N] [--keep]` runs the cycles
//! against N nodes sharing one PostgreSQL (src/cluster/): a fresh database per run, requests
//! spread over the live nodes, the leader (sometimes a follower) SIGKILLed each cycle, the same
//! checks, plus FIFO order per group and a move task across the kills. `--postgres` defaults
//! to $REDRIVE_TEST_POSTGRES; its user must be allowed to create databases.

// The harness drives a real process in real time: it must sleep and read the wall clock.
#![allow(clippy::disallowed_methods)]

mod client;
mod cluster;
mod content;
mod load;
mod model;
mod redrive;
mod safe_redrive;
mod server;
mod verify;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinSet;

use crate::client::Sqs;
use crate::load::{lock, Shared, MAX_LOAD_VISIBILITY_S};
use crate::model::{Findings, Model};
use crate::server::Server;
use crate::verify::{Kept, DRAIN_VISIBILITY_S};

/// Generous: CI machines have been seen ten times slower than a development machine.
const CYCLE_BUDGET: Duration = Duration::from_secs(180);
const HOUR_MS: u64 = 3_600_000;
const VERIFY_ADVANCE_MS: u64 = 13 * HOUR_MS;

#[derive(Debug, Parser)]
#[command(
    name = "redrive-crash",
    version,
    about = "Crash-consistency harness: SIGKILL redrive under load, restart, verify"
)]
struct Cli {
    /// Server binary [default: target/release/redrive if it exists, else target/debug/redrive].
    #[arg(long, value_name = "PATH")]
    bin: Option<PathBuf>,
    /// Kill/restart/verify cycles.
    #[arg(long, default_value_t = 20)]
    cycles: u32,
    /// Seed for every random choice (printed; random if not given).
    #[arg(long)]
    seed: Option<u64>,
    /// Concurrent load workers.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    workers: u32,
    /// Queues under test.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    queues: u32,
    /// Backlog size (messages over all queues) above which verification deletes more.
    #[arg(long, default_value_t = 3000)]
    backlog: usize,
    /// Keep the run directory (data dir and server logs) instead of deleting it.
    #[arg(long)]
    keep: bool,
    /// Self-check of the harness: stop the load gracefully instead of killing the server and
    /// verify on the same process. Every cycle must pass against any correct server.
    #[arg(long)]
    no_kill: bool,
    /// Run the dead-letter redrive scenario instead of the load cycles: fill a DLQ, SIGKILL the
    /// server during message move tasks, check exact counts and bodies (see src/redrive.rs).
    #[arg(long, conflicts_with = "no_kill")]
    redrive_scenario: bool,
    /// Messages in the redrive scenario's DLQ.
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    redrive_messages: u64,
    /// SIGKILLs during the redrive scenario's moves.
    #[arg(long, value_name = "K", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    redrive_kills: u32,
    /// Run the safe-redrive scenario instead: tasks with a filter, a canary and a halt rule,
    /// SIGKILLed in each of their stages (see src/safe_redrive.rs).
    #[arg(long, conflicts_with_all = ["no_kill", "redrive_scenario"])]
    safe_redrive_scenario: bool,
    /// Messages in the safe-redrive scenario's DLQ (half of them taken by its filter).
    #[arg(long, value_name = "N", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(10..=100_000))]
    safe_redrive_messages: u64,
    /// SIGKILLs per group of stages (the canary's, moving) of each safe-redrive task.
    #[arg(long, value_name = "K", default_value_t = 4, value_parser = clap::value_parser!(u32).range(0..=100))]
    safe_redrive_kills: u32,
    /// Run the cycles against this many nodes on one PostgreSQL (see src/cluster/).
    #[arg(long, value_name = "N", requires = "postgres", conflicts_with_all = ["no_kill", "redrive_scenario", "safe_redrive_scenario"],
          value_parser = clap::value_parser!(u32).range(2..=9))]
    nodes: Option<u32>,
    /// The PostgreSQL the nodes share (a database is made on it for the run, and dropped).
    #[arg(long, value_name = "URL", env = "REDRIVE_TEST_POSTGRES", hide_env_values = true)]
    postgres: Option<String>,
    /// The nodes' --lease-ttl, in seconds: how soon a dead leader is replaced.
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
    lease_ttl: f64,
    /// Messages of the move task that runs across the kills (--nodes).
    #[arg(long, value_name = "N", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    move_messages: u64,
    /// FIFO message groups fed in order across the kills (--nodes).
    #[arg(long, value_name = "G", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    fifo_groups: u64,
    /// The safe-redrive tasks' canary size (FailedAgainMessageIds lists 100 at most).
    #[arg(long, value_name = "C", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100))]
    safe_redrive_canary: u32,
}

/// The run's temporary directory, removed on drop unless kept.
struct RunDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Ctrl-C or SIGTERM: returning drops the run, which kills the server and removes the dir.
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(bin) = cli.bin.clone().or_else(server::default_bin) else {
        eprintln!("crash-test: no server binary: build it (cargo build --release -p redrive) or pass --bin");
        return ExitCode::from(2);
    };
    let bin = match std::fs::canonicalize(&bin) {
        Ok(path) if path.is_file() => path,
        _ => {
            eprintln!("crash-test: {} is not a file", bin.display());
            return ExitCode::from(2);
        }
    };
    let seed = cli.seed.unwrap_or_else(|| rand::thread_rng().gen());
    let path = std::env::temp_dir().join(format!("redrive-crash-{}-{:08x}", std::process::id(), seed as u32));
    if let Err(e) = std::fs::create_dir_all(path.join("data")) {
        eprintln!("crash-test: cannot create {}: {e}", path.display());
        return ExitCode::from(2);
    }
    let dir = RunDir { path, keep: cli.keep };
    if let (Some(nodes), Some(postgres)) = (cli.nodes, cli.postgres.clone()) {
        println!(
            "crash-test: {nodes} nodes on PostgreSQL: server {}, {} cycles, {} workers, {} queues, lease ttl {} s, seed {seed}, dir {}",
            bin.display(),
            cli.cycles,
            cli.workers,
            cli.queues,
            cli.lease_ttl,
            dir.path.display()
        );
        let opts = cluster::Options {
            postgres,
            nodes: nodes as usize,
            cycles: cli.cycles,
            workers: cli.workers,
            queues: cli.queues,
            backlog: cli.backlog,
            lease_ttl: cli.lease_ttl,
            move_messages: cli.move_messages,
            fifo_groups: cli.fifo_groups as usize,
        };
        let outcome = tokio::select! {
            outcome = cluster::run(bin, &dir.path, seed, cli.keep, &opts) => outcome,
            _ = interrupted() => {
                eprintln!("crash-test: interrupted");
                return ExitCode::from(130);
            }
        };
        return report(&outcome, &dir);
    }
    if cli.safe_redrive_scenario {
        println!(
            "crash-test: safe-redrive scenario: server {}, {} messages, canary {}, {} kills per stage group, seed {seed}, dir {}",
            bin.display(),
            cli.safe_redrive_messages,
            cli.safe_redrive_canary,
            cli.safe_redrive_kills,
            dir.path.display()
        );
        let opts = safe_redrive::Options {
            messages: cli.safe_redrive_messages,
            kills: cli.safe_redrive_kills,
            canary: cli.safe_redrive_canary,
        };
        let outcome = tokio::select! {
            outcome = safe_redrive::run(bin, &dir.path, seed, &opts) => outcome,
            _ = interrupted() => {
                eprintln!("crash-test: interrupted");
                return ExitCode::from(130);
            }
        };
        return report(&outcome, &dir);
    }
    if cli.redrive_scenario {
        let messages = cli.redrive_messages;
        println!(
            "crash-test: redrive scenario: server {}, {messages} messages, {} kills, seed {seed}, dir {}",
            bin.display(),
            cli.redrive_kills,
            dir.path.display()
        );
        let opts = redrive::Options { messages, kills: cli.redrive_kills };
        let outcome = tokio::select! {
            outcome = redrive::run(bin, &dir.path, seed, &opts) => outcome,
            _ = interrupted() => {
                eprintln!("crash-test: interrupted");
                return ExitCode::from(130);
            }
        };
        return report(&outcome, &dir);
    }
    println!(
        "crash-test: server {}, {} cycles, {} workers, {} queues, seed {seed}, dir {}",
        bin.display(),
        cli.cycles,
        cli.workers,
        cli.queues,
        dir.path.display()
    );
    if cli.no_kill {
        println!("crash-test: --no-kill: harness self-check, the server is never killed");
    }
    let mut run = Run::new(&cli, bin, &dir.path, seed);
    let outcome = tokio::select! {
        outcome = run.all_cycles() => outcome,
        _ = interrupted() => {
            eprintln!("crash-test: interrupted");
            return ExitCode::from(130);
        }
    };
    drop(run); // kills the server before the directory goes
    report(&outcome, &dir)
}

fn report(outcome: &Outcome, dir: &RunDir) -> ExitCode {
    if dir.keep {
        println!("crash-test: run directory kept at {}", dir.path.display());
    }
    println!("crash-test: {} passed, {} failed", outcome.passed, outcome.failed);
    if outcome.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

struct Outcome {
    passed: u32,
    failed: u32,
}

struct Run<'a> {
    cli: &'a Cli,
    bin: PathBuf,
    data_dir: PathBuf,
    log: PathBuf,
    second_log: PathBuf,
    rng: StdRng,
    model: Arc<Mutex<Model>>,
    server: Option<Server>,
    sqs: Option<Sqs>,
    urls: Vec<String>,
    /// The server clock (epoch ms) while the current load runs; deadlines it sets end within a minute of it.
    load_clock: u64,
    /// A later deadline (epoch ms) some message may still be hidden until.
    extra_deadline: Option<u64>,
    /// The cycle whose kill keeps receipt handles for after the restart.
    keep_cycle: u32,
    /// The cycle that tries a second server on the same data dir.
    second_cycle: u32,
}

impl<'a> Run<'a> {
    fn new(cli: &'a Cli, bin: PathBuf, dir: &Path, seed: u64) -> Run<'a> {
        let mut rng = StdRng::seed_from_u64(seed);
        let cycles = cli.cycles.max(1);
        Run {
            cli,
            bin,
            data_dir: dir.join("data"),
            log: dir.join("server.log"),
            second_log: dir.join("second-server.log"),
            keep_cycle: rng.gen_range(1..=cycles),
            second_cycle: rng.gen_range(1..=cycles),
            rng,
            model: Arc::default(),
            server: None,
            sqs: None,
            urls: Vec::new(),
            load_clock: 0,
            extra_deadline: None,
        }
    }

    async fn all_cycles(&mut self) -> Outcome {
        let mut outcome = Outcome { passed: 0, failed: 0 };
        for k in 1..=self.cli.cycles {
            let started = Instant::now();
            let result = match tokio::time::timeout(CYCLE_BUDGET, self.cycle(k)).await {
                Ok(r) => r,
                Err(_) => Err(format!("cycle exceeded its {} s budget", CYCLE_BUDGET.as_secs())),
            };
            let took = started.elapsed().as_secs_f64();
            match result {
                Ok(findings) if findings.is_empty() => {
                    outcome.passed += 1;
                    println!("cycle {k}/{}: PASS ({took:.1} s)", self.cli.cycles);
                }
                Ok(findings) => {
                    outcome.failed += 1;
                    println!(
                        "cycle {k}/{}: FAIL, {} violations ({took:.1} s)\n{}",
                        self.cli.cycles,
                        findings.total(),
                        findings.report().trim_end()
                    );
                }
                Err(e) => {
                    // The model can no longer be trusted: stop, counting what was not run as failed.
                    let rest = self.cli.cycles - k;
                    outcome.failed += 1 + rest;
                    println!("cycle {k}/{}: ABORTED: {e}", self.cli.cycles);
                    if rest > 0 {
                        println!("crash-test: {rest} remaining cycles not run (counted as failed)");
                    }
                    break;
                }
            }
        }
        if let Some(server) = self.server.take() {
            server.kill();
        }
        outcome
    }

    /// Start the server on the data dir and (re)create the queues; answers the startup time.
    async fn start_server(&mut self) -> Result<Duration, String> {
        let started = Instant::now();
        let server = Server::start(&self.bin, &self.data_dir, &self.log).await?;
        let ready = started.elapsed();
        let sqs = Sqs::new(&server.endpoint, self.cli.workers as usize * 2)?;
        self.server = Some(server);
        let mut urls = Vec::new();
        for q in 0..self.cli.queues {
            let url = sqs.create_queue(&format!("crash-test-{q}")).await.map_err(|e| format!("CreateQueue: {e}"))?;
            urls.push(url);
        }
        self.urls = urls;
        self.sqs = Some(sqs);
        Ok(ready)
    }

    fn sqs(&self) -> Result<Sqs, String> {
        self.sqs.clone().ok_or_else(|| "no server".to_string())
    }

    async fn cycle(&mut self, k: u32) -> Result<Findings, String> {
        let deadline = Instant::now() + CYCLE_BUDGET;
        let mut findings = Findings::default();
        if self.server.is_none() {
            self.start_server().await?;
            self.load_clock = self.sqs()?.advance_clock(0).await.map_err(|e| format!("clock: {e}"))?;
        }
        if k == self.second_cycle && !self.cli.no_kill {
            self.second_server(&mut findings).await;
        }

        // Load, then SIGKILL while it runs.
        let sqs = self.sqs()?;
        let shared = Arc::new(Shared::new(sqs.clone(), self.urls.clone(), self.model.clone()));
        let mut workers = JoinSet::new();
        for _ in 0..self.cli.workers {
            workers.spawn(load::worker(shared.clone(), StdRng::seed_from_u64(self.rng.gen())));
        }
        let load_for = Duration::from_millis(self.rng.gen_range(200..=1500));
        tokio::time::sleep(load_for).await;
        let kept = if k == self.keep_cycle { verify::keep_handles(&sqs, &self.urls).await } else { Vec::new() };
        let outstanding = if self.cli.no_kill {
            shared.stop.store(true, Ordering::SeqCst);
            0
        } else {
            shared.killing.store(true, Ordering::SeqCst);
            let outstanding = shared.outstanding.load(Ordering::SeqCst);
            if let Some(server) = self.server.take() {
                server.kill();
            }
            shared.stop.store(true, Ordering::SeqCst);
            outstanding
        };
        let joined =
            tokio::time::timeout(Duration::from_secs(15), async { while workers.join_next().await.is_some() {} }).await;
        if joined.is_err() {
            workers.abort_all();
            findings.add("workers did not stop", "workers still busy 15 s after the kill (requests not timing out?)");
        }
        findings.merge(std::mem::take(&mut *lock(&shared.findings)));
        self.print_load(k, load_for, outstanding, &shared, &kept, &mut findings);

        // Restart on the same data dir.
        let ready = if self.cli.no_kill { Duration::ZERO } else { self.start_server().await? };
        let sqs = self.sqs()?;
        // The restarted clock; it moves only when told to.
        let now0 = sqs.advance_clock(0).await.map_err(|e| format!("clock: {e}"))?;
        let mut bound = self.load_clock + (MAX_LOAD_VISIBILITY_S + 1) * 1000;
        if !kept.is_empty() {
            let (deleted, failed) =
                verify::check_kept(&sqs, &self.urls, &kept, &self.model, deadline, &mut findings).await?;
            println!("  kept receipt handles: {} taken before the kill, {deleted} deleted after restart", kept.len());
            // The check drained every queue for 12 h from now0.
            bound = bound.max(now0 + (DRAIN_VISIBILITY_S + 1) * 1000);
            if failed > 0 {
                bound = bound.max(self.load_clock + (DRAIN_VISIBILITY_S + 1) * 1000);
            }
        }
        if let Some(extra) = self.extra_deadline.take() {
            bound = bound.max(extra + 1000);
        }

        // Let every visibility timeout run out.
        // Without restarts the clock would pile up 13 h per cycle past the 4-day retention.
        let minimum = if self.cli.no_kill { 0 } else { VERIFY_ADVANCE_MS };
        let advance = minimum.max(bound.saturating_sub(now0));
        let now = sqs.advance_clock(advance).await.map_err(|e| format!("clock: {e}"))?;

        // Drain and compare, then carry the backlog over.
        let settled =
            verify::settle(&sqs, &self.urls, &self.model, self.cli.backlog, &mut self.rng, deadline, &mut findings)
                .await?;
        if settled.put.stuck > 0 {
            self.extra_deadline = Some(now + DRAIN_VISIBILITY_S * 1000);
        }
        self.load_clock = now;
        println!("  restart {:.2} s, clock +{}; {}", ready.as_secs_f64(), hms(advance), settled.drained());
        println!("  {}", settled.put_back(&self.model));
        Ok(findings)
    }

    fn print_load(
        &self,
        k: u32,
        load_for: Duration,
        outstanding: usize,
        shared: &Shared,
        kept: &[Kept],
        findings: &mut Findings,
    ) {
        println!(
            "cycle {k}/{}: load {:.2} s: {}; {} with {outstanding} requests outstanding{}: {}",
            self.cli.cycles,
            load_for.as_secs_f64(),
            shared.done(),
            if self.cli.no_kill { "stopped" } else { "SIGKILL" },
            if kept.is_empty() { String::new() } else { format!(" and {} receipt handles kept", kept.len()) },
            shared.unanswered(),
        );
        shared.report_errors(findings);
    }

    async fn second_server(&self, findings: &mut Findings) {
        let _ = std::fs::remove_file(&self.second_log);
        match server::second_server_refused(&self.bin, &self.data_dir, &self.second_log).await {
            Ok(message) => println!("  second server on the same data dir refused: {message}"),
            Err(e) => findings.add("second server on the same data dir not refused", e),
        }
    }
}

pub(crate) fn hms(ms: u64) -> String {
    let s = ms / 1000;
    format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60)
}

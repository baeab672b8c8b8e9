//! redrive-bench: load generator for Redrive (or any SQS-compatible endpoint on loopback).
//!
//! One JSON line per run goes to stdout and is appended to `--out`
//! (default target/bench/results.jsonl); progress and errors go to stderr.
//! See `redrive-bench --help` and scripts/bench.

// A benchmark measures and paces real time, which the workspace otherwise reads only through engine::clock.
#![allow(clippy::disallowed_methods)]

mod client;
mod fake;
mod scenarios;
mod soak;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use crate::client::{ClientKind, Endpoint};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// SendMessage, one message per request.
    Send,
    /// SendMessageBatch, 10 messages per request.
    SendBatch,
    /// Producers send batches while consumers receive (10, wait 1 s) and delete in batches.
    Cycle,
    /// Many consumers long-poll one queue (WaitTimeSeconds=20); one producer sends timestamped
    /// messages; measures send→receive latency.
    LongPoll,
    /// Fill a DLQ with --count messages, then time StartMessageMoveTask until COMPLETED.
    Redrive,
    /// FIFO queue over --groups message groups: send batches, then receive and delete all.
    Fifo,
    /// The client's own maximum against an in-process fake endpoint, then the same run against
    /// the real endpoint, reported as a ratio to it.
    Ceiling,
    /// Store --count messages with SendMessageBatch and keep them (memory footprint).
    Fill,
    /// Store --count messages, then time Redrive's CountMessages with a body filter that
    /// matches none of them (every body read), five times.
    Count,
    /// Mixed load at --rate for --minutes against a server the bench starts itself (--server),
    /// SIGKILLed and restarted every --kill-every minutes; samples RSS, fds, disk and latency
    /// every --report-every seconds, then drains and checks every message (docs/soak.md).
    Soak,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Send => "send",
            Scenario::SendBatch => "send-batch",
            Scenario::Cycle => "cycle",
            Scenario::LongPoll => "long-poll",
            Scenario::Redrive => "redrive",
            Scenario::Fifo => "fifo",
            Scenario::Ceiling => "ceiling",
            Scenario::Fill => "fill",
            Scenario::Count => "count",
            Scenario::Soak => "soak",
        }
    }

    /// Runs that end by count rather than by time take --duration as a cap only.
    fn default_duration(self) -> f64 {
        match self {
            Scenario::Redrive | Scenario::Fill | Scenario::Count => 600.0,
            _ => 10.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RedriveFill {
    /// Send to the source, receive twice with VisibilityTimeout=0 so each message is handed off
    /// to the DLQ (maxReceiveCount=1); the move task then returns them to their source.
    Handoff,
    /// Send straight to the DLQ and start the task with DestinationArn = the source.
    Direct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CeilingOf {
    Send,
    SendBatch,
}

#[derive(Debug, Clone, Parser)]
#[command(name = "redrive-bench", version, about = "Load generator for Redrive or any SQS endpoint on loopback")]
pub struct Args {
    #[arg(long, value_enum)]
    pub scenario: Scenario,
    /// SQS endpoint; must resolve to a loopback address.
    #[arg(long, default_value = "http://127.0.0.1:9324")]
    pub endpoint: String,
    /// sdk: aws-sdk-sqs (signed, its own pool); raw: pre-built unsigned JSON 1.0 over keep-alive hyper connections.
    #[arg(long, value_enum, default_value_t = ClientKind::Sdk)]
    pub client: ClientKind,
    /// Concurrent workers (send, send-batch, ceiling, fill, fifo, redrive fill).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Producers (cycle; default concurrency/2).
    #[arg(long)]
    pub producers: Option<usize>,
    /// Consumers (cycle: default concurrency/2; long-poll: default 10000; fifo drain: default concurrency).
    #[arg(long)]
    pub consumers: Option<usize>,
    /// Cycle: producers wait while this many sent messages are not yet deleted, so the figure
    /// is the rate the whole pipeline sustains; without it, producers that outrun the
    /// consumers grow the backlog for the whole run.
    #[arg(long)]
    pub max_backlog: Option<u64>,
    /// Measured seconds (after --warmup); a time cap for redrive and fill (default 600).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Stop after this many messages instead of after --duration (no warm-up then).
    #[arg(long)]
    pub count: Option<u64>,
    /// Message body size in bytes.
    #[arg(long, default_value_t = 1024)]
    pub body_size: usize,
    /// Queue name prefix; each run creates fresh queues and deletes them after (unless --keep-queues).
    #[arg(long, default_value = "bench")]
    pub queue: String,
    /// Sample this process's RSS (/proc/PID/status VmRSS) and CPU during and after the run.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// FIFO message groups.
    #[arg(long, default_value_t = 10)]
    pub groups: u64,
    /// Seconds of unmeasured load before the measured window [default: 1; soak: a fifth of
    /// --minutes, at most 120].
    #[arg(long)]
    pub warmup: Option<f64>,
    /// long-poll: each consumer's first poll waits 1–20 s (consumer k: 1 + k mod 20), so the
    /// polls that expire empty and are made again spread evenly over every 20 s, as in a
    /// fleet that has been running; without it every consumer starts together and they all
    /// expire and poll again within the same second or two, every 20 s.
    #[arg(long)]
    pub spread_polls: bool,
    /// long-poll: producer messages per second (0 = back to back) [default: 100];
    /// soak: messages sent per second over all its queues [default: 2000].
    #[arg(long)]
    pub rate: Option<f64>,
    /// Threads of the bench's own runtime. Default: 1 for the raw client (on one thread its
    /// connections need no cross-thread wake-ups: about a quarter less CPU per call than on
    /// two), all cores for the SDK client (its signing and parsing need more than one).
    #[arg(long)]
    pub client_threads: Option<usize>,
    /// redrive: how the DLQ is filled.
    #[arg(long, value_enum, default_value_t = RedriveFill::Handoff)]
    pub redrive_fill: RedriveFill,
    /// ceiling: which operation is measured against the fake and then the real endpoint.
    #[arg(long, value_enum, default_value_t = CeilingOf::Send)]
    pub ceiling_of: CeilingOf,
    /// Label for the system under test, copied into the output (e.g. redrive, moto).
    #[arg(long, default_value = "redrive")]
    pub target: String,
    /// Label for the store mode, copied into the output (e.g. durable, in-memory).
    #[arg(long, default_value = "")]
    pub store: String,
    /// JSON lines are appended here.
    #[arg(long, default_value = "target/bench/results.jsonl")]
    pub out: PathBuf,
    /// Leave the queues behind.
    #[arg(long)]
    pub keep_queues: bool,
    /// soak: the redrive binary the soak starts, kills and restarts.
    #[arg(long)]
    pub server: Option<PathBuf>,
    /// soak: the server's data dir [default: a fresh one under target/bench, removed after a
    /// run that passes].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// soak: minutes of load, after which the load stops and every queue is drained and checked.
    #[arg(long, default_value_t = 30.0)]
    pub minutes: f64,
    /// soak: SIGKILL the server and restart it every this many minutes (0: never).
    #[arg(long, default_value_t = 5.0)]
    pub kill_every: f64,
    /// soak: seconds between samples.
    #[arg(long, default_value_t = 30.0)]
    pub report_every: f64,
    /// soak: the samples' JSON lines [default: --out with the extension .soak-samples.jsonl].
    #[arg(long)]
    pub samples: Option<PathBuf>,
}

impl Args {
    pub fn duration(&self) -> Duration {
        secs(self.duration.unwrap_or_else(|| self.scenario.default_duration()))
    }

    pub fn client_threads(&self) -> usize {
        self.client_threads.unwrap_or(match self.client {
            ClientKind::Raw => 1,
            ClientKind::Sdk => cores(),
        })
    }

    pub fn warmup(&self) -> Duration {
        secs(self.warmup.unwrap_or(match self.scenario {
            Scenario::Soak => (self.minutes * 60.0 / 5.0).min(120.0),
            _ => 1.0,
        }))
    }

    pub fn rate(&self) -> f64 {
        self.rate.unwrap_or(match self.scenario {
            Scenario::Soak => 2000.0,
            _ => 100.0,
        })
    }
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

pub fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::from_secs(86_400))
}

fn check(args: &Args) -> Result<(), String> {
    if args.concurrency == 0 || args.concurrency > 100_000 {
        return Err("--concurrency must be 1..=100000".into());
    }
    if args.body_size == 0 || args.body_size > 256 * 1024 {
        return Err("--body-size must be 1..=262144".into());
    }
    if args.client_threads.is_some_and(|t| t == 0 || t > 256) {
        return Err("--client-threads must be 1..=256".into());
    }
    if args.groups == 0 {
        return Err("--groups must be at least 1".into());
    }
    if args.count == Some(0) {
        return Err("--count must be at least 1".into());
    }
    if args.consumers.is_some_and(|c| c == 0 || c > 100_000) || args.producers.is_some_and(|p| p == 0 || p > 100_000) {
        return Err("--producers/--consumers must be 1..=100000".into());
    }
    if args.max_backlog.is_some_and(|m| m < 10) {
        return Err("--max-backlog must be at least 10 (one batch)".into());
    }
    if args.scenario == Scenario::Soak {
        if args.server.is_none() {
            return Err("soak: --server PATH (the redrive binary) is required".into());
        }
        let day = 24.0 * 60.0;
        if !(args.minutes > 0.0 && args.minutes <= day && (0.0..=day).contains(&args.kill_every)) {
            return Err("soak: --minutes must be in (0, 1440], --kill-every in [0, 1440]".into());
        }
        if !(args.report_every >= 1.0 && args.report_every <= 3600.0) {
            return Err("soak: --report-every must be 1..=3600 seconds".into());
        }
        if !(args.rate() >= 10.0 && args.rate() <= 100_000.0) {
            return Err("soak: --rate must be 10..=100000 messages per second".into());
        }
    }
    if !args.queue.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') || args.queue.len() > 30 {
        return Err("--queue: up to 30 of [A-Za-z0-9_-]".into());
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = check(&args) {
        eprintln!("redrive-bench: {e}");
        return ExitCode::from(2);
    }
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().worker_threads(args.client_threads()).enable_all().build() {
            Ok(r) => r,
            Err(e) => {
                eprintln!("redrive-bench: runtime: {e}");
                return ExitCode::from(1);
            }
        };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    if args.scenario == Scenario::Soak {
        return soak::main(args).await;
    }
    let endpoint = match Endpoint::resolve(&args.endpoint).await {
        Ok(e) => Arc::new(e),
        Err(e) => {
            eprintln!("redrive-bench: {e}");
            return ExitCode::from(2);
        }
    };
    // The whole run is bounded whatever happens inside it.
    let budget = args.warmup() + args.duration() * 4 + Duration::from_secs(120);
    let ctx = scenarios::Ctx::new(args, endpoint);
    match tokio::time::timeout(budget, scenarios::run(&ctx)).await {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("redrive-bench: {} failed: {e}", ctx.args.scenario.name());
            ExitCode::from(1)
        }
        Err(_) => {
            eprintln!("redrive-bench: {} did not finish within {}s", ctx.args.scenario.name(), budget.as_secs());
            ExitCode::from(3)
        }
    }
}

//! `store-bench`: replays the durable message store's access pattern (group-committed inserts,
//! receives and deletes of 1 KiB messages) against candidate embedded databases, to choose the
//! engine under the durable store. See docs/benchmarks.md, "Storage engine choice".
//!
//! Every (engine, layout, depth) cell is served by its own child process, so that its RSS is its
//! own; the cells of one depth are alive together and their measured runs are interleaved.

// A benchmark measures real (wall-clock) time and waits for real background work, so it reads
// `Instant::now` and sleeps directly instead of going through `engine::clock`.
#![allow(clippy::disallowed_methods)]

mod engines;
mod report;
mod sys;
mod workload;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use engines::{Engine, Layout, Tuning};
use workload::{encode_state, state_received, Cycle, Op};

/// Durable message store micro-benchmark: messages/s for each engine × group size × backlog depth.
#[derive(Parser, Debug)]
#[command(name = "store-bench", version)]
struct Args {
    /// Engines to compare.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "sqlite,fjall,redb,redb4")]
    engines: Vec<Engine>,

    /// Layouts to measure (split = state and body under separate keys).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "split,combined")]
    layouts: Vec<Layout>,

    /// Operations per transaction (group commit size).
    #[arg(long, value_delimiter = ',', default_value = "1,16,128")]
    groups: Vec<usize>,

    /// Backlog depths (messages already stored before measuring).
    #[arg(long, value_delimiter = ',', default_value = "1000,1000000")]
    depths: Vec<u64>,

    /// Depths at which the combined layout is also measured (it only decides the layout question).
    #[arg(long, value_delimiter = ',', default_value = "1000,1000000")]
    combined_depths: Vec<u64>,

    /// Measured runs per cell; the reported figure is their median. Many short interleaved runs
    /// resist bursts of load from elsewhere on the machine better than a few long ones.
    #[arg(long, default_value_t = 5)]
    runs: usize,

    /// Minimum seconds per measured run [default: 0.6 with --quick, else 2].
    #[arg(long)]
    secs: Option<f64>,

    /// Minimum transactions per measured run.
    #[arg(long, default_value_t = 8)]
    min_txns: usize,

    /// Quick mode: pre-fill in large (20,000-message) non-fsync'd transactions and measure 0.6 s
    /// per run. Without it the pre-fill uses 128-operation non-fsync'd transactions (the production
    /// commit shape, so the on-disk layout is realistic) and runs are longer.
    #[arg(long)]
    quick: bool,

    /// Number of queues the messages are spread over.
    #[arg(long, default_value_t = 16)]
    queues: u64,

    /// Page/block cache budget given to every engine, MiB.
    #[arg(long, default_value_t = 64)]
    cache_mib: u64,

    /// Scratch directory for the databases [default: a fresh directory under the system temp dir].
    #[arg(long)]
    dir: Option<PathBuf>,

    /// Keep the databases instead of deleting each one after its cell.
    #[arg(long)]
    keep: bool,

    /// Also write the raw results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,

    /// Internal: run one cell and print its result as JSON.
    #[arg(long, hide = true)]
    child: Option<String>,
}

/// One (engine, layout, depth) cell, served by a child process.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct CellSpec {
    engine: Engine,
    layout: Layout,
    depth: u64,
    prefill_batch: usize,
    queues: u64,
    tuning: Tuning,
    dir: PathBuf,
}

/// What the parent asks a cell's child process, one JSON line on its stdin.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Request {
    /// Run the cycle workload at this group size; answered with a [`RunResult`].
    Measure { group: usize, secs: f64, min_txns: usize },
    /// Close, measure disk, reopen cold and scan; answered with a [`Finish`], then the child exits.
    Finish,
}

/// The child's first line: the store is pre-filled and settled.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Ready {
    prefill_secs: f64,
    settle_secs: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunResult {
    ops: u64,
    txns: u64,
    /// Time spent in the durable commits.
    secs: f64,
    /// Time waiting afterwards for the background work the run caused (fjall only).
    settle_secs: f64,
    /// Messages/s over `secs + settle_secs` (one message = insert + receive + delete = 3 operations).
    msgs_per_sec: f64,
    /// Messages/s over `secs` alone.
    foreground_msgs_per_sec: f64,
    p50_commit_ms: f64,
    p99_commit_ms: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroupResult {
    group: usize,
    runs: Vec<RunResult>,
    /// Median over the runs of messages/s.
    median_msgs_per_sec: f64,
    median_foreground_msgs_per_sec: f64,
    median_p99_commit_ms: f64,
}

/// The child's last line.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Finish {
    /// Resident set size at the end of the measured runs.
    rss_bytes: u64,
    /// Peak resident set size of the cell's process (pre-fill included).
    peak_rss_bytes: u64,
    /// Allocated bytes of the database files after a clean close.
    disk_bytes: u64,
    /// Apparent (logical) size of the database files after a clean close.
    disk_apparent_bytes: u64,
    /// Open time of the closed database with its files evicted from the page cache.
    reopen_cold_secs: f64,
    /// Scan of every state record right after the cold reopen.
    scan_cold_secs: f64,
    /// The same scan again, now from the page cache.
    scan_warm_secs: f64,
    scanned: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CellResult {
    engine: Engine,
    layout: Layout,
    depth: u64,
    prefill_secs: f64,
    /// Wait for the engine's background work after the pre-fill (fjall's flushes and compactions).
    settle_secs: f64,
    groups: Vec<GroupResult>,
    #[serde(flatten)]
    finish: Finish,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(spec) = &args.child {
        let spec: CellSpec = serde_json::from_str(spec).context("bad --child spec")?;
        return serve_cell(&spec);
    }
    run_all(&args)
}

/// A running cell: its child process and the results gathered so far.
struct Worker {
    spec: CellSpec,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    ready: Ready,
    groups: Vec<GroupResult>,
}

impl Worker {
    /// Starts the child and waits until its store is pre-filled.
    fn spawn(exe: &Path, spec: CellSpec) -> Result<Worker> {
        let mut child = Command::new(exe)
            .arg("--child")
            .arg(serde_json::to_string(&spec)?)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take().context("child stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("child stdout")?);
        let mut worker = Worker {
            spec,
            child,
            stdin,
            stdout,
            ready: Ready { prefill_secs: 0.0, settle_secs: 0.0 },
            groups: Vec::new(),
        };
        worker.ready = worker.read()?;
        Ok(worker)
    }

    fn name(&self) -> String {
        format!("{} / {} / depth {}", self.spec.engine.name(), self.spec.layout.name(), self.spec.depth)
    }

    fn read<T: DeserializeOwned>(&mut self) -> Result<T> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            let status = self.child.wait()?;
            bail!("cell {} exited ({status}) without answering", self.name());
        }
        serde_json::from_str(&line).with_context(|| format!("bad answer from cell {}: {line}", self.name()))
    }

    fn call<T: DeserializeOwned>(&mut self, request: &Request) -> Result<T> {
        writeln!(self.stdin, "{}", serde_json::to_string(request)?)?;
        self.stdin.flush()?;
        self.read()
    }

    fn finish(mut self) -> Result<CellResult> {
        let finish: Finish = self.call(&Request::Finish)?;
        self.child.wait()?;
        Ok(CellResult {
            engine: self.spec.engine,
            layout: self.spec.layout,
            depth: self.spec.depth,
            prefill_secs: self.ready.prefill_secs,
            settle_secs: self.ready.settle_secs,
            groups: self.groups,
            finish,
        })
    }
}

fn run_all(args: &Args) -> Result<()> {
    if args.groups.is_empty() || args.depths.is_empty() || args.engines.is_empty() || args.runs == 0 {
        bail!("need at least one engine, group size, depth and run");
    }
    if let Some(&d) = args.depths.iter().find(|&&d| d < 10) {
        bail!("depth {d} is too small (minimum 10)");
    }
    let secs = args.secs.unwrap_or(if args.quick { 0.6 } else { 2.0 });
    let prefill_batch = if args.quick { 20_000 } else { 128 };
    let base = match &args.dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("redrive-store-bench-{}", std::process::id())),
    };
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    let machine = sys::Machine::probe(&base);
    eprintln!("machine: {}", machine.describe());
    let started = Instant::now();
    let log = |msg: String| eprintln!("[{:>6.1}s] {msg}", started.elapsed().as_secs_f64());

    let exe = std::env::current_exe()?;
    let mut results = Vec::new();
    for &depth in &args.depths {
        // All cells of one depth are alive at once and their runs are interleaved, so that load
        // from elsewhere on the machine hits every engine alike instead of whichever ran then.
        let mut workers = Vec::new();
        for &engine in &args.engines {
            for &layout in &args.layouts {
                if layout == Layout::Combined && !args.combined_depths.contains(&depth) {
                    continue;
                }
                let spec = CellSpec {
                    engine,
                    layout,
                    depth,
                    prefill_batch,
                    queues: args.queues,
                    tuning: Tuning { cache_bytes: args.cache_mib << 20 },
                    dir: base.join(format!("{}-{}-{depth}", engine.name(), layout.name())),
                };
                let worker = Worker::spawn(&exe, spec)?;
                log(format!(
                    "{}: pre-filled in {:.2} s (+ {:.2} s settle)",
                    worker.name(),
                    worker.ready.prefill_secs,
                    worker.ready.settle_secs
                ));
                workers.push(worker);
            }
        }
        for &group in &args.groups {
            let warm_up = Request::Measure { group, secs: secs / 4.0, min_txns: 2 };
            for worker in &mut workers {
                let _: RunResult = worker.call(&warm_up)?;
            }
            let measure = Request::Measure { group, secs, min_txns: args.min_txns };
            let mut runs: Vec<Vec<RunResult>> = vec![Vec::new(); workers.len()];
            for run in 0..args.runs {
                // Rotate who goes first, so no engine always follows the same neighbour.
                for k in 0..workers.len() {
                    let i = (k + run) % workers.len();
                    runs[i].push(workers[i].call(&measure)?);
                }
            }
            for (worker, runs) in workers.iter_mut().zip(runs) {
                let result = GroupResult {
                    group,
                    median_msgs_per_sec: median(runs.iter().map(|r| r.msgs_per_sec).collect()),
                    median_foreground_msgs_per_sec: median(runs.iter().map(|r| r.foreground_msgs_per_sec).collect()),
                    median_p99_commit_ms: median(runs.iter().map(|r| r.p99_commit_ms).collect()),
                    runs,
                };
                log(format!("{}: {}", worker.name(), report::group_summary(&result)));
                worker.groups.push(result);
            }
        }
        for worker in workers {
            let dir = worker.spec.dir.clone();
            let result = worker.finish()?;
            log(report::cell_summary(&result));
            if !args.keep {
                let _ = std::fs::remove_dir_all(&dir);
            }
            results.push(result);
        }
    }
    if !args.keep && args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&base);
    }
    let total = started.elapsed().as_secs_f64();
    let command = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let settings =
        report::Settings { secs, prefill_batch, cache_mib: args.cache_mib, queues: args.queues, runs: args.runs };
    print!("{}", report::markdown(&machine, &command, &settings, &args.groups, &results, total));
    if let Some(path) = &args.json {
        let doc = serde_json::json!({ "machine": machine, "settings": settings, "cells": results });
        std::fs::write(path, serde_json::to_vec_pretty(&doc)?)?;
    }
    Ok(())
}

/// The child side: pre-fill, then answer the parent's requests until `Finish`.
fn serve_cell(spec: &CellSpec) -> Result<()> {
    fn answer<T: Serialize>(value: &T) -> Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", serde_json::to_string(value)?)?;
        out.flush()?;
        Ok(())
    }

    if spec.dir.exists() {
        std::fs::remove_dir_all(&spec.dir)?;
    }
    let mut store = engines::open(spec.engine, spec.layout, &spec.dir, spec.tuning)?;
    let mut cycle = Cycle::new(spec.queues, spec.depth);

    // Pre-fill: large transactions without fsync, one sync at the end.
    let t = Instant::now();
    let mut batch: Vec<Op> = Vec::with_capacity(spec.prefill_batch);
    let mut n = 0;
    while n < spec.depth {
        batch.clear();
        while batch.len() < spec.prefill_batch && n < spec.depth {
            batch.push(cycle.prefill_op(n));
            n += 1;
        }
        store.apply(&batch, false)?;
    }
    store.sync()?;
    let prefill_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    store.settle()?;
    answer(&Ready { prefill_secs, settle_secs: t.elapsed().as_secs_f64() })?;

    for line in std::io::stdin().lock().lines() {
        match serde_json::from_str::<Request>(&line?)? {
            Request::Measure { group, secs, min_txns } => {
                answer(&measure(store.as_mut(), &mut cycle, group, secs, min_txns)?)?;
            }
            Request::Finish => {
                // A run may stop between the insert and the delete of a step: depth or depth + 1.
                let stored = cycle.depth();
                anyhow::ensure!(stored.abs_diff(spec.depth) <= 1, "backlog drifted to {stored}");
                let rss_bytes = sys::rss_bytes()?;
                drop(store);

                let (disk_bytes, disk_apparent_bytes) = sys::disk_usage(&spec.dir)?;
                sys::evict_from_page_cache(&spec.dir)?;
                let t = Instant::now();
                let mut store = engines::open(spec.engine, spec.layout, &spec.dir, spec.tuning)?;
                let reopen_cold_secs = t.elapsed().as_secs_f64();
                let t = Instant::now();
                let (scanned, _) = store.scan_states()?;
                let scan_cold_secs = t.elapsed().as_secs_f64();
                let t = Instant::now();
                let (again, _) = store.scan_states()?;
                let scan_warm_secs = t.elapsed().as_secs_f64();
                anyhow::ensure!(scanned == stored && again == stored, "scan found {scanned} of {stored} records");
                drop(store);
                return answer(&Finish {
                    rss_bytes,
                    // VmHWM is updated lazily; it can lag the VmRSS read above by a few pages.
                    peak_rss_bytes: sys::peak_rss_bytes()?.max(rss_bytes),
                    disk_bytes,
                    disk_apparent_bytes,
                    reopen_cold_secs,
                    scan_cold_secs,
                    scan_warm_secs,
                    scanned,
                });
            }
        }
    }
    bail!("parent went away")
}

/// Runs `group`-operation durable transactions of the cycle workload for at least `secs` seconds
/// and `min_txns` transactions, then waits for the background work they caused.
fn measure(
    store: &mut dyn engines::Store,
    cycle: &mut Cycle,
    group: usize,
    secs: f64,
    min_txns: usize,
) -> Result<RunResult> {
    let budget = Duration::from_secs_f64(secs);
    let mut ops_buf: Vec<Op> = Vec::with_capacity(group);
    let mut commit_ms = Vec::new();
    let start = Instant::now();
    loop {
        ops_buf.clear();
        ops_buf.extend((0..group).map(|_| cycle.next_op()));
        let t = Instant::now();
        store.apply(&ops_buf, true)?;
        commit_ms.push(t.elapsed().as_secs_f64() * 1e3);
        if commit_ms.len() >= min_txns && start.elapsed() >= budget {
            break;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let t = Instant::now();
    store.settle()?;
    let settle_secs = t.elapsed().as_secs_f64();
    let txns = commit_ms.len() as u64;
    let ops = txns * group as u64;
    commit_ms.sort_by(f64::total_cmp);
    Ok(RunResult {
        ops,
        txns,
        secs: elapsed,
        settle_secs,
        msgs_per_sec: ops as f64 / 3.0 / (elapsed + settle_secs),
        foreground_msgs_per_sec: ops as f64 / 3.0 / elapsed,
        p50_commit_ms: percentile(&commit_ms, 0.50),
        p99_commit_ms: percentile(&commit_ms, 0.99),
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Size of one encoded state record (for the report).
pub fn state_record_len() -> usize {
    let mut buf = Vec::new();
    match encode_state(&state_received(123_456, 1_000_000), &mut buf) {
        Ok(()) => buf.len(),
        Err(_) => 0,
    }
}

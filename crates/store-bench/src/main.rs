//! `store-bench`: replays the durable message store's access pattern (group-committed inserts,
//! receives and deletes of 1 KiB messages) against candidate embedded databases, to choose the
//! engine under the durable store. See docs/benchmarks.md, "Storage engine choice".
//!
//! Every (engine, layout, depth) cell runs in a fresh child process so that its peak RSS is its own.

// A benchmark measures real (wall-clock) time and waits for real background work, so it reads
// `Instant::now` and sleeps directly instead of going through `engine::clock`.
#![allow(clippy::disallowed_methods)]

mod engines;
mod report;
mod sys;
mod workload;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
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

    /// Measured runs per cell; the reported figure is their median.
    #[arg(long, default_value_t = 3)]
    runs: usize,

    /// Minimum seconds per measured run [default: 1 with --quick, else 3].
    #[arg(long)]
    secs: Option<f64>,

    /// Minimum transactions per measured run.
    #[arg(long, default_value_t = 8)]
    min_txns: usize,

    /// Quick mode: pre-fill in large (20,000-message) non-fsync'd transactions and measure 1 s per
    /// run. Without it the pre-fill uses 128-operation non-fsync'd transactions (the production
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

/// One (engine, layout, depth) cell, run in a child process.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct CellSpec {
    engine: Engine,
    layout: Layout,
    depth: u64,
    groups: Vec<usize>,
    runs: usize,
    secs: f64,
    min_txns: usize,
    prefill_batch: usize,
    queues: u64,
    tuning: Tuning,
    dir: PathBuf,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunResult {
    ops: u64,
    txns: u64,
    secs: f64,
    msgs_per_sec: f64,
    p50_commit_ms: f64,
    p99_commit_ms: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroupResult {
    group: usize,
    runs: Vec<RunResult>,
    /// Median over the runs of messages/s (one message = insert + receive + delete = 3 operations).
    median_msgs_per_sec: f64,
    median_p99_commit_ms: f64,
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

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(spec) = &args.child {
        let spec: CellSpec = serde_json::from_str(spec).context("bad --child spec")?;
        let result = run_cell(&spec)?;
        println!("{}", serde_json::to_string(&result)?);
        return Ok(());
    }
    run_all(&args)
}

fn run_all(args: &Args) -> Result<()> {
    if args.groups.is_empty() || args.depths.is_empty() || args.engines.is_empty() || args.runs == 0 {
        bail!("need at least one engine, group size, depth and run");
    }
    if let Some(&d) = args.depths.iter().find(|&&d| d < 10) {
        bail!("depth {d} is too small (minimum 10)");
    }
    let secs = args.secs.unwrap_or(if args.quick { 1.0 } else { 3.0 });
    let prefill_batch = if args.quick { 20_000 } else { 128 };
    let base = match &args.dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("redrive-store-bench-{}", std::process::id())),
    };
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    let machine = sys::Machine::probe(&base);
    eprintln!("machine: {}", machine.describe());
    let started = Instant::now();

    let exe = std::env::current_exe()?;
    let mut results = Vec::new();
    for &engine in &args.engines {
        for &layout in &args.layouts {
            for &depth in &args.depths {
                if layout == Layout::Combined && !args.combined_depths.contains(&depth) {
                    continue;
                }
                let spec = CellSpec {
                    engine,
                    layout,
                    depth,
                    groups: args.groups.clone(),
                    runs: args.runs,
                    secs,
                    min_txns: args.min_txns,
                    prefill_batch,
                    queues: args.queues,
                    tuning: Tuning { cache_bytes: args.cache_mib << 20 },
                    dir: base.join(format!("{}-{}-{depth}", engine.name(), layout.name())),
                };
                eprintln!(
                    "[{:>6.1}s] {} / {} / depth {depth}: pre-fill and measure…",
                    started.elapsed().as_secs_f64(),
                    engine.name(),
                    layout.name()
                );
                let output = Command::new(&exe).arg("--child").arg(serde_json::to_string(&spec)?).output()?;
                if !args.keep {
                    let _ = std::fs::remove_dir_all(&spec.dir);
                }
                if !output.status.success() {
                    bail!(
                        "cell {} / {} / {depth} failed ({}):\n{}",
                        engine.name(),
                        layout.name(),
                        output.status,
                        String::from_utf8_lossy(&output.stderr)
                    );
                }
                let result: CellResult = serde_json::from_slice(&output.stdout)?;
                eprintln!("{}", report::cell_summary(&result));
                results.push(result);
            }
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

fn run_cell(spec: &CellSpec) -> Result<CellResult> {
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
    let settle_secs = t.elapsed().as_secs_f64();

    let mut groups = Vec::new();
    for &group in &spec.groups {
        // Short warm-up at this group size, then the measured runs.
        measure(store.as_mut(), &mut cycle, group, spec.secs / 4.0, 2)?;
        let runs = (0..spec.runs)
            .map(|_| measure(store.as_mut(), &mut cycle, group, spec.secs, spec.min_txns))
            .collect::<Result<Vec<_>>>()?;
        let median_msgs_per_sec = median(runs.iter().map(|r| r.msgs_per_sec).collect());
        let median_p99_commit_ms = median(runs.iter().map(|r| r.p99_commit_ms).collect());
        groups.push(GroupResult { group, runs, median_msgs_per_sec, median_p99_commit_ms });
    }
    // A run may stop between the insert and the delete of a step: the backlog is depth or depth + 1.
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
    let peak_rss_bytes = sys::peak_rss_bytes()?;

    Ok(CellResult {
        engine: spec.engine,
        layout: spec.layout,
        depth: spec.depth,
        prefill_secs,
        settle_secs,
        groups,
        rss_bytes,
        peak_rss_bytes,
        disk_bytes,
        disk_apparent_bytes,
        reopen_cold_secs,
        scan_cold_secs,
        scan_warm_secs,
        scanned,
    })
}

/// Runs `group`-operation durable transactions of the cycle workload for at least `secs` seconds
/// and `min_txns` transactions.
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
    let txns = commit_ms.len() as u64;
    let ops = txns * group as u64;
    commit_ms.sort_by(f64::total_cmp);
    Ok(RunResult {
        ops,
        txns,
        secs: elapsed,
        msgs_per_sec: ops as f64 / 3.0 / elapsed,
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

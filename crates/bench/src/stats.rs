//! Measurement: latency histograms, the measured window, CPU and RSS sampling, and the
//! JSON line each run emits.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

/// Only the process's first error goes to stderr; every worker keeps its own first in the line.
static ERROR_PRINTED: AtomicBool = AtomicBool::new(false);

fn new_histogram() -> Histogram<u64> {
    // Microseconds, 3 significant figures; the range grows with what is recorded.
    let mut h = Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant figures is valid"));
    h.auto(true);
    h
}

/// What one worker (or a whole run, after merging) saw.
#[derive(Default)]
pub struct Stats {
    hists: BTreeMap<&'static str, Histogram<u64>>,
    /// Requests completed inside the measured window.
    pub ops: u64,
    /// Messages those requests carried (sent, or received and deleted, per scenario).
    pub messages: u64,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Stats {
    pub fn record(&mut self, op: &'static str, took: Duration) {
        self.record_latency(op, took);
        self.ops += 1;
    }

    /// A latency that is not a request of its own (e.g. send→receive).
    pub fn record_latency(&mut self, op: &'static str, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        let h = self.hists.entry(op).or_insert_with(new_histogram);
        // `record` grows the histogram; only a value beyond any range saturates.
        if h.record(micros).is_err() {
            h.saturating_record(micros);
        }
    }

    pub fn error(&mut self, op: &str, e: impl std::fmt::Display) {
        self.errors += 1;
        if self.first_error.is_none() {
            let mut text = format!("{op}: {e}");
            if text.len() > 400 {
                let mut cut = 400;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
            }
            if !ERROR_PRINTED.swap(true, Ordering::Relaxed) {
                eprintln!("redrive-bench: first error: {text}");
            }
            self.first_error = Some(text);
        }
    }

    pub fn merge(&mut self, other: Stats) {
        for (op, h) in other.hists {
            let mine = self.hists.entry(op).or_insert_with(new_histogram);
            let _ = mine.add(&h);
        }
        self.ops += other.ops;
        self.messages += other.messages;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    /// Adds `other` without consuming it.
    pub fn merge_ref(&mut self, other: &Stats) {
        for (op, h) in &other.hists {
            let mine = self.hists.entry(op).or_insert_with(new_histogram);
            let _ = mine.add(h);
        }
        self.ops += other.ops;
        self.messages += other.messages;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }

    /// `{op: {count, p50, p90, p99, max}}` in milliseconds.
    pub fn latency_json(&self) -> Value {
        let ms = |us: u64| us as f64 / 1000.0;
        let mut map = Map::new();
        for (op, h) in &self.hists {
            map.insert(
                op.to_string(),
                json!({
                    "count": h.len(),
                    "p50": ms(h.value_at_quantile(0.50)),
                    "p90": ms(h.value_at_quantile(0.90)),
                    "p99": ms(h.value_at_quantile(0.99)),
                    "max": ms(h.max()),
                }),
            );
        }
        Value::Object(map)
    }

    pub fn quantile_ms(&self, op: &str, q: f64) -> Option<f64> {
        self.hists.get(op).filter(|h| !h.is_empty()).map(|h| h.value_at_quantile(q) as f64 / 1000.0)
    }
}

/// The measured window: ops that start before `from` are warm-up; in duration mode only ops
/// that complete by `until` count; in count mode the run ends after `limit` claimed units
/// (or at `until`, the time cap).
pub struct Window {
    pub from: Instant,
    pub until: Instant,
    limit: Option<u64>,
    claimed: AtomicU64,
}

impl Window {
    pub fn new(warmup: Duration, duration: Duration, limit: Option<u64>) -> Arc<Window> {
        let now = Instant::now();
        let from = now + if limit.is_some() { Duration::ZERO } else { warmup };
        Arc::new(Window { from, until: from + duration, limit, claimed: AtomicU64::new(0) })
    }

    /// May a worker issue another operation worth `units` (messages)?
    pub fn claim(&self, units: u64) -> bool {
        if Instant::now() >= self.until {
            return false;
        }
        match self.limit {
            Some(limit) => self.claimed.fetch_add(units, Ordering::Relaxed) < limit,
            None => true,
        }
    }

    /// Does an operation that ran from `t0` to `t1` belong to the measurement?
    pub fn counts(&self, t0: Instant, t1: Instant) -> bool {
        t0 >= self.from && (self.limit.is_some() || t1 <= self.until)
    }

    /// The measured duration, given when the last worker finished.
    pub fn elapsed(&self, last_finish: Instant) -> Duration {
        if self.limit.is_some() {
            last_finish.saturating_duration_since(self.from)
        } else {
            self.until.saturating_duration_since(self.from)
        }
    }

    pub fn past_end(&self) -> bool {
        Instant::now() >= self.until
    }
}

/// Total user+system CPU of a process in seconds, from /proc/PID/stat.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields restart after its closing parenthesis.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ")" come state (field 3) …; utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let ticks = rustix::param::clock_ticks_per_second();
    Some((utime + stime) as f64 / ticks.max(1) as f64)
}

/// Resident set size of a process in MiB, from /proc/PID/status VmRSS.
pub fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Samples this process's CPU and (optionally) the server's RSS and CPU over a run.
pub struct Monitor {
    started: Instant,
    bench_cpu0: Option<f64>,
    server_pid: Option<u32>,
    server_cpu0: Option<f64>,
    max_rss_kib: Arc<AtomicU64>,
    sampler: Option<tokio::task::JoinHandle<()>>,
}

pub struct MonitorOut {
    pub wall_s: f64,
    pub bench_cpu_s: Option<f64>,
    pub server_cpu_s: Option<f64>,
    pub server_rss_mib_max: Option<f64>,
    pub server_rss_mib_after: Option<f64>,
}

const SAMPLE_EVERY: Duration = Duration::from_millis(250);
/// The sampler stops by itself after this many samples (about a day) if never stopped.
const MAX_SAMPLES: u64 = 4 * 60 * 60 * 24;

impl Monitor {
    pub fn start(server_pid: Option<u32>) -> Monitor {
        let max_rss_kib = Arc::new(AtomicU64::new(0));
        let sampler = server_pid.map(|pid| {
            let max = max_rss_kib.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(SAMPLE_EVERY);
                for _ in 0..MAX_SAMPLES {
                    tick.tick().await;
                    match rss_mib(pid) {
                        Some(mib) => {
                            max.fetch_max((mib * 1024.0) as u64, Ordering::Relaxed);
                        }
                        None => break,
                    }
                }
            })
        });
        Monitor {
            started: Instant::now(),
            bench_cpu0: cpu_seconds("self"),
            server_pid,
            server_cpu0: server_pid.and_then(|p| cpu_seconds(&p.to_string())),
            max_rss_kib,
            sampler,
        }
    }

    pub fn finish(self) -> MonitorOut {
        if let Some(s) = &self.sampler {
            s.abort();
        }
        let after = self.server_pid.and_then(rss_mib);
        let sampled = self.max_rss_kib.load(Ordering::Relaxed) as f64 / 1024.0;
        let server_cpu1 = self.server_pid.and_then(|p| cpu_seconds(&p.to_string()));
        MonitorOut {
            wall_s: self.started.elapsed().as_secs_f64(),
            bench_cpu_s: cpu_seconds("self").zip(self.bench_cpu0).map(|(b, a)| b - a),
            server_cpu_s: server_cpu1.zip(self.server_cpu0).map(|(b, a)| b - a),
            server_rss_mib_max: after.map(|a| a.max(sampled)),
            server_rss_mib_after: after,
        }
    }
}

pub fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// Fills a result line's measured fields.
pub fn measured(line: &mut Map<String, Value>, stats: &Stats, elapsed: Duration, mon: &MonitorOut, primary_op: &str) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    line.insert("duration_s".into(), round(secs, 3).into());
    line.insert("ops".into(), stats.ops.into());
    line.insert("ops_per_s".into(), round(stats.ops as f64 / secs, 1).into());
    line.insert("messages".into(), stats.messages.into());
    line.insert("messages_per_s".into(), round(stats.messages as f64 / secs, 1).into());
    line.insert("errors".into(), stats.errors.into());
    if let Some(e) = &stats.first_error {
        line.insert("first_error".into(), e.clone().into());
    }
    line.insert("primary_op".into(), primary_op.into());
    line.insert("p50_ms".into(), stats.quantile_ms(primary_op, 0.5).map(|v| round(v, 3)).into());
    line.insert("p99_ms".into(), stats.quantile_ms(primary_op, 0.99).map(|v| round(v, 3)).into());
    line.insert("latency_ms".into(), stats.latency_json());
    line.insert("bench_cpu_s".into(), mon.bench_cpu_s.map(|v| round(v, 2)).into());
    if let Some(c) = mon.bench_cpu_s {
        // CPU the load generator spent per 1,000 messages: how cheap the client is.
        if stats.messages > 0 {
            line.insert("bench_cpu_ms_per_kmsg".into(), round(c * 1e6 / stats.messages as f64, 2).into());
        }
    }
    if mon.server_rss_mib_after.is_some() {
        line.insert("server_rss_mib".into(), mon.server_rss_mib_max.map(|v| round(v, 1)).into());
        line.insert("server_rss_mib_after".into(), mon.server_rss_mib_after.map(|v| round(v, 1)).into());
        line.insert("server_cpu_s".into(), mon.server_cpu_s.map(|v| round(v, 2)).into());
    }
    line.insert("wall_s".into(), round(mon.wall_s, 3).into());
}

/// Prints the line on stdout and appends it to `out`.
pub fn emit(out: &Path, line: &Map<String, Value>) {
    let text = Value::Object(line.clone()).to_string();
    println!("{text}");
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::OpenOptions::new().create(true).append(true).open(out) {
        Ok(mut f) => {
            if let Err(e) = writeln!(f, "{text}") {
                eprintln!("redrive-bench: cannot append to {}: {e}", out.display());
            }
        }
        Err(e) => eprintln!("redrive-bench: cannot open {}: {e}", out.display()),
    }
}

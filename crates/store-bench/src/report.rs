//! Markdown rendering of the results.

use std::fmt::Write as _;

use serde::Serialize;

use crate::engines::{Engine, Layout};
use crate::sys::Machine;
use crate::workload::BODY_LEN;
use crate::{CellResult, GroupResult};

/// Run settings echoed into the report.
#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    pub secs: f64,
    pub prefill_batch: usize,
    pub cache_mib: u64,
    pub queues: u64,
    pub runs: usize,
}

/// `1234567.8` → `1,234,568`.
fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1 << 20) as f64)
}

fn secs(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

/// Progress line for one group size of one cell.
pub fn group_summary(g: &GroupResult) -> String {
    let runs = g.runs.iter().map(|r| thousands(r.msgs_per_sec)).collect::<Vec<_>>().join(" / ");
    format!(
        "G={}: median {} msg/s (runs {runs}; p99 commit {:.1} ms)",
        g.group,
        thousands(g.median_msgs_per_sec),
        g.median_p99_commit_ms
    )
}

/// Progress line for a finished cell.
pub fn cell_summary(c: &CellResult) -> String {
    let f = &c.finish;
    format!(
        "{} / {} / depth {}: reopen {} + scan {} cold, {} warm; {:.0} B/msg on disk; RSS {} (peak {})",
        c.engine.name(),
        c.layout.name(),
        c.depth,
        secs(f.reopen_cold_secs),
        secs(f.scan_cold_secs),
        secs(f.scan_warm_secs),
        f.disk_bytes as f64 / c.depth as f64,
        mib(f.rss_bytes),
        mib(f.peak_rss_bytes)
    )
}

fn find(results: &[CellResult], engine: Engine, layout: Layout, depth: u64) -> Option<&CellResult> {
    results.iter().find(|c| c.engine == engine && c.layout == layout && c.depth == depth)
}

fn unique<T: PartialEq + Copy>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut out = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// The full report.
pub fn markdown(
    machine: &Machine,
    command: &str,
    settings: &Settings,
    groups: &[usize],
    results: &[CellResult],
    total_secs: f64,
) -> String {
    let engines = unique(results.iter().map(|c| c.engine));
    let depths = unique(results.iter().map(|c| c.depth));
    let mut md = String::new();
    let _ = writeln!(md, "Machine: {}.\n", machine.describe());
    let _ =
        writeln!(md, "Command: `cargo run --release -p redrive-store-bench -- {command}` (total {total_secs:.0} s).\n");
    let _ = writeln!(
        md,
        "Engines: {}; SQLite library {}.\n",
        engines.iter().map(|e| e.version()).collect::<Vec<_>>().join(", "),
        crate::engines::sqlite_library_version()
    );
    let _ = writeln!(
        md,
        "Settings: {} queues; {BODY_LEN} B bodies; {} B state records (postcard); cache {} MiB per engine; \
         pre-fill in {}-message transactions without fsync; {} runs × ≥{} s per cell, median reported; \
         one message = insert + receive + delete (3 operations), so G operations per transaction = G/3 messages.\n",
        settings.queues,
        crate::state_record_len(),
        settings.cache_mib,
        settings.prefill_batch,
        settings.runs,
        settings.secs
    );

    let _ = writeln!(
        md,
        "#### Durable throughput, split layout (messages/s; p99 commit latency in brackets)\n\n\
         Each figure is the median of the runs; a run's time includes waiting, after its last commit, for the \
         background work it caused (fjall's memtable flushes and compactions; SQLite checkpoints and redb \
         work inside the commit).\n"
    );
    let _ = write!(md, "| engine | G |");
    for d in &depths {
        let _ = write!(md, " depth {} |", thousands(*d as f64));
    }
    let _ = write!(md, "\n|---|---:|");
    for _ in &depths {
        let _ = write!(md, "---:|");
    }
    md.push('\n');
    for &engine in &engines {
        for &group in groups {
            let _ = write!(md, "| {} | {group} |", engine.name());
            for &depth in &depths {
                match find(results, engine, Layout::Split, depth)
                    .and_then(|c| c.groups.iter().find(|g| g.group == group))
                {
                    Some(g) => {
                        let _ =
                            write!(md, " {} ({:.1} ms) |", thousands(g.median_msgs_per_sec), g.median_p99_commit_ms);
                    }
                    None => md.push_str(" – |"),
                }
            }
            md.push('\n');
        }
    }

    let background: Vec<&CellResult> = results
        .iter()
        .filter(|c| c.layout == Layout::Split && c.groups.iter().flat_map(|g| &g.runs).any(|r| r.settle_secs > 0.001))
        .collect();
    if !background.is_empty() {
        let _ = writeln!(
            md,
            "\n#### Foreground-only throughput of the engines with background work, split layout (messages/s)\n\n\
             The same runs counted without the wait for background work: an upper bound for a machine with \
             cores to spare for it.\n"
        );
        let _ =
            writeln!(md, "| engine | depth | G | with background work | foreground only |\n|---|---:|---:|---:|---:|");
        for c in &background {
            for g in &c.groups {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} |",
                    c.engine.name(),
                    thousands(c.depth as f64),
                    g.group,
                    thousands(g.median_msgs_per_sec),
                    thousands(g.median_foreground_msgs_per_sec)
                );
            }
        }
    }

    let combined: Vec<&CellResult> = results.iter().filter(|c| c.layout == Layout::Combined).collect();
    if !combined.is_empty() {
        let _ = writeln!(md, "\n#### Layout: state and body split vs one combined record (messages/s)\n");
        let _ = writeln!(
            md,
            "| engine | depth | G | split | combined | combined ÷ split |\n|---|---:|---:|---:|---:|---:|"
        );
        for c in &combined {
            let Some(split) = find(results, c.engine, Layout::Split, c.depth) else { continue };
            for g in &c.groups {
                let Some(s) = split.groups.iter().find(|s| s.group == g.group) else { continue };
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {:.2} |",
                    c.engine.name(),
                    thousands(c.depth as f64),
                    g.group,
                    thousands(s.median_msgs_per_sec),
                    thousands(g.median_msgs_per_sec),
                    g.median_msgs_per_sec / s.median_msgs_per_sec
                );
            }
        }
    }

    let _ = writeln!(md, "\n#### Recovery scan, disk and memory\n");
    let _ = writeln!(
        md,
        "Scan = open the closed store and decode every state record in key order (cold: the store's files \
         evicted from the page cache first; warm: the same scan repeated). Disk = allocated bytes of the \
         closed store ÷ stored messages. RSS = at the end of the measured runs; peak includes the pre-fill.\n"
    );
    let _ = writeln!(
        md,
        "| engine | layout | depth | pre-fill (+ settle) | reopen (cold) | scan (cold) | scan (warm) | disk B/msg | RSS | peak RSS |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for c in results {
        let f = &c.finish;
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} (+ {}) | {} | {} | {} | {:.0} | {} | {} |",
            c.engine.name(),
            c.layout.name(),
            thousands(c.depth as f64),
            secs(c.prefill_secs),
            secs(c.settle_secs),
            secs(f.reopen_cold_secs),
            secs(f.scan_cold_secs),
            secs(f.scan_warm_secs),
            f.disk_bytes as f64 / c.depth as f64,
            mib(f.rss_bytes),
            mib(f.peak_rss_bytes)
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn groups_digits() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1_234_567.8), "1,234,568");
    }
}

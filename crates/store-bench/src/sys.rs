//! Machine description, process memory and disk usage (Linux `/proc` and `/sys`).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;

/// What the figures were measured on.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu_model: String,
    pub memory: String,
    pub kernel: String,
    /// Block device, filesystem and mount options holding the scratch directory.
    pub disk: String,
    /// Median latency of a 4 KiB append + fdatasync on the scratch directory's disk, ms.
    pub fsync_ms: f64,
    /// `/proc/loadavg` when the run started (other work on the machine skews the figures).
    pub loadavg: String,
}

impl Machine {
    pub fn probe(dir: &Path) -> Machine {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or_else(|| "unknown".into(), |kb| format!("{:.1} GiB", kb as f64 / (1 << 20) as f64));
        let kernel =
            fs::read_to_string("/proc/sys/kernel/osrelease").map_or_else(|_| "unknown".into(), |s| s.trim().to_owned());
        Machine {
            nproc: std::thread::available_parallelism().map_or(1, usize::from),
            cpu_model,
            memory,
            kernel,
            disk: describe_disk(dir),
            fsync_ms: fsync_latency_ms(dir).unwrap_or(f64::NAN),
            loadavg: fs::read_to_string("/proc/loadavg").map_or_else(|_| "unknown".into(), |s| s.trim().to_owned()),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "{} cores, {}, {} RAM, kernel {}; disk: {}; fdatasync of a 4 KiB append: {:.2} ms (median of 200); \
             load average at start: {}",
            self.nproc, self.cpu_model, self.memory, self.kernel, self.disk, self.fsync_ms, self.loadavg
        )
    }
}

/// The mount (longest matching mount point) holding `dir`, its device and what `/sys` says about it.
fn describe_disk(dir: &Path) -> String {
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mounts = fs::read_to_string("/proc/mounts").unwrap_or_default();
    let Some((device, mount_point, fstype, options)) = mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4 && dir.starts_with(f[1])).then(|| (f[0], f[1], f[2], f[3]))
        })
        .max_by_key(|(_, mount_point, _, _)| mount_point.len())
    else {
        return "unknown".into();
    };
    let name = device.rsplit('/').next().unwrap_or(device);
    let block = Path::new("/sys/class/block").join(name);
    let size = fs::read_to_string(block.join("size"))
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or_else(String::new, |sectors| format!(", {} GiB", (sectors * 512) >> 30));
    let rotational = fs::read_to_string(block.join("queue/rotational"))
        .map_or_else(|_| String::new(), |r| format!(", rotational={}", r.trim()));
    let model = fs::read_to_string(block.join("device/model"))
        .ok()
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .map_or_else(String::new, |m| format!(", model {m}"));
    let virtio = if name.starts_with("vd") { ", virtio block device" } else { "" };
    format!("{device} ({fstype} on {mount_point}, {options}{size}{rotational}{model}{virtio})")
}

/// Median of 200 × (append 4 KiB, fdatasync) in `dir`: the floor of one durable commit.
fn fsync_latency_ms(dir: &Path) -> Result<f64> {
    let path = dir.join("fsync-probe");
    let mut file = File::create(&path)?;
    let block = [0x5au8; 4096];
    let mut samples = Vec::with_capacity(200);
    for _ in 0..200 {
        let t = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        samples.push(t.elapsed().as_secs_f64() * 1e3);
    }
    drop(file);
    fs::remove_file(&path)?;
    samples.sort_by(f64::total_cmp);
    Ok(samples[samples.len() / 2])
}

fn status_kib(field: &str) -> Result<u64> {
    let status = fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find_map(|l| l.strip_prefix(field)).with_context(|| format!("no {field} in status"))?;
    Ok(line.trim().trim_end_matches("kB").trim().parse()?)
}

/// Current resident set size.
pub fn rss_bytes() -> Result<u64> {
    Ok(status_kib("VmRSS:")? * 1024)
}

/// Peak resident set size of this process.
pub fn peak_rss_bytes() -> Result<u64> {
    Ok(status_kib("VmHWM:")? * 1024)
}

/// (allocated, apparent) bytes of all files under `dir`.
pub fn disk_usage(dir: &Path) -> Result<(u64, u64)> {
    let (mut allocated, mut apparent) = (0, 0);
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_dir() {
            let (a, b) = disk_usage(&entry.path())?;
            allocated += a;
            apparent += b;
        } else {
            allocated += meta.blocks() * 512;
            apparent += meta.len();
        }
    }
    Ok((allocated, apparent))
}

/// Writes back and drops the page-cache pages of every file under `dir` (and only those), so that
/// the next open and scan read from the disk as after a restart.
pub fn evict_from_page_cache(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.metadata()?.is_dir() {
            evict_from_page_cache(&path)?;
        } else {
            let file = OpenOptions::new().read(true).open(&path)?;
            file.sync_all()?;
            rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed)?;
        }
    }
    Ok(())
}

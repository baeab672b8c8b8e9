//! The soak's short mode: a minute of mixed load on a real server with one SIGKILL and
//! restart, then the drain and the check. The long run is for people (docs/soak.md); this
//! keeps the harness itself honest in CI.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// The server under test: $REDRIVE_BIN (scripts/test sets it), else this workspace's debug
/// build, else its release build.
fn server_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("REDRIVE_BIN") {
        return PathBuf::from(bin);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    ["debug", "release"].iter().map(|p| target.join(p).join("redrive")).find(|p| p.is_file()).unwrap_or_else(|| {
        panic!("no redrive binary under {}: run `cargo build -p redrive --bins` first", target.display())
    })
}

#[test]
fn a_minute_of_soak_with_one_kill_loses_nothing_and_duplicates_only_what_at_least_once_explains() {
    let dir = std::env::temp_dir().join(format!("redrive-soak-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("results.jsonl");
    let samples = dir.join("samples.jsonl");
    let run = Command::new(env!("CARGO_BIN_EXE_redrive-bench"))
        .args(["--scenario", "soak", "--server"])
        .arg(server_bin())
        .args(["--minutes", "1", "--kill-every", "0.5", "--report-every", "10", "--warmup", "10", "--rate", "200"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--out")
        .arg(&out)
        .arg("--samples")
        .arg(&samples)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    let stdout = String::from_utf8_lossy(&run.stdout);
    let summary: Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["kind"] == "summary")
        .unwrap_or_else(|| panic!("no summary line; status {}; stderr:\n{stderr}", run.status));

    assert_eq!(summary["restarts"], 1, "{summary}");
    assert!(summary["messages_acknowledged"].as_u64().unwrap() >= 5_000, "{summary}");
    assert_eq!(summary["lost"], 0, "{summary}");
    assert_eq!(summary["duplicates_unexplained"], 0, "{summary}");
    assert_eq!(summary["criteria"]["lost"]["verdict"], "PASS", "the drain finished: {summary}");
    // One in five of the source queue's messages is left for its DLQ on purpose, and comes
    // back by a move task: seen twice, explained.
    assert!(summary["duplicates_explained"]["left_undeleted_on_purpose"].as_u64().unwrap() > 0, "{summary}");
    assert!(summary["move_tasks"]["completed"].as_u64().unwrap() >= 1, "{summary}");
    assert!(summary["scratch_cycles"].as_u64().unwrap() >= 1, "{summary}");
    assert_eq!(summary["restart_costs"].as_array().unwrap().len(), 1, "{summary}");

    let lines: Vec<Value> =
        std::fs::read_to_string(&samples).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.len() >= 5, "one sample every 10 s for a minute: {lines:?}");
    for s in &lines {
        assert!(s["rss_mib"].as_f64().unwrap() > 1.0, "{s}");
        assert!(s["fds"].as_u64().unwrap() > 3, "{s}");
        assert!(s["disk_bytes"].as_u64().unwrap() > 0, "{s}");
        assert!(s["latency_ms"]["all"]["p99"].as_f64().unwrap() > 0.0, "{s}");
    }
    assert!(lines.iter().any(|s| s["restarts"] == 1), "a sample after the restart: {lines:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

//! `GET /metrics` in the Prometheus text exposition format (version 0.0.4).
//!
//! Queue and move-task series are read from the engine at scrape time. Request series
//! are recorded by the HTTP wrapper on every SQS call into fixed per-action slots of
//! atomics: no lock on the success path, and an error code takes a per-action read lock
//! (a write lock only the first time that action answers with that code).
//!
//! Written by hand rather than with `prometheus-client`, whose histogram takes a lock on
//! every observation; the format is small: `# HELP`, `# TYPE`, then one line per sample,
//! every family's samples together, label values escaped (`\\`, `\"`, `\n`).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::Duration;

use bytes::Bytes;
use engine::Engine;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::Response;
use protocol::Action;

/// The Content-Type of the text exposition format.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the latency histogram, in seconds, as written in `le`. 20 s is the
/// longest long poll; one that waits it out ends a hair later and lands in 25.
const BUCKETS: [(&str, u64); 16] = [
    ("0.0005", 500_000),
    ("0.001", 1_000_000),
    ("0.0025", 2_500_000),
    ("0.005", 5_000_000),
    ("0.01", 10_000_000),
    ("0.025", 25_000_000),
    ("0.05", 50_000_000),
    ("0.1", 100_000_000),
    ("0.25", 250_000_000),
    ("0.5", 500_000_000),
    ("1", 1_000_000_000),
    ("2.5", 2_500_000_000),
    ("5", 5_000_000_000),
    ("10", 10_000_000_000),
    ("20", 20_000_000_000),
    ("25", 25_000_000_000),
];

/// The `action` label of a request whose action could not be told (no or unknown action,
/// body too large).
pub const UNKNOWN_ACTION: &str = "Unknown";

/// The `code` label of a request that succeeded.
const OK: &str = "OK";

/// Counters of one action. Aligned so two actions never share a cache line.
#[repr(align(128))]
#[derive(Default)]
struct ActionStats {
    ok: AtomicU64,
    /// Error responses by AWS query error code; few codes per action.
    errors: RwLock<Vec<(Box<str>, AtomicU64)>>,
    /// Observations per bucket (not cumulative); the last slot is above every bound.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

/// Request counters and latency histograms of every action since the server started.
pub struct Metrics {
    /// One slot per `Action::ALL` entry, then one for requests without an action.
    actions: Box<[ActionStats]>,
    /// What the start-up check of stored bodies found, once it has run (SQLite store only).
    pub body_check: std::sync::OnceLock<store::BodyCheck>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Measures a request's latency by the monotonic wall clock.
pub struct Timer(std::time::Instant);

impl Timer {
    pub fn start() -> Timer {
        // Latency is real elapsed time even when the engine runs on the manual test clock
        // (which would make every latency 0), and must not jump with the system clock.
        #[allow(clippy::disallowed_methods)]
        let now = std::time::Instant::now();
        Timer(now)
    }

    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics {
            actions: (0..=Action::ALL.len()).map(|_| ActionStats::default()).collect(),
            body_check: std::sync::OnceLock::new(),
        }
    }

    fn slot(action: Option<Action>) -> usize {
        // A fieldless enum's discriminant is its position in `Action::ALL` (tested below).
        action.map_or(Action::ALL.len(), |a| a as usize)
    }

    /// Count one SQS request: its action, its error code (None when it succeeded) and
    /// how long it took.
    pub fn record(&self, action: Option<Action>, error_code: Option<&str>, elapsed: Duration) {
        let stats = &self.actions[Metrics::slot(action)];
        match error_code {
            None => {
                stats.ok.fetch_add(1, Ordering::Relaxed);
            }
            Some(code) => stats.count_error(code),
        }
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let bucket = BUCKETS.partition_point(|&(_, bound)| bound < nanos);
        stats.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        stats.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The whole exposition: queues, move tasks, then requests.
    pub fn render(&self, engine: &Engine) -> String {
        let mut out = String::with_capacity(16 * 1024);
        render_queues(&mut out, engine);
        render_tasks(&mut out, engine);
        self.render_body_check(&mut out);
        self.render_requests(&mut out);
        out
    }

    /// The start-up body check's counts; absent until it has finished.
    fn render_body_check(&self, out: &mut String) {
        let Some(check) = self.body_check.get() else { return };
        for (name, help, value) in [
            ("redrive_store_bodies_checked", "Stored messages whose body the start-up check read.", check.checked),
            ("redrive_store_bodies_damaged", "Stored bodies the start-up check found damaged.", check.damaged),
            ("redrive_store_bodies_missing", "Stored messages the start-up check found without a body.", check.missing),
        ] {
            header(out, name, "gauge", help);
            sample(out, name, &[], value);
        }
    }

    fn named(&self) -> impl Iterator<Item = (&'static str, &ActionStats)> {
        Action::ALL.iter().map(|a| a.name()).chain([UNKNOWN_ACTION]).zip(self.actions.iter())
    }

    fn render_requests(&self, out: &mut String) {
        header(
            out,
            "redrive_requests_total",
            "counter",
            "SQS requests answered, by action and AWS error code (OK when it succeeded).",
        );
        for (action, stats) in self.named() {
            let ok = stats.ok.load(Ordering::Relaxed);
            let errors = stats.errors.read().unwrap_or_else(|e| e.into_inner());
            if ok == 0 && errors.is_empty() {
                continue;
            }
            sample(out, "redrive_requests_total", &[("action", action), ("code", OK)], ok);
            for (code, n) in errors.iter() {
                sample(out, "redrive_requests_total", &[("action", action), ("code", code)], n.load(Ordering::Relaxed));
            }
        }
        header(out, "redrive_request_duration_seconds", "histogram", "Time to answer an SQS request, by action.");
        for (action, stats) in self.named() {
            let counts: Vec<u64> = stats.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
            let count: u64 = counts.iter().sum();
            if count == 0 {
                continue;
            }
            let mut cumulative = 0;
            for (i, n) in counts.iter().enumerate() {
                cumulative += n;
                let le = BUCKETS.get(i).map_or("+Inf", |&(le, _)| le);
                sample(out, "redrive_request_duration_seconds_bucket", &[("action", action), ("le", le)], cumulative);
            }
            let sum = stats.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            sample(out, "redrive_request_duration_seconds_sum", &[("action", action)], sum);
            // From the same snapshot as the buckets, so _count always equals le="+Inf".
            sample(out, "redrive_request_duration_seconds_count", &[("action", action)], count);
        }
    }
}

impl ActionStats {
    fn count_error(&self, code: &str) {
        {
            let errors = self.errors.read().unwrap_or_else(|e| e.into_inner());
            if let Some((_, n)) = errors.iter().find(|(c, _)| &**c == code) {
                n.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let mut errors = self.errors.write().unwrap_or_else(|e| e.into_inner());
        match errors.iter().find(|(c, _)| &**c == code) {
            Some((_, n)) => {
                n.fetch_add(1, Ordering::Relaxed);
            }
            None => errors.push((code.into(), AtomicU64::new(1))),
        }
    }
}

fn render_queues(out: &mut String, engine: &Engine) {
    let mut queues = engine.metrics();
    queues.sort_by(|a, b| a.id.cmp(&b.id));
    let labels = |q: &engine::QueueMetrics| {
        [("queue", q.id.name.clone()), ("dead_letter_queue", q.is_dead_letter_queue.to_string())]
    };
    type Get = fn(&engine::QueueMetrics) -> f64;
    let families: [(&str, &str, &str, Get); 9] = [
        ("redrive_queue_messages_visible", "gauge", "Messages available for retrieval.", |q| q.counts.visible as f64),
        ("redrive_queue_messages_in_flight", "gauge", "Messages received and not yet deleted or visible again.", |q| {
            q.counts.in_flight as f64
        }),
        ("redrive_queue_messages_delayed", "gauge", "Messages not yet visible because of a delay.", |q| {
            q.counts.delayed as f64
        }),
        (
            "redrive_queue_oldest_message_age_seconds",
            "gauge",
            "Age of the oldest message in the queue by its enqueue time (0 when the queue is empty).",
            |q| q.oldest_age_ms.unwrap_or(0) as f64 / 1000.0,
        ),
        ("redrive_queue_messages_sent_total", "counter", "Messages sent to the queue.", |q| q.stats.sent as f64),
        ("redrive_queue_messages_received_total", "counter", "Messages handed to receivers.", |q| {
            q.stats.received as f64
        }),
        ("redrive_queue_messages_deleted_total", "counter", "Messages deleted by receipt handle.", |q| {
            q.stats.deleted as f64
        }),
        (
            "redrive_queue_messages_dead_lettered_total",
            "counter",
            "Messages moved from the queue to its dead-letter queue after maxReceiveCount receives.",
            |q| q.stats.dead_lettered as f64,
        ),
        (
            "redrive_queue_messages_redriven_total",
            "counter",
            "Messages that arrived in the queue from a move task.",
            |q| q.stats.redriven as f64,
        ),
    ];
    for (name, kind, help, get) in families {
        header(out, name, kind, help);
        for q in &queues {
            let [(k1, v1), (k2, v2)] = labels(q);
            sample(out, name, &[(k1, &v1), (k2, &v2)], get(q));
        }
    }
}

fn render_tasks(out: &mut String, engine: &Engine) {
    let tasks = engine.move_tasks();
    let queue_name = |arn: &str| arn.rsplit(':').next().unwrap_or(arn).to_string();
    let rows: Vec<([(&str, String); 4], &engine::TaskRecord)> = tasks
        .iter()
        .map(|t| {
            let labels = [
                ("task_id", t.id.clone()),
                ("source_queue", queue_name(&t.source_arn)),
                ("destination_queue", t.destination_arn.as_deref().map(queue_name).unwrap_or_default()),
                ("status", t.status.as_str().to_string()),
            ];
            (labels, t)
        })
        .collect();
    type Get = fn(&engine::TaskRecord) -> u64;
    let families: [(&str, &str, Get); 3] = [
        ("redrive_move_task_messages_moved", "Messages the move task has moved so far.", |t| t.moved),
        ("redrive_move_task_messages_to_move", "Messages the move task set out to move.", |t| t.to_move),
        ("redrive_move_task_running", "1 while the move task is RUNNING, else 0.", |t| {
            u64::from(t.status == engine::TaskStatus::Running)
        }),
    ];
    for (name, help, get) in families {
        header(out, name, "gauge", help);
        for (labels, t) in &rows {
            let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
            sample(out, name, &labels, get(t));
        }
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let help = help.replace('\\', "\\\\").replace('\n', "\\n");
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            escape_label_value(out, v);
            out.push('"');
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// The `/metrics` response.
pub fn response(metrics: &Metrics, engine: &Engine) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(metrics.render(engine))));
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_TEXT));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_slots_follow_action_all() {
        for (i, a) in Action::ALL.iter().enumerate() {
            assert_eq!(Metrics::slot(Some(*a)), i, "{a}");
        }
        assert_eq!(Metrics::slot(None), Action::ALL.len());
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        sample(&mut out, "m", &[("a", "x\\y\"z\nw")], 1);
        assert_eq!(out, "m{a=\"x\\\\y\\\"z\\nw\"} 1\n");
    }

    #[test]
    fn latencies_land_in_their_bucket_and_counts_are_cumulative() {
        let m = Metrics::new();
        m.record(Some(Action::SendMessage), None, Duration::from_micros(500));
        m.record(Some(Action::SendMessage), None, Duration::from_millis(3));
        m.record(Some(Action::SendMessage), Some("X"), Duration::from_secs(30));
        let mut out = String::new();
        m.render_requests(&mut out);
        assert!(out.contains("redrive_request_duration_seconds_bucket{action=\"SendMessage\",le=\"0.0005\"} 1\n"));
        assert!(out.contains("redrive_request_duration_seconds_bucket{action=\"SendMessage\",le=\"0.0025\"} 1\n"));
        assert!(out.contains("redrive_request_duration_seconds_bucket{action=\"SendMessage\",le=\"0.005\"} 2\n"));
        assert!(out.contains("redrive_request_duration_seconds_bucket{action=\"SendMessage\",le=\"25\"} 2\n"));
        assert!(out.contains("redrive_request_duration_seconds_bucket{action=\"SendMessage\",le=\"+Inf\"} 3\n"));
        assert!(out.contains("redrive_request_duration_seconds_count{action=\"SendMessage\"} 3\n"));
        assert!(out.contains("redrive_request_duration_seconds_sum{action=\"SendMessage\"} 30.0035\n"));
        assert!(out.contains("redrive_requests_total{action=\"SendMessage\",code=\"OK\"} 2\n"));
        assert!(out.contains("redrive_requests_total{action=\"SendMessage\",code=\"X\"} 1\n"));
        assert!(!out.contains("action=\"ReceiveMessage\""), "idle actions are left out");
    }
}

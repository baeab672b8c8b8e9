//! GET /metrics (Prometheus text format) against a known history of sends, receives,
//! deletes, a dead-letter hand-off and a move task; the structured request log; and the
//! alert rules of docs/alerts.yml checked against the series the server exposes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_sqs::operation::RequestId;
use base64::Engine as _;

use crate::common::{error_code, real_pause, Harness, ACCOUNT, REGION};

const NON_EXISTENT_QUEUE: &str = "AWS.SimpleQueueService.NonExistentQueue";

pub(crate) fn arn(name: &str) -> String {
    format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")
}

pub(crate) fn redrive_policy(dlq: &str, max_receives: u32) -> String {
    format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":{max_receives}}}"#, arn(dlq))
}

/// One sample: metric name, labels, value.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) value: f64,
}

/// A parsed exposition. Parsing checks the text format on the way: every sample belongs
/// to a family announced by exactly one `# HELP` and one `# TYPE` line before it, and a
/// family's samples are not interleaved with another's.
#[derive(Debug)]
pub(crate) struct Exposition {
    text: String,
    pub(crate) types: BTreeMap<String, String>,
    pub(crate) samples: Vec<Sample>,
}

impl Exposition {
    fn parse(text: String) -> Exposition {
        let mut types = BTreeMap::new();
        let mut helps = BTreeMap::new();
        let mut samples = Vec::new();
        let mut current: Option<String> = None;
        let mut finished: Vec<String> = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').expect("HELP name text");
                assert!(helps.insert(name.to_string(), help.to_string()).is_none(), "second HELP for {name}");
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                assert!(["counter", "gauge", "histogram"].contains(&kind), "type {kind}");
                assert!(helps.contains_key(name), "HELP before TYPE for {name}");
                assert!(types.insert(name.to_string(), kind.to_string()).is_none(), "second TYPE for {name}");
                if let Some(previous) = current.replace(name.to_string()) {
                    finished.push(previous);
                }
                continue;
            }
            assert!(!line.starts_with('#') && !line.is_empty(), "unexpected line {line:?}");
            let sample = parse_sample(line);
            let family = current.as_deref().unwrap_or_else(|| panic!("sample before any TYPE: {line}"));
            let kind = &types[family];
            let belongs = if kind == "histogram" {
                ["_bucket", "_sum", "_count"].iter().any(|s| sample.name == format!("{family}{s}"))
            } else {
                sample.name == family
            };
            assert!(belongs, "{line} is not in the family {family} announced last");
            assert!(!finished.contains(&sample.name), "{} interleaved", sample.name);
            samples.push(sample);
        }
        Exposition { text, types, samples }
    }

    /// Samples of `name` carrying every label of `labels` (and maybe others).
    pub(crate) fn matching(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
            .collect()
    }

    /// The value of the one sample of `name` with exactly `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<&Sample> =
            self.matching(name, labels).into_iter().filter(|s| s.labels.len() == labels.len()).collect();
        match found.as_slice() {
            [s] => s.value,
            [] => panic!("no sample {name}{labels:?} in\n{}", self.text),
            many => panic!("{} samples {name}{labels:?}: {many:?}", many.len()),
        }
    }
}

fn parse_sample(line: &str) -> Sample {
    let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
    let value = match value {
        "+Inf" => f64::INFINITY,
        v => v.parse().unwrap_or_else(|e| panic!("value {v:?} of {line}: {e}")),
    };
    let Some((name, rest)) = series.split_once('{') else {
        return Sample { name: series.to_string(), labels: BTreeMap::new(), value };
    };
    let mut labels = BTreeMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "quoted value in {line}");
        let mut value = String::new();
        loop {
            match chars.next().unwrap_or_else(|| panic!("unterminated value in {line}")) {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(c @ ('\\' | '"')) => value.push(c),
                    other => panic!("bad escape {other:?} in {line}"),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        assert!(labels.insert(key.clone(), value).is_none(), "label {key} twice in {line}");
        match chars.next() {
            Some(',') => continue,
            Some('}') => break,
            other => panic!("unexpected {other:?} in {line}"),
        }
    }
    assert!(chars.next().is_none(), "text after labels in {line}");
    Sample { name: name.to_string(), labels, value }
}

pub(crate) async fn scrape(h: &Harness) -> Exposition {
    let response = reqwest::get(format!("{}/metrics", h.endpoint())).await.expect("GET /metrics");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    Exposition::parse(response.text().await.expect("body"))
}

/// A Query-protocol (form-encoded) request.
fn query_request(h: &Harness, form: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(h.endpoint())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_string())
}

/// A Query-protocol call answered in XML; returns the status and the body.
async fn query_call(h: &Harness, form: &str) -> (u16, String) {
    let response = query_request(h, form).send().await.expect("query call");
    (response.status().as_u16(), response.text().await.expect("body"))
}

fn queue_labels<'a>(name: &'a str, dlq: &'a str) -> [(&'static str, &'a str); 2] {
    [("queue", name), ("dead_letter_queue", dlq)]
}

/// The queue series of one queue, in the order
/// (visible, in_flight, delayed, oldest age s, sent, received, deleted, dead_lettered, redriven).
fn queue_series(m: &Exposition, name: &str, dlq: &str) -> [f64; 9] {
    let l = queue_labels(name, dlq);
    [
        "redrive_queue_messages_visible",
        "redrive_queue_messages_in_flight",
        "redrive_queue_messages_delayed",
        "redrive_queue_oldest_message_age_seconds",
        "redrive_queue_messages_sent_total",
        "redrive_queue_messages_received_total",
        "redrive_queue_messages_deleted_total",
        "redrive_queue_messages_dead_lettered_total",
        "redrive_queue_messages_redriven_total",
    ]
    .map(|name| m.value(name, &l))
}

fn task_labels<'a>(id: &'a str, status: &'a str) -> [(&'static str, &'a str); 4] {
    [("task_id", id), ("source_queue", "m-dlq"), ("destination_queue", ""), ("status", status)]
}

/// Polls /metrics (up to 5 s of real time) until the task's series reach `moved` in `status`.
async fn wait_task(h: &Harness, id: &str, status: &str, moved: f64) -> Exposition {
    for _ in 0..250 {
        let m = scrape(h).await;
        if m.matching("redrive_move_task_messages_moved", &task_labels(id, status)).first().map(|s| s.value)
            == Some(moved)
        {
            return m;
        }
        real_pause(20).await;
    }
    panic!("task {id} never reached {status} with {moved} moved:\n{}", scrape(h).await.text);
}

#[tokio::test]
async fn metrics_report_queues_move_tasks_and_requests() {
    let h = Harness::start().await;
    let plain = h.create_queue("m-plain").await;
    h.create_queue("m-dlq").await;
    let source = h.create_queue_with("m-source", &[("RedrivePolicy", &redrive_policy("m-dlq", 1))]).await;

    // m-plain: three sends, 90 s pass, two received (hidden 300 s), one deleted, one
    // more sent with a delay.
    for i in 0..3 {
        h.send(&plain, &format!("plain-{i}")).await;
    }
    h.advance(90);
    let got = h
        .client
        .receive_message()
        .queue_url(&plain)
        .max_number_of_messages(2)
        .visibility_timeout(300)
        .send()
        .await
        .expect("receive")
        .messages()
        .to_vec();
    assert_eq!(got.len(), 2);
    h.delete(&plain, &got[0]).await;
    h.client.send_message().queue_url(&plain).message_body("later").delay_seconds(60).send().await.expect("send");

    // m-source: two sends; one receive leaves them visible (VisibilityTimeout 0) with a
    // receive count of 1, the next hands both to m-dlq (maxReceiveCount 1).
    h.send(&source, "s-0").await;
    h.send(&source, "s-1").await;
    let receive_now =
        || h.client.receive_message().queue_url(&source).max_number_of_messages(10).visibility_timeout(0).send();
    assert_eq!(receive_now().await.expect("receive").messages().len(), 2);
    assert_eq!(receive_now().await.expect("receive").messages().len(), 0, "both go to the DLQ");
    h.advance(30);

    // Errors in both protocols, and a request whose action is unknown.
    let missing = h.client.get_queue_url().queue_name("m-missing").send().await;
    assert_eq!(error_code(missing), NON_EXISTENT_QUEUE);
    let (status, body) = query_call(&h, "Action=GetQueueUrl&QueueName=m-missing&Version=2012-11-05").await;
    assert_eq!(status, 400);
    assert!(body.contains(NON_EXISTENT_QUEUE), "{body}");
    let (status, body) = query_call(&h, "Action=Bogus&Version=2012-11-05").await;
    assert_eq!(status, 400);
    assert!(body.contains("<Code>InvalidAction</Code>"), "{body}");

    let m = scrape(&h).await;
    // (visible, in_flight, delayed, oldest age, sent, received, deleted, dead_lettered, redriven)
    assert_eq!(queue_series(&m, "m-plain", "false"), [1.0, 1.0, 1.0, 120.0, 4.0, 2.0, 1.0, 0.0, 0.0]);
    assert_eq!(queue_series(&m, "m-source", "false"), [0.0, 0.0, 0.0, 0.0, 2.0, 2.0, 0.0, 2.0, 0.0]);
    // A standard DLQ keeps the original enqueue time: sent 30 s ago.
    assert_eq!(queue_series(&m, "m-dlq", "true"), [2.0, 0.0, 0.0, 30.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    assert_eq!(m.types["redrive_queue_messages_visible"], "gauge");
    assert_eq!(m.types["redrive_queue_oldest_message_age_seconds"], "gauge");
    assert_eq!(m.types["redrive_queue_messages_sent_total"], "counter");
    assert_eq!(m.types["redrive_queue_messages_dead_lettered_total"], "counter");
    assert!(m.matching("redrive_move_task_running", &[]).is_empty(), "no task yet");

    let requests = |m: &Exposition, action: &str, code: &str| {
        m.value("redrive_requests_total", &[("action", action), ("code", code)])
    };
    assert_eq!(requests(&m, "SendMessage", "OK"), 6.0);
    assert_eq!(requests(&m, "ReceiveMessage", "OK"), 3.0);
    assert_eq!(requests(&m, "DeleteMessage", "OK"), 1.0);
    assert_eq!(requests(&m, "CreateQueue", "OK"), 3.0);
    assert_eq!(requests(&m, "GetQueueUrl", NON_EXISTENT_QUEUE), 2.0, "one JSON and one Query error");
    assert_eq!(requests(&m, "GetQueueUrl", "OK"), 0.0);
    assert_eq!(requests(&m, "Unknown", "InvalidAction"), 1.0);
    assert_eq!(m.types["redrive_requests_total"], "counter");

    // The latency histogram: cumulative buckets up to +Inf, then _sum and _count.
    assert_eq!(m.types["redrive_request_duration_seconds"], "histogram");
    let buckets = m.matching("redrive_request_duration_seconds_bucket", &[("action", "SendMessage")]);
    let les: Vec<&str> = buckets.iter().map(|s| s.labels["le"].as_str()).collect();
    assert_eq!(
        les,
        [
            "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
            "20", "25", "+Inf"
        ]
    );
    assert!(buckets.windows(2).all(|w| w[0].value <= w[1].value), "cumulative: {buckets:?}");
    assert_eq!(buckets.last().map(|s| s.value), Some(6.0));
    assert_eq!(m.value("redrive_request_duration_seconds_count", &[("action", "SendMessage")]), 6.0);
    let sum = m.value("redrive_request_duration_seconds_sum", &[("action", "SendMessage")]);
    assert!(sum > 0.0 && sum < 60.0, "latency is real time, not the manual clock: {sum}");
    assert_eq!(m.value("redrive_request_duration_seconds_count", &[("action", "Unknown")]), 1.0);
    assert!(m.text.contains("redrive_request_duration_seconds_bucket{action=\"GetQueueUrl\",le=\"+Inf\"} 2\n"));

    // A move task back to the source at 1 message/s: it moves one, then waits for the clock.
    let handle = h
        .client
        .start_message_move_task()
        .source_arn(arn("m-dlq"))
        .max_number_of_messages_per_second(1)
        .send()
        .await
        .expect("start move task")
        .task_handle()
        .expect("handle")
        .to_string();
    let decoded = base64::engine::general_purpose::STANDARD.decode(handle).expect("base64 handle");
    let handle: serde_json::Value = serde_json::from_slice(&decoded).expect("json handle");
    let id = handle["taskId"].as_str().expect("taskId").to_string();

    let m = wait_task(&h, &id, "RUNNING", 1.0).await;
    assert_eq!(m.value("redrive_move_task_messages_to_move", &task_labels(&id, "RUNNING")), 2.0);
    assert_eq!(m.value("redrive_move_task_running", &task_labels(&id, "RUNNING")), 1.0);
    assert_eq!(m.types["redrive_move_task_running"], "gauge");
    assert_eq!(m.value("redrive_queue_messages_visible", &queue_labels("m-dlq", "true")), 1.0);
    assert_eq!(m.value("redrive_queue_messages_redriven_total", &queue_labels("m-source", "false")), 1.0);

    // One more second lets it move the second message; the next finds nothing and completes.
    h.advance(1);
    wait_task(&h, &id, "RUNNING", 2.0).await;
    h.advance(1);
    let m = wait_task(&h, &id, "COMPLETED", 2.0).await;
    assert_eq!(m.value("redrive_move_task_messages_to_move", &task_labels(&id, "COMPLETED")), 2.0);
    assert_eq!(m.value("redrive_move_task_running", &task_labels(&id, "COMPLETED")), 0.0);
    assert_eq!(m.matching("redrive_move_task_running", &[]).len(), 1, "one series per task");
    // A redriven message is a new message: m-source's oldest was moved 2 s ago.
    assert_eq!(queue_series(&m, "m-source", "false"), [2.0, 0.0, 0.0, 2.0, 2.0, 2.0, 0.0, 2.0, 2.0]);
    assert_eq!(queue_series(&m, "m-dlq", "true"), [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    assert_eq!(requests(&m, "StartMessageMoveTask", "OK"), 1.0);
}

/// A Query call whose `Accept` asks for JSON; returns the status and the parsed body.
async fn query_json_call(h: &Harness, form: &str) -> (u16, serde_json::Value) {
    let response =
        query_request(h, form).header("accept", "application/json").send().await.expect("query call answered in JSON");
    let status = response.status().as_u16();
    let body = response.bytes().await.expect("body");
    (status, serde_json::from_slice(&body).expect("JSON body"))
}

#[tokio::test]
async fn each_protocol_is_counted_under_the_code_its_error_answer_carries() {
    let h = Harness::start().await;
    let url = h.create_queue("m-codes").await;
    let missing_url = h.expected_url("m-codes-missing");

    // JSON: the code is the x-amzn-query-error code the SDK reports.
    let bad_handle = h.client.delete_message().queue_url(&url).receipt_handle("nope").send().await;
    assert_eq!(error_code(bad_handle), "ReceiptHandleIsInvalid");
    // Query, answered in XML.
    let (status, body) =
        query_call(&h, &format!("Action=ReceiveMessage&QueueUrl={url}&MaxNumberOfMessages=11&Version=2012-11-05"))
            .await;
    assert_eq!(status, 400);
    assert!(body.contains("<Code>InvalidParameterValue</Code>"), "{body}");
    // Query, answered in JSON: a missing queue, and an empty batch (no entry parameters).
    let (status, body) =
        query_json_call(&h, &format!("Action=GetQueueAttributes&QueueUrl={missing_url}&Version=2012-11-05")).await;
    assert_eq!(status, 400);
    assert_eq!(body["Error"]["Code"], NON_EXISTENT_QUEUE);
    assert_eq!(body["Error"]["Message"], "The specified queue does not exist for this wsdl version.");
    let (status, body) = query_json_call(&h, &format!("Action=SendMessageBatch&QueueUrl={url}")).await;
    assert_eq!(status, 400);
    assert_eq!(body["Error"]["Code"], "AWS.SimpleQueueService.EmptyBatchRequest");
    // A queue's URL opened without an action: no action, and AWS's body names the code.
    let response = reqwest::get(&url).await.expect("GET on a queue URL");
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(response.text().await.expect("body"), "<UnknownOperationException/>");

    let m = scrape(&h).await;
    let requests = |action: &str, code: &str| m.value("redrive_requests_total", &[("action", action), ("code", code)]);
    assert_eq!(requests("CreateQueue", "OK"), 1.0);
    assert_eq!(requests("DeleteMessage", "ReceiptHandleIsInvalid"), 1.0);
    assert_eq!(requests("ReceiveMessage", "InvalidParameterValue"), 1.0);
    assert_eq!(requests("GetQueueAttributes", NON_EXISTENT_QUEUE), 1.0);
    assert_eq!(requests("SendMessageBatch", "AWS.SimpleQueueService.EmptyBatchRequest"), 1.0);
    assert_eq!(requests("Unknown", "UnknownOperationException"), 1.0);
    for action in ["DeleteMessage", "ReceiveMessage", "GetQueueAttributes", "SendMessageBatch"] {
        assert_eq!(requests(action, "OK"), 0.0, "{action}");
    }
}

/// Collects what the fmt subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// The one line that names `request_id`.
    fn line_of(&self, request_id: &str) -> String {
        let text = self.text();
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(&format!("request_id={request_id}"))).collect();
        assert_eq!(lines.len(), 1, "one log line for {request_id} in:\n{text}");
        lines[0].to_string()
    }
}

/// This thread's log lines at `filter`, captured while the returned guards live.
fn capture_logs(filter: &str) -> (Captured, tracing::Dispatch, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // tracing caches each callsite's interest globally and, while only one dispatcher is
    // registered, asks just the current thread's: a callsite first hit by another test's
    // thread would stay disabled here. A second, silent dispatcher makes every
    // registration consult all live dispatchers, this one included.
    let silent = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let guard = tracing::subscriber::set_default(subscriber);
    (captured, silent, guard)
}

// On the current-thread runtime the server's tasks run on the test's thread, so a
// thread-local subscriber sees their events without touching other tests.
#[tokio::test(flavor = "current_thread")]
async fn every_request_is_logged_with_the_request_id_of_its_response() {
    let (captured, _silent, _guard) = capture_logs("redrive=debug");

    let h = Harness::start().await;
    let url = h.create_queue("logged").await;
    let sent = h.client.send_message().queue_url(&url).message_body("b").send().await.expect("send");
    let id = sent.request_id().expect("request id of the send").to_string();
    let line = captured.line_of(&id);
    for part in ["DEBUG", "request", "action=SendMessage", "status=200", "code=OK", " ms="] {
        assert!(line.contains(part), "{part} missing from {line}");
    }

    let err = h.client.get_queue_url().queue_name("not-there").send().await.expect_err("no such queue");
    let id = err.request_id().expect("request id of the error").to_string();
    let line = captured.line_of(&id);
    for part in ["action=GetQueueUrl", "status=400", &format!("code={NON_EXISTENT_QUEUE}"), " ms="] {
        assert!(line.contains(part), "{part} missing from {line}");
    }
    h.server.shutdown().await;
}

/// What a newcomer looks for with `--log redrive=trace`: each request's action, queue,
/// parameters (a long body cut), status and error code; an unknown action by the name it was
/// called by (and in /metrics under the one `Unknown` label); never a credential.
#[tokio::test(flavor = "current_thread")]
async fn the_trace_log_shows_each_request_its_queue_parameters_and_error_but_no_secret() {
    let (captured, _silent, _guard) = capture_logs("redrive=trace");

    let h = Harness::start().await;
    let url = h.create_queue("traced").await;
    let http = reqwest::Client::new();
    let signed = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/sqs/aws4_request, \
                  SignedHeaders=host, Signature=0123456789abcdefsecret";
    let post =
        |form: Vec<(&'static str, String)>| http.post(h.endpoint()).header("Authorization", signed).form(&form).send();
    let request_id = |r: &reqwest::Response| r.headers()["x-amzn-requestid"].to_str().unwrap().to_string();

    let body = format!("{}{}", "a".repeat(250), "z".repeat(750));
    let sent =
        post(vec![("Action", "SendMessage".into()), ("QueueUrl", url.clone()), ("MessageBody", body)]).await.unwrap();
    assert_eq!(sent.status(), 200);
    let line = captured.line_of(&request_id(&sent));
    let cut = format!("\"MessageBody\":\"{}{}…[cut: 1000 bytes]\"", "a".repeat(250), "z".repeat(6));
    for part in ["TRACE", "action=SendMessage", "queue=traced", &cut, "status=200", "code=OK"] {
        assert!(line.contains(part), "{part} missing from {line}");
    }
    assert!(!line.contains(&"z".repeat(7)), "the body is cut at 256 bytes: {line}");

    let unknown = post(vec![("Action", "FrobnicateQueue".into())]).await.unwrap();
    assert_eq!(unknown.status(), 400);
    let line = captured.line_of(&request_id(&unknown));
    for part in ["action=Unknown", "requested_action=FrobnicateQueue", "status=400", "code=InvalidAction"] {
        assert!(line.contains(part), "{part} missing from {line}");
    }

    let presigned =
        format!("{url}?Action=GetQueueAttributes&X-Amz-Signature=feedfacesecret&X-Amz-Credential=AKIDEXAMPLE%2F2025");
    let missing = http.get(presigned.replace("traced", "not-there")).send().await.unwrap();
    let line = captured.line_of(&request_id(&missing));
    for part in ["action=GetQueueAttributes", "queue=not-there", "status=400", &format!("code={NON_EXISTENT_QUEUE}")] {
        assert!(line.contains(part), "{part} missing from {line}");
    }

    let log = captured.text();
    for secret in ["0123456789abcdefsecret", "feedfacesecret", "AKIDEXAMPLE", "Authorization", "AWS4-HMAC"] {
        assert!(!log.contains(secret), "{secret} logged:\n{log}");
    }
    let metrics = http.get(format!("{}/metrics", h.endpoint())).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("redrive_requests_total{action=\"Unknown\",code=\"InvalidAction\"} 1\n"), "{metrics}");
    assert!(!metrics.contains("FrobnicateQueue"), "an unknown name makes no series of its own");
    h.server.shutdown().await;
}

/// `name{selector}` pieces of a PromQL expression: every `redrive_…` metric name and the
/// `label="value"` matchers right after it.
fn selectors(expr: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("redrive_") {
        let tail = &rest[at..];
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).unwrap_or(tail.len());
        let name = tail[..end].to_string();
        let mut matchers = Vec::new();
        rest = &tail[end..];
        if let Some(inner) = rest.strip_prefix('{') {
            let close = inner.find('}').expect("closing brace");
            for m in inner[..close].split(',').filter(|m| !m.trim().is_empty()) {
                let (k, v) = m.split_once('=').expect("label=\"value\" matcher");
                matchers.push((k.trim().to_string(), v.trim().trim_matches('"').to_string()));
            }
            rest = &inner[close + 1..];
        }
        out.push((name, matchers));
    }
    out
}

#[tokio::test]
async fn the_alert_rules_use_only_series_the_server_exposes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/alerts.yml");
    let text = std::fs::read_to_string(path).expect("docs/alerts.yml");
    let docs = yaml_rust2::YamlLoader::load_from_str(&text).expect("valid YAML");
    let doc = &docs[0];
    let groups = doc["groups"].as_vec().expect("groups");
    assert!(!groups.is_empty());

    // A server where a DLQ holds a message long enough to fire both rules.
    let h = Harness::start().await;
    let dlq = h.create_queue("alert-dlq").await;
    let source = h.create_queue_with("alert-source", &[("RedrivePolicy", &redrive_policy("alert-dlq", 1))]).await;
    h.send(&source, "poison").await;
    for _ in 0..2 {
        h.client.receive_message().queue_url(&source).visibility_timeout(0).send().await.expect("receive");
    }
    assert_eq!(h.counts(&dlq).await.0, 1, "the message is in the DLQ");
    h.advance(3600);
    let m = scrape(&h).await;

    let mut alerts = BTreeMap::new();
    for group in groups {
        assert!(group["name"].as_str().is_some(), "group name");
        for rule in group["rules"].as_vec().expect("rules") {
            let name = rule["alert"].as_str().expect("alert name").to_string();
            let expr = rule["expr"].as_str().expect("expr").to_string();
            assert!(rule["for"].as_str().is_some(), "{name}: for");
            assert!(rule["labels"]["severity"].as_str().is_some(), "{name}: severity");
            let summary = rule["annotations"]["summary"].as_str().expect("summary");
            assert!(summary.contains("{{ $labels.queue }}"), "{name}: the summary names the queue: {summary}");
            let used = selectors(&expr);
            assert!(!used.is_empty(), "{name}: no redrive_ metric in {expr}");
            for (metric, matchers) in used {
                assert!(m.types.contains_key(&metric), "{name}: {metric} is not exposed");
                let matchers: Vec<(&str, &str)> = matchers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                assert!(!m.matching(&metric, &matchers).is_empty(), "{name}: no series {metric}{matchers:?}");
            }
            alerts.insert(name, (expr, rule["for"].as_str().unwrap_or_default().to_string()));
        }
    }

    let (expr, for_) = &alerts["RedriveDeadLetterQueueNotEmpty"];
    assert_eq!(expr, r#"redrive_queue_messages_visible{dead_letter_queue="true"} > 0"#);
    assert_eq!(for_, "5m");
    assert_eq!(m.value("redrive_queue_messages_visible", &queue_labels("alert-dlq", "true")), 1.0, "it would fire");
    let (expr, _) = &alerts["RedriveOldestMessageTooOld"];
    assert!(expr.starts_with("redrive_queue_oldest_message_age_seconds > "), "{expr}");
    let threshold: f64 = expr.rsplit(' ').next().and_then(|t| t.parse().ok()).expect("a threshold in seconds");
    let age = m.value("redrive_queue_oldest_message_age_seconds", &queue_labels("alert-dlq", "true"));
    assert!(age > threshold, "an hour-old message passes the {threshold} s threshold: {age}");
    assert_eq!(
        selectors(r#"a + redrive_x{a="1", b="2"} / redrive_y"#),
        [
            ("redrive_x".to_string(), vec![("a".into(), "1".into()), ("b".into(), "2".into())]),
            ("redrive_y".to_string(), vec![])
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_queue_stays_one_while_it_holds_dead_letters_once_no_source_names_it() {
    let h = Harness::start().await;
    h.create_queue("orphan-dlq").await;
    let source = h.create_queue_with("orphan-src", &[("RedrivePolicy", &redrive_policy("orphan-dlq", 1))]).await;
    h.send(&source, "poison").await;
    for _ in 0..2 {
        h.client.receive_message().queue_url(&source).visibility_timeout(0).send().await.expect("receive");
    }
    h.set_attribute(&source, "RedrivePolicy", "").await;
    let m = scrape(&h).await;
    assert_eq!(
        m.value("redrive_queue_messages_visible", &queue_labels("orphan-dlq", "true")),
        1.0,
        "the DLQ alert keeps its series while the dead letter waits"
    );
}

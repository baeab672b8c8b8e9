//! `redrive dlq …` as an operator runs it: the built binary against a real server, with the
//! dead letters made by the SDK, checked by what it prints (tables, `--json`), its exit codes,
//! and what the SDK then sees in the queues.

use std::process::Stdio;

use aws_sdk_sqs::types::MessageAttributeValue;
use bytes::Bytes;
use http_body_util::Full;
use serde_json::{json, Value};

use crate::common::{consumer_still_failing, Harness, ACCOUNT, REGION};

fn arn(name: &str) -> String {
    format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")
}

/// What one run of the command printed, and how it ended.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        assert_eq!(self.code, 0, "stdout: {}\nstderr: {}", self.stdout, self.stderr);
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }

    fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "stdout: {}\nstderr: {}", self.stdout, self.stderr);
        &self.stdout
    }
}

/// `redrive dlq ARGS` against `endpoint`, with no AWS credentials or profile around it (so the
/// dummy ones are used) and nothing on stdin.
async fn dlq_at(endpoint: &str, args: &[&str]) -> Run {
    dlq_with(endpoint, &[], args).await
}

/// `dlq_at` with these environment variables set.
async fn dlq_with(endpoint: &str, env: &[(&str, &str)], args: &[&str]) -> Run {
    let endpoint = endpoint.to_string();
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    // The server runs on this test's runtime: wait for the process off it.
    tokio::task::spawn_blocking(move || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_redrive"));
        command.arg("dlq").args(&args).env("REDRIVE_ENDPOINT", endpoint).stdin(Stdio::null());
        for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION"] {
            command.env_remove(name);
        }
        command
            .env("AWS_CONFIG_FILE", "/nonexistent/redrive-cli-test")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/redrive-cli-test");
        command.envs(env);
        let out = command.output().expect("run redrive");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

async fn dlq(h: &Harness, args: &[&str]) -> Run {
    dlq_at(&h.endpoint(), args).await
}

/// `src` (maxReceiveCount 1) and its DLQ `dlq`, and six messages dead-lettered: bodies
/// `{"n":i}`, attribute kind = refund for even i, sale for odd.
async fn six_dead_letters(h: &Harness) -> (String, String) {
    let dlq = h.create_queue("dlq").await;
    let policy = format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":"1"}}"#, arn("dlq"));
    let src = h.create_queue_with("src", &[("RedrivePolicy", &policy)]).await;
    for i in 0..6 {
        let kind = if i % 2 == 0 { "refund" } else { "sale" };
        let attribute = MessageAttributeValue::builder().data_type("String").string_value(kind).build().unwrap();
        let send = h.client.send_message().queue_url(&src).message_body(format!(r#"{{"n":{i}}}"#));
        send.message_attributes("kind", attribute).send().await.unwrap();
    }
    consumer_still_failing(h, &src).await;
    assert_eq!(h.counts(&dlq).await, (6, 0, 0));
    (src, dlq)
}

/// One receive of up to 10 messages, with every attribute.
async fn receive_all(h: &Harness, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let receive = h.client.receive_message().queue_url(url).max_number_of_messages(10).wait_time_seconds(0);
    let receive = receive.message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All);
    receive.message_attribute_names("All").send().await.unwrap().messages.unwrap_or_default()
}

fn bodies(messages: &Value) -> Vec<String> {
    messages.as_array().unwrap().iter().map(|m| m["Body"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn list_peek_and_count_show_the_dead_letters_without_receiving_any() {
    let h = Harness::start().await;
    let (_, dlq_url) = six_dead_letters(&h).await;

    let table = dlq(&h, &["list"]).await;
    let lines: Vec<&str> = table.ok().lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["DLQ", "MESSAGES", "IN", "FLIGHT", "DELAYED", "SOURCES"]
    );
    assert_eq!(lines[1].split_whitespace().collect::<Vec<_>>(), ["dlq", "6", "0", "0", "src", "(after", "1)"]);
    assert_eq!(lines.len(), 2, "src is no DLQ: {table:?}", table = table.stdout);
    let listed = dlq(&h, &["list", "--json"]).await.json();
    let d = &listed["DeadLetterQueues"][0];
    assert_eq!(
        (d["QueueArn"].as_str(), d["ApproximateNumberOfMessages"].as_u64()),
        (Some(arn("dlq").as_str()), Some(6))
    );
    assert_eq!(
        (d["Sources"][0]["QueueName"].as_str(), d["Sources"][0]["MaxReceiveCount"].as_u64()),
        (Some("src"), Some(1))
    );

    let refunds = dlq(&h, &["peek", "dlq", "--attribute", "kind=refund", "--json"]).await.json();
    assert_eq!(bodies(&refunds["Messages"]), [r#"{"n":0}"#, r#"{"n":2}"#, r#"{"n":4}"#]);
    assert_eq!(refunds["Messages"][0]["Attributes"]["DeadLetterQueueSourceArn"], arn("src"));
    // The same by URL and by ARN, a JSON value, a time range and a limit.
    let by_url = dlq(&h, &["peek", &dlq_url, "--json-path", "/n=3", "--json"]).await.json();
    assert_eq!(bodies(&by_url["Messages"]), [r#"{"n":3}"#]);
    let dlq_arn = arn("dlq");
    let limited = dlq(&h, &["peek", &dlq_arn, "--sent-after", "2000-01-01T00:00:00Z", "--limit", "2", "--json"]).await;
    assert_eq!(bodies(&limited.json()["Messages"]), [r#"{"n":0}"#, r#"{"n":1}"#]);
    let none = dlq(&h, &["peek", "dlq", "--sent-before", "946684800000", "--json"]).await.json();
    assert_eq!(none["Messages"], json!([]));

    let table = dlq(&h, &["peek", "dlq", "--source", "src", "--body-contains", "\"n\":5"]).await;
    let lines: Vec<&str> = table.ok().lines().collect();
    assert!(lines[0].starts_with("MESSAGE ID") && lines[0].ends_with("BODY"), "{}", lines[0]);
    assert_eq!(lines.len(), 2, "{}", table.stdout);
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!((row[1], row[4], row[5], row[6], row[7]), ("Available", "1", "0", "src", r#"{"n":5}"#), "{row:?}");

    assert_eq!(dlq(&h, &["count", "dlq", "--attribute", "kind=sale"]).await.ok(), "3 of the 6 messages in dlq match\n");
    assert_eq!(dlq(&h, &["count", "dlq", "--attribute", "kind"]).await.ok(), "6 of the 6 messages in dlq match\n");
    let counted = dlq(&h, &["count", "dlq", "--json-path", "/n=\"3\"", "--json"]).await.json();
    assert_eq!(counted, json!({ "Count": 0, "Examined": 6 }), "3 is not \"3\"");
    assert_eq!(h.counts(&dlq_url).await, (6, 0, 0), "nothing was received");
    let received = receive_all(&h, &dlq_url).await;
    assert_eq!(received.len(), 6);
    assert!(received.iter().all(|m| crate::common::system_attributes(m)["ApproximateReceiveCount"] == "2"));
}

#[tokio::test]
async fn an_export_imported_again_brings_back_the_same_ids_and_bodies_and_a_bad_line_is_named() {
    let h = Harness::start().await;
    let (_, dlq_url) = six_dead_letters(&h).await;
    let dir = crate::common::fresh_dir("cli-export");
    let file = dir.join("dlq.jsonl");
    let path = file.to_str().unwrap();

    let exported = dlq(&h, &["export", "dlq", "-o", path]).await;
    assert_eq!(exported.ok(), "");
    assert_eq!(exported.stderr.trim(), format!("Exported 6 messages from dlq to {path}."));
    let text = std::fs::read_to_string(&file).unwrap();
    let before: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(before.len(), 6);
    // Filtered to stdout.
    let sales = dlq(&h, &["export", "dlq", "--attribute", "kind=sale"]).await;
    assert_eq!(sales.ok().lines().count(), 3);

    assert_eq!(dlq(&h, &["delete", "dlq", "--source", "src"]).await.ok(), "Deleted 6 messages from dlq.\n");
    assert_eq!(h.counts(&dlq_url).await, (0, 0, 0));
    assert_eq!(dlq(&h, &["import", "dlq", path]).await.ok(), "Imported 6 messages into dlq.\n");
    let again = dlq(&h, &["export", "dlq"]).await;
    let after: Vec<Value> = again.ok().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(after.len(), 6);
    for (b, a) in before.iter().zip(&after) {
        for field in ["MessageId", "Body", "MD5OfBody", "MessageAttributes"] {
            assert_eq!(b[field], a[field], "{field} kept");
        }
        assert_eq!(b["Attributes"]["DeadLetterQueueSourceArn"], a["Attributes"]["DeadLetterQueueSourceArn"]);
    }

    // A bad line stops the import before anything is sent, naming the line.
    let bad = dir.join("bad.jsonl");
    std::fs::write(&bad, format!("{}\n\n{{\"Body\": \"x\"\n", text.lines().next().unwrap())).unwrap();
    let refused = dlq(&h, &["import", "dlq", bad.to_str().unwrap()]).await;
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("line 3: not JSON"), "{}", refused.stderr);
    std::fs::write(&bad, "{\"Body\":\"ok\"}\n{\"Body\":\"\"}\n").unwrap();
    let refused = dlq(&h, &["import", "dlq", bad.to_str().unwrap(), "--json"]).await;
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("InvalidParameterValue: line 2: Messages[1]"),
        "the server's refusal names the line: {}",
        refused.stderr
    );
    assert_eq!(h.counts(&dlq_url).await, (6, 0, 0), "nothing imported by either");

    // More lines than one call takes go in several.
    let bulk = h.create_queue("bulk").await;
    let lines: Vec<String> = (0..150).map(|i| json!({ "Body": format!("m{i}") }).to_string()).collect();
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let imported = dlq(&h, &["import", &bulk, bad.to_str().unwrap(), "--json"]).await.json();
    assert_eq!((imported, h.counts(&bulk).await), (json!({ "Imported": 150 }), (150, 0, 0)));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_dry_run_counts_a_canary_shows_its_stage_and_cancel_and_history_tell_the_rest() {
    let h = Harness::start().await;
    let (src, dlq_url) = six_dead_letters(&h).await;

    let dry = dlq(&h, &["redrive", "dlq", "--attribute", "kind=refund", "--dry-run"]).await;
    assert!(
        dry.ok().starts_with(
            "Dry run: 3 messages would move from dlq. Nothing moved.\nThe first 3 that would:\nMESSAGE ID"
        ),
        "{}",
        dry.stdout
    );
    let dry = dlq(&h, &["redrive", "dlq", "--attribute", "kind=refund", "--dry-run", "--json"]).await.json();
    assert_eq!((dry["DryRun"].as_bool(), dry["ApproximateNumberOfMessagesToMove"].as_u64()), (Some(true), Some(3)));
    assert_eq!(h.counts(&dlq_url).await, (6, 0, 0), "a dry run moves nothing");

    // Signed with the operator's key, which the history keeps as who started it.
    let operator = [("AWS_ACCESS_KEY_ID", "AKIDOPERATOR"), ("AWS_SECRET_ACCESS_KEY", "secret")];
    let args = ["redrive", "dlq", "--attribute", "kind=refund", "--canary", "1", "--canary-timeout", "600", "--json"];
    let started = dlq_with(&h.endpoint(), &operator, &args).await.json();
    let handle = started["TaskHandle"].as_str().unwrap().to_string();
    let mut task = Value::Null;
    for _ in 0..200 {
        task = dlq(&h, &["status", "dlq", "--json"]).await.json()["Tasks"][0].clone();
        if task["Stage"] == "CANARY_WATCH" {
            break;
        }
    }
    assert_eq!((task["Stage"].as_str(), task["Status"].as_str()), (Some("CANARY_WATCH"), Some("RUNNING")), "{task}");
    assert_eq!(
        (task["TaskHandle"].as_str(), task["ApproximateNumberOfMessagesMoved"].as_u64()),
        (Some(handle.as_str()), Some(1))
    );
    assert_eq!(task["Canary"], json!({ "Size": 1, "TimeoutSeconds": 600 }));
    let shown = dlq(&h, &["status", "dlq"]).await;
    assert!(shown.ok().starts_with("Status:      RUNNING\nStage:       CANARY_WATCH\nFrom:        dlq\nTo:          their source queues\nMoved:       1 of 3\n"), "{}", shown.stdout);
    assert_eq!(h.counts(&src).await, (1, 0, 0), "the canary");

    let cancelled = dlq(&h, &["cancel", "dlq"]).await;
    assert!(cancelled.ok().starts_with("Cancelled the task after 1 message moved."), "{}", cancelled.stdout);
    let again = dlq(&h, &["cancel", "dlq"]).await;
    assert_eq!((again.code, again.stderr.trim()), (1, "redrive dlq: ResourceNotFound: dlq has no running move task."));
    // Following an ended task ends at once: CANCELLED is exit code 3.
    let watched = dlq(&h, &["status", "dlq", "--watch", "--interval", "0.02", "--json"]).await;
    assert_eq!(watched.code, 3, "{}", watched.stderr);
    assert_eq!(serde_json::from_str::<Value>(&watched.stdout).unwrap()["Status"], "CANCELLED");
    assert_eq!(watched.stderr.trim(), "redrive dlq: the task ended CANCELLED");

    let history = dlq(&h, &["history", "--json"]).await.json();
    let tasks = history["Tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(
        (tasks[0]["Status"].as_str(), tasks[0]["SourceArn"].as_str()),
        (Some("CANCELLED"), Some(arn("dlq").as_str()))
    );
    assert_eq!(tasks[0]["Filter"], json!({ "MessageAttributes": [{ "Name": "kind", "Equals": "refund" }] }));
    assert_eq!(tasks[0]["StartedBy"], "AKIDOPERATOR");
    let table = dlq(&h, &["history", "dlq"]).await;
    let lines: Vec<&str> = table.ok().lines().collect();
    assert!(lines[0].starts_with("STARTED") && lines[0].contains("FAILED AGAIN"), "{}", lines[0]);
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(&row[1..5], ["dlq", "(sources)", "CANCELLED", "1"], "{}", lines[1]);
    assert!(lines[1].contains("filter (MessageAttributes), canary 1"), "{}", lines[1]);
    // The canary went to its source; the other five stay.
    assert_eq!(h.counts(&dlq_url).await, (5, 0, 0));
}

#[tokio::test]
async fn a_watched_plain_redrive_runs_to_its_end_and_the_messages_are_back_in_their_source() {
    let h = Harness::start().await;
    let (src, dlq_url) = six_dead_letters(&h).await;
    let done = dlq(&h, &["redrive", "dlq", "--watch", "--interval", "0.02"]).await;
    let text = done.ok();
    assert!(
        text.starts_with(
            "Status:      COMPLETED\nFrom:        dlq\nTo:          their source queues\nMoved:       6 of 6\n"
        ),
        "{text}"
    );
    assert_eq!((h.counts(&src).await, h.counts(&dlq_url).await), ((6, 0, 0), (0, 0, 0)));
    // A plain task is AWS's StartMessageMoveTask: the SDK sees it.
    let tasks = h.client.list_message_move_tasks().source_arn(arn("dlq")).send().await.unwrap();
    assert_eq!(tasks.results()[0].status(), Some("COMPLETED"));
}

#[tokio::test]
async fn edit_changes_one_message_where_it_is_and_delete_takes_only_what_a_filter_names() {
    let h = Harness::start().await;
    let (_, dlq_url) = six_dead_letters(&h).await;
    let peeked = dlq(&h, &["peek", "dlq", "--json"]).await.json();
    let id = |i: usize| peeked["Messages"][i]["MessageId"].as_str().unwrap().to_string();

    let first = id(0);
    let edited =
        dlq(&h, &["edit", "dlq", &first, "--body", r#"{"n":0,"fixed":true}"#, "--attribute", "note=fixed", "--json"])
            .await
            .json();
    assert_eq!(edited["MessageId"], id(0));
    assert_eq!(edited["MD5OfBody"], crate::common::md5_hex(br#"{"n":0,"fixed":true}"#));
    let shown = dlq(&h, &["peek", "dlq", "--message-id", &id(0), "--json"]).await.json();
    let m = &shown["Messages"][0];
    assert_eq!(m["Body"], r#"{"n":0,"fixed":true}"#);
    assert_eq!(
        m["MessageAttributes"],
        json!({ "kind": { "DataType": "String", "StringValue": "refund" }, "note": { "DataType": "String", "StringValue": "fixed" } }),
        "the other attribute is kept"
    );
    let removed = dlq(&h, &["edit", "dlq", &id(0), "--remove-attribute", "note"]).await;
    assert!(removed.ok().starts_with(&format!("Updated {} in dlq", id(0))), "{}", removed.stdout);
    let shown = dlq(&h, &["peek", "dlq", "--message-id", &id(0), "--json"]).await.json();
    assert_eq!(
        shown["Messages"][0]["MessageAttributes"],
        json!({ "kind": { "DataType": "String", "StringValue": "refund" } })
    );
    let unknown = dlq(&h, &["edit", "dlq", "no-such-id", "--body", "x"]).await;
    assert_eq!(
        (unknown.code, unknown.stderr.trim()),
        (1, "redrive dlq: ResourceNotFound: The queue holds no message no-such-id.")
    );
    let nothing = dlq(&h, &["edit", "dlq", &id(0)]).await;
    assert_eq!(nothing.code, 2, "{}", nothing.stderr);

    let would = dlq(&h, &["delete", "dlq", "--message-id", &id(1), "--message-id", &id(2), "--dry-run"]).await;
    assert_eq!(would.ok(), "Dry run: 2 messages in dlq would be deleted.\n");
    let deleted = dlq(&h, &["delete", "dlq", "--message-id", &id(1), "--message-id", &id(2), "--json"]).await.json();
    assert_eq!(deleted, json!({ "Deleted": 2 }));
    let everything = dlq(&h, &["delete", "dlq"]).await;
    assert_eq!(everything.code, 2, "a delete without a filter is refused");
    assert!(everything.stderr.contains("delete needs a filter"), "{}", everything.stderr);
    assert_eq!(h.counts(&dlq_url).await, (4, 0, 0));
}

#[tokio::test]
async fn a_client_side_redrive_and_an_export_by_receiving_use_only_plain_sqs_calls() {
    let h = Harness::start().await;
    let (src, dlq_url) = six_dead_letters(&h).await;
    let sqs = plain_sqs_in_front_of(&h).await;
    let moved = dlq_at(&sqs, &["redrive", "dlq", "--client-side", "--attribute", "kind=refund", "--json"]).await.json();
    assert_eq!(moved, json!({ "Moved": 3, "Examined": 6, "WithoutSource": 0 }));
    let back = receive_all(&h, &src).await;
    let mut got: Vec<&str> = back.iter().map(|m| m.body().unwrap()).collect();
    got.sort_unstable();
    assert_eq!(got, [r#"{"n":0}"#, r#"{"n":2}"#, r#"{"n":4}"#]);
    assert!(back.iter().all(|m| m.message_attributes().unwrap()["kind"].string_value() == Some("refund")));
    assert_eq!(h.counts(&dlq_url).await, (3, 0, 0), "the others are released at once");

    let exported = dlq_at(&sqs, &["export", "dlq", "--receive", "--body-contains", "n"]).await;
    let lines: Vec<Value> = exported.ok().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l["Attributes"]["ApproximateReceiveCount"] == "3"), "received once more: {lines:?}");
    assert!(lines.iter().all(|l| l["MessageAttributes"]["kind"]["StringValue"] == "sale"));
    assert!(exported.stderr.contains("(each received once, then released)"), "{}", exported.stderr);
    assert_eq!(h.counts(&dlq_url).await, (3, 0, 0));
    let refused = dlq_at(&sqs, &["export", "dlq", "--receive", "--dead-lettered-after", "0"]).await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    let needs_redrive = dlq_at(&sqs, &["export", "dlq"]).await;
    assert_eq!(needs_redrive.code, 4, "without --receive, export is the extension's: {}", needs_redrive.stderr);
}

#[tokio::test]
async fn list_plain_redrive_status_and_cancel_need_only_the_sqs_api() {
    let h = Harness::start().await;
    let (src, dlq_url) = six_dead_letters(&h).await;
    let sqs = plain_sqs_in_front_of(&h).await;

    let listed = dlq_at(&sqs, &["list", "--json"]).await.json();
    assert_eq!(listed["DeadLetterQueues"][0]["ApproximateNumberOfMessages"], 6);
    for args in [vec!["peek", "dlq"], vec!["redrive", "dlq", "--canary", "2"], vec!["history"]] {
        let run = dlq_at(&sqs, &args).await;
        assert_eq!(run.code, 4, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("is not a Redrive server: it does not know Redrive_v1."), "{}", run.stderr);
    }

    // One message a second on the manual clock: the task runs until it is cancelled.
    let started = dlq_at(&sqs, &["redrive", "dlq", "--rate", "1", "--json"]).await.json();
    let handle = started["TaskHandle"].as_str().unwrap();
    let status = dlq_at(&sqs, &["status", "dlq", "--json"]).await.json();
    let task = &status["Tasks"][0];
    assert_eq!((task["TaskHandle"].as_str(), task["Status"].as_str()), (Some(handle), Some("RUNNING")));
    assert_eq!(task["MaxNumberOfMessagesPerSecond"], 1);
    assert!(task.get("Stage").is_none(), "SQS's fields only: {task}");
    let cancelled = dlq_at(&sqs, &["cancel", handle, "--json"]).await.json();
    assert_eq!(cancelled["TaskHandle"], handle);
    h.advance(1);
    let ended = dlq_at(&sqs, &["status", "dlq", "--watch", "--interval", "0.02", "--json"]).await;
    assert_eq!(ended.code, 3, "{}", ended.stderr);
    assert_eq!(serde_json::from_str::<Value>(&ended.stdout).unwrap()["Status"], "CANCELLED");

    // A plain redrive followed to its end through ListMessageMoveTasks.
    let done = dlq_at(&sqs, &["redrive", "dlq", "--watch", "--interval", "0.02", "--json"]).await.json();
    assert_eq!(done["Status"], "COMPLETED");
    assert_eq!(h.counts(&dlq_url).await, (0, 0, 0));
    assert_eq!(h.counts(&src).await.0, 6);
}

#[tokio::test]
async fn a_watched_canary_redrive_into_a_broken_consumer_ends_failed_with_exit_code_3() {
    let h = Harness::start().await;
    let (src, dlq_url) = six_dead_letters(&h).await;
    let endpoint = h.endpoint();
    let args = ["redrive", "dlq", "--canary", "2", "--watch", "--interval", "0.02"];
    let watching = tokio::spawn(async move { dlq_at(&endpoint, &args).await });
    // The consumer is still broken: the canary comes back.
    for _ in 0..200 {
        if h.counts(&src).await.0 == 2 {
            break;
        }
        crate::common::real_pause(10).await;
    }
    consumer_still_failing(&h, &src).await;
    let run = watching.await.unwrap();
    assert_eq!(run.code, 3, "stdout: {}\nstderr: {}", run.stdout, run.stderr);
    assert!(run.stdout.starts_with("Status:        FAILED\n"), "{}", run.stdout);
    assert!(run.stdout.contains("Failed again:  2\n"), "{}", run.stdout);
    assert!(
        run.stderr.starts_with("redrive dlq: the task ended FAILED: Canary failed: 2 of the 2 canary messages"),
        "{}",
        run.stderr
    );
    assert_eq!(h.counts(&dlq_url).await, (6, 0, 0), "nothing lost");
}

/// A plain SQS endpoint: the server's SQS API as it is, but no extension — every
/// `Redrive_v1.*` call is answered as SQS answers an action it does not know.
async fn plain_sqs_in_front_of(h: &Harness) -> String {
    use http_body_util::BodyExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let target = h.endpoint();
    let client = reqwest::Client::new();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let (client, target) = (client.clone(), target.clone());
            let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let (client, target) = (client.clone(), target.clone());
                async move {
                    let (parts, body) = request.into_parts();
                    let body = body.collect().await.unwrap().to_bytes();
                    let target_header = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok());
                    if target_header.is_some_and(|t| t.starts_with("Redrive_v1.")) {
                        return Ok::<_, std::convert::Infallible>(unknown_operation());
                    }
                    let mut forward = client.request(parts.method.clone(), format!("{target}{}", parts.uri));
                    for (k, v) in &parts.headers {
                        if k != "host" && k != "content-length" {
                            forward = forward.header(k, v);
                        }
                    }
                    let answer = forward.body(body).send().await.unwrap();
                    let mut response = hyper::Response::new(Full::new(Bytes::new()));
                    *response.status_mut() = answer.status();
                    for (k, v) in answer.headers() {
                        if k != "content-length" && k != "transfer-encoding" {
                            response.headers_mut().insert(k.clone(), v.clone());
                        }
                    }
                    *response.body_mut() = Full::new(answer.bytes().await.unwrap());
                    Ok(response)
                }
            });
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
    format!("http://{addr}")
}

fn unknown_operation() -> hyper::Response<Full<Bytes>> {
    let body = r#"{"__type":"com.amazon.coral.service#UnknownOperationException","message":null}"#;
    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = hyper::StatusCode::BAD_REQUEST;
    response
}

/// Any HTTP server that is not Redrive: it answers every call as SQS answers an action it does
/// not know.
async fn not_redrive() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let service =
                hyper::service::service_fn(|_req| async { Ok::<_, std::convert::Infallible>(unknown_operation()) });
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn exit_codes_tell_a_script_what_happened() {
    let fake = not_redrive().await;
    let queue = format!("{fake}/{ACCOUNT}/dlq");
    for args in [vec!["peek", queue.as_str()], vec!["count", queue.as_str()], vec!["export", queue.as_str()]] {
        let run = dlq_at(&fake, &args).await;
        assert_eq!(run.code, 4, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(&format!("{fake} is not a Redrive server")), "{}", run.stderr);
    }

    let h = Harness::start().await;
    let missing = dlq(&h, &["peek", "nope"]).await;
    assert_eq!(
        (missing.code, missing.stderr.contains("The specified queue does not exist.")),
        (1, true),
        "{}",
        missing.stderr
    );
    let usage = dlq(&h, &["peek", "dlq", "--sent-after", "yesterday"]).await;
    assert_eq!(usage.code, 2, "{}", usage.stderr);
    let usage = dlq(&h, &["peek", "not a queue"]).await;
    assert_eq!(usage.code, 2, "{}", usage.stderr);
    let unreachable = dlq_at("http://127.0.0.1:1", &["peek", "http://127.0.0.1:1/000000000000/dlq"]).await;
    assert_eq!(unreachable.code, 1, "{}", unreachable.stderr);
    assert!(unreachable.stderr.contains("cannot reach http://127.0.0.1:1"), "{}", unreachable.stderr);
}

#[tokio::test]
async fn against_a_server_with_a_credentials_file_the_extension_calls_are_signed_with_the_operators_key() {
    const KEY: (&str, &str) = ("AKIAEXAMPLECLI000001", "secret-of-the-cli-key-0123456");
    let dir = crate::common::fresh_dir("cli-credentials");
    let file = dir.join("credentials.toml");
    let keys = format!(
        "[[keys]]\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\naccount_id = \"111111111111\"\n",
        KEY.0, KEY.1
    );
    std::fs::write(&file, keys).unwrap();
    let h = Harness::start_with(|c| c.credentials = Some(file)).await;
    let client = crate::common::signed_client(&h.endpoint(), REGION, KEY.0, KEY.1);
    let url = client.create_queue().queue_name("orders-dlq").send().await.unwrap().queue_url.unwrap();
    client.send_message().queue_url(&url).message_body("order 1").send().await.unwrap();

    let operator = [("AWS_ACCESS_KEY_ID", KEY.0), ("AWS_SECRET_ACCESS_KEY", KEY.1)];
    let peeked = dlq_with(&h.endpoint(), &operator, &["peek", "orders-dlq", "--json"]).await.json();
    assert_eq!(bodies(&peeked["Messages"]), ["order 1"]);
    let counted = dlq_with(&h.endpoint(), &operator, &["count", &url, "--json"]).await.json();
    assert_eq!(counted["Count"], 1);

    // The dummy credentials are refused as any unknown key: an error of the server, not "not Redrive".
    let refused = dlq(&h, &["count", &url]).await;
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.starts_with("redrive dlq: UnrecognizedClient"), "{}", refused.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}

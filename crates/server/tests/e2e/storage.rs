//! The durable store seen from a client: restarts, the data-dir lock, a full disk and a
//! failed fsync (injected through `store::faults`, so they run everywhere; a real full
//! tmpfs too where the tests may mount one).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use aws_sdk_sqs::error::ProvideErrorMetadata;

use crate::common::{fresh_dir, on_disk, real_pause, restart, Harness};

async fn durable(dir: &Path) -> Harness {
    Harness::start_with(on_disk(dir)).await
}

async fn count(h: &Harness, url: &str, name: &str) -> u64 {
    h.attributes_named(url, &[name]).await[name].parse().unwrap()
}

#[tokio::test]
async fn messages_and_in_flight_deadlines_and_receipt_handles_survive_a_restart() {
    let dir = fresh_dir("restart");
    let h = durable(&dir).await;
    let url = h.create_queue("keep").await;
    for body in ["one", "two", "three"] {
        h.client.send_message().queue_url(&url).message_body(body).send().await.unwrap();
    }
    let got = h.client.receive_message().queue_url(&url).visibility_timeout(600).send().await.unwrap();
    let handle = got.messages()[0].receipt_handle().unwrap().to_string();
    h.server.shutdown().await;

    let h = durable(&dir).await;
    let url = h.expected_url("keep");
    assert_eq!(count(&h, &url, "ApproximateNumberOfMessages").await, 2);
    assert_eq!(count(&h, &url, "ApproximateNumberOfMessagesNotVisible").await, 1);
    let bodies: Vec<String> = h
        .client
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages()
        .iter()
        .map(|m| m.body().unwrap().to_string())
        .collect();
    assert_eq!(bodies, ["two", "three"]);
    // The handle issued before the restart still deletes its message.
    h.client.delete_message().queue_url(&url).receipt_handle(&handle).send().await.unwrap();
    h.advance(601);
    assert_eq!(count(&h, &url, "ApproximateNumberOfMessagesNotVisible").await, 0);
    assert_eq!(count(&h, &url, "ApproximateNumberOfMessages").await, 2);
    h.server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Bodies of every message `drain` finds, sorted.
async fn drained_bodies(h: &Harness, url: &str) -> Vec<String> {
    let mut bodies: Vec<String> = h.drain(url).await.iter().map(|m| m.body().unwrap().to_string()).collect();
    bodies.sort();
    bodies
}

#[tokio::test]
async fn messages_sent_after_a_restart_never_overwrite_stored_ones_of_any_queue() {
    // Message numbers are shared by all queues; after a restart they must go on above every
    // stored one, or a new body would replace an old one in the store.
    let dir = fresh_dir("seqs");
    let h = durable(&dir).await;
    let a = h.create_queue("a").await;
    let b = h.create_queue("b").await;
    let f = h.create_queue_with("f.fifo", &[("FifoQueue", "true"), ("ContentBasedDeduplication", "true")]).await;
    let before = h.client.send_message().queue_url(&f).message_body("f1").message_group_id("g").send().await.unwrap();
    for body in ["a1", "a2", "a3"] {
        h.send(&a, body).await;
    }
    h.send(&b, "b1").await;
    h.server.shutdown().await;

    let h = durable(&dir).await;
    let (a, b, f) = (h.expected_url("a"), h.expected_url("b"), h.expected_url("f.fifo"));
    h.send(&b, "b2").await;
    h.send(&a, "a4").await;
    let after = h.client.send_message().queue_url(&f).message_body("f2").message_group_id("g").send().await.unwrap();
    let number = |o: &aws_sdk_sqs::operation::send_message::SendMessageOutput| {
        o.sequence_number().unwrap().parse::<u128>().unwrap()
    };
    assert!(number(&after) > number(&before), "{:?} then {:?}", before.sequence_number(), after.sequence_number());
    h.server.shutdown().await;

    let h = durable(&dir).await;
    let (a, b, f) = (h.expected_url("a"), h.expected_url("b"), h.expected_url("f.fifo"));
    assert_eq!(drained_bodies(&h, &a).await, ["a1", "a2", "a3", "a4"]);
    assert_eq!(drained_bodies(&h, &b).await, ["b1", "b2"]);
    assert_eq!(drained_bodies(&h, &f).await, ["f1", "f2"]);
    h.server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_receipt_handle_from_before_a_restart_never_deletes_a_message_sent_after_it() {
    // The deleted message's number must not be handed to the next message after a restart,
    // or its old handle (a consumer retrying its delete) would delete that one.
    let dir = fresh_dir("stale-handle");
    let h = durable(&dir).await;
    let url = h.create_queue("q").await;
    h.send(&url, "old").await;
    let old = h.receive(&url, 1).await.remove(0);
    h.delete(&url, &old).await;
    h.server.shutdown().await;

    let h = durable(&dir).await;
    let url = h.expected_url("q");
    h.send(&url, "new").await;
    h.client.delete_message().queue_url(&url).receipt_handle(old.receipt_handle().unwrap()).send().await.unwrap();
    assert_eq!(drained_bodies(&h, &url).await, ["new"]);
    h.server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_second_server_on_the_same_data_dir_is_refused() {
    let dir = fresh_dir("lock");
    let h = durable(&dir).await;
    let mut config = redrive::Config::for_tests();
    config.in_memory = false;
    config.data_dir = dir.clone();
    let err = redrive::start(config).await.err().expect("a second server must be refused");
    assert!(err.to_string().contains("in use by another redrive server"), "{err}");
    h.server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tmpfs of a given size, unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> Option<SmallDisk> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(dir.to_path_buf()))
    }

    fn grow(&self, size: &str) {
        let ok = Command::new("mount").args(["-o", &format!("remount,size={size}")]).arg(&self.0).status().unwrap();
        assert!(ok.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A FIFO send of "d1" in group "g"; its AWS error code if it fails.
async fn send_d1(h: &Harness, fifo: &str) -> Result<(), Option<String>> {
    let sent = h.client.send_message().queue_url(fifo).message_body("d1").message_group_id("g");
    sent.message_deduplication_id("d1").send().await.map(|_| ()).map_err(|e| e.code().map(str::to_string))
}

fn unavailable() -> Result<(), Option<String>> {
    Err(Some("ServiceUnavailable".to_string()))
}

/// While the store refuses changes: a FIFO send and a CreateQueue fail, and so do their
/// retries (neither is answered from memory as a duplicate or an existing queue); /ready is
/// 503 while /health stays 200; a change to `url`'s attributes is refused too.
async fn a_failing_store_refuses_every_change(h: &Harness, url: &str, fifo: &str) {
    for attempt in ["first", "retry"] {
        assert_eq!(send_d1(h, fifo).await, unavailable(), "{attempt} FIFO send");
        let late = h.client.create_queue().queue_name("late").send().await;
        assert_eq!(late.map(|_| ()).map_err(|e| e.code().map(str::to_string)), unavailable(), "{attempt} create");
    }
    let status = |path: &'static str| async move {
        reqwest::get(format!("{}{path}", h.endpoint())).await.unwrap().status().as_u16()
    };
    assert_eq!((status("/ready").await, status("/health").await), (503, 200), "not ready; still alive");
    let refused =
        h.client.set_queue_attributes().queue_url(url).attributes("VisibilityTimeout".into(), "77").send().await;
    assert_eq!(refused.map(|_| ()).map_err(|e| e.code().map(str::to_string)), unavailable());
}

#[tokio::test]
async fn a_full_tmpfs_answers_503_keeps_what_was_acknowledged_and_recovers_when_space_returns() {
    let dir = fresh_dir("full");
    let Some(disk) = SmallDisk::mount(&dir, "3m") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let data = dir.join("data");
    let h = durable(&data).await;
    let url = h.create_queue("big").await;
    let fifo = h.create_queue_with("f.fifo", &[("FifoQueue", "true")]).await;
    let body = "x".repeat(60_000);
    let mut acked = 0;
    let failure = loop {
        match h.client.send_message().queue_url(&url).message_body(&body).send().await {
            Ok(_) => acked += 1,
            Err(e) => break e,
        }
        assert!(acked < 200, "the 3 MiB disk never filled");
    };
    assert_eq!(failure.code(), Some("ServiceUnavailable"));
    assert_eq!(failure.raw_response().map(|r| r.status().as_u16()), Some(503));
    assert!(acked > 10);
    // What failed fails again when retried (an SDK retries a 503 by itself).
    a_failing_store_refuses_every_change(&h, &url, &fifo).await;
    let ready = || async { reqwest::get(format!("{}/ready", h.endpoint())).await.unwrap().status().as_u16() };
    // A refused change is not shown either, once the healer has reloaded what is on disk.
    let mut reloaded = false;
    for _ in 0..50 {
        h.advance(1);
        #[allow(clippy::disallowed_methods)] // the healer runs in the background: wait for it in real time
        tokio::time::sleep(Duration::from_millis(100)).await;
        if h.attribute(&url, "VisibilityTimeout").await == "30" {
            reloaded = true;
            break;
        }
    }
    assert!(reloaded, "the refused VisibilityTimeout 77 is still shown");
    assert_eq!(count(&h, &url, "ApproximateNumberOfMessages").await, acked, "only acknowledged sends are shown");

    disk.grow("64m");
    // The healer checks once a second of the server's clock.
    let mut recovered = false;
    for _ in 0..50 {
        h.advance(1);
        #[allow(clippy::disallowed_methods)] // the healer runs in the background: wait for it in real time
        tokio::time::sleep(Duration::from_millis(100)).await;
        if h.client.send_message().queue_url(&url).message_body("after").send().await.is_ok() {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "the server did not recover after space returned");
    assert_eq!(ready().await, 200, "ready again once the store heals");
    send_d1(&h, &fifo).await.expect("the FIFO send, retried once the store takes changes");
    assert_eq!(count(&h, &fifo, "ApproximateNumberOfMessages").await, 1);
    let visible = count(&h, &url, "ApproximateNumberOfMessages").await;
    // Every acknowledged send is there (a failed commit may or may not have landed).
    assert!(visible > acked, "{visible} messages for {acked} acknowledged sends + 1");
    assert!(visible <= acked + 2);
    h.server.shutdown().await;

    // What memory showed is what the disk holds. The new server's manual clock starts at
    // the real time, behind the old one that was advanced: catch up so that the message
    // sent after the recovery is not still in the future.
    let h = durable(&data).await;
    h.advance(60);
    assert_eq!(count(&h, &h.expected_url("big"), "ApproximateNumberOfMessages").await, visible);
    h.server.shutdown().await;
    drop(disk);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Which file operation an injected fault breaks.
#[derive(Clone, Copy, Debug)]
enum Fault {
    DiskFull,
    FailedFsync,
}

fn set_fault(files: &store::faults::FaultyFiles, fault: Fault, on: bool) {
    match fault {
        Fault::DiskFull => files.faults.set_disk_full(on),
        Fault::FailedFsync => files.faults.set_fsync_fails(on),
    }
}

/// A server whose store's files fail on demand: 503 while they do, what was acknowledged
/// kept, what was refused never shown, /ready 503 until it heals, and the same after a restart.
async fn a_store_fault_is_a_503_loses_nothing_acknowledged_and_heals(fault: Fault) {
    let dir = fresh_dir("fault");
    let files = store::faults::FaultyFiles::register().unwrap();
    let h = Harness::start_with(|c| {
        on_disk(&dir)(c);
        c.store_vfs = Some(files.name.clone());
    })
    .await;
    let url = h.create_queue("q").await;
    let fifo = h.create_queue_with("f.fifo", &[("FifoQueue", "true")]).await;
    for i in 0..5 {
        h.send(&url, &format!("acknowledged-{i}")).await;
    }
    let ready = || async { reqwest::get(format!("{}/ready", h.endpoint())).await.unwrap().status().as_u16() };
    assert_eq!(ready().await, 200);

    set_fault(&files, fault, true);
    let failure = h.client.send_message().queue_url(&url).message_body("refused").send().await.unwrap_err();
    assert_eq!(failure.code(), Some("ServiceUnavailable"), "{fault:?}");
    assert_eq!(failure.raw_response().map(|r| r.status().as_u16()), Some(503));
    // What failed fails again when retried (an SDK retries a 503 by itself).
    a_failing_store_refuses_every_change(&h, &url, &fifo).await;
    // The healer (once a second of the server's clock) rebuilds memory from the disk: the
    // refused change is not shown either.
    let mut reloaded = false;
    for _ in 0..50 {
        h.advance(1);
        real_pause(100).await;
        if h.attribute(&url, "VisibilityTimeout").await == "30" {
            reloaded = true;
            break;
        }
    }
    assert!(reloaded, "the refused VisibilityTimeout 77 is still shown");
    assert_eq!(count(&h, &url, "ApproximateNumberOfMessages").await, 5, "only acknowledged sends are shown");
    assert_eq!(ready().await, 503, "still failing");

    set_fault(&files, fault, false);
    let mut recovered = false;
    for _ in 0..50 {
        h.advance(1);
        real_pause(100).await;
        if ready().await == 200 {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "the server did not heal once the fault cleared");
    h.send(&url, "after").await;
    send_d1(&h, &fifo).await.expect("the FIFO send, retried once the store takes changes");
    assert_eq!(count(&h, &fifo, "ApproximateNumberOfMessages").await, 1);
    h.server.shutdown().await;

    // After a restart (through SQLite's own VFS: the files are ordinary), exactly what was
    // acknowledged.
    let h = restart(&dir).await;
    h.advance(60);
    let mut expected: Vec<String> = (0..5).map(|i| format!("acknowledged-{i}")).collect();
    expected.push("after".into());
    assert_eq!(drained_bodies(&h, &h.expected_url("q")).await, expected);
    assert_eq!(drained_bodies(&h, &h.expected_url("f.fifo")).await, ["d1"]);
    h.server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_full_disk_is_a_503_loses_nothing_acknowledged_and_heals_when_space_returns() {
    a_store_fault_is_a_503_loses_nothing_acknowledged_and_heals(Fault::DiskFull).await;
}

#[tokio::test]
async fn a_failed_fsync_is_a_503_loses_nothing_acknowledged_and_heals_when_fsync_works_again() {
    a_store_fault_is_a_503_loses_nothing_acknowledged_and_heals(Fault::FailedFsync).await;
}

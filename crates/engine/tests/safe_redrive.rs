//! Safe redrive: selective moves, dry runs, the loop guard, the canary and the halt rule —
//! seed 003's loop replayed: a consumer that still fails stops the task with only the canary
//! at risk, nothing is lost, and once the consumer is fixed the same redrive completes.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test helper is a failed test

use std::time::Duration;

use engine::{
    Canary, Engine, Halt, ManualClock, MessageFilter, Stage, TaskOptions, TaskRecord, TaskRequest, TaskStatus,
};

mod common;
use common::tasks::*;
use common::*;

fn request(e: &Engine, dlq: &str, options: TaskOptions) -> TaskRequest {
    TaskRequest { source_arn: arn(e, dlq), options, ..Default::default() }
}

fn body_contains(text: &str) -> Option<MessageFilter> {
    Some(MessageFilter { body_contains: Some(text.into()), ..Default::default() })
}

fn canary(size: u32) -> Option<Canary> {
    Some(Canary { size, timeout_ms: 60_000 })
}

/// A consumer of `queue` that still fails: it receives every message until each one is back
/// in the dead-letter queue (maxReceiveCount 1).
async fn fail_everything(e: &Engine, queue: &str) {
    for _ in 0..1_000 {
        let c = e.counts(&me(), &qid(queue)).unwrap();
        if (c.visible, c.in_flight) == (0, 0) {
            return;
        }
        e.receive_message(&me(), &qid(queue), receive(10, Some(0))).await.unwrap();
    }
    panic!("{queue} kept messages");
}

/// Let the driver step while the clock stands still.
async fn settle() {
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
    real_pause(20).await;
}

async fn until_stage(e: &Engine, dlq: &str, want: &str) -> TaskRecord {
    until(e, dlq, want, |t| t.progress.stage.as_str() == want).await
}

#[tokio::test]
async fn a_filtered_redrive_moves_only_the_matching_messages_and_leaves_the_rest_untouched() {
    let (e, _clock) = engine();
    sources_and_dlq(&e, &["src"], "dlq").await;
    let bodies: Vec<String> =
        (0..20).map(|i| format!(r#"{{"n":{i},"kind":"{}"}}"#, if i % 2 == 0 { "refund" } else { "sale" })).collect();
    dead_letter_all(&e, "src", &bodies).await;

    let options = TaskOptions { filter: body_contains("refund"), ..Default::default() };
    e.start_redrive(&me(), request(&e, "dlq", options)).await.unwrap();
    let task = until_status(&e, "dlq", TaskStatus::Completed).await;
    assert_eq!((task.moved, task.to_move), (10, 10));
    let moved = sorted(drain(&e, "src").await);
    assert!(moved.iter().all(|b| b.contains("refund")) && moved.len() == 10, "{moved:?}");
    let left = sorted(drain(&e, "dlq").await);
    assert!(left.iter().all(|b| b.contains("sale")) && left.len() == 10, "{left:?}");
}

#[tokio::test]
async fn a_dry_run_counts_and_samples_what_would_move_and_moves_nothing() {
    let (e, _clock) = engine();
    sources_and_dlq(&e, &["src"], "dlq").await;
    let bodies: Vec<String> =
        (0..30).map(|i| format!("order-{i:02} {}", if i < 12 { "refund" } else { "sale" })).collect();
    dead_letter_all(&e, "src", &bodies).await;

    let options = TaskOptions { filter: body_contains("refund"), ..Default::default() };
    let dry = e.dry_run_redrive(&me(), request(&e, "dlq", options)).unwrap();
    assert_eq!((dry.matching, dry.skipped, dry.sample.len()), (12, 0, 10));
    let sample: Vec<&str> = dry.sample.iter().map(|p| p.message.content.body.as_str()).collect();
    assert_eq!(sample[0], "order-00 refund", "oldest first");
    assert!(sample.iter().all(|b| b.contains("refund")));
    assert_eq!(visible(&e, "dlq"), 30, "nothing moved");
    assert!(e.redrive_history(&me(), None).is_empty(), "a dry run is not a task");
}

#[tokio::test]
async fn the_loop_guard_leaves_a_message_redriven_too_often_in_the_dlq_and_counts_it_skipped() {
    let (e, _clock) = engine();
    sources_and_dlq(&e, &["src"], "dlq").await;
    dead_letter_all(&e, "src", &numbered("loop", 3)).await;
    let guarded = |max| TaskOptions { max_redrives: Some(max), ..Default::default() };

    e.start_redrive(&me(), request(&e, "dlq", guarded(1))).await.unwrap();
    assert_eq!(until_status(&e, "dlq", TaskStatus::Completed).await.moved, 3);
    fail_everything(&e, "src").await;
    assert_eq!(visible(&e, "dlq"), 3, "all three came back");

    let dry = e.dry_run_redrive(&me(), request(&e, "dlq", guarded(1))).unwrap();
    assert_eq!((dry.matching, dry.skipped), (0, 3));
    e.start_redrive(&me(), request(&e, "dlq", guarded(1))).await.unwrap();
    let task = until_status(&e, "dlq", TaskStatus::Completed).await;
    assert_eq!((task.moved, task.progress.skipped), (0, 3));
    assert_eq!(visible(&e, "dlq"), 3, "left where they were");

    // A higher limit lets them go once more, and the count is kept across the moves.
    e.start_redrive(&me(), request(&e, "dlq", guarded(2))).await.unwrap();
    assert_eq!(until_status(&e, "dlq", TaskStatus::Completed).await.moved, 3);
    let back = e.receive_message(&me(), &qid("src"), receive(10, Some(30))).await.unwrap();
    assert!(back.iter().all(|r| r.content.redrives.as_ref().is_some_and(|r| r.count == 2)));
}

#[tokio::test]
async fn seed_003s_loop_a_still_broken_consumer_stops_the_canary_and_once_fixed_the_same_redrive_completes() {
    let (e, clock) = engine();
    sources_and_dlq(&e, &["src"], "dlq").await;
    let sent = numbered("order", 40);
    dead_letter_all(&e, "src", &sent).await;
    let options = TaskOptions { canary: canary(5), ..Default::default() };

    // The consumer is still broken: the canary's five come back, and the task stops there.
    e.start_redrive(&me(), request(&e, "dlq", options.clone())).await.unwrap();
    let watching = until_stage(&e, "dlq", "CANARY_WATCH").await;
    assert_eq!((watching.status, watching.moved, watching.progress.canary.len()), (TaskStatus::Running, 5, 5));
    assert_eq!((visible(&e, "src"), visible(&e, "dlq")), (5, 35), "only the canary is at risk");
    fail_everything(&e, "src").await;
    let failed = until_status(&e, "dlq", TaskStatus::Failed).await;
    let reason = failed.failure_reason.clone().unwrap();
    assert!(reason.starts_with("Canary failed: 5 of the 5 canary messages came back"), "{reason}");
    assert_eq!((failed.moved, failed.progress.failed_again), (5, 5));
    assert_eq!(visible(&e, "dlq"), 40, "nothing lost: every message is back in the DLQ");

    // Fixed: the same redrive's canary is deleted by the consumer, then the rest moves.
    e.start_redrive(&me(), request(&e, "dlq", options)).await.unwrap();
    until_stage(&e, "dlq", "CANARY_WATCH").await;
    let canary_bodies = drain(&e, "src").await;
    assert_eq!(canary_bodies.len(), 5);
    clock.advance(Duration::from_secs(1));
    let done = until_status(&e, "dlq", TaskStatus::Completed).await;
    assert_eq!((done.moved, done.progress.failed_again), (40, 0));
    let mut all = canary_bodies;
    all.extend(drain(&e, "src").await);
    assert_eq!(sorted(all), sent, "each message exactly once");
}

#[tokio::test]
async fn a_canary_nobody_consumes_times_out_and_says_so() {
    let (e, clock) = engine();
    sources_and_dlq(&e, &["src"], "dlq").await;
    dead_letter_all(&e, "src", &numbered("m", 8)).await;
    let options = TaskOptions { canary: canary(3), ..Default::default() };
    e.start_redrive(&me(), request(&e, "dlq", options)).await.unwrap();
    until_stage(&e, "dlq", "CANARY_WATCH").await;
    // One of the three is deleted; two are not.
    let got = e.receive_message(&me(), &qid("src"), receive(1, Some(300))).await.unwrap();
    e.delete_message(&me(), &qid("src"), &got[0].receipt_handle).await.unwrap();
    clock.advance(Duration::from_secs(59));
    settle().await;
    assert_eq!(latest(&e, "dlq").status, TaskStatus::Running, "not before the timeout");
    clock.advance(Duration::from_secs(1));
    let failed = until_status(&e, "dlq", TaskStatus::Failed).await;
    let reason = failed.failure_reason.unwrap();
    assert!(
        reason.starts_with("Canary timed out: 2 of the 3 canary messages were not deleted by a consumer of"),
        "{reason}"
    );
    assert_eq!(visible(&e, "dlq"), 5, "the rest stayed");
}

#[tokio::test]
async fn a_task_halts_when_more_than_its_share_of_moved_messages_come_back_and_names_them() {
    let (e, clock) = engine();
    sources_and_dlq(&e, &["src"], "dlq").await;
    dead_letter_all(&e, "src", &numbered("m", 50)).await;
    let halt = Some(Halt { max_count: None, max_percent: Some(10), window_ms: 300_000 });
    e.start_redrive(&me(), request(&e, "dlq", TaskOptions { halt, ..Default::default() })).await.unwrap();
    let watching = until_stage(&e, "dlq", "WATCHING").await;
    assert_eq!((watching.status, watching.moved), (TaskStatus::Running, 50), "moved, and watching");

    // Five of fifty failing again is 10 %: not more than the rule allows. (Received once and
    // seen again after their visibility timeout, the oldest five are handed to the DLQ by the
    // next receive, which takes ten more in flight.)
    assert_eq!(e.receive_message(&me(), &qid("src"), receive(5, Some(30))).await.unwrap().len(), 5);
    clock.advance(Duration::from_secs(31));
    e.receive_message(&me(), &qid("src"), receive(10, Some(30))).await.unwrap();
    settle().await;
    let task = latest(&e, "dlq");
    assert_eq!((task.status, task.progress.failed_again), (TaskStatus::Running, 5));
    // The ten come back too: 15 of 50 is more than 10 %.
    clock.advance(Duration::from_secs(31));
    e.receive_message(&me(), &qid("src"), receive(1, Some(30))).await.unwrap();
    let halted = until_status(&e, "dlq", TaskStatus::Failed).await;
    let reason = halted.failure_reason.clone().unwrap();
    assert!(
        reason.starts_with("Halted: 15 of the 50 messages moved came back to the dead-letter queue (more than 10 %)"),
        "{reason}"
    );
    assert_eq!(halted.progress.came_back.len(), 15);
    assert!(reason.contains(&halted.progress.came_back[0]), "the reason names them: {reason}");
    assert_eq!(visible(&e, "dlq"), 15);
}

#[tokio::test]
async fn a_watch_that_sees_nothing_come_back_completes_when_its_window_ends() {
    let (e, clock) = engine();
    sources_and_dlq(&e, &["src"], "dlq").await;
    dead_letter_all(&e, "src", &numbered("n", 4)).await;
    let halt = Some(Halt { max_count: Some(0), max_percent: None, window_ms: 60_000 });
    e.start_redrive(&me(), request(&e, "dlq", TaskOptions { halt, ..Default::default() })).await.unwrap();
    until_stage(&e, "dlq", "WATCHING").await;
    drain(&e, "src").await;
    clock.advance(Duration::from_secs(59));
    settle().await;
    assert_eq!(latest(&e, "dlq").status, TaskStatus::Running, "watching until the window ends");
    clock.advance(Duration::from_secs(1));
    let done = until_status(&e, "dlq", TaskStatus::Completed).await;
    assert_eq!((done.moved, done.progress.failed_again), (4, 0));
}

#[tokio::test]
async fn a_task_watching_its_canary_resumes_in_that_stage_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(START);
    let open = || open_durable(dir.path(), &clock);
    let e = open();
    sources_and_dlq(&e, &["src"], "dlq").await;
    let sent = numbered("r", 12);
    dead_letter_all(&e, "src", &sent).await;
    e.start_redrive(&me(), request(&e, "dlq", TaskOptions { canary: canary(4), ..Default::default() })).await.unwrap();
    until_stage(&e, "dlq", "CANARY_WATCH").await;
    e.stop().await;
    drop(e);

    let e = open();
    let task = latest(&e, "dlq");
    assert_eq!(task.status, TaskStatus::Running);
    assert!(matches!(task.progress.stage, Stage::CanaryWatch { .. }), "{:?}", task.progress.stage);
    assert_eq!(task.progress.canary.len(), 4, "the canary's messages are known after the restart");
    e.resume_tasks();
    settle().await;
    assert_eq!(latest(&e, "dlq").moved, 4, "the rest waits for the canary");
    let canary_bodies = drain(&e, "src").await;
    clock.advance(Duration::from_secs(1));
    let done = until_status(&e, "dlq", TaskStatus::Completed).await;
    assert_eq!(done.moved, 12);
    let mut all = canary_bodies;
    all.extend(drain(&e, "src").await);
    assert_eq!(sorted(all), sent, "no message lost or duplicated");
    e.stop().await;
}

#[tokio::test]
async fn the_history_keeps_who_started_each_task_with_what_settings_and_how_it_ended() {
    let (e, _clock) = engine();
    sources_and_dlq(&e, &["src"], "dlq").await;
    dead_letter_all(&e, "src", &numbered("h", 3)).await;
    let options = TaskOptions { filter: body_contains("h-01"), ..Default::default() };
    let handle = e.start_redrive(&me(), request(&e, "dlq", options)).await.unwrap();
    until_status(&e, "dlq", TaskStatus::Completed).await;
    e.start_message_move_task(&me(), &arn(&e, "dlq"), None, None).await.unwrap();
    until_status(&e, "dlq", TaskStatus::Completed).await;

    let history = e.redrive_history(&me(), None);
    assert_eq!(history.len(), 2);
    let (plain, filtered) = (&history[0], &history[1]);
    assert_eq!(filtered.handle(), handle, "newest first");
    assert_eq!(filtered.options.started_by.as_deref(), Some("me"));
    assert_eq!(filtered.options.filter, body_contains("h-01"));
    assert_eq!(filtered.options.max_redrives, Some(engine::DEFAULT_MAX_REDRIVES), "the server's default");
    assert!(filtered.progress.finished_at.is_some());
    assert_eq!((plain.moved, plain.options.filter.clone()), (2, None));
    assert_eq!(e.describe_redrive(&me(), &handle).unwrap().moved, 1);
    let stranger = engine::Caller::new("111111111111", None);
    assert!(e.redrive_history(&stranger, None).is_empty(), "another account sees none of them");
}

#[tokio::test]
async fn bad_options_are_refused_with_the_parameter_and_the_reason() {
    let (e, _clock) = engine();
    sources_and_dlq(&e, &["src"], "dlq").await;
    let refused = |options: TaskOptions| {
        let e = e.clone();
        async move { e.start_redrive(&me(), request(&e, "dlq", options)).await.unwrap_err().to_string() }
    };
    let big = TaskOptions { canary: Some(Canary { size: 1001, timeout_ms: 60_000 }), ..Default::default() };
    assert_eq!(refused(big).await, "Canary.Size: Must be between 1 and 1000.");
    let empty_halt = TaskOptions {
        halt: Some(Halt { max_count: None, max_percent: None, window_ms: 60_000 }),
        ..Default::default()
    };
    assert_eq!(refused(empty_halt).await, "Halt: Give MaxCount, MaxPercent or both.");
    let bad_filter = TaskOptions {
        filter: Some(MessageFilter { body_contains: Some(String::new()), ..Default::default() }),
        ..Default::default()
    };
    assert_eq!(refused(bad_filter).await, "Filter.BodyContains: Must be 1 to 1024 characters.");
    assert!(e.redrive_history(&me(), None).is_empty());
}

#[tokio::test]
async fn a_message_in_flight_is_not_edited_and_an_import_with_one_bad_message_imports_none() {
    let (e, _clock) = engine();
    sources_and_dlq(&e, &["src"], "dlq").await;
    dead_letter_all(&e, "src", &numbered("x", 2)).await;
    let held = e.receive_message(&me(), &qid("dlq"), receive(1, Some(60))).await.unwrap().remove(0);
    let fix = engine::MessageFix { body: Some("fixed".into()), attributes: None };
    let refused = e.update_message(&me(), &qid("dlq"), &held.content.id, fix.clone()).await.unwrap_err();
    assert!(refused.to_string().contains("is in flight"), "{refused}");
    let free = e.peek_messages(&me(), &qid("dlq"), &Default::default()).unwrap();
    let other = free.messages.iter().find(|p| p.message.content.id != held.content.id).unwrap();
    let fixed = e.update_message(&me(), &qid("dlq"), &other.message.content.id, fix).await.unwrap();
    assert_eq!((fixed.body.as_str(), fixed.id.as_str()), ("fixed", other.message.content.id.as_str()));
    assert_eq!(fixed.dead_letter_source_arn, other.message.content.dead_letter_source_arn, "its source is kept");

    let good = engine::Imported { body: "ok".into(), ..Default::default() };
    let bad = engine::Imported { body: String::new(), ..Default::default() };
    let refused = e.import_messages(&me(), &qid("dlq"), vec![good, bad]).await.unwrap_err();
    assert!(refused.to_string().starts_with("Messages[1]:"), "{refused}");
    let c = e.counts(&me(), &qid("dlq")).unwrap();
    assert_eq!((c.visible, c.in_flight), (1, 1), "nothing imported");
}

#[tokio::test]
async fn a_dlqs_tag_sets_its_loop_guard_over_the_servers_default() {
    let (e, _clock) = engine();
    sources_and_dlq(&e, &["src"], "dlq").await;
    dead_letter_all(&e, "src", &numbered("t", 2)).await;
    e.start_message_move_task(&me(), &arn(&e, "dlq"), None, None).await.unwrap();
    until_status(&e, "dlq", TaskStatus::Completed).await;
    fail_everything(&e, "src").await;
    let tags = attrs(&[(engine::MAX_REDRIVES_TAG, "1")]);
    e.tag_queue(&me(), &qid("dlq"), &tags).await.unwrap();
    e.start_message_move_task(&me(), &arn(&e, "dlq"), None, None).await.unwrap();
    let task = until_status(&e, "dlq", TaskStatus::Completed).await;
    assert_eq!((task.moved, task.progress.skipped, task.options.max_redrives), (0, 2, Some(1)));
    // 0: no limit.
    e.tag_queue(&me(), &qid("dlq"), &attrs(&[(engine::MAX_REDRIVES_TAG, "0")])).await.unwrap();
    e.start_message_move_task(&me(), &arn(&e, "dlq"), None, None).await.unwrap();
    let task = until_status(&e, "dlq", TaskStatus::Completed).await;
    assert_eq!((task.moved, task.options.max_redrives), (2, None));
}

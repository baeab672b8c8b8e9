//! Message move tasks, driven by a manual clock: the engine's own driver runs them, and the
//! tests move time instead of sleeping (real pauses only while a durable store commits on
//! its own thread).
#![allow(clippy::unwrap_used)] // a failed unwrap in a test helper is a failed test

use std::sync::Arc;
use std::time::Duration;

use engine::{Caller, Engine, Error, ManualClock, MemoryStore, TaskStatus};

mod common;
use common::tasks::*;
use common::*;

#[tokio::test]
async fn a_task_without_a_rate_moves_every_message_back_without_the_clock_moving() {
    let (e, _clock) = engine();
    sources_and_dlq(&e, &["src"], "dlq").await;
    let sent = numbered("m", 25);
    dead_letter_all(&e, "src", &sent).await;

    let handle = start(&e, "dlq", None, None).await;
    let task = until_status(&e, "dlq", TaskStatus::Completed).await;
    assert_eq!((task.moved, task.to_move), (25, 25));
    assert_eq!(task.failure_reason, None);
    assert_eq!(task.handle(), handle);
    assert_eq!(visible(&e, "dlq"), 0);
    assert_eq!(sorted(drain(&e, "src").await), sent, "each message exactly once");
}

#[tokio::test]
async fn a_rate_limited_task_moves_its_rate_per_clock_second_and_no_more() {
    let (e, clock) = engine();
    sources_and_dlq(&e, &["src"], "dlq").await;
    let sent = numbered("m", 25);
    dead_letter_all(&e, "src", &sent).await;

    start(&e, "dlq", None, Some(10)).await;
    let task = until_moved_and_held(&e, "dlq", 10).await;
    assert_eq!(task.status, TaskStatus::Running);
    assert_eq!((visible(&e, "dlq"), visible(&e, "src")), (15, 10));

    clock.advance(Duration::from_millis(999));
    until_moved_and_held(&e, "dlq", 10).await;
    clock.advance(Duration::from_millis(1));
    until_moved_and_held(&e, "dlq", 20).await;
    assert_eq!((visible(&e, "dlq"), visible(&e, "src")), (5, 20));

    clock.advance(Duration::from_secs(1));
    let done = until_status(&e, "dlq", TaskStatus::Completed).await;
    assert_eq!((done.moved, done.max_per_second), (25, Some(10)));
    assert_eq!(sorted(drain(&e, "src").await), sent);
}

#[tokio::test]
async fn a_cancelled_task_is_cancelling_until_its_next_step_then_cancelled_keeping_what_moved() {
    let (e, clock) = engine();
    sources_and_dlq(&e, &["src"], "dlq").await;
    let sent = numbered("c", 12);
    dead_letter_all(&e, "src", &sent).await;

    let handle = start(&e, "dlq", None, Some(5)).await;
    until_moved_and_held(&e, "dlq", 5).await;
    assert_eq!(e.cancel_message_move_task(&me(), &handle).await.unwrap(), 5);
    let task = until_moved_and_held(&e, "dlq", 5).await;
    assert_eq!(task.status, TaskStatus::Cancelling, "until the rate window reopens");
    let again = e.cancel_message_move_task(&me(), &handle).await.unwrap_err();
    assert_eq!(again, Error::InvalidParameterValue("Only active tasks can be cancelled.".into()));

    clock.advance(Duration::from_secs(1));
    let task = until_status(&e, "dlq", TaskStatus::Cancelled).await;
    assert_eq!((task.moved, task.to_move, task.failure_reason), (5, 12, None));
    clock.advance(Duration::from_secs(5));
    until_moved_and_held(&e, "dlq", 5).await;
    assert_eq!(visible(&e, "dlq"), 7, "the rest stays in the DLQ");
    let mut all = drain(&e, "src").await;
    assert_eq!(all.len(), 5);
    all.extend(drain(&e, "dlq").await);
    assert_eq!(sorted(all), sent, "nothing lost or duplicated");
}

#[tokio::test]
async fn a_full_speed_task_cancelled_at_once_moves_nothing_more() {
    let (e, _clock) = engine();
    sources_and_dlq(&e, &["src"], "dlq").await;
    dead_letter_all(&e, "src", &numbered("m", 30)).await;

    // Cancelled before the driver's first step (this test's thread has not let it run):
    // it sees CANCELLING there.
    let handle = start(&e, "dlq", None, None).await;
    assert_eq!(e.cancel_message_move_task(&me(), &handle).await.unwrap(), 0);
    let task = until_status(&e, "dlq", TaskStatus::Cancelled).await;
    assert_eq!(task.moved, 0);
    assert_eq!(visible(&e, "dlq"), 30);
}

#[tokio::test]
async fn deleting_the_destination_mid_task_fails_the_task_with_aws_reason() {
    let (e, clock) = engine();
    sources_and_dlq(&e, &["src"], "dlq").await;
    create(&e, "doomed", &[]).await;
    dead_letter_all(&e, "src", &numbered("f", 12)).await;

    start(&e, "dlq", Some("doomed"), Some(5)).await;
    until_moved_and_held(&e, "dlq", 5).await;
    e.delete_queue(&me(), &qid("doomed")).await.unwrap();
    clock.advance(Duration::from_secs(1));
    let task = until_status(&e, "dlq", TaskStatus::Failed).await;
    assert_eq!(task.failure_reason.as_deref(), Some("AWS.SimpleQueueService.NonExistentQueue"));
    assert_eq!((task.moved, task.to_move), (5, 12));
    assert_eq!(visible(&e, "dlq"), 7, "unmoved messages remain in the DLQ");

    // A new task may start after a failure, and takes the rest home.
    start(&e, "dlq", None, None).await;
    assert_eq!(until_status(&e, "dlq", TaskStatus::Completed).await.moved, 7);
    assert_eq!(visible(&e, "src"), 7);
}

#[tokio::test]
async fn a_message_with_no_source_to_return_to_fails_the_task() {
    let (e, _clock) = engine();
    sources_and_dlq(&e, &["src"], "dlq").await;
    // Sent straight to the DLQ: no DeadLetterQueueSourceArn, and the task names no destination.
    e.send_message(&me(), &qid("dlq"), message("stray", None)).await.unwrap();

    start(&e, "dlq", None, None).await;
    let task = until_status(&e, "dlq", TaskStatus::Failed).await;
    assert_eq!(task.failure_reason.as_deref(), Some("CouldNotDetermineMessageSource"));
    assert_eq!(task.moved, 0);
    assert_eq!(visible(&e, "dlq"), 1);
}

#[tokio::test]
async fn a_dlq_of_many_sources_sends_each_message_back_to_its_own_source() {
    let (e, _clock) = engine();
    let sources = ["alpha", "beta", "gamma"];
    sources_and_dlq(&e, &sources, "dlq").await;
    // Interleaved in the DLQ, so each batch is bound for several destinations.
    for round in 0..4 {
        for s in sources {
            dead_letter_all(&e, s, &numbered(&format!("{s}-{round}"), 300)).await;
        }
    }
    start(&e, "dlq", None, None).await;
    let task = until_status(&e, "dlq", TaskStatus::Completed).await;
    assert_eq!((task.moved, task.to_move), (3_600, 3_600));
    for s in sources {
        let back = drain(&e, s).await;
        assert_eq!(back.len(), 1_200, "{s}");
        assert!(back.iter().all(|b| b.starts_with(s)), "{s} got only its own messages");
    }
    assert_eq!(visible(&e, "dlq"), 0);
}

#[tokio::test]
async fn a_fifo_task_keeps_each_groups_order_and_a_group_waits_behind_its_held_head() {
    let (e, clock) = engine();
    sources_and_dlq(&e, &["src.fifo"], "dlq.fifo").await;
    let order = [("a1", "A"), ("b1", "B"), ("a2", "A"), ("a3", "A"), ("b2", "B"), ("c1", "C"), ("b3", "B")];
    let messages: Vec<_> = order.iter().map(|(b, g)| (b.to_string(), Some(*g))).collect();
    dead_letter(&e, "src.fifo", &messages).await;
    assert_eq!(visible(&e, "dlq.fifo"), 7);

    let in_order =
        |g: &str| order.iter().filter(|(_, group)| *group == g).map(|(b, _)| b.to_string()).collect::<Vec<_>>();
    let of_group = |bodies: &[String], g: &str| {
        bodies.iter().filter(|b| b.starts_with(&g.to_ascii_lowercase())).cloned().collect::<Vec<_>>()
    };

    // One group's head is held in flight in the DLQ: that group waits, the others move.
    let held = e.receive_message(&me(), &qid("dlq.fifo"), receive(1, Some(30))).await.unwrap();
    let held_group = held[0].content.group_id.clone().unwrap();
    start(&e, "dlq.fifo", None, None).await;
    let task = until_status(&e, "dlq.fifo", TaskStatus::Completed).await;
    assert_eq!(task.to_move, 7);
    assert_eq!(task.moved, 7 - in_order(&held_group).len() as u64);
    let back = drain(&e, "src.fifo").await;
    for g in ["A", "B", "C"] {
        let expected = if g == held_group { Vec::new() } else { in_order(g) };
        assert_eq!(of_group(&back, g), expected, "group {g}");
    }

    // Once the head is visible again, the next task takes its group home in order.
    clock.advance(Duration::from_secs(30));
    start(&e, "dlq.fifo", None, None).await;
    until_status(&e, "dlq.fifo", TaskStatus::Completed).await;
    assert_eq!(drain(&e, "src.fifo").await, in_order(&held_group));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_task_resumes_after_a_restart_without_losing_or_duplicating() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(START);
    let open = || open_durable(dir.path(), &clock);
    let e = open();
    sources_and_dlq(&e, &["src"], "dlq").await;
    let sent = numbered("d", 20);
    dead_letter_all(&e, "src", &sent).await;
    let handle = start(&e, "dlq", None, Some(5)).await;
    until_moved_and_held(&e, "dlq", 5).await;
    e.stop().await;
    drop(e);

    let e = open();
    let task = latest(&e, "dlq");
    assert_eq!((task.status, task.moved, task.to_move), (TaskStatus::Running, 5, 20));
    assert_eq!(task.handle(), handle, "the same task");
    e.resume_tasks();
    // It goes on where it stopped, at most 5 per clock second.
    until_moved_and_held(&e, "dlq", 10).await;
    assert_eq!((visible(&e, "src"), visible(&e, "dlq")), (10, 10), "every message in exactly one queue");
    for moved in [15, 20] {
        clock.advance(Duration::from_secs(1));
        until_moved_and_held(&e, "dlq", moved).await;
    }
    clock.advance(Duration::from_secs(1));
    until_status(&e, "dlq", TaskStatus::Completed).await;
    assert_eq!(sorted(drain(&e, "src").await), sent, "no message lost or duplicated");
    e.stop().await;
}

#[tokio::test]
async fn a_batch_the_store_cannot_commit_fails_the_task_with_an_internal_error() {
    // The reference store, set to fail its commits below: a full disk, as the engine sees it.
    let store = Arc::new(MemoryStore::default());
    let e = Arc::new(Engine::open(config(), Arc::new(ManualClock::new(START)), store.clone()).unwrap());
    sources_and_dlq(&e, &["src"], "dlq").await;
    dead_letter_all(&e, "src", &numbered("m", 30)).await;

    // The driver has not run yet (this test's thread has not let it): its first batch fails.
    start(&e, "dlq", None, None).await;
    store.set_failing(true);
    let task = until_status(&e, "dlq", TaskStatus::Failed).await;
    assert_eq!(
        task.failure_reason.as_deref(),
        Some("AWS.SimpleQueueService.InternalError: The service is unavailable: the message store could not save the change.")
    );
}

#[tokio::test]
async fn another_accounts_caller_can_neither_start_nor_list_nor_cancel_a_task_on_this_accounts_dlq() {
    let (e, _clock) = engine();
    sources_and_dlq(&e, &["src"], "dlq").await;
    let stranger = Caller::new("111111111111", None);
    let refused = e.start_message_move_task(&stranger, &arn(&e, "dlq"), None, None).await.unwrap_err();
    assert!(matches!(refused, Error::ResourceNotFound(_)), "{refused:?}");
    assert!(e.list_message_move_tasks(&me(), &arn(&e, "dlq"), None).unwrap().is_empty(), "nothing was started");
    let handle = start(&e, "dlq", None, None).await;
    assert!(matches!(e.list_message_move_tasks(&stranger, &arn(&e, "dlq"), None), Err(Error::ResourceNotFound(_))));
    assert!(matches!(e.cancel_message_move_task(&stranger, &handle).await, Err(Error::ResourceNotFound(_))));
    assert!(matches!(e.queue_for(&stranger, &qid("dlq")), Err(Error::AccessDenied(_))));
}

#[tokio::test]
async fn an_ended_task_is_listed_for_thirty_days_then_forgotten_also_by_the_store() {
    use engine::store::Store;
    use engine::Clock;
    let store = Arc::new(MemoryStore::default());
    let clock = ManualClock::new(START);
    let e = open(&store, &clock);
    sources_and_dlq(&e, &["src"], "dlq").await;
    dead_letter_all(&e, "src", &numbered("m", 3)).await;
    start(&e, "dlq", None, None).await;
    until_status(&e, "dlq", TaskStatus::Completed).await;
    let listed = |e: &Engine| e.list_message_move_tasks(&me(), &arn(e, "dlq"), Some(10)).unwrap().len();

    // A day short of the retention: still listed, and the sweep keeps it.
    clock.advance(Duration::from_secs(29 * 24 * 3600));
    e.sweep(clock.now());
    assert_eq!(listed(&e), 1);
    // Past it: the sweep forgets it, in memory and in the store (a restart does not bring it back).
    clock.advance(Duration::from_secs(2 * 24 * 3600));
    e.sweep(clock.now());
    assert_eq!(listed(&e), 0);
    e.stop().await;
    let restarted = open(&store, &clock);
    assert_eq!(listed(&restarted), 0);
    assert!(store.load().unwrap().tasks.is_empty());
}

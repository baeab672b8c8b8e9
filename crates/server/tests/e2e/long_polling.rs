//! ReceiveMessage with WaitTimeSeconds: wakes on send, on visibility and delay expiry, and
//! ends empty once the server's clock has passed the wait time.

use std::time::Duration;

use aws_sdk_sqs::operation::receive_message::ReceiveMessageOutput;
use aws_sdk_sqs::Client;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use crate::common::{real_pause, Harness};

/// Real time allowed for a woken long poll to come back.
const PROMPT: Duration = Duration::from_secs(3);

fn spawn_long_poll(client: &Client, url: &str, wait: Option<i32>) -> JoinHandle<ReceiveMessageOutput> {
    let request = client.receive_message().queue_url(url).set_wait_time_seconds(wait);
    tokio::spawn(async move { request.send().await.expect("long poll") })
}

async fn finishes_promptly(poll: JoinHandle<ReceiveMessageOutput>) -> ReceiveMessageOutput {
    timeout(PROMPT, poll).await.expect("the long poll came back within a few real seconds").expect("long poll task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_returns_as_soon_as_a_message_is_sent() {
    let h = Harness::start().await;
    let url = h.create_queue("wake-on-send").await;
    let poll = spawn_long_poll(&h.client, &url, Some(20));
    real_pause(300).await;
    assert!(!poll.is_finished(), "an empty queue keeps the poll waiting");
    h.send(&url, "wake up").await;
    let output = finishes_promptly(poll).await;
    assert_eq!(output.messages().len(), 1);
    assert_eq!(output.messages()[0].body(), Some("wake up"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_returns_at_once_when_a_message_is_already_waiting() {
    let h = Harness::start().await;
    let url = h.create_queue("already-there").await;
    h.send(&url, "ready").await;
    let output = finishes_promptly(spawn_long_poll(&h.client, &url, Some(20))).await;
    assert_eq!(output.messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_returns_empty_once_the_clock_passes_its_wait_time_and_not_before() {
    let h = Harness::start().await;
    let url = h.create_queue("times-out").await;
    let poll = spawn_long_poll(&h.client, &url, Some(20));
    real_pause(300).await;
    // Advance one simulated second at a time, giving the server real time to react, so
    // the test does not depend on exactly when the request reached the server.
    let mut advanced = 0u64;
    while !poll.is_finished() && advanced < 40 {
        h.advance(1);
        advanced += 1;
        real_pause(100).await;
        if advanced < 20 {
            assert!(!poll.is_finished(), "the poll ended after only {advanced} s of its 20 s");
        }
    }
    assert!(poll.is_finished(), "the poll did not end after 40 simulated seconds");
    let output = finishes_promptly(poll).await;
    assert!(output.messages().is_empty(), "a timed-out long poll is empty");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_wakes_when_an_in_flight_message_becomes_visible_again() {
    let h = Harness::start().await;
    let url = h.create_queue_with("wake-on-visibility", &[("VisibilityTimeout", "10")]).await;
    h.send(&url, "comes back").await;
    assert_eq!(h.receive(&url, 1).await.len(), 1);
    let poll = spawn_long_poll(&h.client, &url, Some(20));
    real_pause(300).await;
    assert!(!poll.is_finished(), "the only message is in flight");
    h.advance(11);
    let output = finishes_promptly(poll).await;
    assert_eq!(output.messages().len(), 1);
    assert_eq!(output.messages()[0].body(), Some("comes back"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_wakes_when_a_delayed_message_becomes_available() {
    let h = Harness::start().await;
    let url = h.create_queue("wake-on-delay").await;
    h.client
        .send_message()
        .queue_url(&url)
        .message_body("was delayed")
        .delay_seconds(5)
        .send()
        .await
        .expect("delayed send");
    let poll = spawn_long_poll(&h.client, &url, Some(20));
    real_pause(300).await;
    assert!(!poll.is_finished(), "the only message is delayed");
    h.advance(6);
    let output = finishes_promptly(poll).await;
    assert_eq!(output.messages().len(), 1);
    assert_eq!(output.messages()[0].body(), Some("was delayed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_receive_wait_time_makes_a_plain_receive_long_poll() {
    let h = Harness::start().await;
    let url = h.create_queue_with("queue-wait", &[("ReceiveMessageWaitTimeSeconds", "20")]).await;
    let poll = spawn_long_poll(&h.client, &url, None);
    real_pause(300).await;
    assert!(!poll.is_finished(), "the queue's 20 s wait applies");
    h.send(&url, "arrived").await;
    let output = finishes_promptly(poll).await;
    assert_eq!(output.messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_time_of_zero_overrides_the_queue_receive_wait_time() {
    let h = Harness::start().await;
    let url = h.create_queue_with("short-poll", &[("ReceiveMessageWaitTimeSeconds", "20")]).await;
    let output = finishes_promptly(spawn_long_poll(&h.client, &url, Some(0))).await;
    assert!(output.messages().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_long_polls_each_get_a_different_message() {
    let h = Harness::start().await;
    let url = h.create_queue("fan-out").await;
    let first = spawn_long_poll(&h.client, &url, Some(20));
    let second = spawn_long_poll(&h.client, &url, Some(20));
    real_pause(300).await;
    h.send(&url, "one").await;
    h.send(&url, "two").await;
    let a = finishes_promptly(first).await;
    let b = finishes_promptly(second).await;
    let mut bodies: Vec<String> =
        a.messages().iter().chain(b.messages()).map(|m| m.body().expect("body").to_string()).collect();
    bodies.sort();
    assert_eq!(bodies, vec!["one".to_string(), "two".to_string()], "each message delivered once");
}

/// Several consumers long-poll one queue; one takes the message and dies. The others wake
/// when its visibility timeout ends, though the message went in flight after they started
/// waiting (AWS: long polling returns a message as soon as one is available).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_long_poll_wakes_when_a_message_taken_after_it_started_comes_back() {
    let h = Harness::start().await;
    let url = h.create_queue("wake-on-other-receive").await;
    let taker = {
        let request = h.client.receive_message().queue_url(&url).wait_time_seconds(20).visibility_timeout(5);
        tokio::spawn(async move { request.send().await.expect("long poll") })
    };
    real_pause(200).await;
    let waiter = spawn_long_poll(&h.client, &url, Some(20));
    real_pause(200).await;
    h.send(&url, "taken then dropped").await;
    assert_eq!(finishes_promptly(taker).await.messages().len(), 1);
    real_pause(200).await;
    assert!(!waiter.is_finished(), "the message is in flight");
    h.advance(6);
    let output = finishes_promptly(waiter).await;
    assert_eq!(output.messages()[0].body(), Some("taken then dropped"));
}

/// A ChangeMessageVisibility that shortens the timeout wakes a waiting poll when it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shortened_visibility_timeout_wakes_a_waiting_long_poll_when_it_ends() {
    let h = Harness::start().await;
    let url = h.create_queue_with("wake-on-shortened", &[("VisibilityTimeout", "30")]).await;
    h.send(&url, "released early").await;
    let handle = h.receive(&url, 1).await[0].receipt_handle().unwrap().to_string();
    let poll = spawn_long_poll(&h.client, &url, Some(20));
    real_pause(300).await;
    h.client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(&handle)
        .visibility_timeout(5)
        .send()
        .await
        .unwrap();
    real_pause(200).await;
    h.advance(6);
    let output = finishes_promptly(poll).await;
    assert_eq!(output.messages()[0].body(), Some("released early"));
}

/// A delayed send wakes one poll, which may time out before the delay ends; a poll still
/// waiting then gets the message when the delay ends, not at its own deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_message_reaches_a_poll_still_waiting_when_the_delay_ends() {
    let h = Harness::start().await;
    let url = h.create_queue("wake-after-delay").await;
    let early = spawn_long_poll(&h.client, &url, Some(20));
    real_pause(200).await;
    h.advance(10);
    let late = spawn_long_poll(&h.client, &url, Some(20));
    real_pause(200).await;
    h.advance(5);
    h.client.send_message().queue_url(&url).message_body("delayed").delay_seconds(10).send().await.unwrap();
    real_pause(200).await;
    h.advance(5); // the early poll's 20 s end
    assert!(finishes_promptly(early).await.messages().is_empty());
    real_pause(200).await;
    assert!(!late.is_finished(), "still delayed");
    h.advance(5); // the delay ends; the late poll has 5 s left
    let output = finishes_promptly(late).await;
    assert_eq!(output.messages()[0].body(), Some("delayed"));
}

/// Another client's GetQueueAttributes brings the index up to date (the message whose
/// timeout ended becomes visible) and wakes nobody; the queue's timer must still wake the
/// waiting poll. Several rounds, since which runs first — the timer or the other client —
/// is up to the scheduler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_long_poll_wakes_even_when_another_client_looked_at_the_queue_first() {
    let h = Harness::start().await;
    let url = h.create_queue("wake-after-observer").await;
    h.send(&url, "comes back").await;
    for round in 0..5 {
        let got = h.client.receive_message().queue_url(&url).visibility_timeout(5).send().await.unwrap();
        assert_eq!(got.messages().len(), 1, "round {round}");
        let poll = spawn_long_poll(&h.client, &url, Some(20));
        real_pause(200).await;
        h.advance(6);
        h.attributes(&url).await;
        let output = finishes_promptly(poll).await;
        assert_eq!(output.messages().len(), 1, "round {round}");
        h.client
            .change_message_visibility()
            .queue_url(&url)
            .receipt_handle(output.messages()[0].receipt_handle().unwrap())
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
    }
}

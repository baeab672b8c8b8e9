//! Peek: a queue's messages as they are, without receiving them — what AWS has no call for.
//!
//! A peek reads the queue's index under its lock a chunk at a time (enqueue order, oldest
//! first), then reads the bodies from the store outside the lock. It changes nothing: no receive
//! count, no visibility, no dead-letter hand-off, no store write — not even the retention drop a
//! receive would do (a message past its retention is skipped instead). Pages continue from an
//! opaque token naming the last (enqueue time, seq) returned, so a page costs O(log n + page)
//! however deep the backlog; with a body filter one call examines at most `SCAN_LIMIT`
//! messages and hands back a token to go on from, so a filter that matches nothing in a
//! million messages answers in bounded time instead of holding a request for seconds.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use std::ops::ControlFlow;

use crate::clock::Millis;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::fifo::sequence_number;
use crate::filter::{Matcher, MessageFilter};
use crate::message::SharedContent;
use crate::queue::{Queue, Received};
use crate::queue_id::{Caller, QueueId};
use crate::store::{MessageState, Store};

/// Most messages one peek returns (and its default).
pub const MAX_PEEK_RESULTS: usize = 50;
/// Most messages one page of an export returns (and its default).
pub const MAX_EXPORT_RESULTS: usize = 1000;
/// Most messages one peek looks at when a filter skips some.
pub const SCAN_LIMIT: usize = 10_000;
/// Index entries copied per lock hold.
const CHUNK: usize = 1000;
/// Contents read on several threads from this many on, by at most this many threads.
const PARALLEL_READ_MIN: usize = 200;
const MAX_READ_THREADS: usize = 4;

#[derive(Debug, Clone, Default)]
pub struct PeekOptions {
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
    /// Only messages that match.
    pub filter: MessageFilter,
    /// Pages for an export: up to `MAX_EXPORT_RESULTS` messages.
    pub export: bool,
}

/// Where a peeked message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeekState {
    /// Visible: the next receive may get it.
    Available,
    /// Received, its visibility timeout running.
    InFlight,
    /// Sent with a delay that has not ended.
    Delayed,
}

impl PeekState {
    pub fn as_str(self) -> &'static str {
        match self {
            PeekState::Available => "Available",
            PeekState::InFlight => "InFlight",
            PeekState::Delayed => "Delayed",
        }
    }
}

/// One message as a peek sees it. `message` carries no receipt handle: nothing was received.
#[derive(Debug, Clone)]
pub struct Peeked {
    pub message: Received,
    pub state: PeekState,
}

#[derive(Debug, Clone, Default)]
pub struct PeekPage {
    pub messages: Vec<Peeked>,
    /// Present when messages after this page may remain (or, with a filter, remain unexamined).
    pub next_token: Option<String>,
}

/// What a count found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counted {
    /// Messages the filter takes (and, for a redrive, the loop guard lets go).
    pub matching: u64,
    /// Messages the filter takes that the loop guard would leave.
    pub looped: u64,
    /// Messages looked at.
    pub examined: u64,
}

impl Engine {
    /// The queue's messages from `next_token` on, oldest first, read without receiving them.
    pub fn peek_messages(&self, caller: &Caller, id: &QueueId, options: &PeekOptions) -> Result<PeekPage> {
        let most = if options.export { MAX_EXPORT_RESULTS } else { MAX_PEEK_RESULTS };
        let max = match options.max_results {
            None => most,
            Some(n) if (1..=most as i64).contains(&n) => n as usize,
            Some(n) => {
                let reason = format!("Must be between 1 and {most}, if provided.");
                return Err(Error::invalid_parameter(n, "MaxResults", &reason));
            }
        };
        let matcher = options.filter.check()?;
        let cursor = options.next_token.as_deref().map(decode_cursor).transpose()?;
        let queue = self.queue_for(caller, id)?;
        let now = self.clock().now();
        let mut out = Vec::new();
        let mut examined = 0;
        let stopped = scan(&queue, &**self.store(), now, cursor, |seq, m, content, fifo| {
            examined += 1;
            if matcher.matches(&content) {
                out.push(peeked(seq, m, content, fifo, now));
            }
            if out.len() == max || examined >= SCAN_LIMIT {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        Ok(PeekPage { messages: out, next_token: stopped.map(encode_cursor) })
    }

    /// How many of the queue's messages a filter takes: a scan of the whole queue, changing
    /// nothing.
    pub fn count_messages(&self, caller: &Caller, id: &QueueId, filter: &MessageFilter) -> Result<Counted> {
        let matcher = filter.check()?;
        let queue = self.queue_for(caller, id)?;
        count(&queue, &**self.store(), self.clock().now(), u64::MAX, &matcher, None)
    }
}

/// How many messages of `queue` below seq `boundary` the filter takes, and of those how many
/// a loop guard of `max_redrives` would leave.
pub(crate) fn count(
    queue: &Queue,
    store: &dyn Store,
    now: Millis,
    boundary: u64,
    matcher: &Matcher<'_>,
    max_redrives: Option<u32>,
) -> Result<Counted> {
    scan_matching(queue, store, now, boundary, matcher, max_redrives, |_| {})
}

/// `count`, handing each message counted as matching to `each`.
pub(crate) fn scan_matching(
    queue: &Queue,
    store: &dyn Store,
    now: Millis,
    boundary: u64,
    matcher: &Matcher<'_>,
    max_redrives: Option<u32>,
    mut each: impl FnMut(Peeked),
) -> Result<Counted> {
    let mut counted = Counted::default();
    scan(queue, store, now, None, |seq, m, content, fifo| {
        if seq < boundary {
            counted.examined += 1;
            if matcher.matches(&content) {
                let looped = max_redrives.is_some_and(|max| content.redrives.as_ref().is_some_and(|r| r.count >= max));
                if looped {
                    counted.looped += 1;
                } else {
                    counted.matching += 1;
                    each(peeked(seq, m, content, fifo, now));
                }
            }
        }
        ControlFlow::Continue(())
    })?;
    Ok(counted)
}

/// The contents of `seqs`, read by up to one thread per core: reading and decoding bodies is
/// what a scan spends its time on, and a durable store serves reads on several connections.
fn read_in_parallel(store: &dyn Store, uid: u64, seqs: &[u64]) -> Result<Vec<Option<SharedContent>>> {
    let unavailable = |e: crate::store::StoreError| Error::ServiceUnavailable(e.to_string());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_READ_THREADS);
    if threads < 2 || seqs.len() < PARALLEL_READ_MIN {
        return store.contents(uid, seqs).map_err(unavailable);
    }
    let part = seqs.len().div_ceil(threads);
    let parts: Vec<_> = std::thread::scope(|scope| {
        let running: Vec<_> = seqs.chunks(part).map(|p| scope.spawn(move || store.contents(uid, p))).collect();
        running.into_iter().map(|t| t.join()).collect()
    });
    let mut out = Vec::with_capacity(seqs.len());
    for part in parts {
        let read = part.map_err(|_| Error::ServiceUnavailable("a read of the store stopped".into()))?;
        out.extend(read.map_err(unavailable)?);
    }
    Ok(out)
}

fn peeked(seq: u64, m: &MessageState, content: SharedContent, fifo: bool, now: Millis) -> Peeked {
    let state = if m.visible_at <= now {
        PeekState::Available
    } else if m.receive_count == 0 {
        PeekState::Delayed
    } else {
        PeekState::InFlight
    };
    Peeked {
        message: Received {
            content,
            sequence_number: fifo.then(|| sequence_number(seq)),
            receipt_handle: String::new(),
            receive_count: m.receive_count,
            first_receive_at: m.first_receive_at,
        },
        state,
    }
}

/// Visit the queue's messages after `cursor`, oldest first, with their contents (a message
/// past its retention, or deleted since its chunk was copied, is passed over) until `visit`
/// breaks; returns the cursor to go on from then, `None` once every message was visited.
/// The index is copied a chunk at a time under the queue's lock, the bodies read outside it.
pub(crate) fn scan(
    queue: &Queue,
    store: &dyn Store,
    now: Millis,
    mut cursor: Option<(Millis, u64)>,
    mut visit: impl FnMut(u64, &MessageState, SharedContent, bool) -> ControlFlow<()>,
) -> Result<Option<(Millis, u64)>> {
    loop {
        let (chunk, retention_ms, fifo) = {
            let state = queue.state.lock();
            if state.deleted {
                return Err(Error::QueueDoesNotExist);
            }
            let retention = u64::from(state.attrs.message_retention_period) * 1000;
            (state.by_age_after(cursor, CHUNK), retention, state.fifo.is_some())
        };
        let exhausted = chunk.len() < CHUNK;
        let seqs: Vec<u64> = chunk.iter().map(|&(seq, _)| seq).collect();
        let bodies = read_in_parallel(store, queue.uid, &seqs)?;
        for ((seq, m), body) in chunk.into_iter().zip(bodies) {
            cursor = Some((m.enqueued_at, seq));
            if m.enqueued_at.saturating_add(retention_ms) <= now {
                continue;
            }
            let Some(content) = body else { continue };
            if visit(seq, &m, content, fifo).is_break() {
                return Ok(cursor);
            }
        }
        if exhausted {
            return Ok(None);
        }
    }
}

fn encode_cursor((enqueued_at, seq): (Millis, u64)) -> String {
    URL_SAFE_NO_PAD.encode(format!("peek:{enqueued_at}:{seq}"))
}

fn decode_cursor(token: &str) -> Result<(Millis, u64)> {
    let invalid = || Error::InvalidParameterValue("Invalid NextToken value.".into());
    let text = URL_SAFE_NO_PAD.decode(token).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(invalid)?;
    let mut parts = text.strip_prefix("peek:").ok_or_else(invalid)?.split(':');
    let at = parts.next().and_then(|p| p.parse().ok()).ok_or_else(invalid)?;
    let seq = parts.next().and_then(|p| p.parse().ok()).ok_or_else(invalid)?;
    if parts.next().is_some() {
        return Err(invalid());
    }
    Ok((at, seq))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::message::NewMessage;
    use crate::{EngineConfig, ManualClock, ReceiveOptions};

    const ACCOUNT: &str = "000000000000";

    fn engine() -> (Engine, ManualClock) {
        let clock = ManualClock::new(1_700_000_000_000);
        let config = EngineConfig { region: "us-east-1".into(), account_id: ACCOUNT.into(), ..Default::default() };
        (Engine::in_memory(config, Arc::new(clock.clone())), clock)
    }

    fn me() -> Caller {
        Caller::new(ACCOUNT, None)
    }

    fn qid(name: &str) -> QueueId {
        QueueId::new(ACCOUNT, name)
    }

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    async fn create(e: &Engine, name: &str, attributes: &BTreeMap<String, String>) {
        e.create_queue(&me(), name, attributes, &BTreeMap::new()).await.unwrap();
    }

    async fn send(e: &Engine, q: &str, body: &str) {
        e.send_message(&me(), &qid(q), NewMessage { body: body.into(), ..Default::default() }).await.unwrap();
    }

    fn peek(e: &Engine, q: &str, options: &PeekOptions) -> Result<PeekPage> {
        e.peek_messages(&me(), &qid(q), options)
    }

    fn bodies(page: &PeekPage) -> Vec<String> {
        page.messages.iter().map(|p| p.message.content.body.clone()).collect()
    }

    #[tokio::test]
    async fn a_peek_lists_messages_oldest_first_and_changes_nothing() {
        let (e, clock) = engine();
        let policy = r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":"1"}"#;
        create(&e, "dlq", &BTreeMap::new()).await;
        create(&e, "src", &attrs(&[("RedrivePolicy", policy)])).await;
        for b in ["one", "two", "three"] {
            send(&e, "src", b).await;
            clock.advance(Duration::from_millis(1));
        }
        // Peeking at a queue with maxReceiveCount 1, many times, moves nothing to the DLQ.
        for _ in 0..3 {
            let page = peek(&e, "src", &PeekOptions::default()).unwrap();
            assert_eq!(bodies(&page), ["one", "two", "three"]);
            assert!(page.messages.iter().all(|p| p.message.receive_count == 0 && p.state == PeekState::Available));
            assert_eq!(page.next_token, None);
        }
        let counts = e.counts(&me(), &qid("src")).unwrap();
        assert_eq!((counts.visible, counts.in_flight), (3, 0));
        let one = ReceiveOptions { max_messages: Some(1), wait_time_seconds: Some(0), ..Default::default() };
        let got = e.receive_message(&me(), &qid("src"), one).await.unwrap();
        assert_eq!(got[0].receive_count, 1, "the peeks did not count as receives");
        let page = peek(&e, "src", &PeekOptions::default()).unwrap();
        assert_eq!(page.messages[0].state, PeekState::InFlight);
        assert_eq!(page.messages[0].message.receive_count, 1);
        assert_eq!(e.counts(&me(), &qid("src")).unwrap().in_flight, 1, "the peek left the received message in flight");
    }

    #[tokio::test]
    async fn pages_follow_the_token_and_a_body_filter_keeps_only_matches() {
        let (e, clock) = engine();
        create(&e, "q", &BTreeMap::new()).await;
        for i in 0..120 {
            send(&e, "q", &format!("{{\"order\":{i},\"kind\":\"{}\"}}", if i % 10 == 0 { "refund" } else { "sale" }))
                .await;
            clock.advance(Duration::from_millis(1));
        }
        let mut seen = Vec::new();
        let mut token = None;
        loop {
            let page = peek(&e, "q", &PeekOptions { next_token: token, ..Default::default() }).unwrap();
            assert!(page.messages.len() <= 50);
            seen.extend(bodies(&page));
            token = page.next_token;
            if token.is_none() {
                break;
            }
        }
        assert_eq!(seen.len(), 120);
        assert!(seen[0].contains("\"order\":0,") && seen[119].contains("\"order\":119,"));
        let refunds = PeekOptions {
            filter: MessageFilter { body_contains: Some("refund".into()), ..Default::default() },
            ..Default::default()
        };
        assert_eq!(peek(&e, "q", &refunds).unwrap().messages.len(), 12);
        let small = PeekOptions { max_results: Some(5), ..Default::default() };
        assert_eq!(peek(&e, "q", &small).unwrap().messages.len(), 5);
    }

    #[tokio::test]
    async fn bad_limits_tokens_and_queues_are_refused_in_the_apis_words() {
        let (e, _) = engine();
        create(&e, "q", &BTreeMap::new()).await;
        let too_many = PeekOptions { max_results: Some(51), ..Default::default() };
        assert_eq!(
            peek(&e, "q", &too_many).unwrap_err().to_string(),
            "Value 51 for parameter MaxResults is invalid. Reason: Must be between 1 and 50, if provided."
        );
        let token = PeekOptions { next_token: Some("garbage".into()), ..Default::default() };
        assert_eq!(peek(&e, "q", &token).unwrap_err().to_string(), "Invalid NextToken value.");
        assert!(matches!(peek(&e, "nope", &PeekOptions::default()), Err(Error::QueueDoesNotExist)));
        let stranger = Caller::new("111111111111", None);
        assert!(
            matches!(e.peek_messages(&stranger, &qid("q"), &PeekOptions::default()), Err(Error::AccessDenied(_))),
            "another account's queue is not peeked"
        );
    }
}

//! One queue's messages and the index that makes receive, delete and visibility
//! changes cost O(log n) whatever the backlog.
//!
//! Every message is in exactly one state: Delayed or InFlight (both indexed in `pending`
//! by the time they become visible), or Visible (indexed in `ready` by arrival order).
//! `advance(now)` moves due pending messages to `ready` and drops expired ones; counts are
//! kept as states change, so the approximate counts are O(1). Every change that must
//! survive a restart is also pushed as a `Change` for the store.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};
use tokio::sync::Notify;

use crate::ascending::AscendingSet;
use crate::attributes::QueueAttributes;
use crate::clock::{Clock, Millis};
use crate::dlq::HandOff;
use crate::error::{Error, Result};
use crate::fifo::{sequence_number, Accepted, FifoIndex, GroupId};
use crate::message::SharedContent;
use crate::queue_id::QueueId;
use crate::receipt::ReceiptHandle;
use crate::seq_map::SeqMap;
use crate::store::{Change, LoadedQueue, MessageState, QueueRecord, Store};

/// AWS's cap on in-flight messages of a standard queue.
pub const MAX_IN_FLIGHT: usize = 120_000;
/// Most long polls one change wakes at once.
pub const MAX_WAKE: usize = 64;
/// A message's visibility can never be extended past 12 hours from its receive.
pub const MAX_VISIBILITY_MS: u64 = 43_200_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Delayed,
    Visible,
    InFlight,
}

impl State {
    /// The state of a stored message at `now`.
    fn of(m: &MessageState, now: Millis) -> State {
        if m.visible_at <= now {
            State::Visible
        } else if m.receive_count == 0 {
            State::Delayed
        } else {
            State::InFlight
        }
    }
}

/// One message in the index: 32 bytes, so that a million stored messages cost little
/// memory (a FIFO message's group is kept in the `FifoIndex`; its body in the store, read at
/// each delivery). Its times are kept as offsets from its enqueue time: a message stays at
/// most 14 days (the longest retention) and a 12-hour visibility timeout past it, well inside
/// the ±24 days of an `i32` of milliseconds. An offset beyond that is clamped, which only a
/// message already past its retention, about to be dropped, could reach.
#[derive(Debug, Clone, Copy)]
struct Slot {
    enqueued_at: Millis,
    visible: i32,
    received: i32,
    /// `NEVER` until the first receive.
    first_receive: i32,
    receive_count: u32,
    nonce: u32,
    state: State,
}

impl Slot {
    const NEVER: i32 = i32::MIN;

    fn new(state: State, m: MessageState) -> Slot {
        let mut slot = Slot {
            enqueued_at: m.enqueued_at,
            visible: 0,
            received: 0,
            first_receive: Slot::NEVER,
            receive_count: 0,
            nonce: 0,
            state,
        };
        slot.set(m);
        slot
    }

    /// The message's record, as the store keeps it.
    fn m(&self) -> MessageState {
        let at = |offset: i32| self.enqueued_at.saturating_add_signed(i64::from(offset));
        MessageState {
            enqueued_at: self.enqueued_at,
            visible_at: at(self.visible),
            receive_count: self.receive_count,
            first_receive_at: if self.first_receive == Slot::NEVER { 0 } else { at(self.first_receive) },
            received_at: at(self.received),
            nonce: self.nonce,
        }
    }

    fn set(&mut self, m: MessageState) {
        let offset = |t: Millis| {
            let d = i128::from(t) - i128::from(m.enqueued_at);
            d.clamp(i128::from(Slot::NEVER + 1), i128::from(i32::MAX)) as i32
        };
        self.enqueued_at = m.enqueued_at;
        self.visible = offset(m.visible_at);
        self.received = offset(m.received_at);
        self.first_receive = if m.first_receive_at == 0 { Slot::NEVER } else { offset(m.first_receive_at) };
        self.receive_count = m.receive_count;
        self.nonce = m.nonce;
    }

    fn visible_at(&self) -> Millis {
        self.enqueued_at.saturating_add_signed(i64::from(self.visible))
    }
}

/// Take `seq` out of `ready`, whatever its slot says of it now.
fn unready(ready: &mut AscendingSet<u64>, messages: &Slots, seq: u64) {
    ready.remove(seq, |s| visible(messages, s));
}

/// Whether the message at `seq` is visible: is in `ready`.
fn visible(messages: &Slots, seq: u64) -> bool {
    messages.get(&seq).is_some_and(|s| s.state == State::Visible)
}

/// The index's slots by seq (`SeqMap`: 40 bytes a message in a dense vector, and a table of
/// 4-byte positions, where a hash map's buckets of whole slots sit half empty after it doubles).
type Slots = SeqMap<Slot>;

/// How many bodies a restore reads from the store at once (a FIFO queue's, for their groups).
const RESTORE_CHUNK: usize = 1024;

/// From how many messages a restore builds its index on two threads (a thread costs more
/// than a small queue's whole index).
const PARALLEL_RESTORE: usize = 50_000;

/// How many seqs a durable reservation covers (see `SeqCounter`).
pub(crate) const SEQ_BLOCK: u64 = 1 << 20;

/// The engine's message numbering, shared by its queues: seqs are unique across queues, so a
/// store can key a body by its seq alone, and each queue's seqs rise in arrival order.
///
/// No seq is ever handed out twice, restarts included (else a receipt handle of a deleted
/// message could name a new one, or a FIFO sequence number go backwards): the store keeps a
/// limit below which seqs may have been used, raised a block at a time in the same commit as
/// the message that needs it — half a block ahead, so no seq is used past a limit that is not
/// durable unless half a million messages are sent and deleted before that commit lands.
#[derive(Debug)]
pub(crate) struct SeqCounter {
    next: AtomicU64,
    /// The highest limit asked of the store so far.
    reserved: AtomicU64,
}

pub(crate) type Seqs = Arc<SeqCounter>;

impl SeqCounter {
    pub fn new() -> Seqs {
        Arc::new(SeqCounter { next: AtomicU64::new(1), reserved: AtomicU64::new(0) })
    }

    /// Hand out seqs from `seq` on at the least (restoring what a store kept).
    pub fn at_least(&self, seq: u64) {
        self.next.fetch_max(seq, Ordering::Relaxed);
    }

    /// The limit a store kept: seqs below it may have been used before.
    pub fn restore_limit(&self, limit: u64) {
        self.at_least(limit);
        self.reserved.fetch_max(limit, Ordering::Relaxed);
    }

    /// After a failed commit: a reservation may have been rolled back with it, so ask
    /// again from what the store kept.
    pub fn forget_reservations_since(&self, durable_limit: u64) {
        self.reserved.store(durable_limit, Ordering::Relaxed);
    }

    /// The seq the next message will get.
    pub fn peek(&self) -> u64 {
        self.next.load(Ordering::Relaxed)
    }

    /// A new seq; pushes a reservation when the durable limit comes within half a block.
    pub fn take(&self, changes: &mut Vec<Change>) -> u64 {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        if seq + SEQ_BLOCK / 2 >= self.reserved.load(Ordering::Relaxed) {
            let limit = seq + SEQ_BLOCK;
            if self.reserved.fetch_max(limit, Ordering::Relaxed) < limit {
                changes.push(Change::ReserveSeqs { below: limit });
            }
        }
        seq
    }
}

/// A message handed to a consumer.
#[derive(Debug, Clone)]
pub struct Received {
    pub content: SharedContent,
    /// FIFO queues only.
    pub sequence_number: Option<String>,
    pub receipt_handle: String,
    pub receive_count: u32,
    pub first_receive_at: Millis,
}

/// Running totals since the server started, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub sent: u64,
    pub received: u64,
    pub deleted: u64,
    /// Moved from this queue to its dead-letter queue.
    pub dead_lettered: u64,
    /// Arrived in this queue from a move task.
    pub redriven: u64,
    /// Handed to this queue by a source's RedrivePolicy.
    pub dead_letters_in: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub visible: usize,
    pub in_flight: usize,
    pub delayed: usize,
}

/// Where a receive hands off messages, and by which rule (`dlq::HandOff`).
pub(crate) struct DeadLetter<'a> {
    pub state: &'a mut QueueState,
    pub uid: u64,
    pub rule: HandOff<'a>,
    /// How many messages this receive moved.
    pub moved: usize,
}

/// A queue: fixed identity plus mutable state behind one lock.
pub struct Queue {
    pub id: QueueId,
    pub arn: String,
    /// Distinguishes this queue from an earlier one of the same name (receipt handles, store keys).
    pub uid: u64,
    pub created_at: Millis,
    /// The name its record is stored under (`Engine::stored_name`): kept as it was given.
    stored_name: String,
    /// The queue's FifoQueue attribute, which never changes: readable without the lock.
    fifo: bool,
    pub(crate) state: Mutex<QueueState>,
    /// Woken whenever a message may have become receivable.
    pub(crate) arrivals: Notify,
    /// The queue's one wake-up timer: when it fires, and which arming it is.
    timer: Mutex<Timer>,
    /// `timer.at`, readable without the lock (0: not armed), so the common case — a timer
    /// already set early enough — costs one atomic load.
    timer_at: AtomicU64,
}

#[derive(Debug, Default)]
struct Timer {
    at: Option<Millis>,
    generation: u64,
}

pub(crate) struct QueueState {
    pub attrs: QueueAttributes,
    pub last_modified: Millis,
    pub tags: BTreeMap<String, String>,
    pub last_purge: Option<Millis>,
    pub deleted: bool,
    messages: Slots,
    ready: AscendingSet<u64>,
    pending: BTreeSet<(Millis, u64)>,
    by_age: AscendingSet<(Millis, u64)>,
    delayed: usize,
    in_flight: usize,
    seqs: Seqs,
    pub(crate) fifo: Option<FifoIndex>,
    pub stats: Stats,
}

impl Queue {
    pub(crate) fn new(id: QueueId, arn: String, record: QueueRecord, seqs: Seqs) -> Arc<Queue> {
        let is_fifo = record.attributes.is_fifo();
        let fifo = is_fifo.then(FifoIndex::default);
        Arc::new(Queue {
            id,
            arn,
            uid: record.uid,
            stored_name: record.name,
            fifo: is_fifo,
            created_at: record.created_at,
            state: Mutex::new(QueueState {
                attrs: record.attributes,
                last_modified: record.last_modified,
                tags: record.tags,
                last_purge: record.last_purge,
                deleted: false,
                messages: Slots::default(),
                ready: AscendingSet::default(),
                pending: BTreeSet::new(),
                by_age: AscendingSet::default(),
                delayed: 0,
                in_flight: 0,
                seqs,
                fifo,
                stats: Stats::default(),
            }),
            arrivals: Notify::new(),
            timer: Mutex::new(Timer::default()),
            timer_at: AtomicU64::new(0),
        })
    }

    /// Make sure long polls wake when the queue's next pending message (in flight or delayed)
    /// becomes visible: one timer per queue, set to the earliest such time, wakes as many
    /// polls as messages became due, then sets itself to the next. Called, with the queue's
    /// `next_pending_from(now)` read under its lock, after every change that may add an
    /// earlier pending message (a receive, a send, a visibility change).
    pub(crate) fn arm_timer_at(self: &Arc<Queue>, next: Option<Millis>, clock: &Arc<dyn Clock>) {
        let Some(at) = next else { return };
        let armed = self.timer_at.load(Ordering::Acquire);
        if armed != 0 && armed <= at {
            return;
        }
        let generation = {
            let mut timer = self.timer.lock();
            if timer.at.is_some_and(|t| t <= at) {
                return;
            }
            timer.generation += 1;
            timer.at = Some(at);
            self.timer_at.store(at, Ordering::Release);
            timer.generation
        };
        let (queue, clock) = (Arc::downgrade(self), clock.clone());
        tokio::spawn(async move {
            clock.sleep_until(at).await;
            let Some(queue) = queue.upgrade() else { return };
            {
                let mut timer = queue.timer.lock();
                if timer.generation != generation {
                    return; // re-armed earlier meanwhile: that timer took over
                }
                timer.at = None;
                queue.timer_at.store(0, Ordering::Release);
            }
            let due = {
                let state = queue.state.lock();
                if state.deleted {
                    return;
                }
                state.timer_tick(clock.now())
            };
            queue.wake(due.0);
            queue.arm_timer_at(due.1, &clock);
        });
    }

    /// Rebuild a queue and its index from what a store kept. A FIFO queue reads its
    /// messages' contents for their groups and deduplication ids.
    ///
    /// With millions of messages this is most of a restart's time, so the index is built in
    /// bulk rather than message by message, in two halves at once on two threads: the map
    /// (`fill_slots`) and the ordered sets, each built from its whole sorted contents (which
    /// also packs their nodes full, where inserting in order leaves them half empty); each
    /// FIFO group is refreshed once, at the end.
    pub(crate) fn restore(
        id: QueueId,
        arn: String,
        loaded: LoadedQueue,
        now: Millis,
        store: &dyn Store,
        seqs: &Seqs,
    ) -> Arc<Queue> {
        let queue = Queue::new(id, arn, loaded.record, seqs.clone());
        {
            let mut state = queue.state.lock();
            let state = &mut *state;
            let messages = &loaded.messages;
            let sets = if messages.len() < PARALLEL_RESTORE {
                fill_slots(&mut state.messages, messages, now);
                OrderedSets::of(messages, now)
            } else {
                let sets = std::thread::scope(|scope| {
                    let sets = scope.spawn(|| OrderedSets::of(messages, now));
                    fill_slots(&mut state.messages, messages, now);
                    sets.join()
                });
                match sets {
                    Ok(sets) => sets,
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            };
            state.ready = sets.ready;
            state.pending = sets.pending;
            state.by_age = sets.by_age;
            state.delayed = sets.delayed;
            state.in_flight = sets.in_flight;
            if let Some(max) = messages.iter().map(|&(seq, _)| seq).max() {
                seqs.at_least(max + 1);
            }
            if state.fifo.is_some() {
                let mut groups = HashSet::new();
                // In seq order, so the bodies are read in the store's key order.
                for chunk in messages.chunks(RESTORE_CHUNK) {
                    let seqs: Vec<u64> = chunk.iter().map(|&(seq, _)| seq).collect();
                    let contents = store.contents(queue.uid, &seqs).unwrap_or_default();
                    for (&seq, content) in seqs.iter().zip(contents) {
                        let Some(g) = content.as_ref().and_then(|c| c.group_id.as_deref()) else { continue };
                        let g = GroupId::from(g);
                        if let Some(f) = state.fifo.as_mut() {
                            f.add(&g, seq);
                        }
                        groups.insert(g);
                    }
                }
                for g in groups {
                    state.refresh_group(&Some(g));
                }
            }
            if let Some(f) = state.fifo.as_mut() {
                // In expiry order, which the window's lapsing relies on (stored by key).
                let mut dedup = loaded.dedup;
                dedup.sort_by_key(|d| d.expires_at);
                for d in dedup.into_iter().filter(|d| d.expires_at > now) {
                    // A later message's sequence number stays above the remembered one.
                    seqs.at_least(d.seq + 1);
                    let accepted = Accepted { message_id: d.message_id, sequence_number: sequence_number(d.seq) };
                    f.remember_until(d.key, accepted, d.expires_at);
                }
            }
            let mut attempts = loaded.attempts;
            attempts.sort_by_key(|a| a.expires_at);
            for a in attempts {
                let received = (a.expires_at > now).then(|| state.replay(queue.uid, &a.receipts, store)).flatten();
                if let Some(f) = state.fifo.as_mut() {
                    match received {
                        Some(received) => f.remember_attempt_until(a.id, received, a.expires_at),
                        // Lapsed, or a message of it changed: the store forgets it at the next receive.
                        None => f.lapsed_attempts.push(a.id),
                    }
                }
            }
        }
        queue
    }

    /// Wake up to `n` long polls waiting on this queue (one per message that became
    /// receivable), not all of them: with thousands waiting, a broadcast per send would cost
    /// each send thousands of wake-ups.
    pub fn wake(&self, n: usize) {
        for _ in 0..n.min(MAX_WAKE) {
            self.arrivals.notify_one();
        }
    }

    pub fn is_fifo(&self) -> bool {
        self.fifo
    }

    /// Lock two queues' states in uid order (a fixed order, so two receives that hand off in
    /// opposite directions cannot deadlock). Returned in argument order.
    pub(crate) fn lock_pair<'a>(
        a: &'a Queue,
        b: Option<&'a Queue>,
    ) -> (MutexGuard<'a, QueueState>, Option<MutexGuard<'a, QueueState>>) {
        match b {
            None => (a.state.lock(), None),
            Some(b) if b.uid < a.uid => {
                let gb = b.state.lock();
                (a.state.lock(), Some(gb))
            }
            Some(b) => {
                let ga = a.state.lock();
                (ga, Some(b.state.lock()))
            }
        }
    }

    /// The queue's record as a store keeps it.
    pub(crate) fn record(&self, state: &QueueState) -> QueueRecord {
        QueueRecord {
            name: self.stored_name.clone(),
            uid: self.uid,
            created_at: self.created_at,
            last_modified: state.last_modified,
            attributes: state.attrs.clone(),
            tags: state.tags.clone(),
            last_purge: state.last_purge,
        }
    }
}

/// The ordered sets of a restored queue's index, and its counts.
struct OrderedSets {
    ready: AscendingSet<u64>,
    pending: BTreeSet<(Millis, u64)>,
    by_age: AscendingSet<(Millis, u64)>,
    delayed: usize,
    in_flight: usize,
}

impl OrderedSets {
    fn of(messages: &[(u64, MessageState)], now: Millis) -> OrderedSets {
        let mut ready = Vec::with_capacity(messages.len());
        let mut pending = Vec::new();
        let (mut delayed, mut in_flight) = (0, 0);
        for &(seq, m) in messages {
            match State::of(&m, now) {
                State::Visible => ready.push(seq),
                State::Delayed => {
                    delayed += 1;
                    pending.push((m.visible_at, seq));
                }
                State::InFlight => {
                    in_flight += 1;
                    pending.push((m.visible_at, seq));
                }
            }
        }
        // Stores hand messages over in seq order, and enqueue times mostly follow it: the
        // ascending sets take nearly every key at the end of their deques, and the sort of
        // `pending` (inside `collect`) finds long runs already in order.
        let ready = AscendingSet::of(ready.into_iter());
        let pending = pending.into_iter().collect();
        let by_age = AscendingSet::of(messages.iter().map(|&(seq, m)| (m.enqueued_at, seq)));
        OrderedSets { ready, pending, by_age, delayed, in_flight }
    }
}

/// Put `messages` into the empty map `slots`. Inserted in seq order, each would land in a
/// random bucket of a table far larger than the CPU's caches (a third of a restart's time
/// with a million messages); so they are first split by the part of the table they land in,
/// and each part inserted in turn, its slice of the table staying in cache.
fn fill_slots(slots: &mut Slots, messages: &[(u64, MessageState)], now: Millis) {
    slots.reserve(messages.len());
    // hashbrown's bucket count for this capacity (a power of two); a guess off by a factor
    // of two only makes each part span twice or half the table it should.
    let buckets = (slots.capacity().saturating_mul(8) / 7).next_power_of_two() as u64;
    let bits = buckets.trailing_zeros();
    // Parts of about 16,384 buckets (~150 KiB of table), at most 1,024 of them.
    let part_bits = bits.saturating_sub(14).min(10);
    let shift = bits - part_bits;
    let part_of = |seq: u64| ((slots.hash(seq) & (buckets - 1)) >> shift) as usize;
    let mut parts: Vec<Vec<(u64, MessageState)>> = vec![Vec::new(); 1 << part_bits];
    if part_bits > 0 {
        let mut sizes = vec![0usize; parts.len()];
        for &(seq, _) in messages {
            sizes[part_of(seq)] += 1;
        }
        for (part, size) in parts.iter_mut().zip(sizes) {
            part.reserve_exact(size);
        }
    }
    for &(seq, m) in messages {
        parts[part_of(seq)].push((seq, m));
    }
    for part in parts {
        for (seq, m) in part {
            slots.insert_new(seq, Slot::new(State::of(&m, now), m));
        }
    }
}

impl QueueState {
    /// Bring the index up to `now`: drop messages past retention, make due ones visible.
    pub fn advance(&mut self, uid: u64, now: Millis, changes: &mut Vec<Change>) {
        self.expire(uid, now, changes);
        self.make_due_visible(now);
    }

    /// When the oldest message passes its retention period.
    pub fn next_expiry(&self) -> Option<Millis> {
        let retention = u64::from(self.attrs.message_retention_period) * 1000;
        self.oldest_enqueued_at().map(|t| t.saturating_add(retention))
    }

    /// Drop the messages past retention at `now`.
    pub fn expire(&mut self, uid: u64, now: Millis, changes: &mut Vec<Change>) {
        let retention = u64::from(self.attrs.message_retention_period) * 1000;
        while let Some((enqueued_at, seq)) = self.by_age.first() {
            if enqueued_at.saturating_add(retention) > now {
                break;
            }
            self.remove(seq);
            changes.push(Change::DeleteMessage { queue: uid, seq });
        }
    }

    /// Make the messages whose delay or visibility timeout ended by `now` visible. Only the
    /// index changes: the stored states already say when each message becomes visible.
    pub fn make_due_visible(&mut self, now: Millis) {
        while let Some(&(visible_at, seq)) = self.pending.first() {
            if visible_at > now {
                break;
            }
            self.pending.remove(&(visible_at, seq));
            if let Some(slot) = self.messages.get_mut(&seq) {
                match slot.state {
                    State::Delayed => self.delayed -= 1,
                    State::InFlight => self.in_flight -= 1,
                    // Already in `ready`, which must not hold a key twice.
                    State::Visible => continue,
                }
                slot.state = State::Visible;
                self.ready.insert(seq);
                let group = self.group_of_message(seq);
                self.refresh_group(&group);
            }
        }
    }

    /// The first time, from `from` on, that a pending message becomes visible: what the
    /// queue's timer waits for. A change arms it from its own time (a receive with
    /// VisibilityTimeout 0 leaves a message due at once); the timer re-arms from the
    /// millisecond after it fired, for messages due before were woken for when they came due.
    pub fn next_pending_from(&self, from: Millis) -> Option<Millis> {
        self.pending.range((from, 0)..).next().map(|&(t, _)| t)
    }

    /// For the queue's timer at `now`: how many long polls to wake — one per message due by
    /// now, whether still pending or already made visible by whoever brought the index up to
    /// date (a GetQueueAttributes, a metrics scrape), since nobody woke the polls then — and
    /// the next pending time after `now`. Due messages stay pending until a receive brings the
    /// index up to date; the timer does not come back for them.
    fn timer_tick(&self, now: Millis) -> (usize, Option<Millis>) {
        let due_by = (now.saturating_add(1), 0);
        let due = self.pending.range(..due_by).take(MAX_WAKE).count();
        ((due + self.ready.len()).min(MAX_WAKE), self.next_pending_from(now.saturating_add(1)))
    }

    /// When the oldest message still in the queue was enqueued.
    pub fn oldest_enqueued_at(&self) -> Option<Millis> {
        self.by_age.first().map(|(t, _)| t)
    }

    pub fn counts(&self) -> Counts {
        Counts { visible: self.ready.len(), in_flight: self.in_flight, delayed: self.delayed }
    }

    /// Index a message under the state its record implies at `now`.
    fn place(&mut self, seq: u64, group: Option<GroupId>, m: MessageState, now: Millis) {
        let state = State::of(&m, now);
        match state {
            State::Visible => {
                self.ready.insert(seq);
            }
            State::Delayed => {
                self.delayed += 1;
                self.pending.insert((m.visible_at, seq));
            }
            State::InFlight => {
                self.in_flight += 1;
                self.pending.insert((m.visible_at, seq));
            }
        }
        self.by_age.insert((m.enqueued_at, seq));
        if let (Some(g), Some(f)) = (&group, self.fifo.as_mut()) {
            f.add(g, seq);
        }
        self.messages.insert(seq, Slot::new(state, m));
        self.refresh_group(&group);
    }

    /// Recompute whether a FIFO group can deliver now.
    fn refresh_group(&mut self, group: &Option<GroupId>) {
        let (Some(g), Some(f)) = (group, self.fifo.as_mut()) else { return };
        let messages = &self.messages;
        f.refresh(g, |head| {
            messages.get(&head).filter(|s| s.state == State::Visible).map(|s| (s.visible_at(), s.receive_count > 0))
        });
    }

    /// The next message a receive should consider: the oldest visible one, or for a FIFO
    /// queue the next of the group being served, else the head of the oldest available group.
    fn next_candidate(&self, current: &mut Option<(GroupId, u64)>) -> Option<u64> {
        let Some(f) = &self.fifo else { return self.ready.first() };
        if let Some((g, last)) = current.as_ref() {
            let next = f.next_in_group(g, *last).filter(|&s| visible(&self.messages, s));
            if let Some(seq) = next {
                return Some(seq);
            }
        }
        let ((_, _, _, head), group) = f.available.first()?;
        *current = Some((group.clone(), *head));
        Some(*head)
    }

    /// The seqs a receive of up to `max` messages will most likely take, in order (as
    /// `next_candidate` would give them if none is dead-lettered): the oldest visible
    /// messages, or for a FIFO queue the available groups' visible runs, oldest group first.
    fn likely_candidates(&self, max: usize) -> Vec<u64> {
        let Some(f) = &self.fifo else {
            return self.ready.range(.., |s| visible(&self.messages, s)).take(max).collect();
        };
        let mut out = Vec::with_capacity(max);
        for ((_, _, _, head), group) in &f.available {
            let mut seq = *head;
            while out.len() < max {
                out.push(seq);
                match f.next_in_group(group, seq).filter(|&s| visible(&self.messages, s)) {
                    Some(next) => seq = next,
                    None => break,
                }
            }
            if out.len() >= max {
                break;
            }
        }
        out
    }

    /// A seq above every message this queue holds now (the next one the engine hands out).
    pub fn next_seq(&self) -> u64 {
        self.seqs.peek()
    }

    /// Up to `limit` visible messages from seq `from` to below `boundary`, oldest first, with
    /// content.
    pub fn movable(
        &self,
        uid: u64,
        (from, boundary): (u64, u64),
        limit: usize,
        store: &dyn Store,
    ) -> Result<Vec<(u64, SharedContent)>> {
        let mut seqs = Vec::new();
        // FIFO: a message moves only after every earlier one of its group (group order holds
        // in the destination too); `open` is the last movable seq seen of each group.
        let mut open: HashMap<GroupId, u64> = HashMap::new();
        for seq in self.ready.range(from..boundary.max(from), |s| visible(&self.messages, s)) {
            if seqs.len() >= limit {
                break;
            }
            if let Some(f) = &self.fifo {
                if let Some(g) = f.group_of(seq) {
                    let earlier = f.previous_in_group(g, seq);
                    if earlier.is_some() && earlier != open.get(g).copied() {
                        continue;
                    }
                    open.insert(g.clone(), seq);
                }
            }
            seqs.push(seq);
        }
        let contents = store.contents(uid, &seqs).map_err(|e| Error::ServiceUnavailable(e.to_string()))?;
        Ok(seqs.into_iter().zip(contents).filter_map(|(seq, c)| Some((seq, c?))).collect())
    }

    /// Remove a message if it is visible right now and, in a FIFO queue, the head of its group
    /// (its content, which never changes, the caller read with `movable`); whether it was.
    pub fn take_visible(&mut self, uid: u64, seq: u64, changes: &mut Vec<Change>) -> bool {
        if !visible(&self.messages, seq) {
            return false;
        }
        if let Some(f) = &self.fifo {
            if f.group_of(seq).is_some_and(|g| f.previous_in_group(g, seq).is_some()) {
                return false;
            }
        }
        self.remove(seq);
        changes.push(Change::DeleteMessage { queue: uid, seq });
        true
    }

    /// Add a message that keeps its counts and times (a dead-letter hand-off, a restore).
    pub fn insert_with_state(
        &mut self,
        uid: u64,
        content: SharedContent,
        m: MessageState,
        now: Millis,
        changes: &mut Vec<Change>,
    ) -> u64 {
        // Taken under this queue's lock, so the queue's seqs rise in arrival order.
        let seq = self.seqs.take(changes);
        changes.push(Change::PutMessage { queue: uid, seq, content: content.clone(), state: m });
        let group = self.group_of(&content);
        self.place(seq, group, m, now);
        seq
    }

    /// The group a new message joins (FIFO queues only).
    fn group_of(&self, content: &SharedContent) -> Option<GroupId> {
        self.fifo.as_ref().and(content.group_id.as_deref()).map(GroupId::from)
    }

    /// The group of an indexed message (FIFO queues only).
    fn group_of_message(&self, seq: u64) -> Option<GroupId> {
        self.fifo.as_ref().and_then(|f| f.group_of(seq)).cloned()
    }

    pub fn insert(
        &mut self,
        uid: u64,
        content: SharedContent,
        enqueued_at: Millis,
        delay_ms: u64,
        now: Millis,
        changes: &mut Vec<Change>,
    ) -> u64 {
        let seq = self.seqs.take(changes);
        let m = MessageState {
            enqueued_at,
            visible_at: now + delay_ms,
            receive_count: 0,
            first_receive_at: 0,
            received_at: 0,
            nonce: 0,
        };
        changes.push(Change::PutMessage { queue: uid, seq, content: content.clone(), state: m });
        let group = self.group_of(&content);
        self.place(seq, group, m, now);
        seq
    }

    /// Hide up to `max` visible messages for `visibility_ms` and hand them out, oldest first.
    /// A message `dlq`'s rule hands off goes there instead, as the rule shapes it: that
    /// receive does not return it.
    #[allow(clippy::too_many_arguments)]
    pub fn receive(
        &mut self,
        uid: u64,
        max: usize,
        visibility_ms: u64,
        now: Millis,
        store: &dyn Store,
        mut dlq: Option<DeadLetter<'_>>,
        changes: &mut Vec<Change>,
    ) -> Result<Vec<Received>> {
        if self.ready.is_empty() {
            return Ok(Vec::new());
        }
        if self.in_flight >= MAX_IN_FLIGHT {
            return Err(Error::OverLimit(format!(
                "Too many messages in flight: the queue already has {MAX_IN_FLIGHT} in-flight messages."
            )));
        }
        let mut out = Vec::with_capacity(max.min(self.ready.len()));
        let mut current = None;
        // The bodies this receive will most likely deliver, read in one go; any other is
        // read on its own.
        let likely = self.likely_candidates(max);
        let mut bodies = match store.contents(uid, &likely) {
            Ok(b) => b,
            Err(e) => return Err(Error::ServiceUnavailable(e.to_string())),
        };
        while out.len() < max {
            let Some(seq) = self.next_candidate(&mut current) else { break };
            // A FIFO batch goes on with the same group after this message.
            if let Some((_, last)) = current.as_mut() {
                *last = seq;
            }
            let Some(slot) = self.messages.get_mut(&seq) else {
                unready(&mut self.ready, &self.messages, seq);
                continue;
            };
            let read = match likely.iter().position(|&s| s == seq) {
                Some(i) => Ok(bodies.get_mut(i).and_then(Option::take)),
                None => store.contents(uid, &[seq]).map(|mut c| c.pop().flatten()),
            };
            let content = match read {
                Ok(Some(c)) => c,
                // A state whose body is missing (a damaged database) can never be
                // delivered: set it aside, rather than fail every receive behind it. Its
                // record stays on disk.
                Ok(None) => {
                    tracing::error!(queue = uid, seq, "a message has no stored body; it is left out of the queue");
                    self.remove(seq);
                    continue;
                }
                Err(_) if !out.is_empty() => break,
                Err(e) => return Err(Error::ServiceUnavailable(e.to_string())),
            };
            if let Some(d) = dlq.as_mut().filter(|d| d.rule.applies_to(&slot.m())) {
                let (moved, m) = d.rule.arrival(&content, slot.m(), now);
                self.remove(seq);
                changes.push(Change::DeleteMessage { queue: uid, seq });
                d.state.insert_with_state(d.uid, Arc::new(moved), m, now, changes);
                d.state.stats.dead_letters_in += 1;
                d.moved += 1;
                self.stats.dead_lettered += 1;
                continue;
            }
            let mut m = slot.m();
            m.receive_count += 1;
            // Wraps after 4 billion receives of one message; an equal nonce needs as many again.
            m.nonce = m.nonce.wrapping_add(1);
            m.received_at = now;
            if m.first_receive_at == 0 {
                m.first_receive_at = now;
            }
            let first = m.first_receive_at;
            m.visible_at = now + visibility_ms;
            slot.set(m);
            slot.state = State::InFlight;
            unready(&mut self.ready, &self.messages, seq);
            self.pending.insert((m.visible_at, seq));
            self.in_flight += 1;
            changes.push(Change::SetState { queue: uid, seq, state: m });
            self.stats.received += 1;
            let group = self.group_of_message(seq);
            self.refresh_group(&group);
            out.push(Received {
                sequence_number: self.fifo.as_ref().map(|_| sequence_number(seq)),
                receipt_handle: ReceiptHandle { queue_uid: uid, seq, nonce: u64::from(m.nonce) }.encode(),
                receive_count: m.receive_count,
                first_receive_at: first,
                content,
            });
        }
        Ok(out)
    }

    /// Delete by receipt handle. A handle of a message already gone succeeds, as on AWS;
    /// so does an older handle of a standard-queue message received again since. On a FIFO
    /// queue a handle whose visibility timeout ran out has expired (recorded on AWS).
    pub fn delete(
        &mut self,
        uid: u64,
        handle: &ReceiptHandle,
        handle_text: &str,
        now: Millis,
        changes: &mut Vec<Change>,
    ) -> Result<()> {
        if let (Some(_), Some(slot)) = (&self.fifo, self.messages.get(&handle.seq)) {
            if u64::from(slot.nonce) != handle.nonce || slot.state != State::InFlight || slot.visible_at() <= now {
                return Err(Error::invalid_parameter(handle_text, "ReceiptHandle", "The receipt handle has expired."));
            }
        }
        if self.messages.contains_key(&handle.seq) {
            self.remove(handle.seq);
            changes.push(Change::DeleteMessage { queue: uid, seq: handle.seq });
            self.stats.deleted += 1;
        }
        Ok(())
    }

    /// Whether the queue still holds the message stored at `seq`.
    pub fn holds(&self, seq: u64) -> bool {
        self.messages.contains_key(&seq)
    }

    /// The message at `seq`, if the queue holds it: its state, and whether it is in flight.
    pub fn message_at(&self, seq: u64) -> Option<(MessageState, bool)> {
        self.messages.get(&seq).map(|s| (s.m(), s.state == State::InFlight))
    }

    /// Remove the message at `seq` whatever its state (an operator's delete); whether it was
    /// there.
    pub fn discard(&mut self, uid: u64, seq: u64, changes: &mut Vec<Change>) -> bool {
        if !self.messages.contains_key(&seq) {
            return false;
        }
        self.remove(seq);
        changes.push(Change::DeleteMessage { queue: uid, seq });
        self.stats.deleted += 1;
        true
    }

    /// A stored receive attempt's answer, rebuilt from its messages' states and bodies as the
    /// receive gave it: `None` if one of them is gone or was received again since.
    fn replay(&self, uid: u64, receipts: &[(u64, u64)], store: &dyn Store) -> Option<Vec<Received>> {
        let seqs: Vec<u64> = receipts.iter().map(|&(seq, _)| seq).collect();
        let contents = store.contents(uid, &seqs).ok()?;
        let mut out = Vec::with_capacity(receipts.len());
        for (&(seq, nonce), content) in receipts.iter().zip(contents) {
            let handle = ReceiptHandle { queue_uid: uid, seq, nonce };
            let m = self.messages.get(&seq).filter(|_| self.holds_receive(&handle))?.m();
            out.push(Received {
                content: content?,
                sequence_number: self.fifo.as_ref().map(|_| sequence_number(seq)),
                receipt_handle: handle.encode(),
                receive_count: m.receive_count,
                first_receive_at: m.first_receive_at,
            });
        }
        Some(out)
    }

    /// Whether the message a receipt handle names is still there and not received again since.
    pub fn holds_receive(&self, handle: &ReceiptHandle) -> bool {
        self.messages.get(&handle.seq).is_some_and(|slot| u64::from(slot.nonce) == handle.nonce)
    }

    /// Change the visibility of a received message. As recorded against AWS, a message whose
    /// timeout already ran out is hidden again, and on a standard queue an older handle of a
    /// message received again since changes the message as the latest would; a deleted message
    /// is refused, and so is an older handle on a FIFO queue (docs/aws-reference.md §4.1).
    /// Ok(true) when the message became visible at once.
    #[allow(clippy::too_many_arguments)]
    pub fn change_visibility(
        &mut self,
        uid: u64,
        handle: &ReceiptHandle,
        handle_text: &str,
        timeout_ms: u64,
        now: Millis,
        changes: &mut Vec<Change>,
    ) -> Result<bool> {
        let gone = || {
            Error::invalid_parameter(
                handle_text,
                "ReceiptHandle",
                "Message does not exist or is not available for visibility timeout change.",
            )
        };
        let Some(slot) = self.messages.get_mut(&handle.seq) else { return Err(gone()) };
        if slot.state == State::Delayed {
            return Err(gone());
        }
        if self.fifo.is_some() && u64::from(slot.nonce) != handle.nonce {
            return Err(Error::invalid_parameter(handle_text, "ReceiptHandle", "The receipt handle has expired."));
        }
        let mut m = slot.m();
        if now + timeout_ms > m.received_at + MAX_VISIBILITY_MS {
            return Err(Error::invalid_parameter(
                timeout_ms / 1000,
                "VisibilityTimeout",
                "Total VisibilityTimeout for the message is beyond the limit [43200 seconds]",
            ));
        }
        let was = slot.state;
        if was == State::InFlight {
            self.pending.remove(&(m.visible_at, handle.seq));
            self.in_flight -= 1;
        }
        m.visible_at = now + timeout_ms;
        slot.set(m);
        changes.push(Change::SetState { queue: uid, seq: handle.seq, state: m });
        let visible_now = timeout_ms == 0;
        slot.state = if visible_now { State::Visible } else { State::InFlight };
        if was == State::Visible {
            unready(&mut self.ready, &self.messages, handle.seq);
        }
        if visible_now {
            self.ready.insert(handle.seq);
        } else {
            self.in_flight += 1;
            self.pending.insert((m.visible_at, handle.seq));
        }
        let group = self.group_of_message(handle.seq);
        self.refresh_group(&group);
        Ok(visible_now)
    }

    /// Set the end of the delay of every message never received to `delay_ms` after it was
    /// enqueued: visible if that has passed, delayed until then otherwise.
    pub fn redelay_unreceived(&mut self, uid: u64, delay_ms: u64, now: Millis, changes: &mut Vec<Change>) {
        let unreceived: Vec<u64> =
            self.messages.iter().filter(|(_, slot)| slot.receive_count == 0).map(|(&seq, _)| seq).collect();
        let mut groups = Vec::new();
        for seq in unreceived {
            let Some(slot) = self.messages.get_mut(&seq) else { continue };
            let mut m = slot.m();
            let visible_at = m.enqueued_at + delay_ms;
            if visible_at == m.visible_at {
                continue;
            }
            let was = slot.state;
            match was {
                State::Visible => {}
                State::Delayed => {
                    self.pending.remove(&(m.visible_at, seq));
                    self.delayed -= 1;
                }
                State::InFlight => continue, // not reached: an in-flight message was received
            }
            m.visible_at = visible_at;
            slot.set(m);
            slot.state = if visible_at <= now { State::Visible } else { State::Delayed };
            match (was, slot.state) {
                (State::Visible, State::Visible) => {}
                (State::Visible, _) => unready(&mut self.ready, &self.messages, seq),
                (_, State::Visible) => self.ready.insert(seq),
                _ => {}
            }
            if visible_at > now {
                self.delayed += 1;
                self.pending.insert((visible_at, seq));
            }
            changes.push(Change::SetState { queue: uid, seq, state: m });
            groups.push(self.group_of_message(seq));
        }
        for group in groups {
            self.refresh_group(&group);
        }
    }

    pub fn purge(&mut self, uid: u64, changes: &mut Vec<Change>) -> usize {
        let n = self.messages.len();
        self.messages = Slots::default();
        self.ready.clear();
        self.pending.clear();
        self.by_age.clear();
        self.delayed = 0;
        self.in_flight = 0;
        if let Some(f) = self.fifo.as_mut() {
            f.clear_messages();
        }
        changes.push(Change::Purge { queue: uid });
        n
    }

    fn remove(&mut self, seq: u64) {
        let Some(slot) = self.messages.swap_remove(&seq) else { return };
        // Give memory back once a drained backlog leaves the index mostly empty.
        if self.messages.capacity() > 4096 && self.messages.len() * 4 < self.messages.capacity() {
            self.messages.shrink_to(self.messages.len() * 2);
        }
        let messages = &self.messages;
        self.by_age.remove((slot.enqueued_at, seq), |(_, seq)| messages.contains_key(&seq));
        match slot.state {
            State::Visible => unready(&mut self.ready, &self.messages, seq),
            State::Delayed => {
                self.delayed -= 1;
                self.pending.remove(&(slot.visible_at(), seq));
            }
            State::InFlight => {
                self.in_flight -= 1;
                self.pending.remove(&(slot.visible_at(), seq));
            }
        }
        let group = self.fifo.as_mut().and_then(|f| f.remove(seq));
        self.refresh_group(&group);
    }
}

/// A read-only view of the index, for looking at messages without receiving them (`peek.rs`).
impl QueueState {
    /// Up to `limit` messages after `after` in enqueue order, oldest first: seq and record (the
    /// caller reads the bodies from the store).
    pub(crate) fn by_age_after(&self, after: Option<(Millis, u64)>, limit: usize) -> Vec<(u64, MessageState)> {
        use std::ops::Bound::{Excluded, Unbounded};
        let from = after.map_or(Unbounded, Excluded);
        let keys = self.by_age.range((from, Unbounded), |(_, seq)| self.messages.contains_key(&seq));
        keys.take(limit).filter_map(|(_, seq)| self.messages.get(&seq).map(|s| (seq, s.m()))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Content;

    #[test]
    fn a_message_costs_at_most_32_bytes_of_index_slot() {
        // With its key and hash an index entry is 48 bytes: 1 M messages ≈ 48 MB.
        assert!(std::mem::size_of::<Slot>() <= 32, "Slot is {} bytes", std::mem::size_of::<Slot>());
    }

    #[test]
    fn a_slot_gives_back_the_record_it_was_given() {
        const DAY: u64 = 86_400_000;
        let m = MessageState {
            enqueued_at: 1_796_000_000_000,
            visible_at: 1_796_000_000_000 + 14 * DAY + MAX_VISIBILITY_MS,
            receive_count: 7,
            first_receive_at: 0,
            received_at: 1_796_000_000_000 + 14 * DAY,
            nonce: 9,
        };
        assert_eq!(Slot::new(State::InFlight, m).m(), m, "the longest life a message can have");
        let at_enqueue = MessageState { first_receive_at: m.enqueued_at, ..m };
        assert_eq!(Slot::new(State::InFlight, at_enqueue).m(), at_enqueue, "received the moment it came");
        let stepped_back = MessageState { visible_at: m.enqueued_at - 1_000, ..m };
        assert_eq!(Slot::new(State::Visible, stepped_back).m(), stepped_back, "a clock stepped back");
    }

    #[test]
    fn seqs_are_reserved_half_a_block_ahead_of_use() {
        let seqs = SeqCounter::new();
        let mut changes = Vec::new();
        let taken: Vec<u64> = (0..SEQ_BLOCK + 2).map(|_| seqs.take(&mut changes)).collect();
        assert_eq!(taken[..3], [1, 2, 3]);
        let limits: Vec<u64> = changes
            .iter()
            .map(|c| match c {
                Change::ReserveSeqs { below } => *below,
                other => panic!("{other:?}"),
            })
            .collect();
        let half = SEQ_BLOCK / 2;
        assert_eq!(limits, [1 + SEQ_BLOCK, half + 1 + SEQ_BLOCK, 2 * half + 1 + SEQ_BLOCK]);
        // Restored: seqs go on from the kept limit, and the next one asks for a new block.
        let seqs = SeqCounter::new();
        seqs.restore_limit(5_000_000);
        seqs.at_least(42);
        changes.clear();
        assert_eq!(seqs.take(&mut changes), 5_000_000);
        assert!(matches!(changes[..], [Change::ReserveSeqs { below }] if below == 5_000_000 + SEQ_BLOCK));
    }

    #[test]
    fn a_drained_backlog_gives_its_index_memory_back() {
        let record = QueueRecord {
            name: "q".into(),
            uid: 7,
            created_at: 1,
            last_modified: 1,
            attributes: QueueAttributes::defaults(false),
            tags: BTreeMap::new(),
            last_purge: None,
        };
        let id = QueueId::new("000000000000", "q");
        let queue = Queue::new(id, "arn:aws:sqs:us-east-1:000000000000:q".into(), record, SeqCounter::new());
        let mut state = queue.state.lock();
        let mut changes = Vec::new();
        let content = Arc::new(Content {
            id: "id".into(),
            body: "x".into(),
            md5_of_body: String::new(),
            attributes: Default::default(),
            md5_of_attributes: None,
            system_attributes: Default::default(),
            md5_of_system_attributes: None,
            sender_id: String::new(),
            sent_at: 1,
            dead_letter_source_arn: None,
            group_id: None,
            deduplication_id: None,
            dead_lettered_at: None,
            redrives: None,
        });
        let seqs: Vec<u64> = (0..100_000).map(|_| state.insert(7, content.clone(), 1, 0, 1, &mut changes)).collect();
        let full = state.messages.capacity();
        assert!(full >= 100_000);
        // Taken in an order that moves entries around inside the map.
        for &seq in seqs.iter().rev().step_by(2).chain(seqs.iter().step_by(2)) {
            assert!(state.take_visible(7, seq, &mut changes), "seq {seq}");
        }
        assert_eq!(state.counts(), Counts::default());
        assert!(state.messages.capacity() <= 4096 * 2, "capacity {} after draining", state.messages.capacity());
        // What is left is still found by its seq.
        let last = state.insert(7, content.clone(), 1, 0, 1, &mut changes);
        assert!(state.take_visible(7, last, &mut changes));
        assert!(!state.take_visible(7, last, &mut changes), "taken already");
    }
}

//! Queue depth over the last hour, kept in memory for the console's chart
//! (`Redrive_v1.GetQueueDepthHistory`).
//!
//! One background task samples every queue every `INTERVAL_MS` of the engine's clock (so a
//! manual clock drives it in tests) and keeps the last `POINTS` samples per queue: one hour.
//! Nothing is stored on disk: after a restart the chart starts again, which is what a chart of
//! "the last hour" of a process can honestly show. Dead-letter arrivals are the increase of the
//! queue's running total between two samples.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Weak};

use engine::{Engine, Millis, QueueId};
use parking_lot::Mutex;

/// Time between samples.
pub const INTERVAL_MS: u64 = 10_000;
/// Samples kept per queue: an hour at `INTERVAL_MS`.
pub const POINTS: usize = 360;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub at: Millis,
    pub available: usize,
    pub in_flight: usize,
    pub delayed: usize,
    /// Messages handed to this queue by a source's RedrivePolicy since the previous sample.
    pub dead_letter_arrivals: u64,
}

#[derive(Default)]
struct Series {
    samples: VecDeque<Sample>,
    /// The queue's running total of dead letters received, at the last sample.
    dead_letters_in: u64,
}

#[derive(Default)]
pub struct History {
    queues: Mutex<HashMap<QueueId, Series>>,
}

impl History {
    /// Take one sample of every queue; queues that no longer exist lose their history.
    pub fn sample(&self, engine: &Engine) {
        let now = engine.clock().now();
        let metrics = engine.metrics();
        let mut queues = self.queues.lock();
        queues.retain(|id, _| metrics.iter().any(|m| &m.id == id));
        for m in metrics {
            let series = queues.entry(m.id).or_default();
            let total = m.stats.dead_letters_in;
            // A queue deleted and created again between two samples starts its total afresh.
            let arrivals = total.saturating_sub(series.dead_letters_in);
            series.dead_letters_in = total;
            if series.samples.len() == POINTS {
                series.samples.pop_front();
            }
            series.samples.push_back(Sample {
                at: now,
                available: m.counts.visible,
                in_flight: m.counts.in_flight,
                delayed: m.counts.delayed,
                dead_letter_arrivals: arrivals,
            });
        }
    }

    /// A queue's samples, oldest first, followed by one taken now (so a chart is never empty),
    /// or None if the queue does not exist.
    pub fn of(&self, engine: &Engine, id: &QueueId) -> Option<Vec<Sample>> {
        let now = engine.clock().now();
        let current = engine.metrics().into_iter().find(|m| &m.id == id)?;
        let queues = self.queues.lock();
        let series = queues.get(id);
        let mut out: Vec<Sample> = series.map(|s| s.samples.iter().copied().collect()).unwrap_or_default();
        let last_total = series.map_or(current.stats.dead_letters_in, |s| s.dead_letters_in);
        out.push(Sample {
            at: now,
            available: current.counts.visible,
            in_flight: current.counts.in_flight,
            delayed: current.counts.delayed,
            dead_letter_arrivals: current.stats.dead_letters_in.saturating_sub(last_total),
        });
        Some(out)
    }

    /// Sample every `INTERVAL_MS` of the engine's clock until the engine is dropped.
    pub fn spawn_sampler(self: &Arc<Self>, engine: &Arc<Engine>) {
        let history = Arc::downgrade(self);
        let weak: Weak<Engine> = Arc::downgrade(engine);
        let clock = engine.clock().clone();
        tokio::spawn(async move {
            let mut next = clock.now() + INTERVAL_MS;
            loop {
                clock.sleep_until(next).await;
                let (Some(engine), Some(history)) = (weak.upgrade(), history.upgrade()) else { return };
                history.sample(&engine);
                // After a long stall (a manual clock moved by an hour) sample once, not 360 times.
                next = (next + INTERVAL_MS).max(clock.now() + 1);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::{Caller, EngineConfig, ManualClock};
    use std::collections::BTreeMap;
    use std::time::Duration;

    #[tokio::test]
    async fn samples_keep_one_hour_and_count_dead_letter_arrivals_between_them() {
        let clock = ManualClock::new(1_700_000_000_000);
        let config =
            EngineConfig { region: "us-east-1".into(), account_id: "000000000000".into(), ..Default::default() };
        let engine = Engine::in_memory(config, Arc::new(clock.clone()));
        let me = Caller::new("000000000000", None);
        let (src, dlq) = (me.queue("src"), me.queue("dlq"));
        let policy = r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":"1"}"#;
        engine.create_queue(&me, "dlq", &BTreeMap::new(), &BTreeMap::new()).await.unwrap();
        let attrs = BTreeMap::from([("RedrivePolicy".to_string(), policy.to_string())]);
        engine.create_queue(&me, "src", &attrs, &BTreeMap::new()).await.unwrap();
        let history = History::default();
        history.sample(&engine);
        for _ in 0..2 {
            let m = engine::message::NewMessage { body: "x".into(), ..Default::default() };
            engine.send_message(&me, &src, m).await.unwrap();
        }
        let receive = || engine::ReceiveOptions {
            max_messages: Some(10),
            visibility_timeout: Some(0),
            wait_time_seconds: Some(0),
            ..Default::default()
        };
        engine.receive_message(&me, &src, receive()).await.unwrap();
        engine.receive_message(&me, &src, receive()).await.unwrap();
        clock.advance(Duration::from_millis(INTERVAL_MS));
        history.sample(&engine);
        let dlq = history.of(&engine, &dlq).unwrap();
        assert_eq!(dlq.len(), 3, "two samples and the current point");
        assert_eq!((dlq[1].available, dlq[1].dead_letter_arrivals), (2, 2));
        assert_eq!(dlq[2].dead_letter_arrivals, 0, "no arrival since the last sample");
        for _ in 0..POINTS + 5 {
            history.sample(&engine);
        }
        assert_eq!(history.of(&engine, &src).unwrap().len(), POINTS + 1);
        assert!(history.of(&engine, &me.queue("nope")).is_none());
    }
}

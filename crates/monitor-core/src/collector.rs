//! The collector: the in-process entry point for events.
//!
//! `collect` validates, enriches (id, timestamp, ingest time), redacts, pushes into a
//! bounded buffer and publishes on the [`Bus`] — synchronously and cheaply, so an
//! agent's hot path never waits on storage. A background task drains the buffer to
//! the [`Store`](crate::store::Store) in batches, when a batch fills, when the flush
//! interval passes, or at once when somebody waits for durability. Failed writes are
//! retried with exponential backoff; since stores are idempotent on event id, a retry
//! never stores an event twice. `flush` and `shutdown` return only once every event
//! accepted before them is stored.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::bus::Bus;
use crate::error::{Error, Result};
use crate::event::MetricEvent;
use crate::redact::{RedactionConfig, Redactor};
use crate::store::{EventRef, StoreRef};
use crate::time::Timestamp;
use crate::validate::{Limits, ValidationError, validate};

/// What `collect` does when the buffer is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OverflowPolicy {
    /// Wait for room ([`Collector::collect_wait`]); the synchronous `collect` refuses.
    #[default]
    Wait,
    /// Make room by dropping the oldest buffered events (counted in
    /// [`Collector::dropped`] and `monitor_collector_dropped_total`).
    DropOldest,
    /// Refuse the new event with [`Error::BufferFull`].
    Error,
}

/// Settings of a [`Collector`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "snake_case")]
pub struct CollectorConfig {
    /// Most events buffered before the overflow policy applies.
    pub capacity: usize,
    /// Most events per store write.
    pub batch_size: usize,
    /// Longest an event waits in the buffer when nobody asks for durability, in ms.
    pub flush_interval_ms: u64,
    /// What happens when the buffer is full.
    pub overflow: OverflowPolicy,
    /// First retry delay after a failed write, in ms (doubles up to `retry_max_ms`).
    pub retry_initial_ms: u64,
    /// Longest retry delay, in ms.
    pub retry_max_ms: u64,
    /// Validation limits.
    pub limits: Limits,
    /// Redaction rules beyond the built-in ones.
    pub redaction: RedactionConfig,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            capacity: 200_000,
            batch_size: 10_000,
            flush_interval_ms: 200,
            overflow: OverflowPolicy::Wait,
            retry_initial_ms: 50,
            retry_max_ms: 5_000,
            limits: Limits::default(),
            redaction: RedactionConfig::default(),
        }
    }
}

/// Proof that an event was accepted: its id and its buffer sequence number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The event's id (the client's or an assigned one).
    pub id: String,
    /// Sequence number; pass to [`Collector::durable`] to wait until it is stored.
    pub seq: u64,
}

struct Queue {
    items: VecDeque<(u64, EventRef)>,
    next_seq: u64,
    closed: bool,
}

struct Shared {
    config: CollectorConfig,
    redactor: Redactor,
    bus: Bus,
    queue: Mutex<Queue>,
    /// Wakes the drainer: a batch filled, somebody waits, or shutdown.
    wake: Notify,
    /// Wakes producers waiting for room.
    room: Notify,
    /// Every sequence number up to this one is stored (or was dropped by policy).
    durable: watch::Sender<u64>,
    urgent: std::sync::atomic::AtomicBool,
    /// Set while the store refuses writes (cleared by the next successful write).
    store_failing: std::sync::atomic::AtomicBool,
    dropped: AtomicU64,
    /// Events accepted since the drain task last reported them to `metrics`.
    accepted: AtomicU64,
    cancel: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// The in-process event collector; clones share one buffer and drain task.
#[derive(Clone)]
pub struct Collector {
    shared: Arc<Shared>,
}

impl Collector {
    /// Starts a collector draining into `store` and publishing on `bus`. Must be called
    /// inside a tokio runtime (it spawns the drain task).
    pub fn start(store: StoreRef, bus: Bus, config: CollectorConfig) -> Result<Self> {
        if config.capacity == 0 || config.batch_size == 0 {
            return Err(Error::Config("collector capacity and batch_size must be at least 1".into()));
        }
        let redactor = Redactor::new(&config.redaction).map_err(|e| Error::Config(e.to_string()))?;
        let (durable, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue { items: VecDeque::new(), next_seq: 1, closed: false }),
            config,
            redactor,
            bus,
            wake: Notify::new(),
            room: Notify::new(),
            durable,
            urgent: std::sync::atomic::AtomicBool::new(false),
            store_failing: std::sync::atomic::AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            cancel: CancellationToken::new(),
            task: Mutex::new(None),
        });
        let handle = tokio::spawn(drain(shared.clone(), store));
        if let Ok(mut task) = shared.task.lock() {
            *task = Some(handle);
        }
        Ok(Collector { shared })
    }

    /// The bus this collector publishes on.
    pub fn bus(&self) -> &Bus {
        &self.shared.bus
    }

    /// The redactor applied to every event.
    pub fn redactor(&self) -> &Redactor {
        &self.shared.redactor
    }

    /// Validates, enriches and redacts an event without buffering it.
    pub fn prepare(&self, event: MetricEvent, now: Timestamp) -> Result<EventRef, ValidationError> {
        validate(&event, &self.shared.config.limits, now)?;
        let mut event = event.into_event(now);
        self.shared.redactor.redact_event(&mut event);
        Ok(Arc::new(event))
    }

    /// Accepts one event without waiting: validate → enrich → redact → buffer → bus.
    ///
    /// With a full buffer, `DropOldest` makes room; `Error` and `Wait` refuse with
    /// [`Error::BufferFull`] (use [`Collector::collect_wait`] to wait for room).
    pub fn collect(&self, event: MetricEvent) -> Result<Receipt> {
        let event = self.prepare(event, wall_clock()).inspect_err(|_| {
            metrics::counter!("monitor_collector_rejected_total").increment(1);
        })?;
        let id = event.id.clone();
        let seq = self.push(std::slice::from_ref(&event))?;
        self.shared.bus.publish_event(event);
        Ok(Receipt { id, seq })
    }

    /// Like [`Collector::collect`], but under the `Wait` policy waits for room.
    pub async fn collect_wait(&self, event: MetricEvent) -> Result<Receipt> {
        let event = self.prepare(event, wall_clock())?;
        let id = event.id.clone();
        let seq = self.submit_wait(vec![event], None).await?;
        Ok(Receipt { id, seq })
    }

    /// Buffers prepared events all together or not at all (no waiting). Returns the
    /// sequence number of the last one. With a full buffer, `DropOldest` makes room and
    /// the other policies refuse the whole batch with [`Error::BufferFull`].
    pub fn submit(&self, events: Vec<EventRef>) -> Result<u64> {
        self.enqueue(events)
    }

    /// Like [`Collector::submit`], but under the `Wait` policy waits for room, up to
    /// `max_wait` when given.
    pub async fn submit_wait(&self, events: Vec<EventRef>, max_wait: Option<Duration>) -> Result<u64> {
        let deadline = max_wait.map(|d| tokio::time::Instant::now() + d);
        let mut events = events;
        loop {
            let room = self.shared.room.notified();
            match self.try_enqueue(events) {
                Ok(seq) => return Ok(seq),
                Err((Error::BufferFull, back)) if self.shared.config.overflow == OverflowPolicy::Wait => {
                    events = back;
                    self.shared.urgent.store(true, Ordering::Release);
                    self.shared.wake.notify_one();
                    match deadline {
                        Some(deadline) => {
                            if tokio::time::timeout_at(deadline, room).await.is_err() {
                                return Err(Error::BufferFull);
                            }
                        }
                        None => room.await,
                    }
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    fn enqueue(&self, events: Vec<EventRef>) -> Result<u64> {
        self.try_enqueue(events).map_err(|(e, _)| e)
    }

    fn try_enqueue(&self, events: Vec<EventRef>) -> Result<u64, (Error, Vec<EventRef>)> {
        match self.push(&events) {
            Ok(last_seq) => {
                for event in events {
                    self.shared.bus.publish_event(event);
                }
                Ok(last_seq)
            }
            Err(e) => Err((e, events)),
        }
    }

    /// Buffers all of `events` or none; returns the last sequence number. Publishing is
    /// the caller's. Per-event metrics stay out of here: the drain task reports the
    /// accepted count and the queue depth, so the hot path makes no `metrics::` call.
    fn push(&self, events: &[EventRef]) -> Result<u64> {
        let shared = &self.shared;
        let (last_seq, wake) = {
            let Ok(mut queue) = shared.queue.lock() else {
                return Err(Error::Closed);
            };
            if queue.closed {
                return Err(Error::Closed);
            }
            let capacity = shared.config.capacity;
            if events.len() > capacity {
                return Err(Error::BufferFull);
            }
            let overflow = (queue.items.len() + events.len()).saturating_sub(capacity);
            if overflow > 0 {
                if shared.config.overflow != OverflowPolicy::DropOldest {
                    metrics::counter!("monitor_collector_refused_total").increment(events.len() as u64);
                    return Err(Error::BufferFull);
                }
                queue.items.drain(..overflow);
                shared.dropped.fetch_add(overflow as u64, Ordering::Relaxed);
                metrics::counter!("monitor_collector_dropped_total").increment(overflow as u64);
            }
            for event in events {
                let seq = queue.next_seq;
                queue.next_seq += 1;
                queue.items.push_back((seq, event.clone()));
            }
            (queue.next_seq - 1, queue.items.len() >= shared.config.batch_size)
        };
        shared.accepted.fetch_add(events.len() as u64, Ordering::Relaxed);
        if wake {
            shared.wake.notify_one();
        }
        Ok(last_seq)
    }

    /// Waits until the event with sequence number `seq` (and all before it) is stored.
    pub async fn durable(&self, seq: u64) -> Result<()> {
        let mut rx = self.shared.durable.subscribe();
        if *rx.borrow() >= seq {
            return Ok(());
        }
        self.shared.urgent.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        rx.wait_for(|done| *done >= seq).await.map(|_| ()).map_err(|_| Error::Closed)
    }

    /// Waits until every event accepted before this call is stored.
    pub async fn flush(&self) -> Result<()> {
        let last = match self.shared.queue.lock() {
            Ok(queue) => queue.next_seq - 1,
            Err(_) => return Err(Error::Closed),
        };
        self.durable(last).await
    }

    /// Refuses new events, drains everything buffered to the store, and stops the
    /// drain task. Waits as long as the store needs; bound it with a timeout outside.
    pub async fn shutdown(&self) -> Result<()> {
        if let Ok(mut queue) = self.shared.queue.lock() {
            queue.closed = true;
        }
        self.shared.cancel.cancel();
        self.shared.wake.notify_one();
        let handle = self.shared.task.lock().ok().and_then(|mut t| t.take());
        if let Some(handle) = handle {
            handle.await.map_err(|e| Error::store(format!("collector task failed: {e}"), false))?;
        }
        Ok(())
    }

    /// Events dropped by the `DropOldest` policy so far.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Events currently buffered.
    pub fn queue_depth(&self) -> usize {
        self.shared.queue.lock().map(|q| q.items.len()).unwrap_or(0)
    }

    /// Buffer capacity.
    pub fn capacity(&self) -> usize {
        self.shared.config.capacity
    }

    /// Whether the last store write failed and the drain task is retrying. Servers use
    /// this to refuse new work with 503 instead of acknowledging what they cannot store.
    pub fn store_failing(&self) -> bool {
        self.shared.store_failing.load(Ordering::Acquire)
    }
}

/// The wall clock as `std` reads it: the same instant as `Timestamp::now`, without
/// chrono's calendar conversion on the per-event path.
fn wall_clock() -> Timestamp {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(since) => Timestamp(i64::try_from(since.as_micros()).unwrap_or(i64::MAX)),
        Err(_) => Timestamp::now(),
    }
}

fn report_accepted(shared: &Shared) {
    let accepted = shared.accepted.swap(0, Ordering::Relaxed);
    if accepted > 0 {
        metrics::counter!("monitor_collector_accepted_total").increment(accepted);
    }
}

/// The drain loop: batches out of the buffer into the store until shut down and empty.
async fn drain(shared: Arc<Shared>, store: StoreRef) {
    let interval = Duration::from_millis(shared.config.flush_interval_ms.max(1));
    loop {
        report_accepted(&shared);
        let closing = shared.cancel.is_cancelled();
        let ready = {
            let len = shared.queue.lock().map(|q| q.items.len()).unwrap_or(0);
            len > 0
                && (closing || len >= shared.config.batch_size || shared.urgent.swap(false, Ordering::AcqRel))
        };
        if !ready {
            let empty = shared.queue.lock().map(|q| q.items.is_empty()).unwrap_or(true);
            if closing && empty {
                break;
            }
            let wake = shared.wake.notified();
            if empty {
                tokio::select! {
                    () = wake => {}
                    () = shared.cancel.cancelled() => {}
                }
                continue;
            }
            // Something is buffered but nobody is waiting: give a batch time to fill.
            tokio::select! {
                () = wake => {}
                () = shared.cancel.cancelled() => {}
                () = tokio::time::sleep(interval) => {}
            }
        }
        let batch: Vec<(u64, EventRef)> = match shared.queue.lock() {
            Ok(mut queue) => {
                let n = queue.items.len().min(shared.config.batch_size);
                queue.items.drain(..n).collect()
            }
            Err(_) => break,
        };
        if batch.is_empty() {
            continue;
        }
        let events: Vec<EventRef> = batch.iter().map(|(_, e)| e.clone()).collect();
        write_with_retry(&shared, &store, &events).await;
        let done = match shared.queue.lock() {
            Ok(queue) => {
                metrics::gauge!("monitor_collector_queue_depth").set(queue.items.len() as f64);
                queue.items.front().map_or(queue.next_seq - 1, |(seq, _)| seq - 1)
            }
            Err(_) => batch.last().map_or(0, |(seq, _)| *seq),
        };
        shared.durable.send_replace(done);
        shared.room.notify_waiters();
    }
    report_accepted(&shared);
    let last = shared.queue.lock().map(|q| q.next_seq - 1).unwrap_or(0);
    shared.durable.send_replace(last);
}

/// Writes a batch until it succeeds. Errors the store calls permanent are bisected so
/// that one poison event cannot hold back the rest; a single event that fails
/// permanently is logged and counted, never retried forever.
async fn write_with_retry(shared: &Shared, store: &StoreRef, events: &[EventRef]) {
    let mut pending: Vec<&[EventRef]> = vec![events];
    while let Some(chunk) = pending.pop() {
        let mut delay = Duration::from_millis(shared.config.retry_initial_ms.max(1));
        let max_delay = Duration::from_millis(shared.config.retry_max_ms.max(1));
        loop {
            let started = std::time::Instant::now();
            match store.write(chunk).await {
                Ok(summary) => {
                    shared.store_failing.store(false, Ordering::Release);
                    metrics::histogram!("monitor_collector_write_seconds")
                        .record(started.elapsed().as_secs_f64());
                    metrics::counter!("monitor_collector_stored_total").increment(summary.inserted as u64);
                    break;
                }
                Err(error) if error.is_retryable() => {
                    shared.store_failing.store(true, Ordering::Release);
                    metrics::counter!("monitor_collector_write_retries_total").increment(1);
                    tracing::warn!(%error, events = chunk.len(), retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), "store write failed, retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(max_delay);
                }
                Err(error) if chunk.len() > 1 => {
                    tracing::warn!(%error, events = chunk.len(), "store refused batch, bisecting");
                    let (a, b) = chunk.split_at(chunk.len() / 2);
                    pending.push(b);
                    pending.push(a);
                    break;
                }
                Err(error) => {
                    metrics::counter!("monitor_collector_failed_total").increment(1);
                    tracing::error!(%error, id = %chunk[0].id, "store refused event permanently");
                    break;
                }
            }
        }
    }
}

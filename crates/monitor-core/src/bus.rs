//! The realtime bus: fans events and alerts out to filtered subscribers.
//!
//! Built on a tokio broadcast ring: publishing never waits, each subscriber reads at its
//! own pace, and a subscriber that falls more than the ring's capacity behind is told
//! how many messages it missed ([`Received::Lagged`]) and carries on from the oldest
//! message still held. A slow subscriber therefore loses only its own backlog and never
//! slows ingest or other subscribers.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::alert::Alert;
use crate::query::{Dimension, Filter};
use crate::store::EventRef;

/// A message on the bus.
#[derive(Clone, Debug)]
pub enum BusMessage {
    /// An accepted event.
    Event(EventRef),
    /// An alert that fired or resolved.
    Alert(Arc<Alert>),
}

/// What a subscriber receives.
#[derive(Clone, Debug)]
pub enum Received {
    /// A message that passed the subscription's filters, with its bus sequence number.
    Message(u64, BusMessage),
    /// The subscriber fell behind and this many messages were skipped for it.
    Lagged(u64),
}

/// Which messages a subscription wants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscriptionFilter {
    /// Conditions events must meet (all of them); alerts must meet those on dimensions
    /// they carry as labels (`projectId`, `sessionId`, `operation`, …).
    pub filters: Vec<Filter>,
    /// Leave out events.
    pub no_events: bool,
    /// Leave out alerts.
    pub no_alerts: bool,
}

impl SubscriptionFilter {
    /// Whether a message passes.
    pub fn matches(&self, message: &BusMessage) -> bool {
        match message {
            BusMessage::Event(event) => !self.no_events && self.filters.iter().all(|f| f.matches(event)),
            BusMessage::Alert(alert) => {
                !self.no_alerts
                    && self.filters.iter().all(|f| match &f.dimension {
                        Dimension::Tag(_) | Dimension::Source | Dimension::Type => true,
                        dim => f.matches_value(alert.labels.get(&dim.name()).map(String::as_str)),
                    })
            }
        }
    }
}

struct Shared {
    tx: broadcast::Sender<(u64, BusMessage)>,
    seq: AtomicU64,
    subscribers: AtomicUsize,
    /// The most recent messages, for resuming streams (`Last-Event-ID`). Publishing and
    /// subscribing take this lock so that a replay plus a live subscription neither
    /// misses nor repeats a message. std Mutex: never held across an await.
    history: Mutex<History>,
}

struct History {
    capacity: usize,
    items: VecDeque<(u64, BusMessage)>,
}

/// The realtime fan-out; cloning shares the same bus.
#[derive(Clone)]
pub struct Bus {
    shared: Arc<Shared>,
}

impl Default for Bus {
    fn default() -> Self {
        Bus::new(16_384)
    }
}

/// What a resuming subscriber gets: the missed messages still held, and whether some
/// it asked for were already gone.
pub struct Resume {
    /// Messages after the requested sequence number that pass the filter, oldest first.
    pub replay: Vec<(u64, BusMessage)>,
    /// Messages after the requested sequence number that were no longer held.
    pub missed: u64,
    /// The live subscription, starting right after the replay.
    pub subscription: Subscription,
}

impl Bus {
    /// A bus whose ring holds `capacity` messages per lagging subscriber.
    pub fn new(capacity: usize) -> Self {
        Bus::with_history(capacity, 0)
    }

    /// A bus that also keeps the last `history` messages for [`Bus::resume`].
    pub fn with_history(capacity: usize, history: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Bus {
            shared: Arc::new(Shared {
                tx,
                seq: AtomicU64::new(0),
                subscribers: AtomicUsize::new(0),
                history: Mutex::new(History { capacity: history, items: VecDeque::new() }),
            }),
        }
    }

    /// Publishes an event; never waits.
    pub fn publish_event(&self, event: EventRef) {
        self.publish(BusMessage::Event(event));
    }

    /// Publishes an alert; never waits.
    pub fn publish_alert(&self, alert: Alert) {
        self.publish(BusMessage::Alert(Arc::new(alert)));
    }

    /// Publishes a message; never waits. Returns its sequence number.
    pub fn publish(&self, message: BusMessage) -> u64 {
        let mut history = self.shared.history.lock().unwrap_or_else(|e| e.into_inner());
        let seq = self.shared.seq.fetch_add(1, Ordering::Relaxed) + 1;
        if history.capacity > 0 {
            if history.items.len() == history.capacity {
                history.items.pop_front();
            }
            history.items.push_back((seq, message.clone()));
        }
        if self.shared.tx.receiver_count() > 0 {
            // An error only means every receiver went away meanwhile.
            let _ = self.shared.tx.send((seq, message));
        }
        seq
    }

    /// Subscribes and replays held messages published after `after` that pass `filter`,
    /// with no gap and no repeat between the replay and the live subscription.
    pub fn resume(&self, after: u64, filter: SubscriptionFilter) -> Resume {
        let history = self.shared.history.lock().unwrap_or_else(|e| e.into_inner());
        let subscription = self.subscribe(filter);
        let oldest_held = history.items.front().map_or(self.last_seq() + 1, |(seq, _)| *seq);
        let missed = oldest_held.saturating_sub(after + 1);
        let replay = history
            .items
            .iter()
            .filter(|(seq, message)| *seq > after && subscription.filter.matches(message))
            .cloned()
            .collect();
        drop(history);
        Resume { replay, missed, subscription }
    }

    /// The sequence number of the last message published.
    pub fn last_seq(&self) -> u64 {
        self.shared.seq.load(Ordering::Relaxed)
    }

    /// A new subscription receiving messages published from now on.
    pub fn subscribe(&self, filter: SubscriptionFilter) -> Subscription {
        self.shared.subscribers.fetch_add(1, Ordering::Relaxed);
        metrics::gauge!("monitor_bus_subscribers").increment(1.0);
        Subscription { rx: self.shared.tx.subscribe(), filter, shared: self.shared.clone() }
    }

    /// How many subscriptions are open.
    pub fn subscriber_count(&self) -> usize {
        self.shared.subscribers.load(Ordering::Relaxed)
    }
}

/// A filtered stream of bus messages; dropping it unsubscribes.
pub struct Subscription {
    rx: broadcast::Receiver<(u64, BusMessage)>,
    filter: SubscriptionFilter,
    shared: Arc<Shared>,
}

impl Subscription {
    /// The next message passing the filter, a lag notice, or `None` once the bus is gone.
    pub async fn recv(&mut self) -> Option<Received> {
        loop {
            match self.rx.recv().await {
                Ok((seq, message)) => {
                    if self.filter.matches(&message) {
                        return Some(Received::Message(seq, message));
                    }
                }
                Err(broadcast::error::RecvError::Lagged(skipped)) => {
                    metrics::counter!("monitor_bus_lagged_messages_total").increment(skipped);
                    return Some(Received::Lagged(skipped));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Like [`Subscription::recv`] without waiting: `None` when nothing is ready.
    pub fn try_recv(&mut self) -> Option<Received> {
        loop {
            match self.rx.try_recv() {
                Ok((seq, message)) => {
                    if self.filter.matches(&message) {
                        return Some(Received::Message(seq, message));
                    }
                }
                Err(broadcast::error::TryRecvError::Lagged(skipped)) => {
                    return Some(Received::Lagged(skipped));
                }
                Err(_) => return None,
            }
        }
    }

    /// The filter this subscription applies.
    pub fn filter(&self) -> &SubscriptionFilter {
        &self.filter
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.shared.subscribers.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!("monitor_bus_subscribers").decrement(1.0);
    }
}

//! The realtime bus: fans events and alerts out to filtered subscribers.
//!
//! Built on a tokio broadcast ring: publishing never waits, each subscriber reads at its
//! own pace, and a subscriber that falls more than the ring's capacity behind is told
//! how many messages it missed ([`Received::Lagged`]) and carries on from the oldest
//! message still held. A slow subscriber therefore loses only its own backlog and never
//! slows ingest or other subscribers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

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

impl Bus {
    /// A bus whose ring holds `capacity` messages per lagging subscriber.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Bus { shared: Arc::new(Shared { tx, seq: AtomicU64::new(0), subscribers: AtomicUsize::new(0) }) }
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
        let seq = self.shared.seq.fetch_add(1, Ordering::Relaxed) + 1;
        if self.shared.tx.receiver_count() > 0 {
            // An error only means every receiver went away meanwhile.
            let _ = self.shared.tx.send((seq, message));
        }
        seq
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

//! The bus every [`ServerEvent`] travels on: one tokio broadcast, made by whoever assembles the
//! server and handed to the line runtime and the HTTP layer alike.

use std::sync::Arc;

use tokio::sync::broadcast;

use super::ServerEvent;

/// A broadcast bus of [`ServerEvent`]s. Cheap to clone; every clone publishes to the same
/// subscribers.
#[derive(Debug, Clone)]
pub struct EventBus {
    // Arc: an event carrying a message is cloned once per subscriber otherwise.
    tx: broadcast::Sender<Arc<ServerEvent>>,
}

impl EventBus {
    /// A bus that buffers `capacity` events per slow subscriber before it lags.
    #[must_use]
    pub fn new(capacity: usize) -> EventBus {
        let (tx, _) = broadcast::channel(capacity.max(16));
        EventBus { tx }
    }

    /// Publishes an event (nobody listening is fine: the server may not listen yet).
    pub fn publish(&self, event: ServerEvent) {
        let _ = self.tx.send(Arc::new(event));
    }

    /// A new subscription: every event published from now on.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ServerEvent>> {
        self.tx.subscribe()
    }
}

impl Default for EventBus {
    /// A bus of 4096 events per subscriber.
    fn default() -> EventBus {
        EventBus::new(4096)
    }
}

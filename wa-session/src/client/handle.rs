//! What a connection's tasks share ([`Ctx`]): the way to the connection loop, the event
//! channel, the store, the credentials and the configuration. The driver makes one per
//! connection; the inbox and the life-cycle tasks use it.

use std::sync::Arc;

use tokio::{
    sync::{Mutex, mpsc},
    time::timeout,
};
use wa_proto::Node;

use super::{
    command::{Command, request},
    config::Config,
    event::Event,
};
use crate::{ConnectionError, Error, Result, credentials::DeviceCredentials};

/// What a connection's tasks share with the driver.
pub(crate) struct Ctx<S> {
    pub(crate) connection: mpsc::UnboundedSender<Command>,
    pub(crate) events: mpsc::Sender<Event>,
    pub(crate) store: Arc<S>,
    pub(crate) credentials: Arc<Mutex<DeviceCredentials>>,
    pub(crate) config: Arc<Config>,
}

impl<S> Clone for Ctx<S> {
    fn clone(&self) -> Self {
        Self {
            connection: self.connection.clone(),
            events: self.events.clone(),
            store: self.store.clone(),
            credentials: self.credentials.clone(),
            config: self.config.clone(),
        }
    }
}

impl<S> Ctx<S> {
    pub(crate) async fn iq(&self, node: Node) -> Result<Node> {
        timeout(self.config.iq_timeout, request(&self.connection, node))
            .await
            .map_err(|_| Error::Connection(ConnectionError::Timeout("iq answer")))?
    }

    pub(crate) async fn emit(&self, event: Event) {
        let _ = self.events.send(event).await;
    }
}

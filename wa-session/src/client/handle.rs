//! The connection handle: what the client handle, the inbox and the sending code ask of the
//! connection loop ([`Command`]), and what a connection's tasks share ([`Ctx`]). The driver,
//! the inbox and sending all import this file and none of them imports another for it.

use std::sync::Arc;

use tokio::{
    sync::{Mutex, mpsc, oneshot},
    time::timeout,
};
use wa_proto::Node;

use super::{Config, DisconnectReason, Event, iq::IqReply};
use crate::{Error, Result, credentials::DeviceCredentials};

/// What the client handle and the connection's own tasks ask of the connection loop.
#[derive(Debug)]
pub(crate) enum Command {
    /// Send a stanza as it is.
    Send(Node),
    /// Send an iq (given an id if it has none) and route its answer to `reply`.
    Iq { node: Node, reply: IqReply },
    /// Send a `<message>` and route the server's ack of `id` to `reply`.
    Message { id: String, node: Node, reply: oneshot::Sender<Node> },
    /// End the connection for this reason.
    End(DisconnectReason),
}

/// Sends an iq through `commands` and waits for its answer (no time limit).
pub(crate) async fn request(commands: &mpsc::UnboundedSender<Command>, node: Node) -> Result<Node> {
    let (reply, answer) = oneshot::channel();
    commands.send(Command::Iq { node, reply }).map_err(|_| Error::NotConnected)?;
    answer.await.map_err(|_| Error::NotConnected)?
}

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
            .map_err(|_| Error::Timeout("iq answer"))?
    }

    pub(crate) async fn emit(&self, event: Event) {
        let _ = self.events.send(event).await;
    }
}

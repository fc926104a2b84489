//! The one way into the connection loop: the [`Command`]s the client handle, the inbox, sending
//! and the life-cycle tasks send it, and [`request`] (or [`iq_with`], within the configured
//! time) for an iq's answer. Every other client file imports this one; it imports none of them
//! but the iq matcher's reply type, the reason and the configuration.

use tokio::sync::{mpsc, oneshot};
use wa_proto::Node;

use super::{config::Config, iq::IqReply, reason::DisconnectReason};
use crate::{ConnectionError, Error, Result};

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
    commands
        .send(Command::Iq { node, reply })
        .map_err(|_| Error::Connection(ConnectionError::NotConnected))?;
    answer.await.map_err(|_| Error::Connection(ConnectionError::NotConnected))?
}

/// Sends an iq through `commands` and waits for its answer, at most `config.iq_timeout`.
pub(crate) async fn iq_with(
    commands: &mpsc::UnboundedSender<Command>,
    config: &Config,
    node: Node,
) -> Result<Node> {
    tokio::time::timeout(config.iq_timeout, request(commands, node))
        .await
        .map_err(|_| Error::Connection(ConnectionError::Timeout("iq answer")))?
}

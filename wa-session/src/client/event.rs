//! What the client tells the application.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use wa_proto::{Jid, Node, proto::e2e};

use super::{command::Command, reason::DisconnectReason};
use crate::{
    Error,
    message::{MessageInfo, Receipt},
};

/// An event of the client's life cycle, in the order things happened.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// Show this QR code (text to render as a QR image) until `expires` has passed; the next
    /// one follows. Only while registering (not paired).
    Qr {
        /// The QR text.
        code: String,
        /// How long it is valid (60 s for the first, 20 s for the others).
        expires: Duration,
    },
    /// A phone scanned the code and the pairing verified; the credentials are saved. The server
    /// now restarts the stream (515) and the client logs in by itself.
    PairSuccess {
        /// Our device JID.
        jid: Jid,
        /// Our LID, if given.
        lid: Option<Jid>,
        /// The phone's platform.
        platform: Option<String>,
        /// The business name, for a business account.
        business_name: Option<String>,
    },
    /// A `pair-success` did not verify (wrong HMAC or account signature); the client stops.
    PairError {
        /// Why.
        error: Error,
    },
    /// Logged in and ready: prekeys checked (and uploaded if low), `passive active` and
    /// `presence available` sent.
    Connected,
    /// The connection ended. `reconnect_in` is when the client tries again, `None` if it
    /// stopped (then the event stream ends).
    Disconnected {
        /// Why.
        reason: DisconnectReason,
        /// The delay before the next attempt, if any.
        reconnect_in: Option<Duration>,
    },
    /// The device is logged out (removed from the phone, banned, or [`Client::logout`]); its
    /// credentials are deleted and the client stopped.
    ///
    /// [`Client::logout`]: super::Client::logout
    LoggedOut {
        /// Why.
        reason: DisconnectReason,
    },
    /// One-time prekeys were uploaded (the server held fewer than the minimum).
    PreKeysUploaded {
        /// How many.
        count: u32,
    },
    /// A message arrived and decrypted. Store it, then call [`MessageAck::ack`]: only then does
    /// the client make the Signal state change permanent, send the delivery receipt and ack the
    /// stanza. Until then the server keeps it; dropping the token makes the client reconnect, and
    /// the message (and what followed) is delivered again. Messages come one at a time: the next
    /// one waits for this one's token.
    ///
    /// A crash after the application stored the message but before the client committed means
    /// the message comes again: recognise it by `info.id`.
    Message {
        /// Who sent it, where, when.
        info: MessageInfo,
        /// The content (boxed: it is large).
        message: Box<e2e::Message>,
        /// Confirms that the application has stored it.
        ack: MessageAck,
    },
    /// A contact's identity key changed (they reinstalled WhatsApp or changed phone; their
    /// "security code changed"). The new key is accepted, as WhatsApp does, and the message that
    /// showed it follows as [`Event::Message`]. Comes again if that message is redelivered
    /// before it is confirmed.
    IdentityChanged {
        /// The device whose key changed (by phone number when known).
        sender: Jid,
        /// The chat of the message that showed it.
        chat: Jid,
    },
    /// The server accepted a message we sent (its ack: one tick).
    Sent {
        /// The message id.
        id: String,
        /// The server's timestamp (0 when absent).
        timestamp: u64,
    },
    /// A receipt for messages we sent (delivered, read, played, or another type); retry
    /// receipts are handled by the client and do not come here. Already acked.
    Receipt(Receipt),
    /// A `message`, `receipt` or `call` stanza no feature of the client handles yet. It is acked
    /// to the server only when the application calls [`PendingAck::ack`], after it has handled
    /// (and stored) it; if it never does, the server delivers it again later.
    Stanza {
        /// The stanza.
        node: Node,
        /// Its ack.
        ack: PendingAck,
    },
}

/// The ack of a stanza the application handles. Sent by [`PendingAck::ack`] only: dropping it
/// leaves the stanza unacknowledged, so the server redelivers it (at-least-once delivery).
#[derive(Debug)]
pub struct PendingAck {
    ack: Node,
    connection: mpsc::UnboundedSender<Command>,
}

impl PendingAck {
    pub(crate) fn new(ack: Node, connection: mpsc::UnboundedSender<Command>) -> Self {
        Self { ack, connection }
    }

    /// The `<ack>` node that will be sent.
    #[must_use]
    pub fn node(&self) -> &Node {
        &self.ack
    }

    /// Sends the ack on the connection the stanza came on. Returns `false` if that connection has
    /// ended meanwhile (the server will redeliver the stanza on the next one).
    pub fn ack(self) -> bool {
        self.connection.send(Command::Send(self.ack)).is_ok()
    }
}

/// The application's confirmation that it has stored an [`Event::Message`].
#[derive(Debug)]
pub struct MessageAck {
    done: oneshot::Sender<()>,
}

impl MessageAck {
    pub(crate) fn new() -> (Self, oneshot::Receiver<()>) {
        let (done, receiver) = oneshot::channel();
        (Self { done }, receiver)
    }

    /// Confirms: the client commits the message's Signal state, sends the delivery receipt and
    /// acks the stanza. Returns `false` if the connection it came on has ended meanwhile (the
    /// server delivers it again; the application recognises it by id).
    pub fn ack(self) -> bool {
        self.done.send(()).is_ok()
    }
}

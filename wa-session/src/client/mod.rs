//! The WhatsApp Web client on tokio: connect, register and pair by QR code, log in, stay
//! connected, reconnect, log out. Everything that is logic lives in sans-IO pieces
//! ([`Backoff`], [`DisconnectReason`], [`QrRotation`], [`crate::pairing`], [`ack_for`], and for
//! messaging the [`crate::machine::Machine`]); this module only drives them over a WebSocket:
//! it owns the socket, the timers and the tasks. Behind the cargo feature `client` (default).
//!
//! [`Client::start`] loads the device's credentials from the store (or makes them), spawns the
//! connection task and returns the client handle and its [`Event`] stream:
//!
//! - not paired: the server sends refs, the client emits [`Event::Qr`] for each in turn (60 s,
//!   then 20 s each); a phone scans; `pair-success` is verified, the credentials saved,
//!   `pair-device-sign` sent, [`Event::PairSuccess`]; the server restarts the stream (515) and the
//!   client logs in at once;
//! - paired: login; on `<success>` the prekey count is checked (812 uploaded the first time, 50
//!   when the server holds fewer than 5, also on an `encrypt` notification), `passive active` and
//!   `presence available` are sent, then [`Event::Connected`]; a `w:p` ping every 25 s must be
//!   answered within 10 s or the socket counts as dead;
//! - when a connection ends, [`Event::Disconnected`] says why ([`DisconnectReason`]) and when the
//!   client tries again (jittered Fibonacci backoff from 1 s to 15 min, reset after a stable
//!   connection; at once after 515); logged out, removed or banned devices get
//!   [`Event::LoggedOut`] and their credentials are deleted; `replaced`, 405 (client too old) and
//!   a temporary ban stop the client without deleting anything.
//!
//! Messaging (1:1): [`Client::send_message`] (and `send_text`, `send_reply`, `send_reaction`)
//! encrypts for every device of the chat and our own other devices (device lists from usync,
//! cached; sessions from prekey bundles) and waits for the server's ack ([`Event::Sent`]).
//! Incoming messages are decrypted without committing the Signal state and handed over as
//! [`Event::Message`] with a [`MessageAck`]; only when the application confirms is the state
//! committed (one atomic store write), the delivery receipt sent and the stanza acked, so a crash
//! means redelivery, never loss. Undecryptable messages get retry receipts; retry receipts for
//! our messages are answered from a bounded store of sent messages. Receipts come as
//! [`Event::Receipt`]; `devices` notifications refresh the device cache. Other `message`,
//! `receipt` and `call` stanzas come as [`Event::Stanza`] with a [`PendingAck`].

mod backoff;
mod command;
mod config;
mod contacts;
mod driver;
mod event;
mod handle;
mod inbox;
mod iq;
mod media;
mod media_state;
mod qr;
mod reason;
mod render;
mod send;
mod shared;
mod socket;
mod stanza;

use std::sync::{Arc, PoisonError, RwLock};

use rand::{SeedableRng as _, rngs::StdRng};
use tokio::sync::{Mutex, mpsc, watch};
use wa_proto::Node;

pub use crate::machine::MAX_RETRIES;
pub use crate::media::{
    conn::{MediaConn, upload_path_type},
    message::{MediaKind, MediaOptions, MediaRef, UploadedMedia, VOICE_NOTE_MIMETYPE},
};
pub use backoff::{Backoff, BackoffPolicy};
pub use config::{Clock, Config, PreKeyPolicy, SystemClock, WA_WEB_ORIGIN, WA_WEB_URL};
pub use event::{Event, MessageAck, PendingAck};
pub use qr::{FIRST_QR_TIMEOUT, NEXT_QR_TIMEOUT, QrRotation};
pub use reason::DisconnectReason;
#[cfg(test)]
pub(crate) use render::render;
pub use send::{Quoted, SentMessage};
pub use stanza::ack_for;

use self::{
    command::{Command, iq_with},
    driver::Driver,
    media_state::MediaState,
    shared::Shared,
};
use crate::{
    ConnectionError, Error, Result,
    credentials::DeviceCredentials,
    machine::{Machine, MachineConfig},
    pairing::ClientVersion,
    store::{DeviceStore, SignalStore},
};

/// The events of a client, in order. Ends when the client stops.
pub type Events = mpsc::Receiver<Event>;

/// A handle on a running client; clones share it. When every handle is dropped, the client
/// closes its connection and stops.
#[derive(Clone)]
pub struct Client {
    commands: mpsc::UnboundedSender<Command>,
    shared: Arc<Shared>,
    credentials: Arc<Mutex<DeviceCredentials>>,
    config: Arc<Config>,
    media: Arc<MediaState>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("shared", &self.shared).finish_non_exhaustive()
    }
}

impl Client {
    /// Starts a client on `store` (which holds the device's Signal keys and credentials): loads
    /// the credentials, or makes them around the store's identity and saves them, then connects
    /// in the background. Must be called within a tokio runtime.
    ///
    /// # Errors
    ///
    /// Store errors, and [`Error::Store`] if the stored credentials name another identity than
    /// the Signal store.
    pub async fn start<S>(config: Config, store: Arc<S>) -> Result<(Self, Events)>
    where
        S: SignalStore + DeviceStore + 'static,
    {
        let mut rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_rng(&mut rand::rng()),
        };
        let identity = store.identity_key_pair().await?;
        let credentials = match store.credentials().await? {
            Some(credentials) if credentials.identity != identity => {
                return Err(Error::Store(
                    "the stored credentials and the Signal store have different identities"
                        .to_owned(),
                ));
            }
            Some(credentials) => credentials,
            None => {
                let registration_id = store.local_registration_id().await?;
                let now = config.clock.now();
                let credentials = DeviceCredentials::generate_with_identity(
                    identity,
                    registration_id,
                    now,
                    &mut rng,
                );
                store.save_signed_pre_key(&credentials.signed_pre_key).await?;
                store.save_credentials(&credentials).await?;
                credentials
            }
        };
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (events, events_rx) = mpsc::channel(config.event_buffer.max(1));
        let shared = Arc::new(Shared {
            version: RwLock::new(config.version),
            online: watch::Sender::new(false),
            machine: Machine::new(
                store.clone() as Arc<dyn SignalStore>,
                MachineConfig {
                    device_cache_ttl: config.device_cache_ttl,
                    sent_messages_kept: config.sent_messages_kept,
                },
            ),
            signal: Mutex::new(()),
            rng: std::sync::Mutex::new(StdRng::from_rng(&mut rng)),
        });
        let credentials = Arc::new(Mutex::new(credentials));
        let backoff = Backoff::new(config.backoff);
        let media = Arc::new(MediaState::new(config.seed));
        let config = Arc::new(config);
        let driver = Driver {
            config: config.clone(),
            store: store.clone(),
            shared: shared.clone(),
            events,
            commands: commands_rx,
            credentials: credentials.clone(),
            rng,
            backoff,
        };
        tokio::spawn(driver.run());
        Ok((Self { commands, shared, credentials, config, media }, events_rx))
    }

    /// The WhatsApp Web version announced at the next connect.
    #[must_use]
    pub fn version(&self) -> ClientVersion {
        self.shared.version()
    }

    /// Replaces the version announced from the next connect on (after a 405, say).
    pub fn set_version(&self, version: ClientVersion) {
        *self.shared.version.write().unwrap_or_else(PoisonError::into_inner) = version;
    }

    /// A copy of the device's current credentials.
    pub async fn credentials(&self) -> DeviceCredentials {
        self.credentials.lock().await.clone()
    }

    /// Sends an iq (given an id if it has none) and waits for its answer, at most the configured
    /// `iq_timeout`.
    ///
    /// # Errors
    ///
    /// [`crate::ConnectionError::Iq`] for an error answer, [`crate::ConnectionError::NotConnected`]
    /// if there is no connection or it ended first, [`crate::ConnectionError::Timeout`].
    pub async fn iq(&self, node: Node) -> Result<Node> {
        iq_with(&self.commands, &self.config, node).await
    }

    /// Forgets the cached device list of `user` (the next message asks usync again).
    pub fn forget_devices(&self, user: &wa_proto::Jid) {
        self.shared.machine.forget_devices(user);
    }

    /// The same user (and device) in the other addressing (LID <-> phone number), if learnt from
    /// usync or message attributes.
    #[must_use]
    pub fn alternate_jid(&self, jid: &wa_proto::Jid) -> Option<wa_proto::Jid> {
        self.shared.machine.alternate_jid(jid)
    }

    /// Sends a stanza on the current connection (dropped if there is none).
    ///
    /// # Errors
    ///
    /// [`crate::ConnectionError::Stopped`] if the client has stopped.
    pub fn send(&self, node: Node) -> Result<()> {
        self.commands
            .send(Command::Send(node))
            .map_err(|_| Error::Connection(ConnectionError::Stopped))
    }

    /// Logs out: asks the server to remove this companion device, then deletes the credentials;
    /// the client emits [`Event::LoggedOut`] and stops.
    ///
    /// # Errors
    ///
    /// [`crate::ConnectionError::NotPaired`], or the iq's errors (the device stays paired then).
    pub async fn logout(&self) -> Result<()> {
        let jid = self.credentials.lock().await.account.as_ref().map(|a| a.jid.clone());
        let jid = jid.ok_or(Error::Connection(ConnectionError::NotPaired))?;
        self.iq(stanza::remove_companion_device(&jid)).await?;
        self.commands
            .send(Command::End(DisconnectReason::LoggedOutByClient))
            .map_err(|_| Error::Connection(ConnectionError::Stopped))
    }

    /// Closes the connection and stops the client ([`Event::Disconnected`] with
    /// [`DisconnectReason::ClosedByClient`]).
    pub fn close(&self) {
        let _ = self.commands.send(Command::End(DisconnectReason::ClosedByClient));
    }
}

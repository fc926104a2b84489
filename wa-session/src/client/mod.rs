//! The WhatsApp Web client on tokio: connect, register and pair by QR code, log in, stay
//! connected, reconnect, log out. Everything that is logic lives in sans-IO pieces
//! ([`Backoff`], [`DisconnectReason`], [`QrRotation`], [`crate::pairing`], [`ack_for`]); this
//! module only drives them over a WebSocket.
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
//! Incoming `message`, `receipt` and `call` stanzas come as [`Event::Stanza`] with a
//! [`PendingAck`]: they are acked to the server only when the application says so, after its
//! handler has stored them.

mod backoff;
mod config;
mod driver;
mod event;
mod iq;
mod media;
mod media_conn;
mod media_message;
mod qr;
mod reason;
mod render;
mod socket;
mod stanza;

use std::sync::{Arc, PoisonError, RwLock};

use rand::{SeedableRng as _, rngs::StdRng};
use tokio::sync::{Mutex, mpsc};
use wa_proto::Node;

pub use backoff::{Backoff, BackoffPolicy};
pub use config::{Config, PreKeyPolicy, SystemClock, UnixClock, WA_WEB_ORIGIN, WA_WEB_URL};
pub use event::{Event, PendingAck};
pub use media_conn::{MediaConn, upload_path_type};
pub use media_message::{MediaKind, MediaOptions, MediaRef, UploadedMedia, VOICE_NOTE_MIMETYPE};
pub use qr::{FIRST_QR_TIMEOUT, NEXT_QR_TIMEOUT, QrRotation};
pub use reason::DisconnectReason;
#[cfg(test)]
pub(crate) use render::render;
pub use stanza::ack_for;

use self::driver::{Command, Driver, request};
use crate::{
    Error, Result,
    credentials::DeviceCredentials,
    pairing::ClientVersion,
    store::{DeviceStore, SignalStore},
};

/// What the handle and the driver share.
#[derive(Debug)]
pub(crate) struct Shared {
    version: RwLock<ClientVersion>,
}

impl Shared {
    fn version(&self) -> ClientVersion {
        *self.version.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The events of a client, in order. Ends when the client stops.
pub type Events = mpsc::Receiver<Event>;

/// A handle on a running client; clones share it. When every handle is dropped, the client
/// closes its connection and stops.
#[derive(Debug, Clone)]
pub struct Client {
    commands: mpsc::UnboundedSender<Command>,
    shared: Arc<Shared>,
    credentials: Arc<Mutex<DeviceCredentials>>,
    config: Arc<Config>,
    media: Arc<media::MediaState>,
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
        let shared = Arc::new(Shared { version: RwLock::new(config.version) });
        let credentials = Arc::new(Mutex::new(credentials));
        let backoff = Backoff::new(config.backoff);
        let media = Arc::new(media::MediaState::new(config.seed));
        let config = Arc::new(config);
        let driver = Driver {
            config: config.clone(),
            store,
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
    /// [`Error::Iq`] for an error answer, [`Error::NotConnected`] if there is no connection or it
    /// ended first, [`Error::Timeout`].
    pub async fn iq(&self, node: Node) -> Result<Node> {
        tokio::time::timeout(self.config.iq_timeout, request(&self.commands, node))
            .await
            .map_err(|_| Error::Timeout("iq answer"))?
    }

    /// Sends a stanza on the current connection (dropped if there is none).
    ///
    /// # Errors
    ///
    /// [`Error::Stopped`] if the client has stopped.
    pub fn send(&self, node: Node) -> Result<()> {
        self.commands.send(Command::Send(node)).map_err(|_| Error::Stopped)
    }

    /// Logs out: asks the server to remove this companion device, then deletes the credentials;
    /// the client emits [`Event::LoggedOut`] and stops.
    ///
    /// # Errors
    ///
    /// [`Error::NotPaired`], or the iq's errors (the device stays paired then).
    pub async fn logout(&self) -> Result<()> {
        let jid = self.credentials.lock().await.account.as_ref().map(|a| a.jid.clone());
        let jid = jid.ok_or(Error::NotPaired)?;
        self.iq(stanza::remove_companion_device(&jid)).await?;
        self.commands
            .send(Command::End(DisconnectReason::LoggedOutByClient))
            .map_err(|_| Error::Stopped)
    }

    /// Closes the connection and stops the client ([`Event::Disconnected`] with
    /// [`DisconnectReason::ClosedByClient`]).
    pub fn close(&self) {
        let _ = self.commands.send(Command::End(DisconnectReason::ClosedByClient));
    }
}

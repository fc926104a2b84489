//! A wa-sim in this process, listening on loopback, and a wa-session device linked to one of
//! its accounts the way a person does it: the client shows a QR code and the account's
//! (simulated) phone scans it.

use std::{sync::Arc, time::Duration};

use anyhow::{Context as _, bail};
use wa_proto::Jid;
use wa_session::{
    KeyPair,
    client::{Client, Config, Event, Events},
    signal::generate_registration_id,
    store::MemoryStore,
};
use wa_sim::{Sim, SimConfig};

/// How long linking may take on loopback (it takes well under a second) before the program
/// gives up instead of hanging.
const LINK_WITHIN: Duration = Duration::from_secs(20);

/// A WhatsApp simulator running in this process.
pub struct LocalWhatsApp {
    /// The simulator's handle: accounts, their phones, what the phones received.
    pub sim: Sim,
    /// Its WebSocket URL (`ws://127.0.0.1:PORT/ws/chat`).
    pub url: String,
}

/// Starts a client for a brand-new device (fresh identity, keys kept in memory) against `config`.
/// It connects in the background; its first event is a QR code to scan.
///
/// # Errors
///
/// When the client cannot start (store errors).
pub async fn new_device(config: Config) -> anyhow::Result<(Client, Events)> {
    let mut rng = rand::rng();
    let identity = KeyPair::generate(&mut rng);
    let store = Arc::new(MemoryStore::new(identity, generate_registration_id(&mut rng)));
    Ok(Client::start(config, store).await?)
}

impl LocalWhatsApp {
    /// Starts a simulator with a WebSocket listener on an ephemeral loopback port.
    ///
    /// # Errors
    ///
    /// When the port cannot be bound.
    pub async fn start() -> anyhow::Result<Self> {
        let sim = Sim::new(SimConfig::default());
        let addr = sim.serve_ws(([127, 0, 0, 1], 0).into()).await?;
        Ok(Self { sim, url: format!("ws://{addr}/ws/chat") })
    }

    /// A client configuration for this simulator: its URL, and its root key trusted instead of
    /// WhatsApp's.
    #[must_use]
    pub fn config(&self) -> Config {
        Config { url: self.url.clone(), root_key: self.sim.root_key(), ..Config::default() }
    }

    /// Creates the account `phone` (digits only) with its simulated phone; returns its JID.
    ///
    /// # Errors
    ///
    /// When the account exists already or the number is not valid.
    pub fn add_account(&self, phone: &str) -> anyhow::Result<Jid> {
        let account = self.sim.create_account(phone, None)?;
        account.jid.parse().context("the simulator's JID")
    }

    /// Links a new device to the account `phone`: starts a client, lets the account's phone
    /// scan the QR code, and returns once the device is logged in (its prekeys uploaded, so
    /// others can start sessions with it).
    ///
    /// # Errors
    ///
    /// When pairing fails or the client stops before it is online.
    pub async fn link(&self, phone: &str) -> anyhow::Result<(Client, Events)> {
        let (client, mut events) = new_device(self.config()).await?;
        let linking = async {
            while let Some(event) = events.recv().await {
                match event {
                    Event::Qr { code, .. } => {
                        self.sim.scan(&code, phone).await?;
                    }
                    Event::Connected => return Ok(()),
                    Event::PairError { error } => bail!("pairing refused: {error}"),
                    Event::LoggedOut { reason } => bail!("logged out while linking: {reason}"),
                    // PairSuccess, the restart that follows it, the prekey upload: nothing to do.
                    _ => {}
                }
            }
            bail!("the client stopped before it was online")
        };
        tokio::time::timeout(LINK_WITHIN, linking)
            .await
            .with_context(|| format!("{phone} was not linked within {LINK_WITHIN:?}"))??;
        Ok((client, events))
    }
}

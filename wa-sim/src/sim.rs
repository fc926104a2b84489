//! The simulator's state and its Rust control API.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use rand::{RngExt as _, SeedableRng as _, rngs::StdRng};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use wa_proto::{Jid, Node, Server, proto::cert::CertChain};
use wa_session::{
    KeyPair, PublicKey,
    cert::ChainSpec,
    pairing::adv::{DeviceFacts, sign_device_identity},
};

use crate::{Clock, Error, QrCode, Result, SystemClock};

/// How many companion devices an account can have linked at once, as on WhatsApp.
pub const MAX_COMPANIONS: usize = 4;

/// How long [`Sim::scan`] waits for the companion's `pair-device-sign`.
pub const PAIRING_TIMEOUT: Duration = Duration::from_secs(20);

/// Settings of a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seeds every key and random value; `None` draws a seed from the operating system.
    pub seed: Option<u64>,
    /// The clock for timestamps and certificate validity.
    pub clock: Arc<dyn Clock>,
    /// The host name `media_conn` answers with until [`Sim::serve_media`] runs (then the media
    /// host's `127.0.0.1:<port>`).
    pub media_host: String,
    /// Clients announcing an older WhatsApp Web version get `<failure reason="405"/>`.
    pub min_version: Option<wa_session::pairing::ClientVersion>,
    /// How long the server waits, after a `<stream:error>` or `<failure>`, for the client to
    /// close the socket before closing it itself (default [`STREAM_CLOSE_DELAY`]). The client
    /// is meant to close first: whatsmeow (`connectionevents.go`, `handleStreamError`) and
    /// Baileys (`src/Socket/socket.ts`, `CB:stream:error` -> `end`) both end the connection on
    /// their own, after reading the stanza however long their handler takes; closing at once
    /// let a client that handles stanzas on another task see the close before the error.
    pub stream_close_delay: Duration,
}

/// The default [`SimConfig::stream_close_delay`]: long enough for any client's stanza handler,
/// short enough that a client that never closes does not hold the connection long.
pub const STREAM_CLOSE_DELAY: Duration = Duration::from_secs(2);

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: None,
            clock: Arc::new(SystemClock),
            media_host: "127.0.0.1".to_owned(),
            min_version: None,
            stream_close_delay: STREAM_CLOSE_DELAY,
        }
    }
}

/// A stream error the control API can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StreamError {
    /// `<stream:error code="515"/>`: restart required.
    RestartRequired,
    /// `<stream:error code="503"/>`: service unavailable, reconnect.
    Unavailable,
    /// `<stream:error><conflict type="replaced"/></stream:error>`: another connection took over.
    Replaced,
    /// `<stream:error code="401"><conflict type="device_removed"/></stream:error>`: logged out.
    DeviceRemoved,
}

impl StreamError {
    /// The node sent to the client.
    #[must_use]
    pub fn node(self) -> Node {
        match self {
            Self::RestartRequired => Node::builder("stream:error").attr("code", "515").build(),
            Self::Unavailable => Node::builder("stream:error").attr("code", "503").build(),
            Self::Replaced => Node::builder("stream:error")
                .children([Node::builder("conflict").attr("type", "replaced").build()])
                .build(),
            Self::DeviceRemoved => Node::builder("stream:error")
                .attr("code", "401")
                .children([Node::builder("conflict").attr("type", "device_removed").build()])
                .build(),
        }
    }

    /// Parses `515`, `503`, `replaced`, `device_removed`.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "515" | "restart_required" => Some(Self::RestartRequired),
            "503" | "unavailable" => Some(Self::Unavailable),
            "replaced" | "conflict" | "440" => Some(Self::Replaced),
            "device_removed" | "401" => Some(Self::DeviceRemoved),
            _ => None,
        }
    }
}

/// Which connections a control call acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// Only connections of this account (`None`: every connection, including unpaired ones).
    pub phone: Option<String>,
    /// Only this device of the account.
    pub device: Option<u16>,
}

/// What the control API reports about an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountInfo {
    /// Phone number, digits only.
    pub phone: String,
    /// `phone@s.whatsapp.net`.
    pub jid: String,
    /// `lid@lid`.
    pub lid: String,
    /// The primary phone's identity public key, hex.
    pub identity_key: String,
}

/// What the control API reports about a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceInfo {
    /// The device id (0 is the primary phone).
    pub device: u16,
    /// `phone:device@s.whatsapp.net`.
    pub jid: String,
    /// `lid:device@lid`.
    pub lid: String,
    /// The platform the companion announced, if a companion.
    pub platform: Option<String>,
    /// Whether it has been removed (kicked or logged out).
    pub removed: bool,
    /// Open connections logged in as this device.
    pub connections: usize,
    /// One-time prekeys the server holds for it.
    pub prekeys: usize,
    /// Routed messages and receipts waiting for its ack.
    pub queued: usize,
}

/// Counters of what the simulator did, since it started. Fields marked *now* are gauges taken
/// when read; the others only grow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// WebSocket connections accepted (`ws://` and `wss://`).
    pub connections: u64,
    /// Connections open *now* (handshaking, registering, logged in or black-holed).
    pub connections_open: u64,
    /// Of [`Counters::connections`], those over `wss://`.
    pub tls_connections: u64,
    /// TLS handshakes on the `wss://` listener that failed.
    pub tls_failures: u64,
    /// Noise handshakes completed.
    pub handshakes: u64,
    /// Noise handshakes that failed or timed out, and frames that did not decrypt afterwards.
    pub handshake_failures: u64,
    /// `pair-device` stanzas sent (registrations).
    pub pair_device_sent: u64,
    /// Pairings completed (device signature verified).
    pub pairings: u64,
    /// Pairings refused (bad answer or signature).
    pub pairing_failures: u64,
    /// Companions registered directly through [`Sim::register_companion`] (no QR).
    pub registered: u64,
    /// `<success>` sent.
    pub logins: u64,
    /// `<failure>` sent.
    pub login_failures: u64,
    /// Stanzas received after the handshake.
    pub stanzas_in: u64,
    /// Stanzas sent after the handshake (dropped ones not included).
    pub stanzas_out: u64,
    /// iq requests answered.
    pub iqs: u64,
    /// iq requests the simulator does not implement (answered with the real server's
    /// `501 feature-not-implemented` error).
    pub iqs_unhandled: u64,
    /// [`Counters::iqs_unhandled`] by the request's `xmlns` (`(none)` when it has none).
    pub iqs_unhandled_namespaces: BTreeMap<String, u64>,
    /// One-time prekeys uploaded.
    pub prekeys_uploaded: u64,
    /// One-time prekeys handed out in prekey bundles.
    pub prekeys_served: u64,
    /// `encrypt` notifications sent to companions running low on one-time prekeys.
    pub prekey_notifications: u64,
    /// Stream errors sent (injected, kicks, 515 after pairing, replaced).
    pub stream_errors: u64,
    /// Messages and receipts routed to a device (queued, and sent if it was connected).
    pub routed: u64,
    /// Messages and receipts handed to the simulated phones (device 0), not in `routed`.
    pub to_phones: u64,
    /// Of [`Counters::routed`], the receipts.
    pub receipts_relayed: u64,
    /// Routed stanzas the recipient acked or, for messages, answered with a receipt (removed
    /// from its queue).
    pub acked: u64,
    /// Routed stanzas waiting in device queues *now*.
    pub queued: u64,
    /// Media blobs uploaded.
    pub media_uploads: u64,
    /// Media blobs downloaded.
    pub media_downloads: u64,
    /// Bytes of media blobs stored *now*.
    pub media_bytes: u64,
    /// Frames sent later because of a latency fault.
    pub delayed_out: u64,
    /// Frames received and handled later because of a latency fault.
    pub delayed_in: u64,
    /// Stanzas not sent because of a drop fault or a black-holed connection.
    pub dropped: u64,
    /// Connections turned into dead sockets by [`Sim::black_hole`].
    pub black_holed: u64,
}

/// The result of a completed pairing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairedDevice {
    /// The account's phone number.
    pub phone: String,
    /// The device id assigned.
    pub device: u16,
    /// `phone:device@s.whatsapp.net`.
    pub jid: String,
    /// `lid:device@lid`.
    pub lid: String,
}

/// A message routed to a companion, as the server saw it (it cannot decrypt it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoutedMessage {
    /// The message id.
    pub id: String,
    /// The sending device, as delivered (`from`).
    pub from: String,
    /// The stanza's `type` (`text`, `media`, ...).
    pub kind: String,
    /// The `type` of each `<enc>` (`pkmsg`, `msg`, `skmsg`).
    pub enc_types: Vec<String>,
    /// When it was routed (the sim clock, unix seconds).
    pub t: u64,
}

pub(crate) struct Account {
    pub(crate) phone: String,
    pub(crate) lid: String,
    pub(crate) identity: KeyPair,
    pub(crate) adv_raw_id: u32,
    pub(crate) next_key_index: u32,
    pub(crate) next_device: u16,
    pub(crate) devices: BTreeMap<u16, Device>,
}

impl Account {
    /// Refuses a new companion when [`MAX_COMPANIONS`] are linked (removed ones do not count).
    fn check_room_for_companion(&self, phone: &str) -> Result<()> {
        let linked = self.devices.iter().filter(|(id, d)| **id != 0 && !d.removed).count();
        if linked >= MAX_COMPANIONS {
            return Err(Error::TooManyCompanions(phone.to_owned()));
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Device {
    pub(crate) noise_key: Option<PublicKey>,
    pub(crate) identity_key: PublicKey,
    pub(crate) registration_id: u32,
    pub(crate) key_index: u32,
    pub(crate) platform: Option<String>,
    pub(crate) removed: bool,
    pub(crate) prekeys: BTreeMap<u32, Vec<u8>>,
    pub(crate) signed_prekey: Option<SignedPreKey>,
}

#[derive(Debug, Clone)]
pub(crate) struct SignedPreKey {
    pub(crate) id: u32,
    pub(crate) public: Vec<u8>,
    pub(crate) signature: Vec<u8>,
}

/// What a registering companion told the server in its `devicePairingData`.
#[derive(Debug, Clone)]
pub(crate) struct Registration {
    pub(crate) noise_key: PublicKey,
    pub(crate) identity_key: PublicKey,
    pub(crate) registration_id: u32,
    pub(crate) signed_prekey: Option<SignedPreKey>,
}

pub(crate) struct PendingPair {
    pub(crate) iq_id: String,
    pub(crate) phone: String,
    pub(crate) device: u16,
    pub(crate) key_index: u32,
    pub(crate) details: Vec<u8>,
    pub(crate) account_key: PublicKey,
    pub(crate) platform: Option<String>,
    pub(crate) done: oneshot::Sender<Result<PairedDevice>>,
}

pub(crate) enum Role {
    Handshaking,
    Registering { refs: Vec<String>, registration: Registration, pending: Option<Box<PendingPair>> },
    LoggedIn { phone: String, device: u16 },
}

/// What a connection task is told to do.
#[derive(Debug)]
pub(crate) enum Command {
    Send(Node),
    /// Send the node, then close.
    End(Node),
    Close,
    /// Stop sending and answering, keep the socket open (a dead connection).
    BlackHole,
}

pub(crate) struct ConnEntry {
    pub(crate) tx: mpsc::UnboundedSender<Command>,
    pub(crate) role: Role,
}

/// A routed stanza waiting for the recipient's ack.
pub(crate) struct Queued {
    pub(crate) class: &'static str,
    pub(crate) id: String,
    pub(crate) node: Node,
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) accounts: BTreeMap<String, Account>,
    /// Per device (`phone`, `device`): routed stanzas not yet acked.
    pub(crate) queues: BTreeMap<(String, u16), Vec<Queued>>,
    pub(crate) conns: BTreeMap<u64, ConnEntry>,
    pub(crate) next_conn: u64,
    pub(crate) counters: Counters,
    /// Latency and drop rules, in the order they were set.
    pub(crate) faults: Vec<crate::fault::FaultRule>,
    /// The last messages routed to each companion (what the control API lists).
    pub(crate) routed_log: BTreeMap<(String, u16), std::collections::VecDeque<RoutedMessage>>,
    /// Stanzas routed to a device 0, handed to the simulated phones once the lock is released.
    pub(crate) to_phones: Vec<(String, Node)>,
    /// Per device: its logged-in connections, an index over `conns` so that routing a stanza
    /// does not visit every connection.
    online: BTreeMap<(String, u16), Vec<u64>>,
}

impl State {
    /// Marks connection `id` logged in as `phone:device`.
    pub(crate) fn log_in(&mut self, id: u64, phone: &str, device: u16) {
        if let Some(entry) = self.conns.get_mut(&id) {
            entry.role = Role::LoggedIn { phone: phone.to_owned(), device };
            self.online.entry((phone.to_owned(), device)).or_default().push(id);
        }
    }

    /// Forgets connection `id`; its entry, if it was there.
    pub(crate) fn remove_conn(&mut self, id: u64) -> Option<ConnEntry> {
        let entry = self.conns.remove(&id)?;
        if let Role::LoggedIn { phone, device } = &entry.role {
            let key = (phone.clone(), *device);
            if let Some(ids) = self.online.get_mut(&key) {
                ids.retain(|c| *c != id);
                if ids.is_empty() {
                    self.online.remove(&key);
                }
            }
        }
        Some(entry)
    }

    /// The logged-in connections of `phone:device`, with their ids.
    pub(crate) fn connections_of(
        &self,
        phone: &str,
        device: u16,
    ) -> impl Iterator<Item = (u64, &ConnEntry)> {
        self.online
            .get(&(phone.to_owned(), device))
            .into_iter()
            .flatten()
            .filter_map(|id| Some((*id, self.conns.get(id)?)))
    }
}

pub(crate) struct Inner {
    pub(crate) root: KeyPair,
    pub(crate) static_key: KeyPair,
    pub(crate) chain: CertChain,
    pub(crate) config: SimConfig,
    pub(crate) rng: Mutex<StdRng>,
    pub(crate) state: Mutex<State>,
    pub(crate) media: Mutex<crate::media::MediaState>,
    /// The self-signed certificate of `wss://` and the media host, made on first use.
    pub(crate) tls: Mutex<Option<Arc<crate::tls::SelfSigned>>>,
    /// The simulated primary phones, by account phone number.
    pub(crate) phones: Mutex<std::collections::HashMap<String, Arc<crate::phone::Phone>>>,
}

/// A simulated WhatsApp server with its users' primary phones. Clones share the simulator.
///
/// See the crate documentation for an example.
#[derive(Clone)]
pub struct Sim {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim").field("root", &self.inner.root.public).finish_non_exhaustive()
    }
}

pub(crate) fn phone_jid(phone: &str, device: u16) -> Jid {
    Jid::with_device(phone, Server::from_name("s.whatsapp.net"), device)
}

pub(crate) fn lid_jid(lid: &str, device: u16) -> Jid {
    Jid::with_device(lid, Server::from_name("lid"), device)
}

impl Sim {
    /// A simulator with a fresh test root, intermediate and Noise static key, drawn from the
    /// configured seed. The chain is valid from a day before the clock's time for ten years.
    #[must_use]
    pub fn new(config: SimConfig) -> Self {
        Self::with_keys(config, None)
    }

    /// [`Sim::new`] with a given root and Noise static key (a restored state file's).
    pub(crate) fn with_keys(config: SimConfig, keys: Option<(KeyPair, KeyPair)>) -> Self {
        let mut rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_rng(&mut rand::rng()),
        };
        let (root, static_key) = match keys {
            Some(keys) => keys,
            None => (KeyPair::generate(&mut rng), KeyPair::generate(&mut rng)),
        };
        let now = config.clock.now();
        let chain = ChainSpec::new(
            &root,
            KeyPair::generate(&mut rng),
            now.saturating_sub(86_400),
            now.saturating_add(10 * 365 * 86_400),
        )
        .build(&static_key.public, &mut rng);
        Self {
            inner: Arc::new(Inner {
                root,
                static_key,
                chain,
                config,
                rng: Mutex::new(rng),
                state: Mutex::new(State::default()),
                media: Mutex::new(crate::media::MediaState::default()),
                tls: Mutex::new(None),
                phones: Mutex::default(),
            }),
        }
    }

    /// The test root's public key: what a client must trust instead of WhatsApp's.
    #[must_use]
    pub fn root_key(&self) -> PublicKey {
        self.inner.root.public
    }

    /// The Noise static key the chain certifies.
    #[must_use]
    pub fn static_key(&self) -> PublicKey {
        self.inner.static_key.public
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.inner.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn media(&self) -> MutexGuard<'_, crate::media::MediaState> {
        self.inner.media.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn rng(&self) -> MutexGuard<'_, StdRng> {
        self.inner.rng.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn now(&self) -> u64 {
        self.inner.config.clock.now()
    }

    /// Random alphanumeric text (ids, refs, tokens).
    pub(crate) fn random_text(&self, len: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut rng = self.rng();
        (0..len).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect()
    }

    /// Creates an account with a primary phone (device 0) holding a fresh identity key. The LID
    /// is drawn at random (15 digits) unless given.
    ///
    /// # Errors
    ///
    /// [`Error::BadPhone`] if `phone` is not 5 to 15 digits, [`Error::AccountExists`].
    pub fn create_account(&self, phone: &str, lid: Option<&str>) -> Result<AccountInfo> {
        let valid = |s: &str| (5..=15).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
        if !valid(phone) {
            return Err(Error::BadPhone(phone.to_owned()));
        }
        let now = self.now();
        let (identity, raw_id, lid, phone_keys) = {
            let mut rng = self.rng();
            let identity = KeyPair::generate(&mut *rng);
            let raw_id = rng.random::<u32>();
            let lid = match lid {
                Some(lid) if valid(lid) => lid.to_owned(),
                Some(lid) => return Err(Error::BadPhone(lid.to_owned())),
                None => {
                    format!("{}", rng.random_range(100_000_000_000_000u64..1_000_000_000_000_000))
                }
            };
            // The phone's Signal store; the server publishes its signed prekey and one-time
            // prekeys for device 0 from the same keys (senders start sessions from them).
            let keys =
                crate::phone::new_phone(&identity, raw_id & 0x3fff, phone, &lid, now, &mut rng)?;
            (identity, raw_id, lid, keys)
        };
        let (phone_state, signed_prekey, one_time) = phone_keys;
        let mut state = self.state();
        if state.accounts.contains_key(phone) {
            return Err(Error::AccountExists(phone.to_owned()));
        }
        let primary = Device {
            noise_key: None,
            identity_key: identity.public,
            registration_id: raw_id & 0x3fff,
            key_index: 0,
            platform: Some("android".to_owned()),
            removed: false,
            prekeys: one_time.into_iter().collect(),
            signed_prekey: Some(signed_prekey),
        };
        let account = Account {
            phone: phone.to_owned(),
            lid,
            identity,
            adv_raw_id: raw_id,
            next_key_index: 1,
            next_device: 1,
            devices: BTreeMap::from([(0, primary)]),
        };
        let info = account_info(&account);
        state.accounts.insert(phone.to_owned(), account);
        drop(state);
        self.phones().insert(phone.to_owned(), Arc::new(phone_state));
        Ok(info)
    }

    /// The account's primary phone reinstalls WhatsApp (or moves to a new phone): device 0 gets
    /// a fresh identity key, registration id, signed prekey and one-time prekeys, and its Signal
    /// store starts empty, so its next message to anyone opens a new session under the new
    /// identity. Linked companions are left as they were.
    ///
    /// # Errors
    ///
    /// [`Error::NoAccount`].
    pub fn reinstall_phone(&self, phone: &str) -> Result<()> {
        let lid = {
            let state = self.state();
            state.accounts.get(phone).ok_or_else(|| Error::NoAccount(phone.to_owned()))?.lid.clone()
        };
        let now = self.now();
        let (identity, registration_id, keys) = {
            let mut rng = self.rng();
            let identity = KeyPair::generate(&mut *rng);
            let registration_id = rng.random::<u32>() & 0x3fff;
            let keys =
                crate::phone::new_phone(&identity, registration_id, phone, &lid, now, &mut rng)?;
            (identity, registration_id, keys)
        };
        let (phone_state, signed_prekey, one_time) = keys;
        {
            let mut state = self.state();
            let account =
                state.accounts.get_mut(phone).ok_or_else(|| Error::NoAccount(phone.to_owned()))?;
            let primary =
                account.devices.get_mut(&0).ok_or_else(|| Error::NoAccount(phone.to_owned()))?;
            primary.identity_key = identity.public;
            primary.registration_id = registration_id;
            primary.prekeys = one_time.into_iter().collect();
            primary.signed_prekey = Some(signed_prekey);
            account.identity = identity;
        }
        self.phones().insert(phone.to_owned(), Arc::new(phone_state));
        Ok(())
    }

    /// Every account.
    #[must_use]
    pub fn accounts(&self) -> Vec<AccountInfo> {
        self.state().accounts.values().map(account_info).collect()
    }

    /// The devices of an account.
    ///
    /// # Errors
    ///
    /// [`Error::NoAccount`].
    pub fn devices(&self, phone: &str) -> Result<Vec<DeviceInfo>> {
        let state = self.state();
        let account =
            state.accounts.get(phone).ok_or_else(|| Error::NoAccount(phone.to_owned()))?;
        Ok(account
            .devices
            .iter()
            .map(|(&id, device)| DeviceInfo {
                device: id,
                jid: phone_jid(phone, id).to_string(),
                lid: lid_jid(&account.lid, id).to_string(),
                platform: device.platform.clone(),
                removed: device.removed,
                connections: state.connections_of(phone, id).count(),
                prekeys: device.prekeys.len(),
                queued: state.queues.get(&(phone.to_owned(), id)).map_or(0, Vec::len),
            })
            .collect())
    }

    /// The phone of account `phone` scans `qr`: it finds the connection showing that ref, signs
    /// the companion's identity (ADV), sends `pair-success`, and waits for the companion's
    /// `pair-device-sign` (at most [`PAIRING_TIMEOUT`]). When the device signature verifies the
    /// device is added, and the connection gets `<stream:error code="515"/>`.
    ///
    /// # Errors
    ///
    /// [`Error::BadQr`], [`Error::NoAccount`], [`Error::TooManyCompanions`] if the account already
    /// has [`MAX_COMPANIONS`] linked, [`Error::NoPairingConnection`] if no connection
    /// shows this ref with these keys, [`Error::PairingFailed`] if the answer is refused,
    /// [`Error::PairingTimeout`].
    pub async fn scan(&self, qr: &str, phone: &str) -> Result<PairedDevice> {
        let qr = QrCode::parse(qr)?;
        let iq_id = self.random_text(12);
        let (tx, rx) = oneshot::channel();
        {
            let mut guard = self.state();
            let state = &mut *guard;
            let account =
                state.accounts.get_mut(phone).ok_or_else(|| Error::NoAccount(phone.to_owned()))?;
            account.check_room_for_companion(phone)?;
            let entry = state
                .conns
                .values_mut()
                .find(|c| match &c.role {
                    Role::Registering { refs, registration, pending: None } => {
                        refs.contains(&qr.reference)
                            && registration.noise_key == qr.noise_key
                            && registration.identity_key == qr.identity_key
                    }
                    _ => false,
                })
                .ok_or(Error::NoPairingConnection)?;
            let device = account.next_device;
            let key_index = account.next_key_index;
            let facts =
                DeviceFacts { raw_id: account.adv_raw_id, timestamp: self.now(), key_index };
            let (details, wrapped) = sign_device_identity(
                &account.identity,
                &qr.adv_secret,
                &qr.identity_key,
                facts,
                &mut *self.rng(),
            );
            let platform = qr.platform.clone().map(|p| platform_name(&p).to_owned());
            let node = Node::builder("iq")
                .attr("from", Jid::server_jid())
                .attr("id", iq_id.clone())
                .attr("type", "set")
                .children([Node::builder("pair-success")
                    .children([
                        Node::builder("device-identity").bytes(wrapped).build(),
                        // The primary phone's platform, as real WhatsApp sends it.
                        Node::builder("platform").attr("name", "android").build(),
                        Node::builder("device")
                            .attr("jid", phone_jid(phone, device))
                            .attr("lid", lid_jid(&account.lid, device))
                            .build(),
                        Node::builder("biz").attr("name", "").build(),
                    ])
                    .build()])
                .build();
            if let Role::Registering { pending, .. } = &mut entry.role {
                *pending = Some(Box::new(PendingPair {
                    iq_id,
                    phone: phone.to_owned(),
                    device,
                    key_index,
                    details,
                    account_key: account.identity.public,
                    platform,
                    done: tx,
                }));
            }
            // Reserve the id and key index now, so two scans never share them.
            account.next_device += 1;
            account.next_key_index += 1;
            let _ = entry.tx.send(Command::Send(node));
        }
        match tokio::time::timeout(PAIRING_TIMEOUT, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(Error::PairingFailed("the connection closed".to_owned())),
            Err(_) => Err(Error::PairingTimeout),
        }
    }

    /// Removes a device: its connections get `stream:error 401 device_removed`, and later logins
    /// get `<failure reason="401"/>`.
    ///
    /// # Errors
    ///
    /// [`Error::NoAccount`], [`Error::NoDevice`].
    pub fn kick(&self, phone: &str, device: u16) -> Result<usize> {
        {
            let mut state = self.state();
            let account =
                state.accounts.get_mut(phone).ok_or_else(|| Error::NoAccount(phone.to_owned()))?;
            let entry = account
                .devices
                .get_mut(&device)
                .filter(|_| device != 0)
                .ok_or_else(|| Error::NoDevice { phone: phone.to_owned(), device })?;
            entry.removed = true;
            // A removed device never logs in again: drop what was waiting for it.
            state.queues.remove(&(phone.to_owned(), device));
        }
        Ok(self.inject(
            &Target { phone: Some(phone.to_owned()), device: Some(device) },
            StreamError::DeviceRemoved,
        ))
    }

    /// Sends a stream error to the matching connections and closes them; returns how many.
    pub fn inject(&self, target: &Target, error: StreamError) -> usize {
        let mut state = self.state();
        let mut count = 0;
        for entry in state.conns.values().filter(|c| matches(c, target)) {
            if entry.tx.send(Command::End(error.node())).is_ok() {
                count += 1;
            }
        }
        state.counters.stream_errors += count as u64;
        count
    }

    /// Closes the matching connections without a word; returns how many.
    pub fn close(&self, target: &Target) -> usize {
        let state = self.state();
        state
            .conns
            .values()
            .filter(|c| matches(c, target))
            .filter(|c| c.tx.send(Command::Close).is_ok())
            .count()
    }

    /// The counters so far (see [`Counters`] for each one).
    #[must_use]
    pub fn counters(&self) -> Counters {
        let mut counters = {
            let state = self.state();
            let mut counters = state.counters.clone();
            counters.connections_open = state.conns.len() as u64;
            counters.queued = state.queues.values().map(|q| q.len() as u64).sum();
            counters
        };
        let media = self.media();
        counters.media_uploads = media.uploads;
        counters.media_downloads = media.downloads;
        counters.media_bytes = media.total as u64;
        counters
    }

    /// Adds a companion device to account `phone` as if it had been paired, without the QR
    /// dance: meant for load tests that connect thousands of devices. The device still has to
    /// complete the Noise handshake with `noise_key` and log in with a `ClientPayload` naming
    /// `phone` and the returned device id to get `<success>`. `identity_key` and
    /// `registration_id` are what usync and prekey bundles hand out for it.
    ///
    /// # Errors
    ///
    /// [`Error::NoAccount`], [`Error::TooManyCompanions`] (the limit of [`MAX_COMPANIONS`]
    /// holds here too).
    pub fn register_companion(
        &self,
        phone: &str,
        noise_key: PublicKey,
        identity_key: PublicKey,
        registration_id: u32,
    ) -> Result<u16> {
        let mut state = self.state();
        let account =
            state.accounts.get_mut(phone).ok_or_else(|| Error::NoAccount(phone.to_owned()))?;
        account.check_room_for_companion(phone)?;
        let device = account.next_device;
        let key_index = account.next_key_index;
        account.next_device += 1;
        account.next_key_index += 1;
        account.devices.insert(
            device,
            Device {
                noise_key: Some(noise_key),
                identity_key,
                registration_id,
                key_index,
                platform: Some("load".to_owned()),
                removed: false,
                prekeys: BTreeMap::new(),
                signed_prekey: None,
            },
        );
        state.counters.registered += 1;
        Ok(device)
    }

    /// Binds the WebSocket listener (`/ws/chat`) on `addr`, loopback only, and serves it in the
    /// background. Returns the bound address.
    ///
    /// # Errors
    ///
    /// [`Error::NotLoopback`], [`Error::Bind`].
    pub async fn serve_ws(&self, addr: SocketAddr) -> Result<SocketAddr> {
        let listener = bind(addr).await?;
        let local = listener.local_addr().map_err(|source| Error::Bind { addr, source })?;
        let sim = self.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sim = sim.clone();
                tokio::spawn(async move { crate::conn::run(sim, stream).await });
            }
        });
        Ok(local)
    }

    /// Binds the same WebSocket service over TLS (`wss://{addr}/ws/chat`), loopback only, with
    /// the simulator's self-signed certificate ([`Sim::certificate_der`], for `127.0.0.1` and
    /// `localhost`). Returns the bound address.
    ///
    /// # Errors
    ///
    /// [`Error::NotLoopback`], [`Error::Bind`], [`Error::Tls`].
    pub async fn serve_wss(&self, addr: SocketAddr) -> Result<SocketAddr> {
        let acceptor = self.tls()?.acceptor(&[])?;
        let listener = bind(addr).await?;
        let local = listener.local_addr().map_err(|source| Error::Bind { addr, source })?;
        let sim = self.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sim = sim.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match acceptor.accept(stream).await {
                        Ok(tls) => {
                            sim.state().counters.tls_connections += 1;
                            crate::conn::run(sim, tls).await;
                        }
                        Err(error) => {
                            tracing::debug!(%error, "wss: TLS handshake failed");
                            sim.state().counters.tls_failures += 1;
                        }
                    }
                });
            }
        });
        Ok(local)
    }
}

/// Binds a loopback TCP listener.
async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    if !addr.ip().is_loopback() {
        return Err(Error::NotLoopback(addr));
    }
    tokio::net::TcpListener::bind(addr).await.map_err(|source| Error::Bind { addr, source })
}

pub(crate) fn matches(entry: &ConnEntry, target: &Target) -> bool {
    let Some(phone) = &target.phone else { return true };
    match &entry.role {
        Role::LoggedIn { phone: p, device } => {
            p == phone && target.device.is_none_or(|d| d == *device)
        }
        _ => false,
    }
}

fn account_info(account: &Account) -> AccountInfo {
    AccountInfo {
        phone: account.phone.clone(),
        jid: phone_jid(&account.phone, 0).to_string(),
        lid: lid_jid(&account.lid, 0).to_string(),
        identity_key: hex::encode(account.identity.public.as_bytes()),
    }
}

/// The `platform` name pair-success carries for a QR platform id.
fn platform_name(id: &str) -> &'static str {
    match id {
        "1" => "Chrome",
        "2" => "Edge",
        "3" => "Firefox",
        "4" => "IE",
        "5" => "Opera",
        "6" => "Safari",
        "7" => "Electron",
        "8" => "UWP",
        "c" => "macOS",
        "e" => "Android",
        _ => "Web",
    }
}

//! The public handle: [`Sim`], a simulated WhatsApp server with its users' primary phones. It
//! owns the shared parts (keys, settings, the state lock, the media store, the phones) and the
//! account and device calls; the modules above it add the listeners, faults, phones and the
//! control API to it.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use rand::{RngExt as _, SeedableRng as _, rngs::StdRng};
use tokio::sync::oneshot;
use wa_proto::{Jid, Node, proto::cert::CertChain};
use wa_session::{
    KeyPair, PublicKey,
    cert::ChainSpec,
    pairing::adv::{DeviceFacts, sign_device_identity},
};

use crate::{
    config::SimConfig,
    error::{Error, Result},
    media_store::MediaState,
    phone_store::{Phone, new_phone},
    qr::QrCode,
    report::{AccountInfo, Counters, DeviceInfo, PairedDevice},
    state::{
        Account, Command, Device, PendingPair, Role, State, account_info, lid_jid, matches,
        phone_jid,
    },
    stream_error::StreamError,
    target::Target,
    tls::{CertificateSlot, SelfSigned},
};

/// How long [`Sim::scan`] waits for the companion's `pair-device-sign`.
pub const PAIRING_TIMEOUT: Duration = Duration::from_secs(20);

/// What the clones of a [`Sim`] share.
pub(crate) struct Inner {
    pub(crate) root: KeyPair,
    pub(crate) static_key: KeyPair,
    pub(crate) chain: CertChain,
    pub(crate) config: SimConfig,
    pub(crate) rng: Mutex<StdRng>,
    pub(crate) state: Mutex<State>,
    pub(crate) media: Mutex<MediaState>,
    /// The self-signed certificate of `wss://` and the media host, made on first use.
    pub(crate) tls: CertificateSlot,
    /// The simulated primary phones, by account phone number.
    pub(crate) phones: Mutex<HashMap<String, Arc<Phone>>>,
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
                media: Mutex::new(MediaState::default()),
                tls: CertificateSlot::default(),
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

    pub(crate) fn media(&self) -> MutexGuard<'_, MediaState> {
        self.inner.media.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn rng(&self) -> MutexGuard<'_, StdRng> {
        self.inner.rng.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The simulated primary phones, by account phone number.
    pub(crate) fn phones(&self) -> MutexGuard<'_, HashMap<String, Arc<Phone>>> {
        self.inner.phones.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The simulator's certificate, made on first use (rcgen draws its own key, so it does not
    /// follow `SimConfig::seed`).
    pub(crate) fn tls(&self) -> Result<Arc<SelfSigned>> {
        self.inner.tls.get()
    }

    /// The self-signed certificate (DER) that the `wss://` listener and the media host present,
    /// for `127.0.0.1` and `localhost`; a client trusts it as a root. Made on first use; the same
    /// for the life of the simulator.
    ///
    /// # Errors
    ///
    /// [`Error::Tls`] if it cannot be made.
    pub fn certificate_der(&self) -> Result<Vec<u8>> {
        Ok(self.tls()?.der().to_vec())
    }

    /// [`Sim::certificate_der`] in PEM form.
    ///
    /// # Errors
    ///
    /// [`Error::Tls`] if it cannot be made.
    pub fn certificate_pem(&self) -> Result<String> {
        Ok(self.tls()?.pem().to_owned())
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
            let keys = new_phone(&identity, raw_id & 0x3fff, phone, &lid, now, &mut rng)?;
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
            let keys = new_phone(&identity, registration_id, phone, &lid, now, &mut rng)?;
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

//! Sending: device lists from the cache or usync, sessions from prekey bundles (after moving a
//! session kept under the device's other address), encryption, and the sent store.

use rand_core::CryptoRng;
use wa_proto::{Jid, Node, proto::e2e};

use super::{Machine, sent::SentEntry};
use crate::{
    Error, Result,
    message::{
        Encrypted, OwnDevice, devices_query, encrypt_message, establish_sessions, fetch_bundles_iq,
        migrate_session, missing_sessions, parse_bundles, parse_devices,
    },
    store::SignalStore,
};

/// The devices of some users as far as the cache knows them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceLookup {
    /// The devices of the users whose lists are cached and fresh.
    pub devices: Vec<Jid>,
    /// The users (no device part) to ask usync about; empty when everything was cached.
    pub missing: Vec<Jid>,
}

impl DeviceLookup {
    /// The usync query for [`DeviceLookup::missing`] (with LIDs), `None` if nothing is missing.
    /// `request_id` is the iq id, `sid` the usync session id.
    #[must_use]
    pub fn query(&self, request_id: &str, sid: &str) -> Option<Node> {
        (!self.missing.is_empty()).then(|| devices_query(request_id, sid, &self.missing, true))
    }
}

/// Devices that have no session yet: their prekey bundles must be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleQuery {
    /// The devices.
    pub devices: Vec<Jid>,
}

impl BundleQuery {
    /// The key-fetch iq (id `request_id`) whose answer goes to [`Machine::bundles_answered`].
    #[must_use]
    pub fn node(&self, request_id: &str) -> Node {
        fetch_bundles_iq(request_id, &self.devices)
    }
}

impl<S: SignalStore + ?Sized> Machine<S> {
    /// The cached devices of `users` (a chat partner and ourselves, say) at `now`, and which
    /// users must be asked for.
    #[must_use]
    pub fn known_devices(&self, users: &[Jid], now: u64) -> DeviceLookup {
        let ttl = self.config.device_cache_ttl.as_secs();
        let state = self.state();
        let mut lookup = DeviceLookup::default();
        for user in users {
            match state.devices.get(user, now, ttl) {
                Some(list) => lookup.devices.extend(list),
                None => lookup.missing.push(user.to_non_device()),
            }
        }
        lookup
    }

    /// Takes the usync `answer` to the query of `lookup` (at `now`): caches the lists and the
    /// LIDs it names and returns every device of the lookup's users.
    ///
    /// # Errors
    ///
    /// [`crate::MessageError::Stanza`] for an answer that is not a usync result.
    pub fn devices_answered(
        &self,
        lookup: DeviceLookup,
        answer: &Node,
        now: u64,
    ) -> Result<Vec<Jid>> {
        let answer = parse_devices(answer)?;
        let mut state = self.state();
        state.devices.insert(&answer, now);
        let mut devices = lookup.devices;
        for user in &lookup.missing {
            match state.devices.get(user, now, u64::MAX) {
                Some(list) => devices.extend(list),
                None => tracing::debug!(%user, "usync did not list this user"),
            }
        }
        Ok(devices)
    }

    /// Moves the session of each of `devices` that is kept under the device's other address
    /// (phone number or LID, when the pair is known) to the address now in use, as WhatsApp's
    /// apps do when a chat changes addressing: one session per device, whichever address names
    /// it.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub async fn follow_addressing(&self, devices: &[Jid]) -> Result<()> {
        let pairs: Vec<(Jid, Jid)> = {
            let mut state = self.state();
            let lids = state.devices.lids();
            devices.iter().filter_map(|d| Some((d.clone(), lids.other(d)?))).collect()
        };
        for (device, alternate) in &pairs {
            if migrate_session(&*self.store, device, alternate).await? {
                tracing::debug!(%device, "session moved from the other addressing");
            }
        }
        Ok(())
    }

    /// Moves sessions that changed addressing, then names the `devices` that still have no
    /// session; `None` if all have one.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub async fn sessions_needed(&self, devices: &[Jid]) -> Result<Option<BundleQuery>> {
        self.follow_addressing(devices).await?;
        let missing = missing_sessions(&*self.store, devices).await?;
        Ok((!missing.is_empty()).then_some(BundleQuery { devices: missing }))
    }

    /// Starts sessions from the bundles of a key-fetch `answer`. Returns the devices whose
    /// bundle was refused (they get no message) and why.
    ///
    /// # Errors
    ///
    /// [`crate::MessageError::Stanza`] for an answer without a list, store errors.
    pub async fn bundles_answered(
        &self,
        answer: &Node,
        rng: &mut (impl CryptoRng + Send),
    ) -> Result<Vec<(Jid, Error)>> {
        let bundles = parse_bundles(answer)?;
        let failed = establish_sessions(&*self.store, &bundles, rng).await?;
        for (device, error) in &failed {
            tracing::warn!(%device, "no session: {error}");
        }
        Ok(failed)
    }

    /// Encrypts `message` (id `id`) for the 1:1 `chat` and `devices` (the partner's and our own
    /// other devices; this device is skipped) and keeps it for retry receipts. Devices without
    /// a session are skipped (listed in [`Encrypted::skipped`]).
    ///
    /// # Errors
    ///
    /// Store errors.
    #[allow(clippy::too_many_arguments)]
    pub async fn encrypt(
        &self,
        own: &OwnDevice,
        id: &str,
        chat: &Jid,
        message: &e2e::Message,
        devices: &[Jid],
        rng: &mut (impl CryptoRng + Send),
    ) -> Result<Encrypted> {
        let encrypted = encrypt_message(&*self.store, own, id, chat, message, devices, rng).await?;
        for (device, error) in &encrypted.skipped {
            tracing::warn!(%device, "not encrypted for: {error}");
        }
        self.state()
            .sent
            .insert(id.to_owned(), SentEntry { chat: chat.clone(), message: message.clone() });
        Ok(encrypted)
    }
}

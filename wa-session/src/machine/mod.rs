//! The messaging machine, sans-IO: what a device must remember and decide to send and receive
//! 1:1 messages, over a [`SignalStore`](crate::store::SignalStore) and without sockets, timers
//! or tasks.
//!
//! It holds the device-list cache and the LID <-> phone-number map, orchestrates sessions (which
//! prekey bundles are needed, moving a session when a contact changes addressing), encrypts,
//! decrypts without committing and commits, decides about retry receipts and answers them from
//! its bounded store of sent messages. Whatever needs the server comes back as a stanza to write
//! (an iq, a receipt, an ack, a message) and its answer is pushed back in; time (`now`, unix
//! seconds) and randomness are parameters. The tokio [`Client`](crate::client::Client) feeds it
//! from its socket; tests and the simulator drive it by calls.
//!
//! Sending: [`Machine::known_devices`], then for the missing users a usync query whose answer
//! goes to [`Machine::devices_answered`]; [`Machine::sessions_needed`] names a bundle query if
//! some device has no session, its answer goes to [`Machine::bundles_answered`]; then
//! [`Machine::encrypt`]. Receiving: [`Machine::open`] decrypts without writing; once the
//! application has the message, [`Machine::commit`] writes the Signal state and gives the
//! receipt and ack to send. A `retry` receipt for one of our messages goes to
//! [`Machine::retry_requested`].
//!
//! Calls that change Signal sessions (`sessions_needed`, `bundles_answered`, `encrypt`,
//! `commit`, `retry_requested`) read a record, change it and write it back: the caller runs them
//! one at a time (the client holds a lock around them).

mod devices;
mod incoming;
mod outgoing;
mod sent;
#[cfg(test)]
mod tests;

use std::{
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use wa_proto::{Jid, Server};

pub use incoming::{Opened, Resend, RetryAsk};
pub use outgoing::{BundleQuery, DeviceLookup};

use self::{
    devices::DeviceCache,
    sent::{RetryCounts, SentStore},
};
use crate::message::{MessageInfo, Receipt};

/// After this many retry receipts for one message we give up on it.
pub const MAX_RETRIES: u32 = 5;

/// How long device lists are cached and how many sent messages are kept for retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineConfig {
    /// How long a device list is used before usync is asked again.
    pub device_cache_ttl: Duration,
    /// How many sent messages are kept to answer retry receipts (also how many retry counts).
    pub sent_messages_kept: usize,
}

impl Default for MachineConfig {
    fn default() -> Self {
        Self { device_cache_ttl: Duration::from_secs(3600), sent_messages_kept: 1000 }
    }
}

/// What the machine remembers between calls (never held across an await).
#[derive(Debug)]
struct State {
    devices: DeviceCache,
    sent: SentStore,
    retries: RetryCounts,
}

/// The messaging machine of one device over its Signal store. Shared by reference; its own
/// state is behind a short lock that no call holds across an await.
pub struct Machine<S: ?Sized> {
    store: Arc<S>,
    config: MachineConfig,
    state: Mutex<State>,
}

impl<S: ?Sized> std::fmt::Debug for Machine<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine").field("config", &self.config).finish_non_exhaustive()
    }
}

impl<S: ?Sized> Machine<S> {
    /// A machine over `store` with nothing cached yet.
    pub fn new(store: Arc<S>, config: MachineConfig) -> Self {
        let state = State {
            devices: DeviceCache::default(),
            sent: SentStore::new(config.sent_messages_kept),
            retries: RetryCounts::new(config.sent_messages_kept),
        };
        Self { store, config, state: Mutex::new(state) }
    }

    /// The Signal store it works on.
    #[must_use]
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets the cached device list of `user` (a `devices` notification, a participant-hash
    /// mismatch): the next send asks usync again.
    pub fn forget_devices(&self, user: &Jid) {
        self.state().devices.invalidate(user);
    }

    /// Learns that `a` and `b` (a phone-number JID and a LID) are the same user, as message
    /// attributes and notifications tell.
    pub fn learn_addressing(&self, a: &Jid, b: &Jid) {
        self.state().devices.lids().learn(a, b);
    }

    /// The same user (and device) in the other addressing (LID <-> phone number), if known.
    #[must_use]
    pub fn alternate_jid(&self, jid: &Jid) -> Option<Jid> {
        self.state().devices.lids().other(jid)
    }

    /// `jid` by phone number when it is a LID whose phone number is known; as it is otherwise.
    fn phone_number_of(&self, jid: &Jid) -> Jid {
        if jid.server != Server::Lid {
            return jid.clone();
        }
        self.alternate_jid(jid).unwrap_or_else(|| jid.clone())
    }

    /// A message's chat and sender as the application sees them: by phone number whenever it
    /// is known, whichever addressing WhatsApp used (`addressing_mode` keeps that), so that a
    /// contact has one chat.
    #[must_use]
    pub fn by_phone_number(&self, mut info: MessageInfo) -> MessageInfo {
        if !info.is_group {
            info.chat = self.phone_number_of(&info.chat);
        }
        info.sender = self.phone_number_of(&info.sender);
        info
    }

    /// A receipt's chat and sender by phone number whenever it is known.
    #[must_use]
    pub fn receipt_by_phone_number(&self, mut receipt: Receipt) -> Receipt {
        receipt.chat = self.phone_number_of(&receipt.chat);
        receipt.sender = self.phone_number_of(&receipt.sender);
        receipt
    }
}

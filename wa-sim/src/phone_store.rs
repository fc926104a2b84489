//! A simulated primary phone's own data: its messaging machine over its Signal store, who it is as a device, and the log of
//! what it received and sent. Made with its account; [`crate::phone`] drives it.

use std::sync::{Arc, Mutex, MutexGuard};

use rand::rngs::StdRng;
use serde::Serialize;
use wa_session::{
    IdentityKeyPair,
    machine::{Machine, MachineConfig},
    message::OwnDevice,
    signal::{SignedPreKeyRecord, generate_pre_keys},
    store::{MemoryStore, PreKeyStore as _, SignedPreKeyStore as _},
};

use crate::{
    error::Result,
    state::{SignedPreKey, lid_jid, phone_jid},
};

/// One-time prekeys a phone publishes when its account is created.
pub(crate) const PHONE_PREKEYS: u32 = 100;

/// A message a simulated phone decrypted (or failed to).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhoneReceived {
    /// The message id.
    pub id: String,
    /// The chat (the other user; for `from_me` copies, the chat they went to).
    pub chat: String,
    /// The device that sent it.
    pub sender: String,
    /// Whether one of the account's own companions sent it (a `DeviceSentMessage` copy).
    pub from_me: bool,
    /// `text`, `image`, `video`, `audio`, `ptt`, `document`, `sticker`, `reaction`, `edit`,
    /// `revoke` or `other`.
    pub kind: String,
    /// The text of a text message.
    pub text: Option<String>,
    /// A media caption.
    pub caption: Option<String>,
    /// The id of the quoted message of a reply, or of the message an edit or revoke changes.
    pub quoted_id: Option<String>,
    /// Media: MIME type.
    pub mimetype: Option<String>,
    /// Media: `directPath`.
    pub direct_path: Option<String>,
    /// Media: plaintext length.
    pub file_length: Option<u64>,
    /// Why decryption failed (a retry receipt was sent), if it did.
    pub error: Option<String>,
}

/// A receipt the phone got for one of its messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhoneReceipt {
    /// The message id.
    pub id: String,
    /// The device that sent the receipt.
    pub from: String,
    /// `delivered`, `read`, `played`, `retry` or the raw type.
    pub kind: String,
}

/// What a phone received and sent, and how it answers.
#[derive(Default)]
pub(crate) struct Log {
    /// What it decrypted (or failed to), oldest first.
    pub(crate) received: Vec<PhoneReceived>,
    /// The receipts it got for its messages, oldest first.
    pub(crate) receipts: Vec<PhoneReceipt>,
    /// The auto-answer template (`{text}` is replaced by the incoming text), when on.
    pub(crate) auto_answer: Option<String>,
}

/// The phone of one account.
pub(crate) struct Phone {
    /// wa-session's messaging machine over the phone's Signal store: sessions, encryption,
    /// decryption, retry receipts and the messages the phone sent (for retry receipts).
    pub(crate) machine: Machine<MemoryStore>,
    /// Who it is, as a device.
    pub(crate) own: OwnDevice,
    /// Signal operations of one phone run one at a time (the ratchet state is read and written).
    pub(crate) signal: tokio::sync::Mutex<()>,
    /// What it received and sent.
    log: Mutex<Log>,
}

impl Phone {
    /// Its log, locked.
    pub(crate) fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One-time prekeys as the server keeps them: (id, public key).
pub(crate) type OneTimePreKeys = Vec<(u32, Vec<u8>)>;

/// A new phone for an account: its store, and what the server publishes for device 0 (the signed
/// prekey and the one-time prekeys, public halves), from the same keys.
pub(crate) fn new_phone(
    identity: &IdentityKeyPair,
    registration_id: u32,
    phone: &str,
    lid: &str,
    now: u64,
    rng: &mut StdRng,
) -> Result<(Phone, SignedPreKey, OneTimePreKeys)> {
    let signed = SignedPreKeyRecord::generate(identity, 1, now, rng);
    let prekeys = generate_pre_keys(1, PHONE_PREKEYS, rng);
    let store = MemoryStore::new(identity.clone(), registration_id);
    // The memory store never waits: its futures complete on first poll.
    futures::executor::block_on(async {
        store.save_signed_pre_key(&signed).await?;
        for prekey in &prekeys {
            store.save_pre_key(prekey).await?;
        }
        Ok::<_, wa_session::Error>(())
    })?;
    let published = SignedPreKey {
        id: signed.id,
        public: signed.key_pair.public.as_bytes().to_vec(),
        signature: signed.signature.to_vec(),
    };
    let one_time = prekeys.iter().map(|p| (p.id, p.key_pair.public.as_bytes().to_vec())).collect();
    let own =
        OwnDevice { jid: phone_jid(phone, 0), lid: Some(lid_jid(lid, 0)), device_identity: None };
    let phone = Phone {
        machine: Machine::new(Arc::new(store), MachineConfig::default()),
        own,
        signal: tokio::sync::Mutex::new(()),
        log: Mutex::new(Log::default()),
    };
    Ok((phone, published, one_time))
}

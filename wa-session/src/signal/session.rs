//! X3DH session setup and double-ratchet encryption and decryption over a [`SessionRecord`].
//!
//! These functions are pure: they change the record they are given and nothing else. On any error
//! the record is left exactly as it was, so a forged or replayed message cannot damage a session.
//! The store-backed layer ([`crate::signal::cipher`]) loads, calls these and writes back in one
//! commit.

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::{
    message::{PreKeySignalMessage, SignalMessage},
    prekey::PreKeyBundle,
    ratchet::{ChainKey, MAX_FORWARD_JUMPS, MessageKeys, RootKey},
    state::{PendingPreKey, SenderChain, SessionRecord, SessionState},
};
use crate::{
    Error, IdentityKey, IdentityKeyPair, KeyPair, PublicKey, Result, SignalError,
    crypto::{aes_cbc_decrypt, aes_cbc_encrypt, hkdf, split},
};

/// An encrypted 1:1 message, as it goes into `<enc type=…>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CiphertextMessage {
    /// The first messages of a session we started (`pkmsg`).
    PreKey(PreKeySignalMessage),
    /// A message of an established session (`msg`).
    Whisper(SignalMessage),
}

impl CiphertextMessage {
    /// The `type` attribute of the `<enc>` node.
    #[must_use]
    pub fn enc_type(&self) -> &'static str {
        match self {
            Self::PreKey(_) => "pkmsg",
            Self::Whisper(_) => "msg",
        }
    }

    /// The bytes on the wire.
    #[must_use]
    pub fn serialized(&self) -> &[u8] {
        match self {
            Self::PreKey(message) => message.serialized(),
            Self::Whisper(message) => message.serialized(),
        }
    }
}

/// `HKDF(0xFF*32 || DH1 || DH2 || DH3 [|| DH4], info "WhisperText", 64)` = root key | chain key.
fn derive_initial(agreements: &[Zeroizing<[u8; 32]>]) -> (RootKey, ChainKey) {
    let mut secret = Zeroizing::new(Vec::with_capacity(32 * 5));
    secret.extend_from_slice(&[0xFF; 32]);
    for agreement in agreements {
        secret.extend_from_slice(agreement.as_ref());
    }
    let okm = hkdf::<64>(None, &secret, b"WhisperText");
    let (root, chain) = split::<32, 32>(okm.as_ref());
    (RootKey::new(root), ChainKey::new(chain, 0))
}

/// Starts a session from a peer's prekey bundle (X3DH as the initiator, "Alice").
///
/// Checks the signed prekey's signature first. The new session becomes current; the old one is
/// archived. Identity trust is the caller's decision (the store layer checks it).
pub fn initiate(
    record: &mut SessionRecord,
    local_identity: &IdentityKeyPair,
    local_registration_id: u32,
    bundle: &PreKeyBundle,
    rng: &mut impl CryptoRng,
) -> Result<()> {
    bundle.verify_signature()?;
    let base = KeyPair::generate(rng);
    let mut agreements = vec![
        local_identity.private.agree(&bundle.signed_pre_key),
        base.private.agree(&bundle.identity_key),
        base.private.agree(&bundle.signed_pre_key),
    ];
    if let Some((_, one_time)) = &bundle.pre_key {
        agreements.push(base.private.agree(one_time));
    }
    let (root, chain) = derive_initial(&agreements);
    let sending = KeyPair::generate(rng);
    let (root, sending_chain) = root.step(&bundle.signed_pre_key, &sending.private);
    let mut state = SessionState {
        local_identity: local_identity.public,
        remote_identity: bundle.identity_key,
        root_key: root,
        previous_counter: 0,
        sender_chain: SenderChain { ratchet: sending, chain_key: sending_chain },
        receiver_chains: Vec::new(),
        pending_pre_key: Some(PendingPreKey {
            pre_key_id: bundle.pre_key.as_ref().map(|(id, _)| *id),
            signed_pre_key_id: bundle.signed_pre_key_id,
            base_key: base.public,
        }),
        local_registration_id,
        remote_registration_id: bundle.registration_id,
        alice_base_key: base.public,
    };
    state.add_receiver_chain(bundle.signed_pre_key, chain);
    record.promote(state);
    Ok(())
}

/// Encrypts `plaintext` (already padded by the caller) with the current session.
pub fn encrypt(record: &mut SessionRecord, plaintext: &[u8]) -> Result<CiphertextMessage> {
    let state = record.current.as_mut().ok_or_else(|| {
        Error::Signal(SignalError::NoSession { address: "current record".to_owned() })
    })?;
    let chain_key = state.sender_chain.chain_key.clone();
    if chain_key.index() == u32::MAX {
        return Err(Error::malformed("session", "sending chain exhausted"));
    }
    let keys = MessageKeys::from_seed(&chain_key.seed());
    let ciphertext = aes_cbc_encrypt(&keys.cipher_key, &keys.iv, plaintext);
    let message = SignalMessage::new(
        &keys.mac_key,
        &state.local_identity,
        &state.remote_identity,
        state.sender_chain.ratchet.public,
        chain_key.index(),
        state.previous_counter,
        ciphertext,
    );
    state.sender_chain.chain_key = chain_key.next();
    Ok(match &state.pending_pre_key {
        Some(pending) => CiphertextMessage::PreKey(PreKeySignalMessage::new(
            state.local_registration_id,
            pending.pre_key_id,
            pending.signed_pre_key_id,
            pending.base_key,
            state.local_identity,
            message,
        )),
        None => CiphertextMessage::Whisper(message),
    })
}

/// The message keys for `counter` on the chain of `ratchet_key`, stepping the DH ratchet when the
/// key is new and storing the keys of skipped messages.
fn message_keys(
    state: &mut SessionState,
    ratchet_key: &PublicKey,
    counter: u32,
    rng: &mut impl CryptoRng,
) -> Result<MessageKeys> {
    let position = match state.receiver_chain(ratchet_key) {
        Some(position) => position,
        None => {
            let (root, receiving) =
                state.root_key.step(ratchet_key, &state.sender_chain.ratchet.private);
            let sending = KeyPair::generate(rng);
            let (root, sending_chain) = root.step(ratchet_key, &sending.private);
            state.root_key = root;
            state.add_receiver_chain(*ratchet_key, receiving);
            state.previous_counter = state.sender_chain.chain_key.index().saturating_sub(1);
            state.sender_chain = SenderChain { ratchet: sending, chain_key: sending_chain };
            state.receiver_chains.len() - 1
        }
    };
    let chain = &mut state.receiver_chains[position];
    let index = chain.chain_key.index();
    if counter < index {
        return match chain.skipped.take(counter) {
            Some(seed) => Ok(MessageKeys::from_seed(&seed)),
            None => Err(Error::Signal(SignalError::DuplicateMessage { index: counter })),
        };
    }
    if counter - index > MAX_FORWARD_JUMPS {
        return Err(Error::Signal(SignalError::TooFarAhead {
            index: counter,
            limit: MAX_FORWARD_JUMPS,
        }));
    }
    let mut chain_key = chain.chain_key.clone();
    while chain_key.index() < counter {
        chain.skipped.push(chain_key.index(), chain_key.seed());
        chain_key = chain_key.next();
    }
    let keys = MessageKeys::from_seed(&chain_key.seed());
    chain.chain_key = chain_key.next();
    Ok(keys)
}

fn decrypt_with_state(
    state: &mut SessionState,
    message: &SignalMessage,
    rng: &mut impl CryptoRng,
) -> Result<Vec<u8>> {
    let keys = message_keys(state, &message.ratchet_key, message.counter, rng)?;
    message.verify_mac(&keys.mac_key, &state.remote_identity, &state.local_identity)?;
    let plaintext =
        aes_cbc_decrypt(&keys.cipher_key, &keys.iv, &message.ciphertext, "SignalMessage")?;
    state.pending_pre_key = None;
    Ok(plaintext)
}

/// Decrypts a [`SignalMessage`] with the current session or, failing that, an archived one (which
/// then becomes current). The record is unchanged on error.
pub fn decrypt(
    record: &mut SessionRecord,
    message: &SignalMessage,
    rng: &mut impl CryptoRng,
) -> Result<Vec<u8>> {
    let mut first_error = None;
    if let Some(current) = &record.current {
        let mut state = current.clone();
        match decrypt_with_state(&mut state, message, rng) {
            Ok(plaintext) => {
                record.current = Some(state);
                return Ok(plaintext);
            }
            Err(error) => first_error = Some(error),
        }
    }
    for position in 0..record.previous.len() {
        let mut state = record.previous[position].clone();
        if let Ok(plaintext) = decrypt_with_state(&mut state, message, rng) {
            record.previous.remove(position);
            record.promote(state);
            return Ok(plaintext);
        }
    }
    Err(first_error.unwrap_or_else(|| {
        Error::Signal(SignalError::NoSession { address: "current record".to_owned() })
    }))
}

/// What [`decrypt_pre_key`] needs from the key stores, looked up by the ids in the message.
#[derive(Debug, Clone, Copy)]
pub struct PreKeys<'a> {
    /// The signed prekey the message names, if we have it.
    pub signed_pre_key: Option<&'a KeyPair>,
    /// The one-time prekey the message names, if it names one and we have it.
    pub one_time_pre_key: Option<&'a KeyPair>,
}

/// The outcome of [`decrypt_pre_key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreKeyDecryption {
    /// The plaintext.
    pub plaintext: Vec<u8>,
    /// The one-time prekey this message consumed; delete it in the same commit.
    pub consumed_pre_key: Option<u32>,
    /// The sender's identity key; trust and save it in the same commit.
    pub remote_identity: IdentityKey,
}

/// Whether `message` belongs to a session that `record` already holds, so that no prekey lookup
/// is needed (a repeated PreKeySignalMessage after the session was set up).
#[must_use]
pub fn knows_base_key(record: &SessionRecord, message: &PreKeySignalMessage) -> bool {
    record.has_base_key(&message.base_key)
}

/// Decrypts a [`PreKeySignalMessage`] (X3DH as the responder, "Bob"), creating the session unless
/// the record already has one from the same base key. The record is unchanged on error.
pub fn decrypt_pre_key(
    record: &mut SessionRecord,
    local_identity: &IdentityKeyPair,
    local_registration_id: u32,
    message: &PreKeySignalMessage,
    pre_keys: PreKeys<'_>,
    rng: &mut impl CryptoRng,
) -> Result<PreKeyDecryption> {
    if record.has_base_key(&message.base_key) {
        let mut updated = record.clone();
        let plaintext = decrypt(&mut updated, &message.message, rng)?;
        *record = updated;
        return Ok(PreKeyDecryption {
            plaintext,
            consumed_pre_key: None,
            remote_identity: message.identity_key,
        });
    }
    let signed = pre_keys
        .signed_pre_key
        .ok_or(Error::Signal(SignalError::UnknownSignedPreKey(message.signed_pre_key_id)))?;
    let one_time = match message.pre_key_id {
        Some(id) => {
            Some(pre_keys.one_time_pre_key.ok_or(Error::Signal(SignalError::UnknownPreKey(id)))?)
        }
        None => None,
    };
    let mut agreements = vec![
        signed.private.agree(&message.identity_key),
        local_identity.private.agree(&message.base_key),
        signed.private.agree(&message.base_key),
    ];
    if let Some(one_time) = one_time {
        agreements.push(one_time.private.agree(&message.base_key));
    }
    let (root, chain) = derive_initial(&agreements);
    let mut state = SessionState {
        local_identity: local_identity.public,
        remote_identity: message.identity_key,
        root_key: root,
        previous_counter: 0,
        sender_chain: SenderChain { ratchet: signed.clone(), chain_key: chain },
        receiver_chains: Vec::new(),
        pending_pre_key: None,
        local_registration_id,
        remote_registration_id: message.registration_id,
        alice_base_key: message.base_key,
    };
    let plaintext = decrypt_with_state(&mut state, &message.message, rng)?;
    record.promote(state);
    Ok(PreKeyDecryption {
        plaintext,
        consumed_pre_key: message.pre_key_id,
        remote_identity: message.identity_key,
    })
}

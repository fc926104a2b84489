//! Sender keys: one symmetric chain per (group, sender), handed out in distribution messages and
//! used to encrypt group messages once for every member.

use std::fmt;

use prost::Message as _;
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::{
    message::{SenderKeyDistributionMessage, SenderKeyMessage},
    ratchet::{ChainKey, MAX_FORWARD_JUMPS, SkippedKeys},
    state::{array32, seeds_from_proto, seeds_to_proto},
};
use crate::{
    Error, KeyPair, PrivateKey, PublicKey, Result, SignalError,
    crypto::{aes_cbc_decrypt, aes_cbc_encrypt, hkdf},
    proto::record,
};

/// Sender key states kept per record (a sender may rotate its key); the oldest is dropped first.
pub const MAX_SENDER_KEY_STATES: usize = 5;
/// The version written by [`SenderKeyRecord::serialize`].
pub const SENDER_KEY_RECORD_VERSION: u32 = 1;

#[derive(Clone)]
struct SenderKeyState {
    key_id: u32,
    chain_key: ChainKey,
    signing_public: PublicKey,
    signing_private: Option<PrivateKey>,
    skipped: SkippedKeys,
}

/// `HKDF(seed, info "WhisperGroup", 48)` = IV | cipher key.
fn group_keys(seed: &[u8; 32]) -> ([u8; 16], Zeroizing<[u8; 32]>) {
    let okm = hkdf::<48>(None, seed, b"WhisperGroup");
    let mut iv = [0u8; 16];
    iv.copy_from_slice(&okm[..16]);
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&okm[16..48]);
    (iv, key)
}

/// The sender key states of one (group, sender) pair, newest first.
#[derive(Clone, Default)]
pub struct SenderKeyRecord {
    states: Vec<SenderKeyState>,
}

impl fmt::Debug for SenderKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let states: Vec<(u32, u32)> =
            self.states.iter().map(|state| (state.key_id, state.chain_key.index())).collect();
        f.debug_struct("SenderKeyRecord").field("states(key_id, iteration)", &states).finish()
    }
}

impl SenderKeyRecord {
    /// An empty record.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the record holds no state.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    fn add_state(&mut self, state: SenderKeyState) {
        self.states.retain(|existing| existing.key_id != state.key_id);
        self.states.insert(0, state);
        self.states.truncate(MAX_SENDER_KEY_STATES);
    }

    /// Our own distribution message for this group, creating our sender key on first use.
    pub fn create_distribution(
        &mut self,
        rng: &mut impl CryptoRng,
    ) -> SenderKeyDistributionMessage {
        if self.states.first().is_none_or(|state| state.signing_private.is_none()) {
            let mut chain = Zeroizing::new([0u8; 32]);
            rng.fill_bytes(chain.as_mut());
            let signing = KeyPair::generate(rng);
            self.add_state(SenderKeyState {
                key_id: rng.next_u32() >> 1,
                chain_key: ChainKey::new(*chain, 0),
                signing_public: signing.public,
                signing_private: Some(signing.private),
                skipped: SkippedKeys::default(),
            });
        }
        let state = &self.states[0];
        SenderKeyDistributionMessage::new(
            state.key_id,
            state.chain_key.index(),
            *state.chain_key.key(),
            state.signing_public,
        )
    }

    /// Stores a member's distribution message. A repeat of a key id we already hold with the same
    /// signing key is ignored, so a replayed distribution cannot rewind the chain.
    pub fn process_distribution(&mut self, message: &SenderKeyDistributionMessage) {
        if self.states.iter().any(|state| {
            state.key_id == message.key_id && state.signing_public == message.signing_key
        }) {
            return;
        }
        self.add_state(SenderKeyState {
            key_id: message.key_id,
            chain_key: ChainKey::new(*message.chain_key, message.iteration),
            signing_public: message.signing_key,
            signing_private: None,
            skipped: SkippedKeys::default(),
        });
    }

    /// Encrypts `plaintext` (already padded) with our own sender key.
    pub fn encrypt(
        &mut self,
        plaintext: &[u8],
        rng: &mut impl CryptoRng,
    ) -> Result<SenderKeyMessage> {
        let state =
            self.states.first_mut().filter(|state| state.signing_private.is_some()).ok_or_else(
                || Error::Signal(SignalError::NoSenderKey { name: "own".to_owned(), key_id: None }),
            )?;
        let signing = state.signing_private.clone().ok_or_else(|| {
            Error::Signal(SignalError::NoSenderKey { name: "own".to_owned(), key_id: None })
        })?;
        let chain_key = state.chain_key.clone();
        let (iv, key) = group_keys(&chain_key.seed());
        let ciphertext = aes_cbc_encrypt(&key, &iv, plaintext);
        state.chain_key = chain_key.next();
        Ok(SenderKeyMessage::new(state.key_id, chain_key.index(), ciphertext, &signing, rng))
    }

    /// Decrypts a member's group message. The record is unchanged on error.
    pub fn decrypt(&mut self, message: &SenderKeyMessage) -> Result<Vec<u8>> {
        let position =
            self.states.iter().position(|state| state.key_id == message.key_id).ok_or_else(
                || {
                    Error::Signal(SignalError::NoSenderKey {
                        name: "sender".to_owned(),
                        key_id: Some(message.key_id),
                    })
                },
            )?;
        let mut state = self.states[position].clone();
        message.verify_signature(&state.signing_public)?;
        let index = state.chain_key.index();
        let seed = if message.iteration < index {
            state
                .skipped
                .take(message.iteration)
                .ok_or(Error::Signal(SignalError::DuplicateMessage { index: message.iteration }))?
        } else {
            if message.iteration - index > MAX_FORWARD_JUMPS {
                return Err(Error::Signal(SignalError::TooFarAhead {
                    index: message.iteration,
                    limit: MAX_FORWARD_JUMPS,
                }));
            }
            let mut chain_key = state.chain_key.clone();
            while chain_key.index() < message.iteration {
                state.skipped.push(chain_key.index(), chain_key.seed());
                chain_key = chain_key.next();
            }
            let seed = chain_key.seed();
            state.chain_key = chain_key.next();
            seed
        };
        let (iv, key) = group_keys(&seed);
        let plaintext = aes_cbc_decrypt(&key, &iv, &message.ciphertext, "SenderKeyMessage")?;
        self.states[position] = state;
        Ok(plaintext)
    }

    /// Serializes the record (format version [`SENDER_KEY_RECORD_VERSION`]). Contains secrets.
    #[must_use]
    pub fn serialize(&self) -> Zeroizing<Vec<u8>> {
        let proto = record::SenderKey {
            version: SENDER_KEY_RECORD_VERSION,
            states: self
                .states
                .iter()
                .map(|state| record::SenderKeyState {
                    key_id: state.key_id,
                    iteration: state.chain_key.index(),
                    chain_key: state.chain_key.key().to_vec(),
                    signing_public: state.signing_public.as_bytes().to_vec(),
                    signing_private: state
                        .signing_private
                        .as_ref()
                        .map(|key| key.secret_bytes().to_vec())
                        .unwrap_or_default(),
                    skipped: seeds_to_proto(&state.skipped),
                })
                .collect(),
        };
        Zeroizing::new(proto.encode_to_vec())
    }

    /// Parses a record written by [`serialize`](Self::serialize).
    pub fn deserialize(bytes: &[u8]) -> Result<Self> {
        let what = "sender key record";
        let proto = record::SenderKey::decode(bytes)
            .map_err(|error| Error::malformed(what, error.to_string()))?;
        if proto.version != SENDER_KEY_RECORD_VERSION {
            return Err(Error::UnsupportedRecordVersion {
                what: "sender key",
                version: proto.version,
            });
        }
        if proto.states.len() > MAX_SENDER_KEY_STATES {
            return Err(Error::malformed(what, "too many states"));
        }
        let states = proto
            .states
            .into_iter()
            .map(|state| {
                let signing_private = if state.signing_private.is_empty() {
                    None
                } else {
                    Some(PrivateKey::from_slice(&state.signing_private)?)
                };
                Ok(SenderKeyState {
                    key_id: state.key_id,
                    chain_key: ChainKey::new(
                        array32(&state.chain_key, "chain key")?,
                        state.iteration,
                    ),
                    signing_public: PublicKey::from_slice(&state.signing_public)?,
                    signing_private,
                    skipped: seeds_from_proto(state.skipped)?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self { states })
    }
}

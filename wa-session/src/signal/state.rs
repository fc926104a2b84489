//! Session state and the session record (current state plus archived ones), with a versioned
//! serialization.

use std::fmt;

use prost::Message as _;
use zeroize::Zeroizing;

use super::ratchet::{ChainKey, RootKey, SkippedKeys};
use crate::{Error, IdentityKey, KeyPair, PrivateKey, PublicKey, Result, proto::record};

/// Receiver chains kept per session state; the oldest is dropped first.
pub const MAX_RECEIVER_CHAINS: usize = 5;
/// Archived (previous) session states kept per record.
pub const MAX_ARCHIVED_STATES: usize = 40;
/// The version written by [`SessionRecord::serialize`].
pub const SESSION_RECORD_VERSION: u32 = 1;

#[derive(Clone)]
pub(crate) struct SenderChain {
    pub(crate) ratchet: KeyPair,
    pub(crate) chain_key: ChainKey,
}

#[derive(Clone)]
pub(crate) struct ReceiverChain {
    pub(crate) ratchet_key: PublicKey,
    pub(crate) chain_key: ChainKey,
    pub(crate) skipped: SkippedKeys,
}

/// The X3DH parameters an initiator repeats in every message until the peer answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PendingPreKey {
    pub(crate) pre_key_id: Option<u32>,
    pub(crate) signed_pre_key_id: u32,
    pub(crate) base_key: PublicKey,
}

/// One double-ratchet session with one remote device.
#[derive(Clone)]
pub(crate) struct SessionState {
    pub(crate) local_identity: IdentityKey,
    pub(crate) remote_identity: IdentityKey,
    pub(crate) root_key: RootKey,
    pub(crate) previous_counter: u32,
    pub(crate) sender_chain: SenderChain,
    /// Oldest first.
    pub(crate) receiver_chains: Vec<ReceiverChain>,
    pub(crate) pending_pre_key: Option<PendingPreKey>,
    pub(crate) local_registration_id: u32,
    pub(crate) remote_registration_id: u32,
    pub(crate) alice_base_key: PublicKey,
}

impl SessionState {
    pub(crate) fn receiver_chain(&self, ratchet_key: &PublicKey) -> Option<usize> {
        self.receiver_chains.iter().position(|chain| chain.ratchet_key == *ratchet_key)
    }

    pub(crate) fn add_receiver_chain(&mut self, ratchet_key: PublicKey, chain_key: ChainKey) {
        if self.receiver_chains.len() >= MAX_RECEIVER_CHAINS {
            self.receiver_chains.remove(0);
        }
        self.receiver_chains.push(ReceiverChain {
            ratchet_key,
            chain_key,
            skipped: SkippedKeys::default(),
        });
    }
}

impl fmt::Debug for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionState")
            .field("remote_identity", &self.remote_identity)
            .field("remote_registration_id", &self.remote_registration_id)
            .field("sender_ratchet", &self.sender_chain.ratchet.public)
            .field("sender_index", &self.sender_chain.chain_key.index())
            .field("receiver_chains", &self.receiver_chains.len())
            .field("pending_pre_key", &self.pending_pre_key)
            .finish_non_exhaustive()
    }
}

/// Everything stored about the sessions with one remote device: the current state and up to
/// [`MAX_ARCHIVED_STATES`] earlier ones (a peer may still send on an older session).
#[derive(Clone, Default)]
pub struct SessionRecord {
    pub(crate) current: Option<SessionState>,
    /// Most recent first.
    pub(crate) previous: Vec<SessionState>,
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecord")
            .field("current", &self.current)
            .field("previous", &self.previous.len())
            .finish()
    }
}

impl SessionRecord {
    /// A record with no session.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether there is a current session to encrypt with.
    #[must_use]
    pub fn has_current_session(&self) -> bool {
        self.current.is_some()
    }

    /// The remote identity key of the current session.
    #[must_use]
    pub fn remote_identity(&self) -> Option<IdentityKey> {
        self.current.as_ref().map(|state| state.remote_identity)
    }

    /// The remote registration id of the current session.
    #[must_use]
    pub fn remote_registration_id(&self) -> Option<u32> {
        self.current.as_ref().map(|state| state.remote_registration_id)
    }

    /// Whether the current session still announces X3DH (its messages are PreKeySignalMessages).
    #[must_use]
    pub fn has_pending_pre_key(&self) -> bool {
        self.current.as_ref().is_some_and(|state| state.pending_pre_key.is_some())
    }

    /// Moves the current state into the archive (e.g. when the peer's identity changed).
    pub fn archive_current_state(&mut self) {
        if let Some(state) = self.current.take() {
            self.previous.insert(0, state);
            self.previous.truncate(MAX_ARCHIVED_STATES);
        }
    }

    pub(crate) fn promote(&mut self, state: SessionState) {
        self.archive_current_state();
        self.current = Some(state);
    }

    /// Whether some state (current or archived) was created from this X3DH base key.
    pub(crate) fn has_base_key(&self, base_key: &PublicKey) -> bool {
        self.current.iter().chain(&self.previous).any(|state| state.alice_base_key == *base_key)
    }

    /// Serializes the record (format version [`SESSION_RECORD_VERSION`]). Contains secrets.
    #[must_use]
    pub fn serialize(&self) -> Zeroizing<Vec<u8>> {
        let proto = record::Session {
            version: SESSION_RECORD_VERSION,
            current: self.current.as_ref().map(state_to_proto),
            previous: self.previous.iter().map(state_to_proto).collect(),
        };
        Zeroizing::new(proto.encode_to_vec())
    }

    /// Parses a record written by [`serialize`](Self::serialize).
    pub fn deserialize(bytes: &[u8]) -> Result<Self> {
        let proto = record::Session::decode(bytes)
            .map_err(|error| Error::malformed("session record", error.to_string()))?;
        if proto.version != SESSION_RECORD_VERSION {
            return Err(Error::UnsupportedRecordVersion {
                what: "session",
                version: proto.version,
            });
        }
        Ok(Self {
            current: proto.current.map(state_from_proto).transpose()?,
            previous: proto.previous.into_iter().map(state_from_proto).collect::<Result<_>>()?,
        })
    }
}

fn bad(reason: &str) -> Error {
    Error::malformed("session record", reason)
}

pub(crate) fn array32(bytes: &[u8], field: &str) -> Result<[u8; 32]> {
    bytes.try_into().map_err(|_| bad(&format!("{field} must be 32 bytes")))
}

pub(crate) fn seeds_to_proto(skipped: &SkippedKeys) -> Vec<record::MessageKeySeed> {
    skipped
        .0
        .iter()
        .map(|(index, seed)| record::MessageKeySeed { index: *index, seed: seed.to_vec() })
        .collect()
}

pub(crate) fn seeds_from_proto(seeds: Vec<record::MessageKeySeed>) -> Result<SkippedKeys> {
    let mut skipped = SkippedKeys::default();
    for seed in seeds {
        skipped.push(seed.index, Zeroizing::new(array32(&seed.seed, "skipped seed")?));
    }
    Ok(skipped)
}

fn state_to_proto(state: &SessionState) -> record::SessionState {
    record::SessionState {
        local_identity: state.local_identity.as_bytes().to_vec(),
        remote_identity: state.remote_identity.as_bytes().to_vec(),
        root_key: state.root_key.key().to_vec(),
        previous_counter: state.previous_counter,
        sender_chain: Some(record::Chain {
            ratchet_public: state.sender_chain.ratchet.public.as_bytes().to_vec(),
            ratchet_private: state.sender_chain.ratchet.private.secret_bytes().to_vec(),
            chain_key: state.sender_chain.chain_key.key().to_vec(),
            index: state.sender_chain.chain_key.index(),
            skipped: Vec::new(),
        }),
        receiver_chains: state
            .receiver_chains
            .iter()
            .map(|chain| record::Chain {
                ratchet_public: chain.ratchet_key.as_bytes().to_vec(),
                ratchet_private: Vec::new(),
                chain_key: chain.chain_key.key().to_vec(),
                index: chain.chain_key.index(),
                skipped: seeds_to_proto(&chain.skipped),
            })
            .collect(),
        pending_pre_key: state.pending_pre_key.as_ref().map(|pending| record::PendingPreKey {
            pre_key_id: pending.pre_key_id,
            signed_pre_key_id: pending.signed_pre_key_id,
            base_key: pending.base_key.as_bytes().to_vec(),
        }),
        local_registration_id: state.local_registration_id,
        remote_registration_id: state.remote_registration_id,
        alice_base_key: state.alice_base_key.as_bytes().to_vec(),
    }
}

fn public(bytes: &[u8], field: &str) -> Result<PublicKey> {
    Ok(PublicKey::from_bytes(array32(bytes, field)?))
}

fn state_from_proto(proto: record::SessionState) -> Result<SessionState> {
    let sender = proto.sender_chain.ok_or_else(|| bad("missing sender chain"))?;
    // The public half is taken as stored, not derived again: records are written by this crate,
    // and a base-point multiplication per state on every load was about 40% of a round trip (a
    // record may hold up to 41 states). A mismatched pair only makes the session fail its MACs.
    let ratchet = KeyPair {
        public: public(&sender.ratchet_public, "sender ratchet")?,
        private: PrivateKey::from_bytes(array32(&sender.ratchet_private, "ratchet private")?),
    };
    if proto.receiver_chains.len() > MAX_RECEIVER_CHAINS {
        return Err(bad("too many receiver chains"));
    }
    let receiver_chains = proto
        .receiver_chains
        .into_iter()
        .map(|chain| {
            Ok(ReceiverChain {
                ratchet_key: public(&chain.ratchet_public, "receiver ratchet")?,
                chain_key: ChainKey::new(array32(&chain.chain_key, "chain key")?, chain.index),
                skipped: seeds_from_proto(chain.skipped)?,
            })
        })
        .collect::<Result<_>>()?;
    let pending_pre_key = proto
        .pending_pre_key
        .map(|pending| {
            Ok::<_, Error>(PendingPreKey {
                pre_key_id: pending.pre_key_id,
                signed_pre_key_id: pending.signed_pre_key_id,
                base_key: public(&pending.base_key, "pending base key")?,
            })
        })
        .transpose()?;
    Ok(SessionState {
        local_identity: public(&proto.local_identity, "local identity")?,
        remote_identity: public(&proto.remote_identity, "remote identity")?,
        root_key: RootKey::new(array32(&proto.root_key, "root key")?),
        previous_counter: proto.previous_counter,
        sender_chain: SenderChain {
            ratchet,
            chain_key: ChainKey::new(array32(&sender.chain_key, "chain key")?, sender.index),
        },
        receiver_chains,
        pending_pre_key,
        local_registration_id: proto.local_registration_id,
        remote_registration_id: proto.remote_registration_id,
        alice_base_key: public(&proto.alice_base_key, "base key")?,
    })
}

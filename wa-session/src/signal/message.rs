//! The Signal messages WhatsApp carries: encode, decode, MAC and signature checks.

use std::fmt;

use prost::Message as _;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::{
    CryptoError, Error, IdentityKey, PublicKey, Result, SignalError, crypto::hmac_sha256,
    proto::wire,
};

/// The protocol version this crate speaks (Signal v3, no post-quantum keys).
pub const CIPHERTEXT_VERSION: u8 = 3;
/// The byte that starts every message: `(version << 4) | version`.
pub const VERSION_BYTE: u8 = (CIPHERTEXT_VERSION << 4) | CIPHERTEXT_VERSION;
/// Length of the truncated MAC that ends a [`SignalMessage`].
pub const MAC_LENGTH: usize = 8;
/// Length of the XEdDSA signature that ends a [`SenderKeyMessage`].
pub const SIGNATURE_LENGTH: usize = 64;

fn check_version(bytes: &[u8], what: &'static str) -> Result<()> {
    let first = *bytes.first().ok_or_else(|| Error::malformed(what, "empty"))?;
    if first >> 4 != CIPHERTEXT_VERSION {
        return Err(Error::Signal(SignalError::UnsupportedVersion(first)));
    }
    Ok(())
}

fn required<T>(value: Option<T>, what: &'static str, field: &str) -> Result<T> {
    value.ok_or_else(|| Error::malformed(what, format!("missing {field}")))
}

fn decode<M: prost::Message + Default>(bytes: &[u8], what: &'static str) -> Result<M> {
    M::decode(bytes).map_err(|error| Error::malformed(what, error.to_string()))
}

fn key(bytes: Option<Vec<u8>>, what: &'static str, field: &str) -> Result<PublicKey> {
    PublicKey::deserialize(&required(bytes, what, field)?)
        .map_err(|error| Error::malformed(what, format!("{field}: {error}")))
}

/// A message of an established session (`<enc type="msg">`).
#[derive(Clone, PartialEq, Eq)]
pub struct SignalMessage {
    /// The sender's current ratchet public key.
    pub ratchet_key: PublicKey,
    /// The index of this message in the sender's chain.
    pub counter: u32,
    /// The length of the sender's previous chain.
    pub previous_counter: u32,
    /// The AES-256-CBC ciphertext.
    pub ciphertext: Vec<u8>,
    serialized: Vec<u8>,
}

impl fmt::Debug for SignalMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalMessage")
            .field("ratchet_key", &self.ratchet_key)
            .field("counter", &self.counter)
            .field("previous_counter", &self.previous_counter)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

impl SignalMessage {
    const WHAT: &'static str = "SignalMessage";

    /// Builds and MACs a message.
    pub(crate) fn new(
        mac_key: &[u8; 32],
        sender_identity: &IdentityKey,
        receiver_identity: &IdentityKey,
        ratchet_key: PublicKey,
        counter: u32,
        previous_counter: u32,
        ciphertext: Vec<u8>,
    ) -> Self {
        let body = wire::SignalMessage {
            ratchet_key: Some(ratchet_key.serialize().to_vec()),
            counter: Some(counter),
            previous_counter: Some(previous_counter),
            ciphertext: Some(ciphertext.clone()),
        };
        let mut serialized = Vec::with_capacity(1 + body.encoded_len() + MAC_LENGTH);
        serialized.push(VERSION_BYTE);
        body.encode_raw(&mut serialized);
        let mac = Self::mac(mac_key, sender_identity, receiver_identity, &serialized);
        serialized.extend_from_slice(&mac);
        Self { ratchet_key, counter, previous_counter, ciphertext, serialized }
    }

    fn mac(
        mac_key: &[u8; 32],
        sender: &IdentityKey,
        receiver: &IdentityKey,
        versioned_body: &[u8],
    ) -> [u8; MAC_LENGTH] {
        let full =
            hmac_sha256(mac_key, &[&sender.serialize(), &receiver.serialize(), versioned_body]);
        let mut mac = [0u8; MAC_LENGTH];
        mac.copy_from_slice(&full[..MAC_LENGTH]);
        mac
    }

    /// Parses a message (the MAC is checked later, with the session's keys).
    pub fn deserialize(bytes: &[u8]) -> Result<Self> {
        check_version(bytes, Self::WHAT)?;
        if bytes.len() < 1 + MAC_LENGTH {
            return Err(Error::malformed(Self::WHAT, "shorter than version and MAC"));
        }
        let body: wire::SignalMessage = decode(&bytes[1..bytes.len() - MAC_LENGTH], Self::WHAT)?;
        let ciphertext = required(body.ciphertext, Self::WHAT, "ciphertext")?;
        if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(16) {
            return Err(Error::malformed(Self::WHAT, "ciphertext is not whole AES blocks"));
        }
        Ok(Self {
            ratchet_key: key(body.ratchet_key, Self::WHAT, "ratchet_key")?,
            counter: required(body.counter, Self::WHAT, "counter")?,
            previous_counter: body.previous_counter.unwrap_or(0),
            ciphertext,
            serialized: bytes.to_vec(),
        })
    }

    /// Checks the MAC, computed by `sender` for `receiver` with `mac_key`.
    #[must_use = "a MAC check whose result is ignored checks nothing"]
    pub(crate) fn verify_mac(
        &self,
        mac_key: &[u8; 32],
        sender: &IdentityKey,
        receiver: &IdentityKey,
    ) -> Result<()> {
        let (body, mac) = self.serialized.split_at(self.serialized.len() - MAC_LENGTH);
        let expected = Self::mac(mac_key, sender, receiver, body);
        if bool::from(expected.ct_eq(mac)) {
            Ok(())
        } else {
            Err(Error::Crypto(CryptoError::BadMac(Self::WHAT)))
        }
    }

    /// The bytes on the wire.
    #[must_use]
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }
}

/// The first messages of a new session (`<enc type="pkmsg">`): X3DH parameters plus a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreKeySignalMessage {
    /// The sender's registration id.
    pub registration_id: u32,
    /// The recipient's one-time prekey that was used, if any.
    pub pre_key_id: Option<u32>,
    /// The recipient's signed prekey that was used.
    pub signed_pre_key_id: u32,
    /// The sender's X3DH base (ephemeral) key.
    pub base_key: PublicKey,
    /// The sender's identity key.
    pub identity_key: IdentityKey,
    /// The enclosed message.
    pub message: SignalMessage,
    serialized: Vec<u8>,
}

impl PreKeySignalMessage {
    const WHAT: &'static str = "PreKeySignalMessage";

    pub(crate) fn new(
        registration_id: u32,
        pre_key_id: Option<u32>,
        signed_pre_key_id: u32,
        base_key: PublicKey,
        identity_key: IdentityKey,
        message: SignalMessage,
    ) -> Self {
        let body = wire::PreKeySignalMessage {
            pre_key_id,
            base_key: Some(base_key.serialize().to_vec()),
            identity_key: Some(identity_key.serialize().to_vec()),
            message: Some(message.serialized.clone()),
            registration_id: Some(registration_id),
            signed_pre_key_id: Some(signed_pre_key_id),
        };
        let mut serialized = Vec::with_capacity(1 + body.encoded_len());
        serialized.push(VERSION_BYTE);
        body.encode_raw(&mut serialized);
        Self {
            registration_id,
            pre_key_id,
            signed_pre_key_id,
            base_key,
            identity_key,
            message,
            serialized,
        }
    }

    /// Parses a message.
    pub fn deserialize(bytes: &[u8]) -> Result<Self> {
        check_version(bytes, Self::WHAT)?;
        let body: wire::PreKeySignalMessage = decode(&bytes[1..], Self::WHAT)?;
        Ok(Self {
            registration_id: body.registration_id.unwrap_or(0),
            pre_key_id: body.pre_key_id,
            signed_pre_key_id: required(body.signed_pre_key_id, Self::WHAT, "signed_pre_key_id")?,
            base_key: key(body.base_key, Self::WHAT, "base_key")?,
            identity_key: key(body.identity_key, Self::WHAT, "identity_key")?,
            message: SignalMessage::deserialize(&required(body.message, Self::WHAT, "message")?)?,
            serialized: bytes.to_vec(),
        })
    }

    /// The bytes on the wire.
    #[must_use]
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }
}

/// A group message (`<enc type="skmsg">`), signed by the sender's signing key.
#[derive(Clone, PartialEq, Eq)]
pub struct SenderKeyMessage {
    /// The sender key id.
    pub key_id: u32,
    /// The index in the sender's chain.
    pub iteration: u32,
    /// The AES-256-CBC ciphertext.
    pub ciphertext: Vec<u8>,
    serialized: Vec<u8>,
}

impl fmt::Debug for SenderKeyMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderKeyMessage")
            .field("key_id", &self.key_id)
            .field("iteration", &self.iteration)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

impl SenderKeyMessage {
    const WHAT: &'static str = "SenderKeyMessage";

    pub(crate) fn new(
        key_id: u32,
        iteration: u32,
        ciphertext: Vec<u8>,
        signing_key: &crate::PrivateKey,
        rng: &mut impl rand_core::CryptoRng,
    ) -> Self {
        let body = wire::SenderKeyMessage {
            id: Some(key_id),
            iteration: Some(iteration),
            ciphertext: Some(ciphertext.clone()),
        };
        let mut serialized = Vec::with_capacity(1 + body.encoded_len() + SIGNATURE_LENGTH);
        serialized.push(VERSION_BYTE);
        body.encode_raw(&mut serialized);
        let signature = signing_key.sign(&serialized, rng);
        serialized.extend_from_slice(&signature);
        Self { key_id, iteration, ciphertext, serialized }
    }

    /// Parses a message (the signature is checked later, with the sender's signing key).
    pub fn deserialize(bytes: &[u8]) -> Result<Self> {
        check_version(bytes, Self::WHAT)?;
        if bytes.len() < 1 + SIGNATURE_LENGTH {
            return Err(Error::malformed(Self::WHAT, "shorter than version and signature"));
        }
        let body: wire::SenderKeyMessage =
            decode(&bytes[1..bytes.len() - SIGNATURE_LENGTH], Self::WHAT)?;
        let ciphertext = required(body.ciphertext, Self::WHAT, "ciphertext")?;
        if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(16) {
            return Err(Error::malformed(Self::WHAT, "ciphertext is not whole AES blocks"));
        }
        Ok(Self {
            key_id: required(body.id, Self::WHAT, "id")?,
            iteration: required(body.iteration, Self::WHAT, "iteration")?,
            ciphertext,
            serialized: bytes.to_vec(),
        })
    }

    /// Checks the signature by the sender's `signing_key`.
    #[must_use = "a signature check whose result is ignored checks nothing"]
    pub fn verify_signature(&self, signing_key: &PublicKey) -> Result<()> {
        let (body, signature) = self.serialized.split_at(self.serialized.len() - SIGNATURE_LENGTH);
        signing_key.verify(body, signature)
    }

    /// The bytes on the wire.
    #[must_use]
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }
}

/// Hands a group sender's chain and signing key to a member (sent inside a 1:1 message).
#[derive(Clone, PartialEq, Eq)]
pub struct SenderKeyDistributionMessage {
    /// The sender key id.
    pub key_id: u32,
    /// The chain index the chain key is at.
    pub iteration: u32,
    /// The chain key (secret).
    pub chain_key: Zeroizing<[u8; 32]>,
    /// The sender's signing public key.
    pub signing_key: PublicKey,
    serialized: Vec<u8>,
}

impl fmt::Debug for SenderKeyDistributionMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderKeyDistributionMessage")
            .field("key_id", &self.key_id)
            .field("iteration", &self.iteration)
            .field("signing_key", &self.signing_key)
            .finish_non_exhaustive()
    }
}

impl SenderKeyDistributionMessage {
    const WHAT: &'static str = "SenderKeyDistributionMessage";

    pub(crate) fn new(
        key_id: u32,
        iteration: u32,
        chain_key: [u8; 32],
        signing_key: PublicKey,
    ) -> Self {
        let body = wire::SenderKeyDistributionMessage {
            id: Some(key_id),
            iteration: Some(iteration),
            chain_key: Some(chain_key.to_vec()),
            signing_key: Some(signing_key.serialize().to_vec()),
        };
        let mut serialized = Vec::with_capacity(1 + body.encoded_len());
        serialized.push(VERSION_BYTE);
        body.encode_raw(&mut serialized);
        Self { key_id, iteration, chain_key: Zeroizing::new(chain_key), signing_key, serialized }
    }

    /// Parses a message.
    pub fn deserialize(bytes: &[u8]) -> Result<Self> {
        check_version(bytes, Self::WHAT)?;
        let body: wire::SenderKeyDistributionMessage = decode(&bytes[1..], Self::WHAT)?;
        let chain_key = Zeroizing::new(required(body.chain_key, Self::WHAT, "chain_key")?);
        let chain_key: [u8; 32] = chain_key
            .as_slice()
            .try_into()
            .map_err(|_| Error::malformed(Self::WHAT, "chain_key must be 32 bytes"))?;
        Ok(Self {
            key_id: required(body.id, Self::WHAT, "id")?,
            iteration: required(body.iteration, Self::WHAT, "iteration")?,
            chain_key: Zeroizing::new(chain_key),
            signing_key: key(body.signing_key, Self::WHAT, "signing_key")?,
            serialized: bytes.to_vec(),
        })
    }

    /// The bytes on the wire.
    #[must_use]
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_a_typed_error() {
        for bytes in [&[][..], &[0x33], &[0x23, 1, 2, 3], &[0x33; 9], &[0x33, 0xFF, 0xFF, 0xFF]] {
            assert!(SignalMessage::deserialize(bytes).is_err());
            assert!(PreKeySignalMessage::deserialize(bytes).is_err());
            assert!(SenderKeyMessage::deserialize(bytes).is_err());
            assert!(SenderKeyDistributionMessage::deserialize(bytes).is_err());
        }
        assert_eq!(
            SignalMessage::deserialize(&[0x43; 20]),
            Err(Error::Signal(SignalError::UnsupportedVersion(0x43)))
        );
    }

    #[test]
    fn signal_message_round_trip_and_mac() {
        let a = PublicKey::from_bytes([1; 32]);
        let b = PublicKey::from_bytes([2; 32]);
        let msg =
            SignalMessage::new(&[9; 32], &a, &b, PublicKey::from_bytes([3; 32]), 7, 2, vec![0; 32]);
        let parsed = SignalMessage::deserialize(msg.serialized()).unwrap();
        assert_eq!(parsed, msg);
        assert_eq!(parsed.serialized()[0], 0x33);
        assert!(parsed.verify_mac(&[9; 32], &a, &b).is_ok());
        assert_eq!(
            parsed.verify_mac(&[9; 32], &b, &a),
            Err(Error::Crypto(CryptoError::BadMac("SignalMessage")))
        );
        assert!(parsed.verify_mac(&[8; 32], &a, &b).is_err());
        let mut bad = msg.serialized().to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(SignalMessage::deserialize(&bad).unwrap().verify_mac(&[9; 32], &a, &b).is_err());
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(bytes: Vec<u8>) {
            let _ = SignalMessage::deserialize(&bytes);
            let _ = PreKeySignalMessage::deserialize(&bytes);
            let _ = SenderKeyMessage::deserialize(&bytes);
            let _ = SenderKeyDistributionMessage::deserialize(&bytes);
        }
    }
}

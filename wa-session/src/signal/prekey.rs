//! Registration ids, signed and one-time prekeys, and the prekey bundle a peer publishes.

use std::fmt;

use rand_core::CryptoRng;

use crate::{IdentityKey, IdentityKeyPair, KeyPair, PublicKey, Result};

/// Prekey ids are 24-bit on WhatsApp's wire (`<id>` is 3 bytes big-endian).
pub const MAX_PRE_KEY_ID: u32 = 0x00FF_FFFF;

/// A fresh registration id: 14 random bits, never 0.
pub fn generate_registration_id(rng: &mut impl CryptoRng) -> u32 {
    loop {
        let id = rng.next_u32() & 0x3FFF;
        if id != 0 {
            return id;
        }
    }
}

/// A one-time prekey.
#[derive(Clone, PartialEq, Eq)]
pub struct PreKeyRecord {
    /// Its id (1..=[`MAX_PRE_KEY_ID`]).
    pub id: u32,
    /// The key pair.
    pub key_pair: KeyPair,
}

impl fmt::Debug for PreKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreKeyRecord")
            .field("id", &self.id)
            .field("key_pair", &self.key_pair)
            .finish()
    }
}

/// `count` one-time prekeys with consecutive ids from `start` (wrapping within 24 bits, skipping 0).
pub fn generate_pre_keys(start: u32, count: u32, rng: &mut impl CryptoRng) -> Vec<PreKeyRecord> {
    (0..count)
        .map(|offset| {
            let id = (start.wrapping_add(offset).wrapping_sub(1) % MAX_PRE_KEY_ID) + 1;
            PreKeyRecord { id, key_pair: KeyPair::generate(rng) }
        })
        .collect()
}

/// A signed prekey: its public key serialized with `0x05`, signed by the identity key.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedPreKeyRecord {
    /// Its id.
    pub id: u32,
    /// The key pair.
    pub key_pair: KeyPair,
    /// XEdDSA signature by the identity key over `0x05 || public key`.
    pub signature: [u8; 64],
    /// When it was made (seconds since the epoch, as the caller counts them).
    pub timestamp: u64,
}

impl fmt::Debug for SignedPreKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedPreKeyRecord")
            .field("id", &self.id)
            .field("key_pair", &self.key_pair)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

impl SignedPreKeyRecord {
    /// Makes and signs a new signed prekey.
    pub fn generate(
        identity: &IdentityKeyPair,
        id: u32,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Self {
        let key_pair = KeyPair::generate(rng);
        let signature = identity.sign(&key_pair.public.serialize(), rng);
        Self { id, key_pair, signature, timestamp: now }
    }
}

/// What a peer publishes so that others can start sessions with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreKeyBundle {
    /// The peer's registration id.
    pub registration_id: u32,
    /// The peer's device id.
    pub device_id: u32,
    /// A one-time prekey (id, public key), when the server still had one.
    pub pre_key: Option<(u32, PublicKey)>,
    /// The signed prekey's id.
    pub signed_pre_key_id: u32,
    /// The signed prekey.
    pub signed_pre_key: PublicKey,
    /// Its signature by the identity key.
    pub signed_pre_key_signature: Vec<u8>,
    /// The peer's identity key.
    pub identity_key: IdentityKey,
}

impl PreKeyBundle {
    /// Checks the signed prekey's signature.
    #[must_use = "a signature check whose result is ignored checks nothing"]
    pub fn verify_signature(&self) -> Result<()> {
        self.identity_key.verify(&self.signed_pre_key.serialize(), &self.signed_pre_key_signature)
    }
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;

    #[test]
    fn ids_wrap_within_24_bits_and_skip_zero() {
        let mut rng = StdRng::seed_from_u64(1);
        let keys = generate_pre_keys(MAX_PRE_KEY_ID - 1, 4, &mut rng);
        let ids: Vec<u32> = keys.iter().map(|key| key.id).collect();
        assert_eq!(ids, [MAX_PRE_KEY_ID - 1, MAX_PRE_KEY_ID, 1, 2]);
        for _ in 0..100 {
            let id = generate_registration_id(&mut rng);
            assert!((1..=0x3FFF).contains(&id));
        }
    }

    #[test]
    fn signed_prekey_signature_covers_the_prefixed_key() {
        let mut rng = StdRng::seed_from_u64(2);
        let identity = KeyPair::generate(&mut rng);
        let spk = SignedPreKeyRecord::generate(&identity, 1, 1_700_000_000, &mut rng);
        let message = spk.key_pair.public.serialize();
        assert!(identity.public.verify(&message, &spk.signature).is_ok());
        assert!(identity.public.verify(spk.key_pair.public.as_bytes(), &spk.signature).is_err());
    }
}

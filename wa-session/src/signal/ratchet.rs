//! The symmetric parts of the double ratchet: root key, chain keys and message keys.

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{
    PrivateKey, PublicKey,
    crypto::{hkdf, hmac_sha256},
};

/// How far one message may jump ahead of its chain (libsignal-node's limit too).
pub const MAX_FORWARD_JUMPS: u32 = 2000;
/// Skipped message keys kept per chain; the oldest are dropped first.
pub const MAX_SKIPPED_KEYS: usize = 2000;

/// A chain key and its index; each step yields one message key seed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct ChainKey {
    key: [u8; 32],
    #[zeroize(skip)]
    index: u32,
}

impl ChainKey {
    pub(crate) fn new(key: [u8; 32], index: u32) -> Self {
        Self { key, index }
    }

    pub(crate) fn key(&self) -> &[u8; 32] {
        &self.key
    }

    pub(crate) fn index(&self) -> u32 {
        self.index
    }

    /// The seed of the message key at this index: `HMAC(ck, 0x01)`.
    pub(crate) fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(hmac_sha256(&self.key, &[&[0x01]]))
    }

    /// The next chain key: `HMAC(ck, 0x02)`.
    pub(crate) fn next(&self) -> Self {
        Self { key: hmac_sha256(&self.key, &[&[0x02]]), index: self.index.wrapping_add(1) }
    }
}

/// The keys of one 1:1 message.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct MessageKeys {
    pub(crate) cipher_key: [u8; 32],
    pub(crate) mac_key: [u8; 32],
    pub(crate) iv: [u8; 16],
}

impl MessageKeys {
    /// `HKDF(seed, info "WhisperMessageKeys", 80)` = cipher key | MAC key | IV.
    pub(crate) fn from_seed(seed: &[u8; 32]) -> Self {
        let okm = hkdf::<80>(None, seed, b"WhisperMessageKeys");
        let mut keys = Self { cipher_key: [0; 32], mac_key: [0; 32], iv: [0; 16] };
        keys.cipher_key.copy_from_slice(&okm[..32]);
        keys.mac_key.copy_from_slice(&okm[32..64]);
        keys.iv.copy_from_slice(&okm[64..80]);
        keys
    }
}

/// The root key of a session.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct RootKey([u8; 32]);

impl RootKey {
    pub(crate) fn new(key: [u8; 32]) -> Self {
        Self(key)
    }

    pub(crate) fn key(&self) -> &[u8; 32] {
        &self.0
    }

    /// One DH ratchet step: `HKDF(salt = root, DH(ours, theirs), "WhisperRatchet", 64)`.
    pub(crate) fn step(&self, theirs: &PublicKey, ours: &PrivateKey) -> (Self, ChainKey) {
        let shared = ours.agree(theirs);
        let okm = hkdf::<64>(Some(&self.0), shared.as_ref(), b"WhisperRatchet");
        let (root, chain) = crate::crypto::split::<32, 32>(okm.as_ref());
        (Self(root), ChainKey::new(chain, 0))
    }
}

/// A bounded list of skipped message-key seeds, oldest first.
#[derive(Clone, Default)]
pub(crate) struct SkippedKeys(pub(crate) Vec<(u32, Zeroizing<[u8; 32]>)>);

impl SkippedKeys {
    pub(crate) fn push(&mut self, index: u32, seed: Zeroizing<[u8; 32]>) {
        if self.0.len() >= MAX_SKIPPED_KEYS {
            self.0.remove(0);
        }
        self.0.push((index, seed));
    }

    pub(crate) fn take(&mut self, index: u32) -> Option<Zeroizing<[u8; 32]>> {
        let position = self.0.iter().position(|(i, _)| *i == index)?;
        Some(self.0.remove(position).1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_steps_are_distinct_and_indexed() {
        let ck = ChainKey::new([1; 32], 0);
        let next = ck.next();
        assert_eq!(next.index(), 1);
        assert_ne!(next.key(), ck.key());
        assert_ne!(*ck.seed(), *next.seed());
        let keys = MessageKeys::from_seed(&ck.seed());
        assert_ne!(keys.cipher_key, keys.mac_key);
    }

    #[test]
    fn skipped_keys_are_bounded() {
        let mut skipped = SkippedKeys::default();
        for i in 0..2010u32 {
            skipped.push(i, Zeroizing::new([0; 32]));
        }
        assert_eq!(skipped.0.len(), MAX_SKIPPED_KEYS);
        assert!(skipped.take(5).is_none(), "the oldest were dropped");
        assert!(skipped.take(2005).is_some());
        assert!(skipped.take(2005).is_none(), "a key is used once");
    }
}

//! Encryption at rest: a per-tenant AES-256-GCM key derived from the master key.

use std::fmt;

use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{Error, Result};

/// The source of nonces. Randomness is a parameter: production uses [`OsRandom`], tests may pass
/// a deterministic source.
pub trait Random: Send + Sync {
    /// Fills `buf` with unpredictable bytes.
    fn fill(&self, buf: &mut [u8]) -> Result<()>;
}

/// The operating system's random generator.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl Random for OsRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<()> {
        getrandom::fill(buf).map_err(|_| Error::Random)
    }
}

/// The deployment's master key (32 bytes). Every tenant key is derived from it; it is never
/// stored. Zeroized on drop; its Debug output is redacted.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterKey(Box<[u8; 32]>);

impl MasterKey {
    /// Wraps 32 key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        MasterKey(Box::new(bytes))
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// A tenant's data key, derived with HKDF-SHA256 from the master key and the member_id.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct TenantKey(Box<[u8; 32]>);

impl fmt::Debug for TenantKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TenantKey(<redacted>)")
    }
}

const SALT: &[u8] = b"wab24.tenancy.v1";
/// Sealed values start with this version byte, then the 12-byte nonce, then ciphertext and tag.
const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

impl TenantKey {
    pub(crate) fn derive(master: &MasterKey, member_id: &str) -> Result<TenantKey> {
        let hk = Hkdf::<Sha256>::new(Some(SALT), master.0.as_slice());
        let mut key = Box::new([0u8; 32]);
        let info = [b"tenant-data-key\0".as_slice(), member_id.as_bytes()].concat();
        hk.expand(&info, key.as_mut_slice()).map_err(|_| Error::InvalidInput("hkdf length"))?;
        Ok(TenantKey(key))
    }

    /// The key of this tenant's audit chain: derived from the data key (so from the master key),
    /// never stored.
    pub(crate) fn audit_chain_key(&self) -> Result<audit::ChainKey> {
        expand_chain_key(self.0.as_slice(), b"tenant-audit-chain-key")
    }

    fn cipher(&self) -> Result<Aes256Gcm> {
        Aes256Gcm::new_from_slice(self.0.as_slice()).map_err(|_| Error::InvalidInput("key length"))
    }

    /// Encrypts `plaintext`, bound to `aad` (the value's place: which tenant field, line, key).
    pub(crate) fn seal(
        &self,
        random: &dyn Random,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        random.fill(&mut nonce)?;
        let ct = self
            .cipher()?
            .encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad })
            .map_err(|_| Error::InvalidInput("plaintext too long"))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Decrypts what [`TenantKey::seal`] produced with the same `aad`.
    pub(crate) fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let (&version, rest) = sealed.split_first().ok_or(Error::Decrypt)?;
        if version != VERSION || rest.len() < NONCE_LEN {
            return Err(Error::Decrypt);
        }
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| Error::Decrypt)?;
        self.cipher()?
            .decrypt(&Nonce::from(nonce), Payload { msg: ct, aad })
            .map(Zeroizing::new)
            .map_err(|_| Error::Decrypt)
    }
}

/// The key of the registry's (control) audit chain, derived from the master key, never stored.
pub(crate) fn control_audit_key(master: &MasterKey) -> Result<audit::ChainKey> {
    expand_chain_key(master.0.as_slice(), b"control-audit-chain-key")
}

fn expand_chain_key(ikm: &[u8], info: &[u8]) -> Result<audit::ChainKey> {
    let hk = Hkdf::<Sha256>::new(Some(SALT), ikm);
    let mut key = Zeroizing::new([0u8; 32]);
    hk.expand(info, key.as_mut_slice()).map_err(|_| Error::InvalidInput("hkdf length"))?;
    Ok(audit::ChainKey::from_bytes(*key))
}

/// Builds an unambiguous associated-data string from parts (each length-prefixed).
pub(crate) fn aad(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(&(p.len() as u64).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic source for tests: a counter.
    struct Counter(std::sync::atomic::AtomicU8);
    impl Random for Counter {
        fn fill(&self, buf: &mut [u8]) -> Result<()> {
            let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            buf.fill(n);
            Ok(())
        }
    }

    fn key(member: &str) -> TenantKey {
        TenantKey::derive(&MasterKey::from_bytes([7; 32]), member).unwrap()
    }

    #[test]
    fn seal_open_round_trip_and_binding() {
        let rng = Counter(0.into());
        let k = key("a");
        let sealed = k.seal(&rng, b"ctx", b"secret").unwrap();
        assert_eq!(k.open(b"ctx", &sealed).unwrap().as_slice(), b"secret");
        // Another context, another tenant, or a flipped bit: all refused.
        assert!(matches!(k.open(b"other", &sealed), Err(Error::Decrypt)));
        assert!(matches!(key("b").open(b"ctx", &sealed), Err(Error::Decrypt)));
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(k.open(b"ctx", &flipped), Err(Error::Decrypt)));
        assert!(matches!(k.open(b"ctx", &[]), Err(Error::Decrypt)));
        assert!(matches!(k.open(b"ctx", &[1, 2, 3]), Err(Error::Decrypt)));
        // Fresh nonce each time.
        assert_ne!(sealed, k.seal(&rng, b"ctx", b"secret").unwrap());
    }

    #[test]
    fn aad_parts_are_unambiguous() {
        assert_ne!(aad(&[b"ab", b"c"]), aad(&[b"a", b"bc"]));
    }

    #[test]
    fn debug_is_redacted() {
        insta::assert_snapshot!(
            format!("{:?} {:?}", MasterKey::from_bytes([0x41; 32]), key("a")),
            @"MasterKey(<redacted>) TenantKey(<redacted>)"
        );
    }
}

//! Curve25519 keys as Signal and WhatsApp use them.
//!
//! The same 32-byte Montgomery keys serve X25519 agreement and XEdDSA signatures. Inside Signal
//! messages a public key is serialized with the `0x05` ("DJB") type prefix, 33 bytes in all.

use std::fmt;

use curve25519_dalek::{MontgomeryPoint, scalar::clamp_integer};
use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{CryptoError, Error, Result, xeddsa};

/// The type byte that prefixes a serialized Curve25519 public key.
pub const DJB_TYPE: u8 = 0x05;

/// A Curve25519 public key (the Montgomery u-coordinate, 32 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; 32]);

/// An identity key is a long-lived [`PublicKey`].
pub type IdentityKey = PublicKey;

impl PublicKey {
    /// Wraps 32 raw bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses either 32 raw bytes or the 33-byte `0x05`-prefixed form.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        match bytes.len() {
            32 => Ok(Self(
                bytes
                    .try_into()
                    .map_err(|_| Error::Crypto(CryptoError::InvalidPublicKey("length")))?,
            )),
            33 => Self::deserialize(bytes),
            _ => Err(Error::Crypto(CryptoError::InvalidPublicKey(
                "expected 32 bytes, or 33 with the 0x05 prefix",
            ))),
        }
    }

    /// Parses the 33-byte serialized form, which must start with `0x05`.
    pub fn deserialize(bytes: &[u8]) -> Result<Self> {
        match bytes {
            [DJB_TYPE, rest @ ..] if rest.len() == 32 => Ok(Self(
                rest.try_into()
                    .map_err(|_| Error::Crypto(CryptoError::InvalidPublicKey("length")))?,
            )),
            [DJB_TYPE, ..] => {
                Err(Error::Crypto(CryptoError::InvalidPublicKey("expected 33 bytes")))
            }
            [_, ..] => Err(Error::Crypto(CryptoError::InvalidPublicKey(
                "unknown key type byte, expected 0x05",
            ))),
            [] => Err(Error::Crypto(CryptoError::InvalidPublicKey("empty"))),
        }
    }

    /// The raw 32 bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 33-byte form with the `0x05` prefix.
    #[must_use]
    pub fn serialize(&self) -> [u8; 33] {
        let mut out = [0u8; 33];
        out[0] = DJB_TYPE;
        out[1..].copy_from_slice(&self.0);
        out
    }

    /// Verifies an XEdDSA `signature` of `message` by this key (libsignal's convention).
    #[must_use = "a signature check whose result is ignored checks nothing"]
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<()> {
        xeddsa::verify(self, message, signature)
    }
}

impl fmt::Debug for PublicKey {
    /// Public keys are not secret, but a short fingerprint is enough in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PublicKey({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// A Curve25519 private key, stored clamped, zeroized on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PrivateKey(Box<[u8; 32]>);

impl PrivateKey {
    /// Generates a fresh key from `rng`.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(bytes.as_mut());
        Self::from_bytes(*bytes)
    }

    /// Wraps 32 secret bytes, clamping them (which does not change X25519 results).
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Box::new(clamp_integer(bytes)))
    }

    /// Parses 32 secret bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::Crypto(CryptoError::InvalidPrivateKey(bytes.len())))?;
        Ok(Self::from_bytes(array))
    }

    /// The secret bytes, for persistence only.
    #[must_use]
    pub fn secret_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The matching public key.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        PublicKey(MontgomeryPoint::mul_base_clamped(*self.0).to_bytes())
    }

    /// X25519 agreement with `their` public key.
    #[must_use]
    pub fn agree(&self, their: &PublicKey) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(MontgomeryPoint(their.0).mul_clamped(*self.0).to_bytes())
    }

    /// Signs `message` with XEdDSA (64 bytes, sign bit in the top bit of the last byte).
    pub fn sign(&self, message: &[u8], rng: &mut impl CryptoRng) -> [u8; 64] {
        let mut random = Zeroizing::new([0u8; 64]);
        rng.fill_bytes(random.as_mut());
        xeddsa::sign(self, message, &random)
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

impl PartialEq for PrivateKey {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.0.ct_eq(other.0.as_ref()).into()
    }
}

impl Eq for PrivateKey {}

/// A private key with its public key.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyPair {
    /// The public half.
    pub public: PublicKey,
    /// The private half.
    pub private: PrivateKey,
}

/// An identity key pair is a long-lived [`KeyPair`].
pub type IdentityKeyPair = KeyPair;

impl KeyPair {
    /// Generates a fresh key pair.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        Self::from_private(PrivateKey::generate(rng))
    }

    /// Derives the public half from a private key.
    #[must_use]
    pub fn from_private(private: PrivateKey) -> Self {
        Self { public: private.public_key(), private }
    }

    /// Signs `message` with the private half (XEdDSA).
    pub fn sign(&self, message: &[u8], rng: &mut impl CryptoRng) -> [u8; 64] {
        self.private.sign(message, rng)
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair").field("public", &self.public).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;

    #[test]
    fn agreement_is_symmetric() {
        let mut rng = StdRng::seed_from_u64(1);
        let a = KeyPair::generate(&mut rng);
        let b = KeyPair::generate(&mut rng);
        assert_eq!(*a.private.agree(&b.public), *b.private.agree(&a.public));
        assert_ne!(a.public, b.public);
    }

    #[test]
    fn rfc7748_vector() {
        // RFC 7748 section 6.1.
        let alice = PrivateKey::from_bytes(
            hex::decode("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
                .unwrap()
                .try_into()
                .unwrap(),
        );
        let bob_pub = PublicKey::from_slice(
            &hex::decode("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            hex::encode(alice.public_key().as_bytes()),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
        );
        assert_eq!(
            hex::encode(*alice.agree(&bob_pub)),
            "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
        );
    }

    #[test]
    fn serialization_has_the_type_prefix() {
        let key = PublicKey::from_bytes([7; 32]);
        let ser = key.serialize();
        assert_eq!(ser[0], 0x05);
        assert_eq!(PublicKey::deserialize(&ser).unwrap(), key);
        assert_eq!(PublicKey::from_slice(&ser[1..]).unwrap(), key);
        let mut bad = ser;
        bad[0] = 0x06;
        assert!(PublicKey::deserialize(&bad).is_err());
        assert!(PublicKey::deserialize(&ser[..32]).is_err());
        assert!(PublicKey::from_slice(&[]).is_err());
        assert!(PublicKey::from_slice(&[5; 34]).is_err());
    }

    #[test]
    fn debug_never_prints_secrets() {
        let pair = KeyPair::from_private(PrivateKey::from_bytes([0x42; 32]));
        let shown = format!("{pair:?} {:?}", pair.private);
        assert!(!shown.contains("42, 42"));
        assert!(!shown.contains("4242"));
        insta::assert_snapshot!(shown);
    }
}

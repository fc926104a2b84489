//! Failures of the cryptographic primitives shared by every layer (keys, signatures, MACs, padding).

/// A key, signature, MAC or padding was rejected.
///
/// These come from the primitives under the Signal, Noise and media layers alike, so any
/// operation that decrypts or verifies can return one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// A public key is not 32 bytes, or not 33 bytes with the `0x05` type prefix.
    #[error("invalid public key: {0}")]
    InvalidPublicKey(&'static str),
    /// A private key is not 32 bytes.
    #[error("invalid private key length {0}, expected 32")]
    InvalidPrivateKey(usize),
    /// An XEdDSA signature did not verify (wrong key, wrong message, or not a signature at all).
    #[error("bad signature: {0}")]
    BadSignature(&'static str),
    /// A message authentication code did not match: the message was altered, or the keys differ.
    #[error("bad MAC on {0}")]
    BadMac(&'static str),
    /// Decryption produced bytes that are not validly padded (wrong key or tampered ciphertext).
    #[error("decryption failed: invalid padding in {0}")]
    BadPadding(&'static str),
}

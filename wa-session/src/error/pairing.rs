//! Failures of pairing a companion device (the ADV signatures of `pair-success` and
//! `pair-device-sign`).

/// A pairing answer is not meant for this device or does not carry valid signatures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PairingError {
    /// `pair-success`'s HMAC does not match our ADV secret: not meant for this device.
    #[error("pair-success HMAC does not match the ADV secret")]
    HmacMismatch,
    /// `pair-success`'s account signature over our identity key does not verify.
    #[error("pair-success account signature does not verify")]
    AccountSignature,
    /// A companion's device signature (in `pair-device-sign`) does not verify.
    #[error("pair-device-sign device signature does not verify")]
    DeviceSignature,
    /// A `pair-device-sign` names another key index than the one the phone gave.
    #[error("pair-device-sign key index {found:?}, expected {expected}")]
    KeyIndex {
        /// The key index the phone gave.
        expected: u32,
        /// The one the answer names, if any.
        found: Option<u32>,
    },
    /// A `pair-device-sign` returns another identity than the one the phone signed.
    #[error("pair-device-sign does not match what was signed: {0}")]
    Mismatch(&'static str),
}

//! Failures of the Signal protocol: sessions, prekeys, chains and sender keys.

/// A Signal message could not be decrypted for a protocol reason (as opposed to a broken
/// primitive, see [`CryptoError`](super::CryptoError)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    /// A message carries a protocol version this crate does not speak (it speaks 3).
    #[error("unsupported message version {0:#04x}")]
    UnsupportedVersion(u8),
    /// The remote identity key differs from the one trusted for that address.
    #[error("untrusted identity for {address}")]
    UntrustedIdentity {
        /// The address whose identity changed.
        address: String,
    },
    /// There is no session (or no usable session state) for the address.
    #[error("no session for {address}")]
    NoSession {
        /// The address.
        address: String,
    },
    /// A PreKeySignalMessage names a one-time prekey we do not have (used or never issued).
    #[error("unknown one-time prekey id {0}")]
    UnknownPreKey(u32),
    /// A PreKeySignalMessage names a signed prekey we do not have.
    #[error("unknown signed prekey id {0}")]
    UnknownSignedPreKey(u32),
    /// A message whose key was already used: a duplicate or a replay.
    #[error("duplicate or replayed message (chain index {index})")]
    DuplicateMessage {
        /// The message counter or sender-key iteration.
        index: u32,
    },
    /// A message is further ahead in its chain than the skip window allows.
    #[error("message {index} is too far ahead of the chain (limit {limit})")]
    TooFarAhead {
        /// The message counter or iteration.
        index: u32,
        /// The largest accepted jump.
        limit: u32,
    },
    /// There is no sender key (or no state with that key id) for the group and sender.
    #[error("no sender key for {name} (key id {key_id:?})")]
    NoSenderKey {
        /// The sender key name (group and sender address).
        name: String,
        /// The key id the message named, if any.
        key_id: Option<u32>,
    },
}

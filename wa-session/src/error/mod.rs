//! The one error type of this crate, grouped by the layer a failure comes from.
//!
//! As rustls nests `InvalidMessage`, `PeerMisbehaved` and `CertificateError` in its `Error`, the
//! top-level [`Error`] here wraps one enum per layer, so a caller matches the layers that can reach
//! the call it made (`send_text` cannot fail on a certificate; a handshake cannot fail on media)
//! and a new variant in one layer does not touch the others.
//!
//! Which layers reach which calls:
//!
//! | Call | Layers |
//! |------|--------|
//! | `Client::send_text`, `send_message`, `send_reply`, `send_reaction` | connection, message, store |
//! | `Client::upload`, `download` | connection, message, media, crypto |
//! | decrypting a received message (`message::receive`) | signal, crypto, message, store |
//! | connecting (handshake, login) | noise, cert, crypto, connection, store |
//! | pairing (`pairing::adv`) | pairing, crypto |
//!
//! [`Error::Malformed`], [`Error::UnsupportedRecordVersion`] and [`Error::Store`] stay at the top
//! because every layer decodes input and every layer that keeps state reads the store.

mod cert;
mod connection;
mod crypto;
mod media;
mod message;
mod noise;
mod pairing;
mod signal;

pub use cert::{CertError, CertRole};
pub use connection::ConnectionError;
pub use crypto::CryptoError;
pub use media::MediaError;
pub use message::MessageError;
pub use noise::NoiseError;
pub use pairing::PairingError;
pub use signal::SignalError;

/// Everything that can go wrong in this crate.
///
/// Every failure on untrusted input (a message, a bundle, a blob, a stored record) has its own
/// variant so that callers, retry logic and fuzzers can tell them apart. No variant carries key
/// material. The messages are those of the layer's error: a layer adds no prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A cryptographic primitive rejected a key, signature, MAC or padding.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The Signal protocol refused a message (sessions, prekeys, chains, sender keys).
    #[error(transparent)]
    Signal(#[from] SignalError),
    /// The framing or the Noise handshake of the connection broke a rule.
    #[error(transparent)]
    Noise(#[from] NoiseError),
    /// The server's certificate chain did not verify.
    #[error(transparent)]
    Cert(#[from] CertError),
    /// Pairing a companion device failed its checks.
    #[error(transparent)]
    Pairing(#[from] PairingError),
    /// The connection could not carry a request (not paired, not connected, timeout, iq error).
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// A stanza, key bundle or `<enc>` payload is unusable.
    #[error(transparent)]
    Message(#[from] MessageError),
    /// A media blob could not be moved or did not match its message.
    #[error(transparent)]
    Media(#[from] MediaError),
    /// A message or record could not be parsed.
    ///
    /// Decoding happens in every layer (protobuf payloads, certificates, pairing answers, stored
    /// records), so this stays at the top rather than in one of them.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being parsed.
        what: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// A stored record has a format version this build does not know.
    #[error("unsupported {what} record version {version}")]
    UnsupportedRecordVersion {
        /// Which record.
        what: &'static str,
        /// The version found.
        version: u32,
    },
    /// A key store failed; the message names the backend's error.
    #[error("store error: {0}")]
    Store(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn stanza(tag: impl Into<String>, reason: impl Into<String>) -> Self {
        MessageError::Stanza { tag: tag.into(), reason: reason.into() }.into()
    }

    pub(crate) fn malformed(what: &'static str, reason: impl Into<String>) -> Self {
        Self::Malformed { what, reason: reason.into() }
    }
}

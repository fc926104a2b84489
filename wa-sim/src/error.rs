//! The one error type of this crate.

use std::net::SocketAddr;

/// Everything that can go wrong in the simulator or its control API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The simulator only listens on loopback addresses.
    #[error("{0} is not a loopback address")]
    NotLoopback(SocketAddr),
    /// A listener could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A QR text is not in either known form.
    #[error("bad QR text: {0}")]
    BadQr(&'static str),
    /// No account with this phone number.
    #[error("no account {0}")]
    NoAccount(String),
    /// An account with this phone number already exists.
    #[error("account {0} already exists")]
    AccountExists(String),
    /// A phone number is not 5 to 15 digits.
    #[error("bad phone number {0:?}")]
    BadPhone(String),
    /// No device with this id on the account.
    #[error("no device {phone}:{device}")]
    NoDevice {
        /// The account.
        phone: String,
        /// The device id.
        device: u16,
    },
    /// The account already has [`crate::MAX_COMPANIONS`] companions linked; remove one first.
    #[error("account {0} already has the maximum of 4 linked companion devices")]
    TooManyCompanions(String),
    /// No connection waits for a pairing with this QR's ref and keys.
    #[error("no connection is showing this QR")]
    NoPairingConnection,
    /// The companion's answer to pair-success was refused.
    #[error("pairing failed: {0}")]
    PairingFailed(String),
    /// The pairing did not complete in time.
    #[error("pairing timed out")]
    PairingTimeout,
    /// The TLS certificate or configuration (`wss://`, media host) could not be made.
    #[error("TLS: {0}")]
    Tls(String),
    /// The test companion ([`crate::companion`]) failed: connection, handshake or a bad frame.
    #[error("companion: {0}")]
    Companion(String),
    /// A simulated phone could not send or answer: unknown recipient, bad content, media store.
    #[error("phone: {0}")]
    Phone(String),
    /// The state file could not be read or written, or is not one this version reads.
    #[error("state file: {0}")]
    StateFile(String),
    /// A node could not be encoded or decoded.
    #[error(transparent)]
    Proto(#[from] wa_proto::Error),
    /// A cryptographic check or a Noise step failed.
    #[error(transparent)]
    Session(#[from] wa_session::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

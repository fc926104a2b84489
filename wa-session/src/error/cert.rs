//! Failures of the server's certificate chain, checked during the Noise handshake.

/// The server's certificate chain does not prove that its Noise static key is WhatsApp's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// A certificate of the server's chain is not signed by its issuer (root or intermediate).
    #[error("bad signature on the {0} certificate")]
    BadSignature(CertRole),
    /// A certificate names the wrong issuer serial.
    #[error("{cert} certificate has issuer serial {found}, expected {expected}")]
    IssuerSerial {
        /// Which certificate.
        cert: CertRole,
        /// The serial it should name.
        expected: u32,
        /// The serial it names.
        found: u32,
    },
    /// The leaf certificate's key is not the server's Noise static key.
    #[error("leaf certificate key does not match the server static key")]
    KeyMismatch,
    /// A certificate's validity ended before `now`.
    #[error("{cert} certificate expired at {not_after} (now {now})")]
    Expired {
        /// Which certificate.
        cert: CertRole,
        /// End of validity, unix seconds.
        not_after: u64,
        /// The time checked against, unix seconds.
        now: u64,
    },
    /// A certificate's validity starts after `now`.
    #[error("{cert} certificate is not valid before {not_before} (now {now})")]
    NotYetValid {
        /// Which certificate.
        cert: CertRole,
        /// Start of validity, unix seconds.
        not_before: u64,
        /// The time checked against, unix seconds.
        now: u64,
    },
    /// A certificate (or the chain) is structurally invalid: missing parts, a key that is not 32
    /// bytes, undecodable details.
    #[error("malformed {cert} certificate: {reason}")]
    Malformed {
        /// Which certificate (or the chain itself).
        cert: CertRole,
        /// What is wrong.
        reason: String,
    },
}

/// Which certificate of the server's chain an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertRole {
    /// The whole chain (the `CertChain` message itself).
    Chain,
    /// The intermediate certificate, signed by the root key.
    Intermediate,
    /// The leaf certificate, which certifies the server's Noise static key.
    Leaf,
}

impl std::fmt::Display for CertRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Chain => "chain",
            Self::Intermediate => "intermediate",
            Self::Leaf => "leaf",
        })
    }
}

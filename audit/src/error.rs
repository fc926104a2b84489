//! The one error type of this crate.

/// Everything that can go wrong while appending to, reading or verifying an audit log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database refused or failed an operation.
    #[error("audit log database operation failed: {0}")]
    Database(#[from] sqlx::Error),
    /// The connection belongs to a database this crate does not support.
    #[error("unsupported database backend `{0}` (supported: SQLite, PostgreSQL)")]
    UnsupportedBackend(String),
    /// A stored record does not match the chain: it was changed, removed or inserted out of band.
    #[error("audit chain broken at sequence number {seq}: {reason}")]
    Tampered {
        /// The first sequence number at which the chain does not verify.
        seq: i64,
        /// What did not match.
        reason: TamperReason,
    },
    /// A stored value cannot be read back (for example an unknown record kind).
    #[error("audit record {seq} is unreadable: {what}")]
    Corrupt {
        /// The record's sequence number.
        seq: i64,
        /// What could not be read.
        what: &'static str,
    },
    /// A query parameter is out of range.
    #[error("invalid audit query: {0}")]
    InvalidQuery(&'static str),
    /// Writing the NDJSON export failed.
    #[error("writing the audit export failed: {0}")]
    Export(#[from] std::io::Error),
}

/// Why [`Error::Tampered`] was raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TamperReason {
    /// A sequence number is missing: a record was deleted.
    #[error("a record is missing (expected this sequence number next)")]
    Missing,
    /// The record's stored hash is not the hash of its contents.
    #[error("the record's contents do not match its hash")]
    ContentChanged,
    /// The record does not point at the hash of the record before it.
    #[error("the record does not link to the previous record's hash")]
    BrokenLink,
    /// An unkeyed (version 1) record follows a keyed one, or a chain that must be keyed does not
    /// end with a keyed record: the rows were rewritten by someone without the key.
    #[error("the record is not keyed although the chain is (rewritten without the key)")]
    Unkeyed,
    /// The chain head (last sequence number and hash) disagrees with the last record.
    #[error("the chain head does not match the last record (records were removed from the end)")]
    HeadMismatch,
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

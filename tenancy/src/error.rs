//! The one error type of this crate.

/// Everything that can go wrong in the tenancy store. Messages never contain user data or keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database refused or failed an operation.
    #[error("tenancy database operation failed: {0}")]
    Database(#[from] sqlx::Error),
    /// Appending to or verifying the audit log failed.
    #[error(transparent)]
    Audit(#[from] audit::Error),
    /// A Bitrix24 `member_id` that cannot name a tenant (1 to 64 of `A-Z a-z 0-9 _ -`).
    #[error("invalid member_id: must be 1 to 64 ASCII letters, digits, `_` or `-`")]
    InvalidMemberId,
    /// An input value is out of range (the message says which).
    #[error("invalid input: {0}")]
    InvalidInput(&'static str),
    /// No tenant is registered under this member_id.
    #[error("no tenant is registered under this member_id")]
    UnknownTenant,
    /// The tenant exists but is not active.
    #[error("the tenant is {0}, not active")]
    TenantInactive(crate::TenantStatus),
    /// Creating one more line would exceed the plan's quota.
    #[error("line quota reached: the tenant has {current} of {max} lines")]
    QuotaExceeded {
        /// Lines the tenant has now.
        current: i64,
        /// Lines its plan allows.
        max: i64,
    },
    /// The object does not exist, or the caller may not see it (the two are not distinguished).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// An idempotency key was used before for a different request (another text, file or
    /// conversation): the earlier request is not repeated and this one is not queued.
    #[error("idempotency key already used for a different request")]
    IdempotencyKeyReused,
    /// The caller's role does not allow this operation.
    #[error("not allowed: {0}")]
    Forbidden(&'static str),
    /// Sealed data could not be decrypted: wrong key, or the stored bytes were changed.
    #[error("stored secret could not be decrypted (wrong master key or tampered data)")]
    Decrypt,
    /// The system random generator failed.
    #[error("random generator failed")]
    Random,
    /// A stored value is not one this version can read.
    #[error("stored {0} is not readable by this version")]
    Corrupt(&'static str),
    /// The data directory could not be used.
    #[error("data directory operation failed: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// Whether the same call may succeed later: the database or the disk was unavailable, as
    /// opposed to a refusal of what was asked (invalid input, a constraint, a missing object).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Database(sqlx::Error::Database(_))
            | Error::Audit(audit::Error::Database(sqlx::Error::Database(_))) => false,
            Error::Database(_) | Error::Audit(audit::Error::Database(_)) | Error::Io(_) => true,
            _ => false,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

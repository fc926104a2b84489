//! Errors of the line runtime.

/// Why a runtime call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// Storage refused or failed (unknown tenant or line, quota, database errors...).
    #[error("storage: {0}")]
    Store(#[from] tenancy::Error),
    /// The WhatsApp client failed.
    #[error("whatsapp: {0}")]
    WhatsApp(#[from] wa_session::Error),
    /// The line is not running (connect it first).
    #[error("line {0} is not running")]
    NotRunning(tenancy::LineId),
    /// The line's phone logged it out; it must be paired again.
    #[error("line {0} is logged out")]
    LoggedOut(tenancy::LineId),
    /// A voice recording could not be remuxed.
    #[error("voice note: {0}")]
    Voice(#[from] crate::voice::VoiceError),
    /// A media file is larger than allowed.
    #[error("media of {size} bytes is over the limit of {limit}")]
    MediaTooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A request that cannot be served as given (a kind that is not media, a bad JID...).
    #[error("invalid request: {0}")]
    Invalid(&'static str),
    /// A message to a customer who never wrote is over the line's anti-ban limits.
    #[error("{0}")]
    ColdLimit(super::cold_guard::ColdRefusal),
    /// Reading or writing a media file failed.
    #[error("media file: {0}")]
    Io(String),
}

impl From<std::io::Error> for RuntimeError {
    fn from(error: std::io::Error) -> Self {
        RuntimeError::Io(error.kind().to_string())
    }
}

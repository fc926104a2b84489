//! Failures of media: encrypting, decrypting, uploading and downloading blobs.

/// A media blob could not be moved or does not match what its message announced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// A media blob does not match its announced SHA-256 (plaintext or encrypted).
    #[error("media hash mismatch on the {0} bytes")]
    HashMismatch(&'static str),
    /// A media blob is too short or not a whole number of cipher blocks.
    #[error("media blob is truncated or misaligned")]
    Truncated,
    /// A message has no media part (image, video, document, audio, sticker) to download.
    #[error("the message has no media to download")]
    NotMedia,
    /// A media host could not be reached or spoke broken HTTP.
    #[error("media host: {0}")]
    Http(String),
    /// A media host answered with an HTTP status other than success (404 for an unknown blob).
    #[error("media host answered HTTP {status}")]
    Status {
        /// The HTTP status code.
        status: u16,
    },
    /// A media file or blob is larger than allowed (the configured limit, or for a download
    /// also what the message announced).
    #[error("media larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// Reading an upload's source or writing a download's destination failed.
    #[error("media stream: {0}")]
    Sink(String),
}

//! Failures of the transport below the stanzas: the connection header, frames and Noise.

/// The byte stream to the server broke a rule of its framing or of the Noise handshake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoiseError {
    /// A frame declares a payload longer than the codec accepts.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    FrameTooLarge {
        /// The declared (or requested) payload length.
        len: usize,
        /// The largest accepted payload length.
        max: usize,
    },
    /// The first bytes of a connection are neither `WA\x06\x03` nor an `ED\x00\x01` routing prefix.
    #[error("bad connection header: {0}")]
    BadConnectionHeader(&'static str),
    /// A Noise handshake message is missing a part or has a part of the wrong size.
    #[error("bad handshake message: {0}")]
    Handshake(&'static str),
    /// A Noise cipher counter would wrap: the connection must be replaced.
    #[error("noise counter exhausted")]
    NonceExhausted,
}

//! Why a recording could not be remuxed.

/// A malformed or unsupported webm/opus recording, or an Ogg stream that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VoiceError {
    /// The input is larger than the configured limit.
    #[error("recording of {size} bytes is over the limit of {limit} bytes")]
    TooLarge {
        /// The input's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The input ended inside an element header or body.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// An EBML variable-length integer had no length marker in its first byte.
    #[error("invalid EBML variable-length integer")]
    BadVint,
    /// An element declares more bytes than its parent (or the input) holds.
    #[error("element {id:#x} declares {size} bytes, only {remaining} remain")]
    ElementOverrun {
        /// The element's id.
        id: u32,
        /// Its declared size.
        size: u64,
        /// What remains in its parent.
        remaining: u64,
    },
    /// Elements nested deeper than the cap.
    #[error("elements nested deeper than {0} levels")]
    TooDeep(usize),
    /// An element of unknown size where the format does not allow one.
    #[error("element {0:#x} has an unknown size where none is allowed")]
    UnknownSize(u32),
    /// An integer or string element has a size its type cannot have.
    #[error("element {id:#x} has an invalid size {size}")]
    BadElementSize {
        /// The element's id.
        id: u32,
        /// Its size.
        size: u64,
    },
    /// Not an EBML document, or not a webm/matroska one.
    #[error("not a webm document: {0}")]
    NotWebm(&'static str),
    /// No audio track with codec `A_OPUS`.
    #[error("no Opus audio track")]
    NoOpusTrack,
    /// The track's `CodecPrivate` is not a valid `OpusHead`.
    #[error("invalid OpusHead: {0}")]
    BadOpusHead(&'static str),
    /// A block uses lacing (several frames in one block), which MediaRecorder never writes.
    #[error("laced blocks are not supported")]
    LacedBlock,
    /// An Opus packet is empty or its table of contents is inconsistent.
    #[error("invalid Opus packet: {0}")]
    BadOpusPacket(&'static str),
    /// The recording holds no audio packet.
    #[error("the recording holds no audio")]
    Empty,
    /// More packets than the cap.
    #[error("more than {0} audio packets")]
    TooManyPackets(usize),
    /// An Ogg page is malformed (when reading one back).
    #[error("invalid Ogg page: {0}")]
    BadOggPage(&'static str),
    /// An Ogg page's checksum does not match its contents.
    #[error("Ogg page {sequence} has a bad CRC")]
    BadOggCrc {
        /// The page's sequence number.
        sequence: u32,
    },
}

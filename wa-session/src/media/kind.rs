//! The kinds of media message, and what each is encrypted and labelled as by default.

use super::MediaType;

/// The mimetype WhatsApp gives voice notes.
pub const VOICE_NOTE_MIMETYPE: &str = "audio/ogg; codecs=opus";

/// The kinds of media message a client sends and receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MediaKind {
    /// An `imageMessage`.
    Image,
    /// A `videoMessage`.
    Video,
    /// A `documentMessage`.
    Document,
    /// An `audioMessage`.
    Audio,
    /// A voice note: an `audioMessage` with `ptt`.
    VoiceNote,
    /// A `stickerMessage`.
    Sticker,
}

impl MediaKind {
    /// Every kind.
    pub const ALL: [Self; 6] =
        [Self::Image, Self::Video, Self::Document, Self::Audio, Self::VoiceNote, Self::Sticker];

    /// The media type whose keys encrypt it.
    #[must_use]
    pub const fn media_type(self) -> MediaType {
        match self {
            Self::Image => MediaType::Image,
            Self::Video => MediaType::Video,
            Self::Document => MediaType::Document,
            Self::Audio => MediaType::Audio,
            Self::VoiceNote => MediaType::Ptt,
            Self::Sticker => MediaType::Sticker,
        }
    }

    /// The mimetype used when none is given.
    #[must_use]
    pub const fn default_mimetype(self) -> &'static str {
        match self {
            Self::Image => "image/jpeg",
            Self::Video => "video/mp4",
            Self::Document => "application/octet-stream",
            Self::Audio => "audio/mpeg",
            Self::VoiceNote => VOICE_NOTE_MIMETYPE,
            Self::Sticker => "image/webp",
        }
    }
}

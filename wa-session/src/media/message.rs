//! Media message parts without IO: the `e2e::Message` that announces an uploaded blob, and what
//! a received media message says about the blob to download.

use wa_proto::proto::e2e::{
    self,
    message::{AudioMessage, DocumentMessage, ImageMessage, StickerMessage, VideoMessage},
};
use zeroize::Zeroizing;

pub use super::kind::{MediaKind, VOICE_NOTE_MIMETYPE};
use crate::{Error, MediaError, Result, media::MediaInfo, message::MessageContent};

/// What the sender says about a media file besides the blob itself. Fields a kind does not have
/// are ignored (a sticker has no caption, an image no duration).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaOptions {
    /// The mimetype; [`MediaKind::default_mimetype`] if `None`. Voice notes always use
    /// [`VOICE_NOTE_MIMETYPE`].
    pub mimetype: Option<String>,
    /// The caption (image, video, document).
    pub caption: Option<String>,
    /// The file name (document; also its title).
    pub file_name: Option<String>,
    /// Width in pixels (image, video, sticker).
    pub width: Option<u32>,
    /// Height in pixels (image, video, sticker).
    pub height: Option<u32>,
    /// Duration in seconds (video, audio, voice note).
    pub seconds: Option<u32>,
}

/// A blob uploaded to the media host, ready to be announced in a message.
#[derive(Clone, PartialEq, Eq)]
pub struct UploadedMedia {
    /// The kind it was encrypted for.
    pub kind: MediaKind,
    /// The download URL the host gave.
    pub url: String,
    /// The direct path the host gave.
    pub direct_path: String,
    /// The media key (secret: it decrypts the blob).
    pub media_key: Zeroizing<[u8; 32]>,
    /// Hashes and length.
    pub info: MediaInfo,
    /// When the key was made, unix seconds.
    pub media_key_timestamp: i64,
}

impl std::fmt::Debug for UploadedMedia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadedMedia")
            .field("kind", &self.kind)
            .field("direct_path", &self.direct_path)
            .field("media_key", &"<redacted>")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl UploadedMedia {
    /// The `e2e::Message` announcing the blob: the kind's message with url, direct path, media
    /// key, both hashes, length, key timestamp, mimetype and the `options` the kind has.
    #[must_use]
    pub fn message(&self, options: &MediaOptions) -> e2e::Message {
        let url = Some(self.url.clone());
        let direct_path = Some(self.direct_path.clone());
        let media_key = Some(self.media_key.to_vec());
        let file_sha256 = Some(self.info.file_sha256.to_vec());
        let file_enc_sha256 = Some(self.info.file_enc_sha256.to_vec());
        let file_length = Some(self.info.file_length);
        let media_key_timestamp = Some(self.media_key_timestamp);
        let mimetype = Some(match self.kind {
            MediaKind::VoiceNote => VOICE_NOTE_MIMETYPE.to_owned(),
            kind => options.mimetype.clone().unwrap_or_else(|| kind.default_mimetype().to_owned()),
        });
        let caption = options.caption.clone();
        let mut message = e2e::Message::default();
        match self.kind {
            MediaKind::Image => {
                message.image_message = Some(Box::new(ImageMessage {
                    url,
                    mimetype,
                    caption,
                    file_sha256,
                    file_length,
                    height: options.height,
                    width: options.width,
                    media_key,
                    file_enc_sha256,
                    direct_path,
                    media_key_timestamp,
                    ..ImageMessage::default()
                }));
            }
            MediaKind::Video => {
                message.video_message = Some(Box::new(VideoMessage {
                    url,
                    mimetype,
                    file_sha256,
                    file_length,
                    seconds: options.seconds,
                    media_key,
                    caption,
                    height: options.height,
                    width: options.width,
                    file_enc_sha256,
                    direct_path,
                    media_key_timestamp,
                    ..VideoMessage::default()
                }));
            }
            MediaKind::Document => {
                message.document_message = Some(Box::new(DocumentMessage {
                    url,
                    mimetype,
                    title: options.file_name.clone(),
                    file_sha256,
                    file_length,
                    media_key,
                    file_name: options.file_name.clone(),
                    file_enc_sha256,
                    direct_path,
                    media_key_timestamp,
                    caption,
                    ..DocumentMessage::default()
                }));
            }
            MediaKind::Audio | MediaKind::VoiceNote => {
                message.audio_message = Some(Box::new(AudioMessage {
                    url,
                    mimetype,
                    file_sha256,
                    file_length,
                    seconds: options.seconds,
                    ptt: Some(self.kind == MediaKind::VoiceNote),
                    media_key,
                    file_enc_sha256,
                    direct_path,
                    media_key_timestamp,
                    ..AudioMessage::default()
                }));
            }
            MediaKind::Sticker => {
                message.sticker_message = Some(Box::new(StickerMessage {
                    url,
                    file_sha256,
                    file_enc_sha256,
                    media_key,
                    mimetype,
                    height: options.height,
                    width: options.width,
                    direct_path,
                    file_length,
                    media_key_timestamp,
                    ..StickerMessage::default()
                }));
            }
        }
        message
    }
}

/// What a received media message says about its blob: enough to download, decrypt and verify it.
#[derive(Clone, PartialEq, Eq)]
pub struct MediaRef {
    /// The kind of message it came in.
    pub kind: MediaKind,
    /// The media key.
    pub media_key: Zeroizing<[u8; 32]>,
    /// The direct path on a media host, if given.
    pub direct_path: Option<String>,
    /// The full URL, if given.
    pub url: Option<String>,
    /// SHA-256 of the plaintext.
    pub file_sha256: [u8; 32],
    /// SHA-256 of the blob.
    pub file_enc_sha256: [u8; 32],
    /// The plaintext length, if given.
    pub file_length: Option<u64>,
}

impl std::fmt::Debug for MediaRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaRef")
            .field("kind", &self.kind)
            .field("media_key", &"<redacted>")
            .field("direct_path", &self.direct_path)
            .field("file_length", &self.file_length)
            .finish_non_exhaustive()
    }
}

impl MediaRef {
    /// Reads the media part of `message` (image, video, document, audio or voice note, sticker;
    /// wrappers such as ephemeral are looked through).
    ///
    /// # Errors
    ///
    /// [`MediaError::NotMedia`] if it has none, [`Error::Malformed`] if the media key or a hash is
    /// missing or of the wrong size, or neither a direct path nor a URL is given.
    pub fn from_message(message: &e2e::Message) -> Result<Self> {
        let fields =
            MessageContent::of(message).media().ok_or(Error::Media(MediaError::NotMedia))?;
        const WHAT: &str = "media message";
        let array = |bytes: Option<&[u8]>, what: &str| -> Result<[u8; 32]> {
            bytes
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| Error::malformed(WHAT, format!("{what} missing or not 32 bytes")))
        };
        let media_key = Zeroizing::new(array(fields.media_key, "mediaKey")?);
        let file_sha256 = array(fields.file_sha256, "fileSha256")?;
        let file_enc_sha256 = array(fields.file_enc_sha256, "fileEncSha256")?;
        let direct_path = fields.direct_path.filter(|p| p.starts_with('/')).map(str::to_owned);
        let url = fields.url.filter(|u| u.starts_with("https://")).map(str::to_owned);
        if direct_path.is_none() && url.is_none() {
            return Err(Error::malformed(WHAT, "neither a direct path nor an https URL"));
        }
        Ok(Self {
            kind: fields.kind,
            media_key,
            direct_path,
            url,
            file_sha256,
            file_enc_sha256,
            file_length: fields.file_length,
        })
    }

    /// The hashes (and length, 0 if unknown) the decrypted file must match.
    #[must_use]
    pub fn expected(&self) -> MediaInfo {
        MediaInfo {
            file_sha256: self.file_sha256,
            file_enc_sha256: self.file_enc_sha256,
            file_length: self.file_length.unwrap_or(0),
        }
    }

    /// Where to fetch the blob: the host of the message URL (as WhatsApp Web does) with the
    /// direct path, or the URL's own path; without a URL, `fallback_host` (a `media_conn` host)
    /// with the direct path. Returns `(host, path and query)`.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] if the URL's host is not a plain host name (with an optional port).
    pub fn location(&self, fallback_host: Option<&str>) -> Result<(String, String)> {
        const WHAT: &str = "media URL";
        if let Some(url) = &self.url {
            let rest = url.strip_prefix("https://").unwrap_or(url);
            let (host, path) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
            if !super::conn::is_host(host) {
                return Err(Error::malformed(WHAT, "the host is not a plain host name"));
            }
            let path = self.direct_path.clone().unwrap_or_else(|| path.to_owned());
            return Ok((host.to_owned(), path));
        }
        match (fallback_host, &self.direct_path) {
            (Some(host), Some(path)) => Ok((host.to_owned(), path.clone())),
            _ => Err(Error::malformed(WHAT, "no URL and no media host to use the direct path on")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uploaded(kind: MediaKind) -> UploadedMedia {
        UploadedMedia {
            kind,
            url: "https://mmg.whatsapp.net/v/t62/abc?x=1&mms3=true".to_owned(),
            direct_path: "/v/t62/abc?x=1".to_owned(),
            media_key: Zeroizing::new([7; 32]),
            info: MediaInfo { file_sha256: [1; 32], file_enc_sha256: [2; 32], file_length: 42 },
            media_key_timestamp: 1_700_000_000,
        }
    }

    #[test]
    fn every_kind_round_trips_through_its_message() {
        let options = MediaOptions {
            caption: Some("look".to_owned()),
            file_name: Some("report.pdf".to_owned()),
            width: Some(640),
            height: Some(480),
            seconds: Some(7),
            ..MediaOptions::default()
        };
        for kind in MediaKind::ALL {
            let upload = uploaded(kind);
            let message = upload.message(&options);
            let media = MediaRef::from_message(&message).unwrap();
            assert_eq!(media.kind, kind);
            assert_eq!(*media.media_key, [7; 32]);
            assert_eq!(media.expected(), upload.info);
            assert_eq!(media.direct_path.as_deref(), Some("/v/t62/abc?x=1"));
            assert_eq!(
                media.location(None).unwrap(),
                ("mmg.whatsapp.net".to_owned(), "/v/t62/abc?x=1".to_owned())
            );
            assert!(!format!("{upload:?}{media:?}").contains("7, 7"));
        }
        let voice = uploaded(MediaKind::VoiceNote)
            .message(&MediaOptions { mimetype: Some("audio/mpeg".to_owned()), ..options.clone() });
        let audio = voice.audio_message.unwrap();
        assert_eq!(audio.ptt, Some(true));
        assert_eq!(audio.seconds, Some(7));
        assert_eq!(audio.mimetype.as_deref(), Some(VOICE_NOTE_MIMETYPE));
        let document = uploaded(MediaKind::Document).message(&options).document_message.unwrap();
        assert_eq!(document.file_name.as_deref(), Some("report.pdf"));
        assert_eq!(document.caption.as_deref(), Some("look"));
        let image = uploaded(MediaKind::Image).message(&MediaOptions::default());
        let image = image.image_message.unwrap();
        assert_eq!(image.mimetype.as_deref(), Some("image/jpeg"));
        assert_eq!(image.media_key_timestamp, Some(1_700_000_000));
    }

    #[test]
    fn refuses_what_cannot_be_downloaded() {
        assert_eq!(
            MediaRef::from_message(&e2e::Message::default()),
            Err(Error::Media(MediaError::NotMedia))
        );
        let mut message = uploaded(MediaKind::Image).message(&MediaOptions::default());
        let image = message.image_message.as_mut().unwrap();
        image.media_key = Some(vec![1; 31]);
        assert!(matches!(MediaRef::from_message(&message), Err(Error::Malformed { .. })));

        let mut message = uploaded(MediaKind::Video).message(&MediaOptions::default());
        let video = message.video_message.as_mut().unwrap();
        video.url = Some("http://plain.example/x".to_owned());
        video.direct_path = None;
        assert!(matches!(MediaRef::from_message(&message), Err(Error::Malformed { .. })));

        let mut message = uploaded(MediaKind::Sticker).message(&MediaOptions::default());
        let sticker = message.sticker_message.as_mut().unwrap();
        sticker.url = Some("https://user@evil.example/x".to_owned());
        let media = MediaRef::from_message(&message).unwrap();
        assert!(matches!(media.location(None), Err(Error::Malformed { .. })));

        let mut message = uploaded(MediaKind::Audio).message(&MediaOptions::default());
        message.audio_message.as_mut().unwrap().url = None;
        let media = MediaRef::from_message(&message).unwrap();
        assert!(media.location(None).is_err());
        assert_eq!(
            media.location(Some("127.0.0.1:9")).unwrap(),
            ("127.0.0.1:9".to_owned(), "/v/t62/abc?x=1".to_owned())
        );
    }
}

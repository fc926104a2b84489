//! What an `e2e::Message` carries, read in one place: its kind, its text or caption, its media
//! fields, its reply context. Senders, receivers, the server and the simulator all ask the same
//! questions of a message; they ask this view so that a new kind is taught once.

use wa_proto::proto::e2e::{self, ContextInfo};

use super::{contact_card::ContactCard, location::Location, send::normalized};
use crate::media::kind::MediaKind;

/// At most this many cards of a `contactsArrayMessage` are read.
pub const MAX_CONTACT_CARDS: usize = 20;

/// The kind of content a message holds, after unwrapping ephemeral, view-once and edit wrappers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContentKind {
    /// Plain text (`conversation`).
    Text,
    /// Text with a reply context, mentions or a link preview (`extendedTextMessage`).
    ExtendedText,
    /// An `imageMessage`.
    Image,
    /// A `videoMessage`.
    Video,
    /// An `audioMessage` without `ptt`.
    Audio,
    /// An `audioMessage` with `ptt`: a voice note.
    VoiceNote,
    /// A `documentMessage`.
    Document,
    /// A `stickerMessage`.
    Sticker,
    /// A `locationMessage`: a place shared once (live locations are not read).
    Location,
    /// A `contactMessage` or a `contactsArrayMessage`: one or more contact cards.
    Contact,
    /// A `reactionMessage` (an emoji on another message, or an empty one taking it back).
    Reaction,
    /// A `protocolMessage` (revoke, key share, history sync): nothing for a person to read.
    Protocol,
    /// Anything else this crate does not read (key distribution only, kinds not modelled).
    Unsupported,
}

impl ContentKind {
    /// The media kind, for the kinds that carry a blob.
    #[must_use]
    pub const fn media_kind(self) -> Option<MediaKind> {
        match self {
            Self::Image => Some(MediaKind::Image),
            Self::Video => Some(MediaKind::Video),
            Self::Audio => Some(MediaKind::Audio),
            Self::VoiceNote => Some(MediaKind::VoiceNote),
            Self::Document => Some(MediaKind::Document),
            Self::Sticker => Some(MediaKind::Sticker),
            _ => None,
        }
    }

    /// Whether the kind is plain or extended text.
    #[must_use]
    pub const fn is_text(self) -> bool {
        matches!(self, Self::Text | Self::ExtendedText)
    }
}

/// The fields every media message shares, borrowed from it. Nothing is checked here: a received
/// message may lack any of them ([`MediaRef`](crate::media::message::MediaRef) checks what a
/// download needs).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct MediaFields<'a> {
    /// The kind of media message.
    pub kind: MediaKind,
    /// The download URL.
    pub url: Option<&'a str>,
    /// The direct path on a media host.
    pub direct_path: Option<&'a str>,
    /// The media key (secret).
    pub media_key: Option<&'a [u8]>,
    /// SHA-256 of the plaintext.
    pub file_sha256: Option<&'a [u8]>,
    /// SHA-256 of the encrypted blob.
    pub file_enc_sha256: Option<&'a [u8]>,
    /// The plaintext length.
    pub file_length: Option<u64>,
    /// The mimetype the sender gave.
    pub mimetype: Option<&'a str>,
    /// The caption (image, video, document).
    pub caption: Option<&'a str>,
    /// The sender's file name (document: `fileName`, else its `title`).
    pub file_name: Option<&'a str>,
    /// The duration in seconds (video, audio, voice note).
    pub seconds: Option<u32>,
}

impl std::fmt::Debug for MediaFields<'_> {
    // The media key decrypts the blob: keep it out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaFields")
            .field("kind", &self.kind)
            .field("direct_path", &self.direct_path)
            .field("media_key", &self.media_key.map(|_| "<redacted>"))
            .field("file_length", &self.file_length)
            .field("mimetype", &self.mimetype)
            .finish_non_exhaustive()
    }
}

/// A read-only view of what an `e2e::Message` carries.
#[derive(Debug, Clone, Copy)]
pub struct MessageContent<'a> {
    message: &'a e2e::Message,
    kind: ContentKind,
}

impl<'a> MessageContent<'a> {
    /// Reads `message`, unwrapping ephemeral, view-once, edit and document-with-caption wrappers.
    #[must_use]
    pub fn of(message: &'a e2e::Message) -> Self {
        let message = normalized(message);
        Self { message, kind: kind_of(message) }
    }

    /// The kind of content.
    #[must_use]
    pub const fn kind(&self) -> ContentKind {
        self.kind
    }

    /// The unwrapped message itself.
    #[must_use]
    pub const fn message(&self) -> &'a e2e::Message {
        self.message
    }

    /// The text of a text message.
    #[must_use]
    pub fn text(&self) -> Option<&'a str> {
        match self.kind {
            ContentKind::Text => self.message.conversation.as_deref(),
            ContentKind::ExtendedText => {
                self.message.extended_text_message.as_ref().and_then(|m| m.text.as_deref())
            }
            _ => None,
        }
    }

    /// The caption of an image, video or document.
    #[must_use]
    pub fn caption(&self) -> Option<&'a str> {
        self.media().and_then(|media| media.caption)
    }

    /// What a person reads in the message: the text of a text message, the caption of a media
    /// message, the emoji of a reaction.
    #[must_use]
    pub fn body(&self) -> Option<&'a str> {
        match self.kind {
            ContentKind::Reaction => self.emoji(),
            kind if kind.is_text() => self.text(),
            _ => self.caption(),
        }
    }

    /// The emoji of a reaction (empty when the reaction is taken back).
    #[must_use]
    pub fn emoji(&self) -> Option<&'a str> {
        self.message.reaction_message.as_ref().and_then(|r| r.text.as_deref())
    }

    /// The id of the message a reaction is on.
    #[must_use]
    pub fn reacted_to(&self) -> Option<&'a str> {
        let reaction = self.message.reaction_message.as_ref()?;
        reaction.key.as_ref().and_then(|key| key.id.as_deref())
    }

    /// The place of a location message.
    #[must_use]
    pub fn location(&self) -> Option<Location<'a>> {
        if self.kind != ContentKind::Location {
            return None;
        }
        let l = self.message.location_message.as_deref()?;
        Some(Location {
            latitude: l.degrees_latitude,
            longitude: l.degrees_longitude,
            name: l.name.as_deref(),
            address: l.address.as_deref(),
            url: l.url.as_deref(),
        })
    }

    /// The cards of a contact message (one for `contactMessage`, those of a
    /// `contactsArrayMessage`, at most [`MAX_CONTACT_CARDS`]).
    #[must_use]
    pub fn contact_cards(&self) -> Vec<ContactCard<'a>> {
        if self.kind != ContentKind::Contact {
            return Vec::new();
        }
        let card = |c: &'a e2e::message::ContactMessage| ContactCard {
            display_name: c.display_name.as_deref(),
            vcard: c.vcard.as_deref(),
        };
        match (&self.message.contact_message, &self.message.contacts_array_message) {
            (Some(one), _) => vec![card(one)],
            (None, Some(many)) => many.contacts.iter().take(MAX_CONTACT_CARDS).map(card).collect(),
            (None, None) => Vec::new(),
        }
    }

    /// What a person reads in a location or contact message, composed from its fields (see
    /// [`Location::text`] and [`ContactCard::text`]; cards are separated by an empty line).
    #[must_use]
    pub fn summary(&self) -> Option<String> {
        match self.kind {
            ContentKind::Location => self.location().map(|place| place.text()),
            ContentKind::Contact => Some(
                self.contact_cards()
                    .iter()
                    .map(ContactCard::text)
                    .filter(|card| !card.is_empty())
                    .collect::<Vec<_>>()
                    .join("\n\n"),
            ),
            _ => None,
        }
        .filter(|text| !text.is_empty())
    }

    /// The media fields, for the kinds that carry a blob.
    #[must_use]
    pub fn media(&self) -> Option<MediaFields<'a>> {
        let m = self.message;
        let media_kind = self.kind.media_kind()?;
        macro_rules! fields {
            ($m:expr, caption: $caption:expr, file_name: $file_name:expr, seconds: $seconds:expr) => {
                MediaFields {
                    kind: media_kind,
                    url: $m.url.as_deref(),
                    direct_path: $m.direct_path.as_deref(),
                    media_key: $m.media_key.as_deref(),
                    file_sha256: $m.file_sha256.as_deref(),
                    file_enc_sha256: $m.file_enc_sha256.as_deref(),
                    file_length: $m.file_length,
                    mimetype: $m.mimetype.as_deref(),
                    caption: $caption,
                    file_name: $file_name,
                    seconds: $seconds,
                }
            };
        }
        Some(match self.kind {
            ContentKind::Image => {
                let i = m.image_message.as_deref()?;
                fields!(i, caption: i.caption.as_deref(), file_name: None, seconds: None)
            }
            ContentKind::Video => {
                let v = m.video_message.as_deref()?;
                fields!(v, caption: v.caption.as_deref(), file_name: None, seconds: v.seconds)
            }
            ContentKind::Audio | ContentKind::VoiceNote => {
                let a = m.audio_message.as_deref()?;
                fields!(a, caption: None, file_name: None, seconds: a.seconds)
            }
            ContentKind::Document => {
                let d = m.document_message.as_deref()?;
                let file_name = d.file_name.as_deref().or(d.title.as_deref());
                fields!(d, caption: d.caption.as_deref(), file_name: file_name, seconds: None)
            }
            ContentKind::Sticker => {
                let s = m.sticker_message.as_deref()?;
                fields!(s, caption: None, file_name: None, seconds: None)
            }
            _ => return None,
        })
    }

    /// The reply, mention and forwarding context, for the kinds that carry one.
    #[must_use]
    pub fn context_info(&self) -> Option<&'a ContextInfo> {
        let m = self.message;
        match self.kind {
            ContentKind::ExtendedText => m.extended_text_message.as_ref()?.context_info.as_deref(),
            ContentKind::Image => m.image_message.as_ref()?.context_info.as_deref(),
            ContentKind::Video => m.video_message.as_ref()?.context_info.as_deref(),
            ContentKind::Audio | ContentKind::VoiceNote => {
                m.audio_message.as_ref()?.context_info.as_deref()
            }
            ContentKind::Document => m.document_message.as_ref()?.context_info.as_deref(),
            ContentKind::Sticker => m.sticker_message.as_ref()?.context_info.as_deref(),
            ContentKind::Location => m.location_message.as_ref()?.context_info.as_deref(),
            ContentKind::Contact => match &m.contact_message {
                Some(one) => one.context_info.as_deref(),
                None => m.contacts_array_message.as_ref()?.context_info.as_deref(),
            },
            _ => None,
        }
    }

    /// The id of the message this one quotes (a reply), from its context.
    #[must_use]
    pub fn quoted_id(&self) -> Option<&'a str> {
        self.context_info().and_then(|context| context.stanza_id.as_deref())
    }
}

/// The kind of an already unwrapped message. The order decides for a (malformed) message that
/// sets several kinds at once.
fn kind_of(m: &e2e::Message) -> ContentKind {
    if m.conversation.is_some() {
        ContentKind::Text
    } else if m.extended_text_message.is_some() {
        ContentKind::ExtendedText
    } else if m.image_message.is_some() {
        ContentKind::Image
    } else if m.video_message.is_some() {
        ContentKind::Video
    } else if let Some(audio) = &m.audio_message {
        if audio.ptt == Some(true) { ContentKind::VoiceNote } else { ContentKind::Audio }
    } else if m.document_message.is_some() {
        ContentKind::Document
    } else if m.sticker_message.is_some() {
        ContentKind::Sticker
    } else if m.location_message.is_some() {
        ContentKind::Location
    } else if m.contact_message.is_some() || m.contacts_array_message.is_some() {
        ContentKind::Contact
    } else if m.reaction_message.is_some() {
        ContentKind::Reaction
    } else if m.protocol_message.is_some() {
        ContentKind::Protocol
    } else {
        ContentKind::Unsupported
    }
}

/// The slot of `message`'s own reply context (the content's `contextInfo`), for the kinds that
/// carry one; `message` is taken as it is (not unwrapped). Attaching a reply to a built message
/// and taking the context off a quote both go through here.
pub fn context_info_mut(message: &mut e2e::Message) -> Option<&mut Option<Box<ContextInfo>>> {
    match kind_of(message) {
        ContentKind::ExtendedText => {
            Some(&mut message.extended_text_message.as_mut()?.context_info)
        }
        ContentKind::Image => Some(&mut message.image_message.as_mut()?.context_info),
        ContentKind::Video => Some(&mut message.video_message.as_mut()?.context_info),
        ContentKind::Audio | ContentKind::VoiceNote => {
            Some(&mut message.audio_message.as_mut()?.context_info)
        }
        ContentKind::Document => Some(&mut message.document_message.as_mut()?.context_info),
        ContentKind::Sticker => Some(&mut message.sticker_message.as_mut()?.context_info),
        ContentKind::Location => Some(&mut message.location_message.as_mut()?.context_info),
        ContentKind::Contact => match message.contact_message.as_mut() {
            Some(one) => Some(&mut one.context_info),
            None => Some(&mut message.contacts_array_message.as_mut()?.context_info),
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use wa_proto::proto::{
        common::MessageKey,
        e2e::message::{
            AudioMessage, DocumentMessage, ExtendedTextMessage, FutureProofMessage, ImageMessage,
            ProtocolMessage, ReactionMessage, StickerMessage, VideoMessage,
        },
    };

    use super::*;

    fn replying_to(id: &str) -> Option<Box<ContextInfo>> {
        Some(Box::new(ContextInfo { stanza_id: Some(id.to_owned()), ..Default::default() }))
    }

    #[test]
    fn text_kinds_give_their_text_and_quote() {
        let plain = e2e::Message { conversation: Some("hi".to_owned()), ..Default::default() };
        let content = MessageContent::of(&plain);
        assert_eq!(content.kind(), ContentKind::Text);
        assert_eq!(
            (content.text(), content.body(), content.quoted_id()),
            (Some("hi"), Some("hi"), None)
        );
        assert!(content.media().is_none());

        let reply = e2e::Message {
            extended_text_message: Some(Box::new(ExtendedTextMessage {
                text: Some("yes".to_owned()),
                context_info: replying_to("3EB0Q"),
                ..Default::default()
            })),
            ..Default::default()
        };
        let content = MessageContent::of(&reply);
        assert_eq!(content.kind(), ContentKind::ExtendedText);
        assert_eq!((content.text(), content.quoted_id()), (Some("yes"), Some("3EB0Q")));
    }

    #[test]
    fn media_kinds_give_their_fields() {
        let image = e2e::Message {
            image_message: Some(Box::new(ImageMessage {
                caption: Some("look".to_owned()),
                mimetype: Some("image/png".to_owned()),
                direct_path: Some("/v/x".to_owned()),
                file_length: Some(3),
                context_info: replying_to("3EB0I"),
                ..Default::default()
            })),
            ..Default::default()
        };
        let content = MessageContent::of(&image);
        let media = content.media().unwrap();
        assert_eq!(media.kind, MediaKind::Image);
        assert_eq!(
            (media.mimetype, media.direct_path, media.file_length),
            (Some("image/png"), Some("/v/x"), Some(3))
        );
        assert_eq!(
            (content.caption(), content.body(), content.text()),
            (Some("look"), Some("look"), None)
        );
        assert_eq!(content.quoted_id(), Some("3EB0I"));

        let document = e2e::Message {
            document_message: Some(Box::new(DocumentMessage {
                title: Some("report.pdf".to_owned()),
                ..Default::default()
            })),
            ..Default::default()
        };
        let media = MessageContent::of(&document).media().unwrap();
        assert_eq!((media.kind, media.file_name), (MediaKind::Document, Some("report.pdf")));

        let voice = e2e::Message {
            audio_message: Some(Box::new(AudioMessage {
                ptt: Some(true),
                seconds: Some(4),
                ..Default::default()
            })),
            ..Default::default()
        };
        let content = MessageContent::of(&voice);
        assert_eq!(content.kind(), ContentKind::VoiceNote);
        assert_eq!(content.media().unwrap().seconds, Some(4));

        let video = e2e::Message { video_message: Some(Box::default()), ..Default::default() };
        assert_eq!(MessageContent::of(&video).kind().media_kind(), Some(MediaKind::Video));
        let sticker = e2e::Message {
            sticker_message: Some(Box::<StickerMessage>::default()),
            ..Default::default()
        };
        assert_eq!(MessageContent::of(&sticker).kind(), ContentKind::Sticker);
        let audio = e2e::Message {
            audio_message: Some(Box::<AudioMessage>::default()),
            ..Default::default()
        };
        assert_eq!(MessageContent::of(&audio).kind(), ContentKind::Audio);
        let _: Option<Box<VideoMessage>> = video.video_message;
    }

    #[test]
    fn reactions_protocol_and_wrappers() {
        let reaction = e2e::Message {
            reaction_message: Some(ReactionMessage {
                key: Some(MessageKey { id: Some("3EB0T".to_owned()), ..Default::default() }),
                text: Some("👍".to_owned()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let content = MessageContent::of(&reaction);
        assert_eq!(content.kind(), ContentKind::Reaction);
        assert_eq!(
            (content.emoji(), content.body(), content.reacted_to()),
            (Some("👍"), Some("👍"), Some("3EB0T"))
        );
        assert_eq!(content.quoted_id(), None);

        let protocol = e2e::Message {
            protocol_message: Some(Box::<ProtocolMessage>::default()),
            ..Default::default()
        };
        assert_eq!(MessageContent::of(&protocol).kind(), ContentKind::Protocol);
        assert_eq!(MessageContent::of(&e2e::Message::default()).kind(), ContentKind::Unsupported);

        let ephemeral = e2e::Message {
            ephemeral_message: Some(Box::new(FutureProofMessage {
                message: Some(Box::new(e2e::Message {
                    conversation: Some("inside".to_owned()),
                    ..Default::default()
                })),
            })),
            ..Default::default()
        };
        assert_eq!(MessageContent::of(&ephemeral).text(), Some("inside"));
    }

    #[test]
    fn locations_and_contact_cards_read_as_text() {
        use wa_proto::proto::e2e::message::{
            ContactMessage, ContactsArrayMessage, LocationMessage,
        };
        let place = e2e::Message {
            location_message: Some(Box::new(LocationMessage {
                degrees_latitude: Some(55.755_8),
                degrees_longitude: Some(37.617_3),
                name: Some("Red Square".to_owned()),
                context_info: replying_to("3EB0L"),
                ..Default::default()
            })),
            ..Default::default()
        };
        let content = MessageContent::of(&place);
        assert_eq!(content.kind(), ContentKind::Location);
        assert_eq!(content.location().unwrap().coordinates(), Some((55.755_8, 37.617_3)));
        assert_eq!(content.summary().as_deref(), Some("Red Square\n55.755800, 37.617300"));
        assert_eq!((content.body(), content.quoted_id()), (None, Some("3EB0L")));
        assert!(content.media().is_none() && content.contact_cards().is_empty());

        let card = |name: &str, tel: &str| ContactMessage {
            display_name: Some(name.to_owned()),
            vcard: Some(format!("BEGIN:VCARD\nFN:{name}\nTEL;waid=1:{tel}\nEND:VCARD")),
            context_info: None,
        };
        let one = e2e::Message {
            contact_message: Some(Box::new(card("Ana", "+55 11 9876"))),
            ..Default::default()
        };
        let content = MessageContent::of(&one);
        assert_eq!(content.kind(), ContentKind::Contact);
        assert_eq!(content.summary().as_deref(), Some("Ana\n+55 11 9876"));
        let many = e2e::Message {
            contacts_array_message: Some(Box::new(ContactsArrayMessage {
                display_name: Some("2 contacts".to_owned()),
                contacts: vec![card("Ana", "+1 555"), card("Bo", "+7 900")],
                context_info: None,
            })),
            ..Default::default()
        };
        let content = MessageContent::of(&many);
        assert_eq!(content.contact_cards().len(), 2);
        assert_eq!(content.summary().as_deref(), Some("Ana\n+1 555\n\nBo\n+7 900"));
        let too_many = e2e::Message {
            contacts_array_message: Some(Box::new(ContactsArrayMessage {
                contacts: vec![card("X", "1"); MAX_CONTACT_CARDS + 5],
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(MessageContent::of(&too_many).contact_cards().len(), MAX_CONTACT_CARDS);
        let empty = e2e::Message { location_message: Some(Box::default()), ..Default::default() };
        assert_eq!(MessageContent::of(&empty).summary(), None);
    }

    #[test]
    fn the_context_slot_is_the_contents_own() {
        let mut image = e2e::Message { image_message: Some(Box::default()), ..Default::default() };
        *context_info_mut(&mut image).unwrap() = replying_to("3EB0C");
        assert_eq!(MessageContent::of(&image).quoted_id(), Some("3EB0C"));
        let mut plain = e2e::Message { conversation: Some("x".to_owned()), ..Default::default() };
        assert!(context_info_mut(&mut plain).is_none());
    }
}

//! An incoming WhatsApp message turned into what tenancy records: kind, text, quoted id, and
//! its media downloaded into the tenant's media directory.

use std::path::Path;

use prost::Message as _;
use sha2::{Digest, Sha256};
use tenancy::{Inbound, LineId, Media, MessageKind, MessageNote};
use tracing::warn;
use wa_proto::{Server, proto::e2e};
use wa_session::{
    client::Client,
    message::{ContentKind, MessageContent, MessageInfo},
};

/// The parts of a message tenancy stores, before any media is fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Classified {
    pub(crate) kind: MessageKind,
    pub(crate) text: Option<String>,
    pub(crate) quoted_wa_id: Option<String>,
    pub(crate) mime: Option<String>,
    pub(crate) has_media: bool,
    /// The sender's file name (documents), kept with the file.
    pub(crate) file_name: Option<String>,
}

/// What a message carries, or `None` for messages with nothing to show (protocol messages,
/// key distribution only). Wrappers (ephemeral, view once, edit) are looked through.
pub(crate) fn classify(message: &e2e::Message) -> Option<Classified> {
    let content = MessageContent::of(message);
    let kind = match content.kind() {
        ContentKind::Text | ContentKind::ExtendedText => MessageKind::Text,
        ContentKind::Reaction => MessageKind::Reaction,
        ContentKind::Image => MessageKind::Image,
        ContentKind::Video => MessageKind::Video,
        ContentKind::Document => MessageKind::Document,
        ContentKind::Audio => MessageKind::Audio,
        ContentKind::VoiceNote => MessageKind::Voice,
        ContentKind::Sticker => MessageKind::Sticker,
        ContentKind::Location => MessageKind::Location,
        ContentKind::Contact => MessageKind::Contact,
        _ => return None,
    };
    // A reaction's "quote" is the message it is on.
    let quoted = match content.kind() {
        ContentKind::Reaction => content.reacted_to(),
        _ => content.quoted_id(),
    };
    let media = content.media();
    Some(Classified {
        kind,
        // A location or contact card has no text of its own: what a person reads is composed
        // from its fields (the fields themselves stay in the audit log's raw message).
        text: content.body().map(str::to_owned).or_else(|| content.summary()),
        quoted_wa_id: quoted.map(str::to_owned),
        mime: media.and_then(|m| m.mimetype).map(str::to_owned),
        has_media: media.is_some(),
        file_name: media.and_then(|m| m.file_name).map(str::to_owned),
    })
}

/// A file name safe on every file system: the message id's letters and digits only.
fn safe_name(wa_id: &str) -> String {
    let name: String = wa_id.chars().filter(char::is_ascii_alphanumeric).take(64).collect();
    if name.is_empty() { "message".to_owned() } else { name }
}

/// A sender's file name made safe to store and to offer for download: no path separators,
/// control or bidirectional formatting characters, no surrounding spaces or trailing dots, at
/// most 128 characters with the extension kept; `None` when nothing usable is left.
pub(crate) fn safe_file_name(name: &str) -> Option<String> {
    const MAX: usize = 128;
    let bidi = |c: char| {
        matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
    };
    let cleaned: String =
        name.chars().filter(|&c| !c.is_control() && !bidi(c) && c != '/' && c != '\\').collect();
    let cleaned = cleaned.trim().trim_end_matches('.').trim_end();
    if cleaned.is_empty() || cleaned == "." || cleaned.chars().all(|c| c == '.') {
        return None;
    }
    if cleaned.chars().count() <= MAX {
        return Some(cleaned.to_owned());
    }
    let (stem, ext) = match cleaned.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.chars().count() <= 16 => (stem, Some(ext)),
        _ => (cleaned, None),
    };
    let room = MAX - ext.map_or(0, |e| e.chars().count() + 1);
    let stem: String = stem.chars().take(room).collect();
    Some(match ext {
        Some(ext) => format!("{}.{ext}", stem.trim_end()),
        None => stem,
    })
}

/// Downloads the message's media (bounded by the client's `max_media_download`) into
/// `media_dir/in/<line>/<id>`, or `in/<line>/<id>/<file name>` when the sender named the file
/// (the download is offered under that name), and describes it; `None` if the download fails (expired media, a
/// host error): the message is still recorded, without its file.
async fn download(
    client: &Client,
    message: &e2e::Message,
    media_dir: &Path,
    line_id: LineId,
    wa_id: &str,
    mime: Option<String>,
    file_name: Option<&str>,
) -> Option<Media> {
    let bytes = match client.download_to_vec(message).await {
        Ok(bytes) => bytes,
        Err(error) => {
            warn!(line_id, %error, "media download failed; recording the message without it");
            return None;
        }
    };
    let relative = match file_name.and_then(safe_file_name) {
        Some(name) => format!("in/{line_id}/{}/{name}", safe_name(wa_id)),
        None => format!("in/{line_id}/{}", safe_name(wa_id)),
    };
    let path = media_dir.join(&relative);
    let write = async {
        if let Some(parent) = path.parent() {
            super::create_private_dir(parent).await?;
        }
        super::write_private_file(&path, &bytes).await
    };
    if let Err(error) = write.await {
        warn!(line_id, %error, "media file not written; recording the message without it");
        return None;
    }
    Some(Media {
        path: relative,
        mime: mime.unwrap_or_else(|| "application/octet-stream".to_owned()),
        size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
        sha256: Sha256::digest(&bytes).into(),
    })
}

/// The largest message protobuf kept whole (hex) in the audit log; a larger one is kept as its
/// length and SHA-256 (the stored message holds what could be kept of its text).
const MAX_RAW_MESSAGE: usize = 1024 * 1024;

/// The raw event kept in the audit log: envelope fields and the message's protobuf (hex).
pub(crate) fn raw_event(info: &MessageInfo, message: &e2e::Message) -> Vec<u8> {
    let encoded = message.encode_to_vec();
    let body = if encoded.len() <= MAX_RAW_MESSAGE {
        serde_json::json!(hex::encode(&encoded))
    } else {
        serde_json::json!({
            "omitted_bytes": encoded.len(),
            "sha256": hex::encode(Sha256::digest(&encoded)),
        })
    };
    serde_json::json!({
        "event": "message",
        "id": info.id,
        "chat": info.chat.to_string(),
        "sender": info.sender.to_string(),
        "sender_alt": info.sender_alt.as_ref().map(ToString::to_string),
        "timestamp": info.timestamp,
        "push_name": info.push_name,
        "type": info.kind,
        "message": body,
    })
    .to_string()
    .into_bytes()
}

/// Builds the record of an incoming message, downloading its media first.
pub(crate) async fn inbound(
    client: &Client,
    line_id: LineId,
    media_dir: &Path,
    info: &MessageInfo,
    message: &e2e::Message,
    classified: Classified,
) -> Inbound {
    let chat = info.chat.to_non_device();
    let phone = match (&chat.server, &info.sender_alt) {
        (Server::User, _) => Some(chat.user.clone()),
        (_, Some(alt)) if alt.server == Server::User => Some(alt.user.clone()),
        _ => None,
    };
    let media = if classified.has_media {
        let name = classified.file_name.as_deref();
        download(client, message, media_dir, line_id, &info.id, classified.mime.clone(), name).await
    } else {
        None
    };
    let note = (classified.has_media && media.is_none()).then_some(MessageNote::MediaUnavailable);
    Inbound {
        line_id,
        jid: chat.to_string(),
        phone,
        push_name: info.push_name.clone(),
        wa_id: info.id.clone(),
        kind: classified.kind,
        text: classified.text,
        media,
        quoted_wa_id: classified.quoted_wa_id,
        raw: raw_event(info, message),
        note,
    }
}

/// A value that fits a bounded column: itself, or a digest that still tells values apart.
fn bounded(value: &str, max: usize) -> String {
    if value.len() <= max {
        value.to_owned()
    } else {
        format!("sha256:{}", hex::encode(Sha256::digest(value.as_bytes())))
    }
}

/// What stands for a message tenancy refused to store as it came: same customer and id, no
/// content, marked unreadable; the raw event and the reason go to the audit log, so the
/// customer's message is acked (not redelivered for ever) and nothing is lost silently.
pub(crate) fn placeholder(record: &Inbound, reason: &tenancy::Error) -> Inbound {
    let raw = serde_json::json!({
        "event": "message_not_stored_as_received",
        "reason": reason.to_string(),
        "raw": String::from_utf8_lossy(&record.raw),
    });
    Inbound {
        line_id: record.line_id,
        jid: bounded(&record.jid, 128),
        phone: record.phone.clone().filter(|p| p.len() <= 32),
        push_name: None,
        wa_id: bounded(&record.wa_id, 128),
        kind: MessageKind::Text,
        text: None,
        media: None,
        quoted_wa_id: None,
        raw: raw.to_string().into_bytes(),
        note: Some(MessageNote::Unreadable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_kinds() {
        let text = e2e::Message { conversation: Some("hi".into()), ..Default::default() };
        assert_eq!(classify(&text).unwrap().kind, MessageKind::Text);
        let voice = e2e::Message {
            audio_message: Some(Box::new(e2e::message::AudioMessage {
                ptt: Some(true),
                ..Default::default()
            })),
            ..Default::default()
        };
        let c = classify(&voice).unwrap();
        assert_eq!((c.kind, c.has_media), (MessageKind::Voice, true));
        assert_eq!(classify(&e2e::Message::default()), None);
        let place = e2e::Message {
            location_message: Some(Box::new(e2e::message::LocationMessage {
                degrees_latitude: Some(-23.5),
                degrees_longitude: Some(-46.6),
                address: Some("Av. Paulista".into()),
                ..Default::default()
            })),
            ..Default::default()
        };
        let c = classify(&place).unwrap();
        assert_eq!((c.kind, c.has_media), (MessageKind::Location, false));
        assert_eq!(c.text.as_deref(), Some("Av. Paulista\n-23.500000, -46.600000"));
        let card = e2e::Message {
            contact_message: Some(Box::new(e2e::message::ContactMessage {
                display_name: Some("Ana".into()),
                vcard: Some("BEGIN:VCARD\nTEL;waid=551:+55 1\nEND:VCARD".into()),
                context_info: None,
            })),
            ..Default::default()
        };
        let c = classify(&card).unwrap();
        assert_eq!((c.kind, c.text.as_deref()), (MessageKind::Contact, Some("Ana\n+55 1")));
        assert_eq!(safe_name("3EB0/../x"), "3EB0x");
        assert_eq!(safe_name("../"), "message");
    }

    #[test]
    fn a_placeholder_fits_the_store_and_keeps_the_raw_event() {
        let record = Inbound {
            line_id: 4,
            jid: format!("{}@s.whatsapp.net", "1".repeat(300)),
            phone: Some("2".repeat(40)),
            push_name: Some("Ana".into()),
            wa_id: "W".repeat(200),
            kind: MessageKind::Image,
            text: Some("caption".into()),
            media: None,
            quoted_wa_id: Some("Q".into()),
            raw: b"{\"id\":\"W\"}".to_vec(),
            note: None,
        };
        let p = placeholder(&record, &tenancy::Error::InvalidInput("jid longer than 128 bytes"));
        assert!(p.jid.len() <= 128 && p.wa_id.len() <= 128);
        assert_ne!(
            p.wa_id,
            placeholder(
                &Inbound { wa_id: "X".repeat(200), ..record.clone() },
                &tenancy::Error::InvalidInput("x")
            )
            .wa_id
        );
        assert_eq!(
            (p.kind, p.text, p.phone, p.note),
            (MessageKind::Text, None, None, Some(MessageNote::Unreadable))
        );
        let raw: serde_json::Value = serde_json::from_slice(&p.raw).unwrap();
        assert_eq!(raw["reason"], "invalid input: jid longer than 128 bytes");
        assert_eq!(raw["raw"], "{\"id\":\"W\"}");
        let short = placeholder(
            &Inbound { jid: "1@s.whatsapp.net".into(), ..record },
            &tenancy::Error::InvalidInput("x"),
        );
        assert_eq!(short.jid, "1@s.whatsapp.net");
    }

    #[test]
    fn file_names_keep_their_extension_and_lose_what_is_unsafe() {
        assert_eq!(safe_file_name("Счёт №5 (final).pdf").as_deref(), Some("Счёт №5 (final).pdf"));
        assert_eq!(safe_file_name("../../etc/passwd").as_deref(), Some("....etcpasswd"));
        assert_eq!(safe_file_name("a\\b\0c\n.txt").as_deref(), Some("abc.txt"));
        // The right-to-left override that makes "exe.pdf" read as "fdp.exe" is gone.
        assert_eq!(safe_file_name("invoice\u{202E}fdp.exe").as_deref(), Some("invoicefdp.exe"));
        assert_eq!(safe_file_name("  report.docx  ").as_deref(), Some("report.docx"));
        for empty in ["", "..", ".", " / ", "\u{202E}"] {
            assert_eq!(safe_file_name(empty), None, "{empty:?}");
        }
        let long = format!("{}.xlsx", "я".repeat(300));
        let kept = safe_file_name(&long).unwrap();
        assert_eq!(kept.chars().count(), 128);
        assert!(kept.ends_with("яя.xlsx"));
    }
}

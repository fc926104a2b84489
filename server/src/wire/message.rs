//! A message as the API and the events show it.

use serde::{Deserialize, Serialize};
use tenancy::{Message, MessageStatus};

/// Attachment metadata (the file's storage path is not exposed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaOut {
    /// MIME type.
    pub mime: String,
    /// Size in bytes.
    pub size: i64,
    /// SHA-256, hex.
    pub sha256: String,
    /// The file's name, when it has one (documents, uploads).
    pub file_name: Option<String>,
    /// Where to download it: `/api/messages/{id}/media`.
    pub url: String,
}

/// The file name kept in a stored media path: `out/<sha256>/<name>` and `in/<line>/<id>/<name>`
/// carry one, `in/<line>/<id>` does not.
pub fn media_file_name(path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["out", _, name] | ["in", _, _, name] if !name.is_empty() => Some((*name).to_owned()),
        _ => None,
    }
}

/// A message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageOut {
    /// Id (the history cursor).
    pub id: i64,
    /// Conversation.
    pub conversation_id: i64,
    /// Line.
    pub line_id: i64,
    /// `in` or `out`.
    pub direction: String,
    /// `text`, `image`, `video`, `document`, `audio`, `voice`, `sticker`, `reaction`, or
    /// `system` (a notice written by the server; its `note` says what happened).
    pub kind: String,
    /// Text or caption.
    pub text: Option<String>,
    /// Attachment.
    pub media: Option<MediaOut>,
    /// The quoted message.
    pub quoted_id: Option<i64>,
    /// `pending`, `sent`, `delivered` or `read`.
    pub status: String,
    /// Sent (Unix ms).
    pub sent_at: Option<i64>,
    /// Delivered (Unix ms).
    pub delivered_at: Option<i64>,
    /// Read (Unix ms).
    pub read_at: Option<i64>,
    /// The customer's JID, `user:<id>` / `admin:<id>` (a reply from the panel), or
    /// `operator:<id>` (a Bitrix24 operator's, from an Open Line).
    pub sender: String,
    /// When (Unix ms).
    pub at: i64,
    /// Why the message differs from what arrived, `null` when it does not: `truncated` (text
    /// over 256 KiB, the start kept), `media_unavailable` (the attachment could not be fetched),
    /// `unreadable` (a placeholder for a message that could not be stored), `identity_changed`
    /// (a `system` notice: the customer's security code changed), `edited` / `revoked` (ours,
    /// edited or deleted for everyone afterwards by a Bitrix24 operator).
    pub note: Option<String>,
}

/// The API name of a message status.
pub fn status_name(s: MessageStatus) -> &'static str {
    match s {
        MessageStatus::Pending => "pending",
        MessageStatus::Sent => "sent",
        MessageStatus::Delivered => "delivered",
        MessageStatus::Read => "read",
        _ => "unknown",
    }
}

/// The status an API name stands for (the inverse of [`status_name`]); `None` for a name it
/// does not know.
pub fn status_from_name(name: &str) -> Option<MessageStatus> {
    match name {
        "pending" => Some(MessageStatus::Pending),
        "sent" => Some(MessageStatus::Sent),
        "delivered" => Some(MessageStatus::Delivered),
        "read" => Some(MessageStatus::Read),
        _ => None,
    }
}

impl From<Message> for MessageOut {
    fn from(m: Message) -> Self {
        MessageOut {
            id: m.id,
            conversation_id: m.conversation_id,
            line_id: m.line_id,
            direction: m.direction.as_str().to_owned(),
            kind: m.kind.as_str().to_owned(),
            text: m.text,
            media: m.media.map(|md| MediaOut {
                file_name: media_file_name(&md.path),
                url: format!("/api/messages/{}/media", m.id),
                mime: md.mime,
                size: md.size,
                sha256: hex::encode(md.sha256),
            }),
            quoted_id: m.quoted_id,
            status: status_name(m.status).to_owned(),
            sent_at: m.sent_at,
            delivered_at: m.delivered_at,
            read_at: m.read_at,
            sender: m.sender,
            at: m.at,
            note: m.note.map(|n| n.as_str().to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_go_both_ways() {
        for s in [
            MessageStatus::Pending,
            MessageStatus::Sent,
            MessageStatus::Delivered,
            MessageStatus::Read,
        ] {
            assert_eq!(status_from_name(status_name(s)), Some(s));
        }
        assert_eq!(status_from_name("unknown"), None);
    }
}

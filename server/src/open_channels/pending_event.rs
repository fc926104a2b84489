//! A connector event waiting for the portal's confirmation: what the outbox item
//! (`confirm_event`) keeps of it. The event's text is kept as a digest and the operator's
//! signature (the text sent is the portal's); the files by name, link and type.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::format;

/// The most files of one message that are kept (and sent).
pub const MAX_FILES: usize = 10;

/// The longest file link or name kept; a longer one is not the portal's.
const MAX_FIELD: usize = 2048;

/// What an event asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `ONIMCONNECTORMESSAGEADD`: send an operator's message.
    Add,
    /// `ONIMCONNECTORMESSAGEUPDATE`: edit it.
    Update,
    /// `ONIMCONNECTORMESSAGEDELETE`: revoke it.
    Delete,
    /// `ONIMCONNECTORSTATUSDELETE`: the connector was switched off on the Open Line.
    StatusDelete,
    /// `ONIMCONNECTORLINEDELETE`: the Open Line was deleted.
    LineDelete,
}

impl Action {
    /// The event's name.
    pub const fn event(self) -> &'static str {
        match self {
            Action::Add => "ONIMCONNECTORMESSAGEADD",
            Action::Update => "ONIMCONNECTORMESSAGEUPDATE",
            Action::Delete => "ONIMCONNECTORMESSAGEDELETE",
            Action::StatusDelete => "ONIMCONNECTORSTATUSDELETE",
            Action::LineDelete => "ONIMCONNECTORLINEDELETE",
        }
    }
}

/// A file of an operator's message, as the event named it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventFile {
    /// File name.
    pub name: String,
    /// Download link (on the portal).
    pub link: String,
    /// `image`, `file`, `video` or `audio`.
    pub kind: String,
}

/// One message of a message event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMessage {
    /// Bitrix24's chat id (`im.chat_id`).
    pub chat_id: u64,
    /// Bitrix24's message id (`im.message_id`).
    pub message_id: u64,
    /// Our external chat id (`chat.id`).
    pub chat: String,
    /// The operator the event names (`message.user_id`, else the event's `auth.user_id`).
    pub operator: Option<u64>,
    /// The signature's name in front of the event's text, if it had one.
    pub signature: Option<String>,
    /// SHA-256 (hex) of the event's text without the signature, trimmed.
    pub body_sha256: String,
    /// The files the event named.
    pub files: Vec<EventFile>,
}

/// The payload of a `confirm_event` outbox item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingEvent {
    /// What the event asks for.
    pub action: Action,
    /// The Open Line it concerns.
    pub open_line_id: u64,
    /// The message, for a message event.
    pub message: Option<EventMessage>,
}

/// SHA-256 (hex) of a text's body: without the operator's signature, trimmed. The event's text
/// and the portal's are compared this way (the portal may show it unsigned).
pub fn body_digest(bbcode: &str) -> String {
    let body = format::split_signature(bbcode).body.trim();
    hex::encode(Sha256::digest(body.as_bytes()))
}

/// The signature's name in front of a text, if any.
pub fn signature_of(bbcode: &str) -> Option<String> {
    format::split_signature(bbcode).operator.map(str::to_owned)
}

/// The event's files, or `None` when one of them is not worth keeping (too long a name or
/// link: not what the portal sends). At most [`MAX_FILES`].
pub fn files_of(files: &[b24_client::inbound::ConnectorFile]) -> Option<Vec<EventFile>> {
    files
        .iter()
        .take(MAX_FILES)
        .map(|f| {
            (f.name.len() <= MAX_FIELD && f.link.len() <= MAX_FIELD && f.kind.len() <= 64).then(
                || EventFile { name: f.name.clone(), link: f.link.clone(), kind: f.kind.clone() },
            )
        })
        .collect()
}

/// The idempotency key of a pending event on `line_id`: a digest of the payload and the time it
/// came, so that copies Bitrix24 delivers at once are one item, and the same change asked again
/// later is looked at again (acting on it is once per change either way).
pub fn key(line_id: i64, payload: &str, at_ms: i64) -> String {
    let digest = Sha256::digest(format!("{at_ms}:{payload}").as_bytes());
    format!("confirm:{line_id}:{}", hex::encode(&digest[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_digest_ignores_the_signature_and_the_ends() {
        assert_eq!(body_digest("[b]Anna:[/b] [br]Hello "), body_digest("Hello"));
        assert_ne!(body_digest("Hello"), body_digest("Hallo"));
        assert_eq!(signature_of("[b]Anna:[/b] [br]Hello").as_deref(), Some("Anna"));
        assert_eq!(signature_of("Hello"), None);
    }

    #[test]
    fn keys_are_short_and_differ_by_payload_and_time() {
        let k = key(3, "{}", 1);
        assert!(k.starts_with("confirm:3:") && k.len() <= 128, "{k}");
        assert_eq!(k, key(3, "{}", 1));
        assert_ne!(k, key(3, "{}", 2));
        assert_ne!(k, key(3, "{\"a\":1}", 1));
    }

    #[test]
    fn the_payload_round_trips() {
        let p = PendingEvent { action: Action::StatusDelete, open_line_id: 7, message: None };
        let text = serde_json::to_string(&p).unwrap();
        assert_eq!(text, r#"{"action":"status_delete","open_line_id":7,"message":null}"#);
        assert_eq!(serde_json::from_str::<PendingEvent>(&text).unwrap(), p);
    }
}

//! Edits and revokes of a message we sent: a `protocolMessage` that names the message by its
//! key, and the `edit` attribute of the `<message>` stanza that tells the server and the
//! recipients what it is.
//!
//! Wire facts (whatsmeow `send.go` `BuildRevoke`/`BuildEdit` and `getEditAttribute`, Baileys'
//! `messages-send`): a revoke is `protocolMessage{key{remoteJid, fromMe, id}, type: REVOKE (0)}`
//! sent with `edit="7"` (sender revoke); an edit is
//! `editedMessage{message{protocolMessage{key, type: MESSAGE_EDIT (14), editedMessage,
//! timestampMs}}}` sent with `edit="1"`, and its `<enc>` carries `decrypt-fail="hide"` so that
//! a device that cannot decrypt it shows nothing rather than an error.

use wa_proto::{
    Jid,
    proto::{
        common::MessageKey,
        e2e::{
            self,
            message::{FutureProofMessage, ProtocolMessage, protocol_message::Type},
        },
    },
};

/// The `edit` attribute of a message editing one of ours (`1`).
pub const EDIT_ATTRIBUTE_EDIT: &str = "1";
/// The `edit` attribute of a message revoking one of ours, "deleted for everyone" (`7`).
pub const EDIT_ATTRIBUTE_SENDER_REVOKE: &str = "7";

fn own_key(chat: &Jid, id: &str) -> MessageKey {
    MessageKey {
        remote_jid: Some(chat.to_non_device().to_string()),
        from_me: Some(true),
        id: Some(id.to_owned()),
        participant: None,
    }
}

/// The message that revokes ("deletes for everyone") our message `id` in the 1:1 `chat`.
#[must_use]
pub fn revoke(chat: &Jid, id: &str) -> e2e::Message {
    e2e::Message {
        protocol_message: Some(Box::new(ProtocolMessage {
            key: Some(own_key(chat, id)),
            r#type: Some(Type::Revoke as i32),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// The message that replaces the content of our message `id` in the 1:1 `chat` with
/// `content` (a text: `conversation` or `extendedTextMessage`; a media message's caption).
/// `timestamp_ms` is the time of the edit.
#[must_use]
pub fn edit(chat: &Jid, id: &str, content: e2e::Message, timestamp_ms: i64) -> e2e::Message {
    let protocol = e2e::Message {
        protocol_message: Some(Box::new(ProtocolMessage {
            key: Some(own_key(chat, id)),
            r#type: Some(Type::MessageEdit as i32),
            edited_message: Some(Box::new(content)),
            timestamp_ms: Some(timestamp_ms),
            ..Default::default()
        })),
        ..Default::default()
    };
    e2e::Message {
        edited_message: Some(Box::new(FutureProofMessage { message: Some(Box::new(protocol)) })),
        ..Default::default()
    }
}

/// The protocol message inside `message`, under an `editedMessage` wrapper or not.
fn protocol_message(message: &e2e::Message) -> Option<&ProtocolMessage> {
    message.protocol_message.as_deref().or_else(|| {
        message
            .edited_message
            .as_ref()
            .and_then(|w| w.message.as_deref())
            .and_then(|m| m.protocol_message.as_deref())
    })
}

/// The `edit` attribute `message` is sent with: [`EDIT_ATTRIBUTE_EDIT`] for an edit,
/// [`EDIT_ATTRIBUTE_SENDER_REVOKE`] for a revoke of our own message, `None` for anything else
/// (an admin revoke, `8`, is a group matter and not built here).
#[must_use]
pub fn edit_attribute(message: &e2e::Message) -> Option<&'static str> {
    let protocol = protocol_message(message)?;
    protocol.key.as_ref()?;
    match protocol.r#type.and_then(|t| Type::try_from(t).ok()) {
        Some(Type::Revoke) if protocol.key.as_ref().and_then(|k| k.from_me) == Some(true) => {
            Some(EDIT_ATTRIBUTE_SENDER_REVOKE)
        }
        Some(Type::MessageEdit) if protocol.edited_message.is_some() => Some(EDIT_ATTRIBUTE_EDIT),
        _ => None,
    }
}

/// What an edit or a revoke changes, read from a received message.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Amendment<'a> {
    /// The sender revoked their message `target`.
    Revoke {
        /// The id of the message revoked.
        target: &'a str,
    },
    /// The sender replaced the content of their message `target` with `content`.
    Edit {
        /// The id of the message edited.
        target: &'a str,
        /// The new content.
        content: &'a e2e::Message,
    },
}

/// The edit or revoke `message` carries, if it is one (a sender's own: an admin revoke in a
/// group is not read here).
#[must_use]
pub fn amendment(message: &e2e::Message) -> Option<Amendment<'_>> {
    edit_attribute(message)?;
    let protocol = protocol_message(message)?;
    let target = protocol.key.as_ref()?.id.as_deref()?;
    match (protocol.r#type.and_then(|t| Type::try_from(t).ok())?, &protocol.edited_message) {
        (Type::Revoke, _) => Some(Amendment::Revoke { target }),
        (Type::MessageEdit, Some(content)) => Some(Amendment::Edit { target, content }),
        _ => None,
    }
}

/// Whether `message` is an edit, whose `<enc>` says `decrypt-fail="hide"`.
#[must_use]
pub fn is_edit(message: &e2e::Message) -> bool {
    edit_attribute(message) == Some(EDIT_ATTRIBUTE_EDIT)
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    fn chat() -> Jid {
        "5511999:2@s.whatsapp.net".parse().unwrap()
    }

    #[test]
    fn a_revoke_names_our_message_in_the_chat() {
        let m = revoke(&chat(), "3EB0AA");
        let p = m.protocol_message.as_deref().unwrap();
        assert_eq!(p.r#type, Some(0));
        let key = p.key.as_ref().unwrap();
        assert_eq!(key.remote_jid.as_deref(), Some("5511999@s.whatsapp.net"));
        assert_eq!((key.from_me, key.id.as_deref()), (Some(true), Some("3EB0AA")));
        assert_eq!(edit_attribute(&m), Some("7"));
        assert!(!is_edit(&m));
        assert_eq!(amendment(&m), Some(Amendment::Revoke { target: "3EB0AA" }));
        // Field 12 (protocolMessage), inside it field 2 (type) = 0: the wire form.
        let bytes = m.encode_to_vec();
        assert_eq!(bytes[0], 12 << 3 | 2);
        assert_eq!(e2e::Message::decode(bytes.as_slice()).unwrap(), m);
    }

    #[test]
    fn an_edit_is_wrapped_and_carries_the_new_content() {
        let text = e2e::Message { conversation: Some("fixed".into()), ..Default::default() };
        let m = edit(&chat(), "3EB0BB", text.clone(), 1_700_000_000_000);
        assert!(m.protocol_message.is_none());
        let inner = m.edited_message.as_ref().unwrap().message.as_deref().unwrap();
        let p = inner.protocol_message.as_deref().unwrap();
        assert_eq!(p.r#type, Some(14));
        assert_eq!(p.edited_message.as_deref(), Some(&text));
        assert_eq!(p.timestamp_ms, Some(1_700_000_000_000));
        assert_eq!(p.key.as_ref().unwrap().id.as_deref(), Some("3EB0BB"));
        assert_eq!(edit_attribute(&m), Some("1"));
        assert!(is_edit(&m));
        assert_eq!(amendment(&m), Some(Amendment::Edit { target: "3EB0BB", content: &text }));
        // Field 58 (editedMessage) on the wire.
        let bytes = m.encode_to_vec();
        assert_eq!(&bytes[..2], &[0xD2, 0x03]);
    }

    #[test]
    fn other_messages_have_no_edit_attribute() {
        let text = e2e::Message { conversation: Some("hi".into()), ..Default::default() };
        assert_eq!(edit_attribute(&text), None);
        let mut not_ours = revoke(&chat(), "X");
        if let Some(p) = not_ours.protocol_message.as_mut() {
            p.key.as_mut().unwrap().from_me = Some(false);
        }
        assert_eq!(edit_attribute(&not_ours), None);
        let keyless = e2e::Message {
            protocol_message: Some(Box::new(ProtocolMessage {
                r#type: Some(0),
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(edit_attribute(&keyless), None);
        assert_eq!(amendment(&keyless), None);
        assert_eq!(amendment(&not_ours), None);
        assert_eq!(amendment(&text), None);
    }
}

//! A stored WhatsApp message as one element of `imconnector.send.messages` `MESSAGES`
//! (REST docs `api-reference/imopenlines/imconnector/imconnector-send-messages.md`):
//! `user` (the customer: id, name, phone), `message` (id, date, text, files), `chat`.

use serde_json::{Value, json};
use tenancy::{Conversation, Direction, Line, Message, MessageKind};

use super::format::whatsapp_to_bbcode;
use crate::wire::media_file_name;

/// The longest `name` Bitrix24 takes (send.messages: letters, spaces, hyphens and apostrophes,
/// at most 25 characters).
const MAX_NAME: usize = 25;

/// Shown when a message carries neither text nor a file Bitrix24 can fetch (send.messages
/// needs one or the other); both languages, as the portal's is not known here.
const NO_CONTENT: &str = "(файл недоступен / file unavailable)";

/// A WhatsApp push name as Bitrix24 accepts it: letters (any script), spaces, hyphens and
/// apostrophes only, runs of spaces folded, at most 25 characters; `None` when nothing is left
/// (a name of emoji or digits only).
pub fn customer_name(push_name: &str) -> Option<String> {
    let mut out = String::new();
    for c in push_name.chars() {
        let c = if c.is_whitespace() { ' ' } else { c };
        let keep = c.is_alphabetic() || c == ' ' || c == '-' || c == '\'' || c == '’';
        if !keep || (c == ' ' && (out.is_empty() || out.ends_with(' '))) {
            continue;
        }
        out.push(if c == '’' { '\'' } else { c });
    }
    let cut: String = out.trim().chars().take(MAX_NAME).collect();
    let cut = cut.trim_end().to_owned();
    (!cut.is_empty()).then_some(cut)
}

/// The customer's number: the contact's phone, else the JID's user part (digits only).
pub fn customer_number(conversation: &Conversation) -> String {
    let source = conversation.contact.phone.clone().unwrap_or_else(|| {
        conversation.contact.jid.split(['@', ':']).next().unwrap_or("").to_owned()
    });
    source.chars().filter(char::is_ascii_digit).collect()
}

/// A file's name for Bitrix24: the sender's, else one made from the kind and the type (Bitrix24
/// shows images inline by extension).
pub fn file_name(message: &Message) -> String {
    if let Some(name) = message.media.as_ref().and_then(|m| media_file_name(&m.path)) {
        return name;
    }
    let mime = message.media.as_ref().map(|m| m.mime.as_str()).unwrap_or("");
    let ext = match mime.split(';').next().unwrap_or("").trim() {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "video/mp4" => "mp4",
        "video/3gpp" => "3gp",
        "audio/ogg" => "ogg",
        "audio/mpeg" => "mp3",
        "audio/mp4" | "audio/aac" => "m4a",
        "application/pdf" => "pdf",
        _ => "bin",
    };
    let stem = match message.kind {
        MessageKind::Image => "image",
        MessageKind::Video => "video",
        MessageKind::Voice => "voice",
        MessageKind::Audio => "audio",
        MessageKind::Sticker => "sticker",
        _ => "file",
    };
    format!("{stem}-{}.{ext}", message.id)
}

/// The text of a quoted message as Bitrix24 quote lines (`>>`, REST docs
/// `api-reference/chats/messages/formatting.md`), followed by the message's own text.
fn with_quote(quoted: Option<&Message>, text: Option<String>) -> Option<String> {
    let Some(quoted) = quoted else { return text };
    let quoted_text = quoted.text.clone().unwrap_or_else(|| match quoted.media {
        Some(_) => file_name(quoted),
        None => String::new(),
    });
    let lines: Vec<String> =
        whatsapp_to_bbcode(&quoted_text).lines().take(5).map(|l| format!(">>{l}")).collect();
    if lines.is_empty() {
        return text;
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out.push_str(text.as_deref().unwrap_or(""));
    Some(out)
}

/// What goes with a message: the conversation it is in, the message it quotes, and the URL
/// Bitrix24 fetches its file from.
pub struct Context<'a> {
    /// The line.
    pub line: &'a Line,
    /// The conversation (its contact is the customer).
    pub conversation: &'a Conversation,
    /// The quoted message, when there is one.
    pub quoted: Option<&'a Message>,
    /// A link to the message's file that Bitrix24 can download.
    pub file_url: Option<String>,
}

/// The Bitrix24 user who wrote an outbound message from our panel (`user:<id>`, `admin:<id>`).
fn author(sender: &str) -> Option<i64> {
    let (_, id) = sender.split_once(':').filter(|(who, _)| *who == "user" || *who == "admin")?;
    id.parse().ok()
}

/// One `MESSAGES` element for `message`. Our own messages go on behalf of a Bitrix24 user
/// (`message.user_id`): the one who wrote it in our panel, or, for what the business phone sent
/// itself, the line's assigned user.
pub fn element(message: &Message, cx: &Context<'_>) -> Value {
    let number = customer_number(cx.conversation);
    let name = cx.conversation.contact.push_name.as_deref().and_then(customer_name);
    let mut user = json!({ "id": number, "phone": format!("+{number}") });
    if let Some(name) = &name {
        user["name"] = json!(name);
    }
    let text = message.text.as_deref().map(whatsapp_to_bbcode).filter(|t| !t.is_empty());
    let text = with_quote(cx.quoted, text);
    let mut body = json!({
        "id": message.wa_id.clone().unwrap_or_else(|| format!("wab24-{}", message.id)),
        "date": message.at / 1000,
    });
    let files: Vec<Value> = match (&message.media, &cx.file_url) {
        (Some(_), Some(url)) => vec![json!({ "url": url, "name": file_name(message) })],
        _ => vec![],
    };
    match (text, files.is_empty()) {
        (Some(text), _) => body["text"] = json!(text),
        (None, true) => body["text"] = json!(NO_CONTENT),
        (None, false) => {}
    }
    if !files.is_empty() {
        body["files"] = json!(files);
    }
    if message.direction == Direction::Outbound
        && let Some(user_id) = author(&message.sender).or(cx.line.assigned_user)
    {
        body["user_id"] = json!(user_id);
    }
    let chat_name = name.unwrap_or_else(|| format!("+{number}"));
    json!({ "user": user, "message": body, "chat": { "id": number, "name": chat_name } })
}

#[cfg(test)]
mod tests {
    use super::*;

    use tenancy::{Contact, LineStatus, Media, MessageStatus, OpenChannel, OpenChannelStatus};

    fn line() -> Line {
        Line {
            id: 3,
            name: "Sales".to_owned(),
            phone: Some("79990000123".to_owned()),
            status: LineStatus::Connected,
            assigned_user: Some(7),
            created_at: 0,
            send_read_receipts: true,
            open_channel: OpenChannel::Both,
            open_line_id: Some(12),
            open_channel_status: OpenChannelStatus::Active,
        }
    }

    fn conversation() -> Conversation {
        Conversation {
            id: 5,
            line_id: 3,
            contact: Contact {
                id: 1,
                line_id: 3,
                jid: "5511987654321@s.whatsapp.net".to_owned(),
                phone: None,
                push_name: Some("Ana 🌸".to_owned()),
            },
            unread: 0,
            last_message_id: None,
            last_message_at: None,
        }
    }

    fn message(id: i64, kind: MessageKind, text: Option<&str>, media: Option<Media>) -> Message {
        Message {
            id,
            conversation_id: 5,
            line_id: 3,
            wa_id: Some(format!("WA{id}")),
            direction: Direction::Inbound,
            kind,
            text: text.map(str::to_owned),
            media,
            quoted_id: None,
            status: MessageStatus::Delivered,
            sent_at: None,
            delivered_at: None,
            read_at: None,
            sender: "5511987654321@s.whatsapp.net".to_owned(),
            at: 1_700_000_000_123,
            note: None,
        }
    }

    // REST docs imconnector-send-messages.md: user{id, name, phone}, message{id, date, text,
    // files[{url, name}], user_id}, chat{id, name}. A wire format: pinned.
    #[test]
    fn elements_are_what_send_messages_documents() {
        let line = line();
        let conversation = conversation();
        let quoted = message(1, MessageKind::Text, Some("*Price?*"), None);
        let photo = Media {
            path: "in/3/WA2".to_owned(),
            mime: "image/jpeg".to_owned(),
            size: 3,
            sha256: [0; 32],
        };
        let mut reply = message(2, MessageKind::Image, Some("this one"), Some(photo));
        reply.quoted_id = Some(1);
        let cx = Context {
            line: &line,
            conversation: &conversation,
            quoted: Some(&quoted),
            file_url: Some("https://wab24.example/media/signed/t0k3n".to_owned()),
        };
        insta::assert_snapshot!(element(&reply, &cx).to_string(), @r#"{"user":{"id":"5511987654321","phone":"+5511987654321","name":"Ana"},"message":{"id":"WA2","date":1700000000,"text":">>[b]Price?[/b]\nthis one","files":[{"url":"https://wab24.example/media/signed/t0k3n","name":"image-2.jpg"}]},"chat":{"id":"5511987654321","name":"Ana"}}"#);
        // Ours: on behalf of whoever wrote it in the panel, else the line's assigned user.
        let mut ours = message(3, MessageKind::Text, Some("ok"), None);
        ours.direction = Direction::Outbound;
        ours.sender = "user:9".to_owned();
        let cx = Context { line: &line, conversation: &conversation, quoted: None, file_url: None };
        assert_eq!(element(&ours, &cx)["message"]["user_id"], 9);
        ours.sender = "phone".to_owned();
        assert_eq!(element(&ours, &cx)["message"]["user_id"], 7);
        // Neither text nor a file: a notice, as Bitrix24 needs one or the other.
        let bare = message(4, MessageKind::Video, None, None);
        assert_eq!(element(&bare, &cx)["message"]["text"], NO_CONTENT);
    }

    #[test]
    fn push_names_become_names_bitrix24_accepts() {
        // send.messages: letters, spaces, hyphens, apostrophes; at most 25 characters.
        assert_eq!(customer_name("Ana 🌸 Lúcia").as_deref(), Some("Ana Lúcia"));
        assert_eq!(customer_name("O’Brien-Smith 2nd").as_deref(), Some("O'Brien-Smith nd"));
        assert_eq!(customer_name("Мария   Ивановна").as_deref(), Some("Мария Ивановна"));
        assert_eq!(customer_name("🔥🔥 123"), None);
        let long = customer_name("Maximiliana Alexandrovna Konstantinopolskaya").unwrap();
        assert_eq!(long.chars().count(), 24, "cut at 25 and the space dropped: {long}");
        assert!(long.chars().all(|c| c.is_alphabetic() || c == ' '));
    }
}

//! A stored WhatsApp message as one element of `imconnector.send.messages` `MESSAGES`
//! (REST docs `api-reference/imopenlines/imconnector/imconnector-send-messages.md`):
//! `user` (the customer: id, name, phone), `message` (id, date, text, files), `chat`.

use serde_json::{Value, json};
use tenancy::{Conversation, Direction, Line, Message, MessageKind};
use wa_session::message::coordinates_in;

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

/// A location's text followed by a link to its place on OpenStreetMap (Bitrix24 makes a URL in
/// the text a link), when its text ends with the coordinates tenancy stores.
fn with_map_link(text: Option<String>, stored: Option<&str>) -> Option<String> {
    let Some((lat, lon)) = stored.and_then(coordinates_in) else { return text };
    let link = format!("https://www.openstreetmap.org/?mlat={lat:.6}&mlon={lon:.6}");
    Some(match text {
        Some(text) => format!("{text}\n{link}"),
        None => link,
    })
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

/// `message.id` as Bitrix24 knows the message: its WhatsApp id.
fn external_id(message: &Message) -> String {
    message.wa_id.clone().unwrap_or_else(|| format!("wab24-{}", message.id))
}

/// One `MESSAGES` element of `imconnector.update.messages` for `message` now saying `text`:
/// the same `message.id` and `chat.id` as first sent (REST docs
/// `api-reference/imopenlines/imconnector/imconnector-update-messages.md`), the text as
/// `send.messages` has it (BB-code, after the quote), files left as they are.
pub fn update_element(message: &Message, text: &str, cx: &Context<'_>) -> Value {
    let edited = Message { text: Some(text.to_owned()), media: None, ..message.clone() };
    let cx =
        Context { line: cx.line, conversation: cx.conversation, quoted: cx.quoted, file_url: None };
    element(&edited, &cx)
}

/// One `MESSAGES` element of `imconnector.delete.messages` for `message`: `user.id`,
/// `message.id` and `chat.id` as first sent (REST docs
/// `api-reference/imopenlines/imconnector/imconnector-delete-messages.md`).
pub fn delete_element(message: &Message, conversation: &Conversation) -> Value {
    let number = customer_number(conversation);
    json!({ "user": { "id": number }, "message": { "id": external_id(message) }, "chat": { "id": number } })
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
    let text = match message.kind {
        MessageKind::Location => with_map_link(text, message.text.as_deref()),
        _ => text,
    };
    let text = with_quote(cx.quoted, text);
    let mut body = json!({
        "id": external_id(message),
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
            assigned_department: None,
            responsible_mode: tenancy::ResponsibleMode::FirstToAnswer,
            created_at: 0,
            send_read_receipts: true,
            open_channel: OpenChannel::Both,
            open_line_id: Some(12),
            open_channel_status: OpenChannelStatus::Active,
            open_channel_signature: true,
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

    // A location and contact cards go as text (send.messages has no other field for them, REST
    // docs imconnector-send-messages.md): the place with an OpenStreetMap link, the cards'
    // names and numbers. A wire format: pinned.
    #[test]
    fn locations_and_contact_cards_go_as_text() {
        let line = line();
        let conversation = conversation();
        let cx = Context { line: &line, conversation: &conversation, quoted: None, file_url: None };
        let place = message(
            5,
            MessageKind::Location,
            Some("MASP\nAv. Paulista, 1578\n-23.561414, -46.655881"),
            None,
        );
        insta::assert_snapshot!(element(&place, &cx)["message"].to_string(), @r#"{"id":"WA5","date":1700000000,"text":"MASP\nAv. Paulista, 1578\n-23.561414, -46.655881\nhttps://www.openstreetmap.org/?mlat=-23.561414&mlon=-46.655881"}"#);
        let bare = message(6, MessageKind::Location, Some("55.755800, 37.617300"), None);
        insta::assert_snapshot!(element(&bare, &cx)["message"]["text"].to_string(), @r#""55.755800, 37.617300\nhttps://www.openstreetmap.org/?mlat=55.755800&mlon=37.617300""#);
        // A location without coordinates has nothing to link to.
        let named = message(7, MessageKind::Location, Some("Home"), None);
        assert_eq!(element(&named, &cx)["message"]["text"], "Home");
        let cards = message(8, MessageKind::Contact, Some("Ana\n+55 11 9876\n\nBo\n+7 900"), None);
        insta::assert_snapshot!(element(&cards, &cx)["message"].to_string(), @r#"{"id":"WA8","date":1700000000,"text":"Ana\n+55 11 9876\n\nBo\n+7 900"}"#);
    }

    // REST docs imconnector-update-messages.md / imconnector-delete-messages.md: the same
    // message.id and chat.id as sent; update carries the new text (user_id for ours), delete
    // user.id, message.id and chat.id only. Persisted in the outbox: pinned.
    #[test]
    fn update_and_delete_elements_name_the_message_as_first_sent() {
        let line = line();
        let conversation = conversation();
        let quoted = message(1, MessageKind::Text, Some("Price?"), None);
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
        insta::assert_snapshot!(update_element(&reply, "*that* one", &cx).to_string(), @r#"{"user":{"id":"5511987654321","phone":"+5511987654321","name":"Ana"},"message":{"id":"WA2","date":1700000000,"text":">>Price?\n[b]that[/b] one"},"chat":{"id":"5511987654321","name":"Ana"}}"#);
        insta::assert_snapshot!(delete_element(&reply, &conversation).to_string(), @r#"{"user":{"id":"5511987654321"},"message":{"id":"WA2"},"chat":{"id":"5511987654321"}}"#);
        let mut ours = message(3, MessageKind::Text, Some("ok"), None);
        ours.direction = Direction::Outbound;
        ours.sender = "phone".to_owned();
        let cx = Context { line: &line, conversation: &conversation, quoted: None, file_url: None };
        assert_eq!(update_element(&ours, "okay", &cx)["message"]["user_id"], 7);
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

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

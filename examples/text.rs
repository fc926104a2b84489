//! The text of a WhatsApp message, wherever the sender put it.

use wa_proto::proto::e2e;

/// The text of a plain (`conversation`) or extended (`extendedTextMessage`, e.g. a reply or a
/// link) text message; `None` for media, reactions and the rest.
#[must_use]
pub fn text_of(message: &e2e::Message) -> Option<&str> {
    message
        .conversation
        .as_deref()
        .or_else(|| message.extended_text_message.as_ref()?.text.as_deref())
}

//! The contact center's data: customers (the portal users Bitrix24 makes for a connector's
//! external users), sessions (one dialog of a chat, from the first customer message until an
//! operator closes it) and the messages of their chats. Readable through
//! [`crate::Sim::open_line_sessions`] and [`crate::Sim::open_line_messages`].

use serde::Serialize;
use serde_json::Value;

/// An external user as the portal knows them: `imconnector.send.messages` creates one per
/// connector and `user.id`, with the latest name, phone and picture sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct OpenLineCustomer {
    /// The portal's user id for them (`user` in the answer to `imconnector.send.messages`).
    pub user_id: u64,
    /// The connector.
    pub connector: String,
    /// `user.id` as the application sent it.
    pub external_id: String,
    /// `user.name`.
    pub name: Option<String>,
    /// `user.last_name`.
    pub last_name: Option<String>,
    /// `user.phone`.
    pub phone: Option<String>,
    /// `user.email`.
    pub email: Option<String>,
    /// `user.picture.url`.
    pub picture: Option<String>,
}

impl OpenLineCustomer {
    /// "Name Last name", or the external id when no name was sent.
    pub fn display_name(&self) -> String {
        let full = [self.name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if full.is_empty() { self.external_id.clone() } else { full }
    }
}

/// The CRM items a session is bound to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CrmBindings {
    /// A lead (`entityTypeId` 1).
    pub lead: Option<u64>,
    /// A deal (2).
    pub deal: Option<u64>,
    /// A contact (3).
    pub contact: Option<u64>,
    /// A company (4).
    pub company: Option<u64>,
    /// True when the tracker created an item for this session (rather than finding one).
    pub created: bool,
}

/// One dialog of an open line chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct OpenLineSession {
    /// Session id (`session.ID`).
    pub id: u64,
    /// The Bitrix24 chat (`session.CHAT_ID`, `im.chat_id` of the events).
    pub chat_id: u64,
    /// The open line.
    pub line: u64,
    /// The connector.
    pub connector: String,
    /// `chat.id` as the application sent it (the events' `chat.id`).
    pub external_chat_id: String,
    /// `user.id` as the application sent it.
    pub external_user_id: String,
    /// The customer's portal user id.
    pub customer: u64,
    /// The operator answering, chosen by the line's queue; `None` while a line distributing to
    /// `all` waits for one of them to answer.
    pub operator: Option<u64>,
    /// Closed by an operator (or by deleting the line).
    pub closed: bool,
    /// The previous session of the same chat (0 for the first).
    pub parent_id: u64,
    /// CRM items found or created by the tracker.
    pub crm: CrmBindings,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "user_id", rename_all = "snake_case")]
#[non_exhaustive]
pub enum MessageAuthor {
    /// The customer (their portal user id), through `imconnector.send.messages`.
    Customer(u64),
    /// An operator (a portal user).
    Operator(u64),
}

/// A message of an open line chat.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct OpenLineMessage {
    /// Bitrix24 message id (`im.message_id` of the events).
    pub id: u64,
    /// The Bitrix24 chat.
    pub chat_id: u64,
    /// The session it belongs to (0 for an operator message in a chat without one).
    pub session_id: u64,
    /// The open line.
    pub line: u64,
    /// The connector.
    pub connector: String,
    /// `chat.id` as the application knows it.
    pub external_chat_id: String,
    /// Who wrote it.
    pub author: MessageAuthor,
    /// The application's ids: `message.id` for a customer message, the ids reported by
    /// `imconnector.send.status.delivery` for an operator message.
    pub external_ids: Vec<String>,
    /// The text (BB-code; an operator message as the event carried it, signature included).
    pub text: String,
    /// Files: `{url, name}` as sent for a customer message, `{name, link, type}` for an
    /// operator message.
    pub files: Vec<Value>,
    /// `message.date` (unix seconds), or the portal's time.
    pub date: i64,
    /// Edited after it was first written.
    pub edited: bool,
    /// Deleted.
    pub deleted: bool,
    /// An operator message the application reported delivered.
    pub delivered: bool,
    /// An operator message the application reported read (delivery marks it read too).
    pub read: bool,
}

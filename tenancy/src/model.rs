//! The values the API takes and returns.

use std::{fmt, str::FromStr};

use crate::{Error, Result};

/// A Bitrix24 user id (unique within a portal).
pub type UserId = i64;
/// A line's id within its tenant.
pub type LineId = i64;
/// A conversation's id within its tenant.
pub type ConversationId = i64;
/// Our id of a message within its tenant (increasing with arrival; the history cursor).
pub type MessageId = i64;

/// Who is calling. The server builds it from the verified session token; the store trusts it and
/// scopes every operation by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// The server itself (line runtimes, the installer): every line, every operation.
    System,
    /// A portal administrator: every line of the tenant.
    Admin(UserId),
    /// A portal user: only the lines assigned to them.
    User(UserId),
}

impl Caller {
    /// The audit `actor` string.
    pub(crate) fn actor(self) -> String {
        match self {
            Caller::System => "system".to_owned(),
            Caller::Admin(id) => format!("admin:{id}"),
            Caller::User(id) => format!("user:{id}"),
        }
    }

    pub(crate) fn require_admin(self, what: &'static str) -> Result<()> {
        match self {
            Caller::System | Caller::Admin(_) => Ok(()),
            Caller::User(_) => Err(Error::Forbidden(what)),
        }
    }

    pub(crate) fn require_system(self, what: &'static str) -> Result<()> {
        match self {
            Caller::System => Ok(()),
            _ => Err(Error::Forbidden(what)),
        }
    }

    /// Whether the caller may see a line assigned to `assigned`.
    pub(crate) fn sees(self, assigned: Option<UserId>) -> bool {
        match self {
            Caller::System | Caller::Admin(_) => true,
            Caller::User(id) => assigned == Some(id),
        }
    }
}

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name { $($(#[$vm])* $v),* }

        impl $name {
            /// The stored name.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$v => $s),* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                match s { $($s => Ok($name::$v),)* _ => Err(Error::Corrupt(stringify!($name))) }
            }
        }
    };
}

mod crm;
mod directory;
mod open_channels;

pub use crm::{
    CRM_ORIGINATOR, CrmLink, CrmMode, CrmPolicy, CrmResponsible, CrmSourceOfTruth,
    ReturningClosedDeal, crm_day, crm_origin_id,
};
pub use directory::{
    AccessList, Department, DepartmentId, DirectoryUser, PortalUser, ResponsibleMode, Standing,
};
pub use open_channels::{
    B24Enqueue, B24MessageLink, B24OutboxItem, B24OutboxKind, B24OutboxState, OpenChannel,
    OpenChannelStatus, b24_backoff,
};

text_enum!(
    /// A tenant's state in the registry.
    TenantStatus {
        /// Installed and usable.
        Active = "active",
        /// The app was removed; data is kept unless the uninstall asked for a clean-up.
        Uninstalled = "uninstalled",
        /// Blocked by the operator (unpaid, abuse).
        Blocked = "blocked",
    }
);

text_enum!(
    /// A line's connection state.
    LineStatus {
        /// Created, never linked to a phone.
        New = "new",
        /// Waiting for the QR code to be scanned.
        Pairing = "pairing",
        /// Linked and connected.
        Connected = "connected",
        /// Linked, connection lost.
        Disconnected = "disconnected",
        /// The phone removed this device; needs pairing again.
        LoggedOut = "logged_out",
    }
);

text_enum!(
    /// Which way a message went.
    Direction {
        /// From the customer to us.
        Inbound = "in",
        /// From us to the customer.
        Outbound = "out",
    }
);

text_enum!(
    /// What a message carries.
    MessageKind {
        /// Plain text.
        Text = "text",
        /// A picture.
        Image = "image",
        /// A video.
        Video = "video",
        /// A document.
        Document = "document",
        /// An audio file.
        Audio = "audio",
        /// A voice note.
        Voice = "voice",
        /// A sticker.
        Sticker = "sticker",
        /// A place the customer shared: its name, address and `lat, lon` coordinates (six
        /// decimals, the last line) in the text; the message itself is in the audit log.
        Location = "location",
        /// One or more contact cards: each card's name and phone numbers, one per line, cards
        /// separated by an empty line; the vCards are in the audit log.
        Contact = "contact",
        /// A reaction (the emoji in the text, the message reacted to as the quoted one).
        Reaction = "reaction",
        /// A notice in the conversation written by the server, not by either party (its
        /// [`MessageNote`] says what happened, e.g. the customer's security code changed).
        System = "system",
    }
);

text_enum!(
    /// Why a stored message differs from what arrived (shown by the API and the chat).
    MessageNote {
        /// The text was longer than [`MAX_INBOUND_TEXT`] bytes; the start of it is stored.
        Truncated = "truncated",
        /// The attachment could not be downloaded or saved; the message is stored without it.
        MediaUnavailable = "media_unavailable",
        /// The message could not be stored as it came; this placeholder stands for it (the raw
        /// event is in the audit log).
        Unreadable = "unreadable",
        /// The customer's WhatsApp security code (identity key) changed: a reinstall or a new
        /// phone. On a [`MessageKind::System`] notice.
        IdentityChanged = "identity_changed",
        /// Our message was edited after it was sent (by a Bitrix24 operator); the text is the
        /// new one.
        Edited = "edited",
        /// Our message was deleted for everyone after it was sent (by a Bitrix24 operator).
        Revoked = "revoked",
    }
);

text_enum!(
    /// What an outbox item does.
    OutboxKind {
        /// Send a message to WhatsApp.
        Send = "send",
        /// Deliver a message to Bitrix24.
        Delivery = "delivery",
    }
);

/// The longest inbound text stored in full, in bytes: WhatsApp allows 65,536 characters, and a
/// character takes at most four bytes in UTF-8. A longer text is cut at a character boundary and
/// marked [`MessageNote::Truncated`].
pub const MAX_INBOUND_TEXT: usize = 4 * 65_536;

/// The longest outbound text in bytes (the API's limit).
pub const MAX_OUTBOUND_TEXT: usize = 65_536;

/// A message's delivery status; it only moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum MessageStatus {
    /// Stored, not yet accepted by WhatsApp.
    Pending = 0,
    /// Accepted by the WhatsApp server (one tick).
    Sent = 1,
    /// Delivered to the recipient's device (two ticks). Inbound messages start here.
    Delivered = 2,
    /// Read by the recipient (blue ticks).
    Read = 3,
}

impl MessageStatus {
    pub(crate) fn from_rank(rank: i64) -> Result<Self> {
        match rank {
            0 => Ok(MessageStatus::Pending),
            1 => Ok(MessageStatus::Sent),
            2 => Ok(MessageStatus::Delivered),
            3 => Ok(MessageStatus::Read),
            _ => Err(Error::Corrupt("message status")),
        }
    }

    pub(crate) fn rank(self) -> i64 {
        self as i64
    }
}

/// A registered tenant (one Bitrix24 portal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantInfo {
    /// The portal's `member_id`.
    pub member_id: String,
    /// The portal's domain.
    pub domain: String,
    /// Active, uninstalled or blocked.
    pub status: TenantStatus,
    /// The plan's name.
    pub plan: String,
    /// How many lines the plan allows.
    pub line_quota: i64,
    /// When the trial ends (Unix ms), if on trial.
    pub trial_ends_at: Option<i64>,
    /// The installation's generation: every install and uninstall bumps it, so that session
    /// tokens issued under an earlier one stop working.
    pub generation: i64,
    /// When a `CLEAN` uninstall's data will be purged (Unix ms); `None` when nothing is pending.
    pub purge_after: Option<i64>,
}

/// What an install (or reinstall) registers.
#[derive(Debug, Clone)]
pub struct Install {
    /// The portal's `member_id` (untrusted: validated).
    pub member_id: String,
    /// The portal's domain.
    pub domain: String,
    /// The plan's name.
    pub plan: String,
    /// How many lines the plan allows.
    pub line_quota: i64,
    /// When the trial ends (Unix ms), if on trial.
    pub trial_ends_at: Option<i64>,
    /// The portal's OAuth tokens, stored encrypted.
    pub tokens: Option<PortalTokens>,
}

/// A portal's OAuth tokens. Debug is redacted; zeroized on drop.
#[derive(Clone, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct PortalTokens {
    /// The access token.
    pub access_token: String,
    /// The refresh token.
    pub refresh_token: String,
    /// When the access token expires (Unix ms).
    pub expires_at: i64,
    /// The portal's REST root (`client_endpoint`); empty when not recorded.
    pub client_endpoint: String,
    /// The portal's OAuth server REST root (`server_endpoint`); empty when not recorded.
    pub server_endpoint: String,
    /// The installation's `application_token` (the proof carried by every event); empty when
    /// not recorded.
    pub application_token: String,
}

impl fmt::Debug for PortalTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortalTokens")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("client_endpoint", &self.client_endpoint)
            .field("server_endpoint", &self.server_endpoint)
            .field("application_token", &"<redacted>")
            .finish()
    }
}

/// A portal user as the tenant knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The Bitrix24 user id.
    pub id: UserId,
    /// Display name.
    pub name: String,
    /// Whether the portal says they are an administrator.
    pub is_admin: bool,
}

/// A WhatsApp line (one phone number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The line's id.
    pub id: LineId,
    /// Display name.
    pub name: String,
    /// The linked phone number, once known.
    pub phone: Option<String>,
    /// Connection state.
    pub status: LineStatus,
    /// The user who works this line.
    pub assigned_user: Option<UserId>,
    /// The department whose members (and those of the departments below it) also work it.
    pub assigned_department: Option<DepartmentId>,
    /// How each conversation's responsible person is chosen.
    pub responsible_mode: ResponsibleMode,
    /// Creation time (Unix ms).
    pub created_at: i64,
    /// Whether the assigned user opening a chat sends read receipts (blue ticks) to WhatsApp.
    pub send_read_receipts: bool,
    /// Where its conversations go: our panel, a Bitrix24 Open Line, or both.
    pub open_channel: OpenChannel,
    /// The Bitrix24 Open Line it feeds, once chosen.
    pub open_line_id: Option<i64>,
    /// What Bitrix24 was last told about the connector on this line.
    pub open_channel_status: OpenChannelStatus,
    /// Whether an operator's name signature (the `[b]Name:[/b] [br]` Bitrix24 puts before an
    /// Open Line message) reaches the customer; on by default.
    pub open_channel_signature: bool,
}

/// What an administrator may change on a line; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineSettings {
    /// See [`Line::send_read_receipts`].
    pub send_read_receipts: Option<bool>,
    /// See [`Line::open_channel`]. An Open Line must be chosen before conversations go there.
    pub open_channel: Option<OpenChannel>,
    /// See [`Line::open_line_id`]: `Some(None)` clears it (only while the line feeds none).
    pub open_line_id: Option<Option<i64>>,
    /// See [`Line::open_channel_signature`].
    pub open_channel_signature: Option<bool>,
    /// See [`Line::assigned_department`]: `Some(None)` clears it.
    pub assigned_department: Option<Option<DepartmentId>>,
    /// See [`Line::responsible_mode`].
    pub responsible_mode: Option<ResponsibleMode>,
}

/// What [`crate::Tenant::mark_read`] did. The unread count belongs to whoever works the line:
/// its assigned user, or the administrators while nobody is assigned. Anyone else who may see
/// the conversation (an administrator looking at an agent's chat) changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOutcome {
    /// The conversation's line.
    pub line_id: LineId,
    /// The customer's JID (where read receipts go).
    pub chat: String,
    /// Whether the caller owns the count, so that it was set to zero.
    pub cleared: bool,
    /// The unread count after the call.
    pub unread: i64,
    /// The WhatsApp ids of the inbound messages this call marked read, oldest first (empty
    /// when nothing was cleared).
    pub newly_read: Vec<String>,
    /// The line's [`Line::send_read_receipts`] setting.
    pub send_read_receipts: bool,
}

/// A message whose text matched a search, with its conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageHit {
    /// The conversation.
    pub conversation: Conversation,
    /// The message.
    pub message: Message,
}

/// A customer seen on a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Our id.
    pub id: i64,
    /// The line that talks to them.
    pub line_id: LineId,
    /// Their WhatsApp JID.
    pub jid: String,
    /// Their phone number, when known.
    pub phone: Option<String>,
    /// The name they set in WhatsApp.
    pub push_name: Option<String>,
}

/// A chat between a line and a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// Our id.
    pub id: ConversationId,
    /// The line.
    pub line_id: LineId,
    /// The contact.
    pub contact: Contact,
    /// Inbound messages not yet read.
    pub unread: i64,
    /// The newest message's id.
    pub last_message_id: Option<MessageId>,
    /// The newest message's time (Unix ms).
    pub last_message_at: Option<i64>,
}

/// A media attachment's metadata (the bytes live on disk or in object storage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// Where the file is stored, relative to the tenant's media directory.
    pub path: String,
    /// MIME type.
    pub mime: String,
    /// Size in bytes.
    pub size: i64,
    /// SHA-256 of the plaintext file.
    pub sha256: [u8; 32],
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Our id (the history cursor).
    pub id: MessageId,
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The line.
    pub line_id: LineId,
    /// WhatsApp's message id, once known.
    pub wa_id: Option<String>,
    /// Inbound or outbound.
    pub direction: Direction,
    /// What it carries.
    pub kind: MessageKind,
    /// Text or caption.
    pub text: Option<String>,
    /// Attachment metadata.
    pub media: Option<Media>,
    /// The message this one quotes.
    pub quoted_id: Option<MessageId>,
    /// Delivery status.
    pub status: MessageStatus,
    /// When it reached `Sent` (Unix ms).
    pub sent_at: Option<i64>,
    /// When it reached `Delivered` (Unix ms).
    pub delivered_at: Option<i64>,
    /// When it reached `Read` (Unix ms).
    pub read_at: Option<i64>,
    /// Who sent it: the customer's JID, `user:<id>` / `admin:<id>` (from the panel), or
    /// `operator:<id>` (a Bitrix24 operator in an Open Line).
    pub sender: String,
    /// When it was sent or received (Unix ms).
    pub at: i64,
    /// Why it differs from what arrived, if it does.
    pub note: Option<MessageNote>,
}

/// An inbound WhatsApp message to record.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// The line it arrived on.
    pub line_id: LineId,
    /// The customer's JID.
    pub jid: String,
    /// The customer's phone number, when known.
    pub phone: Option<String>,
    /// The customer's push name, when sent.
    pub push_name: Option<String>,
    /// WhatsApp's message id (deduplicates redeliveries).
    pub wa_id: String,
    /// What it carries.
    pub kind: MessageKind,
    /// Text or caption.
    pub text: Option<String>,
    /// Attachment metadata.
    pub media: Option<Media>,
    /// WhatsApp id of the quoted message, if any.
    pub quoted_wa_id: Option<String>,
    /// The raw event, kept in the audit log.
    pub raw: Vec<u8>,
    /// Why the record differs from what arrived (the caller's part: missing media, a
    /// placeholder); tenancy adds [`MessageNote::Truncated`] itself.
    pub note: Option<MessageNote>,
}

/// An outbound message to queue (besides plain text: replies, reactions, media).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    /// What it carries.
    pub kind: MessageKind,
    /// Text, caption, or a reaction's emoji.
    pub text: Option<String>,
    /// Attachment metadata (the file is already in the tenant's media directory).
    pub media: Option<Media>,
    /// The message it quotes or reacts to (must be in the same conversation).
    pub quoted_id: Option<MessageId>,
}

/// What recording an inbound message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The stored message.
    pub message: Message,
    /// False when the message had been recorded before (a redelivery): nothing changed.
    pub new: bool,
    /// The conversation's unread count after the write.
    pub unread: i64,
}

/// What a WhatsApp edit or revoke does to the message it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaChange {
    /// The sender replaced the text (or caption) with this one.
    Edit(String),
    /// The sender deleted it for everyone.
    Revoke,
}

impl WaChange {
    /// `edit` or `revoke`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            WaChange::Edit(_) => "edit",
            WaChange::Revoke => "revoke",
        }
    }
}

/// An edit or a revoke that arrived from WhatsApp: a customer's of their own message, or the
/// business phone's of one of ours (`from_me`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaAmendment {
    /// The line it arrived on.
    pub line_id: LineId,
    /// The chat (the customer's JID).
    pub jid: String,
    /// Whether the business's own phone sent it (then it may only change our messages).
    pub from_me: bool,
    /// The id the amendment itself came under (a redelivery changes nothing).
    pub wa_id: String,
    /// The id of the message it changes.
    pub target_wa_id: String,
    /// What it does.
    pub change: WaChange,
    /// The raw event, kept in the audit log.
    pub raw: Vec<u8>,
}

/// What Bitrix24's Open Line is to be told of an amendment of message `message_id`: the
/// `imconnector.update.messages` or `delete.messages` element, built by the server.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenLineChange {
    /// The message the element is about.
    pub message_id: MessageId,
    /// The `MESSAGES` element (same `message.id` and `chat.id` as first sent).
    pub element: serde_json::Value,
}

/// What recording a WhatsApp edit or revoke did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaAmended {
    /// The message changed; what it said before is in the audit log.
    Changed(Message),
    /// Nothing changed: the amendment was applied before, or the message was already revoked.
    Unchanged(Message),
    /// The sender has no message with that id in this chat: a revoke is audited and nothing
    /// else; an edit is the caller's to keep as a message of its own.
    Unknown,
}

/// What a status update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatusChange {
    /// The status of this message moved forward.
    Advanced(MessageId),
    /// The message already had this status or a later one; nothing changed.
    Unchanged,
    /// No message with this WhatsApp id on this line (the receipt is still audited).
    UnknownMessage,
}

/// A page of history, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    /// Messages, newest first.
    pub messages: Vec<Message>,
    /// Pass as `before` for the next (older) page; `None` at the start of the conversation.
    pub next: Option<MessageId>,
}

/// A queued outbound item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    /// The outbox id.
    pub id: i64,
    /// The line that sends it.
    pub line_id: LineId,
    /// The message it sends.
    pub message_id: Option<MessageId>,
    /// What it does.
    pub kind: OutboxKind,
    /// The caller's idempotency key.
    pub idempotency_key: String,
    /// `pending` or `done`.
    pub state: String,
    /// Attempts so far.
    pub attempts: i64,
}

/// The largest page the API returns.
pub const MAX_PAGE: u32 = 200;

pub(crate) fn page_limit(limit: u32) -> Result<i64> {
    match limit {
        0 => Err(Error::InvalidInput("page size must be at least 1")),
        n if n > MAX_PAGE => Err(Error::InvalidInput("page size above MAX_PAGE")),
        n => Ok(i64::from(n)),
    }
}

/// Checks a Bitrix24 member_id before it names a file or a schema.
pub(crate) fn validate_member_id(id: &str) -> Result<()> {
    let ok = (1..=64).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok { Ok(()) } else { Err(Error::InvalidMemberId) }
}

/// Checks a free-text field's length.
pub(crate) fn check_len(s: &str, max: usize, what: &'static str) -> Result<()> {
    if s.len() > max { Err(Error::InvalidInput(what)) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_ids() {
        assert!(validate_member_id("a1b2c3d4e5f60718293a4b5c6d7e8f90").is_ok());
        for bad in ["", "../x", "a b", "a;drop", &"a".repeat(65), "é"] {
            assert!(matches!(validate_member_id(bad), Err(Error::InvalidMemberId)), "{bad}");
        }
    }

    #[test]
    fn statuses_are_ordered_and_round_trip() {
        assert!(MessageStatus::Sent < MessageStatus::Delivered);
        for s in [
            MessageStatus::Pending,
            MessageStatus::Sent,
            MessageStatus::Delivered,
            MessageStatus::Read,
        ] {
            assert_eq!(MessageStatus::from_rank(s.rank()).unwrap(), s);
        }
        assert!(MessageStatus::from_rank(9).is_err());
        assert_eq!("logged_out".parse::<LineStatus>().unwrap(), LineStatus::LoggedOut);
        assert_eq!("send".parse::<OutboxKind>().unwrap(), OutboxKind::Send);
        assert!("sned".parse::<OutboxKind>().is_err());
        assert_eq!(
            "identity_changed".parse::<MessageNote>().unwrap(),
            MessageNote::IdentityChanged
        );
    }

    #[test]
    fn token_debug_is_redacted() {
        let t = PortalTokens {
            access_token: "AT-secret".to_owned(),
            refresh_token: "RT-secret".to_owned(),
            expires_at: 5,
            client_endpoint: "https://p.test/rest/".to_owned(),
            server_endpoint: String::new(),
            application_token: "APP-secret".to_owned(),
        };
        insta::assert_snapshot!(format!("{t:?}"), @r#"PortalTokens { access_token: "<redacted>", refresh_token: "<redacted>", expires_at: 5, client_endpoint: "https://p.test/rest/", server_endpoint: "", application_token: "<redacted>" }"#);
    }
}

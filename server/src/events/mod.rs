//! The server's events: everything the API and the line runtimes do that a browser should see
//! live, as one typed [`ServerEvent`] on one [`EventBus`]. The runtime and the API handlers
//! publish; the SSE streams (`http::sse`) subscribe, judge per token who may see what, and
//! alone turn events into JSON.
//!
//! An event is a complete value: it names its tenant and line, carries what it announces (a
//! stored message, a line) and holds no handles, so that it serialises, and one coming from
//! another node is treated exactly like one made here.

mod bus;
mod line_state;

use serde::{Deserialize, Serialize};
use tenancy::{ConversationId, LineId, MessageId, MessageStatus};

pub use bus::EventBus;
pub use line_state::LineState;

use crate::wire::{LineOut, MessageOut};

/// The event a user's stream gets when one of their lines is taken away (reassigned,
/// unassigned or deleted): `{"line_id": ..}`, so that the panel removes its conversations at
/// once. Made by the stream itself (`http::sse`), which alone knows what its user had.
pub const LINE_UNASSIGNED: &str = "line.unassigned";

/// Who may receive an event (within its tenant; never another tenant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Administrators, and users to whom the event's line is assigned when it is delivered (an
    /// event without a line goes to administrators only).
    Line,
    /// Administrators only (QR codes, tenant-wide notices).
    Admins,
}

/// One event of a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ServerEvent {
    /// A running line's connection state changed (`line.status`). A QR code goes to
    /// administrators only.
    LineStatus {
        /// The tenant.
        member_id: String,
        /// The line.
        line_id: LineId,
        /// Its new state.
        state: LineState,
    },
    /// A line was created (`line.created`).
    LineCreated {
        /// The tenant.
        member_id: String,
        /// The new line.
        line: LineOut,
    },
    /// A line's settings changed (`line.updated`).
    LineUpdated {
        /// The tenant.
        member_id: String,
        /// The line as it is now.
        line: LineOut,
    },
    /// A line was assigned, reassigned or unassigned (`line.assigned`).
    LineAssigned {
        /// The tenant.
        member_id: String,
        /// The line as it is now.
        line: LineOut,
        /// Who had it before.
        previous_user: Option<i64>,
    },
    /// A line was deleted (`line.deleted`, administrators only).
    LineDeleted {
        /// The tenant.
        member_id: String,
        /// The line.
        line_id: LineId,
    },
    /// A message was stored (`message.stored`): inbound once committed (before WhatsApp got its
    /// ack), outbound once queued, and the server's own notices (a security code changed).
    MessageStored {
        /// The tenant.
        member_id: String,
        /// The message, as `GET /api/conversations/{id}/messages` shows it.
        message: MessageOut,
        /// The conversation's unread count after the write.
        unread: i64,
    },
    /// An outbound message's status moved: sent, delivered, read (`message.status`).
    MessageStatus {
        /// The tenant.
        member_id: String,
        /// The line.
        line_id: LineId,
        /// Our id.
        message_id: MessageId,
        /// WhatsApp's id.
        wa_id: String,
        /// The new status.
        #[serde(with = "status_as_name")]
        status: MessageStatus,
        /// The message after the change (`None` only if it could not be read back).
        message: Option<MessageOut>,
    },
    /// Sending an outbound message failed; it stays queued and is tried again
    /// (`message.send_failed`).
    SendFailed {
        /// The tenant.
        member_id: String,
        /// The line.
        line_id: LineId,
        /// Our id.
        message_id: MessageId,
        /// Why (no message text in it; not shown to browsers).
        error: String,
    },
    /// The owner of a conversation's unread count read it: the count is zero
    /// (`conversation.read`).
    ConversationRead {
        /// The tenant.
        member_id: String,
        /// The conversation's line.
        line_id: LineId,
        /// The conversation.
        conversation_id: ConversationId,
    },
    /// A conversation was opened on a line by phone number before any message
    /// (`conversation.opened`), so that every viewer of the line lists it at once.
    ConversationOpened {
        /// The tenant.
        member_id: String,
        /// The conversation's line.
        line_id: LineId,
        /// The new conversation.
        conversation_id: ConversationId,
    },
    /// The tenant's plan changed (`subscription.changed`, administrators only).
    SubscriptionChanged {
        /// The tenant.
        member_id: String,
        /// The plan's name.
        plan: String,
        /// Lines it allows.
        lines_allowed: i64,
        /// When its trial ends (Unix ms), if it is a trial.
        trial_ends_at: Option<i64>,
    },
}

impl ServerEvent {
    /// The tenant the event belongs to.
    #[must_use]
    pub fn member_id(&self) -> &str {
        match self {
            ServerEvent::LineStatus { member_id, .. }
            | ServerEvent::LineCreated { member_id, .. }
            | ServerEvent::LineUpdated { member_id, .. }
            | ServerEvent::LineAssigned { member_id, .. }
            | ServerEvent::LineDeleted { member_id, .. }
            | ServerEvent::MessageStored { member_id, .. }
            | ServerEvent::MessageStatus { member_id, .. }
            | ServerEvent::SendFailed { member_id, .. }
            | ServerEvent::ConversationRead { member_id, .. }
            | ServerEvent::ConversationOpened { member_id, .. }
            | ServerEvent::SubscriptionChanged { member_id, .. } => member_id,
        }
    }

    /// The line the event concerns, if any.
    #[must_use]
    pub fn line_id(&self) -> Option<LineId> {
        match self {
            ServerEvent::LineStatus { line_id, .. }
            | ServerEvent::LineDeleted { line_id, .. }
            | ServerEvent::MessageStatus { line_id, .. }
            | ServerEvent::SendFailed { line_id, .. }
            | ServerEvent::ConversationRead { line_id, .. }
            | ServerEvent::ConversationOpened { line_id, .. } => Some(*line_id),
            ServerEvent::LineCreated { line, .. }
            | ServerEvent::LineUpdated { line, .. }
            | ServerEvent::LineAssigned { line, .. } => Some(line.id),
            ServerEvent::MessageStored { message, .. } => Some(message.line_id),
            ServerEvent::SubscriptionChanged { .. } => None,
        }
    }

    /// Who may see it: QR codes, deleted lines and plan changes are for administrators only.
    #[must_use]
    pub fn audience(&self) -> Audience {
        match self {
            ServerEvent::LineStatus { state: LineState::Qr { .. }, .. }
            | ServerEvent::LineDeleted { .. }
            | ServerEvent::SubscriptionChanged { .. } => Audience::Admins,
            _ => Audience::Line,
        }
    }

    /// Whether the event changes which lines a user sees (created, assigned, deleted).
    #[must_use]
    pub fn changes_assignment(&self) -> bool {
        matches!(
            self,
            ServerEvent::LineCreated { .. }
                | ServerEvent::LineAssigned { .. }
                | ServerEvent::LineUpdated { .. }
                | ServerEvent::LineDeleted { .. }
        )
    }
}

/// A message status travels by its API name (`sent`, `read`, ...), as everywhere in JSON.
mod status_as_name {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};
    use tenancy::MessageStatus;

    use crate::wire::{status_from_name, status_name};

    pub(super) fn serialize<S: Serializer>(
        status: &MessageStatus,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(status_name(*status))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<MessageStatus, D::Error> {
        let name = String::deserialize(deserializer)?;
        status_from_name(&name)
            .ok_or_else(|| D::Error::custom(format!("unknown message status {name:?}")))
    }
}

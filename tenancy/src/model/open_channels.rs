//! The values of the Bitrix24 Open Channels connector: where a line's conversations go, the
//! outbox towards Bitrix24, and the links between our messages and Bitrix24's.

use std::{fmt, str::FromStr, time::Duration};

use crate::{Error, LineId, MessageId, Result};

text_enum!(
    /// Where a line's conversations go.
    OpenChannel {
        /// Our chat panel only (the default).
        Panel = "panel",
        /// The Bitrix24 Open Line only: the portal's operators answer there.
        OpenLine = "openline",
        /// Both the panel and the Open Line.
        Both = "both",
    }
);

impl B24OutboxKind {
    /// Whether it is CRM work: such items keep their order among themselves, apart from the
    /// line's Open Line calls.
    pub const fn is_crm(self) -> bool {
        matches!(self, B24OutboxKind::CrmRoute | B24OutboxKind::CrmTimeline)
    }
}

impl OpenChannel {
    /// Whether conversations go to an Open Line.
    pub const fn feeds_open_line(self) -> bool {
        matches!(self, OpenChannel::OpenLine | OpenChannel::Both)
    }
}

text_enum!(
    /// What Bitrix24 was last told about the connector on a line.
    OpenChannelStatus {
        /// The line does not feed an Open Line (or was deactivated).
        Off = "off",
        /// Activated on its Open Line, WhatsApp connected.
        Active = "active",
        /// The connector reports an error: WhatsApp disconnected or logged out, or Bitrix24
        /// refused the activation.
        Error = "error",
    }
);

text_enum!(
    /// What an item of the outbox towards Bitrix24 does (each is one connector call).
    B24OutboxKind {
        /// A customer's message to the Open Line (`imconnector.send.messages`).
        SendMessage = "send_message",
        /// An edit of a message already sent (`imconnector.update.messages`).
        UpdateMessage = "update_message",
        /// A deletion of a message already sent (`imconnector.delete.messages`).
        DeleteMessage = "delete_message",
        /// An operator's message reached the customer's phone (`imconnector.send.status.delivery`).
        StatusDelivery = "status_delivery",
        /// The customer read an operator's message (`imconnector.send.status.reading`).
        StatusReading = "status_reading",
        /// The connector's state on the line's Open Line: activation, deactivation, error status
        /// (`imconnector.activate`, `imconnector.status`).
        ConnectorStatus = "connector_status",
        /// The line's number and name shown in the Open Line (`imconnector.connector.data.set`).
        DataSet = "data_set",
        /// A new conversation's CRM routing: find the client by phone, create what the line's
        /// policy says (`crm.duplicate.findbycomm`, `crm.item.list`, `crm.item.add`).
        CrmRoute = "crm_route",
        /// A conversation day's entry in the CRM timeline (`crm.timeline.logmessage.add`).
        CrmTimeline = "crm_timeline",
        /// A connector event from Bitrix24 (an operator's message, edit or deletion, the
        /// connector switched off, an Open Line deleted) to confirm with the portal's own
        /// answer (`imopenlines.session.history.get`, `imconnector.status`,
        /// `imopenlines.config.get`) before it is acted on.
        ConfirmEvent = "confirm_event",
        /// A message the CRM sent through the line's message provider changed status
        /// (`messageservice.message.status.update`); the payload names `code`, `message_id`
        /// and `status`.
        SmsStatus = "sms_status",
    }
);

text_enum!(
    /// Where an item of the outbox towards Bitrix24 is.
    B24OutboxState {
        /// Waiting for its turn (or for its next attempt).
        Pending = "pending",
        /// Claimed by a worker; claimable again once its lease (`next_attempt_at`) has passed,
        /// so an item claimed by a process that died is sent after the restart.
        Sending = "sending",
        /// Bitrix24 accepted it.
        Done = "done",
        /// Bitrix24 refused it for good (an invalid request, not an outage); kept with its error.
        Failed = "failed",
    }
);

/// An item of the outbox towards Bitrix24.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct B24OutboxItem {
    /// The item's id (items of one line are sent in this order).
    pub id: i64,
    /// The line it belongs to.
    pub line_id: LineId,
    /// Our message it carries, when it carries one.
    pub message_id: Option<MessageId>,
    /// What it does.
    pub kind: B24OutboxKind,
    /// What the call needs beyond the message (JSON, written by the server).
    pub payload: String,
    /// The key that makes it once: our message id (or the change) plus the action.
    pub idempotency_key: String,
    /// Where it is.
    pub state: B24OutboxState,
    /// Attempts so far (a claim counts as one).
    pub attempts: i64,
    /// When it may be claimed next (Unix ms).
    pub next_attempt_at: i64,
    /// The last failure, without user data.
    pub last_error: Option<String>,
    /// When it was queued (Unix ms).
    pub created_at: i64,
}

/// A call towards Bitrix24 to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct B24Enqueue {
    /// The line it belongs to.
    pub line_id: LineId,
    /// Our message it carries, if any.
    pub message_id: Option<MessageId>,
    /// What it does.
    pub kind: B24OutboxKind,
    /// What the call needs beyond the message (JSON; at most 64 KiB).
    pub payload: String,
    /// Makes the call once (at most 128 bytes): a second enqueue with the same key and payload
    /// queues nothing, with another payload it is [`Error::IdempotencyKeyReused`].
    pub idempotency_key: String,
}

/// One of our messages and where it is in Bitrix24.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct B24MessageLink {
    /// Our message.
    pub message_id: MessageId,
    /// Its line.
    pub line_id: LineId,
    /// The Bitrix24 (im) message id, when Bitrix24 gave one: an operator's message carries it,
    /// while `imconnector.send.messages` answers with the chat and the session only.
    pub b24_message_id: Option<String>,
    /// The Bitrix24 (im) chat id of the Open Lines chat, when known.
    pub b24_chat_id: Option<i64>,
    /// The connector's chat id: the customer's number.
    pub external_chat_id: String,
    /// The Open Lines session id, when known.
    pub session_id: Option<i64>,
}

/// How long to wait before the next attempt after `attempts` failed ones: 1 s doubling up to
/// 5 minutes (the caller adds jitter, and honours a longer wait Bitrix24 asks for).
pub fn b24_backoff(attempts: i64) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    Duration::from_secs(2_u64.saturating_pow(exponent).min(300))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for kind in [
            B24OutboxKind::SendMessage,
            B24OutboxKind::UpdateMessage,
            B24OutboxKind::DeleteMessage,
            B24OutboxKind::StatusDelivery,
            B24OutboxKind::StatusReading,
            B24OutboxKind::ConnectorStatus,
            B24OutboxKind::DataSet,
            B24OutboxKind::CrmRoute,
            B24OutboxKind::CrmTimeline,
            B24OutboxKind::ConfirmEvent,
            B24OutboxKind::SmsStatus,
        ] {
            assert_eq!(kind.as_str().parse::<B24OutboxKind>().unwrap(), kind);
        }
        assert_eq!("both".parse::<OpenChannel>().unwrap(), OpenChannel::Both);
        assert!("openlines".parse::<OpenChannel>().is_err());
        assert!(OpenChannel::Both.feeds_open_line() && !OpenChannel::Panel.feeds_open_line());
        assert_eq!("error".parse::<OpenChannelStatus>().unwrap(), OpenChannelStatus::Error);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(b24_backoff(0), Duration::from_secs(1));
        assert_eq!(b24_backoff(1), Duration::from_secs(1));
        assert_eq!(b24_backoff(2), Duration::from_secs(2));
        assert_eq!(b24_backoff(5), Duration::from_secs(16));
        assert_eq!(b24_backoff(60), Duration::from_secs(300));
    }
}

//! The kinds of event the product records.

use std::{fmt, str::FromStr};

/// What an audit record describes. Stored as its [`Kind::as_str`] name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// The app was installed (or reinstalled) on a portal.
    AppInstalled,
    /// The app was uninstalled from a portal.
    AppUninstalled,
    /// A session token was issued to a portal user.
    AuthIssued,
    /// A portal's plan (name, line quota, trial end) was changed.
    PlanChanged,
    /// A WhatsApp line was created.
    LineCreated,
    /// A WhatsApp line was deleted.
    LineDeleted,
    /// A line's status changed (linked, disconnected, ...).
    LineStatusChanged,
    /// A line was assigned to a user for the first time.
    LineAssigned,
    /// A line was moved from one user to another (or unassigned).
    LineReassigned,
    /// A WhatsApp message was received; the payload is the raw event.
    MessageReceived,
    /// A message status (sent, delivered, read) was updated; the payload is the raw receipt.
    StatusUpdate,
    /// A line's WhatsApp connection state changed; the payload is the raw event.
    ConnectionState,
    /// A user queued an outbound message; the payload is the request (kind, text, media
    /// description, quoted message, idempotency key).
    MessageQueued,
    /// A received message could not be stored as it came (text over the limit, media that did
    /// not download, a record refused); what was stored instead and why is the payload.
    MessageAdjusted,
    /// A customer's WhatsApp identity key changed (a reinstall or a new phone): the new key was
    /// accepted and the conversation shows "security code changed".
    IdentityChanged,
    /// An administrator changed a line's settings; the payload has the old and new values.
    LineSettingsChanged,
    /// A `CLEAN` uninstall's data was purged after its grace period.
    AppPurged,
    /// An uninstall event the portal did not confirm was refused (nothing was changed).
    UninstallRefused,
    /// An administrator ended every session of a user.
    SessionsRevoked,
    /// A log written before chains were keyed was sealed: from this record on it is keyed. The
    /// payload names the last unkeyed record (`sealed_seq`, `sealed_hash`).
    AuditKeyed,
    /// An administrator asked the operator for more lines; the payload is the request.
    UpgradeRequested,
    /// The Open Channels connector called Bitrix24 (register, bind, activate, send, status);
    /// the payload names the method, the Bitrix24 ids and Bitrix24's answer or error.
    ConnectorCall,
    /// An Open Channels event from Bitrix24 was handled; the payload is the raw event.
    ConnectorEvent,
    /// An Open Channels event the portal did not confirm (an operator message, edit or deletion
    /// it does not show, a connector or Open Line it still has) was refused: nothing was done.
    /// The payload names the event, the Bitrix24 ids and the reason.
    ConnectorEventUnconfirmed,
    /// An administrator changed who may use the app; the payload has the old and new lists.
    AccessChanged,
    /// A user or administrator opened a new conversation on a line by phone number (writing
    /// first). The subject is the line; the payload names the conversation, the WhatsApp id and
    /// the number.
    ConversationOpened,
}

impl Kind {
    /// Every kind, in declaration order.
    pub const ALL: [Kind; 26] = [
        Kind::AppInstalled,
        Kind::AppUninstalled,
        Kind::AuthIssued,
        Kind::PlanChanged,
        Kind::LineCreated,
        Kind::LineDeleted,
        Kind::LineStatusChanged,
        Kind::LineAssigned,
        Kind::LineReassigned,
        Kind::MessageReceived,
        Kind::StatusUpdate,
        Kind::ConnectionState,
        Kind::MessageQueued,
        Kind::MessageAdjusted,
        Kind::IdentityChanged,
        Kind::LineSettingsChanged,
        Kind::AppPurged,
        Kind::UninstallRefused,
        Kind::SessionsRevoked,
        Kind::AuditKeyed,
        Kind::UpgradeRequested,
        Kind::ConnectorCall,
        Kind::ConnectorEvent,
        Kind::ConnectorEventUnconfirmed,
        Kind::AccessChanged,
        Kind::ConversationOpened,
    ];

    /// The stable name stored in the database and written to exports.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::AppInstalled => "app.installed",
            Kind::AppUninstalled => "app.uninstalled",
            Kind::AuthIssued => "auth.issued",
            Kind::PlanChanged => "app.plan_changed",
            Kind::LineCreated => "line.created",
            Kind::LineDeleted => "line.deleted",
            Kind::LineStatusChanged => "line.status_changed",
            Kind::LineAssigned => "line.assigned",
            Kind::LineReassigned => "line.reassigned",
            Kind::MessageReceived => "wa.message_received",
            Kind::StatusUpdate => "wa.status_update",
            Kind::ConnectionState => "wa.connection_state",
            Kind::MessageQueued => "wa.message_queued",
            Kind::MessageAdjusted => "wa.message_adjusted",
            Kind::IdentityChanged => "wa.identity_changed",
            Kind::LineSettingsChanged => "line.settings_changed",
            Kind::AppPurged => "app.purged",
            Kind::UninstallRefused => "app.uninstall_refused",
            Kind::SessionsRevoked => "auth.sessions_revoked",
            Kind::AuditKeyed => "audit.keyed",
            Kind::UpgradeRequested => "app.upgrade_requested",
            Kind::ConnectorCall => "b24.connector_call",
            Kind::ConnectorEvent => "b24.connector_event",
            Kind::ConnectorEventUnconfirmed => "b24.connector_event_unconfirmed",
            Kind::AccessChanged => "app.access_changed",
            Kind::ConversationOpened => "conversation.opened",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not one of [`Kind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown audit record kind")]
pub struct UnknownKind;

impl FromStr for Kind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s).ok_or(UnknownKind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for kind in Kind::ALL {
            assert!(seen.insert(kind.as_str()));
            assert_eq!(kind.as_str().parse::<Kind>(), Ok(kind));
        }
        assert_eq!("app.reinstalled".parse::<Kind>(), Err(UnknownKind));
    }
}

//! A line's connection state, as the runtime publishes it and the stream shows it.

use std::{fmt, time::Duration};

use serde::{Deserialize, Serialize};

/// A line's connection state as the runtime publishes it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum LineState {
    /// The client is starting or connecting.
    Connecting,
    /// Not paired: show this QR code until `expires` has passed (the next one follows).
    Qr {
        /// The QR text (a pairing secret: not printed by `Debug`).
        code: String,
        /// How long it is valid.
        expires: Duration,
    },
    /// Logged in and ready.
    Connected,
    /// The connection dropped; the client tries again after `retry_in`.
    Reconnecting {
        /// Why it dropped.
        reason: String,
        /// When it tries again.
        retry_in: Duration,
    },
    /// Stopped (closed by the server, or a reason that does not reconnect).
    Disconnected {
        /// Why.
        reason: String,
    },
    /// The phone removed this device (or it was banned, or logged out here): it is not
    /// retried; pairing again is needed.
    LoggedOut {
        /// Why.
        reason: String,
    },
}

impl fmt::Debug for LineState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineState::Connecting => f.write_str("Connecting"),
            LineState::Qr { expires, .. } => {
                f.debug_struct("Qr").field("code", &"<redacted>").field("expires", expires).finish()
            }
            LineState::Connected => f.write_str("Connected"),
            LineState::Reconnecting { reason, retry_in } => f
                .debug_struct("Reconnecting")
                .field("reason", reason)
                .field("retry_in", retry_in)
                .finish(),
            LineState::Disconnected { reason } => {
                f.debug_struct("Disconnected").field("reason", reason).finish()
            }
            LineState::LoggedOut { reason } => {
                f.debug_struct("LoggedOut").field("reason", reason).finish()
            }
        }
    }
}

impl LineState {
    /// A short name: `connecting`, `qr`, `connected`, `reconnecting`, `disconnected`,
    /// `logged_out`.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            LineState::Connecting => "connecting",
            LineState::Qr { .. } => "qr",
            LineState::Connected => "connected",
            LineState::Reconnecting { .. } => "reconnecting",
            LineState::Disconnected { .. } => "disconnected",
            LineState::LoggedOut { .. } => "logged_out",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_codes_are_not_printed() {
        let state =
            LineState::Qr { code: "2@secret-ref,key".to_owned(), expires: Duration::from_secs(60) };
        let printed = format!("{state:?}");
        assert!(!printed.contains("secret"), "{printed}");
        assert_eq!(state.name(), "qr");
    }
}

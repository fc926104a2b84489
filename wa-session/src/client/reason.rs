//! Why a connection ended, read from `<stream:error>` and `<failure>`, and what the client does
//! about it: reconnect (at once, or after a backoff delay), or stop (and, for a logout, forget the
//! credentials).

use std::fmt;

use wa_proto::Node;

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// `<stream:error code="515">`: restart required, the normal end of pairing. Reconnects at
    /// once.
    RestartRequired,
    /// `<failure reason="401">` or `<stream:error code="401">`: the device is logged out.
    LoggedOut,
    /// `<stream:error code="401"><conflict type="device_removed"/>`: removed from the phone.
    DeviceRemoved,
    /// `<stream:error><conflict type="replaced"/>`: another connection of this device took over.
    /// Not reconnected, so that two clients do not keep kicking each other out.
    Replaced,
    /// `<failure reason="402">`: temporarily banned.
    TemporarilyBanned {
        /// The ban `code`, if given.
        code: Option<String>,
        /// When the ban ends (`expire`, unix seconds), if given.
        expires: Option<u64>,
    },
    /// `<failure reason="403">`: the main device is gone or the account is locked (logged out).
    MainDeviceGone,
    /// `<failure reason="406">`: banned, or logged out for an unknown reason.
    Banned,
    /// `<failure reason="405">`: the client version is too old. Update
    /// [`Config::version`](super::Config::version) or call
    /// [`Client::set_version`](super::Client::set_version); not reconnected.
    ClientOutdated,
    /// `<failure reason="409">`: the user agent was refused.
    BadUserAgent,
    /// `503`: service unavailable; reconnects.
    ServiceUnavailable,
    /// `500`: internal server error; reconnects.
    InternalServerError,
    /// Another `<stream:error>` or `<failure>` code; reconnects.
    ServerError {
        /// The tag it came in (`stream:error` or `failure`).
        tag: String,
        /// Its code or reason, empty if none.
        code: String,
    },
    /// The server ended the stream (`<xmlstreamend/>`); reconnects.
    StreamEnd,
    /// The socket closed or failed without a word; reconnects.
    ConnectionLost,
    /// No answer to a keepalive ping in time: a dead socket; reconnects.
    KeepaliveTimeout,
    /// The application dropped a message's [`MessageAck`](super::MessageAck) without confirming
    /// it: the client reconnects so that the server delivers it (and what followed) again, in
    /// order.
    MessageNotHandled,
    /// Connecting (TCP, TLS, WebSocket, Noise) failed; reconnects.
    ConnectFailed(String),
    /// Every QR ref expired without a scan; not reconnected.
    PairingTimeout,
    /// `pair-success` did not verify (see [`Event::PairError`](super::Event::PairError)).
    PairingFailed(String),
    /// The application closed the client.
    ClosedByClient,
    /// The application logged out.
    LoggedOutByClient,
}

impl DisconnectReason {
    /// Reads `<stream:error>`.
    #[must_use]
    pub fn from_stream_error(node: &Node) -> Self {
        let code = node.attr_opt_str("code").ok().flatten().unwrap_or_default();
        let conflict = node.child("conflict").and_then(|c| c.attr_opt_str("type").ok().flatten());
        match (code, conflict) {
            (_, Some("device_removed")) => Self::DeviceRemoved,
            (_, Some("replaced")) => Self::Replaced,
            ("515", _) => Self::RestartRequired,
            ("401", _) => Self::LoggedOut,
            ("503", _) => Self::ServiceUnavailable,
            ("500", _) => Self::InternalServerError,
            (code, _) => {
                Self::ServerError { tag: "stream:error".to_owned(), code: code.to_owned() }
            }
        }
    }

    /// Reads `<failure reason=...>` (the answer to a login or registration).
    #[must_use]
    pub fn from_failure(node: &Node) -> Self {
        let attr = |key| node.attr_opt_str(key).ok().flatten();
        match attr("reason").unwrap_or_default() {
            "401" => Self::LoggedOut,
            "402" => Self::TemporarilyBanned {
                code: attr("code").map(str::to_owned),
                expires: attr("expire").and_then(|e| e.parse().ok()),
            },
            "403" => Self::MainDeviceGone,
            "405" => Self::ClientOutdated,
            "406" => Self::Banned,
            "409" => Self::BadUserAgent,
            "500" => Self::InternalServerError,
            "503" => Self::ServiceUnavailable,
            code => Self::ServerError { tag: "failure".to_owned(), code: code.to_owned() },
        }
    }

    /// Whether the client connects again after this.
    #[must_use]
    pub fn reconnects(&self) -> bool {
        matches!(
            self,
            Self::RestartRequired
                | Self::ServiceUnavailable
                | Self::InternalServerError
                | Self::ServerError { .. }
                | Self::StreamEnd
                | Self::ConnectionLost
                | Self::KeepaliveTimeout
                | Self::MessageNotHandled
                | Self::ConnectFailed(_)
        )
    }

    /// Whether it reconnects without waiting (the post-pairing restart).
    #[must_use]
    pub fn reconnects_at_once(&self) -> bool {
        matches!(self, Self::RestartRequired)
    }

    /// Whether the device is logged out: the credentials are useless and are deleted.
    #[must_use]
    pub fn is_logout(&self) -> bool {
        matches!(
            self,
            Self::LoggedOut
                | Self::DeviceRemoved
                | Self::MainDeviceGone
                | Self::Banned
                | Self::LoggedOutByClient
        )
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RestartRequired => f.write_str("restart required (515)"),
            Self::LoggedOut => f.write_str("logged out (401)"),
            Self::DeviceRemoved => f.write_str("device removed"),
            Self::Replaced => f.write_str("replaced by another connection"),
            Self::TemporarilyBanned { code, expires } => {
                write!(f, "temporarily banned (402, code {code:?}, until {expires:?})")
            }
            Self::MainDeviceGone => f.write_str("main device gone (403)"),
            Self::Banned => f.write_str("banned or logged out (406)"),
            Self::ClientOutdated => f.write_str("client version outdated (405)"),
            Self::BadUserAgent => f.write_str("user agent refused (409)"),
            Self::ServiceUnavailable => f.write_str("service unavailable (503)"),
            Self::InternalServerError => f.write_str("internal server error (500)"),
            Self::ServerError { tag, code } => write!(f, "<{tag}> code {code:?}"),
            Self::StreamEnd => f.write_str("stream ended by the server"),
            Self::ConnectionLost => f.write_str("connection lost"),
            Self::MessageNotHandled => {
                f.write_str("a message was not confirmed by the application")
            }
            Self::KeepaliveTimeout => f.write_str("keepalive timed out"),
            Self::ConnectFailed(why) => write!(f, "connect failed: {why}"),
            Self::PairingTimeout => f.write_str("no QR code was scanned in time"),
            Self::PairingFailed(why) => write!(f, "pairing failed: {why}"),
            Self::ClosedByClient => f.write_str("closed by the application"),
            Self::LoggedOutByClient => f.write_str("logged out by the application"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_error(code: Option<&'static str>, conflict: Option<&'static str>) -> Node {
        let mut b = Node::builder("stream:error");
        if let Some(code) = code {
            b = b.attr("code", code);
        }
        if let Some(kind) = conflict {
            b = b.children([Node::builder("conflict").attr("type", kind).build()]);
        }
        b.build()
    }

    fn failure(reason: &'static str) -> Node {
        Node::builder("failure").attr("reason", reason).build()
    }

    #[test]
    fn stream_errors() {
        use DisconnectReason as R;
        let cases = [
            (stream_error(Some("515"), None), R::RestartRequired, true, false),
            (stream_error(Some("401"), Some("device_removed")), R::DeviceRemoved, false, true),
            (stream_error(None, Some("replaced")), R::Replaced, false, false),
            (stream_error(Some("401"), None), R::LoggedOut, false, true),
            (stream_error(Some("503"), None), R::ServiceUnavailable, true, false),
            (stream_error(Some("500"), None), R::InternalServerError, true, false),
            (
                stream_error(Some("516"), None),
                R::ServerError { tag: "stream:error".into(), code: "516".into() },
                true,
                false,
            ),
        ];
        for (node, reason, reconnects, logout) in cases {
            let read = R::from_stream_error(&node);
            assert_eq!(read, reason);
            assert_eq!((read.reconnects(), read.is_logout()), (reconnects, logout), "{read}");
        }
        assert!(R::RestartRequired.reconnects_at_once());
        assert!(!R::ServiceUnavailable.reconnects_at_once());
    }

    #[test]
    fn failures() {
        use DisconnectReason as R;
        let banned = Node::builder("failure")
            .attr("reason", "402")
            .attr("code", "101")
            .attr("expire", "1800000000")
            .build();
        assert_eq!(
            R::from_failure(&banned),
            R::TemporarilyBanned { code: Some("101".into()), expires: Some(1_800_000_000) }
        );
        let cases = [
            ("401", R::LoggedOut, false, true),
            ("403", R::MainDeviceGone, false, true),
            ("405", R::ClientOutdated, false, false),
            ("406", R::Banned, false, true),
            ("409", R::BadUserAgent, false, false),
            ("500", R::InternalServerError, true, false),
            ("503", R::ServiceUnavailable, true, false),
            ("418", R::ServerError { tag: "failure".into(), code: "418".into() }, true, false),
        ];
        for (code, reason, reconnects, logout) in cases {
            let read = R::from_failure(&failure(code));
            assert_eq!(read, reason);
            assert_eq!((read.reconnects(), read.is_logout()), (reconnects, logout), "{read}");
        }
        assert!(!R::from_failure(&banned).reconnects());
        for local in [R::ConnectionLost, R::KeepaliveTimeout, R::ConnectFailed("x".into())] {
            assert!(local.reconnects() && !local.is_logout());
        }
        for stop in [R::PairingTimeout, R::ClosedByClient, R::PairingFailed("x".into())] {
            assert!(!stop.reconnects() && !stop.is_logout());
        }
        assert!(R::LoggedOutByClient.is_logout());
    }
}

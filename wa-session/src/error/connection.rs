//! Failures of the connection as a whole: pairing state, connecting, waiting and iq answers.

/// The client could not carry a request to the server and back.
///
/// Every call that talks to the server (sending, fetching keys, uploading) can return one of
/// these; a caller usually retries later or reports the line as unavailable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The operation needs a paired device and the credentials have no account.
    #[error("the device is not paired")]
    NotPaired,
    /// Connecting failed (TCP, TLS, WebSocket or the Noise handshake's transport).
    #[error("connect failed: {0}")]
    Connect(String),
    /// There is no open connection to send on.
    #[error("not connected")]
    NotConnected,
    /// The client has stopped (logged out, closed, or a reason that does not reconnect).
    #[error("the client has stopped")]
    Stopped,
    /// Something the client waited for did not come in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// The server answered an iq with `type="error"`.
    #[error("iq error {code}: {text}")]
    Iq {
        /// The `code` of `<error>`.
        code: String,
        /// The `text` of `<error>`.
        text: String,
    },
}

//! The one error type of this crate.

/// What can go wrong running the simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listening socket could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Only loopback addresses may be used.
    #[error("{0} is not a loopback address")]
    NotLoopback(std::net::SocketAddr),
    /// The simulator was used before [`crate::Sim::start`].
    #[error("the simulator is not started")]
    NotStarted,
    /// No portal with this member id.
    #[error("no portal {0}")]
    UnknownPortal(String),
    /// No open session for this dialog (none, or closed).
    #[error("no open session for {0}")]
    NoOpenSession(String),
    /// No operator message with this id (or it was deleted).
    #[error("no operator message {0}")]
    UnknownMessage(u64),
    /// No portal user with this id.
    #[error("no user {0}")]
    UnknownUser(u64),
    /// No open line with this id.
    #[error("no open line {0}")]
    UnknownLine(u64),
    /// An outbound delivery (frame, install callback, event) failed.
    #[error("delivery to the application failed: {0}")]
    Delivery(String),
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

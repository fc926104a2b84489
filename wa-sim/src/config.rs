//! The settings of a simulator.

use std::{sync::Arc, time::Duration};

use wab24_clock::{Clock, SystemClock};

/// Settings of a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seeds every key and random value; `None` draws a seed from the operating system.
    pub seed: Option<u64>,
    /// The clock for timestamps and certificate validity.
    pub clock: Arc<dyn Clock>,
    /// The host name `media_conn` answers with until [`Sim::serve_media`] runs (then the media
    /// host's `127.0.0.1:<port>`).
    pub media_host: String,
    /// Clients announcing an older WhatsApp Web version get `<failure reason="405"/>`.
    pub min_version: Option<wa_session::pairing::ClientVersion>,
    /// How long the server waits, after a `<stream:error>` or `<failure>`, for the client to
    /// close the socket before closing it itself (default [`STREAM_CLOSE_DELAY`]). The client
    /// is meant to close first: whatsmeow (`connectionevents.go`, `handleStreamError`) and
    /// Baileys (`src/Socket/socket.ts`, `CB:stream:error` -> `end`) both end the connection on
    /// their own, after reading the stanza however long their handler takes; closing at once
    /// let a client that handles stanzas on another task see the close before the error.
    pub stream_close_delay: Duration,
}

/// The default [`SimConfig::stream_close_delay`]: long enough for any client's stanza handler,
/// short enough that a client that never closes does not hold the connection long.
pub const STREAM_CLOSE_DELAY: Duration = Duration::from_secs(2);

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: None,
            clock: Arc::new(SystemClock),
            media_host: "127.0.0.1".to_owned(),
            min_version: None,
            stream_close_delay: STREAM_CLOSE_DELAY,
        }
    }
}

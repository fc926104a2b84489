//! The client's configuration, with WhatsApp's real values as defaults.

use std::{sync::Arc, time::Duration};

use super::{
    backoff::BackoffPolicy,
    qr::{FIRST_QR_TIMEOUT, NEXT_QR_TIMEOUT},
};
use crate::{
    PublicKey,
    cert::WA_ROOT_KEY,
    pairing::{ClientVersion, DeviceProfile},
};

/// WhatsApp Web's WebSocket endpoint.
pub const WA_WEB_URL: &str = "wss://web.whatsapp.com/ws/chat";
/// The `Origin` header WhatsApp Web sends.
pub const WA_WEB_ORIGIN: &str = "https://web.whatsapp.com";

/// The workspace's clock: unix time in seconds (certificate validity, signed prekey timestamps).
pub use wab24_clock::{Clock, SystemClock};

/// How many one-time prekeys to keep on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreKeyPolicy {
    /// Upload when the server holds fewer than this (5, as both anchors).
    pub min: u32,
    /// How many to upload the first time (812, as both anchors).
    pub initial: u32,
    /// How many to upload on later top-ups (50, as whatsmeow).
    pub top_up: u32,
}

impl Default for PreKeyPolicy {
    fn default() -> Self {
        Self { min: 5, initial: 812, top_up: 50 }
    }
}

/// Settings of a [`Client`](super::Client).
#[derive(Debug, Clone)]
pub struct Config {
    /// The WebSocket URL, `ws://` or `wss://` (default [`WA_WEB_URL`]).
    pub url: String,
    /// The `Origin` header (default [`WA_WEB_ORIGIN`]).
    pub origin: String,
    /// The root key the server's certificate chain must lead to (default WhatsApp's).
    pub root_key: PublicKey,
    /// The WhatsApp Web version announced; replaceable at run time with
    /// [`Client::set_version`](super::Client::set_version).
    pub version: ClientVersion,
    /// How the device presents itself to the phone.
    pub profile: DeviceProfile,
    /// For `wss://`: DER certificates to trust instead of the operating system's roots (a test
    /// server's self-signed certificate, for instance).
    pub tls_roots: Option<Vec<Vec<u8>>>,
    /// How often to ping the server once logged in.
    pub keepalive_interval: Duration,
    /// How long a ping may go unanswered before the socket counts as dead.
    pub keepalive_timeout: Duration,
    /// Limit for TCP + TLS + WebSocket + Noise handshake.
    pub connect_timeout: Duration,
    /// Limit for an iq answer.
    pub iq_timeout: Duration,
    /// Reconnect delays.
    pub backoff: BackoffPolicy,
    /// How long the first QR ref is shown.
    pub qr_first_timeout: Duration,
    /// How long each following QR ref is shown.
    pub qr_next_timeout: Duration,
    /// Prekey counts.
    pub pre_keys: PreKeyPolicy,
    /// Unix time (certificate validity, key timestamps).
    pub clock: Arc<dyn Clock>,
    /// Seeds the client's randomness (keys, ids, jitter) for reproducible tests; `None` draws
    /// from the operating system.
    pub seed: Option<u64>,
    /// Capacity of the event channel; the client waits when the application lags behind.
    pub event_buffer: usize,
    /// How long a sent message may wait for the server's ack, across reconnects, before
    /// [`Client::send_message`](super::Client::send_message) gives up.
    pub send_timeout: Duration,
    /// How long a device list learnt through usync is trusted.
    pub device_cache_ttl: Duration,
    /// How many sent messages are kept for retry receipts.
    pub sent_messages_kept: usize,
    /// The largest media blob [`Client::download`](super::Client::download) accepts (a hostile
    /// host cannot make it read more); default 100 MiB.
    pub max_media_download: u64,
    /// The largest file [`Client::upload`](super::Client::upload) encrypts (it holds the blob in
    /// memory to hash it before the POST); default 100 MiB.
    pub max_media_upload: u64,
    /// The longest wait for a media host's answer or its next bytes.
    pub media_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            url: WA_WEB_URL.to_owned(),
            origin: WA_WEB_ORIGIN.to_owned(),
            root_key: WA_ROOT_KEY,
            version: ClientVersion::DEFAULT,
            profile: DeviceProfile::default(),
            tls_roots: None,
            keepalive_interval: Duration::from_secs(25),
            keepalive_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(20),
            iq_timeout: Duration::from_secs(60),
            backoff: BackoffPolicy::default(),
            qr_first_timeout: FIRST_QR_TIMEOUT,
            qr_next_timeout: NEXT_QR_TIMEOUT,
            pre_keys: PreKeyPolicy::default(),
            clock: Arc::new(SystemClock),
            seed: None,
            event_buffer: 256,
            send_timeout: Duration::from_secs(60),
            device_cache_ttl: Duration::from_secs(3600),
            sent_messages_kept: 1000,
            max_media_download: 100 * 1024 * 1024,
            max_media_upload: 100 * 1024 * 1024,
            media_timeout: Duration::from_secs(60),
        }
    }
}

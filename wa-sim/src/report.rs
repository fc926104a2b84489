//! What the simulator reports through its API: accounts, devices, counters, pairings and the
//! messages routed to companions.

use std::collections::BTreeMap;

use serde::Serialize;

/// What the control API reports about an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountInfo {
    /// Phone number, digits only.
    pub phone: String,
    /// `phone@s.whatsapp.net`.
    pub jid: String,
    /// `lid@lid`.
    pub lid: String,
    /// The primary phone's identity public key, hex.
    pub identity_key: String,
}

/// What the control API reports about a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceInfo {
    /// The device id (0 is the primary phone).
    pub device: u16,
    /// `phone:device@s.whatsapp.net`.
    pub jid: String,
    /// `lid:device@lid`.
    pub lid: String,
    /// The platform the companion announced, if a companion.
    pub platform: Option<String>,
    /// Whether it has been removed (kicked or logged out).
    pub removed: bool,
    /// Open connections logged in as this device.
    pub connections: usize,
    /// One-time prekeys the server holds for it.
    pub prekeys: usize,
    /// Routed messages and receipts waiting for its ack.
    pub queued: usize,
}

/// Counters of what the simulator did, since it started. Fields marked *now* are gauges taken
/// when read; the others only grow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// WebSocket connections accepted (`ws://` and `wss://`).
    pub connections: u64,
    /// Connections open *now* (handshaking, registering, logged in or black-holed).
    pub connections_open: u64,
    /// Of [`Counters::connections`], those over `wss://`.
    pub tls_connections: u64,
    /// TLS handshakes on the `wss://` listener that failed.
    pub tls_failures: u64,
    /// Noise handshakes completed.
    pub handshakes: u64,
    /// Noise handshakes that failed or timed out, and frames that did not decrypt afterwards.
    pub handshake_failures: u64,
    /// `pair-device` stanzas sent (registrations).
    pub pair_device_sent: u64,
    /// Pairings completed (device signature verified).
    pub pairings: u64,
    /// Pairings refused (bad answer or signature).
    pub pairing_failures: u64,
    /// Companions registered directly through [`Sim::register_companion`] (no QR).
    pub registered: u64,
    /// `<success>` sent.
    pub logins: u64,
    /// `<failure>` sent.
    pub login_failures: u64,
    /// Stanzas received after the handshake.
    pub stanzas_in: u64,
    /// Stanzas sent after the handshake (dropped ones not included).
    pub stanzas_out: u64,
    /// iq requests answered.
    pub iqs: u64,
    /// iq requests the simulator does not implement (answered with the real server's
    /// `501 feature-not-implemented` error).
    pub iqs_unhandled: u64,
    /// [`Counters::iqs_unhandled`] by the request's `xmlns` (`(none)` when it has none).
    pub iqs_unhandled_namespaces: BTreeMap<String, u64>,
    /// One-time prekeys uploaded.
    pub prekeys_uploaded: u64,
    /// One-time prekeys handed out in prekey bundles.
    pub prekeys_served: u64,
    /// `encrypt` notifications sent to companions running low on one-time prekeys.
    pub prekey_notifications: u64,
    /// Stream errors sent (injected, kicks, 515 after pairing, replaced).
    pub stream_errors: u64,
    /// Messages and receipts routed to a device (queued, and sent if it was connected).
    pub routed: u64,
    /// Messages and receipts handed to the simulated phones (device 0), not in `routed`.
    pub to_phones: u64,
    /// Of [`Counters::routed`], the receipts.
    pub receipts_relayed: u64,
    /// Routed stanzas the recipient acked or, for messages, answered with a receipt (removed
    /// from its queue).
    pub acked: u64,
    /// Routed stanzas waiting in device queues *now*.
    pub queued: u64,
    /// Media blobs uploaded.
    pub media_uploads: u64,
    /// Media blobs downloaded.
    pub media_downloads: u64,
    /// Bytes of media blobs stored *now*.
    pub media_bytes: u64,
    /// Frames sent later because of a latency fault.
    pub delayed_out: u64,
    /// Frames received and handled later because of a latency fault.
    pub delayed_in: u64,
    /// Stanzas not sent because of a drop fault or a black-holed connection.
    pub dropped: u64,
    /// Connections turned into dead sockets by [`Sim::black_hole`].
    pub black_holed: u64,
}

/// The result of a completed pairing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairedDevice {
    /// The account's phone number.
    pub phone: String,
    /// The device id assigned.
    pub device: u16,
    /// `phone:device@s.whatsapp.net`.
    pub jid: String,
    /// `lid:device@lid`.
    pub lid: String,
}

/// A message routed to a companion, as the server saw it (it cannot decrypt it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoutedMessage {
    /// The message id.
    pub id: String,
    /// The sending device, as delivered (`from`).
    pub from: String,
    /// The stanza's `type` (`text`, `media`, ...).
    pub kind: String,
    /// The `type` of each `<enc>` (`pkmsg`, `msg`, `skmsg`).
    pub enc_types: Vec<String>,
    /// When it was routed (the sim clock, unix seconds).
    pub t: u64,
}

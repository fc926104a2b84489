//! Fuzz harnesses. They live in the library so that they compile with every build; the targets in
//! `fuzz/` call them in one line, and the `rust` test suite replays the committed seed corpora.
//!
//! Each harness takes arbitrary bytes and panics only when it finds a bug: a panic inside the code
//! under test, or a broken round-trip property.

#![expect(clippy::panic, reason = "a fuzz harness reports a bug by panicking")]

use crate::{DecodeLimits, Jid, decode, decode_with, encode};

/// Decodes a frame; whatever decodes must re-encode and decode to the same tree.
pub fn decode_node(data: &[u8]) {
    let Ok(node) = decode(data) else { return };
    let frame = match encode(&node) {
        Ok(frame) => frame,
        Err(error) => panic!("a decoded node must re-encode, got {error}: {node:?}"),
    };
    // Re-encoding may pack a raw string and so charge the budget differently: don't cap it again.
    let limits = DecodeLimits::default().with_max_allocation(usize::MAX);
    match decode_with(&frame, limits) {
        Ok(again) => assert_eq!(again, node, "decode -> encode -> decode changed the tree"),
        Err(error) => panic!("a re-encoded node must decode, got {error}: {node:?}"),
    }
}

/// Parses text as a JID; whatever parses must print and parse back to the same JID.
pub fn parse_jid(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(jid) = text.parse::<Jid>() else { return };
    let printed = jid.to_string();
    match printed.parse::<Jid>() {
        Ok(again) => assert_eq!(again, jid, "{text:?} printed as {printed:?}"),
        Err(error) => panic!("{text:?} printed as {printed:?}, which does not parse: {error}"),
    }
}

/// Decodes protobuf message `M`; whatever decodes must re-encode and decode to the same value.
///
/// Values are compared as values and, when that fails, as their encodings: a `double` field may
/// hold a NaN (a location's latitude from any contact), which never equals itself.
fn protobuf_round_trip<M: prost::Message + Default + PartialEq + std::fmt::Debug>(
    name: &'static str,
    data: &[u8],
) {
    let Ok(value) = crate::proto::decode_message::<M>(name, data) else { return };
    let encoded = value.encode_to_vec();
    match crate::proto::decode_message::<M>(name, &encoded) {
        Ok(again) => {
            if again != value {
                assert_eq!(
                    again.encode_to_vec(),
                    encoded,
                    "{name}: decode -> encode -> decode changed the value: {value:?} became {again:?}"
                );
            }
        }
        Err(error) => panic!("{name}: a re-encoded value must decode, got {error}: {value:?}"),
    }
}

macro_rules! protobuf_harnesses {
    ($($(#[$doc:meta])* $harness:ident => $type:path),* $(,)?) => {$(
        $(#[$doc])*
        pub fn $harness(data: &[u8]) {
            protobuf_round_trip::<$type>(stringify!($type), data);
        }
    )*};
}

protobuf_harnesses! {
    /// `HandshakeMessage`, the first thing read from an unauthenticated server.
    handshake_message => crate::proto::handshake::HandshakeMessage,
    /// `CertChain`, decrypted from the server hello.
    cert_chain => crate::proto::cert::CertChain,
    /// `CertChain.NoiseCertificate.Details`, inside each certificate.
    cert_details => crate::proto::cert::cert_chain::noise_certificate::Details,
    /// `ClientPayload`, which the simulator reads from every client.
    client_payload => crate::proto::handshake::ClientPayload,
    /// `DeviceProps`, inside a registration payload.
    device_props => crate::proto::companion::DeviceProps,
    /// `ADVSignedDeviceIdentityHMAC`, from pair-success.
    adv_signed_device_identity_hmac => crate::proto::adv::SignedDeviceIdentityHmac,
    /// `ADVSignedDeviceIdentity`, inside the HMAC wrapper and on every prekey message.
    adv_signed_device_identity => crate::proto::adv::SignedDeviceIdentity,
    /// `ADVDeviceIdentity`, the signed details.
    adv_device_identity => crate::proto::adv::DeviceIdentity,
    /// The end-to-end `Message`, decrypted from any contact.
    e2e_message => crate::proto::e2e::Message,
    /// `WebMessageInfo`, from history sync.
    web_message_info => crate::proto::web::WebMessageInfo,
    /// `HistorySync`, the inflated history blob.
    history_sync => crate::proto::history::HistorySync,
    /// `SyncActionData`, decrypted from an app-state mutation.
    sync_action_data => crate::proto::sync::SyncActionData,
}

//! Message stanzas, sans-IO: ids, participant hashes, device-list (usync) and prekey-bundle
//! queries, encrypting a `proto::e2e::Message` for every device of a chat, decrypting what arrives,
//! and receipts and acks.
//!
//! Every function takes time and randomness as parameters and works on [`wa_proto::Node`]s; the
//! Signal operations run over a [`SignalStore`](crate::store::SignalStore) through
//! [`crate::signal::cipher`]. The same API serves a companion device (which attaches its ADV signed
//! device identity when it starts sessions) and a primary phone (device 0, which has none).

pub mod ack;
pub mod addressing;
pub mod bundle;
mod bytes;
pub mod contact_card;
pub mod contact_query;
pub mod content;
pub mod edit;
pub mod id;
pub mod iq;
pub mod location;
pub mod phash;
pub mod receipt;
pub mod receive;
pub mod send;
pub mod usync;

#[cfg(test)]
pub(crate) mod xml;

pub use ack::ack_for;
pub use addressing::migrate_session;
pub use bundle::{
    establish_sessions, fetch_bundles_iq, parse_bundle, parse_bundles, protocol_address,
};
pub use contact_card::ContactCard;
pub use contact_query::{
    ContactStatus, MAX_CONTACT_QUERY, contact_query, contact_query_number, parse_contacts,
};
pub use content::{ContentKind, MAX_CONTACT_CARDS, MediaFields, MessageContent, context_info_mut};
pub use edit::{Amendment, amendment, edit_attribute, is_edit};
pub use id::generate_message_id;
pub use location::{Location, coordinates_in};
pub use phash::participant_hash;
pub use receipt::{
    Receipt, ReceiptKind, RetryRequest, SeenKind, ack, delivery_receipt, parse_receipt,
    retry_receipt, seen_receipt,
};
pub use receive::{
    AddressingMode, MessageInfo, ReceivedMessage, decrypt_message, decrypt_message_uncommitted,
    parse_message_info,
};
pub use send::{Encrypted, OwnDevice, encrypt_message, encrypt_retry, missing_sessions};
pub use usync::{DeviceEntry, UserDevices, devices_query, parse_devices};

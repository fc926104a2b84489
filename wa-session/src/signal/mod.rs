//! The Signal protocol as WhatsApp uses it: version 3 messages, X3DH without post-quantum keys,
//! the double ratchet, and sender keys for groups.
//!
//! [`session`] and [`SenderKeyRecord`] are pure (records in, records out); [`cipher`] runs them over
//! the [`crate::store`] traits with one atomic commit per message.

pub mod cipher;
pub mod message;
pub mod padding;
pub mod prekey;
mod ratchet;
pub mod sender_key;
pub mod session;
mod state;

pub use message::{
    PreKeySignalMessage, SenderKeyDistributionMessage, SenderKeyMessage, SignalMessage,
};
pub use prekey::{
    PreKeyBundle, PreKeyRecord, SignedPreKeyRecord, generate_pre_keys, generate_registration_id,
};
pub use ratchet::{MAX_FORWARD_JUMPS, MAX_SKIPPED_KEYS};
pub use sender_key::SenderKeyRecord;
pub use session::CiphertextMessage;
pub use state::{MAX_ARCHIVED_STATES, MAX_RECEIVER_CHAINS, SESSION_RECORD_VERSION, SessionRecord};

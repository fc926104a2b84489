//! Key stores: small async traits, an in-memory implementation and a conformance suite.
//!
//! Reads go through the per-kind traits; every write that belongs to one message goes through
//! [`CommitStore::commit`] as one [`MessageCommit`], which a backend must apply atomically (one
//! transaction). Torn writes (a session saved but its prekey not deleted, or the reverse) are the
//! classic source of "Bad MAC" failures.

use std::fmt;

use async_trait::async_trait;

use crate::{
    IdentityKey, IdentityKeyPair, Result,
    credentials::DeviceCredentials,
    signal::{PreKeyRecord, SenderKeyRecord, SessionRecord, SignedPreKeyRecord},
};

pub mod conformance;
mod memory;

pub use memory::{MEMORY_STORE_VERSION, MemoryStore};

/// A Signal address: a user (WhatsApp's Signal user form, e.g. `5511987654321` or `123.1:2` ...) and
/// a device id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProtocolAddress {
    /// The user part.
    pub name: String,
    /// The device id.
    pub device_id: u32,
}

impl ProtocolAddress {
    /// Makes an address.
    pub fn new(name: impl Into<String>, device_id: u32) -> Self {
        Self { name: name.into(), device_id }
    }
}

impl fmt::Display for ProtocolAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.name, self.device_id)
    }
}

/// Names one sender's key in one group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SenderKeyName {
    /// The group JID.
    pub group_id: String,
    /// The sender.
    pub sender: ProtocolAddress,
}

impl SenderKeyName {
    /// Makes a name.
    pub fn new(group_id: impl Into<String>, sender: ProtocolAddress) -> Self {
        Self { group_id: group_id.into(), sender }
    }
}

impl fmt::Display for SenderKeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}::{}", self.group_id, self.sender)
    }
}

/// Our identity and the identities we have seen.
#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// Our identity key pair.
    async fn identity_key_pair(&self) -> Result<IdentityKeyPair>;
    /// Our registration id.
    async fn local_registration_id(&self) -> Result<u32>;
    /// The identity key stored for `address`, if any.
    async fn identity(&self, address: &ProtocolAddress) -> Result<Option<IdentityKey>>;
    /// Whether `key` may be used for `address`. Unknown addresses are trusted on first use; a key
    /// different from the stored one is not.
    async fn is_trusted_identity(
        &self,
        address: &ProtocolAddress,
        key: &IdentityKey,
    ) -> Result<bool>;
    /// Stores `key` for `address` (accepting a change); returns whether a different key was replaced.
    async fn save_identity(&self, address: &ProtocolAddress, key: &IdentityKey) -> Result<bool>;
}

/// One-time prekeys.
#[async_trait]
pub trait PreKeyStore: Send + Sync {
    /// The prekey with `id`, if we still have it.
    async fn pre_key(&self, id: u32) -> Result<Option<PreKeyRecord>>;
    /// Stores a prekey.
    async fn save_pre_key(&self, record: &PreKeyRecord) -> Result<()>;
    /// Deletes a prekey (it was used).
    async fn remove_pre_key(&self, id: u32) -> Result<()>;
}

/// Signed prekeys.
#[async_trait]
pub trait SignedPreKeyStore: Send + Sync {
    /// The signed prekey with `id`, if we have it.
    async fn signed_pre_key(&self, id: u32) -> Result<Option<SignedPreKeyRecord>>;
    /// Stores a signed prekey.
    async fn save_signed_pre_key(&self, record: &SignedPreKeyRecord) -> Result<()>;
}

/// Session records, one per remote device.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// The session record for `address`, if any.
    async fn session(&self, address: &ProtocolAddress) -> Result<Option<SessionRecord>>;
    /// Stores the session record for `address` (outside of a message, e.g. an import).
    async fn save_session(&self, address: &ProtocolAddress, record: &SessionRecord) -> Result<()>;
    /// Moves the session with one device from address `from` to address `to` in one
    /// transaction: the record is stored at `to` and removed at `from`, and `from`'s remote
    /// identity is copied to `to` when `to` has none. Returns `false`, changing nothing, when
    /// `from` has no session or `to` already has one. Used when a contact's addressing changes
    /// between phone number and LID: one device, one session, whichever address names it.
    async fn move_session(&self, from: &ProtocolAddress, to: &ProtocolAddress) -> Result<bool>;
}

/// Sender key records, one per (group, sender).
#[async_trait]
pub trait SenderKeyStore: Send + Sync {
    /// The record for `name`, if any.
    async fn sender_key(&self, name: &SenderKeyName) -> Result<Option<SenderKeyRecord>>;
    /// Stores the record for `name` (outside of a message).
    async fn save_sender_key(&self, name: &SenderKeyName, record: &SenderKeyRecord) -> Result<()>;
}

/// The device's own credentials ([`DeviceCredentials`]): keys, ADV secret, prekey counter and,
/// once paired, the account. Backends keep them encrypted at rest.
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// The stored credentials, if any.
    async fn credentials(&self) -> Result<Option<DeviceCredentials>>;
    /// Stores `credentials`, replacing what was there.
    async fn save_credentials(&self, credentials: &DeviceCredentials) -> Result<()>;
    /// Deletes the credentials (logged out); a no-op when there are none.
    async fn clear_credentials(&self) -> Result<()>;
}

/// Everything that encrypting or decrypting one message changes.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct MessageCommit {
    /// A session record to store.
    pub session: Option<(ProtocolAddress, SessionRecord)>,
    /// A remote identity to store (trusted on first use).
    pub identity: Option<(ProtocolAddress, IdentityKey)>,
    /// A one-time prekey to delete.
    pub consumed_pre_key: Option<u32>,
    /// A sender key record to store.
    pub sender_key: Option<(SenderKeyName, SenderKeyRecord)>,
}

/// Applies a [`MessageCommit`] atomically: all of it or none of it.
#[async_trait]
pub trait CommitStore: Send + Sync {
    /// Applies every part of `commit` in one transaction.
    async fn commit(&self, commit: MessageCommit) -> Result<()>;
}

/// Every store the Signal layer needs.
pub trait SignalStore:
    IdentityStore + PreKeyStore + SignedPreKeyStore + SessionStore + SenderKeyStore + CommitStore
{
}

impl<T> SignalStore for T where
    T: IdentityStore
        + PreKeyStore
        + SignedPreKeyStore
        + SessionStore
        + SenderKeyStore
        + CommitStore
{
}

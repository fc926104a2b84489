//! The in-memory store. Records are kept serialized, so every read and write exercises the same
//! persistence format a database backend uses.

use std::{
    collections::HashMap,
    fmt,
    sync::{Mutex, MutexGuard},
};

use async_trait::async_trait;
use zeroize::Zeroizing;

use super::{
    CommitStore, DeviceStore, IdentityStore, MessageCommit, PreKeyStore, ProtocolAddress,
    SenderKeyName, SenderKeyStore, SessionStore, SignedPreKeyStore,
};
use crate::{
    Error, IdentityKey, IdentityKeyPair, Result,
    credentials::DeviceCredentials,
    signal::{PreKeyRecord, SenderKeyRecord, SessionRecord, SignedPreKeyRecord},
};

#[derive(Default)]
struct Inner {
    identities: HashMap<ProtocolAddress, IdentityKey>,
    pre_keys: HashMap<u32, PreKeyRecord>,
    signed_pre_keys: HashMap<u32, SignedPreKeyRecord>,
    sessions: HashMap<ProtocolAddress, Zeroizing<Vec<u8>>>,
    sender_keys: HashMap<SenderKeyName, Zeroizing<Vec<u8>>>,
    credentials: Option<Zeroizing<Vec<u8>>>,
}

/// Keeps everything in memory behind one lock.
pub struct MemoryStore {
    identity: IdentityKeyPair,
    registration_id: u32,
    inner: Mutex<Inner>,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("identity", &self.identity.public)
            .field("registration_id", &self.registration_id)
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store for the device with this identity and registration id.
    #[must_use]
    pub fn new(identity: IdentityKeyPair, registration_id: u32) -> Self {
        Self { identity, registration_id, inner: Mutex::new(Inner::default()) }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>> {
        self.inner.lock().map_err(|_| Error::Store("memory store lock poisoned".to_owned()))
    }
}

#[async_trait]
impl IdentityStore for MemoryStore {
    async fn identity_key_pair(&self) -> Result<IdentityKeyPair> {
        Ok(self.identity.clone())
    }

    async fn local_registration_id(&self) -> Result<u32> {
        Ok(self.registration_id)
    }

    async fn identity(&self, address: &ProtocolAddress) -> Result<Option<IdentityKey>> {
        Ok(self.lock()?.identities.get(address).copied())
    }

    async fn is_trusted_identity(
        &self,
        address: &ProtocolAddress,
        key: &IdentityKey,
    ) -> Result<bool> {
        Ok(self.lock()?.identities.get(address).is_none_or(|known| known == key))
    }

    async fn save_identity(&self, address: &ProtocolAddress, key: &IdentityKey) -> Result<bool> {
        let previous = self.lock()?.identities.insert(address.clone(), *key);
        Ok(previous.is_some_and(|previous| previous != *key))
    }
}

#[async_trait]
impl PreKeyStore for MemoryStore {
    async fn pre_key(&self, id: u32) -> Result<Option<PreKeyRecord>> {
        Ok(self.lock()?.pre_keys.get(&id).cloned())
    }

    async fn save_pre_key(&self, record: &PreKeyRecord) -> Result<()> {
        self.lock()?.pre_keys.insert(record.id, record.clone());
        Ok(())
    }

    async fn remove_pre_key(&self, id: u32) -> Result<()> {
        self.lock()?.pre_keys.remove(&id);
        Ok(())
    }
}

#[async_trait]
impl SignedPreKeyStore for MemoryStore {
    async fn signed_pre_key(&self, id: u32) -> Result<Option<SignedPreKeyRecord>> {
        Ok(self.lock()?.signed_pre_keys.get(&id).cloned())
    }

    async fn save_signed_pre_key(&self, record: &SignedPreKeyRecord) -> Result<()> {
        self.lock()?.signed_pre_keys.insert(record.id, record.clone());
        Ok(())
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn session(&self, address: &ProtocolAddress) -> Result<Option<SessionRecord>> {
        let bytes = self.lock()?.sessions.get(address).cloned();
        bytes.map(|bytes| SessionRecord::deserialize(&bytes)).transpose()
    }

    async fn save_session(&self, address: &ProtocolAddress, record: &SessionRecord) -> Result<()> {
        self.lock()?.sessions.insert(address.clone(), record.serialize());
        Ok(())
    }
}

#[async_trait]
impl SenderKeyStore for MemoryStore {
    async fn sender_key(&self, name: &SenderKeyName) -> Result<Option<SenderKeyRecord>> {
        let bytes = self.lock()?.sender_keys.get(name).cloned();
        bytes.map(|bytes| SenderKeyRecord::deserialize(&bytes)).transpose()
    }

    async fn save_sender_key(&self, name: &SenderKeyName, record: &SenderKeyRecord) -> Result<()> {
        self.lock()?.sender_keys.insert(name.clone(), record.serialize());
        Ok(())
    }
}

#[async_trait]
impl CommitStore for MemoryStore {
    async fn commit(&self, commit: MessageCommit) -> Result<()> {
        // Serialize first, then apply everything under one lock: all or nothing.
        let session = commit.session.map(|(address, record)| (address, record.serialize()));
        let sender_key = commit.sender_key.map(|(name, record)| (name, record.serialize()));
        let mut inner = self.lock()?;
        if let Some((address, bytes)) = session {
            inner.sessions.insert(address, bytes);
        }
        if let Some((address, key)) = commit.identity {
            inner.identities.insert(address, key);
        }
        if let Some(id) = commit.consumed_pre_key {
            inner.pre_keys.remove(&id);
        }
        if let Some((name, bytes)) = sender_key {
            inner.sender_keys.insert(name, bytes);
        }
        Ok(())
    }
}

#[async_trait]
impl DeviceStore for MemoryStore {
    async fn credentials(&self) -> Result<Option<DeviceCredentials>> {
        let bytes = self.lock()?.credentials.clone();
        bytes.map(|b| DeviceCredentials::from_bytes(&b)).transpose()
    }

    async fn save_credentials(&self, credentials: &DeviceCredentials) -> Result<()> {
        self.lock()?.credentials = Some(credentials.to_bytes());
        Ok(())
    }

    async fn clear_credentials(&self) -> Result<()> {
        self.lock()?.credentials = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    crate::store_conformance_tests!(|identity, registration_id| async move {
        crate::store::MemoryStore::new(identity, registration_id)
    });
}

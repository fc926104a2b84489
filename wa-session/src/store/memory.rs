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
    Error, IdentityKey, IdentityKeyPair, KeyPair, PrivateKey, PublicKey, Result,
    credentials::DeviceCredentials,
    signal::{PreKeyRecord, SenderKeyRecord, SessionRecord, SignedPreKeyRecord},
};

/// Version of [`MemoryStore::to_bytes`]'s format.
pub const MEMORY_STORE_VERSION: u32 = 1;
const MAGIC: &[u8; 4] = b"WAMS";
const SNAPSHOT: &str = "memory store snapshot";

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

    /// Everything the store holds, in a versioned binary form that [`MemoryStore::from_bytes`]
    /// reads back: the identity and registration id, the credentials, trusted identities,
    /// one-time and signed prekeys, sessions and sender keys. For a small program that keeps its
    /// device in a file; it holds private keys, so store it encrypted or with tight permissions.
    /// The buffer is zeroized on drop.
    ///
    /// Format (integers big-endian, `bytes` = u32 length + content): `WAMS`, u32 version (1),
    /// identity private key (32), u32 registration id, u8 has-credentials + `bytes`, then five
    /// counted lists: identities (`bytes` name, u32 device, 33-byte key), prekeys (u32 id, 32-byte
    /// private key), signed prekeys (u32 id, 32-byte private key, 64-byte signature, u64
    /// timestamp), sessions (`bytes` name, u32 device, `bytes` record), sender keys (`bytes`
    /// group, `bytes` name, u32 device, `bytes` record).
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the lock is poisoned.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>> {
        let inner = self.lock()?;
        let mut w = Writer(Zeroizing::new(Vec::with_capacity(4096)));
        w.0.extend_from_slice(MAGIC);
        w.u32(MEMORY_STORE_VERSION);
        w.0.extend_from_slice(self.identity.private.secret_bytes());
        w.u32(self.registration_id);
        match &inner.credentials {
            Some(bytes) => {
                w.0.push(1);
                w.bytes(bytes);
            }
            None => w.0.push(0),
        }
        w.count(inner.identities.len());
        for (address, key) in &inner.identities {
            w.bytes(address.name.as_bytes());
            w.u32(address.device_id);
            w.0.extend_from_slice(&key.serialize());
        }
        w.count(inner.pre_keys.len());
        for record in inner.pre_keys.values() {
            w.u32(record.id);
            w.0.extend_from_slice(record.key_pair.private.secret_bytes());
        }
        w.count(inner.signed_pre_keys.len());
        for record in inner.signed_pre_keys.values() {
            w.u32(record.id);
            w.0.extend_from_slice(record.key_pair.private.secret_bytes());
            w.0.extend_from_slice(&record.signature);
            w.0.extend_from_slice(&record.timestamp.to_be_bytes());
        }
        w.count(inner.sessions.len());
        for (address, record) in &inner.sessions {
            w.bytes(address.name.as_bytes());
            w.u32(address.device_id);
            w.bytes(record);
        }
        w.count(inner.sender_keys.len());
        for (name, record) in &inner.sender_keys {
            w.bytes(name.group_id.as_bytes());
            w.bytes(name.sender.name.as_bytes());
            w.u32(name.sender.device_id);
            w.bytes(record);
        }
        Ok(w.0)
    }

    /// Reads what [`MemoryStore::to_bytes`] wrote. Session and sender-key records are checked
    /// when they are read from the store, as they would be from a database.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedRecordVersion`] for another version, [`Error::Malformed`] for
    /// anything else that is not a whole, well-formed snapshot.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader(bytes);
        if r.take(4)? != MAGIC {
            return Err(Error::malformed(SNAPSHOT, "not a memory store snapshot"));
        }
        let version = r.u32()?;
        if version != MEMORY_STORE_VERSION {
            return Err(Error::UnsupportedRecordVersion { what: SNAPSHOT, version });
        }
        let identity = KeyPair::from_private(r.private()?);
        let registration_id = r.u32()?;
        let mut inner = Inner::default();
        match r.take(1)?[0] {
            0 => {}
            1 => inner.credentials = Some(Zeroizing::new(r.bytes()?.to_vec())),
            _ => return Err(Error::malformed(SNAPSHOT, "bad credentials flag")),
        }
        for _ in 0..r.u32()? {
            let address = ProtocolAddress::new(r.string()?, r.u32()?);
            let key = PublicKey::deserialize(r.take(33)?)?;
            inner.identities.insert(address, key);
        }
        for _ in 0..r.u32()? {
            let id = r.u32()?;
            inner
                .pre_keys
                .insert(id, PreKeyRecord { id, key_pair: KeyPair::from_private(r.private()?) });
        }
        for _ in 0..r.u32()? {
            let id = r.u32()?;
            let key_pair = KeyPair::from_private(r.private()?);
            let signature: [u8; 64] =
                r.take(64)?.try_into().map_err(|_| Error::malformed(SNAPSHOT, "signature"))?;
            let timestamp = u64::from_be_bytes(
                r.take(8)?.try_into().map_err(|_| Error::malformed(SNAPSHOT, "timestamp"))?,
            );
            inner
                .signed_pre_keys
                .insert(id, SignedPreKeyRecord { id, key_pair, signature, timestamp });
        }
        for _ in 0..r.u32()? {
            let address = ProtocolAddress::new(r.string()?, r.u32()?);
            inner.sessions.insert(address, Zeroizing::new(r.bytes()?.to_vec()));
        }
        for _ in 0..r.u32()? {
            let group = r.string()?;
            let sender = ProtocolAddress::new(r.string()?, r.u32()?);
            inner
                .sender_keys
                .insert(SenderKeyName::new(group, sender), Zeroizing::new(r.bytes()?.to_vec()));
        }
        if !r.0.is_empty() {
            return Err(Error::malformed(SNAPSHOT, "trailing bytes"));
        }
        Ok(Self { identity, registration_id, inner: Mutex::new(inner) })
    }
}

/// Appends the snapshot's fields.
struct Writer(Zeroizing<Vec<u8>>);

impl Writer {
    fn u32(&mut self, value: u32) {
        self.0.extend_from_slice(&value.to_be_bytes());
    }

    fn count(&mut self, len: usize) {
        self.u32(u32::try_from(len).unwrap_or(u32::MAX));
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.count(bytes.len());
        self.0.extend_from_slice(bytes);
    }
}

/// Reads the snapshot's fields, every length checked against what remains.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        if len > self.0.len() {
            return Err(Error::malformed(SNAPSHOT, "truncated"));
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32> {
        let bytes = self.take(4)?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    fn string(&mut self) -> Result<String> {
        String::from_utf8(self.bytes()?.to_vec())
            .map_err(|_| Error::malformed(SNAPSHOT, "a name is not UTF-8"))
    }

    fn private(&mut self) -> Result<PrivateKey> {
        PrivateKey::from_slice(self.take(32)?)
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

    async fn move_session(&self, from: &ProtocolAddress, to: &ProtocolAddress) -> Result<bool> {
        let mut inner = self.lock()?;
        if from == to || inner.sessions.contains_key(to) {
            return Ok(false);
        }
        let Some(bytes) = inner.sessions.remove(from) else { return Ok(false) };
        inner.sessions.insert(to.clone(), bytes);
        if let Some(identity) = inner.identities.get(from).cloned() {
            inner.identities.entry(to.clone()).or_insert(identity);
        }
        Ok(true)
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
    use rand::{SeedableRng as _, rngs::StdRng};

    use super::*;
    use crate::signal::generate_pre_keys;

    crate::store_conformance_tests!(|identity, registration_id| async move {
        crate::store::MemoryStore::new(identity, registration_id)
    });

    #[tokio::test]
    async fn a_snapshot_restores_everything() {
        let mut rng = StdRng::seed_from_u64(9);
        let credentials = DeviceCredentials::generate(1_700_000_000, &mut rng);
        let store = MemoryStore::new(credentials.identity.clone(), credentials.registration_id);
        store.save_credentials(&credentials).await.unwrap();
        store.save_signed_pre_key(&credentials.signed_pre_key).await.unwrap();
        for key in generate_pre_keys(1, 3, &mut rng) {
            store.save_pre_key(&key).await.unwrap();
        }
        let bob = ProtocolAddress::new("15550001111", 2);
        let bob_key = KeyPair::generate(&mut rng).public;
        store.save_identity(&bob, &bob_key).await.unwrap();
        store.inner.lock().unwrap().sessions.insert(bob.clone(), Zeroizing::new(vec![1, 2, 3]));
        let group = SenderKeyName::new("123@g.us", bob.clone());
        store.inner.lock().unwrap().sender_keys.insert(group.clone(), Zeroizing::new(vec![4]));

        let bytes = store.to_bytes().unwrap();
        let back = MemoryStore::from_bytes(&bytes).unwrap();
        assert_eq!(back.to_bytes().unwrap().len(), bytes.len());
        assert_eq!(back.identity_key_pair().await.unwrap(), credentials.identity);
        assert_eq!(back.local_registration_id().await.unwrap(), credentials.registration_id);
        assert_eq!(back.credentials().await.unwrap(), Some(credentials.clone()));
        assert_eq!(
            back.signed_pre_key(credentials.signed_pre_key.id).await.unwrap(),
            Some(credentials.signed_pre_key.clone())
        );
        assert_eq!(back.pre_key(3).await.unwrap(), store.pre_key(3).await.unwrap());
        assert_eq!(back.identity(&bob).await.unwrap(), Some(bob_key));
        let inner = back.inner.lock().unwrap();
        assert_eq!(inner.sessions.get(&bob).map(|r| r.to_vec()), Some(vec![1, 2, 3]));
        assert_eq!(inner.sender_keys.get(&group).map(|r| r.to_vec()), Some(vec![4]));
        drop(inner);

        // Every truncation, a wrong magic, another version and trailing bytes are refused.
        for len in 0..bytes.len() {
            assert!(MemoryStore::from_bytes(&bytes[..len]).is_err(), "{len}");
        }
        let mut other = bytes.to_vec();
        other[7] = 2;
        assert!(matches!(
            MemoryStore::from_bytes(&other),
            Err(Error::UnsupportedRecordVersion { version: 2, .. })
        ));
        other[0] = b'X';
        assert!(matches!(MemoryStore::from_bytes(&other), Err(Error::Malformed { .. })));
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(matches!(MemoryStore::from_bytes(&longer), Err(Error::Malformed { .. })));
    }
}

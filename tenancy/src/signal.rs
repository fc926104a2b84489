//! The wa-session key stores of one line, kept in that line's encrypted device store.
//!
//! Every Signal record is one device-store entry (sealed with the tenant key, bound to line,
//! namespace and key), so key material is encrypted at rest exactly as the rest of the device
//! store is. Namespaces:
//!
//! | namespace            | key                        | value                                   |
//! |----------------------|----------------------------|-----------------------------------------|
//! | `signal.local`       | `identity`                 | version 1, private key (32), reg. id (4) |
//! | `signal.identity`    | address (`name.device`)    | the remote public key (33, `0x05` form) |
//! | `signal.prekey`      | id (decimal)               | version 1, private key (32)             |
//! | `signal.signed`      | id (decimal)               | version 1, private (32), sig (64), ts (8) |
//! | `signal.session`     | address                    | wa-session's session record             |
//! | `signal.sender_key`  | `<len>:<group>` + address  | wa-session's sender key record          |
//! | `device.credentials` | `credentials`              | wa-session's `DeviceCredentials` bytes  |
//!
//! A [`MessageCommit`] is applied in one database transaction; a failure anywhere in it rolls
//! everything back. Opened entries are cached per store ([`RecordCache`]): a message's session and
//! identity are read from the database once, not at every decryption.

use std::{fmt, sync::Arc};

use async_trait::async_trait;
use wa_session::{
    IdentityKey, IdentityKeyPair, KeyPair, PrivateKey, PublicKey,
    credentials::DeviceCredentials,
    signal::{PreKeyRecord, SenderKeyRecord, SessionRecord, SignedPreKeyRecord},
    store::{
        CommitStore, DeviceStore, IdentityStore, MessageCommit, PreKeyStore, ProtocolAddress,
        SenderKeyName, SenderKeyStore, SessionStore, SignedPreKeyStore,
    },
};
use zeroize::Zeroizing;

use crate::{
    Caller, Clock, Error, LineId, Result, Tenant, now, record_cache::RecordCache,
    tenant::device_delete,
};

const NS_LOCAL: &str = "signal.local";
const NS_IDENTITY: &str = "signal.identity";
const NS_PRE_KEY: &str = "signal.prekey";
const NS_SIGNED: &str = "signal.signed";
const NS_SESSION: &str = "signal.session";
const NS_SENDER_KEY: &str = "signal.sender_key";
const LOCAL_IDENTITY: &str = "identity";
const NS_CREDENTIALS: &str = "device.credentials";
const CREDENTIALS: &str = "credentials";
const RECORD_VERSION: u8 = 1;

/// Every wa-session store trait (identity, prekeys, signed prekeys, sessions, sender keys and the
/// atomic per-message commit) for one line of one tenant, persisted in the line's encrypted device
/// store. Made by [`Tenant::create_signal_store`] or [`Tenant::signal_store`]; cheap to clone.
///
/// Errors of the database or of decryption come back as [`wa_session::Error::Store`] (with
/// tenancy's message, which carries no key material); records that do not parse come back as
/// wa-session's own parse errors.
#[derive(Clone)]
pub struct LineSignalStore {
    tenant: Tenant,
    line_id: LineId,
    identity: IdentityKeyPair,
    registration_id: u32,
    /// The time stamped on its writes (`updated_at`).
    clock: Arc<dyn Clock>,
    cache: Arc<RecordCache>,
}

impl fmt::Debug for LineSignalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineSignalStore")
            .field("tenant", &self.tenant.member_id())
            .field("line_id", &self.line_id)
            .field("identity", &self.identity.public)
            .field("registration_id", &self.registration_id)
            .finish_non_exhaustive()
    }
}

impl From<Error> for wa_session::Error {
    fn from(e: Error) -> Self {
        wa_session::Error::Store(e.to_string())
    }
}

fn corrupt(what: &'static str) -> wa_session::Error {
    wa_session::Error::from(Error::Corrupt(what))
}

fn private_key(bytes: &[u8], what: &'static str) -> wa_session::Result<PrivateKey> {
    PrivateKey::from_slice(bytes).map_err(|_| corrupt(what))
}

fn encode_local(identity: &IdentityKeyPair, registration_id: u32) -> Zeroizing<Vec<u8>> {
    let mut v = Zeroizing::new(Vec::with_capacity(37));
    v.push(RECORD_VERSION);
    v.extend_from_slice(identity.private.secret_bytes());
    v.extend_from_slice(&registration_id.to_be_bytes());
    v
}

fn decode_local(bytes: &[u8]) -> wa_session::Result<(IdentityKeyPair, u32)> {
    match bytes {
        [RECORD_VERSION, private @ .., r0, r1, r2, r3] if private.len() == 32 => Ok((
            KeyPair::from_private(private_key(private, "signal identity")?),
            u32::from_be_bytes([*r0, *r1, *r2, *r3]),
        )),
        _ => Err(corrupt("signal identity")),
    }
}

fn encode_pre_key(record: &PreKeyRecord) -> Zeroizing<Vec<u8>> {
    let mut v = Zeroizing::new(Vec::with_capacity(33));
    v.push(RECORD_VERSION);
    v.extend_from_slice(record.key_pair.private.secret_bytes());
    v
}

fn decode_pre_key(id: u32, bytes: &[u8]) -> wa_session::Result<PreKeyRecord> {
    match bytes {
        [RECORD_VERSION, private @ ..] if private.len() == 32 => Ok(PreKeyRecord {
            id,
            key_pair: KeyPair::from_private(private_key(private, "signal prekey")?),
        }),
        _ => Err(corrupt("signal prekey")),
    }
}

fn encode_signed(record: &SignedPreKeyRecord) -> Zeroizing<Vec<u8>> {
    let mut v = Zeroizing::new(Vec::with_capacity(105));
    v.push(RECORD_VERSION);
    v.extend_from_slice(record.key_pair.private.secret_bytes());
    v.extend_from_slice(&record.signature);
    v.extend_from_slice(&record.timestamp.to_be_bytes());
    v
}

fn decode_signed(id: u32, bytes: &[u8]) -> wa_session::Result<SignedPreKeyRecord> {
    let bad = || corrupt("signal signed prekey");
    let ([RECORD_VERSION], rest) = bytes.split_at_checked(1).ok_or_else(bad)? else {
        return Err(bad());
    };
    if rest.len() != 32 + 64 + 8 {
        return Err(bad());
    }
    let (private, rest) = rest.split_at(32);
    let (signature, timestamp) = rest.split_at(64);
    Ok(SignedPreKeyRecord {
        id,
        key_pair: KeyPair::from_private(private_key(private, "signal signed prekey")?),
        signature: signature.try_into().map_err(|_| bad())?,
        timestamp: u64::from_be_bytes(timestamp.try_into().map_err(|_| bad())?),
    })
}

/// The device-store key of an address. Injective: the device id is the digits after the last dot.
fn address_key(address: &ProtocolAddress) -> String {
    address.to_string()
}

/// The device-store key of a sender key name; the group id is length-prefixed so that no two
/// names share a key whatever characters they contain.
fn sender_key_key(name: &SenderKeyName) -> String {
    format!("{}:{}|{}", name.group_id.len(), name.group_id, name.sender)
}

impl Tenant {
    /// Stores a line's Signal identity (key pair and registration id) and returns the line's store.
    /// Replaces an identity stored before. Server only.
    pub async fn create_signal_store(
        &self,
        caller: Caller,
        line_id: LineId,
        identity: &IdentityKeyPair,
        registration_id: u32,
        clock: Arc<dyn Clock>,
    ) -> Result<LineSignalStore> {
        let value = encode_local(identity, registration_id);
        self.device_write(
            caller,
            line_id,
            &[(NS_LOCAL, LOCAL_IDENTITY, Some(&value))],
            now(&*clock),
        )
        .await?;
        Ok(LineSignalStore {
            tenant: self.clone(),
            line_id,
            identity: identity.clone(),
            registration_id,
            clock,
            cache: Arc::default(),
        })
    }

    /// The Signal store of a line whose identity was stored by [`Tenant::create_signal_store`]
    /// (`NotFound("signal identity")` otherwise). Server only.
    pub async fn signal_store(
        &self,
        caller: Caller,
        line_id: LineId,
        clock: Arc<dyn Clock>,
    ) -> Result<LineSignalStore> {
        let bytes = self
            .device_get(caller, line_id, NS_LOCAL, LOCAL_IDENTITY)
            .await?
            .ok_or(Error::NotFound("signal identity"))?;
        let (identity, registration_id) =
            decode_local(&bytes).map_err(|_| Error::Corrupt("signal identity"))?;
        Ok(LineSignalStore {
            tenant: self.clone(),
            line_id,
            identity,
            registration_id,
            clock,
            cache: Arc::default(),
        })
    }
}

impl LineSignalStore {
    /// The line this store belongs to.
    pub fn line_id(&self) -> LineId {
        self.line_id
    }

    async fn get(&self, namespace: &'static str, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        if let Some(value) = self.cache.get(namespace, key) {
            return Ok(value);
        }
        let generation = self.cache.generation();
        let value = self.tenant.device_get(Caller::System, self.line_id, namespace, key).await?;
        self.cache.fill(generation, namespace, key, value.clone());
        Ok(value)
    }

    /// Writes entries (`None` deletes) in one transaction, and then into the cache.
    async fn write(&self, entries: &[(&'static str, &str, Option<&[u8]>)]) -> Result<()> {
        let now = now(&*self.clock);
        let written = self.tenant.device_write(Caller::System, self.line_id, entries, now).await;
        self.settle(&written, entries);
        written
    }

    /// After a transaction: what it wrote goes into the cache if it committed, and is forgotten
    /// if it did not.
    fn settle<T>(&self, outcome: &Result<T>, entries: &[(&'static str, &str, Option<&[u8]>)]) {
        match outcome {
            Ok(_) => self.cache.written(entries),
            Err(_) => {
                let keys: Vec<_> = entries.iter().map(|(n, k, _)| (*n, *k)).collect();
                self.cache.forget(&keys);
            }
        }
    }

    async fn put(&self, namespace: &'static str, key: &str, value: &[u8]) -> Result<()> {
        self.write(&[(namespace, key, Some(value))]).await
    }

    /// Moves a session (and copies its identity) from one address to another in one
    /// transaction; values are opened and sealed again, since each is bound to its key.
    async fn relocate(&self, from: &ProtocolAddress, to: &ProtocolAddress) -> Result<bool> {
        let (from_key, to_key) = (address_key(from), address_key(to));
        if from_key == to_key {
            return Ok(false);
        }
        let moved = self.relocate_uncached(&from_key, &to_key).await;
        self.cache.forget(&[
            (NS_SESSION, &from_key),
            (NS_SESSION, &to_key),
            (NS_IDENTITY, &to_key),
        ]);
        moved
    }

    async fn relocate_uncached(&self, from_key: &str, to_key: &str) -> Result<bool> {
        let (now, line) = (now(&*self.clock), self.line_id);
        let mut tx = self.tenant.device_begin(line, true).await?;
        if self.tenant.device_read(&mut tx, line, NS_SESSION, to_key).await?.is_some() {
            return Ok(false);
        }
        let Some(record) = self.tenant.device_read(&mut tx, line, NS_SESSION, from_key).await?
        else {
            return Ok(false);
        };
        self.tenant.device_put(&mut tx, line, NS_SESSION, to_key, &record, now).await?;
        device_delete(&mut tx, line, NS_SESSION, from_key).await?;
        if self.tenant.device_read(&mut tx, line, NS_IDENTITY, to_key).await?.is_none()
            && let Some(identity) =
                self.tenant.device_read(&mut tx, line, NS_IDENTITY, from_key).await?
        {
            self.tenant.device_put(&mut tx, line, NS_IDENTITY, to_key, &identity, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Applies `commit` in one transaction: session, identity, consumed prekey, sender key.
    async fn apply(&self, commit: MessageCommit) -> Result<()> {
        let session = commit.session.map(|(a, r)| (address_key(&a), r.serialize()));
        let identity = commit.identity.map(|(a, k)| (address_key(&a), k.serialize()));
        let pre_key = commit.consumed_pre_key.map(|id| id.to_string());
        let sender_key = commit.sender_key.map(|(n, r)| (sender_key_key(&n), r.serialize()));
        let mut entries: Vec<(&'static str, &str, Option<&[u8]>)> = Vec::with_capacity(4);
        if let Some((key, bytes)) = &session {
            entries.push((NS_SESSION, key, Some(bytes)));
        }
        if let Some((key, bytes)) = &identity {
            entries.push((NS_IDENTITY, key, Some(bytes)));
        }
        if let Some(id) = &pre_key {
            entries.push((NS_PRE_KEY, id, None));
        }
        if let Some((key, bytes)) = &sender_key {
            entries.push((NS_SENDER_KEY, key, Some(bytes)));
        }
        self.write(&entries).await
    }

    /// Reads and writes in one transaction, so the answer matches what was replaced.
    async fn save_identity_uncached(
        &self,
        name: &str,
        key: &IdentityKey,
        bytes: &[u8],
    ) -> Result<bool> {
        let now = now(&*self.clock);
        let line = self.line_id;
        let mut tx = self.tenant.device_begin(line, true).await?;
        let previous = self.tenant.device_read(&mut tx, line, NS_IDENTITY, name).await?;
        let changed = match previous {
            None => false,
            Some(old) => {
                PublicKey::deserialize(&old)
                    .map_err(|_| Error::Corrupt("signal remote identity"))?
                    != *key
            }
        };
        self.tenant.device_put(&mut tx, line, NS_IDENTITY, name, bytes, now).await?;
        tx.commit().await?;
        Ok(changed)
    }
}

#[async_trait]
impl IdentityStore for LineSignalStore {
    async fn identity_key_pair(&self) -> wa_session::Result<IdentityKeyPair> {
        Ok(self.identity.clone())
    }

    async fn local_registration_id(&self) -> wa_session::Result<u32> {
        Ok(self.registration_id)
    }

    async fn identity(&self, address: &ProtocolAddress) -> wa_session::Result<Option<IdentityKey>> {
        match self.get(NS_IDENTITY, &address_key(address)).await? {
            None => Ok(None),
            Some(bytes) => PublicKey::deserialize(&bytes)
                .map(Some)
                .map_err(|_| corrupt("signal remote identity")),
        }
    }

    async fn is_trusted_identity(
        &self,
        address: &ProtocolAddress,
        key: &IdentityKey,
    ) -> wa_session::Result<bool> {
        Ok(self.identity(address).await?.is_none_or(|known| known == *key))
    }

    async fn save_identity(
        &self,
        address: &ProtocolAddress,
        key: &IdentityKey,
    ) -> wa_session::Result<bool> {
        let name = address_key(address);
        let bytes = key.serialize();
        let saved = self.save_identity_uncached(&name, key, &bytes).await;
        self.settle(&saved, &[(NS_IDENTITY, &name, Some(&bytes))]);
        Ok(saved?)
    }
}

#[async_trait]
impl PreKeyStore for LineSignalStore {
    async fn pre_key(&self, id: u32) -> wa_session::Result<Option<PreKeyRecord>> {
        let bytes = self.get(NS_PRE_KEY, &id.to_string()).await?;
        bytes.map(|b| decode_pre_key(id, &b)).transpose()
    }

    async fn save_pre_key(&self, record: &PreKeyRecord) -> wa_session::Result<()> {
        Ok(self.put(NS_PRE_KEY, &record.id.to_string(), &encode_pre_key(record)).await?)
    }

    async fn remove_pre_key(&self, id: u32) -> wa_session::Result<()> {
        Ok(self.write(&[(NS_PRE_KEY, &id.to_string(), None)]).await?)
    }
}

#[async_trait]
impl SignedPreKeyStore for LineSignalStore {
    async fn signed_pre_key(&self, id: u32) -> wa_session::Result<Option<SignedPreKeyRecord>> {
        let bytes = self.get(NS_SIGNED, &id.to_string()).await?;
        bytes.map(|b| decode_signed(id, &b)).transpose()
    }

    async fn save_signed_pre_key(&self, record: &SignedPreKeyRecord) -> wa_session::Result<()> {
        Ok(self.put(NS_SIGNED, &record.id.to_string(), &encode_signed(record)).await?)
    }
}

#[async_trait]
impl SessionStore for LineSignalStore {
    async fn session(
        &self,
        address: &ProtocolAddress,
    ) -> wa_session::Result<Option<SessionRecord>> {
        let bytes = self.get(NS_SESSION, &address_key(address)).await?;
        bytes.map(|b| SessionRecord::deserialize(&b)).transpose()
    }

    async fn save_session(
        &self,
        address: &ProtocolAddress,
        record: &SessionRecord,
    ) -> wa_session::Result<()> {
        Ok(self.put(NS_SESSION, &address_key(address), &record.serialize()).await?)
    }

    async fn move_session(
        &self,
        from: &ProtocolAddress,
        to: &ProtocolAddress,
    ) -> wa_session::Result<bool> {
        Ok(self.relocate(from, to).await?)
    }
}

#[async_trait]
impl SenderKeyStore for LineSignalStore {
    async fn sender_key(
        &self,
        name: &SenderKeyName,
    ) -> wa_session::Result<Option<SenderKeyRecord>> {
        let bytes = self.get(NS_SENDER_KEY, &sender_key_key(name)).await?;
        bytes.map(|b| SenderKeyRecord::deserialize(&b)).transpose()
    }

    async fn save_sender_key(
        &self,
        name: &SenderKeyName,
        record: &SenderKeyRecord,
    ) -> wa_session::Result<()> {
        Ok(self.put(NS_SENDER_KEY, &sender_key_key(name), &record.serialize()).await?)
    }
}

#[async_trait]
impl CommitStore for LineSignalStore {
    async fn commit(&self, commit: MessageCommit) -> wa_session::Result<()> {
        Ok(self.apply(commit).await?)
    }
}

#[async_trait]
impl DeviceStore for LineSignalStore {
    async fn credentials(&self) -> wa_session::Result<Option<DeviceCredentials>> {
        let bytes = self.get(NS_CREDENTIALS, CREDENTIALS).await?;
        bytes.map(|b| DeviceCredentials::from_bytes(&b)).transpose()
    }

    async fn save_credentials(&self, credentials: &DeviceCredentials) -> wa_session::Result<()> {
        Ok(self.put(NS_CREDENTIALS, CREDENTIALS, &credentials.to_bytes()).await?)
    }

    async fn clear_credentials(&self) -> wa_session::Result<()> {
        Ok(self.write(&[(NS_CREDENTIALS, CREDENTIALS, None)]).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_refuse_garbage() {
        let identity = KeyPair::from_private(PrivateKey::from_bytes([4; 32]));
        let (back, reg) = decode_local(&encode_local(&identity, 77)).unwrap();
        assert_eq!((back, reg), (identity.clone(), 77));
        let pre = PreKeyRecord { id: 5, key_pair: identity.clone() };
        assert_eq!(decode_pre_key(5, &encode_pre_key(&pre)).unwrap(), pre);
        let signed = SignedPreKeyRecord {
            id: 9,
            key_pair: identity,
            signature: [3; 64],
            timestamp: 1 << 40,
        };
        assert_eq!(decode_signed(9, &encode_signed(&signed)).unwrap(), signed);
        for bad in [&b""[..], &[2; 33], &[1; 5], &[1; 104]] {
            assert!(decode_local(bad).is_err());
            assert!(decode_signed(1, bad).is_err());
        }
        assert!(decode_pre_key(1, &[2; 33]).is_err(), "unknown record version");
        assert!(decode_pre_key(1, &[1; 32]).is_err(), "short record");
    }

    #[test]
    fn keys_are_injective() {
        let a = SenderKeyName::new("g:1", ProtocolAddress::new("x", 1));
        let b = SenderKeyName::new("g", ProtocolAddress::new("1|x", 1));
        assert_ne!(sender_key_key(&a), sender_key_key(&b));
        assert_ne!(
            address_key(&ProtocolAddress::new("a.1", 2)),
            address_key(&ProtocolAddress::new("a", 12))
        );
    }
}
